"""What every op module shares: operand conversion with TF's dtype rules, and shape rules."""

from tensorflux import dtypes, errors
from tensorflux import primitive as _primitive
from tensorflux.context import context
from tensorflux.tensor import Tensor, TensorShape, _TensorLike, convert_to_tensor
from tensorflux.variable import Variable

__all__ = ["binary_operands", "as_operand", "unchanged", "variable_value", "const_like",
           "zero_key",
           "normalize_axis", "normalize_axes", "same_shape", "broadcast_shapes", "unary_rule",
           "broadcast_rule", "aval"]

_TENSOR_TYPES = (Tensor, Variable)
_CONSTANTS = {}
_CONSTANTS_LIMIT = 4096


def const_like(value, dtype):
    """A cached scalar Tensor of `dtype` holding the Python scalar `value`."""
    # Keyed by backend too: a constant made on the CPU is not an operand for GPU kernels.
    key = (value.__class__, value, dtype.name, context.backend) if value else \
        zero_key(value.__class__, value, dtype.name)
    try:
        return _CONSTANTS[key]
    except KeyError:
        pass
    except TypeError:  # unhashable: not a scalar
        return _convert_to(value, dtype)
    tensor = _convert_to(value, dtype)
    if len(_CONSTANTS) >= _CONSTANTS_LIMIT:
        _CONSTANTS.clear()
    _CONSTANTS[key] = tensor
    return tensor


# Python scalars already converted for a tensor's native dtype, for binary_operands' fast path:
# keyed (type, value, native dtype, backend), a zero by zero_key.
_SCALARS = {}


def zero_key(kind, value, dtype):
    """The cache key of a Python zero (or anything falsy) in _CONSTANTS or _SCALARS: with its
    text, so that 0.0 and -0.0, equal as keys otherwise, are cached apart (x * 0.0 is 0.0,
    x * -0.0 is -0.0)."""
    return (kind, value, dtype, context.backend, str(value))


def _remember_scalar(key, tensor):
    if len(_SCALARS) >= _CONSTANTS_LIMIT:
        _SCALARS.clear()
    _SCALARS[key] = tensor


def _convert_to(value, dtype):
    if isinstance(value, _TensorLike):
        return value
    return convert_to_tensor(value, dtype=dtype)


def as_operand(op, x, dtype=None):
    """A Tensor or Variable for an op input; Python and NumPy values adapt to `dtype`."""
    if x.__class__ in _TENSOR_TYPES:
        if dtype is not None and x.dtype is not dtype:
            raise _dtype_mismatch(op, dtype, x)
        return x
    if isinstance(x, _TensorLike):  # (subclasses: traced tensors, Keras variables)
        if dtype is not None:
            found = x.dtype
            if found is not dtype and found != dtype:
                raise _dtype_mismatch(op, dtype, x)
        return x
    if hasattr(x, "_as_tensor"):
        return x._as_tensor(dtype)
    try:
        if dtype is None:
            return convert_to_tensor(x)
        if isinstance(x, (int, float, bool, complex)):
            return const_like(x, dtype)
        return convert_to_tensor(x, dtype=dtype)
    except (TypeError, ValueError) as error:
        expected = f"a value convertible to {dtype.name}" if dtype else "a tensor-like value"
        message = f"{op}: expected {expected}, received {x!r} ({error})"
        if isinstance(error, TypeError) and isinstance(x, float) and not x.is_integer():
            # As TF: `int_tensor * 2.5` is a TypeError, `int_tensor + 1.0` an
            # InvalidArgumentError (1.0 converts, to a float tensor of the wrong dtype).
            raise TypeError(message) from error
        raise _dtype_error(message, op) from error


def variable_value(x):
    """The raw value an eager fast path may read for `x`, which is not a plain Tensor: a
    Variable's current value while no keras.StatelessScope maps variables (bind would then
    read that same value; with a scope open it may read a mapped tensor instead), else None
    (the op takes its ordinary path)."""
    if isinstance(x, Variable) and _primitive._variable_reads is None:
        return x._value
    return None


def unchanged(x):
    """What an op returns when it has nothing to do: x itself, or a Variable's current value
    as a Tensor (an op never hands back the mutable Variable)."""
    if x.__class__ is Tensor or not isinstance(x, Variable):
        return x
    from tensorflux.ops.array import read_variable

    return read_variable(x)


def binary_operands(op, x, y):
    """Both operands as tensors of one dtype; Python scalars and arrays adopt the other's.

    Two tensors of different dtypes are an error (TensorFlow never promotes silently).
    """
    cx, cy = x.__class__, y.__class__
    if cx in _TENSOR_TYPES:
        if cy in _TENSOR_TYPES:
            if x._value.dtype != y._value.dtype:
                raise _dtype_mismatch(op, x.dtype, y)
            return x, y
        if cy is float or cy is int:  # the common `x * 2.0`: one cache lookup
            key = (cy, y, x._value.dtype, context.backend) if y else \
                zero_key(cy, y, x._value.dtype)
            scalar = _SCALARS.get(key)
            if scalar is not None:
                return x, scalar
            scalar = as_operand(op, y, x.dtype)
            _remember_scalar(key, scalar)
            return x, scalar
    if isinstance(x, _TensorLike) and not hasattr(y, "_as_tensor"):
        return x, as_operand(op, y, x.dtype)
    if isinstance(y, _TensorLike) and not hasattr(x, "_as_tensor"):
        return as_operand(op, x, y.dtype), y
    x = as_operand(op, x)
    return x, as_operand(op, y, x.dtype)


