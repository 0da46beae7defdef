"""The rest of tf.nn that tutorials reach for, composed from existing primitives (gradients
come for free): the learned-unigram candidate sampler, safe sparse embedding lookups,
collapsing repeated labels, global-statistics batch norm, the depthwise convolution's two
gradients, isotonic regression, approximate top-k and fractional pooling.
"""

from tensorflux import dtypes, errors
from tensorflux.ops import (
    array,
    composite,
    indexing,
    linalg,
    math,
    math_extra,
    nn,
    reduction,
    sampling,
)
from tensorflux.ops import random as _random
from tensorflux.ops._core import as_operand, normalize_axis
from tensorflux.ops._static import fold

__all__ = ["learned_unigram_candidate_sampler", "safe_embedding_lookup_sparse",
           "collapse_repeated", "batch_norm_with_global_normalization",
           "depthwise_conv2d_backprop_filter", "depthwise_conv2d_backprop_input",
           "isotonic_regression", "approx_max_k", "approx_min_k", "fractional_max_pool",
           "fractional_avg_pool"]


# ------------------------------------------------------------------ candidate sampling

def learned_unigram_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max,
                                      seed=None, name=None):
    """Samples class ids in proportion to how often they were seen as true classes, every id
    starting at one count. Returns (sampled_candidates, true_expected_count,
    sampled_expected_count).

    TensorFlow keeps the counts in the op's kernel, which learns across the calls that reuse
    it; here every call starts from the initial counts, so the draw is TensorFlow's first
    one: uniform over [0, range_max).

    >>> import tensorflux as tf
    >>> _, true_count, _ = tf.nn.learned_unigram_candidate_sampler(
    ...     [[1]], 1, 2, False, 4, seed=1)
    >>> true_count.numpy().tolist()
    [[0.5]]
    """
    op = "learned_unigram_candidate_sampler"
    count = sampling._range_max(op, range_max)
    probabilities = array.ones([count], dtypes.float64) / float(count)
    return sampling._sample(op, probabilities, true_classes, num_true, num_sampled, unique,
                            seed)


# ------------------------------------------------------------------ embeddings

def _sparse_parts(op, sp, what):
    try:
        return sp.indices, sp.values, sp.dense_shape
    except AttributeError:
        raise TypeError(f"{op}: {what} must be a SparseTensor, received "
                        f"{type(sp).__name__}") from None


