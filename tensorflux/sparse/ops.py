"""The tf.sparse ops, written with ordinary tensorflux ops on a SparseTensor's parts.

Index arithmetic (row-major positions, sorting, segment ids) is integer work with no
gradient; values only move through gather, segment sums and scatters, whose gradients are
defined, so gradients reach `values` and any dense operand. Checks that read the indices
(bounds, order) run eagerly, where their values are known.
"""

import builtins

import tensorflux as tf
from tensorflux import dtypes, errors
from tensorflux.composite_tensor import swap_composites
from tensorflux.ops import composite as _composite
from tensorflux.ops._core import normalize_axis
from tensorflux.sparse.sparse_tensor import (
    SparseTensor,
    _int64,
    _rebuilt,
    as_sparse,
    host_value,
)
from tensorflux.tensor import _TensorLike
from tensorflux.tensor_shape import TensorShape

__all__ = ["from_dense", "to_dense", "reorder", "reshape", "transpose", "concat", "add",
           "reduce_sum", "reduce_max", "sparse_dense_matmul", "retain", "slice",
           "fill_empty_rows", "to_indicator", "expand_dims", "segment_sum", "segment_mean",
           "segment_sqrt_n", "bincount", "cross", "cross_hashed", "mask", "map_values", "eye",
           "maximum", "minimum", "softmax", "split", "reset_shape"]


# ------------------------------------------------------------------ shared index arithmetic

def _strides(dense_shape):
    """Row-major strides of a shape vector (int64)."""
    return tf.math.cumprod(dense_shape, exclusive=True, reverse=True)


def _linear(indices, dense_shape):
    """The row-major position of each index row in a tensor of `dense_shape`."""
    return tf.reduce_sum(indices * _strides(dense_shape), axis=1)


def _unravel(linear, dense_shape):
    """Index rows of row-major positions (the inverse of _linear)."""
    return tf.math.floormod(tf.math.floordiv(tf.expand_dims(linear, 1), _strides(dense_shape)),
                            dense_shape)


def _runs(keys):
    """(order, first, segment_ids, count): the stable sort of `keys`, whether each sorted key
    starts a new run of equal keys, the run number of each sorted key, and the run count."""
    order = tf.argsort(keys, stable=True)
    ordered = tf.gather(keys, order)
    # (the first key is compared with itself minus one: always a new run)
    first = tf.not_equal(ordered, tf.concat([ordered[:1] - 1, ordered[:-1]], 0))
    ids = tf.cumsum(tf.cast(first, dtypes.int32)) - 1
    return order, first, ids, tf.reduce_sum(tf.cast(first, dtypes.int32))


def _rank(op, sp):
    rank = sp.shape.rank
    if rank is None:
        raise errors.InvalidArgumentError(
            f"{op}: the SparseTensor's rank must be known (its dense_shape has an unknown "
            "length)", op)
    return rank


def _shown(row):
    return "[" + ", ".join(str(int(v)) for v in row) + "]"


def _check_indices(op, sp, ordered=False):
    """Eagerly: every index inside dense_shape and, if `ordered`, strictly increasing in
    row-major order (no repeats), as TensorFlow's ops that need canonical order check."""
    indices, shape = host_value(sp.indices), host_value(sp.dense_shape)
    if indices is None or shape is None or not len(indices):
        return
    outside = ((indices < 0) | (indices >= shape)).any(axis=1)
    if outside.any():
        k = int(outside.argmax())
        raise errors.InvalidArgumentError(
            f"{op}: indices[{k}] = {_shown(indices[k])} is out of bounds: expected "
            f"0 <= index < {_shown(shape)}", op)
    if not ordered:
        return
    strides = [1] * len(shape)
    for d in builtins.range(len(shape) - 2, -1, -1):
        strides[d] = strides[d + 1] * int(shape[d + 1])
    linear = indices.dot(strides)
    steps = linear[1:] - linear[:-1]
    if (steps <= 0).any():
        k = int((steps <= 0).argmax()) + 1
        problem = "is repeated" if steps[k - 1] == 0 else "is out of order"
        raise errors.InvalidArgumentError(
            f"{op}: indices[{k}] = {_shown(indices[k])} {problem}; {op} needs indices in "
            "row-major order without repeats. Use tf.sparse.reorder to sort them.", op)


def _dense_shape_of(sp, axis):
    """Dimension `axis` of the dense shape: an int when static, else a scalar int64 tensor."""
    dim = sp.shape[axis]
    return dim if dim is not None else sp.dense_shape[axis]


# ------------------------------------------------------------------ conversion

def from_dense(tensor, name=None):
    """The SparseTensor of a dense tensor's nonzero (non-empty, for strings) entries.

    >>> import tensorflux as tf
    >>> st = tf.sparse.from_dense([[0, 2], [3, 0]])
    >>> st.indices.numpy().tolist(), st.values.numpy().tolist()
    ([[0, 1], [1, 0]], [2, 3])
    """
    x = tf.convert_to_tensor(tensor)
    zero = tf.constant(b"" if x.dtype is dtypes.string else 0, dtype=x.dtype)
    indices = tf.where(tf.not_equal(x, zero))
    return _rebuilt(indices, tf.gather_nd(x, indices), tf.shape(x, out_type=dtypes.int64),
                    x.shape)


def to_dense(sp_input, default_value=None, validate_indices=True, name=None):
    """The dense tensor of a SparseTensor; unset entries are `default_value` (0 or b"").

    With validate_indices (the default) the indices must be in row-major order without
    repeats (tf.sparse.reorder sorts them); out-of-bounds indices are always an error.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1]], [5.0], [2, 2])
    >>> tf.sparse.to_dense(st, default_value=-1.0).numpy().tolist()
    [[-1.0, 5.0], [-1.0, -1.0]]
    """
    sp = as_sparse("to_dense", sp_input)
    _check_indices("to_dense", sp, ordered=validate_indices)
    if default_value is None and sp.dtype is not dtypes.string:
        dense = tf.scatter_nd(sp.indices, sp.values, sp.dense_shape)
    else:
        if default_value is None:
            default_value = b""
        base = tf.fill(sp.dense_shape, tf.convert_to_tensor(default_value, dtype=sp.dtype))
        dense = tf.tensor_scatter_nd_update(base, sp.indices, sp.values)
    if sp.shape.is_fully_defined() and not dense.shape.is_fully_defined():
        dense = tf.ensure_shape(dense, sp.shape)
    return dense


