"""Run configs giving settings to zoo models through ``[params.NAME]`` (``RunConfig.validate``,
``with_overrides``, ``architecture``), and the model settings a resumed run predicts from them
without loading the model (``plan.expected_model_settings``). Nothing here trains a model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import xaibench as xb
from xaibench._tf import keras
from xaibench.benchmark.config import RunConfig, load_config
from xaibench.benchmark.plan import expected_model_settings
from xaibench.cli import main
from xaibench.models import applications, training
from xaibench.models.zoo import registry

SHAPE = (32, 32, 3)  # the smallest images keras.applications builds MobileNetV2 for


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """Backbone weights of a MobileNetV2 of width 0.35 for 32x32 images, as ``save_weights``
    writes them (the file a user gives as ``weights = "..."``)."""
    path = tmp_path_factory.mktemp("weights") / "mnv2.weights.h5"
    net = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=SHAPE, alpha=0.35
    )
    net.save_weights(path)
    return path


@pytest.fixture(scope="module")
def images():
    """Eight 32x32 RGB images in two classes: settings are computed from the training split,
    never trained on here."""
    x = np.random.default_rng(0).integers(0, 256, (8, *SHAPE), dtype=np.uint8)
    return xb.datasets.from_arrays(x, [0, 1] * 4, name="tiny32")


def grid(**changes) -> RunConfig:
    """A small run on shapes (32x32 images) with a zoo model and an application."""
    base = RunConfig(
        datasets=("shapes",),
        models=("cnn", "mobilenet_v2"),
        methods=("saliency",),
        metrics=("sparseness",),
    )
    return replace(base, **changes)


# the settings a resumed run predicts -------------------------------------------------------------


@pytest.mark.parametrize(
    "name, params, cache_settings",
    [
        ("cnn", {}, {}),
        ("mobilenet_v2", {}, {"backbone_weights": "none", "alpha": 0.35}),
        ("mobilenet_v2", {"alpha": 0.5}, {"backbone_weights": "none", "alpha": 0.5}),
        ("mobilenet_v2", {"weights": "FILE", "alpha": 0.35}, {"alpha": 0.35}),
    ],
)
def test_expected_model_settings_are_those_the_model_cache_keys_on(
    images, weights_file, name, params, cache_settings
):
    """The rerun's prediction is ``training.model_settings`` of the architecture the run builds
    from ``[params]``: with an application's weights source and width, which a name alone lacks
    (its cells would otherwise never be recognised without loading the model)."""
    params = {k: str(weights_file) if v == "FILE" else v for k, v in params.items()}
    config = grid(params={name: params} if params else {}).validate()
    arch = config.architecture(name)
    expected = expected_model_settings(arch, images)
    assert expected == training.model_settings(registry.get(name, **params), images, 0)
    assert expected["model"] == name and expected["seed"] == 0
    if "weights" in params:  # the file by its content
        source = "sha256:" + applications.file_sha256(weights_file)
        cache_settings = {"backbone_weights": source, **cache_settings}
    assert {k: v for k, v in expected.items() if k in ("backbone_weights", "alpha")} == (
        cache_settings
    )
    if name == "cnn":
        assert expected == expected_model_settings("cnn", images)  # a name is enough here


def test_the_weights_source_is_part_of_the_settings(images, weights_file):
    """Another weights source is another model: other settings and another cache file."""
    scratch = grid(params={"mobilenet_v2": {"alpha": 0.35}}).validate()
    loaded = grid(params={"mobilenet_v2": {"weights": str(weights_file), "alpha": 0.35}})
    a, b = (c.validate().architecture("mobilenet_v2") for c in (scratch, loaded))
    assert expected_model_settings(a, images) != expected_model_settings(b, images)
    assert training.cache_path(a, images) != training.cache_path(b, images)
    assert b.weights == str(weights_file) and b.max_epochs == applications.HEAD_EPOCHS


# validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"mobilenet_v2": {"alfa": 0.5}}, "unknown parameter 'alfa' for model 'mobilenet_v2'"),
        ({"cnn": {"units": 8}}, "unknown parameter 'units' for model 'cnn'"),
        (
            {"mobilenet_v2": {"weights": "/no/such/mnv2.weights.h5"}},
            "model 'mobilenet_v2': weights file '/no/such/mnv2.weights.h5' does not exist",
        ),
        (
            {"mobilenet_v2": {"weights": "mnv2.pt"}},
            "weights file 'mnv2.pt' must be a .h5 or .weights.h5 file",
        ),
        ({"mobilenet_v2": {"alpha": -1}}, "alpha must be a positive number, got -1"),
        ({"mobilenet_v2": 3}, "[params.mobilenet_v2] must be a table of settings"),
        (
            {"shapes": {"size": 64}},
            "[params.shapes] names a dataset; only image folders take settings",
        ),
        (
            {"vgg16": {"weights": "imagenet"}},
            "[params.vgg16] names no method, metric, model or image folder of this run (methods: "
            "saliency; metrics: sparseness; models: cnn, mobilenet_v2; image folders: none)",
        ),
    ],
)
def test_bad_model_params_raise_one_line_naming_them(params, message):
    with pytest.raises(ValueError) as err:
        grid(params=params).validate()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_model_file_takes_no_params(tmp_path):
    model = tmp_path / "mine.keras"
    model.write_bytes(b"validate only checks that the file exists")
    config = grid(models=("cnn", str(model)), params={str(model): {"weights": "imagenet"}})
    with pytest.raises(ValueError, match=r"names a model file; a \.keras model takes no settings"):
        config.validate()


def test_a_name_both_a_model_and_a_method_of_the_run_cannot_take_params(monkeypatch):
    """A user model registered as ``saliency``: ``[params.saliency]`` would be ambiguous."""
    monkeypatch.setattr(registry, "_items", dict(registry._items))  # the registration is undone

    @xb.models.register("saliency", kinds=("image",))
    def net(input_shape, n_classes, seed):
        """One dense layer on the flattened image."""
        flat = [keras.Input(input_shape), keras.layers.Flatten()]
        return keras.Sequential([*flat, keras.layers.Dense(n_classes)])

    both = grid(models=("cnn", "saliency"))
    assert both.validate() is both  # no settings: nothing is ambiguous
    with pytest.raises(ValueError) as err:
        replace(both, params={"saliency": {"batch_size": 4}}).validate()
    assert str(err.value) == (
        "[params.saliency] is ambiguous: 'saliency' is both a model and a method of this run; "
        "register one of them under another name"
    )


def test_overrides_drop_the_params_of_the_models_they_drop(weights_file):
    mobile = {"weights": str(weights_file), "alpha": 0.35}
    config = grid(
        datasets=("shapes", "digits"),
        models_per_dataset={"digits": ("linear",)},
        params={"mobilenet_v2": mobile, "saliency": {"batch_size": 4}, "typo": {"x": 1}},
    )
    cnn_only = config.with_overrides(models=("cnn",))
    assert cnn_only.params == {"saliency": {"batch_size": 4}, "typo": {"x": 1}}
    kept = config.with_overrides(models=("mobilenet_v2",))
    assert kept.params == config.params
    digits = config.with_overrides(datasets=("digits",))  # mobilenet_v2 ran on shapes only
    assert digits.model_specs() == ("linear",) and "mobilenet_v2" not in digits.params
    # a [params] entry that named nothing of the config stays, for validate to report
    with pytest.raises(
        ValueError, match=r"\[params.typo\] names no method, metric, model or image folder"
    ):
        cnn_only.validate()
    fine = kept.with_overrides(methods=("gradient_x_input",))  # saliency's params go too
    assert fine.params == {"mobilenet_v2": mobile, "typo": {"x": 1}}
    assert replace(fine, params={"mobilenet_v2": mobile}).validate().architecture(
        "mobilenet_v2"
    ).params == {"weights": str(weights_file), "alpha": 0.35, "epochs": None}


def test_a_config_file_sets_a_model_s_weights_and_width(tmp_path, weights_file):
    cfg = tmp_path / "mobile.toml"
    cfg.write_text(
        'datasets = ["shapes"]\nmodels = ["mobilenet_v2"]\nmethods = ["saliency"]\n'
        f'metrics = ["sparseness"]\n[params.mobilenet_v2]\nweights = "{weights_file}"\n'
        "alpha = 0.35\n"
    )
    arch = load_config(cfg).validate().architecture("mobilenet_v2")
    assert arch.params == {"weights": str(weights_file), "alpha": 0.35, "epochs": None}


@pytest.mark.parametrize(
    "table, message",
    [
        ('[params.mobilenet_v2]\nweights = "missing.weights.h5"', "does not exist"),
        ("[params.mobilenet_v2]\nalfa = 0.5", "unknown parameter 'alfa' for model"),
        ("[params.cnn]\nweights = 'imagenet'", "unknown parameter 'weights' for model 'cnn'"),
    ],
)
def test_cli_exits_2_with_one_line_on_bad_model_params(tmp_path, capsys, table, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        'datasets = ["shapes"]\nmodels = ["cnn", "mobilenet_v2"]\nmethods = ["saliency"]\n'
        f'metrics = ["sparseness"]\n{table}\n'
    )
    out = tmp_path / "o"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing started


# image folders: [params."photos/"] (issue 26) ---------------------------------------------------


@pytest.fixture
def photos(tmp_path):
    """A folder of class subfolders (nothing is read by validate and image_settings)."""
    for label in ("cat", "dog"):
        (tmp_path / "photos" / label).mkdir(parents=True)
    return str(tmp_path / "photos") + "/"


def folder_grid(folder, **params) -> RunConfig:
    return RunConfig((folder,), ("linear",), ("saliency",), ("sparseness",), params=params)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"image_size": [0, 5]}, "image_size must be [height, width] in pixels"),
        ({"image_size": 64}, "image_size must be [height, width] in pixels (positive integers)"),
        ({"image_size": [64, 64, 3]}, "got [64, 64, 3]"),
        ({"color_mode": "cmyk"}, "color_mode must be one of 'grayscale', 'rgb', 'rgba'"),
        ({"size": 64}, "unknown setting 'size' of an image folder; valid settings: image_size"),
    ],
)
def test_bad_image_folder_settings_are_named(photos, settings, message):
    with pytest.raises(ValueError) as err:
        folder_grid(photos, **{photos: settings}).validate()
    assert f'[params."{photos}"]' in str(err.value) and message in str(err.value)


def test_an_image_folder_takes_the_size_given_else_its_model_files_else_32(photos):
    """Given settings win; else the model files' input size and channels when they agree; a
    zoo model takes any size (the default 32x32 RGB); files that disagree are an error naming
    the setting."""
    given = folder_grid(photos, **{photos.rstrip("/"): {"image_size": [16, 24]}}).validate()
    assert given.image_settings(photos, {"m.keras": (64, 64, 1)}) == {
        "image_size": [16, 24],
        "color_mode": "grayscale",  # from the file: not given
    }
    plain = folder_grid(photos).validate()
    assert plain.image_settings(photos, {}) == {"image_size": [32, 32], "color_mode": "rgb"}
    free = {"a.keras": (64, 64, 3), "b.keras": (None, None, 3)}  # b takes any size
    assert plain.image_settings(photos, free) == {"image_size": [64, 64], "color_mode": "rgb"}
    with pytest.raises(ValueError) as err:
        plain.image_settings(photos, {"a.keras": (64, 64, 3), "b.keras": (32, 32, 3)})
    assert "a.keras: (64, 64, 3); b.keras: (32, 32, 3)" in str(err.value)
    assert f'set image_size in [params."{photos}"]' in str(err.value)


def test_overrides_keep_the_settings_of_the_image_folders_they_keep(photos, tmp_path):
    """``--datasets photos`` (another spelling of the folder) keeps ``[params."photos/"]``;
    ``--datasets digits`` drops it."""
    config = folder_grid(photos, **{photos: {"image_size": [8, 8]}})
    same = config.with_overrides(datasets=(str(tmp_path / "photos"),))
    assert same.validate().folder_params(str(tmp_path / "photos")) == {"image_size": [8, 8]}
    assert config.with_overrides(datasets=("digits",)).params == {}


def test_a_config_without_models_notes_the_quick_suite_s(tmp_path):
    """Said with the estimate before the run (issue 26): they are trained on the user's data."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('datasets = ["digits"]\nmodel = "m.keras"\n')
    config = load_config(cfg)
    assert config.notes() == [
        "models linear, cnn, m.keras (linear, cnn: the quick suite's, trained on this data as "
        "the config lists no models; set models = [...] or --models to choose)"
    ]
    assert config.with_overrides(models=("linear",)).notes() == []
    cfg.write_text('datasets = ["digits"]\nmodels = ["cnn"]\n')
    assert load_config(cfg).notes() == []
