"""Adapters to the ``shap`` package (Lundberg & Lee 2017, "A Unified Approach to Interpreting
Model Predictions"): ``shap_gradient`` (shap.GradientExplainer) and ``shap_kernel``
(shap.KernelExplainer).

Registered only when ``shap`` imports; otherwise the names are listed by
``xaibench.methods.missing()`` with how to install them (``pip install 'xaibench[shap]'``).

Background. A method gets only ``(model, x, y)``, so the background distribution SHAP integrates
over is taken from the explained batch: ``background="batch"`` (the default) is a seeded sample of
up to ``background_size`` rows of ``x``, the same for every sample of the batch. The attributions of
a sample therefore depend on the rest of its batch (not on ``batch_size``); a batch of one sample
is its own background and gets zero attributions, so explain batches of several samples. A number
instead uses one constant reference input (``background=0.0``: all features zero, like the baseline
of integrated gradients).

Both explain the model's raw output for the target class. ``shap`` draws its random numbers from
numpy's global generator; the adapters seed it from ``seed`` and restore its state afterwards.
"""

from __future__ import annotations

import contextlib
import numbers
import warnings

import numpy as np

from xaibench.methods import register_optional
from xaibench.methods._patches import n_units, unit_image, units
from xaibench.methods._perturb import masked_scores
from xaibench.methods.base import (
    Method,
    check_batch_size,
    check_positive_int,
    check_seed,
    sample_seeds,
)
from xaibench.models.batching import model_batch
from xaibench.models.protocol import adapt, framework

HINT = "install the shap extra: pip install 'xaibench[shap]'"

try:
    with warnings.catch_warnings():
        # shap's plotting colours use matplotlib calls that warn of deprecation on import
        warnings.simplefilter("ignore", (DeprecationWarning, PendingDeprecationWarning))
        import shap
except ImportError:
    shap = None
except Exception as err:  # an installed shap that breaks on import (e.g. shap<0.47 with numpy 2)
    shap = None
    HINT = f"shap is installed but fails to import ({type(err).__name__}: {err}); {HINT}"


def check_background(background) -> str | float:
    if background == "batch":
        return background
    if isinstance(background, bool) or not isinstance(background, numbers.Real):
        raise ValueError(f"background must be 'batch' or a number, got {background!r}")
    return float(background)


def background_inputs(x: np.ndarray, background, size: int, seed: int) -> np.ndarray:
    """The background set: a seeded sample of up to ``size`` rows of ``x`` (``"batch"``), or one
    constant input (a number); float32 (K,) + x.shape[1:]."""
    if background == "batch":
        rng = np.random.default_rng(seed)
        return x[np.sort(rng.choice(len(x), size=min(size, len(x)), replace=False))]
    return np.full((1,) + x.shape[1:], background, dtype=np.float32)


