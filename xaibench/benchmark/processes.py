"""Cells computed by worker processes on this machine: ``xaibench run --workers N``.

On the zoo's small models TensorFlow leaves much of a 2-core machine idle while a cell is
computed (Python, tracing, small kernels); N processes computing N tasks at once use it. The
unit of work and the split of labour are the Dask executor's (``executors``): a task is one
method on one (dataset, model) (``executors.Work``), computed by ``executors.remote_method`` in
a worker, which measures each cell's peak memory (it runs one task at a time); the run's
process keeps the rest (the data, training, the store, whose only writer it stays) and stores
each task's cells when its answer comes back (``drain``, in the run's own thread).

Each model travels once, as ``executors.model_bytes`` in a file of a temporary folder the
workers read it from (loaded once per worker, ``executors._worker_model``); a task travels
pickled, components registered as functions by their function (``_Pickler``), so a worker can
import every component the run's process could (it gets the same ``sys.path``). Each worker
computes on its share of the CPUs (``usable_cpus() // N`` threads for TensorFlow, BLAS and
xaibench's own pools), started with "spawn" (no copy of the run's threads or TensorFlow state).

A thread of the run's process hands the tasks to idle workers, one at a time each, and collects
their answers, so that the workers go on while the run's thread trains the next model or stores
cells. A worker that dies (killed, out of memory, a crash in native code) loses only the task it
held: that task is sent once more to a new worker, and if that one dies too its cells are stored
as failed (``WorkerLost``); the run goes on. Workers ignore Ctrl-C: the run's process stops them
(``close``) and keeps what finished.

>>> ex = ProcessExecutor(2)  # doctest: +SKIP
>>> ex.submit(key, model, Work(method, metrics, x, y), on_done=store_it)  # doctest: +SKIP
>>> ex.drain(wait=True); ex.close()  # doctest: +SKIP
"""

from __future__ import annotations

import io
import multiprocessing
import pickle
import queue
import shutil
import signal
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

# Only the standard library and xaibench._system here: a worker imports this module first and
# tunes its allocator and threads before TensorFlow is imported (``_serve``).
from xaibench._system import (
    available_mb,
    share_cpus,
    torch_before_tensorflow,
    tune_allocator,
    usable_cpus,
)

RETRIES = 1  # how many times a task whose worker died is sent again, to a new worker
START_FAILURES = 2  # workers in a row that die before they are ready: the workers cannot start
POLL = 0.05  # seconds the dispatching thread waits for an answer before it looks for new tasks
READY = b"ready"  # a worker's first message


# The memory a worker process of the built-in suites is given room for: TensorFlow, a model or
# two and a task (their workers peaked at MEASURED), with room for the run's process to grow.
WORKER_MB = 1500


class WorkerLost(RuntimeError):
    """The worker process computing a task died."""


class WorkerFailed(RuntimeError):
    """A worker could not read a task or send its result back (its text says why)."""


def check_workers(workers: int) -> int:
    """``workers`` if this process may run that many worker processes: at most one per usable
    CPU (more would only compete for the cores, each holding TensorFlow); else ValueError."""
    cpus = usable_cpus()
    if workers > cpus:
        raise ValueError(
            f"--workers {workers} is more than the {cpus} CPUs this process may use: more worker "
            f"processes than CPUs only compete for them (give --workers {cpus} or fewer)"
        )
    return workers


