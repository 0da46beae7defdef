"""tf.profiler: tf.profiler.experimental records a program's ops for TensorBoard's Profile
tab (see tensorflux.profiler.experimental). The compiled runs' side of the recording,
tensorflux.profiler.recorder, loads with the executor; the rest on first use."""

import importlib

__all__ = ["experimental"]


def __getattr__(name):
    if name == "experimental":
        return importlib.import_module("tensorflux.profiler.experimental")
    raise AttributeError(f"module 'tensorflux.profiler' has no attribute {name!r}")
