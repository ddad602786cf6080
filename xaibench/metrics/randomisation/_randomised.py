"""How the randomisation metrics randomise a model, and the explanation they share.

Every layer holding weights is re-initialised with its own seed (``layer_seeds``: one draw per
layer, top layer first), so a layer gets the same random weights whichever metric randomises it
and in whatever order: model_randomisation's cascade from the output layer, once it reaches the
input layer, leaves the model in the state smooth_mprt's and efficient_mprt's cascades from the
input layer reach after their last step. The method's explanation of the samples on that fully
randomised model is computed once and shared by the three (``fully_randomised``).
"""

from __future__ import annotations

from contextlib import closing
from functools import partial

import numpy as np

from xaibench._checks import as_attributions
from xaibench.metrics._memo import LastResult, explain_key, fingerprint, model_key
from xaibench.models.protocol import adapt


def weighted_layers(model) -> list[int]:
    """The indices of ``model``'s layers holding float weights, input to output
    (``ModelAdapter.weighted_layers``)."""
    return list(range(len(adapt(model).weighted_layers())))


def layer_seeds(n: int, seed: int) -> np.ndarray:
    """The seeds of ``n`` layers listed top (output) layer first: one draw per layer from
    ``np.random.default_rng(seed)``."""
    return np.random.default_rng(seed).integers(0, 2**31 - 1 - 1000, size=n)


def randomised(model, layers: list[int], seeds, *, mode: str = "cascading"):
    """Randomise ``model``'s weighted layers ``layers`` (indices of ``weighted_layers``) one at
    a time in their order, ``layers[k]`` re-initialised with seed ``seeds[k]``
    (``ModelAdapter.randomise_layer``), yielding k after each: "cascading" keeps the layers
    before it randomised, "independent" restores them first. Every weight is restored when the
    generator finishes or is closed (use ``contextlib.closing`` when the loop may stop early).
    The one rule by which the randomisation metrics randomise a model."""
    adapter = adapt(model)
    saved = [adapter.get_layer_weights(k) for k in layers]
    try:
        for i, k in enumerate(layers):
            if mode == "independent" and i > 0:
                adapter.set_layer_weights(layers[i - 1], saved[i - 1])
            adapter.randomise_layer(k, int(seeds[i]))
            yield i
    finally:
        for k, values in zip(layers, saved, strict=True):
            adapter.set_layer_weights(k, values)


# The last explanation of a fully randomised model: model_randomisation, smooth_mprt and
# efficient_mprt of one method (as a run scores them, one after the other) compute it once.
_LAST = LastResult()


def explanation_key(model, x, y, explain, seed: int) -> tuple:
    """What ``fully_randomised``'s explanation depends on: the model (object and weights, taken
    before it is randomised), the method and its settings, x, y, the seed and the layers."""
    layers = len(weighted_layers(model))
    return model_key(model), explain_key(explain), fingerprint(x, np.asarray(y)), seed, layers


def fully_randomised(model, x, y, explain, seed: int, *, key: tuple | None = None) -> np.ndarray:
    """The channel-summed explanation ``explain(model, x, y)`` of ``model`` with every weighted
    layer re-initialised, weighted layer k of L with seed ``layer_seeds(L, seed)[L - 1 - k]``;
    the previous call's when ``explanation_key`` is the same.

    Without ``key`` the model is randomised here (and restored) when the explanation is not
    remembered. A caller whose own cascade has just randomised the last layer passes the ``key``
    it took before it began: the model is then explained as it is."""
    if key is None:
        key = explanation_key(model, x, y, explain, seed)
        compute = partial(_randomise_and_explain, model, x, y, explain, seed)
    else:
        compute = partial(_explain, model, x, y, explain)
    return _LAST.get(key, compute, keep=(model, explain)).copy()


def _explain(model, x, y, explain) -> np.ndarray:
    return as_attributions(explain(model, x, y), x, name="explain(model, x, y)")


def _randomise_and_explain(model, x, y, explain, seed: int) -> np.ndarray:
    layers = weighted_layers(model)  # input first
    seeds = layer_seeds(len(layers), seed)[::-1]  # drawn top first, as everywhere
    with closing(randomised(model, layers, seeds)) as run:  # restored when it closes
        for k in run:  # cascading: after the last step every layer is random
            if k == len(layers) - 1:
                return _explain(model, x, y, explain)
