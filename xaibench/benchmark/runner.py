"""The grid runner behind ``xaibench run``: datasets x models x methods x metrics.

Every finished cell is committed to the store at once; a cell whose settings match one already
stored (finished or not applicable) is reused, so an interrupted run resumes where it stopped when
started again with the same command. A cell that raises is stored with its error text and the run
goes on; failed cells are computed again by the next run.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from xaibench._fingerprint import component_fingerprint
from xaibench._tf import keras, tf
from xaibench._version import __version__
from xaibench.benchmark import components, cost
from xaibench.benchmark.config import RunConfig, display_name, is_model_file, load_dataset
from xaibench.benchmark.executors import (
    MethodResult,
    Staged,
    Work,
    compute_method,
    error_text,
    executor,
    worker_peak_mb,
)
from xaibench.datasets.base import check_dataset
from xaibench.metrics.cost.runtime import model_calls
from xaibench.models.inspect import first_layer_view
from xaibench.models.training import load_file, load_or_train, model_settings
from xaibench.store import DONE, Store, settings_key


@dataclass
class RunResult:
    """What a run did, and where its outputs are."""

    out: Path
    run_id: int
    total: int = 0
    computed: int = 0
    reused: int = 0
    not_applicable: int = 0
    failures: list[dict] = field(default_factory=list)
    leaderboard: pd.DataFrame | None = None
    artifacts: int = 0  # report artifacts (gallery, inspection) written by this run
    estimate: cost.Estimate | None = None  # the cost estimate of the cells it computed
    peak_memory_mb: float | None = None  # the peak resident memory of this process

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0


def versions() -> dict:
    return {
        "xaibench": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def sample_indices(n_test: int, samples: int, seed: int) -> np.ndarray:
    """The test samples a run explains: ``samples`` of them drawn with ``seed``, sorted."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, size=min(samples, n_test), replace=False))


# Samples per (dataset, model) kept for the report's saliency gallery.
GALLERY = 4


def gallery_index(y: np.ndarray, k: int = GALLERY) -> np.ndarray:
    """Up to ``k`` positions into ``y`` for the gallery: the first sample of each class in turn,
    then the next samples, so the gallery shows as many classes as it can."""
    _, first = np.unique(y, return_index=True)
    chosen = list(np.sort(first)[:k])
    rest = [i for i in range(len(y)) if i not in chosen]
    return np.sort(np.array(chosen + rest[: k - len(chosen)], dtype=int))


def _data_hash(x: np.ndarray, y: np.ndarray) -> str:
    return hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class Cell:
    """One (dataset, model, method, metric) of the grid: its metric, store key, names and the
    settings its key hashes."""

    metric: object
    key: str
    ids: dict
    settings: dict


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


def expected_model_settings(arch, data) -> dict:
    """The settings ``load_or_train(arch, data)`` gives its model, but for the hash of its
    weights: what is known without loading the model. ``arch`` is a zoo name or the architecture
    with the run's settings (``RunConfig.architecture``), whose ``cache_settings`` (the source of
    a backbone's weights) are part of them."""
    return model_settings(arch, data)


def recorded_models(store: Store) -> dict[tuple[str, str], dict]:
    """Per (dataset, model), the model settings that the latest run in ``store`` keyed its cells
    by (read before this run starts)."""
    run = store.latest_run()
    if run is None:
        return {}
    cells = store.cells(run["id"]).drop_duplicates(["dataset", "model"])
    return {(c.dataset, c.model): json.loads(c.settings)["model"] for c in cells.itertuples()}


@dataclass
class _Task:
    """One method's pending cells on one pair, as sent to the executor."""

    method: object
    pending: list[Cell]
    pair: Pair
    gallery: str


class _Untrained(Exception):
    """Raised through ``load_or_train``'s log when the model is not cached (it would train)."""


def _cached_only(message: str) -> None:
    if message.startswith("training "):  # load_or_train is about to train (see _Grid.load)
        raise _Untrained


