"""Architecture diagrams drawn from the modules themselves: boxes and arrows with matplotlib.

A pasted picture of a model goes stale the day the code changes; a diagram drawn from the module
cannot. Every helper here reads the structure it draws from a module (its levels, channel counts,
layer types) or from a short spec, so the picture in a lesson is the model the lesson runs.

* :func:`draw` is the primitive: named boxes at grid positions, arrows between them;
* :func:`layer_label` names one layer with its shape, e.g. ``"conv 3×3 16→32"``;
* :func:`chain_diagram` draws a left-to-right pipeline (a spec: a list of labels, or a module's children);
* :func:`branches_diagram` draws parallel branches that merge (two-branch fusion models);
* :func:`fpn_diagram` and :func:`bifpn_diagram` draw a feature pyramid from an ``FPN`` or ``BiFPNLayer``.
* :func:`cfm_diagram` and :func:`feedback_diagram` draw F3Net's Cross Feature Module and its cascaded
  feedback decoder from the modules.

Matplotlib is imported when a function is called, so ``import fusion_course`` stays light.

Example:
    >>> from fusion_course.fusion import FPN
    >>> fig = fpn_diagram(FPN([16, 32, 64], 32), names=["c2", "c3", "c4"])
    >>> len(fig.axes), fig.get_size_inches().round(1).tolist()
    (1, [6.5, 2.2])
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

__all__ = ["draw", "draw_architecture", "layer_label", "chain_diagram", "branches_diagram", "fpn_diagram", "bifpn_diagram",
           "cfm_diagram", "feedback_diagram"]

# Box colours by role: inputs, learned layers, merges (+, ×, weighted sums), outputs.
COLORS = {"input": "#dbe9f6", "layer": "#fde7c8", "merge": "#e3f1dc", "output": "#f3dcef", "note": "#eeeeee"}


def layer_label(m: nn.Module) -> str:
    """A short name for one layer with its shape, e.g. ``"conv 3×3 16→32"`` or ``"linear 256→16"``."""
    if isinstance(m, nn.Conv2d):
        k = "×".join(map(str, m.kernel_size))
        kind = "depthwise conv" if m.groups == m.in_channels and m.groups > 1 else "conv"
        stride = f" /{m.stride[0]}" if m.stride[0] > 1 else ""
        return f"{kind} {k} {m.in_channels}→{m.out_channels}{stride}"
    if isinstance(m, nn.Linear):
        return f"linear {m.in_features}→{m.out_features}"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
        return f"{'max' if isinstance(m, nn.MaxPool2d) else 'avg'} pool /{k}"
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return f"global {'avg' if isinstance(m, nn.AdaptiveAvgPool2d) else 'max'} pool"
    if isinstance(m, nn.BatchNorm2d):
        return "batch norm"
    if isinstance(m, nn.Identity):
        return "identity"
    return type(m).__name__.replace("Fusion", " fusion").lower()


def _compact(labels: list[str]) -> list[str]:
    # Attach activations and norms to the layer before them, on a second line ("conv 3×3 1→16\n+ BN + relu"),
    # and a pooling layer on a line of its own in the same box.
    out: list[str] = []
    for lab in labels:
        short = "BN" if lab == "batch norm" else lab
        if out and lab in ("relu", "silu", "sigmoid", "batch norm", "gelu"):
            out[-1] += f" + {short}" if "\n+" in out[-1] else f"\n+ {short}"
        elif out and "pool" in lab and "pool" not in out[-1] and not out[-1].startswith("global"):
            out[-1] += f"\n{lab}"
        else:
            out.append(short)
    return out


def _leaves(module: nn.Module) -> list[nn.Module]:
    # The layers of nested Sequentials, in order.
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def draw(boxes: Mapping[str, tuple[float, float, str]], arrows: Sequence[tuple], *, kinds: Mapping[str, str] | None = None,
         title: str | None = None, box_size: tuple[float, float] = (1.5, 0.55), scale: float = 1.0,
         fontsize: float = 8) -> Any:
    """Draw named boxes and the arrows between them; returns the matplotlib figure.

    Args:
        boxes: ``name -> (x, y, text)`` in grid units (y grows upwards).
        arrows: ``(src, dst)``, ``(src, dst, label)`` or ``(src, dst, label, rad)`` (``rad``: curvature,
            to route an arrow around a box in its way).
        kinds: ``name -> "input" | "layer" | "merge" | "output" | "note"`` (colour; default "layer").
        box_size: width and height of a box in grid units.
        scale: inches per grid unit (1.0 keeps text readable at the course's 72 dpi).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    kinds = dict(kinds or {})
    xs = [b[0] for b in boxes.values()]
    ys = [b[1] for b in boxes.values()]
    bw, bh = box_size
    x0, x1 = min(xs) - bw / 2 - 0.1, max(xs) + bw / 2 + 0.1
    y0, y1 = min(ys) - bh / 2 - 0.1, max(ys) + bh / 2 + (0.35 if title else 0.1)
    fig, ax = plt.subplots(figsize=((x1 - x0) * scale, (y1 - y0) * scale))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.axis("off")
    for name, (x, y, text) in boxes.items():
        kind = kinds.get(name, "layer")
        w = bh if kind == "merge" and len(text) <= 2 else bw        # "+" nodes are small squares
        ax.add_patch(FancyBboxPatch((x - w / 2, y - bh / 2), w, bh, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    facecolor=COLORS.get(kind, COLORS["layer"]), edgecolor="#555555", lw=0.8))
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize + (3 if w == bh else 0))
    for arrow in arrows:
        src, dst = arrow[0], arrow[1]
        (xa, ya, ta), (xb, yb, tb) = boxes[src], boxes[dst]
        wa = bh if kinds.get(src) == "merge" and len(ta) <= 2 else bw
        wb = bh if kinds.get(dst) == "merge" and len(tb) <= 2 else bw
        start, end = _edge_point(xa, ya, xb, yb, wa, bh), _edge_point(xb, yb, xa, ya, wb, bh)
        rad = float(arrow[3]) if len(arrow) > 3 else 0.0
        if rad:   # leave from the top (rad < 0) or bottom of the boxes and bend around what lies between
            side = bh / 2 if rad < 0 else -bh / 2
            start, end = (xa, ya + side), (xb, yb + side)
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color="#333333", lw=0.9,
                                                               shrinkA=0, shrinkB=0, connectionstyle=f"arc3,rad={rad}"))
        if len(arrow) > 2 and arrow[2]:
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            if rad:   # the middle of an arc3 curve lies rad × length to the left of the chord
                dx, dy = end[0] - start[0], end[1] - start[1]
                mx, my = mx + rad * dy / 2, my - rad * dx / 2
            ax.text(mx, my, f" {arrow[2]} ", fontsize=fontsize - 1,
                    ha="center", va="center", color="#1f4e79", bbox=dict(fc="white", ec="none", pad=0.5))
    if title:
        ax.set_title(title, fontsize=fontsize + 1)
    fig.tight_layout(pad=0.2)
    return fig


