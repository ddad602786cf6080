"""Occlusion (Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional Networks")."""

from __future__ import annotations

import numpy as np

from xaibench._baselines import Baseline, baseline_values, check_baseline
from xaibench._checks import feature_view
from xaibench.methods import register
from xaibench.methods._patches import default_patch, unit_image, windows
from xaibench.methods._perturb import masked_scores
from xaibench.methods.base import Method, check_batch_size, check_positive_int
from xaibench.models.batching import model_batch
from xaibench.models.outputs import class_scores

# Rows of the model calls that score x itself: groups of FIXED_ROWS samples, then one at a time.
FIXED_ROWS = 8


def fixed_shape_scores(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Raw f_y(x), float64 (N,), from model calls of ``FIXED_ROWS`` inputs and, for the last
    N mod ``FIXED_ROWS`` samples, of one: shapes that depend on N only, never on ``batch_size``,
    so a sample's score has the same bits at any batch size (and no row is scored twice). A
    model of which the memory budget takes fewer than ``FIXED_ROWS`` inputs per forward call
    (``models.batching``, whatever ``batch_size`` says) reads every row alone."""
    auto = model_batch("auto", model, x.shape[1:], gradient=False)
    rows = FIXED_ROWS if auto >= FIXED_ROWS else 1
    full = len(x) - len(x) % rows
    head = class_scores(model, x[:full], y[:full], output="raw", batch_size=rows)
    tail = class_scores(model, x[full:], y[full:], output="raw", batch_size=1)
    return np.concatenate([head, tail])


@register("occlusion")
class Occlusion(Method):
    """Drop of the target output when a sliding patch is set to the baseline, averaged per pixel.

    Zeiler & Fergus (2014), "Visualizing and Understanding Convolutional Networks". A square patch
    (all channels) slides over the image; every position P gives the drop
    d_P = f_y(x) - f_y(x with P set to the baseline) of the raw target output. The attribution of a
    pixel is the mean of d_P over the patch positions covering it (as Captum's Occlusion), so with
    patch=1 it is exactly the drop of occluding that pixel alone. A patch whose pixels already
    equal the baseline changes nothing, and its drop is exactly 0. Tabular data are occluded one
    feature at a time (``patch`` and ``stride`` do not apply). Returns (N, H, W) for images.

    Patch positions start at 0 and move by ``stride``; when the stride leaves the last rows or
    columns uncovered, one more position flush with the border is added, so every pixel is covered.
    Cost: one forward pass per patch position per sample, plus one of x (170 on 28x28 with the
    defaults). x itself is scored in model calls of 8 rows (the last N mod 8 samples one at a
    time), so that f_y(x), which every drop subtracts, has the same bits whatever ``batch_size``.

    Parameters
    ----------
    patch : side of the square patch in pixels; None (default) = max(1, round(max(H, W) / 8)),
        i.e. 1 on 8x8, 4 on 28x28 and 32x32, 28 on 224x224. Capped at the image size.
    stride : step between patch positions; None (default) = max(1, patch // 2)
        (1 on 8x8, 2 on 28x28 and 32x32, 14 on 224x224).
    baseline : what occluded pixels become: 0.0 (default), a number, "mean", "blur" or a callable.
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).
    """

    def __init__(
        self,
        *,
        patch: int | None = None,
        stride: int | None = None,
        baseline: Baseline = 0.0,
        batch_size: int | str = "auto",
    ):
        self.patch = None if patch is None else check_positive_int(patch, "patch")
        self.stride = None if stride is None else check_positive_int(stride, "stride")
        self.baseline = check_baseline(baseline)
        self.batch_size = check_batch_size(batch_size)

    def patches(self, input_shape: tuple[int, ...]) -> np.ndarray:
        """The occluded features of every patch position for one input of ``input_shape``
        ((H, W, C) or (F,)), bool (P, n_features)."""
        if len(input_shape) != 3:
            return np.eye(input_shape[0], dtype=bool)
        h, w = input_shape[:2]
        patch = self.patch or default_patch(h, w)
        stride = self.stride or max(1, patch // 2)
        return windows(h, w, patch, stride)

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: x itself and one forward pass per patch position."""
        return {"forward": float(len(self.patches(input_shape)) + 1), "backward": 0.0}

    def explain(self, model, x, y):
        occluded = self.patches(x.shape[1:])
        base = baseline_values(x, self.baseline)
        # f_y(x) is subtracted from every drop, so its round-off adds up over the patches in the
        # attribution's sum (64 patches x 2 ulps of a logit of 17 = 1.2e-4 on digits). Calls of
        # one fixed shape give it the same bits whatever the batch size or N. (The drops' own
        # round-off is correlated too, nearly the same input through the same kernels, so the
        # sum keeps a floor of ~P ulps of f_y between batch sizes; README, Conventions.)
        full = fixed_shape_scores(model, x, y)
        drops = full[:, None] - masked_scores(
            model, x, y, base, ~occluded, batch_size=self.batch_size
        )
        # A patch whose pixels already equal the baseline leaves x unchanged: its drop is 0
        # exactly, not the round-off between two batches of the same input.
        differs = (feature_view(x) != feature_view(base)).any(axis=2)  # (N, features)
        drops[(differs.astype(np.float32) @ occluded.T.astype(np.float32)) == 0] = 0.0
        coverage = occluded.sum(axis=0)
        return unit_image(drops @ occluded / coverage, x)
