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
from xaibench._checks import check_positive_int, check_seed, listing, shown
from xaibench.benchmark import components, meta, sweep
from xaibench.benchmark.meta import MetaSettings
from xaibench.benchmark.specs import (
    check_alike,
    check_datasets,
    check_folder_params,
    check_imports,
    check_list,
    check_models,
    check_names,
    is_image_folder,
    is_model_file,
    same_path,
)
from xaibench.benchmark.specs import display_name as display_name  # runner's import
from xaibench.datasets.user import COLOR_MODES, folder_settings

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
    ``workers``: how many local worker processes ``xaibench run`` computes the cells in when
    ``--workers`` does not say (the built-in suites' choice, measured: README, Suites; memory
    and CPUs permitting, ``processes.default_workers``); 1 (this process) for a config file.
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
    left_out: tuple[str, ...] = ()  # lists a config file did not give (the quick suite's ran)
    meta: dict | None = None
    meta_budget: dict = field(default_factory=dict)
    sweep: dict = field(default_factory=dict)
    workers: int = 1

    def to_dict(self) -> dict:
        """The config as the store records it: without the meta-evaluation and the sweeps when
        the run has none (a run's record is then what it was before they existed)."""
        out = asdict(self)
        out.pop("meta_budget")
        out.pop("workers")  # where the cells are computed, not what: the executor's
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
            new["left_out"] = tuple(k for k in self.left_out if k != "models")
        elif datasets is not None:
            new["models_per_dataset"] = {
                d: m for d, m in self.models_per_dataset.items() if d in datasets
            }
        out = replace(self, **new)
        if isinstance(self.params, dict):  # else for validate to report
            kept = {k: v for k, v in self.params.items() if out._takes(k) or not self._takes(k)}
            out = replace(out, params=kept)
        if isinstance(self.sweep, dict):  # else for validate to report
            sweeps = {
                k: v for k, v in self.sweep.items() if k in out.metrics or k not in self.metrics
            }
            if sweep_default:
                sweeps = {**sweep.defaults(out.metrics), **sweeps}
            out = replace(out, sweep=sweeps)
        if meta and out.meta is None:
            out = replace(out, meta=dict(self.meta_budget))
        return out

    def _components(self) -> set[str]:
        """The names a ``[params.NAME]`` may give settings to: methods, metrics, models."""
        return set(self.methods) | set(self.metrics) | set(self.model_specs())

    def _takes(self, name: str) -> bool:
        """Whether ``[params.NAME]`` names a method, metric, model or image folder of the run."""
        return name in self._components() or self._folder(name) is not None

    def _folder(self, name: str) -> str | None:
        """The image folder of the run's datasets that ``name`` names (``photos/``, or another
        path of the same folder), or None."""
        if not isinstance(name, str) or not is_image_folder(name):
            return None
        same = (d for d in self.datasets if is_image_folder(d) and same_path(d, name))
        return next(same, None)

    def folder_params(self, spec: str) -> dict:
        """The settings ``[params."<folder>/"]`` gives the image folder ``spec`` (``{}``)."""
        return next((p for k, p in self.params.items() if self._folder(k) == spec), {})

    def image_settings(self, spec: str, shapes: dict) -> dict:
        """The settings the image folder ``spec`` loads with (``datasets.from_folder``): those of
        its ``[params]``, else the input size and channels of its model files (``shapes``: file
        -> input shape, ``None`` where free) when they agree; a zoo model takes any size, so
        without either it is ``DEFAULT_IMAGE_SIZE`` in RGB. ValueError naming the setting when
        the files disagree."""
        given = self.folder_params(spec)
        settings = {}
        modes = {c: mode for mode, c in COLOR_MODES.items()}
        for key, part in (("image_size", slice(0, 2)), ("color_mode", slice(2, 3))):
            if key in given:
                continue
            seen = {m: s[part] for m, s in shapes.items() if s and len(s) == 3}
            seen = {m: v for m, v in seen.items() if None not in v}
            if len(set(seen.values())) > 1:
                files = "; ".join(f"{Path(m).name}: {shapes[m]}" for m in seen)
                raise ValueError(
                    f"image folder {spec!r}: its model files take different inputs ({files}), "
                    f'but a folder loads at one size per run: set {key} in [params."{spec}"] '
                    "and run the models that take it"
                )
            if seen and key == "image_size":
                settings[key] = list(next(iter(seen.values())))
            elif seen and next(iter(seen.values()))[0] in modes:
                settings[key] = modes[next(iter(seen.values()))[0]]
        return folder_settings(**{**settings, **given})

    def notes(self) -> list[str]:
        """What the run does that its config did not ask for (printed with the estimate): the
        quick suite's models, trained on the config's data when it lists no ``models``."""
        if "models" not in self.left_out:
            return []
        specs = self.model_specs()
        quick = [m for m in specs if m in SUITES["quick"].model_specs()]
        which = "" if quick == list(specs) else f"{', '.join(quick)}: "
        return [
            f"models {listing(specs)} ({which}the quick suite's, trained on this data as the "
            "config lists no models; set models = [...] or --models to choose)"
        ]

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
        """Check every name, setting and value now, before any work (ValueError naming the key or
        the names): nothing a run reads from its config may fail later, after its store exists."""
        check_positive_int(self.samples, "samples")
        check_seed(self.seed, "seed")
        check_imports(self.imports)
        for key in LISTS:
            check_list(key, getattr(self, key))
        check_datasets(self.datasets)
        self._check_models_per_dataset()
        check_models(self.model_specs())
        check_names("method", self.methods, _methods.names(), _methods.missing())
        check_names("metric", self.metrics, _metrics.names(), _metrics.missing())
        self._check_result_names()
        self._check_params()
        components.methods(list(self.methods), self.seed, self.params)
        metrics = components.metrics(list(self.metrics), self.seed, self.params)
        self.meta_settings()  # ValueError naming a bad [meta] setting
        self.sweep_variants(metrics)  # ValueError naming a bad [sweep.<metric>] entry
        for spec in self.model_specs():
            if not is_model_file(spec):
                self.architecture(spec)  # ValueError naming a bad setting
        return self

    def _check_models_per_dataset(self) -> None:
        if not isinstance(self.models_per_dataset, dict):
            raise ValueError(
                "[models_per_dataset] must map dataset names to lists of models, got "
                f"{shown(self.models_per_dataset)}"
            )
        for dataset, models in self.models_per_dataset.items():
            if dataset not in self.datasets:
                raise ValueError(
                    f"[models_per_dataset] names {shown(dataset)}, which is not in datasets "
                    f"({listing(self.datasets)})"
                )
            check_list(f"[models_per_dataset] {dataset}", models)

    def _check_result_names(self) -> None:
        """Two datasets, or two models of one dataset, that the results would name alike
        (``digits`` and ``data/digits.npz``): their rows would be one."""
        check_alike("datasets", self.datasets, "", "rename one of the files or folders")
        for dataset in self.datasets:
            where = f" (of dataset {dataset!r})" if self.models_per_dataset else ""
            check_alike("models", self.models_for(dataset), where, "rename the .keras file")

    def _check_params(self) -> None:
        """Each ``[params.NAME]`` is a table naming one method, metric or zoo model of the run."""
        if not isinstance(self.params, dict):
            raise ValueError(
                f"params must be tables of settings by name ([params.NAME]), got {shown(self.params)}"
            )
        zoo = [m for m in self.model_specs() if not is_model_file(m)]
        known = self._components()
        folders = [d for d in self.datasets if is_image_folder(d)]
        for name, p in self.params.items():
            if self._folder(name) is not None:
                check_folder_params(name, p)
                continue
            if name not in known:
                if name in self.datasets:
                    raise ValueError(
                        f"[params.{name}] names a dataset; only image folders take settings "
                        '([params."photos/"] image_size, color_mode)'
                    )
                close = difflib.get_close_matches(str(name), sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"[params.{name}] names no method, metric, model or image folder of this "
                    f"run{hint} (methods: {listing(self.methods)}; metrics: {listing(self.metrics)}; "
                    f"models: {listing(zoo) or 'none but model files'}; "
                    f"image folders: {listing(folders) or 'none'})"
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
                raise ValueError(f"[params.{name}] must be a table of settings, got {shown(p)}")


def load_dataset(spec: str, settings: dict | None = None):
    """The dataset of a spec: a built-in name, an ``.npz`` file or a folder of images (loaded
    with ``settings``: ``RunConfig.image_settings``)."""
    if spec.endswith(".npz"):
        return _datasets.from_npz(spec)
    if is_image_folder(spec):
        return _datasets.from_folder(spec, **(settings or {}))
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
# fits 10 minutes on 2 cores; the full suite uses the papers' defaults. The re-explaining metrics
# multiply a method's cost (sensitivity: once per perturbation; model_randomisation: once per
# randomised layer, ten on cnn_deep; sMPRT: once per noisy copy), so the heavy methods on cnn_deep
# dominate: measured on an idle 2-core machine from an empty model cache (two worker processes),
# 22.4 min with 128 samples, 8 perturbations, 5 layers and 3 sMPRT copies, 9.9 min with these and
# 64 samples; with 56, README: Built-in suites (which also gives what the cut costs in CI width and ranks).
DEFAULT_BUDGETS = {
    "rise": {"masks": 128},
    "lime": {"samples": 128},
    "kernel_shap": {"samples": 128},
    "max_sensitivity": {"samples": 4},
    "avg_sensitivity": {"samples": 4},
    "model_randomisation": {"layers": 3},
    # sMPRT re-explains samples - 1 + steps x samples times per sample: the paper's 50 noisy
    # copies at every layer are 249 on the 4-layer cnn; 2 copies (one noisy, the input) measured
    # once, after every layer is random, are 3, as many as model_randomisation's
    "smooth_mprt": {"samples": 2, "layers": 1},
}
DEFAULT_SAMPLES = 56


# The meta-evaluation budget of the built-in suites with ``xaibench run --meta`` (README,
# Which metrics to trust): 2 iterations of 1 perturbation per test and strength on 8 of the
# run's samples, instead of MetaQuantus's 3 x 5 on all of them (~60x the quick suite).
META_BUDGET = {"iterations": 2, "perturbations": 1, "samples": 8}


def _all_metrics() -> tuple[str, ...]:
    return tuple(n for n in _metrics.names() if _metrics.cls(n).__module__.startswith("xaibench."))


# What keeps the quick suite within 90 s on 2 cores (and CI's regression gate lean): sensitivity
# with 4 perturbations and sMPRT with one noisy copy and the input itself, as the default suite
# (README: Built-in suites, with what they cost in ranks).
QUICK_BUDGETS = {
    k: DEFAULT_BUDGETS[k] for k in ("max_sensitivity", "avg_sensitivity", "smooth_mprt")
}


def _quick() -> RunConfig:
    return RunConfig(
        name="quick",
        datasets=("digits", "shapes", "breast_cancer"),
        models=("linear", "cnn"),
        models_per_dataset={"breast_cancer": ("linear", "mlp")},
        methods=CHEAP_METHODS,
        metrics=_all_metrics(),
        samples=32,
        params=dict(QUICK_BUDGETS),
        meta_budget=dict(META_BUDGET),
        workers=2,  # worker processes, as the machine affords (README: Built-in suites)
    )


def _default(
    name: str = "default", samples: int = DEFAULT_SAMPLES, budgets=None, adapters=()
) -> RunConfig:
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
        workers=2,  # as quick
    )


