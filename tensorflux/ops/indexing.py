"""Indexing ops: tensor[key], gather, gather_nd, scatter_nd, slice, strided_slice, masks."""

import builtins

from tensorflux import dtypes, errors
from tensorflux.ops._core import as_operand, aval, broadcast_shapes, normalize_axis, unchanged
from tensorflux.ops._static import RuntimeShape, host, scalar_operand, shape_operand
from tensorflux.primitive import Primitive
from tensorflux.tensor import TensorShape, _TensorLike, convert_to_tensor

__all__ = [
    "getitem", "where_indices", "gather", "gather_nd", "scatter_nd", "tensor_scatter_nd_update",
    "tensor_scatter_nd_add", "tensor_scatter_nd_sub", "tensor_scatter_nd_max",
    "tensor_scatter_nd_min", "slice", "strided_slice", "reverse", "boolean_mask",
]

# A getitem key is a hashable tuple (primitive attributes are hashed by graph passes):
# ints, None (newaxis), Ellipsis, (start, stop, step) triples for slices, and the string
# INPUT for an index tensor, passed as the next positional input of the primitive.
INPUT = "input"


# ------------------------------------------------------------------ tensor[key]

def _normalize_key(key):
    """The key as (hashable entries, index tensors)."""
    if not isinstance(key, tuple):
        key = (key,)
    entries, tensors = [], []
    for k in key:
        if isinstance(k, builtins.slice):
            entries.append(tuple(_index_value(v) for v in (k.start, k.stop, k.step)))
            if isinstance(entries[-1][2], _TensorLike):
                raise errors.InvalidArgumentError(
                    f"getitem: the slice step must be known when the tf.function is traced, "
                    f"but it is the symbolic tensor {entries[-1][2].name} whose value depends "
                    "on the function's inputs (slice bounds may be run-time tensors, steps "
                    "may not)", "getitem")
            if entries[-1][2] == 0:
                raise errors.InvalidArgumentError("getitem: slice step cannot be zero",
                                                  "getitem")
            continue
        if k is None or k is Ellipsis or isinstance(k, bool) is False and isinstance(k, int):
            entries.append(k)
            continue
        if isinstance(k, (list, tuple)) or hasattr(k, "ndim") or isinstance(k, (_TensorLike,
                                                                                 bool)):
            if not isinstance(k, _TensorLike):
                k = convert_to_tensor(k)
            if not (k.dtype.is_bool or k.dtype.is_integer):
                raise errors.InvalidArgumentError(
                    f"getitem: index tensors must be integer or bool, received {k.dtype.name} "
                    f"with shape {tuple(k.shape)}", "getitem")
            if k.dtype.is_integer and k.shape.rank == 0:
                folded, _ = scalar_operand("getitem", k, "index")
                if folded is not None:
                    entries.append(int(folded))
                    continue
            entries.append(INPUT)
            tensors.append(k)
            continue
        if hasattr(k, "__index__"):
            entries.append(k.__index__())
            continue
        raise errors.InvalidArgumentError(
            f"getitem: unsupported index {k!r} of type {type(k).__name__}; expected ints, "
            "slices, Ellipsis, tf.newaxis, or integer/bool tensors", "getitem")
    return tuple(entries), tensors


def _index_value(v):
    """A slice bound as an int (folded while tracing where possible), None, or the symbolic
    scalar tensor that holds it at run time."""
    if v is None:
        return None
    if isinstance(v, _TensorLike):
        if not v.dtype.is_integer:
            raise errors.InvalidArgumentError(
                f"getitem: slice bounds must be ints or integer scalars, received {v.dtype.name}"
                f" with shape {tuple(v.shape)}", "getitem")
        v, runtime = scalar_operand("getitem", v, "slice bound")
        if runtime is not None:
            return runtime
    try:
        return int(v)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"getitem: slice bounds must be ints or None, received {v!r}", "getitem") from error


def _consumed(entry, index_aval):
    """How many dimensions of the indexed tensor one key entry uses."""
    if entry is None or entry is Ellipsis:
        return 0
    if entry == INPUT:
        return index_aval.shape.rank if index_aval.dtype.is_bool else 1
    return 1


