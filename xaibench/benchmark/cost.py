"""What a run will cost before it runs, its ETA while it runs, and the memory it took.

The cost model: every method and metric declares the model calls it makes per sample
(``model_calls``, read by ``xaibench.metrics.cost.runtime.model_calls``: forward passes, backward
passes and, for metrics that impute images, noisy linear imputations); a probe times one model's
forward and forward+backward passes on the run's own samples (``probe``). A cell's estimate is

    samples x (method calls / cells of the method + metric calls) x seconds per call
        + CELL_OVERHEAD

(the explanation is computed once per method and shared by its cells; metrics with the same
``shared_work``, such as max and average sensitivity with equal settings, count it once, and a
re-explanation several metrics share, ``shared_explanations``, counts once too). A
model that is not cached adds its training time, at most ``max_epochs`` epochs (early stopping
often ends sooner). Cells of a component that declares nothing are counted as of unknown cost
and named, never guessed. While the run goes, ``Remaining`` gives the time left: the estimate of
the cells not done, rescaled by the measured over the estimated time of those done.

Peak memory: ``PeakMemory`` reads the process's resident high-water mark (Linux: VmHWM, reset
between stages through /proc/self/clear_refs), so every cell gets the peak reached while it was
computed, by the process that computed it (the run's, or a Dask worker's: the stages are those
of ``executors.Staged``), and the run its overall peak; elsewhere only the process's lifetime
peak (``resource.getrusage``) is known.

>>> timing = probe(model, x, y)  # doctest: +SKIP
>>> timing.seconds({"forward": 21, "backward": 0}) * len(x)  # deletion on x  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xaibench._baselines import fill_removed
from xaibench._system import release_free_memory
from xaibench._tf import keras
from xaibench.metrics.cost.runtime import model_calls
from xaibench.models.outputs import class_scores, target_gradients
from xaibench.models.training import BATCH_SIZE, VALIDATION_FRACTION

# A probe's batches grow from PROBE_FIRST inputs (the run's samples repeated) until one call
# takes PROBE_SECONDS or holds PROBE_MOST inputs: small models are timed at batch sizes where
# the per-call overhead no longer dominates, large ones on a few inputs.
PROBE_FIRST, PROBE_MOST, PROBE_SECONDS = 8, 256, 0.05
# A method's explanation is timed on the run's samples (``method_seconds``): on as many as make
# METHOD_INPUTS model inputs by its declaration (its own batches full; all of them for a method of
# a few calls per sample), after a warm-up call on the same samples (tracing excluded), and on
# no more than its declaration says take METHOD_SECONDS: a method one sample of which would take
# longer (a 224x224 network's occlusion) is not timed, its declaration stands, and the estimate
# stays quick before a run that --max-minutes may refuse.
METHOD_INPUTS, METHOD_SECONDS = 256, 2.0
# Seconds of a cell spent outside the model: validating its inputs, ranking or correlating,
# tracing a compiled function for a new input shape, storing it. The mean left over by the model
# calls on the zoo's small models of the quick suite (2 cores; --samples 8): 0.02 s per cell,
# which a cell of a large model does not notice.
CELL_OVERHEAD = 0.02
# Runs estimated longer than this (minutes) are warned about when no --max-minutes is given.
LONG_RUN_MINUTES = 30
# Writing a run's outputs (statistics, tables, figures in PNG and PDF, report.html) costs about
# this per ok cell, on two drawing processes: measured with `xaibench report` on an idle 2-core
# machine, 10 s for the quick suite's 1,040 cells and 40 s for the default suite's 4,485 (before
# its budgets were cut); plus OUTPUT_SECONDS for reading the store and the report itself.
OUTPUT_SECONDS_PER_CELL = 0.009
OUTPUT_SECONDS = 2.0
# The training of a model is estimated at its longest (every epoch); early stopping ends it
# sooner: measured, the quick suite's six models trained in 19 s of the 34 s estimated (0.56;
# with --workers 1 on 2026-12-08, 25 s of 48 s: 0.53), so the run's total counts this share of
# it, unless the architecture's epochs are a budget (``Architecture.epochs_budget``: all ran).
TRAINING_SHARE = 0.55


@dataclass(frozen=True)
class Probe:
    """Measured seconds per input: ``forward`` (a forward pass), ``gradient`` (a forward and a
    backward pass; None when the model's gradient could not be taken) and ``imputation`` (one
    noisy linear imputation of one image; None when not measured)."""

    forward: float
    gradient: float | None = None
    imputation: float | None = None

    def seconds(self, calls: dict[str, float]) -> float | None:
        """Seconds per sample of ``calls`` (a validated declaration); None when it needs a time
        the probe does not have."""
        total = calls["forward"] * self.forward
        if calls["backward"]:
            if self.gradient is None:
                return None
            total += calls["backward"] * max(self.gradient - self.forward, 0.0)
        if calls.get("imputations"):
            if self.imputation is None:
                return None
            total += calls["imputations"] * self.imputation
        return total


def _seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _fastest(call, most: int = 3) -> float:
    """The shortest of up to ``most`` timed calls, fewer once they took 4 x PROBE_SECONDS: other
    work on the machine only ever adds time, and one call can be caught by it."""
    times = [_seconds(call)]
    while len(times) < most and sum(times) < 4 * PROBE_SECONDS:
        times.append(_seconds(call))
    return min(times)


def per_input(call, x: np.ndarray, y: np.ndarray) -> float:
    """Seconds per input of ``call(xb, yb)``, each batch size timed (``_fastest``) after a
    warm-up call at it (tracing and compilation excluded); see PROBE_FIRST."""
    size = PROBE_FIRST
    while True:
        reps = np.arange(size) % len(x)
        xb, yb = x[reps], y[reps]
        call(xb, yb)  # warm-up
        seconds = _fastest(lambda xb=xb, yb=yb: call(xb, yb))
        if seconds >= PROBE_SECONDS or size >= PROBE_MOST:
            return seconds / size
        size = min(PROBE_MOST, size * 8)


def imputation_seconds(x: np.ndarray) -> float:
    """Seconds per image of noisy linear imputations of ``x``'s images as ROAD imputes them: for
    every sample the features ranked by a random (seeded) attribution removed from the top and
    from the bottom at fractions 10%, ..., 90% (18 copies, nested), all in one call. Timed on
    the first sample's copies, then on up to 8 samples' when that took under PROBE_SECONDS, each
    after a warm-up call (the solver plans its elimination once per image size and pattern)."""
    n = x.shape[1] * x.shape[2]
    counts = np.round(np.arange(1, 10) * n / 10)[None, :, None]
    for m in (1, min(8, len(x))):
        ranks = np.random.default_rng(0).random((m, n)).argsort(axis=1).argsort(axis=1)[:, None]
        removed = np.concatenate([ranks < counts, n - 1 - ranks < counts], axis=1)
        fill_removed(x[:m], removed, "noisy_linear", rng=0)  # warm-up
        seconds = _fastest(lambda m=m, r=removed: fill_removed(x[:m], r, "noisy_linear", rng=0))
        if seconds >= PROBE_SECONDS:
            break
    return seconds / removed[:, :, 0].size


def probe(model, x: np.ndarray, y: np.ndarray, *, imputation: bool = False) -> Probe:
    """Time ``model`` on the samples ``x`` (targets ``y``): its forward pass, its gradient (None
    when it cannot be taken) and, when asked, an imputation of ``x``'s images."""
    forward = per_input(
        lambda xb, yb: class_scores(model, xb, yb, output="probability", batch_size=len(xb)),
        x,
        y,
    )
    try:
        gradient = per_input(
            lambda xb, yb: target_gradients(model, xb, yb, batch_size=len(xb)), x, y
        )
    except Exception:  # noqa: BLE001 - a model without gradients: backward calls are unknown
        gradient = None
    impute = imputation_seconds(x) if imputation and x.ndim == 4 else None
    return Probe(forward, gradient, impute)


