"""runtime: seconds per sample of a sleeping method (warm-up call, batches), explain= required,
and the model calls methods declare (read, validated, well formed for every built-in method)."""

from __future__ import annotations

import time

import _metric_cases  # noqa: F401  (registers the method "test_edges" used below)
import _tiny
import numpy as np
import pytest

import xaibench as xb

SLEEP = 0.02
SLEEPY_CALLS: list[int] = []


@xb.methods.register("test_sleepy", replace=True)
def sleepy(model, x, y, seconds=SLEEP):
    """Sleeps ``seconds`` per call and returns zeros."""
    SLEEPY_CALLS.append(len(x))
    time.sleep(seconds)
    return np.zeros_like(x)


def test_runtime_lower_bound():
    x = np.ones((5, 3), np.float32)
    y = np.zeros(5, int)
    model = _tiny.linear_tabular(np.ones((3, 2)), np.zeros(2))
    q = xb.metrics.get("runtime", batch_size=2)
    SLEEPY_CALLS.clear()
    got = q(model, x, y, np.zeros_like(x), explain=xb.methods.get("test_sleepy"))
    # one warm-up call on the first batch, then batches of 2, 2, 1
    assert SLEEPY_CALLS == [2, 2, 2, 1]
    assert got.shape == (5,)
    assert np.all(got >= np.array([SLEEP / 2] * 4 + [SLEEP]))


def test_runtime_auto_times_64_samples_per_call():
    """batch_size="auto" (the default) times TIMED_BATCH = 64 samples per call of the method,
    the fixed size before "auto" (times stay comparable; the method's own batches bound the
    memory)."""
    x = np.ones((70, 3), np.float32)
    model = _tiny.linear_tabular(np.ones((3, 2)), np.zeros(2))
    q = xb.metrics.get("runtime")
    assert q.params["batch_size"] == "auto"
    SLEEPY_CALLS.clear()
    q(model, x, np.zeros(70, int), x, explain=xb.methods.get("test_sleepy", seconds=0.0))
    assert SLEEPY_CALLS == [64, 64, 6]  # the warm-up on the first batch, then the timed ones


def test_runtime_needs_explain():
    x = np.ones((2, 3), np.float32)
    model = _tiny.linear_tabular(np.ones((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="explain"):
        xb.metrics.get("runtime")(model, x, [0, 0], np.zeros_like(x))


# --------------------------------------------------------------------------------------------
# Model calls the method declares
# --------------------------------------------------------------------------------------------


class PatchMethod(xb.methods.Method):
    """Declares occlusion-like calls: one forward pass per 2x2 patch plus the original."""

    def explain(self, model, x, y):
        return np.zeros_like(x)

    def model_calls(self, input_shape):
        if len(input_shape) != 3:
            return None  # not known for tabular rows
        return {"forward": (input_shape[0] // 2) * (input_shape[1] // 2) + 1, "backward": 0}


class GradientMethod(xb.methods.Method):
    model_calls = {"forward": 1, "backward": 1}

    def explain(self, model, x, y):
        return np.zeros_like(x)


@pytest.mark.parametrize(
    "method, x_shape, expected",
    [
        (PatchMethod(), (3, 6, 4, 1), {"forward": 7.0, "backward": 0.0}),
        (PatchMethod(), (3, 5), None),
        (GradientMethod(), (3, 5), {"forward": 1.0, "backward": 1.0}),
        (xb.methods.get("test_edges"), (3, 5), None),  # declares nothing: unknown
    ],
)
def test_runtime_calls(method, x_shape, expected):
    x = np.zeros(x_shape, np.float32)
    assert xb.metrics.cls("runtime").calls(method, x) == expected
    assert xb.metrics.get("runtime").calls(method, x) == expected


@pytest.mark.parametrize(
    "declared, match",
    [
        ({"forward": 1}, "'forward' and 'backward'"),
        ({"forward": 1, "backward": 1, "extra": 2}, "'forward' and 'backward'"),
        ({"forward": -1, "backward": 0}, "forward"),
        ({"forward": 1, "backward": "2"}, "backward"),
        ({"forward": np.nan, "backward": 0}, "forward"),
        ([1, 1], "dict"),
    ],
)
def test_runtime_calls_bad_declaration(declared, match):
    method = GradientMethod()
    method.model_calls = declared
    with pytest.raises(TypeError, match=match):
        xb.metrics.cls("runtime").calls(method, np.zeros((1, 3), np.float32))


MODEL_FREE = ("random", "sobel")


@pytest.mark.parametrize(
    "name",
    _tiny.builtin(xb.methods),
)
def test_builtin_declared_calls_are_well_formed(name):
    calls = xb.metrics.cls("runtime").calls(
        xb.methods.get(name), np.zeros((2, 8, 8, 1), np.float32)
    )
    if name in MODEL_FREE:  # the controls that never read the model declare no calls
        assert calls == {"forward": 0.0, "backward": 0.0}
        return
    assert calls is None or (set(calls) == {"forward", "backward"} and calls["forward"] >= 1)
    assert calls is None or calls["backward"] <= calls["forward"]


def test_a_run_s_task_times_the_method_once_more_and_runtime_reads_that():
    """issue 30: runtime ran the method twice more (a warm-up and the timed calls); a run's task
    explains once, then times one warm call of all the samples, which runtime reads (every
    sample: seconds / N). Called directly, runtime still times the method itself."""
    from xaibench.benchmark.executors import Work, compute_method
    from xaibench.metrics.cost.runtime import Timed

    x = np.ones((5, 3), np.float32)
    y = np.zeros(5, int)
    model = _tiny.linear_tabular(np.ones((3, 2)), np.zeros(2))
    metrics = [xb.metrics.get("runtime"), xb.metrics.get("sparseness")]
    SLEEPY_CALLS.clear()
    out = compute_method(model, Work(xb.methods.get("test_sleepy"), metrics, x, y))
    assert SLEEPY_CALLS == [5, 5]  # the explanation, then the timed warm call
    (status, fields), _ = out.outcomes
    assert status == "ok"
    np.testing.assert_array_equal(fields["scores"], np.full(5, fields["scores"][0]))
    assert fields["scores"][0] >= SLEEP / 5
    timed = Timed(xb.methods.get("test_sleepy"), 1.0)
    got = xb.metrics.get("runtime")(model, x, y, np.zeros_like(x), explain=timed)
    np.testing.assert_array_equal(got, np.full(5, 0.2))
    SLEEPY_CALLS.clear()
    out = compute_method(model, Work(xb.methods.get("test_sleepy"), metrics[1:], x, y))
    assert SLEEPY_CALLS == [5]  # no metric times the method: no second call
