"""The model protocol: what methods and metrics ask of a model, in numpy, whatever its framework.

Methods and metrics never touch a framework (``tests/test_layers.py``): they reach a model
through ``adapt(model)``, a ``ModelAdapter`` that speaks numpy at xaibench's boundary (inputs
float32 (N, H, W, C) images or (N, F) rows, targets int64 (N,)) and returns numpy: scores,
gradients of the target output w.r.t. the input (also guided), class activation maps from a
layer's feature maps and their gradients, the weighted layers with get / set / seeded
re-initialisation, a weights hash, the parameter and class counts and a per-input memory
estimate. The way Quantus hides Keras and PyTorch behind one model interface, but with the
gradient in the protocol.

Two adapters implement it: Keras (``models/_keras.py``: a Keras 3 model on the TensorFlow
backend, or any callable ``x -> scores`` TensorFlow can trace) and PyTorch (``models/_torch.py``:
a ``torch.nn.Module``), each imported only when a model of its framework is used. A framework
is added by one more subclass and one more line in ``_adapter_class``. An adapter given as the
model is used as it is (``TorchAdapter(module, channels_first=False)`` declares what cannot be
found out). Adapters are cached per model in a ``WeakKeyDictionary`` and hold the model only
weakly, so an entry goes away with its model and nothing is written onto the user's object.
"""

from __future__ import annotations

import abc
import sys
import weakref
from collections.abc import Callable

import numpy as np


class ChannelOps(abc.ABC):
    """The few array operations a class-activation-map method writes its channel weights with
    (``CAMMethod.channel_weights(a, g, ops)``), in the adapter's framework, so the weights are
    computed where the maps are (on tensors, inside a compiled function for Keras)."""

    @abc.abstractmethod
    def mean(self, t, axis): ...

    @abc.abstractmethod
    def sum(self, t, axis, keepdims: bool = False): ...

    @abc.abstractmethod
    def square(self, t): ...

    @abc.abstractmethod
    def relu(self, t): ...

    @abc.abstractmethod
    def divide_no_nan(self, a, b):
        """a / b, 0 where b is 0."""


