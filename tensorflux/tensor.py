"""Tensor: a thin immutable handle on a backend array, with TensorFlow's operator overloads.

Eager tensors hold a raw array in `_value`; the graph issue adds symbolic tensors that hold
a shape, a dtype and the graph node that makes them. Everything else (ops, gradients) lives
in ops/ and autodiff/; the overloads below only forward to those ops.
"""

import numbers as _numbers

from tensorflux import dtypes, errors
from tensorflux.backends import backend_of
from tensorflux.composite_tensor import CompositeTensor
from tensorflux.context import current_backend
from tensorflux.tensor_shape import TensorShape, shape_from_tuple

__all__ = ["Tensor", "TensorSpec", "constant", "convert_to_tensor", "is_tensor"]

_BY_NATIVE = dtypes._BY_NATIVE
_INDEX_DTYPES = frozenset([dtypes.int16, dtypes.int32, dtypes.int64])


def _reflects(other, name):
    """Whether `other` is a composite (RaggedTensor, SparseTensor) with its own operator
    `name`: an operator of a tensor whose op could not convert it then returns NotImplemented,
    so that Python runs the composite's (as TF: `tf.constant([1.0]) + rt` is ragged)."""
    if not isinstance(other, CompositeTensor):
        return False
    method = getattr(type(other), name, None)
    return method is not None and method is not getattr(object, name, None)


def _reflected(other, name, error):
    """NotImplemented where `other` is a composite with its own operator `name` (so that
    Python runs the composite's: dense (op) composite), else `error` raised again."""
    if _reflects(other, name):
        return NotImplemented
    raise error


class _TensorLike:
    """Operator overloads shared by Tensor and Variable (TensorFlow's semantics)."""

    __slots__ = ()
    # NumPy defers to these overloads (ndarray + Tensor gives a Tensor), as with TensorFlow's
    # tensors; a NumPy function called on a tensor (np.exp(t)) reads it through __array__ and
    # returns an ndarray, as it does on TensorFlow's.
    __array_priority__ = 100

    def __add__(self, other):
        return _math.add(self, other)

    def __radd__(self, other):
        return _math.add(other, self)

    def __sub__(self, other):
        return _math.subtract(self, other)

    def __rsub__(self, other):
        return _math.subtract(other, self)

    def __mul__(self, other):
        return _math.multiply(self, other)

    def __rmul__(self, other):
        return _math.multiply(other, self)

    def __truediv__(self, other):
        return _math.truediv(self, other)

    def __rtruediv__(self, other):
        return _math.truediv(other, self)

    def __floordiv__(self, other):
        try:
            return _math.floordiv(self, other)
        except ValueError as error:
            return _reflected(other, "__rfloordiv__", error)

    def __rfloordiv__(self, other):
        return _math.floordiv(other, self)

    def __mod__(self, other):
        try:
            return _math.mod(self, other)
        except ValueError as error:
            return _reflected(other, "__rmod__", error)

    def __rmod__(self, other):
        return _math.mod(other, self)

    def __pow__(self, other):
        try:
            return _math.pow(self, other)
        except ValueError as error:
            return _reflected(other, "__rpow__", error)

    def __rpow__(self, other):
        return _math.pow(other, self)

    def __matmul__(self, other):
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return _linalg.matmul(other, self)

    def __neg__(self):
        return _math.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _math.abs(self)

    def __invert__(self):
        return _math.invert(self)

    # &, |, ^: logical for bool tensors, bit by bit for integers (as TF)
    def __and__(self, other):
        try:
            if self.dtype.is_integer:
                return _bitwise().bitwise_and(self, other)
            return _math.logical_and(self, other)
        except ValueError as error:
            return _reflected(other, "__rand__", error)

    def __rand__(self, other):
        if self.dtype.is_integer:
            return _bitwise().bitwise_and(other, self)
        return _math.logical_and(other, self)

    def __or__(self, other):
        try:
            if self.dtype.is_integer:
                return _bitwise().bitwise_or(self, other)
            return _math.logical_or(self, other)
        except ValueError as error:
            return _reflected(other, "__ror__", error)

    def __ror__(self, other):
        if self.dtype.is_integer:
            return _bitwise().bitwise_or(other, self)
        return _math.logical_or(other, self)

    def __xor__(self, other):
        try:
            if self.dtype.is_integer:
                return _bitwise().bitwise_xor(self, other)
            return _math.logical_xor(self, other)
        except ValueError as error:
            return _reflected(other, "__rxor__", error)

    def __rxor__(self, other):
        if self.dtype.is_integer:
            return _bitwise().bitwise_xor(other, self)
        return _math.logical_xor(other, self)

    def __lt__(self, other):
        try:
            return _math.less(self, other)
        except ValueError as error:
            return _reflected(other, "__gt__", error)

    def __le__(self, other):
        try:
            return _math.less_equal(self, other)
        except ValueError as error:
            return _reflected(other, "__ge__", error)

    def __gt__(self, other):
        try:
            return _math.greater(self, other)
        except ValueError as error:
            return _reflected(other, "__lt__", error)

    def __ge__(self, other):
        try:
            return _math.greater_equal(self, other)
        except ValueError as error:
            return _reflected(other, "__le__", error)

    def __eq__(self, other):
        # TF2: elementwise, and False against None or anything that is not a tensor value.
        if other is None:
            return False
        try:
            return _math.equal(self, other)
        except (TypeError, ValueError):
            # a RaggedTensor compares elementwise by its own __eq__ (rt == dense), as in TF
            return NotImplemented if _reflects(other, "__eq__") else False

    def __ne__(self, other):
        if other is None:
            return True
        try:
            return _math.not_equal(self, other)
        except (TypeError, ValueError):
            return NotImplemented if _reflects(other, "__ne__") else True

    # Elementwise __eq__ makes tensors unhashable, as in TF2; use `.ref()` as a dict key.
    def __hash__(self):
        raise TypeError("Tensor is unhashable. Instead, use tensor.ref() as the key.")

    def __getitem__(self, key):
        return _array.getitem(self, _tf_key(key))

    def _numpy(self):
        """The value as NumPy for tensorflux's own reads; a Variable's is a snapshot (a copy)."""
        return self.numpy()

    def ref(self):
        """A hashable reference to this object, for sets and dict keys (TF's `Tensor.ref`)."""
        return _Reference(self)

    def experimental_ref(self):
        return _Reference(self)


