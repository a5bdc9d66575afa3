"""Run one submission in its own kernel, and judge its answers here, where the submission cannot reach.

``python -I -c "...; main()"`` (the same as ``python -I -m fusion_course.grading.worker_process``, with the
course's folder last on the path), started by :mod:`fusion_course.grading.worker`; the job (a JSON object) and a
per-run secret arrive on stdin, which the kernel never sees. The worker

1. makes itself non-dumpable (a process of the same user can then neither trace it nor open its ``/proc``
   files, its pipe included), the reaper of orphaned descendants, and a process that dies with its grader;
2. sets hard resource limits (soft = hard) and drops, for the processes it starts, the capabilities that
   would undo them (``CAP_SYS_RESOURCE``, ``CAP_SYS_PTRACE``, ``CAP_SYS_ADMIN``; relevant when run as root);
3. starts the kernel, and meanwhile imports the lesson's checks and everything they use: all of the judge's
   code is in memory before the first learner cell runs;
4. runs the learner's notebook cell by cell (``nbclient``). The grader turned the check cells into
   ``capture(...)`` cells, so the notebook's own ``check`` decides nothing; right after an exercise's capture
   the course's real check runs *in this process*, on stand-ins of the answer
   (``fusion_course.grading.remote``): every call of the answer goes to the kernel, only plain data comes back;
5. reports every cell and every verdict as one JSON line on a pipe only the grader holds, signed with
   HMAC-SHA256 under the secret, kills what the kernel left running, and ends with a signed ``done``.

The grader believes nothing from a worker that does not end with ``done`` and exit status 0.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib
import io
import json
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, Callable

# The judge's own modules, and (for the course's lessons) torch and what the checks import lazily: imported
# up front, so no file the kernel writes later can stand in for them. A teacher's own lesson whose checks need
# no torch does not pay for it; torch is then imported only if a tensor crosses, from site-packages.
PRELOAD = ("numpy", "fusion_course.grading.remote")
PRELOAD_COURSE = ("torch", "torch.nn.functional", "fusion_course.grading.mirror", "fusion_course.checks._tools",
                  "fusion_course.fusion", "fusion_course.profiling", "fusion_course.losses", "fusion_course.models",
                  "fusion_course.models.fusionnet")


class Channel:
    """Signed JSON lines to the grader on a pipe the kernel never inherits."""

    def __init__(self, fd: int, secret: bytes) -> None:
        os.set_inheritable(fd, False)
        self._out = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._secret = secret

    def send(self, record: dict[str, Any]) -> None:
        body = json.dumps(record, ensure_ascii=True)
        tag = hmac.new(self._secret, body.encode("ascii"), hashlib.sha256).hexdigest()
        self._out.write(f"{tag} {body}\n")
        self._out.flush()


def _no_trace() -> None:
    """Non-dumpable (no ptrace, no /proc/PID/fd or mem for the kernel) and the reaper of orphaned descendants."""
    from fusion_course.grading.linux import PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG, no_trace, prctl

    no_trace()
    prctl(PR_SET_CHILD_SUBREAPER, 1)   # orphans of the kernel stay our descendants
    prctl(PR_SET_PDEATHSIG, 9)         # SIGKILL when the grader dies: a killed grader takes its workers along


def _harden(memory_bytes: int) -> None:
    """No core files, and memory limits the kernel cannot raise (soft = hard)."""
    from fusion_course.grading.linux import drop_capabilities

    # Processes started from here (the kernel) lose what would let them undo the limits, even as root;
    # without the rights to drop them (an ordinary user) there is nothing to drop.
    drop_capabilities()
    try:
        import resource
    except ImportError:                # Windows: no rlimits; the notebook time limit still applies
        return
    limits = [(resource.RLIMIT_CORE, 0)]
    if memory_bytes > 0:
        # RLIMIT_DATA, not RLIMIT_AS: torch reserves address space at import and would fail under AS.
        limits.append((resource.RLIMIT_DATA, memory_bytes))
    for which, value in limits:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def _kill_descendants() -> int:
    """Kill what the kernel left running (orphans were re-parented to this process, a subreaper).

    Returns how many were still running (zombies, already finished, are only reaped).
    """
    import signal

    alive: set[int] = set()
    for _ in range(5):
        mine = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == os.getpid():
                    mine.append(int(entry.name))
                    if fields[0] != "Z":
                        alive.add(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
        if not mine:
            break
        for pid in mine:
            try:
                os.killpg(pid, signal.SIGKILL)     # its group too, when it leads one
            except OSError:
                pass
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (OSError, ChildProcessError):
                pass
    return len(alive)


def _error_of(cell: Any) -> tuple[str, str] | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), out.get("evalue", "")
    return None


def _line_of(cell: Any) -> int | None:
    """The line of the learner's cell where its error arose, from IPython's traceback (``Cell In[3], line 2``)."""
    import re

    for out in cell.get("outputs", []):
        if out.get("output_type") != "error":
            continue
        text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out.get("traceback", [])))
        m = re.search(r"Cell In\[\d+\], line (\d+)", text) or re.search(r"<ipython-input-[^>]*>.*?line (\d+)", text)
        if m is None and out.get("ename") in ("SyntaxError", "IndentationError", "TabError"):
            m = re.search(r"line (\d+)", out.get("evalue", ""))
        return int(m.group(1)) if m else None
    return None


def _stdout_of(cell: Any) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream" and out.get("name") == "stdout")


class KernelLink:
    """Requests to the answer server in the kernel, one throw-away cell each (see :mod:`fusion_course.grading.answer_server`)."""

    def __init__(self, client: Any, mark: str) -> None:
        import nbformat

        self.client, self.mark, self.stuck, self.dead, self.calls = client, mark, False, False, 0
        client.nb.cells.append(nbformat.v4.new_code_cell(""))   # nbclient stores each executed cell at its index
        self.index = len(client.nb.cells) - 1

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send one request; the reply, or an error reply when the submission broke the server."""
        import nbformat
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        from fusion_course.grading.remote import KernelGone, ProbeTimeout

        if self.dead:
            raise KernelGone("the kernel died")
        if self.stuck:
            raise ProbeTimeout("the kernel is still busy with an earlier call")
        self.calls += 1
        cell = nbformat.v4.new_code_cell(f"__fusion_course_answers__['serve']({json.dumps(json.dumps(req))})")
        start = time.monotonic()
        try:
            self.client.execute_cell(cell, self.index)
        except CellTimeoutError:
            self.stuck = True
            raise ProbeTimeout("the answer ran past the per-cell limit and ignored the interrupt") from None
        except DeadKernelError:
            self.dead = True
            raise KernelGone("the kernel died while the check called the answer") from None
        lines = [ln for ln in _stdout_of(cell).split("\n") if ln.startswith(self.mark)]
        if not lines:
            err = _error_of(cell)
            if err and err[0] == "KeyboardInterrupt" and time.monotonic() - start >= 0.9 * float(self.client.timeout):
                raise ProbeTimeout("the answer ran past the per-cell limit")
            what = f"{err[0]}: {err[1]}" if err else "no reply"
            return {"error": {"type": "SubmissionError",
                              "message": f"the submission broke the grader's calls into its kernel ({what[:300]})"}}
        try:
            reply = json.loads(lines[-1][len(self.mark):])
        except ValueError:
            return {"error": {"type": "SubmissionError", "message": "unreadable reply from the kernel"}}
        return reply if isinstance(reply, dict) else {"error": {"type": "SubmissionError", "message": "bad reply"}}


