"""Grade a room's exercise notebooks: ``fusion-course grade submissions/ --out grades/``.

For each submission the grader

1. finds its lesson (notebook metadata ``fusion_course.lesson``, else a ``NN_<topic>`` in the file name);
2. rebuilds that lesson's exercise notebook from ``solutions/`` and puts its check cells back into the
   submission (matched by exercise id, then by cell id, then by the exercise cell), replacing the
   learner's version; the learner's own ``check(...)`` calls are removed, so a deleted or edited check
   cannot pass, and the grader's check cells re-import the checks, so rebinding ``check`` does not help;
3. runs the result on a temporary copy in its own kernel process (``fusion_course._grade_worker``) with a
   per-cell and a per-notebook time limit and a memory limit (``RLIMIT_DATA``); on the notebook limit
   the whole process tree is killed;
4. records each exercise as ``passed``, ``failed`` (the check's message), ``error`` (another exception),
   ``timeout``, ``not attempted`` (``NotImplementedError``) or ``not run`` (the kernel died or the notebook
   ran out of time before the check).

It writes ``grades.csv`` (a row per submission, a column per exercise, total and max), ``grades.json``
(everything, with messages) and ``report.html`` (a colour table; hover or open a cell for its message).
Submissions are only read, never written. A file that is not a notebook, a notebook of another course or
lesson, an endless loop, a kernel that exits or a memory hog is reported in its row; grading goes on.

Submissions are untrusted code: the time and memory limits stop accidents, not an attacker. For a room of
strangers run the grader in a container without network (see the README's teacher section).
"""
from __future__ import annotations

import ast
import csv
import html
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import UsageError
from .exercises import BuildError, build_exercise, check_cell_id, exercise_key, solution_notebooks

__all__ = ["grade", "find_submissions", "merge_checks", "Grade", "STATUSES", "write_reports"]

# Exercise outcomes, best first (the report colours them in this order).
STATUSES = ("passed", "failed", "error", "timeout", "not attempted", "not run")
CHECK_CALL = re.compile(r"\bcheck\s*\(")
KERNEL_NAME = "fusion-course-grader"


@dataclass
class Grade:
    """One submission's row."""

    file: str
    student: str
    lesson: str = ""
    status: str = "graded"          # graded | timeout | kernel died | not a notebook | not of this course | ...
    message: str = ""
    exercises: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {"status", "message", "exception"}
    cell_errors: list[dict[str, Any]] = field(default_factory=list)     # learner cells that raised
    total: int = 0
    max: int = 0
    seconds: float = 0.0


# ----------------------------------------------------------------------------- finding submissions
def find_submissions(paths: Sequence[str | Path]) -> list[Path]:
    """Files named on the command line, and the ``*.ipynb`` files under named folders (checkpoints skipped)."""
    if not paths:
        raise UsageError("no submissions given; name notebooks or folders of notebooks, e.g. `fusion-course grade submissions/`")
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb")
                            if q.is_file() and not any(part.startswith(".") for part in q.relative_to(p).parts))
        else:
            raise UsageError(f"no such file or folder: {p}")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise UsageError(f"no notebooks (*.ipynb) found in {', '.join(str(p) for p in paths)}")
    return unique


# ----------------------------------------------------------------------------- lessons
class _Lessons:
    """The canonical exercise notebooks, built once per lesson from the solutions folder."""

    def __init__(self, solutions_dir: Path) -> None:
        self.paths = {p.name[:2]: p for p in solution_notebooks(solutions_dir)}
        self.names = {p.stem: p.name[:2] for p in self.paths.values()}  # "03_cross_scale" -> "03"
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def get(self, lesson: str) -> tuple[Any, Any]:
        with self._lock:
            if lesson not in self._cache:
                self._cache[lesson] = build_exercise(self.paths[lesson])
            return self._cache[lesson]

    def identify(self, path: Path, nb: Any) -> tuple[str | None, str]:
        """``(lesson, note)`` from the metadata, else the file name; None when neither says."""
        meta = nb.metadata.get("fusion_course") if hasattr(nb, "metadata") else None
        from_meta = None
        if isinstance(meta, dict) and meta.get("lesson") is not None:
            try:
                from_meta = f"{int(str(meta['lesson'])):02d}"
            except ValueError:
                from_meta = None
        from_name = None
        m = re.match(r"^(\d{2})_", path.name)
        if m:
            from_name = m.group(1)
        else:  # e.g. alice_03_cross_scale.ipynb
            for stem, lesson in self.names.items():
                if stem in path.stem:
                    from_name = lesson
                    break
        if from_meta and from_name and from_meta != from_name:
            return from_meta, f"file name says lesson {from_name}, metadata says {from_meta}: graded as {from_meta}"
        return from_meta or from_name, ""


