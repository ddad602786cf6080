"""rise: the formula with the method's own masks, its expectation on a linear model, and
the masks (upsampled shifted grids)."""

from __future__ import annotations

import numpy as np
import pytest
from _method_cases import contributions, linear_case, linear_f
from scipy import ndimage

import xaibench as xb


@pytest.mark.parametrize("shape", [(7,), (6, 6, 1), (5, 8, 3)])
def test_rise_equals_the_formula_with_the_same_masks(shape):
    """saliency = sum_m f_y(x * M_m) M_m / (N p), recomputed in numpy with the method's masks."""
    model, w, b, x, y = linear_case(shape, n=3)
    m = xb.methods.get("rise", masks=300, p=0.4, seed=3)
    masks = np.concatenate(list(m.mask_chunks(x))).astype(np.float64)  # (N_masks, n_features)
    assert masks.shape == (300, int(np.prod(shape[:-1] if len(shape) == 3 else shape)))
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    expected = np.zeros((len(x), masks.shape[1]))
    per_feature = x.reshape(len(x), masks.shape[1], -1).astype(np.float64)
    for i in range(len(x)):
        masked = per_feature[i][None] * masks[..., None]  # (N_masks, features, C)
        scores = linear_f(w, b, masked, np.full(len(masks), y[i]))
        expected[i] = scores @ masks / (300 * 0.4)
    a = m(model, x, y)
    assert a.shape == x.shape[:-1] if len(shape) == 3 else x.shape
    np.testing.assert_allclose(a.reshape(len(x), -1), expected, rtol=1e-4, atol=1e-4)


def test_rise_expectation_is_affine_in_contributions(tab):
    """With Bernoulli(p) masks, E[saliency_j] = b_y + p sum_k w_k x_k + (1 - p) w_j x_j."""
    model, w, b, x, y = tab
    p = 0.5
    a = xb.methods.get("rise", masks=20000, p=p, seed=1)(model, x, y).astype(np.float64)
    c = contributions(w, x, y)
    expected = b[y][:, None] + p * c.sum(axis=1, keepdims=True) + (1 - p) * c
    for i in range(len(x)):
        assert np.corrcoef(a[i], c[i])[0, 1] > 0.99
    scale = np.abs(x).max(axis=1, keepdims=True) * np.abs(w).sum(axis=0).max()
    np.testing.assert_allclose(a, expected, atol=0.05 * scale.max())


def test_rise_image_masks_are_upsampled_shifted_grids():
    """Each mask: an s x s Bernoulli(p) grid, bilinearly upsampled to (s + 1) * ceil(H / s) pixels
    per side (scipy's zoom, pixel-centre aligned, mirrored border = skimage's resize(order=1) of
    the authors' code) and cropped at a random shift; draws: grids then shifts, from ``seed``."""
    h, w, n, p = 10, 14, 50, 0.3
    m = xb.methods.get("rise", masks=n, cells=3, p=p, seed=5)
    masks = np.concatenate(list(m.mask_chunks(np.zeros((1, h, w, 1), np.float32))))
    s, cell_h, cell_w = 3, 4, 5  # min(3, 10 // 2, 14 // 2); ceil(10 / 3); ceil(14 / 3)
    rng = np.random.default_rng(5)
    grids = (rng.random((n, s, s)) < p).astype(np.float64)
    shifts = rng.integers(0, [cell_h, cell_w], size=(n, 2))
    zoom = ((s + 1) * cell_h / s, (s + 1) * cell_w / s)
    for i in range(n):
        up = ndimage.zoom(grids[i], zoom, order=1, mode="mirror", grid_mode=True)
        assert up.shape == ((s + 1) * cell_h, (s + 1) * cell_w)
        crop = up[shifts[i, 0] : shifts[i, 0] + h, shifts[i, 1] : shifts[i, 1] + w]
        np.testing.assert_allclose(masks[i].reshape(h, w), crop, atol=1e-6)
    assert len(np.unique(shifts, axis=0)) > 5  # the crops really move
    big = np.concatenate(
        list(
            xb.methods.get("rise", masks=400, p=0.5).mask_chunks(
                np.zeros((1, 16, 16, 1), np.float32)
            )
        )
    )
    np.testing.assert_allclose(big.mean(), 0.5, atol=0.03)
