"""DistributedDataParallel on CPU: two gloo processes end with identical weights and single-process metrics."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent('''
    import json, os, sys
    import torch
    from torch import nn
    from fusion_course.data import load_dataset
    from fusion_course.train import fit, evaluate, rank

    torch.set_num_threads(1)
    out = sys.argv[1]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    tr, va = load_dataset("digits", "train"), load_dataset("digits", "val")
    hist = fit(model, tr, va, epochs=3, batch_size=64, lr=5e-3, progress=False, seed=0,
               checkpoint_dir=os.path.join(out, "ck"))
    test = evaluate(model, load_dataset("digits", "test"))              # shards over ranks, sums reduced
    test_local = evaluate(model, load_dataset("digits", "test"), distributed=False)   # the whole set here
    r = rank()
    torch.save(model.state_dict(), os.path.join(out, f"weights{r}.pt"))
    with open(os.path.join(out, f"result{r}.json"), "w") as f:
        json.dump({"history": hist.epochs, "test": test, "test_local": test_local,
                   "world": int(os.environ.get("WORLD_SIZE", 1))}, f)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
''')


def run(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(args, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)


@pytest.mark.slow
def test_two_gloo_processes_match_each_other_and_one_process(tmp_path):
    script = tmp_path / "ddp_fit.py"
    script.write_text(SCRIPT)
    (tmp_path / "ddp").mkdir()
    (tmp_path / "single").mkdir()
    ddp = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
               str(tmp_path / "ddp")], tmp_path)
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr
    single = run([sys.executable, str(script), str(tmp_path / "single")], tmp_path)
    assert single.returncode == 0, single.stderr

    w0 = torch.load(tmp_path / "ddp" / "weights0.pt")
    w1 = torch.load(tmp_path / "ddp" / "weights1.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0), "the two ranks ended with different weights"
    r0 = json.loads((tmp_path / "ddp" / "result0.json").read_text())
    r1 = json.loads((tmp_path / "ddp" / "result1.json").read_text())
    s = json.loads((tmp_path / "single" / "result0.json").read_text())
    assert r0["world"] == 2 and s["world"] == 1
    # every rank reports the same (all-reduced) numbers
    strip = lambda hist: [{k: v for k, v in e.items() if k != "seconds"} for e in hist]
    assert strip(r0["history"]) == strip(r1["history"])
    # a sharded evaluation (each rank half the images, sums all-reduced) equals evaluating the whole set
    assert r0["test"]["accuracy"] == pytest.approx(r0["test_local"]["accuracy"], abs=1e-12)
    assert r0["test"]["loss"] == pytest.approx(r0["test_local"]["loss"], rel=1e-6)
    last, ref = r0["history"][-1], s["history"][-1]
    # Same global batch and steps, different shuffling (DistributedSampler): close, not identical.
    assert abs(last["val_accuracy"] - ref["val_accuracy"]) < 0.05, (last, ref)
    assert abs(last["train_loss"] - ref["train_loss"]) < 0.25 * ref["train_loss"] + 0.02, (last, ref)
    assert abs(r0["test"]["accuracy"] - s["test"]["accuracy"]) < 0.05
    assert r0["test"] == r1["test"]
    # only rank 0 wrote the checkpoint
    ck = torch.load(tmp_path / "ddp" / "ck" / "last.pt", weights_only=False)
    assert ck["epoch"] == 3
    assert not [p for p in (tmp_path / "ddp" / "ck").iterdir() if ".tmp" in p.name]


@pytest.mark.slow
def test_cli_under_torchrun_prints_and_writes_once(tmp_path):
    import shutil
    from pathlib import Path

    # The console script of the environment running the tests (a venv's python run without activating the
    # venv finds another environment's script on PATH first), else the one on PATH.
    beside = Path(sys.executable).with_name("fusion-course")
    exe = str(beside) if beside.exists() else shutil.which("fusion-course")
    assert exe, "the console script is not installed"
    out_dir = tmp_path / "run"
    res = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", exe, "train",
               "baseline", "--epochs", "1", "--no-progress", "--threads", "1", "--out", str(out_dir)], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("dataset digits:") == 1              # only rank 0 tells the story
    assert "x 2 processes (DDP)" in res.stdout
    assert res.stdout.count("test: ") == 1
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and len(metrics["history"]["epochs"]) == 1
    assert sorted(p.name for p in out_dir.iterdir()) == ["last.pt", "metrics.json", "model.pt"]
