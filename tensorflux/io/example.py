"""Parsing serialized tf.train.Example and SequenceExample protos into tensors (tf.io's
FixedLenFeature, FixedLenSequenceFeature, VarLenFeature, parse_example,
parse_single_example, parse_sequence_example, parse_single_sequence_example).

The wire bytes are read directly (tensorflux.proto.wire), decoding only the requested
features: packed floats as one NumPy view, packed int64 varints in one vectorized pass.
Results follow TensorFlow: the dict holds the VarLenFeatures first, then the dense features,
each group sorted by key; dtypes are float32, int64 or string; errors are
InvalidArgumentError naming the key.

A VarLenFeature comes back as a tf.SparseTensor (int64 indices, the values, int64
dense_shape), as in TensorFlow: tf.sparse.to_dense densifies it, and it passes through
Dataset.map and tf.function like any other element.

Eagerly the parse runs at once; on symbolic input (inside tf.function, or while
Dataset.map traces its function) it becomes a host call with the static shapes TF gives.

>>> import tensorflux as tf
>>> example = tf.train.Example(features=tf.train.Features(feature={
...     "x": tf.train.Feature(int64_list=tf.train.Int64List(value=[1, 2]))}))
>>> parsed = tf.io.parse_single_example(example.SerializeToString(),
...                                     {"x": tf.io.FixedLenFeature([2], tf.int64)})
>>> parsed["x"].numpy().tolist()
[1, 2]
"""

import collections
import math

import numpy as np

from tensorflux import dtypes, errors
from tensorflux.io import _host
from tensorflux.proto import wire
from tensorflux.sparse import SparseTensor

__all__ = ["FixedLenFeature", "FixedLenSequenceFeature", "RaggedFeature", "SparseFeature",
           "VarLenFeature", "parse_example",
           "parse_sequence_example", "parse_single_example", "parse_single_sequence_example"]

FixedLenFeature = collections.namedtuple("FixedLenFeature",
                                         ["shape", "dtype", "default_value"],
                                         defaults=[None])
FixedLenFeature.__doc__ = (
    "A feature with a fixed number of values, parsed to a dense tensor of `shape`; "
    "`default_value` (of that many values) is used where an example lacks the feature.")
FixedLenSequenceFeature = collections.namedtuple(
    "FixedLenSequenceFeature", ["shape", "dtype", "allow_missing", "default_value"],
    defaults=[False, None])
FixedLenSequenceFeature.__doc__ = (
    "A feature holding any number of `shape`-shaped items, parsed to [items, *shape]; "
    "batches are padded with `default_value` (a scalar, 0 or b'' by default).")
VarLenFeature = collections.namedtuple("VarLenFeature", ["dtype"])
VarLenFeature.__doc__ = "A feature with any number of values, parsed to a SparseTensor."
SparseFeature = collections.namedtuple(
    "SparseFeature", ["index_key", "value_key", "dtype", "size", "already_sorted"],
    defaults=[False])
SparseFeature.__doc__ = (
    "A sparse tensor of dense shape `size` stored as features: its values under "
    "`value_key` and, per dimension, their int64 indices under the keys of `index_key` "
    "(one key for a 1-D `size`). Parsed to a SparseTensor [batch, *size] by parse_example, "
    "its entries sorted by index unless already_sorted.")
RaggedFeature = collections.namedtuple(
    "RaggedFeature", ["dtype", "value_key", "partitions", "row_splits_dtype", "validate"],
    defaults=[None, (), dtypes.int32, False])
RaggedFeature.__doc__ = (
    "A feature with any number of values (read from `value_key`, the dict key by default), "
    "parsed to a RaggedTensor [batch, None] by parse_example and to a 1-D tensor by "
    "parse_single_example. Partitions are not supported.")

# The Feature oneof's field numbers (feature.proto), by dtype; TF's names in messages.
_KINDS = {"string": 1, "float32": 2, "int64": 3}
_KIND_NAMES = {1: "string", 2: "float", 3: "int64"}
_NUMPY = {"string": object, "float32": np.float32, "int64": np.int64}
_LENGTH, _VARINT, _FIXED32 = wire.LENGTH, wire.VARINT, wire.FIXED32


# ------------------------------------------------------------------ feature configurations

