"""Trace-time values of symbolic tensors: what ops need as Python values (shapes, axes,
paddings) and what Variable initial values need, computed from the graph's constants."""

from tensorflux import errors
from tensorflux.context import context
from tensorflux.tensor import Tensor
from tensorflux.variable import Variable

__all__ = ["get_static_value", "static_numpy", "lift", "static_dims", "static_scalar",
           "Lifting"]


def _evaluate(tensor, allow_stateful, shapes=False, inputs=False):
    """An eager Tensor with `tensor`'s value when it depends on constants only, else None.

    Stateless nodes are re-run eagerly through bind; with allow_stateful (Variable
    initializers, which TensorFlow lifts out of the function), stateful nodes such as random
    draws run once too and Variables are read. A placeholder capturing an outer tensor has
    that tensor's value; the function's inputs are unknown, unless `inputs` (a Variable's
    initial value computed from the call being traced: Lifting.call_values). With shapes
    (shape-like op arguments), an element or slice of tf.shape(x) is known where x's static
    shape knows those dims, even when other dims of x are unknown.
    """
    from tensorflux.graph.ir import SymbolicTensor, const_primitive, placeholder_primitive

    if not isinstance(tensor, SymbolicTensor):
        if isinstance(tensor, Variable):
            return tensor.read_value() if allow_stateful else None
        return tensor
    values = {}
    unknown = object()
    stack = [tensor.node]
    saved_graph, saved_tapes = context.graph, context.tapes
    try:
        context.graph, context.tapes = None, []
        while stack:
            node = stack[-1]
            if id(node) in values:
                stack.pop()
                continue
            prim = node.primitive
            if prim is const_primitive:
                values[id(node)] = Tensor(node.attrs["value"])
                stack.pop()
                continue
            if prim is placeholder_primitive:
                source = _placeholder_source(node, inputs)
                if isinstance(source, SymbolicTensor):  # a capture: the outer tensor's value
                    if id(source.node) not in values:
                        stack.append(source.node)
                        continue
                    out = values[id(source.node)]
                    source = out if out is unknown else _output(out, source)
                values[id(node)] = unknown if source is None else source
                stack.pop()
                continue
            known = _known_dims_of_shape(node) if shapes else None
            if known is not None:
                values[id(node)] = known
                stack.pop()
                continue
            if prim.kernel is None or (prim.stateful and not allow_stateful):
                values[id(node)] = unknown
                stack.pop()
                continue
            pending = [x.node for x in node.inputs
                       if isinstance(x, SymbolicTensor) and id(x.node) not in values]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            args = []
            for x in node.inputs:
                if isinstance(x, SymbolicTensor):
                    out = values[id(x.node)]
                    if out is unknown:
                        out = _shape_stand_in(node, x)
                        if out is None:
                            break
                        args.append(out)
                        continue
                    args.append(_output(out, x))
                elif isinstance(x, Variable):
                    if not allow_stateful:
                        break
                    args.append(x.read_value())
                else:
                    args.append(x)
            else:
                try:
                    values[id(node)] = prim.bind(*args, **node.attrs)
                except errors.OpError:
                    values[id(node)] = unknown
                continue
            values[id(node)] = unknown
    finally:
        context.graph, context.tapes = saved_graph, saved_tapes
    out = values[id(tensor.node)]
    if out is unknown:
        return None
    return _output(out, tensor)


def _output(value, tensor):
    """The part of a node's evaluated result that `tensor` (one of its outputs) is."""
    return value[tensor.index] if _multiple(tensor.node) else value


def _placeholder_source(node, inputs):
    """What a placeholder stands for: the outer tensor it captures, the call's input (only
    with `inputs`, see Lifting), or None (unknown)."""
    graph = node.graph
    for outer, inner in graph.captures.values():
        if inner.node is node:
            return outer
    lifting = graph.lifting
    if inputs and lifting is not None and id(node) in lifting.call_values:
        lifting.used_inputs = True
        return lifting.call_values[id(node)]
    return None


