"""Shared helpers for check authors (``fusion_course/checks/lessonNN.py``).

A check takes the learner's answer, tries it on several inputs and raises ``AssertionError`` with a
message that teaches. Every helper here builds the message in one format::

    Exercise 3.2: expected output shape (2, 32, 16, 16), got (2, 64, 16, 16). Hint: ...

so learners always read *what was expected*, *what came back* and *what to look at*, never the
solution. ``NotImplementedError`` (an unsolved exercise) is never caught: it must reach the notebook
unchanged, because the exercise gates and the grader read it as "not attempted".

The ``AssertionError`` raised by :func:`fail` carries a :class:`Feedback` (``exc.feedback``): ``check``
uses it to show the learner a few lines instead of a traceback through this package, while
``str(exc)`` keeps the one-line message the grader records. Known mistakes get their own diagnosis
with :func:`reject_mistake` (e.g. σ applied to every term instead of to the sum).

Example (a whole check)::

    from ._tools import call, assert_shape, assert_close, maps, unchanged

    def check_sum(fn):
        ex = "1.1"
        for shape in [(1, 4, 5, 7), (3, 8, 6, 6)]:
            a, b = maps([shape, shape], seed=1)
            with unchanged(ex, a, b):
                out = call(ex, fn, [a, b], what="your fusion")
            assert_shape(ex, out, shape, hint="summing keeps every dimension")
            assert_close(ex, out, a + b, hint="add the maps element by element")
        return "element-wise sum on 2 shapes incl. batch 1 and odd sizes"
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch

__all__ = [
    "fail", "require", "generator", "randn", "maps", "call", "assert_tensor", "assert_shape",
    "assert_close", "assert_finite", "assert_in_range", "assert_module", "assert_callable",
    "unchanged", "assert_not_mutated", "describe", "reject_mistake", "Feedback", "EDGE_SHAPES",
]

# Shapes every map-in/map-out check should try: a batch of 1, odd sizes, non-square maps.
EDGE_SHAPES: tuple[tuple[int, int, int, int], ...] = ((1, 4, 5, 7), (2, 8, 8, 8), (3, 6, 9, 4))


def _message(exercise: str, expected: str | None, got: str | None, hint: str | None) -> str:
    parts = [f"Exercise {exercise}:"]
    if expected is not None and got is not None:
        parts.append(f"expected {expected}, got {got}.")
    elif expected is not None:
        parts.append(f"expected {expected}.")
    elif got is not None:
        parts.append(f"got {got}.")
    if hint:
        parts.append(f"Hint: {hint.rstrip('.')}.")
    return " ".join(parts)


@dataclass(frozen=True)
class Feedback:
    """The parts of a failed check's message, kept so a notebook can show them on separate lines."""

    exercise: str
    expected: str | None = None
    got: str | None = None
    hint: str | None = None

    def lines(self) -> list[str]:
        """What the learner reads under a failed check cell: a headline and up to three short lines."""
        rows = [("expected", self.expected), ("got", self.got), ("hint", self.hint and self.hint.rstrip("."))]
        return [f"✘ Exercise {self.exercise} does not pass yet"] + [f"  {k + ':':<9} {v}" for k, v in rows if v]


def fail(exercise: str, expected: str | None = None, got: str | None = None, hint: str | None = None):
    """Raise the teaching ``AssertionError``: ``Exercise N.k: expected X, got Y. Hint: Z.``

    The exception carries its parts as ``exc.feedback`` (a :class:`Feedback`), so ``check`` can show
    them without a traceback through the course's code.
    """
    exc = AssertionError(_message(exercise, expected, got, hint))
    exc.feedback = Feedback(exercise, expected, got, hint)
    raise exc


def require(exercise: str, condition: Any, expected: str, got: str | None = None, hint: str | None = None) -> None:
    """``fail(...)`` unless ``condition`` is true (use instead of a bare ``assert``)."""
    if not condition:
        fail(exercise, expected, got, hint)


def describe(value: Any) -> str:
    """A short description of what came back, for 'got ...' (never the whole tensor)."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in value[:3]) + (", ..." if len(value) > 3 else "")
        return f"a {type(value).__name__} of {len(value)} items ({inner})"
    if value is None:
        return "None (did you forget `return`?)"
    if isinstance(value, (int, float, bool, str)):
        return f"{type(value).__name__} {value!r}"
    return f"an object of type {type(value).__name__}"


# ----------------------------------------------------------------------------- deterministic inputs
def generator(seed: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``: checks never touch the global RNG."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A reproducible standard-normal tensor of ``shape``."""
    return torch.randn(*shape, generator=generator(seed), dtype=dtype)


