"""Every method on the transfer-learning layout: a backbone (a keras Model) nested in the user's
model, one or two levels deep, behind preprocessing layers. Each nested model has a flat twin
with the same weights (the backbone's layers at the model's top level); the gradient methods
and the class activation maps must give the twin's attributions, and ``layer=`` reaches a layer
inside the backbone by its name or its path ("backbone/dw")."""

from __future__ import annotations

import gc
import weakref

import _tiny
import numpy as np
import pytest
from _method_cases import CAM, FAST_SETTINGS
from _tolerance import assert_roundoff_close

import xaibench as xb
from xaibench._tf import keras
from xaibench.methods import NotApplicable
from xaibench.models import protocol

SHAPE = (12, 12, 3)
LAYOUTS = {
    # layout: (path of the backbone inside the model, input shape)
    "sequential": ("backbone", SHAPE),
    "functional": ("backbone", SHAPE),
    "two_levels": ("trunk/backbone", SHAPE),
    "two_levels_sequential_trunk": ("trunk/backbone", SHAPE),
    "rescaling": ("backbone", SHAPE),
    "rescaling_resizing": ("backbone", (16, 16, 3)),
}
PREPROCESSED = {"rescaling", "rescaling_resizing"}  # inputs in [0, 255]


def image_methods() -> list[str]:
    """The built-in methods (optional adapters where installed) that explain images."""
    return [n for n in _tiny.builtin(xb.methods) if "image" in xb.methods.cls(n).inputs]


def mobile_block(x):
    """A MobileNetV2-like stack: strided conv stem + BN + ReLU6, depthwise conv + BN + ReLU,
    linear 1x1 projection, 1x1 expansion added back to the stem (a branch), 1x1 conv "top"."""
    layers = keras.layers
    h = layers.Conv2D(6, 3, strides=2, padding="same", name="stem")(x)
    h = layers.BatchNormalization(name="stem_bn")(h)
    stem = layers.ReLU(6.0, name="stem_relu6")(h)
    h = layers.DepthwiseConv2D(3, padding="same", name="dw")(stem)
    h = layers.BatchNormalization(name="dw_bn")(h)
    h = layers.ReLU(name="dw_relu")(h)
    h = layers.Conv2D(4, 1, name="project")(h)
    h = layers.Conv2D(6, 1, activation="relu", name="expand")(h)
    h = layers.Add(name="add")([stem, h])
    return layers.Conv2D(8, 1, activation="relu", name="top")(h)


def head():
    return [keras.layers.GlobalAveragePooling2D(name="pool"), keras.layers.Dense(3, name="logits")]


def preprocessing(layout):
    if layout == "rescaling":
        return [keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")]
    if layout == "rescaling_resizing":
        return [
            keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="scale"),
            keras.layers.Resizing(*SHAPE[:2], name="resize"),
        ]
    return []


def backbone(name="backbone"):
    inputs = keras.Input(SHAPE)
    return keras.Model(inputs, mobile_block(inputs), name=name)


def nested_model(layout):
    """The backbone nested in the user's model as ``layout`` says."""
    shape = LAYOUTS[layout][1]
    if layout == "functional":
        inputs = keras.Input(shape)
        h = backbone()(inputs, training=False)  # as in the Keras transfer-learning guide
        for layer in head():
            h = layer(h)
        return keras.Model(inputs, h, name="classifier")
    if layout == "two_levels":
        inputs = keras.Input(SHAPE)
        trunk = keras.Model(inputs, backbone()(inputs), name="trunk")
        return keras.Sequential([keras.Input(shape), trunk, *head()], name="classifier")
    if layout == "two_levels_sequential_trunk":
        trunk = keras.Sequential([keras.Input(SHAPE), backbone()], name="trunk")
        inputs = keras.Input(shape)
        h = trunk(inputs)
        for layer in head():
            h = layer(h)
        return keras.Model(inputs, h, name="classifier")
    stack = [*preprocessing(layout), backbone(), *head()]
    return keras.Sequential([keras.Input(shape), *stack], name="classifier")


def flat_model(layout):
    """The same computation with every layer at the model's top level."""
    inputs = keras.Input(LAYOUTS[layout][1])
    h = inputs
    for layer in preprocessing(layout):
        h = layer(h)
    h = mobile_block(h)
    for layer in head():
        h = layer(h)
    return keras.Model(inputs, h, name="flat")