def reorder(sp_input, name=None):
    """The same SparseTensor with its indices (and values) in row-major order.

    >>> import tensorflux as tf
    >>> st = tf.sparse.reorder(tf.sparse.SparseTensor([[1, 0], [0, 1]], [1, 2], [2, 2]))
    >>> st.indices.numpy().tolist(), st.values.numpy().tolist()
    ([[0, 1], [1, 0]], [2, 1])
    """
    sp = as_sparse("reorder", sp_input)
    order = tf.argsort(_linear(sp.indices, sp.dense_shape), stable=True)
    return _rebuilt(tf.gather(sp.indices, order), tf.gather(sp.values, order),
                    sp.dense_shape, sp.shape)


# ------------------------------------------------------------------ shape changes

def _resolved_shape(op, old, new):
    """The requested shape with its -1 filled in, checked against the old element count."""
    total = 1
    for d in old:
        total *= d
    unknown = [i for i, d in enumerate(new) if d == -1]
    if len(unknown) > 1 or any(d < -1 for d in new):
        raise errors.InvalidArgumentError(
            f"{op}: the shape may hold at most one -1 and no other negative size, received "
            f"{new}", op)
    known = 1
    for d in new:
        known *= d if d != -1 else 1
    if unknown:
        if known == 0 or total % known:
            raise errors.InvalidArgumentError(
                f"{op}: the SparseTensor has {total} dense values (shape {old}), but the "
                f"requested shape {new} needs a multiple of {known}", op)
        new = list(new)
        new[unknown[0]] = total // known
    elif known != total:
        raise errors.InvalidArgumentError(
            f"{op}: the SparseTensor has {total} dense values (shape {old}), but the "
            f"requested shape {new} has {known}", op)
    return new


def reshape(sp_input, shape, name=None):
    """The SparseTensor with another dense shape of the same size (one -1 is inferred).

    >>> import tensorflux as tf
    >>> st = tf.sparse.reshape(tf.sparse.SparseTensor([[0, 3]], [1.0], [2, 4]), [4, 2])
    >>> st.indices.numpy().tolist(), st.dense_shape.numpy().tolist()
    ([[1, 1]], [4, 2])
    """
    op = "reshape"
    sp = as_sparse(op, sp_input)
    new = _int64(op, shape, "shape")
    old_known, new_known = host_value(sp.dense_shape), host_value(new)
    if old_known is not None and new_known is not None:
        new = tf.constant(_resolved_shape(op, old_known.tolist(), new_known.tolist()),
                          dtype=dtypes.int64)
    else:
        count = tf.reduce_prod(sp.dense_shape)
        rest = tf.reduce_prod(tf.where(tf.equal(new, -1), tf.ones_like(new), new))
        new = tf.where(tf.equal(new, -1), tf.math.floordiv(count, rest) * tf.ones_like(new),
                       new)
    indices = _unravel(_linear(sp.indices, sp.dense_shape), new)
    return _rebuilt(indices, sp.values, new, None)


def transpose(sp_input, perm=None, name=None):
    """The SparseTensor with its dimensions permuted (reversed by default), reordered.

    >>> import tensorflux as tf
    >>> st = tf.sparse.transpose(tf.sparse.SparseTensor([[0, 2]], [1.0], [2, 3]))
    >>> st.indices.numpy().tolist(), st.dense_shape.numpy().tolist()
    ([[2, 0]], [3, 2])
    """
    op = "transpose"
    sp = as_sparse(op, sp_input)
    rank = _rank(op, sp)
    if perm is None:
        perm = list(builtins.range(rank - 1, -1, -1))
    elif isinstance(perm, _TensorLike):
        perm = host_value(perm).tolist() if host_value(perm) is not None else perm
    if not isinstance(perm, _TensorLike) and sorted(int(p) for p in perm) != list(
            builtins.range(rank)):
        raise errors.InvalidArgumentError(
            f"{op}: perm must be a permutation of 0..{rank - 1}, received {list(perm)}", op)
    indices = tf.gather(sp.indices, perm, axis=1)
    shape = None
    if not isinstance(perm, _TensorLike) and sp.shape.rank is not None:
        shape = TensorShape([sp.shape[int(p)] for p in perm])
    return reorder(_rebuilt(indices, sp.values, tf.gather(sp.dense_shape, perm), shape))


def expand_dims(sp_input, axis=None, name=None):
    """The SparseTensor with a dimension of size 1 inserted at `axis` (default -1).

    >>> import tensorflux as tf
    >>> tf.sparse.expand_dims(tf.sparse.SparseTensor([[1]], [1.0], [3]), 0).shape
    TensorShape([1, 3])
    """
    op = "expand_dims"
    sp = as_sparse(op, sp_input)
    rank = _rank(op, sp)
    axis = normalize_axis(op, -1 if axis is None else axis, rank + 1)
    count = tf.shape(sp.indices, out_type=dtypes.int64)[:1]
    zeros = tf.zeros(tf.concat([count, tf.ones([1], dtypes.int64)], 0), dtype=dtypes.int64)
    indices = tf.concat([sp.indices[:, :axis], zeros, sp.indices[:, axis:]], axis=1)
    one = tf.ones([1], dtype=dtypes.int64)
    dense_shape = tf.concat([sp.dense_shape[:axis], one, sp.dense_shape[axis:]], 0)
    dims = sp.shape.as_list()
    return _rebuilt(indices, sp.values, dense_shape, TensorShape(dims[:axis] + [1] + dims[axis:]))


