"""The Linux ``prctl(2)`` calls the grader makes, with their numbers written once (from ``<linux/prctl.h>``).

Everything here is a no-op elsewhere: grading needs Linux (``/proc``, ``prctl``), and the callers say so.

>>> PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER
(4, 36)
"""
from __future__ import annotations

import sys

__all__ = ["PR_SET_PDEATHSIG", "PR_SET_DUMPABLE", "PR_CAPBSET_DROP", "PR_SET_CHILD_SUBREAPER", "PR_SET_NO_NEW_PRIVS",
           "CAP_SYS_PTRACE", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN", "prctl", "no_trace", "drop_capabilities"]

PR_SET_PDEATHSIG = 1          # signal this process when its parent dies
PR_SET_DUMPABLE = 4           # 0: no ptrace, no core, /proc/PID/{mem,fd,environ} closed to the same user
PR_CAPBSET_DROP = 24          # drop a capability from the bounding set (for this process's children)
PR_SET_CHILD_SUBREAPER = 36   # orphaned descendants are re-parented to this process, not to init
PR_SET_NO_NEW_PRIVS = 38      # execve of a set-uid program gives no privilege back
CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_RESOURCE = 21, 19, 24   # from <linux/capability.h>


def prctl(option: int, arg: int = 0) -> int:
    """``prctl(option, arg, 0, 0, 0)``; returns its result (0 on success), or -1 off Linux."""
    if not sys.platform.startswith("linux"):
        return -1
    import ctypes

    return int(ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0))


def no_trace() -> None:
    """Make this process non-dumpable: a process of the same user can neither trace it nor read its pipes."""
    prctl(PR_SET_DUMPABLE, 0)


def drop_capabilities() -> None:
    """Children lose ``CAP_SYS_PTRACE``, ``CAP_SYS_RESOURCE`` and ``CAP_SYS_ADMIN`` (relevant as root), for good."""
    for cap in (CAP_SYS_PTRACE, CAP_SYS_RESOURCE, CAP_SYS_ADMIN):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
