"""The model zoo: built-in architectures trained locally (seeded) and cached.

>>> import xaibench as xb
>>> model = xb.models.get("cnn", "digits")  # doctest: +SKIP
"""

from __future__ import annotations

from xaibench.datasets import load as _load_dataset
from xaibench.datasets.base import Dataset
from xaibench.models import applications  # noqa: F401 - registers vgg16, resnet50, ...
from xaibench.models.training import TrainedModel, cache_dir, load_or_train
from xaibench.models.zoo import ZOO_VERSION, Architecture, registry

# Every name registered by xaibench itself: user architectures cannot take them.
_OWN = frozenset(registry.names())
cls = registry.cls
from_config = registry.from_config


def names() -> list[str]:
    """Sorted names of the built-in (and registered) architectures."""
    return registry.names()


def describe(name: str) -> str:
    """One line describing architecture ``name`` (its builder's docstring)."""
    return registry.cls(name).description


def register(name: str, **metadata):
    """Decorator making an architecture usable by name in ``load``, configs and ``xaibench run``:
    a function ``(input_shape, n_classes, seed, *, settings...) -> keras.Model`` that outputs
    logits, or an :class:`Architecture` subclass. ``metadata`` sets ``kinds`` (the data kinds it
    takes), ``max_epochs`` and ``learning_rate``. Built-in names cannot be replaced; a trained
    model is cached under a fingerprint of the function's code, so changing it retrains.

    >>> @register("tiny_mlp", kinds=("tabular",), max_epochs=20)  # doctest: +SKIP
    ... def tiny_mlp(input_shape, n_classes, seed):
    ...     "One hidden layer of 8 units."
    ...     return keras.Sequential([...])
    """
    if name in _OWN:
        raise ValueError(f"{name!r} is a built-in model; choose another name")
    return registry.register(name, replace=True, **metadata)


def load(name: str, dataset: str | Dataset, *, seed: int = 0, log=None, **settings) -> TrainedModel:
    """The trained model with its test accuracy, parameter count and settings. ``settings`` are
    the architecture's (``weights=None | "imagenet" | "path.h5"`` for the keras.applications
    ones); ``dataset`` is a name or a :class:`~xaibench.datasets.base.Dataset`."""
    data = dataset if isinstance(dataset, Dataset) else _load_dataset(dataset)
    return load_or_train(registry.get(name, **settings), data, seed, log=log)


def get(name: str, dataset: str | Dataset, *, seed: int = 0, **settings):
    """A Keras model of architecture ``name`` trained on ``dataset`` (trained on first use, then
    cached under ``$XAIBENCH_CACHE``). It outputs logits. ``settings`` are the architecture's:

    >>> model = get("mobilenet_v2", "shapes", weights="imagenet")  # doctest: +SKIP

    reads the ImageNet weights from Keras's own cache (never downloaded) and trains the head."""
    return load(name, dataset, seed=seed, **settings).model


__all__ = [
    "Architecture",
    "names",
    "get",
    "load",
    "describe",
    "register",
    "cls",
    "from_config",
    "cache_dir",
    "TrainedModel",
    "ZOO_VERSION",
]
