"""The grid runner behind ``xaibench run``: datasets x models x methods x metrics.

Every finished cell is committed to the store at once; a cell whose settings match one already
stored (finished or not applicable) is reused, so an interrupted run resumes where it stopped when
started again with the same command. A cell that raises is stored with its error text and the run
goes on; failed cells are computed again by the next run.
"""

from __future__ import annotations

import hashlib
import platform
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from xaibench import models
from xaibench._fingerprint import component_fingerprint
from xaibench._tf import keras, tf
from xaibench._version import __version__
from xaibench.benchmark import components
from xaibench.benchmark.config import RunConfig, display_name, is_model_file, load_dataset
from xaibench.benchmark.executors import (
    MethodResult,
    Work,
    compute_method,
    error_text,
    executor,
)
from xaibench.datasets.base import check_dataset
from xaibench.metrics.cost.runtime import model_calls
from xaibench.models.inspect import first_layer_view
from xaibench.models.training import load_file, load_or_train
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
    the trained model (None when it could not be had), and why nothing can be computed on it
    (``reason``: not applicable; ``error``: the model failed) if so."""

    data: object
    arch: str
    idx: np.ndarray
    x: np.ndarray
    y: np.ndarray
    masks: np.ndarray | None
    data_settings: dict
    trained: object = None
    reason: str | None = None
    error: str | None = None

    @property
    def model(self):
        return self.trained.model if self.trained else None

    @property
    def computable(self) -> bool:
        return self.trained is not None and self.reason is None and self.error is None


class _Grid:
    """One run's progress through the grid, writing every cell to the store."""

    def __init__(self, config: RunConfig, store: Store, *, run_id: int, bar, result, ex, inputs):
        self.config, self.store, self.run_id, self.bar = config, store, run_id, bar
        self.result, self.executor, self.inputs = result, ex, inputs
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

    def put(self, key, ids, metric, status, settings, **data) -> None:
        self.store.put_cell(
            key,
            ids=ids,
            metric=metric,
            status=status,
            settings=settings,
            version=__version__,
            run_id=self.run_id,
            **data,
        )
        if status == "error":
            first = data["error"].splitlines()[0]
            self.result.failures.append({**ids, "error": first})
            self.bar.write(
                f"  failed: {ids['dataset']}/{ids['model']}/{ids['method']}/{ids['metric']}: {first}"
            )
        elif status == "not_applicable":
            self.result.not_applicable += 1
        self.result.computed += 1
        self.bar.update(1)

    def run_dataset(self, spec: str) -> None:
        data = self.inputs.datasets[spec]
        idx = sample_indices(len(data.y_test), self.config.samples, self.config.seed)
        x, y = data.x_test[idx], data.y_test[idx]
        masks = data.masks[idx] if data.masks is not None else None
        data_settings = {
            "dataset": data.name,
            **data.settings,
            "samples": len(idx),
            "sample_seed": self.config.seed,
            "data_hash": _data_hash(x, y),
        }
        for model_spec in self.config.models_for(spec):
            pair = Pair(data, display_name(model_spec), idx, x, y, masks, data_settings)
            self.run_model(model_spec, pair, self.inputs.model_files.get((model_spec, spec)))

    def run_model(self, spec: str, pair: Pair, file=None) -> None:
        """Train or load the model of ``spec`` (``file``: already loaded by preflight) into
        ``pair``, then run every method on it."""
        data, arch = pair.data, pair.arch
        kinds = ("image", "tabular") if is_model_file(spec) else models.cls(spec).kinds
        if data.kind not in kinds:
            pair.reason = (
                f"model {arch!r} needs {' or '.join(kinds)} data; {data.name!r} is {data.kind}"
            )
        else:
            try:
                pair.trained = file or load_or_train(spec, data, log=self.bar.write)
            except Exception as err:  # noqa: BLE001 - recorded in every cell of this model
                pair.error = error_text(err)
        trained = pair.trained
        model_settings = trained.settings if trained else {"model": spec, "dataset": data.name}
        model_key = trained.key if trained else settings_key(model_settings)
        if trained:
            self.store.put_model(
                model_key, data.name, arch, trained.accuracy, trained.params, model_settings
            )
            self.model_artifacts(trained, data, arch, pair.data_settings, pair.x, pair.y)
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
                    "dataset": data.name,
                    "model": arch,
                    "method": method.name,
                    "metric": metric.name,
                    "model_key": model_key,
                    "control": method.control,
                }
                cells.append(Cell(metric, settings_key(settings), ids, settings))
            self.store.link(self.run_id, [c.key for c in cells])
            pending = [c for c in cells if self.store.status(c.key) not in DONE]
            self.result.reused += len(cells) - len(pending)
            self.bar.update(len(cells) - len(pending))
            gallery = self.artifact_key("gallery", pair.data_settings, model_settings, method)
            if pending:
                self.run_method(method, pending, pair, gallery)
            elif pair.computable:
                self.gallery(gallery, trained, method, pair.x, pair.y, None)

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

    def model_artifacts(self, trained, data, arch, data_settings, x, y) -> None:
        """The gallery's inputs and the model inspection (first layer) for the report."""
        g = gallery_index(y)
        key = self.artifact_key("inputs", data_settings, trained.settings)
        if not self.store.reuse_artifact(self.run_id, key):
            arrays = {"x": x[g], "y": y[g], "class_names": np.array(data.class_names, str)}
            if getattr(data, "feature_names", None) is not None:
                arrays["feature_names"] = np.array(data.feature_names, str)
            self.keep(key, "inputs", data.name, arch, arrays)
        key = self.artifact_key("inspection", data_settings, trained.settings)
        if data.kind != "image" or self.store.reuse_artifact(self.run_id, key):
            return
        view = first_layer_view(trained.model, x[g[:1]])
        if view is not None:
            arrays = {"x": x[g[0]], **view, "layer": np.array(view["layer"])}
            self.keep(key, "inspection", data.name, arch, arrays)

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
        if pair.computable:
            self.bar.set_postfix_str(f"{pair.data.name}/{pair.arch}/{method.name}")
        work = Work(method, [c.metric for c in pending], pair.x, pair.y, pair.masks)
        work.reason, work.error = pair.reason, pair.error
        done = partial(self.finish_method, method, pending, pair, gallery)
        if pair.reason is not None or pair.error is not None:  # nothing to compute: no task
            done(compute_method(pair.model, work), None)
            return
        self.executor.submit(pair.trained.key, pair.model, work, on_done=done)

    def finish_method(self, method, pending: list[Cell], pair: Pair, gallery: str, out, err):
        """Store the cells of one method's task (``out``), or its failure ``err`` in all of them."""
        if err is not None:
            out = MethodResult(outcomes=[("error", {"error": error_text(err)})] * len(pending))
        try:
            calls = model_calls(method, pair.x)
        except Exception:  # noqa: BLE001 - a malformed declaration: unknown, the cells are kept
            calls = None
        for cell, (status, fields) in zip(pending, out.outcomes, strict=True):
            if status == "ok":
                fields = {
                    **fields,
                    "samples": pair.idx,
                    "explain_seconds": out.explain_seconds,
                    "calls": calls,
                }
            self.put(cell.key, cell.ids, cell.metric, status, cell.settings, **fields)
        if pair.trained and out.a is not None:
            self.gallery(gallery, pair.trained, method, pair.x, pair.y, out.a)


