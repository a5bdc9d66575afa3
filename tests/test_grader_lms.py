"""`fusion-course grade` on LMS download trees: names and ids read back, copies named, causes first, exports.

The trees in tests/fixtures/lms_canvas and tests/fixtures/lms_moodle are laid out as Canvas's "Download
Submissions" and Moodle's "Download all submissions" lay them out (see fusion_course/grading/lms.py), with
notebooks of the fixture lesson 99 (plain-Python checks: the time goes to the grader, not to torch).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from fusion_course import cli
from fusion_course.checks import EXTRA_CHECKS_ENV
from fusion_course.grading import Grade, grade
from fusion_course.grading.lms import CANVAS_COLUMNS, MOODLE_COLUMNS, export, identify

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "course"
CANVAS = ROOT / "tests" / "fixtures" / "lms_canvas"
MOODLE = ROOT / "tests" / "fixtures" / "lms_moodle"


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_canvas_and_moodle_download_names_are_read_back():
    who = identify(CANVAS / "diazcyd_late_48215_913455_99_fixture.ipynb")
    assert (who.lms, who.user_id, who.name, who.original, who.late) == ("canvas", "48215", "diazcyd", "99_fixture.ipynb", True)
    assert identify(CANVAS / "chenbo_48214_913402_99_fixture-1.ipynb").original == "99_fixture-1.ipynb"
    who = identify(MOODLE / "José Núñez_123457_assignsubmission_file_" / "99_fixture.ipynb")
    assert (who.lms, who.user_id, who.name) == ("moodle", "123457", "José Núñez")
    assert identify(CANVAS / "99_fixture (dee's copy).ipynb") is None
    assert identify(Path("submissions/ann/99_fixture.ipynb")) is None


def _grade(lms: str, lms_id: str, total: int, status: str = "graded", name: str = "") -> Grade:
    return Grade(file=f"{lms_id or 'x'}.ipynb", student=name or lms_id, lesson="99", status=status, total=total, max=2,
                 exercises={"99.1": {"status": "passed", "message": "", "exception": ""}}, lms=lms, lms_id=lms_id,
                 name=name)


def test_an_unknown_or_doubled_id_goes_to_needs_attention_never_to_the_import(tmp_path):
    grades = [_grade("canvas", "1", 2, name="ann"), _grade("", "", 1, name="dee"), _grade("canvas", "2", 1, name="bo"),
              _grade("canvas", "2", 0, name="bo"), _grade("moodle", "9", 2, name="Al Bo")]
    done = export(grades, tmp_path, "canvas", "Lesson 99 (77)")
    rows = _rows(done["path"])
    assert rows[0] == [*CANVAS_COLUMNS, "Lesson 99 (77)"]
    assert rows[1:] == [["ann", "1", "", "", "", "2"]]
    attention = _rows(done["needs_attention"])
    assert attention[0] == ["file", "student", "lms", "id", "reason"]
    reasons = {(r[1], r[3]): r[4] for r in attention[1:]}
    assert "no canvas id" in reasons[("dee", "")] and "more than one file" in reasons[("bo", "2")]
    assert "not canvas" in reasons[("Al Bo", "9")] and len(attention) == 5


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    """Grade both download trees once (four Canvas files, two Moodle folders)."""
    out = tmp_path_factory.mktemp("lms") / "grades"
    mp = pytest.MonkeyPatch()
    mp.setenv(EXTRA_CHECKS_ENV, str(FIXTURE / "checks"))
    try:
        grades = grade([CANVAS, MOODLE], out_dir=out, solutions_dir=FIXTURE / "solutions", timeout_per_cell=20,
                       timeout_per_notebook=60, jobs=2, memory_gb=2.0, progress=False)
    finally:
        mp.undo()
    return {"grades": {g.student: g for g in grades}, "out": out, "list": grades}


@pytest.mark.slow
def test_students_and_ids_come_from_the_download_names(room):
    g = room["grades"]
    assert {s: (x.lms, x.lms_id) for s, x in g.items()} == {
        "leeann": ("canvas", "48213"), "chenbo": ("canvas", "48214"), "diazcyd": ("canvas", "48215"),
        "99_fixture (dee's copy)": ("", ""), "Alice Smith": ("moodle", "123456"), "José Núñez": ("moodle", "123457")}
    assert all(x.lesson == "99" for x in g.values())
    assert (g["Alice Smith"].total, g["José Núñez"].total) == (2, 1)


@pytest.mark.slow
def test_byte_identical_hand_ins_flag_each_other(room):
    g = room["grades"]
    ann = [f["detail"] for f in g["leeann"].flags if f["kind"] == "similar" and "byte for byte" in f["detail"]]
    bo = [f["detail"] for f in g["chenbo"].flags if f["kind"] == "similar" and "byte for byte" in f["detail"]]
    assert len(ann) == 1 and "chenbo" in ann[0] and len(bo) == 1 and "leeann" in bo[0]
    # the same answers in José's file with a comment added: named by answer code, not as the same file
    jose = [f["detail"] for f in g["José Núñez"].flags if f["kind"] == "similar"]
    assert jose and not any("byte for byte" in d for d in jose) and any("answer code identical" in d for d in jose)


@pytest.mark.slow
def test_feedback_names_the_cells_own_error_and_line_before_the_consequence(room):
    g = room["grades"]["diazcyd"]
    first, second = g.exercises["99.1"], g.exercises["99.2"]
    assert first["status"] == "error" and second["status"] == "error"
    assert first["message"].startswith("SyntaxError: expected ':' (line 1 of your cell for exercise 99.1)")
    assert first["message"].index("SyntaxError") < first["message"].index("NameError")
    assert second["message"].startswith("NameError: name 'default_limit' is not defined "
                                        "(line 2 of your cell for exercise 99.2). Because of it, the check says: "
                                        "NameError: name 'Gate' is not defined")
    text = (room["out"] / "feedback" / "diazcyd.md").read_text(encoding="utf-8")
    assert text.index("SyntaxError: expected ':' (line 1") < text.index("Because of it")


@pytest.mark.slow
def test_lms_exports_have_the_documented_columns(room, capsys):
    out = room["out"]
    canvas = export(room["list"], out, "canvas", "Lesson 99 (1234)")
    rows = _rows(canvas["path"])
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lesson 99 (1234)"]
    assert sorted(r[1] for r in rows[1:]) == ["48213", "48214", "48215"]
    attention = _rows(canvas["needs_attention"])
    assert {r[1] for r in attention[1:]} == {"99_fixture (dee's copy)", "Alice Smith", "José Núñez"}
    moodle = export(room["list"], out, "moodle", "")
    rows = _rows(moodle["path"])
    assert rows[0] == list(MOODLE_COLUMNS) == [
        "Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
        "Last modified (submission)", "Last modified (grade)", "Feedback comments"]
    by_id = {r[0]: r for r in rows[1:]}
    assert set(by_id) == {"Participant 123456", "Participant 123457"}
    assert by_id["Participant 123456"][1:3] == ["Alice Smith", ""] and by_id["Participant 123456"][4:6] == ["2", "2"]
    assert by_id["Participant 123457"][4] == "1" and "99.2: failed" in by_id["Participant 123457"][9]
    assert "min(max(x, 0)" not in moodle["path"].read_text(encoding="utf-8")    # feedback, never the solution


def test_cli_lms_choice_is_checked(capsys):
    assert cli.main(["grade", str(CANVAS), "--lms", "blackboard"]) == 2
    assert "invalid choice" in capsys.readouterr().err
