"""Creation, shape and indexing ops (tf.zeros, tf.reshape, tf.stack, tensor[...], ...)."""

import builtins

from tensorflux import dtypes, errors
from tensorflux.composite_tensor import CompositeTensor
from tensorflux.context import context
from tensorflux.ops._core import as_operand, aval, normalize_axis, unary_rule, unchanged
from tensorflux.ops._static import RuntimeShape, fold, host, scalar_operand, shape_operand
from tensorflux.primitive import Primitive
from tensorflux.tensor import Tensor, TensorShape, _TensorLike, convert_to_tensor
from tensorflux.variable import Variable

__all__ = [
    "zeros", "ones", "fill", "zeros_like", "ones_like", "identity", "stop_gradient",
    "reshape", "stack", "unstack", "one_hot", "shape", "rank", "size", "broadcast_to",
    "range", "linspace", "eye", "expand_dims", "squeeze", "concat", "split", "tile", "pad",
    "sort", "argsort", "unique", "repeat",
]


def _shape_list(op, shape, what="shape"):
    """A shape argument (list, tuple, TensorShape or 1-D int tensor, its entries possibly
    tensors that tracing can fold) as a list of ints, for ops that need it at trace time."""
    dims, runtime = shape_operand(op, shape, what)
    if runtime is not None:
        raise errors.InvalidArgumentError(
            f"{op}: the {what} must be known when the tf.function is traced, but it is known "
            f"only at run time (static value {_describe_dims(dims)}, from {runtime.name}); "
            f"{op} does not take its {what} at run time: give the function an input_signature "
            "with static dims, or compute it from constants and static shapes.", op)
    return dims


def _describe_dims(dims):
    return "unknown" if dims is None else "[" + ", ".join(
        "?" if d is None else str(d) for d in dims) + "]"


def _check_runtime_dims(op, dims, what="shape"):
    """The trace-time part of a run-time shape: its known entries must be non-negative."""
    if dims is not None and any(d is not None and d < 0 for d in dims):
        raise errors.InvalidArgumentError(
            f"{op}: {what} must have non-negative entries, received {_describe_dims(dims)}", op)


def _runtime_dims(shape):
    """The static knowledge of a run-time shape input, for shape rules: a list with None
    entries, or None for an unknown length."""
    from tensorflux.graph.static import static_dims

    return static_dims(shape)


def _dims_aval(shape, dtype):
    dims = _runtime_dims(shape)
    return aval(TensorShape(None) if dims is None else
                [None if d is None or d < 0 else d for d in dims], dtype)


def _host_shape(op, what, dims):
    if any(d < 0 for d in dims):
        raise errors.InvalidArgumentError(
            f"{op}: {what} must have non-negative entries, received {dims} at run time", op)
    return tuple(dims)


# ------------------------------------------------------------------ creation

# fill: a new tensor of `shape` filled with a scalar; no inputs, so no gradient.
_fill = Primitive("fill", shape_rule=lambda shape, value, dtype: aval(shape, dtype))


def _no_layout(op, layout):
    """TF's `layout=` places the result on a DTensor mesh; there are no meshes here."""
    if layout is not None:
        raise errors.UnimplementedError(
            f"{op}: layout= (a DTensor layout) is not supported by tensorflux; received "
            f"{layout!r}, leave it None", op)


def fill(dims, value, name=None, layout=None):
    """A tensor of shape `dims` filled with the scalar `value`.

    >>> import tensorflux as tf
    >>> tf.fill([2], 7).numpy().tolist()
    [7, 7]
    """
    _no_layout("fill", layout)
    value = as_operand("fill", value)
    if value.shape.rank != 0:
        raise errors.InvalidArgumentError(
            f"fill: value must be a scalar, received shape {tuple(value.shape)}", "fill")
    dims, runtime = shape_operand("fill", dims, "dims")
    if runtime is not None:
        _check_runtime_dims("fill", dims, "dims")
        if value._value is None:
            return broadcast_to(value, runtime)
        return _fill_at_run_time(runtime, _scalar(value, "fill"), value.dtype, "fill")
    if any(d < 0 for d in dims):
        raise errors.InvalidArgumentError(f"fill: dims must be non-negative, received {dims}",
                                          "fill")
    if value._value is None:
        # A value computed in a traced function: known only at run time.
        return broadcast_to(value, dims)
    return _fill.bind(shape=tuple(dims), value=_scalar(value), dtype=value.dtype)


def zeros(shape, dtype=dtypes.float32, name=None, layout=None):
    """A tensor of zeros.

    >>> import tensorflux as tf
    >>> tf.zeros([2, 1]).numpy().tolist()
    [[0.0], [0.0]]
    """
    _no_layout("zeros", layout)
    dtype = dtypes.as_dtype(dtype)
    dims, runtime = shape_operand("zeros", shape)
    if runtime is not None:
        return _fill_at_run_time(runtime, 0, dtype, "zeros", dims)
    return _fill.bind(shape=tuple(dims), value=0, dtype=dtype)


def ones(shape, dtype=dtypes.float32, name=None, layout=None):
    """A tensor of ones.

    >>> import tensorflux as tf
    >>> tf.ones([2], tf.int32).numpy().tolist()
    [1, 1]
    """
    _no_layout("ones", layout)
    dtype = dtypes.as_dtype(dtype)
    dims, runtime = shape_operand("ones", shape)
    if runtime is not None:
        return _fill_at_run_time(runtime, 1, dtype, "ones", dims)
    return _fill.bind(shape=tuple(dims), value=1, dtype=dtype)


def _fill_kernel(backend, shape, value, dtype, op):
    return backend.fill(_host_shape(op, "shape", shape), value, dtype)


# fill_dynamic: fill with a shape known only at run time (an input); no gradient.
_fill_dynamic = Primitive("fill_dynamic", kernel="cond", vjp=lambda g, shape, out,
                          branches: (None,),
                          shape_rule=lambda shape, branches: _dims_aval(
                              shape, branches.attrs["dtype"]))


def _fill_at_run_time(shape, value, dtype, op, dims=None):
    _check_runtime_dims(op, dims)
    return _fill_dynamic.bind(shape, branches=RuntimeShape(
        _fill_kernel, (0,), value=value, dtype=dtype, op=op))


def zeros_like(input, dtype=None, name=None, layout=None):  # noqa: A002 - TF's argument name
    """Zeros with the shape (and by default the dtype) of `input`.

    >>> import tensorflux as tf
    >>> tf.zeros_like([1.0, 2.0]).numpy().tolist()
    [0.0, 0.0]
    """
    if (input.__class__ is Tensor and dtype is None and layout is None
            and _fill_like._backend is context.eager_backend):
        out = _filled_like(input, 0)
        if out is not None:
            return out
    _no_layout("zeros_like", layout)
    x = as_operand("zeros_like", input)
    return _fill_like.bind(x, value=0, dtype=dtypes.as_dtype(dtype or x.dtype))


def ones_like(input, dtype=None, name=None, layout=None):  # noqa: A002
    """Ones with the shape (and by default the dtype) of `input`.

    >>> import tensorflux as tf
    >>> tf.ones_like([[1, 2]]).numpy().tolist()
    [[1, 1]]
    """
    if (input.__class__ is Tensor and dtype is None and layout is None
            and _fill_like._backend is context.eager_backend):
        out = _filled_like(input, 1)
        if out is not None:
            return out
    _no_layout("ones_like", layout)
    x = as_operand("ones_like", input)
    return _fill_like.bind(x, value=1, dtype=dtypes.as_dtype(dtype or x.dtype))


# fill_like: a constant with another tensor's (possibly dynamic) shape; no gradient flows.
_fill_like = Primitive("fill_like", vjp=lambda g, x, out, value, dtype: (None,),
                       shape_rule=lambda x, value, dtype: aval(x.shape, dtype))


def _filled_like(x, value):
    """zeros_like / ones_like's eager fast path (see Primitive.__init__) for a plain Tensor
    in its own dtype: the kernel call and the attributes bind would get; None where the
    kernel fails (the ordinary path reports it)."""
    dtype = x.dtype
    try:
        result = _fill_like._kernel_fn(x._value, value, dtype)
    except Exception:  # noqa: BLE001 - the ordinary path reports the error
        return None
    return _fill_like._fast_result(result, (x,), {"value": value, "dtype": dtype})


# ------------------------------------------------------------------ identity and variables

