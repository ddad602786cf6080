"""avg_sensitivity: the mean relative change of an identity explanation against a numpy
reference, zero for input-independent methods, NaN for a zero attribution, one re-explanation
(shared with max_sensitivity), bad settings."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_cases import (
    CALLS,
    any_model,
    check_sensitivity_of_identity,
    check_sensitivity_zero_attribution_is_nan,
    check_sensitivity_zero_for_input_independent_methods,
    sensitivity_reference,
)

import xaibench as xb


@pytest.mark.parametrize("shape", [(5,), (3, 3, 2)])
@pytest.mark.parametrize("seed", [0, 11])
def test_sensitivity_of_identity(shape, seed):
    check_sensitivity_of_identity("avg_sensitivity", np.mean, shape, seed)


def test_sensitivity_zero_for_input_independent_methods(linear_tab):
    check_sensitivity_zero_for_input_independent_methods("avg_sensitivity", linear_tab)


def test_sensitivity_zero_attribution_is_nan():
    check_sensitivity_zero_attribution_is_nan("avg_sensitivity")


@pytest.mark.parametrize("batch_size, expected", [("auto", 7), (None, 7), (5, 5)])
def test_sensitivity_explains_once(batch_size, expected):
    x = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    q = xb.metrics.get("avg_sensitivity", samples=3, batch_size=batch_size)
    CALLS.clear()
    q(any_model(x), x, [0, 1, 0, 1], x, explain=xb.methods.get("test_counting_attr"))
    assert CALLS == [(12, expected)]


def test_max_and_avg_sensitivity_share_one_re_explanation():
    from xaibench.metrics.robustness import _sensitivity

    x = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    model, y = any_model(x), [0, 1, 0, 1]
    explain = xb.methods.get("test_counting_attr")
    _sensitivity._LAST.clear()
    CALLS.clear()
    peak = xb.metrics.get("max_sensitivity", samples=3)(model, x, y, x, explain=explain)
    mean = xb.metrics.get("avg_sensitivity", samples=3)(model, x, y, x, explain=explain)
    assert len(CALLS) == 1  # the run scores both from one set of re-explanations
    ratios = sensitivity_reference(x, samples=3, radius=0.1, seed=0)
    np.testing.assert_allclose(peak, ratios.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(mean, ratios.mean(axis=1), rtol=1e-5)
    xb.metrics.get("avg_sensitivity", samples=3, seed=1)(model, x, y, x, explain=explain)
    assert len(CALLS) == 2  # other noise: explained again


@pytest.mark.parametrize("params, match", [({"batch_size": 0}, "batch_size")])
def test_bad_settings(params, match):
    with pytest.raises(ValueError, match=match):
        xb.metrics.get("avg_sensitivity", **params)


def test_a_callable_without_weights_shares_too():
    """A plain callable TensorFlow traces has no Keras weights: its weights hash is that of none
    (``ModelAdapter.weights_hash``), so the shared re-explanations are keyed by the object."""
    import tensorflow as tf

    from xaibench.metrics.robustness import _sensitivity
    from xaibench.models.protocol import adapt

    w = tf.constant(np.random.default_rng(0).normal(size=(3, 2)).astype(np.float32))

    def model(x, training=False):
        return tf.matmul(tf.convert_to_tensor(x), w)

    x = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    y = [0, 1, 0, 1]
    assert adapt(model).weights_hash() == adapt(lambda x, training=False: x).weights_hash()
    explain = xb.methods.get("test_counting_attr")
    _sensitivity._LAST.clear()
    CALLS.clear()
    xb.metrics.get("max_sensitivity", samples=3)(model, x, y, x, explain=explain)
    xb.metrics.get("avg_sensitivity", samples=3)(model, x, y, x, explain=explain)
    assert len(CALLS) == 1
