"""tf.io's byte codecs: decode_raw, decode_csv, encode_base64 / decode_base64 (the web-safe
alphabet), decode_compressed, and serialize_tensor / parse_tensor in TensorFlow's TensorProto
format (the bytes TF writes, byte for byte, and any TensorProto TF reads).

Each runs on the host over NumPy arrays; inside a traced function (or a Dataset.map trace)
it becomes a host call with TensorFlow's static shapes (see io/_host.py).

>>> import tensorflux as tf
>>> tf.io.decode_raw(b"\\x01\\x00\\x02\\x00", tf.int16).numpy().tolist()
[1, 2]
>>> tf.io.serialize_tensor(tf.constant(1.0)).numpy().hex()
'0801120022040000803f'
"""

import base64
import binascii
import gzip
import math
import re
import sys
import zlib

import numpy as np

from tensorflux import dtypes, errors
from tensorflux.io import _host
from tensorflux.proto import graph_pb, wire

__all__ = ["decode_base64", "decode_compressed", "decode_csv", "decode_raw", "encode_base64",
           "parse_tensor", "serialize_tensor"]

# TensorFlow's names for dtypes in its messages (DataTypeString).
_TF_NAMES = {"float32": "float", "float64": "double", "float16": "half"}


def _tf_name(dtype):
    return _TF_NAMES.get(dtype.name, dtype.name)


def _numpy_dtype(dtype):
    from tensorflux.tensor import constant

    return constant([], dtype=dtype).numpy().dtype


def _native(values, little_endian=True):
    """Values read in the host's byte order, reordered if the data's order differs (each
    part of a complex number on its own, as TensorFlow does)."""
    if (sys.byteorder == "little") != little_endian and values.dtype.itemsize > 1:
        return values.byteswap()
    return values.copy()


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _strings(value):
    """A host string value (bytes, or an object array) as (flat list of bytes, shape)."""
    if isinstance(value, (bytes, str)):
        return [_as_bytes(value)], ()
    array = np.asarray(value, dtype=object)
    return [_as_bytes(v) for v in array.reshape(-1).tolist()], array.shape


def _string_array(items, shape):
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out.reshape(shape)


def _map_strings(op, value, fn):
    """An elementwise bytes -> bytes op over a string tensor, keeping its shape."""
    tensor = _host.operand(op, value, dtypes.string)

    def host(array):
        items, shape = _strings(array)
        return [_string_array([fn(item) for item in items], shape)]

    return _host.run([tensor], host, [_host.Output(dtypes.string, [], tensor)])[0]


# ------------------------------------------------------------------ decode_raw

_RAW_TYPES = ("float16", "float32", "float64", "int32", "uint16", "uint8", "int16", "int8",
              "int64", "complex64", "complex128", "bool", "bfloat16")


