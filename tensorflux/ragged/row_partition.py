"""tf.experimental.RowPartition: how one ragged dimension splits a run of values into rows.

A RowPartition holds the row splits of one partition (plus the row length when every row has
one length); its views are those of a RaggedTensor's outer dimension: row_splits(),
row_lengths(), value_rowids(), nrows()... DynamicRaggedShape.row_partitions and
RaggedTensor._row_partition give them, the factories build them from any one encoding.
"""

import tensorflux as tf
from tensorflux import dtypes
from tensorflux.ragged.ragged_tensor import (
    RaggedTensor,
    _partition,
    _positions,
    _rowids,
    _splits_dtype,
    _static_int,
)
from tensorflux.sparse.sparse_tensor import host_value
from tensorflux.tensor import _TensorLike

__all__ = ["RowPartition"]


def _encoding(op, value, what, dtype, dtype_hint):
    """A row-partition vector: `dtype` if given (a cast), else the tensor's own integer dtype,
    else `dtype_hint` for Python values (int64 by default)."""
    if not isinstance(value, _TensorLike):
        given = tf.convert_to_tensor(value)
        if given.dtype.is_floating or given.dtype.is_complex or given.dtype.is_bool:
            raise ValueError(f"{op}: {what} must have dtype int32 or int64, received "
                             f"{given.dtype.name} values")
    if dtype is not None:
        dtype = _splits_dtype(dtype)
    elif dtype_hint is not None and not isinstance(value, _TensorLike):
        dtype = _splits_dtype(dtype_hint)
    tensor = _partition(op, value, what, dtype)
    if tensor.dtype not in (dtypes.int32, dtypes.int64):
        raise ValueError(f"{op}: {what} must have dtype int32 or int64, received "
                         f"{tensor.dtype.name}")
    return tensor


def _placeholders(count, dtype):
    """`count` values (a scalar, known or not) for the factories of RaggedTensor to split."""
    return tf.zeros(tf.reshape(tf.cast(count, dtype), [1]), dtypes.int8)


