"""Runs that know their cost: every built-in metric declares the model calls it makes (counted on
a tiny model, they are the calls made), the estimate's arithmetic by hand, the ETA's rescaling,
peak memory per stage, and ``xaibench run --max-minutes`` refusing a run over budget before it
computes anything. (The methods' declarations are counted the same way in
tests/methods/test_method_axioms.py::test_declared_model_calls_are_the_calls_made.)"""

from __future__ import annotations

import time

import _tiny
import numpy as np
import pytest
from _method_cases import CallRows
from _metric_cases import FAST_SETTINGS
from _runs import write_config

import xaibench as xb
from xaibench._system import tune_allocator
from xaibench._tf import keras
from xaibench.benchmark import cost
from xaibench.benchmark.executors import _timed
from xaibench.metrics.cost.runtime import model_calls
from xaibench.metrics.robustness import _sensitivity
from xaibench.store import Store

N = 4  # samples


def counted_model(shape, seed=0):
    """A tanh CNN (images) or MLP (rows) with seeded weights, 3 classes, ending in a counter."""
    rng = np.random.default_rng(seed)
    inner = (
        [keras.layers.Conv2D(3, 2, padding="same", activation="tanh"), keras.layers.Flatten()]
        if len(shape) == 3
        else [keras.layers.Dense(4, activation="tanh")]
    )
    model = keras.Sequential([keras.Input(shape), *inner, keras.layers.Dense(3), CallRows()])
    for layer in model.layers[:-1]:
        layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.weights])
    return model


@pytest.fixture(scope="module")
def cases():
    """{"image": (model, x, y, masks), "tabular": (...)}: 4 samples each."""
    rng = np.random.default_rng(3)
    out = {}
    for kind, shape in (("image", (4, 4, 2)), ("tabular", (6,))):
        x = rng.uniform(0, 1, (N,) + shape).astype(np.float32)
        masks = np.zeros((N,) + shape[:2], bool) if kind == "image" else np.zeros((N, 6), bool)
        masks[:, :2] = True
        out[kind] = (counted_model(shape), x, np.arange(N) % 3, masks)
    return out


BUILTIN_METRICS = _tiny.builtin(xb.metrics)
EXPLAINERS = ["saliency", "occlusion"]  # forward and backward passes; forward passes only


@pytest.mark.parametrize("kind", ["image", "tabular"])
@pytest.mark.parametrize("name", BUILTIN_METRICS)
def test_every_builtin_metric_declares_its_calls(cases, name, kind):
    model, x, _, _ = cases[kind]
    own = model_calls(xb.methods.get("saliency"), x)
    calls = model_calls(xb.metrics.get(name), x, own, model)
    assert calls is not None and {"forward", "backward"} <= set(calls), name
    if xb.metrics.cls(name).needs_explain:  # what the method makes is counted with the method
        assert model_calls(xb.metrics.get(name), x, None, model) is None


@pytest.mark.parametrize("name", _tiny.builtin(xb.methods))
def test_every_builtin_method_declares_its_calls(cases, name):
    method = xb.methods.get(name)
    for model, x, _, _ in cases.values():
        if method.applicable(model, x) is None:
            assert model_calls(method, x) is not None, name


@pytest.mark.parametrize("explainer", EXPLAINERS)
@pytest.mark.parametrize("kind", ["image", "tabular"])
@pytest.mark.parametrize("name", BUILTIN_METRICS)
def test_declared_metric_calls_are_the_calls_made(cases, name, kind, explainer, monkeypatch):
    """Rows through the model while the metric scores (the explanation it scores made first)
    and images imputed: exactly what it declares per sample, times the samples."""
    model, x, y, masks = cases[kind]
    method = xb.methods.get(explainer)
    metric = xb.metrics.get(name, **FAST_SETTINGS.get(name, {}))
    declared = model_calls(metric, x, model_calls(method, x), model)
    a = method(model, x, y)
    if metric.needs_parts:
        check_intervention_calls(metric, model, x, y, a, kind, declared)
        return
    imputed = []
    real = xb._baselines.noisy_linear

    def counting(images, removed, **kw):
        some = removed.reshape(len(images), -1)
        imputed.append(int((some.any(axis=1) & ~some.all(axis=1)).sum()))
        return real(images, removed, **kw)

    monkeypatch.setattr(xb._baselines, "noisy_linear", counting)
    _sensitivity._LAST.clear()  # max and avg sensitivity share a cache: start from none
    counter = model.layers[-1]
    counter.counts()
    try:
        # a metric that times the method gets a run's task's timed warm call (runtime.Timed)
        explain = _timed(method, model, x, y, [metric]) if metric.times_method else method
        metric(model, x, y, a, explain=explain, masks=masks)
    except xb.methods.NotApplicable:
        pass  # e.g. an image-only baseline on rows: it declares nothing and calls nothing
    made = dict(zip(("forward", "backward"), counter.counts(), strict=True))
    made["imputations"] = sum(imputed)
    expected = {k: declared.get(k, 0.0) * N for k in ("forward", "backward", "imputations")}
    assert made == expected


