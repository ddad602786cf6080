"""Ground truth by intervention (FunnyBirds: Hesse, Schaub-Meyer & Roth, ICCV 2023): what the
metrics of this category share.

A sample's *parts* (``datasets.base.Parts``) are its class object, each distractor and its
background; the dataset renders the sample with any set of them removed, so whether a part matters
to the model has a true answer. Every sample is rendered with each of the 2^P subsets of its P part
slots removed and the model read once on all of them (``intervention_logits``; the same for every
method, so it is computed once per model and samples and reused).

A part matters to the *explanation* by its attribution mass: the sum of the (signed, channel-summed)
attribution over the part's mask, each shape's mask dilated by ``dilation`` pixels (FunnyBirds: a
5x5 max-pool, ``dilation=2``; the background, every pixel outside the shapes, is not dilated: a
dilated background would take in every shape's rim). A part is *important* at threshold tau when
its mass exceeds tau times the sample's total attribution (``important``); tau runs over FunnyBirds's
80 thresholds ``linspace(0.01, 0.50, 80)``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy.ndimage import binary_dilation

from xaibench._checks import check_batch_size, samples_per_chunk
from xaibench.metrics._memo import LastResult, fingerprint, model_key
from xaibench.metrics.base import Metric
from xaibench.models.batching import model_batch
from xaibench.models.outputs import check_output, forward_fn

THRESHOLDS = np.linspace(0.01, 0.50, 80)  # FunnyBirds's get_p_thresholds
RELEVANT_DROP = 0.05  # a removal moving the target logit by < 5% (or raising it): irrelevant
MAX_PARTS = 4  # part slots of the built-in datasets (shapes: object, 2 distractors, background)


def removal_sets(p: int) -> np.ndarray:
    """(2^p, p) bool: row s removes part k when bit k of s is set (row 0 removes nothing).

    >>> removal_sets(2).astype(int).tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    return (np.arange(2**p)[:, None] >> np.arange(p)) & 1 == 1


def set_index(removed: np.ndarray) -> np.ndarray:
    """The row of ``removal_sets`` that removes ``removed`` (bool (..., p)), int (...)."""
    return (removed.astype(np.int64) << np.arange(removed.shape[-1])).sum(axis=-1)


# The last table computed: every metric of the category, for every method of a (dataset, model),
# reads the same one (the runner scores them one after the other).
_LAST = LastResult()


def intervention_logits(model, x: np.ndarray, parts, *, batch_size="auto") -> np.ndarray:
    """The model's logits (``output="logit"``) for every sample rendered with each subset of its
    parts removed, float64 (N, 2^P, classes), rows in ``removal_sets(P)`` order. ValueError when
    ``parts`` do not render ``x`` with nothing removed. Reuses the previous call's table when the
    model (the object and its weights), ``x``, the parts and ``batch_size`` are the same."""
    key = (
        model_key(model),
        fingerprint(x, parts.masks, parts.background, parts.colours),
        batch_size,
    )
    return _LAST.get(key, partial(_logits, model, x, parts, batch_size), keep=(model,))


def _logits(model, x, parts, batch_size) -> np.ndarray:
    p = len(parts.names)
    if not np.array_equal(parts.render(np.zeros((len(x), p), bool)), x):
        raise ValueError(
            "parts= do not render x: pass the Parts of the same samples, in the same order "
            "(Dataset.interventions(indices) for x = Dataset.x_test[indices])"
        )
    sets = removal_sets(p)
    forward = forward_fn(model, "logit")
    size = model_batch(batch_size, model, x.shape[1:], gradient=False)
    step = samples_per_chunk(x, len(sets))
    out = []
    for s in range(0, len(x), step):
        chunk = parts.take(slice(s, s + step))
        removed = np.broadcast_to(sets[:, None], (len(sets), len(chunk), p))
        images = chunk.render(removed).reshape((-1, *x.shape[1:]))  # set-major
        z = [np.asarray(forward(images[i : i + size])) for i in range(0, len(images), size)]
        out.append(np.concatenate(z).reshape(len(sets), len(chunk), -1).swapaxes(0, 1))
    return np.concatenate(out).astype(np.float64)


def target_scores(table: np.ndarray, y: np.ndarray, output: str) -> np.ndarray:
    """f_y of every rendering, float64 (N, 2^P): the logit, or its softmax probability."""
    if output == "probability":
        z = table - table.max(axis=-1, keepdims=True)
        table = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    return np.take_along_axis(table, y[:, None, None], axis=2)[..., 0]


