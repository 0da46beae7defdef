"""tf.Variable: assignment (with shape and dtype checks), snapshots, naming, use in ops."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors


def test_assign_family_updates_in_place_and_returns_the_variable():
    v = tf.Variable([1.0, 2.0])
    assert v.assign([5.0, 6.0]) is v
    assert v.numpy().tolist() == [5.0, 6.0]
    v.assign_add([1.0, 1.0])
    assert v.numpy().tolist() == [6.0, 7.0]
    v.assign_sub(tf.constant([2.0, 3.0]))
    assert v.numpy().tolist() == [4.0, 4.0]
    assert v.assign_add([1.0, 1.0], read_value=False) is None
    assert v.numpy().tolist() == [5.0, 5.0]


def test_assign_python_scalar_to_scalar_variable_adopts_dtype():
    v = tf.Variable(1.0, dtype=tf.float64)
    v.assign(3)
    assert v.dtype is tf.float64 and float(v) == 3.0


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_assign_shape_mismatch_names_variable_and_shapes(method):
    v = tf.Variable([1.0, 2.0], name="weights")
    with pytest.raises(errors.InvalidArgumentError) as info:
        getattr(v, method)([1.0, 2.0, 3.0])
    message = str(info.value)
    assert "weights" in message and method in message
    assert "(2,)" in message and "(3,)" in message
    assert v.numpy().tolist() == [1.0, 2.0]  # unchanged


@pytest.mark.parametrize("method", ["assign", "assign_add", "assign_sub"])
def test_assign_dtype_mismatch_names_variable_and_dtypes(method):
    v = tf.Variable([1.0, 2.0], name="bias")
    with pytest.raises(errors.InvalidArgumentError) as info:
        getattr(v, method)(tf.constant([1, 2]))
    message = str(info.value)
    assert "bias" in message and "float32" in message and "int32" in message


def test_assign_does_not_broadcast():
    v = tf.Variable(np.zeros((2, 2), np.float32))
    with pytest.raises(errors.InvalidArgumentError, match=r"\(2, 2\).*\(2,\)"):
        v.assign_add(tf.constant([1.0, 1.0]))


def test_read_value_is_a_snapshot():
    v = tf.Variable([1.0, 2.0])
    snapshot = v.read_value()
    value = v.value()
    v.assign([9.0, 9.0])
    assert snapshot.numpy().tolist() == [1.0, 2.0]
    assert value.numpy().tolist() == [1.0, 2.0]
    assert v.read_value().numpy().tolist() == [9.0, 9.0]


def test_op_results_do_not_alias_the_variable():
    v = tf.Variable([1.0, 2.0])
    doubled = v * 2.0
    identity = tf.identity(v)
    v.assign_add([10.0, 10.0])
    assert doubled.numpy().tolist() == [2.0, 4.0]
    assert identity.numpy().tolist() == [1.0, 2.0]


def test_numpy_returns_a_copy():
    v = tf.Variable([1.0, 2.0])
    array = v.numpy()
    array[0] = 100.0
    assert v.numpy().tolist() == [1.0, 2.0]
    np.asarray(v)[1] = 50.0
    assert v.numpy().tolist() == [1.0, 2.0]


def test_initial_value_is_copied():
    source = np.array([1.0, 2.0], np.float32)
    v = tf.Variable(source)
    source[0] = 7.0
    v.assign_add([1.0, 1.0])
    assert v.numpy().tolist() == [2.0, 3.0] and source.tolist() == [7.0, 2.0]


def test_callable_initial_value_and_dtype():
    v = tf.Variable(lambda: [1, 2, 3], dtype=tf.float64)
    assert v.dtype is tf.float64 and v.numpy().tolist() == [1.0, 2.0, 3.0]


def test_missing_initial_value_raises():
    with pytest.raises(ValueError, match="initial_value"):
        tf.Variable()


def test_trainable_flag_and_name():
    assert tf.Variable(1.0).trainable is True
    assert tf.Variable(1.0, trainable=False).trainable is False
    assert tf.Variable(1.0, name="kernel").name == "kernel:0"
    assert tf.Variable(1.0).name == "Variable:0"


def test_shape_dtype_and_properties():
    v = tf.Variable(np.zeros((2, 3), np.float64))
    assert tuple(v.shape) == (2, 3) and v.dtype is tf.float64 and v.ndim == 2
    assert len(v) == 2
    assert "shape=(2, 3)" in repr(v) and "float64" in repr(v)


def test_variable_in_ops_and_operators():
    v = tf.Variable([1.0, 2.0, 3.0])
    w = tf.Variable([2.0, 2.0, 2.0])
    assert (v + 1.0).numpy().tolist() == [2.0, 3.0, 4.0]
    assert (1.0 - v).numpy().tolist() == [0.0, -1.0, -2.0]
    assert (v * w).numpy().tolist() == [2.0, 4.0, 6.0]
    assert (v / w).numpy().tolist() == [0.5, 1.0, 1.5]
    assert (v ** 2).numpy().tolist() == [1.0, 4.0, 9.0]
    assert (-v).numpy().tolist() == [-1.0, -2.0, -3.0]
    assert (v > 1.5).numpy().tolist() == [False, True, True]
    assert v[1].numpy() == 2.0
    assert float(tf.reduce_sum(v)) == 6.0
    assert tf.exp(tf.Variable(0.0)).numpy() == 1.0
    m = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    assert (m @ m).numpy().tolist() == [[7.0, 10.0], [15.0, 22.0]]
    assert tf.matmul(m, tf.constant([[1.0], [0.0]])).numpy().tolist() == [[1.0], [3.0]]


def test_ops_read_the_current_value():
    v = tf.Variable(2.0)
    assert float(v * 3.0) == 6.0
    v.assign(5.0)
    assert float(v * 3.0) == 15.0


def test_mixed_dtype_with_variable_raises():
    v = tf.Variable([1.0, 2.0])
    with pytest.raises(errors.InvalidArgumentError, match="float32.*float64"):
        v + tf.constant([1.0, 2.0], dtype=tf.float64)


def test_integer_variable():
    v = tf.Variable([1, 2, 3])
    assert v.dtype is tf.int32
    v.assign_add([1, 1, 1])
    assert v.numpy().tolist() == [2, 3, 4]
    assert (v * 2).numpy().tolist() == [4, 6, 8]
    assert int(tf.Variable(7)) == 7
    with pytest.raises(errors.InvalidArgumentError, match="int32.*float32"):
        v.assign(tf.constant([1.0, 2.0, 3.0]))


def test_variable_in_gradient_after_assign_uses_new_value():
    v = tf.Variable(2.0)
    v.assign(4.0)
    with tf.GradientTape() as tape:
        y = v * v
    assert float(tape.gradient(y, v)) == 8.0


def test_scalar_conversions():
    v = tf.Variable(2.5)
    assert float(v) == 2.5 and bool(tf.Variable(1.0)) is True


def test_ops_with_nothing_to_do_never_hand_back_the_variable():
    """Identity permutations, same-dtype casts, same-shape reshapes... return a Tensor
    snapshot: a later assign must not change what the op returned."""
    import numpy as np

    v = tf.Variable([[1.0, 2.0]])
    results = [tf.transpose(v, [0, 1]), tf.cast(v, tf.float32), tf.reshape(v, [1, 2]),
               tf.broadcast_to(v, [1, 2]), tf.math.real(v), tf.math.conj(v),
               tf.reverse(v, []), tf.identity(v)]
    v.assign([[5.0, 5.0]])
    for r in results:
        assert isinstance(r, tf.Tensor), type(r)
        np.testing.assert_array_equal(r.numpy(), [[1.0, 2.0]])
