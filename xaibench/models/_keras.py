"""The model protocol for Keras 3 models on TensorFlow (and any callable TensorFlow can trace).

Scores come from the compiled forward pass (``predict_on_batch``), gradients from a
``tf.function`` traced once per (model, kind of output); guided backpropagation runs the model
unchanged inside a traced graph whose Relu/Relu6 gradients are overridden; class activation maps
read a layer through a functional view of the model that shares its layers and weights
(``models.inspect.trace``). Compiled functions are kept on the adapter, which holds the model
only weakly (``models.protocol``), and reach the model through that weak reference.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import numpy as np

from xaibench._checks import NotApplicable
from xaibench._tf import keras, tf
from xaibench.models.inspect import (
    all_layers,
    find_layer_path,
    last_conv_path,
    layer_paths,
    path_name,
    trace,
)
from xaibench.models.protocol import ChannelOps, ModelAdapter, Weights, softmax

HEADS = ("raw", "probability", "logit")


# Heads: which scores are read, and how ----------------------------------------------------------


def ends_in_softmax(model) -> bool:
    """Whether ``model``'s last layer is a softmax (a Softmax layer or softmax activation)."""
    layers = getattr(model, "layers", None)
    if not layers:
        return False
    last = layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    if isinstance(last, keras.layers.Activation):
        return getattr(last.activation, "__name__", "") == "softmax"
    return getattr(getattr(last, "activation", None), "__name__", "") == "softmax"


def _pre_softmax(model):
    """``(inner, dense)`` for a softmax-ending model: ``inner`` maps the input to the final
    layer's input; ``dense`` is that final layer when it is a Dense with softmax activation (its
    kernel and bias then give the logits), else None (a Softmax or Activation layer)."""
    last = model.layers[-1]
    try:
        inner = keras.Model(model.inputs, last.input)
    except (AttributeError, ValueError) as err:
        raise ValueError(
            "output='logit' needs the model's pre-softmax output, but the model ends in softmax "
            "and is not a functional or Sequential model; pass a model that outputs logits"
        ) from err
    if isinstance(last, (keras.layers.Softmax, keras.layers.Activation)):
        return inner, None
    if isinstance(last, keras.layers.Dense):
        return inner, last
    raise ValueError(
        f"output='logit': cannot take logits from a final {type(last).__name__} layer with a "
        "softmax activation; end the model with Dense + Softmax, or pass a model that outputs logits"
    )


def _dense_logits(z, dense):
    """The pre-activation output of the Dense layer ``dense`` for its input ``z``."""
    if tf.is_tensor(z):
        z = tf.matmul(z, dense.kernel)
        return z + dense.bias if dense.use_bias else z
    z = z @ np.asarray(dense.kernel)
    return z + np.asarray(dense.bias) if dense.use_bias else z


def _head(model, output: str, run: Callable, softmax: Callable) -> Callable:
    """The one rule for reading scores of the kind ``output`` from ``model``: ``run(m)`` is the
    forward pass of a model ``m`` (on tensors or on arrays), ``softmax`` the matching softmax.
    A model that ends in softmax is not softmaxed twice; its logits are read from the input of
    that softmax (through the final Dense layer's kernel and bias when it carries the softmax)."""
    if output not in HEADS:
        raise ValueError(f"unknown output {output!r}; valid outputs: {', '.join(HEADS)}")
    softmaxed = ends_in_softmax(model)
    already = (output == "probability" and softmaxed) or (output == "logit" and not softmaxed)
    if output == "raw" or already:  # the model outputs what is asked for
        return run(model)
    if output == "probability":
        forward = run(model)
        return lambda x: softmax(forward(x))
    inner, dense = _pre_softmax(model)
    forward = run(inner)
    return forward if dense is None else (lambda x: _dense_logits(forward(x), dense))


def _call(model) -> Callable:
    return lambda x: model(x, training=False)


def score_fn(model, output: str) -> Callable:
    """``x -> (N, classes)`` tensor scores of the kind ``output`` (one of ``HEADS``), through the
    model's call (for gradients)."""
    return _head(model, output, _call, lambda z: tf.nn.softmax(z, axis=-1))


def _predict(model) -> Callable[[np.ndarray], np.ndarray]:
    """The model's compiled forward pass (Keras builds it once and keeps it on the model)."""
    if hasattr(model, "predict_on_batch"):
        return lambda x: np.asarray(model.predict_on_batch(x))
    return lambda x: np.asarray(model(x, training=False))


# Guided backpropagation: TensorFlow's Relu / Relu6 gradients overridden in a traced graph -------

