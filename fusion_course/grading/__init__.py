"""Grade a room's exercise notebooks: ``fusion-course grade submissions/ --out grades/``.

**Design: the learner's process produces answers; it never decides marks.** For each submission the grader

1. reads the file (any extension, as long as it is a notebook), finds its lesson (metadata, file name, or
   the check ids and exercise headings in its cells) and its student (a ``STUDENT_NAME = "..."`` cell read
   with ``ast``, the metadata field ``fusion_course.student``, Canvas's or Moodle's download name, which also
   gives the LMS id (:mod:`.lms`), the folder when file names repeat, the file name) — see :mod:`.notebooks`;
   and writes an in-progress entry for it (:mod:`.ledger`), so that a submission that kills the grader is
   set aside by the next run instead of killing every run;
2. builds the notebook it runs: the learner's cells, stored outputs dropped, every ``check(...)`` call
   removed, and at each exercise's *last* check cell a ``capture(...)`` that hands the answer object to
   the answer server (:mod:`.answer_server`), installed by the first cell;
3. starts a worker process (:mod:`.worker_process`) in a new session, with a per-run token in
   its environment, hard resource limits and a secret on stdin. The worker imports the lesson's checks
   *before* any learner code exists, makes itself non-dumpable, runs the notebook in a kernel, and right
   after each capture runs the course's real check function **in its own process** on stand-ins of the
   answer (:mod:`.remote`): every call of the answer goes to the kernel, and only plain data comes back
   (numbers, strings, lists, ``.npy`` bytes of plain tensors read with ``allow_pickle=False``). A patched
   helper, an import hook, a fake ``fusion_course`` module, an IPython input transformer, a lying tensor
   subclass or a stack-frame reader all live in the kernel, where nothing is decided;
4. reads the verdicts from a pipe only it holds, each line HMAC-signed with the secret; a worker that does
   not end with a signed ``done`` and exit status 0 is not believed (no mark from that run);
5. kills everything the submission started (descendants, process groups, the token) and removes its
   temporary folder, connection file included — see :mod:`.worker`;
6. checks that the course's code is unchanged, writes the row to ``grades.csv``, ``grades.json``,
   ``report.html`` and ``feedback/<student>.md`` at once (see :mod:`.reports`; with ``--lms`` also the LMS's
   import file), and flags what a teacher should look at (:mod:`.flags`; byte-identical files of two students
   always) without changing a mark. An exercise whose own cell raised names that error, its line, first.

Modules: :mod:`.room` (the pool), :mod:`.core` (one submission: :class:`~.core.Grade`, :func:`~.core.grade_one`,
the typed :class:`~.core.RoomContext`), :mod:`.notebooks`, :mod:`.worker` (the grader's side of a worker) and
:mod:`.worker_process` (the worker itself), :mod:`.remote` and :mod:`.mirror` (stand-ins of the learner's
objects; ``mirror`` never imports ``remote``: it is handed it), :mod:`.answer_server` (runs in the kernel),
:mod:`.ledger`, :mod:`.lms`, :mod:`.reports`, :mod:`.flags`, :mod:`.linux` (the ``prctl`` calls).

Each exercise is ``passed``, ``failed`` (the check's message), ``error``, ``timeout``, ``not attempted``
(``NotImplementedError``) or ``not run``. Submissions are only read, never written.

Limits: every process runs as the teacher's user. Non-dumpable workers, hard limits and the signed pipe hold
against an unprivileged submission; a submission running as root (with ``CAP_SYS_PTRACE``) could still
read the worker's memory. For a room of strangers grade inside a throw-away container, as an unprivileged
user, without network (README, teacher section).
"""
from __future__ import annotations

import importlib
from typing import Any

# Imported when first used: the worker process (``grading.worker_process``) starts light, with only the modules
# it needs, and ``fusion-course --help`` stays instant.
_EXPORTS = {"grade": "room", "find_submissions": "notebooks", "merge_checks": "notebooks", "Grade": "core",
            "STATUSES": "core", "write_reports": "reports", "default_solutions": "core"}

__all__ = ["grade", "find_submissions", "merge_checks", "Grade", "STATUSES", "write_reports", "default_solutions"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