def _index_shape(op, shape, key, index_avals):
    """The shape of x[key] (NumPy's rules, advanced indices included), checking the key."""
    dims = list(TensorShape(shape))
    avals = iter(index_avals)
    entries = [(k, next(avals) if k == INPUT else None) for k in key]
    if builtins.sum(1 for k, _ in entries if k is Ellipsis) > 1:
        raise errors.InvalidArgumentError(f"{op}: an index can only have one Ellipsis", op)
    used = builtins.sum(_consumed(k, a) for k, a in entries)
    if used > len(dims):
        raise errors.InvalidArgumentError(
            f"{op}: too many indices: the key uses {used} dimensions but the tensor has rank "
            f"{len(dims)}", op)
    advanced = [i for i, (k, a) in enumerate(entries) if k == INPUT]
    if advanced:  # with index arrays, NumPy treats integer entries as advanced indices too
        advanced = [i for i, (k, a) in enumerate(entries)
                    if k == INPUT or (isinstance(k, int) and k is not Ellipsis)]
    adjacent = bool(advanced) and advanced[-1] - advanced[0] + 1 == len(advanced)
    index_shapes = []
    out = []
    d = 0
    for i, (k, a) in enumerate(entries):
        if k is Ellipsis:
            out.extend(dims[d:d + len(dims) - used])
            d += len(dims) - used
        elif k is None:
            out.append(1)
        elif isinstance(k, tuple):
            out.append(None if dims[d] is None else len(builtins.range(*builtins.slice(*k)
                                                                    .indices(dims[d]))))
            d += 1
        elif isinstance(k, int):
            if dims[d] is not None and not -dims[d] <= k < dims[d]:
                raise errors.InvalidArgumentError(
                    f"{op}: index {k} is out of bounds for axis {d} with size {dims[d]}", op)
            if advanced:
                index_shapes.append(())
            d += 1
        else:
            rank = _consumed(k, a)
            if a.dtype.is_bool:
                mask_dims = [m for m in a.shape]
                for j, m in enumerate(mask_dims):
                    if m is not None and dims[d + j] is not None and m != dims[d + j]:
                        raise errors.InvalidArgumentError(
                            f"{op}: boolean mask of shape {tuple(a.shape)} does not match the "
                            f"indexed dimensions {tuple(dims[d:d + rank])}", op)
                index_shapes.append((None,))
            else:
                index_shapes.append(tuple(a.shape))
            d += rank
        if advanced and i == advanced[0] and adjacent:
            out.append(_ADVANCED)
    out.extend(dims[d:])
    if not advanced:
        return out
    broadcast = list(broadcast_shapes(op, *index_shapes))
    if not adjacent:
        return broadcast + out
    at = out.index(_ADVANCED)
    return out[:at] + broadcast + out[at + 1:]


_ADVANCED = object()  # where the broadcast advanced-index dims go in _index_shape's output


def _getitem_rule(x, *indices, key):
    return aval(_index_shape("getitem", x.shape, key, indices), x.dtype)


def _getitem_vjp(g, x, *indices, out, key):
    if not x.shape.is_fully_defined():
        from tensorflux.ops.array import shape

        return (_getitem_grad_dynamic.bind(g, shape(x), *indices, branches=RuntimeShape(
            _getitem_grad_kernel, (1,), key=key)),) + (None,) * len(indices)
    return (_getitem_grad.bind(g, *indices, shape=tuple(x.shape), key=key),) \
        + (None,) * len(indices)


def _getitem_grad_kernel(backend, g, shape, *indices, key):
    return backend.getitem_grad(g, *indices, shape=tuple(shape), key=key)


def _getitem_grad_dynamic_rule(g, shape, *indices, branches):
    from tensorflux.ops.array import _dims_aval

    return _dims_aval(shape, g.dtype)


def _getitem_grad_vjp(gg, g, *indices, out, shape, key):
    return (_getitem.bind(gg, *indices, key=key),) + (None,) * len(indices)


# getitem: x[key]; the cotangent is scattered into zeros, adding where indices repeat.
_getitem = Primitive("getitem", vjp=_getitem_vjp, shape_rule=_getitem_rule)
# getitem_grad: zeros of `shape` with g added at x[key]; linear in g, so its VJP is getitem.
_getitem_grad = Primitive("getitem_grad", vjp=_getitem_grad_vjp,
                          shape_rule=lambda g, *indices, shape, key: aval(shape, g.dtype))
# getitem_grad_dynamic: getitem_grad for an x whose shape is known only at run time (traced
# with unknown dims): the shape is an input.
_getitem_grad_dynamic = Primitive(
    "getitem_grad_dynamic", kernel="cond", shape_rule=_getitem_grad_dynamic_rule,
    vjp=lambda gg, g, shape, *indices, out, branches: (
        _getitem.bind(gg, *indices, key=branches.attrs["key"]), None) + (None,) * len(indices))


