"""Every docstring example in the package runs: a doctest per module that has one.

A docstring example is documentation a reader copies; one that no longer runs, or prints what the code no
longer returns (the stats module once printed an unpaired interval), teaches the wrong thing.
"""
import doctest
import importlib
import pkgutil

import pytest

import fusion_course

# Modules whose examples need a notebook front end or a running kernel; their behaviour is tested elsewhere.
SKIP = {"fusion_course.widgets", "fusion_course.figures", "fusion_course.__main__"}


def _modules_with_examples():
    for info in pkgutil.walk_packages(fusion_course.__path__, "fusion_course."):
        if info.name in SKIP:
            continue
        spec = importlib.util.find_spec(info.name)
        if spec and spec.origin and spec.origin.endswith(".py"):
            with open(spec.origin, encoding="utf-8") as fh:
                if ">>> " in fh.read():
                    yield info.name


@pytest.mark.parametrize("name", sorted(_modules_with_examples()))
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed"
