"""Complexity, randomisation and localisation metrics and runtime's model calls, against exact
answers on tiny hand-set models (definitions: their docstrings)."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _tolerance import assert_scores_close
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

import xaibench as xb
from xaibench._tf import keras

# --------------------------------------------------------------------------------------------
# Helpers: a seeded 3-layer model, a model-independent edge "method", recording methods
# --------------------------------------------------------------------------------------------


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


def spearman_each(u, v):
    """scipy's Spearman correlation of every row pair, one sample at a time."""
    return np.array([spearmanr(a, b).statistic for a, b in zip(u, v, strict=True)])


@pytest.fixture(scope="module")
def tab3():
    rng = np.random.default_rng(20)
    x = rng.normal(size=(6, 16)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 1, 2])
    return mlp3(), x, y


@pytest.fixture(scope="module")
def cnn():
    rng = np.random.default_rng(21)
    x = rng.uniform(size=(5, 5, 5, 2)).astype(np.float32)
    return _tiny.small_cnn((5, 5, 2)), x, np.array([0, 1, 2, 1, 0])


# --------------------------------------------------------------------------------------------
# Complexity (entropy of p = |a| / sum |a|, +1e-12 inside the log)
# --------------------------------------------------------------------------------------------


def complexity(a, model=None):
    a = np.atleast_2d(np.asarray(a, np.float64))
    return xb.metrics.get("complexity")(model, np.ones(a.shape, np.float32), np.zeros(len(a)), a)


