"""Session 14 signature sweep: TensorFlow 2.21 keywords, positional orders and defaults that
tensorflux rejected, ignored or read differently. Expected values are NumPy float64, closed
forms, or outputs printed by TensorFlow 2.21.0 (tensorflow-cpu) for the exact call quoted in
the comment next to them."""

import inspect
import os

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors

# ------------------------------------------------------------------ arguments by TF's names


def test_dispatching_wrappers_take_the_tensor_by_tf_name():
    # atan2's parameters are (y, x): by name they must not swap
    np.testing.assert_allclose(tf.atan2(y=tf.constant([1.0]), x=tf.constant([0.0])).numpy(),
                               [np.arctan2(1.0, 0.0)], rtol=1e-6)
    np.testing.assert_allclose(tf.math.atan2(y=[0.0], x=[1.0]).numpy(), [0.0])
    np.testing.assert_allclose(tf.math.softplus(features=[0.0, 2.0]).numpy(),
                               np.log1p(np.exp([0.0, 2.0])), rtol=1e-6)
    np.testing.assert_allclose(tf.nn.softsign(features=[1.0, -3.0]).numpy(), [0.5, -0.75])
    assert tf.zeros_like(input=[1, 2]).numpy().tolist() == [0, 0]
    assert tf.ones_like(input=[[1.0]]).numpy().tolist() == [[1.0]]
    assert tf.clip_by_value(t=[-2.0, 5.0], clip_value_min=-1.0,
                            clip_value_max=1.0).numpy().tolist() == [-1.0, 1.0]
    # tf.saturate_cast(value=[300.0], dtype=tf.uint8) -> [255]
    assert tf.saturate_cast(value=[300.0], dtype=tf.uint8).numpy().tolist() == [255]
    z = tf.constant([1 + 2j])
    assert tf.math.real(input=z).numpy().tolist() == [1.0]
    assert tf.math.imag(input=z).numpy().tolist() == [2.0]
    np.testing.assert_allclose(tf.math.angle(input=tf.constant([1j], tf.complex64)).numpy(),
                               [np.pi / 2], rtol=1e-6)


def test_dispatching_by_name_keeps_ragged_dispatch():
    rt = tf.ragged.constant([[1.0], [2.0, 3.0]])
    assert tf.zeros_like(input=rt).to_list() == [[0.0], [0.0, 0.0]]
    out = tf.math.atan2(y=rt, x=tf.ragged.constant([[1.0], [1.0, -1.0]]))
    np.testing.assert_allclose(out.flat_values.numpy(),
                               np.arctan2([1.0, 2.0, 3.0], [1.0, 1.0, -1.0]), rtol=1e-6)


def test_string_ops_take_input_by_name():
    # tf.strings.to_hash_bucket(input=["hello", "tf"], num_buckets=1000003) -> [546981, 307333]
    assert tf.strings.to_hash_bucket(input=["hello", "tf"],
                                     num_buckets=1000003).numpy().tolist() == [546981, 307333]
    # tf.strings.to_hash_bucket_fast(input=["hello"], num_buckets=10) -> [6]
    assert tf.strings.to_hash_bucket_fast(input=["hello"], num_buckets=10).numpy().tolist() == [6]
    assert tf.strings.to_number(input=["1.5", "-2"]).numpy().tolist() == [1.5, -2.0]
    assert tf.strings.lower(input=["AbC"]).numpy().tolist() == [b"abc"]
    # tf.as_string(input=[1.5]) -> [b'1.500000']
    assert tf.as_string(input=[1.5]).numpy().tolist() == [b"1.500000"]
    rt = tf.ragged.constant([["A"], ["B", "C"]])
    assert tf.strings.lower(input=rt).to_list() == [[b"a"], [b"b", b"c"]]


