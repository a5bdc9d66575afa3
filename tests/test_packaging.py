"""The packaging stays consistent: pyproject.toml, environment.yml, constraints and the README."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import fusion_course

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pyproject_names() -> set[str]:
    project = _pyproject()["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {_name(r) for r in reqs}


def _environment_names() -> set[str]:
    text = (ROOT / "environment.yml").read_text()
    names = set()
    for line in text.split("dependencies:", 1)[1].splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped.strip():
            continue
        if stripped.strip() == "- pip:":
            continue
        m = re.match(r"^(\s*)- (.+)$", stripped)
        if not m:
            continue
        item = m.group(2).strip()
        if item.startswith("-e ") or item.startswith("."):
            continue
        name = CONDA_TO_PYPI.get(_name(item), _name(item))
        if name not in NOT_PACKAGES:
            names.add(name)
    return names


def test_environment_yml_names_the_same_packages_as_pyproject():
    py, env = _pyproject_names(), _environment_names()
    assert py == env, f"only in pyproject.toml: {sorted(py - env)}; only in environment.yml: {sorted(env - py)}"


def test_environment_yml_uses_conda_forge_only_and_installs_the_course():
    text = (ROOT / "environment.yml").read_text()
    channels = re.search(r"channels:\n((?:\s+- .+\n)+)", text).group(1)
    assert [c.strip("- \n") for c in channels.splitlines()] == ["conda-forge"]
    assert re.search(r"^\s+- -e \.\s*$", text, re.M), "environment.yml must pip-install the course (-e .)"


def test_constraints_pin_every_direct_dependency():
    pinned = {_name(l) for l in (ROOT / ".ci/constraints.txt").read_text().splitlines() if l and not l.startswith("#")}
    missing = _pyproject_names() - pinned
    assert not missing, f".ci/constraints.txt lacks pins for {sorted(missing)}"


def test_version_and_console_script():
    assert re.fullmatch(r"\d+\.\d+\.\d+", fusion_course.__version__)
    assert _pyproject()["project"]["scripts"]["fusion-course"] == "fusion_course.cli:main"


def test_source_parses_with_the_oldest_python_it_declares():
    """Every module's syntax is accepted by the oldest Python that ``requires-python`` admits."""
    import ast

    m = re.fullmatch(r">=\s*3\.(\d+)", _pyproject()["project"]["requires-python"])
    assert m, "requires-python should read '>=3.N'"
    oldest = (3, int(m.group(1)))
    for path in sorted((ROOT / "fusion_course").rglob("*.py")):
        try:
            ast.parse(path.read_text(), filename=str(path), feature_version=oldest)
        except SyntaxError as exc:
            raise AssertionError(f"{path.relative_to(ROOT)}:{exc.lineno} needs a newer Python than {oldest}: {exc.msg}")


def test_every_lazy_submodule_imports():
    """``fusion_course.<name>`` works for every name the package promises to load on first use."""
    import importlib

    import pytest

    for name in fusion_course._SUBMODULES:
        assert getattr(fusion_course, name) is importlib.import_module(f"fusion_course.{name}")
    with pytest.raises(AttributeError, match="no attribute 'bench'"):
        fusion_course.bench


def test_import_is_light():
    """`import fusion_course` must not pull in torch or notebook-only packages (GPU machines lack them)."""
    import subprocess
    import sys

    code = "import sys, fusion_course; print(sorted(m for m in ('torch', 'ipywidgets', 'nbformat', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"import fusion_course loaded {out}"


def test_top_level_layout():
    for name in ("notebooks", "fusion_course", "exercises", "solutions", "tests", "environment.yml", "README.md",
                 "pyproject.toml", ".ci/run"):
        assert (ROOT / name).exists(), f"{name} is missing"
