"""More of TensorFlow's top-level array ops, composed from existing primitives: blocks of space
moved to and from the batch, per-example sequence reversal, partitioning and stitching,
unique counts, scatter maxima and minima, fixed-width histograms, index unraveling and
shape broadcasting.
"""

from collections import namedtuple

from tensorflux import dtypes, errors
from tensorflux.ops import array, composite, indexing, linalg, math, reduction
from tensorflux.ops._core import as_operand, broadcast_shapes, normalize_axis
from tensorflux.ops._static import host
from tensorflux.tensor import TensorShape, _TensorLike

__all__ = ["space_to_batch_nd", "space_to_batch", "batch_to_space", "reverse_sequence",
           "dynamic_partition", "dynamic_stitch", "unique_with_counts",
           "histogram_fixed_width",
           "histogram_fixed_width_bins", "unravel_index", "identity_n", "shape_n",
           "parallel_stack", "broadcast_dynamic_shape", "broadcast_static_shape"]

UniqueWithCounts = namedtuple("UniqueWithCounts", ["y", "idx", "count"])


def _ints(op, value, what):
    if isinstance(value, _TensorLike):
        value = host(op, value, what).tolist()
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: {what} must be a list of ints, received "
                                          f"{value!r}", op) from error


def _pairs(op, value, count, what):
    if isinstance(value, _TensorLike):
        value = host(op, value, what).tolist()
    try:
        pairs = [[int(a), int(b)] for a, b in value]
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: {what} must be [before, after] pairs, "
                                          f"received {value!r}", op) from error
    if len(pairs) != count or min((min(p) for p in pairs), default=0) < 0:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be {count} pairs of non-negative ints (one per block "
            f"dimension), received {value!r}", op)
    return pairs


def _dims(shape):
    return [-1 if d is None else d for d in shape]


# ------------------------------------------------------------------ space and batch

def space_to_batch_nd(input, block_shape, paddings, name=None):  # noqa: A002 - TF's name
    """Pads the M spatial dims after the batch, cuts them into blocks of block_shape, and
    moves each position within a block into the batch (block-major).

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(4.0), [1, 2, 2, 1])
    >>> tf.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]]).numpy().ravel().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    op = "space_to_batch_nd"
    x = as_operand(op, input)
    blocks = _ints(op, block_shape, "block_shape")
    m = len(blocks)
    pads = _pairs(op, paddings, m, "paddings")
    if x.shape.rank is None or x.shape.rank < m + 1 or min(blocks, default=1) < 1:
        raise errors.InvalidArgumentError(
            f"{op}: expected an input of rank > {m} and positive block sizes, received shape "
            f"{tuple(x.shape)} and block_shape {blocks}", op)
    x = array.pad(x, [[0, 0]] + pads + [[0, 0]] * (x.shape.rank - m - 1))
    shape = list(x.shape)
    spatial, rest = shape[1:m + 1], _dims(shape[m + 1:])
    if any(s is None or s % b for s, b in zip(spatial, blocks)):
        raise errors.InvalidArgumentError(
            f"{op}: the padded spatial dimensions {spatial} must be known multiples of "
            f"block_shape {blocks}", op)
    split = [-1]
    for s, b in zip(spatial, blocks):
        split += [s // b, b]
    x = array.reshape(x, split + rest)
    # [B, S1, b1, ..., SM, bM, rest] -> [b1, ..., bM, B, S1, ..., SM, rest].
    block_axes = [2 + 2 * i for i in range(m)]
    outer_axes = [1 + 2 * i for i in range(m)]
    tail = list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    x = linalg.transpose(x, block_axes + [0] + outer_axes + tail)
    return array.reshape(x, [-1] + [s // b for s, b in zip(spatial, blocks)] + rest)


def space_to_batch(input, block_shape, paddings, name=None):  # noqa: A002
    """tf.space_to_batch: the same as space_to_batch_nd.

    >>> import tensorflux as tf
    >>> tf.space_to_batch(tf.zeros([1, 4, 4, 1]), [2, 2], [[0, 0], [0, 0]]).shape
    TensorShape([4, 2, 2, 1])
    """
    return space_to_batch_nd(input, block_shape, paddings)


def batch_to_space(input, block_shape, crops, name=None):  # noqa: A002
    """The inverse of space_to_batch_nd: batch entries become block positions of the M
    spatial dims, which are then cropped.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(4.0), [4, 1, 1, 1])
    >>> tf.batch_to_space(x, [2, 2], [[0, 0], [0, 0]]).numpy().ravel().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    op = "batch_to_space"
    x = as_operand(op, input)
    blocks = _ints(op, block_shape, "block_shape")
    m = len(blocks)
    crops = _pairs(op, crops, m, "crops")
    shape = list(x.shape)
    if x.shape.rank is None or x.shape.rank < m + 1 or None in shape[1:m + 1]:
        raise errors.InvalidArgumentError(
            f"{op}: expected an input of rank > {m} with known spatial dimensions, received "
            f"shape {tuple(x.shape)}", op)
    product = 1
    for b in blocks:
        product *= b
    if shape[0] is not None and shape[0] % product:
        raise errors.InvalidArgumentError(
            f"{op}: the batch {shape[0]} must be a multiple of the block size {product} "
            f"(block_shape {blocks})", op)
    spatial, rest = shape[1:m + 1], _dims(shape[m + 1:])
    x = array.reshape(x, blocks + [-1] + spatial + rest)
    # [b1, ..., bM, B, S1, ..., SM, rest] -> [B, S1, b1, ..., SM, bM, rest].
    perm = [m]
    for i in range(m):
        perm += [m + 1 + i, i]
    perm += list(range(2 * m + 1, 2 * m + 1 + len(rest)))
    x = array.reshape(linalg.transpose(x, perm),
                      [-1] + [s * b for s, b in zip(spatial, blocks)] + rest)
    key = [slice(None)] + [slice(lo, s * b - hi) for (lo, hi), s, b in
                           zip(crops, spatial, blocks)]
    return x[tuple(key)]


