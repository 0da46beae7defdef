"""Session set-up shared by every test."""

# Load the NumPy backend before any test runs: its module-level warnings filter (inf and NaN
# results are silent, as in TensorFlow) would otherwise be installed inside the first test's
# warning-capture scope, and dropped when that scope closes.
import tensorflux.backends.numpy_backend  # noqa: F401
