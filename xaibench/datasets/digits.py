"""scikit-learn's bundled 8x8 handwritten digits (no download)."""

from __future__ import annotations

import numpy as np

from xaibench.datasets._split import stratified_split
from xaibench.datasets.base import Dataset, registry

TEST_FRACTION = 0.25
SPLIT_SEED = 0


@registry.register("digits")
def load() -> Dataset:
    """1,797 handwritten digits, 8x8 grey images scaled to [0, 1]; 10 classes; 25% test split."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = (raw.images / 16.0).astype(np.float32)[..., None]
    y = raw.target.astype(np.int64)
    train, test = stratified_split(y, TEST_FRACTION, SPLIT_SEED)
    return Dataset(
        name="digits",
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        class_names=[str(c) for c in range(10)],
        kind="image",
        description=load.__doc__.splitlines()[0],
        source=(
            "scikit-learn (sklearn.datasets.load_digits), "
            "UCI Optical Recognition of Handwritten Digits"
        ),
        license="CC BY 4.0 (UCI)",
        settings={"test_fraction": TEST_FRACTION, "split_seed": SPLIT_SEED},
    )
