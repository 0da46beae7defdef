"""Session 14: RaggedTensor gaps against TensorFlow 2.21 (reverse, squeeze, reshape,
expand_dims, stack, gather, gather_nd, one-argument where, split, row-wise math, uniform
row partitions, tf.experimental.DynamicRaggedShape, RaggedTensor methods).

TensorFlow is not installed next to the tests. Each expected value is either derived by hand
from the input lists (said so), or is what TF 2.21 printed for the TF code quoted in the
comment beside it (the probe /tmp/s14/h4/probe.py ran both frameworks on the same cases).

The ragged handlers are called here through tensorflux.ragged.array_ops, the functions the
tf.<op> dispatch reaches; the dispatch itself (ops/dispatch.py) is tested where it is wired.
"""

import math

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors
from tensorflux.ragged import array_ops as ragged_ops
from tensorflux.ragged.dynamic_ragged_shape import DynamicRaggedShape

ROWS = [[1, 2, 3], [], [4, 5]]
NESTED = [[[1, 2], [3]], [], [[4], [5, 6, 7]]]
UNIFORM_INNER = [[[1, 2], [3, 4]], [], [[5, 6]]]


def rt():
    return tf.ragged.constant(ROWS)


def r3():
    return tf.ragged.constant(NESTED)


def ru():
    return tf.ragged.constant(UNIFORM_INNER, ragged_rank=1)


def described(value):
    """(to_list, shape as a list, ragged_rank) of a RaggedTensor."""
    return value.to_list(), value.shape.as_list(), value.ragged_rank


# ------------------------------------------------------------------ reverse

@pytest.mark.parametrize("make, axis, expected", [
    # tf.reverse(tf.ragged.constant([[1, 2, 3], [], [4, 5]]), [0]) in TF 2.21
    (rt, [0], ([[4, 5], [], [1, 2, 3]], [3, None], 1)),
    # tf.reverse(..., [1]) and [-1]
    (rt, [1], ([[3, 2, 1], [], [5, 4]], [3, None], 1)),
    (rt, [-1], ([[3, 2, 1], [], [5, 4]], [3, None], 1)),
    # tf.reverse(tf.ragged.constant([[[1, 2], [3]], [], [[4], [5, 6, 7]]]), [2]) / [1] / [0, 1]
    (r3, [2], ([[[2, 1], [3]], [], [[4], [7, 6, 5]]], [3, None, None], 2)),
    (r3, [1], ([[[3], [1, 2]], [], [[5, 6, 7], [4]]], [3, None, None], 2)),
    (r3, [0, 1], ([[[5, 6, 7], [4]], [], [[3], [1, 2]]], [3, None, None], 2)),
    # tf.reverse(tf.ragged.constant([[[1, 2], [3, 4]], [], [[5, 6]]], ragged_rank=1), [2])
    (ru, [2], ([[[2, 1], [4, 3]], [], [[6, 5]]], [3, None, 2], 1)),
    (ru, [0, 2], ([[[6, 5]], [], [[2, 1], [4, 3]]], [3, None, 2], 1)),
    (rt, [], (ROWS, [3, None], 1)),
])
def test_reverse_matches_tensorflow(make, axis, expected):
    assert described(ragged_ops.reverse(make(), axis)) == expected


def test_reverse_rejects_repeated_axes_and_passes_gradients():
    with pytest.raises(errors.InvalidArgumentError, match="repeats"):
        ragged_ops.reverse(rt(), [1, -1])
    values = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        x = tf.RaggedTensor.from_row_lengths(values, [2, 1])
        out = ragged_ops.reverse(x, [1]).flat_values * tf.constant([1.0, 10.0, 100.0])
        loss = tf.reduce_sum(out)
    # hand-derived: reversed row 0 is [2, 1] -> weights 1, 10 land on values 2 and 1
    assert tape.gradient(loss, values).numpy().tolist() == [10.0, 1.0, 100.0]


# ------------------------------------------------------------------ squeeze / expand_dims

def test_squeeze_matches_tensorflow():
    # tf.squeeze(tf.ragged.constant([[[1], [2]], [], [[3]]], ragged_rank=1), axis=[2])
    column = tf.ragged.constant([[[1], [2]], [], [[3]]], ragged_rank=1)
    assert described(ragged_ops.squeeze(column, [2])) == ([[1, 2], [], [3]], [3, None], 1)
    assert described(ragged_ops.squeeze(column, -1)) == ([[1, 2], [], [3]], [3, None], 1)
    # tf.squeeze(tf.ragged.constant([[[1, 2], [3]]]), axis=0) -> [[1, 2], [3]]
    single = ragged_ops.squeeze(tf.ragged.constant([[[1, 2], [3]]]), 0)
    assert described(single) == ([[1, 2], [3]], [2, None], 1)
    # tf.squeeze(tf.ragged.constant([[1], [2]]), axis=1) -> dense [1, 2]
    dense = ragged_ops.squeeze(tf.ragged.constant([[1], [2]]), 1)
    assert isinstance(dense, tf.Tensor) and dense.numpy().tolist() == [1, 2]
    # tf.squeeze(tf.ragged.constant([[[1], [2]], [], [[3]]]), axis=[2]) (a ragged axis)
    ragged = ragged_ops.squeeze(tf.ragged.constant([[[1], [2]], [], [[3]]]), [2])
    assert described(ragged) == ([[1, 2], [], [3]], [3, None], 1)
    # tf.squeeze(tf.ragged.constant([[[[1]], [[2]]], [], [[[3]]]], ragged_rank=1), [2, 3])
    two = tf.ragged.constant([[[[1]], [[2]]], [], [[[3]]]], ragged_rank=1)
    assert described(ragged_ops.squeeze(two, [2, 3])) == ([[1, 2], [], [3]], [3, None], 1)