def getitem(tensor, key):
    """tensor[key] with NumPy's semantics: ints, slices (negative steps), Ellipsis,
    tf.newaxis (None), boolean masks and integer index arrays.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(6), [2, 3])
    >>> x[1, ::-1].numpy().tolist(), x[:, None, 0].shape
    ([5, 4, 3], TensorShape([2, 1]))
    """
    x = as_operand("getitem", tensor)
    entries, tensors = _normalize_key(key)
    if any(isinstance(k, tuple) and any(isinstance(v, _TensorLike) for v in k[:2])
           for k in entries):
        x, entries = _slice_at_run_time(x, entries, tensors)
        if all(k == (None, None, None) for k in entries):
            return x
    description = _describe(entries, tensors)
    try:
        _index_shape("getitem", x.shape, entries, [aval(t.shape, t.dtype) for t in tensors])
        _check_index_values(x, entries, tensors)
        return _getitem.bind(x, *tensors, key=entries)
    except errors.InvalidArgumentError as error:
        raise errors.InvalidArgumentError(
            f"getitem: index {description} is invalid for a tensor of shape "
            f"{tuple(x.shape)}: {error}", "getitem") from error


def _slice_at_run_time(x, entries, tensors):
    """Applies the slices whose bounds are known only at run time, each as a gather of the
    indices tf.range(start, stop, step) computed in the graph, and returns the key with those
    slices made whole (`:`); the axis gets an unknown length, as in TensorFlow."""
    rank = x.shape.rank
    if rank is None:
        raise errors.InvalidArgumentError(
            "getitem: slicing with bounds known only at run time needs a tensor of known rank, "
            f"received shape {x.shape}", "getitem")
    pairs = _pair(entries, tensors)
    used = builtins.sum(1 if k != INPUT else (t.shape.rank if t.dtype.is_bool else 1)
                        for k, t in pairs if k is not None and k is not Ellipsis)
    if used > rank:
        raise errors.InvalidArgumentError(
            f"getitem: too many indices: the key uses {used} dimensions but the tensor has "
            f"rank {rank}", "getitem")
    axis, whole = 0, []
    for k, t in pairs:
        if isinstance(k, tuple) and any(isinstance(v, _TensorLike) for v in k[:2]):
            x = gather(x, _slice_indices(x, axis, *k), axis=axis)
            k = (None, None, None)
        whole.append(k)
        if k is Ellipsis:
            axis += rank - used
        elif k == INPUT and t.dtype.is_bool:
            axis += t.shape.rank
        elif k is not None:
            axis += 1
    return x, tuple(whole)


def _slice_indices(x, axis, start, stop, step):
    """The indices x[start:stop:step] takes along `axis`, with NumPy's rules for negative and
    out-of-range bounds, computed in the graph (int32, or int64 if a bound is)."""
    from tensorflux.ops import array, math

    step = 1 if step is None else step
    bounds = [v for v in (start, stop) if isinstance(v, _TensorLike)]
    dtype = dtypes.int64 if any(v.dtype == dtypes.int64 for v in bounds) else dtypes.int32
    dim = x.shape[axis]
    dim = array.shape(x, dtype)[axis] if dim is None else convert_to_tensor(dim, dtype=dtype)

    def clamp(value, default):
        if value is None:
            return convert_to_tensor(default, dtype=dtype) if isinstance(default, int) \
                else default
        value = math.cast(value, dtype) if isinstance(value, _TensorLike) else \
            convert_to_tensor(value, dtype=dtype)
        value = math.add(value, math.multiply(math.cast(math.less(value, 0), dtype), dim))
        low, high = (0, dim) if step > 0 else (-1, math.subtract(dim, 1))
        return math.minimum(math.maximum(value, convert_to_tensor(low, dtype=dtype)), high)

    if step > 0:
        first, last = clamp(start, 0), clamp(stop, dim)
        last = math.maximum(first, last)
    else:
        first, last = clamp(start, math.subtract(dim, 1)), clamp(stop, -1)
        last = math.minimum(first, last)
    return array.range(first, last, step, dtype=dtype)


def _check_index_values(x, entries, tensors):
    """Integer index tensors must lie in [-dim, dim) (NumPy would wrap or fail late)."""
    dims = list(x.shape)
    used = builtins.sum(1 if k != INPUT else (t.shape.rank if t.dtype.is_bool else 1)
                        for k, t in _pair(entries, tensors) if k is not None and k is not Ellipsis)
    d = 0
    for k, t in _pair(entries, tensors):
        if k is Ellipsis:
            d += len(dims) - used
        elif k is None:
            continue
        elif k == INPUT and t.dtype.is_bool:
            d += t.shape.rank
        else:
            if k == INPUT and dims[d] is not None and not t.dtype.is_bool and t.shape \
                    .num_elements() and _known(t):
                values = t.numpy()
                low, high = int(values.min()), int(values.max())
                if low < -dims[d] or high >= dims[d]:
                    bad = low if low < -dims[d] else high
                    raise errors.InvalidArgumentError(
                        f"index {bad} is out of bounds for axis {d} with size {dims[d]}",
                        "getitem")
            d += 1


def _known(t):
    """Whether an index tensor has a value now (eager); traced ones are checked at run time."""
    return t._value is not None