class _Grid:
    """One run's progress through the grid, writing every cell to the store.

    The progress bar counts the cells that run code: not the cells reused from the store, nor
    those known not to apply without running anything (a model that does not take the dataset,
    ``method.applicable``, a metric that needs masks the dataset lacks). A metric that finds it
    does not apply only while scoring (it raises NotApplicable) is counted. The total is planned
    before any model is loaded and corrected as each model is loaded (the cells' keys hash the
    model's weights; a conv-only method learns then that a model has no convolutions)."""

    def __init__(
        self, config: RunConfig, store: Store, *, run_id, bar, result, ex, inputs, recorded
    ):
        self.config, self.store, self.run_id, self.bar = config, store, run_id, bar
        self.result, self.executor, self.inputs = result, ex, inputs
        self.recorded = recorded  # recorded_models(store) before this run
        self.counted: set[str] = set()  # keys of the cells the bar counts
        self.memory = cost.PeakMemory()  # from here on: the run's peak memory
        self.estimates: dict[tuple, cost.CellEstimate] = {}  # by CellEstimate.key
        self.remaining: cost.Remaining | None = None  # the ETA
        self.where = ""  # the pair being computed, "dataset/model"
        self.methods = components.methods(list(config.methods), config.seed, config.params)
        self.metrics = components.metrics(list(config.metrics), config.seed, config.params)
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

    def stage(self, text: str, pair: Pair | None = None) -> None:
        """Show what the run is doing now in the progress bar (and on which pair)."""
        if pair is not None:
            self.where = f"{pair.data.name}/{pair.arch}"
        self.bar.set_postfix_str(self.postfix(), refresh=False)
        self.bar.set_description(text)

    def postfix(self) -> str:
        """The bar's postfix: the pair, and the time left by the cost model (``Remaining``)."""
        if self.remaining is None or not self.remaining.left:
            return self.where
        return f"{self.where}, ~{cost.duration(self.remaining.seconds())} left"

    def put(self, key, ids, metric, status, settings, **data) -> None:
        ident = (ids["dataset"], ids["model"], ids["method"], ids["metric"])
        estimate = self.estimates.get(ident)
        self.store.put_cell(
            key,
            ids=ids,
            metric=metric,
            status=status,
            settings=settings,
            version=__version__,
            run_id=self.run_id,
            estimated_seconds=estimate.seconds if estimate else None,
            **data,
        )
        if self.remaining is not None:
            self.remaining.finish(ident)
        if status == "error":
            first = data["error"].splitlines()[0]
            self.result.failures.append({**ids, "error": first})
            self.bar.write(
                f"  failed: {ids['dataset']}/{ids['model']}/{ids['method']}/{ids['metric']}: {first}"
            )
        elif status == "not_applicable":
            self.result.not_applicable += 1
        self.result.computed += 1
        if key in self.counted:
            self.bar.set_postfix_str(self.postfix(), refresh=False)
            self.bar.update(1)

    # the grid, planned before any model is loaded -----------------------------------------------

    def pairs(self) -> list[Pair]:
        """Every (dataset, model) of the run, with its samples and (zoo models) its architecture
        with the run's settings, one per model for all datasets."""
        specs = self.config.model_specs()
        zoo = {m: self.config.architecture(m) for m in specs if not is_model_file(m)}
        pairs = []
        for spec in self.config.datasets:
            data = self.inputs.datasets[spec]
            idx = sample_indices(len(data.y_test), self.config.samples, self.config.seed)
            x, y = data.x_test[idx], data.y_test[idx]
            masks = data.masks[idx] if data.masks is not None else None
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
                pairs.append(
                    Pair(
                        data,
                        model_spec,
                        arch,
                        idx,
                        x,
                        y,
                        masks,
                        data_settings,
                        file,
                        architecture=zoo.get(model_spec),
                        parts=parts,
                    )
                )
        return pairs

    def plan(self, pair: Pair) -> int:
        """Settle what ``pair`` needs before any model is loaded; return how many of its cells
        the progress bar counts (see the class)."""
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
            pair.planned = methods * sum(self.scores(pair, metric) for metric in self.metrics)
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
        artifacts = list(self.model_artifact_keys(pair, model_settings).values())
        keys = []
        for method, cells in self.cells(pair, model_settings):
            status = {self.store.status(c.key) for c in cells}
            if not status <= set(DONE):
                return None
            if "ok" in status:
                artifacts.append(self.gallery_key(pair, model_settings, method))
            keys += [c.key for c in cells]
        if not all(self.store.has_artifact(key) for key in artifacts):
            return None
        return keys, artifacts

    def cells(self, pair: Pair, model_settings: dict, model_key: str | None = None):
        """``[(method, [Cell per metric])]`` of ``pair``, keyed by ``model_settings``."""
        groups = []
        for method in self.methods:
            cells = []
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
                cells.append(Cell(metric, settings_key(settings), ids, settings))
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

    # the cost, estimated before anything is computed ---------------------------------------------

    def estimate(self, pairs: list[Pair], parallel: int = 1) -> cost.Estimate:
        """The cost of the cells still to compute (``plan`` first), on ``parallel`` processes;
        it becomes the ETA of the progress bar (``Remaining``)."""
        estimate = cost.Estimate(parallel=parallel)
        for pair in pairs:
            if pair.planned:
                self.estimate_pair(pair, estimate)
        self.estimates = {c.key: c for c in estimate.cells}
        self.remaining = cost.Remaining(estimate)
        return estimate

    def estimate_pair(self, pair: Pair, estimate: cost.Estimate) -> None:
        """Add ``pair``'s cells to compute (and its training) to ``estimate``, from a probe of its
        model (``probe_model``) and what its methods and metrics declare."""
        where = f"{pair.arch} on {pair.data.name}"
        self.stage(f"estimating the cost: loading {where}", pair)
        model, untrained = self.probe_model(pair)
        if pair.trained is not None:  # the cells' keys are known: those still to compute
            groups = self.pending(pair, self.cells(pair, pair.trained.settings, pair.trained.key))
            tasks = [(method, [c.metric for c in cells]) for method, cells in groups]
        else:
            metrics = [metric for metric in self.metrics if self.scores(pair, metric)]
            tasks = [(m, metrics) for m in self.methods if metrics and self.applies(pair, m)]
        names = (pair.data.name, pair.arch)
        timing, why = None, "its model could not be had to time it"
        if model is not None:
            self.stage(f"estimating the cost: timing {where}", pair)
            impute = any(cost.needs_imputation(m, ms, pair.x, model) for m, ms in tasks)
            try:
                timing = cost.probe(model, pair.x, pair.y, imputation=impute)
            except Exception as err:  # noqa: BLE001 - the cells say why their cost is unknown
                why = f"its model could not be timed: {type(err).__name__}: {err}"
        for method, metrics in tasks:
            if timing is None:
                estimate.cells += [
                    cost.CellEstimate(*names, method.name, m.name, None, why) for m in metrics
                ]
            else:
                estimate.cells += cost.task_estimates(names, method, metrics, pair.x, model, timing)
        if untrained is not None:
            estimate.training["/".join(names)] = self.training_estimate(pair, model, untrained)

    def training_estimate(self, pair: Pair, model, spec) -> float | None:
        """The longest training of ``pair``'s model (architecture ``spec``, built untrained as
        ``model``), from a training step timed on it; None when it cannot be timed."""
        self.stage(f"estimating the cost: timing the training of {pair.arch}", pair)
        try:
            timing = cost.probe_training(spec, model, pair.x, pair.y)
        except Exception:  # noqa: BLE001 - the training's time is then unknown (and said so)
            return None
        return cost.training_seconds(spec.max_epochs, len(pair.data.x_train), timing)

    def probe_model(self, pair: Pair) -> tuple[object, object]:
        """``(model, architecture)``: the model to time for ``pair``, its file's or the cached
        model (loaded now and kept for the run; architecture None), else its architecture built
        untrained and that architecture (the run trains it); ``(None, None)`` when neither can
        be had (the run records why when it loads the model). ValueError from the
        architecture's ``check_training`` when the run could not train it."""
        if pair.trained is None:
            try:
                pair.trained = load_or_train(pair.architecture, pair.data, log=_cached_only)
            except Exception:  # noqa: BLE001 - _Untrained, or an error recorded by ``load``
                pass
        if pair.trained is not None:
            return pair.trained.model, None
        spec = pair.architecture
        try:
            # the run would train it: what cannot be trained (ImageNet weights missing from
            # Keras's cache, a network too large to train from scratch) is the user's error,
            # said now (its ValueError propagates)
            spec.check_training(tuple(pair.data.input_shape))
        except ValueError:
            raise
        except Exception:  # noqa: BLE001 - a user's check that fails: the load records it
            return None, None
        try:
            return spec.build(pair.data.input_shape, pair.data.n_classes, 0), spec
        except Exception:  # noqa: BLE001 - a user's architecture: its cost is unknown
            return None, None

    # running ------------------------------------------------------------------------------------

    def run_pair(self, pair: Pair) -> None:
        """Every cell of ``pair``: reused from the store, or computed on its model (trained or
        loaded now)."""
        if pair.stored is not None:
            keys, artifacts = pair.stored
            self.store.link(self.run_id, keys)
            for key in artifacts:
                self.store.reuse_artifact(self.run_id, key)
            self.result.reused += len(keys)
            return
        if pair.reason is None and pair.trained is None:
            self.load(pair)
            if self.remaining is not None:
                self.remaining.finish(f"{pair.data.name}/{pair.arch}")
        trained = pair.trained
        model_settings = (
            trained.settings if trained else {"model": pair.spec, "dataset": pair.data.name}
        )
        model_key = trained.key if trained else settings_key(model_settings)
        if trained:
            self.store.put_model(
                model_key,
                pair.data.name,
                pair.arch,
                trained.accuracy,
                trained.params,
                model_settings,
            )
            self.model_artifacts(pair)
        groups = self.cells(pair, model_settings, model_key)
        counted = self.to_count(pair, groups)
        self.counted.update(counted)
        self.bar.total += len(counted) - pair.planned  # now that the model is known
        pair.planned = len(counted)
        self.bar.refresh()
        for method, cells in groups:
            self.store.link(self.run_id, [c.key for c in cells])
            pending = [c for c in cells if self.store.status(c.key) not in DONE]
            self.result.reused += len(cells) - len(pending)
            gallery = self.gallery_key(pair, model_settings, method)
            if pending:
                self.run_method(method, pending, pair, gallery)
            elif pair.computable:
                self.gallery(gallery, trained, method, pair.x, pair.y, None)

    def load(self, pair: Pair) -> None:
        """Load ``pair``'s model from the cache, or train it (the bar says so while it trains);
        a failure is kept in ``pair.error`` for its cells."""
        where = f"{pair.arch} on {pair.data.name}"
        self.stage(f"loading {where}", pair)

        def log(message: str) -> None:
            if message.startswith("training "):  # load_or_train is about to train
                self.stage(f"training {where}", pair)
            self.bar.write(message)

        try:
            pair.trained = load_or_train(pair.architecture, pair.data, log=log)
        except Exception as err:  # noqa: BLE001 - recorded in every cell of this model
            pair.error = error_text(err)

    def artifact_key(self, kind, data_settings, model_settings, method=None) -> str:
        config = method.get_config() if method is not None else None
        return settings_key(
            {
                "artifact": kind,
                "data": data_settings,
                "model": model_settings,
                "method": config,
                "gallery": GALLERY,
                "version": __version__,
                **(self.code_settings(method=method) if method is not None else {}),
            }
        )

    def model_artifact_keys(self, pair: Pair, model_settings: dict) -> dict[str, str]:
        """The keys of the report's artifacts of ``pair``'s model: the gallery's inputs, and the
        model inspection (image data only)."""
        kinds = ("inputs", "inspection") if pair.data.kind == "image" else ("inputs",)
        return {k: self.artifact_key(k, pair.data_settings, model_settings) for k in kinds}

    def gallery_key(self, pair: Pair, model_settings: dict, method) -> str:
        return self.artifact_key("gallery", pair.data_settings, model_settings, method)

    def keep(self, key, kind, dataset, model, arrays, method=None) -> None:
        self.store.put_artifact(
            key,
            run_id=self.run_id,
            dataset=dataset,
            model=model,
            method=method,
            kind=kind,
            arrays=arrays,
        )
        self.result.artifacts += 1

    def model_artifacts(self, pair: Pair) -> None:
        """The gallery's inputs and the model inspection (first layer) for the report."""
        trained, data, x, y = pair.trained, pair.data, pair.x, pair.y
        g = gallery_index(y)
        keys = self.model_artifact_keys(pair, trained.settings)
        if not self.store.reuse_artifact(self.run_id, keys["inputs"]):
            arrays = {"x": x[g], "y": y[g], "class_names": np.array(data.class_names, str)}
            if getattr(data, "feature_names", None) is not None:
                arrays["feature_names"] = np.array(data.feature_names, str)
            self.keep(keys["inputs"], "inputs", data.name, pair.arch, arrays)
        key = keys.get("inspection")
        if key is None or self.store.reuse_artifact(self.run_id, key):
            return
        view = first_layer_view(trained.model, x[g[:1]])
        if view is not None:
            arrays = {"x": x[g[0]], **view, "layer": np.array(view["layer"])}
            self.keep(key, "inspection", data.name, pair.arch, arrays)

    def gallery(self, key, trained, method, x, y, a) -> None:
        """Keep the gallery samples' attributions of ``method``: from ``a`` when the run has just
        computed them, else (its cells all reused from an earlier version) explained afresh."""
        if self.store.reuse_artifact(self.run_id, key):
            return
        g = gallery_index(y)
        if a is None and method.applicable(trained.model, x) is not None:
            return
        try:
            a = method(trained.model, x[g], y[g]) if a is None else a[g]
        except Exception:  # noqa: BLE001 - the gallery is illustration; the cells hold the errors
            return
        arrays = {"attributions": np.asarray(a, dtype=np.float32)}
        self.keep(key, "gallery", trained.dataset, trained.name, arrays, method=method.name)

    def run_method(self, method, pending: list[Cell], pair: Pair, gallery: str) -> None:
        """Explain and score every pending metric of ``method`` on the executor; each cell is
        stored when its task returns."""
        work = Work(method, [c.metric for c in pending], pair.x, pair.y, pair.masks)
        if pair.parts is not None and any(c.metric.needs_parts for c in pending):
            work.parts = pair.parts()
        work.reason, work.error = pair.reason, pair.error
        task = _Task(method, pending, pair, gallery)
        done = partial(self.finish_method, task)
        if pair.reason is not None or pair.error is not None:  # nothing to compute: no task
            done(compute_method(pair.model, work), None)
            return
        counted = {c.metric.name for c in pending if c.key in self.counted}
        if self.executor.name != "local":
            self.stage(f"sending {method.name} to Dask", pair)
        else:

            def announce(metric):  # the stages of the cells that run code
                if metric.name in counted:
                    self.stage(f"scoring {metric.name}")

            if counted:
                self.stage(f"explaining {method.name}", pair)
            # each cell's peak memory, measured in this process (on Dask, by the worker)
            work.metrics = Staged(work.metrics, self.memory, announce)
        self.executor.submit(pair.trained.key, pair.model, work, on_done=done)

    def finish_method(self, task: _Task, out, err):
        """Store the cells of one method's task (``out``), or its failure ``err`` in all of them."""
        method, pending, pair, gallery = task.method, task.pending, task.pair, task.gallery
        if err is not None:
            out = MethodResult(outcomes=[("error", {"error": error_text(err)})] * len(pending))
        try:
            calls = model_calls(method, pair.x)
        except Exception:  # noqa: BLE001 - a malformed declaration: unknown, the cells are kept
            calls = None
        for i, (cell, (status, fields)) in enumerate(zip(pending, out.outcomes, strict=True)):
            if status == "ok":
                fields = {
                    **fields,
                    "samples": pair.idx,
                    "explain_seconds": out.explain_seconds,
                    "calls": calls,
                    "peak_memory_mb": out.peaks[i] if out.peaks else None,
                }
            self.put(cell.key, cell.ids, cell.metric, status, cell.settings, **fields)
        if pair.trained and out.a is not None:
            self.gallery(gallery, pair.trained, method, pair.x, pair.y, out.a)


