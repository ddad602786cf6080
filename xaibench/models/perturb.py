"""Perturbing a model's weights for a while: the one place that changes a model's parameters and
puts them back (the model perturbation test of the meta-evaluation, ``benchmark/meta.py``).

>>> with scaled_weights(model, sigma=0.001, seed=0):  # doctest: +SKIP
...     a = method(model, x, y)  # explained on the perturbed model
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator

import numpy as np

from xaibench._checks import check_positive, check_seed
from xaibench._tf import keras
from xaibench.models.inspect import all_layers

# How many times each model's weights were changed by ``scaled_weights`` (entering or leaving
# it): caches keyed by a model object add it to their key, so that nothing computed on the
# perturbed weights is reused on the restored ones or the other way round. Keyed weakly: nothing
# is written onto the model.
_GENERATIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def generation(model) -> int:
    """How many times ``scaled_weights`` changed ``model``'s weights so far (0: never)."""
    try:
        return _GENERATIONS.get(model, 0)
    except TypeError:  # an object that cannot be weakly referenced is never perturbed here
        return 0


def parameters(model) -> list:
    """The float variables of ``model`` that ``scaled_weights`` perturbs, each once, in the order
    of ``model.weights``: every weight but the moving statistics of batch normalisation (as
    PyTorch's ``model.parameters()``, which MetaQuantus perturbs, leaves their buffers alone: a
    variance multiplied by a negative factor would make the model's output NaN, not perturbed)."""
    statistics = set()
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            statistics |= {id(layer.moving_mean), id(layer.moving_variance)}
    out, seen = [], set()
    for variable in model.weights:
        if id(variable) in seen or id(variable) in statistics:
            continue
        if keras.backend.is_float_dtype(variable.dtype):
            seen.add(id(variable))
            out.append(variable)
    return out


@contextlib.contextmanager
def scaled_weights(model, sigma: float, seed: int) -> Iterator:
    """Within the block, every parameter ``w`` of ``model`` (``parameters``) is ``w * eta`` with
    ``eta ~ N(1, sigma^2)`` drawn elementwise from ``np.random.default_rng(seed)`` in the order
    of ``parameters(model)`` (Hedström et al. 2023, the model perturbation test); on leaving it,
    also by an exception, the original weights are restored bit for bit. Yields the model.

    The model is changed in place: nothing else may use it meanwhile (a run computes one task at
    a time per model and process)."""
    sigma = check_positive(sigma, "sigma")
    rng = np.random.default_rng(check_seed(seed))
    variables = parameters(model)
    saved = [np.array(v.numpy(), copy=True) for v in variables]
    _bump(model)
    try:
        for variable, value in zip(variables, saved, strict=True):
            eta = rng.normal(1.0, sigma, value.shape)
            variable.assign((value * eta).astype(value.dtype))
        yield model
    finally:
        for variable, value in zip(variables, saved, strict=True):
            variable.assign(value)
        _bump(model)


def _bump(model) -> None:
    with contextlib.suppress(TypeError):
        _GENERATIONS[model] = _GENERATIONS.get(model, 0) + 1
