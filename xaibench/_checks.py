"""Validation and shape conventions shared by methods and metrics.

Images are float32 ``(N, H, W, C)``; tabular data float32 ``(N, F)``. A *feature* of an image is a
pixel position with all its channels, so attributions are reduced to ``(N, n_features)`` by summing
channels.
"""

from __future__ import annotations

import contextlib
import hashlib
import numbers
import re
import reprlib
from collections.abc import Callable, Iterator

import numpy as np


def as_inputs(x, name: str = "x") -> np.ndarray:
    """``x`` as a float32 numpy array of images (N, H, W, C) or tabular rows (N, F) (``as_real``).

    Not a copy when ``x`` already is one: what reads it must not write into it (methods and
    metrics hand their code copies: ``own_copies``)."""
    x = as_real(x, np.float32, name)
    if x.ndim not in (2, 3, 4):
        raise ValueError(
            f"{name} must be images (N, H, W, C) or tabular rows (N, F), got shape {x.shape}"
        )
    if x.ndim == 3:  # (N, H, W) grey images
        x = x[..., None]
    if len(x) == 0:
        raise ValueError(f"{name} is empty (shape {x.shape})")
    return x


def as_real(values, dtype, name: str) -> np.ndarray:
    """``values`` (an array, a tensor, nested lists) as a numpy array of the real float
    ``dtype``, refusing what the conversion would silently change, with errors that start with
    ``name`` (what holds the values: "x", "the attributions of method 'saliency'"): complex
    numbers (numpy would drop their imaginary part with a mere warning) are a TypeError, and so
    is what is not numbers; finite values out of ``dtype``'s range are a ValueError: above its
    largest number (they would become inf, and their sample NaN) or a sample whose largest
    |value| is below its smallest normal number (its values would lose their precision or
    become 0).

    >>> as_real([[1.0, 2.0]], np.float32, "x").dtype
    dtype('float32')
    >>> as_real(np.array([[1e39]]), np.float32, "x")
    Traceback (most recent call last):
    ...
    ValueError: x: values beyond the range of float32 (largest |value| 1e+39 > 3.4e+38); rescale them
    """
    if hasattr(values, "numpy") and not isinstance(values, np.ndarray):
        values = values.numpy()
    not_numbers = f"{name} must be an array of numbers, got {type(values).__name__}"
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise TypeError(not_numbers) from err
    if arr.dtype.kind == "c":
        raise TypeError(
            f"{name}: complex values (dtype {arr.dtype}) cannot be scored; take their real part, "
            "magnitude or angle explicitly"
        )
    target = np.finfo(dtype)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > target.dtype.itemsize and arr.size:
        _check_range(arr, target, name)
    try:
        return arr.astype(dtype, copy=False)
    except (TypeError, ValueError) as err:
        raise TypeError(not_numbers) from err


def _check_range(arr: np.ndarray, target: np.finfo, name: str) -> None:
    """ValueError when finite values of ``arr`` fall out of the range of ``target``'s type (see
    ``as_real``); non-finite values pass (a sample holding them scores NaN)."""
    flat = arr.reshape(len(arr), -1) if arr.ndim else arr.reshape(1, 1)
    with np.errstate(invalid="ignore"):  # no copy of the array but for rows with NaN or inf
        largest = np.maximum(np.abs(flat.max(axis=1)), np.abs(flat.min(axis=1)))
    odd = ~np.isfinite(largest)
    if odd.any():  # their finite values only
        rows = flat[odd]
        largest[odd] = np.where(np.isfinite(rows), np.abs(rows), 0).max(axis=1)
    if largest.max() > target.max:
        raise ValueError(
            f"{name}: values beyond the range of {target.dtype} (largest |value| "
            f"{largest.max():.3g} > {float(target.max):.2g}); rescale them"
        )
    small = (largest > 0) & (largest < target.smallest_normal)
    if small.any():
        i = int(np.argmax(small))
        raise ValueError(
            f"{name}: values below the range of {target.dtype} (sample {i}'s largest |value| "
            f"is {largest[i]:.3g} < {float(target.smallest_normal):.2g}, its smallest normal "
            "number); rescale them"
        )


class ModifiedInput(RuntimeError):
    """A method or metric changed an array it was given (``own_copies``)."""


def read_only(arr: np.ndarray | None) -> np.ndarray | None:
    """A view of ``arr`` that numpy refuses to write through (None stays None): for arrays held
    by the runner or ``xb.evaluate`` that code outside a component's call (``applicable``) may
    read; the components' own calls get copies (``own_copies``)."""
    if arr is None:
        return None
    view = np.asarray(arr).view()
    view.setflags(write=False)
    return view


