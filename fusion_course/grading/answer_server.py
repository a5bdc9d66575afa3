"""The answer server: the only grading code that runs inside a submission's kernel.

The grader never imports this module in its own process as a trusted part: the worker sends this file's
*text* to the kernel once the learner's notebook has run, and the kernel ``exec``\\ s it. From then on the
worker asks it, one request per cell, to call the learner's answer on inputs the course chose and to
print what came back as plain data (numbers, strings, lists and ``.npy`` bytes of plain tensors,
checked with ``type(t) is torch.Tensor``).

Nothing here is trusted. A submission can patch or replace every function in this file; all it can gain
is to choose what its own answer returns, which is what it controls anyway. The judging happens in the
worker, on plain data, with the course's real checks (``fusion_course.grading.remote``).

Requests and replies are JSON. A reply is printed on one line that starts with ``MARK``.
"""
from __future__ import annotations

import base64
import inspect
import io
import json
from typing import Any

import sys

import numpy as np

MARK = "\x1efusion-course-answer:"
_objects: dict[int, Any] = {}           # handle -> learner object (answers, instances built by the judge)
_graphs: dict[int, tuple[list[Any], list[Any]]] = {}   # call id -> (outputs, grad targets)
_answers: dict[str, tuple[Any, ...]] = {}
_counter = [0]


def _torch() -> Any:
    """torch, imported only when the answer involves it (a notebook without torch stays light)."""
    import torch

    return torch


def _std() -> dict[type, tuple[str, ...]]:
    """Standard layers the judge rebuilds from their settings (so the check can inspect real torch layers)."""
    nn = _torch().nn
    return {
        nn.Conv1d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode"),
        nn.Conv2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode"),
        nn.Linear: ("in_features", "out_features"),
        nn.BatchNorm1d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
        nn.BatchNorm2d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
        nn.LayerNorm: ("normalized_shape", "eps", "elementwise_affine"),
        nn.GroupNorm: ("num_groups", "num_channels", "eps", "affine"),
        nn.ReLU: ("inplace",), nn.ReLU6: ("inplace",), nn.Sigmoid: (), nn.Tanh: (), nn.Identity: (), nn.GELU: (),
        nn.SiLU: ("inplace",), nn.Hardswish: ("inplace",), nn.Hardsigmoid: ("inplace",), nn.Softmax: ("dim",),
        nn.Dropout: ("p",), nn.Flatten: ("start_dim", "end_dim"),
        nn.MaxPool2d: ("kernel_size", "stride", "padding"), nn.AvgPool2d: ("kernel_size", "stride", "padding"),
        nn.AdaptiveAvgPool2d: ("output_size",), nn.AdaptiveMaxPool2d: ("output_size",),
        nn.Sequential: (), nn.ModuleList: (), nn.ModuleDict: (),
    }


def capture(exercise: str, *answer: Any) -> None:
    """What a check cell becomes in the grader's copy: remember the answer; the last call wins."""
    _answers[str(exercise)] = answer


def _store(obj: Any) -> int:
    _counter[0] += 1
    _objects[_counter[0]] = obj
    return _counter[0]