@dataclass
class Inputs:
    """Every dataset of a run and every model file, loaded and checked before any work."""

    datasets: dict = field(default_factory=dict)  # spec -> Dataset
    model_files: dict = field(default_factory=dict)  # (model spec, dataset spec) -> TrainedModel


# The bar shows the cells done and the time elapsed; the time left comes from the cost model in
# its postfix (``_Grid.postfix``), not from tqdm's rate of cells, which knows no cell's cost.
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def progress_bar(total: int, *, enabled: bool = True) -> tqdm:
    """The run's progress bar over the ``total`` cells to compute (on stderr). Its rate is the
    mean since the start (``smoothing=0``); its ETA is the cost model's (``cost.Remaining``): the
    estimate of the cells left, rescaled by the measured over the estimated time of those done."""
    bar = tqdm(
        total=total,
        desc="xaibench" if total else "nothing to compute",
        unit="cell",
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0,
        bar_format=BAR_FORMAT,
    )
    return bar


def preflight(config: RunConfig) -> Inputs:
    """Load and check every dataset and model file of ``config``: ValueError naming the file
    and the problem, before the store is opened and before any cell is computed."""
    inputs = Inputs()
    for spec in config.datasets:
        try:
            data = load_dataset(spec)
        except ValueError:
            raise
        except Exception as err:  # noqa: BLE001 - a user's loader or file: say which one
            raise ValueError(
                f"dataset {spec!r} cannot be loaded: {type(err).__name__}: {err}"
            ) from err
        check_dataset(data, spec)
        inputs.datasets[spec] = data
        for model_spec in config.models_for(spec):
            if is_model_file(model_spec):
                trained = load_file(model_spec, data)  # checks shape and classes
                inputs.model_files[(model_spec, spec)] = trained
    return inputs


