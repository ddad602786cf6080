"""The Dataset container and the registry of dataset sources (what a dataset name loads)."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from xaibench._registry import Component, Registry, make_function_class


@dataclass(frozen=True)
class Dataset:
    """A built-in or user dataset with a fixed train/test split.

    Images are float32 (N, H, W, C) in [0, 1]; tabular rows float32 (N, F). ``masks`` marks, per
    test sample, the ground-truth relevant features where the dataset has them (else None).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    kind: str  # "image" or "tabular"
    description: str = ""
    source: str = ""
    license: str = ""
    feature_names: list[str] | None = None
    masks: np.ndarray | None = None
    settings: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def check_dataset(data: Dataset, spec: str | None = None) -> None:
    """ValueError naming ``data`` (and ``spec``, where it came from) and the problem when its
    arrays cannot be benchmarked: labels outside 0..n_classes-1, inputs that are not finite,
    mismatched lengths or shapes, no test samples, training samples of one class only (masks
    are checked where they are made, ``from_arrays``)."""
    where = f"dataset {data.name!r}" + (f" (from {spec!r})" if spec and spec != data.name else "")
    k = data.n_classes
    if k < 1:
        raise ValueError(f"{where} has no classes")
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), np.asarray(getattr(data, f"y_{split}"))
        if len(x) != len(y):
            raise ValueError(f"{where}: x_{split} has {len(x)} samples but y_{split} {len(y)}")
        if len(y) and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k):
            bad = y if not np.issubdtype(y.dtype, np.integer) else y[(y < 0) | (y >= k)]
            raise ValueError(
                f"{where}: y_{split} holds {bad.flat[0].item()!r}, not a class id 0..{k - 1} "
                f"({k} class names)"
            )
        if not np.isfinite(x).all():
            raise ValueError(f"{where}: x_{split} holds NaN or infinite values")
    if data.x_train.shape[1:] != data.x_test.shape[1:]:
        raise ValueError(
            f"{where}: x_train samples have shape {data.x_train.shape[1:]} but x_test samples "
            f"{data.x_test.shape[1:]}"
        )
    if len(data.x_test) == 0:
        raise ValueError(f"{where} has no test samples to explain")
    classes = np.unique(np.asarray(data.y_train))
    if len(classes) < 2:
        only = data.class_names[int(classes[0])] if len(classes) else None
        raise ValueError(
            f"{where}: every training sample is of class {only!r}: a model of one class "
            "predicts it whatever the input, so there is nothing to explain; give samples of "
            "two classes or more"
        )


class Source(Component, abc.ABC):
    """Base of dataset sources: settings in the constructor, ``load()`` returns the
    :class:`Dataset`. A loader function with no data arguments registers as one."""

    # Loadable by name only where its files exist (cifar10): not one of datasets.names().
    extra: bool = False
    # Images at the size of ImageNet-style networks (scenes, 96x96): benchmarked by the
    # ``realistic`` suite with keras.applications models, not by the small models of the others.
    large: bool = False

    @abc.abstractmethod
    def load(self) -> Dataset:
        """The dataset these settings describe."""


def _wrap(fn) -> type[Source]:
    return make_function_class(fn, Source, 0, "load")


registry = Registry("dataset", Source, _wrap)