_INDEX_ERROR = ("Only integers, slices (`:`), ellipsis (`...`), tf.newaxis (`None`) and scalar "
                "tf.int32/tf.int64 tensors are valid indices")


def _tf_key(key):
    """`key` as TensorFlow's Tensor.__getitem__ reads it, for ops.indexing.getitem (which
    also takes NumPy's advanced keys, for tensorflux's own use).

    A bool tensor or array is a mask (tf.boolean_mask). Otherwise a list is read as a tuple
    (x[[0, 1]] is x[0, 1]) and each entry must be an int, a slice of ints, Ellipsis,
    tf.newaxis or a scalar int16/int32/int64 tensor: others (index arrays, nested lists,
    floats) raise TF's TypeError.
    """
    kind = type(key)
    if kind is int or kind is slice and _plain_slice(key):
        return key
    if kind is not tuple and kind is not list:
        dtype = getattr(key, "dtype", None)
        # (a NumPy bool array is a mask, NumPy's bool scalar, which has no __setitem__, not)
        if kind is bool or dtype is dtypes.bool or (getattr(dtype, "kind", None) == "b"
                                                    and hasattr(key, "__setitem__")):
            if kind is bool or not getattr(key, "ndim", 1):
                # (TF's ValueError; InvalidArgumentError is one)
                raise errors.InvalidArgumentError("mask cannot be scalar.", "boolean_mask")
            return key
        key = (key,)
    for entry in key:
        if type(entry) is slice:
            for bound in (entry.start, entry.stop, entry.step):
                if bound is not None:
                    _check_index(bound)
        elif entry is not None and entry is not Ellipsis:
            _check_index(entry)
    if key and all(type(entry) is bool for entry in key):
        raise errors.InvalidArgumentError(
            f"getitem: index entries are integers, not bools (received {key!r}); use a bool "
            "tensor as the whole key for a mask", "getitem")
    return tuple(int(entry) if type(entry) is bool else entry for entry in key)


