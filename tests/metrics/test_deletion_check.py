"""deletion_check (FunnyBirds): hand-computed cases on the 6x6 samples of tests/_parts_cases.py."""

from __future__ import annotations

import numpy as np
from _parts_cases import attribution, reading, samples

import xaibench as xb


def test_removing_what_the_model_needs_changes_the_prediction():
    """The model reads the object and the background's corner (logit 0 = 4 + 1.8 against a
    constant 4.5; without the background 4.1, without the object 1.8)."""
    x, y, parts = samples()
    both = reading({0: 1.0, "corner": 1.0}, 4.5)
    q = xb.metrics.get("deletion_check", tau=0.2)
    # a on the background's corner alone: removing the background loses the prediction
    np.testing.assert_array_equal(q(both, x, y, attribution({"corner": 1.0}), parts=parts), 1)
    # ... but not for the model that reads the object only (its logit stays 4 > 2)
    only = reading({0: 1.0})
    np.testing.assert_array_equal(q(only, x, y, attribution({"corner": 1.0}), parts=parts), 0)
    # a on the object: both models lose the prediction; on distractor 1: neither does
    np.testing.assert_array_equal(q(both, x, y, attribution({0: 1.0}), parts=parts), 1)
    np.testing.assert_array_equal(q(only, x, y, attribution({1: 1.0}), parts=parts), 0)


def test_nothing_important_removes_nothing():
    """Attributions spread so that no part holds tau = 0.9 of their mass (the largest, the
    background, holds 24/36 of an even map): nothing is removed, the prediction stays: 0. An
    all-zero map marks nothing either, but a constant map says nothing about features: NaN
    (README, Conventions)."""
    x, y, parts = samples()
    q = xb.metrics.get("deletion_check", tau=0.9)
    even = np.ones((3, 6, 6))
    even[:, 2, 2] = 1.01  # not constant
    np.testing.assert_array_equal(q(reading({0: 1.0}), x, y, even, parts=parts), 0)
    assert np.isnan(q(reading({0: 1.0}), x, y, np.zeros((3, 6, 6)), parts=parts)).all()
