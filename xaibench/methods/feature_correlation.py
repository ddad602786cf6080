"""Feature-score correlation: a global, model-aware baseline for tabular data."""

from __future__ import annotations

import numpy as np

from xaibench.methods import register
from xaibench.methods.base import Method, check_batch_size
from xaibench.models.outputs import class_scores


def pearson_columns(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of ``x`` (N, F) with ``s`` (N,); 0 where either is
    constant (the correlation is undefined)."""
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    sc = s.astype(np.float64) - s.mean()
    den = np.sqrt((xc * xc).sum(axis=0) * (sc * sc).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, sc @ xc / den, 0.0)


@register("feature_correlation")
class FeatureCorrelation(Method):
    """Global: Pearson correlation of each feature with the model's target output over the batch.

    A baseline common in tutorials rather than a published attribution method (it is a global
    summary of the model on the data, in the spirit of the correlation screening of Guyon &
    Elisseeff 2003, "An Introduction to Variable and Feature Selection", applied to the model's
    output instead of the labels). importance_j = Pearson(x_{:, j}, f_{y_i}(x_i) over samples i),
    with f_y the raw target output; a constant feature (or a constant output) gets 0. The same
    vector is broadcast to every sample, (N, F); a batch of one sample gets 0 everywhere. It says
    how a feature co-varies with the output, not what the model does with it: correlated features
    share credit, and a feature's sign is its marginal association. Tabular data only.
    Cost: one forward pass per sample.

    Parameters
    ----------
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).
    """

    inputs = ("tabular",)
    model_calls = {"forward": 1.0, "backward": 0.0}

    def __init__(self, *, batch_size: int | str = "auto"):
        self.batch_size = check_batch_size(batch_size)

    def explain(self, model, x, y):
        scores = class_scores(model, x, y, output="raw", batch_size=self.batch_size)
        return np.broadcast_to(pearson_columns(x, scores), x.shape).copy()
