"""Second and higher derivatives through tf.while_loop in a traced function (the VJP of
`while_grad`), reverse over reverse and forward over reverse, against closed forms and
central differences of the first derivative."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.graph.control_flow import while_loop
from tests.tolerances import FD_EPS, GRAD, assert_close, central_difference

X = np.array([0.7, -1.2, 1.9])


def _power(x, n):
    return while_loop(lambda i, y: i < n, lambda i, y: (i + 1, y * x), [0, tf.ones_like(x)])[1]


def _sin_iterated(x, n):
    return while_loop(lambda i, y: i < n, lambda i, y: (i + 1, tf.sin(y * x)), [0, x])[1]


def _with_cond(x, n):
    def body(i, y):
        return i + 1, tf.cond(tf.reduce_sum(y) > 1.0, lambda: y * x, lambda: y + x * x)
    return while_loop(lambda i, y: i < n, body, [0, x])[1]


def _mixing(x, n):
    # Couples the elements (a non-diagonal Hessian) through a captured matrix.
    m = tf.constant([[0.5, -0.3, 0.2], [0.1, 0.4, -0.6], [-0.2, 0.3, 0.5]], tf.float64)

    def body(i, h):
        return i + 1, tf.tanh(tf.linalg.matvec(m, h) * x + x)
    return while_loop(lambda i, h: i < n, body, [0, x])[1]


def _first_and_second(fn):
    """(g, dg/dx) with g = d sum(fn(x, n)) / dx: the second is the Hessian's row sums."""
    def derivatives(x, n):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(fn(x, n))
            g = inner.gradient(y, x)
        return g, outer.gradient(g, x)
    return derivatives


@pytest.mark.parametrize("n", [0, 1, 3])
def test_power_loop_second_derivative_with_a_tensor_trip_count(n):
    f = tf.function(_first_and_second(_power))
    g, h = f(tf.constant(X), tf.constant(n))
    assert_close(g.numpy(), n * X ** max(n - 1, 0) if n else np.zeros(3), what="first")
    assert_close(h.numpy(), n * (n - 1) * X ** max(n - 2, 0), what="second")


def test_eager_while_loop_is_differentiable_twice_too():
    g, h = _first_and_second(_power)(tf.constant(X), tf.constant(3))
    assert_close(g.numpy(), 3 * X ** 2)
    assert_close(h.numpy(), 6 * X)


@pytest.mark.parametrize("fn", [_sin_iterated, _with_cond, _mixing],
                         ids=["sin", "cond", "mixing"])
def test_second_derivative_matches_central_differences_of_the_first(fn):
    f = tf.function(_first_and_second(fn))
    n = tf.constant(3)
    _, h = f(tf.constant(X), n)
    expected = central_difference(lambda x: float(tf.reduce_sum(f(tf.constant(x), n)[0])), X)
    assert_close(h.numpy(), expected, rtol=GRAD[0], atol=GRAD[1])
    # The same values eagerly (a Python loop recorded op by op).
    assert_close(_first_and_second(fn)(tf.constant(X), n)[1].numpy(), h.numpy())


def test_second_derivative_reaches_variables_and_captures():
    w = tf.Variable([0.5, -1.0, 0.8], dtype=tf.float64)

    @tf.function
    def f(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                y = while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * w + x), [0, x])[1]
                loss = tf.reduce_sum(y * y)
            g = inner.gradient(loss, w)
        return g, outer.gradient(g, [w, x])

    x = tf.constant(X)
    _, (hw, hx) = f(x)

    def first(wv, xv):
        w.assign(wv)
        return float(tf.reduce_sum(f(tf.constant(xv))[0]))

    w0 = w.numpy()
    expected_w = central_difference(lambda wv: first(wv, X), w0)
    expected_x = central_difference(lambda xv: first(w0, xv), X)
    w.assign(w0)
    assert_close(hw.numpy(), expected_w, rtol=GRAD[0], atol=GRAD[1], what="d2/dw2")
    assert_close(hx.numpy(), expected_x, rtol=GRAD[0], atol=GRAD[1], what="d2/dwdx")


def test_forward_over_reverse_hessian_vector_product():
    v = np.array([1.0, 0.5, -2.0])

    @tf.function
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(_mixing(x, 3))
        return tape.gradient(y, x)

    @tf.function
    def hvp(x, v):
        with tf.autodiff.ForwardAccumulator(x, v) as acc:
            g = gradient(x)
        return acc.jvp(g)

    result = hvp(tf.constant(X), tf.constant(v)).numpy()
    expected = (gradient(tf.constant(X + FD_EPS * v)).numpy()
                - gradient(tf.constant(X - FD_EPS * v)).numpy()) / (2 * FD_EPS)
    assert_close(result, expected, rtol=GRAD[0], atol=GRAD[1])
    with tf.autodiff.ForwardAccumulator(x := tf.constant(X), tf.constant(v)) as acc:
        g = _first_and_second(_power)(x, tf.constant(3))[0]
    assert_close(acc.jvp(g).numpy(), 6 * X * v)


def test_autograph_range_loop_third_derivative_and_maximum_iterations():
    @tf.function
    def f(x, n):
        with tf.GradientTape() as t3:
            t3.watch(x)
            with tf.GradientTape() as t2:
                t2.watch(x)
                with tf.GradientTape() as t1:
                    t1.watch(x)
                    y = tf.ones_like(x)
                    for _ in tf.range(n):
                        y = y * x
                g = t1.gradient(y, x)
            h = t2.gradient(g, x)
        return h, t3.gradient(h, x)

    h, third = f(tf.constant(X), tf.constant(4))
    assert_close(h.numpy(), 12 * X ** 2)
    assert_close(third.numpy(), 24 * X)

    @tf.function
    def capped(x):
        y = while_loop(lambda i, y: i < 10, lambda i, y: (i + 1, y * x), [0, tf.ones_like(x)],
                       maximum_iterations=2)[1]
        return y
    _, h = tf.function(_first_and_second(lambda x, n: capped(x)))(tf.constant(X), 0)
    assert_close(h.numpy(), 2 * np.ones(3))


def test_nested_loops_tensor_arrays_and_unknown_shapes():
    def nested(x, n):  # x ** (2 n): a loop inside the body
        def outer(i, y):
            return i + 1, while_loop(lambda j, z: j < 2, lambda j, z: (j + 1, z * x), [0, y])[1]
        return while_loop(lambda i, y: i < n, outer, [0, tf.ones_like(x)])[1]

    _, h = tf.function(_first_and_second(nested))(tf.constant(X), tf.constant(2))
    assert_close(h.numpy(), 12 * X ** 2)

    def powers(x, n):  # [x, x**2, x**3] stacked from a TensorArray loop variable
        def body(i, y, array):
            return i + 1, y * x, array.write(i, y * x)
        array = tf.TensorArray(tf.float64, size=n)
        return while_loop(lambda i, y, a: i < n, body, [0, tf.ones_like(x), array])[2].stack()

    _, h = tf.function(_first_and_second(powers))(tf.constant(X), 3)
    assert_close(h.numpy(), 2 + 6 * X)

    f = tf.function(_first_and_second(_power), input_signature=[
        tf.TensorSpec([None], tf.float64), tf.TensorSpec([], tf.int32)])
    _, h = f(tf.constant(X), tf.constant(3))
    assert_close(h.numpy(), 6 * X)
