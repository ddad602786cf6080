"""Writing a run directory's outputs from its store alone."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from xaibench.benchmark.store import Store
from xaibench.results.leaderboard import leaderboard
from xaibench.results.plots import leaderboard_plot
from xaibench.results.tables import leaderboard_markdown


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_outputs(store: Store, out: str | Path, run_id: int | None = None) -> pd.DataFrame:
    """Write ``leaderboard.csv``, ``leaderboard.md`` and ``plots/leaderboard.png`` for run
    ``run_id`` (default: the latest run in the store) and return the leaderboard."""
    out = Path(out)
    board = leaderboard(store.scores(run_id))
    _write_text(out / "leaderboard.csv", board.to_csv(index=False))
    if board.empty:
        return board
    _write_text(out / "leaderboard.md", leaderboard_markdown(board, store.models(run_id)))
    leaderboard_plot(board, out / "plots" / "leaderboard.png")
    return board


def rebuild(out: str | Path) -> pd.DataFrame:
    """Rebuild the outputs of run directory ``out`` from its ``results.sqlite``."""
    path = Path(out) / "results.sqlite"
    if not path.exists():
        raise ValueError(f"{out} has no results.sqlite: not a run directory")
    with Store(path) as store:
        return write_outputs(store, out)
