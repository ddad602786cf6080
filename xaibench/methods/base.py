"""The base class of attribution methods."""

from __future__ import annotations

import abc

import numpy as np

from xaibench._checks import as_inputs, as_targets
from xaibench._registry import Component, make_function_class


class NotApplicable(Exception):
    """Raised when a method or metric does not apply to a model or dataset (recorded, not failed)."""


def check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Method(Component, abc.ABC):
    """An attribution method: ``Method(**settings)(model, x, y) -> attributions``.

    Subclasses implement ``explain(model, x, y)`` on validated numpy arrays (x float32, y int64)
    and return an array of ``x``'s shape (images may return (N, H, W)). Class metadata:
    ``needs_gradients`` (the model must be differentiable), ``stochastic`` (takes ``seed``).
    """

    needs_gradients: bool = False
    stochastic: bool = False

    def __call__(self, model, x, y) -> np.ndarray:
        x = as_inputs(x)
        y = as_targets(y, len(x))
        a = np.asarray(self.explain(model, x, y), dtype=np.float32)
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
        return None


class FunctionMethod(Method):
    """A method registered as a plain function ``fn(model, x, y, **settings)``."""

    def explain(self, model, x, y):
        return self._fn_call(model, x, y)


def wrap_function(fn) -> type[Method]:
    return make_function_class(fn, FunctionMethod, 3, "_fn_call")