@contextlib.contextmanager
def numpy_global_seed(seed: int):
    """Seed numpy's global generator (which shap uses) and restore its state on exit."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


class ShapGradient(Method):
    """Expected gradients (SHAP values of a differentiable model) from shap.GradientExplainer.

    Lundberg & Lee (2017); Erion et al. (2021), "Improving performance of deep learning models
    with axiomatic attribution priors and expected gradients".

    For every sample, ``nsamples`` points are drawn on the straight lines between ``x`` and
    background inputs x' (x' and the position on the line drawn at random); the attribution is the
    mean of (x - x') * d f_y / d x over them, so sum(a) ~= f_y(x) - E[f_y(x')] and, for a linear
    model, a = W[:, y] * (x - E[x']). Returns the input's shape (channels kept).

    Parameters
    ----------
    nsamples : gradient evaluations per sample (default 200, shap's default).
    background : "batch" (default): a seeded sample of up to ``background_size`` rows of the
        explained batch; or a number: one constant reference input (0.0 = zeros).
    background_size : size of the "batch" background (default 50).
    seed : seed of the background sample and of shap's draws (default 0).
    batch_size : inputs per gradient call, or "auto" (default): as many as fit the memory budget
        (``xaibench.models.batching``). shap itself scores the explained samples once in one
        forward pass of its own (to rank the outputs), which no batch size splits.

    Cost: ``nsamples`` gradient evaluations per sample, one explainer call (and one trace of the
    gradient per target class) per batch.

    Example
    -------
    >>> a = xb.methods.get("shap_gradient", nsamples=100)(model, x, y)  # doctest: +SKIP
    """

    cost = "adapter"

    needs_gradients = True
    stochastic = True

    def __init__(
        self,
        *,
        nsamples: int = 200,
        background: str | float = "batch",
        background_size: int = 50,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.nsamples = check_positive_int(nsamples, "nsamples")
        self.background = check_background(background)
        self.background_size = check_positive_int(background_size, "background_size")
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: ``nsamples`` gradients (forward + backward) and one forward pass of x."""
        return {"forward": self.nsamples + 1, "backward": self.nsamples}

    def applicable(self, model, x):
        reason = super().applicable(model, x)
        if reason is None and model is not None and framework(model) != "keras":
            reason = f"xaibench hands shap Keras models only, not {framework(model)} models"
        return reason

    def explain(self, model, x, y):
        data = background_inputs(x, self.background, self.background_size, self.seed)
        batch = model_batch(self.batch_size, model, x.shape[1:], gradient=True)
        explainer = shap.GradientExplainer(adapt(model).inference_model(), data, batch_size=batch)
        with numpy_global_seed(self.seed), warnings.catch_warnings():
            # shap calls the model on a list of one tensor; Keras warns about the structure
            warnings.filterwarnings("ignore", message="The structure of `inputs`")
            values, _ = explainer.shap_values(
                x,
                nsamples=self.nsamples,
                ranked_outputs=y[:, None],
                output_rank_order="custom",
                rseed=self.seed,
            )
        return np.asarray(values, dtype=np.float32)[..., 0]


def check_nsamples(nsamples) -> int | str:
    if nsamples == "auto":
        return nsamples
    return check_positive_int(nsamples, "nsamples")


def _coalition_scores(model, x_i, refs, labels, target, batch_size):
    """``z -> (m,)``: the mean over ``refs`` of f_target(x_i with the units z = 0 taken from the
    reference), for coalitions ``z`` (m, units) of 0/1."""
    xs = np.repeat(x_i[None], len(refs), axis=0)  # x_i against every reference
    ys = np.full(len(refs), target)

    def scores(z):
        coalitions = np.asarray(z) > 0.5
        t = masked_scores(model, xs, ys, refs, coalitions, labels=labels, batch_size=batch_size)
        return t.mean(axis=0)

    return scores


class ShapKernel(Method):
    """Kernel SHAP values of grid superpixels (features) from shap.KernelExplainer.

    Lundberg & Lee (2017), "A Unified Approach to Interpreting Model Predictions".

    The players are the tabular features, or for images a grid of ``segments`` x ``segments``
    rectangular superpixels (pixel-level Kernel SHAP is intractable). A coalition keeps its players
    from ``x`` and takes the others from the background; its value is the raw target output averaged
    over the background inputs. KernelExplainer fits the Shapley kernel-weighted regression over
    ``nsamples`` coalitions (all of them when 2^players - 2 <= nsamples, which makes the values
    exact: a linear model gets W[:, y] * (x - mean background)). No l1 feature selection
    (``l1_reg=False``): every player gets a value. Returns (N, H, W) for images (each superpixel's
    value on its pixels), (N, F) for tabular data.

    Parameters
    ----------
    nsamples : coalitions per sample, or "auto" (default: shap's 2 * players + 2048).
    segments : superpixels per image side (default 8: 64 superpixels; capped at the image size).
    background : "batch" (default): a seeded sample of up to ``background_size`` rows of the
        explained batch; or a number: one constant reference input (0.0 = zeros).
    background_size : size of the "batch" background (default 10, a summary as shap recommends).
    seed : seed of the background sample and of the coalitions drawn (default 0).
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).

    Cost: (coalitions + 2) * background size forward passes per sample: 21780 with the
    defaults on 64 superpixels ((2 * 64 + 2048 + 2) * 10), 320 on 5 tabular features.

    Example
    -------
    >>> a = xb.methods.get("shap_kernel", nsamples=500, segments=4)(model, x, y)  # doctest: +SKIP
    """

    cost = "adapter"

    stochastic = True

    def __init__(
        self,
        *,
        nsamples: int | str = "auto",
        segments: int = 8,
        background: str | float = "batch",
        background_size: int = 10,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.nsamples = check_nsamples(nsamples)
        self.segments = check_positive_int(segments, "segments")
        self.background = check_background(background)
        self.background_size = check_positive_int(background_size, "background_size")
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: every coalition, x and the empty coalition, each averaged over the
        background (``background_size`` inputs for "batch", assuming a batch at least that long)."""
        players = n_units(input_shape, self.segments)
        coalitions = 0
        if players > 1:
            coalitions = 2 * players + 2048 if self.nsamples == "auto" else self.nsamples
            if players <= 30:
                coalitions = min(coalitions, 2**players - 2)
        refs = self.background_size if self.background == "batch" else 1
        return {"forward": float(refs * (coalitions + 2)), "backward": 0.0}

    def explain(self, model, x, y):
        labels, players = units(x, self.segments)
        refs = background_inputs(x, self.background, self.background_size, self.seed)
        seeds = sample_seeds(self.seed, len(x))
        values = np.empty((len(x), players))
        for i in range(len(x)):  # shap explains one instance at a time
            f = _coalition_scores(model, x[i], refs, labels, y[i], self.batch_size)
            explainer = shap.KernelExplainer(f, np.zeros((1, players)))
            with numpy_global_seed(int(seeds[i])):
                phi = explainer.shap_values(
                    np.ones((1, players)), nsamples=self.nsamples, l1_reg=False, silent=True
                )
            values[i] = np.asarray(phi).reshape(players)
        return unit_image(values[:, labels], x)


register_optional(shap is not None, HINT, shap_gradient=ShapGradient, shap_kernel=ShapKernel)
