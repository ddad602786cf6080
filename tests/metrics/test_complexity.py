"""complexity: the exact entropy of p = |a| / sum |a| computed by hand, uniform and one-hot
attributions, constant maps (NaN), scale and sign invariance at any scale, channels summed."""

from __future__ import annotations

import numpy as np
import pytest
from _tolerance import assert_float64_close
from scipy.stats import entropy

import xaibench as xb


def complexity(a, model=None):
    a = np.atleast_2d(np.asarray(a, np.float64))
    return xb.metrics.get("complexity")(model, np.ones(a.shape, np.float32), np.zeros(len(a)), a)


@pytest.mark.parametrize("n", [2, 7, 100, 784])
def test_complexity_uniform_is_log_n(n):
    a = np.full(n, -0.3)
    a[0] = 0.3  # |a| uniform, the signed map not constant
    # float64 numpy: an entropy summed over n terms of size <= log(n) + 1
    assert_float64_close(complexity(a), [np.log(n)], terms=n, scale=np.log(n) + 1)


@pytest.mark.parametrize("n", [1, 2, 100])
@pytest.mark.parametrize("value", [1.0, -0.3, 0.0])
def test_complexity_constant_map_is_nan(n, value):
    """A constant map ranks no feature above another: NaN (README, Conventions)."""
    assert np.isnan(complexity(np.full(n, value))).all()


@pytest.mark.parametrize("n", [2, 10, 1000])
def test_complexity_one_hot_is_zero(n):
    a = np.zeros(n)
    a[n // 3] = -4.0
    assert complexity(a)[0] == 0.0  # 1 log 1 + (n - 1) x 0 log 0, exactly


def test_complexity_by_hand():
    # p = [1/4, 1/4, 1/2, 0]: H = 1/2 log 4 + 1/2 log 2 = 1.5 log 2
    assert_float64_close(complexity([1.0, -1.0, 2.0, 0.0]), [1.5 * np.log(2)], terms=4, scale=2)
    # the same as Quantus's (scipy.stats.entropy of |a| / sum |a|)
    assert_float64_close(complexity([1.0, -1.0, 2.0, 0.0]), [entropy([1, 1, 2, 0])], terms=4)


@pytest.mark.parametrize("scale", [1e-30, 1e-8, 1.0, 1e8, 1e30])
def test_complexity_scale_sign_invariant_and_images(scale):
    rng = np.random.default_rng(22)
    x = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    a = rng.normal(size=x.shape)
    q = xb.metrics.get("complexity")
    y = np.zeros(4, int)
    ref = q(None, x, y, a)
    assert_float64_close(q(None, x, y, scale * a), ref, terms=a[0].size, scale=10)
    assert_float64_close(q(None, x, y, -a), ref, terms=a[0].size, scale=10)
    # channels are summed before |.|
    summed = np.abs(a.sum(axis=-1)).reshape(4, -1)
    assert_float64_close(ref, entropy(summed, axis=1), terms=summed.shape[1], scale=10)
    # spreading the same mass over more features raises the entropy
    assert complexity([1.0, 1.0, 0.0, 0.0])[0] < complexity([1.0, 1.0, 1.0, 0.0])[0]
