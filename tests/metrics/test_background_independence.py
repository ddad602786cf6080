"""background_independence (FunnyBirds): the 5% rule applied to removing the background, a
property of the model (the same for every explanation), on tests/_parts_cases.py's samples."""

from __future__ import annotations

import numpy as np
import pytest
from _parts_cases import attribution, reading, samples

import xaibench as xb


@pytest.mark.parametrize(
    "weight, expected",
    [
        (0.0, 1),  # the model ignores the background
        (0.1, 1),  # logit 4.18, without the background 4.01: 4.1% down: irrelevant
        (0.13, 0),  # 4.234 -> 4.013: 5.2% down: relevant
        (-0.5, 1),  # removing the background raises the logit: irrelevant
    ],
)
def test_the_five_percent_rule_on_the_background(weight, expected):
    x, y, parts = samples()
    model = reading({0: 1.0, "corner": weight})
    q = xb.metrics.get("background_independence")
    for a in (attribution({0: 1.0}), attribution({1: 1.0})):  # the explanation does not matter
        np.testing.assert_array_equal(q(model, x, y, a, parts=parts), expected)


def test_metadata_says_it_ranks_no_method():
    q = xb.metrics.get("background_independence")
    assert q.category == "model_property" and q.higher_is_better and q.needs_parts