_GUIDED = {"Relu": "XaibenchGuidedRelu", "Relu6": "XaibenchGuidedRelu6"}


def _guided_relu_grad(op, grad):
    """Backward pass of a guided ReLU: the incoming gradient where both the ReLU's input and the
    gradient are positive, 0 elsewhere."""
    return tf.where((op.inputs[0] > 0) & (grad > 0), grad, tf.zeros_like(grad))


def _guided_relu6_grad(op, grad):
    z = op.inputs[0]
    return tf.where((z > 0) & (z < 6) & (grad > 0), grad, tf.zeros_like(grad))


for _name, _fn in [(_GUIDED["Relu"], _guided_relu_grad), (_GUIDED["Relu6"], _guided_relu6_grad)]:
    try:
        tf.RegisterGradient(_name)(_fn)
    except KeyError:  # already registered (the module was reloaded)
        pass


class TensorFlowOps(ChannelOps):
    """``ChannelOps`` as TensorFlow ops (traced into the compiled map function)."""

    def mean(self, t, axis):
        return tf.reduce_mean(t, axis=axis)

    def sum(self, t, axis, keepdims=False):
        return tf.reduce_sum(t, axis=axis, keepdims=keepdims)

    def square(self, t):
        return tf.square(t)

    def relu(self, t):
        return tf.nn.relu(t)

    def divide_no_nan(self, a, b):
        return tf.math.divide_no_nan(a, b)


OPS = TensorFlowOps()


