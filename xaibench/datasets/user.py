"""Your own data as a :class:`Dataset`: from arrays, an ``.npz`` file or a folder of images.

>>> import numpy as np
>>> import xaibench as xb
>>> rng = np.random.default_rng(0)
>>> d = xb.datasets.from_arrays(rng.random((40, 5)), np.arange(40) % 2)
>>> d.kind, d.x_train.shape, d.x_test.shape
('tabular', (30, 5), (10, 5))
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xaibench._checks import shown
from xaibench.datasets._split import stratified_split
from xaibench.datasets.base import Dataset

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# The settings of an image folder (``from_folder``, a config's ``[params."photos/"]``): the size
# its images are resized to and their channels by colour mode.
DEFAULT_IMAGE_SIZE = (32, 32)
COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}
FOLDER_SETTINGS = ("image_size", "color_mode")
NPZ_REQUIRED = ("x_train", "y_train", "x_test", "y_test")
NPZ_OPTIONAL = ("class_names", "feature_names", "masks")


def _inputs(x, name: str) -> tuple[np.ndarray, bool]:
    """``x`` as float32 (N, F) or (N, H, W, C); uint8 images are scaled to [0, 1]. Returns the
    array and whether it was scaled."""
    arr = np.asarray(x)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be an array of numbers, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3, 4):
        raise ValueError(
            f"{name} must be tabular rows (N, F), grey images (N, H, W) or images (N, H, W, C); "
            f"got shape {arr.shape}"
        )
    if len(arr) == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    scaled = arr.dtype == np.uint8 and arr.ndim > 2
    out = arr.astype(np.float32) / 255.0 if scaled else arr.astype(np.float32)
    if out.ndim == 3:
        out = out[..., None]
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return out, scaled


def _labels(y, n: int, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:  # Keras style (N, 1) labels
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the inputs, got {arr.shape}")
    return arr


def _encode(y: np.ndarray, y_test: np.ndarray, class_names) -> tuple:
    """Integer class ids for both label arrays, and the class names."""
    if not (np.issubdtype(y.dtype, np.number) and np.issubdtype(y_test.dtype, np.number)):
        if y.dtype.kind not in "USO" or y_test.dtype.kind not in "USO":
            raise TypeError(f"labels must be integer class ids or strings, got dtype {y.dtype}")
        classes = sorted({str(v) for v in np.concatenate([y, y_test]).tolist()})
        if class_names is None:
            class_names = classes
        lookup = {c: i for i, c in enumerate(class_names)}
        unknown = sorted(set(classes) - set(lookup))
        if unknown:
            raise ValueError(f"labels {unknown} are not in class_names {list(class_names)}")
        return (
            np.array([lookup[str(v)] for v in y.tolist()], np.int64),
            np.array([lookup[str(v)] for v in y_test.tolist()], np.int64),
            list(class_names),
        )
    ids = []
    for arr, name in ((y, "y"), (y_test, "y_test")):
        if not np.all(np.mod(arr, 1) == 0) or (arr.size and arr.min() < 0):
            raise ValueError(f"{name} must hold class ids 0, 1, 2, ...; got values like {arr[:5]}")
        ids.append(arr.astype(np.int64))
    n_classes = int(max(ids[0].max(initial=0), ids[1].max(initial=0))) + 1
    if class_names is None:
        class_names = [str(c) for c in range(n_classes)]
    elif len(class_names) < n_classes:
        raise ValueError(
            f"class_names has {len(class_names)} names but the labels go up to {n_classes - 1}"
        )
    return ids[0], ids[1], [str(c) for c in class_names]


def _check_masks(masks, x_test: np.ndarray) -> np.ndarray:
    masks = np.asarray(masks)
    expected = x_test.shape[:-1] if x_test.ndim == 4 else x_test.shape
    if masks.shape != expected:
        raise ValueError(
            f"masks must have shape {expected} (one flag per test sample and feature), "
            f"got {masks.shape}"
        )
    if masks.dtype != bool and not np.isin(masks, (0, 1)).all():
        raise ValueError(f"masks must be boolean (or 0/1), got dtype {masks.dtype}")
    return masks.astype(bool)


def from_arrays(
    x,
    y,
    *,
    x_test=None,
    y_test=None,
    name: str = "custom",
    test_fraction: float = 0.25,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    feature_names: Sequence[str] | None = None,
    masks=None,
) -> Dataset:
    """A dataset from numpy arrays.

    ``x`` is tabular (N, F), grey images (N, H, W) — given a channel axis — or images
    (N, H, W, C); its number of dimensions decides ``kind``. uint8 images are scaled to [0, 1];
    other inputs are kept as given (float32). ``y`` holds class ids 0, 1, ... or strings (encoded
    in sorted order, or in the order of ``class_names``). Without ``x_test``/``y_test`` a
    stratified ``test_fraction`` is split off, seeded by ``seed``. ``masks`` are ground-truth
    relevant features, (N, H, W) or (N, F) bool: for the test samples when ``x_test`` is given,
    else for all of ``x`` (they are split with it).

    >>> import numpy as np
    >>> d = from_arrays(np.zeros((8, 28, 28), np.uint8), [0, 1] * 4, name="blank")
    >>> d.kind, d.x_train.shape, d.class_names
    ('image', (6, 28, 28, 1), ['0', '1'])
    """
    x, scaled = _inputs(x, "x")
    y = _labels(y, len(x), "y")
    if (x_test is None) != (y_test is None):
        raise ValueError("give both x_test and y_test, or neither (then a test split is made)")
    split = x_test is None
    if split:
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
        x_test, y_test = x[:0], y[:0]
    else:
        x_test, _ = _inputs(x_test, "x_test")
        y_test = _labels(y_test, len(x_test), "y_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"x_test samples have shape {x_test.shape[1:]}, x samples {x.shape[1:]}"
            )
    y, y_test, class_names = _encode(y, y_test, class_names)
    if masks is not None:
        masks = _check_masks(masks, x if split else x_test)
    if split:
        train, test = stratified_split(y, test_fraction, seed)
        if len(test) == 0 or len(train) == 0:
            raise ValueError(
                f"test_fraction={test_fraction} of {len(y)} samples leaves no "
                f"{'test' if len(test) == 0 else 'training'} sample (each class gives "
                "round(test_fraction * its count)); give more samples or x_test/y_test"
            )
        x, x_test, y, y_test = x[train], x[test], y[train], y[test]
        masks = masks[test] if masks is not None else None
    kind = "image" if x.ndim == 4 else "tabular"
    if feature_names is not None:
        feature_names = [str(f) for f in feature_names]
        if kind == "image" or len(feature_names) != x.shape[1]:
            raise ValueError(
                f"feature_names must name the {x.shape[1]} columns of tabular data, got "
                f"{len(feature_names)} names for {kind} inputs of shape {x.shape[1:]}"
            )
    settings = {"test_fraction": test_fraction, "split_seed": seed} if split else {"split": "given"}
    if scaled:
        settings["scaled"] = "uint8 / 255"
    return Dataset(
        name=str(name),
        x_train=x,
        y_train=y,
        x_test=x_test,
        y_test=y_test,
        class_names=class_names,
        kind=kind,
        description=f"user data: {len(x)} train and {len(x_test)} test samples",
        source="user arrays",
        feature_names=feature_names,
        masks=masks,
        settings=settings,
    )


def from_npz(path: str | os.PathLike, *, name: str | None = None) -> Dataset:
    """A dataset from an ``.npz`` file with arrays ``x_train``, ``y_train``, ``x_test``,
    ``y_test`` and optionally ``class_names``, ``feature_names`` and ``masks`` (for the test
    samples); checked like :func:`from_arrays`. ``name`` defaults to the file name without suffix.

    >>> np.savez("mine.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)  # doctest: +SKIP
    >>> d = from_npz("mine.npz")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such .npz file: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read {path} as an .npz file of arrays: {err}") from err
    missing = [k for k in NPZ_REQUIRED if k not in arrays]
    if missing:
        has = ", ".join(sorted(arrays)) or "none"
        raise ValueError(
            f"{path} lacks the arrays {', '.join(missing)}; it has {has} (needed: "
            f"{', '.join(NPZ_REQUIRED)}; optional: {', '.join(NPZ_OPTIONAL)})"
        )
    names = {k: [str(v) for v in arrays[k].tolist()] for k in NPZ_OPTIONAL[:2] if k in arrays}
    return from_arrays(
        arrays["x_train"],
        arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        name=name or path.stem,
        masks=arrays.get("masks"),
        **names,
    )


def _unreadable_image(paths: list[str], err: Exception) -> str:
    """The first of ``paths`` TensorFlow cannot decode as an image, and why (for an error)."""
    from xaibench._tf import tf

    for p in paths:
        try:
            tf.io.decode_image(tf.io.read_file(p), expand_animations=False)
        except Exception as bad:  # noqa: BLE001 - reported with the file's name
            reason = getattr(bad, "message", str(bad)).strip().splitlines()[0]
            reason = re.sub(r"\{\{[^}]*\}\}\s*", "", reason)  # TensorFlow's node name
            return f"image {p} cannot be read: {reason}"
    return f"an image of the folder cannot be read: {type(err).__name__}"


def _class_folders(path: Path) -> list[Path]:
    if not path.is_dir():
        raise ValueError(f"no such folder: {path}")
    folders = sorted(p for p in path.iterdir() if p.is_dir())
    if not folders:
        raise ValueError(f"{path} has no class subfolders (expected {path}/<class name>/<images>)")
    empty = [
        p.name
        for p in folders
        if not any(f.suffix.lower() in IMAGE_EXTENSIONS for f in p.iterdir() if f.is_file())
    ]
    if empty:
        raise ValueError(
            f"class folders without images ({', '.join(IMAGE_EXTENSIONS)}) in {path}: "
            f"{', '.join(empty)}"
        )
    return folders


def folder_settings(image_size=DEFAULT_IMAGE_SIZE, color_mode: str = "rgb") -> dict:
    """The settings of :func:`from_folder`, checked: ``image_size`` as ``[height, width]``
    (positive integers) and ``color_mode`` one of ``COLOR_MODES``; ValueError naming the bad
    one.

    >>> folder_settings((64, 48), "grayscale")
    {'image_size': [64, 48], 'color_mode': 'grayscale'}
    """
    if isinstance(image_size, str) or not isinstance(image_size, list | tuple):
        image_size = [image_size]
    if len(image_size) != 2 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0 for v in image_size
    ):
        raise ValueError(
            f"image_size must be [height, width] in pixels (positive integers), got "
            f"{shown(list(image_size))}"
        )
    if not isinstance(color_mode, str) or color_mode not in COLOR_MODES:
        raise ValueError(
            f"color_mode must be one of {', '.join(map(repr, COLOR_MODES))}, got {shown(color_mode)}"
        )
    return {"image_size": [int(v) for v in image_size], "color_mode": color_mode}


