"""road: the MoRF - LeRF gap curves against a numpy reference (noisy linear imputation written
out, or zeros) on linear models, tabular input, rankings good and reversed, bad settings."""

from __future__ import annotations

import itertools

import _tiny
import numpy as np
import pytest
from _metric_cases import LINEAR_IMG_SHAPE, linear_scores, reference_impute

import xaibench as xb
from xaibench.methods.base import NotApplicable


def road_reference(x, y, a_feat, steps, score, fill):
    """ROAD gap curves: at fraction k/steps (k = 1..steps-1) the top (MoRF) or bottom (LeRF)
    round(k*n/steps) features (signed a, descending resp. ascending, ties to the lower index either
    way) are removed by ``fill(image, removed_mask)``; end points 0."""
    n = a_feat.shape[1]
    out = np.zeros((len(x), steps + 1))
    for i, k in itertools.product(range(len(x)), range(1, steps)):
        count = round(k * n / steps)
        morf = _tiny.top_k_mask(a_feat[i], count)
        lerf = _tiny.top_k_mask(-a_feat[i], count)
        f = [
            score(fill(x[i], m.reshape(x.shape[1:-1] or (n,)))[None], y[i : i + 1])[0]
            for m in (lerf, morf)
        ]
        out[i, k] = f[0] - f[1]
    return out


def impute_fill(img, removed):
    return reference_impute(img, removed) if img.ndim == 3 else img


def zero_fill(img, removed):
    return np.where(removed[..., None] if img.ndim == 3 else removed, 0.0, img)


@pytest.mark.parametrize("steps", [10, 4, 3])
@pytest.mark.parametrize("output", ["probability", "logit"])
@pytest.mark.parametrize("baseline", ["noisy_linear", 0.0])
def test_road_against_reference(linear_img, steps, output, baseline):
    model, w, b, x, y = linear_img
    a = np.random.default_rng(5).normal(size=(len(x), 20)).round(1)  # ties included
    a[0, :4] = 1.0
    expected = road_reference(
        x,
        y,
        a,
        steps,
        lambda xk, yk: linear_scores(xk, w, b, yk, output),
        impute_fill if baseline == "noisy_linear" else zero_fill,
    )
    q = xb.metrics.get("road", steps=steps, output=output, baseline=baseline, noise=0.0)
    a_img = a.reshape((len(x),) + LINEAR_IMG_SHAPE[:2])
    curves = q.curves(model, x, y, a_img)
    assert curves.shape == (len(x), steps + 1)
    np.testing.assert_allclose(curves, expected, rtol=1e-5, atol=1e-6)
    scores, curves2 = q.scores_and_curves(model, x, y, a_img)
    np.testing.assert_allclose(scores, expected[:, 1:-1].mean(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q(model, x, y, a_img), scores, rtol=1e-12)
    np.testing.assert_array_equal(curves2, curves)


def test_road_tabular(linear_img):
    rng = np.random.default_rng(6)
    w = rng.normal(size=(7, 2))
    x = rng.normal(size=(3, 7)).astype(np.float32)
    y = np.array([0, 1, 1])
    a = rng.normal(size=x.shape)
    model = _tiny.linear_tabular(w, np.zeros(2))
    with pytest.raises(NotApplicable, match="images"):
        xb.metrics.get("road")(model, x, y, a)
    q = xb.metrics.get("road", baseline=0.0, output="logit", steps=5)
    expected = road_reference(
        x, y, a, 5, lambda xk, yk: linear_scores(xk, w, 0, yk, "logit"), zero_fill
    )
    np.testing.assert_allclose(q.curves(model, x, y, a), expected, rtol=1e-5, atol=1e-6)


def test_road_perfect_beats_reversed():
    rng = np.random.default_rng(7)
    shape = (8, 8, 1)
    w = rng.normal(size=(64, 3))
    x = rng.uniform(size=(12,) + shape).astype(np.float32)
    y = rng.integers(0, 3, 12)
    model = _tiny.linear_image(w, np.zeros(3), shape)
    contribution = w[:, y].T.reshape(x.shape) * x  # each pixel's share of the logit
    q = xb.metrics.get("road", output="logit")
    good, bad = q(model, x, y, contribution), q(model, x, y, -contribution)
    # imputation replaces a pixel by about its neighbours' mean, not 0, so the contribution is only
    # close to what removal takes away: it wins on average and for most samples
    assert good.mean() > 1.0 > -1.0 > bad.mean() and np.sum(good > bad) >= 10
    # reversing the ranking swaps MoRF and LeRF: without noise the score flips sign exactly
    q = xb.metrics.get("road", output="logit", noise=0.0)
    good = q(model, x, y, contribution)
    np.testing.assert_allclose(q(model, x, y, -contribution), -good, rtol=1e-5)
    # with zeros as the baseline the contribution is exactly what removal takes away
    zero = xb.metrics.get("road", output="logit", baseline=0.0)(model, x, y, contribution)
    assert np.all(zero > 0)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"steps": 1}, "steps"),
        ({"noise": -0.1}, "noise"),
        ({"baseline": "nothing"}, "baseline"),
        ({"output": "prob"}, "output"),
    ],
)
def test_bad_settings(params, match):
    with pytest.raises(ValueError, match=match):
        xb.metrics.get("road", **params)