def _edge_point(x: float, y: float, tx: float, ty: float, w: float, h: float) -> tuple[float, float]:
    # Where the segment from the box centre (x, y) towards (tx, ty) leaves the w×h box.
    dx, dy = tx - x, ty - y
    if dx == 0 and dy == 0:
        return x, y
    sx = (w / 2) / abs(dx) if dx else float("inf")
    sy = (h / 2) / abs(dy) if dy else float("inf")
    s = min(sx, sy)
    return x + dx * s, y + dy * s


def _labels(stage: Any) -> list[str]:
    if isinstance(stage, str):
        return [stage]
    if isinstance(stage, nn.Sequential):
        return _compact([layer_label(m) for m in _leaves(stage)])
    if isinstance(stage, nn.Module):
        return [layer_label(stage)]
    return [str(s) for s in stage]


def chain_diagram(stages: Any, *, input_label: str = "input", output_label: str = "output",
                  title: str | None = None, ncols: int = 4) -> Any:
    """A pipeline of boxes, left to right, wrapping after ``ncols`` boxes.

    ``stages`` is a spec (a list of labels) or a module: an ``nn.Sequential`` gives one box per layer
    (activations joined to the layer before them), any other module one box per child.

    Example:
        >>> import torch.nn as nn
        >>> fig = chain_diagram(nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)))
        >>> len(fig.axes)
        1
    """
    if isinstance(stages, nn.Module) and not isinstance(stages, nn.Sequential):
        labels = [lab for child in stages.children() for lab in _labels(child)]
    else:
        labels = _labels(stages) if isinstance(stages, nn.Module) else [str(s) for s in stages]
    texts = [input_label, *labels, output_label]
    boxes, kinds, arrows = {}, {}, []
    for i, text in enumerate(texts):
        row, col = divmod(i, ncols)
        x = col * 2.0 if row % 2 == 0 else (ncols - 1 - col) * 2.0       # snake, so arrows stay short
        boxes[f"b{i}"] = (x, -row * 1.0, text)
        if i:
            arrows.append((f"b{i - 1}", f"b{i}"))
    kinds["b0"], kinds[f"b{len(texts) - 1}"] = "input", "output"
    return draw(boxes, arrows, kinds=kinds, title=title, box_size=(1.75, 0.8), scale=0.66, fontsize=7)


