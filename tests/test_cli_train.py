"""`fusion-course train`: the happy path tells the story and writes its files; bad input gets one clear message."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def train(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fusion_course", "train", *args], capture_output=True, text=True,
                          timeout=300, env=ENV, cwd=cwd)


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def train_inproc(capsys):
    """The same entry point as the console script, in this process (no interpreter start per case)."""
    from fusion_course.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(["train", *args])
        cap = capsys.readouterr()
        return Result(code, cap.out, cap.err)

    return run


def assert_usage_error(out: subprocess.CompletedProcess, *fragments: str) -> None:
    both = out.stdout + out.stderr
    assert out.returncode == 2, both
    assert "Traceback" not in both, both
    assert out.stderr.count("error:") == 1, out.stderr
    for fragment in fragments:
        assert fragment in out.stderr, (fragment, out.stderr)


@pytest.mark.slow
def test_happy_path_on_digits(tmp_path):
    out_dir = tmp_path / "run"
    out = train("f3net-toy", "--epochs", "1", "--out", str(out_dir), "--threads", "1")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "dataset digits: 1,797 images 1x8x8, 10 classes (train 1,257 / val 180 / test 360)" in text
    assert "203,402 parameters" in text                      # the printed toy with 1 input channel
    assert "edges ✔" in text and "textures ✔" in text and "shapes ✔" in text
    assert "epoch 1/1" in text and "val_accuracy" in text
    assert "test: " in text and "accuracy" in text
    assert str(out_dir / "last.pt") in text and str(out_dir / "metrics.json") in text
    assert "epoch 1/1" in out.stderr                         # the progress bar (tqdm writes to stderr)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["model"] == "f3net-toy" and metrics["dataset"] == "digits"
    assert 0.5 < metrics["test"]["accuracy"] <= 1
    assert len(metrics["history"]["epochs"]) == 1
    assert (out_dir / "last.pt").is_file() and (out_dir / "model.pt").is_file()
    # a second run into the same folder is refused unless it resumes
    again = train("f3net-toy", "--epochs", "1", "--out", str(out_dir))
    assert_usage_error(again, "--resume")
    resumed = train("f3net-toy", "--epochs", "2", "--out", str(out_dir), "--resume", "--no-progress", "--threads", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "epoch 2/2" in resumed.stdout
    assert len(json.loads((out_dir / "metrics.json").read_text())["history"]["epochs"]) == 2


def test_unknown_model_lists_models(tmp_path):
    out = train("f4net", "--out", str(tmp_path / "x"))
    assert_usage_error(out, "unknown model 'f4net'", "f3net-toy", "baseline")
    assert not (tmp_path / "x").exists()


def test_unknown_dataset_lists_datasets(tmp_path, train_inproc):
    out = train_inproc("baseline", "--dataset", "imagenet", "--out", str(tmp_path / "x"))
    assert_usage_error(out, "unknown dataset 'imagenet'", "digits", "texture-shapes")
    assert not (tmp_path / "x").exists()


def test_image_size_the_toy_cannot_take(tmp_path, train_inproc):
    out = train_inproc("f3net-toy", "--image-size", "32", "--out", str(tmp_path / "x"))
    assert_usage_error(out, "only takes 8x8", "--image-size 8")
    assert not (tmp_path / "x").exists()
    # the dataset's own size counts too: texture-shapes images are 64x64
    out = train_inproc("f3net-toy", "--dataset", "texture-shapes", "--out", str(tmp_path / "x"))
    assert_usage_error(out, "only takes 8x8")
    assert not (tmp_path / "x").exists()


def test_unwritable_out(tmp_path, train_inproc):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = train_inproc("baseline", "--out", str(blocker / "run"))
    assert_usage_error(out, "--out", "not writable")
    out = train_inproc("baseline", "--out", str(blocker))
    assert_usage_error(out, "not a folder")
    if hasattr(os, "geteuid") and os.geteuid() != 0:         # root ignores permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert_usage_error(train_inproc("baseline", "--out", str(locked / "run")), "not writable")


def test_missing_cifar_root(tmp_path, train_inproc):
    out = train_inproc("baseline", "--dataset", "cifar10", "--data-root", str(tmp_path / "nodata"), "--out",
                str(tmp_path / "x"))
    assert_usage_error(out, "CIFAR-10 not found", str(tmp_path / "nodata"), "--download", "digits")
    assert not (tmp_path / "x").exists() and not (tmp_path / "nodata").exists()


def test_bad_numbers_and_options(tmp_path, train_inproc):
    assert_usage_error(train_inproc("baseline", "--epochs", "0", "--out", str(tmp_path / "x")), "--epochs")
    assert_usage_error(train_inproc("baseline", "--epochs", "ten"), "invalid int value")
    assert_usage_error(train_inproc("baseline", "--data-root", str(tmp_path)), "CIFAR-10")
    assert_usage_error(train_inproc(), "no model given", "f3net-toy")
    assert_usage_error(train_inproc("baseline", "--weight-decay", "-1", "--out", str(tmp_path / "x")), "--weight-decay")
    assert not (tmp_path / "x").exists()


def test_augment_and_weight_decay_reach_the_training_run(tmp_path, train_inproc):
    out = train_inproc("baseline", "--epochs", "1", "--augment", "--optimizer", "sgd", "--lr", "0.05",
                       "--weight-decay", "5e-4", "--no-progress", "--threads", "1", "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "augmented (pad 4 + crop, flip)" in out.stdout
    config = json.loads((tmp_path / "r" / "metrics.json").read_text())["config"]
    assert config["augment"] is True and config["weight_decay"] == 5e-4


def test_out_on_a_file_system_that_refuses_writes(tmp_path, train_inproc):
    """`--out /proc/forbidden/x`: os.access says yes to root, /proc says no; one line, nothing left behind."""
    out = train_inproc("f3net-toy", "--out", "/proc/forbidden/x")
    assert_usage_error(out, "cannot create --out /proc/forbidden/x", "choose a folder you can write to")


def test_out_probe_leaves_nothing_behind(tmp_path, train_inproc):
    out = train_inproc("baseline", "--dataset", "cifar10", "--data-root", str(tmp_path / "nodata"), "--out",
                       str(tmp_path / "a" / "b" / "run"))
    assert_usage_error(out, "CIFAR-10 not found")
    assert not (tmp_path / "a").exists()


def test_the_feature_line_is_measured_not_ticked():
    """`train` ticks a level only after one image went through the layer that makes it."""
    import torch

    from fusion_course.commands.train import describe_levels
    from fusion_course.models import create_model, model_spec

    spec, image = model_spec("f3net-toy-fixed"), torch.rand(1, 16, 16)
    line = describe_levels(spec, create_model("f3net-toy-fixed", in_channels=1), image)
    assert line == "extracting features from one image: edges ✔ (32x16x16)  textures ✔ (64x8x8)  shapes ✔ (128x4x4)"
    unmeasured = describe_levels(model_spec("fusionnet"), create_model("fusionnet", width=0.125), torch.rand(3, 32, 32))
    assert "✔" not in unmeasured and "c1p" in unmeasured


@pytest.mark.parametrize("rank,probed", [("0", True), ("1", False)])
def test_under_torchrun_only_rank_0_probes_the_out_folder(tmp_path, monkeypatch, rank, probed):
    """Two ranks probing at once raced: one created the folder the other was removing (seen in a CI run)."""
    from fusion_course.commands import train as cmd

    calls = []
    monkeypatch.setattr(cmd, "probe_writable", calls.append)
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", "2")
    cmd.check_out_dir(tmp_path / "run", resume=False)
    assert calls == ([tmp_path / "run"] if probed else [])
    assert not (tmp_path / "run").exists()
    blocker = tmp_path / "a-file"                          # what needs no writing is checked on every rank
    blocker.write_text("")
    with pytest.raises(cmd.UsageError, match="not a folder"):
        cmd.check_out_dir(blocker, resume=False)
