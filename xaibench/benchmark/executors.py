"""Where the grid's work runs: in this process or local worker processes (``local``; the
latter in ``benchmark/processes.py``), or on Dask workers (``dask``).

The unit of work is one method on one (dataset, model): explain the samples once, then score every
metric cell still to compute (``compute_method``). The main process keeps everything else: it
loads the data, trains or loads the models (so a model is trained once, into the cache), decides
which cells are pending, and writes every finished cell to the store as its task returns, so the
store has a single writer and an interrupted run loses nothing that finished.

With Dask, each model travels to the workers once as the bytes of a ``.keras`` file (workers need
no shared file system or model cache) and is loaded once per worker process; methods and metrics
travel pickled with their settings, so user-registered components work when the workers can import
the module that defines them. Numbers equal a local run's: the same code runs on the same inputs
with the same seeds. A task whose connection fails or whose worker is lost is sent again a few
times; what still fails is stored as failed cells and the run goes on (``DaskExecutor``).

Each computed cell's peak resident memory is measured by the process that computes it, by one
rule (``Staged``): the run's process for the local executor, the worker for local worker
processes and Dask (``remote_method``, which says what a worker's figure holds).

>>> ex = executor("dask", workers=2)  # doctest: +SKIP
>>> ex.submit(key, model, Work(method, metrics, x, y), on_done=store_it)  # doctest: +SKIP
>>> ex.drain(wait=True); ex.close()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import socket
import tempfile
import time
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xaibench._checks import read_only
from xaibench._system import allocator_environment, usable_cpus
from xaibench.benchmark import components, cost, meta
from xaibench.methods.base import NotApplicable
from xaibench.metrics.cost.runtime import Timed
from xaibench.models import torch_spec
from xaibench.models.protocol import framework

EXECUTORS = ("local", "dask")


def error_text(err: BaseException) -> str:
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    return f"{type(err).__name__}: {err}\n\n{tb}"


@dataclass
class MethodResult:
    """What one method on one (dataset, model) computed: its attributions (None when it did not
    run), the seconds they took, per pending metric ``(status, fields)``, where ``fields`` are
    the store's (``scores``, ``curves``, ``metric_seconds`` for "ok"; ``error`` otherwise), and
    ``peaks``: per pending metric, the peak resident memory (MB) of the process while its cell
    was computed (``Staged.cell_peaks``; None when the metrics were not staged, or per cell
    where not measured)."""

    a: np.ndarray | None = None
    explain_seconds: float | None = None
    outcomes: list[tuple[str, dict]] = field(default_factory=list)
    peaks: list[float | None] | None = None


class Staged(list):
    """The metrics of a task, measuring with ``memory`` (a ``cost.PeakMemory`` of the process
    that computes the task) the peak resident memory of each stage of ``compute_method``: it
    starts the explanation's stage (``start``), then reaches the metrics in order, each a stage,
    calling ``announce(metric)`` (if given; a progress bar names the metric being scored).
    ``peaks`` = [the explanation's, then each metric's] (None where not measured).

    The one rule for a cell's peak memory, wherever the cell runs: the run's process (the local
    executor) or a Dask worker (``remote_method``)."""

    def __init__(self, metrics, memory: cost.PeakMemory, announce=None):
        super().__init__(metrics)
        self.memory, self.announce = memory, announce
        self.peaks: list[float | None] = []

    def start(self) -> None:
        """The explanation's stage starts here."""
        self.peaks = []
        self.memory.mark()

    def __iter__(self):
        for metric in super().__iter__():
            self.peaks.append(self.memory.mark())
            if self.announce is not None:
                self.announce(metric)
            yield metric
        self.peaks.append(self.memory.mark())

    def peak(self, i: int) -> float | None:
        """The peak while the ``i``-th metric's cell was computed: its explanation or its
        scoring, whichever took more."""
        if len(self.peaks) != len(self) + 1 or None in (self.peaks[0], self.peaks[i + 1]):
            return None
        return max(self.peaks[0], self.peaks[i + 1])

    def cell_peaks(self) -> list[float | None]:
        """``peak(i)`` of every metric, in order."""
        return [self.peak(i) for i in range(len(self))]


