"""CIFAR-10 from the local Keras dataset cache only (xaibench never downloads it).

``xb.datasets.load("cifar10")`` reads the python-format batches that Keras keeps after
``keras.datasets.cifar10.load_data()`` has run once: ``<keras home>/datasets/cifar-10-batches-py/``
(Keras 2 and early Keras 3) or
``<keras home>/datasets/cifar-10-batches-py-target/cifar-10-batches-py/`` (recent Keras 3),
where ``<keras home>`` is ``$KERAS_HOME`` if set, else ``~/.keras`` (or ``/tmp/.keras``). The files
are read directly, with an unpickler that only rebuilds numpy arrays. When they are missing,
loading raises a ``ValueError`` telling how to get them.

CIFAR-10 is not one of :func:`xaibench.datasets.names` (the built-ins, available on every machine):
it is an *extra* dataset, listed by :func:`xaibench.datasets.extras`, usable by name in
``load``, configs and ``xaibench run`` once its files are in the cache.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from xaibench.datasets.base import Dataset, registry

CLASS_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
GET_IT = 'python -c "import keras; keras.datasets.cifar10.load_data()"'
VERSION = 1

_NUMPY_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),  # protocol-5 pickles
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }
)


class _ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain containers; refuses every other global."""

    def find_class(self, module, name):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch file")


def keras_dataset_dirs() -> list[Path]:
    """Where Keras keeps downloaded datasets: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``
    and ``/tmp/.keras/datasets`` (Keras's fallback when the home folder is not writable)."""
    home = os.environ.get("KERAS_HOME")
    bases = [Path(home)] if home else [Path.home() / ".keras", Path("/tmp/.keras")]
    return [base.expanduser() / "datasets" for base in bases]


def find_batches() -> Path | None:
    """The cached ``cifar-10-batches-py`` folder holding all six batch files, or None."""
    for root in keras_dataset_dirs():
        for folder in (root / FOLDER, root / f"{FOLDER}-target" / FOLDER):
            if all((folder / f).is_file() for f in (*TRAIN_FILES, TEST_FILE)):
                return folder
    return None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (n, 32, 32, 3) and labels int64 (n,) of one CIFAR python batch file."""
    try:
        with open(path, "rb") as f:
            raw = _ArrayUnpickler(f, encoding="bytes").load()
        data = np.asarray(raw[b"data"], dtype=np.uint8)
        labels = np.asarray(raw[b"labels"], dtype=np.int64)
        images = data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1)
    except (OSError, pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as err:
        raise ValueError(f"{path} is not a readable CIFAR-10 batch file: {err}") from err
    if len(labels) != len(images):
        raise ValueError(f"{path}: {len(images)} images but {len(labels)} labels")
    return images, labels


@registry.register("cifar10", extra=True)
def load() -> Dataset:
    """CIFAR-10 (60,000 32x32 RGB photos, 10 classes), read from the local Keras cache only."""
    folder = find_batches()
    if folder is None:
        looked = ", ".join(str(d / FOLDER) for d in keras_dataset_dirs())
        raise ValueError(
            f"cifar10 is not in the local Keras cache (looked in {looked} and their "
            f"'{FOLDER}-target' variants); xaibench never downloads data. On a machine with "
            f"internet run once: {GET_IT} (set KERAS_HOME to choose the folder), or copy an "
            f"extracted '{FOLDER}' folder there."
        )
    train = [read_batch(folder / f) for f in TRAIN_FILES]
    x_test, y_test = read_batch(folder / TEST_FILE)
    x_train = np.concatenate([b[0] for b in train])
    y_train = np.concatenate([b[1] for b in train])
    return Dataset(
        name="cifar10",
        x_train=x_train.astype(np.float32) / np.float32(255.0),
        y_train=y_train,
        x_test=x_test.astype(np.float32) / np.float32(255.0),
        y_test=y_test,
        class_names=list(CLASS_NAMES),
        kind="image",
        description=load.__doc__.splitlines()[0],
        source=f"CIFAR-10 (Alex Krizhevsky, 2009), local Keras cache {folder}",
        license=(
            "no licence stated by the authors; cite A. Krizhevsky (2009), Learning Multiple "
            "Layers of Features from Tiny Images"
        ),
        settings={"split": "official (data_batch_1-5 / test_batch)", "version": VERSION},
    )
