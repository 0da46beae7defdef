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
from tensorflux.tensor import Tensor
from tensorflux.variable import Variable

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
    # Read once: a VJP that traces a branch or loop body puts the graph back when done.
    tracing = context.graph is not None
    found = grads.get
    for node in reversed(nodes):
        inputs = node.inputs
        for x in inputs:
            if id(x) in reachable:
                break
        else:
            continue  # (no input depends on a source)
        out = node.outputs
        if isinstance(out, tuple):
            out_grads = _output_grads(out, grads)
        else:
            out_grads = found(id(out))
        if out_grads is None:
            continue
        primitive = node.primitive
        if primitive.vjp is None:
            raise errors.UnimplementedError(
                f"No gradient is defined for the op '{primitive.name}'.", primitive.name)
        scope = _gradient_scope(out) if tracing else None
        if scope is not None:  # (traced: the gradient's nodes are named after the forward's)
            saved, context.layer_scope = context.layer_scope, scope
        try:
            attrs = node.attrs
            if primitive.vjp_wanted:  # (the cotangents the loop below keeps)
                wanted = [id(x) in reachable for x in inputs]
                in_grads = primitive.vjp(out_grads, *inputs, out=out, wanted=wanted, **attrs)
            elif attrs:
                in_grads = primitive.vjp(out_grads, *inputs, out=out, **attrs)
            else:
                in_grads = primitive.vjp(out_grads, *inputs, out=out)
            for x, g in zip(inputs, in_grads):
                if g is None:
                    continue
                key = id(x)
                if key not in reachable:
                    continue
                if (g.__class__ is not Tensor or x.__class__ is not Tensor
                        or g._value.shape != x._value.shape
                        or g._value.dtype is not x._value.dtype):
                    # (else eager tensors of one shape and dtype: sum_to_shape returns g)
                    g = sum_to_shape(g, x)
                previous = found(key)
                grads[key] = g if previous is None else math.add(previous, g)
        finally:
            if scope is not None:
                context.layer_scope = saved
    results = []
    for source in sources:
        g = found(id(source))
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


# Whether a native (backend) dtype is differentiable: for an eager tensor's dtype, one dict
# lookup where Tensor.dtype and DType.is_differentiable are two property calls (the tape's
# records read it too).
differentiable_natives = {}


def _forward_reachable(nodes, sources):
    """ids of every tensor that depends on a source, through differentiable dtypes."""
    reachable = {id(s) for s in sources}
    add = reachable.add
    natives = differentiable_natives
    for node in nodes:
        for x in node.inputs:
            if id(x) in reachable:
                outputs = node.outputs
                if outputs.__class__ is Tensor:
                    native = outputs._value.dtype
                    differentiable = natives.get(native)
                    if differentiable is None:
                        differentiable = natives[native] = outputs.dtype.is_differentiable
                    if differentiable:
                        add(id(outputs))
                    break
                for o in (outputs if isinstance(outputs, tuple) else (outputs,)):
                    if o.dtype.is_differentiable:
                        add(id(o))
                break
    return reachable


def _output_grads(outputs, grads):
    """A multi-output node's cotangents (a tuple), or None if all are zero."""
    found = [grads.get(id(o)) for o in outputs]
    if all(g is None for g in found):
        return None
    return tuple(array.zeros_like(o) if g is None and o.dtype.is_differentiable else g
                 for o, g in zip(outputs, found))


def sum_to_shape(grad, like):
    """Sums a broadcast cotangent back to the shape of `like` (the one un-broadcasting rule)."""
    shape = None
    if grad.__class__ is Tensor:
        # Eager (every node of an eager tape): a plain Tensor's or a Variable's shape (of a
        # fully known static shape) is its raw array's, read as a tuple without building
        # TensorShapes; one native dtype is one DType.
        cls = like.__class__
        if cls is Tensor:
            shape = like._value.shape
        elif isinstance(like, Variable):
            dims = like._shape._dims
            if dims is not None and None not in dims:
                shape = like._value.shape
    if shape is not None:
        value = grad._value
        grad_shape = value.shape
        native = like._value.dtype
        if grad_shape == shape:
            return grad if value.dtype is native else _match_dtype(grad, like)
        lead = len(grad_shape) - len(shape)
        if lead > 0 and grad_shape[lead:] == shape:
            # Only leading axes to sum (a bias's gradient, a scalar's): the general path's
            # sum, over the same axes, without its reshape and shape checks.
            grad = reduction.reduce_sum(grad, axis=list(range(lead)), keepdims=False)
            if grad.__class__ is Tensor and grad._value.dtype is native:
                return grad
            return _match_dtype(grad, like)
    else:
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