def run(
    config: RunConfig,
    out: str | Path,
    *,
    progress: bool = True,
    command: str = "",
    executor_name: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    max_minutes: float | None = None,
) -> RunResult:
    """Run the grid of ``config`` into the store of the run directory ``out`` (the outputs are
    written from the store by ``xaibench.results.outputs``, as the CLI does after a run).

    ``executor_name`` "local" computes in this process; "dask" on the Dask scheduler at
    ``scheduler``, or else on a local cluster of ``workers`` processes (default one per CPU), with
    the same numbers (see ``xaibench.benchmark.executors``).

    Before any cell is computed, the cells still to compute are estimated (``cost``) and the
    estimate printed (on stderr; nothing when everything is stored); it is stored with the run,
    each cell's with the cell, and it drives the progress bar's ETA. ``max_minutes``: a run
    estimated longer raises ValueError naming the estimate and the largest cells, before the run
    is recorded or anything computed; without it, a run estimated over ``cost.LONG_RUN_MINUTES``
    is warned about. The peak memory of the run, of each cell (measured by the process that
    computed it, this one or a Dask worker; see ``executors.Staged``) and, with Dask, the
    workers' largest is stored (``Store.run``, ``Store.cells``).

    Raises ValueError for a bad config or executor (before any work). KeyboardInterrupt propagates
    after the finished cells are safe in the store.
    """
    config.validate()
    if max_minutes is not None and (
        isinstance(max_minutes, bool)
        or not isinstance(max_minutes, int | float)
        or not max_minutes > 0
    ):
        raise ValueError(f"--max-minutes must be a positive number of minutes, got {max_minutes!r}")
    out = Path(out)
    inputs = preflight(config)
    ex = executor(executor_name, scheduler=scheduler, workers=workers)
    try:
        store = Store(out / "results.sqlite")
    except BaseException:
        ex.close()
        raise
    try:
        recorded = recorded_models(store)
        result = RunResult(out=out, run_id=0, total=config.n_cells())
        grid, run_id = None, None
        try:
            grid = _Grid(
                config,
                store,
                run_id=None,
                bar=None,
                result=result,
                ex=ex,
                inputs=inputs,
                recorded=recorded,
            )
            pairs = grid.pairs()
            grid.bar = progress_bar(sum(grid.plan(pair) for pair in pairs), enabled=progress)
            result.estimate = grid.estimate(pairs, _parallel(ex))
            _announce(grid.bar, result.estimate, max_minutes)  # ValueError over max_minutes
            run_id = result.run_id = grid.run_id = store.start_run(
                config.to_dict(), versions(), command
            )
            if result.estimate.cells or result.estimate.training:
                store.set_estimate(run_id, result.estimate.seconds)
            for pair in pairs:
                grid.run_pair(pair)
            if ex.name != "local":
                grid.stage("waiting for the Dask workers")
            ex.drain(wait=True)
            grid.stage("done")
        except BaseException:
            if run_id is not None:
                store.finish_run(run_id, "interrupted", peak_memory_mb=grid.memory.run_peak())
            raise
        finally:
            if grid is not None and grid.bar is not None:
                grid.bar.close()
        result.peak_memory_mb = grid.memory.run_peak()
        store.finish_run(
            run_id,
            "failed" if result.failures else "ok",
            peak_memory_mb=result.peak_memory_mb,
            worker_peak_memory_mb=_worker_peak(ex),
        )
        return result
    finally:
        ex.close()
        store.close()


