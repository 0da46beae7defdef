"""The CPU backend: every kernel of backends.KERNELS on NumPy arrays."""

import warnings

import numpy as np

from tensorflux import dtypes

name = "numpy"

# NumPy warns on 1/0, log(0), inf-inf...; TensorFlow returns inf/nan silently, and so do we.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tensorflux(\.|$)")

_NATIVE = {d: np.dtype(d.name) for d in dtypes._ALL if d.name not in ("bfloat16", "string")}
_NATIVE[dtypes.string] = np.dtype(object)
dtypes._BY_NATIVE.update({v: k for k, v in _NATIVE.items() if k is not dtypes.string})
dtypes._BY_NATIVE.update({np.dtype(object): dtypes.string, np.dtype("S"): dtypes.string})
for _scalar_type, _dtype in [(np.float32, dtypes.float32), (np.float64, dtypes.float64),
                             (np.float16, dtypes.float16), (np.int32, dtypes.int32),
                             (np.int64, dtypes.int64), (np.bool_, dtypes.bool)]:
    dtypes._BY_NATIVE[_scalar_type] = _dtype


def native_dtype(dtype):
    """The numpy.dtype of a DType; bfloat16 comes from ml_dtypes, imported on first use."""
    found = _NATIVE.get(dtype)
    if found is None and dtype is dtypes.bfloat16:
        try:
            import ml_dtypes
        except ImportError as error:
            raise TypeError("bfloat16 needs the ml_dtypes package (pip install ml_dtypes)") \
                from error
        found = _NATIVE[dtype] = np.dtype(ml_dtypes.bfloat16)
        dtypes._BY_NATIVE[found] = dtype
    if found is None:
        raise TypeError(f"The numpy backend has no dtype {dtype.name}")
    return found


def dtype_of(array):
    """The DType of an array; used when the fast dict lookup misses (bytes, bfloat16)."""
    kind = array.dtype.kind
    if kind in "SUO":
        return dtypes.string
    return dtypes.as_dtype(array.dtype.name)


# ---------------------------------------------------------------- creation and conversion

def asarray(value, dtype):
    if dtype is dtypes.string:
        return _string_array(value)
    return np.asarray(value, dtype=native_dtype(dtype))


def _string_array(value):
    array = np.asarray(value, dtype=object)
    flat = array.reshape(-1)
    for i, item in enumerate(flat):
        if isinstance(item, str):
            flat[i] = item.encode("utf-8")
        elif not isinstance(item, bytes):
            raise TypeError(f"A string tensor holds str or bytes, received {type(item).__name__}")
    return array


def infer_array(value):
    """Converts a Python or NumPy value with TensorFlow's dtype inference.

    NumPy values keep their dtype; Python floats become float32 and Python ints int32
    (int64 when a value does not fit), as tf.constant does.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        return value if value.dtype.kind not in "SU" else _string_array(value)
    array = np.asarray(value)
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32)
    if kind == "i":
        if array.size == 0 or (array.min() >= -2**31 and array.max() < 2**31):
            return array.astype(np.int32)
        return array
    if kind in "SUO":
        return _string_array(value)
    return array


def to_numpy(x):
    return x


def copy(x):
    return np.array(x, copy=True)


def fill(shape, value, dtype):
    return np.full(shape, value, dtype=native_dtype(dtype))


def shape_of(x):
    return x.shape


def alias(x):
    return x


def all_nonzero(x):
    return bool(np.all(x != 0))


def any_negative(x):
    return bool(np.any(x < 0))


def fill_like(x, value, dtype):
    return np.full(np.shape(x), value, dtype=native_dtype(dtype))


def assign(target, value, kind):
    """In place: the Variable's buffer is the output; returns no tensors."""
    if kind == "assign":
        np.copyto(target, value)
    elif kind == "assign_add":
        np.add(target, value, out=target)
    else:
        np.subtract(target, value, out=target)
    return ()


# ---------------------------------------------------------------- elementwise

