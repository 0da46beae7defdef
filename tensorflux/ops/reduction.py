"""Reductions and scans (tf.reduce_sum, tf.reduce_mean, tf.argmax, tf.cumsum, ...)."""

import collections

from tensorflux import dtypes, errors
from tensorflux.composite_tensor import CompositeTensor
from tensorflux.context import context
from tensorflux.ops import array, math
from tensorflux.ops._core import as_operand, aval, normalize_axes, normalize_axis, unary_rule
from tensorflux.primitive import Primitive, _new_tensor, record_on_tapes
from tensorflux.tensor import Tensor

__all__ = [
    "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_any",
    "reduce_all", "reduce_logsumexp", "reduce_std", "reduce_variance", "argmax", "argmin",
    "cumsum", "cumprod", "top_k", "count_nonzero",
]

_KINDS = {"is_numeric": "a numeric", "is_bool": "a bool", "is_floating": "a floating-point",
          "is_differentiable": "a floating-point or complex", "is_real": "a real-valued"}


def _operand(op, x, allowed):
    """x as a tensor, or InvalidArgumentError naming op when its dtype is not `allowed`."""
    x = as_operand(op, x)
    dtype = x.dtype
    ok = (dtype.is_integer or dtype.is_floating) if allowed == "is_real" else \
        getattr(dtype, allowed)
    if not ok:
        raise errors.InvalidArgumentError(
            f"{op}: expected {_KINDS[allowed]} tensor, received dtype {dtype.name} with shape "
            f"{tuple(x.shape)}", op)
    return x


# tuple(range(rank)) for every rank NumPy supports: the `axis=None` reductions.
_ALL_AXES = [tuple(range(rank)) for rank in range(65)]
# (axis,) for every axis: the one-int-axis reductions, without building a tuple per call.
_ONE_AXIS = [(axis,) for axis in range(64)]


def _fast_reduce(primitive, x, axis, keepdims):
    """The eager fast path (see Primitive.__init__) of reduce_sum or reduce_mean on a plain
    Tensor of a numeric dtype (keepdims a bool): with no axis, one int axis or the sorted
    axes normalize_axes would give, the kernel's result, else None (the ordinary path then
    checks the axes and reports any error)."""
    value = x._value
    if primitive._backend is not context.eager_backend or value.dtype.kind not in "iufc":
        return None
    rank = value.ndim
    if axis is None:
        axes = _ALL_AXES[rank]
    elif axis.__class__ is int and -rank <= axis < rank:
        axes = _ONE_AXIS[axis % rank]
    elif axis.__class__ is tuple or axis.__class__ is list:
        axes = _sorted_axes(axis, rank)
        if axes is None:
            return None
    else:
        return None
    try:
        result = primitive._kernel_fn(value, axes, keepdims)
    except Exception:  # noqa: BLE001 - the ordinary path reports the error
        return None
    out = _new_tensor(Tensor)
    out._value = result
    if context.tapes:  # (as bind records it; see Primitive._fast_result)
        record_on_tapes(primitive, (x,), {"axis": axes, "keepdims": keepdims}, out)
    return out


def _sorted_axes(axis, rank):
    """`axis` as a tuple where it is already what normalize_axes makes of it (ints in
    increasing order in [0, rank), at least one: the backward walker's unbroadcasting sums),
    else None."""
    previous = -1
    for a in axis:
        if a.__class__ is not int or not previous < a < rank:
            return None
        previous = a
    return tuple(axis) if axis else None


def _axes(op, x, axis):
    """The reduced axes as a sorted tuple; a scalar accepts only axis None or []."""
    rank = x.shape.rank
    if rank == 0 and axis is not None and not (isinstance(axis, (list, tuple)) and not axis):
        raise errors.InvalidArgumentError(
            f"{op}: axis {axis!r} is out of range for a tensor of rank 0 (a scalar has no "
            f"axes to reduce)", op)
    return normalize_axes(op, axis, rank)


def _reduce_rule(x, axis, keepdims):
    dims = list(x.shape)
    shape = [1 if i in axis else d for i, d in enumerate(dims)] if keepdims else \
        [d for i, d in enumerate(dims) if i not in axis]
    return aval(shape, x.dtype)


def _bool_reduce_rule(x, axis, keepdims):
    return aval(_reduce_rule(x, axis, keepdims).shape, dtypes.bool)


