"""Guided backpropagation (Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for
Simplicity: The All Convolutional Net")."""

from __future__ import annotations

from xaibench._tf import tf
from xaibench.methods import register
from xaibench.methods._gradients import GradientMethod, batched, cached_function
from xaibench.models.outputs import score_fn

_GUIDED = {"Relu": "XaibenchGuidedRelu", "Relu6": "XaibenchGuidedRelu6"}


def _guided_relu_grad(op, grad):
    """Backward pass of a guided ReLU: the incoming gradient where both the ReLU's input and the
    gradient are positive, 0 elsewhere."""
    return tf.where((op.inputs[0] > 0) & (grad > 0), grad, tf.zeros_like(grad))


def _guided_relu6_grad(op, grad):
    z = op.inputs[0]
    return tf.where((z > 0) & (z < 6) & (grad > 0), grad, tf.zeros_like(grad))


for _name, _fn in [(_GUIDED["Relu"], _guided_relu_grad), (_GUIDED["Relu6"], _guided_relu6_grad)]:
    try:
        tf.RegisterGradient(_name)(_fn)
    except KeyError:  # already registered (the module was reloaded)
        pass


def _guided_gradient_fn(model):
    """A compiled ``(x, y) -> guided d f_y / d x``, cached per model.

    The model runs unchanged inside a traced graph in which the gradients of TensorFlow's Relu
    and Relu6 ops are overridden (``gradient_override_map``, read by ``tf.gradients``): the user's
    model, its layers and its other compiled functions are not touched."""

    def build(get_model):
        def guided(x, y):
            fn = score_fn(get_model(), "raw")
            with tf.compat.v1.get_default_graph().gradient_override_map(_GUIDED):
                s = tf.gather(fn(x), y, axis=1, batch_dims=1)
            (g,) = tf.gradients(s, x)
            return tf.zeros_like(x) if g is None else g

        return tf.function(guided, reduce_retracing=True)

    return cached_function(model, "guided_backprop", build)


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
        return batched(_guided_gradient_fn(model), x, y, self.batch_size, model=model)
