"""Shared fixtures. The tests mirror the package (tests/metrics/test_<name>.py for
xaibench/metrics/<category>/<name>.py, ...); the helpers every folder uses (_tiny, _tolerance,
_runs, browser) live here, in tests/, which is put on the import path for all of them."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory):
    """Keep trained models of the test session out of the user's cache (shared by all tests,
    and by the processes of ``pytest -n``: the cache's writes are atomic, so a model another
    worker trained is reused, not trained again)."""
    if os.environ.get("XAIBENCH_TEST_CACHE"):
        path = os.environ["XAIBENCH_TEST_CACHE"]
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        # the workers' temporary folders share the session's parent folder
        shared = tmp_path_factory.getbasetemp().parent / "xaibench-cache"
        shared.mkdir(exist_ok=True)
        path = str(shared)
    else:
        path = str(tmp_path_factory.mktemp("xaibench-cache"))
    old = os.environ.get("XAIBENCH_CACHE")
    os.environ["XAIBENCH_CACHE"] = path
    yield path
    if old is None:
        os.environ.pop("XAIBENCH_CACHE", None)
    else:
        os.environ["XAIBENCH_CACHE"] = old


@pytest.fixture
def browser():
    """``check_in_browser`` of tests/browser.py: skips without chromium, unless
    ``XAIBENCH_REQUIRE_BROWSER=1`` (CI), where a missing chromium fails."""
    from browser import check_in_browser, chromium

    if chromium() is None:
        if os.environ.get("XAIBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "XAIBENCH_REQUIRE_BROWSER=1 but chromium is not installed: "
                "install it (apt-get install chromium) to check report.html in a browser"
            )
        pytest.skip("chromium is not installed")
    return check_in_browser