def test_squeeze_errors_like_tensorflow():
    # TF 2.21: ValueError "Ragged.squeeze must have an axis argument."
    with pytest.raises(ValueError, match="axis"):
        ragged_ops.squeeze(rt())
    # TF 2.21: InvalidArgumentError "the given axis (axis = 1) is not squeezable!"
    with pytest.raises(errors.InvalidArgumentError, match="axis 1 is not squeezable"):
        ragged_ops.squeeze(rt(), [1])
    with pytest.raises(errors.InvalidArgumentError, match="axis 0 is not squeezable"):
        ragged_ops.squeeze(r3(), [0])


@pytest.mark.parametrize("make, axis, expected", [
    # tf.expand_dims(tf.ragged.constant([[1, 2, 3], [], [4, 5]]), 0): shape [1, 3, None]
    (rt, 0, ([ROWS], [1, 3, None], 2)),
    # tf.expand_dims(..., 1) and -2: [3, 1, None]
    (rt, 1, ([[[1, 2, 3]], [[]], [[4, 5]]], [3, 1, None], 2)),
    (rt, -2, ([[[1, 2, 3]], [[]], [[4, 5]]], [3, 1, None], 2)),
    # tf.expand_dims(..., 2): [3, None, 1]
    (rt, 2, ([[[1], [2], [3]], [], [[4], [5]]], [3, None, 1], 1)),
    # tf.expand_dims(tf.ragged.constant([[[1, 2], [3]], [], [[4], [5, 6, 7]]]), 2)
    (r3, 2, ([[[[1, 2]], [[3]]], [], [[[4]], [[5, 6, 7]]]], [3, None, 1, None], 3)),
    # tf.expand_dims(<ragged_rank=1 [3, None, 2]>, 1) / 2 / 3
    (ru, 1, ([[[[1, 2], [3, 4]]], [[]], [[[5, 6]]]], [3, 1, None, 2], 2)),
    (ru, 2, ([[[[1, 2]], [[3, 4]]], [], [[[5, 6]]]], [3, None, 1, 2], 1)),
    (ru, 3, ([[[[1], [2]], [[3], [4]]], [], [[[5], [6]]]], [3, None, 2, 1], 1)),
])
def test_expand_dims_matches_tensorflow(make, axis, expected):
    assert described(ragged_ops.expand_dims(make(), axis)) == expected


@pytest.mark.parametrize("key, expected", [
    # rt[tf.newaxis], rt[:, tf.newaxis], rt[..., tf.newaxis], rt[1:, tf.newaxis] in TF 2.21
    ((None,), ([ROWS], [1, 3, None], 2)),
    ((slice(None), None), ([[[1, 2, 3]], [[]], [[4, 5]]], [3, 1, None], 2)),
    ((Ellipsis, None), ([[[1], [2], [3]], [], [[4], [5]]], [3, None, 1], 1)),
    ((slice(1, None), None), ([[[]], [[4, 5]]], [2, 1, None], 2)),
])
def test_getitem_with_newaxis(key, expected):
    assert described(rt()[key]) == expected
    # tf.ragged.constant(..., ragged_rank=1)[:, :, tf.newaxis] -> [3, None, 1, 2]
    assert described(ru()[:, :, None]) == ([[[[1, 2]], [[3, 4]]], [], [[[5, 6]]]],
                                           [3, None, 1, 2], 1)


# ------------------------------------------------------------------ reshape / stack / split

def test_reshape_to_dense_shapes():
    # tf.reshape(tf.ragged.constant([[1, 2, 3], [], [4, 5]]), [5, 1]) -> dense [[1]..[5]]
    assert ragged_ops.reshape(rt(), [5, 1]).numpy().tolist() == [[1], [2], [3], [4], [5]]
    # tf.reshape(<[[[1, 2], [3]], [], [[4], [5, 6, 7]]]>, [-1]) -> [1..7]
    assert ragged_ops.reshape(r3(), [-1]).numpy().tolist() == [1, 2, 3, 4, 5, 6, 7]
    # tf.reshape(<[3, None, 2] uniform inner>, [-1, 2]) -> [[1, 2], [3, 4], [5, 6]]
    assert ragged_ops.reshape(ru(), [-1, 2]).numpy().tolist() == [[1, 2], [3, 4], [5, 6]]
    with pytest.raises(errors.InvalidArgumentError):
        ragged_ops.reshape(rt(), [4])