def _judge(exercise: str, check: Callable[..., Any], link: KernelLink, timeout: float) -> dict[str, str]:
    """One exercise's verdict, decided here by the course's check on stand-ins of the answer."""
    from fusion_course.grading.remote import KernelGone, ProbeTimeout, answer_stand_ins

    try:
        answer = answer_stand_ins(link, exercise)
        if answer is None:
            return {"status": "not run", "message": "the check cell of this exercise never ran", "exception": ""}
        with redirect_stdout(io.StringIO()):          # checks print nothing the grade depends on
            detail = check(*answer)
        return {"status": "passed", "message": f"✔ Exercise {exercise} passed" + (f": {detail}" if detail else ""),
                "exception": ""}
    except NotImplementedError as exc:
        return {"status": "not attempted", "message": str(exc), "exception": "NotImplementedError"}
    except AssertionError as exc:
        return {"status": "failed", "message": str(exc), "exception": "AssertionError"}
    except ProbeTimeout:
        return {"status": "timeout", "message": f"the check did not finish within {timeout:g} s (an endless loop?)",
                "exception": "timeout"}
    except KernelGone as exc:
        return {"status": "error", "message": f"the kernel died while the check ran ({exc}): os._exit(), exit(), "
                                              "a crash, or memory", "exception": "dead"}
    except MemoryError as exc:
        return {"status": "error", "message": f"ran out of memory (the grader's limit): {exc}"[:300],
                "exception": "MemoryError"}
    except Exception as exc:
        return {"status": "error", "message": f"{type(exc).__name__}: {exc}"[:1000], "exception": type(exc).__name__}


