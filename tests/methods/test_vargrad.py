"""vargrad: zero on a linear model (its noise stream:
tests/methods/test_method_gradient_family.py)."""

from __future__ import annotations

import numpy as np
from _tolerance import assert_roundoff_close

import xaibench as xb


def test_vargrad_linear_is_zero(gradient_linear_tab):
    """The gradient of a linear model is its weight at every noisy copy, so their variance is 0
    up to the round-off of a float32 mean of equal values (kernel round-off of a quantity of size
    w**2: tests/_tolerance.py). A variance of the inputs or of gradient x input instead would
    be ~(noise x w)**2, a fraction of w**2."""
    model, w, x, y = gradient_linear_tab
    a = xb.methods.get("vargrad")(model, x, y)
    assert_roundoff_close(a, np.zeros_like(a), scale=np.abs(w).max() ** 2)
