"""Reductions and scans (tf.reduce_sum, tf.reduce_mean, tf.argmax, tf.cumsum, ...)."""

from tensorflux import errors
from tensorflux.ops import array
from tensorflux.ops._core import as_operand, aval, normalize_axes
from tensorflux.primitive import Primitive

__all__ = ["reduce_sum", "reduce_mean"]


def _reduce_rule(x, axis, keepdims):
    dims = list(x.shape)
    shape = [1 if i in axis else d for i, d in enumerate(dims)] if keepdims else \
        [d for i, d in enumerate(dims) if i not in axis]
    return aval(shape, x.dtype)


def _keep_shape(x, axis):
    """x's shape with the reduced axes set to 1: where a reduction's cotangent broadcasts."""
    return [1 if i in axis else d for i, d in enumerate(x.shape)]


def _sum_vjp(g, x, out, axis, keepdims):
    if not keepdims:
        g = array.reshape(g, _keep_shape(x, axis))
    return (array.broadcast_to(g, x.shape),)


# reduce_sum: the sum over `axis`; the cotangent broadcasts back over the reduced axes.
_reduce_sum = Primitive("reduce_sum", vjp=_sum_vjp, shape_rule=_reduce_rule)


def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    """The sum over the given axes (all axes when None).

    >>> import tensorflux as tf
    >>> tf.reduce_sum([[1, 2], [3, 4]], axis=0).numpy().tolist()
    [4, 6]
    """
    x = as_operand("reduce_sum", input_tensor)
    if x.dtype.is_bool:
        raise errors.InvalidArgumentError("reduce_sum: bool tensors cannot be summed; cast "
                                          "them first", "reduce_sum")
    axes = normalize_axes("reduce_sum", axis, x.shape.rank)
    return _reduce_sum.bind(x, axis=axes, keepdims=bool(keepdims))


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """The mean over the given axes; integer tensors give an integer (truncated) mean.

    >>> import tensorflux as tf
    >>> tf.reduce_mean([1.0, 2.0]).numpy()
    np.float32(1.5)
    """
    x = as_operand("reduce_mean", input_tensor)
    axes = normalize_axes("reduce_mean", axis, x.shape.rank)
    return _reduce_mean.bind(x, axis=axes, keepdims=bool(keepdims))


def _mean_vjp(g, x, out, axis, keepdims):
    count = 1
    for a in axis:
        count *= x.shape[a]
    (gx,) = _sum_vjp(g, x, out, axis, keepdims)
    return (gx / count,)


# reduce_mean: the mean over `axis`; the cotangent is spread evenly.
_reduce_mean = Primitive("reduce_mean", vjp=_mean_vjp, shape_rule=_reduce_rule)