def test_wrappers_report_tf_parameter_names():
    # what users see with help(): the names the calls above accept
    assert list(inspect.signature(tf.math.softplus).parameters) == ["features", "name"]
    assert list(inspect.signature(tf.strings.to_number).parameters)[0] == "input"
    assert list(inspect.signature(tf.tuple).parameters) == ["tensors", "control_inputs", "name"]
    assert list(inspect.signature(tf.io.decode_csv).parameters) == [
        "records", "record_defaults", "field_delim", "use_quote_delim", "na_value",
        "select_cols", "name"]


# ------------------------------------------------------------------ positional orders, defaults

def test_tuple_control_inputs_is_second():
    # tf.tuple([tf.constant(1)], None, "t")[0] -> 1 (control_inputs, then name)
    out = tf.tuple([tf.constant(1)], None, "t")
    assert int(out[0]) == 1
    with pytest.raises(TypeError, match="control_inputs"):
        tf.tuple([tf.constant(1)], "t")


def test_decode_csv_na_value_is_fifth():
    # tf.io.decode_csv(["1,NA"], [[0.], [9.]], ",", True, "NA") -> [1.], [9.]
    a, b = tf.io.decode_csv(["1,NA"], [[0.0], [9.0]], ",", True, "NA")
    assert a.numpy().tolist() == [1.0] and b.numpy().tolist() == [9.0]


def test_shape_and_size_out_type_none_is_int32():
    # tf.shape(tf.zeros([2, 3]), out_type=None).dtype -> int32
    s = tf.shape(tf.zeros([2, 3]), out_type=None)
    assert s.dtype == tf.int32 and s.numpy().tolist() == [2, 3]
    assert tf.size(tf.zeros([2, 3]), out_type=None).dtype == tf.int32
    assert tf.shape(tf.zeros([2]), out_type=tf.int64).dtype == tf.int64


@pytest.mark.parametrize("make", [
    lambda **kw: tf.zeros([2], **kw), lambda **kw: tf.ones([2], **kw),
    lambda **kw: tf.fill([2], 3.0, **kw), lambda **kw: tf.zeros_like([1.0, 2.0], **kw),
    lambda **kw: tf.ones_like([1.0, 2.0], **kw)])
def test_layout_none_accepted_and_a_layout_refused(make):
    assert make(layout=None).shape == (2,)
    with pytest.raises(errors.UnimplementedError, match="layout"):
        make(layout="a mesh layout")


def test_matmul_accepts_tf_hint_arguments():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[0.5], [-1.0]])
    out = tf.matmul(tf.constant(a), tf.constant(b), a_is_sparse=True, grad_a=True, grad_b=True)
    np.testing.assert_allclose(out.numpy(), a @ b)


# ------------------------------------------------------------------ bad_indices_policy

def test_gather_nd_ignore_policy_gathers_zeros():
    # tf.gather_nd([[1., 2.], [3., 4.]], [[0, 1], [5, 0], [1, 1]],
    #              bad_indices_policy="IGNORE") -> [2., 0., 4.]
    params, indices = [[1.0, 2.0], [3.0, 4.0]], [[0, 1], [5, 0], [1, 1]]
    out = tf.gather_nd(params, indices, bad_indices_policy="IGNORE")
    assert out.numpy().tolist() == [2.0, 0.0, 4.0]
    # slices: an out-of-range row gathers a row of zeros
    assert tf.gather_nd(params, [[5], [1]], bad_indices_policy="IGNORE").numpy().tolist() == [
        [0.0, 0.0], [3.0, 4.0]]
    traced = tf.function(lambda p, i: tf.gather_nd(p, i, bad_indices_policy="IGNORE"))
    assert traced(tf.constant(params), tf.constant(indices)).numpy().tolist() == [2.0, 0.0, 4.0]
    for policy in ("", "DEFAULT", "ERROR"):
        with pytest.raises(errors.InvalidArgumentError, match="does not index"):
            tf.gather_nd(params, indices, bad_indices_policy=policy)
    with pytest.raises(errors.InvalidArgumentError, match="bad_indices_policy"):
        tf.gather_nd(params, [[0, 0]], bad_indices_policy="SKIP")


