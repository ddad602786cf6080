"""keras.applications networks in the zoo (models/applications.py): the layout, the explicit
preprocessing, seeded initialisation, the three weight sources and the cache key."""

import json
import warnings

import numpy as np
import pytest
from _tolerance import assert_roundoff_close

import xaibench as xb
from xaibench._tf import keras, tf
from xaibench.models import applications, training
from xaibench.models.applications import ImageNetPreprocessing
from xaibench.models.inspect import all_layers
from xaibench.models.training import weights_hash

NAMES = ["efficientnet_b0", "mobilenet_v2", "resnet50", "vgg16"]
SHAPE = (32, 32, 3)  # the smallest size keras.applications takes: the fastest builds
PREPROCESS = {  # the keras.applications module whose preprocess_input each network uses
    "vgg16": keras.applications.vgg16,
    "resnet50": keras.applications.resnet50,
    "mobilenet_v2": keras.applications.mobilenet_v2,
    "efficientnet_b0": keras.applications.efficientnet,
}


def images(n, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def backbone(model):
    """The nested application of a zoo model."""
    (net,) = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return net


def features(model, x):
    """The backbone's output for ``x``: what the head sees."""
    return np.asarray(backbone(model)(model.get_layer("preprocess")(x)))


def same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(u, v) for u, v in zip(wa, wb, strict=True))


@pytest.fixture(scope="module")
def built():
    """Each architecture built once (seed 0, 3 classes, 32x32x3), shared by the tests."""
    return {name: xb.models.registry.get(name).build(SHAPE, 3, 0) for name in NAMES}


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras home: what Keras's cache holds is what the test puts there. Keras reads
    ``KERAS_HOME`` once, at import; xaibench reads it when it looks (as Keras would when started
    with it), so the test can point it elsewhere."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "keras" / "models").mkdir(parents=True)
    return tmp_path / "keras" / "models"