@pytest.mark.parametrize("build, expected", [
    # tf.stack([rt, rt], 1): [[[1, 2, 3], [1, 2, 3]], [[], []], [[4, 5], [4, 5]]]
    (lambda: ragged_ops.stack([rt(), rt()], 1),
     [[[1, 2, 3], [1, 2, 3]], [[], []], [[4, 5], [4, 5]]]),
    # tf.stack([rt, rt], -1)
    (lambda: ragged_ops.stack([rt(), rt()], -1),
     [[[1, 1], [2, 2], [3, 3]], [], [[4, 4], [5, 5]]]),
    # tf.stack([r3, r3], 2)
    (lambda: ragged_ops.stack([r3(), r3()], 2),
     [[[[1, 2], [1, 2]], [[3], [3]]], [], [[[4], [4]], [[5, 6, 7], [5, 6, 7]]]]),
    # tf.stack([rt, tf.constant([[1, 2, 3], [4, 5, 6], [7, 8, 9]])], 1)
    (lambda: ragged_ops.stack([rt(), tf.constant([[1, 2, 3], [4, 5, 6], [7, 8, 9]])], 1),
     [[[1, 2, 3], [1, 2, 3]], [[], [4, 5, 6]], [[4, 5], [7, 8, 9]]]),
    # tf.ragged.stack([rt, rt], axis=1), and tf.stack's dispatch to it
    (lambda: tf.ragged.stack([rt(), rt()], axis=1),
     [[[1, 2, 3], [1, 2, 3]], [[], []], [[4, 5], [4, 5]]]),
    (lambda: tf.stack([rt(), rt()], axis=-1),
     [[[1, 1], [2, 2], [3, 3]], [], [[4, 4], [5, 5]]]),
])
def test_stack_along_any_axis(build, expected):
    assert build().to_list() == expected


def test_ragged_stack_of_dense_inputs_stacks_densely_like_tensorflow():
    # tf.ragged.stack([tf.constant(1), tf.constant(2)]) -> tf.Tensor([1 2])
    scalars = tf.ragged.stack([tf.constant(1), tf.constant(2)])
    assert isinstance(scalars, tf.Tensor) and scalars.numpy().tolist() == [1, 2]
    # tf.ragged.stack([tf.constant([[1, 2], [3, 4]])], axis=1) -> dense [[[1, 2]], [[3, 4]]]
    along = tf.ragged.stack([tf.constant([[1, 2], [3, 4]])], axis=1)
    assert isinstance(along, tf.Tensor) and along.numpy().tolist() == [[[1, 2]], [[3, 4]]]


def test_split_rows_and_uniform_axes():
    # tf.split(tf.ragged.constant([[1, 2, 3], [], [4, 5]]), 3)
    assert [p.to_list() for p in ragged_ops.split(rt(), 3)] == [[[1, 2, 3]], [[]], [[4, 5]]]
    # tf.split(rt, [1, 2])
    assert [p.to_list() for p in ragged_ops.split(rt(), [1, 2])] == [[[1, 2, 3]],
                                                                      [[], [4, 5]]]
    # tf.split(<[3, None, 2]>, 2, axis=2)
    parts = ragged_ops.split(ru(), 2, axis=2)
    assert [p.to_list() for p in parts] == [[[[1], [3]], [], [[5]]], [[[2], [4]], [], [[6]]]]
    # TF 2.21: ValueError "Cannot split a ragged dimension."
    with pytest.raises(ValueError, match="ragged dimension"):
        ragged_ops.split(rt(), 2, axis=1)


# ------------------------------------------------------------------ gather / gather_nd / where

@pytest.mark.parametrize("build, expected", [
    # tf.gather(rt, [[2, 0], [1, 1]]) -> [[[4, 5], [1, 2, 3]], [[], []]], shape [2, None, None]
    (lambda: ragged_ops.gather(rt(), [[2, 0], [1, 1]]),
     ([[[4, 5], [1, 2, 3]], [[], []]], [2, None, None], 2)),
    # tf.gather(tf.constant([10, 20, 30]), tf.ragged.constant([[0, 2], [1]]))
    (lambda: ragged_ops.gather(tf.constant([10, 20, 30]), tf.ragged.constant([[0, 2], [1]])),
     ([[10, 30], [20]], [2, None], 1)),
    # tf.gather(rt, tf.ragged.constant([[2, 0], [1]]))
    (lambda: ragged_ops.gather(rt(), tf.ragged.constant([[2, 0], [1]])),
     ([[[4, 5], [1, 2, 3]], [[]]], [2, None, None], 2)),
    # tf.gather(rt, tf.ragged.constant([[0, 2], [], [1]]), batch_dims=1)
    (lambda: ragged_ops.gather(rt(), tf.ragged.constant([[0, 2], [], [1]]), batch_dims=1),
     ([[1, 3], [], [5]], [3, None], 1)),
    # tf.gather(<[3, None, 2]>, [1], axis=2)
    (lambda: ragged_ops.gather(ru(), [1], axis=2), ([[[2], [4]], [], [[6]]], [3, None, 1], 1)),
])
def test_gather_matches_tensorflow(build, expected):
    assert described(build()) == expected


