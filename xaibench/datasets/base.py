"""The Dataset container."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
