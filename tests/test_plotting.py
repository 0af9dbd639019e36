"""The plot helpers draw what they say (checked on the artists and as PNG files)."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from hypersphere_sklearn import plotting  # noqa: E402


def pairs(seed=0, n=300):
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.5
    return rng.normal(size=n) * 0.2 + 0.5 * same, same


def test_roc_and_det_curves_of_several_models(tmp_path):
    curves = {"good": pairs(0), "worse": (pairs(1)[0] * 0.1, pairs(1)[1])}
    ax = plotting.plot_roc(curves)
    assert len(ax.get_lines()) == 2 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["good", "worse"]
    ax.figure.savefig(tmp_path / "roc.png")
    det = plotting.plot_roc(curves, det=True)
    assert det.get_ylabel() == "false reject rate"
    det.figure.savefig(tmp_path / "det.png")
    assert (tmp_path / "roc.png").stat().st_size > 1000


def test_score_histograms_with_threshold():
    scores, same = pairs()
    ax = plotting.plot_score_histograms(scores, same, threshold=0.25)
    assert len(ax.patches) == 100  # 50 bars for each kind
    assert ax.get_lines()[0].get_xdata()[0] == 0.25


@pytest.mark.parametrize("dim", [2, 3])
def test_hypersphere_features(dim, tmp_path):
    rng = np.random.default_rng(0)
    E, y = rng.normal(size=(60, dim)), np.repeat(np.arange(3), 20)
    ax = plotting.plot_hypersphere(E, y)
    offsets = ax.collections[-1].get_offsets()
    assert len(offsets) == 60
    if dim == 2:
        np.testing.assert_allclose(np.linalg.norm(offsets, axis=1), 1.0, atol=1e-9)
    ax.figure.savefig(tmp_path / f"sphere{dim}.png")


def test_hypersphere_rejects_other_dimensions():
    with pytest.raises(ValueError, match="embedding_dim=2 or 3"):
        plotting.plot_hypersphere(np.zeros((5, 8)), np.zeros(5))
