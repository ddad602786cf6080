"""Runtime: the wall-clock cost of a method, and the model calls it declares."""

from __future__ import annotations

import numbers
import time
from collections.abc import Mapping

import numpy as np

from xaibench._checks import as_inputs, check_positive_int
from xaibench.metrics import register
from xaibench.metrics.base import Metric

CALL_KINDS = ("forward", "backward")


def model_calls(method, x) -> dict[str, float] | None:
    """Model calls per sample that ``method`` declares for inputs like ``x``, as
    ``{"forward": f, "backward": b}``, or None when it declares none (unknown).

    A method declares them with a ``model_calls`` attribute: a dict, or a method
    ``model_calls(input_shape) -> dict | None`` given one sample's shape ((H, W, C) or (F,)).
    ``forward`` counts every forward pass of one input through the model, those under a gradient
    included; ``backward`` every backward pass. E.g. saliency {"forward": 1, "backward": 1},
    integrated gradients with ``steps`` {"forward": steps + 1, "backward": steps + 1}, occlusion
    {"forward": patches + 1, "backward": 0}.
    """
    declared = getattr(method, "model_calls", None)
    if declared is None:
        return None
    x = as_inputs(x)
    calls = declared(tuple(x.shape[1:])) if callable(declared) else declared
    if calls is None:
        return None
    name = getattr(method, "name", None) or type(method).__name__
    if not isinstance(calls, Mapping) or set(calls) != set(CALL_KINDS):
        raise TypeError(
            f"method {name!r}: model_calls must give a dict with keys 'forward' and 'backward', "
            f"got {calls!r}"
        )
    for kind in CALL_KINDS:
        value = calls[kind]
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not 0 <= value < np.inf
        ):
            raise TypeError(
                f"method {name!r}: model_calls[{kind!r}] must be a finite number >= 0, got {value!r}"
            )
    return {kind: float(calls[kind]) for kind in CALL_KINDS}


@register("runtime")
class Runtime(Metric):
    """Wall-clock seconds the method takes per sample; lower is better. Needs ``explain=``.

    The method first runs once on the first batch (warm-up: tracing and caches excluded), then
    on every batch of ``batch_size`` samples; each sample scores its batch's seconds divided by the
    batch's length. ``Runtime.calls(method, x)`` gives the model forward/backward calls per sample
    the method declares (see ``model_calls``), or None where they are not known.

    Parameters
    ----------
    batch_size : samples per timed call of the method (default 64).
    """

    higher_is_better = False
    category = "cost"
    needs_explain = True
    calls = staticmethod(model_calls)

    def __init__(self, *, batch_size: int = 64):
        self.batch_size = check_positive_int(batch_size, "batch_size")

    def score(self, model, x, y, a, *, explain):
        explain(model, x[: self.batch_size], y[: self.batch_size])
        out = np.empty(len(x))
        for s in range(0, len(x), self.batch_size):
            start = time.perf_counter()
            explain(model, x[s : s + self.batch_size], y[s : s + self.batch_size])
            out[s : s + self.batch_size] = (time.perf_counter() - start) / len(
                x[s : s + self.batch_size]
            )
        return out
