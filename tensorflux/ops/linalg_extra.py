"""More of tf.linalg: the LU factorization (a primitive) and solves on it, matrix square
roots and logarithms, rank, normalization, tensor diagonals and tridiagonal systems.

All but lu are composites of existing ops, so their gradients come from those ops'.
"""

from collections import namedtuple

from tensorflux import dtypes, errors
from tensorflux.ops import array, indexing, linalg, math, reduction
from tensorflux.ops._core import as_operand, aval
from tensorflux.primitive import Primitive
from tensorflux.tensor import convert_to_tensor

__all__ = ["eig", "eigvals", "lu", "lu_solve", "lu_reconstruct", "lu_matrix_inverse", "sqrtm",
           "logm",
           "matrix_rank", "normalize", "tensor_diag", "tensor_diag_part", "tridiagonal_solve",
           "tridiagonal_matmul", "matrix_square_root", "banded_triangular_solve"]

Lu = namedtuple("Lu", ["lu", "p"])

# Iterations of the scaled Denman-Beavers square root: from any matrix it converges in fewer
# (quadratically, once determinant scaling has brought its eigenvalues near 1); the rest
# leave the result unchanged.
_SQRT_ITERATIONS = 24


def _square(op, x, allowed=("is_floating", "is_complex")):
    x = as_operand(op, x)
    if not any(getattr(x.dtype, a) for a in allowed) or x.shape.rank is None \
            or x.shape.rank < 2 or x.shape[-1] != x.shape[-2] or x.shape[-1] is None:
        kinds = " or ".join(a.replace("is_", "") for a in allowed)
        raise errors.InvalidArgumentError(
            f"{op}: expected square {kinds} matrices [..., M, M], received "
            f"{x.dtype.name} with shape {tuple(x.shape)}", op)
    return x


def _factors(lower_upper):
    """L (unit diagonal) and U from a packed LU factorization."""
    ones = array.ones_like(linalg.diag_part(lower_upper))
    lower = linalg.set_diag(linalg.band_part(lower_upper, -1, 0), ones)
    return lower, linalg.band_part(lower_upper, 0, -1)


def _rows_at(x, perm):
    """x[..., perm, :], for one permutation per matrix of the batch."""
    batch = x.shape.rank - 2
    return indexing.gather(x, perm, axis=batch, batch_dims=batch)


def _strictly_lower(x):
    return linalg.band_part(x, -1, 0) - linalg.band_part(x, 0, 0)


def _lu_vjp(g, x, out, output_idx_type):
    # With F = L^-1 dA[p] U^-1: dL = L tril(F, -1) and dU = triu(F) U, so the cotangent of
    # A[p] is L^-H (tril(L^H gL, -1) + triu(gU U^H)) U^-H, moved back to A's row order.
    g_lu, _ = g
    lower_upper, perm = out
    lower, upper = _factors(lower_upper)
    middle = (_strictly_lower(linalg.matmul(lower, _strictly_lower(g_lu), adjoint_a=True))
              + linalg.band_part(linalg.matmul(linalg.band_part(g_lu, 0, -1), upper,
                                               adjoint_b=True), 0, -1))
    left = linalg.triangular_solve(lower, middle, lower=True, adjoint=True)
    permuted = linalg.adjoint(linalg.triangular_solve(upper, linalg.adjoint(left), lower=False))
    return (_rows_at(permuted, array.argsort(perm, axis=-1)),)


# lu: partial-pivoting LU in one kernel (a loop over columns on the whole batch); its VJP
# is the triangular-solve formula above.
_lu = Primitive("lu", vjp=_lu_vjp, multiple_results=True,
                shape_rule=lambda x, output_idx_type: (
                    aval(x.shape, x.dtype), aval(list(x.shape)[:-1], output_idx_type)))


def _complex_dtype(dtype):
    return dtypes.complex64 if dtype in (dtypes.float32, dtypes.complex64) else \
        dtypes.complex128


def _eig_rule(x, compute_v):
    dtype = _complex_dtype(x.dtype)
    e = aval(list(x.shape)[:-1], dtype)
    return (e, aval(x.shape, dtype)) if compute_v else (e,)


