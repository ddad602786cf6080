"""Tiny models, data and numpy references shared by several tests/methods/ files (the
fixtures built from them are in tests/methods/conftest.py)."""

from __future__ import annotations

import functools

import _tiny
import numpy as np

from xaibench._tf import keras, tf
from xaibench.models.batching import activation_values

# Gradient family and CAM

CAM = ["grad_cam", "grad_cam_pp"]
KINDS = ["sequential", "functional", "subclassed"]


class Stack(keras.Model):
    """A subclassed model applying its layers in order."""

    def __init__(self, stack):
        super().__init__()
        self.stack = stack

    def call(self, x):
        for layer in self.stack:
            x = layer(x)
        return x


def assemble(kind, input_shape, stack):
    """The layers of ``stack`` as a Sequential, functional or subclassed model (built)."""
    if kind == "sequential":
        return keras.Sequential([keras.Input(input_shape), *stack])
    if kind == "functional":
        inp = keras.Input(input_shape)
        out = inp
        for layer in stack:
            out = layer(out)
        return keras.Model(inp, out)
    model = Stack(stack)
    model(np.zeros((1,) + tuple(input_shape), np.float32))
    return model


def relu_cnn(kind, weights):
    """Conv2D(3x3, same, ReLU) -> MaxPool(2) -> Flatten -> Dense on 6 x 6 x 2 images."""
    conv = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")
    dense = keras.layers.Dense(3, name="head")
    model = assemble(
        kind, (6, 6, 2), [conv, keras.layers.MaxPooling2D(), keras.layers.Flatten(), dense]
    )
    conv.set_weights(weights[:2])
    dense.set_weights(weights[2:])
    return model


def cam_cnn(kind="sequential"):
    """conv1 (3x3 valid, ReLU) -> conv2 (1x1, ReLU) -> Flatten -> Dense on 5 x 5 x 1 images.

    Returns ``(model, (k1, b1, k2, b2, wd, bd))``; feature maps are 3 x 3 (2 and 3 channels)."""
    k1 = np.array(
        [
            [[[1.0, -0.5]], [[0.0, 1.0]], [[-1.0, 0.5]]],
            [[[2.0, 0.0]], [[0.5, -1.0]], [[-0.5, 0.0]]],
            [[[1.0, 0.5]], [[0.0, 0.0]], [[-1.0, -0.5]]],
        ],
        np.float32,
    )  # (3, 3, 1, 2)
    b1 = np.array([0.1, -0.2], np.float32)
    k2 = np.array([[[[1.0, -1.0, 0.5], [0.5, 2.0, -1.0]]]], np.float32)  # (1, 1, 2, 3)
    b2 = np.array([0.0, 0.3, 0.2], np.float32)
    rng = np.random.default_rng(21)
    wd = rng.normal(0, 1, (27, 3)).astype(np.float32)
    bd = np.array([0.1, 0.0, -0.1], np.float32)
    conv1 = keras.layers.Conv2D(2, 3, activation="relu", name="conv1")
    conv2 = keras.layers.Conv2D(3, 1, activation="relu", name="conv2")
    dense = keras.layers.Dense(3, name="head")
    model = assemble(kind, (5, 5, 1), [conv1, conv2, keras.layers.Flatten(), dense])
    conv1.set_weights([k1, b1])
    conv2.set_weights([k2, b2])
    dense.set_weights([wd, bd])
    return model, (k1, b1, k2, b2, wd, bd)


def grad_cam_numpy(a, g):
    """ReLU(sum_k mean_ij(g^k) A^k), straight from Selvaraju et al. 2017."""
    return np.maximum((a * g.mean(axis=(1, 2), keepdims=True)).sum(axis=-1), 0)


def tanh_mlp_gradient(x, y, params):
    """d f_y / d x of ``_tiny.smooth_mlp``, float64."""
    w1, b1, w2, _ = (np.asarray(p, np.float64) for p in params)
    h = np.tanh(x.astype(np.float64) @ w1 + b1)
    return ((1 - h**2) * w2[:, y].T) @ w1.T


# Saliency and integrated gradients on linear images

IMG_SHAPE = (3, 2, 2)


def weights_for(w, y, shape):
    """W[:, y] for every sample, reshaped to the input shape: (N,) + shape."""
    return w[:, y].T.reshape((len(y),) + tuple(shape))


# Perturbation family: linear cases and their exact contributions


