"""``grade()``: a whole room, two submissions at a time, every row written as soon as it is graded.

Before a submission is graded, its entry goes into ``<out>/in-progress/`` (:mod:`.ledger`); a run that finds
entries left by a run that died sets those files aside (``review``, no mark) or, when the dead run was grading
several files at once, grades those first, one at a time. ``retry_crashed`` grades set-aside files again.
"""
from __future__ import annotations

import hashlib
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Sequence

from ..errors import UsageError
from ..exercises import BuildError
from . import flags as flagging
from . import ledger, notebooks, reports, worker
from .core import TAMPERED, Grade, Guard, Lessons, RoomContext, default_solutions, grade_one, identify

__all__ = ["grade", "preflight", "display_names", "sha256_of", "set_aside_row", "set_aside"]


def _validate(jobs: int, timeout_per_cell: float, timeout_per_notebook: float, lesson: str | None) -> str | None:
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if timeout_per_cell <= 0 or timeout_per_notebook <= 0:
        raise UsageError("time limits must be positive numbers of seconds")
    if lesson is None:
        return None
    try:
        return f"{int(lesson):02d}"
    except ValueError:
        raise UsageError(f"--lesson takes a lesson number like 03, got {lesson!r}") from None


def _load_lessons(solutions_dir: Path) -> Lessons:
    lessons = Lessons(solutions_dir)
    if not lessons.paths:
        raise UsageError(f"no solution notebooks (NN_<topic>.ipynb) in {solutions_dir}; "
                         "run from the course folder or pass --solutions DIR")
    for les in sorted(lessons.paths):  # a broken solution notebook is the teacher's problem: say so up front
        try:
            lessons.get(les)
        except BuildError as exc:
            raise UsageError(f"cannot build the exercises of lesson {les}: {exc}") from None
    return lessons


def _ensure_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".fusion-course-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write the grades to {out}: {exc.strerror or exc}; choose another --out folder") from None


def display_names(files: list[Path], paths: Sequence[str | Path]) -> dict[Path, str]:
    """Relative paths: to the working folder, else from the named folder (``subs/ann/x.ipynb``)."""
    cwd = Path.cwd().resolve()
    roots = [Path(p).resolve() for p in paths if Path(p).is_dir()]
    out = {}
    for f in files:
        full = f.resolve()
        try:
            out[f] = str(full.relative_to(cwd))
            continue
        except ValueError:
            pass
        root = next((r for r in roots if full.is_relative_to(r)), None)
        out[f] = str(Path(root.name) / full.relative_to(root)) if root is not None else f.name
    return out


def sha256_of(f: Path) -> str:
    """The file's SHA-256 ("" when it cannot be read)."""
    try:
        return hashlib.sha256(f.read_bytes()).hexdigest()
    except OSError:
        return ""


def _resumed(out_dir: Path | None, files: list[Path], names: dict[Path, str], digests: dict[Path, str],
             retry_crashed: bool) -> dict[Path, Grade]:
    """Rows of the previous run for files that have not changed since (same name, same SHA-256)."""
    if out_dir is None:
        return {}
    previous = {(r.get("file"), r.get("sha256")): r for r in reports.read_previous(out_dir)}
    kept: dict[Path, Grade] = {}
    for f in files:
        row = previous.get((names[f], digests[f]))
        if not row or row.get("status") in ("grader error", "not believed"):
            continue
        if retry_crashed and row.get("message") == ledger.CRASHED:
            continue
        fields = {k: row[k] for k in Grade.__dataclass_fields__ if k in row}
        kept[f] = Grade(**fields)
    return kept


def set_aside_row(f: Path, name: str, digest: str, shared: Counter) -> Grade:
    """The row of a file a dead run was grading: ``review``, the reason, no mark."""
    g = Grade(file=name, student=f.stem, status="review", message=ledger.CRASHED, sha256=digest)
    try:
        nb, _ = notebooks.read_notebook(f.read_bytes())
    except OSError:
        nb = None
    identify(g, f, nb, shared)
    g.flag("review", ledger.CRASHED + "; it may attack the grader: read it before grading it again "
                                      "with --retry-crashed, inside a container")
    return g


