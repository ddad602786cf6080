"""Permutation feature importance (Breiman 2001, "Random Forests"; Fisher, Rudin & Dominici 2019,
"All Models are Wrong, but Many are Useful")."""

from __future__ import annotations

import numpy as np

from xaibench.methods import register
from xaibench.methods.base import (
    CHUNK_VALUES,
    Method,
    check_batch_size,
    check_positive_int,
    check_seed,
)
from xaibench.models.outputs import class_scores


@register("permutation_importance")
class PermutationImportance(Method):
    """Global: mean drop of the target output when a feature column is shuffled across the batch.

    Breiman (2001), "Random Forests"; Fisher, Rudin & Dominici (2019), "All Models are Wrong, but
    Many are Useful" (model reliance). For every feature j and repeat r, column j of the explained
    batch is permuted (the other columns stay), and
    importance_j = mean_{r, i} [f_{y_i}(x_i) - f_{y_i}(x_i with x_ij replaced by x_{pi_r(i) j})],
    the drop of each sample's raw target output (the loss of Fisher et al. replaced by minus the
    target output; methods explain the raw output). Like the loss of the original, it measures how
    a feature's effect lines up with the targets: the targets should vary with the inputs (labels
    or predicted classes); if every sample has the same target, a term linear in x_j averages to 0
    under any permutation. A global method: the importance is a property of the model on the
    batch, broadcast to every sample, (N, F). A feature the model ignores gets exactly 0; a batch
    of one sample cannot be permuted and gets 0 everywhere. Tabular data only.
    Permutations are drawn from ``seed`` for the whole batch, so they do not depend on
    ``batch_size`` (they do depend on the batch: the method is global).
    Cost: 1 + repeats * F forward passes per sample.

    Parameters
    ----------
    repeats : permutations per feature, averaged (default 5).
    seed : seed of the permutations (default 0).
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).
    """

    inputs = ("tabular",)
    stochastic = True

    def __init__(self, *, repeats: int = 5, seed: int = 0, batch_size: int | str = "auto"):
        self.repeats = check_positive_int(repeats, "repeats")
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape) -> dict[str, float] | None:
        """Per sample: x itself and one copy per repeat and feature (tabular rows only)."""
        if len(input_shape) != 1:
            return None  # the method does not apply
        return {"forward": float(1 + self.repeats * input_shape[0]), "backward": 0.0}

    def explain(self, model, x, y):
        n, f = x.shape
        rng = np.random.default_rng(self.seed)
        perms = np.argsort(rng.random((self.repeats, f, n)), axis=-1)  # (repeats, F, N)
        full = class_scores(model, x, y, output="raw", batch_size=self.batch_size)
        chunk = max(1, CHUNK_VALUES // (self.repeats * n * f))
        importance = np.empty(f)
        for s in range(0, f, chunk):
            cols = np.arange(s, min(f, s + chunk))
            copies = np.broadcast_to(x, (self.repeats, len(cols), n, f)).copy()
            at = np.arange(len(cols))[:, None]  # copies[r, at, i, cols[at]] = x[perm(i), cols[at]]
            copies[:, at, np.arange(n), cols[:, None]] = x[perms[:, cols], cols[None, :, None]]
            scores = class_scores(
                model,
                copies.reshape(-1, f),
                np.tile(y, self.repeats * len(cols)),
                output="raw",
                batch_size=self.batch_size,
            ).reshape(self.repeats, len(cols), n)
            importance[cols] = (full - scores).mean(axis=(0, 2))
        return np.broadcast_to(importance, (n, f)).copy()
