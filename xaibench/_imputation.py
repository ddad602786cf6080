"""Noisy linear imputation (Rong, Leemann, Borisov, Kasneci & Kasneci 2022, "A Consistent and
Efficient Evaluation Strategy for Attribution Methods", the ROAD paper).

Every removed pixel becomes the weighted mean of its 8 neighbours inside the image, removed or not
(weight 1/6 for the 4 direct and 1/12 for the 4 diagonal neighbours, so the weights sum to 1 inside
the image and are renormalised by their sum at the border), plus Gaussian noise of standard deviation
``noise`` (the paper's 0.01, absolute, in input units). The removed pixels' values depend on each
other, so they are the solution of one sparse linear system per image, with the same matrix for every
channel (one right-hand side per channel), solved exactly (direct methods, no iteration) by
whichever of three ways costs the image least by its own counts:

- banded Cholesky (LAPACK pbsv), with the unknowns in row-major order, for images whose band is
  narrow (small images; few removed pixels). The systems of many images are solved together as
  block-diagonal banded systems, grouped by half-bandwidth;
- the Green's function of the grid, for an image of at most 2,048 pixels that keeps few of them
  (the capacitance-matrix method: one dense system over the kept pixels);
- nested dissection of the whole grid (``_Dissection``), for large images: the grid is cut by
  rows and columns of pixels into boxes, each box's own pixels are eliminated from a dense front,
  and boxes of the same shape are eliminated together as stacks of dense matrices (BLAS). It
  costs ~ (H*W)^1.5 whatever is removed (~0.1 s of one core at 224x224x3) where the band
  would cost ~ (H*W) * W^2 (SuperLU with its own ordering, which it replaced, took ~1-2 s of one
  core at 90% removed); boxes without removed pixels are skipped, so a mask that removes one
  region costs less.

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
dense system, its own row of a fixed-shape product with G, its own dissection, whose stacks of
fronts follow from its size and its own mask), so an image's values do not depend on the other
images of the call (its batch, chunk, order or thread), to the last bit.

>>> out = noisy_linear(x, removed, noise=0.01, rng=0)
"""

from __future__ import annotations

import ctypes
import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import ndimage
from scipy.linalg import solveh_banded
from threadpoolctl import ThreadpoolController

from xaibench._system import usable_cpus

NOISE = 0.01
# Half of the 8-neighbourhood as (row offset, column offset, weight); the other half mirrors it.
HALF_NEIGHBOURS = ((0, 1, 1 / 6), (1, -1, 1 / 12), (1, 0, 1 / 6), (1, 1, 1 / 12))
# Unknowns per block-diagonal solve, at most.
_UNKNOWNS_PER_SOLVE = 2**17
# Floats of one band (LAPACK's layout, (bandwidth + 2) * unknowns), at most: 69 MB, the band of
# 2**17 unknowns of images 64 pixels wide. An image whose own band is larger (a wide image with
# many removed pixels) goes to the nested dissection.
_BAND_FLOATS = 66 * 2**17
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
# Relative cost of the nested dissection, ~ _DISSECTION_COST * its dense flops (fixed per image
# size, for the boxes holding removed pixels) + _DISSECTION_CALL * its kinds (~15 numpy calls
# each). Calibrated with OpenBLAS, one thread, one image at a time, against the banded solve where
# the two compete (images over 64 pixels wide, bandwidths 60 to 225, where the banded unit runs at
# ~35e9 per second): 96x96x3 ~12 ms, 224x224x3 ~0.1 s.
_DISSECTION_COST = 7.0
_DISSECTION_CALL = 1.1e6
# Pixels of the largest box that the nested dissection does not cut further (a leaf).
_LEAF_PIXELS = 16
# Threads imputing images at once (at most this many; at most the CPUs this process may use).
_MAX_THREADS = 4
# Held while an imputation limits BLAS to one thread (process-wide): imputations take turns.
_IMPUTING = threading.Lock()
# Held while a nested dissection plan is looked up or built (_dissection).
_PLANNING = threading.Lock()


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
        unknowns = np.flatnonzero(removed)
        self.rhs = _sources(x, removed).reshape(-1, c)[unknowns]
        self.diag = np.take(_diagonal(h, w).ravel(), unknowns % (h * w))
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
    path = _paths(system.counts, bandwidths, removed, x.shape[-1])
    values = np.empty(system.rhs.shape)
    for g, b in _groups(system.counts, bandwidths, path == BANDED):
        unknowns = _ranges(starts[g], system.counts[g])
        values[unknowns] = system.solve(unknowns, b)
    for g in _same(pixels - system.counts, path == GREEN, pixels):
        values[_ranges(starts[g], system.counts[g])] = _green_solve(x[g], removed[g])
    for i in np.flatnonzero(path == DISSECTION):
        solved = _dissection(*x.shape[1:]).solve(x[i], removed[i])
        values[starts[i] : starts[i] + system.counts[i]] = solved[removed[i].ravel()]
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


