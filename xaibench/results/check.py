"""The regression gate: compare a run's leaderboard with a committed baseline leaderboard.

A row is identified by its key (dataset, model, method, metric). Its relative change is
``change = (run - base) / max(|base|, floor)``: relative to the baseline mean, with a floor of a
tenth of the median ``|mean|`` of the baseline's methods on the same (dataset, model, metric), so
that a mean near zero (a completeness error of 0.001 among methods at 0.5) is measured against the
metric's typical magnitude, not against itself. Then:

- **regression**: the run moved in the metric's worse direction (by ``higher_is_better``), its
  confidence interval and the baseline's do not overlap, and ``|change| > tolerance``;
- **improvement**: the same in the better direction (never fails);
- **missing**: in the baseline (with a finite mean) but absent from the run or NaN there; fails
  unless ``allow_missing``;
- **new**: only in the run, or finite in the run where the baseline is NaN (never fails);
- **ok**: everything else.

Both conditions are needed: non-overlapping intervals say the change is not sampling noise, the
tolerance (default 5%) says it is large enough to matter. Metrics of category ``cost``
(``runtime``) are not gated unless ``include_cost``: timings depend on the machine.

Example
-------
>>> baseline = read_baseline("results/baseline.csv")  # doctest: +SKIP
>>> result = compare(read_run("results/ci"), baseline)  # doctest: +SKIP
>>> print(format_report(result))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from xaibench._text import visible
from xaibench.results.tables import csv_name, fmt
from xaibench.store import Store

KEYS = ("dataset", "model", "method", "metric")
VALUES = ("higher_is_better", "mean", "ci_low", "ci_high")
STATUSES = ("ok", "regression", "improvement", "missing", "new")
DEFAULT_TOLERANCE = 0.05
FLOOR_FRACTION = 0.1  # the floor of |base|: this fraction of the group's median |mean|
ABS_FLOOR = 1e-12  # the floor when every baseline mean of a group is 0
COLUMNS = [
    *KEYS,
    "higher_is_better",
    "baseline_mean",
    "baseline_ci_low",
    "baseline_ci_high",
    "run_mean",
    "run_ci_low",
    "run_ci_high",
    "change",
    "status",
]
_BOOLS = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}


def _as_bool(values: pd.Series, where: str) -> pd.Series:
    if values.dtype == bool:
        return values
    parsed = values.map(lambda v: _BOOLS.get(str(v).strip().lower()))
    bad = values[parsed.isna()]
    if len(bad):
        raise ValueError(
            f"{where}: column higher_is_better must hold True/False, got {bad.iloc[0]!r}"
        )
    return parsed.astype(bool)


def validate_board(
    board: pd.DataFrame, where: str = "board", *, keys=KEYS, allow_empty: bool = False
) -> pd.DataFrame:
    """Check that ``board`` is a leaderboard with the ``keys`` and the value columns, numeric means
    and intervals and unique keys; return it with clean dtypes. Raises ``ValueError`` naming
    ``where`` and the problem (an empty board too, unless ``allow_empty``)."""
    if not isinstance(board, pd.DataFrame):
        raise TypeError(f"{where}: expected a pandas DataFrame, got {type(board).__name__}")
    missing = [c for c in (*keys, *VALUES) if c not in board.columns]
    if missing:
        raise ValueError(
            f"{where} lacks column(s) {', '.join(missing)} (a leaderboard needs "
            f"{', '.join((*keys, *VALUES))}; found {', '.join(map(str, board.columns)) or 'none'})"
        )
    if board.empty and not allow_empty:
        raise ValueError(f"{where} has no rows")
    board = board.copy()
    for k in keys:
        if board[k].isna().any():
            raise ValueError(f"{where}: column {k} has empty values")
        board[k] = board[k].astype(str)
    for c in ("mean", "ci_low", "ci_high"):
        numbers = pd.to_numeric(board[c], errors="coerce")
        bad = board.loc[numbers.isna() & board[c].notna(), c]
        if len(bad):
            raise ValueError(f"{where}: column {c} must be numeric, got {bad.iloc[0]!r}")
        board[c] = numbers.astype(float)
    board["higher_is_better"] = _as_bool(board["higher_is_better"], where)
    sizes = board.groupby(list(keys)).size()
    if (sizes > 1).any():
        key, n = sizes[sizes > 1].index[0], int(sizes.max())
        key = "/".join(key) if isinstance(key, tuple) else key
        raise ValueError(
            f"{where} has duplicate keys ({', '.join(keys)}): {key} appears {n} times "
            f"({int((sizes > 1).sum())} duplicated key(s) in all)"
        )
    return board


def _read_csv(path: Path, where: str) -> pd.DataFrame:
    """The CSV file at ``path``, its names as `tables.csv_name` reads them (a "'" that
    neutralised a formula taken off, control characters visible), to compare with a board read
    from a store (`read_run`)."""
    try:
        board = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{where} {path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
        reason = " ".join(str(err).split())  # pandas' messages end in a newline
        raise ValueError(f"{where} {path} is not a readable CSV file: {reason}") from None
    for key in (k for k in KEYS if k in board.columns):
        board[key] = board[key].map(csv_name)
    return board


def read_baseline(path: str | Path) -> pd.DataFrame:
    """Read and validate a baseline leaderboard CSV (a run's ``leaderboard.csv``, committed).

    A directory stands for its ``leaderboard.csv``. A missing file, an unreadable CSV, missing
    columns, duplicate keys, non-numeric or infinite means, or no finite mean at all raise
    ``ValueError`` naming the file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "leaderboard.csv"
    if not path.is_file():
        raise ValueError(f"baseline {path} does not exist")
    board = validate_board(_read_csv(path, "baseline"), f"baseline {path}")
    if not np.isfinite(board["mean"]).any():
        raise ValueError(
            f"baseline {path} has no numeric mean: all {len(board)} rows are empty, NaN or "
            "infinite, so it could gate nothing"
        )
    if np.isinf(board["mean"]).any():
        row = board[np.isinf(board["mean"])].iloc[0]
        raise ValueError(
            f"baseline {path}: mean of {'/'.join(str(row[k]) for k in KEYS)} is infinite"
        )
    return board


def read_run(path: str | Path) -> pd.DataFrame:
    """The leaderboard of a run directory: its ``leaderboard.csv`` if present, else computed from
    its ``results.sqlite`` (nothing is written). A CSV file is read as a leaderboard."""
    path = Path(path)
    if path.is_file():
        return validate_board(_read_csv(path, "run"), f"run {path}", allow_empty=True)
    if (path / "leaderboard.csv").is_file():
        csv = path / "leaderboard.csv"
        return validate_board(_read_csv(csv, "run"), f"run {csv}", allow_empty=True)
    if (path / "results.sqlite").is_file():
        from xaibench.results.leaderboard import leaderboard

        with Store(path / "results.sqlite", readonly=True) as store:
            board = leaderboard(store.scores())
        for key in KEYS:  # as a CSV file's names read back (``_read_csv``)
            board[key] = board[key].map(visible)
        return validate_board(board, f"run {path / 'results.sqlite'}", allow_empty=True)
    if not path.exists():
        raise ValueError(f"run directory {path} does not exist")
    raise ValueError(f"{path} has neither leaderboard.csv nor results.sqlite: not a run directory")


def _check_directions(merged: pd.DataFrame) -> None:
    both = merged[merged["_merge"] == "both"]
    differ = both[both["higher_is_better_base"] != both["higher_is_better_run"]]
    if len(differ):
        r = differ.iloc[0]
        raise ValueError(
            f"metric {r['metric']!r} has higher_is_better={r['higher_is_better_base']} in the "
            f"baseline but {r['higher_is_better_run']} in the run: not the same metric"
        )


def _floor(base: pd.DataFrame, keys: list[str]) -> pd.Series:
    group = [base[k] for k in keys if k != "method"]
    return FLOOR_FRACTION * base["mean"].abs().groupby(group).transform("median")


def _status(m: pd.DataFrame, tolerance: float) -> np.ndarray:
    hib = m["higher_is_better"].to_numpy(bool)
    base, run = m["baseline_mean"].to_numpy(float), m["run_mean"].to_numpy(float)
    lo_b = m["baseline_ci_low"].fillna(m["baseline_mean"]).to_numpy(float)
    hi_b = m["baseline_ci_high"].fillna(m["baseline_mean"]).to_numpy(float)
    lo_r = m["run_ci_low"].fillna(m["run_mean"]).to_numpy(float)
    hi_r = m["run_ci_high"].fillna(m["run_mean"]).to_numpy(float)
    gain = np.where(hib, run - base, base - run)  # > 0: better
    beyond = np.abs(m["change"].to_numpy(float)) > tolerance
    above, below = lo_r > hi_b, hi_r < lo_b
    worse = beyond & (gain < 0) & np.where(hib, below, above)
    better = beyond & (gain > 0) & np.where(hib, above, below)
    has_base, has_run = np.isfinite(base), np.isfinite(run)
    return np.select(
        [has_base & ~has_run, ~has_base & has_run, worse, better],
        ["missing", "new", "regression", "improvement"],
        "ok",
    )


def _drop_cost(base: pd.DataFrame, run: pd.DataFrame):
    """Both boards without the metrics of category ``cost`` (known from either), and how many
    baseline rows that drops."""
    cost = set()
    for board in (base, run):
        if "category" in board.columns:
            cost |= set(board.loc[board["category"] == "cost", "metric"])
    dropped = base["metric"].isin(cost)
    return base[~dropped], run[~run["metric"].isin(cost)], int(dropped.sum())


def compare(
    run_board: pd.DataFrame,
    baseline: pd.DataFrame,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    allow_missing: bool = False,
    include_cost: bool = False,
) -> pd.DataFrame:
    """Compare a run's leaderboard with a baseline leaderboard (definitions in the module doc).

    Rows are matched on (dataset, model, method, metric); boards without dataset and model
    columns (``xb.leaderboard`` of ``xb.evaluate`` output) match on (method, metric) when
    neither has them. Returns one row per key with the columns of ``COLUMNS``; ``change`` is
    the relative change ``(run - base) / max(|base|, floor)``. ``result.attrs`` holds
    ``tolerance``, ``allow_missing`` and ``skipped`` (cost rows not gated); ``failures(result)``
    gives the rows that fail the gate.

    Raises ``ValueError`` on malformed boards, a negative tolerance, or a metric whose
    ``higher_is_better`` differs between baseline and run.
    """
    for name, board in (("run_board", run_board), ("baseline", baseline)):
        if not isinstance(board, pd.DataFrame):
            raise TypeError(f"{name}: expected a leaderboard DataFrame, got {type(board).__name__}")
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    keys = [k for k in KEYS if k in baseline.columns or k in ("method", "metric")]
    absent = [k for k in keys if k not in run_board.columns]
    if absent:
        raise ValueError(
            f"the run board has no column(s) {', '.join(absent)} but the baseline has; "
            "fill them (e.g. board['dataset'] = 'digits') to match the baseline's rows"
        )
    base = validate_board(baseline, "baseline", keys=keys)
    run = validate_board(run_board, "run", keys=keys, allow_empty=True)
    skipped = 0
    if not include_cost:
        base, run, skipped = _drop_cost(base, run)
    base = base.assign(_floor=_floor(base, keys))
    cols = [*keys, *VALUES]
    merged = base[[*cols, "_floor"]].merge(
        run[cols], on=keys, how="outer", suffixes=("_base", "_run"), indicator=True
    )
    _check_directions(merged)
    out = merged[keys].copy()
    hib_base, hib_run = merged["higher_is_better_base"], merged["higher_is_better_run"]
    out["higher_is_better"] = np.where(hib_base.notna(), hib_base, hib_run).astype(bool)
    for side, suffix in (("baseline", "_base"), ("run", "_run")):
        for c in ("mean", "ci_low", "ci_high"):
            out[f"{side}_{c}"] = merged[c + suffix].astype(float)
    denom = np.maximum(out["baseline_mean"].abs(), merged["_floor"]).clip(lower=ABS_FLOOR)
    out["change"] = (out["run_mean"] - out["baseline_mean"]) / denom
    out["status"] = _status(out, tolerance)
    out = out.sort_values(keys).reset_index(drop=True)[[*keys, *COLUMNS[len(KEYS) :]]]
    out.attrs.update(tolerance=float(tolerance), allow_missing=allow_missing, skipped=skipped)
    return out


def failures(result: pd.DataFrame) -> pd.DataFrame:
    """The rows of a ``compare`` result that fail the gate: regressions, and missing rows unless
    the comparison allowed them."""
    fail = result["status"].eq("regression")
    if not result.attrs.get("allow_missing", False):
        fail |= result["status"].eq("missing")
    return result[fail]


def _interval(mean, low, high) -> str:
    if not np.isfinite(mean):
        return "–"
    return f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]"


