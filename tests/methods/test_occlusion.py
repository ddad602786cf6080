"""occlusion: W * x per pixel or patch of a linear model, the default windows, one feature
at a time on tabular rows."""

from __future__ import annotations

import numpy as np
import pytest
from _method_cases import linear_case, pixel_contributions

import xaibench as xb


@pytest.mark.parametrize("channels", [1, 3])
def test_occlusion_single_pixels_linear_image(channels):
    model, w, _, x, y = linear_case((5, 6, channels))
    a = xb.methods.get("occlusion", patch=1, stride=1)(model, x, y)
    assert a.shape == x.shape[:-1] and a.dtype == np.float32
    np.testing.assert_allclose(a, pixel_contributions(w, x, y), rtol=1e-4, atol=1e-5)


def occlusion_reference(c, patch, stride):
    """Mean over the windows covering a pixel of the window's sum of c (one image (H, W)),
    windows at 0, stride, ... plus one flush with the border if the stride leaves it uncovered."""
    h, w = c.shape

    def starts(length):
        s = list(range(0, length - patch + 1, stride))
        return s + [length - patch] if s[-1] + patch < length else s

    total, count = np.zeros_like(c), np.zeros_like(c)
    for r in starts(h):
        for q in starts(w):
            total[r : r + patch, q : q + patch] += c[r : r + patch, q : q + patch].sum()
            count[r : r + patch, q : q + patch] += 1
    return total / count


@pytest.mark.parametrize("patch, stride", [(2, 1), (2, 2), (3, 2), (4, 3), (5, 5)])
@pytest.mark.parametrize("channels", [1, 3])
def test_occlusion_patches_linear_image(patch, stride, channels):
    model, w, _, x, y = linear_case((5, 6, channels))
    a = xb.methods.get("occlusion", patch=patch, stride=stride)(model, x, y)
    c = pixel_contributions(w, x, y)
    expected = np.stack([occlusion_reference(ci, patch, stride) for ci in c])
    np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "side, patch, stride, positions",
    [(8, 1, 1, 8), (28, 4, 2, 13), (32, 4, 2, 15), (224, 28, 14, 15), (3, 1, 1, 3)],
)
def test_occlusion_default_patch_and_stride(side, patch, stride, positions):
    m = xb.methods.get("occlusion")
    masks = m.patches((side, side, 1))
    assert masks.shape == (positions**2, side * side)
    assert (masks.sum(axis=1) == patch * patch).all()
    assert masks.any(axis=0).all()  # every pixel is covered
    first_two = masks[:2].reshape(2, side, side)
    if positions > 1:  # the second window is the first moved right by the stride
        np.testing.assert_array_equal(np.roll(first_two[0], stride, axis=1), first_two[1])


@pytest.mark.parametrize("baseline", [0.0, 0.5, -1.0])
def test_occlusion_tabular_one_feature_at_a_time(tab, baseline):
    model, w, _, x, y = tab
    a = xb.methods.get("occlusion", baseline=baseline)(model, x, y)
    assert a.shape == x.shape
    np.testing.assert_allclose(a, w[:, y].T * (x - baseline), rtol=1e-4, atol=1e-5)
