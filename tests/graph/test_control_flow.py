"""tf.cond, tf.while_loop, tf.print and tf.gradients: eager, traced, and their gradients."""

import sys

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.graph.control_flow import cond, while_loop
from tensorflux.graph.gradients import gradients
from tensorflux.ops.logging import print as tf_print
from tests.tolerances import GRAD, assert_close, central_difference


def _node_types(fn, *args):
    return [n.primitive.name for n in fn.get_concrete_function(*args).graph.nodes]


def _tape_gradient(f, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x).numpy()


# ------------------------------------------------------------------ tf.cond

def test_cond_eager_calls_one_branch():
    calls = []
    result = cond(tf.constant(False), lambda: calls.append("t") or tf.constant(1.0),
                  lambda: calls.append("f") or tf.constant(2.0))
    assert float(result) == 2.0 and calls == ["f"]
    assert float(cond(True, lambda: tf.constant(1.0), lambda: tf.constant(2.0))) == 1.0


def test_cond_traced_is_one_node_that_picks_a_branch_at_each_call():
    f = tf.function(lambda x: cond(tf.reduce_sum(x) > 0.0, lambda: x * 2.0, lambda: x - 1.0))
    np.testing.assert_allclose(f(tf.constant([1.0, 2.0])).numpy(), [2.0, 4.0])
    np.testing.assert_allclose(f(tf.constant([-1.0, -2.0])).numpy(), [-2.0, -3.0])
    assert _node_types(f, tf.constant([1.0, 2.0])).count("cond") == 1
    assert f.experimental_get_tracing_count() == 1


def test_cond_returns_nested_structures_and_merges_shapes():
    @tf.function
    def f(x, flag):
        return cond(flag, lambda: {"a": x[:2], "b": (x[0],)},
                    lambda: {"a": x, "b": (x[1],)})

    concrete = f.get_concrete_function(tf.TensorSpec([3], tf.float32),
                                       tf.TensorSpec([], tf.bool))
    assert concrete.graph.outputs[0].shape.as_list() == [None]
    out = f(tf.constant([1.0, 2.0, 3.0]), tf.constant(True))
    assert out["a"].numpy().tolist() == [1.0, 2.0] and float(out["b"][0]) == 1.0
    out = f(tf.constant([1.0, 2.0, 3.0]), tf.constant(False))
    assert out["a"].numpy().tolist() == [1.0, 2.0, 3.0] and float(out["b"][0]) == 2.0


def test_cond_branch_mismatches_are_clear_errors():
    x = tf.TensorSpec([2], tf.float32)
    structure = tf.function(lambda x: cond(x[0] > 0.0, lambda: (x, x), lambda: x))
    with pytest.raises(tf.errors.InvalidArgumentError, match="true_fn returned .*false_fn"):
        structure.get_concrete_function(x)
    dtype = tf.function(lambda x: cond(x[0] > 0.0, lambda: x, lambda: tf.cast(x, tf.float64)))
    with pytest.raises(TypeError, match="same dtypes.*float32.*float64"):
        dtype.get_concrete_function(x)
    predicate = tf.function(lambda x: cond(x, lambda: x, lambda: x))
    with pytest.raises(tf.errors.InvalidArgumentError, match="scalar bool.*float32"):
        predicate.get_concrete_function(x)


def test_nested_cond_captures_through_both_levels():
    @tf.function
    def f(x, y):
        return cond(x > 0.0, lambda: cond(y > 0.0, lambda: x * y, lambda: x - y),
                    lambda: y)

    cases = [(2.0, 3.0, 6.0), (2.0, -3.0, 5.0), (-2.0, 3.0, 3.0)]
    for x, y, expected in cases:
        assert float(f(tf.constant(x), tf.constant(y))) == expected


def _branchy(x):
    return cond(tf.reduce_sum(x) > 0.0, lambda: tf.reduce_sum(tf.sin(x) * x),
                lambda: tf.reduce_sum(x * x * x))


