"""tf.debugging: runtime assertions that raise InvalidArgumentError with TF's messages."""

from tensorflux import errors
from tensorflux.ops import array, indexing, math, reduction
from tensorflux.ops._core import as_operand, binary_operands
from tensorflux.ops.composite import ensure_shape
from tensorflux.tensor import TensorShape

__all__ = ["assert_equal", "assert_greater", "assert_greater_equal", "assert_less",
           "assert_less_equal", "assert_non_negative", "assert_positive", "assert_rank",
           "check_numerics", "ensure_shape"]


def _values(x):
    # Asserts check values: while tracing they would need a runtime check, which tensorflux
    # graphs do not have, so they are checked only where the values are known.
    return None if x._value is None else x.numpy()


def _compare(op, symbol, compare, x, y, message, summarize):
    x, y = binary_operands(op, x, y)
    holds = compare(x, y)
    if holds._value is None:
        return None
    if bool(reduction.reduce_all(holds)):
        return None
    shape = list(holds.shape)
    failing = indexing.where_indices(math.logical_not(holds))
    limit = summarize or 3
    first = failing[:limit]
    xs = indexing.gather_nd(array.broadcast_to(x, shape), first).numpy()
    ys = indexing.gather_nd(array.broadcast_to(y, shape), first).numpy()
    text = [message + "\n" if message else "", f"Condition x {symbol} y did not hold.",
            f"Indices of first {first.shape[0]} different values:", str(first.numpy()),
            "Corresponding x values:", str(xs), "Corresponding y values:", str(ys),
            f"First {min(x.shape.num_elements(), limit)} elements of x:",
            str(array.reshape(x, [-1])[:limit].numpy()),
            f"First {min(y.shape.num_elements(), limit)} elements of y:",
            str(array.reshape(y, [-1])[:limit].numpy())]
    raise errors.InvalidArgumentError("\n".join(t for t in text if t), op)


def assert_equal(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x == y everywhere (with broadcasting).

    >>> import tensorflux as tf
    >>> tf.debugging.assert_equal(tf.constant([1, 2]), [1, 2]) is None
    True
    """
    return _compare("assert_equal", "==", math.equal, x, y, message, summarize)


def assert_greater(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x > y everywhere."""
    return _compare("assert_greater", ">", math.greater, x, y, message, summarize)


def assert_greater_equal(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x >= y everywhere."""
    return _compare("assert_greater_equal", ">=", math.greater_equal, x, y, message, summarize)


def assert_less(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x < y everywhere."""
    return _compare("assert_less", "<", math.less, x, y, message, summarize)


def assert_less_equal(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x <= y everywhere."""
    return _compare("assert_less_equal", "<=", math.less_equal, x, y, message, summarize)


def _assert_sign(op, symbol, compare, x, message):
    x = as_operand(op, x)
    holds = compare(x, 0)
    if holds._value is None or bool(reduction.reduce_all(holds)):
        return None
    values = [str(v) for v in x.numpy().reshape(-1).tolist()]
    raise errors.InvalidArgumentError(
        f"{message or ''}\nCondition x {symbol} 0 did not hold element-wise:\n"
        f"x (shape={tuple(x.shape)} dtype={x.dtype.name}) = \n{values}", op)


def assert_non_negative(x, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless every entry of x is >= 0."""
    return _assert_sign("assert_non_negative", ">=", math.greater_equal, x, message)


def assert_positive(x, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless every entry of x is > 0."""
    return _assert_sign("assert_positive", ">", math.greater, x, message)


def assert_rank(x, rank, message=None, name=None):
    """Raises ValueError (the rank is static) unless x has rank `rank`.

    >>> import tensorflux as tf
    >>> tf.debugging.assert_rank(tf.zeros([2, 3]), 2) is None
    True
    """
    x = as_operand("assert_rank", x)
    rank = int(rank)
    if x.shape.rank is not None and x.shape.rank != rank:
        prefix = f"{message} " if message else ""
        raise ValueError(f"{prefix}Tensor must have rank {rank}.  Received rank "
                         f"{x.shape.rank}, shape {_shape_text(x.shape)}")
    return None


def _shape_text(shape):
    return str(tuple(shape)) if isinstance(shape, TensorShape) else str(shape)


def check_numerics(tensor, message, name=None):
    """tensor itself, or InvalidArgumentError if it holds a NaN or an infinity.

    >>> import tensorflux as tf
    >>> tf.debugging.check_numerics(tf.constant([1.0]), "x").numpy().tolist()
    [1.0]
    """
    x = as_operand("check_numerics", tensor)
    if not (x.dtype.is_floating or x.dtype.is_complex):
        raise errors.InvalidArgumentError(
            f"check_numerics: expected a floating-point tensor, received {x.dtype.name}",
            "check_numerics")
    if x._value is not None:
        if bool(reduction.reduce_any(math.is_nan(x))):
            raise errors.InvalidArgumentError(f"{message} : Tensor had NaN values",
                                              "check_numerics")
        if bool(reduction.reduce_any(math.is_inf(x))):
            raise errors.InvalidArgumentError(f"{message} : Tensor had Inf values",
                                              "check_numerics")
    return x
