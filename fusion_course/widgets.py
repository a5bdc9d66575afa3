"""The Fusion Simulator: an ipywidgets panel for ``F_fused = σ(w1·F1 + … + wn·Fn)``.

The source article ("F3Net: Feature Fusion Network Explained") promises an interactive "Feature Fusion
Simulator". This is it: one slider per weight ``w_i``, a dropdown for σ (identity, ReLU, sigmoid,
tanh), a toggle that normalises the weights (softmax, or the fast normalisation of EfficientDet's
BiFPN, Tan et al., arXiv:1911.09070: ``relu(w_i) / (ε + Σ_j relu(w_j))``), a live picture of the fused
map and a text summary (effective weights, mean/max/min of the fused map).

The fusion itself is computed by :class:`fusion_course.fusion.FormulaFusion`, the same module the
lessons use, so what the learner sees moving is the course's code, not a copy of it.

The logic is plain Python (``compute``/``summary_text``) so tests drive it without a browser::

    >>> import numpy as np
    >>> from fusion_course.widgets import FusionSimulator
    >>> rng = np.random.default_rng(0)
    >>> sim = FusionSimulator({"edges": rng.random((16, 20)), "shape": rng.random((16, 20))})
    >>> sim.sliders[0].value = 2.0              # what dragging the first slider does
    >>> sim.normalize.value = True              # the toggle
    >>> r = sim.compute()
    >>> r.fused.shape, round(float(r.effective_weights.sum()), 3)
    ((16, 20), 1.0)

ipywidgets and matplotlib are imported here, at module level: this module is only imported by
notebooks and tests (``import fusion_course`` does not import it).
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import ipywidgets as W
import numpy as np

__all__ = ["FusionSimulator", "FusionResult", "ACTIVATIONS", "NORMALIZATIONS"]

ACTIVATIONS: tuple[str, ...] = ("identity", "relu", "sigmoid", "tanh")
NORMALIZATIONS: tuple[str, ...] = ("softmax", "fast")


@dataclass(frozen=True)
class FusionResult:
    """One evaluation of the formula: the fused ``(H, W)`` map and the numbers the panel shows."""

    fused: np.ndarray               # (H, W) float32: σ(Σ w_i F_i)
    raw_weights: np.ndarray         # (n,) the slider values
    effective_weights: np.ndarray   # (n,) the weights actually used (after normalisation, if any)
    activation: str
    normalize: str | None           # None, "softmax" or "fast"

    @property
    def mean(self) -> float:
        return float(self.fused.mean())

    @property
    def max(self) -> float:
        return float(self.fused.max())

    @property
    def min(self) -> float:
        return float(self.fused.min())


def _as_map(x: Any, i: int) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=np.float32)
    while arr.ndim > 2 and arr.shape[0] == 1:  # (1, 1, H, W) -> (H, W)
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"map {i}: expected a 2-D (H, W) map (or (1, 1, H, W)), got shape {np.shape(x)}")
    return arr


def _prepare_maps(maps: Mapping[str, Any] | Sequence[Any],
                  names: Sequence[str] | None) -> tuple[list[str], list[np.ndarray]]:
    """``(names, (H, W) arrays)`` from a dict of maps or a list of maps with optional names; checks sizes."""
    if isinstance(maps, Mapping):
        if names is not None:
            raise TypeError("names: pass either a dict of maps or a list of maps with names, not both")
        names, values = [str(k) for k in maps], list(maps.values())
    else:
        values = list(maps)
        names = [f"F{i + 1}" for i in range(len(values))] if names is None else [str(s) for s in names]
    if not values:
        raise ValueError("maps: need at least one map to fuse")
    if len(names) != len(values):
        raise ValueError(f"got {len(values)} maps but {len(names)} names; pass one name per map")
    arrays = [_as_map(v, i) for i, v in enumerate(values)]
    for i, a in enumerate(arrays[1:], start=1):
        if a.shape != arrays[0].shape:
            raise ValueError(
                f"map {i} ({names[i]!r}) has shape {a.shape} but map 0 has {arrays[0].shape}; "
                "resize the maps to one size first (fusion_course.fusion.align_features)"
            )
    return list(names), arrays


def _check_options(n: int, weights: Sequence[float] | None, activation: str, normalize: bool | str | None,
                   weight_range: tuple[float, float]) -> tuple[list[float], str | None, float, float]:
    """Validated ``(weights, normalisation, low, high)``: one weight per map, a known σ and normalisation."""
    weights = [1.0] * n if weights is None else [float(w) for w in weights]
    if len(weights) != n:
        raise ValueError(f"got {n} maps but {len(weights)} weights; pass one weight per map")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if normalize is True:
        normalize = "softmax"
    if normalize not in (False, None) + NORMALIZATIONS:
        raise ValueError(f"normalize must be False, True or one of {NORMALIZATIONS}, got {normalize!r}")
    low, high = map(float, weight_range)
    if not low < high:
        raise ValueError(f"weight_range must be (low, high) with low < high, got {weight_range}")
    return weights, normalize or None, low, high


class FusionSimulator:
    """Sliders for ``w_1 … w_n``, a σ dropdown and a normalise toggle over ``n`` same-sized 2-D maps.

    Args:
        maps: ``{name: (H, W) map}`` or a sequence of maps (arrays or tensors, all the same size).
        names: labels for a sequence of maps (default ``F1, F2, …``).
        weights: initial slider values (default 1.0 each).
        activation: initial σ, one of :data:`ACTIVATIONS`.
        normalize: ``False``/``None`` (raw weights), ``True`` (softmax) or ``"softmax"``/``"fast"``.
        weight_range: slider limits ``(low, high)``.
        step: slider step.
        cmap: colour map of the fused picture.
        live: redraw the picture on every change (tests turn it off to skip the PNG rendering).

    Attributes (the widgets, for programmatic control and tests): ``sliders`` (list of FloatSlider,
    full width, so a small drag is a small change), ``activation`` (Dropdown), ``normalize``
    (ToggleButton), ``method`` (Dropdown: softmax/fast, disabled while the toggle is off), ``image``
    (Image, the fused map and the weight bars), ``summary`` (HTML with CSS class ``fusion-summary``),
    ``panel`` (the whole VBox; displaying the simulator displays it, with a static picture of its
    current state as the fallback for a notebook opened before anything ran).
    """

    def __init__(
        self,
        maps: Mapping[str, Any] | Sequence[Any],
        names: Sequence[str] | None = None,
        *,
        weights: Sequence[float] | None = None,
        activation: str = "sigmoid",
        normalize: bool | str | None = False,
        weight_range: tuple[float, float] = (-3.0, 3.0),
        step: float = 0.05,
        cmap: str = "magma",
        live: bool = True,
    ) -> None:
        import torch

        self.names, arrays = _prepare_maps(maps, names)
        weights, normalization, low, high = _check_options(len(arrays), weights, activation, normalize, weight_range)
        self.cmap = cmap
        self.live = live
        # (1, 1, H, W) per map: the calling convention of every fusion module (batch 1, 1 channel).
        self._inputs = [torch.from_numpy(a.copy())[None, None] for a in arrays]
        self._build_controls(weights, activation, normalization, low, high, step)
        self.panel = self._layout()
        for w in self.sliders + [self.activation, self.normalize, self.method]:
            w.observe(self._on_change, names="value")
        self.redraw()

    # ------------------------------------------------------------------ the widgets
    def _build_controls(self, weights: list[float], activation: str, normalization: str | None,
                        low: float, high: float, step: float) -> None:
        """One full-width slider per map, the σ dropdown, the normalise toggle and its method."""
        wide = {"style": {"description_width": "90px"}, "layout": W.Layout(width="100%", min_width="500px")}
        self.sliders = [
            W.FloatSlider(value=float(np.clip(w, low, high)), min=low, max=high, step=step, description=name,
                          continuous_update=True, readout_format=".2f", **wide)
            for name, w in zip(self.names, weights)
        ]
        for s in self.sliders:
            s.add_class("fusion-weight")
        self.activation = W.Dropdown(options=list(ACTIVATIONS), value=activation, description="σ",
                                     style={"description_width": "90px"}, layout=W.Layout(width="260px"))
        self.normalize = W.ToggleButton(value=normalization is not None, description="normalise weights",
                                        tooltip="use normalised weights (they then sum to 1)",
                                        layout=W.Layout(width="160px"))
        self.method = W.Dropdown(options=list(NORMALIZATIONS), value=normalization or "softmax",
                                 description="method", disabled=normalization is None,
                                 tooltip="how the weights are normalised (on while 'normalise weights' is on)",
                                 style={"description_width": "60px"}, layout=W.Layout(width="180px"))
        self.image = W.Image(format="png", layout=W.Layout(width="440px"))
        self.summary = W.HTML(value="")
        self.summary.add_class("fusion-summary")

    def _layout(self) -> W.VBox:
        """Sliders on top at full width, then σ and normalisation on one row, the picture, the summary."""
        options = W.HBox([self.activation, self.normalize, self.method])
        panel = W.VBox([*self.sliders, options, self.image, self.summary], layout=W.Layout(width="100%"))
        panel.add_class("fusion-simulator")
        return panel

    # ------------------------------------------------------------------ the formula
    @property
    def normalization(self) -> str | None:
        """The weight normalisation in use: ``None`` (toggle off), ``"softmax"`` or ``"fast"``."""
        return self.method.value if self.normalize.value else None

    def _module(self):
        from fusion_course.fusion.formula import FormulaFusion

        weights = [float(s.value) for s in self.sliders]
        return FormulaFusion([1] * len(weights), 1, weights=weights, activation=self.activation.value,
                             normalize=self.normalization, learnable=False)

    def compute(self) -> FusionResult:
        """Evaluate ``σ(Σ w_i F_i)`` with the current widget values (no drawing)."""
        import torch

        module = self._module()
        with torch.no_grad():
            fused = module(self._inputs)[0, 0].numpy()  # (1, 1, H, W) -> (H, W)
        return FusionResult(
            fused=fused.astype(np.float32),
            raw_weights=np.array([s.value for s in self.sliders], dtype=np.float64),
            effective_weights=_effective_weights(module),
            activation=self.activation.value,
            normalize=self.normalization,
        )

    # ------------------------------------------------------------------ what the learner sees
    @staticmethod
    def format_summary(result: FusionResult, names: Sequence[str]) -> str:
        """Plain text of the summary: effective weights, σ, and mean / max / min of the fused map."""
        w = ", ".join(f"{n} {v:.3f}" for n, v in zip(names, result.effective_weights))
        norm = result.normalize or "off"
        text = (f"effective weights: {w} (sum {result.effective_weights.sum():.3f}; normalise: {norm}) | "
                f"σ = {result.activation} | fused map: mean {result.mean:.3f}, max {result.max:.3f}, "
                f"min {result.min:.3f}")
        if result.normalize == "fast" and not (result.raw_weights > 0).any():
            text += " | every weight is <= 0, so fast normalisation switches every map off"
        return text

    @property
    def summary_text(self) -> str:
        """The text currently shown in the summary widget (HTML tags removed)."""
        return self._summary_text

    def redraw(self) -> FusionResult | None:
        """Recompute, update the summary and (when ``live``) the picture. Returns the result.

        Settings the formula rejects (fast normalisation with no positive weight) show the reason in
        the summary and return ``None``.
        """
        try:
            result = self.compute()
        except ValueError as exc:
            # e.g. fast normalisation with every weight <= 0: relu zeroes them all. Say so in the panel
            # instead of raising inside a widget callback, where the message would be lost.
            self.result = None
            self._summary_text = f"cannot fuse: {exc}"
            self.summary.value = f"<code>{html.escape(self._summary_text)}</code>"
            return None
        self.result = result
        # Picture first, summary second: whoever watches the summary (a learner, a browser test) then
        # knows the picture already shows the same state.
        if self.live:
            self.image.value = self.render_png(result)
        self._summary_text = self.format_summary(result, self.names)
        self.summary.value = f"<code>{html.escape(self._summary_text)}</code>"
        return result

    def render_png(self, result: FusionResult) -> bytes:
        """PNG bytes of the fused map (fixed colour scale per σ) next to a bar chart of the effective weights."""
        return render_result_png(result, self.names, self.cmap)

    def set_weights(self, weights: Sequence[float]) -> FusionResult | None:
        """Set every slider at once (one redraw) and return the new result."""
        if len(weights) != len(self.sliders):
            raise ValueError(f"got {len(weights)} weights for {len(self.sliders)} sliders")
        self._hold = True
        try:
            for s, w in zip(self.sliders, weights):
                s.value = float(w)
        finally:
            self._hold = False
        return self.redraw()

    _hold = False

    def _on_change(self, change: dict) -> None:
        # The method only means something while normalisation is on: show it greyed out otherwise.
        self.method.disabled = not self.normalize.value
        if not self._hold:
            self.redraw()

    # ------------------------------------------------------------------ how the notebook shows it
    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget, plus a picture and a line of text of its current state as fallbacks.

        A front end shows the richest type it can: the widget when the notebook runs (or its saved
        widget state is trusted), otherwise the PNG, so a notebook opened on a fresh machine shows the
        simulator as it was saved instead of ``VBox(children=...)``.
        """
        bundle = self.panel._repr_mimebundle_(**kwargs)
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        png = self.image.value or (self.render_png(self.result) if self.result is not None else b"")
        if png:
            data["image/png"] = base64.b64encode(png).decode("ascii")
        data["text/plain"] = "Fusion Simulator: run the cell to move the sliders"
        return data


