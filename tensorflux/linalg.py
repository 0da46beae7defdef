"""tf.linalg: matrix products and decompositions."""

from tensorflux.ops._lazy import lazy_attributes
from tensorflux.ops.array import (
    eye,
)
from tensorflux.ops.composite import global_norm, l2_normalize
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
    "tensordot", "trace", "triangular_solve", "l2_normalize",
]

# tf.linalg.transpose swaps the last two axes, unlike tf.transpose.
transpose = matrix_transpose
__all__.append("transpose")

# Names whose module loads on first use, so that `import tensorflux` stays fast.
_LAZY = {name: "tensorflux.ops.linalg_extra" for name in (
    "banded_triangular_solve", "eig", "eigvals", "logm", "lu", "lu_matrix_inverse",
    "lu_reconstruct", "lu_solve",
    "matrix_rank", "normalize",
    "sqrtm", "tensor_diag", "tensor_diag_part", "tridiagonal_matmul", "tridiagonal_solve")}
__all__ += sorted(_LAZY)
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
