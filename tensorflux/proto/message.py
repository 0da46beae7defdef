"""Protocol buffer message classes in the style of the protobuf package's Python API, built
on a wire schema (tensorflux.proto.wire): attribute access to fields, repeated fields as
list-like containers, maps of messages with auto-creating lookup, oneofs, presence,
SerializeToString / FromString / ParseFromString, CopyFrom / MergeFrom, and the text format
that `str(message)` prints.

A subclass names its schema in SCHEMA; sub-message fields use the class registered for their
schema. Values are checked as protobuf checks them (TypeError for a wrong type, ValueError
for an integer out of range) and float fields keep float32 values. Serialization is
deterministic (map entries sorted by key, as protobuf's deterministic=True).

>>> from tensorflux.proto import wire
>>> class Point(ProtoMessage):
...     SCHEMA = wire.Message("Point", [wire.Field("x", 1, "int64", repeated=True)])
>>> p = Point(x=[1, 2])
>>> p.x.append(3)
>>> Point.FromString(p.SerializeToString()).x
[1, 2, 3]
>>> print(p, end="")
x: 1
x: 2
x: 3
"""

import math
import operator
import struct

from tensorflux.proto import wire

__all__ = ["ProtoMessage", "RepeatedCompositeContainer", "RepeatedScalarContainer",
           "MessageMap", "double_text", "float_text"]

_INT_KINDS = {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "sfixed32",
              "fixed64", "sfixed64", "enum"}
_INT_RANGES = {"int32": 32, "sint32": 32, "sfixed32": 32, "enum": 32, "int64": 64,
               "sint64": 64, "sfixed64": 64}
_UNSIGNED = {"uint32": 32, "fixed32": 32, "uint64": 64, "fixed64": 64}


# ------------------------------------------------------------------ scalar checks

def _float32(value):
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        # Beyond float32's range: protobuf stores the infinity of that sign.
        return math.copysign(math.inf, value)


def _checked(field, value):
    """`value` as field `field` stores it, or TypeError / ValueError as protobuf raises."""
    kind = field.kind
    if kind in _INT_KINDS:
        if isinstance(value, float):
            raise TypeError(f"'float' object cannot be interpreted as an integer "
                            f"(field {field.name!r}, {kind})")
        value = operator.index(value)
        if kind in _UNSIGNED:
            low, high = 0, (1 << _UNSIGNED[kind]) - 1
        else:
            bits = _INT_RANGES[kind]
            low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if not low <= value <= high:
            raise ValueError(f"Value out of range: {value} (field {field.name!r}, {kind})")
        return value
    if kind in ("float", "double"):
        if isinstance(value, (str, bytes)) or not (hasattr(value, "__float__")
                                                   or hasattr(value, "__index__")):
            raise TypeError(f"must be real number, not {type(value).__name__} "
                            f"(field {field.name!r}, {kind})")
        value = float(value)
        return _float32(value) if kind == "float" else value
    if kind == "bytes":
        if not isinstance(value, bytes):
            raise TypeError(f"expected bytes, {type(value).__name__} found "
                            f"(field {field.name!r})")
        return bytes(value)
    if kind == "string":
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"field {field.name!r} expects UTF-8 text, received "
                                 f"{value!r}") from None
        if not isinstance(value, str):
            raise TypeError(f"expected str, {type(value).__name__} found "
                            f"(field {field.name!r})")
        return value
    if kind == "bool":
        return bool(operator.index(value))
    raise TypeError(f"field {field.name!r}: unsupported kind {kind!r}")


def _default(field):
    """A proto3 scalar field's value when it is not set."""
    return {"string": "", "bytes": b"", "bool": False, "float": 0.0,
            "double": 0.0}.get(field.kind, 0)


# ------------------------------------------------------------------ containers

