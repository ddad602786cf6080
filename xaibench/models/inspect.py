"""Looking inside Keras models: their layers, nested models included.

A layer is named by its path from the model: the names of the nested models enclosing it,
outermost first, and its own, joined by "/" (``"mobilenetv2_1.00_96/block_16_project"``); a
layer of the model itself by its name. A layer inside nested models (a backbone in the user's
model, at any depth) may also be named by its own name alone when no other layer inside them has
it. Keras forbids "/" in layer names, so a path is never mistaken for a name.
"""

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


def layer_paths(model, _outer: tuple = ()) -> Iterator[tuple]:
    """Every layer of ``model`` in order as its path: the tuple of the nested models enclosing
    it, outermost first, then the layer itself (``path[-1]``); descends into nested models and
    layers right after yielding them."""
    for layer in getattr(model, "layers", []):
        path = (*_outer, layer)
        yield path
        if getattr(layer, "layers", None):
            yield from layer_paths(layer, path)


def path_name(path: tuple) -> str:
    """A layer path as users write it: the names joined by "/" (``"backbone/conv_b"``)."""
    return "/".join(layer.name for layer in path)


def all_layers(model) -> Iterator:
    """Every layer of ``model`` in order, descending into nested models and layers."""
    for path in layer_paths(model):
        yield path[-1]


def last_conv_path(model) -> tuple | None:
    """The path (``layer_paths``) of the last convolutional layer of ``model``, nested models
    included, or None."""
    last = None
    for path in layer_paths(model):
        if isinstance(path[-1], CONV_TYPES):
            last = path
    return last


def last_conv_layer(model):
    """The last convolutional layer of ``model`` (nested models included), or None."""
    path = last_conv_path(model)
    return None if path is None else path[-1]


def find_layer_path(model, name: str) -> tuple:
    """The path of the layer ``name`` names in ``model``: its path from the model (a layer of
    the model itself is named by its name), or the name of a layer inside nested models when no
    other layer inside them has that name. ValueError, naming the layers to choose from, when
    there is no such layer or the name is ambiguous."""
    paths = list(layer_paths(model))
    found = [path for path in paths if path_name(path) == name]
    if not found and "/" not in name:
        found = [path for path in paths if path[-1].name == name]
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(
            f"layer={name!r} names {len(found)} layers inside nested models; give its path: "
            f"{', '.join(repr(path_name(path)) for path in found)}"
        )
    convs = [path_name(path) for path in paths if isinstance(path[-1], CONV_TYPES)]
    shown = ", ".join(map(repr, convs[-_LISTED:])) or "(none)"
    which = f"its last {_LISTED} (of {len(convs)})" if len(convs) > _LISTED else "its"
    raise ValueError(
        f"layer={name!r} is not a layer of the model; {which} convolutional layers are: {shown}"
        ' (a layer inside a nested model: its name, or its path "model_name/layer_name")'
    )


_LISTED = 12  # convolutional layers named in the message for an unknown layer (the last ones)


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
