"""Runtime: the wall-clock cost of a method, and the model calls components declare."""

from __future__ import annotations

import numbers
import time
from collections.abc import Mapping

import numpy as np

from xaibench._checks import as_inputs, check_batch_size
from xaibench.metrics import register
from xaibench.metrics.base import Metric, rerun_calls

CALL_KINDS = ("forward", "backward")
# Samples per timed call of the method with ``batch_size="auto"``: the default before "auto".
TIMED_BATCH = 64
# Work besides the model's passes that a declaration may count, per sample, when it matters:
# "imputations" = noisy linear imputations of one image with part of its pixels removed
# (xaibench._imputation; the cost model times one on the run's images).
EXTRA_KINDS = ("imputations",)


def model_calls(component, x, method_calls=None, model=None) -> dict[str, float] | None:
    """Model calls per sample that a method or metric declares for inputs like ``x``, as
    ``{"forward": f, "backward": b}`` (plus ``"imputations"`` where declared), or None when it
    declares none (unknown). The one place where declarations are read and validated.

    A method declares them with a ``model_calls`` attribute: a dict, or a method
    ``model_calls(input_shape) -> dict | None`` given one sample's shape ((H, W, C) or (F,)).
    ``forward`` counts every forward pass of one input through the model, those under a gradient
    included; ``backward`` every backward pass. E.g. saliency {"forward": 1, "backward": 1},
    integrated gradients with ``steps`` {"forward": steps + 1, "backward": steps + 1}, occlusion
    {"forward": patches + 1, "backward": 0}.

    A metric declares the calls it makes itself, beyond the explanation it scores: a dict, or a
    method ``model_calls(input_shape, method_calls, model) -> dict | None`` given the explained
    method's own per-sample calls (``method_calls``, None when unknown: a metric that re-runs the
    method then returns None) and the model (None when not at hand). E.g. deletion
    {"forward": steps + 1, "backward": 0}; max_sensitivity ``samples`` times the method's calls.
    """
    declared = getattr(component, "model_calls", None)
    if declared is None:
        return None
    shape = tuple(as_inputs(x).shape[1:])
    is_metric = isinstance(component, Metric)
    if callable(declared):
        calls = declared(shape, method_calls, model) if is_metric else declared(shape)
    else:
        calls = declared
    if calls is None:
        return None
    kind = "metric" if is_metric else "method"
    name = getattr(component, "name", None) or type(component).__name__
    return checked_calls(calls, f"{kind} {name!r}")


def checked_calls(calls, owner: str) -> dict[str, float]:
    """``calls`` (a declaration's value) as floats; TypeError naming ``owner`` when it is not a
    dict with keys "forward" and "backward" (and optionally EXTRA_KINDS) of finite numbers >= 0."""
    keys = set(calls) if isinstance(calls, Mapping) else set()
    if not isinstance(calls, Mapping) or not set(CALL_KINDS) <= keys <= {*CALL_KINDS, *EXTRA_KINDS}:
        extra = f" (optionally {', '.join(map(repr, EXTRA_KINDS))})"
        raise TypeError(
            f"{owner}: model_calls must give a dict with keys 'forward' and 'backward'{extra}, "
            f"got {calls!r}"
        )
    for kind in calls:
        value = calls[kind]
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not 0 <= value < np.inf
        ):
            raise TypeError(
                f"{owner}: model_calls[{kind!r}] must be a finite number >= 0, got {value!r}"
            )
    return {kind: float(calls[kind]) for kind in (*CALL_KINDS, *EXTRA_KINDS) if kind in calls}


class Timed:
    """``method`` with the seconds a warm call of it took on all the samples being scored
    (``warm_seconds``): what a run hands a metric that declares ``times_method`` as ``explain``,
    so that it reads the explain stage's own timing instead of running the method again. Calls
    go to ``method``."""

    def __init__(self, method, warm_seconds: float):
        self.method, self.warm_seconds = method, float(warm_seconds)
        self.name = getattr(method, "name", None)

    def __call__(self, model, x, y=None):
        return self.method(model, x, y)


@register("runtime")
class Runtime(Metric):
    """Wall-clock seconds the method takes per sample; lower is better. Needs ``explain=``.

    In a run (``xaibench run``) each task explains the samples once (the
    explanation every metric scores: it pays for tracing and caches) and then once more, timed:
    that warm call of the method on all the samples is the explain stage's own timing, handed to
    this metric as ``explain=Timed(method, seconds)`` (``times_method``), and every sample
    scores seconds / N. Called with a plain method, it first runs the method once on the first
    batch (warm-up: tracing and caches excluded), then on every batch of ``batch_size`` samples;
    each sample scores its batch's seconds divided by the batch's length.
    ``Runtime.calls(method, x)`` gives the model forward/backward calls per sample the method
    declares (see ``model_calls``), or None where they are not known.

    Parameters
    ----------
    batch_size : samples per timed call of the method, or "auto" (default): 64 (``TIMED_BATCH``).
        The method batches its own model calls (with its own ``batch_size``, "auto" unless it
        was given one), which bounds the memory; a fixed 64 keeps the times comparable with
        runs from before "auto" existed.
    """

    higher_is_better = False
    category = "cost"
    scores_constant_maps = True  # does not read the map
    needs_explain = True
    times_method = True
    calls = staticmethod(model_calls)

    def __init__(self, *, batch_size: int | str = "auto"):
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape, method_calls, model):
        """The method once more per sample: the task's timed warm call (``Timed``)."""
        return rerun_calls(method_calls, 1)

    def score(self, model, x, y, a, *, explain):
        warm = getattr(explain, "warm_seconds", None)
        if warm is not None:  # the explain stage's own timing (a run's task)
            return np.full(len(x), warm / len(x))
        batch = TIMED_BATCH if self.batch_size == "auto" else self.batch_size
        explain(model, x[:batch], y[:batch])
        out = np.empty(len(x))
        for s in range(0, len(x), batch):
            start = time.perf_counter()
            explain(model, x[s : s + batch], y[s : s + batch])
            out[s : s + batch] = (time.perf_counter() - start) / len(x[s : s + batch])
        return out
