"""Generic plotting for the lessons: feature-map grids, weight bars, training curves, mask grids, tables.

Every lesson draws the same few kinds of pictures, so they live here once. Each function takes plain
data (NumPy arrays, torch tensors, lists), returns the matplotlib ``Figure`` (so a notebook can assert on
what was drawn and tests can inspect axes), and never calls ``plt.show()``: Jupyter shows a returned
figure, scripts can ``fig.savefig``.

matplotlib is imported inside the functions: ``import fusion_course`` stays light on machines that only
train, and this module is imported only by notebooks and tests.

>>> import numpy as np
>>> from fusion_course.viz import show_maps, table
>>> fig = show_maps([np.zeros((8, 8)), np.ones((8, 12))], titles=["zeros", "ones"])
>>> len(fig.axes)
2
>>> table([["concat", 0.91], ["sum", 0.875]], headers=["fusion", "acc"])
fusion    acc
------  -----
concat  0.910
sum     0.875
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["to_numpy_map", "show_maps", "plot_weights", "plot_history", "show_masks", "table", "Table",
           "format_table", "lego_diagram", "architecture_table", "format_architecture"]


def to_numpy_map(x: Any, *, name: str = "map") -> np.ndarray:
    """Turn a 2-D map (or an image) given as array/tensor into a NumPy array for ``imshow``.

    Accepted shapes: ``(H, W)``; ``(1, H, W)`` / ``(1, 1, H, W)`` (singleton batch/channel dims are
    squeezed); ``(3, H, W)`` channel-first RGB (moved to ``(H, W, 3)``); ``(H, W, 3)`` / ``(H, W, 4)``.
    """
    if hasattr(x, "detach"):  # torch tensor: no grad, on CPU, float
        x = x.detach().cpu().float().numpy()
    arr = np.asarray(x)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    # Drop leading singleton dims: a (1, 1, H, W) feature map is just an (H, W) picture.
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]  # (H, W, 1) -> (H, W)
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # (C, H, W) -> (H, W, C)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4)):
        return arr
    raise ValueError(
        f"{name}: expected a 2-D map (H, W), an image (3, H, W) or (H, W, 3), or those with leading "
        f"singleton dims; got shape {tuple(arr.shape)}. Pick one channel, e.g. features[0, c]."
    )


def _grid(n: int, ncols: int | None, max_cols: int = 6) -> tuple[int, int]:
    if n < 1:
        raise ValueError("nothing to plot: got an empty list")
    if ncols is None:
        ncols = min(n, max_cols)
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    return math.ceil(n / ncols), ncols


def show_maps(
    maps: Sequence[Any],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    cmap: str = "viridis",
    suptitle: str | None = None,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = False,
    size: float = 2.2,
):
    """Show a list of 2-D maps (arrays or tensors) side by side, one panel each.

    Each map gets its own colour scale unless ``vmin``/``vmax`` fix a shared one (use a shared scale
    when the point is to compare magnitudes, e.g. raw vs normalised weights). RGB images are drawn in
    colour, single-channel maps with ``cmap``.

    Returns the ``Figure``; ``fig.axes[i].images[0].get_array()`` is the data drawn in panel ``i``.
    """
    if isinstance(maps, (np.ndarray,)) or hasattr(maps, "detach"):
        maps = list(maps) if np.ndim(maps) > 2 else [maps]
    maps = list(maps)
    if titles is not None and len(titles) != len(maps):
        raise ValueError(f"got {len(maps)} maps but {len(titles)} titles; pass one title per map")
    arrays = [to_numpy_map(m, name=f"maps[{i}]") for i, m in enumerate(maps)]
    import matplotlib.pyplot as plt

    nrows, ncols = _grid(len(arrays), ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(min(10.0, size * ncols), min(10.0, size * nrows + 0.4)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(arrays):
            ax.axis("off")
            continue
        arr = arrays[i]
        im = ax.imshow(arr, cmap=None if arr.ndim == 3 else cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
        if colorbar and arr.ndim == 2:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    # Drop the unused axes so fig.axes lines up with the maps.
    for ax in list(axes.flat)[len(arrays):]:
        fig.delaxes(ax)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_weights(
    weights: Any,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    *,
    ax=None,
    color: str = "tab:blue",
    annotate: bool = True,
):
    """Bar chart of fusion weights (one bar per input), values written above the bars.

    ``weights`` is a 1-D array/tensor/list, or a mapping ``{label: weight}``. A 2-D array of shape
    ``(K, n)`` draws ``K`` grouped bar sets, one per row (labels then name the columns).
    """
    if isinstance(weights, Mapping):
        labels = list(weights.keys()) if labels is None else labels
        weights = list(weights.values())
    if hasattr(weights, "detach"):
        weights = weights.detach().cpu().float().numpy()
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] == 0:
        raise ValueError(f"weights: expected a 1-D sequence (n,) or a 2-D array (K, n); got shape {w.shape}")
    n = w.shape[1]
    if labels is None:
        labels = [f"w{i + 1}" for i in range(n)]
    if len(labels) != n:
        raise ValueError(f"got {n} weights but {len(labels)} labels; pass one label per weight")
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(max(3.0, min(10.0, 0.7 * n * w.shape[0] + 1.5)), 2.6))
    else:
        fig = ax.figure
    k = w.shape[0]
    width = 0.8 / k
    x = np.arange(n)
    for row in range(k):
        offset = (row - (k - 1) / 2) * width
        bars = ax.bar(x + offset, w[row], width=width, color=color if k == 1 else None)
        if annotate:
            for b, v in zip(bars, w[row]):
                ax.annotate(f"{v:.2f}", (b.get_x() + b.get_width() / 2, v), ha="center",
                            va="bottom" if v >= 0 else "top", fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels([str(s) for s in labels])
    ax.axhline(0, color="black", lw=0.6)
    # Room above the tallest bar for the value labels.
    lo, hi = float(min(0.0, w.min())), float(max(0.0, w.max()))
    pad = 0.15 * (hi - lo if hi > lo else 1.0)
    ax.set_ylim(lo - (pad if lo < 0 else 0), hi + pad)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _history_series(history: Any, metric: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of ``metric`` from a History (``.epochs`` list of dicts), a list of dicts or a list."""
    rows = getattr(history, "epochs", history)
    if isinstance(rows, Mapping):  # {"val_acc": [..]} style
        if metric not in rows:
            raise KeyError(f"metric {metric!r} not in history; available: {sorted(rows)}")
        vals = [float(v) for v in rows[metric]]
        return list(range(1, len(vals) + 1)), vals
    rows = list(rows)
    if rows and isinstance(rows[0], Mapping):
        if not any(metric in r for r in rows):
            keys = sorted({k for r in rows for k in r})
            raise KeyError(f"metric {metric!r} not in history; available: {keys}")
        xs, ys = [], []
        for i, r in enumerate(rows):
            if metric in r and r[metric] is not None:
                xs.append(float(r.get("epoch", i + 1)))
                ys.append(float(r[metric]))
        return xs, ys
    vals = [float(v) for v in rows]  # a plain list of numbers
    return list(range(1, len(vals) + 1)), vals