# ------------------------------------------------------------------ sequences

def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None,  # noqa: A002
                     name=None):
    """Reverses the first seq_lengths[b] entries along seq_axis of each batch entry b
    (along batch_axis); the entries after them stay in place.

    >>> import tensorflux as tf
    >>> x = tf.constant([[1, 2, 3], [4, 5, 6]])
    >>> tf.reverse_sequence(x, [2, 3], seq_axis=1, batch_axis=0).numpy().tolist()
    [[2, 1, 3], [6, 5, 4]]
    """
    op = "reverse_sequence"
    x = as_operand(op, input)
    rank = x.shape.rank
    if seq_axis is None:
        raise errors.InvalidArgumentError(f"{op}: seq_axis must be given", op)
    seq_axis = normalize_axis(op, seq_axis, rank)
    batch_axis = normalize_axis(op, 0 if batch_axis is None else batch_axis, rank)
    if seq_axis == batch_axis:
        raise errors.InvalidArgumentError(
            f"{op}: seq_axis and batch_axis must differ, both are {seq_axis}", op)
    lengths = as_operand(op, seq_lengths)
    if not lengths.dtype.is_integer or lengths.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"{op}: seq_lengths must be a vector of integers, received {lengths.dtype.name} "
            f"with shape {tuple(lengths.shape)}", op)
    steps = x.shape[seq_axis]
    if lengths._value is not None and steps is not None:
        values = host(op, lengths, "seq_lengths")
        if values.size and (values.min() < 0 or values.max() > steps):
            raise errors.InvalidArgumentError(
                f"{op}: seq_lengths must be in [0, {steps}], received {values.tolist()}", op)
    perm = [batch_axis, seq_axis] + [i for i in range(rank) if i not in (batch_axis, seq_axis)]
    moved = linalg.transpose(x, perm)
    lengths = math.cast(lengths, dtypes.int32)
    t = array.range(0, array.shape(moved)[1])
    span = array.expand_dims(lengths, 1)
    source = math.where(math.less(t, span), span - 1 - t, t + array.zeros_like(span))
    gathered = indexing.gather(moved, source, axis=1, batch_dims=1)
    inverse = [perm.index(i) for i in range(rank)]
    return linalg.transpose(gathered, inverse)


# ------------------------------------------------------------------ partition and stitch

def dynamic_partition(data, partitions, num_partitions, name=None):
    """Splits data into num_partitions tensors: the i-th holds the rows (over partitions'
    dims) whose partition is i, in order.

    >>> import tensorflux as tf
    >>> parts = tf.dynamic_partition([10, 20, 30, 40], [0, 1, 0, 2], 3)
    >>> [p.numpy().tolist() for p in parts]
    [[10, 30], [20], [40]]
    """
    op = "dynamic_partition"
    data = as_operand(op, data)
    partitions = as_operand(op, partitions)
    if not partitions.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: partitions must be integers, received {partitions.dtype.name}", op)
    count = composite._int(op, num_partitions, "num_partitions")
    if partitions._value is not None:
        values = host(op, partitions, "partitions")
        if values.size and (values.min() < 0 or values.max() >= count):
            raise errors.InvalidArgumentError(
                f"{op}: partitions must be in [0, {count}), received {values.tolist()}", op)
    return [indexing.boolean_mask(data, math.equal(partitions, i)) for i in range(count)]