def check_intervention_calls(metric, model, x, y, a, kind, declared):
    """The ground-truth metrics render every sample with each subset of its P parts removed,
    2^P forward passes, once per model and samples: they declare 2^4, the most the built-in
    datasets need (shapes; scenes has 3 parts: 8). Images only (parts= of the samples)."""
    if kind == "tabular":
        return  # no dataset of rows has parts: the runner never scores them there
    from _parts_cases import parts_of

    from xaibench.metrics.ground_truth import _parts

    _parts._LAST.clear()
    counter = model.layers[-1]
    counter.counts()
    metric(model, x, y, a, parts=parts_of(x))  # 3 parts
    assert dict(zip(("forward", "backward"), counter.counts(), strict=True)) == {
        "forward": 2**3 * N,
        "backward": 0,
    }
    assert declared == {"forward": 2**4, "backward": 0}
    metric(model, x, y, a, parts=parts_of(x))  # the same table: read once
    assert counter.counts() == (0, 0)


def test_metrics_with_the_same_shared_work_compute_it_once(cases):
    """avg_sensitivity after max_sensitivity (equal settings) makes no call of its own, as the
    estimate counts it; with other settings it re-explains."""
    model, x, y, _ = cases["image"]
    method = xb.methods.get("saliency")
    a = method(model, x, y)
    first, again = (
        xb.metrics.get("max_sensitivity", samples=2),
        xb.metrics.get("avg_sensitivity", samples=2),
    )
    other = xb.metrics.get("avg_sensitivity", samples=3)
    assert first.shared_work == again.shared_work != other.shared_work
    assert xb.metrics.get("deletion").shared_work is None
    counter = model.layers[-1]
    counter.counts()
    _sensitivity._LAST.clear()
    first(model, x, y, a, explain=method)
    assert counter.counts() == (2 * N, 2 * N)
    again(model, x, y, a, explain=method)
    assert counter.counts() == (0, 0)
    other(model, x, y, a, explain=method)
    assert counter.counts() == (3 * N, 3 * N)


# --------------------------------------------------------------------------------------------
# The estimate's arithmetic
# --------------------------------------------------------------------------------------------

TIMING = cost.Probe(forward=0.01, gradient=0.03, imputation=0.5)


class Undeclared(xb.metrics.Metric):
    """A user metric that declares no model calls."""

    name = "undeclared"

    def score(self, model, x, y, a, **extra):
        return np.zeros(len(x))


def test_probe_seconds_by_hand():
    # a backward pass costs gradient - forward = 0.02 s; an imputation 0.5 s
    assert TIMING.seconds({"forward": 3.0, "backward": 2.0}) == pytest.approx(0.03 + 0.04)
    assert TIMING.seconds({"forward": 6.0, "backward": 0.0, "imputations": 6.0}) == pytest.approx(
        0.06 + 3.0
    )
    assert cost.Probe(0.01).seconds({"forward": 1.0, "backward": 1.0}) is None  # no gradient


