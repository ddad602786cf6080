"""Validation and shape conventions shared by methods and metrics.

Images are float32 ``(N, H, W, C)``; tabular data float32 ``(N, F)``. A *feature* of an image is a
pixel position with all its channels, so attributions are reduced to ``(N, n_features)`` by summing
channels.
"""

from __future__ import annotations

import hashlib
import numbers
import re
from collections.abc import Callable

import numpy as np


def as_inputs(x, name: str = "x") -> np.ndarray:
    """``x`` as a float32 numpy array of images (N, H, W, C) or tabular rows (N, F)."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    try:
        x = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}") from err
    if x.ndim not in (2, 3, 4):
        raise ValueError(
            f"{name} must be images (N, H, W, C) or tabular rows (N, F), got shape {x.shape}"
        )
    if x.ndim == 3:  # (N, H, W) grey images
        x = x[..., None]
    if len(x) == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    return x


def from_dataset(x, y=None):
    """Read a tf.data.Dataset of ``x`` or ``(x, y)`` batches into arrays; other inputs pass."""
    from xaibench._tf import tf

    if not isinstance(x, tf.data.Dataset):
        return x, y
    xs, ys = [], []
    for element in x.as_numpy_iterator():
        if isinstance(element, tuple):
            xs.append(element[0])
            ys.append(element[1])
        else:
            xs.append(element)
    if not xs:
        raise ValueError("the tf.data.Dataset given as x is empty")
    batched = np.ndim(xs[0]) in (2, 4) or (np.ndim(xs[0]) == 3 and ys and np.ndim(ys[0]) == 1)
    join = np.concatenate if batched else np.stack
    x_arr = join(xs)
    if ys and y is None:
        y = join(ys)
    return x_arr, y


def input_kind(x: np.ndarray) -> str:
    """ "image" for (N, H, W, C) inputs, "tabular" for (N, F)."""
    return "image" if x.ndim == 4 else "tabular"


def as_targets(y, n: int, name: str = "y") -> np.ndarray:
    """Integer class ids of shape (n,)."""
    if hasattr(y, "numpy") and not isinstance(y, np.ndarray):
        y = y.numpy()
    y = np.asarray(y)
    if y.ndim == 0:
        y = np.full(n, y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match x, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.mod(y, 1) == 0):
            raise ValueError(f"{name} must hold integer class ids, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if n and y.min() < 0:
        i = int(np.argmax(y < 0))
        raise ValueError(f"{name} must hold class ids >= 0; sample {i} has {int(y[i])}")
    return y


def as_attributions(a, x: np.ndarray, name: str = "a") -> np.ndarray:
    """Attributions for ``x`` reduced to one value per feature: float64 (N, n_features)."""
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.shape == x.shape:
        if x.ndim == 4:
            a = a.sum(axis=-1)
    elif not (x.ndim == 4 and a.shape == x.shape[:-1]):
        expected = f"{x.shape} or {x.shape[:-1]}" if x.ndim == 4 else f"{x.shape}"
        raise ValueError(f"{name} must have the shape of x, {expected}; got {a.shape}")
    return a.reshape(len(a), -1)


def feature_view(x: np.ndarray) -> np.ndarray:
    """``x`` as (N, n_features, channels): images (N, H*W, C), tabular (N, F, 1)."""
    return x.reshape(len(x), -1, x.shape[-1]) if x.ndim == 4 else x[..., None]


def n_features(x: np.ndarray) -> int:
    return int(np.prod(x.shape[1:-1])) if x.ndim == 4 else x.shape[1]


def is_image(x: np.ndarray) -> bool:
    return x.ndim == 4


def sample_range(x: np.ndarray) -> np.ndarray:
    """max - min of each sample's values, float64 (N,); 1 for a constant sample.

    The scale of noise set "as a fraction of the input range" (infidelity, max/avg sensitivity):
    the fallback 1 keeps that noise from vanishing on a constant sample.

    >>> sample_range(np.array([[0.0, 2.0, 1.0], [3.0, 3.0, 3.0]]))
    array([2., 1.])
    """
    flat = x.reshape(len(x), -1).astype(np.float64)
    spread = flat.max(axis=1) - flat.min(axis=1)
    return np.where(spread > 0, spread, 1.0)


# The longest part of a file name made by `file_stem`: a model-cache name holds two of them
# and ~70 more characters, far under the 255 bytes of a file name on common file systems.
STEM_CHARS = 48


def file_stem(*parts) -> str:
    """``parts`` joined by "_" as a safe file name, the one rule for every file named after a
    user-supplied name (a dataset, a model): characters other than letters, digits, ".", "_" and
    "-" become "-" and a leading "." becomes "_" (no path separators, no "..", no hidden files);
    a part longer than `STEM_CHARS` is cut to fit; a part that had to change gets 6 hex digits of
    its original's hash, so that two names never share a file.

    >>> file_stem("digits", "cnn")
    'digits_cnn'
    >>> file_stem("../../etc", "m")
    '_.-..-etc-74ccf3_m'
    >>> file_stem("d" * 240)
    'ddddddddddddddddddddddddddddddddddddddddd-0e42cb'
    """
    stems = []
    for part in map(str, parts):
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", part)
        stem = "_" + stem[1:] if stem.startswith(".") else stem
        if stem != part or not stem or len(stem) > STEM_CHARS:
            stem = stem[: STEM_CHARS - 7] + "-" + hashlib.sha256(part.encode()).hexdigest()[:6]
        stems.append(stem)
    return "_".join(stems)


# Validators of settings: one of each kind, shared by methods, metrics and the rest.


class NotApplicable(ValueError):
    """Raised when a method or metric does not apply to a model or dataset.

    The runner records such a cell as "not applicable", not as a failure."""


def _check_int(value, name: str, minimum: int, expected: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_positive_int(value, name: str) -> int:
    """An integer >= 1 (a count, a size)."""
    return _check_int(value, name, 1, "a positive integer")


def check_batch_size(value, name: str = "batch_size") -> int | str:
    """Model inputs per call: ``"auto"`` (chosen from the model and the input size so that a call
    stays within a memory budget: ``xaibench.models.batching``) or a positive integer.

    >>> check_batch_size("auto"), check_batch_size(32)
    ('auto', 32)
    """
    if isinstance(value, str) and value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be 'auto' or a positive integer, got {value!r}")
    return int(value)


def check_seed(seed, name: str = "seed") -> int:
    """A seed for ``np.random.default_rng``: a non-negative integer."""
    return _check_int(seed, name, 0, "a non-negative integer")


def sample_seeds(seed: int, n: int) -> np.ndarray:
    """One seed per sample of a batch, drawn from ``seed`` (for packages that explain one sample
    at a time with their own generator)."""
    return np.random.default_rng(seed).integers(2**31 - 1, size=n)


def _check_real(value, name: str, valid: Callable[[float], bool], expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not valid(float(value)):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)


def check_non_negative(value, name: str) -> float:
    """A finite number >= 0 (a noise level as a fraction of the input range, a penalty)."""
    return _check_real(value, name, lambda v: 0 <= v < np.inf, "a non-negative number")


def check_positive(value, name: str) -> float:
    """A finite number > 0 (a width, a scale)."""
    return _check_real(value, name, lambda v: 0 < v < np.inf, "a positive number")


def check_probability(value, name: str) -> float:
    """A probability strictly between 0 and 1."""
    return _check_real(value, name, lambda v: 0 < v < 1, "a number strictly between 0 and 1")


# Model-input values built at once (float32; 2**25, about 128 MB) when a method or a metric makes
# copies of its inputs (noisy, interpolated, masked or perturbed): the one memory budget of both.
# Chunks depend on the input shape only, never on ``batch_size``, and random draws come in sample
# order from one stream, so results do not depend on the chunks beyond round-off.
CHUNK_VALUES = 2**25


def samples_per_chunk(x: np.ndarray, copies: int) -> int:
    """How many samples of ``x`` to copy at once when each gets ``copies`` copies."""
    return max(1, CHUNK_VALUES // (copies * int(np.prod(x.shape[1:]))))