def _plain_slice(key):
    return all(type(b) is int or b is None for b in (key.start, key.stop, key.step))


def _check_index(entry):
    if isinstance(entry, _numbers.Integral):
        return
    dtype = getattr(entry, "dtype", None)
    try:
        allowed = dtype is not None and dtypes.as_dtype(dtype) in _INDEX_DTYPES
    except TypeError:
        allowed = False
    shape = getattr(entry, "shape", ())
    rank = shape.rank if isinstance(shape, TensorShape) else len(shape)
    if not allowed or rank:  # (a traced tensor of unknown rank passes, as in TF)
        raise TypeError(f"{_INDEX_ERROR}, got {entry!r}")


class Tensor(_TensorLike):
    """An immutable multi-dimensional array on a device, as returned by every op.

    >>> import tensorflux as tf
    >>> x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    >>> (x + 1).numpy().tolist(), x.shape, x.dtype
    ([[2.0, 3.0], [4.0, 5.0]], TensorShape([2, 2]), tf.float32)
    """

    # _keras_mask: Keras's mask of the tensor's steps (Embedding(mask_zero=True), Masking),
    # set by tensorflux.keras layers as TensorFlow's Keras sets it on its tensors; unset on
    # most tensors (read it with getattr and a default).
    __slots__ = ("_value", "_keras_mask", "__weakref__")

    def __init__(self, value):
        self._value = value

    # -- what the tensor is
    @property
    def dtype(self):
        native = self._value.dtype
        found = _BY_NATIVE.get(native)
        return found if found is not None else backend_of(self._value).dtype_of(self._value)

    @property
    def shape(self):
        return shape_from_tuple(self._value.shape)

    def get_shape(self):
        return self.shape

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def device(self):
        return backend_of(self._value).device

    @property
    def backing_device(self):
        return self.device

    @property
    def name(self):
        raise AttributeError("Tensor.name is undefined when eager execution is enabled.")

    def numpy(self):
        """The value as a NumPy array (a NumPy scalar for rank 0): a copy, as in TensorFlow, so
        writing into it never changes the tensor."""
        value = self._value
        host = backend_of(value).to_numpy(value)
        # The host backend hands back the tensor's own array; other backends a fresh host copy.
        return host.copy() if host is value else host

    def _numpy(self):
        """The value as a NumPy array without a copy, for tensorflux's own code that only reads
        it (or copies it anyway): the array is the tensor's, never to be written into."""
        if self.__class__ is not Tensor:  # symbolic tensors keep their numpy() and its errors
            return self.numpy()
        value = self._value
        return backend_of(value).to_numpy(value)

    def __array__(self, dtype=None, copy=None):
        value = self._value
        array = backend_of(value).host_array(value, dtype, copy)
        if array is value:
            # np.asarray(tensor) is a view, read-only as in TensorFlow: the tensor stays as made.
            array = array.view()
            array.flags.writeable = False
        return array

    def __dlpack__(self, *args, **kwargs):
        return backend_of(self._value).dlpack(self._value, *args, **kwargs)

    def __dlpack_device__(self):
        return self._value.__dlpack_device__()

    # -- Python protocols
    def __len__(self):
        if self._value.ndim == 0:
            raise TypeError("len is not well defined for a rank-0 tensor")
        return self._value.shape[0]

    def __iter__(self):
        if self._value.ndim == 0:
            raise TypeError("Cannot iterate over a scalar tensor.")
        return (self[i] for i in range(self._value.shape[0]))

    def __bool__(self):
        if self._value.size != 1:
            raise ValueError("The truth value of a tensor with more than one element is "
                             "ambiguous; use tf.reduce_any or tf.reduce_all.")
        return bool(self._value)

    def __float__(self):
        return float(self._value)

    def __int__(self):
        return int(self._value)

    def __index__(self):
        if not self.dtype.is_integer:
            raise TypeError(f"Only integer tensors can be used as an index, not {self.dtype.name}")
        return int(self._value)

    def __complex__(self):
        return complex(self._value)

    def __repr__(self):
        return (f"<tf.Tensor: shape={self.shape}, dtype={self.dtype.name}, "
                f"numpy={_numpy_repr(self.numpy())}>")

    def __str__(self):
        return f"tf.Tensor({_numpy_str(self.numpy())}, shape={self.shape}, dtype={self.dtype.name})"

    def __format__(self, spec):
        # (TF formats an eager tensor's value: f"loss: {loss}" gives "loss: 0.5"; a traced
        # tensor, which has no value, formats as its str)
        if self._value is None:
            return format(str(self), spec)
        return format(self.numpy(), spec)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return Tensor(backend_of(self._value).copy(self._value))

    def __reduce__(self):
        return convert_to_tensor, (self.numpy(),)

    # -- TensorFlow's method aliases
    def eval(self):
        return self.numpy()

    def set_shape(self, shape):
        if not self.shape.is_compatible_with(shape):
            raise ValueError(f"Tensor's shape {self.shape} is not compatible with supplied "
                             f"shape {TensorShape(shape)}.")