def seeded_weights(model, seed=0):
    """Weights for ``model`` from one seeded stream (BN variances positive)."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.weights:
        if w.path.endswith("moving_variance"):
            weights.append(rng.uniform(0.5, 2.0, w.shape))
        else:
            weights.append(rng.normal(0.0, 0.5, w.shape))
    return [w.astype(np.float32) for w in weights]


@pytest.fixture(scope="module")
def cases():
    """layout -> (nested model, flat twin with the same weights, x, y)."""
    out = {}
    for layout, (_, shape) in LAYOUTS.items():
        nested, flat = nested_model(layout), flat_model(layout)
        assert [w.shape for w in nested.weights] == [w.shape for w in flat.weights]
        weights = seeded_weights(flat)
        nested.set_weights(weights)
        flat.set_weights(weights)
        rng = np.random.default_rng(60)
        x = rng.uniform(0.0, 1.0, (4, *shape)).astype(np.float32)
        if layout in PREPROCESSED:
            x = x * np.float32(255.0)
        out[layout] = nested, flat, x, np.array([0, 1, 2, 0])
    return out


@pytest.mark.parametrize("layout", LAYOUTS)
def test_nested_model_computes_what_its_flat_twin_computes(cases, layout):
    """The fixture's premise: the same weights in the same order, the same outputs.

    ``training=False`` as xaibench calls models: Keras's image preprocessing layers (Resizing)
    default to ``training=True``, which, called without it, would run the BatchNormalization
    layers after them in training mode and move their statistics."""
    nested, flat, x, _ = cases[layout]
    expected = flat(x, training=False).numpy()
    assert np.ptp(expected, axis=1).min() > 1e-2  # the classes are told apart
    assert_roundoff_close(nested(x, training=False).numpy(), expected)


def grid(names):
    """(layout, name) pairs."""
    return [(layout, name) for layout in LAYOUTS for name in names]


def explain_untouched(m, model, x, y):
    """``m(model, x, y)``, asserting that explaining left the model's weights as they were
    (restored first, so that the module's models stay as built for the next tests)."""
    before = model.get_weights()
    a = m(model, x, y)
    after = model.get_weights()
    model.set_weights(before)
    moved = [
        w.path
        for w, b, c in zip(model.weights, before, after, strict=True)
        if not np.array_equal(b, c)
    ]
    assert not moved, f"{m.name} changed the model's weights: {moved}"
    return a


@pytest.mark.parametrize("layout, name", grid(image_methods()))
def test_every_image_method_gives_the_flat_twins_attributions(cases, layout, name):
    """Every method that explains images applies to the nested model and gives finite float32
    maps of the input's shape (or (N, H, W)), leaves its weights untouched, and gives the flat
    twin's attributions up to kernel round-off (tests/_tolerance.py): the gradient methods,
    guided backprop and both CAM methods (on the last conv layer, inside the backbone) through
    the backbone's gradients, the perturbation methods (same seeds) through its outputs."""
    nested, flat, x, y = cases[layout]
    m = xb.methods.get(name, **FAST_SETTINGS.get(name, {}))
    assert m.applicable(nested, x) is None
    a = explain_untouched(m, nested, x, y)
    assert a.dtype == np.float32 and a.shape in (x.shape, x.shape[:-1])
    assert np.isfinite(a).all()
    expected = explain_untouched(m, flat, x, y)
    assert np.abs(expected).max() > 0  # not trivially equal
    assert_roundoff_close(a, expected)


@pytest.mark.parametrize("name", CAM)
@pytest.mark.parametrize("layer", ["stem_relu6", "dw"])  # "top", the default: tested above
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cam_layer_inside_the_backbone_by_name_and_by_path(cases, layout, layer, name):
    """``layer=`` names a layer inside the backbone by its own name or by its path from the
    model; both give the flat twin's maps of that layer."""
    nested, flat, x, y = cases[layout]
    expected = xb.methods.get(name, layer=layer)(flat, x, y)
    assert (expected > 0).any()
    by_name = xb.methods.get(name, layer=layer)(nested, x, y)
    assert_roundoff_close(by_name, expected)
    path = f"{LAYOUTS[layout][0]}/{layer}"
    np.testing.assert_array_equal(xb.methods.get(name, layer=path)(nested, x, y), by_name)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cam_default_layer_is_the_backbones_last_conv(cases, layout):
    nested, _, x, y = cases[layout]
    path = f"{LAYOUTS[layout][0]}/top"
    np.testing.assert_array_equal(
        xb.methods.get("grad_cam")(nested, x, y),
        xb.methods.get("grad_cam", layer=path)(nested, x, y),
    )
    other = xb.methods.get("grad_cam", layer="dw")(nested, x, y)
    assert not np.allclose(other, xb.methods.get("grad_cam")(nested, x, y))


def test_unknown_layer_or_path_names_the_conv_layers_by_path(cases):
    nested, _, x, y = cases["two_levels"]
    for layer in ["nope", "backbone/dw", "trunk/nope/dw"]:
        with pytest.raises(ValueError, match=r"'trunk/backbone/stem', .*'trunk/backbone/top'"):
            xb.methods.get("grad_cam", layer=layer)(nested, x, y)


@pytest.fixture(scope="module")
def top_twice():
    """A model with a conv layer named "top" of its own after a backbone that has one too."""
    base = backbone()
    model = keras.Sequential(
        [keras.Input(SHAPE), base, keras.layers.Conv2D(5, 1, activation="relu", name="top")]
        + head()
    )
    model.set_weights(seeded_weights(model, seed=1))
    x = np.random.default_rng(61).uniform(0, 1, (3, *SHAPE)).astype(np.float32)
    return model, x, np.array([0, 1, 2])


def test_a_models_own_layer_is_its_name_a_nested_one_its_path(top_twice):
    """A layer of the model itself is named by its name (its path), even when a backbone
    has a layer of that name too: that one is named by its path."""
    model, x, y = top_twice
    own = xb.methods.get("grad_cam", layer="top")(model, x, y)
    np.testing.assert_array_equal(xb.methods.get("grad_cam")(model, x, y), own)  # last conv
    inner = xb.methods.get("grad_cam", layer="backbone/top")(model, x, y)
    assert (own > 0).any() and (inner > 0).any() and not np.allclose(own, inner)


def test_a_nested_name_found_twice_is_refused_with_the_paths():
    """Two backbones with the same layer names (an ensemble): a bare name is ambiguous."""
    inputs = keras.Input(SHAPE)
    h = keras.layers.Add()([backbone()(inputs), backbone("backbone_b")(inputs)])
    for layer in head():
        h = layer(h)
    model = keras.Model(inputs, h)
    x = np.random.default_rng(64).uniform(0, 1, (2, *SHAPE)).astype(np.float32)
    with pytest.raises(ValueError, match=r"names 2 layers.*'backbone/dw', 'backbone_b/dw'"):
        xb.methods.get("grad_cam", layer="dw")(model, x, [0, 1])
    a = xb.methods.get("grad_cam", layer="backbone_b/dw")(model, x, [0, 1])
    assert a.shape == (2, *SHAPE[:2]) and np.isfinite(a).all()


def test_a_backbone_called_twice_is_not_applicable():
    """Its layers then have two feature maps each: no single map to weigh."""
    base = backbone()
    inputs = keras.Input(SHAPE)
    h = keras.layers.Add()([base(inputs), base(keras.layers.Rescaling(-1.0)(inputs))])
    for layer in head():
        h = layer(h)
    model = keras.Model(inputs, h)
    x = np.ones((2, *SHAPE), np.float32)
    m = xb.methods.get("grad_cam")
    assert "called 2 times" in m.applicable(model, x)
    with pytest.raises(NotApplicable, match="called 2 times"):
        m(model, x, [0, 1])
    assert np.isfinite(xb.methods.get("saliency")(model, x, [0, 1])).all()  # the model works


class Subclassed(keras.Model):
    """A subclassed model applying a backbone, then a head."""

    def __init__(self, base):
        super().__init__()
        self.base = base
        self.pool, self.logits = head()

    def call(self, x):
        return self.logits(self.pool(self.base(x)))


def test_a_backbone_inside_a_subclassed_model_is_not_applicable():
    model = Subclassed(backbone())
    x = np.ones((2, *SHAPE), np.float32)
    model(x)
    m = xb.methods.get("grad_cam", layer="backbone/dw")
    assert "subclassed" in m.applicable(model, x)
    with pytest.raises(NotApplicable, match="subclassed"):
        m(model, x, [0, 1])


@pytest.mark.parametrize("name", CAM)
def test_cam_of_a_saved_and_loaded_nested_model(cases, tmp_path, name):
    """A loaded model's nested layers are built more than once: the maps must still be those of
    the graph that computes the output."""
    nested, _, x, y = cases["two_levels"]
    nested.save(tmp_path / "nested.keras")
    loaded = keras.models.load_model(tmp_path / "nested.keras", compile=False)
    for layer in [None, "dw"]:
        expected = xb.methods.get(name, layer=layer)(nested, x, y)
        assert_roundoff_close(xb.methods.get(name, layer=layer)(loaded, x, y), expected)


@pytest.mark.parametrize("name", ["grad_cam", "grad_cam_pp", "guided_backprop"])
def test_a_nested_model_is_left_untouched_and_freed_with_its_cached_functions(name):
    model = nested_model("two_levels")
    x = np.random.default_rng(62).uniform(0, 1, (2, *SHAPE)).astype(np.float32)
    before = {id(m): set(vars(m)) for m in (model, *model.layers, *model.layers[0].layers)}
    xb.methods.get(name)(model, x, [0, 1])
    assert protocol.adapt(model)._functions  # compiled functions are kept per model
    after = {id(m): set(vars(m)) for m in (model, *model.layers, *model.layers[0].layers)}
    assert after == before
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None


@pytest.fixture(scope="module")
def mobilenet():
    """MobileNetV2 (alpha 0.35, 64 x 64, random weights) nested behind its preprocessing, and
    its flat twin: a functional model on the backbone's own graph with the same head.

    Keras's initial weights are not seeded: they are redrawn from a seeded stream with the same
    spread, and the BatchNormalization statistics set to those of a batch of images (one pass
    in training mode with momentum 0), without which the random network's output hardly
    depends on its input (maps of ~1e-10)."""
    base = keras.applications.MobileNetV2(
        weights=None, alpha=0.35, include_top=False, input_shape=(64, 64, 3)
    )
    rng = np.random.default_rng(65)
    base.set_weights(
        [rng.normal(0, w.std(), w.shape) if w.std() else w for w in base.get_weights()]
    )
    calibration = rng.uniform(-1, 1, (16, 64, 64, 3)).astype(np.float32)
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    base(calibration, training=True)
    for layer in norms:
        layer.momentum = 0.999
    pool, logits = head()
    scale = keras.layers.Rescaling(1 / 127.5, offset=-1.0)
    nested = keras.Sequential([keras.Input((64, 64, 3)), scale, base, pool, logits])
    logits.set_weights([rng.normal(0, 1, w.shape) for w in logits.get_weights()])
    flat = keras.Model(base.input, logits(pool(base.output)))
    x = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    return nested, flat, base.name, x, np.array([0, 2])


@pytest.mark.slow
@pytest.mark.parametrize("name", CAM)
def test_mobilenet_v2_backbone(mobilenet, name):
    """The issue's layout: Grad-CAM of the last conv ("Conv_1") and of "block_16_project", by
    name and by path, equal to the flat model's on the preprocessed inputs."""
    nested, flat, base_name, x, y = mobilenet
    x_flat = x * np.float32(1 / 127.5) + np.float32(-1.0)  # as Rescaling computes it
    for layer in [None, "block_16_project"]:
        expected = xb.methods.get(name, layer=layer)(flat, x_flat, y)
        assert expected.shape == (2, 64, 64) and (expected > 0).any()
        assert_roundoff_close(xb.methods.get(name, layer=layer)(nested, x, y), expected)
    by_path = xb.methods.get(name, layer=f"{base_name}/block_16_project")(nested, x, y)
    np.testing.assert_array_equal(
        by_path, xb.methods.get(name, layer="block_16_project")(nested, x, y)
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["saliency", "guided_backprop"])
def test_mobilenet_v2_backbone_gradients(mobilenet, name):
    """Through the nested backbone (its ReLU6s guided for guided backprop), the gradient is the
    flat model's gradient at the preprocessed inputs times the Rescaling factor (chain rule)."""
    nested, flat, _, x, y = mobilenet
    scale = np.float32(1 / 127.5)
    expected = xb.methods.get(name)(flat, x * scale + np.float32(-1.0), y) * scale
    assert np.abs(expected).max() > 0
    assert_roundoff_close(xb.methods.get(name)(nested, x, y), expected)
