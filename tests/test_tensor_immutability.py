"""Tensors are immutable, as TensorFlow's are: no NumPy array a user holds (one they passed in,
one numpy() gave back, a view np.asarray gave) can change a tensor after it is made.

Expected values are TensorFlow 2.21's: its numpy() is a copy, its conversions copy the
caller's array, np.asarray(tensor) is read-only.
"""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.data import Dataset


def test_numpy_result_is_a_copy():
    t = tf.constant([1.0, 2.0])
    a = t.numpy()
    a[0] = 99.0
    assert t.numpy().tolist() == [1.0, 2.0]
    assert float(tf.reduce_sum(t)) == 3.0
    assert a.flags.writeable  # TF's numpy() gives a writeable array


def test_op_result_numpy_is_a_copy():
    y = tf.constant([1.0, 2.0]) * 2.0
    y.numpy()[:] = 0.0
    assert y.numpy().tolist() == [2.0, 4.0]


def test_view_op_result_numpy_does_not_write_through_to_its_input():
    t = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    r = tf.reshape(t, [4])
    r.numpy()[0] = 9.0
    assert t.numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert r.numpy().tolist() == [1.0, 2.0, 3.0, 4.0]


def test_scalar_numpy_is_a_numpy_scalar():
    value = tf.constant(3.0).numpy()
    assert isinstance(value, np.float32) and value == 3.0


@pytest.mark.parametrize("make", [
    tf.constant, tf.convert_to_tensor,
    lambda a: tf.constant(a, dtype=tf.float32),
    lambda a: tf.convert_to_tensor(a, dtype=tf.float32),
])
def test_conversion_copies_the_callers_array(make):
    ar = np.array([1.0, 2.0], np.float32)
    c = make(ar)
    ar[0] = 7.0
    assert c.numpy().tolist() == [1.0, 2.0]


def test_conversion_copies_a_view_and_a_buffer():
    base = np.arange(6.0)
    view = base[::2]
    c = tf.convert_to_tensor(view)
    base[0] = 100.0
    assert c.numpy().tolist() == [0.0, 2.0, 4.0]
    buffer = bytearray(np.array([1, 2], np.int32).tobytes())
    d = tf.constant(np.frombuffer(buffer, np.int32))
    buffer[0] = 9
    assert d.numpy().tolist() == [1, 2]


def test_op_on_a_callers_array_does_not_alias_it():
    ar = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    r = tf.reshape(ar, [2, 2])
    i = tf.identity(ar)
    ar[:] = 0.0
    assert r.numpy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert i.numpy().tolist() == [1.0, 2.0, 3.0, 4.0]


def test_asarray_is_a_read_only_view_and_np_array_a_copy():
    t = tf.constant([1.0, 2.0])
    view = np.asarray(t)
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[0] = 5.0
    copy = np.array(t)
    copy[0] = 5.0
    assert copy.flags.writeable
    assert t.numpy().tolist() == [1.0, 2.0]
    assert np.asarray(t, dtype=np.float64).tolist() == [1.0, 2.0]


def test_constant_of_a_tensor_or_variable():
    t = tf.constant([1.0, 2.0])
    assert tf.constant(t).numpy().tolist() == [1.0, 2.0]
    v = tf.Variable([1.0, 2.0])
    snapshot = tf.constant(v)
    v.assign([5.0, 6.0])
    assert snapshot.numpy().tolist() == [1.0, 2.0]
    assert tf.constant(t, dtype=tf.float32).dtype == tf.float32


def test_variable_numpy_is_a_snapshot():
    v = tf.Variable([1.0, 2.0])
    a = v.numpy()
    v.assign([5.0, 6.0])
    assert a.tolist() == [1.0, 2.0]
    a[0] = 9.0
    assert v.numpy().tolist() == [5.0, 6.0]