# identity: a copy that passes the cotangent through.
_identity = Primitive("identity", vjp=lambda g, x, out: (g,), shape_rule=unary_rule,
                      kernel="copy")


def identity(input, name=None):  # noqa: A002
    """A tensor with the same value (a Variable's current value is copied).

    >>> import tensorflux as tf
    >>> tf.identity([1, 2]).numpy().tolist()
    [1, 2]
    """
    x = as_operand("identity", input)
    return _identity.bind(x) if isinstance(x, Variable) else x


def read_variable(variable):
    """The current value of a Variable as a new Tensor (differentiable)."""
    return _identity.bind(variable)


# stop_gradient: the value unchanged, the cotangent blocked.
_stop_gradient = Primitive("stop_gradient", vjp=lambda g, x, out: (None,),
                           shape_rule=unary_rule, kernel="alias",
                           aliases=True)


def stop_gradient(input, name=None):  # noqa: A002
    """The same value, but gradients do not flow through it.

    >>> import tensorflux as tf
    >>> x = tf.constant(2.0)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = x * tf.stop_gradient(x)
    >>> float(tape.gradient(y, x))
    2.0
    """
    return _stop_gradient.bind(as_operand("stop_gradient", input))


def _assign_rule(variable, value, kind):
    return ()


# assign: writes into a Variable's buffer in place (assign, assign_add or assign_sub).
# It returns nothing and is never differentiated; while tracing it is an ordered graph op.
_assign = Primitive("assign", shape_rule=_assign_rule, multiple_results=True,
                     stateful=True)


def assign_op(variable, kind, value):
    """Runs one of Variable.assign / assign_add / assign_sub after checking shape and dtype."""
    if value.__class__ is Tensor:
        # The common eager case (a metric's or an optimizer's update): a plain Tensor of the
        # variable's dtype and of its buffer's exact shape passes both checks below as it is.
        raw = value._value
        if raw is not None and raw.shape == variable._value.shape and \
                value.dtype is variable.dtype:
            _assign.bind(variable, value, kind=kind)
            return
    value = as_operand(f"{kind}", value, variable.dtype) if not isinstance(value, _TensorLike) \
        else value
    if value.dtype is not variable.dtype:
        raise errors.InvalidArgumentError(
            f"{kind} on Variable '{variable.name}': expected dtype {variable.dtype.name}, "
            f"received {value.dtype.name}", kind)
    if not variable._shape.is_compatible_with(value.shape) or (
            variable._shape.is_fully_defined() and tuple(value.shape) != tuple(variable.shape)):
        raise errors.InvalidArgumentError(
            f"{kind} on Variable '{variable.name}': expected shape {variable.shape}, "
            f"received {value.shape}", kind)
    _assign.bind(variable, value, kind=kind)


# ------------------------------------------------------------------ shapes

def _reshape_rule(x, shape):
    return aval(shape, x.dtype)


# reshape: same elements, new shape; the cotangent is reshaped back.
_reshape = Primitive("reshape", shape_rule=_reshape_rule,
                     vjp=lambda g, x, out, shape: (reshape(g, _shape_of(x)),),
                     aliases=True)


def _shape_of(x):
    """x's shape for reshaping a cotangent back: static where tracing knows it (one unknown
    dim as -1), else tf.shape(x) at run time."""
    if list(x.shape).count(None) > 1:
        return shape(x)
    return inferable_shape(x)


def _reshape_kernel(backend, x, shape):
    try:
        return backend.reshape(x, tuple(shape))
    except ValueError as error:
        raise errors.InvalidArgumentError(
            f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} ({x.size} elements) "
            f"into the shape {shape} computed at run time ({error})", "reshape") from error


# reshape_dynamic: reshape to a shape known only at run time (an int tensor input); the
# cotangent is reshaped back to x's shape.
_reshape_dynamic = Primitive(
    "reshape_dynamic", kernel="cond", aliases=True,
    shape_rule=lambda x, shape, branches: _dims_aval(shape, x.dtype),
    vjp=lambda g, x, shape, out, branches: (reshape(g, _shape_of(x)), None))


def inferable_shape(x):
    """x's static shape for reshape, its one unknown dim (if any) as -1; traced gradients
    with several unknown dims are not supported yet."""
    dims = list(x.shape)
    if dims.count(None) > 1:
        raise errors.UnimplementedError(
            f"reshape: cannot restore the shape {x.shape}, which has several unknown dims, "
            "while tracing; give the tf.function an input_signature with fewer None dims",
            "reshape")
    return [-1 if d is None else d for d in dims]


def _plain_dims(shape):
    """`shape` as a tuple where it is a list, tuple or fully known TensorShape of plain
    non-negative ints (what shape_operand gives back unchanged), else None."""
    cls = shape.__class__
    if cls is TensorShape:
        shape = shape._dims
        if shape is None:
            return None
    elif cls is not list and cls is not tuple:
        return None
    for d in shape:
        if d.__class__ is not int or d < 0:
            return None
    return tuple(shape)


def _product(dims):
    total = 1
    for d in dims:
        total *= d
    return total


def _fast_to_shape(primitive, tensor, shape, sized):
    """reshape's and broadcast_to's eager fast path (see Primitive.__init__), else None: a
    plain Tensor (a Variable's value would need bind's copy) and a list, tuple or known
    TensorShape of non-negative ints (of the tensor's size where `sized`) give the tensor
    itself for its own shape, else the kernel's result, recorded as bind records it; where
    the kernel fails, the ordinary path runs and reports the error."""
    if tensor.__class__ is not Tensor or primitive._backend is not context.eager_backend:
        return None
    dims = _plain_dims(shape)
    if dims is None:
        return None
    value = tensor._value
    if dims == value.shape:
        return tensor
    if sized and _product(dims) != value.size:
        return None
    try:
        result = primitive._kernel_fn(value, dims)
    except Exception:  # noqa: BLE001 - the ordinary path reports the error
        return None
    return primitive._fast_result(result, (tensor,), {"shape": dims})


def _empty_missing_dim(in_dims, dims):
    """The -1 of `dims` for an empty tensor whose new shape has a 0: as TF infers it (and the
    backends' reshape at run time), from the non-zero dims alone ((0, 3) -> (0, -1) gives
    (0, 3)), so empty batches reshape as full ones do."""
    def nonzero_product(values):
        total = 1
        for d in values:
            total *= d if d > 0 else 1
        return total

    return nonzero_product(in_dims) // nonzero_product(dims)


def reshape(tensor, shape, name=None):
    """The same elements in a new shape; one dimension may be -1 (inferred).

    >>> import tensorflux as tf
    >>> tf.reshape(tf.range(6), [2, -1]).shape
    TensorShape([2, 3])
    """
    out = _fast_to_shape(_reshape, tensor, shape, sized=True)
    if out is not None:
        return out
    x = as_operand("reshape", tensor)
    dims, runtime = shape_operand("reshape", shape)
    if runtime is not None:
        if dims is not None and (any(d is not None and d < -1 for d in dims)
                                 or dims.count(-1) > 1):
            raise errors.InvalidArgumentError(
                f"reshape: shape {_describe_dims(dims)} may contain at most one -1 and no "
                "other negative dims", "reshape")
        return _reshape_dynamic.bind(x, runtime, branches=RuntimeShape(_reshape_kernel, (1,)))
    known_rank = x.shape.rank is not None  # (a py_function's result may have no rank)
    size = 1 if known_rank else None
    for d in tuple(x.shape) if known_rank else ():
        size = None if d is None or size is None else size * d
    unknown = [i for i, d in enumerate(dims) if d == -1]
    if len(unknown) > 1 or any(d < -1 for d in dims):
        raise errors.InvalidArgumentError(
            f"reshape: shape {dims} may contain at most one -1 and no other negative dims",
            "reshape")
    if size is not None:
        known = 1
        for d in dims:
            known *= d if d != -1 else 1
        if unknown:
            if known == 0 and size == 0:
                dims[unknown[0]] = _empty_missing_dim(tuple(x.shape), dims)
            elif known == 0 or size % known:
                raise errors.InvalidArgumentError(
                    f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} ({size} "
                    f"elements) into shape {dims}", "reshape")
            else:
                dims[unknown[0]] = size // known
        elif known != size:
            raise errors.InvalidArgumentError(
                f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} ({size} elements) "
                f"into shape {dims} ({known} elements)", "reshape")
    if known_rank and tuple(dims) == tuple(x.shape):
        return unchanged(x)
    return _reshape.bind(x, shape=tuple(dims))