def test_scatter_ignore_policy_drops_bad_updates():
    # tf.scatter_nd([[1], [7], [2]], [1., 2., 3.], [4], bad_indices_policy="IGNORE")
    #   -> [0., 1., 3., 0.]
    assert tf.scatter_nd([[1], [7], [2]], [1.0, 2.0, 3.0], [4],
                         bad_indices_policy="IGNORE").numpy().tolist() == [0.0, 1.0, 3.0, 0.0]
    # tf.tensor_scatter_nd_add([1., 1., 1.], [[1], [7], [-1]], [1., 2., 3.],
    #                          bad_indices_policy="IGNORE") -> [1., 2., 1.]
    assert tf.tensor_scatter_nd_add([1.0, 1.0, 1.0], [[1], [7], [-1]], [1.0, 2.0, 3.0],
                                    bad_indices_policy="IGNORE").numpy().tolist() == [1, 2, 1]
    # ..._max([1., 1., 1.], [[1], [7]], [5., 2.]) -> [1., 5., 1.]
    assert tf.tensor_scatter_nd_max([1.0, 1.0, 1.0], [[1], [7]], [5.0, 2.0],
                                    bad_indices_policy="IGNORE").numpy().tolist() == [1, 5, 1]
    # ..._sub([1., 1., 1.], [[0], [3]], [5., 2.]) -> [-4., 1., 1.]
    assert tf.tensor_scatter_nd_sub([1.0, 1.0, 1.0], [[0], [3]], [5.0, 2.0],
                                    bad_indices_policy="IGNORE").numpy().tolist() == [-4, 1, 1]
    # ..._min([1., 1., 1.], [[0], [3]], [-5., 2.]) -> [-5., 1., 1.]
    assert tf.tensor_scatter_nd_min([1.0, 1.0, 1.0], [[0], [3]], [-5.0, 2.0],
                                    bad_indices_policy="IGNORE").numpy().tolist() == [-5, 1, 1]
    with pytest.raises(errors.InvalidArgumentError, match="does not index"):
        tf.tensor_scatter_nd_add([1.0, 1.0, 1.0], [[1], [7]], [1.0, 2.0])


def test_scatter_ignore_policy_gradients():
    # max over x with [5 -> x[0], 7 -> out of range]: y = sum(max(x[0], 5), x[1], x[2]) with
    # x[0] = 1, so d/dx = [0, 1, 1] and only the in-range update gets a cotangent: [1, 0]
    x = tf.Variable([1.0, 2.0, 3.0])
    u = tf.Variable([5.0, 7.0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.tensor_scatter_nd_max(x, [[0], [9]], u,
                                                   bad_indices_policy="IGNORE"))
    gx, gu = tape.gradient(y, [x, u])
    assert gx.numpy().tolist() == [0.0, 1.0, 1.0] and gu.numpy().tolist() == [1.0, 0.0]
    # a dropped update leaves the max at index 0 alone: the cotangent stays with x[0]
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.tensor_scatter_nd_max(x, [[5]], [9.0],
                                                   bad_indices_policy="IGNORE"))
    assert tape.gradient(y, x).numpy().tolist() == [1.0, 1.0, 1.0]
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.scatter_nd([[1], [4]], u, [3], bad_indices_policy="IGNORE"))
    assert tape.gradient(y, u).numpy().tolist() == [1.0, 0.0]


# ------------------------------------------------------------------ host calls