def _eig_vjp(g, x, out, compute_v):
    # A = V diag(e) V^-1. With W = V^H and F[i, j] = 1 / (e_j - e_i) (0 on the diagonal):
    # the cotangent is W^-1 (diag(ge) + conj(F) * (W gV - W V diag(Re diag(W gV)))) W.
    # Vectors are unit-norm, so only the phase-free part of gV counts (the diag term).
    if compute_v:
        (grad_e, grad_v), (e, v) = g, out
    else:
        grad_e, grad_v = g[0], None
        e, v = _eig.bind(x, compute_v=True)
    w = linalg.adjoint(v)
    middle = array.zeros_like(v) if grad_e is None else linalg.diag(grad_e)
    if grad_v is not None:
        wgv = linalg.matmul(w, grad_v)
        kept = linalg.diag(math.cast(math.real(linalg.diag_part(wgv)), v.dtype))
        gaps = math.conj(linalg._gap_reciprocal(e))
        middle = middle + gaps * (wgv - linalg.matmul(linalg.matmul(w, v), kept))
    grad = linalg.solve(w, linalg.matmul(middle, w))
    return (grad if x.dtype.is_complex else math.real(grad),)


# eig: eigenvalues and unit-norm eigenvector columns of general square matrices, complex.
_eig = Primitive("eig", vjp=_eig_vjp, shape_rule=_eig_rule, multiple_results=True)


def eig(tensor, name=None):
    """(eigenvalues, eigenvectors) of each square matrix of a [..., N, N] tensor, complex
    (complex64 for float32 input); eigenvectors are unit-norm columns, in no set order.
    Gradients assume distinct eigenvalues, as TensorFlow's.

    >>> import tensorflux as tf
    >>> e, v = tf.linalg.eig([[0.0, 1.0], [-1.0, 0.0]])
    >>> sorted(e.numpy().imag.tolist())
    [-1.0, 1.0]
    """
    return _eig.bind(_square("eig", tensor), compute_v=True)


def eigvals(tensor, name=None):
    """The eigenvalues of each square matrix of a [..., N, N] tensor, complex.

    >>> import tensorflux as tf
    >>> tf.linalg.eigvals([[2.0, 0.0], [0.0, 3.0]]).numpy().real.tolist()
    [2.0, 3.0]
    """
    return _eig.bind(_square("eigvals", tensor), compute_v=False)[0]


def lu(input, output_idx_type=dtypes.int32, name=None):  # noqa: A002 - TensorFlow's name
    """The LU factorization with partial pivoting of square matrices: (lu, p) with
    input[..., p, :] = L U, L unit lower triangular (below lu's diagonal) and U upper
    triangular (on and above it).

    >>> import tensorflux as tf
    >>> lower_upper, p = tf.linalg.lu([[1.0, 2.0], [3.0, 4.0]])
    >>> p.numpy().tolist()
    [1, 0]
    """
    x = _square("lu", input)
    index = dtypes.as_dtype(output_idx_type)
    if index not in (dtypes.int32, dtypes.int64):
        raise errors.InvalidArgumentError(
            f"lu: output_idx_type must be int32 or int64, received {index.name}", "lu")
    return Lu(*_lu.bind(x, output_idx_type=index))


def lu_solve(lower_upper, perm, rhs, validate_args=False, name=None):
    """The solution X of A X = rhs, from A's LU factorization (lu, p).

    >>> import tensorflux as tf
    >>> a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    >>> tf.linalg.lu_solve(*tf.linalg.lu(a), [[5.0], [11.0]]).numpy().round(4).tolist()
    [[1.0], [2.0]]
    """
    lower_upper = _square("lu_solve", lower_upper)
    rhs = as_operand("lu_solve", rhs, lower_upper.dtype)
    lower, upper = _factors(lower_upper)
    y = linalg.triangular_solve(lower, _rows_at(rhs, perm), lower=True)
    return linalg.triangular_solve(upper, y, lower=False)


