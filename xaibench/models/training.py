"""Seeded training and the on-disk model cache ($XAIBENCH_CACHE, default ~/.cache/xaibench)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xaibench import _cache
from xaibench._cache import cache_dir
from xaibench._checks import file_stem
from xaibench._fingerprint import component_fingerprint
from xaibench._tf import keras
from xaibench.datasets.base import Dataset
from xaibench.models import torch_spec
from xaibench.models.outputs import n_classes, structure_problem
from xaibench.models.protocol import adapt
from xaibench.models.zoo import ZOO_VERSION, Architecture, registry

BATCH_SIZE = 32
VALIDATION_FRACTION = 0.1
PATIENCE = 4
PREDICT_VALUES = 2**21  # input values per batch when predicting (accuracy, validation loss)


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


def training_data_hash(data: Dataset) -> str:
    """A short hash of the training split: cached models are keyed by the data they saw."""
    h = hashlib.sha256()
    for arr in (data.x_train, data.y_train):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:10]


def weights_hash(model) -> str:
    """A short hash of ``model``'s weights (``ModelAdapter.weights_hash``)."""
    return adapt(model).weights_hash()


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``x`` whose highest score is the true class."""
    return float((_logits(model, x).argmax(axis=1) == y).mean())


def _validation_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``VALIDATION_FRACTION`` of the training split (seeded)."""
    rng = np.random.default_rng([seed, 1])
    val = np.concatenate(
        [
            rng.permutation(idx)[: max(1, int(round(VALIDATION_FRACTION * len(idx))))]
            for idx in (np.flatnonzero(y == c) for c in np.unique(y))
        ]
    )
    return np.setdiff1d(np.arange(len(y)), val), np.sort(val)


