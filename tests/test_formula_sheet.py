"""docs/formulas.md agrees with the package: its cost formulas are executed and compared with PyTorch's counts.

The sheet's ``python`` block defines the formulas; this test runs them against ``count_params`` and
``count_macs`` on real layers (standard, grouped, depthwise, strided, 1×1, with and without bias), so an edit that
breaks a formula on the page fails here.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from fusion_course.profiling import count_macs, count_params

SHEET = Path(__file__).resolve().parent.parent / "docs" / "formulas.md"


def _sheet_formulas() -> dict:
    blocks = re.findall(r"```python\n(.*?)```", SHEET.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "the formula sheet has exactly one python block, the executable formulas"
    namespace: dict = {}
    exec(compile(blocks[0], str(SHEET), "exec"), namespace)   # noqa: S102 - the course's own page
    return namespace


F = _sheet_formulas()

CONVS = [  # (M, N, k, stride, groups, bias, H, W)
    (16, 32, 3, 1, 1, False, 12, 12),
    (8, 8, 3, 2, 8, False, 15, 9),        # depthwise, strided, odd non-square input
    (24, 48, 1, 1, 1, True, 7, 7),        # pointwise with bias
    (12, 18, 5, 1, 3, True, 10, 6),       # grouped
    (3, 16, 7, 2, 1, False, 32, 32),
]


@pytest.mark.parametrize("m, n, k, stride, groups, bias, h, w", CONVS)
def test_conv_params_and_macs_match_pytorch(m, n, k, stride, groups, bias, h, w):
    conv = nn.Conv2d(m, n, k, stride=stride, padding=k // 2, groups=groups, bias=bias)
    x = torch.randn(1, m, h, w)
    h_out, w_out = conv(x).shape[-2:]
    assert F["conv_params"](m, n, k, groups=groups, bias=bias) == count_params(conv)
    assert F["conv_macs"](m, n, k, h_out, w_out, groups=groups) == count_macs(conv, x)


def test_batchnorm_params_exclude_running_statistics():
    assert F["batchnorm_params"](24) == count_params(nn.BatchNorm2d(24))


@pytest.mark.parametrize("n, k", [(64, 3), (3, 5), (256, 1), (10, 7)])
def test_separable_ratio_matches_params_and_macs(n, k):
    m, size = 16, 14
    standard = nn.Conv2d(m, n, k, padding=k // 2, bias=False)
    separable = nn.Sequential(nn.Conv2d(m, m, k, padding=k // 2, groups=m, bias=False), nn.Conv2d(m, n, 1, bias=False))
    x = torch.randn(1, m, size, size)
    ratio = F["separable_ratio"](n, k)
    assert math.isclose(count_params(separable) / count_params(standard), ratio, rel_tol=1e-12)
    assert math.isclose(count_macs(separable, x) / count_macs(standard, x), ratio, rel_tol=1e-12)


def test_sheet_states_what_the_lessons_use():
    text = SHEET.read_text(encoding="utf-8")
    for needle in (r"f = h_2 \odot v_2", r"w_{ij} = 1 + 5", r"\mathcal{L}_\text{wIoU}", r"\frac{1}{N} + \frac{1}{D_k^2}",
                   r"t_{0.975,\; n-1}", "align_corners=False"):
        assert needle in text, needle
