"""pointing_game: whether the attribution's maximum lies in the mask, by hand on a 4x4 image and
tabular rows (ties to the first index), against a per-sample reference, empty and full masks."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_cases import (
    TAB_A,
    TAB_MASKS,
    check_empty_and_full_masks,
    check_localisation_image_by_hand,
    check_localisation_matches_per_sample_reference,
    localise,
)
from _tolerance import assert_float64_close


def test_localisation_image_by_hand():
    check_localisation_image_by_hand("pointing_game")


def test_localisation_tabular_by_hand():
    # TAB_A and TAB_MASKS of tests/_metric_cases.py (the values explained there)
    assert_float64_close(
        localise("pointing_game", TAB_A, TAB_MASKS), [0.0, np.nan], terms=8, scale=4
    )  # 8 features, float64 numpy


def test_localisation_matches_per_sample_reference():
    check_localisation_matches_per_sample_reference("pointing_game")


@pytest.mark.parametrize("empty, full", [(np.nan, 1.0)])
def test_empty_and_full_masks(empty, full):
    check_empty_and_full_masks("pointing_game", empty, full)
