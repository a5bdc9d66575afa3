"""Exercise checks: ``check("N.k", answer)`` from a notebook's check cell.

Each lesson's checks live in ``fusion_course/checks/lessonNN.py`` as ``CHECKS = {"N.k": function}``.
A check function takes the learner's answer (a function, a module, a tensor...), never notebook
globals; it raises ``AssertionError`` with a message that teaches (what was expected, what came back,
a hint) and returns a short description of what it verified, which ``check`` prints on success.
Shared helpers for writing checks (teaching messages, seeded inputs, in-place mutation guards) are in
``fusion_course.checks._tools``.

In a notebook a failed check reads like a teacher, not like a stack: the exception keeps its type and
its full one-line message (``str(exc)``, which the grader records), and gets a ``_render_traceback_``
that IPython shows instead of the traceback. So a learner sees::

    ✘ Exercise 1.1 does not pass yet
      expected: σ = relu applied once, to the whole weighted sum
      got:      σ applied to each term before summing, Σ σ(w_i·F_i)
      hint:     first add up the weighted maps, z = w_1·F_1 + … + w_n·F_n, then apply σ to z once: ...

never a frame of the check's code (which holds the reference answer). An unsolved exercise stays a
``NotImplementedError`` (the grader reads it as "not attempted") and shows one line; a crash inside
the learner's code shows the traceback of their code only.

A teacher can add checks for a lesson of their own without touching the package: put ``lessonNN.py``
files in a folder and name it in the ``FUSION_COURSE_EXTRA_CHECKS`` environment variable (several
folders separated by ``os.pathsep``); they are used for lessons the package has no module for.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Callable

__all__ = ["check", "available_checks", "EXTRA_CHECKS_ENV"]


# Extra folders of lessonNN.py check modules (os.pathsep-separated), searched when the package has
# no module for a lesson: lets a teacher add a lesson of their own, and the tests use a fixture lesson.
EXTRA_CHECKS_ENV = "FUSION_COURSE_EXTRA_CHECKS"


def _load_extra(name: str) -> ModuleType | None:
    for folder in filter(None, os.environ.get(EXTRA_CHECKS_ENV, "").split(os.pathsep)):
        path = Path(folder) / f"{name}.py"
        if path.is_file():
            key = f"{__name__}._extra.{name}"
            if key in sys.modules:
                return sys.modules[key]
            spec = importlib.util.spec_from_file_location(key, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[key]
                raise
            return module
    return None


def _lesson_checks(lesson: str) -> dict[str, Callable[..., str]]:
    try:
        name = f"lesson{int(lesson):02d}"
    except ValueError:
        return {}
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":  # the lesson module exists but one of its imports is missing
            raise
        module = _load_extra(name)
        if module is None:
            return {}
    return dict(getattr(module, "CHECKS", {}))


def available_checks(lesson: str | None = None) -> list[str]:
    """Exercise ids that have a check, e.g. ``['1.1', '1.2', ...]``."""
    lessons = [lesson] if lesson is not None else [f"{i:02d}" for i in range(1, 100)]
    ids = [ex for les in lessons for ex in _lesson_checks(les)]
    return sorted(ids, key=lambda s: tuple(int(p) for p in s.split(".")))


def check(exercise: str, *answer: Any) -> None:
    """Check the answer to exercise ``exercise`` (e.g. ``"3.2"``); print one line on success.

    Raises ``AssertionError`` with an explanation when the answer is wrong, and lets a
    ``NotImplementedError`` from an unsolved exercise through (same exception, same message); in a
    notebook either one is shown in a few lines, without a traceback through the course's code.
    """
    _run(exercise, answer)


def _run(exercise: str, answer: tuple[Any, ...]) -> None:
    exercise = str(exercise)
    lesson = exercise.split(".")[0]
    checks = _lesson_checks(lesson)
    try:
        if exercise not in checks:
            known = ", ".join(available_checks(lesson)) or "none"
            raise KeyError(f"no check for exercise {exercise!r}; lesson {lesson} has checks for: {known}")
        if not answer:
            raise TypeError(f'check("{exercise}", answer): pass your answer too, e.g. the function or class '
                            "the exercise asks for (without calling it)")
        detail = checks[exercise](*answer)
    except BaseException as exc:
        if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            _show_briefly(exc, exercise)
        raise
    print(f"✔ Exercise {exercise} passed" + (f": {detail}" if detail else ""))


# ----------------------------------------------------------------------------- how a failure looks
_CHECKS_DIR = Path(__file__).resolve().parent
_RED, _BOLD, _RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"


def _show_briefly(exc: BaseException, exercise: str) -> None:
    """Give ``exc`` the short rendering IPython uses instead of a traceback (``_render_traceback_``).

    The exception object, its type and ``str(exc)`` stay as they are, so code that catches it
    (pytest, the grader) sees exactly what the check raised.
    """
    try:
        exc._render_traceback_ = lambda: _brief_lines(exc, exercise)   # called by IPython when it shows exc
    except AttributeError:  # an exception type without a __dict__: it keeps its usual traceback
        pass


def _brief_lines(exc: BaseException, exercise: str) -> list[str]:
    """What the learner reads under the check cell, by kind of failure."""
    feedback = getattr(exc, "feedback", None)
    if feedback is not None:                              # a check said what is wrong: say only that
        head, *rest = feedback.lines()
        return [f"{_RED}{_BOLD}{head}{_RESET}", *rest]
    if isinstance(exc, NotImplementedError):              # the learner's stub: not attempted yet
        return [_not_attempted(exc, exercise)]
    if isinstance(exc, (KeyError, TypeError)) and _raised_here(exc):     # a mistake in the check cell itself
        return [f"{_RED}{type(exc).__name__}: {exc.args[0] if exc.args else exc}{_RESET}"]
    # The learner's code crashed: their frames only. Rendering happens after the exception has left the
    # cell, so by now the traceback also holds the cell's own frame.
    head = (f"{_RED}{_BOLD}✘ Exercise {exercise}: your code raised {type(exc).__name__} while the check ran it"
            f"{_RESET} (the traceback shows your code only)")
    return [head, *_learner_traceback(exc)]


def _not_attempted(exc: NotImplementedError, exercise: str) -> str:
    """One line for an exercise whose ``raise NotImplementedError("Exercise N.k: ...")`` is still there."""
    text = str(exc)
    stub_of = text.split(":")[0].removeprefix("Exercise ").strip() if text.startswith("Exercise ") else None
    if stub_of and stub_of != exercise:
        return f"✎ Exercise {exercise} needs exercise {stub_of} first: {text}"
    return (f"✎ Exercise {exercise} is not attempted yet: replace `raise NotImplementedError(...)` with your code, "
            "run that cell, then run this check again.")


def _raised_here(exc: BaseException) -> bool:
    """True when the last frame of ``exc``'s traceback is this module (a bad ``check(...)`` call)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve() == Path(__file__).resolve()


