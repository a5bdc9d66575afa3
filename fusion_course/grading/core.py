"""One submission, graded: its row (:class:`Grade`), the lessons it is judged against, and the run's context.

:func:`grade_one` reads the file, finds its lesson and student, runs it in a worker (:mod:`.worker`) and turns
what the worker reported into the row. The room around it (pool, reports, resume, set-aside files) lives in
:mod:`.room`.
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..exercises import build_exercise, solution_notebooks
from . import flags as flagging
from . import lms, notebooks, worker

__all__ = ["Grade", "STATUSES", "Lessons", "Guard", "RoomContext", "grade_one", "default_solutions", "TAMPERED"]

TAMPERED = "the course's code or Python's start-up files changed while this ran: "
# Exercise outcomes, best first (the report colours them in this order).
STATUSES = ("passed", "failed", "error", "timeout", "not attempted", "not run")


@dataclass
class Grade:
    """One submission's row."""

    file: str
    student: str
    lesson: str = ""
    status: str = "graded"          # graded | timeout | kernel died | not believed | not a notebook | ...
    message: str = ""
    exercises: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {"status", "message", "exception"}
    cell_errors: list[dict[str, Any]] = field(default_factory=list)     # learner cells that raised
    total: int = 0
    max: int = 0
    seconds: float = 0.0
    flags: list[dict[str, str]] = field(default_factory=list)          # {"kind", "detail"}: for the teacher
    sha256: str = ""
    lms: str = ""                   # "canvas" | "moodle" when the file's name is that LMS's download name
    lms_id: str = ""                # the LMS's id of the student, read from that name ("" if none)
    name: str = ""                  # the student's name as the LMS wrote it

    def flag(self, kind: str, detail: str = "") -> None:
        """Add a flag for the teacher (once); it never changes the mark."""
        if not any(f["kind"] == kind and f["detail"] == detail for f in self.flags):
            self.flags.append({"kind": kind, "detail": detail})


def default_solutions() -> Path:
    """``solutions/`` in the working folder if it has one, else the one shipped next to the package."""
    here = Path("solutions")
    if here.is_dir() and any(here.glob("[0-9][0-9]_*.ipynb")):
        return here
    return Path(__file__).resolve().parents[2] / "solutions"


class Lessons:
    """The canonical exercise notebooks, built once per lesson, plus the solutions' normalised code."""

    def __init__(self, solutions_dir: Path) -> None:
        self.paths = {p.name[:2]: p for p in solution_notebooks(solutions_dir)}
        self.names = {p.stem: p.name[:2] for p in self.paths.values()}
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._cache_code: dict[str, str] = {}
        self._common: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def get(self, lesson: str) -> tuple[Any, Any]:
        """``(exercise notebook, ExerciseInfo)`` of a lesson, built from its solution on first use."""
        import nbformat

        with self._lock:
            if lesson not in self._cache:
                self._cache[lesson] = build_exercise(self.paths[lesson])
                solution = nbformat.read(str(self.paths[lesson]), as_version=4)
                canonical, info = self._cache[lesson]
                self._cache_code[lesson] = notebooks.code_of(solution)
                self._common[lesson] = {notebooks.answer_code(canonical, canonical, info.exercises),
                                        notebooks.answer_code(solution, canonical, info.exercises)}
            return self._cache[lesson]

    def solution_code(self, lesson: str) -> str:
        """The published solution's code, normalised (read when the lesson is first built)."""
        return self._cache_code[lesson]

    def common_answers(self, lesson: str) -> set[str]:
        """Answer code two students may share without it meaning anything: untouched, or the solution's."""
        self.get(lesson)
        return self._common[lesson]


class Guard:
    """Digests of the code the judge runs (checks, grader) and of Python's start-up hooks.

    A submission that rewrites a check, plants a module next to them or adds a ``.pth`` file would change the
    judge of every later submission: that is caught after each run, and grading stops.
    """

    def __init__(self) -> None:
        import site

        self.site = [Path(p) for p in {*site.getsitepackages(), site.getusersitepackages()} if Path(p).is_dir()]

    def _files(self) -> list[Path]:
        """Listed afresh each time, so a planted module counts as a change too."""
        package = Path(__file__).resolve().parents[1]
        files = [package / "__init__.py", *sorted((package / "checks").rglob("*.py")),
                 *sorted((package / "grading").rglob("*.py"))]
        for p in self.site:
            files += sorted(p.glob("*.pth")) + [p / "sitecustomize.py", p / "usercustomize.py"]
        return files

    def _digest(self) -> dict[str, str]:
        out = {}
        for f in self._files():
            try:
                out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
            except OSError:
                out[str(f)] = "missing"
        return out

    def snapshot(self) -> dict[str, str]:
        """File -> SHA-256 of everything watched, now."""
        return self._digest()

    def changed(self, before: dict[str, str]) -> list[str]:
        """The files that differ from ``before`` (new, changed or removed)."""
        now = self._digest()
        return sorted(f for f in {*now, *before} if now.get(f) != before.get(f))