class _Spec:
    """One requested feature: its key, dtype, item shape and (padding) default."""

    def __init__(self, op, key, feature):
        self.key = key
        self.feature = feature
        self.sparse = isinstance(feature, VarLenFeature)
        self.sequence = isinstance(feature, FixedLenSequenceFeature)
        self.dtype = dtypes.as_dtype(feature.dtype)
        if self.dtype.name not in _KINDS:
            raise errors.InvalidArgumentError(
                f"{op}: feature {key!r} has dtype {self.dtype.name}; Example features are "
                "float32, int64 or string", op)
        self.kind = _KINDS[self.dtype.name]
        self.numpy_dtype = _NUMPY[self.dtype.name]
        self.shape = ()
        self.default = None
        if self.sparse:
            return
        if feature.shape is None or any(d is None for d in _dims(feature.shape)):
            raise ValueError(f"Missing shape for feature {key}. Received feature={feature}.")
        self.shape = tuple(int(d) for d in _dims(feature.shape))
        self.size = math.prod(self.shape)
        if feature.default_value is not None:
            default = _host_array(feature.default_value, self.numpy_dtype)
            if self.sequence:
                if default.size != 1:
                    raise ValueError(f"{op}: the default_value of FixedLenSequenceFeature "
                                     f"{key!r} pads batches and must be a scalar, received "
                                     f"shape {default.shape}")
                self.default = default.reshape(())
            elif default.size != self.size:
                raise errors.InvalidArgumentError(
                    f"{op}: feature {key!r} has shape {list(self.shape)} ({self.size} values) "
                    f"but its default_value has {default.size}", op)
            else:
                self.default = default.reshape(self.shape)

    def padding(self):
        if self.default is not None:
            return self.default
        return np.array(b"" if self.kind == 1 else 0, dtype=self.numpy_dtype)


def _dims(shape):
    if hasattr(shape, "as_list"):
        return shape.as_list()
    return [shape] if isinstance(shape, int) else list(shape)


def _host_array(value, numpy_dtype):
    if hasattr(value, "numpy"):
        value = value.numpy()
    if numpy_dtype is object:
        flat = np.asarray(value, dtype=object)
        return np.vectorize(_as_bytes, otypes=[object])(flat) if flat.size else flat
    return np.asarray(value, dtype=numpy_dtype)


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _specs(op, features, allowed, what):
    """The (sparse, dense) _Specs of a features dict, each sorted by key."""
    if features is None:
        return [], []
    if not isinstance(features, dict):
        raise TypeError(f"{op}: {what} must be a dict of feature configurations, received "
                        f"{type(features).__name__}")
    specs = []
    for key in sorted(features):
        feature = features[key]
        if not isinstance(feature, allowed):
            names = ", ".join(kind.__name__ for kind in allowed)
            raise ValueError(f"{op}: unsupported {type(feature).__name__} {feature} for key "
                             f"{key!r} in {what} (expected {names})")
        if (isinstance(feature, FixedLenSequenceFeature) and what == "features"
                and not feature.allow_missing):
            raise ValueError("Unsupported: FixedLenSequenceFeature requires allow_missing "
                             "to be True.")
        specs.append(_Spec(op, key, feature))
    return [s for s in specs if s.sparse], [s for s in specs if not s.sparse]


# ------------------------------------------------------------------ reading the wire

def _fields(data):
    """(number, wire type, raw) of each field; DecodeError on damage."""
    return wire.iter_fields(data)


def _features(payload, into):
    """The entries of a Features message into a dict: key -> (kind, list payload)."""
    for number, wire_type, entry in _fields(payload):
        if number != 1 or wire_type != _LENGTH:
            continue
        key, feature = b"", b""
        for inner, inner_type, raw in _fields(entry):
            if inner_type == _LENGTH and inner == 1:
                key = raw
            elif inner_type == _LENGTH and inner == 2:
                feature = raw
        into[key.decode("utf-8", "replace")] = _feature(feature)
    return into


def _feature(payload):
    """(kind, payload of its list) of a Feature message; kind 0 when none is set."""
    kind, values = 0, b""
    for number, wire_type, raw in _fields(payload):
        if wire_type == _LENGTH and number in (1, 2, 3):
            kind, values = number, raw
    return kind, values


