"""tf.TensorArray, tf.map_fn / tf.scan / tf.switch_case, tf.py_function, tf.Module,
tf.debugging and the small execution helpers, against TensorFlow 2.21's observed results."""

import numpy as np
import pytest

import tensorflux as tf

# ------------------------------------------------------------------ TensorArray


def test_write_read_stack_size_eagerly():
    ta = tf.TensorArray(tf.float32, size=2).write(0, 1.0).write(1, 2.0)
    assert ta.stack().numpy().tolist() == [1.0, 2.0]
    assert ta.read(1).numpy() == 2.0 and int(ta.size()) == 2
    grown = tf.TensorArray(tf.float32, size=0, dynamic_size=True).write(0, 1.0).write(1, 2.0)
    assert grown.stack().numpy().tolist() == [1.0, 2.0]


def test_unstack_gather_scatter_concat():
    ta = tf.TensorArray(tf.float32, size=3).unstack(tf.constant([[1.0, 2], [3, 4], [5, 6]]))
    assert ta.read(1).numpy().tolist() == [3.0, 4.0]
    assert ta.gather([2, 0]).numpy().tolist() == [[5.0, 6.0], [1.0, 2.0]]
    assert ta.concat().numpy().tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    scattered = tf.TensorArray(tf.int32, size=3).scatter([2, 0], tf.constant([7, 8]))
    assert scattered.stack().numpy().tolist() == [8, 0, 7]


def test_errors_match_tensorflow():
    with pytest.raises(tf.errors.OutOfRangeError, match="not resizeable and size is: 1"):
        tf.TensorArray(tf.float32, size=1).write(3, 1.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="dtype is float32 but Op is "
                                                              "trying to write dtype int32"):
        tf.TensorArray(tf.float32, size=1).write(0, tf.constant(1))
    with pytest.raises(ValueError, match=r"Incompatible shape for value \(\(2,\)\), expected "
                                         r"\(\(1,\)\)"):
        tf.TensorArray(tf.float32, size=2).write(0, [1.0]).write(1, [2.0, 3.0])


def test_gradients_through_stack_and_read_match_finite_differences():
    def f(x):
        ta = tf.TensorArray(tf.float64, size=3)
        for i in range(3):
            ta = ta.write(i, x[i] * x[i])
        return tf.reduce_sum(ta.stack() * tf.constant([1.0, 2.0, 3.0], tf.float64)) \
            + ta.read(1) * 3.0

    x0 = np.array([1.0, 2.0, 3.0])
    x = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    eps = 1e-6
    numeric = [(float(f(tf.constant(x0 + eps * e))) - float(f(tf.constant(x0 - eps * e))))
               / (2 * eps) for e in np.eye(3)]
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), numeric, rtol=1e-6)


def test_in_while_loop_eagerly_and_traced():
    def body(i, ta):
        return i + 1, ta.write(i, tf.cast(i, tf.float32) * 2.0)

    _, ta = tf.while_loop(lambda i, ta: i < 4, body, [0, tf.TensorArray(tf.float32, size=4)])
    assert ta.stack().numpy().tolist() == [0.0, 2.0, 4.0, 6.0]

    @tf.function
    def rows(x):
        ta = tf.TensorArray(tf.float32, size=3)  # element shape learnt from the first write
        _, ta = tf.while_loop(lambda i, ta: i < 3,
                              lambda i, ta: (i + 1, ta.write(i, x[i] * [1.0, 2.0])), [0, ta])
        return ta.stack()

    assert rows(tf.constant([1.0, 2.0, 3.0])).numpy().tolist() == [[1, 2], [2, 4], [3, 6]]

    @tf.function
    def squares(x):
        ta = tf.TensorArray(tf.float32, size=3, element_shape=[])
        _, ta = tf.while_loop(lambda i, ta: i < 3,
                              lambda i, ta: (i + 1, ta.write(i, x[i] * x[i])), [0, ta])
        return tf.reduce_sum(ta.stack()), ta.read(2)

    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        total, last = squares(x)
    assert float(total) == 14.0 and float(last) == 9.0
    assert tape.gradient(total, x).numpy().tolist() == [2.0, 4.0, 6.0]


# ------------------------------------------------------------------ map_fn, scan, switch_case

