"""Indexing a RaggedTensor: rows by int or slice (rt[i], rt[1:3]), and slices within the
rows of its ragged dimensions (rt[:, :2]); gather_rows picks any rows in any order."""

import builtins

import tensorflux as tf
from tensorflux import errors
from tensorflux.ragged.ragged_tensor import RaggedTensor, _positions, _ragged, _rowids
from tensorflux.sparse.sparse_tensor import host_value
from tensorflux.tensor import _TensorLike

__all__ = ["getitem", "gather_rows"]


def gather_rows(values, rows):
    """The rows of `values` (a Tensor or RaggedTensor) at the int vector `rows`."""
    if not isinstance(values, RaggedTensor):
        return tf.gather(values, rows)
    splits = values.row_splits
    rows = tf.cast(rows, splits.dtype)
    starts = tf.gather(splits[:-1], rows)
    lengths = tf.gather(splits[1:], rows) - starts
    new_splits = tf.concat([tf.zeros([1], splits.dtype), tf.cumsum(lengths)], 0)
    owners = _rowids(new_splits)
    picked = tf.gather(starts, owners) + _positions(new_splits, owners)
    return _ragged(gather_rows(values.values, picked), new_splits)


def _is_index(key):
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return True
    return isinstance(key, _TensorLike) and key.dtype.is_integer and key.shape.rank == 0


def getitem(rt, key):
    """rt[key]: ints and slices select rows; in later positions, slices cut every row of a
    ragged dimension (an int there is an error, as in TensorFlow) and any key applies to the
    uniform inner dimensions."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is None for k in key):
        return _with_new_axes(rt, key)
    key = _expanded(rt, key)
    if not key:
        return rt
    first, rest = key[0], key[1:]
    if _is_index(first):
        row = _row(rt, first)
        return row[rest] if rest else row
    if not isinstance(first, builtins.slice):
        raise TypeError(f"RaggedTensor indices must be ints, slices or Ellipsis, received "
                        f"{first!r}")
    rows = _slice_rows(rt, first)
    if not rest:
        return rows
    second, more = rest[0], rest[1:]
    if _is_index(second):
        raise ValueError("Cannot index into an inner ragged dimension: rt[:, i] would need "
                         "every row to have an entry i; slice it (rt[:, i:i + 1]) or use "
                         "rt.to_tensor()")
    if not isinstance(second, builtins.slice):
        raise TypeError(f"RaggedTensor indices must be ints, slices or Ellipsis, received "
                        f"{second!r}")
    if second != builtins.slice(None):
        rows = _slice_in_rows(rows, second)
    if not more:
        return rows
    return rows.with_values(rows.values[(builtins.slice(None),) + more])


def _with_new_axes(rt, key):
    """rt[key] where key holds tf.newaxis (None): the rest of the key applied, then a
    dimension of size 1 inserted where each None stands among the dimensions kept."""
    from tensorflux.ragged.array_ops import expand_dims

    rank = rt.shape.rank
    if Ellipsis in key:
        if rank is None:
            raise ValueError("RaggedTensor indexing with '...' needs a known rank")
        i = key.index(Ellipsis)
        used = sum(1 for k in key if k is not None and k is not Ellipsis)
        key = key[:i] + (builtins.slice(None),) * max(rank - used, 0) + key[i + 1:]
    positions, kept = [], 0
    for k in key:
        if k is None:
            positions.append(kept)
            kept += 1
        elif not _is_index(k):
            kept += 1
    result = getitem(rt, tuple(k for k in key if k is not None))
    for position in positions:
        result = expand_dims(result, position) if isinstance(result, RaggedTensor) else \
            tf.expand_dims(result, position)
    return result


def _expanded(rt, key):
    ellipses = [i for i, k in enumerate(key) if k is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    rank = rt.shape.rank
    if ellipses:
        if rank is None:
            raise ValueError("RaggedTensor indexing with '...' needs a known rank")
        i = ellipses[0]
        key = key[:i] + (builtins.slice(None),) * (rank - len(key) + 1) + key[i + 1:]
    if rank is not None and len(key) > rank:
        raise IndexError(f"too many indices for a RaggedTensor of rank {rank}: received "
                         f"{len(key)}")
    return key


def _row(rt, index):
    splits = host_value(rt.row_splits)
    position = index if isinstance(index, int) else host_value(index)
    if splits is not None and position is not None:
        count = len(splits) - 1
        position = int(position)
        if not -count <= position < count:
            raise IndexError(f"RaggedTensor row index {position} is out of range for "
                             f"{count} rows")
        position %= count
        return _value_rows(rt.values, int(splits[position]), int(splits[position + 1]))
    index = tf.cast(index, rt.row_splits_dtype)
    index = tf.where(index < 0, index + rt.nrows(), index)
    picked = tf.range(rt.row_splits[index], rt.row_splits[index + 1])
    return gather_rows(rt.values, picked)


def _value_rows(values, start, stop):
    """values[start:stop] for a Tensor or RaggedTensor, with host ints."""
    if not isinstance(values, RaggedTensor):
        return values[start:stop]
    return _slice_rows(values, builtins.slice(start, stop))


def _slice_rows(rt, key):
    splits = host_value(rt.row_splits)
    if splits is not None:
        start, stop, step = key.indices(len(splits) - 1)
        if step == 1:
            stop = max(stop, start)
            bounds = rt.row_splits[start:stop + 1]
            return _ragged(_value_rows(rt.values, int(splits[start]), int(splits[stop])),
                           bounds - bounds[:1], rt.uniform_row_length)
        return gather_rows(rt, tf.constant(list(range(start, stop, step)), rt.row_splits_dtype))
    if key.step not in (None, 1) or any(
            not isinstance(b, (int, type(None))) for b in (key.start, key.stop)):
        raise errors.UnimplementedError(
            "RaggedTensor row slicing inside tf.function supports int bounds and step 1, "
            f"received {key}", "getitem")
    count = rt.nrows()
    start = _bound(key.start, count, tf.zeros_like(count))
    stop = tf.maximum(_bound(key.stop, count, count), start)
    return gather_rows(rt, tf.range(start, stop, dtype=rt.row_splits_dtype))


def _bound(value, length, default):
    """A slice bound (None, or an int counted from the end when negative) clipped to
    [0, length], as slice.indices gives it; elementwise over a tensor of lengths."""
    if value is None:
        return default
    value = int(value)
    if value >= 0:
        return tf.minimum(tf.cast(value, length.dtype), length)
    return tf.maximum(length + value, tf.zeros_like(length))


def _slice_in_rows(rt, key):
    """rt with each row cut to row[key] (a slice with a positive step)."""
    step = 1 if key.step is None else key.step
    if not isinstance(step, int) or step <= 0:
        raise ValueError(f"slicing inside ragged rows needs a positive int step, received "
                         f"{key.step!r}")
    splits = rt.row_splits
    lengths = splits[1:] - splits[:-1]
    start = _bound(key.start, lengths, tf.zeros_like(lengths))
    stop = _bound(key.stop, lengths, lengths)
    counts = tf.math.floordiv(tf.maximum(stop - start, tf.zeros_like(start)) + (step - 1), step)
    new_splits = tf.concat([tf.zeros([1], splits.dtype), tf.cumsum(counts)], 0)
    owners = _rowids(new_splits)
    picked = tf.gather(splits[:-1] + start, owners) + _positions(new_splits, owners) * step
    return _ragged(gather_rows(rt.values, picked), new_splits)