def tiny_images(shape=SHAPE, n=8):
    """A dataset of ``n`` images in 2 classes (6 to train, 2 to test) for the training tests."""
    x = (images(n, shape) * 255).astype(np.uint8)
    return xb.datasets.from_arrays(x, [0, 1] * (n // 2), name="tiny_apps")


# -- the layout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_layout_preprocessing_nested_backbone_pooling_logits(built, name):
    model = built[name]
    assert [layer.name for layer in model.layers[:2]] == ["image", "preprocess"]
    assert isinstance(model.layers[2], keras.Model)  # the application, nested
    assert [layer.name for layer in model.layers[3:]] == ["pool", "logits"]
    assert model.get_layer("logits").get_config()["activation"] == "linear"  # logits
    logits = np.asarray(model(images(4)))
    assert logits.shape == (4, 3) and np.isfinite(logits).all()
    assert model.count_params() > 100_000
    assert xb.models.registry.cls(name).kinds == ("image",)
    norms = [x for x in all_layers(model) if isinstance(x, keras.layers.BatchNormalization)]
    assert all(x.momentum == applications.SCRATCH_BN_MOMENTUM for x in norms)  # from scratch


def test_registered_with_their_settings():
    assert set(NAMES) <= set(xb.models.names())
    assert xb.models.registry.get("mobilenet_v2").params == {
        "weights": None,
        "alpha": 0.35,
        "epochs": None,
    }
    pretrained = xb.models.registry.get("mobilenet_v2", weights="imagenet")
    assert pretrained.params == {"weights": "imagenet", "alpha": 1.0, "epochs": None}
    again = xb.models.from_config(pretrained.get_config())
    assert again.params == pretrained.params
    assert xb.models.registry.get("vgg16").params == {"weights": None, "epochs": None}
    spec = xb.models.registry.get("resnet50", weights="imagenet")
    scratch = xb.models.registry.get("resnet50")
    assert spec.max_epochs == applications.HEAD_EPOCHS and scratch.max_epochs == 30


@pytest.mark.parametrize("name", NAMES)
def test_preprocessing_is_the_applications_preprocess_input(name):
    """The layer on inputs in [0, 1] equals ``preprocess_input`` on the same images in [0, 255]
    (what keras.applications expects), up to float32 round-off: the two compute x*2-1 and
    x*255/127.5-1, or subtract the means, in different orders."""
    mode = xb.models.registry.cls(name).mode
    x = images(6)
    expected = PREPROCESS[name].preprocess_input(x * 255.0)
    assert_roundoff_close(np.asarray(ImageNetPreprocessing(mode)(x)), expected)
    layer = ImageNetPreprocessing.from_config(ImageNetPreprocessing(mode).get_config())
    assert layer.mode == mode


def test_preprocessing_rejects_unknown_modes():
    with pytest.raises(ValueError, match="mode"):
        ImageNetPreprocessing("torch")


@pytest.mark.parametrize("name, factor", [("vgg16", 255.0), ("mobilenet_v2", 2.0)])
def test_gradients_are_in_the_users_input_space(built, name, factor):
    """The gradient of a logit with respect to the user's input is the gradient with respect
    to the preprocessed input times the preprocessing's derivative (x 255 with the channels
    flipped back for 'caffe', x 2 for 'tf'): attributions see the preprocessing."""
    model = built[name]
    x = tf.constant(images(2))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logit = model(x)[:, 1]
    grad = tape.gradient(logit, x).numpy()
    pre = tf.constant(model.get_layer("preprocess")(x))
    with tf.GradientTape() as tape:
        tape.watch(pre)
        logit = model.get_layer("logits")(model.get_layer("pool")(backbone(model)(pre)))[:, 1]
    inner = tape.gradient(logit, pre).numpy()
    expected = factor * (inner[..., ::-1] if name == "vgg16" else inner)
    assert np.abs(grad).max() > 0
    assert_roundoff_close(grad, expected)


def test_grey_images_are_repeated_to_three_channels(built):
    grey = images(3, (32, 32, 1))
    model = xb.models.registry.get("vgg16").build((32, 32, 1), 3, 0)
    assert model.input_shape == (None, 32, 32, 1)
    rgb = built["vgg16"]  # same seed, same weights: the grey model reads the repeated image
    assert same_weights(model, rgb)
    assert_roundoff_close(np.asarray(model(grey)), np.asarray(rgb(np.repeat(grey, 3, axis=-1))))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_weights(built, name):
    """keras.applications initialises from Python's global random state, which moves between
    builds: only the seeded re-initialisation makes the second build equal the first."""
    again = xb.models.registry.get(name).build(SHAPE, 3, 0)
    assert same_weights(again, built[name])
    other = xb.models.registry.get(name).build(SHAPE, 3, 1)
    assert weights_hash(other) != weights_hash(built[name])


@pytest.mark.parametrize(
    "shape, match",
    [((28, 28, 1), "at least 32x32"), ((32, 32, 4), "1 or 3 channels"), ((64,), "images")],
)
def test_input_shapes_it_cannot_take_fail_clearly(shape, match):
    with pytest.raises(ValueError, match=match):
        xb.models.registry.get("mobilenet_v2").build(shape, 3, 0)


def test_inputs_of_other_sizes_build():
    model = xb.models.registry.get("mobilenet_v2").build((40, 56, 3), 4, 0)
    assert np.asarray(model(images(2, (40, 56, 3)))).shape == (2, 4)


# -- training from scratch: only small inputs ---------------------------------------------------


def test_from_scratch_training_is_refused_on_large_images():
    data = xb.datasets.from_arrays(np.zeros((8, 160, 160, 3), np.float32), [0, 1] * 4)
    with pytest.raises(ValueError, match="at most 128 pixels.*weights"):
        xb.models.load("mobilenet_v2", data)
    with pytest.raises(ValueError, match="at least 32x32"):
        xb.models.load("resnet50", "mnist")  # 28x28
    with pytest.raises(ValueError, match="needs image data"):
        xb.models.load("vgg16", "wine")


# -- ImageNet weights: only from Keras's own cache ----------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_imagenet_weights_missing_from_the_cache_fail_naming_where(keras_home, name):
    arch = xb.models.registry.get(name, weights="imagenet")
    expected = keras_home / arch.imagenet_file_name(SHAPE)
    with pytest.raises(ValueError) as err:
        arch.build(SHAPE, 3, 0)
    message = str(err.value)
    assert str(expected) in message and "never downloads" in message
    assert "weights='imagenet'" in message and "\n" not in message
    with pytest.raises(ValueError, match="never downloads"):  # and before any training
        xb.models.load(name, tiny_images(), weights="imagenet")


def test_imagenet_file_names_are_those_keras_caches():
    get = xb.models.registry.get
    assert get("vgg16").imagenet_file_name(SHAPE) == (
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    assert get("resnet50").imagenet_file_name(SHAPE) == (
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    assert get("efficientnet_b0").imagenet_file_name(SHAPE) == "efficientnetb0_notop.h5"
    mobilenet = get("mobilenet_v2", weights="imagenet")
    stem = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0"
    assert mobilenet.imagenet_file_name((96, 96, 3)) == f"{stem}_96_no_top.h5"
    assert mobilenet.imagenet_file_name((100, 100, 3)) == f"{stem}_224_no_top.h5"
    assert mobilenet.imagenet_file_name((96, 128, 3)) == f"{stem}_224_no_top.h5"


def randomised(net, seed=0):
    """``net`` with its normalisation statistics moved off their defaults, so that a network
    whose weights came from elsewhere cannot agree with it by chance."""
    rng = np.random.default_rng(seed)
    for layer in all_layers(net):
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = (w.shape for w in layer.get_weights())
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma).astype(np.float32),
                    rng.uniform(-0.1, 0.3, beta).astype(np.float32),
                    rng.uniform(-0.1, 0.1, mean).astype(np.float32),
                    rng.uniform(0.5, 1.5, var).astype(np.float32),
                ]
            )
        elif isinstance(layer, keras.layers.Normalization):
            mean, var, count = layer.get_weights()
            layer.set_weights(
                [rng.uniform(0.3, 0.6, mean.shape), rng.uniform(0.2, 1, var.shape), count]
            )
    return net


@pytest.mark.parametrize("name", NAMES)
def test_imagenet_weights_are_read_from_the_keras_cache_as_keras_would(
    keras_home, monkeypatch, name
):
    """A (stand-in) ImageNet file in the Keras cache: the zoo's network equals
    ``keras.applications.X(weights="imagenet")`` on ``preprocess_input(255 x)``, the reference
    built with Keras's own download replaced by that file. EfficientNetB0 builds another layout
    for ImageNet weights (one more rescaling), which this compares too."""
    from keras.src.utils import file_utils  # what keras.applications downloads with

    arch = xb.models.registry.get(name, weights="imagenet")
    build = getattr(keras.applications, arch.constructor)
    kwargs = {"include_top": False, "input_shape": SHAPE, **arch.application_kwargs()}
    path = keras_home / arch.imagenet_file_name(SHAPE)
    randomised(build(weights=None, **kwargs)).save(path)  # legacy HDF5, as Keras's files are
    monkeypatch.setattr(file_utils, "get_file", lambda name, *a, **k: str(keras_home / name))
    with warnings.catch_warnings():  # MobileNetV2 at 32 px: "the 224 file will be loaded"
        warnings.simplefilter("ignore", UserWarning)
        reference = build(weights="imagenet", **kwargs)
    monkeypatch.undo()
    monkeypatch.setenv("KERAS_HOME", str(keras_home.parent))
    model = arch.build(SHAPE, 3, 0)
    x = images(4)
    expected = np.asarray(reference(PREPROCESS[name].preprocess_input(x * 255.0)))
    assert np.abs(expected).max() > 0
    assert_roundoff_close(features(model, x), expected)
    assert not backbone(model).trainable and model.get_layer("logits").trainable


# -- a local weights file ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_weights_file_round_trip(tmp_path, suffix):
    """A backbone's weights saved to a file (Keras 3's .weights.h5, or legacy HDF5 like the
    ImageNet files) are the zoo network's backbone weights with weights=path, frozen."""
    source = randomised(
        keras.applications.MobileNetV2(
            include_top=False, weights=None, input_shape=SHAPE, alpha=0.35
        )
    )
    path = tmp_path / f"backbone{suffix}"
    if suffix == ".weights.h5":
        source.save_weights(path)
    else:
        source.save(path)  # legacy HDF5
    arch = xb.models.registry.get("mobilenet_v2", weights=str(path), alpha=0.35)
    model = arch.build((48, 48, 3), 3, 0)  # another input size: the weights do not depend on it
    assert same_weights(backbone(model), source)
    assert not backbone(model).trainable
    x = images(2, (48, 48, 3))
    resized = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(48, 48, 3), alpha=0.35
    )
    resized.set_weights(source.get_weights())
    assert_roundoff_close(features(model, x), np.asarray(resized(x * 2.0 - 1.0)))