def _pair(entries, tensors):
    it = iter(tensors)
    return [(k, next(it) if k == INPUT else None) for k in entries]


def _describe(entries, tensors):
    parts = []
    for k, t in _pair(entries, tensors):
        if k == INPUT:
            parts.append(f"<{t.dtype.name} tensor of shape {tuple(t.shape)}>")
        elif isinstance(k, tuple):
            parts.append(":".join("" if v is None else str(v) for v in k).rstrip(":") or ":")
        elif k is Ellipsis:
            parts.append("...")
        else:
            parts.append(repr(k))
    return "[" + ", ".join(parts) + "]"


def where_indices(condition):
    """The coordinates of the True entries of a bool tensor, as int64 [n, rank]."""
    condition = as_operand("where", condition)
    return _where_indices.bind(condition)


_where_indices = Primitive("where_indices",
                           shape_rule=lambda c: aval([None, c.shape.rank], dtypes.int64))


# ------------------------------------------------------------------ slicing

def slice(input_, begin, size, name=None):  # noqa: A001 - TensorFlow's name
    """The block of `input_` starting at `begin` with shape `size` (-1: to the end).

    >>> import tensorflux as tf
    >>> tf.slice([[1, 2, 3], [4, 5, 6]], [0, 1], [2, -1]).numpy().tolist()
    [[2, 3], [5, 6]]
    """
    x = as_operand("slice", input_)
    begin, size = _int_list("slice", begin, "begin"), _int_list("slice", size, "size")
    rank = x.shape.rank
    if len(begin) != rank or len(size) != rank:
        raise errors.InvalidArgumentError(
            f"slice: begin and size must have one entry per dimension of the input of shape "
            f"{tuple(x.shape)}, received begin={begin} and size={size}", "slice")
    key = []
    for i, (b, s, d) in enumerate(zip(begin, size, x.shape)):
        if d is not None and not 0 <= b <= d:
            raise errors.InvalidArgumentError(
                f"slice: expected begin[{i}] in [0, {d}] for the input of shape "
                f"{tuple(x.shape)}, received {b}", "slice")
        if s == -1:
            key.append(builtins.slice(b, None))
            continue
        if s < 0 or d is not None and b + s > d:
            raise errors.InvalidArgumentError(
                f"slice: expected size[{i}] in [0, {d - b if d is not None else '?'}] for "
                f"begin[{i}] = {b} and the input of shape {tuple(x.shape)}, received {s}",
                "slice")
        key.append(builtins.slice(b, b + s))
    return getitem(x, tuple(key))


def strided_slice(input_, begin, end, strides=None, begin_mask=0, end_mask=0, ellipsis_mask=0,
                  new_axis_mask=0, shrink_axis_mask=0, var=None, name=None):
    """TensorFlow's strided slice: per-entry begin/end/strides with bit masks.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(12), [3, 4])
    >>> tf.strided_slice(x, [0, 3], [3, 0], [2, -1], shrink_axis_mask=0).numpy().tolist()
    [[3, 2, 1], [11, 10, 9]]
    """
    x = as_operand("strided_slice", input_)
    begin = _int_list("strided_slice", begin, "begin")
    end = _int_list("strided_slice", end, "end")
    strides = [1] * len(begin) if strides is None else \
        _int_list("strided_slice", strides, "strides")
    if not len(begin) == len(end) == len(strides):
        raise errors.InvalidArgumentError(
            f"strided_slice: begin, end and strides must have the same length, received "
            f"{len(begin)}, {len(end)} and {len(strides)}", "strided_slice")
    if 0 in strides:
        raise errors.InvalidArgumentError(
            f"strided_slice: strides must be non-zero, received strides={strides} for the "
            f"input of shape {tuple(x.shape)}", "strided_slice")
    key = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(None)
        elif shrink_axis_mask & bit:
            key.append(b)
        else:
            key.append(builtins.slice(None if begin_mask & bit else b,
                                      None if end_mask & bit else e, s))
    return getitem(x, tuple(key))


def reverse(tensor, axis, name=None):
    """Reverses the given axes.

    >>> import tensorflux as tf
    >>> tf.reverse([[1, 2], [3, 4]], [1]).numpy().tolist()
    [[2, 1], [4, 3]]
    """
    x = as_operand("reverse", tensor)
    rank = x.shape.rank
    axes = _int_list("reverse", axis, "axis")
    normalized = [normalize_axis("reverse", a, rank) for a in axes]
    if len(set(normalized)) != len(normalized):
        raise errors.InvalidArgumentError(f"reverse: axis {axes} repeats an axis", "reverse")
    if not normalized:
        return unchanged(x)
    key = tuple(builtins.slice(None, None, -1) if i in normalized else builtins.slice(None)
                for i in builtins.range(rank))
    return getitem(x, key)


