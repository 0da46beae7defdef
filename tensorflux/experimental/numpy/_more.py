"""More of tf.experimental.numpy: less common math, triangles and diagonals, padding,
rolling and splitting helpers, on the same promotion rules as _core."""

import builtins
import math as _pymath

import tensorflux as tf
from tensorflux import dtypes
from tensorflux.experimental.numpy._core import (
    _axis,
    _inexact,
    _promote,
    _unary_float,
    _unary_same,
    asarray,
    atleast_1d,
    concatenate,
    flip,
    moveaxis,
    reshape,
    split,
    swapaxes,
)
from tensorflux.tensor import _TensorLike

arcsin = _unary_float(tf.math.asin, "arcsin")
arccos = _unary_float(tf.math.acos, "arccos")
arctan = _unary_float(tf.math.atan, "arctan")
arcsinh = _unary_float(tf.math.asinh, "arcsinh")
arccosh = _unary_float(tf.math.acosh, "arccosh")
arctanh = _unary_float(tf.math.atanh, "arctanh")
sinh = _unary_float(tf.math.sinh, "sinh")
cosh = _unary_float(tf.math.cosh, "cosh")
fabs = _unary_float(tf.math.abs, "fabs")
log2 = _unary_float(lambda x: tf.math.log(x) / asarray(_pymath.log(2.0), x.dtype), "log2")
log10 = _unary_float(lambda x: tf.math.log(x) / asarray(_pymath.log(10.0), x.dtype), "log10")
exp2 = _unary_float(lambda x: tf.math.pow(asarray(2.0, x.dtype), x), "exp2")
cbrt = _unary_float(lambda x: tf.sign(x) * tf.pow(tf.abs(x), asarray(1 / 3, x.dtype)), "cbrt")
deg2rad = _unary_float(lambda x: x * asarray(_pymath.pi / 180, x.dtype), "deg2rad")
rad2deg = _unary_float(lambda x: x * asarray(180 / _pymath.pi, x.dtype), "rad2deg")
positive = _unary_same(tf.identity, "positive")
conj = conjugate = _unary_same(tf.math.conj, "conj")
real = _unary_same(tf.math.real, "real")
imag = _unary_same(tf.math.imag, "imag")


def angle(z, deg=False):
    """The argument of complex values (0 or pi for reals), in degrees with deg=True."""
    z = _inexact(z)
    result = tf.math.angle(z) if z.dtype.is_complex else tf.math.atan2(tf.zeros_like(z), z)
    return result * asarray(180 / _pymath.pi, result.dtype) if deg else result


def flatten(a, order="C"):
    """`a` as a 1-D tensor (order="C" only)."""
    return reshape(a, [-1], order=order)


def signbit(x):
    """Whether the sign bit is set (True for -0.0 too)."""
    x = _inexact(x)
    return tf.math.atan2(x, -tf.ones_like(x)) < 0  # (-pi for -0.0, pi for 0.0)


def isposinf(x):
    x = asarray(x)
    return tf.logical_and(tf.math.is_inf(_inexact(x)), x > 0)


def isneginf(x):
    x = asarray(x)
    return tf.logical_and(tf.math.is_inf(_inexact(x)), x < 0)


def _float_binary(op, name):
    def apply(x1, x2):
        x1, x2 = _promote(x1, x2)
        return op(_inexact(x1), _inexact(x2))
    apply.__name__ = name
    apply.__doc__ = f"NumPy's {name}, in the operands' common float dtype."
    return apply


hypot = _float_binary(lambda a, b: tf.sqrt(a * a + b * b), "hypot")
float_power = _float_binary(lambda a, b: tf.pow(tf.cast(a, dtypes.float64),
                                                tf.cast(b, dtypes.float64)), "float_power")


def _logaddexp(a, b):
    big = tf.maximum(a, b)
    return big + tf.math.log1p(tf.exp(-tf.abs(a - b)))


logaddexp = _float_binary(_logaddexp, "logaddexp")
logaddexp2 = _float_binary(
    lambda a, b: _logaddexp(a * asarray(_pymath.log(2.0), a.dtype),
                            b * asarray(_pymath.log(2.0), a.dtype)) / asarray(_pymath.log(2.0),
                                                                              a.dtype),
    "logaddexp2")


def heaviside(x1, x2):
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0."""
    x1, x2 = _promote(x1, x2)
    x1, x2 = _inexact(x1), _inexact(x2)
    step = tf.cast(x1 > 0, x1.dtype)
    return tf.where(tf.equal(x1, 0), x2 + tf.zeros_like(x1), step)


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0."""
    x = _inexact(x)
    scaled = x * asarray(_pymath.pi, x.dtype)
    safe = tf.where(tf.equal(x, 0), tf.ones_like(x), scaled)
    return tf.where(tf.equal(x, 0), tf.ones_like(x), tf.sin(safe) / safe)


