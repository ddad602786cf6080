"""SmoothGrad (Smilkov, Thorat, Kim, Viégas & Wattenberg 2017, "SmoothGrad: removing noise by
adding noise")."""

from __future__ import annotations

import numpy as np

from xaibench.methods import register
from xaibench.methods._gradients import NoisyGradientMethod


@register("smoothgrad")
class SmoothGrad(NoisyGradientMethod):
    """Mean gradient of the target output over noisy copies of the input (Smilkov et al. 2017).

    Smilkov, Thorat, Kim, Viégas & Wattenberg (2017), "SmoothGrad: removing noise by adding
    noise". a = 1/n sum_{j=1..n} d f_y / d x (x + e_j), e_j ~ N(0, sigma^2) per input value, with
    sigma = noise * (max(x) - min(x)) of each sample and f_y the model's raw output for class y.
    As in the paper's definition of SmoothGrad, the *raw, signed* gradient is averaged; take the
    absolute value afterwards if you want the paper's visualisations.
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
    >>> a = xb.methods.get("smoothgrad", samples=50)(model, x, y)
    >>> a.shape  # one map per input, channels kept
    (4, 8, 8, 1)
    """

    @staticmethod
    def reduce(grads: np.ndarray) -> np.ndarray:
        """Mean over the noisy copies, in float64: (n, samples, ...) -> (n, ...)."""
        return grads.mean(axis=1, dtype=np.float64)
