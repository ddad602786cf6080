"""sparseness: the Gini index (with +1e-7) computed by hand, one-hot and uniform attributions,
scale invariance, channels summed, no model needed."""

from __future__ import annotations

import numpy as np
import pytest

import xaibench as xb

EPS = 1e-7


@pytest.mark.parametrize(
    "a, expected",
    [
        # |a| + eps sorted = [eps, eps, eps, 1+eps]; weights -3, -1, 1, 3 -> 3 / (4 (1 + 4 eps))
        ([0.0, 0.0, 0.0, 1.0], 3 / (4 * (1 + 4 * EPS))),
        # sorted [0, 1, 2, 4] + eps -> (-1 + 2 + 12) / (4 (7 + 4 eps))
        ([-4.0, 1.0, 0.0, 2.0], 13 / (4 * (7 + 4 * EPS))),
        # [1, 3] + eps, weights -1, 1 -> 2 / (2 (4 + 2 eps))
        ([1.0, -3.0], 2 / (2 * (4 + 2 * EPS))),
        ([2.0, 2.0, 2.0], 0.0),
        ([-5.0, 5.0, 5.0, -5.0, 5.0], 0.0),
        # all zero: v = eps everywhere, uniform
        ([0.0, 0.0, 0.0], 0.0),
    ],
)
def test_sparseness_by_hand(a, expected):
    a = np.array([a])
    got = xb.metrics.get("sparseness")(None, np.ones_like(a, np.float32), [0], a)
    # float64 numpy on at most five values, no TensorFlow or BLAS kernel: a few ulps (2.2e-16)
    # relative; the expected zeros are exact (weights -k..k times one value cancel exactly)
    np.testing.assert_allclose(got, [expected], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [2, 10, 100, 1000])
def test_sparseness_one_hot_and_uniform(n):
    x = np.ones((2, n), np.float32)
    a = np.zeros((2, n))
    a[0, n // 2] = 2.5
    a[1] = -0.3
    got = xb.metrics.get("sparseness")(None, x, [0, 0], a)
    # float64 numpy, no TensorFlow or BLAS kernel: sums of n <= 1,000 terms move by at most
    # n x 2.2e-16 = 2.2e-13 relative with the summation order (the score is at most 1)
    # one-hot: sum_i (2i - n - 1) = 0, so the eps terms cancel in the numerator
    np.testing.assert_allclose(got[0], (n - 1) * 2.5 / (n * (2.5 + n * EPS)), rtol=1e-12)
    np.testing.assert_allclose(got[0], (n - 1) / n, rtol=1e-4)
    np.testing.assert_allclose(got[1], 0.0, atol=1e-12)


def test_sparseness_scale_invariant_and_model_free():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 2, 2, 3)).astype(np.float32)
    a = rng.normal(size=x.shape)
    q = xb.metrics.get("sparseness")
    np.testing.assert_allclose(
        q(None, x, np.zeros(5, int), 3 * a), q(None, x, np.zeros(5, int), a), rtol=1e-6
    )
    # channels are summed before |.|: pixel (0, 0) holds 3 - 1 = 2, the others cancel to 0
    a_img = np.zeros((1, 2, 2, 3))
    a_img[0, 0, 0] = [3.0, -1.0, 0.0]
    a_img[0, 1, 1] = [1.0, -1.0, 0.0]
    np.testing.assert_allclose(
        q(None, x[:1], [0], a_img), [3 * 2 / (4 * (2 + 4 * EPS))], rtol=1e-12
    )
