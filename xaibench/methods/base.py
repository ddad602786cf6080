"""The base class of attribution methods."""

from __future__ import annotations

import abc
from collections.abc import Callable

import numpy as np

from xaibench._checks import (  # noqa: F401 - the validators are re-exported from here too
    CHUNK_VALUES,
    NotApplicable,
    as_inputs,
    as_real,
    as_targets,
    check_batch_size,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_probability,
    check_seed,
    from_dataset,
    input_kind,
    own_copies,
    sample_seeds,
    samples_per_chunk,
)
from xaibench._registry import Component, make_function_class
from xaibench.models.outputs import check_targets
from xaibench.models.protocol import adapt


class Method(Component, abc.ABC):
    """An attribution method: ``Method(**settings)(model, x, y) -> attributions``.

    Subclasses implement ``explain(model, x, y)`` on validated numpy arrays (x float32, y int64)
    and return an array of ``x``'s shape (images may return (N, H, W)) of real numbers within
    float32's range (complex values, or values that float32 would turn into inf or flush towards
    0, are an error naming the method). ``explain`` and ``applicable`` get their own copies of
    ``x`` and ``y`` and must not change them: a method that does is an error
    (``ModifiedInput``, naming it and the argument), never a result. Class metadata, read by
    the runner and ``xaibench list``:

    - ``needs_gradients``: the model must be differentiable (its gradients are taken);
    - ``needs_conv``: the model must have a convolutional layer;
    - ``inputs``: the kinds of input it explains, ``("image", "tabular")`` by default;
    - ``stochastic``: it takes a ``seed``;
    - ``model_calls``: the model's forward and backward passes per explained sample, a dict
      ``{"forward": f, "backward": b}`` or a method ``model_calls(input_shape)`` returning one
      (given one sample's shape, (H, W, C) or (F,)); None where unknown. Read by the runtime
      metric (``xaibench.metrics.cost.runtime.model_calls``);
    - ``cost``: "cheap" (a few model calls per sample; every built-in suite runs it), "heavy"
      (hundreds to thousands; the default and full suites, with a budget) or "adapter" (wraps an
      optional package; the full suite, where it is installed). The suites are built from it;
    - ``control``: a sanity reference that explains nothing about the model (``random``,
      ``sobel``): a method worth trusting must beat it; reports draw it as a reference, and it is
      never recommended nor on a Pareto front.

    ``x`` may be a numpy array, a tf.Tensor, or a tf.data.Dataset yielding ``x`` batches or
    ``(x, y)`` batches (then ``y`` may be omitted); a dataset is read batch by batch into one array.
    """

    needs_gradients: bool = False
    needs_conv: bool = False
    inputs: tuple[str, ...] = ("image", "tabular")
    stochastic: bool = False
    model_calls: dict[str, float] | Callable[..., dict[str, float] | None] | None = None
    cost: str = "cheap"
    control: bool = False

    def __call__(self, model, x, y=None) -> np.ndarray:
        x, y = from_dataset(x, y)
        x = as_inputs(x)
        if y is None:
            raise ValueError("y (the target class of every sample) is required")
        y = as_targets(y, len(x))
        if model is not None and len(x):
            check_targets(model, x, y)
        with own_copies(f"method {self.name!r}", x=x, y=y) as (x_own, y_own):
            reason = self.applicable(model, x_own)
            if reason is not None:
                raise NotApplicable(f"method {self.name!r} does not apply: {reason}")
            a = self.explain(model, x_own, y_own)
        a = as_real(a, np.float32, f"the attributions of method {self.name!r}")
        if a.shape != x.shape and a.shape != x.shape[:-1]:
            raise ValueError(
                f"method {self.name!r} returned attributions of shape {a.shape} for inputs of "
                f"shape {x.shape}"
            )
        return a

    @abc.abstractmethod
    def explain(self, model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Attributions for validated inputs ``x`` (float32) and targets ``y`` (int64)."""

    def applicable(self, model, x: np.ndarray) -> str | None:
        """None if the method applies to ``model`` on inputs like ``x``, else the reason it does not."""
        kind = input_kind(x)
        if kind not in self.inputs:
            return f"it explains {' or '.join(self.inputs)} inputs, not {kind} inputs"
        if self.needs_conv and model is not None and adapt(model).conv_layer(None, x) is None:
            return "the model has no convolutional layer"
        return None


class FunctionMethod(Method):
    """A method registered as a plain function ``fn(model, x, y, **settings)``."""

    def explain(self, model, x, y):
        return self._fn_call(model, x, y)


def wrap_function(fn) -> type[Method]:
    return make_function_class(fn, FunctionMethod, 3, "_fn_call")
