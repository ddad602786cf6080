"""Helpers of the metric tests (tests/metrics/): independent numpy references written from the
metrics' definitions, hand-set inputs, test methods, and the checks several metrics share
(deletion/insertion, max/avg sensitivity, the localisation metrics), each run from the metric's file.

Importing this module registers the test methods ``test_edges``, ``test_constant_attr``,
``test_identity_attr`` and ``test_counting_attr``.
"""

from __future__ import annotations

import itertools

import _tiny
import numpy as np
from _tolerance import assert_float64_close
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

import xaibench as xb
from xaibench._baselines import fill_removed
from xaibench._tf import keras

# Settings that make the metrics with many model calls cheap on the tiny test models.
FAST_SETTINGS = {
    "faithfulness_correlation": {"runs": 20},
    "deletion": {"steps": 8},
    "insertion": {"steps": 8},
    "road": {"steps": 4},
    "infidelity": {"samples": 8},
    "max_sensitivity": {"samples": 4},
    "avg_sensitivity": {"samples": 4},
}


def builtin_metrics():
    """Names of the metrics shipped with xaibench (not ones registered by tests or users)."""
    return _tiny.builtin(xb.metrics)


# --------------------------------------------------------------------------------------------
# Independent reference implementations (numpy, straight from the definitions in the docstrings)
# --------------------------------------------------------------------------------------------


def trapezoid(curve):
    """Trapezoid area of one curve over x-axis [0, 1], written out."""
    curve = np.asarray(curve, np.float64)
    dx = 1.0 / (len(curve) - 1)
    return dx * (curve.sum() - (curve[0] + curve[-1]) / 2)


def area(curves):
    return np.trapezoid(curves, dx=1.0 / (curves.shape[1] - 1), axis=1)


def linear_scores(x, w, b, y, output):
    """f_y of a (Flatten +) Dense model: logit or softmax probability, float64 (N,)."""
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


def noisy_removal_reference(x, y, a, steps, seed, score, *, insert):
    """Deletion / insertion curves with the noisy linear baseline, written out: the removed
    features of every (sample, step) (the top round(k*n/steps), or for insertion the others) are
    filled by fill_removed with one Generator default_rng(seed) for all copies, sample-major."""
    n = a.shape[1]
    removed = np.zeros((len(x), steps + 1, n), bool)
    for i, k in itertools.product(range(len(x)), range(steps + 1)):
        top = _tiny.top_k_mask(a[i], round(k * n / steps))
        removed[i, k] = ~top if insert else top
    copies = fill_removed(x, removed, "noisy_linear", rng=np.random.default_rng(seed))
    flat = copies.reshape((-1,) + x.shape[1:])
    return score(flat, np.repeat(y, steps + 1)).reshape(len(x), steps + 1)


def grid_laplacian(h, w):
    """The Laplacian (h*w, h*w) of the h x w grid with weights 1/6 (direct) and 1/12 (diagonal),
    written out neighbour by neighbour."""
    out = np.zeros((h * w, h * w))
    for i, j, di, dj in itertools.product(range(h), range(w), (-1, 0, 1), (-1, 0, 1)):
        if (di, dj) != (0, 0) and 0 <= i + di < h and 0 <= j + dj < w:
            weight = 1 / 12 if di and dj else 1 / 6
            out[i * w + j, (i + di) * w + j + dj] -= weight
            out[i * w + j, i * w + j] += weight
    return out


def reference_impute(img, removed):
    """Noiseless noisy linear imputation of one image (H, W, C), written out: one dense equation
    per removed pixel i, sum_j w_ij (u_i - u_j) = 0 over its in-image neighbours j (the rows of
    the grid's Laplacian at the removed pixels), the kept neighbours' values moved to the right."""
    h, w, c = img.shape
    laplacian = grid_laplacian(h, w)
    todo, kept = removed.ravel(), ~removed.ravel()
    out = img.astype(np.float64)
    if todo.any():
        lhs = laplacian[np.ix_(todo, todo)]
        rhs = -laplacian[np.ix_(todo, kept)] @ out.reshape(-1, c)[kept]
        out[removed] = np.linalg.solve(lhs, rhs)
    return out


def spearman_each(u, v):
    """scipy's Spearman correlation of every row pair, one sample at a time."""
    return np.array([spearmanr(a, b).statistic for a, b in zip(u, v, strict=True)])


# --------------------------------------------------------------------------------------------
# Hand-set models and inputs
# --------------------------------------------------------------------------------------------