class RowPartition:
    """The partition of a ragged dimension: a vector of row splits (and, for a uniform
    dimension, the one row length). Build one with a factory; the constructor is private.

    >>> import tensorflux as tf
    >>> from tensorflux.ragged.row_partition import RowPartition
    >>> p = RowPartition.from_row_lengths([3, 0, 2])
    >>> p.row_splits().numpy().tolist(), int(p.nrows()), p.is_uniform()
    ([0, 3, 3, 5], 3, False)
    """

    __slots__ = ("_row_splits", "_uniform_row_length", "_static_nvals")

    def __init__(self, *args, **kwargs):
        raise ValueError("RowPartition constructor is private; please use one of the factory "
                         "methods instead (e.g., RowPartition.from_row_lengths())")

    @classmethod
    def _make(cls, row_splits, uniform_row_length=None, static_nvals=None):
        """From parts already checked (a RaggedTensor's or a DynamicRaggedShape's)."""
        result = object.__new__(cls)
        result._row_splits = row_splits
        result._uniform_row_length = uniform_row_length
        result._static_nvals = static_nvals
        return result

    @classmethod
    def _of(cls, rt, static_nvals=None):
        return cls._make(rt._row_splits, rt._uniform_row_length, static_nvals)

    # -- factories (each checks its encoding as the RaggedTensor factory of that name does)
    @classmethod
    def from_row_splits(cls, row_splits, validate=True, dtype=None, dtype_hint=None):
        """Row i covers values row_splits[i]:row_splits[i + 1]."""
        splits = _encoding("from_row_splits", row_splits, "row_splits", dtype, dtype_hint)
        count = splits[-1] if splits.shape[0] != 0 else 0
        return cls._of(RaggedTensor.from_row_splits(
            _placeholders(count, splits.dtype), splits, validate=validate))

    @classmethod
    def from_row_lengths(cls, row_lengths, validate=True, dtype=None, dtype_hint=None):
        """Row i holds the next row_lengths[i] values."""
        lengths = _encoding("from_row_lengths", row_lengths, "row_lengths", dtype, dtype_hint)
        return cls._of(RaggedTensor.from_row_lengths(
            _placeholders(tf.reduce_sum(lengths), lengths.dtype), lengths, validate=validate))

    @classmethod
    def from_value_rowids(cls, value_rowids, nrows=None, validate=True, dtype=None,
                          dtype_hint=None):
        """Value i is in row value_rowids[i] (non-decreasing); nrows defaults to the last
        row id + 1."""
        rowids = _encoding("from_value_rowids", value_rowids, "value_rowids", dtype,
                           dtype_hint)
        rt = RaggedTensor.from_value_rowids(
            _placeholders(tf.size(rowids), rowids.dtype), rowids, nrows, validate=validate)
        return cls._of(rt, rowids.shape[0])

    @classmethod
    def from_row_starts(cls, row_starts, nvals, validate=True, dtype=None, dtype_hint=None):
        """Row i starts at value row_starts[i] and ends where the next one starts (the last
        at nvals)."""
        starts = _encoding("from_row_starts", row_starts, "row_starts", dtype, dtype_hint)
        rt = RaggedTensor.from_row_starts(_placeholders(nvals, starts.dtype), starts,
                                          validate=validate)
        return cls._of(rt, _static_int(tf.convert_to_tensor(nvals)))

    @classmethod
    def from_row_limits(cls, row_limits, validate=True, dtype=None, dtype_hint=None):
        """Row i ends before value row_limits[i] and starts where the previous one ends."""
        limits = _encoding("from_row_limits", row_limits, "row_limits", dtype, dtype_hint)
        count = limits[-1] if limits.shape[0] != 0 else 0
        return cls._of(RaggedTensor.from_row_limits(
            _placeholders(count, limits.dtype), limits, validate=validate))

    @classmethod
    def from_uniform_row_length(cls, uniform_row_length, nvals, nrows=None, validate=True,
                                dtype=None, dtype_hint=None):
        """Rows of uniform_row_length values each (nvals in all)."""
        length = tf.convert_to_tensor(uniform_row_length)
        target = dtype or (length.dtype if isinstance(uniform_row_length, _TensorLike) else
                           dtype_hint) or dtypes.int64
        target = _splits_dtype(target)
        if length.shape.rank != 0 or not length.dtype.is_integer:
            raise TypeError(f"from_uniform_row_length: uniform_row_length must be an integer "
                            f"scalar, received {length.dtype.name} of shape "
                            f"{tuple(length.shape)}")
        rt = RaggedTensor.from_uniform_row_length(
            _placeholders(nvals, target), tf.cast(length, target), nrows, validate=validate)
        return cls._of(rt, _static_int(tf.convert_to_tensor(nvals)))

    # -- views
    @property
    def dtype(self):
        return self._row_splits.dtype

    def row_splits(self):
        return self._row_splits

    def row_lengths(self):
        return self._row_splits[1:] - self._row_splits[:-1]

    def value_rowids(self):
        return _rowids(self._row_splits)

    def nrows(self):
        return tf.size(self._row_splits, out_type=self.dtype) - 1

    def nvals(self):
        return self._row_splits[-1]

    def row_starts(self):
        return self._row_splits[:-1]

    def row_limits(self):
        return self._row_splits[1:]

    def offsets_in_rows(self):
        """Each value's position inside its row."""
        return _positions(self._row_splits, self.value_rowids())

    def uniform_row_length(self):
        """The length of every row (a scalar) for a uniform partition, else None."""
        return self._uniform_row_length

    def is_uniform(self):
        """Whether the partition was built uniform (from_uniform_row_length, or a uniform
        dimension of a RaggedTensor): rows that merely happen to match do not count."""
        return self._uniform_row_length is not None

    @property
    def static_nrows(self):
        count = self._row_splits.shape[0]
        return None if count is None else count - 1

    @property
    def static_nvals(self):
        return self._static_nvals

    @property
    def static_uniform_row_length(self):
        if self._uniform_row_length is None:
            return None
        return _static_int(self._uniform_row_length)

    def with_dtype(self, dtype):
        dtype = _splits_dtype(dtype)
        if dtype is self.dtype:
            return self
        length = self._uniform_row_length
        return RowPartition._make(tf.cast(self._row_splits, dtype),
                                  None if length is None else tf.cast(length, dtype),
                                  self._static_nvals)

    def __repr__(self):
        splits = host_value(self._row_splits)
        if self._uniform_row_length is not None:
            length = host_value(self._uniform_row_length)
            if splits is not None and length is not None:
                return (f"tf.RowPartition(nrows={len(splits) - 1}, "
                        f"uniform_row_length={int(length)})")
            return (f"tf.RowPartition(nrows={self.nrows()!r}, "
                    f"uniform_row_length={self._uniform_row_length!r})")
        if splits is not None:
            return f"tf.RowPartition(row_splits={splits})"
        return f"tf.RowPartition(row_splits={self._row_splits!r})"
