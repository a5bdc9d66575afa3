"""The ``fusion-course`` command (also ``python -m fusion_course``).

Each subcommand lives in ``fusion_course/commands/<name>.py`` and exposes ``main(argv) -> int``; it
is imported only when used, so ``fusion-course --help`` answers instantly. Every command parses its
options with :class:`CommandParser` and :func:`parse_command`, so a mistake reads the same everywhere:
one line, exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn, Sequence

from . import __version__
from .errors import PATH_ERRORS, UsageError, path_message

# name -> (module, one-line description). The order is the order of `fusion-course --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "lab": ("fusion_course.commands.lab", "open the course in JupyterLab at notebooks/00_start_here.ipynb"),
    "train": ("fusion_course.commands.train", "train a model of the course on an offline dataset (or CIFAR-10)"),
    "grade": ("fusion_course.commands.grade", "grade a folder of submitted exercise notebooks"),
    "build-exercises": ("fusion_course.commands.build_exercises", "write exercises/ from solutions/ (or --check for drift)"),
    "experiment": ("fusion_course.commands.experiment", "run a lesson's experiment over seeds and write its JSON results file"),
    "bench": ("fusion_course.commands.bench", "benchmark fusion operators and models (params, multiply-adds, latency)"),
    "site": ("fusion_course.commands.site", "build the course as an offline website from the stored notebooks"),
    "wheelhouse": ("fusion_course.commands.wheelhouse", "download the pinned wheels for a room without internet (Linux, macOS, Windows)"),
}


class CommandParser(argparse.ArgumentParser):
    """The argument parser of every ``fusion-course`` command.

    A mistake on the command line raises :class:`UsageError` instead of printing argparse's usage block
    and exiting: :func:`main` turns it into one line on stderr and exit status 2, like every other bad input.
    """

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def parse_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | None:
    """``parser.parse_args(argv)``, or None once ``--help`` has been printed (the command then returns 0).

    Example:
        >>> p = CommandParser(prog="fusion-course demo")
        >>> _ = p.add_argument("--epochs", type=int, default=1)
        >>> parse_command(p, ["--epochs", "3"]).epochs
        3
        >>> parse_command(p, ["--epochs", "three"])
        Traceback (most recent call last):
        ...
        fusion_course.errors.UsageError: argument --epochs: invalid int value: 'three' (see `fusion-course demo --help`)
    """
    try:
        return parser.parse_args(list(argv))
    except SystemExit as exc:   # argparse exits after printing --help (status 0)
        if exc.code:
            raise
        return None


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        f"usage: fusion-course <command> [options]     (fusion_course {__version__})",
        "",
        "commands:",
        *(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()),
        "",
        "Run `fusion-course <command> --help` for a command's options.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(usage(), file=sys.stderr)
        print("\nerror: no command given; choose one of: " + ", ".join(COMMANDS), file=sys.stderr)
        return 2
    if args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] in ("-V", "--version"):
        print(f"fusion_course {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}\n", file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except UsageError as exc:
        print(f"fusion-course {name}: error: {exc}", file=sys.stderr)
        return 2
    except PATH_ERRORS as exc:   # a path the command was given: a message, not a traceback
        print(f"fusion-course {name}: error: {path_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nfusion-course {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
