"""infidelity: against a numpy reference of E[(I . a - (f(x) - f(x - I)))^2] on linear models,
zero for the gradient (with and without normalisation), bad settings."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_cases import linear_scores
from _tolerance import roundoff

import xaibench as xb


def infidelity_reference(x, y, a, f, *, samples, noise, seed, normalize=False):
    """E_I[(I . a - (f(x) - f(x - I)))^2] with I = sigma * standard_normal((N, samples, n)) from
    default_rng(seed), sigma = noise * (max - min of the sample), shared by an image pixel's channels."""
    n = a.shape[1]
    flat = x.reshape(len(x), -1)
    sigma = noise * (flat.max(axis=1) - flat.min(axis=1))
    draws = np.random.default_rng(seed).standard_normal((len(x), samples, n)) * sigma[:, None, None]
    xf = x.reshape(len(x), n, -1).astype(np.float64)
    perturbed = (xf[:, None] - draws[..., None]).astype(np.float32)
    moved = (xf[:, None] - perturbed).mean(axis=-1)
    out = np.empty(len(x))
    for i in range(len(x)):
        ia = moved[i] @ a[i]
        drop = f(x[i : i + 1], y[i : i + 1]) - f(
            perturbed[i].reshape((samples,) + x.shape[1:]), np.full(samples, y[i])
        )
        beta = (ia @ drop) / (ia @ ia) if normalize else 1.0
        out[i] = np.mean((beta * ia - drop) ** 2)
    return out


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("seed", [0, 3])
def test_infidelity_against_reference(linear_tab, output, normalize, seed):
    model, w, b, x, y = linear_tab
    a = np.random.default_rng(9).normal(size=x.shape)
    q = xb.metrics.get("infidelity", samples=16, output=output, normalize=normalize, seed=seed)
    expected = infidelity_reference(
        x,
        y,
        a,
        lambda xk, yk: linear_scores(xk, w, b, yk, output),
        samples=16,
        noise=0.1,
        seed=seed,
        normalize=normalize,
    )
    got = q(model, x, y, a)
    assert np.all(got > 1e-8)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_infidelity_zero_for_the_gradient(linear_tab, linear_img):
    model, w, b, x, y = linear_tab
    grad = w[:, y].T
    q = xb.metrics.get("infidelity")
    # zero up to float32 round-off: the model computes f(x) - f(x - I) in float32 (and holds w in
    # float32), so each drop is off by up to roundoff(size of the logits' terms) and the mean
    # square by its square; the logits' terms sum to at most |w| (|x| + |I|) + |b|, where |I| stays
    # below 10 sigma = the sample's range (noise 0.1); two logits per drop
    spread = np.ptp(x, axis=1)
    size = (np.abs(w).T @ (np.abs(x) + spread[:, None]).T).max() + np.abs(b).max()
    tolerance = roundoff(2 * size) ** 2
    np.testing.assert_allclose(q(model, x, y, grad), 0.0, rtol=0, atol=tolerance)
    # off by a factor 3: (2 I.w)^2 unnormalised, 0 after the optimal rescaling
    assert np.all(q(model, x, y, 3 * grad) > 1e-3)
    np.testing.assert_allclose(
        xb.metrics.get("infidelity", normalize=True)(model, x, y, 3 * grad), 0.0, atol=tolerance
    )
    model, w, b_img, x, y = linear_img  # per-channel gradient; a pixel's channels move together
    grad = w[:, y].T.reshape(x.shape)
    # the same float32 round-off bound as above, for the image model's logits
    flat = x.reshape(len(x), -1)
    spread = np.ptp(flat, axis=1)
    size = (np.abs(w).T @ (np.abs(flat) + spread[:, None]).T).max() + np.abs(b_img).max()
    np.testing.assert_allclose(q(model, x, y, grad), 0.0, rtol=0, atol=roundoff(2 * size) ** 2)


def test_infidelity_zero_attribution_normalised(linear_tab):
    model, _, _, x, y = linear_tab
    zero = np.zeros(x.shape)
    plain = xb.metrics.get("infidelity")(model, x, y, zero)
    np.testing.assert_allclose(
        xb.metrics.get("infidelity", normalize=True)(model, x, y, zero), plain
    )
    assert np.all(plain > 0)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"samples": 0}, "samples"),
        ({"noise": "big"}, "noise"),
        ({"normalize": "yes"}, "normalize"),
        ({"noise": 0.0}, "noise"),
    ],
)
def test_bad_settings(params, match):
    with pytest.raises(ValueError, match=match):
        xb.metrics.get("infidelity", **params)
