"""SparseTensor and SparseTensorSpec: a tensor stored as (indices, values, dense_shape).

The three parts are ordinary tensors, so a SparseTensor works eagerly and inside
tf.function, and gradients reach its values through the ops that read them. Index checks
that need the values of `indices` (bounds, order) run eagerly; traced code skips them.
"""

import tensorflux as tf
from tensorflux import dtypes, errors
from tensorflux.composite_tensor import CompositeTensor, TypeSpec
from tensorflux.tensor import TensorSpec, _TensorLike
from tensorflux.tensor_shape import TensorShape

__all__ = ["SparseTensor", "SparseTensorSpec", "as_sparse", "host_value"]


def host_value(tensor):
    """The value of an eager tensor as NumPy (never written into), None for a symbolic one."""
    if getattr(tensor, "_value", None) is None:
        return None
    return tensor._numpy()


def _int64(op, value, what):
    """An int64 tensor for an index-like argument; other integer tensors are cast."""
    if isinstance(value, _TensorLike):
        if not value.dtype.is_integer:
            raise TypeError(f"{op}: {what} must be integers (int64), received a "
                            f"{value.dtype.name} tensor of shape {tuple(value.shape)}")
        return value if value.dtype is dtypes.int64 else tf.cast(value, dtypes.int64)
    return tf.convert_to_tensor(value, dtype=dtypes.int64)


def _check_parts(op, indices, values, dense_shape):
    if indices.shape.rank not in (None, 2):
        raise ValueError(f"{op}: indices must be a matrix [N, rank] (one row per value), "
                         f"received shape {tuple(indices.shape)}")
    if values.shape.rank not in (None, 1):
        raise ValueError(f"{op}: values must be a vector [N], received shape "
                         f"{tuple(values.shape)}")
    if dense_shape.shape.rank not in (None, 1):
        raise ValueError(f"{op}: dense_shape must be a vector [rank], received shape "
                         f"{tuple(dense_shape.shape)}")
    count = indices.shape[0] if indices.shape.rank else None
    found = values.shape[0] if values.shape.rank else None
    if count is not None and found is not None and count != found:
        raise ValueError(f"{op}: expected one row of indices per value, but indices has "
                         f"{count} rows and values has {found} entries")
    rank = indices.shape[1] if indices.shape.rank else None
    dims = dense_shape.shape[0] if dense_shape.shape.rank else None
    if rank is not None and dims is not None and rank != dims:
        raise ValueError(f"{op}: each row of indices must have one entry per dimension of "
                         f"dense_shape ({dims}), received rows of {rank} entries")
    shape = host_value(dense_shape)
    if shape is not None and (shape < 0).any():
        raise ValueError(f"{op}: dense_shape must be non-negative, received {shape.tolist()}")


def _static_shape(dense_shape, indices):
    known = host_value(dense_shape)
    if known is None:
        from tensorflux.graph.static import get_static_value

        known = get_static_value(dense_shape)
    if known is not None:
        return TensorShape(known.tolist())
    rank = dense_shape.shape[0] if dense_shape.shape.rank else None
    if rank is None and indices.shape.rank:
        rank = indices.shape[1]
    return TensorShape(None if rank is None else [None] * rank)