def test_weights_files_that_do_not_fit_fail_naming_the_file(tmp_path):
    get = xb.models.registry.get
    missing = tmp_path / "missing.weights.h5"
    with pytest.raises(ValueError, match=f"model 'vgg16'.*{missing}.*does not exist"):
        get("vgg16", weights=str(missing))
    with pytest.raises(ValueError, match=r"\.h5 or \.weights\.h5"):
        get("vgg16", weights=str(tmp_path / "w.keras"))
    with pytest.raises(ValueError, match="weights must be None"):
        get("vgg16", weights=3)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not HDF5")
    with pytest.raises(ValueError, match=f"{junk}.*does not fit model 'vgg16'"):
        get("vgg16", weights=str(junk)).build(SHAPE, 3, 0)
    narrow = tmp_path / "narrow.weights.h5"
    keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=SHAPE, alpha=0.35
    ).save_weights(narrow)
    with pytest.raises(ValueError) as err:  # a file of alpha 0.35 into the alpha 1.0 network
        get("mobilenet_v2", weights=str(narrow)).build(SHAPE, 3, 0)
    message = str(err.value)
    assert str(narrow) in message and "alpha=1.0" in message and "\n" not in message


# -- the cache key -------------------------------------------------------------------------------


def test_cache_key_holds_the_weights_source(tmp_path):
    """A different weights file (by content, not by name) never gives back a model trained on
    another; the settings of the other architectures are as before."""
    data = tiny_images()
    a, b, a_copy = tmp_path / "a.weights.h5", tmp_path / "b.weights.h5", tmp_path / "c.weights.h5"
    net = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=SHAPE, alpha=0.35
    )
    net.save_weights(a)
    a_copy.write_bytes(a.read_bytes())
    randomised(net).save_weights(b)
    specs = {
        "none": {},
        "imagenet": {"weights": "imagenet"},
        "a": {"weights": str(a), "alpha": 0.35},
        "b": {"weights": str(b), "alpha": 0.35},
        "a_copy": {"weights": str(a_copy), "alpha": 0.35},
        "a_wide": {"weights": str(a)},  # alpha 1.0: another network
    }
    settings = {
        k: training.model_settings(xb.models.registry.get("mobilenet_v2", **v), data)
        for k, v in specs.items()
    }
    stems = {
        k: training.cache_path(xb.models.registry.get("mobilenet_v2", **v), data).stem
        for k, v in specs.items()
    }
    assert settings["none"]["backbone_weights"] == "none"
    assert settings["imagenet"]["backbone_weights"] == "imagenet"
    assert settings["a"]["backbone_weights"] == "sha256:" + applications.file_sha256(a)
    assert settings["a"] == settings["a_copy"] and stems["a"] == stems["a_copy"]
    distinct = [
        json.dumps(settings[k], sort_keys=True) for k in ("none", "imagenet", "a", "b", "a_wide")
    ]
    assert len(set(distinct)) == 5
    assert len({stems[k] for k in ("none", "imagenet", "a", "b", "a_wide")}) == 5
    assert all(stem.endswith(f"-zoo{xb.models.ZOO_VERSION}") for stem in stems.values())
    cnn = training.model_settings("cnn", xb.datasets.load("shapes"))
    assert set(cnn) == {"model", "dataset", "training_data", "seed", "zoo_version"}