class RepeatedScalarContainer:
    """A repeated scalar field: a list whose items are checked as they are added."""

    __slots__ = ("_items", "_field", "_owner")

    def __init__(self, owner, field):
        self._items = []
        self._field = field
        self._owner = owner

    def _changed(self):
        self._owner._mark()

    def append(self, value):
        self._items.append(_checked(self._field, value))
        self._changed()

    def extend(self, values):
        if values is None:
            return
        self._items.extend(_checked(self._field, v) for v in values)
        self._changed()

    def insert(self, index, value):
        self._items.insert(index, _checked(self._field, value))
        self._changed()

    def pop(self, index=-1):
        return self._items.pop(index)

    def remove(self, value):
        self._items.remove(value)

    def sort(self, key=None, reverse=False):
        self._items.sort(key=key, reverse=reverse)

    def reverse(self):
        self._items.reverse()

    def index(self, value):
        return self._items.index(value)

    def count(self, value):
        return self._items.count(value)

    def MergeFrom(self, other):
        self.extend(other)

    def __setitem__(self, index, value):
        if isinstance(index, slice):
            self._items[index] = [_checked(self._field, v) for v in value]
        else:
            self._items[index] = _checked(self._field, value)
        self._changed()

    def __getitem__(self, index):
        return self._items[index]

    def __delitem__(self, index):
        del self._items[index]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __contains__(self, value):
        return value in self._items

    def __eq__(self, other):
        if isinstance(other, RepeatedScalarContainer):
            return self._items == other._items
        try:
            return self._items == list(other)
        except TypeError:
            return NotImplemented

    __hash__ = None

    def __repr__(self):
        return repr(self._items)


class RepeatedCompositeContainer:
    """A repeated message field: `add(**fields)` appends a new message; `append` and
    `extend` append copies of messages."""

    __slots__ = ("_items", "_field", "_owner")

    def __init__(self, owner, field):
        self._items = []
        self._field = field
        self._owner = owner

    def add(self, **fields):
        message = _class_of(self._field.message)(**fields)
        self._items.append(message)
        self._owner._mark()
        return message

    def append(self, message):
        self.add().CopyFrom(_as_message(self._field, message))

    def extend(self, messages):
        for message in messages:
            self.append(message)

    def pop(self, index=-1):
        return self._items.pop(index)

    def MergeFrom(self, other):
        self.extend(other)

    def __getitem__(self, index):
        return self._items[index]

    def __delitem__(self, index):
        del self._items[index]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def __eq__(self, other):
        try:
            return list(self._items) == list(other)
        except TypeError:
            return NotImplemented

    __hash__ = None

    def __repr__(self):
        return repr(self._items)


class MessageMap:
    """A map field with message values. As in protobuf, looking up a missing key inserts
    an empty message; assigning a message stores a copy of it."""

    __slots__ = ("_items", "_field", "_owner")

    def __init__(self, owner, field):
        self._items = {}
        self._field = field
        self._owner = owner

    def _key(self, key):
        return _checked(self._field.message.fields["key"], key)

    def __getitem__(self, key):
        key = self._key(key)
        message = self._items.get(key)
        if message is None:
            message = _class_of(self._field.value)()
            self._items[key] = message
            self._owner._mark()
        return message

    def get_or_create(self, key):
        return self[key]

    def __setitem__(self, key, message):
        self[key].CopyFrom(_as_message(self._field.message.fields["value"], message))

    def get(self, key, default=None):
        return self._items.get(self._key(key), default)

    def __contains__(self, key):
        return self._key(key) in self._items

    def __delitem__(self, key):
        del self._items[self._key(key)]

    def __len__(self):
        return len(self._items)

    def __iter__(self):
        return iter(self._items)

    def keys(self):
        return self._items.keys()

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()

    def clear(self):
        self._items.clear()

    def MergeFrom(self, other):
        for key, message in other.items():
            self[key] = message

    def __eq__(self, other):
        try:
            return dict(self._items) == dict(other)
        except (TypeError, ValueError):
            return NotImplemented

    __hash__ = None

    def __repr__(self):
        return repr(self._items)


# ------------------------------------------------------------------ messages

_CLASSES = {}


def _class_of(schema):
    cls = _CLASSES.get(id(schema))
    if cls is None:
        raise TypeError(f"no message class is registered for {schema.name}")
    return cls


def _as_message(field, value):
    """A message of `field`'s type from a message of that type or a dict of its fields."""
    cls = _class_of(field.message)
    if isinstance(value, dict):
        return cls(**value)
    if not isinstance(value, cls):
        raise TypeError(f"field {field.name!r} expects a {cls.__name__} message, received "
                        f"{type(value).__name__}")
    return value