def maps(shapes: Iterable[Sequence[int]], seed: int = 0, *, positive: bool = False) -> list[torch.Tensor]:
    """Reproducible feature maps, one per shape (seeds ``seed, seed+1, ...``).

    ``positive=True`` gives values in (0, 1] (e.g. post-ReLU/sigmoid features).
    """
    out = []
    for i, shape in enumerate(shapes):
        t = randn(*shape, seed=seed + i)
        out.append(torch.sigmoid(t) if positive else t)
    return out


# ----------------------------------------------------------------------------- calling the answer
def call(exercise: str, fn: Callable[..., Any], *args: Any, what: str = "your function", hint: str | None = None, **kwargs: Any) -> Any:
    """Call the learner's ``fn(*args, **kwargs)``; turn a wrong signature into a teaching message.

    ``NotImplementedError`` propagates unchanged (the exercise is not attempted yet). A ``TypeError``
    raised by the call (wrong number of arguments, wrong argument types) becomes an
    ``AssertionError`` saying how it was called and what went wrong. Other exceptions propagate
    with their traceback, which is what a learner needs to debug their own code.
    """
    if not callable(fn):
        fail(exercise, f"{what} to be callable (a function, class or nn.Module)", describe(fn),
             hint or "pass the function or module itself to check(...), without calling it")
    shown = ", ".join([describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()])
    try:
        # an nn.Module's __call__ takes (*args, **kwargs): its forward holds the real signature
        signature = inspect.signature(fn.forward if isinstance(fn, torch.nn.Module) else fn)
    except (TypeError, ValueError):  # some builtins have no signature
        signature = None
    if signature is not None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            name = getattr(fn, "__name__", type(fn).__name__)
            fail(exercise, f"{what} to accept ({shown})", f"{name}{signature}: {exc}",
                 hint or "keep the signature given in the exercise cell")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except TypeError as exc:
        fail(exercise, f"{what} to run on ({shown})", f"TypeError: {exc}",
             hint or "check the types your code passes around (a list where a tensor is needed, or the reverse)")


