"""Infidelity (Yeh, Hsieh, Suggala, Inouye & Ravikumar 2019, "On the (In)fidelity and Sensitivity
of Explanations")."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from xaibench._checks import (
    check_batch_size,
    check_positive,
    check_positive_int,
    check_seed,
    feature_view,
    sample_range,
)
from xaibench.metrics import register
from xaibench.metrics._perturb import ahead, ahead_chunks
from xaibench.metrics.base import Metric
from xaibench.models.outputs import check_output, class_scores


@register("infidelity")
class Infidelity(Metric):
    """Mean squared gap between I . a and the drop f_y(x) - f_y(x - I), I Gaussian; lower is better.

    Yeh et al. 2019: infidelity = E_I[(I . a - (f_y(x) - f_y(x - I)))^2], estimated over ``samples``
    draws of I ~ N(0, sigma^2) per feature; an image pixel's channels move together, since ``a``
    holds one value per pixel (channels summed). sigma = noise * (max - min of the sample's values; 1
    for a constant sample). I is drawn from ``np.random.default_rng(seed)`` in sample order as
    ``sigma * rng.standard_normal((N, samples, n_features))``, so the scores do not depend on the
    batch size; I . a uses the perturbation the model actually sees (x minus the float32 x - I).

    The default is the definition as written (the attribution's own scale counts, as in Captum's
    ``infidelity`` default): an attribution that is right up to a factor is penalised.
    ``normalize=True`` first rescales ``a`` by the least-squares factor
    beta = E[(I . a) drop] / E[(I . a)^2], as the authors' code does before scoring, which makes the
    score scale-free (beta = 0 when I . a is always 0).

    ``output="logit"`` is the default: I . a is linear in I, and a gradient-based attribution explains
    the logit, so a linear model with a = its gradient scores exactly 0.

    Parameters
    ----------
    samples : perturbations per sample (default 32).
    noise : standard deviation of I as a fraction of the sample's value range (default 0.1).
    normalize : rescale a by the optimal factor beta first (default False).
    output : "logit" (default) or "probability".
    seed : seed of the perturbations (default 0).
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).

    Example
    -------
    >>> s = xb.metrics.get("infidelity")(model, x, y, a)
    """

    higher_is_better = False
    category = "faithfulness"
    sweep = MappingProxyType({"noise": (0.05, 0.1, 0.2)})
    scores_constant_maps = True  # compares I . a with the output change: defined for any map
    stochastic = True

    def __init__(
        self,
        *,
        samples: int = 32,
        noise: float = 0.1,
        normalize: bool = False,
        output: str = "logit",
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.samples = check_positive_int(samples, "samples")
        self.noise = check_positive(noise, "noise")
        if not isinstance(normalize, (bool, np.bool_)):
            raise ValueError(f"normalize must be True or False, got {normalize!r}")
        self.normalize = bool(normalize)
        self.output = check_output(output)
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape, method_calls, model):
        """f_y of x and of its ``samples`` perturbations."""
        return {"forward": self.samples + 1, "backward": 0}

    def score(self, model, x, y, a, **extra):
        kw = {"output": self.output, "batch_size": self.batch_size}
        full = class_scores(model, x, y, **kw)
        sigma = self.noise * sample_range(x)
        rng = np.random.default_rng(self.seed)

        def prepare(s: slice) -> tuple[slice, np.ndarray, np.ndarray]:
            xf = feature_view(x[s]).astype(np.float64)  # (m, n, C)
            m, n = xf.shape[:2]
            noise = rng.standard_normal((m, self.samples, n)) * sigma[s, None, None]
            perturbed = (xf[:, None] - noise[..., None]).astype(np.float32)  # (m, samples, n, C)
            moved = (xf[:, None] - perturbed).mean(axis=-1)  # I as applied (equal over channels)
            product = np.einsum("msn,mn->ms", moved, a[s])
            return s, product, perturbed.reshape((m * self.samples,) + x.shape[1:])

        products, drops = [], []
        for s, product, perturbed in ahead(prepare, ahead_chunks(x, self.samples)):
            products.append(product)
            out = class_scores(model, perturbed, np.repeat(y[s], self.samples), **kw)
            drops.append(full[s, None] - out.reshape(-1, self.samples))
        return squared_error(np.concatenate(products), np.concatenate(drops), self.normalize)


def squared_error(products: np.ndarray, drops: np.ndarray, normalize: bool) -> np.ndarray:
    """Mean over the perturbations (axis 1) of (beta * I.a - drop)^2, beta = 1 or the optimal
    least-squares factor (0 where I.a is always 0)."""
    if normalize:
        den = (products * products).mean(axis=1)
        num = (products * drops).mean(axis=1)
        beta = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        products = beta[:, None] * products
    return ((products - drops) ** 2).mean(axis=1)
