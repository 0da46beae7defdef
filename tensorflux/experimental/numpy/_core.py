"""TensorFlow's NumPy API (tf.experimental.numpy) on tensorflux ops.

Every function returns tensorflux tensors (`ndarray` is tf.Tensor), so results flow through
GradientTape, tf.function and Keras layers; dtypes follow _dtypes (NumPy 2's rules, as in TF).
"""

import builtins
import math as _pymath

import tensorflux as tf
from tensorflux import dtypes
from tensorflux.experimental.numpy import _dtypes
from tensorflux.experimental.numpy._dtypes import as_dtype, result_type
from tensorflux.tensor import Tensor, _TensorLike

ndarray = Tensor

# ---------------------------------------------------------------- creation


def _convert(value, dtype):
    """A tensor from a Python or NumPy value, with NumPy's default dtypes (int64, float64)."""
    if dtype is None:
        inferred = tf.convert_to_tensor(value)
        if hasattr(value, "dtype"):  # NumPy arrays and scalars keep theirs
            return inferred
        dtype = _dtypes.python_dtype(inferred.dtype)
        if dtype is inferred.dtype:
            return inferred
    try:
        return tf.convert_to_tensor(value, dtype=dtype)
    except TypeError:  # Python floats into an integer dtype: NumPy truncates
        return tf.cast(_convert(value, None), dtype)


def asarray(a, dtype=None):
    """`a` as a tensor (itself when it is one of `dtype`), casting to `dtype` when given."""
    dtype = as_dtype(dtype)
    if isinstance(a, _TensorLike):
        a = tf.convert_to_tensor(a)
        return a if dtype is None or a.dtype is dtype else tf.cast(a, dtype)
    if isinstance(a, (list, tuple)) and builtins.any(isinstance(v, _TensorLike) for v in a):
        parts = [asarray(v) for v in a]
        common = dtype or result_type(*parts)
        return tf.stack([tf.cast(p, common) for p in parts])
    return _convert(a, dtype)


def array(val, dtype=None, copy=True, ndmin=0):
    """A new tensor from `val` (tensors are immutable, so `copy` changes nothing)."""
    result = asarray(val, dtype)
    if ndmin > result.ndim:
        result = tf.reshape(result, [1] * (ndmin - result.ndim) + list(result.shape))
    return result


asanyarray = asarray


def _shape(shape):
    if isinstance(shape, (int, builtins.bool)) or (
            isinstance(shape, _TensorLike) and shape.ndim == 0):
        return [shape]
    return list(shape)


def _creation_dtype(dtype):
    return as_dtype(dtype) if dtype is not None else dtypes.float64


def zeros(shape, dtype=None):
    """Zeros of `shape` (float64 unless `dtype` says otherwise)."""
    return tf.zeros(_shape(shape), _creation_dtype(dtype))


def ones(shape, dtype=None):
    """Ones of `shape` (float64 unless `dtype` says otherwise)."""
    return tf.ones(_shape(shape), _creation_dtype(dtype))


def empty(shape, dtype=None):
    """An array of `shape`: zeros, since tensors cannot be left unwritten."""
    return zeros(shape, dtype)


def full(shape, fill_value, dtype=None):
    """`fill_value` broadcast to `shape`, in its dtype (or `dtype`)."""
    value = asarray(fill_value, dtype)
    return tf.broadcast_to(value, _shape(shape))


def _like(a, dtype, shape, value):
    """`value` in a's shape (its run-time shape where unknown) or `shape`, and a's dtype or
    `dtype` (0.5 into int32 truncates, as in NumPy)."""
    a = asarray(a)
    value = asarray(value, as_dtype(dtype) or a.dtype)
    return tf.broadcast_to(value, tf.shape(a) if shape is None else _shape(shape))


def zeros_like(a, dtype=None, shape=None):
    return _like(a, dtype, shape, 0)


def ones_like(a, dtype=None, shape=None):
    return _like(a, dtype, shape, 1)