def fix(x):
    """Rounds towards zero."""
    x = _inexact(x)
    return tf.where(x < 0, tf.math.ceil(x), tf.math.floor(x))


def divmod(x1, x2):  # noqa: A001 - NumPy's name
    """(x1 // x2, x1 % x2), floored as in Python."""
    x1, x2 = _promote(x1, x2)
    return tf.math.floordiv(x1, x2), tf.math.floormod(x1, x2)


def iscomplex(x):
    x = asarray(x)
    if not x.dtype.is_complex:
        return tf.zeros_like(x, dtypes.bool)
    return tf.not_equal(tf.math.imag(x), 0)


def isreal(x):
    return tf.logical_not(iscomplex(x))


def ascontiguousarray(a, dtype=None):
    return asarray(atleast_1d(a), dtype)


def _bitwise(op, logical, name):
    def apply(x1, x2):
        x1, x2 = _promote(x1, x2)
        return logical(x1, x2) if x1.dtype.is_bool else op(x1, x2)
    apply.__name__ = name
    apply.__doc__ = f"NumPy's {name} (the logical operation on bools)."
    return apply


bitwise_and = _bitwise(tf.bitwise.bitwise_and, tf.logical_and, "bitwise_and")
bitwise_or = _bitwise(tf.bitwise.bitwise_or, tf.logical_or, "bitwise_or")
bitwise_xor = _bitwise(tf.bitwise.bitwise_xor, tf.logical_xor, "bitwise_xor")


def bitwise_not(x):
    x = asarray(x)
    return tf.logical_not(x) if x.dtype.is_bool else tf.bitwise.invert(x)


invert = bitwise_not


# ---------------------------------------------------------------- reductions


def average(a, axis=None, weights=None, returned=False):
    """The (weighted) mean over `axis`; with returned=True also the sum of the weights."""
    a = _inexact(a)
    if weights is None:
        avg = tf.reduce_mean(a, axis=_axis(axis))
        total = tf.cast(tf.size(a) / tf.size(avg), avg.dtype)
        total = tf.broadcast_to(total, tf.shape(avg))
    else:
        a, weights = _promote(a, weights)
        if weights.ndim == 1 and a.ndim > 1 and axis is not None:
            shape = [1] * a.ndim
            shape[axis] = -1
            weights = tf.reshape(weights, shape)
        weights = tf.broadcast_to(weights, tf.shape(a))
        total = tf.reduce_sum(weights, axis=_axis(axis))
        avg = tf.reduce_sum(a * weights, axis=_axis(axis)) / total
    return (avg, total) if returned else avg


def count_nonzero(a, axis=None):
    """The number of nonzero values over `axis`, int64."""
    return tf.reduce_sum(tf.cast(tf.cast(asarray(a), dtypes.bool), dtypes.int64),
                         axis=_axis(axis))


def _without_nan(a, fill):
    a = asarray(a)
    if not (a.dtype.is_floating or a.dtype.is_complex):
        return a
    return tf.where(tf.math.is_nan(a), asarray(fill, a.dtype), a)


def nansum(a, axis=None, dtype=None, keepdims=False):
    from tensorflux.experimental.numpy._core import sum as _sum

    return _sum(_without_nan(a, 0), axis=axis, dtype=dtype, keepdims=keepdims)


def nanprod(a, axis=None, dtype=None, keepdims=False):
    from tensorflux.experimental.numpy._core import prod

    return prod(_without_nan(a, 1), axis=axis, dtype=dtype, keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, keepdims=False):
    """The mean of the values that are not NaN."""
    a = _inexact(a)
    if dtype is not None:
        a = tf.cast(a, dtype)
    present = tf.cast(tf.logical_not(tf.math.is_nan(a)), a.dtype)
    total = tf.reduce_sum(_without_nan(a, 0), axis=_axis(axis), keepdims=keepdims)
    return total / tf.reduce_sum(present, axis=_axis(axis), keepdims=keepdims)


def ptp(a, axis=None, keepdims=False):
    """max - min over `axis`."""
    a = asarray(a)
    axis = _axis(axis)
    return (tf.reduce_max(a, axis=axis, keepdims=keepdims)
            - tf.reduce_min(a, axis=axis, keepdims=keepdims))


