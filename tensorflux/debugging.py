"""tf.debugging: assertions that raise InvalidArgumentError with TF's messages, eagerly at once
and, inside a tf.function, each time the graph runs (as host calls, so a graph without
assertions pays nothing)."""

from tensorflux import errors
from tensorflux.context import context
from tensorflux.ops import indexing, math, reduction
from tensorflux.ops._core import as_operand, binary_operands
from tensorflux.ops.composite import ensure_shape
from tensorflux.tensor import Tensor, TensorShape, convert_to_tensor

__all__ = ["Assert", "assert_all_finite", "assert_equal", "assert_greater",
           "assert_greater_equal", "assert_integer", "assert_less", "assert_less_equal",
           "assert_near", "assert_negative", "assert_non_negative", "assert_non_positive",
           "assert_none_equal", "assert_positive", "assert_proper_iterable", "assert_rank",
           "assert_rank_at_least", "assert_rank_in", "assert_same_float_dtype",
           "assert_scalar", "assert_shapes", "assert_type", "check_numerics",
           "disable_check_numerics", "disable_traceback_filtering", "enable_check_numerics",
           "enable_traceback_filtering", "ensure_shape", "get_log_device_placement",
           "is_numeric_tensor", "is_traceback_filtering_enabled", "set_log_device_placement"]


def _run_check(check, tensors):
    """Calls `check(*tensors)` (it raises when the assertion fails) now, when the values are
    known: eagerly, or constants while tracing. Otherwise it goes into the traced graph as a
    host call that runs it on the values of each run."""
    if context.graph is None or all(_is_constant(t) for t in tensors):
        check(*tensors)
        return
    from tensorflux.control import py_function

    py_function(check, list(tensors), Tout=None)


def _is_constant(t):
    return t.__class__ is Tensor and t._value is not None


def _summarize_count(summarize):
    """How many values a message shows: 3 by default, all for a negative `summarize`."""
    if summarize is None:
        return 3
    summarize = int(summarize)
    return summarize if summarize >= 0 else None


def _message_prefix(message):
    return f"{message}.  " if message else ""


# ------------------------------------------------------------------ comparisons

def _compare(op, symbol, compare, x, y, message, summarize):
    x, y = binary_operands(op, x, y)
    limit = _summarize_count(summarize)

    def check(x, y):
        holds = compare(x, y)
        if bool(reduction.reduce_all(holds)):
            return
        raise errors.InvalidArgumentError(
            _comparison_failure(symbol, x, y, holds, message, limit), op)

    _run_check(check, (x, y))


def _comparison_failure(symbol, x, y, holds, message, limit):
    """TF's eager text: the condition, the failing indices and values when x and y have one
    shape (not scalars), then the first values of each."""
    lines = [] if message is None else [str(message)]
    lines.append(f"Condition x {symbol} y did not hold.")
    if limit == 0:
        return "\n".join(lines)
    if x.shape == y.shape and x.shape.rank:
        failing = indexing.where_indices(math.logical_not(holds))
        count = failing.shape[0] if limit is None else min(limit, failing.shape[0])
        failing = failing[:count]
        lines += [f"Indices of first {count} different values:", str(failing.numpy()),
                  "Corresponding x values:", str(indexing.gather_nd(x, failing).numpy()),
                  "Corresponding y values:", str(indexing.gather_nd(y, failing).numpy())]
    for name, value in (("x", x), ("y", y)):
        flat = value.numpy().reshape(-1)
        count = flat.size if limit is None else min(limit, flat.size)
        lines += [f"First {count} elements of {name}:", str(flat[:count])]
    return "\n".join(lines)