def empty_like(a, dtype=None, shape=None):
    return _like(a, dtype, shape, 0)


def full_like(a, fill_value, dtype=None, shape=None):
    return _like(a, dtype, shape, fill_value)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in [start, stop): int64 for ints, float64 when any is a float."""
    if stop is None:
        start, stop = 0, start
    dtype = as_dtype(dtype) or result_type(start, stop, step)
    if step == 0:
        raise ValueError("arange: `step` must not be 0, received 0")
    count = builtins.max(0, _pymath.ceil((float(stop) - float(start)) / float(step)))
    work = dtypes.float64 if not dtype.is_integer else dtypes.int64
    values = tf.cast(tf.range(count), work) * asarray(step, work) + asarray(start, work)
    return tf.cast(values, dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """`num` evenly spaced values from start to stop (float64 unless `dtype` says)."""
    work = result_type(start, stop, float(num))
    start = asarray(start)
    stop = asarray(stop)
    start, stop = tf.cast(start, work), tf.cast(stop, work)
    divisions = builtins.max((num - 1) if endpoint else num, 1)
    step = (stop - start) / divisions
    steps = tf.reshape(tf.cast(tf.range(num), work), [num] + [1] * start.ndim)
    values = start + steps * step
    if endpoint and num > 1:
        values = tf.concat([values[:-1], stop[None]], axis=0)
    if axis != 0:
        values = moveaxis(values, 0, axis)
    values = tf.cast(values, as_dtype(dtype) or work)
    return (values, step) if retstep else values


def eye(N, M=None, k=0, dtype=float):  # noqa: N803 - NumPy's argument names
    """An N x M matrix with ones on the k-th diagonal."""
    M = N if M is None else M  # noqa: N806
    dtype = as_dtype(dtype)
    rows = tf.range(N)[:, None]
    cols = tf.range(M)[None, :]
    return tf.cast(tf.equal(cols - rows, k), dtype)


def identity(n, dtype=float):
    return eye(n, dtype=dtype)


# ---------------------------------------------------------------- promotion helpers


def _promote(*values):
    """The values as tensors of their common dtype (NumPy 2's rules, Python scalars weak)."""
    dtype = result_type(*values)
    return [_cast_to(v, dtype) for v in values]


def _cast_to(value, dtype):
    if isinstance(value, _TensorLike):
        value = tf.convert_to_tensor(value)
        return value if value.dtype is dtype else tf.cast(value, dtype)
    return asarray(value, dtype)


def _inexact(x):
    """x as a tensor of a float or complex dtype (ints and bools: float64, as in NumPy)."""
    x = asarray(x)
    if x.dtype.is_floating or x.dtype.is_complex:
        return x
    return tf.cast(x, dtypes.float64)


def _binary(op):
    def apply(x1, x2):
        return op(*_promote(x1, x2))
    return apply


add = _binary(tf.math.add)
subtract = _binary(tf.math.subtract)
multiply = _binary(tf.math.multiply)
power = _binary(tf.math.pow)
floor_divide = _binary(tf.math.floordiv)
mod = remainder = _binary(tf.math.floormod)
arctan2 = _binary(tf.math.atan2)
for _name, _function in [("add", add), ("subtract", subtract), ("multiply", multiply),
                         ("power", power), ("floor_divide", floor_divide), ("mod", mod),
                         ("arctan2", arctan2)]:
    _function.__name__ = _name
    _function.__doc__ = f"NumPy's {_name}, on tensors of the operands' common dtype."


def true_divide(x1, x2):
    """x1 / x2 in a float dtype (ints divide to float64, as in NumPy)."""
    x1, x2 = _promote(x1, x2)
    if not (x1.dtype.is_floating or x1.dtype.is_complex):
        x1, x2 = tf.cast(x1, dtypes.float64), tf.cast(x2, dtypes.float64)
    return tf.math.truediv(x1, x2)


divide = true_divide


def maximum(x1, x2):
    """The elementwise maximum; maximum(x, 0) of a tensor is relu(x), in x's dtype, as in TF."""
    if (isinstance(x2, (int, float)) and not isinstance(x2, builtins.bool) and x2 == 0
            and isinstance(x1, _TensorLike) and not x1.dtype.is_bool):
        return tf.nn.relu(x1)
    x1, x2 = _promote(x1, x2)
    if x1.dtype.is_bool:
        return tf.logical_or(x1, x2)
    return tf.maximum(x1, x2)


def minimum(x1, x2):
    """The elementwise minimum, in the operands' common dtype."""
    x1, x2 = _promote(x1, x2)
    if x1.dtype.is_bool:
        return tf.logical_and(x1, x2)
    return tf.minimum(x1, x2)


def clip(a, a_min, a_max):
    """`a` limited to [a_min, a_max] (either may be None), in the common dtype."""
    if a_min is None and a_max is None:
        raise ValueError("clip: `a_min` and `a_max` cannot both be None")
    values = [v for v in (a, a_min, a_max) if v is not None]
    dtype = result_type(*values)
    result = _cast_to(a, dtype)
    if a_min is not None:
        result = tf.maximum(result, _cast_to(a_min, dtype))
    if a_max is not None:
        result = tf.minimum(result, _cast_to(a_max, dtype))
    return result


def _unary_float(op, name):
    def apply(x):
        return op(_inexact(x))
    apply.__name__ = name
    apply.__doc__ = f"NumPy's {name}: ints and bools compute in float64."
    return apply


sqrt = _unary_float(tf.math.sqrt, "sqrt")
exp = _unary_float(tf.math.exp, "exp")
log = _unary_float(tf.math.log, "log")
log1p = _unary_float(tf.math.log1p, "log1p")
expm1 = _unary_float(tf.math.expm1, "expm1")
sin = _unary_float(tf.math.sin, "sin")
cos = _unary_float(tf.math.cos, "cos")
tan = _unary_float(tf.math.tan, "tan")
tanh = _unary_float(tf.math.tanh, "tanh")
floor = _unary_float(tf.math.floor, "floor")
ceil = _unary_float(tf.math.ceil, "ceil")
reciprocal = _unary_float(tf.math.reciprocal, "reciprocal")


def _unary_same(op, name):
    def apply(x):
        return op(asarray(x))
    apply.__name__ = name
    apply.__doc__ = f"NumPy's {name}, in the input's dtype."
    return apply


abs = absolute = _unary_same(tf.math.abs, "abs")  # noqa: A001 - NumPy's name
square = _unary_same(tf.math.square, "square")
sign = _unary_same(tf.math.sign, "sign")
negative = _unary_same(tf.math.negative, "negative")


def round(a, decimals=0):  # noqa: A001 - NumPy's name
    """Rounds half to even to `decimals` places; integers come back as they are."""
    a = asarray(a)
    if not (a.dtype.is_floating or a.dtype.is_complex):
        return a
    if decimals == 0:
        return tf.math.round(a)
    scale = asarray(10.0 ** decimals, a.dtype)
    return tf.math.round(a * scale) / scale


around = round


# ---------------------------------------------------------------- reductions


def _axis(axis):
    return list(axis) if isinstance(axis, tuple) else axis


def _accumulating(a, dtype):
    """NumPy's dtype for sum/prod/cumsum: bools and small ints accumulate in 64 bits."""
    if dtype is not None:
        return tf.cast(a, as_dtype(dtype))
    if a.dtype.is_bool or (a.dtype.is_integer and a.dtype.size < 8):
        return tf.cast(a, dtypes.uint64 if a.dtype.is_unsigned else dtypes.int64)
    return a


def sum(a, axis=None, dtype=None, keepdims=False):  # noqa: A001 - NumPy's name
    """The sum over `axis` (all axes for None); ints and bools sum in int64."""
    a = _accumulating(asarray(a), dtype)
    return tf.reduce_sum(a, axis=_axis(axis), keepdims=builtins.bool(keepdims))


def prod(a, axis=None, dtype=None, keepdims=False):
    """The product over `axis`; ints and bools multiply in int64."""
    a = _accumulating(asarray(a), dtype)
    return tf.reduce_prod(a, axis=_axis(axis), keepdims=builtins.bool(keepdims))


def _float_input(a, dtype):
    a = asarray(a)
    if dtype is not None:
        return tf.cast(a, as_dtype(dtype))
    return _inexact(a)


def mean(a, axis=None, dtype=None, keepdims=False):
    """The mean over `axis`; ints and bools average in float64."""
    a = _float_input(a, dtype)
    return tf.reduce_mean(a, axis=_axis(axis), keepdims=builtins.bool(keepdims))


def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """The variance over `axis` (divided by N - ddof)."""
    a = _float_input(a, dtype)
    axis = _axis(axis)
    centered = a - tf.reduce_mean(a, axis=axis, keepdims=True)
    squares = tf.math.real(centered * tf.math.conj(centered)) if a.dtype.is_complex \
        else tf.square(centered)
    total = tf.reduce_sum(squares, axis=axis, keepdims=builtins.bool(keepdims))
    count = tf.cast(tf.size(a), total.dtype) / tf.cast(tf.size(total), total.dtype)
    return total / (count - ddof)


def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """The standard deviation over `axis` (divided by N - ddof)."""
    return tf.sqrt(var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


def amax(a, axis=None, keepdims=False):
    """The maximum over `axis`, in a's dtype."""
    a = asarray(a)
    if a.dtype.is_bool:
        return tf.reduce_any(a, axis=_axis(axis), keepdims=builtins.bool(keepdims))
    return tf.reduce_max(a, axis=_axis(axis), keepdims=builtins.bool(keepdims))


def amin(a, axis=None, keepdims=False):
    """The minimum over `axis`, in a's dtype."""
    a = asarray(a)
    if a.dtype.is_bool:
        return tf.reduce_all(a, axis=_axis(axis), keepdims=builtins.bool(keepdims))
    return tf.reduce_min(a, axis=_axis(axis), keepdims=builtins.bool(keepdims))


max = amax  # noqa: A001 - NumPy's name
min = amin  # noqa: A001 - NumPy's name


def _arg(op, a, axis):
    a = asarray(a)
    if axis is None:
        a, axis = tf.reshape(a, [-1]), 0
    return op(a, axis=axis, output_type=dtypes.int64)


def argmax(a, axis=None):
    """The index of the largest value (in the flattened array when axis is None), int64."""
    return _arg(tf.math.argmax, a, axis)


def argmin(a, axis=None):
    """The index of the smallest value (in the flattened array when axis is None), int64."""
    return _arg(tf.math.argmin, a, axis)


def cumsum(a, axis=None, dtype=None):
    """Running sums along `axis` (of the flattened array for None)."""
    a = _accumulating(asarray(a), dtype)
    if axis is None:
        a, axis = tf.reshape(a, [-1]), 0
    return tf.math.cumsum(a, axis=axis)


def cumprod(a, axis=None, dtype=None):
    """Running products along `axis` (of the flattened array for None)."""
    a = _accumulating(asarray(a), dtype)
    if axis is None:
        a, axis = tf.reshape(a, [-1]), 0
    return tf.math.cumprod(a, axis=axis)


# ---------------------------------------------------------------- linear algebra


def matmul(x1, x2):
    """The matrix product (a 1-D operand is a vector), in the common dtype."""
    x1, x2 = _promote(x1, x2)
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(f"matmul: operands must not be scalars, received shapes "
                         f"{x1.shape} and {x2.shape}")
    if x1.ndim == 1 or x2.ndim == 1:
        if x2.ndim == 1:
            return tf.tensordot(x1, x2, [[x1.ndim - 1], [0]])
        if x1.ndim == 1:
            return tf.squeeze(tf.matmul(x1[None, :], x2), axis=-2)
    return tf.matmul(x1, x2)


def dot(a, b):
    """NumPy's dot: a product for scalars, sums over a's last axis and b's second-to-last."""
    a, b = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tf.tensordot(a, b, [[a.ndim - 1], [builtins.max(b.ndim - 2, 0)]])


def vdot(a, b):
    a, b = _promote(ravel(a), ravel(b))
    return tf.reduce_sum(tf.math.conj(a) * b)


def inner(a, b):
    a, b = _promote(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tf.tensordot(a, b, [[a.ndim - 1], [b.ndim - 1]])


def outer(a, b):
    """The outer product of the flattened inputs."""
    a, b = _promote(ravel(a), ravel(b))
    return a[:, None] * b[None, :]


def tensordot(a, b, axes=2):
    """Sums of products over `axes` (a count or two lists of axes), in the common dtype."""
    a, b = _promote(a, b)
    return tf.tensordot(a, b, axes)


def einsum(subscripts, *operands, **kwargs):
    """Einstein summation, on the operands' common dtype."""
    return tf.einsum(subscripts, *_promote(*operands), **kwargs)


# ---------------------------------------------------------------- shapes


def reshape(a, newshape, order="C"):
    """`a` with a new shape (order="C" only: tensors are row-major)."""
    if order != "C":
        raise NotImplementedError(f"reshape: only order='C' is supported, received {order!r}")
    return tf.reshape(asarray(a), _shape(newshape))


def ravel(a):
    return tf.reshape(asarray(a), [-1])


def transpose(a, axes=None):
    """`a` with its axes reversed, or permuted by `axes`."""
    return tf.transpose(asarray(a), perm=None if axes is None else list(axes))


def swapaxes(a, axis1, axis2):
    a = asarray(a)
    perm = list(range(a.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return tf.transpose(a, perm)


def moveaxis(a, source, destination):
    """`a` with the axes at `source` moved to `destination` (ints or sequences)."""
    a = asarray(a)
    source = [s % a.ndim for s in _shape(source)]
    destination = [d % a.ndim for d in _shape(destination)]
    perm = [i for i in range(a.ndim) if i not in source]
    for dest, src in sorted(zip(destination, source)):
        perm.insert(dest, src)
    return tf.transpose(a, perm)


def expand_dims(a, axis):
    """`a` with new axes of length 1 at `axis` (an int or a sequence)."""
    a = asarray(a)
    axes = _shape(axis)
    rank = a.ndim + len(axes)
    for position in sorted(ax % rank for ax in axes):
        a = tf.expand_dims(a, position)
    return a


def squeeze(a, axis=None):
    return tf.squeeze(asarray(a), axis=None if axis is None else _shape(axis))


def atleast_1d(a):
    a = asarray(a)
    return tf.reshape(a, [1]) if a.ndim == 0 else a


def atleast_2d(a):
    a = asarray(a)
    return tf.reshape(a, [1] * (2 - a.ndim) + list(a.shape)) if a.ndim < 2 else a


def concatenate(arys, axis=0):
    """The arrays joined along `axis` (flattened first when axis is None), common dtype."""
    arys = _promote(*arys)
    if axis is None:
        arys, axis = [ravel(x) for x in arys], 0
    return tf.concat(arys, axis=axis)


def stack(arrays, axis=0):
    return tf.stack(_promote(*arrays), axis=axis)


def hstack(tup):
    arrays = [atleast_1d(x) for x in tup]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1)


def vstack(tup):
    return concatenate([atleast_2d(x) for x in tup], axis=0)


def split(ary, indices_or_sections, axis=0):
    """`ary` cut into equal sections (an int) or at the given indices along `axis`."""
    ary = asarray(ary)
    length = ary.shape[axis]
    if isinstance(indices_or_sections, int):
        return tf.split(ary, indices_or_sections, axis=axis)
    bounds = [0] + [builtins.min(builtins.max(i if i >= 0 else i + length, 0), length)
                    for i in indices_or_sections] + [length]
    sizes = [builtins.max(b - a, 0) for a, b in zip(bounds[:-1], bounds[1:])]
    return tf.split(ary, sizes, axis=axis)


def tile(A, reps):  # noqa: N803 - NumPy's argument name
    A = asarray(A)  # noqa: N806
    reps = _shape(reps)
    if len(reps) < A.ndim:
        reps = [1] * (A.ndim - len(reps)) + reps
    elif len(reps) > A.ndim:
        A = tf.reshape(A, [1] * (len(reps) - A.ndim) + list(A.shape))  # noqa: N806
    return tf.tile(A, reps)


def repeat(a, repeats, axis=None):
    """Each element repeated (of the flattened array for axis None)."""
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    return tf.repeat(a, repeats, axis=axis)


def broadcast_to(array, shape):
    return tf.broadcast_to(asarray(array), _shape(shape))


def flip(m, axis=None):
    m = asarray(m)
    axes = list(range(m.ndim)) if axis is None else [ax % m.ndim for ax in _shape(axis)]
    return tf.reverse(m, axes)


def nonzero(a):
    """A tuple of int64 index arrays, one per axis, of a's nonzero elements."""
    a = asarray(a)
    found = tf.where(tf.cast(a, dtypes.bool))
    return tuple(found[:, i] for i in range(a.ndim))


def where(condition, x=None, y=None):
    """x where condition holds, else y (common dtype); with only `condition`: nonzero."""
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("where: pass both `x` and `y`, or neither")
    x, y = _promote(x, y)
    return tf.where(tf.cast(asarray(condition), dtypes.bool), x, y)


def take(a, indices, axis=None):
    """Elements of `a` at `indices` along `axis` (of the flattened array for None)."""
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    return tf.gather(a, asarray(indices), axis=axis)


def take_along_axis(arr, indices, axis):
    """Values of `arr` at `indices` (same rank, broadcastable) along `axis`."""
    arr, indices = asarray(arr), asarray(indices)
    if axis is None:
        arr, axis = ravel(arr), 0
    if arr.ndim != indices.ndim:
        raise ValueError(f"take_along_axis: `indices` must have the rank of `arr` "
                         f"({arr.ndim}), received rank {indices.ndim}")
    axis %= arr.ndim
    arr, indices = moveaxis(arr, axis, -1), moveaxis(indices, axis, -1)
    arr_shape, indices_shape = tf.shape(arr), tf.shape(indices)
    batch = tf.broadcast_dynamic_shape(arr_shape[:-1], indices_shape[:-1])
    arr = tf.broadcast_to(arr, tf.concat([batch, arr_shape[-1:]], axis=0))
    indices = tf.broadcast_to(indices, tf.concat([batch, indices_shape[-1:]], axis=0))
    gathered = tf.gather(arr, indices, axis=-1, batch_dims=arr.ndim - 1)
    return moveaxis(gathered, -1, axis)


def sort(a, axis=-1):
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    return tf.sort(a, axis=axis)


def argsort(a, axis=-1):
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    return tf.cast(tf.argsort(a, axis=axis, stable=True), dtypes.int64)


def shape(a):
    return asarray(a).shape


def ndim(a):
    return asarray(a).ndim


def size(a, axis=None):
    a = asarray(a)
    return a.shape.num_elements() if axis is None else a.shape[axis]


def copy(a):
    return tf.identity(asarray(a))


# ---------------------------------------------------------------- logic


def _comparison(op, name):
    def apply(x1, x2):
        return op(*_promote(x1, x2))
    apply.__name__ = name
    apply.__doc__ = f"NumPy's {name}, compared in the operands' common dtype."
    return apply


equal = _comparison(tf.equal, "equal")
not_equal = _comparison(tf.not_equal, "not_equal")
less = _comparison(tf.less, "less")
less_equal = _comparison(tf.less_equal, "less_equal")
greater = _comparison(tf.greater, "greater")
greater_equal = _comparison(tf.greater_equal, "greater_equal")


def _as_bool(x):
    return asarray(x, dtypes.bool)


def logical_and(x1, x2):
    return tf.logical_and(_as_bool(x1), _as_bool(x2))


def logical_or(x1, x2):
    return tf.logical_or(_as_bool(x1), _as_bool(x2))


def logical_xor(x1, x2):
    return tf.logical_xor(_as_bool(x1), _as_bool(x2))


def logical_not(x):
    return tf.logical_not(_as_bool(x))


def all(a, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    return tf.reduce_all(_as_bool(a), axis=_axis(axis), keepdims=builtins.bool(keepdims))


def any(a, axis=None, keepdims=False):  # noqa: A001 - NumPy's name
    return tf.reduce_any(_as_bool(a), axis=_axis(axis), keepdims=builtins.bool(keepdims))


def _float_kind(x):
    x = asarray(x)
    return x.dtype.is_floating or x.dtype.is_complex


def isnan(x):
    x = asarray(x)
    return tf.math.is_nan(x) if _float_kind(x) else tf.zeros_like(x, dtypes.bool)


def isinf(x):
    x = asarray(x)
    return tf.math.is_inf(x) if _float_kind(x) else tf.zeros_like(x, dtypes.bool)


def isfinite(x):
    x = asarray(x)
    return tf.math.is_finite(x) if _float_kind(x) else tf.ones_like(x, dtypes.bool)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether |a - b| <= atol + rtol * |b| elementwise (equal infinities are close)."""
    a, b = _promote(a, b)
    a, b = _inexact(a), _inexact(b)
    finite = tf.logical_and(tf.math.is_finite(a), tf.math.is_finite(b))
    zero = tf.zeros_like(a)
    a_finite, b_finite = tf.where(finite, a, zero), tf.where(finite, b, zero)  # (no inf - inf)
    close = tf.abs(a_finite - b_finite) <= (asarray(atol, a.dtype)
                                            + asarray(rtol, a.dtype) * tf.abs(b_finite))
    close = tf.logical_or(tf.logical_and(finite, close), tf.equal(a, b))
    if equal_nan:
        close = tf.logical_or(close, tf.logical_and(tf.math.is_nan(a), tf.math.is_nan(b)))
    return close


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element of a is close to b's (see isclose), as a bool tensor."""
    return tf.reduce_all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def array_equal(a1, a2):
    a1, a2 = asarray(a1), asarray(a2)
    if a1.shape != a2.shape:
        return tf.constant(False)
    return all(equal(a1, a2))


__all__ = [
    "abs", "absolute", "add", "all", "allclose", "amax", "amin", "any", "arange", "arctan2",
    "argmax", "argmin", "argsort", "around", "array", "array_equal", "asanyarray", "asarray",
    "atleast_1d", "atleast_2d", "broadcast_to", "ceil", "clip", "concatenate", "copy", "cos",
    "cumprod", "cumsum", "divide", "dot", "einsum", "empty", "empty_like", "equal", "exp",
    "expand_dims", "expm1", "eye", "flip", "floor", "floor_divide", "full", "full_like",
    "greater", "greater_equal", "hstack", "identity", "inner", "isclose", "isfinite", "isinf",
    "isnan", "less", "less_equal", "linspace", "log", "log1p", "logical_and", "logical_not",
    "logical_or", "logical_xor", "matmul", "max", "maximum", "mean", "min", "minimum", "mod",
    "moveaxis", "multiply", "ndarray", "ndim", "negative", "nonzero", "not_equal", "ones",
    "ones_like", "outer", "power", "prod", "ravel", "reciprocal", "remainder", "repeat",
    "reshape", "round", "shape", "sign", "sin", "size", "sort", "split", "sqrt", "square",
    "squeeze", "stack", "std", "subtract", "sum", "swapaxes", "take", "take_along_axis", "tan",
    "tanh", "tensordot", "tile", "transpose", "true_divide", "var", "vdot", "vstack", "where",
    "zeros", "zeros_like",
]
