"""model_randomisation (Adebayo et al. 2018): one for model-free explanations, low for saliency,
the right layers randomised in each mode, Spearman checked by hand, weights restored, settings."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _metric_cases import spearman_each
from _tolerance import assert_float64_close

import xaibench as xb
from xaibench._tf import keras


class Recording(xb.methods.Method):
    """Saliency (or the edge map) that keeps a copy of the model's weights at every call and can
    raise at a given call."""

    def __init__(self, *, inner="saliency", fail_at=None):
        self.inner, self.fail_at = inner, fail_at
        self.seen = []

    def explain(self, model, x, y):
        self.seen.append([w.copy() for w in model.get_weights()])
        if self.fail_at is not None and len(self.seen) >= self.fail_at:
            raise RuntimeError("explain failed on purpose")
        return xb.methods.get(self.inner)(model, x, y)


@pytest.fixture(scope="module")
def cnn():
    rng = np.random.default_rng(21)
    x = rng.uniform(size=(5, 5, 5, 2)).astype(np.float32)
    return _tiny.small_cnn((5, 5, 2)), x, np.array([0, 1, 2, 1, 0])


def model_free_methods():
    out = [("test_edges", "tabular"), ("test_edges", "image")]
    if "sobel" in xb.methods.names():
        out.append(("sobel", "image"))
    return out


@pytest.mark.parametrize("method, kind", model_free_methods())
@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_model_free_method_scores_one(tab3, cnn, method, kind, mode):
    """The sanity check: an explanation that ignores the model is unchanged by randomisation."""
    model, x, y = tab3 if kind == "tabular" else cnn
    explain = xb.methods.get(method)
    a = explain(model, x, y)
    q = xb.metrics.get("model_randomisation", mode=mode)
    steps = q.layer_correlations(model, x, y, a, explain=explain)
    assert steps.shape == (len(x), len(q.randomised_layers(model)))
    np.testing.assert_allclose(steps, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(q(model, x, y, a, explain=explain), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["cascading", "independent"])
def test_saliency_fails_to_stay_the_same(tab3, mode):
    """Saliency depends on the weights: its maps decorrelate as the layers are randomised."""
    model, x, y = tab3
    sal = xb.methods.get("saliency")
    scores = xb.metrics.get("model_randomisation", mode=mode)(
        model, x, y, sal(model, x, y), explain=sal
    )
    assert np.isfinite(scores).all()
    assert scores.mean() < 0.5 and scores.max() < 0.8


def test_layers_top_first(tab3, cnn):
    q = xb.metrics.get("model_randomisation")
    names = [layer.name for layer in tab3[0].layers]  # Dense, Dense, Dense
    assert q.randomised_layers(tab3[0]) == names[::-1]
    conv, _, dense = cnn[0].layers  # Conv2D, Flatten (no weights), Dense
    assert q.randomised_layers(cnn[0]) == [dense.name, conv.name]
    assert (
        xb.metrics.get("model_randomisation", layers=2).randomised_layers(tab3[0]) == names[:0:-1]
    )
    assert xb.metrics.get("model_randomisation", layers=9).randomised_layers(cnn[0]) == [
        dense.name,
        conv.name,
    ]


def changed(before, after):
    """Per layer (kernel, bias pairs): whether its weights differ."""
    return [
        not (np.array_equal(before[i], after[i]) and np.array_equal(before[i + 1], after[i + 1]))
        for i in range(0, len(before), 2)
    ]


@pytest.mark.parametrize(
    "mode, expected",
    [
        # layers (input -> output) randomised at steps 1, 2, 3: the top one first
        ("cascading", [[False, False, True], [False, True, True], [True, True, True]]),
        ("independent", [[False, False, True], [False, True, False], [True, False, False]]),
    ],
)
def test_modes_randomise_the_right_layers(tab3, mode, expected):
    model, x, y = tab3
    original = [w.copy() for w in model.get_weights()]
    rec = Recording()
    xb.metrics.get("model_randomisation", mode=mode)(model, x, y, rec(model, x, y), explain=rec)
    seen = rec.seen[1:]  # the first call made the attributions being scored
    assert [changed(original, w) for w in seen] == expected
    for k, layer in enumerate([2, 1, 0]):  # the step-k layer is re-initialised from its initializer
        kernel, bias = seen[k][2 * layer], seen[k][2 * layer + 1]
        fan_in, fan_out = kernel.shape
        assert np.abs(kernel).max() <= np.sqrt(6 / (fan_in + fan_out))  # Glorot uniform
        assert kernel.std() > 0.1 * np.sqrt(6 / (fan_in + fan_out))
        np.testing.assert_array_equal(bias, 0.0)  # zero bias initializer
    for w0, w1 in zip(original, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w0)


def test_same_layer_same_random_weights_in_both_modes(tab3):
    model, x, y = tab3
    a = xb.methods.get("saliency")(model, x, y)
    runs = {}
    for mode in ("cascading", "independent"):
        rec = Recording()
        xb.metrics.get("model_randomisation", mode=mode, seed=3)(model, x, y, a, explain=rec)
        runs[mode] = rec.seen
    for k, layer in enumerate([2, 1, 0]):
        for i in (2 * layer, 2 * layer + 1):
            np.testing.assert_array_equal(runs["cascading"][k][i], runs["independent"][k][i])


def test_modes_give_different_steps(tab3):
    model, x, y = tab3
    sal = xb.methods.get("saliency")
    a = sal(model, x, y)
    casc = xb.metrics.get("model_randomisation").layer_correlations(model, x, y, a, explain=sal)
    ind = xb.metrics.get("model_randomisation", mode="independent").layer_correlations(
        model, x, y, a, explain=sal
    )
    assert casc.shape == ind.shape == (len(x), 3)
    np.testing.assert_array_equal(casc[:, 0], ind[:, 0])  # step 1: the same top layer only
    assert not np.allclose(casc[:, 1], ind[:, 1])
    assert not np.allclose(casc[:, 2], ind[:, 2])


def test_correlation_by_hand_on_linear_model():
    """One Dense layer: saliency is |W[:, y]| before and after; the step is Spearman of the two
    columns (ties averaged), checked against scipy on the recorded random weights."""
    rng = np.random.default_rng(23)
    w = rng.normal(size=(9, 3))
    model = _tiny.linear_tabular(w, np.zeros(3))
    x = rng.normal(size=(5, 9)).astype(np.float32)
    y = np.array([0, 1, 2, 2, 0])
    a = np.round(np.abs(w[:, y].T), 1)  # rounded: ties in the ranks
    rec = Recording()
    got = xb.metrics.get("model_randomisation", seed=7)(model, x, y, a, explain=rec)
    ((w_random, _),) = [seen[:2] for seen in rec.seen]
    expected = spearman_each(a, np.abs(w_random[:, y].T))
    assert_float64_close(
        got, expected, terms=a.shape[1]
    )  # a rank correlation: float64 over integer ranks of the features (TF round-off moves no order here)
    assert np.all(np.abs(expected) < 1)


@pytest.mark.parametrize("mode", ["cascading", "independent"])
@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_weights_restored_even_when_explain_raises(tab3, mode, fail_at):
    model, x, y = tab3
    before = [w.copy() for w in model.get_weights()]
    out_before = model.predict_on_batch(x)
    a = xb.methods.get("saliency")(model, x, y)
    with pytest.raises(RuntimeError, match="on purpose"):
        xb.metrics.get("model_randomisation", mode=mode)(
            model, x, y, a, explain=Recording(fail_at=fail_at)
        )
    for w0, w1 in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w0)
    np.testing.assert_array_equal(model.predict_on_batch(x), out_before)


def test_seed_and_layers(tab3):
    model, x, y = tab3
    sal = xb.methods.get("saliency")
    a = sal(model, x, y)

    def steps(**kw):
        q = xb.metrics.get("model_randomisation", **kw)
        return q.layer_correlations(model, x, y, a, explain=sal), q(model, x, y, a, explain=sal)

    (s0, m0), (s0b, m0b), (s1, _) = steps(seed=0), steps(seed=0), steps(seed=1)
    np.testing.assert_array_equal(s0, s0b)
    np.testing.assert_array_equal(m0, m0b)
    assert_float64_close(m0, s0.mean(axis=1), terms=s0.shape[1])  # a float64 mean
    assert not np.allclose(s0, s1)
    top2, mean2 = steps(seed=0, layers=2)  # the first steps of the full run
    np.testing.assert_array_equal(top2, s0[:, :2])
    assert_float64_close(mean2, s0[:, :2].mean(axis=1), terms=2)


def test_constant_attribution_scores_nan(tab3):
    model, x, y = tab3
    sal = xb.methods.get("saliency")
    a = sal(model, x, y).astype(np.float64)
    a[2] = 0.5
    got = xb.metrics.get("model_randomisation")(model, x, y, a, explain=sal)
    assert np.isnan(got[2]) and np.isfinite(np.delete(got, 2)).all()


@pytest.mark.parametrize(
    "kw, match",
    [({"mode": "top_down"}, "mode"), ({"layers": 0}, "layers"), ({"layers": 1.5}, "layers")],
)
def test_model_randomisation_bad_settings(kw, match):
    with pytest.raises(ValueError, match=match):
        xb.metrics.get("model_randomisation", **kw)


def test_model_without_weights_not_applicable():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Activation("softmax")])
    x = np.ones((2, 4), np.float32)
    with pytest.raises(xb.methods.NotApplicable, match="weights"):
        xb.metrics.get("model_randomisation")(
            model, x, [0, 1], x, explain=xb.methods.get("test_edges")
        )
