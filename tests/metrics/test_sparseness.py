"""sparseness: the exact Gini index computed by hand, one-hot and uniform attributions, constant
maps (NaN), scale invariance at any scale, the measured departure from Quantus's +1e-7, channels
summed, no model needed."""

from __future__ import annotations

import numpy as np
import pytest

import xaibench as xb


def sparseness(a):
    a = np.atleast_2d(np.asarray(a, np.float64))
    return xb.metrics.get("sparseness")(None, np.ones(a.shape, np.float32), np.zeros(len(a)), a)


@pytest.mark.parametrize(
    "a, expected",
    [
        # |a| sorted = [0, 0, 0, 1]; weights -3, -1, 1, 3 -> 3 / (4 * 1)
        ([0.0, 0.0, 0.0, 1.0], 3 / 4),
        # sorted [0, 1, 2, 4] -> (-3 * 0 - 1 + 2 + 3 * 4) / (4 * 7)
        ([-4.0, 1.0, 0.0, 2.0], 13 / 28),
        # [1, 3], weights -1, 1 -> 2 / (2 * 4)
        ([1.0, -3.0], 2 / 8),
        # |a| uniform but the signed map is not constant: spread evenly
        ([-5.0, 5.0, 5.0, -5.0, 5.0], 0.0),
        # constant maps rank no feature above another: NaN (README, Conventions)
        ([2.0, 2.0, 2.0], np.nan),
        ([0.0, 0.0, 0.0], np.nan),
    ],
)
def test_sparseness_by_hand(a, expected):
    # float64 numpy on at most five values, no TensorFlow or BLAS kernel: a few ulps (2.2e-16)
    # relative; the expected zero is exact (weights -k..k times one value cancel exactly)
    np.testing.assert_allclose(sparseness(a), [expected], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [2, 10, 100, 1000])
def test_sparseness_one_hot_and_uniform(n):
    x = np.ones((2, n), np.float32)
    a = np.zeros((2, n))
    a[0, n // 2] = 2.5
    a[1] = -0.3
    a[1, 0] = 0.3  # |a| uniform, the map not constant
    got = xb.metrics.get("sparseness")(None, x, [0, 0], a)
    # float64 numpy, no TensorFlow or BLAS kernel: sums of n <= 1,000 terms move by at most
    # n x 2.2e-16 = 2.2e-13 relative with the summation order (the score is at most 1)
    np.testing.assert_allclose(got[0], (n - 1) / n, rtol=1e-12)
    np.testing.assert_allclose(got[1], 0.0, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-30, 1e-8, 1e-6, 1.0, 1e8, 1e30])
def test_sparseness_scale_invariant_at_any_scale(scale):
    """The Gini index is scale-invariant; with Quantus's absolute +1e-7 (normalise=False) a
    one-hot map of 64 features scored 0.984 at scale 1, 0.133 at 1e-6 and 0.0015 at 1e-8."""
    rng = np.random.default_rng(6)
    a = rng.normal(size=(4, 64))
    a[0] = 0.0
    a[0, 5] = 1.0  # one-hot: 63 / 64
    ref = sparseness(a)
    np.testing.assert_allclose(ref[0], 63 / 64, rtol=1e-12)
    # float64 numpy, 64 terms: scaling by c rounds each |a_i| c once (2.2e-16 relative), so
    # the score moves by a few ulps at most
    np.testing.assert_allclose(sparseness(scale * a), ref, rtol=1e-13)


def test_sparseness_departs_from_quantus_by_its_epsilon():
    """Quantus adds 1e-7 to |a| after dividing by max |a| (its default normalise=True): its
    score is xaibench's times S / (S + 1e-7 n), S = sum |a| / max |a| (README, Metrics)."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(3, 50)) * np.array([[1.0], [1e-6], [1e3]])
    v = np.abs(a) / np.abs(a).max(axis=1, keepdims=True) + 1e-7  # Quantus's formula, written out
    v.sort(axis=1)
    i = np.arange(1, 51)
    quantus = ((2 * i - 51) * v).sum(axis=1) / (50 * v.sum(axis=1))
    ours = sparseness(a)
    s = np.abs(a).sum(axis=1) / np.abs(a).max(axis=1)
    np.testing.assert_allclose(quantus, ours * s / (s + 50e-7), rtol=1e-12)
    assert np.all(ours > quantus) and np.all(ours - quantus < 1e-6)


def test_sparseness_scale_invariant_and_model_free():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 2, 2, 3)).astype(np.float32)
    a = rng.normal(size=x.shape)
    q = xb.metrics.get("sparseness")
    np.testing.assert_allclose(
        q(None, x, np.zeros(5, int), 3 * a), q(None, x, np.zeros(5, int), a), rtol=1e-12
    )
    # channels are summed before |.|: pixel (0, 0) holds 3 - 1 = 2, the others cancel to 0
    a_img = np.zeros((1, 2, 2, 3))
    a_img[0, 0, 0] = [3.0, -1.0, 0.0]
    a_img[0, 1, 1] = [1.0, -1.0, 0.0]
    np.testing.assert_allclose(q(None, x[:1], [0], a_img), [3 * 2 / (4 * 2)], rtol=1e-12)
