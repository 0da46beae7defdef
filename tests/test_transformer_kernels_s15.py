"""Fused softmax gradient: the softmax_grad kernel and primitive that softmax's VJP uses for
float32/float64 over the last axis of rank >= 2, against NumPy in float64, central
differences, the op-by-op VJP it replaces (bit for bit), tf.function and model.fit."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend
from tensorflux.ops import nn, reduction

SHAPES = [(3, 5), (2, 3, 1), (4, 7, 9), (1000, 129), (32, 4, 64, 64), (3, 300, 301)]


def op_by_op(g, y, axis):
    """softmax's previous VJP, in tensorflux ops (the same steps as the kernel's)."""
    residual = g - reduction.reduce_sum(g * y, axis=axis, keepdims=True)
    residual = residual - reduction.reduce_sum(residual * y, axis=axis, keepdims=True)
    return y * residual


def ref_grad(g, y):
    """float64 softmax VJP: y * (g - sum(g * y))."""
    g, y = np.asarray(g, np.float64), np.asarray(y, np.float64)
    return y * (g - (g * y).sum(axis=-1, keepdims=True))


def numpy_steps(g, y):
    residual = g - np.add.reduce(g * y, axis=-1, keepdims=True)
    residual = residual - np.add.reduce(residual * y, axis=-1, keepdims=True)
    return y * residual


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_is_the_op_by_op_steps_bit_for_bit(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    y = numpy_backend.softmax(rng.normal(0, 3, shape).astype(dtype), -1)
    g = rng.normal(0, 1, shape).astype(dtype)
    out = numpy_backend.softmax_grad(g, y, len(shape) - 1)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, numpy_steps(g, y))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(out, ref_grad(g, y), rtol=tol, atol=tol)


def test_kernel_other_layouts_fall_back():
    rng = np.random.default_rng(1)
    y = numpy_backend.softmax(rng.normal(size=(64, 2048)).astype(np.float32), -1)
    g = rng.normal(size=(2048, 64)).astype(np.float32).T  # not C-contiguous
    np.testing.assert_array_equal(numpy_backend.softmax_grad(g, y, 1), numpy_steps(g, y))
    y0 = numpy_backend.softmax(rng.normal(size=(5, 3)), 0)
    g0 = rng.normal(size=(5, 3))
    expected = y0 * (g0 - (g0 * y0).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(numpy_backend.softmax_grad(g0, y0, 0), expected, rtol=1e-13,
                               atol=1e-15)


def tape_grad(x, g, axis=-1):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.nn.softmax(x, axis=axis)
    return y, tape.gradient(y, x, output_gradients=g)


@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 64, 64), (7, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_gradient_equals_previous_vjp_eager_and_traced(shape, dtype):
    rng = np.random.default_rng(len(shape))
    x = tf.constant(rng.normal(0, 2, shape).astype(dtype))
    g = tf.constant(rng.normal(0, 1, shape).astype(dtype))
    y, d = tape_grad(x, g)
    np.testing.assert_array_equal(d.numpy(), op_by_op(g, y, len(shape) - 1).numpy())
    traced = tf.function(lambda x, g: tape_grad(x, g)[1])(x, g)
    np.testing.assert_array_equal(traced.numpy(), d.numpy())
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(d.numpy(), ref_grad(g.numpy(), y.numpy()), rtol=tol, atol=tol)


def test_softmax_gradient_central_differences_float64():
    rng = np.random.default_rng(3)
    x0 = rng.normal(0, 1.5, (3, 2, 5))
    g = rng.normal(0, 1, x0.shape)
    _, d = tape_grad(tf.constant(x0), tf.constant(g))
    numeric = np.zeros_like(x0)
    h = 1e-6
    for i in np.ndindex(x0.shape):
        plus, minus = x0.copy(), x0.copy()
        plus[i] += h
        minus[i] -= h
        f = [(numpy_backend.softmax(v, -1) * g).sum() for v in (plus, minus)]
        numeric[i] = (f[0] - f[1]) / (2 * h)
    np.testing.assert_allclose(d.numpy(), numeric, rtol=1e-7, atol=1e-9)


def test_other_dtypes_and_axes_keep_the_op_by_op_vjp():
    rng = np.random.default_rng(4)
    for dtype, shape, axis in (("float16", (4, 6), -1), ("float32", (4, 6), 0),
                               ("float64", (9,), -1)):
        x = tf.constant(rng.normal(size=shape).astype(dtype))
        g = tf.constant(rng.normal(size=shape).astype(dtype))
        y, d = tape_grad(x, g, axis)
        assert d.dtype == x.dtype
        np.testing.assert_array_equal(
            d.numpy(), op_by_op(g, y, axis % len(shape)).numpy())


def test_second_order_through_softmax_grad():
    """The kernel's VJP (both cotangents, y not assumed normalized) against central
    differences of the float64 kernel in g and y."""
    rng = np.random.default_rng(5)
    g0 = rng.normal(size=(2, 3, 4))
    y0 = rng.uniform(0.1, 1.0, (2, 3, 4))
    h0 = rng.normal(size=(2, 3, 4))
    g, y = tf.constant(g0), tf.constant(y0)
    with tf.GradientTape() as tape:
        tape.watch([g, y])
        out = nn._softmax_grad.bind(g, y, axis=2)
    dg, dy = tape.gradient(out, [g, y], output_gradients=tf.constant(h0))
    step = 1e-6
    for value, analytic, which in ((g0, dg, 0), (y0, dy, 1)):
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[i] += step
            minus[i] -= step
            f = []
            for v in (plus, minus):
                args = (v, y0) if which == 0 else (g0, v)
                f.append((numpy_backend.softmax_grad(*args, 2) * h0).sum())
            numeric[i] = (f[0] - f[1]) / (2 * step)
        np.testing.assert_allclose(analytic.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_hessian_vector_product_of_softmax_loss():
    """Gradients of gradients through softmax: the second derivative of sum(w * softmax(x))
    along v, against central differences of the first derivative (float64)."""
    rng = np.random.default_rng(6)
    x0, w, v = (rng.normal(size=(3, 6)) for _ in range(3))

    def first(x):
        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.nn.softmax(x) * w)
        return tape.gradient(loss, x)

    x = tf.constant(x0)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            loss = tf.reduce_sum(tf.nn.softmax(x) * w)
        d = inner.gradient(loss, x)
        directional = tf.reduce_sum(d * v)
    hv = outer.gradient(directional, x).numpy()
    step = 1e-5
    numeric = (first(x0 + step * v).numpy() - first(x0 - step * v).numpy()) / (2 * step)
    np.testing.assert_allclose(hv, numeric, rtol=1e-6, atol=1e-8)


def _transformer(seed):
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    tokens = keras.Input(shape=(64,), dtype="int32")
    h = layers.Embedding(50, 8)(tokens)
    # (16 x 4 x 64 x 64 attention scores: the kernel's blocks on the threads)
    h = layers.LayerNormalization()(h + layers.MultiHeadAttention(4, 4)(h, h))
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(h))
    return keras.Model(tokens, out)


def test_model_fit_equals_the_previous_vjp(monkeypatch):
    """A MultiHeadAttention model trained with the fused VJP has exactly the weights of one
    trained with the op-by-op VJP."""
    rng = np.random.default_rng(7)
    x, y = rng.integers(0, 50, (64, 64)), rng.integers(0, 2, 64)
    weights = []
    calls = []
    primitive = nn._softmax_grad

    class Recording:
        @staticmethod
        def bind(g, y, **attrs):
            calls.append(tuple(y.shape))
            return primitive.bind(g, y, **attrs)

    monkeypatch.setattr(nn, "_softmax_grad", Recording)
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(nn._softmax, "vjp", lambda g, x, out, axis: (
                op_by_op(g, out, axis),))
        model = _transformer(0)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        weights.append([w.numpy() for w in model.weights])
        assert ((16, 4, 64, 64) in calls) is fused  # (traced with the kernel or not)
        calls.clear()
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(5, 10), (2, 3, 7), (4, 64), (3, 200), (2, 300)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_native_lowering_gives_the_numpy_kernels_bits(monkeypatch, shape, dtype):
    """jit_compile's native plan lowers softmax_grad row by row (numpy_native): the same
    bits as the NumPy runner's kernel, each sum in np.add.reduce's order."""
    pytest.importorskip("numba")
    from tensorflux.backends import numpy_native

    monkeypatch.setattr(numpy_native, "_HOT_CALLS", 1)
    rng = np.random.default_rng(sum(shape))
    e = np.exp(rng.standard_normal(shape))
    y = tf.constant((e / e.sum(axis=-1, keepdims=True)).astype(dtype))  # (a softmax's output)
    g = tf.constant(rng.standard_normal(shape).astype(dtype))

    def vjp(g, y):
        return nn._softmax_vjp(g, None, y, axis=len(shape) - 1)[0]

    results = []
    for jit in (False, True):
        function = tf.function(vjp, jit_compile=jit)
        for _ in range(3):
            out = function(g, y)
        results.append(out.numpy())
        plan = function.get_concrete_function(g, y)._plan()[0]
        assert any(node.primitive.name == "softmax_grad" for node in plan.graph.nodes)
        if jit:
            assert plan.native_reason is None, plan.native_reason
    np.testing.assert_array_equal(results[1].view(np.uint8), results[0].view(np.uint8))
    np.testing.assert_allclose(results[0], ref_grad(g.numpy(), y.numpy()), rtol=1e-4,
                               atol=1e-6)
