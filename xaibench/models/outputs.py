"""Reading a model's class scores and their gradients, in batches.

Methods explain the raw output (``raw_scores``); metrics read the softmax probability by default or
the logit with ``output="logit"`` (``class_scores``). A model that already ends in softmax is detected
and not softmaxed twice; its logits are read from the input of that softmax.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xaibench.models.batching import model_batch
from xaibench.models.protocol import adapt

OUTPUTS = ("probability", "logit")  # what metrics read (their ``output=`` setting)
HEADS = ("raw", *OUTPUTS)  # "raw": the model's own output, what methods explain


def check_output(output: str) -> str:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}, got {output!r}")
    return output


def forward_fn(model, output: str) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> (N, classes)`` numpy scores of the kind ``output`` (one of ``HEADS``), from the
    model's forward pass (one batch; ``class_scores`` batches)."""
    return adapt(model).forward_fn(output)


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


def target_gradients(
    model, x: np.ndarray, y: np.ndarray, *, batch_size: int | str = "auto", output: str = "raw"
) -> np.ndarray:
    """Gradients of the target-class output with respect to ``x``, float32, shape of ``x``, in
    batches of ``batch_size`` inputs (``"auto"``: ``models.batching.model_batch``)."""
    grad = adapt(model).gradient_fn(output)
    batch_size = model_batch(batch_size, model, x.shape[1:], gradient=True)
    out = [grad(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float32)


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
    return adapt(model).n_classes(x)


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
