"""Ops on a tensor's bytes and on sequences of symbols: tf.bitcast, tf.fingerprint and
tf.edit_distance.

They run on the host (tf.numpy_function), eagerly and in traced functions alike: the bytes of
an element and the symbols of a sparse sequence are read one by one, which no array kernel
does faster. None of them has a gradient, as in TensorFlow.
"""

from tensorflux import dtypes, errors
from tensorflux.ops import array, math
from tensorflux.tensor import _TensorLike, convert_to_tensor

__all__ = ["bitcast", "fingerprint", "edit_distance"]

# TensorFlow's Bitcast takes numbers only (no bool, no string).
_BITCAST_TYPES = frozenset(
    ("bfloat16", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
     "uint16", "uint32", "uint64", "complex64", "complex128"))


def _host(func, inputs, dtype):
    from tensorflux.control import numpy_function

    return numpy_function(func, inputs, Tout=dtype, stateful=False)


def _host_array(value, dtype):
    # (the host callbacks return arrays; the backend builds them, as this module may not
    # import NumPy itself)
    from tensorflux.backends import numpy_backend

    return numpy_backend.asarray(value, dtype)


def bitcast(input, type, name=None):  # noqa: A002 - TensorFlow's argument names
    """input's bytes read as `type`, without copying values through a cast.

    Between types of one size the shape stays; from a wider type a last axis of
    size(input)/size(type) is added; to a wider type the last axis, which must have
    size(type)/size(input) entries, is removed.

    >>> import tensorflux as tf
    >>> tf.bitcast(tf.constant([1.0, -2.0]), tf.int32).numpy().tolist()
    [1065353216, -1073741824]
    """
    x = input if isinstance(input, _TensorLike) else convert_to_tensor(input)
    target = dtypes.as_dtype(type)
    for role, dtype in (("input", x.dtype), ("type", target)):
        if dtype.name not in _BITCAST_TYPES:
            raise errors.InvalidArgumentError(
                f"bitcast: {role} must have a numeric dtype ({', '.join(sorted(_BITCAST_TYPES))}"
                f"), received {dtype.name}", "bitcast")
    old, new = x.dtype.size, target.size
    shape = array.shape(x, out_type=dtypes.int64)
    if old == new:
        out_shape = shape
    elif old > new:
        out_shape = array.concat([shape, convert_to_tensor([old // new], dtypes.int64)], 0)
    else:
        static = x.shape.as_list() if x.shape.rank is not None else None
        if static is not None and (not static or static[-1] not in (None, new // old)):
            raise errors.InvalidArgumentError(
                f"bitcast: reading {x.dtype.name} as the wider {target.name} needs a last axis "
                f"of {new // old} entries, received shape {tuple(static)}", "bitcast")
        out_shape = shape[:-1]
    native = target.as_numpy_dtype

    def reinterpret(values):
        flat = values.reshape(-1).copy()
        if old < new and values.ndim and values.shape[-1] != new // old:
            raise errors.InvalidArgumentError(
                f"bitcast: reading {x.dtype.name} as {target.name} needs a last axis of "
                f"{new // old} entries, received shape {values.shape}", "bitcast")
        return flat.view(native)

    return array.reshape(_host(reinterpret, [x], target), out_shape)


def _digest_bytes(value):
    from tensorflux.ops._string_hash import fingerprint64

    return fingerprint64(value).to_bytes(8, "little")


def fingerprint(data, method="farmhash64", name=None):
    """A [data.shape[0], 8] uint8 fingerprint of each slice data[i]: FarmHash's
    Fingerprint64 of the slice's bytes, little-endian, as TensorFlow computes it.

    A slice of numbers is hashed as its bytes in row-major order. A string slice of one
    string is that string's fingerprint; a slice of several strings is the fingerprint of
    the concatenated fingerprints of its strings.

    >>> import tensorflux as tf
    >>> tf.fingerprint(tf.constant(["hello"])).numpy().tolist()
    [[232, 12, 56, 49, 169, 229, 139, 180]]
    """
    if method != "farmhash64":
        raise errors.InvalidArgumentError(
            f"fingerprint: method must be 'farmhash64', received {method!r}", "fingerprint")
    x = data if isinstance(data, _TensorLike) else convert_to_tensor(data)
    if x.shape.rank == 0:
        raise errors.InvalidArgumentError(
            "fingerprint: data must have at least one dimension, received a scalar",
            "fingerprint")
    is_string = x.dtype is dtypes.string

    def digests(values):
        if values.ndim == 0:
            raise errors.InvalidArgumentError(
                "fingerprint: data must have at least one dimension, received a scalar",
                "fingerprint")
        width = 1
        for dim in values.shape[1:]:
            width *= dim
        rows = values.reshape(values.shape[0], width)
        out = []
        for row in rows:
            if not is_string:
                out.append(_digest_bytes(row.tobytes()))
            elif rows.shape[1] == 1:
                out.append(_digest_bytes(row[0]))
            else:
                out.append(_digest_bytes(b"".join(_digest_bytes(s) for s in row)))
        return _host_array([list(d) for d in out], dtypes.uint8).reshape(-1, 8)

    return _host(digests, [x], dtypes.uint8)


# ------------------------------------------------------------------ edit distance

def _levenshtein(a, b):
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, 1):
        current = [i]
        for j, right in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (left != right)))
        previous = current
    return previous[-1]


def _sequences(indices, values):
    """{leading index: the values in the order of their last index}."""
    groups = {}
    for index, value in sorted(zip(map(tuple, indices.tolist()), values.tolist())):
        groups.setdefault(index[:-1], []).append(value)
    return groups


def _distances(normalize):
    def compute(h_indices, h_values, h_shape, t_indices, t_values, t_shape):
        out_shape = [max(a, b) for a, b in zip(h_shape.tolist()[:-1], t_shape.tolist()[:-1])]
        hypotheses, truths = _sequences(h_indices, h_values), _sequences(t_indices, t_values)
        strides, size = [], 1
        for dim in reversed(out_shape):
            strides.insert(0, size)
            size *= dim
        out = [0.0] * size
        for key in set(hypotheses) | set(truths):
            hypothesis, truth = hypotheses.get(key), truths.get(key)
            if truth is None:
                distance = float("inf") if normalize else float(len(hypothesis))
            elif hypothesis is None:
                distance = 1.0 if normalize else float(len(truth))
            else:
                distance = _levenshtein(hypothesis, truth)
                distance = distance / len(truth) if normalize else float(distance)
            out[sum(k * s for k, s in zip(key, strides))] = distance
        return _host_array(out, dtypes.float32)

    return compute


def edit_distance(hypothesis, truth, normalize=True, name="edit_distance"):
    """The Levenshtein distance between the sequences of two SparseTensors.

    The sequences are the values along the last axis at each position of the other axes;
    the result has shape max(hypothesis.shape[:-1], truth.shape[:-1]) (float32). With
    `normalize`, each distance is divided by the truth's length, so an empty truth gives inf;
    a position where both sequences are empty gives 0.

    >>> import tensorflux as tf
    >>> h = tf.SparseTensor([[0, 0], [0, 1]], ["k", "i"], [1, 2])
    >>> t = tf.SparseTensor([[0, 0], [0, 1], [0, 2]], ["k", "a", "i"], [1, 3])
    >>> round(float(tf.edit_distance(h, t)[0]), 4)
    0.3333
    """
    from tensorflux.sparse import SparseTensor

    for role, value in (("hypothesis", hypothesis), ("truth", truth)):
        if not isinstance(value, SparseTensor):
            raise TypeError(f"edit_distance: {role} must be a SparseTensor, received "
                            f"{type(value).__name__}")
    if hypothesis.dtype is not truth.dtype:
        raise errors.InvalidArgumentError(
            f"edit_distance: hypothesis and truth must have one dtype, received "
            f"{hypothesis.dtype.name} and {truth.dtype.name}", "edit_distance")
    h_rank, t_rank = hypothesis.shape.rank, truth.shape.rank
    if h_rank is not None and t_rank is not None and h_rank != t_rank:
        raise errors.InvalidArgumentError(
            f"edit_distance: hypothesis and truth must have one rank, received ranks "
            f"{h_rank} and {t_rank}", "edit_distance")
    if h_rank == 0 or t_rank == 0:
        raise errors.InvalidArgumentError(
            "edit_distance: the SparseTensors need at least one axis", "edit_distance")
    flat = _host(_distances(bool(normalize)),
                 [hypothesis.indices, hypothesis.values, hypothesis.dense_shape,
                  truth.indices, truth.values, truth.dense_shape], dtypes.float32)
    out_shape = math.maximum(hypothesis.dense_shape[:-1], truth.dense_shape[:-1])
    return array.reshape(flat, out_shape)
