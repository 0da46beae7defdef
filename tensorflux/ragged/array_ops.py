"""The shape and gather ops TensorFlow dispatches for RaggedTensors: tf.reverse, tf.squeeze,
tf.reshape, tf.expand_dims, tf.stack along any axis, tf.gather / tf.gather_nd, the one-
argument tf.where, tf.split, tf.dynamic_partition, and the row-wise math (softmax, cumsum,
variance, logsumexp, segment sums, bincount, embedding lookups).

Each is built from ordinary ops on the flat values and the row partitions, so it runs
eagerly and inside tf.function and gradients reach the flat values. The handlers at the end
fill RaggedTensor._DISPATCH: what tf.<op>(...) runs when a RaggedTensor is among its
arguments (a handler takes that RaggedTensor, then the op's own arguments).
"""

import builtins
import functools

import tensorflux as tf
from tensorflux import dtypes, errors
from tensorflux.ops import composite
from tensorflux.ops._core import normalize_axis
from tensorflux.ragged.indexing import gather_rows
from tensorflux.ragged.ragged_tensor import (
    RaggedTensor,
    _positions,
    _ragged,
    _rowids,
)
from tensorflux.sparse.sparse_tensor import host_value
from tensorflux.tensor import _TensorLike

__all__ = ["reverse", "squeeze", "reshape", "expand_dims", "stack", "gather", "gather_nd",
           "where_indices", "split", "dynamic_partition", "softmax", "cumsum",
           "reduce_variance", "reduce_std", "reduce_logsumexp", "moments", "add_n",
           "unsorted_segment", "bincount", "embedding_lookup", "map_string_rows"]


def _is_rt(value):
    return isinstance(value, RaggedTensor)


def _axes(op, axis, rank):
    """`axis` (an int, a list of ints or an int tensor) as sorted non-negative ints."""
    if isinstance(axis, _TensorLike):
        known = host_value(axis)
        if known is None:
            raise errors.InvalidArgumentError(
                f"{op}: the axes of a RaggedTensor must be known when the op is built, "
                f"received a symbolic tensor", op)
        axis = known.tolist()
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    normalized = [normalize_axis(op, a, rank) for a in axes]
    if len(set(normalized)) != len(normalized):
        raise errors.InvalidArgumentError(f"{op}: axis {axes} repeats an axis", op)
    return sorted(normalized)


# ------------------------------------------------------------------ reverse

def reverse(rt, axis):
    """tf.reverse of a RaggedTensor: axis 0 reverses the rows' order, a ragged axis the
    items inside each row, a uniform inner axis the flat values along it.

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> array_ops.reverse(tf.ragged.constant([[1, 2, 3], [], [4, 5]]), [1]).to_list()
    [[3, 2, 1], [], [5, 4]]
    """
    return _reversed(rt, set(_axes("reverse", axis, rt.shape.rank)))


def _reversed(value, axes):
    if not axes:
        return value
    if not _is_rt(value):
        return tf.reverse(value, sorted(axes))
    splits = value.row_splits
    values = _reversed(value.values, {a - 1 for a in axes if a >= 2})
    if 1 in axes:  # the items of each row, last first
        owners = _rowids(splits)
        picked = tf.gather(splits[1:], owners) - 1 - _positions(splits, owners)
        values = gather_rows(values, picked)
    result = _ragged(values, splits, value.uniform_row_length)
    if 0 in axes:
        count = value.nrows()
        result = gather_rows(result, tf.range(count - 1, -1, -1, dtype=count.dtype))
    return result


# ------------------------------------------------------------------ squeeze / expand_dims

def squeeze(rt, axis=None):
    """tf.squeeze of a RaggedTensor: `axis` is required (as in TensorFlow), and every row
    along a squeezed ragged axis must hold exactly one item (checked eagerly).

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> array_ops.squeeze(tf.ragged.constant([[[1], [2]], [[3]]]), axis=2).to_list()
    [[1, 2], [3]]
    """
    if axis is None:
        raise ValueError("squeeze: a RaggedTensor needs an axis argument (the dimensions "
                         "to remove must be named)")
    result = rt
    for a in reversed(_axes("squeeze", axis, rt.shape.rank)):
        result = _squeezed(result, a, a)
    return result