def boolean_mask(tensor, mask, axis=None, name="boolean_mask"):
    """The entries of `tensor` where `mask` is True; mask covers dims [axis, axis + mask.rank).

    >>> import tensorflux as tf
    >>> tf.boolean_mask([[1, 2], [3, 4], [5, 6]], [True, False, True]).numpy().tolist()
    [[1, 2], [5, 6]]
    """
    x = as_operand("boolean_mask", tensor)
    mask = as_operand("boolean_mask", mask)
    if not mask.dtype.is_bool:
        raise errors.InvalidArgumentError(
            f"boolean_mask: mask must be bool, received {mask.dtype.name}", "boolean_mask")
    k = mask.shape.rank
    if k == 0:
        raise errors.InvalidArgumentError("boolean_mask: mask cannot be a scalar",
                                          "boolean_mask")
    axis = 0 if axis is None else normalize_axis("boolean_mask", axis, x.shape.rank)
    covered = list(x.shape)[axis:axis + k]
    if len(covered) != k or not TensorShape(covered).is_compatible_with(mask.shape):
        raise errors.InvalidArgumentError(
            f"boolean_mask: the mask of shape {tuple(mask.shape)} must match dimensions "
            f"[{axis}, {axis + k}) of the tensor of shape {tuple(x.shape)}", "boolean_mask")
    return getitem(x, (builtins.slice(None),) * axis + (mask,))


def _int_list(op, value, what):
    if isinstance(value, _TensorLike):
        value = host(op, value, what).tolist()
    if isinstance(value, int):
        value = [value]
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be a list of ints, received {value!r}", op) from error


# ------------------------------------------------------------------ gather

def _gather_rule(params, indices, axis, batch_dims):
    shape = list(params.shape)
    return aval(shape[:axis] + list(indices.shape)[batch_dims:] + shape[axis + 1:],
                params.dtype)


def _gather_vjp(g, params, indices, out, axis, batch_dims):
    if not params.shape.is_fully_defined():
        from tensorflux.ops.array import shape

        return (_gather_grad_dynamic.bind(indices, g, shape(params), branches=RuntimeShape(
            _gather_grad_kernel, (2,), axis=axis, batch_dims=batch_dims)), None)
    return (_gather_grad.bind(indices, g, shape=tuple(params.shape), axis=axis,
                              batch_dims=batch_dims), None)


def _gather_grad_kernel(backend, indices, g, shape, **attrs):
    return backend.gather_grad(indices, g, tuple(shape), **attrs)


def _gather_grad_dynamic_rule(indices, g, shape, branches):
    from tensorflux.ops.array import _dims_aval

    return _dims_aval(shape, g.dtype)


# gather: slices of params along `axis` at `indices` (batched over the first batch_dims dims,
# indices checked on the host as TF's CPU kernel does); the VJP scatter-adds into zeros.
_gather = Primitive("gather", vjp=_gather_vjp, shape_rule=_gather_rule)
# gather_grad: zeros of `shape` with g added at gather's positions; its VJP is gather.
_gather_grad = Primitive(
    "gather_grad", shape_rule=lambda indices, g, shape, axis, batch_dims: aval(shape, g.dtype),
    vjp=lambda gg, indices, g, out, shape, axis, batch_dims:
        (None, _gather.bind(gg, indices, axis=axis, batch_dims=batch_dims)))
# gather_grad_dynamic: gather_grad for params whose shape is known only at run time (traced
# with unknown dims): the shape is an input.
_gather_grad_dynamic = Primitive(
    "gather_grad_dynamic", kernel="cond", shape_rule=_gather_grad_dynamic_rule,
    vjp=lambda gg, indices, g, shape, out, branches: (None, _gather.bind(
        gg, indices, axis=branches.attrs["axis"], batch_dims=branches.attrs["batch_dims"]),
        None))


def gather(params, indices, validate_indices=None, axis=None, batch_dims=0, name=None):
    """Slices of `params` along `axis` taken at `indices` (an out-of-range index is an error).

    >>> import tensorflux as tf
    >>> tf.gather([[1, 2], [3, 4], [5, 6]], [2, 0]).numpy().tolist()
    [[5, 6], [1, 2]]
    """
    params = as_operand("gather", params)
    indices = _indices_operand("gather", indices)
    prank, irank = params.shape.rank, indices.shape.rank
    batch_dims = int(batch_dims)
    if batch_dims < 0:
        batch_dims += irank
    if not 0 <= batch_dims <= irank:
        raise errors.InvalidArgumentError(
            f"gather: batch_dims must be in [-{irank}, {irank}] for indices of shape "
            f"{tuple(indices.shape)}, received {batch_dims}", "gather")
    axis = batch_dims if axis is None else normalize_axis("gather", axis, prank)
    if batch_dims > axis:
        raise errors.InvalidArgumentError(
            f"gather: batch_dims ({batch_dims}) must be <= axis ({axis}) for params of shape "
            f"{tuple(params.shape)}", "gather")
    _check_batch("gather", params, indices, batch_dims)
    return _gather.bind(params, indices, axis=axis, batch_dims=batch_dims)


