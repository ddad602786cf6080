"""Grad-CAM (Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra 2017, "Grad-CAM: Visual
Explanations from Deep Networks via Gradient-based Localization")."""

from __future__ import annotations

from xaibench.methods import register
from xaibench.methods._cam import CAMMethod


@register("grad_cam")
class GradCAM(CAMMethod):
    """ReLU of the feature maps weighted by their mean gradient, upsampled (Selvaraju et al. 2017).

    Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra (2017), "Grad-CAM: Visual Explanations from
    Deep Networks via Gradient-based Localization". With A^k (h x w) the feature maps of a
    convolutional layer and f_y the model's raw output for class y (the logit when the model
    outputs logits): alpha_k = 1/(h w) sum_ij d f_y / d A_ij^k, map = ReLU(sum_k alpha_k A^k),
    upsampled bilinearly (half-pixel centres, ``tf.image.resize``) to the input's H x W. Not
    normalised. Returns (N, H, W).

    Needs a Sequential or functional model; the layer may sit inside nested Sequential or
    functional models (a backbone in the user's model, at any depth), whose forward pass is
    traced anew with the model's own layers and weights. A subclassed model around the layer, a
    nested model called more than once or a model without convolutions raises NotApplicable
    (and ``applicable(model, x)`` returns the reason).

    Parameters
    ----------
    layer : the layer whose feature maps are used, any layer with (N, h, w, channels) output
        (default None: the last convolutional layer, nested models included). Its path from
        the model, names joined by "/" (``"mobilenetv2_1.00_96/block_16_project"``; a layer of
        the model itself: its name), or, for a layer inside nested models, its name alone
        when no other nested layer has it (``"block_16_project"``).
    batch_size : inputs per gradient call, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``).

    Example
    -------
    >>> a = xb.methods.get("grad_cam")(model, x, y)  # the last convolutional layer
    >>> a.shape  # one map per image (H, W), upsampled from the layer's feature maps
    (4, 8, 8)
    >>> vgg = xb.methods.get("grad_cam", layer="block4_conv3")  # a layer chosen by name
    >>> nested = xb.methods.get("grad_cam", layer="mobilenetv2_1.00_96/block_16_project")
    """

    @staticmethod
    def channel_weights(a, g, ops):
        """alpha_k = mean over positions (i, j) of d f_y / d A_ij^k: (n, h, w, K) -> (n, K)."""
        return ops.mean(g, axis=(1, 2))