def _squeezed(value, axis, given):
    if not _is_rt(value):
        return tf.squeeze(value, [axis])
    if axis > value.ragged_rank:
        return value.with_flat_values(tf.squeeze(value.flat_values,
                                                 [axis - value.ragged_rank]))
    if axis == 0:
        _check_squeezable(value.nrows(), given)
        return value.values
    if axis == 1:
        _check_squeezable(value.row_lengths(), given)
        return value.merge_dims(0, 1)
    return value.with_values(_squeezed(value.values, axis - 1, given))


def _check_squeezable(lengths, axis):
    known = host_value(lengths)
    if known is not None and (known != 1).any():
        raise errors.InvalidArgumentError(
            f"squeeze: axis {axis} is not squeezable: its size must be 1 in every row, "
            f"received sizes {known.reshape(-1).tolist()[:10]}", "squeeze")


def expand_dims(rt, axis):
    """tf.expand_dims of a RaggedTensor: a dimension of size 1 at `axis` (a uniform
    partition of one item per row at a ragged position, a flat values dimension after the
    ragged ones).

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> array_ops.expand_dims(tf.ragged.constant([[1, 2], [3]]), 1).to_list()
    [[[1, 2]], [[3]]]
    """
    rank = rt.shape.rank
    position = normalize_axis("expand_dims", axis, rank + 1)
    return _expanded(rt, position)


def _expanded(value, position):
    if not _is_rt(value):
        return tf.expand_dims(value, position)
    dtype = value.row_splits_dtype
    if position == 0:
        count = value.nrows()
        return _ragged(value, tf.stack([tf.zeros([], dtype), count]), count)
    if position == 1:
        return _ragged(value, tf.range(value.nrows() + 1, dtype=dtype), tf.ones([], dtype))
    if position > value.ragged_rank:
        return value.with_flat_values(tf.expand_dims(value.flat_values,
                                                     position - value.ragged_rank))
    return value.with_values(_expanded(value.values, position - 1))


def reshape(tensor, shape):
    """tf.reshape with a RaggedTensor input (its elements in row-major order are its flat
    values) or a DynamicRaggedShape target (the result is ragged).

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> array_ops.reshape(tf.ragged.constant([[1, 2], [3]]), [3, 1]).numpy().tolist()
    [[1], [2], [3]]
    """
    from tensorflux.ragged.dynamic_ragged_shape import DynamicRaggedShape

    flat = tensor.flat_values if _is_rt(tensor) else tf.convert_to_tensor(tensor)
    if isinstance(shape, DynamicRaggedShape):
        return shape._filled("reshape", tf.reshape(flat, [-1]))
    return tf.reshape(flat, shape)


# ------------------------------------------------------------------ stack / split

def stack(values, axis=0):
    """Tensors and RaggedTensors stacked along a new dimension `axis` (rank + 1 axes):
    each expanded there, then concatenated along it; dense inputs alone stack densely.

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> x = tf.ragged.constant([[1, 2], [3]])
    >>> array_ops.stack([x, x], axis=-1).to_list()
    [[[1, 1], [2, 2]], [[3, 3]]]
    """
    from tensorflux.ragged.ops import concat

    op = "stack"
    items = [v if _is_rt(v) else tf.convert_to_tensor(v) for v in values]
    if not items:
        raise errors.InvalidArgumentError(f"{op}: expected at least one tensor", op)
    ranks = {v.shape.rank for v in items}
    if len(ranks) != 1:
        raise errors.InvalidArgumentError(
            f"{op}: the inputs must have one rank, received ranks "
            f"{[v.shape.rank for v in items]}", op)
    if not any(_is_rt(v) for v in items):
        return tf.stack(items, axis)
    position = normalize_axis(op, axis, ranks.pop() + 1)
    return concat([_expanded(v, position) for v in items], position)


