"""Run configurations: the built-in suites and TOML config files (format in the README)."""

from __future__ import annotations

import difflib
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
from xaibench.benchmark import components, meta, sweep
from xaibench.benchmark.meta import MetaSettings
from xaibench.models import torch_spec

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
    "imports",
    "meta",
    "sweep",
)
# The grid's lists: config keys, ``RunConfig`` fields and ``xaibench run --<key> A,B`` flags.
LISTS = ("datasets", "models", "methods", "metrics")


def is_model_file(spec: str) -> bool:
    """A model given as a saved Keras file or a PyTorch factory (``"torch:<module>:<factory>
    [@<state_dict file>]"``) rather than a zoo architecture."""
    return spec.endswith(".keras") or torch_spec.is_torch_spec(spec)


def is_dataset_path(spec: str) -> bool:
    """A dataset given as an ``.npz`` file or a folder of class subfolders of images."""
    return spec.endswith(".npz") or "/" in spec or Path(spec).is_dir()


def display_name(spec: str) -> str:
    """How a dataset or model spec is named in results: built-in names as they are, files by
    their stem (``models/my_cnn.keras`` -> ``my_cnn``), PyTorch models by their state_dict
    file's stem, else their factory's name (``torch:nets:build@r18.pt`` -> ``r18``)."""
    if torch_spec.is_torch_spec(spec):
        return torch_spec.TorchSpec.parse(spec).name
    if is_model_file(spec) or is_dataset_path(spec):
        return Path(spec.rstrip("/")).stem
    return spec