def run_answer(exercise: str, fn: Callable[..., Any], *args: Any, what: str = "your code", hint: str | None = None,
               **kwargs: Any) -> Any:
    """``call`` the answer; a crash on a valid input (RuntimeError, IndexError) becomes a teaching message.

    Shape mismatches inside torch surface as RuntimeError: the learner needs to know which input made
    their code crash, and a hint. ``NotImplementedError`` is a subclass of RuntimeError and propagates
    unchanged: an unsolved exercise must stay "not attempted".
    """
    try:
        return call(exercise, fn, *args, what=what, hint=hint, **kwargs)
    except NotImplementedError:
        raise
    except (RuntimeError, IndexError) as exc:
        shown = ", ".join(describe(a) for a in args)
        fail(exercise, f"{what} to run on ({shown})", f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", hint)


# ----------------------------------------------------------------------------- assertions on results
def assert_tensor(exercise: str, value: Any, what: str = "the output", hint: str | None = None) -> torch.Tensor:
    """``value`` must be a ``torch.Tensor``; returns it."""
    if not isinstance(value, torch.Tensor):
        fail(exercise, f"{what} to be a torch.Tensor", describe(value),
             hint or "return a tensor (not a list, a NumPy array or None)")
    return value


def assert_shape(exercise: str, value: Any, expected: Sequence[int], what: str = "output", hint: str | None = None) -> torch.Tensor:
    """``value`` must be a tensor of shape ``expected``."""
    t = assert_tensor(exercise, value, f"the {what}", hint)
    if tuple(t.shape) != tuple(expected):
        fail(exercise, f"{what} shape {tuple(expected)}", f"{tuple(t.shape)}", hint)
    return t


def assert_finite(exercise: str, value: torch.Tensor, what: str = "the output", hint: str | None = None) -> None:
    """No NaN/inf in ``value``."""
    t = assert_tensor(exercise, value, what)
    if not torch.isfinite(t).all():
        n = int((~torch.isfinite(t)).sum())
        fail(exercise, f"{what} to be finite", f"{n} NaN/inf values",
             hint or "look for a division by zero or a log/sqrt of a negative number")


def assert_close(exercise: str, actual: Any, expected: torch.Tensor, what: str = "output", hint: str | None = None,
                 *, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """``actual`` must match ``expected`` (same shape, values within ``atol + rtol*|expected|``).

    The message gives the largest difference and where it is, never the expected values themselves.
    """
    t = assert_shape(exercise, actual, tuple(expected.shape), what, hint)
    t = t.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    if not torch.isfinite(t).all():
        assert_finite(exercise, t, f"the {what}", hint)
    diff = (t - e).abs()
    bad = diff > atol + rtol * e.abs()
    if bad.any():
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        fail(exercise, f"{what} values to match the reference within {atol:g}",
             f"{int(bad.sum())} of {bad.numel()} values off (largest difference {float(diff.max()):.4g}, first at index {idx})",
             hint)


def assert_in_range(exercise: str, value: Any, low: float, high: float, what: str = "the output", hint: str | None = None) -> None:
    """Every value in ``[low, high]`` (e.g. probabilities, sigmoid gates)."""
    t = assert_tensor(exercise, value, what).detach()
    lo, hi = float(t.min()), float(t.max())
    if lo < low or hi > high:
        fail(exercise, f"{what} to lie in [{low:g}, {high:g}]", f"values in [{lo:.4g}, {hi:.4g}]", hint)


def assert_module(exercise: str, value: Any, what: str = "your answer", hint: str | None = None) -> torch.nn.Module:
    """``value`` must be an ``nn.Module`` instance (not the class)."""
    if isinstance(value, type) and issubclass(value, torch.nn.Module):
        fail(exercise, f"{what} to be an nn.Module instance", f"the class {value.__name__}",
             hint or "pass an instance, e.g. check(..., MyFusion(...)), or the exercise's factory")
    if not isinstance(value, torch.nn.Module):
        fail(exercise, f"{what} to be an nn.Module", describe(value), hint)
    return value


def assert_callable(exercise: str, value: Any, what: str = "your answer", hint: str | None = None) -> Callable[..., Any]:
    """``value`` must be callable (pass the function, not its result)."""
    if not callable(value):
        fail(exercise, f"{what} to be a function", describe(value),
             hint or "pass the function itself to check(...), without calling it")
    return value


def reject_mistake(exercise: str, actual: Any, reference: torch.Tensor, mistake: torch.Tensor, *, expected: str,
                   got: str, hint: str, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Fail with a targeted diagnosis when ``actual`` is what a known mistake computes.

    ``mistake`` is the output of the wrong answer on the same input. Nothing happens when the answer
    is not a tensor of the reference's shape, when it does not match the mistake, or when the mistake
    and the reference agree on this input (the mistake cannot be told apart there), so the general
    comparison that follows still runs.
    """
    if not (torch.is_tensor(actual) and torch.is_tensor(mistake) and actual.shape == reference.shape == mistake.shape):
        return
    a, m, r = (t.detach().to(torch.float64) for t in (actual, mistake, reference))
    close = lambda x, y: bool(((x - y).abs() <= atol + rtol * y.abs()).all())  # noqa: E731 (NaN counts as far)
    if close(a, m) and not close(m, r):
        fail(exercise, expected, got, hint)


# ----------------------------------------------------------------------------- in-place mutation
@contextlib.contextmanager
def unchanged(exercise: str, *inputs: Any, hint: str | None = None) -> Iterator[None]:
    """Fail if the code inside the ``with`` block modifies any of the ``inputs`` tensors in place.

    Accepts tensors and (nested) lists/tuples/dicts of tensors::

        with unchanged("2.1", feats):
            out = call("2.1", fn, feats)
    """
    flat: list[torch.Tensor] = []

    def collect(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            flat.append(x)
        elif isinstance(x, (list, tuple)):
            for y in x:
                collect(y)
        elif isinstance(x, dict):
            for y in x.values():
                collect(y)

    for x in inputs:
        collect(x)
    before = [t.detach().clone() for t in flat]
    yield
    for i, (t, b) in enumerate(zip(flat, before)):
        if t.shape != b.shape or not torch.equal(t.detach(), b):
            fail(exercise, "the inputs left unchanged", f"input {i} modified in place",
                 hint or "build a new tensor (e.g. `a + b`, not `a += b` or `a.add_(b)`, and no `relu_`/`inplace=True` on inputs)")


def assert_not_mutated(exercise: str, fn: Callable[..., Any], *args: Any, what: str = "your function", hint: str | None = None, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` via :func:`call` and fail if it changed any tensor argument; returns its result."""
    with unchanged(exercise, *args, *kwargs.values(), hint=hint):
        return call(exercise, fn, *args, what=what, **kwargs)