def test_task_estimates_by_hand():
    """Saliency (1 forward + 1 backward = 0.03 s per sample) on 4 images, shared by 5 cells
    (0.12 s / 5 = 0.024 s each), plus each metric's own per sample: deletion steps=4, 5
    forwards = 0.05 s; road steps=4, 6 forwards + 6 imputations = 3.06 s; max_sensitivity 2
    re-runs = 0.06 s; avg_sensitivity the same work, once; a metric declaring nothing: unknown.
    Each known cell adds CELL_OVERHEAD."""
    x = np.zeros((N, 4, 4, 1), np.float32)
    metrics = [
        xb.metrics.get("deletion", steps=4),
        xb.metrics.get("road", steps=4),
        xb.metrics.get("max_sensitivity", samples=2),
        xb.metrics.get("avg_sensitivity", samples=2),
        Undeclared(),
    ]
    got = cost.task_estimates(("d", "m"), xb.methods.get("saliency"), metrics, x, None, TIMING)
    share = 4 * 0.03 / 5 + cost.CELL_OVERHEAD
    expected = [share + 4 * 0.05, share + 4 * 3.06, share + 4 * 0.06, share, None]
    assert [c.seconds for c in got[:4]] == pytest.approx(expected[:4], rel=1e-12)
    assert got[4].seconds is None
    assert got[-1].unknown == "metric 'undeclared' declares no model_calls"
    assert [c.label for c in got[:2]] == ["d/m/saliency/deletion", "d/m/saliency/road"]


def test_a_meta_perturbation_is_estimated_as_a_task_on_its_samples():
    """A perturbation of the model test on 2 of the 4 samples: saliency re-explains them (0.03 s
    per sample, shared by the 2 cells), a forward pass each decides which are kept (0.01 s,
    shared), then deletion's own 5 forwards (0.05 s) per sample. The input test does not
    explain. Each cell carries its variant."""
    x = np.zeros((N, 4, 4, 1), np.float32)
    metrics = [xb.metrics.get("deletion", steps=4), xb.metrics.get("sparseness")]
    saliency = xb.methods.get("saliency")
    model = cost.task_estimates(
        ("d", "m"),
        saliency,
        metrics,
        x,
        None,
        TIMING,
        variants=["meta:model:nr:0:0"] * 2,
        samples=2,
        forward=1.0,
    )
    shared = (0.03 + 0.01) / 2
    expected = [2 * (shared + 0.05) + cost.CELL_OVERHEAD, 2 * shared + cost.CELL_OVERHEAD]
    assert [c.seconds for c in model] == pytest.approx(expected, rel=1e-12)
    assert model[0].label == "d/m/saliency/deletion/meta:model:nr:0:0"
    inputs = cost.task_estimates(
        ("d", "m"), saliency, metrics, x, None, TIMING, samples=2, explain=False, forward=1.0
    )
    assert inputs[1].seconds == pytest.approx(2 * 0.01 / 2 + cost.CELL_OVERHEAD, rel=1e-12)


def test_a_measured_method_time_stands_for_its_declared_calls():
    """Saliency declares a gradient per sample (0.03 s); measured at 0.09 s (3x: its work beside
    the model), the explanation shared by 3 cells takes 4 x 0.09 s, and the metrics that
    re-explain pay 0.09 s per re-explanation: max_sensitivity 2 per sample, runtime 1; the
    metrics' own calls (deletion's 5 forwards) are not scaled."""
    x = np.zeros((N, 4, 4, 1), np.float32)
    metrics = [
        xb.metrics.get("deletion", steps=4),
        xb.metrics.get("max_sensitivity", samples=2),
        xb.metrics.get("runtime"),
    ]
    saliency = xb.methods.get("saliency")
    got = cost.task_estimates(("d", "m"), saliency, metrics, x, None, TIMING, method_seconds=0.09)
    share = 4 * 0.09 / 3 + cost.CELL_OVERHEAD
    expected = [share + 4 * 0.05, share + 4 * 2 * 0.09, share + 4 * 0.09]
    assert [c.seconds for c in got] == pytest.approx(expected, rel=1e-12)
    declared = cost.task_estimates(("d", "m"), saliency, metrics, x, None, TIMING)
    assert declared[1].seconds == pytest.approx(4 * 0.03 / 3 + cost.CELL_OVERHEAD + 4 * 2 * 0.03)


class Sleepy(xb.methods.Method):
    """A method declaring ``calls`` forward passes per sample that sleeps 0.02 s per call; the
    class logs (object id, samples) of every call (``log``: a class attribute, which copies
    share)."""

    name = "sleepy"
    log: list[tuple[int, int]] = []

    def __init__(self, calls: float = 1.0, fail: bool = False):
        self.model_calls = {"forward": calls, "backward": 0}
        self.fail = fail

    def explain(self, model, x, y):
        Sleepy.log.append((id(self), len(x)))
        if self.fail:
            raise RuntimeError("broken")
        time.sleep(0.02)
        return np.zeros(x.shape, np.float32)


