"""An eager layer or model call of plain arguments (eager tensors, arrays, Python flags) skips
the tree walks of the general path: it must give what the general path gives. Each case
compares the two paths (the same values handed in a one-element container take the general
path), or real Keras 3 (torch backend), or NumPy float64."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.engine.keras_tensor import any_symbolic_tensors, plain_call, shape_of
from tests.keras._oracle import assert_matches, import_keras


class _Pair(keras.layers.Layer):
    """call(x, scale) -> x * scale: a tensor argument besides the input."""

    def call(self, x, scale=None, training=None):
        out = x if scale is None else x * scale
        return out + 1.0 if training else out


class _ListLayer(keras.layers.Layer):
    """Takes a list: the general path."""

    def call(self, inputs):
        return inputs[0] * 2.0


def test_plain_call_tells_leaves_from_containers():
    x = tf.constant([1.0])
    assert plain_call((x,), {"training": True, "name": "a", "k": 3, "f": 0.5, "n": None})
    assert not plain_call(([x],), {})
    assert not plain_call((x,), {"mask": [x]})
    assert not plain_call((np.ones(2),), {})
    assert not plain_call((tf.Variable([1.0]),), {})  # (a Variable is not an eager Tensor)
    symbolic = keras.Input((2,))
    assert not plain_call((symbolic,), {})
    assert any_symbolic_tensors((symbolic,), {})
    assert any_symbolic_tensors((x,), {"other": symbolic})
    assert not any_symbolic_tensors((x,), {"training": False})


def test_shape_of_an_eager_tensor_is_a_tuple_of_ints():
    shape = shape_of(tf.zeros((3, 4)))
    assert shape == (3, 4) and type(shape) is tuple
    assert all(type(d) is int for d in shape)
    assert shape_of(keras.Input((5,))) == (None, 5)


def test_autocast_of_plain_arguments_matches_the_general_path():
    layer = _Pair()
    x64 = tf.constant([[1.5, 2.0]], tf.float64)
    plain = layer(x64, scale=tf.constant(2.0, tf.float64))
    assert plain.dtype == tf.float32  # the float64 tensors are cast to the compute dtype
    np.testing.assert_array_equal(plain.numpy(), np.array([[3.0, 4.0]], np.float32))
    ints = layer(tf.constant([[1, 2]], tf.int32), scale=tf.constant(3, tf.int32))
    assert ints.dtype == tf.int32  # integers are never autocast
    np.testing.assert_array_equal(ints.numpy(), [[3, 6]])
    # An array converts as the general path converts it (float64 -> float32 on autocast).
    array = layer(np.array([[0.25, 4.0]]), scale=2.0, training=True)
    assert array.dtype == tf.float32
    np.testing.assert_array_equal(array.numpy(), np.array([[1.5, 9.0]], np.float32))
    # The same values in a container take the general path: the same result.
    general = _ListLayer()([x64])
    assert general.dtype == tf.float32
    np.testing.assert_array_equal(general.numpy(), np.array([[3.0, 4.0]], np.float32))


def test_a_layer_without_autocast_keeps_its_input_dtype():
    layer = _Pair(autocast=False)
    out = layer(tf.constant([1.0], tf.float64), scale=tf.constant(2.0, tf.float64))
    assert out.dtype == tf.float64
    out = layer(np.array([1.0]), scale=2.0)  # an array still becomes a tensor
    assert out.dtype == tf.float64 and isinstance(out, tf.Tensor)


def test_mixed_precision_layer_casts_a_plain_float32_input():
    layer = keras.layers.Dense(2, dtype="mixed_float16")
    out = layer(tf.ones((1, 3)))
    assert out.dtype == tf.float16
    assert layer.kernel.dtype == tf.float32


def test_input_spec_errors_name_the_layer_on_the_plain_path():
    dense = keras.layers.Dense(3, name="narrow")
    dense(tf.ones((2, 4)))
    with pytest.raises(ValueError, match=r"narrow.*4.*\(2, 5\)|narrow.*\(2, 5\)"):
        dense(tf.ones((2, 5)))
    with pytest.raises(ValueError, match="narrow"):
        dense(np.ones((2, 5), np.float32))
    # The layer still works for its own shape after the refusals.
    assert tuple(dense(tf.ones((7, 4))).shape) == (7, 3)


def test_losses_of_a_layer_are_replaced_at_each_outermost_call():
    class Penalized(keras.layers.Layer):
        def call(self, x):
            self.add_loss(tf.reduce_sum(x))
            return x

    inner = Penalized()
    model = keras.Sequential([keras.Input((2,)), inner])
    model(tf.constant([[1.0, 2.0]]))
    assert [float(v) for v in model.losses] == [3.0]
    model(tf.constant([[5.0, 5.0]]))
    assert [float(v) for v in model.losses] == [10.0]  # not [3.0, 10.0]
    inner(tf.constant([[1.0, 1.0]]))
    assert [float(v) for v in inner.losses] == [2.0]


def test_functional_graph_with_keyword_tensors_and_flags_runs_as_built():
    """Nodes whose call has more than one tensor, or keywords, keep the general filling."""
    inputs = keras.Input((4,))
    scale = keras.Input((4,))
    h = keras.layers.Dense(4, kernel_initializer="ones", bias_initializer="zeros")(inputs)
    out = _Pair()(h, scale=scale)
    drop = keras.layers.Dropout(0.5)(out, training=False)
    model = keras.Model([inputs, scale], drop)
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    s = np.full((2, 4), 0.5, np.float32)
    expected = (x.astype(np.float64) @ np.ones((4, 4))) * 0.5
    np.testing.assert_allclose(model([x, s]).numpy(), expected, rtol=1e-6)
    # The model's training flag reaches every layer call (Keras 3: it overrides the one
    # given when the graph was built); _Pair adds 1 in training, Dropout is then random.
    trained = model([tf.constant(x), tf.constant(s)], training=True).numpy()
    kept = trained != 0
    np.testing.assert_allclose(trained[kept], ((expected + 1.0) * 2.0)[kept], rtol=1e-6)


def test_model_calls_match_keras_eagerly():
    """A small Functional model of Dense, BatchNormalization and an activation, the same
    weights in both: model(x) and model(x, training=True), on a tensor and on an array."""
    k = import_keras()
    rng = np.random.default_rng(3)

    def build(lib):
        inputs = lib.Input((5,))
        h = lib.layers.Dense(6, activation="relu")(inputs)
        h = lib.layers.BatchNormalization()(h)
        out = lib.layers.Dense(2, activation="sigmoid")(h)
        return lib.Model(inputs, out)

    ours, theirs = build(keras), build(k)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in theirs.get_weights()]
    variance = next(i for i, w in enumerate(theirs.weights)
                    if w.path.endswith("moving_variance"))
    weights[variance] = np.abs(weights[variance]) + 0.5
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    assert np.isfinite(ours(x).numpy()).all()
    assert_matches(ours(tf.constant(x)), theirs(x), what="model(tensor)")
    assert_matches(ours(x), theirs(x), what="model(array)")
    assert_matches(ours(tf.constant(x), training=True), theirs(x, training=True),
                   rtol=1e-5, atol=1e-6, what="model(x, training=True)")
    # BatchNormalization's moving statistics moved the same way in that training call.
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_matches(a, b, rtol=1e-5, atol=1e-6, what="weights after the training call")
