"""Composite ops built from existing primitives: norms and clipping, segments and counting,
masks, rolls and grids (tf.clip_by_norm, tf.math.segment_sum, tf.sequence_mask, ...).

None of these is a primitive: each is a few primitives whose VJPs give its gradient.
"""

from tensorflux import dtypes, errors
from tensorflux.ops import array, indexing, math, reduction
from tensorflux.ops._core import as_operand, normalize_axis
from tensorflux.ops._static import host, scalar_operand
from tensorflux.tensor import TensorShape, _TensorLike, convert_to_tensor

__all__ = [
    "clip_by_norm", "clip_by_global_norm", "global_norm", "l2_normalize", "embedding_lookup",
    "segment_sum", "unsorted_segment_sum", "unsorted_segment_mean", "unsorted_segment_max",
    "unsorted_segment_min", "bincount", "in_top_k", "confusion_matrix", "searchsorted",
    "sequence_mask", "roll", "meshgrid", "ensure_shape",
]


def _int(op, value, what):
    """A Python int from an int, a NumPy scalar or a tensor known when traced."""
    if isinstance(value, _TensorLike):
        value = host(op, value, what)
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: {what} must be an integer, received "
                                          f"{value!r}", op) from error


def _float_operand(op, x):
    x = as_operand(op, x)
    if not (x.dtype.is_floating or x.dtype.is_complex):
        # TF fails converting its epsilon to the integer dtype; say so directly.
        raise TypeError(f"{op}: expected a floating-point tensor, received dtype "
                        f"{x.dtype.name} with shape {tuple(x.shape)}")
    return x


# ------------------------------------------------------------------ norms and clipping

def clip_by_norm(t, clip_norm, axes=None, name=None):
    """Rescales `t` so that its L2 norm over `axes` (all axes when None) is at most clip_norm.

    >>> import tensorflux as tf
    >>> tf.clip_by_norm([3.0, 4.0], 1.0).numpy().tolist()
    [0.6000000238418579, 0.800000011920929]
    """
    t = _float_operand("clip_by_norm", t)
    clip_norm = as_operand("clip_by_norm", clip_norm, t.dtype)
    squares = reduction.reduce_sum(t * t, axis=axes, keepdims=True)
    positive = math.greater(squares, 0)
    # sqrt only where the sum is positive: its gradient at 0 would be inf (and 0 * inf NaN).
    safe = math.where(positive, squares, array.ones_like(squares))
    norm = math.where(positive, math.sqrt(safe), squares)
    return (t * clip_norm) / math.maximum(norm, clip_norm)


def global_norm(t_list, name=None):
    """sqrt(sum of squares of every entry of every tensor in t_list); None entries skipped.

    >>> import tensorflux as tf
    >>> float(tf.linalg.global_norm([tf.constant([3.0, 4.0]), None, tf.constant([12.0])]))
    13.0
    """
    if isinstance(t_list, _TensorLike) or not isinstance(t_list, (list, tuple)):
        raise TypeError("global_norm: t_list should be a sequence of tensors, received "
                        f"{type(t_list).__name__}")
    tensors = [as_operand("global_norm", t) for t in t_list if t is not None]
    if not tensors:
        return convert_to_tensor(0.0)
    squares = [reduction.reduce_sum(t * t) for t in tensors]
    return math.sqrt(math.add_n(squares) if len(squares) > 1 else squares[0])


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """Scales every tensor of t_list by clip_norm / max(global_norm, clip_norm).

    Returns (the clipped list, the global norm); None entries stay None.

    >>> import tensorflux as tf
    >>> clipped, norm = tf.clip_by_global_norm([tf.constant([3.0, 4.0])], 2.5)
    >>> clipped[0].numpy().tolist(), float(norm)
    ([1.5, 2.0], 5.0)
    """
    if isinstance(t_list, _TensorLike) or not isinstance(t_list, (list, tuple)):
        raise TypeError("clip_by_global_norm: t_list should be a sequence of tensors, "
                        f"received {type(t_list).__name__}")
    norm = global_norm(t_list) if use_norm is None else as_operand("clip_by_global_norm",
                                                                    use_norm)
    clip = as_operand("clip_by_global_norm", clip_norm, norm.dtype)
    # An infinite or NaN norm makes every value NaN, as in TF (1 / inf is 0 otherwise).
    scale = clip * math.minimum(1.0 / norm, 1.0 / clip)
    scale = math.where(math.is_finite(norm), scale, convert_to_tensor(float("nan"),
                                                                       norm.dtype))
    clipped = [None if t is None else
               as_operand("clip_by_global_norm", t) * math.cast(scale, _dtype_of(t))
               for t in t_list]
    return clipped, norm