def safe_embedding_lookup_sparse(embedding_weights, sparse_ids, sparse_weights=None,
                                 combiner="mean", default_id=None, max_norm=None, name=None,
                                 allow_fast_lookup=False):
    """Like embedding_lookup_sparse, but robust: negative ids are dropped (and, unless the
    combiner is "sum", ids whose weight is not positive); a row left with no id gets the
    embedding of `default_id` (zeros when None). The result has one row per row of
    `sparse_ids`' dense shape (all its dimensions but the last), then the embedding's.

    >>> import tensorflux as tf
    >>> ids = tf.sparse.SparseTensor([[0, 0], [0, 1], [2, 0]], [1, -1, 0], [3, 2])
    >>> tf.nn.safe_embedding_lookup_sparse([[1.0], [2.0]], ids, default_id=1).numpy().tolist()
    [[2.0], [2.0], [1.0]]
    """
    op = "safe_embedding_lookup_sparse"
    if combiner not in ("sum", "mean", "sqrtn"):
        raise ValueError(f"{op}: combiner must be one of 'mean', 'sqrtn' or 'sum', received "
                         f"{combiner!r}")
    if isinstance(embedding_weights, (list, tuple)) and not embedding_weights:
        raise ValueError(f"{op}: embedding_weights must not be empty")
    # A list of tensors (or arrays) is one table split in row shards, as TF takes it; a
    # nested list of numbers is one table.
    if isinstance(embedding_weights, (list, tuple)) and hasattr(embedding_weights[0],
                                                                "shape"):
        parts = [as_operand(op, w) for w in embedding_weights]
        table = parts[0] if len(parts) == 1 else array.concat(parts, 0)
    else:
        table = as_operand(op, embedding_weights)
    indices, ids, dense_shape = _sparse_parts(op, sparse_ids, "sparse_ids")
    ids = math.cast(ids, dtypes.int64)
    dense_shape = math.cast(dense_shape, dtypes.int64)
    if sparse_weights is None:
        weights = array.ones_like(ids, table.dtype)
        keep = math.greater_equal(ids, 0)
    else:
        weights = math.cast(_sparse_parts(op, sparse_weights, "sparse_weights")[1],
                            table.dtype)
        keep = math.greater_equal(ids, 0)
        if combiner != "sum":
            keep = math.logical_and(keep, math.greater(weights, 0))
    # The leading coordinates of each entry, flattened: the output row it is combined into.
    outer = dense_shape[:-1]
    strides = reduction.cumprod(outer, exclusive=True, reverse=True)
    rows = reduction.reduce_sum(indices[:, :-1] * strides, axis=1)
    row_count = reduction.reduce_prod(outer)
    rows = math.where(keep, rows, array.fill(array.shape(rows), row_count))
    weights = math.where(keep, weights, array.zeros_like(weights))
    safe_ids = math.where(keep, ids, array.zeros_like(ids))
    embeddings = composite.embedding_lookup(table, safe_ids, max_norm=max_norm)
    trailing = embeddings.shape.rank - 1
    segments = math.cast(row_count + 1, dtypes.int32)
    rows = math.cast(rows, dtypes.int32)
    total = composite.unchecked_segment_sum(
        embeddings * array.reshape(weights, [-1] + [1] * trailing), rows, segments)
    if combiner != "sum":
        norms = weights if combiner == "mean" else weights * weights
        divisor = composite.unchecked_segment_sum(norms, rows, segments)
        if combiner == "sqrtn":
            divisor = math.sqrt(divisor)
        total = math.divide_no_nan(total, array.reshape(divisor, [-1] + [1] * trailing))
    total = total[:-1]  # (the last segment collected the dropped entries)
    present = composite.unchecked_segment_sum(math.cast(keep, dtypes.int32), rows, segments)
    empty = math.equal(present[:-1], 0)
    if default_id is None:
        fallback = array.zeros_like(total)
    else:
        fallback = array.zeros_like(total) + composite.embedding_lookup(
            table, math.cast(as_operand(op, default_id), dtypes.int64), max_norm=max_norm)
    result = math.where(array.reshape(empty, [-1] + [1] * trailing), fallback, total)
    shape = array.concat([math.cast(outer, dtypes.int32),
                          array.shape(embeddings, out_type=dtypes.int32)[1:]], 0)
    return array.reshape(result, shape)


# ------------------------------------------------------------------ sequences

def collapse_repeated(labels, seq_length, name=None):
    """Merges runs of equal labels within each row's first seq_length entries into one:
    returns (collapsed labels, zero-padded to the longest result, new sequence lengths).

    >>> import tensorflux as tf
    >>> out, length = tf.nn.collapse_repeated([[1, 1, 2, 2], [3, 3, 3, 4]], [4, 3])
    >>> out.numpy().tolist(), length.numpy().tolist()
    ([[1, 2], [3, 0]], [2, 1])
    """
    op = "collapse_repeated"
    labels = as_operand(op, labels)
    seq_length = as_operand(op, seq_length)
    if labels.shape.rank != 2 or seq_length.shape.rank != 1 or not seq_length.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: expected labels [batch, max_time] and integer seq_length [batch], received "
            f"shapes {tuple(labels.shape)} and {tuple(seq_length.shape)} "
            f"({seq_length.dtype.name})", op)
    width = array.shape(labels)[1]
    positions = array.expand_dims(array.range(0, width), 0)
    inside = math.less(positions, array.expand_dims(math.cast(seq_length, dtypes.int32), 1))
    previous = array.concat([labels[:, :1], labels[:, :-1]], 1)
    starts = math.logical_or(math.equal(positions, 0), math.not_equal(labels, previous))
    keep = math.logical_and(inside, starts)
    kept = math.cast(keep, dtypes.int32)
    new_length = reduction.reduce_sum(kept, axis=1)
    slots = reduction.cumsum(kept, axis=1) - 1
    where = array.where_indices(keep)
    targets = array.stack([math.cast(where[:, 0], dtypes.int32),
                           indexing.gather_nd(slots, where)], 1)
    out_width = reduction.reduce_max(array.concat([new_length, array.zeros([1], dtypes.int32)],
                                                  0))
    collapsed = indexing.scatter_nd(targets, indexing.gather_nd(labels, where),
                                    array.stack([array.shape(labels)[0], out_width]))
    return collapsed, math.cast(new_length, seq_length.dtype)


