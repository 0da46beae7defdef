"""The tf.ragged ops, and the RaggedTensor handlers of the dense ops TensorFlow dispatches
(reductions, concat, elementwise math): all built from ordinary ops on the flat values and
the row partitions, so gradients reach the flat values."""

import builtins

import tensorflux as tf
from tensorflux import dtypes, errors
from tensorflux.composite_tensor import swap_composites
from tensorflux.ops import composite, math_extra
from tensorflux.ops._core import normalize_axis
from tensorflux.ragged.indexing import gather_rows
from tensorflux.ragged.ragged_tensor import (
    RaggedTensor,
    _partition,
    _positions,
    _ragged,
    _rowids,
    _splits_dtype,
)
from tensorflux.sparse.sparse_tensor import SparseTensor, as_sparse, host_value
from tensorflux.tensor import _TensorLike
from tensorflux.tensor_shape import TensorShape

__all__ = ["constant", "cross", "cross_hashed", "map_flat_values", "range", "boolean_mask", "stack",
           "row_splits_to_segment_ids", "segment_ids_to_row_splits", "stack_dynamic_partitions"]


# ------------------------------------------------------------------ tf.ragged.constant

def _depths(value, depth, found):
    """Collects the nesting depth of every scalar (and, as depth + 1, of empty lists)."""
    if hasattr(value, "tolist") and not isinstance(value, _TensorLike):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if not value:
            found.add(("empty", depth + 1))
        for item in value:
            _depths(item, depth + 1, found)
    else:
        found.add(("scalar", depth))


def _split_levels(value, ragged_rank):
    """(row lengths per ragged level, the items at depth ragged_rank)."""
    levels, items = [], list(value)
    for _ in builtins.range(ragged_rank):
        levels.append([len(item) for item in items])
        items = [child for item in items for child in item]
    return levels, items


def constant(pylist, dtype=None, ragged_rank=None, inner_shape=None, name=None,
             row_splits_dtype=dtypes.int64):
    """A RaggedTensor from nested Python lists (a Tensor when ragged_rank is 0).

    ragged_rank defaults to the scalars' nesting depth - 1 - len(inner_shape); the lists
    below the ragged dimensions must be rectangular (of shape inner_shape when given).

    >>> import tensorflux as tf
    >>> rt = tf.ragged.constant([[1, 2], [3]])
    >>> rt.to_list(), rt.dtype, rt.ragged_rank
    ([[1, 2], [3]], tf.int32, 1)
    """
    op = "ragged.constant"
    splits_dtype = _splits_dtype(row_splits_dtype)
    if hasattr(pylist, "tolist") and not isinstance(pylist, _TensorLike):
        pylist = pylist.tolist()
    if not isinstance(pylist, (list, tuple)):
        return tf.constant(pylist, dtype=dtype)
    found = set()
    _depths(pylist, 0, found)
    scalar_depths = {d for kind, d in found if kind == "scalar"}
    if len(scalar_depths) > 1:
        raise ValueError(f"{op}: all scalar values must have the same nesting depth, found "
                         f"depths {sorted(scalar_depths)}")
    inner = None if inner_shape is None else [int(d) for d in inner_shape]
    if scalar_depths:
        depth = scalar_depths.pop()
    else:  # only empty lists: their entries would be the scalars (or inner_shape values)
        depth = max(d for _, d in found) + (len(inner) if inner else 0)
    if ragged_rank is None:
        ragged_rank = max(0, depth - 1 - (len(inner) if inner else 0))
    if not 0 <= ragged_rank < max(depth, 1):
        raise ValueError(f"{op}: ragged_rank={ragged_rank} needs scalars nested deeper than "
                         f"{ragged_rank} lists, but pylist's scalars are at depth {depth}")
    if ragged_rank == 0:  # one dense tensor, of shape inner_shape when given (as TF's)
        tensor = tf.constant(pylist, dtype=dtype)
        if inner is None or tensor.shape.as_list() == inner:
            return tensor
        count = 1
        for size in inner:
            count *= size
        if tensor.shape.num_elements() != count:
            raise TypeError(
                f"{op}: with ragged_rank 0, pylist is one tensor of shape inner_shape="
                f"{tuple(inner)} ({count} values), received shape "
                f"{tuple(tensor.shape.as_list())} ({tensor.shape.num_elements()} values)")
        return tf.reshape(tensor, inner)
    levels, items = _split_levels(pylist, ragged_rank)
    if items:
        try:
            flat = tf.constant(items, dtype=dtype)
        except ValueError as error:
            raise ValueError(f"{op}: the values inside the ragged dimensions (lists at depth "
                             f"{ragged_rank + 1}) must all have one shape: {error}") from error
        if inner is not None and flat.shape.as_list()[1:] != inner:
            raise ValueError(f"{op}: the inner values have shape {flat.shape.as_list()[1:]}, "
                             f"expected inner_shape {inner}")
    else:
        shape = [0] + (inner if inner is not None else [])
        flat = tf.zeros(shape, dtype=dtype or dtypes.float32)
    lengths = [tf.constant(level, dtype=splits_dtype) for level in levels]
    return RaggedTensor.from_nested_row_lengths(flat, lengths, validate=False)


# ------------------------------------------------------------------ dense and sparse

