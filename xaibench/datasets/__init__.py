"""Built-in datasets, loaded offline from the repo or installed packages.

>>> import xaibench as xb
>>> d = xb.datasets.load("digits")
>>> d.x_test.shape  # doctest: +SKIP
(450, 8, 8, 1)
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable

from xaibench.datasets import digits
from xaibench.datasets.base import Dataset

_LOADERS: dict[str, Callable[[], Dataset]] = {"digits": digits.load}


def names() -> list[str]:
    """Sorted names of the built-in datasets."""
    return sorted(_LOADERS)


def describe(name: str) -> str:
    return (_loader(name).__doc__ or "").strip().splitlines()[0]


def _loader(name: str) -> Callable[[], Dataset]:
    if name not in _LOADERS:
        close = difflib.get_close_matches(str(name), _LOADERS, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown dataset {name!r}.{hint} Valid datasets: {', '.join(names())}")
    return _LOADERS[name]


@functools.lru_cache(maxsize=8)
def load(name: str) -> Dataset:
    """The built-in dataset ``name`` (same arrays on every call; treat them as read-only)."""
    d = _loader(name)()
    for arr in (d.x_train, d.y_train, d.x_test, d.y_test, d.masks):
        if arr is not None:
            arr.setflags(write=False)
    return d


__all__ = ["Dataset", "names", "load", "describe"]
