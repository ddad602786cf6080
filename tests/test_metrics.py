"""Metrics against exact answers on tiny hand-set models (definitions: their
docstrings)."""

from __future__ import annotations

import math
import re
import time

import _tiny
import numpy as np
import pytest
from _tolerance import assert_scores_close

import xaibench as xb
from xaibench._tf import keras, tf
from xaibench.metrics import CATEGORIES

# --------------------------------------------------------------------------------------------
# Independent reference implementations (numpy, straight from the definitions in the docstrings)
# --------------------------------------------------------------------------------------------


def trapezoid(curve):
    """Trapezoid area of one curve over x-axis [0, 1], written out."""
    curve = np.asarray(curve, np.float64)
    dx = 1.0 / (len(curve) - 1)
    return dx * (curve.sum() - (curve[0] + curve[-1]) / 2)


def linear_scores(x, w, b, y, output):
    """f_y of a Flatten + Dense model: logit or softmax probability, float64 (N,)."""
    z = x.reshape(len(x), -1).astype(np.float64) @ np.asarray(w, np.float64) + b
    s = _tiny.softmax(z) if output == "probability" else z
    return s[np.arange(len(x)), y]


def removal_curves(x, y, a_feat, base, steps, score, *, insert):
    """Deletion / insertion curves: at step k the top round(k*n/steps) features (signed a,
    descending, ties to the lower index) come from ``base`` (deletion) or from ``x`` (insertion)."""
    xf = x.reshape(len(x), a_feat.shape[1], -1)
    bf = base.reshape(xf.shape)
    out = np.empty((len(x), steps + 1))
    for i in range(len(x)):
        for k in range(steps + 1):
            top = _tiny.top_k_mask(a_feat[i], round(k * a_feat.shape[1] / steps))[:, None]
            xk = np.where(top, xf[i], bf[i]) if insert else np.where(top, bf[i], xf[i])
            out[i, k] = score(xk.reshape((1,) + x.shape[1:]), y[i : i + 1])[0]
    return out


def builtin_metrics():
    """Names of the metrics shipped with xaibench (not ones registered by tests or users)."""
    return _tiny.builtin(xb.metrics)


# --------------------------------------------------------------------------------------------
# Deletion and insertion
# --------------------------------------------------------------------------------------------

# One sample, 4 features, class 0: w*x = [1, 2, -2, 1], bias 0.5, f(x) = 2.5, f(0) = 0.5.
# a = [3, 1, 3, -2] ranks features 0, 2 (tie with 0: lower index first), 1, 3.
HAND_W = np.array([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [0.5, 0.0]])
HAND_B = np.array([0.5, 0.0])
HAND_X = np.array([[1.0, 1.0, 2.0, 2.0]], np.float32)
HAND_A = np.array([[3.0, 1.0, 3.0, -2.0]])


@pytest.mark.parametrize(
    "name, steps, curve, score",
    [
        ("deletion", 4, [2.5, 1.5, 3.5, 1.5, 0.5], 2.0),
        ("deletion", 2, [2.5, 3.5, 0.5], 2.5),
        ("deletion", 1, [2.5, 0.5], 1.5),
        ("insertion", 4, [0.5, 1.5, -0.5, 1.5, 2.5], 1.0),
        ("insertion", 2, [0.5, -0.5, 2.5], 0.5),
    ],
)
def test_removal_curve_by_hand(name, steps, curve, score):
    model = _tiny.linear_tabular(HAND_W, HAND_B)
    q = xb.metrics.get(name, steps=steps, baseline=0.0, output="logit")
    np.testing.assert_allclose(q.curves(model, HAND_X, [0], HAND_A), [curve], rtol=1e-6)
    np.testing.assert_allclose(q(model, HAND_X, [0], HAND_A), [score], rtol=1e-6)
    scores, curves = q.scores_and_curves(model, HAND_X, [0], HAND_A)
    np.testing.assert_allclose(curves, [curve], rtol=1e-6)
    np.testing.assert_allclose(scores, [score], rtol=1e-6)


