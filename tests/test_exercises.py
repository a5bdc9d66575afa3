"""build-exercises: the builder's rules, the drift gate and the "exercises fail correctly" gate.

Unit tests use the fixture lesson in tests/fixtures/course (lesson 99, no torch). The gates run over
the real solutions/ and exercises/ folders, one test per notebook found there.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from fusion_course import cli
from fusion_course.exercises import (NAME_CELL, BuildError, build_all, build_exercise, check_all, check_cell_id,
                                     render, replace_regions)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "course"
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
REAL = sorted(p.name for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb")) if SOLUTIONS.is_dir() else []


def _solution(tmp_path: Path, cells: list, name: str = "07_demo.ipynb") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    folder = tmp_path / "solutions"
    folder.mkdir(exist_ok=True)
    path = folder / name
    nbformat.write(nb, str(path))
    return path


code, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell


# ----------------------------------------------------------------------------- regions
def test_region_replaced_at_its_indentation_and_surroundings_kept():
    src = ('class Fuse:\n    def forward(self, a, b):\n        """Docstring stays."""\n        # hint stays\n'
           '        ### BEGIN SOLUTION 7.2: add the two maps\n        out = a + b\n        return out\n'
           '        ### END SOLUTION\n\nx = 1')
    new, found = replace_regions(src, lesson=7, where="nb, cell 3")
    assert found == [("7.2", "add the two maps")]
    assert new == ('class Fuse:\n    def forward(self, a, b):\n        """Docstring stays."""\n        # hint stays\n'
                   '        raise NotImplementedError("Exercise 7.2: add the two maps")\n\nx = 1')
    compile(new, "cell", "exec")


def test_several_regions_and_quotes_in_the_instruction():
    src = ('def f():\n    ### BEGIN SOLUTION 7.1: say "hi" \\ twice\n    return 1\n    ### END SOLUTION\n'
           'def g():\n\t### BEGIN SOLUTION 7.3: tabs too\n\treturn 2\n\t### END SOLUTION')
    new, found = replace_regions(src, lesson=7, where="nb, cell 0")
    assert [f[0] for f in found] == ["7.1", "7.3"]
    ns: dict = {}
    exec(compile(new, "cell", "exec"), ns)
    with pytest.raises(NotImplementedError, match=r'Exercise 7.1: say "hi" \\ twice'):
        ns["f"]()
    with pytest.raises(NotImplementedError, match="Exercise 7.3: tabs too"):
        ns["g"]()


@pytest.mark.parametrize("src, line, words", [
    ("a = 1\n### BEGIN SOLUTION 7.1: x\nb = 2", 2, "never closed"),
    ("a = 1\nb = 2\n### END SOLUTION", 3, "without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION 7.1: x\n### BEGIN SOLUTION 7.2: y\n### END SOLUTION", 2, "nested"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", 1, "needs an exercise id"),
    ("### BEGIN SOLUTION 7.1\nx = 1\n### END SOLUTION", 1, "needs an exercise id"),
    ("x = 1\n  ### BEGIN SOLUTION 3.1: wrong lesson\n  y\n  ### END SOLUTION", 2, "belongs to lesson 3"),
])
def test_bad_markers_name_the_cell_and_line(src, line, words):
    with pytest.raises(BuildError) as info:
        replace_regions(src, lesson=7, where="solutions/07_demo.ipynb, cell 4")
    msg = str(info.value)
    assert f"solutions/07_demo.ipynb, cell 4, line {line}" in msg
    assert words in msg


@pytest.mark.parametrize("source, expected", [
    ('check("3.2", fuse)', "3.2"),
    ("check('3.2', Fuse(4, 8))", "3.2"),
    ('  check( "10.11" , make(), x )  # why\n', "10.11"),
    ('check(3.2, fuse)', None),
    ('x = check("3.2", fuse)', None),
    ('check("3.2", fuse)\nprint(1)', None),
    ('check("3.2", fuse', None),
    ('recheck("3.2", fuse)', None),
])
def test_check_cell_pattern(source, expected):
    assert check_cell_id(source) == expected


# ----------------------------------------------------------------------------- whole notebooks
def test_fixture_exercise_notebook():
    nb, info = build_exercise(FIXTURE / "solutions" / "99_fixture.ipynb")
    assert info.exercises == ["99.1", "99.2"]
    assert nb.metadata["fusion_course"] == {"lesson": "99", "kind": "exercise",
                                            "source": "solutions/99_fixture.ipynb", "exercises": ["99.1", "99.2"]}
    checks = [c for c in nb.cells if "check" in c.metadata.get("tags", [])]
    assert [c.metadata["fusion_course"]["check"] for c in checks] == ["99.1", "99.2"]
    assert [c.source for c in checks] == ['check("99.1", weighted_sum)', 'check("99.2", Gate)']
    text = "\n".join(c.source for c in nb.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "zip(weights, values)" not in text and "min(max(" not in text   # the solutions are gone
    assert "# Hint: zip the two lists." in text and '"""Weighted sum of numbers."""' in text
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None
    assert nb.cells[0].cell_type == "markdown" and "How to work and hand in" in nb.cells[0].source
    assert "Generated from `solutions/99_fixture.ipynb`" in nb.cells[-1].source
    nbformat.validate(nb)


def test_exercise_notebooks_open_with_a_note_and_the_name_cell():
    """Learners read how to work and hand in, then type their name where the grader reads it (with ast)."""
    import ast

    nb, _ = build_exercise(FIXTURE / "solutions" / "99_fixture.ipynb")
    note, name = nb.cells[0], nb.cells[1]
    for words in ("Name your file", "99_fixture_<your name>.ipynb", "Keep the check cells", "Save", "hand in"):
        assert words in note.source, words
    assert "edit that file" not in note.source          # the old banner told learners not to edit their notebook
    assert name.cell_type == "code" and name.source == NAME_CELL
    assert name.source.startswith('STUDENT_NAME = ""') and "# type your name" in name.source.splitlines()[0]
    assign = ast.parse(name.source).body[0]
    assert isinstance(assign, ast.Assign) and assign.targets[0].id == "STUDENT_NAME" and assign.value.value == ""


def test_exercise_notebooks_end_with_links(tmp_path):
    sols = tmp_path / "solutions"
    sols.mkdir()
    (tmp_path / "notebooks").mkdir()
    for name in ("00_start_here.ipynb", "05_demo.ipynb", "06_demo.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), str(tmp_path / "notebooks" / name))
    region = code("def f():\n    ### BEGIN SOLUTION {n}.1: return 1\n    return 1\n    ### END SOLUTION")
    for n in (5, 6):
        nbformat.write(nbformat.v4.new_notebook(cells=[md("# t"), code(region.source.format(n=n)),
                                                        code(f'check("{n}.1", f)')]), str(sols / f"0{n}_demo.ipynb"))
    first = build_exercise(sols / "05_demo.ipynb")[0].cells[-1].source
    last = build_exercise(sols / "06_demo.ipynb")[0].cells[-1].source
    assert "(../notebooks/00_start_here.ipynb)" in first and "(../notebooks/05_demo.ipynb)" in first
    assert "(06_demo.ipynb)" in first and "next exercises" in first
    assert "(05_demo.ipynb)" in last and "(../notebooks/06_demo.ipynb)" in last and "last exercise notebook" in last


def test_repeated_instructions_are_a_warning_not_an_error(tmp_path, capsys):
    src = ("class M:\n    def __init__(self):\n        ### BEGIN SOLUTION 7.1: do it\n        pass\n"
           "        ### END SOLUTION\n\n    def forward(self):\n        ### BEGIN SOLUTION 7.1: do it\n"
           "        pass\n        ### END SOLUTION")
    path = _solution(tmp_path, [md("# t"), code(src), code('check("7.1", M)')])
    nb, info = build_exercise(path)
    assert len(info.warnings) == 1 and "exercise 7.1 repeat one instruction" in info.warnings[0]
    assert cli.main(["build-exercises", "--solutions", str(tmp_path / "solutions"), "--out", str(tmp_path / "ex")]) == 0
    assert "warning: solutions/07_demo.ipynb, cell 1" in capsys.readouterr().err


def test_unwritable_out_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    sols = tmp_path / "solutions"
    shutil.copytree(FIXTURE / "solutions", sols)
    assert cli.main(["build-exercises", "--solutions", str(sols), "--out", str(blocker / "ex")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "Traceback" not in err


def test_build_is_deterministic_and_clears_outputs(tmp_path):
    sol = FIXTURE / "solutions" / "99_fixture.ipynb"
    executed = nbformat.read(str(sol), as_version=4)
    for i, c in enumerate(executed.cells):  # a stored run must not change the exercise
        if c.cell_type == "code":
            c.execution_count = i
            c.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"out {i}\n")]
            c.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    executed.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    folder = tmp_path / "solutions"
    folder.mkdir()
    nbformat.write(executed, str(folder / "99_fixture.ipynb"))
    a = render(build_exercise(sol)[0])
    b = render(build_exercise(folder / "99_fixture.ipynb")[0])
    assert a == b == render(build_exercise(sol)[0])
    assert a.endswith("}\n")


def test_region_without_check_and_check_without_region_fail(tmp_path):
    region = code("def f():\n    ### BEGIN SOLUTION 7.1: return 1\n    return 1\n    ### END SOLUTION")
    path = _solution(tmp_path, [md("# t"), region])
    with pytest.raises(BuildError, match=r"07_demo.ipynb, cell 1: exercise 7.1 has a solution region but no check cell"):
        build_exercise(path)
    path = _solution(tmp_path, [md("# t"), code("def f():\n    return 1"), code('check("7.1", f)')])
    with pytest.raises(BuildError, match=r"cell 2: check cell for exercise 7.1 but no"):
        build_exercise(path)
    path = _solution(tmp_path, [region, code('check("7.1", f)'), code('check("7.1", f)')])
    with pytest.raises(BuildError, match="already has a check cell"):
        build_exercise(path)


def test_bad_marker_in_a_notebook_names_notebook_cell_line(tmp_path):
    path = _solution(tmp_path, [md("# t"), code("x = 1"), code("def f():\n    return 1\n    ### END SOLUTION")])
    with pytest.raises(BuildError, match=r"solutions/07_demo.ipynb, cell 2, line 3"):
        build_exercise(path)
    assert cli.main(["build-exercises", "--solutions", str(tmp_path / "solutions"), "--out", str(tmp_path / "ex")]) == 2
    assert not (tmp_path / "ex" / "07_demo.ipynb").exists()


def test_build_then_check_then_drift(tmp_path, capsys):
    sols, out = tmp_path / "solutions", tmp_path / "exercises"
    shutil.copytree(FIXTURE / "solutions", sols)
    args = ["--solutions", str(sols), "--out", str(out)]
    assert cli.main(["build-exercises", "--check", *args]) == 1          # missing
    assert "99_fixture.ipynb: missing" in capsys.readouterr().err
    assert cli.main(["build-exercises", *args]) == 0
    before = (out / "99_fixture.ipynb").read_bytes()
    assert cli.main(["build-exercises", *args]) == 0                     # idempotent
    assert (out / "99_fixture.ipynb").read_bytes() == before
    assert cli.main(["build-exercises", "--check", *args]) == 0
    assert check_all(sols, out) == []

    nb = json.loads(before)                                               # a hand edit is drift
    nb["cells"][4]["source"] = ["def weighted_sum(values, weights):\n", "    return 0"]
    (out / "99_fixture.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["build-exercises", "--check", *args]) == 1
    assert "99_fixture.ipynb: differs" in capsys.readouterr().err

    build_all(sols, out)                                                  # an exercise without solution is extra
    shutil.copy(out / "99_fixture.ipynb", out / "98_gone.ipynb")
    (out / "notes.ipynb").write_text("{}", encoding="utf-8")              # a hand-made file is left alone
    problems = check_all(sols, out)
    assert len(problems) == 1 and "98_gone.ipynb" in problems[0] and "extra" in problems[0]
    build_all(sols, out)
    assert not (out / "98_gone.ipynb").exists() and (out / "notes.ipynb").exists()


def test_module_doctest():
    import doctest

    import fusion_course.exercises as module
    assert doctest.testmod(module).failed == 0


def test_cli_usage_errors(tmp_path, capsys):
    assert cli.main(["build-exercises", "--solutions", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["build-exercises", "--solutions", str(tmp_path / "empty")]) == 2
    assert "no solution notebooks" in capsys.readouterr().err


# ----------------------------------------------------------------------------- gates on the real course
@pytest.mark.skipif(not REAL, reason="no solution notebooks in solutions/ yet")
@pytest.mark.parametrize("name", REAL)
def test_gate_no_drift(name):
    """`fusion-course build-exercises --check`: exercises/NN_x.ipynb is exactly what the build writes."""
    target = EXERCISES / name
    assert target.exists(), f"{target} is missing: run `fusion-course build-exercises`"
    expected = render(build_exercise(SOLUTIONS / name)[0])
    assert target.read_text(encoding="utf-8") == expected, \
        f"{target} differs from solutions/{name}: run `fusion-course build-exercises`"


@pytest.mark.skipif(not REAL, reason="no solution notebooks in solutions/ yet")
def test_gate_no_extra_exercises():
    assert [p for p in check_all(SOLUTIONS, EXERCISES) if "extra" in p] == []


@pytest.fixture(scope="module")
def graded_exercises(tmp_path_factory):
    """One grade run over every real exercise notebook (two at a time), shared by the gates below."""
    from fusion_course.grading import grade
    from budgets import budget_for

    files = [EXERCISES / n for n in REAL if (EXERCISES / n).exists()]
    if not files:
        pytest.skip("no exercise notebooks in exercises/ yet")
    per_notebook = 3 * max(budget_for(n) for n in REAL)
    grades = grade(files, out_dir=tmp_path_factory.mktemp("grades-ex"), solutions_dir=SOLUTIONS,
                   timeout_per_cell=per_notebook, timeout_per_notebook=per_notebook, jobs=2, progress=False)
    return {Path(g.file).name: g for g in grades}


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="no solution notebooks in solutions/ yet")
@pytest.mark.parametrize("name", REAL)
def test_gate_exercises_fail_correctly(graded_exercises, name):
    """Executing an exercise notebook: each check cell raises NotImplementedError, no other cell fails,
    so grading exercises/ gives zero with every exercise "not attempted"."""
    g = graded_exercises[name]
    assert g.status == "graded", f"{name}: {g.status}: {g.message}"
    assert g.cell_errors == [], f"{name}: cells other than checks failed: {g.cell_errors}"
    assert g.max > 0
    for ex, r in g.exercises.items():
        assert r["exception"] == "NotImplementedError", f"{name} exercise {ex}: {r}"
        assert r["status"] == "not attempted" and r["message"].startswith(f"Exercise {ex}:"), f"{name} {ex}: {r}"
    assert g.total == 0


@pytest.mark.skipif(not REAL, reason="no solution notebooks in solutions/ yet")
@pytest.mark.parametrize("name", REAL)
def test_real_solution_builds_and_every_exercise_has_a_check(name):
    """Fast early warning for lesson authors: markers are right and each check cell has a check function."""
    from fusion_course.checks import available_checks

    nb, info = build_exercise(SOLUTIONS / name)
    nbformat.validate(nb)
    assert info.exercises, f"{name} has no exercises"
    missing = sorted(set(info.exercises) - set(available_checks(info.lesson)))
    assert not missing, f"{name}: no check in fusion_course/checks/lesson{info.lesson}.py for {missing}"
    assert all(ex.startswith(f"{int(info.lesson)}.") for ex in info.exercises)
