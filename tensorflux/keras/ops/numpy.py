"""keras.ops.numpy: NumPy-style ops (Keras 3's names, arguments, defaults and dtype rules),
each written with tensorflux ops."""

import builtins

import tensorflux as tf
from tensorflux.keras import backend
from tensorflux.keras.engine.keras_tensor import any_symbolic_tensors
from tensorflux.keras.ops._dispatch import (
    convert,
    float_operand,
    keras_op,
    promote,
    result_type,
    static_shape,
)
from tensorflux.ops import bitwise as tf_bitwise

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
    """log(exp(x1) + exp(x2)), computed without overflow; the same infinity twice gives
    that infinity, and ties split the gradient evenly."""
    dtype = result_type(x1, x2, float)
    x1, x2 = convert(x1, dtype), convert(x2, dtype)
    # Shifting by the (constant) larger operand avoids overflow; an infinite shift would
    # make inf - inf, so infinities shift by 0 and come through exp/log unchanged.
    shift = tf.stop_gradient(tf.maximum(x1, x2))
    shift = tf.where(tf.math.is_finite(shift), shift, tf.zeros_like(shift))
    return shift + tf.math.log(tf.exp(x1 - shift) + tf.exp(x2 - shift))


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


def _abs(x):
    return x if x.dtype.is_bool else tf.abs(x)


def _square(x):
    # Keras squares bools as int32 (True * True is 1).
    return tf.square(tf.cast(x, "int32") if x.dtype.is_bool else x)


abs = _same_dtype_unary(_abs, "abs", "|x|, elementwise (bools unchanged).")  # noqa: A001
absolute = _same_dtype_unary(_abs, "absolute", "|x|, elementwise (bools unchanged).")
negative = _same_dtype_unary(tf.negative, "negative", "-x, elementwise.")
square = _same_dtype_unary(_square, "square", "x * x, elementwise (bools give int32).")
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
    """The largest entry over `axis` (for bools: whether any is True)."""
    x = convert(x)
    if x.dtype.is_bool:
        result = tf.reduce_any(x, axis=_axes(axis), keepdims=keepdims)
        return result if initial is None else tf.logical_or(result, convert(initial, "bool"))
    result = tf.reduce_max(x, axis=_axes(axis), keepdims=keepdims)
    if initial is not None:
        result = tf.maximum(result, convert(initial, result.dtype))
    return result


@keras_op
def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001 - Keras's name
    """The smallest entry over `axis` (for bools: whether all are True)."""
    x = convert(x)
    if x.dtype.is_bool:
        result = tf.reduce_all(x, axis=_axes(axis), keepdims=keepdims)
        return result if initial is None else tf.logical_and(result, convert(initial, "bool"))
    result = tf.reduce_min(x, axis=_axes(axis), keepdims=keepdims)
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
    if x.dtype.is_bool:
        x = tf.cast(x, "int32")
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
    if x.dtype.is_bool:
        x = tf.cast(x, "uint8")
    if axis is None:
        x, axis = _flatten(x), 0
    return tf.cast(tf.argsort(x, axis=axis, stable=True), "int32")


@keras_op
def sort(x, axis=-1):
    x = convert(x)
    if axis is None:
        x, axis = _flatten(x), 0
    if x.dtype.is_bool:  # False before True
        return tf.cast(tf.sort(tf.cast(x, "uint8"), axis=axis), "bool")
    return tf.sort(x, axis=axis)


def _scan(tf_fn, x, axis, dtype):
    # Unlike sum, Keras's running sums keep small int dtypes; only bools become int32.
    x = convert(x)
    if dtype is not None or x.dtype.is_bool:
        x = tf.cast(x, dtype or "int32")
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
        if a.dtype.is_bool:  # NumPy's bool difference: whether neighbours differ
            a = tf.not_equal(a[tuple(head)], a[tuple(tail)])
        else:
            a = a[tuple(head)] - a[tuple(tail)]
    return a


# ---------------------------------------------------------------------- products
def _is_int8(x):
    dtype = getattr(x, "dtype", None)  # (Python values never convert to int8)
    return dtype is not None and getattr(dtype, "name", dtype) == "int8"


def _product_operands(x1, x2, widen_int8=False):
    """(x1, x2, finish) for a sum of products, as Keras: bools sum in int32 and `finish`
    turns the sums back into bools (any pair both True); with `widen_int8` (matmul), int8
    with int8 accumulates in int32."""
    if widen_int8 and _is_int8(x1) and _is_int8(x2):
        return tf.cast(x1, "int32"), tf.cast(x2, "int32"), _same
    x1, x2 = promote(x1, x2)
    if x1.dtype.is_bool:
        return tf.cast(x1, "int32"), tf.cast(x2, "int32"), _any_true
    return x1, x2, _same


def _same(x):
    return x


def _any_true(x):
    return tf.not_equal(x, tf.zeros_like(x))


@keras_op
def matmul(x1, x2):
    """The matrix product, with NumPy's rules for 1-D operands and batch broadcasting."""
    x1, x2, finish = _product_operands(x1, x2, widen_int8=True)
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
    return finish(out)


@keras_op
def dot(x1, x2):
    """NumPy's dot: sums over the last axis of x1 and the second-to-last of x2."""
    x1, x2, finish = _product_operands(x1, x2)
    r1, r2 = _rank(x1), _rank(x2)
    if r1 == 0 or r2 == 0:
        return finish(x1 * x2)
    return finish(tf.tensordot(x1, x2, [[r1 - 1], [builtins.max(r2 - 2, 0)]]))


@keras_op
def tensordot(x1, x2, axes=2):
    x1, x2, finish = _product_operands(x1, x2)
    return finish(tf.tensordot(x1, x2, axes))


@keras_op
def inner(x1, x2):
    x1, x2, finish = _product_operands(x1, x2)
    r1, r2 = _rank(x1), _rank(x2)
    if r1 == 0 or r2 == 0:
        return finish(x1 * x2)
    return finish(tf.tensordot(x1, x2, [[r1 - 1], [r2 - 1]]))


@keras_op
def vdot(x1, x2):
    x1, x2, finish = _product_operands(x1, x2)
    return finish(tf.reduce_sum(tf.math.conj(_flatten(x1)) * _flatten(x2)))


@keras_op
def outer(x1, x2):
    x1, x2 = promote(x1, x2)
    return tf.reshape(x1, [-1, 1]) * tf.reshape(x2, [1, -1])


@keras_op
def einsum(subscripts, *operands, **kwargs):
    """Einstein summation; operands are promoted to one dtype first (all int8 sum in
    int32, as Keras)."""
    if builtins.all(_is_int8(x) for x in operands):
        return tf.einsum(subscripts, *[tf.cast(x, "int32") for x in operands])
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
    return tf.broadcast_to(_fill_value(fill_value, dtype), _shape_arg(shape))


def _fill_value(value, dtype):
    try:
        return convert(value, dtype)
    except TypeError:  # a float into an int dtype: Keras casts it (truncating)
        return tf.cast(convert(value), dtype)


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
    return tf.broadcast_to(_fill_value(fill_value, dtype), tf.shape(x))


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


# ---------------------------------------------------------------------- elementwise, more
def _wide_float(x):
    """`x` as floating point for the ops Keras widens int64 to float64 (cbrt, i0, deg2rad)."""
    x = convert(x)
    return tf.cast(x, "float64") if x.dtype.name == "int64" else float_operand(x)


def _broadcast_pair(x1, x2):
    """x1 and x2 (of one dtype) broadcast to their common shape."""
    return x1 + tf.zeros_like(x2), x2 + tf.zeros_like(x1)


