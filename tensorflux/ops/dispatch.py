"""TensorFlow's dispatch of elementwise ops to RaggedTensors (and of the ops that keep
zeros zero to SparseTensors), for the public names.

TF lets `tf.not_equal(rt[:, 1:], rt[:, :-1])`, `tf.abs(rt)` or `tf.where(rt > 0, rt, 0)` take
RaggedTensors (the ragged-tensors and unicode guides rely on it): the op runs on the flat
values and the result keeps the rows. The op modules stay free of that check, so that the
Tensor operators (`x + y` calls ops.math.add) pay nothing for it; only the names the `tf` and
`tf.math` namespaces export are wrapped, and a wrapper costs one isinstance per argument.
This module imports no composite code: a RaggedTensor reaching a wrapper means tf.ragged has
been imported already.
"""

import functools

from tensorflux.composite_tensor import CompositeTensor

__all__ = ["UNARY", "BINARY", "COMPOSITE", "dispatching"]

# Ops on one tensor (plus non-tensor arguments): fn(rt.flat_values, ...) in rt's rows.
UNARY = frozenset((
    "abs", "acos", "acosh", "angle", "asin", "asinh", "atan", "atanh", "ceil", "clip_by_value",
    "conj", "cos", "cosh", "digamma", "erf", "erfc", "erfinv", "exp", "expm1", "floor",
    "imag", "is_finite", "is_inf", "is_nan", "lgamma", "log", "log1p", "log_sigmoid",
    "logical_not", "negative", "ndtri", "ones_like", "real", "reciprocal",
    # tf.identity, tf.nn's activations and dropout, tf.bitwise.invert (TF dispatches them)
    "identity", "relu", "relu6", "elu", "selu", "gelu", "leaky_relu", "silu", "swish",
    "dropout", "invert",
    "reciprocal_no_nan", "rint", "round", "rsqrt", "saturate_cast", "sigmoid", "sign", "sin",
    "sinh", "softplus", "softsign", "sqrt", "square", "tan", "tanh", "zeros_like",
))
# Elementwise ops on two tensors (one may be dense or a Python value, broadcast to the rows).
BINARY = frozenset((
    "add", "atan2", "divide", "divide_no_nan", "equal", "floordiv", "floormod", "greater",
    "greater_equal", "less", "less_equal", "logical_and", "logical_or", "logical_xor",
    "maximum", "minimum", "mod", "multiply", "multiply_no_nan", "not_equal", "pow",
    "squared_difference", "subtract", "truediv", "xdivy", "xlog1py", "xlogy",
    "bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift",
))
# Ops whose composite handling is a handler in the composite's _DISPATCH table (the ragged
# ones live in tensorflux/ragged/array_ops.py, DynamicRaggedShape's next to it): the
# wrapper looks for a composite among the arguments (a list's items included) and runs its
# handler for the op, if it has one; otherwise, and for dense arguments, the op itself.
COMPOSITE = frozenset((
    "add_n", "bincount", "broadcast_to", "cumsum", "dynamic_partition", "embedding_lookup",
    "fill", "gather_nd", "moments", "ones", "reduce_logsumexp", "reduce_std",
    "reduce_variance", "reshape", "reverse", "shape", "softmax", "split", "squeeze",
    "unsorted_segment_max", "unsorted_segment_mean", "unsorted_segment_min",
    "unsorted_segment_prod", "unsorted_segment_sqrt_n", "unsorted_segment_sum", "zeros",
))

_WRAPPERS = {}


def _ragged(x):
    return isinstance(x, CompositeTensor) and hasattr(x, "with_flat_values")


def _unary(op, fn):
    def composite(x, *args, **kwargs):
        kwargs.pop("name", None)
        if _ragged(x):
            return x.with_flat_values(fn(x.flat_values, *args, **kwargs))
        if op in x._DISPATCH and not args and not kwargs:
            # A SparseTensor takes the ops that keep zeros zero (tf.abs, tf.sqrt...).
            return x._DISPATCH[op](x, x)
        return fn(x, *args, **kwargs)

    if _takes(fn, ("x", "name")):  # the common form: no packing of extra arguments
        @functools.wraps(fn)
        def dispatching(x, name=None):
            if isinstance(x, CompositeTensor):
                return composite(x)
            return fn(x)
        return dispatching

    names = _leading(fn, 1)

    @functools.wraps(fn)
    def dispatching(*args, **kwargs):
        # The tensor may come by its own name (tf.zeros_like(input=rt)), as TF's accepts.
        args = _positional(args, kwargs, names)
        if args and isinstance(args[0], CompositeTensor):
            return composite(*args, **kwargs)
        return fn(*args, **kwargs)
    return dispatching


