"""RaggedTensor and RaggedTensorSpec: rows of different lengths, stored as the rows' values
one after another plus row_splits, the offset where each row starts (and the last ends).

A RaggedTensor of ragged_rank k nests k such partitions over `flat_values`, an ordinary
tensor. Everything is built from ordinary tensorflux ops on those parts, so it works eagerly
and inside tf.function, and gradients reach the flat values. Checks that read the splits
(order, bounds) run eagerly, where their values are known.
"""

import tensorflux as tf
from tensorflux import dtypes, errors
from tensorflux.composite_tensor import CompositeTensor, TypeSpec
from tensorflux.ops import composite
from tensorflux.ragged._format import format_array, host_array
from tensorflux.sparse.sparse_tensor import host_value
from tensorflux.tensor import TensorSpec, _TensorLike
from tensorflux.tensor_shape import TensorShape

__all__ = ["RaggedTensor", "RaggedTensorSpec", "is_ragged"]


def is_ragged(value):
    return isinstance(value, RaggedTensor)


def _splits_dtype(dtype):
    dtype = dtypes.as_dtype(dtype)
    if dtype not in (dtypes.int32, dtypes.int64):
        raise ValueError(f"row_splits_dtype must be int32 or int64, received {dtype.name}")
    return dtype


def _partition(op, value, what, dtype=None):
    """A 1-D integer tensor for a row partition (splits, lengths, row ids...): Python values
    become `dtype` (int64 by default), integer tensors keep theirs unless `dtype` is given."""
    if isinstance(value, _TensorLike):
        if not value.dtype.is_integer:
            raise TypeError(f"{op}: {what} must be integers (int64 or int32), received a "
                            f"{value.dtype.name} tensor of shape {tuple(value.shape)}")
        tensor = tf.convert_to_tensor(value)
        if dtype is not None and tensor.dtype is not dtype:
            tensor = tf.cast(tensor, dtype)
        elif tensor.dtype not in (dtypes.int32, dtypes.int64):
            tensor = tf.cast(tensor, dtypes.int64)
    else:
        tensor = tf.convert_to_tensor(value, dtype=dtype or dtypes.int64)
    if tensor.shape.rank not in (None, 1):
        raise ValueError(f"{op}: {what} must be a vector, received shape {tuple(tensor.shape)}")
    return tensor


def _values(op, values):
    if isinstance(values, RaggedTensor):
        return values
    tensor = tf.convert_to_tensor(values)
    if tensor.shape.rank == 0:
        raise ValueError(f"{op}: values must have rank 1 or more (one entry per row "
                         f"value), received a scalar")
    return tensor


def _rows_in(values):
    """The number of rows of `values`: an int when static, else a scalar tensor."""
    if isinstance(values, RaggedTensor):
        return values.nrows()
    count = values.shape[0]
    return count if count is not None else tf.shape(values, out_type=dtypes.int64)[0]


def _host_rows(values):
    if isinstance(values, RaggedTensor):
        splits = host_value(values.row_splits)
        return None if splits is None else len(splits) - 1
    return values.shape[0]


def _ragged(values, row_splits, uniform_row_length=None):
    """A RaggedTensor from parts already checked; `uniform_row_length` (a scalar of the
    splits' dtype, or None) marks a partition whose rows all have that length."""
    result = object.__new__(RaggedTensor)
    result._values = values
    result._row_splits = row_splits
    result._uniform_row_length = uniform_row_length
    return result


def _static_int(value):
    """A scalar's value as a Python int when it is known here (eager or constant), else None."""
    if isinstance(value, int):
        return value
    known = host_value(value)
    return None if known is None or getattr(known, "ndim", 0) != 0 else int(known)


def _check_splits(op, splits, values):
    """Eagerly: splits start at 0, never decrease, and end at the number of values."""
    known = host_value(splits)
    if known is None:
        return
    shown = known.tolist()
    if len(shown) > 12:
        shown = shown[:6] + ["..."] + shown[-5:]
    if not len(known):
        raise errors.InvalidArgumentError(
            f"{op}: row_splits must hold at least one entry (0 for no rows), received []", op)
    if known[0] != 0:
        raise errors.InvalidArgumentError(
            f"{op}: row_splits must start at 0, received {shown}", op)
    if (known[1:] < known[:-1]).any():
        raise errors.InvalidArgumentError(
            f"{op}: row_splits must be non-decreasing (sorted), received {shown}", op)
    count = _host_rows(values)
    if count is not None and int(known[-1]) != count:
        raise errors.InvalidArgumentError(
            f"{op}: the last row split ({int(known[-1])}) must equal the number of values "
            f"({count}), received row_splits {shown}", op)


