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
