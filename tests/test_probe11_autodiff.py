"""Session 11 autodiff probe: TensorFlow behaviours of GradientTape, jacobian and
tf.custom_gradient that scientific and PINN code relies on. References are NumPy float64
formulas and central differences (TensorFlow itself is not available to the tests)."""

import numpy as np
import pytest

import tensorflux as tf
from tests.tolerances import assert_close, central_difference


def _f64(values):
    return tf.constant(np.asarray(values, dtype=np.float64))


# ------------------------------------------------------------------ tape reuse and watching

def test_non_persistent_tape_entered_again_after_its_gradient_starts_afresh():
    # As TF: one tape object reused for every step (`with tape:` in a loop).
    x = tf.Variable(1.5, dtype="float64")
    tape = tf.GradientTape()
    for power in (2, 3):
        with tape:
            y = x ** power
        assert_close(tape.gradient(y, x), power * 1.5 ** (power - 1))
    with pytest.raises(RuntimeError, match="non-persistent"):
        tape.gradient(y, x)


def test_target_that_is_a_source_gets_ones_even_unwatched():
    v = tf.Variable([2.0, 3.0])
    c = tf.constant(4.0)
    with tf.GradientTape(persistent=True) as tape:
        pass
    assert tape.gradient(v, v).numpy().tolist() == [1.0, 1.0]
    assert float(tape.gradient(c, c)) == 1.0


def test_integer_variable_read_is_watched_but_gets_no_gradient():
    w = tf.Variable(3)
    f = tf.Variable(2.0)
    with tf.GradientTape() as tape:
        y = tf.cast(w, tf.float32) * f
    assert [v is w or v is f for v in tape.watched_variables()] == [True, True]
    assert len(tape.watched_variables()) == 2
    gw, gf = tape.gradient(y, [w, f])
    assert gw is None and float(gf) == 3.0


# ------------------------------------------------------------------ jacobian, run-time shapes