def _stack_rule(*xs, axis):
    shape = list(xs[0].shape)
    shape.insert(axis, len(xs))
    return aval(shape, xs[0].dtype)


def _stack_vjp(g, *xs, out, axis):
    return unstack(g, num=len(xs), axis=axis)


# stack: joins same-shaped tensors along a new axis; the cotangent is unstacked.
_stack = Primitive("stack", vjp=_stack_vjp, shape_rule=_stack_rule)


def stack(values, axis=0, name="stack"):
    """Stacks a list of rank-R tensors into one rank-(R+1) tensor along `axis`.

    >>> import tensorflux as tf
    >>> tf.stack([[1, 2], [3, 4]], axis=1).numpy().tolist()
    [[1, 3], [2, 4]]
    """
    from tensorflux.ops._core import normalize_axis

    if not values:
        raise errors.InvalidArgumentError("stack: expected a non-empty list of tensors", "stack")
    first = values[0]
    if not builtins.any(isinstance(v, _TensorLike) for v in values):
        # Python and NumPy values alone share one dtype, as when TF converts the whole list
        # (tf.stack([1, 2.5]) is float32).
        try:
            first = as_operand("stack", first, convert_to_tensor(list(values)).dtype)
        except (TypeError, ValueError):
            pass
    first = as_operand("stack", first)
    xs = [first] + [as_operand("stack", v, first.dtype) for v in values[1:]]
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) > 1:
        raise errors.InvalidArgumentError(
            f"stack: all inputs must have the same shape, received shapes "
            f"{[tuple(x.shape) for x in xs]}", "stack")
    axis = normalize_axis("stack", axis, first.shape.rank + 1)
    return _stack.bind(*xs, axis=axis)


def _unstack_rule(x, num, axis):
    shape = list(x.shape)
    del shape[axis]
    return tuple(aval(shape, x.dtype) for _ in builtins.range(num))


# unstack: splits along an axis into rank-(R-1) tensors; the cotangents are re-stacked.
_unstack = Primitive("unstack", shape_rule=_unstack_rule, multiple_results=True,
                     vjp=lambda g, x, out, num, axis: (_stack.bind(*g, axis=axis),),
                     aliases=True)


def unstack(value, num=None, axis=0, name="unstack"):
    """Splits a tensor along `axis` into a list of tensors of one lower rank.

    >>> import tensorflux as tf
    >>> [t.numpy().tolist() for t in tf.unstack([[1, 2], [3, 4]])]
    [[1, 2], [3, 4]]
    """
    from tensorflux.ops._core import normalize_axis

    x = as_operand("unstack", value)
    if x.shape.rank == 0:
        raise errors.InvalidArgumentError("unstack: cannot unstack a scalar", "unstack")
    axis = normalize_axis("unstack", axis, x.shape.rank)
    size = x.shape[axis]
    if num is None:
        if size is None:
            raise errors.InvalidArgumentError(
                f"unstack: cannot infer num from shape {x.shape}", "unstack")
        num = size
    elif size is not None and num != size:
        raise errors.InvalidArgumentError(
            f"unstack: num={num} does not match dimension {axis} of shape {x.shape}", "unstack")
    return list(_unstack.bind(x, num=num, axis=axis))


def _one_hot_rule(indices, depth, on_value, off_value, axis, dtype):
    shape = list(indices.shape)
    shape.insert(axis if axis >= 0 else len(shape), depth)
    return aval(shape, dtype)


def _one_hot_kernel(backend, indices, depth, **attrs):
    if depth < 0:
        raise errors.InvalidArgumentError(
            f"one_hot: depth must be >= 0, received {depth} at run time", "one_hot")
    return backend.one_hot(indices, depth, **attrs)


# one_hot_dynamic: one_hot with a depth known only at run time (a scalar int input).
_one_hot_dynamic = Primitive(
    "one_hot_dynamic", kernel="cond", vjp=lambda g, indices, depth, out, branches: (None, None),
    shape_rule=lambda indices, depth, branches: _one_hot_rule(
        indices, None, None, None, branches.attrs["axis"], branches.attrs["dtype"]))


# one_hot: integer indices to one-hot vectors; out-of-range indices give all off_value.
_one_hot = Primitive("one_hot", shape_rule=_one_hot_rule,
                     vjp=lambda g, indices, out, **attrs: (None,))


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """One-hot vectors of length `depth` (indices outside [0, depth) give all off_value).

    >>> import tensorflux as tf
    >>> tf.one_hot([0, 2], 3).numpy().tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    indices = as_operand("one_hot", indices)
    if not indices.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"one_hot: indices must be integers, received {indices.dtype.name}", "one_hot")
    dtype = _one_hot_dtype(on_value, off_value, dtype)
    rank = indices.shape.rank
    axis = -1 if axis is None else int(axis)
    if not -1 <= axis <= rank:
        raise errors.InvalidArgumentError(
            f"one_hot: axis must be -1 or in [0, {rank}], received {axis}", "one_hot")
    depth, runtime = scalar_operand("one_hot", depth, "depth")
    on = 1 if on_value is None else _scalar(on_value)
    off = 0 if off_value is None else _scalar(off_value)
    if runtime is not None:
        if not runtime.dtype.is_integer:
            raise errors.InvalidArgumentError(
                f"one_hot: depth must be an integer, received {runtime.dtype.name}", "one_hot")
        return _one_hot_dynamic.bind(indices, runtime, branches=RuntimeShape(
            _one_hot_kernel, (1,), on_value=on, off_value=off, axis=axis, dtype=dtype))
    depth = int(depth)
    if depth < 0:
        raise errors.InvalidArgumentError(f"one_hot: depth must be >= 0, received {depth}",
                                          "one_hot")
    return _one_hot.bind(indices, depth=depth, on_value=on, off_value=off, axis=axis,
                         dtype=dtype)


def _one_hot_dtype(on_value, off_value, dtype):
    """TF's rule: `dtype` if given, else the dtype of on_value/off_value (a Python int gives
    int32), which must agree; float32 when neither is given."""
    found = [convert_to_tensor(v).dtype if not isinstance(v, _TensorLike) else v.dtype
             for v in (on_value, off_value) if v is not None]
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
        for v, what in ((on_value, "on_value"), (off_value, "off_value")):
            if isinstance(v, _TensorLike) and v.dtype is not dtype:
                raise TypeError(f"one_hot: dtype {v.dtype!r} of {what} does not match dtype "
                                f"parameter {dtype!r}")
        return dtype
    if len(found) == 2 and found[0] is not found[1]:
        raise TypeError(f"one_hot: dtype {found[0]!r} of on_value does not match dtype "
                        f"{found[1]!r} of off_value")
    return found[0] if found else dtypes.float32


def _scalar(value, op="one_hot"):
    if isinstance(value, _TensorLike):
        value = fold(op, value, "scalar value")
    return value.item() if hasattr(value, "item") else value


def shape(input, out_type=None, name=None):  # noqa: A002
    """The shape of a tensor as a 1-D int32 tensor (out_type None is int32, as TF).

    >>> import tensorflux as tf
    >>> tf.shape(tf.zeros([2, 3])).numpy().tolist()
    [2, 3]
    """
    x = as_operand("shape", input)
    out_type = dtypes.int32 if out_type is None else dtypes.as_dtype(out_type)
    if not x.shape.is_fully_defined():
        return _dynamic_shape.bind(x, dtype=out_type)
    return convert_to_tensor(list(x.shape), dtype=out_type)


def _dynamic_shape_rule(x, dtype):
    return aval((x.shape.rank,), dtype)


# dynamic_shape: tf.shape of a traced tensor whose static shape has unknown dims; integer
# output, so no gradient.
_dynamic_shape = Primitive("dynamic_shape", shape_rule=_dynamic_shape_rule,
                           vjp=lambda g, x, out, dtype: (None,))


def rank(input, name=None):  # noqa: A002
    """The number of dimensions, as a scalar int32 tensor.

    >>> import tensorflux as tf
    >>> int(tf.rank(tf.zeros([2, 3])))
    2
    """
    x = as_operand("rank", input)
    return convert_to_tensor(x.shape.rank, dtype=dtypes.int32)


def size(input, out_type=None, name=None):  # noqa: A002
    """The number of elements, as a scalar tensor.

    >>> import tensorflux as tf
    >>> int(tf.size(tf.zeros([2, 3])))
    6
    """
    x = as_operand("size", input)
    out_type = dtypes.int32 if out_type is None else dtypes.as_dtype(out_type)
    if not x.shape.is_fully_defined():
        from tensorflux.ops import reduction

        return reduction.reduce_prod(shape(x, out_type))
    return convert_to_tensor(x.shape.num_elements(), dtype=out_type)


def getitem(tensor, key):
    """tensor[key]: ints, slices (negative steps too), Ellipsis, newaxis, bool masks and
    integer index tensors, as NumPy and TensorFlow index."""
    from tensorflux.ops import indexing

    return indexing.getitem(tensor, key)


def _like_rule(x, like):
    return aval(like.shape, x.dtype)


# sum_to_like / broadcast_like: un-broadcasting (and its transpose) to another tensor's
# run-time shape, for gradients traced with unknown dims; each is the other's VJP.
_sum_to_like = Primitive("sum_to_like", shape_rule=_like_rule)
_broadcast_like = Primitive("broadcast_like", shape_rule=_like_rule, aliases=True)
_sum_to_like.defvjp(lambda g, x, like, out: (_broadcast_like.bind(g, x), None))
_broadcast_like.defvjp(lambda g, x, like, out: (_sum_to_like.bind(g, x), None))


def sum_to_dynamic_shape(grad, like):
    """Graph-mode unbroadcasting when static shapes have unknown dims: sums `grad` over the
    dims that were broadcast to reach it from `like`'s shape at run time."""
    if grad.shape.rank is not None and like.shape.rank is not None \
            and grad.shape.rank < like.shape.rank:
        raise errors.InvalidArgumentError(
            f"sum_to_dynamic_shape: a gradient of shape {grad.shape} cannot be reduced to the "
            f"shape {like.shape}", "sum_to_dynamic_shape")
    return _sum_to_like.bind(grad, like)


