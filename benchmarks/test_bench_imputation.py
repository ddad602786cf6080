"""Noisy linear imputation (ROAD's exact solves; the "noisy_linear" baseline) per image size.

Each case imputes ROAD's copies of a few images at one removed fraction: the MoRF and LeRF masks
that ``road.removed`` builds from a smooth random attribution map, as ROAD passes them, with the
threads ``noisy_linear`` uses (all the CPUs this process may use, at most 4). It records seconds
per imputed image and, as ``ratio_to_superlu``, its time over a sparse direct solve of the same
systems (SuperLU through scipy's spsolve, one image at a time, one thread: the solver wide images
went through before the nested dissection). Goal at 224x224x3: <= 0.3 s per image on 2 cores at
every fraction, exact (the unit tests check the values against direct solves).
Run: python -m pytest benchmarks/test_bench_imputation.py"""

import numpy as np
import pytest
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

import xaibench as xb
from conftest import best_seconds
from xaibench import _imputation
from xaibench._imputation import noisy_linear

# (height, width, channels, samples): the built-in datasets' sizes and an ImageNet-size input
SIZES = [(8, 8, 1, 32), (28, 28, 1, 32), (32, 32, 3, 32), (224, 224, 3, 2)]
FRACTIONS = [0.1, 0.5, 0.9]


def road_copies(h, w, c, samples, fraction):
    """Images (2 * samples, h, w, c) and ROAD's masks for them at ``fraction`` (MoRF, LeRF)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(samples, h, w, c)).astype(np.float32)
    a = ndimage.gaussian_filter(rng.normal(size=(samples, h, w)), sigma=(0, h / 20, w / 20))
    road = xb.metrics.get("road")
    removed = road.removed(a.reshape(samples, -1))  # (samples, 2 * (steps - 1), h * w)
    k = round(fraction * road.steps) - 1
    removed = removed[:, [k, road.steps - 1 + k]]
    return np.repeat(x, 2, axis=0), removed.reshape(-1, h, w)


def superlu_seconds(x, removed, repeats: int) -> float:
    """Seconds of SuperLU (spsolve: COLAMD ordering, partial pivoting) on every image's system,
    one image at a time, assembled from the module's own equations."""
    system = _imputation._System(x, removed)
    starts = np.cumsum(system.counts) - system.counts
    matrices = []
    for start, k in zip(starts, system.counts, strict=True):
        own = slice(start, start + k)
        rows, cols, vals = [np.arange(k)], [np.arange(k)], [system.diag[own]]
        for later, (_, _, weight) in zip(system.later, _imputation.HALF_NEIGHBOURS, strict=True):
            d = later[own]
            at = np.flatnonzero(d >= 0)
            rows += [at + d[at], at]
            cols += [at, at + d[at]]
            vals += [np.full(len(at), -weight)] * 2
        coo = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
        matrices.append((sparse.csc_matrix(coo, shape=(k, k)), system.rhs[own]))

    def solve_all():
        for matrix, rhs in matrices:
            spsolve(matrix, rhs)

    return best_seconds(solve_all, repeats)


@pytest.mark.parametrize("fraction", FRACTIONS, ids=[f"{f:.0%}" for f in FRACTIONS])
@pytest.mark.parametrize("h, w, c, samples", SIZES, ids=[f"{s[0]}x{s[1]}x{s[2]}" for s in SIZES])
def test_imputation_speed(benchmark, h, w, c, samples, fraction):
    x, removed = road_copies(h, w, c, samples, fraction)
    noisy_linear(x, removed, rng=0)  # warm-up: per-size plans and Green's functions are cached
    small = h * w <= 2048  # milliseconds: more rounds against a busy machine's noise
    rounds = 10 if small else 3
    benchmark.pedantic(
        noisy_linear, args=(x, removed), kwargs={"rng": 0}, rounds=rounds, iterations=1
    )
    seconds = benchmark.stats.stats.min
    benchmark.extra_info["images"] = len(x)
    benchmark.extra_info["seconds_per_image"] = seconds / len(x)
    superlu = superlu_seconds(x, removed, repeats=rounds)
    benchmark.extra_info["ratio_to_superlu"] = seconds / superlu
    system = _imputation._System(x, removed)
    paths = _imputation._paths(system.counts, system.bandwidths(), removed, c)
    names = {_imputation.BANDED: "banded", _imputation.GREEN: "green"}
    names[_imputation.DISSECTION] = "dissection"
    benchmark.extra_info["paths"] = sorted({names.get(int(p), "none") for p in paths})
