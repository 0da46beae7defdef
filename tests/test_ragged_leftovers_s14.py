"""Session 14, RaggedTensor leftovers against TensorFlow 2.21: dense (op) RaggedTensor through
the Tensor operators, tf.experimental.RowPartition and DynamicRaggedShape.row_partitions,
the tf.strings.format text of a RaggedTensor, value_rowids with empty rows at the end.

TensorFlow is not installed next to the tests. Each expected value is derived by hand from
the input lists (said so), or is what TF 2.21 printed for the TF code quoted beside it
(/tmp/s14/r3/tf1.py, tf2.py, tf3.py ran those lines with `import tensorflow as tf`).
"""

import pytest

import tensorflux as tf
from tensorflux import errors
from tensorflux.ragged._format import ragged_text
from tensorflux.ragged.dynamic_ragged_shape import DynamicRaggedShape
from tensorflux.ragged.row_partition import RowPartition


def rtf():
    return tf.ragged.constant([[1., 2., 3.], [], [4., 5.]])


def values(x):
    assert isinstance(x, tf.RaggedTensor), type(x)
    return x.to_list()


# -- dense (op) RaggedTensor: the dense operand broadcasts into the rows

# TF 2.21: rt = tf.ragged.constant([[1., 2., 3.], [], [4., 5.]]); d = tf.constant([1.0]);
# d2 = tf.constant([[10.], [20.], [30.]]); each line's printed rt.to_list() is the expected.
@pytest.mark.parametrize("name, fn, expected", [
    ("d + rt", lambda d, d2, rt: d + rt, [[2.0, 3.0, 4.0], [], [5.0, 6.0]]),
    ("d2 + rt", lambda d, d2, rt: d2 + rt, [[11.0, 12.0, 13.0], [], [34.0, 35.0]]),
    ("d - rt", lambda d, d2, rt: d - rt, [[0.0, -1.0, -2.0], [], [-3.0, -4.0]]),
    ("d2 * rt", lambda d, d2, rt: d2 * rt, [[10.0, 20.0, 30.0], [], [120.0, 150.0]]),
    ("d / rt", lambda d, d2, rt: d / rt, [[1.0, 0.5, 1 / 3], [], [0.25, 0.2]]),
    ("d // rt", lambda d, d2, rt: d // rt, [[1.0, 0.0, 0.0], [], [0.0, 0.0]]),
    ("d % rt", lambda d, d2, rt: d % rt, [[0.0, 1.0, 1.0], [], [1.0, 1.0]]),
    ("d ** rt", lambda d, d2, rt: d ** rt, [[1.0, 1.0, 1.0], [], [1.0, 1.0]]),
    ("d < rt", lambda d, d2, rt: d < rt, [[False, True, True], [], [True, True]]),
    ("d <= rt", lambda d, d2, rt: d <= rt, [[True, True, True], [], [True, True]]),
    ("d > rt", lambda d, d2, rt: d > rt, [[False, False, False], [], [False, False]]),
    ("d >= rt", lambda d, d2, rt: d >= rt, [[True, False, False], [], [False, False]]),
    ("d == rt", lambda d, d2, rt: d == rt, [[True, False, False], [], [False, False]]),
    ("d != rt", lambda d, d2, rt: d != rt, [[False, True, True], [], [True, True]]),
    ("d2 == rt", lambda d, d2, rt: d2 == rt, [[False, False, False], [], [False, False]]),
])
def test_dense_operator_ragged(name, fn, expected):
    out = fn(tf.constant([1.0]), tf.constant([[10.], [20.], [30.]]), rtf())
    got = values(out)
    assert [len(row) for row in got] == [len(row) for row in expected]
    for row, want in zip(got, expected):
        assert row == (pytest.approx(want, rel=1e-6) if out.dtype.is_floating else want)
    assert out.row_splits.numpy().tolist() == [0, 3, 3, 5]


def test_dense_logical_and_bitwise_operators_with_ragged():
    # TF 2.21: rb = tf.ragged.constant([[True, False, True], [], [False, True]]);
    # db = tf.constant(True): db & rb, db | rb, db ^ rb
    rb = tf.ragged.constant([[True, False, True], [], [False, True]])
    db = tf.constant(True)
    assert values(db & rb) == [[True, False, True], [], [False, True]]
    assert values(db | rb) == [[True, True, True], [], [True, True]]
    assert values(db ^ rb) == [[False, True, False], [], [True, False]]
    # TF 2.21: ri = tf.ragged.constant([[1, 2, 3], [], [4, 5]]); di = tf.constant(2):
    # di & ri -> [[0, 2, 2], [], [0, 0]], di | ri -> [[3, 2, 3], [], [6, 7]] (bit by bit)
    ri = tf.ragged.constant([[1, 2, 3], [], [4, 5]])
    di = tf.constant(2)
    assert values(di & ri) == [[0, 2, 2], [], [0, 0]]
    assert values(di | ri) == [[3, 2, 3], [], [6, 7]]
    assert values(ri & di) == [[0, 2, 2], [], [0, 0]]  # (the ragged side's own operator)


def test_variable_operator_ragged():
    # TF 2.21: tf.Variable([1.0]) + rt -> [[2, 3, 4], [], [5, 6]];
    # tf.Variable([[1.0], [2.], [3.]]) * rt -> [[1, 2, 3], [], [12, 15]]
    assert values(tf.Variable([1.0]) + rtf()) == [[2.0, 3.0, 4.0], [], [5.0, 6.0]]
    assert values(tf.Variable([[1.0], [2.], [3.]]) * rtf()) == \
        [[1.0, 2.0, 3.0], [], [12.0, 15.0]]


def test_dense_operator_ragged_errors():
    # TF 2.21: tf.constant(2) + rt (float values) -> InvalidArgumentError (AddV2 dtypes);
    # tf.constant([1., 2.]) + rt -> InvalidArgumentError (the shapes do not broadcast)
    with pytest.raises(errors.InvalidArgumentError, match="int32.*float32"):
        tf.constant(2) + rtf()
    with pytest.raises(errors.InvalidArgumentError, match="broadcast"):
        tf.constant([1., 2.]) + rtf()
    # TF 2.21: tf.constant([[1., 1.], [1., 1.]]) < sp -> ValueError (no conversion)
    sp = tf.sparse.SparseTensor([[0, 0], [1, 1]], [1., 2.], [2, 2])
    with pytest.raises(ValueError, match="SparseTensor"):
        _ = tf.constant([[1., 1.], [1., 1.]]) < sp
    with pytest.raises(ValueError, match="SparseTensor"):
        tf.constant([[1., 1.], [1., 1.]]) + sp
    assert (tf.constant([1.0]) == None) is False  # noqa: E711 - TF2's answer, unchanged


def test_dense_times_sparse_runs_the_sparse_operator():
    # TF 2.21: tf.constant([[1., 3.], [1., 4.]]) * sp -> values [1., 8.] at the same indices
    sp = tf.sparse.SparseTensor([[0, 0], [1, 1]], [1., 2.], [2, 2])
    out = tf.constant([[1., 3.], [1., 4.]]) * sp
    assert isinstance(out, tf.sparse.SparseTensor)
    assert out.values.numpy().tolist() == [1.0, 8.0]
    assert out.indices.numpy().tolist() == [[0, 0], [1, 1]]


def test_dense_operators_unchanged():
    # (by hand) the fast paths and the ordinary errors stay as they were
    a, b = tf.constant([1.0, 2.0]), tf.constant([3.0, 5.0])
    assert (a + b).numpy().tolist() == [4.0, 7.0]
    assert (a - b).numpy().tolist() == [-2.0, -3.0]
    assert (a * b).numpy().tolist() == [3.0, 10.0]
    assert (a / b).numpy().tolist() == pytest.approx([1 / 3, 0.4])
    assert (a < b).numpy().tolist() == [True, True]
    with pytest.raises(errors.InvalidArgumentError, match="same dtype"):
        a + tf.constant([1, 2])
    with pytest.raises(ValueError):
        a + "text"


# -- RowPartition (TF 2.21: RP = tf.experimental.RowPartition; p = RP.from_row_splits([0, 3,
# 3, 5]); the comments give what TF printed)

def test_row_partition_views():
    p = RowPartition.from_row_splits([0, 3, 3, 5])
    assert repr(p) == "tf.RowPartition(row_splits=[0 3 3 5])"
    assert p.dtype == tf.int64 and p.row_splits().dtype == tf.int64
    assert p.row_splits().numpy().tolist() == [0, 3, 3, 5]
    assert p.row_lengths().numpy().tolist() == [3, 0, 2]
    assert int(p.nrows()) == 3 and int(p.nvals()) == 5
    assert p.value_rowids().numpy().tolist() == [0, 0, 0, 2, 2]
    assert p.row_starts().numpy().tolist() == [0, 3, 3]
    assert p.row_limits().numpy().tolist() == [3, 3, 5]
    assert p.offsets_in_rows().numpy().tolist() == [0, 1, 2, 0, 1]
    assert p.uniform_row_length() is None and p.is_uniform() is False
    assert p.static_nrows == 3 and p.static_nvals is None
    assert p.static_uniform_row_length is None


def test_row_partition_factories():
    # TF: RP.from_row_lengths([2, 0, 1], dtype=tf.int32).row_splits() -> [0, 2, 2, 3] int32
    q = RowPartition.from_row_lengths([2, 0, 1], dtype=tf.int32)
    assert q.dtype == tf.int32 and q.row_splits().numpy().tolist() == [0, 2, 2, 3]
    assert q.with_dtype(tf.int64).row_splits().dtype == tf.int64
    # TF: u = RP.from_uniform_row_length(2, nvals=6): splits [0, 2, 4, 6], is_uniform True,
    # repr tf.RowPartition(nrows=3, uniform_row_length=2)
    u = RowPartition.from_uniform_row_length(2, nvals=6)
    assert u.row_splits().numpy().tolist() == [0, 2, 4, 6]
    assert int(u.uniform_row_length()) == 2 and u.is_uniform() and int(u.nrows()) == 3
    assert u.static_uniform_row_length == 2
    assert repr(u) == "tf.RowPartition(nrows=3, uniform_row_length=2)"
    # TF: RP.from_value_rowids([0, 0, 2, 2, 2], nrows=4): splits [0, 2, 2, 5, 5], rowids back
    v = RowPartition.from_value_rowids([0, 0, 2, 2, 2], nrows=4)
    assert v.row_splits().numpy().tolist() == [0, 2, 2, 5, 5]
    assert v.value_rowids().numpy().tolist() == [0, 0, 2, 2, 2]
    assert int(v.nrows()) == 4
    assert RowPartition.from_value_rowids([0, 0, 2]).row_splits().numpy().tolist() == \
        [0, 2, 2, 3]
    # TF: RP.from_row_starts([0, 2, 2], nvals=5), RP.from_row_limits([2, 2, 5]): [0, 2, 2, 5]
    assert RowPartition.from_row_starts([0, 2, 2], nvals=5).row_splits().numpy().tolist() \
        == [0, 2, 2, 5]
    assert RowPartition.from_row_limits([2, 2, 5]).row_splits().numpy().tolist() == \
        [0, 2, 2, 5]
    # TF: RP.from_row_lengths([2, 2]).is_uniform() -> False (built ragged)
    assert RowPartition.from_row_lengths([2, 2]).is_uniform() is False


def test_row_partition_errors():
    # TF 2.21: from_row_splits([1, 3]) and ([0, 3, 2]) and from_row_lengths([1, -1]):
    # InvalidArgumentError; [[0, 1]]: ValueError (rank); [0., 1.]: ValueError (dtype);
    # RP() is not a public constructor
    with pytest.raises(errors.InvalidArgumentError, match="start at 0"):
        RowPartition.from_row_splits([1, 3])
    with pytest.raises(errors.InvalidArgumentError, match="non-decreasing"):
        RowPartition.from_row_splits([0, 3, 2])
    with pytest.raises(errors.InvalidArgumentError, match="non-negative"):
        RowPartition.from_row_lengths([1, -1])
    with pytest.raises(ValueError, match="vector"):
        RowPartition.from_row_splits([[0, 1]])
    with pytest.raises(ValueError, match="int32 or int64"):
        RowPartition.from_row_splits([0., 1.])
    with pytest.raises(ValueError, match="private"):
        RowPartition([0, 1])


def test_dynamic_ragged_shape_row_partitions():
    # TF 2.21: tf.shape(tf.ragged.constant([[[1, 2], [3]], [], [[4], [5, 6, 7]]]))
    # .row_partitions -> (tf.RowPartition(row_splits=[0 2 2 4]),
    # tf.RowPartition(row_splits=[0 2 3 4 7])), int32 (tf.shape's out_type)
    parts = tf.shape(tf.ragged.constant([[[1, 2], [3]], [], [[4], [5, 6, 7]]])).row_partitions
    assert [repr(p) for p in parts] == ["tf.RowPartition(row_splits=[0 2 2 4])",
                                        "tf.RowPartition(row_splits=[0 2 3 4 7])"]
    assert parts[1].dtype == tf.int32
    # TF: a ragged_rank=1 value with a uniform inner dimension has one partition
    inner = tf.ragged.constant([[[1, 2], [3, 4]], []], ragged_rank=1)
    assert [repr(p) for p in tf.shape(inner).row_partitions] == \
        ["tf.RowPartition(row_splits=[0 2 2])"]
    assert DynamicRaggedShape.from_tensor(tf.zeros([2, 3])).row_partitions == ()
    # TF: DRS.from_row_partitions([p]) and DRS([p], [5, 2]) with p = RP.from_row_splits(...)
    p = RowPartition.from_row_splits([0, 3, 3, 5])
    assert repr(DynamicRaggedShape.from_row_partitions([p])) == \
        "<DynamicRaggedShape lengths=[3, (3, 0, 2)] num_row_partitions=1>"
    assert repr(DynamicRaggedShape([p], [5, 2])) == \
        "<DynamicRaggedShape lengths=[3, (3, 0, 2), 2] num_row_partitions=1>"
    assert DynamicRaggedShape([p], [5]).dtype == tf.int64
    with pytest.raises(ValueError, match="at least one"):
        DynamicRaggedShape.from_row_partitions([])


def test_ragged_tensor_row_partition():
    # TF 2.21: tf.ragged.constant([[[1, 2], [3]], [], [[4], [5, 6, 7]]])._row_partition
    # .row_lengths() -> [2, 0, 2]; a from_uniform_row_length one is uniform (length 2)
    rt = tf.ragged.constant([[[1, 2], [3]], [], [[4], [5, 6, 7]]])
    assert rt._row_partition.row_lengths().numpy().tolist() == [2, 0, 2]
    u = tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4], 2)._row_partition
    assert u.is_uniform() and int(u.uniform_row_length()) == 2


