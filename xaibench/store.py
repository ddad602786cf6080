"""``results.sqlite``: the store that loses nothing.

Every finished cell (dataset, model, method, metric) is committed at once with its per-sample
scores, curves, status, error text, timings, settings and package version. A cell is identified by
the hash of its settings, so a run with changed settings reuses exactly the cells whose settings
match and never mixes in the others; every run records which cells it is made of.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from xaibench._storefile import reading_uri, writer_lock

# No quote marks nor commas in the SQL comments: SQLite's ALTER TABLE ... DROP COLUMN (the tests
# rebuild stores of earlier schemas with it) fails on a table whose definition has one in a comment.
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    config TEXT NOT NULL, versions TEXT NOT NULL, command TEXT,
    -- the cost estimate of the cells it computes (made at its start); the peak resident memory
    -- of its process; the largest peak of its Dask workers (dask executor)
    estimated_seconds REAL, peak_memory_mb REAL, worker_peak_memory_mb REAL
);
CREATE TABLE IF NOT EXISTS models (
    key TEXT PRIMARY KEY, dataset TEXT NOT NULL, model TEXT NOT NULL,
    accuracy REAL, params INTEGER, settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,
    dataset TEXT NOT NULL, model TEXT NOT NULL, method TEXT NOT NULL, metric TEXT NOT NULL,
    model_key TEXT, category TEXT, higher_is_better INTEGER,
    tradeoff TEXT,                   -- the tradeoff axis of the metric (Metric.tradeoff) if any
    control INTEGER,                 -- 1 if the method is a control (Method.control)
    status TEXT NOT NULL,            -- ok | error | not_applicable
    error TEXT, settings TEXT NOT NULL, version TEXT NOT NULL,
    explain_seconds REAL, metric_seconds REAL, finished TEXT NOT NULL, run_id INTEGER,
    forward_calls REAL, backward_calls REAL,  -- model calls per sample of the method if known
    -- the cost estimate of the cell (its share of the explanation included) and the peak
    -- resident memory while it was computed (where measured)
    estimated_seconds REAL, peak_memory_mb REAL,
    -- NULL for a cell of the run as configured. Else the kind of extra cell it is: a setting
    -- sweep variant (sweep:LABEL) or a meta-evaluation cell (meta:TEST:STRENGTH:L:K)
    variant TEXT
);
CREATE TABLE IF NOT EXISTS scores (
    cell TEXT NOT NULL, sample INTEGER NOT NULL, score REAL,
    PRIMARY KEY (cell, sample)
);
CREATE TABLE IF NOT EXISTS curves (cell TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS run_cells (
    run_id INTEGER NOT NULL, cell TEXT NOT NULL, PRIMARY KEY (run_id, cell)
);
-- arrays the report draws besides the scores: gallery inputs and attributions, model inspection
CREATE TABLE IF NOT EXISTS artifacts (
    key TEXT PRIMARY KEY, dataset TEXT NOT NULL, model TEXT NOT NULL, method TEXT,
    kind TEXT NOT NULL, data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS run_artifacts (
    run_id INTEGER NOT NULL, artifact TEXT NOT NULL, PRIMARY KEY (run_id, artifact)
);
"""