def train(arch: str | Architecture, data: Dataset, seed: int = 0) -> tuple[keras.Model, dict]:
    """Train ``arch`` (a name or an architecture with its settings) on ``data``'s training split:
    Adam, cross-entropy on logits, batches of 32 shuffled by a generator seeded with ``seed``,
    early stopping on a stratified 10% validation split (patience 4 epochs; the weights of the
    best validation loss are kept). When the architecture trains only a head on frozen features
    (``Architecture.frozen_features``), the features are computed once and the head trained on
    them: the same updates as training the whole model, without its forward pass per epoch."""
    spec = registry.get(arch)
    spec.check_training(tuple(data.input_shape))
    model = spec.build(data.input_shape, data.n_classes, seed)
    fit, val = _validation_split(data.y_train, seed)
    x, x_val = data.x_train[fit], data.x_train[val]
    trained = model
    parts = spec.frozen_features(model)
    if parts is not None:
        features, trained = parts
        x, x_val = _logits(features, x), _logits(features, x_val)
    trained.compile(
        optimizer=keras.optimizers.Adam(spec.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    info = _fit(trained, (x, data.y_train[fit]), (x_val, data.y_train[val]), spec.max_epochs, seed)
    return model, info


def _fit(model: keras.Model, train_xy, val_xy, max_epochs: int, seed: int) -> dict:
    """The epochs of ``train``: ``model`` ends with the weights of its best validation loss."""
    (x, y), (x_val, y_val) = train_xy, val_xy
    rng = np.random.default_rng(seed)
    best, best_weights, since, epochs = np.inf, model.get_weights(), 0, 0
    for epoch in range(1, max_epochs + 1):
        epochs = epoch
        order = rng.permutation(len(x))
        for i in range(0, len(x), BATCH_SIZE):
            idx = order[i : i + BATCH_SIZE]
            model.train_on_batch(x[idx], y[idx])
        loss = _loss(model, x_val, y_val)
        if loss < best - 1e-4:
            best, best_weights, since = loss, model.get_weights(), 0
        else:
            since += 1
            if since >= PATIENCE:
                break
    model.set_weights(best_weights)
    return {"epochs": epochs, "validation_loss": float(best)}


def _loss(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    logits = _logits(model, x).astype(np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def _logits(model: keras.Model, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """``model``'s outputs for ``x`` in batches of ``batch_size`` (by default up to 512, fewer
    for large inputs: ``PREDICT_VALUES`` input values per batch, ~13 images at 224x224x3)."""
    if batch_size is None:
        batch_size = int(np.clip(PREDICT_VALUES // max(1, int(np.prod(x.shape[1:]))), 1, 512))
    return np.concatenate(
        [
            np.asarray(model.predict_on_batch(x[i : i + batch_size]))
            for i in range(0, len(x), batch_size)
        ]
    )


def model_settings(arch: str | Architecture, data: Dataset, seed: int = 0) -> dict:
    """The settings of the model ``load_or_train(arch, data, seed)`` gives, but for the hash of
    its weights: architecture, dataset, training data, seed, zoo version, the code of a user
    architecture and what else decides the model (``Architecture.cache_settings``: the source of
    a keras.applications backbone's weights)."""
    spec = registry.get(arch)  # ValueError naming the valid models if unknown
    code = component_fingerprint(type(spec))  # a user architecture's code; None if ours
    return {
        "model": spec.name,
        "dataset": data.name,
        "training_data": training_data_hash(data),
        "seed": seed,
        "zoo_version": ZOO_VERSION,
        **({"code": code} if code else {}),
        **spec.cache_settings(),
    }


_BASE_SETTINGS = ("model", "dataset", "training_data", "seed", "zoo_version", "code")


def cache_path(arch: str | Architecture, data: Dataset, seed: int = 0) -> Path:
    """Where ``load_or_train(arch, data, seed)`` caches its model (a ``.keras`` file, with its
    metadata beside it in a ``.json`` file)."""
    return cache_dir() / "models" / f"{_stem(model_settings(arch, data, seed))}.keras"


def _stem(settings: dict) -> str:
    """The cache file name of a model with ``settings`` (``model_settings``): the architecture's
    ``cache_settings`` enter as a hash before the zoo version, which ends the name (the cache
    listing reads it)."""
    s, extra = settings, _extra(settings)
    stem = f"{file_stem(s['model'])}-{file_stem(s['dataset'])}-{s['training_data']}-seed{s['seed']}"
    if extra:
        stem += "-s" + hashlib.sha256(json.dumps(extra, sort_keys=True).encode()).hexdigest()[:16]
    stem += f"-zoo{s['zoo_version']}"
    if "code" in s:
        stem += f"-code{s['code'][:16]}"
    return stem


def _extra(settings: dict) -> dict:
    """The ``Architecture.cache_settings`` part of ``model_settings``."""
    return {k: v for k, v in settings.items() if k not in _BASE_SETTINGS}


def load_or_train(
    arch: str | Architecture, data: Dataset, seed: int = 0, *, log=None
) -> TrainedModel:
    """The trained model from the cache, or train it now (seeded) and cache it. ``arch`` is a
    name or an architecture with its settings (``registry.get(name, weights=...)``)."""
    spec = registry.get(arch)  # ValueError naming the valid models if unknown
    name, kinds = spec.name, spec.kinds
    if data.kind not in kinds:
        raise ValueError(
            f"model {name!r} needs {' or '.join(kinds)} data; {data.name!r} is {data.kind}"
        )
    settings = model_settings(spec, data, seed)
    path = cache_dir() / "models" / f"{_stem(settings)}.keras"  # file_stem: in the cache
    if path.parent.is_dir():
        remove_stale_partials(path.parent)
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
            log(f"training {name} on {data.name} (seed {seed}); cached afterwards in {path.parent}")
        start = time.perf_counter()
        model, fit_info = train(spec, data, seed)
        meta = {
            "model": name,
            "dataset": data.name,
            "seed": seed,
            "zoo_version": ZOO_VERSION,
            **_extra(settings),
            **fit_info,
            "accuracy": accuracy(model, data.x_test, data.y_test),
            "params": int(model.count_params()),
            "train_seconds": round(time.perf_counter() - start, 2),
        }
        _save(model, meta, path, meta_path)
    settings["weights"] = weights_hash(model)
    return TrainedModel(model, name, data.name, meta["accuracy"], meta["params"], settings)


def cached_models() -> list[dict]:
    """What the cache holds for the current zoo version: model, dataset, seed, accuracy, params."""
    return _cache.cached_models(ZOO_VERSION)


# Files being written into the cache are named ".partial-<pid>-..." until they are complete; the
# ones a killed process left behind are removed by the next process that uses the cache.
PARTIAL = ".partial-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_partials(folder: Path) -> None:
    """Delete the partial files in ``folder`` whose writing process is gone."""
    for path in folder.glob(f"{PARTIAL}*"):
        pid = path.name[len(PARTIAL) :].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _save(model: keras.Model, meta: dict, path: Path, meta_path: Path) -> None:
    """Write model and metadata atomically: a killed run never leaves a half-written cache entry,
    and its partial files are removed by the next run (``remove_stale_partials``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{PARTIAL}{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".keras", dir=path.parent)
    os.close(fd)
    fd, tmp_meta = tempfile.mkstemp(prefix=prefix, suffix=".json", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        Path(tmp_meta).write_text(json.dumps(meta, indent=2))
        os.replace(tmp, path)
        os.replace(tmp_meta, meta_path)
    finally:
        for leftover in (tmp, tmp_meta):
            if os.path.exists(leftover):
                os.remove(leftover)


def open_file(path: str | Path):
    """The Keras model saved in ``path`` (``.keras``, loaded in Keras safe mode); ValueError
    naming the file when it is none."""
    path = Path(path)
    if path.suffix != ".keras" or not path.is_file():
        raise ValueError(f"model file {str(path)!r} must be an existing .keras file")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"model file {str(path)!r} is not a Keras model (a .keras file is a zip archive "
            "written by model.save)"
        )
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"cannot load model {str(path)!r}: {err}") from err


def input_shape(model) -> tuple | None:
    """The shape of one input of ``model`` (``None`` where a dimension is free), or None when
    the model declares no input."""
    return tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None


def load_file(path: str | Path, data: Dataset, model=None) -> TrainedModel:
    """A user's saved Keras model (``.keras``, loaded in Keras safe mode; ``model``: the one
    ``open_file(path)`` returned, when it was opened already), checked against ``data``, with its
    accuracy on ``data``'s test split and its parameter count; or a PyTorch model named
    ``"torch:<module>:<factory>[@<state_dict file>]"`` (``models.torch_spec``)."""
    if torch_spec.is_torch_spec(str(path)):
        return torch_spec.load(str(path), data)
    path = Path(path)
    model = open_file(path) if model is None else model
    problem = structure_problem(model)
    if problem:
        raise ValueError(f"model file {str(path)!r} {problem}")
    expected = input_shape(model)
    given = tuple(data.input_shape)
    fits = len(expected or ()) == len(given) and all(
        e is None or e == g for e, g in zip(expected or (), given, strict=False)
    )
    if expected is not None and not fits:
        raise ValueError(
            f"model {str(path)!r} takes inputs of shape {expected}, but dataset {data.name!r} "
            f"has inputs of shape {tuple(data.input_shape)}"
        )
    try:
        classes = n_classes(model, data.x_test[:1])
    except Exception as err:  # noqa: BLE001 - the user's model cannot run on the dataset
        raise ValueError(
            f"model {str(path)!r} cannot score dataset {data.name!r}: {type(err).__name__}: {err}"
        ) from err
    if classes != data.n_classes:
        raise ValueError(
            f"model {str(path)!r} scores {classes} classes, but dataset {data.name!r} has "
            f"{data.n_classes}"
        )
    settings = {
        "model": path.stem,
        "file": str(path.resolve()),
        "dataset": data.name,
        "weights": weights_hash(model),
    }
    return TrainedModel(
        model,
        path.stem,
        data.name,
        accuracy(model, data.x_test, data.y_test),
        int(model.count_params()),
        settings,
    )
