"""The base class of evaluation metrics."""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable, Mapping
from types import MappingProxyType

import numpy as np

from xaibench._baselines import needs_removed
from xaibench._categories import CATEGORIES  # noqa: F401  (re-exported)
from xaibench._checks import as_attributions, as_inputs, as_real, as_targets, own_copies
from xaibench._registry import Component, make_function_class
from xaibench.datasets.base import Parts
from xaibench.metrics._perturb import IMAGE_ONLY
from xaibench.metrics._ranking import tie_levels
from xaibench.models.outputs import check_targets

# np.trapezoid from numpy 2.0; np.trapz before (numpy >= 1.26 is supported).
_trapezoid = getattr(np, "trapezoid", None) or np.trapz


class Metric(Component, abc.ABC):
    """A metric: ``Metric(**settings)(model, x, y, a, explain=None, masks=None, parts=None) -> (N,)
    scores``.

    Subclasses implement ``score`` on validated arrays: ``x`` float32 (N, ...), ``y`` int64 (N,),
    ``a`` float64 (N, n_features) with channels summed, every row finite. Class metadata:
    ``higher_is_better``, ``category`` (one of CATEGORIES), ``needs_model``, ``needs_explain``
    (re-runs the method being scored), ``needs_masks`` (ground-truth relevant features),
    ``needs_parts`` (the samples' parts, rendered with some removed: ``parts=``, a
    ``datasets.base.Parts`` from ``Dataset.interventions``),
    ``stochastic`` (takes a ``seed``; the same seed gives the same scores), ``tradeoff`` (the
    axis of the tradeoff tables it feeds, one of TRADEOFF_AXES, or None).

    What it costs, read by the run's cost estimate (``xaibench.benchmark.cost``): ``model_calls``,
    the model calls it makes per sample besides the explanation it scores, a dict
    ``{"forward": f, "backward": b}`` (``"imputations": i`` too where it imputes images) or a
    method ``model_calls(input_shape, method_calls, model) -> dict | None`` given one sample's
    shape, the explained method's own calls per sample (None when unknown) and the model (None
    when not at hand); None (the default) = unknown. ``xaibench.metrics.cost.runtime.model_calls``
    reads and validates it, for methods and metrics alike. ``shared_work``: metrics of one
    explanation with equal non-None keys compute the same thing once (the second reuses it).
    ``shared_explanations(model)``: the keys of the re-explanations (each one call of the method
    on the samples) that other metrics make too and that are computed once (the randomisation
    metrics share the fully randomised model's, ``metrics.randomisation._randomised``); the
    estimate counts each key's call once.

    ``times_method``: it scores the method's own timing: a run's task (``executors``) hands it
    ``explain=Timed(method, seconds)``, the seconds of a warm call of the method on all the
    samples, timed once for every such metric (``metrics.cost.runtime.Timed``).

    ``sweep``: the settings ``xaibench run --sweep default`` varies, ``{setting: [values]}`` (the
    documented alternatives, e.g. a removal metric's baselines), or None.

    A sample whose attributions contain NaN or Inf scores NaN, and only that sample.

    A constant map (every feature's attribution equal up to round-off, ``informative``; an
    all-zero map included) ranks no feature above another: it says nothing about which features
    matter, so a metric of what a map says about features has nothing to score and gives NaN -
    the default, and the rule of every built-in metric but those that read the map's values as
    numbers, whose ``scores_constant_maps`` is True: completeness and infidelity (they compare
    the map's sum or its response to perturbations with the model's; a constant map is a
    definite answer there), max/avg sensitivity (how far the map moves; an all-zero map is NaN
    there for its own reason, a division by its norm) and runtime (does not read it). Without
    the rule, ranking metrics would score the feature order that breaks the ties (deletion of
    the pixels in row-major order), not the map.

    ``score`` (and ``compute_curves``) get their own copies of ``x``, ``y``, ``a`` and
    ``masks`` and must not change them: a metric that does is an error (``ModifiedInput``,
    naming it and the argument), never a score; the ``explain`` it is given copies its inputs
    the same way (``Method.__call__``). Scores must be real (complex ones are an error).
    """

    higher_is_better: bool = True
    category: str = "faithfulness"
    needs_model: bool = True
    needs_explain: bool = False
    needs_masks: bool = False
    needs_parts: bool = False
    stochastic: bool = False
    tradeoff: str | None = None
    model_calls: dict[str, float] | Callable[..., dict[str, float] | None] | None = None
    shared_work: Hashable | None = None
    sweep: Mapping[str, tuple] | None = None
    scores_constant_maps: bool = False
    times_method: bool = False  # scores the method's own timing (``runtime.Timed``)

    def shared_explanations(self, model) -> frozenset:
        """Keys of the re-explanations it shares with other metrics (none by default)."""
        return frozenset()

    def __call__(self, model, x, y, a, *, explain=None, masks=None, parts=None) -> np.ndarray:
        x, y, a, ok = self._validate(model, x, y, a, explain=explain, masks=masks, parts=parts)
        masks = np.asarray(masks) if self.needs_masks else None
        with own_copies(f"metric {self.name!r}", x=x, y=y, a=a, masks=masks) as given:
            x_own, y_own, a_own, masks_own = given
            extra = {"explain": explain} if self.needs_explain else {}
            if self.needs_masks:
                extra["masks"] = masks_own
            if self.needs_parts:
                extra["parts"] = parts  # read-only arrays (``datasets.base.Parts``)
            scores = self.score(model, x_own, y_own, a_own, **extra)
        scores = as_real(scores, np.float64, f"the scores of metric {self.name!r}")
        if scores.shape != (len(x),):
            raise ValueError(
                f"metric {self.name!r} returned scores of shape {scores.shape} for "
                f"{len(x)} samples; expected shape ({len(x)},)"
            )
        return np.where(ok, scores, np.nan)

    def _validate(self, model, x, y, a, *, explain=None, masks=None, parts=None):
        """``(x, y, a, ok)`` validated; ``ok`` marks the samples whose scores count: finite
        attributions and, unless the metric ``scores_constant_maps``, not constant
        (``informative``). The rows of non-finite ones are zeros. Every sample is scored (the
        others discarded after), so that a seeded metric's per-sample randomness does not shift
        when another sample is not, and that a metric that does not apply or a bad ``masks`` is
        an error whatever the attributions."""
        x = as_inputs(x)
        y = as_targets(y, len(x))
        a = as_attributions(a, x)
        if self.needs_model and model is None:
            raise ValueError(f"metric {self.name!r} reads the model; model=None was given")
        if model is not None and len(x):
            check_targets(model, x, y)
        if self.needs_explain and explain is None:
            raise ValueError(f"metric {self.name!r} re-runs the method: pass explain=<method>")
        if self.needs_masks and masks is None:
            raise ValueError(f"metric {self.name!r} needs ground truth: pass masks=")
        if self.needs_parts:
            _check_parts(self.name, parts, x)
        finite = np.isfinite(a).all(axis=1)
        a = np.where(finite[:, None], a, 0.0)
        ok = finite if self.scores_constant_maps else finite & informative(a)
        return x, y, a, ok

    @abc.abstractmethod
    def score(self, model, x: np.ndarray, y: np.ndarray, a: np.ndarray, **extra) -> np.ndarray:
        """One score per sample, float (N,), for validated inputs with finite attributions."""

    def scores_and_curves(self, model, x, y, a, *, explain=None, masks=None, parts=None):
        """``(scores, curves)``; curves is None for metrics without a curve."""
        return self(model, x, y, a, explain=explain, masks=masks, parts=parts), None


