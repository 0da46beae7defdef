"""tf.experimental.DynamicRaggedShape: the shape of a RaggedTensor (or a dense tensor) as
its row partitions, outermost first, and the shape of the flat values inside them.

tf.shape(rt) returns one; its uniform dimensions index like a shape vector (shape[0] is the
number of rows), and tf.reshape, tf.broadcast_to, tf.ones, tf.zeros and tf.fill accept one
as their shape and build a RaggedTensor of it.
"""

import tensorflux as tf
from tensorflux import dtypes, errors
from tensorflux.composite_tensor import CompositeTensor
from tensorflux.ragged.ragged_tensor import RaggedTensor, _ragged, _splits_dtype, _static_int
from tensorflux.ragged.row_partition import RowPartition
from tensorflux.sparse.sparse_tensor import host_value
from tensorflux.tensor import _TensorLike

__all__ = ["DynamicRaggedShape"]


def _vector(value, dtype):
    return tf.cast(tf.convert_to_tensor(value), dtype)


class DynamicRaggedShape(CompositeTensor):
    """The shape of a (possibly ragged) tensor: row partitions and an inner shape.

    >>> import tensorflux as tf
    >>> from tensorflux.ragged import DynamicRaggedShape
    >>> shape = DynamicRaggedShape.from_tensor(tf.ragged.constant([[1, 2, 3], [], [4, 5]]))
    >>> shape
    <DynamicRaggedShape lengths=[3, (3, 0, 2)] num_row_partitions=1>
    >>> int(shape[0]), shape.rank, shape.num_row_partitions
    (3, 2, 1)
    """

    __slots__ = ("_partitions", "_inner_shape", "_dtype")
    _is_tensor = False  # (tf.is_tensor: a shape, not a tensor value, as in TF)

    def __init__(self, row_partitions, inner_shape, dtype=None, validate=True,
                 static_inner_shape=None):
        """row_partitions: RowPartitions (or (row_splits, uniform_row_length or None)
        pairs), outermost first; inner_shape: the flat values' shape (a 1-D integer tensor)."""
        row_partitions = [(p.row_splits(), p.uniform_row_length())
                          if isinstance(p, RowPartition) else p for p in row_partitions]
        if dtype is None and row_partitions and not isinstance(inner_shape, _TensorLike):
            dtype = row_partitions[0][0].dtype if isinstance(row_partitions[0][0],
                                                             _TensorLike) else None
        dtype = _splits_dtype(dtype or getattr(inner_shape, "dtype", None) or dtypes.int64)
        self._dtype = dtype
        self._partitions = tuple(
            (_vector(splits, dtype), None if length is None else _vector(length, dtype))
            for splits, length in row_partitions)
        self._inner_shape = _vector(inner_shape, dtype)
        if self._inner_shape.shape.rank != 1 or self._inner_shape.shape[0] is None:
            raise ValueError(f"DynamicRaggedShape: inner_shape must be a vector of known "
                             f"length, received shape {tuple(self._inner_shape.shape)}")
        if self._partitions and self._inner_shape.shape[0] == 0:
            raise ValueError("DynamicRaggedShape: with row partitions the inner shape needs "
                             "at least one dimension (the number of values)")

    # -- constructors
    @classmethod
    def from_tensor(cls, t, dtype=None):
        """The shape of a RaggedTensor (its partitions and flat values' shape) or of a dense
        tensor (no partitions)."""
        if isinstance(t, RaggedTensor):
            dtype = _splits_dtype(dtype or t.row_splits_dtype)
            parts, value = [], t
            while isinstance(value, RaggedTensor):
                parts.append((value.row_splits, value.uniform_row_length))
                value = value.values
            return cls(parts, tf.shape(value, out_type=dtype), dtype)
        dtype = _splits_dtype(dtype or dtypes.int32)
        return cls([], tf.shape(tf.convert_to_tensor(t), out_type=dtype), dtype)

    @classmethod
    def from_row_partitions(cls, row_partitions, dtype=None):
        """The shape of values split by `row_partitions` (outermost first): the inner shape
        is the number of values of the last one."""
        row_partitions = list(row_partitions)
        if not row_partitions:
            raise ValueError("DynamicRaggedShape.from_row_partitions: row_partitions must "
                             "hold at least one RowPartition, received none")
        last = row_partitions[-1]
        if not isinstance(last, RowPartition):
            raise TypeError(f"DynamicRaggedShape.from_row_partitions: expected "
                            f"RowPartitions, received {type(last).__name__}")
        return cls(row_partitions, tf.reshape(last.nvals(), [1]), dtype)

    @classmethod
    def from_lengths(cls, lengths, num_row_partitions=None, dtype=dtypes.int64):
        """A shape from its dimensions: an int for a uniform one, a tuple (or vector) of
        row lengths for a ragged one; the first must be an int (the number of rows).

        >>> from tensorflux.ragged import DynamicRaggedShape
        >>> DynamicRaggedShape.from_lengths([2, (1, 2), 3])
        <DynamicRaggedShape lengths=[2, (1, 2), 3] num_row_partitions=1>
        """
        dtype = _splits_dtype(dtype)
        lengths = list(lengths)
        if not lengths:
            return cls([], tf.zeros([0], dtype), dtype)

        def ragged(item):
            return isinstance(item, (list, tuple)) or (
                isinstance(item, _TensorLike) and item.shape.rank == 1)

        if ragged(lengths[0]):
            raise ValueError(f"DynamicRaggedShape.from_lengths: the first dimension must be "
                             f"uniform (a number), received {lengths[0]!r}")
        last = max((i for i, item in enumerate(lengths) if ragged(item)), default=0)
        if num_row_partitions is not None:
            if num_row_partitions < last:
                raise ValueError(f"DynamicRaggedShape.from_lengths: num_row_partitions="
                                 f"{num_row_partitions} leaves a ragged dimension inside the "
                                 f"flat values ({lengths})")
            last = num_row_partitions
        count = tf.cast(lengths[0], dtype)
        parts = []
        for item in lengths[1:last + 1]:
            if ragged(item):
                row_lengths = _vector(item, dtype)
                _check_count(row_lengths, count, lengths)
                splits = tf.concat([tf.zeros([1], dtype), tf.cumsum(row_lengths)], 0)
                parts.append((splits, None))
                count = splits[-1]
            else:
                width = tf.cast(item, dtype)
                parts.append((tf.range(count + 1, dtype=dtype) * width, width))
                count = count * width
        inner = tf.stack([count] + [tf.cast(d, dtype) for d in lengths[last + 1:]])
        return cls(parts, inner, dtype)

    # -- what it holds
    @property
    def dtype(self):
        return self._dtype

    @property
    def num_row_partitions(self):
        return len(self._partitions)

    @property
    def rank(self):
        return self.num_row_partitions + self._inner_shape.shape[0]

    @property
    def inner_shape(self):
        """The shape of the flat values (their first dimension counts them all)."""
        return self._inner_shape

    @property
    def row_partitions(self):
        """The RowPartitions of the ragged (and uniform) dimensions 1..num_row_partitions."""
        return tuple(RowPartition._make(splits, length) for splits, length in self._partitions)

    @property
    def row_lengths(self):
        return tuple(s[1:] - s[:-1] for s, _ in self._partitions)

    def is_uniform(self, axis):
        """Whether dimension `axis` has one size (the outer and inner dimensions always)."""
        axis = self._axis(axis)
        return not 1 <= axis <= self.num_row_partitions or \
            self._partitions[axis - 1][1] is not None

    def with_dtype(self, dtype):
        dtype = _splits_dtype(dtype)
        return DynamicRaggedShape(self._partitions, self._inner_shape, dtype)

    def _axis(self, axis):
        rank = self.rank
        if not -rank <= int(axis) < rank:
            raise IndexError(f"DynamicRaggedShape index {axis} is out of range for rank "
                             f"{rank}")
        return int(axis) % rank

    def _nrows(self):
        if self._partitions:
            return tf.size(self._partitions[0][0], out_type=self._dtype) - 1
        return self._inner_shape[0]

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self._sliced(key)
        axis = self._axis(key)
        if axis == 0:
            return self._nrows()
        if axis <= self.num_row_partitions:
            length = self._partitions[axis - 1][1]
            if length is None:
                raise ValueError(f"Index {axis} is not uniform: the rows along it have "
                                 f"different lengths, see static_lengths()")
            return length
        return self._inner_shape[axis - self.num_row_partitions]

    def _sliced(self, key):
        start, stop, step = key.indices(self.rank)
        if start == 0 and step == 1:  # a prefix keeps the partitions it spans
            stop = max(stop, 0)
            count = self.num_row_partitions
            if stop > count:
                return DynamicRaggedShape(self._partitions, self._inner_shape[:stop - count],
                                          self._dtype)
            if stop == 0:
                return DynamicRaggedShape([], tf.zeros([0], self._dtype), self._dtype)
            parts = self._partitions[:stop - 1]
            total = parts[-1][0][-1] if parts else self._nrows()
            return DynamicRaggedShape(parts, tf.reshape(total, [1]), self._dtype)
        axes = list(range(start, stop, step))
        if not all(self.is_uniform(a) for a in axes):
            raise ValueError(f"DynamicRaggedShape[{key.start}:{key.stop}:{key.step}]: all "
                             f"relevant dimensions must be uniform")
        dims = [self[a] for a in axes]
        inner = tf.stack(dims) if dims else tf.zeros([0], self._dtype)
        return DynamicRaggedShape([], inner, self._dtype)

    def static_lengths(self):
        """Each dimension as Python values where known: an int for a uniform one, a tuple
        of row lengths for a ragged one (None where unknown)."""
        out = [_static_int(self._nrows())]
        for splits, length in self._partitions:
            if length is not None:
                out.append(_static_int(length))
                continue
            known = host_value(splits)
            out.append(None if known is None else tuple(
                int(b - a) for a, b in zip(known[:-1].tolist(), known[1:].tolist())))
        inner = host_value(self._inner_shape)
        out.extend([None] * (self._inner_shape.shape[0] - 1) if inner is None else
                   [int(d) for d in inner.tolist()[1:]])
        return out

    def _to_tensor_shape(self):
        lengths = self.static_lengths()
        return tf.TensorShape([d if isinstance(d, int) else None for d in lengths])

    def _num_elements(self):
        return tf.reduce_prod(self._inner_shape)

    def __repr__(self):
        lengths = ", ".join("None" if d is None else
                            "(" + ", ".join(str(v) for v in d) + ("," if len(d) == 1 else "")
                            + ")" if isinstance(d, tuple) else str(d)
                            for d in self.static_lengths())
        return f"<DynamicRaggedShape lengths=[{lengths}] num_row_partitions=" \
               f"{self.num_row_partitions}>"

    __str__ = __repr__

    # -- building values of this shape
    def _filled(self, op, flat):
        """A (ragged) tensor of this shape holding the vector `flat` in row-major order."""
        count = host_value(self._num_elements())
        size = flat.shape[0]
        if count is not None and size is not None and int(count) != size:
            raise errors.InvalidArgumentError(
                f"{op}: {size} values do not fill a shape {self!r} ({int(count)} "
                f"elements)", op)
        result = tf.reshape(flat, self._inner_shape)
        for splits, length in reversed(self._partitions):
            result = _ragged(result, splits, length)
        return result

    def _template(self):
        return self._filled("broadcast_to", tf.zeros(tf.reshape(self._num_elements(), [1]),
                                                     dtypes.int32))

    def _broadcast(self, op, value):
        """A dense value broadcast to this shape (dimensions facing ragged ones size 1)."""
        from tensorflux.ragged.ops import elementwise

        if isinstance(value, RaggedTensor):
            raise errors.UnimplementedError(
                f"{op}: broadcasting a RaggedTensor to a DynamicRaggedShape is not "
                "supported; broadcast a dense tensor", op)
        value = tf.convert_to_tensor(value)
        if value.shape.rank is not None and value.shape.rank > self.rank:
            raise errors.InvalidArgumentError(
                f"{op}: a value of rank {value.shape.rank} cannot broadcast to the shape "
                f"{self!r} (rank {self.rank})", op)
        if not self._partitions:
            return tf.broadcast_to(value, self._inner_shape)
        return elementwise(op, lambda cell, v: tf.broadcast_to(v, tf.shape(cell)),
                           self._template(), value)

    def _as_tensor(self, dtype=None):
        """A shape vector, when every dimension is uniform."""
        if not all(self.is_uniform(a) for a in range(self.rank)):
            raise ValueError(f"A DynamicRaggedShape with ragged dimensions ({self!r}) has no "
                             "shape vector; index its uniform dimensions instead")
        dims = [self[a] for a in range(self.rank)]
        vector = tf.stack(dims) if dims else tf.zeros([0], self._dtype)
        return vector if dtype is None else tf.cast(vector, dtype)


