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
from xaibench.models.protocol import framework

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


def trace(model, path: tuple):
    """``keras.Model(new inputs, [A, *outputs])``: ``model``'s forward pass traced anew, in which
    the call of ``path[0]`` (a layer of ``model``) also yields A: the layer's own output when it
    is the target (``path`` has one element), else the maps of the view of the nested model
    ``path[0]`` on ``path[1:]``, called in its place.

    Tracing anew links the maps to the output in one graph: the symbolic outputs of a nested
    model's layers belong to that model's graph, not to the outer model's, and a Sequential
    model's layers may have been called on several graphs (a model loaded from a ``.keras`` file
    is built more than once). A functional model is re-run node by node (``clone_model`` with its
    own layers, so its weights are shared); a Sequential model's layers are called in order."""
    head, rest = path[0], path[1:]
    inner = trace(head, rest) if rest else None
    maps = []

    def call(layer, *args, **kwargs):
        if layer is not head:
            return layer(*args, **kwargs)
        if inner is None:
            out = layer(*args, **kwargs)
            maps.append(out)
            return out
        a, *outs = inner(*args, **kwargs)
        maps.append(a)
        return outs[0] if len(outs) == 1 else outs

    if isinstance(model, keras.Sequential):
        first = model.inputs[0]
        inputs = keras.Input(tuple(first.shape[1:]), dtype=first.dtype)
        outputs = inputs
        for layer in model.layers:
            outputs = call(layer, outputs)
        outputs = [outputs]
    elif isinstance(model, keras.Model) and hasattr(model, "operations"):  # functional
        same = keras.models.clone_model(
            model, clone_function=lambda layer: layer, call_function=call
        )
        inputs, outputs = same.inputs, list(same.outputs)
        if len(inputs) == 1:  # called with one tensor, not a list (Keras warns otherwise)
            inputs = inputs[0]
    else:
        raise ValueError(
            f"{head.name!r} is a layer of {model.name!r}, a subclassed {type(model).__name__} "
            "whose forward pass cannot be traced layer by layer"
        )
    if len(maps) != 1:
        raise ValueError(f"{head.name!r} is called {len(maps)} times in {model.name!r}, not once")
    return keras.Model(inputs, [maps[0], *outputs])


def first_layer_view(model, x1) -> dict | None:
    """The first weighted layer of ``model`` (nested models included: a backbone's first
    convolution) and its response to one input, for model inspection as in the classic
    tutorials: ``{"layer", "filters", "activations"}``.

    ``layer`` is the layer's path name (``path_name``), ``filters`` its kernel ((kh, kw, cin,
    cout) for a 2-D convolution, (F, units) for a dense layer) and ``activations`` its output for
    the single sample ``x1`` (shape (1, ...)), without the batch axis. None when the model has no
    such layer or its graph cannot be cut there (subclassed models), and for a model that is not
    a Keras model (a PyTorch module: not inspected).
    """
    if framework(model) != "keras":
        return None
    path = next(
        (
            path
            for path in layer_paths(model)
            if isinstance(path[-1], keras.layers.Conv2D | keras.layers.Dense)
        ),
        None,
    )
    if path is None:
        return None
    try:
        view = trace(model, path)
        activations = keras.ops.convert_to_numpy(view(x1, training=False)[0])[0]
    except (AttributeError, ValueError, TypeError):
        return None
    filters = keras.ops.convert_to_numpy(path[-1].kernel)
    return {"layer": path_name(path), "filters": filters, "activations": activations}
