"""RISE (Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation of Black-box
Models")."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from xaibench._baselines import Baseline, baseline_values, check_baseline
from xaibench._checks import is_image, n_features
from xaibench.methods import register
from xaibench.methods._patches import unit_image
from xaibench.methods._perturb import masked_scores
from xaibench.methods.base import (
    CHUNK_VALUES,
    Method,
    check_batch_size,
    check_positive_int,
    check_probability,
    check_seed,
)


def grid_side(height: int, width: int, cells: int) -> int:
    """Cells per side of the coarse grid: ``cells``, but at most half the image side (so a cell
    spans at least 2 pixels), and at least 1."""
    return max(1, min(cells, height // 2, width // 2))


def interpolation_matrix(cells: int, size: int) -> np.ndarray:
    """(size, cells) weights of bilinear upsampling from ``cells`` to ``size`` points: pixel centres
    aligned, mirrored at the border (skimage's resize(order=1, mode="reflect"))."""
    if cells == 1:
        return np.ones((size, 1))
    c = (np.arange(size) + 0.5) * cells / size - 0.5
    lo = np.floor(c).astype(np.int64)
    frac = c - lo
    out = np.zeros((size, cells))
    for idx, weight in ((lo, 1.0 - frac), (lo + 1, frac)):
        idx = np.abs(idx)  # mirror below 0
        idx = np.where(idx > cells - 1, 2 * (cells - 1) - idx, idx)  # mirror above cells - 1
        np.add.at(out, (np.arange(size), idx), weight)
    return out


@register("rise")
class Rise(Method):
    """Mean of random masks weighted by the target output of the masked input (RISE).

    Petsiuk, Das & Saenko (2018), "RISE: Randomized Input Sampling for Explanation of Black-box
    Models". saliency = sum_m f_y(x * M_m) M_m / (masks * p), the raw target output of every masked
    input weighting its mask. Each mask is an s x s grid of cells kept with probability p,
    bilinearly upsampled to (s + 1) * ceil(H / s) pixels per side and cropped to H x W at a random
    shift in [0, ceil(H / s)) (the paper's smooth, shifted masks). A mask value m blends the input
    with the baseline, b + m (x - b); the paper's x * M is baseline=0.0. Tabular data get binary
    masks, one Bernoulli(p) draw per feature. The same masks explain every sample (as in the paper),
    drawn once from ``seed``, so they depend neither on the batch nor on ``batch_size``.
    Returns (N, H, W) for images. Cost: ``masks`` forward passes per sample.

    Parameters
    ----------
    masks : number of random masks N (default 2000; the paper used several thousand on ImageNet,
        2000 keeps the benchmark affordable on small images).
    cells : grid cells per side s (default 8); capped at half the image side, so 4 on 8x8 images.
    p : probability that a cell is kept (default 0.5).
    baseline : what masked-out input becomes: 0.0 (default, the paper's x * M), a number, "mean",
        "blur" or a callable.
    seed : seed of the masks (default 0).
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).
    """

    cost = "heavy"

    stochastic = True

    def __init__(
        self,
        *,
        masks: int = 2000,
        cells: int = 8,
        p: float = 0.5,
        baseline: Baseline = 0.0,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.masks = check_positive_int(masks, "masks")
        self.cells = check_positive_int(cells, "cells")
        self.p = check_probability(p, "p")
        self.baseline = check_baseline(baseline)
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: one forward pass per mask."""
        return {"forward": float(self.masks), "backward": 0.0}

    def mask_chunks(self, x: np.ndarray) -> Iterator[np.ndarray]:
        """The masks for inputs shaped like ``x``, float32 (k, n_features) chunks in order."""
        rng = np.random.default_rng(self.seed)
        if not is_image(x):
            yield (rng.random((self.masks, x.shape[1])) < self.p).astype(np.float32)
            return
        h, w = x.shape[1:3]
        s = grid_side(h, w, self.cells)
        cell_h, cell_w = -(-h // s), -(-w // s)
        grids = (rng.random((self.masks, s, s)) < self.p).astype(np.float64)
        shifts = rng.integers(0, [cell_h, cell_w], size=(self.masks, 2))
        up_h = interpolation_matrix(s, (s + 1) * cell_h)
        up_w = interpolation_matrix(s, (s + 1) * cell_w)
        step = max(1, CHUNK_VALUES // (4 * h * w))
        for i in range(0, self.masks, step):
            rows = up_h[shifts[i : i + step, :1] + np.arange(h)]  # (k, h, s)
            cols = up_w[shifts[i : i + step, 1:] + np.arange(w)]  # (k, w, s)
            m = rows @ grids[i : i + step] @ cols.transpose(0, 2, 1)
            yield m.reshape(len(m), h * w).astype(np.float32)

    def explain(self, model, x, y):
        base = baseline_values(x, self.baseline)
        saliency = np.zeros((len(x), n_features(x)))
        for m in self.mask_chunks(x):
            scores = masked_scores(model, x, y, base, m, batch_size=self.batch_size)
            saliency += scores @ m
        return unit_image(saliency / (self.masks * self.p), x)