class Lifting:
    """How a tf.function trace treats the Variables it creates (Graph.lifting).

    call_values maps id(placeholder node) -> the eager input of the call being traced, from
    which an initial value that depends on the inputs is computed (TF initializes such a
    Variable on its first call; empty for get_concrete_function), used_inputs records that
    one was; error is the ValueError message when this trace may not create Variables."""

    __slots__ = ("call_values", "used_inputs", "error")

    def __init__(self, error=None):
        self.call_values = {}
        self.used_inputs = False
        self.error = error


# Ops whose value depends on their input's shape only (tf.ones_like, tf.shape): known when
# that shape is fully known, as in TF, whose ones_like of a fully defined shape is a constant.
_SHAPE_ONLY = frozenset({"fill_like", "dynamic_shape"})


def _shape_stand_in(node, x):
    """A zero tensor standing for the unknown input x of a shape-only op, else None."""
    if node.primitive.name not in _SHAPE_ONLY or not x.shape.is_fully_defined():
        return None
    from tensorflux.ops import array

    try:
        return array.zeros(list(x.shape), x.dtype)
    except (errors.OpError, TypeError, ValueError):
        return None


def _multiple(node):
    return node.primitive.multiple_results


def _known_dims_of_shape(node):
    """tf.shape(x)[k] or tf.shape(x)[a:b] as a constant Tensor when x's static shape knows
    those dims (the rest of x's shape may be unknown), else None."""
    from tensorflux.graph.ir import SymbolicTensor

    if node.primitive.name != "getitem" or len(node.inputs) != 1:
        return None
    source = node.inputs[0]
    if not isinstance(source, SymbolicTensor) or source.node.primitive.name != "dynamic_shape":
        return None
    dims = source.node.inputs[0].shape
    key = node.attrs["key"]
    if dims.rank is None or len(key) != 1:
        return None
    (entry,) = key
    dims = list(dims)
    if isinstance(entry, tuple):
        picked = dims[slice(*entry)]
    elif isinstance(entry, int) and -len(dims) <= entry < len(dims):
        picked = dims[entry]
    else:
        return None
    if picked is None or isinstance(picked, list) and None in picked:
        return None
    from tensorflux.tensor import convert_to_tensor

    return convert_to_tensor(picked, dtype=node.outputs.dtype)


def static_scalar(tensor):
    """A scalar tensor's value as a Python number if it is known while tracing (constants,
    static dims of tf.shape and arithmetic on them), else None."""
    if not isinstance(tensor, Tensor):  # an abstract value (shape rules): nothing known
        return None
    if tensor._value is not None:
        return tensor.numpy().item()
    value = _evaluate(tensor, allow_stateful=False, shapes=True)
    return None if value is None else value.numpy().item()


def static_dims(tensor):
    """What tracing knows of a 1-D int tensor used as a shape (TF's constant_value_as_shape):
    a list of ints with None where an entry is known only at run time, or None if even its
    length is unknown. Knows constants, tf.shape(x) (x's static dims), tf.stack of scalars,
    tf.concat along axis 0, casts, and slices of those."""
    if not isinstance(tensor, Tensor):  # an abstract value (shape rules): its length only
        pass
    elif tensor._value is not None:
        return [int(v) for v in tensor.numpy().reshape(-1).tolist()]
    elif (value := _evaluate(tensor, allow_stateful=False, shapes=True)) is not None:
        return [int(v) for v in value.numpy().reshape(-1).tolist()]
    from tensorflux.graph.ir import SymbolicTensor

    if isinstance(tensor, SymbolicTensor):
        node = tensor.node
        name = node.primitive.name
        dims = None
        if name == "dynamic_shape":
            dims = node.inputs[0].shape
            dims = None if dims.rank is None else list(dims)
        elif name == "stack" and node.attrs["axis"] == 0:
            dims = [static_scalar(x) for x in node.inputs]
        elif name == "concat" and node.attrs["axis"] == 0:
            parts = [static_dims(x) for x in node.inputs]
            dims = None if None in parts else [d for part in parts for d in part]
        elif name in ("cast", "identity"):
            dims = static_dims(node.inputs[0])
        elif name == "getitem" and len(node.inputs) == 1 and len(node.attrs["key"]) == 1 \
                and isinstance(node.attrs["key"][0], tuple):
            whole = static_dims(node.inputs[0])
            dims = None if whole is None else whole[slice(*node.attrs["key"][0])]
        if dims is not None:
            return dims
    length = tensor.shape[0] if tensor.shape.rank == 1 else None
    return None if length is None else [None] * length


