"""User code that is hostile to what it is given (issue 25): a method or metric that writes into
its inputs fails, naming itself and the argument, and changes nothing the caller or the run holds
(``xb.evaluate``, direct calls, a run and its store, the Dask task); attributions out of
float32's range or complex, and complex inputs, are errors naming what holds them; a constant or
all-zero map scores NaN for every metric of what a map says about features (README, Promises
and Conventions)."""

from __future__ import annotations

import pickle

import _tiny
import numpy as np
import pytest
from _metric_cases import FAST_SETTINGS, builtin_metrics
from _runs import write_config

import xaibench as xb
from xaibench._checks import ModifiedInput
from xaibench.benchmark import executors, runner
from xaibench.benchmark.config import load_config
from xaibench.store import Store

SHAPE = (4, 4, 1)
N = 6


@pytest.fixture(scope="module")
def case():
    """A linear model on 4x4 grey images, 3 classes, N samples."""
    rng = np.random.default_rng(25)
    model = _tiny.linear_image(rng.normal(size=(16, 3)).round(2), np.zeros(3), SHAPE)
    x = rng.uniform(size=(N,) + SHAPE).astype(np.float32)
    y = np.arange(N) % 3
    masks = np.zeros((N,) + SHAPE[:2], bool)
    masks[:, 1:3, 1:3] = True
    return model, x, y, masks


@xb.methods.register("test_zeroing", replace=True)
def zeroing(model, x, y):
    """The issue's method: zeroes its input, explains with ones."""
    x[...] = 0
    return np.ones_like(x)


@xb.methods.register("test_relabelling", replace=True)
def relabelling(model, x, y):
    """Writes into its targets, explains like the input."""
    y[:] = 0
    return x * 1.0


@xb.methods.register("test_reads_only", replace=True)
def reads_only(model, x, y):
    """Only reads its input."""
    return np.nan_to_num(x) * 2.0


@xb.methods.register("test_writes_when_rerun", replace=True)
def writes_when_rerun(model, x, y):
    """Explains like |x - 0.5|, but writes into the perturbed inputs a metric re-runs it on
    (more than N samples: max_sensitivity's copies)."""
    a = np.abs(x - 0.5)
    if len(x) > N:
        x += 1.0
    return a


@xb.metrics.register(
    "test_writer",
    replace=True,
    higher_is_better=True,
    needs_model=False,
    needs_masks=True,
    category="localisation",
)
def writer(model, x, y, a, masks, target="a"):
    """A metric that writes into its ``target`` argument (x, y, a or masks), scores sum(a)."""
    score = a.sum(axis=1)
    given = {"x": x, "y": y, "a": a, "masks": masks}[target]
    given[...] = 1 if given.dtype == bool else 7
    return score


@xb.methods.register("test_huge", replace=True)
def huge(model, x, y, value=1e39):
    """Attributions of ``value`` at one pixel (float64: 1e39 is beyond float32's range)."""
    a = np.zeros(x.shape)
    a[:, 0] = value
    return a


@xb.methods.register("test_complex", replace=True)
def complex_attributions(model, x, y):
    return x * (1 + 1j)


# Writing into inputs --------------------------------------------------------------------------


def test_evaluate_fails_the_method_that_zeroes_its_input_and_scores_the_others(case):
    """The issue's case: saliency's deletion was corrupted (0.1009 instead of 0.3673 on
    digits/linear) and the caller's x zeroed."""
    model, x, y, _ = case
    given = x.copy()
    with pytest.warns(UserWarning, match="test_zeroing failed"):
        df = xb.evaluate(model, x, y, ["test_zeroing", "saliency"], ["deletion"])
    np.testing.assert_array_equal(x, given)
    error = df.attrs["failed"]["test_zeroing"]
    assert error.startswith("ModifiedInput: method 'test_zeroing' changed its input x")
    assert set(df["method"]) == {"saliency"}
    alone = xb.evaluate(model, x, y, ["saliency"], ["deletion"])
    np.testing.assert_array_equal(df["score"], alone["score"])  # the same computation


@pytest.mark.parametrize("name, argument", [("test_zeroing", "x"), ("test_relabelling", "y")])
def test_a_direct_call_fails_and_leaves_the_caller_s_arrays_as_they_were(case, name, argument):
    model, x, y, _ = case
    x0, y0 = x.copy(), y.copy()
    with pytest.raises(ModifiedInput, match=f"method '{name}' changed its input {argument}:"):
        xb.methods.get(name)(model, x, y)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_reading_is_not_changing_nan_and_negative_zero_included(case):
    """The copies are compared bit for bit: a NaN input equals itself, and a method that only
    reads its input passes whatever the values."""
    model, x, y, _ = case
    odd = x.copy()
    odd[0, 0, 0, 0], odd[1, 0, 0, 0] = np.nan, -0.0
    a = xb.methods.get("test_reads_only")(model, odd, y)
    assert a.shape == x.shape


