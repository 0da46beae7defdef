"""The protocol buffer wire format: schema-driven encoding and decoding of messages as dicts.

A message schema (`Message`) lists its fields (`Field`: name, number, kind). A message value
is a plain dict keyed by field name; a repeated field is a list, a map field a dict, a
sub-message a dict. Encoding follows proto3: a plain scalar field at its default (0, "",
b"", False) is not written, while a `oneof` member present in the dict always is (its
presence is the information). Decoding returns only the fields found on the wire, skips
fields the schema does not know, and reads repeated scalars both packed and unpacked.

>>> from tensorflux.proto import wire
>>> POINT = wire.Message("Point", [wire.Field("x", 1, "int64"), wire.Field("tags", 2, "string",
...                                                                      repeated=True)])
>>> data = wire.encode(POINT, {"x": 150, "tags": ["a"]})
>>> data.hex()
'089601120161'
>>> wire.decode(POINT, data)
{'x': 150, 'tags': ['a']}
"""

import struct

__all__ = ["DecodeError", "Field", "Message", "decode", "decode_varint", "encode",
           "encode_varint", "iter_fields", "VARINT", "FIXED64", "LENGTH", "FIXED32"]

# Wire types (groups, 3 and 4, are deprecated and not supported).
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

_MASK64 = (1 << 64) - 1
# Sub-message nesting decode accepts (the protobuf runtimes' default recursion limit).
MAX_DEPTH = 100
_VARINT_KINDS = {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool", "enum"}
# kind -> (wire type, struct format) for the fixed-width scalars.
_FIXED = {"fixed32": (FIXED32, "<I"), "sfixed32": (FIXED32, "<i"), "float": (FIXED32, "<f"),
          "fixed64": (FIXED64, "<Q"), "sfixed64": (FIXED64, "<q"), "double": (FIXED64, "<d")}
_LENGTH_KINDS = {"string", "bytes", "message", "map"}
# Inclusive ranges of the varint integer kinds, checked when encoding.
_RANGES = {"int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1),
           "uint32": (0, (1 << 32) - 1), "uint64": (0, _MASK64),
           "sint32": (-(1 << 31), (1 << 31) - 1), "sint64": (-(1 << 63), (1 << 63) - 1),
           "enum": (-(1 << 31), (1 << 31) - 1)}
_DEFAULTS = {"string": "", "bytes": b"", "bool": False}


class DecodeError(ValueError):
    """Bytes that are not a valid encoding of the expected message."""


class Field:
    """One field of a Message.

    kind: a scalar kind (int32, int64, uint32, uint64, sint32, sint64, bool, enum, fixed32,
    sfixed32, fixed64, sfixed64, float, double, string, bytes), "message" (with `message`, the
    sub-message's schema) or "map" (with `key` a scalar kind and `value` a scalar kind or a
    Message). `oneof` names the oneof group the field belongs to, if any. Repeated numeric
    fields are written packed (proto3's default) unless packed=False.
    """

    __slots__ = ("name", "number", "kind", "repeated", "message", "oneof", "packed", "key",
                 "value")

    def __init__(self, name, number, kind, repeated=False, message=None, oneof=None,
                 packed=True, key=None, value=None):
        if kind not in _VARINT_KINDS and kind not in _FIXED and kind not in _LENGTH_KINDS:
            raise ValueError(f"Field {name!r}: unknown kind {kind!r}")
        if kind == "message" and message is None:
            raise ValueError(f"Field {name!r}: a message field needs its Message schema")
        if kind == "map" and (key is None or value is None):
            raise ValueError(f"Field {name!r}: a map field needs key and value kinds")
        self.name = name
        self.number = number
        self.kind = kind
        self.repeated = repeated
        self.message = message
        self.oneof = oneof
        self.packed = packed and repeated and kind not in _LENGTH_KINDS
        self.key = key
        self.value = value
        if kind == "map":
            # A map is a repeated entry message {key = 1, value = 2} on the wire.
            value_field = (Field("value", 2, "message", message=value)
                           if isinstance(value, Message) else Field("value", 2, value))
            self.message = Message(f"{name}Entry", [Field("key", 1, key), value_field])

    def __repr__(self):
        return f"Field({self.name!r}, {self.number}, {self.kind!r})"


class Message:
    """A message schema: a name and its fields. Fields may be given later with `define`, so
    that schemas can refer to each other (AttrValue -> NameAttrList -> AttrValue)."""

    __slots__ = ("name", "fields", "by_number")

    def __init__(self, name, fields=()):
        self.name = name
        self.fields = {}
        self.by_number = {}
        self.define(fields)

    def define(self, fields):
        for field in fields:
            if field.number in self.by_number or field.name in self.fields:
                raise ValueError(f"Message {self.name}: field {field.name!r} "
                                 f"(number {field.number}) is defined twice")
            self.fields[field.name] = field
            self.by_number[field.number] = field
        return self

    def __repr__(self):
        return f"Message({self.name!r})"


# ------------------------------------------------------------------ encoding

def encode_varint(value):
    """The base-128 varint bytes of an integer; negatives are their 64-bit two's complement
    (always 10 bytes), as protobuf writes negative int32/int64/enum values.

    >>> encode_varint(300).hex(), len(encode_varint(-1))
    ('ac02', 10)
    """
    if 0 <= value < 0x80:
        return bytes((value,))
    value &= _MASK64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number, wire_type):
    return encode_varint((number << 3) | wire_type)


