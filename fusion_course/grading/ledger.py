"""The in-progress ledger: a submission that kills the grader is set aside, not graded again and again.

A submission can find the grader (its kernel's parent is the worker, whose parent is the grader: two reads of
``/proc/<pid>/stat``) and kill it with SIGKILL, which no handler sees. So before a submission is graded the
grader writes an entry for it into ``<out>/in-progress/``: the file's name and SHA-256, and the grader's pid and
start time. The entry is removed once the file's row is written. An entry whose grader is no longer running
means that run died while grading the file.

The next run reads those entries (:func:`left_by_dead_runs`) and sorts them (:func:`split`):

* a file that was **alone** in flight when a run died (one submission at a time, or the only entry of its run)
  *for the second time* is set aside: row ``review``, no mark; only ``--retry-crashed`` grades it again;
* every other entry is a **suspect**, graded again first, one at a time. The second chance is for the honest
  file that was in flight when the teacher pressed ``kill -9``, the machine lost power, or a neighbour in the
  pool killed the grader; a file that kills the grader again is then the only one in flight.

``fusion-course grade`` restarts a grader that died (see :mod:`fusion_course.commands.grade`), so one command
gets through a room with a killer in it.

Entries of set-aside files stay, so every later run sets the file aside again until ``--retry-crashed``
(or a changed file: the SHA-256 no longer matches).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Entry", "FOLDER", "CRASHED", "begin", "finish", "left_by_dead_runs", "process_start", "split"]

FOLDER = "in-progress"
CRASHED = "the grading run died while grading this file"


@dataclass(frozen=True)
class Entry:
    """One submission in flight: which file (name and content), which grader, alone or not."""

    file: str
    sha256: str
    pid: int
    start: str          # the grader's start time (field 22 of /proc/<pid>/stat): a reused pid is another run
    alone: bool         # no other submission was being graded by that run at the same time
    since: float = 0.0  # wall-clock time the grading began
    deaths: int = 0     # earlier runs that died, this file alone in flight


def process_start(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot ("" when it is not running)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _path(out: Path, file: str) -> Path:
    return out / FOLDER / (hashlib.sha256(file.encode("utf-8")).hexdigest()[:24] + ".json")


def begin(out: Path, file: str, sha256: str, alone: bool, deaths: int = 0) -> Path:
    """Record that this process starts grading ``file`` (written atomically, before the worker starts)."""
    entry = Entry(file, sha256, os.getpid(), process_start(os.getpid()), alone, time.time(), deaths)
    path = _path(out, file)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(asdict(entry)), encoding="utf-8")
    os.replace(tmp, path)
    return path


def finish(out: Path, file: str) -> None:
    """The file's row is written: its entry goes."""
    try:
        _path(out, file).unlink()
    except FileNotFoundError:
        pass


def _read(path: Path) -> Entry | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Entry(str(data["file"]), str(data["sha256"]), int(data["pid"]), str(data["start"]),
                     bool(data["alone"]), float(data.get("since", 0.0)), int(data.get("deaths", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def left_by_dead_runs(out: Path) -> list[Entry]:
    """Entries whose grader is no longer running (this process's own entries are never among them)."""
    found = []
    for path in sorted((out / FOLDER).glob("*.json")):
        entry = _read(path)
        if entry is None or (entry.pid == os.getpid()):
            continue
        if entry.start and process_start(entry.pid) == entry.start:
            continue            # another grader is working on this folder right now
        found.append(entry)
    return found


def split(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """``(set aside, suspects)`` among the entries of dead runs; each suspect with its count of deaths so far.

    >>> one = Entry("a.ipynb", "0" * 64, pid=7, start="1", alone=True)
    >>> split([one])[1][0].deaths, split([Entry(**{**asdict(one), "deaths": 1})])[0][0].file
    (1, 'a.ipynb')
    >>> pair = [one, Entry("b.ipynb", "1" * 64, pid=7, start="1", alone=False)]
    >>> [e.deaths for e in split(pair)[1]]     # two in flight: nobody is to blame yet
    [0, 0]
    """
    per_run: dict[tuple[int, str], int] = {}
    for e in entries:
        per_run[(e.pid, e.start)] = per_run.get((e.pid, e.start), 0) + 1
    aside, suspects = [], []
    for e in entries:
        alone = per_run[(e.pid, e.start)] == 1
        deaths = e.deaths + (1 if alone else 0)
        (aside if deaths >= 2 else suspects).append(Entry(**{**asdict(e), "deaths": deaths, "alone": alone}))
    return aside, suspects