def from_tensor(tensor, lengths, padding, ragged_rank, splits_dtype):
    """RaggedTensor.from_tensor (see there)."""
    op = "from_tensor"
    x = tf.convert_to_tensor(tensor)
    if _nested_lengths(lengths):
        return _from_tensor_nested(op, x, list(lengths), splits_dtype)
    rank = x.shape.rank
    if rank is not None and not 1 <= ragged_rank < rank:
        raise ValueError(f"{op}: ragged_rank must be in [1, {rank - 1}] for a tensor of rank "
                         f"{rank}, received {ragged_rank}")
    if lengths is not None and padding is not None:
        raise ValueError(f"{op}: pass lengths or padding, not both")
    if ragged_rank > 1:
        if lengths is not None:
            raise errors.UnimplementedError(
                f"{op}: lengths is supported with ragged_rank=1 only", op)
        dims = tf.shape(x, out_type=splits_dtype)
        merged = tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
        inner = from_tensor(merged, None, padding, ragged_rank - 1, splits_dtype)
        width = x.shape[1] if x.shape[1] is not None else dims[1]  # (static where known)
        return RaggedTensor.from_uniform_row_length(inner, width, nrows=dims[0])
    dims = tf.shape(x, out_type=splits_dtype)
    count, width = dims[0], dims[1]
    if lengths is not None:
        lengths = _partition(op, lengths, "lengths", splits_dtype)
        known = host_value(lengths)
        if known is not None and (known < 0).any():
            raise errors.InvalidArgumentError(
                f"{op}: lengths must be non-negative, received {known.tolist()}", op)
        lengths = tf.minimum(lengths, width)
    elif padding is not None:
        pad = tf.convert_to_tensor(padding, dtype=x.dtype)
        inner = x.shape[2:]
        if pad.shape.rank is not None and inner.rank is not None and \
                not TensorShape(pad.shape).is_compatible_with(inner):
            raise ValueError(f"{op}: padding must have the shape of one value "
                             f"{tuple(inner)}, received {tuple(pad.shape)}")
        filled = tf.not_equal(x, pad)
        if rank is not None and rank > 2:
            filled = tf.reduce_any(filled, axis=list(builtins.range(2, rank)))
        last = tf.range(1, width + 1, dtype=splits_dtype)
        lengths = tf.reduce_max(tf.concat([tf.where(filled, last, tf.zeros_like(last)),
                                           tf.zeros([count, 1], splits_dtype)], 1), axis=1)
    else:  # every row whole: a uniform dimension (its size static where known)
        values = tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
        static = x.shape[1]
        return RaggedTensor.from_uniform_row_length(
            values, static if static is not None else width, nrows=count, validate=False)
    # (the mask is built here: sequence_mask needs its width before a trace runs)
    inside = tf.expand_dims(tf.range(width, dtype=splits_dtype), 0) < tf.expand_dims(lengths, 1)
    values = tf.boolean_mask(x, inside)
    return RaggedTensor.from_row_lengths(values, lengths, validate=False)


def _nested_lengths(lengths):
    """Whether from_tensor's lengths are a list of row lengths per ragged dimension."""
    return isinstance(lengths, (list, tuple)) and bool(lengths) and all(
        isinstance(item, (list, tuple)) or (isinstance(item, _TensorLike) and
                                            item.shape.rank == 1) for item in lengths)


def _from_tensor_nested(op, x, lengths, splits_dtype):
    """from_tensor with nested row lengths, outermost first: each dense row keeps its
    first lengths[0][i] items, each of those its first lengths[1][j] items, and so on."""
    rank = x.shape.rank
    if rank is not None and len(lengths) >= rank:
        raise ValueError(f"{op}: {len(lengths)} lists of lengths need a tensor of rank > "
                         f"{len(lengths)}, received shape {tuple(x.shape)}")
    outer = from_tensor(x, lengths[0], None, 1, splits_dtype)
    if len(lengths) == 1:
        return outer
    inner = _from_tensor_nested(op, outer.values, lengths[1:], splits_dtype)
    return outer.with_values(inner)


def from_sparse(st_input, splits_dtype):
    """RaggedTensor.from_sparse (see there)."""
    op = "from_sparse"
    sp = as_sparse(op, st_input)
    if sp.shape.rank != 2:
        raise ValueError(f"{op}: expected a rank-2 SparseTensor, received shape {sp.shape}")
    indices = host_value(sp.indices)
    if indices is not None and len(indices):
        rows, cols = indices[:, 0].tolist(), indices[:, 1].tolist()
        expected, previous = 0, None
        for k, (r, c) in enumerate(zip(rows, cols)):
            expected = expected + 1 if r == previous else 0
            if c != expected or (previous is not None and r < previous):
                raise errors.InvalidArgumentError(
                    f"{op}: the SparseTensor must be ragged-right (each row filled from "
                    f"column 0 without gaps, in order); indices[{k}] = [{r}, {c}] breaks that",
                    op)
            previous = r
    rowids = tf.cast(sp.indices[:, 0], splits_dtype)
    return RaggedTensor.from_value_rowids(sp.values, rowids, sp.dense_shape[0],
                                          validate=False)


def _dense_indices(rt):
    """For each flat value, its index in the dense tensor: one int64 column per ragged
    dimension and the outer rows (the leading part of the index)."""
    columns, owner = [], None
    for splits in reversed(rt.nested_row_splits):
        rowids = _rowids(splits)
        position = _positions(splits, rowids)
        if owner is None:
            columns, owner = [position], rowids
        else:
            columns.insert(0, tf.gather(position, owner))
            owner = tf.gather(rowids, owner)
    columns.insert(0, owner)
    return tf.stack([tf.cast(c, dtypes.int64) for c in columns], axis=1)


def _default(dtype, value):
    if value is None:
        return tf.constant(b"" if dtype is dtypes.string else 0, dtype=dtype) if \
            dtype is not dtypes.bool else tf.constant(False)
    return tf.convert_to_tensor(value, dtype=dtype)


