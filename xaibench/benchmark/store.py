"""``results.sqlite``: the store that loses nothing.

Every finished cell (dataset, model, method, metric) is committed at once with its per-sample
scores, curves, status, error text, timings, settings and package version. A cell is identified by
the hash of its settings, so a run with changed settings reuses exactly the cells whose settings
match and never mixes in the others; every run records which cells it is made of.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    config TEXT NOT NULL, versions TEXT NOT NULL, command TEXT
);
CREATE TABLE IF NOT EXISTS models (
    key TEXT PRIMARY KEY, dataset TEXT NOT NULL, model TEXT NOT NULL,
    accuracy REAL, params INTEGER, settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY,
    dataset TEXT NOT NULL, model TEXT NOT NULL, method TEXT NOT NULL, metric TEXT NOT NULL,
    model_key TEXT, category TEXT, higher_is_better INTEGER,
    status TEXT NOT NULL,            -- ok | error | not_applicable
    error TEXT, settings TEXT NOT NULL, version TEXT NOT NULL,
    explain_seconds REAL, metric_seconds REAL, finished TEXT NOT NULL, run_id INTEGER,
    forward_calls REAL, backward_calls REAL   -- the method's model calls per sample, if known
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


class Store:
    """The SQLite store of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(SCHEMA)
            self._add_missing_columns()
        except sqlite3.DatabaseError as err:
            self.db.close()
            raise ValueError(f"{self.path} is not a readable xaibench store: {err}") from err

    def _add_missing_columns(self) -> None:
        """Stores written by an earlier version lack newer columns: add them (nothing is lost)."""
        have = {row[1] for row in self.db.execute("PRAGMA table_info(cells)")}
        with self.db:
            for column in ("forward_calls", "backward_calls"):
                if column not in have:
                    self.db.execute(f"ALTER TABLE cells ADD COLUMN {column} REAL")

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # runs -----------------------------------------------------------------------------------
    def start_run(self, config: dict, versions: dict, command: str) -> int:
        with self.db:
            cur = self.db.execute(
                "INSERT INTO runs (started, status, config, versions, command) VALUES (?,?,?,?,?)",
                (now(), "running", json.dumps(config, default=str), json.dumps(versions), command),
            )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str) -> None:
        with self.db:
            self.db.execute(
                "UPDATE runs SET finished=?, status=? WHERE id=?", (now(), status, run_id)
            )

    def latest_run(self) -> dict | None:
        """The latest run: id, started, finished, status, config, versions, command."""
        return self.run()

    def run(self, run_id: int | None = None) -> dict | None:
        """Run ``run_id`` (default: the latest): id, started, finished, status, config, versions,
        command; None when there is no such run."""
        select = "SELECT id, started, finished, status, config, versions, command FROM runs "
        if run_id is None:
            row = self.db.execute(select + "ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = self.db.execute(select + "WHERE id=?", (run_id,)).fetchone()
        if row is None:
            return None
        keys = ("id", "started", "finished", "status", "config", "versions", "command")
        run = dict(zip(keys, row, strict=True))
        run["config"], run["versions"] = json.loads(run["config"]), json.loads(run["versions"])
        return run

    def link(self, run_id: int, cell_keys: list[str]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO run_cells (run_id, cell) VALUES (?, ?)",
                [(run_id, k) for k in cell_keys],
            )

    # artifacts ------------------------------------------------------------------------------
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
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?,?)",
                (key, dataset, model, method, kind, _arrays_to_blob(arrays)),
            )
            self.db.execute("INSERT OR IGNORE INTO run_artifacts VALUES (?,?)", (run_id, key))

    def reuse_artifact(self, run_id: int, key: str) -> bool:
        """Link the stored artifact ``key`` to run ``run_id``; False when there is none."""
        if not self.has_artifact(key):
            return False
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO run_artifacts VALUES (?,?)", (run_id, key))
        return True

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
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,?)",
                (key, dataset, model, accuracy, params, json.dumps(settings, sort_keys=True)),
            )

    # cells ----------------------------------------------------------------------------------
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
    ) -> None:
        """Write one finished cell and everything it computed, in one transaction."""
        with self.db:
            self.db.execute("DELETE FROM scores WHERE cell=?", (key,))
            self.db.execute("DELETE FROM curves WHERE cell=?", (key,))
            self.db.execute(
                "INSERT OR REPLACE INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    ids["dataset"],
                    ids["model"],
                    ids["method"],
                    ids["metric"],
                    ids["model_key"],
                    metric.category,
                    int(metric.higher_is_better),
                    status,
                    error,
                    json.dumps(settings, sort_keys=True, default=str),
                    version,
                    explain_seconds,
                    metric_seconds,
                    now(),
                    run_id,
                    (calls or {}).get("forward"),
                    (calls or {}).get("backward"),
                ),
            )
            if scores is not None:
                self.db.executemany(
                    "INSERT INTO scores VALUES (?,?,?)",
                    [
                        (key, int(i), None if not np.isfinite(s) else float(s))
                        for i, s in zip(samples, scores, strict=True)
                    ],
                )
            if curves is not None:
                self.db.execute("INSERT INTO curves VALUES (?,?)", (key, _to_blob(curves)))

    # reading --------------------------------------------------------------------------------
    def cells(self, run_id: int | None = None) -> pd.DataFrame:
        """Cells of run ``run_id`` (default: the latest run)."""
        run_id = self._run_id(run_id)
        return pd.read_sql_query(
            "SELECT c.* FROM cells c JOIN run_cells r ON r.cell = c.key WHERE r.run_id = ? "
            "ORDER BY c.dataset, c.model, c.method, c.metric",
            self.db,
            params=(run_id,),
        )

    def scores(self, run_id: int | None = None) -> pd.DataFrame:
        """Per-sample scores of the run's finished cells: dataset, model, method, metric,
        category, higher_is_better, sample, score."""
        run_id = self._run_id(run_id)
        df = pd.read_sql_query(
            "SELECT c.dataset, c.model, c.method, c.metric, c.category, c.higher_is_better, "
            "s.sample, s.score FROM scores s JOIN cells c ON c.key = s.cell "
            "JOIN run_cells r ON r.cell = c.key WHERE r.run_id = ? AND c.status = 'ok' "
            "ORDER BY c.dataset, c.model, c.method, c.metric, s.sample",
            self.db,
            params=(run_id,),
        )
        df["higher_is_better"] = df["higher_is_better"].astype(bool)
        df["score"] = df["score"].astype(float)
        return df

    def curves(self, key: str) -> np.ndarray | None:
        row = self.db.execute("SELECT data FROM curves WHERE cell=?", (key,)).fetchone()
        return _from_blob(row[0]) if row else None

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
            "ORDER BY c.dataset, c.model, c.method",
            (run_id, metric),
        ).fetchall()
        out: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        for dataset, model, method, blob in rows:
            out.setdefault((dataset, model), {})[method] = _from_blob(blob)
        return out

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
