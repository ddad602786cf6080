"""Noisy linear imputation (Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A Consistent and
Efficient Evaluation Strategy for Attribution Methods", the ROAD paper).

Every removed pixel becomes the weighted mean of its 8 neighbours inside the image, removed or not
(weight 1/6 for the 4 direct and 1/12 for the 4 diagonal neighbours, so the weights sum to 1 inside
the image and are renormalised by their sum at the border), plus Gaussian noise of standard deviation
``noise`` (the paper's 0.01, absolute, in input units). The removed pixels' values depend on each
other, so they are the solution of one sparse linear system per image, with the same matrix for every
channel (one right-hand side per channel). The systems of many images are solved together as
block-diagonal sparse systems: banded Cholesky solves for small images, ``spsolve`` for wide ones;
an image of at most 2,048 pixels that keeps few of them is solved through the Green's function of
its grid instead (the capacitance-matrix method: one dense system over the kept pixels).

Speed: the images are dealt out to a few threads, and each thread assembles the equations of its
images at once (one 3x3 correlation for the right-hand sides, flat pixel indices for the
couplings; no Python loop over images) and solves them with one BLAS thread each. LAPACK's
banded Cholesky solver (dpbsv) is called through ctypes, which releases the GIL
(``solveh_banded`` holds it), so the threads really run at once. Within a thread, images are grouped by the half-bandwidth of their own
system (the banded solve costs ~ unknowns * bandwidth, and an image with few removed pixels has
a narrow band). An image with most pixels removed (ROAD's 90%) is cheaper through the Green's
function G of the whole grid (its Laplacian's pseudo-inverse, computed once per image size): the
solution is G f + c with sources f on the K kept pixels only, found from a dense K x K system,
which costs ~K^3 instead. Each image takes whichever path costs it less by its own counts, and
every image goes through exactly the operations it would alone (its own banded block, its own
dense system, its own row of a fixed-shape product with G), so an image's values do not depend
on the other images of the call (its batch, chunk, order or thread), to the last bit.

>>> out = noisy_linear(x, removed, noise=0.01, rng=0)
"""

from __future__ import annotations

import ctypes
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import ndimage, sparse
from scipy.linalg import solveh_banded
from scipy.sparse.linalg import spsolve
from threadpoolctl import ThreadpoolController

from xaibench._system import usable_cpus

NOISE = 0.01
# Half of the 8-neighbourhood as (row offset, column offset, weight); the other half mirrors it.
HALF_NEIGHBOURS = ((0, 1, 1 / 6), (1, -1, 1 / 12), (1, 0, 1 / 6), (1, 1, 1 / 12))
# Unknowns per block-diagonal solve (bounds the band's memory: (bandwidth + 2) * 2**17 floats).
_UNKNOWNS_PER_SOLVE = 2**17
# Up to this image width the banded Cholesky solver (LAPACK pbsv) is the fastest;
# wider images go to SuperLU (spsolve), whose fill-reducing ordering grows more slowly with W.
_BANDED_MAX_WIDTH = 64
# Images of at most this many pixels may be solved through their grid's Green's function
# (a dense pixels x pixels matrix, 32 MB at the limit, cached per image size).
_GREEN_MAX_PIXELS = 2048
# Rows of every product with the Green's function: always the same, so that an image's values
# are computed by the same BLAS kernel (GEMM) whatever else is in the call.
_GREEN_ROWS = 64
# Relative cost of the banded solve, ~ _BANDED_COST * unknowns * (bandwidth + 1)^2, against the
# Green's function solve, ~ kept^3 (dense LU) + pixels^2 (the product with G). Calibrated with
# OpenBLAS on random masks of 28x28 images: at 90% removed G is ~2x faster, at 80% they tie, at
# 70% the banded solve is ~5x faster.
_BANDED_COST = 4.0
# Threads imputing images at once (at most this many; at most the CPUs this process may use).
_MAX_THREADS = 4
# Held while an imputation limits BLAS to one thread (process-wide): imputations take turns.
_IMPUTING = threading.Lock()


