"""User-supplied names (datasets, models, methods, metrics) are shown as written in every output
format: one escaping rule per format (Markdown, LaTeX, HTML, matplotlib text)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _runs import write_config

import xaibench as xb
from xaibench.cli import main
from xaibench.results import plots
from xaibench.results.tables import leaderboard_markdown, md_escape

HOSTILE = [
    '"><img src=x onerror=alert(2)>',
    "pipe|in|name",
    r"$\foo{$",
    "*bold* _em_ `code` [link](x) ~~s~~ # h",
    "line\nbreak",
]


def board_of(names):
    rows = [
        {
            "dataset": names[0],
            "model": names[1],
            "method": method,
            "metric": "deletion",
            "sample": i,
            "score": s,
        }
        for method in names[2:] + ["saliency"]
        for i, s in enumerate(np.random.default_rng(len(method)).uniform(size=5))
    ]
    return xb.leaderboard(pd.DataFrame(rows))


@pytest.mark.parametrize("name", HOSTILE)
def test_markdown_shows_names_as_written(name):
    text = leaderboard_markdown(board_of([name, name, name]))
    assert "<img" not in text  # no raw HTML: GitHub would render it
    table = [line for line in text.splitlines() if line.startswith("| ")]
    header_cells = len(table[0].split(" | "))
    # every row has as many cells as the header: a | in a name does not open a column
    assert all(len(line.replace("\\|", "").split(" | ")) == header_cells for line in table)
    assert md_escape(" ".join(name.split())).replace("\\", "") in text.replace("\\", "")


def test_markdown_escape_keeps_ordinary_names_readable():
    assert md_escape("integrated_gradients") == "integrated_gradients"
    assert md_escape("cnn_deep / digits-v2.0") == "cnn_deep / digits-v2.0"
    assert md_escape("_em_") == r"\_em\_"


@pytest.mark.parametrize("name", HOSTILE)
def test_figures_draw_names_as_written(name, tmp_path):
    """The issue's case: a name holding $\\foo{$ made `xaibench report` fail with matplotlib's
    mathtext ParseFatalException."""
    board = board_of([name, name, name])
    assert plots.leaderboard_plot(board, tmp_path / "board.png").stat().st_size > 0
    assert plots.rank_heatmap(board, tmp_path / "ranks.png").stat().st_size > 0
    curves = {(name, name): {name: np.random.default_rng(0).uniform(size=(4, 6))}}
    assert plots.curves_plot(curves, "deletion", tmp_path / "curves.png").stat().st_size > 0
    assert plt.rcParams["text.parse_math"]  # the user's own figures keep mathtext
    plt.close("all")


@pytest.mark.slow
def test_a_run_with_a_hostile_method_name(tmp_path, capsys):
    name = "$\\foo{$|<img src=x onerror=alert(2)>"
    xb.methods.register(name, replace=True)(lambda model, x, y: np.abs(x))
    cfg = tmp_path / "c.toml"
    write_config(cfg, ["saliency", "PLACEHOLDER"], ["deletion"])
    cfg.write_text(cfg.read_text().replace('"PLACEHOLDER"', f"'{name}'"))  # a literal string
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert main(["report", str(out)]) == 0
    md = (out / "leaderboard.md").read_text()
    assert "<img" not in md and "$\\\\foo{$\\|&lt;img" in md
    assert "<img src=x" not in (out / "report.html").read_text()
