"""User-supplied names (datasets, models, methods, metrics) are shown as written in every output
format: one escaping rule per format (Markdown, LaTeX, HTML, matplotlib text)."""

from __future__ import annotations

import csv
import json
import re
import shutil

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _runs import write_config
from matplotlib.text import Text

import xaibench as xb
from xaibench.cli import main
from xaibench.results import plots, tables
from xaibench.results.latex import escape, leaderboard_latex
from xaibench.results.tables import leaderboard_markdown, md_escape

HOSTILE = [
    '"><img src=x onerror=alert(2)>',
    "pipe|in|name",
    r"$\foo{$",
    "*bold* _em_ `code` [link](x) ~~s~~ # h",
    "line\nbreak",
    "esc\x1b[31mred\x07",  # control characters: shown as \x1b, \x07
]


CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # what no output may hold raw


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
    assert not CONTROL.search(text)


def test_markdown_escape_keeps_ordinary_names_readable():
    assert md_escape("integrated_gradients") == "integrated_gradients"
    assert md_escape("cnn_deep / digits-v2.0") == "cnn_deep / digits-v2.0"
    assert md_escape("_em_") == r"\_em\_"


@pytest.mark.parametrize("name", HOSTILE)
def test_figures_draw_names_as_written(name, tmp_path, drawn):
    """The issue's case: a name holding $\\foo{$ made `xaibench report` fail with matplotlib's
    mathtext ParseFatalException. Control characters are drawn visibly (``\\x1b``), not as
    missing glyphs."""
    board = board_of([name, name, name])
    assert plots.leaderboard_plot(board, tmp_path / "board.png").stat().st_size > 0
    assert plots.rank_heatmap(board, tmp_path / "ranks.png").stat().st_size > 0
    curves = {(name, name): {name: np.random.default_rng(0).uniform(size=(4, 6))}}
    assert plots.curves_plot(curves, "deletion", tmp_path / "curves.png").stat().st_size > 0
    assert plt.rcParams["text.parse_math"]  # the user's own figures keep mathtext
    texts = [t.get_text() for fig in drawn for t in fig.findobj(Text)]
    assert not [t for t in texts if CONTROL.search(t)]
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


def test_every_format_shows_control_characters_visibly():
    """The issue's case: an ESC in a name went raw into md, tex, csv and html (and broke
    pdflatex). Each format's escaping starts from the same visible form."""
    name = "esc\x1b[31mred\x07"
    assert md_escape(name) == r"esc\\x1b\[31mred\\x07"  # Markdown for esc\x1b[31mred\x07
    assert escape(name) == "esc\\textbackslash{}x1b{[}31mred\\textbackslash{}x07"
    assert tables.csv_cell(name) == "esc\\x1b[31mred\\x07" == tables.csv_name(tables.csv_cell(name))
    from xaibench.results.html import _esc

    assert _esc(name) == "esc\\x1b[31mred\\x07"


@pytest.mark.parametrize("name", ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\tx", "'=x", "'a"])
def test_csv_cells_never_start_a_formula_and_read_back_exactly(name):
    """A spreadsheet runs a cell that starts with = + - @ (CSV injection): such a name is
    written after a "'"; `csv_name` reads every name back as written, and so it does from a
    file a spreadsheet saved again (which drops the "'")."""
    cell = tables.csv_cell(name)
    assert cell.startswith("'") and tables.csv_name(cell) == name
    assert tables.csv_name(name) == name or name.startswith("'")  # the spreadsheet's copy


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex")
def test_pdflatex_compiles_a_table_with_control_characters(tmp_path):
    from test_latex import compile_tex

    names = ["esc\x1b[31mred", "bell\x07", "del\x7f", "=formula"]
    board = board_of(["data\x1b", "model\x00", *names])
    log, _ = compile_tex(tmp_path, leaderboard_latex(board))
    assert "x1b" in (tmp_path / "t.tex").read_text()


@pytest.mark.slow
def test_a_run_with_control_characters_and_formulas_in_names(tmp_path, capsys):
    """Names with an ESC sequence, and names a spreadsheet would run as formulas, through a
    whole run: no raw control character in any output file nor on the terminal (the verdict,
    the summary, the failed cells with their error text), no CSV cell that starts a formula,
    and ``xaibench check`` matches the run's names from its CSV and from its store alike."""
    names = ["\x1b[31mred", '=HYPERLINK("http://x")', "-neg", "@at", "'quoted"]
    for name in names:
        xb.methods.register(name, replace=True)(lambda model, x, y: np.abs(x))

    @xb.methods.register("\x1b[2Jfails", replace=True)
    def fails(model, x, y):
        raise RuntimeError("clears the screen: \x1b[2J\x1b[H")

    try:
        _run_with_control_characters(tmp_path, capsys, names)
    finally:  # out of the registry: other tests list every registered name
        for name in [*names, "\x1b[2Jfails"]:
            xb.methods._registry._items.pop(name)


def _run_with_control_characters(tmp_path, capsys, names):
    cfg = tmp_path / "c.toml"
    listed = ", ".join(json.dumps(n) for n in ["saliency", *names, "\x1b[2Jfails"])  # TOML too
    cfg.write_text(
        f'samples = 4\nseed = 0\ndatasets = ["digits"]\nmodels = ["linear"]\n'
        f'methods = [{listed}]\nmetrics = ["deletion"]\n'
    )
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 1
    terminal = "".join(capsys.readouterr())
    assert "\\x1b[2J" in terminal and "\\x1b[31mred" in terminal and not CONTROL.search(terminal)
    for path in out.iterdir():
        if path.suffix in (".csv", ".md", ".tex", ".html"):
            assert not CONTROL.search(path.read_text()), path.name
    with open(out / "leaderboard.csv", newline="") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]
    assert '\'=HYPERLINK("http://x")' in cells and "''quoted" in cells
    baseline = tmp_path / "baseline.csv"
    shutil.copy(out / "leaderboard.csv", baseline)
    assert main(["check", "--baseline", str(baseline), str(out)]) == 0
    (out / "leaderboard.csv").unlink()  # check reads the store: the same names
    assert main(["check", "--baseline", str(baseline), str(out)]) == 0
    assert "0 missing" in capsys.readouterr().out
