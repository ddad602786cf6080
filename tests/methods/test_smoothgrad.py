"""smoothgrad: the weights of a linear model at any noise, the plain gradient of a tanh MLP
without noise (its noise stream: tests/methods/test_method_gradient_family.py)."""

from __future__ import annotations

import numpy as np
import pytest
from _method_cases import tanh_mlp_gradient

import xaibench as xb


@pytest.mark.parametrize("samples, noise", [(1, 0.15), (25, 0.15), (7, 1.0)])
def test_smoothgrad_linear_is_the_weights(gradient_linear_tab, samples, noise):
    """The gradient of a linear model is constant: noise does not change it."""
    model, w, x, y = gradient_linear_tab
    a = xb.methods.get("smoothgrad", samples=samples, noise=noise)(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T, rtol=1e-6)


def test_smoothgrad_without_noise_is_the_gradient(tanh_mlp):
    model, params, x, y = tanh_mlp
    a = xb.methods.get("smoothgrad", samples=1, noise=0.0)(model, x, y)
    np.testing.assert_allclose(a, tanh_mlp_gradient(x, y, params), rtol=1e-5, atol=1e-6)
