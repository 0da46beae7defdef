"""Elementwise math, comparison and logic ops (tf.math), each with its primitive beside it."""

import builtins
import struct

from tensorflux import dtypes, errors
from tensorflux.composite_tensor import CompositeTensor
from tensorflux.context import context, current_backend
from tensorflux.ops import array as _array
from tensorflux.ops._core import (
    _SCALARS,
    as_operand,
    aval,
    binary_operands,
    broadcast_rule,
    const_like,
    predicate_rule,
    unary_rule,
    unchanged,
    variable_value,
    zero_key,
)
from tensorflux.primitive import Primitive, _new_tensor, record_on_tapes
from tensorflux.tensor import Tensor, _TensorLike

__all__ = [
    "add", "subtract", "multiply", "divide", "truediv", "floordiv", "floormod", "mod", "pow",
    "negative", "abs", "sign", "square", "sqrt", "rsqrt", "exp", "expm1", "log", "log1p",
    "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan", "atan2", "erf",
    "sigmoid", "softplus", "softsign", "maximum", "minimum", "clip_by_value", "round",
    "floor", "ceil", "reciprocal", "real", "imag", "conj", "angle", "squared_difference",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
    "logical_or", "logical_not", "logical_xor", "where", "is_nan", "is_finite", "is_inf",
    "cast", "saturate_cast", "complex", "invert", "add_n", "divide_no_nan", "multiply_no_nan",
    "xlogy", "log_sigmoid", "scalar_mul", "reciprocal_no_nan",
]


# NumPy kind letters of the dtypes each check allows: lets eager tensors skip the DType lookup.
_KINDS = {"is_floating": "f", "is_numeric": "iufc", "is_differentiable": "fc", "is_bool": "b",
          "is_integer": "iu", None: None}


def _operand(op, x, allowed=None):
    if x.__class__ is Tensor:
        kinds = _KINDS[allowed]
        if kinds is None or x._value.dtype.kind in kinds:
            return x
    x = as_operand(op, x)
    if allowed is not None and not getattr(x.dtype, allowed):
        kind = {"is_floating": "a floating-point", "is_numeric": "a numeric",
                "is_differentiable": "a floating-point or complex", "is_bool": "a bool",
                "is_integer": "an integer"}[allowed]
        raise errors.InvalidArgumentError(
            f"{op}: expected {kind} tensor, received dtype {x.dtype.name} with shape "
            f"{tuple(x.shape)}", op)
    return x


def _binary(op, x, y, allowed="is_numeric"):
    x, y = binary_operands(op, x, y)
    kinds = _KINDS[allowed]
    if kinds is None or (x.__class__ is Tensor and x._value.dtype.kind in kinds):
        return x, y
    if allowed is not None and not getattr(x.dtype, allowed):
        raise errors.InvalidArgumentError(
            f"{op}: expected {allowed.replace('is_', '')} tensors, received dtype "
            f"{x.dtype.name} with shapes {tuple(x.shape)} and {tuple(y.shape)}", op)
    return x, y


def _fast_binary(primitive, x, y, kinds):
    """The eager fast path (see Primitive.__init__) of a binary op without attributes: its
    result where x is a plain Tensor whose dtype kind is one of `kinds` (those the op's
    _binary check allows) and y a plain Tensor or a Variable (ops._core.variable_value) of
    the same dtype, or a Python number already converted to it (binary_operands' cache,
    whose tensor the tapes then see). Else None, a kernel error included: the ordinary path
    then runs the op and reports it."""
    if x.__class__ is not Tensor or primitive._backend is not context.eager_backend:
        return None
    xv = x._value
    dtype = xv.dtype
    if dtype.kind not in kinds:
        return None
    cy = y.__class__
    if cy is Tensor:
        yv = y._value
    elif cy is float or cy is int:
        y = _SCALARS.get((cy, y, dtype, context.backend) if y else zero_key(cy, y, dtype))
        if y is None:
            return None
        yv = y._value
    else:
        yv = variable_value(y)
        if yv is None:
            return None
    if yv.dtype is not dtype:
        return None
    try:
        value = primitive._kernel_fn(xv, yv)
    except Exception:  # noqa: BLE001 - the ordinary path reports the error
        return None
    out = _new_tensor(Tensor)
    out._value = value
    if context.tapes:  # (as bind records it; see Primitive._fast_result)
        record_on_tapes(primitive, (x, y), {}, out)
    return out


def _fast_unary(primitive, x, kinds):
    """The eager fast path (see Primitive.__init__) of a unary op without attributes on a
    plain Tensor whose dtype kind is one of `kinds` (those its _operand check allows), else
    None."""
    if x.__class__ is not Tensor or primitive._backend is not context.eager_backend:
        return None
    xv = x._value
    if xv.dtype.kind not in kinds:
        return None
    try:
        value = primitive._kernel_fn(xv)
    except Exception:  # noqa: BLE001 - the ordinary path reports the error
        return None
    out = _new_tensor(Tensor)
    out._value = value
    if context.tapes:  # (as bind records it; see Primitive._fast_result)
        record_on_tapes(primitive, (x,), {}, out)
    return out


def _composite_operator(op, x, y, error):
    """`x op y` where an operand is a composite (RaggedTensor, SparseTensor) whose dense
    conversion failed with `error`: as TensorFlow's operators, the composite's own operator
    runs it, the reflected one for `dense op composite` (`tf.constant([1.0]) + rt` broadcasts
    the dense tensor into the ragged rows). Raises `error` where no composite operand has
    that operator. (Called on the slow path only: a try costs nothing until it raises.)"""
    if isinstance(y, CompositeTensor):
        method = getattr(type(y), f"__r{op}__", None)
        out = NotImplemented if method is None else method(y, x)
    elif isinstance(x, CompositeTensor):
        method = getattr(type(x), f"__{op}__", None)
        out = NotImplemented if method is None else method(x, y)
    else:
        out = NotImplemented
    if out is NotImplemented:
        raise error
    return out


def _conj(x):
    if x.__class__ is Tensor and x._value.dtype.kind != "c":
        return x  # (an eager real tensor, without the DType lookup)
    return conj(x) if x.dtype.is_complex else x


# ------------------------------------------------------------------ arithmetic

# add: x + y with broadcasting; the cotangent flows unchanged to both sides.
_add = Primitive("add", vjp=lambda g, x, y, out: (g, g), shape_rule=broadcast_rule)