def plot_history(
    histories: Any,
    metric: str | Sequence[str] = "val_loss",
    *,
    title: str | None = None,
    ax=None,
    logy: bool = False,
):
    """Training curves: one line per run (and per metric), x = epoch.

    ``histories`` is one history, a list of them, or a dict ``{name: history}``. A history is a
    ``fusion_course.train.History`` (its ``.epochs`` is a list of dicts with ``"epoch"`` and metric
    keys), a list of such dicts, a dict ``{metric: [values]}``, or a plain list of numbers.
    """
    if isinstance(histories, Mapping) and not _looks_like_metric_dict(histories):
        named = list(histories.items())
    elif isinstance(histories, (list, tuple)) and histories and not isinstance(histories[0], (Mapping, int, float)):
        named = [(f"run {i + 1}", h) for i, h in enumerate(histories)]
    else:
        named = [("", histories)]
    metrics = [metric] if isinstance(metric, str) else list(metric)
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.0, 3.0))
    else:
        fig = ax.figure
    for name, h in named:
        for m in metrics:
            xs, ys = _history_series(h, m)
            label = " · ".join(s for s in (name, m if len(metrics) > 1 or not name else "") if s)
            ax.plot(xs, ys, marker="o", ms=3, label=label or m)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metrics[0] if len(metrics) == 1 else "value")
    if logy:
        ax.set_yscale("log")
    if len(named) > 1 or len(metrics) > 1:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _looks_like_metric_dict(d: Mapping) -> bool:
    # {"val_loss": [..], "acc": [..]}: values are plain lists of numbers, not histories.
    vals = list(d.values())
    return bool(vals) and all(
        isinstance(v, (list, tuple)) and (not v or isinstance(v[0], (int, float))) for v in vals
    )