def _keep_shape(x, axis, shape=None):
    """x's shape with the reduced axes set to 1: where a reduction's cotangent broadcasts."""
    return [1 if i in axis else d for i, d in enumerate(x.shape if shape is None else shape)]


def _kept(t, x, axis, keepdims, shape=None):
    """A reduction's output or cotangent reshaped so that it broadcasts against x (`shape`:
    x.shape, where the caller has it already)."""
    if keepdims:
        return t
    if shape is None:
        shape = x.shape
    if shape.is_fully_defined():
        return array.reshape(t, _keep_shape(x, axis, shape))
    for a in sorted(axis):  # unknown dims (traced): no static shape to reshape to
        t = array.expand_dims(t, a)
    return t


def _count(x, axis, shape=None):
    if shape is None:
        shape = x.shape
    if not all(shape[a] is not None for a in axis):
        # Traced with unknown dims: the count is known only at run time.
        sizes = array.shape(x, out_type=dtypes.int64)
        return math.cast(reduce_prod(array.stack([sizes[a] for a in axis])), x.dtype)
    count = 1
    for a in axis:
        count *= shape[a]
    return count


# ------------------------------------------------------------------ sums and means

def _sum_vjp(g, x, out, axis, keepdims, shape=None):
    if shape is None:
        shape = x.shape
    if (not keepdims and shape.is_fully_defined() and len(axis) == len(shape)
            and g.shape.rank == 0):
        # Every axis summed (a loss): the scalar cotangent broadcasts as it is, the values
        # the reshape to all ones would broadcast.
        return (array.broadcast_to(g, shape),)
    kept = _kept(g, x, axis, keepdims, shape)
    if not shape.is_fully_defined():
        return (array._broadcast_like.bind(kept, x),)
    return (array.broadcast_to(kept, shape),)


# reduce_sum: the sum over `axis`; the cotangent broadcasts back over the reduced axes.
_reduce_sum = Primitive("reduce_sum", vjp=_sum_vjp, shape_rule=_reduce_rule)


def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    """The sum over the given axes (all axes when None).

    >>> import tensorflux as tf
    >>> tf.reduce_sum([[1, 2], [3, 4]], axis=0).numpy().tolist()
    [4, 6]
    """
    if isinstance(input_tensor, CompositeTensor):  # a RaggedTensor (TF dispatches it)
        return input_tensor._dispatch("reduce_sum", axis=axis, keepdims=keepdims)
    x = input_tensor
    if x.__class__ is Tensor and (keepdims is False or keepdims is True):
        out = _fast_reduce(_reduce_sum, x, axis, keepdims)
        if out is not None:
            return out
    x = as_operand("reduce_sum", input_tensor)
    if axis is None and x.__class__ is Tensor and x._value.dtype.kind in "iufc":
        # The most common call, all axes of an eager tensor: no axis normalization needed.
        return _reduce_sum.bind(x, axis=_ALL_AXES[x._value.ndim], keepdims=bool(keepdims))
    if x.dtype.is_bool:
        raise errors.InvalidArgumentError("reduce_sum: bool tensors cannot be summed; cast "
                                          "them first", "reduce_sum")
    x = _operand("reduce_sum", x, "is_numeric")  # strings: TF's dtype error, not a join
    axes = _axes("reduce_sum", x, axis)
    return _reduce_sum.bind(x, axis=axes, keepdims=bool(keepdims))


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """The mean over the given axes; integer tensors give an integer (truncated) mean.

    >>> import tensorflux as tf
    >>> tf.reduce_mean([1.0, 2.0]).numpy()
    np.float32(1.5)
    """
    if isinstance(input_tensor, CompositeTensor):  # a RaggedTensor (TF dispatches it)
        return input_tensor._dispatch("reduce_mean", axis=axis, keepdims=keepdims)
    if input_tensor.__class__ is Tensor and (keepdims is False or keepdims is True):
        out = _fast_reduce(_reduce_mean, input_tensor, axis, keepdims)
        if out is not None:
            return out
    x = _operand("reduce_mean", input_tensor, "is_numeric")
    axes = _axes("reduce_mean", x, axis)
    return _reduce_mean.bind(x, axis=axes, keepdims=bool(keepdims))