class ProtoMessage:
    """The base of message classes; a subclass sets SCHEMA to its wire.Message."""

    SCHEMA = None
    __slots__ = ("_values", "_parent", "_present")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for field in cls.SCHEMA.fields.values():
            if field.kind == "map" and not isinstance(field.value, wire.Message):
                raise TypeError(f"{cls.__name__}.{field.name}: maps of scalars are not "
                                "supported")
        _CLASSES[id(cls.SCHEMA)] = cls

    def __init__(self, **fields):
        object.__setattr__(self, "_values", {})
        # _parent: (message, field name) of a sub-message not yet set in its parent.
        object.__setattr__(self, "_parent", None)
        object.__setattr__(self, "_present", True)
        for name, value in fields.items():
            if value is None:
                continue
            field = self._field(name)
            if field.kind == "message" and not field.repeated:
                getattr(self, name).CopyFrom(_as_message(field, value))
            elif field.kind == "map":
                target = getattr(self, name)
                for key, item in value.items():
                    target[key] = item
            elif field.repeated:
                getattr(self, name).extend(value)
            else:
                setattr(self, name, value)

    def _field(self, name):
        field = self.SCHEMA.fields.get(name)
        if field is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}; its fields "
                                 f"are {sorted(self.SCHEMA.fields)}")
        return field

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        field = self._field(name)
        value = self._values.get(name)
        if value is not None:
            return value
        if field.kind == "map":
            value = MessageMap(self, field)
        elif field.repeated:
            value = (RepeatedCompositeContainer(self, field) if field.kind == "message"
                     else RepeatedScalarContainer(self, field))
        elif field.kind == "message":
            value = _class_of(field.message)()
            object.__setattr__(value, "_present", False)
            object.__setattr__(value, "_parent", (self, name))
        else:
            return _default(field)
        self._values[name] = value
        return value

    def __setattr__(self, name, value):
        field = self._field(name)
        if field.kind in ("message", "map") or field.repeated:
            raise AttributeError(f'Assignment not allowed to field "{name}" in protocol '
                                 "message object (use CopyFrom, append or extend)")
        self._values[name] = _checked(field, value)
        self._set_in_parent(name)

    # -- presence
    def _mark(self):
        """Records that this message was changed: it becomes set in its parent."""
        if not self._present:
            object.__setattr__(self, "_present", True)
            parent, name = self._parent
            object.__setattr__(self, "_parent", None)
            parent._set_in_parent(name)

    def _set_in_parent(self, name):
        oneof = self.SCHEMA.fields[name].oneof
        if oneof is not None:
            for other in self.SCHEMA.fields.values():
                if other.oneof == oneof and other.name != name:
                    self._detach(other.name)
        self._mark()

    def _detach(self, name):
        value = self._values.pop(name, None)
        if isinstance(value, ProtoMessage):
            object.__setattr__(value, "_parent", None)
            object.__setattr__(value, "_present", True)

    def _is_set(self, name):
        value = self._values.get(name)
        if value is None:
            return False
        if isinstance(value, ProtoMessage):
            return value._present
        if isinstance(value, (RepeatedScalarContainer, RepeatedCompositeContainer,
                              MessageMap)):
            return len(value) > 0
        field = self.SCHEMA.fields[name]
        return field.oneof is not None or value != _default(field)

    def SetInParent(self):
        self._mark()

    def HasField(self, name):
        """Whether a message field (or a member of the oneof `name`) is set."""
        if name in self.SCHEMA.fields:
            field = self.SCHEMA.fields[name]
            if field.repeated or (field.kind != "message" and field.oneof is None):
                raise ValueError(f'Protocol message has no singular "{name}" field with '
                                 "presence")
            return self._is_set(name)
        return self.WhichOneof(name) is not None

    def WhichOneof(self, oneof_group):
        """The name of the set member of a oneof, or None."""
        members = [f for f in self.SCHEMA.fields.values() if f.oneof == oneof_group]
        if not members:
            raise ValueError(f'Protocol message has no oneof "{oneof_group}" field.')
        for field in members:
            if self._is_set(field.name):
                return field.name
        return None

    def ClearField(self, name):
        self._field(name)
        self._detach(name)

    def Clear(self):
        for name in list(self._values):
            self._detach(name)

    def ListFields(self):
        """(field schema, value) of the set fields, in field-number order."""
        return [(self.SCHEMA.by_number[n], self._values[self.SCHEMA.by_number[n].name])
                for n in sorted(self.SCHEMA.by_number)
                if self._is_set(self.SCHEMA.by_number[n].name)]

    def IsInitialized(self):
        return True

    # -- copying and merging
    def CopyFrom(self, other):
        if other is self:
            return
        if not isinstance(other, type(self)):
            raise TypeError(f"CopyFrom: expected a {type(self).__name__}, received "
                            f"{type(other).__name__}")
        self.Clear()
        self.MergeFrom(other)
        self._mark()

    def MergeFrom(self, other):
        if not isinstance(other, type(self)):
            raise TypeError(f"MergeFrom: expected a {type(self).__name__}, received "
                            f"{type(other).__name__}")
        for field, value in other.ListFields():
            if field.kind == "message" and not field.repeated:
                getattr(self, field.name).MergeFrom(value)
                self._set_in_parent(field.name)
            elif field.kind == "map" or field.repeated:
                getattr(self, field.name).MergeFrom(value)
            else:
                setattr(self, field.name, value)

    def __copy__(self):
        copy = type(self)()
        copy.MergeFrom(self)
        return copy

    def __deepcopy__(self, memo):
        return self.__copy__()

    # -- the wire format
    def _to_wire(self):
        result = {}
        for field, value in self.ListFields():
            if field.kind == "map":
                result[field.name] = {k: v._to_wire() for k, v in value.items()}
            elif field.kind == "message":
                result[field.name] = ([m._to_wire() for m in value] if field.repeated
                                      else value._to_wire())
            elif field.repeated:
                result[field.name] = list(value)
            else:
                result[field.name] = value
        return result

    def _merge_wire(self, values):
        for name, value in values.items():
            field = self.SCHEMA.fields[name]
            if field.kind == "map":
                target = getattr(self, name)
                for key, item in value.items():
                    target[key]._merge_wire(item)
            elif field.kind == "message" and field.repeated:
                target = getattr(self, name)
                for item in value:
                    target.add()._merge_wire(item)
            elif field.kind == "message":
                child = getattr(self, name)
                child._merge_wire(value)
                self._set_in_parent(name)
            elif field.repeated:
                getattr(self, name)._items.extend(value)
                self._mark()
            else:
                setattr(self, name, value)

    def SerializeToString(self, deterministic=None):
        """The message's wire bytes (always deterministic: map entries sorted by key)."""
        return wire.encode(self.SCHEMA, self._to_wire())

    def SerializePartialToString(self, deterministic=None):
        return self.SerializeToString()

    def ByteSize(self):
        return len(self.SerializeToString())

    def MergeFromString(self, data):
        """Merges the message encoded in `data`; returns the number of bytes read.
        wire.DecodeError (a ValueError) if `data` is not a valid encoding."""
        data = bytes(data)
        self._merge_wire(wire.decode(self.SCHEMA, data))
        return len(data)

    def ParseFromString(self, data):
        self.Clear()
        return self.MergeFromString(data)

    @classmethod
    def FromString(cls, data):
        message = cls()
        message.MergeFromString(data)
        return message

    # -- comparison and printing
    def __eq__(self, other):
        if not isinstance(other, ProtoMessage):
            return NotImplemented
        return type(self) is type(other) and self._to_wire() == other._to_wire()

    __hash__ = None

    def __str__(self):
        return "".join(line + "\n" for line in _text_lines(self, ""))

    __repr__ = __str__