def test_value_rowids_with_empty_rows_at_the_end():
    # (by hand) splits [0, 2, 2, 5, 5]: values 0-1 in row 0, 2-4 in row 2, row 3 empty
    rt = tf.RaggedTensor.from_row_splits([1, 2, 3, 4, 5], [0, 2, 2, 5, 5])
    assert rt.value_rowids().numpy().tolist() == [0, 0, 2, 2, 2]
    assert tf.RaggedTensor.from_row_splits(tf.zeros([0]), [0, 0, 0]).value_rowids() \
        .numpy().tolist() == []


# -- the text tf.strings.format writes for a RaggedTensor (TF 2.21:
# tf.strings.format("{}", <value>, summarize=<n>).numpy())

@pytest.mark.parametrize("make, summarize, expected", [
    (lambda: tf.ragged.constant([[[1, 2], [3]], [], [[4], [5, 6, 7]]]), 3,
     b"[[[1, 2], [3]], [], [[4], [5, 6, 7]]]"),
    (lambda: tf.ragged.constant([list(range(10)), [], [1]]), 3,
     b"[[0, 1, 2, ..., 7, 8, 9], [], [1]]"),
    (lambda: tf.ragged.constant([[1]] * 8), 2, b"[[1], [1], ..., [1], [1]]"),
    (lambda: tf.ragged.constant([["a", "b"], []]), 3, b"[['a', 'b'], []]"),
    (lambda: tf.ragged.constant([["a'b", "c\\d"], []]), 3, b"[['a\\'b', 'c\\\\d'], []]"),
    (lambda: tf.ragged.constant([[1.5, 2.25], []]), 3, b"[[1.500000, 2.250000], []]"),
    (lambda: tf.ragged.constant([[1e10, float("nan"), -0.5]], dtype=tf.float64), 3,
     b"[[10000000000.000000, nan, -0.500000]]"),
    (lambda: tf.ragged.constant([[[1, 2], [3, 4]], []], ragged_rank=1), 3,
     b"[[[1, 2], [3, 4]], []]"),
    (lambda: tf.ragged.constant([[1, 2]] * 10), -1, b"[" + b", ".join([b"[1, 2]"] * 10) + b"]"),
    (lambda: tf.ragged.constant([[True, False], []]), 3, b"[[true, false], []]"),
    (lambda: tf.RaggedTensor.from_row_splits(tf.zeros([0]), [0]), 3, b"[]"),
    (lambda: tf.RaggedTensor.from_row_splits(tf.zeros([0, 2]), [0, 0]), 3, b"[[]]"),
    (lambda: tf.ragged.constant([[1 + 2j]]), 3, b"[[(1.000000,2.000000)]]"),
    (lambda: tf.ragged.constant([[1, 2], [3]]), 1, b"[[1, 2], [3]]"),
])
def test_ragged_text(make, summarize, expected):
    assert ragged_text(make(), summarize).numpy() == expected


