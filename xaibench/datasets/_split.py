"""Seeded, stratified train/test splits and train-split standardisation shared by the loaders."""

from __future__ import annotations

import numpy as np


def stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices, sorted, with each class split in the same proportion (seeded).

    Each class contributes ``round(test_fraction * count)`` test samples, drawn by a generator
    seeded with ``seed`` that visits the classes in sorted order.
    """
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test.append(idx[: int(round(test_fraction * len(idx)))])
    test = np.sort(np.concatenate(test))
    train = np.setdiff1d(np.arange(len(y)), test)
    return train, test


def standardise(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both splits scaled with the training split's per-feature mean and std (float32).

    Constant training features (std 0) are only centred.
    """
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (
        ((x_train - mean) / std).astype(np.float32),
        ((x_test - mean) / std).astype(np.float32),
    )
