"""Fixtures of the figure tests."""

import pytest

from xaibench.results import _figures


@pytest.fixture
def drawn(monkeypatch):
    """The figures the figure functions draw and save, in order (after drawing)."""
    figures = []
    render = _figures._render

    def recording(fig, dpi):
        pixels = render(fig, dpi)
        figures.append(fig)
        return pixels

    monkeypatch.setattr(_figures, "_render", recording)
    return figures
