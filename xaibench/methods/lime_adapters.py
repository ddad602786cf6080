"""Adapters to the ``lime`` package (Ribeiro, Singh & Guestrin 2016, "Why Should I Trust You?"):
``lime_image`` (lime.lime_image.LimeImageExplainer) and ``lime_tabular``
(lime.lime_tabular.LimeTabularExplainer).

Registered only when ``lime`` imports; otherwise the names are listed by
``xaibench.methods.missing()`` with how to install them (``pip install 'xaibench[lime]'``).

Both explain the model's raw output for the target class: LIME's classifier function is the
model's compiled forward pass (``predict_on_batch``) in batches of ``batch_size``, returning the raw
scores of all classes, and LIME's weighted ridge regression is fitted to the target column. LIME
explains one instance at a time; every sample gets its own explainer seeded from ``seed`` (so the
attributions do not depend on ``batch_size``). Explanations are LIME's per-feature weights times
the instance's value in LIME's interpretable representation — the contribution of each feature to
the local surrogate's prediction (see each class).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np

from xaibench._baselines import Baseline, baseline_values, check_baseline
from xaibench.methods import register_optional
from xaibench.methods._patches import grid_labels
from xaibench.methods.base import (
    Method,
    check_batch_size,
    check_positive_int,
    check_seed,
    sample_seeds,
)
from xaibench.models.batching import model_batch
from xaibench.models.outputs import forward_fn

HINT = "install the lime extra: pip install 'xaibench[lime]'"

try:
    import lime.lime_image
    import lime.lime_tabular
except ImportError:
    lime = None
except Exception as err:  # an installed lime (or one of its dependencies) that breaks on import
    lime = None
    HINT = f"lime is installed but fails to import ({type(err).__name__}: {err}); {HINT}"


def batched_scores(model, batch_size: int | str):
    """``x -> (n, classes)`` raw model scores (float64), in forward calls of ``batch_size``
    inputs (``"auto"``: ``models.batching.model_batch``)."""
    predict = forward_fn(model, "raw")

    def scores(x):
        x = np.asarray(x, dtype=np.float32)
        batch = model_batch(batch_size, model, x.shape[1:], gradient=False)
        out = [predict(x[i : i + batch]) for i in range(0, len(x), batch)]
        return np.concatenate(out).astype(np.float64)

    return scores


def dense_weights(explanation, label: int, n: int) -> np.ndarray:
    """LIME's weights of ``label`` as a dense vector over the ``n`` interpretable features."""
    w = np.zeros(n)
    for feature, weight in explanation.local_exp[label]:
        w[feature] = weight
    return w