def _dtype_info(dtype):
    """(bits, signed) of an integer dtype."""
    return dtype.size * 8, not dtype.name.startswith("uint")


def _safe(condition, x, fallback):
    """x where `condition` holds, else `fallback`: an input for a branch that tf.where will
    drop, kept finite so that its gradient (zero there) does not become NaN."""
    return tf.where(condition, x, tf.cast(fallback, x.dtype))


def _sqrt_eps(dtype):
    """sqrt(machine epsilon): beyond 1 / this, x^2 + 1 rounds to x^2."""
    return {"float16": 3.1e-2, "bfloat16": 8.8e-2, "float32": 3.4e-4}.get(dtype.name, 1.5e-8)


@keras_op
def angle(x):
    """The argument of x (0 or pi for real inputs)."""
    return tf.math.angle(float_operand(x))


@keras_op
def arcsinh(x):
    """The inverse hyperbolic sine, log(x + sqrt(x^2 + 1)), computed without cancellation
    near 0 or overflow for large |x|."""
    x = float_operand(x)
    magnitude = tf.abs(x)
    large = magnitude > 1.0 / _sqrt_eps(x.dtype)
    small = _safe(tf.logical_not(large), magnitude, 1.0)
    near = tf.math.log1p(small + small * small / (1.0 + tf.sqrt(small * small + 1.0)))
    far = tf.math.log(_safe(large, magnitude, 1.0)) + _LN2
    return tf.sign(x) * tf.where(large, far, near)


@keras_op
def arccosh(x):
    """The inverse hyperbolic cosine (NaN below 1)."""
    x = float_operand(x)
    large = x > 1.0 / _sqrt_eps(x.dtype)
    small = _safe(tf.logical_not(large), x, 1.0)
    near = tf.math.log1p(small - 1.0 + tf.sqrt((small - 1.0) * (small + 1.0)))
    return tf.where(large, tf.math.log(_safe(large, x, 1.0)) + _LN2, near)


@keras_op
def arctanh(x):
    """The inverse hyperbolic tangent, 0.5 * log((1 + x) / (1 - x))."""
    x = float_operand(x)
    return 0.5 * tf.math.log1p(2.0 * x / (1.0 - x))


@keras_op
def cbrt(x):
    """The real cube root (ints give floatx, int64 gives float64)."""
    x = _wide_float(x)
    return tf.sign(x) * tf.pow(tf.abs(x), 1.0 / 3.0)


@keras_op
def deg2rad(x):
    return _wide_float(x) * (3.141592653589793 / 180.0)


@keras_op
def rad2deg(x):
    return _wide_float(x) * (180.0 / 3.141592653589793)


@keras_op
def fabs(x):
    """|x| in floating point (ints give floatx)."""
    x = convert(x)
    if x.dtype.is_complex:
        raise TypeError(f"fabs does not take complex inputs; received dtype {x.dtype.name}")
    return tf.abs(float_operand(x))


@keras_op
def sinc(x):
    """sin(pi x) / (pi x), and 1 at 0."""
    x = float_operand(x)
    zero = tf.equal(x, 0.0)
    scaled = _safe(tf.logical_not(zero), x, 1.0) * 3.141592653589793
    return tf.where(zero, tf.ones_like(x), tf.sin(scaled) / scaled)


# Chebyshev coefficients of exp(-x) I0(x) on [0, 8] and of exp(-x) sqrt(x) I0(x) on (8, inf),
# from Cephes (the expansions NumPy's i0 also uses).
_I0_NEAR = (
    -4.41534164647933937950e-18, 3.33079451882223809783e-17, -2.43127984654795469359e-16,
    1.71539128555513303061e-15, -1.16853328779934516808e-14, 7.67618549860493561688e-14,
    -4.85644678311192946090e-13, 2.95505266312963983461e-12, -1.72682629144155570723e-11,
    9.67580903537323691224e-11, -5.18979560163526290666e-10, 2.65982372468238665035e-09,
    -1.30002500998624804212e-08, 6.04699502254191894932e-08, -2.67079385394061173391e-07,
    1.11738753912010371815e-06, -4.41673835845875056359e-06, 1.64484480707288970893e-05,
    -5.75419501008210370398e-05, 1.88502885095841655729e-04, -5.76375574538582365885e-04,
    1.63947561694133579842e-03, -4.32430999505057594430e-03, 1.05464603945949983183e-02,
    -2.37374148058994688156e-02, 4.93052842396707084878e-02, -9.49010970480476444210e-02,
    1.71620901522208775349e-01, -3.04682672343198398683e-01, 6.76795274409476084995e-01)
_I0_FAR = (
    -7.23318048787475395456e-18, -4.83050448594418207126e-18, 4.46562142029675999901e-17,
    3.46122286769746109310e-17, -2.82762398051658348494e-16, -3.42548561967721913462e-16,
    1.77256013305652638360e-15, 3.81168066935262242075e-15, -9.55484669882830764870e-15,
    -4.15056934728722208663e-14, 1.54008621752140982691e-14, 3.85277838274214270114e-13,
    7.18012445138366623367e-13, -1.79417853150680611778e-12, -1.32158118404477131188e-11,
    -3.14991652796324136454e-11, 1.18891471078464383424e-11, 4.94060238822496958910e-10,
    3.39623202570838634515e-09, 2.26666899049817806459e-08, 2.04891858946906374183e-07,
    2.89137052083475648297e-06, 6.88975834691682398426e-05, 3.36911647825569408990e-03,
    8.04490411014108831608e-01)


def _chebyshev(t, coefficients):
    """The Chebyshev series sum at t, by Clenshaw's recurrence (Cephes's chbevl)."""
    b0, b1, b2 = tf.zeros_like(t), tf.zeros_like(t), tf.zeros_like(t)
    for c in coefficients:
        b2, b1 = b1, b0
        b0 = t * b1 - b2 + c
    return 0.5 * (b0 - b2)


@keras_op
def i0(x):
    """The modified Bessel function of the first kind, order 0."""
    x = _wide_float(x)
    magnitude = tf.abs(x)
    far = magnitude > 8.0
    near_x = _safe(tf.logical_not(far), magnitude, 0.0)
    far_x = _safe(far, magnitude, 9.0)
    near = tf.exp(near_x) * _chebyshev(near_x / 2.0 - 2.0, _I0_NEAR)
    away = tf.exp(far_x) * _chebyshev(32.0 / far_x - 2.0, _I0_FAR) / tf.sqrt(far_x)
    return tf.where(far, away, near)


def _float_test(tf_fn, name, doc):
    """A bool predicate that is False for every integer or bool entry."""
    def op(x):
        x = convert(x)
        if not x.dtype.is_floating:
            return tf.zeros_like(x, dtype="bool")
        return tf_fn(x)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return keras_op(op)


isneginf = _float_test(lambda x: tf.equal(x, float("-inf")), "isneginf", "True where x is -inf.")
isposinf = _float_test(lambda x: tf.equal(x, float("inf")), "isposinf", "True where x is +inf.")


@keras_op
def isreal(x):
    """True where x has no imaginary part (everywhere, for real dtypes)."""
    x = convert(x)
    if x.dtype.is_complex:
        return tf.equal(tf.math.imag(x), 0.0)
    return tf.ones_like(x, dtype="bool")


