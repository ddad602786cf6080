"""guided_backprop: hand-computed guided gradients for every form of ReLU and model kind,
and the user's model left unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from _method_cases import KINDS, assemble

import xaibench as xb
from xaibench._tf import keras, tf


def relu_mlp(kind, form, w1, b1, w2, b2):
    """Dense -> ReLU (as ``form``) -> Dense on tabular rows."""
    hidden = {
        "dense_activation": [keras.layers.Dense(w1.shape[1], activation="relu")],
        "relu_layer": [keras.layers.Dense(w1.shape[1]), keras.layers.ReLU()],
        "activation_layer": [keras.layers.Dense(w1.shape[1]), keras.layers.Activation("relu")],
        "tf_relu": [keras.layers.Dense(w1.shape[1], activation=tf.nn.relu)],
        "relu6_layer": [keras.layers.Dense(w1.shape[1]), keras.layers.ReLU(max_value=6.0)],
    }[form]
    head = keras.layers.Dense(w2.shape[1])
    model = assemble(kind, (w1.shape[0],), [*hidden, head])
    hidden[0].set_weights([w1, b1])
    head.set_weights([w2, b2])
    return model


GB_W1 = np.array([[1.0, -1.0, 0.5], [0.5, 1.0, -1.0], [-1.0, 0.5, 1.0], [2.0, 0.0, 1.0]])
GB_B1 = np.array([0.1, 0.2, -0.1])
GB_W2 = np.array([[1.0, -1.0], [-2.0, 1.0], [0.5, 0.5]])  # negative entries: gradients to zero
GB_B2 = np.array([0.0, 0.1])


def guided_numpy(x, y, relu6=False):
    """Guided gradient of Dense -> ReLU -> Dense: at the ReLU, pass only positive gradients
    where the ReLU's input is positive (and < 6 for ReLU6)."""
    h = x.astype(np.float64) @ GB_W1 + GB_B1
    g = GB_W2[:, y].T
    active = (h > 0) & (h < 6) if relu6 else h > 0
    return (g * active * (g > 0)) @ GB_W1.T, (g * active) @ GB_W1.T


@pytest.fixture(scope="module")
def gb_data():
    x = np.random.default_rng(34).normal(0, 2, size=(8, 4)).astype(np.float32)
    return x, np.arange(8) % 2


@pytest.mark.parametrize(
    "kind, form",
    [
        ("sequential", "dense_activation"),
        ("sequential", "relu_layer"),
        ("sequential", "activation_layer"),
        ("sequential", "tf_relu"),
        ("sequential", "relu6_layer"),
        ("functional", "relu_layer"),
        ("subclassed", "dense_activation"),
    ],
)
def test_guided_backprop_hand_computed(gb_data, kind, form):
    x, y = gb_data
    model = relu_mlp(kind, form, GB_W1, GB_B1, GB_W2, GB_B2)
    guided, plain = guided_numpy(x, y, relu6=form == "relu6_layer")
    assert not np.allclose(guided, plain)  # the test can tell guided from plain gradients
    if form == "relu6_layer":  # ... and ReLU6 from ReLU (some hidden inputs exceed 6)
        assert not np.allclose(guided, guided_numpy(x, y)[0])
    a = xb.methods.get("guided_backprop")(model, x, y)
    np.testing.assert_allclose(a, guided, rtol=1e-5, atol=1e-6)


def eager_gradients(model, x, y):
    """Plain d f_y / d x from a fresh eager tape (the gradients TensorFlow registers)."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        s = tf.gather(model(x, training=False), y, axis=1, batch_dims=1)
    return tape.gradient(s, x).numpy()


@pytest.mark.parametrize("kind", KINDS)
def test_guided_backprop_leaves_the_model_unchanged(gb_data, kind):
    x, y = gb_data
    model = relu_mlp(kind, "relu_layer", GB_W1, GB_B1, GB_W2, GB_B2)
    saliency = xb.methods.get("saliency")
    before = {
        "weights": [w.copy() for w in model.get_weights()],
        "layers": [(type(layer), layer.get_config()) for layer in model.layers],
        "activations": [getattr(layer, "activation", None) for layer in model.layers],
        "outputs": model(x).numpy(),
        "saliency": saliency(model, x, y),
    }
    xb.methods.get("guided_backprop")(model, x, y)
    after_layers = [(type(layer), layer.get_config()) for layer in model.layers]
    assert after_layers == before["layers"]
    assert [getattr(layer, "activation", None) for layer in model.layers] == before["activations"]
    for w0, w1 in zip(before["weights"], model.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w0)
    np.testing.assert_array_equal(model(x).numpy(), before["outputs"])
    np.testing.assert_array_equal(saliency(model, x, y), before["saliency"])
    _, plain = guided_numpy(x, y)
    np.testing.assert_allclose(eager_gradients(model, x, y), plain, rtol=1e-5, atol=1e-6)
