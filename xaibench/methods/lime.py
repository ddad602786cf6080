"""LIME (Ribeiro, Singh & Guestrin 2016, "'Why Should I Trust You?': Explaining the Predictions of
Any Classifier")."""

from __future__ import annotations

import numpy as np

from xaibench._baselines import Baseline, baseline_values, check_baseline
from xaibench.methods import register
from xaibench.methods._patches import units
from xaibench.methods._perturb import surrogate_attributions
from xaibench.methods._regression import weighted_ridge
from xaibench.methods.base import (
    Method,
    check_batch_size,
    check_non_negative,
    check_positive,
    check_positive_int,
    check_seed,
)


def perturbations(rng: np.random.Generator, n: int, samples: int, d: int) -> np.ndarray:
    """LIME's interpretable samples for ``n`` inputs, bool (n, samples, d): the first is the input
    itself (all units on), the others switch every unit on with probability 1/2. One draw of
    ``rng.random`` per sample in order, so consecutive calls continue the same stream."""
    z = np.ones((n, samples, d), bool)
    z[:, 1:] = rng.random((n, samples - 1, d)) < 0.5
    return z


def kernel_weights(z: np.ndarray, kernel_width: float) -> np.ndarray:
    """sqrt(exp(-D^2 / width^2)) with D the cosine distance between z and the all-on vector,
    1 - sqrt(|z| / d) (1 for the empty z), as the lime package weighs image samples."""
    dist = 1.0 - np.sqrt(z.sum(axis=-1) / z.shape[-1])
    return np.sqrt(np.exp(-(dist**2) / kernel_width**2))


@register("lime")
class Lime(Method):
    """Coefficients of a weighted ridge regression of the target output on random superpixel masks.

    Ribeiro, Singh & Guestrin (2016), "'Why Should I Trust You?': Explaining the Predictions of Any
    Classifier". For every sample, ``samples`` binary vectors z over d units (grid superpixels of an
    image, the features of tabular data) are drawn: the first is all ones (the input itself, as the
    lime package does), the others switch every unit on with probability 1/2. Units switched off
    take the baseline. The raw target output t(z) is regressed on z by ridge regression (unpenalised
    intercept, penalty ``ridge`` on the coefficients), each z weighted by the lime package's kernel
    sqrt(exp(-D(z)^2 / kernel_width^2)), D = cosine distance from z to the all-ones vector. The
    attribution of a pixel (feature) is its unit's coefficient; returns (N, H, W) for images.
    The regressions of all samples are solved together (batched normal equations). Perturbations
    are drawn per sample in order from one stream, so they do not depend on ``batch_size``.
    Cost: ``samples`` forward passes per sample.

    Differences from the lime package: a grid of superpixels instead of quickshift segments, and
    switched-off units take ``baseline`` (lime_image fills each segment with its mean colour;
    lime_tabular resamples from training statistics, which a benchmark explaining a batch lacks).

    Parameters
    ----------
    samples : perturbed inputs per sample, the original included (default 1000, lime_image's
        num_samples; lime_tabular uses 5000).
    segments : grid cells per image side (default 8: 8 x 8 = 64 superpixels, one pixel each on
        8x8 images); ignored for tabular data.
    baseline : value of switched-off units: 0.0 (default), a number, "mean", "blur" or a callable.
    kernel_width : width of the exponential kernel on the cosine distance (default 0.25, the lime
        package's default for images).
    ridge : L2 penalty on the coefficients (default 1.0, scikit-learn Ridge's alpha used by lime);
        0 gives weighted least squares.
    seed : seed of the perturbations (default 0).
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).
    """

    cost = "heavy"

    stochastic = True

    def __init__(
        self,
        *,
        samples: int = 1000,
        segments: int = 8,
        baseline: Baseline = 0.0,
        kernel_width: float = 0.25,
        ridge: float = 1.0,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.samples = check_positive_int(samples, "samples")
        self.segments = check_positive_int(segments, "segments")
        self.baseline = check_baseline(baseline)
        self.kernel_width = check_positive(kernel_width, "kernel_width")
        self.ridge = check_non_negative(ridge, "ridge")
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: ``samples`` forward passes (the first is x itself)."""
        return {"forward": float(self.samples), "backward": 0.0}

    def explain(self, model, x, y):
        labels, d = units(x, self.segments)
        rng = np.random.default_rng(self.seed)

        def fit(z, t):
            coef, _ = weighted_ridge(z, t, kernel_weights(z, self.kernel_width), self.ridge)
            return coef[:, labels]

        return surrogate_attributions(
            model,
            x,
            y,
            baseline_values(x, self.baseline),
            labels,
            rows=self.samples,
            draw=lambda n: perturbations(rng, n, self.samples, d),
            fit=fit,
            batch_size=self.batch_size,
        )