def from_folder(
    path: str | os.PathLike,
    *,
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    color_mode: str = "rgb",
    name: str | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> Dataset:
    """A dataset from a folder of class subfolders of images (``path/<class>/<image>``).

    Images are read with ``keras.utils.image_dataset_from_directory`` in file-name order (no
    shuffling), resized to ``image_size`` ``(height, width)`` (bilinear), scaled to [0, 1] and
    split like :func:`from_arrays` (stratified ``test_fraction``, seeded). Class names are the
    subfolder names in sorted order. ``color_mode`` is ``"rgb"``, ``"grayscale"`` or
    ``"rgba"``. Both are recorded in the dataset's ``settings`` (a run keys its cells by them).

    >>> d = from_folder("photos/", image_size=(64, 64))  # doctest: +SKIP
    """
    from xaibench._tf import keras

    checked = folder_settings(image_size, color_mode)
    image_size, color_mode = checked["image_size"], checked["color_mode"]
    path = Path(path)
    folders = _class_folders(path)
    ds = keras.utils.image_dataset_from_directory(
        str(path),
        labels="inferred",
        label_mode="int",
        class_names=[p.name for p in folders],
        color_mode=color_mode,
        batch_size=None,
        image_size=tuple(image_size),
        shuffle=False,
        verbose=False,
    )
    try:
        pairs = list(ds.as_numpy_iterator())
    except Exception as err:  # noqa: BLE001 - TensorFlow names no file: find it
        raise ValueError(_unreadable_image(ds.file_paths, err)) from err
    x = np.stack([p[0] for p in pairs]) / np.float32(255.0)
    y = np.array([p[1] for p in pairs], np.int64)
    d = from_arrays(
        x,
        y,
        name=name or path.resolve().name,
        test_fraction=test_fraction,
        seed=seed,
        class_names=[p.name for p in folders],
    )
    settings = {**d.settings, **checked}
    return dataclasses.replace(d, source=f"image folder {path}", settings=settings)