def _rowids(splits):
    """The row of each value: a value at position p is in the row whose splits bracket p.
    One scatter and a cumsum, which also trace (the counts are not needed on the host)."""
    total = splits[-1]
    # (one extra segment: the splits of empty rows at the end equal `total`)
    marks = tf.math.unsorted_segment_sum(tf.ones_like(splits[1:-1]), splits[1:-1], total + 1)
    return tf.cumsum(marks[:-1])


def _positions(splits, rowids):
    """Each value's position inside its row."""
    return tf.range(tf.size(rowids, out_type=splits.dtype), dtype=splits.dtype) - tf.gather(
        splits, rowids)


class RaggedTensor(CompositeTensor):
    """A tensor whose rows (along one or more dimensions) may have different lengths.

    Build one with tf.ragged.constant or a factory (from_row_lengths, from_row_splits,
    from_value_rowids, from_tensor, from_nested_row_splits); the constructor is private.

    >>> import tensorflux as tf
    >>> rt = tf.RaggedTensor.from_row_lengths([1, 2, 3], [2, 0, 1])
    >>> rt.to_list(), rt.shape, rt.row_splits.numpy().tolist()
    ([[1, 2], [], [3]], TensorShape([3, None]), [0, 2, 2, 3])
    """

    __slots__ = ("_values", "_row_splits", "_uniform_row_length")

    def __init__(self, *args, **kwargs):
        raise ValueError("RaggedTensor constructor is private; please use one of the factory "
                         "methods instead (e.g., RaggedTensor.from_row_lengths())")

    # -- factories
    @classmethod
    def from_row_splits(cls, values, row_splits, name=None, validate=True):
        """Row i is values[row_splits[i]:row_splits[i + 1]]."""
        op = "from_row_splits"
        values = _values(op, values)
        splits = _partition(op, row_splits, "row_splits", _inner_splits_dtype(values))
        if validate:
            _check_splits(op, splits, values)
        return _ragged(values, splits)

    @classmethod
    def from_row_lengths(cls, values, row_lengths, name=None, validate=True):
        """Row i holds the next row_lengths[i] values."""
        op = "from_row_lengths"
        values = _values(op, values)
        lengths = _partition(op, row_lengths, "row_lengths", _inner_splits_dtype(values))
        known = host_value(lengths)
        if validate and known is not None:
            count = _host_rows(values)
            if (known < 0).any():
                raise errors.InvalidArgumentError(
                    f"{op}: row_lengths must be non-negative, received {known.tolist()}", op)
            if count is not None and int(known.sum()) != count:
                raise errors.InvalidArgumentError(
                    f"{op}: the row lengths sum to {int(known.sum())}, but there are {count} "
                    f"values (row_lengths {known.tolist()})", op)
        splits = tf.concat([tf.zeros([1], lengths.dtype), tf.cumsum(lengths)], 0)
        return _ragged(values, splits)

    @classmethod
    def from_value_rowids(cls, values, value_rowids, nrows=None, name=None, validate=True):
        """values[i] is in row value_rowids[i] (non-decreasing); nrows defaults to the last
        row id + 1, and may add empty rows at the end."""
        op = "from_value_rowids"
        values = _values(op, values)
        rowids = _partition(op, value_rowids, "value_rowids", _inner_splits_dtype(values))
        known = host_value(rowids)
        if nrows is None:
            nrows = tf.reduce_max(tf.concat([rowids + 1, tf.zeros([1], rowids.dtype)], 0))
        nrows = tf.cast(nrows, rowids.dtype)
        limit = host_value(nrows)
        if validate and known is not None and len(known):
            if known[0] < 0 or (known[1:] < known[:-1]).any():
                raise errors.InvalidArgumentError(
                    f"{op}: value_rowids must be non-negative and non-decreasing, received "
                    f"{known.tolist()}", op)
            if limit is not None and known[-1] >= limit:
                raise errors.InvalidArgumentError(
                    f"{op}: expected nrows >= value_rowids[-1] + 1, received nrows={int(limit)} "
                    f"and value_rowids[-1]={int(known[-1])}", op)
        lengths = composite.unchecked_segment_sum(tf.ones_like(rowids), rowids, nrows)
        return cls.from_row_lengths(values, lengths, validate=False)

    @classmethod
    def from_row_starts(cls, values, row_starts, name=None, validate=True):
        """Row i starts at values[row_starts[i]] and ends where the next row starts."""
        values = _values("from_row_starts", values)
        starts = _partition("from_row_starts", row_starts, "row_starts",
                            _inner_splits_dtype(values))
        end = tf.reshape(tf.cast(_rows_in(values), starts.dtype), [1])
        return cls.from_row_splits(values, tf.concat([starts, end], 0), validate=validate)

    @classmethod
    def from_row_limits(cls, values, row_limits, name=None, validate=True):
        """Row i ends before values[row_limits[i]] and starts where the previous row ends."""
        values = _values("from_row_limits", values)
        limits = _partition("from_row_limits", row_limits, "row_limits",
                            _inner_splits_dtype(values))
        return cls.from_row_splits(values, tf.concat([tf.zeros([1], limits.dtype), limits], 0),
                                   validate=validate)

    @classmethod
    def from_uniform_row_length(cls, values, uniform_row_length, nrows=None, validate=True,
                                name=None):
        """Rows of `uniform_row_length` values each: the dimension is uniform, and its size
        is part of the static shape when known (rt.shape [3, 2] for 6 values in rows of 2).

        >>> import tensorflux as tf
        >>> tf.RaggedTensor.from_uniform_row_length([1, 2, 3, 4, 5, 6], 2).shape
        TensorShape([3, 2])
        """
        op = "from_uniform_row_length"
        values = _values(op, values)
        length = tf.convert_to_tensor(uniform_row_length)
        if length.shape.rank != 0 or not length.dtype.is_integer:
            raise TypeError(f"{op}: uniform_row_length must be an integer scalar, received "
                            f"{length.dtype.name} of shape {tuple(length.shape)}")
        # (the splits take the inner splits' dtype, else a length tensor's: int32 or int64)
        dtype = _inner_splits_dtype(values) or (
            length.dtype if isinstance(uniform_row_length, _TensorLike) and
            length.dtype in (dtypes.int32, dtypes.int64) else dtypes.int64)
        length = tf.cast(length, dtype)
        count = tf.cast(_rows_in(values), dtype)
        if nrows is None:
            nrows = tf.math.floordiv(count, tf.maximum(length, tf.ones_like(length)))
        nrows = tf.cast(nrows, dtype)
        known = [_static_int(v) for v in (length, nrows, count)]
        if validate and None not in known:
            if known[0] < 0:
                raise errors.InvalidArgumentError(
                    f"{op}: uniform_row_length must be >= 0, received {known[0]}", op)
            if known[0] * known[1] != known[2]:
                raise errors.InvalidArgumentError(
                    f"{op}: uniform_row_length={known[0]} times nrows={known[1]} must equal "
                    f"the number of values ({known[2]})", op)
        splits = tf.range(nrows + 1, dtype=dtype) * length
        return _ragged(values, splits, length)

    @classmethod
    def from_nested_row_splits(cls, flat_values, nested_row_splits, name=None, validate=True):
        """One row partition per ragged dimension, outermost first, over `flat_values`."""
        if isinstance(nested_row_splits, _TensorLike):
            raise TypeError("from_nested_row_splits: nested_row_splits must be a list of "
                            "tensors, received a tensor")
        result = flat_values
        for splits in reversed(list(nested_row_splits)):
            result = cls.from_row_splits(result, splits, validate=validate)
        return result

    @classmethod
    def from_nested_row_lengths(cls, flat_values, nested_row_lengths, name=None,
                                validate=True):
        """One list of row lengths per ragged dimension, outermost first."""
        result = flat_values
        for lengths in reversed(list(nested_row_lengths)):
            result = cls.from_row_lengths(result, lengths, validate=validate)
        return result

    @classmethod
    def from_nested_value_rowids(cls, flat_values, nested_value_rowids, nested_nrows=None,
                                 name=None, validate=True):
        """One value_rowids vector (and optional nrows) per ragged dimension."""
        rowids = list(nested_value_rowids)
        counts = [None] * len(rowids) if nested_nrows is None else list(nested_nrows)
        result = flat_values
        for ids, count in reversed(list(zip(rowids, counts))):
            result = cls.from_value_rowids(result, ids, count, validate=validate)
        return result

    @classmethod
    def from_tensor(cls, tensor, lengths=None, padding=None, ragged_rank=1, name=None,
                    row_splits_dtype=dtypes.int64):
        """A dense tensor's rows, cut to `lengths`, or before their trailing `padding`
        (values equal to padding, compared over any inner dimensions); with ragged_rank k
        the first k + 1 dimensions become ragged (the cut applies to the innermost)."""
        from tensorflux.ragged.ops import from_tensor

        return from_tensor(tensor, lengths, padding, ragged_rank,
                           _splits_dtype(row_splits_dtype))

    @classmethod
    def from_sparse(cls, st_input, name=None, row_splits_dtype=dtypes.int64):
        """A 2-D SparseTensor whose rows are filled from column 0 without gaps."""
        from tensorflux.ragged.ops import from_sparse

        return from_sparse(st_input, _splits_dtype(row_splits_dtype))

    # -- the parts
    @property
    def values(self):
        return self._values

    @property
    def row_splits(self):
        return self._row_splits

    @property
    def flat_values(self):
        values = self._values
        while isinstance(values, RaggedTensor):
            values = values._values
        return values

    @property
    def nested_row_splits(self):
        splits = [self._row_splits]
        values = self._values
        while isinstance(values, RaggedTensor):
            splits.append(values._row_splits)
            values = values._values
        return tuple(splits)

    @property
    def ragged_rank(self):
        values = self._values
        return 1 + (values.ragged_rank if isinstance(values, RaggedTensor) else 0)

    @property
    def dtype(self):
        return self.flat_values.dtype

    @property
    def row_splits_dtype(self):
        return self._row_splits.dtype

    @property
    def uniform_row_length(self):
        """The length of every row when this partition is uniform (a scalar of the splits'
        dtype), else None."""
        return self._uniform_row_length

    @property
    def shape(self):
        count = self._row_splits.shape[0]
        width = None if self._uniform_row_length is None else \
            _static_int(self._uniform_row_length)
        outer = TensorShape([None if count is None else count - 1, width])
        inner = self._values.shape
        return outer.concatenate(inner[1:]) if inner.rank is not None else TensorShape(None)

    def get_shape(self):
        return self.shape

    @property
    def _type_spec(self):
        return RaggedTensorSpec(self.shape, self.dtype, self.ragged_rank, self.row_splits_dtype,
                                flat_values_spec=None)

    def consumers(self):
        """The graph ops that use this value: none for an eager RaggedTensor (as TF's)."""
        return []

    @property
    def _row_partition(self):
        """The RowPartition of the outer ragged dimension (TF's private view)."""
        from tensorflux.ragged.row_partition import RowPartition

        return RowPartition._make(self._row_splits, self._uniform_row_length)

    # -- row partition views
    def nrows(self, out_type=None, name=None):
        count = tf.size(self._row_splits, out_type=self.row_splits_dtype) - 1
        return count if out_type is None else tf.cast(count, out_type)

    def row_lengths(self, axis=1, name=None):
        """The length of each row along `axis`: axis 0 gives the number of rows, axis 1 a
        vector of row lengths, a deeper axis a RaggedTensor of the lengths of the rows
        inside (also along the uniform inner dimensions).

        >>> import tensorflux as tf
        >>> tf.ragged.constant([[[1, 2], [3]], []]).row_lengths(axis=2).to_list()
        [[2, 1], []]
        """
        rank = self.shape.rank
        given = axis
        if axis < 0 and rank is not None:
            axis += rank
        if not 0 <= axis < rank:
            raise ValueError(f"row_lengths: axis {given} is out of range for a RaggedTensor "
                             f"of rank {rank}")
        if axis == 0:
            return self.nrows()
        if axis == 1:
            return self._row_splits[1:] - self._row_splits[:-1]
        if isinstance(self._values, RaggedTensor):
            return self.with_values(self._values.row_lengths(axis - 1))
        # A uniform dimension of the flat values: every row has its size.
        dims = tf.shape(self._values, out_type=self.row_splits_dtype)
        return self.with_values(tf.fill(dims[:axis - 1], dims[axis - 1]))

    def value_rowids(self, name=None):
        return _rowids(self._row_splits)

    def row_starts(self, name=None):
        return self._row_splits[:-1]

    def row_limits(self, name=None):
        return self._row_splits[1:]

    def nested_row_lengths(self, name=None):
        return tuple(s[1:] - s[:-1] for s in self.nested_row_splits)

    def nested_value_rowids(self, name=None):
        return tuple(_rowids(s) for s in self.nested_row_splits)

    def bounding_shape(self, axis=None, name=None, out_type=None):
        """The shape of the smallest dense tensor holding this one (longest rows)."""
        dtype = out_type or self.row_splits_dtype
        dims = [tf.reshape(tf.cast(self.nrows(), dtype), [1])]
        for splits in self.nested_row_splits:
            lengths = tf.cast(splits[1:] - splits[:-1], dtype)
            dims.append(tf.reshape(tf.reduce_max(tf.concat([lengths, tf.zeros([1], dtype)],
                                                           0)), [1]))
        dims.append(tf.shape(self.flat_values, out_type=dtype)[1:])
        shape = tf.concat(dims, 0)
        if axis is None:
            return shape
        if isinstance(axis, (list, tuple)) or getattr(getattr(axis, "shape", None), "rank",
                                                        0):
            return tf.gather(shape, axis)
        return shape[axis]

    # -- rebuilding
    def with_values(self, new_values):
        """The same row partition over other values (as many rows as the old values)."""
        values = _values("with_values", new_values)
        if isinstance(values, RaggedTensor) and values.row_splits_dtype is not \
                self.row_splits_dtype:
            values = values.with_row_splits_dtype(self.row_splits_dtype)
        return _ragged(values, self._row_splits, self._uniform_row_length)

    def with_flat_values(self, new_values):
        """The same nested row partitions over other flat values."""
        if isinstance(self._values, RaggedTensor):
            return _ragged(self._values.with_flat_values(new_values), self._row_splits,
                           self._uniform_row_length)
        return self.with_values(new_values)

    def merge_dims(self, outer_axis, inner_axis):
        """The dimensions outer_axis..inner_axis merged into one (the rows of merged ragged
        dimensions follow one another), as TF's RaggedTensor.merge_dims.

        >>> import tensorflux as tf
        >>> tf.ragged.constant([[[1], [2, 3]], [[4]]]).merge_dims(0, 1).to_list()
        [[1], [2, 3], [4]]
        """
        rank = self.shape.rank
        outer, inner = outer_axis, inner_axis
        if rank is not None:
            outer += rank if outer < 0 else 0
            inner += rank if inner < 0 else 0
        if rank is None or not 0 <= outer <= inner < rank:
            raise ValueError(f"RaggedTensor.merge_dims: expected 0 <= outer_axis <= inner_axis "
                             f"< rank {rank}, received {outer_axis} and {inner_axis}")
        if outer == inner:
            return self
        if outer > 1:  # the outermost partition stays as it is
            return self.with_values(_merged(self._values, outer - 1, inner - 1))
        if outer == 1:  # the outermost partition now splits the merged rows of its values
            splits = _merged_row_splits(self._values, inner - 1, self._row_splits)
            return _ragged(_merged(self._values, 0, inner - 1), splits)
        # Dropping the outermost partition puts row after row: merges dims 0 and 1.
        return _merged(self._values, 0, inner - 1)

    def with_row_splits_dtype(self, dtype):
        dtype = _splits_dtype(dtype)
        values = self._values
        if isinstance(values, RaggedTensor):
            values = values.with_row_splits_dtype(dtype)
        splits, length = self._row_splits, self._uniform_row_length
        if splits.dtype is not dtype:
            splits = tf.cast(splits, dtype)
            length = None if length is None else tf.cast(length, dtype)
        return _ragged(values, splits, length)

    # -- conversion
    def to_tensor(self, default_value=None, name=None, shape=None):
        """The dense tensor that pads each row with default_value (0, b"" or False) to the
        longest, or to `shape` (rows and values past it are cut off)."""
        from tensorflux.ragged.ops import to_tensor

        return to_tensor(self, default_value, shape)

    def to_sparse(self, name=None):
        from tensorflux.ragged.ops import to_sparse

        return to_sparse(self)

    def to_list(self):
        """The value as nested Python lists (eager only)."""
        flat = self._host("to_list", self.flat_values).tolist()
        for splits in reversed(self.nested_row_splits):
            bounds = self._host("to_list", splits).tolist()
            flat = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return flat

    def numpy(self):
        """The value as NumPy: ragged dimensions are 1-D object arrays of rows (eager only)."""
        return host_array(self._host("numpy", self.flat_values),
                          [self._host("numpy", s) for s in self.nested_row_splits])

    @staticmethod
    def _host(op, tensor):
        value = host_value(tensor)
        if value is None:
            raise ValueError(f"RaggedTensor.{op}() is only supported in eager mode (outside "
                             "tf.function)")
        return value

    def _is_eager(self):
        return all(host_value(t) is not None for t in (self.flat_values,)
                   + self.nested_row_splits)

    def __repr__(self):
        if self._is_eager():
            return f"<tf.RaggedTensor {format_array(self.numpy())}>"
        return f"tf.RaggedTensor(values={self._values!s}, row_splits={self._row_splits!s})"

    __str__ = __repr__

    # -- Python protocols
    def __getitem__(self, key):
        from tensorflux.ragged.indexing import getitem

        return getitem(self, key)

    def __iter__(self):
        count = host_value(self._row_splits)
        if count is None:
            raise TypeError("Iterating over a symbolic RaggedTensor is not allowed; use "
                            "tf.map_fn or index rows with rt[i]")
        return (self[i] for i in range(len(count) - 1))

    # rows, for tf.data (slicing a dataset source)
    def _row(self, index):
        return self[index]

    def _rows(self, start, stop):
        return self[start:stop]

    def __bool__(self):
        raise TypeError("The truth value of a RaggedTensor is ambiguous; use "
                        "tf.reduce_any/tf.reduce_all on it")

    def __hash__(self):
        raise TypeError("RaggedTensor is unhashable. Instead, use .ref() as the key.")

    # tf.<op> handlers, filled in by ragged/ops.py
    _DISPATCH = {}
    _dense_hint = ("convert it with rt.to_tensor(), or apply the op to its values with "
                   "tf.ragged.map_flat_values")


