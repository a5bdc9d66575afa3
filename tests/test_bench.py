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
