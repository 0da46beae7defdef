"""keras.ops.math: top_k, in_top_k, logsumexp, segment sums, rsqrt and erf."""

import tensorflux as tf
from tensorflux.keras.ops._dispatch import convert, float_operand, keras_op, static_shape


@keras_op
def top_k(x, k, sorted=True):  # noqa: A002 - Keras's argument name
    """(values, int32 indices) of the k largest entries along the last axis.

    >>> from tensorflux.keras import ops
    >>> values, indices = ops.top_k([1.0, 3.0, 2.0], 2)
    >>> values.numpy().tolist(), indices.numpy().tolist()
    ([3.0, 2.0], [1, 2])
    """
    values, indices = tf.math.top_k(convert(x), k=k, sorted=sorted)
    return values, tf.cast(indices, "int32")


@keras_op
def in_top_k(targets, predictions, k):
    """Whether each target's prediction is among that row's k largest."""
    predictions = convert(predictions)
    targets = tf.cast(convert(targets), "int32")
    picked = tf.gather(predictions, targets, batch_dims=1)
    larger = tf.reduce_sum(tf.cast(predictions > tf.expand_dims(picked, -1), "int32"), axis=-1)
    return tf.logical_and(larger < k, tf.math.is_finite(picked))


@keras_op
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis`, without overflow."""
    axis = list(axis) if isinstance(axis, (tuple, list)) else axis
    return tf.reduce_logsumexp(float_operand(x), axis=axis, keepdims=keepdims)


@keras_op
def rsqrt(x):
    return tf.math.rsqrt(float_operand(x))


@keras_op
def erf(x):
    return tf.math.erf(float_operand(x))


@keras_op
def segment_sum(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002
    """Sums of the rows of `data` sharing a segment id (ids in [0, num_segments))."""
    data = convert(data)
    segment_ids = tf.cast(convert(segment_ids), "int32")
    if num_segments is None:
        num_segments = int(tf.reduce_max(segment_ids)) + 1
    shape = [num_segments] + list(static_shape(data))[1:]
    return tf.scatter_nd(tf.expand_dims(segment_ids, -1), data, shape)


__all__ = ["erf", "in_top_k", "logsumexp", "rsqrt", "segment_sum", "top_k"]
