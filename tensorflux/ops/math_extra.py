"""More of tf.math, composed from existing primitives (so their gradients come for free):
segment reductions over sorted ids, products and root-n sums per segment, x/y and x*log1p(y)
that vanish with x, polynomials, predicates on orderings, truncating division, approximate
(here exact) top-k.
"""

import collections

from tensorflux import dtypes, errors
from tensorflux.ops import array, composite, indexing, linalg, math, reduction
from tensorflux.ops._core import as_operand
from tensorflux.ops._static import host

__all__ = ["xdivy", "xlog1py", "zero_fraction", "reduce_euclidean_norm", "polyval", "rint",
           "is_non_decreasing", "is_strictly_increasing", "invert_permutation", "accumulate_n",
           "segment_max", "segment_mean", "segment_min", "segment_prod",
           "unsorted_segment_prod", "unsorted_segment_sqrt_n", "realdiv", "truncatediv",
           "truncatemod", "approx_max_k", "approx_min_k"]


def _zero(x):
    return math.zeros_like_(x)


def xdivy(x, y, name=None):
    """x / y, and 0 where x == 0 (even where y == 0).

    >>> import tensorflux as tf
    >>> tf.math.xdivy([0.0, 1.0], [0.0, 2.0]).numpy().tolist()
    [0.0, 0.5]
    """
    x, y = math._binary("xdivy", x, y, allowed="is_differentiable")
    nonzero = math.not_equal(x, _zero(x))
    safe_y = math.where(nonzero, y, math.ones_like_(y))
    return math.where(nonzero, x / safe_y, _zero(x))


def xlog1py(x, y, name=None):
    """x * log1p(y), and 0 where x == 0 (even where y == -1).

    >>> import tensorflux as tf
    >>> tf.math.xlog1py([0.0, 2.0], [-1.0, 0.0]).numpy().tolist()
    [0.0, 0.0]
    """
    x, y = math._binary("xlog1py", x, y, allowed="is_differentiable")
    nonzero = math.not_equal(x, _zero(x))
    safe_y = math.where(nonzero, y, _zero(y))
    return math.where(nonzero, x * math.log1p(safe_y), _zero(x))


def zero_fraction(value, name=None):
    """The fraction of the elements of value that are zero, as a float32 scalar.

    >>> import tensorflux as tf
    >>> float(tf.math.zero_fraction([0, 1, 0, 2]))
    0.5
    """
    value = as_operand("zero_fraction", value)
    zeros = math.equal(value, array.zeros_like(value))
    return reduction.reduce_mean(math.cast(zeros, dtypes.float32))


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    """sqrt(sum(x ** 2)) over the axes; integer inputs give the truncated integer norm.

    >>> import tensorflux as tf
    >>> tf.math.reduce_euclidean_norm([[3.0, 4.0], [5.0, 12.0]], axis=1).numpy().tolist()
    [5.0, 13.0]
    """
    x = as_operand("reduce_euclidean_norm", input_tensor)
    if x.dtype.is_integer:
        norm = reduce_euclidean_norm(math.cast(x, dtypes.float64), axis, keepdims)
        return math.cast(norm, x.dtype)
    if not (x.dtype.is_floating or x.dtype.is_complex):
        raise errors.InvalidArgumentError(
            f"reduce_euclidean_norm: expected a numeric tensor, received {x.dtype.name}",
            "reduce_euclidean_norm")
    squares = math.square(math.abs(x)) if x.dtype.is_complex else math.square(x)
    norm = math.sqrt(reduction.reduce_sum(squares, axis=axis, keepdims=keepdims))
    return math.cast(norm, x.dtype) if x.dtype.is_complex else norm


def polyval(coeffs, x, name=None):
    """coeffs[0] * x**(n-1) + ... + coeffs[n-1], by Horner's rule (0 for no coefficients).

    >>> import tensorflux as tf
    >>> tf.math.polyval([1.0, 2.0, 3.0], tf.constant([2.0])).numpy().tolist()
    [11.0]
    """
    if not isinstance(coeffs, (list, tuple)):
        raise errors.InvalidArgumentError(
            f"polyval: coeffs must be a list of tensors, received {type(coeffs).__name__}",
            "polyval")
    x = as_operand("polyval", x)
    if not coeffs:
        return array.zeros_like(x)
    total = as_operand("polyval", coeffs[0], x.dtype)
    for c in coeffs[1:]:
        total = total * x + as_operand("polyval", c, x.dtype)
    return total


