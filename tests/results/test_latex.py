"""leaderboard.tex for a paper: one table set per (dataset, model), its metrics under their
categories, split by columns when too wide for the line (never shrunk), parts stacked in a table
while they fit a page, one caption that explains the set, numbers with the same decimals per
column aligned on the point, controls last and never bold; compiled by pdflatex where it is
installed (CI: Debian's texlive-latex-recommended, texlive-science not needed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from xaibench._categories import CATEGORIES
from xaibench.results.latex import LINE_WIDTH, escape, leaderboard_latex
from xaibench.results.latex_cells import DIGITS, parse_width
from xaibench.results.leaderboard import leaderboard
from xaibench.results.stats import add_ties, significance

# the quick suite's metrics and methods (names, categories, directions), scores made up
METRICS = {
    "deletion": ("faithfulness", False),
    "faithfulness_correlation": ("faithfulness", True),
    "infidelity": ("faithfulness", False),
    "insertion": ("faithfulness", True),
    "road": ("faithfulness", True),
    "avg_sensitivity": ("robustness", False),
    "max_sensitivity": ("robustness", False),
    "complexity": ("complexity", False),
    "sparseness": ("complexity", True),
    "model_randomisation": ("randomisation", False),
    "random_logit": ("randomisation", False),
    "attribution_auroc": ("localisation", True),
    "pointing_game": ("localisation", True),
    "relevance_mass": ("localisation", True),
    "relevance_rank": ("localisation", True),
    "completeness": ("axiomatic", False),
    "runtime": ("cost", False),
}
METHODS = [
    "grad_cam",
    "grad_cam_pp",
    "gradient_x_input",
    "guided_backprop",
    "integrated_gradients",
    "occlusion",
    "permutation_importance",
    "saliency",
    "smoothgrad",
    "vargrad",
    "random",
    "sobel",
]
CONTROLS = {"random", "sobel"}
HOSTILE = ["my_method%&#", r"$\foo{$", "a~b^c", "x\\y", "}{", "[x]", "line\n\nbreak", "<b>|"]


def scores_table(methods=METHODS, metrics=METRICS, pairs=(("shapes", "cnn"), ("digits", "linear"))):
    """Per-sample scores like a run's: 16 samples, runtimes from 3 µs to 40 ms (one time per
    method: the samples of a batch share it), a metric the first method cannot score (NaN)."""
    rng = np.random.default_rng(0)
    rows = []
    for dataset, model in pairs:
        for i, method in enumerate(methods):
            for j, (metric, (category, higher)) in enumerate(metrics.items()):
                if metric == "runtime":  # the controls fastest: random 3 µs, sobel 7.2 µs
                    values = np.full(16, 3e-6 * 2.4 ** ((i + 2) % 12))
                elif i == 0 and j == 1:
                    values = np.full(16, np.nan)
                else:
                    center = [0.4, 0.41, 0.6, -0.2, 3e-7, 1400.0][(i + j) % 6]
                    values = center + abs(center) * 0.2 * rng.normal(size=16)
                rows += [
                    (dataset, model, method, metric, category, higher, s, v, method in CONTROLS)
                    for s, v in enumerate(values)
                ]
    columns = "dataset model method metric category higher_is_better sample score control"
    return pd.DataFrame(rows, columns=columns.split())


def board_of(scores: pd.DataFrame) -> pd.DataFrame:
    board = leaderboard(scores)
    return add_ties(board, significance(scores, board))


@pytest.fixture(scope="module")
def board() -> pd.DataFrame:
    return board_of(scores_table())


MODELS = pd.DataFrame(
    {
        "dataset": ["shapes", "digits"],
        "model": ["cnn", "linear"],
        "accuracy": [0.983, 0.962],
        "params": [136484, 650],
    }
)


def floats(tex: str) -> list[dict]:
    """Each table (float) of ``tex``: caption, labels and its tabulars (:func:`tabular`)."""
    out = []
    for t in re.findall(r"\\begin\{table\}.*?\\end\{table\}", tex, flags=re.S):
        caption = re.search(r"\\caption(?:\[[^\n]*?\])?\{(.*)\}\n\\label", t, re.S).group(1)
        found = re.findall(r"\\begin\{tabular\}\{((?:[^{}]|\{\})*)\}(.*?)\\end\{tabular\}", t, re.S)
        out.append(
            {
                "caption": caption,
                "labels": re.findall(r"\\label\{([^}]*)\}", t),
                "tabulars": [tabular(spec, body) for spec, body in found],
                "text": t,
            }
        )
    return out


def tabular(spec: str, body: str) -> dict:
    r"""A tabular's column spec, metrics (and their categories) and rows of cells (a
    \multicolumn{k} counted as k cells), split into the mean lines and the interval lines."""
    head, rows = body.split(r"\midrule", 1)
    head_rows = [r.strip() for r in head.split("\n") if r.strip().endswith(r"\\")]
    metric_cells = cells(head_rows[-1])[1:]
    metrics = [metric_of(c) for c in metric_cells[::2]]
    categories = [None] * len(metrics)
    if len(head_rows) == 2:  # the categories over their metrics
        spans = re.findall(r"\\multicolumn\{(\d+)\}\{c\}\{\\textit\{(.*?)\}\}", head_rows[0])
        categories = [c for k, c in spans for _ in range(int(k) // 2)]
    lines = [cells(r) for r in rows.split("\n") if r.strip().endswith(r"\\")]
    return {"spec": spec, "metrics": metrics, "categories": categories, "rows": lines}


def metric_of(header: str) -> str:
    """The metric a header cell names: its lines joined, without the arrow, unit and escaping."""
    text = re.sub(r"\\shortstack\{(.*)\}", r"\1", header).replace("\\\\", "")
    text = re.sub(r" \$\\(up|down)arrow\$.*$", "", text)
    return text.replace(r"\_", "_")


def cells(row: str) -> list[str]:
    r"""The cells of a tabular row: split at the & that are not escaped, a \multicolumn{k}
    spread over k cells (its text in the first)."""
    out = []
    for c in re.split(r"(?<!\\)&", row.strip().removesuffix(r"\\")):
        c = c.strip()
        span = re.fullmatch(r"\\multicolumn\{(\d+)\}\{c\}\{(.*)\}", c)
        out += [span.group(2)] + [""] * (int(span.group(1)) - 1) if span else [c]
    return out


def tables_of(tex: str, dataset: str, model: str) -> list[dict]:
    prefix = f"{escape(dataset)} / {escape(model)}"
    return [f for f in floats(tex) if f["caption"].startswith(prefix)]


def column(t: dict, metric: str, method: str, line: int = 0) -> str:
    """The two cells of ``metric`` for ``method`` on its mean line (0) or interval line (1),
    joined: "0.506^a" style, as written."""
    j = 1 + 2 * t["metrics"].index(metric)
    names = [r[0] for r in t["rows"]]
    i = names.index(
        next(n for n in names if n in (escape(method), rf"\textit{{{escape(method)}}}"))
    )
    row = t["rows"][i + line]
    return row[j] + row[j + 1]


def where(tex: str, metric: str, dataset="shapes", model="cnn") -> dict:
    return next(
        t for f in tables_of(tex, dataset, model) for t in f["tabulars"] if metric in t["metrics"]
    )


# structure --------------------------------------------------------------------------------------
def test_one_table_set_per_dataset_and_model_with_every_metric_under_its_category(board):
    tex = leaderboard_latex(board, MODELS)
    for dataset, model in [("shapes", "cnn"), ("digits", "linear")]:
        mine = tables_of(tex, dataset, model)
        shown = [
            (m, c)
            for f in mine
            for t in f["tabulars"]
            for m, c in zip(t["metrics"], t["categories"], strict=True)
        ]
        assert sorted(m for m, _ in shown) == sorted(METRICS)  # every metric exactly once
        assert all(METRICS[m][0] == c for m, c in shown)
        order = [c for c in dict.fromkeys(c for _, c in shown)]
        assert order == [c for c in CATEGORIES if c in order]  # report order
        assert mine[0]["labels"][0] == f"tab:{dataset}-{model}"
    labels = [label for f in floats(tex) for label in f["labels"]]
    assert len(labels) == len(set(labels))
    assert "tab:shapes-cnn-robustness" in labels and "tab:digits-linear-cost" in labels


def test_no_table_is_shrunk_and_every_row_has_its_cells(board):
    tex = leaderboard_latex(board, MODELS)
    assert r"\resizebox" not in tex and r"\scalebox" not in tex
    for f in floats(tex):
        assert r"\small" in f["text"] and r"\tiny" not in f["text"]
        for t in f["tabulars"]:
            assert t["spec"] == "l" + "r@{}l" * len(t["metrics"])
            assert all(len(r) == 1 + 2 * len(t["metrics"]) for r in t["rows"])


def test_a_wide_set_is_split_into_parts_whose_labels_stay_valid(board):
    """\ref{tab:shapes-cnn} points at the set's first table whatever the width splits it into;
    the later tables say they continue it; a wider line needs fewer parts."""
    narrow, wide = leaderboard_latex(board, width=240), leaderboard_latex(board, width="6.5in")
    for tex in (narrow, wide, leaderboard_latex(board, metrics=["deletion", "insertion"])):
        first, *rest = tables_of(tex, "shapes", "cnn")
        assert first["labels"][0] == "tab:shapes-cnn"
        for i, f in enumerate(rest, 2):
            assert f["labels"][0] == f"tab:shapes-cnn-{i}"
            assert f["caption"] == (
                f"shapes / cnn (part {i} of {len(rest) + 1}), continued from "
                r"Table~\ref{tab:shapes-cnn}."
            )
    parts = lambda tex: sum(len(f["tabulars"]) for f in tables_of(tex, "shapes", "cnn"))  # noqa: E731
    assert parts(wide) < parts(narrow)
    # a category that fits is never cut: the parts break between categories
    for t in (t for f in tables_of(wide, "shapes", "cnn") for t in f["tabulars"]):
        for category in set(t["categories"]):
            assert t["categories"].count(category) == len(
                [m for m, (c, _) in METRICS.items() if c == category]
            )


def test_the_caption_explains_the_set_once(board):
    alone = board[board["dataset"] == "shapes"]  # the first set: its caption states the key
    found = tables_of(leaderboard_latex(alone, MODELS), "shapes", "cnn")
    assert len(found) > 1
    caption = found[0]["caption"]
    assert caption.startswith("shapes / cnn (test accuracy 0.983, 136,484 parameters) (part 1 of ")
    for words in (
        "Mean over the $n = 16$ explained samples, with its 95\\% percentile bootstrap "
        "confidence interval below it",
        "bold: the best method of a column, controls aside",
        f"Every number of a column has the same decimals ({DIGITS} significant digits",
        "share a letter",
        "Holm-corrected over the column's tests, $\\alpha = 0.05$",
        "wall-clock time per sample",
        "the controls (random, sobel)",
    ):
        assert words in caption
    assert all("Mean over" not in f["caption"] for f in found[1:])
    other = floats(leaderboard_latex(board, confidence=0.9, alpha=0.01))[0]["caption"]
    assert "90\\% percentile bootstrap" in other and "$\\alpha = 0.01$" in other
    plain = floats(leaderboard_latex(board.drop(columns="tie")))[0]["caption"]
    assert "Superscript" not in plain and "footnotesize" not in plain


def test_a_key_said_once_for_the_whole_file(board):
    """A paper's sets of one run share their key: the first set states it, the others refer to
    it (was: the same paragraph under every table); a set whose key differs states its own."""
    found = floats(leaderboard_latex(board, MODELS))
    first, other = tables_of_caption(found, "digits / linear"), tables_of_caption(found, "shapes")
    assert "Mean over" in first["caption"] and "Mean over" not in other["caption"]
    assert other["caption"].startswith("shapes / cnn (test accuracy 0.983, 136,484 parameters)")
    assert other["caption"].endswith("Key as in Table~\\ref{tab:digits-linear}.")
    fewer = board[~((board["dataset"] == "shapes") & (board["method"] == "sobel"))]
    own = tables_of_caption(floats(leaderboard_latex(fewer, MODELS)), "shapes")
    assert "Mean over" in own["caption"]  # its controls differ: its own key


def tables_of_caption(found: list[dict], prefix: str) -> dict:
    return next(f for f in found if f["caption"].startswith(prefix))


def test_ci_false_shows_means_only(board):
    with_ci, means = leaderboard_latex(board), leaderboard_latex(board, ci=False)
    assert "confidence interval" in with_ci and "confidence interval" not in means
    for t in (t for f in floats(means) for t in f["tabulars"]):
        assert not any(r[0] == "" for r in t["rows"])  # no interval line under a mean
    lines = [r for f in floats(with_ci) for t in f["tabulars"] for r in t["rows"] if r[0] == ""]
    assert lines and all(
        re.fullmatch(r"(\{\\footnotesize \[.*,\}|)", r[j])
        for r in lines
        for j in range(1, len(r), 2)
    )


# cells ------------------------------------------------------------------------------------------
def decimals(cell: str) -> int | None:
    """The decimals of a mean as written (None for n/a, -- and durations' units)."""
    found = re.search(r"\.(\d+)", re.sub(r"\\raisebox.*$", "", cell))
    return len(found.group(1)) if found else 0


def test_every_number_of_a_column_has_the_same_decimals_aligned_on_the_point(board):
    tex = leaderboard_latex(board)
    rows = board[(board.dataset == "shapes") & (board.model == "cnn")]
    for metric in ("deletion", "faithfulness_correlation", "avg_sensitivity", "completeness"):
        t = where(tex, metric)
        means = rows[rows.metric == metric]["mean"].abs()
        expected = max(0, DIGITS - 1 - int(np.floor(np.log10(means.max()))))
        j = 1 + 2 * t["metrics"].index(metric)
        mean_rows = [r for r in t["rows"] if r[0]]
        for r in mean_rows:
            if r[j] in ("n/a", "--"):
                continue
            assert re.fullmatch(r"(\\textbf\{)?(\$-\$)?\d+\}?", r[j]), r[j]  # left of the point
            assert decimals(r[j + 1]) == expected, (metric, r[j + 1])  # the point and after
        for r in (r for r in t["rows"] if not r[0] and r[j]):  # under a mean: [low, high]
            assert r[j].endswith(",}") and r[j + 1].startswith(r"{\footnotesize \,"), r[j]
            assert decimals(r[j]) == decimals(r[j + 1]) == expected


def test_a_column_of_tiny_scores_is_scaled_by_a_power_of_ten_in_its_header(board):
    scaled = board.assign(mean=board["mean"] * np.where(board.metric == "sparseness", 1e-7, 1))
    t = where(leaderboard_latex(scaled, ci=False), "sparseness")
    header = [r for r in t["rows"]][0]  # the rows hold the body; the header is in the text
    assert header  # the table has rows
    tex = leaderboard_latex(scaled, ci=False)
    assert re.search(r"sparseness \$\\uparrow\$\\\\\(\$\\times 10\^\{-\d+\}\$\)", tex)
    assert "a power of ten in a header scales its column" in floats(tex)[0]["caption"]


def test_bold_marks_the_best_method_and_never_a_control(board):
    tex = leaderboard_latex(board)
    rows = board[(board.dataset == "shapes") & (board.model == "cnn")]
    for metric in ("avg_sensitivity", "runtime"):
        t = where(tex, metric)
        r = rows[rows.metric == metric].set_index("method")
        best = r.loc[[m for m in METHODS if m not in CONTROLS], "rank"].min()
        for method in METHODS:
            cell = column(t, metric, method)
            bold = method not in CONTROLS and r.loc[method, "rank"] == best
            assert cell.startswith(r"\textbf{") == bold, (metric, method)
            letter = r.loc[method, "tie"] if metric != "runtime" else ""
            assert (rf"{{\footnotesize {letter}}}" in cell) == bool(letter)
    assert rows.set_index(["metric", "method"]).loc[("runtime", "random"), "rank"] == 1


def test_runtime_has_its_unit_in_the_header_and_no_interval(board):
    tex = leaderboard_latex(board)
    t = where(tex, "runtime")
    assert re.search(r"runtime \$\\downarrow\$\\\\\(\$\\mu\$s\)", tex)  # the median: µs
    j = 1 + 2 * t["metrics"].index("runtime")
    assert all(r[j] == "" for r in t["rows"] if not r[0])  # no interval
    assert column(t, "runtime", "random") == "3"  # 3.00 µs with the median's decimals (0)
    assert column(t, "runtime", "vargrad") == "45650"  # 3 µs * 2.4^11, all its digits


def test_na_and_not_evaluated_cells_are_explained():
    scores = scores_table()
    scores = scores[~((scores.method == "saliency") & (scores.metric == "deletion"))]
    tex = leaderboard_latex(board_of(scores))
    t = where(tex, "deletion")
    assert column(t, "faithfulness_correlation", "grad_cam") == "n/a"  # no finite score
    assert column(t, "deletion", "saliency") == "--"
    assert "n/a: no finite score; --: not evaluated." in floats(tex)[0]["caption"]


def test_controls_come_from_the_control_column_last_and_in_italics(board):
    t = floats(leaderboard_latex(board))[0]["text"]
    body = t.split(r"\midrule", 1)[1]
    others, controls = body.split(r"\midrule")[:2]
    assert r"\textit{random}" in controls and r"\textit{sobel}" in controls
    assert r"\textit{" not in re.sub(r"\\textit\{(faithfulness|robustness)\}", "", others)
    assert "the controls (random, sobel)" in floats(leaderboard_latex(board))[0]["caption"]
    flipped = board.assign(control=board["method"].isin(["occlusion"]))
    t = floats(leaderboard_latex(flipped))[0]["text"]
    assert r"\textit{occlusion}" in t and r"\textit{random}" not in t
    t = floats(leaderboard_latex(board.drop(columns="control")))[0]
    assert r"\textit{random}" not in t["text"] and "controls" not in t["caption"]


def test_n_is_stated_as_a_range_when_it_varies():
    scores = scores_table()
    drop = (scores.method == "saliency") & (scores.metric == "deletion") & (scores["sample"] < 4)
    caption = floats(leaderboard_latex(board_of(scores[~drop])))[0]["caption"]
    assert "$n = 12$--$16$ explained samples (those with a finite score)" in caption


@pytest.mark.parametrize(
    "text, points",
    [
        ("6.5in", 469.755),
        ("469.755pt", 469.755),
        (345, 345.0),
        ("16.5cm", 469.47),
        ("10 mm", 28.453),
    ],
)
def test_widths_in_the_units_of_tex(text, points):
    assert parse_width(text) == pytest.approx(points, abs=1e-3)


@pytest.mark.parametrize("text", ["6.5 inches", "-3pt", "0", "wide", ""])
def test_a_width_that_is_no_length_is_refused(text):
    with pytest.raises(ValueError, match="positive length like 6.5in"):
        parse_width(text)


# selection ------------------------------------------------------------------------------------
def test_chosen_metrics_make_one_table_set_per_dataset_and_model(board):
    chosen = ["insertion", "deletion", "runtime"]
    found = floats(leaderboard_latex(board, metrics=chosen, ci=False))
    assert [f["labels"] for f in found] == [["tab:digits-linear"], ["tab:shapes-cnn"]]
    assert all([m for t in f["tabulars"] for m in t["metrics"]] == chosen for f in found)
    assert all(c is None for f in found for t in f["tabulars"] for c in t["categories"])


def test_chosen_methods_are_the_rows_and_bold_is_the_best_of_them(board):
    rows = board[
        (board.dataset == "shapes") & (board.model == "cnn") & (board.metric == "complexity")
    ]
    rank = rows.set_index("method")["rank"]
    real = rank.drop(list(CONTROLS))
    chosen = sorted(real[real > real.min()].sort_values().index[:3])  # the best left out
    assert rank[chosen].nunique() > 1  # so that bold means something here
    tex = leaderboard_latex(board, methods=chosen)
    t = where(tex, "complexity")
    assert [r[0] for r in t["rows"] if r[0]] == [escape(m) for m in chosen]
    for method in chosen:
        bold = column(t, "complexity", method).startswith(r"\textbf{")
        assert bold == (rank[method] == rank[chosen].min()), method
    caption = floats(tex)[0]["caption"]
    assert "among those shown" in caption and "compared all methods of the run" in caption


def test_unknown_names_raise_naming_them(board):
    with pytest.raises(ValueError, match=r"unknown methods: 'salency', 'x_y'"):
        leaderboard_latex(board, methods=["saliency", "salency", "x_y"])
    with pytest.raises(ValueError, match=r"unknown metrics: 'Deletion'"):
        leaderboard_latex(board, metrics=["Deletion"])


# user-supplied names ----------------------------------------------------------------------------
# what the file may hold unescaped besides the names: its own markup
OWN_MATH = (
    r"\$\\(up|down)arrow\$|\$-\$|\$\\mu\$|\$n = \d+\$|\$\\alpha = [\d.]+\$"
    r"|\$\\times 10\^\{-?\d+\}\$"
)


def hostile_board() -> pd.DataFrame:
    metrics = {f"m_{name}": ("faith&ful_ness", True) for name in HOSTILE[:3]}
    metrics["runtime"] = ("cost", False)
    scores = scores_table(
        methods=HOSTILE + ["random"], metrics=metrics, pairs=[(HOSTILE[0], HOSTILE[1])]
    )
    return board_of(scores.assign(control=scores.method == "random"))


def test_hostile_names_are_escaped():
    tex = leaderboard_latex(hostile_board())
    for name in HOSTILE:
        assert escape(name) in tex
    body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    body = re.sub(OWN_MATH, "", body)
    assert re.findall(r"(?<!\\)[%#_^~$]", body) == []  # every one of these is a name's, escaped
    depth = 0  # braces balance once the escaped ones are out
    for ch in re.sub(r"\\[{}]", "", body):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    for f in floats(tex):  # a & in a name does not open a column
        assert "\n\n" not in f["text"]  # a blank line would end the caption
        for t in f["tabulars"]:
            assert t["rows"] and all(len(r) == 1 + 2 * len(t["metrics"]) for r in t["rows"])
    labels = re.findall(r"\\label\{([^}]*)\}", tex)
    assert all(re.fullmatch(r"tab:[a-z0-9-]+", label) for label in labels)


def test_escape_protects_a_leading_bracket():
    """A row or a header line that starts with [ after \\ would be read as \\[<length>]."""
    assert escape("[x]") == "{[}x{]}"
    assert escape(" two\n\nlines ") == "two lines"


# pdflatex ---------------------------------------------------------------------------------------
def _latex_missing() -> bool:
    """No pdflatex (and pdftotext, pdfinfo): the tests that need them skip, but fail where
    ``XAIBENCH_REQUIRE_LATEX=1`` (CI installs Debian's texlive-latex-recommended, lmodern and
    poppler-utils)."""
    missing = [t for t in ("pdflatex", "pdftotext", "pdfinfo") if shutil.which(t) is None]
    if missing and os.environ.get("XAIBENCH_REQUIRE_LATEX") == "1":
        raise RuntimeError(f"XAIBENCH_REQUIRE_LATEX=1 but {', '.join(missing)} not installed")
    return bool(missing)


needs_pdflatex = pytest.mark.skipif(_latex_missing(), reason="no pdflatex, pdftotext or pdfinfo")


def compile_tex(tmp_path, body: str, name="t", preamble="") -> tuple[str, str]:
    """``body`` in a one-column 10 pt article with booktabs (and ``preamble``), compiled:
    (log, stdout)."""
    doc = (
        f"\\documentclass{{article}}\n{preamble}\\usepackage{{booktabs}}\n\\begin{{document}}\n"
        f"{body}\n\\end{{document}}\n"
    )
    (tmp_path / f"{name}.tex").write_text(doc, encoding="utf-8")
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    return (tmp_path / f"{name}.log").read_text(errors="replace"), done.stdout


@needs_pdflatex
@pytest.mark.parametrize("options", [{}, {"ci": False}, {"width": 240}])
def test_tables_fit_the_line_as_tex_sets_them(tmp_path, board, options):
    """TeX's own widths of every tabular: none wider than the line it was split for (the
    estimate of the widths is what keeps them legible instead of shrunk)."""
    tex = leaderboard_latex(board, MODELS, **options)
    tabulars = re.findall(r"\\small\n(\\begin\{tabular\}.*?\\end\{tabular\})", tex, flags=re.S)
    body = "\n".join(
        f"\\setbox0\\hbox{{\\small {t}}}\\typeout{{WIDTH={i}:\\the\\wd0}}"
        for i, t in enumerate(tabulars)
    )
    _, stdout = compile_tex(tmp_path, body, "widths")
    widths = [float(w) for w in re.findall(r"WIDTH=\d+:([\d.]+)pt", stdout)]
    assert len(widths) == len(tabulars) > 0
    assert max(widths) <= options.get("width", LINE_WIDTH), sorted(widths)[-3:]


@needs_pdflatex
def test_the_file_compiles_without_an_overfull_box(tmp_path, board):
    tex = leaderboard_latex(board, MODELS) + leaderboard_latex(hostile_board())
    log, _ = compile_tex(tmp_path, tex)
    assert "Overfull \\hbox" not in log
    assert "Float too large" not in log  # the stacked parts fit a 10 pt article's page
    assert "LaTeX Font Warning" not in log  # no size or shape substituted


def word_heights(pdf_words: str) -> list[float]:
    return [
        float(b) - float(a)
        for a, b in re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)"', pdf_words)
    ]