def add(x, y, name=None):
    """x + y elementwise, with broadcasting.

    >>> import tensorflux as tf
    >>> tf.add([1.0, 2.0], 1.0).numpy().tolist()
    [2.0, 3.0]
    """
    cx, cy = x.__class__, y.__class__
    if (cx is Tensor or cy is Tensor) and _add._backend is context.eager_backend:
        # Eager fast path (see Primitive.__init__): two tensors of one non-string dtype, one
        # of them perhaps a Variable (a Dense layer's bias).
        xv = x._value if cx is Tensor else variable_value(x)
        yv = y._value if cy is Tensor else variable_value(y)
        if (xv is not None and yv is not None and xv.dtype is yv.dtype
                and xv.dtype.kind != "O"):
            try:
                value = _add._kernel_fn(xv, yv)
            except Exception:  # noqa: BLE001 - the ordinary path reports the error
                pass
            else:
                out = _new_tensor(Tensor)
                out._value = value
                if context.tapes:  # (as bind records it; see Primitive._fast_result)
                    record_on_tapes(_add, (x, y), {}, out)
                return out
    try:
        x, y = binary_operands("add", x, y)
    except ValueError as error:
        return _composite_operator("add", x, y, error)
    value = x._value
    if (value.dtype.kind == "O") if value is not None else (x.dtype is dtypes.string):
        return _joined_strings(_string_join.bind(x, y))
    return _add.bind(x, y)


def _joined_strings(out):
    """The kernel joins 0-d object arrays into a bare bytes object: wrap it back in an array
    (in place, so that a tape that recorded `out` still sees the same tensor)."""
    value = out._value
    if value is not None and not hasattr(value, "dtype"):
        out._value = current_backend().asarray(value, dtypes.string)
    return out


# string concatenation: TensorFlow's `+` on string tensors.
_string_join = Primitive("string_join", shape_rule=broadcast_rule)

# subtract: x - y; the cotangent of y is negated.
# (The binary VJPs take `wanted`, see Primitive: a side that needs no cotangent, such as a
# loss's labels, costs no op.)
_subtract = Primitive("subtract", vjp=lambda g, x, y, out, wanted=(True, True): (
                          g, negative(g) if wanted[1] else None),
                      shape_rule=broadcast_rule, vjp_wanted=True)


def subtract(x, y, name=None):
    """x - y elementwise, with broadcasting.

    >>> import tensorflux as tf
    >>> tf.subtract(3, 1).numpy()
    np.int32(2)
    """
    out = _fast_binary(_subtract, x, y, "iufc")
    if out is not None:
        return out
    try:
        x, y = _binary("subtract", x, y)
    except ValueError as error:
        return _composite_operator("sub", x, y, error)
    return _subtract.bind(x, y)


# multiply: x * y; each side's cotangent is g times the (conjugated) other side.
_multiply = Primitive("multiply", vjp=lambda g, x, y, out, wanted=(True, True): (
                          g * _conj(y) if wanted[0] else None,
                          g * _conj(x) if wanted[1] else None),
                      shape_rule=broadcast_rule, vjp_wanted=True)


def multiply(x, y, name=None):
    """x * y elementwise, with broadcasting.

    >>> import tensorflux as tf
    >>> tf.multiply([1.0, 2.0], [3.0, 4.0]).numpy().tolist()
    [3.0, 8.0]
    """
    if x.__class__ is Tensor:
        # Eager fast path (see Primitive.__init__): a tensor times a tensor of its dtype, or
        # times a Python number already converted to that dtype (binary_operands' cache).
        if _multiply._backend is context.eager_backend:
            xv = x._value
            cy = y.__class__
            if cy is Tensor:
                yv = y._value
                if xv.dtype is not yv.dtype:
                    yv = None
            elif cy is float or cy is int:
                # (the scalar's tensor is the one binary_operands gives: the tapes see it)
                y = _SCALARS.get((cy, y, xv.dtype, context.backend) if y else
                                 zero_key(cy, y, xv.dtype), y)
                yv = y._value if y.__class__ is Tensor else None
            else:
                yv = None
            if yv is not None:
                try:
                    value = _multiply._kernel_fn(xv, yv)
                except Exception:  # noqa: BLE001 - the ordinary path reports the error
                    pass
                else:
                    out = _new_tensor(Tensor)
                    out._value = value
                    if context.tapes:  # (as bind records it; see Primitive._fast_result)
                        record_on_tapes(_multiply, (x, y), {}, out)
                    return out
    try:
        x, y = _binary("multiply", x, y, allowed=None)
    except ValueError as error:
        return _composite_operator("mul", x, y, error)
    return _multiply.bind(x, y)


def scalar_mul(scalar, x, name=None):
    """scalar * x, for a scalar (rank-0) `scalar`.

    >>> import tensorflux as tf
    >>> tf.math.scalar_mul(2.0, tf.constant([1.0])).numpy().tolist()
    [2.0]
    """
    scalar, x = binary_operands("scalar_mul", scalar, x)
    if scalar.shape.rank != 0:
        raise errors.InvalidArgumentError(
            f"scalar_mul: only a scalar multiplies, received scalar shape {tuple(scalar.shape)}",
            "scalar_mul")
    return multiply(scalar, x)


# divide: x / y for float and complex; d/dy = -g * x / y**2 = -g * out / y.
_divide = Primitive("divide", vjp=lambda g, x, y, out, wanted=(True, True): (
                        g / _conj(y) if wanted[0] else None,
                        negative(g) * _conj(out / y) if wanted[1] else None),
                    shape_rule=broadcast_rule, vjp_wanted=True)


def truediv(x, y, name=None):
    """x / y; integer inputs are first cast to float (int8/16 -> float32, int32/64 -> float64).

    >>> import tensorflux as tf
    >>> tf.truediv(tf.constant(1), tf.constant(2)).numpy()
    np.float64(0.5)
    """
    out = _fast_binary(_divide, x, y, "fc")  # (floats: integers are cast first)
    if out is not None:
        return out
    try:
        x, y = _binary("truediv", x, y)
    except ValueError as error:
        return _composite_operator("truediv", x, y, error)
    if x.dtype.is_integer:
        target = dtypes.float32 if x.dtype.itemsize <= 2 else dtypes.float64
        x, y = cast(x, target), cast(y, target)
    return _divide.bind(x, y)


def divide(x, y, name=None):
    """Python's x / y: the same as truediv.

    >>> import tensorflux as tf
    >>> tf.divide(1.0, 4.0).numpy()
    np.float32(0.25)
    """
    return truediv(x, y)