def test_map_fn_and_scan():
    assert tf.map_fn(lambda x: x * 2, tf.constant([1, 2, 3])).numpy().tolist() == [2, 4, 6]
    out = tf.map_fn(lambda x: tf.cast(x, tf.float32), tf.constant([1, 2]),
                    fn_output_signature=tf.float32)
    assert out.dtype == tf.float32 and out.numpy().tolist() == [1.0, 2.0]
    pair = tf.map_fn(lambda t: (t[0] + t[1], t[0] * t[1]),
                     (tf.constant([1, 2]), tf.constant([3, 4])),
                     fn_output_signature=(tf.int32, tf.int32))
    assert pair[0].numpy().tolist() == [4, 6] and pair[1].numpy().tolist() == [3, 8]
    assert tf.scan(lambda a, x: a + x, tf.constant([1, 2, 3, 4])).numpy().tolist() == \
        [1, 3, 6, 10]
    assert tf.scan(lambda a, x: a + x, tf.constant([1, 2, 3, 4]),
                   initializer=tf.constant(10)).numpy().tolist() == [11, 13, 16, 20]

    @tf.function
    def traced(x):
        return tf.map_fn(lambda r: r * 2.0, x), tf.scan(lambda a, r: a * r, x)

    doubled, products = traced(tf.constant([1.0, 2.0, 3.0]))
    assert doubled.numpy().tolist() == [2.0, 4.0, 6.0]
    assert products.numpy().tolist() == [1.0, 2.0, 6.0]


def test_switch_case():
    branches = [lambda: tf.constant(1), lambda: tf.constant(2)]
    assert int(tf.switch_case(tf.constant(0), branches)) == 1
    assert int(tf.switch_case(tf.constant(5), branches)) == 2  # out of range: last branch
    assert int(tf.switch_case(tf.constant(5), branches, default=lambda: tf.constant(9))) == 9
    with pytest.raises(TypeError, match="'branch_index' must be a Tensor"):
        tf.switch_case(1, branches)

    @tf.function
    def pick(i, x):
        return tf.switch_case(i, {0: lambda: x, 1: lambda: x * 10.0})

    assert float(pick(tf.constant(1), tf.constant(2.0))) == 20.0
    assert float(pick(tf.constant(0), tf.constant(2.0))) == 2.0


# ------------------------------------------------------------------ host calls and helpers

def test_py_function_and_numpy_function():
    assert float(tf.py_function(lambda x: x * 2, [tf.constant(2.0)], Tout=tf.float32)) == 4.0
    assert float(tf.numpy_function(lambda x: x * 2, [tf.constant(2.0)], Tout=tf.float32)) == 4.0
    calls = []

    @tf.function
    def f(x):
        y = tf.py_function(lambda a: (calls.append(1), a * 3.0)[1], [x], Tout=tf.float32)
        z = tf.numpy_function(lambda a: (a + 1).astype("float32"), [x], tf.float32)
        return y, z

    for _ in range(2):
        y, z = f(tf.constant([1.0, 2.0]))
    assert y.numpy().tolist() == [3.0, 6.0] and z.numpy().tolist() == [2.0, 3.0]
    assert len(calls) == 2  # a host callback each time the graph runs


def test_executing_eagerly_name_scope_control_dependencies():
    assert tf.executing_eagerly() is True
    # (a tf.function returns Python values as tensors, as TF's does)
    assert bool(tf.function(lambda: tf.executing_eagerly())()) is False
    with tf.name_scope("outer"):
        with tf.name_scope("inner") as scope:
            assert scope == "outer/inner/"
    x = tf.constant(1.0)
    with tf.control_dependencies([x]):
        assert float(x + 1.0) == 2.0


# ------------------------------------------------------------------ tf.Module

def test_module_tracks_variables_and_submodules():
    class Dense(tf.Module):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.w = tf.Variable([[1.0]])
            self.b = tf.Variable([0.0], trainable=False)

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.layers = [Dense(), Dense(name="second")]
            self.shared = self.layers[0].w

    model = Model()
    assert model.name == "model" and model.layers[0].name == "dense"
    assert len(model.variables) == 4 and len(model.trainable_variables) == 2
    assert [m.name for m in model.submodules] == ["dense", "second"]
    with pytest.raises(ValueError):
        tf.Module(name="not valid!")


# ------------------------------------------------------------------ tf.debugging

def test_debugging_assertions():
    assert tf.debugging.assert_equal(tf.constant([1, 2]), tf.constant([1, 2])) is None
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Condition x == y did not hold"):
        tf.debugging.assert_equal(tf.constant([1, 2]), tf.constant([1, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Condition x > y"):
        tf.debugging.assert_greater(tf.constant([1, 2]), tf.constant([1, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Condition x < y"):
        tf.debugging.assert_less(tf.constant([1, 2]), tf.constant([1, 3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Condition x >= 0"):
        tf.debugging.assert_non_negative(tf.constant([-1, 2]))
    with pytest.raises(ValueError, match=r"must have rank 2.  Received rank 1, shape \(2,\)"):
        tf.debugging.assert_rank(tf.constant([1, 2]), 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad : Tensor had NaN values"):
        tf.debugging.check_numerics(tf.constant([1.0, float("nan")]), "bad")
    assert tf.debugging.check_numerics(tf.constant([1.0]), "ok").numpy().tolist() == [1.0]