add = np.add
subtract = np.subtract
multiply = np.multiply
divide = np.true_divide
floordiv = np.floor_divide
floormod = np.mod
maximum = np.maximum
minimum = np.minimum
atan2 = np.arctan2
negative = np.negative
sign = np.sign
square = np.square
sqrt = np.sqrt
exp = np.exp
expm1 = np.expm1
log = np.log
log1p = np.log1p
sin = np.sin
cos = np.cos
tan = np.tan
tanh = np.tanh
sinh = np.sinh
cosh = np.cosh
asin = np.arcsin
acos = np.arccos
atan = np.arctan
floor = np.floor
ceil = np.ceil
round = np.rint  # noqa: A001 - half to even, as TensorFlow
real = np.real
imag = np.imag
conj = np.conjugate
angle = np.angle
equal = np.equal
not_equal = np.not_equal
less = np.less
less_equal = np.less_equal
greater = np.greater
greater_equal = np.greater_equal
logical_and = np.logical_and
logical_or = np.logical_or
logical_xor = np.logical_xor
logical_not = np.logical_not
bitwise_not = np.invert
is_nan = np.isnan
is_finite = np.isfinite
is_inf = np.isinf
select = np.where


def string_join(x, y):
    return np.char.add(x.astype(bytes), y.astype(bytes)).astype(object)


def abs(x):  # noqa: A001
    return np.abs(x)


def pow(x, y):  # noqa: A001
    return np.power(x, y)


def rsqrt(x):
    return 1 / np.sqrt(x)


def reciprocal(x):
    return np.reciprocal(x) if x.dtype.kind in "fc" else 1 / x


def sigmoid(x):
    # exp of a non-positive number never overflows; the two branches meet at 0.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def softplus(x):
    return np.logaddexp(np.zeros((), x.dtype), x)


def softsign(x):
    return x / (1 + np.abs(x))


_erf_scalar = None


def erf(x):
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:
        import math

        global _erf_scalar
        if _erf_scalar is None:
            _erf_scalar = np.frompyfunc(math.erf, 1, 1)
        return _erf_scalar(x).astype(x.dtype)
    return scipy_erf(x).astype(x.dtype, copy=False)


def complex(re, im):  # noqa: A001
    dtype = np.complex64 if re.dtype == np.float32 else np.complex128
    return (re + 1j * im).astype(dtype)


def cast(x, dtype):
    target = native_dtype(dtype)
    if x.dtype.kind == "f" and target.kind in "iu":
        # TF truncates toward zero; NaN and out-of-range values are undefined there too.
        x = np.trunc(x)
    return np.asarray(x).astype(target)


# ---------------------------------------------------------------- reductions

def reduce_sum(x, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def reduce_mean(x, axis, keepdims):
    if x.dtype.kind in "iu":
        count = 1
        for a in axis:
            count *= x.shape[a]
        total = np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
        return (total // count if count else total).astype(x.dtype)
    return np.mean(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


# ---------------------------------------------------------------- shapes

def reshape(x, shape):
    return np.reshape(x, shape)


def broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


def stack(*xs, axis):
    return np.stack(xs, axis=axis)


def unstack(x, num, axis):
    return tuple(np.moveaxis(x, axis, 0))


def one_hot(indices, depth, on_value, off_value, axis, dtype):
    native = native_dtype(dtype)
    hot = np.asarray(indices)[..., None] == np.arange(depth)
    out = np.where(hot, np.asarray(on_value, native), np.asarray(off_value, native))
    if axis != -1 and axis != indices.ndim:
        out = np.moveaxis(out, -1, axis)
    return out


# ---------------------------------------------------------------- linear algebra

def matmul(a, b, transpose_a, transpose_b):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


# ---------------------------------------------------------------- indexing

def getitem(x, key):
    out = x[key]
    return out if isinstance(out, np.ndarray) else np.asarray(out)


def getitem_grad(g, shape, key):
    out = np.zeros(shape, dtype=g.dtype)
    np.add.at(out, key, g)
    return out


def where_indices(condition):
    return np.argwhere(condition).astype(np.int64)