@pytest.mark.parametrize("params, indices, expected", [
    # tf.gather_nd(rt, [[0, 1], [2, 0]]) -> tf.Tensor([2 4])
    (rt, [[0, 1], [2, 0]], [2, 4]),
    # tf.gather_nd(rt, [[2], [0]]) -> <tf.RaggedTensor [[4, 5], [1, 2, 3]]>
    (rt, [[2], [0]], [[4, 5], [1, 2, 3]]),
    # tf.gather_nd(r3, [[0, 1]]) -> [[3]];  [[0, 1, 0], [2, 1, 2]] -> [3 7]
    (r3, [[0, 1]], [[3]]),
    (r3, [[0, 1, 0], [2, 1, 2]], [3, 7]),
    # tf.gather_nd(rt, [[[0, 1]], [[2, 0]]]) -> [[2], [4]]
    (rt, [[[0, 1]], [[2, 0]]], [[2], [4]]),
    # tf.gather_nd(<[3, None, 2]>, [[0, 1, 1], [2, 0, 0]]) -> [4, 5]; [[0, 1], [2, 0]]
    (ru, [[0, 1, 1], [2, 0, 0]], [4, 5]),
    (ru, [[0, 1], [2, 0]], [[3, 4], [5, 6]]),
])
def test_gather_nd_matches_tensorflow(params, indices, expected):
    result = ragged_ops.gather_nd(params(), indices)
    got = result.to_list() if isinstance(result, tf.RaggedTensor) else result.numpy().tolist()
    assert got == expected


def test_gather_nd_checks_positions_inside_rows():
    with pytest.raises(errors.InvalidArgumentError, match="out of range"):
        ragged_ops.gather_nd(rt(), [[1, 0]])  # row 1 is empty


def test_where_with_one_argument_gives_dense_coordinates():
    # tf.where(tf.ragged.constant([[1, 2, 3], [], [4, 5]]) > 2) in TF 2.21
    assert ragged_ops.where_indices(rt() > 2).numpy().tolist() == [[0, 2], [2, 0], [2, 1]]
    # tf.where(r3 > 2) -> int64 [5, 3]
    coords = ragged_ops.where_indices(r3() > 2)
    assert coords.dtype == tf.int64
    assert coords.numpy().tolist() == [[0, 1, 0], [2, 0, 0], [2, 1, 0], [2, 1, 1], [2, 1, 2]]
    # hand-derived: entries > 2 of [[[1, 2], [3, 4]], [], [[5, 6]]] at their dense indices
    assert ragged_ops.where_indices(ru() > 2).numpy().tolist() == [
        [0, 1, 0], [0, 1, 1], [2, 0, 0], [2, 0, 1]]


def test_dynamic_partition_of_rows_and_of_values():
    # tf.dynamic_partition(rt, [0, 1, 0], 2) -> [[[1, 2, 3], [4, 5]], [[]]]
    parts = ragged_ops.dynamic_partition(rt(), [0, 1, 0], 2)
    assert [p.to_list() for p in parts] == [[[1, 2, 3], [4, 5]], [[]]]
    # tf.dynamic_partition(rt, tf.ragged.constant([[0, 1, 0], [], [1, 1]]), 2) -> [1 3], [2 4 5]
    flat = ragged_ops.dynamic_partition(rt(), tf.ragged.constant([[0, 1, 0], [], [1, 1]]), 2)
    assert [p.numpy().tolist() for p in flat] == [[1, 3], [2, 4, 5]]
    # tf.ragged.stack_dynamic_partitions([1, 2, 3, 4], [0, 1, 0, 2], 3) -> [[1, 3], [2], [4]]
    stacked = tf.ragged.stack_dynamic_partitions([1, 2, 3, 4], [0, 1, 0, 2], 3)
    assert stacked.to_list() == [[1, 3], [2], [4]]
    assert stacked.row_splits.dtype == tf.int32  # (TF 2.21's row_splits dtype here)


# ------------------------------------------------------------------ row-wise math

def test_softmax_over_ragged_and_uniform_last_axes():
    x = tf.ragged.constant([[1.0, 2.0, 3.0], [], [4.0, 5.0]], dtype=tf.float64)
    got = ragged_ops.softmax(x).to_list()
    for row, out in zip([[1.0, 2.0, 3.0], [], [4.0, 5.0]], got):  # NumPy float64
        e = np.exp(np.array(row) - (max(row) if row else 0))
        np.testing.assert_allclose(out, e / e.sum() if row else [], rtol=1e-12)
    uniform = ragged_ops.softmax(tf.cast(ru(), tf.float64)).to_list()
    pair = 1 / (1 + math.exp(1))  # softmax([a, a + 1]) = [1 / (1 + e), e / (1 + e)]
    np.testing.assert_allclose(uniform[0], [[pair, 1 - pair]] * 2, rtol=1e-12)
    values = tf.Variable([0.5, -1.0, 2.0])
    with tf.GradientTape() as tape:
        p = ragged_ops.softmax(tf.RaggedTensor.from_row_lengths(values, [2, 1]))
        loss = tf.reduce_sum(p.flat_values * tf.constant([1.0, 0.0, 5.0]))
    grad = tape.gradient(loss, values).numpy()
    s = np.exp([0.5, -1.0]) / np.exp([0.5, -1.0]).sum()  # d(s0)/dx = s0 * (onehot - s)
    np.testing.assert_allclose(grad, [s[0] * (1 - s[0]), -s[0] * s[1], 0.0], rtol=1e-5)


