"""insertion: curves and areas computed by hand or by a numpy reference on linear models whose
answer is known (tabular, images, every baseline including noisy linear); it mirrors deletion."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_cases import (
    check_removal_curve_by_hand,
    check_removal_curve_images,
    check_removal_curve_tabular,
    check_removal_noisy_linear_against_reference,
    linear_scores,
)

import xaibench as xb


@pytest.mark.parametrize(
    "steps, curve, score",
    [  # HAND_W, HAND_X, HAND_A of tests/_metric_cases.py
        (4, [0.5, 1.5, -0.5, 1.5, 2.5], 1.0),
        (2, [0.5, -0.5, 2.5], 0.5),
    ],
)
def test_removal_curve_by_hand(steps, curve, score):
    check_removal_curve_by_hand("insertion", steps, curve, score)


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("steps", [1, 3, 4, 7])  # round(k*n/steps), n=5 not divisible by steps
@pytest.mark.parametrize(
    "baseline",
    [0.0, 0.25, "mean", lambda x: 0.5 * x + 1.0],
    ids=["zero", "num", "mean", "callable"],
)
def test_removal_curve_tabular(tabular_case, output, steps, baseline):
    check_removal_curve_tabular(tabular_case, "insertion", output, steps, baseline)


def test_insertion_mirrors_deletion_from_zero(tabular_case):
    """Linear model, baseline 0: deletion_k + insertion_k = f(x) + f(0) at every step."""
    model, w, b, x, y, a = tabular_case
    kw = {"steps": 5, "baseline": 0.0, "output": "logit"}
    dele = xb.metrics.get("deletion", **kw).curves(model, x, y, a)
    ins = xb.metrics.get("insertion", **kw).curves(model, x, y, a)
    total = linear_scores(x, w, b, y, "logit") + b[y]
    ranked = np.ptp(a, axis=1) > 0  # sample 1's map is constant: NaN curves (README)
    assert np.isnan(dele[~ranked]).all() and np.isnan(ins[~ranked]).all()
    dele, ins, total, base = dele[ranked], ins[ranked], total[ranked], b[y][ranked]
    np.testing.assert_allclose(dele + ins, np.repeat(total[:, None], 6, axis=1), rtol=1e-5)
    np.testing.assert_allclose(ins[:, 0], base, rtol=1e-6)
    np.testing.assert_allclose(dele[:, -1], base, rtol=1e-6)


@pytest.mark.parametrize("channels", ["summed_by_metric", "given_summed"])
@pytest.mark.parametrize("steps", [4, 6])
@pytest.mark.parametrize(
    "baseline", [0.0, "mean", lambda x: x[:, ::-1]], ids=["zero", "mean", "callable"]
)
def test_removal_curve_images(image_case, channels, steps, baseline):
    check_removal_curve_images(image_case, "insertion", channels, steps, baseline)


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("steps, seed", [(5, 0), (4, 7)])
def test_removal_noisy_linear_against_reference(linear_rgb, output, steps, seed):
    check_removal_noisy_linear_against_reference(linear_rgb, "insertion", output, steps, seed)