# One sample, 4 features, class 0: w*x = [1, 2, -2, 1], bias 0.5, f(x) = 2.5, f(0) = 0.5; class 1
# is 0. a = [3, 1, 3, -2] ranks features 0, 2 (tie with 0: lower index first), 1, 3.
HAND_W = np.array([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [0.5, 0.0]])
HAND_B = np.array([0.5, 0.0])
HAND_X = np.array([[1.0, 1.0, 2.0, 2.0]], np.float32)
HAND_A = np.array([[3.0, 1.0, 3.0, -2.0]])

# The images of the ``linear_img`` fixture (tests/metrics/conftest.py).
LINEAR_IMG_SHAPE = (4, 5, 1)


def mlp3(n_in=16, hidden=12, n_out=4, *, seed=0):
    """Dense(tanh) -> Dense(tanh) -> Dense, seeded N(0, 1/fan_in) kernels and N(0, 0.1) biases."""
    rng = np.random.default_rng(seed)
    layers = [
        keras.layers.Dense(hidden, activation="tanh"),
        keras.layers.Dense(hidden, activation="tanh"),
        keras.layers.Dense(n_out),
    ]
    model = keras.Sequential([keras.Input((n_in,))] + layers)
    sizes = [n_in, hidden, hidden, n_out]
    for layer, fan_in, fan_out in zip(layers, sizes[:-1], sizes[1:], strict=True):
        kernel = rng.normal(0, 1 / np.sqrt(fan_in), (fan_in, fan_out)).astype(np.float32)
        layer.set_weights([kernel, rng.normal(0, 0.1, fan_out).astype(np.float32)])
    return model


def any_model(x):
    """A linear model taking inputs like ``x`` (the test methods below ignore it)."""
    n = int(np.prod(x.shape[1:]))
    if x.ndim == 2:
        return _tiny.linear_tabular(np.ones((n, 3)), np.zeros(3))
    return _tiny.linear_image(np.ones((n, 3)), np.zeros(3), x.shape[1:])


# --------------------------------------------------------------------------------------------
# Test methods
# --------------------------------------------------------------------------------------------

CALLS: list[tuple[int, int]] = []


@xb.methods.register("test_constant_attr", replace=True)
def constant_attr(model, x, y):
    """Ones everywhere: ignores the input."""
    return np.ones_like(x)


@xb.methods.register("test_identity_attr", replace=True)
def identity_attr(model, x, y):
    """The input itself."""
    return x


@xb.methods.register("test_counting_attr", replace=True)
def counting_attr(model, x, y, batch_size=7):
    """Records (inputs, batch_size) of every call; returns the input."""
    CALLS.append((len(x), batch_size))
    return x


def edges(x):
    """|differences of neighbouring values| (zero-padded at the end), x's shape: an edge map of
    images along H and W, of tabular rows along the features. It never reads a model."""
    x = np.asarray(x, np.float64)
    out = np.zeros_like(x)
    axes = (1, 2) if x.ndim == 4 else (1,)
    for axis in axes:
        d = np.abs(np.diff(x, axis=axis))
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, x.shape[axis] - 1)
        out[tuple(index)] += d
    return out


@xb.methods.register("test_edges", replace=True)
def edge_method(model, x, y):
    """Edge map of the input: ignores the model and the class."""
    return edges(x)


# --------------------------------------------------------------------------------------------
# Deletion and insertion: the checks both run (tests/metrics/test_deletion.py, test_insertion.py)
# --------------------------------------------------------------------------------------------


def check_removal_curve_by_hand(name, steps, curve, score):
    model = _tiny.linear_tabular(HAND_W, HAND_B)
    q = xb.metrics.get(name, steps=steps, baseline=0.0, output="logit")
    np.testing.assert_allclose(q.curves(model, HAND_X, [0], HAND_A), [curve], rtol=1e-6)
    np.testing.assert_allclose(q(model, HAND_X, [0], HAND_A), [score], rtol=1e-6)
    scores, curves = q.scores_and_curves(model, HAND_X, [0], HAND_A)
    np.testing.assert_allclose(curves, [curve], rtol=1e-6)
    np.testing.assert_allclose(scores, [score], rtol=1e-6)


def check_removal_curve_tabular(tabular_case, name, output, steps, baseline):
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
    expected[np.ptp(a, axis=1) == 0] = np.nan  # a constant map ranks nothing: NaN (README)
    assert np.isnan(expected).any() and not np.isnan(expected).all()  # sample 1 is constant
    q = xb.metrics.get(name, steps=steps, baseline=baseline, output=output)
    curves = q.curves(model, x, y, a)
    assert curves.shape == (len(x), steps + 1)
    np.testing.assert_allclose(curves, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        q(model, x, y, a), [trapezoid(c) for c in expected], rtol=1e-5, atol=1e-6
    )


