"""distractibility (FunnyBirds): the 5% rule, the share of irrelevant parts left unmarked, the
method that marks the distractors, on the 6x6 samples of tests/_parts_cases.py."""

from __future__ import annotations

import _tiny
import numpy as np
from _parts_cases import attribution, reading, samples
from _tolerance import assert_float64_close

import xaibench as xb

# logit 0 = object + 0.09 x distractor 1 - distractor 2 + 0.2 x corner, logit 1 = 2:
# samples 0, 1: 4 + 0.18 - 1 + 0.36 = 3.54; sample 2 (no distractor 2): 4.54.
MIXED = {0: 1.0, 1: 0.09, 2: -1.0, "corner": 0.2}


def test_the_five_percent_rule_by_hand():
    """Removing distractor 1 drops the logit by 0.18: 5.1% of 3.54 (relevant) on samples 0 and
    1, 4.0% of 4.54 (irrelevant) on sample 2. Removing distractor 2 raises it by 1 (irrelevant).
    Removing the background drops it by 0.2 x 1.7 = 0.34 (9.6%, 7.5%: relevant). So the
    irrelevant parts are {distractor 2} on samples 0, 1 and {distractor 1} on sample 2."""
    x, y, parts = samples()
    model = reading(MIXED)
    q = xb.metrics.get("distractibility", tau=0.2)
    # a marks distractor 2's region: important there on samples 0, 1 (0 left unmarked); on
    # sample 2 that region is background, and distractor 1 stays unmarked (1)
    np.testing.assert_array_equal(q(model, x, y, attribution({2: 1.0}), parts=parts), [0, 0, 1])
    np.testing.assert_array_equal(q(model, x, y, attribution({1: 1.0}), parts=parts), [1, 1, 0])


def test_a_method_marking_the_distractors_scores_zero():
    """The model reads everything but distractor 1 (the object, distractor 2, the background):
    distractor 1 is the one irrelevant part, and a method pointing at it (and nothing else) is
    fully distracted, at every tau."""
    x, y, parts = samples()
    model = reading({0: 1.0, 2: 1.0, "corner": 1.0}, 4.5)
    a = attribution({1: 1.0})
    np.testing.assert_array_equal(xb.metrics.get("distractibility")(model, x, y, a, parts=parts), 0)
    for tau in (0.01, 0.3, 0.49):
        q = xb.metrics.get("distractibility", tau=tau)
        np.testing.assert_array_equal(q(model, x, y, a, parts=parts), 0)


def test_funnybirds_choice_of_tau_can_fall_where_nothing_is_important():
    """Both distractors marked, half the mass each, for a model that ignores them: at every
    tau below 0.5 both are important (distractibility 0), but at 0.5 neither exceeds half the
    total, and FunnyBirds's choice, which adds distractibility to the completeness checks, takes
    that tau: 1. A fixed tau keeps 0."""
    x, y, parts = samples(second=(True, True, True))
    model = reading({0: 1.0, "corner": 1.0}, 4.5)
    a = attribution({1: 1.0, 2: 1.0})
    q = xb.metrics.get("distractibility")
    assert q.chosen_tau(model, x, y, a, parts=parts) == 0.5
    np.testing.assert_array_equal(q(model, x, y, a, parts=parts), 1)
    q = xb.metrics.get("distractibility", tau=0.3)
    np.testing.assert_array_equal(q(model, x, y, a, parts=parts), 0)


def test_partial_share_and_no_irrelevant_part():
    """The object-only model: distractors and background irrelevant (3 parts on samples 0, 1; 2
    on sample 2); marking distractor 1 leaves 2/3 and 1/2 unmarked. A model that every removal
    moves (by >= 5%, down) has no irrelevant part: NaN."""
    x, y, parts = samples()
    q = xb.metrics.get("distractibility", tau=0.2)
    got = q(reading({0: 1.0}), x, y, attribution({1: 1.0}), parts=parts)
    # 1 - k / n of integer part counts: one IEEE division and one subtraction, each correctly
    # rounded on every CPU (no libm, no summation order): 2 terms of float64 round-off
    assert_float64_close(got, [2 / 3, 2 / 3, 1 / 2], terms=2)
    everything = reading({0: 1.0, 1: 1.0, 2: 1.0, "corner": 1.0})
    assert np.isnan(q(everything, x, y, attribution({1: 1.0}), parts=parts)).all()


def test_probability_output_applies_the_rule_to_the_softmax():
    """With output="probability" the 5% rule reads p_y = softmax(logits)_y: computed here from
    the logits written out (logit 1 = 2)."""
    x, y, parts = samples()
    z0 = np.array([3.54, 3.54, 4.54])
    p = _tiny.softmax(np.stack([z0, np.full(3, 2.0)], axis=1))[:, 0]
    p_without_d1 = _tiny.softmax(np.stack([z0 - 0.18, np.full(3, 2.0)], axis=1))[:, 0]
    relevant_d1 = np.abs(p - p_without_d1) >= 0.05 * p  # all False: p is near 1 here
    assert not relevant_d1.any()
    q = xb.metrics.get("distractibility", tau=0.2, output="probability")
    got = q(reading(MIXED), x, y, attribution({1: 1.0}), parts=parts)
    # irrelevant now: distractor 1 everywhere (marked), distractor 2 on samples 0, 1 (raises p),
    # and the background? 0.34 down: p 0.8226 -> 0.7702 (6.4%, relevant) on samples 0, 1,
    # 0.9269 -> 0.8999 (2.9%, irrelevant) on sample 2
    # part counts as above; the 5% decisions are >= 1.4 points from their threshold (6.4%, 2.9%),
    # far beyond float32 logits' round-off, so the counts are the same on any machine
    assert_float64_close(got, [1 / 2, 1 / 2, 1 / 2], terms=2)
