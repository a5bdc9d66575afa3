"""Stand-ins for a learner's answer, so the course's real checks run where the submission cannot reach.

The grading worker runs the lesson's check function (``fusion_course/checks/lessonNN.py``) in its own
process, which never executes learner code. The check receives, instead of the learner's object, a
stand-in built here from plain data:

* a function becomes :class:`RemoteFunction`: calling it sends the arguments (plain tensors, numbers,
  lists) to the kernel, which calls the learner's function and sends back plain data;
* a class becomes a real Python class whose instances are *mirrors* of the learner's (see :mod:`.mirror`);
* gradients cross as plain tensors too (:class:`.mirror.RemoteCall`).

Whatever the kernel sends is only ever *data*: a tensor arrives as ``.npy`` bytes read with
``allow_pickle=False`` into a plain ``torch.Tensor``, so a subclass that lies about its arithmetic, or an
object that reads the check's stack frame, never reaches the check.
"""
from __future__ import annotations

import base64
import builtins
import inspect
import io
import sys
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["Link", "ProbeTimeout", "KernelGone", "answer_stand_ins", "encode", "decode"]


def _torch() -> Any:
    """torch, imported when a tensor first crosses (a lesson without tensors never needs it)."""
    import torch

    return torch


class ProbeTimeout(BaseException):
    """The learner's code ran past the per-cell limit while a check called it (never caught by a check)."""


class KernelGone(BaseException):
    """The kernel died, or replied with something that is not a reply (never caught by a check)."""


class Link(Protocol):
    def request(self, req: dict[str, Any]) -> dict[str, Any]: ...


# ----------------------------------------------------------------------------- plain data both ways
def _npy(array: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _array(b64: str) -> np.ndarray:
    a = np.load(io.BytesIO(base64.b64decode(b64)), allow_pickle=False)
    if a.dtype.kind not in "biuf":
        raise KernelGone(f"unexpected array type {a.dtype}")
    return a


def encode(x: Any) -> dict[str, Any]:
    """The judge's arguments as plain data (tensors as ``.npy``; stand-ins by handle)."""
    if x is None or isinstance(x, (bool, int, str)):
        return {"t": "py", "v": x}
    if isinstance(x, float):
        return {"t": "float", "v": repr(x)}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return {"t": "tensor", "b": _npy(x.detach().cpu().numpy()), "g": bool(x.requires_grad)}
    if isinstance(x, (list, tuple)):
        return {"t": type(x).__name__ if type(x) in (list, tuple) else "tuple", "v": [encode(v) for v in x]}
    if isinstance(x, dict):
        return {"t": "dict", "v": {str(k): encode(v) for k, v in x.items()}}
    handle = getattr(x, "_fc_handle", None)
    if handle is not None:
        return {"t": "ref", "h": handle}
    raise TypeError(f"the grader cannot pass a {type(x).__name__} to a submission")


def decode(d: dict[str, Any], link: Link) -> Any:
    """Plain data from the kernel; learner objects become stand-ins."""
    t = d.get("t")
    if t == "py":
        v = d.get("v")
        if v is not None and type(v) not in (bool, int, str, float):
            raise KernelGone("malformed value")
        return v
    if t == "float":
        return float(d["v"])
    if t == "tensor":
        return _torch().from_numpy(_array(d["b"]).copy())
    if t == "ndarray":
        return _array(d["b"]).copy()
    if t in ("list", "tuple"):
        items = [decode(v, link) for v in d["v"]]
        return items if t == "list" else tuple(items)
    if t == "dict":
        return {str(k): decode(v, link) for k, v in d["v"].items()}
    if t == "function":
        return RemoteFunction(link, d["h"], str(d.get("name", "function")), d.get("sig"))
    if t == "class":
        return remote_class(link, d)
    if t == "module":
        from .mirror import mirror
        return mirror(link, d, remote_class(link, d["cls"]), wire=sys.modules[__name__])
    if t == "opaque":
        return opaque(str(d.get("type", "object")))
    raise KernelGone(f"malformed reply (value of kind {t!r})")


def opaque(type_name: str) -> Any:
    """An object the check can describe ("an object of type X") but not use."""
    name = type_name if type_name.isidentifier() else "object"
    return type(name, (), {"__repr__": lambda self: f"<{name} object>"})()


def signature(spec: list[list[Any]] | None) -> inspect.Signature | None:
    if spec is None:
        return None
    try:
        params = [inspect.Parameter(str(name), inspect._ParameterKind(int(kind)),
                                    default=None if has_default else inspect.Parameter.empty)
                  for name, kind, has_default in spec]
        return inspect.Signature(params)
    except (ValueError, TypeError):
        return None


def raise_for(reply: dict[str, Any]) -> None:
    """Re-raise the learner's exception by name (builtins keep their type, so checks treat them as usual)."""
    err = reply.get("error")
    if not err:
        return
    name, message = str(err.get("type", "Exception")), str(err.get("message", ""))
    if name == "KeyboardInterrupt":
        raise ProbeTimeout(message)
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception) and kind is not StopIteration:
        raise kind(message)
    raise type(name if name.isidentifier() else "SubmissionError", (Exception,), {})(message)


