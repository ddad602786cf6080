"""random (the control): seeded uniform maps, independent of batch_size; bad seeds refused."""

from __future__ import annotations

import numpy as np
import pytest

import xaibench as xb


def test_random_seeded(cnn_case):
    model, x, y = cnn_case
    a0 = xb.methods.get("random", seed=0)(model, x, y)
    a0_again = xb.methods.get("random", seed=0)(model, x, y)
    a1 = xb.methods.get("random", seed=1)(model, x, y)
    np.testing.assert_array_equal(a0, a0_again)
    assert not np.allclose(a0, a1)
    assert a0.shape == x.shape and a0.dtype == np.float32
    assert a0.min() >= 0.0 and a0.max() < 1.0
    assert a0.std() > 0.2  # uniform on [0, 1) has std 0.289, not a constant


@pytest.mark.parametrize("batch_size", [1, 2, 3, 64])
def test_random_independent_of_batch_size(cnn_case, batch_size):
    model, x, y = cnn_case
    ref = xb.methods.get("random", seed=5, batch_size=256)(model, x, y)
    np.testing.assert_array_equal(
        xb.methods.get("random", seed=5, batch_size=batch_size)(model, x, y), ref
    )


def test_random_rejects_a_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        xb.methods.get("random", seed=-1)
