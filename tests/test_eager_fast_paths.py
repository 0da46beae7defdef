"""The eager fast paths of the hottest ops (add, multiply, exp, matmul, reduce_sum) and of
the operators: the same values and errors as the ordinary path through bind, and they step
aside for tracing, other backends and other threads (under a tape they record as bind does,
and matmul and add read Variables: tests/test_eager_engine_s15.py)."""

import threading

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import numpy_backend
from tensorflux.context import context

InvalidArgument = tf.errors.InvalidArgumentError


def _pair(shape=(3, 4), dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype))


def test_fast_ops_give_numpys_values():
    a, b = _pair()
    ta, tb = tf.constant(a), tf.constant(b)
    for _ in range(2):  # the first call binds the kernel, the second takes the fast path
        np.testing.assert_array_equal((ta + tb).numpy(), a + b)
        np.testing.assert_array_equal(tf.multiply(ta, tb).numpy(), a * b)
        np.testing.assert_array_equal((ta * 2.0).numpy(), a * np.float32(2.0))
        np.testing.assert_array_equal(tf.exp(ta).numpy(), np.exp(a))
        np.testing.assert_array_equal(tf.matmul(ta, tf.transpose(tb)).numpy(), a @ b.T)
        # (A small float sum over all axes is a product with ones, numpy_backend.reduce_sum:
        # NumPy's pairwise sum up to rounding.)
        np.testing.assert_allclose(tf.reduce_sum(ta).numpy(), a.astype(np.float64).sum(),
                                   rtol=1e-6, atol=1e-6 * np.abs(a).sum())
        np.testing.assert_array_equal(tf.reduce_sum(ta, axis=-1, keepdims=True).numpy(),
                                      np.add.reduce(a, -1, keepdims=True))
        assert tf.reduce_sum(tf.constant([1, 2], tf.int32)).dtype is tf.int32


def test_fast_ops_keep_the_ordinary_error_messages():
    x, y = tf.constant(np.ones((2, 3), np.float32)), tf.constant(np.ones((4, 5), np.float32))
    for _ in range(2):
        with pytest.raises(InvalidArgument, match="^add: "):
            tf.add(x, y)
        with pytest.raises(InvalidArgument, match="multiply: "):
            x * y
        with pytest.raises(InvalidArgument, match="matmul: inner dimensions differ"):
            tf.matmul(x, y)
        with pytest.raises(InvalidArgument, match="matmul: both inputs must have rank >= 2"):
            tf.matmul(tf.constant([1.0]), tf.constant([[1.0]]))
        with pytest.raises(InvalidArgument, match="reduce_sum: axis 2 is out of range"):
            tf.reduce_sum(x, axis=2)
        with pytest.raises(InvalidArgument, match="reduce_sum: bool tensors"):
            tf.reduce_sum(tf.constant([True]))
        with pytest.raises(InvalidArgument, match="exp: expected a floating-point or complex"):
            tf.exp(tf.constant([1]))
        with pytest.raises(InvalidArgument, match="same dtype"):
            tf.add(x, tf.constant(np.ones((2, 3))))


def test_a_recording_tape_still_sees_every_fast_op():
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    for _ in range(2):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.matmul(tf.exp(x) * 2.0 + x, x) * x, axis=1)
        grad = tape.gradient(y, x)
        assert grad is not None and grad.shape == (2, 2)


def test_tracing_builds_nodes_for_fast_ops_on_captured_eager_tensors():
    c = tf.constant([[1.0, 2.0]])
    tf.add(c, c)  # binds the kernel, so the fast path would be open if tracing did not close it

    @tf.function
    def f(x):
        return tf.reduce_sum(tf.matmul(tf.transpose(c), c) + tf.exp(c) * c) + x

    assert context.eager_backend is not None
    np.testing.assert_allclose(f(tf.constant(1.0)).numpy(),
                               np.sum(np.array([[1.0], [2.0]]) @ np.array([[1.0, 2.0]])
                                      + np.exp([1.0, 2.0]) * [1.0, 2.0]) + 1.0, rtol=1e-6)


def test_eager_backend_follows_graph_and_backend_assignments():
    backend = context.eager_backend
    assert backend is context.backend and backend is not None
    saved = context.graph
    context.graph = object()
    try:
        assert context.eager_backend is None
    finally:
        context.graph = saved
    assert context.eager_backend is backend
    with tf.device("CPU:0"):
        assert context.eager_backend is context.backend


def test_another_thread_starts_without_a_backend_and_still_computes():
    x = tf.constant([1.0, 2.0])
    seen = []

    def work():
        seen.append(context.eager_backend)
        seen.append((x + x).numpy().tolist())
        seen.append(context.eager_backend is context.backend)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [None, [2.0, 4.0], True]


def test_variables_take_the_ordinary_path():
    v = tf.Variable([[1.0, 2.0]])
    out = v + v
    assert out.__class__ is tf.Tensor and out.numpy().tolist() == [[2.0, 4.0]]
    assert tf.reduce_sum(v).numpy() == 3.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_matmul_kernel_matches_np_matmul_bit_for_bit(dtype):
    # The kernel takes np.dot for contiguous float matrices; np.matmul stays the reference.
    rng = np.random.default_rng(1)
    for m, k, n in [(1, 1, 1), (4, 4, 4), (1, 7, 5), (6, 7, 1), (17, 33, 9), (32, 32, 32)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        wide = rng.standard_normal((2 * m, 3 * k)).astype(dtype)
        cases = [(a, b, False, False), (np.asfortranarray(a), b, False, False),
                 (b, a, True, True), (a, a, False, True), (a, a, True, False),
                 (wide[::2, ::3], b, False, False)]
        for x, y, ta, tb in cases:
            expected = np.matmul(x.swapaxes(-1, -2) if ta else x, y.swapaxes(-1, -2) if tb else y)
            got = numpy_backend.matmul(x, y, ta, tb)
            assert got.dtype == expected.dtype and got.shape == expected.shape
            assert np.array_equal(got, expected), (m, k, n, ta, tb)
