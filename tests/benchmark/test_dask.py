"""The Dask executor: a run on a local Dask cluster stores the same cells and numbers as a local
run, failures of a method on a worker are stored and the run goes on, a worker running tasks in
two threads stores no per-cell peak memory, and bad executor options are usage errors. (A Dask
run's per-cell peak memory: tests/benchmark/test_cost.py.)"""

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import _runs
import pandas as pd
import pytest
from _tolerance import assert_scores_close

import xaibench as xb
from xaibench.benchmark import executors
from xaibench.benchmark.executors import executor
from xaibench.cli import main
from xaibench.store import Store

pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")

METHODS = ["saliency", "integrated_gradients", "occlusion", "random", "grad_cam"]
# every kind of metric: curves, a model-free one, re-explaining ones, a stochastic one
METRICS = ["deletion", "sparseness", "max_sensitivity", "model_randomisation", "road"]


@xb.methods.register("test_dask_failing")
def failing_on_workers(model, x, y):
    """Always raises, wherever it runs."""
    raise RuntimeError("this explainer is broken on every worker")


@xb.methods.register("test_dask_killing")
def killing_its_worker(model, x, y):
    """Kills the worker process running it (SIGKILL: a lost worker), every time when
    XAIBENCH_TEST_KILL_ALWAYS is set, else the first time only; then explains like saliency."""
    mark = Path(os.environ["XAIBENCH_TEST_KILL_MARK"])
    if os.environ.get("XAIBENCH_TEST_KILL_ALWAYS") or not mark.exists():
        mark.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return xb.methods.get("saliency")(model, x, y)


@pytest.fixture
def busy_cores():
    """Both cores of a 2-core machine (every usable core) kept busy by other processes."""
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(max(2, len(os.sched_getaffinity(0))))
    ]
    yield
    for p in loops:
        p.kill()
        p.wait()


def write_config(path, methods, metrics):
    extra = "[params.max_sensitivity]\nsamples = 3\n" if "max_sensitivity" in metrics else ""
    return _runs.write_config(path, methods, metrics, models=("linear", "cnn"), extra=extra)


def cells_and_scores(out):
    db = sqlite3.connect(out / "results.sqlite")
    cells = pd.read_sql_query(
        "SELECT key, dataset, model, method, metric, status, error FROM cells", db
    )
    scores = pd.read_sql_query(
        "SELECT c.key, s.sample, s.score FROM scores s JOIN cells c ON c.key = s.cell", db
    )
    curves = pd.read_sql_query("SELECT cell FROM curves", db)
    db.close()
    return cells.set_index("key").sort_index(), scores.sort_values(["key", "sample"]), curves


def test_dask_run_stores_what_a_local_run_stores(tmp_path, capsys, busy_cores):
    """With every core busy in other processes (the Dask comms are slow to answer), the dask run
    finishes and stores the local run's cells; scores to the README's 1e-5 (tests/_tolerance.py):
    the workers run the same code, but a task may see other thread counts. Fails if a setting
    or a seed were lost on the way to the workers."""
    cfg = write_config(tmp_path / "c.toml", METHODS, METRICS)
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert main(["run", "--config", str(cfg), "--out", str(local), "--no-progress"]) == 0
    args = ["run", "--config", str(cfg), "--out", str(dask), "--no-progress"]
    assert main(args + ["--executor", "dask", "--workers", "2"]) == 0
    assert "50 cells: 50 computed, 0 reused" in capsys.readouterr().out
    cells_l, scores_l, curves_l = cells_and_scores(local)
    cells_d, scores_d, curves_d = cells_and_scores(dask)
    # the same cells (keys hash every setting), the same statuses, the same numbers
    pd.testing.assert_frame_equal(cells_d.drop(columns="error"), cells_l.drop(columns="error"))
    assert (cells_d.status == "ok").sum() > 30 and "not_applicable" in set(cells_d.status)
    assert list(scores_d.key) == list(scores_l.key) and len(scores_d) > 30 * 6
    assert_scores_close(scores_d.score, scores_l.score)
    assert sorted(curves_d.cell) == sorted(curves_l.cell)
    # the report has everything: gallery attributions came back from the workers
    board_l = pd.read_csv(local / "leaderboard.csv")
    board_d = pd.read_csv(dask / "leaderboard.csv")
    pd.testing.assert_frame_equal(board_d, board_l, rtol=1e-5)
    assert (dask / "report.html").stat().st_size > 10_000
    # the same command again reuses every cell, whichever executor stored it
    assert main(args) == 0
    assert "50 cells: 0 computed, 50 reused" in capsys.readouterr().out