def _mean_vjp(g, x, out, axis, keepdims):
    # With a known count, the cotangent is divided by it before it is broadcast as the sum's:
    # each element is g / count rounded once either way, so this gives the bits of dividing
    # after, without a pass over a tensor of x's size (a global average pool's input, a
    # loss's batch). An empty reduction (count 0: x is empty, and no division by zero is
    # made) and a count known only at run time divide after.
    shape = x.shape
    count = _count(x, axis, shape)
    if count.__class__ is int and count > 0:
        return _sum_vjp(g / count, x, out, axis, keepdims, shape)
    (gx,) = _sum_vjp(g, x, out, axis, keepdims, shape)
    return (gx / count,)


# reduce_mean: the mean over `axis`; the cotangent is spread evenly.
_reduce_mean = Primitive("reduce_mean", vjp=_mean_vjp, shape_rule=_reduce_rule)


def reduce_prod(input_tensor, axis=None, keepdims=False, name=None):
    """The product over the given axes (1 for an empty reduction).

    >>> import tensorflux as tf
    >>> tf.reduce_prod([[1.0, 2.0], [3.0, 4.0]], axis=1).numpy().tolist()
    [2.0, 12.0]
    """
    if isinstance(input_tensor, CompositeTensor):  # a RaggedTensor (TF dispatches it)
        return input_tensor._dispatch("reduce_prod", axis=axis, keepdims=keepdims)
    x = _operand("reduce_prod", input_tensor, "is_numeric")
    axes = _axes("reduce_prod", x, axis)
    return _reduce_prod.bind(x, axis=axes, keepdims=bool(keepdims))


def _prod_vjp(g, x, out, axis, keepdims):
    # d out / d x_i is the product of the other entries. As TensorFlow does, it is built from
    # exclusive cumulative products from both ends, never out / x_i, so zeros are exact.
    from tensorflux.ops import linalg

    g = _kept(g, x, axis, keepdims)
    if not axis:
        return (g,)
    rank = x.shape.rank
    kept = [i for i in range(rank) if i not in axis]
    perm = kept + list(axis)
    moved = linalg.transpose(x, perm)
    if moved.shape.is_fully_defined():
        flat = array.reshape(moved, [x.shape[i] for i in kept] + [_count(x, axis)])
        moved_shape = [x.shape[i] for i in perm]
    else:  # traced with dimensions known only at run time
        moved_shape = array.shape(moved)
        flat = array.reshape(moved, array.concat([moved_shape[:len(kept)], [-1]], 0))
    others = (cumprod(flat, axis=-1, exclusive=True)
              * cumprod(flat, axis=-1, exclusive=True, reverse=True))
    others = array.reshape(others, moved_shape)
    inverse = [perm.index(i) for i in range(rank)]
    return (g * math.conj(linalg.transpose(others, inverse)),)


# reduce_prod: the product over `axis`.
_reduce_prod = Primitive("reduce_prod", vjp=_prod_vjp, shape_rule=_reduce_rule)


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """The (biased) variance over the given axes; real for complex inputs.

    >>> import tensorflux as tf
    >>> tf.math.reduce_variance([1.0, 2.0, 3.0, 4.0]).numpy().tolist()
    1.25
    """
    x = _operand("reduce_variance", input_tensor, "is_differentiable")
    axes = _axes("reduce_variance", x, axis)
    deviations = x - reduce_mean(x, axes, keepdims=True)
    if x.dtype.is_complex:
        deviations = math.abs(deviations)
    return reduce_mean(math.square(deviations), axes, keepdims=keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    """The (biased) standard deviation over the given axes.

    >>> import tensorflux as tf
    >>> tf.math.reduce_std([1.0, 3.0]).numpy().tolist()
    1.0
    """
    x = _operand("reduce_std", input_tensor, "is_differentiable")
    axes = _axes("reduce_std", x, axis)
    return math.sqrt(reduce_variance(x, axes, keepdims=keepdims))


def _logsumexp_vjp(g, x, out, axis, keepdims):
    g, out = _kept(g, x, axis, keepdims), _kept(out, x, axis, keepdims)
    return (g * math.exp(x - out),)


# reduce_logsumexp: log(sum(exp(x))). A primitive so that the kernel can shift by the maximum
# in one pass (no overflow for large x, no log(0) when every term underflows); the gradient
# is softmax(x) = exp(x - out).
_reduce_logsumexp = Primitive("reduce_logsumexp", vjp=_logsumexp_vjp, shape_rule=_reduce_rule)


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None):
    """log(sum(exp(x))) over the given axes, computed without overflow (-inf when empty).

    >>> import tensorflux as tf
    >>> round(float(tf.reduce_logsumexp(tf.constant([1000.0, 1000.0], tf.float64))), 4)
    1000.6931
    """
    x = _operand("reduce_logsumexp", input_tensor, "is_floating")
    axes = _axes("reduce_logsumexp", x, axis)
    return _reduce_logsumexp.bind(x, axis=axes, keepdims=bool(keepdims))


