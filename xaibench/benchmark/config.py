"""Run configurations: the built-in suites and TOML config files (format in the README)."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from xaibench import datasets as _datasets
from xaibench import methods as _methods
from xaibench import metrics as _metrics
from xaibench import models as _models
from xaibench.benchmark import components

KEYS = (
    "samples",
    "seed",
    "datasets",
    "models",
    "model",
    "models_per_dataset",
    "methods",
    "metrics",
    "params",
)


def is_model_file(spec: str) -> bool:
    """A model given as a saved Keras file rather than a zoo architecture."""
    return spec.endswith(".keras")


def is_dataset_path(spec: str) -> bool:
    """A dataset given as an ``.npz`` file or a folder of class subfolders of images."""
    return spec.endswith(".npz") or "/" in spec or Path(spec).is_dir()


def display_name(spec: str) -> str:
    """How a dataset or model spec is named in results: built-in names as they are, files by
    their stem (``models/my_cnn.keras`` -> ``my_cnn``)."""
    if is_model_file(spec) or is_dataset_path(spec):
        return Path(spec.rstrip("/")).stem
    return spec


@dataclass(frozen=True)
class RunConfig:
    """What a run computes: the grid datasets x models x methods x metrics.

    ``samples`` test samples per (dataset, model), chosen with ``seed``; ``seed`` also seeds every
    stochastic method and metric that is not given its own in ``params``. ``models_per_dataset``
    replaces ``models`` for the datasets it names. Datasets are built-in names, ``.npz`` files or
    image folders; models are zoo architectures or ``.keras`` files.
    """

    datasets: tuple[str, ...]
    models: tuple[str, ...]
    methods: tuple[str, ...]
    metrics: tuple[str, ...]
    samples: int = 32
    seed: int = 0
    params: dict = field(default_factory=dict)
    models_per_dataset: dict = field(default_factory=dict)
    name: str = "custom"

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, samples: int | None = None, seed: int | None = None) -> RunConfig:
        return replace(
            self,
            samples=self.samples if samples is None else samples,
            seed=self.seed if seed is None else seed,
        )

    def models_for(self, dataset: str) -> tuple[str, ...]:
        return tuple(self.models_per_dataset.get(dataset, self.models))

    def n_cells(self) -> int:
        pairs = sum(len(self.models_for(d)) for d in self.datasets)
        return pairs * len(self.methods) * len(self.metrics)

    def validate(self) -> RunConfig:
        """Check every name and parameter now, before any work (ValueError naming the problem)."""
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"samples must be a positive integer, got {self.samples!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        for key in ("datasets", "models", "methods", "metrics"):
            value = getattr(self, key)
            if not value:
                raise ValueError(f"{key} is empty: list at least one")
            if len(set(value)) != len(value):
                raise ValueError(f"{key} lists a name twice: {list(value)}")
        for spec in self.datasets:
            _check_dataset(spec)
        for dataset, models in self.models_per_dataset.items():
            if dataset not in self.datasets:
                raise ValueError(
                    f"[models_per_dataset] names {dataset!r}, which is not in datasets "
                    f"({', '.join(self.datasets)})"
                )
            if not models or len(set(models)) != len(models):
                raise ValueError(f"[models_per_dataset] {dataset} must list distinct models")
        for spec in {m for d in self.datasets for m in self.models_for(d)}:
            _check_model(spec)
        known = set(self.methods) | set(self.metrics)
        for name, p in self.params.items():
            if name not in known:
                raise ValueError(
                    f"[params.{name}] names no method or metric of this run "
                    f"(methods: {', '.join(self.methods)}; metrics: {', '.join(self.metrics)})"
                )
            if not isinstance(p, dict):
                raise ValueError(f"[params.{name}] must be a table of settings, got {p!r}")
        components.methods(list(self.methods), self.seed, self.params)
        components.metrics(list(self.metrics), self.seed, self.params)
        return self


def _check_dataset(spec: str) -> None:
    if is_dataset_path(spec):
        if not Path(spec).exists():
            raise ValueError(f"dataset {spec!r}: no such file or folder")
        return
    if spec not in _datasets.names() and spec not in _datasets.extras():
        _datasets.cls(spec)  # raises the unknown-name error with suggestions


def _check_model(spec: str) -> None:
    if is_model_file(spec):
        if not Path(spec).is_file():
            raise ValueError(f"model file {spec!r} does not exist")
    elif spec not in _models.names():
        raise ValueError(
            f"unknown model {spec!r}; valid models: {', '.join(_models.names())} "
            "or a path to a .keras file"
        )


def load_dataset(spec: str):
    """The dataset of a spec: a built-in name, an ``.npz`` file or a folder of images."""
    if spec.endswith(".npz"):
        return _datasets.from_npz(spec)
    if is_dataset_path(spec):
        return _datasets.from_folder(spec)
    return _datasets.load(spec)


def _builtin_methods(cost: str) -> tuple[str, ...]:
    """xaibench's own methods (registered here) that declare ``cost`` (``Method.cost``): a new
    method joins the suites by declaring itself."""
    return tuple(
        n
        for n in _methods.names()
        if _methods.cls(n).__module__.startswith("xaibench.") and _methods.cls(n).cost == cost
    )


# Methods by cost. Cheap: a few model calls per sample; heavy: hundreds to thousands; adapters:
# wrappers of optional packages (only where they are installed).
CHEAP_METHODS = _builtin_methods("cheap")
HEAVY_METHODS = _builtin_methods("heavy")
ADAPTERS = _builtin_methods("adapter")
IMAGE_DATASETS = ("digits", "mnist", "shapes")
TABULAR_DATASETS = ("breast_cancer", "wine", "synthetic_tabular")
IMAGE_MODELS = ("linear", "mlp", "cnn", "cnn_deep")
TABULAR_MODELS = ("linear", "mlp", "mlp_deep")
# Smaller budgets for the heavy methods and the re-explaining metrics, so that the default suite
# fits 30 minutes on 2 cores; the full suite uses the papers' defaults. The re-explaining metrics
# multiply a method's cost (sensitivity: once per perturbation; model_randomisation: once per
# randomised layer, ten on cnn_deep), so the heavy methods on cnn_deep dominate: measured on an
# idle 2-core machine from an empty model cache, 32.8 min with 250 masks/samples and every layer,
# 22.5 min with these (19.5 min after the faster noisy linear imputation).
DEFAULT_BUDGETS = {
    "rise": {"masks": 128},
    "lime": {"samples": 128},
    "kernel_shap": {"samples": 128},
    "max_sensitivity": {"samples": 8},
    "avg_sensitivity": {"samples": 8},
    "model_randomisation": {"layers": 5},
}


def _all_metrics() -> tuple[str, ...]:
    return tuple(n for n in _metrics.names() if _metrics.cls(n).__module__.startswith("xaibench."))


def _quick() -> RunConfig:
    return RunConfig(
        name="quick",
        datasets=("digits", "shapes", "breast_cancer"),
        models=("linear", "cnn"),
        models_per_dataset={"breast_cancer": ("linear", "mlp")},
        methods=CHEAP_METHODS,
        metrics=_all_metrics(),
        samples=32,
        params={k: DEFAULT_BUDGETS[k] for k in ("max_sensitivity", "avg_sensitivity")},
    )


def _default(name: str = "default", samples: int = 128, budgets=None, adapters=()) -> RunConfig:
    datasets = IMAGE_DATASETS + TABULAR_DATASETS
    return RunConfig(
        name=name,
        datasets=datasets,
        models=IMAGE_MODELS,
        models_per_dataset={d: TABULAR_MODELS for d in TABULAR_DATASETS},
        methods=CHEAP_METHODS + HEAVY_METHODS + tuple(adapters),
        metrics=_all_metrics(),
        samples=samples,
        params=dict(DEFAULT_BUDGETS if budgets is None else budgets),
    )


SUITES = {
    "quick": _quick(),
    "default": _default(),
    "full": _default("full", 256, budgets={}, adapters=ADAPTERS),
}


def suite(name: str) -> RunConfig:
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; valid suites: {', '.join(SUITES)}")
    return SUITES[name]


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML run configuration; unknown keys and bad values raise ValueError naming them."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"config file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"config file {path} is not a file")
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:
        raise ValueError(f"config file {path} cannot be read: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise ValueError(
            f"config file {path} is not UTF-8 text (byte {err.start}: {err.object[err.start]:#x})"
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {path} is not valid TOML: {err}") from err
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise ValueError(
            f"config {path}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; valid keys: {', '.join(KEYS)}"
        )
    base = replace(SUITES["quick"], name=path.stem, params={})
    if "datasets" in raw or "models" in raw or "model" in raw:
        base = replace(base, models_per_dataset={})
    values = {}
    for key in ("datasets", "models", "methods", "metrics"):
        if key in raw:
            v = raw[key]
            if isinstance(v, str):
                v = [v]
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                raise ValueError(f"config {path}: {key} must be a list of names, got {v!r}")
            values[key] = tuple(v)
    if "model" in raw:
        extra = raw["model"] if isinstance(raw["model"], list) else [raw["model"]]
        values["models"] = tuple(values.get("models", SUITES["quick"].models)) + tuple(extra)
    if "models_per_dataset" in raw:
        table = raw["models_per_dataset"]
        if not isinstance(table, dict) or not all(
            isinstance(v, list) and all(isinstance(m, str) for m in v) for v in table.values()
        ):
            raise ValueError(
                f"config {path}: [models_per_dataset] must map dataset names to lists of models"
            )
        values["models_per_dataset"] = {k: tuple(v) for k, v in table.items()}
    for key in ("samples", "seed"):
        if key in raw:
            values[key] = raw[key]
    if "params" in raw:
        values["params"] = raw["params"]
    return replace(base, **values)
