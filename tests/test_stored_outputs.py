"""The stored outputs of the lessons are what a learner sees before running anything: keep them honest.

* Their recorded run times (progress summaries and epoch times) add up to less than the notebook's budget, so a
  run made on a loaded machine cannot be stored again.
* They hold no widget stubs that render as ``0%|`` bars or "model not found" on a fresh profile.
* Every cell whose output depends on training or timing is tagged ``nbval-ignore-output`` and says "on this run",
  and no cell outside those tags prints a training time.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from budgets import budget_for

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# "... in 7.3 s" (a progress summary or a run total), "(7.3 s)" (an epoch line), "[00:07<" (a text bar)
RUN_TIME = re.compile(r"\bin (\d+(?:\.\d+)?) ?s\b|\((\d+(?:\.\d+)?) s\)")
BAR_CLOCK = re.compile(r"\[(?:(\d+):)?(\d+):(\d\d)(?:<|&lt;)")
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
    """Seconds of work the stored outputs record, cell by cell (the largest reading of each cell)."""
    total = 0.0
    for cell in nb["cells"]:
        readings = [0.0]
        for text in _texts(cell):
            runs = [float(a or b) for a, b in RUN_TIME.findall(text)]
            readings += [sum(runs)]
            readings += [int(h or 0) * 3600 + int(m) * 60 + int(s) for h, m, s in BAR_CLOCK.findall(text)]
        total += max(readings)
    return total


def test_run_time_reader_on_known_text():
    nb = {"cells": [{"outputs": [{"text": "sum seed 0 epoch 6/6: 282/282 in 8.5 s, loss 0.2\n"
                                          "deep seed 0 epoch 6/6: 282/282 in 7.5 s\n"}]},
                    {"outputs": [{"text": "digits epoch 1/8 loss 0.3 (2.0 s)\ndigits epoch 2/8 (3.0 s)\n"}]}]}
    assert stored_seconds(nb) == pytest.approx(21.0)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_run_times_fit_the_budget(path):
    seconds = stored_seconds(json.loads(path.read_text()))
    assert seconds <= budget_for(path.name), (
        f"{path.name}: its stored outputs record {seconds:.0f} s of work, over its {budget_for(path.name):.0f} s budget; "
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