def noisy_linear(
    x: np.ndarray,
    removed: np.ndarray,
    *,
    noise: float = NOISE,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Images ``x`` (M, H, W, C) with the pixels marked in ``removed`` imputed.

    ``removed`` is bool (M, H, W) or (M, H*W). Kept pixels are returned unchanged. The noise is
    ``noise * rng.standard_normal(x.shape)`` on the removed pixels, drawn once for all images
    (``rng`` is a numpy Generator or a seed), so a seed reproduces it. An image with every pixel
    removed has nothing to interpolate from: its pixels become 0 (plus the noise).
    """
    if x.ndim != 4:
        raise ValueError(
            f"noisy linear imputation needs images (N, H, W, C), got shape {x.shape}; "
            "use a number or 'mean' as the baseline for tabular data"
        )
    removed = np.asarray(removed, dtype=bool)
    if removed.shape not in (x.shape[:3], (len(x), x.shape[1] * x.shape[2])):
        raise ValueError(
            f"removed must have shape {x.shape[:3]} or {(len(x), x.shape[1] * x.shape[2])} "
            f"to match x, got {removed.shape}"
        )
    removed = removed.reshape(x.shape[:3])
    out = x.astype(np.float64)
    everything = removed.all(axis=(1, 2))
    out[everything] = 0.0
    solve = removed & ~everything[:, None, None]
    with ThreadPoolExecutor(1) as aside:  # the noise is drawn while the images are solved
        draws = aside.submit(_draw, rng, x.shape, noise) if noise else None
        _impute_into(out, x, solve)
        if draws is not None:
            np.add(out, draws.result(), out=out, where=removed[..., None])
    return out.astype(x.dtype)


def _draw(rng, shape: tuple[int, ...], noise: float) -> np.ndarray:
    """``noise * standard_normal(shape)`` from ``rng`` (a Generator or a seed)."""
    draws = np.random.default_rng(rng).standard_normal(shape)
    np.multiply(draws, noise, out=draws)
    return draws


class _System:
    """The equations of the removed pixels of images ``x`` (every image keeps a pixel), unknowns
    numbered in row-major order image after image.

    ``diag`` (K,) and ``rhs`` (K, C) hold each equation's diagonal and right-hand side;
    ``later[o]`` (K,) is, for the o-th neighbour of HALF_NEIGHBOURS (later in row-major order), how
    many unknowns after the pixel that neighbour's unknown comes, or -1 where that neighbour is
    kept or outside the image; ``counts`` (M,) are the unknowns per image.
    """

    def __init__(self, x: np.ndarray, removed: np.ndarray):
        m, h, w, c = x.shape
        # sum_j w_ij * v_j over the in-image neighbours j of every pixel i, in one pass
        weights = np.zeros((3, 3))
        for di, dj, weight in HALF_NEIGHBOURS:
            weights[1 + di, 1 + dj] = weights[1 - di, 1 - dj] = weight
        kept = np.where(removed[..., None], np.float32(0), x)
        rhs = ndimage.correlate(kept, weights[None, :, :, None], output=np.float64, mode="constant")
        diag = ndimage.correlate(np.ones((h, w)), weights, mode="constant")
        unknowns = np.flatnonzero(removed)
        self.rhs = rhs.reshape(-1, c)[unknowns]
        self.diag = np.take(diag.ravel(), unknowns % (h * w))
        hp, wp = h + 2, w + 2  # a border of kept pixels: the later neighbours never leave the image
        padded = np.zeros((m, hp, wp), bool)
        padded[:, 1:-1, 1:-1] = removed
        flat = padded.ravel()
        index = np.flatnonzero(flat)  # the pixel of every unknown
        there = np.empty_like(index)
        number = np.cumsum(flat, dtype=np.int32)  # the unknown of every removed pixel
        number -= 1
        number[~flat] = -(2**30)  # kept: far before every unknown, so "ahead" is negative
        own = np.arange(len(index), dtype=np.int32)
        self.later = []
        for di, dj, _ in HALF_NEIGHBOURS:
            np.add(index, di * wp + dj, out=there)
            ahead = np.take(number, there)
            ahead -= own
            np.maximum(ahead, -1, out=ahead)
            self.later.append(ahead)
        self.counts = removed.sum(axis=(1, 2))
        self.width = w

    def bandwidths(self) -> np.ndarray:
        """The half-bandwidth of every image's own system, (M,) (0 for an image without
        unknowns)."""
        reach = np.max(self.later, axis=0)
        out = np.zeros(len(self.counts), np.int64)
        some = self.counts > 0
        starts = np.cumsum(self.counts) - self.counts
        out[some] = np.maximum.reduceat(reach, starts[some])
        return np.maximum(out, 0)

    def solve(self, unknowns: np.ndarray, bandwidth: int) -> np.ndarray:
        """The values (len(unknowns), C) of a set of whole images' unknowns, as one system.

        Banded: every image of the set has half-bandwidth ``bandwidth``, and ``bandwidth`` padding
        equations (u = 0) follow the last image, so that every image's block is factorised and
        solved with exactly the same operations as alone: its values do not depend on the others.
        """
        k = len(unknowns)
        later = [d[unknowns] for d in self.later]
        if self.width > _BANDED_MAX_WIDTH:
            return self._spsolve(self.diag[unknowns], later, self.rhs[unknowns])
        n = k + bandwidth
        rows = bandwidth + 1
        # the band in LAPACK's (column-major) layout, so that pbsv works on it in place, and a
        # last slot that takes the absent neighbours
        flat = np.zeros(n * rows + 1)
        band = flat[:-1].reshape(n, rows).T  # (rows, n), Fortran-contiguous
        band[0, :k] = self.diag[unknowns]
        band[0, k:] = 1.0
        first = np.arange(0, k * rows, rows)  # where every column starts
        for d, (_, _, weight) in zip(later, HALF_NEIGHBOURS, strict=True):
            flat[np.where(d >= 0, first + d, n * rows)] = -weight  # band[d, column]
        rhs = np.zeros((n, self.rhs.shape[1]), order="F")
        rhs[:k] = self.rhs[unknowns]
        return _banded_cholesky_solve(band, rhs)[:k]

    @staticmethod
    def _spsolve(diag, later, rhs) -> np.ndarray:
        k = len(diag)
        rows, cols, vals = [np.arange(k)], [np.arange(k)], [diag]
        for d, (_, _, weight) in zip(later, HALF_NEIGHBOURS, strict=True):
            col = np.flatnonzero(d >= 0)
            rows += [col + d[col], col]
            cols += [col, col + d[col]]
            vals += [np.full(len(col), -weight)] * 2
        matrix = sparse.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(k, k)
        )
        return np.asarray(spsolve(matrix, rhs)).reshape(k, -1)


def _banded_cholesky_solve(band: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """The solution of A u = rhs, A symmetric positive definite given by its lower ``band``
    (LAPACK's layout, Fortran-contiguous (bandwidth + 1, n)); ``band`` and ``rhs`` (n, C),
    Fortran-contiguous, are overwritten and the solution is returned in ``rhs``'s memory.

    LAPACK's dpbsv through ``_dpbsv`` (which lets other threads run meanwhile) where scipy
    exposes it, else through ``solveh_banded``; both are the same routine of the same library.
    """
    if _dpbsv is None:
        return solveh_banded(
            band, rhs, overwrite_ab=True, overwrite_b=True, lower=True, check_finite=False
        )
    rows, n = band.shape
    info = ctypes.c_int(0)
    _dpbsv(
        b"L",
        ctypes.byref(ctypes.c_int(n)),
        ctypes.byref(ctypes.c_int(rows - 1)),
        ctypes.byref(ctypes.c_int(rhs.shape[1])),
        band.ctypes.data_as(_DOUBLES),
        ctypes.byref(ctypes.c_int(rows)),
        rhs.ctypes.data_as(_DOUBLES),
        ctypes.byref(ctypes.c_int(n)),
        ctypes.byref(info),
    )
    if info.value:
        raise np.linalg.LinAlgError(
            f"noisy linear imputation: LAPACK dpbsv failed (info={info.value}); the system "
            "is not positive definite"
        )
    return rhs


def _cython_dpbsv():
    """LAPACK's dpbsv from ``scipy.linalg.cython_lapack`` (scipy's public Cython interface to
    the LAPACK it links), as a ctypes function, or None where it cannot be had.

    ``solveh_banded`` holds the GIL while LAPACK runs, so threads solving several systems take
    turns; a ctypes foreign call releases it, so they run at once."""
    try:
        from scipy.linalg import cython_lapack

        capsule = cython_lapack.__pyx_capi__["dpbsv"]
        # Prototypes of our own for Python's capsule functions: setting restype/argtypes on
        # ctypes.pythonapi's would change them for everyone in the process.
        get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(
            ("PyCapsule_GetName", ctypes.pythonapi)
        )
        get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
            ("PyCapsule_GetPointer", ctypes.pythonapi)
        )
        name = get_name(capsule)
        if not name.startswith(b"void (char *, int *, int *, int *, "):  # LP64: C int
            return None
        integer, double = ctypes.POINTER(ctypes.c_int), _DOUBLES
        signature = ctypes.CFUNCTYPE(
            None, ctypes.c_char_p, integer, integer, integer, double, integer, double, integer,
            integer,
        )  # fmt: skip
        return signature(get_pointer(capsule, name))
    except (ImportError, AttributeError, KeyError, TypeError, ValueError):
        return None


_DOUBLES = ctypes.POINTER(ctypes.c_double)
_dpbsv = _cython_dpbsv()


def _impute(x: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Imputed values (K, C) of the K removed pixels of images ``x``, in row-major order.

    Every image must keep at least one pixel. The equation of a removed pixel i with in-image
    neighbours N(i) is ``sum_{j in N(i)} w_ij * u_i - sum_{j in N(i), removed} w_ij * u_j =
    sum_{j in N(i), kept} w_ij * x_j``: the matrix is symmetric, positive definite (diagonally
    dominant, strictly so next to a kept pixel) and, with the unknowns in row-major order, banded
    with half-bandwidth at most W + 1, across the block-diagonal system of all the images.
    """
    system = _System(x, removed)
    bandwidths = system.bandwidths()
    starts = np.cumsum(system.counts) - system.counts
    pixels = x.shape[1] * x.shape[2]
    green = _by_green(system.counts, bandwidths, pixels)
    values = np.empty(system.rhs.shape)
    for g, b in _groups(system.counts, bandwidths, ~green):
        unknowns = _ranges(starts[g], system.counts[g])
        values[unknowns] = system.solve(unknowns, b)
    for g in _same(pixels - system.counts, green, pixels):
        values[_ranges(starts[g], system.counts[g])] = _green_solve(x[g], removed[g])
    return values


