"""Fusion operators: every way the course combines feature maps, one concept per file.

The contract every list-in operator keeps:

* **Construction**: ``cls(in_channels: Sequence[int], out_channels: int, *, options)``. The same option
  means the same thing everywhere: ``size=`` the alignment target (:func:`target_size`: the first map's
  size unless told otherwise; ``"last"`` names the last map's, so a model that lists its levels finest
  first fuses at the coarsest level without reordering them), ``resize=`` how maps are brought to it
  ("bilinear", "nearest", "max", "avg"), ``learnable=`` whether given weights are trained, ``normalize=``
  how weights are normalised.
* **Forward**: ``forward([F_1, …, F_n]) -> (B, out_channels, H, W)`` at the target size (maps of other
  sizes are resized, maps with other channel counts get a 1×1 projection).
* **Input order**: weight ``i`` belongs to input ``i``. A model that changes the order of its inputs
  reorders a saved operator's per-input parameters with :func:`reverse_input_state` (its checkpoints'
  loader: ``reorder.load_reversed_inputs``).
* **Weights**, one meaning per name:

  - ``weights()``: operators whose weights are parameters (``WeightedSumFusion``, ``FormulaFusion``,
    ``BiFPNLayer``) return the weights they apply now, normalised and detached;
  - ``last_weights``: operators that compute their weights from the input (``GatedFusion``,
    ``ChannelAttentionFusion``, ``SpatialWeightedFusion``, ``AFF``) keep those of the last forward pass,
    detached, with the batch axis first; ``None`` before the first pass. (``GatedFusion`` and
    ``ChannelAttentionFusion`` also answer ``weights()`` with ``last_weights``, the name the early lessons use.)

    >>> import torch
    >>> maps = [torch.randn(2, 8, 4, 4), torch.randn(2, 8, 2, 2)]
    >>> static = WeightedSumFusion([8, 8], 8, mode="softmax")
    >>> static.weights()                          # softmax of zeros: equal weights, before any input
    tensor([0.5000, 0.5000])
    >>> dynamic = GatedFusion([8, 8], 8)
    >>> dynamic.last_weights is None
    True
    >>> tuple(dynamic(maps).shape), tuple(dynamic.last_weights.shape)   # one gate per sample and input
    ((2, 8, 4, 4), (2, 2))

=====================  ==========================================================  ==============
module                 equation                                                    source
=====================  ==========================================================  ==============
SumFusion              ``Σ F_i``                                                    ResNet, FPN
ConcatFusion           ``conv1×1([F_1 ‖ … ‖ F_n])``                                 U-Net, newsletter
WeightedSumFusion      ``Σ w_i F_i``; w fixed/learned/softmax/fast-normalised       arXiv:1911.09070
FormulaFusion          ``σ(Σ w_i F_i)``                                             the F3Net article
GatedFusion            ``Σ σ(a_iᵀ GAP(F_i)) F_i`` (optionally normalised)            TensorFlow article
ChannelAttentionFusion ``Σ softmax_i(MLP(GAP(Σ F)))_i ⊙ F_i``                       arXiv:1903.06586
SpatialWeightedFusion  ``Σ softmax_i(conv1×1_i(F_i)) ⊙ F_i``, one weight per pixel     arXiv:1911.09516
AFF / IAFF             ``M ⊙ X + (1 − M) ⊙ Y``, M = MS-CAM                          arXiv:2009.14082
FeatureFusionBlock     parallel convs → align → concat/sum → conv → act             newsletter
FPN                    top-down pyramid, OrderedDict in/out                         arXiv:1612.03144
BiFPNLayer             top-down + bottom-up pyramid, fast-normalised node weights   arXiv:1911.09070
CFM                    F3Net's cross feature module, (low, high) -> (h4, v4)       arXiv:1911.11445
ConvBNAct              ``act(BN(conv(x)))``, the block every model shares          timm
SqueezeExcitation      ``x · σ(W2 δ(W1 GAP(x)))``, one gate per channel            arXiv:1709.01507
=====================  ==========================================================  ==============

Example:
    >>> import torch
    >>> from fusion_course.fusion import create_fusion, available_fusions
    >>> maps = [torch.randn(2, 16, 32, 32), torch.randn(2, 32, 16, 16), torch.randn(2, 64, 8, 8)]
    >>> {name: tuple(create_fusion(name, [16, 32, 64], 32)(maps).shape) for name in available_fusions()}["attention"]
    (2, 32, 32, 32)
"""
from .aff import AFF, IAFF, MSCAM
from .align import Align, align_features, resize, target_size
from .attention import ChannelAttentionFusion
from .bifpn import BiFPNLayer
from .block import FeatureFusionBlock
from .cfm import CFM
from .concat import ConcatFusion
from .factory import FUSIONS, available_fusions, create_fusion
from .formula import FormulaFusion, make_activation
from .fpn import FPN
from .gated import GatedFusion, sample_weighted_sum
from .layers import ConvBNAct, SqueezeExcitation
from .reorder import reverse_input_state
from .spatial import SpatialWeightedFusion
from .sum import SumFusion, sum_maps
from .weighted import WeightedSumFusion, normalize_weights, weighted_sum

__all__ = [
    "AFF", "IAFF", "MSCAM", "Align", "BiFPNLayer", "align_features", "resize", "target_size", "ChannelAttentionFusion",
    "FeatureFusionBlock", "CFM", "ConvBNAct", "SqueezeExcitation", "ConcatFusion", "FUSIONS", "available_fusions", "create_fusion",
    "FormulaFusion", "make_activation", "FPN", "GatedFusion", "sample_weighted_sum", "SpatialWeightedFusion", "SumFusion", "sum_maps",
    "WeightedSumFusion", "normalize_weights", "weighted_sum", "reverse_input_state",
]
