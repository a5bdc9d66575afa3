"""Learning-management systems: their download names in, their gradebook files out.

**In.** An LMS renames what learners hand in:

* Canvas ("Download Submissions") names each file ``<name>_<user id>_<submission id>_<the learner's file name>``,
  with ``late`` after the name when the hand-in was late: ``smithjohn_12345_67890_01_fusion_formula.ipynb``,
  ``smithjohn_late_12345_67890_01_fusion_formula.ipynb``. ``<name>`` is the learner's sortable name, lower
  case, without spaces or punctuation;
* Moodle ("Download all submissions") makes one folder per learner and file plugin,
  ``<Full name>_<participant id>_assignsubmission_file_``, holding the learner's file under its own name.

:func:`identify` reads those names back (the learner's name, the LMS's id, the original file name).

**Out.** ``--lms canvas`` writes ``canvas-grades.csv``, the columns of Canvas's gradebook import
(``Student, ID, SIS User ID, SIS Login ID, Section, <assignment>``: Canvas matches rows on ``ID``, the user id
from the download name). ``--lms moodle`` writes ``moodle-grades.csv``, the columns of the assignment's offline
grading worksheet (``Identifier, Full name, Email address, Status, Grade, Maximum Grade, Grade can be changed,
Last modified (submission), Last modified (grade), Feedback comments``; Moodle matches rows on
``Identifier``, ``Participant <id>``). A row the grader cannot tie to an id goes to
``needs-attention.csv`` with the reason, never into the import file with a guessed id.

>>> identify(Path("subs/smithjohn_late_12345_67890_01_fusion_formula.ipynb"))
LmsIdentity(lms='canvas', user_id='12345', name='smithjohn', original='01_fusion_formula.ipynb', late=True)
>>> identify(Path("subs/Alice Smith_123456_assignsubmission_file_/01_fusion_formula.ipynb")).user_id
'123456'
>>> identify(Path("alice.ipynb")) is None
True
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = ["LmsIdentity", "identify", "LMS_CHOICES", "CANVAS_COLUMNS", "MOODLE_COLUMNS", "export", "score"]

LMS_CHOICES = ("canvas", "moodle")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments")
CANVAS_NAME = re.compile(r"^(?P<name>[a-z0-9]+)(?P<late>_late)?_(?P<user>\d+)_(?P<sub>\d+)_(?P<original>.+)$")
MOODLE_FOLDER = re.compile(r"^(?P<name>.+?)_(?P<user>\d+)_assign(?:submission|feedback)_[a-z]+_?$")


@dataclass(frozen=True)
class LmsIdentity:
    """Who handed a file in, as the LMS's download name says."""

    lms: str            # "canvas" | "moodle"
    user_id: str        # Canvas user id / Moodle participant id
    name: str           # Canvas's sortable name (``smithjohn``) or Moodle's full name (``Alice Smith``)
    original: str       # the file name the learner gave it
    late: bool = False  # Canvas marked the hand-in late


def identify(path: Path) -> LmsIdentity | None:
    """The LMS identity in ``path``'s name (Canvas) or its folder's (Moodle); None for any other name."""
    m = CANVAS_NAME.match(path.name)
    if m:
        return LmsIdentity("canvas", m["user"], m["name"], m["original"], late=bool(m["late"]))
    for folder in path.parents:
        m = MOODLE_FOLDER.match(folder.name)
        if m:
            return LmsIdentity("moodle", m["user"], m["name"].strip(), path.name)
    return None


def score(g: Any) -> str:
    """The mark an LMS receives: passed exercises, or empty when nothing was graded (not a zero)."""
    return str(g.total) if g.max and g.exercises and g.status != "review" else ""


def _attention(grades: Sequence[Any], system: str) -> tuple[list[Any], list[tuple[Any, str]]]:
    """Rows that can go to the LMS, and the others with the reason (no id, another LMS, one id twice...)."""
    ready, attention = [], []
    seen: dict[str, Any] = {}
    for g in grades:
        if not g.lms_id:
            attention.append((g, f"no {system} id in the file's name; enter this mark by hand"))
        elif g.lms != system:
            attention.append((g, f"a {g.lms} download name, not {system}'s; enter this mark by hand"))
        elif not score(g):
            attention.append((g, f"no mark to send ({g.status}: {g.message[:200]})".rstrip()))
        elif g.lms_id in seen:
            attention.append((g, f"id {g.lms_id} also handed in {seen[g.lms_id].file}; choose the one that counts"))
        else:
            seen[g.lms_id] = g
            ready.append(g)
    twice = {g.lms_id for g, why in attention if why.startswith("id ")}
    ready_final = [g for g in ready if g.lms_id not in twice]
    attention += [(g, f"id {g.lms_id} handed in more than one file; choose the one that counts")
                  for g in ready if g.lms_id in twice]
    return ready_final, attention


def _csv(rows: list[list[Any]]) -> str:
    from .reports import safe_cell

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buf.getvalue()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def export(grades: Sequence[Any], out: Path, system: str, assignment: str) -> dict[str, Any]:
    """Write the LMS's import file and ``needs-attention.csv`` into ``out``; returns paths and counts.

    ``assignment`` heads Canvas's grade column (write it as the gradebook shows it, e.g.
    ``Lesson 01 (1234)``, and Canvas updates that assignment); Moodle's worksheet belongs to the assignment
    it is uploaded to.
    """
    if system not in LMS_CHOICES:
        raise ValueError(f"unknown LMS {system!r}; choose one of {', '.join(LMS_CHOICES)}")
    ready, attention = _attention(grades, system)
    if system == "canvas":
        rows: list[list[Any]] = [[*CANVAS_COLUMNS, assignment]]
        rows += [[g.name or g.student, g.lms_id, "", "", "", score(g)] for g in ready]
        path = out / "canvas-grades.csv"
    else:
        from .reports import feedback_summary

        rows = [list(MOODLE_COLUMNS)]
        rows += [[f"Participant {g.lms_id}", g.name or g.student, "", "", score(g), str(g.max), "Yes", "", "",
                  feedback_summary(g)] for g in ready]
        path = out / "moodle-grades.csv"
    _write(path, _csv(rows))
    need = out / "needs-attention.csv"
    _write(need, _csv([["file", "student", "lms", "id", "reason"],
                       *[[g.file, g.student, g.lms, g.lms_id, why] for g, why in attention]]))
    return {"path": path, "needs_attention": need, "rows": len(ready), "attention": len(attention)}
