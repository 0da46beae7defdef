"""Tensor: a thin immutable handle on a backend array, with TensorFlow's operator overloads.

Eager tensors hold a raw array in `_value`; the graph issue adds symbolic tensors that hold
a shape, a dtype and the graph node that makes them. Everything else (ops, gradients) lives
in ops/ and autodiff/; the overloads below only forward to those ops.
"""

from tensorflux import dtypes
from tensorflux.backends import backend_of
from tensorflux.context import current_backend
from tensorflux.tensor_shape import TensorShape, shape_from_tuple

__all__ = ["Tensor", "TensorSpec", "constant", "convert_to_tensor", "is_tensor"]

_BY_NATIVE = dtypes._BY_NATIVE


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
        return _math.floordiv(self, other)

    def __rfloordiv__(self, other):
        return _math.floordiv(other, self)

    def __mod__(self, other):
        return _math.mod(self, other)

    def __rmod__(self, other):
        return _math.mod(other, self)

    def __pow__(self, other):
        return _math.pow(self, other)

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

    def __and__(self, other):
        return _math.logical_and(self, other)

    def __rand__(self, other):
        return _math.logical_and(other, self)

    def __or__(self, other):
        return _math.logical_or(self, other)

    def __ror__(self, other):
        return _math.logical_or(other, self)

    def __xor__(self, other):
        return _math.logical_xor(self, other)

    def __rxor__(self, other):
        return _math.logical_xor(other, self)

    def __lt__(self, other):
        return _math.less(self, other)

    def __le__(self, other):
        return _math.less_equal(self, other)

    def __gt__(self, other):
        return _math.greater(self, other)

    def __ge__(self, other):
        return _math.greater_equal(self, other)

    def __eq__(self, other):
        # TF2: elementwise, and False against None or anything that is not a tensor value.
        if other is None:
            return False
        try:
            return _math.equal(self, other)
        except (TypeError, ValueError):
            return False

    def __ne__(self, other):
        if other is None:
            return True
        try:
            return _math.not_equal(self, other)
        except (TypeError, ValueError):
            return True

    # Elementwise __eq__ makes tensors unhashable, as in TF2; use `.ref()` as a dict key.
    def __hash__(self):
        raise TypeError("Tensor is unhashable. Instead, use tensor.ref() as the key.")

    def __getitem__(self, key):
        return _array.getitem(self, key)

    def _numpy(self):
        """The value as NumPy for tensorflux's own reads; a Variable's is a snapshot (a copy)."""
        return self.numpy()

    def ref(self):
        """A hashable reference to this object, for sets and dict keys (TF's `Tensor.ref`)."""
        return _Reference(self)

    def experimental_ref(self):
        return _Reference(self)


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
        return format(self.numpy(), spec) if spec else str(self)

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


def _numpy_repr(value):
    text = repr(value)
    return "\n" + text if "\n" in text else text


def _numpy_str(value):
    return str(value)


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

    def is_compatible_with(self, spec_or_value):
        other = spec_or_value
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
    """True for tensorflux Tensors and Variables."""
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
    if isinstance(value, (list, tuple)) and any(isinstance(v, _TensorLike) for v in value):
        from tensorflux.ops import array

        return array.stack([convert_to_tensor(v, dtype_hint=dtype_hint) for v in value])
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


def _asarray_checked(backend, value, dtype):
    """Converts `value` to `dtype`, refusing conversions that lose information (1.5 -> int32)."""
    if dtype.is_integer or dtype.is_bool:
        try:
            probe = backend.infer_array(value)
        except ValueError as error:
            raise _non_rectangular(value, error) from error
        kind = getattr(probe, "dtype", None)
        if kind is not None and kind.kind in "fc" and not dtype.is_bool:
            if probe.size and not bool((probe == probe.astype("int64")).all()):
                raise TypeError(f"Cannot convert {value!r} to EagerTensor of dtype {dtype.name}")
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
