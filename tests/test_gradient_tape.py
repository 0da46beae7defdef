"""GradientTape semantics (TensorFlow's), and tf.custom_gradient."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.autodiff import custom_gradient
from tests.tolerances import assert_close


def _f64(values):
    return tf.constant(np.asarray(values, dtype=np.float64))


# ------------------------------------------------------------------ persistence and watching

def test_persistent_tape_allows_several_gradient_calls():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = y * y
    assert float(tape.gradient(y, x)) == 6.0
    assert float(tape.gradient(z, x)) == 108.0  # 4 x**3
    assert float(tape.gradient(y, x)) == 6.0


def test_non_persistent_tape_second_call_raises():
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.jacobian(y, x)


def test_unwatched_constant_gets_none():
    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        y = x * x
    assert tape.gradient(y, x) is None


def test_watch_nested_structure_of_tensors():
    a, b = tf.constant(2.0), tf.constant(5.0)
    with tf.GradientTape() as tape:
        tape.watch([a, {"b": b}])
        y = a * b
    ga, gb = tape.gradient(y, [a, b])
    assert float(ga) == 5.0 and float(gb) == 2.0


def test_watch_rejects_non_tensors():
    with tf.GradientTape() as tape:
        with pytest.raises(ValueError, match="not tf.Tensor"):
            tape.watch("x")


def test_trainable_variables_are_watched_automatically():
    v = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y = v * v * v
    assert float(tape.gradient(y, v)) == 12.0
    assert tape.watched_variables() == (v,)


def test_watch_accessed_variables_false():
    v, w = tf.Variable(2.0), tf.Variable(3.0)
    with tf.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
        tape.watch(w)
        y = v * w
    assert tape.gradient(y, v) is None
    assert float(tape.gradient(y, w)) == 2.0
    assert tape.watched_variables() == (w,)


def test_non_trainable_variable_is_not_watched():
    v = tf.Variable(2.0, trainable=False)
    with tf.GradientTape() as tape:
        y = v * v
    assert tape.gradient(y, v) is None
    assert tape.watched_variables() == ()


def test_non_trainable_variable_watched_explicitly():
    v = tf.Variable(2.0, trainable=False)
    with tf.GradientTape() as tape:
        tape.watch(v)
        y = v * v
    assert float(tape.gradient(y, v)) == 4.0


def test_watched_variables_in_first_use_order():
    a, b, c = tf.Variable(1.0), tf.Variable(2.0), tf.Variable(3.0, trainable=False)
    with tf.GradientTape() as tape:
        y = b * a + c
    assert tape.watched_variables() == (b, a)
    assert tape.gradient(y, c) is None


def test_stop_recording():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        with tape.stop_recording():
            z = x * x * x  # not recorded
        w = y + z
    assert tape.gradient(z, x) is None
    assert float(tape.gradient(w, x)) == 6.0  # only through y


def test_reset_forgets_recorded_ops():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        tape.reset()
        tape.watch(x)
        z = x * 5.0
    assert float(tape.gradient(z, x)) == 5.0
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
        tape.reset()
    assert tape.gradient(y, x) is None


def test_tape_cannot_be_entered_twice():
    tape = tf.GradientTape()
    with tape:
        with pytest.raises(ValueError, match="entered twice"):
            tape.__enter__()


# ------------------------------------------------------------------ higher order

def test_second_and_third_order_of_cube():
    x = _f64(1.5)
    with tf.GradientTape() as t3:
        t3.watch(x)
        with tf.GradientTape() as t2:
            t2.watch(x)
            with tf.GradientTape() as t1:
                t1.watch(x)
                y = x ** 3
            dy = t1.gradient(y, x)
        d2y = t2.gradient(dy, x)
    d3y = t3.gradient(d2y, x)
    assert_close(dy.numpy(), 3 * 1.5 ** 2)
    assert_close(d2y.numpy(), 6 * 1.5)
    assert_close(d3y.numpy(), 6.0)


def test_second_order_with_persistent_inner_tape_and_vector():
    x = _f64([0.5, -1.0, 2.0])
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape(persistent=True) as inner:
            inner.watch(x)
            y = tf.reduce_sum(tf.sin(x) * x)
        g = inner.gradient(y, x)  # cos(x) x + sin(x)
    h = outer.gradient(g, x)  # -sin(x) x + 2 cos(x)
    xs = np.array([0.5, -1.0, 2.0])
    assert_close(g.numpy(), np.cos(xs) * xs + np.sin(xs))
    assert_close(h.numpy(), -np.sin(xs) * xs + 2 * np.cos(xs))


# ------------------------------------------------------------------ jacobians

def test_jacobian_matches_numpy():
    w = np.array([[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]])
    xs = np.array([0.3, -0.7, 1.1])
    x = _f64(xs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.matmul(_f64(w), tf.reshape(x, [3, 1])) * 2.0  # shape (2, 1)
        z = tf.reshape(y, [2])
    jac = tape.jacobian(z, x)
    assert tuple(jac.shape) == (2, 3)
    assert_close(jac.numpy(), 2 * w)


def test_jacobian_of_elementwise_is_diagonal_and_keeps_shapes():
    xs = np.array([[0.5, 1.0], [1.5, 2.0]])
    x = _f64(xs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    jac = tape.jacobian(y, x)
    assert tuple(jac.shape) == (2, 2, 2, 2)
    expected = np.zeros((2, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            expected[i, j, i, j] = 2 * xs[i, j]
    assert_close(jac.numpy(), expected)


def test_jacobian_unconnected():
    x, u = _f64([1.0, 2.0]), _f64([3.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, u])
        y = x * 2.0
    assert tape.jacobian(y, u) is None
    zero = tape.jacobian(y, u, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    assert tuple(zero.shape) == (2, 1) and not np.any(zero.numpy())


def test_batch_jacobian_matches_numpy():
    xs = np.array([[0.1, 0.2, 0.3], [-0.5, 0.4, 1.0]])
    w = np.array([[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]])
    x = _f64(xs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.tanh(tf.matmul(x, _f64(w)))  # (2, 2)
    bj = tape.batch_jacobian(y, x)
    assert tuple(bj.shape) == (2, 2, 3)
    sech2 = 1 - np.tanh(xs @ w) ** 2  # (batch, out)
    expected = sech2[:, :, None] * w.T[None, :, :]
    assert_close(bj.numpy(), expected)


def test_batch_jacobian_batch_mismatch_raises():
    x = _f64([[1.0], [2.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reshape(x, [1, 2])
    with pytest.raises(ValueError, match="first dimension"):
        tape.batch_jacobian(y, x)


# ------------------------------------------------------------------ gradient() semantics

@pytest.mark.parametrize("mode", [tf.UnconnectedGradients.ZERO, "zero", "ZERO"])
def test_unconnected_gradients_zero(mode):
    x, u = _f64([1.0, 2.0]), _f64([[3.0, 4.0]])
    with tf.GradientTape() as tape:
        tape.watch([x, u])
        y = x * 2.0
    gx, gu = tape.gradient(y, [x, u], unconnected_gradients=mode)
    assert_close(gx.numpy(), [2.0, 2.0])
    assert gu.dtype is tf.float64 and tuple(gu.shape) == (1, 2) and not np.any(gu.numpy())


@pytest.mark.parametrize("mode", [tf.UnconnectedGradients.NONE, "none"])
def test_unconnected_gradients_none(mode):
    x, u = tf.constant(1.0), tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch([x, u])
        y = x * 2.0
    assert tape.gradient(y, u, unconnected_gradients=mode) is None


def test_unknown_unconnected_gradients_value_raises():
    x = tf.constant(1.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    with pytest.raises(ValueError, match="unconnected_gradients"):
        tape.gradient(y, x, unconnected_gradients="maybe")


def test_non_scalar_target_is_summed():
    xs = np.array([0.5, 1.0, 2.0])
    x = _f64(xs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reshape(x, [3, 1]) * _f64([[1.0, 2.0]])  # (3, 2): d sum / dx = 3
    assert_close(tape.gradient(y, x).numpy(), [3.0, 3.0, 3.0])


def test_list_of_targets_is_summed():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y1, y2 = x * x, x * 3.0
    assert float(tape.gradient([y1, y2], x)) == 7.0


def test_sources_keep_their_structure():
    a, b, c = tf.constant(1.0), tf.constant(2.0), tf.Variable(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([a, b])
        y = a * 10.0 + b * 20.0 + c * 30.0
    as_list = tape.gradient(y, [a, b])
    assert isinstance(as_list, list) and [float(g) for g in as_list] == [10.0, 20.0]
    as_tuple = tape.gradient(y, (a, b))
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    as_dict = tape.gradient(y, {"first": a, "rest": [b, {"v": c}]})
    assert set(as_dict) == {"first", "rest"}
    assert float(as_dict["first"]) == 10.0
    assert float(as_dict["rest"][0]) == 20.0 and float(as_dict["rest"][1]["v"]) == 30.0


def test_integer_sources_give_none():
    i = tf.constant(3)
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch([i, x])
        y = tf.cast(i, tf.float32) * x
    gi, gx = tape.gradient(y, [i, x])
    assert gi is None and float(gx) == 3.0


def test_integer_variable_gives_none():
    v = tf.Variable(3)
    with tf.GradientTape() as tape:
        y = tf.cast(v * 2, tf.float32)
    assert tape.gradient(y, v) is None


def test_stop_gradient_blocks():
    x = tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tf.stop_gradient(x * x) * x
        z = tf.stop_gradient(x * x)
    assert float(tape.gradient(y, x)) == 9.0
    assert tape.gradient(z, x) is None


def test_output_gradients_weight_the_target():
    xs = np.array([1.0, 2.0, 3.0])
    x = _f64(xs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    g = tape.gradient(y, x, output_gradients=_f64([1.0, 0.5, -2.0]))
    assert_close(g.numpy(), 2 * xs * np.array([1.0, 0.5, -2.0]))


def test_gradients_accumulate_over_uses():
    x = tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x + x + tf.exp(x * 0.0) * x  # 2x + 1 + 1
    assert float(tape.gradient(y, x)) == 6.0


def test_variable_used_in_two_ops():
    v = tf.Variable(3.0)
    with tf.GradientTape() as tape:
        a = v * 2.0
        b = v * v
        y = a + b
    assert float(tape.gradient(y, v)) == 8.0


def test_broadcast_gradient_is_summed_to_source_shape():
    b = _f64([1.0, 2.0])
    x = _f64(np.ones((3, 2)))
    with tf.GradientTape() as tape:
        tape.watch(b)
        y = x * b
    assert_close(tape.gradient(y, b).numpy(), [3.0, 3.0])


def test_tape_inside_a_training_loop():
    w = tf.Variable(0.0)
    for _ in range(50):
        with tf.GradientTape() as tape:
            loss = (w - 3.0) * (w - 3.0)
        grad = tape.gradient(loss, w)
        w.assign_sub(grad * 0.1)
    assert abs(float(w) - 3.0) < 1e-3


def test_gradient_inside_the_tape_context():
    x = tf.constant(2.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        g = tape.gradient(y, x)
    assert float(g) == 4.0
    assert float(tape.gradient(g, x)) == 2.0  # the gradient ops were recorded


# ------------------------------------------------------------------ custom_gradient

@custom_gradient
def _clip_gradient(y):
    def backward(dy):
        return tf.clip_by_value(dy, -0.5, 0.5)
    return tf.identity(y), backward


@custom_gradient
def _log1pexp(x):
    e = tf.exp(x)

    def grad(upstream):
        return upstream * (1 - 1 / (1 + e))
    return tf.log(1 + e), grad


def test_custom_gradient_clips():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = _clip_gradient(x * 3.0)
    assert tape.gradient(y, x).numpy().tolist() == [1.5, 1.5]
    assert y.numpy().tolist() == [3.0, 6.0]


def test_custom_gradient_log1pexp_is_stable():
    x = tf.constant(100.0)
    with tf.GradientTape() as tape, np.errstate(over="ignore"):
        tape.watch(x)
        y = _log1pexp(x)
    assert float(tape.gradient(y, x)) == 1.0  # the naive gradient is inf/inf = nan


def test_custom_gradient_second_order_through_closure():
    x = _f64(0.7)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = _log1pexp(x)
        g = inner.gradient(y, x)
    h = outer.gradient(g, x)
    s = 1 / (1 + np.exp(-0.7))
    assert_close(g.numpy(), s)
    assert_close(h.numpy(), s * (1 - s))


def test_custom_gradient_with_several_inputs_and_outputs():
    @custom_gradient
    def f(a, b):
        def grad(du, dv):
            return du * 10.0 + dv, du * 20.0
        return (a * b, a + b), grad

    a, b = tf.constant(2.0), tf.constant(3.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([a, b])
        u, v = f(a, b)
    assert float(u) == 6.0 and float(v) == 5.0
    assert [float(g) for g in tape.gradient(u, [a, b])] == [10.0, 20.0]
    assert [float(g) for g in tape.gradient(v, [a, b])] == [1.0, 0.0]
    assert [float(g) for g in tape.gradient([u, v], [a, b])] == [11.0, 20.0]


def test_custom_gradient_with_variables():
    v = tf.Variable(2.0)

    @custom_gradient
    def scale(x):
        def grad(dy, variables=None):
            assert variables == [v] or list(variables) == [v]
            return dy * v * 100.0, [dy * x * 1000.0]
        return x * v, grad

    x = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = scale(x)
    gx, gv = tape.gradient(y, [x, v])
    assert float(y) == 6.0
    assert float(gx) == 200.0 and float(gv) == 3000.0


def test_custom_gradient_variables_need_the_keyword():
    v = tf.Variable(2.0)

    @custom_gradient
    def scale(x):
        return x * v, lambda dy: dy

    with pytest.raises(TypeError, match="variables"):
        scale(tf.constant(1.0))


def test_custom_gradient_wrong_number_of_gradients_raises():
    @custom_gradient
    def f(a, b):
        return a * b, lambda dy: dy

    a, b = tf.constant(1.0), tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        y = f(a, b)
    with pytest.raises(ValueError, match="expected to return 2 gradients"):
        tape.gradient(y, [a, b])


def test_custom_gradient_without_a_tape_is_just_the_function():
    assert _log1pexp(tf.constant(0.0)).numpy() == np.float32(np.log(2.0))