# ----------------------------------------------------------------------------- merging check cells
def _strip_check_calls(source: str) -> str:
    """Remove top-level statements that call ``check(...)`` from a learner's cell (replaced by ``pass``)."""
    if not CHECK_CALL.search(source):
        return source
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source  # it fails anyway, and says why
    lines = source.split("\n")
    for node in reversed(tree.body):
        calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id == "check"]
        if calls and isinstance(node, ast.Expr):
            indent = re.match(r"[ \t]*", lines[node.lineno - 1]).group(0)
            lines[node.lineno - 1:node.end_lineno] = [f"{indent}pass  # check(...) removed by the grader"]
    return "\n".join(lines)


def _has_code(source: str) -> bool:
    """Does ``source`` do anything (more than comments and ``pass``)?"""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True
    return any(not isinstance(node, ast.Pass) for node in tree.body)


def _learner_check_id(cell: Any) -> str | None:
    fc = cell.metadata.get("fusion_course", {}) if cell.get("metadata") else {}
    if isinstance(fc, dict) and isinstance(fc.get("check"), str):
        return fc["check"]
    return check_cell_id(cell.source)


def _grader_source(canonical_source: str) -> str:
    """The grader's version of a check cell: the same call, through a freshly imported ``check``."""
    call = canonical_source.strip()
    return ("import fusion_course.checks as _fusion_course_checks\n"
            "_fusion_course_checks._grade_check" + call[len("check"):])


def merge_checks(submission: Any, canonical: Any, exercises: Sequence[str]) -> tuple[Any, dict[str, int], dict[str, list[int]]]:
    """Put the canonical check cells into a copy of the submission.

    Each exercise's check cell goes where the learner's check cell for that id is (found by the tag the
    build writes, by the ``check("N.k", ...)`` line or by the canonical cell's id); if the learner
    deleted it, right after the learner's exercise cell (found by tag, cell id, or the
    ``Exercise N.k:`` text); else at the end. Every other ``check(...)`` call of the learner is removed.

    Returns ``(notebook, {id: check cell index}, {id: [exercise cell indices]})``.
    """
    import copy

    import nbformat

    canon_checks: dict[str, Any] = {}
    canon_check_ids: dict[str, str] = {}          # cell id -> exercise id
    canon_exercise_cell: dict[str, str] = {}      # exercise id -> cell id of the cell holding its region
    for cell in canonical.cells:
        fc = cell.metadata.get("fusion_course", {})
        if "check" in fc:
            canon_checks[fc["check"]] = cell
            canon_check_ids[cell.get("id", "")] = fc["check"]
        for ex in fc.get("exercise", []):
            canon_exercise_cell.setdefault(ex, cell.get("id", ""))

    cells: list[Any] = []
    placed: set[str] = set()
    for cell in submission.cells:
        cell = copy.deepcopy(cell)
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        ex = _learner_check_id(cell)
        if ex is None and cell.get("id") in canon_check_ids:
            ex = canon_check_ids[cell.get("id")]
        if ex is not None:
            rest = _strip_check_calls(cell.source)
            if _has_code(rest):  # the learner wrote code into the check cell: keep it, minus the check calls
                cell.source = rest
                cell.metadata.pop("fusion_course", None)
                cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "check"]
                cells.append(cell)
            if ex in canon_checks and ex not in placed:
                cells.append(("check", ex))
                placed.add(ex)
            continue  # a learner's check cell (or a duplicate): dropped
        cell.source = _strip_check_calls(cell.source)
        cells.append(cell)

    def exercise_cells(ex: str) -> list[int]:
        return [i for i, c in enumerate(cells)
                if not isinstance(c, tuple) and _is_exercise_cell(c, ex, canon_exercise_cell)]

    for ex in exercises:
        if ex in placed:
            continue
        hits = exercise_cells(ex)
        at = hits[-1] + 1 if hits else len(cells)
        cells.insert(at, ("check", ex))
        placed.add(ex)

    nb = nbformat.v4.new_notebook()
    nb.metadata = copy.deepcopy(canonical.metadata)
    check_index: dict[str, int] = {}
    for i, c in enumerate(cells):
        if isinstance(c, tuple):
            ex = c[1]
            new = nbformat.v4.new_code_cell(_grader_source(canon_checks[ex].source))
            new.metadata = nbformat.from_dict({"tags": ["check"], "fusion_course": {"check": ex}})
            check_index[ex] = i
            nb.cells.append(new)
        else:
            if c.cell_type == "code":  # the learner's stored outputs are not evidence of anything
                c.outputs, c.execution_count = [], None
            nb.cells.append(c)
    ex_cells = {ex: [i for i, c in enumerate(nb.cells)
                     if "check" not in c.metadata.get("fusion_course", {}) and _is_exercise_cell(c, ex, canon_exercise_cell)]
                for ex in exercises}
    return nb, check_index, ex_cells