def _indices_operand(op, indices):
    indices = as_operand(op, indices)
    if not indices.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"{op}: indices must be int32 or int64, received {indices.dtype.name} with shape "
            f"{tuple(indices.shape)}", op)
    return indices


def _check_batch(op, params, indices, batch_dims):
    batch_p = TensorShape(list(params.shape)[:batch_dims])
    batch_i = TensorShape(list(indices.shape)[:batch_dims])
    if params.shape.rank < batch_dims or not batch_p.is_compatible_with(batch_i):
        raise errors.InvalidArgumentError(
            f"{op}: the first batch_dims={batch_dims} dimensions of params {tuple(params.shape)} "
            f"and indices {tuple(indices.shape)} must be equal", op)


def _gather_nd_rule(params, indices, batch_dims):
    depth = indices.shape[-1]
    tail = list(params.shape)[batch_dims + depth:] if depth is not None else None
    return aval(None if tail is None else list(indices.shape)[:-1] + tail, params.dtype)


def _gather_nd_vjp(g, params, indices, out, batch_dims):
    if params.shape.is_fully_defined():
        return _scatter_nd.bind(indices, g, shape=tuple(params.shape),
                                batch_dims=batch_dims), None
    from tensorflux.ops.array import zeros_like

    # A shape known only at run time: add into zeros shaped like params instead.
    return _scatter.bind(zeros_like(params), indices, g, reduction="add",
                         batch_dims=batch_dims), None


# gather_nd: params at index tuples (the last axis of indices), batched over batch_dims; the
# VJP scatter-adds with the batched scatter_nd below.
_gather_nd = Primitive("gather_nd", shape_rule=_gather_nd_rule, vjp=_gather_nd_vjp)
# scatter_nd: zeros of `shape` with updates added at index tuples (duplicates sum, as TF's);
# linear in updates, so its VJP is gather_nd.
_scatter_nd = Primitive("scatter_nd",
                        shape_rule=lambda indices, updates, shape, batch_dims:
                            aval(shape, updates.dtype),
                        vjp=lambda g, indices, updates, out, shape, batch_dims: (
                            None, _gather_nd.bind(g, indices, batch_dims=batch_dims)))


def gather_nd(params, indices, batch_dims=0, name=None, bad_indices_policy=""):
    """Entries or slices of `params` at the index tuples in the last axis of `indices`.
    An index tuple out of range is an error; with bad_indices_policy="IGNORE" it gathers
    zeros instead, as TF's.

    >>> import tensorflux as tf
    >>> tf.gather_nd([[1, 2], [3, 4]], [[1, 0], [0, 1]]).numpy().tolist()
    [3, 2]
    """
    ignore = _ignore_bad_indices("gather_nd", bad_indices_policy)
    params = as_operand("gather_nd", params)
    indices = _indices_operand("gather_nd", indices)
    batch_dims = int(batch_dims)
    _check_nd("gather_nd", params.shape, indices, batch_dims)
    _check_batch("gather_nd", params, indices, batch_dims)
    if not ignore:
        return _gather_nd.bind(params, indices, batch_dims=batch_dims)
    from tensorflux.ops.array import shape

    dims = shape(params, out_type=indices.dtype)[batch_dims:batch_dims + indices.shape[-1]]
    valid, indices = _valid_indices(indices, dims)
    return _masked(valid, _gather_nd.bind(params, indices, batch_dims=batch_dims))


_BAD_INDICES_POLICIES = ("", "DEFAULT", "ERROR", "IGNORE")


def _ignore_bad_indices(op, policy):
    """Whether out-of-range index tuples are skipped (TF's "IGNORE"); "", "DEFAULT" and
    "ERROR" raise for them, as TF's CPU kernels do."""
    if policy not in _BAD_INDICES_POLICIES:
        raise errors.InvalidArgumentError(
            f"{op}: bad_indices_policy must be one of {list(_BAD_INDICES_POLICIES)}, "
            f"received {policy!r}", op)
    return policy == "IGNORE"


def _valid_indices(indices, dims):
    """(which index tuples lie inside `dims`, the indices with the others replaced by
    zeros, so that the kernels never see them)."""
    from tensorflux.ops.array import zeros_like
    from tensorflux.ops.math import greater_equal, less, logical_and, where
    from tensorflux.ops.reduction import reduce_all

    valid = reduce_all(logical_and(greater_equal(indices, 0), less(indices, dims)), axis=-1)
    return valid, where(_expanded(valid, 1), indices, zeros_like(indices))


