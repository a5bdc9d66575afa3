"""A submission that kills the grader: set aside with the reason, and the rest of the room still graded.

The killer does what a real attack does: its kernel reads ``/proc/<parent>/stat`` twice (kernel -> worker ->
grader) and sends the grader SIGKILL, which no handler sees. The in-progress ledger
(fusion_course/grading/ledger.py) and the command's supervisor (fusion_course/commands/grade.py) must still
finish the room.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from fusion_course.checks import EXTRA_CHECKS_ENV
from fusion_course.exercises import build_exercise
from fusion_course.grading import ledger

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "course"
SOLVED_1 = "def weighted_sum(values, weights):\n    return sum(w * v for w, v in zip(weights, values))"
SOLVED_2 = "class Gate:\n    def __init__(self, k):\n        self.k = k\n    def __call__(self, x):\n        return min(max(x, 0), self.k)"
WRONG_2 = "class Gate:\n    def __init__(self, k):\n        self.k = k\n    def __call__(self, x):\n        return x"
KILL_THE_GRADER = """
import os, signal
def parent(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
os.kill(parent(os.getppid()), signal.SIGKILL)     # kernel -> worker -> grader
"""


def _answered(first: str, second: str, attack: str = "") -> nbformat.NotebookNode:
    nb = copy.deepcopy(build_exercise(FIXTURE / "solutions" / "99_fixture.ipynb")[0])
    for c in nb.cells:
        fc = c.metadata.get("fusion_course", {})
        if "99.1" in fc.get("exercise", []):
            c.source = first + attack
        elif "99.2" in fc.get("exercise", []):
            c.source = second
    return nb


def _grade(subs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, EXTRA_CHECKS_ENV: str(FIXTURE / "checks")}
    cmd = [sys.executable, "-m", "fusion_course", "grade", str(subs), "--out", str(out), "--jobs", "1",
           "--solutions", str(FIXTURE / "solutions"), "--no-progress", "--timeout-per-cell", "30",
           "--timeout-per-notebook", "60", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)


@pytest.mark.slow
def test_a_grader_killing_submission_is_set_aside_and_the_room_finishes(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    nbformat.write(_answered(SOLVED_1, SOLVED_2), str(subs / "a_99_fixture.ipynb"))
    nbformat.write(_answered(SOLVED_1, SOLVED_2, KILL_THE_GRADER), str(subs / "b_99_fixture.ipynb"))
    nbformat.write(_answered(SOLVED_1, WRONG_2), str(subs / "c_99_fixture.ipynb"))
    done = _grade(subs, out)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("the grader was killed (signal 9)") == 2          # graded alone once more, then set aside
    rows = {r["student"]: r for r in json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]}
    assert (rows["a_99_fixture"]["total"], rows["c_99_fixture"]["total"]) == (2, 1)
    assert rows["a_99_fixture"]["status"] == rows["c_99_fixture"]["status"] == "graded"
    killer = rows["b_99_fixture"]
    assert (killer["status"], killer["message"], killer["total"], killer["exercises"]) == \
        ("review", "the grading run died while grading this file", 0, {})
    assert any(f["kind"] == "review" and ledger.CRASHED in f["detail"] for f in killer["flags"])
    assert "set aside (1)" in done.stdout and "b_99_fixture.ipynb" in done.stdout.split("set aside (1)")[1]
    feedback = (out / "feedback" / "b_99_fixture.md").read_text(encoding="utf-8")
    assert "review" in feedback and ledger.CRASHED in feedback

    # Later runs keep it set aside, with or without --resume, and never run it again
    again = _grade(subs, out, "--resume")
    assert again.returncode == 0 and "the grader was killed" not in again.stderr
    rows2 = {r["student"]: r for r in json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]}
    assert rows2["b_99_fixture"]["message"] == ledger.CRASHED
    assert rows2["a_99_fixture"]["seconds"] == rows["a_99_fixture"]["seconds"]      # kept, not graded again
    assert [p.name for p in (out / ledger.FOLDER).glob("*.json")] != []             # the record stays


def test_entries_of_dead_runs_name_the_killer_only_when_it_was_alone(tmp_path):
    out = tmp_path / "out"
    ledger.begin(out, "a.ipynb", "a" * 64, alone=True)
    assert ledger.left_by_dead_runs(out) == []                     # this process is alive: not a dead run
    dead = ledger.Entry("b.ipynb", "b" * 64, pid=2**22 + 7, start="1", alone=False)
    twin = ledger.Entry("c.ipynb", "c" * 64, pid=2**22 + 7, start="1", alone=False)
    aside, suspects = ledger.split([dead, twin])
    assert aside == [] and [e.deaths for e in suspects] == [0, 0]   # two in flight: both graded again, alone
    aside, suspects = ledger.split([dead])
    assert aside == [] and suspects[0].deaths == 1                 # alone once: one more chance
    aside, suspects = ledger.split([ledger.Entry(**{**dead.__dict__, "deaths": 1})])
    assert [e.file for e in aside] == ["b.ipynb"] and suspects == []
    ledger.finish(out, "a.ipynb")
    assert list((out / ledger.FOLDER).glob("*.json")) == []


def test_a_set_aside_file_is_graded_again_only_with_retry_crashed(tmp_path):
    from collections import Counter

    from fusion_course.grading.room import _plan

    sub = tmp_path / "b_99_fixture.ipynb"
    nbformat.write(_answered(SOLVED_1, SOLVED_2), str(sub))
    out, names = tmp_path / "out", {sub: "b_99_fixture.ipynb"}
    digests = {sub: hashlib.sha256(sub.read_bytes()).hexdigest()}
    entry = ledger.Entry(names[sub], digests[sub], pid=2**22 + 9, start="5", alone=True, deaths=1)
    (out / ledger.FOLDER).mkdir(parents=True)
    (out / ledger.FOLDER / "x.json").write_text(json.dumps(entry.__dict__), encoding="utf-8")
    results: dict = {}
    assert _plan(out, [sub], names, digests, results, Counter(), retry_crashed=False) == {}
    assert (results[sub].status, results[sub].message, results[sub].total) == ("review", ledger.CRASHED, 0)
    results = {}
    assert _plan(out, [sub], names, digests, results, Counter(), retry_crashed=True) == {sub: 2}
    assert results == {}
    sub.write_text(sub.read_text(encoding="utf-8").replace("min(max", "max(min"), encoding="utf-8")
    digests[sub] = hashlib.sha256(sub.read_bytes()).hexdigest()
    assert _plan(out, [sub], names, digests, results, Counter(), retry_crashed=False) == {} and results == {}


def test_a_kernel_that_dies_before_answering_is_started_again_and_nothing_else_is():
    """A kernel that dies before kernel_info (no cell of the submission has run) is retried; other errors are not."""
    import contextlib

    from fusion_course.grading import worker_process as wp

    def client(fails_with):
        class Client:
            entered = False

            @contextlib.contextmanager
            def setup_kernel(self):
                if fails_with:
                    raise fails_with
                Client.entered = True
                yield

        return Client()

    died = RuntimeError("Kernel died before replying to kernel_info")
    made = iter([client(died), client(died), client(None)])
    with contextlib.ExitStack() as stack:
        assert type(wp._start_kernel(stack, lambda: next(made))).entered
    made = iter([client(died)] * wp.KERNEL_STARTS)
    with pytest.raises(RuntimeError, match="kernel_info"), contextlib.ExitStack() as stack:
        wp._start_kernel(stack, lambda: next(made))
    other = iter([client(RuntimeError("kernel spec not found")), client(None)])
    with pytest.raises(RuntimeError, match="kernel spec"), contextlib.ExitStack() as stack:
        wp._start_kernel(stack, lambda: next(other))