class KerasAdapter(ModelAdapter):
    """A Keras model (or a callable TensorFlow can trace) behind the protocol."""

    framework = "keras"

    def __init__(self, model, *, weak: bool = False):
        super().__init__(model, weak=weak)
        self._functions: dict = {}  # compiled functions, by what they compute
        self._width: int | None = None

    def _compiled(self, key, build: Callable[[Callable], Callable]) -> Callable:
        """``build(get_model)`` once per ``key``; the function it returns reaches the model
        through ``get_model()`` (a weak reference) when it is traced, never holding it."""
        if key not in self._functions:
            self._functions[key] = build(self._ref)
        return self._functions[key]

    def forward_fn(self, output):
        return _head(self.model, output, _predict, softmax)

    def gradient_fn(self, output="raw", *, guided=False):
        fn = self._guided() if guided else self._gradients(output)

        def gradients(x, y):
            g = fn(tf.convert_to_tensor(x), tf.convert_to_tensor(y))
            if g is None:
                raise ValueError(
                    "the model's class score has no gradient with respect to its input (the "
                    "model casts it to integers, or stops the gradient): gradient-based methods "
                    "cannot explain it"
                )
            return g.numpy()

        return gradients

    def _gradients(self, output: str):
        """A compiled ``(x, y) -> d f_y / d x``, traced once per kind of output."""

        def build(get_model):
            def gradients(x, y):
                fn = score_fn(get_model(), output)
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    s = tf.gather(fn(x), y, axis=1, batch_dims=1)
                return tape.gradient(s, x)

            return tf.function(gradients, reduce_retracing=True)

        return self._compiled(("gradients", output), build)

    def _guided(self):
        """A compiled ``(x, y) -> guided d f_y / d x``: the model runs unchanged inside a traced
        graph in which the gradients of TensorFlow's Relu and Relu6 ops are overridden
        (``gradient_override_map``, read by ``tf.gradients``): the user's model, its layers and
        its other compiled functions are not touched."""

        def build(get_model):
            def guided(x, y):
                fn = score_fn(get_model(), "raw")
                with tf.compat.v1.get_default_graph().gradient_override_map(_GUIDED):
                    s = tf.gather(fn(x), y, axis=1, batch_dims=1)
                (g,) = tf.gradients(s, x)
                return tf.zeros_like(x) if g is None else g

            return tf.function(guided, reduce_retracing=True)

        return self._compiled("guided_backprop", build)

    # Layers ---------------------------------------------------------------------------------

    def conv_layer(self, name, x=None):
        path = last_conv_path(self.model) if name is None else find_layer_path(self.model, name)
        return None if path is None else path_name(path)

    def _path(self, name: str) -> tuple:
        return find_layer_path(self.model, name)

    def cam_reason(self, layer, x=None):
        try:
            self._view(self._path(layer))
        except NotApplicable as err:
            return str(err)
        return None

    def _view(self, path: tuple):
        return self._compiled(
            ("cam_view", path_name(path)), lambda get: _feature_model(get(), path)
        )

    def cam_fn(self, layer, weights: Weights):
        path = self._path(layer)
        name = path_name(path)
        channels_first = getattr(path[-1], "data_format", "channels_last") == "channels_first"
        view = self._view

        def build(get_model):
            def cam(x, y):
                a, g = _maps_and_gradients(view(path), x, y, name)
                if channels_first:
                    a, g = tf.transpose(a, (0, 2, 3, 1)), tf.transpose(g, (0, 2, 3, 1))
                maps = tf.nn.relu(tf.einsum("nhwk,nk->nhw", a, weights(a, g, OPS)))
                return tf.image.resize(maps[..., None], tf.shape(x)[1:3], method="bilinear")[..., 0]

            return tf.function(cam, reduce_retracing=True)

        fn = self._compiled(("cam", name, weights.__qualname__), build)
        return lambda x, y: fn(tf.convert_to_tensor(x), tf.convert_to_tensor(y)).numpy()

    def layer_gradients(self, x, y, layer):
        path = self._path(layer)
        a, g = _maps_and_gradients_eager(self._view(path), x, y, path_name(path))
        if getattr(path[-1], "data_format", "channels_last") == "channels_first":
            a, g = np.moveaxis(a, 1, -1), np.moveaxis(g, 1, -1)
        return a, g

    # Weights --------------------------------------------------------------------------------

    def _weighted(self) -> list:
        return weighted_layers(self.model)

    def weighted_layers(self):
        return [layer.name for layer in self._weighted()]

    def get_layer_weights(self, k):
        return [v.numpy().copy() for v in _float_weights(self._weighted()[k])]

    def set_layer_weights(self, k, values):
        for v, value in zip(_float_weights(self._weighted()[k]), values, strict=True):
            v.assign(value)

    def layer_parameters(self, k):
        layer = self._weighted()[k]
        statistics = set()
        if isinstance(layer, keras.layers.BatchNormalization):
            statistics = {id(layer.moving_mean), id(layer.moving_variance)}
        return [id(v) not in statistics for v in _float_weights(layer)]

    def randomise_layer(self, k, seed):
        layer = self._weighted()[k]
        variables = _float_weights(layer)
        self.set_layer_weights(
            k, [_random_values(layer, v, seed + j) for j, v in enumerate(variables)]
        )

    def inference_model(self):
        """The model called with ``training=False`` (shap calls it plainly, and Keras layers such
        as ``Resizing`` default to training mode: a BatchNorm after them would then use batch
        statistics and update the user's moving ones)."""
        model = self.model
        inputs = keras.Input(tuple(model.inputs[0].shape[1:]), dtype=model.inputs[0].dtype)
        return keras.Model(inputs, model(inputs, training=False))

    def weights_hash(self):
        h = hashlib.sha256()
        # a callable TensorFlow traces has no Keras weights: as for ``weighted_layers``, none
        for w in getattr(self.model, "get_weights", list)():
            h.update(np.ascontiguousarray(w).tobytes())
        return h.hexdigest()[:16]

    def count_params(self):
        return int(self.model.count_params())

    def n_classes(self, x):
        """The model's static output width, else read from one forward pass of ``x[:1]``
        (once per model)."""
        try:
            width = self.model.output_shape[-1]
        except (AttributeError, ValueError, TypeError, IndexError):
            width = None
        if isinstance(width, (int, np.integer)):
            return int(width)
        if self._width is None:
            self._width = int(np.shape(self.forward_fn("raw")(x[:1]))[-1])
        return self._width

    def activation_values(self, input_shape):
        found = _layer_values(self.model, input_shape)
        return _traced_values(self.model, input_shape) if found is None else found


# Class activation maps ------------------------------------------------------------------------


def _feature_model(model, path: tuple):
    """``x -> [A, raw output]`` sharing ``model``'s layers, A the output of the layer
    ``path[-1]``; NotApplicable if it cannot be built."""
    name = path_name(path)
    try:
        view = trace(model, path)
    except (AttributeError, ValueError, TypeError) as err:
        raise NotApplicable(
            f"cannot read the output of layer {name!r} from the model's inputs ({err}); "
            "Grad-CAM traces Sequential and functional models, nested ones included, not "
            "subclassed ones"
        ) from err
    if len(view.outputs) != 2:
        raise NotApplicable(f"the model has {len(view.outputs) - 1} outputs; Grad-CAM needs one")
    maps = view.outputs[0]
    if len(maps.shape) != 4:
        raise NotApplicable(
            f"layer {name!r} outputs shape {tuple(maps.shape)}, not 2-D feature maps "
            "(N, h, w, channels)"
        )
    return view


