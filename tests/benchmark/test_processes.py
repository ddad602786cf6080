"""Local worker processes (``xaibench run --workers N``, the built-in suites' default): the same
cells and numbers as one process, an interrupted run keeps what finished and resumes, a worker
killed mid-run gives failed cells (not lost ones) and the run goes on, each worker computes on
its share of the CPUs, and bad ``--workers`` values are usage errors."""

import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import _runs
import numpy as np
import pandas as pd
import pytest
from _tolerance import assert_scores_close

import xaibench as xb
from xaibench.benchmark import processes, runner
from xaibench.cli import main
from xaibench.store import Store

pytestmark = pytest.mark.slow


@xb.methods.register("test_processes_killing")
def killing_its_worker(model, x, y):
    """SIGKILLs the process running it (a worker lost mid-task), noting each kill in the file
    $XAIBENCH_TEST_KILLS."""
    with open(os.environ["XAIBENCH_TEST_KILLS"], "a") as kills:
        kills.write("killed\n")
    os.kill(os.getpid(), signal.SIGKILL)


@xb.methods.register("test_processes_threads")
def noting_its_threads(model, x, y):
    """Writes its process id, TensorFlow's thread counts and ``usable_cpus`` to the file
    $XAIBENCH_TEST_THREADS; explains like saliency."""
    from xaibench._system import usable_cpus
    from xaibench._tf import tf

    threading = tf.config.threading
    Path(os.environ["XAIBENCH_TEST_THREADS"]).write_text(
        f"{os.getpid()} {threading.get_intra_op_parallelism_threads()} "
        f"{threading.get_inter_op_parallelism_threads()} {usable_cpus()}"
    )
    return xb.methods.get("saliency")(model, x, y)


@pytest.fixture
def two_cpus(monkeypatch):
    """This machine as one with 2 usable CPUs and memory for both workers of a suite."""
    monkeypatch.setattr(processes, "usable_cpus", lambda: 2)
    monkeypatch.setattr(processes, "available_mb", lambda: 2.5 * processes.WORKER_MB)


def workers_alive() -> list:
    return [p for p in multiprocessing.active_children() if p.name == "xaibench-worker"]


def stored(out):
    db = sqlite3.connect(out / "results.sqlite")
    cells = pd.read_sql_query(
        "SELECT key, method, metric, status, peak_memory_mb FROM cells", db
    ).set_index("key")
    scores = pd.read_sql_query(
        "SELECT c.key, s.sample, s.score FROM scores s JOIN cells c ON c.key = s.cell", db
    )
    db.close()
    return cells.sort_index(), scores.sort_values(["key", "sample"])


