"""tf.sets: intersection, union and difference of the sets along the last axis, and set sizes.

Each position of the leading axes holds one set: the values of a dense tensor's last axis, or
a SparseTensor's values there (duplicates count once). Results are SparseTensors whose rows
hold each set's members in ascending order, as TensorFlow returns them. The work is host-side
(tf.numpy_function): hashing values into sets, which no array kernel does.
"""

from tensorflux import dtypes, errors
from tensorflux.ops import array
from tensorflux.tensor import _TensorLike, convert_to_tensor

__all__ = ["difference", "intersection", "size", "union"]

_SET_TYPES = (dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8,
              dtypes.uint16, dtypes.string)


def _sparse_type():
    from tensorflux.sparse import SparseTensor

    return SparseTensor


def _checked(op, role, value):
    if not isinstance(value, (_TensorLike, _sparse_type())):
        value = convert_to_tensor(value)
    if value.dtype not in _SET_TYPES:
        raise TypeError(f"tf.sets.{op}: {role} must have dtype int8, int16, int32, int64, "
                        f"uint8, uint16 or string, received {value.dtype.name}")
    rank = value.shape.rank
    if rank is not None and rank < 2:
        raise errors.InvalidArgumentError(
            f"tf.sets.{op}: {role} must have rank 2 or more (the sets lie along the last "
            f"axis), received shape {value.shape}", f"sets.{op}")
    return value


def _components(value):
    if isinstance(value, _sparse_type()):
        return [value.indices, value.values, value.dense_shape]
    return [value]


def _unravel(position, shape):
    index = []
    for dim in reversed(shape):
        position, rest = divmod(position, dim) if dim else (0, 0)
        index.insert(0, rest)
    return tuple(index)


def _validated_sparse(op, indices, shape):
    """TensorFlow's validate_indices: in bounds, in row-major order, no repeats."""
    previous = None
    for index in indices:
        if any(not 0 <= i < d for i, d in zip(index, shape)):
            raise errors.InvalidArgumentError(
                f"tf.sets.{op}: index {list(index)} is out of bounds of dense_shape "
                f"{list(shape)}", f"sets.{op}")
        if previous is not None and index <= previous:
            raise errors.InvalidArgumentError(
                f"tf.sets.{op}: indices must be in row-major order without repeats; "
                f"{list(index)} follows {list(previous)} (tf.sparse.reorder sorts them, or "
                "pass validate_indices=False)", f"sets.{op}")
        previous = index


def _host_sets(op, arrays, sparse, validate):
    """({leading index: set of values}, leading shape) of one operand's host arrays."""
    if not sparse:
        values = arrays[0]
        batch = list(values.shape[:-1])
        rows = values.reshape(-1, values.shape[-1]).tolist()
        return {_unravel(p, batch): set(row) for p, row in enumerate(rows)}, batch
    indices, values, shape = (a.tolist() for a in arrays)
    indices = [tuple(i) for i in indices]
    if validate:
        _validated_sparse(op, indices, shape)
    sets = {}
    for index, value in zip(indices, values):
        sets.setdefault(index[:-1], set()).add(value)
    return sets, shape[:-1]


def _set_operation(op, a, b, combine, validate_indices):
    sparse_type = _sparse_type()
    a, b = _checked(op, "a", a), _checked(op, "b", b)
    if a.dtype is not b.dtype:
        raise TypeError(f"tf.sets.{op}: a and b must have one dtype, received {a.dtype.name} "
                        f"and {b.dtype.name}")
    if isinstance(a, sparse_type) and not isinstance(b, sparse_type):
        raise ValueError(f"tf.sets.{op}: a SparseTensor a with a dense b is not supported "
                         "(dense a with SparseTensor b is): swap them")
    a_sparse, b_sparse = isinstance(a, sparse_type), isinstance(b, sparse_type)
    a_parts, dtype = _components(a), a.dtype

    def compute(*arrays):
        from tensorflux.backends import numpy_backend

        a_sets, a_batch = _host_sets(op, arrays[:len(a_parts)], a_sparse, validate_indices)
        b_sets, b_batch = _host_sets(op, arrays[len(a_parts):], b_sparse, validate_indices)
        if list(a_batch) != list(b_batch):
            raise errors.InvalidArgumentError(
                f"tf.sets.{op}: a and b must have the same leading shape (all axes but the "
                f"last), received {list(a_batch)} and {list(b_batch)}", f"sets.{op}")
        indices, values, width = [], [], 0
        for key in sorted(set(a_sets) | set(b_sets)):
            members = sorted(combine(a_sets.get(key, set()), b_sets.get(key, set())))
            width = max(width, len(members))
            indices.extend(list(key) + [j] for j in range(len(members)))
            values.extend(members)
        rank = len(a_batch) + 1
        return (numpy_backend.asarray(indices, dtypes.int64).reshape(-1, rank),
                numpy_backend.asarray(values, dtype).reshape(-1),
                numpy_backend.asarray(list(a_batch) + [width], dtypes.int64))

    from tensorflux.control import numpy_function

    indices, values, dense_shape = numpy_function(
        compute, a_parts + _components(b), Tout=[dtypes.int64, dtype, dtypes.int64],
        stateful=False)
    return sparse_type(indices, values, dense_shape)


