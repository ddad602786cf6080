"""The model perturbation test's weight scaling on a PyTorch model: its parameters, not its
buffers (batch normalisation's running statistics), restored bitwise."""

from __future__ import annotations

import numpy as np
import torch

from xaibench.models.perturb import scaled_weights


def test_parameters_are_scaled_and_buffers_left_alone():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)
    )
    model.eval()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(4)
    expected = {}
    for name in ("0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"):
        value = before[name].numpy()
        expected[name] = (value * rng.normal(1.0, 0.5, value.shape)).astype(value.dtype)
    with scaled_weights(model, 0.5, 4):
        state = model.state_dict()
        for name, value in expected.items():
            np.testing.assert_array_equal(state[name].numpy(), value)
        for name in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
            assert torch.equal(state[name], before[name])
    for name, value in model.state_dict().items():
        assert value.numpy().tobytes() == before[name].numpy().tobytes()