def test_a_method_is_timed_warm_on_a_copy_on_as_many_samples_as_fill_its_batches():
    """The method is called on a copy (the run's object keeps its state: it is never called), a
    warm-up call first, then timed, on the first METHOD_INPUTS / calls-per-sample samples (all
    of them for a method of few calls, at least 1); a call takes at least its 0.02 s sleep, so
    a sample at least 0.02 s / m. Fewer samples when their declared calls would take over
    METHOD_SECONDS at the probe's speed; none (not timed: None, never called) when one would,
    or the method declares nothing, something malformed (the cells say so) or no calls at all
    (nothing to scale). A method that raises is not timed either."""
    x, y = np.zeros((10, 4, 4, 1), np.float32), np.zeros(10, np.int64)
    fast = cost.Probe(forward=1e-6)
    one_second = cost.METHOD_SECONDS / 3.5  # per forward call: 3 samples fit, not 4
    cases = [
        (1.0, fast, 10),
        (cost.METHOD_INPUTS / 4, fast, 4),
        (10 * cost.METHOD_INPUTS, fast, 1),
        (1.0, cost.Probe(forward=one_second), 3),
    ]
    for calls, timing, m in cases:
        Sleepy.log.clear()
        method = Sleepy(calls)
        seconds = cost.method_seconds(method, None, x, y, timing)
        assert seconds is not None and seconds >= 0.02 / m
        assert len(Sleepy.log) >= 2 and {n for _, n in Sleepy.log} == {m}
        assert id(method) not in {i for i, _ in Sleepy.log}
    assert cost.method_seconds(Sleepy(fail=True), None, x, y, fast) is None
    slow, undeclared, free, malformed = Sleepy(), Sleepy(), Sleepy(0.0), Sleepy()
    undeclared.model_calls, malformed.model_calls = None, {"forward": "many"}
    Sleepy.log.clear()
    assert cost.method_seconds(malformed, None, x, y, fast) is None
    assert (
        cost.method_seconds(slow, None, x, y, cost.Probe(forward=1.5 * cost.METHOD_SECONDS)) is None
    )
    assert cost.method_seconds(undeclared, None, x, y, fast) is None
    assert cost.method_seconds(free, None, x, y, fast) is None
    assert Sleepy.log == []


def test_a_method_that_declares_nothing_makes_its_cells_unknown():
    x = np.zeros((N, 5), np.float32)
    method = xb.methods.get("random")
    method.model_calls = None
    got = cost.task_estimates(("d", "m"), method, [xb.metrics.get("deletion")], x, None, TIMING)
    assert got[0].seconds is None and "method 'random' declares no model_calls" in got[0].unknown


def test_a_malformed_declaration_is_unknown_not_fatal():
    x = np.zeros((N, 5), np.float32)
    metric = Undeclared()
    metric.model_calls = {"forward": "many"}
    got = cost.task_estimates(("d", "m"), xb.methods.get("saliency"), [metric], x, None, TIMING)
    assert got[0].seconds is None and "'forward' and 'backward'" in got[0].unknown


def test_training_seconds_by_hand():
    """1000 samples: 100 validation, 900 fitted = 29 steps of 32; per epoch 29 x 0.2 s + 100
    forwards x 0.01 s = 6.8 s; at most 10 epochs; frozen features once: 1000 x 0.05 s more;
    the tracing of the training function: twice, as the last batch (900 - 28 x 32 = 4 inputs)
    is traced again; once when every batch is full (1067 samples: 107 validation, 960 fitted =
    30 x 32)."""
    assert cost.training_seconds(10, 1000, cost.TrainingProbe(0.2, 0.01)) == pytest.approx(68.0)
    frozen = cost.TrainingProbe(0.2, 0.01, features=0.05)
    assert cost.training_seconds(10, 1000, frozen) == pytest.approx(118.0)
    traced = cost.TrainingProbe(0.2, 0.01, tracing=3.0)
    assert cost.training_seconds(10, 1000, traced) == pytest.approx(68.0 + 2 * 3.0)
    full = 10 * (30 * 0.2 + 107 * 0.01)  # 1067 samples: 107 validation, 960 fitted = 30 steps
    assert cost.training_seconds(10, 1067, traced) == pytest.approx(full + 3.0)