def dynamic_stitch(indices, data, name=None):
    """merged[indices[m][i]] = data[m][i]: interleaves the rows of several tensors; where an
    index repeats, the last one (in the order of the lists) wins.

    >>> import tensorflux as tf
    >>> tf.dynamic_stitch([[0, 2], [1]], [[1.0, 3.0], [2.0]]).numpy().tolist()
    [1.0, 2.0, 3.0]
    """
    op = "dynamic_stitch"
    if len(indices) != len(data) or not indices:
        raise errors.InvalidArgumentError(
            f"{op}: expected equally long, non-empty lists of indices and data, received "
            f"{len(indices)} and {len(data)}", op)
    index_parts, data_parts = [], []
    for idx, values in zip(indices, data):
        idx = math.cast(as_operand(op, idx), dtypes.int32)
        values = as_operand(op, values)
        row = _dims(values.shape[idx.shape.rank:])
        index_parts.append(array.reshape(idx, [-1]))
        data_parts.append(array.reshape(values, [-1] + row))
    dtype = data_parts[0].dtype
    flat_index = array.concat(index_parts, 0)
    flat_data = array.concat([as_operand(op, d, dtype) for d in data_parts], 0)
    values = host(op, flat_index, "indices")
    if values.size and values.min() < 0:
        raise errors.InvalidArgumentError(f"{op}: indices must be non-negative, received "
                                          f"{values.tolist()}", op)
    size = int(values.max()) + 1 if values.size else 0
    order = array.range(0, array.shape(flat_index)[0])
    # The position of the last row written to each output row (-1 where none is).
    last = composite.unchecked_segment_max(order, flat_index, size)
    written = math.greater_equal(last, 0)
    rows = indexing.gather(flat_data, math.maximum(last, 0))
    mask = array.reshape(written, [size] + [1] * (rows.shape.rank - 1))
    return math.where(mask, rows, array.zeros_like(rows))


def unique_with_counts(x, out_idx=dtypes.int32, name=None):
    """unique(x) and how often each unique value occurs: (y, idx, count).

    >>> import tensorflux as tf
    >>> y, idx, count = tf.unique_with_counts([1, 1, 2, 4, 4, 4])
    >>> y.numpy().tolist(), count.numpy().tolist()
    ([1, 2, 4], [2, 1, 3])
    """
    y, idx = array.unique(x, out_idx=out_idx)
    out_idx = dtypes.as_dtype(out_idx)
    ones = array.ones_like(idx)
    count = composite.unchecked_segment_sum(ones, idx, array.size(y, out_type=out_idx))
    return UniqueWithCounts(y, idx, count)


# ------------------------------------------------------------------ histograms

def histogram_fixed_width_bins(values, value_range, nbins=100, dtype=dtypes.int32, name=None):
    """The bin of each value among nbins equal bins over value_range [lo, hi]; values outside
    go to the first or last bin.

    >>> import tensorflux as tf
    >>> tf.histogram_fixed_width_bins([-1.0, 0.0, 1.5, 5.0], [0.0, 5.0], nbins=5).numpy().tolist()
    [0, 0, 1, 4]
    """
    op = "histogram_fixed_width_bins"
    values = as_operand(op, values)
    if not (values.dtype.is_floating or values.dtype.is_integer):
        raise errors.InvalidArgumentError(f"{op}: expected numeric values, received "
                                          f"{values.dtype.name}", op)
    value_range = as_operand(op, value_range, values.dtype)
    bins = composite._int(op, nbins, "nbins")
    if bins <= 0:
        raise errors.InvalidArgumentError(f"{op}: nbins must be positive, received {bins}", op)
    work = dtypes.float64 if values.dtype.is_integer else values.dtype
    lo, hi = math.cast(value_range[0], work), math.cast(value_range[1], work)
    scaled = (math.cast(values, work) - lo) / (hi - lo)
    index = math.clip_by_value(math.floor(scaled * float(bins)), 0.0, float(bins - 1))
    return math.cast(index, dtypes.as_dtype(dtype))


def histogram_fixed_width(values, value_range, nbins=100, dtype=dtypes.int32, name=None):
    """Counts of values in nbins equal bins over value_range [lo, hi]; values outside count
    in the first or last bin.

    >>> import tensorflux as tf
    >>> values = [-1.0, 0.0, 1.5, 2.0, 5.0, 15.0]
    >>> tf.histogram_fixed_width(values, [0.0, 5.0], nbins=5).numpy().tolist()
    [2, 1, 1, 0, 2]
    """
    op = "histogram_fixed_width"
    dtype = dtypes.as_dtype(dtype)
    index = array.reshape(histogram_fixed_width_bins(values, value_range, nbins), [-1])
    ones = array.ones_like(index, dtype=dtype)
    return composite.unchecked_segment_sum(ones, index, composite._int(op, nbins, "nbins"))