@pytest.mark.parametrize("n", [1, 2, 7, 100, 784])
@pytest.mark.parametrize("value", [1.0, -0.3, 0.0])  # all zero counts as uniform (documented)
def test_complexity_uniform_is_log_n(n, value):
    got = complexity(np.full(n, value))
    np.testing.assert_allclose(got, [-np.log(1 / n + 1e-12)], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(got, [np.log(n)], rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("n", [2, 10, 1000])
def test_complexity_one_hot_is_zero(n):
    a = np.zeros(n)
    a[n // 3] = -4.0
    np.testing.assert_allclose(complexity(a), [-np.log(1 + 1e-12)], rtol=1e-12)
    np.testing.assert_allclose(complexity(a), [0.0], atol=1e-11)


def test_complexity_by_hand():
    # p = [1/4, 1/4, 1/2, 0]: H = 1/2 log 4 + 1/2 log 2 = 1.5 log 2
    p = np.array([0.25, 0.25, 0.5])
    exact = -(p * np.log(p + 1e-12)).sum()
    np.testing.assert_allclose(complexity([1.0, -1.0, 2.0, 0.0]), [exact], rtol=1e-14)
    np.testing.assert_allclose(exact, 1.5 * np.log(2), rtol=1e-10)


def test_complexity_scale_sign_invariant_and_images():
    rng = np.random.default_rng(22)
    x = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    a = rng.normal(size=x.shape)
    q = xb.metrics.get("complexity")
    y = np.zeros(4, int)
    ref = q(None, x, y, a)
    np.testing.assert_allclose(q(None, x, y, 7.5 * a), ref, rtol=1e-9)
    np.testing.assert_allclose(q(None, x, y, -a), ref, rtol=1e-12)
    # channels are summed before |.|
    summed = np.abs(a.sum(axis=-1)).reshape(4, -1)
    p = summed / summed.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ref, -(p * np.log(p + 1e-12)).sum(axis=1), rtol=1e-12)
    # spreading the same mass over more features raises the entropy
    assert complexity([1.0, 1.0, 0.0, 0.0])[0] < complexity([1.0, 1.0, 1.0, 0.0])[0]


def test_complexity_metadata():
    cls = xb.metrics.cls("complexity")
    assert (cls.higher_is_better, cls.category, cls.needs_model) == (False, "complexity", False)


# --------------------------------------------------------------------------------------------
# Model randomisation (Adebayo et al. 2018)
# --------------------------------------------------------------------------------------------


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
    np.testing.assert_allclose(got, expected, rtol=1e-12)
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
    np.testing.assert_allclose(m0, s0.mean(axis=1), rtol=1e-12)
    assert not np.allclose(s0, s1)
    top2, mean2 = steps(seed=0, layers=2)  # the first steps of the full run
    np.testing.assert_array_equal(top2, s0[:, :2])
    np.testing.assert_allclose(mean2, s0[:, :2].mean(axis=1), rtol=1e-12)


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


# --------------------------------------------------------------------------------------------
# Random logit (Sixt et al. 2020)
# --------------------------------------------------------------------------------------------


def test_random_logit_class_free_method_scores_one(tab3):
    model, x, y = tab3
    explain = xb.methods.get("test_edges")
    got = xb.metrics.get("random_logit")(model, x, y, explain(model, x, y), explain=explain)
    np.testing.assert_allclose(got, 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 5])
@pytest.mark.parametrize("kind", ["tabular", "image"])
def test_random_logit_linear_by_hand(seed, kind):
    """Saliency of a linear model is |W[:, y]|; y' = (y + rng.integers(1, C, N)) % C."""
    rng = np.random.default_rng(24)
    c, n = 5, 8
    shape = (3, 2, 2) if kind == "image" else (12,)
    w = rng.normal(size=(12, c))
    model = (
        _tiny.linear_image(w, np.zeros(c), shape)
        if kind == "image"
        else _tiny.linear_tabular(w, np.zeros(c))
    )
    x = rng.normal(size=(n,) + shape).astype(np.float32)
    y = rng.integers(0, c, n)
    y_other = (y + np.random.default_rng(seed).integers(1, c, size=n)) % c
    assert np.all(y_other != y)

    def feature_weights(classes):  # |W[:, class]| with channels summed
        v = np.abs(w[:, classes].T).reshape((n,) + shape)
        return v.sum(axis=-1).reshape(n, -1) if kind == "image" else v

    sal = xb.methods.get("saliency")
    got = xb.metrics.get("random_logit", seed=seed)(model, x, y, sal(model, x, y), explain=sal)
    expected = spearman_each(feature_weights(y), feature_weights(y_other))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.all(np.abs(expected) < 1)


def test_random_logit_seed_and_batch_size(tab3):
    """Same seed and batch size: bitwise; batches of 1: the README's 1e-5 (tests/_tolerance.py),
    which fails if the random other class were drawn per batch."""
    model, x, y = tab3
    sal = xb.methods.get("saliency")
    a = sal(model, x, y)

    def run(seed, batch_size=256, explain_batch=256):
        q = xb.metrics.get("random_logit", seed=seed, batch_size=batch_size)
        return q(model, x, y, a, explain=xb.methods.get("saliency", batch_size=explain_batch))

    ref = run(0)
    np.testing.assert_array_equal(run(0), ref)
    assert_scores_close(run(0, batch_size=1, explain_batch=1), ref)
    assert not np.allclose(run(1), ref)


def test_random_logit_single_class_not_applicable():
    model = _tiny.linear_tabular(np.ones((3, 1)), np.zeros(1))
    x = np.ones((2, 3), np.float32)
    with pytest.raises(xb.methods.NotApplicable, match="2 classes"):
        xb.metrics.get("random_logit")(model, x, [0, 0], x, explain=xb.methods.get("saliency"))


@pytest.mark.parametrize(
    "name, category", [("model_randomisation", "randomisation"), ("random_logit", "randomisation")]
)
def test_randomisation_metadata(name, category):
    cls = xb.metrics.cls(name)
    assert (cls.higher_is_better, cls.category, cls.needs_explain) == (False, category, True)


# --------------------------------------------------------------------------------------------
# Localisation: pointing game, relevance mass, relevance rank, attribution AUROC
# --------------------------------------------------------------------------------------------

LOCALISATION = ["pointing_game", "relevance_mass", "relevance_rank", "attribution_auroc"]

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


def localise(name, a, masks, x=None, **kw):
    a = np.asarray(a, np.float64)
    if x is None:
        x = np.zeros(a.shape + (1,) if a.ndim == 3 else a.shape, np.float32)
    return xb.metrics.get(name, **kw)(None, x, np.zeros(len(x), int), a, masks=masks)


@pytest.mark.parametrize("name", LOCALISATION)
def test_localisation_image_by_hand(name):
    a = np.stack([A_0, A_1])
    masks = np.stack([MASK_4x4, MASK_4x4])
    np.testing.assert_allclose(localise(name, a, masks), HAND_4x4[name], rtol=1e-12)
    # the same with 2 channels that sum to a, and with 0/1 integer masks
    rng = np.random.default_rng(25)
    split = rng.normal(size=a.shape)
    a_ch = np.stack([a - split, split], axis=-1)
    x = np.zeros(a_ch.shape, np.float32)
    np.testing.assert_allclose(
        localise(name, a_ch, masks.astype(int), x=x), HAND_4x4[name], rtol=1e-12, atol=1e-12
    )


def test_auroc_by_hand_matches_sklearn():
    for a, expected in zip([A_0, A_1], HAND_4x4["attribution_auroc"], strict=True):
        assert roc_auc_score(MASK_4x4.ravel(), a.ravel()) == pytest.approx(expected, abs=1e-15)


TAB_MASKS = np.array([[1, 0, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]], bool)
TAB_A = np.array([[1.0, 2.0, 0.5, -1.0, 0.0, 0.5], [0.0] * 6])


@pytest.mark.parametrize(
    "name, expected",
    [
        # row 0: argmax 2.0 is outside; mass (1 + 0.5) / 4; top 2 = {2.0 (out), 1.0 (in)};
        # AUROC: 1.0 beats 3 of 4, 0.5 beats 2 and ties 1 -> 5.5 / 8.
        # row 1 (all zero): the first index is the argmax (inside); no positive mass -> NaN;
        # ties by index put features 0, 1 on top; every pair ties -> 0.5.
        ("pointing_game", [0.0, 1.0]),
        ("relevance_mass", [0.375, np.nan]),
        ("relevance_rank", [0.5, 1.0]),
        ("attribution_auroc", [5.5 / 8, 0.5]),
    ],
)
def test_localisation_tabular_by_hand(name, expected):
    np.testing.assert_allclose(localise(name, TAB_A, TAB_MASKS), expected, rtol=1e-12)


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


@pytest.mark.parametrize("name", LOCALISATION)
def test_localisation_matches_per_sample_reference(name):
    rng = np.random.default_rng(26)
    a = np.round(rng.normal(size=(12, 5, 6)), 1)  # rounded: ties
    masks = rng.uniform(size=a.shape) < rng.uniform(0.1, 0.6, size=(12, 1, 1))
    masks[:, 0, 0], masks[:, -1, -1] = True, False  # neither empty nor full
    ref = references()[name]
    expected = [ref(ai.ravel(), mi.ravel()) for ai, mi in zip(a, masks, strict=True)]
    np.testing.assert_allclose(localise(name, a, masks), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "name, empty, full",
    [
        ("pointing_game", np.nan, 1.0),
        ("relevance_mass", np.nan, 1.0),
        ("relevance_rank", np.nan, 1.0),
        ("attribution_auroc", np.nan, np.nan),
    ],
)
def test_empty_and_full_masks(name, empty, full):
    a = np.array([[0.3, -1.0, 2.0], [0.3, -1.0, 2.0], [0.3, -1.0, 2.0]])
    masks = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 1]], bool)
    got = localise(name, a, masks)
    np.testing.assert_allclose(got[:2], [empty, full])
    assert np.isfinite(got[2])


