"""Grad-CAM++ (Chattopadhay, Sarkar, Howlader & Balasubramanian 2018, "Grad-CAM++: Generalized
Gradient-Based Visual Explanations for Deep Convolutional Networks")."""

from __future__ import annotations

from xaibench.methods import register
from xaibench.methods._cam import CAMMethod


@register("grad_cam_pp")
class GradCAMPlusPlus(CAMMethod):
    """Grad-CAM weighting each position's positive gradient (Chattopadhay et al. 2018).

    Chattopadhay, Sarkar, Howlader & Balasubramanian (2018), "Grad-CAM++: Generalized
    Gradient-Based Visual Explanations for Deep Convolutional Networks". With A^k the feature maps
    of a convolutional layer, f_y the model's raw output for class y and g_ij^k = d f_y / d A_ij^k,
    the closed form of the paper (exponential output, higher derivatives as powers of g):
    alpha_ij^k = g^2 / (2 g^2 + sum_ab A_ab^k g^3) (0 where the denominator is 0),
    w_k = sum_ij alpha_ij^k ReLU(g_ij^k), map = ReLU(sum_k w_k A^k), upsampled bilinearly to the
    input's H x W. The paper's positive per-sample factor exp(f_y) is left out (it only scales
    the map, and may overflow). Not normalised. Returns (N, H, W).

    Applies where Grad-CAM does (``grad_cam``): Sequential or functional models, the layer
    possibly inside nested Sequential or functional models (a backbone), else NotApplicable.

    Parameters
    ----------
    layer : the layer whose feature maps are used, named as for ``grad_cam`` (its name, or its
        path "backbone_name/layer_name" inside a nested model; default None: the last
        convolutional layer, nested models included).
    batch_size : inputs per gradient call, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``).

    Example
    -------
    >>> a = xb.methods.get("grad_cam_pp")(model, x, y)
    >>> a.shape  # one map per image (H, W)
    (4, 8, 8)
    """

    @staticmethod
    def channel_weights(a, g, ops):
        """w_k = sum_ij alpha_ij^k ReLU(g_ij^k): (n, h, w, K) -> (n, K)."""
        g2 = ops.square(g)
        denom = 2.0 * g2 + ops.sum(a, axis=(1, 2), keepdims=True) * g2 * g
        alpha = ops.divide_no_nan(g2, denom)  # 0 where the denominator is 0
        return ops.sum(alpha * ops.relu(g), axis=(1, 2))