def _check_count(row_lengths, count, lengths):
    known, rows = host_value(row_lengths), host_value(count)
    if known is not None and rows is not None and len(known) != int(rows):
        raise ValueError(f"DynamicRaggedShape.from_lengths: {len(known)} row lengths for "
                         f"{int(rows)} rows in {lengths}: the shape is not consistent")


# -- tf.<op> handlers with a DynamicRaggedShape argument (see CompositeTensor._dispatch)

def _ones(shape, dtype=dtypes.float32, name=None, layout=None):
    return shape._filled("ones", tf.ones(tf.reshape(shape._num_elements(), [1]), dtype))


def _zeros(shape, dtype=dtypes.float32, name=None, layout=None):
    return shape._filled("zeros", tf.zeros(tf.reshape(shape._num_elements(), [1]), dtype))


def _fill(dims, value, name=None, layout=None):
    return dims._broadcast("fill", tf.convert_to_tensor(value))


def _reshape(tensor, shape, name=None):
    from tensorflux.ragged.array_ops import reshape

    return reshape(tensor, shape)


def _broadcast_to(input, shape, name=None):  # noqa: A002 - TF's argument name
    return shape._broadcast("broadcast_to", input)


DynamicRaggedShape._DISPATCH = {
    "ones": lambda found, *a, **k: _ones(*a, **k),
    "zeros": lambda found, *a, **k: _zeros(*a, **k),
    "fill": lambda found, *a, **k: _fill(*a, **k),
    "reshape": lambda found, *a, **k: _reshape(*a, **k),
    "broadcast_to": lambda found, *a, **k: _broadcast_to(*a, **k),
}
DynamicRaggedShape._dense_hint = "index its uniform dimensions (shape[0]) instead"