@pytest.mark.parametrize("make, kwargs, expected", [
    # tf.math.cumsum(rt, axis=1); axis=0 (position by position); exclusive + reverse
    (rt, {"axis": 1}, [[1, 3, 6], [], [4, 9]]),
    (rt, {"axis": 0}, [[1, 2, 3], [], [5, 7]]),
    (rt, {"axis": 1, "exclusive": True, "reverse": True}, [[5, 3, 0], [], [5, 0]]),
    # tf.math.cumsum(r3, axis=2); tf.math.cumsum(<[3, None, 2]>, axis=2)
    (r3, {"axis": 2}, [[[1, 3], [3]], [], [[4], [5, 11, 18]]]),
    (ru, {"axis": 2}, [[[1, 3], [3, 7]], [], [[5, 11]]]),
])
def test_cumsum_matches_tensorflow(make, kwargs, expected):
    assert ragged_ops.cumsum(make(), **kwargs).to_list() == expected


def test_variance_std_logsumexp_and_moments():
    x = tf.ragged.constant([[1.0, 2.0, 3.0], [], [4.0, 5.0]], dtype=tf.float64)
    # hand-derived: mean(x^2) - mean(x)^2 per row; NaN for the empty row
    var = ragged_ops.reduce_variance(x, axis=1).numpy()
    np.testing.assert_allclose(var[[0, 2]], [2 / 3, 0.25], rtol=1e-12)
    assert math.isnan(var[1])
    # tf.math.reduce_variance(tf.cast(rt, tf.float32), axis=0) -> [2.25, 2.25, 0.0]
    np.testing.assert_allclose(ragged_ops.reduce_variance(x, axis=0).numpy(), [2.25, 2.25, 0.0])
    # tf.math.reduce_variance(tf.cast(rt, tf.float32)) -> 2.0;  of int32: float64
    assert float(ragged_ops.reduce_variance(x)) == pytest.approx(2.0)
    assert ragged_ops.reduce_variance(rt(), axis=1).dtype == tf.float64
    std = ragged_ops.reduce_std(x, axis=1, keepdims=True)
    assert std.shape.as_list() == [3, 1]  # TF 2.21: shape (3, 1)
    np.testing.assert_allclose(std.numpy()[[0, 2], 0], [math.sqrt(2 / 3), 0.5], rtol=1e-12)
    lse = ragged_ops.reduce_logsumexp(x, axis=1).numpy()
    np.testing.assert_allclose(lse[[0, 2]], [np.log(np.exp([1, 2, 3]).sum()),
                                             np.log(np.exp([4, 5]).sum())], rtol=1e-12)
    assert lse[1] == -np.inf
    big = tf.ragged.constant([[1000.0, 1000.0]], dtype=tf.float64)
    assert float(ragged_ops.reduce_logsumexp(big)) == pytest.approx(1000 + math.log(2))
    mean, variance = ragged_ops.moments(x, axes=[1])
    np.testing.assert_allclose(mean.numpy()[[0, 2]], [2.0, 4.5])
    np.testing.assert_allclose(variance.numpy()[[0, 2]], [2 / 3, 0.25], rtol=1e-12)


def test_add_n_segments_bincount_and_embedding_lookup():
    # tf.add_n([rt, rt, rt])
    assert ragged_ops.add_n([rt(), rt(), rt()]).to_list() == [[3, 6, 9], [], [12, 15]]
    ids = tf.ragged.constant([[0, 0, 1], [], [1, 0]])
    # tf.math.unsorted_segment_sum(rt, ids, 2) -> [8 7]; unsorted_segment_max -> [5 4]
    assert ragged_ops.unsorted_segment("sum", rt(), ids, 2).numpy().tolist() == [8, 7]
    assert ragged_ops.unsorted_segment("max", rt(), ids, 2).numpy().tolist() == [5, 4]
    # tf.math.unsorted_segment_sum(rt, [0, 1, 0], 2) -> <tf.RaggedTensor [[5, 7, 3], []]>
    rows = ragged_ops.unsorted_segment("sum", rt(), [0, 1, 0], 2)
    assert rows.to_list() == [[5, 7, 3], []]
    # tf.math.bincount(rt) -> [0 1 1 1 1 1]; minlength=8; axis=-1 per row
    assert ragged_ops.bincount(rt()).numpy().tolist() == [0, 1, 1, 1, 1, 1]
    assert ragged_ops.bincount(rt(), minlength=8).numpy().tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    assert ragged_ops.bincount(rt(), axis=-1).numpy().tolist() == [
        [0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1]]
    # hand-derived: binary counts of [[1, 1, 3], [2]] per row
    binary = ragged_ops.bincount(tf.ragged.constant([[1, 1, 3], [2]]), axis=-1,
                                 binary_output=True)
    assert binary.numpy().tolist() == [[0, 1, 0, 1], [0, 0, 1, 0]]
    table = tf.constant([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0],
                         [6.0, 6.0]])
    # tf.nn.embedding_lookup(table, rt): shape [3, None, 2]
    looked = ragged_ops.embedding_lookup(table, rt())
    assert described(looked) == ([[[2.0, 2.0], [3.0, 3.0], [4.0, 4.0]], [],
                                  [[5.0, 5.0], [6.0, 6.0]]], [3, None, 2], 1)


