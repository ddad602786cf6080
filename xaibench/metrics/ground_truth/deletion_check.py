"""Deletion check (Hesse, Schaub-Meyer & Roth 2023, "FunnyBirds: A Synthetic Vision Dataset for a
Part-Based Analysis of Explainable AI Methods", ICCV)."""

from __future__ import annotations

from xaibench.metrics import register
from xaibench.metrics.ground_truth._parts import ThresholdMetric


@register("deletion_check")
class DeletionCheck(ThresholdMetric):
    """1 when the prediction changes once the parts the explanation marks important are gone.

    Else 0; higher is better.

    FunnyBirds's deletion check (Hesse et al. 2023): the parts an explanation marks important
    should be ones the model's decision needs. Per sample, with the parts of
    ``datasets.base.Parts`` (class object, distractors, background) and a part *important* when
    its attribution mass (shapes' masks dilated by ``dilation`` pixels) exceeds tau times the
    sample's total attribution (``metrics.ground_truth._parts``): the sample is rendered with the
    important parts removed, and it scores 1 when the model's top class on that rendering differs
    from its top class on the sample (0 when no part is important: nothing is removed).

    tau: chosen as FunnyBirds does (see ``preservation_check``: the one tau of
    ``linspace(0.01, 0.50, 80)`` that maximises mean(csdc)/3 + mean(preservation)/3 +
    mean(deletion)/3 + mean(distractibility) over the scored samples), or fixed by ``tau``;
    ``chosen_tau`` says which. Departures from FunnyBirds as for ``preservation_check``: every
    part is a candidate (FunnyBirds: the bird's parts), the explanation is for the target ``y``
    (FunnyBirds: the predicted class), the background is one part removed to its mean colour.

    Parameters
    ----------
    tau : None (FunnyBirds's sweep and choice, default) or a threshold in (0, 1).
    dilation : pixels each shape's mask is dilated by (default 2, FunnyBirds's 5x5 max-pool).
    output : "logit" (default) or "probability": the target score of distractibility, which
        takes part in the choice of tau.
    batch_size : model inputs per call (default "auto").

    Example
    -------
    >>> d = xb.datasets.load("shapes")
    >>> model = xb.models.cls("cnn")().build(d.input_shape, d.n_classes, 0)
    >>> x, y, parts = d.x_test[:4], d.y_test[:4], d.interventions(np.arange(4))
    >>> xb.metrics.get("deletion_check")(model, x, y, parts.masks[:, 0], parts=parts).shape
    (4,)
    """

    table = "deletion"
