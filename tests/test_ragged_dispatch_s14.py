"""Session 14: the tf.<op> entry points TensorFlow 2.21 dispatches for RaggedTensors and
DynamicRaggedShape (through tensorflux/ops/dispatch.py), against TF 2.21's output for the
TF code quoted beside each case (the probe /tmp/s14/h4/probe.py ran both frameworks)."""

import pytest

import tensorflux as tf
from tensorflux import errors

ROWS = [[1, 2, 3], [], [4, 5]]


def rt():
    return tf.ragged.constant(ROWS)


def rf():
    return tf.ragged.constant([[1.0, 2.0, 3.0], [], [4.0, 5.0]])


def ru():
    return tf.ragged.constant([[[1, 2], [3, 4]], [], [[5, 6]]], ragged_rank=1)


def listed(value):
    if isinstance(value, (list, tuple)):
        return [listed(v) for v in value]
    if isinstance(value, tf.RaggedTensor):
        return value.to_list()
    return value.numpy().tolist()


@pytest.mark.parametrize("build, expected", [
    (lambda: tf.reverse(rt(), [1]), [[3, 2, 1], [], [5, 4]]),             # tf.reverse(rt, [1])
    (lambda: tf.squeeze(tf.ragged.constant([[[1], [2]], [], [[3]]], ragged_rank=1), axis=-1),
     [[1, 2], [], [3]]),
    (lambda: tf.reshape(rt(), [5, 1]), [[1], [2], [3], [4], [5]]),         # dense result
    (lambda: tf.expand_dims(rt(), 1), [[[1, 2, 3]], [[]], [[4, 5]]]),
    (lambda: tf.stack([rt(), rt()], -1), [[[1, 1], [2, 2], [3, 3]], [], [[4, 4], [5, 5]]]),
    (lambda: tf.gather(rt(), [[2, 0], [1, 1]]), [[[4, 5], [1, 2, 3]], [[], []]]),
    (lambda: tf.gather(tf.constant([10, 20, 30]), tf.ragged.constant([[0, 2], [1]])),
     [[10, 30], [20]]),
    (lambda: tf.gather(rt(), tf.ragged.constant([[0, 2], [], [1]]), batch_dims=1),
     [[1, 3], [], [5]]),
    (lambda: tf.gather_nd(rt(), [[0, 1], [2, 0]]), [2, 4]),
    (lambda: tf.where(rt() > 2), [[0, 2], [2, 0], [2, 1]]),
    (lambda: tf.split(rt(), 3), [[[1, 2, 3]], [[]], [[4, 5]]]),
    (lambda: tf.dynamic_partition(rt(), [0, 1, 0], 2), [[[1, 2, 3], [4, 5]], [[]]]),
    (lambda: tf.identity(rt()), ROWS),
    (lambda: tf.add_n([rt(), rt(), rt()]), [[3, 6, 9], [], [12, 15]]),
    (lambda: tf.math.add_n([rt(), rt()]), [[2, 4, 6], [], [8, 10]]),
    (lambda: tf.math.cumsum(rt(), axis=1), [[1, 3, 6], [], [4, 9]]),
    (lambda: tf.math.unsorted_segment_sum(rt(), tf.ragged.constant([[0, 0, 1], [], [1, 0]]),
                                          2), [8, 7]),
    (lambda: tf.math.bincount(rt()), [0, 1, 1, 1, 1, 1]),
    (lambda: tf.nn.relu(rf() - 2.0), [[0.0, 0.0, 1.0], [], [2.0, 3.0]]),
    (lambda: tf.nn.dropout(rf(), rate=0.0), [[1.0, 2.0, 3.0], [], [4.0, 5.0]]),
    (lambda: tf.nn.leaky_relu(rf() - 3.0, 0.5), [[-1.0, -0.5, 0.0], [], [1.0, 2.0]]),
    (lambda: tf.nn.embedding_lookup(tf.constant([[1.0], [2.0], [3.0], [4.0], [5.0],
                                                 [6.0]]), rt()),
     [[[2.0], [3.0], [4.0]], [], [[5.0], [6.0]]]),
    (lambda: tf.nn.softmax(tf.ragged.constant([[0.0, 0.0], [1.0]])), [[0.5, 0.5], [1.0]]),
    (lambda: tf.bitwise.bitwise_and(rt(), 1), [[1, 0, 1], [], [0, 1]]),
    (lambda: tf.bitwise.invert(rt()), [[-2, -3, -4], [], [-5, -6]]),
    (lambda: tf.math.reduce_variance(tf.ragged.constant([[1.0, 3.0], [2.0]]), axis=1),
     [1.0, 0.0]),
    (lambda: tf.strings.split(tf.ragged.constant([["a b", "c"], [], ["d e f"]])),
     [[[b"a", b"b"], [b"c"]], [], [[b"d", b"e", b"f"]]]),
    (lambda: tf.strings.join([tf.ragged.constant([["a"], ["b", "c"]]), "x"]),
     [[b"ax"], [b"bx", b"cx"]]),
    (lambda: tf.strings.unicode_split(tf.constant([["ab", "c"], ["d", ""]]), "UTF-8"),
     [[[b"a", b"b"], [b"c"]], [[b"d"], []]]),
    (lambda: list(tf.strings.unicode_split_with_offsets(tf.constant([["ab", "c"], ["d", ""]]),
                                                        "UTF-8")),
     [[[[b"a", b"b"], [b"c"]], [[b"d"], []]], [[[0, 1], [0]], [[0], []]]]),
    (lambda: tf.strings.bytes_split(tf.ragged.constant([["ab"], []])), [[[b"a", b"b"]], []]),
])
def test_tf_ops_take_ragged_tensors(build, expected):
    assert listed(build()) == expected