def show_masks(
    images: Sequence[Any],
    masks: Sequence[Any],
    preds: Sequence[Any] | None = None,
    *,
    n: int | None = None,
    titles: Sequence[str] = ("image", "mask", "prediction"),
    cmap: str = "gray",
    size: float = 2.0,
):
    """A grid with one row per sample: image | ground-truth mask | prediction (if given).

    ``images`` is a batch ``(N, C, H, W)`` / list of images; ``masks`` and ``preds`` are ``(N, 1, H, W)``
    or lists of 2-D maps. Masks and predictions share the [0, 1] colour scale so they compare directly.
    """
    images, masks = list(images), list(masks)
    if len(images) != len(masks):
        raise ValueError(f"got {len(images)} images but {len(masks)} masks; pass one mask per image")
    if preds is not None:
        preds = list(preds)
        if len(preds) != len(images):
            raise ValueError(f"got {len(images)} images but {len(preds)} predictions")
    count = len(images) if n is None else min(n, len(images))
    if count < 1:
        raise ValueError("nothing to plot: got no images")
    cols = 2 if preds is None else 3
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(count, cols, figsize=(min(10.0, size * cols), min(10.0, size * count)), squeeze=False)
    for r in range(count):
        row = [to_numpy_map(images[r], name=f"images[{r}]"), to_numpy_map(masks[r], name=f"masks[{r}]")]
        if preds is not None:
            row.append(to_numpy_map(preds[r], name=f"preds[{r}]"))
        for c, arr in enumerate(row):
            ax = axes[r, c]
            if arr.ndim == 3:
                ax.imshow(np.clip(arr, 0, 1))
            else:
                ax.imshow(arr, cmap=cmap if c == 0 else "gray", vmin=None if c == 0 else 0.0, vmax=None if c == 0 else 1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and c < len(titles):
                ax.set_title(titles[c], fontsize=9)
    fig.tight_layout()
    return fig


def _fmt(v: Any, decimals: int) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{decimals}f}"
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        return _fmt(v.item(), decimals)
    return str(v)


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str] | None = None, *, decimals: int = 3) -> str:
    """The text of :func:`table` (no printing). Floats get ``decimals`` places; numbers align right."""
    cells = [[_fmt(v, decimals) for v in row] for row in rows]
    width = max([len(r) for r in cells] + [len(headers) if headers else 0])
    if width == 0:
        return ""
    numeric = [
        all(_is_number(row[j]) for row in rows if j < len(row)) and any(j < len(row) for row in rows)
        for j in range(width)
    ]
    return _align(cells, [str(h) for h in headers] if headers else None, numeric)


def _align(cells: list[list[str]], head: list[str] | None, numeric: list[bool]) -> str:
    """Text columns padded to one width: numbers right-aligned, text left-aligned, a rule under the header."""
    width = len(numeric)
    for r in cells:
        r.extend([""] * (width - len(r)))
    if head:
        head = head + [""] * (width - len(head))
    cols = list(zip(*(([head] if head else []) + cells)))
    widths = [max(len(s) for s in col) for col in cols]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = []
    if head:
        out.append(line(head))
        out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells)
    return "\n".join(out)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