def concat(axis, sp_inputs, expand_nonconcat_dims=False, name=None):
    """SparseTensors joined along `axis`; the other dimensions must match, or are widened to
    the largest with expand_nonconcat_dims. The result is in row-major order.

    >>> import tensorflux as tf
    >>> a = tf.sparse.SparseTensor([[0, 0]], [1.0], [2, 2])
    >>> tf.sparse.concat(1, [a, a]).indices.numpy().tolist()
    [[0, 0], [0, 2]]
    """
    op = "concat"
    inputs = [as_sparse(op, s) for s in sp_inputs]
    if not inputs:
        raise errors.InvalidArgumentError(f"{op}: expected at least one SparseTensor", op)
    ranks = {_rank(op, s) for s in inputs}
    if len(ranks) != 1:
        raise errors.InvalidArgumentError(
            f"{op}: the SparseTensors must have the same rank, received ranks "
            f"{[s.shape.rank for s in inputs]}", op)
    rank = ranks.pop()
    axis = normalize_axis(op, axis, rank)
    if not expand_nonconcat_dims:
        _check_same_dims(op, inputs, axis)
    dims = tf.stack([s.dense_shape for s in inputs])
    sizes = dims[:, axis]
    offsets = tf.cumsum(sizes, exclusive=True)
    column = tf.one_hot(axis, rank, dtype=dtypes.int64)
    indices = tf.concat([s.indices + offsets[i] * column for i, s in enumerate(inputs)], 0)
    values = tf.concat([s.values for s in inputs], 0)
    dense_shape = tf.reduce_max(dims, axis=0) * (1 - column) + tf.reduce_sum(sizes) * column
    return reorder(_rebuilt(indices, values, dense_shape, None))


def _check_same_dims(op, inputs, axis):
    first = inputs[0].shape
    for position, s in enumerate(inputs[1:], 1):
        for d, (a, b) in enumerate(zip(first, s.shape)):
            if d != axis and a is not None and b is not None and a != b:
                raise errors.InvalidArgumentError(
                    f"{op}: the SparseTensors' shapes must match outside axis {axis} (or pass "
                    f"expand_nonconcat_dims=True): expected {a} for dimension {d}, received "
                    f"{b} for input {position} (shapes {first} and {s.shape})", op)


def slice(sp_input, start, size, name=None):  # noqa: A001 - TensorFlow's name
    """The entries in the box [start, start + size), shifted to start at 0; the box is cut
    at the dense shape.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [2, 3]], [1.0, 2.0], [3, 4])
    >>> part = tf.sparse.slice(st, [1, 2], [5, 5])
    >>> part.indices.numpy().tolist(), part.dense_shape.numpy().tolist()
    ([[1, 1]], [2, 2])
    """
    op = "slice"
    sp = as_sparse(op, sp_input)
    start, size = _int64(op, start, "start"), _int64(op, size, "size")
    inside = tf.reduce_all(tf.logical_and(sp.indices >= start, sp.indices < start + size),
                           axis=1)
    dense_shape = tf.maximum(tf.minimum(size, sp.dense_shape - start), 0)
    return _rebuilt(tf.boolean_mask(sp.indices, inside) - start,
                    tf.boolean_mask(sp.values, inside), dense_shape, None)


def retain(sp_input, to_retain):
    """The entries whose `to_retain` flag (one bool per value) is True.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [2, 3]], [1.0, 2.0], [3, 4])
    >>> tf.sparse.retain(st, [False, True]).values.numpy().tolist()
    [2.0]
    """
    op = "retain"
    sp = as_sparse(op, sp_input)
    keep = tf.convert_to_tensor(to_retain, dtype=dtypes.bool)
    count = sp.values.shape[0]
    if keep.shape.rank != 1 or (count is not None and keep.shape[0] not in (None, count)):
        raise errors.InvalidArgumentError(
            f"{op}: to_retain must be a bool vector with one entry per value ({count}), "
            f"received shape {tuple(keep.shape)}", op)
    return _rebuilt(tf.boolean_mask(sp.indices, keep), tf.boolean_mask(sp.values, keep),
                    sp.dense_shape, sp.shape)


def fill_empty_rows(sp_input, default_value, name=None):
    """(filled, empty_row_indicator): each row with no entry gets `default_value` at column 0
    (all later coordinates 0); the result is in row-major order.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[1, 1]], [5.0], [2, 2])
    >>> filled, empty = tf.sparse.fill_empty_rows(st, -1.0)
    >>> filled.indices.numpy().tolist(), empty.numpy().tolist()
    ([[0, 0], [1, 1]], [True, False])
    """
    op = "fill_empty_rows"
    sp = as_sparse(op, sp_input)
    rank = _rank(op, sp)
    rows = _dense_shape_of(sp, 0)
    counts = _composite.unchecked_segment_sum(tf.ones_like(sp.indices[:, 0], dtype=dtypes.int32),
                                          sp.indices[:, 0], rows)
    empty = tf.equal(counts, 0)
    missing = tf.where(empty)
    new_indices = tf.concat(
        [missing, tf.zeros(tf.stack([tf.shape(missing)[0], rank - 1]), dtype=dtypes.int64)], 1)
    default = tf.convert_to_tensor(default_value, dtype=sp.dtype)
    new_values = tf.fill(tf.shape(missing)[:1], default)
    filled = _rebuilt(tf.concat([sp.indices, new_indices], 0),
                      tf.concat([sp.values, new_values], 0), sp.dense_shape, sp.shape)
    return reorder(filled), empty


def to_indicator(sp_input, vocab_size, name=None):
    """A bool tensor [..., vocab_size]: True at each (row, id) for the integer ids the
    SparseTensor holds along its last dimension.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0]], [1, 3, 2], [2, 2])
    >>> tf.sparse.to_indicator(st, 4).numpy().astype(int).tolist()
    [[0, 1, 0, 1], [0, 0, 1, 0]]
    """
    op = "to_indicator"
    sp = as_sparse(op, sp_input)
    if not sp.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: the SparseTensor must hold integer ids, received {sp.dtype.name}", op)
    ids = tf.cast(sp.values, dtypes.int64)
    found = host_value(ids)
    limit = host_value(tf.convert_to_tensor(vocab_size))
    if found is not None and limit is not None and len(found):
        bad = (found < 0) | (found >= limit)
        if bad.any():
            k = int(bad.argmax())
            raise errors.InvalidArgumentError(
                f"{op}: ids must be in [0, vocab_size={int(limit)}), received {int(found[k])} "
                f"(values[{k}])", op)
    indices = tf.concat([sp.indices[:, :-1], tf.expand_dims(ids, 1)], 1)
    shape = tf.concat([sp.dense_shape[:-1], tf.reshape(_int64(op, vocab_size, "vocab_size"),
                                                       [1])], 0)
    hits = tf.scatter_nd(indices, tf.ones_like(ids, dtype=dtypes.int32), shape)
    return tf.greater(hits, 0)