def _binary(op, fn):
    def composite(x, y, *args, **kwargs):
        from tensorflux.ragged.ops import elementwise

        kwargs.pop("name", None)
        return elementwise(op, lambda a, b: fn(a, b, *args, **kwargs), x, y)

    if _takes(fn, ("x", "y", "name")):  # the common form: no packing of extra arguments
        @functools.wraps(fn)
        def dispatching(x, y, name=None):
            if (isinstance(x, CompositeTensor) or isinstance(y, CompositeTensor)) and (
                    _ragged(x) or _ragged(y)):
                return composite(x, y)
            return fn(x, y)
        return dispatching

    names = _leading(fn, 2)

    @functools.wraps(fn)
    def dispatching(*args, **kwargs):
        # By fn's own names: tf.atan2(y=a, x=b) is atan2(a, b), not the reverse.
        args = _positional(args, kwargs, names)
        if len(args) >= 2 and (_ragged(args[0]) or _ragged(args[1])):
            return composite(*args, **kwargs)
        return fn(*args, **kwargs)
    return dispatching


def _leading(fn, count):
    """The names of fn's first `count` parameters (through functools.wraps layers)."""
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn.__code__.co_varnames[:count]


def _positional(args, kwargs, names):
    """args extended by the leading tensor arguments given by name (popped from kwargs), so
    that the wrapper sees them where fn's signature puts them."""
    if len(args) >= len(names) or not kwargs:
        return args
    extra = []
    for name in names[len(args):]:
        if name not in kwargs:
            break
        extra.append(kwargs.pop(name))
    return args + tuple(extra) if extra else args


def _takes(fn, names):
    """Whether fn's parameters are exactly `names` (the last, `name`, defaulting to None)."""
    code = getattr(fn, "__code__", None)
    return (code is not None and code.co_varnames[:code.co_argcount] == names
            and not code.co_kwonlyargcount and not code.co_flags & 0x0C)  # no *args/**kw


def _where(fn):
    @functools.wraps(fn)
    def dispatching(condition, x=None, y=None, name=None):
        if _ragged(condition) and x is not None and y is not None:
            return _ragged_where(fn, condition, x, y)
        if _ragged(condition) and x is None and y is None:  # the True entries' coordinates
            return condition._dispatch("where", condition)
        return fn(condition, x, y, name=name)
    return dispatching


def _ragged_where(fn, condition, x, y):
    """tf.where with a ragged condition: x and y are RaggedTensors of its rows, or values
    that broadcast to them (a Python scalar takes the other branch's dtype)."""
    from tensorflux.ops.array import broadcast_to, shape
    from tensorflux.ragged.ops import elementwise
    from tensorflux.tensor import convert_to_tensor

    hint = next((v.dtype for v in (x, y) if hasattr(v, "dtype")), None)

    def flat(value):
        if _ragged(value):
            return elementwise("where", lambda c, v: v, condition, value).flat_values
        value = convert_to_tensor(value, dtype_hint=hint)
        if value.shape.rank == 0:
            return value
        return elementwise("where", lambda c, v: broadcast_to(v, shape(c)), condition,
                           value).flat_values

    return condition.with_flat_values(fn(condition.flat_values, flat(x), flat(y)))


def _gather(fn):
    @functools.wraps(fn)
    def dispatching(params, indices, validate_indices=None, axis=None, batch_dims=0,
                    name=None):
        if _ragged(params) or _ragged(indices):
            found = params if _ragged(params) else indices
            return found._dispatch("gather", params, indices, validate_indices, axis,
                                   batch_dims)
        return fn(params, indices, validate_indices, axis, batch_dims, name)
    return dispatching


def _stack(fn):
    @functools.wraps(fn)
    def dispatching(values, axis=0, name="stack"):
        if not isinstance(values, CompositeTensor) and any(_ragged(v) for v in values):
            from tensorflux.ragged.ops import stack

            return stack(values, axis)
        return fn(values, axis, name)
    return dispatching


