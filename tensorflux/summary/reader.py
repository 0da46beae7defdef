"""Reading event files back: tf.compat.v1.train.summary_iterator, and the arrays that the
TensorProtos of their summaries hold (what tf.make_ndarray returns for them).

>>> import os, tempfile, tensorflux as tf
>>> logdir = tempfile.mkdtemp()
>>> with tf.summary.create_file_writer(logdir).as_default():
...     _ = tf.summary.scalar("loss", 0.5, step=2)
>>> (name,) = os.listdir(logdir)
>>> for event in summary_iterator(os.path.join(logdir, name)):
...     for value in event.summary.value:
...         print(event.step, value.tag, tensor_proto_to_ndarray(value.tensor))
2 loss 0.5
"""

import os

import numpy as np

from tensorflux.proto.graph_pb import DATA_TYPE_NAMES
from tensorflux.summary.event_pb import Event, TensorProto

__all__ = ["summary_iterator", "tensor_proto_to_ndarray"]

# The repeated field that holds a TensorProto's values when it has no tensor_content.
_VALUE_FIELDS = {
    "float32": "float_val", "float64": "double_val", "int32": "int_val", "uint8": "int_val",
    "int16": "int_val", "int8": "int_val", "uint16": "int_val", "int64": "int64_val",
    "uint32": "uint32_val", "uint64": "uint64_val", "bool": "bool_val",
    "complex64": "scomplex_val", "complex128": "dcomplex_val", "float16": "half_val",
    "bfloat16": "half_val",
}


def summary_iterator(path):
    """Yields the Event messages of the event file `path`, in order (the first one holds its
    file_version). A missing file raises NotFoundError and a damaged or truncated record
    DataLossError, when the iteration reaches them."""
    from tensorflux.io.tfrecord import read_records

    for record in read_records(os.fspath(path), op="summary_iterator"):
        yield Event.FromString(record)


def tensor_proto_to_ndarray(proto):
    """The NumPy array of a TensorProto message: its tensor_content, else its typed value
    field with the last value repeated to fill the shape (an empty field gives zeros), as
    tf.make_ndarray reads it. Strings come back as an object array of bytes; bfloat16 as
    float32 (NumPy has no bfloat16)."""
    if not isinstance(proto, TensorProto):
        raise TypeError(f"expected a TensorProto message, received {type(proto).__name__}")
    name = DATA_TYPE_NAMES.get(proto.dtype)
    if name is None or (name != "string" and name not in _VALUE_FIELDS):
        raise TypeError(f"cannot read a TensorProto of dtype {name or proto.dtype} as a NumPy "
                        "array")
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64))
    if name == "string":
        values = list(proto.string_val)
        values += values[-1:] * (count - len(values))
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array.reshape(shape)
    dtype = np.dtype(np.float32 if name == "bfloat16" else name)
    if proto.tensor_content:
        if name == "bfloat16":
            bits = np.frombuffer(proto.tensor_content, "<u2").astype(np.uint32) << 16
            return bits.view(np.float32).reshape(shape)
        return np.frombuffer(proto.tensor_content, dtype.newbyteorder("<")).astype(
            dtype).reshape(shape)
    values = list(getattr(proto, _VALUE_FIELDS[name]))
    if name in ("complex64", "complex128"):
        values = [complex(re, im) for re, im in zip(values[0::2], values[1::2])]
    if name == "float16":
        values = np.array(values, np.uint16).view(np.float16)
    elif name == "bfloat16":
        values = (np.array(values, np.uint32) << 16).view(np.float32)
    values = np.asarray(values, dtype)
    if values.size == 0:
        return np.zeros(shape, dtype)
    if values.size != count:
        values = np.pad(values, (0, count - values.size), "edge")
    return values.reshape(shape)
