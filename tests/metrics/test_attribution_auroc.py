"""attribution_auroc: the AUROC of the attribution for the mask, by hand on a 4x4 image (and by
sklearn) and tabular rows, against a per-sample reference, empty and full masks."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_cases import (
    A_0,
    A_1,
    TAB_A,
    TAB_MASKS,
    HAND_4x4,
    MASK_4x4,
    check_empty_and_full_masks,
    check_localisation_image_by_hand,
    check_localisation_matches_per_sample_reference,
    localise,
)
from _tolerance import assert_float64_close
from sklearn.metrics import roc_auc_score


def test_localisation_image_by_hand():
    check_localisation_image_by_hand("attribution_auroc")


def test_auroc_by_hand_matches_sklearn():
    for a, expected in zip([A_0, A_1], HAND_4x4["attribution_auroc"], strict=True):
        assert roc_auc_score(MASK_4x4.ravel(), a.ravel()) == pytest.approx(expected, abs=1e-15)


def test_localisation_tabular_by_hand():
    # TAB_A and TAB_MASKS of tests/_metric_cases.py (the values explained there)
    assert_float64_close(
        localise("attribution_auroc", TAB_A, TAB_MASKS), [5.5 / 8, np.nan], terms=8, scale=4
    )  # 8 features, float64 numpy


def test_localisation_matches_per_sample_reference():
    check_localisation_matches_per_sample_reference("attribution_auroc")


@pytest.mark.parametrize("empty, full", [(np.nan, np.nan)])
def test_empty_and_full_masks(empty, full):
    check_empty_and_full_masks("attribution_auroc", empty, full)
