"""The grid of a run, planned before anything is computed: its (dataset, model) pairs, their
cells with the keys that identify them in the store, and which cells are still to compute.

Nothing here computes a cell or loads a model: ``Plan`` reads the config, the loaded inputs and
the store (``runner`` executes the plan, ``costing`` estimates it, ``artifacts`` keeps what the
report draws).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache, partial

import numpy as np

from xaibench._checks import read_only
from xaibench._fingerprint import component_fingerprint
from xaibench._version import __version__
from xaibench.benchmark import artifacts, components, meta
from xaibench.benchmark.config import RunConfig, display_name, is_model_file
from xaibench.models.training import model_settings as _model_settings
from xaibench.store import DONE, Store, settings_key


def sample_indices(n_test: int, samples: int, seed: int) -> np.ndarray:
    """The test samples a run explains: ``samples`` of them drawn with ``seed``, sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, size=min(samples, n_test), replace=False))


def _data_hash(x: np.ndarray, y: np.ndarray) -> str:
    return hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Cell:
    """One (dataset, model, method, metric) of the grid: its metric, store key, names (``ids``;
    ``ids["variant"]`` for a sweep variant or a meta-evaluation cell) and the settings its key
    hashes; ``meta``: the ``meta.Perturbation`` of a meta-evaluation cell (else None)."""

    metric: object
    key: str
    ids: dict
    settings: dict
    meta: object = None


@dataclass
class Pair:
    """One (dataset, model) of the grid as every method on it sees it: the samples explained,
    the model's spec, the trained model (None until loaded, when it could not be had, or when
    nothing needs it), and why nothing can be computed on it (``reason``: not applicable;
    ``error``: the model failed) if so. ``architecture``: a zoo model's architecture with the
    run's ``[params]`` settings, which the run builds, trains and loads (None for a model file).

    ``planned`` is how many of its cells the progress bar counts so far; ``stored`` holds the
    keys of its cells and artifacts when the store has them all (nothing needs the model).
    ``parts``: the samples' ``Parts`` (``Dataset.interventions``), made on first call and shared
    by the pairs of one dataset; None where the dataset has none."""

    data: object
    spec: str
    arch: str
    idx: np.ndarray
    x: np.ndarray
    y: np.ndarray
    masks: np.ndarray | None
    data_settings: dict
    file: object = None  # a model file's TrainedModel, loaded by preflight
    architecture: object = None  # a zoo model's Architecture, with the run's settings
    trained: object = None
    reason: str | None = None
    error: str | None = None
    planned: int = 0
    stored: tuple[list[str], list[str]] | None = None
    parts: object = None  # () -> datasets.base.Parts, or None

    @property
    def model(self):
        return self.trained.model if self.trained else None

    @property
    def computable(self) -> bool:
        return self.trained is not None and self.reason is None and self.error is None

    @property
    def where(self) -> str:
        """``dataset/model``, as progress and estimates name it."""
        return f"{self.data.name}/{self.arch}"


def expected_model_settings(arch, data) -> dict:
    """The settings ``load_or_train(arch, data)`` gives its model, but for the hash of its
    weights: what is known without loading the model. ``arch`` is a zoo name or the architecture
    with the run's settings (``RunConfig.architecture``), whose ``cache_settings`` (the source of
    a backbone's weights) are part of them."""
    return _model_settings(arch, data)


def recorded_models(store: Store) -> dict[tuple[str, str], dict]:
    """Per (dataset, model), the model settings that the latest run in ``store`` keyed its cells
    by (read before this run starts)."""
    run = store.latest_run()
    if run is None:
        return {}
    cells = store.cells(run["id"]).drop_duplicates(["dataset", "model"])
    return {(c.dataset, c.model): json.loads(c.settings)["model"] for c in cells.itertuples()}