def _bitwise():
    from tensorflux.ops import bitwise

    return bitwise


def _numpy_repr(value):
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return repr(value.item())  # TF shows a scalar as its Python value: numpy=0.5
    return _own_lines(repr(value))


def _numpy_str(value):
    return _own_lines(str(value))


def _own_lines(text):
    """A multi-line array text starts on a line of its own, as in TensorFlow's printing."""
    return "\n" + text if "\n" in text else text


class _Reference:
    __slots__ = ("_object",)

    def __init__(self, obj):
        self._object = obj

    def deref(self):
        return self._object

    def __hash__(self):
        return id(self._object)

    def __eq__(self, other):
        return isinstance(other, _Reference) and other._object is self._object


class TensorSpec:
    """Describes a tensor: shape (None dims allowed), dtype and optional name.

    >>> import tensorflux as tf
    >>> tf.TensorSpec([None, 3], tf.float32).is_compatible_with(tf.zeros([2, 3]))
    True
    """

    __slots__ = ("shape", "dtype", "name")

    def __init__(self, shape, dtype=dtypes.float32, name=None):
        self.shape = TensorShape(shape)
        self.dtype = dtypes.as_dtype(dtype)
        self.name = name

    @classmethod
    def from_tensor(cls, tensor, name=None):
        return cls(tensor.shape, tensor.dtype, name)

    def is_compatible_with(self, spec_or_tensor):
        other = spec_or_tensor
        if not isinstance(other, TensorSpec):
            other = TensorSpec.from_tensor(convert_to_tensor(other))
        return self.dtype is other.dtype and self.shape.is_compatible_with(other.shape)

    def __eq__(self, other):
        return (isinstance(other, TensorSpec) and self.shape == other.shape
                and self.dtype is other.dtype and self.name == other.name)

    def __hash__(self):
        return hash((self.shape, self.dtype, self.name))

    def __repr__(self):
        return f"TensorSpec(shape={self.shape}, dtype={self.dtype!r}, name={self.name!r})"


def is_tensor(x):
    """Whether `x` is a tensor: a Tensor or Variable, or a RaggedTensor, SparseTensor or
    IndexedSlices (as tf.is_tensor; not a DynamicRaggedShape, a NumPy array or a list).
    tensorflux's own code asks _is_dense_tensor (a Tensor or Variable) instead.

    >>> import tensorflux as tf
    >>> tf.is_tensor(tf.ragged.constant([[1], []])), tf.is_tensor([1.0])
    (True, False)
    """
    if isinstance(x, _TensorLike):
        return True
    if isinstance(x, CompositeTensor):  # (a DynamicRaggedShape says it is not one)
        return getattr(x, "_is_tensor", True)
    from tensorflux.indexed_slices import IndexedSlices

    return isinstance(x, IndexedSlices)


def _is_dense_tensor(x):
    """Whether `x` is a Tensor or Variable (a dense value with .numpy() and ops): what
    tensorflux's own code asks where tf.is_tensor would also accept composite tensors."""
    return isinstance(x, _TensorLike)