@dataclass
class RoomContext:
    """What every submission of one run shares: names, limits, the answer server's source, the guard."""

    names: dict[Path, str]          # file -> the name its row shows (relative path)
    shared: Counter                 # file name -> how many submissions carry it (one folder per student)
    only: str | None                # grade this lesson only (``--lesson``), or every lesson
    cell_s: float                   # seconds per cell
    notebook_s: float               # seconds per submission
    memory: int                     # bytes of RLIMIT_DATA per kernel (0: none)
    server: str                     # the answer server's source, installed by the first cell
    guard: Guard = field(default_factory=Guard)
    tmp: Path | None = None         # the run's temporary parent folder (set when the room starts)


# ----------------------------------------------------------------------------- one submission
def identify(g: Grade, path: Path, nb: Any | None, shared: Counter) -> None:
    """Fill the row's student, and its LMS name and id when the file carries an LMS download name."""
    who = lms.identify(path)
    if who is not None:
        g.lms, g.lms_id, g.name = who.lms, who.user_id, who.name
    g.student = notebooks.student_name(path, nb, shared, lms_name=who.name if who else None)


def grade_one(path: Path, lessons: Lessons, ctx: RoomContext) -> Grade:
    """Grade one submission in a worker of its own; the row, whatever happened."""
    start = time.monotonic()
    g = Grade(file=ctx.names[path], student=path.stem)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        g.status, g.message = "unreadable", f"cannot read the file: {exc}"
        return g
    g.sha256 = hashlib.sha256(raw).hexdigest()
    nb, reason = notebooks.read_notebook(raw)
    identify(g, path, nb, ctx.shared)
    if nb is None:
        g.status, g.message = "not a notebook", reason
        return g
    if path.suffix != ".ipynb":
        g.flag("review", f"a notebook saved as {path.suffix or 'a file without extension'}; graded as a notebook")
    if not _lesson_of(g, path, nb, lessons, ctx):
        return g
    canonical, info = lessons.get(g.lesson)
    g.max = len(info.exercises)
    _static_flags(g, nb, lessons)
    merged, capture_index, ex_cells = notebooks.merge_checks(nb, canonical, info.exercises, ctx.server)
    before = ctx.guard.snapshot()
    result = worker.run_worker(merged, ctx.tmp, lesson=g.lesson, captures={i: ex for ex, i in capture_index.items()},
                               timeout_per_cell=ctx.cell_s, timeout_per_notebook=ctx.notebook_s,
                               memory_bytes=ctx.memory)
    _fill(g, result, merged, capture_index, ex_cells, info.exercises, ctx)
    changed = ctx.guard.changed(before)
    if changed:   # the judge of every later submission could be someone else's now: the room stops
        g.flag("review", TAMPERED + ", ".join(changed[:5]))
    g.seconds = round(time.monotonic() - start, 1)
    return g


def _lesson_of(g: Grade, path: Path, nb: Any, lessons: Lessons, ctx: RoomContext) -> bool:
    who = lms.identify(path)      # an LMS renames the file: its lesson is in the name the learner gave it
    lesson, note = notebooks.identify_lesson(Path(who.original) if who else path, nb, lessons.names)
    if lesson is None:
        g.status = "not of this course"
        g.message = ("no fusion_course lesson in the notebook's metadata, no NN_<topic> in the file name and no "
                     "check(\"N.k\", ...) or 'Exercise N.k:' in its cells; is this a notebook of another course?")
        return False
    g.lesson, g.message = lesson, note
    if ctx.only is not None and lesson != ctx.only:
        g.status, g.message = "other lesson", f"a notebook of lesson {lesson}; this run grades lesson {ctx.only} only"
        return False
    if lesson not in lessons.paths:
        g.status = "unknown lesson"
        g.message = f"lesson {lesson} has no solution notebook; known lessons: {', '.join(sorted(lessons.paths)) or 'none'}"
        return False
    return True