# ------------------------------------------------------------------ arithmetic

def add(a, b, threshold=0, name=None):
    """a + b where one or both are SparseTensors: sparse + sparse is a SparseTensor (sums of
    entries both hold with magnitude below `threshold` dropped), sparse + dense a dense tensor.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1]], [1.0], [2, 2])
    >>> tf.sparse.add(st, tf.ones([2, 2])).numpy().tolist()
    [[1.0, 2.0], [1.0, 1.0]]
    """
    op = "add"
    a_sparse, b_sparse = _is_sparse(a), _is_sparse(b)
    if a_sparse and b_sparse:
        return _add_sparse(op, as_sparse(op, a), as_sparse(op, b), threshold)
    if not (a_sparse or b_sparse):
        raise TypeError(f"{op}: expected at least one SparseTensor, received "
                        f"{type(a).__name__} and {type(b).__name__}")
    sp, dense = (as_sparse(op, a), b) if a_sparse else (as_sparse(op, b), a)
    dense = tf.convert_to_tensor(dense, dtype_hint=sp.dtype)
    if sp.shape.rank is not None and dense.shape.rank is not None and (
            not sp.shape.is_compatible_with(dense.shape)):
        raise errors.InvalidArgumentError(
            f"{op}: the dense operand must have the SparseTensor's shape (no broadcasting), "
            f"expected {sp.shape}, received {dense.shape}", op)
    _check_indices(op, sp)
    return tf.tensor_scatter_nd_add(dense, sp.indices, sp.values)


def _is_sparse(value):
    return isinstance(value, SparseTensor) or (
        not isinstance(value, _TensorLike) and hasattr(value, "dense_shape"))


def _add_sparse(op, a, b, threshold):
    if a.dtype is not b.dtype:
        raise errors.InvalidArgumentError(
            f"{op}: both SparseTensors must have the same dtype, received {a.dtype.name} and "
            f"{b.dtype.name}", op)
    if not a.shape.is_compatible_with(b.shape):
        raise errors.InvalidArgumentError(
            f"{op}: the SparseTensors' shapes must match, received {a.shape} and {b.shape}", op)
    indices = tf.concat([a.indices, b.indices], 0)
    values = tf.concat([a.values, b.values], 0)
    order, first, ids, count = _runs(_linear(indices, a.dense_shape))
    sums = _composite.unchecked_segment_sum(tf.gather(values, order), ids, count)
    indices = tf.boolean_mask(tf.gather(indices, order), first)
    if not (isinstance(threshold, (int, float)) and threshold == 0):
        # As TF's kernel: only a sum of entries both operands hold is tested against the
        # threshold; an entry of one operand alone is kept whatever its magnitude.
        limit = tf.convert_to_tensor(threshold, dtype_hint=sums.dtype.real_dtype
                                     if sums.dtype.is_complex else sums.dtype)
        summed = tf.greater(_composite.unchecked_segment_sum(tf.ones_like(ids), ids, count), 1)
        large = tf.greater_equal(tf.abs(sums), tf.cast(limit, tf.abs(sums).dtype))
        keep = tf.logical_or(tf.logical_not(summed), large)
        indices, sums = tf.boolean_mask(indices, keep), tf.boolean_mask(sums, keep)
    return _rebuilt(indices, sums, a.dense_shape, a.shape.merge_with(b.shape))


def _same_shapes(op, a, b):
    if a.dtype is not b.dtype:
        raise errors.InvalidArgumentError(
            f"{op}: both SparseTensors must have the same dtype, received {a.dtype.name} and "
            f"{b.dtype.name}", op)
    shape_a, shape_b = host_value(a.dense_shape), host_value(b.dense_shape)
    if not a.shape.is_compatible_with(b.shape) or (
            shape_a is not None and shape_b is not None
            and shape_a.tolist() != shape_b.tolist()):
        raise errors.InvalidArgumentError(
            f"{op}: operands do not have the same ranks and shapes, received {a.shape} and "
            f"{b.shape}", op)


def _extremum(op, fn, sp_a, sp_b):
    """fn(a, b) over the union of both operands' indices (row-major order), an entry that
    one operand lacks counting as 0, as TF's sparse maximum and minimum."""
    a, b = as_sparse(op, sp_a), as_sparse(op, sp_b)
    _same_shapes(op, a, b)
    indices = tf.concat([a.indices, b.indices], 0)
    order, first, ids, count = _runs(_linear(indices, a.dense_shape))
    from_a = tf.less(order, tf.cast(tf.shape(a.values)[0], order.dtype))
    values = tf.gather(tf.concat([a.values, b.values], 0), order)
    zeros = tf.zeros_like(values)
    # (each index appears at most once per operand: a segment sum picks its value, or 0)
    value_a = _composite.unchecked_segment_sum(tf.where(from_a, values, zeros), ids, count)
    value_b = _composite.unchecked_segment_sum(tf.where(from_a, zeros, values), ids, count)
    return _rebuilt(tf.boolean_mask(tf.gather(indices, order), first), fn(value_a, value_b),
                    a.dense_shape, a.shape.merge_with(b.shape))


def maximum(sp_a, sp_b, name=None):
    """The elementwise maximum of two SparseTensors of one shape, over the union of their
    entries (a missing entry counts as 0).

    >>> import tensorflux as tf
    >>> a = tf.sparse.SparseTensor([[0, 0], [1, 1]], [-1.0, 2.0], [2, 2])
    >>> b = tf.sparse.SparseTensor([[0, 0]], [-3.0], [2, 2])
    >>> tf.sparse.maximum(a, b).values.numpy().tolist()
    [-1.0, 2.0]
    """
    return _extremum("maximum", tf.maximum, sp_a, sp_b)