# ------------------------------------------------------------------ extremes and logic

def _extremum_vjp(g, x, out, axis, keepdims):
    # As TensorFlow: the cotangent is split evenly among the entries equal to the extremum.
    g, out = _kept(g, x, axis, keepdims), _kept(out, x, axis, keepdims)
    chosen = math.cast(math.equal(x, out), x.dtype)
    count = reduce_sum(chosen, axis, keepdims=True)
    return (chosen * (g / count),)


# reduce_max / reduce_min: the extremum over `axis` (-inf / +inf, or the dtype's limit for
# integers, over an empty axis).
_reduce_max = Primitive("reduce_max", vjp=_extremum_vjp, shape_rule=_reduce_rule)
_reduce_min = Primitive("reduce_min", vjp=_extremum_vjp, shape_rule=_reduce_rule)


def reduce_max(input_tensor, axis=None, keepdims=False, name=None):
    """The maximum over the given axes; -inf for floats over an empty axis.

    >>> import tensorflux as tf
    >>> tf.reduce_max([[1, 5], [3, 4]], axis=1).numpy().tolist()
    [5, 4]
    """
    if isinstance(input_tensor, CompositeTensor):  # a RaggedTensor (TF dispatches it)
        return input_tensor._dispatch("reduce_max", axis=axis, keepdims=keepdims)
    x = _operand("reduce_max", input_tensor, "is_real")
    axes = _axes("reduce_max", x, axis)
    return _reduce_max.bind(x, axis=axes, keepdims=bool(keepdims))


def reduce_min(input_tensor, axis=None, keepdims=False, name=None):
    """The minimum over the given axes; +inf for floats over an empty axis.

    >>> import tensorflux as tf
    >>> tf.reduce_min([[1, 5], [3, 4]], axis=0).numpy().tolist()
    [1, 4]
    """
    if isinstance(input_tensor, CompositeTensor):  # a RaggedTensor (TF dispatches it)
        return input_tensor._dispatch("reduce_min", axis=axis, keepdims=keepdims)
    x = _operand("reduce_min", input_tensor, "is_real")
    axes = _axes("reduce_min", x, axis)
    return _reduce_min.bind(x, axis=axes, keepdims=bool(keepdims))


# reduce_any / reduce_all: logical or / and over `axis` (False / True over an empty axis).
_reduce_any = Primitive("reduce_any", shape_rule=_bool_reduce_rule)
_reduce_all = Primitive("reduce_all", shape_rule=_bool_reduce_rule)


def reduce_any(input_tensor, axis=None, keepdims=False, name=None):
    """Logical or over the given axes of a bool tensor.

    >>> import tensorflux as tf
    >>> tf.reduce_any([[True, False], [False, False]], axis=1).numpy().tolist()
    [True, False]
    """
    if isinstance(input_tensor, CompositeTensor):  # a RaggedTensor (TF dispatches it)
        return input_tensor._dispatch("reduce_any", axis=axis, keepdims=keepdims)
    x = _operand("reduce_any", input_tensor, "is_bool")
    axes = _axes("reduce_any", x, axis)
    return _reduce_any.bind(x, axis=axes, keepdims=bool(keepdims))


def reduce_all(input_tensor, axis=None, keepdims=False, name=None):
    """Logical and over the given axes of a bool tensor.

    >>> import tensorflux as tf
    >>> tf.reduce_all([[True, False], [True, True]], axis=1).numpy().tolist()
    [False, True]
    """
    if isinstance(input_tensor, CompositeTensor):  # a RaggedTensor (TF dispatches it)
        return input_tensor._dispatch("reduce_all", axis=axis, keepdims=keepdims)
    x = _operand("reduce_all", input_tensor, "is_bool")
    axes = _axes("reduce_all", x, axis)
    return _reduce_all.bind(x, axis=axes, keepdims=bool(keepdims))


