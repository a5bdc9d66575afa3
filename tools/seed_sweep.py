"""Run lessons with other seeds (and other CPU rounding) and record whether their asserted claims hold.

    python tools/seed_sweep.py notebooks/05_*.ipynb --seeds 0 1 2 3 4 --workers 4 --out docs/seed-sweep.md

Each (notebook, seed) pair runs top to bottom in its own kernel with FUSION_COURSE_SEED set (so
``fusion_course.seeds(n)`` starts at that seed) and, with ``--capability``, ATEN_CPU_CAPABILITY set. A run
passes when no cell raises: the lessons assert their claims in code, so a pass means every claim held. The
report lists every run and the lines each printed that start with "on this run".
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path


def _run(job: tuple[str, int, str | None]) -> dict:
    path, seed, capability = job
    # The lessons are CPU lessons: hide any GPU so that every run trains where a laptop would.
    os.environ.update(FUSION_COURSE_SEED=str(seed), OMP_NUM_THREADS="2", OMP_WAIT_POLICY="PASSIVE", CUDA_VISIBLE_DEVICES="")
    if capability:
        os.environ["ATEN_CPU_CAPABILITY"] = capability
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    error = None
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    except CellExecutionError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        error = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "error")
    except Exception as exc:  # a dead kernel, a timeout
        error = f"{type(exc).__name__}: {exc}"
    printed = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            printed += [ln.strip() for ln in text.splitlines() if "on this run" in ln or " CI [" in ln]
    return {"notebook": Path(path).name, "seed": seed, "capability": capability or "native", "ok": error is None,
            "error": error, "seconds": time.perf_counter() - start, "printed": printed}


def report(results: list[dict], args) -> str:
    import torch

    lines = ["# Seed sweep: do the lessons' asserted claims hold on other seeds and other rounding?", "",
             "Made by `python tools/seed_sweep.py " + " ".join(args.argv) + "`",
             f"on {platform.platform()}, {os.cpu_count()} CPU cores (2 threads per notebook), torch "
             f"{torch.__version__.split('+')[0]}, CPU capability {torch.backends.cpu.get_cpu_capability()}"
             f" (runs marked `default` used ATEN_CPU_CAPABILITY=default), {time.strftime('%Y-%m-%d')}.", "",
             "A run passes when every cell ran: each lesson asserts its claims in code, so a pass means every claim "
             "held for that seed.", "", "| notebook | seed | rounding | result | seconds |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        verdict = "all claims held" if r["ok"] else f"FAILED: {r['error']}"
        lines.append(f"| {r['notebook']} | {r['seed']} | {r['capability']} | {verdict} | {r['seconds']:.0f} |")
    lines += ["", "## What each run printed", ""]
    for r in results:
        if r["printed"]:
            lines.append(f"<details><summary>{r['notebook']}, seed {r['seed']}, {r['capability']}</summary>\n")
            lines += ["```"] + r["printed"] + ["```", "</details>", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--capability", action="append", default=None,
                   help="ATEN_CPU_CAPABILITY values to run under (repeatable; 'native' for the CPU's own)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", default="docs/seed-sweep.md")
    args = p.parse_args()
    args.argv = [a for a in os.sys.argv[1:]]
    caps = [None if c == "native" else c for c in (args.capability or ["native"])]
    jobs = [(nb, s, c) for nb in args.notebooks for c in caps for s in args.seeds]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        results = []
        for r in pool.imap_unordered(_run, jobs):
            print(f"{r['notebook']} seed {r['seed']} {r['capability']}: {'ok' if r['ok'] else r['error']} ({r['seconds']:.0f} s)", flush=True)
            results.append(r)
            results.sort(key=lambda r: (r["notebook"], r["capability"], r["seed"]))
            Path(args.out).write_text(report(results, args))     # after every run: a cut-short sweep keeps its rows
    print("wrote", args.out)


if __name__ == "__main__":
    main()