def _zigzag(value, bits):
    return ((value << 1) ^ (value >> (bits - 1))) & ((1 << bits) - 1)


def _varint_value(field, value):
    kind = field.kind
    if kind == "bool":
        return 1 if value else 0
    if isinstance(value, bool) or not isinstance(value, int):
        # Int-like values such as NumPy integers convert through __index__; floats do not.
        index = getattr(type(value), "__index__", None)
        if index is None or isinstance(value, bool):
            raise TypeError(f"Field {field.name!r} ({kind}) expects an int, received "
                            f"{value!r}")
        value = index(value)
    low, high = _RANGES[kind]
    if not low <= value <= high:
        raise ValueError(f"Field {field.name!r} ({kind}) value {value} is out of range "
                         f"[{low}, {high}]")
    if kind == "sint32":
        return _zigzag(value, 32)
    if kind == "sint64":
        return _zigzag(value, 64)
    return value


def _scalar_bytes(field, value):
    """A scalar's payload, without its tag (the packed form's unit)."""
    kind = field.kind
    if kind in _VARINT_KINDS:
        return encode_varint(_varint_value(field, value))
    fmt = _FIXED[kind][1]
    try:
        return struct.pack(fmt, value)
    except struct.error as error:
        raise ValueError(f"Field {field.name!r} ({kind}): cannot encode {value!r}: "
                         f"{error}") from None


def _length_delimited(number, payload):
    return _tag(number, LENGTH) + encode_varint(len(payload)) + payload


def _single(field, value):
    """One occurrence of a field (tag and payload)."""
    kind = field.kind
    if kind == "message":
        return _length_delimited(field.number, encode(field.message, value))
    if kind == "string":
        if not isinstance(value, str):
            raise TypeError(f"Field {field.name!r} (string) expects a str, received {value!r}")
        return _length_delimited(field.number, value.encode("utf-8"))
    if kind == "bytes":
        if isinstance(value, str):
            raise TypeError(f"Field {field.name!r} (bytes) expects bytes, received a str")
        return _length_delimited(field.number, bytes(value))
    if kind in _VARINT_KINDS:
        return _tag(field.number, VARINT) + _scalar_bytes(field, value)
    return _tag(field.number, _FIXED[kind][0]) + _scalar_bytes(field, value)


def _is_default(field, value):
    if field.repeated or field.kind == "map":
        return len(value) == 0
    if field.kind == "message":
        return False  # a set sub-message is written even when empty: presence matters
    return value == _DEFAULTS.get(field.kind, 0)


def _map_entries(field, mapping):
    # Sorted keys make the bytes deterministic (protobuf's deterministic serialization).
    return b"".join(
        _length_delimited(field.number, encode(field.message, {"key": key, "value": mapping[key]}))
        for key in sorted(mapping))


def encode(message, value):
    """The wire bytes of a message given as a dict (see the module docstring).

    Fields are written in field-number order; unknown keys are an error, None values are
    skipped.
    """
    if not isinstance(value, dict):
        raise TypeError(f"Message {message.name} expects a dict, received {type(value).__name__}")
    unknown = set(value) - set(message.fields)
    if unknown:
        raise ValueError(f"Message {message.name} has no field(s) {sorted(unknown)}; known: "
                         f"{sorted(message.fields)}")
    parts = []
    for number in sorted(message.by_number):
        field = message.by_number[number]
        item = value.get(field.name)
        if item is None or (field.oneof is None and _is_default(field, item)):
            continue
        if field.kind == "map":
            parts.append(_map_entries(field, item))
        elif field.packed:
            payload = b"".join(_scalar_bytes(field, x) for x in item)
            parts.append(_length_delimited(field.number, payload))
        elif field.repeated:
            parts.extend(_single(field, x) for x in item)
        else:
            parts.append(_single(field, item))
    return b"".join(parts)