def _example(data):
    found = {}
    for number, wire_type, raw in _fields(data):
        if number == 1 and wire_type == _LENGTH:
            _features(raw, found)
    return found


def _sequence_example(data):
    """(context features, feature lists: key -> [(kind, payload) per step])."""
    context, lists = {}, {}
    for number, wire_type, raw in _fields(data):
        if wire_type != _LENGTH:
            continue
        if number == 1:
            _features(raw, context)
        elif number == 2:
            for entry_number, entry_type, entry in _fields(raw):
                if entry_number != 1 or entry_type != _LENGTH:
                    continue
                key, steps = b"", []
                for inner, inner_type, value in _fields(entry):
                    if inner_type == _LENGTH and inner == 1:
                        key = value
                    elif inner_type == _LENGTH and inner == 2:
                        steps = [_feature(step) for n, t, step in _fields(value)
                                 if n == 1 and t == _LENGTH]
                lists[key.decode("utf-8", "replace")] = steps
    return context, lists


def _varints(raw):
    """The packed varints of `raw` as int64, in one vectorized pass."""
    data = np.frombuffer(raw, dtype=np.uint8)
    ends = np.flatnonzero(data < 0x80)
    if data.size and (not ends.size or ends[-1] != data.size - 1):
        raise wire.DecodeError("Truncated varint")
    starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
    lengths = ends - starts + 1
    if lengths.size and lengths.max() > 10:
        raise wire.DecodeError("Varint longer than 10 bytes")
    shifts = (np.arange(data.size) - np.repeat(starts, lengths)) * 7
    parts = (data & 0x7F).astype(np.uint64) << shifts.astype(np.uint64)
    if not parts.size:
        return np.zeros(0, dtype=np.int64)
    return np.bitwise_or.reduceat(parts, starts).view(np.int64)


def _values(kind, payload):
    """The values of a BytesList / FloatList / Int64List payload, as a 1-D array."""
    pieces = []
    for number, wire_type, raw in _fields(payload):
        if number != 1:
            continue
        if kind == 1 and wire_type == _LENGTH:
            pieces.append(raw)
        elif kind == 2 and wire_type in (_LENGTH, _FIXED32):
            if len(raw) % 4:
                raise wire.DecodeError("packed floats of a length not a multiple of 4")
            pieces.append(np.frombuffer(raw, dtype="<f4"))
        elif kind == 3 and wire_type == _LENGTH:
            pieces.append(_varints(raw))
        elif kind == 3 and wire_type == _VARINT:
            pieces.append(np.array([raw], dtype=np.uint64).view(np.int64))
        else:
            raise wire.DecodeError(f"field 1 of a {_KIND_NAMES[kind]} list has wire type "
                                   f"{wire_type}")
    if kind == 1:
        out = np.empty(len(pieces), dtype=object)
        out[:] = pieces
        return out
    if not pieces:
        return np.zeros(0, dtype=_NUMPY["float32" if kind == 2 else "int64"])
    return np.concatenate(pieces).astype(np.float32 if kind == 2 else np.int64)


def _typed(spec, kind, payload, where):
    """The values of a found feature for `spec`; empty for a Feature with no list."""
    if kind == 0:
        return np.zeros(0, dtype=spec.numpy_dtype)
    if kind != spec.kind:
        raise errors.InvalidArgumentError(
            f"{where}Key: {spec.key}.  Data types don't match. Data type: "
            f"{_KIND_NAMES[kind]} but expected type: {_KIND_NAMES[spec.kind]}")
    try:
        return _values(kind, payload)
    except wire.DecodeError as error:
        raise errors.InvalidArgumentError(
            f"{where}Key: {spec.key}.  Can't parse serialized Example: {error}") from None


def _where(names, index):
    name = "<unknown>" if names is None else names[index]
    return f"Name: {name}, "


# ------------------------------------------------------------------ dense and sparse results

def _fixed(spec, found, where):
    kind, payload = found.get(spec.key, (0, b""))
    if kind == 0:
        if spec.default is None:
            raise errors.InvalidArgumentError(
                f"{where}Feature: {spec.key} (data type: {_KIND_NAMES[spec.kind]}) is "
                "required but could not be found.")
        return spec.default
    values = _typed(spec, kind, payload, where)
    if values.size != spec.size:
        raise errors.InvalidArgumentError(
            f"{where}Key: {spec.key}.  Number of {_KIND_NAMES[spec.kind]} values != expected."
            f"  Values size: {values.size} but output shape: {list(spec.shape)}")
    return values.reshape(spec.shape)


