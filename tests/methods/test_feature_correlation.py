"""feature_correlation: the exact Pearson correlation per feature; 0 for a constant feature."""

from __future__ import annotations

import numpy as np
from _method_cases import linear_f

import xaibench as xb


def test_feature_correlation_exact_pearson(tab):
    model, w, b, x, y = tab
    a = xb.methods.get("feature_correlation")(model, x, y)
    s = linear_f(w, b, x, y)
    expected = [np.corrcoef(x[:, j].astype(np.float64), s)[0, 1] for j in range(x.shape[1])]
    np.testing.assert_allclose(a, np.broadcast_to(expected, x.shape), rtol=1e-5, atol=1e-6)


def test_feature_correlation_constant_feature_gets_zero(tab):
    model, w, b, x, y = tab
    x = x.copy()
    x[:, 4] = 1.5
    a = xb.methods.get("feature_correlation")(model, x, y)
    assert (a[:, 4] == 0).all() and np.isfinite(a).all()
    s = linear_f(w, b, x, y)
    np.testing.assert_allclose(
        a[0, :4], [np.corrcoef(x[:, j], s)[0, 1] for j in range(4)], rtol=1e-5
    )