def count_nonzero(input, axis=None, keepdims=None, dtype=dtypes.int64, name=None):  # noqa: A002
    """The number of non-zero (True, non-empty string) entries over the given axes, as `dtype`
    (int64).

    >>> import tensorflux as tf
    >>> tf.math.count_nonzero([[0.0, 1.0], [2.0, 3.0]], axis=1).numpy().tolist()
    [1, 2]
    """
    x = as_operand("count_nonzero", input)
    if not (x.dtype.is_numeric or x.dtype.is_bool or x.dtype == dtypes.string):
        raise errors.InvalidArgumentError(
            f"count_nonzero: expected a numeric, bool or string tensor, received dtype "
            f"{x.dtype.name}", "count_nonzero")
    axes = _axes("count_nonzero", x, axis)
    zero = as_operand("count_nonzero", "") if x.dtype == dtypes.string else array.zeros_like(x)
    nonzero = math.cast(math.not_equal(x, zero), dtypes.as_dtype(dtype))
    return reduce_sum(nonzero, axes, keepdims=bool(keepdims))


# ------------------------------------------------------------------ arg extremes

def _arg_rule(x, axis, output_type):
    return aval([d for i, d in enumerate(x.shape) if i != axis], output_type)


# argmax / argmin: the index of the first extremum along `axis`; integer, so no gradient.
_argmax = Primitive("argmax", vjp=lambda g, x, out, axis, output_type: (None,),
                    shape_rule=_arg_rule)
_argmin = Primitive("argmin", vjp=lambda g, x, out, axis, output_type: (None,),
                    shape_rule=_arg_rule)


def _arg_extremum(op, primitive, input, axis, output_type):  # noqa: A002
    x = as_operand(op, input)
    if x.dtype.is_bool:  # as TensorFlow: False < True
        x = math.cast(x, dtypes.uint8)
    elif not (x.dtype.is_integer or x.dtype.is_floating):
        _operand(op, x, "is_real")  # raises, naming the dtype
    if x.shape.rank == 0:
        raise errors.InvalidArgumentError(f"{op}: expected a tensor of rank >= 1, received a "
                                          f"scalar", op)
    axis = normalize_axis(op, 0 if axis is None else axis, x.shape.rank)
    output_type = dtypes.as_dtype(output_type)
    if output_type not in (dtypes.int32, dtypes.int64):
        raise errors.InvalidArgumentError(
            f"{op}: output_type must be int32 or int64, received {output_type.name}", op)
    if x.shape[axis] == 0:
        raise errors.InvalidArgumentError(
            f"{op}: reduction axis {axis} is empty in shape {tuple(x.shape)}", op)
    if x.dtype.is_floating:
        # TensorFlow skips NaN entries (index 0 when all are NaN): they become the value
        # that never wins (eagerly, only when there are some: for a plain tensor one backend
        # check of its buffer says whether there are, where is_nan + reduce_any took three
        # ops).
        value = x._value if x.__class__ is Tensor else None
        if context.graph is not None or value is None or \
                math._backend_of(value).any_nan(value):
            nan = math.is_nan(x)
            if context.graph is not None or bool(reduce_any(nan)):
                losing = float("-inf") if primitive is _argmax else float("inf")
                x = math.where(nan, as_operand(op, losing, x.dtype), x)
    return primitive.bind(x, axis=axis, output_type=output_type)


def argmax(input, axis=None, output_type=dtypes.int64, name=None):  # noqa: A002
    """The index of the largest entry along `axis` (0 when None); the first one on ties.

    >>> import tensorflux as tf
    >>> tf.argmax([[1.0, 9.0], [5.0, 2.0]], axis=1).numpy().tolist()
    [1, 0]
    """
    return _arg_extremum("argmax", _argmax, input, axis, output_type)


def argmin(input, axis=None, output_type=dtypes.int64, name=None):  # noqa: A002
    """The index of the smallest entry along `axis` (0 when None); the first one on ties.

    >>> import tensorflux as tf
    >>> tf.argmin([[1.0, 9.0], [5.0, 2.0]]).numpy().tolist()
    [0, 1]
    """
    return _arg_extremum("argmin", _argmin, input, axis, output_type)


# ------------------------------------------------------------------ scans

