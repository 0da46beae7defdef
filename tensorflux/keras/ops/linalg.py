"""keras.ops.linalg: determinants, inverses, norms, decompositions (Cholesky, eig, eigh, LU,
QR, SVD), solves, least squares, pseudo-inverses, ranks and forward-mode Jacobian products,
with Keras's (torch.linalg's) output conventions over tf.linalg's kernels."""

import tensorflux as tf
from tensorflux import nest
from tensorflux.keras.ops._dispatch import (
    convert,
    float_operand,
    keras_op,
    result_type,
    static_shape,
)

__all__ = ["cholesky", "cholesky_inverse", "det", "eig", "eigh", "inv", "jvp", "lstsq", "lu_factor",
           "matrix_rank", "norm", "pinv", "qr", "solve", "solve_triangular", "svd"]


def _matrices(x, op, square=True):
    """x as float matrices (..., M, N), checked to be square when `square`."""
    x = float_operand(x)
    shape = static_shape(x)
    if len(shape) < 2:
        raise ValueError(f"{op}: expected a tensor of rank >= 2 (matrices (..., M, N)), "
                         f"received shape {shape}")
    if square and shape[-1] != shape[-2]:
        raise ValueError(f"{op}: expected square matrices (..., M, M), received shape {shape}")
    return x


def _eps(dtype):
    return {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7, "float32": 2.0 ** -23}.get(
        dtype.name, 2.0 ** -52)


@keras_op
def det(x):
    return tf.linalg.det(float_operand(x))


@keras_op
def inv(x):
    return tf.linalg.inv(float_operand(x))


@keras_op
def cholesky(x, upper=False):
    """The Cholesky factor of each Hermitian positive-definite matrix: lower L with
    x = L L^H, or (upper=True) U = L^H with x = U^H U.

    >>> from tensorflux.keras import ops
    >>> ops.cholesky([[4.0, 2.0], [2.0, 5.0]]).numpy().tolist()
    [[2.0, 0.0], [1.0, 2.0]]
    """
    factor = tf.linalg.cholesky(_matrices(x, "cholesky"))
    return tf.linalg.adjoint(factor) if upper else factor


@keras_op
def cholesky_inverse(x, upper=False):
    """The inverse of A from its Cholesky factor x (lower, or upper when `upper`), as
    torch.cholesky_inverse: only the factor's triangle is read.

    >>> from tensorflux.keras import ops
    >>> ops.cholesky_inverse([[2.0, 0.0], [0.0, 4.0]]).numpy().tolist()
    [[0.25, 0.0], [0.0, 0.0625]]
    """
    factor = _matrices(x, "cholesky_inverse")
    if upper:
        factor = tf.linalg.adjoint(factor)
    identity = tf.eye(static_shape(factor)[-1], dtype=factor.dtype)
    factor_inverse = tf.linalg.triangular_solve(factor, identity, lower=True)
    return tf.matmul(factor_inverse, factor_inverse, adjoint_a=True)


@keras_op
def eig(x):
    """(eigenvalues, eigenvector columns) of each square matrix, complex (complex64 for
    float32): NumPy's LAPACK solver, so unit-norm vectors in NumPy's order.

    >>> from tensorflux.keras import ops
    >>> values, vectors = ops.eig([[2.0, 0.0], [0.0, 3.0]])
    >>> values.numpy().tolist(), values.dtype.name
    ([(2+0j), (3+0j)], 'complex64')
    """
    return tf.linalg.eig(_matrices(x, "eig"))


@keras_op
def eigh(x):
    """(ascending eigenvalues, eigenvector columns) of each Hermitian matrix."""
    return tf.linalg.eigh(_matrices(x, "eigh"))


@keras_op
def lu_factor(x):
    """(lu, pivots): the LU factorization with partial pivoting of each (..., M, N) matrix,
    as LAPACK's getrf: lu holds U and, below the diagonal, L's multipliers (L's unit
    diagonal implied); at step i row i was swapped with row pivots[i] (0-based int32).

    >>> from tensorflux.keras import ops
    >>> lu, pivots = ops.lu_factor([[1.0, 2.0], [3.0, 4.0]])
    >>> [[round(v, 4) for v in row] for row in lu.numpy().tolist()], pivots.numpy().tolist()
    ([[3.0, 4.0], [0.3333, 0.6667]], [1, 1])
    """
    lu = _matrices(x, "lu_factor", square=False)
    *batch, rows, columns = static_shape(lu)
    index = tf.range(rows)
    pivots = []
    for j in range(min(rows, columns)):
        pivot = tf.argmax(tf.abs(lu[..., j:, j]), axis=-1, output_type="int32") + j
        pivots.append(pivot)
        pivot = pivot[..., None]
        order = tf.where(index == j, pivot, tf.where(index == pivot, j, index))
        lu = tf.gather(lu, order, axis=-2, batch_dims=len(batch))
        head = lu[..., j:j + 1, j:j + 1]
        # A zero pivot means a zero column below it: LAPACK leaves it unscaled.
        multipliers = lu[..., j + 1:, j:j + 1] / tf.where(head == 0, tf.ones_like(head), head)
        trailing = lu[..., j + 1:, j + 1:] - multipliers * lu[..., j:j + 1, j + 1:]
        lower = tf.concat([lu[..., j + 1:, :j], multipliers, trailing], axis=-1)
        lu = tf.concat([lu[..., :j + 1, :], lower], axis=-2)
    if not pivots:
        return lu, tf.zeros(batch + [0], dtype="int32")
    return lu, tf.stack(pivots, axis=-1)


