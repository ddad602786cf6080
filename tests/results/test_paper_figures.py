"""The figures for one column of a paper: vector PDFs whose text stays legible at 3.3 in."""

import numpy as np
import pandas as pd
import pytest
from test_plots import QUICK_METRICS, agreement
from test_tradeoffs import crowded_board, full_board

from xaibench.results import _figures, paper_figures
from xaibench.results.paper_figures import COLUMN, MIN_COLUMN_FONT, column_font


@pytest.fixture
def figures(monkeypatch):
    """The figures paper_figures writes, with their paths."""
    made = []
    write = paper_figures._pdf

    def recording(fig, path):
        made.append((fig, write(fig, path)))
        return made[-1][1]

    monkeypatch.setattr(paper_figures, "_pdf", recording)
    return made


def check(fig, path):
    """Vector PDF, no text under `MIN_COLUMN_FONT` pt once fitted to a column, none on another."""
    assert path.read_bytes().startswith(b"%PDF") and b"/Font" in path.read_bytes()
    fig.canvas.draw()
    assert column_font(fig) >= MIN_COLUMN_FONT, (path.name, fig.get_figwidth())
    assert _figures.page_problems(fig) == [], path.name


def metrics_agreement(n: int) -> pd.DataFrame:
    """``n`` of the quick suite's metrics (their names), random correlations."""
    names = [m for ms in QUICK_METRICS.values() for m in ms][:n]
    return agreement(n).set_axis(names, axis=0).set_axis(names, axis=1)


@pytest.mark.parametrize("n", [4, 17])
def test_the_agreement_of_a_column_keeps_its_labels_legible(n, figures, tmp_path):
    path = tmp_path / "a.pdf"
    assert paper_figures.agreement_column(metrics_agreement(n), path) == path
    ((fig, path),) = figures
    check(fig, path)
    assert fig.get_figwidth() <= COLUMN + 0.5  # 17 metrics: 3.7 in, fitted to 3.3 in at 7.2 pt
    values = [t for t in fig.axes[0].texts if t.get_text()[-3:-2] == "."]
    assert (len(values) == n * n) == (n == 4)  # rho in the cells only where they fit


def test_the_tradeoffs_of_a_column_are_one_panel_each(figures, tmp_path):
    board, models = full_board()
    paths = paper_figures.tradeoff_columns(board, models, tmp_path)
    pairs = board[["dataset", "model"]].drop_duplicates()
    names = {p.name for p in paths}
    assert "tradeoff_performance_column.pdf" in names
    assert len(paths) == 1 + 2 * len(pairs)  # simplicity and runtime per (dataset, model)
    for fig, path in figures:
        check(fig, path)
        assert fig.get_figwidth() == COLUMN and len(fig.axes) == 1


def test_crowded_fronts_keep_their_labels_apart_in_a_column(figures, tmp_path):
    paper_figures.tradeoff_columns(*crowded_board(), tmp_path)
    for fig, path in figures:
        check(fig, path)


def test_nothing_to_draw_writes_nothing(tmp_path):
    assert paper_figures.agreement_column(pd.DataFrame(), tmp_path / "a.pdf") is None
    board, models = full_board()
    no_values = board.assign(mean=np.nan)
    assert paper_figures.tradeoff_columns(no_values, models, tmp_path) == []
    assert not list(tmp_path.iterdir())
