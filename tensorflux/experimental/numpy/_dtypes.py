"""TensorFlow NumPy's dtype rules (tf.experimental.numpy), without NumPy itself.

Results follow NumPy 2's promotion (NEP 50), as TF's tnp does: Python ints, floats and
complex numbers are "weak" (float32 tensor + 0.0 stays float32), and values without a dtype
take NumPy's defaults (int64, float64). experimental_enable_numpy_behavior(prefer_float32=True)
makes Python float values float32 (and strong), as in TF; ints still become float64 where
NumPy turns them into floats (sqrt, mean, true division).
"""

import numbers

import tensorflux as tf
from tensorflux import dtypes

_state = {"prefer_float32": False}

_FLOATS = {16: dtypes.float16, 32: dtypes.float32, 64: dtypes.float64}
_COMPLEX = {32: dtypes.complex64, 64: dtypes.complex64, 128: dtypes.complex128}
_SIGNED = {8: dtypes.int8, 16: dtypes.int16, 32: dtypes.int32, 64: dtypes.int64}
# The float width that holds every value of an integer of each width exactly (NumPy's rule).
_FLOAT_FOR_INT = {8: 16, 16: 32, 32: 64, 64: 64}
_PYTHON = {bool: dtypes.bool, int: dtypes.int64, float: dtypes.float64,
           complex: dtypes.complex128}


def python_float_type():
    """The dtype of a Python float: float64, or float32 under prefer_float32=True."""
    return dtypes.float32 if _state["prefer_float32"] else dtypes.float64


def as_dtype(dtype):
    """A tensorflux DType from a DType, a name, a NumPy type or a Python type (NumPy's
    meaning: float is float64, int int64); None stays None."""
    if dtype is None or isinstance(dtype, dtypes.DType):
        return dtype
    if dtype in _PYTHON:
        return _PYTHON[dtype]
    return dtypes.as_dtype(dtype)


def _bits(dtype):
    return dtype.size * 8


def _float_bits(dtype):
    if dtype.is_complex:
        return _bits(dtype) // 2
    if dtype.is_floating:
        return _bits(dtype)
    return _FLOAT_FOR_INT[_bits(dtype)]


def _promote_pair(a, b):
    if a is b:
        return a
    if a.is_bool:
        return b
    if b.is_bool:
        return a
    if a.is_integer and b.is_integer:
        if a.is_unsigned == b.is_unsigned:
            return a if _bits(a) >= _bits(b) else b
        signed, unsigned = (b, a) if a.is_unsigned else (a, b)
        if _bits(signed) > _bits(unsigned):
            return signed
        if _bits(unsigned) >= 64:
            return dtypes.float64
        return _SIGNED[2 * _bits(unsigned)]
    if {a, b} == {dtypes.bfloat16, dtypes.float16}:
        return dtypes.float32
    width = max(_float_bits(a), _float_bits(b))
    if a.is_complex or b.is_complex:
        return _COMPLEX[2 * width]
    if width == 16 and dtypes.bfloat16 in (a, b):
        return dtypes.bfloat16
    return _FLOATS[width]


def _weak_kind(value):
    """0/1/2 for a Python int/float/complex (weak in NumPy 2's promotion); None otherwise."""
    if isinstance(value, bool) or type(value).__module__ == "numpy" or _state["prefer_float32"]:
        return 0 if type(value) is int else None
    if isinstance(value, numbers.Integral):
        return 0
    if isinstance(value, numbers.Real):
        return 1
    if isinstance(value, numbers.Complex):
        return 2
    return None


def dtype_of(value):
    """The dtype a value has for promotion: its own, or the one asarray gives it."""
    dtype = getattr(value, "dtype", None)
    if _state["prefer_float32"] and isinstance(value, (float, complex)):
        # (TF's rule, which takes NumPy's float64 scalars, a float subclass, as Python floats)
        return dtypes.float32 if isinstance(value, float) else dtypes.complex64
    if isinstance(dtype, dtypes.DType):
        return dtype
    if dtype is not None and hasattr(dtype, "kind"):  # a NumPy array or scalar
        return dtypes.as_dtype(dtype)
    if isinstance(value, bool):
        return dtypes.bool
    if isinstance(value, numbers.Integral):
        return dtypes.int64
    if isinstance(value, numbers.Real):
        return dtypes.float64
    if isinstance(value, numbers.Complex):
        return dtypes.complex128
    return python_dtype(tf.convert_to_tensor(value).dtype)


