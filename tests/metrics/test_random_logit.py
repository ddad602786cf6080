"""random_logit (Sixt et al. 2020): one for class-free explanations, Spearman of |W[:, y]| and
|W[:, y']| checked by hand on linear models, seeds and batch sizes, single-class models."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _metric_cases import spearman_each
from _tolerance import assert_float64_close, assert_scores_close

import xaibench as xb


def test_random_logit_class_free_method_scores_one(tab3):
    model, x, y = tab3
    explain = xb.methods.get("test_edges")
    got = xb.metrics.get("random_logit")(model, x, y, explain(model, x, y), explain=explain)
    np.testing.assert_allclose(got, 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 5])
@pytest.mark.parametrize("kind", ["tabular", "image"])
def test_random_logit_linear_by_hand(seed, kind):
    """Saliency of a linear model is |W[:, y]|; y' = (y + rng.integers(1, C, N)) % C."""
    rng = np.random.default_rng(24)
    c, n = 5, 8
    shape = (3, 2, 2) if kind == "image" else (12,)
    w = rng.normal(size=(12, c))
    model = (
        _tiny.linear_image(w, np.zeros(c), shape)
        if kind == "image"
        else _tiny.linear_tabular(w, np.zeros(c))
    )
    x = rng.normal(size=(n,) + shape).astype(np.float32)
    y = rng.integers(0, c, n)
    y_other = (y + np.random.default_rng(seed).integers(1, c, size=n)) % c
    assert np.all(y_other != y)

    def feature_weights(classes):  # |W[:, class]| with channels summed
        v = np.abs(w[:, classes].T).reshape((n,) + shape)
        return v.sum(axis=-1).reshape(n, -1) if kind == "image" else v

    sal = xb.methods.get("saliency")
    got = xb.metrics.get("random_logit", seed=seed)(model, x, y, sal(model, x, y), explain=sal)
    expected = spearman_each(feature_weights(y), feature_weights(y_other))
    assert_float64_close(
        got, expected, terms=got.size * 1000
    )  # a rank correlation: float64 over integer ranks of the features (TF round-off moves no order here)
    assert np.all(np.abs(expected) < 1)


def test_random_logit_seed_and_batch_size(tab3):
    """Same seed and batch size: bitwise; batches of 1: the README's 1e-5 (tests/_tolerance.py),
    which fails if the random other class were drawn per batch."""
    model, x, y = tab3
    sal = xb.methods.get("saliency")
    a = sal(model, x, y)

    def run(seed, batch_size=256, explain_batch=256):
        q = xb.metrics.get("random_logit", seed=seed, batch_size=batch_size)
        return q(model, x, y, a, explain=xb.methods.get("saliency", batch_size=explain_batch))

    ref = run(0)
    np.testing.assert_array_equal(run(0), ref)
    assert_scores_close(run(0, batch_size=1, explain_batch=1), ref)
    assert not np.allclose(run(1), ref)


def test_random_logit_single_class_not_applicable():
    model = _tiny.linear_tabular(np.ones((3, 1)), np.zeros(1))
    x = np.ones((2, 3), np.float32)
    with pytest.raises(xb.methods.NotApplicable, match="2 classes"):
        xb.metrics.get("random_logit")(model, x, [0, 0], x, explain=xb.methods.get("saliency"))
