"""tensorflux.io (tf.io): file-level helpers (atomic writes, read_file, write_file, gfile),
the image codecs (decode_png, decode_jpeg, decode_image, ..., in io/images.py), TFRecord
files (io/tfrecord.py), Example parsing (io/example.py) and the byte codecs: decode_raw,
decode_csv, base64, decode_compressed, serialize_tensor / parse_tensor in TensorFlow's
TensorProto format (io/codecs.py)."""

import os

from tensorflux import dtypes, errors
from tensorflux.io import gfile
from tensorflux.io.atomic import atomic_write
from tensorflux.ops._lazy import lazy_attributes

# The codecs, Example parsing and TFRecord files load on first use (Keras imports tf.io for
# its atomic writes; few programs need the rest).
__getattr__, __dir__ = lazy_attributes(__name__, {
    **{name: "tensorflux.io.codecs" for name in (
        "decode_base64", "decode_compressed", "decode_csv", "decode_raw", "encode_base64",
        "parse_tensor", "serialize_tensor")},
    **{name: "tensorflux.io.example" for name in (
        "FixedLenFeature", "FixedLenSequenceFeature", "RaggedFeature", "SparseFeature",
        "VarLenFeature",
        "parse_example", "parse_sequence_example", "parse_single_example",
        "parse_single_sequence_example")},
    **{name: "tensorflux.io.images" for name in (
        "decode_and_crop_jpeg", "decode_bmp", "decode_gif", "decode_image", "decode_jpeg",
        "decode_png", "encode_jpeg", "encode_png", "extract_jpeg_shape", "is_jpeg")},
    **{name: "tensorflux.io.tfrecord" for name in ("TFRecordOptions", "TFRecordWriter")},
    **{name: "tensorflux.io.sparse_codecs" for name in (
        "deserialize_many_sparse", "serialize_many_sparse", "serialize_sparse")},
    "decode_json_example": "tensorflux.io.json_example",
})

__all__ = ["atomic_write", "gfile", "matching_files", "read_file", "write_file",
           "serialize_tensor", "parse_tensor", "decode_bmp", "decode_gif", "decode_image",
           "decode_jpeg", "decode_png", "encode_png", "decode_and_crop_jpeg", "encode_jpeg",
           "extract_jpeg_shape", "is_jpeg"]
__all__ += ["TFRecordOptions", "TFRecordWriter", "FixedLenFeature", "FixedLenSequenceFeature",
            "RaggedFeature", "SparseFeature", "VarLenFeature", "parse_example",
            "parse_sequence_example", "parse_single_example", "parse_single_sequence_example",
            "decode_base64", "decode_compressed", "decode_csv", "decode_raw", "encode_base64",
            "deserialize_many_sparse", "serialize_many_sparse", "serialize_sparse",
            "decode_json_example"]


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
    if os.path.isdir(path):
        raise errors.FailedPreconditionError(f"{path}; Is a directory")
    if not os.path.isfile(path):
        raise errors.NotFoundError(f"{path}; No such file or directory")
    with open(path, "rb") as handle:
        return handle.read()


def matching_files(pattern, name=None):
    """The paths matching a glob pattern (or any of a list of them), as a sorted 1-D string
    tensor (empty when nothing matches).

    >>> import tensorflux as tf
    >>> tf.io.matching_files("/no/such/folder/*").shape.as_list()
    [0]
    """
    from tensorflux.tensor import _TensorLike, constant

    if isinstance(pattern, _TensorLike):
        values = pattern.numpy()
        pattern = list(values.reshape(-1)) if hasattr(values, "reshape") else [values]
    found = [os.fsencode(path) for path in gfile.glob(pattern)]
    return constant(found, dtype=dtypes.string, shape=[len(found)])


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