def _plan(out: Path | None, files: list[Path], names: dict[Path, str], digests: dict[Path, str],
          results: dict[Path, Grade], shared: Counter, retry_crashed: bool) -> dict[Path, int]:
    """Apply the entries dead runs left: set files aside (their rows go into ``results``).

    Returns the suspects, to be graded first and alone, with the number of runs that died on each so far.
    """
    if out is None:
        return {}
    aside, suspects = ledger.split(ledger.left_by_dead_runs(out))
    by_key = {(names[f], digests[f]): f for f in files}
    if retry_crashed:
        suspects, aside = suspects + aside, []
    for e in aside:
        f = by_key.get((e.file, e.sha256))
        if f is not None and f not in results:
            results[f] = set_aside_row(f, e.file, e.sha256, shared)
    found = {by_key.get((e.file, e.sha256)): e.deaths for e in suspects}
    return {f: n for f, n in found.items() if f is not None and f not in results}


def _similarity(grades: dict[Path, Grade], lessons: Lessons) -> None:
    """Flag copies across students, naming the pairs (all rows, resumed too).

    A byte-identical file (same SHA-256) handed in by two students is always flagged, whatever it holds: it is
    the surest sign of a copy. Otherwise, identical or near-identical answer code is (see :mod:`.flags`).
    """
    for g in grades.values():
        g.flags = [f for f in g.flags if f["kind"] != "similar"]
    same_file = _identical_files(grades)
    answers, by_student = [], {}
    for f, g in grades.items():
        if not g.lesson or g.lesson not in lessons.paths or not g.exercises:
            continue
        nb, _ = notebooks.read_notebook(f.read_bytes()) if f.is_file() else (None, "")
        if nb is None:
            continue
        canonical, info = lessons.get(g.lesson)
        key = f"{g.student} ({g.file})"
        answers.append((key, g.lesson, notebooks.answer_code(nb, canonical, info.exercises)))
        by_student[key] = g
    common = {les: lessons.common_answers(les) for les in {a[1] for a in answers}}
    for a, b, ratio in flagging.similar_pairs(answers, common):
        if (by_student[a].file, by_student[b].file) in same_file:
            continue   # already named as the same file
        what = "identical" if ratio == 1.0 else f"similarity {ratio:.2f}"
        by_student[a].flag("similar", f"answer code {what} to {b}")
        by_student[b].flag("similar", f"answer code {what} to {a}")


def _identical_files(grades: dict[Path, Grade]) -> set[tuple[str, str]]:
    """Flag every pair of students who handed in the same bytes; returns the pairs of file names flagged."""
    by_digest: dict[str, list[Grade]] = {}
    for g in grades.values():
        if g.sha256:
            by_digest.setdefault(g.sha256, []).append(g)
    pairs: set[tuple[str, str]] = set()
    for group in by_digest.values():
        for a in group:
            for b in group:
                if a is not b and a.student != b.student:
                    a.flag("similar", f"an identical file, byte for byte (SHA-256 {a.sha256[:12]}), "
                                      f"handed in by {b.student} ({b.file})")
                    pairs.add((a.file, b.file))
    return pairs


def set_aside(grades: Sequence[Grade]) -> list[Grade]:
    """The rows set aside because a grading run died on them (the command prints them at the end)."""
    return [g for g in grades if g.status == "review" and g.message == ledger.CRASHED]


def grade(paths: Sequence[str | Path], *, out_dir: str | Path | None = "grades", solutions_dir: str | Path | None = None,
          timeout_per_cell: float = 180.0, timeout_per_notebook: float = 900.0, jobs: int = 2,
          memory_gb: float = 4.0, lesson: str | None = None, progress: bool = True, resume: bool = False,
          retry_crashed: bool = False) -> list[Grade]:
    """Grade every submission under ``paths``; write the reports to ``out_dir`` (unless None) after every row.

    ``solutions_dir`` defaults to ``solutions/`` in the working folder, else the one next to the package.
    With ``resume``, files already graded in ``out_dir/grades.json`` (same path, same content) keep their row.
    A file a dead run was grading is set aside (see :mod:`.ledger`) unless ``retry_crashed``.
    Returns one :class:`Grade` per submission, in the order found.
    """
    only, files, lessons, out = preflight(paths, out_dir=out_dir, solutions_dir=solutions_dir, jobs=jobs, lesson=lesson,
                                          timeout_per_cell=timeout_per_cell, timeout_per_notebook=timeout_per_notebook)
    names = display_names(files, paths)
    digests = {f: sha256_of(f) for f in files}
    shared = Counter(f.name for f in files)
    results = _resumed(out, files, names, digests, retry_crashed) if resume else {}
    suspects = _plan(out, files, names, digests, results, shared, retry_crashed)
    ctx = RoomContext(names=names, shared=shared, only=only, cell_s=timeout_per_cell, notebook_s=timeout_per_notebook,
                      memory=int(memory_gb * 2**30) if memory_gb > 0 else 0,
                      server=(Path(__file__).parent / "answer_server.py").read_text(encoding="utf-8"))
    rest = [f for f in files if f not in results and f not in suspects]
    room = _Room(lessons, ctx, results, files, out, progress, total=len(suspects) + len(rest))
    room.run([(list(suspects), 1), (rest, jobs)], digests, suspects)
    _similarity(results, lessons)
    grades = [results[f] for f in files if f in results]
    if out is not None:
        reports.write_reports(grades, out)
    return grades


