"""`fusion-course build-exercises`: write exercises/ from solutions/ (or check them for drift).

usage: fusion-course build-exercises [--check] [--solutions DIR] [--out DIR]

Each solution notebook solutions/NN_<topic>.ipynb becomes exercises/NN_<topic>.ipynb: every region
between `### BEGIN SOLUTION N.k: <what to do>` and `### END SOLUTION` is replaced by
`raise NotImplementedError("Exercise N.k: <what to do>")`, outputs are cleared and the check cells
tagged. With --check nothing is written: the command exits 1 and names each exercise notebook that is
missing, differs from what the build would write, or has no solution any more.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import UsageError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fusion-course build-exercises",
                                description="Write exercises/ from solutions/ (one source), or check them for drift.")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if exercises/ differs from the build")
    p.add_argument("--solutions", default="solutions", metavar="DIR", help="solution notebooks (default: solutions)")
    p.add_argument("--out", default="exercises", metavar="DIR", help="exercise notebooks (default: exercises)")
    return p


def main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its message
        return int(exc.code or 0)
    from ..exercises import build_all, check_all, solution_notebooks

    sources = solution_notebooks(args.solutions)
    if not sources:
        raise UsageError(f"no solution notebooks (NN_<topic>.ipynb) in {args.solutions}")
    if args.check:
        problems = check_all(args.solutions, args.out)
        if problems:
            print(f"{len(problems)} exercise notebook(s) out of date; run `fusion-course build-exercises`:",
                  file=sys.stderr)
            for line in problems:
                print(f"  {line}", file=sys.stderr)
            return 1
        print(f"exercises up to date: {len(sources)} notebook(s) in {args.out} match {args.solutions}")
        return 0
    written = build_all(args.solutions, args.out)
    for path in written:
        print(f"wrote {path}")
    return 0
