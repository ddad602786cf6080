"""Preservation check (Hesse, Schaub-Meyer & Roth 2023, "FunnyBirds: A Synthetic Vision Dataset for
a Part-Based Analysis of Explainable AI Methods", ICCV)."""

from __future__ import annotations

from xaibench.metrics import register
from xaibench.metrics.ground_truth._parts import ThresholdMetric


@register("preservation_check")
class PreservationCheck(ThresholdMetric):
    """1 when the prediction survives keeping only the parts the explanation marks important.

    Else 0; higher is better.

    FunnyBirds's preservation check (Hesse et al. 2023): an explanation is complete when the
    parts it marks important are enough for the model's decision. Per sample, with the parts
    of ``datasets.base.Parts`` (class object, distractors, background) and a part *important* when
    its attribution mass (shapes' masks dilated by ``dilation`` pixels) exceeds tau times the
    sample's total attribution (``metrics.ground_truth._parts``): the sample is rendered with
    every other part removed, and it scores 1 when the model's top class on that rendering is
    its top class on the sample.

    tau: FunnyBirds sweeps ``linspace(0.01, 0.50, 80)`` and reports every check at the one tau
    that maximises, over the scored samples, mean(csdc)/3 + mean(preservation)/3 +
    mean(deletion)/3 + mean(distractibility), csdc being FunnyBirds's controlled synthetic data
    check (the class object marked important, on the samples the model classifies correctly; the
    object is each class's one minimal sufficient part). ``tau=None`` (the default) does the
    same, so a sample's score depends on the other samples through tau (as in FunnyBirds);
    ``tau=<number>`` fixes it. ``chosen_tau`` says which tau was used.

    Departures from FunnyBirds: its preservation and deletion checks consider the bird's parts
    only; here every part is a candidate, distractors and background included (a bird is a set
    of parts, a shape is one). The explanation is the method's for the target ``y``; FunnyBirds
    explains the predicted class for this check (the same where the model classifies correctly).
    The background is one part, its texture: removing it leaves its mean colour, an image the
    models never saw in training (FunnyBirds removes background objects one by one). The
    model is read once per sample and subset of parts removed, for every method
    (``intervention_logits``).

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
    >>> q = xb.metrics.get("preservation_check")
    >>> q(model, x, y, parts.masks[:, 0], parts=parts).shape  # the class object as explanation
    (4,)
    """

    table = "preservation"