def preflight(paths: Sequence[str | Path], *, out_dir: str | Path | None, solutions_dir: str | Path | None, jobs: int,
              lesson: str | None, timeout_per_cell: float, timeout_per_notebook: float
              ) -> tuple[str | None, list[Path], Lessons, Path | None]:
    """Check the command's input before anything runs: ``(only lesson, files, lessons, out folder)``.

    Raises :class:`UsageError` with a one-line message for bad input; creates ``out_dir`` only when all is well.
    """
    only = _validate(jobs, timeout_per_cell, timeout_per_notebook, lesson)
    files = notebooks.find_submissions(paths)
    sol = Path(solutions_dir) if solutions_dir is not None else default_solutions()
    lessons = _load_lessons(sol)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:  # last: bad input must not leave an empty folder behind
        _ensure_writable(out)
    return only, files, lessons, out


class _Room:
    """The pool that grades a room: one ledger entry per submission in flight, the reports after each row."""

    def __init__(self, lessons: Lessons, ctx: RoomContext, results: dict[Path, Grade], files: list[Path],
                 out: Path | None, progress: bool, total: int) -> None:
        self.lessons, self.ctx, self.results, self.files, self.out = lessons, ctx, results, files, out
        self.lock = threading.Lock()
        self.bar = None
        if progress:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, desc="grading", unit="notebook", file=sys.stderr)

    def run(self, phases: list[tuple[list[Path], int]], digests: dict[Path, str], deaths: dict[Path, int]) -> None:
        """Grade each phase's files with its number of workers (suspects first, alone)."""
        self.deaths = deaths
        worker.install_signal_handlers()
        self.ctx.tmp = worker.make_parent()
        try:
            for todo, jobs in phases:
                if todo:
                    self._phase(todo, jobs, digests)
        finally:
            worker.cleanup_all()
            worker.remove_parent(self.ctx.tmp)
            if self.bar is not None:
                self.bar.close()

    def _one(self, f: Path, digest: str, alone: bool) -> Grade:
        if self.out is not None:
            ledger.begin(self.out, self.ctx.names[f], digest, alone, self.deaths.get(f, 0))
        return grade_one(f, self.lessons, self.ctx)

    def _phase(self, todo: list[Path], jobs: int, digests: dict[Path, str]) -> None:
        pool = ThreadPoolExecutor(max_workers=jobs)
        futures = {pool.submit(self._one, f, digests[f], jobs == 1): f for f in todo}
        try:
            for fut in as_completed(futures):
                self._record(futures[fut], fut)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            if self.out is not None:   # Ctrl-C or a stopped room, not a killed grader: nothing was to blame
                for f in todo:
                    if f not in self.results:
                        ledger.finish(self.out, self.ctx.names[f])

    def _record(self, f: Path, fut: object) -> None:
        try:
            g = fut.result()   # type: ignore[attr-defined]
        except Exception as exc:  # a grader bug must not lose the other students' grades
            g = Grade(file=self.ctx.names[f], student=f.stem, status="grader error", message=f"{type(exc).__name__}: {exc}")
        changed = [x["detail"][len(TAMPERED):] for x in g.flags if x["detail"].startswith(TAMPERED)]
        with self.lock:
            self.results[f] = g
            if self.out is not None:
                reports.write_reports([self.results[x] for x in self.files if x in self.results], self.out)
                ledger.finish(self.out, g.file)
        if changed:
            raise UsageError(f"the course's files changed while grading {g.file} ({changed[0]}); "
                             "grading stopped. Restore the course (e.g. reinstall it) and grade that submission "
                             "inside a container")
        if self.bar is not None:
            self.bar.set_postfix_str(f.name[:30])
            self.bar.update(1)
