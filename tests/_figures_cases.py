"""Checks shared by the figure tests."""

import matplotlib.image as mpimg

from xaibench.results import _figures


def assert_png(path, expected):
    assert path == expected and path.exists() and path.stat().st_size > 1000
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert 150 <= img.shape[0] and 150 <= img.shape[1] <= _figures.MAX_WIDTH_PX