class CurveMetric(Metric):
    """A metric whose score summarises a per-sample curve over ``steps + 1`` points.

    Subclasses implement ``compute_curves`` and may override ``summarise`` (curves -> scores;
    default: the trapezoid area over [0, 1]), which ``score`` and ``scores_and_curves`` share.
    """

    steps: int

    def curves(self, model, x, y, a) -> np.ndarray:
        """The curve of every sample, float64 (N, steps + 1); NaN rows where the score is NaN by
        the class's rules (non-finite or constant attributions). Every sample is computed (the
        others set to NaN after), as in ``__call__``."""
        x, y, a, ok = self._validate(model, x, y, a)
        with own_copies(f"metric {self.name!r}", x=x, y=y, a=a) as (x_own, y_own, a_own):
            out = self.compute_curves(model, x_own, y_own, a_own)
        out = as_real(out, np.float64, f"the curves of metric {self.name!r}")
        if out.shape != (len(x), self.steps + 1):
            raise ValueError(
                f"metric {self.name!r} returned curves of shape {out.shape} for {len(x)} "
                f"samples; expected shape ({len(x)}, {self.steps + 1})"
            )
        return np.where(ok[:, None], out, np.nan)

    @abc.abstractmethod
    def compute_curves(self, model, x, y, a) -> np.ndarray:
        """Curves (N, steps + 1) for validated inputs with finite attributions."""

    def summarise(self, curves: np.ndarray) -> np.ndarray:
        """One score per sample from its curve, float (N,): the trapezoid area over x-axis
        [0, 1] unless a subclass says otherwise. A NaN row scores NaN."""
        return area_under(curves)

    def score(self, model, x, y, a, **extra):
        return self.summarise(self.compute_curves(model, x, y, a))

    def scores_and_curves(self, model, x, y, a, *, explain=None, masks=None, parts=None):
        """Both from one computation of the curves (NaN rows score NaN)."""
        curves = self.curves(model, x, y, a)
        return self.summarise(curves), curves