def _items(spec, values, where):
    """Values reshaped to [items, *shape] for a FixedLenSequenceFeature."""
    if spec.size == 0:
        return values.reshape((0,) + spec.shape)
    if values.size % spec.size:
        raise errors.InvalidArgumentError(
            f"{where}Key: {spec.key}.  Number of {_KIND_NAMES[spec.kind]} values is not a "
            f"multiple of {spec.size}, the size of the item shape {list(spec.shape)}.  "
            f"Values size: {values.size}")
    return values.reshape((-1,) + spec.shape)


def _padded(spec, rows):
    """Arrays of shape [n_i, *inner] stacked into [len(rows), max n_i, *inner], padded."""
    longest = max((row.shape[0] for row in rows), default=0)
    inner = rows[0].shape[1:] if rows else spec.shape
    out = np.empty((len(rows), longest) + inner, dtype=spec.numpy_dtype)
    out[...] = spec.padding()
    for index, row in enumerate(rows):
        out[index, :row.shape[0]] = row
    return out


def _sparse(spec, rows):
    """SparseTensor parts of a list of 1-D value arrays (the rows of a batch, or the
    steps of one sequence): indices [n, 2], values, dense shape [rows, longest row]."""
    lengths = [row.shape[0] for row in rows]
    values = (np.concatenate(rows) if rows else np.zeros(0)).astype(spec.numpy_dtype)
    row_ids = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    starts = np.cumsum(lengths, dtype=np.int64) - np.asarray(lengths, dtype=np.int64)
    positions = np.arange(values.shape[0], dtype=np.int64) - np.repeat(starts, lengths)
    return np.stack([row_ids, positions], axis=1), values, [len(rows), max(lengths, default=0)]


def _single_sparse(spec, values):
    count = values.shape[0]
    return [np.arange(count, dtype=np.int64).reshape(count, 1), values,
            np.array([count], dtype=np.int64)]


# ------------------------------------------------------------------ running eagerly or traced

def _outputs(sparse, dense, rank, batched_by):
    """The flat outputs of sparse specs (indices, values, dense shape) then dense specs,
    whose shapes follow `batched_by`'s (the serialized input) when batched."""
    out = []
    for spec in sparse:
        out += [_host.Output(dtypes.int64, [-1, rank]), _host.Output(spec.dtype, [-1]),
                _host.Output(dtypes.int64, [rank])]
    for spec in dense:
        dims = ([-1] if spec.sequence else []) + list(spec.shape)
        out.append(_host.Output(spec.dtype, dims, batched_by))
    return out


def _serialized_list(value):
    """A host value of serialized protos (bytes or an object array) as (list, shape)."""
    if isinstance(value, (bytes, str)):
        return [_as_bytes(value)], ()
    array = np.asarray(value, dtype=object)
    return [_as_bytes(v) for v in array.reshape(-1).tolist()], array.shape


def _run(serialized, outputs, host):
    """Runs host(list of serialized protos, their shape) -> flat arrays as a tf.io op."""
    return _host.run([serialized], lambda value: host(*_serialized_list(value)), outputs)


def _pack(sparse, dense, flat):
    """The result dict: sparse specs as SparseTensor, then dense specs."""
    result = {}
    flat = iter(flat)
    for spec in sparse:
        result[spec.key] = SparseTensor(next(flat), next(flat), next(flat))
    for spec in dense:
        result[spec.key] = next(flat)
    return result


def _decode(op, parse, data, index):
    try:
        return parse(data)
    except (wire.DecodeError, UnicodeDecodeError) as error:
        raise errors.InvalidArgumentError(
            f"{op}: could not parse serialized proto {index} ({error})", op) from None


def _decoded(op, records):
    return [_decode(op, _example, data, index) for index, data in enumerate(records)]


# ------------------------------------------------------------------ Example