def _dtype_mismatch(op, expected, received):
    return _dtype_error(
        f"{op}: both inputs must have the same dtype, but the first is {expected.name} and the "
        f"second is {received.dtype.name} with shape {tuple(received.shape)}; cast one with "
        f"tf.cast (TensorFlow does not promote dtypes).", op)


def _dtype_error(message, op):
    """As TF: a dtype error met while tracing a graph is a TypeError (raised as the graph is
    built), one met running an op eagerly an InvalidArgumentError."""
    if context.graph is not None:
        return TypeError(message)
    return errors.InvalidArgumentError(message, op)


def require_dtype(op, x, allowed, what="input"):
    """Raises InvalidArgumentError unless x's dtype satisfies `allowed` (a predicate name)."""
    if not getattr(x.dtype, allowed):
        kind = allowed.replace("is_", "")
        raise errors.InvalidArgumentError(
            f"{op}: the {what} must be {kind}, received {x.dtype.name} with shape "
            f"{tuple(x.shape)}", op)


def _unknown_rank(op):
    raise errors.UnimplementedError(
        f"{op}: the input has an unknown rank (a tf.function traced for TensorSpec(shape="
        f"None) by get_concrete_function); axes need a known rank here. Call the function "
        f"with tensors, or give the TensorSpec a rank (its dims may be None)", op)


def normalize_axis(op, axis, rank):
    """One axis in [-rank, rank) as a non-negative int, or InvalidArgumentError."""
    if hasattr(axis, "numpy"):
        axis = _host(op, axis, "axis")
        axis = axis.item() if hasattr(axis, "item") else axis
    try:
        axis = int(axis)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: axis must be an int, received {axis!r}",
                                          op) from error
    if rank is None:
        _unknown_rank(op)
    if not -rank <= axis < rank:
        expected = f"-{rank} <= axis < {rank}" if rank else "no axis: a scalar has none"
        raise errors.InvalidArgumentError(
            f"{op}: axis {axis} is out of range for a tensor of rank {rank} "
            f"(expected {expected})", op)
    return axis % rank


def _host(op, x, what):
    # Symbolic axes (traced) must fold to constants: see tensorflux/ops/_static.py.
    from tensorflux.ops._static import host

    return host(op, x, what) if isinstance(x, _TensorLike) else x.numpy()


def normalize_axes(op, axis, rank):
    """None (all axes), an int or a list of ints, as a sorted tuple of non-negative ints."""
    if axis is None:
        if rank is None:
            _unknown_rank(op)
        return tuple(range(rank))
    if hasattr(axis, "numpy"):
        axis = _host(op, axis, "axis").tolist()
    if isinstance(axis, (list, tuple)):
        axes = tuple(sorted({normalize_axis(op, a, rank) for a in axis}))
        if len(axes) != len(axis):
            raise errors.InvalidArgumentError(f"{op}: axis {list(axis)} repeats an axis", op)
        return axes
    return (normalize_axis(op, axis, rank),)


# ---------------------------------------------------------------- shape rules for tracing
# A rule takes the input avals (objects with .shape TensorShape and .dtype DType) and the
# primitive's attributes, and returns an aval for the output (a tuple for several).

class aval:  # noqa: N801 - a tiny record, named like JAX's abstract values
    """An abstract value: shape and dtype only."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape if isinstance(shape, TensorShape) else TensorShape(shape)
        self.dtype = dtype

    def __repr__(self):
        return f"aval({self.shape}, {self.dtype.name})"

    def __eq__(self, other):
        return (isinstance(other, aval) and self.shape == other.shape
                and self.dtype is other.dtype)


def broadcast_shapes(op, *shapes):
    """NumPy broadcasting over TensorShapes with None dims; InvalidArgumentError if impossible."""
    shapes = [TensorShape(s) for s in shapes]
    if any(s.rank is None for s in shapes):
        return TensorShape(None)
    rank = max(s.rank for s in shapes)
    result = []
    for i in range(rank):
        dims = [s[s.rank - rank + i] if s.rank - rank + i >= 0 else 1 for s in shapes]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise errors.InvalidArgumentError(
                f"{op}: incompatible shapes for broadcasting: "
                f"{', '.join(str(s) for s in shapes)}", op)
        if known:
            result.append(known.pop())
        elif None in dims:
            result.append(None)
        else:
            result.append(1)
    return TensorShape(result)


def unary_rule(x, **attrs):
    return aval(x.shape, x.dtype)


def broadcast_rule(x, y, **attrs):
    return aval(broadcast_shapes("broadcast", x.shape, y.shape), x.dtype)


def predicate_rule(x, y=None, **attrs):
    shape = x.shape if y is None else broadcast_shapes("compare", x.shape, y.shape)
    return aval(shape, dtypes.bool)


def same_shape(a, b):
    return tuple(a) == tuple(b)