def _maps_and_gradients(view, x, y, name: str):
    """(A, d f_y / d A) in a traced graph (``tf.gradients``: also when the layers are frozen)."""
    a, out = view(x, training=False)
    s = tf.gather(out, y, axis=1, batch_dims=1)
    (g,) = tf.gradients(s, a)
    if g is None:  # found while tracing: the output is not computed from these maps
        raise NotApplicable(
            f"the model's output does not depend on the feature maps of layer {name!r} in its graph"
        )
    return a, g


def _maps_and_gradients_eager(view, x, y, name: str) -> tuple[np.ndarray, np.ndarray]:
    fn = tf.function(lambda xs, ys: _maps_and_gradients(view, xs, ys, name))
    a, g = fn(tf.convert_to_tensor(x), tf.convert_to_tensor(y))
    return a.numpy(), g.numpy()


# Weights: model_randomisation's layers --------------------------------------------------------


def weighted_layers(model) -> list:
    """The layers of ``model`` holding float weights, input to output; nested models are
    descended into and each layer is listed once."""
    out, seen = [], set()
    for layer in all_layers(model):
        if getattr(layer, "layers", None) or id(layer) in seen:
            continue
        seen.add(id(layer))
        if any(keras.backend.is_float_dtype(v.dtype) for v in layer.weights):
            out.append(layer)
    return out


def _random_values(layer, variable, seed: int) -> np.ndarray:
    """New values for one weight of ``layer``: drawn from the layer's own initializer for it
    (``<name>_initializer``, reseeded with ``seed``), else from N(0, sd of the current values)."""
    init = getattr(layer, f"{variable.name}_initializer", None)
    shape = tuple(variable.shape)
    if isinstance(init, keras.initializers.Initializer):
        config = init.get_config()
        if "seed" in config:
            init = type(init).from_config({**config, "seed": seed})
        return np.asarray(init(shape, dtype=variable.dtype))
    current = variable.numpy()
    return np.random.default_rng(seed).normal(0.0, current.std(), shape).astype(current.dtype)


def _float_weights(layer) -> list:
    return [v for v in layer.weights if keras.backend.is_float_dtype(v.dtype)]


# The memory estimate (``models.batching``) ----------------------------------------------------


def _layer_values(model, shape: tuple) -> int | None:
    """The sum of the output sizes of ``model``'s layers (nested models: their layers), a layer
    with a non-linear activation counted twice; None when a layer's output shape is unknown or
    depends on the input size, or the model takes inputs of another shape."""
    declared = [tuple(t.shape)[1:] for t in getattr(model, "inputs", None) or []]
    if len(declared) != 1 or declared[0] != shape:
        return None
    total = 0
    for layer in all_layers(model):
        if getattr(layer, "layers", None) or isinstance(layer, keras.layers.InputLayer):
            continue  # a nested model is counted by its layers; the input is counted once
        try:
            outputs = keras.tree.flatten(layer.output)
        except (AttributeError, ValueError):  # never called symbolically
            return None
        for out in outputs:
            dims = tuple(out.shape)[1:]
            if None in dims:
                return None
            total += math.prod(dims) * (2 if _activates(layer) else 1)
    return total


def _activates(layer) -> bool:
    """Whether ``layer`` applies a non-linear activation of its own after its main operation."""
    activation = getattr(layer, "activation", None)
    if activation is None or isinstance(layer, keras.layers.Activation):
        return False
    return getattr(activation, "__name__", "") != "linear"


def _traced_values(model, shape: tuple) -> int | None:
    """The values of every tensor with a batch axis in ``model``'s forward pass traced for
    inputs of ``shape``, per input; None when the model cannot be traced."""
    try:
        graph = (
            tf.function(lambda x: model(x, training=False))
            .get_concrete_function(tf.TensorSpec((None, *shape), tf.float32))
            .graph
        )
    except (TypeError, ValueError, AttributeError, NotImplementedError, tf.errors.OpError):
        # what tracing raises on a model it cannot run symbolically (NotImplementedError: a
        # keras.Model subclass without call); the caller then sizes from the input alone
        return None
    total = 0
    for op in graph.get_operations():
        for t in op.outputs:
            if t.shape.rank and t.shape[0] is None and t.shape[1:].is_fully_defined():
                total += math.prod(t.shape[1:])
    return total


__all__ = ["KerasAdapter", "ends_in_softmax", "layer_paths", "score_fn", "weighted_layers"]