def _merged(values, outer, inner):
    """merge_dims of a RaggedTensor's values (a RaggedTensor or the dense flat values)."""
    if isinstance(values, RaggedTensor):
        return values.merge_dims(outer, inner)
    if outer == inner:
        return values
    dims = tf.shape(values)
    merged = tf.reduce_prod(dims[outer:inner + 1], keepdims=True)
    return tf.reshape(values, tf.concat([dims[:outer], merged, dims[inner + 1:]], 0))


def _merged_row_splits(values, inner, splits):
    """`splits` (row bounds over the rows of `values`) as bounds over the rows of
    values.merge_dims(0, inner): each row counts its elements along dims 1..inner."""
    if inner == 0:
        return splits
    if isinstance(values, RaggedTensor):
        below = tf.cast(tf.gather(values.row_splits, splits), splits.dtype)
        return _merged_row_splits(values.values, inner - 1, below)
    cells = tf.reduce_prod(tf.shape(values, out_type=splits.dtype)[1:inner + 1])
    return splits * cells


def _inner_splits_dtype(values):
    return values.row_splits_dtype if isinstance(values, RaggedTensor) else None


# -- operators: elementwise over the flat values (see ragged/ops.py)
def _binary_method(name, fn, reflected=False):
    def method(self, other):
        from tensorflux.ragged.ops import elementwise

        if other is None and name in ("__eq__", "__ne__"):  # (as Tensor: False, not an error)
            return name == "__ne__"
        return elementwise(name, fn, other, self) if reflected else \
            elementwise(name, fn, self, other)
    method.__name__ = name
    return method