def irrelevant(f: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N, P) bool: the present parts whose removal alone moves the target score by less than
    ``RELEVANT_DROP`` of it, or raises it (FunnyBirds: |f0 - f_p| < 0.05 |f0| or f_p > f0);
    ``f`` is ``target_scores`` (N, 2^P)."""
    p = present.shape[1]
    f0, alone = f[:, :1], f[:, 2 ** np.arange(p)]
    return ((np.abs(f0 - alone) < RELEVANT_DROP * np.abs(f0)) | (alone > f0)) & present


def part_mass(a: np.ndarray, parts, dilation: int) -> np.ndarray:
    """Attribution mass of every part, float64 (N, P): ``a`` (N, H*W, channels summed) summed over
    each shape's mask dilated by ``dilation`` pixels (a (2d+1)^2 square) and over the background's
    mask as it is; 0 for a part a sample lacks."""
    masks = parts.masks.copy()
    if dilation:
        square = np.ones((1, 1, 2 * dilation + 1, 2 * dilation + 1), bool)
        masks[:, :-1] = binary_dilation(masks[:, :-1], structure=square)
    masks &= parts.present[:, :, None, None]
    return np.einsum("nf,npf->np", a, masks.reshape(*masks.shape[:2], -1).astype(np.float64))


def important(mass: np.ndarray, total: np.ndarray, present: np.ndarray, taus) -> np.ndarray:
    """(N, T, P) bool: the present parts whose mass exceeds tau x the total attribution, for each
    tau of ``taus`` (FunnyBirds: ``part_importance > attribution.sum() * threshold``)."""
    taus = np.asarray(taus, np.float64)
    return (mass[:, None, :] > taus[None, :, None] * total[:, None, None]) & present[:, None, :]


def threshold_tables(model, x, y, a, parts, *, dilation, output, batch_size, taus):
    """Per (sample, tau), float64 (N, T) each: FunnyBirds's controlled synthetic data check
    (``csdc``: the class object marked important; NaN where the model misclassifies the
    sample), ``preservation`` and ``deletion`` checks and ``distractibility`` (see the metrics)."""
    table = intervention_logits(model, x, parts, batch_size=batch_size)
    predicted = table.argmax(axis=-1)  # (N, 2^P)
    present = parts.present
    imp = important(part_mass(a, parts, dilation), a.sum(axis=1), present, taus)
    rows = np.arange(len(x))[:, None]
    kept = predicted[rows, set_index(present[:, None] & ~imp)] == predicted[:, :1]
    deleted = predicted[rows, set_index(imp)] != predicted[:, :1]
    csdc = np.where(predicted[:, :1] == y[:, None], imp[..., 0], np.nan)
    loose = irrelevant(target_scores(table, y, output), present)[:, None]  # (N, 1, P)
    count = loose.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        distract = np.where(count > 0, 1.0 - (imp & loose).sum(axis=-1) / count, np.nan)
    return {
        "csdc": csdc.astype(np.float64),
        "preservation": kept.astype(np.float64),
        "deletion": deleted.astype(np.float64),
        "distractibility": distract,
    }


def best_threshold(tables: dict) -> int:
    """FunnyBirds's choice of tau: the one that maximises csdc/3 + preservation/3 + deletion/3 +
    distractibility, each the mean over the samples where it is defined (0 where none is); the
    smallest such tau on ties."""

    def mean(t):
        defined = np.isfinite(t)
        return np.where(defined.any(axis=0), np.nansum(t, axis=0) / defined.sum(axis=0).clip(1), 0)

    completeness = mean(tables["csdc"]) + mean(tables["preservation"]) + mean(tables["deletion"])
    return int(np.argmax(completeness / 3 + mean(tables["distractibility"])))


class InterventionMetric(Metric):
    """A metric of ground truth by intervention: renders the samples without their parts
    (``parts=``, from ``Dataset.interventions``); higher is better. Settings shared by the
    category: ``dilation``, ``output``, ``batch_size``."""

    category = "ground_truth"
    needs_parts = True
    # every sample rendered with each subset of its P parts removed, once per (model, samples):
    # 2^P forward passes, declared for P = MAX_PARTS (shapes; twice what scenes' 3 parts need)
    model_calls = {"forward": 2**MAX_PARTS, "backward": 0}

    def __init__(self, *, dilation: int = 2, output: str = "logit", batch_size="auto"):
        if isinstance(dilation, bool) or not isinstance(dilation, int | np.integer) or dilation < 0:
            raise ValueError(f"dilation must be a non-negative integer (pixels), got {dilation!r}")
        self.dilation = int(dilation)
        self.output = check_output(output)
        self.batch_size = check_batch_size(batch_size)

    @property
    def shared_work(self):
        """Every metric of the category reads one table of renderings (``intervention_logits``)."""
        return ("intervention_logits", self.batch_size)


class ThresholdMetric(InterventionMetric):
    """A metric that marks parts important at a threshold tau: FunnyBirds's sweep and choice
    (``tau=None``: ``best_threshold``) or a fixed ``tau`` in (0, 1)."""

    table: str  # the key of ``threshold_tables`` a subclass scores

    def __init__(
        self,
        *,
        tau: float | None = None,
        dilation: int = 2,
        output: str = "logit",
        batch_size="auto",
    ):
        super().__init__(dilation=dilation, output=output, batch_size=batch_size)
        if tau is not None and not (isinstance(tau, float | int) and 0 < tau < 1):
            raise ValueError(f"tau must be None (FunnyBirds's sweep) or in (0, 1), got {tau!r}")
        self.tau = None if tau is None else float(tau)

    def tables(self, model, x, y, a, parts) -> tuple[dict, np.ndarray]:
        """``threshold_tables`` over the swept (or the one fixed) tau, and the taus."""
        taus = THRESHOLDS if self.tau is None else np.array([self.tau])
        tables = threshold_tables(
            model,
            x,
            y,
            a,
            parts,
            dilation=self.dilation,
            output=self.output,
            batch_size=self.batch_size,
            taus=taus,
        )
        return tables, taus

    def chosen_tau(self, model, x, y, a, *, parts) -> float:
        """The tau the scores are read at (FunnyBirds's choice over the samples, or ``tau``)."""
        x, y, a, _ = self._validate(model, x, y, a, parts=parts)
        tables, taus = self.tables(model, x, y, a, parts)
        return float(taus[best_threshold(tables)])

    def score(self, model, x, y, a, *, parts):
        tables, _ = self.tables(model, x, y, a, parts)
        return tables[self.table][:, best_threshold(tables)]
