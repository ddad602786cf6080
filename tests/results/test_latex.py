"""leaderboard.tex for a paper: one table per (dataset, model, metric category), split when too
wide (never shrunk), legible, selectable, explained by its caption; compiled by pdflatex where it
is installed."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from xaibench.results.latex import LINE_WIDTH, escape, leaderboard_latex
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


def tables(tex: str) -> list[dict]:
    """Each table of ``tex``: caption, label, column spec, header cells and body rows."""
    out = []
    for t in re.findall(r"\\begin\{table\}.*?\\end\{table\}", tex, flags=re.S):
        spec, body = re.search(
            r"\\begin\{tabular\}\{([^}]*)\}(.*?)\\end\{tabular\}", t, re.S
        ).groups()
        rows = [r.strip() for r in body.split("\n") if r.strip().endswith(r"\\")]
        header = cells(rows[0])
        out.append(
            {
                "caption": re.search(r"\\caption\[[^\n]*?\]\{(.*)\}\n\\label", t, re.S).group(1),
                "label": re.search(r"\\label\{([^}]*)\}", t).group(1),
                "spec": spec,
                "metrics": [metric_of(h) for h in header[1:]],
                "rows": [cells(r) for r in rows[1:]],
                "text": t,
            }
        )
    return out


def metric_of(header: str) -> str:
    """The metric a header cell names: its lines joined, without the arrow and the escaping."""
    text = re.sub(r"\\shortstack\[r\]\{(.*)\}", r"\1", header).replace("\\\\", "")
    return re.sub(r" \$\\(up|down)arrow\$$", "", text).replace(r"\_", "_")


def cells(row: str) -> list[str]:
    """The cells of a tabular row: split at the & that are not escaped."""
    return [c.strip() for c in re.split(r"(?<!\\)&", row.removesuffix(r"\\"))]


def in_table(t: dict, method: str) -> list[str]:
    return next(r for r in t["rows"] if r[0] in (escape(method), rf"\textit{{{escape(method)}}}"))


# structure --------------------------------------------------------------------------------------
def test_one_table_per_dataset_model_and_category(board):
    found = tables(leaderboard_latex(board, MODELS))
    for dataset, model in [("shapes", "cnn"), ("digits", "linear")]:
        mine = [t for t in found if t["caption"].startswith(f"{dataset} / {model} (test accuracy")]
        shown = [m for t in mine for m in t["metrics"]]
        assert sorted(shown) == sorted(METRICS)  # every metric in exactly one table
        for t in mine:
            category = re.search(r": (\w+) metrics", t["caption"]).group(1)
            assert {METRICS[m][0] for m in t["metrics"]} == {category}
    labels = [t["label"] for t in found]
    assert len(labels) == len(set(labels))
    assert "tab:shapes-cnn-robustness" in labels and "tab:digits-linear-cost" in labels


def test_no_table_is_shrunk_and_every_row_has_its_cells(board):
    tex = leaderboard_latex(board, MODELS)
    assert r"\resizebox" not in tex and r"\scalebox" not in tex
    for t in tables(tex):
        assert r"\small" in t["text"] and r"\tiny" not in t["text"]
        assert t["spec"] == "l" + "r" * len(t["metrics"])
        assert all(len(r) == len(t["spec"]) for r in t["rows"])


def test_a_wide_category_is_split_into_parts(board):
    found = tables(leaderboard_latex(board, width=LINE_WIDTH))
    faith = [t for t in found if t["label"].startswith("tab:shapes-cnn-faithfulness")]
    assert len(faith) >= 2
    assert [m for t in faith for m in t["metrics"]] == sorted(
        m for m, (c, _) in METRICS.items() if c == "faithfulness"
    )
    assert [t["label"] for t in faith] == [
        f"tab:shapes-cnn-faithfulness-{i}" for i in range(1, len(faith) + 1)
    ]
    assert all(f"(part {i} of {len(faith)})" in t["caption"] for i, t in enumerate(faith, 1))
    # as even as possible, and the same tables on a wider line need fewer parts
    assert max(len(t["metrics"]) for t in faith) - min(len(t["metrics"]) for t in faith) <= 1
    wider = tables(leaderboard_latex(board, width=2 * LINE_WIDTH))
    assert len(wider) < len(found)


def test_ci_false_shows_means_only(board):
    with_ci, means = leaderboard_latex(board), leaderboard_latex(board, ci=False)
    assert "confidence interval" in with_ci and "confidence interval" not in means
    for t in tables(means):
        assert not any(r[0] == "" for r in t["rows"])  # no interval line under a mean
        assert not any(c.startswith("[") for r in t["rows"] for c in r[1:])
    interval_rows = [r for t in tables(with_ci) for r in t["rows"] if r[0] == ""]
    assert interval_rows and all(re.match(r"\[.*, .*\]|$", c) for r in interval_rows for c in r)


# cells ------------------------------------------------------------------------------------------
def test_bold_marks_the_best_rank_and_letters_come_from_the_board(board):
    t = next(
        t for t in tables(leaderboard_latex(board)) if t["label"] == "tab:shapes-cnn-robustness"
    )
    rows = board[(board.dataset == "shapes") & (board.model == "cnn")]
    for j, metric in enumerate(t["metrics"], 1):
        r = rows[rows.metric == metric].set_index("method")
        for method in METHODS:
            cell = in_table(t, method)[j]
            assert cell.startswith(r"\textbf{") == (r.loc[method, "rank"] == 1)
            letter = r.loc[method, "tie"]
            assert (rf"{{\footnotesize {letter}}}" in cell) == bool(letter)


def test_runtime_has_its_unit_and_no_interval(board):
    t = next(t for t in tables(leaderboard_latex(board)) if t["label"] == "tab:shapes-cnn-cost")
    assert t["metrics"] == ["runtime"]
    assert not any(r[0] == "" for r in t["rows"])
    units = {re.search(r"\\,(\S+?)\}?$", in_table(t, m)[1]).group(1) for m in METHODS}
    assert units == {r"$\mu$s"}  # one unit per table: the median method runs in microseconds
    assert in_table(t, "random")[1] == r"\textbf{3.00\,$\mu$s}"
    assert in_table(t, "vargrad")[1] == r"45650\,$\mu$s"  # 3 µs * 2.4^11, all its digits
    assert "wall-clock time per sample" in t["caption"] and "no interval" in t["caption"]


def test_na_and_not_evaluated_cells_are_explained():
    scores = scores_table()
    scores = scores[~((scores.method == "saliency") & (scores.metric == "deletion"))]
    t = next(
        t
        for t in tables(leaderboard_latex(board_of(scores)))
        if t["label"] == "tab:shapes-cnn-faithfulness-1"
    )
    assert in_table(t, "grad_cam")[2] == "n/a"  # faithfulness_correlation: no finite score
    assert in_table(t, "saliency")[1] == "--"
    assert "n/a: no finite score; --: not evaluated." in t["caption"]


def test_controls_come_from_the_control_column(board):
    t = tables(leaderboard_latex(board))[0]
    body = t["text"].split(r"\midrule", 1)[1]
    others, controls = body.split(r"\midrule")
    assert r"\textit{random}" in controls and r"\textit{sobel}" in controls
    assert r"\textit" not in others
    assert "the controls (random, sobel)" in t["caption"]
    # not a list of names: whatever the column says
    flipped = board.assign(control=board["method"].isin(["occlusion"]))
    t = tables(leaderboard_latex(flipped))[0]
    assert r"\textit{occlusion}" in t["text"] and r"\textit{random}" not in t["text"]
    t = tables(leaderboard_latex(board.drop(columns="control")))[0]
    assert r"\textit" not in t["text"] and "controls" not in t["caption"]


# captions -------------------------------------------------------------------------------------
def test_the_caption_explains_what_the_table_shows(board):
    found = tables(leaderboard_latex(board, MODELS))
    t = next(t for t in found if t["label"] == "tab:shapes-cnn-robustness")
    caption = t["caption"]
    assert caption.startswith(
        "shapes / cnn (test accuracy 0.983, 136,484 parameters): robustness metrics. "
        "Mean over the $n = 16$ explained samples, with its 95\\% percentile bootstrap "
        "confidence interval below it; $\\uparrow$ higher is better, $\\downarrow$ lower is "
        "better; bold: the best mean of a column."
    )
    for words in (
        "share a letter",
        "Wilcoxon signed-rank test of each method against the next ranked one",
        "Holm-corrected over the column's tests, $\\alpha = 0.05$",
        "the ends of a chain may still differ",
    ):
        assert words in caption
    assert "Runtime" not in caption  # only what this table shows
    other = tables(leaderboard_latex(board, confidence=0.9, alpha=0.01))[0]["caption"]
    assert "90\\% percentile bootstrap" in other and "$\\alpha = 0.01$" in other
    plain = tables(leaderboard_latex(board.drop(columns="tie")))[0]["caption"]
    assert "Superscript" not in plain and "footnotesize" not in plain


def test_n_is_stated_as_a_range_when_it_varies():
    scores = scores_table()
    drop = (scores.method == "saliency") & (scores.metric == "deletion") & (scores["sample"] < 4)
    tex = leaderboard_latex(board_of(scores[~drop]))
    caption = tables(tex)[0]["caption"]
    assert "$n = 12$--$16$ explained samples (those with a finite score)" in caption


# selection ------------------------------------------------------------------------------------
def test_chosen_metrics_make_one_table_per_dataset_and_model(board):
    chosen = ["insertion", "deletion", "runtime"]
    found = tables(leaderboard_latex(board, metrics=chosen, ci=False))
    assert [t["label"] for t in found] == ["tab:digits-linear", "tab:shapes-cnn"]
    assert all(t["metrics"] == chosen for t in found)
    assert "metrics." not in found[0]["caption"].split(".")[0]


def test_chosen_methods_are_the_rows_and_bold_is_the_best_of_them(board):
    rows = board[
        (board.dataset == "shapes") & (board.model == "cnn") & (board.metric == "complexity")
    ]
    rank = rows.set_index("method")["rank"]
    chosen = sorted(rank[rank > rank.min()].sort_values().index[:3])  # the best left out
    assert rank[chosen].nunique() > 1  # so that bold means something here
    t = next(
        t
        for t in tables(leaderboard_latex(board, methods=chosen))
        if t["label"] == "tab:shapes-cnn-complexity"
    )
    assert [r[0] for r in t["rows"] if r[0]] == [escape(m) for m in chosen]
    j = t["metrics"].index("complexity") + 1
    for method in chosen:
        bold = in_table(t, method)[j].startswith(r"\textbf{")
        assert bold == (rank[method] == rank[chosen].min()), method
    assert "among the methods shown" in t["caption"]
    assert "compared all methods of the run" in t["caption"]


def test_unknown_names_raise_naming_them(board):
    with pytest.raises(ValueError, match=r"unknown methods: 'salency', 'x_y'"):
        leaderboard_latex(board, methods=["saliency", "salency", "x_y"])
    with pytest.raises(ValueError, match=r"unknown metrics: 'Deletion'"):
        leaderboard_latex(board, metrics=["Deletion"])


# user-supplied names ----------------------------------------------------------------------------
# what the file may hold unescaped besides the names: its own markup
OWN_MATH = r"\$\\(up|down)arrow\$|\$-\$|\$\\mu\$|\$n = \d+\$|\$\\alpha = [\d.]+\$"


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
    for t in tables(tex):  # a & in a name does not open a column
        assert t["rows"] and all(len(r) == len(t["spec"]) for r in t["rows"])
        assert "\n\n" not in t["text"]  # a blank line would end the caption
    labels = re.findall(r"\\label\{([^}]*)\}", tex)
    assert all(re.fullmatch(r"tab:[a-z0-9-]+", label) for label in labels)


def test_escape_protects_a_leading_bracket():
    """A row or a header line that starts with [ after \\ would be read as \\[<length>]."""
    assert escape("[x]") == "{[}x{]}"
    assert escape(" two\n\nlines ") == "two lines"


# pdflatex ---------------------------------------------------------------------------------------
needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no pdflatex")


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