DONE = ("ok", "not_applicable")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def settings_key(settings: dict) -> str:
    """A stable hash of a settings dict."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _to_blob(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr, dtype=np.float64), allow_pickle=False)
    return buf.getvalue()


def _from_blob(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def _arrays_to_blob(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def _arrays_from_blob(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# The store identifies itself: SQLite's application_id holds "XAIB", user_version the schema.
APPLICATION_ID = 0x58414942
# 1: the first schema (stores written before the store identified itself are 1 or 2);
# 2: cells.forward_calls and cells.backward_calls; 3: cells.tradeoff and cells.control;
# 4: the cost estimate and peak memory of runs and cells (``estimated_seconds``,
# ``peak_memory_mb``; runs.worker_peak_memory_mb); 5: cells.variant (setting sweeps and
# meta-evaluation cells: every reader of the run as configured skips them).
SCHEMA_VERSION = 5
# The tables that make a store without an application_id one written by an earlier xaibench.
_OWN_TABLES = {"runs", "cells", "scores", "run_cells"}
# The metrics that fed the tradeoffs and the control methods when stores did not record them
# (schema < 3): the metadata of cells written then. Newer cells carry their components' own.
_CONTROLS_BEFORE_3 = ("random", "sobel")
_TRADEOFFS_BEFORE_3 = {
    "deletion": "faithfulness",
    "insertion": "faithfulness",
    "faithfulness_correlation": "faithfulness",
    "sparseness": "simplicity",
    "complexity": "simplicity",
}
# Columns each schema version added, applied in order by ``_migrate``.
_MIGRATIONS = {
    2: [
        "ALTER TABLE cells ADD COLUMN forward_calls REAL",
        "ALTER TABLE cells ADD COLUMN backward_calls REAL",
    ],
    3: [
        "ALTER TABLE cells ADD COLUMN tradeoff TEXT",
        "UPDATE cells SET tradeoff = CASE metric "
        + " ".join(f"WHEN '{m}' THEN '{axis}'" for m, axis in _TRADEOFFS_BEFORE_3.items())
        + " END",
        "ALTER TABLE cells ADD COLUMN control INTEGER",
        "UPDATE cells SET control = method IN ("
        + ", ".join(f"'{m}'" for m in _CONTROLS_BEFORE_3)
        + ")",
    ],
    4: [
        "ALTER TABLE runs ADD COLUMN estimated_seconds REAL",
        "ALTER TABLE runs ADD COLUMN peak_memory_mb REAL",
        "ALTER TABLE runs ADD COLUMN worker_peak_memory_mb REAL",
        "ALTER TABLE cells ADD COLUMN estimated_seconds REAL",
        "ALTER TABLE cells ADD COLUMN peak_memory_mb REAL",
    ],
    5: ["ALTER TABLE cells ADD COLUMN variant TEXT"],
}
# Columns of runs and cells that stores of an earlier schema lack, read as NULL from them when
# they are opened read-only (not migrated).
_RUN_COLUMNS = ("estimated_seconds", "peak_memory_mb", "worker_peak_memory_mb")
_CELL_COLUMNS = (
    "forward_calls",
    "backward_calls",
    "estimated_seconds",
    "peak_memory_mb",
    "variant",
)


class StoreWriteError(RuntimeError):
    """The store could not be written (the disk is full, an I/O error): not a user error, and
    not one cell's failure; the cells committed before are kept."""


def _reader(read):
    """``read`` (a method of ``Store``) with SQLite's errors (a table or column missing, a
    malformed file) as a ValueError naming the store."""

    @functools.wraps(read)
    def reading(self, *args, **kwargs):
        try:
            return read(self, *args, **kwargs)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as err:
            raise ValueError(f"cannot read the store {self.path}: {err}") from err

    return reading


def _expected_columns(version: int) -> dict[str, set[str]]:
    """The tables of a store of schema ``version`` and their columns: ``SCHEMA``'s, less those
    the migrations after ``version`` add."""
    with sqlite3.connect(":memory:") as db:
        db.executescript(SCHEMA)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = {t: {r[1] for r in db.execute(f"PRAGMA table_info({t})")} for t in tables}
    db.close()
    columns.pop("sqlite_sequence", None)
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for words in (statement.split() for statement in _MIGRATIONS.get(step, [])):
            if words[:2] == ["ALTER", "TABLE"] and words[3:5] == ["ADD", "COLUMN"]:
                columns[words[2]].discard(words[5])
    return columns


