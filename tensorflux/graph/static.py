"""Trace-time values of symbolic tensors: what ops need as Python values (shapes, axes,
paddings) and what Variable initial values need, computed from the graph's constants."""

from tensorflux import errors
from tensorflux.context import context
from tensorflux.tensor import Tensor
from tensorflux.variable import Variable

__all__ = ["get_static_value", "static_numpy", "lift"]


def _evaluate(tensor, allow_stateful):
    """An eager Tensor with `tensor`'s value when it depends on constants only, else None.

    Stateless nodes are re-run eagerly through bind; with allow_stateful (Variable
    initializers, which TensorFlow lifts out of the function), stateful nodes such as random
    draws run once too and Variables are read. Placeholders (inputs, captures) are unknown.
    """
    from tensorflux.graph.ir import SymbolicTensor, const_primitive

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
                        break
                    args.append(out[x.index] if _multiple(x.node) else out)
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
    return out[tensor.index] if _multiple(tensor.node) else out


def _multiple(node):
    return node.primitive.multiple_results


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
    return None if value is None else value.numpy()


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
    initializer out of the function); InvalidArgumentError if it depends on the inputs."""
    value = _evaluate(tensor, allow_stateful=True)
    if value is None:
        raise errors.InvalidArgumentError(
            f"A tf.Variable created inside a tf.function got the initial value {tensor.name} "
            f"(shape {tensor.shape}, {tensor.dtype.name}), which depends on the function's "
            "inputs; initialize it from constants (e.g. tf.zeros(shape)) and assign the "
            "input-dependent value afterwards.")
    return value
