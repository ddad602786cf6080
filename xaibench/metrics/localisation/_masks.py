"""Ground-truth masks and the base class of the localisation metrics.

A mask marks the features that truly matter: bool (N, H, W) for images (one value per pixel, like a
channel-summed attribution) or (N, F) for tabular rows. 0/1 numbers are accepted too.
"""

from __future__ import annotations

import abc

import numpy as np

from xaibench._checks import check_batch_size
from xaibench.metrics.base import NO_MODEL_CALLS, Metric


def as_masks(masks, x: np.ndarray, name: str = "masks") -> np.ndarray:
    """``masks`` for inputs ``x`` as bool (N, n_features); ValueError naming both shapes if they
    do not match, or if the values are not boolean / 0-1."""
    if hasattr(masks, "numpy") and not isinstance(masks, np.ndarray):
        masks = masks.numpy()
    m = np.asarray(masks)
    expected = x.shape[:-1] if x.ndim == 4 else x.shape
    if m.shape != expected:
        kind = "(N, H, W)" if x.ndim == 4 else "(N, F)"
        raise ValueError(
            f"{name} must have shape {kind} = {expected} to match x of shape {x.shape}, "
            f"got shape {m.shape}"
        )
    if m.dtype != bool:
        if not (np.issubdtype(m.dtype, np.number) and np.isin(m, (0, 1)).all()):
            raise ValueError(
                f"{name} must be boolean (or 0/1), got dtype {m.dtype} with other values"
            )
        m = m.astype(bool)
    return m.reshape(len(m), -1)


class LocalisationMetric(Metric):
    """How well ``a`` points at the ground-truth mask; higher is better. Does not read the model.

    Subclasses implement ``localise(a, masks)`` on float64 (N, n) attributions (channels summed)
    and bool (N, n) masks. A sample whose mask is empty scores NaN: it has nothing to localise.
    """

    higher_is_better = True
    category = "localisation"
    needs_model = False
    needs_masks = True

    def __init__(self, *, batch_size: int | str = "auto"):
        self.batch_size = check_batch_size(batch_size)

    model_calls = NO_MODEL_CALLS  # masks and attributions only

    def score(self, model, x, y, a, *, masks):
        m = as_masks(masks, x)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.asarray(self.localise(a, m), dtype=np.float64)
        out[~m.any(axis=1)] = np.nan
        return out

    @abc.abstractmethod
    def localise(self, a: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """One score per sample, float (N,)."""