class SparseTensor(CompositeTensor):
    """A tensor of shape `dense_shape` whose entries are 0 except `values` at `indices`.

    `indices` is an int64 [N, rank] matrix, `values` a [N] vector and `dense_shape` an int64
    [rank] vector. Most ops want the indices in row-major order (tf.sparse.reorder sorts them).

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [2, 3]], [1.0, 2.0], [3, 4])
    >>> st.shape, tf.sparse.to_dense(st).numpy()[2].tolist()
    (TensorShape([3, 4]), [0.0, 0.0, 0.0, 2.0])
    """

    __slots__ = ("_indices", "_values", "_dense_shape", "_shape")

    def __init__(self, indices, values, dense_shape):
        op = "SparseTensor"
        indices = _int64(op, indices, "indices")
        values = tf.convert_to_tensor(values)  # (a Variable: its value, read on the tape)
        dense_shape = _int64(op, dense_shape, "dense_shape")
        _check_parts(op, indices, values, dense_shape)
        self._indices = indices
        self._values = values
        self._dense_shape = dense_shape
        self._shape = _static_shape(dense_shape, indices)

    @classmethod
    def from_value(cls, sparse_tensor_value):
        """A SparseTensor from a SparseTensor or a SparseTensorValue (indices, values,
        dense_shape), as returned by ctc decoders and VarLenFeature parsing."""
        return as_sparse("SparseTensor.from_value", sparse_tensor_value)

    # -- the parts
    @property
    def indices(self):
        return self._indices

    @property
    def values(self):
        return self._values

    @property
    def dense_shape(self):
        return self._dense_shape

    @property
    def dtype(self):
        return self._values.dtype

    @property
    def shape(self):
        return self._shape

    def get_shape(self):
        return self._shape

    def set_shape(self, shape):
        """Refines the static shape (the dense_shape tensor is unchanged)."""
        shape = TensorShape(shape)
        if not self._shape.is_compatible_with(shape):
            raise ValueError(f"SparseTensor.set_shape: the shape {self._shape} is not "
                             f"compatible with {shape}")
        self._shape = self._shape.merge_with(shape)

    @property
    def _type_spec(self):
        return SparseTensorSpec(self._shape, self.dtype)

    def with_values(self, new_values):
        """The same indices and dense_shape with other values (one per index row)."""
        values = tf.convert_to_tensor(new_values)
        if values.shape.rank != 1 or (values.shape[0] is not None
                                      and self._values.shape[0] is not None
                                      and values.shape[0] != self._values.shape[0]):
            raise ValueError(f"SparseTensor.with_values: expected values of shape "
                             f"{tuple(self._values.shape)}, received {tuple(values.shape)}")
        return _rebuilt(self._indices, values, self._dense_shape, self._shape)

    # -- rows, for tf.data (slicing a dataset source, batching elements)
    def _rows(self, start, stop):
        """The SparseTensor of rows start..stop-1 of the first dimension."""
        first = self._indices[:, 0]
        keep = tf.logical_and(first >= start, first < stop)
        shift = tf.one_hot(0, tf.size(self._dense_shape), dtype=dtypes.int64) * start
        count = tf.minimum(tf.cast(stop, dtypes.int64), self._dense_shape[0]) - start
        dense_shape = tf.concat([tf.reshape(tf.maximum(count, 0), [1]),
                                 self._dense_shape[1:]], 0)
        return _rebuilt(tf.boolean_mask(self._indices, keep) - shift,
                        tf.boolean_mask(self._values, keep), dense_shape, None)

    def _row(self, index):
        """Row `index` of the first dimension, as a SparseTensor of one rank less."""
        keep = tf.equal(self._indices[:, 0], index)
        return _rebuilt(tf.boolean_mask(self._indices[:, 1:], keep),
                        tf.boolean_mask(self._values, keep), self._dense_shape[1:], None)

    # -- elementwise with a dense tensor (TensorFlow's sparse-dense cwise ops)
    def __mul__(self, other):
        return _cwise("mul", tf.multiply, self, other)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return _cwise("truediv", tf.math.truediv, self, other)

    __div__ = __truediv__

    # tf.<op> handlers, filled in by sparse/ops.py
    _DISPATCH = {}
    _dense_hint = "densify it with tf.sparse.to_dense, or use the tf.sparse ops"

    def __repr__(self):
        return (f"SparseTensor(indices={self._indices!s}, values={self._values!s}, "
                f"dense_shape={self._dense_shape!s})")

    __str__ = __repr__


def _rebuilt(indices, values, dense_shape, shape):
    """A SparseTensor from parts already checked (ops building their results)."""
    result = object.__new__(SparseTensor)
    result._indices = indices
    result._values = values
    result._dense_shape = dense_shape
    result._shape = shape if shape is not None else _static_shape(dense_shape, indices)
    return result


