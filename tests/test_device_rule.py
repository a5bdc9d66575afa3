"""A learner's GPU never breaks a lesson: one device is chosen once, and fit hands the model back.

The rule (issue: lesson 02 crashed with a GPU visible, because ``fit`` left the model on CUDA while the
lesson's tensors stayed on the CPU):

* ``setup_notebook`` chooses the lessons' device once, the CPU unless the learner asks for another, and
  ``fit`` / ``evaluate`` read ``device="auto"`` as that choice;
* ``fit`` trains wherever it is told and hands the model back on the device it came from.
"""
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import fusion_course
from fusion_course import train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_default():
    yield
    train.set_default_device(None)


def test_setup_notebook_keeps_lessons_on_the_cpu_with_a_gpu_visible(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)     # a learner's laptop with a GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    fusion_course.setup_notebook(seed=0, threads=2)
    assert "device cpu" in capsys.readouterr().out
    assert train.resolve_device("auto") == torch.device("cpu")
    train.set_default_device(None)
    assert train.resolve_device("auto").type == "cuda"                 # without the choice, auto picks the GPU


def test_fit_hands_the_model_back_on_the_device_it_came_from(monkeypatch):
    model = nn.Linear(4, 2)
    data = (torch.randn(16, 4), torch.randint(0, 2, (16,)))
    # Pretend the training device is another one: fit moves there first, and back at the end.
    trained_on = []
    real_to = nn.Module.to

    def spy_to(self, *args, **kwargs):
        if args and isinstance(args[0], torch.device):
            trained_on.append(args[0])
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "to", spy_to)
    train.fit(model, data, epochs=1, batch_size=8, device="cpu", progress=False)
    assert trained_on[0] == torch.device("cpu") and trained_on[-1] == next(model.parameters()).device
    assert len(trained_on) >= 2, "fit must move the model back where it found it"


def test_no_lesson_moves_tensors_to_a_device_of_its_own():
    # Lessons get their device from setup_notebook; a hard-coded "cuda" in a lesson would bypass the rule.
    for folder in ("notebooks", "solutions"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            nb = json.loads(path.read_text())
            for cell in nb["cells"]:
                src = "".join(cell["source"])
                if cell["cell_type"] == "code":
                    assert '.cuda()' not in src and 'device="cuda"' not in src, f"{path.name}: {src[:80]}"
