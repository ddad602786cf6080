"""The plots fit the report's page (at most 1200 px wide, no text under 8 pt, no labels on top
of each other), split the leaderboard by category and the ranks by (dataset, model), draw the
controls as grey dashed references, return None on empty input and leave no figure open."""

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from _figures_cases import assert_png
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from PIL import Image

from xaibench._categories import CATEGORIES
from xaibench._checks import file_stem
from xaibench.results import _figures, plots
from xaibench.results.stats import aggregate_ranks

RNG = np.random.default_rng(0)
GREY = to_rgba(_figures.CONTROL_COLOR)


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def board_rows(dataset, model, ranks: dict[tuple[str, str], float]):
    return [
        {
            "dataset": dataset,
            "model": model,
            "method": method,
            "metric": metric,
            "higher_is_better": metric == "insertion",
            "mean": 0.5,
            "rank": rank,
        }
        for (method, metric), rank in ranks.items()
    ]


@pytest.fixture
def board():
    a = {("a", "deletion"): 1, ("b", "deletion"): 2, ("a", "insertion"): 2, ("b", "insertion"): 1}
    b = {("a", "deletion"): 2, ("b", "deletion"): 1, ("a", "insertion"): 1, ("b", "insertion"): 2}
    c = {
        ("a", "deletion"): 1,
        ("b", "deletion"): 2,
        ("a", "insertion"): 1,
        ("b", "insertion"): None,
    }
    rows = board_rows("d1", "m1", a) + board_rows("d1", "m2", b) + board_rows("d2", "m1", c)
    df = pd.DataFrame(rows)
    df["rank"] = df["rank"].astype("Int64")  # as xb.leaderboard returns it, with <NA>
    return df


# A quick-suite sized leaderboard: 6 (dataset, model), 17 metrics in 7 categories, 11 methods
# and 2 controls with long names; cnn-only methods, localisation on one dataset only, a metric
# without any score and the rest of a leaderboard's columns.
QUICK_METRICS = {
    "faithfulness": ["deletion", "faithfulness_correlation", "infidelity", "insertion", "road"],
    "robustness": ["avg_sensitivity", "max_sensitivity"],
    "complexity": ["complexity", "sparseness"],
    "randomisation": ["model_randomisation", "random_logit"],
    "localisation": ["attribution_auroc", "pointing_game", "relevance_mass", "relevance_rank"],
    "axiomatic": ["completeness"],
    "cost": ["runtime"],
}
QUICK_METHODS = [
    "feature_correlation",
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
]
QUICK_GROUPS = [
    ("breast_cancer", "linear"),
    ("breast_cancer", "mlp"),
    ("digits", "cnn"),
    ("digits", "linear"),
    ("shapes", "cnn"),
    ("shapes", "linear"),
]


def quick_board(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for (dataset, model), (category, metrics) in (
        (g, c) for g in QUICK_GROUPS for c in QUICK_METRICS.items()
    ):
        if category == "localisation" and dataset != "shapes":
            continue
        methods = [m for m in QUICK_METHODS if model == "cnn" or not m.startswith("grad_cam")]
        for k, metric in enumerate(metrics):
            scale = 10.0 ** -(k % 5)
            for method, control in [(m, False) for m in methods] + [
                ("random", True),
                ("sobel", True),
            ]:
                mean = np.nan if metric == "road" and model == "linear" else rng.uniform() * scale
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "method": method,
                        "metric": metric,
                        "category": category,
                        "higher_is_better": k % 2 == 0,
                        "mean": mean,
                        "ci_low": mean - 0.1 * scale,
                        "ci_high": mean + 0.1 * scale,
                        "n": 8,
                        "tradeoff": "",
                        "control": control,
                    }
                )
    df = pd.DataFrame(rows)
    keys = ["dataset", "model", "metric"]
    up = df["higher_is_better"]
    df["rank"] = (
        df.assign(key=np.where(up, -df["mean"], df["mean"])).groupby(keys)["key"].rank(method="min")
    )
    df["rank"] = df["rank"].astype("Int64")
    return df