def _learner_traceback(exc: BaseException) -> list[str]:
    """The traceback of ``exc`` without the frames of ``fusion_course/checks`` (which hold the reference)."""
    kept = []
    tb = exc.__traceback__
    while tb is not None:
        if _CHECKS_DIR not in Path(tb.tb_frame.f_code.co_filename).resolve().parents:
            kept.append(tb)
        tb = tb.tb_next
    trimmed: TracebackType | None = None
    for t in reversed(kept):
        trimmed = TracebackType(trimmed, t.tb_frame, t.tb_lasti, t.tb_lineno)
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:  # the notebook's own colours and "Cell In[3], line 4" labels
            return shell.InteractiveTB.structured_traceback(type(exc), exc, trimmed)
    except Exception:  # no IPython, or its formatter failed: plain Python's text is fine
        pass
    return traceback.format_exception(type(exc), exc, trimmed)


def _grade_check(exercise: str, *answer: Any) -> None:
    """``check`` as the grader calls it: re-imports the lesson's checks first.

    The grader's check cells call this instead of the notebook's ``check`` name, so a submission that
    rebinds ``check`` or patches a lesson's ``CHECKS`` dict in its own cells still meets the real checks.
    """
    prefix = f"lesson{int(str(exercise).split('.')[0]):02d}"
    for key in [k for k in sys.modules if k in (f"{__name__}.{prefix}", f"{__name__}._extra.{prefix}")]:
        del sys.modules[key]
    _run(exercise, answer)
