"""Noisy linear imputation, road, infidelity, max/avg sensitivity and completeness against exact
answers on tiny hand-set models (definitions: their docstrings)."""

from __future__ import annotations

import itertools
import math
import threading
import time

import _tiny
import numpy as np
import pytest
from _tolerance import assert_scores_close
from threadpoolctl import threadpool_info

import xaibench as xb
import xaibench._checks
from xaibench import _imputation
from xaibench._baselines import baseline_values, check_baseline, fill_removed
from xaibench._imputation import noisy_linear
from xaibench.methods.base import NotApplicable

# --------------------------------------------------------------------------------------------
# Independent references (numpy, straight from the papers' definitions)
# --------------------------------------------------------------------------------------------


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


def linear_scores(x, w, b, y, output):
    """f_y of a (Flatten +) Dense model: logit or softmax probability, float64 (N,)."""
    z = x.reshape(len(x), -1).astype(np.float64) @ np.asarray(w, np.float64) + b
    s = _tiny.softmax(z) if output == "probability" else z
    return s[np.arange(len(x)), y]


def road_reference(x, y, a_feat, steps, score, fill):
    """ROAD gap curves: at fraction k/steps (k = 1..steps-1) the top (MoRF) or bottom (LeRF)
    round(k*n/steps) features (signed a, descending resp. ascending, ties to the lower index either
    way) are removed by ``fill(image, removed_mask)``; end points 0."""
    n = a_feat.shape[1]
    out = np.zeros((len(x), steps + 1))
    for i, k in itertools.product(range(len(x)), range(1, steps)):
        count = round(k * n / steps)
        morf = _tiny.top_k_mask(a_feat[i], count)
        lerf = _tiny.top_k_mask(-a_feat[i], count)
        f = [
            score(fill(x[i], m.reshape(x.shape[1:-1] or (n,)))[None], y[i : i + 1])[0]
            for m in (lerf, morf)
        ]
        out[i, k] = f[0] - f[1]
    return out


def impute_fill(img, removed):
    return reference_impute(img, removed) if img.ndim == 3 else img


def zero_fill(img, removed):
    return np.where(removed[..., None] if img.ndim == 3 else removed, 0.0, img)


# --------------------------------------------------------------------------------------------
# Noisy linear imputation
# --------------------------------------------------------------------------------------------

HAND_IMG = np.array([[1.0, 0.0, 2.0], [0.0, 9.0, 0.0], [3.0, 0.0, 4.0]])


@pytest.mark.parametrize(
    "removed, expected",
    [
        # centre: every neighbour inside; the direct ones are 0: (1 + 2 + 3 + 4) / 12
        ([(1, 1)], [10 / 12]),
        # corner: neighbours 0 (1/6), 0 (1/6), 9 (1/12), renormalised by 5/12
        ([(0, 0)], [9 / 5]),
        # centre u and its right neighbour v (border): u = 10/12 + v/6, (2/3) v = (2 + 4)/6 + u/6
        # -> v = 41/23, u = 26/23
        ([(1, 1), (1, 2)], [26 / 23, 41 / 23]),
        # every pixel but the 9: the constant 9 is the only solution
        ([p for p in itertools.product(range(3), repeat=2) if p != (1, 1)], [9.0] * 8),
    ],
)
def test_imputation_by_hand(removed, expected):
    mask = np.zeros((1, 3, 3), bool)
    mask[(0, *zip(*removed, strict=True))] = True
    x = np.stack([HAND_IMG, 2 * HAND_IMG], axis=-1)[None].astype(np.float32)  # two channels
    out = noisy_linear(x, mask, noise=0.0)
    np.testing.assert_allclose(out[mask], np.outer(expected, [1, 2]), rtol=1e-6)
    np.testing.assert_array_equal(out[~mask], x[~mask])


@pytest.mark.parametrize("shape", [(5, 4, 1), (4, 6, 3), (2, 66, 2)])  # W > 64: other ordering
@pytest.mark.parametrize("limit", [None, 7])  # 7: many block-diagonal solves
def test_imputation_matches_reference(monkeypatch, shape, limit):
    if limit:
        monkeypatch.setattr(_imputation, "_UNKNOWNS_PER_SOLVE", limit)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4,) + shape).astype(np.float32)
    removed = rng.uniform(size=(4,) + shape[:2]) < np.array([0.1, 0.5, 0.9, 0.0])[:, None, None]
    removed[0, 0, 0] = True
    out = noisy_linear(x, removed.reshape(4, -1), noise=0.0)  # (M, H*W) masks accepted too
    expected = np.stack([reference_impute(xi, ri) for xi, ri in zip(x, removed, strict=True)])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[3], x[3])  # nothing removed