def rint(x, name=None):
    """The nearest integer value, halves to even (the same as tf.math.round).

    >>> import tensorflux as tf
    >>> tf.math.rint([0.5, 1.5, -2.5]).numpy().tolist()
    [0.0, 2.0, -2.0]
    """
    return math.round(x)


def _ordered(op, x, strict):
    x = as_operand(op, x)
    if not x.dtype.is_numeric:
        raise errors.InvalidArgumentError(f"{op}: expected a numeric tensor, received "
                                          f"{x.dtype.name}", op)
    flat = array.reshape(x, [-1])
    compare = math.less if strict else math.less_equal
    return reduction.reduce_all(compare(flat[:-1], flat[1:]))


def is_non_decreasing(x, name=None):
    """Whether each element of x (flattened) is >= the one before it.

    >>> import tensorflux as tf
    >>> bool(tf.math.is_non_decreasing([1, 2, 2]))
    True
    """
    return _ordered("is_non_decreasing", x, strict=False)


def is_strictly_increasing(x, name=None):
    """Whether each element of x (flattened) is > the one before it.

    >>> import tensorflux as tf
    >>> bool(tf.math.is_strictly_increasing([1, 2, 2]))
    False
    """
    return _ordered("is_strictly_increasing", x, strict=True)


def invert_permutation(x, name=None):
    """The inverse permutation y of the permutation x of 0..n-1: y[x[i]] = i.

    >>> import tensorflux as tf
    >>> tf.math.invert_permutation([3, 4, 0, 2, 1]).numpy().tolist()
    [2, 4, 3, 0, 1]
    """
    op = "invert_permutation"
    x = as_operand(op, x)
    if not x.dtype.is_integer or x.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"{op}: expected a vector of integers, received {x.dtype.name} with shape "
            f"{tuple(x.shape)}", op)
    if x._value is not None:
        values = host(op, x, "x").tolist()
        if sorted(values) != list(range(len(values))):
            raise errors.InvalidArgumentError(
                f"{op}: x must be a permutation of 0..{len(values) - 1}, received {values}", op)
    count = array.size(x, out_type=x.dtype)
    positions = array.range(0, count, dtype=x.dtype)
    return indexing.scatter_nd(array.expand_dims(x, -1), positions, array.shape(x))


def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None):
    """The elementwise sum of a list of tensors (tf.math.add_n).

    >>> import tensorflux as tf
    >>> tf.math.accumulate_n([tf.constant([1.0]), tf.constant([2.0])]).numpy().tolist()
    [3.0]

    `shape` and `tensor_dtype`, when given, must agree with the inputs, as TF checks.
    """
    op = "accumulate_n"
    if (shape is not None or tensor_dtype is not None) and isinstance(inputs, (list, tuple)):
        from tensorflux.tensor import TensorShape

        tensors = [as_operand(op, x) for x in inputs]
        if shape is not None:
            expected = TensorShape(shape)
            for x in tensors:
                if not expected.is_compatible_with(x.shape):
                    raise ValueError(f"{op}: shape {expected} does not match an input of "
                                     f"shape {x.shape}")
        if tensor_dtype is not None and tensors and \
                dtypes.as_dtype(tensor_dtype) is not tensors[0].dtype:
            raise TypeError(f"{op}: tensor_dtype is {dtypes.as_dtype(tensor_dtype).name} but "
                            f"the inputs are {tensors[0].dtype.name}; cast them first")
        inputs = tensors
    return math.add_n(inputs)


# ------------------------------------------------------------------ segments

def _segment_sizes(op, data, ids, count):
    """How many rows each segment has, shaped to broadcast against per-segment results."""
    ones = array.ones_like(ids, dtype=data.dtype)
    sizes = composite._segment_totals(op, ones, ids, count)
    return composite._unit_axes(sizes, 1, data.shape.rank - ids.shape.rank)