def test_ragged_text_in_a_function_and_bad_summarize():
    # TF 2.21: summarize=0 -> ValueError "Expected summarize to be -1 or a positive int, got 0"
    with pytest.raises(ValueError, match="-1 or a positive int, got 0"):
        ragged_text(tf.ragged.constant([[1]]), 0)

    @tf.function
    def text(r):
        return ragged_text(r, 3)

    # (by hand) the same text when traced
    assert text(tf.ragged.constant([[1, 2], [3]])).numpy() == b"[[1, 2], [3]]"


# -- tf.gather along the ragged axis 1, tf.ragged.constant(inner_shape=), consumers()

def test_gather_along_the_ragged_axis():
    # TF 2.21: r = tf.ragged.constant([[1, 2], [3, 4, 5]]); tf.gather(r, [0, 1], axis=1) ->
    # [[1, 2], [3, 4]] (2, 2); [[1], [0]] -> [[[2], [1]], [[4], [3]]]; 1 -> [2, 4];
    # axis=-1 on [[1.], [2., 3.]] with [0] -> [[1.], [2.]]
    r = tf.ragged.constant([[1, 2], [3, 4, 5]])
    out = tf.gather(r, [0, 1], axis=1)
    assert isinstance(out, tf.Tensor) and out.numpy().tolist() == [[1, 2], [3, 4]]
    assert tf.gather(r, [[1], [0]], axis=1).numpy().tolist() == [[[2], [1]], [[4], [3]]]
    assert tf.gather(r, 1, axis=1).numpy().tolist() == [2, 4]
    assert tf.gather(tf.ragged.constant([[1.], [2., 3.]]), [0], axis=-1).numpy().tolist() == \
        [[1.0], [2.0]]
    # TF: rank 3, ragged_rank 2 -> [[[1, 2]], [[4]]] (ragged); uniform inner -> dense
    # [[[1, 2]], [[5, 6]]] of shape (2, 1, 2)
    nested = tf.gather(tf.ragged.constant([[[1, 2], [3]], [[4]]]), [0], axis=1)
    assert nested.to_list() == [[[1, 2]], [[4]]]
    inner = tf.gather(tf.ragged.constant([[[1, 2], [3, 4]], [[5, 6]]], ragged_rank=1), [0],
                      axis=1)
    assert tuple(inner.shape) == (2, 1, 2) and inner.numpy().tolist() == [[[1, 2]], [[5, 6]]]
    # TF: [-1] and [5] -> InvalidArgumentError; [2] reads into the next row in TF
    # ([[3], [5]]), here an error naming the short row
    for bad in ([-1], [5], [2]):
        with pytest.raises(errors.InvalidArgumentError, match="row 0 of length 2"):
            tf.gather(r, bad, axis=1)


