"""tf.linalg: matrix products and decompositions."""

from tensorflux.ops.array import (
    eye,
)
from tensorflux.ops.composite import global_norm
from tensorflux.ops.linalg import (
    adjoint,
    band_part,
    cholesky,
    cholesky_solve,
    cross,
    det,
    diag,
    diag_part,
    eigh,
    eigvalsh,
    einsum,
    expm,
    inv,
    logdet,
    lstsq,
    matmul,
    matrix_transpose,
    matvec,
    norm,
    pinv,
    qr,
    set_diag,
    slogdet,
    solve,
    svd,
    tensordot,
    trace,
    triangular_solve,
)

__all__ = [
    "adjoint", "band_part", "cholesky", "cholesky_solve", "cross", "det", "diag", "diag_part",
    "eigh", "eigvalsh", "einsum", "expm", "eye", "global_norm", "inv", "logdet", "lstsq",
    "matmul",
    "matrix_transpose", "matvec", "norm", "pinv", "qr", "set_diag", "slogdet", "solve", "svd",
    "tensordot", "trace", "triangular_solve",
]

# tf.linalg.transpose swaps the last two axes, unlike tf.transpose.
transpose = matrix_transpose
__all__.append("transpose")