def check_removal_curve_images(image_case, name, channels, steps, baseline):
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


def check_removal_noisy_linear_against_reference(linear_rgb, name, output, steps, seed):
    model, w, b, x, y, a = linear_rgb
    expected = noisy_removal_reference(
        x,
        y,
        a,
        steps,
        seed,
        lambda xk, yk: linear_scores(xk, w, b, yk, output),
        insert=name == "insertion",
    )
    q = xb.metrics.get(name, steps=steps, baseline="noisy_linear", output=output, seed=seed)
    a_img = a.reshape(x.shape[:-1])
    curves = q.curves(model, x, y, a_img)
    np.testing.assert_allclose(curves, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q(model, x, y, a_img), area(expected), rtol=1e-5, atol=1e-6)
    # the ends: nothing / everything removed (everything imputed is 0 plus the noise)
    whole = 0 if name == "insertion" else steps
    np.testing.assert_allclose(
        curves[:, steps - whole], linear_scores(x, w, b, y, output), rtol=1e-5, atol=1e-6
    )


# --------------------------------------------------------------------------------------------
# Max and avg sensitivity: the checks both run (test_max_sensitivity.py, test_avg_sensitivity.py)
# --------------------------------------------------------------------------------------------


def sensitivity_reference(x, *, samples, radius, seed):
    """||e(x + d) - e(x)|| / ||e(x)|| for e = identity with channels summed, (N, samples):
    d = r * (2 * default_rng(seed).random((N, samples) + shape) - 1), r = radius * range."""
    flat = x.reshape(len(x), -1)
    r = radius * (flat.max(axis=1) - flat.min(axis=1))
    u = np.random.default_rng(seed).random((len(x), samples) + x.shape[1:])
    d = (2 * u - 1) * r.reshape((-1,) + (1,) * x.ndim)
    perturbed = (x[:, None] + d).astype(np.float32).astype(np.float64)
    sum_c = (lambda v: v.sum(axis=-1)) if x.ndim == 4 else (lambda v: v)
    diff = (sum_c(perturbed) - sum_c(x.astype(np.float64))[:, None]).reshape(len(x), samples, -1)
    return (
        np.linalg.norm(diff, axis=-1)
        / np.linalg.norm(sum_c(x).reshape(len(x), -1), axis=1)[:, None]
    )


def check_sensitivity_of_identity(name, reduce, shape, seed):
    rng = np.random.default_rng(12)
    x = rng.uniform(0.5, 2.0, size=(3,) + shape).astype(np.float32)
    q = xb.metrics.get(name, samples=6, radius=0.2, seed=seed)
    got = q(any_model(x), x, [0, 1, 2], x, explain=xb.methods.get("test_identity_attr"))
    ratios = sensitivity_reference(x, samples=6, radius=0.2, seed=seed)
    np.testing.assert_allclose(got, reduce(ratios, axis=1), rtol=1e-5)
    if len(shape) == 1:  # e(x) = x: ||d|| / ||x||, up to the float32 rounding of x + d
        assert np.all(got > 0)


def check_sensitivity_zero_for_input_independent_methods(name, linear_tab):
    model, _, _, x, y = linear_tab
    q = xb.metrics.get(name)
    ones = np.ones_like(x)
    np.testing.assert_array_equal(
        q(model, x, y, ones, explain=xb.methods.get("test_constant_attr")), 0.0
    )
    saliency = xb.methods.get("saliency")  # the gradient of a linear model is constant
    np.testing.assert_allclose(
        q(model, x, y, saliency(model, x, y), explain=saliency), 0.0, atol=1e-7
    )


def check_sensitivity_zero_attribution_is_nan(name):
    x = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.5, 0.0, 1.0]], np.float32)
    got = xb.metrics.get(name)(
        any_model(x), x, [0, 0, 0], x, explain=xb.methods.get("test_identity_attr")
    )
    assert np.isnan(got[0]) and np.all(np.isfinite(got[1:]))


# --------------------------------------------------------------------------------------------
# Localisation: pointing game, relevance mass, relevance rank, attribution AUROC
# --------------------------------------------------------------------------------------------

