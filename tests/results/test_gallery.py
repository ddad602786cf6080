"""The saliency gallery and the model inspection: PNGs for images and tabular data, method
names legible over narrow columns, the controls last and grey, shapes checked, None when there
is nothing to draw. (Every figure's page rule is checked in test_plots.py.)"""

import numpy as np
import pytest
from _figures_cases import assert_png
from matplotlib.text import Text

from xaibench.results import _figures, gallery

RNG = np.random.default_rng(0)


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
    written = gallery.gallery_plot(
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
    assert_png(gallery.gallery_plot(x, {"saliency": x}, out, title="t"), out)


def test_gallery_plot_rejects_mismatched_attributions(tmp_path):
    with pytest.raises(ValueError, match="saliency"):
        gallery.gallery_plot(
            np.zeros((2, 8, 8, 1)), {"saliency": np.zeros((2, 7, 8))}, tmp_path / "x.png", title="t"
        )


def names_over_columns(fig) -> list[Text]:
    """The column names of an image gallery, left to right (the texts over the mosaic)."""
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_rotation() != 90 and t.xy[1] < 0]
    return sorted(texts, key=lambda t: t.xy[0])


METHODS = ["random", "integrated_gradients", "saliency", "sobel", "guided_backprop"]


def test_gallery_puts_the_controls_last_in_grey(drawn, tmp_path):
    x = RNG.uniform(size=(2, 8, 8, 1))
    maps = {m: RNG.normal(size=(2, 8, 8)) for m in METHODS}
    gallery.gallery_plot(x, maps, tmp_path / "g.png", title="t", controls={"random", "sobel"})
    names = names_over_columns(drawn[0])
    shown = [t.get_text().replace("\n", "") for t in names]
    assert shown == ["input", "integrated_gradients", "saliency", "guided_backprop"] + [
        "random",
        "sobel",
    ]
    grey = [t.get_text() for t in names if t.get_color() == _figures.CONTROL_COLOR]
    assert grey == ["random", "sobel"] and names[-1].get_style() == "italic"


def test_gallery_tabular_greys_the_controls(drawn, tmp_path):
    x = RNG.normal(size=(2, 6))
    maps = {m: RNG.normal(size=(2, 6)) for m in METHODS}
    gallery.gallery_plot(x, maps, tmp_path / "g.png", title="t", controls={"sobel"})
    labels = drawn[0].axes[0].get_yticklabels()
    assert [t.get_text() for t in labels][-1] == "sobel"
    assert [t.get_text() for t in labels if t.get_color() == _figures.CONTROL_COLOR] == ["sobel"]


@pytest.mark.parametrize("n_methods, slanted", [(11, False), (30, True)])
def test_gallery_names_fit_their_columns(n_methods, slanted, drawn, tmp_path):
    """Long names are wrapped at "_" over their column, slanted when even that is too wide;
    the mosaic stays within the page."""
    x = RNG.uniform(size=(3, 8, 8, 1))
    maps = {f"integrated_gradients_{i}": RNG.normal(size=(3, 8, 8)) for i in range(n_methods)}
    gallery.gallery_plot(x, maps, tmp_path / "g.png", title="t")
    (fig,) = drawn
    names = names_over_columns(fig)[1:]
    assert len(names) == n_methods
    assert all((t.get_rotation() != 0) == slanted for t in names)
    assert all(("\n" in t.get_text()) != slanted for t in names)
    assert _figures.page_problems(fig) == []


def test_gallery_row_labels_turn_across_when_longer_than_a_tile(drawn, tmp_path):
    x = RNG.uniform(size=(2, 8, 8, 1))
    names = ["benign tumour", "malignant tumour"]
    for n_methods in (2, 30):
        maps = {f"m{i}": RNG.normal(size=(2, 8, 8)) for i in range(n_methods)}
        gallery.gallery_plot(
            x, maps, tmp_path / "g.png", title="t", targets=[0, 1], class_names=names
        )
    rows = [[t for t in fig.axes[0].texts if t.get_text() in names] for fig in drawn]
    assert [t.get_rotation() for t in rows[0]] == [90, 90]  # big tiles: along their side
    assert [t.get_rotation() for t in rows[1]] == [0, 0]  # small tiles: across, to the left
    assert all(_figures.page_problems(fig) == [] for fig in drawn)


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
    written = gallery.inspection_plot(
        out, input=x, filters=filters, activations=activations, title="first layer"
    )
    assert_png(written, out)


@pytest.mark.parametrize("max_maps", [16, 100])
def test_inspection_mosaics_shrink_to_the_page(max_maps, drawn, tmp_path):
    gallery.inspection_plot(
        tmp_path / "i.png",
        input=RNG.random((32, 32, 3)),
        filters=RNG.normal(size=(3, 3, 3, 128)),
        activations=RNG.random((30, 30, 128)),
        title="first layer",
        max_maps=max_maps,
    )
    (fig,) = drawn
    assert fig.get_figwidth() <= _figures.MAX_WIDTH
    assert _figures.page_problems(fig) == []


@pytest.mark.parametrize(
    "filters, activations",
    [(np.zeros((3, 3, 1, 4)), np.zeros((6, 6, 5))), (np.zeros((64, 4)), np.zeros(5))],
)
def test_inspection_plot_rejects_mismatched_shapes(filters, activations, tmp_path):
    with pytest.raises(ValueError, match="activations"):
        gallery.inspection_plot(
            tmp_path / "x.png",
            input=np.zeros((8, 8, 1)),
            filters=filters,
            activations=activations,
            title="t",
        )


EMPTY = {
    "gallery_no_inputs": lambda p: gallery.gallery_plot(
        np.zeros((0, 8, 8, 1)), {"a": np.zeros((0, 8, 8))}, p, title="t"
    ),
    "gallery_no_methods": lambda p: gallery.gallery_plot(np.zeros((2, 5)), {}, p, title="t"),
    "inspection": lambda p: gallery.inspection_plot(
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