def test_probes_time_a_model(cases):
    model, x, y, _ = cases["image"]
    timing = cost.probe(model, x, y, imputation=True)
    assert timing.forward > 0 and timing.gradient > 0 and timing.imputation > 0
    assert cost.probe(model, x, y).imputation is None  # not asked for
    rows, xt, yt, _ = cases["tabular"]
    assert cost.probe(rows, xt, yt, imputation=True).imputation is None  # rows: no imputation
    spec = xb.models.cls("cnn")()
    untrained = spec.build(x.shape[1:], 3, 0)
    training = cost.probe_training(spec, untrained, x, y)
    assert training.step > 0 and training.forward > 0 and training.features == 0
    assert training.tracing >= 0


def estimate_of(seconds, training=None, parallel=1):
    cells = [
        cost.CellEstimate("d", "m", f"method{i}", "q", s, None if s is not None else "why")
        for i, s in enumerate(seconds)
    ]
    return cost.Estimate(cells, training or {}, parallel)


def test_estimate_total_largest_budget_and_warning():
    est = estimate_of([600.0, 1200.0, 60.0, None], {"d/m": 300.0}, parallel=2)
    # the training at its expected share of the longest: 930 + 165 s = 18.25 min
    assert est.seconds == pytest.approx((600 + 1200 + 60) / 2 + cost.TRAINING_SHARE * 300)
    assert [c.method for c in est.largest(2)] == ["method1", "method0"]
    assert est.over(19) is None and est.warning() is None
    refusal = est.over(18)
    assert refusal.startswith("the run is estimated at 18.2 min, over --max-minutes 18")
    assert "d/m/method1/q 20.0 min" in refusal and "1 cells of unknown cost (why)" in refusal
    assert "\n" not in refusal
    assert "estimated at" in estimate_of([3600.0]).warning()
    summary = est.summary()
    assert "18.2 min for 4 cells on 2 workers" in summary and "d/m up to 5.0 min" in summary


def test_a_training_whose_epochs_are_a_budget_counts_every_epoch():
    """The zoo's max_epochs is a ceiling early stopping ends before (TRAINING_SHARE of it
    counted); a keras.applications network given ``epochs`` (the realistic suite's 15, all of
    which ran) is counted whole; and where workers compute cells meanwhile, only the executor's
    ``training_wall`` of the training adds to the wall time."""
    est = estimate_of([None], {"d/a": 100.0, "d/b": 100.0})
    est.training_share["d/b"] = 1.0
    assert est.seconds == pytest.approx(cost.TRAINING_SHARE * 100 + 100)
    est.training_wall = 0.5  # worker processes compute cells while this process trains
    assert est.seconds == pytest.approx(0.5 * (cost.TRAINING_SHARE * 100 + 100))
    assert xb.models.registry.get("mobilenet_v2", epochs=15).epochs_budget
    assert not xb.models.registry.get("mobilenet_v2").epochs_budget
    assert not xb.models.registry.get("cnn").epochs_budget


def test_unknown_cost_is_said_as_unknown_never_as_zero():
    """A method that declares no model_calls used to make the estimate print "0.0 s for 7
    cells" and the run "took 2.1 s (estimated 0.0 s)"."""
    unknown = estimate_of([None, None])
    assert unknown.summary().splitlines() == [
        "estimated time: unknown for 2 cells",
        "  2 cells of unknown cost (why)",
    ]
    assert unknown.brief() == "its cost was unknown"
    part = estimate_of([10.0, None])
    assert part.summary().startswith("estimated time: 10 s for 2 cells (1 of unknown cost, not")
    assert part.brief() == "estimated 10 s of what had a known cost"
    assert estimate_of([10.0]).brief() == "estimated 10 s"
    trained = estimate_of([None], {"d/m": 60.0})  # the training is known: a time, said partial
    assert trained.summary().startswith("estimated time: 33 s for 1 cells (1 of unknown cost")