def _parse_features(sparse, dense, found, names, batched):
    """Flat arrays for the decoded features of a list of Examples (of one, unbatched, when
    not `batched`)."""
    flat = []
    for spec in sparse:
        rows = [_typed(spec, *f.get(spec.key, (0, b"")), _where(names, i))
                for i, f in enumerate(found)]
        if batched:
            indices, values, shape = _sparse(spec, rows)
            flat += [indices, values, np.array(shape, dtype=np.int64)]
        else:
            flat += _single_sparse(spec, rows[0])
    for spec in dense:
        if spec.sequence:
            rows = [_items(spec, _typed(spec, *f.get(spec.key, (0, b"")), _where(names, i)),
                           _where(names, i)) for i, f in enumerate(found)]
            flat.append(_padded(spec, rows) if batched else rows[0])
        else:
            rows = [_fixed(spec, f, _where(names, i)) for i, f in enumerate(found)]
            if batched:
                stacked = np.empty((len(rows),) + spec.shape, dtype=spec.numpy_dtype)
                for index, row in enumerate(rows):
                    stacked[index, ...] = row  # (a 0-d string row: its bytes, not the array)
                flat.append(stacked)
            else:
                flat.append(rows[0])
    return flat


def _names(example_names):
    if example_names is None:
        return None
    if hasattr(example_names, "numpy"):
        example_names = example_names.numpy()
    names = np.asarray(example_names, dtype=object).reshape(-1).tolist()
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]


def _without_ragged(op, features):
    """`features` with each RaggedFeature read as a VarLenFeature of its value key, and the
    RaggedFeatures by their keys (to rebuild the results)."""
    if not isinstance(features, dict) or not any(
            isinstance(f, RaggedFeature) for f in features.values()):
        return features, {}
    plain = {k: f for k, f in features.items() if not isinstance(f, RaggedFeature)}
    ragged = {k: f for k, f in features.items() if isinstance(f, RaggedFeature)}
    for key, feature in ragged.items():
        if feature.partitions:
            raise NotImplementedError(
                f"{op}: RaggedFeature {key!r} has partitions, which tensorflux does not "
                "parse; read the values and their row lengths as two VarLenFeatures and "
                "build the RaggedTensor with tf.RaggedTensor.from_nested_row_lengths")
        source = feature.value_key or key
        if source in plain:
            raise ValueError(f"{op}: RaggedFeature {key!r} reads {source!r}, which is also "
                             "requested as another feature")
        plain[source] = VarLenFeature(feature.dtype)
    return plain, ragged


def _as_ragged(results, ragged, batched):
    """parse results with each RaggedFeature's SparseTensor made a RaggedTensor (a batch) or
    its values (one example), under the RaggedFeature's own key."""
    from tensorflux.ragged.ragged_tensor import RaggedTensor

    results = dict(results)
    parsed = {key: results.pop(feature.value_key or key) for key, feature in ragged.items()}
    for key, feature in ragged.items():
        values = parsed[key]
        results[key] = RaggedTensor.from_sparse(
            values, row_splits_dtype=feature.row_splits_dtype) if batched else values.values
    return results


def _sparse_feature_keys(op, key, feature):
    """(index keys, size) of a SparseFeature, checked."""
    index_keys = ([feature.index_key] if isinstance(feature.index_key, str)
                  else list(feature.index_key))
    size = [feature.size] if isinstance(feature.size, int) else list(feature.size)
    if not index_keys or len(index_keys) != len(size) or not all(
            isinstance(k, str) for k in index_keys) or not all(
            isinstance(d, int) and d >= 0 for d in size):
        raise ValueError(f"{op}: SparseFeature {key!r} needs one index key per dimension of "
                         f"size, received index_key={feature.index_key!r} and "
                         f"size={feature.size!r}")
    return index_keys, size