def lu_matrix_inverse(lower_upper, perm, validate_args=False, name=None):
    """The inverse of A from its LU factorization (lu, p).

    >>> import tensorflux as tf
    >>> a = tf.constant([[2.0, 0.0], [0.0, 4.0]])
    >>> tf.linalg.lu_matrix_inverse(*tf.linalg.lu(a)).numpy().tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    lower_upper = _square("lu_matrix_inverse", lower_upper)
    n = lower_upper.shape[-1]
    eye = array.eye(n, batch_shape=list(lower_upper.shape[:-2]), dtype=lower_upper.dtype)
    return lu_solve(lower_upper, perm, eye)


def lu_reconstruct(lower_upper, perm, validate_args=False, name=None):
    """A from its LU factorization (lu, p): L U with the rows put back in A's order.

    >>> import tensorflux as tf
    >>> a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    >>> tf.linalg.lu_reconstruct(*tf.linalg.lu(a)).numpy().tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    lower_upper = _square("lu_reconstruct", lower_upper)
    lower, upper = _factors(lower_upper)
    return _rows_at(linalg.matmul(lower, upper), array.argsort(perm, axis=-1))


# ------------------------------------------------------------------ square root and logarithm

def _frobenius(x):
    magnitude = math.abs(x) if x.dtype.is_complex else x
    return math.sqrt(reduction.reduce_sum(math.square(magnitude), axis=[-2, -1]))


def _denman_beavers(x):
    """The principal square root of x by scaled Denman-Beavers iterations: Y -> A^1/2 and
    Z -> A^-1/2, each step the mean of one scaled and the other's inverse. The scale
    |det Y det Z|^(-1/2n) is held constant for gradients: with any scales the iteration keeps
    Y = A Z and converges to the same root, so the derivative of the result is the root's."""
    n = x.shape[-1]
    y = x
    z = array.eye(n, batch_shape=list(x.shape[:-2]), dtype=x.dtype)
    for _ in range(_SQRT_ITERATIONS):
        product = math.abs(linalg.det(y) * linalg.det(z))
        scale = array.stop_gradient(math.pow(product, -0.5 / n))
        scale = array.reshape(math.cast(scale, x.dtype), list(scale.shape) + [1, 1])
        y, z = ((scale * y + linalg.inv(z) / scale) * 0.5,
                (scale * z + linalg.inv(y) / scale) * 0.5)
    return y


def sqrtm(input, name=None):  # noqa: A002 - TensorFlow's argument name
    """The principal square root of square matrices: sqrtm(A) @ sqrtm(A) == A. NaN where a
    real matrix has no real root (a negative real eigenvalue).

    >>> import tensorflux as tf
    >>> tf.linalg.sqrtm([[4.0, 0.0], [0.0, 9.0]]).numpy().round(4).tolist()
    [[2.0, 0.0], [0.0, 3.0]]
    """
    x = _square("sqrtm", input)
    root = _denman_beavers(x)
    # The iteration settles on no root where there is none; report that as TF does, NaN.
    residual = _frobenius(linalg.matmul(root, root) - x) / (_frobenius(x) + 1e-30)
    tolerance = 1e-3 if x.dtype in (dtypes.float32, dtypes.complex64, dtypes.float16) else 1e-7
    failed = array.reshape(math.greater(residual, tolerance), list(residual.shape) + [1, 1])
    nan = math.cast(as_operand("sqrtm", float("nan"), x.dtype.real_dtype), x.dtype)
    return math.where(failed, array.zeros_like(root) + nan, root)


# TensorFlow's top-level name for sqrtm.
matrix_square_root = sqrtm