@dataclass
class Work:
    """One task: explain ``x`` (targets ``y``, ground-truth ``masks`` or None, the samples'
    ``parts`` or None: ``Dataset.interventions``; ``samples``: their
    sample ids, None for positions) with ``method`` once and score it with every metric of
    ``metrics``, then compute the meta-evaluation cells ``meta`` (``[(meta.Perturbation,
    metric)]``, see ``xaibench.benchmark.meta``). ``reason`` (not applicable) or ``error`` (the
    model could not be had), given by the caller, mark every cell so without running anything.
    Outcomes come in the order of ``metrics``, then ``meta`` (``Work.of`` builds it from a list
    of cells in that order)."""

    method: object
    metrics: list
    x: np.ndarray
    y: np.ndarray
    masks: np.ndarray | None = None
    reason: str | None = None
    error: str | None = None
    meta: list = field(default_factory=list)
    samples: np.ndarray | None = None
    parts: object = None  # datasets.base.Parts

    @classmethod
    def of(cls, method, cells: list, x, y, masks=None, *, samples=None, parts=None) -> Work:
        """The work of ``cells`` (``plan.Cell``s of ``method``): the metric cells (the run as
        configured and its sweep variants) first, then the meta-evaluation cells
        (``cell.meta``); ValueError when a metric cell follows a meta cell (the outcomes would
        not come back in the cells' order)."""
        kinds = [c.meta is not None for c in cells]
        if kinds != sorted(kinds):
            raise ValueError("a task's meta-evaluation cells must come after its metric cells")
        metrics = [c.metric for c in cells if c.meta is None]
        extra = [(c.meta, c.metric) for c in cells if c.meta is not None]
        return cls(method, metrics, x, y, masks, meta=extra, samples=samples, parts=parts)


def score_outcome(metric, model, x, y, a, *, method, masks, parts=None) -> tuple[str, dict]:
    """``(status, fields)`` of one cell: ``metric`` scoring ``a`` (``components.score_cell``)."""
    try:
        start = time.perf_counter()
        scores, curves = components.score_cell(
            metric, model, x, y, a, method=method, masks=masks, parts=parts
        )
        seconds = time.perf_counter() - start
    except NotApplicable as err:
        return "not_applicable", {"error": str(err)}
    except Exception as err:  # noqa: BLE001 - stored with the cell; the run goes on
        return "error", {"error": error_text(err)}
    return "ok", {"scores": scores, "curves": curves, "metric_seconds": seconds}


def compute_method(model, work: Work) -> MethodResult:
    """Do ``work`` on ``model``. Nothing raises but KeyboardInterrupt and the like: a failure is
    recorded in the cells it concerns. When ``work.metrics`` is ``Staged``, each metric cell's
    peak memory is measured (``MethodResult.peaks``; None for the meta-evaluation cells)."""
    method, metrics = work.method, work.metrics
    x, y, masks = read_only(work.x), read_only(work.y), read_only(work.masks)  # see own_copies
    reason, error = work.reason, work.error
    staged = metrics if isinstance(metrics, Staged) else None
    if staged is not None:
        staged.start()
    out = MethodResult()
    if reason is None and error is None:
        try:
            reason = method.applicable(model, x)
            if reason is None:
                start = time.perf_counter()
                out.a = method(model, x, y)
                out.explain_seconds = time.perf_counter() - start
        except NotApplicable as err:
            reason = str(err)
        except Exception as err:  # noqa: BLE001 - recorded in every cell of this method
            error = error_text(err)
    timed = _timed(method, model, x, y, metrics) if reason is None and error is None else None
    for metric in metrics:
        if reason is not None:
            out.outcomes.append(("not_applicable", {"error": reason}))
        elif error is not None:
            out.outcomes.append(("error", {"error": error}))
        else:
            given = timed if timed is not None and metric.times_method else method
            status, fields = score_outcome(
                metric, model, x, y, out.a, method=given, masks=masks, parts=work.parts
            )
            if status == "ok" and work.samples is not None:
                fields["samples"] = work.samples
            out.outcomes.append((status, fields))
    if staged is not None:
        out.peaks = staged.cell_peaks()
    if work.meta:
        out.outcomes += _meta_outcomes(model, work, out.a, reason, error)
        if out.peaks is not None:
            out.peaks += [None] * len(work.meta)
    return out


