"""The names the docstring examples of xaibench use (``python -m pytest`` runs them)."""

import numpy as np
import pytest

import xaibench as xb


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(np=np, xb=xb)