def _rows_table(rows: pd.DataFrame) -> str:
    keys = [k for k in KEYS if k in rows.columns]
    table = rows[keys].copy()
    table["better"] = np.where(rows["higher_is_better"], "higher", "lower")
    for side in ("baseline", "run"):
        table[side] = [
            _interval(*r)
            for r in rows[[f"{side}_mean", f"{side}_ci_low", f"{side}_ci_high"]].to_numpy()
        ]
    table["change"] = [f"{c:+.1%}" if np.isfinite(c) else "–" for c in rows["change"]]
    return table.to_string(index=False)


def summary(result: pd.DataFrame) -> str:
    """One line: passed or FAILED, counts per status, tolerance and rows not gated."""
    counts = result["status"].value_counts()
    n = {s: int(counts.get(s, 0)) for s in STATUSES}
    verdict = "FAILED" if len(failures(result)) else "passed"
    allowed = " (allowed)" if result.attrs.get("allow_missing") and n["missing"] else ""
    parts = [
        f"{n['regression']} regression(s)",
        f"{n['missing']} missing{allowed}",
        f"{n['improvement']} improvement(s)",
        f"{n['ok']} ok",
        f"{n['new']} new",
    ]
    extra = (
        f"; {result.attrs['skipped']} cost row(s) not gated" if result.attrs.get("skipped") else ""
    )
    tol = result.attrs.get("tolerance", DEFAULT_TOLERANCE)
    return f"xaibench check {verdict}: {', '.join(parts)} (tolerance {tol:.1%}{extra})"


