"""Linear algebra (tf.linalg and tf.matmul): matmul, tensordot, einsum, det, inv, norm, ..."""

from tensorflux import errors
from tensorflux.ops._core import aval, binary_operands
from tensorflux.primitive import Primitive

__all__ = ["matmul"]


def _matmul_rule(a, b, transpose_a, transpose_b):
    from tensorflux.ops._core import broadcast_shapes

    sa, sb = list(a.shape), list(b.shape)
    m = sa[-1] if transpose_a else sa[-2]
    n = sb[-2] if transpose_b else sb[-1]
    batch = broadcast_shapes("matmul", sa[:-2], sb[:-2])
    return aval(list(batch) + [m, n], a.dtype)


def _matmul_vjp(g, a, b, out, transpose_a, transpose_b):
    from tensorflux.ops.math import conj

    # With A = op(a), B = op(b): dA = g B^H, dB = A^H g; then undo each op.
    if transpose_a:
        ga = matmul(b, g, transpose_a=transpose_b, transpose_b=True)
    else:
        ga = matmul(g, b, transpose_b=not transpose_b)
    if transpose_b:
        gb = matmul(g, a, transpose_a=True, transpose_b=transpose_a)
    else:
        gb = matmul(a, g, transpose_a=not transpose_a)
    if a.dtype.is_complex:
        ga, gb = conj(ga), conj(gb)
    return ga, gb


# matmul: batched matrix product with optional transposes (batch dims broadcast).
_matmul = Primitive("matmul", vjp=_matmul_vjp, shape_rule=_matmul_rule)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           a_is_sparse=False, b_is_sparse=False, output_type=None, name=None):
    """The matrix product of the last two dims of a and b; leading dims broadcast.

    >>> import tensorflux as tf
    >>> tf.matmul([[1.0, 2.0]], [[3.0], [4.0]]).numpy().tolist()
    [[11.0]]
    """
    from tensorflux.ops.math import conj

    a, b = binary_operands("matmul", a, b)
    if adjoint_a:
        a, transpose_a = conj(a), not transpose_a
    if adjoint_b:
        b, transpose_b = conj(b), not transpose_b
    if a.shape.rank < 2 or b.shape.rank < 2:
        raise errors.InvalidArgumentError(
            f"matmul: both inputs must have rank >= 2, received shapes {tuple(a.shape)} and "
            f"{tuple(b.shape)}", "matmul")
    if a.dtype.is_bool or a.dtype.kind == "S":
        raise errors.InvalidArgumentError(f"matmul: unsupported dtype {a.dtype.name}", "matmul")
    k_a = a.shape[-2] if transpose_a else a.shape[-1]
    k_b = b.shape[-1] if transpose_b else b.shape[-2]
    if k_a is not None and k_b is not None and k_a != k_b:
        raise errors.InvalidArgumentError(
            f"matmul: inner dimensions differ: a has shape {tuple(a.shape)}"
            f"{' (transposed)' if transpose_a else ''} and b has shape {tuple(b.shape)}"
            f"{' (transposed)' if transpose_b else ''}; {k_a} != {k_b}", "matmul")
    return _matmul.bind(a, b, transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))
