"""fusion_course: the companion package of the Feature Fusion course.

The notebooks import everything they teach with from here, so the code a learner reads in a lesson is
the code the tests prove. Importing the package is light: torch and the sub-packages load on first use.

>>> import fusion_course
>>> fusion_course.setup_notebook(seed=0, threads=2)   # doctest: +SKIP
'fusion_course 0.1.0 | seed 0 | 2 CPU threads | device cpu'
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "setup_notebook"]

# Sub-packages load lazily (PEP 562): `import fusion_course` must stay fast and must not need
# notebook-only packages (ipywidgets, nbformat) on machines that only train.
_SUBMODULES = {
    "checks", "cli", "data", "fusion", "grading", "losses", "metrics", "models",
    "profiling", "train", "viz", "widgets", "exercises", "bench", "envreport",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'fusion_course' has no attribute {name!r}")


def setup_notebook(seed: int = 0, threads: int = 2, *, quiet: bool = False) -> str:
    """Make a notebook reproducible: seed everything, fix the CPU thread count, set plot defaults.

    Every lesson calls this first. Seeded CPU work with a fixed thread count repeats bit for bit,
    which is what lets the test suite compare a notebook's stored outputs with a fresh run.

    Args:
        seed: seeds Python's ``random``, NumPy and torch (CPU and, if present, CUDA).
        threads: intra-op CPU threads for torch. The course's timings are measured with 2.
        quiet: when False, print the one-line summary as well as returning it.

    Returns:
        A one-line summary such as ``"fusion_course 0.1.0 | seed 0 | 2 CPU threads | device cpu"``.
    """
    from ._setup import seed_everything, set_plot_defaults

    device = seed_everything(seed, threads)
    set_plot_defaults()
    summary = f"fusion_course {__version__} | seed {seed} | {threads} CPU threads | device {device}"
    if not quiet:
        print(summary)
    return summary