@keras_op
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's argument name
    """NumPy's norm: the 2-norm of the flattened x by default, a vector norm over one axis
    (any real ord, 0 counting non-zeros), a matrix norm over two ("fro", "nuc", +-1, +-2,
    +-inf).

    >>> from tensorflux.keras import ops
    >>> float(ops.norm([3.0, 4.0]))
    5.0
    """
    x = float_operand(x)
    rank = len(x.shape)
    if axis is None:
        if ord is None or rank == 1:
            flat = _vector_norm(tf.reshape(x, [-1]), ord, 0, False)
            return tf.reshape(flat, [1] * rank) if keepdims else flat
        axis = (0, 1) if rank == 2 else axis
    if isinstance(axis, (tuple, list)) and len(axis) == 2:
        axes = tuple(a + rank if a < 0 else a for a in axis)
        if ord in (None, "fro", 1, 2, _INF):
            return tf.norm(x, ord=ord or "fro", axis=axes, keepdims=keepdims)
        return _matrix_norm(x, ord, axes, keepdims)
    axis = axis[0] if isinstance(axis, (tuple, list)) else axis
    return _vector_norm(x, ord, axis, keepdims)


_INF = float("inf")


def _vector_norm(x, ord, axis, keepdims):  # noqa: A002
    if ord is None or ord == "euclidean" or (not isinstance(ord, str) and ord > 0):
        return tf.norm(x, ord="euclidean" if ord is None else ord, axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: ord must be a number for a vector norm, received ord={ord!r}")
    magnitude = tf.abs(x)
    if ord == 0:
        return tf.reduce_sum(tf.cast(magnitude != 0, magnitude.dtype), axis, keepdims=keepdims)
    if ord == -_INF:
        return tf.reduce_min(magnitude, axis, keepdims=keepdims)
    total = tf.reduce_sum(magnitude ** ord, axis, keepdims=keepdims)
    return total ** (1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):  # noqa: A002
    """The matrix norms tf.norm lacks ("nuc", -1, -2, -inf) over the axis pair `axes`."""
    rows, cols = axes
    if ord in (-1, -_INF):
        summed, picked = (rows, cols) if ord == -1 else (cols, rows)
        out = tf.reduce_min(tf.reduce_sum(tf.abs(x), summed, keepdims=True), picked,
                            keepdims=True)
        return out if keepdims else tf.squeeze(out, sorted(axes))
    if ord not in ("nuc", -2):
        raise ValueError(f"norm: ord must be None, 'fro', 'nuc', 1, -1, 2, -2, inf or -inf for "
                         f"a matrix norm, received ord={ord!r}")
    rank = len(x.shape)
    moved = tf.transpose(x, [a for a in range(rank) if a not in axes] + [rows, cols])
    singular = tf.linalg.svd(moved, compute_uv=False)
    out = tf.reduce_sum(singular, -1) if ord == "nuc" else tf.reduce_min(singular, -1)
    if keepdims:
        for a in sorted(axes):
            out = tf.expand_dims(out, a)
    return out


@keras_op
def qr(x, mode="reduced"):
    """(q, r) of each matrix; mode "complete" gives square q."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode must be 'reduced' or 'complete', received {mode!r}")
    return tf.linalg.qr(_matrices(x, "qr", square=False), full_matrices=mode == "complete")


@keras_op
def svd(x, full_matrices=True, compute_uv=True):
    """(u, s, vh) with x = u @ diag(s) @ vh (torch.linalg.svd's order), or s alone when
    compute_uv is False; singular values descending."""
    x = _matrices(x, "svd", square=False)
    if not compute_uv:
        return tf.linalg.svd(x, compute_uv=False)
    s, u, v = tf.linalg.svd(x, full_matrices=full_matrices)
    return u, s, tf.linalg.adjoint(v)


def _system(a, b, op):
    """a (..., M, M) and b as one float dtype; b as matrices, and whether it was a vector
    (rank one below a's), as torch.linalg.solve reads it."""
    dtype = result_type(a, b, float)
    a = _matrices(convert(a, dtype), op)
    b = convert(b, dtype)
    vector = len(static_shape(b)) == len(static_shape(a)) - 1
    return a, tf.expand_dims(b, -1) if vector else b, vector


@keras_op
def solve(a, b):
    """x with a @ x = b, for a (..., M, M) and b (..., M, K) or a vector b (..., M).

    >>> from tensorflux.keras import ops
    >>> ops.solve([[2.0, 0.0], [0.0, 4.0]], [2.0, 2.0]).numpy().tolist()
    [1.0, 0.5]
    """
    a, b, vector = _system(a, b, "solve")
    x = tf.linalg.solve(a, b)
    return tf.squeeze(x, -1) if vector else x


@keras_op
def solve_triangular(a, b, lower=False):
    """x with T @ x = b, T the upper (or, when `lower`, lower) triangle of a."""
    a, b, vector = _system(a, b, "solve_triangular")
    x = tf.linalg.triangular_solve(a, b, lower=lower)
    return tf.squeeze(x, -1) if vector else x


@keras_op
def pinv(x, rcond=None):
    """The Moore-Penrose pseudo-inverse; singular values at or below rcond times the
    largest (rcond defaulting to max(M, N) * eps) count as zero."""
    x = _matrices(x, "pinv", square=False)
    if rcond is None:
        rcond = max(static_shape(x)[-2:]) * _eps(x.dtype)
    return tf.linalg.pinv(x, rcond=rcond)


@keras_op
def lstsq(a, b, rcond=None):
    """The least-squares solution x of a @ x ~= b (a (M, N), b (M,) or (M, K)), the
    minimum-norm one when a is rank-deficient, through the pseudo-inverse (NumPy's rcond).

    >>> from tensorflux.keras import ops
    >>> ops.lstsq([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], [1.0, 2.0, 5.0]).numpy().tolist()
    [1.0, 2.0]
    """
    dtype = result_type(a, b, float)
    a, b = convert(a, dtype), convert(b, dtype)
    a_shape, b_shape = static_shape(a), static_shape(b)
    if len(a_shape) != 2 or len(b_shape) not in (1, 2) or b_shape[0] != a_shape[0]:
        raise ValueError("lstsq: expected a of shape (M, N) and b of shape (M,) or (M, K), "
                         f"received {a_shape} and {b_shape}")
    inverse = pinv(a, rcond)
    return tf.linalg.matvec(inverse, b) if len(b_shape) == 1 else tf.matmul(inverse, b)


@keras_op
def matrix_rank(x, tol=None):
    """The number of singular values above `tol` (default: max(M, N) * eps times the
    largest), as int32.

    >>> from tensorflux.keras import ops
    >>> int(ops.matrix_rank([[1.0, 2.0], [2.0, 4.0]]))
    1
    """
    x = _matrices(x, "matrix_rank", square=False)
    s = tf.linalg.svd(x, compute_uv=False)
    if tol is None:
        tol = max(static_shape(x)[-2:]) * _eps(x.dtype) * tf.reduce_max(s, axis=-1,
                                                                      keepdims=True)
    return tf.reduce_sum(tf.cast(s > tol, "int32"), axis=-1)


def jvp(fun, primals, tangents, has_aux=False):
    """(fun(*primals), the Jacobian of fun at primals times tangents), plus fun's auxiliary
    output when `has_aux` (fun then returns (output, aux)), as torch.func.jvp.

    Forward mode from reverse mode: u -> vjp(u) is linear in the cotangent u, so the
    gradient of <vjp(u), tangents> with respect to u is the Jacobian-vector product.

    >>> from tensorflux.keras import ops
    >>> out, tangent = ops.jvp(lambda x: x * x, (ops.convert_to_tensor([3.0]),),
    ...                        (ops.convert_to_tensor([1.0]),))
    >>> out.numpy().tolist(), tangent.numpy().tolist()
    ([9.0], [6.0])
    """
    primals = [convert(p) for p in primals]
    tangents = [convert(t, p.dtype) for t, p in zip(tangents, primals)]
    if len(tangents) != len(primals):
        raise ValueError(f"jvp: expected one tangent per primal ({len(primals)}), received "
                         f"{len(tangents)}")
    zero = tf.UnconnectedGradients.ZERO
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            for p in primals:
                inner.watch(p)
            result = fun(*primals)
        outputs, aux = result if has_aux else (result, None)
        flat_outputs = nest.flatten(outputs)
        cotangents = [tf.zeros_like(o) for o in flat_outputs]
        for c in cotangents:
            outer.watch(c)
        pulled = inner.gradient(flat_outputs, primals, output_gradients=cotangents,
                                unconnected_gradients=zero)
    pushed = outer.gradient(pulled, cotangents, output_gradients=tangents,
                            unconnected_gradients=zero)
    tangents_out = nest.pack_sequence_as(outputs, pushed)
    return (outputs, tangents_out, aux) if has_aux else (outputs, tangents_out)