def method_seconds(method, model, x: np.ndarray, y: np.ndarray, timing: Probe) -> float | None:
    """Measured seconds per sample of ``method``'s explanation of ``x`` (targets ``y``), work
    beside the model's passes included (noise, masks, regressions: at 96x96 the heavy methods
    took 1.4-1.9x the time of the model calls they declare), or None when it is not timed: it
    declares no model calls (or a malformed declaration, or none ``timing`` can time), one
    sample would take over METHOD_SECONDS by its declaration at ``timing``'s speed, or it
    cannot be copied or raises (the run says why). Times a copy (``copy.deepcopy``: the run's
    method keeps its state) on the first m samples, m making about METHOD_INPUTS model inputs
    by its declaration (1 to all of ``x``; fewer when they would take over METHOD_SECONDS),
    ``_fastest`` after a warm-up call on them."""
    calls, _ = _declared(method, "method", x)  # a malformed declaration: not timed
    if calls is None or not len(x):
        return None
    per_sample = max(1.0, calls["forward"])
    m = int(min(len(x), max(1, math.ceil(METHOD_INPUTS / per_sample))))
    declared = timing.seconds(calls)  # None: the model's gradient could not be timed
    if not declared:  # nor the method then; 0: nothing to scale (``task_estimates``)
        return None
    m = min(m, int(METHOD_SECONDS / declared))
    if m < 1:
        return None
    try:
        timed = copy.deepcopy(method)
        xs, ys = x[:m], y[:m]
        timed(model, xs, ys)  # warm-up: tracing, caches
        return _fastest(lambda: timed(model, xs, ys)) / m
    except Exception:  # noqa: BLE001 - a method that fails fails in the run, with its error
        return None


