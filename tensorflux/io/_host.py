"""Running a NumPy function over tensors as an op of tf.io: at once on eager tensors, and as
a host call (tf.numpy_function) on symbolic ones, inside tf.function or while Dataset.map
traces its function, with the results given their static shapes.
"""

from tensorflux import dtypes, errors

__all__ = ["Output", "operand", "run"]


class Output:
    """One result of a host op: its dtype and static shape. `dims` lists the dimensions
    (-1 unknown; None: unknown rank) after the shape of the input `prefix`, if given."""

    __slots__ = ("dtype", "dims", "prefix")

    def __init__(self, dtype, dims, prefix=None):
        self.dtype = dtypes.as_dtype(dtype)
        self.dims = dims
        self.prefix = prefix


def operand(op, value, dtype=None):
    """`value` as a tensor (of `dtype`, when given: a tensor of another dtype is an error)."""
    from tensorflux.tensor import _TensorLike, convert_to_tensor

    tensor = value if isinstance(value, _TensorLike) else convert_to_tensor(value, dtype=dtype)
    if dtype is not None and tensor.dtype is not dtypes.as_dtype(dtype):
        raise errors.InvalidArgumentError(
            f"{op}: expected a {dtypes.as_dtype(dtype).name} tensor, received "
            f"{tensor.dtype.name} with shape {tuple(tensor.shape)}", op)
    return tensor


def run(inputs, host, outputs):
    """host(*input arrays) -> one array per Output; returns the result tensors."""
    from tensorflux.tensor import constant

    if all(tensor._value is not None for tensor in inputs):
        arrays = host(*[tensor.numpy() for tensor in inputs])
        return [constant(a, dtype=o.dtype) for a, o in zip(arrays, outputs)]
    from tensorflux.control import numpy_function
    from tensorflux.ops.array import concat, reshape, shape

    flat = numpy_function(lambda *values: list(host(*values)), list(inputs),
                          Tout=[o.dtype for o in outputs])
    shaped = []
    for tensor, output in zip(flat, outputs):
        if output.dims is None:
            shaped.append(tensor)
            continue
        dims = constant(output.dims, dtype=dtypes.int32)
        if output.prefix is not None:
            dims = concat([shape(output.prefix), dims], 0)
        shaped.append(reshape(tensor, dims))
    return shaped
