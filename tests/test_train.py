"""The training loop: it learns, it selects on val, it resumes exactly, and Ctrl-C keeps the last epoch."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from fusion_course.data import load_dataset
from fusion_course.train import History, evaluate, fit, load_checkpoint


def tiny_digits():
    tr = load_dataset("digits", "train")
    va = load_dataset("digits", "val")
    return (tr.images[:320], tr.targets[:320]), (va.images, va.targets)


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))


def test_loss_decreases_and_history_is_complete():
    train, val = tiny_digits()
    hist = fit(mlp(), train, val, epochs=4, lr=1e-2, batch_size=32, progress=False)
    assert isinstance(hist, History) and len(hist) == 4
    losses = hist["train_loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert hist["val_accuracy"][-1] > 0.7
    for row in hist.epochs:
        assert set(row) >= {"epoch", "train_loss", "val_loss", "val_accuracy", "seconds", "lr"}
        assert row["seconds"] > 0
    assert hist.monitor == "val_accuracy" and hist.mode == "max"
    assert hist.best["val_accuracy"] == max(hist["val_accuracy"])


def test_best_val_weights_are_restored():
    train, val = tiny_digits()
    model = mlp()
    hist = fit(model, train, val, epochs=3, lr=3e-3, batch_size=32, progress=False, monitor="val_loss")
    assert hist.mode == "min"
    res = evaluate(model, val)
    assert res["loss"] == pytest.approx(hist.best["val_loss"], rel=1e-5)


def test_resume_continues_exactly(tmp_path):
    train, val = tiny_digits()
    straight = mlp()
    h_straight = fit(straight, train, val, epochs=4, lr=3e-3, batch_size=32, progress=False, restore_best=False,
                     schedule="onecycle")
    part = mlp()
    fit(part, train, val, epochs=2, lr=3e-3, batch_size=32, progress=False, checkpoint_dir=tmp_path,
        schedule="onecycle", restore_best=False)
    # the 2-epoch run has its own schedule length; resuming a 4-epoch run needs a 4-epoch start
    first = mlp()
    ck = tmp_path / "a"
    calls = []

    def stop_after_two_epochs(info):
        calls.append(info)
        if info["epoch"] == 3 and info["step"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(first, train, val, epochs=4, lr=3e-3, batch_size=32, progress=False, checkpoint_dir=ck,
            schedule="onecycle", restore_best=False, callback=stop_after_two_epochs)
    saved = torch.load(ck / "last.pt", weights_only=False)
    assert saved["epoch"] == 2
    assert [e["epoch"] for e in json.loads((ck / "metrics.json").read_text())["history"]["epochs"]] == [1, 2]
    resumed = mlp(seed=99)        # different init: everything must come from the checkpoint
    h_resumed = fit(resumed, train, val, epochs=4, lr=3e-3, batch_size=32, progress=False, checkpoint_dir=ck,
                    schedule="onecycle", resume=True, restore_best=False)
    assert [e["epoch"] for e in h_resumed.epochs] == [1, 2, 3, 4]
    assert h_resumed["train_loss"] == pytest.approx(h_straight["train_loss"], rel=1e-6)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)
    # resuming a finished run does no more work and keeps its history
    again = fit(mlp(), train, val, epochs=4, lr=3e-3, batch_size=32, progress=False, checkpoint_dir=ck, resume=True,
                schedule="onecycle", restore_best=False)
    assert len(again) == 4


class Bomb(nn.Module):
    """Raises KeyboardInterrupt on the Nth training batch: a Ctrl-C in the middle of an epoch."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.net = mlp()
        self.n, self.calls = n, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.n:
                raise KeyboardInterrupt
        return self.net(x)


def test_interrupt_mid_epoch_keeps_last_completed_checkpoint(tmp_path):
    train, val = tiny_digits()              # 320 images / 32 = 10 batches per epoch
    model = Bomb(n=25)                      # dies in the middle of epoch 3
    with pytest.raises(KeyboardInterrupt):
        fit(model, train, val, epochs=5, lr=3e-3, batch_size=32, progress=False, checkpoint_dir=tmp_path)
    ck = torch.load(tmp_path / "last.pt", weights_only=False)
    assert ck["epoch"] == 2 and len(ck["history"]["epochs"]) == 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["history"]["epochs"]] == [1, 2]
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]        # no half-written files left
    fresh = Bomb(n=-1)
    load_checkpoint(fresh, tmp_path / "last.pt", best=False)
    assert all(torch.equal(v, ck["model"][k]) for k, v in fresh.state_dict().items())
    # the weights of the interrupted epoch 3 were not saved: the checkpoint differs from the live model
    assert any(not torch.equal(v, ck["model"][k]) for k, v in model.state_dict().items())