class Table:
    """A table that a notebook shows as HTML (with its caption) and a terminal or log as aligned text.

    Build it with :func:`table`. ``_repr_html_`` gives a real ``<table>`` (numbers right-aligned, cells
    escaped); ``repr()`` and IPython's plain-text view give the caption and the same columns as text,
    so the table still reads where HTML does not render (a terminal, a text-only test of outputs).
    """

    def __init__(self, rows: Sequence[Sequence[Any]], columns: Sequence[str] | None, caption: str | None,
                 floatfmt: str) -> None:
        # 0-d tensors and NumPy scalars become Python numbers: they format and align like numbers
        self.rows = [[v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v for v in r] for r in rows]
        self.columns = [str(c) for c in columns] if columns is not None else None
        self.caption = caption
        self.floatfmt = floatfmt
        width = max([len(r) for r in self.rows] + [len(self.columns or [])])
        self.numeric = [any(j < len(r) for r in self.rows) and all(_is_number(r[j]) for r in self.rows if j < len(r))
                        for j in range(width)]

    def _cell(self, v: Any) -> str:
        if isinstance(v, (float, np.floating)) and not isinstance(v, bool):
            return format(float(v), self.floatfmt)
        return str(v)

    def _repr_html_(self) -> str:
        import html

        def row(values: Sequence[Any], tag: str) -> str:
            cells = []
            for j, v in enumerate(values):
                align = ' style="text-align: right"' if j < len(self.numeric) and self.numeric[j] else ""
                cells.append(f"<{tag}{align}>{html.escape(self._cell(v) if tag == 'td' else str(v))}</{tag}>")
            return "<tr>" + "".join(cells) + "</tr>"

        parts = ['<table class="fusion-table">']
        if self.caption:
            parts.append(f"<caption>{html.escape(self.caption)}</caption>")
        if self.columns:
            parts.append("<thead>" + row(self.columns, "th") + "</thead>")
        parts.append("<tbody>" + "".join(row(r, "td") for r in self.rows) + "</tbody></table>")
        return "".join(parts)

    def __repr__(self) -> str:
        text = _align([[self._cell(v) for v in r] for r in self.rows], self.columns, self.numeric)
        return f"{self.caption}\n{text}" if self.caption else text

    __str__ = __repr__

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's text/plain
        p.text(repr(self))


def table(rows: Sequence[Sequence[Any]] | Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
          caption: str | None = None, floatfmt: str = ".3f", *, headers: Sequence[str] | None = None,
          decimals: int | None = None) -> Table | None:
    """A table of ``rows``: an HTML table in a notebook, aligned text elsewhere.

    Args:
        rows: one sequence of cells per row, or one dict per row (its keys are the columns).
        columns: the header; ``None`` for none (or the dict keys).
        caption: a line above the table saying what it shows.
        floatfmt: format spec for floats (``".3f"``, ``".1%"``, ``".2e"``); ints and text stay as they are.
        headers, decimals: the older spelling, which *prints* the text table and returns ``None``
            (notebooks written against it keep their stored outputs); use ``columns`` for new code.

    Returns a :class:`Table`: the last expression of a cell renders as HTML; ``print(t)`` gives text.

    >>> t = table([["concat", 0.91], ["sum", 0.875]], columns=["fusion", "acc"], caption="accuracy")
    >>> t
    accuracy
    fusion    acc
    ------  -----
    concat  0.910
    sum     0.875
    >>> "<caption>accuracy</caption>" in t._repr_html_()
    True
    """
    if headers is not None or decimals is not None:
        print(format_table(rows, headers, decimals=3 if decimals is None else decimals))
        return None
    if len(rows) and all(isinstance(r, Mapping) for r in rows):
        columns = list(columns) if columns is not None else list(rows[0].keys())
        rows = [[r.get(c, "") for c in columns] for r in rows]
    return Table(rows, columns, caption, floatfmt)


def _brick(ax, x: float, y: float, w: float, h: float, color: str, label: str = "", studs: int = 4) -> None:
    """One Lego brick: a rounded body with ``studs`` knobs on top, its label in the middle."""
    from matplotlib.patches import FancyBboxPatch, Rectangle

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.04", fc=color, ec="black", lw=1.2))
    stud_w = w / (2 * studs)
    for i in range(studs):
        sx = x + stud_w / 2 + i * 2 * stud_w
        ax.add_patch(Rectangle((sx, y + h), stud_w, 0.08 * h + 0.03, fc=color, ec="black", lw=1.0))
    if label:
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=9)