@dataclass(frozen=True)
class TrainingProbe:
    """Measured seconds of what ``models.training.train`` repeats: ``step`` (one training step of
    BATCH_SIZE inputs), ``forward`` (the validation pass, per input) and ``features`` (per input,
    the frozen features computed once before training a head on them; 0 when the whole model
    is trained); and what it does once, ``tracing``: the first training step's time beyond a
    step's (TensorFlow traces the training function; 20-45 s for the keras.applications
    networks with batch normalisation)."""

    step: float
    forward: float
    features: float = 0.0
    tracing: float = 0.0


def probe_training(spec, model, x: np.ndarray, y: np.ndarray) -> TrainingProbe:
    """Time the training of the untrained ``model`` of architecture ``spec`` (an
    ``Architecture``) on samples like ``x``: a step of Adam on the cross-entropy of BATCH_SIZE
    inputs (as ``models.training.train``; ``_fastest`` after a warm-up step), on the model or,
    when ``spec`` trains a head on frozen features (``frozen_features``), on that head. Changes
    ``model``'s weights: it is a throwaway."""
    reps = np.arange(BATCH_SIZE) % len(x)
    xb, yb = x[reps], y[reps]
    features = 0.0
    parts = getattr(spec, "frozen_features", lambda m: None)(model)
    if parts is not None:
        extract, model = parts
        features = per_input(lambda xs, ys: extract.predict_on_batch(xs), x, y)
        xb = np.asarray(extract.predict_on_batch(xb))
    model.compile(
        optimizer=keras.optimizers.Adam(getattr(spec, "learning_rate", 1e-3)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    start = time.perf_counter()
    model.train_on_batch(xb, yb)  # warm-up: the training function is traced
    first = time.perf_counter() - start
    step = _fastest(lambda: model.train_on_batch(xb, yb))
    forward = per_input(lambda xs, ys: model.predict_on_batch(xs), xb, yb)
    return TrainingProbe(step, forward, features, tracing=max(0.0, first - step))


def training_seconds(max_epochs: int, n_train: int, timing: TrainingProbe) -> float:
    """The longest training of a zoo model (``models.training.train``) on ``n_train`` samples:
    the tracing of its training function (twice when the last batch of an epoch is shorter:
    TensorFlow traces it again for the new shape; measured on mobilenet_v2 at 96x96, 13 s each),
    the frozen features once (if any), then ``max_epochs`` epochs of steps over the fitted part
    and a forward pass over the validation part (early stopping often ends sooner)."""
    n_val = round(VALIDATION_FRACTION * n_train)
    n_fit = n_train - n_val
    steps = math.ceil(n_fit / BATCH_SIZE)
    epoch = steps * timing.step + n_val * timing.forward
    traces = 1 + (n_fit % BATCH_SIZE != 0)
    return traces * timing.tracing + n_train * timing.features + max_epochs * epoch


# Estimates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellEstimate:
    """The estimated seconds of one cell, or None with the reason it is unknown."""

    dataset: str
    model: str
    method: str
    metric: str
    seconds: float | None
    unknown: str | None = None
    variant: str | None = None  # a sweep variant's or a meta-evaluation cell's (store.py)

    @property
    def key(self) -> tuple[str, str, str, str, str | None]:
        return (self.dataset, self.model, self.method, self.metric, self.variant)

    @property
    def label(self) -> str:
        return "/".join(k for k in self.key if k is not None)


def _declared(component, kind: str, x, method_calls=None, model=None):
    """``(calls, None)``, or ``(None, why)`` when ``component`` (a ``kind``) declares nothing or
    something malformed (then the run goes on: the cell's cost is unknown)."""
    try:
        calls = model_calls(component, x, method_calls, model)
    except Exception as err:  # noqa: BLE001 - a user's declaration: say what is wrong with it
        return None, f"{kind} {component.name!r}: {err}"
    if calls is None:
        return None, f"{kind} {component.name!r} declares no model_calls"
    return calls, None


def task_estimates(
    names,
    method,
    metrics,
    x,
    model,
    timing: Probe,
    *,
    variants=None,
    samples: int | None = None,
    explain: bool = True,
    forward: float = 0.0,
    method_seconds: float | None = None,
) -> list[CellEstimate]:
    """The cells of ``method`` scored by each of ``metrics`` on ``x`` (``names`` = (dataset,
    model name)): the explanation's seconds shared equally, plus each metric's own (a metric
    whose ``shared_work`` an earlier one of the list has costs nothing of its own; one re-explanation
    less for each of its ``shared_explanations`` an earlier one has), plus CELL_OVERHEAD.

    A meta-evaluation perturbation is such a task too: on ``samples`` of the samples (default
    all of ``x``), explaining them (``explain``: the model test, the reference) or not (the
    input test scores the reference's explanation), with ``forward`` forward passes per sample
    shared by its cells (the predictions that decide which samples its test keeps).
    ``variants``: each cell's ``variant`` (default None: the run as configured).

    ``method_seconds``: the method's measured seconds per sample (``method_seconds``), which
    then stand for its declared calls: its explanation takes them, and its calls handed to the
    metrics (``model_calls``) are scaled by measured over declared, so that a metric that
    re-explains pays the method's work beside the model as often as it re-explains."""
    n = len(x) if samples is None else samples
    variants = [None] * len(metrics) if variants is None else list(variants)
    own, why = _declared(method, "method", x)
    declared = None if own is None else timing.seconds(own)
    if method_seconds is not None and declared:
        own = {kind: value * method_seconds / declared for kind, value in own.items()}
    explain_seconds = None if own is None else timing.seconds(own) if explain else 0.0
    shared = forward * timing.forward
    out, seen = [], set()
    for metric, variant in zip(metrics, variants, strict=True):
        seconds, reason = None, why
        if own is not None:
            calls, reason = _declared(metric, "metric", x, own, model)
            seconds = None if calls is None else timing.seconds(calls)
            if calls is not None and (seconds is None or explain_seconds is None):
                reason = "the model's gradient could not be timed"
        if seconds is not None and explain_seconds is not None:
            work = getattr(metric, "shared_work", None)
            if work is not None and work in seen:
                seconds = 0.0
            seen.add(work)
            reused = _shared_explanations(metric, model)
            seconds = max(0.0, seconds - len(reused & seen) * timing.seconds(own))
            seen |= reused
            seconds = n * ((explain_seconds + shared) / len(metrics) + seconds) + CELL_OVERHEAD
        else:
            seconds = None
        out.append(CellEstimate(*names, method.name, metric.name, seconds, reason, variant))
    return out


def _shared_explanations(metric, model) -> frozenset:
    """``Metric.shared_explanations``, namespaced apart from ``shared_work`` keys (none for a
    metric without it or without a model at hand)."""
    shared = getattr(metric, "shared_explanations", None)
    if model is None or shared is None:
        return frozenset()
    return frozenset(("explanation", key) for key in shared(model))


def needs_imputation(method, metrics, x, model) -> bool:
    """Whether a metric of ``metrics`` declares imputations for ``method`` on ``x``."""
    own, _ = _declared(method, "method", x)
    if own is None:
        return False
    return any((_declared(m, "metric", x, own, model)[0] or {}).get("imputations") for m in metrics)


@dataclass
class Estimate:
    """A run's estimate: its cells to compute and the models it trains (``training``:
    "dataset/model" -> seconds at most, None when not timed). ``parallel`` processes compute
    the cells (worker processes, Dask workers), together ``speedup`` times as fast as the probes
    say one process is (default: ``parallel``; see ``processes.ProcessExecutor.speedup``); models
    are trained one after the other in the run's process. ``outputs``: the seconds of writing
    the outputs afterwards (``output_seconds``; 0 for a run that writes none)."""

    cells: list[CellEstimate] = field(default_factory=list)
    training: dict[str, float | None] = field(default_factory=dict)
    parallel: int = 1
    notes: list[str] = field(default_factory=list)  # what the run does unasked (shown first)
    speedup: float | None = None
    outputs: float = 0.0
    # the share of a training's longest that the total counts: TRAINING_SHARE unless given
    training_share: dict[str, float] = field(default_factory=dict)
    # the share of the training's time that adds to the wall time (the executor's
    # ``training_wall``: less than 1 where workers compute cells while this process trains)
    training_wall: float = 1.0

    @property
    def cell_speedup(self) -> float:
        """How many times faster than one process the cells are computed."""
        return max(1e-9, self.speedup if self.speedup is not None else max(1, self.parallel))

    @property
    def known(self) -> list[CellEstimate]:
        return [c for c in self.cells if c.seconds is not None]

    @property
    def unknown(self) -> list[CellEstimate]:
        return [c for c in self.cells if c.seconds is None]

    @property
    def seconds(self) -> float:
        """Estimated wall-clock seconds of what is known: the cells over ``cell_speedup``, the
        training of the models not cached (``training_share`` of its longest, by default
        ``TRAINING_SHARE``, times ``training_wall``) and writing the outputs."""
        cells = sum(c.seconds for c in self.known) / self.cell_speedup
        training = self.training_wall * sum(
            self.training_share.get(name, TRAINING_SHARE) * s
            for name, s in self.training.items()
            if s is not None
        )
        return cells + training + self.outputs

    def largest(self, k: int = 3) -> list[CellEstimate]:
        return sorted(self.known, key=lambda c: -c.seconds)[:k]

    def _top(self, k: int = 3) -> str:
        return ", ".join(f"{c.label} {duration(c.seconds)}" for c in self.largest(k))

    def _unknown_text(self) -> str:
        unknown = self.unknown
        if not unknown:
            return ""
        why = sorted({c.unknown for c in unknown})
        more = f" and {len(why) - 2} more" if len(why) > 2 else ""
        return f"; {len(unknown)} cells of unknown cost ({'; '.join(why[:2])}{more})"

    @property
    def timed(self) -> bool:
        """Whether any part has a known cost (cells or training)."""
        return bool(self.known) or any(s is not None for s in self.training.values())

    def brief(self, before: float = 0.0) -> str:
        """The estimate in a few words, for the line of what the run took (``before``: the
        seconds the command had taken when the estimate was made, counted in)."""
        if not self.timed:
            return "its cost was unknown"
        part = " of what had a known cost" if self.unknown else ""
        return f"estimated {duration(before + self.seconds)}{part}"

    def summary(self) -> str:
        """What the terminal shows before the run: the total (unknown when no part has a known
        cost; never 0 s for cells whose cost nobody declared), the training, the largest cells,
        the cells of unknown cost, and the ``notes``."""
        total = duration(self.seconds) if self.timed else "unknown"
        lines = [f"estimated time: {total} for {len(self.cells)} cells"]
        if self.parallel > 1:
            lines[0] += f" on {self.parallel} workers"
        if self.timed and self.unknown:
            lines[0] += f" ({len(self.unknown)} of unknown cost, not counted)"
        lines += [f"  {note}" for note in self.notes]
        if self.training:
            train = ", ".join(
                f"{name} up to {duration(s) if s is not None else 'an unknown time'}"
                for name, s in self.training.items()
            )
            lines.append(f"  training (not cached; early stopping often ends sooner): {train}")
        if self.known:
            lines.append(f"  largest cells: {self._top()}")
        if self.outputs:
            lines.append(f"  writing the outputs afterwards: about {duration(self.outputs)}")
        if self.unknown:
            lines.append(f"  {self._unknown_text()[2:]}")
        return "\n".join(lines)

    def over(self, max_minutes: float) -> str | None:
        """The one-line refusal when the estimate exceeds ``max_minutes``, else None."""
        if self.seconds <= max_minutes * 60:
            return None
        top = f"; largest cells: {self._top()}" if self.known else ""
        return (
            f"the run is estimated at {duration(self.seconds)}, over --max-minutes "
            f"{max_minutes:g}{top}{self._unknown_text()}; nothing was computed (lower --samples, "
            "drop methods or metrics, or raise --max-minutes)"
        )

    def warning(self) -> str | None:
        """A warning when the estimate is long (over LONG_RUN_MINUTES), else None."""
        if self.seconds <= LONG_RUN_MINUTES * 60:
            return None
        return (
            f"warning: this run is estimated at {duration(self.seconds)}; --max-minutes M stops "
            "a run estimated above M minutes before it computes anything"
        )


def output_seconds(cells: int) -> float:
    """The seconds of writing the outputs of a run of ``cells`` cells (see
    ``OUTPUT_SECONDS_PER_CELL``)."""
    return OUTPUT_SECONDS + OUTPUT_SECONDS_PER_CELL * cells


def duration(seconds: float) -> str:
    """``seconds`` for people: "40 s", "3.5 min", "2.1 h"."""
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Remaining:
    """The time left of a run: the estimates of the parts not done (cells by ``CellEstimate.key``,
    trainings by "dataset/model"), rescaled by how much longer than estimated the parts done took.

    The rescaling trusts the measurement in proportion to the estimated work behind it: it starts
    from ``PRIOR_SHARE`` of the run's estimate taken at face value (factor 1), so that the first
    cell done, estimated at milliseconds but finished after its task's whole explanation, does not
    multiply the rest of the run by thousands. Parts of unknown cost are not counted."""

    PRIOR_SHARE = 0.05

    def __init__(self, estimate: Estimate, *, clock=time.perf_counter):
        speedup = estimate.cell_speedup
        self.left = {c.key: c.seconds / speedup for c in estimate.known}  # wall-clock seconds
        self.left.update({k: s for k, s in estimate.training.items() if s is not None})
        self.prior = self.PRIOR_SHARE * sum(self.left.values())
        self.done = 0.0
        self.clock = clock
        self.start = clock()

    def finish(self, key) -> None:
        """Part ``key`` is done (a cell's key tuple or a training's "dataset/model")."""
        self.done += self.left.pop(key, 0.0)

    def factor(self) -> float:
        """Measured over estimated time of the parts done, shrunk towards 1 by the prior."""
        if self.done <= 0:
            return 1.0
        return (self.clock() - self.start + self.prior) / (self.done + self.prior)

    def seconds(self) -> float:
        return sum(self.left.values()) * self.factor()


# Peak memory ---------------------------------------------------------------------------------

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def process_peak_mb() -> float | None:
    """The peak resident memory of this process (MB) since it started, or since its high-water
    mark was last reset; None where the platform does not say (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes / kB


def _high_water_mb() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_high_water() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


class PeakMemory:
    """The peak resident memory of this process, stage by stage (MB).

    On Linux each ``mark`` returns the peak since the previous mark (since the object was made,
    for the first), hands the allocator's free memory back to the OS and resets the kernel's
    high-water mark, so consecutive stages are measured apart; the run's peak is the largest of them. Resetting it also resets what
    ``resource.getrusage`` reports for this process. Where it cannot be reset, ``mark`` returns
    None and ``run_peak`` is the process's lifetime peak.

    ``lifetime``: the process's peak before the object was made counts in ``run_peak`` too (a
    Dask worker's peak over its life); else only the peak from here on (a run's).
    """

    def __init__(self, *, lifetime: bool = False):
        before = _high_water_mb()
        self.resettable = before is not None and _reset_high_water()
        self.peak: float | None = before if lifetime and self.resettable else None

    def mark(self) -> float | None:
        if not self.resettable:
            return None
        mb = _high_water_mb()
        release_free_memory()  # the next stage starts from the memory in use, not kept (README)
        _reset_high_water()
        if mb is not None:
            self.peak = mb if self.peak is None else max(self.peak, mb)
        return mb

    def run_peak(self) -> float | None:
        """The peak over every stage so far, the stage in progress included (read without
        resetting the high-water mark: a stage in progress, such as a task on a Dask worker
        asked by ``Client.run``, is measured whole)."""
        if not self.resettable:
            return process_peak_mb()
        return max((mb for mb in (self.peak, _high_water_mb()) if mb is not None), default=None)
