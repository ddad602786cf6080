"""preservation_check (FunnyBirds): hand-computed cases on 6x6 samples whose parts and model are
known (tests/_parts_cases.py), the oracle scoring 1, and what every ground-truth metric shares:
FunnyBirds's threshold sweep and choice, the checks on parts= and the table read once."""

from __future__ import annotations

import numpy as np
import pytest
from _parts_cases import attribution, reading, samples

import xaibench as xb
from xaibench.metrics.ground_truth import _parts

# The model that reads only the class object (logit 0 = the sum of its pixels, 4 when it is
# there; logit 1 = 2), and one that reads the object and the background's bright corner
# (logit 0 = 4 + 1.8; without the object 1.8, without the background 4 + 0.1; logit 1 = 4.5).
OBJECT_ONLY = {0: 1.0}
OBJECT_AND_BACKGROUND = ({0: 1.0, "corner": 1.0}, 4.5)
CHECKS = ["preservation_check", "deletion_check", "distractibility", "single_deletion"]


@pytest.mark.parametrize("name", CHECKS)
def test_the_object_s_mask_for_a_model_that_reads_only_the_object_scores_one(name):
    x, y, parts = samples()
    q = xb.metrics.get(name)
    got = q(reading(OBJECT_ONLY), x, y, attribution({0: 1.0}), parts=parts)
    np.testing.assert_array_equal(got, 1.0)


def test_hand_computed_at_fixed_thresholds():
    """a = 1 on the object, 0.1 elsewhere: masses (dilation 0) object 4, background 2.4 (samples
    0 and 1, 24 background pixels) or 2.8 (sample 2, whose distractor 2 slot is background),
    total 7.2. At tau = 0.3 (threshold 2.16) the object and background are important: keeping
    only them keeps the prediction. At tau = 0.35 (2.52) only sample 2's background still is;
    the others keep the object alone, whose logit 4.1 < 4.5 loses the prediction. At 0.4 (2.88)
    every sample keeps the object alone."""
    x, y, parts = samples()
    model, a = reading(*OBJECT_AND_BACKGROUND), attribution({0: 1.0, "rest": 0.1})
    for tau, expected in ((0.3, [1, 1, 1]), (0.35, [0, 0, 1]), (0.4, [0, 0, 0])):
        q = xb.metrics.get("preservation_check", tau=tau, dilation=0)
        np.testing.assert_array_equal(q(model, x, y, a, parts=parts), expected)
    # a marks only distractor 1: keeping it alone removes the object: prediction lost
    q = xb.metrics.get("preservation_check", tau=0.2)
    np.testing.assert_array_equal(q(model, x, y, attribution({1: 1.0}), parts=parts), 0)


def test_the_dilation_reaches_the_rim_of_a_shape():
    """a = 1 on the pixel just right of the object (row 0, col 2), a background pixel: with
    dilation 0 only the background holds it; dilated by 1 (or 2) the object's mask takes it too."""
    x, y, parts = samples()
    a = np.zeros((3, 6, 6))
    a[:, 0, 2] = 1.0
    np.testing.assert_array_equal(
        _parts.part_mass(a.reshape(3, -1), parts, 0)[:, [0, 3]], [[0, 1]] * 3
    )
    for d in (1, 2):
        mass = _parts.part_mass(a.reshape(3, -1), parts, d)
        np.testing.assert_array_equal(mass[:, [0, 1, 3]], [[1, 0, 1]] * 3)
        np.testing.assert_array_equal(mass[:, 2], [d == 2, d == 2, 0])  # d2 is cols 4-5


def test_funnybirds_threshold_choice_by_hand():
    """The tau maximising mean(csdc)/3 + mean(preservation)/3 + mean(deletion)/3 +
    mean(distractibility) (means over the defined samples, 0 where none is), first on ties."""
    nan = np.nan
    tables = {  # 2 samples x 3 thresholds
        "csdc": np.array([[1, 1, 0], [nan, nan, nan]]),  # -> 1, 1, 0
        "preservation": np.array([[1, 0, 0], [1, 1, 0]]),  # -> 1, .5, 0
        "deletion": np.array([[0, 1, 1], [0, 1, 1]]),  # -> 0, 1, 1
        "distractibility": np.array([[0.5, 0.5, 1], [nan, 0.5, 1]]),  # -> .5, .5, 1
    }
    # sums: 2/3 + .5 = 1.1667, 2.5/3 + .5 = 1.3333, 1/3 + 1 = 1.3333 -> the first of the two
    assert _parts.best_threshold(tables) == 1
    tables["distractibility"][:, 1] = nan  # no sample defined: counts 0 -> 0.8333
    assert _parts.best_threshold(tables) == 2
    assert np.array_equal(_parts.THRESHOLDS, np.linspace(0.01, 0.5, 80))


