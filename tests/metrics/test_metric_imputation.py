"""Noisy linear imputation (xaibench/_imputation.py, the "noisy_linear" baseline of the removal
metrics) against values by hand, a dense and a sparse reference solve: paths (banded, Green's
function, nested dissection), threads, noise, shapes."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest
from _metric_cases import grid_laplacian, reference_impute
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve
from threadpoolctl import threadpool_info

from xaibench import _imputation
from xaibench._imputation import noisy_linear

HAND_IMG = np.array([[1.0, 0.0, 2.0], [0.0, 9.0, 0.0], [3.0, 0.0, 4.0]])
# Two exact float64 solves of these systems (LU, Cholesky, nested dissection) differ by round-off
# ~ cond * eps: the condition number of a masked grid Laplacian grows like its side squared
# (~1e5 at 224x224), so 1e-9 of the image's scale holds with room while a wrong coupling, a
# dropped complement or a mixed-up box moves values by a fraction of the scale.
EXACT = 1e-9
FRACTIONS = np.arange(1, 10) / 10  # ROAD's removed fractions


def sparse_reference(img, removed):
    """The reference_impute equations (rows of the grid's Laplacian at the removed pixels, kept
    neighbours moved to the right), assembled as a sparse matrix and solved by SuperLU: the
    exact direct solve that the module replaced for wide images, usable up to a few 10^4 pixels."""
    h, w, c = img.shape
    index = np.arange(h * w).reshape(h, w)
    rows, cols, vals = [], [], []
    for di, dj in itertools.product((-1, 0, 1), repeat=2):
        if (di, dj) == (0, 0):
            continue
        weight = 1 / 12 if di and dj else 1 / 6
        a = index[max(0, -di) : h - max(0, di), max(0, -dj) : w - max(0, dj)].ravel()
        rows += [a, a]
        cols += [a + di * w + dj, a]
        vals += [np.full(a.size, -weight), np.full(a.size, weight)]
    laplacian = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(h * w,) * 2
    )
    todo, kept = removed.ravel(), ~removed.ravel()
    out = img.astype(np.float64)
    if todo.any():
        lhs = laplacian[todo][:, todo].tocsc()
        rhs = -(laplacian[todo][:, kept] @ out.reshape(-1, c)[kept])
        out[removed] = np.asarray(spsolve(lhs, rhs)).reshape(-1, c)
    return out


def road_masks(h, w, seed=0):
    """ROAD's masks of one smooth random attribution map: MoRF then LeRF at every fraction,
    bool (18, h, w) (features ranked by value; ties cannot occur)."""
    rng = np.random.default_rng(seed)
    a = ndimage.gaussian_filter(rng.normal(size=(h, w)), sigma=max(h, w) / 20).ravel()
    ranks = np.empty(a.size, np.int64)
    ranks[np.argsort(-a)] = np.arange(a.size)
    counts = np.round(FRACTIONS * a.size)[:, None]
    most, least = ranks < counts, (a.size - 1 - ranks) < counts
    return np.concatenate([most, least]).reshape(-1, h, w)


def force(monkeypatch, path):
    """Send every image with unknowns through one path ("banded", "green", "dissection"); None
    leaves the cost model to choose."""
    if path == "banded":
        monkeypatch.setattr(_imputation, "_BANDED_COST", 0.0)
    elif path == "green":
        monkeypatch.setattr(_imputation, "_BANDED_COST", 1e12)
        monkeypatch.setattr(_imputation, "_DISSECTION_COST", 1e12)
    elif path == "dissection":
        monkeypatch.setattr(_imputation, "_BANDED_COST", 1e12)
        monkeypatch.setattr(_imputation, "_GREEN_MAX_PIXELS", 0)


def paths_taken(x, removed):
    """The path the cost model gives each image of x with masks ``removed``."""
    system = _imputation._System(x, removed)
    return _imputation._paths(system.counts, system.bandwidths(), removed, x.shape[-1])


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


@pytest.mark.parametrize("shape", [(5, 4, 1), (4, 6, 3), (2, 66, 2)])  # and wider than 64
@pytest.mark.parametrize("limit", [None, 7])  # 7: many block-diagonal solves
@pytest.mark.parametrize("path", [None, "dissection"])
def test_imputation_matches_reference(monkeypatch, shape, limit, path):
    force(monkeypatch, path)
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
    # Two float64 computations of the same pseudo-inverse, by different algorithms (so not
    # bitwise). On the 6 x 6 grid the Laplacian's eigenvalues lie in [2 - 2 cos(pi / 6), 8]
    # (nonzero ones), so cond(L) <= 8 / 0.27 ~ 30 and |G| <= 1 / 0.27 ~ 3.7: each side is off
    # by ~cond * eps * |G| ~ 2.5e-14 on any CPU and LAPACK; 1e-12 leaves a 40x margin
    np.testing.assert_allclose(green, np.linalg.pinv(laplacian), atol=1e-12)
    np.testing.assert_allclose(green.sum(axis=1), 0.0, atol=1e-12)  # no constant part
    assert not green.flags.writeable  # cached: nobody may change it


def test_imputation_takes_the_cheaper_path_per_image(monkeypatch):
    """90% removed from a 28x28 image goes through the Green's function (few kept pixels), 30%
    through the banded solve (narrow band); both paths give the reference values."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 28, 28, 2)).astype(np.float32)
    removed = rng.uniform(size=(2, 28, 28)) < np.array([0.9, 0.3])[:, None, None]
    assert paths_taken(x, removed).tolist() == [_imputation.GREEN, _imputation.BANDED]
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
    # Two float64 solves of the same system by different algorithms (a banded Cholesky; the
    # Green's function), and a dense solve as reference. The system is the 9 x 11 grid's
    # Laplacian restricted to the removed pixels (kept ones fixed): cond <= 8 / (2 - 2 cos(pi /
    # 12)) ~ 120, and the values are those of x (|x| < ~5), so each is off by ~cond * eps * 5
    # ~ 1.3e-13; rtol 1e-10 leaves a ~1000x margin on any CPU and LAPACK
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


