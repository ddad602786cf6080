"""single_deletion (FunnyBirds): the Spearman correlation of parts' logit drops with their
attribution mass, mapped to [0, 1], by hand on the 6x6 samples of tests/_parts_cases.py."""

from __future__ import annotations

import numpy as np
from _parts_cases import attribution, reading, samples

import xaibench as xb


def test_hand_computed_correlations():
    """Logit 0 = object + 0.09 x distractor 1 - distractor 2 + 0.2 x corner. Drops: object 4,
    distractor 1 0.18, distractor 2 -1, background 0.34. Masses (dilation 0) of a = 0.5 on the
    object, 0.25 on distractor 1, 0.75 on distractor 2's region, 0.5 on the corner: samples 0, 1:
    (2, 1, 3, 1), ranks (3, 1.5, 4, 1.5) against the drops' (4, 2, 1, 3): rho = -1.5 /
    sqrt(4.5 x 5); sample 2 (distractor 2's region is background: its mass 3 + 1): (2, 1, 4)
    against drops (4, 0.18, 0.34): ranks (2, 1, 3), (3, 1, 2): rho = 1 - 6 x 2 / 24 = 0.5."""
    x, y, parts = samples()
    model = reading({0: 1.0, 1: 0.09, 2: -1.0, "corner": 0.2})
    a = attribution({0: 0.5, 1: 0.25, 2: 0.75, "corner": 0.5})
    got = xb.metrics.get("single_deletion", dilation=0)(model, x, y, a, parts=parts)
    rho = -1.5 / np.sqrt(4.5 * 5)
    np.testing.assert_allclose(got, [0.5 + 0.5 * rho, 0.5 + 0.5 * rho, 0.75], rtol=1e-12)


def test_constant_drops_or_masses_score_nan():
    """A model no part moves but the object, and a equal on every part: masses all 1 (a
    constant: the correlation is undefined)."""
    x, y, parts = samples()
    a = np.zeros((3, 6, 6))
    a[:, 0, 0] = a[:, 4, 4] = a[:, 0, 4] = a[:, 5, 0] = 1.0
    a[2, 0, 4] = 0.0  # sample 2's distractor 2 region is background: its mass stays 1
    got = xb.metrics.get("single_deletion", dilation=0)(reading({0: 1.0}), x, y, a, parts=parts)
    assert np.isnan(got).all()
