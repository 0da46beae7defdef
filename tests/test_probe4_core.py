"""Probe round 4, core side: composites in tf.function input signatures and tf.data,
VarLenFeature parsing to SparseTensor, TensorFlow's printing of multi-line tensors, and the
fixes of the tf.function / tf.data / checkpoint probes. TensorFlow is not available here:
expected values are NumPy computations and the behaviour TF 2.21 showed in the probes."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors


def _rows(rt):
    return [list(r) for r in rt.to_list()]


# ------------------------------------------------------------------ composites, printing

def test_multiline_tensor_str_starts_on_its_own_line():
    assert str(tf.constant([[1, 2], [3, 4]])) == (
        "tf.Tensor(\n[[1 2]\n [3 4]], shape=(2, 2), dtype=int32)")
    assert str(tf.constant([1, 2])) == "tf.Tensor([1 2], shape=(2,), dtype=int32)"


def test_input_signature_takes_ragged_specs_and_does_not_retrace_on_row_counts():
    traces = []

    def double(x):
        traces.append(1)
        return x * 2

    fn = tf.function(double, input_signature=[tf.RaggedTensorSpec([None, None], tf.int32)])
    assert _rows(fn(tf.ragged.constant([[1, 2], [3]]))) == [[2, 4], [6]]
    assert _rows(fn(tf.ragged.constant([[1], [], [5, 6, 7]]))) == [[2], [], [10, 12, 14]]
    assert len(traces) == 1
    spec = tf.RaggedTensorSpec([None, None], tf.int32)
    assert fn.get_concrete_function().structured_input_signature == ((spec,), {})
    for wrong in (tf.constant([[1, 2]]), tf.ragged.constant([[1.0]]),
                  tf.ragged.constant([[[1]], [[2, 3]]])):
        with pytest.raises(TypeError, match="RaggedTensorSpec"):
            fn(wrong)


def test_input_signature_takes_sparse_specs_nested_in_dicts():
    sig = [{"s": tf.SparseTensorSpec([None, 4], tf.float32), "k": tf.TensorSpec([], tf.float32)}]
    fn = tf.function(lambda d: tf.sparse.reduce_sum(d["s"], axis=1) * d["k"],
                     input_signature=sig)
    st = tf.sparse.SparseTensor([[0, 1], [2, 0], [2, 3]], [1.0, 2.0, 4.0], [3, 4])
    dense = np.zeros((3, 4), np.float32)
    dense[0, 1], dense[2, 0], dense[2, 3] = 1.0, 2.0, 4.0
    np.testing.assert_allclose(fn({"s": st, "k": tf.constant(3.0)}).numpy(),
                               dense.sum(axis=1) * 3.0)
    assert fn.get_concrete_function().structured_input_signature[0][0]["s"] == sig[0]["s"]


def test_get_concrete_function_of_a_ragged_spec_without_signature():
    fn = tf.function(lambda x: x.row_lengths())
    concrete = fn.get_concrete_function(tf.RaggedTensorSpec([None, None], tf.int32))
    assert concrete.structured_outputs.shape.as_list() == [None]
    np.testing.assert_array_equal(
        concrete(tf.ragged.constant([[1, 2], [], [3]])).numpy(), [2, 0, 1])


def test_padded_batch_of_ragged_elements_raises_type_error_at_once():
    ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant([[1, 2], [3]]))
    with pytest.raises(TypeError, match="padded_batch.*RaggedTensorSpec"):
        ds.padded_batch(2)


def _example(values):
    return tf.train.Example(features=tf.train.Features(feature={
        "v": tf.train.Feature(int64_list=tf.train.Int64List(value=values))})).SerializeToString()


def test_var_len_feature_parses_to_sparse_tensor_also_in_dataset_map():
    config = {"v": tf.io.VarLenFeature(tf.int64)}
    single = tf.io.parse_single_example(_example([1, 2, 3]), config)["v"]
    assert isinstance(single, tf.SparseTensor)
    np.testing.assert_array_equal(single.indices.numpy(), [[0], [1], [2]])
    batch = tf.io.parse_example([_example([1, 2, 3]), _example([4])], config)["v"]
    np.testing.assert_array_equal(tf.sparse.to_dense(batch).numpy(), [[1, 2, 3], [4, 0, 0]])
    ds = tf.data.Dataset.from_tensor_slices([_example([5, 6]), _example([7])]).map(
        lambda s: tf.io.parse_single_example(s, config))
    assert ds.element_spec["v"] == tf.SparseTensorSpec([None], tf.int64)
    batched = next(iter(ds.batch(2)))["v"]
    np.testing.assert_array_equal(tf.sparse.to_dense(batched).numpy(), [[5, 6], [7, 0]])


# ------------------------------------------------------------------ tf.function

def test_symbolic_tensor_value_and_bool_errors_are_the_types_tf_raises():
    @tf.function
    def to_numpy_or_double(x):
        try:
            return x.numpy()
        except AttributeError:  # (TF's symbolic tensors have no numpy)
            return x * 2

    assert int(to_numpy_or_double(tf.constant(2))) == 4

    @tf.function(autograph=False)
    def python_if(x):
        return x if x > 0 else -x

    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError, match="Python bool"):
        python_if(tf.constant(1.0))


def test_set_shape_refines_a_traced_tensor_as_after_py_function_in_dataset_map():
    def pair(x):
        y = tf.py_function(lambda v: tf.stack([v, v + 1]), [x], tf.int64)
        y.set_shape([2])
        return y * 2

    ds = tf.data.Dataset.range(3).map(pair)
    assert ds.element_spec == tf.TensorSpec([2], tf.int64)
    np.testing.assert_array_equal(np.stack(list(ds.as_numpy_iterator())),
                                  2 * np.array([[0, 1], [1, 2], [2, 3]]))

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
    def flat(x):
        y = tf.reshape(x, [-1])
        y.set_shape([None])
        with pytest.raises(ValueError, match="not compatible"):
            y.set_shape([2, 2])
        y.set_shape([4])
        assert y.shape.as_list() == [4]
        return y

    np.testing.assert_array_equal(flat(tf.ones([2, 2])).numpy(), np.ones(4))


def test_generator_element_of_the_wrong_shape_is_invalid_argument():
    ds = tf.data.Dataset.from_generator(lambda: iter([[1, 2], [3]]),
                                        output_signature=tf.TensorSpec([2], tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \(1,\).*\(2,\)"):
        list(ds)


# ------------------------------------------------------------------ variables and modules

def test_indexed_slices_convert_to_dense_summing_repeated_rows():
    slices = tf.IndexedSlices(tf.constant([[1.0, 2.0], [3.0, 4.0]]), tf.constant([2, 2]),
                              tf.constant([3, 2]))
    expected = np.zeros((3, 2), np.float32)
    np.add.at(expected, [2, 2], [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(tf.convert_to_tensor(slices).numpy(), expected)
    assert slices.shape.as_list() == [3, 2] and slices.dtype == tf.float32
    np.testing.assert_array_equal(tf.add(slices, 1.0).numpy(), expected + 1)
    with pytest.raises(ValueError, match="dense_shape"):
        tf.convert_to_tensor(tf.IndexedSlices(tf.ones([1, 2]), tf.constant([0])))


@pytest.mark.parametrize("kind", ["update", "add", "sub", "max", "min", "mul", "div"])
def test_variable_scatter_methods_take_indexed_slices(kind):
    start = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    rows, updates = [2, 0, 2], np.array([[2.0, 0.5], [4.0, 8.0], [3.0, 10.0]], np.float32)
    expected = start.copy()
    if kind == "update":
        expected[0], expected[2] = updates[1], updates[2]  # (the last write of a row wins)
    else:
        ufunc = {"add": np.add, "sub": np.subtract, "max": np.maximum, "min": np.minimum,
                 "mul": np.multiply, "div": np.divide}[kind]
        ufunc.at(expected, rows, updates)
    v = tf.Variable(start)
    result = getattr(v, f"scatter_{kind}")(tf.IndexedSlices(tf.constant(updates),
                                                            tf.constant(rows)))
    np.testing.assert_allclose(v.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6)


def test_variable_sparse_read_gather_nd_and_scatter_errors():
    v = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(v.sparse_read([1, 0]).numpy(), [[3.0, 4.0], [1.0, 2.0]])
    np.testing.assert_array_equal(v.gather_nd([[0, 1]]).numpy(), [2.0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(v.sparse_read([1, 1]))
    np.testing.assert_array_equal(tf.convert_to_tensor(tape.gradient(y, v)).numpy(),
                                  [[0.0, 0.0], [2.0, 2.0]])
    with pytest.raises(TypeError, match="IndexedSlices"):
        v.scatter_add([1.0])

    @tf.function
    def write():
        return v.scatter_update(tf.IndexedSlices(tf.constant([[7.0, 7.0]]), tf.constant([0])))

    write()
    np.testing.assert_array_equal(v.numpy(), [[7.0, 7.0], [3.0, 4.0]])


def test_on_read_variables_are_not_trainable_unless_asked():
    on_read = tf.VariableSynchronization.ON_READ
    assert not tf.Variable(1.0, synchronization=on_read).trainable
    assert tf.Variable(1.0, synchronization=on_read, trainable=True).trainable


def test_variable_names_take_the_name_scope_and_module_order_is_tfs():
    with tf.name_scope("outer"):
        with tf.name_scope("inner"):
            assert tf.Variable(1.0, name="v").name == "outer/inner/v:0"
    assert tf.Variable(1.0, name="v").name == "v:0"

    class Dense(tf.Module):
        def __init__(self, name=None):
            super().__init__(name=name)
            with self.name_scope:
                self.w = tf.Variable(1.0, name="w")
                self.b = tf.Variable(0.0, name="b", trainable=False)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.second = Dense("second")
            self.first = Dense("first")
            self.extra = [Dense(), {"k": tf.Variable(5.0, name="k")}]

    net = Net()
    # TF: a module's own variables first (attributes sorted), then each submodule's
    assert [v.name for v in net.variables] == [
        "k:0", "dense/b:0", "dense/w:0", "first/b:0", "first/w:0", "second/b:0", "second/w:0"]
    assert [v.name for v in net.trainable_variables] == [
        "k:0", "dense/w:0", "first/w:0", "second/w:0"]
    assert [m.name for m in net.submodules] == ["dense", "first", "second"]


# ------------------------------------------------------------------ TensorArray, debugging

@tf.function
def _squares(n):
    # TF's guide example: a dynamic_size TensorArray written at loop indices
    ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
    for i in tf.range(n):
        ta = ta.write(i, tf.cast(i, tf.float32) ** 2)
    return ta.stack()


@tf.function
def _halvings(x):
    ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[2])
    i = tf.constant(0)
    while tf.reduce_sum(x) > 1.0:
        x = x / 2
        ta = ta.write(i, x)
        i += 1
    return ta.stack(), ta.size(), ta.read(0)


def test_dynamic_size_tensor_array_grows_at_run_time_indices_in_a_traced_loop():
    np.testing.assert_array_equal(_squares(tf.constant(4)).numpy(), np.arange(4.0) ** 2)
    assert _squares(tf.constant(0)).numpy().shape == (0,)
    spec = tf.TensorSpec([], tf.int32)
    assert _squares.get_concrete_function(spec).structured_outputs.shape.as_list() == [None]
    stacked, size, first = _halvings(tf.constant([4.0, 4.0]))
    np.testing.assert_array_equal(stacked.numpy(), [[2.0, 2.0], [1.0, 1.0], [0.5, 0.5]])
    assert int(size) == 3
    np.testing.assert_array_equal(first.numpy(), [2.0, 2.0])

    @tf.function
    def gaps():
        ta = tf.TensorArray(tf.int32, size=1, dynamic_size=True)
        return ta.write(0, 5).write(2, 7).stack()

    np.testing.assert_array_equal(gaps().numpy(), [5, 0, 7])


def test_more_tf_debugging_assertions():
    d = tf.debugging
    with pytest.raises(errors.InvalidArgumentError, match=r"x < 0 did not hold"):
        d.assert_negative(tf.constant([-1, 2]))
    d.assert_non_positive(tf.constant([0.0, -1.0]))
    with pytest.raises(errors.InvalidArgumentError, match="x != y did not hold"):
        d.assert_none_equal(tf.constant([1, 2]), tf.constant([3, 2]))
    with pytest.raises(TypeError, match="must be of type tf.int32; got tf.float32"):
        d.assert_type(tf.constant([1.0]), tf.int32)
    with pytest.raises(TypeError, match="integer"):
        d.assert_integer(tf.constant([1.0]))
    with pytest.raises(ValueError, match=r"Expected scalar shape, saw shape: \(1,\)"):
        d.assert_scalar(tf.constant([1.0]))
    with pytest.raises(ValueError, match="rank at least 2"):
        d.assert_rank_at_least(tf.constant([1.0]), 2)
    with pytest.raises(ValueError, match=r"rank in \(2, 3\)"):
        d.assert_rank_in(tf.constant([1.0]), [2, 3])
    assert d.assert_same_float_dtype([tf.constant(1.0), tf.constant(2.0)]) == tf.float32
    with pytest.raises(ValueError, match="same type"):
        d.assert_same_float_dtype([tf.constant(1.0), tf.constant(2.0, tf.float64)])
    with pytest.raises(TypeError, match="proper"):
        d.assert_proper_iterable("ab")
    assert d.is_numeric_tensor(tf.constant(1)) and not d.is_numeric_tensor(tf.constant("a"))


@tf.function
def _positive(x):
    tf.Assert(x > 0, ["x must be positive, got", x])
    return x


def test_tf_assert_eagerly_and_each_time_a_traced_function_runs():
    with pytest.raises(errors.InvalidArgumentError,
                       match=r"to be true. Summarized data: b'boom'\n1, 2"):
        tf.Assert(tf.constant(False), ["boom", tf.constant([1, 2])])
    assert tf.debugging.Assert(tf.constant(True), ["boom"]) is None
    assert float(_positive(tf.constant(2.0))) == 2.0
    with pytest.raises(errors.InvalidArgumentError, match="x must be positive, got'\n-1.0"):
        _positive(tf.constant(-1.0))


def _plus_one(x):
    return x + 1


def test_retracing_a_function_five_times_in_a_row_logs_tfs_warning(caplog):
    with caplog.at_level("WARNING", logger="tensorflux"):
        for n in range(4):
            tf.function(_plus_one)(tf.ones([n + 1]))  # (re-made in a loop: TF's case (1))
        assert "retracing" not in caplog.text
        tf.function(_plus_one)(tf.ones([9]))
    assert "5 out of the last 5 calls to" in caplog.text and "_plus_one" in caplog.text


# ------------------------------------------------------------------ AutoGraph, map_fn

@tf.function
def _sum_of_a_dataset_made_inside():
    total = tf.constant(0, tf.int64)
    for i, x in enumerate(tf.data.Dataset.range(4).map(lambda v: v * 3)):
        total += x * tf.cast(i + 1, tf.int64)
    return total


def test_a_dataset_made_and_iterated_inside_a_tf_function():
    assert int(_sum_of_a_dataset_made_inside()) == sum(3 * v * (v + 1) for v in range(4))
    made_inside = tf.function(lambda: tf.data.Dataset.from_tensor_slices([1, 2, 3]).map(
        lambda v: v * 2).reduce(tf.constant(0), lambda s, x: s + x))
    assert int(made_inside()) == 12


@tf.function
def _collect_in_a_python_list(n):
    out = []
    for i in tf.range(n):
        out.append(i)
    return tf.stack(out)


def test_a_loop_body_tensor_used_after_the_loop_is_out_of_scope():
    with pytest.raises(ValueError, match="out of scope.*TensorArray"):
        _collect_in_a_python_list(tf.constant(3))


def test_iterating_a_symbolic_tensor_of_unknown_length_is_not_allowed_in_graph():
    fn = tf.function(lambda x: [v for v in x], input_signature=[tf.TensorSpec([None])])
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError, match="unknown"):
        fn(tf.ones([2]))


def test_map_fn_over_ragged_rows_and_to_ragged_results():
    rt = tf.ragged.constant([[1, 2], [3], [4, 5, 6]])
    np.testing.assert_array_equal(
        tf.map_fn(tf.reduce_sum, rt, fn_output_signature=tf.int32).numpy(), [3, 3, 15])
    doubled = tf.map_fn(lambda r: r * 2, rt,
                        fn_output_signature=tf.RaggedTensorSpec([None], tf.int32))
    assert _rows(doubled) == [[2, 4], [6], [8, 10, 12]]
    ranges = tf.map_fn(tf.range, tf.constant([1, 3]),
                       fn_output_signature=tf.RaggedTensorSpec([None], tf.int32))
    assert _rows(ranges) == [[0], [0, 1, 2]]


def test_checkpoint_save_inside_a_tf_function_is_refused(tmp_path):
    checkpoint = tf.train.Checkpoint(v=tf.Variable(1.0))
    with pytest.raises(NotImplementedError, match="tf.function"):
        tf.function(lambda: checkpoint.save(str(tmp_path / "c")))()
    assert int(checkpoint.save_counter) == 0 and not list(tmp_path.iterdir())


def test_forward_accumulator_jvps_match_numpy():
    a = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    v = np.array([[0.5, -1.0], [2.0, 1.0]], np.float32)
    x = tf.Variable([1.0, 2.0, 3.0])
    with tf.autodiff.ForwardAccumulator(a_t := tf.constant(a), tf.constant(v)) as acc:
        square = tf.matmul(a_t, a_t)
        unrelated = tf.constant(3.0)
    np.testing.assert_allclose(acc.jvp(square).numpy(), a @ v + v @ a, rtol=1e-6)
    assert acc.jvp(unrelated) is None
    assert float(acc.jvp(unrelated, tf.UnconnectedGradients.ZERO)) == 0.0
    t = np.array([1.0, 0.0, -2.0], np.float32)
    with tf.autodiff.ForwardAccumulator(x, tf.constant(t)) as acc:
        y = tf.sin(x) * x
    xs = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(acc.jvp(y).numpy(), (np.cos(xs) * xs + np.sin(xs)) * t,
                               rtol=1e-5)


def test_from_generator_with_ragged_and_sparse_output_signatures():
    def rows():
        for n in (1, 3, 2):
            yield tf.ragged.constant([[0] * n, [1]])

    ds = tf.data.Dataset.from_generator(
        rows, output_signature=tf.RaggedTensorSpec(shape=[2, None], dtype=tf.int32))
    assert [x.to_list() for x in ds] == [[[0], [1]], [[0, 0, 0], [1]], [[0, 0], [1]]]
    assert ds.batch(2).element_spec == tf.RaggedTensorSpec([None, 2, None], tf.int32, 2)
    assert [x.to_list() for x in ds.batch(2)][1] == [[[0, 0], [1]]]
    wrong = tf.data.Dataset.from_generator(
        lambda: iter([tf.ragged.constant([[1.0]])]),
        output_signature=tf.RaggedTensorSpec(shape=[None, None], dtype=tf.int32))
    with pytest.raises(TypeError, match="RaggedTensorSpec"):
        list(wrong)
    sparse = tf.data.Dataset.from_generator(
        lambda: iter([tf.sparse.SparseTensor([[0]], [1.0], [3])]),
        output_signature=tf.SparseTensorSpec([None], tf.float32))
    assert [tf.sparse.to_dense(x).numpy().tolist() for x in sparse] == [[1.0, 0.0, 0.0]]


def test_next_of_an_eager_iterator_inside_a_tf_function_pulls_at_each_call():
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    y = np.array([1.0, 0.0, 2.0, 1.0], np.float32)
    iterator = iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(2))
    w = tf.Variable([[0.5], [-0.25]])

    @tf.function
    def train_step(it):
        features, target = next(it)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((tf.squeeze(features @ w, 1) - target) ** 2)
        w.assign_sub(0.01 * tape.gradient(loss, w))
        return loss

    weights, losses = np.array([[0.5], [-0.25]]), []
    for start in (0, 2):  # NumPy float64 reference of the two steps
        xb, yb = x[start:start + 2].astype(np.float64), y[start:start + 2]
        error = (xb @ weights)[:, 0] - yb
        losses.append(np.mean(error ** 2))
        weights = weights - 0.01 * (2 * xb.T @ error[:, None] / len(yb))
    np.testing.assert_allclose([float(train_step(iterator)) for _ in range(2)], losses,
                               rtol=1e-5)
    np.testing.assert_allclose(w.numpy(), weights, rtol=1e-5)
    assert train_step.experimental_get_tracing_count() == 1
    with pytest.raises(tf.errors.OutOfRangeError):
        train_step(iterator)

    numbers = iter(tf.data.Dataset.range(3))

    @tf.function
    def peek(it):
        optional = it.get_next_as_optional()
        return optional.has_value()

    assert [bool(peek(numbers)) for _ in range(4)] == [True, True, True, False]


def test_io_matching_files(tmp_path):
    for name in ("b.png", "a.png", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = tf.io.matching_files(str(tmp_path / "*.png"))
    assert found.dtype == tf.string
    assert [p.decode() for p in found.numpy()] == [str(tmp_path / n) for n in ("a.png", "b.png")]
    assert tf.io.matching_files(tf.constant(str(tmp_path / "none*"))).shape.as_list() == [0]


def test_distribute_cross_device_ops_and_central_storage_are_accepted():
    for ops in (tf.distribute.HierarchicalCopyAllReduce(), tf.distribute.NcclAllReduce(),
                tf.distribute.ReductionToOneDevice()):
        strategy = tf.distribute.MirroredStrategy(cross_device_ops=ops)
        assert strategy.num_replicas_in_sync == 1
    central = tf.distribute.experimental.CentralStorageStrategy()
    with central.scope():
        v = tf.Variable(2.0)
    assert float(central.run(lambda: v * 3)) == 6.0


def test_formatting_and_scalar_repr_follow_tensorflow():
    loss = tf.constant(0.5)
    assert f"loss: {loss}" == "loss: 0.5" and f"{loss:.3f}" == "0.500"
    assert f"{tf.constant([1, 2])}" == "[1 2]" and f"{loss!s}" == str(loss)
    third = np.float32(1) / np.float32(3)
    assert repr(tf.constant(third)) == (
        f"<tf.Tensor: shape=(), dtype=float32, numpy={float(third)!r}>")
    assert repr(tf.constant(True)).endswith("numpy=True>")
    assert repr(tf.constant(b"ab")).endswith("numpy=b'ab'>")
    assert repr(tf.Variable(3)) == "<tf.Variable 'Variable:0' shape=() dtype=int32, numpy=3>"


def test_and_or_xor_are_bitwise_on_integer_tensors():
    a, b = np.array([6, 12, -3], np.int32), np.array([3, 10, 5], np.int32)
    ta, tb = tf.constant(a), tf.constant(b)
    np.testing.assert_array_equal((ta & tb).numpy(), a & b)
    np.testing.assert_array_equal((ta | 1).numpy(), a | 1)
    np.testing.assert_array_equal((7 ^ tb).numpy(), 7 ^ b)
    assert (tf.constant([True, False]) ^ tf.constant([True, True])).numpy().tolist() == [
        False, True]


def test_checkpoint_saves_and_restores_a_dataset_iterator_position(tmp_path):
    dataset = tf.data.Dataset.range(100).map(lambda v: v * 2).batch(3)
    iterator = iter(dataset)
    step = tf.Variable(0)
    checkpoint = tf.train.Checkpoint(step=step, iterator=iterator)
    for _ in range(4):
        next(iterator)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    expected = next(iterator).numpy().tolist()
    assert expected == [2 * v for v in range(12, 15)]
    fresh = iter(dataset)
    status = tf.train.Checkpoint(step=tf.Variable(0), iterator=fresh).restore(path)
    status.assert_consumed()
    assert next(fresh).numpy().tolist() == expected
    keys = [name for name, _ in tf.train.list_variables(path)]
    assert "iterator/.ATTRIBUTES/ITERATOR_STATE" in keys
    assert int(tf.train.load_variable(path, "iterator/.ATTRIBUTES/ITERATOR_STATE")) == 4


def test_dataset_snapshot_persists_the_first_pass(tmp_path):
    calls = []

    def note(v):
        calls.append(int(v))
        return v

    source = tf.data.Dataset.range(3).map(lambda v: tf.py_function(note, [v], tf.int64))
    first = [int(v) for v in source.snapshot(str(tmp_path / "snap"))]
    again = [int(v) for v in source.snapshot(str(tmp_path / "snap"))]
    assert first == again == [0, 1, 2] and calls == [0, 1, 2]
    assert tf.data.experimental.enable_debug_mode() is None
