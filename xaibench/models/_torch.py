"""The model protocol for PyTorch: a ``torch.nn.Module`` mapping a batch to class scores.

Imported only when a torch model is adapted (``models.protocol.adapt``), so xaibench does not
import torch otherwise. At the boundary data stay NHWC / (N, F): a channels-first module (one
with a 2-D convolution, or declared with ``TorchAdapter(module, channels_first=True)``) gets its
images transposed to NCHW, and attributions come back NHWC.

Every call runs the module in ``eval()`` mode and restores each submodule's own mode after,
also when the call raises; nothing is written into the module (gradients by
``torch.autograd.grad``, which leaves the parameters' ``.grad`` alone), so its state_dict is
bitwise unchanged after every call; ``model_randomisation`` restores what it re-initialises.

- Gradients: autograd, w.r.t. the input.
- Guided backpropagation: during the forward pass a ``TorchFunctionMode`` replaces every ReLU by
  a ReLU whose backward pass is guided. Covered: ``nn.ReLU`` and ``nn.ReLU6`` modules,
  ``F.relu``, ``F.relu_``, ``torch.relu``, ``torch.relu_``, ``Tensor.relu``, ``Tensor.relu_``,
  ``F.relu6`` and ``F.hardtanh(x, 0, 6)``; not covered (their ordinary gradient): ReLUs written by
  hand (``x.clamp(min=0)``, ``torch.maximum(x, 0)``), LeakyReLU, GELU and the like. An in-place
  ReLU returns a new tensor under the mode (the input is left as it was).
- Class activation maps: a forward hook on the layer's module keeps its output A and hands the
  rest of the network a clone (as Captum does), so d f_y / d A is one ``torch.autograd.grad``;
  never a backward hook. Layers are named by their ``named_modules()`` path ("layer4.1.conv2");
  the default is the last ``nn.Conv2d`` in execution order.
- Weighted layers (model_randomisation): the modules holding parameters of their own, in the
  order a forward pass first calls them; re-initialised by their own ``reset_parameters()``
  under ``torch.random.fork_rng`` seeded with the step's seed.
- The memory estimate: the values of every tensor the torch functions of one sample's forward
  pass return (``TorchFunctionMode``), per input.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from xaibench._checks import NotApplicable
from xaibench.models.protocol import ChannelOps, ModelAdapter, Weights, softmax

HEADS = ("raw", "probability", "logit")
_LISTED = 12  # layers named in the message for an unknown layer


class TorchOps(ChannelOps):
    """``ChannelOps`` on torch tensors."""

    def mean(self, t, axis):
        return t.mean(dim=axis)

    def sum(self, t, axis, keepdims=False):
        return t.sum(dim=axis, keepdim=keepdims)

    def square(self, t):
        return torch.square(t)

    def relu(self, t):
        return torch.relu(t)

    def divide_no_nan(self, a, b):
        zero = b == 0
        return torch.where(zero, torch.zeros_like(a), a / torch.where(zero, torch.ones_like(b), b))


OPS = TorchOps()


# Guided ReLUs ---------------------------------------------------------------------------------


class _GuidedReLU(torch.autograd.Function):
    """ReLU (or ReLU6 with ``upper`` = 6) whose backward pass passes the gradient only where
    the input is in (0, upper) and the incoming gradient is positive."""

    @staticmethod
    def forward(ctx, z, upper):
        ctx.save_for_backward(z)
        ctx.upper = upper
        return z.clamp(min=0) if upper is None else z.clamp(0, upper)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        keep = (z > 0) & (grad > 0)
        if ctx.upper is not None:
            keep &= z < ctx.upper
        return torch.where(keep, grad, torch.zeros_like(grad)), None


_RELU = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class _GuidedMode(TorchFunctionMode):
    """Every ReLU / ReLU6 called while active is a ``_GuidedReLU`` (see the module docstring)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELU:
            return _GuidedReLU.apply(args[0], None)
        if func is F.relu6:
            return _GuidedReLU.apply(args[0], 6.0)
        if func is F.hardtanh and (kwargs.get("min_val"), kwargs.get("max_val")) == (0, 6):
            return _GuidedReLU.apply(args[0], 6.0)  # nn.ReLU6 (F.hardtanh passes keywords)
        return func(*args, **kwargs)


