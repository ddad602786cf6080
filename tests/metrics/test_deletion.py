"""deletion: curves and areas computed by hand or by a numpy reference on linear models whose
answer is known (tabular, images, every baseline including noisy linear), and the removal counts."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _metric_cases import (
    check_removal_curve_by_hand,
    check_removal_curve_images,
    check_removal_curve_tabular,
    check_removal_noisy_linear_against_reference,
)

import xaibench as xb


@pytest.mark.parametrize(
    "steps, curve, score",
    [  # HAND_W, HAND_X, HAND_A of tests/_metric_cases.py
        (4, [2.5, 1.5, 3.5, 1.5, 0.5], 2.0),
        (2, [2.5, 3.5, 0.5], 2.5),
        (1, [2.5, 0.5], 1.5),
    ],
)
def test_removal_curve_by_hand(steps, curve, score):
    check_removal_curve_by_hand("deletion", steps, curve, score)


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("steps", [1, 3, 4, 7])  # round(k*n/steps), n=5 not divisible by steps
@pytest.mark.parametrize(
    "baseline",
    [0.0, 0.25, "mean", lambda x: 0.5 * x + 1.0],
    ids=["zero", "num", "mean", "callable"],
)
def test_removal_curve_tabular(tabular_case, output, steps, baseline):
    check_removal_curve_tabular(tabular_case, "deletion", output, steps, baseline)


@pytest.mark.parametrize("channels", ["summed_by_metric", "given_summed"])
@pytest.mark.parametrize("steps", [4, 6])
@pytest.mark.parametrize(
    "baseline", [0.0, "mean", lambda x: x[:, ::-1]], ids=["zero", "mean", "callable"]
)
def test_removal_curve_images(image_case, channels, steps, baseline):
    check_removal_curve_images(image_case, "deletion", channels, steps, baseline)


def test_removal_counts_round(image_case):
    """n = 6 pixels, steps = 4: round(k*6/4) = 0, 2 (1.5), 3, 4 (4.5), 6 features removed."""
    shape = image_case[1]
    # A model counting the zeroed pixels: class 0 logit = sum of the inputs, x all ones.
    w = np.zeros((12, 3))
    w[:, 0] = 0.5
    model = _tiny.linear_image(w, np.zeros(3), shape)
    ones = np.ones((1,) + shape, np.float32)
    a = np.arange(6, dtype=float).reshape(1, 2, 3)
    curve = xb.metrics.get("deletion", steps=4, output="logit").curves(model, ones, [0], a)
    removed = 6 - curve[0]
    np.testing.assert_allclose(removed, [round(k * 6 / 4) for k in range(5)], atol=1e-6)
    np.testing.assert_allclose(removed, [0, 2, 3, 4, 6], atol=1e-6)


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("steps, seed", [(5, 0), (4, 7)])
def test_removal_noisy_linear_against_reference(linear_rgb, output, steps, seed):
    check_removal_noisy_linear_against_reference(linear_rgb, "deletion", output, steps, seed)
