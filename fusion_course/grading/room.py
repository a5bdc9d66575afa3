"""``grade()``: a whole room, two submissions at a time, every row written as soon as it is graded."""
from __future__ import annotations

import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Sequence

from ..errors import UsageError
from ..exercises import BuildError
from . import flags as flagging
from . import notebooks, reports, worker
from .core import TAMPERED, Grade, _grade_one, _Guard, _Lessons, default_solutions

__all__ = ["grade"]


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


def _load_lessons(solutions_dir: Path) -> _Lessons:
    lessons = _Lessons(solutions_dir)
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


def _resumed(out_dir: Path | None, files: list[Path], names: dict[Path, str]) -> dict[Path, Grade]:
    """Rows of the previous run for files that have not changed since (same name, same SHA-256)."""
    import hashlib

    if out_dir is None:
        return {}
    previous = {(r.get("file"), r.get("sha256")): r for r in reports.read_previous(out_dir)}
    kept: dict[Path, Grade] = {}
    for f in files:
        try:
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
        except OSError:
            continue
        row = previous.get((names[f], digest))
        if row and row.get("status") not in ("grader error", "not believed"):
            fields = {k: row[k] for k in Grade.__dataclass_fields__ if k in row}
            kept[f] = Grade(**fields)
    return kept


def _similarity(grades: dict[Path, Grade], lessons: _Lessons) -> None:
    """Flag identical or near-identical answer code across students, naming the pairs (all rows, resumed too)."""
    answers, by_student = [], {}
    for g in grades.values():
        g.flags = [f for f in g.flags if f["kind"] != "similar"]
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
        what = "identical" if ratio == 1.0 else f"similarity {ratio:.2f}"
        by_student[a].flag("similar", f"answer code {what} to {b}")
        by_student[b].flag("similar", f"answer code {what} to {a}")


def grade(paths: Sequence[str | Path], *, out_dir: str | Path | None = "grades", solutions_dir: str | Path | None = None,
          timeout_per_cell: float = 180.0, timeout_per_notebook: float = 900.0, jobs: int = 2,
          memory_gb: float = 4.0, lesson: str | None = None, progress: bool = True, resume: bool = False) -> list[Grade]:
    """Grade every submission under ``paths``; write the reports to ``out_dir`` (unless None) after every row.

    ``solutions_dir`` defaults to ``solutions/`` in the working folder, else the one next to the package.
    With ``resume``, files already graded in ``out_dir/grades.json`` (same path, same content) keep their row.
    Returns one :class:`Grade` per submission, in the order found.
    """
    only = _validate(jobs, timeout_per_cell, timeout_per_notebook, lesson)
    files = notebooks.find_submissions(paths)
    sol = Path(solutions_dir) if solutions_dir is not None else default_solutions()
    lessons = _load_lessons(sol)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:  # last: bad input must not leave an empty folder behind
        _ensure_writable(out)
    names = display_names(files, paths)
    results = _resumed(out, files, names) if resume else {}
    ctx = {"names": names, "shared": Counter(f.name for f in files), "only": only, "cell_s": timeout_per_cell,
           "notebook_s": timeout_per_notebook, "memory": int(memory_gb * 2**30) if memory_gb > 0 else 0,
           "server": (Path(__file__).parent / "_answer_server.py").read_text(encoding="utf-8")}
    _run_room([f for f in files if f not in results], lessons, ctx, results, files, out, jobs, progress)
    _similarity(results, lessons)
    grades = [results[f] for f in files if f in results]
    if out is not None:
        reports.write_reports(grades, out)
    return grades


def _run_room(todo: list[Path], lessons: _Lessons, ctx: dict[str, Any], results: dict[Path, Grade],
              files: list[Path], out: Path | None, jobs: int, progress: bool) -> None:
    """Grade ``todo`` in a pool; after each row, check the course is intact and rewrite the reports."""
    ctx["guard"], lock = _Guard(), threading.Lock()
    worker.install_signal_handlers()
    ctx["tmp"] = worker.make_parent()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc="grading", unit="notebook", file=sys.stderr)
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(_grade_one, f, lessons, ctx): f for f in todo}
        for fut in as_completed(futures):
            f = futures[fut]
            try:
                g = fut.result()
            except Exception as exc:  # a grader bug must not lose the other students' grades
                g = Grade(file=ctx["names"][f], student=f.stem, status="grader error", message=f"{type(exc).__name__}: {exc}")
            changed = [f["detail"][len(TAMPERED):] for f in g.flags if f["detail"].startswith(TAMPERED)]
            with lock:
                results[f] = g
                if out is not None:
                    reports.write_reports([results[x] for x in files if x in results], out)
            if changed:
                raise UsageError(f"the course's files changed while grading {g.file} ({changed[0]}); "
                                 "grading stopped. Restore the course (e.g. reinstall it) and grade that submission "
                                 "inside a container")
            if bar is not None:
                bar.set_postfix_str(f.name[:30])
                bar.update(1)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        worker.cleanup_all()
        worker.remove_parent(ctx["tmp"])
        if bar is not None:
            bar.close()
