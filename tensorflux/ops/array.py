"""Creation, shape and indexing ops (tf.zeros, tf.reshape, tf.stack, tensor[...], ...)."""

from tensorflux import dtypes, errors
from tensorflux.ops._core import as_operand, aval, unary_rule
from tensorflux.primitive import Primitive
from tensorflux.tensor import Tensor, TensorShape, _TensorLike, convert_to_tensor
from tensorflux.variable import Variable

__all__ = [
    "zeros", "ones", "fill", "zeros_like", "ones_like", "identity", "stop_gradient",
    "reshape", "stack", "unstack", "one_hot", "shape", "rank", "size", "broadcast_to",
]


def _shape_list(op, shape):
    """A shape argument (list, tuple, TensorShape or 1-D int tensor) as a list of ints."""
    if isinstance(shape, _TensorLike):
        shape = shape.numpy().tolist()
        shape = [shape] if isinstance(shape, int) else shape
    elif isinstance(shape, TensorShape):
        shape = shape.as_list()
    elif isinstance(shape, int):
        shape = [shape]
    try:
        dims = [int(d) for d in shape]
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"{op}: shape must be a list of ints, received {shape!r}", op) from error
    return dims


# ------------------------------------------------------------------ creation

# fill: a new tensor of `shape` filled with a scalar; no inputs, so no gradient.
_fill = Primitive("fill", shape_rule=lambda shape, value, dtype: aval(shape, dtype))


def fill(dims, value, name=None):
    """A tensor of shape `dims` filled with the scalar `value`.

    >>> import tensorflux as tf
    >>> tf.fill([2], 7).numpy().tolist()
    [7, 7]
    """
    value = as_operand("fill", value)
    if value.shape.rank != 0:
        raise errors.InvalidArgumentError(
            f"fill: value must be a scalar, received shape {tuple(value.shape)}", "fill")
    dims = _shape_list("fill", dims)
    if any(d < 0 for d in dims):
        raise errors.InvalidArgumentError(f"fill: dims must be non-negative, received {dims}",
                                          "fill")
    return _fill.bind(shape=tuple(dims), value=value.numpy().item(), dtype=value.dtype)


def zeros(shape, dtype=dtypes.float32, name=None):
    """A tensor of zeros.

    >>> import tensorflux as tf
    >>> tf.zeros([2, 1]).numpy().tolist()
    [[0.0], [0.0]]
    """
    dtype = dtypes.as_dtype(dtype)
    return _fill.bind(shape=tuple(_shape_list("zeros", shape)), value=0, dtype=dtype)


def ones(shape, dtype=dtypes.float32, name=None):
    """A tensor of ones.

    >>> import tensorflux as tf
    >>> tf.ones([2], tf.int32).numpy().tolist()
    [1, 1]
    """
    dtype = dtypes.as_dtype(dtype)
    return _fill.bind(shape=tuple(_shape_list("ones", shape)), value=1, dtype=dtype)


def zeros_like(input, dtype=None, name=None):  # noqa: A002 - TensorFlow's argument name
    """Zeros with the shape (and by default the dtype) of `input`.

    >>> import tensorflux as tf
    >>> tf.zeros_like([1.0, 2.0]).numpy().tolist()
    [0.0, 0.0]
    """
    x = as_operand("zeros_like", input)
    return _fill_like.bind(x, value=0, dtype=dtypes.as_dtype(dtype or x.dtype))


def ones_like(input, dtype=None, name=None):  # noqa: A002
    """Ones with the shape (and by default the dtype) of `input`.

    >>> import tensorflux as tf
    >>> tf.ones_like([[1, 2]]).numpy().tolist()
    [[1, 1]]
    """
    x = as_operand("ones_like", input)
    return _fill_like.bind(x, value=1, dtype=dtypes.as_dtype(dtype or x.dtype))


# fill_like: a constant with another tensor's (possibly dynamic) shape; no gradient flows.
_fill_like = Primitive("fill_like", vjp=lambda g, x, out, value, dtype: (None,),
                       shape_rule=lambda x, value, dtype: aval(x.shape, dtype))


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
                           shape_rule=unary_rule, kernel="alias")


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
_assign = Primitive("assign", shape_rule=_assign_rule, multiple_results=True)


def assign_op(variable, kind, value):
    """Runs one of Variable.assign / assign_add / assign_sub after checking shape and dtype."""
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
                     vjp=lambda g, x, out, shape: (reshape(g, x.shape),))