def to_tensor(rt, default_value=None, shape=None):
    """RaggedTensor.to_tensor (see there)."""
    flat = rt.flat_values
    indices = _dense_indices(rt)
    ragged_dims = rt.ragged_rank + 1
    bounds = rt.bounding_shape(out_type=dtypes.int64)[:ragged_dims]
    default = _default(flat.dtype, default_value)
    if shape is not None:
        target = TensorShape(shape)
        if target.rank is not None and rt.shape.rank is not None and \
                target.rank != rt.shape.rank:
            raise ValueError(f"to_tensor: shape {target} must have the rank of the "
                             f"RaggedTensor ({rt.shape.rank})")
        wanted = target.as_list()
        limits = tf.stack([tf.constant(d, dtypes.int64) if d is not None else bounds[i]
                           for i, d in enumerate(wanted[:ragged_dims])])
        inside = tf.reduce_all(indices < limits, axis=1)
        indices, flat = tf.boolean_mask(indices, inside), tf.boolean_mask(flat, inside)
        bounds = limits
        flat = _fit_inner(flat, wanted[ragged_dims:], default)
    out_shape = tf.concat([bounds, tf.shape(flat, out_type=dtypes.int64)[1:]], 0)
    if default_value is None and flat.dtype not in (dtypes.string, dtypes.bool):
        dense = tf.scatter_nd(indices, flat, out_shape)
    else:
        base = tf.broadcast_to(default, out_shape)
        dense = tf.tensor_scatter_nd_update(base, indices, flat)
    return dense


def _fit_inner(flat, wanted, default):
    """flat values cut or padded (with default) along their inner dimensions to `wanted`."""
    for axis, size in enumerate(wanted, start=1):
        have = flat.shape[axis]
        if size is None or have == size:
            continue
        if have is not None and have > size:
            flat = tf.gather(flat, tf.range(size), axis=axis)
        else:
            extra = size - (have if have is not None else tf.shape(flat)[axis])
            paddings = [[0, 0]] * flat.shape.rank
            paddings[axis] = [0, extra]
            flat = tf.pad(flat, paddings, constant_values=default)
    return flat


def to_sparse(rt):
    """RaggedTensor.to_sparse: a SparseTensor of the values at their dense indices."""
    flat = rt.flat_values
    if flat.shape.rank != 1:
        raise errors.UnimplementedError(
            f"to_sparse: RaggedTensors with uniform inner dimensions (flat values of shape "
            f"{tuple(flat.shape)}) are not supported; map them to scalars first", "to_sparse")
    return SparseTensor(_dense_indices(rt), flat, rt.bounding_shape(out_type=dtypes.int64))


# ------------------------------------------------------------------ elementwise

def _check_same_rows(op, first, second):
    """Eagerly: two RaggedTensors with the same row partitions (needed to pair values)."""
    if first.ragged_rank != second.ragged_rank:
        raise errors.InvalidArgumentError(
            f"{op}: the RaggedTensors must have the same ragged_rank to be combined "
            f"elementwise, received {first.ragged_rank} and {second.ragged_rank}", op)
    _check_same_splits(op, first.nested_row_splits, second.nested_row_splits)


def _check_same_splits(op, first, second):
    for a, b in zip(first, second):
        if a is b:
            continue
        known_a, known_b = host_value(a), host_value(b)
        if known_a is not None and known_b is not None and (
                known_a.shape != known_b.shape or (known_a != known_b).any()):
            raise errors.InvalidArgumentError(
                f"{op}: the RaggedTensors' rows must have the same lengths, received "
                f"row_splits {known_a.tolist()} and {known_b.tolist()}", op)


def _outer_rows(rt):
    """The outermost row of each flat value."""
    owner = None
    for splits in reversed(rt.nested_row_splits):
        rowids = _rowids(splits)
        owner = rowids if owner is None else tf.gather(rowids, owner)
    return owner


def _dense_for_flat(op, rt, dense):
    """A dense operand laid out against rt's flat values: it broadcasts over the inner
    dimensions as it is, or over all of them when its ragged dimensions have size 1."""
    inner_rank = rt.flat_values.shape.rank - 1
    if dense.shape.rank <= inner_rank:
        return dense
    rank = rt.shape.rank
    if dense.shape.rank > rank:
        raise errors.InvalidArgumentError(
            f"{op}: a dense operand of shape {dense.shape} has more dimensions than the "
            f"RaggedTensor of shape {rt.shape}", op)
    dims = [1] * (rank - dense.shape.rank) + dense.shape.as_list()
    dense = tf.reshape(dense, dims)
    for axis in builtins.range(1, rt.ragged_rank + 1):
        if dims[axis] != 1:
            raise errors.InvalidArgumentError(
                f"{op}: cannot broadcast a dense operand of shape {tuple(dims)} against the "
                f"ragged dimension {axis} of a RaggedTensor of shape {rt.shape}: dense "
                "dimensions facing ragged ones must have size 1", op)
    outer = tf.reshape(dense, [dims[0]] + dims[rt.ragged_rank + 1:])
    if dims[0] == 1:
        return outer[0]
    return tf.gather(outer, _outer_rows(rt))


def elementwise(op, fn, x, y):
    """fn(x, y) where one or both are RaggedTensors with the same rows: over flat values."""
    if isinstance(x, RaggedTensor) and isinstance(y, RaggedTensor):
        _check_same_rows(op, x, y)
        return x.with_flat_values(fn(x.flat_values, y.flat_values))
    rt, other = (x, y) if isinstance(x, RaggedTensor) else (y, x)
    if isinstance(other, SparseTensor):
        raise TypeError(f"{op}: cannot combine a RaggedTensor with a SparseTensor")
    if isinstance(other, _TensorLike):
        dense = tf.convert_to_tensor(other)
    elif isinstance(other, (int, float, builtins.bool)):
        dense = tf.convert_to_tensor(other, dtype=rt.dtype)
    else:
        dense = tf.convert_to_tensor(other, dtype_hint=rt.dtype)
    dense = _dense_for_flat(op, rt, dense)
    flat = rt.flat_values
    return rt.with_flat_values(fn(flat, dense) if rt is x else fn(dense, flat))