def test_a_user_architectures_settings_key_its_cache(monkeypatch):
    """Settings passed to ``xb.models.load(name, data, **settings)`` key the cache of a user
    architecture too; one without settings keys it as before."""
    monkeypatch.setattr(xb.models.registry, "_items", dict(xb.models.registry._items))

    @xb.models.register("test_apps_net", kinds=("tabular",))
    def net(input_shape, n_classes, seed, *, units=4):
        """A hidden layer, then logits."""
        return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(units)])

    data = xb.datasets.load("wine")
    paths = {
        u: training.cache_path(xb.models.registry.get("test_apps_net", units=u), data)
        for u in (4, 8)
    }
    assert paths[4] != paths[8]
    settings = training.model_settings(xb.models.registry.get("test_apps_net", units=8), data)
    assert settings["settings"] == {"units": 8}


# -- training (slow) -----------------------------------------------------------------------------


@pytest.mark.slow
def test_trains_from_scratch_caches_and_reloads(model_cache, monkeypatch):
    """One epoch on six images (VGG16: the fewest variables, so the quickest to trace)."""
    monkeypatch.setattr(applications.VGG16, "max_epochs", 1)
    data = tiny_images()
    messages = []
    trained = xb.models.load("vgg16", data, log=messages.append)
    assert any(m.startswith("training vgg16") for m in messages)
    assert trained.settings["backbone_weights"] == "none"
    assert 0 <= trained.accuracy <= 1 and trained.params == trained.model.count_params()
    untrained = xb.models.registry.get("vgg16").build(SHAPE, 2, 0)
    assert not same_weights(backbone(trained.model), backbone(untrained))  # trained it all
    messages.clear()
    again = xb.models.load("vgg16", data, log=messages.append)
    assert not any("training" in m for m in messages)  # from the cache, custom layer and all
    assert again.settings == trained.settings
    x = data.x_test
    assert_roundoff_close(np.asarray(again.model(x)), np.asarray(trained.model(x)))


