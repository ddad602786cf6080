"""The PyTorch tests: skipped as a whole where torch is not installed (``pip install
"xaibench[torch]"``), but for ``test_requirement.py``, which fails there when CI says torch must
be present (``XAIBENCH_REQUIRE_TORCH=1``)."""

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

if importlib.util.find_spec("torch") is None:
    collect_ignore_glob = ["test_torch_*.py"]