def where_indices(condition):
    """The coordinates of True entries (the one-argument form of tf.where)."""
    from tensorflux.ops import indexing

    return indexing.where_indices(condition)


def _is_eager(x):
    return isinstance(x, Tensor)


def _broadcast_to_rule(x, shape):
    return aval(shape, x.dtype)


# broadcast_to: repeats along broadcast dims; the walker sums the cotangent back.
_broadcast_to = Primitive("broadcast_to", shape_rule=_broadcast_to_rule,
                          vjp=lambda g, x, out, shape: (g,),
                          aliases=True)


def _broadcast_to_kernel(backend, x, shape):
    try:
        return backend.broadcast_to(x, tuple(shape))
    except ValueError as error:
        raise errors.InvalidArgumentError(
            f"broadcast_to: cannot broadcast a tensor of shape {tuple(x.shape)} to the shape "
            f"{shape} computed at run time", "broadcast_to") from error


def _broadcast_to_dynamic_rule(x, shape, branches):
    out = _dims_aval(shape, x.dtype)
    if out.shape.rank is None or x.shape.rank is None or x.shape.rank > out.shape.rank:
        return out
    # A target entry known only at run time equals x's aligned dim when that is not 1.
    lead = out.shape.rank - x.shape.rank
    aligned = [None] * lead + list(x.shape)
    return aval([d if d is not None else (a if a != 1 else None)
                 for d, a in zip(out.shape, aligned)], x.dtype)


# broadcast_to_dynamic: broadcast_to a shape known only at run time; the cotangent is summed
# back to x's run-time shape (the walker cannot tell which unknown dims were broadcast).
_broadcast_to_dynamic = Primitive("broadcast_to_dynamic", kernel="cond", aliases=True,
                                  shape_rule=_broadcast_to_dynamic_rule,
                                  vjp=lambda g, x, shape, out, branches: (
                                      _sum_to_like.bind(g, x), None))


def broadcast_to(input, shape, name=None):  # noqa: A002
    """Broadcasts `input` to `shape` with NumPy's rules.

    >>> import tensorflux as tf
    >>> tf.broadcast_to([1, 2], [2, 2]).numpy().tolist()
    [[1, 2], [1, 2]]
    """
    # (the kernel refuses a shape it does not broadcast to, as bind then reports)
    out = _fast_to_shape(_broadcast_to, input, shape, sized=False)
    if out is not None:
        return out
    x = as_operand("broadcast_to", input)
    dims, runtime = shape_operand("broadcast_to", shape)
    if runtime is not None:
        _check_runtime_dims("broadcast_to", dims)
        return _broadcast_to_dynamic.bind(x, runtime,
                                          branches=RuntimeShape(_broadcast_to_kernel, (1,)))
    if tuple(dims) == tuple(x.shape):
        return unchanged(x)
    return _broadcast_to.bind(x, shape=tuple(dims))


# ------------------------------------------------------------------ sequences and eye

def _range_dtype(values, dtype):
    if dtype is not None:
        return dtypes.as_dtype(dtype)
    # TensorFlow's inference: the widest of the arguments' dtypes (ints -> int32, floats ->
    # float32), in the order int32 < int64 < float16 < bfloat16 < float32 < float64.
    order = [dtypes.int32, dtypes.int64, dtypes.float16, dtypes.bfloat16, dtypes.float32,
             dtypes.float64]
    found = []
    for v in values:
        if isinstance(v, _TensorLike):
            found.append(v.dtype)
        elif isinstance(v, float) or hasattr(v, "dtype") and v.dtype.kind == "f":
            found.append(dtypes.float32)
        else:
            found.append(dtypes.int32)
    ranked = [d for d in found if d in order]
    return builtins.max(ranked, key=order.index) if ranked else found[0]


