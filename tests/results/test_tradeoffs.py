"""Tradeoff tables, Pareto fronts, summary statistics and plots on hand-made leaderboards."""

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text
from scipy import stats

from xaibench.results import _figures
from xaibench.results.tradeoffs import (
    TABLE_COLUMNS,
    accuracy_vs_simplicity,
    control_mask,
    faithfulness_score,
    interpretability_vs_performance,
    pareto_front,
    tradeoff_plots,
    tradeoff_summary,
    tradeoffs_table,
)

HIGHER = {
    "deletion": False,
    "insertion": True,
    "faithfulness_correlation": True,
    "sparseness": True,
    "complexity": False,
    "runtime": False,
}
CATEGORY = {
    "deletion": "faithfulness",
    "insertion": "faithfulness",
    "faithfulness_correlation": "faithfulness",
    "sparseness": "complexity",
    "complexity": "complexity",
    "runtime": "cost",
}
TRADEOFF = {  # the built-in metrics' own tradeoff axes (checked against the registry below)
    "deletion": "faithfulness",
    "insertion": "faithfulness",
    "faithfulness_correlation": "faithfulness",
    "sparseness": "simplicity",
    "complexity": "simplicity",
    "runtime": None,
}


CONTROLS = {"random", "sobel"}  # the board's control column marks them, as Method.control does


def make_board(means: dict, higher: dict | None = None) -> pd.DataFrame:
    """A leaderboard from {(dataset, model, method, metric): mean} (CI and rank are not read)."""
    higher = {**HIGHER, **(higher or {})}
    rows = [
        {
            "dataset": d,
            "model": m,
            "method": method,
            "metric": metric,
            "category": CATEGORY[metric],
            "higher_is_better": higher[metric],
            "tradeoff": TRADEOFF[metric],
            "mean": value,
            "ci_low": value,
            "ci_high": value,
            "n": 8,
            "rank": 1,
            "control": method in CONTROLS,
        }
        for (d, m, method, metric), value in means.items()
    ]
    return pd.DataFrame(rows)


def make_models(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["dataset", "model", "accuracy", "params"])


def three_methods(higher: dict | None = None) -> pd.DataFrame:
    deletion = {"a": 0.1, "b": 0.3, "c": 0.5}
    insertion = {"a": 0.2, "b": 0.8, "c": 0.6}
    means = {("d", "m", k, "deletion"): v for k, v in deletion.items()}
    means |= {("d", "m", k, "insertion"): v for k, v in insertion.items()}
    return make_board(means, higher)