def convert_to_tensor(value, dtype=None, dtype_hint=None, name=None):
    """Converts Python values, NumPy arrays and Variables to a Tensor.

    Python floats become float32 and ints int32 unless `dtype` (or `dtype_hint`) says
    otherwise; a Tensor of another dtype than the one asked for is an error, not a cast. A
    NumPy array is copied, as in TensorFlow: writing into it later leaves the tensor as it was.

    >>> import tensorflux as tf
    >>> tf.convert_to_tensor([1, 2]).dtype, tf.convert_to_tensor(1.5, tf.float64).dtype
    (tf.int32, tf.float64)
    """
    return _convert(value, dtype, dtype_hint, False)


def _convert_owned(value, dtype=None):
    """convert_to_tensor for an array tensorflux itself made and hands over (a batch it
    gathered, a pipeline element): kept without a copy. Never for a caller's array."""
    return _convert(value, dtype, None, True)


def _non_rectangular(value, error):
    """TensorFlow's error for nested lists of unequal lengths, in place of NumPy's
    "inhomogeneous shape" (any other ValueError is returned as it is)."""
    if "inhomogeneous" not in str(error):
        return error
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ValueError("Can't convert non-rectangular Python sequence to Tensor: the nested "
                      f"lists must have equal lengths at each depth, received {shown}. Pad "
                      "them (keras.utils.pad_sequences) or use one tensor per row.")


def _convert(value, dtype, dtype_hint, owned):
    if isinstance(value, Tensor):
        if dtype is not None and dtypes.as_dtype(dtype) is not value.dtype:
            raise ValueError(f"Tensor conversion requested dtype {dtypes.as_dtype(dtype).name} "
                             f"for Tensor with dtype {value.dtype.name}: {value!r}")
        return value
    if isinstance(value, _TensorLike):  # a Variable: read its current value
        return convert_to_tensor(value.read_value(), dtype=dtype)
    if hasattr(value, "_as_tensor"):  # Keras symbolic objects and other tensor-likes
        return value._as_tensor(dtype)
    backend = current_backend()
    if dtype is not None:
        array_value = _asarray_checked(backend, value, dtypes.as_dtype(dtype))
        return Tensor(array_value if owned else _private(array_value, value))
    kind = type(value)
    if kind is list or kind is tuple:
        packed = next((v.dtype for v in value if isinstance(v, _TensorLike)), None)
        if packed is not None:
            # TF packs a list holding tensors in the dtype of the first tensor.
            from tensorflux.ops import array

            return array.stack([convert_to_tensor(v, dtype=packed) for v in value])
        array_value = _sequence_array(backend, value)
    else:
        if value is None or kind is dict or kind is set:
            raise _unsupported(value)
        if kind is int and not -2**63 <= value < 2**63 or kind is float and (
                _FLOAT32_MAX < abs(value) < float("inf")):
            raise _out_of_range(kind)
        try:
            array_value = backend.infer_array(value)
        except ValueError as error:
            raise _non_rectangular(value, error) from error
    if dtype_hint is not None:
        hint = dtypes.as_dtype(dtype_hint)
        inferred = _BY_NATIVE.get(array_value.dtype)
        if inferred is not None and inferred is not hint and _safe_cast(inferred, hint):
            array_value = backend.cast(array_value, hint)
    return Tensor(array_value if owned else _private(array_value, value))


_FLOAT32_MAX = 3.4028234663852886e38


def _unsupported(value):
    return ValueError(f"Attempt to convert a value ({value!r}) with an unsupported type "
                      f"({type(value)!r}) to a Tensor.")


def _out_of_range(kind):
    if kind is float:
        return ValueError("Can't convert Python sequence with a value out of range for a "
                          "double-precision float.")
    return ValueError("Can't convert Python sequence with out-of-range integer to Tensor.")


_MIXED = "Can't convert Python sequence with mixed types to Tensor."
_EMPTY = object()


def _first_leaf(value):
    """What decides a Python sequence's dtype in TensorFlow: its first scalar, reached
    through the first element at each depth (a NumPy array there: its dtype); _EMPTY for
    an empty sequence."""
    while True:
        kind = type(value)
        if kind is list or kind is tuple:
            if not value:
                return _EMPTY
            value = value[0]
            continue
        if isinstance(value, _TensorLike):
            return value.dtype
        native = getattr(value, "dtype", None)
        if native is not None and hasattr(value, "ndim"):  # a NumPy array or scalar
            return native if getattr(value, "size", 1) else _EMPTY
        return value