def _dtype_of(t):
    return t.dtype if isinstance(t, _TensorLike) else convert_to_tensor(t).dtype


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """x / sqrt(max(sum(x ** 2, axis), epsilon)).

    >>> import tensorflux as tf
    >>> tf.math.l2_normalize([3.0, 4.0]).numpy().tolist()
    [0.6000000238418579, 0.800000011920929]
    """
    x = _float_operand("l2_normalize", x)
    axis = dim if axis is None else axis
    squares = math.real(x * math.conj(x)) if x.dtype.is_complex else x * x
    total = reduction.reduce_sum(squares, axis=axis, keepdims=True)
    scale = math.rsqrt(math.maximum(total, epsilon))
    return x * (math.cast(scale, x.dtype) if x.dtype.is_complex else scale)


def embedding_lookup(params, ids, max_norm=None, name=None):
    """Rows of `params` at `ids` (a list of params is one table split in contiguous shards).

    >>> import tensorflux as tf
    >>> tf.nn.embedding_lookup([[1.0, 2.0], [3.0, 4.0]], [1, 0]).numpy().tolist()
    [[3.0, 4.0], [1.0, 2.0]]
    """
    if isinstance(params, (list, tuple)) and params and isinstance(params[0], _TensorLike):
        table = params[0] if len(params) == 1 else array.concat(list(params), axis=0)
    else:
        table = as_operand("embedding_lookup", params)
    ids = as_operand("embedding_lookup", ids)
    if not ids.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"embedding_lookup: ids must be integers, received {ids.dtype.name}",
            "embedding_lookup")
    rows = indexing.gather(table, ids)
    if max_norm is None:
        return rows
    row_axes = list(range(ids.shape.rank, rows.shape.rank))
    return clip_by_norm(rows, max_norm, axes=row_axes)


# ------------------------------------------------------------------ segments and counting

def _segment_operands(op, data, segment_ids):
    data = as_operand(op, data)
    ids = as_operand(op, segment_ids)
    if not ids.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: segment_ids must be integers, received {ids.dtype.name}", op)
    rank = ids.shape.rank
    if data.shape[:rank].is_fully_defined() and ids.shape.is_fully_defined() and \
            tuple(data.shape[:rank]) != tuple(ids.shape):
        raise errors.InvalidArgumentError(
            f"{op}: segment_ids shape {tuple(ids.shape)} must be a prefix of data shape "
            f"{tuple(data.shape)}", op)
    return data, math.cast(ids, dtypes.int32) if ids.dtype is not dtypes.int32 else ids


def _num_segments(op, value):
    """num_segments as an int, or as an int32 scalar tensor known only at run time (as TF
    takes it)."""
    count, runtime = scalar_operand(op, value, "num_segments")
    if runtime is None:
        return _int(op, count, "num_segments")
    if not runtime.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: num_segments must be an integer, received {runtime.dtype.name}", op)
    return math.cast(runtime, dtypes.int32)


def _sorted_count(op, ids):
    """The number of segments of sorted, non-negative ids: the last id + 1."""
    if ids.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"{op}: segment_ids must be a vector, received shape {tuple(ids.shape)}", op)
    from tensorflux.graph.static import get_static_value

    if ids._value is None and get_static_value(ids) is None:
        # Traced with ids known only at run time (a batch's molecule indicator): the count is
        # the largest id + 1 (0 for no ids), a scalar computed at run time.
        floor = convert_to_tensor([-1], dtype=ids.dtype)
        return reduction.reduce_max(array.concat([floor, ids], 0)) + 1
    values = host(op, ids, "segment_ids")
    if values.size and ((values[1:] < values[:-1]).any() or values[0] < 0):
        raise errors.InvalidArgumentError(
            f"{op}: segment_ids must be sorted in increasing order and non-negative, "
            f"received {values.tolist()}", op)
    return int(values[-1]) + 1 if values.size else 0


