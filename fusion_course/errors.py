"""Errors the course raises on purpose.

``UsageError`` is bad input from a person (a wrong path, an unknown name, a size a model cannot
take). The command line prints its message alone, without a traceback, and exits with status 2.
Everything else that escapes is a bug and keeps its traceback.
"""


class UsageError(Exception):
    """Bad input from the user: the message says what was wrong and what to do instead."""
