"""The model zoo: built-in architectures trained locally (seeded) and cached.

>>> import xaibench as xb
>>> model = xb.models.get("cnn", "digits")  # doctest: +SKIP
"""

from __future__ import annotations

from xaibench.datasets import load as _load_dataset
from xaibench.models.training import TrainedModel, cache_dir, load_or_train
from xaibench.models.zoo import ARCHITECTURES, ZOO_VERSION


def names() -> list[str]:
    """Sorted names of the built-in architectures."""
    return sorted(ARCHITECTURES)


def describe(name: str) -> str:
    return ARCHITECTURES[name].description


def load(name: str, dataset: str, *, seed: int = 0, log=None) -> TrainedModel:
    """The trained model with its test accuracy, parameter count and settings."""
    return load_or_train(name, _load_dataset(dataset), seed, log=log)


def get(name: str, dataset: str, *, seed: int = 0):
    """A Keras model of architecture ``name`` trained on ``dataset`` (trained on first use, then
    cached under ``$XAIBENCH_CACHE``). It outputs logits."""
    return load(name, dataset, seed=seed).model


__all__ = ["names", "get", "load", "describe", "cache_dir", "TrainedModel", "ZOO_VERSION"]
