"""Drawing a run's figures on every core: figure jobs drawn by this process and by worker
processes beside it, the same files as drawn one after the other.

A `Job` is one figure function (a module-level function of ``xaibench.results``, pickled by
name) with its arguments. `Drawing` takes groups of jobs as they become known and draws them:
with ``workers`` > 0 in a pool of that many worker processes, which take the jobs from the
front while this process takes them from the back (those no worker has started), so that both
are busy until the last figure; without, or when no worker can start or one dies, in this
process, one after the other. `workers_for` says how many workers pay for their start.

The workers are started with "spawn" (a fresh interpreter: the caller may hold TensorFlow's
threads, which a fork would copy in an undefined state), do not run the caller's ``__main__``
again (a user's script without a ``if __name__ == "__main__"`` guard would otherwise run again
in each worker), draw with the caller's matplotlib settings, ignore Ctrl-C (the caller stops
them) and import no TensorFlow. Figures are deterministic (PNG palettes, PDFs without a
creation date), so a figure drawn by a worker has the bytes it has drawn here.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
import types
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import matplotlib

from xaibench._system import usable_cpus

# A worker starts in ~1.3 s of CPU (a fresh interpreter importing numpy, pandas, matplotlib
# and the figure modules); a figure takes 0.1-1.3 s (~0.4 s on average over the quick suite's
# 56). From MIN_JOBS figures on, the workers save more time than they cost: fewer are drawn
# here, one after the other (a tiny run's tests stay in one process).
MIN_JOBS = 24


@dataclass(frozen=True)
class Job:
    """A figure to draw: ``draw(*args, **kwargs)``; ``draw`` is a module-level function (a
    worker finds it by name), returning what it wrote (a path, or None for nothing)."""

    draw: Callable[..., Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def __call__(self) -> Any:
        return self.draw(*self.args, **self.kwargs)


def drawn(jobs: list[Job]) -> list:
    """Draw ``jobs`` here, one after the other; return what they wrote (None left out)."""
    return [p for p in (job() for job in jobs) if p is not None]


def workers_for(jobs: int) -> int:
    """The worker processes that pay for ``jobs`` figures: one per usable CPU but this
    process's, none under `MIN_JOBS` figures."""
    return usable_cpus() - 1 if jobs >= MIN_JOBS else 0


