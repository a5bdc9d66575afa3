"""Run one notebook cell by cell in its own kernel and write what each cell did (used by ``grading``).

``python -m fusion_course._grade_worker JOB.json``; the job names the notebook, the result file, the
working folder, the per-cell time limit and the memory limit. The worker lowers its own data-segment
limit (``RLIMIT_DATA``) before starting the kernel, which inherits it: a runaway allocation then fails
with ``MemoryError`` in the kernel instead of taking the machine down. (``RLIMIT_AS`` would count the
address space torch reserves at import and fail ``import torch`` itself.)

After every cell the result file is rewritten, so when the grader kills this process at the notebook's
time limit, the cells that did run are still reported. A cell over the per-cell limit is interrupted
and the next cell runs, so one endless loop costs one exercise, not the whole notebook.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def _limit_memory(nbytes: int) -> None:
    if nbytes <= 0:
        return
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the notebook time limit still applies
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        nbytes = min(nbytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (nbytes, hard))


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _error_of(cell: Any) -> tuple[str, str] | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), out.get("evalue", "")
    return None


def _text_of(cell: Any, limit: int = 2000) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
    text = "".join(parts)
    return text[-limit:]


def run(job: dict[str, Any]) -> int:
    import nbformat
    from nbclient import NotebookClient

    result_path = Path(job["result"])
    nb = nbformat.read(job["notebook"], as_version=4)
    state: dict[str, Any] = {"kernel_pid": None, "cells": {}, "finished": False, "started": time.time()}
    _write(result_path, state)
    _limit_memory(int(job.get("memory_bytes", 0)))
    client = NotebookClient(
        nb,
        timeout=float(job["timeout_per_cell"]),
        kernel_name=job.get("kernel_name", "python3"),
        allow_errors=True,
        interrupt_on_timeout=True,  # nbclient interrupts the cell and goes on cleanly with the next one
        startup_timeout=float(job.get("startup_timeout", 120)),
        resources={"metadata": {"path": job["cwd"]}},
    )
    try:
        _run_cells(client, nb, state, result_path)
    except Exception as exc:  # kernel start failed, or the shutdown of a dead kernel complained
        state["worker_error"] = f"{type(exc).__name__}: {exc}"[:1000]
    state["finished"] = True
    _write(result_path, state)
    return 0


def _run_cells(client: Any, nb: Any, state: dict[str, Any], result_path: Path) -> None:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    timeout = float(client.timeout)
    with client.setup_kernel():
        provisioner = getattr(client.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None) or getattr(getattr(provisioner, "process", None), "pid", None)
        state["kernel_pid"] = pid
        _write(result_path, state)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            state["cells"][str(index)] = {"status": "running"}
            _write(result_path, state)
            start = time.monotonic()
            record: dict[str, Any]
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:  # the interrupt did not stop it either
                state["cells"][str(index)] = {"status": "timeout", "seconds": round(time.monotonic() - start, 2)}
                state["stuck"] = True
                break
            except DeadKernelError:
                state["cells"][str(index)] = {"status": "dead", "seconds": round(time.monotonic() - start, 2)}
                state["kernel_died"] = True
                break
            err = _error_of(cell)
            elapsed = time.monotonic() - start
            if err and err[0] == "KeyboardInterrupt" and elapsed >= 0.95 * timeout:
                record = {"status": "timeout"}
            elif err:
                record = {"status": "error", "ename": err[0], "evalue": err[1]}
            else:
                record = {"status": "ok"}
            record["stdout"] = _text_of(cell)
            record["seconds"] = round(time.monotonic() - start, 2)
            state["cells"][str(index)] = record
            _write(result_path, state)


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    return run(job)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