@pytest.fixture(scope="module")
def tabular_case():
    """5 features, 2 classes, 3 samples with hand-drawn weights and attributions (with ties)."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(5, 2)).round(2)
    b = np.array([0.3, -0.2])
    x = rng.normal(size=(3, 5)).round(2).astype(np.float32)
    y = np.array([0, 1, 1])
    a = np.array(
        [[0.5, -1.0, 0.5, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0], [-3.0, 2.0, 0.1, 0.2, 4.0]]
    )
    return _tiny.linear_tabular(w, b), w, b, x, y, a


@pytest.mark.parametrize("name", ["deletion", "insertion"])
@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("steps", [1, 3, 4, 7])  # round(k*n/steps), n=5 not divisible by steps
@pytest.mark.parametrize(
    "baseline",
    [0.0, 0.25, "mean", lambda x: 0.5 * x + 1.0],
    ids=["zero", "num", "mean", "callable"],
)
def test_removal_curve_tabular(tabular_case, name, output, steps, baseline):
    model, w, b, x, y, a = tabular_case
    if callable(baseline):
        base = 0.5 * x + 1.0
    elif baseline == "mean":
        base = np.broadcast_to(x.mean(axis=1, keepdims=True), x.shape)
    else:
        base = np.full_like(x, baseline)
    expected = removal_curves(
        x,
        y,
        a,
        base,
        steps,
        lambda xk, yk: linear_scores(xk, w, b, yk, output),
        insert=name == "insertion",
    )
    q = xb.metrics.get(name, steps=steps, baseline=baseline, output=output)
    curves = q.curves(model, x, y, a)
    assert curves.shape == (len(x), steps + 1)
    np.testing.assert_allclose(curves, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        q(model, x, y, a), [trapezoid(c) for c in expected], rtol=1e-5, atol=1e-6
    )


def test_insertion_mirrors_deletion_from_zero(tabular_case):
    """Linear model, baseline 0: deletion_k + insertion_k = f(x) + f(0) at every step."""
    model, w, b, x, y, a = tabular_case
    kw = {"steps": 5, "baseline": 0.0, "output": "logit"}
    dele = xb.metrics.get("deletion", **kw).curves(model, x, y, a)
    ins = xb.metrics.get("insertion", **kw).curves(model, x, y, a)
    total = linear_scores(x, w, b, y, "logit") + b[y]
    np.testing.assert_allclose(dele + ins, np.repeat(total[:, None], 6, axis=1), rtol=1e-5)
    np.testing.assert_allclose(ins[:, 0], b[y], rtol=1e-6)
    np.testing.assert_allclose(dele[:, -1], b[y], rtol=1e-6)


@pytest.fixture(scope="module")
def image_case():
    """Images (3, 2, 3, 2): 6 features (pixels) of 2 channels; linear model with 3 classes."""
    rng = np.random.default_rng(2)
    shape = (2, 3, 2)
    w = rng.normal(size=(12, 3)).round(2)
    b = np.array([0.1, -0.4, 0.2])
    x = rng.uniform(0, 1, size=(3,) + shape).round(2).astype(np.float32)
    y = np.array([2, 0, 1])
    a4 = rng.normal(size=(3,) + shape).round(1)
    return _tiny.linear_image(w, b, shape), shape, w, b, x, y, a4


@pytest.mark.parametrize("name", ["deletion", "insertion"])
@pytest.mark.parametrize("channels", ["summed_by_metric", "given_summed"])
@pytest.mark.parametrize("steps", [4, 6])
@pytest.mark.parametrize(
    "baseline", [0.0, "mean", lambda x: x[:, ::-1]], ids=["zero", "mean", "callable"]
)
def test_removal_curve_images(image_case, name, channels, steps, baseline):
    model, shape, w, b, x, y, a4 = image_case
    a_feat = a4.sum(axis=-1).reshape(len(x), -1)  # a feature is a pixel with all its channels
    a = a4 if channels == "summed_by_metric" else a4.sum(axis=-1)
    if callable(baseline):
        base = x[:, ::-1]
    elif baseline == "mean":  # per-sample, per-channel mean over the pixels
        base = np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape)
    else:
        base = np.zeros_like(x)
    expected = removal_curves(
        x,
        y,
        a_feat,
        base,
        steps,
        lambda xk, yk: linear_scores(xk, w, b, yk, "probability"),
        insert=name == "insertion",
    )
    q = xb.metrics.get(name, steps=steps, baseline=baseline)
    assert q.output == "probability"
    np.testing.assert_allclose(q.curves(model, x, y, a), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(q(model, x, y, a), [trapezoid(c) for c in expected], rtol=1e-5)


def test_removal_counts_round(image_case):
    """n = 6 pixels, steps = 4: round(k*6/4) = 0, 2 (1.5), 3, 4 (4.5), 6 features removed."""
    shape = image_case[1]
    # A model counting the zeroed pixels: class 0 logit = sum of the inputs, x all ones.
    w = np.zeros((12, 3))
    w[:, 0] = 0.5
    model = _tiny.linear_image(w, np.zeros(3), shape)
    ones = np.ones((1,) + shape, np.float32)
    a = np.arange(6, dtype=float).reshape(1, 2, 3)
    curve = xb.metrics.get("deletion", steps=4, output="logit").curves(model, ones, [0], a)
    removed = 6 - curve[0]
    np.testing.assert_allclose(removed, [round(k * 6 / 4) for k in range(5)], atol=1e-6)
    np.testing.assert_allclose(removed, [0, 2, 3, 4, 6], atol=1e-6)


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
# Faithfulness correlation
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fc_case():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(10, 3))
    b = rng.normal(size=3)
    x = rng.normal(size=(4, 10)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    return _tiny.linear_tabular(w, b), w, x, y


@pytest.mark.parametrize("subset_size", [None, 1, 3, 7])
@pytest.mark.parametrize("sign, expected", [(1.0, 1.0), (-1.0, -1.0)])
def test_faithfulness_correlation_exact(fc_case, subset_size, sign, expected):
    """Linear logit model, baseline 0: the drop is exactly sum_{i in S} w_iy x_i."""
    model, w, x, y = fc_case
    a = sign * w[:, y].T * x
    q = xb.metrics.get("faithfulness_correlation", subset_size=subset_size, runs=30)
    assert q.output == "logit" and q.baseline == 0.0
    np.testing.assert_allclose(q(model, x, y, a), np.full(len(x), expected), atol=1e-6)


def test_faithfulness_correlation_seed(fc_case):
    model, _, x, y = fc_case
    a = np.random.default_rng(4).normal(size=x.shape)
    kw = {"subset_size": 3, "runs": 20}
    s0 = xb.metrics.get("faithfulness_correlation", seed=0, **kw)(model, x, y, a)
    s0_again = xb.metrics.get("faithfulness_correlation", seed=0, **kw)(model, x, y, a)
    s1 = xb.metrics.get("faithfulness_correlation", seed=1, **kw)(model, x, y, a)
    np.testing.assert_array_equal(s0, s0_again)
    assert np.isfinite(s0).all() and np.isfinite(s1).all()
    assert not np.allclose(s0, s1)


@pytest.mark.parametrize("batch_size", [1, 3, 7])
def test_faithfulness_correlation_batch_size(fc_case, batch_size):
    """Scores agree to the README's 1e-5 (tests/_tolerance.py); fails if the random subsets were
    drawn per batch."""
    model, _, x, y = fc_case
    a = np.random.default_rng(5).normal(size=x.shape)
    kw = {"subset_size": 3, "runs": 25}
    ref = xb.metrics.get("faithfulness_correlation", batch_size=256, **kw)(model, x, y, a)
    got = xb.metrics.get("faithfulness_correlation", batch_size=batch_size, **kw)(model, x, y, a)
    assert_scores_close(got, ref)


# --------------------------------------------------------------------------------------------
# Sparseness (Gini with +1e-7)
# --------------------------------------------------------------------------------------------

EPS = 1e-7


@pytest.mark.parametrize(
    "a, expected",
    [
        # |a| + eps sorted = [eps, eps, eps, 1+eps]; weights -3, -1, 1, 3 -> 3 / (4 (1 + 4 eps))
        ([0.0, 0.0, 0.0, 1.0], 3 / (4 * (1 + 4 * EPS))),
        # sorted [0, 1, 2, 4] + eps -> (-1 + 2 + 12) / (4 (7 + 4 eps))
        ([-4.0, 1.0, 0.0, 2.0], 13 / (4 * (7 + 4 * EPS))),
        # [1, 3] + eps, weights -1, 1 -> 2 / (2 (4 + 2 eps))
        ([1.0, -3.0], 2 / (2 * (4 + 2 * EPS))),
        ([2.0, 2.0, 2.0], 0.0),
        ([-5.0, 5.0, 5.0, -5.0, 5.0], 0.0),
        # all zero: v = eps everywhere, uniform
        ([0.0, 0.0, 0.0], 0.0),
    ],
)
def test_sparseness_by_hand(a, expected):
    a = np.array([a])
    got = xb.metrics.get("sparseness")(None, np.ones_like(a, np.float32), [0], a)
    # float64 numpy on at most five values, no TensorFlow or BLAS kernel: a few ulps (2.2e-16)
    # relative; the expected zeros are exact (weights -k..k times one value cancel exactly)
    np.testing.assert_allclose(got, [expected], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [2, 10, 100, 1000])
def test_sparseness_one_hot_and_uniform(n):
    x = np.ones((2, n), np.float32)
    a = np.zeros((2, n))
    a[0, n // 2] = 2.5
    a[1] = -0.3
    got = xb.metrics.get("sparseness")(None, x, [0, 0], a)
    # float64 numpy, no TensorFlow or BLAS kernel: sums of n <= 1,000 terms move by at most
    # n x 2.2e-16 = 2.2e-13 relative with the summation order (the score is at most 1)
    # one-hot: sum_i (2i - n - 1) = 0, so the eps terms cancel in the numerator
    np.testing.assert_allclose(got[0], (n - 1) * 2.5 / (n * (2.5 + n * EPS)), rtol=1e-12)
    np.testing.assert_allclose(got[0], (n - 1) / n, rtol=1e-4)
    np.testing.assert_allclose(got[1], 0.0, atol=1e-12)


def test_sparseness_scale_invariant_and_model_free():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 2, 2, 3)).astype(np.float32)
    a = rng.normal(size=x.shape)
    q = xb.metrics.get("sparseness")
    np.testing.assert_allclose(
        q(None, x, np.zeros(5, int), 3 * a), q(None, x, np.zeros(5, int), a), rtol=1e-6
    )
    # channels are summed before |.|: pixel (0, 0) holds 3 - 1 = 2, the others cancel to 0
    a_img = np.zeros((1, 2, 2, 3))
    a_img[0, 0, 0] = [3.0, -1.0, 0.0]
    a_img[0, 1, 1] = [1.0, -1.0, 0.0]
    np.testing.assert_allclose(
        q(None, x[:1], [0], a_img), [3 * 2 / (4 * (2 + 4 * EPS))], rtol=1e-12
    )


# --------------------------------------------------------------------------------------------
# Runtime
# --------------------------------------------------------------------------------------------

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


def test_runtime_needs_explain():
    x = np.ones((2, 3), np.float32)
    model = _tiny.linear_tabular(np.ones((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="explain"):
        xb.metrics.get("runtime")(model, x, [0, 0], np.zeros_like(x))


# --------------------------------------------------------------------------------------------
# Behaviour every metric shares
# --------------------------------------------------------------------------------------------

IMG_SHAPE = (4, 4, 2)
FAST_SETTINGS = {
    "faithfulness_correlation": {"runs": 20},
    "deletion": {"steps": 8},
    "insertion": {"steps": 8},
    "road": {"steps": 4},
    "infidelity": {"samples": 8},
    "max_sensitivity": {"samples": 4},
    "avg_sensitivity": {"samples": 4},
}


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
        # the same numbers, summed in another memory order (as before): equal up to round-off
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
def test_metadata(name):
    q = xb.metrics.get(name)
    assert isinstance(q.higher_is_better, bool)
    assert q.category in CATEGORIES
    assert xb.metrics.get(name, **q.params).params == q.params


@pytest.mark.parametrize(
    "name, higher_is_better, category",
    [
        ("deletion", False, "faithfulness"),
        ("insertion", True, "faithfulness"),
        ("faithfulness_correlation", True, "faithfulness"),
        ("road", True, "faithfulness"),
        ("infidelity", False, "faithfulness"),
        ("max_sensitivity", False, "robustness"),
        ("avg_sensitivity", False, "robustness"),
        ("sparseness", True, "complexity"),
        ("complexity", False, "complexity"),
        ("model_randomisation", False, "randomisation"),
        ("random_logit", False, "randomisation"),
        ("pointing_game", True, "localisation"),
        ("relevance_mass", True, "localisation"),
        ("relevance_rank", True, "localisation"),
        ("attribution_auroc", True, "localisation"),
        ("completeness", False, "axiomatic"),
        ("runtime", False, "cost"),
    ],
)
def test_metadata_matches_definitions(name, higher_is_better, category):
    cls = xb.metrics.cls(name)
    assert cls.higher_is_better is higher_is_better
    assert cls.category == category


def test_metadata_table_covers_every_builtin_metric():
    table = test_metadata_matches_definitions.pytestmark[0].args[1]
    assert sorted(row[0] for row in table) == sorted(builtin_metrics())


MODEL_FREE = {
    "sparseness",
    "complexity",
    "pointing_game",
    "relevance_mass",
    "relevance_rank",
    "attribution_auroc",
}

# What each metric needs besides (model, x, y, a), from their docstrings.
NEEDS = {
    "max_sensitivity": "explain",
    "avg_sensitivity": "explain",
    "model_randomisation": "explain",
    "random_logit": "explain",
    "runtime": "explain",
    "pointing_game": "masks",
    "relevance_mass": "masks",
    "relevance_rank": "masks",
    "attribution_auroc": "masks",
}


@pytest.mark.parametrize("name", builtin_metrics())
def test_needs_match_definitions(name):
    cls = xb.metrics.cls(name)
    assert cls.needs_explain is (NEEDS.get(name) == "explain")
    assert cls.needs_masks is (NEEDS.get(name) == "masks")
    assert cls.needs_model is (name not in MODEL_FREE)


@pytest.mark.parametrize("name", builtin_metrics())
def test_stochastic_iff_seeded(name):
    """``stochastic`` marks exactly the metrics that take a seed, and the seed is validated."""
    cls = xb.metrics.cls(name)
    assert isinstance(cls.stochastic, bool)
    assert cls.stochastic is ("seed" in cls.param_names())
    if cls.stochastic:
        assert xb.metrics.get(name).seed == 0
        for bad in (-1, 1.5, "0", None, True):
            with pytest.raises(ValueError, match="seed"):
                xb.metrics.get(name, seed=bad)


@pytest.mark.parametrize("name, missing", sorted(NEEDS.items()))
def test_missing_explain_or_masks_is_named(image_setup, name, missing):
    model, x, y, a, masks = image_setup
    q = xb.metrics.get(name, **FAST_SETTINGS.get(name, {}))
    kw = extras(q, x, masks)
    del kw[missing]
    with pytest.raises(ValueError, match=f"{missing}="):
        q(model, x, y, a, **kw)


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