def test_the_estimate_counts_worker_speed_outputs_and_the_time_before_it():
    """The whole command is estimated: workers at their measured speed (two workers of the
    quick suite computed 1.8x slower per cell than the probes say, so the cells were counted
    twice as fast as they came), writing the outputs, and what came before the estimate."""
    est = estimate_of([100.0, 10.0], {"d/m": 5.0}, parallel=2)
    est.speedup, est.outputs = 1.1, cost.output_seconds(1000)
    assert est.outputs == pytest.approx(cost.OUTPUT_SECONDS + 1000 * cost.OUTPUT_SECONDS_PER_CELL)
    assert est.seconds == pytest.approx(110 / 1.1 + cost.TRAINING_SHARE * 5 + est.outputs)
    assert "  writing the outputs afterwards: about 11 s" in est.summary().splitlines()
    assert est.brief(before=8.0) == f"estimated {cost.duration(est.seconds + 8.0)}"
    left = cost.Remaining(est, clock=lambda: 0.0)  # the ETA: the workers' speed, training's longest
    assert sum(left.left.values()) == pytest.approx(110 / 1.1 + 5)


def test_local_worker_processes_declare_their_measured_speedup():
    from xaibench.benchmark.executors import LocalExecutor
    from xaibench.benchmark.processes import ProcessExecutor

    ex = ProcessExecutor(2)
    one = LocalExecutor().speedup
    try:
        assert ex.speedup == pytest.approx(2 * ProcessExecutor.WORKER_EFFICIENCY)
        assert one < ex.speedup < 2 * one  # faster than one process, less than twice as fast
    finally:
        ex.close()
    assert 0.5 < one <= 1.0  # this process: at most as fast as the probes say (measured)
    assert 0 < ex.training_wall < 1 == LocalExecutor().training_wall  # training beside workers


def test_the_notes_of_the_config_come_with_the_estimate():
    est = estimate_of([10.0])
    est.notes.append("models linear, cnn (the quick suite's, ...)")
    assert est.summary().splitlines()[1] == "  models linear, cnn (the quick suite's, ...)"


def test_remaining_rescales_by_measured_over_estimated():
    now = [0.0]
    est = estimate_of([10.0, 30.0, None], {"d/m": 20.0})
    left = cost.Remaining(est, clock=lambda: now[0])
    prior = cost.Remaining.PRIOR_SHARE * 60.0  # of the 60 s estimated
    assert left.seconds() == 60.0  # nothing done: the estimate (unknown cells not counted)
    now[0] = 40.0
    left.finish("d/m")  # training estimated 20 s took 40 s: the rest is rescaled by ~2
    assert left.seconds() == pytest.approx(40.0 * (40.0 + prior) / (20.0 + prior))
    left.finish(("d", "m", "method0", "q", None))  # 30 s of estimates took 40 s
    assert left.seconds() == pytest.approx(30.0 * (40.0 + prior) / (30.0 + prior))


def test_remaining_is_not_thrown_by_a_tiny_first_cell():
    # seen at 224x224: a task's cheapest cell (estimated 10 ms) is put first, after the 40 s of
    # the task's explanation; the time left must stay of the order of the estimate, not 4000x it
    now = [0.0]
    est = estimate_of([0.01, 40.0, 860.0])
    left = cost.Remaining(est, clock=lambda: now[0])
    now[0] = 40.0
    left.finish(("d", "m", "method0", "q", None))
    assert 900.0 < left.seconds() < 2 * 900.0
    left.finish(("d", "m", "method1", "q", None))  # the task's work done: on schedule again
    assert left.seconds() == pytest.approx(860.0, rel=0.01)


# --------------------------------------------------------------------------------------------
# Peak memory
# --------------------------------------------------------------------------------------------


