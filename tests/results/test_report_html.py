"""report.html and leaderboard.tex: offline, escaped, well-formed; and a real browser opens them."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from xaibench.results.html import (  # noqa: E402
    Code,
    Image,
    Section,
    Table,
    Text,
    cells_summary,
    failures_section,
    write_report,
)
from xaibench.results.tables import fmt, wide  # noqa: E402

EVIL = "<script>alert(1)</script>"
RUN = {
    "id": 3,
    "started": "2025-01-01T00:00:00+00:00",
    "finished": "2025-01-01T00:05:00+00:00",
    "status": "finished",
    "command": "xaibench run --suite quick",
    "config": {"samples": 8, "methods": ["saliency", EVIL], "params": {"ig": {"steps": 32}}},
    "versions": {"xaibench": "0.1.0", "tensorflow": "2.17.0"},
}


def png_bytes(seed: int = 0) -> bytes:
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot(np.random.default_rng(seed).normal(size=10))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    plt.close(fig)
    return buf.getvalue()


@pytest.fixture
def png_file(tmp_path):
    path = tmp_path / "plot.png"
    path.write_bytes(png_bytes())
    return path


def cells_table() -> pd.DataFrame:
    rows = [
        ("digits", "cnn", "saliency", "deletion", "ok", None),
        ("digits", "cnn", EVIL, "deletion", "error", "ValueError: bad <input>\n\nTraceback ..."),
        ("digits", "cnn", "gradcam", "sparseness", "error", "\nRuntimeError: boom\nmore"),
        ("digits", "linear", "gradcam", "deletion", "not_applicable", "no convolution layer"),
        ("digits", "linear", "gradcam", "insertion", "not_applicable", "no convolution layer"),
        ("digits", "linear", "saliency", "pointing_game", "not_applicable", "no masks"),
    ]
    return pd.DataFrame(rows, columns=["dataset", "model", "method", "metric", "status", "error"])


def report(tmp_path, sections, name="report.html"):
    return write_report(tmp_path / name, title="Test <report>", run=RUN, sections=sections)


def full_sections(png_file) -> list:
    board = pd.DataFrame(
        {"method": ["saliency", EVIL], "mean": [0.12345678, 1e-6], "n": [8, 8], "rank": [1, 2]}
    )
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.bar([0, 1], [1, 2])
    sections = [
        Section("Models", [Table(pd.DataFrame({"model": ["cnn"], "accuracy": [0.9812]}))]),
        Section(
            "Leaderboard",
            [
                Text("Rank 1 in **bold**; see `leaderboard.csv`.\n\n- one\n- two"),
                Section("digits / cnn", [Table(board, caption=f"caption {EVIL}")]),
                Section("digits / linear", [Table(board.iloc[:0])]),
            ],
        ),
        Section(
            "Plots",
            [
                Image(png_file, caption="from a file"),
                Image(png_bytes(1), caption=EVIL),
                Image(fig, caption="from a figure"),
            ],
        ),
        failures_section(cells_table()),
        Section("Error text", [Code(f"Traceback:\n  {EVIL}")]),
    ]
    plt.close(fig)
    return sections


# html ---------------------------------------------------------------------------------------
def test_report_is_self_contained(tmp_path, png_file):
    text = report(tmp_path, full_sections(png_file)).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", text)
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower() and "<link" not in text.lower()
    sources = re.findall(r'<img src="([^"]+)"', text)
    assert len(sources) == 3
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    decoded = base64.b64decode(sources[0].split(",", 1)[1])
    assert decoded == png_file.read_bytes()  # embedded as it is


def test_user_text_is_escaped(tmp_path, png_file):
    text = report(tmp_path, full_sections(png_file)).read_text()
    assert EVIL not in text
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # table cell, table caption, image caption, code block, config, failures table
    assert text.count(escaped) >= 6
    assert "<title>Test &lt;report&gt;</title>" in text
    assert "<strong>bold</strong>" in text and "<code>leaderboard.csv</code>" in text
    assert "<li>one</li><li>two</li>" in text


def test_table_of_contents_anchors(tmp_path, png_file):
    text = report(tmp_path, full_sections(png_file)).read_text()
    ids = re.findall(r' id="([^"]+)"', text)
    links = re.findall(r'href="#([^"]+)"', text)
    assert len(ids) == len(set(ids))
    assert set(links) == set(ids)
    for title in (
        "Run: configuration and versions",
        "Configuration",
        "Versions",
        "Leaderboard",
        "digits / cnn",
        "Plots",
    ):
        assert f">{title}</a>" in text


def test_run_section(tmp_path):
    text = report(tmp_path, []).read_text()
    for value in ("finished", "xaibench run --suite quick", "params.ig.steps", "2.17.0"):
        assert value in text


def test_numbers_use_fmt(tmp_path):
    df = pd.DataFrame({"x": [0.12345678, 1e-6, np.nan], "n": [1, 2, 3]})
    text = report(tmp_path, [Section("T", [Table(df)])]).read_text()
    for value in (0.12345678, 1e-6):
        assert f'<td class="num">{fmt(value)}</td>' in text
    assert '<td class="num">–</td>' in text


def test_leaderboard_cells_from_tables_wide(tmp_path):
    header, rows = wide(board_frame().query("dataset == 'digits'"))
    text = report(tmp_path, [Section("L", [Table(pd.DataFrame(rows, columns=header))])]).read_text()
    assert (
        '<td class="num"><strong>0.25<br><span class="ci">[0.24, 0.26]</span></strong>'
        "<sup>a</sup></td>" in text
    )
    assert "<td>my_method%&amp;#</td>" in text
    df = pd.DataFrame({"m": ["<sup><script>x</script></sup>", "<sup>a b</sup>"]})
    text = report(tmp_path, [Section("S", [Table(df)])]).read_text()
    assert "<script>" not in text and "<sup>a b</sup>" not in text


def test_long_tables_are_truncated(tmp_path):
    df = pd.DataFrame({"i": np.arange(650)})
    text = report(tmp_path, [Section("Long", [Table(df)])]).read_text()
    body = text.split('id="long"', 1)[1].split("</section>", 1)[0]
    assert body.count("<tr><td") == 500
    assert "first 500 of 650 rows" in text


def test_cells_summary():
    failed, not_applicable = cells_summary(cells_table())
    expected_failed = pd.DataFrame(
        {
            "dataset": ["digits", "digits"],
            "model": ["cnn", "cnn"],
            "method": [EVIL, "gradcam"],
            "metric": ["deletion", "sparseness"],
            "error": ["ValueError: bad <input>", "RuntimeError: boom"],
        }
    )
    pd.testing.assert_frame_equal(failed, expected_failed)
    expected_na = pd.DataFrame(
        {
            "dataset": ["digits", "digits"],
            "model": ["linear", "linear"],
            "method": ["gradcam", "saliency"],
            "metrics": ["deletion, insertion", "pointing_game"],
            "reason": ["no convolution layer", "no masks"],
        }
    )
    pd.testing.assert_frame_equal(not_applicable, expected_na)


def test_cells_summary_of_a_clean_run():
    failed, not_applicable = cells_summary(cells_table().iloc[:1])
    assert failed.empty and not_applicable.empty
    assert list(not_applicable.columns) == ["dataset", "model", "method", "metrics", "reason"]


def test_failures_section_lists_the_cells(tmp_path):
    text = report(tmp_path, [failures_section(cells_table())]).read_text()
    assert "2 failed cells and 3 not-applicable cells out of 6" in text
    assert "RuntimeError: boom" in text and "bad &lt;input&gt;" in text
    assert "deletion, insertion" in text and "Traceback" not in text


@pytest.mark.parametrize(
    "blocks, error",
    [
        (["plain string"], TypeError),
        ([Image(b"not an image")], ValueError),
        ([Image("/no/such/plot.png")], ValueError),
    ],
)
def test_bad_blocks_raise(tmp_path, blocks, error):
    with pytest.raises(error):
        report(tmp_path, [Section("Bad", blocks)])


# latex --------------------------------------------------------------------------------------
def board_frame() -> pd.DataFrame:
    rows = []
    for dataset, model in [("breast_cancer", "mlp"), ("digits", "cnn")]:
        for method, means, ranks in [
            ("integrated_gradients", [0.25, -0.5, 2e-5], [1, 2, 1]),
            ("my_method%&#", [0.125, 0.75, np.nan], [2, 1, np.nan]),
        ]:
            for metric, hib, mean, rank in zip(
                ["deletion", "insertion", "runtime_s"],
                [False, True, False],
                means,
                ranks,
                strict=True,
            ):
                rows.append(
                    dict(
                        dataset=dataset,
                        model=model,
                        method=method,
                        metric=metric,
                        category="x",
                        higher_is_better=hib,
                        mean=mean,
                        ci_low=mean - 0.01,
                        ci_high=mean + 0.01,
                        n=8,
                        rank=rank,
                    )
                )
    board = pd.DataFrame(rows)
    board["tie"] = [
        "a" if r == 1 and m == "deletion" else ""
        for r, m in zip(board["rank"], board["metric"], strict=True)
    ]
    return board


# a real browser -----------------------------------------------------------------------------
def test_report_opens_cleanly_in_a_browser(tmp_path, png_file, browser):
    path = report(tmp_path, full_sections(png_file))
    shot = tmp_path / "shot.png"
    assert browser(path, shot) == []
    assert not shot.exists()


def test_the_committed_reference_report_opens_cleanly_in_a_browser(tmp_path, browser):
    """The quick suite's page: the verdict in the first screen, nothing overflowing at 1280 px,
    under 2 MB with every plot."""
    page = Path(__file__).resolve().parents[2] / "results" / "reference" / "report.html"
    text = page.read_text()
    assert text.count("data:image/png;base64,") >= 18  # every plot of the quick run
    assert page.stat().st_size < 2_000_000
    assert browser(page, tmp_path / "reference.png", first_screen="section.verdict") == []


def test_browser_sees_what_overflows_and_what_is_not_in_the_first_screen(tmp_path, browser):
    wide = pd.DataFrame({f"column {i}": ["x" * 40] for i in range(12)})
    tall = Section("Tall", [Text("line\n\n" * 80)])
    path = report(tmp_path, [tall, Section("Wide", [Table(wide, "too wide")]), Section("End")])
    problems = browser(path, tmp_path / "shot.png", first_screen="#end")
    assert any(p.startswith("overflow: table-wrap") and "too wide" in p for p in problems), problems
    assert any("#end is not in the first screen" in p for p in problems), problems
    collapsed = Section("Wide", [Table(wide, "too wide")], collapsed=True)
    assert browser(report(tmp_path, [collapsed]), tmp_path / "shot.png") == []  # closed: unseen


def test_browser_sees_a_corrupt_image(tmp_path, png_file, browser):
    corrupt = b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20
    path = report(tmp_path, [Section("Plots", [Image(png_file), Image(corrupt, alt="corrupt")])])
    shot = tmp_path / "shot.png"
    problems = browser(path, shot)
    assert len(problems) == 1 and "did not decode" in problems[0] and "corrupt" in problems[0]
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_browser_sees_a_script_error(tmp_path, browser):
    text = report(tmp_path, [Section("T", [Text("hello")])]).read_text()
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    path = tmp_path / "broken.html"
    path.write_text(text.replace("</body>", "<script>throw new Error('boom')</script></body>"))
    problems = browser(path, tmp_path / "shot.png")
    assert any("exception" in p and "boom" in p for p in problems), problems


def test_browser_sees_a_missing_page(tmp_path, browser):
    problems = browser(tmp_path / "missing.html", tmp_path / "shot.png")
    assert problems and "failed to load" in problems[0]


def test_browser_sees_what_the_page_policy_blocks(tmp_path, browser):
    """The report's Content-Security-Policy blocks scripts and external images, and says so."""
    text = report(tmp_path, [Section("T", [Text("hello")])]).read_text()
    extra = "<script>document.title = 'ran'</script><img src='https://example.invalid/x.png'>"
    path = tmp_path / "injected.html"
    path.write_text(text.replace("</body>", extra + "</body>"))
    problems = browser(path, tmp_path / "shot.png")
    assert any("did not decode" in p for p in problems), problems
    assert sum("Content Security Policy" in p for p in problems) == 2, problems