# ------------------------------------------------------------------ uniform row partitions

def test_from_uniform_row_length_keeps_the_static_size():
    # tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4, 5, 6], 2): shape [3, 2]
    x = tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4, 5, 6], 2)
    assert described(x) == ([[1, 2], [3, 4], [5, 6]], [3, 2], 1)
    assert x.uniform_row_length.dtype == tf.int64 and int(x.uniform_row_length) == 2
    assert x.row_splits.numpy().tolist() == [0, 2, 4, 6]
    assert rt().uniform_row_length is None
    # TF 2.21 keeps it through with_values, slicing and elementwise ops; gather drops it
    assert x.with_values(tf.constant([6, 5, 4, 3, 2, 1])).shape.as_list() == [3, 2]
    assert x[1:].shape.as_list() == [2, 2]
    assert (x + 1).shape.as_list() == [3, 2]
    assert tf.gather(x, [1, 0]).shape.as_list() == [2, None]
    assert repr(x._type_spec) == "RaggedTensorSpec(TensorShape([3, 2]), tf.int32, 1, tf.int64)"
    # from_uniform_row_length(values, tf.constant(2)) takes the length's dtype (int32 here)
    assert tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4], tf.constant(2)) \
        .row_splits.dtype == tf.int32
    # tf.RaggedTensor.from_uniform_row_length(tf.zeros([0]), 0, nrows=3): shape [3, 0]
    empty = tf.RaggedTensor.from_uniform_row_length(tf.zeros([0]), 0, nrows=3)
    assert described(empty) == ([[], [], []], [3, 0], 1)
    # ... (rt, 1): [3, 1, None]
    assert tf.RaggedTensor.from_uniform_row_length(rt(), 1).shape.as_list() == [3, 1, None]


def test_from_uniform_row_length_checks_the_counts():
    # TF 2.21: "uniform_row_length=2 times nrows=1 must equal nvals=3"
    with pytest.raises(errors.InvalidArgumentError, match="must equal"):
        tf.RaggedTensor.from_uniform_row_length([1, 2, 3], 2)
    with pytest.raises(errors.InvalidArgumentError, match="nrows=3"):
        tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4], 2, nrows=3)
    with pytest.raises(TypeError, match="integer scalar"):
        tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4], [2])


def test_uniform_partition_survives_tf_function_and_tf_data():
    x = tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4], 2)
    doubled = tf.function(lambda r: r * 2)(x)
    assert described(doubled) == ([[2, 4], [6, 8]], [2, 2], 1)
    # tf.data: the element of row 1 is [3, 4]
    rows = list(tf.data.Dataset.from_tensor_slices(x))
    assert rows[1].numpy().tolist() == [3, 4]


def test_from_tensor_uniform_and_nested_lengths():
    # tf.RaggedTensor.from_tensor(tf.zeros([2, 2, 2]), ragged_rank=2).shape -> (2, 2, 2)
    assert tf.RaggedTensor.from_tensor(tf.zeros([2, 2, 2]), ragged_rank=2).shape.as_list() \
        == [2, 2, 2]
    assert tf.RaggedTensor.from_tensor(tf.zeros([2, 3])).shape.as_list() == [2, 3]
    # tf.RaggedTensor.from_tensor(tf.reshape(tf.range(8), [2, 2, 2]), lengths=([2, 1],
    # [1, 2, 0])) -> [[[0], [2, 3]], [[]]], shape [2, None, None]
    cut = tf.RaggedTensor.from_tensor(tf.reshape(tf.range(8), [2, 2, 2]),
                                      lengths=([2, 1], [1, 2, 0]))
    assert described(cut) == ([[[0], [2, 3]], [[]]], [2, None, None], 2)
    # lengths=([2, 1],) -> [[[0, 1], [2, 3]], [[4, 5]]]
    outer = tf.RaggedTensor.from_tensor(tf.reshape(tf.range(8), [2, 2, 2]), lengths=([2, 1],))
    assert outer.to_list() == [[[0, 1], [2, 3]], [[4, 5]]]


# ------------------------------------------------------------------ methods