def test_cached_scalar_constants_survive_mutation_attempts():
    x = tf.constant([1.0, 2.0])
    (x * 2.0).numpy()[:] = -1.0
    assert not np.asarray(x * 2.0).flags.writeable
    assert (x * 2.0).numpy().tolist() == [2.0, 4.0]
    assert tf.ones([2]).numpy().tolist() == [1.0, 1.0]


def test_from_tensor_slices_copies_the_callers_array():
    ar = np.array([1.0, 2.0], np.float32)
    ds = Dataset.from_tensor_slices(ar)
    ar[0] = 7.0
    assert [float(v) for v in ds.as_numpy_iterator()] == [1.0, 2.0]
    grid = np.arange(6.0).reshape(3, 2)
    ds = Dataset.from_tensors(grid)
    grid[0, 0] = 100.0
    assert next(iter(ds.as_numpy_iterator())).tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


def test_as_numpy_iterator_arrays_are_read_only_and_elements_fresh():
    # TF's as_numpy_iterator gives read-only arrays; writing cannot change the next pass.
    ds = Dataset.from_tensor_slices(np.arange(6.0).reshape(3, 2)).cache()
    first = next(iter(ds.as_numpy_iterator()))
    assert not first.flags.writeable
    with pytest.raises(ValueError):
        first[0] = 50.0
    assert [e.tolist() for e in ds.as_numpy_iterator()] == [[0.0, 1.0], [2.0, 3.0],
                                                             [4.0, 5.0]]
    tensor = next(iter(ds))
    tensor.numpy()[0] = 60.0
    assert [e.tolist() for e in ds.batch(3).as_numpy_iterator()] == [
        [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]]


def test_generator_reusing_its_buffer_yields_each_value():
    # A generator that refills one array: TF copies each yield, so prefetch and shuffle
    # buffers hold the values yielded, not the buffer's last contents.
    def gen():
        buffer = np.zeros(2, np.float32)
        for i in range(3):
            buffer[:] = i
            yield buffer

    spec = tf.TensorSpec((2,), tf.float32)
    ds = Dataset.from_generator(gen, output_signature=spec).prefetch(3)
    assert [a.tolist() for a in ds.as_numpy_iterator()] == [[0.0, 0.0], [1.0, 1.0],
                                                            [2.0, 2.0]]
    ds = Dataset.from_generator(gen, output_signature=spec).shuffle(3, seed=1)
    assert sorted(a.tolist() for a in ds.as_numpy_iterator()) == [[0.0, 0.0], [1.0, 1.0],
                                                                 [2.0, 2.0]]


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model


def test_fit_and_predict_leave_the_callers_arrays_alone_and_return_owned_arrays():
    model = _model()
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    y = np.array([[1.0], [2.0], [3.0]], np.float32)
    kept_x, kept_y = x.copy(), y.copy()
    model.fit(x, y, batch_size=2, epochs=2, shuffle=True, verbose=0)
    assert np.array_equal(x, kept_x) and np.array_equal(y, kept_y)
    for batch_size in (None, 1):
        out = model.predict(x, batch_size=batch_size, verbose=0)
        again = model.predict(x, batch_size=batch_size, verbose=0)
        assert out.flags.writeable
        out[:] = 1e6
        assert np.array_equal(model.predict(x, batch_size=batch_size, verbose=0), again)


def test_predict_of_an_identity_model_does_not_alias_the_input():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Reshape((2,))(inputs))
    x = np.array([[1.0, 2.0]], np.float32)
    out = model.predict(x, verbose=0)
    out[0, 0] = 50.0
    assert x.tolist() == [[1.0, 2.0]]
    t = tf.constant(x)
    out = model.predict(t, verbose=0)
    out[0, 0] = 50.0
    assert t.numpy().tolist() == [[1.0, 2.0]]


def test_get_weights_are_copies():
    model = _model()
    weights = model.get_weights()
    weights[0][:] = 123.0
    assert not np.any(model.get_weights()[0] == 123.0)
