"""Lesson 02 checks: the reference answers pass, and the usual mistakes are rejected with a teaching message."""
from __future__ import annotations

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


# ---------------------------------------------------------------- 2.2 accuracy from a confusion matrix
def accuracy_from_confusion(cm):
    return (cm.diagonal().sum() / cm.sum()).item()


def accuracy_mean_recall(cm):
    return (cm.diagonal().float() / cm.sum(1).clamp(min=1).float()).mean().item()


def accuracy_over_classes(cm):
    return cm.diagonal().sum().item() / cm.shape[0]


def accuracy_first_row(cm):
    return (cm[0, 0] / cm[0].sum()).item()


def accuracy_hard_coded(cm):
    return 0.9


def accuracy_count(cm):
    return cm.diagonal().sum().item()


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


def mistake_kinds_counts(pred, target, num_what):
    return [v * len(target) for v in mistake_kinds(pred, target, num_what)]


def mistake_kinds_right_or_wrong(pred, target, num_what):
    right = (pred == target).float().mean().item()
    return [right, 0.0, 0.0, 1 - right]


def mistake_kinds_three(pred, target, num_what):
    return mistake_kinds(pred, target, num_what)[:3]


REFERENCE = {"2.1": gated_fuse, "2.2": accuracy_from_confusion, "2.3": mistake_kinds}
WRONG = {
    "2.1": [gated_no_sigmoid, gated_swapped, gated_channel_broadcast, gated_same_gate_for_both, gated_in_place,
            gated_one_gate_for_batch],
    "2.2": [accuracy_mean_recall, accuracy_over_classes, accuracy_first_row, accuracy_hard_coded, accuracy_count],
    "2.3": [mistake_kinds_swapped_decode, mistake_kinds_counts, mistake_kinds_right_or_wrong, mistake_kinds_three],
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
    with pytest.raises(AssertionError, match="recall"):
        check("2.2", accuracy_mean_recall)
    with pytest.raises(AssertionError, match="swapped"):
        check("2.3", mistake_kinds_swapped_decode)
    with pytest.raises(AssertionError, match="add up to 1"):
        check("2.3", mistake_kinds_counts)


def test_unsolved_exercise_raises_not_implemented():
    def todo(*args):
        raise NotImplementedError("Exercise 2.x: not done")

    for ex in REFERENCE:
        with pytest.raises(NotImplementedError):
            check(ex, todo)


def test_numpy_and_tensor_results_are_accepted():
    check("2.2", lambda cm: cm.diagonal().sum() / cm.sum())                       # a 0-dim tensor
    check("2.3", lambda p, t, k: torch.tensor(mistake_kinds(p, t, k)))            # a tensor of 4
