"""Gradient x input (Shrikumar et al. 2016, "Not Just a Black Box: Learning Important Features
Through Propagating Activation Differences")."""

from __future__ import annotations

from xaibench.methods import register
from xaibench.methods._gradients import GradientMethod
from xaibench.models.outputs import target_gradients


@register("gradient_x_input")
class GradientXInput(GradientMethod):
    """Gradient of the target output times the input, value by value (Shrikumar et al. 2016).

    Shrikumar, Greenside, Shcherbina & Kundaje (2016), "Not Just a Black Box: Learning Important
    Features Through Propagating Activation Differences". Returns x * d f_y / d x for every input
    value (signed, channels kept; metrics sum them), f_y the model's raw output for class y. For a
    linear model it is each value's exact contribution w_y * x to the output.
    Cost: one gradient (a forward and a backward pass) per sample.

    Parameters
    ----------
    batch_size : inputs per gradient call, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``).

    Example
    -------
    >>> a = xb.methods.get("gradient_x_input")(model, x, y)
    >>> a.shape  # one map per input, channels kept
    (4, 8, 8, 1)
    """

    def explain(self, model, x, y):
        return x * target_gradients(model, x, y, batch_size=self.batch_size)