def check_segment_ids(op, ids, num_segments):
    """TF's CPU kernels of the public unsorted_segment_* ops refuse an id >= num_segments
    (InvalidArgumentError "segment_ids[i] = v is out of range [0, n)"); negative ids are
    dropped (TF 2.21: tf.math.unsorted_segment_sum([1., 2., 3.], [0, -1, 1], 2) is [1, 3]).
    Checked here when the ids and the count are known: eagerly, or constants while tracing.
    Inside a tf.function with ids known only at run time there is no check (a host call on
    every run costs ~15-30 us, more than the op on small inputs), and such ids are dropped
    as on TF's GPU."""
    if not isinstance(num_segments, int):
        return
    if ids._value is not None and type(ids._value).__module__.startswith("cupy"):
        # TF's GPU kernels do not validate either ("On GPU, this does not throw an error
        # for out-of-bound indices"), and a check would copy the ids to the host.
        return
    if ids._value is None:
        from tensorflux.graph.static import get_static_value

        if get_static_value(ids) is None:
            return
    values = host(op, ids, "segment_ids")
    if not values.size or values.max() < num_segments:
        return
    flat = int((values >= num_segments).argmax())
    index = []
    for size in reversed(values.shape):
        index.insert(0, flat % size)
        flat //= size
    where = ",".join(map(str, index))
    raise errors.InvalidArgumentError(
        f"{op}: segment_ids[{where}] = {int(values[tuple(index)])} is out of range "
        f"[0, {num_segments})", op)


def _segment_totals(op, data, ids, num_segments):
    """Sums of data's rows per segment id; ids outside [0, num_segments) are dropped (they go
    to one extra row that is cut off)."""
    inside = math.logical_and(math.greater_equal(ids, 0), math.less(ids, num_segments))
    target = math.where(inside, ids, array.ones_like(ids) * num_segments)
    outer = [num_segments + 1] + list(data.shape[ids.shape.rank:])
    if not TensorShape([None if isinstance(d, _TensorLike) else d
                        for d in outer]).is_fully_defined():
        # Known only at run time: the count, or data's trailing dimensions.
        outer = array.concat([array.reshape(num_segments + 1, [1]),
                              array.shape(data, out_type=dtypes.int32)[ids.shape.rank:]], 0)
    totals = indexing.scatter_nd(array.expand_dims(target, -1), data, outer)
    return totals[:num_segments]


def _unit_axes(x, axis, count):
    """x with `count` axes of size 1 inserted at `axis` (to broadcast segments against data's
    rows): a reshape to a computed shape, which also runs on dims known only at run time."""
    if count == 0:
        return x
    if x.shape.is_fully_defined():
        dims = list(x.shape)
        return array.reshape(x, dims[:axis] + [1] * count + dims[axis:])
    dims = array.shape(x, out_type=dtypes.int32)
    ones = convert_to_tensor([1] * count, dtype=dtypes.int32)
    return array.reshape(x, array.concat([dims[:axis], ones, dims[axis:]], 0))


def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    """Sums of the rows of `data` with each segment id; empty segments are 0.

    >>> import tensorflux as tf
    >>> tf.math.unsorted_segment_sum([1.0, 2.0, 3.0, 4.0], [2, 0, 2, 0], 4).numpy().tolist()
    [6.0, 0.0, 4.0, 0.0]
    """
    return _unsorted_sum("unsorted_segment_sum", data, segment_ids, num_segments, True)


def unchecked_segment_sum(data, segment_ids, num_segments):
    """unsorted_segment_sum without the range check: ids outside [0, num_segments) are
    dropped. For internal callers whose ids may reach num_segments on purpose (tf.repeat,
    histograms, row ids of empty trailing rows)."""
    return _unsorted_sum("unsorted_segment_sum", data, segment_ids, num_segments, False)


def _unsorted_sum(op, data, segment_ids, num_segments, check):
    data, ids = _segment_operands(op, data, segment_ids)
    count = _num_segments(op, num_segments)
    if check:
        check_segment_ids(op, ids, count)
    return _segment_totals(op, data, ids, count)


