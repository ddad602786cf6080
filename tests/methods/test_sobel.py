"""sobel (the edge-detector control): a hand-computed edge, scipy's filter, no model used."""

from __future__ import annotations

import _tiny
import numpy as np
from scipy import ndimage

import xaibench as xb


def test_sobel_vertical_edge_by_hand():
    """A step from 0 to 1 between columns 2 and 3: Gx = 1 + 2 + 1 = 4 on both sides of the
    step, 0 elsewhere (borders reflected); Gy = 0. Two identical channels sum to 8."""
    img = np.zeros((1, 4, 6, 2), np.float32)
    img[:, :, 3:] = 1.0
    a = xb.methods.get("sobel")(None, img, [0])
    expected = np.tile([0.0, 0.0, 8.0, 8.0, 0.0, 0.0], (4, 1))[None]
    np.testing.assert_array_equal(a, expected)


def test_sobel_against_scipy():
    x = np.random.default_rng(37).uniform(size=(3, 5, 7, 2)).astype(np.float32)
    expected = np.zeros((3, 5, 7))
    for n in range(3):
        for c in range(2):
            img = x[n, :, :, c].astype(np.float64)
            expected[n] += np.hypot(ndimage.sobel(img, axis=0), ndimage.sobel(img, axis=1))
    a = xb.methods.get("sobel", batch_size=2)(None, x, np.zeros(3, int))
    np.testing.assert_allclose(a, expected, rtol=1e-6, atol=1e-6)


def test_sobel_ignores_the_model(cnn_models, cnn_data):
    _, x, y = cnn_data
    m = xb.methods.get("sobel")
    ref = m(None, x, y)
    assert ref.shape == x.shape[:3] and ref.std() > 0
    other = _tiny.linear_image(np.ones((72, 3)), np.zeros(3), (6, 6, 2))
    for model in [cnn_models["sequential"], cnn_models["subclassed"], other]:
        np.testing.assert_array_equal(m(model, x, y), ref)
