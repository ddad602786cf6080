"""Memory-aware batch sizes: the model inputs per call that ``batch_size="auto"`` chooses.

Every method and metric takes ``batch_size``: a positive integer (model inputs per call, as
given) or ``"auto"`` (the default), resolved where the model is called by ``model_batch``: as
many inputs per call as keep the call's extra memory under ``memory_budget()`` (2 GiB, or
``$XAIBENCH_MEMORY_GIB``), at most ``MAX_BATCH`` and at least one. Results do not depend on the
batch size beyond round-off, so "auto" changes memory and speed, never scores.

The estimate of one input's memory is read from the model's layers (``activation_values``): the
sum of the output sizes of every layer, nested models and backbones included, counted as float32
values, plus the input itself; a layer with a non-linear ``activation`` setting counts its
output twice (the pre-activation is a tensor of its own). A gradient call may keep every one of
them for its backward pass (``GRADIENT_FACTOR`` = 1); a forward call frees an output once the
layers reading it ran (``FORWARD_FACTOR`` = 0.5). Measured on this machine (TensorFlow 2.21 on
CPU; peak RSS of one ``class_scores`` / ``target_gradients`` call over the RSS before it, in a
fresh process after a warm-up call; "per input" = the slope between 8 and 32 inputs; VGG16's
and ResNet50's classifiers with 10 classes, weights=None; MiB)::

    224x224x3     estimate       batch  forward  gradient     per input: forward  gradient
                  per input                                        (share of the estimate)
    MobileNetV2    83.2 MiB          1       24         3
                   (21.8 M values)   8      145       224            15.2 (0.18)  26.7 (0.32)
                                    32      509       865
    ResNet50      141.6 MiB          1       19         0
                   (37.1 M values)   8      106       370            11.6 (0.08)  44.0 (0.31)
                                    32      384      1425
    VGG16         109.9 MiB          1        2        10
                   (28.8 M values)   8       51       144            17.0 (0.15)  50.2 (0.46)
                                    32      458      1348

(batch 1 is the warm-up's own size: its memory is already held.) The measured memory per input
is 0.08-0.18 of the estimate for a forward call and 0.31-0.46 for a gradient call, so the
factors 0.5 and 1 leave a margin of at least 2.2x for architectures whose layers hold more than
their outputs; the fixed cost of a call (its trace, 40-140 MiB) is not per input and stays
outside the budget. The chosen batches at 224x224: MobileNetV2 24 gradients / 49 forwards,
ResNet50 14 / 28, VGG16 18 / 37; the zoo's ``cnn`` at 28x28 256 / 256 (the cap). Measured at
those batches the same way: MobileNetV2 656 / 751 MiB, ResNet50 636 / 363, VGG16 364 / 626, at
most 37% of the budget. A CPU is no faster per input in larger batches at that size
(MobileNetV2 gradients: 0.037 s per input at 8, 0.038 at 24, 0.059 at 32; 2 shared cores).

A model whose layers do not tell their output shapes (a subclassed model, a model built for
inputs of any size, one given as a plain callable) is probed instead: its forward pass is traced
once for inputs of the given shape, and every tensor with a batch axis in that graph is counted
(more than the layers' outputs: 1.3-1.6x for the three networks above, so the same factors
are conservative there). A model that cannot be traced counts ``FALLBACK_VALUES`` values per
input value. The estimate is cached per model and input shape, weakly keyed like the compiled
gradient functions (``models.outputs``).

>>> import numpy as np
>>> from xaibench._tf import keras
>>> mlp = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
...                         keras.layers.Dense(3)])
>>> activation_values(mlp, (4,))  # 4 (input) + 8 x 2 (Dense + ReLU) + 3
23
>>> model_batch("auto", mlp, (4,), gradient=True), model_batch(16, mlp, (4,), gradient=True)
(256, 16)
"""

from __future__ import annotations

import math
import os
import weakref

from xaibench._checks import check_batch_size
from xaibench.models.protocol import adapt

# The memory one call of the model may take beyond the model's own footprint (its weights and
# TensorFlow), in GiB: 2 GiB leaves room on an 8 GiB laptop for the model, the data, the copies
# a method builds (``_checks.CHUNK_VALUES``) and the rest of the machine. The environment
# variable ``XAIBENCH_MEMORY_GIB`` overrides it (e.g. 0.5 on a small CI runner, 8 on a server).
MEMORY_GIB = 2.0
MEMORY_ENV = "XAIBENCH_MEMORY_GIB"
# The largest batch "auto" chooses: the fixed default before "auto" existed, so that small
# inputs (8x8 to 32x32 images, tabular rows) run in the same batches as before, no slower.
MAX_BATCH = 256
# Bytes per input per estimated value (float32, 4 bytes, times the share a call keeps; see the
# table in the module docstring for the measured shares).
FORWARD_FACTOR = 0.5
GRADIENT_FACTOR = 1.0
# Values per input value for a model neither its layers nor a trace can size: the ratio of the
# three networks above is 100-250 at 224x224, so 256 is conservative for image networks.
FALLBACK_VALUES = 256

# Estimated values per input, per model and input shape (weak keys: an entry goes with its model).
_VALUES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def memory_budget() -> float:
    """The memory budget of one model call in bytes: ``$XAIBENCH_MEMORY_GIB`` GiB when set,
    else ``MEMORY_GIB`` GiB. ValueError naming the variable when it is not a positive number."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if not text:
        return MEMORY_GIB * 2**30
    try:
        gib = float(text)
    except ValueError:
        gib = math.nan
    if not 0 < gib < math.inf:
        raise ValueError(
            f"{MEMORY_ENV} must be a positive number of GiB (e.g. 0.5 or 8; unset: "
            f"{MEMORY_GIB:g}), got {text[:40]!r}"
        )
    return gib * 2**30


def model_batch(batch_size, model, input_shape, *, gradient: bool) -> int:
    """Model inputs per call: ``batch_size`` itself when it is an integer; for ``"auto"``, as many
    inputs of ``input_shape`` (one sample's shape) as keep a call of ``model`` (forward, or
    forward and backward with ``gradient``) within ``memory_budget()``, at most ``MAX_BATCH``,
    at least 1. ``model`` None (a method that reads no model) counts the input alone."""
    batch_size = check_batch_size(batch_size)
    if batch_size != "auto":
        return batch_size
    factor = GRADIENT_FACTOR if gradient else FORWARD_FACTOR
    per_input = 4 * factor * activation_values(model, input_shape)
    return int(min(MAX_BATCH, max(1, memory_budget() // per_input)))


def activation_values(model, input_shape) -> int:
    """The estimated values one input of ``input_shape`` occupies in a call of ``model``: the
    input plus what the model's adapter counts (``ModelAdapter.activation_values``; Keras: every
    layer's outputs, else a probe's count; PyTorch: the tensors of one sample's forward pass),
    else ``FALLBACK_VALUES`` per input value. Cached per (model, input shape)."""
    shape = tuple(int(d) for d in input_shape)
    size = math.prod(shape)
    if model is None:
        return size
    try:
        cache = _VALUES.setdefault(model, {})
    except TypeError:  # a model that cannot be a weak key: estimate for this call only
        cache = {}
    if shape not in cache:
        found = adapt(model).activation_values(shape)
        cache[shape] = size + (FALLBACK_VALUES * size if found is None else found)
    return cache[shape]