# range: start + delta * [0, size); no tensor inputs, so no gradient.
_range = Primitive("range", kernel="arange",
                   shape_rule=lambda start, delta, size, dtype: aval([size], dtype))


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001 - TF's name
    """Numbers from `start` up to (not including) `limit` in steps of `delta`.

    >>> import tensorflux as tf
    >>> tf.range(5).numpy().tolist(), tf.range(1.0, 2.0, 0.25).numpy().tolist()
    ([0, 1, 2, 3, 4], [1.0, 1.25, 1.5, 1.75])
    """
    if limit is None:
        start, limit = 0, start
    dtype = _range_dtype((start, limit, delta), dtype)
    if not (dtype.is_integer or dtype.is_floating):
        raise errors.InvalidArgumentError(
            f"range: dtype must be an integer or float type, received {dtype.name}", "range")
    operands = [scalar_operand("range", v, "start, limit and delta") for v in
                (start, limit, delta)]
    if any(runtime is not None for _, runtime in operands):
        return _range_at_run_time(operands, dtype)
    start, limit, delta = (_range_scalar(v, dtype) for v, _ in operands)
    if delta == 0:
        raise errors.InvalidArgumentError("range: delta must be non-zero", "range")
    if delta > 0 and start > limit or delta < 0 and start < limit:
        raise errors.InvalidArgumentError(
            f"range: requires start {'<=' if delta > 0 else '>='} limit when delta "
            f"{'>' if delta > 0 else '<'} 0, received start={start}, limit={limit}, "
            f"delta={delta}", "range")
    if dtype.is_integer:
        size = -(-(limit - start) // delta)
    else:
        import math

        size = builtins.max(0, math.ceil((limit - start) / delta))
    return _range.bind(start=start, delta=delta, size=int(size), dtype=dtype)


def _range_kernel(backend, start, limit, delta, dtype):
    import math

    if delta == 0:
        raise errors.InvalidArgumentError("range: delta must be non-zero", "range")
    if delta > 0 and start > limit or delta < 0 and start < limit:
        raise errors.InvalidArgumentError(
            f"range: requires start {'<=' if delta > 0 else '>='} limit when delta "
            f"{'>' if delta > 0 else '<'} 0, received start={start}, limit={limit}, "
            f"delta={delta} at run time", "range")
    size = -(-(limit - start) // delta) if dtype.is_integer else \
        builtins.max(0, math.ceil((limit - start) / delta))
    return backend.arange(start, delta, int(size), dtype)


# range_dynamic: tf.range with start, limit or delta known only at run time (scalar inputs);
# the length is unknown while tracing. No gradient, as TensorFlow's Range.
_range_dynamic = Primitive("range_dynamic", kernel="cond",
                           vjp=lambda g, *inputs, out, branches: (None,) * len(inputs),
                           shape_rule=lambda start, limit, delta, branches: aval(
                               [None], branches.attrs["dtype"]))


def _range_at_run_time(operands, dtype):
    from tensorflux.ops.math import cast

    inputs = []
    for value, runtime in operands:
        if runtime is None:
            inputs.append(convert_to_tensor(_range_scalar(value, dtype), dtype=dtype))
        else:
            inputs.append(runtime if runtime.dtype == dtype else cast(runtime, dtype))
    return _range_dynamic.bind(*inputs, branches=RuntimeShape(_range_kernel, (0, 1, 2),
                                                              dtype=dtype))


def _range_scalar(value, dtype):
    if isinstance(value, _TensorLike):
        if value.shape.rank != 0:
            raise errors.InvalidArgumentError(
                f"range: start, limit and delta must be scalars, received shape "
                f"{tuple(value.shape)}", "range")
        value = host("range", value, "start, limit and delta").item()
    elif hasattr(value, "item"):
        value = value.item()
    return int(value) if dtype.is_integer else float(value)


def linspace(start, stop, num, name=None, axis=0):
    """`num` evenly spaced values from `start` to `stop` inclusive, along a new `axis`.

    >>> import tensorflux as tf
    >>> tf.linspace(0.0, 1.0, 5).numpy().tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    from tensorflux.ops.indexing import getitem
    from tensorflux.ops.math import cast, truediv

    start = as_operand("linspace", start)
    stop = as_operand("linspace", stop, start.dtype)
    num = int(_range_scalar(num, dtypes.int32))
    if num < 0:
        raise errors.InvalidArgumentError(f"linspace: num must be >= 0, received {num}",
                                          "linspace")
    if not (start.dtype.is_floating or start.dtype.is_integer):
        raise errors.InvalidArgumentError(
            f"linspace: start and stop must be float or integer, received {start.dtype.name}",
            "linspace")
    from tensorflux.ops._core import broadcast_shapes

    shape = list(broadcast_shapes("linspace", start.shape, stop.shape))
    axis = normalize_axis("linspace", axis, len(shape) + 1)
    first = expand_dims(broadcast_to(start, shape), axis)
    last = expand_dims(broadcast_to(stop, shape), axis)
    # As TF: interior points start + i * delta, with both endpoints exact.
    delta = truediv(last - first, builtins.max(num - 1, 1))
    first, last = cast(first, delta.dtype), cast(last, delta.dtype)
    steps = [1] * (len(shape) + 1)
    steps[axis] = builtins.max(num - 2, 0)
    interior = first + delta * reshape(range(1, steps[axis] + 1, dtype=delta.dtype), steps)
    joined = concat([first, interior, last], axis)
    key = (builtins.slice(None),) * axis + (builtins.slice(0, num),)
    return getitem(joined, key)


# eye: an identity matrix (or a batch of them); no tensor inputs, so no gradient.
_eye = Primitive("eye", shape_rule=lambda num_rows, num_columns, batch_shape, dtype:
                 aval(list(batch_shape) + [num_rows, num_columns], dtype))


def eye(num_rows, num_columns=None, batch_shape=None, dtype=dtypes.float32, name=None):
    """An identity matrix of shape batch_shape + [num_rows, num_columns].

    >>> import tensorflux as tf
    >>> tf.eye(2, 3).numpy().tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    rows = int(_range_scalar(num_rows, dtypes.int32))
    columns = rows if num_columns is None else int(_range_scalar(num_columns, dtypes.int32))
    batch = () if batch_shape is None else tuple(_shape_list("eye", batch_shape, "batch_shape"))
    if rows < 0 or columns < 0 or any(d < 0 for d in batch):
        raise errors.InvalidArgumentError(
            f"eye: dimensions must be non-negative, received num_rows={rows}, "
            f"num_columns={columns}, batch_shape={list(batch)}", "eye")
    return _eye.bind(num_rows=rows, num_columns=columns, batch_shape=batch,
                     dtype=dtypes.as_dtype(dtype))


# ------------------------------------------------------------------ adding and removing axes

def _reshape_dims(dims):
    """Static dims for reshape; one unknown dim becomes -1."""
    unknown = [i for i, d in enumerate(dims) if d is None]
    if len(unknown) > 1:
        raise errors.UnimplementedError(
            "reshaping with more than one unknown dimension needs dynamic shapes", "reshape")
    return [-1 if d is None else d for d in dims]


def expand_dims(input, axis, name=None):  # noqa: A002
    """Inserts a dimension of size 1 at `axis` (in [-rank - 1, rank]).

    >>> import tensorflux as tf
    >>> tf.expand_dims([1, 2], -1).shape
    TensorShape([2, 1])
    """
    x = as_operand("expand_dims", input)
    rank = x.shape.rank
    if isinstance(axis, int) and not -rank - 1 <= axis <= rank:
        # normalize_axis would name the output's rank; TF's message names the input's.
        raise errors.InvalidArgumentError(
            f"expand_dims: tried to expand dim index {axis} for tensor with {rank} dimensions "
            f"(expected -{rank + 1} <= axis <= {rank})", "expand_dims")
    axis = normalize_axis("expand_dims", axis, rank + 1)
    dims = list(x.shape)
    if dims.count(None) > 1:
        # (a reshape can leave one size unknown; indexing needs none of them)
        return x[(builtins.slice(None),) * axis + (None,)]
    dims.insert(axis, 1)
    return reshape(x, _reshape_dims(dims))


def squeeze(input, axis=None, name=None):  # noqa: A002
    """Removes dimensions of size 1 (all of them, or those in `axis`, which must be 1).

    >>> import tensorflux as tf
    >>> tf.squeeze(tf.zeros([1, 2, 1]), axis=[0]).shape
    TensorShape([2, 1])
    """
    from tensorflux.ops._core import normalize_axes

    x = as_operand("squeeze", input)
    dims = list(x.shape)
    if axis is None or isinstance(axis, (list, tuple)) and not axis:
        axes = [i for i, d in enumerate(dims) if d == 1]
    else:
        axes = normalize_axes("squeeze", axis, len(dims))
        for a in axes:
            if dims[a] is not None and dims[a] != 1:
                raise errors.InvalidArgumentError(
                    f"squeeze: cannot squeeze dimension {a} of the tensor of shape "
                    f"{tuple(x.shape)}: expected a dimension of size 1, got {dims[a]}",
                    "squeeze")
    kept = [d for i, d in enumerate(dims) if i not in axes]
    if kept.count(None) > 1:
        return x[tuple(0 if i in axes else builtins.slice(None) for i in builtins.range(len(dims)))]
    return reshape(x, _reshape_dims(kept))


# ------------------------------------------------------------------ joining and splitting

def _concat_rule(*xs, axis):
    shape = list(xs[0].shape)
    sizes = [x.shape[axis] for x in xs]
    shape[axis] = None if None in sizes else builtins.sum(sizes)
    return aval(shape, xs[0].dtype)


def _concat_vjp(g, *xs, out, axis):
    sizes = tuple(x.shape[axis] for x in xs)
    if None not in sizes:
        return _split.bind(g, sizes=sizes, axis=axis)
    # A size known only at run time (a traced Input((None, ...))): each piece is sliced out at
    # run-time offsets.
    from tensorflux.ops.indexing import getitem

    pieces, start = [], 0
    for x, size in zip(xs, sizes):
        stop = start + (shape(x)[axis] if size is None else size)
        pieces.append(getitem(g, (builtins.slice(None),) * axis + (builtins.slice(start, stop),)))
        start = stop
    return tuple(pieces)


# concat: joins tensors along an existing axis; the cotangent is split back into pieces.
_concat = Primitive("concat", shape_rule=_concat_rule, vjp=_concat_vjp)


def concat(values, axis, name="concat"):
    """Joins tensors along `axis`; all other dimensions must match.

    >>> import tensorflux as tf
    >>> tf.concat([[[1, 2]], [[3, 4]]], 0).numpy().tolist()
    [[1, 2], [3, 4]]
    """
    if isinstance(values, _TensorLike):
        values = unstack(values)
    values = list(values)
    if not values:
        raise errors.InvalidArgumentError("concat: expected a non-empty list of tensors",
                                          "concat")
    for v in values:
        if isinstance(v, CompositeTensor):  # RaggedTensors (TF dispatches them)
            return v._dispatch("concat", values, axis)
    first = as_operand("concat", values[0])
    xs = [first] + [as_operand("concat", v) for v in values[1:]]
    shapes = [tuple(x.shape) for x in xs]
    for i, x in enumerate(xs):
        if x.dtype is not first.dtype:
            raise errors.InvalidArgumentError(
                f"concat: all inputs must have the same dtype, but input 0 is "
                f"{first.dtype.name} and input {i} is {x.dtype.name}", "concat")
        if x.shape.rank != first.shape.rank:
            raise errors.InvalidArgumentError(
                f"concat: all inputs must have the same rank, received shapes {shapes}",
                "concat")
    if first.shape.rank == 0:
        raise errors.InvalidArgumentError(
            f"concat: cannot concatenate scalars, received shapes {shapes}", "concat")
    axis = normalize_axis("concat", axis, first.shape.rank)
    for i, x in enumerate(xs):
        for d, (a, b) in enumerate(zip(first.shape, x.shape)):
            if d != axis and a is not None and b is not None and a != b:
                raise errors.InvalidArgumentError(
                    f"concat: dimension {d} of input {i} (shape {tuple(x.shape)}) does not "
                    f"match input 0 (shape {tuple(first.shape)}); all shapes: {shapes}, "
                    f"axis {axis}", "concat")
    if len(xs) == 1:
        return identity(first)
    return _concat.bind(*xs, axis=axis)


def _split_rule(x, sizes, axis):
    shapes = []
    for s in sizes:
        shape = list(x.shape)
        shape[axis] = s
        shapes.append(aval(shape, x.dtype))
    return tuple(shapes)


# split: consecutive pieces along an axis; the cotangents are concatenated back.
_split = Primitive("split", shape_rule=_split_rule, multiple_results=True,
                   vjp=lambda g, x, out, sizes, axis: (_concat.bind(*g, axis=axis),))


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """Splits `value` along `axis` into equal pieces (an int) or pieces of given sizes (a
    list, where one size may be -1).

    >>> import tensorflux as tf
    >>> [p.numpy().tolist() for p in tf.split([1, 2, 3, 4, 5], [2, -1])]
    [[1, 2], [3, 4, 5]]
    """
    x = as_operand("split", value)
    axis = normalize_axis("split", axis, x.shape.rank)
    dim = x.shape[axis]
    if dim is None:
        raise errors.UnimplementedError("split: the split dimension must be known", "split")
    splits = num_or_size_splits
    if isinstance(splits, _TensorLike):
        splits = host("split", splits, "num_or_size_splits").tolist()
    if isinstance(splits, int) or hasattr(splits, "__index__"):
        count = int(splits)
        if count <= 0 or dim % count:
            raise errors.InvalidArgumentError(
                f"split: dimension {axis} of the tensor of shape {tuple(x.shape)} (size {dim}) "
                f"is not evenly divisible into {count} pieces", "split")
        sizes = [dim // count] * count
    else:
        sizes = [int(s) for s in splits]
        unknown = [i for i, s in enumerate(sizes) if s == -1]
        if len(unknown) > 1 or any(s < -1 for s in sizes):
            raise errors.InvalidArgumentError(
                f"split: sizes {sizes} may contain at most one -1 and no other negative size",
                "split")
        known = builtins.sum(s for s in sizes if s != -1)
        if unknown and known <= dim:
            sizes[unknown[0]] = dim - known
        elif unknown or known != dim:
            raise errors.InvalidArgumentError(
                f"split: sizes {[int(s) for s in splits]} do not add up to dimension {axis} of "
                f"the tensor of shape {tuple(x.shape)} (size {dim})", "split")
        if not sizes:
            raise errors.InvalidArgumentError("split: expected at least one size", "split")
    if num is not None and int(num) != len(sizes):
        raise errors.InvalidArgumentError(
            f"split: num={num} does not match the {len(sizes)} pieces", "split")
    return list(_split.bind(x, sizes=tuple(sizes), axis=axis))


# ------------------------------------------------------------------ tile and pad

def _tile_vjp(g, x, out, multiples):
    from tensorflux.ops.reduction import reduce_sum

    if None in x.shape:
        return (_tile_grad_at_run_time(g, x, multiples),)
    dims = list(x.shape)
    interleaved = [n for m, d in zip(multiples, dims) for n in (m, d)]
    summed = reduce_sum(reshape(g, interleaved), axis=list(builtins.range(0, 2 * len(dims), 2)))
    return (reshape(summed, dims),)


# tile: repeats the whole tensor along each axis; the copies' cotangents are summed.
_tile = Primitive("tile", vjp=_tile_vjp, shape_rule=lambda x, multiples: aval(
    [None if d is None else d * m for d, m in zip(x.shape, multiples)], x.dtype))


def _tile_grad_at_run_time(g, x, multiples):
    """Sums the copies of g back to x's run-time shape: g reshaped to [m0, d0, m1, d1, ...]
    and summed over the multiples' axes."""
    from tensorflux.ops.reduction import reduce_sum

    dims = shape(x)
    if not isinstance(multiples, _TensorLike):
        multiples = convert_to_tensor(list(multiples), dtype=dims.dtype)
    elif multiples.dtype != dims.dtype:
        from tensorflux.ops.math import cast

        multiples = cast(multiples, dims.dtype)
    interleaved = reshape(stack([multiples, dims], axis=1), [-1])
    rank = x.shape.rank
    summed = reduce_sum(reshape(g, interleaved), axis=list(builtins.range(0, 2 * rank, 2)))
    return reshape(summed, dims)


def _tile_kernel(backend, x, multiples):
    if len(multiples) != x.ndim or any(m < 0 for m in multiples):
        raise errors.InvalidArgumentError(
            f"tile: expected {x.ndim} non-negative multiples for the input of shape "
            f"{tuple(x.shape)}, received {multiples} at run time", "tile")
    return backend.tile(x, tuple(multiples))


def _tile_dynamic_rule(x, multiples, branches):
    found = _runtime_dims(multiples)
    found = [None] * (x.shape.rank or 0) if found is None else found
    return aval([None if d is None or m is None else d * m for d, m in zip(x.shape, found)],
                x.dtype)


# tile_dynamic: tile with multiples known only at run time; the copies' cotangents are summed.
_tile_dynamic = Primitive("tile_dynamic", kernel="cond", shape_rule=_tile_dynamic_rule,
                          vjp=lambda g, x, multiples, out, branches: (
                              _tile_grad_at_run_time(g, x, multiples), None))


def tile(input, multiples, name=None):  # noqa: A002
    """Repeats `input` multiples[i] times along axis i.

    >>> import tensorflux as tf
    >>> tf.tile([[1, 2]], [2, 2]).numpy().tolist()
    [[1, 2, 1, 2], [1, 2, 1, 2]]
    """
    x = as_operand("tile", input)
    multiples, runtime = shape_operand("tile", multiples, "multiples")
    if runtime is not None:
        if x.shape.rank is None or multiples is not None and (
                len(multiples) != x.shape.rank or any(m is not None and m < 0
                                                      for m in multiples)):
            raise errors.InvalidArgumentError(
                f"tile: expected {x.shape.rank} non-negative multiples for the input of shape "
                f"{x.shape}, received {_describe_dims(multiples)}", "tile")
        return _tile_dynamic.bind(x, runtime, branches=RuntimeShape(_tile_kernel, (1,)))
    if len(multiples) != x.shape.rank or any(m < 0 for m in multiples):
        raise errors.InvalidArgumentError(
            f"tile: expected {x.shape.rank} non-negative multiples for the input of shape "
            f"{tuple(x.shape)}, received {multiples}", "tile")
    return _tile.bind(x, multiples=tuple(multiples))


def _pad_rule(x, paddings, mode, constant_values):
    return aval([None if d is None else d + b + a for d, (b, a) in zip(x.shape, paddings)],
                x.dtype)


# pad: adds borders (constant, or mirrored with/without the edge); the VJP is pad_grad, the
# adjoint, which keeps the interior and folds mirrored borders back onto their sources.
_pad = Primitive("pad", shape_rule=_pad_rule, vjp=lambda g, x, out, paddings, mode,
                 constant_values: (_pad_grad.bind(g, paddings=paddings, mode=mode),))
_pad_grad = Primitive("pad_grad", shape_rule=lambda g, paddings, mode: aval(
    [None if d is None else d - b - a for d, (b, a) in zip(g.shape, paddings)], g.dtype),
    vjp=lambda gg, g, out, paddings, mode: (_pad.bind(gg, paddings=paddings, mode=mode,
                                                      constant_values=0),))


def _check_pad_mode(mode):
    if mode not in ("CONSTANT", "REFLECT", "SYMMETRIC"):
        raise errors.InvalidArgumentError(
            f"pad: mode must be 'CONSTANT', 'REFLECT' or 'SYMMETRIC', received {mode!r}", "pad")


def _holds_symbolic(value):
    if isinstance(value, _TensorLike):
        return value._value is None
    return isinstance(value, (list, tuple)) and builtins.any(_holds_symbolic(v) for v in value)


def _static_paddings(paddings):
    """What tracing knows of paddings given as pairs holding symbolic scalars: a list of
    (before, after) with None where known only at run time; None if not a list of pairs."""
    from tensorflux.graph.static import get_static_value, static_scalar

    if isinstance(paddings, _TensorLike):
        value = get_static_value(paddings)  # (constants and static shapes fold while tracing)
        return None if value is None else [tuple(int(v) for v in p) for p in value.tolist()]
    if not isinstance(paddings, (list, tuple)):
        return None
    known = []
    for pair in paddings:
        if isinstance(pair, _TensorLike) or not isinstance(pair, (list, tuple)) or len(pair) != 2:
            return None
        entries = []
        for v in pair:
            if isinstance(v, _TensorLike) and v._value is None:
                if v.shape.rank != 0 or not v.dtype.is_integer:
                    raise errors.InvalidArgumentError(
                        f"pad: each padding must be an int or a scalar integer tensor, received "
                        f"{v.dtype.name} with shape {v.shape}", "pad")
                entries.append(static_scalar(v))
            else:
                entries.append(int(v.numpy() if isinstance(v, _TensorLike) else v))
        known.append(tuple(entries))
    return known


def _pad_checked_pairs(op, shape, paddings, mode):
    pairs = [list(p) for p in paddings] if isinstance(paddings, list) else paddings
    if not isinstance(pairs, list) or len(pairs) != len(shape) or builtins.any(
            len(p) != 2 for p in pairs):
        raise errors.InvalidArgumentError(
            f"{op}: paddings must have shape [{len(shape)}, 2] for the input of shape "
            f"{tuple(shape)}, received {paddings!r} at run time", op)
    if builtins.any(v < 0 for p in pairs for v in p):
        raise errors.InvalidArgumentError(
            f"{op}: paddings must be non-negative, received {pairs} at run time", op)
    if mode != "CONSTANT":
        for i, ((b, a), d) in enumerate(zip(pairs, shape)):
            limit = d if mode == "SYMMETRIC" else d - 1
            if b > limit or a > limit:
                raise errors.InvalidArgumentError(
                    f"{op}: {mode} paddings must be {'<=' if mode == 'SYMMETRIC' else '<'} the "
                    f"dimension size; axis {i} of the input of shape {tuple(shape)} has size "
                    f"{d}, received paddings {[b, a]} at run time", op)
    return tuple((int(b), int(a)) for b, a in pairs)


def _pad_kernel(backend, x, paddings, mode, constant_values, known):
    return backend.pad(x, _pad_checked_pairs("pad", x.shape, paddings, mode), mode,
                       constant_values)


def _pad_grad_kernel(backend, g, paddings, mode, known):
    return backend.pad_grad(g, tuple((int(b), int(a)) for b, a in paddings), mode)


def _pad_dynamic_rule(x, paddings, branches):
    known = branches.attrs["known"]
    if x.shape.rank is None:
        return aval(TensorShape(None), x.dtype)
    if known is None:
        return aval([None] * x.shape.rank, x.dtype)
    sign = -1 if branches.fn is _pad_grad_kernel else 1
    return aval([None if d is None or b is None or a is None else d + sign * (b + a)
                 for d, (b, a) in zip(x.shape, known)], x.dtype)


# pad_dynamic / pad_grad_dynamic: pad and its adjoint with paddings known only at run time
# (an int tensor of shape [rank, 2]), e.g. padded to a length computed inside a tf.function.
_pad_dynamic = Primitive(
    "pad_dynamic", kernel="cond", shape_rule=_pad_dynamic_rule,
    vjp=lambda g, x, paddings, out, branches: (_pad_grad_dynamic.bind(
        g, paddings, branches=RuntimeShape(_pad_grad_kernel, (1,), mode=branches.attrs["mode"],
                                           known=branches.attrs["known"])), None))
_pad_grad_dynamic = Primitive(
    "pad_grad_dynamic", kernel="cond", shape_rule=_pad_dynamic_rule,
    vjp=lambda gg, g, paddings, out, branches: (_pad_dynamic.bind(
        gg, paddings, branches=RuntimeShape(_pad_kernel, (1,), mode=branches.attrs["mode"],
                                            constant_values=0, known=branches.attrs["known"])),
        None))


def _pad_at_run_time(x, paddings, known, mode, constant_values):
    """tf.pad inside a tf.function whose paddings hold values known only at run time."""
    from tensorflux.ops.math import cast

    _check_pad_mode(mode)
    if not isinstance(paddings, _TensorLike):
        wide = builtins.any(isinstance(v, _TensorLike) and v.dtype == dtypes.int64
                            for pair in paddings for v in pair)
        dtype = dtypes.int64 if wide else dtypes.int32
        paddings = stack([stack([cast(v, dtype) if isinstance(v, _TensorLike) else
                                 convert_to_tensor(v, dtype=dtype) for v in pair])
                          for pair in paddings])
    elif not paddings.dtype.is_integer:
        raise errors.InvalidArgumentError(
            f"pad: paddings must be an integer tensor, received {paddings.dtype.name}", "pad")
    if x.shape.rank is not None and paddings.shape.rank is not None and (
            paddings.shape.rank != 2 or paddings.shape[0] not in (None, x.shape.rank)
            or paddings.shape[1] not in (None, 2)):
        raise errors.InvalidArgumentError(
            f"pad: paddings must have shape [{x.shape.rank}, 2] for the input of shape "
            f"{x.shape}, received shape {paddings.shape}", "pad")
    if known is not None and builtins.any(v is not None and v < 0 for p in known for v in p):
        raise errors.InvalidArgumentError(
            f"pad: paddings must be non-negative, received {[list(p) for p in known]}", "pad")
    return _pad_dynamic.bind(x, paddings, branches=RuntimeShape(
        _pad_kernel, (1,), mode=mode, constant_values=_scalar(constant_values, "pad"),
        known=None if known is None else tuple(known)))


def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None):
    """Pads each axis i with paddings[i][0] entries before and paddings[i][1] after.

    mode: 'CONSTANT' (constant_values), 'REFLECT' (mirror without the edge; padding < dim)
    or 'SYMMETRIC' (mirror with the edge; padding <= dim), in any case.

    >>> import tensorflux as tf
    >>> tf.pad([1, 2, 3], [[2, 1]], "REFLECT").numpy().tolist()
    [3, 2, 1, 2, 3, 2]
    """
    x = as_operand("pad", tensor)
    mode = str(mode).upper()
    if _holds_symbolic(paddings):
        known = _static_paddings(paddings)
        if known is None or any(v is None for pair in known for v in pair):
            return _pad_at_run_time(x, paddings, known, mode, constant_values)
    paddings = fold("pad", paddings, "paddings")
    try:
        pairs = tuple((int(b), int(a)) for b, a in paddings)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"pad: paddings must have shape [rank, 2], received {paddings!r}", "pad") from error
    if len(pairs) != x.shape.rank:
        raise errors.InvalidArgumentError(
            f"pad: paddings must have shape [{x.shape.rank}, 2] for the input of shape "
            f"{tuple(x.shape)}, received {len(pairs)} rows", "pad")
    if any(v < 0 for pair in pairs for v in pair):
        raise errors.InvalidArgumentError(
            f"pad: paddings must be non-negative, received {[list(p) for p in pairs]}", "pad")
    _check_pad_mode(mode)
    if mode != "CONSTANT":
        for i, ((b, a), d) in enumerate(zip(pairs, x.shape)):
            limit = d if mode == "SYMMETRIC" else None if d is None else d - 1
            if limit is not None and (b > limit or a > limit):
                raise errors.InvalidArgumentError(
                    f"pad: {mode} paddings must be {'<=' if mode == 'SYMMETRIC' else '<'} the "
                    f"dimension size; axis {i} of the input of shape {tuple(x.shape)} has size "
                    f"{d}, received paddings {[b, a]}", "pad")
    return _pad.bind(x, paddings=pairs, mode=mode, constant_values=_scalar(constant_values, "pad"))


# ------------------------------------------------------------------ sorting and unique

# argsort: the stable sorting permutation along an axis (integer output, no gradient).
_argsort = Primitive("argsort", shape_rule=lambda x, axis, descending:
                     aval(x.shape, dtypes.int32))


def _sort_operand(op, values, axis, direction):
    x = as_operand(op, values)
    if x.dtype.is_bool or x.dtype.is_complex or x.dtype is dtypes.string:
        raise errors.InvalidArgumentError(
            f"{op}: expected a real numeric tensor, received {x.dtype.name}", op)
    if x.shape.rank == 0:
        raise errors.InvalidArgumentError(f"{op}: cannot sort a scalar", op)
    if direction not in ("ASCENDING", "DESCENDING"):
        raise errors.InvalidArgumentError(
            f"{op}: direction must be 'ASCENDING' or 'DESCENDING', received {direction!r}", op)
    return x, normalize_axis(op, axis, x.shape.rank)


def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    """The indices that sort `values` along `axis` (always stable: ties keep their order).

    >>> import tensorflux as tf
    >>> tf.argsort([3, 1, 2, 1]).numpy().tolist()
    [1, 3, 2, 0]
    """
    x, axis = _sort_operand("argsort", values, axis, direction)
    return _argsort.bind(x, axis=axis, descending=direction == "DESCENDING")


def _take_along_axis_vjp(g, x, indices, out, axis):
    if not x.shape.is_fully_defined():
        # Traced with dimensions known only at run time: sort's indices are a permutation
        # along the axis, so the gradient is g taken at the inverse permutation.
        inverse = _argsort.bind(indices, axis=axis, descending=False)
        return _take_along_axis.bind(g, inverse, axis=axis), None
    return _take_along_axis_grad.bind(indices, g, shape=tuple(x.shape), axis=axis), None


# take_along_axis: x at `indices` along one axis (sort's gather, its indices a permutation);
# the VJP scatter-adds.
_take_along_axis = Primitive(
    "take_along_axis", shape_rule=lambda x, indices, axis: aval(indices.shape, x.dtype),
    vjp=_take_along_axis_vjp)
_take_along_axis_grad = Primitive(
    "take_along_axis_grad",
    shape_rule=lambda indices, g, shape, axis: aval(shape, g.dtype),
    vjp=lambda gg, indices, g, out, shape, axis: (
        None, _take_along_axis.bind(gg, indices, axis=axis)))


def sort(values, axis=-1, direction="ASCENDING", name=None):
    """`values` sorted along `axis`.

    >>> import tensorflux as tf
    >>> tf.sort([3.0, 1.0, 2.0], direction="DESCENDING").numpy().tolist()
    [3.0, 2.0, 1.0]
    """
    x, axis = _sort_operand("sort", values, axis, direction)
    order = _argsort.bind(x, axis=axis, descending=direction == "DESCENDING")
    return _take_along_axis.bind(x, order, axis=axis)


def _unique_output():
    from collections import namedtuple

    return namedtuple("Unique", ["y", "idx"])


UniqueOutput = _unique_output()

# unique: distinct values in order of first occurrence, and each entry's position among them.
_unique = Primitive("unique", multiple_results=True, shape_rule=lambda x, out_idx: (
    aval([None], x.dtype), aval(x.shape, out_idx)))


def unique(x, out_idx=dtypes.int32, name=None):
    """The distinct values of a 1-D tensor in order of first occurrence, and for each entry
    the index of its value in that list.

    >>> import tensorflux as tf
    >>> y, idx = tf.unique([1, 1, 2, 4, 4, 4, 7, 8, 8])
    >>> y.numpy().tolist(), idx.numpy().tolist()
    ([1, 2, 4, 7, 8], [0, 0, 1, 2, 2, 2, 3, 4, 4])
    """
    x = as_operand("unique", x)
    if x.shape.rank != 1:
        raise errors.InvalidArgumentError(
            f"unique: expected a 1-D tensor, received shape {tuple(x.shape)}", "unique")
    out_idx = dtypes.as_dtype(out_idx)
    if out_idx not in (dtypes.int32, dtypes.int64):
        raise errors.InvalidArgumentError(
            f"unique: out_idx must be int32 or int64, received {out_idx.name}", "unique")
    return UniqueOutput(*_unique.bind(x, out_idx=out_idx))


def _repeat_at_run_time(x, repeats, axis):
    """tf.repeat inside a tf.function whose repeats are known only at run time (counts
    computed from the inputs): entry i of the axis is taken repeats[i] times, through a
    gather at positions[k] = how many of the running totals of repeats are <= k."""
    from tensorflux.ops.composite import unchecked_segment_sum
    from tensorflux.ops.indexing import gather
    from tensorflux.ops.math import cast
    from tensorflux.ops.reduction import cumsum, reduce_sum

    dim = x.shape[axis]
    if not repeats.dtype.is_integer or repeats.shape.rank not in (0, 1) or (
            repeats.shape.rank == 1 and repeats.shape[0] not in (None, 1)
            and dim is not None and repeats.shape[0] != dim):
        raise errors.InvalidArgumentError(
            f"repeat: repeats must be an integer scalar or vector with one count per entry of "
            f"dimension {axis} (size {dim}) of the input of shape {x.shape}, received "
            f"{repeats.dtype.name} with shape {repeats.shape}", "repeat")
    counts = cast(repeats, dtypes.int32) if repeats.dtype != dtypes.int32 else repeats
    if counts.shape.rank == 0 or counts.shape[0] is None or counts.shape[0] != dim:
        # One count for every entry (a scalar, or a vector of 1 known only at run time).
        size = shape(x, out_type=dtypes.int32)[axis] if dim is None else dim
        counts = broadcast_to(reshape(counts, [-1]), stack([size]) if dim is None else [dim])
    ends = cumsum(counts)
    total = reduce_sum(counts)
    starts = unchecked_segment_sum(ones_like(ends), ends, total)  # ends == total drop out
    return gather(x, cumsum(starts), axis=axis)


def repeat(input, repeats, axis=None, name=None):  # noqa: A002
    """Repeats each element (along `axis`, or of the flattened input) repeats[i] times.

    >>> import tensorflux as tf
    >>> tf.repeat([[1, 2], [3, 4]], [1, 2], axis=0).numpy().tolist()
    [[1, 2], [3, 4], [3, 4]]
    """
    from tensorflux.ops.indexing import gather

    x = as_operand("repeat", input)
    if axis is None:
        x, axis = reshape(x, [-1]), 0
    axis = normalize_axis("repeat", axis, x.shape.rank)
    if isinstance(repeats, _TensorLike):
        from tensorflux.graph.static import get_static_value

        if repeats._value is None and get_static_value(repeats) is None:
            return _repeat_at_run_time(x, repeats, axis)
        repeats = host("repeat", repeats, "repeats").tolist()
    counts = [int(r) for r in repeats] if isinstance(repeats, (list, tuple)) else [int(repeats)]
    dim = x.shape[axis]
    if any(r < 0 for r in counts) or len(counts) not in (1, dim):
        raise errors.InvalidArgumentError(
            f"repeat: repeats must be non-negative and a scalar or one per entry of dimension "
            f"{axis} (size {dim}) of the input of shape {tuple(x.shape)}, received {counts}",
            "repeat")
    if len(counts) == 1 and dim != 1:
        # One count: broadcast along a new axis, then merge it (no gather needed).
        dims = list(x.shape)
        if None in dims:
            # (an unknown size, as a Keras layer's symbolic call has: read when the op runs)
            runtime = shape(x)
            dims = [runtime[i] if d is None else d for i, d in enumerate(dims)]
        wide = broadcast_to(expand_dims(x, axis + 1),
                            dims[:axis + 1] + [counts[0]] + dims[axis + 1:])
        dims[axis] = dims[axis] * counts[0]
        return reshape(wide, dims)
    positions = [i for i, r in enumerate(counts) for _ in builtins.range(r)]
    return gather(x, convert_to_tensor(positions, dtype=dtypes.int32), axis=axis)
