"""Grad-CAM (Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra 2017, "Grad-CAM: Visual
Explanations from Deep Networks via Gradient-based Localization")."""

from __future__ import annotations

from xaibench._tf import tf
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

    Needs a Sequential or functional model whose layer is reachable from the model's inputs: a
    layer inside a nested model, a subclassed model or a model without convolutions raises
    NotApplicable (and ``applicable(model, x)`` returns the reason).

    Parameters
    ----------
    layer : name of the layer whose feature maps are used, any layer with (N, h, w, channels)
        output (default None: the last convolutional layer).
    batch_size : inputs per gradient call (default 256).

    Example
    -------
    >>> a = xb.methods.get("grad_cam")(model, x, y)  # the last convolutional layer
    >>> a.shape  # one map per image (H, W), upsampled from the layer's feature maps
    (4, 8, 8)
    >>> vgg = xb.methods.get("grad_cam", layer="block4_conv3")  # a layer chosen by name
    """

    @staticmethod
    def channel_weights(a, g):
        """alpha_k = mean over positions (i, j) of d f_y / d A_ij^k: (n, h, w, K) -> (n, K)."""
        return tf.reduce_mean(g, axis=(1, 2))
