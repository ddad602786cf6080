"""The cells of xaibench's LaTeX tables: the glyph widths that size them, the line width a
table is made for, and how the numbers of a column are written (``latex.leaderboard_latex``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from xaibench.results.tables import time_unit

_UP, _DOWN = r"$\uparrow$", r"$\downarrow$"
_UNITS = {"µs": r"$\mu$s"}

#: Width (pt) a table may take by default: the line of a one-column 10 pt article.
LINE_WIDTH = 345.0
#: Units ``--tex-width`` and :func:`parse_width` understand, in pt (TeX points).
LENGTH_UNITS = {"pt": 1.0, "in": 72.27, "cm": 72.27 / 2.54, "mm": 72.27 / 25.4, "bp": 72.27 / 72}
#: Significant digits of a column's largest mean: the decimals every number of the column has.
DIGITS = 3
#: The tables' font size (pt): ``\small`` in a 10 pt document.
FONT_SIZE = 9.0
#: The tie letters' size (pt): ``\footnotesize`` in a 10 pt document, not the 6 pt of a
#: ``\textsuperscript`` in ``\small``: no text of a table is smaller than 8 pt.
MARK_SIZE = 8.0
_PADDING = 12.0  # 2 \tabcolsep around every metric (its two columns are joined by @{})
_MARGIN = 0.97  # of the width a table may fill: the estimate is within 3% of TeX's (measured)
_BOLD = 1.15  # cmbx is this much wider than cmr
_DESIGN = 1.03  # cmr9 is this much wider per pt than cmr10, whose widths _EM holds
# Computer Modern Roman glyph widths in em (cmr10); others count as _OTHER (a wide guess)
_LOWER = (
    ".5 .556 .444 .556 .444 .306 .5 .556 .278 .306 .528 .278 .833 "
    ".556 .5 .556 .528 .392 .394 .389 .556 .528 .722 .528 .528 .444"
)
_EM = {
    **dict.fromkeys("0123456789", 0.5),
    **dict(zip("abcdefghijklmnopqrstuvwxyz", map(float, _LOWER.split()), strict=True)),
    **dict.fromkeys(" .,:;'!", 0.278),
    **dict.fromkeys("[]()/", 0.389),
    "_": 0.5,
    "-": 0.778,  # a number's minus sign (math)
    "×": 0.778,
    "↑": 0.5,
    "↓": 0.5,
    "µ": 0.6,
}
_UPPER, _OTHER = 0.75, 0.8


def parse_width(text) -> float:
    """A line width in pt from ``"6.5in"``, ``"469pt"``, ``"16.5cm"``, ``"165mm"`` or a number
    of pt; a ValueError names what was given and what is understood.

    >>> parse_width("6.5in"), parse_width(345)
    (469.755, 345.0)
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*", str(text))
    unit = match.group(2) or "pt" if match else None
    if unit not in LENGTH_UNITS or float(match.group(1)) <= 0:
        raise ValueError(
            f"a table width must be a positive length like 6.5in, 469pt or 16.5cm; got {text!r}"
        )
    return round(float(match.group(1)) * LENGTH_UNITS[unit], 3)


def text_width(text: str, *, bold: bool = False, size: float = FONT_SIZE) -> float:
    """Estimated width in pt of the plain ``text`` set in Computer Modern at ``size`` pt: the
    sum of the glyph widths, generous for characters it does not know. Against TeX's widths of
    the quick suite's tables it is 0.97-0.99 of them in Computer Modern (OT1), 0.99-1.02 in
    Latin Modern (T1): ``_MARGIN`` covers both."""
    em = sum(_EM.get(c, _UPPER if c.isupper() else _OTHER) for c in str(text))
    return em * size * _DESIGN * (_BOLD if bold else 1.0)


def _superscript(tex: str) -> str:
    r"""``tex`` raised like a superscript but set in ``\footnotesize`` (8 pt in a 10 pt document)."""
    return rf"\raisebox{{0.6ex}}{{\footnotesize {tex}}}"


@dataclass
class _Legend:
    """What the cells of a table set show, so that its caption explains exactly that."""

    n: set = field(default_factory=set)
    interval: bool = False
    tie: bool = False
    runtime: bool = False
    scaled: bool = False
    na: bool = False
    missing: bool = False

    def add(self, other: _Legend) -> _Legend:
        self.n |= other.n
        for flag in ("interval", "tie", "runtime", "scaled", "na", "missing"):
            setattr(self, flag, getattr(self, flag) or getattr(other, flag))
        return self


@dataclass
class _Format:
    """How the numbers of one column are written: divided by ``scale``, with ``decimals``."""

    decimals: int
    scale: float = 1.0
    unit: str = ""  # LaTeX, for the header: "$\\mu$s", "$\\times 10^{-7}$"
    unit_plain: str = ""  # its width's stand-in

    @classmethod
    def of(cls, means: pd.Series, runtime: bool) -> _Format:
        """Scores: ``DIGITS`` significant digits of the largest |mean|, a power of ten aside
        when that is under 1e-3 or from 1e5; durations: one unit (``tables.time_unit``) and
        ``DIGITS`` significant digits of the median."""
        values = np.abs(pd.to_numeric(means, errors="coerce").to_numpy(float))
        values = values[np.isfinite(values)]
        if runtime:
            name, seconds = time_unit(values)
            middle = float(np.median(values)) / seconds if len(values) else 0.0
            return cls(_decimals(middle), seconds, _UNITS.get(name, name), name)
        largest = float(values.max()) if len(values) else 0.0
        if largest and (largest < 1e-3 or largest >= 1e5):
            power = math.floor(math.log10(largest))
            unit = rf"$\times 10^{{{power}}}$"
            return cls(_decimals(largest / 10.0**power), 10.0**power, unit, f"×10-{abs(power)}")
        return cls(_decimals(largest))

    def split(self, value: float) -> tuple[str, str, float, float]:
        """``value`` as (integer part with sign, "." and the decimals) in LaTeX, and the
        estimated widths of both."""
        text = f"{value / self.scale:.{self.decimals}f}"
        sign = text.startswith("-") and float(text) != 0
        whole, _, decimals = text.lstrip("-").partition(".")
        fraction = f".{decimals}" if decimals else ""
        tex = ("$-$" if sign else "") + whole
        return tex, fraction, text_width(("-" if sign else "") + whole), text_width(fraction)


def _decimals(value: float) -> int:
    """Decimals that give ``value`` ``DIGITS`` significant digits (none for 0)."""
    if not value or not np.isfinite(value):
        return DIGITS - 1
    return max(0, DIGITS - 1 - math.floor(math.log10(value)))