# floordiv: floor(x / y); piecewise constant, so TensorFlow defines no gradient (None).
_floordiv = Primitive("floordiv", vjp=lambda g, x, y, out: (None, None),
                      shape_rule=broadcast_rule)


def floordiv(x, y, name=None):
    """floor(x / y) elementwise (Python's //); integer division by zero is an error.

    >>> import tensorflux as tf
    >>> tf.math.floordiv(-7, 2).numpy()
    np.int32(-4)
    """
    x, y = _binary("floordiv", x, y)
    if x.dtype.is_integer:
        _check_integer_divisor("floordiv", y)
    return _floordiv.bind(x, y)


# floormod: x - floor(x / y) * y (the sign follows y, as Python's %).
_floormod = Primitive("floormod", vjp=lambda g, x, y, out: (g, negative(g) * floor(x / y)),
                      shape_rule=broadcast_rule)


def floormod(x, y, name=None):
    """Python's x % y elementwise: the result has the sign of y.

    >>> import tensorflux as tf
    >>> tf.math.floormod(-7, 3).numpy()
    np.int32(2)
    """
    x, y = _binary("floormod", x, y)
    if x.dtype.is_integer:
        _check_integer_divisor("floormod", y)
    return _floormod.bind(x, y)


mod = floormod


def _check_integer_divisor(op, y):
    # Eager only: a traced graph checks in the kernel.
    value = getattr(y, "_value", None)
    if value is not None and not bool(_backend_of(value).all_nonzero(value)):
        raise errors.InvalidArgumentError(f"{op}: Integer division by zero", op)


def _backend_of(value):
    from tensorflux.backends import backend_of

    return backend_of(value)


def _pow_vjp(g, x, y, out):
    if x.dtype.is_complex:
        # Holomorphic: the cotangent meets the conjugated derivative; log is defined off 0.
        x, y, out = conj(x), conj(y), conj(out)
        has_log = not_equal(x, const(0, x))
    else:
        has_log = greater(x, const(0, x))
    gx = g * y * pow(x, y - const(1, y))
    # d/dy x**y = out * log(x), defined (as in TF) only where x > 0 (x != 0 for complex).
    safe_x = where(has_log, x, ones_like_(x))
    gy = g * out * where(has_log, log(safe_x), zeros_like_(x))
    return gx, gy


# pow: x ** y.
_pow = Primitive("pow", vjp=_pow_vjp, shape_rule=broadcast_rule)


def pow(x, y, name=None):  # noqa: A001 - TensorFlow's public name
    """x ** y elementwise.

    >>> import tensorflux as tf
    >>> tf.pow(2.0, 3.0).numpy()
    np.float32(8.0)
    """
    x, y = _binary("pow", x, y)
    value = getattr(y, "_value", None)
    if x.dtype.is_integer and value is not None and bool(_backend_of(value).any_negative(value)):
        raise errors.InvalidArgumentError(
            "pow: Integers to negative integer powers are not allowed", "pow")
    return _pow.bind(x, y)


# maximum / minimum: the cotangent goes to the selected side (ties to x, as in TF).
_maximum = Primitive("maximum", shape_rule=broadcast_rule, vjp_wanted=True,
                     vjp=lambda g, x, y, out, wanted=(True, True): _select_grads(
                         g, greater_equal(x, y), wanted))
_minimum = Primitive("minimum", shape_rule=broadcast_rule, vjp_wanted=True,
                     vjp=lambda g, x, y, out, wanted=(True, True): _select_grads(
                         g, less_equal(x, y), wanted))


def _select_grads(g, x_wins, wanted=(True, True)):
    # A scalar zero: `where` broadcasts it to g's shape (the mask has g's shape), the same
    # values as a zeros_like(g) without making one.
    zero = const(0, g)
    return (where(x_wins, g, zero) if wanted[0] else None,
            where(x_wins, zero, g) if wanted[1] else None)


def maximum(x, y, name=None):
    """The larger of x and y elementwise (NaN if either is NaN).

    >>> import tensorflux as tf
    >>> tf.maximum([1.0, 5.0], 3.0).numpy().tolist()
    [3.0, 5.0]
    """
    out = _fast_binary(_maximum, x, y, "iufc")
    if out is not None:
        return out
    return _maximum.bind(*_binary("maximum", x, y))


def minimum(x, y, name=None):
    """The smaller of x and y elementwise (NaN if either is NaN).

    >>> import tensorflux as tf
    >>> tf.minimum([1.0, 5.0], 3.0).numpy().tolist()
    [1.0, 3.0]
    """
    out = _fast_binary(_minimum, x, y, "iufc")
    if out is not None:
        return out
    return _minimum.bind(*_binary("minimum", x, y))


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """Clamps t to [min, max]; the gradient passes where t is inside the range.

    >>> import tensorflux as tf
    >>> tf.clip_by_value([-2.0, 0.5, 3.0], -1.0, 1.0).numpy().tolist()
    [-1.0, 0.5, 1.0]
    """
    t = as_operand("clip_by_value", t)
    # max(min(t, hi), lo) as TF orders it: with lo > hi every entry becomes lo.
    return maximum(minimum(t, clip_value_max), clip_value_min)


def squared_difference(x, y, name=None):
    """(x - y)**2 elementwise.

    >>> import tensorflux as tf
    >>> tf.math.squared_difference(3.0, 1.0).numpy()
    np.float32(4.0)
    """
    d = subtract(*_binary("squared_difference", x, y))
    return d * _conj(d)


# atan2(y, x): the angle of (x, y).
_atan2 = Primitive("atan2", shape_rule=broadcast_rule,
                   vjp=lambda g, y, x, out: (g * x / (x * x + y * y),
                                             negative(g) * y / (x * x + y * y)))


def atan2(y, x, name=None):
    """The angle of the point (x, y) in radians, elementwise.

    >>> import tensorflux as tf
    >>> print(f"{float(tf.math.atan2(1.0, 1.0)):.4f}")
    0.7854
    """
    return _atan2.bind(*_binary("atan2", y, x, allowed="is_floating"))


def add_n(inputs, name=None):
    """The elementwise sum of a list of tensors of one shape and dtype.

    >>> import tensorflux as tf
    >>> tf.add_n([tf.constant([1.0]), tf.constant([2.0])]).numpy().tolist()
    [3.0]
    """
    if not inputs:
        raise errors.InvalidArgumentError("add_n: expected a non-empty list of tensors", "add_n")
    tensors = [as_operand("add_n", x) for x in inputs]
    first = tensors[0]
    for x in tensors[1:]:
        if not first.shape.is_compatible_with(x.shape):
            raise errors.InvalidArgumentError(
                f"add_n: all inputs must have the same shape, received shapes "
                f"{[tuple(t.shape) for t in tensors]}", "add_n")
    total = first
    for x in tensors[1:]:
        total = add(total, x)
    return total


