"""Run-time budgets of every notebook, in seconds on 2 CPU cores: the one place they are kept.

tests/conftest.py times each notebook under the harness, prints the table at the end of the run and
fails the run when a notebook exceeds its budget. A solution notebook has the budget of its lesson.
"""
LEVEL_BUDGET_S = {"start": 90, "easy": 90, "moderate": 90, "hard": 240}

LESSON_LEVEL = {
    "00": "start",
    "01": "easy",
    "02": "easy",
    "03": "moderate",
    "04": "moderate",
    "05": "moderate",
    "06": "hard",
    "07": "hard",
    "08": "hard",
}

# Lessons whose budget differs from their level's, with the reason.
OVERRIDE_S = {
    "05": 180,  # trains several decoders over three seeds: the experiment is the lesson
}


def budget_for(notebook_name: str) -> float:
    """Budget for a notebook file name such as '05_does_fusion_help.ipynb'."""
    lesson = notebook_name[:2]
    if lesson in OVERRIDE_S:
        return OVERRIDE_S[lesson]
    return LEVEL_BUDGET_S[LESSON_LEVEL.get(lesson, "hard")]