def _without_sparse_features(op, features):
    """`features` with each SparseFeature read as VarLenFeatures of its index and value
    keys, and the SparseFeatures by their keys (to build their results)."""
    if not isinstance(features, dict) or not any(
            isinstance(f, SparseFeature) for f in features.values()):
        return features, {}
    plain = {k: f for k, f in features.items() if not isinstance(f, SparseFeature)}
    wanted = {}
    for key, feature in features.items():
        if not isinstance(feature, SparseFeature):
            continue
        index_keys, _ = _sparse_feature_keys(op, key, feature)
        for part, dtype in [(k, dtypes.int64) for k in index_keys] + [
                (feature.value_key, dtypes.as_dtype(feature.dtype))]:
            need = VarLenFeature(dtype)
            have = plain.get(part, wanted.get(part))
            if have is not None and (not isinstance(have, VarLenFeature)
                                     or dtypes.as_dtype(have.dtype) is not dtype):
                raise ValueError(f"{op}: SparseFeature {key!r} reads {part!r} as "
                                 f"{dtype.name} values, which is also requested as {have}")
            wanted[part] = need
    helpers = {k: f for k, f in wanted.items() if k not in plain}
    sparse_features = {k: f for k, f in features.items() if isinstance(f, SparseFeature)}
    return {**plain, **helpers}, (sparse_features, set(helpers))


def _as_sparse_features(op, results, sparse_features, batched):
    """parse results with each SparseFeature's SparseTensor built from its parts (and the
    parts no one asked for dropped)."""
    from tensorflux import sparse as tf_sparse
    from tensorflux.ops import array
    from tensorflux.sparse.sparse_tensor import host_value
    from tensorflux.tensor import convert_to_tensor

    features, helpers = sparse_features
    results = dict(results)
    built = {}
    for key, feature in features.items():
        index_keys, size = _sparse_feature_keys(op, key, feature)
        values = results[feature.value_key]
        parts = [results[k] for k in index_keys]
        for index_key, part in zip(index_keys, parts):
            # (each example must hold as many indices as values; known eagerly)
            found, expected = host_value(part.indices), host_value(values.indices)
            if found is not None and expected is not None and not (
                    found.shape == expected.shape and bool((found == expected).all())):
                raise ValueError(
                    f"{op}: SparseFeature {key!r}: the examples' numbers of indices under "
                    f"{index_key!r} and of values under {feature.value_key!r} are not "
                    f"compatible")
        columns = [part.values for part in parts]
        if batched:
            columns = [values.indices[:, :1]] + [array.expand_dims(c, 1) for c in columns]
            shape = array.concat([values.dense_shape[:1],
                                  convert_to_tensor(size, dtype=dtypes.int64)], 0)
        else:
            columns = [array.expand_dims(c, 1) for c in columns]
            shape = convert_to_tensor(size, dtype=dtypes.int64)
        result = SparseTensor(array.concat(columns, 1), values.values, shape)
        built[key] = result if feature.already_sorted else tf_sparse.reorder(result)
    for helper in helpers:
        results.pop(helper, None)
    results.update(built)
    return results


def parse_example(serialized, features, example_names=None, name=None):
    """Parses a vector of serialized Examples into a dict of batched tensors.

    FixedLenFeature -> [batch, *shape]; FixedLenSequenceFeature (allow_missing=True) ->
    [batch, longest, *shape], padded with its default_value; VarLenFeature ->
    SparseTensor with indices [n, 2] and dense_shape [batch, longest]. A scalar
    `serialized` parses as parse_single_example does.

    >>> import tensorflux as tf
    >>> rows = [tf.train.Example(features=tf.train.Features(feature={"x": tf.train.Feature(
    ...     float_list=tf.train.FloatList(value=[v]))})).SerializeToString() for v in (1, 2)]
    >>> tf.io.parse_example(rows, {"x": tf.io.FixedLenFeature([], tf.float32)})["x"].numpy()
    array([1., 2.], dtype=float32)
    """
    op = "parse_example"
    features, sparse_features = _without_sparse_features(op, features)
    if sparse_features:
        batched = _host.operand(op, serialized, dtypes.string).shape.rank != 0
        return _as_sparse_features(op, parse_example(serialized, features, example_names),
                                   sparse_features, batched)
    features, ragged = _without_ragged(op, features)
    if ragged:
        return _as_ragged(parse_example(serialized, features, example_names, name), ragged,
                          batched=_host.operand(op, serialized, dtypes.string).shape.rank != 0)
    sparse, dense = _specs(op, features, (FixedLenFeature, FixedLenSequenceFeature,
                                          VarLenFeature), "features")
    names = _names(example_names)
    serialized = _host.operand(op, serialized, dtypes.string)
    rank = serialized.shape.rank
    if rank == 0:
        return parse_single_example(serialized, features, example_names, name)
    if rank is not None and rank != 1:
        raise errors.InvalidArgumentError(
            f"Expected serialized to be a scalar or vector, got rank {rank}", op)

    def host(records, shape):
        if len(shape) != 1:
            raise errors.InvalidArgumentError(
                f"Expected serialized to be a scalar or vector, got shape: {list(shape)}", op)
        return _parse_features(sparse, dense, _decoded(op, records), names, True)

    flat = _run(serialized, _outputs(sparse, dense, 2, serialized), host)
    return _pack(sparse, dense, flat)


