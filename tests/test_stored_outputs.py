"""The stored outputs of the lessons are what a learner sees before running anything: keep them honest.

* The run that made them took less than the notebook's budget, by the clock Jupyter stores with each cell
  (``metadata.execution``), so a run made on a loaded machine cannot be stored again.
* They hold no widget stubs that render as ``0%|`` bars or "model not found" on a fresh profile.
* Every cell whose output depends on training or timing is tagged ``nbval-ignore-output`` and says "on this run",
  and no cell outside those tags prints a training time.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from budgets import budget_for

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# A printed training time: "... in 7.3 s" (a progress summary or a run total), "(7.3 s)" (an epoch line)
RUN_TIME = re.compile(r"\bin (\d+(?:\.\d+)?) ?s\b|\((\d+(?:\.\d+)?) s\)")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _texts(cell: dict) -> list[str]:
    out = []
    for o in cell.get("outputs", []):
        out.append("".join(o.get("text", "")))
        for value in (o.get("data") or {}).values():
            if isinstance(value, (str, list)):
                out.append("".join(value))
    return out


def stored_seconds(nb: dict) -> float:
    """Seconds the stored run spent executing code, from the timestamps Jupyter records on each cell.

    A cell that shows outputs but carries no timestamps was not produced by a recorded run: AssertionError.
    """
    total = 0.0
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        clock = (cell.get("metadata") or {}).get("execution") or {}
        if "iopub.execute_input" not in clock or "shell.execute_reply" not in clock:
            assert not cell.get("outputs"), f"cell {i} has stored outputs but no execution timestamps"
            continue
        start, end = (datetime.fromisoformat(clock[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
        total += (end - start).total_seconds()
    return total


def _timed_cell(start: str, end: str, outputs: list | None = None) -> dict:
    return {"cell_type": "code", "outputs": outputs or [],
            "metadata": {"execution": {"iopub.execute_input": start, "shell.execute_reply": end}}}


def test_run_time_reader_on_known_cells():
    nb = {"cells": [_timed_cell("2026-12-02T15:59:07.500000Z", "2026-12-02T15:59:11.000000Z"),
                    {"cell_type": "markdown", "source": "in 100 s", "metadata": {}},
                    {"cell_type": "code", "outputs": [], "metadata": {}},                 # not run yet
                    _timed_cell("2026-12-02T15:59:58.000000Z", "2026-12-02T16:00:15.500000Z")]}
    assert stored_seconds(nb) == pytest.approx(21.0)
    unrecorded = {"cells": [{"cell_type": "code", "outputs": [{"text": "1"}], "metadata": {}}]}
    with pytest.raises(AssertionError, match="no execution timestamps"):
        stored_seconds(unrecorded)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_run_times_fit_the_budget(path):
    seconds = stored_seconds(json.loads(path.read_text()))
    assert seconds <= budget_for(path.name), (
        f"{path.name}: its stored outputs took {seconds:.0f} s to make, over its {budget_for(path.name):.0f} s budget; "
        "re-execute it alone on a quiet machine before committing its outputs")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_widget_stubs_in_stored_outputs(path):
    nb = json.loads(path.read_text())
    state = ((nb.get("metadata") or {}).get("widgets") or {}).get("application/vnd.jupyter.widget-state+json", {})
    saved = set((state.get("state") or {}))
    for i, cell in enumerate(nb["cells"]):
        for o in cell.get("outputs", []):
            view = (o.get("data") or {}).get(WIDGET_MIME)
            if view is not None:
                fallback = {k for k in o["data"] if k != WIDGET_MIME and k != "text/plain"}
                assert view.get("model_id") in saved or fallback, (
                    f"{path.name} cell {i}: a widget output with neither saved state nor a picture to fall back on")
        for text in _texts(cell):
            assert not re.search(r"\b0%\|", text), f"{path.name} cell {i}: a stored 0% progress-bar stub"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_training_outputs_are_not_compared_digit_by_digit(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        tags = (cell.get("metadata") or {}).get("tags", [])
        text = "\n".join(_texts(cell))
        if "on this run" in text or RUN_TIME.search(text):
            assert "nbval-ignore-output" in tags, (
                f"{path.name} cell {i} prints a run-specific result but is compared digit by digit; "
                "tag it nbval-ignore-output and assert its claim in code")
