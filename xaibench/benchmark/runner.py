"""The grid runner behind ``xaibench run``: datasets x models x methods x metrics.

``plan`` lays out the grid (pairs, cells, keys, what is pending), ``costing`` estimates it,
``artifacts`` keeps what the report draws; this module executes it and records the run.

Every finished cell is committed to the store at once; a cell whose settings match one already
stored (finished or not applicable) is reused, so an interrupted run resumes where it stopped when
started again with the same command. A cell that raises is stored with its error text and the run
goes on; failed cells are computed again by the next run.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from xaibench._storefile import store_files
from xaibench._system import allocator_left_alone
from xaibench._tf import keras, tf
from xaibench._version import __version__
from xaibench.benchmark import artifacts, cost
from xaibench.benchmark.config import RunConfig, is_image_folder, is_model_file, load_dataset
from xaibench.benchmark.costing import Costing
from xaibench.benchmark.executors import (
    MethodResult,
    Staged,
    Work,
    compute_method,
    error_text,
    executor,
)
from xaibench.benchmark.plan import Cell, Pair, Plan, recorded_models
from xaibench.datasets.base import check_dataset
from xaibench.metrics.cost.runtime import model_calls
from xaibench.models import training
from xaibench.models.batching import memory_budget
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
    estimated_at: float | None = None  # time.perf_counter() when the estimate was made

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


@dataclass
class _Task:
    """One method's pending cells on one pair, as sent to the executor."""

    method: object
    pending: list[Cell]
    pair: Pair
    gallery: str


class _Grid:
    """One run's progress through the planned grid (``plan.Plan``), writing every cell to the
    store.

    The progress bar counts the cells that run code: not the cells reused from the store, nor
    those known not to apply without running anything (``Plan.plan``). A metric that finds it
    does not apply only while scoring (it raises NotApplicable) is counted. The total is planned
    before any model is loaded and corrected as each model is loaded (the cells' keys hash the
    model's weights; a conv-only method learns then that a model has no convolutions)."""

    def __init__(self, plan: Plan, *, bar, result, ex):
        self.plan, self.store, self.bar = plan, plan.store, bar
        self.result, self.executor = result, ex
        self.run_id: int | None = None
        self.keeper = artifacts.Keeper(self.store, None, result)
        self.counted: set[str] = set()  # keys of the cells the bar counts
        self.memory = cost.PeakMemory()  # from here on: the run's peak memory
        self.estimates: dict[tuple, cost.CellEstimate] = {}  # by CellEstimate.key
        self.remaining: cost.Remaining | None = None  # the ETA
        self.where = ""  # the pair being computed, "dataset/model"

    def start(self, run_id: int) -> None:
        """The run is recorded as ``run_id``: what it computes is linked to it from here on."""
        self.run_id = self.keeper.run_id = run_id

    def estimate(
        self, pairs: list[Pair], parallel: int = 1, speedup: float | None = None
    ) -> cost.Estimate:
        """The cost of the cells still to compute (``costing``); it drives the ETA of the
        progress bar (``Remaining``)."""
        estimate = Costing(self.plan, self.stage).estimate(pairs, parallel, speedup)
        self.estimates = {c.key: c for c in estimate.cells}
        self.remaining = cost.Remaining(estimate)
        return estimate

    def stage(self, text: str, pair: Pair | None = None) -> None:
        """Show what the run is doing now in the progress bar (and on which pair)."""
        if pair is not None:
            self.where = pair.where
        self.bar.set_postfix_str(self.postfix(), refresh=False)
        self.bar.set_description(text)

    def postfix(self) -> str:
        """The bar's postfix: the pair, and the time left by the cost model (``Remaining``)."""
        if self.remaining is None or not self.remaining.left:
            return self.where
        return f"{self.where}, ~{cost.duration(self.remaining.seconds())} left"

    def put(self, key, ids, metric, status, settings, **data) -> None:
        ident = (ids["dataset"], ids["model"], ids["method"], ids["metric"], ids.get("variant"))
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

    def run_pair(self, pair: Pair) -> None:
        """Every cell of ``pair``: reused from the store, or computed on its model (trained or
        loaded now)."""
        if pair.stored is not None:
            keys, stored = pair.stored
            self.store.link(self.run_id, keys)
            for key in stored:
                self.store.reuse_artifact(self.run_id, key)
            self.count_reused(keys)
            return
        if pair.reason is None and pair.trained is None:
            self.load(pair)
            if self.remaining is not None:
                self.remaining.finish(pair.where)
        trained = pair.trained
        model_settings = (
            trained.settings if trained else {"model": pair.spec, "dataset": pair.data.name}
        )
        model_key = trained.key if trained else settings_key(model_settings)
        keys = artifacts.Keys(self.plan, pair, model_settings)
        if trained:
            self.store.put_model(
                model_key,
                pair.data.name,
                pair.arch,
                trained.accuracy,
                trained.params,
                model_settings,
            )
            self.keeper.model_artifacts(keys)
        groups = self.plan.cells(pair, model_settings, model_key)
        counted = self.plan.to_count(pair, groups)
        self.counted.update(counted)
        self.bar.total += len(counted) - pair.planned  # now that the model is known
        pair.planned = len(counted)
        self.bar.refresh()
        for method, cells in groups:
            self.store.link(self.run_id, [c.key for c in cells])
            pending = [c for c in cells if self.store.status(c.key) not in DONE]
            self.count_reused([c.key for c in cells if c not in pending])
            gallery = keys.gallery(method)
            if pending:
                self.run_method(method, pending, pair, gallery)
            elif pair.computable:
                self.keeper.gallery(gallery, trained, method, pair.x, pair.y, None)

    def count_reused(self, keys: list[str]) -> None:
        """Count cells reused from the store, the not-applicable ones among them as such too
        (as a run that computes them counts them)."""
        self.result.reused += len(keys)
        self.result.not_applicable += sum(self.store.status(k) == "not_applicable" for k in keys)

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
            pair.trained = training.load_or_train(pair.architecture, pair.data, log=log)
        except Exception as err:  # noqa: BLE001 - recorded in every cell of this model
            pair.error = error_text(err)

    def run_method(self, method, pending: list[Cell], pair: Pair, gallery: str) -> None:
        """Explain and score every pending metric of ``method`` on the executor; each cell is
        stored when its task returns."""
        parts = pair.parts() if pair.parts and any(c.metric.needs_parts for c in pending) else None
        work = Work.of(method, pending, pair.x, pair.y, pair.masks, samples=pair.idx, parts=parts)
        work.reason, work.error = pair.reason, pair.error
        task = _Task(method, pending, pair, gallery)
        done = partial(self.finish_method, task)
        if pair.reason is not None or pair.error is not None:  # nothing to compute: no task
            done(compute_method(pair.model, work), None)
            return
        counted = {c.metric.name for c in pending if c.key in self.counted}
        if self.executor.where is not None:  # worker processes or Dask compute the task
            self.stage(f"sending {method.name} to {self.executor.where}", pair)
        else:

            def announce(metric):  # the stages of the cells that run code
                if metric.name in counted:
                    self.stage(f"scoring {metric.name}")

            if counted:
                self.stage(f"explaining {method.name}", pair)
            # each cell's peak memory, measured in this process (elsewhere, by the worker)
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
            if status == "ok":  # a meta-evaluation cell says its own samples and explanation
                fields = {
                    "samples": pair.idx,
                    "explain_seconds": out.explain_seconds,
                    "calls": calls,
                    "peak_memory_mb": out.peaks[i] if out.peaks else None,
                    **fields,
                }
            self.put(cell.key, cell.ids, cell.metric, status, cell.settings, **fields)
        if pair.trained and out.a is not None:
            self.keeper.gallery(gallery, pair.trained, method, pair.x, pair.y, out.a)