@pytest.mark.parametrize("name", LOCALISATION)
@pytest.mark.parametrize(
    "x_shape, mask_shape",
    [
        ((2, 4, 4, 1), (2, 4, 5)),
        ((2, 4, 4, 3), (2, 4, 4, 3)),
        ((2, 4, 4, 1), (3, 4, 4)),
        ((2, 4, 4, 1), (2, 16)),
        ((2, 6), (2, 5)),
        ((2, 6), (1, 6)),
    ],
)
def test_wrong_mask_shape(name, x_shape, mask_shape):
    x = np.zeros(x_shape, np.float32)
    with pytest.raises(ValueError) as err:
        xb.metrics.get(name)(None, x, [0, 0], np.ones(x_shape), masks=np.ones(mask_shape, bool))
    assert str(x_shape) in str(err.value) and str(mask_shape) in str(err.value)
    assert "masks" in str(err.value)


@pytest.mark.parametrize("name", LOCALISATION)
def test_masks_required_and_boolean(name):
    x = np.zeros((1, 3), np.float32)
    with pytest.raises(ValueError, match="masks="):
        xb.metrics.get(name)(None, x, [0], np.ones((1, 3)))
    with pytest.raises(ValueError, match="boolean"):
        xb.metrics.get(name)(None, x, [0], np.ones((1, 3)), masks=[[0.5, 1.0, 0.0]])


@pytest.mark.parametrize("name", LOCALISATION)
def test_localisation_nan_sample_and_batch_size(name):
    rng = np.random.default_rng(27)
    a = rng.normal(size=(5, 4, 4))
    masks = rng.uniform(size=a.shape) < 0.4
    masks[:, 0, 0], masks[:, 3, 3] = True, False
    ref = localise(name, a, masks, batch_size=64)
    np.testing.assert_array_equal(localise(name, a, masks, batch_size=1), ref)
    a[3, 1, 2] = np.nan
    got = localise(name, a, masks)
    assert np.isnan(got[3])
    np.testing.assert_array_equal(np.delete(got, 3), np.delete(ref, 3))


@pytest.mark.parametrize("name", LOCALISATION)
def test_localisation_metadata(name):
    cls = xb.metrics.cls(name)
    assert (cls.higher_is_better, cls.category) == (True, "localisation")
    assert cls.needs_masks and not cls.needs_model


# --------------------------------------------------------------------------------------------
# Runtime: model calls the method declares
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
