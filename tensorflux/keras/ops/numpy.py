"""keras.ops.numpy: NumPy-style ops (Keras 3's names, arguments, defaults and dtype rules),
each written with tensorflux ops."""

import builtins

import tensorflux as tf
from tensorflux.keras import backend
from tensorflux.keras.ops._dispatch import (
    convert,
    float_operand,
    keras_op,
    promote,
    result_type,
    static_shape,
)

_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046
_SMALL_INTS = ("bool", "int8", "int16", "uint8", "uint16")


def _axes(axis):
    return list(axis) if isinstance(axis, (tuple, list)) else axis


def _rank(x):
    return len(static_shape(x))


def _positive_axis(axis, rank):
    return axis + rank if axis < 0 else axis


def _flatten(x):
    return tf.reshape(x, [-1])


def _dim(x, axis):
    dim = static_shape(x)[axis]
    return tf.shape(x)[axis] if dim is None else dim


def _dtype_or_floatx(dtype):
    return backend.standardize_dtype(dtype or backend.floatx())


# ---------------------------------------------------------------------- elementwise, binary
def _binary(tf_fn):
    def op(x1, x2):
        x1, x2 = promote(x1, x2)
        return tf_fn(x1, x2)

    return op


def _comparison(tf_fn):
    def op(x1, x2):
        x1, x2 = promote(x1, x2)
        return tf_fn(x1, x2)

    return op


@keras_op
def add(x1, x2):
    """x1 + x2 with Keras's dtype promotion (int32 + float32 is float32).

    >>> from tensorflux.keras import ops
    >>> ops.add(ops.ones((2,), "int32"), ops.ones((2,))).dtype.name
    'float32'
    """
    return _binary(tf.add)(x1, x2)


@keras_op
def subtract(x1, x2):
    return _binary(tf.subtract)(x1, x2)


@keras_op
def multiply(x1, x2):
    return _binary(tf.multiply)(x1, x2)


@keras_op
def divide(x1, x2):
    """x1 / x2 in floating point (ints divide to floatx)."""
    dtype = result_type(x1, x2, float)
    return tf.math.truediv(convert(x1, dtype), convert(x2, dtype))


true_divide = keras_op(divide.__wrapped__)
true_divide.__name__ = "true_divide"


@keras_op
def divide_no_nan(x1, x2):
    dtype = result_type(x1, x2, float)
    return tf.math.divide_no_nan(convert(x1, dtype), convert(x2, dtype))


@keras_op
def floor_divide(x1, x2):
    return _binary(tf.math.floordiv)(x1, x2)


@keras_op
def mod(x1, x2):
    return _binary(tf.math.floormod)(x1, x2)


@keras_op
def power(x1, x2):
    return _binary(tf.pow)(x1, x2)


@keras_op
def maximum(x1, x2):
    return _binary(tf.maximum)(x1, x2)


@keras_op
def minimum(x1, x2):
    return _binary(tf.minimum)(x1, x2)


@keras_op
def arctan2(x1, x2):
    dtype = result_type(x1, x2, float)
    return tf.math.atan2(convert(x1, dtype), convert(x2, dtype))


@keras_op
def logaddexp(x1, x2):
    """log(exp(x1) + exp(x2)), computed without overflow."""
    dtype = result_type(x1, x2, float)
    x1, x2 = convert(x1, dtype), convert(x2, dtype)
    return tf.maximum(x1, x2) + tf.math.log1p(tf.exp(-tf.abs(x1 - x2)))


@keras_op
def equal(x1, x2):
    return _comparison(tf.equal)(x1, x2)


@keras_op
def not_equal(x1, x2):
    return _comparison(tf.not_equal)(x1, x2)


@keras_op
def greater(x1, x2):
    return _comparison(tf.greater)(x1, x2)


@keras_op
def greater_equal(x1, x2):
    return _comparison(tf.greater_equal)(x1, x2)


@keras_op
def less(x1, x2):
    return _comparison(tf.less)(x1, x2)


@keras_op
def less_equal(x1, x2):
    return _comparison(tf.less_equal)(x1, x2)