def test_the_chosen_tau_is_the_first_best_and_the_scores_are_read_there():
    x, y, parts = samples()
    model, a = reading(*OBJECT_AND_BACKGROUND), attribution({0: 1.0, "rest": 0.1})
    q = xb.metrics.get("preservation_check", dilation=0)
    tau = q.chosen_tau(model, x, y, a, parts=parts)
    # Up to tau = 0.33 (2.4 / 7.2) preservation, deletion and csdc are 1 on every sample;
    # distractibility too from the first tau above 0.4 / 7.2 = 0.056, where the distractors (mass
    # 0.4 each; irrelevant to the model) stop being important: the 9th threshold, 0.0596.
    assert tau == _parts.THRESHOLDS[8] and _parts.THRESHOLDS[7] < 0.4 / 7.2 < tau
    np.testing.assert_array_equal(q(model, x, y, a, parts=parts), 1)
    assert (
        xb.metrics.get("preservation_check", tau=0.35).chosen_tau(model, x, y, a, parts=parts)
        == 0.35
    )


def test_parts_must_be_those_of_the_samples():
    x, y, parts = samples()
    model, a = reading(OBJECT_ONLY), attribution({0: 1.0})
    q = xb.metrics.get("preservation_check")
    with pytest.raises(ValueError, match="pass parts="):
        q(model, x, y, a)
    with pytest.raises(ValueError, match="parts= do not render x"):
        q(model, x[::-1].copy() + 0.01, y, a, parts=parts)
    with pytest.raises(ValueError, match="parts= describe 3 samples"):
        q(model, x[:2], y[:2], a[:2], parts=parts)
    with pytest.raises(ValueError, match="must be a Parts"):
        q(model, x, y, a, parts=parts.masks)


@pytest.mark.parametrize("name", [*CHECKS, "background_independence"])
def test_the_table_is_read_once_and_does_not_depend_on_the_batch_size(name, monkeypatch):
    """Every metric of the category, for every method, reads one table of renderings; its
    numbers do not depend on batch_size (beyond round-off)."""
    x, y, parts = samples()
    model, a = reading({0: 1.0, 1: 0.09, 2: -1.0, "corner": 0.2}), attribution({1: 1.0})
    calls = []
    real = _parts._logits
    monkeypatch.setattr(_parts, "_logits", lambda *args: calls.append(1) or real(*args))
    _parts._LAST.clear()
    first = xb.metrics.get(name)(model, x, y, a, parts=parts)
    for other in CHECKS:
        xb.metrics.get(other)(model, x, y, attribution({0: 1.0}), parts=parts)
    assert len(calls) == 1
    np.testing.assert_allclose(
        xb.metrics.get(name, batch_size=1)(model, x, y, a, parts=parts), first, rtol=1e-6
    )
    assert len(calls) == 2  # another batch size: another table


def test_the_same_model_with_other_weights_reads_a_new_table():
    """The meta-evaluation's model test perturbs the model's weights in place (the same object):
    the table of the original weights is not reused for it (it was: the key held the object
    only), nor the perturbed one's after the weights are restored."""
    from xaibench.models.perturb import scaled_weights

    x, y, parts = samples()
    model = reading({0: 1.0, 1: 0.09, 2: -1.0, "corner": 0.2})
    _parts._LAST.clear()
    before = _parts.intervention_logits(model, x, parts).copy()
    with scaled_weights(model, 0.5, 0):
        perturbed = _parts.intervention_logits(model, x, parts).copy()
        np.testing.assert_array_equal(perturbed, _parts._logits(model, x, parts, "auto"))
    assert not np.allclose(perturbed, before)
    np.testing.assert_array_equal(_parts.intervention_logits(model, x, parts), before)


def test_settings_are_checked():
    for bad in (0, 1, 1.5, -0.1, "0.2"):
        with pytest.raises(ValueError, match="tau"):
            xb.metrics.get("preservation_check", tau=bad)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="dilation"):
            xb.metrics.get("deletion_check", dilation=bad)
    with pytest.raises(ValueError, match="output"):
        xb.metrics.get("single_deletion", output="softmax")