@dataclass(frozen=True)
class RunConfig:
    """What a run computes: the grid datasets x models x methods x metrics.

    ``samples`` test samples per (dataset, model), chosen with ``seed``; ``seed`` also seeds every
    stochastic method and metric that is not given its own in ``params``. ``models_per_dataset``
    replaces ``models`` for the datasets it names. Datasets are built-in names, ``.npz`` files or
    image folders; models are zoo architectures or ``.keras`` files. ``params`` maps the name of a
    method, a metric or a zoo model of the run to its settings (``{"rise": {"masks": 500},
    "mobilenet_v2": {"weights": "imagenet"}}``). ``imports`` names the plugin modules the command
    line imports before the run (they register components); a run stores the modules it imported
    there.

    ``meta``: the meta-evaluation's settings (a ``[meta]`` table, ``benchmark.meta.MetaSettings``;
    ``{}``: its defaults) or None (no meta-evaluation); ``meta_budget``: the settings
    ``xaibench run --meta`` gives a config that has none (the built-in suites' smaller budget).
    ``sweep``: ``{metric: {setting: [values], "product": bool}}`` (``benchmark.sweep``).
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
    imports: tuple[str, ...] = ()
    meta: dict | None = None
    meta_budget: dict = field(default_factory=dict)
    sweep: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The config as the store records it: without the meta-evaluation and the sweeps when
        the run has none (a run's record is then what it was before they existed)."""
        out = asdict(self)
        out.pop("meta_budget")
        if out["meta"] is None:
            out.pop("meta")
        if not out["sweep"]:
            out.pop("sweep")
        return out

    def meta_settings(self):
        """The run's ``meta.MetaSettings``, or None without a meta-evaluation."""
        return None if self.meta is None else MetaSettings.from_config(self.meta)

    def sweep_variants(self, metrics: list) -> dict:
        """``{metric name: [sweep.Variant]}`` of the run's ``metrics`` (instances)."""
        return sweep.build(metrics, self.sweep)

    def with_overrides(
        self,
        samples: int | None = None,
        seed: int | None = None,
        *,
        datasets: tuple[str, ...] | None = None,
        models: tuple[str, ...] | None = None,
        methods: tuple[str, ...] | None = None,
        metrics: tuple[str, ...] | None = None,
        imports: tuple[str, ...] | None = None,
        meta: bool = False,
        sweep_default: bool = False,
    ) -> RunConfig:
        """This config with the given values instead of its own (None keeps its own).

        ``meta``: with a meta-evaluation (its own ``[meta]`` settings, else ``meta_budget``);
        ``sweep_default``: the metrics' built-in sweeps (``sweep.defaults``) for those the
        config does not sweep itself. The sweeps of metrics no longer in the run are dropped.

        ``models`` applies to every dataset (``models_per_dataset`` is dropped); ``datasets``
        keeps the ``models_per_dataset`` entries of the datasets it keeps. The ``[params.NAME]``
        of the methods, metrics and models no longer in the run are dropped (a ``[params]`` entry
        that named nothing of this config stays, for ``validate`` to report)."""
        new = {"samples": samples, "seed": seed, "imports": imports}
        new |= {"datasets": datasets, "models": models, "methods": methods, "metrics": metrics}
        new = {key: value for key, value in new.items() if value is not None}
        if models is not None:
            new["models_per_dataset"] = {}
        elif datasets is not None:
            new["models_per_dataset"] = {
                d: m for d, m in self.models_per_dataset.items() if d in datasets
            }
        out = replace(self, **new)
        dropped = self._components() - out._components()
        if dropped:
            out = replace(out, params={k: v for k, v in self.params.items() if k not in dropped})
        sweeps = {k: v for k, v in out.sweep.items() if k not in dropped}
        if sweep_default:
            sweeps = {**sweep.defaults(out.metrics), **sweeps}
        out = replace(out, sweep=sweeps)
        if meta and out.meta is None:
            out = replace(out, meta=dict(self.meta_budget))
        return out

    def _components(self) -> set[str]:
        """The names a ``[params.NAME]`` may give settings to: methods, metrics, models."""
        return set(self.methods) | set(self.metrics) | set(self.model_specs())

    def models_for(self, dataset: str) -> tuple[str, ...]:
        return tuple(self.models_per_dataset.get(dataset, self.models))

    def model_specs(self) -> tuple[str, ...]:
        """Every model of the run (zoo names and ``.keras`` files), in the order of first use."""
        return tuple(dict.fromkeys(m for d in self.datasets for m in self.models_for(d)))

    def architecture(self, spec: str):
        """The zoo architecture ``spec`` with its ``[params.<spec>]`` settings: what the run
        builds, trains, loads from the model cache and keys its cells by. ValueError naming a
        bad setting (an unknown key, a missing or misnamed weights file)."""
        return _models.registry.get(spec, **self.params.get(spec, {}))

    def n_cells(self) -> int:
        """The cells of the grid: per (dataset, model, method), a cell per metric, per sweep
        variant and per meta-evaluation cell (``meta.cells_per_metric`` of each evaluated
        metric)."""
        pairs = sum(len(self.models_for(d)) for d in self.datasets)
        per_method = len(self.metrics)
        if self.sweep or self.meta is not None:
            metrics = components.metrics(list(self.metrics), self.seed, self.params)
            per_method += sum(len(v) for v in self.sweep_variants(metrics).values())
            settings = self.meta_settings()
            if settings is not None:
                per_method += settings.cells_per_metric() * sum(map(meta.evaluated, metrics))
        return pairs * len(self.methods) * per_method

    def validate(self) -> RunConfig:
        """Check every name and parameter now, before any work (ValueError naming the problem)."""
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"samples must be a positive integer, got {self.samples!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        check_imports(self.imports)
        for key in LISTS:
            value = getattr(self, key)
            if not value:
                raise ValueError(f"{key} is empty: list at least one")
            if len(set(value)) != len(value):
                raise ValueError(f"{key} lists a name twice: {list(value)}")
        _check_datasets(self.datasets)
        for dataset, models in self.models_per_dataset.items():
            if dataset not in self.datasets:
                raise ValueError(
                    f"[models_per_dataset] names {dataset!r}, which is not in datasets "
                    f"({', '.join(self.datasets)})"
                )
            if not models or len(set(models)) != len(models):
                raise ValueError(f"[models_per_dataset] {dataset} must list distinct models")
        _check_models(self.model_specs())
        _check_names("method", self.methods, _methods.names(), _methods.missing())
        _check_names("metric", self.metrics, _metrics.names(), _metrics.missing())
        self._check_params()
        components.methods(list(self.methods), self.seed, self.params)
        metrics = components.metrics(list(self.metrics), self.seed, self.params)
        self.meta_settings()  # ValueError naming a bad [meta] setting
        self.sweep_variants(metrics)  # ValueError naming a bad [sweep.<metric>] entry
        for spec in self.model_specs():
            if not is_model_file(spec):
                self.architecture(spec)  # ValueError naming a bad setting
        return self

    def _check_params(self) -> None:
        """Each ``[params.NAME]`` is a table naming one method, metric or zoo model of the run."""
        zoo = [m for m in self.model_specs() if not is_model_file(m)]
        known = self._components()
        for name, p in self.params.items():
            if name not in known:
                if name in self.datasets:
                    raise ValueError(f"[params.{name}] names a dataset; datasets take no settings")
                raise ValueError(
                    f"[params.{name}] names no method, metric or model of this run "
                    f"(methods: {', '.join(self.methods)}; metrics: {', '.join(self.metrics)}; "
                    f"models: {', '.join(zoo) or 'none but model files'})"
                )
            if is_model_file(name):
                raise ValueError(
                    f"[params.{name}] names a model file; a .keras model takes no settings "
                    "(only zoo models do)"
                )
            also = "method" if name in self.methods else "metric" if name in self.metrics else ""
            if name in zoo and also:
                raise ValueError(
                    f"[params.{name}] is ambiguous: {name!r} is both a model and a {also} of "
                    "this run; register one of them under another name"
                )
            if not isinstance(p, dict):
                raise ValueError(f"[params.{name}] must be a table of settings, got {p!r}")