def test_ragged_constant_inner_shape_with_ragged_rank_0():
    # TF 2.21: tf.ragged.constant([[1, 2], [3, 4], [5, 6]], inner_shape=(2,)) -> TypeError;
    # ([1, 2], inner_shape=()) -> TypeError; ([[1, 2], [3, 4]], inner_shape=(2, 2)) -> the
    # dense [[1, 2], [3, 4]]; ([[[1, 2]], [[3, 4], [5, 6]]], inner_shape=(2,)) -> ragged,
    # shape (2, None, 2)
    with pytest.raises(TypeError, match=r"inner_shape=\(2,\)"):
        tf.ragged.constant([[1, 2], [3, 4], [5, 6]], inner_shape=(2,))
    with pytest.raises(TypeError, match=r"inner_shape=\(\)"):
        tf.ragged.constant([1, 2], inner_shape=())
    dense = tf.ragged.constant([[1, 2], [3, 4]], inner_shape=(2, 2))
    assert isinstance(dense, tf.Tensor) and dense.numpy().tolist() == [[1, 2], [3, 4]]
    rt = tf.ragged.constant([[[1, 2]], [[3, 4], [5, 6]]], inner_shape=(2,))
    assert rt.to_list() == [[[1, 2]], [[3, 4], [5, 6]]] and rt.shape.as_list() == [2, None, 2]