# ------------------------------------------------------------------ decoding

def decode_varint(data, pos=0):
    """(unsigned value, position after it) of the varint at data[pos]."""
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise DecodeError("Truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("Varint longer than 10 bytes")


def iter_fields(data):
    """Yields (field number, wire type, raw value) for every field of an encoded message:
    an int for VARINT, a bytes payload for LENGTH, 4 or 8 raw bytes for FIXED32/FIXED64."""
    data = bytes(data)
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = decode_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise DecodeError("Field number 0 is invalid")
        if wire_type == VARINT:
            value, pos = decode_varint(data, pos)
        elif wire_type == LENGTH:
            size, pos = decode_varint(data, pos)
            value = data[pos:pos + size]
            pos += size
        elif wire_type == FIXED32:
            value = data[pos:pos + 4]
            pos += 4
        elif wire_type == FIXED64:
            value = data[pos:pos + 8]
            pos += 8
        else:
            raise DecodeError(f"Unsupported wire type {wire_type} (field {number})")
        if pos > end:
            raise DecodeError(f"Truncated field {number}")
        yield number, wire_type, value


def _signed(value, bits):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _from_varint(kind, value):
    if kind in ("int64", "enum", "int32"):
        # int32 and enum values are sign-extended to 64 bits on the wire; parsers truncate.
        return _signed(value, 32 if kind != "int64" else 64)
    if kind == "uint32":
        return value & 0xFFFFFFFF
    if kind == "bool":
        return value != 0
    if kind == "sint32" or kind == "sint64":
        return (value >> 1) ^ -(value & 1)
    return value


def _unpack(field, payload):
    """The values of a packed repeated scalar field."""
    kind = field.kind
    if kind in _VARINT_KINDS:
        values = []
        pos = 0
        while pos < len(payload):
            raw, pos = decode_varint(payload, pos)
            values.append(_from_varint(kind, raw))
        return values
    fmt = _FIXED[kind][1]
    size = struct.calcsize(fmt)
    if len(payload) % size:
        raise DecodeError(f"Field {field.name!r}: packed {kind} payload of {len(payload)} bytes")
    return [x[0] for x in struct.iter_unpack(fmt, payload)]


def _decode_value(field, wire_type, raw, depth):
    """One occurrence's value (a list for a packed payload)."""
    kind = field.kind
    if kind in _VARINT_KINDS:
        if wire_type == LENGTH and field.repeated:
            return _unpack(field, raw)
        _expect(field, wire_type, VARINT)
        return _from_varint(kind, raw)
    if kind in _FIXED:
        expected, fmt = _FIXED[kind]
        if wire_type == LENGTH and field.repeated:
            return _unpack(field, raw)
        _expect(field, wire_type, expected)
        return struct.unpack(fmt, raw)[0]
    _expect(field, wire_type, LENGTH)
    if kind == "string":
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DecodeError(f"Field {field.name!r}: invalid UTF-8 ({error})") from None
    if kind == "bytes":
        return raw
    if kind == "message":
        return decode(field.message, raw, _depth=depth + 1)
    entry = decode(field.message, raw, _depth=depth + 1)
    default_value = {} if isinstance(field.value, Message) else _DEFAULTS.get(field.value, 0)
    return entry.get("key", _DEFAULTS.get(field.key, 0)), entry.get("value", default_value)


def _expect(field, wire_type, expected):
    if wire_type != expected:
        raise DecodeError(f"Field {field.name!r} ({field.kind}) has wire type {wire_type}, "
                          f"expected {expected}")


def decode(message, data, _depth=0):
    """The dict of a message's encoded bytes: the fields present on the wire (a repeated
    field as a list, a map as a dict); fields the schema does not know are skipped. For a
    singular field seen twice, the last value wins (sub-messages are not merged).
    Sub-messages nested deeper than MAX_DEPTH (a hostile file) raise DecodeError."""
    if _depth > MAX_DEPTH:
        raise DecodeError(f"Message {message.name!r} is nested more than {MAX_DEPTH} levels "
                          "deep")
    result = {}
    by_number = message.by_number
    for number, wire_type, raw in iter_fields(data):
        field = by_number.get(number)
        if field is None:
            continue
        value = _decode_value(field, wire_type, raw, _depth)
        if field.kind == "map":
            result.setdefault(field.name, {})[value[0]] = value[1]
        elif field.repeated:
            items = result.setdefault(field.name, [])
            if isinstance(value, list):
                items.extend(value)
            else:
                items.append(value)
        else:
            if field.oneof is not None:
                for other in message.fields.values():
                    if other.oneof == field.oneof:
                        result.pop(other.name, None)
            result[field.name] = value
    return result