# ------------------------------------------------------------------ normalization

def batch_norm_with_global_normalization(input, mean, variance, beta, gamma,  # noqa: A002
                                         variance_epsilon, scale_after_normalization,
                                         name=None):
    """Batch normalization with given (global) statistics over the last axis:
    (input - mean) / sqrt(variance + variance_epsilon), times gamma when
    scale_after_normalization, plus beta.

    >>> import tensorflux as tf
    >>> tf.nn.batch_norm_with_global_normalization(
    ...     [[2.0]], [1.0], [4.0], [0.5], [3.0], 0.0, True).numpy().tolist()
    [[2.0]]
    """
    scale = gamma if scale_after_normalization else None
    return nn.batch_normalization(input, mean, variance, beta, scale, variance_epsilon)


# ------------------------------------------------------------------ depthwise gradients

def _depthwise_attrs(op, strides, padding, data_format, dilations):
    data_format = nn._data_format(op, data_format, 2)
    return dict(strides=nn._int_list(op, "strides", strides, 2, data_format),
                padding=nn._padding(op, padding, 2, data_format),
                dilations=nn._int_list(op, "dilations", 1 if dilations is None else dilations,
                                       2, data_format),
                data_format=data_format)


def _sizes(op, value, what):
    sizes = fold(op, value, what)
    if not isinstance(sizes, list) or len(sizes) != 4:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must list 4 sizes, received {sizes!r}", op)
    return tuple(int(s) for s in sizes)


def depthwise_conv2d_backprop_input(input_sizes, filter, out_backprop, strides,  # noqa: A002
                                    padding, data_format="NHWC", dilations=(1, 1, 1, 1),
                                    name=None):
    """The gradient of depthwise_conv2d with respect to its input, of shape input_sizes,
    given the filter and the output's gradient out_backprop.

    >>> import tensorflux as tf
    >>> tf.nn.depthwise_conv2d_backprop_input([1, 2, 2, 1], tf.ones([2, 2, 1, 1]),
    ...                                       tf.ones([1, 1, 1, 1]), [1, 1, 1, 1],
    ...                                       "VALID").numpy().ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    op = "depthwise_conv2d_backprop_input"
    grad = nn._float_operand(op, out_backprop, "out_backprop")
    w = as_operand(op, filter, grad.dtype)
    sizes = _sizes(op, input_sizes, "input_sizes")
    if w.shape.rank != 4 or grad.shape.rank != 4:
        raise errors.InvalidArgumentError(
            f"{op}: expected a filter and out_backprop of rank 4, received shapes "
            f"{tuple(w.shape)} and {tuple(grad.shape)}", op)
    kh, kw, depth, multiplier = tuple(w.shape)
    attrs = _depthwise_attrs(op, strides, padding, data_format, dilations)
    grouped = array.reshape(w, [kh, kw, 1, depth * multiplier])
    return nn._conv2d_backprop_input.bind(grouped, grad, input_shape=sizes, **attrs)


def depthwise_conv2d_backprop_filter(input, filter_sizes, out_backprop, strides,  # noqa: A002
                                     padding, data_format="NHWC", dilations=(1, 1, 1, 1),
                                     name=None):
    """The gradient of depthwise_conv2d with respect to its filter, of shape filter_sizes
    ([h, w, in_channels, multiplier]), given the input and the output's gradient.

    >>> import tensorflux as tf
    >>> tf.nn.depthwise_conv2d_backprop_filter(tf.ones([1, 2, 2, 1]), [2, 2, 1, 1],
    ...                                        tf.ones([1, 1, 1, 1]), [1, 1, 1, 1],
    ...                                        "VALID").numpy().ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    op = "depthwise_conv2d_backprop_filter"
    x = nn._float_operand(op, input)
    grad = as_operand(op, out_backprop, x.dtype)
    kh, kw, depth, multiplier = _sizes(op, filter_sizes, "filter_sizes")
    attrs = _depthwise_attrs(op, strides, padding, data_format, dilations)
    channels = nn._spatial(x.shape, attrs["data_format"])[2]
    if x.shape.rank != 4 or channels not in (None, depth):
        raise errors.InvalidArgumentError(
            f"{op}: expected a rank-4 input with {depth} channels (filter_sizes), received "
            f"shape {tuple(x.shape)}", op)
    w = nn._conv2d_backprop_filter.bind(x, grad, filter_shape=(kh, kw, 1, depth * multiplier),
                                        **attrs)
    return array.reshape(w, [kh, kw, depth, multiplier])