def test_jacobian_in_tf_function_with_source_of_run_time_shape():
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float64)])
    def jac(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.tanh(x) * tf.reduce_sum(x)
        return tape.jacobian(y, x)

    for values in ([0.5, 1.0, -0.5], [0.2, -1.5]):
        x = np.array(values)
        expected = np.stack([central_difference(lambda z, i=i: np.tanh(z[i]) * z.sum(), x)
                             for i in range(len(x))])
        assert_close(jac(tf.constant(x)), expected, rtol=1e-6, atol=1e-8)


def test_jacobian_in_tf_function_matrix_source_of_run_time_batch():
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float64)])
    def jac(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = tf.reduce_sum(x * x, axis=1)
            other = tf.constant([1.0], tf.float64)
            tape.watch(other)
        return (tape.jacobian(y, x), tape.jacobian(y, other),
                tape.jacobian(y, other, unconnected_gradients="zero"))

    x = np.array([[0.5, 1.0], [-0.5, 2.0], [1.0, 3.0]])
    full, none, zeros = jac(tf.constant(x))
    expected = np.zeros((3, 3, 2))
    for b in range(3):
        expected[b, b] = 2 * x[b]
    assert_close(full, expected)
    assert none is None
    assert zeros.shape == (3, 1) and not zeros.numpy().any()


# ------------------------------------------------------------------ custom_gradient

def test_custom_gradient_on_a_method_binds_self():
    class Scale(tf.Module):
        def __init__(self):
            super().__init__()
            self.s = tf.Variable(3.0, dtype="float64")

        @tf.custom_gradient
        def f(self, x):
            def grad(dy, variables=None):
                return dy * 2.0, [dy * 0.0 + 9.0]
            return x * self.s, grad

    m = Scale()
    x = _f64(1.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = m.f(x)
    gx, gs = tape.gradient(y, [x, m.s])
    assert float(y) == 3.0 and float(gx) == 2.0 and float(gs) == 9.0
    assert Scale.f.__name__ == "f"


def test_custom_gradient_smaller_than_its_input_is_broadcast():
    # TF passes a scalar grad_fn result on unchanged; it means the same value everywhere.
    @tf.custom_gradient
    def f(x):
        return x * 2.0, lambda dy: tf.reduce_sum(dy)

    x = _f64([[1.0, 2.0, 3.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    assert tape.gradient(y, x).numpy().tolist() == [[3.0, 3.0, 3.0]]


def test_custom_gradient_of_a_wrong_shape_names_the_shapes():
    @tf.custom_gradient
    def f(x):
        return x * 2.0, lambda dy: tf.constant([1.0, 2.0, 3.0])

    x = tf.constant([[1.0, 2.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    with pytest.raises(ValueError, match=r"shape \(3,\).*input of shape \(1, 2\)"):
        tape.gradient(y, x)


def test_watching_an_integer_tensor_warns_and_watches_nothing(caplog):
    x = tf.constant(3)
    with caplog.at_level("WARNING", logger="tensorflux"):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
    assert "must be floating" in caplog.text and "int32" in caplog.text
    assert tape.gradient(y, x) is None


# ------------------------------------------------------------------ batch_jacobian

def test_batch_jacobian_rows_are_batch_summed_gradients_as_tensorflow():
    # TF computes row j as d(sum over the batch of target[:, j]) / d source: the per-example
    # Jacobians when examples do not interact, and that sum when they do.
    x0 = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]])
    x = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * tf.reduce_sum(x, axis=0)
    bj = tape.batch_jacobian(y, x).numpy()
    expected = np.zeros((3, 2, 2))
    for j in range(2):
        expected[:, j] = central_difference(lambda z, j=j: (z * z.sum(0))[:, j].sum(), x0)
    assert_close(bj, expected, rtol=1e-6, atol=1e-8)


def test_batch_jacobian_of_independent_examples_matches_finite_differences():
    rng = np.random.RandomState(0)
    w1, w2 = rng.randn(2, 5), rng.randn(5, 3)
    x0 = rng.rand(4, 2)

    def net(z):
        return np.tanh(z @ w1) @ w2

    x = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.matmul(tf.tanh(tf.matmul(x, w1)), w2)
    bj = tape.batch_jacobian(y, x).numpy()
    for b in range(4):
        for j in range(3):
            expected = central_difference(lambda z, b=b, j=j: net(z[None])[0, j], x0[b])
            assert_close(bj[b, j], expected, rtol=1e-6, atol=1e-8)


def test_batch_jacobian_needs_rank_two():
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(x, axis=1)
    with pytest.raises(ValueError, match=r"rank at least 2.*\(2,\)"):
        tape.batch_jacobian(y, x)


# ------------------------------------------------------------------ ForwardAccumulator

def test_jvp_taken_inside_the_accumulator_is_not_a_function_of_the_primals():
    x = _f64([1.0, 2.0])
    with tf.autodiff.ForwardAccumulator(x, _f64([1.0, 1.0])) as acc:
        y = x ** 2
        j = acc.jvp(y)
        z = j * x
    assert j.numpy().tolist() == [2.0, 4.0]
    assert acc.jvp(z).numpy().tolist() == [2.0, 4.0]  # j * v, j held constant (as TF)


def test_jvp_of_an_integer_result_is_none_without_a_warning(caplog):
    x = tf.constant([1.5, 2.5])
    with caplog.at_level("WARNING", logger="tensorflux"):
        with tf.autodiff.ForwardAccumulator(x, tf.constant([1.0, 1.0])) as acc:
            y = tf.cast(x, tf.int32)
        assert acc.jvp(y) is None
    assert caplog.text == ""


def test_integer_target_has_no_gradient_or_jacobian():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tf.cast(x, tf.int32)
    assert tape.gradient(y, x) is None
    assert tape.jacobian(y, x) is None


def test_batch_jacobian_traced_with_per_example_size_known_at_run_time():
    x0 = np.array([[0.1, 0.4], [0.7, -0.2], [1.2, 0.3]])

    @tf.function(input_signature=[tf.TensorSpec([3, None], tf.float64)])
    def bj(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.tanh(x) * tf.reduce_sum(x, axis=0)  # examples interact, as TF sums them
        return tape.batch_jacobian(y, x)

    expected = np.zeros((3, 2, 2))
    for j in range(2):
        expected[:, j] = central_difference(
            lambda z, j=j: (np.tanh(z) * z.sum(0))[:, j].sum(), x0)
    assert_close(bj(tf.constant(x0)), expected, rtol=1e-6, atol=1e-8)


def test_custom_gradient_function_stays_a_function_for_keras_lambda():
    from tensorflux import keras

    @tf.custom_gradient
    def straight_through_round(x):
        return tf.round(x), lambda dy: dy

    layer = keras.layers.Lambda(straight_through_round)
    x = tf.constant([1.4, -0.6])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(layer(x) * [2.0, 3.0])
    assert tape.gradient(y, x).numpy().tolist() == [2.0, 3.0]
    assert layer.get_config()["function"]["config"] == "straight_through_round"


# ------------------------------------------------------------------ second derivatives in layers

def test_gradient_penalty_through_an_lstm_matches_central_differences():
    # WGAN-GP on a recurrent critic: the gradient of the input gradient's norm. The fused
    # LSTM kernels have no second derivative; under two tapes the layer runs its cell.
    from tensorflux import keras

    keras.utils.set_random_seed(0)
    layer = keras.layers.LSTM(3, dtype="float64")
    x0 = np.random.default_rng(1).standard_normal((2, 4, 2))
    layer(x0)

    def penalty(x):
        with tf.GradientTape() as inner:
            inner.watch(x)
            score = tf.reduce_sum(layer(x))
        return tf.reduce_sum(inner.gradient(score, x) ** 2)

    x = tf.constant(x0)
    with tf.GradientTape() as outer:
        outer.watch(x)
        value = penalty(x)
    expected = central_difference(lambda v: penalty(tf.constant(v)).numpy(), x0)
    assert_close(outer.gradient(value, x), expected, rtol=1e-6, atol=1e-8)


def test_prod_and_top_k_gradients_traced_with_a_run_time_batch():
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float64)])
    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = (tf.reduce_sum(tf.reduce_prod(x, axis=1))
                 + tf.reduce_sum(tf.math.top_k(x, 2).values * _f64([1.0, 2.0])))
        return tape.gradient(y, x)

    x0 = np.array([[0.5, 1.0, 2.0], [2.0, -3.0, 1.0]])
    # d prod / d x_i: the product of the others; top_k's picks get their weights.
    expected = np.array([[2.0, 1.0, 0.5], [-3.0, 2.0, -6.0]]) + np.array(
        [[0.0, 2.0, 1.0], [1.0, 0.0, 2.0]])
    assert_close(grads(x0), expected)


def test_sort_gradient_traced_with_a_run_time_batch():
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float64)])
    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.sort(x, direction="DESCENDING") * _f64([1.0, 2.0, 3.0]))
        return tape.gradient(y, x)

    # Each element gets the weight of the place it sorts to.
    assert_close(grads(np.array([[3.0, 1.0, 2.0], [0.5, 0.7, 0.1]])),
                 np.array([[1.0, 3.0, 2.0], [2.0, 1.0, 3.0]]))
