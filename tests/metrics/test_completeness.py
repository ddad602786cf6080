"""completeness: |sum a - (f(x) - f(baseline))| computed by hand on a linear model, near zero for
integrated gradients with many steps, bad settings."""

from __future__ import annotations

import math

import _tiny
import numpy as np
import pytest
from _metric_cases import HAND_W, HAND_X

import xaibench as xb

# HAND_W, HAND_X of tests/_metric_cases.py with bias [0.5, 0]: class 0: w*x = [1, 2, -2, 1],
# f(x) = 2.5, f(0) = 0.5; class 1 is 0.
SIG = 1 / (1 + math.exp(-2.5)) - 1 / (1 + math.exp(-0.5))  # p_0(x) - p_0(0)


@pytest.mark.parametrize(
    "a, baseline, output, expected",
    [
        ([1.0, 1.0, 1.0, 1.0], 0.0, "logit", 2.0),  # |4 - (2.5 - 0.5)|
        ([0.5, 0.5, 0.5, 0.5], 0.0, "logit", 0.0),
        ([1.0, 2.0, -2.0, 1.0], 0.0, "logit", 0.0),
        ([-1.0, 0.0, 0.0, 0.0], 0.0, "logit", 3.0),
        ([1.0, 1.0, 1.0, 1.0], 1.0, "logit", 4.5),  # f(1) = 3: |4 - (2.5 - 3)|
        ([1.0, 1.0, 1.0, 1.0], "mean", "logit", 5.75),  # f(1.5) = 4.25
        ([0.0, 0.0, 0.0, 0.0], 0.0, "probability", SIG),
    ],
)
def test_completeness_by_hand(a, baseline, output, expected):
    model = _tiny.linear_tabular(HAND_W, [0.5, 0.0])
    q = xb.metrics.get("completeness", baseline=baseline, output=output)
    np.testing.assert_allclose(
        q(model, HAND_X, [0], np.array([a])), [expected], rtol=1e-6, atol=1e-6
    )


def test_completeness_of_integrated_gradients():
    model, _ = _tiny.smooth_mlp(5, seed=1)
    x = np.random.default_rng(13).normal(size=(4, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    q = xb.metrics.get("completeness")
    fine = q(model, x, y, xb.methods.get("integrated_gradients", steps=256)(model, x, y))
    coarse = q(model, x, y, xb.methods.get("integrated_gradients", steps=1)(model, x, y))
    np.testing.assert_allclose(fine, 0.0, atol=2e-4)
    assert np.all(coarse > 10 * fine) and coarse.max() > 1e-2


@pytest.mark.parametrize("params, match", [({"baseline": "noisy_linear"}, "baseline")])
def test_bad_settings(params, match):
    with pytest.raises(ValueError, match=match):
        xb.metrics.get("completeness", **params)
