"""Gradient saliency (Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional Networks")."""

from __future__ import annotations

import numpy as np

from xaibench.methods import register
from xaibench.methods.base import Method, check_positive_int
from xaibench.models.outputs import target_gradients


@register("saliency")
class Saliency(Method):
    """Absolute gradient of the target output with respect to the input (Simonyan et al. 2014).

    Returns |d f_y / d x| for every input value (channels kept; metrics sum them).

    Parameters
    ----------
    batch_size : inputs per gradient call (default 256).

    Example
    -------
    >>> a = xb.methods.get("saliency")(model, x, y)  # doctest: +SKIP
    """

    needs_gradients = True

    def __init__(self, *, batch_size: int = 256):
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def explain(self, model, x, y):
        return np.abs(target_gradients(model, x, y, batch_size=self.batch_size))