def map_flat_values(op, *args, **kwargs):
    """`op` applied to the flat values of the RaggedTensors among the arguments (all with
    the same rows), wrapped in their row partitions.

    >>> import tensorflux as tf
    >>> rt = tf.ragged.constant([[1, 2], [3]])
    >>> tf.ragged.map_flat_values(tf.square, rt).to_list()
    [[1, 4], [9]]
    """
    args, kwargs, found = swap_composites(RaggedTensor, lambda rt: rt.flat_values, args,
                                          kwargs)
    if not found:
        return op(*args, **kwargs)
    for other in found[1:]:
        _check_same_rows("map_flat_values", found[0], other)
    result = op(*args, **kwargs)
    count = found[0].flat_values.shape[0]
    got = getattr(result, "shape", TensorShape(None))
    if got.rank == 0 or (count is not None and got.rank and got[0] not in (None, count)):
        raise errors.InvalidArgumentError(
            f"map_flat_values: the op must return one row per flat value ({count}), its "
            f"result has shape {got}", "map_flat_values")
    return found[0].with_flat_values(result)


# ------------------------------------------------------------------ construction helpers

def range(starts, limits=None, deltas=1, dtype=None, name=None,  # noqa: A001 - TF's name
          row_splits_dtype=dtypes.int64):
    """Row i is tf.range(starts[i], limits[i], deltas[i]); scalars broadcast.

    >>> import tensorflux as tf
    >>> tf.ragged.range([3, 0, 2]).to_list()
    [[0, 1, 2], [], [0, 1]]
    """
    op = "ragged.range"
    splits_dtype = _splits_dtype(row_splits_dtype)
    if limits is None:
        starts, limits = 0, starts
    parts = [tf.convert_to_tensor(v, dtype=dtype) if dtype is not None else v
             for v in (starts, limits, deltas)]
    if dtype is None:
        floating = any(isinstance(v, float) or (isinstance(v, _TensorLike) and
                                                v.dtype.is_floating) or
                       (isinstance(v, (list, tuple)) and any(isinstance(e, float) for e in v))
                       for v in parts)
        kinds = [v.dtype for v in parts if isinstance(v, _TensorLike)]
        dtype = kinds[0] if kinds else (dtypes.float32 if floating else dtypes.int32)
        parts = [tf.convert_to_tensor(v, dtype=dtype) for v in parts]
    starts, limits, deltas = parts
    if any(p.shape.rank not in (0, 1) for p in parts):
        raise errors.InvalidArgumentError(
            f"{op}: starts, limits and deltas must be scalars or vectors, received shapes "
            f"{[tuple(p.shape) for p in parts]}", op)
    known = host_value(deltas)
    if known is not None and (known == 0).any():
        raise errors.InvalidArgumentError(f"{op}: deltas must not be 0", op)
    size = tf.reduce_max(tf.stack([tf.size(p) for p in parts]))
    if all(p.shape.rank == 0 for p in parts):
        size = tf.ones([], dtypes.int32)
    starts, limits, deltas = (tf.broadcast_to(p, tf.reshape(size, [1])) for p in parts)
    if dtype.is_floating:
        counts = tf.math.ceil((limits - starts) / deltas)
    else:
        counts = tf.math.floordiv(limits - starts + deltas - tf.sign(deltas), deltas)
    counts = tf.cast(tf.maximum(counts, tf.zeros_like(counts)), splits_dtype)
    splits = tf.concat([tf.zeros([1], splits_dtype), tf.cumsum(counts)], 0)
    owners = _rowids(splits)
    steps = tf.cast(_positions(splits, owners), dtype)
    values = tf.gather(starts, owners) + steps * tf.gather(deltas, owners)
    return _ragged(values, splits)


def row_splits_to_segment_ids(splits, name=None, out_type=None):
    """The row id of each value, from row splits.

    >>> import tensorflux as tf
    >>> tf.ragged.row_splits_to_segment_ids([0, 2, 2, 5]).numpy().tolist()
    [0, 0, 2, 2, 2]
    """
    splits = _partition("row_splits_to_segment_ids", splits, "splits")
    ids = _rowids(splits)
    return ids if out_type is None else tf.cast(ids, out_type)


def segment_ids_to_row_splits(segment_ids, num_segments=None, out_type=None, name=None):
    """Row splits from sorted row ids (num_segments rows, by default the last id + 1).

    >>> import tensorflux as tf
    >>> tf.ragged.segment_ids_to_row_splits([0, 0, 2]).numpy().tolist()
    [0, 2, 2, 3]
    """
    dtype = _splits_dtype(out_type or dtypes.int64)
    return RaggedTensor.from_value_rowids(
        tf.zeros_like(_partition("segment_ids_to_row_splits", segment_ids, "segment_ids",
                                 dtype)),
        segment_ids, num_segments).row_splits


