"""Sparseness (Chalasani et al. 2020, "Concise Explanations of Neural Networks using Adversarial
Training"): the Gini index of the absolute attributions."""

from __future__ import annotations

import numpy as np

from xaibench._checks import check_batch_size
from xaibench.metrics import register
from xaibench.metrics.base import NO_MODEL_CALLS, Metric


def gini(a: np.ndarray) -> np.ndarray:
    """Gini index of each row of |a|: sum_i (2i - n - 1) v_i / (n sum_i v_i), v = |a| ascending;
    NaN for an all-zero row (0/0). Exactly scale-invariant: no constant is added.

    >>> gini(np.array([[0.0, 0.0, 0.0, 1.0], [1e-30, 0.0, 0.0, 0.0]]))
    array([0.75, 0.75])
    """
    v = np.sort(np.abs(a), axis=1)
    n = v.shape[1]
    i = np.arange(1, n + 1)
    total = v.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((2 * i - n - 1) * v).sum(axis=1) / (n * total)


@register("sparseness")
class Sparseness(Metric):
    """Gini index of |a| over the features (1 = one feature holds all); higher is better.

    Chalasani et al. (2020), "Concise Explanations of Neural Networks using Adversarial
    Training": with v = |a| sorted ascending over the n features (channels summed first),
    G = sum_i (2i - n - 1) v_i / (n sum_i v_i): (n - 1)/n when one feature holds all the
    attribution, 0 when it is spread evenly. A constant map (all-zero included) scores NaN, as
    for every metric of what a map says about features (``Metric``; README, Conventions). Does
    not read the model (``model=None`` is fine).

    Departure from Quantus (``quantus.Sparseness``, from the authors' code): Quantus adds 1e-7 to
    |a| to avoid 0/0. With its defaults it first divides each map by its largest |value|
    (``normalise=True``), so the 1e-7 is relative and the score scale-free; with
    ``normalise=False`` the 1e-7 is absolute and the score depends on the map's scale (a one-hot
    map of 64 features: 0.984 at scale 1, 0.133 at 1e-6, 0.0015 at 1e-8; gradients of a
    saturated probability live at 1e-6). xaibench adds nothing: the exact Gini index, equal for
    a and c * a (c > 0) up to round-off at any scale, and NaN for the all-zero map instead.
    The 1e-7 multiplies Quantus's score by S / (S + 1e-7 n m) (S = sum |a|, m = max |a| with
    ``normalise``, 1 without), so xaibench's is higher. Measured on the quick suite (its 13 cheap
    methods; digits, shapes and breast_cancer with their 2 models; 32 samples each, maps of the
    logit): at most 6.3e-6 above Quantus's default (normalised) score, and above its
    ``normalise=False`` score at most 3.5e-6 for gradient maps (saliency 2.9e-7; their largest
    values are ~0.2-6) but 1.8e-2 for Grad-CAM on digits/cnn, whose maps peak at ~3e-4.

    Parameters
    ----------
    batch_size : unused by the computation (kept for a uniform interface; default "auto").
    """

    higher_is_better = True
    category = "complexity"
    tradeoff = "simplicity"
    needs_model = False

    def __init__(self, *, batch_size: int | str = "auto"):
        self.batch_size = check_batch_size(batch_size)

    model_calls = NO_MODEL_CALLS  # the attributions only

    def score(self, model, x, y, a, **extra):
        return gini(a)