def _timed(method, model, x, y, metrics) -> Timed | None:
    """When a metric of the task times the method (``times_method``: runtime), ``method``
    timed on a warm call of all of ``x`` (it has just explained ``x``: tracing and caches are
    done), once for all such metrics; None when none does or the call raises (the metric then
    times the method itself, and says what raises)."""
    # by index: iterating a ``Staged`` list marks its stages (each metric's peak memory)
    if not any(metrics[i].times_method for i in range(len(metrics))):
        return None
    try:
        start = time.perf_counter()
        method(model, x, y)
        return Timed(method, time.perf_counter() - start)
    except Exception:  # noqa: BLE001 - the metric's own call records it
        return None


def _meta_outcomes(model, work: Work, a, reason: str | None, error: str | None) -> list:
    """The outcomes of ``work.meta``, in order: each perturbation's cells computed together
    (``meta.MetaTask.run``); what its explanation raises is stored in all of them."""
    if reason is not None:
        return [("not_applicable", {"error": reason})] * len(work.meta)
    if error is not None:
        return [("error", {"error": error})] * len(work.meta)
    positions = work.meta[0][0].positions
    task = meta.MetaTask(
        model,
        work.method,
        work.x,
        work.y,
        masks=work.masks,
        parts=work.parts,
        samples=work.samples,
        a=a,
        positions=positions,
    )
    out: list = [None] * len(work.meta)
    for perturbation, indices in meta.by_perturbation(work.meta):
        metrics = [work.meta[i][1] for i in indices]
        try:
            outcomes = task.run(perturbation, metrics, score_outcome)
        except NotApplicable as err:
            outcomes = [("not_applicable", {"error": str(err)})] * len(indices)
        except Exception as err:  # noqa: BLE001 - stored in the cells of this perturbation
            outcomes = [("error", {"error": error_text(err)})] * len(indices)
        for i, outcome in zip(indices, outcomes, strict=True):
            out[i] = outcome
    return out