def split(value, num_or_size_splits, axis=0, num=None):
    """tf.split of a RaggedTensor along its rows (axis 0) or a uniform inner axis; a ragged
    axis cannot be split (as in TensorFlow).

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> [p.to_list() for p in array_ops.split(tf.ragged.constant([[1], [2, 3], []]), [1, 2])]
    [[[1]], [[2, 3], []]]
    """
    op = "split"
    rank = value.shape.rank
    position = normalize_axis(op, axis, rank)
    if position > value.ragged_rank:
        parts = tf.split(value.flat_values, num_or_size_splits, position - value.ragged_rank,
                         num)
        return [value.with_flat_values(p) for p in parts]
    if position != 0:
        raise ValueError(f"{op}: cannot split along the ragged dimension {axis} of a "
                         f"RaggedTensor of shape {value.shape}")
    sizes = num_or_size_splits
    count = host_value(value.nrows())
    if isinstance(sizes, _TensorLike):
        sizes = host_value(sizes)
        if sizes is None:
            raise errors.InvalidArgumentError(f"{op}: split sizes must be known eagerly", op)
        sizes = sizes.tolist()
    if isinstance(sizes, int):
        if count is None:
            raise errors.UnimplementedError(
                f"{op}: splitting a RaggedTensor into equal parts needs its row count "
                "known (eager); pass the sizes instead", op)
        if sizes <= 0 or int(count) % sizes:
            raise errors.InvalidArgumentError(
                f"{op}: cannot split {int(count)} rows into {sizes} equal parts", op)
        sizes = [int(count) // sizes] * sizes
    sizes = list(sizes)
    if sizes.count(-1) == 1 and count is not None:
        sizes[sizes.index(-1)] = int(count) - (sum(sizes) + 1)
    if count is not None and sum(sizes) != int(count):
        raise errors.InvalidArgumentError(
            f"{op}: the sizes {list(num_or_size_splits)} must add up to the number of rows "
            f"({int(count)})", op)
    parts, start = [], 0
    for size in sizes:
        parts.append(value[start:start + size])
        start += size
    return parts


def dynamic_partition(data, partitions, num_partitions):
    """tf.dynamic_partition with RaggedTensors: a vector of partitions sorts whole rows of
    a RaggedTensor; partitions shaped as the data's rows sort its flat values (dense
    results, as TensorFlow's)."""
    if _is_rt(partitions):
        from tensorflux.ragged.ops import _check_same_rows

        if not _is_rt(data):
            raise TypeError("dynamic_partition: ragged partitions need ragged data with "
                            "the same rows")
        _check_same_rows("dynamic_partition", data, partitions)
        return tf.dynamic_partition(data.flat_values, partitions.flat_values, num_partitions)
    partitions = tf.convert_to_tensor(partitions)
    if partitions.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"dynamic_partition: the partitions of a RaggedTensor's rows must be a vector, "
            f"received shape {tuple(partitions.shape)}", "dynamic_partition")
    return [gather_rows(data, tf.where(tf.equal(partitions, i))[:, 0])
            for i in builtins.range(int(num_partitions))]


# ------------------------------------------------------------------ gather

def gather(params, indices, axis=None, batch_dims=0):
    """tf.gather with a RaggedTensor as params or indices.

    - ragged params, axis 0: the rows at `indices` (any rank: a matrix of indices gives
      rows of rows);
    - ragged params, an axis inside the uniform inner dimensions: the flat values gathered;
    - batch_dims=1: row i's items at indices[i];
    - ragged indices: the gathered items keep the indices' rows.

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> ids = tf.ragged.constant([[2, 0], [1]])
    >>> array_ops.gather(tf.constant([10, 20, 30]), ids).to_list()
    [[30, 10], [20]]
    """
    op = "gather"
    axis = batch_dims if axis is None else axis
    if _is_rt(indices):
        if batch_dims == 0 and axis == 0:
            return indices.with_flat_values(_gathered(params, indices.flat_values, 0))
        if batch_dims == 1 and axis == 1 and _is_rt(params) and indices.ragged_rank == 1:
            return _gather_in_rows(params, indices)
        raise errors.UnimplementedError(
            f"{op}: ragged indices are supported with axis=0 and batch_dims=0, or "
            f"batch_dims=1 (axis=1) over ragged params, received axis={axis} and "
            f"batch_dims={batch_dims}", op)
    indices = tf.convert_to_tensor(indices)
    if batch_dims == 1 and _is_rt(params):
        if indices.shape.rank != 2:
            raise errors.UnimplementedError(
                f"{op}: batch_dims=1 over a RaggedTensor needs indices of rank 2, received "
                f"shape {tuple(indices.shape)}", op)
        return _gather_in_rows(params, RaggedTensor.from_tensor(
            indices, row_splits_dtype=params.row_splits_dtype))
    if batch_dims != 0:
        raise errors.UnimplementedError(
            f"{op}: batch_dims={batch_dims} is not supported for ragged params", op)
    return _gathered(params, indices, normalize_axis(op, axis, params.shape.rank))


