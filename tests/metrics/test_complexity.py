"""complexity: the entropy of p = |a| / sum |a| (+1e-12 inside the log) computed by hand, uniform
and one-hot attributions, scale and sign invariance, channels summed."""

from __future__ import annotations

import numpy as np
import pytest
from _tolerance import assert_float64_close

import xaibench as xb


def complexity(a, model=None):
    a = np.atleast_2d(np.asarray(a, np.float64))
    return xb.metrics.get("complexity")(model, np.ones(a.shape, np.float32), np.zeros(len(a)), a)


@pytest.mark.parametrize("n", [1, 2, 7, 100, 784])
@pytest.mark.parametrize("value", [1.0, -0.3, 0.0])  # all zero counts as uniform (documented)
def test_complexity_uniform_is_log_n(n, value):
    got = complexity(np.full(n, value))
    # float64 numpy: an entropy summed over n terms of size <= log(n) + 1
    assert_float64_close(got, [-np.log(1 / n + 1e-12)], terms=n, scale=np.log(n) + 1)
    # ... and equals log(n) up to what the 1e-12 inside the log does: -log(1/n + 1e-12) =
    # log(n) - log(1 + n 1e-12), a shift of n 1e-12 (twice that allowed; float64 round-off, at
    # most n x 2.2e-16 x (log(n) + 1), is far below)
    np.testing.assert_allclose(got, [np.log(n)], rtol=0, atol=2 * n * 1e-12)


@pytest.mark.parametrize("n", [2, 10, 1000])
def test_complexity_one_hot_is_zero(n):
    a = np.zeros(n)
    a[n // 3] = -4.0
    assert_float64_close(complexity(a), [-np.log(1 + 1e-12)], terms=a.size)
    # ... which is 0 up to the 1e-12 inside the log (-log(1 + 1e-12) = -1e-12; twice allowed)
    np.testing.assert_allclose(complexity(a), [0.0], rtol=0, atol=2e-12)


def test_complexity_by_hand():
    # p = [1/4, 1/4, 1/2, 0]: H = 1/2 log 4 + 1/2 log 2 = 1.5 log 2
    p = np.array([0.25, 0.25, 0.5])
    exact = -(p * np.log(p + 1e-12)).sum()
    assert_float64_close(complexity([1.0, -1.0, 2.0, 0.0]), [exact], terms=4, scale=2)
    # the 1e-12 inside the log shifts each of the 3 terms by p x 1e-12 / p: 3e-12 in all (twice
    # allowed); float64 round-off of 3 terms of size <= 1 is far below
    np.testing.assert_allclose(exact, 1.5 * np.log(2), rtol=0, atol=6e-12)


def test_complexity_scale_sign_invariant_and_images():
    rng = np.random.default_rng(22)
    x = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    a = rng.normal(size=x.shape)
    q = xb.metrics.get("complexity")
    y = np.zeros(4, int)
    ref = q(None, x, y, a)
    assert_float64_close(q(None, x, y, 7.5 * a), ref, terms=a[0].size, scale=10)
    assert_float64_close(q(None, x, y, -a), ref, terms=a[0].size, scale=10)
    # channels are summed before |.|
    summed = np.abs(a.sum(axis=-1)).reshape(4, -1)
    p = summed / summed.sum(axis=1, keepdims=True)
    assert_float64_close(ref, -(p * np.log(p + 1e-12)).sum(axis=1), terms=p.shape[1], scale=10)
    # spreading the same mass over more features raises the entropy
    assert complexity([1.0, 1.0, 0.0, 0.0])[0] < complexity([1.0, 1.0, 1.0, 0.0])[0]
