"""The op library: one module per public namespace, each op's primitive beside its function."""

from tensorflux import tensor as _tensor
from tensorflux.ops import (  # noqa: F401 - load all ops
    array,
    linalg,
    logging,
    math,
    nn,
    random,
    reduction,
)

# Tensor's operator overloads forward to these modules.
_tensor._array, _tensor._linalg, _tensor._math = array, linalg, math

# The commonest overloads are the op functions themselves: each takes (x, y, name=None), so
# `a + b` runs tf.add without a forwarding frame (a tenth of a small op's eager cost).
for _method, _op in (("__add__", math.add), ("__sub__", math.subtract),
                     ("__mul__", math.multiply), ("__truediv__", math.truediv),
                     ("__matmul__", linalg.matmul)):
    setattr(_tensor._TensorLike, _method, _op)
del _method, _op