def _gathered(params, indices, axis):
    """params gathered at dense `indices` along `axis` (0 or a uniform inner axis)."""
    if not _is_rt(params):
        return tf.gather(params, indices, axis=axis)
    if axis > params.ragged_rank:
        return params.with_flat_values(tf.gather(params.flat_values, indices,
                                                 axis=axis - params.ragged_rank))
    if axis == 1:
        return _gathered_in_every_row(params, tf.convert_to_tensor(indices))
    if axis != 0:
        raise errors.UnimplementedError(
            f"gather: axis {axis} is a ragged dimension of the params (shape "
            f"{params.shape}); gather rows (axis 0), along axis 1, or use batch_dims=1",
            "gather")
    indices = tf.convert_to_tensor(indices)
    rank = indices.shape.rank
    if rank == 1:
        return gather_rows(params, indices)
    if rank == 0:
        return params[indices]
    return _nested_rows(gather_rows(params, tf.reshape(indices, [-1])),
                        tf.shape(indices, out_type=params.row_splits_dtype))


def _gathered_in_every_row(params, indices):
    """tf.gather(rt, indices, axis=1): the items at `indices` of every row, positions counted
    from the row's start; shape [nrows] + indices.shape + the values' inner dimensions (dense
    when the values are). Every row must be long enough (TF reads on into the next rows)."""
    splits = params.row_splits
    at = tf.cast(indices, splits.dtype)
    lengths, wanted = host_value(params.row_lengths()), host_value(at)
    if lengths is not None and wanted is not None and wanted.size and len(lengths):
        low, high = int(wanted.min()), int(wanted.max())
        if low < 0 or high >= int(lengths.min()):
            row = int((lengths <= high).argmax()) if low >= 0 else 0
            raise errors.InvalidArgumentError(
                f"gather: indices along the ragged axis 1 must be in [0, row length) for every "
                f"row, received {low if low < 0 else high} for row {row} of length "
                f"{int(lengths[row])} (row lengths {lengths.tolist()})", "gather")
    rank = at.shape.rank
    starts = tf.reshape(splits[:-1], tf.constant([-1] + [1] * rank, splits.dtype))
    flat = starts + at  # (shape [nrows] + indices.shape)
    values = params.values
    if not _is_rt(values):
        return tf.gather(values, flat)
    rows = gather_rows(values, tf.reshape(flat, [-1]))
    if rank == 0:
        return rows
    return _nested_rows(rows, tf.shape(flat, out_type=splits.dtype))


def _nested_rows(rows, outer):
    """`rows` (one per entry of a dense index array of shape `outer`) grouped as rows of
    rows, outermost first (the groups are uniform; TF leaves their size None too)."""
    result = rows
    for axis in builtins.range(outer.shape[0] - 1, 0, -1):
        groups = tf.reduce_prod(outer[:axis])
        result = RaggedTensor.from_row_splits(
            result, tf.range(groups + 1, dtype=outer.dtype) * outer[axis], validate=False)
    return result


def _gather_in_rows(params, indices):
    """Row i of the result: row i of params at the positions in row i of indices."""
    splits = params.row_splits
    owners = tf.cast(indices.value_rowids(), splits.dtype)
    picked = tf.gather(splits[:-1], owners) + tf.cast(indices.values, splits.dtype)
    return indices.with_values(gather_rows(params.values, picked))