def branches_diagram(branches: Mapping[str, Any], merge: str | None, tail: Sequence[str] = (), *,
                     output_label: str = "logits", title: str | None = None) -> Any:
    """Parallel branches (one row each) that meet in a ``merge`` box, then a ``tail`` of boxes.

    ``branches`` maps an input name to its stages (a module or a list of labels). With one branch and
    ``merge=None`` it is a single pipeline.

    Example:
        >>> import torch.nn as nn
        >>> enc = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
        >>> fig = branches_diagram({"A": enc, "B": enc}, "concat fusion", ["linear 64→16"])
        >>> len(fig.axes)
        1
    """
    rows = {name: _labels(stage) for name, stage in branches.items()}
    width = max(len(v) for v in rows.values())
    boxes, kinds, arrows = {}, {}, []
    n = len(rows)
    ys = {name: (n - 1) / 2 - i for i, name in enumerate(rows)}
    for name, labels in rows.items():
        y = ys[name] * 1.0
        boxes[f"in_{name}"] = (0.0, y, f"map {name}" if len(name) <= 2 else name)
        kinds[f"in_{name}"] = "input"
        prev = f"in_{name}"
        for j, lab in enumerate(labels):
            key = f"{name}_{j}"
            boxes[key] = (2.3 * (j + 1), y, lab)
            arrows.append((prev, key))
            prev = key
        rows[name] = prev                                    # type: ignore[assignment]
    x = 2.3 * (width + 1)
    ends = list(rows.values())
    if merge is not None:
        boxes["merge"] = (x, 0.0, merge)
        kinds["merge"] = "merge"
        arrows += [(end, "merge") for end in ends]
        prev, x = "merge", x + 2.3
    else:
        prev = ends[0]
    for j, lab in enumerate(tail):
        boxes[f"t{j}"] = (x, 0.0, lab)
        arrows.append((prev, f"t{j}"))
        prev, x = f"t{j}", x + 2.3
    boxes["out"] = (x, 0.0, output_label)
    kinds["out"] = "output"
    arrows.append((prev, "out"))
    return draw(boxes, arrows, kinds=kinds, title=title, box_size=(2.0, 0.85), scale=0.62, fontsize=7)


def _conv_of(block: nn.Module) -> nn.Module:
    return block if isinstance(block, nn.Conv2d) else next((m for m in block.modules() if isinstance(m, nn.Conv2d)), block)


def fpn_diagram(fpn: nn.Module, names: Sequence[str] | None = None, *, title: str | None = "FPN: top-down pathway") -> Any:
    """Draw an ``FPN`` (or torchvision's ``FeaturePyramidNetwork``) from its lateral and output convs.

    One row per level, finest at the bottom: ``C_i → 1×1 lateral → + → 3×3 → P_i``, and the top-down
    arrows ``up ×2`` from each level's sum to the next finer one.
    """
    inner, layer = list(fpn.inner_blocks), list(fpn.layer_blocks)
    n = len(inner)
    names = list(names) if names is not None else [f"C{i + 2}" for i in range(n)]
    mode = getattr(fpn, "upsample", "nearest")
    boxes, kinds, arrows = {}, {}, []
    for i in range(n):
        y = i * 1.0
        lat, out = _conv_of(inner[i]), _conv_of(layer[i])
        boxes[f"c{i}"] = (0.0, y, f"{names[i]}  ({lat.in_channels} ch)")
        kinds[f"c{i}"] = "input"
        boxes[f"l{i}"] = (2.0, y, layer_label(lat))
        boxes[f"s{i}"] = (3.6, y, "+")
        kinds[f"s{i}"] = "merge"
        boxes[f"o{i}"] = (5.2, y, layer_label(out))
        boxes[f"p{i}"] = (7.0, y, f"P · {names[i]}")
        kinds[f"p{i}"] = "output"
        arrows += [(f"c{i}", f"l{i}"), (f"l{i}", f"s{i}"), (f"s{i}", f"o{i}"), (f"o{i}", f"p{i}")]
        if i < n - 1:
            arrows.append((f"s{i + 1}", f"s{i}", f"{mode} up"))
    return draw(boxes, arrows, kinds=kinds, title=title, scale=0.75)


