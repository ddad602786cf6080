"""Perturbation-family and global methods against exact answers on tiny hand-set models:
occlusion, rise, lime, kernel_shap, permutation_importance, feature_correlation (definitions: their
docstrings)."""

from __future__ import annotations

import functools
import itertools
import math

import _tiny
import numpy as np
import pytest
from _tolerance import assert_roundoff_close
from scipy import ndimage

import xaibench as xb
from xaibench.methods import NotApplicable
from xaibench.methods.kernel_shap import CoalitionPlan
from xaibench.methods.lime import perturbations

# --------------------------------------------------------------------------------------------
# Tiny models and independent numpy references
# --------------------------------------------------------------------------------------------


@functools.cache
def linear_case(shape, n=4, classes=3, seed=0):
    """A linear model on inputs of ``shape`` ((F,) or (H, W, C)) with its weights and data
    (cached, as building and tracing a model costs more than explaining with it; read only)."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    w = rng.normal(size=(size, classes))
    b = rng.normal(size=classes)
    x = rng.normal(size=(n,) + tuple(shape)).astype(np.float32)
    y = np.arange(n) % classes
    if len(shape) == 1:
        model = _tiny.linear_tabular(w, b)
    else:
        model = _tiny.linear_image(w, b, shape)
    return model, w, b, x, y


def contributions(w, x, y):
    """W[:, y] * x per input value, shape of x (float64)."""
    return (w[:, y].T * x.reshape(len(x), -1)).reshape(x.shape)


def pixel_contributions(w, x, y):
    """W[:, y] * x summed over channels: (N, H, W) for images, (N, F) for tabular."""
    c = contributions(w, x, y)
    return c.sum(axis=-1) if x.ndim == 4 else c


def linear_f(w, b, v, y):
    """f_y of a linear model on inputs v (any shape), float64 (N,)."""
    z = v.reshape(len(v), -1).astype(np.float64) @ w + b
    return z[np.arange(len(v)), y]


def mlp_f(params, v, y):
    """f_y of ``_tiny.smooth_mlp`` written out in numpy."""
    w1, b1, w2, b2 = params
    return (np.tanh(v.astype(np.float64) @ w1 + b1) @ w2 + b2)[np.arange(len(v)), y]


def exact_shapley(f, x, y):
    """Shapley values of every feature of tabular ``x`` for the game v(S) = f(x_S, 0 elsewhere),
    by the formula over all subsets (float64 (N, F))."""
    n, m = x.shape
    phi = np.zeros((n, m))
    for j in range(m):
        others = [k for k in range(m) if k != j]
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for subset in itertools.combinations(others, size):
                keep = np.zeros(m, bool)
                keep[list(subset)] = True
                without = np.where(keep, x, 0.0)
                keep[j] = True
                with_j = np.where(keep, x, 0.0)
                phi[:, j] += weight * (f(with_j, y) - f(without, y))
    return phi


@functools.cache
def small_cnn(shape):
    return _tiny.small_cnn(shape)


FAST = {
    "occlusion": {},
    "rise": {"masks": 64},
    "lime": {"samples": 64},
    "kernel_shap": {"samples": 20},
    "permutation_importance": {"repeats": 2},
    "feature_correlation": {},
}
STOCHASTIC = ["rise", "lime", "kernel_shap", "permutation_importance"]
TABULAR_ONLY = ["permutation_importance", "feature_correlation"]


@pytest.fixture(scope="module")
def tab():
    return linear_case((5,), n=6)


@pytest.fixture(scope="module")
def cnn3():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(3, 4, 4, 3)).astype(np.float32)
    return small_cnn((4, 4, 3)), x, np.array([0, 1, 2])


# --------------------------------------------------------------------------------------------
# Occlusion
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_occlusion_single_pixels_linear_image(channels):
    model, w, _, x, y = linear_case((5, 6, channels))
    a = xb.methods.get("occlusion", patch=1, stride=1)(model, x, y)
    assert a.shape == x.shape[:-1] and a.dtype == np.float32
    np.testing.assert_allclose(a, pixel_contributions(w, x, y), rtol=1e-4, atol=1e-5)


def occlusion_reference(c, patch, stride):
    """Mean over the windows covering a pixel of the window's sum of c (one image (H, W)),
    windows at 0, stride, ... plus one flush with the border if the stride leaves it uncovered."""
    h, w = c.shape

    def starts(length):
        s = list(range(0, length - patch + 1, stride))
        return s + [length - patch] if s[-1] + patch < length else s

    total, count = np.zeros_like(c), np.zeros_like(c)
    for r in starts(h):
        for q in starts(w):
            total[r : r + patch, q : q + patch] += c[r : r + patch, q : q + patch].sum()
            count[r : r + patch, q : q + patch] += 1
    return total / count


@pytest.mark.parametrize("patch, stride", [(2, 1), (2, 2), (3, 2), (4, 3), (5, 5)])
@pytest.mark.parametrize("channels", [1, 3])
def test_occlusion_patches_linear_image(patch, stride, channels):
    model, w, _, x, y = linear_case((5, 6, channels))
    a = xb.methods.get("occlusion", patch=patch, stride=stride)(model, x, y)
    c = pixel_contributions(w, x, y)
    expected = np.stack([occlusion_reference(ci, patch, stride) for ci in c])
    np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "side, patch, stride, positions",
    [(8, 1, 1, 8), (28, 4, 2, 13), (32, 4, 2, 15), (224, 28, 14, 15), (3, 1, 1, 3)],
)
def test_occlusion_default_patch_and_stride(side, patch, stride, positions):
    m = xb.methods.get("occlusion")
    masks = m.patches((side, side, 1))
    assert masks.shape == (positions**2, side * side)
    assert (masks.sum(axis=1) == patch * patch).all()
    assert masks.any(axis=0).all()  # every pixel is covered
    first_two = masks[:2].reshape(2, side, side)
    if positions > 1:  # the second window is the first moved right by the stride
        np.testing.assert_array_equal(np.roll(first_two[0], stride, axis=1), first_two[1])


@pytest.mark.parametrize("baseline", [0.0, 0.5, -1.0])
def test_occlusion_tabular_one_feature_at_a_time(tab, baseline):
    model, w, _, x, y = tab
    a = xb.methods.get("occlusion", baseline=baseline)(model, x, y)
    assert a.shape == x.shape
    np.testing.assert_allclose(a, w[:, y].T * (x - baseline), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------------
# RISE
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (6, 6, 1), (5, 8, 3)])
def test_rise_equals_the_formula_with_the_same_masks(shape):
    """saliency = sum_m f_y(x * M_m) M_m / (N p), recomputed in numpy with the method's masks."""
    model, w, b, x, y = linear_case(shape, n=3)
    m = xb.methods.get("rise", masks=300, p=0.4, seed=3)
    masks = np.concatenate(list(m.mask_chunks(x))).astype(np.float64)  # (N_masks, n_features)
    assert masks.shape == (300, int(np.prod(shape[:-1] if len(shape) == 3 else shape)))
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    expected = np.zeros((len(x), masks.shape[1]))
    per_feature = x.reshape(len(x), masks.shape[1], -1).astype(np.float64)
    for i in range(len(x)):
        masked = per_feature[i][None] * masks[..., None]  # (N_masks, features, C)
        scores = linear_f(w, b, masked, np.full(len(masks), y[i]))
        expected[i] = scores @ masks / (300 * 0.4)
    a = m(model, x, y)
    assert a.shape == x.shape[:-1] if len(shape) == 3 else x.shape
    np.testing.assert_allclose(a.reshape(len(x), -1), expected, rtol=1e-4, atol=1e-4)


