"""The Fusion Simulator (fusion_course.widgets), driven without a browser: every control changes the result."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")

from fusion_course.widgets import ACTIVATIONS, FusionSimulator  # noqa: E402


@pytest.fixture
def maps():
    rng = np.random.default_rng(0)
    return {"edges": rng.random((12, 9)), "texture": rng.random((12, 9)), "shape": rng.random((12, 9))}


def _expected(maps, w, act):
    z = sum(wi * m for wi, m in zip(w, maps.values()))
    return {"identity": z, "relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)), "tanh": np.tanh(z)}[act]


def test_construct_one_slider_per_map_and_summary_widget(maps):
    sim = FusionSimulator(maps, live=False)
    assert [s.description for s in sim.sliders] == ["edges", "texture", "shape"]
    assert "fusion-summary" in sim.summary._dom_classes
    assert list(sim.activation.options) == list(ACTIVATIONS)
    r = sim.result
    np.testing.assert_allclose(r.fused, _expected(maps, [1, 1, 1], "sigmoid"), rtol=1e-5, atol=1e-6)
    assert "edges 1.000" in sim.summary_text and f"mean {r.mean:.3f}" in sim.summary_text
    assert sim.summary_text in sim.summary.value or "effective weights" in sim.summary.value


def test_moving_a_slider_changes_the_fused_map_and_summary(maps):
    sim = FusionSimulator(maps, live=False)
    before_text, before = sim.summary_text, sim.result
    sim.sliders[0].value = 2.5            # what dragging the edges slider does
    after = sim.result
    assert sim.summary_text != before_text
    assert "edges 2.500" in sim.summary_text
    np.testing.assert_allclose(after.effective_weights, [2.5, 1, 1])
    np.testing.assert_allclose(after.fused, _expected(maps, [2.5, 1, 1], "sigmoid"), rtol=1e-5, atol=1e-6)
    assert after.mean > before.mean        # maps are positive, sigmoid is increasing


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_dropdown(maps, act):
    sim = FusionSimulator(maps, weights=[1.0, -2.0, 0.5], live=False)
    sim.activation.value = act
    np.testing.assert_allclose(sim.result.fused, _expected(maps, [1, -2, 0.5], act), rtol=1e-5, atol=1e-6)
    assert f"σ = {act}" in sim.summary_text


def test_normalise_toggle_makes_weights_sum_to_one(maps):
    sim = FusionSimulator(maps, weights=[2.0, 0.5, 1.0], live=False)
    assert sim.result.effective_weights.sum() == pytest.approx(3.5)
    sim.normalize.value = True                      # softmax by default
    w = sim.result.effective_weights
    assert w.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(w, torch.softmax(torch.tensor([2.0, 0.5, 1.0]), 0).numpy(), rtol=1e-5)
    assert "normalise: softmax" in sim.summary_text
    sim.method.value = "fast"
    w = sim.result.effective_weights
    np.testing.assert_allclose(w, np.array([2.0, 0.5, 1.0]) / (3.5 + 1e-4), rtol=1e-5)
    assert w.sum() == pytest.approx(1.0, abs=1e-4)
    sim.sliders[1].value = -1.0                     # fast normalisation switches a negative weight off
    assert sim.result.effective_weights[1] == 0
    sim.normalize.value = False
    np.testing.assert_allclose(sim.result.effective_weights, [2.0, -1.0, 1.0])


def test_fast_normalisation_with_no_positive_weight_is_explained(maps):
    sim = FusionSimulator(maps, normalize="fast", live=False)
    r = sim.set_weights([-1.0, -0.5, 0.0])
    np.testing.assert_allclose(r.effective_weights, 0)
    np.testing.assert_allclose(r.fused, 0.5)                   # sigmoid(0) everywhere
    assert "switches every map off" in sim.summary_text
    sim.sliders[0].value = 1.0
    assert "switches every map off" not in sim.summary_text


def test_settings_the_formula_rejects_show_in_the_summary(maps, monkeypatch):
    sim = FusionSimulator(maps, live=False)

    def reject():
        raise ValueError("weights must be finite")

    monkeypatch.setattr(sim, "compute", reject)
    assert sim.redraw() is None                                  # no exception inside a widget callback
    assert sim.summary_text == "cannot fuse: weights must be finite"
    assert "cannot fuse" in sim.summary.value


def test_live_redraw_renders_a_png(maps):
    sim = FusionSimulator(maps)
    first = sim.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    sim.sliders[2].value = -2.0
    assert sim.image.value != first


def test_set_weights_redraws_once_and_validates(maps):
    sim = FusionSimulator(maps, live=False)
    calls = []
    original = sim.compute
    sim.compute = lambda: calls.append(1) or original()
    sim.set_weights([0.1, 0.2, 0.3])
    assert len(calls) == 1
    with pytest.raises(ValueError, match="3 sliders"):
        sim.set_weights([1.0])


def test_inputs_accept_lists_and_tensors_and_reject_bad_shapes():
    a, b = torch.rand(1, 1, 6, 7), np.random.default_rng(1).random((6, 7))
    sim = FusionSimulator([a, b], live=False)
    assert [s.description for s in sim.sliders] == ["F1", "F2"] and sim.result.fused.shape == (6, 7)
    with pytest.raises(ValueError, match=r"map 1 .*\(5, 7\).*\(6, 7\)"):
        FusionSimulator([a, np.zeros((5, 7))])
    with pytest.raises(ValueError, match="weights"):
        FusionSimulator([a, b], weights=[1.0])
    with pytest.raises(ValueError, match="activation"):
        FusionSimulator([a, b], activation="softmax")
    with pytest.raises(ValueError, match="normalize"):
        FusionSimulator([a, b], normalize="l2")
    with pytest.raises(ValueError, match="at least one"):
        FusionSimulator([])


def test_displaying_the_simulator_displays_its_panel(maps):
    sim = FusionSimulator(maps, live=False)
    bundle = sim._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == sim.panel.model_id


def test_display_carries_a_static_picture_and_one_line_of_text(maps):
    """A notebook opened before anything runs (untrusted, or no widget state) shows the PNG, not `VBox(...)`."""
    import base64

    sim = FusionSimulator(maps, weights=[2.0, 0.5, -1.0])
    data = sim._repr_mimebundle_()
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == sim.panel.model_id
    png = base64.b64decode(data["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == sim.image.value        # the picture of the current state
    assert data["text/plain"] == "Fusion Simulator: run the cell to move the sliders"
    assert "VBox" not in data["text/plain"]
    sim.sliders[0].value = -2.0
    assert base64.b64decode(sim._repr_mimebundle_()["image/png"]) != png        # it follows the sliders


def test_display_fallback_without_live_drawing(maps):
    import base64

    sim = FusionSimulator(maps, live=False)
    assert sim.image.value == b""
    assert base64.b64decode(sim._repr_mimebundle_()["image/png"])[:4] == b"\x89PNG"


def test_ipython_display_formatter_keeps_the_fallbacks(maps):
    IPython = pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(FusionSimulator(maps, live=False))
    assert {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"} <= set(data)
    del IPython


def test_sliders_are_long(maps):
    sim = FusionSimulator(maps, live=False)
    for s in sim.sliders:
        assert s.layout.width == "100%" and int(s.layout.min_width.removesuffix("px")) >= 500


def test_normalisation_method_is_disabled_while_normalisation_is_off(maps):
    sim = FusionSimulator(maps, live=False)
    assert sim.method.disabled
    sim.normalize.value = True
    assert not sim.method.disabled
    sim.normalize.value = False
    assert sim.method.disabled
    assert not FusionSimulator(maps, normalize="fast", live=False).method.disabled