class LocalExecutor:
    """Runs every task at once, in this process."""

    name = "local"
    where = None  # the tasks are computed here: nothing is sent anywhere
    parallel = 1  # processes computing cells
    # As fast as the cost probes (the model and each method timed) say one process is
    # (cost.Estimate.speedup): measured on an idle 2-core machine, the whole command took 0.82x
    # its estimate on the zoo's small models (the quick suite, --workers 1) and 1.07x on
    # mobilenet_v2 at 96x96 (the realistic suite; README: Cost estimates).
    speedup = 1.0
    training_wall = 1.0  # this process trains, then computes: nothing overlaps the training

    def start(self) -> None:
        """Nothing to start (worker processes start here: ``processes.ProcessExecutor``)."""

    def worker_peak(self) -> float | None:
        return None

    def submit(self, key: str, model, work: Work, *, on_done) -> None:
        """``compute_method(model, work)``, handed to ``on_done(result, None)``."""
        on_done(compute_method(model, work), None)

    def drain(self, *, wait: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


def model_bytes(model) -> bytes:
    """``model`` saved as a ``.keras`` file, as bytes; a PyTorch model as its factory reference
    and state_dict (``models.torch_spec.to_bytes``), never pickled."""
    if framework(model) == "torch":
        return torch_spec.to_bytes(model)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


# Models loaded in this (worker) process, by model key, the last used last: each is read once
# per worker while it computes the tasks of its (dataset, model). The tasks come pair after pair,
# so a worker keeps the last KEEP_MODELS it used, not every model of the run.
_WORKER_MODELS: OrderedDict = OrderedDict()
KEEP_MODELS = 2


def _worker_model(key: str, blob: bytes | Path):
    """The model ``key``, loaded from ``blob`` (``model_bytes``, or a file holding them: local
    worker processes) unless this worker holds it already."""
    if key not in _WORKER_MODELS:
        _WORKER_MODELS[key] = _load_model(blob.read_bytes() if isinstance(blob, Path) else blob)
        while len(_WORKER_MODELS) > KEEP_MODELS:
            _WORKER_MODELS.popitem(last=False)
    _WORKER_MODELS.move_to_end(key)
    return _WORKER_MODELS[key]


def _load_model(blob: bytes):
    if blob.startswith(torch_spec.MAGIC):
        return torch_spec.from_bytes(blob)
    from xaibench._tf import keras

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        path.write_bytes(blob)
        return keras.models.load_model(path, compile=False, safe_mode=True)


@functools.cache
def _worker_memory() -> cost.PeakMemory:
    """This worker process's ``PeakMemory``, made once (by its first task or ``worker_peak_mb``);
    its ``run_peak`` counts the worker's life before it was made too."""
    return cost.PeakMemory(lifetime=True)


def worker_peak_mb() -> float | None:
    """The peak resident memory (MB) of this worker process over its life, its tasks' stages
    included (``Client.run`` calls it on every worker); None where the platform does not say."""
    return _worker_memory().run_peak()


# True in a local worker process (``benchmark/processes.py``), which runs one task at a time.
ONE_TASK_AT_A_TIME = False


def _one_task_at_a_time() -> bool:
    """Whether this worker runs one task at a time (a local worker process, or a Dask worker
    with one thread), so that what its process holds during a task is that task's; False outside
    a worker's task."""
    if ONE_TASK_AT_A_TIME:
        return True
    from distributed import get_worker

    try:
        return get_worker().state.nthreads == 1
    except ValueError:  # not in a task of a worker
        return False


def remote_method(shared, work: Work) -> MethodResult:
    """``compute_method`` on a worker; ``shared`` is ``(model key, .keras bytes or the file
    holding them)`` or None.

    Each cell's peak memory is measured as in the run's process (``Staged``): the peak resident
    memory of this worker process (Linux: VmHWM, reset between stages) while the method
    explained or while the cell was scored, whichever is higher. It is the whole process's
    figure, not what the cell alone allocated: the interpreter, TensorFlow, Dask's worker and
    the models the worker has loaded (kept for its next tasks) count; loading the model does
    not (it precedes the explanation's stage). It is one cell's only while the worker runs one
    task at a time: local worker processes (``processes.ProcessExecutor``) do, and so do the
    workers of the local cluster (``DaskExecutor``: one thread each); on
    a worker with more threads (a cluster at ``scheduler``) concurrent tasks would mix, so its
    cells get None, as they do where the high-water mark cannot be reset (not Linux). Each
    worker is taken to have its own process (``dask worker``, or ``LocalCluster`` with
    processes); workers sharing one process would mix too and are not detected."""
    model = _worker_model(*shared) if shared is not None else None
    if _one_task_at_a_time():
        work = dataclasses.replace(work, metrics=Staged(work.metrics, _worker_memory()))
    return compute_method(model, work)


# Dask's communication timeouts that xaibench raises from Dask's own 30 s, unless the Dask config
# (a YAML file, DASK_* variables or dask.config.set) already gives them another value: on a loaded
# machine a worker busy in a TensorFlow kernel can take longer than 30 s to accept a connection
# (seen with both cores of a 2-core machine busy: "ConnectionPool.scatter ... Connection timed
# out"), which is no reason to fail a run that would finish.
TIMEOUTS = {"distributed.comm.timeouts.connect": "120s", "distributed.comm.timeouts.tcp": "300s"}
# How many times a task is sent again after a transient failure (a lost connection, a lost
# worker holding the task or its model) before its cells are stored as failed. A worker killed
# while running a task is already retried by Dask's scheduler (``allowed-failures``, default 3)
# before the task fails with KilledWorker, which is then final.
RETRIES = 2
RETRY_PAUSE = 2.0  # seconds before the first retry; doubled at each next one


def transient(err: BaseException) -> bool:
    """Whether ``err`` is a failure of the cluster's plumbing that another attempt may not meet:
    a connection error or timeout (CommClosedError is an OSError), or a cancelled future (the
    model it depended on was lost with its worker)."""
    from concurrent.futures import CancelledError

    return isinstance(err, OSError | TimeoutError | CancelledError)


def _refuses(address: str) -> None:
    """Raise ConnectionRefusedError at once when nothing listens at a ``tcp://host:port``
    scheduler address (a mistyped port), instead of Dask's retries until its timeout; any other
    answer, or another kind of address, is left to Dask."""
    scheme, _, rest = address.rpartition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("", "tcp") or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=2).close()
    except ConnectionRefusedError:
        raise
    except OSError:
        return


