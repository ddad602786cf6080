"""Random logit test (Sixt, Granz & Landgraf 2020, "When Explanations Lie: Why Many Modified BP
Attributions Fail")."""

from __future__ import annotations

import numpy as np

from xaibench._checks import NotApplicable, as_attributions, check_batch_size, check_seed
from xaibench.metrics import register
from xaibench.metrics._stats import spearman_rows
from xaibench.metrics.base import Metric, rerun_calls
from xaibench.models.outputs import n_classes


def other_classes(y: np.ndarray, classes: int, seed) -> np.ndarray:
    """A uniformly random class != y for every sample, drawn in sample order from one stream:
    ``(y + default_rng(seed).integers(1, classes, size=len(y))) % classes``."""
    offsets = np.random.default_rng(seed).integers(1, classes, size=len(y))
    return (y + offsets) % classes


@register("random_logit")
class RandomLogit(Metric):
    """Spearman of |a| for the target class with |a| for a random other class; lower is better.

    An explanation that ignores the class scores 1.

    Sixt, Granz & Landgraf (2020), "When Explanations Lie: Why Many Modified BP Attributions Fail".
    For every sample a class y' != y is drawn uniformly,
    y' = (y + default_rng(seed).integers(1, C, size=N)) % C in sample order (C read from the model's
    output), the method is re-run once on the whole batch for y' (``explain=``), and the score is
    the Spearman rank correlation between |a| and |a_y'| (channels summed, average ranks for ties;
    values equal up to round-off are ties).
    A sample whose |a| or |a_y'| is constant scores NaN (the correlation is undefined).

    Parameters
    ----------
    seed : seed of the random classes (default 0).
    batch_size : unused: the method runs with its own batch size (kept for a uniform interface;
        default "auto").

    Example
    -------
    >>> q = xb.metrics.get("random_logit")
    >>> q(model, x, y, a, explain=xb.methods.get("saliency")).shape
    (4,)
    """

    higher_is_better = False
    category = "randomisation"
    stochastic = True
    needs_explain = True

    def __init__(self, *, seed: int = 0, batch_size: int | str = "auto"):
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape, method_calls, model):
        """The method re-run once, for the other classes."""
        return rerun_calls(method_calls, 1)

    def score(self, model, x, y, a, *, explain):
        classes = n_classes(model, x)
        if classes < 2:
            raise NotApplicable(f"random_logit needs at least 2 classes; the model has {classes}")
        a_other = as_attributions(
            explain(model, x, other_classes(y, classes, self.seed)), x, name="explain(model, x, y')"
        )
        return spearman_rows(np.abs(a), np.abs(a_other))