def stack_dynamic_partitions(data, partitions, num_partitions, name=None):
    """A RaggedTensor whose row i holds the rows of `data` whose partition is i, in order.

    >>> import tensorflux as tf
    >>> tf.ragged.stack_dynamic_partitions([1, 2, 3, 4], [0, 1, 0, 2], 3).to_list()
    [[1, 3], [2], [4]]
    """
    op = "stack_dynamic_partitions"
    parts = tf.convert_to_tensor(partitions)
    if not parts.dtype.is_integer or parts.shape.rank not in (None, 1):
        raise errors.InvalidArgumentError(
            f"{op}: partitions must be a vector of ints, received {parts.dtype.name} of shape "
            f"{tuple(parts.shape)}", op)
    count = int(num_partitions)
    known = host_value(parts)
    if known is not None and len(known) and (known.min() < 0 or known.max() >= count):
        raise errors.InvalidArgumentError(
            f"{op}: partitions must be in [0, {count}), received {known.tolist()}", op)
    parts = tf.cast(parts, dtypes.int32)
    order = tf.argsort(parts, stable=True)
    lengths = composite.unchecked_segment_sum(tf.ones_like(parts), parts, count)
    rows = data if isinstance(data, RaggedTensor) else tf.convert_to_tensor(data)
    return RaggedTensor.from_row_lengths(gather_rows(rows, order), lengths, validate=False)


def boolean_mask(data, mask, name=None):
    """The entries of `data` where `mask` is True. A 1-D mask keeps rows; a deeper mask
    keeps entries inside the rows, so the result is ragged.

    >>> import tensorflux as tf
    >>> tf.ragged.boolean_mask([[1, 2], [3, 4]], [[True, False], [False, False]]).to_list()
    [[1], []]
    """
    op = "ragged.boolean_mask"
    if not isinstance(mask, RaggedTensor):
        mask = tf.convert_to_tensor(mask, dtype=dtypes.bool)
    if not isinstance(data, RaggedTensor):
        data = tf.convert_to_tensor(data)
    if mask.dtype is not dtypes.bool:
        raise errors.InvalidArgumentError(f"{op}: mask must be bool, received "
                                          f"{mask.dtype.name}", op)
    mask_rank = mask.shape.rank
    if mask_rank == 1 and not isinstance(mask, RaggedTensor):
        return _keep_rows(data, mask)
    if not isinstance(data, RaggedTensor):
        data = from_tensor(data, None, None, mask_rank - 1, dtypes.int64)
    if not isinstance(mask, RaggedTensor):
        mask = from_tensor(mask, None, None, mask_rank - 1, data.row_splits_dtype)
    if mask.ragged_rank > data.ragged_rank:
        raise errors.InvalidArgumentError(
            f"{op}: the mask (ragged_rank {mask.ragged_rank}) has more ragged dimensions than "
            f"the data ({data.ragged_rank})", op)
    _check_same_splits(op, data.nested_row_splits[:mask.ragged_rank], mask.nested_row_splits)
    return _masked(data, mask)


def _masked(data, mask):
    if mask.ragged_rank > 1:
        return data.with_values(_masked(data.values, mask.values))
    keep = mask.values
    lengths = composite.unchecked_segment_sum(tf.cast(keep, data.row_splits_dtype),
                                           mask.value_rowids(), mask.nrows())
    return RaggedTensor.from_row_lengths(_keep_rows(data.values, keep), lengths,
                                         validate=False)


def _keep_rows(values, keep):
    if isinstance(values, RaggedTensor):
        return gather_rows(values, tf.where(keep)[:, 0])
    return tf.boolean_mask(values, keep)


def stack(values, axis=0, name=None):
    """Tensors or RaggedTensors (of one ragged_rank once converted) stacked along a new
    dimension `axis`: along axis 0 a ragged dimension, the result's row i being values[i]
    (their lengths may differ); along a later axis as tf.stack (one rank for all). Scalars,
    and dense inputs along a later axis, stack densely (as in TensorFlow).

    >>> import tensorflux as tf
    >>> tf.ragged.stack([tf.constant([1, 2]), tf.constant([3])]).to_list()
    [[1, 2], [3]]
    """
    op = "ragged.stack"
    items = [v if isinstance(v, RaggedTensor) else tf.convert_to_tensor(v) for v in values]
    if not items:
        raise errors.InvalidArgumentError(f"{op}: expected at least one tensor", op)
    if not any(isinstance(v, RaggedTensor) for v in items) and (
            axis != 0 or items[0].shape.rank == 0):  # (as TF: dense inputs stack densely)
        return tf.stack(items, axis)
    if axis != 0:
        from tensorflux.ragged.array_ops import stack as stack_along

        return stack_along(items, axis)
    counts = tf.stack([tf.cast(_count_rows(v), dtypes.int64) for v in items])
    rows = _concat_rows(op, _same_ragged_rank(items))
    return RaggedTensor.from_row_lengths(rows, counts, validate=False)


def _count_rows(value):
    if isinstance(value, RaggedTensor):
        return value.nrows()
    if value.shape.rank == 0:
        raise errors.InvalidArgumentError("ragged.stack: cannot stack scalars into a ragged "
                                          "dimension", "ragged.stack")
    return tf.shape(value)[0]


def _same_ragged_rank(items):
    """Dense items converted to RaggedTensors of the items' highest ragged_rank."""
    target = max((v.ragged_rank for v in items if isinstance(v, RaggedTensor)), default=0)
    if target == 0:
        return items
    dtype = next(v.row_splits_dtype for v in items if isinstance(v, RaggedTensor))
    return [v if isinstance(v, RaggedTensor) else from_tensor(v, None, None, target, dtype)
            for v in items]