# How long a scheduler address has to answer Dask's handshake (and then the client's
# registration) before ``--scheduler`` is refused: Dask itself would wait without limit for the
# handshake of a server that accepts connections and never answers.
HANDSHAKE_SECONDS = 10


def _answers_as_dask(address: str) -> None:
    """Raise ValueError naming ``address`` and the cause unless a Dask server there completes
    Dask's handshake within ``HANDSHAKE_SECONDS``: nothing listens (refused at once), the server
    stays silent (a timeout, where Dask would wait forever) or answers something else (an HTTP
    server: Dask would read its first bytes as a frame length and try to allocate exabytes).
    The handshake runs in a thread of its own, so a caller's running event loop (Jupyter) is
    no obstacle."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect

    async def hello():
        comm = await connect(address, timeout=HANDSHAKE_SECONDS)
        await comm.close()

    where = f"the Dask scheduler at {address!r}"
    try:
        _refuses(address)
    except OSError as err:
        raise ValueError(f"cannot reach {where}: {_one_line(err)}") from err
    try:
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, asyncio.wait_for(hello(), HANDSHAKE_SECONDS)).result()
    except (asyncio.TimeoutError, TimeoutError) as err:  # one class since Python 3.11
        raise ValueError(
            f"{where} accepted the connection but did not answer Dask's handshake within "
            f"{HANDSHAKE_SECONDS} s: is it a Dask scheduler?"
        ) from err
    except Exception as err:  # noqa: BLE001 - whatever a foreign server's bytes make Dask raise
        raise ValueError(
            f"{where} did not answer as a Dask scheduler ({type(err).__name__}: "
            f"{_one_line(err)}): give the address of a running `dask scheduler`"
        ) from err


def _one_line(err: BaseException) -> str:
    """``err``'s text on one line, at most 200 characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= 200 else text[:199] + "…"


def _generous_timeouts() -> dict[str, str]:
    """``TIMEOUTS`` for every key the Dask config leaves at Dask's own default."""
    import dask.config

    library = dask.config.merge(*dask.config.defaults)
    return {
        key: value
        for key, value in TIMEOUTS.items()
        if dask.config.get(key) == dask.config.get(key, config=library)
    }


@dataclass
class _Sent:
    """One task as sent to the cluster, with what is needed to send it again."""

    key: str
    model: object
    work: Work
    on_done: object
    attempts: int = 0


