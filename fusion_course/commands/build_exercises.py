"""`fusion-course build-exercises`: write exercises/ from solutions/ (or check them for drift).

usage: fusion-course build-exercises [--check] [--solutions DIR] [--out DIR]

Each solution notebook solutions/NN_<topic>.ipynb becomes exercises/NN_<topic>.ipynb: every region
between `### BEGIN SOLUTION N.k: <what to do>` and `### END SOLUTION` is replaced by
`raise NotImplementedError("Exercise N.k: <what to do>")`, outputs are cleared and the check cells
tagged; each notebook opens with a note on how to work and hand in and the name cell, and ends with
links to its neighbours and its lesson. With --check nothing is written: the command exits 1 and names
each exercise notebook that is missing, differs from what the build would write, or has no solution
any more. Without --solutions, the course's folders are found from any working folder. Advice that
does not stop the build (two stubs of one exercise with the same instruction) goes to stderr.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import CommandParser, parse_command
from ..errors import UsageError


def _parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="fusion-course build-exercises",
                description="Write exercises/ from solutions/ (one source), or check them for drift.")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if exercises/ differs from the build")
    p.add_argument("--solutions", default=None, metavar="DIR",
                   help="solution notebooks (default: solutions/ of the course folder)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="exercise notebooks (default: exercises/ next to the solutions folder)")
    return p


def _default_folders(solutions: str | None, out: str | None) -> tuple[Path, Path]:
    """``--solutions``/``--out`` as given, else the course's own folders, found from any working folder.

    ``./solutions`` wins when it exists; otherwise the clone the package was installed from (an
    editable install) is used, so the command also works outside the course folder.
    """
    if solutions is not None:
        sols = Path(solutions)
    else:
        here, clone = Path("solutions"), Path(__file__).resolve().parents[2] / "solutions"
        sols = here if here.is_dir() or not clone.is_dir() else clone
    return sols, Path(out) if out is not None else sols.parent / "exercises"


def main(argv: list[str]) -> int:
    args = parse_command(_parser(), argv)
    if args is None:
        return 0
    from ..exercises import build_all, check_all, solution_notebooks

    args.solutions, args.out = _default_folders(args.solutions, args.out)

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
    for warning in _warnings(sources):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _warnings(sources: list) -> list[str]:
    """Non-fatal advice on the solution notebooks (e.g. two stubs of one exercise that say the same)."""
    from ..exercises import build_exercise

    return [w for path in sources for w in build_exercise(path)[1].warnings]
