"""Mirrors of a learner's modules: what a check inspects is real torch, what it calls runs in the kernel.

A class the learner wrote becomes a real Python class here (an ``nn.Module`` subclass when the learner's
is one). Building it builds the learner's object in the kernel and returns its description as plain data:
the tree of submodules, the parameters and buffers with their values, the train/eval flags. The mirror has
the same tree, with torch's standard layers (``Conv2d``, ``BatchNorm2d``, ``Linear``, ...) rebuilt as
genuine torch layers from their settings, so ``isinstance(m, nn.Conv2d)``, ``m.weight``,
``load_state_dict`` and ``parameters()`` mean what the check expects. Calling the mirror (or a method the
learner defined, such as ``weights()``) loads the mirror's values and flags into the learner's module,
runs it there, and copies the values back (BatchNorm statistics move in training mode).

A learner's layer that only *looks* standard (a subclass of ``nn.Conv2d`` with its own ``forward``) is not
rebuilt as torch's: it stays a learner module, whose forward runs in the kernel.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

import torch
from torch import nn

class Link(Protocol):
    """One request to the kernel, its reply (the shape of :class:`fusion_course.grading.remote.Link`)."""

    def request(self, req: dict[str, Any]) -> dict[str, Any]: ...


class Wire(Protocol):
    """What a mirror needs of :mod:`.remote` (passed in, so that this module never imports it: no cycle)."""

    def encode(self, x: Any) -> dict[str, Any]: ...
    def decode(self, d: dict[str, Any], link: Link) -> Any: ...
    def remote_call(self, link: Link, req: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                    params: list[tuple[str, torch.Tensor]] = ..., after: Callable[[dict[str, Any]], None] | None = ...) -> Any: ...
    def raise_for(self, reply: dict[str, Any]) -> None: ...
    def signature(self, spec: list[list[Any]] | None) -> Any: ...
    def leaves(self, x: Any, out: list[torch.Tensor]) -> list[torch.Tensor]: ...
    def leaf_specs(self, d: dict[str, Any], out: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

__all__ = ["MirrorModule", "RemoteCall", "Wire", "mirror"]


class RemoteCall(torch.autograd.Function):
    """A remote call inside autograd: backward asks the kernel for the vector-Jacobian product.

    Its inputs are the tensors that need gradients (the check's inputs and the mirror's parameters); its
    outputs are the tensors of the reply, those the kernel says carry no gradient marked as such, so a
    learner's ``.detach()`` shows here too.
    """

    @staticmethod
    def forward(ctx: Any, box: dict[str, Any], *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        wire: Wire = box["wire"]
        reply = box["send"]()
        result = wire.decode(reply["result"], box["link"])
        box["result"] = result
        outs = [t.detach() for t in wire.leaves(result, [])]
        ctx.box, ctx.graph, ctx.n = box, reply.get("graph"), len(tensors)
        flags = [bool(d.get("g")) for d in wire.leaf_specs(reply["result"], [])]
        ctx.mark_non_differentiable(*[o for o, g in zip(outs, flags) if not g or not o.is_floating_point()])
        return tuple(outs) if outs else (torch.zeros(()),)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[Any, ...]:
        if ctx.graph is None:
            return (None,) * (ctx.n + 1)
        wire: Wire = ctx.box["wire"]
        reply = ctx.box["link"].request({"op": "backward", "graph": ctx.graph,
                                         "grads": [None if g is None else wire.encode(g) for g in grads]})
        wire.raise_for(reply)
        out = [None if d is None else wire.decode(d, ctx.box["link"]) for d in reply["grads"]]
        return (None, *out[:ctx.n], *([None] * (ctx.n - len(out))))


class MirrorModule(nn.Module):
    """A learner's module as the check sees it: real parameters and buffers, forward run in the kernel."""

    def _fc_remote(self, method: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        root: MirrorModule = self._fc_root
        wire: Wire = root._fc_wire
        state = {"values": {n: wire.encode(t) for n, t in [*root.named_parameters(), *root.named_buffers()]},
                 "training": {p: m.training for p, m in root.named_modules()}}
        req = {"h": root._fc_handle, "root": root._fc_handle, "path": self._fc_path, "method": method, "state": state}
        return wire.remote_call(root._fc_link, req, args, kwargs, list(root.named_parameters()),
                                after=lambda reply: _load_values(root, reply.get("values", {}), root._fc_link, wire))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self._fc_remote(None, args, kwargs)


def _load_values(root: nn.Module, values: dict[str, Any], link: Link, wire: Wire) -> None:
    tensors = dict(root.named_parameters())
    tensors.update(dict(root.named_buffers()))
    with torch.no_grad():
        for name, enc in values.items():
            if name in tensors:
                new = wire.decode(enc, link)
                t = tensors[name]
                if t.shape == new.shape:
                    t.copy_(new)
                else:
                    t.data = new.to(t.dtype)


def _std_layer(kind: str, config: dict[str, Any]) -> nn.Module | None:
    """torch's own layer of that kind and those settings, or None when it cannot be rebuilt."""
    cls = getattr(nn, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        return None
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    try:
        return cls(**config)
    except Exception:   # settings this torch does not take: mirror it as a learner module instead
        return None


def _method(node: MirrorModule, name: str, sig: list[list[Any]] | None, wire: Wire) -> Callable[..., Any]:
    def method(*args: Any, **kwargs: Any) -> Any:
        return node._fc_remote(name, args, kwargs)
    method.__name__ = name or "forward"
    signature = wire.signature(sig)
    if signature is not None:
        method.__signature__ = signature  # type: ignore[attr-defined]
    return method


def mirror(link: Link, spec: dict[str, Any], cls: type, into: nn.Module | None = None, *, wire: Wire) -> nn.Module:
    """Build the mirror of a learner's module from its description (see ``answer_server._module``).

    ``wire`` is :mod:`fusion_course.grading.remote` (its encode/decode and calls into the kernel).
    """
    nodes: dict[str, nn.Module] = {}
    values = spec.get("values", {})
    root = into if into is not None else cls.__new__(cls)
    if into is None:
        nn.Module.__init__(root)
    for node_spec in spec["tree"]:
        path = node_spec["path"]
        node = root if path == "" else None
        if node is None and node_spec.get("std") is not None:
            node = _std_layer(node_spec["type"], node_spec["std"])
        if node is None:
            node = type(str(node_spec["type"]) if str(node_spec["type"]).isidentifier() else "Submodule",
                        (MirrorModule,), {"__module__": "submission"})()
        if isinstance(node, MirrorModule):
            object.__setattr__(node, "_fc_root", root)
            object.__setattr__(node, "_fc_path", path)
            for name in node_spec.get("methods", []):
                object.__setattr__(node, name, _method(node, name, None, wire))
            forward = _method(node, None, node_spec.get("sig"), wire)  # type: ignore[arg-type]
            object.__setattr__(node, "forward", forward)
        prefix = f"{path}." if path else ""
        for name, requires_grad in node_spec.get("params", []):
            value = wire.decode(values[prefix + name], link) if prefix + name in values else torch.zeros(0)
            setattr(node, name, nn.Parameter(value, requires_grad=bool(requires_grad) and value.is_floating_point()))
        for name, persistent in node_spec.get("buffers", []):
            if prefix + name in values:
                node.register_buffer(name, wire.decode(values[prefix + name], link), persistent=bool(persistent))
        node.training = bool(node_spec.get("training", True))
        if path:
            parent, _, last = path.rpartition(".")
            nodes[parent].add_module(last, node)
        nodes[path] = node
    object.__setattr__(root, "_fc_link", link)
    object.__setattr__(root, "_fc_wire", wire)
    object.__setattr__(root, "_fc_handle", spec["h"])
    return root


