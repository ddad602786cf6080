"""Guided backpropagation (Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for
Simplicity: The All Convolutional Net")."""

from __future__ import annotations

from xaibench.methods import register
from xaibench.methods._gradients import GradientMethod, batched
from xaibench.models.protocol import adapt


@register("guided_backprop")
class GuidedBackprop(GradientMethod):
    """Gradient with each ReLU's backward pass made a guided ReLU (Springenberg et al. 2015).

    Springenberg, Dosovitskiy, Brox & Riedmiller (2015), "Striving for Simplicity: The All
    Convolutional Net". Backpropagates d f_y / d x (f_y the model's raw output for class y), but at
    every ReLU the gradient passes only where the ReLU's input is positive *and* the incoming
    gradient is positive: R_l = 1[z_l > 0] * 1[R_{l+1} > 0] * R_{l+1}. ReLU6 is treated alike
    (passing where 0 < z < 6). Signed, input-shaped; other layers backpropagate as usual, so a
    model without ReLUs gets its plain gradient.

    The user's model is never modified: it runs as it is inside a compiled graph whose Relu/Relu6
    gradients are overridden. This works for Sequential, functional and subclassed models alike,
    for ReLUs given as layer activations, ``ReLU``/``Activation("relu")`` layers or ``tf.nn.relu``
    calls (any op TensorFlow records as Relu or Relu6); a ReLU written by hand (e.g.
    ``tf.maximum(x, 0)``) or with a negative slope, threshold or max value other than 6 keeps its
    ordinary gradient.
    Cost: one gradient (a forward and a backward pass) per sample.

    Parameters
    ----------
    batch_size : inputs per gradient call, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``).

    Example
    -------
    >>> a = xb.methods.get("guided_backprop")(model, x, y)
    >>> a.shape  # one map per input, channels kept
    (4, 8, 8, 1)
    """

    def explain(self, model, x, y):
        fn = adapt(model).gradient_fn("raw", guided=True)
        return batched(fn, x, y, self.batch_size, model=model)