@pytest.mark.parametrize("h, w", [(1, 5), (3, 4), (6, 6)])
def test_green_function_is_the_laplacians_pseudo_inverse(h, w):
    green, laplacian = _imputation._green(h, w), grid_laplacian(h, w)
    np.testing.assert_array_equal(green, green.T)
    np.testing.assert_allclose(green, np.linalg.pinv(laplacian), atol=1e-12)
    np.testing.assert_allclose(green.sum(axis=1), 0.0, atol=1e-12)  # no constant part
    assert not green.flags.writeable  # cached: nobody may change it


def test_imputation_takes_the_cheaper_path_per_image(monkeypatch):
    """90% removed from a 28x28 image goes through the Green's function (few kept pixels), 30%
    through the banded solve (narrow band); both paths give the reference values."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 28, 28, 2)).astype(np.float32)
    removed = rng.uniform(size=(2, 28, 28)) < np.array([0.9, 0.3])[:, None, None]
    system = _imputation._System(x, removed)
    green = _imputation._by_green(system.counts, system.bandwidths(), 28 * 28)
    assert green.tolist() == [True, False]
    through_green = []
    real = _imputation._green_solve

    def spy(x, removed):
        through_green.append(len(x))
        return real(x, removed)

    monkeypatch.setattr(_imputation, "_green_solve", spy)
    out = noisy_linear(x, removed, noise=0.0)
    assert through_green == [1]
    expected = np.stack([reference_impute(xi, ri) for xi, ri in zip(x, removed, strict=True)])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.95])
def test_imputation_through_the_green_function_equals_the_banded_solve(monkeypatch, fraction):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(5, 9, 11, 2))
    removed = rng.uniform(size=(5, 9, 11)) < fraction
    removed[:, 0, 0] = True
    removed[:, 8, 10] = False
    values = {}
    for cost in (0.0, 1e12):  # nothing, then everything through the Green's function
        monkeypatch.setattr(_imputation, "_BANDED_COST", cost)
        values[cost] = _imputation._impute(x, removed)
    np.testing.assert_allclose(values[1e12], values[0.0], rtol=1e-10, atol=1e-12)
    expected = np.stack([reference_impute(xi, ri) for xi, ri in zip(x, removed, strict=True)])
    np.testing.assert_allclose(values[1e12], expected[removed], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("through_ctypes", [True, False])
def test_banded_solve_through_ctypes_is_lapacks(monkeypatch, through_ctypes):
    """The ctypes route to LAPACK's dpbsv (which lets go of the GIL) and solveh_banded give the
    same values to the last bit, and both refuse a matrix that is not positive definite."""
    assert _imputation._dpbsv is not None  # scipy exposes it here
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 10, 13, 2))
    removed = rng.uniform(size=(6, 10, 13)) < 0.6
    removed[:, 0, 0] = False
    monkeypatch.setattr(_imputation, "_BANDED_COST", 0.0)  # banded only
    via_ctypes = _imputation._impute(x, removed)
    monkeypatch.setattr(_imputation, "_dpbsv", None)
    np.testing.assert_array_equal(_imputation._impute(x, removed), via_ctypes)
    if through_ctypes:
        monkeypatch.undo()
    band = np.asfortranarray([[1.0, -1.0, 1.0], [0.5, 0.5, 0.0]])  # second pivot negative
    with pytest.raises(np.linalg.LinAlgError):
        _imputation._banded_cholesky_solve(band, np.ones((3, 1), order="F"))


@pytest.mark.parametrize("cost", [None, 0.0, 1e12])  # the cost model; banded only; G only
@pytest.mark.parametrize("shape", [(7, 9, 2), (1, 6, 1), (6, 1, 1), (12, 12, 3)])
def test_imputation_of_an_image_does_not_depend_on_the_others(monkeypatch, shape, cost):
    """Images are grouped by path, bandwidth and kept pixels and solved on threads; each image's
    values are exactly those it gets alone, whatever the grouping, order, group size or thread
    count."""
    if cost is not None:
        monkeypatch.setattr(_imputation, "_BANDED_COST", cost)
    rng = np.random.default_rng(17)
    x = rng.normal(size=(24,) + shape).astype(np.float32)
    removed = rng.uniform(size=(24,) + shape[:2]) < rng.uniform(0.05, 0.95, size=(24, 1, 1))
    whole = noisy_linear(x, removed, noise=0.0)
    alone = np.concatenate(
        [noisy_linear(x[i : i + 1], removed[i : i + 1], noise=0.0) for i in range(24)]
    )
    np.testing.assert_array_equal(alone, whole)
    order = rng.permutation(24)
    np.testing.assert_array_equal(noisy_linear(x[order], removed[order], noise=0.0), whole[order])
    monkeypatch.setattr(_imputation, "_UNKNOWNS_PER_SOLVE", 9)
    np.testing.assert_array_equal(noisy_linear(x, removed, noise=0.0), whole)
    monkeypatch.setattr(_imputation, "_MAX_THREADS", 1)
    np.testing.assert_array_equal(noisy_linear(x, removed, noise=0.0), whole)
    expected = np.stack(
        [
            np.zeros_like(xi) if ri.all() else reference_impute(xi, ri)
            for xi, ri in zip(x, removed, strict=True)
        ]
    )
    np.testing.assert_allclose(whole, expected, rtol=1e-5, atol=1e-6)


def test_imputation_from_several_threads_restores_blas(monkeypatch):
    """Imputations called from several threads at once give their values alone, and leave the
    BLAS thread counts (limited to one while images are solved, for the whole process) as they
    found them, even when one starts while another one's limit holds and ends after it."""
    rng = np.random.default_rng(9)
    xs = [rng.normal(size=(m, 10, 10, 1)).astype(np.float32) for m in (4, 5)]
    removed = [rng.uniform(size=x.shape[:3]) < 0.7 for x in xs]
    alone = [noisy_linear(x, r, noise=0.0) for x, r in zip(xs, removed, strict=True)]
    real = _imputation._impute

    def slow(x, r):  # the second call's images (5: parts of 3 and 2) take longest
        time.sleep(0.4 if len(x) == 3 else 0.1)
        return real(x, r)

    monkeypatch.setattr(_imputation, "_impute", slow)
    before = [lib["num_threads"] for lib in threadpool_info()]
    together = [None, None]

    def call(i, delay):
        time.sleep(delay)
        together[i] = noisy_linear(xs[i], removed[i], noise=0.0)

    threads = [threading.Thread(target=call, args=(i, 0.05 * i)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [lib["num_threads"] for lib in threadpool_info()] == before


def test_imputation_keeps_constants_and_empties():
    x = np.full((2, 4, 4, 2), 3.5, np.float32)
    removed = np.ones((2, 4, 4), bool)
    removed[0, 2, 1] = False  # one kept pixel determines every other
    out = noisy_linear(x, removed, noise=0.0)
    np.testing.assert_allclose(out[0], 3.5, rtol=1e-6)
    np.testing.assert_array_equal(out[1], 0.0)  # nothing kept: nothing to interpolate from


def test_imputation_noise():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(3, 5, 5, 2)).astype(np.float32)
    removed = rng.uniform(size=(3, 5, 5)) < 0.4
    clean = noisy_linear(x, removed, noise=0.0)
    noisy = noisy_linear(x, removed, noise=0.05, rng=7)
    # the documented draw: noise * standard_normal(x.shape), on the removed pixels only
    expected = clean + 0.05 * np.random.default_rng(7).standard_normal(x.shape) * removed[..., None]
    np.testing.assert_allclose(noisy, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(noisy[~removed], x[~removed])
    np.testing.assert_array_equal(noisy, noisy_linear(x, removed, noise=0.05, rng=7))
    assert not np.allclose(noisy, noisy_linear(x, removed, noise=0.05, rng=8))


@pytest.mark.parametrize(
    "x_shape, mask_shape, match",
    [((2, 6), (2, 6), "images"), ((2, 3, 3, 1), (2, 3), r"\(2, 3\)"), ((2, 3, 3, 1), (1, 9), "9")],
)
def test_imputation_bad_shapes(x_shape, mask_shape, match):
    with pytest.raises(ValueError, match=match):
        noisy_linear(np.zeros(x_shape, np.float32), np.ones(mask_shape, bool))


def test_fill_removed_copies_and_chunks():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(4, 3, 3, 2)).astype(np.float32)
    removed = rng.uniform(size=(4, 5, 9)) < 0.5  # five copies per sample
    zero = fill_removed(x, removed, 0.0)
    assert zero.shape == (4, 5, 3, 3, 2)
    np.testing.assert_array_equal(zero, np.where(removed.reshape(4, 5, 3, 3, 1), 0.0, x[:, None]))
    mean = fill_removed(x, removed[:, 0], "mean")
    np.testing.assert_array_equal(
        mean, np.where(removed[:, 0].reshape(4, 3, 3, 1), baseline_values(x, "mean"), x)
    )
    # noisy_linear: chunks of samples drawn from one Generator = all samples at once
    whole = fill_removed(x, removed, "noisy_linear", rng=np.random.default_rng(3))
    gen = np.random.default_rng(3)
    parts = [
        fill_removed(x[s], removed[s], "noisy_linear", rng=gen) for s in (slice(0, 1), slice(1, 4))
    ]
    np.testing.assert_array_equal(whole, np.concatenate(parts))
    ref = reference_impute(x[2], removed[2, 4].reshape(3, 3))
    clean = fill_removed(x, removed, "noisy_linear", noise=0.0)
    np.testing.assert_allclose(clean[2, 4], ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(4, 9\).*\(4, 5, 8\)"):
        fill_removed(x, removed[..., :8], 0.0)


def test_noisy_linear_only_where_supported():
    assert check_baseline("noisy_linear", masked=True) == "noisy_linear"
    with pytest.raises(ValueError, match="noisy_linear"):
        check_baseline("noisy_linear")
    # every metric that removes features takes it; one that only reads a baseline input does not
    for name in ("deletion", "insertion", "faithfulness_correlation", "road"):
        assert xb.metrics.get(name, baseline="noisy_linear").baseline == "noisy_linear"
    with pytest.raises(ValueError, match="baseline.*noisy_linear"):
        xb.metrics.get("completeness", baseline="noisy_linear")
    with pytest.raises(ValueError, match="fill_removed"):
        baseline_values(np.zeros((1, 2, 2, 1), np.float32), "noisy_linear")


# --------------------------------------------------------------------------------------------
# ROAD
# --------------------------------------------------------------------------------------------

IMG_SHAPE = (4, 5, 1)


@pytest.fixture(scope="module")
def linear_img():
    rng = np.random.default_rng(4)
    n_in = int(np.prod(IMG_SHAPE))
    w = rng.normal(size=(n_in, 3)).round(2)
    b = np.array([0.2, -0.1, 0.0])
    x = rng.uniform(size=(5,) + IMG_SHAPE).round(2).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1])
    return _tiny.linear_image(w, b, IMG_SHAPE), w, b, x, y