@pytest.mark.slow
def test_pretrained_backbone_stays_frozen_and_another_file_trains_again(model_cache, tmp_path):
    """With a weights file only the head is trained (on features computed once); the cached
    model is keyed by the file's content, so another file trains another model."""
    data = tiny_images()
    files = []
    for seed in (0, 1):
        net = keras.applications.VGG16(include_top=False, weights=None, input_shape=SHAPE)
        files.append(tmp_path / f"vgg{seed}.weights.h5")
        randomised(net, seed).save_weights(files[-1])
    messages = []
    first = xb.models.load("vgg16", data, weights=str(files[0]), log=messages.append)
    loaded = xb.models.registry.get("vgg16", weights=str(files[0])).build(SHAPE, 2, 0)
    assert same_weights(backbone(first.model), backbone(loaded))  # the backbone did not move
    assert not np.array_equal(
        first.model.get_layer("logits").get_weights()[0],
        loaded.get_layer("logits").get_weights()[0],
    )  # the head did
    assert first.settings["backbone_weights"] == "sha256:" + applications.file_sha256(files[0])
    messages.clear()
    second = xb.models.load("vgg16", data, weights=str(files[1]), log=messages.append)
    assert any(m.startswith("training vgg16") for m in messages)
    assert second.settings["backbone_weights"] != first.settings["backbone_weights"]
    assert not same_weights(backbone(second.model), backbone(first.model))


@pytest.mark.slow
def test_head_training_on_features_equals_training_the_whole_model(monkeypatch, tmp_path):
    """Training the head on features computed once makes the same updates as training the
    whole model with its backbone frozen, up to the round-off of the two ways of computing the
    same features (Adam then moves every weight by about its learning rate per step, so the
    comparison is at that scale)."""
    data = tiny_images()
    path = tmp_path / "vgg.weights.h5"
    randomised(
        keras.applications.VGG16(include_top=False, weights=None, input_shape=SHAPE)
    ).save_weights(path)
    spec = xb.models.registry.get("vgg16", weights=str(path))
    spec.max_epochs = 2
    fast, info = training.train(spec, data)
    monkeypatch.setattr(type(spec), "frozen_features", lambda self, model: None)
    whole, whole_info = training.train(spec, data)
    assert info["epochs"] == whole_info["epochs"]
    np.testing.assert_allclose(
        fast.get_layer("logits").get_weights()[0],
        whole.get_layer("logits").get_weights()[0],
        atol=1e-2 * applications.HEAD_LEARNING_RATE,
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_inspection_shows_the_backbones_first_convolution(built, name):
    """The report's model inspection looks inside the nested backbone: its first convolution
    (the model's own first weighted layer is the head's Dense, whose input is 1,280 pooled
    features, not an image)."""
    from xaibench.models.inspect import first_layer_view

    model, x1 = built[name], images(1)
    view = first_layer_view(model, x1)
    net = backbone(model)
    (first,) = [x for x in net.layers if isinstance(x, keras.layers.Conv2D)][:1]
    assert view["layer"] == f"{net.name}/{first.name}"
    assert np.array_equal(view["filters"], np.asarray(first.kernel))
    # the same layer read from the backbone alone, on the preprocessed image; the same ops on
    # the same sample, but traced in another graph: round-off of float32 convolutions
    direct = keras.Model(net.inputs, first.output)(model.get_layer("preprocess")(x1))
    assert_roundoff_close(view["activations"], np.asarray(direct)[0])


def test_epochs_bound_the_training_and_key_the_cache():
    """``epochs`` caps the epochs trained (a suite's budget); given, it is part of the cache key
    (another budget is another model); left out, the key is what it was before the setting."""
    plain = xb.models.registry.get("mobilenet_v2")
    short = xb.models.registry.get("mobilenet_v2", epochs=12)
    assert plain.max_epochs == 30 and short.max_epochs == 12
    assert "max_epochs" not in plain.cache_settings()
    assert short.cache_settings()["max_epochs"] == 12
    data = tiny_images()
    assert training.cache_path(plain, data) != training.cache_path(short, data)
    for bad in (0, 2.5, True, "12"):
        with pytest.raises(ValueError, match="epochs must be a positive integer"):
            xb.models.registry.get("vgg16", epochs=bad)
