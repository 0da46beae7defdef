"""experimental_enable_numpy_behavior: NumPy's methods and dtype promotion on tf.Tensor.

As in TF, enabling adds ndarray methods and properties to the Tensor class (T, reshape,
astype, ...) and makes the arithmetic and comparison operators of tensors and Variables
promote their operands as NumPy does (int32 tensor + float32 tensor is float64, int32
tensor + 1.5 is float64; Python scalars stay weak, so float32 tensor + 0.5 stays float32).
It lasts for the process; `_disable` undoes it, for tests.
"""

import tensorflux as tf
from tensorflux.experimental.numpy import _core, _dtypes
from tensorflux.tensor import Tensor, _TensorLike


def _t(self):
    return tf.transpose(self)


def _size(self):
    return self.shape.num_elements()


def _tolist(self):
    return self.numpy().tolist()


def _reshape(self, *shape, order="C"):
    """a.reshape(2, 3), a.reshape((2, 3)) and a.reshape(-1), as on an ndarray."""
    return _core.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)


def _transpose(self, *axes):
    """a.transpose(), a.transpose(1, 0) and a.transpose((1, 0)), as on an ndarray."""
    if len(axes) == 1 and not isinstance(axes[0], int):
        axes = axes[0]
    return _core.transpose(self, axes or None)


def _astype(self, dtype):
    return tf.cast(self, _dtypes.as_dtype(dtype))


def _clip(self, a_min=None, a_max=None):
    return _core.clip(self, a_min, a_max)


def _round(self, ndigits=None):
    return _core.around(self, ndigits or 0)


def _data(self):
    return self


def _getitem(self, key):
    """NumPy's indexing: index arrays, lists and tuples of ints or bools (x[[0, 2]],
    x[:, (True, False, True)]) as well as TF's keys."""
    from tensorflux.ops import indexing

    return indexing.getitem(self, key)


_METHODS = {
    "T": property(_t), "size": property(_size), "data": property(_data),
    "tolist": _tolist, "reshape": _reshape, "transpose": _transpose, "astype": _astype,
    "ravel": _core.ravel, "flatten": _core.ravel, "clip": _clip, "__round__": _round,
    "max": _core.amax, "min": _core.amin, "mean": _core.mean, "__getitem__": _getitem,
}


def _promoting(name, op, reflected):
    """An operator that promotes its operands as NumPy does before applying `op`."""
    original = getattr(_TensorLike, name)

    def operator(self, other):
        if isinstance(other, _TensorLike) and other.dtype is self.dtype:
            return original(self, other)
        if isinstance(other, (list, tuple)):  # (converted in the tensor's dtype where it fits)
            other = tf.convert_to_tensor(other, dtype_hint=self.dtype)
        dtype = _dtypes.result_type(self, other)
        if dtype is self.dtype and not isinstance(other, _TensorLike):
            return original(self, other)
        this, other = _core._cast_to(self, dtype), _core._cast_to(other, dtype)
        return op(other, this) if reflected else op(this, other)

    operator.__name__ = name
    return operator


_OPERATORS = {}
for _name, _op in [("add", tf.math.add), ("sub", tf.math.subtract), ("mul", tf.math.multiply),
                   ("truediv", tf.math.truediv), ("floordiv", tf.math.floordiv),
                   ("mod", tf.math.floormod), ("pow", tf.math.pow), ("matmul", _core.matmul)]:
    _OPERATORS[f"__{_name}__"] = _promoting(f"__{_name}__", _op, False)
    _OPERATORS[f"__r{_name}__"] = _promoting(f"__r{_name}__", _op, True)
for _name, _op in [("lt", tf.math.less), ("le", tf.math.less_equal),
                   ("gt", tf.math.greater), ("ge", tf.math.greater_equal)]:
    _OPERATORS[f"__{_name}__"] = _promoting(f"__{_name}__", _op, False)

_saved = {}


def experimental_enable_numpy_behavior(prefer_float32=False, dtype_conversion_mode="legacy"):
    """Gives tensors NumPy's methods and operator promotion, for the rest of the process.

    With prefer_float32=True, Python float values count as float32 (tnp.asarray(1.0),
    tnp.arange(3.0), tnp.linspace give float32) instead of NumPy's float64.
    """
    if dtype_conversion_mode not in ("legacy", "off"):
        raise ValueError(f"experimental_enable_numpy_behavior: dtype_conversion_mode "
                         f"{dtype_conversion_mode!r} is not supported; use 'legacy'")
    _dtypes._state["prefer_float32"] = bool(prefer_float32)
    for owner, table in ((Tensor, _METHODS), (_TensorLike, _OPERATORS)):
        for name, value in table.items():
            if (owner, name) not in _saved:
                _saved[(owner, name)] = owner.__dict__.get(name)
            setattr(owner, name, value)


def _disable():
    """Undoes experimental_enable_numpy_behavior (for tests that must leave no trace)."""
    for (owner, name), value in _saved.items():
        if value is None:
            delattr(owner, name)
        else:
            setattr(owner, name, value)
    _saved.clear()
    _dtypes._state["prefer_float32"] = False