def full_board() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two datasets, several models, all metrics; values from a seeded generator."""
    rng = np.random.default_rng(0)
    means, models = {}, []
    for d, names in {"digits": ["linear", "mlp", "cnn"], "wine": ["linear", "mlp"]}.items():
        for m in names:
            models.append((d, m, rng.uniform(0.7, 1.0), int(rng.integers(100, 10_000))))
            for method in ["saliency", "integrated_gradients", "occlusion", "random"]:
                for metric in HIGHER:
                    means[(d, m, method, metric)] = rng.uniform(0.01, 1.0)
    return make_board(means), make_models(models)


@pytest.mark.parametrize(
    "points, maximise, expected",
    [
        (
            [[1, 1], [2, 0], [0, 2], [1, 1], [0.5, 0.5], [np.nan, 5], [1, 0], [2, 0]],
            [True, True],
            [True, True, True, True, False, False, False, True],
        ),
        ([[1, 0.2], [2, 0.5], [3, 0.4], [0.5, 0.1]], [False, True], [True, True, False, True]),
        ([[np.nan, np.nan], [0, 0]], [True, True], [False, True]),
        (np.empty((0, 2)), [True, False], []),
    ],
)
def test_pareto_front_matches_hand_determined_front(points, maximise, expected):
    np.testing.assert_array_equal(pareto_front(np.array(points), maximise), expected)


def test_pareto_front_rejects_mismatched_maximise():
    with pytest.raises(ValueError, match="maximise"):
        pareto_front(np.zeros((3, 2)), [True])


def test_faithfulness_normalisation_hand_computed():
    # deletion (lower better) 0.1, 0.3, 0.5 -> 1, 0.5, 0;  insertion 0.2, 0.8, 0.6 -> 0, 1, 2/3
    scores = faithfulness_score(three_methods()).set_index("method")
    np.testing.assert_allclose(scores.loc[["a", "b", "c"], "faithfulness"], [0.5, 0.75, 1 / 3])
    assert (scores["n_faithfulness"] == 2).all()
    assert scores["simplicity"].isna().all() and (scores["n_simplicity"] == 0).all()


def test_the_axes_are_the_metrics_tradeoff_column_unless_named():
    board = three_methods()
    # a metric that declares itself a faithfulness metric joins: insertion's values under a new name
    renamed = board[board.metric == "insertion"].assign(metric="my_faithfulness")
    joined = faithfulness_score(pd.concat([board[board.metric == "deletion"], renamed]))
    np.testing.assert_allclose(
        joined.set_index("method").loc[["a", "b", "c"], "faithfulness"], [0.5, 0.75, 1 / 3]
    )
    off = board.assign(tradeoff=np.where(board.metric == "insertion", None, board.tradeoff))
    only_deletion = faithfulness_score(off).set_index("method")
    np.testing.assert_allclose(only_deletion.loc[["a", "b", "c"], "faithfulness"], [1, 0.5, 0])
    with pytest.raises(ValueError, match="no tradeoff column.*faithfulness_metrics="):
        faithfulness_score(board.drop(columns="tradeoff"))
    named = faithfulness_score(
        board.drop(columns="tradeoff"), faithfulness_metrics=["deletion"], simplicity_metrics=[]
    )
    np.testing.assert_allclose(named.set_index("method")["faithfulness"], [1, 0.5, 0])


def test_faithfulness_orientation_follows_higher_is_better():
    # insertion declared lower-better: 0.2, 0.8, 0.6 -> 1, 0, 1/3
    scores = faithfulness_score(three_methods({"insertion": False})).set_index("method")
    np.testing.assert_allclose(scores.loc[["a", "b", "c"], "faithfulness"], [1, 0.25, 1 / 6])


def test_faithfulness_ties_missing_metrics_and_csv_booleans():
    board = three_methods()
    board.loc[board.metric == "insertion", "mean"] = 0.4  # all equal -> 0.5
    board = board[~((board.method == "c") & (board.metric == "deletion"))]  # c: insertion only
    board = board.assign(higher_is_better=board["higher_is_better"].astype(str))  # as from a CSV
    scores = faithfulness_score(board).set_index("method")
    # deletion over a, b only: a = 1, b = 0
    np.testing.assert_allclose(scores.loc[["a", "b", "c"], "faithfulness"], [0.75, 0.25, 0.5])
    np.testing.assert_array_equal(scores.loc[["a", "b", "c"], "n_faithfulness"], [2, 2, 1])


def test_simplicity_combines_sparseness_and_complexity():
    means = {("d", "m", "a", "sparseness"): 0.9, ("d", "m", "b", "sparseness"): 0.1}
    means |= {("d", "m", "a", "complexity"): 3.0, ("d", "m", "b", "complexity"): 1.0}
    scores = faithfulness_score(make_board(means)).set_index("method")
    np.testing.assert_allclose(scores.loc[["a", "b"], "simplicity"], [0.5, 0.5])
    assert scores["faithfulness"].isna().all()


def test_faithfulness_score_names_missing_columns():
    with pytest.raises(ValueError, match="higher_is_better"):
        faithfulness_score(three_methods().drop(columns="higher_is_better"))


def perf_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    insertion = {
        ("d", "m1", "a"): 0.6,
        ("d", "m1", "b"): 0.4,
        ("d", "m1", "random"): 0.9,
        ("d", "m2", "a"): 0.2,
        ("d", "m2", "b"): 0.3,
        ("d", "m2", "random"): 0.1,
        ("d", "m3", "a"): 0.1,
        ("e", "m1", "a"): 0.5,
    }
    board = make_board({(*k, "insertion"): v for k, v in insertion.items()})
    models = make_models(
        [("d", "m1", 0.9, 10), ("d", "m2", 0.8, 20), ("d", "m3", 0.95, 30), ("e", "m1", 0.7, 5)]
        + [("e", "untested", 0.99, 7)]
    )
    return board, models


def test_interpretability_vs_performance_cross_model_scale_and_pareto():
    board, models = perf_case()
    perf = interpretability_vs_performance(board, models).set_index(["dataset", "model"])
    # dataset d: min 0.1, max 0.9 over all (model, method) rows
    rows = [("d", "m1"), ("d", "m2"), ("d", "m3"), ("e", "m1")]
    np.testing.assert_allclose(perf.loc[rows, "faithfulness_best"], [0.625, 0.25, 0.0, 0.5])
    assert list(perf.loc[rows, "best_method"]) == ["a", "b", "a", "a"]  # random excluded
    np.testing.assert_allclose(perf.loc[rows, "faithfulness_mean"], [0.5, 0.1875, 0.0, 0.5])
    assert list(perf.loc[rows, "pareto"]) == [True, False, True, True]
    untested = perf.loc[("e", "untested")]
    assert np.isnan(untested["faithfulness_best"]) and not untested["pareto"]
    assert perf.loc[("d", "m2"), "params"] == 20


def test_interpretability_control_none_keeps_random():
    board, models = perf_case()
    perf = interpretability_vs_performance(board, models, control=None)
    row = perf[(perf.dataset == "d") & (perf.model == "m1")].iloc[0]
    assert row["best_method"] == "random" and row["faithfulness_best"] == 1.0


def test_accuracy_vs_simplicity_fronts():
    values = {  # method: (insertion, sparseness, runtime)
        "a": (0.9, 0.2, 1.0),
        "b": (0.5, 0.8, 0.1),
        "c": (0.4, 0.1, 0.5),
        "random": (0.1, 0.0, 0.01),
    }
    means = {}
    for method, (ins, sp, rt) in values.items():
        means |= {("d", "m", method, "insertion"): ins, ("d", "m", method, "sparseness"): sp}
        means[("d", "m", method, "runtime")] = rt
    table = accuracy_vs_simplicity(make_board(means)).set_index("method")
    assert list(table.columns) == [
        "dataset",
        "model",
        "faithfulness",
        "simplicity",
        "runtime",
        "pareto",
        "pareto_runtime",
    ]
    np.testing.assert_allclose(table.loc["b", "faithfulness"], 0.5)
    assert table["pareto"].to_dict() == {"a": True, "b": True, "c": False, "random": False}
    # random, the fastest, is a control: never on a front
    assert table["pareto_runtime"].to_dict() == {"a": True, "b": True, "c": False, "random": False}


def test_round_off_is_no_step_on_a_front():
    """digits/linear: three methods score 1.0 on faithfulness_correlation and occlusion
    0.9999999999999424; equal on the other axes, all four share the front (not three)."""
    means = {}
    for method, corr in {"g": 1.0, "ig": 1.0, "s": 1.0, "occlusion": 0.9999999999999424}.items():
        means |= {("d", "m", method, "faithfulness_correlation"): corr}
        means |= {("d", "m", method, "deletion"): 0.05, ("d", "m", method, "sparseness"): 0.6}
        means[("d", "m", method, "runtime")] = 1e-3
    means |= {("d", "m", "w", "faithfulness_correlation"): 0.2, ("d", "m", "w", "deletion"): 0.3}
    means |= {("d", "m", "w", "sparseness"): 0.6, ("d", "m", "w", "runtime"): 1e-3}
    table = accuracy_vs_simplicity(make_board(means)).set_index("method")
    assert table.loc["occlusion", "faithfulness"] == 1.0
    expected = {"g": True, "ig": True, "occlusion": True, "s": True, "w": False}
    assert table["pareto"].to_dict() == expected
    assert table["pareto_runtime"].to_dict() == expected
    # and a step of round-off between two points is no step in pareto_front itself
    points = np.array([[0.5, 1.0], [0.5 + 1e-12, 1.0 - 1e-12]])
    assert pareto_front(points, [True, True], tol=2.0**-15).tolist() == [True, True]


def controls_case() -> pd.DataFrame:
    values = {  # method: (insertion, runtime); random is faster and more faithful than c
        "a": (0.9, 1.0),
        "b": (0.5, 0.1),
        "c": (0.4, 0.05),
        "random": (0.45, 0.01),
        "sobel": (1.0, 0.001),  # would dominate every method
    }
    means = {}
    for method, (ins, rt) in values.items():
        means |= {("d", "m", method, "insertion"): ins, ("d", "m", method, "runtime"): rt}
        means[("d", "m", method, "sparseness")] = ins
    return make_board(means)


def test_controls_are_never_on_a_front_and_push_no_method_off_it():
    table = accuracy_vs_simplicity(controls_case()).set_index("method")
    expected = {"a": True, "b": True, "c": True, "random": False, "sobel": False}
    assert table["pareto_runtime"].to_dict() == expected
    assert table["pareto"].to_dict() == {**expected, "b": False, "c": False}  # a dominates
    both = tradeoffs_table(controls_case(), make_models([("d", "m", 0.9, 10)]))
    methods = both[both.tradeoff == "accuracy_vs_simplicity"].set_index("method")
    assert methods["pareto_runtime"].to_dict() == expected


def test_controls_read_from_a_csv_and_without_the_column(tmp_path):
    board = controls_case()
    board.to_csv(tmp_path / "b.csv", index=False)
    from_csv = accuracy_vs_simplicity(pd.read_csv(tmp_path / "b.csv")).set_index("method")
    assert not from_csv.loc[["random", "sobel"], "pareto_runtime"].any()
    assert list(control_mask(pd.read_csv(tmp_path / "b.csv"))) == list(board["control"])
    without = accuracy_vs_simplicity(board.drop(columns="control")).set_index("method")
    assert without["pareto_runtime"].to_dict() == {  # no column: no control, sobel wins
        "a": False,
        "b": False,
        "c": False,
        "random": False,
        "sobel": True,
    }


def test_summary_matches_scipy():
    board, models = full_board()
    summary = tradeoff_summary(board, models).set_index("relationship")
    perf = interpretability_vs_performance(board, models)
    methods = accuracy_vs_simplicity(board)
    methods = methods[methods.method != "random"]
    cases = {
        "accuracy_vs_faithfulness": (perf["accuracy"], perf["faithfulness_best"]),
        "params_vs_faithfulness": (perf["params"].astype(float), perf["faithfulness_best"]),
        "faithfulness_vs_simplicity": (methods["faithfulness"], methods["simplicity"]),
        "faithfulness_vs_runtime": (methods["faithfulness"], methods["runtime"]),
    }
    for name, (x, y) in cases.items():
        expected = stats.spearmanr(x, y)
        row = summary.loc[name]
        assert row["n"] == len(x)
        np.testing.assert_allclose([row["rho"], row["p_value"]], [expected[0], expected[1]])


def test_summary_is_nan_below_three_points_or_constant():
    board, models = perf_case()
    two = board[(board.dataset == "d") & board.model.isin(["m1", "m2"])]
    summary = tradeoff_summary(two, models[models.model.isin(["m1", "m2"])])
    row = summary.set_index("relationship").loc["accuracy_vs_faithfulness"]
    assert row["n"] == 2 and np.isnan(row["rho"]) and np.isnan(row["p_value"])
    constant = make_models([("d", m, 0.9, 10) for m in ["m1", "m2", "m3"]])
    row = tradeoff_summary(board, constant).set_index("relationship").loc["params_vs_faithfulness"]
    assert row["n"] == 3 and np.isnan(row["rho"])
    assert list(summary.columns) == ["relationship", "x", "y", "n", "rho", "p_value"]


def test_tradeoffs_table_is_long_union_and_round_trips_csv(tmp_path):
    board, models = full_board()
    table = tradeoffs_table(board, models)
    assert list(table.columns) == TABLE_COLUMNS
    perf = table[table.tradeoff == "interpretability_vs_performance"]
    methods = table[table.tradeoff == "accuracy_vs_simplicity"]
    assert len(perf) == 5 and len(methods) == 20
    assert (perf["method"] == "").all() and perf["pareto_runtime"].isna().all()
    assert methods["accuracy"].isna().all() and methods["pareto_runtime"].notna().all()
    table.to_csv(tmp_path / "tradeoffs.csv", index=False)
    back = pd.read_csv(tmp_path / "tradeoffs.csv")
    assert list(back.columns) == TABLE_COLUMNS and len(back) == len(table)


def assert_png(path):
    assert path.exists() and path.stat().st_size > 0
    assert matplotlib.image.imread(path).ndim == 3


def test_plots_written_as_valid_pngs(tmp_path):
    board, models = full_board()
    paths = tradeoff_plots(board, models, tmp_path / "plots")
    names = ["tradeoff_performance.png", "tradeoff_simplicity.png", "tradeoff_runtime.png"]
    assert [p.name for p in paths] == names
    for p in paths:
        assert_png(p)
    assert plt.get_fignums() == []


@pytest.mark.parametrize(
    "dropped, expected",
    [
        (["runtime"], ["tradeoff_performance.png", "tradeoff_simplicity.png"]),
        (["sparseness", "complexity", "runtime"], ["tradeoff_performance.png"]),
        (["deletion", "insertion", "faithfulness_correlation"], []),
    ],
)
def test_plots_skip_missing_metrics(tmp_path, dropped, expected):
    board, models = full_board()
    paths = tradeoff_plots(board[~board.metric.isin(dropped)], models, tmp_path)
    assert [p.name for p in paths] == expected
    for p in paths:
        assert_png(p)
    assert plt.get_fignums() == []


def test_plots_without_models_or_rows(tmp_path):
    board, _ = full_board()
    no_models = make_models([])
    paths = tradeoff_plots(board, no_models, tmp_path)
    assert [p.name for p in paths] == ["tradeoff_simplicity.png", "tradeoff_runtime.png"]
    assert tradeoff_plots(board.iloc[:0], no_models, tmp_path / "empty") == []
    assert plt.get_fignums() == []


@pytest.fixture
def drawn(monkeypatch):
    """The figures the figure functions draw and save, by title (after drawing)."""
    figures = {}
    render = _figures._render

    def recording(fig, dpi):
        pixels = render(fig, dpi)
        figures[fig.get_suptitle().split("\n")[0]] = fig
        return pixels

    monkeypatch.setattr(_figures, "_render", recording)
    return figures


def crowded_board() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two panels whose Pareto fronts are ten methods with long names packed in a corner (a
    label beside each point would cover its neighbours'), and two controls."""
    means = {}
    for m in ("cnn", "mlp"):
        for i in range(10):
            method = f"attribution_method_{i}"
            means[("d", m, method, "insertion")] = 0.9 + 0.01 * i
            means[("d", m, method, "sparseness")] = 0.99 - 0.01 * i
            means[("d", m, method, "runtime")] = 1e-4 * (1 + 0.1 * i)
        for j, control in enumerate(["random", "sobel"]):
            means |= {("d", m, control, "insertion"): 0.1 * j, ("d", m, control, "runtime"): 1e-5}
            means[("d", m, control, "sparseness")] = 0.2
    return make_board(means), make_models([("d", "cnn", 0.9, 100), ("d", "mlp", 0.8, 50)])


