"""efficient_mprt (Hedström et al. 2024, Quantus 0.6's EfficientMPRT): the relative rise of the
attribution histogram's entropy under full randomisation, by hand and against Quantus's formula
(scipy.stats.entropy of np.histogram); sobel fails, saliency passes."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
import scipy.stats
from _tolerance import assert_float64_close
from test_smooth_mprt import Recording, sparse_linear_image

import xaibench as xb
from xaibench.metrics.randomisation.efficient_mprt import histogram_entropy, histogram_rows


def quantus_entropy(row, bins=100):
    """Quantus 0.6's discrete_entropy: scipy.stats.entropy(np.histogram(a, bins=n_bins)[0])."""
    return scipy.stats.entropy(np.histogram(row, bins=bins)[0])


def test_entropy_by_hand():
    """[0, 0, 0, 1] in 4 bins: counts (3, 0, 0, 1), H = -(3/4 ln 3/4 + 1/4 ln 1/4); [0, 1, 2, 3]:
    one per bin, ln 4; a constant row falls in one bin: 0."""
    a = np.array([[0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 2.0, 3.0], [2.0, 2.0, 2.0, 2.0]])
    expected = [-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)), np.log(4), 0.0]
    # float64 with the same counts: 4 terms p log p, each log within 4 ulp on numpy's SIMD or
    # libm paths, then summed: 4 x 5 float64 round-offs of size <= ln 4; a wrong count or
    # formula moves it by > 1e-2
    assert_float64_close(histogram_entropy(a, 4), expected, terms=4 * 5, scale=np.log(4))
    np.testing.assert_array_equal(histogram_rows(a, 4), [[3, 0, 0, 1], [1, 1, 1, 1], [0, 0, 4, 0]])


def test_histograms_are_numpy_s():
    """Row by row: np.histogram's counts (edges within an ulp included) and Quantus's entropy."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 500))
    a[1] = np.round(a[1], 1)  # many values on the edges of 100 bins of [-3.x, 3.x]
    a[2, :250], a[2, 250:] = 0.0, 1.0
    a[3] = np.linspace(-1, 1, 500)  # 5 values per bin, edges on values
    for bins in (1, 7, 100):
        np.testing.assert_array_equal(
            histogram_rows(a, bins), np.stack([np.histogram(r, bins)[0] for r in a])
        )
    # the same counts (asserted bitwise above), float64 entropies summed in another order by
    # scipy (special.entr): 100 terms, each log within 4 ulp, summed, on both sides; entropies
    # <= ln 100 < 5
    assert_float64_close(
        histogram_entropy(a, 100), [quantus_entropy(r) for r in a], terms=2 * 100 * 5, scale=5
    )


def test_score_by_hand_on_a_linear_model():
    """One Dense layer, gradient x input: a = x * W[:, y]; after randomisation x * W_random[:, y]
    (weights read from the call): (H(a random) - H(a)) / H(a) with Quantus's entropy."""
    rng = np.random.default_rng(40)
    w = rng.normal(size=(30, 3))
    w[:20] = 0.0  # most features unused: a sparse histogram
    model = _tiny.linear_tabular(w, np.zeros(3))
    x = rng.normal(size=(4, 30)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    a = x * w[:, y].T
    rec = Recording()
    got = xb.metrics.get("efficient_mprt", seed=2)(model, x, y, a, explain=rec)
    ((w_random, _),) = rec.seen
    a_random = x * w_random[:, y].T
    h = np.array([quantus_entropy(r) for r in a])
    h_random = np.array([quantus_entropy(r) for r in a_random])
    # float64 entropies of the same counts (the float32 maps of this seed lie far from the 100
    # bins' edges), scipy's sum against ours as above for each of H(a random) and H(a) (<= ln 30
    # < 5); H(a) 1.1-1.4 and H(a random) - H(a) 1.7-1.9, so the quotient moves by at most about
    # twice their round-off; a wrong formula or weight moves it by > 1e-2
    assert_float64_close(got, (h_random - h) / h, terms=4 * 100 * 5, scale=5)
    assert np.all(got > 0)


def test_sobel_fails_and_saliency_passes():
    """sobel ignores the model: the same map, the same entropy: 0 (it fails, > 0 passes);
    saliency of a model reading a few pixels spreads over the random dense weights."""
    model, x, y = sparse_linear_image()
    sobel = xb.methods.get("sobel")
    got = xb.metrics.get("efficient_mprt")(model, x, y, sobel(model, x, y), explain=sobel)
    np.testing.assert_array_equal(got, 0.0)
    sal = xb.methods.get("saliency")
    got = xb.metrics.get("efficient_mprt")(model, x, y, sal(model, x, y), explain=sal)
    assert np.all(got > 0.5)


def test_constant_attribution_scores_nan_and_the_model_is_restored(tab3):
    model, x, y = tab3
    before = [w.copy() for w in model.get_weights()]
    sal = xb.methods.get("saliency")
    a = sal(model, x, y)
    a[1] = 0.3
    got = xb.metrics.get("efficient_mprt")(model, x, y, a, explain=sal)
    assert np.isnan(got[1]) and np.isfinite(np.delete(got, 1)).all()
    for w0, w1 in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w0)
    rec = Recording(inner="saliency")
    xb.metrics.get("efficient_mprt")(model, x, y, a, explain=rec)
    (seen,) = rec.seen  # one call, every layer randomised
    assert all(not np.array_equal(s, b) for s, b in zip(seen[::2], before[::2], strict=True))
    with pytest.raises(RuntimeError, match="on purpose"):
        xb.metrics.get("efficient_mprt")(model, x, y, a, explain=Recording(fail_at=1))
    for w0, w1 in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w0)
    assert xb.metrics.get("efficient_mprt").model_calls(x.shape[1:], {"backward": 1}, None) == {
        "backward": 1,
        "forward": 0,
    }
