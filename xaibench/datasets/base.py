"""The Dataset container, the parts of generated samples (``Parts``: ground truth by
intervention) and the registry of dataset sources (what a dataset name loads)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from xaibench._checks import read_only
from xaibench._registry import Component, Registry, make_function_class


@dataclass(frozen=True)
class Dataset:
    """A built-in or user dataset with a fixed train/test split.

    Images are float32 (N, H, W, C) in [0, 1]; tabular rows float32 (N, F). ``masks`` marks, per
    test sample, the ground-truth relevant features where the dataset has them (else None).
    ``interventions`` (generated datasets that can render a sample without a part: ``shapes``,
    ``scenes``; else None) maps test-sample indices to their :class:`Parts`; it regenerates the
    dataset when called (seeded), so the Dataset holds nothing more until then.
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
    interventions: Callable[[np.ndarray], Parts] | None = None

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


@dataclass(frozen=True, eq=False)
class Parts:
    """The parts of ``n`` generated image samples and the samples rendered with any of them removed
    (ground truth by intervention, as FunnyBirds renders a bird without a part).

    A sample is a background with flat-coloured shapes pasted on it, none overlapping. Its parts,
    one slot each, in order: the class object (slot 0), each distractor, the background (last
    slot). Removing a shape shows the background as it was generated under it; removing the
    background replaces it by its mean colour (per channel), the shapes staying where they are.
    With nothing removed, ``render`` gives the samples bitwise as the dataset has them.

    Attributes: ``names`` (P,) slot names; ``masks`` (n, P, H, W) bool, the pixels of each part (a
    slot a sample lacks, such as a second distractor, is empty; the background's are the pixels
    of no shape); ``background`` (n, H, W, C) float32, each background as generated, before any
    shape; ``colours`` (n, P, C) float32, each shape's colour (the background slot's unused).
    Plain arrays: Parts pickle (to Dask workers) and ``take`` selects samples.

    >>> d = xb.datasets.load("shapes")
    >>> parts = d.interventions(np.arange(4))
    >>> parts.names
    ('object', 'distractor 1', 'distractor 2', 'background')
    >>> bool((parts.render(np.zeros((4, 4), bool)) == d.x_test[:4]).all())
    True
    """

    names: tuple[str, ...]
    masks: np.ndarray
    background: np.ndarray
    colours: np.ndarray

    def __post_init__(self):
        n, p = self.masks.shape[:2]
        if (
            self.masks.ndim != 4
            or self.masks.dtype != bool
            or len(self.names) != p
            or self.background.shape[:3] != (n, *self.masks.shape[2:])
            or self.colours.shape != (n, p, self.background.shape[-1])
        ):
            raise ValueError(
                f"Parts: masks {self.masks.shape} ({self.masks.dtype}), {len(self.names)} names, "
                f"background {self.background.shape} and colours {self.colours.shape} do not fit"
            )
        for name in ("masks", "background", "colours"):  # shared by every metric of a run
            object.__setattr__(self, name, read_only(getattr(self, name)))

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def present(self) -> np.ndarray:
        """(n, P) bool: which parts each sample has (the background always)."""
        return self.masks.any(axis=(2, 3))

    def take(self, idx) -> Parts:
        """The parts of samples ``idx`` (an index array or slice)."""
        return Parts(self.names, self.masks[idx], self.background[idx], self.colours[idx])

    def render(self, removed) -> np.ndarray:
        """The samples with the parts ``removed`` (bool, (n, P) or (k, n, P) for k renderings of
        every sample) taken away: float32 (n, H, W, C) or (k, n, H, W, C)."""
        removed = np.asarray(removed, bool)
        if removed.shape[-2:] != self.masks.shape[:2]:
            raise ValueError(
                f"removed must have shape (..., {len(self)}, {len(self.names)}) (samples, parts), "
                f"got {removed.shape}"
            )
        fill = self.background.mean(axis=(1, 2), dtype=np.float32)[:, None, None, :]
        gone = removed[..., -1, None, None, None]
        x = np.where(gone, fill, self.background).astype(np.float32, copy=False)
        for p in range(len(self.names) - 1):  # the shapes: a few slots, every sample at once
            keep = self.masks[:, p] & ~removed[..., p, None, None]
            np.copyto(x, self.colours[:, p, None, None, :], where=keep[..., None])
        return np.clip(x, 0.0, 1.0, out=x)


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