def test_a_method_failing_on_the_workers_is_stored_and_the_run_goes_on(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.toml", ["test_dask_failing", "saliency"], ["deletion"])
    out = tmp_path / "run"
    args = ["run", "--config", str(cfg), "--out", str(out), "--no-progress"]
    assert main(args + ["--executor", "dask", "--workers", "1"]) == 1
    captured = capsys.readouterr()
    assert "2 failed" in captured.out
    assert "digits/cnn/test_dask_failing/deletion: RuntimeError: this explainer is broken" in (
        captured.err
    )
    cells, _, _ = cells_and_scores(out)
    status = cells.set_index(["model", "method"])["status"]
    assert (status.loc[(slice(None), "saliency")] == "ok").all()
    assert (status.loc[(slice(None), "test_dask_failing")] == "error").all()


@pytest.mark.parametrize("always", [False, True], ids=["once", "always"])
def test_a_worker_killed_mid_run(tmp_path, capsys, monkeypatch, always):
    """A method kills its worker process: once (the task is sent again and its cells are
    computed) or every time (its cells are stored as failed with the error). Either way the other
    cells are computed and the run finishes."""
    import dask.config

    monkeypatch.setenv("XAIBENCH_TEST_KILL_MARK", str(tmp_path / "killed"))
    if always:
        monkeypatch.setenv("XAIBENCH_TEST_KILL_ALWAYS", "1")
    monkeypatch.setattr(executors, "RETRY_PAUSE", 0.1)
    cfg = _runs.write_config(
        tmp_path / "c.toml", ["saliency", "test_dask_killing"], ["deletion", "sparseness"]
    )
    out = tmp_path / "run"
    args = ["run", "--config", str(cfg), "--out", str(out), "--no-progress"]
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        code = main(args + ["--executor", "dask", "--workers", "2"])
    assert (tmp_path / "killed").exists()
    cells, _, _ = cells_and_scores(out)
    status = cells.set_index("method")["status"]
    assert (status.loc["saliency"] == "ok").all()
    if always:
        assert code == 1 and "2 failed" in capsys.readouterr().out
        assert (status.loc["test_dask_killing"] == "error").all()
        assert (
            cells.set_index("method")
            .loc["test_dask_killing", "error"]
            .str.contains("KilledWorker")
            .all()
        )
    else:
        assert code == 0
        assert (status.loc["test_dask_killing"] == "ok").all()
    assert (out / "leaderboard.csv").exists()  # the run finished and wrote its outputs


def test_a_worker_with_two_threads_records_no_cell_peak(tmp_path, capsys):
    """A worker running two tasks at once in threads cannot tell one cell's peak memory from
    the other's: its cells store None (NaN), while the run still stores the worker's peak."""
    cfg = _runs.write_config(tmp_path / "c.toml", ["saliency", "random"], ["sparseness"])
    out = tmp_path / "run"
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    )
    try:
        args = ["run", "--config", str(cfg), "--out", str(out), "--no-progress"]
        assert main([*args, "--executor", "dask", "--scheduler", cluster.scheduler_address]) == 0
    finally:
        cluster.close()
    capsys.readouterr()
    with Store(out / "results.sqlite", readonly=True) as store:
        run, cells = store.run(), store.cells()
    assert len(cells) == 2 and (cells.status == "ok").all()
    assert cells["peak_memory_mb"].isna().all()
    assert run["worker_peak_memory_mb"] > 100  # a worker holds TensorFlow and the model