def test_row_lengths_bounding_shape_and_partition_views():
    # r3.row_lengths(axis=0) -> 3;  axis=2 and axis=-1 -> [[2, 1], [], [1, 3]]
    assert int(r3().row_lengths(0)) == 3
    assert r3().row_lengths(axis=2).to_list() == [[2, 1], [], [1, 3]]
    assert r3().row_lengths(axis=-1).to_list() == [[2, 1], [], [1, 3]]
    # ragged_rank=1 [3, None, 2]: row_lengths(axis=2) -> [[2, 2], [], [2]]
    assert ru().row_lengths(axis=2).to_list() == [[2, 2], [], [2]]
    # tf.ragged.constant([[[[1, 2]]]], ragged_rank=1).row_lengths(axis=3) -> [[[2]]]
    assert tf.ragged.constant([[[[1, 2]]]], ragged_rank=1).row_lengths(axis=3).to_list() == \
        [[[2]]]
    with pytest.raises(ValueError, match="out of range"):
        rt().row_lengths(axis=2)
    # r3.bounding_shape(axis=[0, 2]) -> [3, 3]
    assert r3().bounding_shape(axis=[0, 2]).numpy().tolist() == [3, 3]
    assert r3().bounding_shape(axis=1).numpy().tolist() == 2
    assert r3().bounding_shape(out_type=tf.int32).dtype == tf.int32


def test_reduce_keepdims_marks_uniform_dimensions():
    # tf.reduce_sum(r3, axis=1, keepdims=True): shape [3, 1, None]
    kept = tf.reduce_sum(r3(), axis=1, keepdims=True)
    assert described(kept) == ([[[4, 2]], [[]], [[9, 6, 7]]], [3, 1, None], 2)
    # tf.reduce_sum(r3, axis=0, keepdims=True) -> [[[5, 2], [8, 6, 7]]], shape (1, 2, None)
    assert described(tf.reduce_sum(r3(), axis=0, keepdims=True)) == (
        [[[5, 2], [8, 6, 7]]], [1, 2, None], 2)


# ------------------------------------------------------------------ DynamicRaggedShape

def test_dynamic_ragged_shape_of_a_ragged_tensor():
    shape = DynamicRaggedShape.from_tensor(rt(), dtype=tf.int32)
    # repr(tf.shape(tf.ragged.constant([[1, 2, 3], [], [4, 5]]))) in TF 2.21
    assert repr(shape) == "<DynamicRaggedShape lengths=[3, (3, 0, 2)] num_row_partitions=1>"
    assert (shape.rank, shape.num_row_partitions, shape.dtype) == (2, 1, tf.int32)
    assert int(shape[0]) == 3 and shape[0].dtype == tf.int32
    # TF 2.21: ValueError "Index 1 is not uniform"
    with pytest.raises(ValueError, match="Index 1 is not uniform"):
        shape[1]
    inner = DynamicRaggedShape.from_tensor(ru(), dtype=tf.int32)
    # tf.shape(<[3, None, 2]>): lengths=[3, (2, 0, 1), 2], [2] -> 2, inner_shape [3, 2]
    assert repr(inner) == "<DynamicRaggedShape lengths=[3, (2, 0, 1), 2] num_row_partitions=1>"
    assert int(inner[2]) == 2 and inner.inner_shape.numpy().tolist() == [3, 2]
    assert inner.static_lengths() == [3, (2, 0, 1), 2]
    assert [inner.is_uniform(i) for i in range(3)] == [True, False, True]
    assert inner._to_tensor_shape().as_list() == [3, None, 2]
    assert inner.with_dtype(tf.int64).dtype == tf.int64
    # repr(tf.shape(rt)[:1]) -> <DynamicRaggedShape lengths=[3] num_row_partitions=0>
    assert repr(shape[:1]) == "<DynamicRaggedShape lengths=[3] num_row_partitions=0>"
    assert DynamicRaggedShape.from_tensor(r3()).num_row_partitions == 2


def test_dynamic_ragged_shape_from_lengths():
    # TF 2.21 reprs of DynamicRaggedShape.from_lengths(...)
    assert repr(DynamicRaggedShape.from_lengths([2, (1, 2), 3])) == \
        "<DynamicRaggedShape lengths=[2, (1, 2), 3] num_row_partitions=1>"
    two = DynamicRaggedShape.from_lengths([2, 2, (1, 2, 0, 1)])
    assert repr(two) == "<DynamicRaggedShape lengths=[2, 2, (1, 2, 0, 1)] num_row_partitions=2>"
    assert int(two[1]) == 2 and two[1].dtype == tf.int64
    dense = DynamicRaggedShape.from_lengths([2, 3])
    assert repr(dense) == "<DynamicRaggedShape lengths=[2, 3] num_row_partitions=0>"
    assert DynamicRaggedShape.from_lengths([2, (1, 2), 3]).inner_shape.numpy().tolist() == [3, 3]
    # repr(from_lengths([2, (1, 2), 3])[:2])
    assert repr(DynamicRaggedShape.from_lengths([2, (1, 2), 3])[:2]) == \
        "<DynamicRaggedShape lengths=[2, (1, 2)] num_row_partitions=1>"
    # TF 2.21: ValueError "Shape not consistent."
    with pytest.raises(ValueError, match="not consistent"):
        DynamicRaggedShape.from_lengths([2, (1, 2, 3)])