def test_py_function_and_numpy_function_as_decorators():
    # @tf.py_function(Tout=tf.float32) over lambda x: x * 2, called on 3.0 -> 6.0
    doubled = tf.py_function(Tout=tf.float32)(lambda x: x * 2)
    assert float(doubled(tf.constant(3.0))) == 6.0
    tripled = tf.numpy_function(Tout=tf.float32)(lambda x: x * 3)
    assert float(tripled(tf.constant(2.0))) == 6.0
    traced = tf.function(lambda x: tf.numpy_function(Tout=tf.float32)(lambda v: v + 1)(x))
    assert float(traced(tf.constant(2.0))) == 3.0
    with pytest.raises(TypeError, match="inp"):
        tf.py_function(inp=[1.0], Tout=tf.float32)
    with pytest.raises(TypeError, match="Tout"):
        tf.numpy_function()
    with pytest.raises(TypeError, match="inp"):
        tf.py_function(lambda x: x, Tout=tf.float32)


# ------------------------------------------------------------------ tf.sparse / tf.data

def test_sparse_cross_separator():
    # tf.sparse.cross([tf.constant([["a", "b"]]), tf.constant([["c"]]), tf.constant([[1]])],
    #                 separator=b"/") -> dense [[b'a/c/1', b'b/c/1']]
    out = tf.sparse.cross([tf.constant([["a", "b"]]), tf.constant([["c"]]), tf.constant([[1]])],
                          separator=b"/")
    assert tf.sparse.to_dense(out).numpy().tolist() == [[b"a/c/1", b"b/c/1"]]
    out = tf.sparse.cross([tf.constant([["a", "b"]]), tf.constant([["c"]])], separator="+")
    assert out.values.numpy().tolist() == [b"a+c", b"b+c"]
    assert tf.sparse.cross([tf.constant([["a"]]), tf.constant([["c"]])]).values.numpy().tolist() \
        == [b"a_X_c"]


def _ints(ds):
    return [int(v) for v in ds]


def test_experimental_choose_from_datasets_skips_empty_by_default():
    def parts():
        return [tf.data.Dataset.from_tensor_slices([1, 2]),
                tf.data.Dataset.from_tensor_slices([10, 20, 30, 40])]
    choice = tf.data.Dataset.from_tensor_slices(tf.constant([0, 0, 0, 1], tf.int64))
    # tf.data.experimental.choose_from_datasets(...) -> [1, 2, 10]
    assert _ints(tf.data.experimental.choose_from_datasets(parts(), choice)) == [1, 2, 10]
    # tf.data.Dataset.choose_from_datasets(...) -> [1, 2] (stop_on_empty_dataset=True)
    assert _ints(tf.data.Dataset.choose_from_datasets(parts(), choice)) == [1, 2]


def test_dataset_zip_datasets_keyword():
    a = tf.data.Dataset.from_tensor_slices([1, 2])
    b = tf.data.Dataset.from_tensor_slices([10, 20, 30])
    assert [(int(x), int(y)) for x, y in tf.data.Dataset.zip(datasets=(a, b))] == [
        (1, 10), (2, 20)]
    assert [{k: int(v) for k, v in e.items()}
            for e in tf.data.Dataset.zip(datasets={"a": a, "b": b})] == [
        {"a": 1, "b": 10}, {"a": 2, "b": 20}]
    assert _ints(tf.data.Dataset.zip(datasets=a)) == [1, 2]
    assert [(int(x), int(y)) for x, y in tf.data.Dataset.zip(a, b)] == [(1, 10), (2, 20)]
    with pytest.raises(TypeError, match="not both"):
        tf.data.Dataset.zip(a, datasets=(a, b))
    with pytest.raises(TypeError, match="at least one"):
        tf.data.Dataset.zip()


def test_dataset_map_synchronous_and_threadpool_arguments():
    ds = tf.data.Dataset.range(3)
    assert _ints(ds.map(lambda x: x * 2, None, None, True)) == [0, 2, 4]
    assert _ints(ds.map(lambda x: x + 1, num_parallel_calls=2,
                        use_unbounded_threadpool=True)) == [1, 2, 3]
    with pytest.raises(ValueError, match="synchronous"):
        ds.map(lambda x: x, num_parallel_calls=2, synchronous=True)