def segment_sum(data, segment_ids, name=None):
    """Sums of the rows of `data` per sorted segment id; there are last id + 1 segments.

    >>> import tensorflux as tf
    >>> tf.math.segment_sum([1.0, 2.0, 3.0, 4.0], [0, 0, 1, 3]).numpy().tolist()
    [3.0, 3.0, 0.0, 4.0]
    """
    data, ids = _segment_operands("segment_sum", data, segment_ids)
    if ids.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"segment_sum: segment_ids must be a vector, received shape {tuple(ids.shape)}",
            "segment_sum")
    return _segment_totals("segment_sum", data, ids, _sorted_count("segment_sum", ids))


def unsorted_segment_mean(data, segment_ids, num_segments, name=None):
    """Means of the rows of `data` per segment id; empty segments are 0.

    >>> import tensorflux as tf
    >>> tf.math.unsorted_segment_mean([1.0, 2.0, 3.0, 4.0], [2, 0, 2, 0], 4).numpy().tolist()
    [3.0, 0.0, 2.0, 0.0]
    """
    return _unsorted_mean(data, segment_ids, num_segments, True)


def unchecked_segment_mean(data, segment_ids, num_segments):
    """unsorted_segment_mean, ids outside [0, num_segments) dropped without a check."""
    return _unsorted_mean(data, segment_ids, num_segments, False)


def _unsorted_mean(data, segment_ids, num_segments, check):
    data, ids = _segment_operands("unsorted_segment_mean", data, segment_ids)
    count = _num_segments("unsorted_segment_mean", num_segments)
    if check:
        check_segment_ids("unsorted_segment_mean", ids, count)
    totals = _segment_totals("unsorted_segment_mean", data, ids, count)
    ones = array.ones_like(ids, dtype=data.dtype)
    sizes = _segment_totals("unsorted_segment_mean", ones, ids, count)
    sizes = _unit_axes(sizes, sizes.shape.rank, data.shape.rank - ids.shape.rank)
    return totals / math.maximum(sizes, 1)


def _segment_extremum(op, data, segment_ids, num_segments, largest, check=True):
    data, ids = _segment_operands(op, data, segment_ids)
    count = _num_segments(op, num_segments)
    if check:
        check_segment_ids(op, ids, count)
    # members[n, s]: row n belongs to segment s; rows outside a segment hold the identity
    # of the reduction (the dtype's lowest or highest value), which empty segments keep.
    members = array.one_hot(ids, count, on_value=True, off_value=False, dtype=dtypes.bool)
    members = _unit_axes(members, members.shape.rank, data.shape.rank - ids.shape.rank)
    rows = _unit_axes(data, ids.shape.rank, 1)
    fill = data.dtype.min if largest else data.dtype.max
    if data.shape[0] == 0:  # no rows: every segment empty (a reduction would give -inf)
        return array.fill([count] + list(data.shape[ids.shape.rank:]),
                          convert_to_tensor(fill, data.dtype))
    picked = math.where(members, rows, convert_to_tensor(fill, data.dtype))
    axes = list(range(ids.shape.rank))
    if largest:
        return reduction.reduce_max(picked, axis=axes)
    return reduction.reduce_min(picked, axis=axes)


def unsorted_segment_max(data, segment_ids, num_segments, name=None):
    """Maxima of the rows of `data` per segment id; empty segments hold the dtype's lowest.

    >>> import tensorflux as tf
    >>> tf.math.unsorted_segment_max([1, 2, 3, 4], [1, 0, 1, 0], 2).numpy().tolist()
    [4, 3]
    """
    return _segment_extremum("unsorted_segment_max", data, segment_ids, num_segments, True)


def unsorted_segment_min(data, segment_ids, num_segments, name=None):
    """Minima of the rows of `data` per segment id; empty segments hold the dtype's highest.

    >>> import tensorflux as tf
    >>> tf.math.unsorted_segment_min([1, 2, 3, 4], [1, 0, 1, 0], 2).numpy().tolist()
    [2, 1]
    """
    return _segment_extremum("unsorted_segment_min", data, segment_ids, num_segments, False)


