"""Import TensorFlow and Keras quietly.

TensorFlow writes C++ log lines (oneDNN, CUDA probing) to the process's stderr while it is
imported; ``TF_CPP_MIN_LOG_LEVEL`` no longer silences all of them, so the import runs with file
descriptor 2 pointed at a temporary file. If the import fails, what it wrote is shown.
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _quiet_import():
    if "tensorflow" in sys.modules:
        import keras
        import tensorflow

        return tensorflow, keras
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            import keras
            import tensorflow
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow, keras


tf, keras = _quiet_import()

__all__ = ["tf", "keras"]