# ------------------------------------------------------------------ isotonic regression

def _isotonic_blocks(rows, decreasing):
    """Pool-adjacent-violators on each row (lists of floats): the block id of each entry;
    blocks merge while a later block's mean strictly violates the order."""
    segments = []
    for row in rows:
        blocks = []  # [sum, count]
        for value in row:
            blocks.append([value, 1])
            while len(blocks) > 1:
                (s0, n0), (s1, n1) = blocks[-2], blocks[-1]
                before, after = s0 / n0, s1 / n1
                if (before < after) if decreasing else (before > after):
                    blocks[-2:] = [[s0 + s1, n0 + n1]]
                else:
                    break
        ids = []
        for block, (_, n) in enumerate(blocks):
            ids.extend([block] * n)
        segments.append(ids)
    return segments


def isotonic_regression(inputs, decreasing=True, axis=-1):
    """The closest (least-squares) non-increasing sequence to each vector along `axis`
    (non-decreasing when decreasing=False). Returns (output, segments): each entry's value
    is the mean of its block of the inputs, and segments number those blocks from 0.
    Integer inputs give float32 outputs.

    >>> import tensorflux as tf
    >>> out, segments = tf.nn.isotonic_regression([[1.0, 3.0, 2.0]])
    >>> out.numpy().tolist(), segments.numpy().tolist()
    ([[2.0, 2.0, 2.0]], [[0, 0, 1]])
    """
    op = "isotonic_regression"
    x = as_operand(op, inputs)
    if not (x.dtype.is_floating or x.dtype.is_integer):
        raise errors.InvalidArgumentError(
            f"{op}: inputs must be real numbers, received {x.dtype.name}", op)
    if not x.dtype.is_floating:
        x = math.cast(x, dtypes.float32)
    if x.shape.rank is None or x.shape.rank == 0:
        raise errors.InvalidArgumentError(
            f"{op}: inputs need at least one axis, received shape {tuple(x.shape)}", op)
    axis = normalize_axis(op, axis, x.shape.rank)
    last = x.shape.rank - 1
    perm = list(range(x.shape.rank))
    perm[axis], perm[last] = last, axis
    moved = linalg.transpose(x, perm) if axis != last else x
    flat = array.reshape(moved, array.stack([-1, array.shape(moved)[-1]]))

    def blocks(values):
        return [_isotonic_blocks(values.numpy().tolist(), bool(decreasing))]

    from tensorflux import control

    segments = control.py_function(blocks, [array.stop_gradient(flat)], [dtypes.int32])[0]
    segments = array.reshape(segments, array.shape(flat))
    # The means of each row's blocks, as one segment mean over row * width + block.
    width = array.shape(flat)[1]
    ids = segments + array.expand_dims(array.range(0, array.shape(flat)[0]) * width, 1)
    total = array.shape(flat)[0] * width
    sums = composite.unchecked_segment_sum(array.reshape(flat, [-1]),
                                          array.reshape(ids, [-1]), total)
    counts = composite.unchecked_segment_sum(array.ones_like(array.reshape(flat, [-1])),
                                            array.reshape(ids, [-1]), total)
    means = indexing.gather(math.divide_no_nan(sums, counts), ids)
    output = array.reshape(means, array.shape(moved))
    segments = array.reshape(segments, array.shape(moved))
    if axis != last:
        output, segments = linalg.transpose(output, perm), linalg.transpose(segments, perm)
    output.set_shape(x.shape)
    segments.set_shape(x.shape)
    return output, segments


# ------------------------------------------------------------------ approximate top-k

def _approx_top_k(op, operand, k, reduction_dimension, largest):
    x = as_operand(op, operand)
    if not x.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: operand must be floating point (half, bfloat16, float), received "
            f"{x.dtype.name}", op)
    rank = x.shape.rank
    axis = normalize_axis(op, reduction_dimension, rank)
    k = composite._int(op, k, "k")
    size = x.shape[axis]
    if k < 0 or (size is not None and size < k):
        raise errors.InvalidArgumentError(
            f"{op}: input must have at least k columns. Had {size}, needed {k}", op)
    last = rank - 1
    perm = list(range(rank))
    perm[axis], perm[last] = last, axis
    moved = linalg.transpose(x, perm) if axis != last else x
    values, indices = reduction.top_k(moved if largest else math.negative(moved), k)
    if not largest:
        values = math.negative(values)
    if axis != last:
        values, indices = linalg.transpose(values, perm), linalg.transpose(indices, perm)
    return values, indices