def unchecked_segment_max(data, segment_ids, num_segments):
    """unsorted_segment_max, ids outside [0, num_segments) dropped without a check."""
    return _segment_extremum("unsorted_segment_max", data, segment_ids, num_segments, True,
                             check=False)


def unchecked_segment_min(data, segment_ids, num_segments):
    """unsorted_segment_min, ids outside [0, num_segments) dropped without a check."""
    return _segment_extremum("unsorted_segment_min", data, segment_ids, num_segments, False,
                             check=False)


def bincount(arr, weights=None, minlength=None, maxlength=None, dtype=dtypes.int32,
             name=None, axis=None, binary_output=False):
    """Counts of each value of the non-negative int tensor `arr` (weighted sums with weights).

    The result has max(arr) + 1 entries, at least minlength and at most maxlength (values at
    or above maxlength are not counted).

    >>> import tensorflux as tf
    >>> tf.math.bincount([1, 1, 3]).numpy().tolist()
    [0, 2, 0, 1]
    """
    op = "bincount"
    arr = as_operand(op, arr)
    if arr.dtype.is_floating:  # counted as their integer parts, as TF's bincount does
        arr = math.cast(arr, dtypes.int64)
    if not arr.dtype.is_integer:
        raise errors.InvalidArgumentError(f"{op}: arr must be integers, received "
                                          f"{arr.dtype.name}", op)
    from tensorflux.graph.static import get_static_value

    if arr._value is None and get_static_value(arr) is None:
        # Traced with values known only at run time (GAT's per-node edge counts): the
        # length is the largest value + 1 (0 for none), a scalar computed at run time.
        floor = convert_to_tensor([-1], dtype=arr.dtype)
        largest = reduction.reduce_max(array.concat([floor, array.reshape(arr, [-1])], 0))
        length = math.cast(largest, dtypes.int32) + 1
        if minlength is not None:
            length = math.maximum(length, _int(op, minlength, "minlength"))
        if maxlength is not None:
            length = math.minimum(length, _int(op, maxlength, "maxlength"))
    else:
        values = host(op, arr, "arr")
        if values.size and values.min() < 0:
            raise errors.InvalidArgumentError(f"{op}: arr must be non-negative, received a "
                                              f"value {int(values.min())}", op)
        length = int(values.max()) + 1 if values.size else 0
        if minlength is not None:
            length = max(length, _int(op, minlength, "minlength"))
        if maxlength is not None:
            length = min(length, _int(op, maxlength, "maxlength"))
    if weights is not None:
        weights = as_operand(op, weights)
        out_dtype = weights.dtype
    else:
        out_dtype = dtypes.as_dtype(dtype)
        weights = array.ones_like(arr, dtype=out_dtype)
    if axis is None:
        arr, weights = array.reshape(arr, [-1]), array.reshape(weights, [-1])
    elif normalize_axis(op, axis, arr.shape.rank) != arr.shape.rank - 1 or arr.shape.rank != 2:
        raise errors.InvalidArgumentError(f"{op}: axis must be None, or -1 for a matrix", op)
    picks = array.one_hot(arr, length, dtype=out_dtype)  # values >= length give zero rows
    counts = reduction.reduce_sum(picks * array.expand_dims(weights, -1), axis=-2)
    if binary_output:
        counts = math.cast(math.greater(counts, 0), out_dtype)
    return counts


def in_top_k(targets, predictions, k, name=None):
    """Whether each target's prediction is among the k largest of its row (ties count as in;
    a non-finite prediction is never in).

    >>> import tensorflux as tf
    >>> tf.math.in_top_k([1, 0], [[0.1, 0.9, 0.0], [0.3, 0.3, 0.4]], 1).numpy().tolist()
    [True, False]
    """
    op = "in_top_k"
    predictions = as_operand(op, predictions)
    targets = as_operand(op, targets)
    if predictions.shape.rank != 2 or targets.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"{op}: predictions must be a matrix and targets a vector, received shapes "
            f"{tuple(predictions.shape)} and {tuple(targets.shape)}", op)
    k = _int(op, k, "k")
    picked = indexing.gather(predictions, targets, axis=1, batch_dims=1)
    above = math.greater(predictions, array.expand_dims(picked, -1))
    rank = reduction.reduce_sum(math.cast(above, dtypes.int32), axis=1)
    return math.logical_and(math.less(rank, k), math.is_finite(picked))