def format_report(result: pd.DataFrame) -> str:
    """A readable report: tables of regressions, missing rows and improvements, then the
    one-line ``summary``."""
    blocks = []
    titles = {
        "regression": "Regressions (worse beyond the confidence intervals and the tolerance):",
        "missing": "Missing from the run (in the baseline):",
        "improvement": "Improvements:",
    }
    for status, title in titles.items():
        rows = result[result["status"] == status]
        if len(rows):
            blocks.append(f"{title}\n{_rows_table(rows)}")
    return "\n\n".join([*blocks, summary(result)])


def to_json(result: pd.DataFrame) -> str:
    """The comparison as JSON: passed, tolerance, allow_missing, summary counts, and the rows of
    regressions, improvements and missing (NaN as null)."""
    records = json.loads(result.to_json(orient="records"))
    by_status = {s: [r for r in records if r["status"] == s] for s in STATUSES}
    counts = {s: len(by_status[s]) for s in STATUSES}
    return json.dumps(
        {
            "passed": len(failures(result)) == 0,
            "tolerance": result.attrs.get("tolerance", DEFAULT_TOLERANCE),
            "allow_missing": bool(result.attrs.get("allow_missing", False)),
            "summary": {**counts, "skipped_cost": int(result.attrs.get("skipped", 0))},
            "regressions": by_status["regression"],
            "improvements": by_status["improvement"],
            "missing": by_status["missing"],
        },
        indent=2,
    )