def default_workers(wanted: int) -> int:
    """How many of ``wanted`` worker processes this machine affords: at most one per usable CPU
    and one per ``WORKER_MB`` of available memory (``_system.available_mb``); at least 1."""
    memory = available_mb()
    fits = wanted if memory is None else int(memory // WORKER_MB)
    return max(1, min(wanted, usable_cpus(), fits))


class _Pickler(pickle.Pickler):
    """Pickles the class of a component registered as a function (``make_function_class``: it
    has no importable name of its own) as its function and name: unpickling imports the
    function's module, which registers it again (``_registered_class``)."""

    def reducer_override(self, obj):
        fn = vars(obj).get("_registered_function") if isinstance(obj, type) else None
        if fn is None:
            return NotImplemented
        return _registered_class, (fn.__func__, obj.name)


def _registered_class(fn, name: str) -> type:
    """The method or metric class registered as ``name`` from the function ``fn``."""
    import xaibench as xb

    for kind in (xb.methods, xb.metrics):
        if name in kind.names() and getattr(kind.cls(name), "_registered_function", None) is fn:
            return kind.cls(name)
    raise pickle.UnpicklingError(f"no method or metric {name!r} is registered from {fn!r}")


def dumps(value) -> bytes:
    """``value`` pickled as the workers read it (``_Pickler``)."""
    out = io.BytesIO()
    _Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return out.getvalue()


def _serve(conn, threads: int, torch: bool = False) -> None:
    """A worker process: tunes itself, says it is ready, then answers every task it receives
    until the run's process closes the pipe (or stops it). ``torch``: the run's process has
    torch loaded, so the worker loads it before TensorFlow (``torch_before_tensorflow``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's process's to handle
    tune_allocator()  # as xaibench run does for itself, before TensorFlow starts
    if torch:
        torch_before_tensorflow()
    share_cpus(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # BLAS and OpenMP
    from xaibench._tf import tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    from xaibench.benchmark import executors

    executors.ONE_TASK_AT_A_TIME = True  # each cell's peak memory is its own
    conn.send_bytes(READY)
    try:
        while True:
            conn.send_bytes(_answer(conn.recv_bytes()))
    except (EOFError, OSError):  # the run's process closed the pipe, or is gone
        return


def _answer(blob: bytes) -> bytes:
    """The pickled answer to one task: ``("ok", MethodResult, peak MB)`` or ``("error", text,
    peak MB)`` when the task cannot be read, its model loaded or its result pickled."""
    from xaibench.benchmark.executors import error_text, remote_method, worker_peak_mb

    try:
        shared, work = pickle.loads(blob)
        answer = ("ok", remote_method(shared, work))
        return dumps((*answer, worker_peak_mb()))
    except Exception as err:  # noqa: BLE001 - stored in the task's cells
        return dumps(("error", f"in a worker process: {error_text(err)}", worker_peak_mb()))


@dataclass
class _Task:
    """One task as the workers receive it, with its ``on_done`` and the workers it lost."""

    blob: bytes
    on_done: object
    attempts: int = 0


class _Worker:
    """One worker process, the end of its pipe, whether it is ready and the task it holds."""

    def __init__(self, context, threads: int):
        self.conn, theirs = context.Pipe()
        torch = "torch" in sys.modules  # the run has torch models: the workers load it first
        self.process = context.Process(
            target=_serve, args=(theirs, threads, torch), name="xaibench-worker", daemon=True
        )
        self.process.start()
        theirs.close()
        self.ready = False
        self.task: _Task | None = None

    def death(self) -> str:
        """How the dead process ended: "killed by SIGKILL", "exited with code 1"."""
        self.process.join(timeout=5)
        code = self.process.exitcode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def stop(self) -> None:
        """Stop the process (SIGTERM, SIGKILL if that does not do within 5 s): what it holds
        is its models and the task it may be computing, which nobody waits for any more."""
        self.conn.close()
        self.process.terminate()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class ProcessExecutor:
    """Runs tasks in ``workers`` worker processes on this machine, each on ``usable_cpus() //
    workers`` threads (see the module's docstring), started by ``start`` (or the first
    ``submit``: a run with nothing to compute starts none); ``close`` stops them."""

    name = "local"
    where = "the worker processes"
    # A cell computed by one of two workers on a 2-core machine (one thread each, the run's
    # process training beside them) takes longer than the cost probes (timed in the run's
    # process, on every thread: the model and each method) predict, while the run's process
    # trains the next model beside the workers, so part of the training is hidden. Fitted on
    # an idle 2-core machine from an empty model cache to the quick (73 s) and the default
    # suite's (520 s) wall time: N workers count as N * WORKER_EFFICIENCY processes at the
    # probes' speed, and TRAINING_WALL of the training's estimate adds to the wall time. Runs
    # after the fit took 1.08x (quick) and 1.01x (default) the estimate (README: Cost estimates).
    WORKER_EFFICIENCY, TRAINING_WALL = 0.9, 0.55

    def __init__(self, workers: int):
        self.parallel = workers
        self.speedup = workers * self.WORKER_EFFICIENCY
        self.training_wall = self.TRAINING_WALL if workers > 1 else 1.0
        self.threads = max(1, usable_cpus() // workers)
        self._context = multiprocessing.get_context("spawn")
        self._folder = Path(tempfile.mkdtemp(prefix="xaibench-models-"))
        self._files: dict[str, Path] = {}  # model key -> the file of its bytes
        self._submitted: queue.Queue = queue.Queue()  # tasks for the dispatching thread
        self._answers: queue.Queue = queue.Queue()  # (task, answer bytes or exception)
        self._outstanding = 0  # submitted, not handed to their on_done yet
        self._peak: float | None = None
        self._stopping = threading.Event()
        # the dispatching thread's own state from here on
        self._waiting: deque[_Task] = deque()
        self._failed_starts = 0
        self._broken: str | None = None
        self._workers: list[_Worker] = []
        self._thread = threading.Thread(target=self._dispatch, name="xaibench-dispatch")
        self._thread.daemon = True

    def start(self) -> None:
        """Start the workers (they import TensorFlow while the run prepares), once."""
        if self._thread.ident is None and not self._stopping.is_set():  # not started yet
            self._workers = [_Worker(self._context, self.threads) for _ in range(self.parallel)]
            self._thread.start()

    def submit(self, key: str, model, work, *, on_done) -> None:
        """``compute_method(model, work)`` in a worker, ``key`` naming the model (its file is
        written once); ``on_done(result, None)`` or ``(None, exception)`` runs in a later
        ``drain`` (or now, when the task cannot be pickled)."""
        try:
            shared = (key, self._model_file(key, model)) if model is not None else None
            blob = dumps((shared, work))
        except Exception as err:  # noqa: BLE001 - stored in the task's cells
            on_done(None, err)
            return
        self.start()
        self._outstanding += 1
        self._submitted.put(_Task(blob, on_done))
        self.drain()

    def _model_file(self, key: str, model) -> Path:
        from xaibench.benchmark.executors import model_bytes

        if key not in self._files:
            path = self._folder / f"{len(self._files)}.model"
            path.write_bytes(model_bytes(model))
            self._files[key] = path
        return self._files[key]

    def drain(self, *, wait: bool = False) -> None:
        """Hand every answered task to its ``on_done`` (in this thread: the store's writer);
        with ``wait``, until every task submitted is answered."""
        while self._outstanding:
            try:
                task, answer = (
                    self._answers.get(timeout=1.0) if wait else self._answers.get_nowait()
                )
            except queue.Empty:
                if not wait:
                    return
                if not self._thread.is_alive():
                    raise RuntimeError(
                        "the thread dispatching tasks to the workers stopped"
                    ) from None
                continue
            self._outstanding -= 1
            self._hand(task, answer)

    def _hand(self, task: _Task, answer) -> None:
        if isinstance(answer, Exception):
            task.on_done(None, answer)
            return
        status, value, peak = pickle.loads(answer)
        if peak is not None:
            self._peak = max(self._peak or 0.0, peak)
        if status == "ok":
            task.on_done(value, None)
        else:
            task.on_done(None, WorkerFailed(value))

    def worker_peak(self) -> float | None:
        """The largest peak resident memory (MB) of the workers over their lives, as their
        answers said (``executors.worker_peak_mb``), or None."""
        return self._peak

    def close(self) -> None:
        """Stop the dispatching thread and the workers (a task they compute is lost: the run
        ends, interrupted, or failed), remove the models' folder."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        for worker in self._workers:
            worker.stop()
        self._workers.clear()
        shutil.rmtree(self._folder, ignore_errors=True)

    # The dispatching thread --------------------------------------------------------------

    def _dispatch(self) -> None:
        """Send waiting tasks to ready idle workers, collect answers, replace dead workers,
        until ``close``."""
        while not self._stopping.is_set():
            while not self._submitted.empty():
                self._waiting.append(self._submitted.get_nowait())
            if self._broken is not None:
                self._fail_waiting()
            for worker in self._workers:
                if worker.ready and worker.task is None and self._waiting:
                    worker.task = self._waiting.popleft()
                    try:
                        worker.conn.send_bytes(worker.task.blob)
                    except OSError:
                        pass  # it died: found out below
            ends = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
            if not ends:  # no worker left (they cannot start): nothing to hear
                self._stopping.wait(POLL)
                continue
            heard = wait(ends, timeout=POLL)
            for worker in [w for w in self._workers if {w.conn, w.process.sentinel} & set(heard)]:
                self._hear(worker)

    def _hear(self, worker: _Worker) -> None:
        """Take ``worker``'s message (ready, or its task's answer), or its death."""
        try:
            message = worker.conn.recv_bytes() if worker.conn.poll() else None
        except (EOFError, OSError):
            message = None
        if message is None:
            if not worker.process.is_alive() or worker.conn.closed:
                self._lost(worker)
            else:
                worker.process.join(timeout=POLL)  # the pipe closed: it is dying
            return
        if not worker.ready:
            worker.ready, self._failed_starts = message == READY, 0
            return
        task, worker.task = worker.task, None
        self._answers.put((task, message))

    def _lost(self, worker: _Worker) -> None:
        """``worker`` died: a new one replaces it; the task it held is sent once more, or its
        cells get the cause; workers that die before they are ready, twice in a row, mean that
        they cannot start: every task then fails."""
        self._workers.remove(worker)
        how = worker.death()
        worker.conn.close()
        if not worker.ready:
            self._failed_starts += 1
            if self._failed_starts >= START_FAILURES:
                self._broken = (
                    f"the worker processes could not start ({how}; their error is printed "
                    "above): run with --workers 1 to compute in xaibench's own process"
                )
        task = worker.task
        if task is not None:
            task.attempts += 1
            if task.attempts > RETRIES:
                self._answers.put((task, WorkerLost(_lost_text(how))))
            else:
                self._waiting.appendleft(task)
        if self._broken is None:
            self._workers.append(_Worker(self._context, self.threads))
        else:
            self._fail_waiting()

    def _fail_waiting(self) -> None:
        while self._waiting:
            self._answers.put((self._waiting.popleft(), WorkerLost(self._broken)))


def _lost_text(how: str) -> str:
    return (
        f"the worker process computing this method died ({how}), and so did the new one it was "
        "sent to again: out of memory, a crash in native code, or killed from outside "
        "(--workers 1 computes in xaibench's own process)"
    )
