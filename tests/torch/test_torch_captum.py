"""On the same torch CNN, xaibench's attributions equal Captum's (the outside reference) to
float32 round-off, where both define the same method: saliency, integrated gradients (the same
steps and trapezoid rule), gradient x input, occlusion, guided backprop and Grad-CAM (upsampled)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tolerance import assert_roundoff_close
from _twins import ChannelsLastFlatten, assert_same_state, state
from torch import nn

import xaibench as xb

captum_attr = pytest.importorskip("captum.attr")

H = W = 8


@pytest.fixture(scope="module")
def cnn():
    """nn.ReLU modules only (Captum's guided backprop overrides ReLU modules, not functional
    ReLUs), a pooling layer and channels-last flattening, seeded weights."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        ChannelsLastFlatten(),
        nn.Linear(6 * (H // 2) * (W // 2), 4),
    )
    x = np.random.default_rng(0).uniform(0, 1, (3, H, W, 3)).astype(np.float32)
    return model.eval(), x, np.array([0, 3, 1])


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def attribute(cls, model, x, y, *args, **kwargs):
    """Captum's ``cls(model, *args).attribute(x, target=y, **kwargs)`` on NCHW inputs."""
    return cls(model, *args).attribute(nchw(x), target=torch.from_numpy(y), **kwargs)


def test_saliency(cnn):
    model, x, y = cnn
    expected = nhwc(attribute(captum_attr.Saliency, model, x, y, abs=True))
    assert_roundoff_close(xb.methods.get("saliency")(model, x, y), expected)


def test_gradient_x_input(cnn):
    model, x, y = cnn
    expected = nhwc(attribute(captum_attr.InputXGradient, model, x, y))
    assert_roundoff_close(xb.methods.get("gradient_x_input")(model, x, y), expected)


def test_integrated_gradients_with_the_same_trapezoid_rule(cnn):
    """xaibench's ``steps`` intervals are Captum's ``n_steps = steps + 1`` points of
    ``riemann_trapezoid`` at the same alphas (linspace(0, 1, n)). Captum weights them 1/n (end
    points halved), so its weights add up to (n - 1)/n = steps/(steps + 1), not 1: its
    attributions are xaibench's (weights 1/steps, the trapezoid rule) times steps/(steps + 1),
    which is what the test checks (without the factor they differ by 1/9 of their size)."""
    model, x, y = cnn
    steps = 8
    expected = attribute(
        captum_attr.IntegratedGradients,
        model,
        x,
        y,
        baselines=0.0,
        n_steps=steps + 1,
        method="riemann_trapezoid",
    )
    actual = xb.methods.get("integrated_gradients", steps=steps)(model, x, y)
    assert_roundoff_close(actual * steps / (steps + 1), nhwc(expected))


def test_occlusion(cnn):
    """Captum's sliding window spans every channel, so its attribution is the same in every
    channel: xaibench's per-pixel map (N, H, W)."""
    model, x, y = cnn
    expected = attribute(
        captum_attr.Occlusion,
        model,
        x,
        y,
        sliding_window_shapes=(3, 4, 4),
        strides=(3, 2, 2),
        baselines=0.0,
    )
    actual = xb.methods.get("occlusion", patch=4, stride=2)(model, x, y)
    assert_roundoff_close(actual, nhwc(expected)[..., 0])


def test_guided_backprop(cnn):
    model, x, y = cnn
    expected = nhwc(attribute(captum_attr.GuidedBackprop, model, x, y))
    assert_roundoff_close(xb.methods.get("guided_backprop")(model, x, y), expected)


@pytest.mark.parametrize("layer", [None, "0"])
def test_grad_cam_upsampled(cnn, layer):
    """LayerGradCam with its ReLU, upsampled bilinearly (``LayerAttribution.interpolate``);
    xaibench's default layer is the last convolution ("2")."""
    model, x, y = cnn
    module = model[2] if layer is None else model[int(layer)]
    maps = attribute(captum_attr.LayerGradCam, model, x, y, module, relu_attributions=True)
    expected = captum_attr.LayerAttribution.interpolate(maps, (H, W), "bilinear")[:, 0]
    actual = xb.methods.get("grad_cam", layer=layer)(model, x, y)
    assert_roundoff_close(actual, expected.detach().numpy())


def test_captum_and_xaibench_leave_the_module_as_it_was(cnn):
    model, x, y = cnn
    before = state(model)
    for name in ["saliency", "guided_backprop", "grad_cam", "grad_cam_pp"]:
        xb.methods.get(name)(model, x, y)
    assert_same_state(model, before)
    assert not any(p.grad is not None for p in model.parameters())
