"""Average sensitivity (Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, "On the (In)fidelity and
Sensitivity of Explanations")."""

from __future__ import annotations

import numpy as np

from xaibench.metrics import register
from xaibench.metrics.robustness._sensitivity import Sensitivity


@register("avg_sensitivity")
class AvgSensitivity(Sensitivity):
    """Mean relative change of the explanation under small input noise; lower is better.

    Yeh et al. 2019. score = mean over ``samples`` perturbations d ~ U(-r, r) (every input value
    independently) of ||e(x + d) - e(x)|| / ||e(x)||, where e(x) is the attribution being scored, e
    the method re-run (``explain=``), channels summed and Frobenius norms over the features, and
    r = radius * (max - min of the sample's values; 1 for a constant sample). The method runs once
    on the perturbed inputs of all samples. d is drawn from ``np.random.default_rng(seed)`` in sample
    order (``2 * rng.random((N, samples) + x.shape[1:]) - 1``, times r), so the scores do not depend
    on the batch size. A sample whose attribution is all zero scores NaN (undefined ratio).

    Parameters
    ----------
    samples : perturbations per sample (default 16).
    radius : half-width of the uniform noise as a fraction of the sample's value range (default 0.1).
    seed : seed of the noise (default 0).
    batch_size : model inputs per call of the re-run method; "auto" (default) keeps the method's
        own (itself "auto" unless it was given one; None, accepted as before, is the same).

    Example
    -------
    >>> q = xb.metrics.get("avg_sensitivity")
    >>> s = q(model, x, y, a, explain=xb.methods.get("saliency"))
    """

    @staticmethod
    def reduce(ratios: np.ndarray) -> np.ndarray:
        return ratios.mean(axis=1)