def test_consumers():
    # TF 2.21: tf.ragged.constant([[1]]).consumers() -> []
    assert tf.ragged.constant([[1]]).consumers() == []


# -- wired by the diffs of /tmp/s14/r3 (ops/strings.py, experimental/__init__.py, the
# internal tf.is_tensor callers): tf.strings.format, tf.experimental.RowPartition, is_tensor

def test_strings_format_with_a_ragged_tensor():
    # TF 2.21: tf.strings.format("x={} y={}", (tf.ragged.constant([[1., 2., 3.], [], [4., 5.]]),
    # tf.constant([1, 2]))) -> b'x=[[1.000000, 2.000000, 3.000000], [], [4.000000, 5.000000]]
    # y=[1 2]'; tf.strings.format('a{}b{}', (tf.ragged.constant([[1]]), 'x')) -> b'a[[1]]b"x"'
    out = tf.strings.format("x={} y={}", (rtf(), tf.constant([1, 2])))
    assert out.numpy() == (b"x=[[1.000000, 2.000000, 3.000000], [], [4.000000, 5.000000]] "
                           b"y=[1 2]")
    assert tf.strings.format("a{}b{}", (tf.ragged.constant([[1]]), "x")).numpy() == \
        b'a[[1]]b"x"'
    # TF 2.21: summarize=2 on 8 rows -> b'[[1], [1], ..., [1], [1]]'
    assert tf.strings.format("{}", tf.ragged.constant([[1]] * 8), summarize=2).numpy() == \
        b"[[1], [1], ..., [1], [1]]"

    @tf.function
    def text(r):
        return tf.strings.format("v={}", r)

    # TF 2.21 (the same in a tf.function): b'v=[[1, 2], [3]]'
    assert text(tf.ragged.constant([[1, 2], [3]])).numpy() == b"v=[[1, 2], [3]]"


