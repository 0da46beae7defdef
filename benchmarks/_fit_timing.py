"""What the benchmark scripts share: the training rate of a compiled model
(vision_workloads.py, block_workloads.py), a measurement run under Keras 3 in a child process
(Keras's backend is fixed when it is imported), and tensorflux's native kernels switched on or
off for a block (conv_kernels.py, vgg16_inference.py)."""

import contextlib
import os
import statistics
import subprocess
import sys
import time


def fit_rate(model, x, y, batch_size, epochs):
    """Training samples per second of `model.fit` over (x, y): the median of `epochs` timed
    epochs after a warm-up epoch (tracing, allocation)."""
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    return len(x) / statistics.median(times)


def in_keras_child(module, expression, backend):
    """The number `expression` gives in a child process where `w` is this folder's `module`
    and `keras` is Keras 3 on `backend`; None (saying why) when the child fails."""
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            f"import {module} as w, keras; print({expression})")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=1800)
    if result.returncode != 0:
        print(f"  (Keras on {backend} failed: {result.stderr.strip().splitlines()[-1:]})")
        return None
    return float(result.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def native_kernels(on):
    """Within the block, tensorflux's native kernels run (on) or its NumPy kernels do."""
    from tensorflux.backends import numpy_llvm

    previous = numpy_llvm.enabled()
    numpy_llvm.enable(on)
    try:
        yield
    finally:
        numpy_llvm.enable(previous)