def _cwise(name, fn, sparse, other):
    """values (op) the dense operand at each index: the dense side broadcasts to the sparse
    shape (only that way, as TensorFlow's SparseDenseCwise ops)."""
    if isinstance(other, _TensorLike):
        dense = tf.convert_to_tensor(other)
    elif isinstance(other, (int, float)):
        dense = tf.convert_to_tensor(other, dtype=sparse.dtype)
    else:
        dense = tf.convert_to_tensor(other, dtype_hint=sparse.dtype)
    rank = sparse.shape.rank
    if dense.shape.rank == 0:
        return sparse.with_values(fn(sparse.values, dense))
    dims = dense.shape.as_list()
    if rank is not None and (len(dims) > rank or any(
            d not in (1, s) and s is not None for d, s in zip(dims[::-1], sparse.shape[::-1]))):
        raise errors.InvalidArgumentError(
            f"SparseTensor.__{name}__: the dense operand broadcasts to the sparse shape only; "
            f"received dense shape {tuple(dims)} for sparse shape {sparse.shape}",
            f"sparse_dense_cwise_{name}")
    # The dense entry of each index: the index's trailing part, 0 where dense has a 1.
    columns = sparse.indices[:, rank - len(dims):]
    keep = tf.constant([0 if d == 1 else 1 for d in dims], dtype=dtypes.int64)
    return sparse.with_values(fn(sparse.values, tf.gather_nd(dense, columns * keep)))


class SparseTensorSpec(TypeSpec):
    """The shape (of the dense tensor) and dtype of SparseTensors.

    >>> import tensorflux as tf
    >>> tf.SparseTensorSpec([None, 4], tf.float32)
    SparseTensorSpec(TensorShape([None, 4]), tf.float32)
    """

    __slots__ = ("_shape", "_dtype")

    value_type = SparseTensor

    def __init__(self, shape=None, dtype=dtypes.float32):
        self._shape = TensorShape(shape)
        self._dtype = dtypes.as_dtype(dtype)

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self._dtype

    @classmethod
    def from_value(cls, value):
        value = as_sparse("SparseTensorSpec.from_value", value)
        return cls(value.shape, value.dtype)

    def _serialize(self):
        return (self._shape, self._dtype)

    @property
    def _component_specs(self):
        rank = self._shape.rank
        return [TensorSpec([None, rank], dtypes.int64), TensorSpec([None], self._dtype),
                TensorSpec([rank], dtypes.int64)]

    def _to_components(self, value):
        return [value.indices, value.values, value.dense_shape]

    def _from_components(self, components):
        indices, values, dense_shape = components
        return _rebuilt(indices, values, dense_shape,
                        self._shape.merge_with(_static_shape(dense_shape, indices)))

    def _batch(self, batch_size):
        return SparseTensorSpec(TensorShape([batch_size]).concatenate(self._shape),
                                self._dtype)

    def _unbatch(self):
        return SparseTensorSpec(self._shape[1:], self._dtype)

    def _stack(self, values):
        """SparseTensors of this spec as one batch: a new first dimension, the others
        widened to the largest (as tf.data batches them)."""
        values = [as_sparse("batch", v) for v in values]
        def batch_column(i, v):
            return tf.fill(tf.stack([tf.shape(v.indices)[0], 1]), tf.constant(i, dtypes.int64))

        indices = tf.concat([tf.concat([batch_column(i, v), v.indices], 1)
                             for i, v in enumerate(values)], 0)
        dims = tf.reduce_max(tf.stack([v.dense_shape for v in values]), axis=0)
        dense_shape = tf.concat([tf.constant([len(values)], dtypes.int64), dims], 0)
        return _rebuilt(indices, tf.concat([v.values for v in values], 0), dense_shape, None)

    def __repr__(self):
        return f"SparseTensorSpec({self._shape!r}, {self._dtype!r})"


def as_sparse(op, value):
    """`value` as a SparseTensor: a SparseTensor, or a SparseTensorValue (any object with
    indices, values and dense_shape, as the ctc decoders and VarLenFeature parsing return)."""
    if isinstance(value, SparseTensor):
        return value
    if not isinstance(value, _TensorLike) and all(
            hasattr(value, name) for name in ("indices", "values", "dense_shape")):
        return SparseTensor(value.indices, value.values, value.dense_shape)
    shown = (f"a {value.dtype.name} tensor of shape {tuple(value.shape)}"
             if isinstance(value, _TensorLike) else f"{type(value).__name__} {value!r}")
    raise TypeError(f"{op}: expected a SparseTensor, received {shown}")
