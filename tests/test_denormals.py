"""Compiled runs flush subnormal floats to zero, as TensorFlow's and XLA's CPU kernels do
(Keras on TensorFlow and JAX both give 0.5 * 2e-38 == 0 in float32); eager ops and the user's
own NumPy code keep them. References: NumPy's IEEE arithmetic, with subnormal inputs and
results replaced by zero where the mode applies."""

import threading
import time

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend, numpy_denormals

TINY = np.finfo(np.float32).tiny  # the smallest normal float32, 1.18e-38

pytestmark = pytest.mark.skipif(
    not numpy_denormals._found(),
    reason="this platform's floating-point control register is not reachable (no flushing)")


@pytest.fixture
def flush_off():
    tf.config.experimental.enable_flush_denormals(False)
    yield
    tf.config.experimental.enable_flush_denormals(True)


def _flushed(values):
    """IEEE float32 values with their subnormals replaced by zero (of the same sign)."""
    values = np.asarray(values, np.float32)
    return np.where(np.abs(values) < TINY, np.float32(0) * np.sign(values), values)


def test_a_function_flushes_subnormal_results_and_inputs():
    x = np.array([2e-38, -3e-38, 1e-39, 4e-38, 1.0], np.float32)
    half = tf.function(lambda t: t * 0.5)(tf.constant(x)).numpy()
    ieee = x * np.float32(0.5)
    assert np.count_nonzero(ieee[:3]) == 3  # IEEE keeps these as subnormals
    np.testing.assert_array_equal(half, _flushed(ieee))
    # A subnormal input counts as zero: 1e-39 * 2^20 would be 1.05e-33, a normal number.
    scaled = tf.function(lambda t: t * 1048576.0)(tf.constant(x)).numpy()
    np.testing.assert_array_equal(scaled, _flushed(x) * np.float32(1048576.0))
    assert scaled[2] == 0 and x[2] * np.float32(1048576.0) > 1e-34


def test_the_calling_threads_mode_comes_back_after_a_run_and_after_an_error():
    f = tf.function(lambda t: t * 0.5)
    f(tf.constant([2e-38]))
    assert not numpy_denormals.flushing_now()
    assert np.float32(2e-38) * np.float32(0.5) != 0  # the user's NumPy keeps subnormals

    @tf.function
    def fails(t):
        return tf.gather(t * 0.5, [3])

    with pytest.raises(tf.errors.InvalidArgumentError):
        fails(tf.constant([2e-38]))
    assert not numpy_denormals.flushing_now()


def test_eager_ops_keep_subnormals():
    x = np.array([2e-38, 1e-39], np.float32)
    np.testing.assert_array_equal((tf.constant(x) * 0.5).numpy(), x * np.float32(0.5))


def test_work_split_over_the_threads_flushes_in_every_piece(monkeypatch):
    """The pool's workers follow the calling thread's mode: flushing for a compiled run's
    pieces, not for an eager op's after it (each piece waits a little, so that the worker
    takes some)."""
    monkeypatch.setattr(numpy_backend, "_THREADS", 2)
    if not numpy_backend._own_blas():
        pytest.skip("the pool splits work only where it owns BLAS's threading")
    seen = []

    def piece(i):
        time.sleep(0.005)
        seen.append((threading.get_ident(), numpy_denormals.flushing_now(),
                     float(np.float32(2e-38) * np.float32(0.5))))

    for flushing in (True, False, True):
        seen.clear()
        def split():
            numpy_backend._in_parallel(piece, list(range(8)), 1 << 30)
        (numpy_denormals.flushing(split) if flushing else split)()
        assert len({ident for ident, _, _ in seen}) == 2  # both threads took pieces
        assert all(mode is flushing for _, mode, _ in seen)
        assert all((value == 0) is flushing for _, _, value in seen)
    x = np.full(1 << 21, 2e-38, np.float32)
    x[::7] = 1.0
    compiled = tf.function(lambda t: t * 0.5 + 0.0)(tf.constant(x)).numpy()
    np.testing.assert_array_equal(compiled, _flushed(x * np.float32(0.5)))
    eager = (tf.constant(x) * 0.5 + 0.0).numpy()
    np.testing.assert_array_equal(eager, x * np.float32(0.5))


def test_switched_off_a_function_keeps_subnormals(flush_off):
    x = np.array([2e-38, 1e-39], np.float32)
    np.testing.assert_array_equal(tf.function(lambda t: t * 0.5)(tf.constant(x)).numpy(),
                                  x * np.float32(0.5))
    assert tf.config.experimental.flush_denormals_enabled() is False


def _decayed_momentum(run_eagerly, jit_compile=False):
    """Adam's first moment of a weight whose gradient is zero for 200 steps, from 1e-30:
    it falls by beta_1 = 0.9 each step, to 1e-30 * 0.9^200 = 7e-40 in IEEE arithmetic, a
    subnormal."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    optimizer = keras.optimizers.Adam(1e-3)
    model.compile(optimizer=optimizer, loss="mse", run_eagerly=run_eagerly,
                  jit_compile=jit_compile)
    optimizer.build(model.trainable_variables)
    moment = optimizer._momentums[0]
    moment.assign(np.array([[1e-3], [1e-30]], np.float32))
    x = np.zeros((200, 2), np.float32)
    x[:, 0] = np.linspace(-1, 1, 200)  # the second input is always 0: its gradient is 0
    y = x[:, :1] * 3.0
    model.fit(x, y, batch_size=1, epochs=1, shuffle=False, verbose=0)
    return moment.numpy(), model.get_weights()[0]


def _keras_moment(steps, flush):
    """Keras's update of Adam's first moment with a zero gradient, m += (g - m) * (1 -
    beta_1), in float32 NumPy, each result flushed where `flush`."""
    keep = _flushed if flush else np.float32
    m, rate = np.float32(1e-30), np.float32(1) - np.float32(0.9)
    for _ in range(steps):
        m = keep(m + keep((np.float32(0) - m) * rate))
    return m


@pytest.mark.parametrize("run_eagerly, jit_compile",
                         [(False, False), (False, True), (True, False)])
def test_fit_flushes_a_decaying_adam_moment(run_eagerly, jit_compile):
    """Once m * 0.1 is below 1.2e-38, the flushed increment is 0 and m stays a normal
    number (1.1e-37), as on TensorFlow; IEEE arithmetic takes it on into subnormals."""
    moment, kernel = _decayed_momentum(run_eagerly, jit_compile)
    expected = _keras_moment(200, flush=True)
    assert expected >= TINY and _keras_moment(200, flush=False) < TINY
    # (to the roundings of 200 updates: the update's own float32 order may differ)
    np.testing.assert_allclose(moment[1, 0], expected, rtol=1e-4)
    assert not numpy_denormals.flushing_now()


def test_fit_with_flushing_off_keeps_the_subnormal_moment(flush_off):
    moment, kernel = _decayed_momentum(False)
    assert 0 < moment[1, 0] < TINY
    np.testing.assert_allclose(moment[1, 0], _keras_moment(200, flush=False), rtol=1e-4)


def test_flushing_changes_no_normal_number_of_a_fit(flush_off):
    kept_moment, kept_kernel = _decayed_momentum(False)
    tf.config.experimental.enable_flush_denormals(True)
    flushed_moment, flushed_kernel = _decayed_momentum(False)
    np.testing.assert_array_equal(flushed_kernel, kept_kernel)
    np.testing.assert_array_equal(flushed_moment[0], kept_moment[0])
