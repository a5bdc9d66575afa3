"""fusion_course.viz: each plot draws the data it was given, and bad input fails with a clear message."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from fusion_course.viz import format_table, lego_diagram, plot_history, plot_weights, show_maps, show_masks, table, to_numpy_map


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_show_maps_draws_each_map_in_its_panel():
    a = np.arange(12, dtype=float).reshape(3, 4)
    b = torch.ones(1, 1, 5, 7)
    rgb = torch.rand(3, 6, 6)
    fig = show_maps([a, b, rgb], titles=["a", "b", "rgb"], ncols=2, suptitle="maps")
    assert len(fig.axes) == 3  # the unused fourth grid cell is removed
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), a)
    assert fig.axes[1].images[0].get_array().shape == (5, 7)
    assert fig.axes[2].images[0].get_array().shape == (6, 6, 3)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "rgb"]


def test_show_maps_shared_scale_and_errors():
    fig = show_maps([np.zeros((4, 4)), np.ones((4, 4))], vmin=0, vmax=2)
    assert fig.axes[0].images[0].get_clim() == (0, 2)
    with pytest.raises(ValueError, match="titles"):
        show_maps([np.zeros((4, 4))], titles=["x", "y"])
    with pytest.raises(ValueError, match=r"maps\[0\].*\(2, 5, 4, 4\)"):
        show_maps([np.zeros((2, 5, 4, 4))])
    with pytest.raises(ValueError, match="empty"):
        show_maps([])


def test_to_numpy_map_squeezes_and_moves_channels():
    assert to_numpy_map(torch.zeros(1, 1, 3, 5)).shape == (3, 5)
    assert to_numpy_map(torch.zeros(3, 4, 6)).shape == (4, 6, 3)
    assert to_numpy_map(np.zeros((4, 6, 1))).shape == (4, 6)


def test_plot_weights_bar_heights_and_labels():
    fig = plot_weights(torch.tensor([0.5, -0.25, 1.0]), ["e", "t", "s"], title="w")
    ax = fig.axes[0]
    assert [round(p.get_height(), 3) for p in ax.patches] == [0.5, -0.25, 1.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["e", "t", "s"]
    fig = plot_weights({"a": 1.0, "b": 2.0})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b"]
    fig = plot_weights(np.array([[0.2, 0.8], [0.5, 0.5]]), ["x", "y"])  # two grouped sets
    assert len(fig.axes[0].patches) == 4
    with pytest.raises(ValueError, match="labels"):
        plot_weights([1, 2], ["only one"])


def test_plot_history_one_line_per_run_and_metric():
    h1 = [{"epoch": 1, "val_loss": 1.0, "val_accuracy": 0.5}, {"epoch": 2, "val_loss": 0.5, "val_accuracy": 0.7}]
    h2 = [{"epoch": 1, "val_loss": 0.9}, {"epoch": 2, "val_loss": 0.8}, {"epoch": 3, "val_loss": 0.2}]
    fig = plot_history({"a": h1, "b": h2}, metric="val_loss")
    lines = fig.axes[0].lines
    assert len(lines) == 2
    np.testing.assert_allclose(lines[1].get_ydata(), [0.9, 0.8, 0.2])
    np.testing.assert_allclose(lines[1].get_xdata(), [1, 2, 3])

    class History:  # the shape of fusion_course.train.History
        epochs = h1

    fig = plot_history(History(), metric=["val_loss", "val_accuracy"])
    assert len(fig.axes[0].lines) == 2
    fig = plot_history({"val_loss": [3, 2, 1]}, metric="val_loss")  # a plain metric dict
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [3, 2, 1])
    with pytest.raises(KeyError, match="val_iou"):
        plot_history(h1, metric="val_iou")


def test_show_masks_grid():
    images, masks, preds = torch.rand(3, 3, 8, 8), torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    fig = show_masks(images, masks, preds, n=2)
    assert len(fig.axes) == 6
    np.testing.assert_allclose(fig.axes[1].images[0].get_array(), masks[0, 0].numpy())
    assert len(show_masks(images, masks).axes) == 6  # 3 rows × (image, mask)
    with pytest.raises(ValueError, match="masks"):
        show_masks(images, masks[:2])


def test_table_aligns_columns(capsys):
    table([["concat", 0.91, 3], ["gated", 0.8751, 12]], headers=["model", "acc", "n"])
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "model     acc   n",
        "------  -----  --",
        "concat  0.910   3",
        "gated   0.875  12",
    ]
    assert format_table([[1.23456]], decimals=1) == "1.2"
    assert format_table([["x", torch.tensor(0.5)]], headers=["a", "b"]).splitlines()[-1] == "x  0.500"


def test_lego_diagram():
    fig = lego_diagram(["a", "b", "c"], "abc", title="t")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"a", "b", "c", "abc"} <= set(texts)
    with pytest.raises(ValueError):
        lego_diagram([])


def test_table_renders_html_with_a_caption_and_text_as_fallback():
    from fusion_course.viz import Table

    t = table([["concat", 0.91, 14400], ["sum <1x1>", torch.tensor(0.8751), 10368]],
              columns=["fusion", "acc", "params"], caption="Cost & accuracy")
    assert isinstance(t, Table)
    html = t._repr_html_()
    assert html.startswith('<table class="fusion-table">') and html.endswith("</table>")
    assert "<caption>Cost &amp; accuracy</caption>" in html
    assert "<thead><tr><th>fusion</th><th" in html and html.count("<tr>") == 3
    assert "sum &lt;1x1&gt;" in html                                   # cells are escaped
    assert '<td style="text-align: right">0.875</td>' in html         # numbers right-aligned, floatfmt applied
    assert "<td>concat</td>" in html
    assert repr(t).splitlines() == [
        "Cost & accuracy",
        "fusion       acc  params",
        "---------  -----  ------",
        "concat     0.910   14400",
        "sum <1x1>  0.875   10368",
    ]
    assert str(t) == repr(t)


def test_table_options_and_ipython_text():
    t = table([{"model": "a", "iou": 0.5}, {"model": "b", "iou": 0.25}], floatfmt=".1%")
    assert repr(t).splitlines() == ["model    iou", "-----  -----", "a      50.0%", "b      25.0%"]
    assert "<caption>" not in t._repr_html_()
    pretty = pytest.importorskip("IPython.lib.pretty")
    assert pretty.pretty(t) == repr(t)
    bare = table([[1, "x"]])
    assert repr(bare) == "1  x" and "<thead>" not in bare._repr_html_()


def test_table_with_headers_keeps_printing(capsys):
    """The older call (headers=, decimals=) still prints text and returns None: stored outputs stay."""
    assert table([["x", 1.23456]], headers=["a", "b"], decimals=2) is None
    assert capsys.readouterr().out.splitlines() == ["a     b", "-  ----", "x  1.23"]
