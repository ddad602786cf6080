"""Seeded training and the on-disk model cache ($XAIBENCH_CACHE, default ~/.cache/xaibench)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xaibench._tf import keras
from xaibench.datasets.base import Dataset
from xaibench.models.zoo import ARCHITECTURES, ZOO_VERSION

BATCH_SIZE = 32


def cache_dir() -> Path:
    """Where trained models are kept: ``$XAIBENCH_CACHE`` or ``~/.cache/xaibench``."""
    return Path(os.environ.get("XAIBENCH_CACHE") or Path.home() / ".cache" / "xaibench")


@dataclass
class TrainedModel:
    """A model with what the store records about it."""

    model: keras.Model
    name: str
    dataset: str
    accuracy: float
    params: int
    settings: dict  # architecture, dataset, seed, zoo version, weights hash

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:16]


def weights_hash(model: keras.Model) -> str:
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()[:16]


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    logits = np.concatenate(
        [
            np.asarray(model(x[i : i + batch_size], training=False))
            for i in range(0, len(x), batch_size)
        ]
    )
    return float((logits.argmax(axis=1) == y).mean())


def train(arch: str, data: Dataset, seed: int = 0) -> keras.Model:
    """Train ``arch`` on ``data``'s training split: Adam, cross-entropy on logits, fixed epochs,
    batches shuffled by a generator seeded with ``seed``."""
    build, _, epochs, lr = ARCHITECTURES[arch]
    model = build(data.input_shape, data.n_classes, seed)
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(seed)
    x, y = data.x_train, data.y_train
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            model.train_on_batch(x[idx], y[idx])
    return model


def load_or_train(arch: str, data: Dataset, seed: int = 0, *, log=None) -> TrainedModel:
    """The trained model from the cache, or train it now (seeded) and cache it."""
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown model {arch!r}; valid models: {', '.join(sorted(ARCHITECTURES))}"
        )
    kinds = ARCHITECTURES[arch][1]
    if data.kind not in kinds:
        raise ValueError(
            f"model {arch!r} needs {' or '.join(kinds)} data; {data.name!r} is {data.kind}"
        )
    stem = f"{arch}-{data.name}-seed{seed}-zoo{ZOO_VERSION}"
    path = cache_dir() / "models" / f"{stem}.keras"
    meta_path = path.with_suffix(".json")
    model = meta = None
    if path.exists() and meta_path.exists():
        try:
            model = keras.models.load_model(path, compile=False)
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as err:
            if log:
                log(f"cached model {path} is unreadable ({err}); training it again")
            model = None
    if model is None:
        if log:
            log(f"training {arch} on {data.name} (seed {seed}); cached afterwards in {path.parent}")
        start = time.perf_counter()
        model = train(arch, data, seed)
        meta = {
            "accuracy": accuracy(model, data.x_test, data.y_test),
            "params": int(model.count_params()),
            "train_seconds": round(time.perf_counter() - start, 2),
        }
        _save(model, meta, path, meta_path)
    settings = {
        "model": arch,
        "dataset": data.name,
        "seed": seed,
        "zoo_version": ZOO_VERSION,
        "weights": weights_hash(model),
    }
    return TrainedModel(model, arch, data.name, meta["accuracy"], meta["params"], settings)


def _save(model: keras.Model, meta: dict, path: Path, meta_path: Path) -> None:
    """Write model and metadata atomically (a killed run never leaves a half-written cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    tmp_meta = meta_path.with_suffix(".json.tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2))
    os.replace(tmp_meta, meta_path)
