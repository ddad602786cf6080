"""Single deletion (Hesse, Schaub-Meyer & Roth 2023, "FunnyBirds: A Synthetic Vision Dataset for a
Part-Based Analysis of Explainable AI Methods", ICCV)."""

from __future__ import annotations

import numpy as np

from xaibench.metrics import register
from xaibench.metrics._stats import spearman_rows
from xaibench.metrics.ground_truth._parts import (
    InterventionMetric,
    intervention_logits,
    part_mass,
    target_scores,
)


@register("single_deletion")
class SingleDeletion(InterventionMetric):
    """Spearman of the parts' attribution mass with their removal's logit drop, in [0, 1].

    Each part's drop is the target score's when that part alone is removed; higher is better.

    FunnyBirds's single deletion (Hesse et al. 2023): the more a part matters to the model, the
    more attribution it should get. Per sample, for every part p it has (class object,
    distractors, background: ``datasets.base.Parts``): drop_p = f_y(x) - f_y(x without p) (f_y
    the logit by default, ``output``) and its attribution mass m_p (the signed, channel-summed
    attribution summed over its mask, shapes' masks dilated by ``dilation`` pixels as in
    FunnyBirds); the score is 0.5 + 0.5 x Spearman(drop, m) over the parts (average ranks for
    ties, values equal up to round-off tied: ``metrics._ranking``). NaN where either is constant
    over the parts (FunnyBirds skips such samples). Departures: FunnyBirds correlates over the
    bird's parts; here over every part, distractors and background (its texture, removed to its
    mean colour) included, so 2 to 4 parts per sample on the built-in datasets (a 2-part
    sample scores 0 or 1).

    Parameters
    ----------
    dilation : pixels each shape's mask is dilated by (default 2, FunnyBirds's 5x5 max-pool).
    output : "logit" (default, as FunnyBirds) or "probability": the target score f_y.
    batch_size : model inputs per call (default "auto").

    Example
    -------
    >>> d = xb.datasets.load("shapes")
    >>> model = xb.models.cls("cnn")().build(d.input_shape, d.n_classes, 0)
    >>> x, y, parts = d.x_test[:4], d.y_test[:4], d.interventions(np.arange(4))
    >>> xb.metrics.get("single_deletion")(model, x, y, parts.masks[:, 0], parts=parts).shape
    (4,)
    """

    def score(self, model, x, y, a, *, parts):
        f = target_scores(
            intervention_logits(model, x, parts, batch_size=self.batch_size), y, self.output
        )
        p = len(parts.names)
        drop = f[:, :1] - f[:, 2 ** np.arange(p)]
        mass = part_mass(a, parts, self.dilation)
        present = parts.present
        out = np.full(len(x), np.nan)
        for pattern in np.unique(present, axis=0):  # a few patterns of parts, not samples
            rows = (present == pattern).all(axis=1)
            out[rows] = spearman_rows(drop[rows][:, pattern], mass[rows][:, pattern])
        return 0.5 + 0.5 * out