def _is_exercise_cell(cell: Any, ex: str, canon_exercise_cell: dict[str, str]) -> bool:
    """Is ``cell`` the learner's cell for exercise ``ex``: by the build's tag, the cell id, or its text?"""
    if cell.cell_type != "code":
        return False
    fc = cell.metadata.get("fusion_course", {})
    tagged = isinstance(fc, dict) and ex in (fc.get("exercise") or [])
    same_id = bool(canon_exercise_cell.get(ex)) and cell.get("id") == canon_exercise_cell[ex]
    return tagged or same_id or f"Exercise {ex}:" in cell.source


# ----------------------------------------------------------------------------- running one notebook
def _descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill_tree(proc: subprocess.Popen, extra_pids: Iterable[int | None]) -> None:
    pids = _descendants(proc.pid) + [p for p in extra_pids if p]
    # The worker and the kernel each lead their own process group (the kernel's children stay in its
    # group), so killing the groups takes down the whole tree, grandchildren included.
    kill_group = getattr(os, "killpg", None)
    for group_leader in [proc.pid, *pids] if kill_group else []:
        try:
            kill_group(group_leader, signal.SIGKILL)
        except OSError:  # already gone, or not a group leader
            pass
    for pid in pids:
        try:
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        except OSError:
            pass
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()


def _run_notebook(nb: Any, workdir: Path, *, timeout_per_cell: float, timeout_per_notebook: float,
                  memory_bytes: int) -> tuple[dict[str, Any], bool, str]:
    """Execute ``nb`` in a worker process; returns ``(state, notebook_timed_out, stderr_tail)``."""
    import nbformat

    # The kernel runs in run/; the grader's own files sit beside it under names it cannot guess.
    secret = secrets.token_hex(8)
    rundir = workdir / "run"
    rundir.mkdir()
    nb_path = rundir / "submission.ipynb"
    result_path, job_path = workdir / f"result-{secret}.json", workdir / f"job-{secret}.json"
    nbformat.write(nb, str(nb_path))
    # A kernel spec of our own: the submission runs in this Python (where fusion_course is installed),
    # whatever kernels the teacher has installed, without their IPython profile or history file.
    spec_dir = workdir / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--HistoryManager.enabled=False"],
        "display_name": "fusion-course grader", "language": "python",
    }), encoding="utf-8")
    job_path.write_text(json.dumps({
        "notebook": str(nb_path), "result": str(result_path), "cwd": str(rundir), "kernel_name": KERNEL_NAME,
        "timeout_per_cell": timeout_per_cell, "memory_bytes": memory_bytes,
        "startup_timeout": max(30.0, min(120.0, timeout_per_notebook)),
    }), encoding="utf-8")
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("OMP_NUM_THREADS", "2")
    env["PYTHONUNBUFFERED"] = "1"
    env["JUPYTER_PATH"] = os.pathsep.join([str(workdir / "jupyter"), *filter(None, [env.get("JUPYTER_PATH")])])
    env["IPYTHONDIR"] = str(workdir / "ipython")
    stderr_path = workdir / "worker.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fusion_course._grade_worker", str(job_path)],
                                stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                                cwd=workdir, env=env, start_new_session=(os.name == "posix"))
        timed_out = False
        try:
            proc.wait(timeout=timeout_per_notebook)
        except subprocess.TimeoutExpired:
            timed_out = True
        state = _read_state(result_path)
        if timed_out:
            _kill_tree(proc, [state.get("kernel_pid")])
        else:
            # the worker is gone; make sure its kernel is too (it may have been orphaned by a crash)
            _kill_tree(proc, [state.get("kernel_pid")])
    state = _read_state(result_path) or state
    tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-3000:] if stderr_path.exists() else ""
    return state, timed_out, tail