def quick_curves(n_methods=11, groups=QUICK_GROUPS):
    curves = {}
    for g in groups:
        by_method = {m: curves_of() for m in QUICK_METHODS[:n_methods]}
        curves[g] = by_method | {"random": curves_of(), "sobel": curves_of()}
    return curves


def curves_of(n=8, steps=10):
    decay = 1 - np.linspace(0, 1, steps + 1)
    return decay * RNG.uniform(0.5, 1.0, size=(n, 1))


def agreement(n):
    names = [f"a_rather_long_metric_name_{i:02d}" for i in range(n)]
    return pd.DataFrame(np.corrcoef(RNG.normal(size=(n, n + 3))), index=names, columns=names)


def gallery(k, n_methods, shape=(8, 8, 1), features=None):
    x = RNG.uniform(size=(k, *shape))
    names = [f"attribution_method_{i:02d}" for i in range(n_methods)] + ["random"]
    maps = {m: RNG.normal(size=(k, *shape)) for m in names}
    return x, maps


def gallery_figure(path, k, n_methods, shape=(8, 8, 1), feature_names=None):
    x, maps = gallery(k, n_methods, shape)
    return plots.gallery_plot(
        x,
        maps,
        path,
        title="digits / cnn: attributions of 4 test samples",
        targets=np.arange(k) % 2,
        class_names=["benign", "malignant"],
        feature_names=feature_names,
        controls={"random"},
    )


