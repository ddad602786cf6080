"""keras.applications networks in the zoo: ``vgg16``, ``resnet50``, ``mobilenet_v2``,
``efficientnet_b0``.

Each is built in the standard transfer-learning layout::

    inputs (the dataset's images as they are: float32 in [0, 1], any size the application takes)
    -> ImageNetPreprocessing   grey images repeated to 3 channels, then the application's own
                               preprocess_input written in Keras ops (gradients, and so
                               attributions, are in the user's input space)
    -> the application, include_top=False, as a nested model (the backbone)
    -> GlobalAveragePooling2D -> Dense(n_classes): logits

``epochs`` (None: 30 from scratch, 60 for a head on loaded weights) is the most epochs trained;
early stopping may stop sooner. ``weights`` chooses the backbone's weights:

- ``None``: initialised from the seed (``reinitialise``) and trained here from scratch, on
  inputs of at most ``MAX_SCRATCH_SIDE`` pixels per side, with batch normalisation momentum
  ``SCRATCH_BN_MOMENTUM``; ``mobilenet_v2`` then has width ``alpha=0.35`` unless given.
- ``"imagenet"``: read from Keras's own cache (``$KERAS_HOME/models``, else ``~/.keras/models``
  or ``/tmp/.keras/models``) and never downloaded; the backbone is frozen and only the head is
  trained.
- a path to a ``.h5`` / ``.weights.h5`` file written by ``save_weights`` of the same application
  (``include_top=False``): loaded into the backbone, which is frozen; the head is trained.

>>> import xaibench as xb
>>> arch = xb.models.registry.get("mobilenet_v2")
>>> arch.params
{'weights': None, 'alpha': 0.35, 'epochs': None}
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from pathlib import Path

from xaibench._tf import keras
from xaibench.models.inspect import all_layers
from xaibench.models.zoo import Architecture, _Seeds, registry

MIN_SIDE = 32  # the smallest input keras.applications builds these networks for
MAX_SCRATCH_SIDE = 128  # the largest input side trained here from scratch (weights=None)
WEIGHTS_SUFFIXES = (".h5", ".hdf5")  # .weights.h5 (Keras 3) and legacy HDF5 weight files
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # keras.applications.imagenet_utils, 'caffe' mode
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)  # keras.applications.efficientnet
MOBILENET_V2_ROWS = (96, 128, 160, 192, 224)  # the input sizes of MobileNetV2's ImageNet files
# From scratch, batch normalisation's moving statistics follow the training batches with this
# momentum: Keras's 0.99 (0.999 in MobileNetV2) leaves them near their initial values after the
# few hundred steps trained here, and the network's inference outputs near constant.
SCRATCH_BN_MOMENTUM = 0.9
HEAD_EPOCHS = 60  # training the head alone on a frozen backbone's features is cheap
HEAD_LEARNING_RATE = 1e-3


@keras.saving.register_keras_serializable(package="xaibench", name="ImageNetPreprocessing")
class ImageNetPreprocessing(keras.layers.Layer):
    """An application's ``preprocess_input`` for images in [0, 1], in differentiable Keras ops.
    Grey images (1 channel) are repeated to 3 channels first.

    ``mode``: ``"tf"`` (MobileNetV2: ``x * 2 - 1``), ``"caffe"`` (VGG16, ResNet50: ``x * 255``,
    RGB to BGR, minus the ImageNet channel means) or ``"scale255"`` (EfficientNet: ``x * 255``;
    its own rescaling and normalisation are inside the network).
    """

    MODES = ("tf", "caffe", "scale255")

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.mode = mode

    def call(self, x):
        if x.shape[-1] == 1:
            x = keras.ops.repeat(x, 3, axis=-1)
        if self.mode == "tf":
            return x * 2.0 - 1.0
        x = x * 255.0
        if self.mode == "caffe":
            mean = keras.ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=x.dtype)
            return keras.ops.flip(x, axis=-1) - mean
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def keras_model_dirs() -> list[Path]:
    """Where keras.applications keeps downloaded weights: ``$KERAS_HOME/models`` when
    ``KERAS_HOME`` is set, else ``~/.keras/models`` and ``/tmp/.keras/models`` (Keras's fallback
    when the home folder is not writable)."""
    home = os.environ.get("KERAS_HOME")
    bases = [Path(home)] if home else [Path.home() / ".keras", Path("/tmp/.keras")]
    return [base.expanduser() / "models" for base in bases]


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_weights(weights) -> str | None:
    """``weights`` as given when it is None, ``"imagenet"`` or an existing ``.h5`` file (as a
    string); ValueError naming it otherwise."""
    if weights is None or weights == "imagenet":
        return weights
    if not isinstance(weights, str | os.PathLike):
        raise ValueError(f'weights must be None, "imagenet" or a file path, got {weights!r}')
    path = Path(weights).expanduser()
    if path.suffix not in WEIGHTS_SUFFIXES:
        raise ValueError(
            f"weights file {str(path)!r} must be a .h5 or .weights.h5 file (written by "
            'save_weights), or pass weights=None or "imagenet"'
        )
    if not path.is_file():
        raise ValueError(f"weights file {str(path)!r} does not exist")
    return str(path)


def reinitialise(model: keras.Model, seed: int) -> None:
    """Draw ``model``'s randomly initialised weights again from seeded copies of their layers'
    initialisers, and restart its layers' random generators (dropout) from seeds: keras.applications
    builds its layers with unseeded initialisers (drawn from Python's global random state), so
    this is what makes the same seed give the same network, without global seeding."""
    seeds = _Seeds(seed)
    for layer in all_layers(model):
        for variable, initializer in (
            ("kernel", "kernel_initializer"),
            ("kernel", "depthwise_initializer"),
            ("bias", "bias_initializer"),
        ):
            init, var = getattr(layer, initializer, None), getattr(layer, variable, None)
            if init is None or var is None:
                continue
            config = init.get_config()
            if "seed" in config:  # random initialisers; the others are constants
                seeds.seed += 1
                seeded = type(init).from_config({**config, "seed": seeds.seed})
                var.assign(seeded(var.shape, var.dtype))
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            seeds.seed += 1
            generator.state.assign(keras.ops.convert_to_tensor([seeds.seed, 0], "int64"))


def load_weights(net: keras.Model, path: Path, what: str) -> None:
    """Load ``path`` into ``net``; ValueError naming the file when it does not fit: an error, or
    Keras's warning that it skipped layers (they would keep their random weights)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            net.load_weights(str(path))
            skipped = [w for w in caught if "skipping" in str(w.message).lower()]
            if skipped:
                raise ValueError(str(skipped[0].message))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            first = (str(err).strip().splitlines() or [""])[0]
            raise ValueError(
                f"weights file {str(path)!r} does not fit {what}: {type(err).__name__}: {first}"
            ) from err


class Application(Architecture):
    """Base of the keras.applications architectures (see the module's docstring); a subclass
    names its ``constructor`` in ``keras.applications``, its preprocessing ``mode`` and the file
    name of its ImageNet weights without the top."""

    kinds = ("image",)
    constructor: str = ""
    mode: str = "caffe"
    imagenet_file: str = ""

    def __init__(self, *, weights: str | None = None, epochs: int | None = None):
        self.weights = check_weights(weights)
        if self.weights is not None:  # only the head is trained
            self.max_epochs, self.learning_rate = HEAD_EPOCHS, HEAD_LEARNING_RATE
        if epochs is not None:
            if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
                raise ValueError(f"epochs must be a positive integer or None, got {epochs!r}")
            self.max_epochs = epochs
        self.epochs = epochs
        self.epochs_budget = epochs is not None  # the realistic suite's 15: all of them ran

    # -- what the model cache keys on ------------------------------------------------------------

    def weights_source(self) -> str:
        """``"none"``, ``"imagenet"`` or ``"sha256:<hex>"`` of the weights file."""
        if self.weights is None:
            return "none"
        if self.weights == "imagenet":
            return "imagenet"
        return f"sha256:{file_sha256(self.weights)}"

    def cache_settings(self) -> dict:
        # only when given: the models cached before the setting existed keep their keys (not
        # "epochs", which the cache's metadata uses for the epochs a training ran)
        epochs = {} if self.epochs is None else {"max_epochs": self.epochs}
        return {"backbone_weights": self.weights_source(), **epochs}

    # -- building --------------------------------------------------------------------------------

    def check_input(self, input_shape: tuple[int, ...]) -> None:
        """ValueError when this network cannot take images of ``input_shape``."""
        if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
            raise ValueError(
                f"model {self.name!r} takes images (height, width, 1 or 3 channels); got inputs "
                f"of shape {tuple(input_shape)}"
            )
        if min(input_shape[:2]) < MIN_SIDE:
            raise ValueError(
                f"model {self.name!r} needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels "
                f"(keras.applications' minimum); got {input_shape[0]}x{input_shape[1]}"
            )

    def check_training(self, input_shape: tuple[int, ...]) -> None:
        self.check_input(input_shape)
        if self.weights == "imagenet":  # the file's name depends on the input size
            self.imagenet_path(input_shape)
        if self.weights is None and max(input_shape[:2]) > MAX_SCRATCH_SIDE:
            raise ValueError(
                f"model {self.name!r} with weights=None is trained here from scratch only on "
                f"images of at most {MAX_SCRATCH_SIDE} pixels per side; got "
                f'{input_shape[0]}x{input_shape[1]}. Pass weights="imagenet" (from Keras\'s '
                "cache) or a weights file (.h5 / .weights.h5) to train only its head"
            )

    def application_kwargs(self) -> dict:
        """Arguments for the keras.applications constructor besides the input shape."""
        return {}

    def imagenet_file_name(self, input_shape: tuple[int, ...]) -> str:
        """The name of the file keras.applications caches the ImageNet weights (no top) under."""
        return self.imagenet_file

    def imagenet_path(self, input_shape: tuple[int, ...]) -> Path:
        """The ImageNet weights file in Keras's cache; ValueError saying where it looked and how
        to put it there when it is not."""
        name = self.imagenet_file_name(input_shape)
        call = {"input_shape": (*input_shape[:2], 3), "weights": "imagenet"}
        for folder in keras_model_dirs():
            if (folder / name).is_file():
                return folder / name
        looked = " or ".join(str(folder / name) for folder in keras_model_dirs())
        raise ValueError(
            f"model {self.name!r}: the ImageNet weights are not in Keras's cache (looked for "
            f"{looked}); xaibench never downloads them. With internet, run once: python -c "
            f'"import keras; keras.applications.{self.constructor_call(**call)}", or copy the '
            "file there"
        )

    def backbone(self, input_shape: tuple[int, ...], seed: int) -> keras.Model:
        """The application without its top for 3-channel images of ``input_shape[:2]``, with
        the weights ``weights`` chooses (frozen when they are loaded)."""
        shape = (*input_shape[:2], 3)
        path = None
        if self.weights is not None:  # a missing file fails before anything is built
            imagenet = self.weights == "imagenet"
            path = self.imagenet_path(input_shape) if imagenet else Path(self.weights)
        build = getattr(keras.applications, self.constructor)
        net = build(include_top=False, weights=None, input_shape=shape, **self.application_kwargs())
        reinitialise(net, seed)
        if path is None:  # trained from scratch
            for layer in all_layers(net):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = SCRATCH_BN_MOMENTUM
            return net
        if self.weights == "imagenet":
            net = self.imagenet_layout(net)
        load_weights(net, path, f"model {self.name!r} ({self.constructor_call()})")
        net.trainable = False
        return net

    def constructor_call(self, **more) -> str:
        """The application as keras.applications builds it here (with ``more`` arguments)."""
        kwargs = {"include_top": False, **self.application_kwargs(), **more}
        return f"{self.constructor}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"

    def imagenet_layout(self, net: keras.Model) -> keras.Model:
        """``net`` as keras.applications builds it for ``weights="imagenet"`` (the same unless a
        subclass says otherwise)."""
        return net

    def build(self, input_shape: tuple[int, ...], n_classes: int, seed: int) -> keras.Model:
        self.check_input(input_shape)
        inputs = keras.Input(tuple(input_shape), name="image")
        x = ImageNetPreprocessing(self.mode, name="preprocess")(inputs)
        h = self.backbone(input_shape, seed)(x)
        h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
        outputs = keras.layers.Dense(n_classes, kernel_initializer=_Seeds(seed)(), name="logits")(h)
        return keras.Model(inputs, outputs, name=self.name)

    def frozen_features(self, model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
        """With loaded weights the backbone is frozen: ``(features, head)``, the model cut after
        its pooling and the logits layer alone (sharing its weights), so that training computes
        the frozen features once. None when the whole model is trained."""
        if self.weights is None:
            return None
        pool, logits = model.get_layer("pool"), model.get_layer("logits")
        features = keras.Model(model.inputs, pool.output)
        pooled = keras.Input(pool.output.shape[1:])
        return features, keras.Model(pooled, logits(pooled))


@registry.register("vgg16", kinds=("image",), max_epochs=30, learning_rate=1e-4)
class VGG16(Application):
    """VGG16 (keras.applications, no top) with a pooled dense head; 'caffe' preprocessing.

    ``weights``: None (from scratch), "imagenet" (Keras's cache) or a weights file."""

    constructor = "VGG16"
    mode = "caffe"
    imagenet_file = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"


@registry.register("resnet50", kinds=("image",), max_epochs=30, learning_rate=1e-3)
class ResNet50(Application):
    """ResNet50 (keras.applications, no top) with a pooled dense head; 'caffe' preprocessing.

    ``weights``: None (from scratch), "imagenet" (Keras's cache) or a weights file."""

    constructor = "ResNet50"
    mode = "caffe"
    imagenet_file = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


@registry.register("mobilenet_v2", kinds=("image",), max_epochs=30, learning_rate=1e-3)
class MobileNetV2(Application):
    """MobileNetV2 (keras.applications, no top) with a pooled dense head; width 0.35 from scratch.

    ``weights``: None (from scratch), "imagenet" (Keras's cache) or a weights file; ``alpha``
    (the width) is 0.35 from scratch and 1.0 with weights unless given. Preprocessing x*2-1."""

    constructor = "MobileNetV2"
    mode = "tf"

    def __init__(
        self, *, weights: str | None = None, alpha: float | None = None, epochs: int | None = None
    ):
        super().__init__(weights=weights, epochs=epochs)
        if alpha is None:  # the narrow network trains ~2-3x faster from scratch
            alpha = 0.35 if self.weights is None else 1.0
        if not isinstance(alpha, int | float) or isinstance(alpha, bool) or alpha <= 0:
            raise ValueError(f"alpha must be a positive number, got {alpha!r}")
        self.alpha = float(alpha)

    def cache_settings(self) -> dict:
        return {**super().cache_settings(), "alpha": self.alpha}

    def application_kwargs(self) -> dict:
        return {"alpha": self.alpha}

    def imagenet_file_name(self, input_shape: tuple[int, ...]) -> str:
        # as keras.applications.MobileNetV2 chooses: the file for the input size when it is
        # square and one of MOBILENET_V2_ROWS, else the 224 one
        rows = input_shape[0]
        if rows != input_shape[1] or rows not in MOBILENET_V2_ROWS:
            rows = 224
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{self.alpha}_{rows}_no_top.h5"


@registry.register("efficientnet_b0", kinds=("image",), max_epochs=30, learning_rate=1e-3)
class EfficientNetB0(Application):
    """EfficientNetB0 (keras.applications, no top) with a pooled dense head.

    ``weights``: None (from scratch), "imagenet" (Keras's cache) or a weights file.
    Preprocessing x*255; the network normalises its inputs itself."""

    constructor = "EfficientNetB0"
    mode = "scale255"
    imagenet_file = "efficientnetb0_notop.h5"

    def imagenet_layout(self, net: keras.Model) -> keras.Model:
        """keras.applications.EfficientNetB0(weights="imagenet") rescales its normalised inputs
        once more by 1 / sqrt(ImageNet stddev) (tensorflow/tensorflow#49930): the same network
        with that layer after its Normalization (the layers themselves are reused)."""
        scale = [1.0 / math.sqrt(s) for s in IMAGENET_STDDEV_RGB]

        def call(layer, *args, **kwargs):
            out = layer(*args, **kwargs)
            if isinstance(layer, keras.layers.Normalization):
                out = keras.layers.Rescaling(scale, name="imagenet_stddev")(out)
            return out

        return keras.models.clone_model(net, clone_function=lambda layer: layer, call_function=call)