def approx_max_k(operand, k, reduction_dimension=-1, recall_target=0.95,
                 reduction_input_size_override=-1, aggregate_to_topk=True, name=None):
    """The k largest values along reduction_dimension and their int32 indices, as
    (values, indices). TensorFlow's TPU kernel may miss some (recall_target bounds how
    many); the exact top k is always a valid answer, and it is what this returns.

    >>> import tensorflux as tf
    >>> values, indices = tf.nn.approx_max_k([[1.0, 5.0, 3.0]], 2)
    >>> values.numpy().tolist(), indices.numpy().tolist()
    ([[5.0, 3.0]], [[1, 2]])
    """
    return _approx_top_k("approx_max_k", operand, k, reduction_dimension, True)


def approx_min_k(operand, k, reduction_dimension=-1, recall_target=0.95,
                 reduction_input_size_override=-1, aggregate_to_topk=True, name=None):
    """The k smallest values along reduction_dimension and their int32 indices (exact: see
    approx_max_k).

    >>> import tensorflux as tf
    >>> values, indices = tf.nn.approx_min_k([[1.0, 5.0, 3.0]], 2)
    >>> values.numpy().tolist(), indices.numpy().tolist()
    ([[1.0, 3.0]], [[0, 2]])
    """
    return _approx_top_k("approx_min_k", operand, k, reduction_dimension, False)


# ------------------------------------------------------------------ fractional pooling

def _pooling_ratio(op, pooling_ratio):
    ratio = pooling_ratio
    if isinstance(ratio, (int, float)):
        ratio = [ratio]
    ratio = [float(r) for r in ratio]
    if len(ratio) == 1:
        ratio = [1.0, ratio[0], ratio[0], 1.0]
    if len(ratio) != 4 or ratio[0] != 1.0 or ratio[3] != 1.0:
        raise ValueError(f"{op}: `pooling_ratio` should have first and last elements with "
                         f"value 1.0. Received: pooling_ratio={pooling_ratio}")
    if any(r < 1.0 for r in ratio):
        raise ValueError(f"{op}: `pooling_ratio` elements should be >= 1.0. Received: "
                         f"pooling_ratio={pooling_ratio}")
    return ratio


def _pooling_sequence(input_length, output_length, pseudo_random, seed):
    """The window boundaries (int64, output_length + 1 of them, from 0 to input_length):
    random windows of input_length // output_length or one more entries, in shuffled order;
    pseudo-random ones at ceil(alpha * (i + u)) - 1 for one random u."""
    k, extra = divmod(input_length, output_length)
    if not pseudo_random:
        sizes = array.concat([array.fill([extra], k + 1), array.fill([output_length - extra], k)],
                             0)
        sizes = _random.shuffle(math.cast(sizes, dtypes.int64), seed=seed)
        return array.concat([array.zeros([1], dtypes.int64), reduction.cumsum(sizes)], 0)
    alpha = input_length / output_length
    highest = min((k + 2) / alpha - 1, (input_length + 1 - k) / alpha - (output_length - 1))
    u = _random.uniform([], 0.0, highest, dtype=dtypes.float64, seed=seed)
    steps = array.range(1, output_length, dtype=dtypes.float64)
    inner = math.cast(math.ceil(alpha * (steps + u)), dtypes.int64) - 1
    return array.concat([array.zeros([1], dtypes.int64), inner,
                         array.fill([1], math.cast(input_length, dtypes.int64))], 0)