def test_two_workers_store_what_one_process_stores_and_resume(
    tmp_path, capsys, monkeypatch, two_cpus
):
    """A subset of the quick suite on its default (2 worker processes; the machine seen as 2
    CPUs), interrupted while storing its second task: the finished cells are kept, the workers
    stopped; run again, it computes only the rest and stores the cells of a one-process run
    (the same keys and statuses; scores to tests/_tolerance.py's rule: each worker runs
    TensorFlow on one thread instead of two) with each cell's peak measured in its worker."""
    subset = ["run", "--suite", "quick", "--samples", "6", "--datasets", "digits"]
    subset += ["--models", "linear,cnn", "--methods", "saliency,integrated_gradients,random"]
    subset += ["--metrics", "deletion,sparseness,max_sensitivity,road", "--no-progress"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*subset, "--out", str(one), "--workers", "1"]) == 0
    assert "worker processes" not in capsys.readouterr().err

    finish, calls = runner._Grid.finish_method, []

    def interrupted_at_the_second(grid, task, out, err):
        calls.append(task.method.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the run's thread stores a task
        finish(grid, task, out, err)

    monkeypatch.setattr(runner._Grid, "finish_method", interrupted_at_the_second)
    assert main([*subset, "--out", str(two)]) == 130
    assert f"xaibench run: quick -> {two} on 2 worker processes" in capsys.readouterr().err
    assert not workers_alive()
    kept, _ = stored(two)
    assert 0 < len(kept) < 24  # 2 models x 3 methods x 4 metrics
    with Store(two / "results.sqlite", readonly=True) as store:
        assert store.latest_run()["status"] == "interrupted"

    monkeypatch.setattr(runner._Grid, "finish_method", finish)
    assert main([*subset, "--out", str(two)]) == 0
    assert f"24 cells: {24 - len(kept)} computed, {len(kept)} reused" in capsys.readouterr().out
    cells_1, scores_1 = stored(one)
    cells_2, scores_2 = stored(two)
    pd.testing.assert_frame_equal(
        cells_2.drop(columns="peak_memory_mb"), cells_1.drop(columns="peak_memory_mb")
    )
    assert (cells_2.status == "ok").sum() > 15 and list(scores_2.key) == list(scores_1.key)
    assert_scores_close(scores_2.score, scores_1.score)
    with Store(two / "results.sqlite", readonly=True) as store:
        run = store.run()
    assert run["worker_peak_memory_mb"] > 100  # a worker holds TensorFlow and the model
    ok = cells_2[cells_2.status == "ok"]
    assert ok.peak_memory_mb.between(100, run["worker_peak_memory_mb"]).all()
    pd.testing.assert_frame_equal(
        pd.read_csv(two / "leaderboard.csv"), pd.read_csv(one / "leaderboard.csv"), rtol=1e-5
    )


def test_a_killed_worker_gives_failed_cells_and_the_run_goes_on(
    tmp_path, capsys, monkeypatch, two_cpus
):
    """A method that kills the worker computing it: its task goes once more to a new worker,
    which it kills too; its cells are stored as failed with the cause, the other methods' cells
    are computed (by workers on one CPU each: 2 CPUs // 2 workers) and the outputs written.
    Both methods are registered as functions: their classes travel by their function."""
    kills, threads = tmp_path / "kills", tmp_path / "threads"
    monkeypatch.setenv("XAIBENCH_TEST_KILLS", str(kills))
    monkeypatch.setenv("XAIBENCH_TEST_THREADS", str(threads))
    methods = ["test_processes_killing", "test_processes_threads", "random"]
    cfg = _runs.write_config(tmp_path / "c.toml", methods, ["deletion", "sparseness"])
    out = tmp_path / "run"
    args = ["run", "--config", str(cfg), "--out", str(out), "--no-progress", "--workers", "2"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "2 failed" in captured.out and (out / "leaderboard.csv").exists()
    assert kills.read_text().splitlines() == ["killed"] * 2  # sent once more, then failed
    cells, _ = stored(out)
    status = cells.set_index("method")["status"]
    assert (status.loc[["test_processes_threads", "random"]] == "ok").all()
    assert (status.loc["test_processes_killing"] == "error").all()
    with Store(out / "results.sqlite", readonly=True) as store:
        errors = store.cells().set_index("method").loc["test_processes_killing", "error"]
    assert errors.str.startswith("WorkerLost: the worker process computing this method died ").all()
    assert errors.str.contains("killed by SIGKILL").all()
    pid, intra, inter, cpus = map(int, threads.read_text().split())
    assert pid != os.getpid() and (intra, inter, cpus) == (1, 1, 1)
    assert not workers_alive()


@pytest.mark.parametrize(
    "options, message",
    [
        (["--workers", "0"], "--workers must be a positive integer, got 0"),
        (["--workers", "-2"], "--workers must be a positive integer, got -2"),
        (["--workers", "3"], "--workers 3 is more than the 2 CPUs this process may use"),
        (["--workers", "two"], "argument --workers: invalid int value: 'two'"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
    ],
)
def test_bad_workers_exit_2_before_any_work(tmp_path, capsys, two_cpus, options, message):
    cfg = _runs.write_config(tmp_path / "c.toml", ["saliency"], ["deletion"])
    out = tmp_path / "run"
    try:
        code = main(["run", "--config", str(cfg), "--out", str(out), *options])
    except SystemExit as exit:  # argparse's own usage errors
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and not workers_alive()


def test_the_suites_workers_as_the_machine_affords(monkeypatch):
    """At most one worker per usable CPU and per WORKER_MB of available memory, at least 1."""
    monkeypatch.setattr(processes, "usable_cpus", lambda: 2)
    afford = {
        (4, 10 * processes.WORKER_MB): 2,
        (2, 1.9 * processes.WORKER_MB): 1,
        (2, 0.5 * processes.WORKER_MB): 1,
        (1, 10 * processes.WORKER_MB): 1,
    }
    for (wanted, memory), workers in afford.items():
        monkeypatch.setattr(processes, "available_mb", lambda memory=memory: memory)
        assert processes.default_workers(wanted) == workers
    monkeypatch.setattr(processes, "available_mb", lambda: None)  # the platform does not say
    assert processes.default_workers(2) == 2
    assert np.array_equal([processes.default_workers(w) for w in (1, 2, 3)], [1, 2, 2])
