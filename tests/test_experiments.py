"""The lessons' experiments at toy scale, and `fusion-course experiment`'s files and errors."""
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

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


def _asdict(cfg):
    return json.loads(json.dumps(dataclasses.asdict(cfg)))      # tuples as JSON lists, as in the files


def _recorded(doc, cfg):
    """A file's config with the fields it predates filled by their defaults (configs gain fields over time)."""
    return {**_asdict(type(cfg)()), **doc["config"]}


RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"


def test_results_files_match_the_lessons_configs():
    load = lambda name: json.loads((RESULTS / f"{name}.json").read_text())      # noqa: E731
    assert _recorded(load("fusion_helps"), fh.SegConfig()) == _asdict(fh.SegConfig())
    assert _recorded(load("f3net_ablation"), fa.SalConfig()) == _asdict(fa.SalConfig())
    for res in (64, 96):
        doc = load(f"mobilenet_fusion_{res}px")
        assert _recorded(doc, mf.MobConfig()) == _asdict(mf.MobConfig(size=res))
    doc = load("fusionnet_ablation")
    assert _recorded(doc, fna.Config()) == _asdict(fna.Config())
    assert {(r["model"], r["seed"]) for r in doc["runs"]} == {(m, s) for m in fna.NAMES for s in range(5)}
    wide = load("fusionnet_ablation_width0.25")
    assert _recorded(wide, fna.Config()) == _asdict(fna.Config(width=0.25))


def _full_config(name):
    from fusion_course.experiments import fusionnet_control as fc

    return {"fusion_helps_full": fh.FULL, "f3net_ablation_full": fa.FULL, "mobilenet_fusion_64px_full": mf.FULL,
            "mobilenet_fusion_96px_full": dataclasses.replace(mf.FULL, size=96),
            "fusionnet_ablation_full": fna.FULL, "fusionnet_control_full": fc.FULL,
            "fusionnet_nofusion_width0.5_full": dataclasses.replace(fna.FULL, width=0.5),
            "fusionnet_nofusion_width1.0_full": dataclasses.replace(fna.FULL, width=1.0)}[name]


FULL_FILES = ["fusion_helps_full", "f3net_ablation_full", "mobilenet_fusion_64px_full", "mobilenet_fusion_96px_full",
              "fusionnet_ablation_full", "fusionnet_control_full"]
LR_GRIDS = {"fusion_helps": fh.LR_GRID, "f3net": fa.LR_GRID, "mobilenet": mf.LR_GRID, "fusionnet": fna.LR_GRID}


@pytest.mark.parametrize("name", FULL_FILES + ["fusionnet_nofusion_width0.5_full", "fusionnet_nofusion_width1.0_full"])
def test_full_scale_files_were_made_at_full_scale_and_trained_to_a_plateau(name):
    from fusion_course.experiments import results as res

    doc = res.load(name)
    assert doc["scale"] == "full" and doc["config"] == _asdict(_full_config(name))
    grid = next(g for prefix, g in LR_GRIDS.items() if name.startswith(prefix))
    assert set(doc["chosen_lr"].values()) <= set(grid)
    assert doc["tune_seed"] not in {r["seed"] for r in doc["runs"]}           # tuning never reuses a reported seed
    for r in doc["runs"]:
        assert r["lr"] == doc["chosen_lr"][r["model"]] and len(r["curve"]) == r["epochs"]
        best = max(r["curve"]) if doc["higher_is_better"] else min(r["curve"])
        assert r["curve"][r["best_epoch"] - 1] == best                          # the kept epoch is the best one
    assert res.plateau(doc)["share"] >= 0.8
    # The file says which runs it lacks; a complete one has every model on every seed.
    done = {(r["model"], r["seed"]) for r in doc["runs"]}
    assert doc["complete"] == (not doc["missing"]) and len(done) == len(doc["runs"])


@pytest.mark.parametrize("name", FULL_FILES)
def test_full_scale_files_are_complete_with_five_seeds_per_model(name):
    from fusion_course.experiments import results as res

    doc = res.load(name)
    assert doc["complete"] and not doc["missing"]
    seeds = {}
    for r in doc["runs"]:
        seeds.setdefault(r["model"], set()).add(r["seed"])
    assert all(s == set(range(5)) for s in seeds.values()), seeds
    assert doc["provenance"]["hardware"].get("gpu") and doc["provenance"]["gpu_minutes"] > 0


@pytest.mark.slow
def test_full_scale_command_tunes_then_trains_and_resumes(tmp_path):
    out = tmp_path / "full.json"
    small = ["--set", "size=32", "--set", "n_train=32", "--set", "n_val=16", "--set", "n_test=16",
             "--set", "epochs=2", "--set", "patience=1"]
    proc = _cli("fusion-helps", "--scale", "full", "--seeds", "1", "--only", "deep", *small, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert [t["lr"] for t in doc["tuning"]] == list(fh.LR_GRID) and {t["seed"] for t in doc["tuning"]} == {1000}
    assert doc["complete"] and [(r["model"], r["seed"]) for r in doc["runs"]] == [("deep", 0)]
    assert doc["runs"][0]["lr"] == doc["chosen_lr"]["deep"] and doc["runs"][0]["epochs"] <= 2
    # --resume with one more seed trains only the missing run and keeps the tuning.
    proc = _cli("fusion-helps", "--scale", "full", "--seeds", "2", "--only", "deep", *small, "--out", str(out),
                "--resume")
    assert proc.returncode == 0, proc.stderr
    doc2 = json.loads(out.read_text())
    assert doc2["tuning"] == doc["tuning"] and [r["seed"] for r in doc2["runs"]] == [0, 1]
    assert doc2["runs"][0] == doc["runs"][0]


def test_fit_stops_at_a_plateau():
    from fusion_course.data import load_dataset
    from fusion_course.train import fit

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    hist = fit(model, load_dataset("digits", "train"), load_dataset("digits", "val"), epochs=200, lr=0.05,
               progress=False, patience=3)
    assert hist.stopped_early and len(hist) < 200
    assert len(hist) - hist.best["epoch"] == 3          # exactly `patience` epochs without a better val score
    with pytest.raises(ValueError):
        fit(model, load_dataset("digits", "train"), epochs=2, patience=3, progress=False)   # no val data