FIGURES = {  # every figure function, on inputs as big as a quick run's or bigger
    "leaderboard_plots": lambda d: plots.leaderboard_plots(quick_board(), d),
    "leaderboard_plot_every_metric": lambda d: plots.leaderboard_plot(quick_board(), d / "l.png"),
    "rank_heatmaps": lambda d: plots.rank_heatmaps(quick_board(), d),
    "rank_heatmap_40_metrics": lambda d: plots.rank_heatmap(
        wide_board(40), d / "ranks.png", group=("d", "m")
    ),
    "agreement_17": lambda d: plots.agreement_heatmap(agreement(17), d / "a.png"),
    "agreement_40": lambda d: plots.agreement_heatmap(agreement(40), d / "a.png"),
    "curves": lambda d: plots.curves_plot(
        quick_curves(), "deletion", d / "c.png", controls={"random", "sobel"}
    ),
    "curves_best_and_others": lambda d: plots.curves_plot(
        quick_curves(),
        "deletion",
        d / "c.png",
        controls={"random", "sobel"},
        order={g: QUICK_METHODS[::-1] for g in QUICK_GROUPS},
    ),
    "curves_one_panel": lambda d: plots.curves_plot(
        quick_curves(groups=[("d", "m")]), "insertion", d / "c.png", controls={"random"}
    ),
    "gallery_13": lambda d: gallery_figure(d / "g.png", 4, 12),
    "gallery_25_rgb": lambda d: gallery_figure(d / "g.png", 3, 24, (32, 32, 3)),
    "gallery_tabular": lambda d: gallery_figure(
        d / "g.png", 4, 10, (30,), [f"worst concave points {i}" for i in range(30)]
    ),
    "inspection_conv_64_maps": lambda d: plots.inspection_plot(
        d / "i.png",
        input=RNG.random((32, 32, 3)),
        filters=RNG.normal(size=(3, 3, 3, 64)),
        activations=RNG.random((30, 30, 64)),
        title="shapes / cnn: first layer (conv2d_2) and its response to one sample",
        max_maps=64,
    ),
    "inspection_dense": lambda d: plots.inspection_plot(
        d / "i.png",
        input=RNG.random(30),
        filters=RNG.normal(size=(30, 32)),
        activations=RNG.random(32),
        title="breast_cancer / mlp: first layer (dense) and its response to one sample",
    ),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_fits_the_page(name, drawn, tmp_path):
    """At most 1200 px wide at its dpi, every text >= 8 pt (tick labels, legends, titles and
    the heatmaps' cell values included), no two labels on top of each other."""
    written = FIGURES[name](tmp_path)
    paths = written if isinstance(written, list) else [written]
    assert drawn and len(paths) == len(drawn)
    for fig, path in zip(drawn, paths, strict=True):
        assert _figures.page_problems(fig) == [], path.name
        assert mpimg.imread(path).shape[1] <= _figures.MAX_WIDTH_PX
        pdf = _figures.pdf_of(path).read_bytes()  # the same figure for print: vector
        assert pdf.startswith(b"%PDF") and b"/Font" in pdf, path.name


def test_page_problems_finds_small_text_overlaps_and_wide_figures():
    fig = Figure(figsize=(13, 3), dpi=_figures.DPI)
    fig.text(0.1, 0.5, "small", fontsize=7)
    fig.text(0.5, 0.5, "overlapping", fontsize=9)
    fig.text(0.52, 0.5, "labels", fontsize=9)
    for x, y in [(0.8, 0.2), (0.803, 0.2), (0.9, 0.2), (0.95, 0.2)]:  # two clash across
        fig.text(x, y, "slanted tick label", rotation=45, fontsize=8)
    _figures._render(fig, _figures.DPI)
    problems = _figures.page_problems(fig)
    assert problems == [
        "1300 px wide",
        "'small' at 7.0 pt",
        "'overlapping' overlaps 'labels'",
        "'slanted tick label' overlaps 'slanted tick label'",
    ]


def test_page_problems_reads_the_size_of_cell_values():
    fig = Figure(figsize=(3, 3), dpi=_figures.DPI)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    _figures._annotate(ax, np.eye(2), lambda v: f"{v:.0f}", lambda v: v > 0, fontsize=6.5)
    _figures._render(fig, _figures.DPI)
    assert _figures.page_problems(fig) == ["cell text at 6.5 pt"]


# leaderboards -------------------------------------------------------------------------------


def test_leaderboard_plots_one_figure_per_category_in_report_order(tmp_path):
    board = quick_board()
    mine = board[board.metric == "runtime"].assign(metric="my_metric", category="my category")
    empty = board[board.metric == "runtime"].assign(metric="unscored", category="axiomatic")
    board = pd.concat([mine, board[board.category != "axiomatic"], empty.assign(mean=np.nan)])
    paths = plots.leaderboard_plots(board, tmp_path)
    names = [p.name for p in paths]
    expected = [
        f"leaderboard_{c}.png" for c in CATEGORIES if c in QUICK_METRICS and c != "axiomatic"
    ]
    assert names == expected + [f"leaderboard_{file_stem('my category')}.png"]
    assert all(p.parent == tmp_path for p in paths)


def test_leaderboard_leaves_out_metrics_and_methods_without_scores():
    board = quick_board()
    blocks = {b["title"]: b for b in plots._leaderboard_blocks(board)}
    assert list(blocks) == [f"{d} / {m}" for d, m in QUICK_GROUPS]
    linear, cnn = blocks["digits / linear"], blocks["digits / cnn"]
    assert "road" not in linear["metrics"] and "road" in cnn["metrics"]  # no scores on linear
    assert "attribution_auroc" not in linear["metrics"]  # localisation: shapes only
    assert "grad_cam" not in linear["methods"] and "grad_cam" in cnn["methods"]
    assert linear["methods"][-2:] == ["random", "sobel"]  # the controls last
    assert linear["control"].tolist() == [False] * (len(linear["methods"]) - 2) + [True, True]
    assert linear["values"].shape == (len(linear["metrics"]), len(linear["methods"]), 4)
    assert np.isfinite(linear["values"][..., 0]).all()


def one_metric(control_column=True, as_text=False):
    rows = [("a", 0.8, False), ("b", 0.5, False), ("random", 0.3, True)]
    board = pd.DataFrame(
        {
            "dataset": "d",
            "model": "m",
            "method": [r[0] for r in rows],
            "metric": "insertion",
            "category": "faithfulness",
            "higher_is_better": True,
            "mean": [r[1] for r in rows],
            "ci_low": [r[1] - 0.05 for r in rows],
            "ci_high": [r[1] + 0.05 for r in rows],
            "rank": [1, 2, 3],
            "control": [str(r[2]) if as_text else r[2] for r in rows],
        }
    )
    return board if control_column else board.drop(columns="control")


def grey_dashed(fig: Figure) -> list:
    """The segments of the grey dashed line collections of ``fig``."""
    found = []
    for c in fig.findobj(LineCollection):
        dashed = any(offset is not None and pattern for offset, pattern in c.get_linestyles())
        if dashed and tuple(c.get_colors()[0]) == GREY:
            found += list(c.get_segments())
    return found


@pytest.mark.parametrize("as_text", [False, True], ids=["bool", "from-csv"])
def test_leaderboard_draws_controls_as_grey_dashed_references(as_text, drawn, tmp_path):
    plots.leaderboard_plot(one_metric(as_text=as_text), tmp_path / "b.png")
    (fig,) = drawn
    (reference,) = grey_dashed(fig)  # one control, one panel: one vertical line
    assert reference[0][0] == reference[1][0]  # vertical, at the control's mean
    texts = {t.get_text(): t for t in fig.findobj(Text)}
    assert texts["random"].get_color() == _figures.CONTROL_COLOR
    assert texts["random"].get_style() == "italic"
    assert texts["a"].get_color() != _figures.CONTROL_COLOR
    dots = [c for c in fig.axes[0].collections if isinstance(c, PathCollection)]
    best = [c for c in dots if tuple(c.get_facecolor()[0]) == to_rgba(_figures.BEST_COLOR)]
    (best,) = [c.get_offsets() for c in best]
    assert best[:, 1].tolist() == [2.0]  # one best method: a, the top row
    assert not any("no scores" in t.get_text() for t in fig.findobj(Text))


def test_leaderboard_without_a_control_column_draws_no_reference(drawn, tmp_path):
    plots.leaderboard_plot(one_metric(control_column=False), tmp_path / "b.png")
    assert grey_dashed(drawn[0]) == []


def test_leaderboard_runtime_ticks_carry_units(drawn, tmp_path):
    board = one_metric().assign(metric="runtime", category="cost", higher_is_better=False)
    board["mean"] = [2e-3, 5e-4, 1e-5]
    board["ci_low"], board["ci_high"] = board["mean"] * 0.9, board["mean"] * 1.1
    plots.leaderboard_plot(board, tmp_path / "b.png")
    labels = [t.get_text() for t in drawn[0].findobj(Text)]
    assert "1 ms" in labels and "2 ms" in labels and not any("e-" in t for t in labels)


def test_leaderboard_draws_a_method_without_finite_scores(board, tmp_path):
    # e.g. vargrad of a linear model: zero maps, every correlation NaN, so no mean and no rank
    b = board.assign(ci_low=0.4, ci_high=0.6)
    b.loc[b["rank"].isna(), ["mean", "ci_low", "ci_high"]] = np.nan
    path = tmp_path / "leaderboard.png"
    assert_png(plots.leaderboard_plot(b, path), path)


def test_leaderboard_without_scores_is_none(tmp_path):
    board = one_metric().assign(mean=np.nan)
    assert plots.leaderboard_plot(board, tmp_path / "x.png") is None
    assert plots.leaderboard_plots(board, tmp_path) == []
    assert not list(tmp_path.iterdir())


# rank heatmaps ------------------------------------------------------------------------------


def test_rank_matrices_all_is_the_mean_rank_over_dataset_and_model(board):
    mats = plots.rank_matrices(board)
    assert list(mats) == ["all", "d1 / m1", "d1 / m2", "d2 / m1"]
    expected = pd.DataFrame(
        {"deletion": [4 / 3, 5 / 3], "insertion": [4 / 3, 1.5]}, index=["a", "b"]
    )  # b's NaN insertion rank on d2 / m1 is skipped
    pd.testing.assert_frame_equal(mats["all"], expected, check_names=False, check_index_type=False)
    assert np.isnan(mats["d2 / m1"].loc["b", "insertion"])
    assert mats["d1 / m2"].loc["b", "deletion"] == 1


def test_rank_matrices_order_methods_best_first_and_metrics_as_given(board):
    flipped = board.assign(method=board["method"].map({"a": "z", "b": "b"}))
    mats = plots.rank_matrices(flipped)
    assert list(mats["all"].index) == ["z", "b"]  # z has the lower mean rank
    assert list(mats["all"].columns) == ["deletion", "insertion"]
    no_groups = plots.rank_matrices(board[board.dataset == "d2"].drop(columns=["dataset", "model"]))
    assert list(no_groups) == ["all"]


def test_rank_heatmaps_order_methods_as_the_verdict_does(drawn, tmp_path):
    """B is fastest (rank 1 on runtime), so its mean rank over all metrics is the best (1.67);
    the verdict leaves cost out and ranks A first (overall 1.5): the heatmap follows it."""
    ranks = {"A": (1, 2, 3), "B": (2, 2, 1), "C": (3, 1, 2)}
    metrics = [("deletion", "faithfulness"), ("sparseness", "complexity"), ("runtime", "cost")]
    board = pd.DataFrame(
        [
            {"dataset": "d", "model": m, "method": method, "metric": metric, "category": c}
            | {"higher_is_better": False, "mean": 0.5, "rank": r[k]}
            for method, r in ranks.items()
            for k, (metric, c) in enumerate(metrics)
            for m in ("m1", "m2")
        ]
    )
    overall = aggregate_ranks(board).query("model == 'm1'").set_index("method")["rank_overall"]
    assert overall.to_dict() == {"A": 1.5, "B": 2.0, "C": 2.0}
    plots.rank_heatmaps(board, tmp_path)
    assert [heatmap_rows(fig) for fig in drawn] == [["A", "B", "C"]] * 3  # all, m1, m2


def test_rank_heatmaps_one_per_dataset_and_model_and_the_mean(board, tmp_path):
    paths = plots.rank_heatmaps(board, tmp_path)
    names = ["ranks_all.png", "ranks_d1_m1.png", "ranks_d1_m2.png", "ranks_d2_m1.png"]
    assert [p.name for p in paths] == names
    one = plots.rank_heatmaps(board[board.dataset == "d2"], tmp_path / "one")
    assert [p.name for p in one] == ["ranks_d2_m1.png"]  # "all" would repeat it


def heatmap_rows(fig: Figure) -> list[str]:
    """The method names of a rank heatmap, top to bottom."""
    ax = fig.axes[0]
    ticks = sorted(zip(ax.get_yticks(), ax.get_yticklabels(), strict=True), key=lambda t: t[0])
    return [label.get_text() for _, label in ticks]  # the y axis points down


def test_rank_heatmap_groups_metrics_by_category_and_puts_controls_last(drawn, tmp_path):
    board = quick_board()
    plots.rank_heatmap(board, tmp_path / "r.png", group=("digits", "linear"))
    (fig,) = drawn
    rows = heatmap_rows(fig)
    assert rows[-2:] == ["random", "sobel"] or rows[-2:] == ["sobel", "random"]
    assert "grad_cam" not in rows  # no rank on a linear model
    columns = [t.get_text().rsplit(" ", 1)[0] for t in fig.axes[0].get_xticklabels()]
    expected = [m for c in CATEGORIES for m in QUICK_METRICS.get(c, []) if c != "localisation"]
    assert columns == [m for m in expected if m != "road"]  # road has no rank here
    italic = {t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_style() == "italic"}
    assert italic == {"random", "sobel"}
    categories = [t.get_text() for t in fig.axes[0].texts]
    assert categories == [c for c in CATEGORIES if c in QUICK_METRICS and c != "localisation"]


def wide_board(n_metrics):
    rows = [
        {"dataset": "d", "model": "m", "method": f"method_{i}", "metric": f"metric_{k:02d}"}
        | {"category": CATEGORIES[k % 3], "higher_is_better": True, "rank": 1 + (i + k) % 5}
        for k in range(n_metrics)
        for i in range(5)
    ]
    return pd.DataFrame(rows)


def test_rank_heatmap_too_wide_for_the_page_is_split_at_categories(drawn, tmp_path):
    plots.rank_heatmap(wide_board(40), tmp_path / "r.png")
    heatmaps = [ax for ax in drawn[0].axes if ax.collections and ax.get_xticks().size]
    assert len(heatmaps) >= 2
    seen = [t.get_text().rsplit(" ", 1)[0] for ax in heatmaps for t in ax.get_xticklabels()]
    assert sorted(seen) == sorted(f"metric_{k:02d}" for k in range(40))  # each once


@pytest.mark.parametrize("groups", [["d1"], ["d1", "d2"]])
def test_rank_heatmap_writes_a_png(board, groups, tmp_path):
    out = tmp_path / "new" / "ranks.png"
    assert_png(plots.rank_heatmap(board[board.dataset.isin(groups)], out), out)


def test_rank_heatmap_from_a_csv_without_groups(board, tmp_path):
    board.drop(columns=["dataset", "model"]).to_csv(tmp_path / "b.csv", index=False)
    out = tmp_path / "ranks.png"
    assert_png(plots.rank_heatmap(pd.read_csv(tmp_path / "b.csv"), out), out)


def test_rank_heatmap_rejects_a_board_without_rank(board, tmp_path):
    with pytest.raises(ValueError, match="rank"):
        plots.rank_heatmap(board.drop(columns=["rank"]), tmp_path / "x.png")
    with pytest.raises(ValueError, match="rank"):
        plots.rank_heatmaps(board.drop(columns=["rank"]), tmp_path)


def test_agreement_heatmap_with_nan(tmp_path):
    names = ["deletion", "insertion", "sparseness", "runtime"]
    rho = pd.DataFrame(np.corrcoef(RNG.normal(size=(4, 6))), index=names, columns=names)
    rho.iloc[0, 3] = rho.iloc[3, 0] = np.nan
    out = tmp_path / "agreement.png"
    assert_png(plots.agreement_heatmap(rho, out, title="agreement"), out)


def test_agreement_heatmap_rejects_a_non_square_matrix(tmp_path):
    with pytest.raises(ValueError, match="square"):
        plots.agreement_heatmap(pd.DataFrame(np.zeros((2, 3))), tmp_path / "x.png")


# curves -------------------------------------------------------------------------------------


def test_method_styles_tell_every_method_apart_and_grey_the_controls():
    methods = [f"m{i}" for i in range(40)] + ["random", "sobel"]
    styles = _figures.method_styles(methods, {"random", "sobel"})
    real = [(to_rgba(s["color"]), str(s["ls"]), s["marker"]) for m, s in styles.items()][:40]
    assert len(set(real)) == 40  # colour, dashes and marker together are unique
    assert len({c for c, _, _ in real[:10]}) == 10  # the first ten: ten colours
    assert GREY not in {c for c, _, _ in real}
    for control in ("random", "sobel"):
        s = styles[control]
        assert to_rgba(s["color"]) == GREY and s["ls"] != "-" and s["marker"] is None
        assert s["zorder"] < styles["m0"]["zorder"]
    assert styles["random"]["ls"] != styles["sobel"]["ls"]


def test_curves_plot_names_methods_outside_the_panels_and_greys_the_controls(drawn, tmp_path):
    plots.curves_plot(quick_curves(), "deletion", tmp_path / "c.png", controls={"random", "sobel"})
    (fig,) = drawn
    (legend,) = fig.findobj(Legend)
    names = [t.get_text() for t in legend.get_texts()]
    assert names[-2:] == ["random (control)", "sobel (control)"] and len(names) == 13
    renderer = fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)
    for ax in fig.axes:
        grey = [line for line in ax.get_lines() if to_rgba(line.get_color()) == GREY]
        assert len(grey) == 2 and all(line.get_linestyle() != "-" for line in grey)
        looks = [
            (to_rgba(line.get_color()), line.get_linestyle(), line.get_marker())
            for line in ax.get_lines()
            if to_rgba(line.get_color()) != GREY
        ]
        assert len(set(looks)) == len(looks) == 11  # each method its own look
        assert len({c for c, _, _ in looks}) == 10  # 10 hues, one twice (dashed, other marker)