# the report of a run --------------------------------------------------------------------------
def run_scores(pairs=3, methods=10, categories=("faithfulness", "robustness", "complexity")):
    """Per-sample scores of a quick-suite-sized run: ``pairs`` (dataset, model), ``methods``
    methods and the random and sobel controls, three metrics per category, 8 samples."""
    rng = np.random.default_rng(0)
    names = [f"method_{i}" for i in range(methods)] + ["random", "sobel"]
    rows = []
    for p in range(pairs):
        for c, category in enumerate(categories):
            for k in range(3):
                for i, method in enumerate(names):
                    center = 0.1 * ((i * (k + 1) + c + p) % len(names))
                    for s in range(8):
                        rows.append(
                            (f"data_{p}", "model", method, f"{category}_{k}", category)
                            + (k % 2 == 0, s, center + 0.05 * rng.normal(), method in names[-2:])
                        )
    columns = "dataset model method metric category higher_is_better sample score control"
    scores = pd.DataFrame(rows, columns=columns.split())
    axis = {"faithfulness": "faithfulness", "complexity": "simplicity"}
    return scores.assign(tradeoff=scores["category"].map(axis))


def test_the_report_shows_the_answer_and_keeps_the_tables_few_read_collapsed(tmp_path, browser):
    """The verdict first; per (dataset, model) its methods by overall rank and rank heatmap,
    the mean scores per metric collapsed, as are the leaderboard plots per category and the
    tradeoff tables: the page renders at under half the height it has with them open (0.38;
    0.81 with the tables and plots per category shown)."""
    from browser import evaluate_in_browser

    from xaibench.results.outputs import RunData, build_from

    out = tmp_path / "run"
    build_from(RunData.from_scores(run_scores()), out)
    page = out / "report.html"
    assert browser(page, tmp_path / "shot.png", first_screen="section.verdict") == []
    height = evaluate_in_browser(page, "document.documentElement.scrollHeight")
    closed = evaluate_in_browser(
        page,
        "Array.from(document.querySelectorAll('details:not([open]) > summary'))"
        ".map(s => s.textContent.trim())",
    )
    for title in ("Mean scores per metric", "Means and intervals per metric category"):
        assert title in closed, closed
    assert closed.count("Mean scores per metric") == 3  # one per (dataset, model)
    opened = evaluate_in_browser(
        page,
        "(() => { document.querySelectorAll('details').forEach(d => d.open = true); "
        "return document.documentElement.scrollHeight; })()",
    )
    assert height < opened / 2, (height, opened)