class TinySegmenter(nn.Module):
    """Returns [final, side] logits like a deep-supervised decoder (side output at half size)."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, 1, 1)
        self.side = nn.Conv2d(8, 1, 1)

    def forward(self, x):
        f = self.enc(x)
        return [self.head(f), self.side(nn.functional.avg_pool2d(f, 2))]


def test_masks_deep_supervision_and_segmentation_metrics():
    tr = load_dataset("saliency", "train", n=96, size=32)
    va = load_dataset("saliency", "val", n=32, size=32)
    torch.manual_seed(0)
    model = TinySegmenter()
    hist = fit(model, tr, va, epochs=3, lr=1e-2, batch_size=16, progress=False,
               metrics=["iou", "mae", "boundary_f", "max_f", "s_measure"])
    assert hist.monitor == "val_iou"
    row = hist.epochs[-1]
    for key in ("val_iou", "val_mae", "val_boundary_f", "val_max_f", "val_s_measure"):
        assert 0 <= row[key] <= 1
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    res = evaluate(model, va, metrics=["iou"])
    assert set(res) == {"loss", "iou"}


def test_callable_loss_and_bad_metric():
    train, val = tiny_digits()
    seen = []

    def loss(out, y):
        seen.append(out.shape)
        return nn.functional.cross_entropy(out, y, label_smoothing=0.1)

    fit(mlp(), train, None, epochs=1, batch_size=64, progress=False, loss=loss)
    assert seen and seen[0] == (64, 10)
    with pytest.raises(ValueError, match="unknown metric"):
        fit(mlp(), train, val, epochs=1, progress=False, metrics=["acc"])
    with pytest.raises(ValueError, match="segment"):
        fit(mlp(), train, val, epochs=1, progress=False, metrics=["iou"])


# --- the models `fusion-course train` starts with ------------------------------------------------

def test_f3net_toy_is_the_printed_model():
    from fusion_course.models import F3NetToy, create_model, model_spec

    toy = F3NetToy()
    assert sum(p.numel() for p in toy.parameters()) == 203_978          # as the source article's code prints
    assert toy(torch.rand(2, 3, 8, 8)).shape == (2, 10)
    with pytest.raises(RuntimeError):                                   # fc = Linear(128*8*8, 10)
        toy(torch.rand(2, 3, 32, 32))
    # every conv has stride 1, so the "resize for fusion" interpolate changes nothing
    x = torch.rand(1, 3, 8, 8)
    f1 = torch.relu(toy.conv1(x))
    f3 = torch.relu(toy.conv3(torch.relu(toy.conv2(f1))))
    assert f1.shape[-2:] == f3.shape[-2:]
    assert torch.equal(nn.functional.interpolate(f1, size=f3.shape[2:]), f1)
    grey = create_model("f3net-toy", in_channels=1)
    assert grey.conv1.in_channels == 1 and grey(torch.rand(1, 1, 8, 8)).shape == (1, 10)
    spec = model_spec("f3net-toy")
    assert spec.image_sizes == (8,) and spec.default_dataset == "digits" and len(spec.levels) == 3


def test_fixed_toy_fuses_real_levels_at_any_size():
    from fusion_course.models import F3NetToyFixed, create_model

    for mode in ("concat", "sum", "none"):
        m = F3NetToyFixed(in_channels=1, fusion=mode)
        for size in (8, 13, 32):
            assert m(torch.rand(2, 1, size, size)).shape == (2, 10)
    m = F3NetToyFixed(in_channels=3)
    f1, f2, f3 = m.features(torch.rand(1, 3, 32, 32))
    assert f1.shape[-1] == 32 and f2.shape[-1] == 16 and f3.shape[-1] == 8     # a real pyramid
    # fusion is real: the finer level changes the output; with fusion="none" it cannot
    torch.manual_seed(0)
    fused, plain = F3NetToyFixed(fusion="concat"), F3NetToyFixed(fusion="none")
    x = torch.rand(1, 3, 16, 16)
    grads = {}
    for name, model in (("concat", fused), ("none", plain)):
        model.zero_grad()
        f1, f2, f3 = model.features(x)
        f1.retain_grad()
        # recompute the head from these features so the gradient w.r.t. f1 is visible
        size = f3.shape[-2:]
        if name == "none":
            out = model.fc(torch.relu(model.fusion(f3)).mean((2, 3)))
        else:
            cat = torch.cat([nn.functional.adaptive_avg_pool2d(f1, size), nn.functional.adaptive_avg_pool2d(f2, size), f3], 1)
            out = model.fc(torch.relu(model.fusion(cat)).mean((2, 3)))
        assert torch.allclose(out, model(x), atol=1e-6)
        out.sum().backward(retain_graph=True)
        grads[name] = f1.grad.abs().sum().item()
    assert grads["concat"] > grads["none"]          # conv1's map reaches the head directly only when fused
    assert create_model("f3net-toy-fixed", in_channels=1)(torch.rand(1, 1, 8, 8)).shape == (1, 10)
    with pytest.raises(ValueError, match="fusion"):
        F3NetToyFixed(fusion="add")


def test_baseline_has_no_fusion_and_trains():
    from fusion_course.models import SmallCNN, model_spec

    assert model_spec("baseline").levels == ()
    m = SmallCNN(in_channels=1)
    assert m(torch.rand(3, 1, 8, 8)).shape == (3, 10) and m(torch.rand(3, 1, 28, 28)).shape == (3, 10)
