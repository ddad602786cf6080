"""integrated_gradients: the exact path integral on linear models (every baseline kind)
and completeness on a smooth nonlinear model."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _method_cases import IMG_SHAPE, weights_for

import xaibench as xb


@pytest.mark.parametrize("steps", [1, 4, 32])
@pytest.mark.parametrize(
    "baseline, base_of",
    [
        (0.0, np.zeros_like),
        (0.5, lambda x: np.full_like(x, 0.5)),
        ("mean", lambda x: np.broadcast_to(x.mean(axis=1, keepdims=True), x.shape)),
        (lambda x: -x, lambda x: -x),
    ],
    ids=["zero", "number", "mean", "callable"],
)
def test_integrated_gradients_linear_tabular(linear_tab, steps, baseline, base_of):
    """The gradient of a linear model is constant, so IG = W[:, y] (x - x') at any step count."""
    model, w, _, x, y = linear_tab
    a = xb.methods.get("integrated_gradients", steps=steps, baseline=baseline)(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T * (x - base_of(x)), rtol=1e-5, atol=1e-6)


def test_integrated_gradients_linear_image(linear_img):
    model, w, _, x, y = linear_img
    a = xb.methods.get("integrated_gradients", steps=8)(model, x, y)
    np.testing.assert_allclose(a, weights_for(w, y, IMG_SHAPE) * x, rtol=1e-5, atol=1e-6)


def test_integrated_gradients_completeness():
    """sum a = f_y(x) - f_y(0) (raw logits) within 1% at steps=256 on a smooth nonlinear model."""
    model, (w1, b1, w2, b2) = _tiny.smooth_mlp(6, n_hidden=8, n_out=3, seed=3)

    def f(v, y):  # the model, written out in numpy
        return (np.tanh(v.astype(np.float64) @ w1 + b1) @ w2 + b2)[np.arange(len(v)), y]

    x = np.random.default_rng(13).normal(0, 1.5, size=(30, 6)).astype(np.float32)
    y = np.arange(30) % 3
    keep = np.abs(f(x, y) - f(np.zeros_like(x), y)) > 0.3  # a relative tolerance needs a real gap
    x, y = x[keep][:6], y[keep][:6]
    assert len(x) == 6
    diff = f(x, y) - f(np.zeros_like(x), y)
    np.testing.assert_allclose(f(x, y), model(x).numpy()[np.arange(len(x)), y], rtol=1e-5)
    a = xb.methods.get("integrated_gradients", steps=256)(model, x, y)
    np.testing.assert_allclose(a.sum(axis=1), diff, rtol=1e-2)
    # with very few steps the trapezoid rule is visibly off on this model: the test can fail
    a1 = xb.methods.get("integrated_gradients", steps=1)(model, x, y)
    assert not np.allclose(a1.sum(axis=1), diff, rtol=1e-2)