def test_failing_plumbing_is_retried_then_stored(monkeypatch):
    """A connection that fails is retried RETRIES times, then handed on: never raised."""
    monkeypatch.setattr(executors, "RETRY_PAUSE", 0.0)
    ex = executors.DaskExecutor.__new__(executors.DaskExecutor)
    ex.pending, ex.shared, calls, results = {}, {}, [], []

    class Client:
        def submit(self, *args, **kw):
            calls.append(args)
            raise OSError("Timed out trying to connect to tcp://127.0.0.1:1")

    ex.client = Client()
    ex.submit(
        "k",
        None,
        executors.Work("m", [], None, None),
        on_done=lambda value, err: results.append((value, err)),
    )
    assert len(calls) == 1 + executors.RETRIES
    [(value, err)] = results
    assert value is None and "Timed out" in str(err)


def test_generous_timeouts_unless_configured():
    import dask.config

    assert executors._generous_timeouts() == executors.TIMEOUTS
    with dask.config.set({"distributed.comm.timeouts.connect": "5s"}):
        assert "distributed.comm.timeouts.connect" not in executors._generous_timeouts()
    ex = executor("dask", workers=1)
    try:
        assert dask.config.get("distributed.comm.timeouts.connect") == "120s"
        timeouts = ex.client.run(lambda: dask.config.get("distributed.comm.timeouts.connect"))
        assert set(timeouts.values()) == {"120s"}  # the workers have them too
        # (this cluster also shows that the workers start with xaibench run's allocator tuning)
        arenas = ex.client.run(lambda: os.environ.get("MALLOC_ARENA_MAX"))
        assert set(arenas.values()) == {"1"}
    finally:
        ex.close()
    assert dask.config.get("distributed.comm.timeouts.connect") == "30s"


@pytest.mark.parametrize(
    "options, message",
    [
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
        (["--executor", "dask", "--workers", "0"], "workers must be a positive integer"),
        (
            ["--executor", "dask", "--workers", "1", "--scheduler", "tcp://127.0.0.1:1"],
            "not both",
        ),
        (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask"),
    ],
)
def test_bad_executor_options_exit_2_before_any_work(tmp_path, capsys, options, message):
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["deletion"])
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), *options]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (out / "results.sqlite").exists()


def test_unknown_executor_is_a_value_error():
    with pytest.raises(ValueError, match="unknown executor 'spark'; valid executors: local, dask"):
        executor("spark")


def test_meta_evaluation_and_sweep_cells_run_on_dask_like_the_rest(tmp_path, capsys):
    """The meta-evaluation's cells (the perturbed model restored on the worker) and a sweep
    variant come back from a worker with the local run's keys and numbers."""
    extra = (
        "[meta]\niterations = 1\nperturbations = 1\nsamples = 4\n"
        '[sweep.deletion]\nbaseline = ["mean"]\n'
    )
    cfg = _runs.write_config(tmp_path / "c.toml", ["saliency", "random"], ["deletion"], extra=extra)
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert main(["run", "--config", str(cfg), "--out", str(local), "--no-progress"]) == 0
    args = ["run", "--config", str(cfg), "--out", str(dask), "--no-progress"]
    assert main(args + ["--executor", "dask", "--workers", "1"]) == 0
    assert "14 cells: 14 computed" in capsys.readouterr().out  # 2 x (1 + 1 + 1 + 2 x 2)
    cells_l, scores_l, _ = cells_and_scores(local)
    cells_d, scores_d, _ = cells_and_scores(dask)
    pd.testing.assert_frame_equal(cells_d.drop(columns="error"), cells_l.drop(columns="error"))
    assert list(scores_d.key) == list(scores_l.key)
    assert_scores_close(scores_d.score, scores_l.score)