class Plan:
    """The grid of ``config`` on the loaded ``inputs`` (``runner.Inputs``), against ``store``:
    its pairs and cells, and which cells are still to compute. ``recorded``: the model settings
    the store's latest run keyed its cells by (``recorded_models``, read before this run)."""

    def __init__(self, config: RunConfig, store: Store, inputs, recorded: dict):
        self.config, self.store, self.inputs, self.recorded = config, store, inputs, recorded
        self.methods = components.methods(list(config.methods), config.seed, config.params)
        self.metrics = components.metrics(list(config.metrics), config.seed, config.params)
        self.variants = config.sweep_variants(self.metrics)  # {metric name: [sweep.Variant]}
        self.meta = config.meta_settings()  # meta.MetaSettings or None
        # Code fingerprints of the user-registered components, once per run (xaibench's own are
        # covered by its version and add nothing, so their cells keep their keys).
        self.code = {
            (kind, c.name): component_fingerprint(type(c))
            for kind, group in (("method", self.methods), ("metric", self.metrics))
            for c in group
        }

    def code_settings(self, **components) -> dict:
        """``{"<kind>_code": fingerprint}`` of the user-registered ones among ``components``
        (``method=...``, ``metric=...``)."""
        codes = {f"{k}_code": self.code[(k, c.name)] for k, c in components.items()}
        return {key: value for key, value in codes.items() if value is not None}

    def pairs(self) -> list[Pair]:
        """Every (dataset, model) of the run, with its samples and (zoo models) its architecture
        with the run's settings, one per model for all datasets."""
        specs = self.config.model_specs()
        zoo = {m: self.config.architecture(m) for m in specs if not is_model_file(m)}
        pairs = []
        for spec in self.config.datasets:
            data = self.inputs.datasets[spec]
            idx = sample_indices(len(data.y_test), self.config.samples, self.config.seed)
            x, y = read_only(data.x_test[idx]), read_only(data.y_test[idx])  # see own_copies
            masks = read_only(data.masks[idx]) if data.masks is not None else None
            parts = cache(partial(data.interventions, idx)) if data.interventions else None
            data_settings = {
                "dataset": data.name,
                **data.settings,
                "samples": len(idx),
                "sample_seed": self.config.seed,
                "data_hash": _data_hash(x, y),
            }
            for model_spec in self.config.models_for(spec):
                file = self.inputs.model_files.get((model_spec, spec))
                arch = display_name(model_spec)
                pair = Pair(data, model_spec, arch, idx, x, y, masks, data_settings, file)
                pair.architecture, pair.parts = zoo.get(model_spec), parts
                pairs.append(pair)
        return pairs

    def plan(self, pair: Pair) -> int:
        """Settle what ``pair`` needs before any model is loaded; return how many of its cells
        the progress bar counts: not the cells reused from the store, nor those known not to
        apply without running anything (a model that does not take the dataset,
        ``method.applicable``, a metric that needs masks the dataset lacks)."""
        kinds = ("image", "tabular") if pair.architecture is None else pair.architecture.kinds
        if pair.data.kind not in kinds:
            pair.reason = (
                f"model {pair.arch!r} needs {' or '.join(kinds)} data; "
                f"{pair.data.name!r} is {pair.data.kind}"
            )
            return 0
        pair.trained = pair.file
        settings = pair.file.settings if pair.file else self.recorded_settings(pair)
        if settings is not None and pair.file is None:
            pair.stored = self.all_stored(pair, settings)
            if pair.stored is not None:
                return 0
        if settings is None:  # keys unknown until the model is loaded: every cell may run
            methods = sum(self.applies(pair, method) for method in self.methods)
            pair.planned = methods * self.cells_per_method(pair)
        else:
            pair.planned = len(self.to_count(pair, self.cells(pair, settings)))
        return pair.planned

    def recorded_settings(self, pair: Pair) -> dict | None:
        """The model settings the previous run keyed ``pair``'s cells by, when they are those of
        the model ``load_or_train`` gives now: same architecture, dataset, training data, seed,
        zoo version, code and the architecture's ``cache_settings`` (the hash of the weights is
        what only the store knows without loading the model)."""
        settings = self.recorded.get((pair.data.name, pair.arch))
        if settings is None or "weights" not in settings:
            return None
        expected = expected_model_settings(pair.architecture, pair.data)
        return (
            settings if {k: v for k, v in settings.items() if k != "weights"} == expected else None
        )

    def all_stored(self, pair: Pair, model_settings: dict) -> tuple[list[str], list[str]] | None:
        """``(cell keys, artifact keys)`` of ``pair`` when the store holds every one of its cells
        (finished or not applicable) and every artifact the report draws from them (the inputs,
        the inspection, a gallery for each method with scores): then nothing needs the model.
        Else None."""
        keys = artifacts.Keys(self, pair, model_settings)
        wanted = list(keys.model().values())
        cells = []
        for method, group in self.cells(pair, model_settings):
            status = {self.store.status(c.key) for c in group}
            if not status <= set(DONE):
                return None
            if "ok" in status:
                wanted.append(keys.gallery(method))
            cells += [c.key for c in group]
        if not all(self.store.has_artifact(key) for key in wanted):
            return None
        return cells, wanted

    def cells_per_method(self, pair: Pair) -> int:
        """How many cells of one method score on ``pair``: its metrics, their sweep variants and
        their meta-evaluation cells."""
        scored = [m for m in self.metrics if self.scores(pair, m)]
        count = len(scored) + sum(len(self.variants.get(m.name, ())) for m in scored)
        if self.meta is not None:
            count += self.meta.cells_per_metric() * sum(map(meta.evaluated, scored))
        return count

    def cells(self, pair: Pair, model_settings: dict, model_key: str | None = None):
        """``[(method, [Cell])]`` of ``pair``, keyed by ``model_settings``: per method a cell per
        metric of the run, then per sweep variant (``sweep``), then per meta-evaluation cell
        (``meta``: each perturbation's cells together). A variant's key hashes what its
        configured cell's does, with the variant's metric settings and its ``variant`` label; a
        meta cell's, the perturbation's settings (``meta.Perturbation.settings``) too."""
        extra = meta.perturbations(self.meta, self.config.seed, len(pair.idx)) if self.meta else []
        groups = []
        for method in self.methods:
            configured, cells = {}, []
            for metric in self.metrics:
                settings = {
                    "data": pair.data_settings,
                    "model": model_settings,
                    "method": method.get_config(),
                    "metric": metric.get_config(),
                    "version": __version__,
                    **self.code_settings(method=method, metric=metric),
                }
                ids = {
                    "dataset": pair.data.name,
                    "model": pair.arch,
                    "method": method.name,
                    "metric": metric.name,
                    "model_key": model_key,
                    "control": method.control,
                }
                configured[metric.name] = (settings, ids)
                cells.append(Cell(metric, settings_key(settings), ids, settings))
            for metric in self.metrics:
                settings, ids = configured[metric.name]
                for v in self.variants.get(metric.name, ()):
                    s = {**settings, "metric": v.metric.get_config(), "variant": v.label}
                    cells.append(Cell(v.metric, settings_key(s), {**ids, "variant": v.label}, s))
            for p in extra:
                for metric in filter(meta.evaluated, self.metrics):
                    settings, ids = configured[metric.name]
                    s = {**settings, "meta": p.settings(), "variant": p.variant}
                    ids = {**ids, "variant": p.variant}
                    cells.append(Cell(metric, settings_key(s), ids, s, meta=p))
            groups.append((method, cells))
        return groups

    def to_count(self, pair: Pair, groups) -> list[str]:
        """The keys of the cells of ``groups`` still to compute that the bar counts."""
        return [c.key for _, cells in self.pending(pair, groups) for c in cells]

    def pending(self, pair: Pair, groups) -> list[tuple[object, list[Cell]]]:
        """``[(method, cells)]``: the cells of ``groups`` still to compute that the bar counts,
        by method (methods with none left out)."""
        out = []
        for method, cells in groups:
            if not self.applies(pair, method):
                continue
            todo = [
                c
                for c in cells
                if self.store.status(c.key) not in DONE and self.scores(pair, c.metric)
            ]
            if todo:
                out.append((method, todo))
        return out

    def applies(self, pair: Pair, method) -> bool:
        """Whether ``method`` runs on ``pair``, as far as is known without running it (the
        model's part of ``method.applicable`` once the model is loaded)."""
        if pair.reason is not None or pair.error is not None:
            return False
        try:
            return method.applicable(pair.model, pair.x) is None
        except Exception:  # noqa: BLE001 - e.g. a user's check that needs the model: it may run
            return True

    def scores(self, pair: Pair, metric) -> bool:
        """Whether ``metric`` is computed on ``pair``'s attributions (not when it needs masks
        or parts the dataset lacks)."""
        return components.not_applicable(metric, pair.masks, pair.parts) is None