def _expanded(mask, rank):
    """mask (over the index tuples) with `rank` trailing axes of size 1 for the slices."""
    from tensorflux.ops.array import expand_dims

    for _ in range(rank):
        mask = expand_dims(mask, -1)
    return mask


def _masked(valid, values):
    """values where the index tuple was valid, zeros elsewhere."""
    from tensorflux.ops.array import zeros_like
    from tensorflux.ops.math import where

    return where(_expanded(valid, values.shape.rank - valid.shape.rank), values,
                 zeros_like(values))


def _check_nd(op, shape, indices, batch_dims):
    rank = indices.shape.rank
    if rank < 1 or not 0 <= batch_dims < rank:
        raise errors.InvalidArgumentError(
            f"{op}: indices must have rank >= 1 and batch_dims in [0, rank - 1), received "
            f"indices of shape {tuple(indices.shape)} and batch_dims={batch_dims}", op)
    depth = indices.shape[-1]
    if depth is not None and not 1 <= depth <= len(shape) - batch_dims:
        raise errors.InvalidArgumentError(
            f"{op}: the last dimension of indices ({depth}) must be in [1, "
            f"{len(shape) - batch_dims}] for shape {tuple(shape)} (indices of shape "
            f"{tuple(indices.shape)}, batch_dims={batch_dims})", op)


def _check_updates(op, shape, indices, updates):
    expected = list(indices.shape)[:-1] + list(shape)[indices.shape[-1]:]
    if not TensorShape(expected).is_compatible_with(updates.shape):
        raise errors.InvalidArgumentError(
            f"{op}: updates must have shape {tuple(expected)} for indices of shape "
            f"{tuple(indices.shape)} into shape {tuple(shape)}, received "
            f"{tuple(updates.shape)}", op)


def scatter_nd(indices, updates, shape, bad_indices_policy="", name=None):
    """Zeros of `shape` with `updates` added at the index tuples of `indices` (duplicates sum).
    `shape` may be a tensor known only at run time (tf.shape of a traced input). An index
    tuple out of range is an error; with bad_indices_policy="IGNORE" its update is dropped.

    >>> import tensorflux as tf
    >>> tf.scatter_nd([[1], [3], [1]], [1.0, 2.0, 3.0], [4]).numpy().tolist()
    [0.0, 4.0, 0.0, 2.0]
    """
    from tensorflux.ops.array import _check_runtime_dims, zeros

    ignore = _ignore_bad_indices("scatter_nd", bad_indices_policy)
    indices = _indices_operand("scatter_nd", indices)
    updates = as_operand("scatter_nd", updates)
    dims, runtime = shape_operand("scatter_nd", shape)
    if ignore:
        target = zeros(shape if runtime is None else runtime, updates.dtype)
        if dims is not None:
            _check_nd("scatter_nd", target.shape, indices, 0)
            _check_updates("scatter_nd", target.shape, indices, updates)
        return _ignoring_scatter("scatter_nd", "add", target, indices, updates)
    if runtime is not None:
        _check_runtime_dims("scatter_nd", dims)
        target = zeros(runtime, updates.dtype)
        if dims is not None:
            _check_nd("scatter_nd", target.shape, indices, 0)
            _check_updates("scatter_nd", target.shape, indices, updates)
        return _scatter.bind(target, indices, updates, reduction="add", batch_dims=0)
    if any(d < 0 for d in dims):
        raise errors.InvalidArgumentError(
            f"scatter_nd: shape must be non-negative, received {dims}", "scatter_nd")
    _check_nd("scatter_nd", dims, indices, 0)
    _check_updates("scatter_nd", dims, indices, updates)
    return _scatter_nd.bind(indices, updates, shape=tuple(dims), batch_dims=0)


def _scatter_vjp(g, tensor, indices, updates, out, reduction, batch_dims):
    from tensorflux.ops.array import zeros_like
    from tensorflux.ops.math import cast, divide, equal, multiply, negative

    def gathered(x):
        return _gather_nd.bind(x, indices, batch_dims=batch_dims)

    if reduction == "update":
        return (_scatter.bind(g, indices, zeros_like(updates), reduction="update",
                              batch_dims=batch_dims), None, gathered(g))
    if reduction in ("add", "sub"):
        return g, None, gathered(g) if reduction == "add" else negative(gathered(g))
    # max/min: the cotangent goes to the entries equal to the result, split evenly between
    # ties (TensorFlow's rule); every entry of `tensor` is counted once.
    tensor_won = cast(equal(tensor, out), g.dtype)
    update_won = cast(equal(updates, gathered(out)), g.dtype)
    winners = _scatter.bind(tensor_won, indices, update_won, reduction="add",
                            batch_dims=batch_dims)
    share = divide(g, winners)
    return multiply(share, tensor_won), None, multiply(gathered(share), update_won)


