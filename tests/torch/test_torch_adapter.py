"""The PyTorch adapter (xaibench/models/_torch.py): eval mode and the module's state, guided
ReLUs, layers, channel order, model_randomisation on torch, and torch imported only when used."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _tolerance import assert_roundoff_close, assert_scores_close
from _twins import assert_same_state, relu_cnn, state
from torch import nn

import xaibench as xb
from xaibench.methods import NotApplicable
from xaibench.models._torch import TorchAdapter
from xaibench.models.protocol import adapt

X = np.random.default_rng(5).uniform(0, 1, (3, 8, 8, 2)).astype(np.float32)
Y = np.array([0, 1, 2])


class Noisy(nn.Module):
    """A CNN with dropout and batch norm: in training mode its outputs are random and a forward
    pass updates the running statistics; it raises when ``fail`` is set."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4, 3)
        self.fail = False

    def forward(self, x):
        z = self.drop(F.relu(self.norm(self.conv(x))))
        if self.fail:
            raise RuntimeError("the forward pass failed")
        return self.head(z.mean(dim=(2, 3)))


def test_explanations_run_in_eval_mode_and_leave_mode_and_state_alone():
    net = Noisy().train()
    net.norm.eval()  # a submodule's own mode is restored too
    before = state(net)
    first = xb.methods.get("saliency")(net, X, Y)
    np.testing.assert_array_equal(xb.methods.get("saliency")(net, X, Y), first)  # no dropout
    net.eval()
    np.testing.assert_array_equal(xb.methods.get("saliency")(net, X, Y), first)
    net.train()
    net.norm.eval()
    assert net.training and net.drop.training and not net.norm.training
    assert_same_state(net, before)
    assert all(p.grad is None for p in net.parameters())


def test_a_failing_call_leaves_mode_and_state_alone():
    net = Noisy().train()
    before = state(net)
    xb.methods.get("saliency")(net, X, Y)  # probed while it works
    net.fail = True
    with pytest.raises(RuntimeError, match="forward pass failed"):
        xb.methods.get("grad_cam")(net, X, Y)
    assert net.training and net.drop.training
    assert_same_state(net, before)


def test_model_randomisation_restores_the_state_also_when_the_method_raises():
    net = Noisy().eval()
    before = state(net)
    a = xb.methods.get("saliency")(net, X, Y)
    q = xb.metrics.get("model_randomisation", seed=3)
    first = q(net, X, Y, a, explain=xb.methods.get("saliency"))
    assert_same_state(net, before)
    np.testing.assert_array_equal(q(net, X, Y, a, explain=xb.methods.get("saliency")), first)

    def failing(model, x, y):
        raise RuntimeError("explain failed")

    with pytest.raises(RuntimeError, match="explain failed"):
        q(net, X, Y, a, explain=failing)
    assert_same_state(net, before)


class Reordered(nn.Module):
    """Modules registered in another order than they run."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.head = nn.Linear(8 * 8 * 3, 3)
        self.second = nn.Conv2d(3, 3, 3, padding=1)
        self.first = nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x):
        return self.head(self.second(torch.relu(self.first(x))).flatten(1))


def test_model_randomisation_follows_the_execution_order_and_each_modules_own_init():
    """Layers top first in the order the forward pass runs them; a step's weights are the
    module's ``reset_parameters()`` under a torch generator seeded with the step's seed (the
    metric's draws from ``default_rng(seed)``): the method then explains the same model as a
    twin randomised by hand."""
    net = Reordered().eval()
    q = xb.metrics.get("model_randomisation", layers=1, seed=4)
    saliency = xb.methods.get("saliency")
    seen = []

    def recording(model, x, y):
        seen.append(saliency(model, x, y))
        return seen[-1]

    q(net, X, Y, saliency(net, X, Y), explain=recording)
    assert q.randomised_layers(net) == ["head"]
    assert xb.metrics.get("model_randomisation").randomised_layers(net) == [
        "head",
        "second",
        "first",
    ]
    seed = int(np.random.default_rng(4).integers(0, 2**31 - 1 - 1000, size=3)[0])
    twin = Reordered().eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        twin.head.reset_parameters()
    assert not torch.equal(twin.head.weight, net.head.weight)
    np.testing.assert_array_equal(seen[0], saliency(twin, X, Y))


class AllReLUs(nn.Module):
    """Every ReLU spelling the guided mode covers, and their nn.ReLU twin (``modules=True``)."""

    def __init__(self, modules: bool):
        super().__init__()
        torch.manual_seed(3)
        self.modules_only = modules
        self.layers = nn.ModuleList(nn.Linear(6, 6) for _ in range(6))
        self.out = nn.Linear(6, 3)
        self.relu, self.relu6 = nn.ReLU(inplace=True), nn.ReLU6()

    def forward(self, x):
        z = x
        for i, layer in enumerate(self.layers):
            z = 4 * layer(z)
            if self.modules_only:
                z = self.relu6(z) if i == 5 else self.relu(z)
                continue
            spell = [F.relu, torch.relu, torch.Tensor.relu, lambda t: t.relu_(), F.relu_, F.relu6]
            z = spell[i](z)
        return self.out(z)


def test_guided_backprop_covers_modules_and_functional_relus():
    """F.relu, torch.relu, Tensor.relu, Tensor.relu_, F.relu_ and F.relu6 are guided as the
    nn.ReLU / nn.ReLU6 modules are; the hand-made guided gradient of the modules' model is the
    reference (Captum's, in test_torch_captum.py, covers the modules)."""
    x = np.random.default_rng(6).normal(0, 1, (4, 6)).astype(np.float32)
    y = np.array([0, 1, 2, 0])
    modules, functional = AllReLUs(True), AllReLUs(False)
    functional.load_state_dict(modules.state_dict())
    guided = xb.methods.get("guided_backprop")
    expected = guided(modules, x, y)
    assert_roundoff_close(guided(functional, x, y), expected)
    assert not np.allclose(expected, xb.methods.get("saliency")(modules, x, y))
    # the hand-made guided backward pass of the modules' model
    t = torch.from_numpy(x)
    zs = []
    with torch.no_grad():
        z = t
        for i, layer in enumerate(modules.layers):
            zs.append(4 * layer(z))
            z = zs[-1].clamp(0, 6) if i == 5 else zs[-1].clamp(min=0)
        g = modules.out.weight[torch.from_numpy(y)]
        for i in reversed(range(6)):
            keep = (zs[i] > 0) & (g > 0) & ((zs[i] < 6) if i == 5 else True)
            g = (g * keep) @ (4 * modules.layers[i].weight)
    assert_roundoff_close(expected, g.numpy())


def test_channel_order_is_found_or_declared():
    keras_model, net = relu_cnn()
    assert adapt(net).channels_first
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 2, 3))
    assert not adapt(mlp).channels_first  # no convolution: the data go in as they are
    a = xb.methods.get("saliency")(mlp, X, Y)
    w = mlp[1].weight.detach().numpy()  # the gradient of a linear model: its row, NHWC order
    assert_roundoff_close(a, np.abs(w[Y]).reshape(X.shape))
    declared = TorchAdapter(mlp, channels_first=True)
    a_cf = xb.methods.get("saliency")(declared, X, Y)  # read as NCHW, returned NHWC
    assert_roundoff_close(a_cf, np.abs(w[Y]).reshape(3, 2, 8, 8).transpose(0, 2, 3, 1))