def test_rise_expectation_is_affine_in_contributions(tab):
    """With Bernoulli(p) masks, E[saliency_j] = b_y + p sum_k w_k x_k + (1 - p) w_j x_j."""
    model, w, b, x, y = tab
    p = 0.5
    a = xb.methods.get("rise", masks=20000, p=p, seed=1)(model, x, y).astype(np.float64)
    c = contributions(w, x, y)
    expected = b[y][:, None] + p * c.sum(axis=1, keepdims=True) + (1 - p) * c
    for i in range(len(x)):
        assert np.corrcoef(a[i], c[i])[0, 1] > 0.99
    scale = np.abs(x).max(axis=1, keepdims=True) * np.abs(w).sum(axis=0).max()
    np.testing.assert_allclose(a, expected, atol=0.05 * scale.max())


def test_rise_image_masks_are_upsampled_shifted_grids():
    """Each mask: an s x s Bernoulli(p) grid, bilinearly upsampled to (s + 1) * ceil(H / s) pixels
    per side (scipy's zoom, pixel-centre aligned, mirrored border = skimage's resize(order=1) of
    the authors' code) and cropped at a random shift; draws: grids then shifts, from ``seed``."""
    h, w, n, p = 10, 14, 50, 0.3
    m = xb.methods.get("rise", masks=n, cells=3, p=p, seed=5)
    masks = np.concatenate(list(m.mask_chunks(np.zeros((1, h, w, 1), np.float32))))
    s, cell_h, cell_w = 3, 4, 5  # min(3, 10 // 2, 14 // 2); ceil(10 / 3); ceil(14 / 3)
    rng = np.random.default_rng(5)
    grids = (rng.random((n, s, s)) < p).astype(np.float64)
    shifts = rng.integers(0, [cell_h, cell_w], size=(n, 2))
    zoom = ((s + 1) * cell_h / s, (s + 1) * cell_w / s)
    for i in range(n):
        up = ndimage.zoom(grids[i], zoom, order=1, mode="mirror", grid_mode=True)
        assert up.shape == ((s + 1) * cell_h, (s + 1) * cell_w)
        crop = up[shifts[i, 0] : shifts[i, 0] + h, shifts[i, 1] : shifts[i, 1] + w]
        np.testing.assert_allclose(masks[i].reshape(h, w), crop, atol=1e-6)
    assert len(np.unique(shifts, axis=0)) > 5  # the crops really move
    big = np.concatenate(
        list(
            xb.methods.get("rise", masks=400, p=0.5).mask_chunks(
                np.zeros((1, 16, 16, 1), np.float32)
            )
        )
    )
    np.testing.assert_allclose(big.mean(), 0.5, atol=0.03)