@pytest.mark.parametrize("path", [None, "banded", "green", "dissection"])
@pytest.mark.parametrize("shape", [(7, 9, 2), (1, 6, 1), (6, 1, 1), (12, 12, 3)])
def test_imputation_of_an_image_does_not_depend_on_the_others(monkeypatch, shape, path):
    """Images are grouped by path, bandwidth and kept pixels and solved on threads; each image's
    values are exactly those it gets alone, whatever the grouping, order, group size or thread
    count."""
    force(monkeypatch, path)
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


@pytest.mark.parametrize("h, w, c", [(24, 40, 3), (33, 17, 1), (64, 64, 3)])
def test_dissection_matches_a_direct_solve_at_every_fraction(monkeypatch, h, w, c):
    """ROAD's masks (MoRF and LeRF, 10%..90% removed) through the nested dissection give the
    sparse direct solve's values, to round-off of an exact float64 solve."""
    force(monkeypatch, "dissection")
    masks = road_masks(h, w)
    x = np.random.default_rng(3).uniform(size=(len(masks), h, w, c))
    assert set(paths_taken(x, masks).tolist()) == {_imputation.DISSECTION}
    out = noisy_linear(x, masks, noise=0.0)
    for xi, ri, oi in zip(x, masks, out, strict=True):
        np.testing.assert_allclose(oi, sparse_reference(xi, ri), rtol=0, atol=EXACT)


def test_dissection_at_224_matches_a_direct_solve(monkeypatch):
    """At 224x224x3, ROAD's 90% (MoRF) and 30% (LeRF) masks through the nested dissection give
    the sparse direct solve's values (SuperLU, ~2 s), and the noise is the documented draw."""
    force(monkeypatch, "dissection")
    masks = road_masks(224, 224, seed=1)[[8, 11]]
    x = np.random.default_rng(4).uniform(size=(2, 224, 224, 3))
    assert paths_taken(x, masks).tolist() == [_imputation.DISSECTION] * 2
    clean = noisy_linear(x, masks, noise=0.0)
    for xi, ri, oi in zip(x, masks, clean, strict=True):
        np.testing.assert_allclose(oi, sparse_reference(xi, ri), rtol=0, atol=EXACT)
    noisy = noisy_linear(x, masks, noise=0.01, rng=5)
    draws = 0.01 * np.random.default_rng(5).standard_normal(x.shape) * masks[..., None]
    np.testing.assert_allclose(noisy, clean + draws, rtol=0, atol=1e-15)