def logm(input, name=None):  # noqa: A002
    """The principal logarithm of complex square matrices (TensorFlow defines it for complex
    dtypes only): expm(logm(A)) == A. Inverse scaling and squaring: square roots until the
    matrix is near I, then the series 2 atanh((R - I)(R + I)^-1).

    >>> import tensorflux as tf
    >>> a = tf.constant([[1.0 + 0j, 0.0], [0.0, 2.718281828459045]], tf.complex128)
    >>> tf.math.real(tf.linalg.logm(a)).numpy().round(6).tolist()
    [[0.0, 0.0], [0.0, 1.0]]
    """
    x = _square("logm", input, allowed=("is_complex",))
    n = x.shape[-1]
    eye = array.eye(n, batch_shape=list(x.shape[:-2]), dtype=x.dtype)
    roots = 0
    # Square roots until every matrix is within 0.25 of I (Frobenius): known when eager; a
    # traced function takes a fixed 10.
    while roots < 40:
        if x._value is None:
            if roots == 10:
                break
        elif float(reduction.reduce_max(_frobenius(x - eye))) < 0.25:
            break
        x = sqrtm(x)
        roots += 1
    s = linalg.matmul(x - eye, linalg.inv(x + eye))
    s2 = linalg.matmul(s, s)
    total, power = s, s
    for k in range(3, 40, 2):
        power = linalg.matmul(power, s2)
        total = total + power / math.cast(float(k), x.dtype)
    return total * math.cast(float(2 ** (roots + 1)), x.dtype)


# ------------------------------------------------------------------ rank, norms, diagonals

def matrix_rank(a, tol=None, validate_args=False, name=None):
    """The number of singular values above tol (default: the largest times max(M, N) times
    the dtype's epsilon), as int32.

    >>> import tensorflux as tf
    >>> int(tf.linalg.matrix_rank([[1.0, 2.0], [2.0, 4.0]]))
    1
    """
    a = as_operand("matrix_rank", a)
    if a.shape.rank is None or a.shape.rank < 2:
        raise errors.InvalidArgumentError(
            f"matrix_rank: expected matrices [..., M, N], received shape {tuple(a.shape)}",
            "matrix_rank")
    values = linalg.svd(a, compute_uv=False)
    if tol is None:
        eps = {"float16": 2.0 ** -10, "float32": 2.0 ** -23}.get(values.dtype.name, 2.0 ** -52)
        largest = reduction.reduce_max(values, axis=-1, keepdims=True)
        tol = largest * (eps * max(a.shape[-1], a.shape[-2]))
    else:
        tol = as_operand("matrix_rank", tol, values.dtype)
    return reduction.reduce_sum(math.cast(math.greater(values, tol), dtypes.int32), axis=-1)


def normalize(tensor, ord="euclidean", axis=None, name=None):  # noqa: A002 - TF's names
    """(tensor / norm, norm), the norm taken over axis with its dims kept.

    >>> import tensorflux as tf
    >>> unit, norm = tf.linalg.normalize([3.0, 4.0])
    >>> unit.numpy().tolist(), norm.numpy().tolist()
    ([0.6000000238418579, 0.800000011920929], [5.0])
    """
    x = as_operand("normalize", tensor)
    norm = linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    return x / norm, norm