def test_values_built_from_a_dynamic_ragged_shape():
    shape = DynamicRaggedShape.from_lengths([3, (3, 0, 2)])
    # tf.reshape(tf.range(5), shape) -> [[0, 1, 2], [], [3, 4]]
    assert ragged_ops.reshape(tf.range(5), shape).to_list() == [[0, 1, 2], [], [3, 4]]
    # tf.broadcast_to(tf.constant([[1], [2], [3]]), shape) -> [[1, 1, 1], [], [3, 3]]
    assert shape._broadcast("broadcast_to", tf.constant([[1], [2], [3]])).to_list() == [
        [1, 1, 1], [], [3, 3]]
    # tf.broadcast_to(tf.constant([1, 2]), from_lengths([2, (1, 2), 2]))
    inner = DynamicRaggedShape.from_lengths([2, (1, 2), 2])
    assert inner._broadcast("broadcast_to", tf.constant([1, 2])).to_list() == [
        [[1, 2]], [[1, 2], [1, 2]]]
    # tf.zeros(from_lengths([2, 2, (1, 2, 0, 1)])) -> [[[0.0], [0.0, 0.0]], [[], [0.0]]]
    zeros = DynamicRaggedShape._DISPATCH["zeros"](None, DynamicRaggedShape.from_lengths(
        [2, 2, (1, 2, 0, 1)]))
    assert described(zeros) == ([[[0.0], [0.0, 0.0]], [[], [0.0]]], [2, 2, None], 2)
    # tf.ones(tf.shape(rt)) -> float32 ones, row_splits int32 (tf.shape's dtype)
    ones = DynamicRaggedShape._DISPATCH["ones"](None, DynamicRaggedShape.from_tensor(
        rt(), dtype=tf.int32))
    assert ones.to_list() == [[1.0, 1.0, 1.0], [], [1.0, 1.0]]
    assert ones.row_splits.dtype == tf.int32
    # tf.fill(from_lengths([2, (1, 2)]), 5) -> [[5], [5, 5]]
    filled = DynamicRaggedShape._DISPATCH["fill"](None, DynamicRaggedShape.from_lengths(
        [2, (1, 2)]), 5)
    assert filled.to_list() == [[5], [5, 5]]
    with pytest.raises(errors.InvalidArgumentError, match="do not fill"):
        ragged_ops.reshape(tf.range(4), shape)


def test_dynamic_ragged_shape_inside_tf_function():
    @tf.function
    def rows_plus_one(x):
        return DynamicRaggedShape.from_tensor(x, dtype=tf.int32)[0] + 1

    # tf.function(lambda r: tf.shape(r)[0] + 1)(r3) -> 4
    assert int(rows_plus_one(r3())) == 4


# ------------------------------------------------------------------ strings

def test_map_string_rows_nests_split_results():
    def chars(flat):
        return tf.strings.unicode_split(flat, "UTF-8")

    # tf.strings.unicode_split(tf.constant([["ab", "c"], ["dé", ""]]), "UTF-8"): [2, 2, None]
    dense = ragged_ops.map_string_rows(chars, tf.constant([["ab", "c"], ["d\u00e9", ""]]))
    assert described(dense) == ([[[b"a", b"b"], [b"c"]], [[b"d", "\u00e9".encode()], []]],
                                [2, 2, None], 2)
    # tf.strings.unicode_split(tf.ragged.constant([["a b", "c"], [], ["d e f"]]), "UTF-8")
    ragged = ragged_ops.map_string_rows(chars, tf.ragged.constant([["a b", "c"], [],
                                                                   ["d e f"]]))
    assert ragged.to_list() == [[[b"a", b" ", b"b"], [b"c"]], [],
                                [[b"d", b" ", b"e", b" ", b"f"]]]
    assert ragged_ops.map_string_rows(chars, tf.constant(["ab"])) is None


# ------------------------------------------------------------------ inside tf.function

@pytest.mark.parametrize("fn, make", [
    (lambda r: ragged_ops.reverse(r, [0, 1]), rt),
    (lambda r: ragged_ops.expand_dims(r, 1), rt),
    (lambda r: ragged_ops.stack([r, r], 1), rt),
    (lambda r: ragged_ops.gather(r, [[2, 0], [1, 1]]), rt),
    (lambda r: ragged_ops.gather_nd(r, [[0, 1]]), r3),
    (lambda r: ragged_ops.squeeze(r, [2]), lambda: tf.ragged.constant([[[1], [2]], [[3]]])),
    (lambda r: ragged_ops.cumsum(r, axis=1), rt),
    (lambda r: ragged_ops.where_indices(r > 2), rt),
    (lambda r: r[:, None], rt),
])
def test_traced_results_equal_eager_ones(fn, make):
    def value(out):
        return out.to_list() if isinstance(out, tf.RaggedTensor) else out.numpy().tolist()

    assert value(tf.function(fn)(make())) == value(fn(make()))