@dataclass
class Inputs:
    """Every dataset of a run and every model file, loaded and checked before any work."""

    datasets: dict = field(default_factory=dict)  # spec -> Dataset
    model_files: dict = field(default_factory=dict)  # (model spec, dataset spec) -> TrainedModel


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
) -> RunResult:
    """Run the grid of ``config`` into the store of the run directory ``out`` (the outputs are
    written from the store by ``xaibench.results.outputs``, as the CLI does after a run).

    ``executor_name`` "local" computes in this process; "dask" on the Dask scheduler at
    ``scheduler``, or else on a local cluster of ``workers`` processes (default one per CPU), with
    the same numbers (see ``xaibench.benchmark.executors``).

    Raises ValueError for a bad config or executor (before any work). KeyboardInterrupt propagates
    after the finished cells are safe in the store.
    """
    config.validate()
    out = Path(out)
    inputs = preflight(config)
    ex = executor(executor_name, scheduler=scheduler, workers=workers)
    try:
        store = Store(out / "results.sqlite")
    except BaseException:
        ex.close()
        raise
    try:
        run_id = store.start_run(config.to_dict(), versions(), command)
        total = config.n_cells()
        result = RunResult(out=out, run_id=run_id, total=total)
        bar = tqdm(
            total=total,
            desc="xaibench",
            unit="cell",
            disable=not progress,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        try:
            grid = _Grid(config, store, run_id=run_id, bar=bar, result=result, ex=ex, inputs=inputs)
            for name in config.datasets:
                grid.run_dataset(name)
            ex.drain(wait=True)
        except BaseException:
            store.finish_run(run_id, "interrupted")
            raise
        finally:
            bar.close()
        store.finish_run(run_id, "failed" if result.failures else "ok")
        return result
    finally:
        ex.close()
        store.close()
