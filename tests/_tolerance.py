"""The one rule for comparing results that TensorFlow/BLAS kernels computed in different ways.

Kernels (oneDNN, Eigen, OpenBLAS) choose their blocking and summation order by batch shape,
thread count and CPU instruction set, so the same float32 quantity computed in a batch of 1 and of
64, on one thread and on two, or with AVX2 and AVX-512 differs in its last bits. That is not a bug
and no test may fail on it. A dependence that *is* a bug (noise drawn per batch instead of per
sample, a sample reading its batch neighbours, a chunk boundary dropping or repeating a term)
changes a result by a fraction of its size, thousands of times more.

The rule: two results agree when they differ by at most ``ULPS`` float32 units in the last place
of the size of the quantity, ``ULPS * eps32 * scale``, where ``scale`` is the largest |value| the
result is made of (by default the largest |expected|). ``ULPS = 256`` (3.1e-5 of the scale): a sum
of n float32 terms taken in another order moves by up to ~sqrt(n) units for n in the thousands, and
the largest difference measured between batch sizes, thread counts and instruction sets (occlusion
and Grad-CAM++ maps, ~5e-6 of the sample's largest value) is ~40 units; 256 leaves room for other
CPUs and stays ~1,000 times below the smallest real dependence the tests look for.

Scores (metric values, float64 computed from float32 model outputs) follow the README's promise
instead: within ``SCORE_TOLERANCE`` = 1e-5 of max(1, |score|) across batch sizes, chunks and
machines.

Bitwise equality (``np.testing.assert_array_equal``) stays where the same computation runs twice:
same seed, same batch size, same process.
"""

from __future__ import annotations

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
ULPS = 256
SCORE_TOLERANCE = 1e-5


def roundoff(scale) -> float | np.ndarray:
    """The largest round-off difference allowed for a float32 quantity of size ``scale``."""
    return ULPS * EPS32 * np.asarray(scale, dtype=np.float64)


def assert_roundoff_close(actual, expected, *, scale=None, err_msg: str = "") -> None:
    """``actual`` equals ``expected`` up to kernel round-off: |difference| <= ``roundoff(scale)``
    elementwise (NaN where both are NaN). ``scale`` is the size of the quantity, a number or an
    array that broadcasts against the values (e.g. each sample's largest |value|); by default the
    largest finite |expected|, at least the smallest normal float32."""
    expected = np.asarray(expected, np.float64)
    if scale is None:
        finite = np.abs(expected[np.isfinite(expected)])
        scale = max(finite.max(initial=0.0), float(np.finfo(np.float32).tiny))
    what = f"round-off ({ULPS} float32 ulps of the quantity's size)"
    _assert_within(actual, expected, roundoff(scale), what, err_msg)


def assert_scores_close(actual, expected, *, err_msg: str = "") -> None:
    """Scores agree to ``SCORE_TOLERANCE`` x max(1, |expected|) (NaN where both are NaN)."""
    expected = np.asarray(expected, np.float64)
    tolerance = SCORE_TOLERANCE * np.maximum(1.0, np.nan_to_num(np.abs(expected), nan=1.0))
    _assert_within(actual, expected, tolerance, f"{SCORE_TOLERANCE:g} x max(1, |score|)", err_msg)


def _assert_within(actual, expected, tolerance, what: str, err_msg: str) -> None:
    actual = np.asarray(actual, np.float64)
    assert actual.shape == expected.shape, f"shapes differ: {actual.shape} vs {expected.shape}"
    difference = np.abs(actual - expected)
    bad = ~(np.isnan(actual) & np.isnan(expected)) & ~(difference <= tolerance)
    if bad.any():
        raise AssertionError(
            f"{int(bad.sum())} of {bad.size} values differ by more than {what}, at most "
            f"{np.max(tolerance):.3g}: largest difference {np.nanmax(difference[bad]):.3g}, "
            f"first at {np.argwhere(bad)[:5].tolist()}. {err_msg}".rstrip()
        )


def assert_float64_close(actual, expected, *, terms: int, scale: float = 1.0) -> None:
    """For float64 numpy computations with no TensorFlow or BLAS kernel in them (hand-computed
    localisation scores, kernel weights): their only machine dependence is the order numpy sums
    in, which moves a sum of ``terms`` values of size up to ``scale`` by less than
    ``terms`` x 2.2e-16 x ``scale``. That bound is the tolerance, relative and absolute."""
    tolerance = terms * np.finfo(np.float64).eps * scale
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)