class Drawing:
    """Groups of figure jobs drawn here and by ``workers`` worker processes (0: here only).

    >>> with Drawing(workers=1) as drawing:  # doctest: +SKIP
    ...     drawing.submit({"ranks": jobs})  # the workers start on them
    ...     ...  # this process computes something else meanwhile
    ...     made = drawing.drawn()  # {"ranks": [paths]}, in the jobs' order

    A worker is given one job at a time, from the front, once it has started (a feeding
    thread per worker); this process takes the others from the back: no job waits for a
    worker that is still starting, or busy, while this process could draw it.
    """

    def __init__(self, workers: int = 0):
        self._jobs: list[tuple[str, Job]] = []
        self._waiting: deque[int] = deque()  # jobs nobody has taken yet
        self._sent: dict[int, Future] = {}  # jobs a worker has
        self._more = threading.Condition()  # guards the above and ``_open``
        self._open = True  # jobs may come (until `drawn`)
        self._pool = _pool(workers) if workers > 0 else None
        self._feeders = [
            threading.Thread(target=self._feed, args=(started,), daemon=True)
            for started in self._start(workers)
        ]
        for feeder in self._feeders:
            feeder.start()

    def __enter__(self) -> Drawing:
        return self

    def __exit__(self, *exc) -> None:
        with self._more:
            self._open = False
            self._waiting.clear()  # after an error: nothing more to draw
            self._more.notify_all()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        for feeder in self._feeders:
            feeder.join()

    def _start(self, workers: int) -> list[Future]:
        """Start the workers: a first empty job each, done once it has started."""
        if self._pool is None:
            return []
        try:
            with _main_left_alone():  # the pool starts its workers at a submit
                return [self._pool.submit(_started) for _ in range(workers)]
        except (OSError, RuntimeError):  # no process could start (BrokenProcessPool too)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            return []

    def submit(self, groups: dict[str, list[Job]]) -> None:
        """Queue the jobs of ``groups`` ({group: jobs}); the workers start on them at once."""
        with self._more:
            for group, jobs in groups.items():
                for job in jobs:
                    self._waiting.append(len(self._jobs))
                    self._jobs.append((group, job))
            self._more.notify_all()

    def _feed(self, started: Future) -> None:
        """A worker's thread: once the worker has started, give it the first job waiting, wait
        until it is done, and so on until `drawn` has no job left."""
        wait([started])
        if started.cancelled() or started.exception() is not None:
            return  # it could not start: this process draws its jobs
        while (future := self._send()) is not None:
            wait([future])

    def _send(self) -> Future | None:
        with self._more:
            self._more.wait_for(lambda: self._waiting or not self._open)
            if not self._waiting:
                return None
            try:
                future = self._pool.submit(self._jobs[self._waiting[0]][1])
            except RuntimeError:  # the pool broke (a worker died) or was shut down
                return None
            self._sent[self._waiting.popleft()] = future
            return future

    def drawn(self) -> dict[str, list]:
        """Draw the jobs no worker has taken here, the last first, until none is left, and
        wait for the workers' (without workers, or when none could start: every job, in
        order). Return {group: what its jobs wrote (None left out)}, groups in the order they
        were first submitted, jobs in their order. No job can be submitted afterwards."""
        results: dict[int, Any] = {}
        with self._more:
            self._open = False
            self._more.notify_all()
        if self._feeders:
            while (i := self._take()) is not None:
                results[i] = self._jobs[i][1]()
            for feeder in self._feeders:
                feeder.join()
        for i in self._left():
            results[i] = self._jobs[i][1]()
        for i in sorted(self._sent):
            results[i] = _result(self._sent[i], self._jobs[i][1])
        made: dict[str, list] = {}
        for i, (group, _) in enumerate(self._jobs):
            made.setdefault(group, [])
            if results[i] is not None:
                made[group].append(results[i])
        return made

    def _take(self) -> int | None:
        """The last job waiting, for this process to draw beside the workers (None: none)."""
        with self._more:
            return self._waiting.pop() if self._waiting else None

    def _left(self) -> list[int]:
        """The jobs no worker took (none could start, or the pool broke), in order."""
        with self._more:
            left = list(self._waiting)
            self._waiting.clear()
            return left


def _started() -> None:
    """The first job of a worker: done once it has started."""


def _result(future: Future, job: Job) -> Any:
    """What a worker's job wrote; drawn here when its worker died (killed, out of memory)."""
    try:
        return future.result()
    except BrokenProcessPool:
        return job()


def _pool(workers: int) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` "spawn" processes that draw with this process's matplotlib
    settings; None when the machine cannot give one (no semaphores, no processes)."""
    try:
        return ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(_changed_settings(),),
        )
    except (OSError, ImportError):
        return None


def _changed_settings() -> dict:
    """This process's matplotlib settings that a fresh interpreter would not have."""
    fresh = matplotlib.rc_params()  # matplotlib's defaults and the user's matplotlibrc
    rc = matplotlib.rcParams
    return {k: rc[k] for k in rc if k != "backend" and k in fresh and rc[k] != fresh[k]}


def _start_worker(settings: dict) -> None:
    """A worker's start: Ctrl-C is for the caller (which stops its workers), the caller's
    matplotlib settings."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a deprecated setting warned the caller already
        matplotlib.rcParams.update(settings)


@contextmanager
def _main_left_alone() -> Iterator[None]:
    """While a worker starts, ``__main__`` is an empty module, so that "spawn" does not run
    the caller's script (or module) again in the worker: a worker needs none of it."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main
