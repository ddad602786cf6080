"""Reading a model's class scores and their gradients, in batches.

Methods explain the raw output (``raw_scores``); metrics read the softmax probability by default or
the logit with ``output="logit"`` (``class_scores``). A model that already ends in softmax is detected
and not softmaxed twice; its logits are read from the input of that softmax.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np

from xaibench._tf import keras, tf
from xaibench.models.batching import model_batch

OUTPUTS = ("probability", "logit")  # what metrics read (their ``output=`` setting)
HEADS = ("raw", *OUTPUTS)  # "raw": the model's own output, what methods explain


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


def _pre_softmax(model):
    """``(inner, dense)`` for a softmax-ending model: ``inner`` maps the input to the final
    layer's input; ``dense`` is that final layer when it is a Dense with softmax activation (its
    kernel and bias then give the logits), else None (a Softmax or Activation layer)."""
    last = model.layers[-1]
    try:
        inner = keras.Model(model.inputs, last.input)
    except (AttributeError, ValueError) as err:
        raise ValueError(
            "output='logit' needs the model's pre-softmax output, but the model ends in softmax "
            "and is not a functional or Sequential model; pass a model that outputs logits"
        ) from err
    if isinstance(last, (keras.layers.Softmax, keras.layers.Activation)):
        return inner, None
    if isinstance(last, keras.layers.Dense):
        return inner, last
    raise ValueError(
        f"output='logit': cannot take logits from a final {type(last).__name__} layer with a "
        "softmax activation; end the model with Dense + Softmax, or pass a model that outputs logits"
    )


def _dense_logits(z, dense):
    """The pre-activation output of the Dense layer ``dense`` for its input ``z``."""
    if tf.is_tensor(z):
        z = tf.matmul(z, dense.kernel)
        return z + dense.bias if dense.use_bias else z
    z = z @ np.asarray(dense.kernel)
    return z + np.asarray(dense.bias) if dense.use_bias else z


def _head(model, output: str, run: Callable, softmax: Callable) -> Callable:
    """The one rule for reading scores of the kind ``output`` from ``model``: ``run(m)`` is the
    forward pass of a model ``m`` (on tensors or on arrays), ``softmax`` the matching softmax.
    A model that ends in softmax is not softmaxed twice; its logits are read from the input of
    that softmax (through the final Dense layer's kernel and bias when it carries the softmax)."""
    if output not in HEADS:
        raise ValueError(f"unknown output {output!r}; valid outputs: {', '.join(HEADS)}")
    softmaxed = ends_in_softmax(model)
    already = (output == "probability" and softmaxed) or (output == "logit" and not softmaxed)
    if output == "raw" or already:  # the model outputs what is asked for
        return run(model)
    if output == "probability":
        forward = run(model)
        return lambda x: softmax(forward(x))
    inner, dense = _pre_softmax(model)
    forward = run(inner)
    return forward if dense is None else (lambda x: _dense_logits(forward(x), dense))


def _call(model) -> Callable:
    return lambda x: model(x, training=False)


def score_fn(model, output: str) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> (N, classes)`` tensor scores of the kind ``output`` (one of ``HEADS``), through the
    model's call (for gradients)."""
    return _head(model, output, _call, lambda z: tf.nn.softmax(z, axis=-1))


def _predict(model) -> Callable[[np.ndarray], np.ndarray]:
    """The model's compiled forward pass (Keras builds it once and keeps it on the model)."""
    if hasattr(model, "predict_on_batch"):
        return lambda x: np.asarray(model.predict_on_batch(x))
    return lambda x: np.asarray(model(x, training=False))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward_fn(model, output: str) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> (N, classes)`` numpy scores of the kind ``output``, from the compiled forward pass
    (for reading scores; gradients go through ``score_fn``)."""
    return _head(model, output, _predict, _softmax)


def class_scores(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    output: str = "probability",
    batch_size: int | str = "auto",
) -> np.ndarray:
    """Target-class scores f_y(x), float64 (N,), computed in batches of ``batch_size`` inputs
    (``"auto"``: as many as fit the memory budget, ``models.batching.model_batch``)."""
    fn = forward_fn(model, output)
    batch_size = model_batch(batch_size, model, x.shape[1:], gradient=False)
    out = [
        np.take_along_axis(fn(x[i : i + batch_size]), y[i : i + batch_size, None], axis=1)[:, 0]
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


# Compiled gradient functions per model and output kind. Keyed weakly and holding the model only
# weakly (the traced function reaches the model through a weak reference), so a model's entry
# goes away with the model and xaibench writes nothing onto the user's object.
_GRADIENT_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _gradient_fn(model, output: str):
    """A compiled ``(x, y) -> d f_y / d x`` for ``model``, traced once per (model, output), so
    repeated calls do not trace again."""
    try:
        cache, get_model = _GRADIENT_FNS.setdefault(model, {}), weakref.ref(model)
    except TypeError:  # a model that cannot be a weak key: compile for this call only
        cache, get_model = {}, (lambda: model)
    if output not in cache:

        def gradients(x, y):
            fn = score_fn(get_model(), output)
            with tf.GradientTape() as tape:
                tape.watch(x)
                s = tf.gather(fn(x), y, axis=1, batch_dims=1)
            return tape.gradient(s, x)

        cache[output] = tf.function(gradients, reduce_retracing=True)
    return cache[output]


def target_gradients(
    model, x: np.ndarray, y: np.ndarray, *, batch_size: int | str = "auto", output: str = "raw"
) -> np.ndarray:
    """Gradients of the target-class output with respect to ``x``, float32, shape of ``x``, in
    batches of ``batch_size`` inputs (``"auto"``: ``models.batching.model_batch``)."""
    grad = _gradient_fn(model, output)
    batch_size = model_batch(batch_size, model, x.shape[1:], gradient=True)
    out = [
        grad(
            tf.convert_to_tensor(x[i : i + batch_size]), tf.convert_to_tensor(y[i : i + batch_size])
        )
        for i in range(0, len(x), batch_size)
    ]
    if any(g is None for g in out):
        raise ValueError(
            "the model's class score has no gradient with respect to its input (the model casts "
            "it to integers, or stops the gradient): gradient-based methods cannot explain it"
        )
    return np.concatenate([g.numpy() for g in out]).astype(np.float32)


# Output widths read by a forward pass (models without a static output shape), per model: every
# method and metric checks its targets, so one model's width is asked for many times.
_WIDTHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def structure_problem(model) -> str | None:
    """What keeps xaibench from using ``model``, as the end of a sentence naming it ("the
    model ..."), or None: it must take one input, of a float dtype (the data are float32, and
    methods explain through the gradient with respect to the input; an integer input would
    truncate them), and give one output of class scores (samples, classes). Models without a
    static structure (subclassed) are left to their forward pass."""
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if inputs and len(inputs) != 1:
        return f"has {len(inputs)} inputs; xaibench needs a model of one input"
    if outputs and len(outputs) != 1:
        return (
            f"has {len(outputs)} outputs; xaibench needs one output of class scores "
            "(samples, classes)"
        )
    dtype = str(getattr(inputs[0], "dtype", "float32")) if inputs else "float32"
    if "float" not in dtype:
        return (
            f"takes {dtype} inputs; xaibench feeds float32 inputs and explains through their "
            "gradient: save the model with a float Input (cast inside the model if needed)"
        )
    shape = tuple(outputs[0].shape) if outputs else None
    if shape is not None and len(shape) != 2:
        return f"outputs shape {shape}; xaibench needs class scores of shape (samples, classes)"
    return None


def n_classes(model, x: np.ndarray) -> int:
    """The number of classes ``model`` scores: its static output width, else read from one
    forward pass of ``x[:1]`` (once per model). ValueError for a model xaibench cannot use
    (``structure_problem``)."""
    problem = structure_problem(model)
    if problem:
        raise ValueError(f"the model {problem}")
    try:
        width = model.output_shape[-1]
    except (AttributeError, ValueError, TypeError, IndexError):
        width = None
    if isinstance(width, (int, np.integer)):
        return int(width)
    try:
        return _WIDTHS[model]
    except (KeyError, TypeError):  # not read yet, or a model that cannot be a weak key
        width = int(np.shape(forward_fn(model, "raw")(x[:1]))[-1])
    try:
        _WIDTHS[model] = width
    except TypeError:
        pass
    return width


def check_targets(model, x: np.ndarray, y: np.ndarray) -> None:
    """ValueError naming the first sample whose target is not one of ``model``'s classes (an
    out-of-range target would otherwise index past the output, or wrap around from the end)."""
    classes = n_classes(model, x)
    bad = np.flatnonzero((y < 0) | (y >= classes))
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"target {int(y[i])} of sample {i} is not a class of the model, which scores "
            f"{classes} classes (0..{classes - 1})"
            + (f"; {len(bad)} samples have such targets" if len(bad) > 1 else "")
        )
