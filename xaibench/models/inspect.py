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


def first_layer_view(model, x1) -> dict | None:
    """The first weighted layer of ``model`` and its response to one input, for model inspection
    as in the classic tutorials: ``{"layer", "filters", "activations"}``.

    ``filters`` is the layer's kernel ((kh, kw, cin, cout) for a 2-D convolution, (F, units) for
    a dense layer) and ``activations`` its output for the single sample ``x1`` (shape (1, ...)),
    without the batch axis. None when the model has no such top-level layer or its graph cannot
    be cut there (subclassed models).
    """
    layer = next(
        (
            layer
            for layer in getattr(model, "layers", [])
            if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
        ),
        None,
    )
    if layer is None:
        return None
    try:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        cut = keras.Model(inputs, layer.output)
        activations = keras.ops.convert_to_numpy(cut(x1, training=False))[0]
    except (AttributeError, ValueError, TypeError):
        return None
    filters = keras.ops.convert_to_numpy(layer.kernel)
    return {"layer": layer.name, "filters": filters, "activations": activations}