class NumpyOps(ChannelOps):
    """``ChannelOps`` on numpy arrays (for tests and reference computations)."""

    def mean(self, t, axis):
        return np.mean(t, axis=axis)

    def sum(self, t, axis, keepdims=False):
        return np.sum(t, axis=axis, keepdims=keepdims)

    def square(self, t):
        return np.square(t)

    def relu(self, t):
        return np.maximum(t, 0)

    def divide_no_nan(self, a, b):
        safe = np.where(b == 0, 1, b)
        return np.where(b == 0, 0, a / safe)


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis in float64 (the probabilities metrics read)."""
    z = z.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


Weights = Callable[..., object]  # channel_weights(a, g, ops) -> (n, K), in the adapter's framework


class ModelAdapter(abc.ABC):
    """One model behind the protocol. Subclasses implement the abstract methods on one batch;
    batching, memory budgets and validation stay in ``models/outputs.py``, ``models/batching.py``
    and the methods and metrics."""

    framework: str = ""  # "keras", "torch": stored with a model's settings where not "keras"

    def __init__(self, model, *, weak: bool = False):
        """``weak``: hold ``model`` through a weak reference (the adapters ``adapt`` makes and
        caches per model); an adapter a user makes holds its model."""
        ref = lambda: model  # noqa: E731
        if weak:
            try:
                ref = weakref.ref(model)
            except TypeError:  # a model that cannot be weakly referenced is held
                pass
        self._ref = ref

    @property
    def model(self):
        """The wrapped model (its framework's object)."""
        return self._ref()

    # Scores and gradients, one batch at a time -----------------------------------------------

    @abc.abstractmethod
    def forward_fn(self, output: str) -> Callable[[np.ndarray], np.ndarray]:
        """``x -> (n, classes)`` numpy scores of the kind ``output`` ("raw", "probability",
        "logit": ``models.outputs.HEADS``); a model ending in softmax is not softmaxed twice."""

    @abc.abstractmethod
    def gradient_fn(
        self, output: str = "raw", *, guided: bool = False
    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """``(x, y) -> d f_y / d x`` float32 numpy of x's shape, f the scores of the kind
        ``output``; ``guided``: every ReLU's backward pass is a guided ReLU (guided backprop)."""

    # Layers -------------------------------------------------------------------------------------

    @abc.abstractmethod
    def conv_layer(self, name: str | None, x: np.ndarray | None = None) -> str | None:
        """The name of the layer ``name`` (ValueError naming the choices when there is none), or
        of the last convolutional layer when ``name`` is None (None when there is none). ``x``:
        sample inputs, for frameworks that find the layer order by running the model."""

    @abc.abstractmethod
    def cam_reason(self, layer: str, x: np.ndarray | None = None) -> str | None:
        """None when class activation maps can be read at ``layer``, else the reason."""

    @abc.abstractmethod
    def cam_fn(
        self, layer: str, weights: Weights
    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """``(x, y) -> ReLU(sum_k w_k A^k)`` upsampled bilinearly (half-pixel centres) to x's
        H x W, float32 (n, H, W); A (n, h, w, K) the feature maps of ``layer``, G = d f_y / d A
        (f the raw output) and w = ``weights(A, G, ops)`` (n, K), ``ops`` a ``ChannelOps``."""

    @abc.abstractmethod
    def layer_gradients(
        self, x: np.ndarray, y: np.ndarray, layer: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """The feature maps A of ``layer`` and G = d f_y / d A (f the raw output), float32 numpy
        (n, h, w, K) channels-last, for one batch."""

    @abc.abstractmethod
    def weighted_layers(self) -> list[str]:
        """The names of the layers holding float weights, input to output (each once)."""

    @abc.abstractmethod
    def get_layer_weights(self, k: int) -> list[np.ndarray]:
        """Copies of the float weights of layer ``k`` of ``weighted_layers()``."""

    @abc.abstractmethod
    def set_layer_weights(self, k: int, values: list[np.ndarray]) -> None:
        """Set the float weights of layer ``k`` (as ``get_layer_weights`` gives them)."""

    @abc.abstractmethod
    def layer_parameters(self, k: int) -> list[bool]:
        """For each array of ``get_layer_weights(k)``: whether it is a parameter of the layer
        (PyTorch's ``parameters()``), not a statistic it keeps (batch normalisation's moving
        mean and variance, PyTorch's buffers). The model perturbation test perturbs those
        (``models.perturb.scaled_weights``)."""

    @abc.abstractmethod
    def randomise_layer(self, k: int, seed: int) -> None:
        """Re-initialise layer ``k``'s float weights as the layer's own initialisation would,
        seeded with ``seed`` (the same seed gives the same weights)."""

    def inference_model(self):
        """The model as an object of its framework called in inference mode, for an outside
        library that takes such models (shap's GradientExplainer); NotApplicable where there is
        none (the default)."""
        from xaibench._checks import NotApplicable

        raise NotApplicable(f"an outside library cannot be handed a {self.framework} model here")

    # What the store and the memory budget read --------------------------------------------------

    @abc.abstractmethod
    def weights_hash(self) -> str:
        """A short hash of every weight (the model's identity in cache and cell keys); a model
        without weights the adapter can read (a plain callable) hashes the empty list."""

    @abc.abstractmethod
    def count_params(self) -> int:
        """The number of parameters."""

    @abc.abstractmethod
    def n_classes(self, x: np.ndarray) -> int:
        """The number of classes the model scores (``x``: sample inputs if it must run)."""

    @abc.abstractmethod
    def activation_values(self, input_shape: tuple) -> int | None:
        """Values one input of ``input_shape`` occupies in a call beyond the input itself (the
        sum of the activations a gradient call may keep), or None when it cannot be told."""


# Adapters per model: weak keys, and an adapter holds its model only weakly (see the docstring).
_ADAPTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_torch_module(model) -> bool:
    """Whether ``model`` is a ``torch.nn.Module``, without importing torch when it is not
    imported already (a torch module cannot exist before)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def _adapter_class(model) -> type[ModelAdapter]:
    if is_torch_module(model):
        from xaibench.models._torch import TorchAdapter

        return TorchAdapter
    from xaibench.models._keras import KerasAdapter

    return KerasAdapter


def adapt(model) -> ModelAdapter:
    """The ``ModelAdapter`` of ``model``: ``model`` itself when it is one, else the adapter of
    its framework (a ``torch.nn.Module``: PyTorch; anything else: Keras / TensorFlow), made
    once per model."""
    if isinstance(model, ModelAdapter):
        return model
    try:
        return _ADAPTERS[model]
    except KeyError:
        pass
    except TypeError:  # not a weak key: an adapter for this call only
        return _adapter_class(model)(model)
    adapter = _ADAPTERS[model] = _adapter_class(model)(model, weak=True)
    return adapter


def framework(model) -> str:
    """The framework of ``model`` ("keras", "torch") without importing any."""
    if isinstance(model, ModelAdapter):
        return model.framework
    return "torch" if is_torch_module(model) else "keras"
