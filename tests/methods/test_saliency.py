"""saliency: |W[:, y]| on linear tabular and image models."""

from __future__ import annotations

import numpy as np
from _method_cases import IMG_SHAPE, weights_for

import xaibench as xb


def test_saliency_linear_tabular(linear_tab):
    model, w, _, x, y = linear_tab
    a = xb.methods.get("saliency")(model, x, y)
    np.testing.assert_allclose(a, np.abs(w[:, y].T), rtol=1e-6)


def test_saliency_linear_image(linear_img):
    model, w, _, x, y = linear_img
    a = xb.methods.get("saliency")(model, x, y)
    assert a.shape == x.shape
    np.testing.assert_allclose(a, np.abs(weights_for(w, y, IMG_SHAPE)), rtol=1e-6)
