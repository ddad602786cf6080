"""gradient_x_input: W[:, y] * x on a linear model."""

from __future__ import annotations

import numpy as np

import xaibench as xb


def test_gradient_x_input_linear(gradient_linear_tab):
    model, w, x, y = gradient_linear_tab
    a = xb.methods.get("gradient_x_input")(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T * x, rtol=1e-6)
