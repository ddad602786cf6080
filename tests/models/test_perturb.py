"""The weight perturbation of the model perturbation test (``models.perturb.scaled_weights``)."""

from __future__ import annotations

import numpy as np
import pytest

from tests._tiny import linear_tabular
from xaibench._tf import keras
from xaibench.methods import get as method
from xaibench.metrics.robustness import _sensitivity
from xaibench.models.perturb import generation, scaled_weights
from xaibench.models.protocol import adapt

W = np.arange(6, dtype=np.float32).reshape(3, 2) - 2.5
B = np.array([0.5, -1.0], np.float32)


def test_every_weight_is_multiplied_by_its_seeded_factor_and_restored_bitwise():
    model = linear_tabular(W, B)
    rng = np.random.default_rng(7)
    eta_w, eta_b = rng.normal(1.0, 0.5, W.shape), rng.normal(1.0, 0.5, B.shape)
    with scaled_weights(model, 0.5, 7) as same:
        assert same is model
        w, b = model.layers[-1].get_weights()
        np.testing.assert_array_equal(w, (W * eta_w).astype(np.float32))
        np.testing.assert_array_equal(b, (B * eta_b).astype(np.float32))
    w, b = model.layers[-1].get_weights()
    assert w.tobytes() == W.tobytes() and b.tobytes() == B.tobytes()


def test_weights_are_restored_when_the_block_raises():
    model = linear_tabular(W, B)
    with pytest.raises(RuntimeError, match="boom"), scaled_weights(model, 2.0, 0):
        assert not np.array_equal(model.layers[-1].get_weights()[0], W)
        raise RuntimeError("boom")
    assert model.layers[-1].get_weights()[0].tobytes() == W.tobytes()


def test_batch_normalisation_statistics_are_left_alone():
    """A variance multiplied by a negative factor would turn the output into NaN."""
    inputs = keras.Input((3,))
    norm = keras.layers.BatchNormalization()
    model = keras.Model(inputs, keras.layers.Dense(2)(norm(inputs)))
    adapter = adapt(model)
    assert adapter.layer_parameters(0) == [True, True, False, False]  # gamma, beta; statistics
    assert adapter.layer_parameters(1) == [True, True]  # kernel, bias
    with scaled_weights(model, 2.0, 1):
        np.testing.assert_array_equal(norm.moving_variance.numpy(), np.ones(3))
        assert np.isfinite(model.predict_on_batch(np.ones((2, 3), np.float32))).all()


@pytest.mark.parametrize("sigma", [0.0, -1.0, float("nan")])
def test_a_bad_sigma_is_refused_before_the_model_changes(sigma):
    model = linear_tabular(W, B)
    with pytest.raises(ValueError, match="sigma"), scaled_weights(model, sigma, 0):
        pass
    assert generation(model) == 0


def test_the_sensitivity_cache_does_not_reuse_ratios_of_other_weights():
    """max and average sensitivity share their ratios by the model object: ratios computed on
    the perturbed weights were returned for the restored ones (same object, same x, y, a)."""
    model = linear_tabular(W, B, activation="tanh")
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    y = np.array([0, 1, 0, 1])
    saliency = method("saliency")
    a = saliency(model, x, y)
    settings = dict(samples=3, radius=0.1, seed=0, batch_size="auto")
    with scaled_weights(model, 0.5, 3):
        perturbed = _sensitivity.sensitivities(model, x, y, a, saliency, **settings)
    clean = _sensitivity.sensitivities(model, x, y, a, saliency, **settings)
    expected = _sensitivity._sensitivities(model, x, y, a, saliency, **settings)
    np.testing.assert_array_equal(clean, expected)
    assert not np.allclose(clean, perturbed)
