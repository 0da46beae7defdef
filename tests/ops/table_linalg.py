"""Op-table rows for tensorflux.ops.linalg."""

import numpy as np

from tensorflux.ops import linalg
from tests.ops.harness import Row, away_from, fixed, uniform


def _well_conditioned(*shape):
    """Square matrices near 2I, so det and inv are smooth and accurate in float32."""
    n = shape[-1]
    return lambda rng: [rng.uniform(-0.5, 0.5, size=shape) + 2 * np.eye(n)]


def _swap(x):
    return np.swapaxes(x, -1, -2)


def _matmul_row(ta, tb):
    a_shape = (4, 3) if ta else (3, 4)
    b_shape = (2, 4) if tb else (4, 2)
    return Row(f"matmul_t{int(ta)}{int(tb)}",
               lambda a, b: linalg.matmul(a, b, transpose_a=ta, transpose_b=tb),
               lambda a, b: (_swap(a) if ta else a) @ (_swap(b) if tb else b),
               uniform(a_shape, b_shape), second_order=True)


def _vector_p_norm(x, p, axis=None, keepdims=False):
    return np.sum(np.abs(x) ** p, axis=axis, keepdims=keepdims) ** (1 / p)


def _diag(d, k, rows, cols):
    out = np.zeros(d.shape[:-1] + (rows, cols))
    for i in range(d.shape[-1]):
        out[..., i + max(-k, 0), i + max(k, 0)] = d[..., i]
    return out