def _sorted_extremum(op, data, segment_ids, largest):
    data, ids = composite._segment_operands(op, data, segment_ids)
    count = composite._sorted_count(op, ids)
    found = composite._segment_extremum(op, data, ids, count, largest)
    # Sorted segment reductions give 0 for the ids that have no rows.
    present = math.greater(_segment_sizes(op, data, ids, count), 0)
    return math.where(present, found, array.zeros_like(found))


def segment_max(data, segment_ids, name=None):
    """Maxima of the rows of data per sorted segment id; ids with no rows give 0.

    >>> import tensorflux as tf
    >>> tf.math.segment_max([1.0, 2.0, 3.0], [0, 0, 2]).numpy().tolist()
    [2.0, 0.0, 3.0]
    """
    return _sorted_extremum("segment_max", data, segment_ids, largest=True)


def segment_min(data, segment_ids, name=None):
    """Minima of the rows of data per sorted segment id; ids with no rows give 0.

    >>> import tensorflux as tf
    >>> tf.math.segment_min([1, 2, 3], [0, 0, 2]).numpy().tolist()
    [1, 0, 3]
    """
    return _sorted_extremum("segment_min", data, segment_ids, largest=False)


def segment_mean(data, segment_ids, name=None):
    """Means of the rows of data per sorted segment id; ids with no rows give 0.

    >>> import tensorflux as tf
    >>> tf.math.segment_mean([1.0, 2.0, 3.0], [0, 0, 2]).numpy().tolist()
    [1.5, 0.0, 3.0]
    """
    op = "segment_mean"
    data, ids = composite._segment_operands(op, data, segment_ids)
    count = composite._sorted_count(op, ids)
    totals = composite._segment_totals(op, data, ids, count)
    return totals / math.maximum(_segment_sizes(op, data, ids, count), 1)


def _segment_product(op, data, ids, count):
    members = array.one_hot(ids, count, on_value=True, off_value=False, dtype=dtypes.bool)
    inner = data.shape.rank - ids.shape.rank
    members = composite._unit_axes(members, members.shape.rank, inner)
    rows = array.expand_dims(data, ids.shape.rank)
    picked = math.where(members, rows, array.ones_like(rows))
    return reduction.reduce_prod(picked, axis=list(range(ids.shape.rank)))


def segment_prod(data, segment_ids, name=None):
    """Products of the rows of data per sorted segment id; ids with no rows give 1.

    >>> import tensorflux as tf
    >>> tf.math.segment_prod([1.0, 2.0, 3.0], [0, 0, 2]).numpy().tolist()
    [2.0, 1.0, 3.0]
    """
    op = "segment_prod"
    data, ids = composite._segment_operands(op, data, segment_ids)
    return _segment_product(op, data, ids, composite._sorted_count(op, ids))


def unsorted_segment_prod(data, segment_ids, num_segments, name=None):
    """Products of the rows of data per segment id; empty segments give 1.

    >>> import tensorflux as tf
    >>> tf.math.unsorted_segment_prod([1.0, 2.0, 3.0], [0, 0, 2], 4).numpy().tolist()
    [2.0, 1.0, 3.0, 1.0]
    """
    return _unsorted_product(data, segment_ids, num_segments, True)


def unchecked_segment_prod(data, segment_ids, num_segments):
    """unsorted_segment_prod, ids outside [0, num_segments) dropped without a check."""
    return _unsorted_product(data, segment_ids, num_segments, False)


def _unsorted_product(data, segment_ids, num_segments, check):
    op = "unsorted_segment_prod"
    data, ids = composite._segment_operands(op, data, segment_ids)
    count = composite._num_segments(op, num_segments)
    if check:
        composite.check_segment_ids(op, ids, count)
    return _segment_product(op, data, ids, count)


def unsorted_segment_sqrt_n(data, segment_ids, num_segments, name=None):
    """Sums of the rows of data per segment id divided by the square root of their count;
    empty segments give 0.

    >>> import tensorflux as tf
    >>> tf.math.unsorted_segment_sqrt_n([1.0, 2.0, 0.0, 3.0], [1, 1, 1, 1], 2).numpy().tolist()
    [0.0, 3.0]
    """
    op = "unsorted_segment_sqrt_n"
    data, ids = composite._segment_operands(op, data, segment_ids)
    if not data.dtype.is_floating:
        raise errors.InvalidArgumentError(f"{op}: expected floating-point data, received "
                                          f"{data.dtype.name}", op)
    count = composite._num_segments(op, num_segments)
    composite.check_segment_ids(op, ids, count)
    totals = composite._segment_totals(op, data, ids, count)
    return totals * math.rsqrt(math.maximum(_segment_sizes(op, data, ids, count), 1))


