"""tensorflux.io (tf.io): file-level helpers (atomic writes, read_file, write_file, gfile),
serialize_tensor / parse_tensor in tensorflux's own pickle-free format, and the image codecs
(decode_png, decode_jpeg, decode_image, ..., in io/images.py)."""

import io as _stdio
import json
import os

import numpy as np

from tensorflux import dtypes, errors
from tensorflux.io import gfile
from tensorflux.io.atomic import atomic_write
from tensorflux.io.images import (
    decode_bmp,
    decode_gif,
    decode_image,
    decode_jpeg,
    decode_png,
    encode_png,
)

__all__ = ["atomic_write", "gfile", "read_file", "write_file", "serialize_tensor",
           "parse_tensor", "decode_bmp", "decode_gif", "decode_image", "decode_jpeg",
           "decode_png", "encode_png"]

# serialize_tensor's format: magic, a 4-byte little-endian header length, a JSON header
# {"dtype", "shape"}, then the values as a .npy payload (allow_pickle=False). Not TF's
# TensorProto: tensors serialized by TensorFlow do not parse here, and the reverse.
_MAGIC = b"TFXT\x01"


def _path(filename):
    from tensorflux.tensor import convert_to_tensor

    if isinstance(filename, (str, bytes, os.PathLike)):
        return os.fsdecode(filename)
    value = filename if hasattr(filename, "item") else convert_to_tensor(filename).numpy()
    return os.fsdecode(value.item() if hasattr(value, "item") else value)


def read_file(filename, name=None):
    """The bytes of a file, as a scalar string tensor.

    >>> import os, tempfile
    >>> import tensorflux as tf
    >>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> tf.io.write_file(path, b"abc")
    >>> tf.io.read_file(path).numpy()
    b'abc'

    Inside a traced function (or a Dataset.map trace) a symbolic `filename` is read when
    the function runs, as TensorFlow's ReadFile op is.
    """
    from tensorflux.tensor import _TensorLike, constant

    if isinstance(filename, _TensorLike) and filename._value is None:
        from tensorflux.control import numpy_function
        from tensorflux.ops.array import reshape

        contents = numpy_function(lambda value: _read(_path(value)), [filename],
                                  Tout=dtypes.string)
        return reshape(contents, [])
    return constant(_read(_path(filename)), dtype=dtypes.string)


def _read(path):
    if not os.path.isfile(path):
        raise errors.NotFoundError(f"{path}; No such file or directory")
    with open(path, "rb") as handle:
        return handle.read()


def write_file(filename, contents, name=None):
    """Writes a scalar string tensor (or bytes/str) to `filename`, atomically (a temporary file
    renamed over the target), creating missing parent folders as TF does."""
    from tensorflux.tensor import convert_to_tensor

    if isinstance(contents, str):
        data = contents.encode("utf-8")
    elif isinstance(contents, bytes):
        data = contents
    else:
        tensor = convert_to_tensor(contents)
        if tensor.dtype is not dtypes.string or tensor.shape.rank != 0:
            raise errors.InvalidArgumentError(
                f"write_file: contents must be a scalar string, received {tensor.dtype.name} "
                f"with shape {tuple(tensor.shape)}", "write_file")
        data = tensor.numpy()
        data = data.item() if hasattr(data, "item") else data
    path = _path(filename)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    atomic_write(path, lambda handle: handle.write(data))


def serialize_tensor(tensor, name=None):
    """A scalar string tensor holding `tensor` in tensorflux's format (see parse_tensor).

    >>> import tensorflux as tf
    >>> data = tf.io.serialize_tensor(tf.constant([1, 2]))
    >>> tf.io.parse_tensor(data, tf.int32).numpy().tolist()
    [1, 2]
    """
    from tensorflux.tensor import constant, convert_to_tensor

    tensor = convert_to_tensor(tensor)
    value = np.asarray(tensor.numpy())
    if tensor.dtype is dtypes.string:
        value = np.asarray([_as_bytes(x) for x in value.reshape(-1).tolist()],
                           dtype=np.bytes_).reshape(value.shape)
    header = json.dumps({"dtype": tensor.dtype.name, "shape": list(value.shape)}).encode()
    payload = _stdio.BytesIO()
    np.lib.format.write_array(payload, value, allow_pickle=False)
    data = _MAGIC + len(header).to_bytes(4, "little") + header + payload.getvalue()
    return constant(data, dtype=dtypes.string)


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def parse_tensor(serialized, out_type, name=None):
    """The tensor that serialize_tensor wrote; InvalidArgumentError if `serialized` is not
    one, or holds another dtype than `out_type`."""
    from tensorflux.tensor import constant, convert_to_tensor

    if isinstance(serialized, (bytes, str)):
        data = _as_bytes(serialized)
    else:
        raw = convert_to_tensor(serialized).numpy()
        data = raw.item() if hasattr(raw, "item") else raw
    out_type = dtypes.as_dtype(out_type)
    if not isinstance(data, bytes) or not data.startswith(_MAGIC) or len(data) < 9:
        raise errors.InvalidArgumentError(
            "parse_tensor: could not parse `serialized` as a tensorflux serialized tensor",
            "parse_tensor")
    size = int.from_bytes(data[5:9], "little")
    try:
        header = json.loads(data[9:9 + size].decode("utf-8"))
        value = np.lib.format.read_array(_stdio.BytesIO(data[9 + size:]), allow_pickle=False)
        stored = dtypes.as_dtype(header["dtype"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise errors.InvalidArgumentError(
            f"parse_tensor: `serialized` is damaged ({error})", "parse_tensor") from error
    if list(value.shape) != header.get("shape"):
        raise errors.InvalidArgumentError("parse_tensor: shape does not match its header",
                                          "parse_tensor")
    if stored is not out_type:
        raise errors.InvalidArgumentError(
            f"Type mismatch between parsed tensor ({stored.name}) and dtype "
            f"({out_type.name})", "parse_tensor")
    if stored is dtypes.string:
        value = np.array(value.tolist(), dtype=object).reshape(value.shape)
    return constant(value, dtype=stored)