@contextlib.contextmanager
def own_copies(owner: str, **arrays: np.ndarray | None) -> Iterator[tuple]:
    """Copies of ``arrays`` (in their order; None stays None) for the code of ``owner`` (e.g.
    "method 'saliency'") to read in the ``with`` block, which then checks that none was changed:
    ModifiedInput naming ``owner`` and the argument otherwise.

    The one rule for what a method or metric is given (``Method.__call__``, ``Metric.__call__``,
    ``CurveMetric.curves``): an array the caller holds (the run's samples, a user's ``x``) is
    never reachable by a component, whatever it does (writes, ``setflags``, native code), and a
    component that changed its input - which its result may reflect - fails instead of being
    scored. The cost: a copy and a comparison of each array per call.

    >>> x = np.zeros((1, 2))
    >>> with own_copies("method 'zeroing'", x=x) as (mine,):
    ...     mine[0, 0] = 1.0
    Traceback (most recent call last):
    ...
    xaibench._checks.ModifiedInput: method 'zeroing' changed its input x: ...
    >>> float(x[0, 0])  # the caller's array is untouched
    0.0
    """
    copies = {name: None if arr is None else np.array(arr) for name, arr in arrays.items()}
    yield tuple(copies.values())
    for name, copy in copies.items():
        if copy is not None and not _same_bits(copy, arrays[name]):
            raise ModifiedInput(
                f"{owner} changed its input {name}: what a method or metric is given must stay "
                f"as it was given, so its result could be wrong; work on a copy "
                f"({name} = {name}.copy())"
            )


def _same_bits(copy: np.ndarray, original: np.ndarray) -> bool:
    """Whether ``copy`` (made by ``np.array(original)``) still holds ``original``'s bits: compared
    as unsigned integers of the same size (NaN equals itself, nothing is converted; ~20 times
    faster than ``np.array_equal(..., equal_nan=True)`` on float32)."""
    unsigned = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}.get(copy.dtype.itemsize)
    if unsigned is None or copy.dtype.hasobject:
        return np.array_equal(copy, original, equal_nan=copy.dtype.kind in "fc")
    return np.array_equal(copy.view(unsigned), np.asarray(original).view(unsigned))


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
        real = np.issubdtype(y.dtype, np.number) and y.dtype.kind != "c"
        if not real or not np.all(np.mod(y, 1) == 0):
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
    a = as_real(a, np.float64, name)
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


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 8
_SHOWN.maxlevel = 3


def shown(value) -> str:
    """``repr(value)`` cut to a bounded length (long strings and lists end in ``...``, deep ones
    at three levels), for the values a user error message quotes: one short line however large
    the value given.

    >>> shown(list(range(1000)))
    '[0, 1, 2, 3, 4, 5, 6, 7, ...]'
    """
    return _SHOWN.repr(value)


def listing(names, limit: int = 20, chars: int = 400) -> str:
    """``names`` joined by commas: at most the first ``limit`` of them and at most about
    ``chars`` characters (the first name always), then ``... and N more`` (an error message
    that lists names stays one short line however many or long they are).

    >>> listing(["a", "b", "c"], limit=2)
    'a, b, ... and 1 more'
    >>> listing(["a" * 30, "b" * 30, "c"], chars=40)
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, ... and 2 more'
    """
    names = [str(n) for n in names]
    shown, total = [], 0
    for name in names[:limit]:
        if shown and total + len(name) > chars:
            break
        shown.append(name)
        total += len(name) + 2
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f", ... and {rest:,} more" if rest else "")


def _check_int(value, name: str, minimum: int, expected: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be {expected}, got {shown(value)}")
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
        raise ValueError(f"{name} must be 'auto' or a positive integer, got {shown(value)}")
    return int(value)


# Seeds are below 2**32: NumPy's legacy generator (which shap and lime seed) takes no larger one.
SEED_LIMIT = 2**32


def check_seed(seed, name: str = "seed") -> int:
    """A seed for ``np.random.default_rng`` and the packages the adapters call: a non-negative
    integer below ``SEED_LIMIT`` (2**32)."""
    seed = _check_int(seed, name, 0, "a non-negative integer")
    if seed >= SEED_LIMIT:
        raise ValueError(f"{name} must be a non-negative integer below 2**32, got {seed}")
    return seed


def sample_seeds(seed: int, n: int) -> np.ndarray:
    """One seed per sample of a batch, drawn from ``seed`` (for packages that explain one sample
    at a time with their own generator)."""
    return np.random.default_rng(seed).integers(2**31 - 1, size=n)


def _check_real(value, name: str, valid: Callable[[float], bool], expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not valid(float(value)):
        raise ValueError(f"{name} must be {expected}, got {shown(value)}")
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
