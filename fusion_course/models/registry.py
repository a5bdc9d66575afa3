"""A registry of the course's trainable models, keyed by the name `fusion-course train` takes.

Each model module declares its own ``MODEL_SPECS``; this file only lists the modules, so lessons add
models without touching each other's code.

A builder is called as ``builder(in_channels=C, num_classes=K, **options)`` and returns an
``nn.Module``. Classifiers return logits ``(B, K)``; segmenters return mask logits ``(B, 1, H, W)``
(or, with deep supervision, a list whose first element is the final prediction).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .._declared import declared
from ..errors import UsageError

# Modules that declare MODEL_SPECS. A module that does not exist yet is skipped.
_MODULES = ("baseline", "f3net_toy", "two_maps", "decoders", "f3net", "mobilenet", "fusionnet")


@dataclass(frozen=True)
class ModelSpec:
    name: str                        # what `fusion-course train NAME` takes
    builder: Callable[..., object]   # builder(in_channels=, num_classes=, **options) -> nn.Module
    task: str                        # "classify" or "segment"
    default_dataset: str             # a name from fusion_course.data.available_datasets()
    description: str                 # one line for listings
    levels: tuple[str, ...] = ()     # the feature levels it fuses, for the CLI's story
    image_sizes: tuple[int, ...] | None = None   # the only sizes it takes (None: any)
    size_multiple: int = 1           # otherwise: sizes must be a multiple of this
    min_size: int = 1
    options: dict = field(default_factory=dict)  # builder defaults worth showing

    def check_size(self, size: int) -> None:
        """Raise UsageError, naming the sizes it takes, if the model cannot take `size`×`size` inputs."""
        if self.image_sizes is not None and size not in self.image_sizes:
            raise UsageError(
                f"model {self.name!r} only takes {' or '.join(f'{s}x{s}' for s in self.image_sizes)} inputs, "
                f"not {size}x{size}; pass --image-size {self.image_sizes[0]} or choose another model"
            )
        if size < self.min_size or size % self.size_multiple:
            raise UsageError(
                f"model {self.name!r} takes square inputs of at least {self.min_size} pixels whose side is a "
                f"multiple of {self.size_multiple}; {size} is not (try --image-size "
                f"{max(self.min_size, (size // self.size_multiple) * self.size_multiple or self.size_multiple)})"
            )


def _specs() -> dict[str, ModelSpec]:
    return {spec.name: spec for specs in declared(__package__, _MODULES, "MODEL_SPECS") for spec in specs}


def available_models() -> list[str]:
    """Names `fusion-course train` and `create_model` accept."""
    return sorted(_specs())


def model_spec(name: str) -> ModelSpec:
    specs = _specs()
    if name not in specs:
        raise UsageError(f"unknown model {name!r}; choose one of: {', '.join(sorted(specs))}")
    return specs[name]


def create_model(name: str, *, in_channels: int = 3, num_classes: int = 10, **options):
    """Build a registered model by name, e.g. ``create_model("f3net-toy", in_channels=1)``."""
    spec = model_spec(name)
    return spec.builder(in_channels=in_channels, num_classes=num_classes, **{**spec.options, **options})