def _cumsum_vjp(g, x, out, axis, exclusive, reverse):
    return (_cumsum.bind(g, axis=axis, exclusive=exclusive, reverse=not reverse),)


def _cumprod_vjp(g, x, out, axis, exclusive, reverse):
    # TensorFlow's rule: sum over later outputs of g * out, divided by x (zero where x is 0,
    # where this rule, like TensorFlow's, is not the true derivative).
    total = _cumsum.bind(out * g, axis=axis, exclusive=exclusive, reverse=not reverse)
    return (math.divide_no_nan(total, math.conj(x)),)


# cumsum / cumprod: running sums / products along `axis`; `exclusive` shifts by one (0 / 1
# first), `reverse` runs from the end.
_cumsum = Primitive("cumsum", vjp=_cumsum_vjp, shape_rule=unary_rule)
_cumprod = Primitive("cumprod", vjp=_cumprod_vjp, shape_rule=unary_rule)


def _scan(op, primitive, x, axis, exclusive, reverse):
    x = _operand(op, x, "is_numeric")
    if x.shape.rank == 0:
        raise errors.InvalidArgumentError(f"{op}: expected a tensor of rank >= 1, received a "
                                          f"scalar", op)
    axis = normalize_axis(op, axis, x.shape.rank)
    return primitive.bind(x, axis=axis, exclusive=bool(exclusive), reverse=bool(reverse))


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    """The cumulative sum along `axis`.

    >>> import tensorflux as tf
    >>> tf.cumsum([1, 2, 3], exclusive=True).numpy().tolist()
    [0, 1, 3]
    """
    return _scan("cumsum", _cumsum, x, axis, exclusive, reverse)


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    """The cumulative product along `axis`.

    >>> import tensorflux as tf
    >>> tf.math.cumprod([1, 2, 3], reverse=True).numpy().tolist()
    [6, 6, 3]
    """
    return _scan("cumprod", _cumprod, x, axis, exclusive, reverse)


# ------------------------------------------------------------------ top_k

def _top_k_rule(x, k, sorted, index_type):  # noqa: A002
    shape = list(x.shape)[:-1] + [k]
    return aval(shape, x.dtype), aval(shape, index_type)


def _top_k_vjp(g, x, out, k, sorted, index_type):  # noqa: A002
    # Scatters each value's cotangent back to its index: one_hot(indices) weighted by g,
    # summed over the k picks.
    g_values = g[0]
    n = x.shape[-1]
    picks = array.one_hot(out[1], n, dtype=x.dtype)
    weights = array.expand_dims(g_values, -1)
    return (reduce_sum(picks * weights, axis=-2),)


# top_k: the k largest entries of the last axis, largest first (lower index first on ties),
# and their indices.
_top_k = Primitive("top_k", vjp=_top_k_vjp, shape_rule=_top_k_rule, multiple_results=True)


def top_k(input, k=1, sorted=True, index_type=dtypes.int32, name=None):  # noqa: A002
    """The k largest entries along the last axis and their indices, as (values, indices).

    >>> import tensorflux as tf
    >>> values, indices = tf.math.top_k([1.0, 3.0, 2.0], k=2)
    >>> values.numpy().tolist(), indices.numpy().tolist()
    ([3.0, 2.0], [1, 2])
    """
    x = _operand("top_k", input, "is_real")
    if x.shape.rank == 0:
        raise errors.InvalidArgumentError("top_k: expected a tensor of rank >= 1, received a "
                                          "scalar", "top_k")
    try:
        k = int(k)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"top_k: k must be an int, received {k!r}",
                                          "top_k") from error
    last = x.shape[-1]
    if k < 0 or (last is not None and k > last):
        raise errors.InvalidArgumentError(
            f"top_k: k must be in [0, {last}] (the size of the last dimension), received "
            f"k={k} for shape {tuple(x.shape)}", "top_k")
    index_type = dtypes.as_dtype(index_type)
    if index_type not in (dtypes.int32, dtypes.int64):
        raise errors.InvalidArgumentError(
            f"top_k: index_type must be int32 or int64, received {index_type.name}", "top_k")
    return TopKV2(*_top_k.bind(x, k=k, sorted=bool(sorted), index_type=index_type))


# What tf.math.top_k returns: a namedtuple, so `.values`/`.indices` and unpacking both work.
TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])
