"""grad_cam: the layer choice, maps of the input's size, nested models (the numpy
definition for both CAM methods: tests/methods/test_method_cam.py)."""

from __future__ import annotations

import numpy as np
from _method_cases import grad_cam_numpy

import xaibench as xb
from xaibench._tf import keras


def test_cam_layer_choice_matters(cam_case):
    model, _, x, y = cam_case
    last = xb.methods.get("grad_cam")(model, x, y)
    first = xb.methods.get("grad_cam", layer="conv1")(model, x, y)
    assert not np.allclose(last, first)


def test_cam_same_size_maps_are_not_resampled(cnn_models, cnn_data):
    """With 'same' padding the maps are the input's size: Grad-CAM is the map itself."""
    weights, x, y = cnn_data
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            conv := keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
            keras.layers.Flatten(),
            dense := keras.layers.Dense(3),
        ]
    )
    conv.set_weights(weights[:2])
    w = np.random.default_rng(35).normal(size=(108, 3)).astype(np.float32)
    dense.set_weights([w, weights[3]])
    a_map = model.layers[0](x).numpy().astype(np.float64)
    g = w[:, y].T.reshape(a_map.shape)
    a = xb.methods.get("grad_cam")(model, x, y)
    np.testing.assert_allclose(a, grad_cam_numpy(a_map, g), rtol=1e-5, atol=1e-6)
