"""tf.bitwise: and, or, xor, invert and shifts of integer tensors (one dtype, broadcasting).
Integer results have no gradient."""

from tensorflux import errors
from tensorflux.ops._core import binary_operands, broadcast_rule
from tensorflux.ops.math import invert
from tensorflux.primitive import Primitive

__all__ = ["bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift"]

_and = Primitive("bitwise_and", shape_rule=broadcast_rule)
_or = Primitive("bitwise_or", shape_rule=broadcast_rule)
_xor = Primitive("bitwise_xor", shape_rule=broadcast_rule)
_left_shift = Primitive("left_shift", shape_rule=broadcast_rule)
_right_shift = Primitive("right_shift", shape_rule=broadcast_rule)


def _integers(op, x, y):
    x, y = binary_operands(op, x, y)
    if not x.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: expected integer tensors, received dtype {x.dtype.name} with shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}", op)
    return x, y


def bitwise_and(x, y, name=None):
    """x & y, bit by bit.

    >>> from tensorflux import bitwise
    >>> bitwise.bitwise_and([12, 5], [10, 3]).numpy().tolist()
    [8, 1]
    """
    return _and.bind(*_integers("bitwise_and", x, y))


def bitwise_or(x, y, name=None):
    """x | y, bit by bit.

    >>> from tensorflux import bitwise
    >>> bitwise.bitwise_or([12, 5], [10, 3]).numpy().tolist()
    [14, 7]
    """
    return _or.bind(*_integers("bitwise_or", x, y))


def bitwise_xor(x, y, name=None):
    """x ^ y, bit by bit.

    >>> from tensorflux import bitwise
    >>> bitwise.bitwise_xor([12, 5], [10, 3]).numpy().tolist()
    [6, 6]
    """
    return _xor.bind(*_integers("bitwise_xor", x, y))


def left_shift(x, y, name=None):
    """x shifted left by y bits (bits shifted out are lost).

    >>> from tensorflux import bitwise
    >>> bitwise.left_shift([1, 3], [4, 1]).numpy().tolist()
    [16, 6]
    """
    return _left_shift.bind(*_integers("left_shift", x, y))


def right_shift(x, y, name=None):
    """x shifted right by y bits, copying the sign bit in for signed integers.

    >>> from tensorflux import bitwise
    >>> bitwise.right_shift([16, -16], [2, 2]).numpy().tolist()
    [4, -4]
    """
    return _right_shift.bind(*_integers("right_shift", x, y))