# ---------------------------------------------------------------- matrices


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The `offset` diagonal of the matrices on axes (axis1, axis2), on the last axis."""
    a = asarray(a)
    a = moveaxis(a, [axis1, axis2], [-2, -1])
    if offset > 0:
        a = a[..., :, offset:]
    elif offset < 0:
        a = a[..., -offset:, :]
    return tf.linalg.diag_part(a)


def trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    from tensorflux.experimental.numpy._core import sum as _sum

    return _sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def diag(v, k=0):
    """A matrix with `v` on its k-th diagonal (v 1-D), or the k-th diagonal of `v` (2-D)."""
    v = asarray(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: `v` must be 1-D or 2-D, received shape {v.shape}")
    return tf.linalg.diag(v, k=k)


def diagflat(v, k=0):
    return diag(tf.reshape(asarray(v), [-1]), k)


def tri(N, M=None, k=0, dtype=float):  # noqa: N803 - NumPy's argument names
    """Ones at and below the k-th diagonal of an N x M matrix."""
    from tensorflux.experimental.numpy._dtypes import as_dtype

    M = N if M is None else M  # noqa: N806
    rows = tf.range(N)[:, None]
    cols = tf.range(M)[None, :]
    return tf.cast(cols - rows <= k, as_dtype(dtype))


def _triangle(m, k, lower):
    m = asarray(m)
    rows = tf.range(tf.shape(m)[-2])[:, None]
    cols = tf.range(tf.shape(m)[-1])[None, :]
    keep = cols - rows <= k if lower else cols - rows >= k
    return tf.where(keep, m, tf.zeros_like(m))


def tril(m, k=0):
    """m with the values above the k-th diagonal set to zero."""
    return _triangle(m, k, True)


def triu(m, k=0):
    """m with the values below the k-th diagonal set to zero."""
    return _triangle(m, k, False)


def kron(a, b):
    """The Kronecker product of two arrays of equal rank (lower ranks get leading 1s)."""
    a, b = _promote(a, b)
    rank = builtins.max(a.ndim, b.ndim)
    a = tf.reshape(a, [1] * (rank - a.ndim) + list(a.shape))
    b = tf.reshape(b, [1] * (rank - b.ndim) + list(b.shape))
    product = tf.reshape(a, [d for n in a.shape for d in (n, 1)]) * tf.reshape(
        b, [d for n in b.shape for d in (1, n)])
    return tf.reshape(product, [p * q for p, q in zip(a.shape, b.shape)])


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors along the given axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _promote(a, b)
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    return moveaxis(tf.linalg.cross(*_broadcast_pair(a, b)), -1, axisc)


def _broadcast_pair(a, b):
    shape = tf.broadcast_dynamic_shape(tf.shape(a), tf.shape(b))
    return tf.broadcast_to(a, shape), tf.broadcast_to(b, shape)


# ---------------------------------------------------------------- shapes and layouts


def atleast_3d(a):
    a = asarray(a)
    if a.ndim == 0:
        return tf.reshape(a, [1, 1, 1])
    if a.ndim == 1:
        return a[None, :, None]
    return a[..., None] if a.ndim == 2 else a


def dstack(tup):
    return concatenate([atleast_3d(x) for x in tup], axis=2)


def hsplit(ary, indices_or_sections):
    ary = asarray(ary)
    return split(ary, indices_or_sections, axis=0 if ary.ndim == 1 else 1)


def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=0)


def dsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, axis=2)


def broadcast_arrays(*args):
    args = [asarray(a) for a in args]
    shape = tf.shape(args[0])
    for a in args[1:]:
        shape = tf.broadcast_dynamic_shape(shape, tf.shape(a))
    return [tf.broadcast_to(a, shape) for a in args]


def append(arr, values, axis=None):
    """`values` joined to the end of `arr` (both flattened when axis is None)."""
    if axis is None:
        return concatenate([arr, values], axis=None)
    return concatenate([arr, values], axis=axis)


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def rot90(m, k=1, axes=(0, 1)):
    """m rotated by 90 degrees k times, from the first axis towards the second."""
    m = asarray(m)
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    if k == 1:
        return swapaxes(flip(m, axes[1]), axes[0], axes[1])
    return flip(swapaxes(m, axes[0], axes[1]), axes[1])


def roll(a, shift, axis=None):
    """Elements shifted along `axis` (the flattened array for None), wrapping around."""
    a = asarray(a)
    if axis is None:
        return tf.reshape(tf.roll(tf.reshape(a, [-1]), shift, axis=0), tf.shape(a))
    return tf.roll(a, shift, axis=axis)


def pad(array, pad_width, mode="constant", constant_values=0):
    """`array` padded by pad_width (an int, a (before, after) pair, or one pair per axis)."""
    array = asarray(array)
    if isinstance(pad_width, int):
        pad_width = [(pad_width, pad_width)] * array.ndim
    pad_width = [list(p) if isinstance(p, (list, tuple)) else [p, p] for p in pad_width]
    if len(pad_width) == 1:
        pad_width = pad_width * array.ndim
    modes = {"constant": "CONSTANT", "reflect": "REFLECT", "symmetric": "SYMMETRIC"}
    if mode not in modes:
        raise NotImplementedError(f"pad: mode must be one of {sorted(modes)}, received "
                                  f"{mode!r}")
    if mode == "constant":
        return tf.pad(array, pad_width, constant_values=asarray(constant_values, array.dtype))
    return tf.pad(array, pad_width, mode=modes[mode])


def diff(a, n=1, axis=-1):
    """The n-th discrete difference along `axis`."""
    a = asarray(a)
    for _ in range(n):
        a = _diff_once(a, axis)
    return a


def _diff_once(a, axis):
    a = moveaxis(a, axis, -1)
    if a.dtype.is_bool:
        return moveaxis(tf.not_equal(a[..., 1:], a[..., :-1]), -1, axis)
    return moveaxis(a[..., 1:] - a[..., :-1], -1, axis)


def meshgrid(*xi, indexing="xy"):
    return tf.meshgrid(*[tf.reshape(asarray(x), [-1]) for x in xi], indexing=indexing)


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """base ** linspace(start, stop, num)."""
    from tensorflux.experimental.numpy._core import linspace
    from tensorflux.experimental.numpy._dtypes import as_dtype

    exponents = linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    values = tf.pow(asarray(base, exponents.dtype), exponents)
    return values if dtype is None else tf.cast(values, as_dtype(dtype))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """A geometric progression from start to stop (both nonzero, of one sign)."""
    from tensorflux.experimental.numpy._dtypes import as_dtype

    start, stop = _promote(start, stop)
    start, stop = _inexact(start), _inexact(stop)
    values = logspace(tf.math.log(tf.abs(start)), tf.math.log(tf.abs(stop)), num=num,
                      endpoint=endpoint, base=_pymath.e, axis=axis) * tf.sign(start)
    return values if dtype is None else tf.cast(values, as_dtype(dtype))


def select(condlist, choicelist, default=0):
    """The first choice whose condition holds, elementwise (`default` where none does)."""
    choices = _promote(*choicelist, default)
    result = choices[-1]
    for condition, choice in reversed(list(zip(condlist, choices[:-1]))):
        condition = tf.cast(asarray(condition), dtypes.bool)
        result = tf.where(condition, choice, result)
    return result


def vander(x, N=None, increasing=False):  # noqa: N803 - NumPy's argument name
    x = atleast_1d(x)
    columns = x.shape[0] if N is None else N
    powers = tf.range(columns)
    if not increasing:
        powers = powers[::-1]
    return tf.pow(x[:, None], tf.cast(powers, x.dtype)[None, :])


def compress(condition, a, axis=None):
    """The slices of `a` along `axis` (the flattened array for None) where condition holds."""
    a = asarray(a)
    if axis is None:
        a, axis = tf.reshape(a, [-1]), 0
    condition = tf.cast(asarray(condition), dtypes.bool)
    length = condition.shape[0]
    a = tf.gather(a, tf.range(length), axis=axis) if length != a.shape[axis] else a
    return tf.boolean_mask(a, condition, axis=axis)


def diag_indices(n, ndim=2):
    """The indices of the main diagonal of an n x ... x n array, int64 as in NumPy."""
    index = tf.range(n, dtype=dtypes.int64)
    return (index,) * ndim


def isscalar(num):
    """Whether `num` is a Python or NumPy scalar (tensors are not, as in TF)."""
    if isinstance(num, _TensorLike):
        return False
    return isinstance(num, (int, float, complex, str, bytes)) or (
        type(num).__module__ == "numpy" and getattr(num, "ndim", 1) == 0)


def iscomplexobj(x):
    return asarray(x).dtype.is_complex


def isrealobj(x):
    return not iscomplexobj(x)


__all__ = [
    "angle", "append", "arccos", "ascontiguousarray", "bitwise_and", "bitwise_not", "bitwise_or",
    "bitwise_xor", "compress", "diag_indices", "divmod", "fix", "invert", "iscomplex",
    "isreal", "sinc", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "atleast_3d",
    "average", "broadcast_arrays", "cbrt", "conj", "conjugate", "cosh", "count_nonzero",
    "cross", "deg2rad", "diag", "diagflat", "diagonal", "diff", "dsplit", "dstack", "exp2",
    "fabs", "flatten", "fliplr", "flipud", "float_power", "geomspace", "heaviside", "hsplit",
    "hypot",
    "imag", "iscomplexobj", "isneginf", "isposinf", "isrealobj", "isscalar", "kron",
    "log10", "log2", "logaddexp", "logaddexp2", "logspace", "meshgrid", "nanmean", "nanprod",
    "nansum", "pad", "positive", "ptp", "rad2deg", "real", "roll", "rot90", "select",
    "signbit", "sinh", "trace", "tri", "tril", "triu", "vander", "vsplit",
]