@keras_op
def signbit(x):
    """True where x is negative, -0.0 included (the sign of a NaN is not read)."""
    x = convert(x)
    if x.dtype.is_floating:
        negative_zero = tf.logical_and(tf.equal(x, 0.0), tf.math.reciprocal(
            _safe(tf.equal(x, 0.0), x, 1.0)) < 0.0)
        return tf.logical_or(x < 0.0, negative_zero)
    if x.dtype.is_bool or not _dtype_info(x.dtype)[1]:
        return tf.zeros_like(x, dtype="bool")
    return x < tf.zeros_like(x)


# ---------------------------------------------------------------------- elementwise binary, more
@keras_op
def fmax(x1, x2):
    """The elementwise maximum, ignoring a NaN when the other entry is a number."""
    return _nan_ignoring(tf.maximum, x1, x2)


@keras_op
def fmin(x1, x2):
    """The elementwise minimum, ignoring a NaN when the other entry is a number."""
    return _nan_ignoring(tf.minimum, x1, x2)


def _nan_ignoring(tf_fn, x1, x2):
    x1, x2 = promote(x1, x2)
    result = tf_fn(x1, x2)
    if x1.dtype.is_floating:
        result = tf.where(tf.math.is_nan(x1), x2, tf.where(tf.math.is_nan(x2), x1, result))
    return result


@keras_op
def fmod(x1, x2):
    """The remainder of x1 / x2 truncated toward zero: it has the sign of x1 (C's fmod)."""
    x1, x2 = promote(x1, x2)
    if x1.dtype.is_bool:
        x1, x2 = tf.cast(x1, "int32"), tf.cast(x2, "int32")
    return tf.sign(x1) * tf.math.floormod(tf.abs(x1), tf.abs(x2))


def _integer_operands(op_name, x1, x2):
    x1, x2 = promote(x1, x2)
    if not (x1.dtype.is_integer or x1.dtype.is_bool):
        raise TypeError(f"{op_name} takes integer or bool tensors; received dtype "
                        f"{x1.dtype.name}")
    return x1, x2


@keras_op
def gcd(x1, x2):
    """The greatest common divisor of |x1| and |x2| (Euclid's algorithm, elementwise)."""
    x1, x2 = _integer_operands("gcd", x1, x2)
    a, b = _broadcast_pair(tf.abs(x1), tf.abs(x2))

    def step(a, b):
        zero = tf.equal(b, tf.zeros_like(b))
        divisor = tf.where(zero, tf.ones_like(b), b)
        return tf.where(zero, a, b), tf.where(zero, b, tf.math.floormod(a, divisor))

    return tf.while_loop(lambda a, b: tf.reduce_any(tf.not_equal(b, tf.zeros_like(b))),
                         step, (a, b))[0]


@keras_op
def lcm(x1, x2):
    """The least common multiple of |x1| and |x2| (0 where either is 0)."""
    x1, x2 = _integer_operands("lcm", x1, x2)
    divisor = gcd(x1, x2)
    zero = tf.equal(divisor, tf.zeros_like(divisor))
    quotient = tf.math.floordiv(tf.abs(x1), tf.where(zero, tf.ones_like(divisor), divisor))
    return tf.where(zero, divisor, quotient * tf.abs(x2))


@keras_op
def heaviside(x1, x2):
    """The step function: 0 where x1 < 0, 1 where x1 > 0, and x2 where x1 == 0."""
    x1, x2 = _broadcast_pair(*_widened_pair(x1, x2))
    step = tf.where(x1 < 0.0, tf.zeros_like(x1), tf.ones_like(x1))
    step = tf.where(tf.equal(x1, 0.0), x2, step)
    return tf.where(tf.math.is_nan(x1), x1, step)


def _widened_pair(x1, x2):
    """x1 and x2 promoted, in floating point: ints give floatx, int64 float64 (heaviside,
    hypot)."""
    dtype = result_type(x1, x2)
    if dtype == "int64":
        dtype = "float64"
    elif "int" in dtype:
        dtype = backend.floatx()
    return convert(x1, dtype), convert(x2, dtype)


@keras_op
def hypot(x1, x2):
    """sqrt(x1^2 + x2^2), scaled so that large entries do not overflow."""
    x1, x2 = _widened_pair(x1, x2)
    a, b = tf.abs(x1), tf.abs(x2)
    largest = tf.maximum(a, b)
    usable = tf.logical_and(largest > 0.0, tf.math.is_finite(largest))
    scale = _safe(usable, largest, 1.0)
    scaled = scale * tf.sqrt(tf.square(a / scale) + tf.square(b / scale))
    infinite = tf.logical_or(tf.math.is_inf(a), tf.math.is_inf(b))
    return tf.where(infinite, tf.ones_like(scaled) * float("inf"),
                    tf.where(usable, scaled, largest))


@keras_op
def ldexp(x1, x2):
    """x1 * 2 ** x2, for integer exponents x2."""
    x2 = convert(x2)
    if not x2.dtype.is_integer:
        raise TypeError(f"ldexp: the exponent x2 must have an integer dtype; received "
                        f"{x2.dtype.name}")
    dtype = result_type(x1, x2, float)
    return convert(x1, dtype) * tf.pow(tf.constant(2.0, dtype), tf.cast(x2, dtype))


@keras_op
def logaddexp2(x1, x2):
    """log2(2 ** x1 + 2 ** x2), computed without overflow."""
    dtype = result_type(x1, x2, float)
    x1, x2 = convert(x1, dtype), convert(x2, dtype)
    difference = tf.where(tf.equal(x1, x2), tf.zeros_like(x1), x1 - x2)  # inf - inf
    return tf.maximum(x1, x2) + tf.math.log1p(tf.exp(-tf.abs(difference) * _LN2)) / _LN2


@keras_op
def nextafter(x1, x2):
    """The next float64 after x1 toward x2, in Keras's result dtype (computed in float64,
    as Keras does, then cast)."""
    dtype = result_type(x1, x2, float)
    x1, x2 = _broadcast_pair(convert(x1, "float64"), convert(x2, "float64"))
    toward = tf.sign(x2 - x1)
    magnitude = tf.abs(x1)
    finite = tf.logical_and(magnitude > 0.0, tf.math.is_finite(magnitude))
    magnitude = _safe(finite, magnitude, 1.0)
    exponent = tf.floor(tf.math.log(magnitude) / _LN2)
    two = tf.constant(2.0, "float64")
    exponent = tf.where(tf.pow(two, exponent) > magnitude, exponent - 1.0, exponent)
    exponent = tf.where(tf.pow(two, exponent + 1.0) <= magnitude, exponent + 1.0, exponent)
    exponent = tf.maximum(exponent, -1022.0)  # subnormals are spaced as the smallest normals
    spacing = tf.pow(two, exponent - 52.0)
    # stepping toward zero from a power of two enters the binade below, spaced half as far
    finer = tf.logical_and(tf.equal(magnitude, tf.pow(two, exponent)),
                           tf.logical_and(toward * x1 < 0.0, exponent > -1022.0))
    result = x1 + toward * tf.where(finer, spacing / 2.0, spacing)
    result = tf.where(tf.equal(x1, 0.0), toward * 5e-324, result)
    result = tf.where(tf.math.is_inf(x1), tf.sign(x1) * 1.7976931348623157e308, result)
    result = tf.where(tf.equal(x1, x2), x2, result)
    return tf.cast(result, dtype)