def _concat_rows(op, items):
    """The rows of several Tensors or RaggedTensors (one ragged_rank) one after another."""
    if not isinstance(items[0], RaggedTensor):
        return tf.concat(items, 0)
    if any(not isinstance(v, RaggedTensor) or v.ragged_rank != items[0].ragged_rank
           for v in items):
        raise errors.InvalidArgumentError(
            f"{op}: the RaggedTensors must have the same ragged_rank, received "
            f"{[getattr(v, 'ragged_rank', 0) for v in items]}", op)
    dtype = items[0].row_splits_dtype
    pieces, offset = [tf.zeros([1], dtype)], tf.zeros([], dtype)
    for v in items:
        splits = tf.cast(v.row_splits, dtype)
        pieces.append(splits[1:] + offset)
        offset = offset + splits[-1]
    return _ragged(_concat_rows(op, [v.values for v in items]), tf.concat(pieces, 0))


def concat(values, axis):
    """tf.concat of RaggedTensors (and dense tensors, converted): along axis 0 the rows
    follow one another; along axis 1 each row is the rows of all inputs joined; deeper axes
    need the same row partitions above them."""
    op = "concat"
    items = [v if isinstance(v, RaggedTensor) else tf.convert_to_tensor(v) for v in values]
    if not any(isinstance(v, RaggedTensor) for v in items):
        return tf.concat(items, axis)
    items = _same_ragged_rank(items)
    rank = items[0].shape.rank
    axis = normalize_axis(op, axis, rank)
    if axis == 0:
        return _concat_rows(op, items)
    if axis == 1:
        return _join_rows(op, items)
    first = items[0]
    for other in items[1:]:
        _check_same_splits(op, first.nested_row_splits[:1], other.nested_row_splits[:1])
    return first.with_values(concat([v.values for v in items], axis - 1))


def _join_rows(op, items):
    """Row i of the result is row i of every input, in order (concat along axis 1)."""
    dtype = items[0].row_splits_dtype
    lengths = [tf.cast(v.row_lengths(), dtype) for v in items]
    total = tf.add_n(lengths) if len(lengths) > 1 else lengths[0]
    splits = tf.concat([tf.zeros([1], dtype), tf.cumsum(total)], 0)
    before = tf.zeros_like(total)
    targets = []
    for v, length in zip(items, lengths):
        owners = tf.cast(v.value_rowids(), dtype)
        inside = _positions(tf.cast(v.row_splits, dtype), owners)
        targets.append(tf.gather(splits[:-1] + before, owners) + inside)
        before = before + length
    order = tf.argsort(tf.concat(targets, 0), stable=True)
    return _ragged(gather_rows(_concat_rows(op, [v.values for v in items]), order), splits)


# ------------------------------------------------------------------ reductions

def _empty_max(values, ids, count):
    return composite.unchecked_segment_max(values, ids, count)


def _any(values, ids, count):
    hits = composite.unchecked_segment_sum(tf.cast(values, dtypes.int32), ids, count)
    return tf.greater(hits, 0)


def _all(values, ids, count):
    misses = composite.unchecked_segment_sum(tf.cast(tf.logical_not(values), dtypes.int32), ids,
                                          count)
    return tf.equal(misses, 0)


_SEGMENT = {"reduce_sum": composite.unchecked_segment_sum,
            "reduce_max": _empty_max,
            "reduce_min": composite.unchecked_segment_min,
            "reduce_prod": math_extra.unchecked_segment_prod,
            "reduce_any": _any,
            "reduce_all": _all}


def _grouped(values, groups, count, segment):
    """Reduces the rows of `values` that share a group id, position by position: a ragged
    row of the result is as long as the group's longest row."""
    if not isinstance(values, RaggedTensor):
        return segment(values, groups, count)
    dtype = values.row_splits_dtype
    lengths = values.row_lengths()
    longest = tf.maximum(composite.unchecked_segment_max(lengths, groups, count),
                         tf.zeros([], dtype))
    splits = tf.concat([tf.zeros([1], dtype), tf.cumsum(longest)], 0)
    owners = values.value_rowids()
    inner = tf.gather(tf.gather(splits, tf.cast(groups, dtype)), owners) + _positions(
        values.row_splits, owners)
    return _ragged(_grouped(values.values, inner, splits[-1], segment), splits)


def _expanded(value, axis):
    """value with a dimension of size 1 inserted at `axis` (keepdims)."""
    from tensorflux.ragged.array_ops import _expanded as expanded

    return expanded(value, axis)


def _reduce_axis(name, rt, axis, keepdims):
    segment = _SEGMENT[name]
    if axis == 0:
        dtype = rt.row_splits_dtype
        groups = tf.zeros(tf.reshape(rt.nrows(), [1]), dtype)
        result = _grouped(rt, groups, tf.ones([], dtype), segment)
        result = result.values if isinstance(result, RaggedTensor) else result[0]
    elif axis == 1:
        result = _grouped(rt.values, rt.value_rowids(), rt.nrows(), segment)
    elif isinstance(rt.values, RaggedTensor):
        result = rt.with_values(_reduce_axis(name, rt.values, axis - 1, keepdims))
        return result
    else:
        whole = getattr(tf, name)
        return rt.with_values(whole(rt.values, axis=axis - 1, keepdims=keepdims))
    return _expanded(result, axis) if keepdims else result


def _reduce(name, rt, axis=None, keepdims=False):
    if axis is None:
        total = getattr(tf, name)(rt.flat_values)
        return tf.reshape(total, [1] * rt.shape.rank) if keepdims else total
    rank = rt.shape.rank
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    axes = sorted({normalize_axis(name, a, rank) for a in axes}, reverse=True)
    result = rt
    for a in axes:
        if not isinstance(result, RaggedTensor):
            result = getattr(tf, name)(result, axis=a, keepdims=keepdims)
        else:
            result = _reduce_axis(name, result, a, keepdims)
    return result


