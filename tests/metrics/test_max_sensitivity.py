"""max_sensitivity: the largest relative change of an identity explanation against a numpy
reference, zero for input-independent methods, NaN for a zero attribution, bad settings."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_cases import (
    check_sensitivity_of_identity,
    check_sensitivity_zero_attribution_is_nan,
    check_sensitivity_zero_for_input_independent_methods,
)

import xaibench as xb


@pytest.mark.parametrize("shape", [(5,), (3, 3, 2)])
@pytest.mark.parametrize("seed", [0, 11])
def test_sensitivity_of_identity(shape, seed):
    check_sensitivity_of_identity("max_sensitivity", np.max, shape, seed)


def test_sensitivity_zero_for_input_independent_methods(linear_tab):
    check_sensitivity_zero_for_input_independent_methods("max_sensitivity", linear_tab)


def test_sensitivity_zero_attribution_is_nan():
    check_sensitivity_zero_attribution_is_nan("max_sensitivity")


@pytest.mark.parametrize(
    "params, match",
    [
        ({"radius": -1.0}, "radius"),
        ({"samples": 2.5}, "samples"),
    ],
)
def test_bad_settings(params, match):
    with pytest.raises(ValueError, match=match):
        xb.metrics.get("max_sensitivity", **params)