@keras_op
def kron(x1, x2):
    """The Kronecker product: each entry of x1 times the whole of x2, blocks laid out as x1."""
    x1, x2 = promote(x1, x2)
    rank = builtins.max(_rank(x1), _rank(x2))
    s1 = [1] * (rank - _rank(x1)) + [_dim(x1, a) for a in range(_rank(x1))]
    s2 = [1] * (rank - _rank(x2)) + [_dim(x2, a) for a in range(_rank(x2))]
    a = tf.reshape(x1, [d for pair in zip(s1, [1] * rank) for d in pair])
    b = tf.reshape(x2, [d for pair in zip([1] * rank, s2) for d in pair])
    return tf.reshape(a * b, [d1 * d2 for d1, d2 in zip(s1, s2)])


# ---------------------------------------------------------------------- bitwise
def _bitwise_operands(op_name, x, y):
    x, y = promote(x, y)
    if not (x.dtype.is_integer or x.dtype.is_bool):
        raise TypeError(f"{op_name} takes integer or bool tensors; received dtype "
                        f"{x.dtype.name}")
    return x, y


def _bitwise(op_name, logical, bitwise):
    def op(x, y):
        x, y = _bitwise_operands(op_name, x, y)
        return (logical if x.dtype.is_bool else bitwise)(x, y)

    op.__name__ = op.__qualname__ = op_name
    op.__doc__ = f"{op_name.split('_')[1].upper()} of the bits of x and y (ints or bools)."
    return keras_op(op)


bitwise_and = _bitwise("bitwise_and", tf.logical_and, tf_bitwise.bitwise_and)
bitwise_or = _bitwise("bitwise_or", tf.logical_or, tf_bitwise.bitwise_or)
bitwise_xor = _bitwise("bitwise_xor", tf.math.logical_xor, tf_bitwise.bitwise_xor)


@keras_op
def bitwise_invert(x):
    """~x: each bit flipped (logical NOT for bools)."""
    x = convert(x)
    if not (x.dtype.is_integer or x.dtype.is_bool):
        raise TypeError(f"bitwise_invert takes integer or bool tensors; received dtype "
                        f"{x.dtype.name}")
    return tf.invert(x)


@keras_op
def bitwise_not(x):
    return bitwise_invert(x)


def _shift_operands(op_name, x, y):
    if isinstance(y, int) and not isinstance(y, bool):
        x = convert(x)
        y = convert(y, x.dtype)
    else:
        x, y = promote(x, y)
    if not x.dtype.is_integer:
        raise TypeError(f"{op_name} takes integer tensors; received dtype {x.dtype.name}")
    return x, y


@keras_op
def bitwise_left_shift(x, y):
    """x shifted left by y bits (x * 2**y, wrapping around as the bits do)."""
    x, y = _shift_operands("bitwise_left_shift", x, y)
    return x * tf.pow(tf.constant(2, x.dtype), y)


@keras_op
def bitwise_right_shift(x, y):
    """x shifted right by y bits, copying the sign bit in (floor(x / 2**y))."""
    x, y = _shift_operands("bitwise_right_shift", x, y)
    bits, signed = _dtype_info(x.dtype)
    longest = bits - 2 if signed else bits - 1  # the largest power of 2 the dtype holds
    shifted = tf.math.floordiv(x, tf.pow(tf.constant(2, x.dtype), tf.minimum(
        y, tf.constant(longest, x.dtype))))
    beyond = tf.math.floordiv(shifted, tf.constant(2, x.dtype)) if signed else \
        tf.zeros_like(shifted)
    return tf.where(y > tf.constant(longest, x.dtype), beyond, shifted)


@keras_op
def left_shift(x, y):
    return bitwise_left_shift(x, y)


@keras_op
def right_shift(x, y):
    return bitwise_right_shift(x, y)


# ---------------------------------------------------------------------- NaN-aware reductions
def _without_nan(x, value):
    """x with its NaNs replaced by `value` (only floating dtypes hold NaNs)."""
    if not x.dtype.is_floating:
        return x
    return tf.where(tf.math.is_nan(x), convert(value, x.dtype), x)


@keras_op
def nansum(x, axis=None, keepdims=False):
    """The sum over `axis`, NaNs counted as 0."""
    return sum(_without_nan(convert(x), 0), axis=axis, keepdims=keepdims)


@keras_op
def nanprod(x, axis=None, keepdims=False):
    """The product over `axis`, NaNs counted as 1."""
    return prod(_without_nan(convert(x), 1), axis=axis, keepdims=keepdims)


@keras_op
def nancumsum(x, axis=None, dtype=None):
    """Running sums along `axis` (of the flattened x by default), NaNs counted as 0."""
    return cumsum(_without_nan(convert(x), 0), axis=axis, dtype=dtype)


@keras_op
def nancumprod(x, axis=None, dtype=None):
    """Running products along `axis`, NaNs counted as 1."""
    return cumprod(_without_nan(convert(x), 1), axis=axis, dtype=dtype)


def _nan_extremum(reduce, fill, x, axis, keepdims):
    """reduce(x) ignoring NaNs; NaN where a reduction sees nothing else."""
    x = convert(x)
    if not x.dtype.is_floating:
        return reduce(x, axis=_axes(axis), keepdims=keepdims)
    nan = tf.math.is_nan(x)
    result = reduce(tf.where(nan, convert(fill, x.dtype), x), axis=_axes(axis),
                    keepdims=keepdims)
    all_nan = tf.reduce_all(nan, axis=_axes(axis), keepdims=keepdims)
    return tf.where(all_nan, convert(float("nan"), x.dtype), result)


@keras_op
def nanmax(x, axis=None, keepdims=False):
    """The maximum over `axis`, ignoring NaNs (NaN where all are NaN)."""
    return _nan_extremum(tf.reduce_max, float("-inf"), x, axis, keepdims)


@keras_op
def nanmin(x, axis=None, keepdims=False):
    """The minimum over `axis`, ignoring NaNs (NaN where all are NaN)."""
    return _nan_extremum(tf.reduce_min, float("inf"), x, axis, keepdims)


def _nan_arg_extremum(tf_fn, fill, x, axis, keepdims):
    """The index of the extremum ignoring NaNs; -1 where all entries are NaN."""
    x = convert(x)
    if not x.dtype.is_floating:
        return _arg_reduce(tf_fn, x, axis, keepdims)
    nan = tf.math.is_nan(x)
    index = _arg_reduce(tf_fn, tf.where(nan, convert(fill, x.dtype), x), axis, keepdims)
    all_nan = tf.reduce_all(nan, axis=axis, keepdims=keepdims)
    return tf.where(all_nan, tf.constant(-1, "int32"), index)


@keras_op
def nanargmax(x, axis=None, keepdims=False):
    """argmax ignoring NaNs; -1 where all entries are NaN."""
    return _nan_arg_extremum(tf.argmax, float("-inf"), x, axis, keepdims)


@keras_op
def nanargmin(x, axis=None, keepdims=False):
    """argmin ignoring NaNs; -1 where all entries are NaN."""
    return _nan_arg_extremum(tf.argmin, float("inf"), x, axis, keepdims)


def _nan_moments(x, axis):
    """(mean, count, valid mask, x) over `axis` counting only the non-NaN entries."""
    x = convert(x, result_type(x, float))
    valid = tf.logical_not(tf.math.is_nan(x))
    zeros = tf.zeros_like(x)
    count = tf.reduce_sum(tf.cast(valid, x.dtype), axis=_axes(axis), keepdims=True)
    total = tf.reduce_sum(tf.where(valid, x, zeros), axis=_axes(axis), keepdims=True)
    return total / count, count, valid, x


def _reduced(x, axis, keepdims):
    """x (reduced with keepdims=True) with the reduced axes dropped unless `keepdims`."""
    if keepdims:
        return x
    if axis is None:
        return tf.reshape(x, [])
    return squeeze(x, axis=axis)


