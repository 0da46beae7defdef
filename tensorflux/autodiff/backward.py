"""The one reverse-mode walker: gradients of recorded Nodes, for tapes and traced graphs alike.

It visits nodes in reverse recording order (a topological order), calls each primitive's VJP
with tensorflux ops (so the gradient computation is itself recorded by any outer tape, or
traced into the current graph), and sums each cotangent back to its input's shape here, in
the only place that does so.
"""

from tensorflux import errors
from tensorflux.context import context
from tensorflux.ops import array, math, reduction
from tensorflux.ops._core import broadcast_shapes

__all__ = ["backward", "UnconnectedGradients"]


class UnconnectedGradients:
    """What `gradient` returns for a source the target does not depend on."""

    NONE = "none"
    ZERO = "zero"


def backward(nodes, targets, target_grads, sources, unconnected=UnconnectedGradients.NONE):
    """Cotangents of `sources` given cotangents `target_grads` of `targets`.

    nodes: recorded Nodes in execution order. Tensors are matched by identity.
    """
    reachable = _forward_reachable(nodes, sources)
    grads = {}
    for target, grad in zip(targets, target_grads):
        if not target.dtype.is_differentiable:
            continue  # (an integer target has no gradient, as in TensorFlow)
        key = id(target)
        grads[key] = grad if key not in grads else math.add(grads[key], grad)
    for node in reversed(nodes):
        if not _any_input_reachable(node, reachable):
            continue
        out_grads = _output_grads(node, grads)
        if out_grads is None:
            continue
        if node.primitive.vjp is None:
            raise errors.UnimplementedError(
                f"No gradient is defined for the op '{node.primitive.name}'.",
                node.primitive.name)
        out = node.outputs
        scope = _gradient_scope(out)
        if scope is not None:  # (traced: the gradient's nodes are named after the forward's)
            saved, context.layer_scope = context.layer_scope, scope
        try:
            in_grads = node.primitive.vjp(out_grads, *node.inputs, out=out, **node.attrs)
            for x, g in zip(node.inputs, in_grads):
                if g is None or id(x) not in reachable:
                    continue
                g = sum_to_shape(g, x)
                key = id(x)
                previous = grads.get(key)
                grads[key] = g if previous is None else math.add(previous, g)
        finally:
            if scope is not None:
                context.layer_scope = saved
    results = []
    for source in sources:
        g = grads.get(id(source))
        if g is None and unconnected == UnconnectedGradients.ZERO:
            g = array.zeros_like(source)
        results.append(g)
    return results


def _gradient_scope(outputs):
    """While tracing, the name scope of a recorded node's gradient: TF's "gradient_tape/"
    and the forward node's own scope ("gradient_tape/sequential/dense/" for the nodes of
    sequential/dense/matmul's VJP), so that a profile or an error names the layer; None for
    eager tensors."""
    first = outputs[0] if isinstance(outputs, tuple) else outputs
    forward = getattr(first, "node", None)
    name = getattr(forward, "name", None)
    if context.graph is None or not isinstance(name, str):
        return None
    return "gradient_tape/" + name[:name.rfind("/") + 1]


def _forward_reachable(nodes, sources):
    """ids of every tensor that depends on a source, through differentiable dtypes."""
    reachable = {id(s) for s in sources}
    for node in nodes:
        if _any_input_reachable(node, reachable):
            outputs = node.outputs if isinstance(node.outputs, tuple) else (node.outputs,)
            for o in outputs:
                if o.dtype.is_differentiable:
                    reachable.add(id(o))
    return reachable


def _any_input_reachable(node, reachable):
    for x in node.inputs:
        if id(x) in reachable:
            return True
    return False


def _output_grads(node, grads):
    """The node's output cotangents (a tuple for multi-output nodes), or None if all are zero."""
    outputs = node.outputs
    if not isinstance(outputs, tuple):
        return grads.get(id(outputs))
    found = [grads.get(id(o)) for o in outputs]
    if all(g is None for g in found):
        return None
    return tuple(array.zeros_like(o) if g is None and o.dtype.is_differentiable else g
                 for o, g in zip(outputs, found))


def sum_to_shape(grad, like):
    """Sums a broadcast cotangent back to the shape of `like` (the one un-broadcasting rule)."""
    try:
        shape = tuple(like.shape)
        grad_shape = tuple(grad.shape)
    except ValueError:  # an unknown rank (traced: a TensorArray's flow through a loop)
        return _match_dtype(array.sum_to_dynamic_shape(grad, like), like)
    if grad_shape == shape:
        return _match_dtype(grad, like)
    if None in shape or None in grad_shape:
        return _match_dtype(array.sum_to_dynamic_shape(grad, like), like)
    lead = len(grad_shape) - len(shape)
    if lead < 0:
        return _broadcast_up(grad, grad_shape, like)
    axes = list(range(lead))
    axes += [lead + i for i, d in enumerate(shape) if d == 1 and grad_shape[lead + i] != 1]
    if axes:
        grad = reduction.reduce_sum(grad, axis=axes, keepdims=False)
    if tuple(grad.shape) != shape:
        if grad.shape.num_elements() != like.shape.num_elements():
            return _broadcast_up(grad, grad_shape, like)
        grad = array.reshape(grad, shape)
    return _match_dtype(grad, like)


def _broadcast_up(grad, grad_shape, like):
    """A gradient smaller than its input (a custom gradient's scalar for a vector, which
    TensorFlow passes on as it is): the same value for every element it broadcasts to."""
    shape = tuple(like.shape)
    try:
        broadcast_shapes("gradient", grad_shape, shape)  # (as computed, before any summing)
        full = broadcast_shapes("gradient", tuple(grad.shape), shape)
    except errors.InvalidArgumentError:
        raise _mismatch(grad_shape, shape) from None
    return sum_to_shape(array.broadcast_to(grad, list(full)), like)


def _mismatch(grad_shape, shape):
    return ValueError(f"A gradient of shape {grad_shape} was computed for an input of shape "
                      f"{shape}; the shapes must match or broadcast (check the grad_fn of a "
                      f"tf.custom_gradient)")


def _match_dtype(grad, like):
    dtype = like.dtype
    if grad.dtype is dtype:
        return grad
    if dtype.is_floating and grad.dtype.is_complex:
        grad = math.real(grad)
    return math.cast(grad, dtype)