def minimum(sp_a, sp_b, name=None):
    """The elementwise minimum of two SparseTensors of one shape, over the union of their
    entries (a missing entry counts as 0).

    >>> import tensorflux as tf
    >>> a = tf.sparse.SparseTensor([[0, 0], [1, 1]], [-1.0, 2.0], [2, 2])
    >>> b = tf.sparse.SparseTensor([[0, 0]], [-3.0], [2, 2])
    >>> tf.sparse.minimum(a, b).values.numpy().tolist()
    [-3.0, 0.0]
    """
    return _extremum("minimum", tf.minimum, sp_a, sp_b)


def softmax(sp_input, name=None):
    """The softmax over the last dimension of the entries present (missing ones are left out,
    not taken as 0): each group of entries sharing all but their last index sums to 1.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 0], [0, 2], [1, 1]], [1.0, 1.0, 5.0], [2, 3])
    >>> tf.sparse.softmax(st).values.numpy().tolist()
    [0.5, 0.5, 1.0]
    """
    op = "softmax"
    sp = as_sparse(op, sp_input)
    if sp.shape.rank is not None and sp.shape.rank < 2:
        raise errors.InvalidArgumentError(
            f"{op}: expected a SparseTensor of rank >= 2, received shape {sp.shape}", op)
    if not sp.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: expected floating-point values, received {sp.dtype.name}", op)
    order, _, ids, count = _runs(_linear(sp.indices[:, :-1], sp.dense_shape[:-1]))
    # the group of each entry in the entries' own order (ids follow the sorted order)
    group = tf.scatter_nd(tf.expand_dims(order, 1), ids, tf.shape(ids, out_type=order.dtype))
    values = sp.values
    shifted = values - tf.gather(_composite.unchecked_segment_max(values, group, count), group)
    exps = tf.exp(shifted)
    total = tf.gather(_composite.unchecked_segment_sum(exps, group, count), group)
    return _rebuilt(sp.indices, exps / total, sp.dense_shape, sp.shape)


def split(sp_input=None, num_split=None, axis=None, name=None):
    """`num_split` SparseTensors cut from `sp_input` along `axis`: the first
    size % num_split pieces are one longer, as TF's sparse split.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [2, 2]], [1.0, 2.0], [3, 3])
    >>> [p.dense_shape.numpy().tolist() for p in tf.sparse.split(st, 2, axis=1)]
    [[3, 2], [3, 1]]
    """
    op = "split"
    sp = as_sparse(op, sp_input)
    rank = _rank(op, sp)
    axis = normalize_axis(op, int(axis), rank)
    count = int(num_split)
    dims = host_value(sp.dense_shape)
    size = sp.shape[axis] if dims is None else int(dims[axis])
    if size is None:
        raise errors.UnimplementedError(
            f"{op}: the size of the split axis must be known, received shape {sp.shape}", op)
    if count < 1:
        raise errors.InvalidArgumentError(f"{op}: num_split must be >= 1, received {count}", op)
    pieces, start = [], 0
    for i in builtins.range(count):
        length = size // count + (1 if i < size % count else 0)
        begin = [0] * rank
        begin[axis] = start
        extent = tf.tensor_scatter_nd_update(sp.dense_shape, [[axis]],
                                             tf.constant([length], dtypes.int64))
        pieces.append(slice(sp, begin, extent))
        start += length
    return pieces


def reset_shape(sp_input, new_shape=None):
    """The SparseTensor with another dense shape: `new_shape` (of the same rank, no smaller
    in any dimension) or, without one, the tight bounding box of its indices.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [1, 0]], [1.0, 2.0], [5, 5])
    >>> tf.sparse.reset_shape(st).dense_shape.numpy().tolist()
    [2, 2]
    """
    op = "reset_shape"
    sp = as_sparse(op, sp_input)
    if new_shape is None:
        bound = tf.reduce_max(tf.concat([sp.indices, -tf.ones_like(sp.indices[:1])], 0),
                              axis=0) + 1
        return _rebuilt(sp.indices, sp.values, bound, None)
    shape = _int64(op, new_shape, "new_shape")
    if shape.shape.rank != 1 or (shape.shape[0] is not None and sp.shape.rank is not None
                                 and shape.shape[0] != sp.shape.rank):
        raise ValueError(f"{op}: new_shape must be a vector of the SparseTensor's rank "
                         f"{sp.shape.rank}, received shape {tuple(shape.shape)}")
    wanted, current = host_value(shape), host_value(sp.dense_shape)
    if wanted is not None and current is not None and (wanted < current).any():
        raise ValueError(f"Requested new_shape should have dimension sizes >= "
                         f"sp_input.shape. Found new_shape ({wanted.tolist()}), sp_input.shape "
                         f"({current.tolist()}).")
    return _rebuilt(sp.indices, sp.values, shape, None)


def sparse_dense_matmul(sp_a, b, adjoint_a=False, adjoint_b=False, name=None):
    """op(A) @ op(B) where one operand is a rank-2 SparseTensor and the other dense, op being
    the adjoint where asked; the result is dense. Gradients reach the dense operand and the
    sparse values.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [2, 3]], [1.0, 2.0], [3, 4])
    >>> tf.sparse.sparse_dense_matmul(st, tf.ones([4, 2])).numpy().tolist()
    [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]
    """
    op = "sparse_dense_matmul"
    if _is_sparse(sp_a):
        sp, dense = as_sparse(op, sp_a), tf.convert_to_tensor(b)
        _check_matrices(op, sp, dense)
        rows, cols = sp.indices[:, 0], sp.indices[:, 1]
        values, out_rows, inner = sp.values, _dense_shape_of(sp, 0), sp.shape[1]
        if adjoint_a:
            rows, cols, values = cols, rows, tf.math.conj(values)
            out_rows, inner = _dense_shape_of(sp, 1), sp.shape[0]
        if adjoint_b:
            dense = tf.linalg.adjoint(dense)
        _check_inner(op, sp, dense, inner, adjoint_a, adjoint_b)
        return _product(rows, cols, values, out_rows, dense)
    if not _is_sparse(b):
        raise TypeError(f"{op}: expected a SparseTensor operand, received "
                        f"{type(sp_a).__name__} and {type(b).__name__}")
    # dense A, sparse B: op(A) op(B) = (op(B)^T op(A)^T)^T, with the sparse operand first.
    dense, sp = tf.convert_to_tensor(sp_a), as_sparse(op, b)
    _check_matrices(op, sp, dense)
    rows, cols, values = sp.indices[:, 1], sp.indices[:, 0], sp.values
    out_rows, inner = _dense_shape_of(sp, 1), sp.shape[0]
    if adjoint_b:  # op(B)^T = conj(B)
        rows, cols, values = cols, rows, tf.math.conj(values)
        out_rows, inner = _dense_shape_of(sp, 0), sp.shape[1]
    dense = tf.math.conj(dense) if adjoint_a else tf.transpose(dense)
    _check_inner(op, sp, dense, inner, adjoint_b, adjoint_a, sparse_first=False)
    return tf.transpose(_product(rows, cols, values, out_rows, dense))