def check_imports(modules, where: str = "imports") -> tuple[str, ...]:
    """``modules`` as a tuple of distinct module names (``my_package.methods``); ValueError naming
    the first that is not one (``where``: how the message names the list)."""
    if isinstance(modules, str) or not isinstance(modules, list | tuple):
        raise ValueError(f"{where} must be a list of module names, got {modules!r}")
    for name in modules:
        if not isinstance(name, str) or not all(p.isidentifier() for p in name.split(".")):
            raise ValueError(
                f"{where}: {name!r} is not a module name (dotted Python identifiers, "
                "like my_package.methods)"
            )
    if len(set(modules)) != len(modules):
        raise ValueError(f"{where} lists a module twice: {list(modules)}")
    return tuple(modules)


def _check_names(
    kind: str, names, valid: list[str], missing: dict | None = None, alternative: str = ""
) -> None:
    """One ValueError naming every name of ``names`` not in ``valid``, each with its close
    matches, then the valid names (and ``alternative``: what else a name may be). A name in
    ``missing`` (known but not installed here) is reported with how to get it."""
    for name in names:
        if missing and name in missing:
            raise ValueError(f"{kind} {name!r} is not available here: {missing[name]}")
    unknown = [name for name in names if name not in valid]
    if not unknown:
        return
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=3)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    plural = "s" if len(unknown) > 1 else ""
    raise ValueError(
        f"unknown {kind}{plural} {', '.join(parts)}; valid {kind}s: {', '.join(valid)}{alternative}"
    )


def _check_datasets(specs) -> None:
    for spec in specs:
        if is_dataset_path(spec) and not Path(spec).exists():
            raise ValueError(f"dataset {spec!r}: no such file or folder")
    extras = _datasets.extras()
    _check_names(
        "dataset",
        [s for s in specs if not is_dataset_path(s)],
        _datasets.names() + extras,
        alternative=" or an .npz file or a folder of class subfolders",
    )