# --------------------------------------------------------------------------------------------
# LIME
# --------------------------------------------------------------------------------------------


def test_lime_without_ridge_recovers_contributions_on_linear_tabular(tab):
    model, w, _, x, y = tab
    a = xb.methods.get("lime", samples=300, ridge=0.0)(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T * x, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ridge, kernel_width", [(1.0, 0.25), (5.0, 0.5)])
def test_lime_equals_a_numpy_solve_of_the_same_weighted_ridge(tab, ridge, kernel_width):
    """Same perturbations (same seed), weights and penalty, solved by np.linalg.lstsq on the
    sqrt-weighted system with the penalty as extra rows."""
    model, w, b, x, y = tab
    samples, d = 200, x.shape[1]
    a = xb.methods.get("lime", samples=samples, ridge=ridge, kernel_width=kernel_width, seed=4)(
        model, x, y
    )
    z = perturbations(np.random.default_rng(4), len(x), samples, d).astype(np.float64)
    assert (z[:, 0] == 1).all()
    for i in range(len(x)):
        t = linear_f(w, b, z[i] * x[i], np.full(samples, y[i]))
        cos = z[i].sum(axis=1) / (np.linalg.norm(z[i], axis=1) * np.sqrt(d) + 1e-300)
        pi = np.sqrt(np.exp(-((1 - cos) ** 2) / kernel_width**2))
        design = np.hstack([np.ones((samples, 1)), z[i]]) * np.sqrt(pi)[:, None]
        penalty = np.hstack([np.zeros((d, 1)), np.sqrt(ridge) * np.eye(d)])
        sol = np.linalg.lstsq(
            np.vstack([design, penalty]), np.concatenate([t * np.sqrt(pi), np.zeros(d)]), rcond=None
        )[0]
        np.testing.assert_allclose(a[i], sol[1:], rtol=1e-4, atol=1e-5)
    # the ridge shrinks the coefficients towards 0 but keeps them proportional-ish to W * x
    assert np.corrcoef(a.ravel(), (w[:, y].T * x).ravel())[0, 1] > 0.99


@pytest.mark.parametrize("segments, cells", [(8, (5, 6)), (2, (2, 2)), (3, (3, 3))])
def test_lime_superpixel_coefficients_on_linear_image(segments, cells):
    """Without ridge the coefficient of a grid superpixel is the sum of W * x over its pixels,
    and every pixel of the superpixel carries it."""
    model, w, _, x, y = linear_case((5, 6, 2), n=2)
    a = xb.methods.get("lime", samples=400, segments=segments, ridge=0.0)(model, x, y)
    assert a.shape == (2, 5, 6)
    rows = (np.arange(5) * cells[0]) // 5
    cols = (np.arange(6) * cells[1]) // 6
    labels = rows[:, None] * cells[1] + cols[None, :]
    c = pixel_contributions(w, x, y)
    expected = np.stack([np.bincount(labels.ravel(), ci.ravel())[labels] for ci in c])
    np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------
# Kernel SHAP
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("features", [1, 2, 5, 14])
def test_kernel_shap_linear_tabular_is_w_times_x(features):
    """Exact when all coalitions fit (F <= 11 at the default budget) and, the model being linear,
    also with sampled coalitions (F = 14)."""
    model, w, _, x, y = linear_case((features,), n=3, seed=features)
    a = xb.methods.get("kernel_shap")(model, x, y)
    np.testing.assert_allclose(a, w[:, y].T * x, rtol=1e-4, atol=1e-5)


def test_kernel_shap_equals_exact_shapley_values_when_all_coalitions_fit():
    model, params = _tiny.smooth_mlp(5, seed=2)
    x = np.random.default_rng(5).normal(0, 1.5, size=(4, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    a = xb.methods.get("kernel_shap")(model, x, y)
    np.testing.assert_allclose(a, exact_shapley(lambda v, t: mlp_f(params, v, t), x, y), atol=1e-5)


def test_kernel_shap_sampled_coalitions_approach_shapley_values():
    """F = 10, budgets below 2^10 - 2: 1000 enumerates every size but 5 and samples that one, 100
    enumerates sizes 1 and 9 only; the estimate is close to the exact values and improves with
    the budget (an unweighted or biased sampler would not converge to them)."""
    model, params = _tiny.smooth_mlp(10, n_hidden=6, seed=4)
    x = np.random.default_rng(6).normal(0, 1.0, size=(3, 10)).astype(np.float32)
    y = np.array([0, 1, 2])
    exact = exact_shapley(lambda v, t: mlp_f(params, v, t), x, y)
    err = {
        samples: np.abs(xb.methods.get("kernel_shap", samples=samples)(model, x, y) - exact).mean()
        for samples in (100, 1000)
    }
    assert err[1000] < 0.1 * np.abs(exact).mean()
    assert err[1000] < err[100]


@pytest.mark.parametrize("segments, cells", [(2, (2, 2)), (3, (3, 3))])
def test_kernel_shap_superpixels_on_linear_image(segments, cells):
    """A grid superpixel's Shapley value is the sum of W * x over its pixels, spread evenly over
    them (so the attributions sum to f(x) - f(0))."""
    model, w, _, x, y = linear_case((5, 6, 2), n=2)
    a = xb.methods.get("kernel_shap", segments=segments)(model, x, y)
    assert a.shape == (2, 5, 6)
    rows = (np.arange(5) * cells[0]) // 5
    cols = (np.arange(6) * cells[1]) // 6
    labels = (rows[:, None] * cells[1] + cols[None, :]).ravel()
    sizes = np.bincount(labels)
    c = pixel_contributions(w, x, y).reshape(2, -1)
    expected = np.stack([np.bincount(labels, ci)[labels] / sizes[labels] for ci in c])
    np.testing.assert_allclose(a.reshape(2, -1), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case, samples", [("mlp", 2048), ("mlp", 50), ("cnn", 2048), ("cnn", 30)])
def test_kernel_shap_efficiency(case, samples, cnn3):
    """sum a = f_y(x) - f_y(baseline) exactly (the constraint is eliminated, not penalised)."""
    if case == "mlp":
        model, params = _tiny.smooth_mlp(20, seed=1)
        x = np.random.default_rng(7).normal(size=(4, 20)).astype(np.float32)
        y = np.array([0, 1, 2, 0])
    else:
        model, x, y = cnn3
    a = xb.methods.get("kernel_shap", samples=samples, baseline=0.3)(model, x, y)
    out = model.predict_on_batch(np.concatenate([x, np.full_like(x, 0.3)]))
    diff = out[np.arange(len(x)), y] - out[len(x) + np.arange(len(x)), y]
    np.testing.assert_allclose(a.reshape(len(x), -1).sum(axis=1), diff, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "m, samples, enumerated, rows",
    [
        (3, 2048, 6, 6),
        (11, 2048, 2046, 2046),
        (12, 2048, 24 + 132 + 440, 2048),
        (16, 2048, 272, 2048),
        (16, 2047, 272, 2046),
    ],
)
def test_kernel_shap_coalition_plan(m, samples, enumerated, rows):
    plan = CoalitionPlan(m, samples)
    assert len(plan.enumerated) == enumerated
    assert len(plan.weights) == rows
    np.testing.assert_allclose(plan.weights.sum(), 1.0)  # the whole kernel mass
    # enumerated rows carry the Shapley kernel (m-1) / (C(m,k) k (m-k)), normalised to mass 1
    k = plan.enumerated.sum(axis=1)
    kernel = (m - 1) / (np.array([math.comb(m, int(j)) for j in k]) * k * (m - k))
    total = sum((m - 1) / (j * (m - j)) for j in range(1, m))
    # float64 numpy, no TensorFlow or BLAS kernel: the weights are normalised by a sum of at most
    # 2,048 terms, which another summation order moves by < 2,048 x 2.2e-16 = 4.5e-13 relative
    np.testing.assert_allclose(plan.weights[:enumerated], kernel / total, rtol=1e-12)
    assert len(np.unique(plan.enumerated, axis=0)) == enumerated
    z = plan.coalitions(np.random.default_rng(0), 2)
    assert z.shape == (2, rows, m)
    assert (z.sum(axis=2) > 0).all() and (z.sum(axis=2) < m).all()  # proper coalitions only


# --------------------------------------------------------------------------------------------
# Permutation importance and feature correlation (global, tabular only)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ranked_linear():
    """Two classes with logits +-x.w and y = the predicted class, independent N(0, 1) features:
    a feature's importance grows with |w_j| (about sqrt(2/pi) w_j^2 / |w|)."""
    w_vec = np.array([0.5, -3.0, 0.0, 1.5, -1.0])
    w = np.stack([w_vec, -w_vec], axis=1)
    x = np.random.default_rng(8).normal(size=(200, 5)).astype(np.float32)
    y = (x @ w_vec < 0).astype(np.int64)
    return _tiny.linear_tabular(w, np.zeros(2)), w_vec, x, y


def test_permutation_importance_ranks_by_weight_and_ignores_unused_feature(ranked_linear):
    model, w_vec, x, y = ranked_linear
    a = xb.methods.get("permutation_importance")(model, x, y)
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, np.broadcast_to(a[0], a.shape))  # global: same row
    assert a[0, 2] == 0.0  # the model ignores feature 2
    used = np.flatnonzero(w_vec)
    assert list(used[np.argsort(-a[0, used])]) == list(used[np.argsort(-np.abs(w_vec[used]))])
    assert (a[0, used] > 0).all()


def test_permutation_importance_equals_numpy_with_the_same_permutations(tab):
    model, w, b, x, y = tab
    a = xb.methods.get("permutation_importance", repeats=3, seed=2)(model, x, y)
    perms = np.argsort(np.random.default_rng(2).random((3, x.shape[1], len(x))), axis=-1)
    full = linear_f(w, b, x, y)
    expected = np.zeros(x.shape[1])
    for r, j in itertools.product(range(3), range(x.shape[1])):
        shuffled = x.copy()
        shuffled[:, j] = x[perms[r, j], j]
        expected[j] += (full - linear_f(w, b, shuffled, y)).mean() / 3
    np.testing.assert_allclose(a, np.broadcast_to(expected, x.shape), rtol=1e-4, atol=1e-5)


def test_feature_correlation_exact_pearson(tab):
    model, w, b, x, y = tab
    a = xb.methods.get("feature_correlation")(model, x, y)
    s = linear_f(w, b, x, y)
    expected = [np.corrcoef(x[:, j].astype(np.float64), s)[0, 1] for j in range(x.shape[1])]
    np.testing.assert_allclose(a, np.broadcast_to(expected, x.shape), rtol=1e-5, atol=1e-6)


def test_feature_correlation_constant_feature_gets_zero(tab):
    model, w, b, x, y = tab
    x = x.copy()
    x[:, 4] = 1.5
    a = xb.methods.get("feature_correlation")(model, x, y)
    assert (a[:, 4] == 0).all() and np.isfinite(a).all()
    s = linear_f(w, b, x, y)
    np.testing.assert_allclose(
        a[0, :4], [np.corrcoef(x[:, j], s)[0, 1] for j in range(4)], rtol=1e-5
    )


@pytest.mark.parametrize("name", TABULAR_ONLY)
def test_tabular_only_methods_do_not_apply_to_images(name, cnn3):
    model, x, y = cnn3
    m = xb.methods.get(name)
    reason = m.applicable(model, x)
    assert isinstance(reason, str) and "tabular" in reason
    with pytest.raises(NotApplicable, match=name):
        m(model, x, y)


# --------------------------------------------------------------------------------------------
# Shared behaviour: seeds, batch size, shapes, settings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STOCHASTIC)
def test_same_seed_identical_other_seed_different(name, tab, cnn3):
    mlp, _ = _tiny.smooth_mlp(5, seed=0)  # nonlinear: Kernel SHAP is exact on linear models
    for model, x, y in [(mlp, tab[3], tab[4]), cnn3]:
        if name in TABULAR_ONLY and x.ndim == 4:
            continue
        a = xb.methods.get(name, seed=1, **FAST[name])(model, x, y)
        np.testing.assert_array_equal(xb.methods.get(name, seed=1, **FAST[name])(model, x, y), a)
        assert not np.allclose(xb.methods.get(name, seed=2, **FAST[name])(model, x, y), a)


@pytest.mark.parametrize("name", list(FAST))
def test_batch_size_one_and_64_agree(name, tab, cnn3):
    """Equal up to kernel round-off (tests/_tolerance.py); fails if masks, coalitions or
    perturbations were drawn per batch, or a batch boundary split one sample's copies wrongly."""
    for model, x, y in [(tab[0], tab[3], tab[4]), cnn3]:
        m1 = xb.methods.get(name, batch_size=1, **FAST[name])
        if m1.applicable(model, x) is not None:
            continue
        a64 = xb.methods.get(name, batch_size=64, **FAST[name])(model, x, y)
        assert_roundoff_close(m1(model, x, y), a64)


@pytest.mark.parametrize("name", ["occlusion", "rise", "lime", "kernel_shap"])
def test_a_sample_is_explained_the_same_in_any_batch(name, cnn3):
    """Per-sample draws come in sample order from one stream: the first rows of a batch are
    explained as when they are explained alone, up to kernel round-off (tests/_tolerance.py).
    Fails if the stream were drawn per batch, or per sample from a seed that depends on N."""
    model, x, y = cnn3
    m = xb.methods.get(name, **FAST[name])
    assert_roundoff_close(m(model, x[:2], y[:2]), m(model, x, y)[:2])


@pytest.mark.parametrize("name", list(FAST))
@pytest.mark.parametrize("channels", [1, 3, None], ids=["C=1", "C=3", "tabular"])
def test_shapes_and_dtypes(name, channels):
    if channels is None:
        model, _, _, x, _ = linear_case((6,))
    else:
        model = small_cnn((5, 4, channels))
        x = np.random.default_rng(9).uniform(size=(4, 5, 4, channels))
    m = xb.methods.get(name, **FAST[name])
    if name in TABULAR_ONLY and channels is not None:
        assert m.applicable(model, x) is not None
        return
    a = m(model, x, np.array([0, 1, 2, 0]))
    assert a.dtype == np.float32 and np.isfinite(a).all()
    assert a.shape == (x.shape[:-1] if channels else x.shape)


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("occlusion", {"patch": 0}, "patch"),
        ("occlusion", {"stride": 1.5}, "stride"),
        ("occlusion", {"baseline": "zeros"}, "baseline"),
        ("rise", {"masks": 0}, "masks"),
        ("rise", {"p": 1.0}, "p"),
        ("rise", {"cells": -2}, "cells"),
        ("rise", {"seed": "a"}, "seed"),
        ("lime", {"samples": 0}, "samples"),
        ("lime", {"kernel_width": 0}, "kernel_width"),
        ("lime", {"ridge": -1.0}, "ridge"),
        ("lime", {"ridge": float("inf")}, "ridge"),
        ("lime", {"kernel_width": float("nan")}, "kernel_width"),
        ("rise", {"p": True}, "p"),
        ("lime", {"segments": 0}, "segments"),
        ("kernel_shap", {"samples": -5}, "samples"),
        ("kernel_shap", {"seed": -1}, "seed"),
        ("permutation_importance", {"repeats": 0}, "repeats"),
        ("feature_correlation", {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings_are_rejected_by_name(name, params, match):
    with pytest.raises(ValueError, match=match):
        xb.methods.get(name, **params)


@pytest.mark.parametrize("name", list(FAST))
def test_metadata(name):
    cls = xb.methods.cls(name)
    assert cls.stochastic == (name in STOCHASTIC)
    assert ("seed" in cls.param_names()) == (name in STOCHASTIC)
    assert cls.inputs == (("tabular",) if name in TABULAR_ONLY else ("image", "tabular"))
    assert not cls.needs_gradients