def _check_matrices(op, sp, dense):
    if sp.shape.rank != 2 or dense.shape.rank != 2:
        raise errors.InvalidArgumentError(
            f"{op}: expected a rank-2 SparseTensor and a rank-2 dense tensor, received shapes "
            f"{sp.shape} (sparse) and {dense.shape} (dense)", op)
    if sp.dtype is not dense.dtype:
        raise errors.InvalidArgumentError(
            f"{op}: both operands must have the same dtype, received {sp.dtype.name} (sparse) "
            f"and {dense.dtype.name} (dense)", op)
    _check_indices(op, sp)


def _check_inner(op, sp, dense, inner, sparse_adjoint, dense_adjoint, sparse_first=True):
    found = dense.shape[0]
    if inner is not None and found is not None and inner != found:
        a, b = ("A", "B") if sparse_first else ("B", "A")
        raise errors.InvalidArgumentError(
            f"{op}: the inner dimensions must match, but {a} (sparse, shape {sp.shape}, "
            f"adjoint={bool(sparse_adjoint)}) gives {inner} and {b} (dense, adjoint="
            f"{bool(dense_adjoint)}) gives {found}; did you forget a transpose?", op)


def _product(rows, cols, values, out_rows, dense):
    """S @ dense for S given as (row, column, value) triples with `out_rows` rows."""
    contributions = tf.expand_dims(values, 1) * tf.gather(dense, cols)
    return _composite.unchecked_segment_sum(contributions, rows, out_rows)


def _reduce(op, segment_fn, whole_fn, sp_input, axis, keepdims, output_is_sparse):
    sp = as_sparse(op, sp_input)
    rank = _rank(op, sp)
    if axis is None:
        axes = list(builtins.range(rank))
    else:
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        axes = sorted({normalize_axis(op, a, rank) for a in axes})
    kept = [d for d in builtins.range(rank) if d not in axes]
    dims = sp.shape.as_list()
    out_dims = [1 if d in axes else dims[d] for d in builtins.range(rank)] if keepdims else \
        [dims[d] for d in kept]
    if not kept and not output_is_sparse:
        return tf.reshape(whole_fn(sp.values), [1] * rank if keepdims else [])
    out_shape = tf.gather(sp.dense_shape, kept)
    keys = _linear(tf.gather(sp.indices, kept, axis=1), out_shape)
    if output_is_sparse:
        order, first, ids, count = _runs(keys)
        values = segment_fn(tf.gather(sp.values, order), ids, count)
        indices = tf.boolean_mask(tf.gather(sp.indices, order), first)
        if keepdims:
            indices = indices * tf.constant([0 if d in axes else 1 for d in
                                             builtins.range(rank)], dtype=dtypes.int64)
            ones = tf.ones([rank], dtype=dtypes.int64)
            mask = tf.constant([d in axes for d in builtins.range(rank)])
            return _rebuilt(indices, values, tf.where(mask, ones, sp.dense_shape),
                            TensorShape(out_dims))
        return _rebuilt(tf.gather(indices, kept, axis=1), values, out_shape,
                        TensorShape(out_dims))
    size = tf.reduce_prod(out_shape)
    totals = segment_fn(sp.values, keys, size)
    if segment_fn is not _composite.unchecked_segment_sum:
        # Outputs no value reached are 0, as TensorFlow's sparse reductions give.
        counts = _composite.unchecked_segment_sum(tf.ones_like(keys, dtype=dtypes.int32),
                                                  keys, size)
        totals = tf.where(counts > 0, totals, tf.zeros_like(totals))
    if keepdims:
        out_shape = tf.gather(tf.concat([sp.dense_shape, tf.ones([1], dtypes.int64)], 0),
                              [rank if d in axes else d for d in builtins.range(rank)])
    result = tf.reshape(totals, out_shape)
    if TensorShape(out_dims).is_fully_defined():
        result = tf.ensure_shape(result, out_dims)
    return result


def reduce_sum(sp_input, axis=None, keepdims=None, output_is_sparse=False, name=None):
    """The sum of a SparseTensor's entries over `axis` (all when None); dense unless
    output_is_sparse.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [2, 3]], [1.0, 2.0], [3, 4])
    >>> tf.sparse.reduce_sum(st, axis=1).numpy().tolist()
    [1.0, 0.0, 2.0]
    """
    return _reduce("reduce_sum", _composite.unchecked_segment_sum, tf.reduce_sum, sp_input, axis,
                   bool(keepdims), output_is_sparse)


def reduce_max(sp_input, axis=None, keepdims=None, output_is_sparse=False, name=None):
    """The maximum of the entries present (implicit zeros are not compared) over `axis`;
    outputs that no entry reaches are 0.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1], [2, 3]], [-1.0, 2.0], [3, 4])
    >>> tf.sparse.reduce_max(st, axis=1).numpy().tolist()
    [-1.0, 0.0, 2.0]
    """
    return _reduce("reduce_max", _composite.unchecked_segment_max, tf.reduce_max, sp_input, axis,
                   bool(keepdims), output_is_sparse)


# ------------------------------------------------------------------ dense data, sparse rows

