"""What the four localisation metrics share (xaibench/metrics/localisation/_masks.py): masks of the
wrong shape or type refused, masks= required, a NaN sample, batch-size independence."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_cases import localise

import xaibench as xb

LOCALISATION = ["pointing_game", "relevance_mass", "relevance_rank", "attribution_auroc"]


@pytest.mark.parametrize("name", LOCALISATION)
@pytest.mark.parametrize(
    "x_shape, mask_shape",
    [
        ((2, 4, 4, 1), (2, 4, 5)),
        ((2, 4, 4, 3), (2, 4, 4, 3)),
        ((2, 4, 4, 1), (3, 4, 4)),
        ((2, 4, 4, 1), (2, 16)),
        ((2, 6), (2, 5)),
        ((2, 6), (1, 6)),
    ],
)
def test_wrong_mask_shape(name, x_shape, mask_shape):
    x = np.zeros(x_shape, np.float32)
    with pytest.raises(ValueError) as err:
        xb.metrics.get(name)(None, x, [0, 0], np.ones(x_shape), masks=np.ones(mask_shape, bool))
    assert str(x_shape) in str(err.value) and str(mask_shape) in str(err.value)
    assert "masks" in str(err.value)


@pytest.mark.parametrize("name", LOCALISATION)
def test_masks_required_and_boolean(name):
    x = np.zeros((1, 3), np.float32)
    with pytest.raises(ValueError, match="masks="):
        xb.metrics.get(name)(None, x, [0], np.ones((1, 3)))
    with pytest.raises(ValueError, match="boolean"):
        xb.metrics.get(name)(None, x, [0], np.ones((1, 3)), masks=[[0.5, 1.0, 0.0]])


@pytest.mark.parametrize("name", LOCALISATION)
def test_localisation_nan_sample_and_batch_size(name):
    rng = np.random.default_rng(27)
    a = rng.normal(size=(5, 4, 4))
    masks = rng.uniform(size=a.shape) < 0.4
    masks[:, 0, 0], masks[:, 3, 3] = True, False
    ref = localise(name, a, masks, batch_size=64)
    np.testing.assert_array_equal(localise(name, a, masks, batch_size=1), ref)
    a[3, 1, 2] = np.nan
    got = localise(name, a, masks)
    assert np.isnan(got[3])
    np.testing.assert_array_equal(np.delete(got, 3), np.delete(ref, 3))