@needs_pdflatex
@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="no pdftotext (poppler-utils)")
@pytest.mark.skipif(shutil.which("kpsewhich") is None, reason="no kpsewhich")
def test_the_pdf_shows_names_as_written_and_no_text_below_8pt(tmp_path, board):
    """In a paper's usual T1 fonts (Latin Modern), pdftotext reads the hostile names back as
    written, and no word of a table is set below 8 pt: its height in the PDF is at least that
    of a reference word set at 8 pt in the same document (page 1)."""
    if not subprocess.run(["kpsewhich", "lmodern.sty"], capture_output=True, text=True).stdout:
        pytest.skip("no lmodern.sty (Latin Modern fonts)")
    reference = "{\\fontsize{8}{10}\\selectfont xa\\par}\\newpage\n"
    tex = leaderboard_latex(board, MODELS) + leaderboard_latex(hostile_board())
    compile_tex(
        tmp_path, reference + tex, preamble="\\usepackage[T1]{fontenc}\\usepackage{lmodern}\n"
    )

    def pdftotext(*args) -> str:
        done = subprocess.run(
            ["pdftotext", *args, "t.pdf", "-"], cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    flat = " ".join(pdftotext().split())
    for name in HOSTILE:
        assert " ".join(name.split()) in flat, name
    pages = pdftotext("-bbox").split("<page ")[1:]
    eight_pt = min(word_heights(pages[0]))
    smallest = min(h for page in pages[1:] for h in word_heights(page))
    assert smallest >= 0.99 * eight_pt, (smallest, eight_pt)


@needs_pdflatex
@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="no pdfinfo (poppler-utils)")
def test_a_paper_of_6_5_inch_lines_gets_compact_tables_that_fit_their_pages(tmp_path, board):
    """Two (dataset, model) of 12 methods and 17 metrics with intervals, for a 6.5 in line: 8
    pages (the tables split at 345 pt with a caption each took 16), no table taller than its
    page, none wider than its line."""
    tex = leaderboard_latex(board, MODELS, width="6.5in")
    log, _ = compile_tex(tmp_path, tex, preamble="\\usepackage[margin=1in]{geometry}\n")
    assert "Float too large" not in log and "Overfull \\hbox" not in log
    info = subprocess.run(["pdfinfo", "t.pdf"], cwd=tmp_path, capture_output=True, text=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    assert pages <= 8, pages
    assert tex.count("Mean over") == 1  # one key for the file: the second set refers to it
