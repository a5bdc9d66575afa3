"""Lesson 02 checks: the reference answers pass, and the usual mistakes are rejected with a teaching message."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fusion_course.checks import check
from fusion_course.checks.lesson02 import CHECKS


# ---------------------------------------------------------------- 2.1 gated fusion
def gated_fuse(a, b, gate_logits):
    g = torch.sigmoid(gate_logits).view(-1, 1, 1, 1)     # (B,) -> (B, 1, 1, 1)
    return g * a + (1 - g) * b


def gated_no_sigmoid(a, b, gate_logits):
    g = gate_logits.view(-1, 1, 1, 1)
    return g * a + (1 - g) * b


def gated_swapped(a, b, gate_logits):
    g = torch.sigmoid(gate_logits).view(-1, 1, 1, 1)
    return (1 - g) * a + g * b


def gated_channel_broadcast(a, b, gate_logits):
    g = torch.sigmoid(gate_logits).view(1, -1, 1, 1)     # the batch-mixing bug: B gates spread over channels
    return g * a + (1 - g) * b


def gated_same_gate_for_both(a, b, gate_logits):
    g = torch.sigmoid(gate_logits).view(-1, 1, 1, 1)
    return g * a + g * b


def gated_in_place(a, b, gate_logits):
    g = torch.sigmoid(gate_logits).view(-1, 1, 1, 1)
    return a.mul_(g).add_((1 - g) * b)


def gated_one_gate_for_batch(a, b, gate_logits):
    g = torch.sigmoid(gate_logits.mean())
    return g * a + (1 - g) * b


# ---------------------------------------------------------------- 2.2 the paired interval
def paired_interval(x, y):
    from fusion_course.stats import t_quantile
    d = [a - b for a, b in zip(x, y)]
    n = len(d)
    mean = sum(d) / n
    half = t_quantile(0.975, n - 1) * (sum((v - mean) ** 2 for v in d) / (n - 1)) ** 0.5 / n ** 0.5
    return mean, mean - half, mean + half


def interval_unpaired(x, y):
    from fusion_course.stats import t_quantile
    n = len(x)
    t = t_quantile(0.975, n - 1)
    mx, my = np.mean(x), np.mean(y)
    half = t * np.sqrt(np.var(x, ddof=1) / n + np.var(y, ddof=1) / n)
    return mx - my, mx - my - half, mx - my + half


def interval_ddof0(x, y):
    from fusion_course.stats import t_quantile
    d = np.subtract(x, y)
    half = t_quantile(0.975, len(d) - 1) * d.std() / np.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def interval_normal(x, y):
    d = np.subtract(x, y)
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def interval_over_n(x, y):
    from fusion_course.stats import t_quantile
    d = np.subtract(x, y)
    half = t_quantile(0.975, len(d) - 1) * d.std(ddof=1) / len(d)
    return d.mean(), d.mean() - half, d.mean() + half


def interval_mean_only(x, y):
    d = np.subtract(x, y)
    return d.mean(), d.mean(), d.mean()


def interval_with_compare(x, y):
    """A right answer written another way: the course's own compare."""
    from fusion_course.stats import compare
    c = compare(x, y)
    return c.diff, c.low, c.high


# ---------------------------------------------------------------- 2.3 kinds of mistakes
def mistake_kinds(pred, target, num_what):
    p_where, p_what = pred // num_what, pred % num_what
    t_where, t_what = target // num_what, target % num_what
    ok_where, ok_what = p_where == t_where, p_what == t_what
    n = len(target)
    return [(ok_where & ok_what).sum().item() / n, (~ok_where & ok_what).sum().item() / n,
            (ok_where & ~ok_what).sum().item() / n, (~ok_where & ~ok_what).sum().item() / n]


def mistake_kinds_swapped_decode(pred, target, num_what):
    return mistake_kinds(pred % num_what * num_what + pred // num_what, target % num_what * num_what + target // num_what,
                         num_what)


def mistake_kinds_middle_swapped(pred, target, num_what):
    both, place, digit, neither = mistake_kinds(pred, target, num_what)
    return [both, digit, place, neither]


def mistake_kinds_counts(pred, target, num_what):
    return [v * len(target) for v in mistake_kinds(pred, target, num_what)]


def mistake_kinds_right_or_wrong(pred, target, num_what):
    right = (pred == target).float().mean().item()
    return [right, 0.0, 0.0, 1 - right]


def mistake_kinds_three(pred, target, num_what):
    return mistake_kinds(pred, target, num_what)[:3]


REFERENCE = {"2.1": gated_fuse, "2.2": paired_interval, "2.3": mistake_kinds}
WRONG = {
    "2.1": [gated_no_sigmoid, gated_swapped, gated_channel_broadcast, gated_same_gate_for_both, gated_in_place,
            gated_one_gate_for_batch],
    "2.2": [interval_unpaired, interval_ddof0, interval_normal, interval_over_n, interval_mean_only],
    "2.3": [mistake_kinds_swapped_decode, mistake_kinds_middle_swapped, mistake_kinds_counts, mistake_kinds_right_or_wrong, mistake_kinds_three],
}


def test_every_check_is_covered():
    assert set(CHECKS) == set(REFERENCE) == set(WRONG)


@pytest.mark.parametrize("exercise", sorted(REFERENCE))
def test_reference_passes(exercise, capsys):
    check(exercise, REFERENCE[exercise])
    assert f"Exercise {exercise} passed" in capsys.readouterr().out


@pytest.mark.parametrize("exercise, wrong", [(ex, fn) for ex, fns in WRONG.items() for fn in fns],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_wrong_answer_is_rejected(exercise, wrong):
    with pytest.raises(AssertionError, match=rf"Exercise {exercise}:"):
        check(exercise, wrong)


def test_specific_messages():
    with pytest.raises(AssertionError, match="sigmoid"):
        check("2.1", gated_no_sigmoid)
    with pytest.raises(AssertionError, match="swapped"):
        check("2.1", gated_swapped)
    with pytest.raises(AssertionError, match="in place"):
        check("2.1", gated_in_place)
    for wrong, words in [(interval_unpaired, "unpaired"), (interval_ddof0, "ddof=0"), (interval_normal, "1.96"),
                         (interval_over_n, "instead of √n")]:
        with pytest.raises(AssertionError, match=words):
            check("2.2", wrong)
    # Issue 24: a wrong decoding and a wrong order give the same numbers, so the message names both.
    for wrong in (mistake_kinds_swapped_decode, mistake_kinds_middle_swapped):
        with pytest.raises(AssertionError, match="shares are in the wrong order, or place and digit are decoded"):
            check("2.3", wrong)
    with pytest.raises(AssertionError, match="add up to 1"):
        check("2.3", mistake_kinds_counts)


def test_unsolved_exercise_raises_not_implemented():
    def todo(*args):
        raise NotImplementedError("Exercise 2.x: not done")

    for ex in REFERENCE:
        with pytest.raises(NotImplementedError):
            check(ex, todo)


def test_numpy_and_tensor_results_are_accepted():
    check("2.2", interval_with_compare)
    check("2.2", lambda x, y: torch.tensor(paired_interval(x, y)))               # a tensor of 3
    check("2.2", lambda x, y: np.array(paired_interval(x, y)))                   # a NumPy array
    check("2.3", lambda p, t, k: torch.tensor(mistake_kinds(p, t, k)))            # a tensor of 4
