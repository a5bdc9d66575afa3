"""The environment report of the start notebook: can this machine run the course?

``environment_report()`` returns rows of (what, value, ok); ``print_report()`` prints them as a table.
Everything it checks works offline; CIFAR-10 is optional and reported as such.
"""
from __future__ import annotations

import importlib
import os
import platform
import sys
from pathlib import Path
from typing import NamedTuple


class Row(NamedTuple):
    what: str
    value: str
    ok: bool


def _version(module: str) -> Row:
    try:
        mod = importlib.import_module(module)
        return Row(module, getattr(mod, "__version__", "installed"), True)
    except Exception as exc:  # an import that fails for any reason is what the learner must fix
        return Row(module, f"missing ({type(exc).__name__}: {exc})", False)


def _try(what: str, load) -> Row:
    try:
        return Row(what, load(), True)
    except Exception as exc:
        return Row(what, f"failed ({type(exc).__name__}: {exc})", False)


def _photos() -> str:
    from skimage import data

    shapes = [getattr(data, name)().shape for name in ("astronaut", "chelsea", "camera", "brick", "grass", "gravel")]
    return f"{len(shapes)} real images, e.g. astronaut {shapes[0]}, brick {shapes[3]}"


def _digits() -> str:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return f"{len(digits.images)} real 8x8 digits"


def _cifar(root: str | os.PathLike = "data/cifar10") -> Row:
    folder = Path(root) / "cifar-10-batches-py"
    if folder.is_dir():
        return Row("CIFAR-10 (optional)", f"found in {folder}", True)
    return Row("CIFAR-10 (optional)", f"not found in {folder}: the lessons use the offline data above", True)


def environment_report(cifar_root: str | os.PathLike = "data/cifar10") -> list[Row]:
    """Versions, CPU threads, GPU, and which offline datasets load on this machine."""
    rows = [Row("python", platform.python_version(), sys.version_info >= (3, 10))]
    rows += [_version(m) for m in ("torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "skimage", "sklearn")]
    try:
        import torch

        rows.append(Row("CPU cores / torch threads", f"{os.cpu_count()} / {torch.get_num_threads()}", True))
        if torch.cuda.is_available():
            rows.append(Row("GPU", torch.cuda.get_device_name(0), True))
        else:
            rows.append(Row("GPU", "none (every lesson runs on the CPU)", True))
    except Exception:
        pass
    rows.append(_try("photos and textures (skimage.data)", _photos))
    rows.append(_try("digits (sklearn)", _digits))
    rows.append(_cifar(cifar_root))
    return rows


def print_report(rows: list[Row] | None = None) -> bool:
    """Print the report; return True when everything the course needs is there."""
    rows = environment_report() if rows is None else rows
    width = max(len(r.what) for r in rows)
    for r in rows:
        print(f"{'✔' if r.ok else '✘'} {r.what:<{width}}  {r.value}")
    ok = all(r.ok for r in rows)
    print("\nAll set: every lesson can run here." if ok else "\nSomething is missing: see the ✘ lines above.")
    return ok
