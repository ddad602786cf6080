"""Reading a model's class scores and their gradients, in batches.

Methods explain the raw output (``raw_scores``); metrics read the softmax probability by default or
the logit with ``output="logit"`` (``class_scores``). A model that already ends in softmax is detected
and not softmaxed twice; its logits are read from the input of that softmax.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xaibench._tf import keras, tf

OUTPUTS = ("probability", "logit")


def check_output(output: str) -> str:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}, got {output!r}")
    return output


def ends_in_softmax(model) -> bool:
    """Whether ``model``'s last layer is a softmax (a Softmax layer or softmax activation)."""
    layers = getattr(model, "layers", None)
    if not layers:
        return False
    last = layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    if isinstance(last, keras.layers.Activation):
        return getattr(last.activation, "__name__", "") == "softmax"
    return getattr(getattr(last, "activation", None), "__name__", "") == "softmax"


def _logit_fn(model) -> Callable:
    """A function computing the pre-softmax output of a softmax-ending functional model."""
    last = model.layers[-1]
    try:
        inner = keras.Model(model.inputs, last.input)
    except (AttributeError, ValueError) as err:
        raise ValueError(
            "output='logit' needs the model's pre-softmax output, but the model ends in softmax "
            "and is not a functional or Sequential model; pass a model that outputs logits"
        ) from err
    if isinstance(last, (keras.layers.Softmax, keras.layers.Activation)):
        return inner
    if isinstance(last, keras.layers.Dense):

        def logits(x):
            z = tf.matmul(inner(x, training=False), last.kernel)
            return z + last.bias if last.use_bias else z

        return logits
    raise ValueError(
        f"output='logit': cannot take logits from a final {type(last).__name__} layer with a "
        "softmax activation; end the model with Dense + Softmax, or pass a model that outputs logits"
    )


def score_fn(model, output: str) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> (N, classes)`` scores of the kind ``output`` (``"probability"``, ``"logit"``, ``"raw"``)."""
    softmaxed = ends_in_softmax(model)
    if output == "raw" or (output == "probability" and softmaxed):
        return lambda x: model(x, training=False)
    if output == "probability":
        return lambda x: tf.nn.softmax(model(x, training=False), axis=-1)
    if output == "logit":
        return _logit_fn(model) if softmaxed else (lambda x: model(x, training=False))
    raise ValueError(f"unknown output {output!r}")


def class_scores(
    model, x: np.ndarray, y: np.ndarray, *, output: str = "probability", batch_size: int = 256
) -> np.ndarray:
    """Target-class scores f_y(x), float64 (N,), computed in batches of ``batch_size``."""
    fn = score_fn(model, output)
    out = []
    for start in range(0, len(x), batch_size):
        s = fn(tf.convert_to_tensor(x[start : start + batch_size]))
        yb = tf.convert_to_tensor(y[start : start + batch_size])
        out.append(tf.gather(s, yb, axis=1, batch_dims=1).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def target_gradients(
    model, x: np.ndarray, y: np.ndarray, *, batch_size: int = 256, output: str = "raw"
) -> np.ndarray:
    """Gradients of the target-class output with respect to ``x``, float32, shape of ``x``."""
    fn = score_fn(model, output)
    out = []
    for start in range(0, len(x), batch_size):
        xb = tf.convert_to_tensor(x[start : start + batch_size])
        yb = tf.convert_to_tensor(y[start : start + batch_size])
        with tf.GradientTape() as tape:
            tape.watch(xb)
            s = tf.gather(fn(xb), yb, axis=1, batch_dims=1)
        out.append(tape.gradient(s, xb).numpy())
    return np.concatenate(out).astype(np.float32)