def reshape(tensor, shape, name=None):
    """The same elements in a new shape; one dimension may be -1 (inferred).

    >>> import tensorflux as tf
    >>> tf.reshape(tf.range(6), [2, -1]).shape
    TensorShape([2, 3])
    """
    x = as_operand("reshape", tensor)
    dims = _shape_list("reshape", shape)
    size = 1
    for d in tuple(x.shape):
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
            if known == 0 or size % known:
                raise errors.InvalidArgumentError(
                    f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} ({size} "
                    f"elements) into shape {dims}", "reshape")
            dims[unknown[0]] = size // known
        elif known != size:
            raise errors.InvalidArgumentError(
                f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} ({size} elements) "
                f"into shape {dims} ({known} elements)", "reshape")
    if tuple(dims) == tuple(x.shape) and not isinstance(x, Variable):
        return x
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
    first = as_operand("stack", values[0])
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
    return tuple(aval(shape, x.dtype) for _ in range(num))


# unstack: splits along an axis into rank-(R-1) tensors; the cotangents are re-stacked.
_unstack = Primitive("unstack", shape_rule=_unstack_rule, multiple_results=True,
                     vjp=lambda g, x, out, num, axis: (_stack.bind(*g, axis=axis),))


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
    if dtype is None:
        dtype = (on_value.dtype if isinstance(on_value, _TensorLike) else
                 off_value.dtype if isinstance(off_value, _TensorLike) else dtypes.float32)
    dtype = dtypes.as_dtype(dtype)
    rank = indices.shape.rank
    axis = -1 if axis is None else int(axis)
    if not -1 <= axis <= rank:
        raise errors.InvalidArgumentError(
            f"one_hot: axis must be -1 or in [0, {rank}], received {axis}", "one_hot")
    depth = int(depth)
    if depth < 0:
        raise errors.InvalidArgumentError(f"one_hot: depth must be >= 0, received {depth}",
                                          "one_hot")
    on = 1 if on_value is None else _scalar(on_value)
    off = 0 if off_value is None else _scalar(off_value)
    return _one_hot.bind(indices, depth=depth, on_value=on, off_value=off, axis=axis,
                         dtype=dtype)


def _scalar(value):
    if isinstance(value, _TensorLike):
        value = value.numpy()
    return value.item() if hasattr(value, "item") else value


def shape(input, out_type=dtypes.int32, name=None):  # noqa: A002
    """The shape of a tensor as a 1-D int32 tensor.

    >>> import tensorflux as tf
    >>> tf.shape(tf.zeros([2, 3])).numpy().tolist()
    [2, 3]
    """
    x = as_operand("shape", input)
    return convert_to_tensor(list(x.shape), dtype=out_type)


def rank(input, name=None):  # noqa: A002
    """The number of dimensions, as a scalar int32 tensor.

    >>> import tensorflux as tf
    >>> int(tf.rank(tf.zeros([2, 3])))
    2
    """
    x = as_operand("rank", input)
    return convert_to_tensor(x.shape.rank, dtype=dtypes.int32)


def size(input, out_type=dtypes.int32, name=None):  # noqa: A002
    """The number of elements, as a scalar tensor.

    >>> import tensorflux as tf
    >>> int(tf.size(tf.zeros([2, 3])))
    6
    """
    x = as_operand("size", input)
    return convert_to_tensor(x.shape.num_elements(), dtype=out_type)


def getitem(tensor, key):
    """tensor[key]: ints, slices (negative steps too), Ellipsis, newaxis, bool masks and
    integer index tensors, as NumPy and TensorFlow index."""
    from tensorflux.ops import indexing

    return indexing.getitem(tensor, key)


def sum_to_dynamic_shape(grad, like):
    """Graph-mode unbroadcasting when static shapes are unknown (see graph issue)."""
    raise errors.UnimplementedError("Unbroadcasting with unknown dimensions needs tracing "
                                    "support", "sum_to_dynamic_shape")


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
                          vjp=lambda g, x, out, shape: (g,))


def broadcast_to(input, shape, name=None):  # noqa: A002
    """Broadcasts `input` to `shape` with NumPy's rules.

    >>> import tensorflux as tf
    >>> tf.broadcast_to([1, 2], [2, 2]).numpy().tolist()
    [[1, 2], [1, 2]]
    """
    x = as_operand("broadcast_to", input)
    dims = _shape_list("broadcast_to", shape)
    if tuple(dims) == tuple(x.shape):
        return x
    return _broadcast_to.bind(x, shape=tuple(dims))
