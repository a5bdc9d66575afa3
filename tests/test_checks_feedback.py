"""How a failed check reads in a notebook: a few lines, no frames of the check code, no reference code.

The exception keeps its type and its one-line message (the grader records ``ename`` and ``str(exc)``);
only IPython's rendering, ``_render_traceback_``, is short. The last tests run real cells in an IPython
shell, which is what a Jupyter kernel does.
"""
from __future__ import annotations

import re

import pytest
import torch

from fusion_course.checks import check

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def rendered(exc: BaseException) -> str:
    return ANSI.sub("", "\n".join(exc._render_traceback_()))


def concat_batch(maps):
    return torch.cat(maps, dim=0)


def test_a_failed_check_shows_a_few_lines_and_keeps_its_full_message():
    with pytest.raises(AssertionError) as info:
        check("1.3", concat_batch)
    exc = info.value
    assert type(exc) is AssertionError                                   # the grader's "failed"
    assert str(exc).startswith("Exercise 1.3: expected ") and "Hint:" in str(exc)
    text = rendered(exc)
    assert text.splitlines()[0] == "✘ Exercise 1.3 does not pass yet"
    assert 2 <= len(text.splitlines()) <= 4
    assert "expected:" in text and "got:" in text and "hint:" in text
    assert "Traceback" not in text and "lesson01.py" not in text and "torch.cat(feats" not in text


def test_an_unsolved_exercise_says_so_in_one_line():
    def todo(*args):
        raise NotImplementedError("Exercise 1.1: return σ(Σ_i weights[i] · maps[i])")

    with pytest.raises(NotImplementedError) as info:
        check("1.1", todo)
    assert type(info.value) is NotImplementedError                       # the grader's "not attempted"
    assert str(info.value) == "Exercise 1.1: return σ(Σ_i weights[i] · maps[i])"
    lines = info.value._render_traceback_()
    assert len(lines) == 1 and "not attempted yet" in lines[0] and "Traceback" not in lines[0]


def test_an_answer_that_needs_another_exercise_names_it():
    def uses_11(raw, how):
        raise NotImplementedError("Exercise 1.1: return σ(...)")

    with pytest.raises(NotImplementedError) as info:
        check("1.2", uses_11)
    assert "needs exercise 1.1 first" in info.value._render_traceback_()[0]


def test_a_crash_in_the_learners_code_shows_only_their_frames():
    def fuse(maps, weights, activation):
        return {"sigmoid": torch.sigmoid}[activation](sum(w * m for w, m in zip(weights, maps)))   # KeyError

    with pytest.raises(KeyError) as info:
        check("1.1", fuse)
    text = rendered(info.value)
    assert "your code raised KeyError" in text
    assert "test_checks_feedback.py" in text                             # the learner's frame is shown
    assert "fusion_course/checks" not in text.replace("\\", "/")          # the check's frames are not


@pytest.mark.parametrize("call, words", [
    (lambda: check("1.9", concat_batch), "no check for exercise '1.9'"),
    (lambda: check("1.3"), "pass your answer too"),
])
def test_mistakes_in_the_check_cell_are_one_line(call, words):
    with pytest.raises((KeyError, TypeError)) as info:
        call()
    lines = info.value._render_traceback_()
    assert len(lines) == 1 and words in lines[0]


@pytest.fixture
def shell():
    IPython = pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    yield sh
    InteractiveShell.clear_instance()
    del IPython


def test_in_ipython_a_failed_check_prints_no_traceback(shell, capsys):
    shell.run_cell("import torch\nfrom fusion_course.checks import check")
    capsys.readouterr()
    result = shell.run_cell('check("1.3", lambda maps: torch.cat(maps, dim=0))')
    out = ANSI.sub("", capsys.readouterr().out)
    assert isinstance(result.error_in_exec, AssertionError)
    assert "✘ Exercise 1.3 does not pass yet" in out
    assert "Traceback" not in out and "lesson01.py" not in out and "expected = " not in out
    assert len(out.strip().splitlines()) <= 4


def test_in_ipython_an_unsolved_exercise_prints_one_line(shell, capsys):
    shell.run_cell('from fusion_course.checks import check\n'
                   'def fuse(maps, weights, activation):\n'
                   '    raise NotImplementedError("Exercise 1.1: return the formula")')
    capsys.readouterr()
    result = shell.run_cell('check("1.1", fuse)')
    out = capsys.readouterr().out.strip()
    assert isinstance(result.error_in_exec, NotImplementedError)
    assert len(out.splitlines()) == 1 and "Exercise 1.1 is not attempted yet" in out
