"""Max and average sensitivity (Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, "On the (In)fidelity
and Sensitivity of Explanations"): the shared perturb-and-re-explain computation."""

from __future__ import annotations

import abc
from functools import partial

import numpy as np

from xaibench._checks import (
    as_attributions,
    check_batch_size,
    check_positive,
    check_positive_int,
    check_seed,
    sample_range,
)
from xaibench._registry import Component
from xaibench.metrics._memo import LastResult, explain_key, fingerprint, model_key
from xaibench.metrics._perturb import samples_per_chunk
from xaibench.metrics.base import Metric, rerun_calls


def with_batch_size(explain, batch_size: int | str | None):
    """``explain`` with its ``batch_size`` setting replaced (when it has one and an integer is
    given; "auto" or None keep the method's own)."""
    if batch_size in (None, "auto") or not isinstance(explain, Component):
        return explain
    if "batch_size" not in explain.param_names():
        return explain
    return type(explain)(**{**explain.params, "batch_size": batch_size})


# The last ratios computed, so that max_sensitivity and avg_sensitivity of the same method, model,
# inputs and settings (as a run scores them, one after the other) re-explain only once.
_LAST = LastResult()


def sensitivities(model, x, y, a, explain, *, samples, radius, seed, batch_size) -> np.ndarray:
    """``_sensitivities``, reusing the previous call's result when everything it depends on is
    the same (the model object and its weights, the method and its settings, x, y, a and the
    noise settings; ``metrics._memo``)."""
    key = (
        model_key(model),
        explain_key(explain),
        fingerprint(x, np.asarray(y), a),
        samples,
        radius,
        seed,
        batch_size,
    )
    settings = dict(samples=samples, radius=radius, seed=seed, batch_size=batch_size)
    compute = partial(_sensitivities, model, x, y, a, explain, **settings)
    return _LAST.get(key, compute, keep=(model, explain)).copy()


def _sensitivities(model, x, y, a, explain, *, samples, radius, seed, batch_size) -> np.ndarray:
    """||e(x + d) - e(x)|| / ||e(x)|| for ``samples`` perturbations d of every sample, (N, samples).

    e(x) is ``a`` (N, n_features, channels summed); e(x + d) sums channels the same way; the norms
    are Frobenius norms over the features. d = r_i * (2 * rng.random((N, samples) + x.shape[1:]) - 1)
    with rng = np.random.default_rng(seed) drawn in sample order, r_i = radius * sample_range(x)_i.
    The perturbed inputs of all samples go to ``explain`` in one call (in chunks of about 2**25
    values for large inputs). A sample with e(x) = 0 gets NaN (the ratio is undefined).
    """
    explain = with_batch_size(explain, batch_size)
    r = radius * sample_range(x)
    rng = np.random.default_rng(seed)
    chunk = samples_per_chunk(x, samples)
    diffs = []
    for s in range(0, len(x), chunk):
        xs = x[s : s + chunk]
        shape = (len(xs), samples) + x.shape[1:]
        d = (2.0 * rng.random(shape) - 1.0) * r[s : s + chunk].reshape((-1,) + (1,) * (x.ndim))
        perturbed = (xs[:, None] + d).astype(np.float32).reshape((-1,) + x.shape[1:])
        e = explain(model, perturbed, np.repeat(y[s : s + chunk], samples))
        e = as_attributions(e, perturbed, name="the attributions of explain= for perturbed x")
        diffs.append(
            np.linalg.norm(e.reshape(len(xs), samples, -1) - a[s : s + chunk, None], axis=-1)
        )
    # No epsilon in the ratio: scale-free; a map of norm 0 is NaN (0/0), not a number.
    norm = np.linalg.norm(a, axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, np.concatenate(diffs) / norm, np.nan)


class Sensitivity(Metric):
    """Max / average sensitivity: settings and the perturb-and-re-explain loop; subclasses set
    ``reduce`` (over the perturbations) and the docstring."""

    higher_is_better = False
    category = "robustness"
    scores_constant_maps = True  # how far the map moves (an all-zero one: NaN, 0/0)
    stochastic = True
    needs_explain = True

    @staticmethod
    @abc.abstractmethod
    def reduce(ratios: np.ndarray) -> np.ndarray:
        """One score per sample from the ratios (N, samples)."""

    def __init__(
        self,
        *,
        samples: int = 16,
        radius: float = 0.1,
        seed: int = 0,
        batch_size: int | str | None = "auto",
    ):
        self.samples = check_positive_int(samples, "samples")
        self.radius = check_positive(radius, "radius")
        self.seed = check_seed(seed)
        self.batch_size = "auto" if batch_size is None else check_batch_size(batch_size)

    def model_calls(self, input_shape, method_calls, model):
        """The method re-run on ``samples`` perturbations of every sample."""
        return rerun_calls(method_calls, self.samples)

    @property
    def shared_work(self):
        """Max and average sensitivity with equal settings re-explain once (``sensitivities``)."""
        return ("sensitivities", self.samples, self.radius, self.seed, self.batch_size)

    def score(self, model, x, y, a, *, explain):
        ratios = sensitivities(
            model,
            x,
            y,
            a,
            explain,
            samples=self.samples,
            radius=self.radius,
            seed=self.seed,
            batch_size=self.batch_size,
        )
        return self.reduce(ratios)
