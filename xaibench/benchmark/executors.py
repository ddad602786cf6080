"""Where the grid's work runs: in this process (``local``) or on Dask workers (``dask``).

The unit of work is one method on one (dataset, model): explain the samples once, then score every
metric cell still to compute (``compute_method``). The main process keeps everything else: it
loads the data, trains or loads the models (so a model is trained once, into the cache), decides
which cells are pending, and writes every finished cell to the store as its task returns, so the
store has a single writer and an interrupted run loses nothing that finished.

With Dask, each model travels to the workers once as the bytes of a ``.keras`` file (workers need
no shared file system or model cache) and is loaded once per worker process; methods and metrics
travel pickled with their settings, so user-registered components work when the workers can import
the module that defines them. Numbers equal a local run's: the same code runs on the same inputs
with the same seeds.

>>> ex = executor("dask", workers=2)  # doctest: +SKIP
>>> ex.submit(ex.share(key, model), method, metrics, x, y, masks, on_done=store_it)  # doctest: +SKIP
>>> ex.drain(wait=True); ex.close()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xaibench._system import usable_cpus
from xaibench.benchmark import components
from xaibench.methods.base import NotApplicable

EXECUTORS = ("local", "dask")


def error_text(err: BaseException) -> str:
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    return f"{type(err).__name__}: {err}\n\n{tb}"


@dataclass
class MethodResult:
    """What one method on one (dataset, model) computed: its attributions (None when it did not
    run), the seconds they took, and per pending metric ``(status, fields)``, where ``fields`` are
    the store's (``scores``, ``curves``, ``metric_seconds`` for "ok"; ``error`` otherwise)."""

    a: np.ndarray | None = None
    explain_seconds: float | None = None
    outcomes: list[tuple[str, dict]] = field(default_factory=list)


def compute_method(model, method, metrics, x, y, masks, reason=None, error=None) -> MethodResult:
    """Explain ``x`` with ``method`` once and score every metric of ``metrics``.

    ``reason`` (not applicable) or ``error`` (the model could not be had) given by the caller
    mark every cell so without running anything. Nothing raises but KeyboardInterrupt and the like:
    a failure is recorded in the cells it concerns.
    """
    out = MethodResult()
    if reason is None and error is None:
        reason = method.applicable(model, x)
    if reason is None and error is None:
        try:
            start = time.perf_counter()
            out.a = method(model, x, y)
            out.explain_seconds = time.perf_counter() - start
        except NotApplicable as err:
            reason = str(err)
        except Exception as err:  # noqa: BLE001 - recorded in every cell of this method
            error = error_text(err)
    for metric in metrics:
        if reason is not None:
            out.outcomes.append(("not_applicable", {"error": reason}))
            continue
        if error is not None:
            out.outcomes.append(("error", {"error": error}))
            continue
        try:
            start = time.perf_counter()
            scores, curves = components.score_cell(metric, model, x, y, out.a, method, masks)
            seconds = time.perf_counter() - start
        except NotApplicable as err:
            out.outcomes.append(("not_applicable", {"error": str(err)}))
        except Exception as err:  # noqa: BLE001 - stored with the cell; the run goes on
            out.outcomes.append(("error", {"error": error_text(err)}))
        else:
            out.outcomes.append(
                ("ok", {"scores": scores, "curves": curves, "metric_seconds": seconds})
            )
    return out


class LocalExecutor:
    """Runs every task at once, in this process."""

    name = "local"

    def share(self, key: str, model):
        return model

    def submit(self, model, *args, on_done) -> None:
        """``compute_method(model, *args)``, handed to ``on_done(result, None)``."""
        on_done(compute_method(model, *args), None)

    def drain(self, *, wait: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def model_bytes(model) -> bytes:
    """``model`` saved as a ``.keras`` file, as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


# Models loaded in this (worker) process, by model key: each is read once per worker.
_WORKER_MODELS: dict = {}


def _worker_model(key: str, blob: bytes):
    if key not in _WORKER_MODELS:
        from xaibench._tf import keras

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            path.write_bytes(blob)
            _WORKER_MODELS[key] = keras.models.load_model(path, compile=False, safe_mode=True)
    return _WORKER_MODELS[key]


def remote_method(shared, method, metrics, x, y, masks, reason=None, error=None) -> MethodResult:
    """``compute_method`` on a worker; ``shared`` is ``(model key, .keras bytes)`` or None."""
    model = _worker_model(*shared) if shared is not None else None
    return compute_method(model, method, metrics, x, y, masks, reason, error)


class DaskExecutor:
    """Runs tasks on a Dask cluster: the scheduler at ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786``), or else a local cluster of ``workers`` processes (default: one per
    CPU) with one thread each, started here and stopped by ``close``."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError as err:
            raise ValueError(
                "the dask executor needs dask.distributed: pip install 'xaibench[distributed]'"
            ) from err
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as err:
                raise ValueError(
                    f"cannot reach the Dask scheduler at {scheduler!r}: {err}"
                ) from err
        else:
            self.cluster = LocalCluster(
                n_workers=workers or usable_cpus(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
        self.pending: dict = {}  # future -> on_done
        self.shared: dict = {}  # model key -> future of (key, bytes) on the cluster

    def share(self, key: str, model):
        if model is None:
            return None
        if key not in self.shared:
            self.shared[key] = self.client.scatter((key, model_bytes(model)), broadcast=False)
        return self.shared[key]

    def submit(self, shared, *args, on_done) -> None:
        """``compute_method(model, *args)`` on a worker, ``shared`` being the model's handle from
        ``share``; ``on_done(result, None)`` (or ``(None, exception)``) runs in a later ``drain``."""
        future = self.client.submit(remote_method, shared, *args, pure=False)
        self.pending[future] = on_done
        self.drain()

    def drain(self, *, wait: bool = False) -> None:
        """Hand every finished task to its ``on_done``; with ``wait``, until none is left."""
        from distributed import wait as wait_for

        while self.pending:
            done = [f for f in self.pending if f.done()]
            if not done:
                if not wait:
                    return
                wait_for(list(self.pending), return_when="FIRST_COMPLETED")
                continue
            for future in done:
                on_done = self.pending.pop(future)
                try:
                    value, err = future.result(), None
                except Exception as e:  # noqa: BLE001 - a lost worker, an unpicklable method, ...
                    value, err = None, e
                on_done(value, err)

    def close(self) -> None:
        for future in self.pending:
            future.cancel()
        self.pending.clear()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def executor(name: str = "local", *, scheduler: str | None = None, workers: int | None = None):
    """The executor called ``name`` ("local" or "dask"); ValueError for a bad combination."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if name == "local":
        if scheduler or workers is not None:
            raise ValueError("--scheduler and --workers need --executor dask")
        return LocalExecutor()
    if scheduler and workers is not None:
        raise ValueError(
            "give --scheduler (an existing cluster) or --workers (a local one), not both"
        )
    return DaskExecutor(scheduler, workers)