def labels_of(fig) -> list:
    return [t for t in fig.findobj(Text) if t.get_gid() == _figures.LABEL_GID]


@pytest.mark.parametrize("what", ["simplicity", "runtime"])
def test_pareto_labels_do_not_overlap(what, drawn, tmp_path):
    tradeoff_plots(*crowded_board(), tmp_path)
    fig = drawn[f"Faithfulness vs {what}"]
    renderer = fig.canvas.get_renderer()
    labels = labels_of(fig)
    names = sorted(t.get_text() for t in labels)
    front = [f"attribution_method_{i}" for i in range(10)]
    assert names == sorted(2 * (front + ["random", "sobel"]))  # two panels
    for ax in fig.axes:
        mine = [t for t in labels if t.axes is ax]
        boxes = [Text.get_window_extent(t, renderer) for t in mine]  # the text, not its leader
        frame = ax.get_window_extent(renderer)
        for i, box in enumerate(boxes):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1, mine[i].get_text()
            assert frame.y0 <= box.y0 and box.y1 <= frame.y1, mine[i].get_text()
            assert not any(box.overlaps(other) for other in boxes[i + 1 :]), mine[i].get_text()
    assert _figures.page_problems(fig) == []


def test_controls_are_grey_references_never_ringed(drawn, tmp_path):
    tradeoff_plots(*crowded_board(), tmp_path)
    fig = drawn["Faithfulness vs runtime"]
    ax = fig.axes[0]
    faithfulness = accuracy_vs_simplicity(crowded_board()[0]).set_index(["model", "method"])
    levels = sorted(faithfulness.loc[("cnn", c), "faithfulness"] for c in ("random", "sobel"))
    grey = [line for line in ax.get_lines() if line.get_color() == _figures.CONTROL_COLOR]
    assert sorted(line.get_ydata()[0] for line in grey) == levels  # one dashed line each
    assert all(line.get_linestyle() == "--" for line in grey)
    rings = [c for c in ax.collections if np.allclose(c.get_edgecolor()[:, :3], to_rgb("tab:red"))]
    ringed = np.vstack([c.get_offsets() for c in rings])
    assert len(ringed) == 10 and not np.isclose(ringed[:, 0], 1e-5).any()  # no control ringed
    renderer = fig.canvas.get_renderer()
    for label in (t for t in labels_of(fig) if t.axes is ax):  # no label on a reference line
        box = Text.get_window_extent(label, renderer)
        for line in grey:
            y = ax.transData.transform((1e-5, line.get_ydata()[0]))[1]
            assert not box.y0 < y < box.y1, label.get_text()
    controls = [t for t in labels_of(fig) if t.get_text() in ("random", "sobel")]
    assert {(t.get_color(), t.get_style()) for t in controls} == {
        (_figures.CONTROL_COLOR, "italic")
    }


