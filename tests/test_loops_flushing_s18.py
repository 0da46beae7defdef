"""Plans built for jit_compile give the NumPy runner's bits (nb.fused_elementwise, the NumPy
update group, a default plan) with llvmlite's native kernels on (numpy_elementwise_native's
loops) and off (numpy_loops' Numba loops where Numba is installed, else the NumPy runner):
bit for bit, and under a compiled run's denormals-are-zero too.

The case fixed in session 18: under denormals-are-zero NumPy's maximum and minimum return a
subnormal operand as the (signed) zero it compares as, where numpy_loops' Numba loops kept
the subnormal's bits (maximum(0.0, 1e-45): 1e-45 there, 0.0 from NumPy)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_denormals, numpy_llvm
from tests.tolerances import assert_same_bits

F32 = tf.float32
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _native_available():
    from tensorflux.backends import numpy_elementwise_native

    return numpy_elementwise_native.available()


@pytest.fixture(params=["native kernels on", "native kernels off"])
def kernels(request, monkeypatch):
    """Runs the test with llvmlite's native kernels on (skipped where they do not run here)
    and off (TENSORFLUX_NATIVE_KERNELS=0: jit plans take numpy_loops' Numba loops where Numba
    is installed), on two kernel threads with split thresholds small enough for test-sized
    arrays."""
    on = request.param.endswith("on")
    if on and not _native_available():
        pytest.skip("llvmlite's native kernels do not run here")
    monkeypatch.setattr(numpy_llvm, "_enabled", on)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
    from tensorflux.backends import numpy_elementwise_native, numpy_loops

    monkeypatch.setattr(numpy_elementwise_native, "_SPLIT_MIN_BYTES", 1)
    monkeypatch.setattr(numpy_loops, "_SPLIT_MIN_BYTES", 1)
    nb.set_threads(2)
    yield on
    nb.set_threads(0)


def _subnormal_pairs(n, dtype=np.float32):
    """(a, b) over every ordered pair of subnormals, zeros of both signs and a few normals,
    NaN and infinities, repeated to n elements."""
    tiny = np.finfo(dtype).smallest_subnormal
    values = np.array([tiny, -tiny, tiny * 1000, -tiny * 77, 0.0, -0.0, 1.5, -2.0,
                       np.finfo(dtype).tiny, np.nan, np.inf, -np.inf], dtype)
    a, b = (g.reshape(-1) for g in np.meshgrid(values, values, indexing="ij"))
    reps = -(-n // a.size)
    return np.tile(a, reps)[:n].copy(), np.tile(b, reps)[:n].copy()


@pytest.mark.parametrize("kernel", ["maximum", "minimum", "relu"])
@pytest.mark.parametrize("second", ["array", "single element"])
def test_jit_plans_give_numpys_max_and_min_of_subnormals_under_flushing(kernels, kernel,
                                                                       second):
    if kernel == "relu" and second != "array":
        pytest.skip("relu has one operand")
    a, b = _subnormal_pairs(3 * nb._LOOP_MIN_SIZE + 7)
    if kernel == "relu":
        program, inputs = (("relu", (0,), (), F32),), [a]
    else:
        program = ((kernel, (0, 1), (), F32),)
        inputs = [a, b if second == "array" else np.array(-np.finfo(np.float32).tiny / 8,
                                                          np.float32)]
    run = nb.specialize("fused_elementwise", {"program": program}, len(inputs),
                        result_size=a.size, native=True)
    assert run is not None
    from tensorflux.backends import numpy_loops

    if not kernels and numpy_loops.available():  # (Numba's loops run: the case fixed)
        assert nb._loops(True) is numpy_loops

    def both():
        assert numpy_denormals.flushing_now()
        return run(*inputs), nb.fused_elementwise(*inputs, program=program)
    if not numpy_denormals.flushing(numpy_denormals.flushing_now)():
        pytest.skip("flush-to-zero is unavailable here")
    got, expected = numpy_denormals.flushing(both)()
    assert_same_bits(got, expected)
    if kernel != "relu":  # and those are NumPy's own maximum and minimum, flushing
        assert_same_bits(expected, numpy_denormals.flushing(getattr(np, kernel))(*inputs))
    # (the case numpy_loops got wrong before session 18 is among them: a subnormal that
    # compares equal to the other operand, returned by NumPy as a zero)
    assert np.any((got == 0) & (inputs[-1 if kernel != "relu" else 0] != 0))


OPTIMIZERS = {
    "adam": lambda: keras.optimizers.Adam(1e-3),
    "sgd nesterov": lambda: keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
}


def _fit(jit_compile, optimizer):
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((192, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 192)]
    model = keras.Sequential([keras.Input((784,)),
                              keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss="categorical_crossentropy",
                  jit_compile=jit_compile)
    losses = model.fit(x, y, batch_size=64, epochs=2, verbose=0).history["loss"]
    return losses, [w.numpy() for w in model.weights + model.optimizer.variables]


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_a_wide_mlp_trains_to_the_same_bits_with_jit_compile(kernels, optimizer):
    # 784 -> 256 -> 256 -> 10: the optimizer's updates of 270k parameters (an update group),
    # bias + relu and relu gradients over (64, 256) activations: too large for the
    # whole-plan native step. (As in test_numpy_loops.)
    losses, weights = _fit(False, optimizer)
    jit_losses, jit_weights = _fit(True, optimizer)
    assert jit_losses == losses
    for got, expected in zip(jit_weights, weights):
        assert_same_bits(got, expected)
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
