"""Start a grading worker for one submission, read its signed verdicts, and leave nothing behind.

Containment, from the grader's side:

* the worker starts in a new session (its own process group) with a per-run token in its environment,
  which the kernel and the kernel's children inherit;
* at the end of every submission, whatever happened, every process that is a descendant of the worker
  (the worker is a child subreaper, so orphans stay its descendants), that belongs to the worker's or the
  kernel's process group, or whose environment carries the token, is stopped (``SIGSTOP``, so it cannot
  fork away) and killed, in rounds until none is left;
* each submission's files (the notebook copy, the kernel spec, the kernel's connection file with its HMAC
  key, IPython's folder) live in one folder under the run's temporary parent, removed in ``finally``;
  :func:`cleanup_all` (atexit and SIGTERM) kills the live workers and removes the parent if the grader dies.

Results come back on a pipe created here, never on a file: one JSON line per record, HMAC-SHA256-signed with
a secret the worker reads from its stdin. A record with a bad signature makes the whole run untrusted.
"""
from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import answer_server

__all__ = ["WorkerResult", "run_worker", "cleanup_all", "TOKEN_ENV", "KERNEL_NAME"]

TOKEN_ENV = "FUSION_COURSE_GRADE_RUN"
KERNEL_NAME = "fusion-course-grader"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_LIVE: dict[int, tuple[subprocess.Popen, str]] = {}     # worker pid -> (process, token)
_PARENTS: set[Path] = set()
_LOCK = threading.Lock()


@dataclass
class WorkerResult:
    """What one worker said (only signed lines), and how it ended."""

    cells: dict[int, dict[str, Any]] = field(default_factory=dict)
    exercises: dict[str, dict[str, str]] = field(default_factory=dict)
    notebook: str = ""              # finished | stuck | dead ("" if the run never got that far)
    done: bool = False              # the worker sent its final signed line
    exit_code: int | None = None
    timed_out: bool = False         # the grader killed it at the notebook limit
    forged: int = 0                 # lines whose signature did not match
    worker_error: str = ""
    stderr_tail: str = ""
    killed: int = 0                 # processes killed after the run
    kernel_pid: int | None = None

    @property
    def clean(self) -> bool:
        """Did the worker end as a worker should: every line signed, ``done`` sent, exit status 0?"""
        return self.done and self.exit_code == 0 and not self.forged


# ----------------------------------------------------------------------------- temp files
def make_parent() -> Path:
    """The run's temporary parent folder; every submission's folder lives under it.

    Folders that a killed grader left behind (its pid is gone) are removed first, and the processes that
    carry their runs' tokens are killed: a SIGKILL leaves the grader no time to clean up itself.
    """
    _remove_stale(Path(tempfile.gettempdir()))
    parent = Path(tempfile.mkdtemp(prefix="fusion-grade-"))
    (parent / "owner").write_text(str(os.getpid()), encoding="utf-8")
    with _LOCK:
        _PARENTS.add(parent)
    return parent


def _remove_stale(tmp: Path) -> None:
    for parent in tmp.glob("fusion-grade-*"):
        try:
            owner = int((parent / "owner").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue          # not ours, or being created right now
        if owner == os.getpid() or Path(f"/proc/{owner}").exists() or not Path("/proc").is_dir():
            continue
        for token_file in parent.glob("*/token"):
            try:
                kill_everything(-1, token_file.read_text(encoding="utf-8").strip(), [])
            except OSError:
                pass
        shutil.rmtree(parent, ignore_errors=True)


def remove_parent(parent: Path) -> None:
    """Remove the run's temporary parent (every submission's folder is already gone by then)."""
    shutil.rmtree(parent, ignore_errors=True)
    with _LOCK:
        _PARENTS.discard(parent)


def cleanup_all() -> None:
    """Kill every live worker's processes and remove the temporary folders (atexit, SIGTERM, Ctrl-C)."""
    with _LOCK:
        live, parents = list(_LIVE.values()), list(_PARENTS)
    for proc, token in live:
        kill_everything(proc.pid, token, [])
    for parent in parents:
        shutil.rmtree(parent, ignore_errors=True)


def _on_sigterm(signum: int, frame: Any) -> None:
    cleanup_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


atexit.register(cleanup_all)


def install_signal_handlers() -> None:
    """Clean up on SIGTERM/SIGHUP too (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _on_sigterm)


# ----------------------------------------------------------------------------- processes
def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) from /proc (Linux); empty elsewhere."""
    table: dict[int, tuple[int, int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return table
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                table[int(entry.name)] = (int(fields[1]), int(fields[2]))
            except (OSError, ValueError, IndexError):
                continue
    return table


def _carries(pid: int, needle: bytes) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def _targets(root: int, token: str, groups: list[int]) -> set[int]:
    """Descendants of ``root``, members of ``groups``, and processes whose environment carries ``token``."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = {root} if root in table else set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    found |= {pid for pid, (_, pgid) in table.items() if pgid in groups}
    needle = f"{TOKEN_ENV}={token}".encode()
    found |= {pid for pid in table if pid not in found and _carries(pid, needle)}
    found.discard(os.getpid())
    return found


def kill_everything(root: int, token: str, groups: list[int]) -> int:
    """Stop, then kill, everything the submission started; in rounds until none is left.

    Returns how many processes were killed besides ``root`` (the worker) and the ``groups`` leaders (the kernel).
    """
    killed: set[int] = set()
    for _ in range(8):
        pids = _targets(root, token, [root, *groups]) - {os.getpid(), os.getppid()}
        alive = {p for p in pids if _state(p) not in ("Z", "")}
        if not alive:
            break
        # Stop them all first, so none can fork a new child between two kills.
        for sig in [s for s in (getattr(signal, "SIGSTOP", None), getattr(signal, "SIGKILL", signal.SIGTERM)) if s]:
            for pid in alive:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        killed |= alive
        time.sleep(0.05)
    return len(killed - {root, *groups})      # the worker and the kernel are ours: not counted


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


# ----------------------------------------------------------------------------- one run
def _kernel_spec(folder: Path) -> None:
    """A kernel spec of our own: this Python, without the teacher's IPython profile or history."""
    spec_dir = folder / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--HistoryManager.enabled=False"],
        "display_name": "fusion-course grader", "language": "python",
    }), encoding="utf-8")