def _pool_axis(x, axis, sequence, overlapping, reduce_max):
    """x pooled along `axis` over the windows [sequence[i], sequence[i + 1]) (the end
    included when overlapping)."""
    length = x.shape[axis]
    ends = sequence[1:] + (1 if overlapping else 0)
    ends = math.minimum(ends, math.cast(length, dtypes.int64))
    starts = sequence[:-1]
    widest = math.cast(reduction.reduce_max(ends - starts), dtypes.int64)
    offsets = array.range(0, widest, dtype=dtypes.int64)
    taps = array.expand_dims(starts, 1) + array.expand_dims(offsets, 0)  # [out, widest]
    inside = math.less(taps, array.expand_dims(ends, 1))
    # Taps past a window's end read its first entry: harmless for a max, weighed 0 in a mean.
    taps = math.where(inside, taps, array.zeros_like(taps) + array.expand_dims(starts, 1))
    windows = indexing.gather(x, taps, axis=axis)  # window axes at axis, axis + 1
    if reduce_max:
        return reduction.reduce_max(windows, axis=axis + 1)
    weights = math.cast(inside, x.dtype)
    for _ in range(axis):
        weights = array.expand_dims(weights, 0)
    for _ in range(x.shape.rank - axis - 1):
        weights = array.expand_dims(weights, -1)
    if not x.dtype.is_floating:
        # (integer means truncate, as TensorFlow's kernel divides in the input's type)
        return math_extra.truncatediv(reduction.reduce_sum(windows * weights, axis=axis + 1),
                                reduction.reduce_sum(weights, axis=axis + 1))
    return (reduction.reduce_sum(windows * weights, axis=axis + 1)
            / reduction.reduce_sum(weights, axis=axis + 1))


def _fractional_pool(op, value, pooling_ratio, pseudo_random, overlapping, seed, reduce_max,
                     sequences=None):
    x = as_operand(op, value)
    allowed = (dtypes.float32, dtypes.float64, dtypes.int32, dtypes.int64)
    if x.dtype not in allowed:
        raise errors.InvalidArgumentError(
            f"{op}: value must be float32, float64, int32 or int64, received {x.dtype.name}",
            op)
    if x.shape.rank != 4:
        raise errors.InvalidArgumentError(
            f"{op}: tensor_in must be 4-dimensional, received shape {tuple(x.shape)}", op)
    ratio = _pooling_ratio(op, pooling_ratio)
    if sequences is None:
        sequences = []
        seed = None if seed in (0, None) else int(seed)
        for axis in (1, 2):
            size = x.shape[axis]
            if size is None:
                raise errors.InvalidArgumentError(
                    f"{op}: the height and width must be known, received shape "
                    f"{tuple(x.shape)}", op)
            out = int(size // ratio[axis])
            if out < 1:
                raise errors.InvalidArgumentError(
                    f"{op}: pooling_ratio {ratio[axis]} leaves no output along a dimension "
                    f"of size {size}", op)
            sequences.append(_pooling_sequence(size, out, pseudo_random, seed))
    rows, cols = (math.cast(as_operand(op, s), dtypes.int64) for s in sequences)
    pooled = _pool_axis(x, 1, rows, overlapping, reduce_max)
    pooled = _pool_axis(pooled, 2, cols, overlapping, reduce_max)
    return pooled, rows, cols


def fractional_max_pool(value, pooling_ratio, pseudo_random=False, overlapping=False, seed=0,
                        name=None):
    """Max pooling of NHWC `value` by a fractional ratio per dimension (pooling_ratio: a
    number, or [1.0, rows, cols, 1.0], each >= 1): windows of floor(ratio) or one more rows
    and columns, placed at random (pseudo_random: evenly, from one random offset); with
    overlapping, neighbouring windows share their boundary. Returns (output,
    row_pooling_sequence, col_pooling_sequence), the sequences being the windows' starts
    and the input's size. seed=0 draws from the global seed, as other tf.random ops do.

    >>> import tensorflux as tf
    >>> out, rows, cols = tf.nn.fractional_max_pool(tf.ones([1, 5, 5, 1]), [1.0, 1.5, 1.5, 1.0])
    >>> out.shape, rows.shape
    (TensorShape([1, 3, 3, 1]), TensorShape([4]))
    """
    return _fractional_pool("fractional_max_pool", value, pooling_ratio, pseudo_random,
                            overlapping, seed, True)


def fractional_avg_pool(value, pooling_ratio, pseudo_random=False, overlapping=False, seed=0,
                        name=None):
    """Average pooling with fractional_max_pool's windows. Returns (output,
    row_pooling_sequence, col_pooling_sequence).

    >>> import tensorflux as tf
    >>> out, _, _ = tf.nn.fractional_avg_pool(tf.ones([1, 5, 5, 1]), 1.5, seed=1)
    >>> out.numpy().ravel().tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    return _fractional_pool("fractional_avg_pool", value, pooling_ratio, pseudo_random,
                            overlapping, seed, False)