# ------------------------------------------------------------------ the text format

def _escape(data):
    """protobuf's C escaping of bytes (and of UTF-8 text) in the text format."""
    special = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x27: "\\'", 0x5C: "\\\\"}
    out = []
    for byte in data:
        if byte in special:
            out.append(special[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _shortest(value, digits, fallback, to_same_width):
    """protobuf's SimpleFtoa / SimpleDtoa: %g with few digits unless they do not read back."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.{digits}g}"
    if to_same_width(float(text)) != value:
        text = f"{value:.{fallback}g}"
    return text


def float_text(value):
    """A float32 value as protobuf and TensorFlow print it (SimpleFtoa): '0.1', '1e+20'."""
    return _shortest(value, 6, 9, _float32)


def double_text(value):
    """A float64 value as protobuf and TensorFlow print it (SimpleDtoa)."""
    return _shortest(value, 15, 17, float)


def _scalar_text(kind, value):
    if kind == "float":
        return float_text(value)
    if kind == "double":
        return double_text(value)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "string":
        return _escape(value.encode("utf-8"))
    if kind == "bytes":
        return _escape(value)
    return str(value)


def _text_lines(message, pad):
    lines = []

    for field, value in message.ListFields():
        if field.kind == "map":
            key_kind = field.message.fields["key"].kind
            for key in sorted(value):
                inner = pad + "  "
                lines.append(f"{pad}{field.name} {{")
                lines.append(f"{inner}key: {_scalar_text(key_kind, key)}")
                lines.append(f"{inner}value {{")
                lines.extend(_text_lines(value[key], inner + "  "))
                lines.append(f"{inner}}}")
                lines.append(f"{pad}}}")
        elif field.kind == "message":
            for child in (value if field.repeated else [value]):
                lines.append(f"{pad}{field.name} {{")
                lines.extend(_text_lines(child, pad + "  "))
                lines.append(f"{pad}}}")
        else:
            for item in (value if field.repeated else [value]):
                lines.append(f"{pad}{field.name}: {_scalar_text(field.kind, item)}")
    return lines
