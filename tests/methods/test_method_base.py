"""The Method machinery: the setting checks and seed stream of methods/base.py, base classes
refusing a subclass without its hook, and user methods in the registry."""

from __future__ import annotations

import re

import _tiny
import numpy as np
import pytest

import xaibench as xb
from xaibench.methods.base import (
    check_non_negative,
    check_positive,
    check_positive_int,
    check_probability,
    check_seed,
    sample_seeds,
)


@pytest.mark.parametrize(
    "check, good, bad, message",
    [
        (check_positive_int, [1, np.int64(7)], [0, -1, 1.0, True, "2"], "a positive integer"),
        (check_seed, [0, np.int32(5)], [-1, 0.5, False, None], "a non-negative integer"),
        (
            check_non_negative,
            [0, 0.15, 2, np.float32(1.5)],
            [-0.1, np.inf, np.nan, True, "1"],
            "a non-negative number",
        ),
        (check_positive, [1e-9, 3], [0, -1.0, np.inf, np.nan, False], "a positive number"),
        (
            check_probability,
            [0.5, np.float64(0.01)],
            [0, 1, 1.5, np.nan, True],
            "a number strictly between 0 and 1",
        ),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_setting_checks(check, good, bad, message):
    """The setting checks shared by the methods: the value back as int/float, or ValueError
    naming the setting, what was expected and what came."""
    for value in good:
        out = check(value, "knob")
        assert out == value and type(out) is (float if "number" in message else int)
    for value in bad:
        with pytest.raises(
            ValueError, match=rf"^knob must be {message}, got {re.escape(repr(value))}$"
        ):
            check(value, "knob")


def test_sample_seeds_are_one_stream():
    """One seed per sample; the first seeds do not depend on how many are drawn."""
    np.testing.assert_array_equal(sample_seeds(3, 5)[:2], sample_seeds(3, 2))
    assert len(set(sample_seeds(3, 100))) == 100


def test_base_classes_refuse_a_subclass_without_its_hook():
    from xaibench.methods._cam import CAMMethod
    from xaibench.methods._gradients import NoisyGradientMethod

    with pytest.raises(TypeError, match="must define channel_weights"):
        type("NoWeights", (CAMMethod,), {})
    with pytest.raises(TypeError, match="must define reduce"):
        type("NoReduce", (NoisyGradientMethod,), {})


# --------------------------------------------------------------------------------------------
# User methods
# --------------------------------------------------------------------------------------------


@xb.methods.register("test_scaled_input", replace=True)
def scaled_input(model, x, y, scale=1.0, offset=0.0):
    """x * scale + offset: a user method with two settings."""
    return x * scale + offset


@pytest.mark.parametrize(
    "params, scale, offset",
    [({}, 1.0, 0.0), ({"scale": 2.5}, 2.5, 0.0), ({"scale": -1.0, "offset": 0.5}, -1.0, 0.5)],
)
def test_user_function_method(linear_tab, params, scale, offset):
    model, _, _, x, y = linear_tab
    m = xb.methods.get("test_scaled_input", **params)
    assert m.params == {"scale": scale, "offset": offset}
    assert "test_scaled_input" in xb.methods.names()
    a = m(model, x, y)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, x * scale + offset, rtol=1e-6)
    assert xb.methods.get("test_scaled_input", **m.params).params == m.params


def test_user_method_unknown_setting():
    with pytest.raises(ValueError, match="scal"):
        xb.methods.get("test_scaled_input", scal=2.0)


def test_the_controls_declare_themselves():
    """The controls (references every method must beat) are known by their class attribute."""
    controls = {n for n in _tiny.builtin(xb.methods) if xb.methods.cls(n).control}
    assert controls == {"random", "sobel"}
