"""Random draws inside traced while loops (tf.while_loop, AutoGraph loops, map_fn) and their
gradients: the gradient replays the loop body, and each replayed iteration must draw the
numbers its forward iteration drew. Every check compares the gradient with a closed form or
NumPy central differences built from the draws the forward pass returned, so a replay that
drew other numbers fails it."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.tolerances import central_difference

X = tf.constant([0.5, 1.0, 1.5], tf.float64)


def _product_loop(n):
    """y_{k+1} = y_k * u_k, acc += u_k, and the draws u_k in a TensorArray."""

    @tf.function
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)

            def body(i, y, acc, drawn):
                u = tf.random.uniform([3], dtype=tf.float64)
                return i + 1, y * u, acc + u, drawn.write(i, u)

            _, y, acc, drawn = tf.while_loop(
                lambda i, *rest: i < n, body,
                [0, x, tf.zeros_like(x), tf.TensorArray(tf.float64, n)])
            s = tf.reduce_sum(y)
        return y, acc, drawn.stack(), tape.gradient(s, x)

    return f


@pytest.mark.parametrize("n", [1, 2, 5])
def test_the_gradient_is_the_product_of_the_draws_the_forward_loop_made(n):
    y, acc, drawn, g = (t.numpy() for t in _product_loop(n)(X))
    np.testing.assert_allclose(acc, drawn.sum(0), rtol=1e-12)
    np.testing.assert_allclose(y, X.numpy() * drawn.prod(0), rtol=1e-12)
    np.testing.assert_allclose(g, drawn.prod(0), rtol=1e-12)  # d(x u0 u1 ...)/dx


def test_draws_differ_between_iterations_and_calls_and_repeat_after_set_seed():
    f = _product_loop(4)
    first, second = f(X)[2].numpy(), f(X)[2].numpy()
    assert len({tuple(row) for row in first.tolist()}) == 4
    assert not np.array_equal(first, second)
    tf.random.set_seed(11)
    a = f(X)[2].numpy()
    tf.random.set_seed(11)
    np.testing.assert_array_equal(f(X)[2].numpy(), a)
    tf.random.set_seed(None)


def _nonlinear(x, draws):
    for u in draws:
        x = np.sin(x * u) + 0.25 * x * x
    return x


def test_a_nonlinear_body_matches_central_differences_with_the_draws_held_fixed():
    @tf.function
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)

            def body(i, y, drawn):
                u = tf.random.normal([3], dtype=tf.float64)
                return i + 1, tf.sin(y * u) + 0.25 * y * y, drawn.write(i, u)

            _, y, drawn = tf.while_loop(lambda i, *rest: i < 3, body,
                                        [0, x, tf.TensorArray(tf.float64, 3)])
            s = tf.reduce_sum(y * y)
        return drawn.stack(), tape.gradient(s, x)

    drawn, g = (t.numpy() for t in f(X))
    expected = central_difference(lambda x: np.sum(_nonlinear(x, drawn) ** 2), X.numpy())
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-9)


def test_dropout_in_an_autograph_for_loop_gets_the_gradient_of_its_own_masks():
    x32 = tf.constant([1.0, 2.0, 3.0, 4.0])

    @tf.function
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            s = tf.constant(0.0)
            kept = tf.TensorArray(tf.float32, 3)
            for i in tf.range(3):
                d = tf.nn.dropout(x, rate=0.5)
                kept = kept.write(i, d)
                s += tf.reduce_sum(d * x)  # = sum(mask * x^2): ds/dx = 2 * d
        return kept.stack(), tape.gradient(s, x)

    kept, g = (t.numpy() for t in f(x32))
    np.testing.assert_allclose(g, 2 * kept.sum(0), rtol=1e-6)
    assert set(np.unique(kept / x32.numpy()).tolist()) <= {0.0, 2.0}


def test_a_keras_dropout_layer_called_in_a_loop_gets_the_gradient_of_its_masks():
    layer = keras.layers.Dropout(0.5)
    x32 = tf.constant([1.0, 2.0, 3.0, 4.0])

    @tf.function
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            s = tf.constant(0.0)
            kept = tf.TensorArray(tf.float32, 4)
            for i in tf.range(4):
                d = layer(x, training=True)
                kept = kept.write(i, d)
                s += tf.reduce_sum(d * x)
        return kept.stack(), tape.gradient(s, x)

    kept, g = (t.numpy() for t in f(x32))
    np.testing.assert_allclose(g, 2 * kept.sum(0), rtol=1e-6)


def test_a_stateful_generator_in_a_loop():
    def run(generator):
        @tf.function
        def f(x):
            with tf.GradientTape() as tape:
                tape.watch(x)

                def body(i, y, drawn):
                    u = generator.normal([3], dtype=tf.float64)
                    return i + 1, tf.sin(y * u), drawn.write(i, u)

                _, y, drawn = tf.while_loop(lambda i, *rest: i < 3, body,
                                            [0, x, tf.TensorArray(tf.float64, 3)])
            return drawn.stack(), tape.gradient(y, x)

        return f

    f = run(tf.random.Generator.from_seed(3))
    drawn, g = (t.numpy() for t in f(X))

    def forward(x):
        for u in drawn:
            x = np.sin(x * u)
        return x

    # (The tape's gradient of y is that of sum(y).)
    expected = central_difference(lambda v: np.sum(forward(v)), X.numpy())
    np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-9)
    assert len({tuple(row) for row in drawn.tolist()}) == 3
    assert not np.array_equal(f(X)[0].numpy(), drawn)  # the generator advanced
    again = run(tf.random.Generator.from_seed(3))(X)[0].numpy()
    np.testing.assert_array_equal(again, drawn)  # a seeded generator replays its sequence


@pytest.mark.parametrize("p", [True, False])
def test_nested_loops_with_a_cond_inside_use_the_forward_draws(p):
    @tf.function
    def f(x, p):
        with tf.GradientTape() as tape:
            tape.watch(x)

            def inner(j, z, drawn, k):
                u = tf.cond(p, lambda: tf.random.uniform([3], dtype=tf.float64) + 0.5,
                            lambda: tf.random.normal([3], dtype=tf.float64))
                return j + 1, z * u, drawn.write(k, u), k + 1

            def outer(i, y, drawn, k):
                _, y, drawn, k = tf.while_loop(lambda j, *rest: j < 2, inner, [0, y, drawn, k])
                return i + 1, y, drawn, k

            _, y, drawn, _ = tf.while_loop(lambda i, *rest: i < 3, outer,
                                           [0, x, tf.TensorArray(tf.float64, 6), 0])
            s = tf.reduce_sum(y)
        return drawn.stack(), tape.gradient(s, x)

    drawn, g = (t.numpy() for t in f(X, tf.constant(p)))
    np.testing.assert_allclose(g, drawn.prod(0), rtol=1e-12)
    assert len({tuple(row) for row in drawn.tolist()}) == 6  # no two iterations alike


def test_a_random_trip_count_of_an_inner_loop_is_replayed():
    # The inner loop's condition draws: the outer gradient's replay must run each inner loop
    # as many times as the forward pass did.
    @tf.function
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)

            def inner(j, z, n):
                return j + 1, z * 1.5, n + 1

            def outer(i, y, n):
                go_on = lambda j, z, n: tf.logical_and(  # noqa: E731
                    j < 6, tf.random.uniform([]) < 0.6)
                _, y, n = tf.while_loop(go_on, inner, [0, y, n])
                return i + 1, y, n

            _, y, n = tf.while_loop(lambda i, *rest: i < 3, outer, [0, x, 0])
            s = tf.reduce_sum(y)
        return n, tape.gradient(s, x)

    counts = set()
    for _ in range(6):
        n, g = f(X)
        counts.add(int(n))
        np.testing.assert_allclose(g.numpy(), np.full(3, 1.5 ** int(n)), rtol=1e-12)
    assert len(counts) > 1  # the trip counts were random


def test_second_order_through_a_loop_that_draws():
    @tf.function
    def f(x):
        with tf.GradientTape() as outer_tape:
            outer_tape.watch(x)
            with tf.GradientTape() as tape:
                tape.watch(x)

                def body(i, y, drawn):
                    u = tf.random.uniform([3], dtype=tf.float64)
                    return i + 1, y * y * u, drawn.write(i, u)

                _, y, drawn = tf.while_loop(lambda i, *rest: i < 2, body,
                                            [0, x, tf.TensorArray(tf.float64, 2)])
                s = tf.reduce_sum(y)
            g = tape.gradient(s, x)
        return drawn.stack(), g, outer_tape.gradient(g, x)

    drawn, g, gg = (t.numpy() for t in f(X))
    x = X.numpy()
    c = drawn[0] ** 2 * drawn[1]  # y = (x^2 u0)^2 u1 = c x^4
    np.testing.assert_allclose(g, 4 * c * x ** 3, rtol=1e-12)
    np.testing.assert_allclose(gg, 12 * c * x ** 2, rtol=1e-12)


def test_a_tape_outside_the_function_and_maximum_iterations():
    f = tf.function(lambda x: tf.while_loop(
        lambda i, y: True, lambda i, y: (i + 1, y * tf.random.uniform([3], dtype=tf.float64)),
        [0, x], maximum_iterations=4)[1])
    with tf.GradientTape() as tape:
        tape.watch(X)
        y = f(X)
    np.testing.assert_allclose(tape.gradient(y, X).numpy(), y.numpy() / X.numpy(), rtol=1e-12)


def test_a_tf_function_that_draws_called_in_a_loop_body():
    draw = tf.function(lambda: tf.random.uniform([3], dtype=tf.float64))

    @tf.function
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)

            def body(i, y, drawn):
                u = draw()
                return i + 1, y * u, drawn.write(i, u)

            _, y, drawn = tf.while_loop(lambda i, *rest: i < 3, body,
                                        [0, x, tf.TensorArray(tf.float64, 3)])
            s = tf.reduce_sum(y)
        return drawn.stack(), tape.gradient(s, x)

    drawn, g = (t.numpy() for t in f(X))
    np.testing.assert_allclose(g, drawn.prod(0), rtol=1e-12)
    assert len({tuple(row) for row in drawn.tolist()}) == 3


def test_map_fn_that_draws():
    # (An unknown length: map_fn stages a tf.while_loop rather than unrolling.)
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.map_fn(lambda r: r * r * tf.random.uniform([], dtype=tf.float64), x)
            s = tf.reduce_sum(y)
        return y, tape.gradient(s, x)

    y, g = (t.numpy() for t in f(X))
    np.testing.assert_allclose(g, 2 * y / X.numpy(), rtol=1e-12)


def test_the_seed_streams_sit_outside_the_loop_and_loops_without_draws_carry_no_counter():
    def random_body(i, y):
        return i + 1, y * tf.random.uniform([3], dtype=tf.float64)

    def plain_body(i, y):
        return i + 1, y * 2.0

    def loop_node(body):
        traced = tf.function(lambda x: tf.while_loop(lambda i, y: i < 2, body, [0, x])[1])
        graph = traced.get_concrete_function(X).graph
        return graph, next(n for n in graph.nodes if "while" in n.type)

    graph, node = loop_node(random_body)
    body = node.attrs["loop"].body.graph
    assert "random_seed_stream" in [n.type for n in graph.nodes]
    assert "random_seed_stream" not in [n.type for n in body.nodes]
    assert len(body.inputs) == 3  # the hidden iteration counter, i and y
    _, node = loop_node(plain_body)
    assert len(node.attrs["loop"].body.graph.inputs) == 2


def test_eager_loops_are_unchanged():
    tf.random.set_seed(4)
    with tf.GradientTape() as tape:
        tape.watch(X)
        y = tf.while_loop(lambda i, y: i < 3,
                          lambda i, y: (i + 1, y * tf.random.uniform([3], dtype=tf.float64)),
                          [0, X])[1]
    g = tape.gradient(y, X).numpy()
    tf.random.set_seed(4)
    draws = [tf.random.uniform([3], dtype=tf.float64).numpy() for _ in range(3)]
    tf.random.set_seed(None)
    np.testing.assert_allclose(g, np.prod(draws, 0), rtol=1e-12)