def parse_single_example(serialized, features, example_names=None, name=None):
    """Parses one serialized Example (a scalar string) into a dict of tensors:
    FixedLenFeature -> `shape`; FixedLenSequenceFeature (allow_missing=True) ->
    [items, *shape]; VarLenFeature -> SparseTensor (indices [n, 1], values [n],
    dense_shape [n])."""
    op = "parse_single_example"
    features, sparse_features = _without_sparse_features(op, features)
    if sparse_features:
        return _as_sparse_features(
            op, parse_single_example(serialized, features, example_names), sparse_features,
            batched=False)
    features, ragged = _without_ragged(op, features)
    if ragged:
        return _as_ragged(parse_single_example(serialized, features, example_names, name),
                          ragged, batched=False)
    sparse, dense = _specs(op, features, (FixedLenFeature, FixedLenSequenceFeature,
                                          VarLenFeature), "features")
    names = _names(example_names)

    def host(records, shape):
        if shape != ():
            raise errors.InvalidArgumentError(
                f"{op}: serialized must be a scalar, received shape {list(shape)}", op)
        return _parse_features(sparse, dense, _decoded(op, records), names, False)

    flat = _run(_host.operand(op, serialized, dtypes.string),
                _outputs(sparse, dense, 1, None), host)
    return _pack(sparse, dense, flat)


# ------------------------------------------------------------------ SequenceExample

def _steps(spec, steps, where):
    """A sequence feature's values per step, type-checked."""
    rows = []
    for kind, payload in steps:
        if kind == 0 and not spec.sparse:
            raise errors.InvalidArgumentError(
                f"{where}Feature list: {spec.key}: a step has no value list; each step of a "
                f"FixedLenSequenceFeature needs {spec.size} {_KIND_NAMES[spec.kind]} values")
        rows.append(_typed(spec, kind, payload, where))
    return rows


def _sequence_dense(spec, steps, where):
    if steps is None:
        if not spec.feature.allow_missing:
            raise errors.InvalidArgumentError(
                f"{where}Feature list '{spec.key}' is required but could not be found.  Did "
                "you mean to include it in feature_list_dense_missing_assumed_empty or "
                "feature_list_dense_defaults?")
        return np.zeros((0,) + spec.shape, dtype=spec.numpy_dtype)
    out = np.empty((len(steps),) + spec.shape, dtype=spec.numpy_dtype)
    for index, values in enumerate(_steps(spec, steps, where)):
        if values.size != spec.size:
            raise errors.InvalidArgumentError(
                f"{where}Key: {spec.key}, Index: {index}.  Number of "
                f"{_KIND_NAMES[spec.kind]} values != expected.  values size: {values.size} "
                f"but output shape: {list(spec.shape)}")
        out[index] = values.reshape(spec.shape)
    return out


def _parse_sequences(op, specs, records, names, batched):
    context_sparse, context_dense, seq_sparse, seq_dense = specs
    parsed = [_decode(op, _sequence_example, data, i) for i, data in enumerate(records)]
    contexts = [p[0] for p in parsed]
    lists = [p[1] for p in parsed]
    flat = _parse_features(context_sparse, context_dense, contexts, names, batched)
    for spec in seq_sparse:
        per_record = [_steps(spec, found.get(spec.key, []), _where(names, i))
                      for i, found in enumerate(lists)]
        if not batched:
            indices, values, shape = _sparse(spec, per_record[0])
            flat += [indices, values, np.array(shape, dtype=np.int64)]
            continue
        # Three levels: record, step, value.
        steps_longest = max((len(r) for r in per_record), default=0)
        values_longest = max((len(v) for r in per_record for v in r), default=0)
        indices, values = [], []
        for record, rows in enumerate(per_record):
            part, part_values, _ = _sparse(spec, rows)
            indices.append(np.concatenate(
                [np.full((part.shape[0], 1), record, dtype=np.int64), part], axis=1))
            values.append(part_values)
        flat += [np.concatenate(indices) if indices else np.zeros((0, 3), np.int64),
                 (np.concatenate(values) if values else np.zeros(0)).astype(spec.numpy_dtype),
                 np.array([len(per_record), steps_longest, values_longest], dtype=np.int64)]
    lengths = []
    for spec in seq_dense:
        rows = [_sequence_dense(spec, found.get(spec.key), _where(names, i))
                for i, found in enumerate(lists)]
        flat.append(_padded(spec, rows) if batched else rows[0])
        lengths.append(np.array([row.shape[0] for row in rows], dtype=np.int64))
    return flat + (lengths if batched else [])


