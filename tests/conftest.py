"""Session set-up shared by every test."""

import atexit
import os
import shutil
import tempfile

# The native kernels' on-disk cache (numpy_llvm): one of this session's, not the user's, so
# that a run neither reads code an earlier one left nor leaves its own (a test that swaps a
# module constant a kernel's IR reads would otherwise leave that code under the usual key).
# Set TENSORFLUX_CACHE_DIR to keep one across runs.
if "TENSORFLUX_CACHE_DIR" not in os.environ:
    os.environ["TENSORFLUX_CACHE_DIR"] = tempfile.mkdtemp(prefix="tensorflux-kernels-")
    atexit.register(shutil.rmtree, os.environ["TENSORFLUX_CACHE_DIR"], True)

# Load the NumPy backend before any test runs: its module-level warnings filter (inf and NaN
# results are silent, as in TensorFlow) would otherwise be installed inside the first test's
# warning-capture scope, and dropped when that scope closes.
import tensorflux.backends.numpy_backend  # noqa: F401
