"""Background independence (Hesse, Schaub-Meyer & Roth 2023, "FunnyBirds: A Synthetic Vision
Dataset for a Part-Based Analysis of Explainable AI Methods", ICCV): a property of the model."""

from __future__ import annotations

from xaibench.metrics import register
from xaibench.metrics.ground_truth._parts import (
    InterventionMetric,
    intervention_logits,
    irrelevant,
    target_scores,
)


@register("background_independence")
class BackgroundIndependence(InterventionMetric):
    """1 when removing the background does not lower the target logit by 5%: a model property.

    Else 0; the same for every method; higher is better.

    FunnyBirds's background independence (Hesse et al. 2023): the share of background parts
    irrelevant to the model, the rule of ``distractibility`` (|f_y(x) - f_y(x without p)| <
    0.05 |f_y(x)|, or f_y(x without p) > f_y(x); f_y the logit by default, ``output``). Here each
    sample has one background part, its texture (removed: its mean colour,
    ``datasets.base.Parts``), so its mean over the samples is FunnyBirds's score (which pools
    every background object of every sample). It reads no attribution: it is reported beside
    the ground-truth metrics to say whether the model uses the background, in its own category
    ``model_property``, which ranks no method (every method gets the same scores).

    Parameters
    ----------
    output : "logit" (default, as FunnyBirds) or "probability": the target score f_y.
    batch_size : model inputs per call (default "auto").

    Example
    -------
    >>> d = xb.datasets.load("shapes")
    >>> model = xb.models.cls("cnn")().build(d.input_shape, d.n_classes, 0)
    >>> x, y, parts = d.x_test[:4], d.y_test[:4], d.interventions(np.arange(4))
    >>> q = xb.metrics.get("background_independence")
    >>> q(model, x, y, parts.masks[:, 0], parts=parts).shape
    (4,)
    """

    category = "model_property"
    scores_constant_maps = True  # a property of the model: it reads no attribution

    def __init__(self, *, output: str = "logit", batch_size="auto"):
        super().__init__(output=output, batch_size=batch_size)

    def score(self, model, x, y, a, *, parts):
        f = target_scores(
            intervention_logits(model, x, parts, batch_size=self.batch_size), y, self.output
        )
        return irrelevant(f, parts.present)[:, -1].astype(float)
