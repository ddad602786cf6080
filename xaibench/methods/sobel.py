"""The edge-detector control: the Sobel edge magnitude of the input, ignoring the model."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from xaibench.methods import register
from xaibench.methods.base import Method, check_batch_size
from xaibench.models.batching import model_batch

_DERIVATIVE = np.array([-1.0, 0.0, 1.0])
_SMOOTH = np.array([1.0, 2.0, 1.0])


def sobel_magnitude(x: np.ndarray) -> np.ndarray:
    """sum over channels of sqrt(Gx^2 + Gy^2) for images (n, H, W, C) -> (n, H, W), float64.

    Gx, Gy are the 3 x 3 Sobel filters of each channel (derivative [-1, 0, 1] along one image
    axis, smoothing [1, 2, 1] along the other, borders reflected as in ``scipy.ndimage.sobel``);
    samples and channels are never mixed."""
    x = x.astype(np.float64)
    gy = ndimage.correlate1d(ndimage.correlate1d(x, _DERIVATIVE, axis=1), _SMOOTH, axis=2)
    gx = ndimage.correlate1d(ndimage.correlate1d(x, _DERIVATIVE, axis=2), _SMOOTH, axis=1)
    return np.hypot(gx, gy).sum(axis=-1)


@register("sobel")
class Sobel(Method):
    """Sobel edge magnitude of the input image: the control that ignores the model.

    Sobel & Feldman (1968), "A 3x3 Isotropic Gradient Operator for Image Processing"; used as the
    model-blind control by Adebayo et al. (2018), "Sanity Checks for Saliency Maps", whose
    saliency maps often look like edge detectors. For every pixel and channel,
    sqrt(Gx^2 + Gy^2) with Gx, Gy the 3 x 3 Sobel derivatives along width and height (borders
    reflected, as ``scipy.ndimage.sobel``), summed over channels: (N, H, W), non-negative. The
    model is not read (``model`` may be None): a method that scores no better than this control
    on a metric is not shown to explain the model there.

    Parameters
    ----------
    batch_size : images filtered at once, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``, at most 256); the result does not depend on it.

    Example
    -------
    >>> a = xb.methods.get("sobel")(None, x, y)
    >>> a.shape  # one map per image (H, W)
    (4, 8, 8)
    """

    control = True
    inputs = ("image",)
    model_calls = {"forward": 0.0, "backward": 0.0}  # the model is not read

    def __init__(self, *, batch_size: int | str = "auto"):
        self.batch_size = check_batch_size(batch_size)

    def explain(self, model, x, y):
        bs = model_batch(self.batch_size, None, x.shape[1:], gradient=False)  # no model read
        return np.concatenate([sobel_magnitude(x[i : i + bs]) for i in range(0, len(x), bs)])
