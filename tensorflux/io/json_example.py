"""tf.io.decode_json_example: tf.train.Example protos written in protobuf's JSON mapping,
turned into the serialized (binary) Examples that parse_example reads.

The bytes are TensorFlow's: features sorted by key, repeated numbers not packed (as its JSON
parser writes them), bytes values base64-decoded.
"""

import base64
import binascii
import json
import math
import struct

from tensorflux import dtypes, errors
from tensorflux.io import _host
from tensorflux.io.codecs import _string_array, _strings
from tensorflux.proto import wire

__all__ = ["decode_json_example"]

_OP = "decode_json_example"
# Feature's oneof (feature.proto): field number, and how one value is written.
_LISTS = {"bytes_list": 1, "bytesList": 1, "float_list": 2, "floatList": 2,
          "int64_list": 3, "int64List": 3}


def _bad(detail):
    return errors.InvalidArgumentError(f"Error while parsing JSON: {detail}", _OP)


def _length_delimited(field, payload):
    return wire.encode_varint(field << 3 | 2) + wire.encode_varint(len(payload)) + payload


def _object(value, where):
    if not isinstance(value, dict):
        raise _bad(f"{where} must be a JSON object, received {json.dumps(value)[:40]}")
    return value


def _int64(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise _bad(f"{where}: expected an int64, received {value!r}")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        number = None
    if number is None or not -(1 << 63) <= number < (1 << 63):
        raise _bad(f"{where}: expected an int64, received {value!r}")
    return wire.encode_varint(1 << 3) + wire.encode_varint(number)


def _float(value, where):
    special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    if isinstance(value, str) and value in special:
        value = special[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"{where}: expected a float, received {value!r}")
    return wire.encode_varint(1 << 3 | 5) + struct.pack("<f", float(value))


def _bytes(value, where):
    if not isinstance(value, str):
        raise _bad(f"{where}: expected base64 bytes, received {value!r}")
    try:
        data = base64.b64decode(value.replace("-", "+").replace("_", "/")
                                + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"{where}: invalid base64 {value!r}") from None
    return _length_delimited(1, data)


def _feature(name, feature):
    feature = _object(feature, f"feature {name!r}")
    kinds = [k for k in feature if k in _LISTS]
    unknown = [k for k in feature if k not in _LISTS]
    if unknown or len(kinds) > 1:
        raise _bad(f"feature {name!r} must hold one of bytes_list, float_list and int64_list, "
                   f"received {sorted(feature)}")
    if not kinds:
        return b""
    field = _LISTS[kinds[0]]
    listed = _object(feature[kinds[0]], f"feature {name!r}'s {kinds[0]}")
    if set(listed) - {"value"}:
        raise _bad(f"feature {name!r}'s {kinds[0]} has unknown fields {sorted(listed)}")
    values = listed.get("value", [])
    if not isinstance(values, list):
        raise _bad(f"feature {name!r}: value must be a list, received {values!r}")
    write = {1: _bytes, 2: _float, 3: _int64}[field]
    where = f"feature {name!r}"
    return _length_delimited(field, b"".join(write(v, where) for v in values))


def _example(text):
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise _bad(str(error)) from None
    document = _object(document, "the example")
    if set(document) - {"features"}:
        raise _bad(f"an Example has only 'features', received {sorted(document)}")
    if "features" not in document:
        return b""
    features = _object(document["features"], "features")
    if set(features) - {"feature"}:
        raise _bad(f"features has only 'feature', received {sorted(features)}")
    entries = _object(features.get("feature", {}), "feature")
    body = b"".join(
        _length_delimited(1, _length_delimited(1, key.encode("utf-8"))
                          + _length_delimited(2, _feature(key, entries[key])))
        for key in sorted(entries))
    return _length_delimited(1, body)


def decode_json_example(json_examples, name=None):
    """Each string of `json_examples` (a tf.train.Example in protobuf's JSON mapping) as a
    serialized binary Example, for parse_example; InvalidArgumentError for bad JSON.

    >>> import tensorflux as tf
    >>> data = tf.io.decode_json_example(
    ...     '{"features": {"feature": {"x": {"int64_list": {"value": [3]}}}}}')
    >>> tf.io.parse_single_example(data, {"x": tf.io.FixedLenFeature([], tf.int64)})["x"]
    <tf.Tensor: shape=(), dtype=int64, numpy=3>
    """
    tensor = _host.operand(_OP, json_examples, dtypes.string)

    def host(value):
        items, shape = _strings(value)
        return [_string_array([_example(item) for item in items], shape)]

    out = _host.run([tensor], host, [_host.Output(dtypes.string, None)])[0]
    out.set_shape(tensor.shape)
    return out