# The ways to solve an image's system (``_paths``).
BANDED, GREEN, DISSECTION = 0, 1, 2


def _paths(unknowns: np.ndarray, bandwidths: np.ndarray, removed: np.ndarray, c: int) -> np.ndarray:
    """How to solve every image (int (M,): BANDED, GREEN or DISSECTION; -1 without unknowns), the
    cheapest by the cost model, from the image's own mask: banded ~ _BANDED_COST * unknowns *
    (bandwidth + 1)^2 (bands of up to _BAND_FLOATS floats), Green's function ~ kept^3 +
    pixels^2 (images up to _GREEN_MAX_PIXELS pixels), nested dissection ~ its dense flops over
    the boxes that hold removed pixels (any image; for images up to _GREEN_MAX_PIXELS pixels,
    where it does not win, the whole grid's, which needs no plan)."""
    m, h, w = removed.shape
    pixels = h * w
    kept = (pixels - unknowns).astype(np.float64)
    costs = np.full((3, m), np.inf)
    banded = (bandwidths + 2) * unknowns <= _BAND_FLOATS
    costs[BANDED, banded] = _BANDED_COST * unknowns[banded] * (bandwidths[banded] + 1.0) ** 2
    if pixels <= _GREEN_MAX_PIXELS:
        costs[GREEN] = kept**3 + float(pixels) ** 2
        costs[DISSECTION] = _dissection_cost(h, w, c)
    else:
        for i in np.flatnonzero((unknowns > 0) & (costs[BANDED] > _DISSECTION_CALL)):
            costs[DISSECTION, i] = _dissection(h, w, c).cost(removed[i])
    return np.where(unknowns > 0, np.argmin(costs, axis=0), -1)


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


def _boxes(h: int, w: int) -> list[tuple[int, int, int, int, int, int]]:
    """The boxes (r0, r1, c0, c1, depth, parent) of the nested dissection of the h x w grid,
    every parent before its children: a box of more than _LEAF_PIXELS pixels is cut across its
    longer side by the row or column of pixels in its middle (its separator: the 8-neighbourhood
    does not reach across a line) into two boxes; empty halves are left out."""
    out, stack = [], [(0, h, 0, w, 0, -1)]
    while stack:
        r0, r1, c0, c1, depth, parent = stack.pop()
        out.append((r0, r1, c0, c1, depth, parent))
        a, b = r1 - r0, c1 - c0
        if a * b <= _LEAF_PIXELS:
            continue
        if a >= b:
            s = r0 + a // 2
            halves = [(r0, s, c0, c1), (s + 1, r1, c0, c1)]
        else:
            s = c0 + b // 2
            halves = [(r0, r1, c0, s), (r0, r1, s + 1, c1)]
        me = len(out) - 1
        stack += [
            (*box, depth + 1, me) for box in halves[::-1] if box[0] < box[1] and box[2] < box[3]
        ]
    return out


def _kind_key(box: tuple[int, ...], h: int, w: int) -> tuple:
    """What makes boxes of one kind: depth, size, and which sides lie on the image border
    (these fix the layout of the box's front and of its children's)."""
    r0, r1, c0, c1, depth = box[:5]
    return (depth, r1 - r0, c1 - c0, r0 == 0, r1 == h, c0 == 0, c1 == w)


