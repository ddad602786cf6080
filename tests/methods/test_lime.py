"""lime: W * x without ridge, a numpy solve of the same weighted ridge, superpixel
coefficients on a linear image."""

from __future__ import annotations

import numpy as np
import pytest
from _method_cases import linear_case, linear_f, pixel_contributions

import xaibench as xb
from xaibench.methods.lime import perturbations


def test_lime_without_ridge_recovers_contributions_on_linear_tabular(tab):
    model, w, _, x, y = tab
    a = xb.methods.get("lime", samples=300, ridge=0.0)(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T * x, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ridge, kernel_width", [(1.0, 0.25), (5.0, 0.5)])
def test_lime_equals_a_numpy_solve_of_the_same_weighted_ridge(tab, ridge, kernel_width):
    """Same perturbations (same seed), weights and penalty, solved by np.linalg.lstsq on the
    sqrt-weighted system with the penalty as extra rows."""
    model, w, b, x, y = tab
    samples, d = 200, x.shape[1]
    a = xb.methods.get("lime", samples=samples, ridge=ridge, kernel_width=kernel_width, seed=4)(
        model, x, y
    )
    z = perturbations(np.random.default_rng(4), len(x), samples, d).astype(np.float64)
    assert (z[:, 0] == 1).all()
    for i in range(len(x)):
        t = linear_f(w, b, z[i] * x[i], np.full(samples, y[i]))
        cos = z[i].sum(axis=1) / (np.linalg.norm(z[i], axis=1) * np.sqrt(d) + 1e-300)
        pi = np.sqrt(np.exp(-((1 - cos) ** 2) / kernel_width**2))
        design = np.hstack([np.ones((samples, 1)), z[i]]) * np.sqrt(pi)[:, None]
        penalty = np.hstack([np.zeros((d, 1)), np.sqrt(ridge) * np.eye(d)])
        sol = np.linalg.lstsq(
            np.vstack([design, penalty]), np.concatenate([t * np.sqrt(pi), np.zeros(d)]), rcond=None
        )[0]
        np.testing.assert_allclose(a[i], sol[1:], rtol=1e-4, atol=1e-5)
    # the ridge shrinks the coefficients towards 0 but keeps them proportional-ish to W * x
    assert np.corrcoef(a.ravel(), (w[:, y].T * x).ravel())[0, 1] > 0.99


@pytest.mark.parametrize("segments, cells", [(8, (5, 6)), (2, (2, 2)), (3, (3, 3))])
def test_lime_superpixel_coefficients_on_linear_image(segments, cells):
    """Without ridge the coefficient of a grid superpixel is the sum of W * x over its pixels,
    and every pixel of the superpixel carries it."""
    model, w, _, x, y = linear_case((5, 6, 2), n=2)
    a = xb.methods.get("lime", samples=400, segments=segments, ridge=0.0)(model, x, y)
    assert a.shape == (2, 5, 6)
    rows = (np.arange(5) * cells[0]) // 5
    cols = (np.arange(6) * cells[1]) // 6
    labels = rows[:, None] * cells[1] + cols[None, :]
    c = pixel_contributions(w, x, y)
    expected = np.stack([np.bincount(labels.ravel(), ci.ravel())[labels] for ci in c])
    np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-4)