def _execute(client: Any, cell: Any, index: int, timeout: float) -> dict[str, Any]:
    """Run one cell; a record of what it did."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    start = time.monotonic()
    try:
        client.execute_cell(cell, index)
    except CellTimeoutError:
        return {"kind": "cell", "index": index, "status": "timeout", "seconds": round(time.monotonic() - start, 2)}
    except DeadKernelError:
        return {"kind": "cell", "index": index, "status": "dead", "seconds": round(time.monotonic() - start, 2)}
    err, elapsed = _error_of(cell), time.monotonic() - start
    record: dict[str, Any] = {"kind": "cell", "index": index, "status": "ok", "seconds": round(elapsed, 2),
                              "stdout": _stdout_of(cell)[-2000:]}
    if err and err[0] == "KeyboardInterrupt" and elapsed >= 0.95 * timeout:
        record["status"] = "timeout"
    elif err:
        record.update(status="error", ename=err[0], evalue=err[1][:2000], line=_line_of(cell))
    return record


def _run_notebook(client: Any, nb: Any, out: Channel, job: dict[str, Any], checks: dict[str, Any]) -> str:
    """Execute every code cell, judging each exercise right after its capture cell.

    Returns "finished", "stuck" (a cell ignored the interrupt) or "dead" (the kernel died).
    """
    timeout = float(job["timeout_per_cell"])
    captures = {int(i): ex for i, ex in job["captures"].items()}
    cells = list(enumerate(nb.cells))          # before the link adds its scratch cell
    link = KernelLink(client, job["mark"])
    for index, cell in cells:
        if cell.cell_type != "code":
            continue
        out.send({"kind": "cell", "index": index, "status": "running"})
        record = _execute(client, cell, index, timeout)
        out.send(record)
        if record["status"] in ("timeout", "dead") and "stdout" not in record:
            return "stuck" if record["status"] == "timeout" else "dead"
        ex = captures.get(index)
        if ex is not None and record["status"] == "ok":
            verdict = (_judge(ex, checks[ex], link, timeout) if ex in checks
                       else {"status": "error", "message": f"no check for exercise {ex}", "exception": "KeyError"})
            out.send({"kind": "exercise", "ex": ex, **verdict})
        if link.dead:
            return "dead"
        if link.stuck:
            return "stuck"
    return "finished"


def _preload(lesson: str, into: dict[str, Any]) -> None:
    """Import the lesson's checks and everything they use (runs while the kernel starts)."""
    try:
        from fusion_course.checks import _lesson_checks

        into["checks"] = checks = _lesson_checks(lesson)
        ours = any(getattr(f, "__module__", "").startswith("fusion_course.checks.lesson") for f in checks.values())
        for name in PRELOAD + (PRELOAD_COURSE if ours else ()):
            try:
                importlib.import_module(name)
            except ImportError:
                pass
    except BaseException as exc:  # reported by run(): no checks, no judging
        into["error"] = exc


#: How often a kernel that dies before it answers is started again. Nothing of the submission has run then
#: (the first cell runs after kernel_info), so a retry cannot help a submission; it only rides out a start
#: that failed for the machine's reasons, e.g. two kernels of a busy room racing for the same free port.
KERNEL_STARTS = 3


def _start_kernel(stack: contextlib.ExitStack, make_client: Callable[[], Any]) -> Any:
    """A notebook client whose kernel answered kernel_info, entered into ``stack``; up to KERNEL_STARTS tries."""
    for _ in range(KERNEL_STARTS - 1):
        client = make_client()
        try:
            stack.enter_context(client.setup_kernel())    # nbclient cleans up a kernel that failed to start
            return client
        except RuntimeError as exc:
            if "before replying to kernel_info" not in str(exc):
                raise
    client = make_client()                                # the last try: its error is the worker's
    stack.enter_context(client.setup_kernel())
    return client


def run(job: dict[str, Any], out: Channel) -> None:
    """Limits, checks loaded while the kernel starts, then the notebook, judged exercise by exercise."""
    import threading

    import nbformat
    from nbclient import NotebookClient

    _harden(int(job.get("memory_bytes", 0)))        # inherited by the kernel
    loaded: dict[str, Any] = {}
    loader = threading.Thread(target=_preload, args=(job["lesson"], loaded))
    loader.start()
    nb = nbformat.read(job["notebook"], as_version=4)
    with contextlib.ExitStack() as stack:
        client = _start_kernel(stack, lambda: NotebookClient(
            nb, timeout=float(job["timeout_per_cell"]), kernel_name=job["kernel_name"], allow_errors=True,
            interrupt_on_timeout=True, shutdown_kernel="immediate", startup_timeout=float(job.get("startup_timeout", 120)),
            resources={"metadata": {"path": job["cwd"]}}))
        loader.join()      # the judge's code is all in memory before the first learner cell runs
        if "error" in loaded:
            raise loaded["error"]
        checks = loaded["checks"]
        provisioner = getattr(client.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None) or getattr(getattr(provisioner, "process", None), "pid", None)
        out.send({"kind": "kernel", "pid": pid})
        out.send({"kind": "notebook", "state": _run_notebook(client, nb, out, job, checks)})


def main() -> int:
    """Read the job and the secret from stdin, run it, report ``done`` on the signed channel, exit at once."""
    _no_trace()                                      # before the secret is in memory
    job = json.loads(sys.stdin.readline())
    secret = bytes.fromhex(job.pop("secret"))
    sys.stdin.close()
    os.chdir(job["home"])
    out = Channel(int(job["fd"]), secret)
    try:
        run(job, out)
    except Exception as exc:  # kernel start failed, or the shutdown of a dead kernel complained
        out.send({"kind": "worker_error", "message": f"{type(exc).__name__}: {exc}"[:1000]})
    left = _kill_descendants()
    if left:
        out.send({"kind": "leftovers", "count": left})
    out.send({"kind": "done"})
    os._exit(0)          # skip the interpreter's teardown (torch's is slow): everything is sent


if __name__ == "__main__":
    sys.exit(main())
