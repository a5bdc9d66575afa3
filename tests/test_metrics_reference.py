"""The saliency metrics pinned against the community's reference implementation, PySODMetrics.

PySODMetrics (Pang et al., github.com/lartpang/PySODMetrics) is the Python port of the MATLAB evaluation
code behind the salient-object papers' tables, F3Net's among them. Its conventions, and the course's:

* predictions are 8-bit maps, divided by 255 and rescaled by their own min and max (a constant map is left
  as it is); the course does the same with ``normalize=True`` (the default for max-F and S-measure, an option
  for MAE, whose default compares raw probabilities as training does);
* max-F: the F-measure curve over 256 thresholds, averaged over images, then its maximum;
* S-measure: the region term splits the mask at its centroid rounded **half up**, as MATLAB's ``round``
  does; PySODMetrics rounds half to even, so the two differ only when the centroid falls on a half pixel.

PySODMetrics pins numpy < 2.3.5 and scikit-image < 0.26 in its metadata, older than the course's; its code
runs on the course's versions, so CI installs it (with OpenCV, which it imports) without its dependencies.
Elsewhere these tests are skipped.
"""
import numpy as np
import pytest
import torch

from fusion_course import metrics

psm = pytest.importorskip("py_sod_metrics", reason="PySODMetrics is installed by .ci/run (pip --no-deps)")

N_MAPS = 200


def _cases():
    rng = np.random.default_rng(0)
    for i in range(N_MAPS):
        h, w = (int(v) for v in rng.integers(8, 40, size=2))
        gt = (rng.random((h, w)) > rng.uniform(0.2, 0.9)).astype(np.uint8) * 255
        if i % 25 == 0:
            gt[:] = 255                                  # all foreground
        elif i % 25 == 1:
            gt[:] = 0                                    # all background
        pred = (rng.random((h, w)) * rng.uniform(0.2, 1.0) * 255).astype(np.uint8)
        yield pred, gt


def _torch(pred, gt):
    return (torch.from_numpy(pred / 255.0)[None, None], torch.from_numpy(gt / 255.0)[None, None])


def _centroid_on_half_pixel(gt: np.ndarray) -> bool:
    g = gt > 127
    if g.sum() == 0 or g.all():
        return False
    cols = (g.sum(0) * np.arange(1, g.shape[1] + 1)).sum() / g.sum()
    rows = (g.sum(1) * np.arange(1, g.shape[0] + 1)).sum() / g.sum()
    return any(abs(v - np.floor(v) - 0.5) < 1e-9 for v in (cols, rows))


def test_mae_with_normalize_equals_pysodmetrics_and_the_default_does_not_rescale():
    worst, rescaled = 0.0, 0.0
    for pred, gt in _cases():
        ref = psm.MAE()
        ref.step(pred, gt)
        p, g = _torch(pred, gt)
        worst = max(worst, abs(metrics.mae(p, g, normalize=True) - ref.get_results()["mae"]))
        rescaled = max(rescaled, abs(metrics.mae(p, g) - ref.get_results()["mae"]))
    assert worst < 1e-6
    assert rescaled > 1e-3       # the default really is the other convention


@pytest.mark.filterwarnings("ignore:This class will be removed:UserWarning")
def test_max_f_measure_equals_pysodmetrics_over_a_dataset():
    ref = psm.Fmeasure()
    curves = []
    for pred, gt in _cases():
        ref.step(pred, gt)
        p, g = _torch(pred, gt)
        curves.append(metrics.max_f_measure(p, g, reduction="none"))
    ours = float(torch.cat(curves).mean(0).max())
    assert ours == pytest.approx(float(ref.get_results()["fm"]["curve"].max()), abs=1e-6)


def test_s_measure_equals_pysodmetrics_except_on_half_pixel_centroids():
    compared = 0
    for pred, gt in _cases():
        if _centroid_on_half_pixel(gt):
            continue                  # rounding half up (MATLAB) against half to even (PySODMetrics)
        ref = psm.Smeasure()
        ref.step(pred, gt)
        p, g = _torch(pred, gt)
        assert metrics.s_measure(p, g) == pytest.approx(ref.get_results()["sm"], abs=1e-6)
        compared += 1
    assert compared > 0.8 * N_MAPS
