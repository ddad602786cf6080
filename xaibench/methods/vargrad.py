"""VarGrad (Adebayo, Gilmer, Goodfellow & Kim 2018, "Local Explanation Methods for Deep Neural
Networks Lack Sensitivity to Parameter Values")."""

from __future__ import annotations

import numpy as np

from xaibench.methods import register
from xaibench.methods._gradients import NoisyGradientMethod


@register("vargrad")
class VarGrad(NoisyGradientMethod):
    """Variance of the target output's gradient over noisy inputs (Adebayo et al. 2018).

    Adebayo, Gilmer, Goodfellow & Kim (2018), "Local Explanation Methods for Deep Neural Networks
    Lack Sensitivity to Parameter Values". a = 1/n sum_j (g_j - mean_j g_j)^2 with
    g_j = d f_y / d x (x + e_j), e_j ~ N(0, sigma^2) per input value, sigma = noise * (max(x) -
    min(x)) of each sample, f_y the model's raw output for class y: the population variance
    (ddof=0) of SmoothGrad's noisy gradients, with the same noise. Non-negative; 0 where the
    gradient is constant (e.g. everywhere for a linear model).
    Cost: ``samples`` gradients (a forward and a backward pass each) per sample.

    Parameters
    ----------
    samples : noisy copies n per input (default 25).
    noise : noise standard deviation as a fraction of each sample's value range (default 0.15).
    seed : seed of the noise (default 0); the noise of a sample does not depend on batch_size.
    batch_size : inputs per gradient call, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``).

    Example
    -------
    >>> a = xb.methods.get("vargrad")(model, x, y)
    >>> a.shape  # one map per input, channels kept
    (4, 8, 8, 1)
    """

    @staticmethod
    def reduce(grads: np.ndarray) -> np.ndarray:
        """Variance (ddof=0) over the noisy copies, in float64: (n, samples, ...) -> (n, ...)."""
        return grads.var(axis=1, dtype=np.float64)
