"""Collect what a package's modules declare: the shared mechanism of the model and dataset registries.

A registry lists its modules by name; each module declares a table (``MODEL_SPECS``, ``DATASETS``), so
lessons add models and datasets in their own files without editing each other's code.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import Any


def declared(package: str, modules: Iterable[str], attr: str) -> Iterator[Any]:
    """Yield ``module.<attr>`` for each listed module of ``package`` (an empty tuple where it declares none).

    A listed module that does not exist is skipped; an import error *inside* a module is raised, so a
    broken model or dataset file fails loudly instead of vanishing from the listings.
    """
    for name in modules:
        try:
            module = importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{package}.{name}":
                continue
            raise
        yield getattr(module, attr, ())
