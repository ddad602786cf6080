"""Tiny Keras models with hand-set weights, whose outputs and gradients are known in closed form.

Every builder returns a model built with ``keras.Sequential`` + ``keras.Input`` and weights set by
``layer.set_weights`` (no training); the numpy helpers compute the same outputs independently.
"""

from __future__ import annotations

import numpy as np

from xaibench._tf import keras


def linear_tabular(w, b, *, activation=None):
    """``Dense`` model x -> x @ w + b on tabular rows (N, F); ``w`` is (F, C), ``b`` is (C,)."""
    w = np.asarray(w, np.float32)
    b = np.asarray(b, np.float32)
    dense = keras.layers.Dense(w.shape[1], activation=activation)
    model = keras.Sequential([keras.Input((w.shape[0],)), dense])
    dense.set_weights([w, b])
    return model


def linear_image(w, b, shape):
    """Flatten + Dense on images of ``shape`` (H, W, C); ``w`` is (H*W*C, classes)."""
    w = np.asarray(w, np.float32)
    b = np.asarray(b, np.float32)
    dense = keras.layers.Dense(w.shape[1])
    model = keras.Sequential([keras.Input(tuple(shape)), keras.layers.Flatten(), dense])
    dense.set_weights([w, b])
    return model


def smooth_mlp(n_in, n_hidden=8, n_out=3, *, seed=0):
    """Dense(tanh) then Dense: a smooth nonlinear tabular model with seeded weights.

    Returns ``(model, (w1, b1, w2, b2))``.
    """
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.8, (n_in, n_hidden)).astype(np.float32)
    b1 = rng.normal(0, 0.3, n_hidden).astype(np.float32)
    w2 = rng.normal(0, 0.8, (n_hidden, n_out)).astype(np.float32)
    b2 = rng.normal(0, 0.3, n_out).astype(np.float32)
    d1 = keras.layers.Dense(n_hidden, activation="tanh")
    d2 = keras.layers.Dense(n_out)
    model = keras.Sequential([keras.Input((n_in,)), d1, d2])
    d1.set_weights([w1, b1])
    d2.set_weights([w2, b2])
    return model, (w1, b1, w2, b2)


def small_cnn(shape=(4, 4, 2), n_out=3, *, seed=0):
    """Conv2D(tanh) + Flatten + Dense on images of ``shape``, seeded weights (no closed form needed)."""
    rng = np.random.default_rng(seed)
    conv = keras.layers.Conv2D(3, 2, padding="same", activation="tanh")
    dense = keras.layers.Dense(n_out)
    model = keras.Sequential([keras.Input(tuple(shape)), conv, keras.layers.Flatten(), dense])
    kc = rng.normal(0, 0.5, (2, 2, shape[-1], 3)).astype(np.float32)
    conv.set_weights([kc, rng.normal(0, 0.1, 3).astype(np.float32)])
    n_flat = shape[0] * shape[1] * 3
    dense.set_weights(
        [
            rng.normal(0, 0.5, (n_flat, n_out)).astype(np.float32),
            rng.normal(0, 0.1, n_out).astype(np.float32),
        ]
    )
    return model


def softmax(z):
    """Row-wise softmax in float64."""
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def top_k_mask(a, k):
    """Boolean mask of the ``k`` features with the highest signed ``a`` (1-D), ties to the lower index."""
    order = sorted(range(len(a)), key=lambda i: (-a[i], i))
    mask = np.zeros(len(a), bool)
    mask[order[:k]] = True
    return mask


def builtin(registry) -> list[str]:
    """Names of the components xaibench ships in ``registry`` (not ones registered by tests or
    users), sorted."""
    return [n for n in registry.names() if registry.cls(n).__module__.startswith("xaibench.")]
