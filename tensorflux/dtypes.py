"""DType objects, `as_dtype`, and the dtype rules shared by every op; no NumPy here."""

__all__ = [
    "DType",
    "as_dtype",
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "half",
    "bfloat16",
    "float32",
    "float64",
    "double",
    "complex64",
    "complex128",
    "string",
]

_builtin_bool, _builtin_int, _builtin_float, _builtin_complex = bool, int, float, complex


class DType:
    """A tensor element type: `tf.float32`, `tf.int32`, ...

    >>> import tensorflux as tf
    >>> tf.float32.is_floating, tf.int32.max
    (True, 2147483647)
    """

    __slots__ = ("name", "kind", "itemsize")

    def __init__(self, name, kind, itemsize):
        self.name = name
        # NumPy's kind letters: b bool, i signed, u unsigned, f float, c complex, S string.
        self.kind = kind
        self.itemsize = itemsize

    @property
    def is_bool(self):
        return self.kind == "b"

    @property
    def is_integer(self):
        return self.kind in "iu"

    @property
    def is_unsigned(self):
        return self.kind == "u"

    @property
    def is_floating(self):
        return self.kind == "f"

    @property
    def is_complex(self):
        return self.kind == "c"

    @property
    def is_numeric(self):
        return self.kind in "iufc"

    @property
    def is_differentiable(self):
        """Whether gradients flow through values of this dtype (floats and complex only)."""
        return self.kind in "fc"

    @property
    def base_dtype(self):
        return self

    @property
    def real_dtype(self):
        return {"complex64": float32, "complex128": float64}.get(self.name, self)

    @property
    def size(self):
        return self.itemsize

    @property
    def as_numpy_dtype(self):
        # Imported here so that importing dtypes never imports NumPy.
        from tensorflux.backends import numpy_backend

        return numpy_backend.native_dtype(self).type

    @property
    def min(self):
        return _limits(self)[0]

    @property
    def max(self):
        return _limits(self)[1]

    def is_compatible_with(self, other):
        return self is as_dtype(other)

    def __repr__(self):
        return f"tf.{self.name}"

    def __str__(self):
        return f"<dtype: {self.name!r}>"

    def __reduce__(self):
        return as_dtype, (self.name,)

    def __eq__(self, other):
        if isinstance(other, DType):
            return self is other
        try:
            return self is as_dtype(other)
        except TypeError:
            return False

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.name)


bool = DType("bool", "b", 1)  # noqa: A001 - TensorFlow's public name
int8 = DType("int8", "i", 1)
int16 = DType("int16", "i", 2)
int32 = DType("int32", "i", 4)
int64 = DType("int64", "i", 8)
uint8 = DType("uint8", "u", 1)
uint16 = DType("uint16", "u", 2)
uint32 = DType("uint32", "u", 4)
uint64 = DType("uint64", "u", 8)
float16 = DType("float16", "f", 2)
bfloat16 = DType("bfloat16", "f", 2)
float32 = DType("float32", "f", 4)
float64 = DType("float64", "f", 8)
complex64 = DType("complex64", "c", 8)
complex128 = DType("complex128", "c", 16)
string = DType("string", "S", 0)
half = float16
double = float64

_ALL = (bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, bfloat16,
        float32, float64, complex64, complex128, string)
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update({"half": float16, "float": float32, "double": float64, "int": int32,
                 "long": int64, "str": string, "bytes": string, "object": string,
                 "bytes_": string, "str_": string})
_BY_PYTHON_TYPE = {_builtin_bool: bool, _builtin_int: int32, _builtin_float: float32,
                   _builtin_complex: complex128, str: string, bytes: string}

# Filled by each backend with its own dtype objects (e.g. numpy.dtype('float32') -> float32),
# so that a tensor's dtype is one dict lookup on its array.
_BY_NATIVE = {}


def as_dtype(type_value):
    """Converts a DType, a name, a Python type or a NumPy dtype into a DType.

    >>> import tensorflux as tf
    >>> tf.as_dtype("float32") is tf.float32
    True
    """
    if isinstance(type_value, DType):
        return type_value
    found = _BY_NATIVE.get(type_value) if _hashable(type_value) else None
    if found is not None:
        return found
    if isinstance(type_value, str):
        found = _BY_NAME.get(type_value)
    elif isinstance(type_value, type) and type_value in _BY_PYTHON_TYPE:
        found = _BY_PYTHON_TYPE[type_value]
    else:
        # NumPy dtypes and scalar types (np.float32, np.dtype('int64'), ml_dtypes.bfloat16).
        name = getattr(type_value, "name", None) or getattr(type_value, "__name__", None)
        found = _BY_NAME.get(name) if isinstance(name, str) else None
        if found is None and hasattr(type_value, "dtype"):
            found = _BY_NAME.get(getattr(type_value.dtype, "name", None))
    if found is None:
        raise TypeError(f"Cannot convert {type_value!r} to a dtype; expected one of "
                        f"{', '.join(d.name for d in _ALL)}.")
    return found


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _limits(dtype):
    if dtype.is_bool:
        return False, True
    if dtype.kind == "i":
        bits = 8 * dtype.itemsize
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if dtype.kind == "u":
        return 0, 2 ** (8 * dtype.itemsize) - 1
    finite_max = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
                  "float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}
    if dtype.name in finite_max:
        return -finite_max[dtype.name], finite_max[dtype.name]
    raise TypeError(f"dtype {dtype.name} has no min and max")


def python_scalar_dtype(value):
    """The dtype TensorFlow gives a Python scalar of its own: bool, int32, float32, complex128."""
    return _BY_PYTHON_TYPE.get(type(value))
