"""Efficient model parameter randomisation test, eMPRT (Hedström, Weber, Lapuschkin & Höhne
2024, "Sanity Checks Revisited: An Exploration to Repair the Model Parameter Randomisation
Test")."""

from __future__ import annotations

import numpy as np

from xaibench._checks import (
    NotApplicable,
    check_batch_size,
    check_positive_int,
    check_seed,
)
from xaibench.metrics import register
from xaibench.metrics.base import Metric, rerun_calls
from xaibench.metrics.randomisation._randomised import fully_randomised, weighted_layers


def histogram_rows(v: np.ndarray, bins: int) -> np.ndarray:
    """``np.histogram(row, bins)`` of every row of ``v`` (N, n) at once, int (N, bins): ``bins``
    equal bins from the row's min to its max (min - 0.5 to max + 0.5 for a constant row), the
    last bin closed, the edges and the index rule numpy's.

    >>> histogram_rows(np.array([[0.0, 0.1, 0.5, 1.0], [2.0, 2.0, 2.0, 2.0]]), 4)
    array([[2, 0, 1, 1],
           [0, 0, 4, 0]])
    """
    v = np.asarray(v, np.float64)
    lo, hi = v.min(axis=1), v.max(axis=1)
    flat = lo == hi
    lo, hi = np.where(flat, lo - 0.5, lo), np.where(flat, hi + 0.5, hi)
    width = hi - lo
    edges = np.arange(bins + 1)[None, :] * (width / bins)[:, None] + lo[:, None]  # np.linspace
    edges[:, -1] = hi
    idx = ((v - lo[:, None]) / width[:, None] * bins).astype(np.intp)
    idx[idx == bins] -= 1
    rows = np.arange(len(v))[:, None]
    idx -= v < edges[rows, idx]  # numpy's corrections within ~1 ulp of an edge
    idx += (v >= edges[rows, idx + 1]) & (idx != bins - 1)
    flat = (idx + rows * bins).ravel()
    return np.bincount(flat, minlength=len(v) * bins).reshape(len(v), bins)


def histogram_entropy(v: np.ndarray, bins: int) -> np.ndarray:
    """Shannon entropy (nats) of each row's ``histogram_rows``, float64 (N,): Quantus's
    ``discrete_entropy``, ``scipy.stats.entropy(np.histogram(row, bins)[0])``."""
    counts = histogram_rows(v, bins)
    p = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)


@register("efficient_mprt")
class EfficientMPRT(Metric):
    """Relative rise of the attribution histogram's entropy under full randomisation; > 0 passes.

    (H(a_random) - H(a)) / H(a); higher is better.

    Hedström et al. (2024), eMPRT, as in Quantus 0.6 (``EfficientMPRT``). Instead of comparing
    explanations layer by layer, eMPRT compares their complexity between two model states only:
    the original model and the one with every layer holding weights randomised (cascading from
    the input layer, as ``smooth_mprt``; each layer re-initialised from its own initializer as in
    ``model_randomisation``, seeded; restored afterwards). H is the discrete entropy of the
    attribution histogram: the sample's attributions (channels summed, signed: Quantus's
    defaults ``abs=False``, ``normalise=False``) in ``bins`` equal bins between their min and
    max (Quantus's default 100, when no binning rule is chosen), H = -sum p log p over the
    bins' shares (nats). A method that ignores the model keeps H and scores 0; an explanation
    of the model should become noisier when the model is random (score > 0). The method is
    re-run once, on the randomised model (``explain=``; the explanation model_randomisation's
    full cascade and smooth_mprt also compute, computed once and shared:
    ``_randomised.fully_randomised``); ``a`` is the original explanation. A
    sample whose H(a) is 0 (every value in one bin) scores NaN: its relative rise is undefined.

    Departures from Quantus 0.6: its TensorFlow models are randomised by permuting each weight
    array (PyTorch: re-initialised, as here); it re-explains the original model too (``a``
    here, the same for a deterministic method); channels are summed first, xaibench's
    convention for attributions (Quantus histograms what the method returns).

    Parameters
    ----------
    bins : histogram bins (default 100).
    seed : seed of the random weights (default 0).
    batch_size : unused: the method runs with its own batch size (kept for a uniform interface;
        default "auto").

    Example
    -------
    >>> q = xb.metrics.get("efficient_mprt")
    >>> q(model, x, y, a, explain=xb.methods.get("saliency")).shape
    (4,)
    """

    higher_is_better = True
    category = "randomisation"
    stochastic = True
    needs_explain = True

    def __init__(self, *, bins: int = 100, seed: int = 0, batch_size: int | str = "auto"):
        self.bins = check_positive_int(bins, "bins")
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape, method_calls, model):
        """The method re-run once, on the fully randomised model."""
        return rerun_calls(method_calls, 1)

    def shared_explanations(self, model) -> frozenset:
        """The fully randomised model's explanation: all of its re-explanation."""
        return frozenset({("fully_randomised", self.seed)})

    def randomised_explanation(self, model, x, y, explain) -> np.ndarray:
        """The channel-summed explanation of the model with every weighted layer randomised
        (shared with model_randomisation and smooth_mprt: ``_randomised.fully_randomised``)."""
        if not weighted_layers(model):
            raise NotApplicable("efficient_mprt needs a model with weights; it has none")
        return fully_randomised(model, x, y, explain, self.seed)

    def score(self, model, x, y, a, *, explain):
        h = histogram_entropy(a, self.bins)
        h_random = histogram_entropy(self.randomised_explanation(model, x, y, explain), self.bins)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(h > 0, (h_random - h) / h, np.nan)
