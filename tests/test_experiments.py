"""The lessons' experiments at toy scale, and `fusion-course experiment`'s files and errors."""
import json
import subprocess
import sys

import pytest
import torch

from fusion_course.experiments import f3net_ablation as fa
from fusion_course.experiments import fusion_helps as fh
from fusion_course.experiments import fusionnet_ablation as fna
from fusion_course.experiments import mobilenet_fusion as mf


def test_constant_mask_baseline_ignores_the_image():
    cfg = fh.SegConfig(size=32, n_train=64, n_val=32, n_test=32, epochs=1)
    data = fh.load_data(cfg)
    base = fh.constant_mask_baseline(data)
    assert 0 <= base["threshold"] < 1 and 0 <= base["iou"] <= 1
    # The same prediction for every image: scrambling the test images cannot change it.
    assert fh.constant_mask_baseline(data) == base


def test_train_decoder_returns_test_scores_and_a_model():
    cfg = fh.SegConfig(size=32, n_train=32, n_val=16, n_test=16, epochs=1, budget=130_000)
    scores, net = fh.train_decoder("sum", 0, fh.load_data(cfg), cfg, progress=False)
    assert set(scores) == {"iou", "boundary_f", "best_epoch", "seconds"} and not net.training
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 32, 32)


def test_f3net_variants_change_one_thing_each():
    base = fa.VARIANTS["CFM"]
    for name, spec in fa.VARIANTS.items():
        assert sum(x != y for x, y in zip(spec, base)) <= 1, name
    wide, feedback = (sum(p.numel() for p in fa.build(n, 0).parameters()) for n in ("CFM, wider", "CFM + feedback"))
    assert abs(wide - feedback) / feedback < 0.05     # the control matches the feedback decoder's size


def test_mobilenet_baseline_is_chance_on_balanced_classes():
    data = mf.load_data(mf.MobConfig(n_train=12, n_test=60))
    assert mf.baseline(data)["accuracy"] == pytest.approx(1 / 6, abs=0.05)


def test_fusionnet_task_needs_both_halves_and_baselines_stay_near_chance():
    cfg = fna.Config(n_train=240, n_val=24, n_test=240, epochs=1)
    data = fna.load_data(cfg)
    assert data["train"].num_classes == 12 and tuple(data["train"][0][0].shape) == (1, 32, 32)
    base = fna.baseline(data)
    assert base["accuracy"] < 0.15 and base["logreg_accuracy"] < 0.25     # chance is 1/12
    # The plain CNN is a fair control: within 5 % of the FusionNet variants' parameter count.
    plain = sum(p.numel() for p in fna.build_model("plain CNN", 12, cfg).parameters())
    normalized = sum(p.numel() for p in fna.build_model("normalized", 12, cfg).parameters())
    assert abs(plain - normalized) / normalized < 0.05
    scores, model = fna.train("no fusion (b3 only)", 0, data, cfg, progress=False)
    assert set(scores) == {"val_accuracy", "accuracy", "seconds"} and not model.training


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fusion_course", "experiment", *args], capture_output=True,
                          text=True, cwd=cwd)


@pytest.mark.slow
def test_experiment_command_writes_results_with_provenance(tmp_path):
    out = tmp_path / "r.json"
    proc = _cli("fusion-helps", "--seeds", "1", "--only", "deep", "--set", "size=32", "--set", "n_train=32",
                "--set", "n_val=16", "--set", "n_test=16", "--set", "epochs=1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["config"]["size"] == 32 and [r["model"] for r in doc["runs"]] == ["deep"]
    assert {"command", "date", "versions", "hardware"} <= set(doc["provenance"])


@pytest.mark.parametrize("args", [["fusion-helps", "--only", "nope"], ["fusion-helps", "--set", "size"],
                                  ["fusion-helps", "--set", "colour=3"], ["fusion-helps", "--seeds", "0"],
                                  ["fusion-helps", "--out", "/proc/nope/r.json"]])
def test_experiment_command_bad_input_is_one_line(args):
    proc = _cli(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_results_files_match_the_lessons_configs():
    import dataclasses
    from pathlib import Path

    results = Path(__file__).resolve().parent.parent / "docs" / "results"
    assert json.loads((results / "fusion_helps.json").read_text())["config"] == dataclasses.asdict(fh.SegConfig())
    assert json.loads((results / "f3net_ablation.json").read_text())["config"] == dataclasses.asdict(fa.SalConfig())
    for res in (64, 96):
        cfg = json.loads((results / f"mobilenet_fusion_{res}px.json").read_text())["config"]
        assert cfg == dataclasses.asdict(mf.MobConfig(size=res))
    doc = json.loads((results / "fusionnet_ablation.json").read_text())
    assert doc["config"] == dataclasses.asdict(fna.Config())
    assert {(r["model"], r["seed"]) for r in doc["runs"]} == {(m, s) for m in fna.NAMES for s in range(5)}
    wide = json.loads((results / "fusionnet_ablation_width0.25.json").read_text())
    assert wide["config"] == dataclasses.asdict(fna.Config(width=0.25))
