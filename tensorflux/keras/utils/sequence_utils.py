"""keras.utils.pad_sequences: lists of sequences to one padded 2-D (or deeper) array."""

import tensorflux as tf
from tensorflux.tensor import _is_dense_tensor

__all__ = ["pad_sequences"]


def _length(sequence):
    try:
        return len(sequence)
    except TypeError as error:
        raise ValueError("`sequences` must be a list of iterables. Found non-iterable: "
                         f"{sequence}") from error


def _as_tensor(values, dtype):
    """Values in `dtype` with NumPy's casting (floats truncate toward zero into ints)."""
    try:
        return tf.constant(values, dtype=dtype)
    except TypeError:
        return tf.cast(tf.constant(values, dtype=tf.float64), dtype)


def _shape_of(sequence):
    value = sequence.numpy() if _is_dense_tensor(sequence) else sequence
    return tuple(tf.convert_to_tensor(value).shape.as_list())


# Python's scalar types as dtypes mean NumPy's (int64, float64), as in Keras.
_NUMPY_BUILTINS = {int: "int64", float: "float64", bool: "bool"}


def _text_dtype(dtype):
    """"object" for an object dtype, the NumPy spelling of a str/bytes dtype ("str", "<U5",
    "S"...), or None for the other dtypes."""
    if dtype is object or dtype in ("object", "O"):
        return "object"
    if dtype is str or dtype is bytes:
        return dtype.__name__
    kind = getattr(dtype, "kind", None)  # a NumPy dtype
    if kind in ("U", "S"):
        return dtype.str
    if isinstance(dtype, type) and dtype.__name__ in ("str_", "bytes_"):  # np.str_, np.bytes_
        return dtype.__name__[:-1]
    if isinstance(dtype, str) and (dtype in ("str", "bytes", "unicode") or
                                   dtype.lstrip("<>|=")[:1] in ("U", "S")):
        return dtype
    return None


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pads (or truncates) each sequence to `maxlen` (default: the longest), Keras's rules.

    >>> from tensorflux.keras.utils import pad_sequences
    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
    [[2, 3], [0, 4]]
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    lengths = [_length(s) for s in sequences]
    sample_shape = ()
    for s, length in zip(sequences, lengths):
        if length:
            sample_shape = _shape_of(s)[1:]
            break
    text = _text_dtype(dtype)
    tf_dtype = tf.string if text else tf.as_dtype(_NUMPY_BUILTINS.get(dtype, dtype))
    if isinstance(value, str) and tf_dtype is not tf.string:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: "
                         f"{type(value)}\nYou should set `dtype=object` for variable length "
                         "strings.")
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    maxlen = int(maxlen)
    if maxlen < 0:
        raise ValueError(f"`maxlen` must be 0 or more, received maxlen={maxlen}")
    if tf_dtype is tf.string:
        result = _pad_text(sequences, lengths, maxlen, sample_shape, padding, truncating,
                           value)
        return result if text == "object" else result.astype(text)
    fill = _as_tensor(value, tf_dtype)
    rows = []
    for index, (s, length) in enumerate(zip(sequences, lengths)):
        row = tf.fill([maxlen] + list(sample_shape), fill)
        if length and maxlen:
            kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
            kept = _as_tensor(kept.numpy() if _is_dense_tensor(kept) else kept, tf_dtype)
            if tuple(kept.shape.as_list()[1:]) != tuple(sample_shape):
                raise ValueError(f"Shape of sample {tuple(kept.shape.as_list()[1:])} of "
                                 f"sequence at position {index} is different from expected "
                                 f"shape {tuple(sample_shape)}")
            pad = maxlen - int(kept.shape[0])
            parts = [row[:pad], kept] if padding == "pre" else [kept, row[:pad]]
            row = tf.concat(parts, axis=0)
        rows.append(row)
    if not rows:
        return tf.zeros([0, maxlen] + list(sample_shape), tf_dtype).numpy()
    return tf.stack(rows).numpy()


def _pad_text(sequences, lengths, maxlen, sample_shape, padding, truncating, value):
    """pad_sequences for text dtypes: an object array of the Python values themselves,
    strings staying `str` (a string tensor would give bytes)."""
    # (an object array from a string tensor, refilled with the Python values)
    result = tf.fill([len(sequences), maxlen] + list(sample_shape), "").numpy()
    result[...] = value
    for index, (s, length) in enumerate(zip(sequences, lengths)):
        if not length or not maxlen:
            continue
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "pre":
            result[index, maxlen - len(kept):] = kept
        else:
            result[index, :len(kept)] = kept
    return result