def python_dtype(inferred):
    """NumPy's default for Python values that tensorflux's conversion infers as `inferred`."""
    if inferred is dtypes.int32:
        return dtypes.int64
    if inferred is dtypes.float32:
        return python_float_type()
    return inferred


def result_type(*arrays_and_dtypes):
    """The dtype NumPy 2 gives an operation on these values and dtypes (Python scalars weak)."""
    strong = None
    weak = -1
    for item in arrays_and_dtypes:
        kind = None if isinstance(item, (dtypes.DType, type, str)) else _weak_kind(item)
        if kind is not None:
            weak = max(weak, kind)
            continue
        dtype = as_dtype(item) if isinstance(item, (dtypes.DType, type, str)) else dtype_of(item)
        strong = dtype if strong is None else _promote_pair(strong, dtype)
    if weak < 0:
        return strong if strong is not None else dtypes.float64
    if strong is None or strong.is_bool:
        return (dtypes.int64, dtypes.float64, dtypes.complex128)[weak]
    if weak == 0 or strong.is_complex:
        return strong
    if weak == 1:
        return strong if strong.is_floating else dtypes.float64
    return _COMPLEX[2 * _float_bits(strong)] if strong.is_floating else dtypes.complex128


def promote_types(type1, type2):
    """The dtype both dtypes promote to (NumPy 2's table)."""
    return _promote_pair(as_dtype(type1), as_dtype(type2))


class _Kind:
    """One of NumPy's abstract dtype kinds (tnp.floating, ...), for issubdtype."""

    def __init__(self, name, test):
        self.__name__ = name
        self._test = test

    def __repr__(self):
        return f"<class 'tnp.{self.__name__}'>"


generic = _Kind("generic", lambda d: True)
number = _Kind("number", lambda d: d.is_integer or d.is_floating or d.is_complex)
inexact = _Kind("inexact", lambda d: d.is_floating or d.is_complex)
floating = _Kind("floating", lambda d: d.is_floating)
complexfloating = _Kind("complexfloating", lambda d: d.is_complex)
integer = _Kind("integer", lambda d: d.is_integer)
signedinteger = _Kind("signedinteger", lambda d: d.is_integer and not d.is_unsigned)
unsignedinteger = _Kind("unsignedinteger", lambda d: d.is_integer and d.is_unsigned)


def issubdtype(arg1, arg2):
    """Whether dtype `arg1` is `arg2` or of the kind `arg2` (tnp.floating, tnp.integer...)."""
    first = as_dtype(arg1)
    if isinstance(arg2, _Kind):
        return arg2._test(first)
    return first is as_dtype(arg2)


class _Info:
    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __repr__(self):
        shown = ", ".join(f"{k}={v}" for k, v in self.__dict__.items() if k != "dtype")
        return f"info(dtype={self.dtype.name}, {shown})"


# Mantissa bits and smallest normal exponent of each float dtype (IEEE 754, bfloat16).
_FLOAT_LAYOUT = {"float16": (10, -14), "bfloat16": (7, -126), "float32": (23, -126),
                 "float64": (52, -1022)}


def finfo(dtype):
    """Machine limits of a float dtype: bits, eps, max, min, tiny (NumPy's names)."""
    dtype = as_dtype(getattr(dtype, "dtype", dtype))
    if dtype.is_complex:
        dtype = dtype.real_dtype
    if dtype.name not in _FLOAT_LAYOUT:
        raise ValueError(f"finfo: expected a float dtype, received {dtype.name}")
    mantissa, min_exponent = _FLOAT_LAYOUT[dtype.name]
    return _Info(dtype=dtype, bits=dtype.size * 8, eps=2.0 ** -mantissa, max=dtype.max,
                 min=dtype.min, tiny=2.0 ** min_exponent, smallest_normal=2.0 ** min_exponent,
                 resolution=10.0 ** -int(mantissa * 0.30103))


def iinfo(dtype):
    """Limits of an integer dtype: bits, max, min."""
    dtype = as_dtype(getattr(dtype, "dtype", dtype))
    if not dtype.is_integer:
        raise ValueError(f"iinfo: expected an integer dtype, received {dtype.name}")
    return _Info(dtype=dtype, bits=dtype.size * 8, max=dtype.max, min=dtype.min)


__all__ = ["complexfloating", "finfo", "floating", "generic", "iinfo", "inexact", "integer",
           "issubdtype", "number", "promote_types", "result_type", "signedinteger",
           "unsignedinteger"]