def test_curves_of_many_methods_split_into_the_best_and_the_others(drawn, tmp_path):
    """11 methods in a panel are a tangle: with their order on the metric, each (dataset,
    model) gets the best 4 in one panel and the other 7 in a second, both with the controls and
    on one y scale; a (dataset, model) of few methods keeps one panel."""
    curves = quick_curves() | {("wine", "mlp"): {m: curves_of() for m in ["a", "b", "random"]}}
    best = QUICK_METHODS[::-1]  # vargrad best, feature_correlation last
    order = {g: best for g in QUICK_GROUPS} | {("wine", "mlp"): ["b", "a"]}
    plots.curves_plot(
        curves, "deletion", tmp_path / "c.png", controls={"random", "sobel"}, order=order
    )
    (fig,) = drawn
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["breast_cancer / linear: best 4", "breast_cancer / linear: other 7"]
    assert titles[-1] == "wine / mlp" and len(titles) == 2 * len(QUICK_GROUPS) + 1
    legend_names = [t.get_text() for t in fig.findobj(Legend)[0].get_texts()]
    top, rest = fig.axes[:2]
    assert len(top.get_lines()) == 4 + 2 and len(rest.get_lines()) == 7 + 2  # + the controls
    assert top.get_ylim() == rest.get_ylim()
    assert len(legend_names) == 11 + 2 + 2  # every method once, the controls last
    assert legend_names[-2:] == ["random (control)", "sobel (control)"]
    assert len(fig.axes[-1].get_lines()) == 3