@pytest.mark.parametrize("point", [[0.3, 0.7], [-0.4, -0.9]])
def test_cond_gradients_traced_and_eager_match_finite_differences(point):
    reference = central_difference(
        lambda v: np.sum(np.sin(v) * v) if v.sum() > 0 else np.sum(v ** 3), point)
    eager = _tape_gradient(_branchy, point)

    @tf.function
    def traced(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = _branchy(x)
        return tape.gradient(y, x), gradients(y, x)[0]

    from_tape, from_gradients = traced(tf.constant(point))
    concrete = tf.function(_branchy)
    through_function = _tape_gradient(concrete, point)
    for grad in (eager, from_tape.numpy(), from_gradients.numpy(), through_function):
        assert_close(grad, reference, rtol=GRAD[0], atol=GRAD[1], what="cond gradient")


def test_cond_gradient_reaches_variables_and_second_order():
    v = tf.Variable(2.0, dtype=tf.float64)

    @tf.function
    def f(x):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = cond(x > 0.0, lambda: x * x * x * v, lambda: x)
            dx = inner.gradient(y, x)
        return dx, outer.gradient(dx, x)

    dx, d2x = f(tf.constant(1.5, tf.float64))
    assert_close(dx.numpy(), 3 * 1.5 ** 2 * 2.0)
    assert_close(d2x.numpy(), 6 * 1.5 * 2.0)
    with tf.GradientTape() as tape:
        y = tf.function(lambda x: cond(x > 0.0, lambda: x * v, lambda: x))(
            tf.constant(3.0, tf.float64))
    assert_close(tape.gradient(y, v).numpy(), 3.0)


# ------------------------------------------------------------------ tf.while_loop

def test_while_loop_eager_and_traced_agree():
    def run(n):
        return while_loop(lambda i, s: i < n, lambda i, s: (i + 1, s + tf.cast(i, tf.float32)),
                          (tf.constant(0), tf.constant(0.0)))

    eager = run(tf.constant(5))
    assert isinstance(eager, tuple) and int(eager[0]) == 5 and float(eager[1]) == 10.0
    traced = tf.function(run)
    for n, total in [(5, 10.0), (0, 0.0), (3, 3.0)]:
        i, s = traced(tf.constant(n))
        assert int(i) == n and float(s) == total
    assert _node_types(traced, tf.constant(1)).count("while") == 1


def test_while_loop_single_var_nested_structures_and_maximum_iterations():
    # As TF 2.21: loop_vars is a list or tuple; traced, the body of a single loop variable
    # may return it bare.
    with pytest.raises(TypeError, match="list or tuple"):
        while_loop(lambda x: x < 10, lambda x: x * 2, tf.constant(1))
    single = tf.function(lambda: while_loop(lambda x: x < 10, lambda x: x * 2,
                                            [tf.constant(1)]))()
    assert isinstance(single, list) and int(single[0]) == 16

    @tf.function
    def f(x):
        return while_loop(lambda state: state["n"] < 100,
                          lambda state: [{"n": state["n"] + 1, "v": state["v"] * 2.0}],
                          [{"n": tf.constant(0), "v": x}], maximum_iterations=3)

    out = f(tf.constant([1.0, 2.0]))
    assert isinstance(out, list) and int(out[0]["n"]) == 3
    assert out[0]["v"].numpy().tolist() == [8.0, 16.0]
    eager = while_loop(lambda n: n < 100, lambda n: (n + 1,), [tf.constant(0)],
                       maximum_iterations=4)
    assert isinstance(eager, tuple) and int(eager[0]) == 4


def test_while_loop_shapes_must_stay_unless_invariants_say_otherwise():
    grow = (lambda i, x: i < 3, lambda i, x: (i + 1, tf.concat([x, x], axis=0)))
    start = [tf.constant(0), tf.constant([1.0])]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \(1,\).*shape_invariants"):
        tf.function(lambda: while_loop(*grow, start))()
    f = tf.function(lambda: while_loop(*grow, start, shape_invariants=[
        tf.TensorShape([]), tf.TensorShape([None])]))
    assert f()[1].shape == (8,)
    with pytest.raises(TypeError, match="int32 but the body returns"):
        tf.function(lambda: while_loop(lambda i: i < 3, lambda i: tf.cast(i, tf.float32) + 1.0,
                                       [tf.constant(0)]))()


def _power_loop(x, n, w):
    """x * w**n elementwise, then summed, as a loop carrying a counter and a tensor."""
    _, y = while_loop(lambda i, y: i < n, lambda i, y: (i + 1, tf.sin(y) * w + y),
                      (tf.constant(0), x))
    return tf.reduce_sum(y)


def _unrolled(x, n, w):
    y = x
    for _ in range(n):
        y = tf.sin(y) * w + y
    return tf.reduce_sum(y)


def _numpy_loop(x, n, w):
    y = x
    for _ in range(n):
        y = np.sin(y) * w + y
    return np.sum(y)


@pytest.mark.parametrize("n", [0, 1, 4])
def test_while_loop_gradients_match_unrolled_tape_and_finite_differences(n):
    x0 = np.array([0.2, -0.5, 1.1])
    w0 = np.array([0.7, 1.3, -0.4])

    @tf.function
    def traced(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = _power_loop(x, tf.constant(n), w)
        gx, gw = tape.gradient(y, [x, w])
        return y, gx, gw, gradients(y, [x, w])

    x, w = tf.constant(x0), tf.constant(w0)
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        y = _unrolled(x, n, w)
    unrolled = tape.gradient(y, [x, w], unconnected_gradients="zero")
    y_traced, gx, gw, (gx2, gw2) = traced(x, w)
    assert_close(y_traced.numpy(), _numpy_loop(x0, n, w0))
    fd_x = central_difference(lambda v: _numpy_loop(v, n, w0), x0)
    fd_w = central_difference(lambda v: _numpy_loop(x0, n, v), w0)
    for got, want in [(gx, fd_x), (gx2, fd_x), (unrolled[0], fd_x),
                      (gw, fd_w), (gw2, fd_w), (unrolled[1], fd_w)]:
        assert_close(got.numpy(), want, rtol=GRAD[0], atol=GRAD[1], what="while gradient")


def test_while_loop_gradient_through_a_function_called_under_a_tape_reaches_variables():
    v = tf.Variable(1.5, dtype=tf.float64)
    f = tf.function(lambda x: while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * v),
                                         [tf.constant(0), x])[1])
    x = tf.constant(2.0, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    gx, gv = tape.gradient(y, [x, v])
    assert_close(y.numpy(), 2.0 * 1.5 ** 3)
    assert_close(gx.numpy(), 1.5 ** 3)
    assert_close(gv.numpy(), 3 * 2.0 * 1.5 ** 2)


def test_cond_inside_while_body():
    @tf.function
    def collatz_steps(n):
        return while_loop(lambda n, k: n > 1,
                          lambda n, k: (cond(n % 2 == 0, lambda: n // 2, lambda: 3 * n + 1),
                                        k + 1),
                          [n, tf.constant(0)])[1]

    assert int(collatz_steps(tf.constant(6))) == 8
    assert int(collatz_steps(tf.constant(27))) == 111


# ------------------------------------------------------------------ tf.print

def test_print_formats_like_tensorflow(capsys):
    tf_print("x:", tf.constant([1, 2, 3]), tf.constant(0.5), output_stream=sys.stdout)
    tf_print(tf.range(10), tf.constant([True, False]), sep="|", output_stream=sys.stdout)
    tf_print(tf.reshape(tf.range(4), [2, 2]), {"a": tf.constant(1.0)}, output_stream=sys.stdout)
    tf_print(tf.constant(1 / 3), tf.constant(0.1), end="!\n", output_stream=sys.stdout)
    assert capsys.readouterr().out == (
        "x: [1 2 3] 0.5\n"
        "[0 1 2 ... 7 8 9]|[1 0]\n"
        "[[0 1]\n [2 3]] {'a': 1}\n"
        "0.333333343 0.1!\n")


def test_print_summarize_applies_to_every_dimension(capsys):
    tf_print(tf.reshape(tf.range(36), [6, 6]), summarize=1)
    assert capsys.readouterr().err == "[[0 ... 5]\n ...\n [30 ... 35]]\n"


def test_print_in_a_function_prints_at_each_call_not_at_trace(capsys):
    @tf.function
    def f(x):
        tf_print("value", x)
        return x + 1.0

    f.get_concrete_function(tf.TensorSpec([2], tf.float32))
    assert capsys.readouterr().err == ""
    f(tf.constant([1.0, 2.0]))
    f(tf.constant([3.0, 4.0]))
    assert capsys.readouterr().err == "value [1 2]\nvalue [3 4]\n"
    assert "print" in _node_types(f, tf.TensorSpec([2], tf.float32))


def test_print_in_a_branch_prints_only_when_the_branch_runs(capsys):
    @tf.function
    def f(x):
        return cond(x > 0.0, lambda: x, lambda: (tf_print("negative", x), -x)[1])

    assert "stateful_cond" in _node_types(f, tf.constant(1.0))
    f(tf.constant(2.0))
    assert float(f(tf.constant(-3.0))) == 3.0
    assert capsys.readouterr().err == "negative -3\n"


def test_print_rejects_a_bad_stream():
    with pytest.raises(tf.errors.InvalidArgumentError, match="print: output_stream"):
        tf_print(tf.constant(1), output_stream="stdout")


# ------------------------------------------------------------------ tf.gradients

def test_gradients_is_graph_only():
    with pytest.raises(RuntimeError, match="not supported when eager execution is enabled"):
        gradients(tf.constant(1.0), tf.constant(1.0))


def test_gradients_matches_the_tape_with_grad_ys_and_unconnected():
    x0 = np.array([0.5, -1.0, 2.0])

    @tf.function
    def f(x):
        y = tf.exp(x) * x
        z = tf.reduce_sum(y * y)
        unrelated = tf.constant(1.0)
        return (gradients(z, x)[0], gradients(y, x, grad_ys=tf.constant([1.0, 2.0, 3.0]))[0],
                gradients(z, [x, unrelated], unconnected_gradients="zero")[1],
                gradients(z, unrelated)[0] is None,
                gradients(y * tf.stop_gradient(x), x)[0],
                gradients(z, x, stop_gradients=[y])[0])

    dz, dy_weighted, zero, is_none, stopped, cut = f(tf.constant(x0, tf.float32))
    x = tf.constant(x0, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tf.exp(x) * x
        z = tf.reduce_sum(y * y)
    assert_close(dz.numpy(), tape.gradient(z, x).numpy(), "float32")
    assert_close(dy_weighted.numpy(),
                 tape.gradient(y, x, output_gradients=tf.constant([1.0, 2.0, 3.0])).numpy(),
                 "float32")
    assert float(zero) == 0.0 and bool(is_none)
    assert_close(stopped.numpy(), (np.exp(x0) * (x0 + 1)) * x0, "float32")
    assert cut is None
