"""Cost of a model: parameters, multiply-adds and latency.

* ``count_params``: the number of parameter elements (optionally trainable ones only).
* ``count_macs``: multiply-adds of one forward pass, counted by torch's own
  ``torch.utils.flop_counter.FlopCounterMode``. Convention: that counter reports FLOPs = 2 × MACs
  for convolutions, linear layers and matrix products (one multiply and one add per term), so
  ``MACs = FLOPs / 2``, the unit torchvision's model tables call "GFLOPS". Only those operations are
  counted (``conv``, ``addmm``/``mm``/``bmm``/``matmul``, attention); element-wise operations
  (additions, activations, BatchNorm, pooling, interpolation, the weighted sums of the fusion modules)
  are **not**, so a plain sum counts 0 multiply-adds although it does move memory.
* ``measure_latency``: wall-clock time per call after a warm-up: median and the 10th/90th percentile
  over repeats, with the thread count recorded, since CPU timings mean little without it.

How inputs are passed, in every function here: a tuple is unpacked into positional arguments
(``model(*inputs)``, e.g. ``(low, high)`` for the CFM); anything else (a tensor, a list of maps, an
ordered dict) is passed as the single argument (``model(inputs)``).

Example:
    >>> import torch
    >>> conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    >>> count_params(conv), count_macs(conv, torch.randn(1, 3, 16, 16))   # 8·3·9 + 8;  16·16·8·3·9
    (224, 55296)
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch
from torch import nn


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements of ``model`` (shared parameters counted once).

    >>> count_params(torch.nn.Linear(10, 4))
    44
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _call(model: Callable[..., Any], inputs: Any) -> Any:
    return model(*inputs) if isinstance(inputs, tuple) else model(inputs)


class _eval_mode:
    """Put a module in eval mode for the block (no BatchNorm statistics updated), then restore it."""

    def __init__(self, model: Any) -> None:
        self.model = model if isinstance(model, nn.Module) else None

    def __enter__(self) -> None:
        if self.model is not None:
            self.modes = [(m, m.training) for m in self.model.modules()]
            self.model.eval()

    def __exit__(self, *exc: Any) -> None:
        if self.model is not None:
            for m, mode in self.modes:
                m.training = mode


def count_macs(model: Callable[..., Any], inputs: Any) -> int:
    """Multiply-adds of one forward pass of ``model`` on ``inputs`` (FLOPs / 2, torch's counter).

    Runs one forward pass in eval mode without gradients. Counts convolutions, linear layers and
    matrix products only; element-wise work is not counted (see the module docstring).

    >>> count_macs(torch.nn.Linear(10, 4), torch.randn(2, 10))   # 2 samples · 10 · 4
    80
    """
    from torch.utils.flop_counter import FlopCounterMode   # imported here: keeps module import light

    counter = FlopCounterMode(display=False)
    with _eval_mode(model), torch.no_grad(), counter:
        _call(model, inputs)
    return int(counter.get_total_flops()) // 2


def _sum_outputs(out: Any) -> torch.Tensor:
    """A scalar from any output structure (tensor, list/tuple, dict), to call ``backward`` on."""
    if isinstance(out, torch.Tensor):
        return out.float().sum()
    if isinstance(out, dict):
        out = list(out.values())
    return sum(_sum_outputs(o) for o in out)


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (q in [0, 100]) of an already sorted list."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize_times(seconds: list[float]) -> dict[str, float]:
    """``median_ms``, ``p10_ms``, ``p90_ms`` of a list of durations in seconds."""
    ms = sorted(s * 1000.0 for s in seconds)
    return {"median_ms": statistics.median(ms), "p10_ms": _percentile(ms, 10), "p90_ms": _percentile(ms, 90)}


def time_call(model: Callable[..., Any], inputs: Any, *, backward: bool = False) -> float:
    """Seconds for one call: a forward pass without gradients, or forward + backward when ``backward``."""
    if backward:
        start = time.perf_counter()
        _sum_outputs(_call(model, inputs)).backward()
        return time.perf_counter() - start
    with torch.no_grad():
        start = time.perf_counter()
        _call(model, inputs)
        return time.perf_counter() - start


def measure_latency(model: Callable[..., Any], inputs: Any, *, warmup: int = 5, repeats: int = 30,
                    threads: int | None = None, backward: bool = False) -> dict[str, float]:
    """Time ``model(inputs)``: ``warmup`` untimed calls, then ``repeats`` timed ones.

    Args:
        model: a module or any callable.
        inputs: passed as in every function here (a tuple is unpacked).
        warmup: untimed calls first (allocator, caches, lazy initialisation).
        repeats: timed calls; the median is robust to the odd slow one.
        threads: torch intra-op threads during the measurement (restored afterwards); None: as set.
        backward: time forward + backward of the summed output instead of a no-grad forward.
            Give inputs with ``requires_grad=True`` to include the input gradients.

    Returns:
        ``{"median_ms", "p10_ms", "p90_ms", "repeats", "threads"}`` (``threads``: the count used).

    >>> r = measure_latency(torch.nn.Linear(8, 8), torch.randn(4, 8), warmup=1, repeats=3)
    >>> sorted(r), r["repeats"]
    (['median_ms', 'p10_ms', 'p90_ms', 'repeats', 'threads'], 3)
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0; got repeats={repeats}, warmup={warmup}")
    previous = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1; got {threads}")
        torch.set_num_threads(threads)
    try:
        for _ in range(warmup):
            time_call(model, inputs, backward=backward)
        times = [time_call(model, inputs, backward=backward) for _ in range(repeats)]
        result: dict[str, float] = summarize_times(times)
        result["repeats"] = repeats
        result["threads"] = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
    return result