def gather_nd(params, indices, batch_dims=0):
    """tf.gather_nd over a RaggedTensor: each index tuple (the innermost dimension of the
    dense indices) walks down the row partitions; a partial tuple picks a row.

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> rt = tf.ragged.constant([[1, 2, 3], [], [4, 5]])
    >>> array_ops.gather_nd(rt, [[0, 1], [2, 0]]).numpy().tolist()
    [2, 4]
    """
    op = "gather_nd"
    if batch_dims != 0:
        raise errors.UnimplementedError(f"{op}: batch_dims != 0 is not supported for ragged "
                                        "params", op)
    if _is_rt(indices):
        raise errors.UnimplementedError(f"{op}: ragged indices are not supported", op)
    indices = tf.convert_to_tensor(indices)
    depth = indices.shape[-1] if indices.shape.rank else None
    if depth is None or indices.shape.rank < 1:
        raise errors.InvalidArgumentError(
            f"{op}: indices must have a known innermost dimension, received shape "
            f"{tuple(indices.shape)}", op)
    if depth > params.shape.rank:
        raise errors.InvalidArgumentError(
            f"{op}: index tuples of {depth} entries are too long for params of rank "
            f"{params.shape.rank}", op)
    outer = tf.shape(indices, out_type=params.row_splits_dtype)[:-1]
    flat = tf.cast(tf.reshape(indices, [-1, depth]), params.row_splits_dtype)
    if depth == 0:
        raise errors.UnimplementedError(f"{op}: empty index tuples are not supported", op)
    rows = flat[:, 0]
    value = params
    level = 1
    while level < depth and _is_rt(value):
        lengths = value.row_lengths()
        known_at, known_len = host_value(flat[:, level]), host_value(tf.gather(lengths, rows))
        if known_at is not None and known_len is not None and (
                (known_at < 0) | (known_at >= known_len)).any():
            raise errors.InvalidArgumentError(
                f"{op}: index {known_at.tolist()} at position {level} of the index tuples "
                f"is out of range for rows of lengths {known_len.tolist()}", op)
        rows = tf.gather(value.row_splits, rows) + flat[:, level]
        value = value.values
        level += 1
    if level < depth:  # the rest of each tuple indexes the dense flat values
        picked = tf.gather_nd(value, tf.concat([tf.expand_dims(rows, 1), flat[:, level:]], 1))
    else:
        picked = gather_rows(value, rows)
    if indices.shape.rank == 1:
        return picked[0]
    if not _is_rt(picked):
        return tf.reshape(picked, tf.concat([tf.cast(outer, dtypes.int64),
                                             tf.shape(picked, out_type=dtypes.int64)[1:]],
                                            0))
    return _nested_rows(picked, outer)


def where_indices(condition):
    """tf.where(condition) of a ragged bool condition: the dense coordinates of its True
    entries, one int64 row each, in row-major order.

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> array_ops.where_indices(tf.ragged.constant([[True, False], [True]])).numpy().tolist()
    [[0, 0], [1, 0]]
    """
    from tensorflux.ragged.ops import _dense_indices

    flat = condition.flat_values
    if flat.dtype is not dtypes.bool:
        flat = tf.not_equal(flat, tf.zeros([], flat.dtype))
    inner = tf.where(flat)  # [m, 1 + inner rank]: the flat value, then its inner index
    return tf.concat([tf.gather(_dense_indices(condition), inner[:, 0]), inner[:, 1:]], 1)


# ------------------------------------------------------------------ row-wise math

def softmax(logits, axis=None):
    """tf.nn.softmax of a RaggedTensor over its last axis: within each innermost row for a
    ragged last axis, along the flat values' last axis for a uniform one.

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import array_ops
    >>> p = array_ops.softmax(tf.ragged.constant([[0.0, 0.0], [1.0]]))
    >>> p.to_list()
    [[0.5, 0.5], [1.0]]
    """
    rank = logits.shape.rank
    if axis is not None and normalize_axis("softmax", axis, rank) != rank - 1:
        raise errors.UnimplementedError(
            f"softmax: a RaggedTensor is normalized along its last axis only, received "
            f"axis {axis}", "softmax")
    flat = logits.flat_values
    if flat.shape.rank > 1:
        return logits.with_flat_values(tf.nn.softmax(flat))
    inner = _innermost(logits)
    ids, count = inner.value_rowids(), inner.nrows()
    peak = tf.stop_gradient(composite.unchecked_segment_max(flat, ids, count))
    shifted = tf.exp(flat - tf.gather(peak, ids))
    total = composite.unchecked_segment_sum(shifted, ids, count)
    return logits.with_flat_values(shifted / tf.gather(total, ids))


def _innermost(rt):
    while _is_rt(rt.values):
        rt = rt.values
    return rt


def cumsum(x, axis=0, exclusive=False, reverse=False):
    """tf.math.cumsum of a RaggedTensor: the cumulative sums of the zero-padded dense
    tensor, read back at the RaggedTensor's own entries (TensorFlow's rule: along a
    ragged axis each row sums its own items; along axis 0 position by position)."""
    from tensorflux.ragged.ops import _dense_indices

    dense = x.to_tensor()
    position = normalize_axis("cumsum", axis, x.shape.rank)
    summed = tf.cumsum(dense, axis=position, exclusive=exclusive, reverse=reverse)
    return x.with_flat_values(tf.gather_nd(summed, _dense_indices(x)))