def _leaf_dtype(leaf):
    """TF's dtype for a sequence whose first scalar is `leaf`: NumPy float64 stays float64
    and float16 float16, other floats give float32; ints int32 (int64 when a value does
    not fit, float32 when a float follows); None and other objects are unsupported."""
    if leaf is _EMPTY:
        return dtypes.float32
    if isinstance(leaf, dtypes.DType):
        return leaf
    kind = type(leaf)
    if kind is bool:
        return dtypes.bool
    if kind is int:
        return dtypes.int32
    if kind is float:
        return dtypes.float32
    if kind is complex:
        return dtypes.complex128
    if kind is str or kind is bytes:
        return dtypes.string
    code = getattr(leaf, "kind", None)  # a NumPy dtype
    if code == "f":
        return {8: dtypes.float64, 2: dtypes.float16}.get(leaf.itemsize, dtypes.float32)
    found = _KIND_DTYPES.get(code)
    if found is None:
        raise _unsupported(leaf)
    return found


_KIND_DTYPES = {"b": dtypes.bool, "i": dtypes.int32, "u": dtypes.int32, "c": dtypes.complex128,
                "U": dtypes.string, "S": dtypes.string}


def _all_ints(value):
    """Whether every scalar in a nested Python sequence is an int."""
    if type(value) is list or type(value) is tuple:
        return all(_all_ints(v) for v in value)
    return isinstance(value, int)


def _sequence_array(backend, value):
    """A Python list or tuple as an array with TensorFlow's dtype inference (the first
    scalar decides, see _leaf_dtype) and TF's errors for mixed and out-of-range values."""
    dtype = _leaf_dtype(_first_leaf(value))
    try:
        if dtype in (dtypes.float64, dtypes.float16) or dtype.name not in _SEQUENCE_KINDS:
            return backend.asarray(value, dtype)  # (Python floats in full precision)
        array = backend.infer_array(value)
    except (TypeError, ValueError) as error:
        if "inhomogeneous" in str(error):
            raise _non_rectangular(value, error) from error
        # text or None among numbers (or numbers among text), ints beyond 64 bits
        raise (_out_of_range(int) if dtype is dtypes.int32 and _all_ints(value)
               else ValueError(_MIXED)) from None
    code = array.dtype.kind
    if dtype is dtypes.string or code == _OWN_KIND[dtype.name]:
        return array
    if code not in _SEQUENCE_KINDS[dtype.name]:
        raise ValueError(_MIXED)
    if dtype is dtypes.int32:
        if code == "f":
            return array  # [1, 2.5]: ints, then a float, give float32 (infer_array's)
        # unsigned NumPy values ([np.uint8(1)]): int32, or int64 when they do not fit
        if array.size and array.max() >= 2**31:
            if array.max() >= 2**63:
                raise _out_of_range(int)
            dtype = dtypes.int64
    return backend.cast(array, dtype)


# The NumPy kind of each dtype a sequence's first scalar gives, and the other kinds the
# whole sequence may have (numbers that convert to it).
_OWN_KIND = {"bool": "b", "int32": "i", "float32": "f", "complex128": "c", "string": "O"}
_SEQUENCE_KINDS = {"bool": "", "int32": "uf", "float32": "biu", "complex128": "biuf",
                   "string": ""}


# Values whose conversion always builds a new array: nothing outside can write into it.
_BUILT_ANEW = frozenset([list, tuple, int, float, bool, complex, str, bytes])


def _private(array, source):
    """`array`, converted from the caller's `source`, as memory only the tensor holds.

    It is kept where the conversion made it anew (from Python values, immutable scalars, or
    a NumPy array cast to another dtype or moved to a device); else it may share memory with
    `source` (the array itself, a view of it, a buffer an array-like exposes) and is copied.
    (Not flagged read-only: that costs more than the copy of a small array, on every call.)
    """
    if array is not source:  # (an ndarray of the asked dtype comes back as itself: copied)
        kind = type(source)
        if kind in _BUILT_ANEW or not hasattr(source, "__setitem__"):
            return array
        if (getattr(array, "base", None) is None and kind.__module__ == "numpy"
                and kind.__name__ == "ndarray"):
            return array
    return array.copy()  # NumPy's and CuPy's arrays alike