def _impute_into(out: np.ndarray, x: np.ndarray, removed: np.ndarray) -> None:
    """Writes the imputed values of the ``removed`` pixels of images ``x`` into ``out`` (float64,
    the shape of ``x``). The images are dealt out to a few threads (the most removed pixels
    first, round robin), and each thread assembles and solves its own images' systems: numpy,
    ndimage and LAPACK release the GIL, so assembly runs in parallel too."""
    some = np.flatnonzero(removed.any(axis=(1, 2)))
    if not len(some):
        return
    order = some[np.argsort(-removed[some].sum(axis=(1, 2)), kind="stable")]
    threads = min(len(order), _MAX_THREADS, usable_cpus())
    channels = x.shape[-1]

    def part(images: np.ndarray) -> None:
        images = np.sort(images)
        block = out[images]
        # values in row-major order, image after image: the order of flatnonzero
        block.reshape(-1, channels)[np.flatnonzero(removed[images])] = _impute(
            x[images], removed[images]
        )
        out[images] = block  # the threads write disjoint images

    # one BLAS thread each: BLAS's own threads (dense solves, products with G) would compete
    # with ours for the cores (measured: ~20% slower). The limit holds for the whole process, so
    # imputations called from several threads take turns (each uses every core it may anyway):
    # interleaved limits would leave BLAS at one thread after they end.
    with _IMPUTING, _blas().limit(limits=1, user_api="blas"):
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(part, [order[i::threads] for i in range(threads)]))
        else:
            part(order)