ROWS = [_matmul_row(ta, tb) for ta in (False, True) for tb in (False, True)] + [
    Row("matmul_batch_2d", linalg.matmul, np.matmul, uniform((2, 3, 4), (4, 2))),
    Row("matmul_2d_batch", linalg.matmul, np.matmul, uniform((3, 4), (2, 4, 2)),
        second_order=True),
    Row("matmul_broadcast_batch", lambda a, b: linalg.matmul(a, b, transpose_b=True),
        lambda a, b: a @ _swap(b), uniform((1, 3, 2), (2, 4, 2))),
    Row("transpose_perm", lambda x: linalg.transpose(x, [1, 2, 0]),
        lambda x: np.transpose(x, (1, 2, 0)), uniform((2, 3, 4))),
    Row("transpose_default", linalg.transpose, np.transpose, uniform((2, 3, 4))),
    Row("matrix_transpose", linalg.matrix_transpose, _swap, uniform((2, 3, 4))),
    Row("tensordot_int", lambda a, b: linalg.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1),
        uniform((2, 3), (3, 4))),
    Row("tensordot_pairs", lambda a, b: linalg.tensordot(a, b, [[0, 2], [1, 0]]),
        lambda a, b: np.tensordot(a, b, ((0, 2), (1, 0))), uniform((2, 3, 4), (4, 2, 3))),
    Row("tensordot_outer", lambda a, b: linalg.tensordot(a, b, 0),
        lambda a, b: np.tensordot(a, b, 0), uniform((2, 3), (4,))),
    Row("einsum_matmul", lambda a, b: linalg.einsum("ij,jk->ik", a, b),
        lambda a, b: a @ b, uniform((3, 4), (4, 2)), second_order=True),
    Row("einsum_implicit", lambda a, b: linalg.einsum("kj,ji", a, b),
        lambda a, b: np.einsum("kj,ji", a, b), uniform((3, 4), (4, 2))),
    Row("einsum_batch_ellipsis", lambda a, b: linalg.einsum("...ij,...jk->...ik", a, b),
        lambda a, b: np.einsum("...ij,...jk->...ik", a, b), uniform((2, 2, 3), (3, 2))),
    Row("einsum_ellipsis_middle", lambda a: linalg.einsum("i...j->j...i", a),
        lambda a: np.einsum("i...j->j...i", a), uniform((2, 3, 4))),
    Row("einsum_diagonal", lambda a: linalg.einsum("ii->i", a),
        lambda a: np.einsum("ii->i", a), uniform((4, 4))),
    Row("einsum_trace", lambda a: linalg.einsum("ii", a), np.trace, uniform((4, 4))),
    Row("einsum_sum_out", lambda a, b: linalg.einsum("ij,j->", a, b),
        lambda a, b: np.einsum("ij,j->", a, b), uniform((3, 4), (4,))),
    Row("einsum_three_operands", lambda a, b, c: linalg.einsum("ij,jk,kl->il", a, b, c),
        lambda a, b, c: a @ b @ c, uniform((2, 3), (3, 4), (4, 2)), second_order=True),
    Row("einsum_broadcast_one", lambda a, b: linalg.einsum("ij,ij->ij", a, b),
        lambda a, b: a * b, uniform((1, 3), (4, 3))),
    Row("norm_default", linalg.norm, lambda x: np.sqrt(np.sum(x * x)), uniform((3, 4))),
    Row("norm_axis_keepdims", lambda x: linalg.norm(x, axis=-1, keepdims=True),
        lambda x: np.linalg.norm(x, axis=-1, keepdims=True), uniform((3, 4))),
    Row("norm_ord1_axis0", lambda x: linalg.norm(x, ord=1, axis=0),
        lambda x: np.sum(np.abs(x), 0), away_from((3, 4))),
    Row("norm_inf_axis1", lambda x: linalg.norm(x, ord=float("inf"), axis=1),
        lambda x: np.max(np.abs(x), 1), away_from((3, 4))),
    Row("norm_ord3", lambda x: linalg.norm(x, ord=3, axis=1),
        lambda x: _vector_p_norm(x, 3, axis=1), away_from((2, 4))),
    Row("norm_fro_batch", lambda x: linalg.norm(x, ord="fro", axis=[-2, -1]),
        lambda x: np.linalg.norm(x, "fro", axis=(-2, -1)), uniform((2, 3, 4))),
    Row("norm_matrix_1", lambda x: linalg.norm(x, ord=1, axis=(0, 1)),
        lambda x: np.linalg.norm(x, 1), away_from((3, 4))),
    Row("norm_matrix_inf_keepdims", lambda x: linalg.norm(x, ord=np.inf, axis=[1, 2],
                                                          keepdims=True),
        lambda x: np.linalg.norm(x, np.inf, axis=(1, 2), keepdims=True), away_from((2, 3, 4))),
    Row("det", linalg.det, np.linalg.det, _well_conditioned(3, 3), rtol=1e-5),
    Row("det_batch", linalg.det, np.linalg.det, _well_conditioned(2, 3, 3), rtol=1e-5),
    Row("inv", linalg.inv, np.linalg.inv, _well_conditioned(3, 3), rtol=1e-5,
        second_order=True),
    Row("inv_batch_adjoint", lambda x: linalg.inv(x, adjoint=True),
        lambda x: _swap(np.linalg.inv(x)), _well_conditioned(2, 3, 3), rtol=1e-5),
    Row("trace", linalg.trace, lambda x: np.trace(x, axis1=-2, axis2=-1), uniform((2, 3, 4))),
    Row("diag", linalg.diag, lambda d: _diag(d, 0, 3, 3), uniform((2, 3))),
    Row("diag_upper_k", lambda d: linalg.diag(d, k=1), lambda d: _diag(d, 1, 4, 4),
        uniform((3,))),
    Row("diag_lower_rows", lambda d: linalg.diag(d, k=-1, num_rows=4, num_cols=3),
        lambda d: _diag(d, -1, 4, 3), uniform((2, 3))),
    Row("diag_part", linalg.diag_part, lambda x: np.diagonal(x, axis1=-2, axis2=-1),
        uniform((2, 3, 4))),
    Row("diag_part_k", lambda x: linalg.diag_part(x, k=-1),
        lambda x: np.diagonal(x, offset=-1, axis1=-2, axis2=-1), uniform((4, 3))),
    Row("norm_with_zero_row", lambda x: linalg.norm(x, axis=1),
        lambda x: np.linalg.norm(x, axis=1), fixed([[0.0, 0.0], [3.0, 4.0]]), grad=()),
]