# ----------------------------------------------------------------------------- calls
def leaves(x: Any, out: list[torch.Tensor]) -> list[torch.Tensor]:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for v in x:
            leaves(v, out)
    elif isinstance(x, dict):
        for v in x.values():
            leaves(v, out)
    return out


def _rebuild(x: Any, leaves: list[torch.Tensor]) -> Any:
    """``x`` with its tensors replaced, in order, by ``leaves`` (consumed)."""
    if isinstance(x, _torch().Tensor):
        return leaves.pop(0)
    if isinstance(x, (list, tuple)):
        items = [_rebuild(v, leaves) for v in x]
        return items if isinstance(x, list) else tuple(items)
    if isinstance(x, dict):
        return {k: _rebuild(v, leaves) for k, v in x.items()}
    return x


def _write_back(sent: list[torch.Tensor], after: list[dict[str, Any]], link: Link) -> None:
    """Inputs the learner's code modified in place are modified here too (the checks look for that)."""
    if not sent:
        return
    torch = _torch()
    with torch.no_grad():
        for t, enc in zip(sent, after):
            new = decode(enc, link)
            if new.shape != t.shape:
                t.set_(new.to(t.dtype))
            elif not torch.equal(new.to(t.dtype), t):
                t.copy_(new)


def leaf_specs(d: dict[str, Any], out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if d.get("t") == "tensor":
        out.append(d)
    elif d.get("t") in ("list", "tuple"):
        for v in d["v"]:
            leaf_specs(v, out)
    elif d.get("t") == "dict":
        for v in d["v"].values():
            leaf_specs(v, out)
    return out


def remote_call(link: Link, req: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                params: list[tuple[str, torch.Tensor]] = (), after: Callable[[dict[str, Any]], None] | None = None) -> Any:
    """Call a learner object in the kernel with ``args``; returns plain data or stand-ins."""
    sent = leaves([list(args), kwargs], [])
    grad_params = [(n, p) for n, p in params if p.requires_grad]
    inputs = [t for t in sent if t.requires_grad] + [p for _, p in grad_params]
    full = {**req, "op": "call", "args": encode(list(args)), "kwargs": encode(kwargs),
            "grad_params": [n for n, _ in grad_params]}

    def send() -> dict[str, Any]:
        reply = link.request(full)
        raise_for(reply)
        _write_back(sent, reply.get("after", []), link)
        if after is not None:
            after(reply)
        return reply

    if not (inputs and _torch().is_grad_enabled()):
        return decode(send()["result"], link)
    from .mirror import RemoteCall

    box = {"send": send, "link": link, "wire": sys.modules[__name__]}
    outs = RemoteCall.apply(box, *inputs)
    return _rebuild(box["result"], list(outs))


class RemoteFunction:
    """The learner's function, callable from a check; its signature is the learner's."""

    def __init__(self, link: Link, handle: int, name: str, sig: list[list[Any]] | None) -> None:
        self._fc_link, self._fc_handle, self.__name__ = link, handle, name
        learner_sig = signature(sig)
        if learner_sig is not None:
            self.__signature__ = learner_sig

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return remote_call(self._fc_link, {"h": self._fc_handle}, args, kwargs)

    def __repr__(self) -> str:
        return f"<submitted function {self.__name__}>"


class RemoteObject:
    """An instance of a learner's plain class: calling it calls the learner's ``__call__`` in the kernel."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        handle = getattr(self, "_fc_handle", None)
        if handle is None:
            raise TypeError(f"'{type(self).__name__}' object is not callable")
        return remote_call(self._fc_link, {"h": handle}, args, kwargs)


def remote_class(link: Link, spec: dict[str, Any]) -> type:
    """A class standing for the learner's: calling it builds the learner's object in the kernel."""
    name = spec["name"] if str(spec.get("name", "")).isidentifier() else "Submitted"
    handle = spec["h"]
    module = bool(spec.get("module"))
    base: type = RemoteObject
    if module:                    # an nn.Module class: its instances are mirrors (torch needed from here on)
        from .mirror import MirrorModule, mirror

        base = MirrorModule

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        base.__init__(self)
        reply = link.request({"op": "call", "h": handle, "construct": True, "args": encode(list(args)),
                              "kwargs": encode(kwargs)})
        raise_for(reply)
        value = reply["result"]
        if module:
            if value.get("t") != "module":
                raise TypeError(f"{name}(...) did not build an nn.Module")
            mirror(link, value, type(self), into=self, wire=sys.modules[__name__])
        else:
            object.__setattr__(self, "_fc_link", link)
            object.__setattr__(self, "_fc_handle", value.get("h"))

    attrs: dict[str, Any] = {"__init__": __init__, "__module__": "submission", "__qualname__": name,
                             "_fc_class_handle": handle}
    learner_sig = signature(spec.get("sig"))
    if learner_sig is not None:
        attrs["__signature__"] = learner_sig
    return type(name, (base,), attrs)


def answer_stand_ins(link: Link, exercise: str) -> tuple[Any, ...] | None:
    """The stand-ins of the answer captured for ``exercise``; None when its check cell never ran."""
    reply = link.request({"op": "answer", "ex": exercise})
    raise_for(reply)
    if reply.get("missing"):
        return None
    value = decode(reply["result"], link)
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)
