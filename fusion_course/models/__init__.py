"""Models of the course: the source documents' models (working as printed, and fixed) and the papers'.

``create_model(name, ...)`` builds any registered model; ``available_models()`` lists the names.
Classes load lazily, so ``from fusion_course.models import F3Net`` imports only what it needs.
"""
from __future__ import annotations

import importlib
from typing import Any

from .registry import ModelSpec, available_models, create_model, model_spec

__all__ = ["ModelSpec", "available_models", "create_model", "model_spec"]

# class name -> module that defines it (filled in as lessons add models)
_LAZY = {
    "SmallCNN": "baseline",
    "TwoMapsNet": "two_maps",
    "F3NetToy": "f3net_toy",
    "F3NetToyFixed": "f3net_toy",
    "F3Net": "f3net",
    "DepthwiseSeparableConv": "mobilenet",
    "InvertedResidual": "mobilenet",
    "MobileNetFusion": "mobilenet",
    "FusionNet": "fusionnet",
    "NormalizedFusionNet": "fusionnet",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
