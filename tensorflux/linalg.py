"""tf.linalg: matrix products and decompositions."""

from tensorflux.ops.array import (
    eye,
)
from tensorflux.ops.linalg import (
    adjoint,
    det,
    diag,
    diag_part,
    einsum,
    inv,
    matmul,
    matrix_transpose,
    norm,
    tensordot,
    trace,
)

__all__ = [
    "adjoint", "det", "diag", "diag_part", "einsum", "eye", "inv", "matmul", "matrix_transpose",
    "norm", "tensordot", "trace",
]

# tf.linalg.transpose swaps the last two axes, unlike tf.transpose.
transpose = matrix_transpose
__all__.append("transpose")