def confusion_matrix(labels, predictions, num_classes=None, weights=None, dtype=dtypes.int32,
                     name=None):
    """counts[i, j]: how many examples of label i were predicted j (weighted with weights).

    >>> import tensorflux as tf
    >>> tf.math.confusion_matrix([0, 1, 1], [0, 1, 0]).numpy().tolist()
    [[1, 0], [1, 1]]
    """
    op = "confusion_matrix"
    dtype = dtypes.as_dtype(dtype)
    labels = math.cast(as_operand(op, labels), dtypes.int32)
    predictions = math.cast(as_operand(op, predictions), dtypes.int32)
    if num_classes is None:
        both = host(op, labels, "labels").tolist() + host(op, predictions,
                                                           "predictions").tolist()
        num_classes = max(both) + 1 if both else 0
    num_classes = _int(op, num_classes, "num_classes")
    for what, t in (("labels", labels), ("predictions", predictions)):
        if t._value is not None and t.shape.num_elements():
            found = t.numpy()
            if found.min() < 0 or found.max() >= num_classes:
                raise errors.InvalidArgumentError(
                    f"{op}: {what} must be in [0, {num_classes}), received {found.tolist()}", op)
    weights = (array.ones(list(labels.shape), dtype) if weights is None
               else math.cast(as_operand(op, weights), dtype))
    pairs = array.stack([labels, predictions], axis=1)
    return indexing.scatter_nd(pairs, weights, [num_classes, num_classes])


def searchsorted(sorted_sequence, values, side="left", out_type=dtypes.int32, name=None):
    """For each value, the index in its row of sorted_sequence where it would be inserted
    (before equal entries for side='left', after them for 'right').

    >>> import tensorflux as tf
    >>> tf.searchsorted([1.0, 3.0, 5.0], [2.0, 5.0, 6.0], side="right").numpy().tolist()
    [1, 3, 3]
    """
    op = "searchsorted"
    if side not in ("left", "right"):
        raise ValueError(f"{op}: side must be 'left' or 'right', received {side!r}")
    sequence = as_operand(op, sorted_sequence)
    values = as_operand(op, values, sequence.dtype)
    if sequence.shape.rank != values.shape.rank or \
            not sequence.shape[:-1].is_compatible_with(values.shape[:-1]):
        raise errors.InvalidArgumentError(
            f"{op}: sorted_sequence and values must have the same leading dimensions, "
            f"received shapes {tuple(sequence.shape)} and {tuple(values.shape)}", op)
    before = math.less if side == "left" else math.less_equal
    # Counting the entries before each value: [..., values, 1] against [..., 1, sequence].
    smaller = before(array.expand_dims(sequence, -2), array.expand_dims(values, -1))
    return reduction.reduce_sum(math.cast(smaller, dtypes.as_dtype(out_type)), axis=-1)


# ------------------------------------------------------------------ masks, rolls, grids

def sequence_mask(lengths, maxlen=None, dtype=dtypes.bool, name=None):
    """mask[..., j] = j < lengths[...], with maxlen columns (max(lengths) when None).

    >>> import tensorflux as tf
    >>> tf.sequence_mask([1, 3], 4).numpy().tolist()
    [[True, False, False, False], [True, True, True, False]]
    """
    op = "sequence_mask"
    lengths = as_operand(op, lengths)
    if not lengths.dtype.is_integer:
        raise errors.InvalidArgumentError(f"{op}: lengths must be integers, received "
                                          f"{lengths.dtype.name}", op)
    if maxlen is None:
        found = host(op, lengths, "lengths")
        maxlen = int(found.max()) if found.size else 0
    maxlen = _int(op, maxlen, "maxlen")
    steps = array.range(maxlen, dtype=lengths.dtype)
    mask = math.less(steps, array.expand_dims(lengths, -1))
    dtype = dtypes.as_dtype(dtype)
    return mask if dtype is dtypes.bool else math.cast(mask, dtype)


