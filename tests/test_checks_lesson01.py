"""Lesson 01 checks: the reference answers pass, and the usual mistakes are rejected with a teaching message."""
from __future__ import annotations

import math

import pytest
import torch

from fusion_course.checks import check
from fusion_course.checks.lesson01 import CHECKS

SIGMA = {"identity": lambda z: z, "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


# ---------------------------------------------------------------- 1.1 the formula
def fuse(maps, weights, activation):
    z = sum(weights[i] * f for i, f in enumerate(maps))
    return SIGMA[activation](z)


def fuse_no_activation(maps, weights, activation):
    return sum(weights[i] * f for i, f in enumerate(maps))


def fuse_three_maps_only(maps, weights, activation):
    return SIGMA[activation](weights[0] * maps[0] + weights[1] * maps[1] + weights[2] * maps[2])


def fuse_in_place(maps, weights, activation):
    for w, f in zip(weights, maps):
        f.mul_(w)
    return SIGMA[activation](sum(maps))


def fuse_mean(maps, weights, activation):
    return SIGMA[activation](sum(weights[i] * f for i, f in enumerate(maps)) / len(maps))


def fuse_activation_per_map(maps, weights, activation):
    return sum(weights[i] * SIGMA[activation](f) for i, f in enumerate(maps))


def fuse_sigma_per_term(maps, weights, activation):
    """The mistake issue 16 saw: σ(w_1·F_1) + … + σ(w_n·F_n)."""
    return sum(SIGMA[activation](weights[i] * f) for i, f in enumerate(maps))


def fuse_always_sigmoid(maps, weights, activation):
    return torch.sigmoid(sum(weights[i] * f for i, f in enumerate(maps)))


def fuse_stacked(maps, weights, activation):
    """A right answer written another way: stack the maps, weight them, sum over the new axis."""
    w = torch.as_tensor(weights, dtype=maps[0].dtype).view(-1, *[1] * maps[0].ndim)
    return SIGMA[activation]((torch.stack(maps) * w).sum(0))


# ---------------------------------------------------------------- 1.2 normalisation
def normalize(raw, how):
    if how == "softmax":
        return torch.softmax(raw, dim=0)
    w = torch.relu(raw)
    return w / (1e-4 + w.sum(dim=0))


def normalize_clamped(raw, how):
    """A right answer written another way: a max-shifted softmax, clamp instead of relu, ε added last."""
    if how == "softmax":
        e = torch.exp(raw - raw.max(dim=0, keepdim=True).values)
        return e / e.sum(dim=0)
    w = raw.clamp(min=0)
    return w / (w.sum(dim=0) + 1e-4)


def normalize_no_eps(raw, how):
    """The mistake issue 15 saw: fast normalisation without ε (0 / 0 when every raw weight is <= 0)."""
    if how == "softmax":
        return torch.softmax(raw, dim=0)
    w = torch.relu(raw)
    return w / w.sum(dim=0)


def normalize_swapped(raw, how):
    return normalize(raw, "fast" if how == "softmax" else "softmax")


def normalize_raw(raw, how):
    return raw


def normalize_no_relu(raw, how):
    return torch.softmax(raw, dim=0) if how == "softmax" else raw / (1e-4 + raw.sum(dim=0))


def normalize_naive_exp(raw, how):
    if how == "softmax":
        e = torch.exp(raw)
        return e / e.sum(dim=0)
    return normalize(raw, how)


def normalize_wrong_axis(raw, how):
    if how == "softmax":
        return torch.softmax(raw, dim=-1)
    w = torch.relu(raw)
    return w / (1e-4 + w.sum(dim=-1, keepdim=True))


def normalize_in_place(raw, how):
    if how == "softmax":
        return torch.softmax(raw, dim=0)
    w = raw.relu_()
    return w / (1e-4 + w.sum(dim=0))


# ---------------------------------------------------------------- 1.3 / 1.4 concatenation
def concat_channels(maps):
    return torch.cat(maps, dim=1)


def concat_batch(maps):
    return torch.cat(maps, dim=0)


def concat_width(maps):
    return torch.cat(maps, dim=-1)


def concat_stack(maps):
    return torch.stack(maps, dim=1)


def concat_shape(shapes):
    b, _, h, w = shapes[0]
    for s in shapes[1:]:
        if (s[0], s[2], s[3]) != (b, h, w):
            raise ValueError(f"cannot concatenate {s} with {shapes[0]} along channels")
    return (b, sum(s[1] for s in shapes), h, w)


def concat_shape_no_validation(shapes):
    b, _, h, w = shapes[0]
    return (b, sum(s[1] for s in shapes), h, w)


def concat_shape_first(shapes):
    return tuple(shapes[0])


def concat_shape_hard_coded(shapes):
    return (1, 5, 5, 7)


def concat_shape_sum_all(shapes):
    return tuple(sum(s[i] for s in shapes) for i in range(4))


# ---------------------------------------------------------------- 1.5 where the sigmoid saturates
def saturation_point(p):
    return math.log(p / (1 - p))


def saturation_point_tensor(p):
    return torch.logit(torch.tensor(p, dtype=torch.float64))


def saturation_point_p(p):
    return p


def saturation_point_sigmoid(p):
    return torch.sigmoid(torch.tensor(p)).item()


def saturation_point_log(p):
    return math.log(p)


def saturation_point_sign(p):
    return math.log((1 - p) / p)


def saturation_point_atanh(p):
    return math.atanh(p)


def saturation_point_fixed(p):
    return 4.6


REFERENCE = {"1.1": fuse, "1.2": normalize, "1.3": concat_channels, "1.4": concat_shape, "1.5": saturation_point}
ALSO_RIGHT = {"1.1": [fuse_stacked], "1.2": [normalize_clamped], "1.5": [saturation_point_tensor]}
WRONG = {
    "1.1": [fuse_no_activation, fuse_three_maps_only, fuse_in_place, fuse_mean, fuse_activation_per_map,
            fuse_sigma_per_term, fuse_always_sigmoid],
    "1.2": [normalize_raw, normalize_no_relu, normalize_naive_exp, normalize_wrong_axis, normalize_in_place,
            normalize_no_eps, normalize_swapped],
    "1.3": [concat_batch, concat_width, concat_stack],
    "1.4": [concat_shape_no_validation, concat_shape_first, concat_shape_hard_coded, concat_shape_sum_all],
    "1.5": [saturation_point_p, saturation_point_sigmoid, saturation_point_log, saturation_point_sign,
            saturation_point_atanh, saturation_point_fixed],
}


@pytest.mark.parametrize("wrong, words", [
    (saturation_point_p, "instead of σ"), (saturation_point_sigmoid, "not inverted"),
    (saturation_point_log, "1 − p part"), (saturation_point_sign, "wrong sign"), (saturation_point_atanh, "tanh"),
])
def test_saturation_mistakes_are_named(wrong, words):
    with pytest.raises(AssertionError, match=words):
        check("1.5", wrong)


def test_every_check_is_covered():
    assert set(CHECKS) == set(REFERENCE) == set(WRONG)


@pytest.mark.parametrize("exercise", sorted(REFERENCE))
def test_reference_passes(exercise, capsys):
    check(exercise, REFERENCE[exercise])
    assert f"Exercise {exercise} passed" in capsys.readouterr().out


@pytest.mark.parametrize("exercise, right", [(ex, fn) for ex, fns in ALSO_RIGHT.items() for fn in fns],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_other_right_answers_pass(exercise, right, capsys):
    check(exercise, right)
    assert f"Exercise {exercise} passed" in capsys.readouterr().out


@pytest.mark.parametrize("exercise, wrong", [(ex, fn) for ex, fns in WRONG.items() for fn in fns],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_wrong_answer_is_rejected(exercise, wrong):
    with pytest.raises(AssertionError, match=rf"Exercise {exercise}:"):
        check(exercise, wrong)


def test_specific_messages():
    with pytest.raises(AssertionError, match="no activation"):
        check("1.1", fuse_no_activation)
    with pytest.raises(AssertionError, match="in place"):
        check("1.1", fuse_in_place)
    with pytest.raises(AssertionError, match="inf|overflow"):
        check("1.2", normalize_naive_exp)
    with pytest.raises(AssertionError, match="dim=0"):
        check("1.2", normalize_wrong_axis)
    with pytest.raises(AssertionError, match="stack"):
        check("1.3", concat_stack)
    with pytest.raises(AssertionError, match="ValueError"):
        check("1.4", concat_shape_no_validation)


@pytest.mark.parametrize("wrong, words", [
    (fuse_sigma_per_term, "each term before summing"),
    (fuse_activation_per_map, "each map before weighting"),
    (fuse_mean, "divided by the number of maps"),
    (fuse_always_sigmoid, "the `activation` argument names"),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_misplaced_sigma_gets_its_own_diagnosis(wrong, words):
    with pytest.raises(AssertionError, match=words):
        check("1.1", wrong)


def test_forgetting_eps_is_diagnosed_as_such():
    """Issue 15: a fast normalisation without ε used to be reported as 'the raw weights unchanged'."""
    with pytest.raises(AssertionError) as info:
        check("1.2", normalize_no_eps)
    msg = str(info.value)
    assert "ε" in msg and "0 / 0" in msg and "unchanged" not in msg


def test_other_normalise_mistakes_are_named():
    with pytest.raises(AssertionError, match="without relu"):
        check("1.2", normalize_no_relu)
    with pytest.raises(AssertionError, match="look at `how`"):
        check("1.2", normalize_swapped)
    with pytest.raises(AssertionError, match="raw weights unchanged"):
        check("1.2", normalize_raw)


def test_unsolved_exercise_raises_not_implemented():
    def todo(*args):
        raise NotImplementedError("Exercise 1.1: implement the formula")

    for ex in REFERENCE:
        with pytest.raises(NotImplementedError):
            check(ex, todo)


def test_a_non_callable_answer_is_explained():
    with pytest.raises(AssertionError, match="callable"):
        check("1.1", torch.zeros(3))