# The realistic suite: the large built-in datasets (``Source.large``: scenes, 96x96 photographs
# with pasted shapes) with a keras.applications network trained here from scratch
# (``mobilenet_v2``, width 0.35), every method and metric. The heavy methods' budgets follow the
# input size: a forward pass costs ~9x more per image than on the 32x32 datasets, so the
# sampling methods get what the default suite gives them, occlusion keeps its default window
# (1/8 of the side: 12 px, stride 6: 225 positions), and the re-explaining metrics re-explain
# less (4 perturbations, 3 randomised layers of MobileNetV2's 105, batch normalisation included;
# sMPRT 1 noisy copy and the input, measured once every layer is random).
LARGE_DATASETS = tuple(n for n in _datasets.names() if _datasets.cls(n).large)
REALISTIC_BUDGETS = {
    "mobilenet_v2": {"epochs": 15},  # trained in < 3 min on 2 cores (README: Built-in suites)
    "rise": {"masks": 128},
    "lime": {"samples": 128},
    "kernel_shap": {"samples": 128},
    "max_sensitivity": {"samples": 4},
    "avg_sensitivity": {"samples": 4},
    "model_randomisation": {"layers": 3},
    "smooth_mprt": {"samples": 2, "layers": 1},  # as quick: 3 re-explanations, like the above
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
    """Read a TOML run configuration; unknown keys and values of the wrong type raise ValueError
    naming them (``RunConfig.validate`` checks the rest)."""
    path = Path(path)
    raw = _read_toml(path)
    try:
        check_names("key", sorted(set(raw) - set(KEYS)), list(KEYS))  # with "did you mean"
    except ValueError as err:
        raise ValueError(f"config {path}: {err}") from None
    left_out = ("models",) if "models" not in raw else ()
    base = replace(
        SUITES["quick"], name=path.stem, params={}, left_out=left_out, meta_budget={}, workers=1
    )
    if "datasets" in raw or "models" in raw or "model" in raw:
        base = replace(base, models_per_dataset={})
    values = {key: _names(path, key, raw[key]) for key in LISTS if key in raw}
    if "model" in raw:
        extra = _names(path, "model", raw["model"])
        values["models"] = tuple(values.get("models", SUITES["quick"].models)) + extra
    if "models_per_dataset" in raw:
        table = raw["models_per_dataset"]
        if not isinstance(table, dict):
            raise ValueError(
                f"config {path}: [models_per_dataset] must map dataset names to lists of "
                f"models, got {shown(table)}"
            )
        values["models_per_dataset"] = {
            k: _names(path, f"[models_per_dataset] {k}", v) for k, v in table.items()
        }
    for key in ("samples", "seed", "params"):
        if key in raw:
            values[key] = raw[key]
    if "imports" in raw:
        v = [raw["imports"]] if isinstance(raw["imports"], str) else raw["imports"]
        values["imports"] = check_imports(v, f"config {path}: imports")
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


# Tables and arrays nested deeper than this in a config are refused: no setting needs more, and
# deeper ones would exhaust Python's recursion wherever a value is read, printed or hashed.
MAX_DEPTH = 16


def _read_toml(path: Path) -> dict:
    """The TOML table of the config file ``path`` (a UTF-8 byte order mark is skipped);
    ValueError saying why it cannot be read."""
    if not path.exists():
        raise ValueError(f"config file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"config file {path} is not a file")
    try:
        text = path.read_bytes().decode("utf-8")
        raw = tomllib.loads(text.removeprefix("\ufeff"))
    except OSError as err:
        raise ValueError(f"config file {path} cannot be read: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise ValueError(
            f"config file {path} is not UTF-8 text (byte {err.start}: {err.object[err.start]:#x})"
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {path} is not valid TOML: {err}") from err
    except RecursionError:
        raise ValueError(
            f"config file {path} nests arrays or tables too deeply (at most {MAX_DEPTH} levels)"
        ) from None
    if _depth(raw) > MAX_DEPTH:
        raise ValueError(
            f"config file {path} nests arrays or tables too deeply (at most {MAX_DEPTH} levels)"
        )
    return raw


def _depth(value) -> int:
    """How deeply ``value`` nests lists and dicts (0 for a number or a string), without
    recursion."""
    deepest, level = 0, [value]
    while level:
        children = []
        for v in level:
            children += v.values() if isinstance(v, dict) else v if isinstance(v, list) else []
        if children:
            deepest += 1
        level = children
    return deepest


def _names(path: Path, key: str, value) -> tuple[str, ...]:
    """The value of ``key`` in config ``path`` as a tuple of names (a string is one name)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"config {path}: {key} must be a list of names, got {shown(value)}")
    return tuple(value)
