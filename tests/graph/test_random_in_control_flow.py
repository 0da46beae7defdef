"""Random draws inside traced control flow and their gradients: a cond branch's gradient
sees the numbers its forward pass drew (its seeds are drawn outside the branch), and a traced
while loop's gradient replay draws each forward iteration's numbers (more in
tests/test_random_while_s12.py). The checks hold for any draw: they compare the gradient with
the forward values it must be a function of."""

import numpy as np
import pytest

import tensorflux as tf

X = tf.constant([1.0, 2.0, 3.0])


def test_a_cond_branch_gradient_uses_the_forward_draws():
    @tf.function
    def f(x, p):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cond(p, lambda: x * tf.random.uniform([3]), lambda: x)
            s = tf.reduce_sum(y * x)
        return y, tape.gradient(s, x)

    for p in (True, False):
        y, g = f(X, tf.constant(p))  # s = u x^2 (or x^2): ds/dx = 2 y
        np.testing.assert_allclose(g.numpy(), 2 * y.numpy(), rtol=1e-6)


@pytest.mark.parametrize("p, q", [(True, True), (True, False), (False, True)])
def test_nested_cond_branches_and_run_time_shapes_use_the_forward_draws(p, q):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32),
                                  tf.TensorSpec([], tf.bool), tf.TensorSpec([], tf.bool)])
    def f(x, p, q):
        with tf.GradientTape() as tape:
            tape.watch(x)
            inner = lambda: tf.cond(q, lambda: x * tf.random.uniform(tf.shape(x)),  # noqa: E731
                                    lambda: x * 2.0)
            y = tf.cond(p, lambda: inner() * tf.random.normal(tf.shape(x)), lambda: x)
            s = tf.reduce_sum(y * x)
        return y, tape.gradient(s, x)

    y, g = f(X, tf.constant(p), tf.constant(q))
    np.testing.assert_allclose(g.numpy(), 2 * y.numpy(), rtol=1e-6)


def test_draws_in_a_cond_branch_are_new_on_every_call_and_per_op():
    gen = tf.random.Generator.from_seed(1)

    @tf.function
    def f(p):
        return tf.cond(p, lambda: tf.stack([tf.random.uniform([2]), gen.normal([2])]),
                       lambda: tf.zeros([2, 2]))

    first, second = f(tf.constant(True)).numpy(), f(tf.constant(True)).numpy()
    assert not np.array_equal(first, second)
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(f(tf.constant(False)).numpy(), np.zeros((2, 2)))


def _loop(x):
    return tf.while_loop(lambda i, y: i < 3,
                         lambda i, y: (i + 1, y * x * tf.random.uniform([3])),
                         [0, tf.ones_like(x)])[1]


def test_a_traced_loop_that_draws_random_numbers_has_its_gradient():
    @tf.function
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = _loop(x)
            s = tf.reduce_sum(y)
        return y, tape.gradient(s, x)

    y, g = f(X)  # y = x^3 * u1 u2 u3 with the forward's draws: dy/dx = 3 y / x
    np.testing.assert_allclose(g.numpy(), 3 * y.numpy() / X.numpy(), rtol=1e-5)


def test_an_eager_loop_that_draws_random_numbers_has_its_gradient():
    with tf.GradientTape() as tape:
        tape.watch(X)
        y = _loop(X)
        s = tf.reduce_sum(y)
    g = tape.gradient(s, X)  # y = x^3 * u1 u2 u3: dy/dx = 3 y / x
    np.testing.assert_allclose(g.numpy(), 3 * y.numpy() / X.numpy(), rtol=1e-5)
