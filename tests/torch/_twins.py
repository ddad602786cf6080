"""PyTorch twins of Keras test models: the same weights in both frameworks, so every method and
metric must give the same numbers on both up to float32 round-off (``_tolerance``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from xaibench._tf import keras


class ChannelsLastFlatten(nn.Module):
    """Flatten (N, C, H, W) feature maps in Keras's (N, H, W, C) order."""

    def forward(self, z):
        return z.permute(0, 2, 3, 1).flatten(1)


def _set_conv(conv: nn.Conv2d, kernel: np.ndarray, bias: np.ndarray) -> None:
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
        conv.bias.copy_(torch.from_numpy(bias))


def _set_dense(linear: nn.Linear, kernel: np.ndarray, bias: np.ndarray) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
        linear.bias.copy_(torch.from_numpy(bias))


def relu_cnn(shape=(8, 8, 2), n_out=3, *, seed=0):
    """``(keras_model, torch_module)``: Conv(4, 3x3, same) + ReLU, Conv(4, 3x3, same), ReLU,
    Flatten (channels last) and Dense, with the same seeded weights (the last convolution
    without a fused activation: a Keras Conv2D's output is after its activation, a torch
    Conv2d's before the ReLU that follows it). The torch twin uses an
    ``nn.ReLU`` module and a functional ``F.relu`` (both are guided by guided backprop)."""
    rng = np.random.default_rng(seed)
    h, w, c = shape
    k1 = rng.normal(0, 0.5, (3, 3, c, 4)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 4).astype(np.float32)
    k2 = rng.normal(0, 0.4, (3, 3, 4, 4)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 4).astype(np.float32)
    kd = rng.normal(0, 0.3, (h * w * 4, n_out)).astype(np.float32)
    bd = rng.normal(0, 0.1, n_out).astype(np.float32)
    conv1 = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")
    conv2 = keras.layers.Conv2D(4, 3, padding="same", name="conv2")  # Grad-CAM's layer
    dense = keras.layers.Dense(n_out, name="dense")
    relu, flatten = keras.layers.ReLU(), keras.layers.Flatten()
    k = keras.Sequential([keras.Input(shape), conv1, conv2, relu, flatten, dense])
    conv1.set_weights([k1, b1])
    conv2.set_weights([k2, b2])
    dense.set_weights([kd, bd])
    t = TwinCNN(c, h * w * 4, n_out)
    _set_conv(t.conv1, k1, b1)
    _set_conv(t.conv2, k2, b2)
    _set_dense(t.dense, kd, bd)
    return k, t


class TwinCNN(nn.Module):
    def __init__(self, c: int, flat: int, n_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.flatten = ChannelsLastFlatten()
        self.dense = nn.Linear(flat, n_out)

    def forward(self, x):
        z = self.relu(self.conv1(x))
        z = torch.nn.functional.relu(self.conv2(z))
        return self.dense(self.flatten(z))


def tanh_mlp(n_in=6, n_hidden=8, n_out=3, *, seed=0):
    """``(keras_model, torch_module)``: Dense(tanh) + Dense on tabular rows (``_tiny.smooth_mlp``)."""
    import _tiny

    model, (w1, b1, w2, b2) = _tiny.smooth_mlp(n_in, n_hidden, n_out, seed=seed)
    t = nn.Sequential(nn.Linear(n_in, n_hidden), nn.Tanh(), nn.Linear(n_hidden, n_out))
    _set_dense(t[0], w1, b1)
    _set_dense(t[2], w2, b2)
    return model, t


def state(module: nn.Module) -> dict:
    """A copy of ``module``'s state_dict, for bitwise comparisons."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_state(module: nn.Module, before: dict) -> None:
    after = module.state_dict()
    assert list(after) == list(before)
    for k, v in before.items():
        assert torch.equal(after[k], v), k