def test_tf_shape_of_a_ragged_tensor_is_a_dynamic_ragged_shape():
    shape = tf.shape(rt())
    assert isinstance(shape, tf.experimental.DynamicRaggedShape)
    # repr(tf.shape(tf.ragged.constant([[1, 2, 3], [], [4, 5]]))) and its dtype in TF 2.21
    assert repr(shape) == "<DynamicRaggedShape lengths=[3, (3, 0, 2)] num_row_partitions=1>"
    assert shape.dtype == tf.int32 and tf.shape(rt(), out_type=tf.int64).dtype == tf.int64
    assert int(tf.shape(ru())[2]) == 2
    assert tf.ones(shape).to_list() == [[1.0, 1.0, 1.0], [], [1.0, 1.0]]
    target = tf.experimental.DynamicRaggedShape.from_lengths([3, (3, 0, 2)])
    assert tf.reshape(tf.range(5), target).to_list() == [[0, 1, 2], [], [3, 4]]
    assert tf.broadcast_to(tf.constant([[1], [2], [3]]), target).to_list() == [
        [1, 1, 1], [], [3, 3]]
    assert tf.zeros(target, tf.int32).to_list() == [[0, 0, 0], [], [0, 0]]
    assert tf.fill(target, 7).to_list() == [[7, 7, 7], [], [7, 7]]
    assert int(tf.function(lambda r: tf.shape(r)[0])(rt())) == 3


def test_dense_ops_still_run_and_bad_ragged_calls_still_fail():
    assert tf.reshape(tf.range(6), [2, 3]).shape.as_list() == [2, 3]
    assert tf.reverse(tf.constant([1, 2]), [0]).numpy().tolist() == [2, 1]
    assert tf.shape(tf.zeros([2, 5])).numpy().tolist() == [2, 5]
    with pytest.raises(ValueError, match="axis"):
        tf.squeeze(rt())
    with pytest.raises(errors.InvalidArgumentError, match="not squeezable"):
        tf.squeeze(rt(), axis=1)
