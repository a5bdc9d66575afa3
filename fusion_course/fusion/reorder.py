"""A saved fusion operator's parameters, rewritten for its inputs in reverse order.

Weight ``i`` of a fusion operator belongs to input ``i``. A model that changes the order in which it lists
its levels (say P5..P2 to P2..P5) must reorder the saved per-input parameters too, or a checkpoint in the old
order loads without complaint and every learned weight meets the wrong level. For an operator ``new`` built
with its inputs in the new order and ``old`` the one the checkpoint was saved from:

    reverse_input_state(new, state); new.load_state_dict(state)   →   new(maps) == old(maps[::-1])

up to the order of the floating-point sum (the last bit). ``size=`` must name the same level in both:
``"first"`` of the reversed list is ``"last"`` of the new one.

What moves, per operator (n inputs):

* every operator (``SumFusion`` has nothing else): ``align.proj.i``, the 1×1 projection of input ``i``,
  becomes ``align.proj.(n-1-i)``;
* ``WeightedSumFusion``: ``weight`` ``(n,)`` or ``(n, C)`` reversed along the inputs;
* ``SpatialWeightedFusion``: ``logits.i``, the weight map of input ``i``, becomes ``logits.(n-1-i)``;
* ``ChannelAttentionFusion``: the rows of ``excite`` come in n blocks, one per input: the blocks reversed;
* ``ConcatFusion``: the columns of ``reduce`` come in n blocks of ``C_i`` channels: the blocks reversed.

A model whose order changed raises its state-dict version (torch's ``_version``, as BatchNorm does) and
calls :func:`load_reversed_inputs` for the operator concerned, so that checkpoints of the older version load.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .attention import ChannelAttentionFusion
from .concat import ConcatFusion
from .spatial import SpatialWeightedFusion
from .sum import SumFusion
from .weighted import WeightedSumFusion


def _reverse_children(state: dict[str, Any], prefix: str, n: int) -> None:
    """Rename ``<prefix>i.<rest>`` to ``<prefix>(n-1-i).<rest>`` for the children of a ModuleList."""
    moved = {}
    for key in [k for k in state if k.startswith(prefix)]:
        index, _, rest = key[len(prefix):].partition(".")
        if index.isdigit():
            moved[f"{prefix}{n - 1 - int(index)}.{rest}"] = state.pop(key)
    state.update(moved)


def _reverse_blocks(t: torch.Tensor, sizes: list[int], dim: int) -> torch.Tensor:
    """``t`` cut along ``dim`` into blocks of ``sizes``, put back together in reverse order."""
    return torch.cat(torch.split(t, sizes, dim=dim)[::-1], dim=dim)


def reverse_input_state(fuse: nn.Module, state: dict[str, Any], prefix: str = "") -> None:
    """Rewrite, in place, the entries of ``state`` under ``prefix`` that ``fuse`` reads, saved with its inputs reversed.

    ``fuse`` is the operator in the new order; ``state`` holds the keys of the old one (a model's state dict
    with ``prefix`` naming the operator, or the operator's own with ``prefix=""``).

    Example:
        >>> import torch
        >>> maps = [torch.randn(1, 4, 8, 8), torch.randn(1, 4, 4, 4)]
        >>> old = WeightedSumFusion([4, 4], 4, mode="softmax", weights=[2.0, 0.0])      # saved for [coarse, fine]
        >>> new = WeightedSumFusion([4, 4], 4, mode="softmax", size="last")             # reads [fine, coarse]
        >>> state = old.state_dict()
        >>> reverse_input_state(new, state)
        >>> new.load_state_dict(state)
        <All keys matched successfully>
        >>> new.weight.tolist(), torch.allclose(new(maps), old(maps[::-1]))
        ([0.0, 2.0], True)
    """
    n = len(fuse.in_channels)
    _reverse_children(state, f"{prefix}align.proj.", n)
    if isinstance(fuse, WeightedSumFusion):
        state[f"{prefix}weight"] = state[f"{prefix}weight"].flip(0)                  # (n,) or (n, C)
    elif isinstance(fuse, SpatialWeightedFusion):
        _reverse_children(state, f"{prefix}logits.", n)
    elif isinstance(fuse, ChannelAttentionFusion):
        for leaf in ("weight", "bias"):                                              # (n·C, hidden), (n·C,)
            key = f"{prefix}excite.{leaf}"
            state[key] = _reverse_blocks(state[key], [state[key].shape[0] // n] * n, dim=0)
    elif isinstance(fuse, SumFusion):
        pass                                                                         # no per-input weights
    elif isinstance(fuse, ConcatFusion):
        key = f"{prefix}reduce.weight"                                               # (out, Σ C_i, 1, 1)
        state[key] = _reverse_blocks(state[key], list(fuse.in_channels)[::-1], dim=1)
    else:
        raise TypeError(f"reverse_input_state has no rule for {type(fuse).__name__}; "
                        "use SumFusion, WeightedSumFusion, SpatialWeightedFusion, ChannelAttentionFusion or ConcatFusion")


def load_reversed_inputs(model: nn.Module, path: str, before_version: int = 2) -> None:
    """Let ``model`` load state dicts of a version below ``before_version``, in which its fusion operator at
    ``path`` (a submodule name, e.g. ``"fuse"``) read its inputs in reverse order.

    The version is the one ``state_dict()`` records for ``model`` (its class's ``_version``). A state dict
    without that record (a copy made in memory) is taken to be of the current version.
    """
    # with_module: the hook is handed the module it is loading into, so a copy of the model (deepcopy copies
    # the hook, not what a closure captured) reorders with its own operator.
    def hook(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any],
             *_: Any) -> None:
        if local_metadata.get("version", before_version) < before_version:
            reverse_input_state(module.get_submodule(path), state_dict, f"{prefix}{path}.")

    model._register_load_state_dict_pre_hook(hook, with_module=True)