def test_experimental_row_partition():
    assert tf.experimental.RowPartition is RowPartition


def test_is_tensor_as_tensorflow():
    # TF 2.21: tf.is_tensor of a RaggedTensor, SparseTensor, IndexedSlices, Variable -> True;
    # of tf.shape(rt) (a DynamicRaggedShape), a Dataset, a TensorSpec, a list -> False
    rt = tf.ragged.constant([[1]])
    sp = tf.sparse.SparseTensor([[0, 0]], [1.0], [1, 1])
    assert tf.is_tensor(rt) and tf.is_tensor(sp) and tf.is_tensor(tf.Variable(1.0))
    assert tf.is_tensor(tf.IndexedSlices(tf.constant([1.0]), tf.constant([0])))
    assert not tf.is_tensor(tf.shape(rt))
    assert not tf.is_tensor(tf.data.Dataset.range(1))
    assert not tf.is_tensor(tf.TensorSpec([1])) and not tf.is_tensor([1.0])


def test_dataset_map_keeps_ragged_elements_with_tf_is_tensor():
    # (by hand) a map returning a RaggedTensor still has a RaggedTensorSpec element
    ds = tf.data.Dataset.range(1, 4).map(tf.range).ragged_batch(2).map(lambda x: x * 2)
    assert ds.element_spec == tf.RaggedTensorSpec([None, None], tf.int64, 1, tf.int64)
    assert [v.to_list() for v in ds] == [[[0], [0, 2]], [[0, 2, 4]]]
