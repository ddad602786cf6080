"""Every metric that should not depend on the attribution's positive scale does not: a and c * a
score the same for c = 1e-8, 1, 1e8 (issue 25: a fixed epsilon, like sparseness's former + 1e-7,
makes a score depend on the scale; gradients of a saturated probability live at 1e-6). The
metrics that re-explain get a method scaled the same way. The exceptions are scale-dependent by
definition (``SCALE_DEPENDENT``, each with its reason), and tested to be so."""

from __future__ import annotations

import _tiny
import numpy as np
import pytest
from _metric_cases import FAST_SETTINGS, builtin_metrics
from _tolerance import assert_scores_close

import xaibench as xb

SCALES = [1e-8, 1.0, 1e8]
SCALE_DEPENDENT = {
    "completeness": "|sum a - (f_y(x) - f_y(x'))|: the map's sum in the model's output units",
    "infidelity": "E[(I . a - drop)^2] (normalize=False, the paper's default): I . a in the "
    "model's output units; with normalize=True it is invariant (tested below)",
    "runtime": "the method's seconds: reads no map, and differs between two calls",
}
SHAPE = (6, 6, 2)


@xb.methods.register("test_scaled_saliency", replace=True)
def scaled_saliency(model, x, y, scale=1.0):
    """Saliency times ``scale`` (what the re-explaining metrics re-run on scaled maps)."""
    return scale * xb.methods.get("saliency")(model, x, y)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(31)
    model = _tiny.small_cnn(SHAPE, n_out=3, seed=3)
    x = rng.uniform(size=(4,) + SHAPE).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    a = xb.methods.get("saliency")(model, x, y).astype(np.float64)
    masks = np.zeros((4,) + SHAPE[:2], bool)
    masks[:, 1:4, 2:5] = True
    return model, x, y, a, masks


def scores(name, case, scale, **settings):
    model, x, y, a, masks = case
    q = xb.metrics.get(name, **{**FAST_SETTINGS.get(name, {}), **settings})
    explain = xb.methods.get("test_scaled_saliency", scale=scale)
    kw = {"explain": explain} if q.needs_explain else {}
    if q.needs_masks:
        kw["masks"] = masks
    return q(model, x, y, scale * a, **kw)


INVARIANT = [n for n in builtin_metrics() if n not in SCALE_DEPENDENT]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(
    "name, settings", [(n, {}) for n in INVARIANT] + [("infidelity", {"normalize": True})]
)
def test_scores_do_not_depend_on_the_attribution_scale(case, name, settings, scale):
    ref = scores(name, case, 1.0, **settings)
    assert np.isfinite(ref).all()  # every sample scored: the comparison means something
    got = scores(name, case, scale, **settings)
    if xb.metrics.cls(name).needs_explain:
        # the re-run method's float32 maps are rounded once more by the scaling: round-off
        assert_scores_close(got, ref)
    else:  # float64 numpy on values scaled exactly but for one rounding each
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SCALE_DEPENDENT))
def test_the_exceptions_are_scale_dependent_by_definition(case, name):
    assert name in builtin_metrics()
    if name == "runtime":
        return  # nothing to compare: two calls take different times
    assert not np.allclose(scores(name, case, 1e8), scores(name, case, 1.0), rtol=1e-3)
