"""kernel_shap: exact Shapley values when all coalitions fit, convergence when sampled,
superpixels, efficiency, and the coalition plan."""

from __future__ import annotations

import itertools
import math

import _tiny
import numpy as np
import pytest
from _method_cases import linear_case, pixel_contributions
from _tolerance import assert_float64_close

import xaibench as xb
from xaibench.methods.kernel_shap import CoalitionPlan


def mlp_f(params, v, y):
    """f_y of ``_tiny.smooth_mlp`` written out in numpy."""
    w1, b1, w2, b2 = params
    return (np.tanh(v.astype(np.float64) @ w1 + b1) @ w2 + b2)[np.arange(len(v)), y]


def exact_shapley(f, x, y):
    """Shapley values of every feature of tabular ``x`` for the game v(S) = f(x_S, 0 elsewhere),
    by the formula over all subsets (float64 (N, F))."""
    n, m = x.shape
    phi = np.zeros((n, m))
    for j in range(m):
        others = [k for k in range(m) if k != j]
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for subset in itertools.combinations(others, size):
                keep = np.zeros(m, bool)
                keep[list(subset)] = True
                without = np.where(keep, x, 0.0)
                keep[j] = True
                with_j = np.where(keep, x, 0.0)
                phi[:, j] += weight * (f(with_j, y) - f(without, y))
    return phi


@pytest.mark.parametrize("features", [1, 2, 5, 14])
def test_kernel_shap_linear_tabular_is_w_times_x(features):
    """Exact when all coalitions fit (F <= 11 at the default budget) and, the model being linear,
    also with sampled coalitions (F = 14)."""
    model, w, _, x, y = linear_case((features,), n=3, seed=features)
    a = xb.methods.get("kernel_shap")(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T * x, rtol=1e-4, atol=1e-5)


def test_kernel_shap_equals_exact_shapley_values_when_all_coalitions_fit():
    model, params = _tiny.smooth_mlp(5, seed=2)
    x = np.random.default_rng(5).normal(0, 1.5, size=(4, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    a = xb.methods.get("kernel_shap")(model, x, y)
    np.testing.assert_allclose(a, exact_shapley(lambda v, t: mlp_f(params, v, t), x, y), atol=1e-5)


def test_kernel_shap_sampled_coalitions_approach_shapley_values():
    """F = 10, budgets below 2^10 - 2: 1000 enumerates every size but 5 and samples that one, 100
    enumerates sizes 1 and 9 only; the estimate is close to the exact values and improves with
    the budget (an unweighted or biased sampler would not converge to them)."""
    model, params = _tiny.smooth_mlp(10, n_hidden=6, seed=4)
    x = np.random.default_rng(6).normal(0, 1.0, size=(3, 10)).astype(np.float32)
    y = np.array([0, 1, 2])
    exact = exact_shapley(lambda v, t: mlp_f(params, v, t), x, y)
    err = {
        samples: np.abs(xb.methods.get("kernel_shap", samples=samples)(model, x, y) - exact).mean()
        for samples in (100, 1000)
    }
    assert err[1000] < 0.1 * np.abs(exact).mean()
    assert err[1000] < err[100]


@pytest.mark.parametrize("segments, cells", [(2, (2, 2)), (3, (3, 3))])
def test_kernel_shap_superpixels_on_linear_image(segments, cells):
    """A grid superpixel's Shapley value is the sum of W * x over its pixels, spread evenly over
    them (so the attributions sum to f(x) - f(0))."""
    model, w, _, x, y = linear_case((5, 6, 2), n=2)
    a = xb.methods.get("kernel_shap", segments=segments)(model, x, y)
    assert a.shape == (2, 5, 6)
    rows = (np.arange(5) * cells[0]) // 5
    cols = (np.arange(6) * cells[1]) // 6
    labels = (rows[:, None] * cells[1] + cols[None, :]).ravel()
    sizes = np.bincount(labels)
    c = pixel_contributions(w, x, y).reshape(2, -1)
    expected = np.stack([np.bincount(labels, ci)[labels] / sizes[labels] for ci in c])
    np.testing.assert_allclose(a.reshape(2, -1), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case, samples", [("mlp", 2048), ("mlp", 50), ("cnn", 2048), ("cnn", 30)])
def test_kernel_shap_efficiency(case, samples, cnn3):
    """sum a = f_y(x) - f_y(baseline) exactly (the constraint is eliminated, not penalised)."""
    if case == "mlp":
        model, params = _tiny.smooth_mlp(20, seed=1)
        x = np.random.default_rng(7).normal(size=(4, 20)).astype(np.float32)
        y = np.array([0, 1, 2, 0])
    else:
        model, x, y = cnn3
    a = xb.methods.get("kernel_shap", samples=samples, baseline=0.3)(model, x, y)
    out = model.predict_on_batch(np.concatenate([x, np.full_like(x, 0.3)]))
    diff = out[np.arange(len(x)), y] - out[len(x) + np.arange(len(x)), y]
    np.testing.assert_allclose(a.reshape(len(x), -1).sum(axis=1), diff, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "m, samples, enumerated, rows",
    [
        (3, 2048, 6, 6),
        (11, 2048, 2046, 2046),
        (12, 2048, 24 + 132 + 440, 2048),
        (16, 2048, 272, 2048),
        (16, 2047, 272, 2046),
    ],
)
def test_kernel_shap_coalition_plan(m, samples, enumerated, rows):
    plan = CoalitionPlan(m, samples)
    assert len(plan.enumerated) == enumerated
    assert len(plan.weights) == rows
    np.testing.assert_allclose(plan.weights.sum(), 1.0)  # the whole kernel mass
    # enumerated rows carry the Shapley kernel (m-1) / (C(m,k) k (m-k)), normalised to mass 1
    k = plan.enumerated.sum(axis=1)
    kernel = (m - 1) / (np.array([math.comb(m, int(j)) for j in k]) * k * (m - k))
    total = sum((m - 1) / (j * (m - j)) for j in range(1, m))
    # the weights are normalised by a sum of at most 2,048 terms
    assert_float64_close(plan.weights[:enumerated], kernel / total, terms=2048)
    assert len(np.unique(plan.enumerated, axis=0)) == enumerated
    z = plan.coalitions(np.random.default_rng(0), 2)
    assert z.shape == (2, rows, m)
    assert (z.sum(axis=2) > 0).all() and (z.sum(axis=2) < m).all()  # proper coalitions only
