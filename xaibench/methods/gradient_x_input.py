"""Gradient x input (Shrikumar et al. 2016, "Not Just a Black Box: Learning Important Features
Through Propagating Activation Differences")."""

from __future__ import annotations

from xaibench.methods import register
from xaibench.methods.base import Method, check_positive_int
from xaibench.models.outputs import target_gradients


@register("gradient_x_input")
class GradientXInput(Method):
    """Gradient of the target output times the input, value by value (Shrikumar et al. 2016).

    Shrikumar, Greenside, Shcherbina & Kundaje (2016), "Not Just a Black Box: Learning Important
    Features Through Propagating Activation Differences". Returns x * d f_y / d x for every input
    value (signed, channels kept; metrics sum them), f_y the model's raw output for class y. For a
    linear model it is each value's exact contribution w_y * x to the output.

    Parameters
    ----------
    batch_size : inputs per gradient call (default 256).

    Example
    -------
    >>> a = xb.methods.get("gradient_x_input")(model, x, y)  # doctest: +SKIP
    """

    needs_gradients = True

    def __init__(self, *, batch_size: int = 256):
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def explain(self, model, x, y):
        return x * target_gradients(model, x, y, batch_size=self.batch_size)
