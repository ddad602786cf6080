"""Distractibility (Hesse, Schaub-Meyer & Roth 2023, "FunnyBirds: A Synthetic Vision Dataset for a
Part-Based Analysis of Explainable AI Methods", ICCV)."""

from __future__ import annotations

from xaibench.metrics import register
from xaibench.metrics.ground_truth._parts import ThresholdMetric


@register("distractibility")
class Distractibility(ThresholdMetric):
    """Share of the parts irrelevant to the model that the explanation leaves unmarked.

    Higher is better.

    FunnyBirds's distractibility (Hesse et al. 2023): an explanation should not point at what
    the model ignores. Per sample, a part (class object, distractor or background:
    ``datasets.base.Parts``) is *irrelevant to the model* when removing it alone moves the target
    score f_y by less than 5% of f_y(x) or raises it (|f_y(x) - f_y(x without p)| < 0.05
    |f_y(x)|, or f_y(x without p) > f_y(x); f_y the logit by default, ``output``). With R the
    irrelevant parts and a part *important to the explanation* when its attribution mass
    (shapes' masks dilated by ``dilation`` pixels) exceeds tau times the sample's total
    attribution, the score is 1 - |important and in R| / |R|. A sample with no irrelevant part
    scores NaN (FunnyBirds skips it: there is nothing to be distracted by).

    tau: chosen as FunnyBirds does (see ``preservation_check``: the one tau of
    ``linspace(0.01, 0.50, 80)`` that maximises mean(csdc)/3 + mean(preservation)/3 +
    mean(deletion)/3 + mean(distractibility) over the scored samples), or fixed by ``tau``;
    ``chosen_tau`` says which. The background is one part, its texture, removed to its mean
    colour (FunnyBirds: each background object is a part); the explanation is for ``y``, as in
    FunnyBirds.

    Parameters
    ----------
    tau : None (FunnyBirds's sweep and choice, default) or a threshold in (0, 1).
    dilation : pixels each shape's mask is dilated by (default 2, FunnyBirds's 5x5 max-pool).
    output : "logit" (default, as FunnyBirds) or "probability": the target score f_y.
    batch_size : model inputs per call (default "auto").

    Example
    -------
    >>> d = xb.datasets.load("shapes")
    >>> model = xb.models.cls("cnn")().build(d.input_shape, d.n_classes, 0)
    >>> x, y, parts = d.x_test[:4], d.y_test[:4], d.interventions(np.arange(4))
    >>> xb.metrics.get("distractibility")(model, x, y, parts.masks[:, 0], parts=parts).shape
    (4,)
    """

    table = "distractibility"