def _unary_method(name, fn):
    def method(self):
        return self.with_flat_values(fn(self.flat_values))
    method.__name__ = name
    return method


def _logical_or_bitwise(logical, bitwise):
    """&, |, ^: logical on bools, bit by bit on integers (as TF's tensor operators)."""
    def fn(x, y):
        if x.dtype.is_integer:
            return getattr(tf.bitwise, bitwise)(x, y)
        return logical(x, y)
    return fn


for _name, _fn in (("add", tf.add), ("sub", tf.subtract), ("mul", tf.multiply),
                   ("truediv", tf.math.truediv), ("floordiv", tf.math.floordiv),
                   ("mod", tf.math.floormod), ("pow", tf.pow),
                   ("and", _logical_or_bitwise(tf.logical_and, "bitwise_and")),
                   ("or", _logical_or_bitwise(tf.logical_or, "bitwise_or")),
                   ("xor", _logical_or_bitwise(tf.logical_xor, "bitwise_xor"))):
    setattr(RaggedTensor, f"__{_name}__", _binary_method(f"__{_name}__", _fn))
    setattr(RaggedTensor, f"__r{_name}__", _binary_method(f"__r{_name}__", _fn, True))
for _name, _fn in (("lt", tf.less), ("le", tf.less_equal), ("gt", tf.greater),
                   ("ge", tf.greater_equal), ("eq", tf.equal), ("ne", tf.not_equal)):
    setattr(RaggedTensor, f"__{_name}__", _binary_method(f"__{_name}__", _fn))
