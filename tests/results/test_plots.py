"""The plots write legible PNGs, return None on empty input and leave no figure open."""

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from xaibench.results import plots

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    assert plt.get_fignums() == []


def assert_png(path, expected):
    assert path == expected and path.exists() and path.stat().st_size > 1000
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert 150 <= img.shape[0] <= 2500 and 150 <= img.shape[1] <= 2500


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


def test_agreement_heatmap_with_nan(tmp_path):
    names = ["deletion", "insertion", "sparseness", "runtime"]
    rho = pd.DataFrame(np.corrcoef(RNG.normal(size=(4, 6))), index=names, columns=names)
    rho.iloc[0, 3] = rho.iloc[3, 0] = np.nan
    out = tmp_path / "agreement.png"
    assert_png(plots.agreement_heatmap(rho, out, title="agreement"), out)


def test_agreement_heatmap_rejects_a_non_square_matrix(tmp_path):
    with pytest.raises(ValueError, match="square"):
        plots.agreement_heatmap(pd.DataFrame(np.zeros((2, 3))), tmp_path / "x.png")


def curves_of(n=8, steps=10):
    decay = 1 - np.linspace(0, 1, steps + 1)
    return decay * RNG.uniform(0.5, 1.0, size=(n, 1))


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


@pytest.mark.parametrize("shape", [(4, 8, 8, 1), (3, 12, 12, 3), (5, 13)])
@pytest.mark.parametrize("with_channels", [False, True])
def test_gallery_plot_images_and_tabular(shape, with_channels, tmp_path):
    x = RNG.uniform(-0.2, 1.2, size=shape)  # images are clipped to [0, 1] for display
    a_shape = shape if with_channels or len(shape) == 2 else shape[:3]
    attributions = {
        "saliency": np.abs(RNG.normal(size=a_shape)),
        "integrated_gradients": RNG.normal(size=a_shape),
        "random": np.zeros(a_shape),
    }
    attributions["random"].flat[0] = np.nan
    targets = np.arange(shape[0]) % 2
    names = [f"f{i}" for i in range(shape[1])] if len(shape) == 2 else None
    out = tmp_path / "gallery.png"
    written = plots.gallery_plot(
        x,
        attributions,
        out,
        title="gallery",
        targets=targets,
        class_names=["cat", "dog"],
        feature_names=names,
    )
    assert_png(written, out)


def test_gallery_plot_without_targets_and_with_many_features(tmp_path):
    out = tmp_path / "gallery.png"
    x = RNG.normal(size=(2, 60))
    assert_png(plots.gallery_plot(x, {"saliency": x}, out, title="t"), out)


def test_gallery_plot_rejects_mismatched_attributions(tmp_path):
    with pytest.raises(ValueError, match="saliency"):
        plots.gallery_plot(
            np.zeros((2, 8, 8, 1)), {"saliency": np.zeros((2, 7, 8))}, tmp_path / "x.png", title="t"
        )


@pytest.mark.parametrize(
    "x, filters, activations",
    [
        (RNG.random((8, 8, 1)), RNG.normal(size=(3, 3, 1, 32)), RNG.random((6, 6, 32))),
        (RNG.random((1, 16, 16, 3)), RNG.normal(size=(5, 5, 3, 6)), RNG.random((1, 12, 12, 6))),
        (RNG.random((8, 8, 1)), RNG.normal(size=(64, 20)), RNG.random(20)),
        (RNG.random((6, 6, 3)), RNG.normal(size=(108, 4)), RNG.random((1, 4))),
        (RNG.random(13), RNG.normal(size=(13, 32)), RNG.random(32)),
    ],
    ids=["conv-gray", "conv-rgb", "dense-gray", "dense-rgb", "dense-tabular"],
)
def test_inspection_plot(x, filters, activations, tmp_path):
    out = tmp_path / "inspection.png"
    written = plots.inspection_plot(
        out, input=x, filters=filters, activations=activations, title="first layer"
    )
    assert_png(written, out)


@pytest.mark.parametrize(
    "filters, activations",
    [(np.zeros((3, 3, 1, 4)), np.zeros((6, 6, 5))), (np.zeros((64, 4)), np.zeros(5))],
)
def test_inspection_plot_rejects_mismatched_shapes(filters, activations, tmp_path):
    with pytest.raises(ValueError, match="activations"):
        plots.inspection_plot(
            tmp_path / "x.png",
            input=np.zeros((8, 8, 1)),
            filters=filters,
            activations=activations,
            title="t",
        )


EMPTY = {
    "rank_heatmap": lambda p: plots.rank_heatmap(pd.DataFrame(columns=["method", "rank"]), p),
    "agreement_heatmap": lambda p: plots.agreement_heatmap(pd.DataFrame(), p),
    "curves_plot": lambda p: plots.curves_plot({}, "deletion", p),
    "curves_plot_all_nan": lambda p: plots.curves_plot(
        {("d", "m"): {"a": np.full((3, 5), np.nan), "b": np.zeros((0, 5))}}, "insertion", p
    ),
    "gallery_no_inputs": lambda p: plots.gallery_plot(
        np.zeros((0, 8, 8, 1)), {"a": np.zeros((0, 8, 8))}, p, title="t"
    ),
    "gallery_no_methods": lambda p: plots.gallery_plot(np.zeros((2, 5)), {}, p, title="t"),
    "inspection": lambda p: plots.inspection_plot(
        p,
        input=np.zeros((8, 8, 1)),
        filters=np.zeros((3, 3, 1, 0)),
        activations=np.zeros((6, 6, 0)),
        title="t",
    ),
}


@pytest.mark.parametrize("name", list(EMPTY))
def test_empty_input_returns_none_and_writes_nothing(name, tmp_path):
    out = tmp_path / "sub" / "empty.png"
    assert EMPTY[name](out) is None
    assert not out.exists()


def test_leaderboard_plot_draws_a_method_without_finite_scores(board, tmp_path):
    # e.g. vargrad of a linear model: zero maps, every correlation NaN, so no mean and no rank
    b = board.assign(ci_low=0.4, ci_high=0.6)
    b.loc[b["rank"].isna(), ["mean", "ci_low", "ci_high"]] = np.nan
    path = tmp_path / "leaderboard.png"
    assert_png(plots.leaderboard_plot(b, path), path)


def big_board(n_groups=6, n_metrics=17, n_methods=14):
    """A quick-suite sized leaderboard: long method and metric names, a metric without scores."""
    rows = [
        {
            "dataset": f"dataset_{g}",
            "model": "model",
            "method": f"attribution_method_{m:02d}",
            "metric": f"faithfulness_metric_{k:02d}",
            "higher_is_better": k % 2 == 0,
            "mean": np.nan if k == 0 and g == 0 else 10.0**-k * (m + 1),
            "ci_low": 10.0**-k * m,
            "ci_high": 10.0**-k * (m + 2),
            "rank": n_methods - m,
        }
        for g in range(n_groups)
        for k in range(n_metrics)
        for m in range(n_methods)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("plot", [plots.leaderboard_plot, plots.rank_heatmap])
def test_big_grids_fit_in_2000_pixels(plot, tmp_path):
    path = tmp_path / "big.png"
    assert plot(big_board(), path) == path
    height, width = mpimg.imread(path).shape[:2]
    assert 1500 <= max(height, width) <= 2000 and min(height, width) >= 1000


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