def divide_no_nan(x, y, name=None):
    """x / y, but 0 where y == 0 (with a gradient that stays finite there). Integers divide
    as truediv does (int8/16 -> float32, int32/64 -> float64), as in TensorFlow.

    >>> import tensorflux as tf
    >>> tf.math.divide_no_nan([1.0, 1.0], [0.0, 2.0]).numpy().tolist()
    [0.0, 0.5]
    >>> tf.math.divide_no_nan(tf.constant([3, 3]), tf.constant([0, 4])).numpy().tolist()
    [0.0, 0.75]
    """
    x, y = _binary("divide_no_nan", x, y, allowed="is_numeric")
    if x.dtype.is_integer:
        target = dtypes.float32 if x.dtype.itemsize <= 2 else dtypes.float64
        x, y = cast(x, target), cast(y, target)
    nonzero = not_equal(y, const(0, y))
    # The double where keeps 1/0 out of both the value and the gradient.
    safe_y = where(nonzero, y, ones_like_(y))
    return where(nonzero, truediv(x, safe_y), zeros_like_(x))


def reciprocal_no_nan(x, name=None):
    """1 / x, but 0 where x == 0.

    >>> import tensorflux as tf
    >>> tf.math.reciprocal_no_nan([0.0, 2.0]).numpy().tolist()
    [0.0, 0.5]
    """
    x = _operand("reciprocal_no_nan", x, "is_differentiable")
    return divide_no_nan(ones_like_(x), x)


# mul_no_nan: x * y, 0 where y == 0. A primitive because TF's gradient is not the one a
# masked composite gives: d/dy at y == 0 is x * g (0 where g == 0), as in TF's MulNoNan.
_mul_no_nan = Primitive(
    "mul_no_nan", shape_rule=broadcast_rule,
    vjp=lambda g, x, y, out: (multiply_no_nan(g, _conj(y)), multiply_no_nan(_conj(x), g)))


def multiply_no_nan(x, y, name=None):
    """x * y, but 0 where y == 0 even if x is inf or NaN.

    >>> import tensorflux as tf
    >>> tf.math.multiply_no_nan([float("inf"), 2.0], [0.0, 3.0]).numpy().tolist()
    [0.0, 6.0]
    """
    return _mul_no_nan.bind(*_binary("multiply_no_nan", x, y, allowed="is_differentiable"))


def xlogy(x, y, name=None):
    """x * log(y), and 0 where x == 0 (real or complex).

    >>> import tensorflux as tf
    >>> tf.math.xlogy([0.0, 2.0], [0.0, 1.0]).numpy().tolist()
    [0.0, 0.0]
    """
    x, y = _binary("xlogy", x, y, allowed="is_differentiable")
    nonzero = not_equal(x, const(0, x))
    safe_y = where(nonzero, y, ones_like_(y))
    # where() broadcasts the zeros; x * y would make NaN (and a warning) for 0 * inf.
    return where(nonzero, x * log(safe_y), zeros_like_(x))


# ------------------------------------------------------------------ unary

def _unary(name, vjp):
    """Defines a shape-preserving primitive; its public function is written out below it."""
    return Primitive(name, vjp=vjp, shape_rule=unary_rule)


# negative: -x.
_negative = _unary("negative", lambda g, x, out: (negative(g),))


def negative(x, name=None):
    """-x elementwise.

    >>> import tensorflux as tf
    >>> tf.negative(2.0).numpy()
    np.float32(-2.0)
    """
    out = _fast_unary(_negative, x, "iufc")
    if out is not None:
        return out
    return _negative.bind(_operand("negative", x, "is_numeric"))


def _real_rule(x, **attrs):
    return aval(x.shape, x.dtype.real_dtype)


# abs: |x|; d|x|/dx = sign(x) (0 at 0, as in TF). Complex abs is real-valued.
def _abs_vjp(g, x, out):
    if x.dtype.is_complex:
        # g * x / |x|, with 0 (not NaN) at x == 0 as TF's div_no_nan gives.
        safe = where(equal(out, const(0, out)), ones_like_(out), out)
        return (cast(g, x.dtype) * x / cast(safe, x.dtype),)
    return (g * sign(x),)


_abs = Primitive("abs", vjp=_abs_vjp, shape_rule=_real_rule)


def abs(x, name=None):  # noqa: A001 - TensorFlow's public name
    """|x| elementwise (the modulus, a real tensor, for complex x).

    >>> import tensorflux as tf
    >>> tf.abs([-1.5, 2.0]).numpy().tolist()
    [1.5, 2.0]
    """
    return _abs.bind(_operand("abs", x, "is_numeric"))


# sign: -1, 0 or 1; its gradient is zero everywhere TensorFlow defines it.
_sign = _unary("sign", lambda g, x, out: (zeros_like_(g),))


def sign(x, name=None):
    """-1, 0 or 1 by the sign of x, elementwise.

    >>> import tensorflux as tf
    >>> tf.sign([-3.0, 0.0, 2.0]).numpy().tolist()
    [-1.0, 0.0, 1.0]
    """
    return _sign.bind(_operand("sign", x, "is_numeric"))


# square: x*x.
_square = _unary("square", lambda g, x, out: (g * const(2, x) * _conj(x),))


def square(x, name=None):
    """x * x elementwise.

    >>> import tensorflux as tf
    >>> tf.square(3.0).numpy()
    np.float32(9.0)
    """
    return _square.bind(_operand("square", x, "is_numeric"))


# sqrt: d sqrt(x) = 0.5 / sqrt(x). As in TF's kernels (sqrt, rsqrt, reciprocal), a zero
# cotangent gives zero even where the derivative is infinite, so tf.where(x > 0, sqrt(x), 0)
# has a finite gradient at 0.
_sqrt = _unary("sqrt", lambda g, x, out: (
    multiply_no_nan(const(0.5, out) / _conj(out), g),))


def sqrt(x, name=None):
    """The square root of x elementwise (NaN for negative reals).

    >>> import tensorflux as tf
    >>> tf.sqrt(4.0).numpy()
    np.float32(2.0)
    """
    return _sqrt.bind(_operand("sqrt", x, "is_differentiable"))


