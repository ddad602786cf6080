"""results.sqlite identifies itself, is never changed unless it is xaibench's own, is opened
read-only by ``report`` and ``check``, migrates older schemas explicitly and inserts by name."""

from __future__ import annotations

import hashlib
import sqlite3

import numpy as np
import pytest
from _runs import write_config

from xaibench.benchmark import cost
from xaibench.cli import main
from xaibench.store import APPLICATION_ID, SCHEMA_VERSION, Store

pytestmark = pytest.mark.slow


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


def foreign_database(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE people (name TEXT, age INTEGER)")
        db.execute("INSERT INTO people VALUES ('ada', 36)")
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A small finished run directory (digits, linear, saliency/random x deletion)."""
    root = tmp_path_factory.mktemp("store")
    cfg = write_config(root / "c.toml", ["saliency", "random"], ["deletion"])
    out = root / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    return cfg, out


def copy_run(finished_run, tmp_path):
    import shutil

    cfg, out = finished_run
    shutil.copytree(out, tmp_path / "run")
    return cfg, tmp_path / "run"


def test_a_new_store_identifies_itself(finished_run):
    _, out = finished_run
    with sqlite3.connect(out / "results.sqlite") as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("command", ["run", "report", "check"])
def test_a_foreign_sqlite_file_is_refused_untouched(tmp_path, capsys, command):
    """The issue's case: any SQLite file named results.sqlite got xaibench's tables and WAL mode,
    even from report and check, which write nothing."""
    out = tmp_path / "run"
    path = foreign_database(out / "results.sqlite")
    before, names = digest(path), files(out)
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["deletion"])
    args = {
        "run": ["run", "--config", str(cfg), "--out", str(out), "--no-progress"],
        "report": ["report", str(out)],
        "check": ["check", "--baseline", str(tmp_path / "b.csv"), str(out)],
    }[command]
    if command == "check":
        (tmp_path / "b.csv").write_text(
            "dataset,model,method,metric,higher_is_better,mean,ci_low,ci_high\n"
            "d,m,a,deletion,False,0.5,0.4,0.6\n"
        )
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not an xaibench store" in err and "Traceback" not in err
    assert digest(path) == before and files(out) == names  # not even a -wal file


def test_report_and_check_write_nothing_to_the_store(finished_run, tmp_path):
    cfg, out = copy_run(finished_run, tmp_path)
    path = out / "results.sqlite"
    with sqlite3.connect(path) as db:  # fold the WAL in, so the file holds everything
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(path)
    assert main(["report", str(out)]) == 0
    baseline = tmp_path / "baseline.csv"
    baseline.write_text((out / "leaderboard.csv").read_text())
    (out / "leaderboard.csv").unlink()  # check reads the store itself
    assert main(["check", "--baseline", str(baseline), str(out)]) == 0
    assert digest(path) == before


def test_a_newer_store_is_refused_untouched(finished_run, tmp_path, capsys):
    cfg, out = copy_run(finished_run, tmp_path)
    path = out / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.execute("ALTER TABLE cells ADD COLUMN from_the_future TEXT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = digest(path)
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 2
    assert "written by a newer xaibench" in capsys.readouterr().err
    assert digest(path) == before


def test_an_extra_column_does_not_break_inserts(tmp_path):
    """Inserts name their columns: a column this version does not know stays NULL."""
    path = tmp_path / "results.sqlite"
    with Store(path) as store:
        store.db.execute("ALTER TABLE cells ADD COLUMN note TEXT")
        run = store.start_run({}, {}, "")

        class Metric:
            category, higher_is_better = "faithfulness", False

        store.put_cell(
            "k",
            ids={"dataset": "d", "model": "m", "method": "a", "metric": "q", "model_key": "mk"},
            metric=Metric(),
            status="ok",
            settings={},
            version="0",
            run_id=run,
            samples=np.arange(2),
            scores=np.array([0.1, 0.2]),
        )
        assert store.status("k") == "ok"


def test_a_store_from_before_the_identity_is_adopted_and_migrated(finished_run, tmp_path, capsys):
    """A schema-1 store (no application_id, no model-call columns) keeps its cells: they are
    reused, and the store is marked and migrated."""
    cfg, out = copy_run(finished_run, tmp_path)
    path = out / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 0")
        db.execute("PRAGMA user_version = 0")
        db.execute("ALTER TABLE cells DROP COLUMN forward_calls")
        db.execute("ALTER TABLE cells DROP COLUMN backward_calls")
        db.execute("ALTER TABLE cells DROP COLUMN tradeoff")
        db.execute("ALTER TABLE cells DROP COLUMN control")
    assert main(["report", str(out)]) == 0  # read-only: read as it is
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "0 computed, 2 reused" in capsys.readouterr().out
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        columns = {row[1] for row in db.execute("PRAGMA table_info(cells)")}
        assert {"forward_calls", "backward_calls", "tradeoff"} <= columns
        axes = dict(db.execute("SELECT metric, tradeoff FROM cells"))
        controls = dict(db.execute("SELECT method, control FROM cells"))
    assert axes == {"deletion": "faithfulness"}  # the axis the metric had before schema 3
    assert controls == {"random": 1, "saliency": 0}


SCHEMA_4 = [
    ("runs", "estimated_seconds"),
    ("runs", "peak_memory_mb"),
    ("runs", "worker_peak_memory_mb"),
    ("cells", "estimated_seconds"),
    ("cells", "peak_memory_mb"),
]


def test_a_run_records_its_cost_estimate_and_peak_memory(finished_run):
    """The run's estimate and peak resident memory (TensorFlow alone takes more than 100 MB);
    each cell's estimate, and where the kernel's high-water mark can be reset (Linux) the peak
    while it was computed, never above the run's."""
    _, out = finished_run
    with Store(out / "results.sqlite", readonly=True) as store:
        run, cells = store.run(), store.cells()
    assert run["peak_memory_mb"] > 100 and run["worker_peak_memory_mb"] is None
    assert run["estimated_seconds"] > 0 and cells["estimated_seconds"].gt(0).all()
    if cost.PeakMemory().resettable:
        assert cells["peak_memory_mb"].between(100, run["peak_memory_mb"]).all()


def test_a_schema_3_store_is_read_as_it_is_and_migrated(finished_run, tmp_path, capsys):
    """Schema 4 adds the cost estimate and the peak memory of runs and cells: a schema-3 store
    is read without them (None, NaN) and migrated by the next run, which reuses its cells (their
    new columns empty: they were not measured) and records its own."""
    cfg, out = copy_run(finished_run, tmp_path)
    path = out / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 3")
        for table, column in [*SCHEMA_4, ("cells", "variant")]:
            db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    assert main(["report", str(out)]) == 0  # read-only: read as it is
    with Store(path, readonly=True) as store:
        run = store.run()
        assert (run["peak_memory_mb"], run["estimated_seconds"]) == (None, None)
        assert store.cells()[["peak_memory_mb", "estimated_seconds"]].isna().all().all()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "0 computed, 2 reused" in capsys.readouterr().out
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        for table, column in SCHEMA_4:
            assert column in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    with Store(path, readonly=True) as store:
        first, second = store.run(run["id"]), store.run()
        cells = store.cells()
    assert first["peak_memory_mb"] is None and second["peak_memory_mb"] > 100
    assert second["estimated_seconds"] is None  # nothing to compute: nothing estimated
    assert cells["peak_memory_mb"].isna().all()  # the cells of before schema 4


def test_a_schema_4_store_is_read_as_configured_cells_and_migrated_to_5(
    finished_run, tmp_path, capsys
):
    """Schema 5 adds ``cells.variant`` (sweep variants and meta-evaluation cells): a schema-4
    store's cells are all the run as configured, read-only and after its migration."""
    cfg, out = copy_run(finished_run, tmp_path)
    path = out / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 4")
        db.execute("ALTER TABLE cells DROP COLUMN variant")
    with Store(path, readonly=True) as store:
        assert len(store.cells()) == 2 and store.cells()["variant"].isna().all()
        assert len(store.scores()) == 12 and store.variant_scores("meta:").empty
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "0 computed, 2 reused" in capsys.readouterr().out
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        assert db.execute("SELECT COUNT(*) FROM cells WHERE variant IS NULL").fetchone()[0] == 2


def test_variant_cells_are_read_only_when_asked_for(finished_run, tmp_path):
    """A sweep variant or a meta-evaluation cell stays out of every reader of the run as
    configured (cells, scores, curves): the leaderboard of a run is the same with or without
    them."""
    _, out = copy_run(finished_run, tmp_path)
    path = out / "results.sqlite"
    with Store(path) as store:
        run = store.latest_run()["id"]
        before = (
            store.cells(),
            store.scores(),
            store.curve_metrics(),
            store.metric_curves("deletion"),
        )
        for variant in ("sweep:steps=5", "meta:model:nr:0:0", "meta_x"):
            key = f"k-{variant}"
            ids = dict(dataset="digits", model="linear", method="saliency", metric="deletion")
            store.put_cell(
                key,
                ids={**ids, "model_key": None, "variant": variant},
                metric=type("M", (), {"category": "faithfulness", "higher_is_better": False})(),
                status="ok",
                settings={},
                version="x",
                run_id=run,
                samples=np.arange(2),
                scores=np.array([0.25, np.nan]),
                curves=np.zeros((2, 3)),
            )
            store.link(run, [key])
        after = (
            store.cells(),
            store.scores(),
            store.curve_metrics(),
            store.metric_curves("deletion"),
        )
        assert before[0].equals(after[0]) and before[1].equals(after[1])
        assert before[2] == after[2] and before[3].keys() == after[3].keys()
        for pair, curves in before[3].items():
            np.testing.assert_array_equal(curves["saliency"], after[3][pair]["saliency"])
        assert len(store.cells(variants=True)) == len(before[0]) + 3
        meta = store.variant_scores("meta:")  # "meta_x" is no meta: variant ("_" is literal)
        assert meta["variant"].tolist() == ["meta:model:nr:0:0"] * 2
        assert meta["score"].iloc[0] == 0.25 and np.isnan(meta["score"].iloc[1])


@pytest.mark.parametrize("kind", ["folder", "file_out"])
def test_unusable_store_paths_exit_2(tmp_path, capsys, kind):
    cfg = write_config(tmp_path / "c.toml", ["saliency"], ["deletion"])
    out = tmp_path / "run"
    if kind == "folder":  # results.sqlite is a folder
        (out / "results.sqlite").mkdir(parents=True)
    else:  # --out is a file
        out.write_text("not a folder")
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 2  # the banner, the error