def _size(fn):
    @functools.wraps(fn)
    def dispatching(input, out_type=None, name=None):  # noqa: A002 - TF's argument name
        # Every element of a RaggedTensor lives in its flat values.
        value = input.flat_values if _ragged(input) else input
        return fn(value, name=name) if out_type is None else fn(value, out_type, name)
    return dispatching


def _expand_dims(fn):
    @functools.wraps(fn)
    def dispatching(input, axis, name=None):  # noqa: A002 - TF's argument name
        if _ragged(input):
            return input._dispatch("expand_dims", input, axis)
        return fn(input, axis, name)
    return dispatching


def _tile(fn):
    @functools.wraps(fn)
    def dispatching(input, multiples, name=None):  # noqa: A002 - TF's argument name
        if _ragged(input):
            from tensorflux.ragged.ops import tile

            return tile(input, multiples)
        return fn(input, multiples, name)
    return dispatching


def _rank(fn):
    @functools.wraps(fn)
    def dispatching(input, name=None):  # noqa: A002 - TF's argument name
        if _ragged(input):  # (a RaggedTensor's rank is always static)
            from tensorflux.tensor import constant

            return constant(input.shape.rank)
        return fn(input, name)
    return dispatching


def _one_hot(fn):
    @functools.wraps(fn)
    def dispatching(indices, depth, on_value=None, off_value=None, axis=None, dtype=None,
                    name=None):
        if _ragged(indices):
            return _ragged_one_hot(fn, indices, depth, on_value, off_value, axis, dtype)
        return fn(indices, depth, on_value, off_value, axis, dtype, name)
    return dispatching


def _ragged_one_hot(fn, rt, depth, on_value, off_value, axis, dtype):
    """One-hot vectors of a RaggedTensor's flat values, in its rows: the new axis must come
    after the ragged dimensions (the default, last, does)."""
    from tensorflux import errors

    if axis is not None and axis != -1:
        if axis <= rt.ragged_rank:
            raise errors.InvalidArgumentError(
                f"one_hot: axis {axis} of a RaggedTensor with ragged_rank {rt.ragged_rank} "
                f"must be -1 or greater than its ragged_rank", "one_hot")
        axis -= rt.ragged_rank
    return rt.with_flat_values(fn(rt.flat_values, depth, on_value, off_value, axis, dtype))


_SPECIAL = {"where": _where, "gather": _gather, "stack": _stack, "size": _size,
            "expand_dims": _expand_dims, "tile": _tile, "rank": _rank, "one_hot": _one_hot}


_SEQUENCES = (list, tuple)


def _first_composite(values):
    """The first composite among `values`, or inside a list or tuple among them."""
    for value in values:
        if isinstance(value, CompositeTensor):
            return value
        if isinstance(value, _SEQUENCES):
            for item in value:
                if isinstance(item, CompositeTensor):
                    return item
    return None


def _composite(op, fn):
    # (a dense call pays the wrapper and one isinstance per argument, about 0.25 us; only
    # add_n's list is searched for composites)
    lists = op == "add_n"

    @functools.wraps(fn)
    def dispatching(*args, **kwargs):
        for value in args:
            if isinstance(value, CompositeTensor) or lists:
                break
        else:
            if not kwargs:
                return fn(*args)
        found = _first_composite(args)
        if found is None and kwargs:
            found = _first_composite(kwargs.values())
        if found is not None:
            handler = found._DISPATCH.get(op)
            if handler is not None:
                return handler(found, *args, **kwargs)
        return fn(*args, **kwargs)
    return dispatching


def dispatching(name, fn):
    """`fn` (the op exported as `name`), taking RaggedTensors as TensorFlow's dispatch does;
    one wrapper per function, so that tf.add stays tf.math.add."""
    wrapper = _WRAPPERS.get(id(fn))
    if wrapper is None:
        if name in _SPECIAL:
            wrapper = _SPECIAL[name](fn)
        elif name in BINARY:
            wrapper = _binary(name, fn)
        elif name in UNARY:
            wrapper = _unary(name, fn)
        elif name in COMPOSITE:
            wrapper = _composite(name, fn)
        else:
            return fn
        _WRAPPERS[id(fn)] = wrapper
    return wrapper


def install(namespace):
    """Replaces the elementwise ops in a module's namespace dict by their dispatching
    wrappers (called at the end of tensorflux/__init__.py and tensorflux/math.py)."""
    for name in UNARY | BINARY | COMPOSITE | set(_SPECIAL):
        fn = namespace.get(name)
        if callable(fn):
            namespace[name] = dispatching(name, fn)