def bifpn_diagram(layer: nn.Module, names: Sequence[str] | None = None, *,
                  title: str | None = "BiFPN layer: top-down, then bottom-up") -> Any:
    """Draw a ``BiFPNLayer`` from its nodes: inputs, top-down nodes, bottom-up outputs.

    Each node box shows its number of fast-normalised weights (``Σ w·F / (ε + Σ w)``, then a
    separable 3×3 conv); arrows into a node are its inputs.
    """
    n = len(layer.lateral)
    names = list(names) if names is not None else [f"P{i + 3}" for i in range(n)]
    boxes, kinds, arrows = {}, {}, []
    for i in range(n):
        y = i * 1.4
        boxes[f"in{i}"] = (0.0, y, f"{names[i]} in ({layer.in_channels[i]} ch)")
        kinds[f"in{i}"] = "input"
        if i < n - 1:
            boxes[f"td{i}"] = (2.3, y, f"top-down node\n{len(layer.td_weights[f'td{i}'])} weights")
            arrows.append((f"in{i}", f"td{i}"))
        if i > 0:
            boxes[f"out{i}"] = (4.6, y, f"bottom-up node\n{len(layer.out_weights[f'out{i}'])} weights")
            arrows.append((f"in{i}", f"out{i}") if i == n - 1 else (f"td{i}", f"out{i}"))
            if 0 < i < n - 1:
                arrows.append((f"in{i}", f"out{i}", "skip", -0.25))
        boxes[f"p{i}"] = (6.6, y, f"{names[i]} out ({layer.out_channels} ch)")
        kinds[f"p{i}"] = "output"
        arrows.append((f"td{i}" if i == 0 else f"out{i}", f"p{i}"))
    for i in range(n - 1):
        src = f"in{n - 1}" if i == n - 2 else f"td{i + 1}"
        arrows.append((src, f"td{i}", "up"))
    for i in range(1, n):
        arrows.append((f"td0" if i == 1 else f"out{i - 1}", f"out{i}", "down"))
    return draw(boxes, arrows, kinds=kinds, title=title, box_size=(1.6, 0.6), scale=0.75)


def cfm_diagram(cfm: nn.Module, low: str = "low", high: str = "high", *,
                title: str | None = "Cross Feature Module (CFM)") -> Any:
    """Draw F3Net's Cross Feature Module (arXiv:1911.11445) from the module's own eight CBRs.

    Two paths, one per input: the low-level path ``h₁ → h₂`` (top row) and the high-level path
    ``v₁ → v₂`` (bottom row, after upsampling ``high`` to ``low``'s size). They meet in the cross
    step, ``h₂ ⊙ v₂`` for CFM (the box reads ``+`` or ``concat`` for the course's baselines, whose
    ``fuse`` attribute says which), then each path takes the fused map through one more CBR, adds its
    own first output back (a residual) and ends in a last CBR::

        h₄ = CBR_h4(CBR_h3(f) + h₁),   v₄ = CBR_v4(CBR_v3(f) + v₁),   f = h₂ ⊙ v₂

    Each CBR box shows its step name and its conv (``layer_label``), read from ``cfm.h1`` … ``cfm.v4``.

    Example:
        >>> from fusion_course.fusion import CFM
        >>> fig = cfm_diagram(CFM(16), "C2", "C3")
        >>> sum(t.get_text() == "×" for t in fig.axes[0].texts), sum(t.get_text() == "+" for t in fig.axes[0].texts)
        (1, 2)
    """
    fuse = getattr(cfm, "fuse", "cfm")
    cross = {"cfm": "×", "sum": "+", "concat": "concat\n+ CBR 1×1"}.get(fuse, str(fuse))

    def step(name: str) -> str:
        return f"{name}: " + _labels(getattr(cfm, name))[0]

    boxes = {
        "low": (0.0, 1.0, f"{low} (low level)"), "high": (0.0, -1.0, f"{high} (high level)"),
        "up": (2.2, -1.0, "bilinear up\nto low's size"),
        "h1": (2.2, 1.0, step("h1")), "h2": (4.4, 1.0, step("h2")),
        "v1": (4.4, -1.0, step("v1")), "v2": (6.6, -1.0, step("v2")),
        "x": (6.6, 0.0, cross),
        "h3": (8.8, 1.0, step("h3")), "hs": (10.6, 1.0, "+"), "h4": (12.4, 1.0, step("h4")),
        "v3": (8.8, -1.0, step("v3")), "vs": (10.6, -1.0, "+"), "v4": (12.4, -1.0, step("v4")),
        "ho": (14.6, 1.0, "out 1: h₄\n(the refined low level)"), "vo": (14.6, -1.0, "out 2: v₄\n(next CFM's high, or p)"),
    }
    kinds = {"low": "input", "high": "input", "x": "merge", "hs": "merge", "vs": "merge", "ho": "output", "vo": "output"}
    arrows = [("low", "h1"), ("h1", "h2"), ("h2", "x"), ("high", "up"), ("up", "v1"), ("v1", "v2"),
              ("v2", "x"), ("x", "h3", "f"), ("x", "v3", "f"), ("h3", "hs"), ("v3", "vs"),
              ("h1", "hs", "h₁ (residual)", -0.12), ("v1", "vs", "v₁ (residual)", 0.12),
              ("hs", "h4"), ("vs", "v4"), ("h4", "ho"), ("v4", "vo")]
    fig = draw(boxes, arrows, kinds=kinds, title=title, box_size=(1.85, 0.8), scale=0.72, fontsize=7)
    # The residual arcs bow out above and below the two rows: make room for them.
    ax, (width, height) = fig.axes[0], fig.get_size_inches()
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo - 0.5, hi + 0.5)
    fig.set_size_inches(width, height + 1.0 * 0.72)
    return fig


