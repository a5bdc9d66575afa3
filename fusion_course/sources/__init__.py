"""The source documents' code, as printed (made runnable) and fixed.

The lessons run the source documents' own snippets to show what goes wrong, then the fix. Each module
keeps the printed version (indentation restored, nothing else changed; TensorFlow translated line by
line into PyTorch) next to a fixed version, and the tests in ``tests/test_sources.py`` prove both:
the printed code fails or misbehaves exactly as the lessons say, and the fixed code works.

- ``newsletter_block``: the newsletter's ``FeatureFusionBlock`` (``def init``; a 1×1 conv that expects
  half the channels it receives).
- ``tf_examples``: the three TensorFlow examples of multi-level fusion (layers created on every call;
  sigmoid gates that do not sum to one; an "attention" that collapses to one channel).
- ``mobilenet_examples``: the MobileNet article's three fusion examples (a crash, a fixed float
  that is not learnable, a batch-mixing attention).
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["newsletter_block", "tf_examples", "mobilenet_examples"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