def test_curves_plot_ignores_nan_rows(tmp_path):
    with_nan = curves_of()
    with_nan[0, 3] = np.nan
    curves = {
        ("digits", "cnn"): {"saliency": curves_of(), "random": with_nan},
        ("digits", "linear"): {"saliency": curves_of(1), "random": np.full((4, 11), np.nan)},
        ("wine", "mlp"): {"saliency": curves_of(5, 4)},
    }
    out = tmp_path / "curves" / "deletion.png"
    assert_png(plots.curves_plot(curves, "deletion", out), out)


@pytest.mark.parametrize(
    "metric, label",
    [
        ("deletion", "fraction of features removed"),
        ("insertion", "fraction of features inserted"),
        ("irof", "fraction of features perturbed"),
    ],
)
def test_curves_x_label_follows_the_metric(metric, label):
    assert plots._curve_xlabel(metric) == label


EMPTY = {
    "rank_heatmap": lambda p: plots.rank_heatmap(pd.DataFrame(columns=["method", "rank"]), p),
    "rank_heatmap_no_ranks": lambda p: plots.rank_heatmap(
        pd.DataFrame({"method": ["a"], "metric": ["m"], "rank": [np.nan]}), p
    ),
    "leaderboard_plot": lambda p: plots.leaderboard_plot(pd.DataFrame(), p),
    "agreement_heatmap": lambda p: plots.agreement_heatmap(pd.DataFrame(), p),
    "curves_plot": lambda p: plots.curves_plot({}, "deletion", p),
    "curves_plot_all_nan": lambda p: plots.curves_plot(
        {("d", "m"): {"a": np.full((3, 5), np.nan), "b": np.zeros((0, 5))}}, "insertion", p
    ),
}