def _npy(array: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _tensor(t: Any) -> dict[str, Any]:
    a = t.detach().cpu()
    if str(a.dtype) == "torch.bfloat16":
        a = a.float()
    return {"t": "tensor", "b": _npy(a.numpy()), "g": bool(t.requires_grad)}


def _signature(obj: Any) -> list[list[Any]] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [[p.name, int(p.kind), p.default is not inspect.Parameter.empty] for p in sig.parameters.values()]


def _methods(obj: Any) -> list[str]:
    """Public methods the learner's class defines (not torch's), e.g. ``weights`` of a mixer."""
    names: set[str] = set()
    for cls in type(obj).__mro__:
        if cls.__module__.startswith(("torch", "builtins")):
            continue
        names.update(k for k, v in vars(cls).items() if callable(v) and not k.startswith("_"))
    return sorted(names - {"forward"})


def encode(x: Any, depth: int = 0) -> dict[str, Any]:
    """Plain data for a value; learner objects stay here and travel as a handle."""
    if x is None or type(x) in (bool, int, str):
        return {"t": "py", "v": x}
    if type(x) is float:
        return {"t": "float", "v": repr(x)}
    torch = sys.modules.get("torch")
    if torch is not None and type(x) is torch.Tensor:
        return _tensor(x)
    if type(x) is np.ndarray and x.dtype.kind in "biuf":
        return {"t": "ndarray", "b": _npy(x)}
    if type(x) in (np.bool_, np.float32, np.float64, np.int32, np.int64):
        return encode(x.item())
    if torch is not None and type(x) is torch.Size:
        return {"t": "tuple", "v": [encode(int(v)) for v in x]}
    if type(x) in (list, tuple) and depth < 6:
        return {"t": type(x).__name__, "v": [encode(v, depth + 1) for v in x]}
    if type(x) is dict and depth < 6 and all(type(k) is str for k in x):
        return {"t": "dict", "v": {k: encode(v, depth + 1) for k, v in x.items()}}
    nn = torch.nn if torch is not None else None
    if isinstance(x, type):
        return {"t": "class", "h": _store(x), "name": x.__name__, "module": nn is not None and issubclass(x, nn.Module),
                "sig": _signature(x), "callable_instances": callable(getattr(x, "__call__", None))}
    if nn is not None and isinstance(x, nn.Module):
        return _module(x)
    if callable(x):
        return {"t": "function", "h": _store(x), "name": getattr(x, "__name__", type(x).__name__),
                "sig": _signature(x)}
    return {"t": "opaque", "type": type(x).__name__}


def _module(m: Any) -> dict[str, Any]:
    nn, std_layers = _torch().nn, _std()
    tree = []
    for path, sub in m.named_modules():
        kind = type(sub)
        std = {k: getattr(sub, k) for k in std_layers[kind]} if kind in std_layers else None
        if std is not None and hasattr(sub, "bias") and kind in (nn.Conv1d, nn.Conv2d, nn.Linear):
            std["bias"] = sub.bias is not None
        tree.append({"path": path, "type": kind.__name__, "std": _jsonable(std), "training": bool(sub.training),
                     "params": [[n, bool(p.requires_grad)] for n, p in sub.named_parameters(recurse=False)],
                     "buffers": [[n, n not in sub._non_persistent_buffers_set] for n, _ in sub.named_buffers(recurse=False)],
                     "methods": _methods(sub) if std is None else [],
                     "sig": _signature(sub.forward) if std is None else None})
    return {"t": "module", "h": _store(m), "cls": encode(type(m)), "tree": tree, "values": _values(m)}


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return [_jsonable(v) for v in x]
    return x if x is None or isinstance(x, (bool, int, float, str)) else str(x)


def _values(m: Any) -> dict[str, Any]:
    out = {n: _tensor(p) for n, p in m.named_parameters()}
    out.update({n: _tensor(b) for n, b in m.named_buffers()})
    return out


def decode(d: Any) -> Any:
    """Arguments from the judge: plain data only."""
    t = d["t"]
    if t == "py":
        return d["v"]
    if t == "float":
        return float(d["v"])
    if t == "tensor":
        torch = _torch()
        a = torch.from_numpy(np.load(io.BytesIO(base64.b64decode(d["b"])), allow_pickle=False).copy())
        return a.requires_grad_(True) if d.get("g") and a.is_floating_point() else a
    if t in ("list", "tuple"):
        items = [decode(v) for v in d["v"]]
        return items if t == "list" else tuple(items)
    if t == "dict":
        return {k: decode(v) for k, v in d["v"].items()}
    if t == "ref":
        return _objects[d["h"]]
    raise ValueError(f"cannot decode {t!r}")


def _leaves(x: Any, out: list[Any]) -> list[Any]:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _leaves(v, out)
    elif isinstance(x, dict):
        for v in x.values():
            _leaves(v, out)
    return out


def _sync(root: Any, state: dict[str, Any]) -> None:
    """Load the judge's copy of the parameters, buffers and train/eval flags before a call."""
    torch = _torch()
    tensors = dict(root.named_parameters())
    tensors.update(dict(root.named_buffers()))
    with torch.no_grad():
        for name, enc in state.get("values", {}).items():
            if name in tensors:
                value = decode({**enc, "g": False})
                t = tensors[name]
                if t.shape == value.shape:
                    t.copy_(value)
                else:
                    t.data = value.to(t.dtype)
    modules = dict(root.named_modules())
    for path, training in state.get("training", {}).items():
        if path in modules:
            modules[path].training = bool(training)


def _call(req: dict[str, Any]) -> dict[str, Any]:
    target = _objects[req["h"]]
    root = _objects.get(req.get("root")) if req.get("root") else None
    if root is not None:
        _sync(root, req.get("state", {}))
        target = root.get_submodule(req.get("path", ""))
    args, kwargs = decode(req["args"]), decode(req["kwargs"])
    if req.get("method"):
        target = getattr(target, req["method"])
    torch = sys.modules.get("torch")
    if req.get("construct") and torch is not None:
        torch.manual_seed(0)              # a layer's initial weights come from the global RNG: keep runs equal
    out = target(*args, **kwargs)
    reply: dict[str, Any] = {"result": encode(out), "after": [_tensor(t) for t in _leaves([args, kwargs], [])]}
    if root is not None:
        reply["values"] = _values(root)
    wanted = [t for t in _leaves([args, kwargs], []) if t.requires_grad]
    if root is not None:
        params = dict(root.named_parameters())
        wanted += [params[n] for n in req.get("grad_params", []) if n in params]
    outs = _leaves(out, [])
    if wanted and any(o.requires_grad for o in outs):
        _counter[0] += 1
        _graphs[_counter[0]] = (outs, wanted)
        while len(_graphs) > 4:
            _graphs.pop(next(iter(_graphs)))
        reply["graph"] = _counter[0]
    return reply


def _backward(req: dict[str, Any]) -> dict[str, Any]:
    torch = _torch()
    outs, wanted = _graphs[req["graph"]]
    pairs = [(o, decode(g)) for o, g in zip(outs, req["grads"]) if g is not None and o.requires_grad]
    grads = torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs], allow_unused=True,
                                retain_graph=True) if pairs else [None] * len(wanted)
    return {"grads": [None if g is None else _tensor(g) for g in grads]}


def serve(request: str) -> None:
    """Answer one request and print the reply line."""
    req = json.loads(request)
    try:
        if req["op"] == "answer":
            if req["ex"] not in _answers:
                reply = {"missing": True}
            else:
                reply = {"result": encode(tuple(_answers[req["ex"]]))}
        elif req["op"] == "call":
            reply = _call(req)
        elif req["op"] == "backward":
            reply = _backward(req)
        else:
            reply = {"error": {"type": "ValueError", "message": f"unknown request {req['op']!r}"}}
    except BaseException as exc:  # the learner's code raised: say what, the judge decides what it means
        reply = {"error": {"type": type(exc).__name__, "message": str(exc)[:2000]}}
    print(MARK + json.dumps(reply), flush=True)
