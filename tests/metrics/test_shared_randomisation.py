"""The explanation of the fully randomised model, shared by model_randomisation (a cascade that
reaches every layer), smooth_mprt (its noise-free copy after the last step) and efficient_mprt:
computed once, the same numbers as each computes alone, in any order, and never reused for
another model, model state, method, seed or input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import xaibench as xb
from xaibench.metrics.randomisation import _randomised
from xaibench.models.perturb import scaled_weights


class Recording(xb.methods.Method):
    """Saliency that keeps the model's weights and the inputs at each call."""

    def __init__(self):
        self.seen, self.given = [], []

    def explain(self, model, x, y):
        self.seen.append([w.copy() for w in model.get_weights()])
        self.given.append(x.copy())
        return xb.methods.get("saliency")(model, x, y)


TRIO = {
    "model_randomisation": {},  # cascading through all 3 layers of mlp3
    "smooth_mprt": {"samples": 2, "layers": 1},  # the suites' budget
    "efficient_mprt": {},
}


def score(name, model, x, y, a, method, **settings):
    return xb.metrics.get(name, **{**TRIO[name], **settings})(model, x, y, a, explain=method)


def alone(name, model, x, y, a, **settings):
    """The metric's scores computed with nothing remembered."""
    _randomised._LAST.clear()
    return score(name, model, x, y, a, Recording(), **settings)


def test_the_three_explain_the_fully_randomised_model_once(tab3):
    """mlp3: model_randomisation explains after each of its 3 steps, the last on the fully
    randomised model; smooth_mprt then explains the original's noisy copy and, after the last
    step, only the randomised model's noisy copy; efficient_mprt explains nothing."""
    model, x, y = tab3
    method = Recording()
    a = method(model, x, y)
    _randomised._LAST.clear()
    calls = {}
    for name in TRIO:
        before = len(method.seen)
        score(name, model, x, y, a, method)
        calls[name] = len(method.seen) - before
    assert calls == {"model_randomisation": 3, "smooth_mprt": 2, "efficient_mprt": 0}
    # the shared call is on x itself with every layer changed; the noisy copies are not x
    full = method.seen[3]
    kernels = zip(full[::2], method.seen[0][::2], strict=True)
    assert all(not np.array_equal(w, w0) for w, w0 in kernels)
    np.testing.assert_array_equal(method.given[3], x)
    for inputs in method.given[4:]:
        assert inputs.shape == x.shape and not np.array_equal(inputs, x)
    for w, w0 in zip(model.get_weights(), method.seen[0], strict=True):
        np.testing.assert_array_equal(w, w0)  # restored


@pytest.mark.parametrize("order", list(itertools.permutations(TRIO)))
def test_shared_or_alone_the_scores_are_the_same_in_any_order(tab3, order):
    """The shared explanation is the one every metric computes alone (the same calls on the
    same weights: bitwise), whichever metric computes it first."""
    model, x, y = tab3
    a = xb.methods.get("saliency")(model, x, y)
    expected = {name: alone(name, model, x, y, a) for name in TRIO}
    _randomised._LAST.clear()
    method = Recording()
    for name in order:
        np.testing.assert_array_equal(score(name, model, x, y, a, method), expected[name])


def test_the_fully_randomised_weights_are_the_same_from_either_end(tab3):
    """model_randomisation cascades from the output layer, efficient_mprt from the input layer:
    each layer gets its own seed, so both reach the same weights (bitwise)."""
    model, x, y = tab3
    a = xb.methods.get("saliency")(model, x, y)
    top_down, bottom_up = Recording(), Recording()
    _randomised._LAST.clear()
    score("model_randomisation", model, x, y, a, top_down)
    _randomised._LAST.clear()
    score("efficient_mprt", model, x, y, a, bottom_up)
    (full,) = bottom_up.seen
    for w, w_other in zip(top_down.seen[-1], full, strict=True):
        np.testing.assert_array_equal(w, w_other)


@pytest.mark.parametrize(
    "other",
    [
        "another seed",
        "another method object",
        "other inputs",
        "other weights of the same model",
        "a cascade short of the input layer",
        "independent layers",
    ],
)
def test_nothing_else_reuses_it(tab3, other):
    """After efficient_mprt has computed it, a computation that differs in anything the
    explanation depends on explains again, and model_randomisation steps that do not end with
    every layer random never read it."""
    model, x, y = tab3
    first = Recording()
    a = first(model, x, y)
    _randomised._LAST.clear()
    score("efficient_mprt", model, x, y, a, first)
    method, settings, inputs = first, {}, x
    name = "efficient_mprt"
    if other == "another seed":
        settings = {"seed": 1}
    elif other == "another method object":
        method = Recording()
    elif other == "other inputs":
        inputs = x[::-1].copy()
    elif other == "a cascade short of the input layer":
        name, settings = "model_randomisation", {"layers": 2}
    elif other == "independent layers":
        name, settings = "model_randomisation", {"mode": "independent"}
    before = len(method.seen)
    if other == "other weights of the same model":
        with scaled_weights(model, 0.1, 0):  # the same object, other weights
            score(name, model, inputs, y, a, method, **settings)
    else:
        score(name, model, inputs, y, a, method, **settings)
    steps = {"model_randomisation": 2 if "cascade" in other else 3, "efficient_mprt": 1}[name]
    assert len(method.seen) - before == steps


def test_the_estimate_counts_the_shared_explanation_once():
    """Saliency at 0.03 s per sample on 4 rows of mlp3 (3 weighted layers): model_randomisation
    re-explains 3 times, smooth_mprt (2 copies, measured once) 1 + 2 = 3 times but its
    noise-free copy after the last step is model_randomisation's, efficient_mprt once, shared
    too; the method's own explanation is shared by the 3 cells."""
    from _metric_cases import mlp3

    from xaibench.benchmark import cost

    timing = cost.Probe(forward=0.01, gradient=0.03, imputation=0.5)
    x = np.zeros((4, 16), np.float32)
    metrics = [xb.metrics.get(name, **settings) for name, settings in TRIO.items()]
    got = cost.task_estimates(("d", "m"), xb.methods.get("saliency"), metrics, x, mlp3(), timing)
    share = 4 * 0.03 / 3 + cost.CELL_OVERHEAD
    expected = [share + 4 * 3 * 0.03, share + 4 * 2 * 0.03, share]
    assert [c.seconds for c in got] == pytest.approx(expected, rel=1e-12)
    short = [xb.metrics.get("model_randomisation", layers=2), metrics[2]]  # nothing shared
    got = cost.task_estimates(("d", "m"), xb.methods.get("saliency"), short, x, mlp3(), timing)
    share = 4 * 0.03 / 2 + cost.CELL_OVERHEAD
    assert [c.seconds for c in got] == pytest.approx([share + 4 * 2 * 0.03, share + 4 * 0.03])
