"""What every metric shares (xaibench/metrics/base.py): input validation, NaN and infinite
attributions, batch-size independence, seeds, tensors, softmax-ending models, the CurveMetric hook."""

from __future__ import annotations

import math
import re

import _tiny
import numpy as np
import pytest
from _method_cases import auto_budget, watched
from _metric_cases import FAST_SETTINGS, builtin_metrics, linear_scores, removal_curves, trapezoid
from _parts_cases import parts_of
from _tolerance import assert_scores_close

import xaibench as xb
from xaibench._tf import keras, tf

# --------------------------------------------------------------------------------------------
# Softmax-ending models: not softmaxed twice; output="logit" reads the pre-softmax logits
# --------------------------------------------------------------------------------------------

SOFTMAX_W = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0], [-0.7, 0.1, 0.4], [0.5, 0.5, -0.2]])
SOFTMAX_B = np.array([0.1, -0.2, 0.3])


def softmax_model(kind):
    w, b = SOFTMAX_W.astype(np.float32), SOFTMAX_B.astype(np.float32)
    if kind == "dense_softmax":
        return _tiny.linear_tabular(w, b, activation="softmax")
    dense = keras.layers.Dense(3)
    last = {
        "softmax_layer": keras.layers.Softmax(),
        "activation_softmax": keras.layers.Activation("softmax"),
    }
    if kind == "hidden_dense_softmax":  # a pre-softmax Dense behind an identity-like first layer
        first = keras.layers.Dense(4)
        model = keras.Sequential(
            [keras.Input((4,)), first, keras.layers.Dense(3, activation="softmax")]
        )
        first.set_weights([np.eye(4, dtype=np.float32), np.zeros(4, np.float32)])
        model.layers[-1].set_weights([w, b])
        return model
    model = keras.Sequential([keras.Input((4,)), dense, last[kind]])
    dense.set_weights([w, b])
    return model


SOFTMAX_KINDS = ["dense_softmax", "softmax_layer", "activation_softmax", "hidden_dense_softmax"]