def _sequence_specs(op, context_features, sequence_features):
    if context_features is None and sequence_features is None:
        raise ValueError("Both context_features and sequence_features are None, but at "
                         "least one should have values.")
    context = _specs(op, context_features, (FixedLenFeature, VarLenFeature),
                     "context_features")
    sequence = _specs(op, sequence_features, (FixedLenSequenceFeature, VarLenFeature),
                      "sequence_features")
    return context + sequence


def parse_single_sequence_example(serialized, context_features=None, sequence_features=None,
                                  example_name=None, name=None):
    """Parses one serialized SequenceExample into (context dict, sequence dict).

    Context features are FixedLenFeature / VarLenFeature, parsed as parse_single_example
    does; sequence features are FixedLenSequenceFeature -> [steps, *shape] (a missing
    feature list is an error unless allow_missing) or VarLenFeature -> SparseTensor
    with indices [n, 2] (step, position) and dense_shape [steps, longest step]."""
    op = "parse_single_sequence_example"
    specs = _sequence_specs(op, context_features, sequence_features)
    names = _names(example_name)

    def host(records, shape):
        if shape != ():
            raise errors.InvalidArgumentError(
                f"{op}: serialized must be a scalar, received shape {list(shape)}", op)
        return _parse_sequences(op, specs, records, names, False)

    context_sparse, context_dense, seq_sparse, seq_dense = specs
    outputs = (_outputs(context_sparse, context_dense, 1, None)
               + _outputs(seq_sparse, [], 2, None) + _outputs([], seq_dense, 1, None))
    flat = iter(_run(_host.operand(op, serialized, dtypes.string), outputs, host))
    context = _pack(context_sparse, context_dense, flat)
    return context, _pack(seq_sparse, seq_dense, flat)


def parse_sequence_example(serialized, context_features=None, sequence_features=None,
                           example_names=None, name=None):
    """Parses a vector of serialized SequenceExamples into (context dict, sequence dict,
    lengths dict): dense sequence features are [batch, longest, *shape], padded with their
    default_value, and `lengths` holds each one's step counts [batch]; sparse sequence
    features have indices [n, 3] and dense_shape [batch, steps, longest step]."""
    op = "parse_sequence_example"
    specs = _sequence_specs(op, context_features, sequence_features)
    names = _names(example_names)
    serialized = _host.operand(op, serialized, dtypes.string)
    rank = serialized.shape.rank
    if rank is not None and rank != 1:
        raise errors.InvalidArgumentError(
            f"{op}: serialized must be a vector, received rank {rank}", op)

    def host(records, shape):
        if len(shape) != 1:
            raise errors.InvalidArgumentError(
                f"{op}: serialized must be a vector, received shape {list(shape)}", op)
        return _parse_sequences(op, specs, records, names, True)

    context_sparse, context_dense, seq_sparse, seq_dense = specs
    outputs = (_outputs(context_sparse, context_dense, 2, serialized)
               + _outputs(seq_sparse, [], 3, serialized) + _outputs([], seq_dense, 2, serialized)
               + [_host.Output(dtypes.int64, [], serialized) for _ in seq_dense])
    flat = iter(_run(serialized, outputs, host))
    context = _pack(context_sparse, context_dense, flat)
    sequences = _pack(seq_sparse, seq_dense, flat)
    return context, sequences, {spec.key: next(flat) for spec in seq_dense}