def _static_flags(g: Grade, nb: Any, lessons: Lessons) -> None:
    """Flags read from the code before it runs: the published solution, reaching into private code."""
    code = notebooks.code_of(nb)
    if code and code == lessons.solution_code(g.lesson):
        g.flag("solution", "identical to the published solution notebook")
    reached = flagging.private_access("\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    if reached:
        g.flag("private", "reaches into " + ", ".join(reached))


def _fill(g: Grade, result: worker.WorkerResult, merged: Any, capture_index: dict[str, int],
          ex_cells: dict[str, list[int]], exercises: Sequence[str], ctx: RoomContext) -> None:
    """The row, from what the worker reported; nothing from a worker that did not end cleanly."""
    cell_s, notebook_s = ctx.cell_s, ctx.notebook_s
    believed = result.clean or (result.timed_out and not result.forged)
    if result.forged:
        g.flag("review", f"{result.forged} grading message(s) with a bad signature: the submission tried to forge its result")
    if result.killed:
        g.flag("review", f"{result.killed} process(es) the submission started were still running and were killed")
    for index, rec in sorted(result.cells.items()):
        if index in capture_index.values() or rec.get("status") == "ok" or merged.cells[index].cell_type != "code":
            continue
        status = "timeout" if rec.get("status") == "running" else rec.get("status")
        g.cell_errors.append({"cell": index, "status": status, "ename": rec.get("ename", ""),
                              "evalue": str(rec.get("evalue", ""))[:500], "line": rec.get("line")})
    _row_status(g, result, believed, cell_s, notebook_s)
    for ex in exercises:
        verdict = result.exercises.get(ex) if believed else None
        g.exercises[ex] = verdict or _missing(ex, result, believed, capture_index, ex_cells)
        if believed and g.exercises[ex]["status"] not in ("passed", "not attempted"):
            _name_the_cause(ex, g.exercises[ex], result, ex_cells)
    g.total = sum(1 for r in g.exercises.values() if r["status"] == "passed")


def cause_of(ex: str, rec: dict[str, Any]) -> str:
    """What the learner's own exercise cell raised, where: ``SyntaxError: expected ':' (line 3 of ...)``.

    >>> cause_of("1.2", {"ename": "SyntaxError", "evalue": "expected ':'", "line": 3})
    "SyntaxError: expected ':' (line 3 of your cell for exercise 1.2)"
    """
    line = rec.get("line")
    evalue = re.sub(r"\s*\([^()]*, line \d+\)$", "", str(rec.get("evalue", "")))   # IPython's temp file name
    where = f"line {line} of your cell for exercise {ex}" if isinstance(line, int) else f"in your cell for exercise {ex}"
    return f"{rec.get('ename', 'Error')}: {evalue[:300]} ({where})"


def _name_the_cause(ex: str, verdict: dict[str, str], result: worker.WorkerResult, ex_cells: dict[str, list[int]]) -> None:
    """Put the error the exercise's own cell raised before the check's consequence (a NameError, a failure)."""
    for i in ex_cells.get(ex, []):
        rec = result.cells.get(i) or {}
        if rec.get("status") == "error" and rec.get("ename") not in ("", None, "NotImplementedError"):
            verdict["message"] = (cause_of(ex, rec) + ". Because of it, the check says: " + verdict["message"])[:1500]
            verdict["cause"] = f"{rec.get('ename')}"
            return


def _row_status(g: Grade, result: worker.WorkerResult, believed: bool, cell_s: float, notebook_s: float) -> None:
    if result.timed_out:
        g.status = "timeout"
        g.message = f"the notebook ran past the grader's limit of {notebook_s:g} s; later cells did not run"
    elif not believed:
        g.status = "not believed"
        g.message = ("the grading process did not end cleanly (killed, or its messages were tampered with); "
                     "no mark is given from this run: " + (result.stderr_tail.strip().splitlines() or ["no message"])[-1][:300])
        g.flag("review", "the grading process did not end cleanly")
    elif result.notebook == "dead":
        g.status = "kernel died"
        g.message = ("the kernel died (the code ended its Python process, e.g. os._exit() or exit(), crashed, "
                     "or was killed for memory); later cells did not run")
    elif result.notebook == "stuck":
        g.status = "timeout"
        g.message = f"a cell ran past {cell_s:g} s and did not stop when interrupted; later cells did not run"
    elif result.worker_error and not result.cells:
        g.status, g.message = "grader error", f"the notebook could not be run: {result.worker_error}"


def _missing(ex: str, result: worker.WorkerResult, believed: bool, capture_index: dict[str, int],
             ex_cells: dict[str, list[int]]) -> dict[str, str]:
    """The outcome of an exercise the judge did not rule on."""
    if not believed:
        return {"status": "not run", "message": "no mark: the grading process did not end cleanly", "exception": ""}
    rec = result.cells.get(capture_index.get(ex, -1))
    for i in ex_cells.get(ex, []):
        r = result.cells.get(i) or {}
        if r.get("ename") == "NotImplementedError":
            return {"status": "not attempted", "message": str(r.get("evalue", "")), "exception": "NotImplementedError"}
    if rec is None or rec.get("status") == "running":
        why = ("the notebook ran out of time before this check" if result.timed_out
               else "the kernel stopped before this check")
        return {"status": "timeout" if rec else "not run", "message": why, "exception": ""}
    if rec.get("status") == "error":
        return {"status": "error", "message": f"{rec.get('ename', '')}: {rec.get('evalue', '')}"[:1000],
                "exception": str(rec.get("ename", ""))}
    return {"status": "not run", "message": "this exercise was not judged", "exception": ""}