@pytest.mark.parametrize("name", list(EMPTY))
def test_empty_input_returns_none_and_writes_nothing(name, tmp_path):
    out = tmp_path / "sub" / "empty.png"
    assert EMPTY[name](out) is None
    assert not out.exists()


def test_annotate_writes_each_finite_cell_once_in_its_colour():
    fig, ax = plt.subplots()
    values = np.array([[1.0, np.nan], [3.0, 4.0]])
    plots._annotate(ax, values, lambda v: f"{v:.0f}", lambda v: v > 2, fontsize=8)
    colours = {tuple(c.get_facecolor()[0]): c.get_offsets().tolist() for c in ax.collections}
    plt.close(fig)
    assert colours == {(1.0, 1.0, 1.0, 1.0): [[0, 1], [1, 1]], (0.0, 0.0, 0.0, 1.0): [[0, 0]]}


@pytest.mark.parametrize(
    "values, limits, labels, offset",
    [
        ([0.0, 10.0], (-0.5, 10.5), ["0", "4", "8"], ""),
        ([1e-4, 5e-4, np.nan], (8e-5, 5.2e-4), ["1.5", "3.0", "4.5"], "1e−4"),
        ([3.0, 3.0], (2.835, 3.165), ["2.85", "3.00", "3.15"], ""),
    ],
)
def test_leaderboard_axis_scale_is_matplotlibs_with_the_power_of_ten_aside(
    values, limits, labels, offset
):
    low, high, ticks, got, power = plots._scale(np.array(values))
    np.testing.assert_allclose((low, high), limits, rtol=1e-12)
    assert got == labels and power == offset
    assert ((ticks >= low) & (ticks <= high)).all()


