"""BiFPN: a feature pyramid fused top-down *and* bottom-up, with fast-normalised weights at every node.

Tan, Pang, Le, "EfficientDet: Scalable and Efficient Object Detection", CVPR 2020, arXiv:1911.09070.

An FPN (``fpn.py``, arXiv:1612.03144) only sends information down the pyramid, from coarse to fine:
the finest output knows the context of every coarser level, but the coarsest output never sees the
fine detail. BiFPN adds a bottom-up pass after the top-down one, and weighs every node's inputs with
learned, fast-normalised weights (``weighted.py``) instead of adding them. For levels ``1 … L``,
finest first, with inputs ``P_i^in`` already projected to a common width:

    top-down      P_i^td  = Conv( (w_1·P_i^in + w_2·up(P_{i+1}^td)) / (w_1 + w_2 + ε) )        i = L-1 … 1
                  (P_L^td = P_L^in)
    bottom-up     P_i^out = Conv( (w'_1·P_i^in + w'_2·P_i^td + w'_3·down(P_{i-1}^out)) / (Σ w' + ε) )
                  P_1^out = P_1^td,   P_L^out = Conv( (w'_1·P_L^in + w'_2·down(P_{L-1}^out)) / (Σ w' + ε) )

with ``w = relu(v)`` per node (fast normalisation, ε = 1e-4), ``up`` nearest-neighbour upsampling,
``down`` max pooling, and ``Conv`` a depthwise-separable 3×3 convolution + BatchNorm + SiLU, as in
EfficientDet. The paper repeats this layer several times (3–8 for D0–D7); stack ``BiFPNLayer``\\ s
to do the same. Like ``FPN``, it takes and returns an ``OrderedDict`` of named levels, so it is not
in the list-in / map-out ``create_fusion`` registry.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from ._checks import check_channel_list, check_inputs, check_positive_int
from .align import resize
from .layers import ConvBNAct, load_old_keys
from .weighted import normalize_weights, weighted_sum


def _separable_conv(channels: int) -> nn.Sequential:
    """Depthwise 3×3 (one filter per channel), then pointwise 1×1 + BN + SiLU: EfficientDet's node convolution."""
    # No BatchNorm between the two convolutions, as in EfficientDet's SeparableConvBlock: only the pointwise
    # step is a ConvBNAct.
    block = nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        ConvBNAct(channels, channels, 1, act=nn.SiLU, inplace=False),
    )
    # Checkpoints saved when the node was one flat nn.Sequential (dw conv, pw conv, BN, SiLU) still load.
    load_old_keys(block, {"1": "1.0", "2": "1.1"})
    return block


class BiFPNLayer(nn.Module):
    """One BiFPN layer: ``OrderedDict`` of named levels (finest first) in, same names and sizes out.

    Args:
        in_channels_list: channels of each input level, finest first (at least 2 levels).
        out_channels: channels of every node and output; inputs with other counts get a 1×1 projection.
        eps: the ε of fast normalisation.

    ``weights()`` returns the normalised weights of every node, e.g. ``{"td1": (2,), "out1": (3,), ...}``.

    Example:
        >>> import torch
        >>> from collections import OrderedDict
        >>> bifpn = BiFPNLayer([16, 32, 64], 32)
        >>> feats = OrderedDict(c3=torch.randn(2, 16, 32, 32), c4=torch.randn(2, 32, 16, 16), c5=torch.randn(2, 64, 8, 8))
        >>> [(k, tuple(v.shape)) for k, v in bifpn(feats).items()]
        [('c3', (2, 32, 32, 32)), ('c4', (2, 32, 16, 16)), ('c5', (2, 32, 8, 8))]
        >>> {k: tuple(w.shape) for k, w in bifpn.weights().items()}
        {'td0': (2,), 'td1': (2,), 'out1': (3,), 'out2': (2,)}
    """

    def __init__(self, in_channels_list: Sequence[int], out_channels: int, *, eps: float = 1e-4) -> None:
        super().__init__()
        self.in_channels = check_channel_list(in_channels_list, name="in_channels_list")
        if len(self.in_channels) < 2:
            raise ValueError(f"BiFPNLayer fuses at least 2 levels, got {len(self.in_channels)}")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        if not eps > 0:
            raise ValueError(f"eps must be > 0 (it keeps fast normalisation away from 0/0); got {eps!r}")
        self.eps = float(eps)
        n = len(self.in_channels)
        self.lateral = nn.ModuleList(
            nn.Identity() if c == out_channels else nn.Conv2d(c, out_channels, 1) for c in self.in_channels
        )
        # Raw node weights start at 1 (equal weights after normalisation), as in EfficientDet.
        self.td_weights = nn.ParameterDict({f"td{i}": nn.Parameter(torch.ones(2)) for i in range(n - 1)})
        self.td_convs = nn.ModuleDict({f"td{i}": _separable_conv(out_channels) for i in range(n - 1)})
        self.out_weights = nn.ParameterDict(
            {f"out{i}": nn.Parameter(torch.ones(3 if i < n - 1 else 2)) for i in range(1, n)}
        )
        self.out_convs = nn.ModuleDict({f"out{i}": _separable_conv(out_channels) for i in range(1, n)})

    def _node(self, raw: Tensor, conv: nn.Module, maps: list[Tensor]) -> Tensor:
        w = normalize_weights(raw, "fast", self.eps)            # (k,): relu(v) / (ε + Σ relu(v))
        return conv(weighted_sum(maps, w))                      # (B, C, H_i, W_i)

    def forward(self, x: Mapping[str, Tensor]) -> "OrderedDict[str, Tensor]":
        if not isinstance(x, Mapping):
            raise TypeError(
                f"BiFPNLayer takes an OrderedDict of named levels (finest first), e.g. OrderedDict(c3=..., c4=...); "
                f"got {type(x).__name__}; wrap a list as OrderedDict((str(i), f) for i, f in enumerate(maps))"
            )
        names = list(x.keys())
        feats = check_inputs(list(x.values()), self.in_channels, who="BiFPNLayer")
        p_in = [lat(f) for lat, f in zip(self.lateral, feats)]    # each (B, C, H_i, W_i)
        n = len(p_in)

        def size(i: int) -> tuple[int, int]:
            return int(p_in[i].shape[-2]), int(p_in[i].shape[-1])

        # Top-down: coarse context flows to the fine levels.
        td = [None] * n
        td[n - 1] = p_in[n - 1]
        for i in range(n - 2, -1, -1):
            key = f"td{i}"
            td[i] = self._node(self.td_weights[key], self.td_convs[key],
                               [p_in[i], resize(td[i + 1], size(i), "nearest")])
        # Bottom-up: fine detail flows back to the coarse levels.
        out = [None] * n
        out[0] = td[0]
        for i in range(1, n):
            key = f"out{i}"
            down = resize(out[i - 1], size(i), "max")
            maps = [p_in[i], td[i], down] if i < n - 1 else [p_in[i], down]
            out[i] = self._node(self.out_weights[key], self.out_convs[key], maps)
        return OrderedDict(zip(names, out))

    def weights(self) -> "OrderedDict[str, Tensor]":
        """Normalised weights of every node (detached): ``td*`` top-down, ``out*`` bottom-up."""
        raw = {**dict(self.td_weights.items()), **dict(self.out_weights.items())}
        return OrderedDict((k, normalize_weights(v, "fast", self.eps).detach().clone()) for k, v in raw.items())

    def extra_repr(self) -> str:
        return f"in_channels_list={self.in_channels}, out_channels={self.out_channels}, eps={self.eps}"