def _reduce_mean(rt, axis=None, keepdims=False):
    """The mean (float64 for integer values, as TensorFlow's ragged reduce_mean)."""
    flat = rt.flat_values
    if not (flat.dtype.is_floating or flat.dtype.is_complex):
        flat = tf.cast(flat, dtypes.float64)
    total = _reduce("reduce_sum", rt.with_flat_values(flat), axis, keepdims)
    count = _reduce("reduce_sum", rt.with_flat_values(tf.ones_like(flat)), axis, keepdims)
    return total / count


# ------------------------------------------------------------------ feature crosses

def cross(inputs, name=None):
    """Feature crosses per row: every combination of one value from each input's row (ints
    written in decimal), joined with "_X_", the first input's values varying slowest.
    Inputs are RaggedTensors, SparseTensors or dense matrices with the same row count.

    >>> import tensorflux as tf
    >>> tf.ragged.cross([tf.ragged.constant([["a", "b"]]), tf.constant([[1]])]).to_list()
    [[b'a_X_1', b'b_X_1']]
    """
    op = "cross"
    _check_inputs(op, inputs)
    rows = [_cross_rows(op, value) for value in inputs]
    _check_row_counts(op, rows)
    result = rows[0]
    for other in rows[1:]:
        result = _cross_pair(result, other)
    return result


def _check_inputs(op, inputs):
    if isinstance(inputs, (_TensorLike, RaggedTensor, SparseTensor)) or not inputs:
        raise TypeError(f"{op}: inputs must be a non-empty list of tensors, received "
                        f"{type(inputs).__name__}")


def _check_row_counts(op, rows):
    counts = [host_value(r.nrows()) for r in rows]
    if all(c is not None for c in counts) and len(set(int(c) for c in counts)) > 1:
        raise errors.InvalidArgumentError(
            f"{op}: all inputs must have the same number of rows, received "
            f"{[int(c) for c in counts]}", op)


def _cross_rows(op, value, hashed=False):
    """One input of `cross` as a RaggedTensor with one ragged dimension: of strings, or
    (hashed) of int64 feature hashes, as cross_hashed combines them."""
    if isinstance(value, SparseTensor) or hasattr(value, "dense_shape"):
        sp = as_sparse(op, value)
        rt = RaggedTensor.from_value_rowids(sp.values, sp.indices[:, 0], sp.dense_shape[0])
    elif isinstance(value, RaggedTensor):
        rt = value
    else:
        dense = tf.convert_to_tensor(value)
        if dense.shape.rank != 2:
            raise errors.InvalidArgumentError(
                f"{op}: a dense input must be a matrix (one row per example), received shape "
                f"{tuple(dense.shape)}", op)
        rt = RaggedTensor.from_tensor(dense)
    if rt.shape.rank != 2:
        raise errors.InvalidArgumentError(
            f"{op}: each input must have rank 2, received shape {rt.shape}", op)
    if rt.dtype is not dtypes.string and not rt.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: inputs must be strings or integers, received {rt.dtype.name}", op)
    if hashed:
        return rt.with_values(_feature_hashes(rt.values))
    if rt.dtype is dtypes.string:
        return rt
    return rt.with_values(tf.strings.as_string(rt.values))


def _cross_pair(left, right, join=None):
    """Per row, each value of `left` joined to each value of `right` (right varying fastest):
    by join(left values, right values), or with "_X_" between strings."""
    dtype = left.row_splits.dtype
    right_splits = tf.cast(right.row_splits, dtype)
    left_lengths = left.row_lengths()
    right_lengths = right_splits[1:] - right_splits[:-1]
    splits = tf.concat([tf.zeros([1], dtype), tf.cumsum(left_lengths * right_lengths)], 0)
    owners = _rowids(splits)
    positions = _positions(splits, owners)
    # (a row with no right values owns no output item, so the divisor is never zero)
    width = tf.maximum(tf.gather(right_lengths, owners), 1)
    picked_left = tf.gather(left.row_splits[:-1], owners) + positions // width
    picked_right = tf.gather(right_splits[:-1], owners) + positions % width
    pair = tf.gather(left.values, picked_left), tf.gather(right.values, picked_right)
    values = tf.strings.join(list(pair), separator="_X_") if join is None else join(*pair)
    return _ragged(values, splits)


# TF's feature-cross hash: a string's FarmHash Fingerprint64, an integer itself, folded into
# the hash key one feature at a time with FarmHash's Fingerprint concatenation; the key
# defaults to TF's 0xDECAFCAFFE. Hashes are uint64 held in int64 (two's complement).
_DEFAULT_HASH_KEY = 0xDECAFCAFFE
_UINT64 = (1 << 64) - 1
_INT64_MAX = (1 << 63) - 1
_CAT_MULTIPLIER = 0xC6A4A7935BD1E995


def _signed(value):
    return value - (1 << 64) if value > _INT64_MAX else value


def _shift_mix(value):
    return value ^ (value >> 47)


def _fingerprint_cat64(first, second):
    result = first ^ _CAT_MULTIPLIER
    result ^= (_shift_mix((second * _CAT_MULTIPLIER) & _UINT64) * _CAT_MULTIPLIER) & _UINT64
    result = (result * _CAT_MULTIPLIER) & _UINT64
    result = (_shift_mix(result) * _CAT_MULTIPLIER) & _UINT64
    return _shift_mix(result)


def _host_map(fn, *tensors):
    """fn over the flat Python values of equally long 1-D tensors, as an int64 vector (also
    inside a traced function: a host call)."""
    def run(*arrays):
        return [[fn(*items) for items in zip(*(a.tolist() for a in arrays))]]

    out = tf.numpy_function(run, list(tensors), Tout=[dtypes.int64])[0]
    return tf.reshape(out, tf.shape(tensors[0]))