# A 4x4 image whose mask is the top-left 2x2 block (features 0, 1, 4, 5).
MASK_4x4 = np.zeros((4, 4), bool)
MASK_4x4[:2, :2] = True
# Sample 0: inside [4, 2, 0, -1], outside 1.5, 0.5, a 0 and negatives: argmax inside; positive mass
# 6 of 8; top 4 = {4, 2 (in), 1.5, 0.5 (out)}; AUROC over 4 x 12 pairs = (12 + 12 + 9.5 + 1) / 48.
A_0 = np.array(
    [[4.0, 2.0, 1.5, 0.5], [0.0, -1.0, -2.0, 0.0], [-0.5] * 4, [-0.5] * 4],
)
# Sample 1: a tie for the maximum at feature 2 (outside) and 5 (inside): the first index wins,
# so the point is outside; mass 5 / 10; top 4 = {2, 5, then the zeros 1, 3} -> 2 inside;
# AUROC = (0 + 5.5 + 5.5 + 11.5) / 48.
A_1 = np.zeros((4, 4))
A_1[0, 2] = A_1[1, 1] = 5.0
A_1[0, 0] = -3.0
HAND_4x4 = {
    "pointing_game": [1.0, 0.0],
    "relevance_mass": [0.75, 0.5],
    "relevance_rank": [0.5, 0.5],
    "attribution_auroc": [34.5 / 48, 22.5 / 48],
}

# Row 0: argmax 2.0 is outside; mass (1 + 0.5) / 4; top 2 = {2.0 (out), 1.0 (in)};
# AUROC: 1.0 beats 3 of 4, 0.5 beats 2 and ties 1 -> 5.5 / 8.
# Row 1 (all zero): a constant map ranks no feature above another -> NaN for every metric
# (README, Conventions; without the rule: the first index would be the argmax, inside; no
# positive mass; ties by index would put features 0, 1 on top; every pair ties -> 0.5).
TAB_MASKS = np.array([[1, 0, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]], bool)
TAB_A = np.array([[1.0, 2.0, 0.5, -1.0, 0.0, 0.5], [0.0] * 6])


def localise(name, a, masks, x=None, **kw):
    a = np.asarray(a, np.float64)
    if x is None:
        x = np.zeros(a.shape + (1,) if a.ndim == 3 else a.shape, np.float32)
    return xb.metrics.get(name, **kw)(None, x, np.zeros(len(x), int), a, masks=masks)


def references():
    """Per-sample loop implementations straight from the definitions in the docstrings."""

    def mass(a, m):
        pos = np.maximum(a, 0)
        return pos[m].sum() / pos.sum()

    return {
        "pointing_game": lambda a, m: float(m[np.argmax(a)]),
        "relevance_mass": mass,
        "relevance_rank": lambda a, m: (_tiny.top_k_mask(a, m.sum()) & m).sum() / m.sum(),
        "attribution_auroc": lambda a, m: roc_auc_score(m, a),
    }


def check_localisation_image_by_hand(name):
    a = np.stack([A_0, A_1])
    masks = np.stack([MASK_4x4, MASK_4x4])
    # 16 features of |a| <= 3 (a float64 numpy computation)
    assert_float64_close(localise(name, a, masks), HAND_4x4[name], terms=16, scale=3)
    # the same with 2 channels that sum to a, and with 0/1 integer masks
    rng = np.random.default_rng(25)
    split = rng.normal(size=a.shape)
    a_ch = np.stack([a - split, split], axis=-1)
    x = np.zeros(a_ch.shape, np.float32)
    # channels summed first: (a - split) + split is a within 2.2e-16 of |split| <= 4
    assert_float64_close(
        localise(name, a_ch, masks.astype(int), x=x), HAND_4x4[name], terms=32, scale=4
    )


def check_localisation_matches_per_sample_reference(name):
    rng = np.random.default_rng(26)
    a = np.round(rng.normal(size=(12, 5, 6)), 1)  # rounded: ties
    masks = rng.uniform(size=a.shape) < rng.uniform(0.1, 0.6, size=(12, 1, 1))
    masks[:, 0, 0], masks[:, -1, -1] = True, False  # neither empty nor full
    ref = references()[name]
    expected = [ref(ai.ravel(), mi.ravel()) for ai, mi in zip(a, masks, strict=True)]
    assert_float64_close(localise(name, a, masks), expected, terms=30, scale=4)  # 30 features


def check_empty_and_full_masks(name, empty, full):
    a = np.array([[0.3, -1.0, 2.0], [0.3, -1.0, 2.0], [0.3, -1.0, 2.0]])
    masks = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 1]], bool)
    got = localise(name, a, masks)
    np.testing.assert_allclose(got[:2], [empty, full])
    assert np.isfinite(got[2])