def test_grad_cam_layers_by_module_path():
    _, net = relu_cnn()
    assert_roundoff_close(
        xb.methods.get("grad_cam", layer="conv2")(net, X, Y), xb.methods.get("grad_cam")(net, X, Y)
    )
    with pytest.raises(ValueError, match=r"layer='conv9' is not a module.*'conv1', 'conv2'"):
        xb.methods.get("grad_cam", layer="conv9")(net, X, Y)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.head = nn.Linear(2, 3)

        def forward(self, x):
            return self.head(self.conv(self.conv(x)).mean(dim=(2, 3)))

    with pytest.raises(NotApplicable, match="called 2 times"):
        xb.methods.get("grad_cam")(Twice(), X, Y)
    with pytest.raises(NotApplicable, match="no convolutional layer"):
        xb.methods.get("grad_cam")(nn.Sequential(nn.Flatten(), nn.Linear(128, 3)), X, Y)


def test_a_softmax_ending_module_is_not_softmaxed_twice():
    _, net = relu_cnn()
    ends = nn.Sequential(net, nn.Softmax(dim=1))
    for output in ["probability", "logit"]:
        q = xb.metrics.get("deletion", steps=4, output=output)
        a = xb.methods.get("saliency")(net, X, Y)
        assert_scores_close(q(ends, X, Y, a), q(net, X, Y, a))


def test_batch_size_auto_and_results_do_not_depend_on_the_batch_size():
    _, net = relu_cnn()
    from xaibench.models.batching import activation_values

    assert activation_values(net, (8, 8, 2)) > 8 * 8 * 4 * 2  # two conv maps and more
    auto = xb.methods.get("integrated_gradients", steps=4)(net, X, Y)
    one = xb.methods.get("integrated_gradients", steps=4, batch_size=1)(net, X, Y)
    assert_roundoff_close(one, auto)


def test_what_cannot_work_on_torch_is_not_applicable_with_a_reason():
    pytest.importorskip("shap")
    _, net = relu_cnn()
    reason = xb.methods.get("shap_gradient").applicable(net, X)
    assert reason and "Keras models only" in reason


def test_torch_is_imported_only_when_a_torch_model_is_used():
    code = """
import sys, numpy as np, xaibench as xb
from xaibench._tf import keras
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
x = np.ones((2, 4), np.float32)
xb.evaluate(model, x, [0, 1], methods=["saliency", "guided_backprop"], metrics=["deletion"])
assert "torch" not in sys.modules, "torch was imported"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_fully_randomised_explanation_is_shared_on_torch_too():
    """A module's layers re-initialised top down (model_randomisation) or bottom up
    (efficient_mprt) reach the same state (each under its own seeded generator): efficient_mprt
    after model_randomisation explains nothing and scores what it scores alone (bitwise)."""
    from xaibench.metrics.randomisation import _randomised

    net = Reordered().eval()
    saliency = xb.methods.get("saliency")
    a = saliency(net, X, Y)
    calls = []

    def counting(model, x, y):
        calls.append(len(x))
        return saliency(model, x, y)

    _randomised._LAST.clear()
    alone = xb.metrics.get("efficient_mprt")(net, X, Y, a, explain=counting)
    assert calls == [len(X)]
    _randomised._LAST.clear()
    xb.metrics.get("model_randomisation")(net, X, Y, a, explain=counting)
    assert len(calls) == 1 + 3
    shared = xb.metrics.get("efficient_mprt")(net, X, Y, a, explain=counting)
    assert len(calls) == 4
    np.testing.assert_array_equal(shared, alone)
