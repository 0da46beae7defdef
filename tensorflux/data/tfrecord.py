"""The record-file sources of tf.data: TFRecordDataset and FixedLengthRecordDataset.

Each yields one scalar string per record. With num_parallel_reads, files are read as
tf.data reads them: `cycle_length` files interleaved one record at a time, in a fixed order.
The file formats and their checks live in tensorflux/io/tfrecord.py.
"""


import tensorflux as tf
from tensorflux import errors
from tensorflux.data.readers import RecordFiles
from tensorflux.io import tfrecord
from tensorflux.tensor import _is_dense_tensor

__all__ = ["FixedLengthRecordDataset", "TFRecordDataset"]


class TFRecordDataset(RecordFiles):
    """The records of one or more TFRecord files, each checksum verified (DataLossError,
    naming the file and offset, on damage).

    `filenames`: a path, a list or 1-D string tensor of paths, or a Dataset of them;
    `compression_type`: '' | 'GZIP' | 'ZLIB'; `buffer_size`: bytes read at a time;
    `num_parallel_reads`: how many files are interleaved (tf.data's order).

    >>> import os, tempfile
    >>> import tensorflux as tf
    >>> path = os.path.join(tempfile.mkdtemp(), "a.tfrecord.gz")
    >>> with tf.io.TFRecordWriter(path, "GZIP") as writer:
    ...     writer.write(b"x")
    >>> list(tf.data.TFRecordDataset(path, "GZIP").as_numpy_iterator())
    [b'x']
    """

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None, name=None):
        super().__init__("TFRecordDataset", filenames, num_parallel_reads,
                         tf.TensorSpec((), tf.string))
        self._compression = tfrecord.compression_name("TFRecordDataset", compression_type)
        self._buffer_size = buffer_size

    def _read(self, path):
        return tfrecord.read_records(path, self._compression, self._buffer_size)


def _size(op, name, value, minimum):
    value = int(value.numpy() if _is_dense_tensor(value) else value)
    if value < minimum:
        raise errors.InvalidArgumentError(
            f"{op}: {name} must be at least {minimum}, received {value}", op)
    return value


class FixedLengthRecordDataset(RecordFiles):
    """The `record_bytes`-long records of one or more files, after `header_bytes` and
    before `footer_bytes` of each (a body that is not a whole number of records is an
    InvalidArgumentError, as in TensorFlow).

    >>> import os, tempfile
    >>> from tensorflux import data
    >>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> _ = open(path, "wb").write(b"HHabcdef")
    >>> list(data.FixedLengthRecordDataset(path, 3, header_bytes=2).as_numpy_iterator())
    [b'abc', b'def']
    """

    def __init__(self, filenames, record_bytes, header_bytes=None, footer_bytes=None,
                 buffer_size=None, compression_type=None, num_parallel_reads=None, name=None):
        op = "FixedLengthRecordDataset"
        super().__init__(op, filenames, num_parallel_reads, tf.TensorSpec((), tf.string))
        self._record_bytes = _size(op, "record_bytes", record_bytes, 1)
        self._header_bytes = _size(op, "header_bytes", header_bytes or 0, 0)
        self._footer_bytes = _size(op, "footer_bytes", footer_bytes or 0, 0)
        self._compression = tfrecord.compression_name(op, compression_type)
        self._buffer_size = buffer_size

    def _read(self, path):
        return tfrecord.read_fixed_length_records(
            path, self._record_bytes, self._header_bytes, self._footer_bytes,
            self._compression, self._buffer_size)
