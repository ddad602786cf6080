"""Gradient saliency (Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional Networks")."""

from __future__ import annotations

import numpy as np

from xaibench.methods import register
from xaibench.methods._gradients import GradientMethod
from xaibench.models.outputs import target_gradients


@register("saliency")
class Saliency(GradientMethod):
    """Absolute gradient of the target output with respect to the input (Simonyan et al. 2014).

    Returns |d f_y / d x| for every input value (channels kept; metrics sum them).
    Cost: one gradient (a forward and a backward pass) per sample.

    Parameters
    ----------
    batch_size : inputs per gradient call, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``).

    Example
    -------
    >>> a = xb.methods.get("saliency")(model, x, y)
    >>> a.shape  # one map per input, channels kept
    (4, 8, 8, 1)
    """

    def explain(self, model, x, y):
        return np.abs(target_gradients(model, x, y, batch_size=self.batch_size))