def test_runtime_axis_has_units(drawn, tmp_path):
    tradeoff_plots(*crowded_board(), tmp_path)
    ax = drawn["Faithfulness vs runtime"].axes[0]
    assert ax.get_xlabel() == "runtime per sample (log scale)"
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all(t.endswith((" µs", " ms", " s")) for t in ticks)


def test_every_tradeoff_figure_fits_the_page(drawn, tmp_path):
    board, models = full_board()
    paths = tradeoff_plots(board, models, tmp_path)
    assert len(drawn) == len(paths) == 3
    for fig in drawn.values():
        assert _figures.page_problems(fig) == [], fig.get_suptitle()


@pytest.mark.parametrize("what", ["simplicity", "runtime"])
def test_one_panel_cuts_neither_its_legend_nor_the_line_above_it(what, drawn, tmp_path):
    board, models = crowded_board()
    tradeoff_plots(board[board.model == "cnn"], models, tmp_path)
    fig = drawn[f"Faithfulness vs {what}"]
    renderer = fig.canvas.get_renderer()
    page = fig.bbox
    (legend,) = fig.legends
    texts = [legend.get_title(), *legend.get_texts(), fig._suptitle]
    assert "Spearman" in legend.get_title().get_text()
    for t in texts:
        box = t.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1, t.get_text()
    assert _figures.page_problems(fig) == []