def get_static_value(tensor, partial=False):
    """The value of a tensor as a NumPy array if it is known without running the function
    (tf.get_static_value); None when it depends on inputs, Variables or random draws.

    >>> import tensorflux as tf
    >>> from tensorflux.graph.static import get_static_value
    >>> get_static_value(tf.constant([1, 2])).tolist()
    [1, 2]
    """
    if not isinstance(tensor, (Tensor, Variable)):
        return tensor
    if isinstance(tensor, Variable):
        return None
    value = _evaluate(tensor, allow_stateful=False)
    if value is None and partial:
        return _partial_value(tensor)
    return None if value is None else value.numpy()


def _partial_value(tensor):
    """TF's constant_value(partial=True) where the whole value is unknown: a tf.stack along
    axis 0 gives its inputs' values with None for the unknown ones, as an object array
    (TF 2.21: tf.get_static_value(tf.stack([x, 4]), partial=True) for a traced scalar x is
    array([None, array(4, dtype=int32)], dtype=object)); anything else, None."""
    from tensorflux.graph.ir import SymbolicTensor

    if not isinstance(tensor, SymbolicTensor):
        return None
    node = tensor.node
    if node.primitive.name != "stack" or node.attrs["axis"] != 0:
        return None
    from tensorflux.backends import numpy_backend

    return numpy_backend.stacked_values([get_static_value(x, partial=True)
                                         for x in node.inputs])


def static_numpy(op, tensor, what):
    """`tensor.numpy()` for an op argument that must be a Python value (a shape, an axis...):
    while tracing, it must be computable from constants, else InvalidArgumentError."""
    if tensor._value is not None:
        return tensor.numpy()
    value = _evaluate(tensor, allow_stateful=False)
    if value is None:
        raise errors.InvalidArgumentError(
            f"{op}: the {what} must be known when the tf.function is traced, but it is the "
            f"symbolic tensor {tensor.name} (shape {tensor.shape}, {tensor.dtype.name}) whose "
            "value depends on the function's inputs, Variables or random draws; pass a Python "
            "value or a tensor computed from constants and static shapes.", op)
    return value.numpy()


def lift(tensor):
    """A Variable's initial value made while tracing, computed eagerly once (TF lifts the
    initializer out of the function). If it depends on the function's inputs, it is computed
    from the call being traced (TF initializes it on that first call); when there is no call
    (get_concrete_function), it cannot be lifted: InvalidArgumentError, TF's UnliftableError.
    A trace that may not create Variables raises its ValueError here, where TF does."""
    graph = context.graph
    while graph is not None:
        if graph.lifting is not None and graph.lifting.error is not None:
            raise ValueError(graph.lifting.error)
        graph = graph.outer
    value = _evaluate(tensor, allow_stateful=True)
    if value is None:
        value = _evaluate(tensor, allow_stateful=True, inputs=True)
    if value is None:
        raise errors.InvalidArgumentError(
            f"Unable to lift tensor {tensor.name} (shape {tensor.shape}, {tensor.dtype.name}) "
            "because it depends transitively on the function's inputs: a tf.Variable created "
            "inside a tf.function takes its initial value from constants, or from the inputs "
            "of the first call, but get_concrete_function has no input values. Initialize it "
            "from constants (e.g. tf.zeros(shape)) or call the function first.")
    return value
