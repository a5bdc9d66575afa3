"""Exercise checks: ``check("N.k", answer)`` from a notebook's check cell.

Each lesson's checks live in ``fusion_course/checks/lessonNN.py`` as ``CHECKS = {"N.k": function}``.
A check function takes the learner's answer (a function, a module, a tensor...), never notebook
globals; it raises ``AssertionError`` with a message that teaches (what was expected, what came back,
a hint) and returns a short description of what it verified, which ``check`` prints on success.
Shared helpers for writing checks (teaching messages, seeded inputs, in-place mutation guards) are in
``fusion_course.checks._tools``.

A teacher can add checks for a lesson of their own without touching the package: put ``lessonNN.py``
files in a folder and name it in the ``FUSION_COURSE_EXTRA_CHECKS`` environment variable (several
folders separated by ``os.pathsep``); they are used for lessons the package has no module for.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
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
    ``NotImplementedError`` from an unsolved exercise through unchanged.
    """
    _run(exercise, answer)


def _run(exercise: str, answer: tuple[Any, ...]) -> None:
    lesson = str(exercise).split(".")[0]
    checks = _lesson_checks(lesson)
    if exercise not in checks:
        known = ", ".join(available_checks(lesson)) or "none"
        raise KeyError(f"no check for exercise {exercise!r}; lesson {lesson} has checks for: {known}")
    detail = checks[exercise](*answer)
    print(f"✔ Exercise {exercise} passed" + (f": {detail}" if detail else ""))


def _grade_check(exercise: str, *answer: Any) -> None:
    """``check`` as the grader calls it: re-imports the lesson's checks first.

    The grader's check cells call this instead of the notebook's ``check`` name, so a submission that
    rebinds ``check`` or patches a lesson's ``CHECKS`` dict in its own cells still meets the real checks.
    """
    prefix = f"lesson{int(str(exercise).split('.')[0]):02d}"
    for key in [k for k in sys.modules if k in (f"{__name__}.{prefix}", f"{__name__}._extra.{prefix}")]:
        del sys.modules[key]
    _run(exercise, answer)
