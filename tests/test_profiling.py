"""fusion_course.profiling: parameter and multiply-add counts with known values; latency measurement."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from fusion_course.fusion import CFM, ConcatFusion, SumFusion, WeightedSumFusion
from fusion_course.profiling import count_macs, count_params, interleaved_latency, measure_latency, paired_overhead


def test_count_params():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 2))
    assert count_params(model) == (8 * 3 * 9 + 8) + 16 + (8 * 2 + 2)
    model[0].weight.requires_grad_(False)
    assert count_params(model, trainable_only=True) == 8 + 16 + 18
    assert count_params(CFM(64)) == 296_448


def test_count_macs_known_values():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_macs(conv, torch.randn(2, 3, 10, 12)) == 2 * 10 * 12 * 8 * 3 * 9
    assert count_macs(nn.Linear(10, 4), torch.randn(5, 10)) == 5 * 10 * 4
    # concat fusion: one 1x1 conv from Σ C_i to out, at the output size
    maps = [torch.randn(2, 8, 6, 6), torch.randn(2, 16, 3, 3)]
    assert count_macs(ConcatFusion([8, 16], 4), maps) == 2 * 6 * 6 * 24 * 4
    # element-wise work is not counted: a sum and a weighted sum cost 0 multiply-adds here
    same = [torch.randn(2, 8, 6, 6), torch.randn(2, 8, 6, 6)]
    assert count_macs(SumFusion([8, 8], 8), same) == 0
    assert count_macs(WeightedSumFusion([8, 8], 8, mode="fast"), same) == 0


def test_count_macs_unpacks_tuples_and_keeps_training_mode():
    cfm = CFM(8)
    before = cfm.h1[1].running_mean.clone()
    macs = count_macs(cfm, (torch.randn(2, 8, 8, 8), torch.randn(2, 8, 4, 4)))
    assert macs == 8 * (2 * 8 * 8 * 8 * 8 * 9)   # eight 3x3 convs at the low level's size
    assert cfm.training and torch.equal(cfm.h1[1].running_mean, before)


def test_measure_latency_reports_and_restores_threads():
    before = torch.get_num_threads()
    r = measure_latency(nn.Linear(16, 16), torch.randn(8, 16), warmup=1, repeats=5, threads=1)
    assert set(r) == {"median_ms", "p10_ms", "p90_ms", "repeats", "threads"}
    assert r["threads"] == 1 and r["repeats"] == 5
    assert 0 < r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]
    assert torch.get_num_threads() == before
    rb = measure_latency(nn.Linear(16, 16), torch.randn(8, 16, requires_grad=True), warmup=0, repeats=2, backward=True)
    assert rb["median_ms"] > 0
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(nn.Identity(), torch.zeros(1), repeats=0)


class _ThreadSpy(nn.Module):
    """Records torch's thread count at each call, so a test sees the count the measurement ran under."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[int] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.add(torch.get_num_threads())
        return x


@pytest.mark.parametrize("measure", ["interleaved", "paired"])
def test_interleaved_and_paired_run_under_the_given_threads_and_restore_them(measure):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        a, b = _ThreadSpy(), _ThreadSpy()
        if measure == "interleaved":
            interleaved_latency({"a": a, "b": b}, torch.zeros(1), budget_s=0.0, threads=1)
        else:
            paired_overhead(a, b, torch.zeros(1), budget_s=0.0, calls=1, n_boot=10, threads=1)
        assert a.seen == b.seen == {1}                  # warm-up and timed calls alike
        assert torch.get_num_threads() == 2             # restored
        c = _ThreadSpy()
        paired_overhead(c, c, torch.zeros(1), budget_s=0.0, calls=1, n_boot=10)
        assert c.seen == {2}                            # None: as set
        with pytest.raises(ValueError, match="threads"):
            interleaved_latency({"a": a}, torch.zeros(1), threads=0)
    finally:
        torch.set_num_threads(before)


def test_import_is_light():
    code = "import sys, fusion_course.profiling; print('torch.utils.flop_counter' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_interleaved_latency_stops_at_its_budget():
    import time

    import torch
    from fusion_course.profiling import interleaved_latency, paired_overhead

    models = {"a": torch.nn.Conv2d(4, 4, 3), "b": torch.nn.Conv2d(4, 8, 3)}
    start = time.perf_counter()
    lat = interleaved_latency(models, torch.randn(1, 4, 16, 16), budget_s=0.3, target=0.0)
    assert time.perf_counter() - start < 3.0
    assert set(lat) == {"a", "b"} and all(v["n"] >= 9 and v["p10_ms"] <= v["median_ms"] <= v["p90_ms"] for v in lat.values())
    o = paired_overhead(models["a"], models["a"], torch.randn(1, 4, 16, 16), budget_s=0.2)
    assert o["rounds"] >= 5 and o["p10"] <= o["overhead"] <= o["p90"]
