"""Notebook sources that behave the same on every Python and PyTorch the README promises.

A learner's machine may run Python 3.12 (where an invalid escape such as ``"\\ "`` prints a SyntaxWarning to
stderr, which nbval reports as an unexpected output) or another PyTorch (whose module reprs and version strings
differ). These checks read the notebooks' JSON; they run no kernel.
"""
import json
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for d in ("notebooks", "solutions", "exercises") for p in (ROOT / d).glob("*.ipynb"))


def _code_cells(path):
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "code":
            yield i, cell


def _python(source: str) -> str:
    """The cell without IPython's magics and shell escapes, which are not Python."""
    return "".join(line for line in source.splitlines(True) if not line.lstrip().startswith(("%", "!")))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_code_cell_compiles_without_a_warning(path):
    for i, cell in _code_cells(path):
        with warnings.catch_warnings():
            warnings.simplefilter("error")          # an invalid escape becomes a SyntaxError here
            compile(_python("".join(cell["source"])), f"{path.name} cell {i}", "exec")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_version_dependent_outputs_are_not_compared(path):
    for i, cell in _code_cells(path):
        source = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        text = json.dumps(cell.get("outputs", []))
        if "__version__" in source and cell.get("outputs"):
            assert "nbval-ignore-output" in tags, f"{path.name} cell {i} prints a version: tag it nbval-ignore-output"
        # A torch module repr (``BatchNorm2d(64, eps=1e-05, ...``) changes between PyTorch releases.
        assert not re.search(r"BatchNorm\dd\(\d+, eps=", text) or "nbval-ignore-output" in tags, \
            f"{path.name} cell {i} stores a BatchNorm repr"


def test_the_checks_catch_what_they_look_for(tmp_path):
    bad = tmp_path / "bad.ipynb"
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "source": ['x = "a \\ b"\n']}
    bad.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(SyntaxError):
        test_every_code_cell_compiles_without_a_warning(bad)
    cell.update(source=["import torch; print(torch.__version__)\n"],
                outputs=[{"output_type": "stream", "name": "stdout", "text": ["2.15.0\n"]}])
    bad.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(AssertionError, match="prints a version"):
        test_version_dependent_outputs_are_not_compared(bad)