def test_random_dataset_rerandomize_and_from_list_name():
    again = tf.data.experimental.RandomDataset(seed=1, rerandomize_each_iteration=True).take(3)
    assert _ints(again) != _ints(again)
    same = tf.data.experimental.RandomDataset(seed=1, name="r").take(3)
    assert _ints(same) == _ints(same)
    assert _ints(tf.data.experimental.from_list([1, 2], name="x")) == [1, 2]


# ------------------------------------------------------------------ checkpoints

def test_checkpoint_manager_last_checkpoint_step(tmp_path):
    # TF 2.21, same calls (CheckpointManager(ckpt, dir, 5, step_counter=step,
    # checkpoint_interval=3, last_checkpoint_step=2), step.assign(s), save(check_interval=c))
    # returned: None, None, ckpt-1, None, ckpt-2, None, ckpt-3, None
    step = tf.Variable(0, dtype=tf.int64)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=step), str(tmp_path), 5,
                                         step_counter=step, checkpoint_interval=3,
                                         last_checkpoint_step=2)
    saved = []
    for s, check in [(2, False), (3, True), (4, False), (5, True), (5, False), (6, True),
                     (8, True), (9, True)]:
        step.assign(s)
        path = manager.save(check_interval=check)
        saved.append(None if path is None else os.path.basename(path))
    assert saved == [None, None, "ckpt-1", None, "ckpt-2", None, "ckpt-3", None]


def test_checkpoint_write_callbacks(tmp_path):
    # TF 2.21 with these calls recorded ['c-1', 'bare', 'w', 'bare', 'ckpt-2', 'bare']
    seen = []
    options = tf.train.CheckpointOptions(experimental_write_callbacks=[
        lambda path: seen.append(os.path.basename(path)), lambda: seen.append("bare")])
    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
    ckpt.save(str(tmp_path / "c"), options=options)
    ckpt.write(str(tmp_path / "w"), options=options)
    tf.train.CheckpointManager(ckpt, str(tmp_path), 3).save(options=options)
    assert seen == ["c-1", "bare", "w", "bare", "ckpt-2", "bare"]


def test_checkpoint_skip_slot_variables_is_refused(tmp_path):
    ckpt = tf.train.Checkpoint(v=tf.Variable(1.0))
    path = ckpt.save(str(tmp_path / "c"))
    options = tf.train.CheckpointOptions(experimental_skip_slot_variables=True)
    with pytest.raises(NotImplementedError, match="experimental_skip_slot_variables"):
        ckpt.restore(path, options=options)


def test_variable_def_is_refused():
    with pytest.raises(ValueError, match="variable_def"):
        tf.Variable(1.0, variable_def=object())


def test_tensor_spec_is_compatible_with_keyword():
    spec = tf.TensorSpec([None, 2], tf.float32)
    assert spec.is_compatible_with(spec_or_tensor=tf.zeros([3, 2]))
    assert not spec.is_compatible_with(spec_or_tensor=tf.zeros([3, 3]))


# ------------------------------------------------------------------ make_tensor_proto

@pytest.mark.parametrize("values, kwargs, expected", [
    # tf.make_ndarray(tf.make_tensor_proto(<values>, **<kwargs>)) in TF 2.21
    ([1, 2], dict(shape=[4]), [1, 2, 2, 2]),
    ([1], dict(shape=[4], allow_broadcast=False), [1, 1, 1, 1]),
    ([[1, 2], [3, 4]], dict(shape=[4]), [1, 2, 3, 4]),
    (["a", "b"], dict(shape=[3]), [b"a", b"b", b"b"]),
    (7.0, dict(shape=[2, 2], allow_broadcast=True), [[7.0, 7.0], [7.0, 7.0]]),
    ([], dict(shape=[2], dtype=tf.float32), [0.0, 0.0]),
])
def test_make_tensor_proto_pads_like_tf(values, kwargs, expected):
    assert tf.make_ndarray(tf.make_tensor_proto(values, **kwargs)).tolist() == expected


