"""tf.IndexedSlices: rows `values` of a tensor at `indices` (dense_shape its full shape).

tensorflux's gradients are dense tensors, so IndexedSlices appear only where a program makes
them: the sparse updates of Variable.scatter_* (custom optimizers), and code that checks
`isinstance(grad, tf.IndexedSlices)`. Converting one to a tensor (tf.convert_to_tensor, any
op) sums the rows into a dense tensor of dense_shape, duplicates added, as in TensorFlow.
"""

__all__ = ["IndexedSlices"]


class IndexedSlices:
    """Rows `values[i]` of a tensor at row `indices[i]`, in a tensor of `dense_shape`.

    >>> import tensorflux as tf
    >>> slices = tf.IndexedSlices(tf.constant([[1.0, 2.0]]), tf.constant([2]),
    ...                           tf.constant([3, 2]))
    >>> tf.convert_to_tensor(slices).numpy().tolist()
    [[0.0, 0.0], [0.0, 0.0], [1.0, 2.0]]
    """

    def __init__(self, values, indices, dense_shape=None):
        from tensorflux.tensor import convert_to_tensor

        self._values = convert_to_tensor(values)
        self._indices = convert_to_tensor(indices)
        self._dense_shape = None if dense_shape is None else convert_to_tensor(dense_shape)

    values = property(lambda self: self._values)
    indices = property(lambda self: self._indices)
    dense_shape = property(lambda self: self._dense_shape)
    dtype = property(lambda self: self._values.dtype)
    device = property(lambda self: self._values.device)

    @property
    def shape(self):
        """dense_shape where it is known, else the values' shape with an unknown first dim."""
        from tensorflux.tensor_shape import TensorShape

        if self._dense_shape is not None and self._dense_shape._value is not None:
            return TensorShape([int(d) for d in self._dense_shape.numpy()])
        return TensorShape([None]).concatenate(self._values.shape[1:])

    def _as_tensor(self, dtype=None):
        from tensorflux import dtypes
        from tensorflux.ops.composite import unchecked_segment_sum

        if self._dense_shape is None:
            raise ValueError(f"Tensor conversion of an IndexedSlices without dense_shape: its "
                             f"number of rows is unknown (values shape {self._values.shape}); "
                             "give dense_shape when making it")
        if dtype is not None and dtypes.as_dtype(dtype) is not self.dtype:
            raise ValueError(f"Tensor conversion requested dtype {dtypes.as_dtype(dtype).name} "
                             f"for IndexedSlices with dtype {self.dtype.name}")
        return unchecked_segment_sum(self._values, self._indices, self._dense_shape[0])

    def __neg__(self):
        return IndexedSlices(-self._values, self._indices, self._dense_shape)

    def __repr__(self):
        shape = "None" if self._dense_shape is None else repr(self._dense_shape)
        return (f"IndexedSlices(indices={self._indices!r}, values={self._values!r}, "
                f"dense_shape={shape})")
