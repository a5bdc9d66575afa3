"""What a teacher wants to see next to a mark: flags, shown in the row and the report, never changing it.

* ``solution``: the submission's code is the published solution's (after removing comments and layout);
* ``similar``: two students' answer code is identical or nearly so (``difflib`` ratio over normalised code,
  neither the untouched exercise nor the published solution's answers); the flag names the other student;
* ``private``: the code reaches into the course's checks or the grader, or into the machinery a cheat needs
  (``sys.modules``, stack frames, the garbage collector, IPython's input transformers, signals to other
  processes, resource limits...). Honest code seldom does; the teacher decides;
* ``review``: anything else that needs a human (the worker did not end cleanly, a forged message, the
  course's files changed during the run, a lesson found only from the content...).
"""
from __future__ import annotations

import difflib
import re
from itertools import combinations
from typing import Any, Sequence

__all__ = ["private_access", "similar_pairs", "SIMILARITY"]

SIMILARITY = 0.9   # answer code this similar (difflib ratio) is flagged
_ALLOWED = re.compile(r"^\s*from\s+fusion_course\.checks\s+import\s+check\s*$", re.M)   # every notebook's import
_PATTERNS = {
    "the course's checks": r"fusion_course\s*\.\s*checks|fusion_course/checks|\bchecks\s*\.\s*_|\b_tools\b|\bCHECKS\b|_lesson_checks|_grade_check",
    "the grader": r"fusion_course\s*\.\s*grading|_grade_worker|answer_server|worker_process|__fusion_course_answers__|FUSION_COURSE_GRADE",
    "loaded modules": r"\bsys\s*\.\s*modules\b|\bsys\s*\.\s*meta_path\b|\bsys\s*\.\s*path_hooks\b|\bimportlib\b|__import__",
    "stack frames": r"\binspect\s*\.\s*(stack|currentframe|getouterframes)|\bsys\s*\.\s*_getframe|\bf_back\b|\bf_locals\b|\btb_frame\b",
    "the garbage collector": r"\bgc\s*\.\s*get_(objects|referrers|referents)",
    "IPython's machinery": r"input_transformers|set_custom_exc|\bget_ipython\s*\(\s*\)\s*\.\s*(events|ast_transformers|run_cell)|register_magic",
    "builtins": r"\bbuiltins\b|__builtins__",
    "other processes": r"\bos\s*\.\s*(kill|killpg|getppid|setsid|fork)|start_new_session|\bsignal\s*\.\s*signal|/proc/|\bctypes\b|\bptrace\b",
    "resource limits": r"\bresource\s*\.\s*setrlimit|\bprlimit\b",
    "the course's files": r"site-packages|__file__",
}


def private_access(code: str) -> list[str]:
    """What the code reaches into, by name; empty for ordinary exercise code."""
    text = _ALLOWED.sub("", code)
    return [what for what, pattern in _PATTERNS.items() if re.search(pattern, text)]


def similar_pairs(answers: Sequence[tuple[str, str, str]], skip: dict[str, set[str]],
                  threshold: float = SIMILARITY) -> list[tuple[str, str, float]]:
    """``(student_a, student_b, ratio)`` for answer code at least ``threshold`` alike, within one lesson.

    ``answers`` holds ``(student, lesson, normalised answer code)``; ``skip`` the code per lesson that says
    nothing when two students share it: the untouched exercise, and the published solution's answers
    (short exercises have one natural answer; a copied solution notebook has its own flag).
    """
    pairs = []
    for (a, lesson_a, code_a), (b, lesson_b, code_b) in combinations(answers, 2):
        if lesson_a != lesson_b or a == b or not code_a.strip() or not code_b.strip():
            continue
        if code_a in skip.get(lesson_a, ()) or code_b in skip.get(lesson_b, ()):
            continue
        if code_a == code_b:
            pairs.append((a, b, 1.0))
            continue
        matcher = difflib.SequenceMatcher(None, code_a.split(), code_b.split(), autojunk=False)
        if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
            continue
        ratio = matcher.ratio()
        if ratio >= threshold:
            pairs.append((a, b, round(ratio, 3)))
    return pairs


def describe_flags(flags: Sequence[dict[str, Any]]) -> str:
    """One line for the CSV: ``solution; similar: bob (0.97); private: stack frames``."""
    return "; ".join(f"{f['kind']}: {f['detail']}" if f.get("detail") else f["kind"] for f in flags)
