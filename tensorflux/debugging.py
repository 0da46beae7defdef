"""tf.debugging: assertions that raise InvalidArgumentError with TF's messages, eagerly at once
and, inside a tf.function, each time the graph runs (as host calls, so a graph without
assertions pays nothing)."""

from tensorflux import errors
from tensorflux.context import context
from tensorflux.ops import indexing, math, reduction
from tensorflux.ops._core import as_operand, binary_operands
from tensorflux.ops.composite import ensure_shape
from tensorflux.tensor import Tensor, TensorShape, convert_to_tensor

__all__ = ["assert_all_finite", "assert_equal", "assert_greater", "assert_greater_equal",
           "assert_less", "assert_less_equal", "assert_near", "assert_non_negative",
           "assert_positive", "assert_rank", "assert_shapes", "check_numerics", "ensure_shape",
           "get_log_device_placement", "set_log_device_placement"]


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


_LOG_DEVICE_PLACEMENT = {"enabled": False}


def set_log_device_placement(enabled):
    """Records the switch (TF then logs each op's device; tensorflux places ops only as
    tf.device says, so it has nothing to log)."""
    _LOG_DEVICE_PLACEMENT["enabled"] = bool(enabled)


def get_log_device_placement():
    return _LOG_DEVICE_PLACEMENT["enabled"]