def informative(a: np.ndarray) -> np.ndarray:
    """Which rows of attributions ``a`` (N, n), finite, are not constant: bool (N,). Values equal
    up to round-off (the same tie level: ``_ranking.tie_levels``, 2**-14 of the row's largest
    |value|) count as equal, as they do for every metric that orders features, so the rule does
    not depend on the scale of the map.

    >>> informative(np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0], [1.0, 1.0 + 1e-9, 1.0], [0.0, 1e-30, 0.0]]))
    array([False, False, False,  True])
    """
    levels = tie_levels(a)
    return levels.max(axis=1) > levels.min(axis=1)


def _check_parts(name: str, parts, x: np.ndarray) -> None:
    """ValueError unless ``parts`` are the Parts of the samples ``x`` (one per sample, of their
    size; that they render ``x`` is checked where they are rendered)."""
    if parts is None:
        raise ValueError(
            f"metric {name!r} renders the samples without their parts: pass parts= "
            "(Dataset.interventions(indices) of shapes or scenes)"
        )
    if not isinstance(parts, Parts):
        raise ValueError(f"parts= must be a Parts (Dataset.interventions), got {type(parts)}")
    if parts.background.shape != x.shape:
        raise ValueError(
            f"parts= describe {len(parts)} samples of shape {parts.background.shape[1:]}; "
            f"x has {len(x)} of shape {x.shape[1:]}"
        )


def rerun_calls(method_calls: dict | None, times: float, forward: float = 0) -> dict | None:
    """The calls per sample of a metric that re-runs the explained method ``times`` times and
    makes ``forward`` forward passes of its own: None when the method's calls are unknown."""
    if method_calls is None:
        return None
    calls = {kind: times * value for kind, value in method_calls.items()}
    return {**calls, "forward": calls.get("forward", 0.0) + forward}


# The declaration of a metric that reads no model (read-only: shared by every such class).
NO_MODEL_CALLS = MappingProxyType({"forward": 0, "backward": 0})


def perturbation_calls(input_shape, baseline, forward: float, imputed: float) -> dict:
    """The calls per sample of a metric that scores ``forward`` perturbed copies, ``imputed`` of
    them with some (not all) features removed: those are imputed when ``baseline`` fills removed
    features from the kept ones ("noisy_linear"). With an image-only baseline on tabular data
    the metric does not apply (NotApplicable) and calls nothing."""
    if isinstance(baseline, str) and baseline in IMAGE_ONLY and len(input_shape) != 3:
        return dict(NO_MODEL_CALLS)
    calls = {"forward": forward, "backward": 0}
    return {**calls, "imputations": imputed} if needs_removed(baseline) else calls


def area_under(curves: np.ndarray) -> np.ndarray:
    """Trapezoid area of each row of ``curves`` over x-axis [0, 1]."""
    steps = curves.shape[1] - 1
    return _trapezoid(curves, dx=1.0 / steps, axis=1)


class FunctionMetric(Metric):
    """A metric registered as a function ``fn(model, x, y, a, **settings)``.

    It receives ``explain=`` / ``masks=`` / ``parts=`` keywords when it declares
    ``needs_explain`` / ``needs_masks`` / ``needs_parts`` at registration.
    """

    def score(self, model, x, y, a, **extra):
        return self._fn_call(model, x, y, a, **extra)  # made float64 by __call__ (as_real)


def wrap_function(fn) -> type[Metric]:
    return make_function_class(
        fn, FunctionMetric, 4, "_fn_call", exclude=("explain", "masks", "parts")
    )
