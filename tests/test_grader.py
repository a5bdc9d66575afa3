"""`fusion-course grade`: a room of fixture submissions, each kind of trouble, and the real course.

The fixture lesson 99 (tests/fixtures/course) has two exercises whose checks are plain Python, so
these tests spend their time on what the grader does (kernels, limits, merging), not on torch.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import json
import time
from pathlib import Path

import nbformat
import pytest

from fusion_course import cli
from fusion_course.checks import EXTRA_CHECKS_ENV
from fusion_course.exercises import build_exercise
from fusion_course.grading import find_submissions, grade, merge_checks

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "course"
FIX_SOLUTIONS = FIXTURE / "solutions"
SOLUTIONS = ROOT / "solutions"
REAL = sorted(p.name for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb")) if SOLUTIONS.is_dir() else []

CELL_S, NOTEBOOK_S = 20.0, 50.0


def _exercise() -> nbformat.NotebookNode:
    return build_exercise(FIX_SOLUTIONS / "99_fixture.ipynb")[0]


def _cell(nb, ex: str, kind: str) -> int:
    """Index of the exercise cell (kind='exercise') or check cell (kind='check') of ``ex``."""
    for i, c in enumerate(nb.cells):
        fc = c.metadata.get("fusion_course", {})
        if (kind == "check" and fc.get("check") == ex) or (kind == "exercise" and ex in fc.get("exercise", [])):
            return i
    raise LookupError(ex)


SOLVED_1 = "def weighted_sum(values, weights):\n    return sum(w * v for w, v in zip(weights, values))"
SOLVED_2 = "class Gate:\n    def __init__(self, k):\n        self.k = k\n    def __call__(self, x):\n        return min(max(x, 0), self.k)"


def _room(folder: Path) -> None:
    """One submission per kind of trouble."""
    folder.mkdir()
    ex = _exercise()
    e1, e2 = _cell(ex, "99.1", "exercise"), _cell(ex, "99.2", "exercise")
    c1, c2 = _cell(ex, "99.1", "check"), _cell(ex, "99.2", "check")

    def save(nb, name):
        nbformat.write(nb, str(folder / name))

    # the solution notebook as such (no metadata: the lesson comes from the file name), plus torch under the memory limit
    sol = nbformat.read(str(FIX_SOLUTIONS / "99_fixture.ipynb"), as_version=4)
    sol.cells.append(nbformat.v4.new_code_cell("import torch\nprint(tuple((torch.ones(64, 64) @ torch.ones(64, 64)).shape))"))
    save(sol, "ada_99_fixture.ipynb")
    save(ex, "ben_99_fixture.ipynb")                                   # untouched exercise
    nb = copy.deepcopy(ex)                                             # solved in the exercise notebook
    nb.cells[e1].source, nb.cells[e2].source = SOLVED_1, SOLVED_2
    nb.cells[c1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="✔ fake stored output\n")]
    save(nb, "cleo.ipynb")                                             # lesson from the metadata
    nb = copy.deepcopy(ex)                                             # tampering, three ways
    nb.cells[e1].source = "def weighted_sum(values, weights):\n    return 1.0"
    nb.cells[c1].source = 'check = lambda *args: print("✔ passed")\ncheck("99.1", weighted_sum)'
    nb.cells[e2].source = SOLVED_2.replace("min(max(x, 0), self.k)", "x")
    del nb.cells[c2]                                                   # deleted check of 99.2
    nb.cells.insert(1, nbformat.v4.new_code_cell("import fusion_course.checks as c\nc.check = lambda *a: None"))
    save(nb, "dan_99_fixture.ipynb")
    nb = copy.deepcopy(ex)                                             # an endless loop in 99.1, 99.2 solved
    nb.cells[e1].source = "def weighted_sum(values, weights):\n    while True:\n        pass"
    nb.cells[e2].source = SOLVED_2
    save(nb, "eve_99_fixture.ipynb")
    nb = copy.deepcopy(ex)                                             # kills its kernel
    nb.cells[e2].source = "import os\nos._exit(1)"
    nb.cells[e1].source = SOLVED_1
    save(nb, "fay_99_fixture.ipynb")
    nb = copy.deepcopy(ex)                                             # fills memory
    nb.cells[e1].source = "def weighted_sum(values, weights):\n    hog = [bytearray(2**28) for _ in range(10**6)]\n    return 0"
    save(nb, "gus_99_fixture.ipynb")
    nb = copy.deepcopy(ex)                                             # ignores interrupts and loops: notebook limit
    nb.cells[e1].source = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    save(nb, "hal_99_fixture.ipynb")
    (folder / "ivy_99_fixture.ipynb").write_text('{"cells": [', encoding="utf-8")   # broken JSON
    other = nbformat.v4.new_notebook()                                 # another course's homework
    other.cells = [nbformat.v4.new_code_cell("print('hello')")]
    save(other, "jon_homework1.ipynb")
    other = copy.deepcopy(ex)                                          # a lesson this course does not have
    other.metadata["fusion_course"]["lesson"] = "42"
    save(other, "kim_42_other.ipynb")
    (folder / ".ipynb_checkpoints").mkdir()                            # skipped
    save(ex, ".ipynb_checkpoints/ben_99_fixture-checkpoint.ipynb")


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """Grade the fixture room once (two notebooks at a time); all the room tests read this run."""
    base = tmp_path_factory.mktemp("room")
    subs, out = base / "submissions", base / "grades"
    _room(subs)
    before = _digest(subs)
    mp = pytest.MonkeyPatch()
    mp.setenv(EXTRA_CHECKS_ENV, str(FIXTURE / "checks"))
    start = time.monotonic()
    try:
        grades = grade([subs], out_dir=out, solutions_dir=FIX_SOLUTIONS, timeout_per_cell=CELL_S,
                       timeout_per_notebook=NOTEBOOK_S, jobs=2, memory_gb=2.0, progress=False)
    finally:
        mp.undo()
    seconds = time.monotonic() - start
    return {"grades": {g.student: g for g in grades}, "out": out, "subs": subs, "before": before,
            "after": _digest(subs), "seconds": seconds, "order": [g.student for g in grades]}


def _ex(room, student):
    g = room["grades"][student]
    return g, {k: v["status"] for k, v in g.exercises.items()}


@pytest.mark.slow
def test_submissions_are_never_modified(room):
    assert room["before"] == room["after"]


@pytest.mark.slow
def test_every_file_has_a_row_and_checkpoints_are_skipped(room):
    assert sorted(room["order"]) == sorted([
        "ada_99_fixture", "ben_99_fixture", "cleo", "dan_99_fixture", "eve_99_fixture", "fay_99_fixture",
        "gus_99_fixture", "hal_99_fixture", "ivy_99_fixture", "jon_homework1", "kim_42_other"])


@pytest.mark.slow
def test_solution_gets_full_marks_with_torch_under_the_memory_limit(room):
    g, ex = _ex(room, "ada_99_fixture")
    assert (g.status, ex, g.total, g.max) == ("graded", {"99.1": "passed", "99.2": "passed"}, 2, 2)
    assert g.cell_errors == []
    assert g.exercises["99.1"]["message"].startswith("✔ Exercise 99.1 passed")


@pytest.mark.slow
def test_untouched_exercise_is_not_attempted(room):
    g, ex = _ex(room, "ben_99_fixture")
    assert (g.status, ex, g.total) == ("graded", {"99.1": "not attempted", "99.2": "not attempted"}, 0)
    assert g.exercises["99.1"]["message"] == "Exercise 99.1: return the sum of weights[i] * values[i]"


@pytest.mark.slow
def test_solved_exercise_notebook_passes_without_a_lesson_in_its_name(room):
    g, ex = _ex(room, "cleo")
    assert (g.lesson, ex, g.total) == ("99", {"99.1": "passed", "99.2": "passed"}, 2)


@pytest.mark.slow
def test_tampered_and_deleted_checks_cannot_pass(room):
    g, ex = _ex(room, "dan_99_fixture")
    assert ex == {"99.1": "failed", "99.2": "failed"}
    assert "Exercise 99.1: expected" in g.exercises["99.1"]["message"]
    assert "Hint:" in g.exercises["99.2"]["message"]


@pytest.mark.slow
def test_endless_loop_costs_one_exercise_within_the_cell_limit(room):
    g, ex = _ex(room, "eve_99_fixture")
    assert (g.status, ex) == ("graded", {"99.1": "timeout", "99.2": "passed"})
    assert f"{CELL_S:g} s" in g.exercises["99.1"]["message"]


@pytest.mark.slow
def test_kernel_killed_by_the_code(room):
    g, ex = _ex(room, "fay_99_fixture")
    assert g.status == "kernel died" and "kernel died" in g.message
    assert ex == {"99.1": "passed", "99.2": "not run"}


@pytest.mark.slow
def test_memory_hog_is_stopped(room):
    g, ex = _ex(room, "gus_99_fixture")
    assert ex["99.1"] == "error" and "memory" in g.exercises["99.1"]["message"]
    assert ex["99.2"] == "not attempted"


@pytest.mark.slow
def test_uninterruptible_loop_hits_the_notebook_limit(room):
    g, ex = _ex(room, "hal_99_fixture")
    assert g.status == "timeout"
    assert set(ex.values()) <= {"timeout", "not run"}
    assert g.seconds < NOTEBOOK_S + 30


@pytest.mark.slow
def test_files_that_cannot_be_graded_are_reported(room):
    g = room["grades"]
    assert g["ivy_99_fixture"].status == "not a notebook"
    assert g["jon_homework1"].status == "not of this course"
    assert g["kim_42_other"].status == "unknown lesson" and "lesson 42" in g["kim_42_other"].message


@pytest.mark.slow
def test_reports(room):
    out = room["out"]
    rows = list(csv.DictReader(open(out / "grades.csv", encoding="utf-8")))
    assert list(rows[0]) == ["file", "student", "lesson", "status", "99.1", "99.2", "total", "max", "flags"]
    ada = next(r for r in rows if r["student"] == "ada_99_fixture")
    assert (ada["99.1"], ada["total"], ada["max"]) == ("passed", "2", "2")
    data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    dan = next(s for s in data["submissions"] if s["student"] == "dan_99_fixture")
    assert "Hint:" in dan["exercises"]["99.1"]["message"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script src" not in page and "<link" not in page
    assert "#c8f0c8" in page and "<details>" in page and "Exercise 99.1: expected" in page


@pytest.mark.slow
def test_no_kernel_is_left_behind(room):
    """Every kernel the grader started is gone (the os._exit one, the killed one, the finished ones)."""
    from test_grader_adversarial import leftovers   # (a grader running in another test process is not ours)

    assert leftovers() == []


# ----------------------------------------------------------------------------- merging, without kernels
def test_merge_puts_captures_where_the_checks_were():
    canonical = _exercise()
    sub = copy.deepcopy(canonical)
    c1, c2 = _cell(sub, "99.1", "check"), _cell(sub, "99.2", "check")
    sub.cells[_cell(sub, "99.1", "exercise")].source = "pass"
    sub.cells[c1].source = SOLVED_1 + "\ncheck = print\ncheck('99.1', 'I pass')"   # code + a fake check, tag kept
    sub.cells[c2].metadata = {}                         # untagged but still the one-line pattern
    sub.cells[c2].source = 'check("99.2", lambda x: 0)'
    sub.cells[c2].id = "renamed"
    extra = nbformat.v4.new_code_cell("x = 1\ncheck('99.1', weighted_sum)\ny = 2")
    sub.cells.insert(2, extra)
    merged, index, _ = merge_checks(sub, canonical, ["99.1", "99.2"])
    assert len(merged.cells) == len(sub.cells) + 1      # the learner's code in the check cell is kept
    kept = merged.cells[index["99.1"] - 1]
    assert kept.source == SOLVED_1 + "\ncheck = print\npass  # check(...) removed by the grader"
    assert "check" not in kept.metadata.get("tags", []) and "fusion_course" not in kept.metadata
    assert "['capture'](\"99.1\", weighted_sum)" in merged.cells[index["99.1"]].source
    assert "['capture'](\"99.2\", Gate)" in merged.cells[index["99.2"]].source
    assert "lambda x: 0" not in "".join(c.source for c in merged.cells)
    assert merged.cells[2].source == "x = 1\npass  # check(...) removed by the grader\ny = 2"
    assert index["99.1"] < index["99.2"]
    assert sum("['capture']" in c.source for c in merged.cells) == 2


def test_merge_reinserts_deleted_checks_after_their_exercise():
    canonical = _exercise()
    sub = copy.deepcopy(canonical)
    e1 = _cell(sub, "99.1", "exercise")
    del sub.cells[_cell(sub, "99.2", "check")]
    del sub.cells[_cell(sub, "99.1", "check")]
    sub.cells[e1].metadata = {}                         # found by cell id
    sub.cells[_cell(sub, "99.2", "exercise")].id = "x"  # found by tag
    merged, index, _ = merge_checks(sub, canonical, ["99.1", "99.2"])
    assert index["99.1"] == e1 + 1
    assert merged.cells[index["99.2"] - 1].metadata["fusion_course"]["exercise"] == ["99.2"]
    lone = nbformat.v4.new_notebook()                    # nothing to anchor on: appended at the end
    lone.cells = [nbformat.v4.new_code_cell("print(1)")]
    merged, index, _ = merge_checks(lone, canonical, ["99.1", "99.2"])
    assert (index["99.1"], index["99.2"]) == (1, 2)


# ----------------------------------------------------------------------------- command line
def test_cli_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)                         # the default --out must not appear on bad input
    assert cli.main(["grade", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["grade", str(tmp_path / "empty"), "--solutions", str(FIX_SOLUTIONS)]) == 2
    assert "no notebooks" in capsys.readouterr().err
    sub = tmp_path / "99_fixture.ipynb"
    nbformat.write(_exercise(), str(sub))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert cli.main(["grade", str(sub), "--out", str(blocker / "grades"), "--solutions", str(FIX_SOLUTIONS)]) == 2
    assert "cannot write the grades" in capsys.readouterr().err
    assert cli.main(["grade", str(sub), "--solutions", str(tmp_path / "nosol"), "--out", str(tmp_path / "g")]) == 2
    assert "solutions folder" in capsys.readouterr().err
    assert cli.main(["grade", str(sub), "--jobs", "0", "--out", str(tmp_path / "g")]) == 2
    assert cli.main(["grade"]) == 2                     # argparse: PATH is required
    assert not (tmp_path / "grades").exists()


def test_cli_errors_are_one_line_and_solutions_are_found_from_any_folder(tmp_path, capsys, monkeypatch):
    from fusion_course.grading import default_solutions

    monkeypatch.chdir(tmp_path)
    assert default_solutions() == SOLUTIONS                # the course's own, next to the package
    sub = tmp_path / "99_fixture.ipynb"
    nbformat.write(_exercise(), str(sub))
    for argv in (["grade", str(tmp_path / "nope.ipynb")],
                 ["grade", str(sub), "--out", str(sub)],
                 ["grade", str(sub), "--solutions", str(sub)]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_lesson_filter_reports_other_lessons_without_running_them(tmp_path, monkeypatch):
    monkeypatch.setenv(EXTRA_CHECKS_ENV, str(FIXTURE / "checks"))
    sub = tmp_path / "zoe.ipynb"
    nbformat.write(_exercise(), str(sub))
    (g,) = grade([sub], out_dir=None, solutions_dir=FIX_SOLUTIONS, lesson="3", progress=False)
    assert (g.lesson, g.status, g.exercises) == ("99", "other lesson", {})
    assert "lesson 03 only" in g.message


def test_find_submissions_takes_files_and_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.ipynb").write_text("{}")
    (tmp_path / "a" / "notes.txt").write_text("")
    (tmp_path / "b.py").write_text("")
    found = find_submissions([tmp_path / "a", tmp_path / "b.py"])
    assert [p.name for p in found] == ["x.ipynb", "b.py"]


# ----------------------------------------------------------------------------- the real course
@pytest.fixture(scope="module")
def graded_solutions(tmp_path_factory):
    from budgets import budget_for

    if not REAL:
        pytest.skip("no solution notebooks in solutions/ yet")
    per_notebook = 3 * max(budget_for(n) for n in REAL)
    grades = grade([SOLUTIONS / n for n in REAL], out_dir=tmp_path_factory.mktemp("grades-sol"),
                   solutions_dir=SOLUTIONS, timeout_per_cell=per_notebook, timeout_per_notebook=per_notebook,
                   jobs=2, progress=False)
    return {Path(g.file).name: g for g in grades}


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="no solution notebooks in solutions/ yet")
@pytest.mark.parametrize("name", REAL)
def test_gate_grading_solutions_gives_full_marks(graded_solutions, name):
    g = graded_solutions[name]
    failing = {ex: r for ex, r in g.exercises.items() if r["status"] != "passed"}
    assert g.status == "graded" and not failing, f"{name}: {g.status} {g.message} {failing}"
    assert g.max > 0 and g.total == g.max
    assert g.cell_errors == [], f"{name}: cells failed: {g.cell_errors}"