def _feature_hashes(values):
    from tensorflux.ops._string_hash import fingerprint64

    if values.dtype is dtypes.string:
        return _host_map(lambda v: _signed(fingerprint64(v)), values)
    return tf.cast(values, dtypes.int64)


def _crossed_hashes(op, inputs, num_buckets, hash_key):
    """The rows of cross_hashed, given the inputs in the order their hashes combine."""
    buckets = int(num_buckets)
    if buckets < 0:
        raise errors.InvalidArgumentError(
            f"{op}: num_buckets must be >= 0, received {num_buckets}", op)
    key = _DEFAULT_HASH_KEY if hash_key is None else int(hash_key) & _UINT64
    rows = [_cross_rows(op, value, hashed=True) for value in inputs]
    _check_row_counts(op, rows)
    result = rows[0].with_values(_host_map(
        lambda h: _signed(_fingerprint_cat64(key, h & _UINT64)), rows[0].values))
    for other in rows[1:]:
        result = _cross_pair(result, other, lambda a, b: _host_map(
            lambda x, y: _signed(_fingerprint_cat64(x & _UINT64, y & _UINT64)), a, b))
    modulus = buckets if buckets else _INT64_MAX
    return result.with_values(_host_map(lambda h: (h & _UINT64) % modulus, result.values))


def cross_hashed(inputs, num_buckets=0, hash_key=None, name=None):
    """tf.ragged.cross's crosses as int64 hashes (TensorFlow's: FarmHash fingerprints of the
    features, combined under hash_key), modulo num_buckets when it is positive.

    >>> import tensorflux as tf
    >>> tf.ragged.cross_hashed([tf.ragged.constant([["a"], ["b", "c"]]),
    ...                         tf.constant([["d"], ["e"]])], num_buckets=100).to_list()
    [[82], [61, 41]]
    """
    op = "cross_hashed"
    _check_inputs(op, inputs)
    return _crossed_hashes(op, inputs, num_buckets, hash_key)


# ------------------------------------------------------------------ tile

def tile(rt, multiples):
    """tf.tile of a RaggedTensor: each row's items repeated multiples[1] times inside the
    row (so row lengths scale), the rows multiples[0] times, and the dimensions inside as
    tf.tile repeats them (a nested ragged dimension by the same rule)."""
    splits = rt.row_splits
    multiples = tf.cast(tf.convert_to_tensor(multiples), splits.dtype)
    rank = rt.shape.rank
    if multiples.shape.rank != 1 or multiples.shape[0] not in (None, rank):
        raise errors.InvalidArgumentError(
            f"tile: expected a vector of {rank} multiples for the RaggedTensor of shape "
            f"{rt.shape}, received shape {tuple(multiples.shape)}", "tile")
    known = host_value(multiples)
    if known is not None and (known < 0).any():
        raise errors.InvalidArgumentError(
            f"tile: expected non-negative multiples, received {known.tolist()}", "tile")
    inner = tf.concat([tf.ones([1], splits.dtype), multiples[2:]], 0)
    values = rt.values
    if isinstance(values, RaggedTensor):
        values = tile(values, inner)
    elif values.shape.rank != 1:
        values = tf.tile(values, inner)
    starts, lengths = splits[:-1], splits[1:] - splits[:-1]
    new_splits = tf.concat([tf.zeros([1], splits.dtype), tf.cumsum(lengths * multiples[1])], 0)
    owners = _rowids(new_splits)
    # (an empty row owns no output item, so the divisor is never its zero length)
    within = tf.math.floormod(_positions(new_splits, owners),
                              tf.maximum(tf.gather(lengths, owners), 1))
    repeated = _ragged(gather_rows(values, tf.gather(starts, owners) + within), new_splits)
    rows = tf.tile(tf.range(rt.nrows(out_type=splits.dtype), dtype=splits.dtype), multiples[:1])
    return gather_rows(repeated, rows)


# ------------------------------------------------------------------ dispatch handlers
# What tf.<op>(rt, ...) runs for a RaggedTensor operand (CompositeTensor._dispatch); each
# handler takes the composite that dispatched, then the op's own arguments.

def _reducer(op):
    def handler(rt, axis=None, keepdims=False, name=None):
        return _reduce(op, rt, axis, keepdims)
    return handler


def _binary(op):
    fn = getattr(tf.math, op)

    def handler(rt, x, y, name=None):
        return elementwise(op, fn, x, y)
    return handler


def _unary(op):
    fn = getattr(tf.math, op)

    def handler(rt, x, name=None):
        return x.with_flat_values(fn(x.flat_values))
    return handler


def _mean_handler(rt, axis=None, keepdims=False, name=None):
    return _reduce_mean(rt, axis, keepdims)


def _concat_handler(rt, values, axis, name=None):
    return concat(values, axis)


def _cast_handler(rt, x, dtype, name=None):
    return x.with_flat_values(tf.cast(x.flat_values, dtype))


RaggedTensor._DISPATCH.update({op: _reducer(op) for op in _SEGMENT})
RaggedTensor._DISPATCH.update({op: _binary(op) for op in (
    "add", "subtract", "multiply", "truediv", "divide", "maximum", "minimum", "pow", "equal",
    "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
    "logical_or")})
RaggedTensor._DISPATCH.update({op: _unary(op) for op in (
    "abs", "negative", "exp", "log", "log1p", "sqrt", "square", "sin", "cos", "tanh",
    "sigmoid", "floor", "ceil", "round", "sign", "logical_not", "is_nan", "is_finite")})
RaggedTensor._DISPATCH.update(reduce_mean=_mean_handler, concat=_concat_handler,
                              cast=_cast_handler)
