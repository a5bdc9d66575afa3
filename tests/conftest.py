"""Harness-wide pytest setup: the notebook timing table and its budgets.

nbval runs each notebook cell as a test item. The timer adds up the setup, call and teardown time of
a notebook's items (kernel start included), prints a table at the end of the run and fails the run
when a notebook exceeds its budget (tests/budgets.py). It is registered as a global plugin so that it
sees the items under notebooks/ and solutions/ too, and only in the controlling process under xdist.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

from budgets import budget_for

# Notebook kernels and test processes get the same thread count the stored outputs were made with.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# The stored outputs were made with the CPU's best kernels. The notebook kernels run here with ATen's plain
# kernels instead, which round differently: every run of the suite then checks that the lessons' asserted
# claims, not their stored digits, are what holds (a learner's CPU rounds differently too). Set
# ATEN_CPU_CAPABILITY yourself (e.g. to avx2) to test other rounding.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "default")
# Idle OpenMP threads sleep instead of spinning: when the suite runs with two workers (`-n 2`), two threads
# each on two cores, spinning threads steal the cores from the ones doing work (measured: 6x slower training,
# identical results). The default run is one test at a time, so that a notebook's time is its own.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class NotebookTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.failed: set[str] = set()
        self.over: list[str] = []

    def pytest_runtest_logreport(self, report) -> None:
        path = report.nodeid.split("::")[0]
        if path.endswith(".ipynb"):
            self.seconds[path] += report.duration
            if report.failed:
                self.failed.add(path)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        self.over = [p for p, s in self.seconds.items() if s > budget_for(Path(p).name)]
        if self.over and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.seconds:
            return
        tr = terminalreporter
        tr.section("notebook run times (2 CPU cores; budgets in tests/budgets.py)")
        width = max(len(p) for p in self.seconds)
        tr.write_line(f"{'notebook':<{width}}  {'seconds':>8}  {'budget':>6}  status")
        for path in sorted(self.seconds):
            sec, budget = self.seconds[path], budget_for(Path(path).name)
            status = "failed" if path in self.failed else ("OVER BUDGET" if path in self.over else "ok")
            tr.write_line(f"{path:<{width}}  {sec:8.1f}  {budget:6.0f}  {status}")
        tr.write_line(f"{'total':<{width}}  {sum(self.seconds.values()):8.1f}")
        for path in self.over:
            tr.write_line(f"FAILED budget: {path} took {self.seconds[path]:.1f} s, budget {budget_for(Path(path).name):.0f} s")


def pytest_configure(config) -> None:
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        config.pluginmanager.register(NotebookTimer(), "fusion-course-notebook-timer")


# nbval waits only 5 s for a cell's remaining output messages after the cell has finished. A training
# cell's progress bar sends many widget messages; with two notebooks sharing two busy cores, the last
# ones can arrive later than that, and nbval then fails a cell that ran fine. Give them a minute.
NBVAL_OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT_S
