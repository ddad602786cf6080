"""Noisy linear imputation (xaibench/_imputation.py, the "noisy_linear" baseline of the removal
metrics) against values by hand and a dense reference solve: paths, threads, noise, shapes."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest
from _metric_cases import grid_laplacian, reference_impute
from threadpoolctl import threadpool_info

from xaibench import _imputation
from xaibench._imputation import noisy_linear

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
