"""Built-in architectures, built with seeded initialisers (no global seeding)."""

from __future__ import annotations

from collections.abc import Callable

from xaibench._tf import keras

# Bump when an architecture or its training changes: cached models of other versions are not reused.
ZOO_VERSION = 1


class _Seeds:
    """Distinct initialiser seeds for the layers of one model."""

    def __init__(self, seed: int):
        self.seed = seed * 1000

    def __call__(self) -> keras.initializers.Initializer:
        self.seed += 1
        return keras.initializers.GlorotUniform(seed=self.seed)


def linear(input_shape, n_classes: int, seed: int) -> keras.Model:
    """One dense layer on the flattened input: logits = W x + b."""
    init = _Seeds(seed)
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(n_classes, kernel_initializer=init(), name="logits"),
        ],
        name="linear",
    )


def cnn(input_shape, n_classes: int, seed: int) -> keras.Model:
    """Two 3x3 convolutions (16, 32 filters, ReLU), 2x2 max-pooling, dense 64, logits."""
    if len(input_shape) != 3:
        raise ValueError(f"cnn needs image inputs (H, W, C), got input shape {input_shape}")
    init = _Seeds(seed)
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(
                16, 3, padding="same", activation="relu", kernel_initializer=init()
            ),
            keras.layers.Conv2D(
                32, 3, padding="same", activation="relu", kernel_initializer=init()
            ),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu", kernel_initializer=init()),
            keras.layers.Dense(n_classes, kernel_initializer=init(), name="logits"),
        ],
        name="cnn",
    )


# name -> (builder, input kinds, epochs, learning rate)
ARCHITECTURES: dict[str, tuple[Callable[..., keras.Model], tuple[str, ...], int, float]] = {
    "linear": (linear, ("image", "tabular"), 40, 5e-3),
    "cnn": (cnn, ("image",), 15, 2e-3),
}