def test_peak_memory_per_stage():
    """Stages are measured apart, with the allocator as xaibench run tunes it (freed memory kept
    for reuse): what a stage freed is handed back before the next one is measured."""
    tune_allocator()  # as in xaibench run (the test process may or may not have been tuned yet)
    memory = cost.PeakMemory()
    if not memory.resettable:
        pytest.skip("the resident high-water mark cannot be reset here (Linux only)")
    memory.mark()
    block = np.ones(200 * 2**20 // 8)  # 200 MB, touched
    del block
    big = memory.mark()
    small = memory.mark()
    assert big - small > 150  # the first stage held the block; the next did not
    assert memory.run_peak() >= big
    assert cost.process_peak_mb() > 0


# --------------------------------------------------------------------------------------------
# xaibench run: the estimate, --max-minutes
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_max_minutes_refuses_before_computing_and_loses_nothing(tmp_path, capsys):
    from xaibench.cli import main

    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["deletion", "sparseness"])
    out = tmp_path / "run"
    args = ["run", "--config", str(cfg), "--out", str(out), "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "estimated time:" in err and "took " in err and "peak memory" in err
    with Store(out / "results.sqlite", readonly=True) as store:
        run, cells = store.run(), store.cells()
    assert run["estimated_seconds"] > 0 and run["peak_memory_mb"] > 0
    assert cells["estimated_seconds"].notna().all()

    more = write_config(tmp_path / "c.toml", ["saliency", "occlusion"], ["deletion", "sparseness"])
    assert (
        main(
            [
                "run",
                "--config",
                str(more),
                "--out",
                str(out),
                "--no-progress",
                "--max-minutes",
                "1e-6",
            ]
        )
        == 2
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2  # the banner, one line
    assert lines[1].startswith("xaibench: error: the run is estimated at ")
    assert (
        "over --max-minutes 1e-06" in lines[1]
        and "largest cells: digits/linear/occlusion/" in lines[1]
    )
    assert "nothing was computed" in lines[1]
    with Store(out / "results.sqlite", readonly=True) as store:
        assert store.run()["id"] == run["id"]  # no run recorded
        assert len(store.cells(run["id"])) == 2 and (store.cells(run["id"]).status == "ok").all()

    assert main([*args[:2], str(more), *args[3:], "--max-minutes", "60"]) == 0
    err = capsys.readouterr().err
    assert "estimated time:" in err and "for 2 cells" in err  # only occlusion's are computed
    assert main([*args[:2], str(more), *args[3:]]) == 0
    assert "estimated time" not in capsys.readouterr().err  # everything stored: nothing to say


@pytest.mark.slow
def test_a_config_without_models_says_it_runs_the_quick_suite_s(tmp_path, capsys):
    """Your own data, no ``models``: the quick suite's linear and cnn are trained on it; the
    estimate says so before the run, and how to choose."""
    from xaibench.cli import main

    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["sparseness"], samples=2)
    cfg.write_text(cfg.read_text().replace('models = ["linear"]\n', ""))
    args = ["run", "--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert (
        "  models linear, cnn (the quick suite's, trained on this data as the config lists no "
        "models; set models = [...] or --models to choose)"
    ) in err.splitlines()


@pytest.mark.slow
def test_max_minutes_refusing_leaves_no_file_where_none_was(tmp_path, capsys):
    """It used to leave an empty results.sqlite and a lock file (the store is opened before
    the estimate): what the run created is removed, folders too; what was there stays."""
    from xaibench.cli import main

    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["sparseness"])
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    for out in (tmp_path / "new" / "deeper" / "run", kept):
        argv = ["run", "--config", str(cfg), "--out", str(out), "--no-progress"]
        assert main([*argv, "--max-minutes", "1e-9"]) == 2
        assert "over --max-minutes" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]


def test_max_minutes_must_be_positive(tmp_path, capsys):
    from xaibench.cli import main

    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["sparseness"])
    args = ["run", "--config", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main([*args, "--max-minutes", "0"]) == 2
    assert "--max-minutes must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_a_dask_run_records_the_peak_memory_of_its_workers_and_cells(tmp_path, capsys):
    """Each worker measures its own peak and, stage by stage, each cell's (two tasks: both
    workers may compute); the estimate counts the workers' parallel time. A cell's peak is the
    worker process's, so it holds TensorFlow (over 100 MB) and never exceeds the workers'
    largest peak over their lives."""
    pytest.importorskip("distributed")
    from xaibench.cli import main

    cfg = write_config(tmp_path / "c.toml", ["saliency", "random"], ["deletion", "sparseness"])
    out = tmp_path / "run"
    args = ["run", "--config", str(cfg), "--out", str(out), "--no-progress"]
    assert main([*args, "--executor", "dask", "--workers", "2"]) == 0
    assert "for 4 cells on 2 workers" in capsys.readouterr().err
    with Store(out / "results.sqlite", readonly=True) as store:
        run, cells = store.run(), store.cells()
    assert run["worker_peak_memory_mb"] > 100  # a worker holds TensorFlow and the model
    assert len(cells) == 4 and (cells.status == "ok").all()
    if cost.PeakMemory().resettable:  # the workers run on this machine: Linux, as here
        peaks = cells["peak_memory_mb"]
        assert np.isfinite(peaks).all()
        assert peaks.between(100, run["worker_peak_memory_mb"]).all()
    else:
        assert cells["peak_memory_mb"].isna().all()
