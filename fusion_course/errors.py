"""Errors the course raises on purpose.

``UsageError`` is bad input from a person (a wrong path, an unknown name, a size a model cannot
take). The command line prints its message alone, on one line, without a traceback, and exits with
status 2. A file-system error about a path (missing, not a folder, not writable) that a command did
not turn into a ``UsageError`` itself is reported the same way, with :func:`path_message`.
Everything else that escapes is a bug and keeps its traceback.
"""
from __future__ import annotations

__all__ = ["UsageError", "PATH_ERRORS", "path_message"]


class UsageError(Exception):
    """Bad input from the user: the message says what was wrong and what to do instead."""


# OSErrors that name a path the user gave: the fix is a different path, not a bug report.
PATH_ERRORS: tuple[type[OSError], ...] = (FileNotFoundError, NotADirectoryError, IsADirectoryError,
                                           PermissionError, FileExistsError)

_ADVICE = {
    FileNotFoundError: "check the path (relative paths start at the folder you run the command in)",
    NotADirectoryError: "part of the path is a file, not a folder; check the path",
    IsADirectoryError: "that is a folder; give a file name",
    PermissionError: "choose a path you can write to (e.g. in your home folder)",
    FileExistsError: "choose another name, or remove the existing file",
}


def path_message(exc: OSError) -> str:
    """One line for a file-system error: what happened, to which path, and what to do.

    >>> path_message(FileNotFoundError(2, "No such file or directory", "data/x.csv"))
    'data/x.csv: No such file or directory; check the path (relative paths start at the folder you run the command in)'
    """
    what = exc.strerror or type(exc).__name__
    where = f"{exc.filename}: " if exc.filename else ""
    advice = next((text for kind, text in _ADVICE.items() if isinstance(exc, kind)), "check the path")
    return f"{where}{what}; {advice}"