def _environment(folder: Path, token: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("OMP_NUM_THREADS", "2")
    env["PYTHONUNBUFFERED"] = "1"
    env[TOKEN_ENV] = token
    env["JUPYTER_PATH"] = str(folder / "jupyter")
    env["JUPYTER_RUNTIME_DIR"] = str(folder / "runtime")
    env["TMPDIR"] = str(folder / "tmp")       # connection files (tempfile) and the submission's own temp files
    (folder / "tmp").mkdir(exist_ok=True)
    env["JUPYTER_CONFIG_DIR"] = str(folder / "config")
    env["JUPYTER_DATA_DIR"] = str(folder / "data")
    env["IPYTHONDIR"] = str(folder / "ipython")
    return env


def _read(fd: int, secret: bytes, result: WorkerResult) -> None:
    """Read signed lines until the worker's end of the pipe closes."""
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as pipe:
        for line in pipe:
            tag, _, body = line.rstrip("\n").partition(" ")
            want = hmac.new(secret, body.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(tag, want):
                result.forged += 1
                continue
            try:
                _record(json.loads(body), result)
            except (ValueError, KeyError, TypeError):
                result.forged += 1


def _record(rec: dict[str, Any], result: WorkerResult) -> None:
    kind = rec["kind"]
    if kind == "cell":
        result.cells[int(rec["index"])] = rec
    elif kind == "exercise":
        result.exercises[str(rec["ex"])] = {k: str(rec.get(k, "")) for k in ("status", "message", "exception")}
    elif kind == "notebook":
        result.notebook = str(rec["state"])
    elif kind == "kernel" and result.kernel_pid is None and isinstance(rec.get("pid"), int):
        result.kernel_pid = rec["pid"]
    elif kind == "leftovers":
        result.killed += int(rec.get("count", 0))
    elif kind == "worker_error":
        result.worker_error = str(rec.get("message", ""))
    elif kind == "done":
        result.done = True


def run_worker(nb: Any, parent: Path, *, lesson: str, captures: dict[int, str], timeout_per_cell: float,
               timeout_per_notebook: float, memory_bytes: int) -> WorkerResult:
    """Run ``nb`` (the merged notebook) in a worker; return what it reported, every process gone after."""
    import nbformat

    folder = Path(tempfile.mkdtemp(prefix="sub-", dir=parent))
    result = WorkerResult()
    try:
        rundir, home = folder / "run", folder / "worker"
        rundir.mkdir()
        home.mkdir()
        nbformat.write(nb, str(rundir / "submission.ipynb"))
        _kernel_spec(folder)
        token, secret = secrets.token_hex(16), secrets.token_bytes(32)
        (folder / "token").write_text(token, encoding="utf-8")   # for the next run, should this grader be killed
        job = {"notebook": str(rundir / "submission.ipynb"), "cwd": str(rundir), "home": str(home),
               "kernel_name": KERNEL_NAME, "lesson": lesson, "captures": {str(i): ex for i, ex in captures.items()},
               "timeout_per_cell": timeout_per_cell, "memory_bytes": memory_bytes, "mark": answer_server.MARK,
               "startup_timeout": max(30.0, min(120.0, timeout_per_notebook))}
        _spawn_and_wait(job, secret, token, folder, result, timeout_per_notebook)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def _spawn_and_wait(job: dict[str, Any], secret: bytes, token: str, folder: Path, result: WorkerResult,
                    timeout: float) -> None:
    read_fd, write_fd = os.pipe()
    job["fd"] = write_fd
    # -I: no working folder, user site or PYTHON* variables on the path; the course's folder goes *last*, so a
    # module the kernel writes there cannot stand in for one the worker imports later.
    code = (f"import sys; sys.path.append({str(PACKAGE_ROOT)!r}); "
            "from fusion_course.grading.worker_process import main; sys.exit(main())")
    stderr_path = folder / "worker.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-I", "-c", code], stdin=subprocess.PIPE, stdout=err,
                                stderr=subprocess.STDOUT, cwd=job["home"], env=_environment(folder, token),
                                pass_fds=(write_fd,), start_new_session=(os.name == "posix"))
    os.close(write_fd)
    with _LOCK:
        _LIVE[proc.pid] = (proc, token)
    reader = threading.Thread(target=_read, args=(read_fd, secret, result), daemon=True)
    reader.start()
    try:
        proc.stdin.write((json.dumps({**job, "secret": secret.hex()}) + "\n").encode())
        proc.stdin.close()
    except OSError:
        pass
    try:
        result.exit_code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        result.timed_out = True
    finally:
        result.killed += kill_everything(proc.pid, token, [result.kernel_pid] if result.kernel_pid else [])
        proc.wait()
        with _LOCK:
            _LIVE.pop(proc.pid, None)
        reader.join(timeout=10)
    tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-3000:] if stderr_path.exists() else ""
    result.stderr_tail = tail