def decode_raw(input_bytes, out_type, little_endian=True, fixed_length=None, name=None):
    """The bytes of each string read as `out_type` values: shape input.shape + [n].

    All strings must have the same length (a multiple of the item size), or pass
    `fixed_length` to cut or zero-pad each to that many bytes first.

    >>> import tensorflux as tf
    >>> tf.io.decode_raw([b"\\x00\\x01"], tf.int16, little_endian=False).numpy().tolist()
    [[1]]
    """
    op = "decode_raw"
    out_type = dtypes.as_dtype(out_type)
    if out_type.name not in _RAW_TYPES:
        raise errors.InvalidArgumentError(
            f"{op}: out_type must be one of {', '.join(_RAW_TYPES)}, received "
            f"{out_type.name}", op)
    tensor = _host.operand(op, input_bytes, dtypes.string)
    item = _numpy_dtype(out_type)
    if fixed_length is not None:
        fixed_length = int(fixed_length)
        if fixed_length % item.itemsize:
            raise errors.InvalidArgumentError(
                f"fixed_length ({fixed_length}) must be a multiple of the size of out_type "
                f"({item.itemsize})", op)

    def host(array):
        items, shape = _strings(array)
        if fixed_length is not None:
            items = [data[:fixed_length].ljust(fixed_length, b"\0") for data in items]
        size = len(items[0]) if items else 0
        for index, data in enumerate(items):
            if len(data) != size:
                raise errors.InvalidArgumentError(
                    f"DecodeRaw requires input strings to all be the same size, but element "
                    f"{index} has size {len(data)} != {size}", op)
        if size % item.itemsize:
            raise errors.InvalidArgumentError(
                f"Input to DecodeRaw has length {size} that is not a multiple of "
                f"{item.itemsize}, the size of {_tf_name(out_type)}", op)
        if out_type is dtypes.bool:
            values = np.frombuffer(b"".join(items), dtype=np.uint8) != 0
        else:
            values = _native(np.frombuffer(b"".join(items), dtype=item), little_endian)
        return [values.reshape(tuple(shape) + (size // item.itemsize,))]

    count = -1 if fixed_length is None else fixed_length // item.itemsize
    return _host.run([tensor], host, [_host.Output(out_type, [count], tensor)])[0]


# ------------------------------------------------------------------ decode_csv

_CSV_TYPES = ("float32", "float64", "int32", "int64", "string")
_INT_RANGES = {"int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1)}
_NUMBER = re.compile(rb"\s*[+-]?[0-9]+\s*")


def _csv_fields(record, delim, quoted, index):
    """The fields of one CSV record, with TensorFlow's quoting rules."""
    if not record:
        return []
    fields = []
    pos = 0
    size = len(record)
    while pos < size:
        if quoted and record[pos:pos + 1] == b'"':
            field = bytearray()
            pos += 1
            while True:
                if pos >= size:
                    raise errors.InvalidArgumentError(
                        f"Quoted field has to end with quote followed by delim or end in "
                        f"record {index}", "decode_csv")
                char = record[pos:pos + 1]
                if char == b'"':
                    if record[pos + 1:pos + 2] == b'"':
                        field += b'"'
                        pos += 2
                        continue
                    pos += 1
                    break
                field += char
                pos += 1
            if pos < size and record[pos:pos + 1] != delim:
                raise errors.InvalidArgumentError(
                    f"Quoted field has to end with quote followed by delim or end in record "
                    f"{index}", "decode_csv")
            fields.append(bytes(field))
        else:
            end = record.find(delim, pos)
            end = size if end < 0 else end
            field = record[pos:end]
            if quoted and (b'"' in field or b"\n" in field or b"\r" in field):
                raise errors.InvalidArgumentError(
                    f"Unquoted fields cannot have quotes/CRLFs inside (record {index})",
                    "decode_csv")
            fields.append(field)
            pos = end
        pos += 1  # the delimiter
    if record.endswith(delim):
        fields.append(b"")
    return fields


def _csv_value(dtype, text, column, index):
    def invalid():
        return errors.InvalidArgumentError(
            f"Field {column} in record {index} is not a valid {dtype.name}: "
            f"{text.decode('utf-8', 'replace')}", "decode_csv")

    if dtype is dtypes.string:
        return text
    if dtype.is_integer:
        if not _NUMBER.fullmatch(text):
            raise invalid()
        value = int(text)
        low, high = _INT_RANGES[dtype.name]
        if not low <= value <= high:
            raise invalid()
        return value
    if b"_" in text:
        raise invalid()
    try:
        return float(text)
    except ValueError:
        raise invalid() from None


def _csv_default(op, default):
    """(dtype, default value or None for a required column) of one record_defaults entry."""
    if isinstance(default, dtypes.DType):
        if default.name not in _CSV_TYPES:
            raise errors.InvalidArgumentError(
                f"{op}: record_defaults must be float32, float64, int32, int64 or string, "
                f"received {default.name}", op)
        return default, None
    tensor = _host.operand(op, default)
    if tensor.dtype.name not in _CSV_TYPES:
        raise errors.InvalidArgumentError(
            f"{op}: record_defaults must be float32, float64, int32, int64 or string, "
            f"received {tensor.dtype.name}", op)
    value = np.asarray(tensor.numpy(), dtype=object).reshape(-1)
    if value.size > 1:
        raise errors.InvalidArgumentError(
            f"{op}: each record_defaults entry must have one value or none (required), "
            f"received {value.size}", op)
    return tensor.dtype, (value[0] if value.size else None)


def decode_csv(records, record_defaults, field_delim=",", use_quote_delim=True, na_value="",
               select_cols=None, name=None):
    """Splits CSV records into columns: one tensor per record_defaults entry, each of
    `records`' shape, with the entry's dtype (float32, float64, int32, int64, string).

    An entry is a one-value default, or empty (or a dtype) for a required column. Fields
    may be double-quoted ("" is a quote inside); a field equal to `na_value` takes the
    default; `select_cols` (increasing) picks the columns to parse.

    >>> import tensorflux as tf
    >>> a, b = tf.io.decode_csv(["1,x", '2,"y,z"'], [[0], [""]])
    >>> a.numpy().tolist(), b.numpy().tolist()
    ([1, 2], [b'x', b'y,z'])
    """
    op = "decode_csv"
    delim = _as_bytes(field_delim)
    if len(delim) != 1:
        raise errors.InvalidArgumentError(
            f"{op}: field_delim must be one character, received {field_delim!r}", op)
    columns = [_csv_default(op, default) for default in record_defaults]
    if select_cols is not None:
        select_cols = [int(c) for c in select_cols]
        if any(b <= a for a, b in zip(select_cols, select_cols[1:])) or (
                select_cols and select_cols[0] < 0):
            raise errors.InvalidArgumentError(
                f"{op}: select_cols must be non-negative and strictly increasing, received "
                f"{select_cols}", op)
        if len(select_cols) != len(columns):
            raise errors.InvalidArgumentError(
                f"{op}: select_cols has {len(select_cols)} columns but record_defaults "
                f"{len(columns)}", op)
    na = _as_bytes(na_value)
    tensor = _host.operand(op, records, dtypes.string)

    def host(array):
        items, shape = _strings(array)
        out = [[] for _ in columns]
        for index, record in enumerate(items):
            fields = _csv_fields(record, delim, use_quote_delim, index)
            if select_cols is None:
                if len(fields) != len(columns):
                    raise errors.InvalidArgumentError(
                        f"Expect {len(columns)} fields but have {len(fields)} in record "
                        f"{index}", op)
                picked = fields
            else:
                if select_cols and len(fields) <= select_cols[-1]:
                    raise errors.InvalidArgumentError(
                        f"Expect {select_cols[-1] + 1} fields but have {len(fields)} in "
                        f"record {index}", op)
                picked = [fields[c] for c in select_cols]
            for column, ((dtype, default), text) in enumerate(zip(columns, picked)):
                if not text or text == na:
                    if default is None:
                        raise errors.InvalidArgumentError(
                            f"Field {column} is required but missing in record {index}!", op)
                    out[column].append(default)
                else:
                    out[column].append(_csv_value(dtype, text, column, index))
        results = []
        for (dtype, _), values in zip(columns, out):
            if dtype is dtypes.string:
                results.append(_string_array([_as_bytes(v) for v in values], shape))
            else:
                with np.errstate(over="ignore"):  # beyond float32's range: +-inf, as TF
                    values = np.asarray(values, dtype=_numpy_dtype(dtype))
                results.append(values.reshape(shape))
        return results

    return _host.run([tensor], host, [_host.Output(dtype, [], tensor) for dtype, _ in columns])


# ------------------------------------------------------------------ base64 and compression

_BASE64 = re.compile(rb"[A-Za-z0-9_-]*")


def encode_base64(input, pad=False, name=None):  # noqa: A002 - TensorFlow's argument name
    """Each string in web-safe base64 ('-' and '_' for '+' and '/'), unpadded by default.

    >>> import tensorflux as tf
    >>> tf.io.encode_base64([b"\\xfb\\xff"]).numpy().tolist()
    [b'-_8']
    """
    def encode(data):
        text = base64.urlsafe_b64encode(data)
        return text if pad else text.rstrip(b"=")

    return _map_strings("encode_base64", input, encode)


def _decode_base64(text):
    body = text[:-2] if text.endswith(b"==") else text[:-1] if text.endswith(b"=") else text
    if not _BASE64.fullmatch(body):
        raise errors.InvalidArgumentError("Invalid character found in base64.",
                                          "decode_base64")
    if len(body) % 4 == 1:
        raise errors.InvalidArgumentError("Base64 string length cannot be 1 modulo 4.",
                                          "decode_base64")
    try:
        return base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
    except binascii.Error as error:
        raise errors.InvalidArgumentError(f"Invalid base64: {error}",
                                          "decode_base64") from None


def decode_base64(input, name=None):  # noqa: A002
    """Decodes web-safe base64 strings, padded or not; other characters (whitespace, '+',
    '/') are an InvalidArgumentError, as in TensorFlow.

    >>> import tensorflux as tf
    >>> tf.io.decode_base64(["YWI", "YWI="]).numpy().tolist()
    [b'ab', b'ab']
    """
    return _map_strings("decode_base64", input, _decode_base64)


def decode_compressed(bytes, compression_type="", name=None):  # noqa: A002
    """Decompresses each string: compression_type '' (none), 'ZLIB' or 'GZIP'.

    >>> import zlib
    >>> import tensorflux as tf
    >>> tf.io.decode_compressed(zlib.compress(b"hi"), "ZLIB").numpy()
    b'hi'
    """
    op = "decode_compressed"
    kind = (compression_type or "").upper()
    if kind not in ("", "ZLIB", "GZIP"):
        raise errors.InvalidArgumentError(
            f"{op}: compression_type must be '', 'ZLIB' or 'GZIP', received "
            f"{compression_type!r}", op)

    def decompress(data):
        if not kind:
            return data
        try:
            return gzip.decompress(data) if kind == "GZIP" else zlib.decompress(data)
        except (zlib.error, OSError, EOFError) as error:
            raise errors.DataLossError(f"{op}: cannot decompress a {kind} string ({error})",
                                       op) from None

    return _map_strings(op, bytes, decompress)


# ------------------------------------------------------------------ TensorProto

# The repeated field of TensorProto that holds each dtype's values when tensor_content is
# not used (tensor.proto), and how a value there maps to the NumPy value.
_VALUE_FIELDS = {"float32": "float_val", "float64": "double_val", "int32": "int_val",
                 "int16": "int_val", "int8": "int_val", "uint8": "int_val",
                 "uint16": "int_val", "int64": "int64_val", "bool": "bool_val",
                 "string": "string_val", "complex64": "scomplex_val",
                 "complex128": "dcomplex_val", "float16": "half_val", "bfloat16": "half_val",
                 "uint32": "uint32_val", "uint64": "uint64_val"}


def serialize_tensor(tensor, name=None):
    """A scalar string holding `tensor` as a TensorFlow TensorProto (the bytes TF's
    serialize_tensor writes: numbers in tensor_content, strings in string_val).

    >>> import tensorflux as tf
    >>> data = tf.io.serialize_tensor(tf.constant([1, 2]))
    >>> tf.io.parse_tensor(data, tf.int32).numpy().tolist()
    [1, 2]
    """
    op = "serialize_tensor"
    tensor = _host.operand(op, tensor)
    if tensor.dtype.name not in _VALUE_FIELDS:
        raise errors.InvalidArgumentError(
            f"{op}: cannot serialize a {tensor.dtype.name} tensor", op)
    number = graph_pb.DATA_TYPES[tensor.dtype.name]

    def host(array):
        value = np.asarray(array, dtype=object if tensor.dtype is dtypes.string else None)
        proto = {"dtype": number,
                 "tensor_shape": {"dim": [{"size": int(d)} for d in value.shape]}}
        if tensor.dtype is dtypes.string:
            proto["string_val"] = [_as_bytes(v) for v in value.reshape(-1).tolist()]
        else:
            value = np.ascontiguousarray(value)
            proto["tensor_content"] = (value if sys.byteorder == "little"
                                       else value.byteswap()).tobytes()
        return [np.asarray(wire.encode(graph_pb.TENSOR_PROTO, proto), dtype=object)]

    return _host.run([tensor], host, [_host.Output(dtypes.string, [])])[0]


def _proto_values(proto, dtype, item, count):
    """The `count` values of a TensorProto without tensor_content: its typed repeated
    field, the last value repeating to fill the shape (TensorFlow's rule), zeros if none."""
    field = _VALUE_FIELDS[dtype.name]
    values = proto.get(field, [])
    if dtype.is_complex:
        values = [complex(r, i) for r, i in zip(values[0::2], values[1::2])]
    if dtype.name in ("float16", "bfloat16"):
        values = np.asarray(values, dtype=np.uint16).view(item)
    if len(values) > count:
        raise errors.InvalidArgumentError(
            f"parse_tensor: the TensorProto has {len(values)} values for a shape of "
            f"{count} elements", "parse_tensor")
    if dtype is dtypes.string:
        out = np.empty(count, dtype=object)
        out[:] = b""
    else:
        out = np.zeros(count, dtype=item)
    if len(values):
        out[:len(values)] = values
        out[len(values):] = values[-1]
    return out


def _parse(data, out_type):
    try:
        proto = wire.decode(graph_pb.TENSOR_PROTO, data)
    except (wire.DecodeError, UnicodeDecodeError) as error:
        raise errors.InvalidArgumentError(
            f"Could not parse `serialized` as TensorProto ({error})", "parse_tensor") from None
    stored = graph_pb.DATA_TYPE_NAMES.get(proto.get("dtype", 0))
    if stored is None or stored not in _VALUE_FIELDS:
        raise errors.InvalidArgumentError(
            f"Could not parse `serialized` as TensorProto: unsupported dtype number "
            f"{proto.get('dtype', 0)}", "parse_tensor")
    stored = dtypes.as_dtype(stored)
    if stored is not out_type:
        raise errors.InvalidArgumentError(
            f"Type mismatch between parsed tensor ({_tf_name(stored)}) and dtype "
            f"({_tf_name(out_type)})", "parse_tensor")
    shape_proto = proto.get("tensor_shape", {})
    shape = tuple(dim.get("size", 0) for dim in shape_proto.get("dim", []))
    if shape_proto.get("unknown_rank") or any(d < 0 for d in shape):
        raise errors.InvalidArgumentError(
            "parse_tensor: the TensorProto's shape is not fully defined", "parse_tensor")
    item = _numpy_dtype(stored)
    count = math.prod(shape)
    content = proto.get("tensor_content")
    if content is not None and stored is not dtypes.string:
        if len(content) != count * item.itemsize:
            raise errors.InvalidArgumentError(
                f"parse_tensor: tensor_content holds {len(content)} bytes, but shape "
                f"{list(shape)} of {_tf_name(stored)} needs {count * item.itemsize}",
                "parse_tensor")
        return _native(np.frombuffer(content, dtype=item)).reshape(shape)
    return _proto_values(proto, stored, item, count).reshape(shape)


def parse_tensor(serialized, out_type, name=None):
    """The tensor in a serialized TensorProto (from serialize_tensor, or any TensorProto
    TensorFlow writes); InvalidArgumentError if it is not one or holds another dtype."""
    op = "parse_tensor"
    out_type = dtypes.as_dtype(out_type)
    tensor = _host.operand(op, serialized, dtypes.string)

    def host(value):
        items, shape = _strings(value)
        if shape != ():
            raise errors.InvalidArgumentError(
                f"{op}: serialized must be a scalar string, received shape {list(shape)}", op)
        return [_parse(items[0], out_type)]

    return _host.run([tensor], host, [_host.Output(out_type, None)])[0]
