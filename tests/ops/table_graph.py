"""Op-table rows for graph-only primitives with kernels: fused_elementwise (graph/passes.py).

Fusion builds these programs from traced graphs; here they are written by hand so that the
generic forward and shape-rule checks run the kernel directly, in float32 and float64.
"""

import numpy as np

import tensorflux as tf
from tensorflux.graph.passes import fused_elementwise_primitive
from tests.ops.harness import Row, uniform


def _fused(program, *tensors):
    """Binds fused_elementwise; `program` lists (kernel, registers, attrs, dtype or None),
    None standing for the inputs' dtype."""
    dtype = tensors[0].dtype
    filled = tuple((name, refs, attrs, dtype if d is None else d)
                   for name, refs, attrs, d in program)
    return fused_elementwise_primitive.bind(*tensors, program=filled)


# sigmoid(x * y + x) - exp(-y): a chain whose temporaries are all one shape (buffer reuse).
_CHAIN = (("multiply", (0, 1), (), None), ("add", (2, 0), (), None),
          ("sigmoid", (3,), (), None), ("negative", (1,), (), None), ("exp", (5,), (), None),
          ("subtract", (4, 6), (), None))


def _chain_ref(x, y):
    return 1 / (1 + np.exp(-(x * y + x))) - np.exp(-y)


# where(x > 0, relu(x) * 2, y) with y broadcast along rows: a bool temporary and broadcasting.
_SELECT = (("greater", (0, 2), (), tf.bool), ("relu", (0,), (), None),
           ("multiply", (5, 3), (), None), ("select", (4, 6, 1), (), None))


def _select_ref(x, y, zero, two):
    return np.where(x > zero, np.maximum(x, 0) * two, y)


def _select_fn(x, y):
    zero = tf.zeros([], x.dtype)
    two = tf.constant(2, x.dtype)
    return _fused(_SELECT, x, y, zero, two)


ROWS = [
    Row("fused_elementwise_chain", lambda x, y: _fused(_CHAIN, x, y), _chain_ref,
        uniform((2, 3), (2, 3)), grad=()),
    Row("fused_elementwise_select_broadcast", _select_fn,
        lambda x, y: _select_ref(x, y, 0.0, 2.0), uniform((2, 3), (3,)), grad=()),
]