def _bool(x):
    return convert(x, "bool")


@keras_op
def logical_and(x1, x2):
    return tf.logical_and(_bool(x1), _bool(x2))


@keras_op
def logical_or(x1, x2):
    return tf.logical_or(_bool(x1), _bool(x2))


@keras_op
def logical_xor(x1, x2):
    return tf.math.logical_xor(_bool(x1), _bool(x2))


@keras_op
def logical_not(x):
    return tf.logical_not(_bool(x))


@keras_op
def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """|x1 - x2| <= atol + rtol * |x2|, elementwise."""
    x1, x2 = promote(x1, x2)
    if not x1.dtype.is_floating:
        return tf.equal(x1, x2)
    close = tf.less_equal(tf.abs(x1 - x2), atol + rtol * tf.abs(x2))
    close = tf.logical_or(close, tf.equal(x1, x2))  # equal infinities
    if equal_nan:
        close = tf.logical_or(close, tf.logical_and(tf.math.is_nan(x1), tf.math.is_nan(x2)))
    return close


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    return all(isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan))


# ---------------------------------------------------------------------- elementwise, unary
def _same_dtype_unary(tf_fn, name, doc=None):
    def op(x):
        return tf_fn(convert(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return keras_op(op)


def _float_unary(tf_fn, name, doc=None):
    def op(x):
        return tf_fn(float_operand(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return keras_op(op)


abs = _same_dtype_unary(tf.abs, "abs", "|x|, elementwise.")  # noqa: A001 - Keras's name
absolute = _same_dtype_unary(tf.abs, "absolute", "|x|, elementwise.")
negative = _same_dtype_unary(tf.negative, "negative", "-x, elementwise.")
square = _same_dtype_unary(tf.square, "square", "x * x, elementwise.")
sign = _same_dtype_unary(tf.sign, "sign", "-1, 0 or 1 by the sign of x.")
sqrt = _float_unary(tf.sqrt, "sqrt", "The square root of x (ints give floatx).")
exp = _float_unary(tf.exp, "exp")
expm1 = _float_unary(tf.math.expm1, "expm1")
log = _float_unary(tf.math.log, "log")
log1p = _float_unary(tf.math.log1p, "log1p")
sin = _float_unary(tf.sin, "sin")
cos = _float_unary(tf.cos, "cos")
tan = _float_unary(tf.math.tan, "tan")
tanh = _float_unary(tf.tanh, "tanh")
sinh = _float_unary(tf.math.sinh, "sinh")
cosh = _float_unary(tf.math.cosh, "cosh")
arcsin = _float_unary(tf.math.asin, "arcsin")
arccos = _float_unary(tf.math.acos, "arccos")
arctan = _float_unary(tf.math.atan, "arctan")
reciprocal = _float_unary(tf.math.reciprocal, "reciprocal", "1 / x (ints give floatx).")
floor = _float_unary(tf.floor, "floor")
ceil = _float_unary(tf.math.ceil, "ceil")
real = _same_dtype_unary(tf.math.real, "real")
imag = _same_dtype_unary(tf.math.imag, "imag")
conj = _same_dtype_unary(tf.math.conj, "conj")
conjugate = _same_dtype_unary(tf.math.conj, "conjugate")
copy = _same_dtype_unary(tf.identity, "copy")


@keras_op
def log2(x):
    return tf.math.log(float_operand(x)) / _LN2


@keras_op
def log10(x):
    return tf.math.log(float_operand(x)) / _LN10


@keras_op
def exp2(x):
    x = float_operand(x)
    return tf.exp(x * _LN2)


@keras_op
def round(x, decimals=0):  # noqa: A001 - Keras's name
    """x rounded to `decimals` places, halves to even.

    >>> from tensorflux.keras import ops
    >>> ops.round([0.5, 1.5, 2.26], decimals=0).numpy().tolist()
    [0.0, 2.0, 2.0]
    """
    x = convert(x)
    if not x.dtype.is_floating:
        if decimals >= 0:
            return x
        factor = 10 ** (-decimals)
        return tf.cast(tf.round(tf.cast(x, "float32") / factor) * factor, x.dtype)
    if decimals == 0:
        return tf.round(x)
    factor = 10.0 ** decimals
    return tf.round(x * factor) / factor


@keras_op
def trunc(x):
    """x rounded toward zero."""
    x = convert(x)
    if not x.dtype.is_floating:
        return x
    return tf.where(x < 0.0, tf.math.ceil(x), tf.floor(x))


@keras_op
def clip(x, x_min, x_max):
    """x limited to [x_min, x_max] (bool inputs become int32)."""
    x = convert(x)
    if x.dtype.name == "bool":
        x = tf.cast(x, "int32")
    return tf.clip_by_value(x, convert(x_min, x.dtype), convert(x_max, x.dtype))


def _float_predicate(tf_fn, integer_answer, name):
    def op(x):
        x = convert(x)
        if not (x.dtype.is_floating or x.dtype.is_complex):
            return tf.fill(tf.shape(x), integer_answer)
        return tf_fn(x)

    op.__name__ = op.__qualname__ = name
    return keras_op(op)


isnan = _float_predicate(tf.math.is_nan, False, "isnan")
isinf = _float_predicate(tf.math.is_inf, False, "isinf")
isfinite = _float_predicate(tf.math.is_finite, True, "isfinite")


@keras_op
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """x with NaN, +inf and -inf replaced (by default with 0 and the dtype's extremes)."""
    x = convert(x)
    if not x.dtype.is_floating:
        return x
    posinf = x.dtype.max if posinf is None else posinf
    neginf = x.dtype.min if neginf is None else neginf
    x = tf.where(tf.math.is_nan(x), convert(nan, x.dtype), x)
    x = tf.where(tf.logical_and(tf.math.is_inf(x), x > 0.0), convert(posinf, x.dtype), x)
    return tf.where(tf.logical_and(tf.math.is_inf(x), x < 0.0), convert(neginf, x.dtype), x)


@keras_op
def where(condition, x1=None, x2=None):
    """x1 where condition holds, else x2; with neither, the indices where it holds.

    >>> from tensorflux.keras import ops
    >>> ops.where([True, False], 1.0, 0).numpy().tolist()
    [1.0, 0.0]
    """
    if x1 is None and x2 is None:
        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ValueError("where: `x1` and `x2` must be given together (or neither).")
    x1, x2 = promote(x1, x2)
    return tf.where(_bool(condition), x1, x2)


@keras_op
def select(condlist, choicelist, default=0):
    """The choice of the first true condition, elementwise, else `default`."""
    dtype = result_type(*choicelist, default)
    result = convert(default, dtype)
    for condition, choice in zip(reversed(condlist), reversed(choicelist)):
        result = tf.where(_bool(condition), convert(choice, dtype), result)
    return result


@keras_op
def nonzero(x):
    """A tuple of index vectors (one per axis) of the nonzero entries of x."""
    x = convert(x)
    indices = tf.where(tf.not_equal(x, tf.zeros_like(x)))
    return tuple(tf.cast(indices[:, i], "int32") for i in range(_rank(x)))


# ---------------------------------------------------------------------- reductions
def _int_accumulator(x):
    """Keras sums and multiplies small ints and bools in int32."""
    if x.dtype.name in _SMALL_INTS:
        return tf.cast(x, "uint32" if x.dtype.name.startswith("uint") else "int32")
    return x


@keras_op
def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """The sum over `axis` (all axes by default).

    >>> from tensorflux.keras import ops
    >>> ops.sum([[1, 2], [3, 4]], axis=0).numpy().tolist()
    [4, 6]
    """
    return tf.reduce_sum(_int_accumulator(convert(x)), axis=_axes(axis), keepdims=keepdims)


@keras_op
def prod(x, axis=None, keepdims=False, dtype=None):
    x = convert(x)
    x = tf.cast(x, dtype) if dtype is not None else _int_accumulator(x)
    return tf.reduce_prod(x, axis=_axes(axis), keepdims=keepdims)


@keras_op
def mean(x, axis=None, keepdims=False):
    """The mean over `axis`; ints average to floatx.

    >>> from tensorflux.keras import ops
    >>> ops.mean([1, 2]).numpy().item(), ops.mean([1, 2]).dtype.name
    (1.5, 'float32')
    """
    return tf.reduce_mean(float_operand(x), axis=_axes(axis), keepdims=keepdims)


@keras_op
def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - Keras's name
    result = tf.reduce_max(convert(x), axis=_axes(axis), keepdims=keepdims)
    if initial is not None:
        result = tf.maximum(result, convert(initial, result.dtype))
    return result


@keras_op
def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - Keras's name
    result = tf.reduce_min(convert(x), axis=_axes(axis), keepdims=keepdims)
    if initial is not None:
        result = tf.minimum(result, convert(initial, result.dtype))
    return result


amax = max
amin = min


@keras_op
def std(x, axis=None, keepdims=False):
    """The population standard deviation over `axis`."""
    return tf.math.reduce_std(float_operand(x), axis=_axes(axis), keepdims=keepdims)


@keras_op
def var(x, axis=None, keepdims=False):
    """The population variance over `axis`."""
    return tf.math.reduce_variance(float_operand(x), axis=_axes(axis), keepdims=keepdims)


@keras_op
def all(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return tf.reduce_all(_bool(x), axis=_axes(axis), keepdims=keepdims)


@keras_op
def any(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return tf.reduce_any(_bool(x), axis=_axes(axis), keepdims=keepdims)


@keras_op
def count_nonzero(x, axis=None):
    return tf.cast(tf.math.count_nonzero(convert(x), axis=_axes(axis)), "int32")


@keras_op
def average(x, axis=None, weights=None):
    """The mean of x over `axis`, weighted by `weights` when given."""
    if weights is None:
        return mean(x, axis=axis)
    dtype = result_type(x, weights, float)
    x, weights = convert(x, dtype), convert(weights, dtype)
    if axis is not None and _rank(weights) == 1 and _rank(x) > 1:
        shape = [1] * _rank(x)
        shape[axis] = -1
        weights = tf.reshape(weights, shape)
    weights = tf.broadcast_to(weights, tf.shape(x))
    return tf.reduce_sum(x * weights, axis=axis) / tf.reduce_sum(weights, axis=axis)


def _arg_reduce(tf_fn, x, axis, keepdims):
    x = convert(x)
    rank = _rank(x)
    if axis is None:
        result = tf_fn(_flatten(x), axis=0)
        if keepdims:
            result = tf.reshape(result, [1] * rank)
    else:
        result = tf_fn(x, axis=axis)
        if keepdims:
            result = tf.expand_dims(result, axis)
    return tf.cast(result, "int32")


@keras_op
def argmax(x, axis=None, keepdims=False):
    """The index of the largest entry along `axis` (of the flattened x by default)."""
    return _arg_reduce(tf.argmax, x, axis, keepdims)


@keras_op
def argmin(x, axis=None, keepdims=False):
    return _arg_reduce(tf.argmin, x, axis, keepdims)


@keras_op
def argsort(x, axis=-1):
    x = convert(x)
    if axis is None:
        x, axis = _flatten(x), 0
    return tf.cast(tf.argsort(x, axis=axis, stable=True), "int32")


@keras_op
def sort(x, axis=-1):
    x = convert(x)
    if axis is None:
        x, axis = _flatten(x), 0
    return tf.sort(x, axis=axis)


def _scan(tf_fn, x, axis, dtype):
    x = convert(x)
    x = tf.cast(x, dtype) if dtype is not None else _int_accumulator(x)
    if axis is None:
        x, axis = _flatten(x), 0
    return tf_fn(x, axis=axis)


@keras_op
def cumsum(x, axis=None, dtype=None):
    """Running sums along `axis` (of the flattened x by default)."""
    return _scan(tf.math.cumsum, x, axis, dtype)


@keras_op
def cumprod(x, axis=None, dtype=None):
    return _scan(tf.math.cumprod, x, axis, dtype)


@keras_op
def diff(a, n=1, axis=-1):
    """The n-th discrete difference along `axis`."""
    a = convert(a)
    rank = _rank(a)
    axis = _positive_axis(axis, rank)
    for _ in range(n):
        head = [builtins.slice(None)] * rank
        tail = [builtins.slice(None)] * rank
        head[axis], tail[axis] = builtins.slice(1, None), builtins.slice(None, -1)
        a = a[tuple(head)] - a[tuple(tail)]
    return a


# ---------------------------------------------------------------------- products
@keras_op
def matmul(x1, x2):
    """The matrix product, with NumPy's rules for 1-D operands and batch broadcasting."""
    x1, x2 = promote(x1, x2)
    r1, r2 = _rank(x1), _rank(x2)
    if r1 == 1:
        x1 = tf.expand_dims(x1, 0)
    if r2 == 1:
        x2 = tf.expand_dims(x2, -1)
    out = tf.matmul(x1, x2)
    if r1 == 1:
        out = tf.squeeze(out, -1 if r2 == 1 else -2)
        if r2 == 1:
            out = tf.squeeze(out, -1)
    elif r2 == 1:
        out = tf.squeeze(out, -1)
    return out


@keras_op
def dot(x1, x2):
    """NumPy's dot: sums over the last axis of x1 and the second-to-last of x2."""
    x1, x2 = promote(x1, x2)
    r1, r2 = _rank(x1), _rank(x2)
    if r1 == 0 or r2 == 0:
        return x1 * x2
    return tf.tensordot(x1, x2, [[r1 - 1], [builtins.max(r2 - 2, 0)]])


@keras_op
def tensordot(x1, x2, axes=2):
    x1, x2 = promote(x1, x2)
    return tf.tensordot(x1, x2, axes)


@keras_op
def inner(x1, x2):
    x1, x2 = promote(x1, x2)
    r1, r2 = _rank(x1), _rank(x2)
    if r1 == 0 or r2 == 0:
        return x1 * x2
    return tf.tensordot(x1, x2, [[r1 - 1], [r2 - 1]])


@keras_op
def vdot(x1, x2):
    x1, x2 = promote(x1, x2)
    return tf.reduce_sum(tf.math.conj(_flatten(x1)) * _flatten(x2))


@keras_op
def outer(x1, x2):
    x1, x2 = promote(x1, x2)
    return tf.reshape(x1, [-1, 1]) * tf.reshape(x2, [1, -1])


@keras_op
def einsum(subscripts, *operands, **kwargs):
    """Einstein summation; operands are promoted to one dtype first."""
    return tf.einsum(subscripts, *promote(*operands))


@keras_op
def trace(x, offset=0, axis1=0, axis2=1):
    x = _int_accumulator(convert(x))
    return tf.reduce_sum(diagonal(x, offset=offset, axis1=axis1, axis2=axis2), axis=-1)


# ---------------------------------------------------------------------- shapes
def ndim(x):
    """The number of axes of x, as a Python int."""
    return len(x.shape) if hasattr(x, "shape") else _rank(convert(x))


@keras_op
def size(x):
    """The number of entries of x."""
    return tf.size(convert(x))


@keras_op
def reshape(x, newshape):
    if isinstance(newshape, int):
        newshape = [newshape]
    return tf.reshape(convert(x), [-1 if d is None else d for d in newshape])


@keras_op
def ravel(x):
    return _flatten(convert(x))


@keras_op
def transpose(x, axes=None):
    return tf.transpose(convert(x), perm=None if axes is None else list(axes))


@keras_op
def expand_dims(x, axis):
    """x with new length-1 axes at `axis` (an int or a tuple)."""
    x = convert(x)
    if not isinstance(axis, (tuple, list)):
        return tf.expand_dims(x, axis)
    out_rank = _rank(x) + len(axis)
    for a in sorted(_positive_axis(a, out_rank) for a in axis):
        x = tf.expand_dims(x, a)
    return x


@keras_op
def squeeze(x, axis=None):
    x = convert(x)
    if isinstance(axis, int):
        axis = [axis]
    return tf.squeeze(x, axis=None if axis is None else list(axis))


@keras_op
def moveaxis(x, source, destination):
    x = convert(x)
    rank = _rank(x)
    source = [source] if isinstance(source, int) else list(source)
    destination = [destination] if isinstance(destination, int) else list(destination)
    source = [_positive_axis(a, rank) for a in source]
    destination = [_positive_axis(a, rank) for a in destination]
    order = [a for a in range(rank) if a not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return tf.transpose(x, order)


@keras_op
def swapaxes(x, axis1, axis2):
    x = convert(x)
    rank = _rank(x)
    perm = list(range(rank))
    a, b = _positive_axis(axis1, rank), _positive_axis(axis2, rank)
    perm[a], perm[b] = perm[b], perm[a]
    return tf.transpose(x, perm)


@keras_op
def broadcast_to(x, shape):
    return tf.broadcast_to(convert(x), list(shape))


@keras_op
def concatenate(xs, axis=0):
    """xs joined along `axis` (flattened first when axis is None), promoted to one dtype."""
    xs = promote(*xs)
    if axis is None:
        xs, axis = [_flatten(x) for x in xs], 0
    return tf.concat(xs, axis=axis)


@keras_op
def append(x1, x2, axis=None):
    return concatenate([x1, x2], axis=axis)


@keras_op
def stack(x, axis=0):
    return tf.stack(promote(*x), axis=axis)


@keras_op
def vstack(xs):
    xs = [x if _rank(x) >= 2 else tf.reshape(x, [1, -1]) for x in promote(*xs)]
    return tf.concat(xs, axis=0)


@keras_op
def hstack(xs):
    xs = promote(*xs)
    return tf.concat(xs, axis=0 if _rank(xs[0]) == 1 else 1)


@keras_op
def split(x, indices_or_sections, axis=0):
    """x cut along `axis` into equal sections (an int) or at the given indices (a list)."""
    x = convert(x)
    if isinstance(indices_or_sections, int):
        return tf.split(x, indices_or_sections, axis=axis)
    length = _dim(x, axis)
    bounds = [0] + [int(i) for i in indices_or_sections] + [length]
    return tf.split(x, [b - a for a, b in zip(bounds[:-1], bounds[1:])], axis=axis)


@keras_op
def tile(x, repeats):
    x = convert(x)
    repeats = [repeats] if isinstance(repeats, int) else list(repeats)
    rank = _rank(x)
    if len(repeats) > rank:
        x = tf.reshape(x, [1] * (len(repeats) - rank) + list(static_shape(x)))
    repeats = [1] * (_rank(x) - len(repeats)) + repeats
    return tf.tile(x, repeats)


@keras_op
def repeat(x, repeats, axis=None):
    return tf.repeat(convert(x), repeats, axis=axis)


@keras_op
def flip(x, axis=None):
    x = convert(x)
    if axis is None:
        axis = list(range(_rank(x)))
    elif isinstance(axis, int):
        axis = [axis]
    return tf.reverse(x, list(axis))


@keras_op
def roll(x, shift, axis=None):
    """x shifted circularly by `shift` along `axis` (of the flattened x by default)."""
    x = convert(x)
    if axis is None:
        return tf.reshape(roll(_flatten(x), shift, 0), tf.shape(x))
    shifts = [shift] if isinstance(shift, int) else list(shift)
    axes = [axis] if isinstance(axis, int) else list(axis)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    for s, a in zip(shifts, axes):
        n = _dim(x, a)
        index = tf.math.floormod(tf.range(n) - s, n)
        x = tf.gather(x, index, axis=a)
    return x


@keras_op
def pad(x, pad_width, mode="constant", constant_values=None):
    """x padded by `pad_width` (an int, a (before, after) pair or one pair per axis)."""
    x = convert(x)
    rank = _rank(x)
    if isinstance(pad_width, int):
        pairs = [[pad_width, pad_width]] * rank
    else:
        pad_width = [list(p) if isinstance(p, (tuple, list)) else p for p in pad_width]
        if builtins.all(isinstance(p, int) for p in pad_width):
            pairs = [list(pad_width)] * rank
        elif len(pad_width) == 1:
            pairs = [pad_width[0]] * rank
        else:
            pairs = pad_width
    modes = {"constant": "CONSTANT", "reflect": "REFLECT", "symmetric": "SYMMETRIC"}
    if mode not in modes:
        raise ValueError(f"pad: `mode` must be one of {sorted(modes)}; received mode={mode!r}")
    if constant_values is not None and mode != "constant":
        raise ValueError("pad: `constant_values` is only used with mode='constant'; "
                         f"received mode={mode!r}")
    value = 0 if constant_values is None else constant_values
    return tf.pad(x, pairs, mode=modes[mode], constant_values=value)


@keras_op
def take(x, indices, axis=None):
    """Entries of x at `indices` along `axis` (of the flattened x by default); negative
    indices count from the end."""
    x = convert(x)
    indices = convert(indices)
    if not indices.dtype.is_integer:
        indices = tf.cast(indices, "int32")
    if axis is None:
        x, axis = _flatten(x), 0
    n = tf.cast(_dim(x, axis), indices.dtype)
    indices = tf.where(indices < tf.zeros_like(indices), indices + n, indices)
    return tf.gather(x, indices, axis=axis)


@keras_op
def take_along_axis(x, indices, axis=None):
    """NumPy's take_along_axis: picks entries of x along `axis` at matching `indices`."""
    x = convert(x)
    indices = convert(indices)
    if axis is None:
        x, indices, axis = _flatten(x), _flatten(indices), 0
    rank = _rank(x)
    axis = _positive_axis(axis, rank)
    n = static_shape(x)[axis]
    indices = tf.where(indices < tf.zeros_like(indices), indices + n, indices)
    x_shape, i_shape = list(static_shape(x)), list(static_shape(indices))
    batch = [builtins.max(a, b) for i, (a, b) in enumerate(zip(x_shape, i_shape)) if i != axis]
    x_full = batch[:axis] + [x_shape[axis]] + batch[axis:]
    i_full = batch[:axis] + [i_shape[axis]] + batch[axis:]
    x = moveaxis(tf.broadcast_to(x, x_full), axis, -1)
    indices = moveaxis(tf.broadcast_to(indices, i_full), axis, -1)
    picked = tf.gather(tf.reshape(x, [-1, x_full[axis]]),
                       tf.reshape(indices, [-1, i_full[axis]]), batch_dims=1)
    picked = tf.reshape(picked, batch + [i_full[axis]])
    return moveaxis(picked, -1, axis)


@keras_op
def get_item(x, key):
    return convert(x)[key]


# ---------------------------------------------------------------------- matrices
def _grid(rows, cols, k):
    """cols - rows - k for a rows x cols grid, as int32."""
    return tf.expand_dims(tf.range(cols), 0) - tf.expand_dims(tf.range(rows), 1) - k


@keras_op
def tril(x, k=0):
    """x with the entries above the k-th diagonal zeroed."""
    x = convert(x)
    keep = _grid(_dim(x, -2), _dim(x, -1), k) <= 0
    return tf.where(keep, x, tf.zeros_like(x))


@keras_op
def triu(x, k=0):
    """x with the entries below the k-th diagonal zeroed."""
    x = convert(x)
    keep = _grid(_dim(x, -2), _dim(x, -1), k) >= 0
    return tf.where(keep, x, tf.zeros_like(x))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's names
    """An N x M matrix with ones on the k-th diagonal.

    >>> from tensorflux.keras import ops
    >>> ops.eye(2, 3, k=1).numpy().tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    return tf.cast(tf.equal(_grid(N, N if M is None else M, k), 0), _dtype_or_floatx(dtype))


def identity(n, dtype=None):
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's names
    return tf.cast(_grid(N, N if M is None else M, k) <= 0, _dtype_or_floatx(dtype))


@keras_op
def diag(x, k=0):
    """A matrix with x (1-D) on its k-th diagonal, or the k-th diagonal of x (2-D)."""
    x = convert(x)
    if _rank(x) == 1:
        return tf.linalg.diag(x, k=k)
    if _rank(x) != 2:
        raise ValueError(f"diag: `x` must be 1-D or 2-D, received shape {static_shape(x)}")
    return tf.linalg.diag_part(x, k=k)


@keras_op
def diagonal(x, offset=0, axis1=0, axis2=1):
    x = moveaxis(convert(x), [axis1, axis2], [-2, -1])
    return tf.linalg.diag_part(x, k=offset)


# ---------------------------------------------------------------------- creation
def _shape_arg(shape):
    return [shape] if isinstance(shape, int) else list(shape)


def zeros(shape, dtype=None):
    """A tensor of zeros (floatx by default)."""
    return tf.zeros(_shape_arg(shape), dtype=_dtype_or_floatx(dtype))


def ones(shape, dtype=None):
    return tf.ones(_shape_arg(shape), dtype=_dtype_or_floatx(dtype))


empty = zeros


def full(shape, fill_value, dtype=None):
    """A tensor of `shape` filled with `fill_value` (floatx unless `dtype` is given)."""
    dtype = _dtype_or_floatx(dtype)
    return tf.broadcast_to(convert(fill_value, dtype), _shape_arg(shape))


@keras_op
def zeros_like(x, dtype=None):
    x = convert(x)
    return tf.zeros_like(x, dtype=backend.standardize_dtype(dtype) if dtype else None)


@keras_op
def ones_like(x, dtype=None):
    x = convert(x)
    return tf.ones_like(x, dtype=backend.standardize_dtype(dtype) if dtype else None)


empty_like = zeros_like


@keras_op
def full_like(x, fill_value, dtype=None):
    x = convert(x)
    dtype = backend.standardize_dtype(dtype) if dtype else x.dtype.name
    return tf.broadcast_to(convert(fill_value, dtype), tf.shape(x))


def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in [start, stop); int32 for int arguments, else floatx.

    >>> from tensorflux.keras import ops
    >>> ops.arange(3).numpy().tolist(), ops.arange(0, 1, 0.5).numpy().tolist()
    ([0, 1, 2], [0.0, 0.5])
    """
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    if dtype is None:
        dtype = result_type(*(v for v in (start, stop, step)))
    return tf.range(start, stop, step, dtype=backend.standardize_dtype(dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """`num` evenly spaced values from start to stop (stop excluded when not `endpoint`)."""
    dtype = _dtype_or_floatx(dtype)
    compute = dtype if dtype.startswith("float") else backend.floatx()
    start, stop = convert(start, compute), convert(stop, compute)
    divisions = (num - 1) if endpoint else num
    step = (stop - start) / float(builtins.max(divisions, 1))
    if endpoint:
        values = tf.linspace(start, stop, num, axis=axis)
    else:
        values = tf.linspace(start, stop - step, num, axis=axis) if num > 1 else \
            tf.linspace(start, start, num, axis=axis)
    values = tf.cast(values, dtype)
    return (values, step) if retstep else values


def meshgrid(*x, indexing="xy"):
    """Coordinate grids from 1-D vectors ("xy": Cartesian, "ij": matrix indexing)."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: `indexing` must be 'xy' or 'ij'; received {indexing!r}")
    vectors = [_flatten(convert(v)) for v in x]
    count = len(vectors)
    sizes = [static_shape(v)[0] for v in vectors]
    positions = list(range(count))
    if indexing == "xy" and count >= 2:
        positions[0], positions[1] = 1, 0
        sizes[0], sizes[1] = sizes[1], sizes[0]
    grids = []
    for vector, position in zip(vectors, positions):
        shape = [1] * count
        shape[position] = -1
        grids.append(tf.broadcast_to(tf.reshape(vector, shape), sizes))
    return grids


__all__ = [name for name, value in list(globals().items())
           if not name.startswith("_") and callable(value)
           and getattr(value, "__module__", None) == __name__]