@pytest.mark.parametrize("target", ["x", "y", "a", "masks"])
def test_a_metric_that_writes_into_an_argument_fails_naming_it(case, target):
    model, x, y, masks = case
    a = np.random.default_rng(1).normal(size=(N,) + SHAPE[:2])
    held = [x.copy(), y.copy(), a.copy(), masks.copy()]
    q = xb.metrics.get("test_writer", target=target)
    with pytest.raises(ModifiedInput, match=f"metric 'test_writer' changed its input {target}:"):
        q(None, x, y, a, masks=masks)
    for got, kept in zip([x, y, a, masks], held, strict=True):
        np.testing.assert_array_equal(got, kept)
    # in xb.evaluate: that cell fails, the other metric of the method is scored
    with pytest.warns(UserWarning, match="test_writer failed"):
        df = xb.evaluate(model, x, y, ["saliency"], [q, "sparseness"], masks=masks)
    assert "changed its input" in df.attrs["failed"]["saliency/test_writer"]
    assert set(df["metric"]) == {"sparseness"}


def test_a_method_writing_into_what_a_metric_re_runs_it_on_fails_that_cell(case):
    """The re-explaining metric's working copies are the method's to read, not to change: the
    cell fails naming the method; the method's other cells are scored."""
    model, x, y, _ = case
    metrics = [("max_sensitivity", FAST_SETTINGS["max_sensitivity"]), "sparseness"]
    with pytest.warns(UserWarning, match="max_sensitivity failed"):
        df = xb.evaluate(model, x, y, ["test_writes_when_rerun"], metrics)
    error = df.attrs["failed"]["test_writes_when_rerun/max_sensitivity"]
    assert "method 'test_writes_when_rerun' changed its input x" in error
    assert set(df["metric"]) == {"sparseness"}


def test_the_dask_task_fails_the_cells_and_keeps_its_arrays(case):
    """``compute_method`` is the task a Dask worker runs (``remote_method``, after the task
    travelled pickled): the method's cells are errors, never ok, and the task's arrays stay."""
    pytest.importorskip("distributed")
    cloudpickle = pytest.importorskip("cloudpickle")
    _, x, y, _ = case
    work = executors.Work(xb.methods.get("test_zeroing"), [xb.metrics.get("sparseness")], x, y)
    work = pickle.loads(cloudpickle.dumps(work))
    result = executors.remote_method(None, work)
    [(status, fields)] = result.outcomes
    assert status == "error" and "ModifiedInput: method 'test_zeroing'" in fields["error"]
    np.testing.assert_array_equal(work.x, x)


@pytest.mark.slow
def test_a_run_stores_the_writing_method_as_failed_and_the_others_uncorrupted(tmp_path):
    """In a run the corrupted cells were stored ok and reused by a later clean run ("4
    reused"). Now the writing method's cells fail (and are tried again by the next run), the
    other method's equal a run without it, and what a later run reuses is those."""
    hostile = load_config(
        write_config(tmp_path / "a.toml", ["test_zeroing", "saliency"], ["deletion"], samples=4)
    )
    clean = load_config(write_config(tmp_path / "b.toml", ["saliency"], ["deletion"], samples=4))
    result = runner.run(hostile, tmp_path / "run", progress=False)
    assert [f["method"] for f in result.failures] == ["test_zeroing"]
    assert "changed its input x" in result.failures[0]["error"]
    with Store(tmp_path / "run" / "results.sqlite") as store:
        cells = store.cells().set_index("method")
    assert cells.loc["test_zeroing", "status"] == "error"
    assert cells.loc["saliency", "status"] == "ok"
    again = runner.run(hostile, tmp_path / "run", progress=False)
    assert (again.computed, again.reused, len(again.failures)) == (1, 1, 1)  # tried again
    later = runner.run(clean, tmp_path / "run", progress=False)
    assert (later.computed, later.reused, later.failures) == (0, 1, [])
    fresh = runner.run(clean, tmp_path / "fresh", progress=False)
    assert fresh.computed == 1
    with (
        Store(tmp_path / "run" / "results.sqlite") as a,
        Store(tmp_path / "fresh" / "results.sqlite") as b,
    ):
        reused, computed = a.scores(), b.scores()
    np.testing.assert_array_equal(reused["score"], computed["score"])


# Attributions and inputs numpy would silently change -------------------------------------------