@pytest.mark.parametrize("steps", [10, 4, 3])
@pytest.mark.parametrize("output", ["probability", "logit"])
@pytest.mark.parametrize("baseline", ["noisy_linear", 0.0])
def test_road_against_reference(linear_img, steps, output, baseline):
    model, w, b, x, y = linear_img
    a = np.random.default_rng(5).normal(size=(len(x), 20)).round(1)  # ties included
    a[0, :4] = 1.0
    expected = road_reference(
        x,
        y,
        a,
        steps,
        lambda xk, yk: linear_scores(xk, w, b, yk, output),
        impute_fill if baseline == "noisy_linear" else zero_fill,
    )
    q = xb.metrics.get("road", steps=steps, output=output, baseline=baseline, noise=0.0)
    a_img = a.reshape((len(x),) + IMG_SHAPE[:2])
    curves = q.curves(model, x, y, a_img)
    assert curves.shape == (len(x), steps + 1)
    np.testing.assert_allclose(curves, expected, rtol=1e-5, atol=1e-6)
    scores, curves2 = q.scores_and_curves(model, x, y, a_img)
    np.testing.assert_allclose(scores, expected[:, 1:-1].mean(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(q(model, x, y, a_img), scores, rtol=1e-12)
    np.testing.assert_array_equal(curves2, curves)


def test_road_tabular(linear_img):
    rng = np.random.default_rng(6)
    w = rng.normal(size=(7, 2))
    x = rng.normal(size=(3, 7)).astype(np.float32)
    y = np.array([0, 1, 1])
    a = rng.normal(size=x.shape)
    model = _tiny.linear_tabular(w, np.zeros(2))
    with pytest.raises(NotApplicable, match="images"):
        xb.metrics.get("road")(model, x, y, a)
    q = xb.metrics.get("road", baseline=0.0, output="logit", steps=5)
    expected = road_reference(
        x, y, a, 5, lambda xk, yk: linear_scores(xk, w, 0, yk, "logit"), zero_fill
    )
    np.testing.assert_allclose(q.curves(model, x, y, a), expected, rtol=1e-5, atol=1e-6)


def test_road_perfect_beats_reversed():
    rng = np.random.default_rng(7)
    shape = (8, 8, 1)
    w = rng.normal(size=(64, 3))
    x = rng.uniform(size=(12,) + shape).astype(np.float32)
    y = rng.integers(0, 3, 12)
    model = _tiny.linear_image(w, np.zeros(3), shape)
    contribution = w[:, y].T.reshape(x.shape) * x  # each pixel's share of the logit
    q = xb.metrics.get("road", output="logit")
    good, bad = q(model, x, y, contribution), q(model, x, y, -contribution)
    # imputation replaces a pixel by about its neighbours' mean, not 0, so the contribution is only
    # close to what removal takes away: it wins on average and for most samples
    assert good.mean() > 1.0 > -1.0 > bad.mean() and np.sum(good > bad) >= 10
    # reversing the ranking swaps MoRF and LeRF: without noise the score flips sign exactly
    q = xb.metrics.get("road", output="logit", noise=0.0)
    good = q(model, x, y, contribution)
    np.testing.assert_allclose(q(model, x, y, -contribution), -good, rtol=1e-5)
    # with zeros as the baseline the contribution is exactly what removal takes away
    zero = xb.metrics.get("road", output="logit", baseline=0.0)(model, x, y, contribution)
    assert np.all(zero > 0)


# --------------------------------------------------------------------------------------------
# baseline="noisy_linear" in deletion, insertion and faithfulness correlation
# --------------------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def linear_rgb():
    """Images (4, 3, 5, 2) with two channels and a linear model with 3 classes."""
    rng = np.random.default_rng(15)
    shape = (3, 5, 2)
    w = rng.normal(size=(30, 3)).round(2)
    b = np.array([0.1, 0.0, -0.3])
    x = rng.uniform(size=(4,) + shape).astype(np.float32)
    y = np.array([2, 0, 1, 1])
    a = rng.normal(size=(4, 15)).round(1)  # ties included
    return _tiny.linear_image(w, b, shape), w, b, x, y, a


@pytest.mark.parametrize("name", ["deletion", "insertion"])
@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("steps, seed", [(5, 0), (4, 7)])
def test_removal_noisy_linear_against_reference(linear_rgb, name, output, steps, seed):
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


def area(curves):
    return np.trapezoid(curves, dx=1.0 / (curves.shape[1] - 1), axis=1)


@pytest.mark.parametrize("name", ["deletion", "insertion", "faithfulness_correlation"])
def test_noisy_linear_seed_batch_size_and_chunks(monkeypatch, linear_rgb, name):
    """Same seed: bitwise. Other batch sizes and chunks: the README's 1e-5 (tests/_tolerance.py),
    which fails if the imputation noise were drawn per batch or per chunk."""
    model, _, _, x, y, a = linear_rgb
    a_img = a.reshape(x.shape[:-1])
    fast = {"runs": 12} if name == "faithfulness_correlation" else {"steps": 6}

    def scores(**kw):
        q = xb.metrics.get(name, baseline="noisy_linear", **{**fast, **kw})
        return q(model, x, y, a_img)

    first = scores(seed=4)
    np.testing.assert_array_equal(first, scores(seed=4))
    assert not np.allclose(first, scores(seed=5), rtol=1e-7, atol=0)
    assert_scores_close(scores(seed=4, batch_size=1), first)
    # one sample per chunk: the noise is drawn sample by sample from one stream
    monkeypatch.setattr(xaibench._checks, "CHUNK_VALUES", 1)
    assert_scores_close(scores(seed=4), first)


def test_faithfulness_correlation_noisy_linear_against_reference(linear_rgb):
    model, w, b, x, y, a = linear_rgb
    runs, size, seed = 15, 4, 2
    rng = np.random.default_rng(seed)
    masks = np.zeros((len(x), runs, a.shape[1]), bool)
    subsets = np.argpartition(rng.random(masks.shape), size - 1, axis=-1)[..., :size]
    np.put_along_axis(masks, subsets, True, axis=-1)
    noise = np.random.default_rng(seed).spawn(1)[0]  # the noise's own stream
    copies = fill_removed(x, masks, "noisy_linear", rng=noise).reshape((-1,) + x.shape[1:])
    drops = linear_scores(x, w, b, y, "logit")[:, None] - linear_scores(
        copies, w, b, np.repeat(y, runs), "logit"
    ).reshape(len(x), runs)
    sums = (masks * a[:, None]).sum(axis=-1)
    expected = [np.corrcoef(sums[i], drops[i])[0, 1] for i in range(len(x))]
    q = xb.metrics.get(
        "faithfulness_correlation", runs=runs, subset_size=size, baseline="noisy_linear", seed=seed
    )
    np.testing.assert_allclose(q(model, x, y, a.reshape(x.shape[:-1])), expected, rtol=1e-5)
    # the subsets are those of every other baseline: zeros give the exact linear drops
    zero = xb.metrics.get("faithfulness_correlation", runs=runs, subset_size=size, seed=seed)
    contribution = (w[:, y].T.reshape(x.shape) * x).sum(axis=-1)
    np.testing.assert_allclose(zero(model, x, y, contribution), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "name, params",
    [
        ("deletion", {"baseline": "noisy_linear"}),
        ("insertion", {"baseline": "noisy_linear"}),
        ("insertion", {}),  # the default baseline, "blur", is for images only too
        ("faithfulness_correlation", {"baseline": "noisy_linear"}),
        ("road", {}),
    ],
)
def test_image_only_baselines_on_tabular_not_applicable(linear_tab, name, params):
    model, _, _, x, y = linear_tab
    with pytest.raises(NotApplicable, match=rf"{name} with baseline=.*images.*\(4, 6\)"):
        xb.metrics.get(name, **params)(model, x, y, np.ones(x.shape))


def test_fill_removed_takes_precomputed_values():
    rng = np.random.default_rng(16)
    x = rng.uniform(size=(3, 2, 2, 2)).astype(np.float32)
    removed = rng.uniform(size=(3, 4, 4)) < 0.5
    values = baseline_values(x, "blur")
    np.testing.assert_array_equal(
        fill_removed(x, removed, values), fill_removed(x, removed, "blur")
    )
    with pytest.raises(ValueError, match=r"shape of x.*\(3, 2, 2, 2\).*\(2, 2, 2, 2\)"):
        fill_removed(x, removed, values[:2])


# --------------------------------------------------------------------------------------------
# Infidelity
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linear_tab():
    rng = np.random.default_rng(8)
    w = rng.normal(size=(6, 3))
    b = rng.normal(size=3)
    x = rng.normal(size=(4, 6)).astype(np.float32)
    y = np.array([0, 2, 1, 2])
    return _tiny.linear_tabular(w, b), w, b, x, y


def infidelity_reference(x, y, a, f, *, samples, noise, seed, normalize=False):
    """E_I[(I . a - (f(x) - f(x - I)))^2] with I = sigma * standard_normal((N, samples, n)) from
    default_rng(seed), sigma = noise * (max - min of the sample), shared by an image pixel's channels."""
    n = a.shape[1]
    flat = x.reshape(len(x), -1)
    sigma = noise * (flat.max(axis=1) - flat.min(axis=1))
    draws = np.random.default_rng(seed).standard_normal((len(x), samples, n)) * sigma[:, None, None]
    xf = x.reshape(len(x), n, -1).astype(np.float64)
    perturbed = (xf[:, None] - draws[..., None]).astype(np.float32)
    moved = (xf[:, None] - perturbed).mean(axis=-1)
    out = np.empty(len(x))
    for i in range(len(x)):
        ia = moved[i] @ a[i]
        drop = f(x[i : i + 1], y[i : i + 1]) - f(
            perturbed[i].reshape((samples,) + x.shape[1:]), np.full(samples, y[i])
        )
        beta = (ia @ drop) / (ia @ ia) if normalize else 1.0
        out[i] = np.mean((beta * ia - drop) ** 2)
    return out


@pytest.mark.parametrize("output", ["logit", "probability"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("seed", [0, 3])
def test_infidelity_against_reference(linear_tab, output, normalize, seed):
    model, w, b, x, y = linear_tab
    a = np.random.default_rng(9).normal(size=x.shape)
    q = xb.metrics.get("infidelity", samples=16, output=output, normalize=normalize, seed=seed)
    expected = infidelity_reference(
        x,
        y,
        a,
        lambda xk, yk: linear_scores(xk, w, b, yk, output),
        samples=16,
        noise=0.1,
        seed=seed,
        normalize=normalize,
    )
    got = q(model, x, y, a)
    assert np.all(got > 1e-8)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


@pytest.mark.parametrize("copies", [1, 16, 10**6])  # one sample per chunk; a few; one chunk
def test_infidelity_and_faithfulness_correlation_do_not_depend_on_chunks(
    monkeypatch, linear_tab, copies
):
    """The next chunk is prepared on a worker thread while the model scores this one; the
    perturbations come from one seeded stream in sample order whatever the chunks. The model
    scores chunks of other shapes, so scores agree to the README's 1e-5 (tests/_tolerance.py), not
    bitwise; drawing per chunk, or a chunk dropped or scored twice, fails by far more."""
    model, _, _, x, y = linear_tab
    a = np.random.default_rng(9).normal(size=x.shape)
    metrics = [
        xb.metrics.get("infidelity", samples=8, seed=2),
        xb.metrics.get("faithfulness_correlation", runs=9, subset_size=2, seed=2),
    ]
    whole = [q(model, x, y, a) for q in metrics]
    monkeypatch.setattr(xb.metrics._perturb, "AHEAD_COPIES", copies)
    for q, expected in zip(metrics, whole, strict=True):
        assert_scores_close(q(model, x, y, a), expected)


def test_ahead_prepares_in_order_one_at_a_time():
    from xaibench.metrics._perturb import ahead

    running, log = [], []

    def prepare(i):
        running.append(i)
        assert len(running) == 1  # one worker: never two at once
        log.append(i)
        running.pop()
        if i == 3:
            raise ValueError("bad chunk 3")
        return i * i

    results = ahead(prepare, range(6))
    assert [next(results) for _ in range(3)] == [0, 1, 4]
    with pytest.raises(ValueError, match="bad chunk 3"):
        next(results)
    assert log[:4] == [0, 1, 2, 3]
    assert list(ahead(prepare, [])) == []


def test_infidelity_zero_for_the_gradient(linear_tab, linear_img):
    model, w, _, x, y = linear_tab
    grad = w[:, y].T
    q = xb.metrics.get("infidelity")
    np.testing.assert_allclose(q(model, x, y, grad), 0.0, atol=1e-10)
    # off by a factor 3: (2 I.w)^2 unnormalised, 0 after the optimal rescaling
    assert np.all(q(model, x, y, 3 * grad) > 1e-3)
    np.testing.assert_allclose(
        xb.metrics.get("infidelity", normalize=True)(model, x, y, 3 * grad), 0.0, atol=1e-9
    )
    model, w, _, x, y = linear_img  # per-channel gradient; a pixel's channels move together
    grad = w[:, y].T.reshape(x.shape)
    np.testing.assert_allclose(q(model, x, y, grad), 0.0, atol=1e-10)


def test_infidelity_zero_attribution_normalised(linear_tab):
    model, _, _, x, y = linear_tab
    zero = np.zeros(x.shape)
    plain = xb.metrics.get("infidelity")(model, x, y, zero)
    np.testing.assert_allclose(
        xb.metrics.get("infidelity", normalize=True)(model, x, y, zero), plain
    )
    assert np.all(plain > 0)


# --------------------------------------------------------------------------------------------
# Max / average sensitivity
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


def any_model(x):
    """A linear model taking inputs like ``x`` (the test methods below ignore it)."""
    n = int(np.prod(x.shape[1:]))
    if x.ndim == 2:
        return _tiny.linear_tabular(np.ones((n, 3)), np.zeros(3))
    return _tiny.linear_image(np.ones((n, 3)), np.zeros(3), x.shape[1:])


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


@pytest.mark.parametrize(
    "name, reduce", [("max_sensitivity", np.max), ("avg_sensitivity", np.mean)]
)
@pytest.mark.parametrize("shape", [(5,), (3, 3, 2)])
@pytest.mark.parametrize("seed", [0, 11])
def test_sensitivity_of_identity(name, reduce, shape, seed):
    rng = np.random.default_rng(12)
    x = rng.uniform(0.5, 2.0, size=(3,) + shape).astype(np.float32)
    q = xb.metrics.get(name, samples=6, radius=0.2, seed=seed)
    got = q(any_model(x), x, [0, 1, 2], x, explain=xb.methods.get("test_identity_attr"))
    ratios = sensitivity_reference(x, samples=6, radius=0.2, seed=seed)
    np.testing.assert_allclose(got, reduce(ratios, axis=1), rtol=1e-5)
    if len(shape) == 1:  # e(x) = x: ||d|| / ||x||, up to the float32 rounding of x + d
        assert np.all(got > 0)


@pytest.mark.parametrize("name", ["max_sensitivity", "avg_sensitivity"])
def test_sensitivity_zero_for_input_independent_methods(name, linear_tab):
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


@pytest.mark.parametrize("name", ["max_sensitivity", "avg_sensitivity"])
def test_sensitivity_zero_attribution_is_nan(name):
    x = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.5, 0.0, 1.0]], np.float32)
    got = xb.metrics.get(name)(
        any_model(x), x, [0, 0, 0], x, explain=xb.methods.get("test_identity_attr")
    )
    assert np.isnan(got[0]) and np.all(np.isfinite(got[1:]))


@pytest.mark.parametrize("batch_size, expected", [(None, 7), (5, 5)])
def test_sensitivity_explains_once(batch_size, expected):
    x = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    q = xb.metrics.get("avg_sensitivity", samples=3, batch_size=batch_size)
    CALLS.clear()
    q(any_model(x), x, [0, 1, 0, 1], x, explain=xb.methods.get("test_counting_attr"))
    assert CALLS == [(12, expected)]


def test_max_and_avg_sensitivity_share_one_re_explanation():
    from xaibench.metrics.robustness import _sensitivity

    x = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    model, y = any_model(x), [0, 1, 0, 1]
    explain = xb.methods.get("test_counting_attr")
    _sensitivity._LAST.clear()
    CALLS.clear()
    peak = xb.metrics.get("max_sensitivity", samples=3)(model, x, y, x, explain=explain)
    mean = xb.metrics.get("avg_sensitivity", samples=3)(model, x, y, x, explain=explain)
    assert len(CALLS) == 1  # the run scores both from one set of re-explanations
    ratios = sensitivity_reference(x, samples=3, radius=0.1, seed=0)
    np.testing.assert_allclose(peak, ratios.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(mean, ratios.mean(axis=1), rtol=1e-5)
    xb.metrics.get("avg_sensitivity", samples=3, seed=1)(model, x, y, x, explain=explain)
    assert len(CALLS) == 2  # other noise: explained again


# --------------------------------------------------------------------------------------------
# Completeness
# --------------------------------------------------------------------------------------------

# 4 features, class 0: w*x = [1, 2, -2, 1], bias 0.5, f(x) = 2.5, f(0) = 0.5; class 1 is 0.
HAND_W = np.array([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0], [0.5, 0.0]])
HAND_X = np.array([[1.0, 1.0, 2.0, 2.0]], np.float32)
SIG = 1 / (1 + math.exp(-2.5)) - 1 / (1 + math.exp(-0.5))  # p_0(x) - p_0(0)


@pytest.mark.parametrize(
    "a, baseline, output, expected",
    [
        ([1.0, 1.0, 1.0, 1.0], 0.0, "logit", 2.0),  # |4 - (2.5 - 0.5)|
        ([0.5, 0.5, 0.5, 0.5], 0.0, "logit", 0.0),
        ([1.0, 2.0, -2.0, 1.0], 0.0, "logit", 0.0),
        ([-1.0, 0.0, 0.0, 0.0], 0.0, "logit", 3.0),
        ([1.0, 1.0, 1.0, 1.0], 1.0, "logit", 4.5),  # f(1) = 3: |4 - (2.5 - 3)|
        ([1.0, 1.0, 1.0, 1.0], "mean", "logit", 5.75),  # f(1.5) = 4.25
        ([0.0, 0.0, 0.0, 0.0], 0.0, "probability", SIG),
    ],
)
def test_completeness_by_hand(a, baseline, output, expected):
    model = _tiny.linear_tabular(HAND_W, [0.5, 0.0])
    q = xb.metrics.get("completeness", baseline=baseline, output=output)
    np.testing.assert_allclose(
        q(model, HAND_X, [0], np.array([a])), [expected], rtol=1e-6, atol=1e-6
    )


def test_completeness_of_integrated_gradients():
    model, _ = _tiny.smooth_mlp(5, seed=1)
    x = np.random.default_rng(13).normal(size=(4, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    q = xb.metrics.get("completeness")
    fine = q(model, x, y, xb.methods.get("integrated_gradients", steps=256)(model, x, y))
    coarse = q(model, x, y, xb.methods.get("integrated_gradients", steps=1)(model, x, y))
    np.testing.assert_allclose(fine, 0.0, atol=2e-4)
    assert np.all(coarse > 10 * fine) and coarse.max() > 1e-2


# --------------------------------------------------------------------------------------------
# Behaviour every new metric shares
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


@pytest.mark.parametrize(
    "name, higher_is_better, category, needs_explain",
    [
        ("road", True, "faithfulness", False),
        ("infidelity", False, "faithfulness", False),
        ("max_sensitivity", False, "robustness", True),
        ("avg_sensitivity", False, "robustness", True),
        ("completeness", False, "axiomatic", False),
    ],
)
def test_metadata(name, higher_is_better, category, needs_explain):
    q = xb.metrics.get(name)
    assert (q.higher_is_better, q.category, q.needs_explain) == (
        higher_is_better,
        category,
        needs_explain,
    )
    assert xb.metrics.get(name, **q.params).params == q.params


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


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("road", {"steps": 1}, "steps"),
        ("road", {"noise": -0.1}, "noise"),
        ("road", {"baseline": "nothing"}, "baseline"),
        ("road", {"output": "prob"}, "output"),
        ("infidelity", {"samples": 0}, "samples"),
        ("infidelity", {"noise": "big"}, "noise"),
        ("infidelity", {"normalize": "yes"}, "normalize"),
        ("infidelity", {"noise": 0.0}, "noise"),
        ("max_sensitivity", {"radius": -1.0}, "radius"),
        ("max_sensitivity", {"samples": 2.5}, "samples"),
        ("avg_sensitivity", {"batch_size": 0}, "batch_size"),
        ("completeness", {"baseline": "noisy_linear"}, "baseline"),
    ],
)
def test_bad_settings(name, params, match):
    with pytest.raises(ValueError, match=match):
        xb.metrics.get(name, **params)
