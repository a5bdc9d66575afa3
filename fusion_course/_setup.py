"""Seeding, thread count and plot defaults shared by notebooks, the CLI and the tests."""
from __future__ import annotations

import os
import random


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed Python, NumPy and torch; fix torch's CPU thread count (the device is chosen elsewhere:
    ``fusion_course.train.set_default_device``)."""
    # Before torch loads OpenMP: idle threads sleep rather than spin, which keeps a busy laptop (or two
    # notebooks sharing two cores) from slowing down several-fold. Results are unchanged.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numpy as np
    import torch

    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
        # Inter-op threads can only be set once per process; ignore the second attempt.
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def set_plot_defaults() -> None:
    """Small, readable figures: stored notebook images stay light so the repository stays small."""
    import matplotlib

    matplotlib.rcParams.update({
        "figure.dpi": 72,
        "savefig.dpi": 72,
        "figure.figsize": (6.0, 3.2),
        "image.cmap": "viridis",
        "axes.grid": False,
        "font.size": 9,
    })
