"""SparseTensors as strings, in TensorFlow's layout (tf.io.serialize_sparse,
serialize_many_sparse, deserialize_many_sparse): three serialized TensorProtos per sparse
tensor (its int64 indices, its values, its int64 dense shape), each with its data in
tensor_content; strings there are all the lengths (varints) followed by all the bytes.
"""

import sys

import numpy as np

from tensorflux import dtypes, errors
from tensorflux.io import _host
from tensorflux.io.codecs import _TF_NAMES, _as_bytes, _native, _numpy_dtype, _strings
from tensorflux.proto import graph_pb, wire

__all__ = ["serialize_sparse", "serialize_many_sparse", "deserialize_many_sparse"]


def _tf_name(dtype):
    return _TF_NAMES.get(dtype.name, dtype.name)


def _content(value, dtype):
    if dtype is dtypes.string:
        items = [_as_bytes(v) for v in value.reshape(-1).tolist()]
        return b"".join(wire.encode_varint(len(item)) for item in items) + b"".join(items)
    value = np.ascontiguousarray(value)
    return (value if sys.byteorder == "little" else value.byteswap()).tobytes()


def _tensor_proto(value, dtype):
    proto = {"dtype": graph_pb.DATA_TYPES[dtype.name],
             "tensor_shape": {"dim": [{"size": int(d)} for d in value.shape]}}
    content = _content(value, dtype)
    if content:
        proto["tensor_content"] = content
    return wire.encode(graph_pb.TENSOR_PROTO, proto)


def _triple(indices, values, shape, dtype):
    return [_tensor_proto(np.asarray(indices, dtype=np.int64), dtypes.int64),
            _tensor_proto(values, dtype),
            _tensor_proto(np.asarray(shape, dtype=np.int64), dtypes.int64)]


def _parts(op, sp_input):
    from tensorflux.sparse.sparse_tensor import as_sparse

    try:
        sp = as_sparse(op, sp_input)
    except (TypeError, ValueError, errors.InvalidArgumentError):
        raise TypeError(f"{op}: sp_input must be a SparseTensor, received "
                        f"{type(sp_input).__name__}") from None
    return sp


def _out_type(op, out_type):
    if dtypes.as_dtype(out_type) is not dtypes.string:
        raise errors.UnimplementedError(
            f"{op}: only out_type=tf.string is supported, received {out_type!r}", op)


def _host_values(value, dtype):
    if dtype is dtypes.string:
        items, shape = _strings(value)
        out = np.empty(len(items), dtype=object)
        out[:] = items
        return out.reshape(shape)
    return np.asarray(value)


def serialize_sparse(sp_input, out_type=dtypes.string, name=None):
    """A SparseTensor as a string vector of 3: its indices, values and dense shape, each a
    serialized TensorProto (TensorFlow's bytes).

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1]], [1.5], [2, 3])
    >>> tf.io.serialize_sparse(st).shape
    TensorShape([3])
    """
    op = "serialize_sparse"
    _out_type(op, out_type)
    sp = _parts(op, sp_input)
    dtype = sp.values.dtype

    def host(indices, values, shape):
        return [np.asarray(_triple(indices, _host_values(values, dtype), shape, dtype),
                           dtype=object)]

    return _host.run([sp.indices, sp.values, sp.dense_shape], host,
                     [_host.Output(dtypes.string, [3])])[0]


def serialize_many_sparse(sp_input, out_type=dtypes.string, name=None):
    """A SparseTensor of rank >= 2 as one serialize_sparse row per entry of its first
    dimension ([batch, 3] strings); each row is a sparse tensor of one rank less.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [2, 0]], [1, 2], [3, 4])
    >>> tf.io.serialize_many_sparse(st).shape
    TensorShape([3, 3])
    """
    op = "serialize_many_sparse"
    _out_type(op, out_type)
    sp = _parts(op, sp_input)
    dtype = sp.values.dtype
    rank = sp.indices.shape[1]
    if rank is not None and rank < 2:
        raise errors.InvalidArgumentError(
            f"{op}: sp_input must have rank >= 2 (a batch of sparse tensors), received rank "
            f"{rank}", op)

    def host(indices, values, shape):
        indices = np.asarray(indices, dtype=np.int64).reshape(-1, len(shape))
        values = _host_values(values, dtype)
        rows = []
        for row in range(int(shape[0])):
            mine = indices[:, 0] == row
            rows.append(_triple(indices[mine][:, 1:], values[mine], shape[1:], dtype))
        out = np.empty((len(rows), 3), dtype=object)
        for i, row in enumerate(rows):
            out[i, :] = row
        return [out]

    return _host.run([sp.indices, sp.values, sp.dense_shape], host,
                     [_host.Output(dtypes.string, [-1, 3])])[0]


def _decode_strings(content, count, op):
    lengths, pos = [], 0
    try:
        for _ in range(count):
            length, pos = wire.decode_varint(content, pos)
            lengths.append(length)
    except (wire.DecodeError, IndexError):
        raise errors.InvalidArgumentError(f"{op}: corrupt string tensor_content", op) from None
    items = []
    for length in lengths:
        items.append(bytes(content[pos:pos + length]))
        pos += length
    if pos != len(content):
        raise errors.InvalidArgumentError(f"{op}: corrupt string tensor_content", op)
    out = np.empty(count, dtype=object)
    out[:] = items
    return out


