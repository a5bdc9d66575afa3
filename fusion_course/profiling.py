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


class _num_threads:
    """Set torch's intra-op thread count for the block (None: leave it), then restore it."""

    def __init__(self, threads: int | None) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1; got {threads}")
        self.threads = threads

    def __enter__(self) -> int:
        self.previous = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        return torch.get_num_threads()

    def __exit__(self, *exc: Any) -> None:
        torch.set_num_threads(self.previous)


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
    with _num_threads(threads) as used:
        for _ in range(warmup):
            time_call(model, inputs, backward=backward)
        times = [time_call(model, inputs, backward=backward) for _ in range(repeats)]
    result: dict[str, float] = summarize_times(times)
    result["repeats"] = repeats
    result["threads"] = used
    return result


def interleaved_latency(models: dict[str, Callable[..., Any]], inputs: Any, *, budget_s: float = 2.0,
                        calls: int = 3, min_rounds: int = 3, max_rounds: int = 200, warmup: int = 3,
                        target: float = 0.03, threads: int | None = None) -> dict[str, dict[str, float]]:
    """Latency of several models measured together, until a time budget or a precision target is met.

    Each round times every model ``calls`` times, in an order that rotates from round to round, so that a
    burst of load from elsewhere hits all models alike rather than whichever was being timed. Rounds go on
    until ``budget_s`` seconds have passed, or, after ``min_rounds``, until every model's median is known
    to within ``target`` (relative half-width of the interquartile range over √n, a rough standard error).
    A fixed repeat count would be too many calls for slow models and too few for fast, noisy ones.
    ``threads`` sets torch's intra-op threads for the measurement (restored afterwards; None: as set).

    Returns, per model: ``median_ms``, ``p10_ms``, ``p90_ms`` and ``n`` (timed calls).
    """
    names = list(models)
    times: dict[str, list[float]] = {n: [] for n in names}
    with _num_threads(threads):
        for model in models.values():
            for _ in range(warmup):
                time_call(model, inputs)
        start = time.perf_counter()
        for r in range(max_rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                times[name] += [time_call(models[name], inputs) for _ in range(calls)]
            if time.perf_counter() - start > budget_s or (r + 1 >= min_rounds and _precise(times, target)):
                break
    return {n: {**summarize_times(t), "n": len(t)} for n, t in times.items()}


def _precise(times: dict[str, list[float]], target: float) -> bool:
    for t in times.values():
        s = sorted(t)
        q1, q3, med = _percentile(s, 25), _percentile(s, 75), statistics.median(s)
        if (q3 - q1) / (len(s) ** 0.5) > target * med:
            return False
    return True


def paired_overhead(base: Callable[..., Any], other: Callable[..., Any], inputs: Any, *, budget_s: float = 3.0,
                    calls: int = 5, min_rounds: int = 5, max_rounds: int = 100, confidence: float = 0.95,
                    n_boot: int = 2000, seed: int = 0, threads: int | None = None) -> dict[str, float]:
    """How much slower ``other`` is than ``base``, as a ratio of medians measured in back-to-back pairs.

    Each round times both (``calls`` each, the order alternating) and keeps the ratio of their medians, so
    slow drifts of the machine cancel; the result is the median ratio over rounds minus 1, with the
    10th–90th percentile of the rounds, and the ratio of the fastest calls (load only ever adds time).
    Rounds go on until ``budget_s`` seconds (after at least ``min_rounds``, at most ``max_rounds``).

    ``low`` and ``high`` are a percentile-bootstrap interval (Efron & Tibshirani 1993) of the median overhead:
    the rounds are resampled with replacement ``n_boot`` times (seeded) and the median recomputed. A claim
    such as "the overhead is under 15 %" is met only when ``high`` is under 15 %; judging it on the point
    estimate, or on the more favourable of two estimates, lets the noise decide.

    >>> import torch
    >>> o = paired_overhead(torch.nn.Identity(), torch.nn.Identity(), torch.zeros(1), calls=1, min_rounds=20,
    ...                     budget_s=0.0, n_boot=200)
    >>> o["rounds"], o["low"] <= o["overhead"] <= o["high"]
    (20, True)
    """
    if not 0 < confidence < 1 or n_boot < 1 or min_rounds < 1 or max_rounds < min_rounds:
        raise ValueError("need 0 < confidence < 1, n_boot >= 1 and 1 <= min_rounds <= max_rounds")
    ratios: list[float] = []
    fastest = [float("inf"), float("inf")]
    with _num_threads(threads):
        for model in (base, other):
            for _ in range(3):
                time_call(model, inputs)
        start = time.perf_counter()
        for r in range(max_rounds):
            med = [0.0, 0.0]
            for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                t = [time_call((base, other)[i], inputs) for _ in range(calls)]
                med[i], fastest[i] = statistics.median(t), min(fastest[i], min(t))
            ratios.append(med[1] / med[0])
            if r + 1 >= min_rounds and time.perf_counter() - start > budget_s:
                break
    s = sorted(ratios)
    low, high = _bootstrap_median(ratios, confidence, n_boot, seed)
    return {"overhead": statistics.median(s) - 1, "p10": _percentile(s, 10) - 1, "p90": _percentile(s, 90) - 1,
            "fastest": fastest[1] / fastest[0] - 1, "rounds": len(s), "low": low - 1, "high": high - 1,
            "confidence": confidence}


def _bootstrap_median(values: list[float], confidence: float, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median of ``values`` (resampled with a seeded generator)."""
    import random as _random

    rng = _random.Random(seed)
    n = len(values)
    meds = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(n_boot))
    tail = (1 - confidence) / 2 * 100
    return _percentile(meds, tail), _percentile(meds, 100 - tail)
