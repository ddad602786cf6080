"""Meta-evaluation of the metrics of a run (Hedström, Bommer, Wickstrøm, Samek, Lapuschkin &
Höhne 2023, "The Meta-Evaluation Problem in Explainable AI: Identifying Reliable Estimators with
MetaQuantus", TMLR): how each metric's scores move under perturbations that keep the model's
prediction (noise resilience, NR: they should not) and under perturbations that change it
(adversary reactivity, AR: they should).

The cells it adds to a run, per (dataset, model, method, metric), are computed in the task of
the method (``executors.compute_method``), on a subset of the run's samples (``samples``):

- ``meta:reference``: the metric's scores q on the subset, the method explaining the subset on
  the model as it is (the statistics compare q' with these: the same samples in the same
  positions, so a seeded metric draws the same noise for a sample in both);
- ``meta:model:<nr|ar>:<l>:<k>`` (model perturbation test): every parameter w of the model becomes
  w * eta, eta ~ N(1, sigma^2) (``models.perturb.scaled_weights``; sigma ``sigma_nr`` or
  ``sigma_ar``); the method explains the subset on the perturbed model once and every metric
  scores that explanation on it;
- ``meta:input:<nr|ar>:<l>:<k>`` (input perturbation test): x' = clip(x + U(-eps, eps) * r) with
  r the sample's range (max - min of its values, as the radius of max/avg sensitivity) and the
  clip to the sample's own [min, max]; every metric scores the explanation of the clean x
  (the reference's) on x'.

A perturbed cell's scores are q' on the samples its test keeps (NR: the model's predicted class
is unchanged by the perturbation; AR: it changed) and NaN on the others, so the cell itself says
which samples count: no separate mask is stored. ``l`` < ``iterations``, ``k`` < ``perturbations``
(MetaQuantus: 3 x 5); each (test, strength, l, k) has its own seed, derived from the run's seed,
and is the same for every method and metric (the methods are ranked under the same perturbation).
The statistics (IAC, IEC, MC) are ``xaibench.results.meta``'s.

Departures from MetaQuantus: the methods explain the targets of the run (the true classes), not
the model's predictions; input noise is scaled to each sample's range and clipped to it
(MetaQuantus adds U(-eps, eps) to normalised inputs, unclipped: its 0.001 and 5.0 on MNIST
normalised to a range of ~3.25 are ~0.0003 and ~1.5 of the range; ``eps_ar`` = 1.5 follows
that, ``eps_nr`` = 0.001 is its number as it is); metrics of category ``cost`` (runtime) are not
meta-evaluated (they time the method, they do not judge its explanation).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, fields

import numpy as np

from xaibench._checks import check_positive, sample_range
from xaibench.models.batching import model_batch
from xaibench.models.outputs import forward_fn
from xaibench.models.perturb import scaled_weights

TESTS = ("model", "input")
STRENGTHS = ("nr", "ar")
REFERENCE = "meta:reference"
SKIPPED_CATEGORIES = ("cost",)


@dataclass(frozen=True)
class MetaSettings:
    """The meta-evaluation of a run (config ``[meta]``; defaults: MetaQuantus's budget).

    ``iterations`` x ``perturbations`` per test and strength; ``samples``: how many of the run's
    samples are perturbed (None: all); ``tests``: "model", "input" or both; ``sigma_nr`` /
    ``sigma_ar``: the standard deviation of the weights' factors; ``eps_nr`` / ``eps_ar``: the
    input noise's half-width as a fraction of a sample's range."""

    iterations: int = 3
    perturbations: int = 5
    samples: int | None = None
    tests: tuple[str, ...] = TESTS
    sigma_nr: float = 0.001
    sigma_ar: float = 2.0
    eps_nr: float = 0.001
    eps_ar: float = 1.5

    @classmethod
    def from_config(cls, table: dict, where: str = "[meta]") -> MetaSettings:
        """The settings of a config's ``[meta]`` table (``{}``: the defaults); ValueError naming
        the first bad key or value."""
        if not isinstance(table, dict):
            raise ValueError(f"{where} must be true, false or a table of settings, got {table!r}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ValueError(
                f"{where}: unknown setting {unknown[0]!r}; valid settings: {', '.join(known)}"
            )
        values = dict(table)
        for key in ("iterations", "perturbations", "samples"):
            value = values.get(key)
            if key in values and not (key == "samples" and value is None):
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"{where} {key} must be a positive integer, got {value!r}")
        if "tests" in values:
            tests = values["tests"]
            tests = [tests] if isinstance(tests, str) else tests
            if not isinstance(tests, list | tuple) or not tests or set(tests) - set(TESTS):
                raise ValueError(
                    f"{where} tests must list {' and/or '.join(map(repr, TESTS))}, got {tests!r}"
                )
            values["tests"] = tuple(t for t in TESTS if t in tests)
        for key in ("sigma_nr", "sigma_ar", "eps_nr", "eps_ar"):
            if key in values:
                try:
                    values[key] = check_positive(values[key], f"{where} {key}")
                except ValueError as err:
                    raise ValueError(str(err)) from None
        return cls(**values)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def cells_per_metric(self) -> int:
        """Meta-evaluation cells per (dataset, model, method, metric): the reference and one per
        test, strength, iteration and perturbation."""
        return 1 + len(self.tests) * len(STRENGTHS) * self.iterations * self.perturbations

    def positions(self, n: int, seed: int) -> tuple[int, ...]:
        """The positions among a pair's ``n`` samples that are perturbed: all of them, or
        ``samples`` drawn with ``seed`` (sorted)."""
        if self.samples is None or self.samples >= n:
            return tuple(range(n))
        rng = np.random.default_rng([seed, 27])
        return tuple(int(i) for i in np.sort(rng.choice(n, size=self.samples, replace=False)))

    def size(self, test: str, strength: str) -> float:
        """sigma (model test) or eps (input test) of ``strength``."""
        return getattr(self, f"{'sigma' if test == 'model' else 'eps'}_{strength}")


@dataclass(frozen=True)
class Perturbation:
    """One perturbation of the meta-evaluation on one pair: ``test`` ("reference", "model",
    "input"), ``strength`` ("nr", "ar"), iteration ``l``, index ``k``, its ``size`` (sigma or
    eps) and ``seed``, and the ``positions`` of the pair's samples it perturbs."""

    test: str
    positions: tuple[int, ...]
    strength: str | None = None
    l: int | None = None  # noqa: E741 - the paper's name
    k: int | None = None
    size: float | None = None
    seed: int | None = None

    @property
    def variant(self) -> str:
        """The store's ``variant`` of its cells."""
        if self.test == "reference":
            return REFERENCE
        return f"meta:{self.test}:{self.strength}:{self.l}:{self.k}"

    def settings(self) -> dict:
        """What a cell's key hashes of it (besides everything the configured cell hashes)."""
        return {
            "test": self.test,
            "strength": self.strength,
            "iteration": self.l,
            "perturbation": self.k,
            "size": self.size,
            "seed": self.seed,
            "positions": list(self.positions),
        }


def perturbation_seed(seed: int, test: str, strength: str, l: int, k: int) -> int:  # noqa: E741
    """The seed of one perturbation, from the run's ``seed``: the same for every method, metric
    and pair of the run."""
    entropy = [seed, TESTS.index(test), STRENGTHS.index(strength), l, k]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def perturbations(settings: MetaSettings, seed: int, n: int) -> list[Perturbation]:
    """The reference, then every (test, strength, l, k) of ``settings`` on a pair of ``n``
    samples, in that order."""
    positions = settings.positions(n, seed)
    out = [Perturbation("reference", positions)]
    for test in settings.tests:
        for strength in STRENGTHS:
            for l in range(settings.iterations):  # noqa: E741
                for k in range(settings.perturbations):
                    s = perturbation_seed(seed, test, strength, l, k)
                    size = settings.size(test, strength)
                    out.append(Perturbation(test, positions, strength, l, k, size, s))
    return out


# Why the input test does not meta-evaluate the metrics that render a sample without its parts.
INPUT_PARTS = (
    "the input test perturbs the pixels, but a sample's parts (Dataset.interventions) render "
    "the clean sample: a metric over interventions is meta-evaluated by the model test only"
)


def evaluated(metric) -> bool:
    """Whether the meta-evaluation scores ``metric`` (not a cost metric: it times the method)."""
    return metric.category not in SKIPPED_CATEGORIES


def perturb_input(x: np.ndarray, eps: float, seed: int) -> np.ndarray:
    """x + U(-eps, eps) * r, r each sample's range (``sample_range``), clipped to the sample's own
    [min, max]; the noise drawn from ``np.random.default_rng(seed)`` in sample order."""
    r = sample_range(x).reshape((-1,) + (1,) * (x.ndim - 1))
    noise = np.random.default_rng(seed).uniform(-eps, eps, x.shape)
    flat = x.reshape(len(x), -1)
    low = flat.min(axis=1).reshape(r.shape)
    high = flat.max(axis=1).reshape(r.shape)
    return np.clip(x + noise * r, low, high).astype(x.dtype)


def predicted(model, x: np.ndarray) -> np.ndarray:
    """The class ``model`` predicts for each sample (int64 (N,)); -1 where its output is not
    finite (a model perturbed into overflow predicts nothing)."""
    fn = forward_fn(model, "raw")
    size = model_batch("auto", model, x.shape[1:], gradient=False)
    out = np.concatenate([np.asarray(fn(x[i : i + size])) for i in range(0, len(x), size)])
    out = out.reshape(len(x), -1)
    return np.where(np.isfinite(out).all(axis=1), out.argmax(axis=1), -1)


def kept(strength: str, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The samples a test of ``strength`` keeps: NR those whose predicted class did not change,
    AR those whose did (a sample predicted nothing, -1, before is kept by neither)."""
    changed = before != after
    return (before >= 0) & (changed if strength == "ar" else ~changed)


class MetaTask:
    """The meta-evaluation cells of one method's task on one pair: the ``positions`` of ``x``
    it perturbs (with their sample ids ``samples``), the method's explanation ``a`` of all of
    ``x`` (reused as the reference's when the subset is all of ``x``). The reference explanation
    and the model's predictions on the subset are computed once, on first use."""

    def __init__(self, model, method, x, y, *, masks, samples, a, positions, parts=None):
        p = np.asarray(positions, dtype=int)
        self.model, self.method, self.everything = model, method, len(p) == len(x)
        self.x, self.y = x[p], y[p]
        self.masks = masks[p] if masks is not None else None
        self.parts = parts.take(p) if parts is not None else None
        self.samples = samples[p] if samples is not None else p
        self._a = a if self.everything else None
        self._seconds = 0.0 if self.everything else None
        self._predicted = None

    def reference(self) -> tuple[np.ndarray, float]:
        """The method's explanation of the subset on the model as it is, and its seconds."""
        if self._a is None:
            start = time.perf_counter()
            self._a = self.method(self.model, self.x, self.y)
            self._seconds = time.perf_counter() - start
        return self._a, self._seconds

    def predicted(self) -> np.ndarray:
        """The classes the model as it is predicts for the subset."""
        if self._predicted is None:
            self._predicted = predicted(self.model, self.x)
        return self._predicted

    def run(self, p: Perturbation, metrics: list, score) -> list[tuple[str, dict]]:
        """The outcomes ``(status, fields)`` of ``metrics`` under ``p``, each scored by
        ``score(metric, model, x, y, a, method=, masks=)`` (which returns an outcome). Raises what
        the explanations raise (every cell of ``p`` then shares it)."""
        # on the model as it is, before any perturbation
        a, seconds = self.reference() if p.test != "model" else (None, None)
        before = self.predicted() if p.test != "reference" else None
        x = perturb_input(self.x, p.size, p.seed) if p.test == "input" else self.x
        perturbed = scaled_weights(self.model, p.size, p.seed) if p.test == "model" else None
        with perturbed or nullcontext():
            keep = None if before is None else kept(p.strength, before, predicted(self.model, x))
            if keep is not None and not keep.any():  # nothing to score: every sample NaN
                nan = {"scores": np.full(len(x), np.nan), "curves": None, "metric_seconds": 0.0}
                nan |= {"samples": self.samples, "explain_seconds": None}
                return [("ok", nan)] * len(metrics)
            if p.test == "model":
                start = time.perf_counter()
                a = self.method(self.model, x, self.y)
                seconds = time.perf_counter() - start
            elif p.test == "input":
                seconds = None  # the reference's explanation, of the clean inputs
            out = []
            for metric in metrics:
                if p.test == "input" and metric.needs_parts:  # its parts render the clean x
                    out.append(("not_applicable", {"error": INPUT_PARTS}))
                    continue
                status, fields = score(
                    metric,
                    self.model,
                    x,
                    self.y,
                    a,
                    method=self.method,
                    masks=self.masks,
                    parts=self.parts,
                )
                if status == "ok":
                    scores = np.array(fields["scores"], dtype=float)
                    if keep is not None:
                        scores[~keep] = np.nan
                    fields = {**fields, "scores": scores, "curves": None}
                    fields |= {"samples": self.samples, "explain_seconds": seconds}
                out.append((status, fields))
        return out


def by_perturbation(items: list) -> list[tuple[Perturbation, list[int]]]:
    """``items`` ([(Perturbation, metric)]) grouped by perturbation, in order of first use:
    ``[(perturbation, [indices into items])]``."""
    groups: dict[Perturbation, list[int]] = {}
    for i, (p, _) in enumerate(items):
        groups.setdefault(p, []).append(i)
    return list(groups.items())