def feedback_diagram(net: nn.Module, *, title: str | None = "F3Net: cascaded feedback decoder") -> Any:
    """Draw an ``F3Net``'s levels, 1×1 reductions and cascaded sub-decoders, read from the module.

    One row per backbone level (finest at the bottom). Sub-decoder 1 takes the four reduced levels;
    every later sub-decoder ``k + 1`` takes what sub-decoder ``k`` **returns**, the refined levels
    (``SubDecoder.forward`` returns ``[C2, C3, C4]`` refined and ``C5`` as it came), plus the
    prediction features ``p_k`` resized and added to each level, the paper's feedback step::

        C_l^(k+1) = C_l^(k), refined by sub-decoder k,  + resize(p_k)       for l = 2 … 5

    The last sub-decoder's ``p_N`` goes to a 3×3 head and is upsampled to the input size.

    Example:
        >>> from fusion_course.models import F3Net
        >>> fig = feedback_diagram(F3Net(n_decoders=2))
        >>> sum(t.get_text().startswith("sub-decoder") for t in fig.axes[0].texts)
        2
    """
    levels = list(net.reduce.keys())
    n_dec = len(net.decoders)
    fuse = getattr(net, "fuse", "cfm")
    boxes, kinds, arrows = {}, {}, []
    mid = (len(levels) - 1) / 2
    for i, name in enumerate(levels):
        stage_in = _conv_of(net.reduce[name]).in_channels
        boxes[f"c{i}"] = (0.0, i * 1.0, f"{name.upper()}  ({stage_in} ch, /{2 ** (i + 2)})")
        kinds[f"c{i}"] = "input"
        boxes[f"r{i}"] = (2.4, i * 1.0, _labels(net.reduce[name])[0])
        arrows += [(f"c{i}", f"r{i}"), (f"r{i}", "d0")]
    blocks = " ".join(f"{a}→{b}" for a, b in ((5, 4), (4, 3), (3, 2)))
    x = 5.2
    for k in range(n_dec):
        boxes[f"d{k}"] = (x, mid, f"sub-decoder {k + 1}\n3 × {fuse.upper() if fuse == 'cfm' else fuse}: {blocks}")
        if k + 1 < n_dec:
            boxes[f"p{k}"] = (x, mid - 1.6, f"p{k + 1}: prediction\nfeatures ({net.width} ch, /4)")
            boxes[f"s{k}"] = (x + 2.6, mid, "+")
            kinds[f"s{k}"] = "merge"
            refined = f"refined {levels[0].upper()}–{levels[-2].upper()},\n{levels[-1].upper()} as it came"
            arrows += [(f"d{k}", f"s{k}", refined), (f"d{k}", f"p{k}"),
                       (f"p{k}", f"s{k}", "resize to\neach level"), (f"s{k}", f"d{k + 1}")]
            x += 4.6
    boxes["head"] = (x + 2.3, mid, f"p{n_dec} → head\n{layer_label(net.pred_heads[-1])}")
    boxes["out"] = (x + 4.5, mid, "mask logits\n(input size)")
    kinds["out"] = "output"
    arrows += [(f"d{n_dec - 1}", "head"), ("head", "out")]
    return draw(boxes, arrows, kinds=kinds, title=title, box_size=(2.0, 0.8), scale=0.72, fontsize=7)