def test_make_tensor_proto_shape_errors():
    # TF 2.21: TypeError "Expected Tensor's shape: (4,), but got (2,)." with allow_broadcast
    with pytest.raises(TypeError, match="shape"):
        tf.make_tensor_proto([1, 2], shape=[4], allow_broadcast=True)
    # ValueError "Too many elements provided. Takes at most 2, but got 3."
    with pytest.raises(ValueError, match="too many"):
        tf.make_tensor_proto([1, 2, 3], shape=[2])
    # TypeError "Expected Tensor's shape: (1, 2), but got (2,)."
    with pytest.raises(TypeError, match="shape"):
        tf.make_tensor_proto([1, 2], shape=[1, 2], verify_shape=True)
    with pytest.raises(ValueError, match="allow_broadcast"):
        tf.make_tensor_proto([1], shape=[1], verify_shape=True, allow_broadcast=True)


def test_accumulate_n_checks_shape_and_dtype():
    ones = [tf.ones([2]), tf.ones([2])]
    assert tf.math.accumulate_n(ones, shape=[2], tensor_dtype=tf.float32).numpy().tolist() == [
        2.0, 2.0]
    assert tf.math.accumulate_n(ones, shape=[None]).numpy().tolist() == [2.0, 2.0]
    # TF 2.21: ValueError "Shapes (3,) and (2,) are not compatible"
    with pytest.raises(ValueError, match="shape"):
        tf.math.accumulate_n(ones, shape=[3])
    # TF 2.21: TypeError "The `tensor_dtype` argument is <dtype: 'int32'>, but ..."
    with pytest.raises(TypeError, match="tensor_dtype"):
        tf.math.accumulate_n(ones, tensor_dtype=tf.int32)


# ------------------------------------------------------------------ diagonal bands