# ------------------------------------------------------------------ indices and shapes

def unravel_index(indices, dims, name=None):
    """The coordinates in an array of shape dims of flat indices: one row per dimension.

    >>> import tensorflux as tf
    >>> tf.unravel_index([1, 5, 7], [3, 3]).numpy().tolist()
    [[0, 1, 2], [1, 2, 1]]
    """
    op = "unravel_index"
    indices = as_operand(op, indices)
    if not indices.dtype.is_integer:
        raise errors.InvalidArgumentError(f"{op}: indices must be integers, received "
                                          f"{indices.dtype.name}", op)
    dims = as_operand(op, dims, indices.dtype)
    if dims.shape.rank != 1:
        raise errors.InvalidArgumentError(f"{op}: dims must be a vector, received shape "
                                          f"{tuple(dims.shape)}", op)
    if indices._value is not None and dims._value is not None:
        flat, sizes = host(op, indices, "indices"), host(op, dims, "dims")
        total = int(sizes.prod())
        if flat.size and (flat.min() < 0 or flat.max() >= total):
            raise errors.InvalidArgumentError(
                f"{op}: indices must be in [0, {total}) for dims {sizes.tolist()}, received "
                f"{flat.tolist()}", op)
    strides = reduction.cumprod(dims, exclusive=True, reverse=True)
    column = [-1] + [1] * indices.shape.rank
    strides, sizes = array.reshape(strides, column), array.reshape(dims, column)
    return math.floormod(math.floordiv(array.expand_dims(indices, 0), strides), sizes)


def identity_n(input, name=None):  # noqa: A002 - TensorFlow's argument name
    """tf.identity of each tensor of a list.

    >>> import tensorflux as tf
    >>> [t.numpy().tolist() for t in tf.identity_n([[1.0], [2, 3]])]
    [[1.0], [2, 3]]
    """
    return [array.identity(as_operand("identity_n", x)) for x in input]


def shape_n(input, out_type=dtypes.int32, name=None):  # noqa: A002
    """tf.shape of each tensor of a list.

    >>> import tensorflux as tf
    >>> [s.numpy().tolist() for s in tf.shape_n([tf.zeros([2, 3]), tf.zeros([4])])]
    [[2, 3], [4]]
    """
    return [array.shape(as_operand("shape_n", x), out_type=out_type) for x in input]


def parallel_stack(values, name="parallel_stack"):
    """tf.stack along a new first axis.

    >>> import tensorflux as tf
    >>> tf.parallel_stack([[1, 2], [3, 4]]).numpy().tolist()
    [[1, 2], [3, 4]]
    """
    return array.stack(values, axis=0)


def broadcast_dynamic_shape(shape_x, shape_y):
    """The broadcast of two shapes given as 1-D integer tensors, as a tensor.

    >>> import tensorflux as tf
    >>> tf.broadcast_dynamic_shape([2, 1, 3], [4, 1]).numpy().tolist()
    [2, 4, 3]
    """
    op = "broadcast_dynamic_shape"
    x = as_operand(op, shape_x)
    y = as_operand(op, shape_y, x.dtype)
    if not x.dtype.is_integer or x.shape.rank != 1 or y.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"{op}: expected two 1-D integer shapes, received {x.dtype.name} "
            f"{tuple(x.shape)} and {tuple(y.shape)}", op)
    if x._value is not None and y._value is not None:
        dims = broadcast_shapes(op, host(op, x, "shape_x").tolist(),
                                host(op, y, "shape_y").tolist())
        return as_operand(op, dims.as_list(), x.dtype)
    length = max(x.shape[0], y.shape[0])
    x = array.concat([array.ones([length - x.shape[0]], x.dtype), x], 0)
    y = array.concat([array.ones([length - y.shape[0]], y.dtype), y], 0)
    return math.where(math.equal(x, 1), y, x)


def broadcast_static_shape(shape_x, shape_y):
    """The broadcast of two TensorShapes (None where a dimension is unknown).

    >>> import tensorflux as tf
    >>> tf.broadcast_static_shape(tf.TensorShape([2, 1, 3]), tf.TensorShape([None, 1]))
    TensorShape([2, None, 3])
    """
    return broadcast_shapes("broadcast_static_shape", TensorShape(shape_x), TensorShape(shape_y))