@keras_op
def nanmean(x, axis=None, keepdims=False):
    """The mean over `axis` of the non-NaN entries (ints average to floatx)."""
    mean_, _, _, _ = _nan_moments(x, axis)
    return _reduced(mean_, axis, keepdims)


@keras_op
def nanvar(x, axis=None, keepdims=False):
    """The population variance over `axis` of the non-NaN entries."""
    mean_, count, valid, x = _nan_moments(x, axis)
    centered = tf.where(valid, x - mean_, tf.zeros_like(x))
    squares = tf.reduce_sum(tf.square(centered), axis=_axes(axis), keepdims=True)
    return _reduced(squares / count, axis, keepdims)


@keras_op
def nanstd(x, axis=None, keepdims=False):
    """The population standard deviation over `axis` of the non-NaN entries."""
    return tf.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


@keras_op
def ptp(x, axis=None, keepdims=False):
    """The range (maximum - minimum) over `axis`."""
    x = convert(x)
    return tf.reduce_max(x, axis=_axes(axis), keepdims=keepdims) - \
        tf.reduce_min(x, axis=_axes(axis), keepdims=keepdims)


# ---------------------------------------------------------------------- quantiles
_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(x, q, axis, method, keepdims, skip_nan):
    """The q-th quantiles of x over `axis`, interpolated by `method` between the sorted
    entries; a 1-D q adds a leading axis. NaN where a reduction holds a NaN (or, skipping
    NaNs, where it holds nothing else)."""
    if method not in _QUANTILE_METHODS:
        raise ValueError(f"quantile: `method` must be one of {list(_QUANTILE_METHODS)}; "
                         f"received method={method!r}")
    x = convert(x)
    out_dtype = x.dtype.name if x.dtype.is_floating else backend.floatx()
    compute = result_type(out_dtype, "float32")
    x = tf.cast(x, compute)
    q = convert(q, compute)
    rank = _rank(x)
    axes = list(range(rank)) if axis is None else \
        [_positive_axis(a, rank) for a in (axis if isinstance(axis, (tuple, list)) else [axis])]
    others = [a for a in range(rank) if a not in axes]
    reduced = [static_shape(x)[a] for a in axes]
    length = -1 if None in reduced else int(_product(reduced))
    rows = tf.reshape(tf.transpose(x, others + axes), [_dim(x, a) for a in others] + [length])
    ordered = tf.sort(rows, axis=-1)  # NaNs last
    nan = tf.math.is_nan(rows)
    if skip_nan:
        count = tf.reduce_sum(tf.cast(tf.logical_not(nan), compute), axis=-1, keepdims=True)
    else:
        count = tf.cast(tf.shape(rows)[-1:], compute)
    position = (count - 1.0) * tf.reshape(q, [-1])
    position = tf.broadcast_to(position, tf.concat([tf.shape(rows)[:-1],
                                                    tf.shape(position)[-1:]], 0))
    last = tf.shape(rows)[-1] - 1

    def pick(index):
        index = tf.clip_by_value(tf.cast(index, "int32"), 0, tf.maximum(last, 0))
        return tf.gather(ordered, index, axis=-1, batch_dims=len(others))

    low, high = pick(tf.floor(position)), pick(tf.math.ceil(position))
    if method == "linear":
        value = low + (high - low) * (position - tf.floor(position))
    elif method == "lower":
        value = low
    elif method == "higher":
        value = high
    elif method == "midpoint":
        value = (low + high) / 2.0
    else:
        value = pick(tf.round(position))
    missing = tf.equal(count, 0.0) if skip_nan else tf.reduce_any(nan, axis=-1, keepdims=True)
    value = tf.where(missing, convert(float("nan"), compute), value)
    # [..., len(q)] -> [len(q), ...] (or [...] for a scalar q), then the kept axes
    value = moveaxis(value, -1, 0)
    if keepdims:
        shape = [1 if a in axes else _dim(x, a) for a in range(rank)]
        value = tf.reshape(value, [-1] + shape)
    if _rank(q) == 0:
        value = tf.squeeze(value, [0])
    return tf.cast(value, out_dtype)


def _product(values):
    result = 1
    for v in values:
        result *= v
    return result


@keras_op
def quantile(x, q, axis=None, method="linear", keepdims=False):
    """The q-th quantiles (q in [0, 1]) of x over `axis` (all axes by default).

    >>> from tensorflux.keras import ops
    >>> ops.quantile([1.0, 2.0, 3.0, 4.0], 0.5).numpy().item()
    2.5
    """
    return _quantile(x, q, axis, method, keepdims, skip_nan=False)


@keras_op
def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """quantile ignoring NaNs."""
    return _quantile(x, q, axis, method, keepdims, skip_nan=True)


@keras_op
def percentile(x, q, axis=None, method="linear", keepdims=False):
    """The q-th percentiles (q in [0, 100]) of x over `axis`."""
    return _quantile(x, _percent(x, q), axis, method, keepdims, skip_nan=False)


@keras_op
def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """percentile ignoring NaNs."""
    return _quantile(x, _percent(x, q), axis, method, keepdims, skip_nan=True)


def _percent(x, q):
    dtype = result_type(result_type(x, float), "float32")
    return convert(q, dtype) / 100.0


@keras_op
def median(x, axis=None, keepdims=False):
    """The median over `axis` (the mean of the two middle entries for even counts)."""
    return _quantile(x, 0.5, axis, "linear", keepdims, skip_nan=False)


@keras_op
def nanmedian(x, axis=None, keepdims=False):
    """The median over `axis` of the non-NaN entries."""
    return _quantile(x, 0.5, axis, "linear", keepdims, skip_nan=True)


# ---------------------------------------------------------------------- statistics and products
@keras_op
def corrcoef(x):
    """Pearson correlation coefficients between the rows of x (variables by observations)."""
    x = convert(x)
    x = tf.cast(x, "float64") if x.dtype.name == "int64" else float_operand(x)
    vector = _rank(x) == 1
    rows = tf.expand_dims(x, 0) if vector else x
    centered = rows - tf.reduce_mean(rows, axis=1, keepdims=True)
    covariance = tf.matmul(centered, centered, transpose_b=True)
    scale = tf.sqrt(tf.linalg.diag_part(covariance))
    correlation = covariance / tf.expand_dims(scale, 1) / tf.expand_dims(scale, 0)
    correlation = tf.clip_by_value(correlation, -1.0, 1.0)
    return correlation[0, 0] if vector else correlation


@keras_op
def correlate(x1, x2, mode="valid"):
    """The cross-correlation of two 1-D tensors, c[k] = sum_n x1[n + k] * x2[n], over the
    lags of `mode`: "valid" (full overlap), "same" (as long as the longer input) or "full".
    """
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate: `mode` must be 'valid', 'same' or 'full'; received "
                         f"mode={mode!r}")
    dtype = result_type(x1, x2)
    if dtype == "int64":
        dtype = "float64"
    elif dtype not in ("bfloat16", "float16", "float64"):
        dtype = "float32"
    x1, x2 = convert(x1, dtype), convert(x2, dtype)
    if _rank(x1) != 1 or _rank(x2) != 1:
        raise ValueError(f"correlate: x1 and x2 must be 1-D; received shapes "
                         f"{static_shape(x1)} and {static_shape(x2)}")
    n1, n2 = static_shape(x1)[0], static_shape(x2)[0]
    padded = tf.pad(x1, [[n2 - 1, n2 - 1]])
    windows = tf.gather(padded, tf.expand_dims(tf.range(n1 + n2 - 1), 1) +
                        tf.expand_dims(tf.range(n2), 0))
    full = tf.reduce_sum(windows * x2, axis=-1)
    if mode == "full":
        return full
    length = builtins.max(n1, n2) if mode == "same" else abs(n1 - n2) + 1
    start = (n1 + n2 - 1 - length) // 2
    return full[start:start + length]