@pytest.mark.parametrize("call, expected", [
    # each call run by TF 2.21 as tf.linalg.<call>; its output
    (lambda: tf.linalg.diag([[1, 2], [3, 0]], k=(0, 1), align="LEFT_RIGHT"), [[3, 1], [0, 0]]),
    (lambda: tf.linalg.diag([[1, 2], [3, 0]], k=(0, 1)), [[3, 2], [0, 0]]),
    (lambda: tf.linalg.diag([[1, 2, 3], [4, 5, 6], [7, 8, 9]], k=(-1, 1), padding_value=-1),
     [[4, 2, -1], [7, 5, 3], [-1, 8, 6]]),
    (lambda: tf.linalg.diag([[1, 2, 3], [4, 5, 6], [7, 8, 9]], k=(-1, 1), align="LEFT_LEFT"),
     [[4, 1, 0], [7, 5, 2], [0, 8, 6]]),
    (lambda: tf.linalg.diag([[1, 2], [3, 4]], k=(1, 2), padding_value=9),
     [[9, 3, 2], [9, 9, 4], [9, 9, 9]]),
    (lambda: tf.linalg.diag([[1, 2], [3, 4]], k=[-2, -1], align="RIGHT_RIGHT", num_cols=3),
     [[0, 0, 0], [1, 0, 0], [4, 2, 0]]),
    (lambda: tf.linalg.diag([[1, 2], [3, 4]], k=[-2, -1], padding_value=7),
     [[7, 7, 7], [1, 7, 7], [3, 2, 7]]),
    (lambda: tf.linalg.diag([[1, 2], [3, 4]], k=tf.constant([0, 1])), [[3, 2], [0, 4]]),
    (lambda: tf.linalg.diag([[1, 2, 3], [4, 5, 6]], k=(0, 1), num_rows=3, num_cols=4,
                            align="LEFT_RIGHT"),
     [[4, 1, 0, 0], [0, 5, 2, 0], [0, 0, 6, 3]]),
    (lambda: tf.linalg.diag([[1, 2], [4, 5]], k=(-1, 0), num_rows=3, align="LEFT_RIGHT"),
     [[1, 0], [4, 2], [0, 5]]),
    (lambda: tf.linalg.diag([[[1, 2], [4, 5]], [[6, 7], [8, 9]]], k=(-1, 0)),
     [[[1, 0], [4, 2]], [[6, 0], [8, 7]]]),
    (lambda: tf.linalg.set_diag(tf.zeros([2, 3], tf.int32), [[1, 2], [3, 0]], k=(0, 1),
                                align="LEFT_RIGHT"), [[3, 1, 0], [0, 0, 2]]),
    (lambda: tf.linalg.set_diag(tf.ones([3, 4], tf.int32) * -1, [[1, 2, 3], [4, 5, 6],
                                [7, 8, 9]], k=(-1, 1), align="LEFT_LEFT"),
     [[4, 1, -1, -1], [7, 5, 2, -1], [-1, 8, 6, 3]]),
    (lambda: tf.linalg.set_diag(tf.zeros([3, 3], tf.int32), [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                                k=(-2, 0), align="LEFT_RIGHT"), [[1, 0, 0], [5, 2, 0], [9, 6, 3]]),
    (lambda: tf.linalg.set_diag(tf.zeros([3, 3], tf.int32), [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                                k=(-2, 0)), [[1, 0, 0], [4, 2, 0], [7, 5, 3]]),
])
def test_diag_bands_follow_align(call, expected):
    assert call().numpy().tolist() == expected


def test_diag_align_is_validated_and_band_shapes_checked():
    for op in (lambda: tf.linalg.diag([1, 2], align="X"),
               lambda: tf.linalg.set_diag([[1, 2], [3, 4]], [7, 8], align="X"),
               lambda: tf.linalg.diag_part([[1, 2], [3, 4]], align="X")):
        with pytest.raises(errors.InvalidArgumentError, match="align"):
            op()
    with pytest.raises(errors.InvalidArgumentError, match="band"):
        tf.linalg.diag([[1, 2, 3]], k=(0, 1))
    with pytest.raises(errors.InvalidArgumentError, match="band"):
        tf.linalg.set_diag(tf.zeros([3, 3], tf.int32), [[1, 2, 3], [4, 5, 6]], k=(-2, 0))


def test_diag_band_gradient_is_the_band_read_back():
    # d/d(band) sum(w * diag(band)) = w read along the band (set entries only, padding none)
    w = np.arange(1.0, 10.0).reshape(3, 3)
    band = tf.Variable([[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]])  # k=(-1, 0), RIGHT_LEFT
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.constant(w, tf.float32) * tf.linalg.diag(band, k=(-1, 0)))
    expected = [[w[0, 0], w[1, 1], w[2, 2]], [w[1, 0], w[2, 1], 0.0]]
    np.testing.assert_allclose(tape.gradient(y, band).numpy(), expected)


def test_tridiagonal_solve_perturb_singular_needs_pivoting():
    diagonals = [[1.0, 1.0, 0.0], [2.0, 2.0, 2.0], [0.0, 1.0, 1.0]]
    # TF 2.21: ValueError "partial_pivoting must be True if perturb_singular is."
    with pytest.raises(ValueError, match="partial_pivoting"):
        tf.linalg.tridiagonal_solve(diagonals, [1.0, 2.0, 3.0], partial_pivoting=False,
                                    perturb_singular=True)
    # a regular system: the same solution either way; NumPy float64 oracle
    dense = np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 2.0]])
    expected = np.linalg.solve(dense, [1.0, 2.0, 3.0])
    for pivoting in (True, False):
        out = tf.linalg.tridiagonal_solve(tf.constant(diagonals, tf.float64),
                                          tf.constant([1.0, 2.0, 3.0], tf.float64),
                                          partial_pivoting=pivoting)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
