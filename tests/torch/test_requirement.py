"""CI runs the PyTorch tests: there a missing torch is a failure, not a skip."""

import importlib.util
import os

import pytest


def test_torch_is_installed_where_required():
    if importlib.util.find_spec("torch") is None:
        if os.environ.get("XAIBENCH_REQUIRE_TORCH") == "1":
            pytest.fail('XAIBENCH_REQUIRE_TORCH=1 but torch is not installed: pip install ".[dev]"')
        pytest.skip("torch is not installed (the tests in tests/torch/ are skipped)")
    import torch

    assert torch.nn.Module
