"""Input validation shared by every fusion operator.

A fusion module sees a list of feature maps that came from different places in a network, so the
usual mistakes are a wrong list length, a map with the wrong channel count, maps from two different
batches, or a tensor that is not ``(B, C, H, W)``. PyTorch would often *broadcast* such inputs
silently (the MobileNet article's ``view(-1, 64, 1, 1)`` mixes samples when the batch size is a
multiple of 64), so each check here fails loudly instead: the message names the input index, the
expected and actual shape, and what to do about it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor


def check_channel_list(in_channels: Any, *, name: str = "in_channels", min_len: int = 1) -> list[int]:
    """Validate a constructor's channel list and return it as a list of ints.

    >>> check_channel_list([16, 32])
    [16, 32]
    """
    if isinstance(in_channels, (str, bytes)) or not isinstance(in_channels, Sequence):
        raise TypeError(
            f"{name} must be a sequence of channel counts, one per input map (e.g. [16, 32, 64]); "
            f"got {type(in_channels).__name__} {in_channels!r}"
        )
    channels = list(in_channels)
    if len(channels) < min_len:
        raise ValueError(f"{name} needs at least {min_len} entr{'y' if min_len == 1 else 'ies'}; got {channels}")
    for i, c in enumerate(channels):
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ValueError(f"{name}[{i}] must be a positive int (a channel count); got {c!r} in {channels}")
    return channels


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` if it is a positive int, else raise a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return value


def describe(t: Any) -> str:
    """A short description of a would-be tensor for error messages."""
    if isinstance(t, Tensor):
        return f"tensor of shape {tuple(t.shape)}"
    return f"{type(t).__name__}"


def check_inputs(inputs: Any, in_channels: Sequence[int], *, who: str = "fusion") -> list[Tensor]:
    """Validate a list of feature maps against the channel list a module was built for.

    Checks, in order: a list/tuple of tensors; as many maps as ``in_channels``; every map 4-D
    ``(B, C, H, W)``; ``C_i == in_channels[i]``; one batch size for all maps.

    Returns:
        The maps as a list.

    >>> import torch
    >>> maps = check_inputs([torch.zeros(2, 8, 4, 4), torch.zeros(2, 16, 2, 2)], [8, 16])
    >>> [tuple(m.shape) for m in maps]
    [(2, 8, 4, 4), (2, 16, 2, 2)]
    """
    n = len(in_channels)
    if isinstance(inputs, Tensor):
        raise TypeError(
            f"{who} takes a list of {n} feature maps, got a single tensor of shape {tuple(inputs.shape)}; "
            f"pass [f1, ..., f{n}] (a list or tuple), not one stacked tensor"
        )
    if isinstance(inputs, Mapping):
        raise TypeError(
            f"{who} takes a list of {n} feature maps, got a {type(inputs).__name__}; "
            "pass list(features.values()) (only the FPN takes an ordered dict)"
        )
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{who} takes a list or tuple of {n} feature maps; got {type(inputs).__name__}")
    if len(inputs) != n:
        raise ValueError(
            f"{who} was built for {n} inputs (in_channels={list(in_channels)}) but got {len(inputs)} "
            f"({', '.join(describe(t) for t in inputs) or 'nothing'}); pass exactly {n} maps, "
            f"or build the module with one in_channels entry per map"
        )
    batch = None
    for i, (t, c) in enumerate(zip(inputs, in_channels)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: input {i} must be a torch.Tensor of shape (B, {c}, H, W); got {describe(t)}")
        if t.dim() != 4:
            hint = " (add a batch dimension with x.unsqueeze(0))" if t.dim() == 3 else ""
            raise ValueError(
                f"{who}: input {i} must be 4-D (B, C, H, W) with C={c}; got a {t.dim()}-D tensor of "
                f"shape {tuple(t.shape)}{hint}"
            )
        if t.shape[1] != c:
            raise ValueError(
                f"{who}: input {i} has {t.shape[1]} channels but the module was built with "
                f"in_channels[{i}]={c}: expected shape (B, {c}, H, W), got {tuple(t.shape)}; "
                f"fix the order of the inputs or build the module with in_channels[{i}]={t.shape[1]}"
            )
        if batch is None:
            batch = t.shape[0]
        elif t.shape[0] != batch:
            raise ValueError(
                f"{who}: input {i} has batch size {t.shape[0]} but input 0 has {batch} "
                f"(shapes {tuple(inputs[0].shape)} and {tuple(t.shape)}); every map must come from the "
                "same batch of samples: fusion never broadcasts across samples"
            )
        if t.shape[2] < 1 or t.shape[3] < 1:
            raise ValueError(f"{who}: input {i} has an empty spatial size: shape {tuple(t.shape)}")
    return list(inputs)


def check_maps(maps: Any, *, who: str = "fusion") -> list[Tensor]:
    """Like :func:`check_inputs` for any number of maps with any channel counts (rank and batch only).

    >>> import torch
    >>> len(check_maps([torch.zeros(1, 3, 4, 4), torch.zeros(1, 5, 2, 2)]))
    2
    """
    if isinstance(maps, (list, tuple)) and maps:
        channels = [int(t.shape[1]) if isinstance(t, Tensor) and t.dim() == 4 else 1 for t in maps]
    elif isinstance(maps, (list, tuple)):
        raise ValueError(f"{who}: got an empty list of feature maps; pass at least one (B, C, H, W) tensor")
    else:
        channels = [1]
    return check_inputs(maps, channels, who=who)


def check_weights(weights: Any, n: int, *, per_channel: int | None = None, who: str = "fusion") -> Tensor:
    """Turn user-given level weights into a float tensor, checking count and finiteness.

    Args:
        weights: ``n`` numbers (one per level), or ``(n, C)`` numbers when ``per_channel=C``.
        n: the number of inputs.
        per_channel: the channel count C when weights are per channel, else None.

    >>> check_weights([0.5, 0.25, 0.25], 3)
    tensor([0.5000, 0.2500, 0.2500])
    """
    try:
        w = torch.as_tensor(weights, dtype=torch.float32).detach().clone()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{who}: weights must be numbers, one per input; got {weights!r} ({exc})") from None
    expected = (n,) if per_channel is None else (n, per_channel)
    if per_channel is not None and w.shape == (n,):
        w = w[:, None].expand(n, per_channel).clone()  # one weight per level, shared by its channels
    if tuple(w.shape) != expected:
        raise ValueError(
            f"{who}: expected weights of shape {expected} (one per input"
            f"{', per output channel' if per_channel else ''}), got shape {tuple(w.shape)}: {weights!r}"
        )
    bad = (~torch.isfinite(w)).nonzero()
    if len(bad):
        idx = int(bad[0, 0])
        raise ValueError(
            f"{who}: weight for input {idx} is not finite ({w[idx].tolist()}); weights must be finite "
            "numbers: check for a division by zero or a diverged training run"
        )
    return w


def check_finite_weights(w: Tensor, *, who: str = "fusion") -> None:
    """Raise if a (possibly learned) weight tensor holds NaN or inf; its first axis indexes inputs."""
    if not bool(torch.isfinite(w).all()):
        bad = (~torch.isfinite(w.detach())).nonzero()
        idx = int(bad[0, 0]) if w.dim() else 0
        raise ValueError(
            f"{who}: the weight for input {idx} is not finite (weights {w.detach().tolist()}); "
            "training has diverged: lower the learning rate or reset the weights"
        )


def check_choice(value: Any, choices: Sequence[Any], name: str) -> Any:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value
