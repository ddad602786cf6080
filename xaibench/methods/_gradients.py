"""Helpers shared by the gradient-family methods: functions cached per model, the base
classes of the one-gradient methods (saliency, gradient x input, guided backpropagation) and of
the noisy-gradient methods (SmoothGrad, VarGrad), and gradients over noisy copies of the inputs."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np

from xaibench.methods.base import (
    Method,
    check_batch_size,
    check_non_negative,
    check_positive_int,
    check_seed,
    samples_per_chunk,
)
from xaibench.models.batching import model_batch
from xaibench.models.outputs import target_gradients

# Compiled functions per model (as models.outputs caches its gradient functions): keyed weakly,
# and ``build`` reaches the model only through a weak reference, so an entry goes away with its
# model and nothing is written onto the user's object.
_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached_function(model, key, build: Callable[[Callable], Callable]) -> Callable:
    """``build(get_model)`` once per ``(model, key)``, so repeated calls do not trace again.
    ``get_model()`` returns the model; the function ``build`` returns must call it where it needs
    the model (when it is traced), never hold the model itself. Models that cannot be weak keys
    get a fresh function every call."""
    try:
        cache, get_model = _FUNCTIONS.setdefault(model, {}), weakref.ref(model)
    except TypeError:
        return build(lambda: model)
    if key not in cache:
        cache[key] = build(get_model)
    return cache[key]


def batched(
    fn: Callable, x: np.ndarray, y: np.ndarray, batch_size: int | str, *, model
) -> np.ndarray:
    """``fn(x, y) -> array`` (a ``ModelAdapter`` function on numpy) applied in batches of
    ``batch_size`` inputs, as one array; ``fn`` takes a gradient of ``model`` (what
    ``batch_size="auto"`` sizes the batches for)."""
    batch_size = model_batch(batch_size, model, x.shape[1:], gradient=True)
    return np.concatenate(
        [fn(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    )


def noisy_gradients(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    samples: int,
    noise: float,
    seed: int,
    batch_size: int | str,
    reduce: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """``reduce`` over ``samples`` gradients of f_y at x + e, e ~ N(0, sigma^2) per input value,
    sigma = ``noise`` * (max - min of the sample).

    ``reduce`` maps float32 gradients (n, samples, ...) to (n, ...), best accumulating in
    float64. The noise is one stream from ``np.random.default_rng(seed)`` drawn in sample order
    (``standard_normal((n, samples) + shape)`` per chunk), in chunks whose size does not depend
    on ``batch_size``.
    """
    rng = np.random.default_rng(seed)
    flat = x.reshape(len(x), -1)
    sigma = (noise * (flat.max(axis=1) - flat.min(axis=1))).astype(np.float32)
    chunk = samples_per_chunk(x, samples)
    shape = (-1, 1) + (1,) * (x.ndim - 1)
    out = []
    for start in range(0, len(x), chunk):
        xs = x[start : start + chunk]
        eps = rng.standard_normal((len(xs), samples) + x.shape[1:], dtype=np.float32)
        noisy = xs[:, None] + sigma[start : start + chunk].reshape(shape) * eps
        grads = target_gradients(
            model,
            noisy.reshape((-1,) + x.shape[1:]),
            np.repeat(y[start : start + chunk], samples),
            batch_size=batch_size,
        )
        out.append(reduce(grads.reshape(noisy.shape)))
    return np.concatenate(out)


class GradientMethod(Method):
    """Base of the methods that take one gradient of the target output per input: the setting
    ``batch_size`` and one forward and one backward pass per sample."""

    needs_gradients = True
    model_calls = {"forward": 1.0, "backward": 1.0}

    def __init__(self, *, batch_size: int | str = "auto"):
        self.batch_size = check_batch_size(batch_size)


class NoisyGradientMethod(Method):
    """Base of the methods that reduce the gradients at ``samples`` noisy copies of every input
    (``noisy_gradients``): the settings, and ``samples`` gradients per sample. A subclass defines
    ``reduce``, float32 gradients (n, samples, ...) -> (n, ...)."""

    needs_gradients = True
    stochastic = True

    def __init__(
        self,
        *,
        samples: int = 25,
        noise: float = 0.15,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.samples = check_positive_int(samples, "samples")
        self.noise = check_non_negative(noise, "noise")
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def __init_subclass__(cls, **kwargs):
        """A subclass defines ``reduce(grads)``; TypeError at class definition when it does
        not."""
        super().__init_subclass__(**kwargs)
        if not callable(getattr(cls, "reduce", None)):
            raise TypeError(f"{cls.__name__} must define reduce(grads)")

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: one gradient (forward + backward) per noisy copy."""
        return {"forward": float(self.samples), "backward": float(self.samples)}

    def explain(self, model, x, y):
        return noisy_gradients(
            model,
            x,
            y,
            samples=self.samples,
            noise=self.noise,
            seed=self.seed,
            batch_size=self.batch_size,
            reduce=self.reduce,
        )
