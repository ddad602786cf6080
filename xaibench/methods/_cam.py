"""Class activation maps from a layer's feature maps and their gradients (Grad-CAM, Grad-CAM++).

The feature maps A (N, h, w, K) of the chosen layer and G = d f_y / d A are read through a
functional view ``x -> [A, output]`` of the user's model that shares its layers and weights
(nothing of the user's model is modified). The layer may sit inside nested models (a backbone in
the user's model, at any depth): the view is the model's forward pass traced anew from a new
input, each enclosing model replaced by its own view (see ``models.inspect.trace``). A method supplies the
channel weights w (N, K) from (A, G) as TensorFlow ops; the map ReLU(sum_k w_k A_k) is computed
and upsampled bilinearly to H x W in one compiled function per (model, layer, method).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xaibench._tf import tf
from xaibench.methods._gradients import batched, cached_function
from xaibench.methods.base import Method, NotApplicable, check_batch_size
from xaibench.models.inspect import find_layer_path, last_conv_path, path_name, trace

Weights = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def check_layer_name(layer) -> str | None:
    if layer is not None and not (isinstance(layer, str) and layer):
        raise ValueError(
            "layer must be None (the last convolutional layer), a layer name or a path "
            f'"model_name/layer_name" to a layer inside a nested model, got {layer!r}'
        )
    return layer


def find_layer(model, name: str | None) -> tuple | None:
    """The path (``models.inspect.layer_paths``) of the layer ``name`` names, nested models
    included, or of the last convolutional layer if ``name`` is None (None if there is none);
    ValueError naming the convolutional layers if there is no such layer."""
    if name is None:
        return last_conv_path(model)
    return find_layer_path(model, name)


def _feature_model(model, path: tuple):
    """``x -> [A, raw output]`` sharing ``model``'s layers, A the output of the layer
    ``path[-1]``; NotApplicable if it cannot be built."""
    name = path_name(path)
    try:
        view = trace(model, path)
    except (AttributeError, ValueError, TypeError) as err:
        raise NotApplicable(
            f"cannot read the output of layer {name!r} from the model's inputs ({err}); "
            "Grad-CAM traces Sequential and functional models, nested ones included, not "
            "subclassed ones"
        ) from err
    if len(view.outputs) != 2:
        raise NotApplicable(f"the model has {len(view.outputs) - 1} outputs; Grad-CAM needs one")
    maps = view.outputs[0]
    if len(maps.shape) != 4:
        raise NotApplicable(
            f"layer {name!r} outputs shape {tuple(maps.shape)}, not 2-D feature maps "
            "(N, h, w, channels)"
        )
    return view


def _view(model, path: tuple):
    return cached_function(
        model, ("cam_view", path_name(path)), lambda get: _feature_model(get(), path)
    )


def cam_fn(model, path: tuple, weights: Weights):
    """A compiled ``(x, y) -> ReLU(sum_k w_k A^k)`` upsampled to x's H x W, cached per model;
    A is the output of the layer ``path[-1]`` (``find_layer``)."""
    name = path_name(path)
    channels_first = getattr(path[-1], "data_format", "channels_last") == "channels_first"

    def build(get_model):
        def cam(x, y):
            a, out = _view(get_model(), path)(x, training=False)
            s = tf.gather(out, y, axis=1, batch_dims=1)
            (g,) = tf.gradients(s, a)  # also when the layers are frozen (not watched by a tape)
            if g is None:  # found while tracing: the output is not computed from these maps
                raise NotApplicable(
                    f"the model's output does not depend on the feature maps of layer "
                    f"{name!r} in its graph"
                )
            if channels_first:
                a, g = tf.transpose(a, (0, 2, 3, 1)), tf.transpose(g, (0, 2, 3, 1))
            maps = tf.nn.relu(tf.einsum("nhwk,nk->nhw", a, weights(a, g)))
            return tf.image.resize(maps[..., None], tf.shape(x)[1:3], method="bilinear")[..., 0]

        return tf.function(cam, reduce_retracing=True)

    return cached_function(model, ("cam", name, weights.__qualname__), build)


def applicable_reason(model, layer_name: str | None) -> str | None:
    """None if class activation maps can be read from ``model``, else the reason."""
    path = find_layer(model, layer_name)
    if path is None:
        return "the model has no convolutional layer"
    try:
        _view(model, path)
    except NotApplicable as err:
        return str(err)
    return None


def class_activation_maps(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    layer: str | None,
    batch_size: int | str,
    weights: Weights,
) -> np.ndarray:
    """ReLU(sum_k w_k A^k) upsampled bilinearly to x's H x W: float32 (N, H, W).

    ``weights(A, G)`` maps feature maps and gradients (n, h, w, K), float32 tensors, to (n, K)."""
    found = find_layer(model, layer)
    if found is None:
        raise NotApplicable("the model has no convolutional layer")
    return batched(cam_fn(model, found, weights), x, y, batch_size, model=model)


class CAMMethod(Method):
    """Base of the class-activation-map methods: the settings ``layer`` and ``batch_size``, the
    applicability checks, and the map from the channel weights that a subclass defines."""

    needs_gradients = True
    needs_conv = True
    inputs = ("image",)
    model_calls = {"forward": 1.0, "backward": 1.0}  # the backward pass stops at the layer

    def __init__(self, *, layer: str | None = None, batch_size: int | str = "auto"):
        self.layer = check_layer_name(layer)
        self.batch_size = check_batch_size(batch_size)

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