@functools.cache
def linear_case(shape, n=4, classes=3, seed=0):
    """A linear model on inputs of ``shape`` ((F,) or (H, W, C)) with its weights and data
    (cached, as building and tracing a model costs more than explaining with it; read only)."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    w = rng.normal(size=(size, classes))
    b = rng.normal(size=classes)
    x = rng.normal(size=(n,) + tuple(shape)).astype(np.float32)
    y = np.arange(n) % classes
    if len(shape) == 1:
        model = _tiny.linear_tabular(w, b)
    else:
        model = _tiny.linear_image(w, b, shape)
    return model, w, b, x, y


def contributions(w, x, y):
    """W[:, y] * x per input value, shape of x (float64)."""
    return (w[:, y].T * x.reshape(len(x), -1)).reshape(x.shape)


def pixel_contributions(w, x, y):
    """W[:, y] * x summed over channels: (N, H, W) for images, (N, F) for tabular."""
    c = contributions(w, x, y)
    return c.sum(axis=-1) if x.ndim == 4 else c


def linear_f(w, b, v, y):
    """f_y of a linear model on inputs v (any shape), float64 (N,)."""
    z = v.reshape(len(v), -1).astype(np.float64) @ w + b
    return z[np.arange(len(v)), y]


@functools.cache
def small_cnn(shape):
    return _tiny.small_cnn(shape)


# Settings that make the expensive methods cheap enough to run on every layout and batch size.
FAST_SETTINGS = {
    "integrated_gradients": {"steps": 4},
    "smoothgrad": {"samples": 4},
    "vargrad": {"samples": 4},
    "rise": {"masks": 64},
    "lime": {"samples": 64},
    "kernel_shap": {"samples": 64},
    "shap_kernel": {"nsamples": 40, "background_size": 2, "segments": 2},
    "shap_gradient": {"nsamples": 16},
    "lime_image": {"num_samples": 40},
    "lime_tabular": {"num_samples": 100},
}


# batch_size="auto": the largest model call, recorded


class CallRows(keras.layers.Layer):
    """An identity layer that records the rows of every forward and every backward pass through
    it, summed (``largest=False``) or the most of any one pass (``largest=True``). The records
    are int64 variables, so that compiled paths (``predict_on_batch``, traced gradients) count
    too and model_randomisation, which randomises float weights, leaves them alone. Placed last,
    it sees every forward pass to the output and every backward pass from it; first, every call
    of the model."""

    def __init__(self, *, largest: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.largest = largest

    def build(self, input_shape):
        self.forward = self.add_weight(
            shape=(), initializer="zeros", trainable=False, dtype="int64"
        )
        self.backward = self.add_weight(
            shape=(), initializer="zeros", trainable=False, dtype="int64"
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def _record(self, variable, rows):
        if self.largest:
            return variable.assign(tf.maximum(variable, rows))
        return variable.assign_add(rows)

    def call(self, z):
        rows = tf.cast(tf.shape(z)[0], "int64")

        @tf.custom_gradient
        def identity(z):
            def grad(dz):
                with tf.control_dependencies([self._record(self.backward, rows)]):
                    return tf.identity(dz)

            return tf.identity(z), grad

        with tf.control_dependencies([self._record(self.forward, rows)]):
            return identity(z)

    def counts(self) -> tuple[int, int]:
        """(forward rows, backward rows) since the last call, and reset."""
        out = (int(self.forward.numpy()), int(self.backward.numpy()))
        self.forward.assign(0)
        self.backward.assign(0)
        return out


def _copy_with(model, input_shape, *, first=(), last=()):
    """A copy of a Sequential ``model`` (new layers, same weights) with ``first`` and ``last``
    layers around it."""
    layers = [type(layer).from_config(layer.get_config()) for layer in model.layers]
    out = keras.Sequential([keras.Input(input_shape), *first, *layers, *last])
    for new, old in zip(layers, model.layers, strict=True):
        new.set_weights(old.get_weights())
    return out


def with_counter(model, input_shape):
    """A copy of a Sequential ``model`` ending in a CallRows that sums the rows of its calls."""
    return _copy_with(model, input_shape, last=[CallRows()])


def watched(model, input_shape):
    """A copy of a Sequential ``model`` behind a CallRows that records its largest call."""
    return _copy_with(model, input_shape, first=[CallRows(largest=True)])


def auto_budget(model, input_shape, gradient_rows: int) -> str:
    """The XAIBENCH_MEMORY_GIB at which ``batch_size="auto"`` sizes calls of ``model`` to
    ``gradient_rows`` inputs per gradient and twice that per forward pass (models.batching:
    factors 1 and 0.5 of 4 bytes per estimated value; exact in binary)."""
    return repr(4 * activation_values(model, input_shape) * gradient_rows / 2**30)
