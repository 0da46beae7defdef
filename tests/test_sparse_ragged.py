"""tf.sparse / SparseTensor and tf.ragged / RaggedTensor: values against NumPy float64 and
TensorFlow 2.21's outputs (checked in below where noted), gradients against central
differences, printing, and the errors for malformed inputs."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.ops.ctc import SparseTensorValue
from tests.tolerances import central_difference


def dense_of(indices, values, shape):
    out = np.zeros(shape, dtype=np.float64)
    for index, value in zip(indices, values):
        out[tuple(index)] += value
    return out


INDICES = [[0, 1], [1, 0], [2, 3]]
VALUES = [1.0, -2.0, 3.0]


def example():
    return tf.sparse.SparseTensor(INDICES, VALUES, [3, 4])


# ------------------------------------------------------------------ SparseTensor


def test_sparse_tensor_parts_shape_spec_and_printing():
    st = example()
    assert st.indices.dtype == tf.int64 and st.dense_shape.dtype == tf.int64
    assert st.values.numpy().tolist() == VALUES
    assert st.shape == tf.TensorShape([3, 4]) and st.dtype == tf.float32
    assert tf.SparseTensor is tf.sparse.SparseTensor
    spec = st._type_spec
    assert spec == tf.SparseTensorSpec([3, 4], tf.float32)
    assert spec.is_compatible_with(tf.SparseTensorSpec([None, 4], tf.float32))
    assert not spec.is_compatible_with(tf.SparseTensorSpec([None, 5], tf.float32))
    # TensorFlow 2.21: repr(tf.SparseTensorSpec([None, 4], tf.int32)) and print(st)
    assert repr(tf.SparseTensorSpec([None, 4], tf.int32)) == \
        "SparseTensorSpec(TensorShape([None, 4]), tf.int32)"
    assert str(tf.sparse.SparseTensor([[0, 1]], [1.5], [2, 3])) == (
        "SparseTensor(indices=tf.Tensor([[0 1]], shape=(1, 2), dtype=int64), "
        "values=tf.Tensor([1.5], shape=(1,), dtype=float32), "
        "dense_shape=tf.Tensor([2 3], shape=(2,), dtype=int64))")


@pytest.mark.parametrize("build, message", [
    (lambda: tf.sparse.SparseTensor([[0, 1], [2, 3]], [1.0], [3, 4]),
     "indices has 2 rows and values has 1 entries"),
    (lambda: tf.sparse.SparseTensor([0, 1], [1.0, 2.0], [3, 4]),
     r"indices must be a matrix \[N, rank\].*received shape \(2,\)"),
    (lambda: tf.sparse.SparseTensor([[0, 1]], [1.0], [3, 4, 5]),
     r"one entry per dimension of dense_shape \(3\), received rows of 2 entries"),
    (lambda: tf.sparse.SparseTensor([[0, 1]], [[1.0]], [3, 4]),
     r"values must be a vector \[N\], received shape \(1, 1\)"),
])
def test_sparse_tensor_rejects_malformed_parts(build, message):
    with pytest.raises(ValueError, match=message):
        build()
    with pytest.raises(TypeError, match="int64"):
        tf.sparse.SparseTensor([[0.5, 1]], [1.0], [3, 4])


def test_from_dense_to_dense_round_trip_and_defaults():
    dense = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]], np.float32)
    st = tf.sparse.from_dense(dense)
    assert st.indices.numpy().tolist() == [[0, 1], [1, 0], [1, 2]]
    assert st.values.numpy().tolist() == [1.5, 2.0, -3.0]
    np.testing.assert_array_equal(tf.sparse.to_dense(st).numpy(), dense)
    filled = tf.sparse.to_dense(st, default_value=-1.0).numpy()
    np.testing.assert_array_equal(filled, np.where(dense == 0, -1.0, dense))
    words = tf.sparse.from_dense(tf.constant([b"", b"a", b""]))
    assert words.indices.numpy().tolist() == [[1]]
    assert tf.sparse.to_dense(words).numpy().tolist() == [b"", b"a", b""]


def test_to_dense_names_unsorted_repeated_and_out_of_range_indices():
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"indices\[1\] = \[0, 1\] is out of order.*tf.sparse.reorder"):
        tf.sparse.to_dense(tf.sparse.SparseTensor([[2, 3], [0, 1]], [1.0, 2.0], [3, 4]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"indices\[1\] = \[0, 1\] is rep"):
        tf.sparse.to_dense(tf.sparse.SparseTensor([[0, 1], [0, 1]], [1.0, 2.0], [3, 4]))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"indices\[1\] = \[5, 3\] is out of bounds: expected 0 <= index "
                             r"< \[3, 4\]"):
        tf.sparse.to_dense(tf.sparse.SparseTensor([[0, 1], [5, 3]], [1.0, 2.0], [3, 4]))
    unsorted = tf.sparse.SparseTensor([[2, 3], [0, 1]], [1.0, 2.0], [3, 4])
    expected = dense_of([[2, 3], [0, 1]], [1.0, 2.0], (3, 4))
    np.testing.assert_array_equal(tf.sparse.to_dense(unsorted, validate_indices=False), expected)
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sparse.reorder(unsorted)), expected)
    assert tf.sparse.reorder(unsorted).indices.numpy().tolist() == [[0, 1], [2, 3]]


def test_reshape_transpose_expand_dims_slice_retain():
    st = example()
    dense = dense_of(INDICES, VALUES, (3, 4))
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sparse.reshape(st, [-1, 6])),
                                  dense.reshape(2, 6))
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sparse.transpose(st)), dense.T)
    assert tf.sparse.transpose(st).indices.numpy().tolist() == [[0, 1], [1, 0], [3, 2]]
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sparse.expand_dims(st, 1)),
                                  dense[:, None, :])
    assert tf.sparse.expand_dims(st).shape == tf.TensorShape([3, 4, 1])
    part = tf.sparse.slice(st, [1, 0], [5, 2])
    np.testing.assert_array_equal(tf.sparse.to_dense(part), dense[1:, 0:2])
    kept = tf.sparse.retain(st, [True, False, True])
    assert kept.values.numpy().tolist() == [1.0, 3.0]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"SparseTensor has 12 dense values \(shape \[3, 4\]\), but the "
                             r"requested shape \[5, 3\] has 15"):
        tf.sparse.reshape(st, [5, 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="needs a multiple of 5"):
        tf.sparse.reshape(st, [-1, 5])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"one entry per value \(3\)"):
        tf.sparse.retain(st, [True])
    with pytest.raises(tf.errors.InvalidArgumentError, match="axis"):
        tf.sparse.expand_dims(st, 5)


def test_concat_axis_0_1_and_widened():
    a = example()
    b = tf.sparse.SparseTensor([[0, 0]], [5.0], [3, 2])
    dense_a = dense_of(INDICES, VALUES, (3, 4))
    np.testing.assert_array_equal(tf.sparse.to_dense(tf.sparse.concat(0, [a, a])),
                                  np.concatenate([dense_a, dense_a], 0))
    joined = tf.sparse.concat(1, [a, b])
    np.testing.assert_array_equal(tf.sparse.to_dense(joined),
                                  np.concatenate([dense_a, dense_of([[0, 0]], [5.0], (3, 2))], 1))
    wide = tf.sparse.concat(0, [a, b], expand_nonconcat_dims=True)
    assert wide.dense_shape.numpy().tolist() == [6, 4]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="expected 4 for dimension 1, received 2 for input 1"):
        tf.sparse.concat(0, [a, b])


def test_add_sparse_sparse_with_threshold_and_sparse_dense():
    a = tf.sparse.SparseTensor([[0, 1], [1, 1]], [1.0, 2.0], [3, 4])
    b = tf.sparse.SparseTensor([[0, 1], [0, 2]], [-1.0, 3.0], [3, 4])
    total = tf.sparse.add(a, b)
    # TensorFlow 2.21: the cancelled entry [0, 1] stays (threshold 0); threshold 2.5 drops
    # only the sum 0.0 at [0, 1]: [1, 1], which only a holds, is never tested
    assert total.indices.numpy().tolist() == [[0, 1], [0, 2], [1, 1]]
    assert total.values.numpy().tolist() == [0.0, 3.0, 2.0]
    assert tf.sparse.add(a, b, threshold=2.5).indices.numpy().tolist() == [[0, 2], [1, 1]]
    dense = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(tf.sparse.add(a, dense),
                                  dense + dense_of([[0, 1], [1, 1]], [1.0, 2.0], (3, 4)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"shapes must match.*\(3, 5\)"):
        tf.sparse.add(a, tf.sparse.SparseTensor([[0, 1]], [1.0], [3, 5]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected \(3, 4\), received "
                                                              r"\(3, 5\)"):
        tf.sparse.add(a, tf.ones([3, 5]))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, [0, 1]])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduce_sum_and_max_match_numpy(axis, keepdims):
    st = example()
    dense = dense_of(INDICES, VALUES, (3, 4))
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    got = tf.sparse.reduce_sum(st, axis, keepdims=keepdims)
    np.testing.assert_allclose(got.numpy(), dense.sum(np_axis, keepdims=keepdims))
    # max over the entries present; outputs no entry reaches are 0 (TensorFlow's rule)
    present = np.where(dense_of(INDICES, [1] * 3, (3, 4)) > 0, dense, -np.inf)
    expected = present.max(np_axis, keepdims=keepdims)
    expected = np.where(np.isinf(expected), 0.0, expected)
    np.testing.assert_allclose(tf.sparse.reduce_max(st, axis, keepdims=keepdims), expected)


def test_reduce_sparse_outputs_and_errors():
    st = example()
    out = tf.sparse.reduce_sum(st, 1, output_is_sparse=True)
    assert out.indices.numpy().tolist() == [[0], [1], [2]]  # TensorFlow 2.21
    assert out.values.numpy().tolist() == [1.0, -2.0, 3.0]
    assert tf.sparse.reduce_max(st, 0).numpy().tolist() == [-2.0, 1.0, 0.0, 3.0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="axis"):
        tf.sparse.reduce_sum(st, 2)


@pytest.mark.parametrize("adjoint_a, adjoint_b", [(False, False), (True, False),
                                                  (False, True), (True, True)])
def test_sparse_dense_matmul_and_its_gradients(adjoint_a, adjoint_b):
    rng = np.random.default_rng(0)
    indices = [[0, 1], [1, 0], [2, 3], [2, 1]]
    values = rng.normal(size=4)
    a_shape = (3, 4)
    a = dense_of(indices, values, a_shape)
    b = rng.normal(size=(a_shape[0] if adjoint_a else a_shape[1], 2))
    if adjoint_b:
        b = b.T.copy()

    def reference(vals, dense):
        left = dense_of(indices, vals, a_shape)
        left = left.T if adjoint_a else left
        return left @ (dense.T if adjoint_b else dense)

    v = tf.Variable(values)
    d = tf.Variable(b)
    with tf.GradientTape() as tape:
        st = tf.sparse.SparseTensor(indices, v, a_shape)
        out = tf.sparse.sparse_dense_matmul(st, d, adjoint_a=adjoint_a, adjoint_b=adjoint_b)
        loss = tf.reduce_sum(out * out)
    np.testing.assert_allclose(out.numpy(), reference(values, b), rtol=1e-12)
    grad_v, grad_d = tape.gradient(loss, [v, d])
    np.testing.assert_allclose(grad_v, central_difference(
        lambda x: (reference(x, b) ** 2).sum(), values), rtol=1e-6)
    np.testing.assert_allclose(grad_d, central_difference(
        lambda x: (reference(values, x) ** 2).sum(), b), rtol=1e-6)
    # dense @ sparse: op(D) @ op(S)
    dense = rng.normal(size=(2, a_shape[1] if adjoint_b else a_shape[0]))
    left = dense.T if adjoint_a else dense
    got = tf.sparse.sparse_dense_matmul(left.copy(), st, adjoint_a=adjoint_a,
                                        adjoint_b=adjoint_b)
    np.testing.assert_allclose(got, dense @ (a.T if adjoint_b else a), rtol=1e-12)


def test_sparse_dense_matmul_errors():
    st = example()
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"A \(sparse, shape \(3, 4\), adjoint=False\) gives 4 and B "
                             r"\(dense, adjoint=False\) gives 3"):
        tf.sparse.sparse_dense_matmul(st, tf.ones([3, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"indices\[1\] = \[2, 9\] is out"):
        tf.sparse.sparse_dense_matmul(
            tf.sparse.SparseTensor([[0, 1], [2, 9]], [1.0, 2.0], [3, 4]), tf.ones([4, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="same dtype"):
        tf.sparse.sparse_dense_matmul(st, tf.ones([4, 2], tf.float64))


def test_elementwise_with_dense_and_scalars():
    st = example()
    weights = np.arange(1, 5, dtype=np.float32)
    assert (st * weights).values.numpy().tolist() == [2.0, -2.0, 12.0]
    assert (2.0 * st).values.numpy().tolist() == [2.0, -4.0, 6.0]
    assert (st / 2.0).values.numpy().tolist() == [0.5, -1.0, 1.5]
    column = tf.constant([[1.0], [10.0], [100.0]])
    assert (st * column).values.numpy().tolist() == [1.0, -20.0, 300.0]
    with pytest.raises(tf.errors.InvalidArgumentError, match="broadcasts to the sparse shape"):
        st * tf.ones([2, 3, 4])
    with pytest.raises(ValueError, match=r"SparseTensor \(shape \(3, 4\), float32\).*to_dense"):
        tf.reduce_sum(st)


def test_fill_empty_rows_indicator_segments_bincount_eye_map_values():
    filled, empty = tf.sparse.fill_empty_rows(
        tf.sparse.SparseTensor([[1, 2], [3, 0]], [5.0, 6.0], [5, 3]), -1.0)
    # TensorFlow 2.21
    assert filled.indices.numpy().tolist() == [[0, 0], [1, 2], [2, 0], [3, 0], [4, 0]]
    assert filled.values.numpy().tolist() == [-1.0, 5.0, -1.0, 6.0, -1.0]
    assert empty.numpy().tolist() == [True, False, True, False, True]
    ids = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0]], [1, 3, 2], [2, 2])
    assert tf.sparse.to_indicator(ids, 4).numpy().tolist() == [
        [False, True, False, True], [False, False, True, False]]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, vocab_size=3\), received 3"):
        tf.sparse.to_indicator(ids, 3)
    data = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    assert tf.sparse.segment_sum(data, [0, 2], [0, 0]).numpy().tolist() == [[6.0, 8.0]]
    assert tf.sparse.segment_mean(data, [0, 2, 1], [0, 0, 2]).numpy().tolist() == [
        [3.0, 4.0], [0.0, 0.0], [3.0, 4.0]]
    counts = tf.sparse.bincount(tf.constant([[1, 2, 2], [0, 0, 5]]), axis=-1, minlength=7)
    assert counts.indices.numpy().tolist() == [[0, 1], [0, 2], [1, 0], [1, 5]]
    assert counts.values.numpy().tolist() == [1, 2, 2, 1]
    assert counts.dense_shape.numpy().tolist() == [2, 7]
    weighted = tf.sparse.bincount(tf.constant([3, 1, 3, 9]),
                                  weights=tf.constant([0.5, 1.0, 2.0, 4.0]), maxlength=5)
    assert (weighted.indices.numpy().tolist(), weighted.values.numpy().tolist(),
            weighted.dense_shape.numpy().tolist()) == ([[1], [3]], [1.0, 2.5], [5])
    assert tf.sparse.to_dense(tf.sparse.eye(2, 3)).numpy().tolist() == [[1, 0, 0], [0, 1, 0]]
    assert tf.sparse.map_values(tf.abs, example()).values.numpy().tolist() == [1.0, 2.0, 3.0]


def test_dispatch_handlers_map_the_values():
    st = example()
    assert st._dispatch("cast", st, tf.int32).values.numpy().tolist() == [1, -2, 3]
    assert st._dispatch("abs", st).values.numpy().tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="exp does not take a SparseTensor"):
        st._dispatch("exp", st)  # (exp(0) is not 0: no sparse result)
    rt = tf.ragged.constant([[1, 2], [3]], row_splits_dtype=tf.int32)
    assert rt._dispatch("cast", rt, tf.float32).to_list() == [[1.0, 2.0], [3.0]]
    assert rt._dispatch("add", rt, 1).row_splits.dtype == tf.int32
    assert rt._dispatch("reduce_sum", axis=0).numpy().tolist() == [4, 2]


def test_sparse_tensor_value_interoperates():
    value = SparseTensorValue(tf.constant([[0, 2]], tf.int64), tf.constant([7], tf.int64),
                              tf.constant([1, 3], tf.int64))
    assert tf.sparse.to_dense(value).numpy().tolist() == [[0, 0, 7]]
    assert tf.SparseTensor.from_value(value).shape == tf.TensorShape([1, 3])
    decoded, _ = tf.nn.ctc_greedy_decoder(tf.math.log(tf.constant(
        [[[0.1, 0.8, 0.1]], [[0.1, 0.1, 0.8]], [[0.1, 0.8, 0.1]]])), tf.constant([3]))
    assert tf.sparse.to_dense(decoded[0]).numpy().tolist() == [[1, 1]]  # (blank between)


def test_sparse_ops_trace_in_tf_function():
    @tf.function
    def run(values, dense):
        st = tf.sparse.SparseTensor(INDICES, values, [3, 4])
        return (tf.sparse.sparse_dense_matmul(st, dense), tf.sparse.to_dense(st),
                tf.sparse.reduce_sum(st, 1), tf.sparse.add(st, st).values)

    values = tf.constant(VALUES)
    dense = tf.ones([4, 2])
    for got, want in zip(run(values, dense), (
            dense_of(INDICES, VALUES, (3, 4)) @ np.ones((4, 2)), dense_of(INDICES, VALUES, (3, 4)),
            dense_of(INDICES, VALUES, (3, 4)).sum(1), 2 * np.array(VALUES))):
        np.testing.assert_allclose(got, want)


def test_sparse_rows_and_batches_for_datasets():
    st = tf.sparse.SparseTensor([[0, 1], [2, 0]], [1, 2], [3, 2])
    rows = [tf.sparse.to_dense(st._row(i)).numpy().tolist() for i in range(3)]
    assert rows == [[0, 1], [0, 0], [2, 0]]  # TensorFlow 2.21: from_tensor_slices(st)
    batch = st._type_spec._unbatch()._stack([st._row(0), st._row(1)])
    assert tf.sparse.to_dense(batch).numpy().tolist() == [[0, 1], [0, 0]]
    assert tf.sparse.to_dense(st._rows(1, 3)).numpy().tolist() == [[0, 0], [2, 0]]


# ------------------------------------------------------------------ RaggedTensor

def test_constant_shapes_dtypes_and_printing():
    rt = tf.ragged.constant([[1, 2, 3], [], [4, 5]])
    assert rt.shape == tf.TensorShape([3, None]) and rt.dtype == tf.int32
    assert rt.ragged_rank == 1 and rt.row_splits.dtype == tf.int64
    assert rt.row_splits.numpy().tolist() == [0, 3, 3, 5]
    assert tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1).shape == \
        tf.TensorShape([2, None, 2])
    assert tf.ragged.constant([[1.5], []]).dtype == tf.float32
    assert tf.ragged.constant([[], []]).dtype == tf.float32
    assert tf.ragged.constant([[1, 2]], row_splits_dtype=tf.int32).row_splits.dtype == tf.int32
    assert tf.ragged.constant([[1], [2]], dtype=tf.float64).dtype == tf.float64
    # TensorFlow 2.21's text of each (NumPy's layout: wrapping at 75 columns, uniform rows
    # as a matrix, "..." past 1000 elements)
    assert repr(tf.ragged.constant([[0.1, 2.0], [3.0]])) == \
        "<tf.RaggedTensor [[0.1, 2.0], [3.0]]>"
    assert str(tf.ragged.constant([[b"a", b"bc"], [b"d"]])) == \
        "<tf.RaggedTensor [[b'a', b'bc'], [b'd']]>"
    assert repr(tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]])) == \
        "<tf.RaggedTensor [[[1, 2],\n  [3, 4]], [[5, 6]]]>"
    assert repr(tf.ragged.constant([[1, 2, 3], [4, 5, 6]])) == \
        "<tf.RaggedTensor [[1, 2, 3],\n [4, 5, 6]]>"
    assert repr(tf.ragged.constant([[7] * 30, [1]])) == (
        "<tf.RaggedTensor [[7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, "
        "7, 7, 7,\n  7, 7, 7, 7, 7]" + " " * 60 + ",\n [1]]>")
    assert repr(tf.ragged.constant([[[1, 2, 3]] * 3, [[4, 5, 6]]])) == \
        "<tf.RaggedTensor [[[1, 2, 3],\n  [1, 2, 3],\n  [1, 2, 3]], [[4, 5, 6]]]>"
    assert repr(tf.ragged.constant([[], []])) == "<tf.RaggedTensor [[], []]>"
    assert tf.ragged.constant([[1, 2], [3]]).to_list() == [[1, 2], [3]]


@pytest.mark.parametrize("pylist, kwargs, message", [
    ([[1, [2]], [3]], {}, "same nesting depth"),
    ([[1, 2], [3]], {"ragged_rank": 2}, "ragged_rank=2 needs scalars nested deeper"),
    ([[[1, 2], [3]], [[5, 6]]], {"ragged_rank": 1}, "must all have one shape"),
])
def test_constant_errors(pylist, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tf.ragged.constant(pylist, **kwargs)


def test_factories_agree_and_validate():
    values = [1, 2, 3]
    expected = [[1, 2], [], [3]]
    R = tf.RaggedTensor
    assert R.from_row_lengths(values, [2, 0, 1]).to_list() == expected
    assert R.from_row_splits(values, [0, 2, 2, 3]).to_list() == expected
    assert R.from_value_rowids(values, [0, 0, 2]).to_list() == expected
    assert R.from_value_rowids(values, [0, 0, 2], nrows=4).to_list() == expected + [[]]
    assert R.from_row_starts(values, [0, 2, 2]).to_list() == expected
    assert R.from_row_limits(values, [2, 2, 3]).to_list() == expected
    assert R.from_nested_row_splits([1, 2, 3, 4], [[0, 1, 3], [0, 2, 3, 4]]).to_list() == \
        [[[1, 2]], [[3], [4]]]
    assert R.from_nested_row_lengths([1, 2, 3, 4], [[1, 2], [2, 1, 1]]).to_list() == \
        [[[1, 2]], [[3], [4]]]
    with pytest.raises(ValueError, match="constructor is private"):
        R(values, [0, 3])
    bad = [
        (lambda: R.from_row_lengths(values, [2, 0, 2]),
         r"row lengths sum to 4, but there are 3 values"),
        (lambda: R.from_row_splits(values, [1, 2, 3]), r"must start at 0, received \[1, 2, 3\]"),
        (lambda: R.from_row_splits(values, [0, 2, 1, 3]), "non-decreasing"),
        (lambda: R.from_row_splits(values, [0, 2]),
         r"last row split \(2\) must equal the number of values \(3\)"),
        (lambda: R.from_value_rowids(values, [0, 2, 1]), "non-decreasing"),
        (lambda: R.from_value_rowids(values, [0, 0, 2], nrows=2),
         r"expected nrows >= value_rowids\[-1\] \+ 1, received nrows=2"),
    ]
    for build, message in bad:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            build()


def test_from_tensor_lengths_padding_and_ragged_rank():
    R = tf.RaggedTensor
    dense = [[1, 2, 0], [3, 0, 0]]
    assert R.from_tensor(dense, lengths=[1, 4]).to_list() == [[1], [3, 0, 0]]
    # TensorFlow 2.21
    assert R.from_tensor([[1, 2, 0], [0, 0, 0], [3, 0, 4]], padding=0).to_list() == \
        [[1, 2], [], [3, 0, 4]]
    assert R.from_tensor([[[1, 1], [0, 0]], [[0, 0], [2, 0]]], padding=[0, 0]).to_list() == \
        [[[1, 1]], [[0, 0], [2, 0]]]
    assert R.from_tensor([[[1, 2], [0, 0]], [[3, 0], [0, 0]]], padding=0,
                         ragged_rank=2).to_list() == [[[1, 2], []], [[3], []]]
    assert R.from_tensor(dense).to_list() == dense
    with pytest.raises(ValueError, match="lengths or padding, not both"):
        R.from_tensor(dense, lengths=[1, 1], padding=0)


def test_row_partition_views_and_dense_conversion():
    rt = tf.ragged.constant([[1.0, 2.0, 3.0], [], [4.0, 5.0]])
    assert int(rt.nrows()) == 3
    assert rt.row_lengths().numpy().tolist() == [3, 0, 2]
    assert rt.value_rowids().numpy().tolist() == [0, 0, 0, 2, 2]
    assert rt.row_starts().numpy().tolist() == [0, 3, 3]
    assert rt.row_limits().numpy().tolist() == [3, 3, 5]
    assert rt.bounding_shape().numpy().tolist() == [3, 3]
    assert rt.to_tensor().numpy().tolist() == [[1, 2, 3], [0, 0, 0], [4, 5, 0]]
    # TensorFlow 2.21: to_tensor(default_value=9.0, shape=[2, 4])
    assert rt.to_tensor(default_value=9.0, shape=[2, 4]).numpy().tolist() == \
        [[1.0, 2.0, 3.0, 9.0], [9.0, 9.0, 9.0, 9.0]]
    assert rt.to_tensor(shape=[None, 2]).numpy().tolist() == [[1, 2], [0, 0], [4, 5]]
    rows = rt.numpy()
    assert rows.dtype == object and [r.tolist() for r in rows] == [[1, 2, 3], [], [4, 5]]
    assert tf.ragged.constant([[1, 2], [3, 4]]).numpy().tolist() == [[1, 2], [3, 4]]
    rt3 = tf.ragged.constant([[[1, 2], [3]], [[4]]])
    assert rt3.to_tensor(-1).numpy().tolist() == [[[1, 2], [3, -1]], [[4, -1], [-1, -1]]]
    assert rt3.row_lengths(axis=2).to_list() == [[2, 1], [1]]
    sparse = tf.ragged.constant([[1, 2], [], [3]]).to_sparse()
    assert sparse.indices.numpy().tolist() == [[0, 0], [0, 1], [2, 0]]
    assert tf.RaggedTensor.from_sparse(sparse).to_list() == [[1, 2], [], [3]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="ragged-right"):
        tf.RaggedTensor.from_sparse(tf.sparse.SparseTensor([[0, 1]], [1], [1, 2]))


def test_indexing_rows_and_ragged_slices():
    rt = tf.ragged.constant([[1, 2, 3], [], [4, 5]])
    assert rt[1].numpy().tolist() == [] and rt[-1].numpy().tolist() == [4, 5]
    assert int(rt[0, 1]) == 2
    assert rt[1:].to_list() == [[], [4, 5]] and rt[::2].to_list() == [[1, 2, 3], [4, 5]]
    # TensorFlow 2.21
    assert rt[:, :2].to_list() == [[1, 2], [], [4, 5]]
    assert rt[:, 1:].to_list() == [[2, 3], [], [5]]
    assert rt[:, -1:].to_list() == [[3], [], [5]]
    assert rt[:, ::2].to_list() == [[1, 3], [], [4]]
    uniform = tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1)
    assert uniform[:, :, 1].to_list() == [[2, 4], [6]]
    assert [row.numpy().tolist() for row in rt] == [[1, 2, 3], [], [4, 5]]
    with pytest.raises(IndexError, match="row index 5 is out of range for 3 rows"):
        rt[5]
    with pytest.raises(ValueError, match="Cannot index into an inner ragged dimension"):
        rt[:, 0]
    with pytest.raises(ValueError, match="Cannot index into an inner ragged dimension"):
        rt[..., 0]


def test_elementwise_operators_and_broadcasting():
    rt = tf.ragged.constant([[1, 2, 3], [], [4, 5]])
    assert (rt + 1).to_list() == [[2, 3, 4], [], [5, 6]]
    assert (1 - rt).to_list() == [[0, -1, -2], [], [-3, -4]]
    assert (rt * rt).to_list() == [[1, 4, 9], [], [16, 25]]
    assert (rt > 2).to_list() == [[False, False, True], [], [True, True]]
    assert (-rt).to_list() == [[-1, -2, -3], [], [-4, -5]]
    assert (rt + tf.constant([[10], [20], [30]])).to_list() == [[11, 12, 13], [], [34, 35]]
    uniform = tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1)
    assert (uniform + tf.constant([10, 20])).to_list() == [[[11, 22], [13, 24]], [[15, 26]]]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"row_splits \[0, 3, 3, 5\] and \[0, 1, 2, 3\]"):
        rt + tf.ragged.constant([[1], [2], [3]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="ragged dimension 1"):
        rt + tf.constant([10, 20])
    with pytest.raises(ValueError, match=r"RaggedTensor \(shape \(3, None\), int32\).*to_tensor"):
        tf.convert_to_tensor(rt)


REDUCTION_ROWS = [[1.0, -2.0, 3.0], [], [4.0, 5.0]]


@pytest.mark.parametrize("op, np_op", [("reduce_sum", np.sum), ("reduce_mean", np.mean),
                                       ("reduce_max", np.max), ("reduce_min", np.min),
                                       ("reduce_prod", np.prod)])
def test_reductions_over_rows_columns_and_all(op, np_op):
    rt = tf.ragged.constant(REDUCTION_ROWS, dtype=tf.float64)
    empty = {"reduce_sum": 0.0, "reduce_mean": np.nan, "reduce_max": np.finfo(np.float64).min,
             "reduce_min": np.finfo(np.float64).max, "reduce_prod": 1.0}[op]
    per_row = [np_op(r) if r else empty for r in REDUCTION_ROWS]
    np.testing.assert_allclose(rt._dispatch(op, axis=1), per_row)
    np.testing.assert_allclose(rt._dispatch(op, axis=-1, keepdims=True), np.array(per_row)[:, None])
    columns = [np_op([r[j] for r in REDUCTION_ROWS if len(r) > j]) for j in range(3)]
    np.testing.assert_allclose(rt._dispatch(op, axis=0), columns)
    np.testing.assert_allclose(rt._dispatch(op), np_op(sum(REDUCTION_ROWS, [])))
    np.testing.assert_allclose(rt._dispatch(op, axis=[0, 1]), np_op(sum(REDUCTION_ROWS, [])))


def test_reductions_of_ragged_rank_2_match_tensorflow():
    rt3 = tf.ragged.constant([[[1.0, 2.0], [3.0]], [[4.0], [], [5.0, 6.0, 7.0]]])
    # TensorFlow 2.21: tf.reduce_mean / tf.reduce_max(rt3, axis=...)
    assert rt3._dispatch("reduce_mean", axis=0).to_list() == [[2.5, 2.0], [3.0],
                                                               [5.0, 6.0, 7.0]]
    assert rt3._dispatch("reduce_max", axis=1).to_list() == [[3.0, 2.0], [5.0, 6.0, 7.0]]
    assert rt3._dispatch("reduce_mean", axis=1).to_list() == [[2.0, 2.0], [4.5, 6.0, 7.0]]
    means = rt3._dispatch("reduce_mean", axis=2).to_list()
    assert means[0] == [1.5, 3.0] and means[1][0] == 4.0 and np.isnan(means[1][1])
    assert rt3._dispatch("reduce_sum", axis=1, keepdims=True).to_list() == \
        [[[4.0, 2.0]], [[9.0, 6.0, 7.0]]]
    assert rt3._dispatch("reduce_sum", axis=0, keepdims=True).to_list() == \
        [[[5.0, 2.0], [3.0], [5.0, 6.0, 7.0]]]
    ints = tf.ragged.constant([[1, 2], [3]])
    assert ints._dispatch("reduce_mean", axis=1).dtype == tf.float64  # as TensorFlow's
    assert ints._dispatch("reduce_any", axis=1).dtype == tf.bool
    with pytest.raises(ValueError, match="argmax does not take a RaggedTensor"):
        ints._dispatch("argmax")


@pytest.mark.parametrize("op", ["reduce_sum", "reduce_mean", "reduce_max"])
@pytest.mark.parametrize("axis", [0, 1])
def test_reduction_gradients_match_central_differences(op, axis):
    lengths = [3, 0, 2]
    flat = np.array([1.0, -2.0, 3.5, 4.0, 0.5])
    weights = np.array([1.0, 2.0, -1.0])

    def numpy_loss(values):
        rows = np.split(values, np.cumsum(lengths)[:-1])
        if axis == 1:
            kept = [(r, w) for r, w in zip(rows, weights) if len(r)]
            reduce = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max}[op]
            return sum(w * reduce(r) for r, w in kept)
        columns = [[r[j] for r in rows if len(r) > j] for j in range(3)]
        reduce = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max}[op]
        return sum(w * reduce(c) for c, w in zip(columns, weights))

    variable = tf.Variable(flat)
    with tf.GradientTape() as tape:
        rt = tf.RaggedTensor.from_row_lengths(variable, lengths)
        reduced = rt._dispatch(op, axis=axis)
        filled = tf.constant([True, False, True] if axis == 1 else [True] * 3)  # (row 1 empty)
        loss = tf.reduce_sum(tf.where(filled, reduced, tf.zeros_like(reduced)) * weights)
    np.testing.assert_allclose(float(loss), numpy_loss(flat))
    np.testing.assert_allclose(tape.gradient(loss, variable),
                               central_difference(numpy_loss, flat), rtol=1e-6, atol=1e-9)


def test_to_tensor_and_slicing_pass_gradients():
    flat = np.array([1.0, -2.0, 3.0, 4.0, 5.0])
    variable = tf.Variable(flat)
    with tf.GradientTape() as tape:
        rt = tf.RaggedTensor.from_row_lengths(variable, [3, 0, 2])
        loss = tf.reduce_sum(rt.to_tensor(-1.0) ** 2) + tf.reduce_sum(rt[:, 1:].flat_values)
    assert tape.gradient(loss, variable).numpy().tolist() == [2.0, -3.0, 7.0, 8.0, 11.0]


def test_map_flat_values_range_boolean_mask_stack_concat():
    rt = tf.ragged.constant([[1, 2, 3], [4], [5, 6]])
    assert tf.ragged.map_flat_values(tf.multiply, rt, rt).to_list() == [[1, 4, 9], [16],
                                                                        [25, 36]]
    with pytest.raises(tf.errors.InvalidArgumentError, match="one row per flat value"):
        tf.ragged.map_flat_values(lambda v: v[:2], rt)
    # TensorFlow 2.21
    assert tf.ragged.range([0, 5, 2], [5, 0, 3], [2, -2, 1]).to_list() == \
        [[0, 2, 4], [5, 3, 1], [2]]
    assert tf.ragged.range([0.0], [1.0], 0.25).to_list() == [[0.0, 0.25, 0.5, 0.75]]
    assert tf.ragged.range(3).to_list() == [[0, 1, 2]]
    mask = tf.ragged.constant([[True, False, True], [False], [True, True]])
    assert tf.ragged.boolean_mask(rt, mask).to_list() == [[1, 3], [], [5, 6]]
    assert tf.ragged.boolean_mask(rt, [True, False, True]).to_list() == [[1, 2, 3], [5, 6]]
    assert tf.ragged.boolean_mask([[1, 2], [3, 4]], [[True, False], [False, False]]).to_list() \
        == [[1], []]
    assert tf.ragged.stack([tf.ragged.constant([[1], [2, 3]]),
                            tf.ragged.constant([[4]])]).to_list() == [[[1], [2, 3]], [[4]]]
    a, b = tf.ragged.constant([[1], [2, 3]]), tf.ragged.constant([[4, 5], []])
    assert a._dispatch("concat", [a, b, tf.ragged.constant([[6], [7]])], 1).to_list() == \
        [[1, 4, 5, 6], [2, 3, 7]]
    assert a._dispatch("concat", [a, b], 0).to_list() == [[1], [2, 3], [4, 5], []]
    assert tf.ragged.row_splits_to_segment_ids([0, 2, 2, 5]).numpy().tolist() == [0, 0, 2, 2, 2]
    assert tf.ragged.segment_ids_to_row_splits([0, 0, 2]).numpy().tolist() == [0, 2, 2, 3]


def test_spec_components_rows_and_batches():
    rt = tf.ragged.constant([[1, 2], [3], [4, 5, 6]])
    spec = rt._type_spec
    # TensorFlow 2.21: element_spec of from_tensor_slices(rt) and of its .batch(2)
    assert repr(spec._unbatch()) == "RaggedTensorSpec(TensorShape([None]), tf.int32, 0, tf.int64)"
    assert repr(spec._unbatch()._batch(None)) == \
        "RaggedTensorSpec(TensorShape([None, None]), tf.int32, 1, tf.int64)"
    assert spec == tf.RaggedTensorSpec([3, None], tf.int32)
    assert spec.is_compatible_with(tf.RaggedTensorSpec([None, None], tf.int32))
    rebuilt = spec._from_components(spec._to_components(rt))
    assert rebuilt.to_list() == rt.to_list()
    batch = spec._unbatch()._stack([rt._row(0), rt._row(1)])
    assert batch.to_list() == [[1, 2], [3]] and rt._rows(1, 3).to_list() == [[3], [4, 5, 6]]


def test_ragged_ops_trace_in_tf_function():
    @tf.function
    def run(flat, lengths):
        rt = tf.RaggedTensor.from_row_lengths(flat, lengths)
        return (rt._dispatch("reduce_sum", axis=1), (rt * 2.0).to_tensor(),
                rt[:, :2].flat_values, rt[1:].row_splits)

    sums, dense, cut, splits = run(tf.constant([1.0, 2.0, 3.0]),
                                   tf.constant([2, 0, 1], tf.int64))
    assert sums.numpy().tolist() == [3.0, 0.0, 3.0]
    assert dense.numpy().tolist() == [[2.0, 4.0], [0.0, 0.0], [6.0, 0.0]]
    assert cut.numpy().tolist() == [1.0, 2.0, 3.0] and splits.numpy().tolist() == [0, 0, 1]


# ------------------------------------------------------------------ tf.strings.split

def test_strings_split_returns_ragged_rows():
    tokens = tf.strings.split(["a b", "", " c d e "])
    assert isinstance(tokens, tf.RaggedTensor)
    assert tokens.to_list() == [[b"a", b"b"], [], [b"c", b"d", b"e"]]
    scalar = tf.strings.split("a b")
    assert isinstance(scalar, tf.Tensor) and scalar.numpy().tolist() == [b"a", b"b"]
    # TensorFlow 2.21
    assert tf.strings.split(["a,,b", ",c"], sep=",").to_list() == [[b"a", b"", b"b"],
                                                                  [b"", b"c"]]
    assert tf.strings.split(["a b c d"], maxsplit=2).to_list() == [[b"a", b"b", b"c d"]]
    padded, lengths = tf.strings.split_padded(["a b", "c"])
    assert padded.numpy().tolist() == [[b"a", b"b"], [b"c", b""]]
    assert lengths.numpy().tolist() == [2, 1]

    @tf.function
    def dense_tokens(x):
        return tf.strings.split(x).to_tensor()

    assert dense_tokens(tf.constant(["a b", "c"])).numpy().tolist() == [[b"a", b"b"],
                                                                       [b"c", b""]]