def _own_and_ring(box: tuple[int, ...], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels a box eliminates (a leaf's all, row-major; else its separator, along it) and
    the pixels around it inside the image (its ring): the row above (corners included), the
    column left, the column right (top to bottom), the row below."""
    r0, r1, c0, c1 = box[:4]
    h, w = grid.shape
    a, b = r1 - r0, c1 - c0
    if a * b <= _LEAF_PIXELS:
        own = grid[r0:r1, c0:c1].ravel()
    elif a >= b:
        own = grid[r0 + a // 2, c0:c1]
    else:
        own = grid[r0:r1, c0 + b // 2]
    lo, hi = max(c0 - 1, 0), min(c1 + 1, w)
    sides = [
        grid[r0 - 1, lo:hi] if r0 > 0 else None,
        grid[r0:r1, c0 - 1] if c0 > 0 else None,
        grid[r0:r1, c1] if c1 < w else None,
        grid[r1, lo:hi] if r1 < h else None,
    ]
    return own, np.concatenate([s for s in sides if s is not None] + [np.zeros(0, np.int64)])


class _Kind:
    """Boxes of one size, depth and position against the image border, eliminated together:
    their fronts have one layout. ``own`` (n, p) and ``ring`` (n, q) are their pixels in front
    order (a front is own then ring); ``children`` are (kind, first box) per child slot: the
    boxes' children in that slot are that kind's boxes first..first+n, in the same order;
    ``gather`` (f * (f + c),) takes every front entry from the children's complements laid
    side by side (then a 0), and ``twice`` (targets, sources) adds the entries both fill;
    ``matrix`` (targets (e,) in a front, flat; sources (n, e)) puts the system's own entries
    into the fronts; ``boxes`` (n, 4) are r0, r1, c0, c1."""

    def __init__(self, boxes: np.ndarray, own: np.ndarray, ring: np.ndarray):
        self.boxes, self.own, self.ring = boxes, own, ring
        self.n, self.p = own.shape
        self.q = ring.shape[1]
        self.children: list[tuple[int, int]] = []
        self.gather = self.twice = self.matrix = None

    def flops(self, c: int) -> float:
        """Dense flops of eliminating one box of this kind."""
        return _elimination_flops(1, self.p, self.q, c)


class _Dissection:
    """The nested dissection of the h x w grid for images of c channels: everything about the
    elimination but the mask, computed once per size (``_dissection``).

    Every pixel is an unknown: a kept pixel's equation is u = 0 (it couples to nothing, and its
    value is put back afterwards), a removed pixel's is that of ``_impute``. The grid is cut into
    boxes by lines of pixels (``_boxes``); each box eliminates its own pixels from its front, the
    dense system over its own pixels and its ring that its children's Schur complements and its
    own equations were added into, and hands the Schur complement on its ring to its parent. The
    root's front has no ring: its values follow, and the boxes' values follow from their rings'
    back down the tree. The cost is ~ (h*w)^1.5 when removed pixels are spread out (boxes
    without any are skipped), and a box's entries are gathered, eliminated and passed on by the
    same operations in every image."""

    def __init__(self, h: int, w: int, c: int):
        self.shape = (h, w, c)
        grid = np.arange(h * w).reshape(h, w)
        boxes = _boxes(h, w)
        parents = np.array([box[5] for box in boxes])
        depths = np.array([box[4] for box in boxes])
        slots = np.zeros(len(boxes), np.int64)  # 0 for a box's first child, 1 for its second
        seen = np.zeros(len(boxes), np.int64)
        for i, up in enumerate(parents[1:], start=1):
            slots[i] = seen[up]
            seen[up] += 1
        owns, rings = zip(*(_own_and_ring(box, grid) for box in boxes), strict=True)
        self.kinds, kind_of, rank = self._kinds(
            boxes, parents, slots, owns=owns, rings=rings, shape=(h, w)
        )
        self.owner = np.empty(h * w, np.int64)
        for i, own in enumerate(owns):
            self.owner[own] = i
        where = _front_positions(owns, rings, h * w)
        self._link_children(parents, slots, kind_of, rank, rings=rings, where=where, c=c)
        self._place_entries(grid, depths, kind_of, rank, where, c)
        self.boxes = np.concatenate([kind.boxes for kind in self.kinds])  # (boxes, 4), kind order
        self.starts = np.cumsum([0] + [kind.n for kind in self.kinds])
        self.box_flops = np.repeat(
            [kind.flops(c) for kind in self.kinds], [k.n for k in self.kinds]
        )
        self.kind_of = np.repeat(np.arange(len(self.kinds)), [k.n for k in self.kinds])
        self.last_use = {ck: k for k, kind in enumerate(self.kinds) for ck, _ in kind.children}

    @staticmethod
    def _kinds(boxes, parents, slots, *, owns, rings, shape):
        """The kinds, deepest first, and each box's kind and rank in it. A kind's boxes are in
        the order (parent's kind, slot, parent's rank): the children of one kind's boxes in one
        slot are consecutive and in their parents' order."""
        keys = [_kind_key(box, *shape) for box in boxes]
        members: dict[tuple, list[int]] = {}
        for i, key in enumerate(keys):
            members.setdefault(key, []).append(i)
        kind_of = np.zeros(len(boxes), np.int64)
        rank = np.zeros(len(boxes), np.int64)
        top_down = sorted(members)  # depth first: parents' kinds are numbered before
        for k, key in enumerate(top_down):
            boxes_k = np.array(members[key])
            up = np.maximum(parents[boxes_k], 0)
            boxes_k = boxes_k[np.lexsort((rank[up], slots[boxes_k], kind_of[up]))]
            kind_of[boxes_k] = k
            rank[boxes_k] = np.arange(len(boxes_k))
            members[key] = boxes_k
        kinds = [
            _Kind(
                np.array([boxes[i][:4] for i in members[key]]),
                np.stack([owns[i] for i in members[key]]),
                np.stack([rings[i] for i in members[key]]),
            )
            for key in top_down[::-1]
        ]
        return kinds, len(kinds) - 1 - kind_of, rank

    def _link_children(self, parents, slots, kind_of, rank, *, rings, where, c):
        """Every kind's children and the gather maps of its fronts."""
        for k, kind in enumerate(self.kinds):
            f = kind.p + kind.q
            first = np.full(f * (f + c), -1)
            twice_t, twice_s, offset = [], [], 0
            for slot in (0, 1):
                kids = np.flatnonzero(
                    (kind_of[np.maximum(parents, 0)] == k) & (parents >= 0) & (slots == slot)
                )
                if not len(kids):
                    continue
                kids = kids[np.argsort(rank[parents[kids]])]
                child = kind_of[kids[0]]
                assert np.all(kind_of[kids] == child) and len(kids) == kind.n
                assert np.array_equal(rank[kids], rank[kids[0]] + np.arange(kind.n))
                kind.children.append((int(child), int(rank[kids[0]])))
                pos = where(
                    np.repeat(parents[kids], len(rings[kids[0]])),
                    np.concatenate([rings[i] for i in kids]),
                )
                pos = pos.reshape(kind.n, -1)
                assert np.all(pos == pos[0])  # one layout per kind
                pos = pos[0]
                columns = np.concatenate([pos, f + np.arange(c)])
                targets = (pos[:, None] * (f + c) + columns).ravel()
                sources = offset + np.arange(len(targets))
                free = first[targets] < 0
                first[targets[free]] = sources[free]
                twice_t.append(targets[~free])
                twice_s.append(sources[~free])
                offset += len(targets)
            if kind.children:
                first[first < 0] = offset
                kind.gather = first
                kind.twice = (np.concatenate(twice_t), np.concatenate(twice_s))

    def _place_entries(self, grid, depths, kind_of, rank, where, c):
        """Where every entry of the system goes: the diagonal of pixel i into the front of its
        owner, the coupling of neighbours i, j into the front of whichever is eliminated first
        (the deeper box). Entries: the diagonal (h*w), then one block per HALF_NEIGHBOURS."""
        h, w = grid.shape
        owner = self.owner
        pixels = np.arange(h * w)
        at, rows, cols, sources = [owner], [pixels], [pixels], [pixels]
        self.links = []
        start = h * w
        for di, dj, weight in HALF_NEIGHBOURS:
            i = grid[: h - di, max(0, -dj) : w - max(0, dj)].ravel()
            j = i + di * w + dj
            self.links.append((i, j, weight))
            first = np.where(depths[owner[i]] >= depths[owner[j]], owner[i], owner[j])
            ids = start + np.arange(len(i))
            start += len(i)
            at += [first, first]
            rows += [i, j]
            cols += [j, i]
            sources += [ids, ids]
        self.entry_count = start
        at, rows, cols, sources = map(np.concatenate, (at, rows, cols, sources))
        row, col = where(at, rows), where(at, cols)
        order = np.lexsort((rank[at], kind_of[at]))  # kind by kind, box by box
        at, row, col, sources = at[order], row[order], col[order], sources[order]
        starts = np.searchsorted(kind_of[at], np.arange(len(self.kinds) + 1))
        for k, kind in enumerate(self.kinds):
            sel = slice(starts[k], starts[k + 1])
            f = kind.p + kind.q
            targets = (row[sel] * (f + c) + col[sel]).reshape(kind.n, -1)
            assert np.all(targets == targets[0])  # one layout per kind
            kind.matrix = (targets[0], sources[sel].reshape(kind.n, -1))

    def solve(self, x: np.ndarray, removed: np.ndarray) -> np.ndarray:
        """The values (h*w, c) of one image ``x`` (h, w, c) at its ``removed`` pixels (h, w)
        (0 at the kept ones; at least one pixel kept)."""
        h, w, c = self.shape
        flat = removed.ravel()
        entries = np.empty(self.entry_count)
        entries[: h * w] = np.where(flat, _diagonal(h, w).ravel(), 1.0)
        start = h * w
        for i, j, weight in self.links:
            entries[start : start + len(i)] = np.where(flat[i] & flat[j], -weight, 0.0)
            start += len(i)
        rhs = _sources(x[None], removed[None]).reshape(h * w, c)
        rhs[~flat] = 0.0
        eliminated = self._eliminate(self.active(removed), entries, rhs)
        u = np.zeros((h * w, c))
        for kind, (some, solved) in zip(self.kinds[::-1], eliminated[::-1], strict=True):
            if solved is None:
                continue
            q = kind.q
            u[kind.own[some]] = solved[..., q:] - solved[..., :q] @ u[kind.ring[some]]
        return u

    def _eliminate(self, active, entries, rhs) -> list:
        """Every kind's (active boxes, own rows solved (boxes, p, q + c)), kind after kind
        (None where no box is active): each front's own pixels eliminated, its complement on its
        ring handed on (and dropped once the last kind that reads it has)."""
        c = self.shape[2]
        complements, eliminated = [], []
        for k, kind in enumerate(self.kinds):
            some = np.flatnonzero(active[self.starts[k] : self.starts[k + 1]])
            if not len(some):  # nothing to eliminate, nothing handed on
                complements.append(np.zeros((kind.n, kind.q, kind.q + c)))
                eliminated.append((some, None))
                continue
            if len(some) == kind.n:
                some = slice(None)  # every box: no copies
            front = self._front(kind, some, complements, entries, rhs)
            for child, _ in kind.children:
                if self.last_use[child] == k:
                    complements[child] = None
            p = kind.p
            solved = np.linalg.inv(front[:, :p, :p]) @ front[:, :p, p:]  # (boxes, p, q + c)
            eliminated.append((some, solved))
            complement = front[:, p:, :p] @ solved
            np.subtract(front[:, p:, p:], complement, out=complement)
            if not isinstance(some, slice):  # the inactive boxes' complements are 0
                complement, active_only = np.zeros((kind.n,) + complement.shape[1:]), complement
                complement[some] = active_only
            complements.append(complement)  # (n, q, q + c)
        return eliminated

    def active(self, removed: np.ndarray) -> np.ndarray:
        """Which boxes (bool, in kind order) hold a removed pixel. The others need no work:
        their own pixels are kept, so their fronts are the identity on them, coupled to
        nothing, and the complements they hand on are 0."""
        counts = np.zeros((removed.shape[0] + 1, removed.shape[1] + 1), np.int64)
        np.cumsum(np.cumsum(removed, axis=0), axis=1, out=counts[1:, 1:])
        r0, r1, c0, c1 = self.boxes.T
        return counts[r1, c1] - counts[r0, c1] - counts[r1, c0] + counts[r0, c0] > 0

    def cost(self, removed: np.ndarray) -> float:
        """The cost of ``solve`` for this mask in the unit of ``_paths``: the flops and the
        kinds of its active boxes."""
        active = self.active(removed)
        kinds = np.unique(self.kind_of[active])
        return _DISSECTION_COST * float(self.box_flops @ active) + _DISSECTION_CALL * len(kinds)

    def _front(self, kind, some, complements, entries, rhs) -> np.ndarray:
        """The fronts (boxes, f, f + c) of a kind's boxes ``some`` (indices, or a slice for all):
        their children's complements, their own equations."""
        f, c = kind.p + kind.q, self.shape[2]
        index = np.arange(kind.n)[some]
        if kind.children:
            parts = [
                complements[k][s : s + kind.n][some].reshape(len(index), -1)
                for k, s in kind.children
            ]
            side_by_side = np.concatenate([*parts, np.zeros((len(index), 1))], axis=1)
            front = np.take(side_by_side, kind.gather, axis=1)
            targets, sources = kind.twice
            front[:, targets] += side_by_side[:, sources]
        else:
            front = np.zeros((len(index), f * (f + c)))
        targets, sources = kind.matrix
        front[:, targets] += entries[sources[some]]
        front = front.reshape(len(index), f, f + c)
        front[:, : kind.p, f:] += rhs[kind.own[some]]
        return front


def _front_positions(owns, rings, pixels: int):
    """A function (boxes, pixels) -> the positions of those pixels in those boxes' fronts."""
    keys = np.concatenate(
        [
            i * pixels + np.concatenate([o, r])
            for i, (o, r) in enumerate(zip(owns, rings, strict=True))
        ]
    )
    positions = np.concatenate(
        [np.arange(len(o) + len(r)) for o, r in zip(owns, rings, strict=True)]
    )
    order = np.argsort(keys)
    keys, positions = keys[order], positions[order]

    def where(boxes: np.ndarray, at: np.ndarray) -> np.ndarray:
        found = np.searchsorted(keys, boxes * pixels + at)
        return positions[found]

    return where


def _dissection(h: int, w: int, c: int) -> _Dissection:
    """The nested dissection of the h x w grid for c channels (cached per size; built once
    even when several threads ask at the same time)."""
    with _PLANNING:
        return _cached_dissection(h, w, c)


@functools.lru_cache(maxsize=4)
def _cached_dissection(h: int, w: int, c: int) -> _Dissection:
    return _Dissection(h, w, c)


def _dissection_cost(h: int, w: int, c: int) -> float:
    """The cost of one image through the nested dissection of the whole grid (every box), in
    the unit of ``_paths``, from the sizes of its boxes alone (without building it)."""
    flops, kinds = _dissection_size(h, w, c)
    return _DISSECTION_COST * flops + _DISSECTION_CALL * kinds


@functools.lru_cache(maxsize=64)
def _dissection_size(h: int, w: int, c: int) -> tuple[float, int]:
    """The dense flops and the number of kinds of the nested dissection of the h x w grid."""
    grid = np.arange(h * w).reshape(h, w)
    sizes: dict[tuple, list[int]] = {}
    for box in _boxes(h, w):
        own, ring = _own_and_ring(box, grid)
        sizes.setdefault(_kind_key(box, h, w), [len(own), len(ring), 0])[2] += 1
    flops = sum(_elimination_flops(n, p, q, c) for p, q, n in sizes.values())
    return flops, len(sizes)


def _elimination_flops(n: int, p: int, q: int, c: int) -> float:
    """Dense flops of eliminating n fronts of p own and q ring unknowns with c right-hand
    sides: the inverse of the own block, its product with the own rows, the Schur complement."""
    p, q = float(p), float(q)
    return n * (2.0 * p**3 + 2.0 * p * p * (q + c) + 2.0 * p * q * (q + c))


def _weights() -> np.ndarray:
    """The 3x3 neighbour weights of HALF_NEIGHBOURS (both ways), 0 in the centre."""
    out = np.zeros((3, 3))
    for di, dj, weight in HALF_NEIGHBOURS:
        out[1 + di, 1 + dj] = out[1 - di, 1 - dj] = weight
    return out


@functools.lru_cache(maxsize=16)
def _diagonal(h: int, w: int) -> np.ndarray:
    """Every pixel's sum of neighbour weights inside the h x w image (h, w), read-only."""
    out = ndimage.correlate(np.ones((h, w)), _weights(), mode="constant")
    out.setflags(write=False)
    return out


def _sources(x: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Every pixel's sum_j w_ij * x_j over its kept in-image neighbours j, float64, the shape
    of ``x`` (M, H, W, C): the right-hand sides of the removed pixels' equations."""
    kept = np.where(removed[..., None], np.float32(0), x)
    weights = _weights()[None, :, :, None]
    return ndimage.correlate(kept, weights, output=np.float64, mode="constant")


def _groups(
    unknowns: np.ndarray, bandwidths: np.ndarray, banded: np.ndarray
) -> list[tuple[np.ndarray, int]]:
    """Images (index arrays) solved together as one banded system, with their half-bandwidth:
    the ``banded`` ones of one half-bandwidth, in runs of at most ``_UNKNOWNS_PER_SOLVE``
    unknowns and ``_BAND_FLOATS`` floats of band (at least one image each); images without
    unknowns are left out."""
    out = []
    solved = banded & (unknowns > 0)
    for b in np.unique(bandwidths[solved]):
        images = np.flatnonzero((bandwidths == b) & solved)
        ends = np.cumsum(unknowns[images])
        start = 0
        while start < len(images):
            before = ends[start - 1] if start else 0
            limit = before + min(_UNKNOWNS_PER_SOLVE, _BAND_FLOATS // (int(b) + 2))
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