class LimeImage(Method):
    """LIME weights of grid superpixels from lime.lime_image.LimeImageExplainer.

    Ribeiro, Singh & Guestrin (2016), "Why Should I Trust You?".

    The image is cut into a grid of ``segments`` x ``segments`` rectangular superpixels (instead of
    LIME's default quickshift: deterministic, fast and the same for every image). LIME draws
    ``num_samples`` random on/off patterns of the superpixels (the first all on), sets the "off"
    superpixels to the baseline, scores the copies, and fits a ridge regression of the raw target
    output on the patterns, weighted by an exponential kernel of the cosine distance (LIME's
    defaults: kernel width 0.25, ridge alpha 1). The attribution of a pixel is its superpixel's
    weight (the instance has every superpixel on), so it is constant on each superpixel. Returns
    (N, H, W).

    Parameters
    ----------
    num_samples : perturbed copies per sample (default 1000, LIME's default).
    segments : superpixels per image side (default 8: 64 superpixels; capped at the image size).
    baseline : what "off" superpixels become (LIME's ``hide_color``): 0.0 (default), a number,
        "mean", "blur" or a callable x -> x'.
    seed : seed of LIME's random patterns (default 0); every sample gets its own stream.
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).

    Cost: ``num_samples`` forward passes per sample (plus LIME's Python loop building the copies).

    Example
    -------
    >>> a = xb.methods.get("lime_image", num_samples=500)(model, x, y)  # doctest: +SKIP
    """

    cost = "adapter"

    inputs = ("image",)
    stochastic = True

    def __init__(
        self,
        *,
        num_samples: int = 1000,
        segments: int = 8,
        baseline: Baseline = 0.0,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.num_samples = check_positive_int(num_samples, "num_samples")
        self.segments = check_positive_int(segments, "segments")
        self.baseline = check_baseline(baseline)
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: ``num_samples`` forward passes (the first is x itself)."""
        return {"forward": float(self.num_samples), "backward": 0.0}

    def explain(self, model, x, y):
        height, width = x.shape[1:3]
        segmentation = grid_labels(height, width, self.segments).reshape(height, width)
        n_segments = int(segmentation.max()) + 1
        base = baseline_values(x, self.baseline)
        batch = model_batch(self.batch_size, model, x.shape[1:], gradient=False)
        scores = batched_scores(model, batch)
        seeds = sample_seeds(self.seed, len(x))
        out = np.empty(x.shape[:-1], dtype=np.float32)
        for i in range(len(x)):  # LIME explains one instance at a time
            explainer = lime.lime_image.LimeImageExplainer(
                feature_selection="none", random_state=int(seeds[i])
            )
            # lime 0.2.0.1 always draws a tqdm progress bar on stderr: keep it off the console
            with contextlib.redirect_stderr(io.StringIO()):
                explanation = explainer.explain_instance(
                    x[i],
                    scores,
                    labels=(int(y[i]),),
                    hide_color=base[i],
                    top_labels=None,
                    num_features=n_segments,
                    num_samples=self.num_samples,
                    batch_size=batch,
                    segmentation_fn=lambda image: segmentation,
                )
            out[i] = dense_weights(explanation, int(y[i]), n_segments)[segmentation]
        return out


class LimeTabular(Method):
    """LIME weights of tabular features from lime.lime_tabular.LimeTabularExplainer.

    Ribeiro, Singh & Guestrin (2016), "Why Should I Trust You?".

    The explained batch is LIME's training data (its per-feature quartiles, means and standard
    deviations), so a sample's attributions depend on the rest of its batch (not on ``batch_size``),
    and a batch of one sample, which has no spread to sample from, gets zeros. With
    ``discretize=True`` (LIME's default) every feature is binned into the
    batch's quartiles; LIME samples ``num_samples`` rows by drawing each feature's bin from the
    batch's bin frequencies, and the interpretable features are "in the same bin as x". The
    attribution is each feature's weight (the instance is in its own bins). With
    ``discretize=False`` rows are drawn from N(mean, std) per feature and the interpretable
    features are the standardised values z = (x - mean) / std; the attribution is the weight times
    the instance's z, i.e. the feature's contribution to the surrogate relative to the batch mean
    (for a linear model W[:, y] * (x - mean), up to the ridge penalty). Either way LIME's ridge
    regression (alpha 1) is weighted by an exponential kernel of the Euclidean distance
    (width 0.75 sqrt(F)) and fitted to the raw target output; no feature selection. Returns (N, F).

    Parameters
    ----------
    num_samples : perturbed rows per sample (default 5000, LIME's default).
    discretize : bin continuous features into quartiles (default True, LIME's default).
    seed : seed of LIME's sampling (default 0); every sample gets its own stream.
    batch_size : model inputs per forward call, or "auto" (default): as many as fit the memory
        budget (``xaibench.models.batching``).

    Cost: ``num_samples`` forward passes per sample.

    Example
    -------
    >>> a = xb.methods.get("lime_tabular", discretize=False)(model, x, y)  # doctest: +SKIP
    """

    cost = "adapter"

    inputs = ("tabular",)
    stochastic = True

    def __init__(
        self,
        *,
        num_samples: int = 5000,
        discretize: bool = True,
        seed: int = 0,
        batch_size: int | str = "auto",
    ):
        self.num_samples = check_positive_int(num_samples, "num_samples")
        if not isinstance(discretize, (bool, np.bool_)):
            raise ValueError(f"discretize must be True or False, got {discretize!r}")
        self.discretize = bool(discretize)
        self.seed = check_seed(seed)
        self.batch_size = check_batch_size(batch_size)

    def model_calls(self, input_shape) -> dict[str, float]:
        """Per sample: ``num_samples`` forward passes (the first is x itself)."""
        return {"forward": float(self.num_samples), "backward": 0.0}

    def explain(self, model, x, y):
        n_features = x.shape[1]
        data = x.astype(np.float64)
        scores = batched_scores(model, self.batch_size)
        seeds = sample_seeds(self.seed, len(x))
        out = np.empty(x.shape, dtype=np.float32)
        for i in range(len(x)):  # LIME explains one instance at a time
            explainer = lime.lime_tabular.LimeTabularExplainer(
                data,
                mode="classification",
                feature_selection="none",
                discretize_continuous=self.discretize,
                random_state=int(seeds[i]),
            )
            with warnings.catch_warnings():
                # raw scores (logits) are not probabilities; LIME warns about that
                warnings.filterwarnings("ignore", message=r"\s*Prediction probabilties")
                explanation = explainer.explain_instance(
                    data[i],
                    scores,
                    labels=(int(y[i]),),
                    num_features=n_features,
                    num_samples=self.num_samples,
                )
            w = dense_weights(explanation, int(y[i]), n_features)
            if not self.discretize:
                w = w * (data[i] - explainer.scaler.mean_) / explainer.scaler.scale_
            out[i] = w
        return out


register_optional(lime is not None, HINT, lime_image=LimeImage, lime_tabular=LimeTabular)