def lego_diagram(
    inputs: Sequence[str] = ("map A\nknows WHERE", "map B\nknows WHAT"),
    output: str = "fused\nWHERE + WHAT",
    *,
    block: str = "fusion\nblock",
    colors: Sequence[str] = ("#7fb3e6", "#f4b183", "#a9d18e", "#d5a6e6"),
    title: str | None = None,
):
    """The Lego picture of fusion: input bricks snap onto a fusion brick, and one combined brick comes out.

    The newsletter's Easy explanation: each input is a Lego block with its own design (wheels, wings);
    the Feature Fusion Block is the special piece that joins them into something neither is alone
    (a flying car). Drawn with plain matplotlib patches; returns the ``Figure``.
    """
    if not 1 <= len(inputs) <= len(colors):
        raise ValueError(f"inputs: draw between 1 and {len(colors)} input bricks, got {len(inputs)}")
    import matplotlib.pyplot as plt

    n = len(inputs)
    fig, ax = plt.subplots(figsize=(7.0, 2.2 + 0.5 * max(0, n - 2)))
    h, gap = 0.55, 0.25
    total = n * h + (n - 1) * gap
    for i, label in enumerate(inputs):
        y = total - (i + 1) * h - i * gap
        _brick(ax, 0.0, y, 1.5, h, colors[i], label)
        ax.annotate("", xy=(2.05, total / 2), xytext=(1.55, y + h / 2),
                    arrowprops=dict(arrowstyle="->", lw=1.3, color="0.3"))
    # The fusion brick: grey, with one stud per input (it has a socket for every brick).
    _brick(ax, 2.1, total / 2 - h / 2, 1.2, h, "#d9d9d9", block, studs=n)
    ax.annotate("", xy=(3.85, total / 2), xytext=(3.35, total / 2), arrowprops=dict(arrowstyle="->", lw=1.3, color="0.3"))
    # The result: one brick made of a stripe of every input colour.
    stripe = h / n
    for i in range(n):
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((3.9, total / 2 + h / 2 - (i + 1) * stripe), 1.8, stripe, fc=colors[i], ec="none"))
    _brick(ax, 3.9, total / 2 - h / 2, 1.8, h, "none", output, studs=4)
    ax.set_xlim(-0.1, 5.8)
    ax.set_ylim(-0.1, total + 0.25)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# --- a model's stages as a table (lesson 08) ---------------------------------------------------------

def _describe_output(out: Any) -> str:
    """'64×8×8' for a (B, 64, 8, 8) tensor (batch dropped); lists and dicts joined with ' | '."""
    if hasattr(out, "shape") and hasattr(out, "dim"):                  # a tensor
        return "×".join(str(s) for s in out.shape[1:])
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return " | ".join(_describe_output(o) for o in out)
    return type(out).__name__


def architecture_table(model: Any, input_size: Sequence[int] = (1, 3, 32, 32)) -> list[dict[str, Any]]:
    """One row per top-level stage of ``model``, in the order the forward pass runs them.

    Each row is ``{"stage": name, "output": "64×8×8", "params": int}``, measured with forward hooks on
    the model's direct children during one forward pass in eval mode on zeros of ``input_size``.
    A stage called twice gets one row per call (parameters counted on the first). Children that never
    run (e.g. an unused layer) are listed last with output ``"-"``, so the params still add up.

    Example::

        >>> from fusion_course.models import FusionNet
        >>> rows = architecture_table(FusionNet(), (1, 3, 32, 32))
        >>> rows[0]
        {'stage': 'stem', 'output': '32×16×16', 'params': 960}
        >>> sum(r["params"] for r in rows)
        9063096
    """
    import torch

    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    handles = []
    for name, child in model.named_children():
        def hook(module: Any, args: Any, out: Any, name: str = name) -> None:
            params = 0 if name in seen else sum(p.numel() for p in module.parameters())
            seen.add(name)
            rows.append({"stage": name, "output": _describe_output(out), "params": params})
        handles.append(child.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            first = next(model.parameters(), None)
            x = torch.zeros(*input_size, device=first.device if first is not None else "cpu")
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    for name, child in model.named_children():
        if name not in seen:
            rows.append({"stage": name, "output": "-", "params": sum(p.numel() for p in child.parameters())})
    own = sum(p.numel() for p in model.parameters(recurse=False))
    rows.append({"stage": "output", "output": _describe_output(out), "params": own})
    return rows


def format_architecture(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`architecture_table` as aligned text (stage, output, params), with a total line."""
    w = max(len(r["stage"]) for r in rows)
    o = max(len(r["output"]) for r in rows)
    lines = [f"{'stage':<{w}}  {'output (C×H×W)':<{o}}  {'params':>10}"]
    lines += [f"{r['stage']:<{w}}  {r['output']:<{o}}  {r['params']:>10,}" for r in rows]
    lines.append(f"{'total':<{w}}  {'':<{o}}  {sum(r['params'] for r in rows):>10,}")
    return "\n".join(lines)
