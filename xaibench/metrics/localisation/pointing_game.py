"""Pointing game (Zhang, Bargal, Lin, Brandt, Shen & Sclaroff 2018, "Top-down Neural Attention by
Excitation Backprop")."""

from __future__ import annotations

import numpy as np

from xaibench.metrics import register
from xaibench.metrics._ranking import top_feature
from xaibench.metrics.localisation._masks import LocalisationMetric


@register("pointing_game")
class PointingGame(LocalisationMetric):
    """1 if the feature with the highest attribution lies inside the mask, else 0; higher is better.

    Zhang et al. (2018), "Top-down Neural Attention by Excitation Backprop". The point is the argmax
    of the signed attribution a (channels summed); when several features tie for the maximum
    (equal up to round-off: README, Conventions), the first in row-major order (lowest index) is
    the point. An empty mask scores NaN. Needs ``masks=`` (bool (N, H, W) or (N, F)); does not
    read the model (``model=None`` is fine).

    Parameters
    ----------
    batch_size : unused by the computation (kept for a uniform interface; default "auto").

    Example
    -------
    >>> hits = xb.metrics.get("pointing_game")(None, x, y, a, masks=masks)
    >>> set(hits) <= {0.0, 1.0}  # 1 where the largest attribution lies in the mask
    True
    """

    def localise(self, a, masks):
        point = top_feature(a)
        return masks[np.arange(len(a)), point].astype(np.float64)
