"""Looking inside Keras models: their layers, nested models included."""

from __future__ import annotations

from collections.abc import Iterator

from xaibench._tf import keras

CONV_TYPES = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv2DTranspose,
)


def all_layers(model) -> Iterator:
    """Every layer of ``model`` in order, descending into nested models and layers."""
    for layer in getattr(model, "layers", []):
        yield layer
        if getattr(layer, "layers", None):
            yield from all_layers(layer)


def last_conv_layer(model):
    """The last convolutional layer of ``model`` (nested models included), or None."""
    last = None
    for layer in all_layers(model):
        if isinstance(layer, CONV_TYPES):
            last = layer
    return last