def roll(input, shift, axis, name=None):  # noqa: A002 - TensorFlow's argument name
    """Rolls elements along axes: out[(i + shift) % n] = input[i] (shifts on one axis add).

    >>> import tensorflux as tf
    >>> tf.roll([0, 1, 2, 3, 4], shift=2, axis=0).numpy().tolist()
    [3, 4, 0, 1, 2]
    """
    op = "roll"
    x = as_operand(op, input)
    shifts = as_operand(op, shift)
    axes = as_operand(op, axis)
    if shifts.shape != axes.shape or shifts.shape.rank not in (0, 1):
        raise errors.InvalidArgumentError(
            f"{op}: shift and axis must be scalars or vectors of one length, received shapes "
            f"{tuple(shifts.shape)} and {tuple(axes.shape)}", op)
    axis_list = host(op, axes, "axis").reshape(-1).tolist()
    by_axis = {}
    for k, a in enumerate(axis_list):
        a = normalize_axis(op, a, x.shape.rank)
        amount = shifts if shifts.shape.rank == 0 else shifts[k]
        by_axis[a] = amount if a not in by_axis else by_axis[a] + amount
    for a, amount in by_axis.items():
        n = divisor = x.shape[a]
        if n == 0:
            continue
        if n is None:  # traced, the size known at run time only (0 then gathers nothing)
            n = array.shape(x, out_type=amount.dtype)[a]
            divisor = math.maximum(n, array.ones([], amount.dtype))
        # out[j] = x[(j - shift) mod n]: a gather, so the shift may be a traced tensor.
        source = math.floormod(array.range(n, dtype=amount.dtype) - amount, divisor)
        x = indexing.gather(x, source, axis=a)
    return array.identity(x) if not by_axis else x


def meshgrid(*args, **kwargs):
    """Coordinate grids from 1-D tensors: indexing='xy' (default, first two axes swapped)
    or 'ij'.

    >>> import tensorflux as tf
    >>> x, y = tf.meshgrid([1, 2, 3], [4, 5])
    >>> x.numpy().tolist(), y.numpy().tolist()
    ([[1, 2, 3], [1, 2, 3]], [[4, 4, 4], [5, 5, 5]])
    """
    indexing_mode = kwargs.pop("indexing", "xy")
    kwargs.pop("name", None)
    if kwargs:
        raise TypeError(f"meshgrid: unexpected keyword arguments {sorted(kwargs)}")
    if indexing_mode not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', received {indexing_mode!r}")
    vectors = [array.reshape(as_operand("meshgrid", a), [-1]) for a in args]
    count = len(vectors)
    sizes = [v.shape[0] for v in vectors]
    if indexing_mode == "xy" and count > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    outputs = []
    for k, v in enumerate(vectors):
        position = k
        if indexing_mode == "xy" and count > 1 and k < 2:
            position = 1 - k
        dims = [1] * count
        dims[position] = -1
        outputs.append(array.broadcast_to(array.reshape(v, dims), sizes))
    return outputs


def ensure_shape(x, shape, name=None):
    """x itself, once its shape is checked against `shape` (None dims match anything).

    >>> import tensorflux as tf
    >>> tf.ensure_shape(tf.ones([2, 3]), [None, 3]).shape
    TensorShape([2, 3])
    """
    x = as_operand("ensure_shape", x)
    expected = TensorShape(shape)
    if not expected.is_compatible_with(x.shape):
        raise errors.InvalidArgumentError(
            f"ensure_shape: Shape of tensor input {_dims(x.shape)} is not compatible with "
            f"expected shape {_dims(expected)}.", "ensure_shape")
    result = array.identity(x)
    refined = x.shape.merge_with(expected)
    if x._value is None and (x.shape.rank is None or refined.as_list() != x.shape.as_list()):
        # Traced with dims that only `shape` gives: checked each time the graph runs, and
        # the result has the expected static shape (as TF's EnsureShape).
        from tensorflux.debugging import _run_check

        def check(value):
            if not expected.is_compatible_with(value.shape):
                raise errors.InvalidArgumentError(
                    f"ensure_shape: Shape of tensor input {_dims(value.shape)} is not "
                    f"compatible with expected shape {_dims(expected)}.", "ensure_shape")

        _run_check(check, (x,))
        result.set_shape(refined)
    return result


def _dims(shape):
    if shape.rank is None:
        return "<unknown>"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"

