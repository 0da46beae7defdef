"""keras.ops.linalg: determinants, inverses and norms (the decompositions tensorflux lacks are
absent rather than approximated)."""

import tensorflux as tf
from tensorflux.keras.ops._dispatch import float_operand, keras_op

__all__ = ["det", "inv", "norm"]


@keras_op
def det(a):
    return tf.linalg.det(float_operand(a))


@keras_op
def inv(a):
    return tf.linalg.inv(float_operand(a))


@keras_op
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's argument name
    """NumPy's norm: the 2-norm of the flattened x by default, a vector norm over one axis,
    a matrix norm ("fro", 1, inf) over two.

    >>> from tensorflux.keras import ops
    >>> float(ops.norm([3.0, 4.0]))
    5.0
    """
    x = float_operand(x)
    rank = len(x.shape)
    if axis is None:
        if ord is None or rank == 1:
            flat = tf.norm(tf.reshape(x, [-1]), ord="euclidean" if ord is None else ord)
            return tf.reshape(flat, [1] * rank) if keepdims else flat
        axis = (0, 1) if rank == 2 else axis
    if isinstance(axis, (tuple, list)) and len(axis) == 2:
        ord = "fro" if ord is None else ord  # noqa: A001
        return tf.norm(x, ord=ord, axis=tuple(axis), keepdims=keepdims)
    axis = axis[0] if isinstance(axis, (tuple, list)) else axis
    return tf.norm(x, ord="euclidean" if ord is None else ord, axis=axis, keepdims=keepdims)
