"""Smooth model parameter randomisation test, sMPRT (Hedström, Weber, Lapuschkin & Höhne 2024,
"Sanity Checks Revisited: An Exploration to Repair the Model Parameter Randomisation Test")."""

from __future__ import annotations

from contextlib import closing

import numpy as np

from xaibench._checks import (
    NotApplicable,
    as_attributions,
    check_batch_size,
    check_non_negative,
    check_positive_int,
    check_seed,
    n_features,
    sample_range,
    samples_per_chunk,
)
from xaibench.metrics import register
from xaibench.metrics._stats import spearman_rows
from xaibench.metrics.base import Metric, rerun_calls
from xaibench.metrics.randomisation._randomised import (
    explanation_key,
    fully_randomised,
    layer_seeds,
    randomised,
    weighted_layers,
)


@register("smooth_mprt")
class SmoothMPRT(Metric):
    """Spearman of denoised |a| before and after randomising the layers bottom-up; lower is better.

    Averaged over the randomisation steps.

    Hedström et al. (2024), sMPRT, as in Quantus 0.6 (``SmoothMPRT``). MPRT's similarity is
    dominated by the explanations' noise; sMPRT averages each explanation over ``samples`` noisy
    copies of the input first: ê(f, x) = mean over i of e(f, x + d_i), d_i ~ N(0, sigma^2) with
    sigma = ``noise`` x (max - min of the sample; ``_checks.sample_range``), the last copy
    noise-free (d = 0; for the original model that copy is ``a`` itself). The layers holding
    weights are then randomised cascading from the input layer up ("bottom_up", Quantus's
    default), each re-initialised from its own initializer as in ``model_randomisation``
    (seeded; a layer gets the weights it gets there); after each step the sample's Spearman
    rank correlation of |ê(f)| with |ê(f randomised)| is taken (channels summed, average ranks,
    values equal up to round-off tied), and the score is their mean over the steps. The same
    noise draws d_i serve every model state (default_rng((seed, 1)), sample by sample), so the
    differences come from the weights. The model's weights are restored afterwards. A sample
    whose denoised |a| is constant scores NaN. After the last step (every layer random) the
    noise-free copy's explanation is that of the fully randomised model, which
    model_randomisation and efficient_mprt explain too: it is explained on its own, once, and
    shared (``_randomised.fully_randomised``); the noisy copies of a step are explained in one
    call with the noise-free copy before that step and without it after it (for a
    deterministic method the same values up to float round-off; a seeded stochastic method
    draws its own randomness per call).

    Departures from Quantus 0.6, which returns one similarity per layer: the score is their
    mean over the randomised layers (Quantus's ``return_average_correlation`` also averages in
    the similarity of ``a`` with the original model's denoised explanation, under a key it means
    to skip); Quantus compares the randomised explanations with ``a`` as given when one is given
    (denoised only when it explains itself), here with the denoised original as the paper does;
    its TensorFlow models are randomised by permuting each weight array (PyTorch: re-initialised,
    as here) and its noise is unseeded. ``layers=k`` measures the similarity at k evenly spaced
    steps of the cascade only (after ceil(j L / k) of the L layers, j = 1..k, the last after all):
    a budget for deep models (MobileNetV2 has 105 weighted layers).

    Parameters
    ----------
    samples : noisy copies per explanation, the last noise-free (default 50, as the paper and
        Quantus; 1 = MPRT bottom-up without denoising).
    noise : sigma as a fraction of the sample's value range (default 0.1).
    layers : measure after every layer (None, default) or at this many evenly spaced steps.
    seed : seed of the random weights and of the noise (default 0).
    batch_size : unused: the method runs with its own batch size (kept for a uniform interface;
        default "auto").

    Example
    -------
    >>> q = xb.metrics.get("smooth_mprt", samples=4)
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
        samples: int = 50,
        noise: float = 0.1,
        layers: int | None = None,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.samples = check_positive_int(samples, "samples")
        self.noise = check_non_negative(noise, "noise")
        self.layers = None if layers is None else check_positive_int(layers, "layers")
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def steps(self, model) -> list[int]:
        """After how many layers (from the input) the similarity is measured."""
        total = len(weighted_layers(model))
        if not total:
            raise NotApplicable("smooth_mprt needs a model with weights; it has none")
        k = total if self.layers is None else min(self.layers, total)
        return sorted({-(-j * total // k) for j in range(1, k + 1)})

    def model_calls(self, input_shape, method_calls, model):
        """The method re-run on samples - 1 noisy copies for the original model and on every
        copy after each measured step (how many depends on ``model``)."""
        if model is None:
            return None
        try:
            steps = len(self.steps(model))
        except NotApplicable:
            return rerun_calls(method_calls, 0)
        return rerun_calls(method_calls, self.samples - 1 + steps * self.samples)

    def layer_correlations(self, model, x, y, a, *, explain) -> np.ndarray:
        """Per measured step, float (N, steps): column k after ``steps(model)[k]`` layers."""
        x, y, a, ok = self._validate(model, x, y, a, explain=explain)
        out = self._correlations(model, x, y, a, explain)
        out[~ok] = np.nan
        return out

    def score(self, model, x, y, a, *, explain):
        return self._correlations(model, x, y, a, explain).mean(axis=1)

    def _correlations(self, model, x, y, a, explain) -> np.ndarray:
        measured = self.steps(model)
        layers = weighted_layers(model)  # input first
        seeds = layer_seeds(len(layers), self.seed)[::-1]  # drawn top first, as everywhere
        reference = np.abs(self.denoised(model, x, y, explain, known=a))
        key = explanation_key(model, x, y, explain, self.seed)  # before randomising
        out = np.empty((len(x), len(measured)))
        with closing(randomised(model, layers, seeds)) as run:
            for k in run:
                if k + 1 == len(layers):  # every layer random: the noise-free copy is shared
                    known = fully_randomised(model, x, y, explain, self.seed, key=key)
                    e = np.abs(self.denoised(model, x, y, explain, known=known))
                elif k + 1 in measured:
                    e = np.abs(self.denoised(model, x, y, explain))
                else:
                    continue
                out[:, measured.index(k + 1)] = spearman_rows(reference, e)
        return out

    def shared_explanations(self, model) -> frozenset:
        """The noise-free copy's explanation after the last step: the fully randomised model's."""
        return frozenset({("fully_randomised", self.seed)})

    def denoised(self, model, x, y, explain, known=None) -> np.ndarray:
        """ê(f, x): the mean of the channel-summed explanations of ``samples`` copies of every
        sample, float64 (N, features); ``known``: the noise-free copy's explanation, if had."""
        copies = self.samples - (known is not None)
        sigma = self.noise * sample_range(x)
        rng = np.random.default_rng((self.seed, 1))
        total = np.zeros((len(x), n_features(x)))
        step = samples_per_chunk(x, max(copies, 1))
        for s in range(0, len(x), step) if copies else ():
            xs = x[s : s + step]
            d = rng.standard_normal((len(xs), self.samples - 1, *x.shape[1:]))
            d *= sigma[s : s + step].reshape((-1,) + (1,) * x.ndim)
            noisy = xs[:, None] + d.astype(np.float32)
            if known is None:  # the noise-free copy too
                noisy = np.concatenate([noisy, xs[:, None]], axis=1)
            flat = noisy.reshape((-1, *x.shape[1:]))
            e = explain(model, flat, np.repeat(y[s : s + step], copies))
            e = as_attributions(e, flat, name="the attributions of explain= for noisy x")
            total[s : s + step] = e.reshape(len(xs), copies, -1).sum(axis=1)
        if known is not None:
            total += known
        return total / self.samples
