"""Datasets: seven built-ins loaded offline from the repo or installed packages, and your own data.

Built-ins (:func:`names`): ``digits``, ``mnist``, ``shapes`` (with localisation masks),
``scenes`` (96x96 photographs with pasted shapes and masks; ``large``: the realistic suite's),
``breast_cancer``, ``wine``, ``synthetic_tabular`` (with masks). Extras (:func:`extras`) load by
name too but need files on the machine: ``cifar10`` (from the local Keras cache). Every dataset has
a fixed, seeded train/test split; ``load`` returns the same read-only arrays on every call.

>>> import xaibench as xb
>>> d = xb.datasets.load("digits")
>>> d.x_test.shape
(450, 8, 8, 1)

Your own data: :func:`from_arrays`, :func:`from_npz`, :func:`from_folder`; :func:`register` a
loader to use it by name in configs and ``xaibench run``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

# Importing the built-in modules registers their loaders.
from xaibench.datasets import cifar10, digits, mnist, scenes, shapes, tabular  # noqa: F401
from xaibench.datasets.base import Dataset, Source, registry
from xaibench.datasets.user import from_arrays, from_folder, from_npz

# Every name registered by xaibench itself: user datasets cannot take them.
_OWN = frozenset(registry.names())
BUILTINS = tuple(n for n in registry.names() if not registry.cls(n).extra)
from_config = registry.from_config


def names() -> list[str]:
    """Sorted names of the built-in (and registered) datasets; see also :func:`extras`."""
    return [n for n in registry.names() if not registry.cls(n).extra]


def extras() -> list[str]:
    """Sorted names of datasets that load by name only where their files exist (``cifar10``)."""
    return [n for n in registry.names() if registry.cls(n).extra]


def describe(name: str) -> str:
    """One line describing dataset ``name`` (its loader's docstring)."""
    return cls(name).description


def cls(name: str) -> type[Source]:
    """The source registered as ``name``; ValueError naming close matches and the valid names."""
    if name not in registry:
        try:
            registry.cls(name)
        except ValueError as err:  # the registry's error names close matches
            hint = str(err).split(" Valid datasets:")[0]
            raise ValueError(
                f"{hint} Valid datasets: {', '.join(names())} (extras: {', '.join(extras())})"
            ) from None
    return registry.cls(name)


@functools.lru_cache(maxsize=8)
def load(name: str) -> Dataset:
    """The dataset ``name`` (same arrays on every call; they are read-only).

    >>> d = load("shapes")
    >>> d.x_test.shape, d.masks.shape
    ((1000, 32, 32, 3), (1000, 32, 32))
    """
    d = cls(name)().load()
    for arr in (d.x_train, d.y_train, d.x_test, d.y_test, d.masks):
        if arr is not None:
            arr.setflags(write=False)
    return d


def register(name: str, loader: Callable[[], Dataset] | None = None):
    """Make ``loader`` (no arguments, returns a :class:`Dataset`; or a :class:`Source` subclass)
    loadable as ``name``, so configs and ``xaibench run`` can use it. Works as a decorator too.
    Built-in names cannot be replaced.

    >>> @register("my_data")
    ... def my_data():
    ...     '''My measurements, 12 features.'''
    ...     return from_npz("my_data.npz")
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"dataset name must be a non-empty string, got {name!r}")
    if name in _OWN:
        raise ValueError(f"{name!r} is a built-in dataset; choose another name")

    def add(fn: Callable[[], Dataset]) -> Callable[[], Dataset]:
        if not callable(fn):
            raise TypeError(f"the loader for {name!r} must be callable, got {type(fn).__name__}")
        registry.register(name, replace=True)(fn)
        load.cache_clear()
        return fn

    return add if loader is None else add(loader)


__all__ = [
    "Dataset",
    "Source",
    "BUILTINS",
    "names",
    "extras",
    "load",
    "describe",
    "register",
    "cls",
    "from_config",
    "from_arrays",
    "from_npz",
    "from_folder",
]