@keras_op
def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 2- or 3-vectors along axisa of x1 and axisb of x2 (both `axis`
    when given), laid along axisc; two 2-vectors give the z component alone."""
    x1, x2 = promote(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(x1, axisa, -1), moveaxis(x2, axisb, -1)
    sizes = static_shape(a)[-1], static_shape(b)[-1]
    if builtins.any(size not in (2, 3) for size in sizes):
        raise ValueError(f"cross: the vectors must have 2 or 3 components; received "
                         f"{sizes[0]} (x1 along axis {axisa}) and {sizes[1]} "
                         f"(x2 along axis {axisb})")
    a, b = tf.unstack(a, axis=-1), tf.unstack(b, axis=-1)
    if sizes == (2, 2):
        return a[0] * b[1] - a[1] * b[0]
    a = a + [tf.zeros_like(a[0])] * (3 - len(a))
    b = b + [tf.zeros_like(b[0])] * (3 - len(b))
    product = tf.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                        a[0] * b[1] - a[1] * b[0]], axis=-1)
    return moveaxis(product, -1, axisc)


@keras_op
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The integral of y along `axis` by the trapezoidal rule, at sample points x (or
    spaced dx apart)."""
    y = convert(y, result_type(y, float))
    rank = _rank(y)
    axis = _positive_axis(axis, rank)
    head = [builtins.slice(None)] * rank
    tail = [builtins.slice(None)] * rank
    head[axis], tail[axis] = builtins.slice(1, None), builtins.slice(None, -1)
    sides = y[tuple(head)] + y[tuple(tail)]
    if x is None:
        return tf.reduce_sum(sides, axis=axis) * (convert(dx, y.dtype) / 2.0)
    x = convert(x, y.dtype)
    if _rank(x) == 1:
        shape = [1] * rank
        shape[axis] = -1
        spacing = tf.reshape(x[1:] - x[:-1], shape)
    else:
        spacing = diff(x, axis=axis)
    return tf.reduce_sum(spacing * sides, axis=axis) / 2.0


@keras_op
def slogdet(x):
    """(sign, log |det|) of the square matrices x."""
    return tuple(tf.linalg.slogdet(convert(x)))


@keras_op
def vander(x, N=None, increasing=False):  # noqa: N803 - Keras's name
    """The Vandermonde matrix of the 1-D x: columns x**(N-1), ..., x, 1 (reversed when
    `increasing`)."""
    x = convert(x)
    if _rank(x) != 1:
        raise ValueError(f"vander: x must be 1-D; received shape {static_shape(x)}")
    count = static_shape(x)[0] if N is None else N
    if count == 0:
        return tf.zeros([_dim(x, 0), 0], x.dtype)
    columns = [tf.ones_like(x)]
    for _ in range(count - 1):
        columns.append(columns[-1] * x)
    return tf.stack(columns if increasing else columns[::-1], axis=-1)


# ---------------------------------------------------------------------- shapes, more
@keras_op
def array(x, dtype=None):
    """A tensor holding x (of `dtype` when given)."""
    return convert(x, None if dtype is None else backend.standardize_dtype(dtype))


@keras_op
def view(x, dtype=None):
    """x's bytes read as `dtype`: the last axis grows or shrinks by the ratio of item sizes.

    >>> from tensorflux.keras import ops
    >>> ops.view(ops.ones((2,), "float32"), "int32").numpy().tolist()
    [1065353216, 1065353216]
    """
    x = convert(x)
    new = backend.standardize_dtype(dtype or x.dtype.name)
    old_size, new_size = x.dtype.size, tf.as_dtype(new).size
    shape = [_dim(x, a) for a in range(_rank(x))]
    if old_size != new_size:
        if not shape or (static_shape(x)[-1] * old_size) % new_size:
            raise ValueError(f"view: cannot read a {x.dtype.name} tensor of shape "
                             f"{static_shape(x)} as {new}: the bytes of its last axis "
                             f"do not divide into {new_size}-byte items")
        shape[-1] = static_shape(x)[-1] * old_size // new_size
    # tensorflux has no bitcast kernel: the bytes are reread on the host (copied, so the
    # result never shares the input's buffer)
    viewed = tf.numpy_function(lambda a: a.copy().view(new), [x], Tout=new)
    return tf.reshape(viewed, shape)


def _split_axis_check(op_name, x, minimum_rank):
    if _rank(x) < minimum_rank:
        raise ValueError(f"{op_name} needs a tensor of at least {minimum_rank} dimensions; "
                         f"received shape {static_shape(x)}")


@keras_op
def array_split(x, indices_or_sections, axis=0):
    """x cut along `axis` into `indices_or_sections` parts as equal as can be (the first
    ones one longer)."""
    if not isinstance(indices_or_sections, int) or indices_or_sections <= 0:
        raise TypeError(f"array_split: `indices_or_sections` must be a positive int; "
                        f"received {indices_or_sections!r}")
    x = convert(x)
    length = static_shape(x)[axis]
    size, longer = divmod(length, indices_or_sections)
    sizes = [size + 1] * longer + [size] * (indices_or_sections - longer)
    return tf.split(x, sizes, axis=axis)


@keras_op
def hsplit(x, indices_or_sections):
    """x split along its second axis (the first, for 1-D x)."""
    x = convert(x)
    _split_axis_check("hsplit", x, 1)
    return split(x, indices_or_sections, axis=1 if _rank(x) > 1 else 0)


@keras_op
def vsplit(x, indices_or_sections):
    """x split along its first axis."""
    x = convert(x)
    _split_axis_check("vsplit", x, 2)
    return split(x, indices_or_sections, axis=0)


@keras_op
def dsplit(x, indices_or_sections):
    """x split along its third axis."""
    x = convert(x)
    _split_axis_check("dsplit", x, 3)
    return split(x, indices_or_sections, axis=2)


@keras_op
def dstack(xs):
    """xs joined along a third axis (1-D and 2-D inputs get length-1 axes first)."""
    def at_least_3d(x):
        if _rank(x) == 0:
            return tf.reshape(x, [1, 1, 1])
        if _rank(x) == 1:
            return tf.reshape(x, [1, -1, 1])
        return tf.expand_dims(x, -1) if _rank(x) == 2 else x

    return tf.concat([at_least_3d(x) for x in promote(*xs)], axis=2)


@keras_op
def fliplr(x):
    """x reversed along its second axis."""
    x = convert(x)
    _split_axis_check("fliplr", x, 2)
    return tf.reverse(x, [1])


@keras_op
def flipud(x):
    """x reversed along its first axis."""
    x = convert(x)
    _split_axis_check("flipud", x, 1)
    return tf.reverse(x, [0])