@pytest.mark.parametrize("c", [1, 3])
def test_dissection_edge_cases(monkeypatch, c):
    """Through the nested dissection: nothing removed (unchanged), everything removed (0), one
    pixel kept (its value everywhere), one row, one column, a single pixel kept in a corner of
    a non-square image."""
    force(monkeypatch, "dissection")
    rng = np.random.default_rng(6)
    x = rng.uniform(1, 2, size=(4, 19, 30, c))
    removed = np.ones((4, 19, 30), bool)
    removed[0] = False  # nothing removed
    removed[2, 7, 11] = False  # one pixel kept
    removed[3, 18, 29] = False
    removed[3, :, 0] = rng.uniform(size=19) < 0.5  # some of the first column kept too
    out = noisy_linear(x, removed, noise=0.0)
    np.testing.assert_array_equal(out[0], x[0])
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_allclose(out[2], np.broadcast_to(x[2, 7, 11], out[2].shape), atol=EXACT)
    np.testing.assert_allclose(out[3], sparse_reference(x[3], removed[3]), rtol=0, atol=EXACT)
    for shape in [(1, 23), (23, 1)]:  # a line: every box is cut across it
        line = rng.uniform(size=(1, *shape, c))
        mask = rng.uniform(size=(1, *shape)) < 0.6
        mask.flat[0] = False
        expected = reference_impute(line[0], mask[0])
        np.testing.assert_allclose(noisy_linear(line, mask, noise=0.0)[0], expected, atol=EXACT)


def test_dissection_skips_boxes_without_removed_pixels(monkeypatch):
    """A mask that removes one region leaves most boxes without removed pixels: they are not
    eliminated (their complements are 0), the cost model counts only the others, and the values
    are those of eliminating every box."""
    h, w = 48, 64
    removed = np.zeros((1, h, w), bool)
    removed[0, 5:20, 8:30] = True
    x = np.random.default_rng(7).uniform(size=(1, h, w, 3))
    plan = _imputation._dissection(h, w, 3)
    active = plan.active(removed[0])
    assert 0 < active.sum() < len(active) / 2
    assert plan.cost(removed[0]) < plan.cost(np.ones((h, w), bool))
    assert plan.cost(np.ones((h, w), bool)) == pytest.approx(_imputation._dissection_cost(h, w, 3))
    skipping = plan.solve(x[0], removed[0])
    monkeypatch.setattr(plan, "active", lambda r: np.ones(len(active), bool))
    every = plan.solve(x[0], removed[0])
    np.testing.assert_allclose(skipping, every, rtol=0, atol=1e-12)
    expected = sparse_reference(x[0], removed[0])[removed[0]]  # solve gives 0 at kept pixels
    np.testing.assert_allclose(skipping.reshape(h, w, 3)[removed[0]], expected, atol=EXACT)


def test_paths_at_large_and_small_sizes():
    """224x224: a narrow band (10% removed at random) stays banded; 90% removed, whose band would
    exceed _BAND_FLOATS, goes to the nested dissection; the built-in sizes (8x8, 28x28, 32x32)
    never do, at any fraction."""
    rng = np.random.default_rng(8)
    x = np.zeros((2, 224, 224, 3))
    removed = rng.uniform(size=(2, 224, 224)) < np.array([0.1, 0.9])[:, None, None]
    banded, dissection = _imputation.BANDED, _imputation.DISSECTION
    assert paths_taken(x, removed).tolist() == [banded, dissection]
    for h, c in [(8, 1), (28, 1), (32, 3)]:
        at_random = rng.uniform(size=(9, h, h)) < FRACTIONS[:, None, None]
        masks = np.concatenate([road_masks(h, h), at_random])
        assert dissection not in paths_taken(np.zeros((len(masks), h, h, c)), masks).tolist()


def test_dissection_images_do_not_depend_on_the_others(monkeypatch):
    """Wide images (the dissection's and the band's) of every ROAD fraction, in one call, alone,
    reversed and on one thread: the same values to the last bit."""
    h, w = 40, 160
    masks = road_masks(h, w, seed=2)
    x = np.random.default_rng(9).uniform(size=(len(masks), h, w, 2))  # float64: every bit shows
    taken = set(paths_taken(x, masks).tolist())
    assert _imputation.DISSECTION in taken and _imputation.BANDED in taken
    whole = noisy_linear(x, masks, noise=0.0)
    alone = np.concatenate(
        [noisy_linear(x[i : i + 1], masks[i : i + 1], noise=0.0) for i in range(len(x))]
    )
    np.testing.assert_array_equal(alone, whole)
    np.testing.assert_array_equal(noisy_linear(x[::-1], masks[::-1], noise=0.0), whole[::-1])
    monkeypatch.setattr(_imputation, "_MAX_THREADS", 1)
    np.testing.assert_array_equal(noisy_linear(x, masks, noise=0.0), whole)
