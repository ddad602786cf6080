"""permutation_importance: ranks features by weight, ignores an unused one, equals numpy
with the same permutations."""

from __future__ import annotations

import itertools

import _tiny
import numpy as np
import pytest
from _method_cases import linear_f

import xaibench as xb


@pytest.fixture(scope="module")
def ranked_linear():
    """Two classes with logits +-x.w and y = the predicted class, independent N(0, 1) features:
    a feature's importance grows with |w_j| (about sqrt(2/pi) w_j^2 / |w|)."""
    w_vec = np.array([0.5, -3.0, 0.0, 1.5, -1.0])
    w = np.stack([w_vec, -w_vec], axis=1)
    x = np.random.default_rng(8).normal(size=(200, 5)).astype(np.float32)
    y = (x @ w_vec < 0).astype(np.int64)
    return _tiny.linear_tabular(w, np.zeros(2)), w_vec, x, y


def test_permutation_importance_ranks_by_weight_and_ignores_unused_feature(ranked_linear):
    model, w_vec, x, y = ranked_linear
    a = xb.methods.get("permutation_importance")(model, x, y)
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, np.broadcast_to(a[0], a.shape))  # global: same row
    assert a[0, 2] == 0.0  # the model ignores feature 2
    used = np.flatnonzero(w_vec)
    assert list(used[np.argsort(-a[0, used])]) == list(used[np.argsort(-np.abs(w_vec[used]))])
    assert (a[0, used] > 0).all()


def test_permutation_importance_equals_numpy_with_the_same_permutations(tab):
    model, w, b, x, y = tab
    a = xb.methods.get("permutation_importance", repeats=3, seed=2)(model, x, y)
    perms = np.argsort(np.random.default_rng(2).random((3, x.shape[1], len(x))), axis=-1)
    full = linear_f(w, b, x, y)
    expected = np.zeros(x.shape[1])
    for r, j in itertools.product(range(3), range(x.shape[1])):
        shuffled = x.copy()
        shuffled[:, j] = x[perms[r, j], j]
        expected[j] += (full - linear_f(w, b, shuffled, y)).mean() / 3
    np.testing.assert_allclose(a, np.broadcast_to(expected, x.shape), rtol=1e-4, atol=1e-5)