def _safe_cast(source, target):
    """Whether a hint may change an inferred dtype: within floats, or int/bool to float."""
    if source.is_floating or source.is_integer:
        return target.is_floating or target.is_complex or (source.is_integer and target.is_integer)
    return False


# The NumPy kinds of Python values each dtype accepts (TF refuses floats into integers,
# numbers into bools, complex into floats, text into numbers).
_PYTHON_KINDS = {"bool": "b", "integer": "biu", "floating": "biuf", "complex": "biufc"}
_PYTHON_VALUES = (list, tuple, int, float, complex, str, bytes)


def _asarray_checked(backend, value, dtype):
    """Converts `value` to `dtype` as TensorFlow does. NumPy arrays and scalars (and other
    array-likes) are cast: floats truncate into integers. Python values must suit the dtype
    (1.0 does not become an int32, nor 1 a bool: TypeError), and Python ints outside an
    integer dtype's range wrap as TF's cast wraps them (2**31 -> -2**31 in int32; beyond
    int64: ValueError)."""
    if (isinstance(value, _PYTHON_VALUES) and type(value).__module__ != "numpy"
            and dtype is not dtypes.string
            # (a Python float suits any float dtype: no probe, whose float32 guess would
            # overflow for float64's extremes such as the fill of a segment maximum)
            and not (type(value) is float and (dtype.is_floating or dtype.is_complex))):
        group = ("bool" if dtype.is_bool else "integer" if dtype.is_integer else
                 "floating" if dtype.is_floating else "complex" if dtype.is_complex else None)
        try:
            probe = backend.infer_array(value)  # (its kind says what the values are)
        except TypeError:  # objects: ints beyond 64 bits, None, ...
            if not _all_ints(value) or group not in ("floating", "complex"):
                raise (_out_of_range(int) if _all_ints(value) and group == "integer" else
                       TypeError(f"Cannot convert {value!r} to EagerTensor of dtype "
                                 f"{dtype.name}")) from None
            probe = None
        except ValueError as error:
            raise _non_rectangular(value, error) from error
        if probe is not None and group is not None:
            code = probe.dtype.kind
            if probe.size and code not in _PYTHON_KINDS[group]:
                raise TypeError(f"Cannot convert {value!r} to EagerTensor of dtype {dtype.name}")
            if group == "integer" and probe.size and (
                    (code == "u" and dtype is not dtypes.uint64 and probe.max() >= 2**63)
                    or (code == "i" and dtype is dtypes.uint64 and probe.min() < 0)):
                raise _out_of_range(int)
            if group in ("integer", "bool"):
                value = probe  # cast from there: out-of-range ints wrap
    try:
        return backend.asarray(value, dtype)
    except (TypeError, ValueError, OverflowError) as error:
        if "inhomogeneous" in str(error):
            raise _non_rectangular(value, error) from error
        raise TypeError(f"Cannot convert {value!r} to EagerTensor of dtype {dtype.name}: "
                        f"{error}") from error


def constant(value, dtype=None, shape=None, name=None):
    """Creates a constant tensor from a Python or NumPy value.

    >>> import tensorflux as tf
    >>> tf.constant(0.0, shape=[2]).numpy().tolist()
    [0.0, 0.0]
    """
    if isinstance(value, _TensorLike):
        # A Tensor's array is immutable and a Variable's numpy() a snapshot: neither needs a
        # second copy.
        tensor = _convert_owned(value._numpy(), dtype=dtype)
    else:
        tensor = convert_to_tensor(value, dtype=dtype)
    if shape is not None:
        from tensorflux.ops import array

        shape = list(TensorShape(shape))
        if tensor.shape.num_elements() == 1:
            tensor = array.fill(shape, array.reshape(tensor, []))
        else:
            tensor = array.reshape(tensor, shape)
    return tensor


# The op modules import this one, so the overloads find them through these names, which
# tensorflux.ops sets once it has loaded them.
_array = _linalg = _math = None
