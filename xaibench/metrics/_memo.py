"""Work that several metrics of one explanation share, computed once: the last result of a
computation, kept with everything it depends on.

A run scores every metric of one (dataset, model, method) one after the other in one process
(``benchmark.executors.compute_method``), so remembering the last result is enough for max and
average sensitivity to share their re-explanations, for the ground-truth metrics to share one
table of renderings, and for the randomisation metrics to share the explanation of the fully
randomised model. What a result depends on is its key: the model (the object and its weights:
the same object with other weights, e.g. perturbed by the meta-evaluation's model test, is
another model), the method and its settings, the arrays it read and the settings of the
computation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable

import numpy as np

from xaibench._registry import Component
from xaibench.models.protocol import adapt


def fingerprint(*arrays) -> str:
    """A hash of the arrays' shapes, dtypes and contents."""
    h = hashlib.sha1()
    for arr in arrays:
        arr = np.ascontiguousarray(arr)
        h.update(repr((arr.shape, arr.dtype.str)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def explain_key(explain) -> tuple:
    """The method object, its name and its settings (a registered component's config): two
    objects are two methods, however alike (a stateful user method may answer differently)."""
    config = explain.get_config() if isinstance(explain, Component) else None
    return id(explain), getattr(explain, "name", None), repr(config)


def model_key(model) -> tuple:
    """The model object and its weights (``ModelAdapter.weights_hash``)."""
    return id(model), adapt(model).weights_hash()


class LastResult:
    """One remembered result: ``get(key, compute, keep=...)`` returns the previous call's value
    when ``key`` is the same, else ``compute()``'s, which it then keeps. ``key`` holds everything
    the result depends on, ``model_key(model)`` included (taken before any change to the model's
    weights that ``compute`` makes and undoes) and ``explain_key`` where a method is part of it;
    ``keep``: the objects whose ids the key holds (the model, the method), kept with the result
    so that their ids stay unique meanwhile."""

    def __init__(self):
        self._key: Hashable | None = None
        self._value = None
        self._kept = ()

    def get(self, key: Hashable, compute: Callable, *, keep: tuple):
        if self._key is None or self._key != key:
            self.clear()
            value = compute()
            self._key, self._value, self._kept = key, value, keep
        return self._value

    def clear(self) -> None:
        self._key = self._value = None
        self._kept = ()
