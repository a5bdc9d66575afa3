"""docs/operators.md: the one-page operator summary states parameter counts that the modules really have.

Each row's parameter formula is written in the page as plain arithmetic (``Π + n·C``). This test reads that text
from the page, evaluates it for three configurations (unequal and equal channel counts, 2 to 4 inputs) and
compares it with ``fusion_course.profiling.count_params`` of the module the row names.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torchvision

from fusion_course.fusion import FPN, BiFPNLayer, create_fusion
from fusion_course.profiling import count_params

PAGE = Path(__file__).resolve().parents[1] / "docs" / "operators.md"
CONFIGS = [([16, 32, 64], 32), ([8, 8], 8), ([24, 40, 80, 112], 48)]

# row label in the page -> how to build the module for (in_channels, C)
BUILD = {
    "concat + 1×1": lambda ins, c: create_fusion("concat", ins, c),
    "sum": lambda ins, c: create_fusion("sum", ins, c),
    "weighted, softmax": lambda ins, c: create_fusion("weighted", ins, c, mode="softmax"),
    "weighted, fast": lambda ins, c: create_fusion("weighted", ins, c, mode="fast"),
    "gated, sigmoid": lambda ins, c: create_fusion("gated", ins, c),
    "squeeze-and-excitation": lambda ins, c: torchvision.ops.SqueezeExcitation(c, max(c // 4, 1)),
    "selective kernel": lambda ins, c: create_fusion("attention", ins, c),
    "attentional feature fusion": lambda ins, c: create_fusion("aff", ins, c),
    "FPN": lambda ins, c: FPN(ins, c),
    "BiFPN layer": lambda ins, c: BiFPNLayer(ins, c),
}


def rows() -> dict[str, str]:
    """Row label -> the parameters column's code spans joined (``Π + n·C``, ``d = max(C // 4, 8)``)."""
    out = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("| ") else []
        if len(cells) == 6 and not cells[0].startswith(("operator", "---")):
            label = cells[0].split(" (")[0]
            out[label] = cells[2]
    return out


def evaluate(formula: str, ins: list[int], c: int) -> int:
    """Evaluate the page's formula text: code spans are statements; the first is the count, the others define names."""
    spans = re.findall(r"`([^`]+)`", formula)
    assert spans, f"no formula in {formula!r}"
    n = len(ins)
    names = {"n": n, "C": c, "max": max, "s": max(c // 4, 1),
             "Π": sum((ci + 1) * c for ci in ins if ci != c), "ΣC_i": sum(ins)}
    python = lambda text: (text.replace("·", "*").replace("−", "-").replace("²", "**2")  # noqa: E731
                           .replace("Σ(C_i + 1)", "sum_ci_plus_1").replace("ΣC_i", "sum_ci"))
    names.update(sum_ci=sum(ins), sum_ci_plus_1=sum(ci + 1 for ci in ins))
    for definition in spans[1:]:
        key, value = definition.split("=", 1)
        names[key.strip()] = eval(python(value), {}, names)          # noqa: S307 (the page's own arithmetic)
    return int(eval(python(spans[0]), {}, names))                     # noqa: S307


def test_every_operator_of_the_page_is_checked():
    assert set(rows()) == set(BUILD), set(rows()) ^ set(BUILD)


@pytest.mark.parametrize("label", sorted(BUILD))
@pytest.mark.parametrize("ins, c", CONFIGS, ids=lambda v: str(v))
def test_parameter_formula_matches_count_params(label, ins, c):
    formula = rows()[label]
    assert evaluate(formula, ins, c) == count_params(BUILD[label](ins, c)), (label, formula, ins, c)


def test_a_wrong_formula_is_caught():
    assert evaluate("`Π + n`", [16, 32, 64], 32) == 2627
    assert evaluate("`Π + n`", [16, 32, 64], 32) != count_params(create_fusion("gated", [16, 32, 64], 32))


def test_linked_from_lesson_04_and_the_readme():
    root = PAGE.parents[1]
    assert "../docs/operators.md" in (root / "notebooks" / "04_multilevel_fusion.ipynb").read_text(encoding="utf-8")
    assert "docs/operators.md" in (root / "README.md").read_text(encoding="utf-8")