@keras_op
def rot90(array, k=1, axes=(0, 1)):
    """`array` rotated by k quarter turns in the plane of `axes`, from the first axis
    toward the second."""
    array = convert(array)
    rank = _rank(array)
    if rank < 2:
        raise ValueError(f"rot90 needs a tensor of at least 2 dimensions; received shape "
                         f"{static_shape(array)}")
    first, second = [_positive_axis(a, rank) for a in axes] if len(axes) == 2 else (0, 0)
    if first == second or not (0 <= first < rank and 0 <= second < rank):
        raise ValueError(f"rot90: `axes` must be two different axes of a rank-{rank} "
                         f"tensor; received axes={axes}")
    k %= 4
    swapped = list(range(rank))
    swapped[first], swapped[second] = second, first
    if k == 0:
        return tf.identity(array)
    if k == 2:
        return tf.reverse(array, [first, second])
    if k == 1:
        return tf.transpose(tf.reverse(array, [second]), swapped)
    return tf.reverse(tf.transpose(array, swapped), [second])


@keras_op
def diagflat(x, k=0):
    """A matrix with the flattened x on its k-th diagonal."""
    return tf.linalg.diag(_flatten(convert(x)), k=k)


@keras_op
def unravel_index(indices, shape):
    """The coordinates, one tensor per axis of `shape`, of flat indices into a C-ordered
    array of that shape."""
    indices = convert(indices)
    coordinates = []
    for size in reversed(list(shape)):
        size = convert(size, indices.dtype)
        coordinates.append(tf.math.floormod(indices, size))
        indices = tf.math.floordiv(indices, size)
    return tuple(reversed(coordinates))


# ---------------------------------------------------------------------- searching and counting
@keras_op
def argpartition(x, kth, axis=-1):
    """Indices that partition x along `axis` around its kth smallest entry: that entry at
    position kth, smaller ones before, larger ones after (here a stable argsort, which is one
    such order)."""
    x = convert(x)
    if axis is None:
        x, axis = _flatten(x), 0
    length = static_shape(x)[axis]
    if length is not None and not -length <= kth < length:
        raise ValueError(f"argpartition: kth={kth} is out of bounds for an axis of length "
                         f"{length}")
    return argsort(x, axis=axis)


@keras_op
def searchsorted(sorted_sequence, values, side="left"):
    """For each of `values`, the index in the 1-D `sorted_sequence` where inserting it keeps
    the order (before equal entries for side="left", after them for "right")."""
    sorted_sequence, values = promote(sorted_sequence, values)
    if _rank(sorted_sequence) != 1:
        raise ValueError(f"searchsorted takes a 1-D sorted_sequence; received shape "
                         f"{static_shape(sorted_sequence)} (map over the leading axes with "
                         "keras.ops.vectorized_map for N-D sequences)")
    found = tf.searchsorted(sorted_sequence, _flatten(values), side=side)
    return tf.reshape(found, tf.shape(values))


@keras_op
def digitize(x, bins):
    """The index of the bin of each entry of x: i where bins[i - 1] <= x < bins[i], for
    increasing 1-D bins."""
    x = convert(x)
    if x.dtype.is_bool:
        x = tf.cast(x, "uint8")
    x, bins = promote(x, bins)
    if _rank(bins) != 1:
        raise ValueError(f"digitize: bins must be 1-D; received shape {static_shape(bins)}")
    found = tf.searchsorted(bins, _flatten(x), side="right")
    return tf.reshape(found, tf.shape(x))


@keras_op
def isin(x1, x2, assume_unique=False, invert=False):
    """True where an entry of x1 is among the entries of x2 (False, with `invert`)."""
    x1, x2 = promote(x1, x2)
    if x1.dtype.is_bool:
        x1, x2 = tf.cast(x1, "int32"), tf.cast(x2, "int32")
    found = tf.reduce_any(tf.equal(tf.expand_dims(x1, -1), _flatten(x2)), axis=-1)
    return tf.logical_not(found) if invert else found


@keras_op
def bincount(x, weights=None, minlength=0, sparse=False):
    """How often each value 0, 1, ... occurs in the non-negative ints x (per row of a 2-D x),
    summing `weights` instead of ones when given; at least `minlength` bins.

    >>> from tensorflux.keras import ops
    >>> ops.bincount([1, 1, 3]).numpy().tolist()
    [0, 2, 0, 1]
    """
    if sparse:
        raise ValueError("bincount: tensorflux has no sparse tensors (received sparse=True)")
    x = convert(x)
    if not x.dtype.is_integer or _rank(x) not in (1, 2):
        raise ValueError(f"bincount takes a 1-D or 2-D integer tensor; received shape "
                         f"{static_shape(x)} and dtype {x.dtype.name}")
    length = tf.maximum(tf.cast(tf.reduce_max(x), "int32") + 1, minlength)
    if weights is None:
        return tf.reduce_sum(tf.one_hot(tf.cast(x, "int32"), length, dtype="int32"), axis=-2)
    dtype = result_type(x, weights)
    picks = tf.one_hot(tf.cast(x, "int32"), length, dtype=dtype)
    return tf.reduce_sum(picks * tf.expand_dims(convert(weights, dtype), -1), axis=-2)


@keras_op
def histogram(x, bins=10, range=None):  # noqa: A002 - Keras's name
    """(counts, edges): how many entries of the 1-D x fall in each of `bins` equal bins over
    `range` (x's minimum to maximum by default), the last bin closed."""
    if not isinstance(bins, int) or bins < 0:
        raise ValueError(f"histogram: `bins` must be a non-negative int; received {bins!r}")
    if range is not None and (len(range) != 2 or range[1] < range[0]):
        raise ValueError(f"histogram: `range` must be a (low, high) pair with low <= high; "
                         f"received {range!r}")
    x = float_operand(x)
    if _rank(x) > 1:
        raise ValueError(f"histogram takes a 1-D tensor; received shape {static_shape(x)}")
    x = _flatten(x)
    if range is None:
        low, high = tf.reduce_min(x), tf.reduce_max(x)
    else:
        low, high = convert(range[0], x.dtype), convert(range[1], x.dtype)
    same = tf.equal(low, high)  # one value: a unit-wide range around it, as NumPy does
    low, high = tf.where(same, low - 0.5, low), tf.where(same, high + 0.5, high)
    edges = tf.linspace(low, high, bins + 1)
    index = tf.searchsorted(edges, x, side="right") - 1
    index = tf.where(tf.equal(x, high), bins - 1, index)
    inside = tf.logical_and(x >= low, x <= high)
    index = tf.where(inside, index, -1)  # one_hot gives no bin to -1
    return tf.reduce_sum(tf.one_hot(index, bins, dtype=x.dtype), axis=0), edges