def _ordered(op, a, b, aminusb=True):
    # TensorFlow takes (dense, sparse) only: a (sparse, dense) pair is swapped, which for a
    # difference also swaps its direction.
    sparse_type = _sparse_type()
    if isinstance(a, sparse_type) and not isinstance(b, sparse_type):
        return b, a, not aminusb
    return a, b, aminusb


def intersection(a, b, validate_indices=True):
    """The members common to the sets of a and b, as a SparseTensor (rows sorted).

    >>> import tensorflux as tf
    >>> tf.sets.intersection([[1, 2, 3]], [[3, 1, 7]]).values.numpy().tolist()
    [1, 3]
    """
    a, b, _ = _ordered("intersection", a, b)
    return _set_operation("intersection", a, b, lambda x, y: x & y, validate_indices)


def union(a, b, validate_indices=True):
    """The members of the sets of a or of b, as a SparseTensor (rows sorted).

    >>> import tensorflux as tf
    >>> tf.sets.union([[1, 2]], [[3, 1]]).values.numpy().tolist()
    [1, 2, 3]
    """
    a, b, _ = _ordered("union", a, b)
    return _set_operation("union", a, b, lambda x, y: x | y, validate_indices)


def difference(a, b, aminusb=True, validate_indices=True):
    """The members of a's sets not in b's (b's not in a's when aminusb is False), as a
    SparseTensor (rows sorted).

    >>> import tensorflux as tf
    >>> tf.sets.difference([[1, 2, 3]], [[3, 1, 7]]).values.numpy().tolist()
    [2]
    """
    a, b, aminusb = _ordered("difference", a, b, aminusb)
    combine = (lambda x, y: x - y) if aminusb else (lambda x, y: y - x)
    return _set_operation("difference", a, b, combine, validate_indices)


def size(a, validate_indices=True):
    """The number of distinct values of each set of the SparseTensor a (int32, shape
    a.dense_shape[:-1]).

    >>> import tensorflux as tf
    >>> st = tf.SparseTensor([[0, 0], [0, 1], [1, 0]], [5, 5, 6], [2, 3])
    >>> tf.sets.size(st).numpy().tolist()
    [1, 1]
    """
    sparse_type = _sparse_type()
    if not isinstance(a, sparse_type):
        raise TypeError(f"tf.sets.size: a must be a SparseTensor, received "
                        f"{type(a).__name__}")
    a = _checked("size", "a", a)

    def compute(indices, values, shape):
        from tensorflux.backends import numpy_backend

        sets, batch = _host_sets("size", [indices, values, shape], True, validate_indices)
        counts = [0] * _product(batch)
        strides = _strides(batch)
        for key, members in sets.items():
            counts[sum(k * s for k, s in zip(key, strides))] = len(members)
        return numpy_backend.asarray(counts, dtypes.int32)

    from tensorflux.control import numpy_function

    counts = numpy_function(compute, _components(a), Tout=dtypes.int32, stateful=False)
    return array.reshape(counts, a.dense_shape[:-1])


def _product(shape):
    total = 1
    for dim in shape:
        total *= dim
    return total


def _strides(shape):
    strides, step = [], 1
    for dim in reversed(shape):
        strides.insert(0, step)
        step *= dim
    return strides
