"""Shape-like op arguments computed from tensors inside tf.function: folded to ints while
tracing where their values are known, else fed at run time. Expected values and static
shapes are TensorFlow 2.21's (observed with tf.function and input_signature)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors
from tests.tolerances import central_difference

SPEC_N32 = tf.TensorSpec([None, 3, 2], tf.float32)


def _node_types(fn, *specs):
    return [n.type for n in fn.get_concrete_function(*specs).graph.nodes]


# ---------------------------------------------------------------- folded at trace time

def test_shape_of_static_input_folds_to_ints():
    @tf.function
    def f(x):
        out = tf.reshape(x, [tf.shape(x)[0], -1])
        assert out.shape == (2, 6)
        return out

    np.testing.assert_array_equal(f(tf.ones([2, 3, 2])).numpy(), np.ones((2, 6)))
    assert not any(t.endswith("_dynamic") for t in _node_types(f, tf.TensorSpec([2, 3, 2])))


def test_static_dims_of_partly_unknown_shape_fold():
    @tf.function(input_signature=[SPEC_N32])
    def f(x):
        flat = tf.reshape(x, [-1, tf.shape(x)[1] * tf.shape(x)[2]])
        assert flat.shape.as_list() == [None, 6]
        return flat

    assert f(tf.ones([4, 3, 2])).shape == (4, 6)
    assert "reshape_dynamic" not in _node_types(f, SPEC_N32)


@pytest.mark.parametrize("build,expected", [
    (lambda x: tf.zeros([tf.shape(x)[0] * 2, 1]), np.zeros((4, 1))),
    (lambda x: tf.ones(tf.shape(x)[1:]), np.ones((3, 2))),
    (lambda x: tf.fill([tf.shape(x)[1]], 7.0), np.full(3, 7.0)),
    (lambda x: tf.tile(x[:1], [tf.shape(x)[0], 1, 1]), np.ones((2, 3, 2))),
    (lambda x: tf.pad(x, [[0, 4 - tf.shape(x)[0]], [0, 0], [1, 0]]),
     np.pad(np.ones((2, 3, 2)), [[0, 2], [0, 0], [1, 0]])),
    (lambda x: tf.broadcast_to(tf.constant(2.0), tf.shape(x)), np.full((2, 3, 2), 2.0)),
    (lambda x: tf.range(tf.shape(x)[1]), np.arange(3)),
    (lambda x: x[:tf.shape(x)[0] - 1, 0, 0], np.ones(1)),
    (lambda x: tf.one_hot([0, 2], tf.shape(x)[1]), np.eye(3)[[0, 2]]),
    (lambda x: tf.shape(tf.random.normal(tf.shape(x))), np.array([2, 3, 2])),
])
def test_folded_arguments_match_eager(build, expected):
    traced = tf.function(build)
    x = tf.ones([2, 3, 2])
    got = traced(x)
    np.testing.assert_allclose(got.numpy(), expected)
    assert got.shape == build(x).shape == expected.shape
    assert not any(t.endswith("_dynamic") for t in _node_types(traced, tf.TensorSpec([2, 3, 2])))


# ---------------------------------------------------------------- known only at run time

def _rows():
    # (build, input, expected value, expected static shape while tracing with SPEC_N32)
    x = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    return [
        ("reshape", lambda x: tf.reshape(x, [tf.shape(x)[0], -1]), x.reshape(4, 6),
         [None, None]),
        ("reshape_shape_tensor", lambda x: tf.reshape(x, tf.concat([tf.shape(x)[:1], [6]], 0)),
         x.reshape(4, 6), [None, 6]),
        ("zeros", lambda x: tf.zeros([tf.shape(x)[0], 2]), np.zeros((4, 2)), [None, 2]),
        ("ones_shape", lambda x: tf.ones(tf.shape(x), tf.int32), np.ones((4, 3, 2)),
         [None, 3, 2]),
        ("fill", lambda x: tf.fill([tf.shape(x)[0], 2], 3.0), np.full((4, 2), 3.0), [None, 2]),
        ("fill_symbolic_value", lambda x: tf.fill([tf.shape(x)[0]], x[0, 0, 1]), np.ones(4),
         [None]),
        ("broadcast_to", lambda x: tf.broadcast_to(tf.constant([1.0, 2.0]), tf.shape(x)),
         np.broadcast_to([1.0, 2.0], (4, 3, 2)), [None, 3, 2]),
        ("tile", lambda x: tf.tile(x, [tf.shape(x)[0], 1, 2]), np.tile(x, (4, 1, 2)),
         [None, 3, 4]),
        ("range", lambda x: tf.range(tf.shape(x)[0]), np.arange(4), [None]),
        ("range_float", lambda x: tf.range(0.0, tf.cast(tf.shape(x)[0], tf.float32), 1.5),
         np.arange(0.0, 4.0, 1.5), [None]),
        ("slice_stop", lambda x: x[:tf.shape(x)[0] - 1], x[:3], [None, 3, 2]),
        ("slice_both", lambda x: x[1:tf.shape(x)[0], :, -tf.shape(x)[0] + 3:], x[1:, :, -1:],
         [None, 3, None]),
        ("slice_negative_step", lambda x: x[tf.shape(x)[0] - 2::-1, 0, 0], x[2::-1, 0, 0],
         [None]),
        ("one_hot_depth_from_data",
         lambda x: tf.one_hot(tf.cast(x[:, 0, 0], tf.int32) // 6,
                              tf.reduce_max(tf.cast(x[:, 0, 0], tf.int32) // 6) + 1),
         np.eye(4), [None, None]),
        ("random_normal", lambda x: tf.shape(tf.random.normal(tf.shape(x))), np.array([4, 3, 2]),
         [3]),
        ("random_uniform", lambda x: tf.shape(tf.random.uniform([tf.shape(x)[0], 5])),
         np.array([4, 5]), [2]),
        ("random_uniform_int", lambda x: tf.reduce_max(tf.random.uniform(
            [tf.shape(x)[0]], 0, 3, tf.int32)) < 3, np.array(True), []),
    ]


ROWS = _rows()


@pytest.mark.parametrize("name,build,expected,static", ROWS, ids=[r[0] for r in ROWS])
def test_runtime_shapes_match_tensorflow(name, build, expected, static):
    seen = []

    @tf.function(input_signature=[SPEC_N32])
    def f(x):
        out = build(x)
        seen.append(out.shape.as_list())
        return out

    x = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    got = f(tf.constant(x))
    assert seen == [static]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected)


def test_function_input_as_size():
    @tf.function(input_signature=[tf.TensorSpec([None]), tf.TensorSpec([], tf.int32)])
    def f(x, n):
        return x[:n], tf.range(n), tf.zeros([n, 2]), tf.one_hot([0, 1], n)

    x = np.arange(5.0, dtype=np.float32)
    for n in (0, 2, 7):
        head, r, z, h = f(tf.constant(x), tf.constant(n))
        np.testing.assert_array_equal(head.numpy(), x[:n])
        np.testing.assert_array_equal(r.numpy(), np.arange(n))
        assert z.shape == (n, 2) and h.shape == (2, n)


@pytest.mark.parametrize("n", [-7, -2, 0, 1, 3, 9])
def test_runtime_slice_bounds_follow_numpy(n):
    @tf.function(input_signature=[tf.TensorSpec([None]), tf.TensorSpec([], tf.int32)])
    def f(x, n):
        return [x[:n], x[n:], x[-n:], x[n::-1], x[:n:-2], x[n:n + 2]]

    x = np.arange(6.0, dtype=np.float32)
    expected = [x[:n], x[n:], x[-n:], x[n::-1], x[:n:-2], x[n:n + 2]]
    for got, want in zip(f(tf.constant(x), tf.constant(n)), expected):
        np.testing.assert_array_equal(got.numpy(), want)


def test_runtime_range_rejects_wrong_direction_like_tensorflow():
    f = tf.function(lambda n: tf.range(n), input_signature=[tf.TensorSpec([], tf.int32)])
    assert f(tf.constant(0)).shape == (0,)
    with pytest.raises(errors.InvalidArgumentError, match="range: requires start <= limit"):
        f(tf.constant(-1))


def test_runtime_random_draws_differ_per_call():
    f = tf.function(lambda x: tf.random.normal(tf.shape(x)), input_signature=[SPEC_N32])
    a, b = f(tf.ones([4, 3, 2])), f(tf.ones([4, 3, 2]))
    assert a.shape == (4, 3, 2) and not np.array_equal(a.numpy(), b.numpy())


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("name,op", [
    ("reshape", lambda x: tf.reshape(x, [tf.shape(x)[0], -1])),
    ("reshape_two_unknown", lambda x: tf.reshape(tf.reshape(x, [-1]), tf.shape(x))),
    ("tile", lambda x: tf.tile(x, [tf.shape(x)[0], 1, 2])),
    ("broadcast_to", lambda x: tf.broadcast_to(x[:, :1], tf.shape(x))),
    ("slice", lambda x: x[1:tf.shape(x)[0]]),
])
def test_gradients_through_runtime_shapes(name, op):
    weights = np.random.default_rng(0).normal(size=256)
    spec = tf.TensorSpec([None, None, 2], tf.float64)

    def loss(x):
        y = tf.reshape(op(x), [-1])
        return tf.reduce_sum(y * tf.constant(weights)[:tf.size(y)])

    @tf.function(input_signature=[spec])
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = loss(x)
        return tape.gradient(value, x)

    x = np.random.default_rng(1).normal(size=(3, 2, 2))
    expected = central_difference(lambda v: float(loss(tf.constant(v))), x)
    np.testing.assert_allclose(grad(tf.constant(x)).numpy(), expected, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- clear errors

@pytest.mark.parametrize("build,match", [
    (lambda x: tf.eye(tf.shape(x)[0]), "range: the start, limit and delta must be known|eye"),
    (lambda x: x[::tf.shape(x)[0]], "getitem: the slice step"),
    (lambda x: tf.reshape(x, [tf.shape(x)[0], -1, -1]), "reshape: shape .* at most one -1"),
])
def test_unsupported_runtime_arguments_say_so(build, match):
    f = tf.function(build, input_signature=[SPEC_N32])
    with pytest.raises(errors.InvalidArgumentError, match=match):
        f(tf.ones([2, 3, 2]))


def test_eager_ops_accept_shape_elements():
    x = tf.ones([2, 3, 2])
    assert tf.reshape(x, [tf.shape(x)[0], -1]).shape == (2, 6)
    assert tf.zeros([tf.shape(x)[1], tf.constant(2)]).shape == (3, 2)
    assert tf.tile(x, tf.shape(x) // tf.shape(x)).shape == (2, 3, 2)


# ---------------------------------------------------------------- Keras

def test_keras_custom_layer_with_runtime_batch_trains_with_fit():
    keras = tf.keras

    class FlatDense(keras.layers.Layer):
        def build(self, input_shape):
            size = int(np.prod(input_shape[1:]))
            self.kernel = self.add_weight(shape=(size, 1), initializer="zeros")

        def call(self, x):
            flat = tf.reshape(x, [tf.shape(x)[0], -1])
            return tf.matmul(flat, self.kernel)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2, 3)), FlatDense()])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    x = np.random.default_rng(0).normal(size=(10, 2, 3)).astype(np.float32)
    y = x.reshape(10, -1).sum(axis=1, keepdims=True)
    history = model.fit(x, y, batch_size=4, epochs=5, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert model.predict(x[:3], verbose=0).shape == (3, 1)