@keras_op
def unique(x, sorted=True, return_index=False, return_inverse=False,  # noqa: A002
           return_counts=False, axis=None, size=None, fill_value=None):
    """The distinct entries of x in increasing order (of its flattened entries, or of its
    slices along `axis`), with optionally the index of each one's first occurrence, where
    each entry of x went, and how often each occurs. `size` pads (with `fill_value`, default
    0) or cuts the results to that length. The result is sorted whatever `sorted` says.

    >>> from tensorflux.keras import ops
    >>> values, counts = ops.unique([3, 1, 3, 2], return_counts=True)
    >>> values.numpy().tolist(), counts.numpy().tolist()
    ([1, 2, 3], [1, 1, 2])
    """
    x = convert(x)
    if axis is None:
        rows = tf.reshape(x, [-1, 1])
    else:
        axis = _positive_axis(axis, _rank(x))
        rows = tf.reshape(moveaxis(x, axis, 0), [_dim(x, axis), -1])
    columns = static_shape(rows)[1]
    if columns is None:
        raise ValueError(f"unique along axis {axis} needs the other dimensions of x known; "
                         f"received shape {static_shape(x)}")
    count = tf.shape(rows)[0]
    # lexicographic order of the rows: stable sorts by each column, the last column first
    order = tf.range(count)
    for column in reversed(range(columns)):
        order = tf.gather(order, tf.argsort(tf.gather(rows[:, column], order), stable=True))
    ordered = tf.gather(rows, order)
    previous = tf.concat([ordered[:1], ordered[:-1]], axis=0)
    first = tf.logical_or(tf.equal(tf.range(count), 0),
                          tf.reduce_any(tf.not_equal(ordered, previous), axis=1))
    starts = tf.cast(tf.reshape(tf.where(first), [-1]), "int32")
    values = tf.gather(ordered, starts)
    index = tf.gather(order, starts)  # stable sorts keep first occurrences first
    counts = tf.concat([starts[1:], tf.reshape(count, [1])], axis=0) - starts
    inverse = tf.gather(tf.math.cumsum(tf.cast(first, "int32")) - 1,
                        tf.argsort(order, stable=True))
    if size is not None:
        values = _fixed_length(values, size, 0 if fill_value is None else fill_value)
        index, counts = _fixed_length(index, size, 0), _fixed_length(counts, size, 0)
    if axis is None:
        values, inverse = tf.reshape(values, [-1]), tf.reshape(inverse, tf.shape(x))
    else:
        values = tf.reshape(values, [-1] + [_dim(x, a) for a in range(_rank(x)) if a != axis])
        values = moveaxis(values, 0, axis)
    outputs = [values] + [index] * return_index + [inverse] * return_inverse + \
        [counts] * return_counts
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


def _fixed_length(x, size, fill):
    """x (along its first axis) cut to `size` entries, or padded with `fill` up to it."""
    rest = list(static_shape(x)[1:])
    padding = tf.fill([size] + rest, convert(fill, x.dtype))
    return tf.reshape(tf.concat([x, padding], axis=0)[:size], [size] + rest)


# ---------------------------------------------------------------------- creation, more
def _space_dtype(start, stop, dtype):
    return backend.standardize_dtype(dtype) if dtype is not None else \
        result_type(start, stop, float)


@keras_op
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """`num` values base ** t for t evenly spaced from start to stop."""
    dtype = _space_dtype(start, stop, dtype)
    exponents = linspace(start, stop, num, endpoint=endpoint, dtype=dtype, axis=axis)
    return tf.pow(convert(base, dtype), exponents)


@keras_op
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """`num` values from start to stop evenly spaced on a log scale (a geometric sequence;
    start and stop of one sign)."""
    dtype = _space_dtype(start, stop, dtype)
    start, stop = convert(start, dtype), convert(stop, dtype)
    logs = linspace(tf.math.log(tf.abs(start)), tf.math.log(tf.abs(stop)), num,
                    endpoint=endpoint, dtype=dtype, axis=axis)
    return tf.exp(logs) * tf.expand_dims(tf.sign(start), axis)


def _window(op_name, x, shape_of):
    """A symmetric window of length x (an int): shape_of(t) with t = 2 pi n / (x - 1)."""
    if any_symbolic_tensors((x,)):
        raise TypeError(f"{op_name} takes a Python int length, not a symbolic tensor; "
                        f"received {x}")
    length = int(x)
    if length <= 1:
        return tf.ones([builtins.max(length, 0)], backend.floatx())
    n = tf.range(length, dtype=backend.floatx())
    return shape_of(n * (2.0 * 3.141592653589793 / (length - 1)))


def bartlett(x):
    """The Bartlett (triangular) window of length x.

    >>> from tensorflux.keras import ops
    >>> ops.bartlett(5).numpy().tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    return _window("bartlett", x, lambda t: 1.0 - tf.abs(t / 3.141592653589793 - 1.0))


def blackman(x):
    """The Blackman window of length x."""
    return _window("blackman", x, lambda t: 0.42 - 0.5 * tf.cos(t) + 0.08 * tf.cos(2.0 * t))


def hamming(x):
    """The Hamming window of length x."""
    return _window("hamming", x, lambda t: 0.54 - 0.46 * tf.cos(t))


def hanning(x):
    """The Hann window of length x."""
    return _window("hanning", x, lambda t: 0.5 - 0.5 * tf.cos(t))


def kaiser(x, beta):
    """The Kaiser window of length x with shape parameter beta."""
    def shape_of(t):
        ratio = t / 3.141592653589793 - 1.0
        return i0(beta * tf.sqrt(tf.maximum(1.0 - ratio * ratio, 0.0))) / \
            i0(tf.constant(float(beta), backend.floatx()))

    return _window("kaiser", x, shape_of)


# ---------------------------------------------------------------------- vectorize
def vectorize(pyfunc, *, excluded=None, signature=None):
    """`pyfunc` made to map over the leading axes of its positional tensor arguments,
    broadcast together: on each element, or with a gufunc `signature` such as "(n),(n)->()"
    on each core slice. Keyword arguments, and the positions in `excluded`, are passed through
    as they are.

    >>> from tensorflux.keras import ops
    >>> ops.vectorize(lambda a, b: a * b + 1)([1, 2], [[3], [4]]).numpy().tolist()
    [[4, 7], [5, 9]]
    """
    if not callable(pyfunc):
        raise ValueError(f"vectorize: `pyfunc` must be callable; received {pyfunc!r}")
    excluded = set(excluded or ())
    core_dims = None if signature is None else _parse_signature(signature)

    def wrapped(*args, **kwargs):
        mapped = [i for i in builtins.range(len(args)) if i not in excluded]
        tensors = [convert(args[i]) for i in mapped]
        cores = [()] * len(tensors) if core_dims is None else core_dims
        if len(cores) != len(tensors):
            raise ValueError(f"vectorize: the signature {signature!r} names {len(cores)} "
                             f"inputs; received {len(tensors)}")
        loops = [static_shape(t)[:_rank(t) - len(core)] for t, core in zip(tensors, cores)]
        loop_shape = list(_broadcast_shapes(loops))
        count = int(_product(loop_shape))
        slices = []
        for tensor, core in zip(tensors, cores):
            core_shape = list(static_shape(tensor)[_rank(tensor) - len(core):])
            full = tf.broadcast_to(tensor, loop_shape + core_shape)
            slices.append(tf.unstack(tf.reshape(full, [count] + core_shape), num=count))
        results = []
        for i in builtins.range(count):
            call_args = list(args)
            for position, pieces in zip(mapped, slices):
                call_args[position] = pieces[i]
            results.append(pyfunc(*call_args, **kwargs))
        return _stack_results(results, loop_shape)

    return wrapped


def _parse_signature(signature):
    """The core dimension names of each input of a gufunc signature "(m,n),(n)->(m)"."""
    inputs = signature.replace(" ", "").split("->")[0]
    groups = inputs[1:-1].split("),(") if inputs else []
    return [tuple(name for name in group.split(",") if name) for group in groups]


def _broadcast_shapes(shapes):
    rank = builtins.max((len(s) for s in shapes), default=0)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    return tuple(builtins.max(dims) if 0 not in dims else 0 for dims in zip(*padded))


def _stack_results(results, loop_shape):
    """The per-element results of vectorize stacked back into `loop_shape` (each output of a
    tuple-returning function separately)."""
    if results and isinstance(results[0], tuple):
        return tuple(_stack_results(list(outputs), loop_shape) for outputs in zip(*results))
    stacked = tf.stack([convert(r) for r in results])
    return tf.reshape(stacked, loop_shape + list(static_shape(stacked)[1:]))


__all__ = [name for name, value in list(globals().items())
           if not name.startswith("_") and callable(value)
           and getattr(value, "__module__", None) == __name__]
