"""Perturbing a model's weights for a while: the one place that changes a model's parameters and
puts them back (the model perturbation test of the meta-evaluation, ``benchmark/meta.py``),
through the model protocol (``models.protocol``: any framework's model).

>>> with scaled_weights(model, sigma=0.001, seed=0):  # doctest: +SKIP
...     a = method(model, x, y)  # explained on the perturbed model
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator

import numpy as np

from xaibench._checks import check_positive, check_seed
from xaibench.models.protocol import adapt

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


@contextlib.contextmanager
def scaled_weights(model, sigma: float, seed: int) -> Iterator:
    """Within the block, every parameter ``w`` of ``model`` is ``w * eta`` with
    ``eta ~ N(1, sigma^2)`` drawn elementwise from ``np.random.default_rng(seed)``, layer by
    layer (``weighted_layers``, input to output) and array by array (Hedström et al. 2023, the
    model perturbation test); on leaving it, also by an exception, the original weights are
    restored bit for bit. Yields the model.

    The parameters are those PyTorch's ``model.parameters()`` gives, which MetaQuantus perturbs
    (``ModelAdapter.layer_parameters``): batch normalisation's moving statistics are left alone
    (a variance multiplied by a negative factor would make the output NaN, not perturbed).
    The model is changed in place: nothing else may use it meanwhile (a run computes one task
    at a time per model and process)."""
    sigma = check_positive(sigma, "sigma")
    rng = np.random.default_rng(check_seed(seed))
    adapter = adapt(model)
    layers = range(len(adapter.weighted_layers()))
    saved = [adapter.get_layer_weights(k) for k in layers]
    _bump(model)
    try:
        for k in layers:
            values = []
            for value, parameter in zip(saved[k], adapter.layer_parameters(k), strict=True):
                if parameter and np.issubdtype(value.dtype, np.floating):
                    value = (value * rng.normal(1.0, sigma, value.shape)).astype(value.dtype)
                values.append(value)
            adapter.set_layer_weights(k, values)
        yield model
    finally:
        for k in layers:
            adapter.set_layer_weights(k, saved[k])
        _bump(model)


def _bump(model) -> None:
    with contextlib.suppress(TypeError):
        _GENERATIONS[model] = _GENERATIONS.get(model, 0) + 1