@pytest.mark.parametrize("kind", SOFTMAX_KINDS)
@pytest.mark.parametrize("output", ["probability", "logit"])
def test_softmax_ending_model(kind, output):
    model = softmax_model(kind)
    x = np.array([[1.0, 2.0, -1.0, 0.5], [0.0, -1.0, 1.0, 2.0]], np.float32)
    y = np.array([1, 2])
    a = np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    expected = removal_curves(
        x,
        y,
        a,
        np.zeros_like(x),
        2,
        lambda xk, yk: linear_scores(xk, SOFTMAX_W, SOFTMAX_B, yk, output),
        insert=False,
    )
    curves = xb.metrics.get("deletion", steps=2, output=output).curves(model, x, y, a)
    np.testing.assert_allclose(curves, expected, rtol=1e-5, atol=1e-7)
    if output == "probability":  # equals the model's own output for the target class
        np.testing.assert_allclose(curves[:, 0], model(x).numpy()[[0, 1], y], rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Behaviour every metric shares
# --------------------------------------------------------------------------------------------

IMG_SHAPE = (4, 4, 2)

# What each metric needs besides (model, x, y, a), as its metadata declares (checked against the
# table of tests/metrics/test_metric_metadata.py).
NEEDS = sorted(
    (name, need)
    for name in builtin_metrics()
    for need in ("explain", "masks", "parts")
    if getattr(xb.metrics.cls(name), f"needs_{need}")
)


@pytest.fixture(scope="module")
def image_setup():
    rng = np.random.default_rng(7)
    model = _tiny.small_cnn(IMG_SHAPE)
    x = rng.uniform(0, 1, size=(4,) + IMG_SHAPE).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    a = rng.normal(size=x.shape)
    masks = rng.uniform(size=x.shape[:-1]) < 0.3
    masks[:, 0, 0] = True
    return model, x, y, a, masks


def extras(q, x, masks):
    kw = {}
    if q.needs_explain:
        kw["explain"] = xb.methods.get("saliency")
    if q.needs_masks:
        kw["masks"] = masks
    if q.needs_parts:
        kw["parts"] = parts_of(x)
    return kw


@pytest.mark.parametrize("name", builtin_metrics())
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("index", [0, 2])
def test_non_finite_attributions_score_nan(image_setup, name, bad, index):
    model, x, y, a, masks = image_setup
    q = xb.metrics.get(name)
    kw = extras(q, x, masks)
    a_bad = a.copy()
    a_bad[index, 1, 2, 0] = bad
    got = q(model, x, y, a_bad, **kw)
    assert got.shape == (len(x),)
    others = np.arange(len(x)) != index
    assert np.isnan(got[index])
    assert np.isfinite(got[others]).all()
    if q.category != "cost":  # the other samples keep the scores they have without the bad one
        assert_scores_close(got[others], q(model, x, y, a, **kw)[others])
    if hasattr(q, "curves"):
        curves = q.curves(model, x, y, a_bad)
        assert np.isnan(curves[index]).all() and np.isfinite(curves[others]).all()
        np.testing.assert_array_equal(curves[others], q.curves(model, x, y, a)[others])
        scores, curves2 = q.scores_and_curves(model, x, y, a_bad)
        np.testing.assert_array_equal(curves2, curves)
        # the same float64 numbers, summed in another memory order (as before): a reordered sum
        # of n <= ~100 curve points differs by at most ~n float64 ulps (n * 2.2e-16 <= 2.2e-14
        # relative), so 1e-13 holds on any CPU and BLAS; atol for scores that are exactly ~0
        np.testing.assert_allclose(scores, got, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    "name, params",
    [
        ("road", {"steps": 4}),
        ("deletion", {"steps": 4, "baseline": "noisy_linear"}),
        ("insertion", {"steps": 4, "baseline": "noisy_linear"}),
        ("faithfulness_correlation", {"runs": 10, "baseline": "noisy_linear"}),
    ],
)
def test_seeded_noise_stays_with_its_sample(image_setup, name, params):
    """A non-finite sample is still perturbed (with zeros as its attribution), so the noise every
    other sample draws, and so its score and curve, are those it gets with a finite attribution."""
    model, x, y, a, _ = image_setup
    q = xb.metrics.get(name, seed=3, **params)
    a_bad = a.copy()
    a_bad[1, 0, 0, 0] = np.nan
    others = np.arange(len(x)) != 1
    np.testing.assert_array_equal(q(model, x, y, a_bad)[others], q(model, x, y, a)[others])
    if hasattr(q, "curves"):
        np.testing.assert_array_equal(
            q.curves(model, x, y, a_bad)[others], q.curves(model, x, y, a)[others]
        )


@pytest.mark.parametrize("name", builtin_metrics())
@pytest.mark.parametrize("a_shape", [(4, 4, 5), (4, 4, 4, 3), (3, 4, 4, 2), (4, 16)])
def test_wrong_attribution_shape(image_setup, name, a_shape):
    model, x, y, _, masks = image_setup
    q = xb.metrics.get(name)
    with pytest.raises(ValueError) as err:
        q(model, x, y, np.zeros(a_shape), **extras(q, x, masks))
    assert str(tuple(x.shape)) in str(err.value) and str(a_shape) in str(err.value)


@pytest.mark.parametrize("name", builtin_metrics())
@pytest.mark.parametrize("y_shape", [(5,), (3,), (4, 1)])
def test_wrong_target_shape(image_setup, name, y_shape):
    model, x, _, a, masks = image_setup
    q = xb.metrics.get(name)
    with pytest.raises(ValueError) as err:
        q(model, x, np.zeros(y_shape, int), a, **extras(q, x, masks))
    assert re.search(re.escape(f"({len(x)},)"), str(err.value))
    assert str(y_shape) in str(err.value)


@pytest.mark.parametrize(
    "name", [n for n in builtin_metrics() if not xb.metrics.cls(n).needs_model]
)
def test_model_free_metrics_accept_none(image_setup, name):
    model, x, y, a, masks = image_setup
    q = xb.metrics.get(name)
    kw = extras(q, x, masks)
    np.testing.assert_allclose(q(None, x, y, a, **kw), q(model, x, y, a, **kw))


@pytest.mark.parametrize(
    "name", [n for n in builtin_metrics() if xb.metrics.cls(n).category != "cost"]
)
def test_batch_size_does_not_change_scores(image_setup, name):
    """Scores agree to the README's 1e-5 (tests/_tolerance.py); fails if perturbations were drawn
    per batch or a batch boundary mixed one sample's copies with another's."""
    model, x, y, a, masks = image_setup
    kw = extras(xb.metrics.get(name), x, masks)
    fast = FAST_SETTINGS.get(name, {})  # fewer model calls at batch_size=1
    s1 = xb.metrics.get(name, batch_size=1, **fast)(model, x, y, a, **kw)
    s64 = xb.metrics.get(name, batch_size=64, **fast)(model, x, y, a, **kw)
    assert np.isfinite(s1).all()
    assert_scores_close(s1, s64)


@pytest.mark.parametrize("name", builtin_metrics())
def test_auto_batches_stay_within_the_memory_budget(image_setup, monkeypatch, name):
    """batch_size="auto" (the default) is resolved wherever a metric calls the model (and the
    method it re-runs, here saliency, at its own "auto"): with a budget that fits 2 gradient or 4
    forward inputs of the model (models.batching), no call passes more, though the metrics read
    tens of copies of the 4 samples. Fails where a loop reads the batch size unresolved or calls
    the model on all copies at once."""
    model, x, y, a, masks = image_setup
    model = watched(model, x.shape[1:])
    monkeypatch.setenv("XAIBENCH_MEMORY_GIB", auto_budget(model, x.shape[1:], 2))
    q = xb.metrics.get(name, **FAST_SETTINGS.get(name, {}))
    assert q.params["batch_size"] == "auto"
    kw = extras(q, x, masks)
    watch = model.layers[0]
    watch.counts()
    scores = q(model, x, y, a, **kw)
    forward, backward = watch.counts()
    assert forward <= 4 and backward <= 2, (forward, backward)
    if q.needs_model and name != "model_randomisation":  # it reads randomised copies only
        assert forward > 0
    if q.category != "cost":
        again = xb.metrics.get(name, batch_size=64, **FAST_SETTINGS.get(name, {}))
        assert_scores_close(scores, again(model, x, y, a, **kw))


@pytest.mark.parametrize("name, missing", NEEDS)
def test_missing_explain_or_masks_is_named(image_setup, name, missing):
    model, x, y, a, masks = image_setup
    q = xb.metrics.get(name, **FAST_SETTINGS.get(name, {}))
    kw = extras(q, x, masks)
    del kw[missing]
    with pytest.raises(ValueError, match=f"{missing}="):
        q(model, x, y, a, **kw)


@pytest.mark.parametrize(
    "name", [n for n in builtin_metrics() if xb.metrics.cls(n).category != "cost"]
)
def test_numpy_and_tensor_inputs_agree(image_setup, name):
    model, x, y, a, masks = image_setup
    q = xb.metrics.get(name)
    kw = extras(q, x, masks)
    ref = q(model, x, y, a, **kw)
    got = q(model, tf.constant(x), tf.constant(y), tf.constant(a), **kw)
    assert_scores_close(got, ref)


# --------------------------------------------------------------------------------------------
# Curve metrics: the summarise hook, the defaults of the removal metrics
# --------------------------------------------------------------------------------------------


class _LastPoint(xb.metrics.CurveMetric):
    """A curve metric whose score is the last point of a hand-made curve: tests the hook."""

    needs_model = False

    def __init__(self, *, batch_size: int = 256):
        self.steps = 2
        self.batch_size = batch_size

    def compute_curves(self, model, x, y, a):
        return np.stack([a[:, 0], a.sum(axis=1), 10 * a[:, 0]], axis=1)

    def summarise(self, curves):
        return curves[:, -1]


def test_curve_summarise_hook():
    a = np.array([[1.0, 2.0], [3.0, np.nan], [-1.0, 0.5]])
    x = np.zeros((3, 2), np.float32)
    q = _LastPoint()
    expected_curves = [[1.0, 3.0, 10.0], [np.nan] * 3, [-1.0, -0.5, -10.0]]
    np.testing.assert_array_equal(q.curves(None, x, [0, 0, 0], a), expected_curves)
    np.testing.assert_array_equal(q(None, x, [0, 0, 0], a), [10.0, np.nan, -10.0])
    scores, curves = q.scores_and_curves(None, x, [0, 0, 0], a)
    np.testing.assert_array_equal(scores, [10.0, np.nan, -10.0])
    np.testing.assert_array_equal(curves, expected_curves)
    # the default hook is the trapezoid area over [0, 1]
    area = xb.metrics.CurveMetric.summarise(q, np.array([[1.0, 3.0, 10.0]]))
    np.testing.assert_allclose(area, [trapezoid([1.0, 3.0, 10.0])])


def test_curve_defaults():
    assert xb.metrics.get("deletion").steps == 20 and xb.metrics.get("deletion").baseline == 0.0
    assert xb.metrics.get("insertion").baseline == "blur"
    assert math.isclose(xb.metrics.get("faithfulness_correlation").runs, 100)


# --------------------------------------------------------------------------------------------
# Behaviour the perturbation and robustness metrics share (road, infidelity, max / avg
# sensitivity, completeness) on a small CNN
# --------------------------------------------------------------------------------------------

FAST = {
    "road": {"steps": 4},
    "infidelity": {"samples": 8},
    "max_sensitivity": {"samples": 4},
    "avg_sensitivity": {"samples": 4},
    "completeness": {},
}
SEEDED = ["road", "infidelity", "max_sensitivity", "avg_sensitivity"]


@pytest.fixture(scope="module")
def cnn_case():
    rng = np.random.default_rng(14)
    shape = (4, 4, 2)
    x = rng.uniform(size=(4,) + shape).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    a = rng.normal(size=x.shape)
    return _tiny.small_cnn(shape), x, y, a


def run(name, case, **params):
    model, x, y, a = case
    q = xb.metrics.get(name, **{**FAST[name], **params})
    kw = {"explain": xb.methods.get("saliency")} if q.needs_explain else {}
    return lambda attributions: q(model, x, y, attributions, **kw)


@pytest.mark.parametrize("name", list(FAST))
def test_nan_attribution_scores_nan_for_that_sample_only(cnn_case, name):
    score = run(name, cnn_case)
    a = cnn_case[3]
    bad = a.copy()
    bad[1, 2, 3, 1] = np.nan
    got, ref = score(bad), score(a)
    assert np.isnan(got[1]) and np.all(np.isfinite(ref))
    assert_scores_close(np.delete(got, 1), np.delete(ref, 1))


@pytest.mark.parametrize("name", list(FAST))
def test_wrong_shape_names_both(cnn_case, name):
    with pytest.raises(ValueError) as err:
        run(name, cnn_case)(np.zeros((4, 4, 5)))
    assert "(4, 4, 4, 2)" in str(err.value) and "(4, 4, 5)" in str(err.value)


@pytest.mark.parametrize("name", list(FAST))
def test_batch_size_does_not_matter(cnn_case, name):
    """The README's 1e-5 (tests/_tolerance.py); fails if the noise were drawn per batch or the
    explanations of the perturbed inputs were matched to the wrong samples."""
    a = cnn_case[3]
    assert_scores_close(run(name, cnn_case, batch_size=1)(a), run(name, cnn_case, batch_size=64)(a))


@pytest.mark.parametrize("name", SEEDED)
def test_seeds(cnn_case, name):
    a = cnn_case[3]
    first = run(name, cnn_case, seed=1)(a)
    np.testing.assert_array_equal(first, run(name, cnn_case, seed=1)(a))
    assert not np.allclose(first, run(name, cnn_case, seed=2)(a), rtol=1e-6, atol=0)