def _parse_proto(op, data, dtype, what):
    try:
        proto = wire.decode(graph_pb.TENSOR_PROTO, data)
    except (wire.DecodeError, UnicodeDecodeError) as error:
        raise errors.InvalidArgumentError(
            f"{op}: could not parse the serialized {what} as a TensorProto ({error})",
            op) from None
    stored = graph_pb.DATA_TYPE_NAMES.get(proto.get("dtype", 0))
    shape = tuple(dim.get("size", 0) for dim in proto.get("tensor_shape", {}).get("dim", []))
    count = int(np.prod(shape, dtype=np.int64))
    if stored != dtype.name:
        return stored, None
    content = proto.get("tensor_content", b"")
    if dtype is dtypes.string:
        if "string_val" in proto:
            values = np.empty(count, dtype=object)
            values[:] = list(proto["string_val"])[:count]
            return stored, values.reshape(shape)
        return stored, _decode_strings(content, count, op).reshape(shape)
    item = _numpy_dtype(dtype)
    if len(content) != count * item.itemsize:
        raise errors.InvalidArgumentError(
            f"{op}: the serialized {what} holds {len(content)} bytes for shape {list(shape)}",
            op)
    return stored, _native(np.frombuffer(content, dtype=item)).reshape(shape)


def deserialize_many_sparse(serialized_sparse, dtype, rank=None, name=None):
    """The SparseTensor of a [batch, 3] string matrix of serialize_sparse rows: each row's
    sparse tensor becomes entry i of the first dimension; the dense shape is the largest of
    the rows' shapes, dimension by dimension. All rows must hold `dtype` values and the same
    rank.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [2, 0]], [1, 2], [3, 4])
    >>> back = tf.io.deserialize_many_sparse(tf.io.serialize_many_sparse(st), tf.int32)
    >>> back.indices.numpy().tolist(), back.dense_shape.numpy().tolist()
    ([[0, 1], [2, 0]], [3, 4])
    """
    from tensorflux.sparse.sparse_tensor import SparseTensor

    op = "deserialize_many_sparse"
    dtype = dtypes.as_dtype(dtype)
    serialized = _host.operand(op, serialized_sparse, dtypes.string)
    if serialized.shape.rank is not None and (
            serialized.shape.rank != 2 or serialized.shape[1] not in (None, 3)):
        raise errors.InvalidArgumentError(
            f"{op}: Serialized sparse should have 3 as the last dimension "
            f"{list(serialized.shape)}", op)

    def host(value):
        items, shape = _strings(value)
        if len(shape) != 2 or shape[1] != 3:
            raise errors.InvalidArgumentError(
                f"{op}: Serialized sparse should have 3 as the last dimension {list(shape)}",
                op)
        all_indices, all_values, dense, ranks = [], [], None, set()
        for row in range(shape[0]):
            parts = items[3 * row:3 * row + 3]
            found = [_parse_proto(op, parts[0], dtypes.int64, "indices"),
                     _parse_proto(op, parts[1], dtype, "values"),
                     _parse_proto(op, parts[2], dtypes.int64, "dense shape")]
            for (stored, data), what in zip(found, ("indices", "values", "dense_shape")):
                if data is None:
                    wanted = dtype if what == "values" else dtypes.int64
                    raise errors.InvalidArgumentError(
                        f"Requested SparseTensor of type {_tf_name(wanted)} but "
                        f"SparseTensor[{row}].{what}.dtype() == {stored}", op)
            indices, values, row_shape = (data for _, data in found)
            indices = indices.reshape(-1, len(row_shape))
            ranks.add(len(row_shape))
            if len(ranks) > 1 or (rank is not None and len(row_shape) + 1 != int(rank)):
                raise errors.InvalidArgumentError(
                    f"{op}: every serialized sparse tensor must have the same rank"
                    f"{'' if rank is None else f' ({int(rank) - 1})'}; row {row} has rank "
                    f"{len(row_shape)}", op)
            dense = row_shape if dense is None else np.maximum(dense, row_shape)
            all_indices.append(np.concatenate(
                [np.full((len(indices), 1), row, dtype=np.int64), indices], 1))
            all_values.append(values.reshape(-1))
        width = 1 + (len(dense) if dense is not None else (0 if rank is None else
                                                            int(rank) - 1))
        indices = (np.concatenate(all_indices, 0) if all_indices
                   else np.zeros((0, width), dtype=np.int64))
        values = (np.concatenate(all_values, 0) if all_values
                  else np.zeros(0, dtype=object if dtype is dtypes.string
                                else _numpy_dtype(dtype)))
        full = np.concatenate([[shape[0]], dense if dense is not None else
                               np.zeros(width - 1, dtype=np.int64)]).astype(np.int64)
        return [indices, values, full]

    rank_dim = -1 if rank is None else int(rank)
    indices, values, shape = _host.run(
        [serialized], host, [_host.Output(dtypes.int64, [-1, rank_dim]),
                             _host.Output(dtype, [-1]), _host.Output(dtypes.int64, [rank_dim])])
    return SparseTensor(indices, values, shape)