@pytest.mark.parametrize(
    "seconds, text",
    [(2.0, "2 s"), (0.0015, "1.5 ms"), (2e-5, "20 µs"), (1e-3, "1 ms"), (3e-9, "3 ns"), (0, "0")],
)
def test_durations_carry_their_unit(seconds, text):
    assert _figures.seconds(seconds) == text


def test_pngs_have_a_palette_and_a_white_page(tmp_path):
    """256 colours (a third of the bytes of true colour) and the page's own white."""
    path = plots.leaderboard_plot(one_metric(), tmp_path / "b.png")
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.convert("RGB").getpixel((2, 2)) == (255, 255, 255)


@pytest.mark.parametrize("hlines", [[], [0.51]])
def test_place_labels_keeps_labels_off_points_labels_and_reference_lines(hlines):
    """Points packed in a row: every label clears the others, every marker and, when given, a
    reference line just above the points (where a label would go first)."""
    fig = Figure(figsize=(4, 3), dpi=_figures.DPI)
    ax = fig.add_axes((0.15, 0.15, 0.8, 0.8))
    ax.set(xlim=(0, 1), ylim=(0, 1))
    xy = np.c_[np.linspace(0.3, 0.5, 8), np.full(8, 0.5)]
    labels = _figures.place_labels(
        ax, xy, [f"method_{i}" for i in range(8)], hlines=hlines, fontsize=8
    )
    _figures._render(fig, _figures.DPI)
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(t, renderer) for t in labels]
    marks = ax.transData.transform(xy)
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])
        assert not any(box.contains(x, y) for x, y in marks)
        assert ax.get_window_extent(renderer).contains(box.x0, box.y0)
        for y in hlines:
            assert not box.y0 < ax.transData.transform((0, y))[1] < box.y1