def test_attributions_beyond_float32_s_range_are_an_error_naming_the_method(case):
    """A method returning float64 1e39 became float32 inf, and every score NaN."""
    model, x, y, _ = case
    with pytest.raises(ValueError, match="the attributions of method 'test_huge': values beyond"):
        xb.methods.get("test_huge")(model, x, y)
    with pytest.raises(ValueError, match="'test_huge': values below the range of float32"):
        xb.methods.get("test_huge", value=1e-40)(model, x, y)
    a = xb.methods.get("test_huge", value=3e38)(model, x, y)  # within range: kept
    assert a.dtype == np.float32 and np.isfinite(a).all()
    with pytest.warns(UserWarning, match="values beyond the range of float32"):
        df = xb.evaluate(model, x, y, ["test_huge", "saliency"], ["sparseness"])
    assert set(df["method"]) == {"saliency"}
    # non-finite values stay what they are: their samples score NaN (README, Conventions)
    inf = xb.methods.get("test_huge", value=np.inf)(model, x, y)
    assert np.isinf(inf[:, 0]).all()


def test_complex_values_are_an_error_naming_what_holds_them(case):
    model, x, y, masks = case
    with pytest.raises(TypeError, match="attributions of method 'test_complex': complex values"):
        xb.methods.get("test_complex")(model, x, y)
    with pytest.raises(TypeError, match="^x: complex values"):
        xb.methods.get("saliency")(model, x + 0j, y)
    with pytest.raises(TypeError, match="^x: complex values"):
        xb.evaluate(model, x.astype(np.complex64), y, ["saliency"], ["sparseness"])
    a = np.ones((N,) + SHAPE[:2]) + 1j
    with pytest.raises(TypeError, match="^a: complex values"):
        xb.metrics.get("sparseness")(None, x, y, a)
    with pytest.raises(ValueError, match="y must hold integer class ids"):
        xb.methods.get("saliency")(model, x, y + 0j)


@xb.metrics.register(
    "test_complex_scores",
    replace=True,
    higher_is_better=True,
    category="complexity",
    needs_model=False,
)
def complex_scores(model, x, y, a):
    return a.sum(axis=1) * 1j


def test_a_metric_returning_complex_scores_is_an_error_naming_it(case):
    _, x, y, _ = case
    a = np.random.default_rng(2).normal(size=(N,) + SHAPE[:2])
    with pytest.raises(TypeError, match="scores of metric 'test_complex_scores': complex"):
        xb.metrics.get("test_complex_scores")(None, x, y, a)


# Constant maps: one rule ---------------------------------------------------------------------


@pytest.mark.parametrize("name", builtin_metrics())
def test_a_constant_map_scores_nan_unless_the_metric_reads_values(name):
    """Sample 0 is a map, sample 1 constant (0.7 everywhere), sample 2 all zero. A constant map
    ranks no feature above another: NaN for every metric of what a map says about features;
    completeness, infidelity, the sensitivities and runtime read its values and score it (the
    sensitivities' ratio divides by the map's norm: NaN for the all-zero one)."""
    shape = (6, 6, 2)
    model = _tiny.small_cnn(shape, n_out=3, seed=1)
    rng = np.random.default_rng(26)
    x = rng.uniform(size=(3,) + shape).astype(np.float32)
    y = np.array([0, 1, 2])
    a = np.zeros((3,) + shape[:2])
    a[0] = rng.normal(size=shape[:2])
    a[1] = 0.7
    masks = np.zeros((3,) + shape[:2], bool)
    masks[:, 2:4, 1:5] = True
    q = xb.metrics.get(name, **FAST_SETTINGS.get(name, {}))
    kw = {"explain": xb.methods.get("saliency")} if q.needs_explain else {}
    if q.needs_masks:
        kw["masks"] = masks
    got = q(model, x, y, a, **kw)
    assert np.isfinite(got[0])
    if not q.scores_constant_maps:  # which metrics: tests/metrics/test_metric_metadata.py
        assert np.isnan(got[1:]).all()
    elif name.endswith("_sensitivity"):
        assert np.isfinite(got[1]) and np.isnan(got[2])
    else:
        assert np.isfinite(got[1:]).all()
    if isinstance(q, xb.metrics.CurveMetric):
        curves = q.curves(model, x, y, a)
        assert np.isfinite(curves[0]).all() and np.isnan(curves[1:]).all()


def test_a_user_metric_follows_the_rule_unless_it_declares_otherwise(case):
    _, x, y, _ = case
    a = np.zeros((N,) + SHAPE[:2])
    a[0, 0, 0] = 1.0

    kinds = {"higher_is_better": True, "category": "complexity"}

    def total(model, x, y, a):
        return a.sum(axis=1)

    xb.metrics.register("test_total", replace=True, needs_model=False, **kinds)(total)
    got = xb.metrics.get("test_total")(None, x, y, a)
    assert got[0] == 1.0 and np.isnan(got[1:]).all()
    xb.metrics.register(
        "test_total", replace=True, needs_model=False, scores_constant_maps=True, **kinds
    )(total)
    np.testing.assert_array_equal(xb.metrics.get("test_total")(None, x, y, a), [1.0] + [0.0] * 5)