# tensor_scatter_nd_update: a copy of tensor whose entries at index tuples are replaced by
# the updates (`reduction` "update") or combined with them ("add", "sub", "max", "min"; each
# repeated index applies in turn). The tensor gives the shape, so it also runs where the
# shape is known only at run time. With "update", replaced entries get no cotangent and each
# update gets the cotangent of its destination.
_scatter = Primitive("tensor_scatter_nd_update", vjp=_scatter_vjp,
                     shape_rule=lambda tensor, indices, updates, reduction, batch_dims:
                         aval(tensor.shape, tensor.dtype))


def _scatter_operands(op, tensor, indices, updates):
    tensor = as_operand(op, tensor)
    indices = _indices_operand(op, indices)
    updates = as_operand(op, updates, tensor.dtype)
    _check_nd(op, tensor.shape, indices, 0)
    _check_updates(op, tensor.shape, indices, updates)
    return tensor, indices, updates


def _tensor_scatter(op, reduction, tensor, indices, updates, bad_indices_policy=""):
    ignore = _ignore_bad_indices(op, bad_indices_policy)
    tensor, indices, updates = _scatter_operands(op, tensor, indices, updates)
    if ignore:
        return _ignoring_scatter(op, reduction, tensor, indices, updates)
    return _scatter.bind(tensor, indices, updates, reduction=reduction, batch_dims=0)


def _ignoring_scatter(op, reduction, tensor, indices, updates):
    """TF's bad_indices_policy="IGNORE": an update whose index tuple is out of range is
    dropped. It is sent to index 0 as the operation's identity there (zero for add/sub, the
    entry's own value for max/min), so it changes nothing and gets no cotangent."""
    from tensorflux.ops.array import shape
    from tensorflux.ops.math import where

    dims = shape(tensor, out_type=indices.dtype)[:indices.shape[-1]]
    valid, indices = _valid_indices(indices, dims)
    if reduction in ("max", "min"):
        neutral = _gather_nd.bind(tensor, indices, batch_dims=0)
        updates = where(_expanded(valid, updates.shape.rank - valid.shape.rank), updates,
                        neutral)
    else:
        updates = _masked(valid, updates)
    return _scatter.bind(tensor, indices, updates, reduction=reduction, batch_dims=0)


def tensor_scatter_nd_update(tensor, indices, updates, name=None):
    """A copy of `tensor` with the entries at `indices` replaced by `updates`.

    >>> import tensorflux as tf
    >>> tf.tensor_scatter_nd_update([1, 2, 3], [[0], [2]], [9, 8]).numpy().tolist()
    [9, 2, 8]
    """
    return _tensor_scatter("tensor_scatter_nd_update", "update", tensor, indices, updates)


def tensor_scatter_nd_add(tensor, indices, updates, bad_indices_policy="", name=None):
    """`tensor` with `updates` added at `indices` (duplicates sum).

    >>> import tensorflux as tf
    >>> tf.tensor_scatter_nd_add([1, 2, 3], [[0], [0]], [5, 5]).numpy().tolist()
    [11, 2, 3]
    """
    return _tensor_scatter("tensor_scatter_nd_add", "add", tensor, indices, updates,
                           bad_indices_policy)


def tensor_scatter_nd_sub(tensor, indices, updates, bad_indices_policy="", name=None):
    """`tensor` with `updates` subtracted at `indices` (duplicates sum).

    >>> import tensorflux as tf
    >>> tf.tensor_scatter_nd_sub([1, 2, 3], [[1]], [2]).numpy().tolist()
    [1, 0, 3]
    """
    return _tensor_scatter("tensor_scatter_nd_sub", "sub", tensor, indices, updates,
                           bad_indices_policy)


def tensor_scatter_nd_max(tensor, indices, updates, bad_indices_policy="", name=None):
    """`tensor` with each entry at `indices` replaced by its maximum with the updates there.

    >>> from tensorflux.ops import indexing
    >>> indexing.tensor_scatter_nd_max([1, 5, 3], [[1], [2], [2]], [4, 6, 7]).numpy().tolist()
    [1, 5, 7]
    """
    return _tensor_scatter("tensor_scatter_nd_max", "max", tensor, indices, updates,
                           bad_indices_policy)


def tensor_scatter_nd_min(tensor, indices, updates, bad_indices_policy="", name=None):
    """`tensor` with each entry at `indices` replaced by its minimum with the updates there.

    >>> from tensorflux.ops import indexing
    >>> indexing.tensor_scatter_nd_min([1, 5, 3], [[1], [2], [2]], [4, 6, 7]).numpy().tolist()
    [1, 4, 3]
    """
    return _tensor_scatter("tensor_scatter_nd_min", "min", tensor, indices, updates,
                           bad_indices_policy)