# rsqrt: 1 / sqrt(x); d = -0.5 * out**3.
_rsqrt = _unary("rsqrt", lambda g, x, out: (
    multiply_no_nan(const(-0.5, out) * _conj(out * out * out), g),))


def rsqrt(x, name=None):
    """1 / sqrt(x) elementwise.

    >>> import tensorflux as tf
    >>> tf.math.rsqrt(4.0).numpy()
    np.float32(0.5)
    """
    return _rsqrt.bind(_operand("rsqrt", x, "is_differentiable"))


# exp: d exp(x) = exp(x), reusing the output.
_exp = _unary("exp", lambda g, x, out: (g * _conj(out),))


def exp(x, name=None):
    """e ** x elementwise.

    >>> import tensorflux as tf
    >>> tf.exp(0.0).numpy()
    np.float32(1.0)
    """
    if x.__class__ is Tensor:
        # Eager fast path (see Primitive.__init__): a float or complex tensor.
        if _exp._backend is context.eager_backend:
            xv = x._value
            if xv.dtype.kind in "fc":
                try:
                    value = _exp._kernel_fn(xv)
                except Exception:  # noqa: BLE001 - the ordinary path reports the error
                    pass
                else:
                    out = _new_tensor(Tensor)
                    out._value = value
                    if context.tapes:  # (as bind records it; see Primitive._fast_result)
                        record_on_tapes(_exp, (x,), {}, out)
                    return out
    return _exp.bind(_operand("exp", x, "is_differentiable"))


# expm1: exp(x) - 1, accurate near 0; d = out + 1.
_expm1 = _unary("expm1", lambda g, x, out: (g * _conj(out + const(1, out)),))


def expm1(x, name=None):
    """exp(x) - 1 elementwise, accurate for small x.

    >>> import tensorflux as tf
    >>> tf.math.expm1(0.0).numpy()
    np.float32(0.0)
    """
    return _expm1.bind(_operand("expm1", x, "is_differentiable"))


# log: natural logarithm; d = 1 / x.
_log = _unary("log", lambda g, x, out: (g / _conj(x),))


def log(x, name=None):
    """The natural logarithm of x elementwise (-inf at 0, NaN below).

    >>> import tensorflux as tf
    >>> tf.math.log(1.0).numpy()
    np.float32(0.0)
    """
    out = _fast_unary(_log, x, "fc")
    if out is not None:
        return out
    return _log.bind(_operand("log", x, "is_differentiable"))


# log1p: log(1 + x), accurate near 0; d = 1 / (1 + x).
_log1p = _unary("log1p", lambda g, x, out: (g / _conj(x + const(1, x)),))


def log1p(x, name=None):
    """log(1 + x) elementwise, accurate for small x.

    >>> import tensorflux as tf
    >>> tf.math.log1p(0.0).numpy()
    np.float32(0.0)
    """
    return _log1p.bind(_operand("log1p", x, "is_differentiable"))


_sin = _unary("sin", lambda g, x, out: (g * _conj(cos(x)),))
_cos = _unary("cos", lambda g, x, out: (negative(g) * _conj(sin(x)),))
# tan: d = 1 + tan(x)**2, from the output.
_tan = _unary("tan", lambda g, x, out: (g * _conj(const(1, out) + out * out),))
# tanh: d = 1 - tanh(x)**2, from the output.
_tanh = _unary("tanh", lambda g, x, out: (g * _conj(const(1, out) - out * out),))
_sinh = _unary("sinh", lambda g, x, out: (g * _conj(cosh(x)),))
_cosh = _unary("cosh", lambda g, x, out: (g * _conj(sinh(x)),))
_asin = _unary("asin", lambda g, x, out: (g * rsqrt(const(1, x) - x * x),))
_acos = _unary("acos", lambda g, x, out: (negative(g) * rsqrt(const(1, x) - x * x),))
_atan = _unary("atan", lambda g, x, out: (g / (const(1, x) + x * x),))


def sin(x, name=None):
    """sin(x) elementwise, x in radians.

    >>> import tensorflux as tf
    >>> tf.sin(0.0).numpy()
    np.float32(0.0)
    """
    return _sin.bind(_operand("sin", x, "is_differentiable"))


def cos(x, name=None):
    """cos(x) elementwise, x in radians.

    >>> import tensorflux as tf
    >>> tf.cos(0.0).numpy()
    np.float32(1.0)
    """
    return _cos.bind(_operand("cos", x, "is_differentiable"))


def tan(x, name=None):
    """tan(x) elementwise, x in radians.

    >>> import tensorflux as tf
    >>> tf.tan(0.0).numpy()
    np.float32(0.0)
    """
    return _tan.bind(_operand("tan", x, "is_differentiable"))


def tanh(x, name=None):
    """The hyperbolic tangent of x elementwise.

    >>> import tensorflux as tf
    >>> tf.tanh(0.0).numpy()
    np.float32(0.0)
    """
    return _tanh.bind(_operand("tanh", x, "is_differentiable"))


def sinh(x, name=None):
    """The hyperbolic sine of x elementwise.

    >>> import tensorflux as tf
    >>> tf.sinh(0.0).numpy()
    np.float32(0.0)
    """
    return _sinh.bind(_operand("sinh", x, "is_differentiable"))


def cosh(x, name=None):
    """The hyperbolic cosine of x elementwise.

    >>> import tensorflux as tf
    >>> tf.cosh(0.0).numpy()
    np.float32(1.0)
    """
    return _cosh.bind(_operand("cosh", x, "is_differentiable"))


def asin(x, name=None):
    """The inverse sine of x elementwise (NaN outside [-1, 1]).

    >>> import tensorflux as tf
    >>> tf.asin(0.0).numpy()
    np.float32(0.0)
    """
    return _asin.bind(_operand("asin", x, "is_floating"))


def acos(x, name=None):
    """The inverse cosine of x elementwise (NaN outside [-1, 1]).

    >>> import tensorflux as tf
    >>> tf.acos(1.0).numpy()
    np.float32(0.0)
    """
    return _acos.bind(_operand("acos", x, "is_floating"))


def atan(x, name=None):
    """The inverse tangent of x elementwise.

    >>> import tensorflux as tf
    >>> tf.atan(0.0).numpy()
    np.float32(0.0)
    """
    return _atan.bind(_operand("atan", x, "is_floating"))


