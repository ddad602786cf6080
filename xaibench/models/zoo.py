"""Built-in architectures, from simple to deep, built with seeded initialisers (no global seeding).

Every model maps a batch to class logits. Images: ``linear``, ``mlp``, ``cnn``, ``cnn_deep``;
tabular: ``linear``, ``mlp``, ``mlp_deep``. The keras.applications networks (``vgg16``,
``resnet50``, ``mobilenet_v2``, ``efficientnet_b0``) are in ``models/applications.py``.
"""

from __future__ import annotations

import abc

from xaibench._registry import Component, Registry, make_function_class
from xaibench._tf import keras

# Bump when an architecture or its training changes: cached models of other versions are not reused.
ZOO_VERSION = 2


class Architecture(Component, abc.ABC):
    """Base of model architectures: settings in the constructor, ``build(input_shape, n_classes,
    seed)`` returns an untrained Keras model that outputs logits. Its class attributes say what
    it takes and how it is trained (see ``models.training.train``)."""

    kinds: tuple[str, ...] = ("image", "tabular")  # the data kinds it takes
    max_epochs: int = 30
    learning_rate: float = 1e-3
    # Whether ``max_epochs`` is a budget the training uses whole (set below where early stopping
    # would end it: the cost estimate counts every epoch) rather than a ceiling (early stopping
    # usually ends sooner: the estimate counts ``cost.TRAINING_SHARE`` of it).
    epochs_budget: bool = False

    @abc.abstractmethod
    def build(self, input_shape: tuple[int, ...], n_classes: int, seed: int) -> keras.Model:
        """An untrained model for inputs of ``input_shape`` that outputs ``n_classes`` logits,
        its weights initialised from ``seed``."""

    def check_training(self, input_shape: tuple[int, ...]) -> None:
        """ValueError when this architecture is not trained here on inputs of ``input_shape``
        (called before building it for training, and by ``xaibench run`` before any work when
        the run would train it); every size by default."""

    def cache_settings(self) -> dict:
        """What decides the trained model besides the architecture, data, seed and code (e.g. the
        source of pretrained weights): part of its cache key and ``TrainedModel.settings``. By
        default the architecture's settings, when it has any (plain values; others by repr)."""
        plain = (str, int, float, bool, type(None))
        params = {k: v if isinstance(v, plain) else repr(v) for k, v in self.params.items()}
        return {"settings": params} if params else {}

    def frozen_features(self, model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
        """``(features, head)`` when only the head of ``model`` is trained on frozen features
        (``features`` maps inputs to them, ``head`` them to logits and shares ``model``'s
        weights): training then computes the features once. None (the default): the whole
        model is trained."""
        return None


def _wrap(fn) -> type[Architecture]:
    return make_function_class(fn, Architecture, 3, "build")


registry = Registry("model", Architecture, _wrap)


class _Seeds:
    """Distinct initialiser seeds for the layers of one model."""

    def __init__(self, seed: int):
        self.seed = seed * 1000

    def __call__(self) -> keras.initializers.Initializer:
        self.seed += 1
        return keras.initializers.GlorotUniform(seed=self.seed)


def _dense(units: int, init: _Seeds, activation=None, name=None):
    return keras.layers.Dense(units, activation=activation, kernel_initializer=init(), name=name)


def _conv(filters: int, init: _Seeds, activation="relu"):
    return keras.layers.Conv2D(
        filters, 3, padding="same", activation=activation, kernel_initializer=init()
    )


@registry.register("linear", kinds=("image", "tabular"), max_epochs=60, learning_rate=5e-3)
def linear(input_shape, n_classes: int, seed: int) -> keras.Model:
    """One dense layer on the flattened input: logits = W x + b."""
    init = _Seeds(seed)
    layers = [keras.Input(input_shape)]
    if len(input_shape) > 1:
        layers.append(keras.layers.Flatten())
    layers.append(_dense(n_classes, init, name="logits"))
    return keras.Sequential(layers, name="linear")


@registry.register("mlp", kinds=("image", "tabular"), max_epochs=40, learning_rate=2e-3)
def mlp(input_shape, n_classes: int, seed: int) -> keras.Model:
    """Two hidden dense layers (128 and 64 units for images, 64 and 32 for tabular data, ReLU)."""
    init = _Seeds(seed)
    image = len(input_shape) > 1
    width = 128 if image else 64
    layers = [keras.Input(input_shape)] + ([keras.layers.Flatten()] if image else [])
    layers += [
        _dense(width, init, "relu"),
        _dense(width // 2, init, "relu"),
        _dense(n_classes, init, name="logits"),
    ]
    return keras.Sequential(layers, name="mlp")


@registry.register("mlp_deep", kinds=("tabular",), max_epochs=40, learning_rate=1e-3)
def mlp_deep(input_shape, n_classes: int, seed: int) -> keras.Model:
    """Four hidden dense layers of 64 units (ReLU) with residual connections (tabular)."""
    init = _Seeds(seed)
    inputs = keras.Input(input_shape)
    h = _dense(64, init, "relu")(inputs)
    for _ in range(3):
        h = keras.layers.Add()([h, _dense(64, init, "relu")(h)])
    outputs = _dense(n_classes, init, name="logits")(h)
    return keras.Model(inputs, outputs, name="mlp_deep")


@registry.register("cnn", kinds=("image",), max_epochs=30, learning_rate=2e-3)
def cnn(input_shape, n_classes: int, seed: int) -> keras.Model:
    """3x3 convolutions (16, 32 filters, ReLU) with 2x2 max-pooling, dense 64, logits.

    Inputs of 16 pixels or more per side are pooled after each convolution; smaller ones once,
    after both.
    """
    init = _Seeds(seed)
    layers = [keras.Input(input_shape), _conv(16, init)]
    if min(input_shape[:2]) >= 16:
        layers.append(keras.layers.MaxPooling2D(2))
    layers += [
        _conv(32, init),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        _dense(64, init, "relu"),
        _dense(n_classes, init, name="logits"),
    ]
    return keras.Sequential(layers, name="cnn")


@registry.register("cnn_deep", kinds=("image",), max_epochs=30, learning_rate=2e-3)
def cnn_deep(input_shape, n_classes: int, seed: int) -> keras.Model:
    """A small residual network: a 3x3 stem (16), three residual blocks (16, 32, 64 filters; the
    last two downsample by 2), global average pooling, logits."""
    init = _Seeds(seed)
    inputs = keras.Input(input_shape)
    h = _conv(16, init)(inputs)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        shortcut = h
        if stride > 1 or shortcut.shape[-1] != filters:
            shortcut = keras.layers.Conv2D(filters, 1, strides=stride, kernel_initializer=init())(h)
        r = keras.layers.Conv2D(
            filters,
            3,
            strides=stride,
            padding="same",
            activation="relu",
            kernel_initializer=init(),
        )(h)
        r = _conv(filters, init, activation=None)(r)
        h = keras.layers.ReLU()(keras.layers.Add()([shortcut, r]))
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = _dense(n_classes, init, name="logits")(h)
    return keras.Model(inputs, outputs, name="cnn_deep")
