"""`fusion-course bench fusion`: a tiny run lists every fusion operator with its numbers."""
from __future__ import annotations

import pytest

from fusion_course import cli
from fusion_course.commands import bench
from fusion_course.errors import UsageError
from fusion_course.fusion import available_fusions

TINY = ["--repeats", "2", "--warmup", "0", "--batch", "2", "--channels", "8", "--size", "8"]


def test_bench_fusion_table_lists_every_fusion(capsys):
    assert cli.main(["bench", "fusion", *TINY]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    names = {row[0] for row in rows if row}
    assert set(available_fusions()) <= names
    assert "a" in names and "plain" in out and "ref:" in out   # the baseline and reference rows
    for row in rows:
        if row and row[0] in available_fusions():
            float(row[-1]), float(row[-2]), float(row[-3]), float(row[-4])   # numbers in the timing columns
    assert "fwd+bwd ms" in out and "FLOPs / 2" in out


def test_bench_bad_input_is_a_usage_error(capsys):
    with pytest.raises(UsageError, match="fusion"):
        bench.main([])
    with pytest.raises(UsageError, match="invalid choice"):
        bench.main(["modelz"])
    with pytest.raises(UsageError, match="--repeats must be >= 1"):
        bench.main(["fusion", "--repeats", "0"])
    assert cli.main(["bench", "fusion", "--inputs", "1"]) == 2
    assert "--inputs must be >= 2" in capsys.readouterr().err


def test_bench_targets_are_an_extension_point():
    assert "fusion" in bench.BENCH_TARGETS
    assert isinstance(bench.BENCH_TARGETS["fusion"], bench.BenchTarget)
    assert bench.main(["fusion", "--help"]) == 0


def test_bench_train_step_is_the_one_training_benchmark(capsys):
    """`bench train-step` builds registry models; `python -m fusion_course.gpu_bench` is the same command."""
    from fusion_course import gpu_bench

    tiny = ["--modes", "eager-fp32", "--batch-size", "2", "--steps", "1", "--warmup", "0", "--image-size", "16",
            "--device", "cpu"]
    assert cli.main(["bench", "train-step", "--models", "baseline", *tiny]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "eager-fp32" in out and "img/s" in out
    assert gpu_bench.main(["--models", "seg-fpn", *tiny]) == 2
    assert "predicts masks" in capsys.readouterr().err
    assert gpu_bench.main(["--models", "baseline", "--width", "0.5", *tiny]) == 2
    assert "no width multiplier" in capsys.readouterr().err