# erf: d erf(x) = 2/sqrt(pi) * exp(-x**2).
_TWO_OVER_SQRT_PI = 1.1283791670955126
_erf = _unary("erf", lambda g, x, out: (g * const(_TWO_OVER_SQRT_PI, x) * exp(negative(x * x)),))


def erf(x, name=None):
    """The Gauss error function elementwise.

    >>> import tensorflux as tf
    >>> tf.math.erf(0.0).numpy()
    np.float32(0.0)
    """
    return _erf.bind(_operand("erf", x, "is_floating"))


# sigmoid: 1 / (1 + exp(-x)), computed without overflow; d = out * (1 - out).
_sigmoid = _unary("sigmoid", lambda g, x, out: (g * _conj(out * (const(1, out) - out)),))


def sigmoid(x, name=None):
    """The logistic function 1 / (1 + exp(-x)) elementwise, stable for large |x|.

    >>> import tensorflux as tf
    >>> tf.sigmoid([0.0, 100.0]).numpy().tolist()
    [0.5, 1.0]
    """
    out = _fast_unary(_sigmoid, x, "fc")
    if out is not None:
        return out
    return _sigmoid.bind(_operand("sigmoid", x, "is_differentiable"))


def log_sigmoid(x, name=None):
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|.

    >>> import tensorflux as tf
    >>> print(f"{float(tf.math.log_sigmoid(0.0)):.4f}")
    -0.6931
    """
    return negative(softplus(negative(_operand("log_sigmoid", x, "is_floating"))))


# softplus: log(1 + exp(x)), computed as logaddexp(0, x); d = sigmoid(x).
_softplus = _unary("softplus", lambda g, x, out: (g * sigmoid(x),))


def softplus(features, name=None):
    """log(exp(x) + 1) elementwise, without overflow.

    >>> import tensorflux as tf
    >>> print(f"{float(tf.math.softplus(0.0)):.4f}")
    0.6931
    """
    return _softplus.bind(_operand("softplus", features, "is_floating"))


# softsign: x / (1 + |x|); d = 1 / (1 + |x|)**2.
_softsign = _unary("softsign", lambda g, x, out: (g / square(const(1, x) + abs(x)),))


def softsign(features, name=None):
    """x / (1 + |x|) elementwise.

    >>> import tensorflux as tf
    >>> tf.math.softsign(1.0).numpy()
    np.float32(0.5)
    """
    return _softsign.bind(_operand("softsign", features, "is_floating"))


# round / floor / ceil: piecewise constant; TensorFlow gives them no gradient (None).
_round = _unary("round", lambda g, x, out: (None,))
_floor = _unary("floor", lambda g, x, out: (None,))
_ceil = _unary("ceil", lambda g, x, out: (None,))


def round(x, name=None):  # noqa: A001 - TensorFlow's public name
    """Rounds half to even elementwise (banker's rounding, as TensorFlow).

    >>> import tensorflux as tf
    >>> tf.round([0.5, 1.5, 2.4]).numpy().tolist()
    [0.0, 2.0, 2.0]
    """
    x = _operand("round", x, "is_numeric")
    return unchanged(x) if x.dtype.is_integer else _round.bind(x)


def floor(x, name=None):
    """The largest integer not greater than x, elementwise.

    >>> import tensorflux as tf
    >>> tf.floor(-1.5).numpy()
    np.float32(-2.0)
    """
    return _floor.bind(_operand("floor", x, "is_floating"))


def ceil(x, name=None):
    """The smallest integer not less than x, elementwise.

    >>> import tensorflux as tf
    >>> tf.math.ceil(-1.5).numpy()
    np.float32(-1.0)
    """
    return _ceil.bind(_operand("ceil", x, "is_floating"))


# reciprocal: 1 / x; d = -out**2 (0 for a zero cotangent, as sqrt above).
_reciprocal = _unary("reciprocal", lambda g, x, out: (
    multiply_no_nan(negative(_conj(out * out)), g),))


def reciprocal(x, name=None):
    """1 / x elementwise.

    >>> import tensorflux as tf
    >>> tf.math.reciprocal(4.0).numpy()
    np.float32(0.25)
    """
    return _reciprocal.bind(_operand("reciprocal", x, "is_differentiable"))


# ------------------------------------------------------------------ complex parts

# real / imag: the parts of a complex tensor; their cotangents re-enter as complex numbers.
_real = Primitive("real", shape_rule=_real_rule,
                  vjp=lambda g, x, out: (complex(g, zeros_like_(g)),),
                  aliases=True)
_imag = Primitive("imag", shape_rule=_real_rule,
                  vjp=lambda g, x, out: (complex(zeros_like_(g), g),),
                  aliases=True)
# conj: complex conjugate; the cotangent is conjugated too.
_conj_prim = Primitive("conj", shape_rule=unary_rule, vjp=lambda g, x, out: (conj(g),))
def _angle_vjp(g, x, out):
    if not x.dtype.is_complex:
        return (zeros_like_(x),)
    # d atan2(im, re): (-im, re) / |x|**2, as the complex cotangent -g / (im + i re).
    return (negative(complex(g, zeros_like_(g))) / complex(imag(x), real(x)),)


# angle: the argument of a complex number (0 or pi for reals).
_angle = Primitive("angle", shape_rule=_real_rule, vjp=_angle_vjp)


def _complex_vjp(g, re, im, out):
    return real(g), imag(g)


def _make_complex_rule(re, im, **attrs):
    result = dtypes.complex64 if re.dtype is dtypes.float32 else dtypes.complex128
    from tensorflux.ops._core import broadcast_shapes

    return aval(broadcast_shapes("complex", re.shape, im.shape), result)


# complex: re + i*im.
_complex = Primitive("complex", vjp=_complex_vjp, shape_rule=_make_complex_rule)


def real(input, name=None):  # noqa: A002 - TensorFlow's argument name
    """The real part of a complex tensor; a real tensor is returned unchanged.

    >>> import tensorflux as tf
    >>> tf.math.real(tf.constant([1 + 2j])).numpy().tolist()
    [1.0]
    """
    x = as_operand("real", input)
    return _real.bind(x) if x.dtype.is_complex else unchanged(x)


def imag(input, name=None):  # noqa: A002
    """The imaginary part of a complex tensor; zeros for a real tensor.

    >>> import tensorflux as tf
    >>> tf.math.imag(tf.constant([1 + 2j])).numpy().tolist()
    [2.0]
    """
    x = as_operand("imag", input)
    return _imag.bind(x) if x.dtype.is_complex else zeros_like_(x)


def conj(x, name=None):
    """The complex conjugate; a real tensor is returned unchanged.

    >>> import tensorflux as tf
    >>> tf.math.conj(tf.constant([1 + 2j])).numpy().tolist()
    [(1-2j)]
    """
    x = as_operand("conj", x)
    return _conj_prim.bind(x) if x.dtype.is_complex else unchanged(x)


def angle(input, name=None):  # noqa: A002
    """The argument of a complex tensor (0 or pi for real inputs), elementwise.

    >>> import tensorflux as tf
    >>> tf.math.angle(tf.constant([1j])).numpy().round(4).tolist()
    [1.5708]
    """
    return _angle.bind(_operand("angle", input, "is_differentiable"))


def complex(real, imag, name=None):  # noqa: A001
    """re + i * im from two float32 (complex64) or float64 (complex128) tensors.

    >>> import tensorflux as tf
    >>> tf.complex(1.0, 2.0).numpy()
    np.complex64(1+2j)
    """
    re, im = _binary("complex", real, imag, allowed="is_floating")
    if re.dtype not in (dtypes.float32, dtypes.float64):
        raise errors.InvalidArgumentError(
            f"complex: expected float32 or float64 parts, received {re.dtype.name} with shapes "
            f"{tuple(re.shape)} and {tuple(im.shape)}", "complex")
    return _complex.bind(re, im)


# ------------------------------------------------------------------ comparison and logic

def _comparison(name):
    return Primitive(name, shape_rule=predicate_rule)


_equal = _comparison("equal")
_not_equal = _comparison("not_equal")
_less = _comparison("less")
_less_equal = _comparison("less_equal")
_greater = _comparison("greater")
_greater_equal = _comparison("greater_equal")


def equal(x, y, name=None):
    """x == y elementwise, as a bool tensor.

    >>> import tensorflux as tf
    >>> tf.equal([1, 2], 2).numpy().tolist()
    [False, True]
    """
    return _equal.bind(*binary_operands("equal", x, y))


def not_equal(x, y, name=None):
    """x != y elementwise, as a bool tensor.

    >>> import tensorflux as tf
    >>> tf.not_equal([1, 2], 2).numpy().tolist()
    [True, False]
    """
    return _not_equal.bind(*binary_operands("not_equal", x, y))


def less(x, y, name=None):
    """x < y elementwise.

    >>> import tensorflux as tf
    >>> tf.less([1, 2], 2).numpy().tolist()
    [True, False]
    """
    out = _fast_binary(_less, x, y, "iufc")
    if out is not None:
        return out
    return _less.bind(*_binary("less", x, y))


def less_equal(x, y, name=None):
    """x <= y elementwise.

    >>> import tensorflux as tf
    >>> tf.less_equal([1, 3], 2).numpy().tolist()
    [True, False]
    """
    out = _fast_binary(_less_equal, x, y, "iufc")
    if out is not None:
        return out
    return _less_equal.bind(*_binary("less_equal", x, y))


def greater(x, y, name=None):
    """x > y elementwise.

    >>> import tensorflux as tf
    >>> tf.greater([1, 3], 2).numpy().tolist()
    [False, True]
    """
    out = _fast_binary(_greater, x, y, "iufc")
    if out is not None:
        return out
    return _greater.bind(*_binary("greater", x, y))


def greater_equal(x, y, name=None):
    """x >= y elementwise.

    >>> import tensorflux as tf
    >>> tf.greater_equal([1, 2], 2).numpy().tolist()
    [False, True]
    """
    out = _fast_binary(_greater_equal, x, y, "iufc")
    if out is not None:
        return out
    return _greater_equal.bind(*_binary("greater_equal", x, y))


_logical_and = _comparison("logical_and")
_logical_or = _comparison("logical_or")
_logical_xor = _comparison("logical_xor")
_logical_not = Primitive("logical_not", shape_rule=predicate_rule)
_bitwise_not = Primitive("bitwise_not", shape_rule=unary_rule)


def logical_and(x, y, name=None):
    """x AND y elementwise on bool tensors.

    >>> import tensorflux as tf
    >>> tf.logical_and([True, True], [True, False]).numpy().tolist()
    [True, False]
    """
    return _logical_and.bind(*_binary("logical_and", x, y, allowed="is_bool"))


def logical_or(x, y, name=None):
    """x OR y elementwise on bool tensors.

    >>> import tensorflux as tf
    >>> tf.logical_or([False, False], [True, False]).numpy().tolist()
    [True, False]
    """
    return _logical_or.bind(*_binary("logical_or", x, y, allowed="is_bool"))


def logical_xor(x, y, name=None):
    """x XOR y elementwise on bool tensors.

    >>> import tensorflux as tf
    >>> tf.math.logical_xor([True, True], [True, False]).numpy().tolist()
    [False, True]
    """
    return _logical_xor.bind(*_binary("logical_xor", x, y, allowed="is_bool"))


def logical_not(x, name=None):
    """NOT x elementwise on a bool tensor.

    >>> import tensorflux as tf
    >>> tf.logical_not([True, False]).numpy().tolist()
    [False, True]
    """
    return _logical_not.bind(_operand("logical_not", x, "is_bool"))


def invert(x, name=None):
    """`~x`: logical NOT for bool tensors, bitwise NOT for integers.

    >>> import tensorflux as tf
    >>> (~tf.constant([True])).numpy().tolist()
    [False]
    """
    x = as_operand("invert", x)
    if x.dtype.is_bool:
        return _logical_not.bind(x)
    if not x.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"invert: expected a bool or integer tensor, received {x.dtype.name}", "invert")
    return _bitwise_not.bind(x)


# is_nan / is_finite / is_inf: bool tests on float tensors.
_is_nan = Primitive("is_nan", shape_rule=predicate_rule)
_is_finite = Primitive("is_finite", shape_rule=predicate_rule)
_is_inf = Primitive("is_inf", shape_rule=predicate_rule)


def is_nan(x, name=None):
    """True where x is NaN.

    >>> import tensorflux as tf
    >>> tf.math.is_nan([1.0, float("nan")]).numpy().tolist()
    [False, True]
    """
    return _is_nan.bind(_operand("is_nan", x, "is_floating"))


def is_finite(x, name=None):
    """True where x is neither inf nor NaN.

    >>> import tensorflux as tf
    >>> tf.math.is_finite([1.0, float("inf")]).numpy().tolist()
    [True, False]
    """
    return _is_finite.bind(_operand("is_finite", x, "is_floating"))


def is_inf(x, name=None):
    """True where x is +inf or -inf.

    >>> import tensorflux as tf
    >>> tf.math.is_inf([1.0, float("-inf")]).numpy().tolist()
    [False, True]
    """
    return _is_inf.bind(_operand("is_inf", x, "is_floating"))


def _where_rule(condition, x, y, **attrs):
    from tensorflux.ops._core import broadcast_shapes

    return aval(broadcast_shapes("where", condition.shape, x.shape, y.shape), x.dtype)


def _where_vjp(g, condition, x, y, out, wanted=(False, True, True)):
    zero = const(0, g)  # (broadcast to g's shape, the output's, as in _select_grads)
    return (None, where(condition, g, zero) if wanted[1] else None,
            where(condition, zero, g) if wanted[2] else None)


# select: where(condition, x, y) with broadcasting; the cotangent follows the choice.
_select = Primitive("select", vjp=_where_vjp, shape_rule=_where_rule, vjp_wanted=True)


def where(condition, x=None, y=None, name=None):
    """where(c, x, y) picks x where c is True else y (broadcasting); where(c) gives the
    indices of the True entries as an int64 [n, rank] tensor.

    >>> import tensorflux as tf
    >>> tf.where([True, False], 1.0, 2.0).numpy().tolist()
    [1.0, 2.0]
    >>> tf.where([False, True]).numpy().tolist()
    [[1]]
    """
    if (condition.__class__ is Tensor and x.__class__ is Tensor and y.__class__ is Tensor
            and _select._backend is context.eager_backend):
        # Eager fast path (see Primitive.__init__): a bool condition and two tensors of one
        # dtype; the kernel refuses shapes that do not broadcast, as the checks below do.
        cv, xv, yv = condition._value, x._value, y._value
        if cv.dtype.kind == "b" and xv.dtype is yv.dtype:
            try:
                value = _select._kernel_fn(cv, xv, yv)
            except Exception:  # noqa: BLE001 - the ordinary path reports the error
                pass
            else:
                return _select._fast_result(value, (condition, x, y), {})
    condition = as_operand("where", condition)
    if x is None and y is None:
        from tensorflux.ops import array

        return array.where_indices(condition)
    if x is None or y is None:
        raise errors.InvalidArgumentError("where: x and y must both be given, or neither",
                                          "where")
    if not condition.dtype.is_bool:
        raise errors.InvalidArgumentError(
            f"where: the condition must be bool, received {condition.dtype.name}", "where")
    x, y = binary_operands("where", x, y)
    cs, xs, ys = condition.shape, x.shape, y.shape
    if not cs == xs == ys:
        from tensorflux.ops._core import broadcast_shapes

        broadcast_shapes("where", cs, xs, ys)  # raises naming `where` and the three shapes
    return _select.bind(condition, x, y)


# ------------------------------------------------------------------ dtype conversion

def _cast_vjp(g, x, out, dtype):
    if not x.dtype.is_differentiable:
        return (None,)
    if x.dtype.is_floating and g.dtype.is_complex:
        g = real(g)
    return (_cast.bind(g, dtype=x.dtype),)


# cast: converts dtype; the cotangent is cast back (integer inputs get none).
_cast = Primitive("cast", vjp=_cast_vjp,
                  shape_rule=lambda x, dtype: aval(x.shape, dtype))


def cast(x, dtype, name=None):
    """Converts x to `dtype` (float to int truncates toward zero, as in TensorFlow).

    >>> import tensorflux as tf
    >>> tf.cast([1.7, -1.7], tf.int32).numpy().tolist()
    [1, -1]
    """
    if x.__class__ is Tensor and _cast._backend is context.eager_backend:
        # Eager fast path (see Primitive.__init__): a plain Tensor, not complex.
        dtype = dtypes.as_dtype(dtype)
        if x.dtype is dtype:
            return x
        value = x._value
        if value.dtype.kind != "c":
            try:
                result = _cast._kernel_fn(value, dtype=dtype)
            except Exception:  # noqa: BLE001 - the ordinary path reports the error
                pass
            else:
                return _cast._fast_result(result, (x,), {"dtype": dtype})
    dtype = dtypes.as_dtype(dtype)
    if isinstance(x, _TensorLike) and x.dtype is dtype:
        return unchanged(x)
    if not isinstance(x, _TensorLike):
        if isinstance(x, CompositeTensor):  # SparseTensor / RaggedTensor: cast their values
            return x._dispatch("cast", x, dtype)
        x = as_operand("cast", x)
        if x.dtype is dtype:
            return x
    if x.dtype.is_complex and not dtype.is_complex:
        x = real(x)
    return _cast.bind(x, dtype=dtype)


def saturate_cast(value, dtype, name=None):
    """Casts, clamping values to the target dtype's range first.

    >>> import tensorflux as tf
    >>> tf.saturate_cast([300.0, -5.0], tf.uint8).numpy().tolist()
    [255, 0]
    """
    dtype = dtypes.as_dtype(dtype)
    value = as_operand("saturate_cast", value)
    if value.dtype.is_complex and not dtype.is_complex:
        value = real(value)
    if (dtype.is_integer or dtype.is_floating) and (value.dtype.is_floating
                                                    or value.dtype.is_integer):
        low = builtins.max(dtype.min, value.dtype.min)
        high = builtins.min(dtype.max, value.dtype.max)
        if value.dtype.is_integer:
            low, high = int(low), int(high)
        elif dtype.is_integer:
            # int32.max becomes 2**31 in float32, which overflows the cast: clamp below it.
            high = _float_at_most(high, value.dtype)
        value = clip_by_value(value, low, high)
    return cast(value, dtype)


def _float_at_most(bound, dtype):
    """The largest value of a float dtype that is <= the integer `bound` (bound > 0)."""
    fmt, bits = {2: ("e", "H"), 4: ("f", "I"), 8: ("d", "Q")}[dtype.itemsize]
    pattern = struct.unpack(bits, struct.pack(fmt, float(bound)))[0]
    value = struct.unpack(fmt, struct.pack(bits, pattern))[0]
    if value > bound:  # rounded up: step to the next float below (positive floats)
        value = struct.unpack(fmt, struct.pack(bits, pattern - 1))[0]
    return value


# ------------------------------------------------------------------ small helpers for VJPs

def const(value, like):
    """A scalar constant of `like`'s dtype (used inside gradient rules)."""
    return const_like(value, like.dtype)


def zeros_like_(x):
    return _array.zeros_like(x)


def ones_like_(x):
    return _array.ones_like(x)