@functools.cache
def _blas() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (found once: the search takes milliseconds)."""
    return ThreadpoolController()


def _by_green(unknowns: np.ndarray, bandwidths: np.ndarray, pixels: int) -> np.ndarray:
    """Which images (bool (M,)) are cheaper to solve through the Green's function, by the cost
    model at _BANDED_COST: kept^3 + pixels^2 against _BANDED_COST * unknowns * (bandwidth + 1)^2.
    """
    if pixels > _GREEN_MAX_PIXELS:
        return np.zeros(len(unknowns), bool)
    kept = (pixels - unknowns).astype(np.float64)
    banded = _BANDED_COST * unknowns * (bandwidths + 1.0) ** 2
    return (unknowns > 0) & (kept**3 + float(pixels) ** 2 < banded)


@functools.lru_cache(maxsize=4)
def _green(h: int, w: int) -> np.ndarray:
    """The Green's function of the h x w grid: the pseudo-inverse (h*w, h*w) of its Laplacian
    L = D - A, A the neighbour weights of HALF_NEIGHBOURS (both ways), D their row sums.

    L is singular (constants: L 1 = 0) and the grid is connected, so L^+ = (L + J)^-1 - J with
    J = 1 1^T / (h*w). Read-only, cached per size."""
    n = h * w
    index = np.arange(n).reshape(h, w)
    laplacian = np.zeros((n, n))
    for di, dj, weight in HALF_NEIGHBOURS:
        rows, cols = slice(0, h - di), slice(max(0, -dj), w - max(0, dj))
        a = index[rows, cols].ravel()
        b = index[rows.start + di : rows.stop + di, cols.start + dj : cols.stop + dj].ravel()
        laplacian[a, b] = laplacian[b, a] = -weight
    laplacian[index.ravel(), index.ravel()] = -laplacian.sum(axis=1)
    laplacian += 1.0 / n
    out = np.linalg.inv(laplacian)
    out += out.T  # symmetric to the last bit
    out *= 0.5
    out -= 1.0 / n
    out.setflags(write=False)
    return out


def _green_solve(x: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """The values (unknowns, C) of images ``x`` (g, H, W, C) that keep the same number K of
    pixels, through the Green's function G of the grid (the capacitance-matrix method).

    The imputed image u has (L u)_i = 0 at every removed pixel i and u = x at the kept ones, so
    L u = f is zero off the kept pixels, and sum(f) = 0 (L is symmetric, L 1 = 0). Hence
    u = G f + c for sources f (K,) on the kept pixels and a constant c: G_KK f + c = x_K and
    sum(f) = 0 give f = G_KK^-1 (x_K - c), c = sum(G_KK^-1 x_K) / sum(G_KK^-1 1). G_KK is
    positive definite (G is positive semi-definite with null space the constants, which no
    proper subset of the pixels spans)."""
    g, h, w, c = x.shape
    n = h * w
    green = _green(h, w)
    removed = removed.reshape(g, n)
    kept = np.nonzero(~removed)[1].reshape(g, -1)  # (g, K), row-major per image
    coupling = green[kept[:, :, None], kept[:, None, :]]  # (g, K, K)
    rhs = np.empty(kept.shape + (c + 1,))
    rhs[..., :c] = np.take_along_axis(x.reshape(g, n, c), kept[:, :, None], axis=1)
    rhs[..., c] = 1.0
    solved = np.linalg.solve(coupling, rhs)  # (g, K, c + 1): one LAPACK gesv per image
    sums = np.ascontiguousarray(solved.transpose(0, 2, 1)).sum(axis=-1)  # each row on its own
    level = sums[:, :c] / sums[:, c:]  # (g, c)
    sources = solved[..., :c] - level[:, None, :] * solved[..., c:]
    rows = -(-g * c // _GREEN_ROWS) * _GREEN_ROWS  # one row per image and channel, padded
    sources_at = np.zeros((rows, n))
    sources_at[np.arange(g * c).reshape(g, 1, c), kept[:, :, None]] = sources
    u = np.empty_like(sources_at)  # u^T = f^T G (G is symmetric)
    for i in range(0, rows, _GREEN_ROWS):  # the same product shape every time
        np.matmul(sources_at[i : i + _GREEN_ROWS], green, out=u[i : i + _GREEN_ROWS])
    u = u[: g * c].reshape(g, c, n).transpose(0, 2, 1)
    return (u + level[:, None, :])[removed]


def _groups(
    unknowns: np.ndarray, bandwidths: np.ndarray, banded: np.ndarray
) -> list[tuple[np.ndarray, int]]:
    """Images (index arrays) solved together as one banded system, with their half-bandwidth:
    the ``banded`` ones of one half-bandwidth, in runs of at most ``_UNKNOWNS_PER_SOLVE``
    unknowns (at least one image each); images without unknowns are left out."""
    out = []
    solved = banded & (unknowns > 0)
    for b in np.unique(bandwidths[solved]):
        images = np.flatnonzero((bandwidths == b) & solved)
        ends = np.cumsum(unknowns[images])
        start = 0
        while start < len(images):
            before = ends[start - 1] if start else 0
            limit = before + _UNKNOWNS_PER_SOLVE
            stop = max(start + 1, int(np.searchsorted(ends, limit, "right")))
            out.append((images[start:stop], int(b)))
            start = stop
    return out


def _same(kept: np.ndarray, chosen: np.ndarray, pixels: int) -> list[np.ndarray]:
    """The ``chosen`` images (index arrays) grouped by their number of kept pixels, in runs
    whose dense systems and products hold at most ``_UNKNOWNS_PER_SOLVE`` * 32 floats."""
    out = []
    for k in np.unique(kept[chosen]):
        images = np.flatnonzero(chosen & (kept == k))
        run = max(1, _UNKNOWNS_PER_SOLVE * 32 // max(int(k) ** 2, pixels))
        out += [images[i : i + run] for i in range(0, len(images), run)]
    return out


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, s + n)`` for every (s, n)."""
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return shift + np.arange(int(lengths.sum()))