class _CountingMode(TorchFunctionMode):
    """Adds up the values of every tensor the torch functions called while active return."""

    def __init__(self):
        super().__init__()
        self.values = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.values += t.numel()
        return out


# What one forward pass of a sample tells ------------------------------------------------------


@dataclass(frozen=True)
class _Probe:
    """One forward pass of a zero sample: the modules in the order of their first call, how
    often each was called, the output width, the softmax module whose output is the model's
    (None if none) and the values of every tensor computed (per input)."""

    order: tuple[str, ...]
    calls: dict
    width: int
    softmax: str | None
    values: int


def _check_head(output: str) -> None:
    if output not in HEADS:
        raise ValueError(f"unknown output {output!r}; valid outputs: {', '.join(HEADS)}")


@contextlib.contextmanager
def _hooks(module: nn.Module, hook_of):
    """Forward hooks ``hook_of(name)`` on every named submodule (the root included), removed on
    exit."""
    handles = [m.register_forward_hook(hook_of(name)) for name, m in module.named_modules()]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class TorchAdapter(ModelAdapter):
    """A ``torch.nn.Module`` behind the protocol.

    ``channels_first``: whether the module takes images as (N, C, H, W) (None, the default:
    when it has an ``nn.Conv2d``). Give the adapter instead of the module to declare it:
    ``xb.evaluate(TorchAdapter(net, channels_first=False), x, y, ...)``.
    """

    framework = "torch"

    def __init__(self, model, *, weak: bool = False, channels_first: bool | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"TorchAdapter wraps a torch.nn.Module, got {type(model).__name__}")
        if channels_first is not None and not isinstance(channels_first, bool):
            raise TypeError(f"channels_first must be None or a bool, got {channels_first!r}")
        super().__init__(model, weak=weak)
        self._declared = channels_first
        self._probes: dict = {}
        self._shape: tuple | None = None

    # The boundary ---------------------------------------------------------------------------

    @property
    def channels_first(self) -> bool:
        if self._declared is not None:
            return self._declared
        return any(isinstance(m, nn.Conv2d) for m in self.model.modules())

    def _param(self):
        return next((p for p in self.model.parameters() if p.is_floating_point()), None)

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        p = self._param()
        # a writable float32 array (copied only when ``x`` is read-only or another dtype: torch
        # shares the memory of what it is given and refuses read-only arrays with a warning)
        t = torch.from_numpy(np.require(x, np.float32, ["C_CONTIGUOUS", "WRITEABLE"]))
        if t.ndim == 4 and self.channels_first:
            t = t.permute(0, 3, 1, 2).contiguous()
        return t if p is None else t.to(device=p.device, dtype=p.dtype)

    def _numpy(self, t: torch.Tensor) -> np.ndarray:
        """``t`` as float32 numpy, channels last when it is 4-D."""
        if t.ndim == 4 and self.channels_first:
            t = t.permute(0, 2, 3, 1)
        return t.detach().to("cpu", torch.float32).numpy()

    @contextlib.contextmanager
    def _inference(self):
        """``eval()`` mode for the call; every submodule's own mode restored after."""
        modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        try:
            yield self.model
        finally:
            for m, mode in modes:
                m.training = mode

    def _probe(self, shape: tuple) -> _Probe:
        shape = tuple(int(d) for d in shape)
        self._shape = shape
        if shape not in self._probes:
            self._probes[shape] = self._run_probe(shape)
        return self._probes[shape]

    def _run_probe(self, shape: tuple) -> _Probe:
        calls, outputs = {}, {}

        def hook_of(name):
            def hook(module, inputs, output):
                calls[name] = calls.get(name, 0) + 1
                if isinstance(module, nn.Softmax):
                    outputs[name] = output

            return hook

        counter = _CountingMode()
        with self._inference() as module, torch.no_grad(), _hooks(module, hook_of):
            with counter:
                out = module(self._tensor(np.zeros((1, *shape), np.float32)))
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            raise ValueError(
                "the torch model must return one tensor of class scores (N, classes), got "
                + (
                    f"shape {tuple(out.shape)}"
                    if isinstance(out, torch.Tensor)
                    else type(out).__name__
                )
            )
        final = next((name for name, o in outputs.items() if o is out), None)
        return _Probe(tuple(calls), calls, int(out.shape[1]), final, counter.values)

    def _last_probe(self) -> _Probe | None:
        return None if self._shape is None else self._probes[self._shape]

    # Scores and gradients -------------------------------------------------------------------

    def _scores(self, t: torch.Tensor, output: str, final: str | None) -> torch.Tensor:
        """Scores of the kind ``output`` as a tensor (inside ``_inference``); ``final``: the
        softmax module whose output is the model's (``_Probe.softmax``). A model ending in
        softmax is not softmaxed twice; its logits are that softmax's input."""
        module = self.model
        if output == "raw" or (output == "probability") == (final is not None):
            return module(t)
        if output == "probability":
            return torch.softmax(module(t), dim=-1)
        kept = []
        handle = module.get_submodule(final).register_forward_hook(
            lambda m, inputs, out: kept.append(inputs[0])
        )
        try:
            module(t)
        finally:
            handle.remove()
        return kept[-1]

    def forward_fn(self, output):
        _check_head(output)

        def forward(x):
            final = self._probe(x.shape[1:]).softmax
            with self._inference(), torch.no_grad():
                t = self._tensor(x)
                if output == "probability" and final is None:  # float64, as for Keras
                    return softmax(self._numpy(self.model(t)))
                return self._numpy(self._scores(t, output, final))

        return forward

    def gradient_fn(self, output="raw", *, guided=False):
        _check_head(output)

        def gradients(x, y):
            final = self._probe(x.shape[1:]).softmax
            with self._inference(), torch.enable_grad():
                t = self._tensor(x).requires_grad_(True)
                with _GuidedMode() if guided else contextlib.nullcontext():
                    scores = self._scores(t, output, final)
                s = scores.gather(1, torch.as_tensor(y, device=t.device)[:, None]).sum()
                (g,) = torch.autograd.grad(s, t, allow_unused=True)
            return np.zeros_like(x, dtype=np.float32) if g is None else self._numpy(g)

        return gradients

    # Layers ---------------------------------------------------------------------------------

    def _convs(self, x=None) -> list[str]:
        """The names of the ``nn.Conv2d`` modules in execution order (registration order when
        the model has not run on inputs yet)."""
        modules = dict(self.model.named_modules())
        probe = self._probe(x.shape[1:]) if x is not None else self._last_probe()
        names = probe.order if probe is not None else tuple(modules)
        return [n for n in names if isinstance(modules[n], nn.Conv2d)]

    def conv_layer(self, name, x=None):
        if name is None:
            convs = self._convs(x)
            return convs[-1] if convs else None
        if name in dict(self.model.named_modules()) and name:
            return name
        convs = self._convs(x)
        shown = ", ".join(map(repr, convs[-_LISTED:])) or "(none)"
        which = f"its last {_LISTED} (of {len(convs)})" if len(convs) > _LISTED else "its"
        raise ValueError(
            f"layer={name!r} is not a module of the torch model; {which} convolutional layers "
            f'are: {shown} (a module is named by its path, e.g. "layer4.1.conv2")'
        )

    def cam_reason(self, layer, x=None):
        probe = self._probe(x.shape[1:]) if x is not None else self._last_probe()
        calls = None if probe is None else probe.calls.get(layer, 0)
        if calls == 0:
            return f"layer {layer!r} is not called in the model's forward pass"
        if calls is not None and calls > 1:
            return f"layer {layer!r} is called {calls} times in a forward pass, not once"
        return None

    def _maps(self, x, y, layer):
        """(A, d f_y / d A) as tensors, A the output of ``layer`` (kept by a forward hook that
        hands the rest of the network a clone)."""
        kept = []

        def keep(module, inputs, out):
            if not isinstance(out, torch.Tensor) or out.ndim != 4:
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise NotApplicable(
                    f"layer {layer!r} outputs {shape}, not 2-D feature maps (N, channels, h, w)"
                )
            kept.append(out)
            return out.clone()

        handle = self.model.get_submodule(layer).register_forward_hook(keep)
        try:
            with torch.enable_grad():
                out = self.model(self._tensor(x))
                s = out.gather(1, torch.as_tensor(y, device=out.device)[:, None]).sum()
                (g,) = torch.autograd.grad(s, kept[0], allow_unused=True)
        finally:
            handle.remove()
        if g is None:
            raise NotApplicable(
                f"the model's output does not depend on the feature maps of layer {layer!r}"
            )
        a = kept[0].detach()
        if self.channels_first:
            a, g = a.permute(0, 2, 3, 1), g.permute(0, 2, 3, 1)
        return a, g

    def cam_fn(self, layer, weights: Weights):
        def cam(x, y):
            with self._inference():
                a, g = self._maps(x, y, layer)
                maps = torch.relu(torch.einsum("nhwk,nk->nhw", a, weights(a, g, OPS)))
                up = F.interpolate(
                    maps[:, None], size=x.shape[1:3], mode="bilinear", align_corners=False
                )
            return up[:, 0].to("cpu", torch.float32).numpy()

        return cam

    def layer_gradients(self, x, y, layer):
        with self._inference():
            a, g = self._maps(x, y, layer)
        return a.to("cpu", torch.float32).numpy(), g.to("cpu", torch.float32).numpy()

    # Weights --------------------------------------------------------------------------------

    def _weighted(self) -> list[tuple[str, nn.Module]]:
        modules = dict(self.model.named_modules())
        probe = self._last_probe()
        names = [n for n in probe.order if n in modules] if probe is not None else list(modules)
        return [
            (n, modules[n])
            for n in names
            if any(p.is_floating_point() for p in modules[n].parameters(recurse=False))
        ]

    def weighted_layers(self):
        return [name for name, _ in self._weighted()]

    def _state(self, k) -> list[torch.Tensor]:
        module = self._weighted()[k][1]
        return [*module.parameters(recurse=False), *module.buffers(recurse=False)]

    def get_layer_weights(self, k):
        return [t.detach().cpu().clone().numpy() for t in self._state(k)]

    def layer_parameters(self, k):
        module = self._weighted()[k][1]
        n = len(list(module.parameters(recurse=False)))
        return [i < n for i in range(len(self._state(k)))]

    def set_layer_weights(self, k, values):
        with torch.no_grad():
            for t, value in zip(self._state(k), values, strict=True):
                t.copy_(torch.as_tensor(value))

    def randomise_layer(self, k, seed):
        module = self._weighted()[k][1]
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
                return
            rng = np.random.default_rng(seed)
            for p in module.parameters(recurse=False):
                if p.is_floating_point():
                    sd = float(p.detach().float().std()) if p.numel() > 1 else 0.0
                    p.copy_(torch.as_tensor(rng.normal(0.0, sd, tuple(p.shape))))

    def weights_hash(self):
        h = hashlib.sha256()
        for name, t in self.model.state_dict().items():
            h.update(name.encode())
            h.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())
        return h.hexdigest()[:16]

    def count_params(self):
        return int(sum(p.numel() for p in self.model.parameters()))

    def n_classes(self, x):
        return self._probe(x.shape[1:]).width

    def activation_values(self, input_shape):
        return self._probe(input_shape).values


__all__ = ["TorchAdapter", "TorchOps"]
