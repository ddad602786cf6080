"""Class activation maps from a layer's feature maps and their gradients (Grad-CAM, Grad-CAM++).

The feature maps A (N, h, w, K) of the chosen layer and G = d f_y / d A are read by the model's
adapter (``models.protocol``): for Keras through a functional view ``x -> [A, output]`` of the
user's model that shares its layers and weights, the layer possibly inside nested models (see
``models.inspect.trace``); for PyTorch through a forward hook on the layer's module that keeps
its output and hands the rest of the network a clone. A method supplies the channel weights w
(N, K) from (A, G) with the few operations of ``ops`` (a ``ChannelOps`` in the adapter's
framework); the map ReLU(sum_k w_k A_k) is computed and upsampled bilinearly to H x W by the
adapter, in one compiled function per (model, layer, method) for Keras.
"""

from __future__ import annotations

import numpy as np

from xaibench.methods._gradients import batched
from xaibench.methods.base import Method, NotApplicable, check_batch_size
from xaibench.models.protocol import Weights, adapt


def check_layer_name(layer) -> str | None:
    if layer is not None and not (isinstance(layer, str) and layer):
        raise ValueError(
            "layer must be None (the last convolutional layer), a layer name or a path "
            f'"model_name/layer_name" to a layer inside a nested model, got {layer!r}'
        )
    return layer


def find_layer(model, name: str | None, x: np.ndarray | None = None) -> str | None:
    """The name of the layer ``name`` names (nested models included), or of the last
    convolutional layer if ``name`` is None (None if there is none); ValueError naming the
    convolutional layers if there is no such layer. ``x``: sample inputs (PyTorch finds the
    order of its layers by running the model)."""
    return adapt(model).conv_layer(name, x)


def applicable_reason(model, layer_name: str | None, x: np.ndarray | None = None) -> str | None:
    """None if class activation maps can be read from ``model``, else the reason."""
    layer = find_layer(model, layer_name, x)
    if layer is None:
        return "the model has no convolutional layer"
    return adapt(model).cam_reason(layer, x)


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

    ``weights(A, G, ops)`` maps feature maps and gradients (n, h, w, K), tensors of the model's
    framework, to (n, K) with the operations of ``ops`` (``models.protocol.ChannelOps``)."""
    found = find_layer(model, layer, x)
    if found is None:
        raise NotApplicable("the model has no convolutional layer")
    return batched(adapt(model).cam_fn(found, weights), x, y, batch_size, model=model)


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
        """A subclass defines ``channel_weights(a, g, ops)``: the channel weights (n, K) from
        feature maps ``a`` and their gradients ``g`` (n, h, w, K), float32 tensors of the model's
        framework, written with the operations of ``ops`` (``models.protocol.ChannelOps``: mean,
        sum, square, relu, divide_no_nan; traced once into the compiled map function for Keras);
        TypeError at class definition when it does not."""
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "channel_weights", None)):
            raise TypeError(f"{cls.__name__} must define channel_weights(a, g, ops)")

    def applicable(self, model, x):
        reason = super().applicable(model, x)
        if reason is None and model is not None:
            reason = applicable_reason(model, self.layer, x)
        return reason

    def explain(self, model, x, y):
        return class_activation_maps(
            model, x, y, layer=self.layer, batch_size=self.batch_size, weights=self.channel_weights
        )