def tensor_diag(diagonal, name=None):
    """A tensor of shape S + S (S: diagonal's shape) with diagonal[i...] at [i..., i...] and
    zeros elsewhere.

    >>> import tensorflux as tf
    >>> tf.linalg.tensor_diag([1.0, 2.0]).numpy().tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    d = as_operand("tensor_diag", diagonal)
    dims = list(d.shape)
    if None in dims or not dims:
        raise errors.InvalidArgumentError(
            f"tensor_diag: expected a tensor of known shape and rank >= 1, received "
            f"{tuple(d.shape)}", "tensor_diag")
    return array.reshape(linalg.diag(array.reshape(d, [-1])), dims + dims)


def tensor_diag_part(input, name=None):  # noqa: A002
    """The inverse of tensor_diag: from a tensor of shape S + S, the entries at [i..., i...].

    >>> import tensorflux as tf
    >>> tf.linalg.tensor_diag_part([[1.0, 5.0], [6.0, 2.0]]).numpy().tolist()
    [1.0, 2.0]
    """
    x = as_operand("tensor_diag_part", input)
    dims = list(x.shape)
    half = len(dims) // 2
    if len(dims) % 2 or not dims or None in dims or dims[:half] != dims[half:]:
        raise errors.InvalidArgumentError(
            f"tensor_diag_part: expected a shape S + S, received {tuple(x.shape)}",
            "tensor_diag_part")
    size = 1
    for d in dims[:half]:
        size *= d
    return array.reshape(linalg.diag_part(array.reshape(x, [size, size])), dims[:half])


# ------------------------------------------------------------------ tridiagonal systems

def _three_diagonals(op, diagonals, diagonals_format):
    """(superdiagonal, main diagonal, subdiagonal), each [..., M]: superdiagonal[i] is
    A[i, i + 1] (the last is unused), subdiagonal[i] is A[i, i - 1] (the first is unused)."""
    if diagonals_format == "sequence":
        if not isinstance(diagonals, (list, tuple)) or len(diagonals) != 3:
            raise errors.InvalidArgumentError(
                f"{op}: the 'sequence' format takes a list of three [..., M] tensors "
                "(superdiagonal, diagonal, subdiagonal)", op)
        main = as_operand(op, diagonals[1])
        return [as_operand(op, diagonals[0], main.dtype), main,
                as_operand(op, diagonals[2], main.dtype)]
    d = as_operand(op, diagonals)
    if diagonals_format == "compact":
        if d.shape.rank is None or d.shape.rank < 2 or d.shape[-2] != 3:
            raise errors.InvalidArgumentError(
                f"{op}: the 'compact' format takes a [..., 3, M] tensor, received shape "
                f"{tuple(d.shape)}", op)
        return [d[..., 0, :], d[..., 1, :], d[..., 2, :]]
    if diagonals_format == "matrix":
        zero = array.zeros_like(d[..., :1, 0])
        return [array.concat([linalg.diag_part(d, k=1), zero], -1), linalg.diag_part(d),
                array.concat([zero, linalg.diag_part(d, k=-1)], -1)]
    raise errors.InvalidArgumentError(
        f"{op}: diagonals_format must be 'compact', 'sequence' or 'matrix', received "
        f"{diagonals_format!r}", op)


def tridiagonal_matmul(diagonals, rhs, diagonals_format="compact", name=None):
    """A @ rhs for the tridiagonal matrices A given by their diagonals, in O(M) per column.

    >>> import tensorflux as tf
    >>> tf.linalg.tridiagonal_matmul([[2.0, 3.0, 0.0], [1.0, 4.0, 5.0], [0.0, 1.0, 2.0]],
    ...                              [[1.0], [2.0], [3.0]]).numpy().tolist()
    [[5.0], [18.0], [19.0]]
    """
    op = "tridiagonal_matmul"
    upper, main, lower = _three_diagonals(op, diagonals, diagonals_format)
    x = as_operand(op, rhs, main.dtype)
    column = [-1 if d is None else d for d in main.shape] + [1]
    upper, main, lower = (array.reshape(v, column) for v in (upper, main, lower))
    zero = array.zeros_like(x[..., :1, :])
    below = array.concat([x[..., 1:, :], zero], -2)
    above = array.concat([zero, x[..., :-1, :]], -2)
    return main * x + upper * below + lower * above


def banded_triangular_solve(bands, rhs, lower=True, adjoint=False, name=None):
    """Solves triangular systems given by their K bands [..., K, M] against rhs [..., M, N].

    As TensorFlow, the diagonal is the first band row when lower (subdiagonals padded on the
    left) and the last when not (superdiagonals padded on the right).

    >>> from tensorflux.ops.linalg_extra import banded_triangular_solve
    >>> bands = [[1.0, 2.0, 3.0], [0.0, 5.0, 6.0]]  # diagonal, then the subdiagonal
    >>> banded_triangular_solve(bands, [[1.0], [2.0], [3.0]]).numpy().ravel().tolist()
    [1.0, -1.5, 4.0]
    """
    op = "banded_triangular_solve"
    bands = as_operand(op, bands)
    rhs = as_operand(op, rhs, bands.dtype)
    if bands.shape.rank is None or bands.shape.rank < 2 or None in bands.shape[-2:]:
        raise errors.InvalidArgumentError(
            f"{op}: bands must have a known shape [..., K, M], received shape "
            f"{tuple(bands.shape)}", op)
    k, m = bands.shape[-2], bands.shape[-1]
    if k > m:
        raise errors.InvalidArgumentError(
            f"{op}: at most M={m} bands fit an M x M matrix, received {k} bands", op)
    matrix = None
    for row in range(k):
        offset = row if lower else k - 1 - row
        values = bands[..., row, offset:] if lower else bands[..., row, :m - offset]
        band = linalg.diag(values, k=-offset if lower else offset, num_rows=m, num_cols=m)
        matrix = band if matrix is None else matrix + band
    return linalg.triangular_solve(matrix, rhs, lower=lower, adjoint=adjoint)


def tridiagonal_solve(diagonals, rhs, diagonals_format="compact", transpose_rhs=False,
                      conjugate_rhs=False, name=None, partial_pivoting=True,
                      perturb_singular=False):
    """The solution X of A X = rhs for tridiagonal A given by its diagonals; rhs is [..., M]
    or [..., M, K] ([..., K, M] with transpose_rhs).

    >>> import tensorflux as tf
    >>> tf.linalg.tridiagonal_solve([[2.0, 3.0, 0.0], [1.0, 4.0, 5.0], [0.0, 1.0, 2.0]],
    ...                             [1.0, 2.0, 3.0]).numpy().round(4).tolist()
    [3.0, -1.0, 1.0]

    By default the solve is a dense pivoted solve; eagerly, a singular matrix then gets
    TF's pivoted elimination, whose zero pivot gives NaN throughout as TF's (inside a
    tf.function a singular matrix is an InvalidArgumentError). partial_pivoting=False runs
    TF's Thomas algorithm (NaN throughout where it meets a zero pivot, as TF) and
    perturb_singular=True TF's pivoted LU that nudges tiny pivots (a singular matrix gives a
    large finite answer, TF's numbers): on the host (see ops/_tridiagonal.py), without a
    gradient.
    """
    op = "tridiagonal_solve"
    if perturb_singular and not partial_pivoting:
        raise ValueError(f"{op}: partial_pivoting must be True if perturb_singular is")
    upper, main, lower = _three_diagonals(op, diagonals, diagonals_format)
    matrix = (linalg.diag(main) + linalg.diag(upper[..., :-1], k=1)
              + linalg.diag(lower[..., 1:], k=-1))
    x = as_operand(op, rhs, main.dtype)
    vector = x.shape.rank == main.shape.rank
    if vector:
        x = array.expand_dims(x, -1)
    elif transpose_rhs:
        x = linalg.matrix_transpose(x)
    if conjugate_rhs:
        x = math.conj(x)
    if perturb_singular or not partial_pivoting:
        method = "perturb" if perturb_singular else "thomas"
        out = _host_tridiagonal_solve(upper, main, lower, x, method)
    else:
        try:
            out = linalg.solve(matrix, x)
        except errors.InvalidArgumentError as error:
            if "ingular" not in str(error) or not all(
                    t._value is not None for t in (upper, main, lower, x)):
                raise
            out = _host_tridiagonal_solve(upper, main, lower, x, "pivot")  # singular: NaN
    return out[..., 0] if vector else out


def _host_tridiagonal_solve(upper, main, lower, x, method):
    """TF's Thomas or perturbed solve of each system, on the host (eagerly, or each time a
    traced function runs); the result has x's shape and dtype."""
    from tensorflux.control import py_function
    from tensorflux.ops import _tridiagonal

    dtype = main.dtype
    real = dtype.real_dtype.name

    def solve(upper, main, lower, x):
        found = _tridiagonal.solve_batch(upper.numpy().tolist(), main.numpy().tolist(),
                                         lower.numpy().tolist(), x.numpy().tolist(), real,
                                         method)
        return array.reshape(convert_to_tensor(found, dtype=dtype), array.shape(x))

    out = py_function(solve, [upper, main, lower, x], Tout=dtype)
    out.set_shape(x.shape)
    return out