# ------------------------------------------------------------------ division

def realdiv(x, y, name=None):
    """x / y for floating-point (or complex) tensors.

    >>> import tensorflux as tf
    >>> tf.realdiv(7.0, 2.0).numpy()
    np.float32(3.5)
    """
    x, y = math._binary("realdiv", x, y, allowed="is_differentiable")
    return math.divide(x, y)


def _rounds_toward_zero(x, y):
    """Where floor(x / y) and x / y truncated differ: a nonzero remainder and signs apart."""
    zero = _zero(x)
    remainder = math.floormod(x, y)
    return math.logical_and(math.not_equal(remainder, zero),
                            math.not_equal(math.less(x, zero), math.less(y, zero)))


def truncatediv(x, y, name=None):
    """x / y rounded toward zero (C's integer division): truncatediv(-7, 2) == -3.

    >>> import tensorflux as tf
    >>> tf.truncatediv([-7, 7], [2, 2]).numpy().tolist()
    [-3, 3]
    """
    x, y = math._binary("truncatediv", x, y)
    if x.dtype.is_integer:
        quotient = math.floordiv(x, y)
        return math.where(_rounds_toward_zero(x, y), quotient + 1, quotient)
    q = x / y
    return math.sign(q) * math.floor(math.abs(q))


def truncatemod(x, y, name=None):
    """The remainder of truncatediv, with the sign of x (C's %, fmod): truncatemod(-7, 2) == -1.

    >>> import tensorflux as tf
    >>> tf.truncatemod([-7, 7], [2, -2]).numpy().tolist()
    [-1, 1]
    """
    x, y = math._binary("truncatemod", x, y)
    if x.dtype.is_integer:
        remainder = math.floormod(x, y)
        return math.where(_rounds_toward_zero(x, y), remainder - y, remainder)
    return x - truncatediv(x, y) * y


# What tf.math.approx_max_k / approx_min_k return.
ApproxTopK = collections.namedtuple("ApproxTopK", ["values", "indices"])


def _approx_top_k(op, operand, k, reduction_dimension, largest):
    x = as_operand(op, operand)
    rank = x.shape.rank
    axis = reduction_dimension + rank if reduction_dimension < 0 else reduction_dimension
    if not 0 <= axis < rank:
        raise errors.InvalidArgumentError(
            f"{op}: reduction_dimension {reduction_dimension} is out of range for a tensor of "
            f"shape {tuple(x.shape)}", op)
    perm = [a for a in range(rank) if a != axis] + [axis]
    back = [perm.index(a) for a in range(rank)]
    moved = linalg.transpose(x, perm)
    values, indices = reduction.top_k(moved if largest else math.negative(moved), k=k)
    if not largest:
        values = math.negative(values)
    return ApproxTopK(linalg.transpose(values, back), linalg.transpose(indices, back))


def approx_max_k(operand, k, reduction_dimension=-1, recall_target=0.95,
                 reduction_input_size_override=-1, aggregate_to_topk=True, name=None):
    """The k largest entries along `reduction_dimension` and their indices, as
    (values, indices). TF's TPU-oriented approximation; here exact (recall 1).

    >>> import tensorflux as tf
    >>> tf.math.approx_max_k([1.0, 5.0, 3.0], 2).values.numpy().tolist()
    [5.0, 3.0]
    """
    return _approx_top_k("approx_max_k", operand, k, reduction_dimension, largest=True)


def approx_min_k(operand, k, reduction_dimension=-1, recall_target=0.95,
                 reduction_input_size_override=-1, aggregate_to_topk=True, name=None):
    """The k smallest entries along `reduction_dimension` and their indices, as
    (values, indices); exact, as approx_max_k.

    >>> import tensorflux as tf
    >>> tf.math.approx_min_k([1.0, 5.0, 3.0], 2).indices.numpy().tolist()
    [0, 2]
    """
    return _approx_top_k("approx_min_k", operand, k, reduction_dimension, largest=False)
