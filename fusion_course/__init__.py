"""fusion_course: the companion package of the Feature Fusion course.

The notebooks import everything they teach with from here, so the code a learner reads in a lesson is
the code the tests prove. Importing the package is light: torch and the sub-packages load on first use.

>>> import fusion_course
>>> fusion_course.setup_notebook(seed=0, threads=2)   # doctest: +SKIP
fusion_course 0.1.0 | seed 0 | 2 CPU threads | device cpu
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "setup_notebook", "seeds"]

# Sub-packages load lazily (PEP 562): `import fusion_course` must stay fast and must not need
# notebook-only packages (ipywidgets, nbformat) on machines that only train.
_SUBMODULES = {
    "checks", "cli", "data", "fusion", "grading", "losses", "metrics", "models",
    "profiling", "stats", "progress", "experiments", "diagrams", "figures", "train", "viz", "widgets",
    "exercises", "envreport",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'fusion_course' has no attribute {name!r}")


# A sweep over seeds (docs/seed-sweep.md) re-runs every lesson with another seed through this variable,
# to show that what a lesson asserts does not hang on seed 0.
SEED_ENV = "FUSION_COURSE_SEED"
_base_seed = 0


def seeds(n: int) -> list[int]:
    """``n`` consecutive training seeds starting at the notebook's seed: ``[0, 1, 2]`` for ``seeds(3)``.

    Lessons train over ``fusion_course.seeds(n)`` rather than ``range(n)``, so that the seed sweep
    (``FUSION_COURSE_SEED=3``) moves every run of a lesson to other seeds.
    """
    return list(range(_base_seed, _base_seed + int(n)))


def setup_notebook(seed: int = 0, threads: int = 2, *, device: str = "cpu", quiet: bool = False) -> None:
    """Make a notebook reproducible: seed everything, fix the CPU thread count, set plot defaults.

    Every lesson calls this first. Seeded CPU work with a fixed thread count repeats bit for bit on one
    machine; another CPU rounds differently, which is why lessons assert their claims rather than digits.

    Args:
        seed: seeds Python's ``random``, NumPy and torch (CPU and, if present, CUDA). The environment
            variable ``FUSION_COURSE_SEED`` overrides it (used by the seed sweep).
        threads: intra-op CPU threads for torch. The course's timings are measured with 2.
        device: where the lesson's models train: ``fusion_course.train.fit`` and ``evaluate`` read
            ``device="auto"`` as this. Lessons are CPU-first (``"cpu"``, the default): their budgets, stored
            outputs and asserted claims are CPU facts, and a visible GPU must not change them. Pass
            ``"auto"`` (CUDA, else Apple's MPS, else the CPU) to train a lesson's models on your GPU.
        quiet: when False, print a one-line summary such as
            ``fusion_course 0.1.0 | seed 0 | 2 CPU threads | device cpu``.

    Returns None, so a notebook cell ending with this call shows the summary once.
    """
    import os

    from ._setup import seed_everything, set_plot_defaults

    global _base_seed
    seed = _base_seed = int(os.environ.get(SEED_ENV, seed))
    seed_everything(seed, threads)
    from .train import set_default_device

    device = set_default_device(device).type
    set_plot_defaults()
    if not quiet:
        print(f"fusion_course {__version__} | seed {seed} | {threads} CPU threads | device {device}")