def _read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _memory_message(evalue: str, memory_bytes: int) -> str:
    gb = memory_bytes / 2**30
    return f"ran out of memory (the grader's limit is {gb:g} GiB){': ' + evalue if evalue else ''}"


def _grade_one(path: Path, lessons: _Lessons, *, only_lesson: str | None, timeout_per_cell: float,
               timeout_per_notebook: float, memory_bytes: int, display_name: str) -> Grade:
    import nbformat

    start = time.monotonic()
    g = Grade(file=display_name, student=path.stem)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        g.status, g.message = "unreadable", f"cannot read the file: {exc}"
        return g
    try:
        sub = nbformat.reads(raw.decode("utf-8"), as_version=4)
        if not isinstance(sub.get("cells"), list):
            raise ValueError("no cells")
    except Exception as exc:  # not UTF-8, not JSON, not a notebook
        g.status = "not a notebook"
        g.message = f"not a Jupyter notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})"
        return g
    lesson, note = lessons.identify(path, sub)
    if lesson is None:
        g.status = "not of this course"
        g.message = ("no fusion_course lesson in the notebook's metadata and no NN_<topic> in the file name; "
                     "is this a notebook of another course?")
        return g
    g.lesson = lesson
    if only_lesson is not None and lesson != only_lesson:
        g.status, g.message = "other lesson", f"a notebook of lesson {lesson}; this run grades lesson {only_lesson} only"
        return g
    if lesson not in lessons.paths:
        g.status = "unknown lesson"
        g.message = f"lesson {lesson} has no solution notebook; known lessons: {', '.join(sorted(lessons.paths)) or 'none'}"
        return g
    canonical, info = lessons.get(lesson)
    g.max = len(info.exercises)
    g.message = note
    merged, check_index, ex_cells = merge_checks(sub, canonical, info.exercises)

    workdir = Path(tempfile.mkdtemp(prefix="fusion-grade-"))
    try:
        state, timed_out, tail = _run_notebook(merged, workdir, timeout_per_cell=timeout_per_cell,
                                               timeout_per_notebook=timeout_per_notebook, memory_bytes=memory_bytes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    cells = state.get("cells", {})
    if not state.get("finished") and not timed_out:
        g.status = "grader error" if not cells else "kernel died"
        last = tail.strip().splitlines()[-1] if tail.strip() else "no message"
        g.message = f"the grading process ended early: {last}"
    elif state.get("worker_error") and not cells:
        g.status, g.message = "grader error", f"the notebook could not be run: {state['worker_error']}"
    if state.get("kernel_died"):
        g.status = "kernel died"
        g.message = ("the kernel died (the code ended its Python process, e.g. os._exit() or exit(), crashed, "
                     "or was killed for memory); later cells did not run")
    if state.get("stuck"):
        g.status = "timeout"
        g.message = (f"a cell ran past {timeout_per_cell:g} s and did not stop when interrupted; "
                     "later cells did not run")
    if timed_out:
        g.status = "timeout"
        g.message = f"the notebook ran past the grader's limit of {timeout_per_notebook:g} s; later cells did not run"

    check_cells = {i: ex for ex, i in check_index.items()}
    for index, c in enumerate(merged.cells):
        rec = cells.get(str(index))
        if c.cell_type != "code" or index in check_cells or rec is None or rec.get("status") == "ok":
            continue
        status = "timeout" if rec.get("status") == "running" else rec.get("status")  # running when killed
        g.cell_errors.append({"cell": index, "status": status, "ename": rec.get("ename", ""),
                              "evalue": rec.get("evalue", "")[:500]})

    for ex in info.exercises:
        rec = cells.get(str(check_index[ex]))
        status, message = _exercise_outcome(rec, timed_out, timeout_per_cell, memory_bytes)
        if status == "error":
            # an exercise computed at top level raises in its own cell; its check then fails on a missing name
            for i in ex_cells.get(ex, []):
                r = cells.get(str(i)) or {}
                if r.get("ename") == "NotImplementedError":
                    status, message = "not attempted", r.get("evalue", "")
        g.exercises[ex] = {"status": status, "message": message,
                           "exception": (rec or {}).get("ename", "")}
    g.total = sum(1 for r in g.exercises.values() if r["status"] == "passed")
    g.seconds = round(time.monotonic() - start, 1)
    return g


def _exercise_outcome(rec: dict[str, Any] | None, timed_out: bool, timeout_per_cell: float,
                      memory_bytes: int) -> tuple[str, str]:
    if rec is None:
        return "not run", ("the notebook ran out of time before this check" if timed_out
                           else "the kernel stopped before this check")
    status = rec.get("status")
    if status == "running":
        return "timeout", "this check was running when the notebook hit its time limit"
    if status == "timeout":
        return "timeout", f"the check did not finish within {timeout_per_cell:g} s (an endless loop?)"
    if status == "dead":
        return "error", "the kernel died while running this check (os._exit(), exit(), a crash, or memory)"
    if status == "ok":
        out = (rec.get("stdout") or "").strip().splitlines()
        return "passed", (out[-1] if out else "")
    ename, evalue = rec.get("ename", ""), rec.get("evalue", "")
    if ename == "NotImplementedError":
        return "not attempted", evalue
    if ename == "AssertionError":
        return "failed", evalue
    if ename == "MemoryError" or "can't allocate memory" in evalue or "bad_alloc" in evalue:
        return "error", _memory_message(f"{ename}: {evalue}"[:300], memory_bytes)
    return "error", f"{ename}: {evalue}"[:1000]


# ----------------------------------------------------------------------------- the whole room
def grade(paths: Sequence[str | Path], *, out_dir: str | Path | None = "grades", solutions_dir: str | Path = "solutions",
          timeout_per_cell: float = 180.0, timeout_per_notebook: float = 900.0, jobs: int = 2,
          memory_gb: float = 4.0, lesson: str | None = None, progress: bool = True) -> list[Grade]:
    """Grade every submission under ``paths``; write the reports to ``out_dir`` (unless None).

    Returns one :class:`Grade` per submission, in the order found.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if timeout_per_cell <= 0 or timeout_per_notebook <= 0:
        raise UsageError("time limits must be positive numbers of seconds")
    only = None
    if lesson is not None:
        try:
            only = f"{int(lesson):02d}"
        except ValueError:
            raise UsageError(f"--lesson takes a lesson number like 03, got {lesson!r}") from None
    files = find_submissions(paths)
    lessons = _Lessons(Path(solutions_dir))
    if not lessons.paths:
        raise UsageError(f"no solution notebooks (NN_<topic>.ipynb) in {solutions_dir}; "
                         "run from the course folder or pass --solutions DIR")
    for les in sorted(lessons.paths):  # a broken solution notebook is the teacher's problem: say so up front
        try:
            lessons.get(les)
        except BuildError as exc:
            raise UsageError(f"cannot build the exercises of lesson {les}: {exc}") from None
    if out_dir is not None:  # last: bad input must not leave an empty folder behind
        _ensure_writable(Path(out_dir))
    names = _display_names(files)
    memory_bytes = int(memory_gb * 2**30) if memory_gb > 0 else 0
    results: dict[Path, Grade] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(files), desc="grading", unit="notebook", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_grade_one, f, lessons, only_lesson=only, timeout_per_cell=timeout_per_cell,
                               timeout_per_notebook=timeout_per_notebook, memory_bytes=memory_bytes,
                               display_name=names[f]): f for f in files}
        for fut in as_completed(futures):
            f = futures[fut]
            try:
                results[f] = fut.result()
            except Exception as exc:  # a grader bug must not lose the other students' grades
                results[f] = Grade(file=names[f], student=f.stem, status="grader error",
                                   message=f"{type(exc).__name__}: {exc}")
            if bar is not None:
                bar.set_postfix_str(f.name[:30])
                bar.update(1)
    if bar is not None:
        bar.close()
    grades = [results[f] for f in files]
    if out_dir is not None:
        write_reports(grades, Path(out_dir))
    return grades


def _display_names(files: list[Path]) -> dict[Path, str]:
    cwd = Path.cwd().resolve()
    out = {}
    for f in files:
        try:
            out[f] = str(f.resolve().relative_to(cwd))
        except ValueError:
            out[f] = str(f)
    return out


def _ensure_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".fusion-course-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write the grades to {out}: {exc.strerror or exc}; choose another --out folder") from None


# ----------------------------------------------------------------------------- reports
def _all_exercises(grades: Sequence[Grade]) -> list[str]:
    return sorted({ex for g in grades for ex in g.exercises}, key=exercise_key)


def write_reports(grades: Sequence[Grade], out: Path) -> dict[str, Path]:
    """Write ``grades.csv``, ``grades.json`` and ``report.html`` into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    columns = _all_exercises(grades)
    paths = {"csv": out / "grades.csv", "json": out / "grades.json", "html": out / "report.html"}
    with open(paths["csv"], "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "student", "lesson", "status", *columns, "total", "max"])
        for g in grades:
            w.writerow([g.file, g.student, g.lesson, g.status,
                        *(g.exercises.get(ex, {}).get("status", "") for ex in columns), g.total, g.max])
    paths["json"].write_text(json.dumps({"exercises": columns, "submissions": [asdict(g) for g in grades]},
                                        indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["html"].write_text(_html(grades, columns), encoding="utf-8")
    return paths


_COLOURS = {"passed": "#c8f0c8", "failed": "#ffd2cc", "error": "#ffb3b3", "timeout": "#ffe0a0",
            "not attempted": "#e4e4e4", "not run": "#f4f4f4"}


def _html(grades: Sequence[Grade], columns: list[str]) -> str:
    e = html.escape
    rows = []
    for g in grades:
        cells = [f"<td>{e(g.file)}</td>", f"<td>{e(g.student)}</td>", f"<td>{e(g.lesson)}</td>"]
        row_msg = g.message
        if g.cell_errors:
            row_msg += ("; " if row_msg else "") + "; ".join(
                f"cell {c['cell']}: {c['status']} {c['ename']}: {c['evalue'][:200]}" for c in g.cell_errors)
        status_cls = "ok" if g.status == "graded" else "bad"
        cells.append(f'<td class="{status_cls}">' + (f"<details><summary>{e(g.status)}</summary>{e(row_msg)}</details>"
                                                    if row_msg else e(g.status)) + "</td>")
        for ex in columns:
            r = g.exercises.get(ex)
            if r is None:
                cells.append("<td></td>")
                continue
            colour = _COLOURS.get(r["status"], "#ffffff")
            msg = r.get("message", "")
            inner = (f'<details><summary>{e(r["status"])}</summary><div class="msg">{e(msg)}</div></details>'
                     if msg else e(r["status"]))
            cells.append(f'<td style="background:{colour}" title="{e(msg)}">{inner}</td>')
        cells.append(f"<td class='num'>{g.total} / {g.max}</td>" if g.max else "<td class='num'>–</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    run = [g for g in grades if g.exercises]
    foot = "".join(
        f"<td class='num'>{sum(g.exercises.get(ex, {}).get('status') == 'passed' for g in run)}"
        f" / {sum(ex in g.exercises for g in run)}</td>" for ex in columns)
    rows.append(f"<tr class='foot'><td colspan='4'>passed / graded</td>{foot}"
                f"<td class='num'>{sum(g.total for g in run)} / {sum(g.max for g in run)}</td></tr>")
    n = len(grades)
    graded = sum(g.status in ("graded", "timeout", "kernel died") for g in grades)
    legend = " ".join(f'<span style="background:{c}" class="key">{s}</span>' for s, c in _COLOURS.items())
    head = "".join(f"<th>{e(h)}</th>" for h in ["file", "student", "lesson", "status", *columns, "total"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fusion-course grades</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border: 1px solid #bbb; padding: 4px 8px; vertical-align: top; }}
th {{ background: #333; color: #fff; position: sticky; top: 0; }}
td.num {{ text-align: right; font-weight: bold; }}
td.bad {{ background: #ffe6cc; }}
tr.foot td {{ background: #eee; font-weight: bold; }}
.msg {{ max-width: 28em; white-space: pre-wrap; font-size: 12px; }}
.key {{ padding: 2px 6px; border: 1px solid #bbb; margin-right: 4px; }}
summary {{ cursor: pointer; }}
</style></head><body>
<h1>Grades</h1>
<p>{n} submission(s), {graded} run. Open a cell (or hover) to read the check's message. {legend}</p>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<p style="font-size:12px;color:#666">Written by <code>fusion-course grade</code> on {time.strftime('%Y-%m-%d %H:%M')}.</p>
</body></html>
"""
