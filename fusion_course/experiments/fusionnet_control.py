"""Lesson 08's positive control: the same generator, a task where fine detail must reach the classifier.

The ablation's task (:mod:`fusion_course.experiments.fusionnet_ablation`) draws large shapes, whose outline
survives to FusionNet's deepest level; there, fusing finer levels has nothing to add. This control keeps
everything (generator, 12 classes, 32×32 grey images, models, training) and shrinks the objects to a radius
of 3–6 pixels: after three downsamplings the outline spans about one cell of the deepest map, so a model
that reads only that level (``no fusion (b3 only)``) should lose shape information that the fused models
can take from the finer levels. An experiment is only informative when it *can* come out positive; this
one is built so that it should, and the lesson reports whether it did.

>>> FULL.object_scale, NAMES
((0.2, 0.35), ('no fusion (b3 only)', 'normalized', 'per-pixel softmax'))
"""
from __future__ import annotations

import dataclasses

from .fusionnet_ablation import FusionNetConfig, LR_GRID, PRIMARY, baseline, load_data, train_model

__all__ = ["Config", "FULL", "NAMES", "LR_GRID", "PRIMARY", "load_data", "baseline", "train"]

NAMES = ("no fusion (b3 only)", "normalized", "per-pixel softmax")
Config = FusionNetConfig
#: The control's scale: the ablation's full scale with small objects.
FULL = FusionNetConfig(n_train=20000, n_val=2000, n_test=2000, epochs=60, batch_size=128, width=0.25,
                       plain_widths=(80, 160, 320), schedule="cosine", patience=8, object_scale=(0.2, 0.35))
DEFAULT = dataclasses.replace(FULL, n_train=3000, n_val=500, n_test=1000, epochs=8, batch_size=64,
                              schedule="onecycle", patience=0, width=0.125, plain_widths=(40, 80, 160))
train = train_model