class DaskExecutor:
    """Runs tasks on a Dask cluster: the scheduler at ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786``), or else a local cluster of ``workers`` processes (default: one per
    CPU) with one thread each (one task at a time, so that a worker's peak memory during a task
    is that task's: ``remote_method``), started here and stopped by ``close``.

    The cluster's plumbing may fail where the computation would not: a connection times out on a
    loaded machine, a worker dies and takes the model it held with it. Such a task is sent again,
    up to ``RETRIES`` times; a task that still fails (or fails in any other way) hands its error
    to ``on_done``, which stores it in the task's cells, and the run goes on."""

    name = "dask"
    where = "the Dask workers"
    speedup = None  # its workers' threads, each as fast as this process (cost.Estimate.speedup)
    training_wall = 1.0  # not measured: the training counted whole (cost.Estimate.training_wall)

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        try:
            import dask.config
            from distributed import Client, LocalCluster
        except ImportError as err:
            raise ValueError(
                "the dask executor needs dask.distributed: pip install 'xaibench[distributed]'"
            ) from err
        self.cluster = None
        # set before the cluster starts: the local workers' nannies pass this config on
        self._config = dask.config.set(_generous_timeouts())
        try:
            if scheduler:
                _answers_as_dask(scheduler)
                try:
                    self.client = Client(scheduler, timeout=f"{HANDSHAKE_SECONDS}s")
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
                    env=allocator_environment(),  # as xaibench run's own (README, Memory)
                )
                self.client = Client(self.cluster)
        except BaseException:
            self._config.__exit__(None, None, None)
            raise
        self.pending: dict = {}  # future -> _Sent
        self.shared: dict = {}  # model key -> futures of (key, bytes) on the cluster

    def share(self, key: str, model):
        """The model's handle on the cluster: ``(key, .keras bytes)`` scattered to one worker,
        once per model (again when the worker holding it was lost)."""
        if model is None:
            return None
        held = self.shared.get(key, ())  # a tuple of two futures: a scattered tuple's items
        if not held or any(f.status != "finished" for f in held):
            self.shared[key] = self.client.scatter((key, model_bytes(model)), broadcast=False)
        return self.shared[key]

    def submit(self, key: str, model, work: Work, *, on_done) -> None:
        """``compute_method(model, work)`` on a worker, ``key`` naming the model (it travels
        once); ``on_done(result, None)`` or ``(None, exception)`` runs in a later ``drain`` (or
        now, when the task cannot be sent)."""
        self._send(_Sent(key, model, work, on_done))
        self.drain()

    def _send(self, task: _Sent) -> None:
        try:
            future = self.client.submit(
                remote_method, self.share(task.key, task.model), task.work, pure=False
            )
        except Exception as err:  # noqa: BLE001 - retried or stored in the task's cells
            self._failed(task, err)
        else:
            self.pending[future] = task

    def _failed(self, task: _Sent, err: Exception) -> None:
        """Send ``task`` again after a transient failure while retries are left, else hand
        ``err`` to its ``on_done``."""
        if not transient(err) or task.attempts >= RETRIES:
            task.on_done(None, err)
            return
        time.sleep(RETRY_PAUSE * 2**task.attempts)
        task.attempts += 1
        self.shared.pop(task.key, None)  # the model may be what was lost: scatter it again
        self._send(task)

    def drain(self, *, wait: bool = False) -> None:
        """Hand every finished task to its ``on_done``; with ``wait``, until none is left."""
        from distributed import wait as wait_for

        while self.pending:
            done = [f for f in self.pending if f.done()]
            if not done:
                if not wait:
                    return
                try:
                    wait_for(list(self.pending), return_when="FIRST_COMPLETED", timeout=60)
                except TimeoutError:
                    pass  # nothing finished within the minute: look again
                except Exception:  # noqa: BLE001 - futures cancelled with a lost worker's model
                    time.sleep(0.1)  # they are done now, and retried or stored below
                continue
            for future in done:
                task = self.pending.pop(future)
                try:
                    value = future.result()
                except Exception as err:  # noqa: BLE001 - a lost worker, an unpicklable method, ...
                    self._failed(task, err)
                else:
                    task.on_done(value, None)

    def start(self) -> None:
        """The cluster started with the executor."""

    @property
    def parallel(self) -> int:
        """How many tasks the cluster computes at once: its workers' threads (1 if it cannot
        tell: the estimate then assumes one)."""
        try:
            return max(1, sum(self.client.nthreads().values()))
        except Exception:  # noqa: BLE001 - the estimate then assumes one
            return 1

    def worker_peak(self) -> float | None:
        """The largest peak resident memory (MB) of the workers over their lives (each measures
        its own, its cells' stages included: ``worker_peak_mb``), or None (they cannot tell)."""
        try:
            peaks = [mb for mb in self.client.run(worker_peak_mb).values() if mb is not None]
        except Exception:  # noqa: BLE001 - the run's own peak is still stored
            return None
        return max(peaks) if peaks else None

    def close(self) -> None:
        for future in self.pending:
            future.cancel()
        self.pending.clear()
        try:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            self._config.__exit__(None, None, None)


def executor(name: str = "local", *, scheduler: str | None = None, workers: int | None = None):
    """The executor called ``name`` ("local" or "dask"); ValueError for a bad combination.

    "local" with ``workers`` None or 1 computes in this process (``LocalExecutor``); with more,
    in as many worker processes on this machine (``processes.ProcessExecutor``), at most one per
    usable CPU. "dask": ``DaskExecutor``."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(f"--workers must be a positive integer, got {workers!r}")
    if name == "local":
        if scheduler:
            raise ValueError("--scheduler needs --executor dask")
        if workers is None or workers == 1:
            return LocalExecutor()
        from xaibench.benchmark.processes import ProcessExecutor, check_workers

        return ProcessExecutor(check_workers(workers))
    if scheduler and workers is not None:
        raise ValueError(
            "give --scheduler (an existing cluster) or --workers (a local one), not both"
        )
    return DaskExecutor(scheduler, workers)
