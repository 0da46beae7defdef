"""tf.gradients: symbolic gradients inside a traced function, by the one backward walker."""

from tensorflux.autodiff.backward import UnconnectedGradients, backward
from tensorflux.autodiff.tape import _unconnected
from tensorflux.context import context
from tensorflux.graph.ir import SymbolicTensor
from tensorflux.ops import array
from tensorflux.tensor import Tensor

__all__ = ["gradients"]


def gradients(ys, xs, grad_ys=None, name="gradients", gate_gradients=False,
              aggregation_method=None, stop_gradients=None,
              unconnected_gradients=UnconnectedGradients.NONE):
    """d(sum of ys)/d(x) for each x in xs, as new nodes of the graph being traced.

    Only inside a tf.function; eagerly, use tf.GradientTape.

    >>> import tensorflux as tf
    >>> from tensorflux.graph.gradients import gradients
    >>> @tf.function
    ... def f(x):
    ...     return gradients(x * x, x)[0]
    >>> float(f(tf.constant(3.0)))
    6.0
    """
    graph = context.graph
    if graph is None:
        raise RuntimeError("tf.gradients is not supported when eager execution is enabled. "
                           "Use tf.GradientTape instead.")
    unconnected = _unconnected(unconnected_gradients)
    ys = [_in_graph(graph, y) for y in _as_list(ys)]
    xs_given = _as_list(xs)
    xs = [_in_graph(graph, x) for x in xs_given]
    if grad_ys is None:
        seeds = [None] * len(ys)
    else:
        seeds = _as_list(grad_ys)
        if len(seeds) != len(ys):
            raise ValueError(f"gradients: grad_ys has {len(seeds)} tensors but ys has "
                             f"{len(ys)}")
    seeds = [array.ones_like(y) if g is None else g for y, g in zip(ys, seeds)]
    nodes = list(graph.nodes)
    if stop_gradients is not None:
        # A stopped tensor passes no gradient back: leave out the nodes that produce it.
        stopped = {id(_in_graph(graph, t)) for t in _as_list(stop_gradients)}
        nodes = [n for n in nodes if not any(id(o) in stopped for o in n.output_list())]
    grads = backward(nodes, ys, seeds, xs, unconnected)
    return [None if not x.dtype.is_differentiable else g for x, g in zip(xs_given, grads)]


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _in_graph(graph, tensor):
    """The tensor as the traced graph's nodes see it: a capture placeholder stands for an
    outer graph's tensor, a const node for an eager tensor."""
    if isinstance(tensor, SymbolicTensor) and tensor.node.graph is not graph:
        entry = graph.captures.get(id(tensor))
        return entry[1] if entry is not None else tensor
    if type(tensor) is Tensor:
        entry = graph._constants.get(id(tensor))
        return entry[1] if entry is not None else tensor
    return tensor