# Which earlier stages feed each stage of the two FusionNets (for the diagram's arrows).
_FUSIONNET_FEEDS = {
    "stem": ["input"], "layer1": ["stem"], "layer2": ["layer1"], "layer3": ["layer2"],
    "layer4": ["layer3"], "conv2": ["layer4"],
    "branch1": ["layer3", "layer4", "conv2"], "branch2": ["stem", "layer1"], "branch3": ["conv2"],
    "fpn": ["layer1", "layer2", "layer3", "layer4"], "dynamic_fusion": ["fpn"], "level_fusion": ["fpn"],
    "branch4": ["dynamic_fusion", "level_fusion"],
    "branch_fusion": ["branch1", "branch2", "branch3", "branch4"],
    "output": ["branch1", "branch2", "branch3", "branch4", "branch_fusion"],
}


def draw_architecture(rows: Sequence[dict[str, Any]], ax: Any = None, title: str | None = None) -> Any:
    """Draw the table as boxes (stage, output, params) with arrows for the data flow; returns the Axes.

    The trunk runs left to right along the middle row; the pooled-feature branches sit above it and the
    pyramid branch below, next to the stages that feed them. Arrows follow which stage feeds which (the
    models' forward passes). Works for the tables (:func:`fusion_course.viz.architecture_table`) of
    ``FusionNet`` and ``NormalizedFusionNet``
    (dropped branches vanish).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    names = [r["stage"] for r in rows]
    layout = {
        "input": (-1.1, 0.0), "stem": (0, 0), "layer1": (1, 0), "layer2": (2, 0), "layer3": (3, 0),
        "layer4": (4, 0), "conv2": (5, 0),
        "branch2": (1.5, 1.5), "branch1": (4.0, 1.5), "branch3": (5.6, 1.5),
        "fpn": (2.5, -1.5), "dynamic_fusion": (4.0, -1.5), "level_fusion": (4.0, -1.5), "branch4": (5.5, -1.5),
        "branch_fusion": (6.6, 0.0), "output": (7.7, 0.0),
    }
    pos = {n: layout[n] for n in ["input", *names] if n in layout}
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 4))
    info = {r["stage"]: r for r in rows}
    bw, bh = 0.94, 0.95
    colours = {"trunk": "#dbe9f6", "branch": "#fde2c8", "fuse": "#d9f0d3"}
    boxes = {}
    for n, (x, y) in pos.items():
        kind = ("trunk" if y == 0 and n not in ("branch_fusion", "output")
                else "fuse" if ("fusion" in n or n in ("fpn", "output")) else "branch")
        box = FancyBboxPatch((x - bw / 2, y - bh / 2), bw, bh, boxstyle="round,pad=0.02",
                             fc=colours[kind], ec="0.3", lw=0.8, zorder=2)
        ax.add_patch(box)
        boxes[n] = box
        r = info.get(n)
        if r is None:
            label = n
        else:
            shape = r["output"].split(" | ")[0] + (" …" if " | " in r["output"] else "")
            label = f"{n}\n{shape}\n{r['params']:,} p"
        ax.text(x, y, label, ha="center", va="center", fontsize=6.5, zorder=3)
    for dst, srcs in _FUSIONNET_FEEDS.items():
        if dst not in pos:
            continue
        for src in srcs:
            if src not in pos:
                continue
            if dst == "output" and "branch_fusion" in pos and src != "branch_fusion":
                continue      # NormalizedFusionNet: branches go through branch_fusion
            ax.annotate("", xy=pos[dst], xytext=pos[src], zorder=1,
                        arrowprops=dict(arrowstyle="->", lw=0.6, color="0.35", shrinkA=0, shrinkB=0,
                                        patchA=boxes[src], patchB=boxes[dst]))
    ax.set_xlim(-1.65, 8.25)
    ax.set_ylim(-2.1, 2.1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