@dataclass
class Inputs:
    """Every dataset of a run and every model file, loaded and checked before any work."""

    datasets: dict = field(default_factory=dict)  # spec -> Dataset
    model_files: dict = field(default_factory=dict)  # (model spec, dataset spec) -> TrainedModel


# The bar shows the cells done and the time elapsed; the time left comes from the cost model in
# its postfix (``_Grid.postfix``), not from tqdm's rate of cells, which knows no cell's cost.
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


def progress_bar(total: int, *, enabled: bool = True) -> tqdm:
    """The run's progress bar over the ``total`` cells to compute (on stderr); none when there is
    nothing to compute (a rerun shows no empty bar). Its rate is the mean since the start
    (``smoothing=0``); its ETA is the cost model's (``cost.Remaining``): the estimate of the
    cells left, rescaled by the measured over the estimated time of those done."""
    bar = tqdm(
        total=total,
        desc="xaibench",
        unit="cell",
        disable=not (enabled and total),
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
        files, settings = {}, None
        if is_image_folder(spec):  # loaded at the size its model files take, unless given
            files = {
                m: training.open_file(m) for m in config.models_for(spec) if m.endswith(".keras")
            }
            shapes = {m: training.input_shape(f) for m, f in files.items()}
            settings = config.image_settings(spec, shapes)
        try:
            data = load_dataset(spec, settings)
        except ValueError as err:  # the data's problem, said with the dataset it is in
            raise ValueError(f"dataset {spec!r} cannot be loaded: {err}") from err
        except Exception as err:  # noqa: BLE001 - a user's loader or file: say which one
            raise ValueError(
                f"dataset {spec!r} cannot be loaded: {type(err).__name__}: {err}"
            ) from err
        check_dataset(data, spec)
        same = [s for s, d in inputs.datasets.items() if d.name == data.name]
        if same:
            raise ValueError(
                f"datasets {same[0]!r} and {spec!r} both load as dataset {data.name!r}: their "
                "results would be one; leave one out (or give one another name)"
            )
        inputs.datasets[spec] = data
        for model_spec in config.models_for(spec):
            if is_model_file(model_spec):
                trained = training.load_file(model_spec, data, files.get(model_spec))
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
    outputs: bool = False,
) -> RunResult:
    """Run the grid of ``config`` into the store of the run directory ``out`` (the outputs are
    written from the store by ``xaibench.results.outputs``, as the CLI does after a run).

    ``executor_name`` "local" computes in this process, or with ``workers`` > 1 in as many worker
    processes on this machine (``processes``); "dask" on the Dask scheduler at ``scheduler``, or
    else on a local cluster of ``workers`` processes (default one per CPU), with the same cells
    (see ``xaibench.benchmark.executors``).

    Before any cell is computed, the cells still to compute are estimated (``cost``) and the
    estimate printed (on stderr; nothing when everything is stored); it is stored with the run,
    each cell's with the cell, and it drives the progress bar's ETA. ``max_minutes``: a run
    estimated longer raises ValueError naming the estimate and the largest cells, before the run
    is recorded or anything computed; without it, a run estimated over ``cost.LONG_RUN_MINUTES``
    is warned about. The peak memory of the run, of each cell (measured by the process that
    computed it, this one or a worker; see ``executors.Staged``) and, with workers, the
    workers' largest is stored (``Store.run``, ``Store.cells``). ``outputs``: the caller writes
    the run's outputs afterwards (the CLI), so the estimate counts them.

    Raises ValueError for a bad config, environment variable (``$XAIBENCH_MEMORY_GIB``,
    ``$XAIBENCH_MALLOC``) or executor (before any work). KeyboardInterrupt propagates after the
    finished cells are safe in the store.
    """
    config.validate()
    memory_budget()  # ValueError naming $XAIBENCH_MEMORY_GIB when it is no budget: before any work
    allocator_left_alone()  # the same for $XAIBENCH_MALLOC
    if max_minutes is not None and (
        isinstance(max_minutes, bool)
        or not isinstance(max_minutes, int | float)
        or not max_minutes > 0
    ):
        raise ValueError(f"--max-minutes must be a positive number of minutes, got {max_minutes!r}")
    out = Path(out)
    inputs = preflight(config)
    ex = executor(executor_name, scheduler=scheduler, workers=workers)
    new = _absent(out)  # removed again when the run ends before it is recorded
    grid, run_id = None, None
    try:
        store = Store(out / "results.sqlite")
    except BaseException:
        ex.close()
        _remove(new)
        raise
    try:
        plan = Plan(config, store, inputs, recorded_models(store))
        result = RunResult(out=out, run_id=0, total=config.n_cells())
        try:
            grid = _Grid(plan, bar=None, result=result, ex=ex)
            pairs = plan.pairs()
            grid.bar = progress_bar(sum(plan.plan(pair) for pair in pairs), enabled=progress)
            result.estimate = grid.estimate(pairs, ex.parallel, ex.speedup)
            result.estimate.training_wall = ex.training_wall
            if outputs:  # the caller writes them afterwards (the CLI)
                result.estimate.outputs = cost.output_seconds(grid.bar.total or 0)
            result.estimated_at = time.perf_counter()
            result.estimate.notes += config.notes()  # what it runs unasked
            _announce(grid.bar, result.estimate, max_minutes)  # ValueError over max_minutes
            run_id = result.run_id = store.start_run(config.to_dict(), versions(), command)
            grid.start(run_id)
            if result.estimate.cells or result.estimate.training:
                store.set_estimate(run_id, result.estimate.seconds)
            if result.estimate.cells:
                ex.start()  # worker processes start while the first model loads or trains
            for pair in pairs:
                grid.run_pair(pair)
            if ex.where is not None:
                grid.stage(f"waiting for {ex.where}")
            ex.drain(wait=True)
            grid.stage("done")
        except BaseException:
            _keep_finished(ex)
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
            worker_peak_memory_mb=ex.worker_peak(),
        )
        return result
    finally:
        ex.close()
        store.close()
        if run_id is None:  # refused (--max-minutes, a model it cannot train) or interrupted
            _remove(new)


def _absent(out: Path) -> list[Path]:
    """What a run into ``out`` would create that does not exist yet: its folders (the topmost
    first) and its store's files."""
    folders = [p for p in (out, *out.parents) if not p.exists()][::-1]
    return folders + [f for f in store_files(out / "results.sqlite") if not f.exists()]


def _remove(paths: list[Path]) -> None:
    """Remove ``paths`` (from ``_absent``), the last first; a folder only when it is empty."""
    for path in reversed(paths):
        try:
            path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)
        except OSError:  # a folder something else wrote into: kept
            pass


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


def _keep_finished(ex) -> None:
    """Store the tasks the workers finished before the run was interrupted (or failed), so that
    the next run reuses them; another interruption meanwhile stops it."""
    try:
        ex.drain()
    except Exception:  # noqa: BLE001 - the run's own error is the one to raise
        pass
