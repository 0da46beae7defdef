"""tensor[key]: NumPy-style indexing as one primitive whose VJP scatters back."""

from tensorflux import errors
from tensorflux.ops._core import as_operand, aval
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike

__all__ = ["getitem"]


def _normalize_key(x, key):
    """The key as a tuple of ints, slices, None, Ellipsis and raw index arrays."""
    if not isinstance(key, tuple):
        key = (key,)
    normalized = []
    for k in key:
        if isinstance(k, _TensorLike):
            value = k.numpy()
            if k.dtype.is_bool or k.dtype.is_integer:
                normalized.append(value if value.ndim else value.item())
                continue
            raise errors.InvalidArgumentError(
                f"getitem: index tensors must be integer or bool, received {k.dtype.name}",
                "getitem")
        if isinstance(k, list):
            from tensorflux.tensor import convert_to_tensor

            normalized.append(convert_to_tensor(k).numpy())
            continue
        if isinstance(k, slice):
            normalized.append(slice(*(_index_value(v) for v in (k.start, k.stop, k.step))))
            continue
        if k is None or k is Ellipsis or isinstance(k, int) or hasattr(k, "ndim"):
            normalized.append(k)
            continue
        if hasattr(k, "__index__"):
            normalized.append(k.__index__())
            continue
        raise errors.InvalidArgumentError(
            f"getitem: unsupported index {k!r} of type {type(k).__name__}; expected ints, "
            "slices, Ellipsis, tf.newaxis, or integer/bool tensors", "getitem")
    return tuple(normalized)


def _index_value(v):
    if v is None:
        return None
    if isinstance(v, _TensorLike):
        v = v.numpy()
    return int(v)


def _getitem_vjp(g, x, out, key):
    return (_getitem_grad.bind(g, shape=tuple(x.shape), key=key),)


# getitem: x[key]; the cotangent is scattered (added, for repeated indices) into zeros.
_getitem = Primitive("getitem", vjp=_getitem_vjp)
# getitem_grad: zeros of `shape` with g added at x[key]; linear in g, so its VJP is getitem.
_getitem_grad = Primitive("getitem_grad", vjp=lambda gg, g, out, shape, key:
                          (_getitem.bind(gg, key=key),))


def getitem(tensor, key):
    """tensor[key] with NumPy's semantics: ints, slices (negative steps), Ellipsis,
    tf.newaxis (None), boolean masks and integer index arrays.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(6), [2, 3])
    >>> x[1, ::-1].numpy().tolist(), x[:, None, 0].shape
    ([5, 4, 3], TensorShape([2, 1]))
    """
    x = as_operand("getitem", tensor)
    key = _normalize_key(x, key)
    try:
        return _getitem.bind(x, key=key)
    except errors.InvalidArgumentError as error:
        raise errors.InvalidArgumentError(
            f"getitem: index {_describe(key)} is invalid for a tensor of shape "
            f"{tuple(x.shape)}: {error.__cause__ or error}", "getitem") from error


def _describe(key):
    parts = []
    for k in key:
        if hasattr(k, "ndim"):
            parts.append(f"array{tuple(k.shape)}")
        else:
            parts.append(repr(k))
    return "[" + ", ".join(parts) + "]"


def where_indices(condition):
    """The coordinates of the True entries of a bool tensor, as int64 [n, rank]."""
    condition = as_operand("where", condition)
    return _where_indices.bind(condition)


_where_indices = Primitive("where_indices",
                           shape_rule=lambda c: aval([None, c.shape.rank], _int64()))


def _int64():
    from tensorflux import dtypes

    return dtypes.int64
