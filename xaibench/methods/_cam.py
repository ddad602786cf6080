"""Class activation maps from a layer's feature maps and their gradients (Grad-CAM, Grad-CAM++).

The feature maps A (N, h, w, K) of the chosen layer and G = d f_y / d A are read through a
functional view ``keras.Model(model.inputs, [layer.output, model.output])`` that shares the user's
layers and weights (nothing of the user's model is modified). A method supplies the channel
weights w (N, K) from (A, G) as TensorFlow ops; the map ReLU(sum_k w_k A_k) is computed and
upsampled bilinearly to H x W in one compiled function per (model, layer, method).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xaibench._tf import keras, tf
from xaibench.methods._gradients import batched, cached_function
from xaibench.methods.base import Method, NotApplicable, check_positive_int
from xaibench.models.inspect import CONV_TYPES, all_layers, last_conv_layer

Weights = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def check_layer_name(layer) -> str | None:
    if layer is not None and not (isinstance(layer, str) and layer):
        raise ValueError(
            f"layer must be None (the last convolutional layer) or a layer name, got {layer!r}"
        )
    return layer


def find_layer(model, name: str | None):
    """The layer named ``name`` (nested models included), or the last convolutional layer if
    ``name`` is None; ValueError listing the convolutional layers if there is no such layer."""
    if name is None:
        return last_conv_layer(model)
    layers = list(all_layers(model))
    for layer in layers:
        if layer.name == name:
            return layer
    convs = [layer.name for layer in layers if isinstance(layer, CONV_TYPES)]
    raise ValueError(
        f"layer={name!r} is not a layer of the model; its convolutional layers are: "
        f"{', '.join(map(repr, convs)) or '(none)'}"
    )


def _feature_model(model, layer):
    """``x -> [A, raw output]`` sharing ``model``'s layers; NotApplicable if it cannot be built."""
    try:
        if isinstance(model, keras.Sequential) and any(each is layer for each in model.layers):
            view = _sequential_view(model, layer)
            outputs = view.outputs[1:]
        else:
            outputs = list(model.outputs)
            view = keras.Model(model.inputs, [layer.output, *outputs])
    except (AttributeError, ValueError, TypeError) as err:
        raise NotApplicable(
            f"cannot read the output of layer {layer.name!r} from the model's inputs ({err}); "
            "Grad-CAM needs a Sequential or functional model with that layer at its top level "
            "(not inside a nested model, not a subclassed model)"
        ) from err
    if len(outputs) != 1:
        raise NotApplicable(f"the model has {len(outputs)} outputs; Grad-CAM needs one")
    if len(layer.output.shape) != 4:
        raise NotApplicable(
            f"layer {layer.name!r} outputs shape {tuple(layer.output.shape)}, not 2-D feature "
            "maps (N, h, w, channels)"
        )
    return view


def _sequential_view(model, layer):
    """The view of a Sequential model, traced anew through its layers from a new input.

    A Sequential model's layers may have been called on several graphs (a model loaded from a
    ``.keras`` file is built more than once), and then ``layer.output`` belongs to another graph
    than ``model.outputs``: the view would compute the maps and the output by separate calls,
    with no gradient between them. Tracing the layers once, in order, links them."""
    first = model.inputs[0]
    inputs = keras.Input(tuple(first.shape[1:]), dtype=first.dtype)
    h, maps = inputs, None
    for each in model.layers:
        h = each(h)
        if each is layer:
            maps = h
    return keras.Model(inputs, [maps, h])


def _view(model, layer):
    return cached_function(
        model, ("cam_view", layer.name), lambda get: _feature_model(get(), layer)
    )


def cam_fn(model, layer, weights: Weights):
    """A compiled ``(x, y) -> ReLU(sum_k w_k A^k)`` upsampled to x's H x W, cached per model."""
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"

    def build(get_model):
        def cam(x, y):
            a, out = _view(get_model(), layer)(x, training=False)
            s = tf.gather(out, y, axis=1, batch_dims=1)
            (g,) = tf.gradients(s, a)  # also when the layers are frozen (not watched by a tape)
            if g is None:  # found while tracing: the output is not computed from these maps
                raise NotApplicable(
                    f"the model's output does not depend on the feature maps of layer "
                    f"{layer.name!r} in its graph"
                )
            if channels_first:
                a, g = tf.transpose(a, (0, 2, 3, 1)), tf.transpose(g, (0, 2, 3, 1))
            maps = tf.nn.relu(tf.einsum("nhwk,nk->nhw", a, weights(a, g)))
            return tf.image.resize(maps[..., None], tf.shape(x)[1:3], method="bilinear")[..., 0]

        return tf.function(cam, reduce_retracing=True)

    return cached_function(model, ("cam", layer.name, weights.__qualname__), build)


def applicable_reason(model, layer_name: str | None) -> str | None:
    """None if class activation maps can be read from ``model``, else the reason."""
    layer = find_layer(model, layer_name)
    if layer is None:
        return "the model has no convolutional layer"
    try:
        _view(model, layer)
    except NotApplicable as err:
        return str(err)
    return None


def class_activation_maps(
    model, x: np.ndarray, y: np.ndarray, *, layer: str | None, batch_size: int, weights: Weights
) -> np.ndarray:
    """ReLU(sum_k w_k A^k) upsampled bilinearly to x's H x W: float32 (N, H, W).

    ``weights(A, G)`` maps feature maps and gradients (n, h, w, K), float32 tensors, to (n, K)."""
    found = find_layer(model, layer)
    if found is None:
        raise NotApplicable("the model has no convolutional layer")
    return batched(cam_fn(model, found, weights), x, y, batch_size)


class CAMMethod(Method):
    """Base of the class-activation-map methods: the settings ``layer`` and ``batch_size``, the
    applicability checks, and the map from the channel weights that a subclass defines."""

    needs_gradients = True
    needs_conv = True
    inputs = ("image",)
    model_calls = {"forward": 1.0, "backward": 1.0}  # the backward pass stops at the layer

    def __init__(self, *, layer: str | None = None, batch_size: int = 256):
        self.layer = check_layer_name(layer)
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def __init_subclass__(cls, **kwargs):
        """A subclass defines ``channel_weights(a, g)``: the channel weights (n, K) from feature
        maps ``a`` and their gradients ``g`` (n, h, w, K), float32 tensors (traced once into the
        compiled map function); TypeError at class definition when it does not."""
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "channel_weights", None)):
            raise TypeError(f"{cls.__name__} must define channel_weights(a, g)")

    def applicable(self, model, x):
        reason = super().applicable(model, x)
        if reason is None and model is not None:
            reason = applicable_reason(model, self.layer)
        return reason

    def explain(self, model, x, y):
        return class_activation_maps(
            model, x, y, layer=self.layer, batch_size=self.batch_size, weights=self.channel_weights
        )