def _segment(op, data, indices, segment_ids, num_segments, scale):
    rows = tf.gather(tf.convert_to_tensor(data), indices)
    ids = tf.convert_to_tensor(segment_ids)
    if num_segments is None:
        known = host_value(ids)
        if known is not None and len(known) and (known[1:] < known[:-1]).any():
            raise errors.InvalidArgumentError(
                f"{op}: segment_ids must be sorted (or pass num_segments), received "
                f"{known.tolist()}", op)
        num_segments = tf.reduce_max(tf.concat([tf.reshape(ids, [-1]) + 1,
                                                tf.zeros([1], ids.dtype)], 0))
    totals = _composite.unchecked_segment_sum(rows, ids, num_segments)
    if scale is None:
        return totals
    counts = _composite.unchecked_segment_sum(tf.ones_like(ids, dtype=totals.dtype), ids,
                                          num_segments)
    counts = scale(tf.maximum(counts, tf.ones_like(counts)))
    return totals / tf.reshape(counts, [-1] + [1] * (totals.shape.rank - 1))


def segment_sum(data, indices, segment_ids, num_segments=None, name=None,
                sparse_gradient=False):
    """Sums of the rows data[indices] per segment id (sorted ids, or any with num_segments).

    >>> import tensorflux as tf
    >>> data = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> tf.sparse.segment_sum(data, [0, 2], [0, 0]).numpy().tolist()
    [[6.0, 8.0]]
    """
    return _segment("segment_sum", data, indices, segment_ids, num_segments, None)


def segment_mean(data, indices, segment_ids, num_segments=None, name=None,
                 sparse_gradient=False):
    """Means of the rows data[indices] per segment id; empty segments are 0."""
    return _segment("segment_mean", data, indices, segment_ids, num_segments, lambda n: n)


def segment_sqrt_n(data, indices, segment_ids, num_segments=None, name=None,
                   sparse_gradient=False):
    """Sums of the rows data[indices] per segment id, divided by sqrt(segment size)."""
    return _segment("segment_sqrt_n", data, indices, segment_ids, num_segments, tf.sqrt)


def _sparse_first(op, inputs):
    """The inputs of a sparse cross in the order TensorFlow's kernel crosses them: the
    SparseTensors, then the dense tensors, each in their given order."""
    if isinstance(inputs, (_TensorLike, SparseTensor)) or not inputs:
        raise TypeError(f"{op}: inputs must be a non-empty list of tensors, received "
                        f"{type(inputs).__name__}")
    inputs = list(inputs)
    return ([x for x in inputs if _is_sparse(x)]
            + [x for x in inputs if not _is_sparse(x)])


def cross(inputs, name=None, separator=None):
    """Feature crosses per row as a SparseTensor, each row's crosses at columns 0, 1, ...:
    every combination of one value from each input's row joined with `separator` (None is
    TF's "_X_"; ints written in decimal), the SparseTensor inputs first, then the dense
    matrices (TensorFlow's order).

    >>> import tensorflux as tf
    >>> st = tf.sparse.from_dense([["a", "b"]])
    >>> tf.sparse.cross([tf.constant([["x"]]), st]).values.numpy().tolist()
    [b'a_X_x', b'b_X_x']
    >>> tf.sparse.cross([st, tf.constant([["x"]])], separator="+").values.numpy().tolist()
    [b'a+x', b'b+x']
    """
    from tensorflux.ragged.ops import cross as ragged_cross

    op = "cross"
    inputs = _sparse_first(op, inputs)
    if separator is None:
        return ragged_cross(inputs).to_sparse()
    if not isinstance(separator, (str, bytes)):
        raise TypeError(f"{op}: separator must be a string, received {separator!r}")
    from tensorflux.ragged.ops import _check_row_counts, _cross_pair, _cross_rows

    rows = [_cross_rows(op, value) for value in inputs]
    _check_row_counts(op, rows)
    result = rows[0]
    for other in rows[1:]:
        result = _cross_pair(result, other, lambda a, b: tf.strings.join(
            [a, b], separator=separator))
    return result.to_sparse()


def cross_hashed(inputs, num_buckets=0, hash_key=None, name=None):
    """tf.sparse.cross's crosses as int64 hashes, as TensorFlow computes them (FarmHash
    fingerprints of the features combined under hash_key), modulo num_buckets when it is
    positive.

    >>> import tensorflux as tf
    >>> st = tf.sparse.from_dense([["a"], ["b"]])
    >>> dense = tf.constant([["d"], ["e"]])
    >>> tf.sparse.cross_hashed([st, dense], num_buckets=100).values.numpy().tolist()
    [82, 61]
    """
    from tensorflux.ragged.ops import _crossed_hashes

    op = "cross_hashed"
    return _crossed_hashes(op, _sparse_first(op, inputs), num_buckets, hash_key).to_sparse()


def mask(a, mask_indices, name=None):
    """The IndexedSlices `a` without its rows whose index is in mask_indices.

    >>> import tensorflux as tf
    >>> a = tf.IndexedSlices(tf.constant([[1.0], [2.0], [3.0]]), tf.constant([0, 2, 5]),
    ...                      tf.constant([7, 1]))
    >>> tf.sparse.mask(a, [2]).indices.numpy().tolist()
    [0, 5]
    """
    from tensorflux.indexed_slices import IndexedSlices

    op = "mask"
    if not isinstance(a, IndexedSlices):
        raise TypeError(f"{op}: a must be an IndexedSlices, received {type(a).__name__}")
    dropped = tf.convert_to_tensor(mask_indices, dtype=a.indices.dtype)
    if dropped.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"{op}: mask_indices must be a vector, received shape {tuple(dropped.shape)}", op)
    hit = tf.reduce_any(tf.equal(tf.expand_dims(a.indices, 1), tf.expand_dims(dropped, 0)),
                        axis=1)
    keep = tf.logical_not(hit)
    return IndexedSlices(tf.boolean_mask(a.values, keep), tf.boolean_mask(a.indices, keep),
                         a.dense_shape)