for _name, _fn in (("neg", tf.negative), ("abs", tf.abs), ("invert", tf.logical_not)):
    setattr(RaggedTensor, f"__{_name}__", _unary_method(f"__{_name}__", _fn))
del _name, _fn


class RaggedTensorSpec(TypeSpec):
    """The shape (None for ragged dimensions), dtype, ragged_rank and row_splits_dtype of
    RaggedTensors.

    >>> import tensorflux as tf
    >>> tf.RaggedTensorSpec([None, None], tf.float32)
    RaggedTensorSpec(TensorShape([None, None]), tf.float32, 1, tf.int64)
    """

    __slots__ = ("_shape", "_dtype", "_ragged_rank", "_row_splits_dtype")

    value_type = RaggedTensor

    def __init__(self, shape=None, dtype=dtypes.float32, ragged_rank=None,
                 row_splits_dtype=dtypes.int64, flat_values_spec=None):
        self._shape = TensorShape(shape)
        self._dtype = dtypes.as_dtype(dtype)
        self._row_splits_dtype = _splits_dtype(row_splits_dtype)
        rank = self._shape.rank
        if ragged_rank is None:
            if rank is None:
                raise ValueError("RaggedTensorSpec: give ragged_rank when the shape's rank is "
                                 "unknown")
            ragged_rank = rank - 1
        if rank is not None and not 0 <= ragged_rank < max(rank, 1):
            raise ValueError(f"RaggedTensorSpec: ragged_rank must be in [0, {rank - 1}] for a "
                             f"shape of rank {rank}, received {ragged_rank}")
        self._ragged_rank = int(ragged_rank)

    shape = property(lambda self: self._shape)
    dtype = property(lambda self: self._dtype)
    ragged_rank = property(lambda self: self._ragged_rank)
    row_splits_dtype = property(lambda self: self._row_splits_dtype)

    @classmethod
    def from_value(cls, value):
        if not isinstance(value, RaggedTensor):
            raise TypeError(f"RaggedTensorSpec.from_value: expected a RaggedTensor, received "
                            f"{type(value).__name__}")
        return value._type_spec

    def _serialize(self):
        return (self._shape, self._dtype, self._ragged_rank, self._row_splits_dtype)

    @property
    def _component_specs(self):
        if self._ragged_rank == 0:
            return [TensorSpec(self._shape, self._dtype)]
        inner = self._shape[self._ragged_rank + 1:] if self._shape.rank is not None else \
            TensorShape(None)
        flat = TensorSpec(TensorShape([None]).concatenate(inner), self._dtype)
        return [flat] + [TensorSpec([None], self._row_splits_dtype)] * self._ragged_rank

    def _to_components(self, value):
        return [value.flat_values] + list(value.nested_row_splits)

    def _from_components(self, components):
        # (a dimension the spec knows the size of is a uniform partition, as it was)
        dims = self._shape.as_list() if self._shape.rank is not None else \
            [None] * (len(components) + 1)
        result = components[0]
        for level, splits in reversed(list(enumerate(components[1:]))):
            width = dims[level + 1]
            result = _ragged(result, splits, None if width is None else
                             tf.constant(width, splits.dtype))
        return result

    def _batch(self, batch_size):
        return RaggedTensorSpec(TensorShape([batch_size]).concatenate(self._shape),
                                self._dtype, self._ragged_rank + 1, self._row_splits_dtype)

    def _unbatch(self):
        return RaggedTensorSpec(self._shape[1:], self._dtype, self._ragged_rank - 1,
                                self._row_splits_dtype)

    def _stack(self, values):
        """Elements of this spec (Tensors for ragged_rank 0) as one batch: rows of a new
        ragged dimension (as tf.data batches them)."""
        from tensorflux.ragged.ops import stack

        return stack(values).with_row_splits_dtype(self._row_splits_dtype)

    def __repr__(self):
        return (f"RaggedTensorSpec({self._shape!r}, {self._dtype!r}, {self._ragged_rank}, "
                f"{self._row_splits_dtype!r})")

