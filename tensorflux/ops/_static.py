"""Python values of tensor arguments that ops need statically (shapes, axes, paddings...),
also while tracing, where they must be computable from the graph's constants; and, for the
ops that accept them, shape-like arguments known only at run time."""

from tensorflux import errors
from tensorflux.context import context, current_backend
from tensorflux.tensor import TensorShape, _TensorLike

__all__ = ["host", "fold", "shape_operand", "scalar_operand", "RuntimeShape"]


def host(op, x, what):
    """x as a host NumPy array; InvalidArgumentError naming `op` and `what` if x is a
    symbolic tensor whose value depends on a traced function's inputs."""
    if x._value is not None:
        return x._numpy()
    from tensorflux.graph.static import static_numpy

    return static_numpy(op, x, what)


def fold(op, value, what):
    """A shape-like argument (nested lists of ints and scalar tensors, or a tensor) as nested
    Python ints; symbolic tensors are folded while tracing (tf.shape of static shapes,
    arithmetic on them), else InvalidArgumentError naming `op` and `what`."""
    if isinstance(value, _TensorLike):
        if value._value is None and value.shape.rank == 0:
            number = _static_scalar(value)
            if number is None:
                raise _not_static(op, value, what)
            return number
        found = host(op, value, what)
        return found.tolist() if hasattr(found, "tolist") else found  # (bytes: a string)
    if isinstance(value, (list, tuple)):
        return [fold(op, v, what) for v in value]
    return value


def _static_scalar(tensor):
    from tensorflux.graph.static import static_scalar

    return static_scalar(tensor)


def _not_static(op, tensor, what):
    return errors.InvalidArgumentError(
        f"{op}: the {what} must be known when the tf.function is traced, but it holds the "
        f"symbolic tensor {tensor.name} (shape {tensor.shape}, {tensor.dtype.name}) whose value "
        f"depends on the function's inputs; {op} does not take its {what} at run time: "
        "give the function an input_signature with static dims, or compute it from constants "
        "and static shapes.", op)


def scalar_operand(op, value, what):
    """A scalar size-like argument (a range limit, a depth): (int, None) when it is known now
    or while tracing, else (None, the symbolic scalar tensor to feed at run time)."""
    if not isinstance(value, _TensorLike):
        return (value.item() if hasattr(value, "item") else value), None
    if value.shape.rank != 0:
        raise errors.InvalidArgumentError(
            f"{op}: the {what} must be a scalar, received shape {tuple(value.shape)}", op)
    if value._value is not None:
        return value.numpy().item(), None
    number = _static_scalar(value)
    return (number, None) if number is not None else (None, value)


def shape_operand(op, shape, what="shape"):
    """A shape-like argument (a shape, multiples) as (dims, runtime).

    Python values, eager tensors, and symbolic ones whose value tracing can compute (tf.shape
    of static shapes, arithmetic and indexing on it, constants) give (list of ints, None).
    Otherwise `runtime` is a 1-D integer tensor holding the value at run time and `dims` says
    what is known while tracing: a list with None for the entries known only at run time, or
    None if even its length is unknown.
    """
    if isinstance(shape, _TensorLike):
        if shape._value is not None:
            value = host(op, shape, what).tolist()
            return ([value] if isinstance(value, int) else value), None
        return _symbolic_shape(op, shape, what)
    if isinstance(shape, TensorShape):
        shape = shape.as_list()
    elif isinstance(shape, int):
        return [shape], None
    try:
        return [int(d) for d in shape], None
    except (TypeError, ValueError) as error:
        # int() of a symbolic element raises here: fold the elements one by one.
        if isinstance(shape, (list, tuple)) and any(_is_symbolic(d) for d in shape):
            return _packed_shape(op, shape, what)
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be a list of ints, received {shape!r}", op) from error


def _is_symbolic(x):
    return isinstance(x, _TensorLike) and x._value is None


def _symbolic_shape(op, shape, what):
    from tensorflux.graph.static import static_dims

    if not shape.dtype.is_integer or shape.shape.rank not in (0, 1):
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be a 1-D integer tensor, received {shape.dtype.name} with shape "
            f"{shape.shape}", op)
    if shape.shape.rank == 0:
        from tensorflux.ops.array import reshape

        shape = reshape(shape, [1])
    dims = static_dims(shape)
    if dims is not None and None not in dims:
        return dims, None
    return dims, shape


def _packed_shape(op, elements, what):
    """A list of ints and scalar int tensors, some symbolic: folded where tracing knows the
    values, else packed into one int tensor (as TF auto-packs) for the run-time path."""
    dims = []
    for d in elements:
        if _is_symbolic(d):
            if d.shape.rank != 0 or not d.dtype.is_integer:
                raise errors.InvalidArgumentError(
                    f"{op}: each entry of the {what} must be an int or a scalar integer tensor, "
                    f"received {d.dtype.name} with shape {d.shape}", op)
            dims.append(_static_scalar(d))
        else:
            try:
                dims.append(int(d))
            except (TypeError, ValueError) as error:
                raise errors.InvalidArgumentError(
                    f"{op}: {what} must be a list of ints, received {elements!r}",
                    op) from error
    if None not in dims:
        return dims, None
    from tensorflux import dtypes
    from tensorflux.ops.array import stack
    from tensorflux.ops.math import cast

    wide = any(_is_symbolic(d) and d.dtype == dtypes.int64 for d in elements)
    dtype = dtypes.int64 if wide else dtypes.int32
    entries = [cast(d, dtype) if _is_symbolic(d) and d.dtype != dtype else
               d if _is_symbolic(d) else known for d, known in zip(elements, dims)]
    from tensorflux.tensor import convert_to_tensor

    entries = [e if isinstance(e, _TensorLike) else convert_to_tensor(e, dtype=dtype)
               for e in entries]
    return dims, stack(entries)


class RuntimeShape:
    """The attribute of a primitive whose shape-like inputs are known only at run time.

    Backend kernels take shapes as Python ints; a graph computes them as int tensors. Such
    primitives use the generic `cond` kernel, which calls this object with the run-time
    arrays: it brings the shape-like ones (positions `host_inputs`) to the host as ints, as
    TensorFlow keeps shape tensors in host memory, then runs `fn(backend, *arrays, **attrs)`,
    which calls the backend's ordinary kernel. Equal attributes compare and hash equal, so
    graph passes can merge identical nodes.
    """

    __slots__ = ("fn", "host_inputs", "attrs", "_key")

    def __init__(self, fn, host_inputs, **attrs):
        self.fn = fn
        self.host_inputs = tuple(host_inputs)
        self.attrs = attrs
        self._key = (fn, self.host_inputs, tuple(sorted(attrs.items())))

    def __call__(self, first, rest):
        backend = context.backend or current_backend()
        arrays = (first, *rest)
        values = [backend.to_numpy(a).tolist() if i in self.host_inputs else a
                  for i, a in enumerate(arrays)]
        return self.fn(backend, *values, **self.attrs)

    def __eq__(self, other):
        return isinstance(other, RuntimeShape) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        shown = ", ".join(f"{k}={v}" for k, v in self.attrs.items())
        return f"{self.fn.__name__}({shown})"