class Store:
    """The SQLite store of one run directory.

    ``readonly`` (for ``xaibench report`` and ``check``) opens it without writing anything: the
    file must exist and be xaibench's. Otherwise a missing or empty file becomes a new store, one
    of an earlier schema is migrated explicitly, and any other SQLite file (another program's
    database, a newer xaibench's store) is refused untouched with a ValueError.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if self.path.exists() and not self.path.is_file():
            raise ValueError(f"{self.path} is not a file, so it cannot be a results store")
        if readonly and not self.path.is_file():
            raise ValueError(f"{self.path} does not exist")
        self._lock = None
        try:
            if readonly:
                uri, self._lock = reading_uri(self.path)  # a lock is released by close
                self.db = sqlite3.connect(uri, uri=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path)
        except (OSError, sqlite3.Error) as err:
            self._unlock()
            raise ValueError(f"cannot open {self.path}: {err}") from err
        try:
            self._open()
        except sqlite3.OperationalError as err:  # the disk is full, an I/O error
            self.close()
            if readonly:
                raise ValueError(f"cannot read the store {self.path}: {err}") from err
            raise self._write_error(err) from err
        except sqlite3.DatabaseError as err:
            self.close()
            raise ValueError(f"{self.path} is not a readable xaibench store: {err}") from err
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        """Check that the file is xaibench's (or empty), then bring it to this schema."""
        app_id = self.db.execute("PRAGMA application_id").fetchone()[0]
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        legacy = app_id == 0 and _OWN_TABLES <= tables  # before the store identified itself
        if app_id != APPLICATION_ID and not legacy and (app_id or tables):
            raise ValueError(
                f"{self.path} is not an xaibench store (another program's SQLite file): "
                "left untouched; use another --out"
            )
        if app_id == APPLICATION_ID and version > SCHEMA_VERSION:
            raise ValueError(
                f"{self.path} was written by a newer xaibench (store schema {version}; this "
                f"version knows up to {SCHEMA_VERSION}): left untouched; upgrade xaibench"
            )
        if self.readonly and not tables:
            raise ValueError(f"{self.path} is empty: no run was stored in it")
        if app_id == APPLICATION_ID:
            self._check_complete(version, tables)
        if self.readonly:
            return
        self._lock = writer_lock(self.path)  # it is ours: one writer at a time from here on
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(cells)")}
        if not tables:
            version = SCHEMA_VERSION  # a new store: SCHEMA is the current schema
        elif legacy:
            version = 2 if "forward_calls" in columns else 1
        self.db.execute("PRAGMA journal_mode=WAL")  # DELETE again when closed (``close``)
        self.db.executescript(SCHEMA)
        self._migrate(version)

    def _migrate(self, version: int) -> None:
        """Apply the migrations after schema ``version``, and mark the file as this schema's."""
        with self._writing():
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS.get(step, []):
                    words = statement.split()
                    if words[:2] == ["ALTER", "TABLE"] and words[3:5] == ["ADD", "COLUMN"]:
                        if words[5] in self._columns(words[2]):
                            continue  # a store of an earlier schema that has this column already
                    self.db.execute(statement)
            self.db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_complete(self, version: int, tables: set[str]) -> None:
        """ValueError naming what a store of schema ``version`` lacks (a table, a column): a
        damaged store, which a writer would otherwise fill with empty tables."""
        missing = []
        for table, columns in _expected_columns(version).items():
            if table not in tables:
                missing.append(f"table {table}")
            else:
                missing += [f"column {table}.{c}" for c in sorted(columns - self._columns(table))]
        if missing:
            raise ValueError(
                f"{self.path} is a damaged xaibench store ({', '.join(missing)} missing): left "
                "untouched; run into a new --out"
            )

    @_reader
    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}

    def _insert(self, verb: str, table: str, row: dict) -> None:
        """``verb`` ("INSERT", "INSERT OR REPLACE", ...) ``row`` into ``table`` by column name."""
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        self.db.execute(f"{verb} INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))

    @contextmanager
    def _writing(self):
        """One transaction (``with self.db``); a failure to write it (the disk is full, an I/O
        error) is a StoreWriteError naming the store and the cause."""
        try:
            with self.db:
                yield
        except sqlite3.OperationalError as err:
            raise self._write_error(err) from err

    def _write_error(self, err: sqlite3.Error) -> StoreWriteError:
        return StoreWriteError(
            f"cannot write to the store {self.path}: {err}; the cells finished before are kept "
            "in it: free space (or fix the cause), then run the same command again to resume"
        )

    def close(self) -> None:
        """Close the store. A writer first folds the write-ahead log into the file and leaves
        WAL mode, so that the store is one file that readers open without creating any (not
        while a reader holds the log open: the files then stay, and readers use them)."""
        if self._lock is not None and not self.readonly:
            try:
                self.db.execute("PRAGMA busy_timeout = 100")
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self.db.execute("PRAGMA journal_mode=DELETE")
            except sqlite3.Error:
                pass  # the disk is full, a reader is at work: the log stays, and is read
        self.db.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases its lock
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # runs -----------------------------------------------------------------------------------
    def start_run(self, config: dict, versions: dict, command: str) -> int:
        """Record a new run as "running". Runs still "running" were killed (this store is locked
        by one writer at a time): they are marked "killed" now."""
        with self._writing():
            self.db.execute(
                "UPDATE runs SET status='killed', finished=? WHERE status='running'", (now(),)
            )
            cur = self.db.execute(
                "INSERT INTO runs (started, status, config, versions, command) VALUES (?,?,?,?,?)",
                (now(), "running", json.dumps(config, default=str), json.dumps(versions), command),
            )
        return int(cur.lastrowid)

    def finish_run(
        self,
        run_id: int,
        status: str,
        *,
        peak_memory_mb: float | None = None,
        worker_peak_memory_mb: float | None = None,
    ) -> None:
        """Mark run ``run_id`` finished with ``status``, with the peak memory measured (MB)."""
        with self._writing():
            self.db.execute(
                "UPDATE runs SET finished=?, status=?, peak_memory_mb=?, worker_peak_memory_mb=? "
                "WHERE id=?",
                (now(), status, peak_memory_mb, worker_peak_memory_mb, run_id),
            )

    def set_estimate(self, run_id: int, seconds: float | None) -> None:
        """Record the cost estimate (seconds) of the cells run ``run_id`` computes."""
        with self._writing():
            self.db.execute("UPDATE runs SET estimated_seconds=? WHERE id=?", (seconds, run_id))

    def latest_run(self) -> dict | None:
        """The latest run: id, started, finished, status, config, versions, command."""
        return self.run()

    @_reader
    def run(self, run_id: int | None = None) -> dict | None:
        """Run ``run_id`` (default: the latest): id, started, finished, status, config, versions,
        command, estimated_seconds (the cost estimate of the cells it computed), peak_memory_mb
        (the peak resident memory of its process) and worker_peak_memory_mb (of its Dask
        workers); those three are None where not measured (and in stores of schema < 4).
        None when there is no such run."""
        there = self._columns("runs")
        extra = [c if c in there else f"NULL AS {c}" for c in _RUN_COLUMNS]
        keys = ("id", "started", "finished", "status", "config", "versions", "command")
        select = f"SELECT {', '.join([*keys, *extra])} FROM runs "
        if run_id is None:
            row = self.db.execute(select + "ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = self.db.execute(select + "WHERE id=?", (run_id,)).fetchone()
        if row is None:
            return None
        run = dict(zip((*keys, *_RUN_COLUMNS), row, strict=True))
        run["config"], run["versions"] = json.loads(run["config"]), json.loads(run["versions"])
        return run

    def link(self, run_id: int, cell_keys: list[str]) -> None:
        with self._writing():
            self.db.executemany(
                "INSERT OR IGNORE INTO run_cells (run_id, cell) VALUES (?, ?)",
                [(run_id, k) for k in cell_keys],
            )

    # artifacts ------------------------------------------------------------------------------
    @_reader
    def has_artifact(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM artifacts WHERE key=?", (key,)).fetchone() is not None

    def put_artifact(
        self,
        key: str,
        *,
        run_id: int,
        dataset: str,
        model: str,
        kind: str,
        arrays: dict[str, np.ndarray],
        method: str | None = None,
    ) -> None:
        """Store named arrays (e.g. a gallery's attributions) and link them to run ``run_id``."""
        with self._writing():
            self._insert(
                "INSERT OR REPLACE",
                "artifacts",
                dict(
                    key=key,
                    dataset=dataset,
                    model=model,
                    method=method,
                    kind=kind,
                    data=_arrays_to_blob(arrays),
                ),
            )
            self._insert("INSERT OR IGNORE", "run_artifacts", dict(run_id=run_id, artifact=key))

    def reuse_artifact(self, run_id: int, key: str) -> bool:
        """Link the stored artifact ``key`` to run ``run_id``; False when there is none."""
        if not self.has_artifact(key):
            return False
        with self._writing():
            self._insert("INSERT OR IGNORE", "run_artifacts", dict(run_id=run_id, artifact=key))
        return True

    @_reader
    def artifacts(self, kind: str, run_id: int | None = None) -> list[dict]:
        """The artifacts of ``kind`` of run ``run_id`` (default: the latest), each a dict with
        dataset, model, method and its arrays, in (dataset, model, method) order."""
        run_id = self._run_id(run_id)
        rows = self.db.execute(
            "SELECT a.dataset, a.model, a.method, a.data FROM artifacts a "
            "JOIN run_artifacts r ON r.artifact = a.key WHERE r.run_id = ? AND a.kind = ? "
            "ORDER BY a.dataset, a.model, a.method",
            (run_id, kind),
        ).fetchall()
        return [
            {"dataset": d, "model": m, "method": meth, **_arrays_from_blob(blob)}
            for d, m, meth, blob in rows
        ]

    # models ---------------------------------------------------------------------------------
    def put_model(self, key: str, dataset: str, model: str, accuracy, params, settings: dict):
        with self._writing():
            self._insert(
                "INSERT OR REPLACE",
                "models",
                dict(
                    key=key,
                    dataset=dataset,
                    model=model,
                    accuracy=accuracy,
                    params=params,
                    settings=json.dumps(settings, sort_keys=True),
                ),
            )

    # cells ----------------------------------------------------------------------------------
    @_reader
    def status(self, key: str) -> str | None:
        row = self.db.execute("SELECT status FROM cells WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def put_cell(
        self,
        key: str,
        *,
        ids: dict,
        metric,
        status: str,
        settings: dict,
        version: str,
        run_id: int,
        samples: np.ndarray | None = None,
        scores: np.ndarray | None = None,
        curves: np.ndarray | None = None,
        error: str | None = None,
        explain_seconds: float | None = None,
        metric_seconds: float | None = None,
        calls: dict | None = None,
        estimated_seconds: float | None = None,
        peak_memory_mb: float | None = None,
    ) -> None:
        """Write one finished cell and everything it computed, in one transaction: its cost
        estimate (seconds) and the peak resident memory (MB) while it was computed too, where
        known."""
        with self._writing():
            self.db.execute("DELETE FROM scores WHERE cell=?", (key,))
            self.db.execute("DELETE FROM curves WHERE cell=?", (key,))
            self._insert(
                "INSERT OR REPLACE",
                "cells",
                dict(
                    key=key,
                    dataset=ids["dataset"],
                    model=ids["model"],
                    method=ids["method"],
                    metric=ids["metric"],
                    model_key=ids["model_key"],
                    category=metric.category,
                    higher_is_better=int(metric.higher_is_better),
                    tradeoff=getattr(metric, "tradeoff", None),
                    control=int(bool(ids.get("control", False))),
                    status=status,
                    error=error,
                    settings=json.dumps(settings, sort_keys=True, default=str),
                    version=version,
                    explain_seconds=explain_seconds,
                    metric_seconds=metric_seconds,
                    finished=now(),
                    run_id=run_id,
                    forward_calls=(calls or {}).get("forward"),
                    backward_calls=(calls or {}).get("backward"),
                    estimated_seconds=estimated_seconds,
                    peak_memory_mb=peak_memory_mb,
                    variant=ids.get("variant"),
                ),
            )
            if scores is not None:
                self.db.executemany(
                    "INSERT INTO scores (cell, sample, score) VALUES (?,?,?)",
                    [
                        (key, int(i), None if not np.isfinite(s) else float(s))
                        for i, s in zip(samples, scores, strict=True)
                    ],
                )
            if curves is not None:
                self._insert("INSERT", "curves", dict(cell=key, data=_to_blob(curves)))

    # reading --------------------------------------------------------------------------------
    def _configured(self) -> str:
        """The SQL condition that keeps the cells of the run as configured (``c.variant`` NULL:
        not a sweep variant nor a meta-evaluation cell); always true in a store of schema < 5
        opened read-only."""
        return "c.variant IS NULL" if "variant" in self._columns("cells") else "1"

    @_reader
    def cells(self, run_id: int | None = None, *, variants: bool = False) -> pd.DataFrame:
        """Cells of run ``run_id`` (default: the latest run): every column of the cells table,
        ``peak_memory_mb`` and ``estimated_seconds`` included (NaN where not measured). Only the
        cells of the run as configured unless ``variants`` (then its sweep variants and
        meta-evaluation cells too, ``variant`` naming them)."""
        run_id = self._run_id(run_id)
        where = "1" if variants else self._configured()
        cells = pd.read_sql_query(
            "SELECT c.* FROM cells c JOIN run_cells r ON r.cell = c.key "
            f"WHERE r.run_id = ? AND {where} "
            "ORDER BY c.dataset, c.model, c.method, c.metric",
            self.db,
            params=(run_id,),
        )
        for column in _CELL_COLUMNS:  # a store of an earlier schema opened read-only
            if column not in cells:
                cells[column] = np.nan
        if "tradeoff" not in cells:  # a store of schema < 3 opened read-only
            cells["tradeoff"] = cells["metric"].map(_TRADEOFFS_BEFORE_3)
            cells["control"] = cells["method"].isin(_CONTROLS_BEFORE_3).astype(int)
        return cells

    @_reader
    def scores(self, run_id: int | None = None) -> pd.DataFrame:
        """Per-sample scores of the run's finished cells as configured (no sweep variant nor
        meta-evaluation cell): dataset, model, method, metric, category, higher_is_better,
        tradeoff, control, sample, score."""
        return self._scores(run_id, self._configured())

    @_reader
    def variant_scores(self, prefix: str, run_id: int | None = None) -> pd.DataFrame:
        """Per-sample scores of the run's finished cells whose ``variant`` starts with
        ``prefix`` ("sweep:", "meta:"): the columns of ``scores`` and ``variant``. Empty in a
        store of schema < 5."""
        if "variant" not in self._columns("cells"):
            return self._scores(run_id, "0", variants=True)
        pattern = prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
        return self._scores(run_id, "c.variant LIKE ? ESCAPE '!'", (pattern,), variants=True)

    def _scores(self, run_id, where: str, args: tuple = (), *, variants: bool = False):
        run_id = self._run_id(run_id)
        columns = self._columns("cells")
        new = "tradeoff" in columns  # else a store of schema < 3, opened read-only
        extra = "c.tradeoff, c.control" if new else "NULL AS tradeoff, NULL AS control"
        if variants:
            extra += ", c.variant" if "variant" in columns else ", NULL AS variant"
        df = pd.read_sql_query(
            "SELECT c.dataset, c.model, c.method, c.metric, c.category, c.higher_is_better, "
            f"{extra}, s.sample, s.score FROM scores s JOIN cells c ON c.key = s.cell "
            f"JOIN run_cells r ON r.cell = c.key WHERE r.run_id = ? AND c.status = 'ok' "
            f"AND {where} ORDER BY c.dataset, c.model, c.method, c.metric, s.sample",
            self.db,
            params=(run_id, *args),
        )
        df["higher_is_better"] = df["higher_is_better"].astype(bool)
        df["score"] = df["score"].astype(float)
        if not new:
            df["tradeoff"] = df["metric"].map(_TRADEOFFS_BEFORE_3)
            df["control"] = df["method"].isin(_CONTROLS_BEFORE_3)
        df["control"] = df["control"].fillna(0).astype(bool)
        return df

    @_reader
    def curves(self, key: str) -> np.ndarray | None:
        row = self.db.execute("SELECT data FROM curves WHERE cell=?", (key,)).fetchone()
        return _from_blob(row[0]) if row else None

    @_reader
    def curve_metrics(self, run_id: int | None = None) -> list[str]:
        """The metrics of run ``run_id`` (default: the latest) that stored curves, sorted."""
        run_id = self._run_id(run_id)
        rows = self.db.execute(
            "SELECT DISTINCT c.metric FROM curves k JOIN cells c ON c.key = k.cell "
            "JOIN run_cells r ON r.cell = c.key WHERE r.run_id = ? AND c.status = 'ok' "
            f"AND {self._configured()} ORDER BY c.metric",
            (run_id,),
        ).fetchall()
        return [metric for (metric,) in rows]

    @_reader
    def metric_curves(
        self, metric: str, run_id: int | None = None
    ) -> dict[tuple[str, str], dict[str, np.ndarray]]:
        """Per-sample curves of ``metric`` in run ``run_id`` (default: the latest):
        {(dataset, model): {method: (N, steps + 1)}}."""
        run_id = self._run_id(run_id)
        rows = self.db.execute(
            "SELECT c.dataset, c.model, c.method, k.data FROM curves k "
            "JOIN cells c ON c.key = k.cell JOIN run_cells r ON r.cell = c.key "
            "WHERE r.run_id = ? AND c.metric = ? AND c.status = 'ok' "
            f"AND {self._configured()} ORDER BY c.dataset, c.model, c.method",
            (run_id, metric),
        ).fetchall()
        out: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        for dataset, model, method, blob in rows:
            out.setdefault((dataset, model), {})[method] = _from_blob(blob)
        return out

    @_reader
    def models(self, run_id: int | None = None) -> pd.DataFrame:
        """The models of run ``run_id`` (default: the latest): dataset, model, accuracy, params."""
        run_id = self._run_id(run_id)
        return pd.read_sql_query(
            "SELECT DISTINCT m.dataset, m.model, m.accuracy, m.params, m.key FROM models m "
            "JOIN cells c ON c.model_key = m.key JOIN run_cells r ON r.cell = c.key "
            "WHERE r.run_id = ? ORDER BY m.dataset, m.model",
            self.db,
            params=(run_id,),
        )

    def _run_id(self, run_id: int | None) -> int:
        if run_id is not None:
            return run_id
        run = self.latest_run()
        if run is None:
            raise ValueError(f"{self.path} holds no run yet")
        return run["id"]