def _announce(bar, estimate: cost.Estimate, max_minutes: float | None) -> None:
    """Print the estimate (on stderr; nothing when nothing is to compute), a warning when it is
    long and no ``max_minutes`` is given; ValueError (one line) when it exceeds ``max_minutes``."""
    if not estimate.cells and not estimate.training:
        return
    refusal = estimate.over(max_minutes) if max_minutes is not None else None
    if refusal:
        raise ValueError(refusal)
    bar.write(estimate.summary(), file=sys.stderr)
    warning = estimate.warning() if max_minutes is None else None
    if warning:
        bar.write(warning, file=sys.stderr)


def _parallel(ex) -> int:
    """How many processes compute cells: 1 here, or the Dask cluster's worker threads."""
    if ex.name == "local":
        return 1
    try:
        return max(1, sum(ex.client.nthreads().values()))
    except Exception:  # noqa: BLE001 - the estimate then assumes one
        return 1


def _worker_peak(ex) -> float | None:
    """The largest peak resident memory (MB) of the Dask workers over their lives (each
    measures its own, its cells' stages included: ``executors.worker_peak_mb``), or None (local
    executor, or the workers cannot tell)."""
    if ex.name == "local":
        return None
    try:
        peaks = [mb for mb in ex.client.run(worker_peak_mb).values() if mb is not None]
    except Exception:  # noqa: BLE001 - the run's own peak is still stored
        return None
    return max(peaks) if peaks else None