def _check_models(specs) -> None:
    for spec in specs:
        if torch_spec.is_torch_spec(spec):
            torch_spec.TorchSpec.parse(spec)  # the form and the file
        elif is_model_file(spec) and not Path(spec).is_file():
            raise ValueError(f"model file {spec!r} does not exist")
    _check_names(
        "model",
        [s for s in specs if not is_model_file(s)],
        _models.names(),
        alternative=" or a path to a .keras file or 'torch:<module>:<factory>[@<state_dict>]'",
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
IMAGE_DATASETS = ("digits", "mnist", "shapes")  # the large ones: the realistic suite
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


# The meta-evaluation budget of the built-in suites with ``xaibench run --meta`` (README,
# Which metrics to trust): 2 iterations of 1 perturbation per test and strength on 8 of the
# run's samples, instead of MetaQuantus's 3 x 5 on all of them (~60x the quick suite).
META_BUDGET = {"iterations": 2, "perturbations": 1, "samples": 8}


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
        meta_budget=dict(META_BUDGET),
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
        meta_budget=dict(META_BUDGET),
    )


# The realistic suite: the large built-in datasets (``Source.large``: scenes, 96x96 photographs
# with pasted shapes) with a keras.applications network trained here from scratch
# (``mobilenet_v2``, width 0.35), every method and metric. The heavy methods' budgets follow the
# input size: a forward pass costs ~9x more per image than on the 32x32 datasets, so the
# sampling methods get what the default suite gives them, occlusion keeps its default window
# (1/8 of the side: 12 px, stride 6: 225 positions), and the re-explaining metrics re-explain
# less (4 perturbations, 3 randomised layers of MobileNetV2's 105, batch normalisation included).
LARGE_DATASETS = tuple(n for n in _datasets.names() if _datasets.cls(n).large)
REALISTIC_BUDGETS = {
    "mobilenet_v2": {"epochs": 15},  # trained in < 3 min on 2 cores (README: Built-in suites)
    "rise": {"masks": 128},
    "lime": {"samples": 128},
    "kernel_shap": {"samples": 128},
    "max_sensitivity": {"samples": 4},
    "avg_sensitivity": {"samples": 4},
    "model_randomisation": {"layers": 3},
}


def _realistic() -> RunConfig:
    images = tuple(m for m in CHEAP_METHODS + HEAVY_METHODS if "image" in _methods.cls(m).inputs)
    return RunConfig(
        name="realistic",
        datasets=LARGE_DATASETS,
        models=("mobilenet_v2",),
        methods=images,  # every method that explains images (``Method.inputs``)
        metrics=_all_metrics(),
        samples=32,
        params=dict(REALISTIC_BUDGETS),
        meta_budget=dict(META_BUDGET),
    )


SUITES = {
    "quick": _quick(),
    "default": _default(),
    "full": _default("full", 256, budgets={}, adapters=ADAPTERS),
    "realistic": _realistic(),
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
    base = replace(SUITES["quick"], name=path.stem, params={}, meta_budget={})
    if "datasets" in raw or "models" in raw or "model" in raw:
        base = replace(base, models_per_dataset={})
    values = {}
    for key in LISTS:
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
    if "imports" in raw:
        v = [raw["imports"]] if isinstance(raw["imports"], str) else raw["imports"]
        values["imports"] = check_imports(v, f"config {path}: imports")
    if "params" in raw:
        values["params"] = raw["params"]
    if "meta" in raw:
        table = raw["meta"]
        if not isinstance(table, bool | dict):
            raise ValueError(f"config {path}: meta must be true, false or a [meta] table")
        values["meta"] = ({} if table else None) if isinstance(table, bool) else table
    if "sweep" in raw:
        if not isinstance(raw["sweep"], dict):
            raise ValueError(f"config {path}: sweep must hold [sweep.<metric>] tables")
        values["sweep"] = raw["sweep"]
    return replace(base, **values)
