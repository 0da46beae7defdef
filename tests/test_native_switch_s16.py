"""The native kernels' switch and their import cost (session 16): TENSORFLUX_NATIVE_KERNELS=0
and numpy_llvm.enable(False) give the NumPy paths, and `import tensorflux` (or a model's
first NumPy op) loads no llvmlite until a kernel asks for it."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_conv_native, numpy_llvm


def _run(code, **env):
    """The stdout of `code` in a fresh interpreter with these environment variables."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_loads_no_llvmlite():
    out = _run("""
        import sys
        import tensorflux as tf
        tf.constant([1.0, 2.0]) * 2.0
        print("llvmlite" in sys.modules, "numba" in sys.modules)
    """)
    assert out == "False False"


def test_environment_variable_switches_the_kernels_off():
    code = """
        from tensorflux.backends import numpy_llvm
        print(numpy_llvm.enabled(), numpy_llvm.available())
    """
    assert _run(code, TENSORFLUX_NATIVE_KERNELS="0") == "False False"
    on = _run(code, TENSORFLUX_NATIVE_KERNELS="")
    assert on.split()[0] == "True"


def test_enable_false_gives_the_numpy_path(monkeypatch):
    """With the kernels off, conv2d is the im2col + GEMM path: no native function is made,
    and its result is that path's (checked against a float64 sum over the filter's taps)."""
    if not numpy_llvm.available():
        pytest.skip("needs llvmlite and a CPU with AVX2 and FMA")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 9, 9, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 32)).astype(np.float32)
    made = []
    original = numpy_conv_native.conv2d_rows

    def counted(*args, **kwargs):
        run = original(*args, **kwargs)
        made.append(run is not None)
        return run
    monkeypatch.setattr(numpy_conv_native, "conv2d_rows", counted)
    previous = numpy_llvm.enabled()
    try:
        numpy_llvm.enable(False)
        assert not numpy_llvm.available()
        off = nb.conv2d(x, w, (1, 1), "VALID", (1, 1), "NHWC")
        assert True not in made
        numpy_llvm.enable(True)
        on = nb.conv2d(x, w, (1, 1), "VALID", (1, 1), "NHWC")
        assert made[-1] is True
    finally:
        numpy_llvm.enable(previous)
    want = np.zeros((2, 7, 7, 32))
    for i in range(3):
        for j in range(3):
            want += x[:, i:i + 7, j:j + 7].astype(np.float64) @ w[i, j].astype(np.float64)
    scale = np.abs(want).max()
    assert np.abs(off - want).max() < 1e-5 * scale
    assert np.abs(on - want).max() < 1e-5 * scale