def _sparse_weights(op, sp, weights):
    """The values of the weights of a SparseTensor's entries: a SparseTensor with its
    indices (TF's rule), or None."""
    if weights is None:
        return None
    if not _is_sparse(weights):
        raise errors.InvalidArgumentError(
            f"{op}: the weights of SparseTensor values must be a SparseTensor with the same "
            f"indices, received {type(weights).__name__}", op)
    weights = as_sparse(op, weights)
    same = False
    if weights.indices.shape.is_compatible_with(sp.indices.shape):
        same = host_value(tf.reduce_all(tf.equal(weights.indices, sp.indices)))
    if same is not None and not bool(same):  # (None: known only when the traced graph runs)
        raise errors.InvalidArgumentError(
            f"{op}: the weights must have the same indices as the values, received indices "
            f"of shape {tuple(weights.indices.shape)} for {tuple(sp.indices.shape)}", op)
    return weights.values


def bincount(values, weights=None, axis=0, minlength=None, maxlength=None,
             binary_output=False, name=None):
    """Counts (or summed weights) of each non-negative int value as a SparseTensor: over all
    values (axis 0 or None) or per row of a matrix (axis -1).

    >>> import tensorflux as tf
    >>> counts = tf.sparse.bincount([1, 2, 2, 7])
    >>> counts.indices.numpy().ravel().tolist(), counts.values.numpy().tolist()
    ([1, 2, 7], [1, 2, 1])
    """
    op = "bincount"
    if _is_sparse(values):  # counts the stored values; a row is an entry's first index
        sp = as_sparse(op, values)
        ids, rows, nrows = sp.values, sp.indices[:, 0], sp.dense_shape[0]
        weights = _sparse_weights(op, sp, weights)
    else:
        ids = tf.convert_to_tensor(values)
        nrows = None  # (the rows of a dense matrix: taken below when counting per row)
    if not ids.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: values must be integers, received {ids.dtype.name}", op)
    per_row = axis not in (0, None)
    rank = sp.shape.rank if _is_sparse(values) else ids.shape.rank
    if per_row and (axis != -1 or rank != 2):
        raise errors.InvalidArgumentError(
            f"{op}: axis must be 0 (count all values) or -1 (per row of a matrix), received "
            f"axis={axis} for a rank {rank} input", op)
    counts = tf.ones_like(ids) if weights is None else tf.convert_to_tensor(weights)
    if per_row and not _is_sparse(values):
        nrows = tf.shape(ids)[0]
        rows = tf.reshape(tf.broadcast_to(tf.expand_dims(tf.range(tf.shape(ids)[0]), 1),
                                          tf.shape(ids)), [-1])
    ids, counts = tf.cast(tf.reshape(ids, [-1]), dtypes.int64), tf.reshape(counts, [-1])
    size = tf.reduce_max(tf.concat([ids + 1, tf.zeros([1], dtypes.int64)], 0))
    if minlength is not None:
        size = tf.maximum(size, tf.cast(minlength, dtypes.int64))
    keep = tf.greater_equal(ids, 0)
    if maxlength is not None:
        size = tf.minimum(size, tf.cast(maxlength, dtypes.int64))
        keep = tf.logical_and(keep, tf.less(ids, tf.cast(maxlength, dtypes.int64)))
    ids, counts = tf.boolean_mask(ids, keep), tf.boolean_mask(counts, keep)
    if per_row:
        rows = tf.cast(tf.boolean_mask(rows, keep), dtypes.int64)
        ids = rows * size + ids
        dense_shape = tf.stack([tf.cast(nrows, dtypes.int64), size])
    else:
        dense_shape = tf.reshape(size, [1])
    order, first, run, count = _runs(ids)
    totals = _composite.unchecked_segment_sum(tf.gather(counts, order), run, count)
    if binary_output:
        totals = tf.ones_like(totals)
    return _rebuilt(_unravel(tf.boolean_mask(tf.gather(ids, order), first), dense_shape),
                    totals, dense_shape, None)


# ------------------------------------------------------------------ helpers

def map_values(op, *args, **kwargs):
    """`op` applied to the values of the SparseTensors among the arguments (all with the same
    indices), as a SparseTensor with those indices.

    >>> import tensorflux as tf
    >>> st = tf.sparse.SparseTensor([[0, 1]], [-2.0], [2, 2])
    >>> tf.sparse.map_values(tf.abs, st).values.numpy().tolist()
    [2.0]
    """
    args, kwargs, found = swap_composites(SparseTensor, lambda st: st.values, args, kwargs)
    if not found:
        raise errors.InvalidArgumentError("map_values: expected at least one SparseTensor "
                                          "among the arguments", "map_values")
    first = found[0]
    known = host_value(first.indices)
    for other in found[1:]:
        theirs = host_value(other.indices)
        if known is not None and theirs is not None and (
                known.shape != theirs.shape or (known != theirs).any()):
            raise errors.InvalidArgumentError(
                "map_values: the SparseTensors must have identical indices", "map_values")
    return first.with_values(op(*args, **kwargs))


def eye(num_rows, num_columns=None, dtype=dtypes.float32, name=None):
    """A sparse identity matrix [num_rows, num_columns].

    >>> import tensorflux as tf
    >>> tf.sparse.eye(2).indices.numpy().tolist()
    [[0, 0], [1, 1]]
    """
    columns = num_rows if num_columns is None else num_columns
    diagonal = tf.range(tf.minimum(tf.cast(num_rows, dtypes.int64),
                                   tf.cast(columns, dtypes.int64)), dtype=dtypes.int64)
    shape = tf.cast(tf.stack([num_rows, columns]), dtypes.int64)
    return SparseTensor(tf.stack([diagonal, diagonal], 1),
                        tf.ones_like(diagonal, dtype=dtype), shape)


# ------------------------------------------------------------------ dispatch handlers
# What tf.<op>(st, ...) runs for a SparseTensor operand (CompositeTensor._dispatch): ops
# that map 0 to 0 apply to the values, as TensorFlow dispatches them.

def _unary(op):
    fn = getattr(tf.math, op)

    def handler(sp, x, name=None):
        return x.with_values(fn(x.values))
    return handler


def _cast_handler(sp, x, dtype, name=None):
    return x.with_values(tf.cast(x.values, dtype))


SparseTensor._DISPATCH.update({op: _unary(op) for op in (
    "abs", "asin", "asinh", "atan", "atanh", "ceil", "erf", "floor", "negative", "round",
    "sign", "sin", "sqrt", "square", "tan", "tanh")})
SparseTensor._DISPATCH.update(cast=_cast_handler)
