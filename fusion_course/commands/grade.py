"""`fusion-course grade`: grade a folder of submitted exercise notebooks.

usage: fusion-course grade PATH... [--out DIR] [--solutions DIR] [--timeout-per-cell S]
                           [--timeout-per-notebook S] [--memory-gb G] [--jobs N] [--lesson NN]
                           [--resume] [--no-progress]

PATH: notebooks or folders of notebooks (searched recursively; files with another extension are taken when
their content is a notebook). Each submission runs on a temporary copy in its own kernel; the course's
checks run in the grader's worker, on plain data from the kernel, never in the submission's process. Every
row is written to grades.csv, grades.json, report.html and feedback/<student>.md in --out as soon as it is
graded; --resume keeps the rows of files already graded there. Submissions are untrusted code: for a room
of strangers run this inside a container without network, as an unprivileged user, e.g.

  docker run --rm --network none -v "$PWD":/course -w /course fusion-course \\
      fusion-course grade submissions/ --out grades/

Exit status 0 when grading completed (whatever the grades), 2 for bad input.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fusion-course grade", description="Grade submitted exercise notebooks.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Writes grades.csv, grades.json, report.html and feedback/<student>.md into --out, "
                                       "after every graded submission.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="submitted notebooks or folders of them")
    p.add_argument("--out", default="grades", metavar="DIR", help="where to write the reports (default: grades)")
    p.add_argument("--solutions", default=None, metavar="DIR",
                   help="the course's solution notebooks (default: ./solutions, else the course's own)")
    p.add_argument("--timeout-per-cell", type=float, default=180.0, metavar="S",
                   help="seconds one cell may run before it is interrupted (default: 180)")
    p.add_argument("--timeout-per-notebook", type=float, default=900.0, metavar="S",
                   help="seconds a whole submission may run, kernel start included (default: 900)")
    p.add_argument("--memory-gb", type=float, default=4.0, metavar="G",
                   help="hard memory limit of each kernel in GiB (RLIMIT_DATA; 0 for none; default: 4)")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="submissions graded in parallel (default: 2)")
    p.add_argument("--lesson", default=None, metavar="NN", help="grade only this lesson; report others as 'other lesson'")
    p.add_argument("--resume", action="store_true",
                   help="keep the rows of --out/grades.json for files that have not changed; grade the rest")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    from ..grading import grade

    _no_trace()
    try:
        grades = grade(args.paths, out_dir=args.out, solutions_dir=args.solutions,
                       timeout_per_cell=args.timeout_per_cell, timeout_per_notebook=args.timeout_per_notebook,
                       jobs=args.jobs, memory_gb=args.memory_gb, lesson=args.lesson, progress=not args.no_progress,
                       resume=args.resume)
    except KeyboardInterrupt:
        print(f"fusion-course grade: interrupted; the rows graded so far are in {args.out}/ "
              "(run again with --resume to finish)", file=sys.stderr)
        return 130
    width = max(len(g.file) for g in grades)
    for g in grades:
        counts = Counter(r["status"] for r in g.exercises.values())
        detail = ", ".join(f"{n} {s}" for s, n in counts.items())
        score = f"{g.total}/{g.max}" if g.max else "-"
        flags = f"  [{', '.join(sorted({f['kind'] for f in g.flags}))}]" if g.flags else ""
        print(f"{g.file:<{width}}  {score:>5}  {g.status}" + (f" ({detail})" if detail else "") + flags)
    print(f"wrote {args.out}/grades.csv, {args.out}/grades.json, {args.out}/report.html, {args.out}/feedback/")
    return 0


def _no_trace() -> None:
    """Make the grader non-dumpable: a submission running as the same user cannot trace it or read its pipes."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE = 0