def _as_float(rt):
    flat = rt.flat_values
    if flat.dtype.is_floating or flat.dtype.is_complex:
        return rt
    return rt.with_flat_values(tf.cast(flat, dtypes.float64))


def reduce_variance(x, axis=None, keepdims=False):
    """The variance of a RaggedTensor's entries over `axis`, as TensorFlow computes it for
    ragged inputs: mean(x**2) - mean(x)**2 (float64 for integer inputs; NaN for empty
    rows)."""
    from tensorflux.ragged.ops import _reduce_mean

    x = _as_float(x)
    mean = _reduce_mean(x, axis, keepdims)
    squares = _reduce_mean(x.with_flat_values(tf.square(x.flat_values)), axis, keepdims)
    return squares - tf.square(mean)


def reduce_std(x, axis=None, keepdims=False):
    return tf.sqrt(reduce_variance(x, axis, keepdims))


def reduce_logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis` of a RaggedTensor (-inf for empty rows), shifted by
    the largest finite entry so that large values do not overflow."""
    from tensorflux.ragged.ops import _reduce

    flat = x.flat_values
    finite = tf.where(tf.math.is_finite(flat), flat, tf.zeros_like(flat))
    shift = tf.stop_gradient(tf.reduce_max(tf.concat([tf.reshape(finite, [-1]),
                                                     tf.zeros([1], flat.dtype)], 0)))
    total = _reduce("reduce_sum", x.with_flat_values(tf.exp(flat - shift)), axis, keepdims)
    return tf.math.log(total) + shift


def moments(x, axes, shift=None, keepdims=False):
    """tf.nn.moments of a RaggedTensor: (mean, variance) over `axes`, the variance the
    mean of the squared deviations from the mean (as tf.nn.moments computes it)."""
    from tensorflux.ragged.ops import _reduce_mean

    mean = _reduce_mean(x, axes, True)
    deviations = tf.math.squared_difference(x, tf.stop_gradient(mean))
    variance = _reduce_mean(deviations, axes, True)
    if keepdims:
        return mean, variance
    kept = sorted(normalize_axis("moments", a, x.shape.rank) for a in (
        axes if isinstance(axes, (list, tuple)) else [axes]))
    return _drop_axes(mean, kept), _drop_axes(variance, kept)


def _drop_axes(value, axes):
    if _is_rt(value):
        return squeeze(value, axes)
    return tf.squeeze(value, axes)


def add_n(inputs):
    """tf.add_n with RaggedTensors among the inputs (all with the same rows)."""
    from tensorflux.ragged.ops import elementwise

    items = list(inputs)
    if not items:
        raise ValueError("add_n: inputs must be a non-empty list")
    return functools.reduce(lambda a, b: elementwise("add_n", tf.add, a, b), items)


def unsorted_segment(op, data, segment_ids, num_segments):
    """tf.math.unsorted_segment_<op> with RaggedTensors: ragged ids label the data's flat
    values (a dense result); a vector of ids labels whole rows, reduced position by
    position (a ragged result, each segment as long as its longest row)."""
    from tensorflux.ragged.ops import _check_same_splits, _grouped

    name = f"unsorted_segment_{op}"
    segment = getattr(tf.math, name)
    if _is_rt(segment_ids):
        depth = segment_ids.ragged_rank
        if not _is_rt(data):
            data = RaggedTensor.from_tensor(data, ragged_rank=depth,
                                            row_splits_dtype=segment_ids.row_splits_dtype)
        if data.ragged_rank < depth:
            raise errors.InvalidArgumentError(
                f"{name}: the segment ids have more ragged dimensions ({depth}) than the "
                f"data ({data.ragged_rank})", name)
        _check_same_splits(name, data.nested_row_splits[:depth], segment_ids.nested_row_splits)
        values = data
        for _ in builtins.range(depth):
            values = values.values
        return segment(values, segment_ids.flat_values, num_segments)
    ids = tf.convert_to_tensor(segment_ids)
    if ids.shape.rank != 1:
        raise errors.UnimplementedError(
            f"unsorted_segment_{op}: the ids of a RaggedTensor's rows must be a vector, "
            f"received shape {tuple(ids.shape)}", f"unsorted_segment_{op}")
    if op not in ("sum", "max", "min", "prod"):
        raise errors.UnimplementedError(
            f"unsorted_segment_{op}: row ids over a RaggedTensor are supported for sum, "
            f"max, min and prod", f"unsorted_segment_{op}")
    dtype = data.row_splits_dtype
    return _grouped(data, tf.cast(ids, dtype), tf.cast(num_segments, dtype), segment)


def bincount(arr, weights=None, minlength=None, maxlength=None, dtype=dtypes.int32,
             axis=None, binary_output=False):
    """tf.math.bincount of a RaggedTensor: of all its values (axis None), or of each row
    (axis -1, a dense [rows, size] result)."""
    flat = arr.flat_values
    flat_weights = None
    if weights is not None:
        flat_weights = weights.flat_values if _is_rt(weights) else tf.convert_to_tensor(
            weights)
    if axis is None:
        return tf.math.bincount(flat, flat_weights, minlength, maxlength, dtype,
                                binary_output=binary_output)
    if axis != -1 or arr.ragged_rank != 1 or flat.shape.rank != 1:
        raise errors.UnimplementedError(
            f"bincount: a RaggedTensor is counted whole (axis=None) or per row of a "
            f"matrix (axis=-1), received axis {axis} and shape {arr.shape}", "bincount")
    size = tf.maximum(tf.reduce_max(tf.concat([flat, tf.constant([-1], flat.dtype)], 0)) + 1,
                      tf.zeros([], flat.dtype))
    if minlength is not None:
        size = tf.maximum(size, tf.cast(minlength, flat.dtype))
    if maxlength is not None:
        size = tf.minimum(size, tf.cast(maxlength, flat.dtype))
    rows = tf.cast(arr.value_rowids(), flat.dtype)
    inside = flat < size
    counts_dtype = dtypes.as_dtype(dtype) if flat_weights is None else flat_weights.dtype
    amounts = tf.ones_like(flat, dtype=counts_dtype) if flat_weights is None or \
        binary_output else flat_weights
    cells = composite.unchecked_segment_sum(
        tf.boolean_mask(amounts, inside), tf.boolean_mask(rows * size + flat, inside),
        tf.cast(arr.nrows(), flat.dtype) * size)
    if binary_output:
        cells = tf.minimum(cells, tf.ones_like(cells))
    return tf.reshape(cells, tf.stack([tf.cast(arr.nrows(), flat.dtype), size]))


def embedding_lookup(params, ids, max_norm=None):
    """tf.nn.embedding_lookup with ragged ids: each id's embedding, in the ids' rows."""
    if _is_rt(params):
        raise TypeError("embedding_lookup: params must be a dense tensor, received a "
                        "RaggedTensor")
    return ids.with_flat_values(tf.nn.embedding_lookup(params, ids.flat_values, max_norm))


# ------------------------------------------------------------------ string ops

def map_string_rows(fn, value):
    """`fn` (a string op that maps a vector of strings to a RaggedTensor of one row per
    string) applied to a RaggedTensor's flat values, or to a dense tensor of rank >= 2 (one
    uniform dimension per leading axis), the rows keeping the input's shape in front.
    Returns None for the inputs `fn` takes itself (scalars and vectors)."""
    if _is_rt(value):
        inner = map_string_rows(fn, value.flat_values)
        return value.with_flat_values(fn(value.flat_values) if inner is None else inner)
    x = tf.convert_to_tensor(value)
    if x.shape.rank is None or x.shape.rank < 2:
        return None
    dims = tf.shape(x, out_type=dtypes.int64)
    result = fn(tf.reshape(x, [-1]))
    for axis in builtins.range(x.shape.rank - 1, 0, -1):
        static = x.shape[axis]
        count = tf.reduce_prod(dims[:axis])
        result = RaggedTensor.from_uniform_row_length(
            result, static if static is not None else dims[axis], nrows=count)
    return result


# ------------------------------------------------------------------ dispatch handlers

def _reverse_handler(rt, tensor, axis, name=None):
    return reverse(tensor, axis)


def _squeeze_handler(rt, input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    return squeeze(input, axis if axis is not None else squeeze_dims)


def _reshape_handler(rt, tensor, shape, name=None):
    return reshape(tensor, shape)


def _expand_dims_handler(rt, input, axis, name=None):  # noqa: A002
    return expand_dims(input, axis)


def _stack_handler(rt, values, axis=0, name="stack"):
    return stack(values, axis)


def _gather_handler(rt, params, indices, validate_indices=None, axis=None, batch_dims=0,
                    name=None):
    return gather(params, indices, axis, batch_dims)


def _gather_nd_handler(rt, params, indices, batch_dims=0, name=None, bad_indices_policy=""):
    if not _is_rt(params):
        raise errors.UnimplementedError("gather_nd: ragged indices are not supported",
                                        "gather_nd")
    return gather_nd(params, indices, batch_dims)


def _where_handler(rt, condition, x=None, y=None, name=None):
    if x is None and y is None:
        return where_indices(condition)
    from tensorflux.ops.dispatch import _ragged_where
    from tensorflux.ops.math import where

    return _ragged_where(where, condition, x, y)


def _split_handler(rt, value, num_or_size_splits, axis=0, num=None, name="split"):
    return split(value, num_or_size_splits, axis, num)


def _dynamic_partition_handler(rt, data, partitions, num_partitions, name=None):
    return dynamic_partition(data, partitions, num_partitions)


def _softmax_handler(rt, logits, axis=None, name=None):
    return softmax(logits, axis)


def _cumsum_handler(rt, x, axis=0, exclusive=False, reverse=False, name=None):
    return cumsum(x, axis, exclusive, reverse)


def _reduction_handler(fn):
    def handler(rt, input_tensor, axis=None, keepdims=False, name=None):
        return fn(input_tensor, axis, keepdims)
    return handler


def _moments_handler(rt, x, axes, shift=None, keepdims=False, name=None):
    return moments(x, axes, shift, keepdims)


def _add_n_handler(rt, inputs, name=None):
    return add_n(inputs)


def _segment_handler(op):
    def handler(rt, data, segment_ids, num_segments, name=None):
        return unsorted_segment(op, data, segment_ids, num_segments)
    return handler


def _bincount_handler(rt, arr, weights=None, minlength=None, maxlength=None,
                      dtype=dtypes.int32, name=None, axis=None, binary_output=False):
    return bincount(arr, weights, minlength, maxlength, dtype, axis, binary_output)


def _embedding_lookup_handler(rt, params, ids, max_norm=None, name=None):
    return embedding_lookup(params, ids, max_norm)


def _shape_handler(rt, input, out_type=None, name=None):  # noqa: A002
    from tensorflux.ragged.dynamic_ragged_shape import DynamicRaggedShape

    return DynamicRaggedShape.from_tensor(input, dtype=out_type or dtypes.int32)


def _broadcast_to_handler(rt, input, shape, name=None):  # noqa: A002
    from tensorflux.ragged.dynamic_ragged_shape import DynamicRaggedShape

    if _is_rt(input):
        if isinstance(shape, DynamicRaggedShape):
            return shape._broadcast("broadcast_to", input)
        raise errors.UnimplementedError(
            "broadcast_to: a RaggedTensor broadcasts to a DynamicRaggedShape only",
            "broadcast_to")
    return shape._broadcast("broadcast_to", input)


RaggedTensor._DISPATCH.update(
    reverse=_reverse_handler, squeeze=_squeeze_handler, reshape=_reshape_handler,
    expand_dims=_expand_dims_handler, stack=_stack_handler, gather=_gather_handler,
    gather_nd=_gather_nd_handler, where=_where_handler, split=_split_handler,
    dynamic_partition=_dynamic_partition_handler, softmax=_softmax_handler,
    cumsum=_cumsum_handler, reduce_variance=_reduction_handler(reduce_variance),
    reduce_std=_reduction_handler(reduce_std),
    reduce_logsumexp=_reduction_handler(reduce_logsumexp), moments=_moments_handler,
    add_n=_add_n_handler, bincount=_bincount_handler,
    embedding_lookup=_embedding_lookup_handler, shape=_shape_handler,
    broadcast_to=_broadcast_to_handler,
    **{f"unsorted_segment_{op}": _segment_handler(op)
       for op in ("sum", "max", "min", "prod", "mean", "sqrt_n")})