def assert_equal(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x == y everywhere (with broadcasting).

    >>> import tensorflux as tf
    >>> tf.debugging.assert_equal(tf.constant([1, 2]), [1, 2]) is None
    True
    """
    return _compare("assert_equal", "==", math.equal, x, y, message, summarize)


def assert_greater(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x > y everywhere."""
    return _compare("assert_greater", ">", math.greater, x, y, message, summarize)


def assert_greater_equal(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x >= y everywhere."""
    return _compare("assert_greater_equal", ">=", math.greater_equal, x, y, message, summarize)


def assert_less(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x < y everywhere."""
    return _compare("assert_less", "<", math.less, x, y, message, summarize)


def assert_less_equal(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x <= y everywhere."""
    return _compare("assert_less_equal", "<=", math.less_equal, x, y, message, summarize)


def assert_none_equal(x, y, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless x != y everywhere."""
    return _compare("assert_none_equal", "!=", math.not_equal, x, y, message, summarize)


def Assert(condition, data, summarize=None, name=None):  # noqa: N802 - TensorFlow's name
    """Raises InvalidArgumentError showing `data` (a list of tensors and strings) unless the
    scalar bool `condition` is true; inside a tf.function, each time the graph runs.

    >>> import tensorflux as tf
    >>> tf.debugging.Assert(tf.constant(True), ["never shown"]) is None
    True
    """
    condition = as_operand("Assert", condition)
    data = [as_operand("Assert", d) for d in data]
    limit = 3 if summarize is None else _summarize_count(summarize)

    def check(condition, *data):
        if bool(condition):
            return
        shown = "\n".join(_values_text(d, limit, ", ") if d.shape.rank else
                          repr(d.numpy()) if d.dtype.name == "string" else str(d.numpy())
                          for d in data)
        raise errors.InvalidArgumentError(
            f"Expected '{condition!s}' to be true. Summarized data: {shown}", "Assert")

    _run_check(check, (condition, *data))


def _values_text(x, limit, separator=None):
    """x's values as TF's eager assertions print them: a scalar as itself, else the first
    `limit` values (then "...") as a list of strings or joined by `separator`."""
    values = x.numpy()
    if not values.ndim and separator is None:
        return str(values)
    flat = [str(v) for v in values.reshape(-1)]
    shown = flat if limit is None else flat[:limit]
    if len(shown) < len(flat):
        shown.append("...")
    return separator.join(shown) if separator is not None else str(shown)


def _assert_sign(op, symbol, compare, x, message, summarize):
    x = as_operand(op, x)
    limit = _summarize_count(summarize)

    def check(x):
        if bool(reduction.reduce_all(compare(x, math.const(0, x)))):
            return
        raise errors.InvalidArgumentError(
            f"{_message_prefix(message)}\nCondition x {symbol} 0 did not hold element-wise:\n"
            f"x (shape={tuple(x.shape)} dtype={x.dtype.name}) = \n{_values_text(x, limit)}",
            op)

    _run_check(check, (x,))


def assert_non_negative(x, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless every entry of x is >= 0."""
    return _assert_sign("assert_non_negative", ">=", math.greater_equal, x, message, summarize)


def assert_positive(x, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless every entry of x is > 0."""
    return _assert_sign("assert_positive", ">", math.greater, x, message, summarize)


def assert_negative(x, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless every entry of x is < 0."""
    return _assert_sign("assert_negative", "<", math.less, x, message, summarize)


def assert_non_positive(x, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless every entry of x is <= 0."""
    return _assert_sign("assert_non_positive", "<=", math.less_equal, x, message, summarize)


# Machine epsilons, for assert_near's default tolerances (10 eps of x's dtype, as TF).
_EPSILON = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23,
            "float64": 2.0 ** -52, "complex64": 2.0 ** -23, "complex128": 2.0 ** -52}


def assert_near(x, y, rtol=None, atol=None, message=None, summarize=None, name=None):
    """Raises InvalidArgumentError unless |x - y| < atol + rtol * |y| everywhere (strictly,
    as TF); both tolerances default to 10 machine epsilons of x's dtype. A NaN is never near.

    >>> import tensorflux as tf
    >>> tf.debugging.assert_near(tf.constant([1.0, 2.0]), [1.0, 2.0000001]) is None
    True
    """
    x = convert_to_tensor(x)
    if x.dtype.name not in _EPSILON:
        raise ValueError(f"assert_near: x must be a floating-point or complex tensor, "
                         f"received dtype {x.dtype.name}")
    y = convert_to_tensor(y, dtype=x.dtype)
    real = x.dtype.real_dtype
    default = 10 * _EPSILON[x.dtype.name]
    rtol = convert_to_tensor(default if rtol is None else rtol, dtype=real)
    atol = convert_to_tensor(default if atol is None else atol, dtype=real)
    limit = _summarize_count(summarize)

    def check(x, y, rtol, atol):
        tolerance = atol + rtol * math.abs(y)
        if bool(reduction.reduce_all(math.less(math.abs(x - y), tolerance))):
            return
        raise errors.InvalidArgumentError(
            f"{_message_prefix(message)}x and y not equal to tolerance rtol = "
            f"{str(rtol.numpy())}, atol = {str(atol.numpy())}\n"
            f"x (shape={tuple(x.shape)} dtype={x.dtype.name}) = \n"
            f"{_values_text(x, limit, ', ')}\n"
            f"y (shape={tuple(y.shape)} dtype={y.dtype.name}) = \n"
            f"{_values_text(y, limit, ', ')}", "assert_near")

    _run_check(check, (x, y, rtol, atol))


# ------------------------------------------------------------------ shapes

def assert_rank(x, rank, message=None, name=None):
    """Raises ValueError (the rank is static) unless x has rank `rank`.

    >>> import tensorflux as tf
    >>> tf.debugging.assert_rank(tf.zeros([2, 3]), 2) is None
    True
    """
    x = as_operand("assert_rank", x)
    rank = int(rank)
    if x.shape.rank is not None and x.shape.rank != rank:
        prefix = f"{message} " if message else ""
        raise ValueError(f"{prefix}Tensor must have rank {rank}.  Received rank "
                         f"{x.shape.rank}, shape {_shape_text(x.shape)}")
    return None


def assert_rank_at_least(x, rank, message=None, name=None):
    """Raises ValueError (the rank is static) unless x has rank `rank` or more."""
    x = as_operand("assert_rank_at_least", x)
    if x.shape.rank is not None and x.shape.rank < int(rank):
        raise ValueError(f"{_message_prefix(message)}Tensor must have rank at least "
                         f"{int(rank)}.  Received rank {x.shape.rank}, shape "
                         f"{_shape_text(x.shape)}")


def assert_rank_in(x, ranks, message=None, name=None):
    """Raises ValueError (the rank is static) unless x's rank is one of `ranks`."""
    x = as_operand("assert_rank_in", x)
    ranks = tuple(int(r) for r in ranks)
    if x.shape.rank is not None and x.shape.rank not in ranks:
        raise ValueError(f"{_message_prefix(message)}Tensor must have rank in {ranks}.  "
                         f"Received rank {x.shape.rank}, shape {_shape_text(x.shape)}")


def assert_scalar(tensor, message=None, name=None):
    """Raises ValueError unless `tensor` is a scalar (its static shape)."""
    tensor = as_operand("assert_scalar", tensor)
    if tensor.shape.rank != 0:
        raise ValueError(f"{_message_prefix(message)}Expected scalar shape, saw shape: "
                         f"{_shape_text(tensor.shape)}.")


def assert_type(tensor, tf_type, message=None, name=None):
    """Raises TypeError unless `tensor` has the dtype `tf_type`."""
    from tensorflux import dtypes

    wanted = dtypes.as_dtype(tf_type)
    found = as_operand("assert_type", tensor).dtype
    if found is not wanted:
        raise TypeError(f"{_message_prefix(message)}tensor must be of type {wanted!r}; got "
                        f"{found!r}")


def assert_integer(x, message=None, name=None):
    """Raises TypeError unless x has an integer dtype."""
    dtype = as_operand("assert_integer", x).dtype
    if not dtype.is_integer:
        raise TypeError(f'{_message_prefix(message)}Expected "x" to be integer type.  Found: '
                        f"tensor of dtype {dtype.name}")


def assert_same_float_dtype(tensors=None, dtype=None):
    """The floating dtype shared by `tensors` (and `dtype`, when given): ValueError where
    they differ or are not floating point; float32 when there is nothing to check."""
    from tensorflux import dtypes

    found = None if dtype is None else dtypes.as_dtype(dtype)
    for tensor in tensors or ():
        if found is not None and tensor.dtype is not found:
            raise ValueError(f"{tensor!r}, type={tensor.dtype!r}, must be of the same type "
                             f"({found!r}).")
        found = tensor.dtype
    if found is None:
        return dtypes.float32
    if not found.is_floating:
        raise ValueError(f"Expected floating point type, got {found!r}.")
    return found


def assert_proper_iterable(values):
    """Raises TypeError unless `values` is an iterable of values: not a tensor, an array or
    a string (whose iteration is rarely what was meant)."""
    from tensorflux.tensor import _TensorLike

    array = type(values).__module__ == "numpy" and hasattr(values, "shape")  # (an ndarray)
    if array or isinstance(values, (_TensorLike, str, bytes)) or not hasattr(
            values, "__iter__"):
        raise TypeError('Expected argument "values" to be a "proper" iterable.  Found: '
                        f"{type(values)}")


def is_numeric_tensor(tensor):
    """Whether `tensor` is a tensor of a numeric dtype (not bool, not string)."""
    from tensorflux.tensor import _TensorLike

    if not isinstance(tensor, _TensorLike):
        return False
    dtype = tensor.dtype
    return dtype.is_integer or dtype.is_floating or dtype.is_complex


def _shape_text(shape):
    return str(tuple(shape)) if isinstance(shape, TensorShape) else str(shape)


def assert_shapes(shapes, data=None, summarize=None, message=None, name=None):
    """Checks the shapes of several tensors and how their sizes relate.

    `shapes` is a list of (tensor, shape) pairs (or a dict). Each shape entry is an int (or
    anything int() takes: that size), None or "." (any size), or a symbol: every dimension
    with the same symbol must have the same size. A first entry `...` or "*" stands for any
    number of leading dimensions. A scalar, and a shape of no entries, count as one
    dimension of size 1 (TF's rule). What the static shapes decide raises ValueError at once;
    sizes known only when a traced function runs are checked then (InvalidArgumentError).
    `data` and `summarize` are accepted for TF's signature.

    >>> import tensorflux as tf
    >>> x, y = tf.zeros([10, 3]), tf.zeros([10])
    >>> tf.debugging.assert_shapes([(x, ("N", "Q")), (y, ("N",))]) is None
    True
    """
    pairs = list(shapes.items() if isinstance(shapes, dict) else shapes)
    tensors = [convert_to_tensor(tensor) for tensor, _ in pairs]
    specs = [_parse_spec(tensor, spec) for tensor, (_, spec) in zip(tensors, pairs)]
    prefix = _message_prefix(message)
    failure, undecided = _shape_failure(
        [(tensor.shape, tensor.dtype) for tensor in tensors], specs)
    if failure is not None:
        raise ValueError(prefix + failure)
    if not undecided:
        return None

    def check(*values):
        failure, _ = _shape_failure(
            [(TensorShape(value.shape), value.dtype) for value in values], specs)
        if failure is not None:
            raise errors.InvalidArgumentError(prefix + failure, "assert_shapes")

    _run_check(check, tensors)
    return None


def _parse_spec(tensor, spec):
    """(entries, leading): the shape's entries and whether any leading dimensions may come
    before them. Entries are ints (sizes), None (any size) or symbols."""
    entries = list(spec)
    leading = bool(entries) and (entries[0] is Ellipsis or entries[0] == "*")
    if leading:
        entries = entries[1:]
    for index, entry in enumerate(entries):
        if entry is Ellipsis or entry == "*":
            raise ValueError(
                f"Tensor {_describe(tensor.shape, tensor.dtype)} specified shape index "
                f"{index + leading}.  Symbol `...` or `*` for a variable number of "
                "unspecified dimensions is only allowed as the first entry")
    return [_parse_entry(entry) for entry in entries], leading


def _parse_entry(entry):
    if entry is None or entry == ".":
        return None
    try:
        return int(entry)
    except (TypeError, ValueError):
        return _Symbol(entry)


class _Symbol:
    """A named size in an assert_shapes spec (kept apart from explicit int sizes)."""

    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return isinstance(other, _Symbol) and other.name == self.name

    def __hash__(self):
        return hash(self.name)


def _describe(shape, dtype):
    return f"shape={_shape_text(shape)} dtype={dtype.name}"


def _shape_failure(shapes, specs):
    """(the first violation's text or None, whether some size was unknown and skipped) for
    the tensors' (TensorShape, dtype) against the parsed specs."""
    known = {}  # symbol -> (size, description of where it was set, its dimension index)
    undecided = False
    for (shape, dtype), (entries, leading) in zip(shapes, specs):
        described = _describe(shape, dtype)
        entries = entries or [1]
        if shape.rank is None:
            undecided = True
            continue
        dims = list(shape) or [1]
        if len(dims) < len(entries) or (len(dims) > len(entries) and not leading):
            expected = (f"at least {len(entries)}" if leading else
                        "in (0, 1)" if len(entries) == 1 else str(len(entries)))
            return (f"Tensor {described} must have rank {expected}.  Received rank "
                    f"{shape.rank}, shape {_shape_text(shape)}"), undecided
        offset = len(dims) - len(entries)
        for position, entry in enumerate(entries):
            if entry is None:
                continue
            size = dims[offset + position]
            index = position - len(entries) if leading else position
            if isinstance(entry, _Symbol):
                if entry not in known:
                    known[entry] = (size, described, index)
                    continue
                expected, source, source_index = known[entry]
                origin = f"Specified by tensor {source} dimension {source_index}"
            else:
                expected, origin = entry, "Specified explicitly"
            if size is None or expected is None:
                undecided = True
            elif size != expected:
                return (f"{origin}.  Tensor {described} dimension {index} must have size "
                        f"{expected}.  Received size {size}, shape {_shape_text(shape)}"
                        ), undecided
    return None, undecided


# ------------------------------------------------------------------ numerics

def check_numerics(tensor, message, name=None):
    """tensor itself, or InvalidArgumentError if it holds a NaN or an infinity.

    >>> import tensorflux as tf
    >>> tf.debugging.check_numerics(tf.constant([1.0]), "x").numpy().tolist()
    [1.0]
    """
    x = as_operand("check_numerics", tensor)
    if not (x.dtype.is_floating or x.dtype.is_complex):
        raise errors.InvalidArgumentError(
            f"check_numerics: expected a floating-point tensor, received {x.dtype.name}",
            "check_numerics")

    def check(x):
        if bool(reduction.reduce_any(math.is_nan(x))):
            raise errors.InvalidArgumentError(f"{message} : Tensor had NaN values",
                                              "check_numerics")
        if bool(reduction.reduce_any(math.is_inf(x))):
            raise errors.InvalidArgumentError(f"{message} : Tensor had Inf values",
                                              "check_numerics")

    _run_check(check, (x,))
    return x


def assert_all_finite(x, message, name=None):
    """x itself, or InvalidArgumentError naming `message` if it holds a NaN or an infinity
    (check_numerics under TF 2's name).

    >>> import tensorflux as tf
    >>> tf.debugging.assert_all_finite(tf.constant([1.0]), "x").numpy().tolist()
    [1.0]
    """
    return check_numerics(x, message)


def enable_check_numerics(stack_height_limit=30, path_length_limit=50):
    """Accepted for TF's API; tensorflux does not check every op's output for NaN and Inf
    (that would slow every op), so it warns once: put tf.debugging.check_numerics on the
    tensors to watch instead."""
    import warnings

    warnings.warn("tf.debugging.enable_check_numerics: tensorflux does not check each op's "
                  "output; wrap the tensors to watch in tf.debugging.check_numerics(x, "
                  "message) instead.", stacklevel=2)


def disable_check_numerics():
    """Accepted for TF's API (see enable_check_numerics)."""


_FLAGS = {"traceback_filtering": True}


def enable_traceback_filtering():
    """Recorded for TF's API (tensorflux adds no frames of its own to filter)."""
    _FLAGS["traceback_filtering"] = True


def disable_traceback_filtering():
    _FLAGS["traceback_filtering"] = False


def is_traceback_filtering_enabled():
    return _FLAGS["traceback_filtering"]


_LOG_DEVICE_PLACEMENT = {"enabled": False}


def set_log_device_placement(enabled):
    """Records the switch (TF then logs each op's device; tensorflux places ops only as
    tf.device says, so it has nothing to log)."""
    _LOG_DEVICE_PLACEMENT["enabled"] = bool(enabled)


def get_log_device_placement():
    return _LOG_DEVICE_PLACEMENT["enabled"]
