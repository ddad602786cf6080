"""Model parameter randomisation test (Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim 2018,
"Sanity Checks for Saliency Maps")."""

from __future__ import annotations

from contextlib import closing

import numpy as np

from xaibench._checks import (
    NotApplicable,
    as_attributions,
    check_batch_size,
    check_positive_int,
    check_seed,
)
from xaibench.metrics import register
from xaibench.metrics._ranking import average_ranks
from xaibench.metrics._stats import pearson_rows
from xaibench.metrics.base import Metric, rerun_calls
from xaibench.metrics.randomisation._randomised import (
    explanation_key,
    fully_randomised,
    layer_seeds,
    randomised,
)
from xaibench.models.protocol import adapt

MODES = ("cascading", "independent")


@register("model_randomisation")
class ModelRandomisation(Metric):
    """Spearman of |a| with |a| on the model randomised layer by layer, top first; lower is better.

    A method that ignores the model scores 1.

    Adebayo et al. (2018), "Sanity Checks for Saliency Maps" (model parameter randomisation test).
    The layers holding weights are randomised one step at a time from the output layer down to
    the input. At each step the method is re-run on the whole batch (``explain=``, one call per
    step) and each sample's Spearman rank correlation between |a| and |a_random| (channels summed,
    average ranks for ties, values equal up to round-off tied) is taken; the score is the mean
    over the steps.

    Randomising a layer re-initialises it, as in the paper: every float weight is drawn afresh from
    the layer's own Keras initializer for it (e.g. Glorot-uniform kernels, zero biases, unit
    batch-norm variance), reseeded from ``np.random.default_rng(seed)`` (one draw per layer, top
    layer first, so a layer gets the same random weights in both modes); a weight without a known
    initializer is drawn from N(0, sd of its trained values). A PyTorch module's layers are its
    modules holding parameters, in the order a forward pass runs them, re-initialised by their
    own ``reset_parameters()`` under a torch generator seeded the same way (buffers such as
    batch-norm statistics included), else drawn from N(0, sd) alike. The model's own weights are restored
    afterwards, also when the method raises. When the cascade reaches the input layer, its last
    step's explanation (every layer random) is the one smooth_mprt and efficient_mprt need: it
    is computed once and shared (``_randomised.fully_randomised``, the same numbers as alone).
    A sample whose |a| or some |a_random| is constant scores NaN (the rank correlation is
    undefined). ``layer_correlations`` gives the per-step values and ``randomised_layers`` the
    layer of each step.

    Parameters
    ----------
    mode : "cascading" (default; each step keeps the randomisations above it) or "independent"
        (only that step's layer is randomised).
    layers : randomise at most this many layers from the top (default None = all).
    seed : seed of the random weights (default 0).
    batch_size : unused: the method runs with its own batch size (kept for a uniform interface;
        default "auto").

    Example
    -------
    >>> q = xb.metrics.get("model_randomisation")
    >>> q(model, x, y, a, explain=xb.methods.get("saliency")).shape
    (4,)
    """

    higher_is_better = False
    category = "randomisation"
    stochastic = True
    needs_explain = True

    def __init__(
        self,
        *,
        mode: str = "cascading",
        layers: int | None = None,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        self.mode = mode
        self.layers = None if layers is None else check_positive_int(layers, "layers")
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def randomised_layers(self, model) -> list[str]:
        """Names of the layers randomised at each step, top (output) layer first."""
        names = adapt(model).weighted_layers()
        return [names[k] for k in self._steps(model)]

    def layer_correlations(self, model, x, y, a, *, explain) -> np.ndarray:
        """Per-step Spearman correlations, float (N, steps): column k after randomising the k-th
        layer of ``randomised_layers(model)``; NaN rows for non-finite attributions."""
        x, y, a, ok = self._validate(model, x, y, a, explain=explain)
        out = self._correlations(model, x, y, a, explain)
        out[~ok] = np.nan
        return out

    def model_calls(self, input_shape, method_calls, model):
        """The method re-run once per randomised layer (how many depends on ``model``)."""
        if model is None:
            return None
        try:
            steps = len(self._steps(model))
        except NotApplicable:
            steps = 0
        return rerun_calls(method_calls, steps)

    def score(self, model, x, y, a, *, explain):
        return self._correlations(model, x, y, a, explain).mean(axis=1)

    def _steps(self, model) -> list[int]:
        """The indices (in ``ModelAdapter.weighted_layers``) of the layers randomised at each
        step, top first."""
        layers = list(range(len(adapt(model).weighted_layers())))[::-1]
        if not layers:
            raise NotApplicable("model_randomisation needs a model with weights; it has none")
        return layers[: self.layers]

    def shared_explanations(self, model) -> frozenset:
        """The fully randomised model's explanation, when the cascade reaches every layer."""
        return frozenset({("fully_randomised", self.seed)}) if self._full(model) else frozenset()

    def _full(self, model) -> bool:
        """Whether the last step leaves every layer randomised (cascading through them all)."""
        total = len(adapt(model).weighted_layers())
        return self.mode == "cascading" and total > 0 and len(self._steps(model)) == total

    def _correlations(self, model, x, y, a, explain) -> np.ndarray:
        steps = self._steps(model)
        reference = average_ranks(np.abs(a))  # ranked once, for every step
        out = np.empty((len(x), len(steps)))
        seeds = layer_seeds(len(steps), self.seed)
        # the last step of a full cascade is the model smooth_mprt and efficient_mprt explain
        key = explanation_key(model, x, y, explain, self.seed) if self._full(model) else None
        with closing(randomised(model, steps, seeds, mode=self.mode)) as run:
            for i in run:
                if key is not None and i == len(steps) - 1:
                    a_random = fully_randomised(model, x, y, explain, self.seed, key=key)
                else:
                    a_random = as_attributions(explain(model, x, y), x, name="explain(model, x, y)")
                out[:, i] = pearson_rows(reference, average_ranks(np.abs(a_random)))
        return out