def render_result_png(result: FusionResult, names: Sequence[str], cmap: str = "magma") -> bytes:
    """PNG bytes of ``result``: the fused map (fixed colour scale per σ) next to its effective weights."""
    # A bare Figure (not pyplot): nothing leaks into the notebook's inline backend, no GUI needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 2.8), dpi=72)
    FigureCanvasAgg(fig)
    ax_map, ax_w = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    lo, hi = _display_range(result)
    im = ax_map.imshow(result.fused, cmap=cmap, vmin=lo, vmax=hi)
    ax_map.set_title(f"σ = {result.activation}", fontsize=9)
    ax_map.set_xticks([])
    ax_map.set_yticks([])
    fig.colorbar(im, ax=ax_map, fraction=0.046, pad=0.04)
    colors = ["tab:blue" if v >= 0 else "tab:red" for v in result.effective_weights]
    ax_w.bar(range(len(names)), result.effective_weights, color=colors)
    ax_w.axhline(0, color="black", lw=0.6)
    ax_w.set_xticks(range(len(names)))
    ax_w.set_xticklabels(names, fontsize=8)
    ax_w.set_title("effective weights", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _display_range(result: FusionResult) -> tuple[float, float]:
    """A fixed colour scale per σ so that moving a slider changes colours, not the colour bar."""
    if result.activation == "sigmoid":
        return 0.0, 1.0
    if result.activation == "tanh":
        return -1.0, 1.0
    lo, hi = result.min, result.max
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _effective_weights(module) -> np.ndarray:
    """The weights ``module`` multiplies the maps with, after its normalisation (one per input)."""
    w = module.weights()  # FormulaFusion.weights(): effective weights, detached
    return np.asarray(w.detach().cpu().numpy(), dtype=np.float64).reshape(-1)
