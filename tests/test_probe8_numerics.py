"""Probe round 8 (numerics of tf.linalg / tf.nn edge cases): references are NumPy float64,
central finite differences, or brute-force enumeration, never tensorflux's own output."""

import itertools

import numpy as np
import pytest

import tensorflux as tf
from tests.tolerances import central_difference


def _qr_loss_np(x):
    q, r = np.linalg.qr(x)
    # Fix the sign convention (positive diagonal of r), as LAPACK and TF do for these inputs.
    signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None]
    q, r = q * np.swapaxes(signs, -1, -2), r * signs
    return np.sum(r ** 3) + np.sum(q ** 3)


@pytest.mark.parametrize("full_matrices", [False, True])
def test_qr_gradient_of_a_wide_matrix_matches_finite_differences(full_matrices):
    x = np.random.RandomState(0).randn(2, 3, 5)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        q, r = tf.linalg.qr(xt, full_matrices=full_matrices)
        signs = tf.sign(tf.linalg.diag_part(r))[..., None]
        q, r = q * tf.linalg.matrix_transpose(signs), r * signs
        loss = tf.reduce_sum(r ** 3) + tf.reduce_sum(q ** 3)
    grad = tape.gradient(loss, xt).numpy()
    np.testing.assert_allclose(grad, central_difference(_qr_loss_np, x), rtol=1e-5, atol=1e-6)


def test_qr_gradient_of_a_tall_full_factorization_is_not_implemented():
    x = tf.constant(np.ones((4, 3)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        _, r = tf.linalg.qr(x, full_matrices=True)
        loss = tf.reduce_sum(r)
    with pytest.raises(NotImplementedError, match="full_matrices"):
        tape.gradient(loss, x)


def test_lstsq_slow_path_ignores_l2_regularizer_as_tensorflow():
    rng = np.random.RandomState(1)
    a, b = rng.randn(2, 4, 3), rng.randn(2, 4, 2)
    got = tf.linalg.lstsq(a, b, l2_regularizer=0.5, fast=False).numpy()
    want = np.stack([np.linalg.lstsq(a[i], b[i], rcond=None)[0] for i in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_slogdet_returns_named_fields():
    m = np.array([[[-2.0, 1.0], [0.5, 3.0]], [[1.0, 0.0], [0.0, 4.0]]])
    out = tf.linalg.slogdet(m)
    sign, logabs = np.linalg.slogdet(m)
    assert type(out).__name__ == "LogMatrixDeterminant"
    np.testing.assert_allclose(out.sign.numpy(), sign)
    np.testing.assert_allclose(out.log_abs_determinant.numpy(), logabs)
    s, la = out
    np.testing.assert_allclose(la.numpy(), logabs)


def _np_xent(labels, logits):
    z = logits - logits.max(-1, keepdims=True)
    return -(labels * (z - np.log(np.exp(z).sum(-1, keepdims=True)))).sum(-1)


def test_softmax_cross_entropy_casts_labels_to_the_logits_dtype():
    rng = np.random.RandomState(2)
    logits = rng.randn(3, 4).astype("float32")
    labels = rng.dirichlet(np.ones(4), size=3)
    got = tf.nn.softmax_cross_entropy_with_logits(tf.constant(labels), tf.constant(logits))
    assert got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), _np_xent(labels, logits.astype("float64")), rtol=1e-5)
    ints = tf.nn.softmax_cross_entropy_with_logits([[0, 1, 0, 0]], logits[:1])
    np.testing.assert_allclose(ints.numpy(), _np_xent(np.eye(4)[1:2], logits[:1]), rtol=1e-5)


def _ctc_brute_force(probs, label, blank):
    """-log of the summed probability of every frame path that collapses to label."""
    frames, classes = probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=frames):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if collapsed == list(label):
            total += np.prod([probs[t, c] for t, c in enumerate(path)])
    return -np.log(total)


@pytest.mark.parametrize("blank_index", [0, -1])
def test_ctc_loss_takes_sparse_labels(blank_index):
    rng = np.random.RandomState(3)
    logits = rng.randn(4, 2, 3)  # [frames, batch, classes]
    blank = blank_index % 3
    rows = [[1], [2, 2]] if blank == 0 else [[1, 0], [0]]
    indices = [[b, i] for b, row in enumerate(rows) for i in range(len(row))]
    values = [v for row in rows for v in row]
    labels = tf.SparseTensor(indices, values, [2, 2])
    got = tf.nn.ctc_loss(labels, tf.constant(logits), None, [4, 4], blank_index=blank_index)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    want = [_ctc_brute_force(probs[:, b], rows[b], blank) for b in range(2)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_ctc_loss_sparse_labels_need_blank_index():
    labels = tf.SparseTensor([[0, 0]], [1], [1, 1])
    with pytest.raises(ValueError, match="blank_index"):
        tf.nn.ctc_loss(labels, tf.zeros([2, 1, 3]), None, [2])


def test_expm_of_complex_matrices_matches_eigendecomposition():
    rng = np.random.RandomState(4)
    m = (rng.randn(2, 3, 3) + 1j * rng.randn(2, 3, 3)) * 0.7
    w, v = np.linalg.eig(m)
    want = v @ (np.exp(w)[..., None] * np.linalg.inv(v))
    got = tf.linalg.expm(tf.constant(m))
    assert got.dtype == tf.complex128
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12)


def test_xlogy_and_xlog1py_take_complex_inputs():
    x = np.array([0j, 1 + 1j, -2 + 0.5j])
    y = np.array([0j, 2 + 1j, 0.5 - 1j])
    got = tf.math.xlogy(tf.constant(x), tf.constant(y)).numpy()
    np.testing.assert_allclose(got, [0, *(x[1:] * np.log(y[1:]))], rtol=1e-12)
    y1 = np.array([-1 + 0j, 2 + 1j, 0.5 - 1j])
    got1 = tf.math.xlog1py(tf.constant(x), tf.constant(y1)).numpy()
    np.testing.assert_allclose(got1, [0, *(x[1:] * np.log1p(y1[1:]))], rtol=1e-12)



def test_matmul_rejects_transpose_and_adjoint_of_the_same_side():
    a = tf.ones((2, 2))
    with pytest.raises(ValueError, match="transpose_a and adjoint_a"):
        tf.linalg.matmul(a, a, transpose_a=True, adjoint_a=True)
    with pytest.raises(ValueError, match="transpose_b and adjoint_b"):
        tf.linalg.matmul(a, a, transpose_b=True, adjoint_b=True)
    m = np.array([[1 + 2j, 3j], [1, 2 - 1j]])
    np.testing.assert_allclose(tf.linalg.matmul(m, m, adjoint_a=True, transpose_b=True).numpy(),
                               m.conj().T @ m.T)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_banded_triangular_solve_matches_a_dense_solve(lower, adjoint):
    from tensorflux.ops.linalg_extra import banded_triangular_solve

    rng = np.random.RandomState(5)
    bands = rng.rand(2, 3, 4) + 1.0
    m, k = 4, 3
    dense = np.zeros((2, m, m))
    for b in range(2):
        for row in range(k):
            off = row if lower else k - 1 - row
            for j in range(m - off):
                if lower:  # subdiagonal `off`, its values at the right of the band row
                    dense[b, j + off, j] = bands[b, row, off + j]
                else:  # superdiagonal `off`, its values at the left of the band row
                    dense[b, j, j + off] = bands[b, row, j]
    rhs = rng.randn(2, m, 2)
    want = np.linalg.solve(np.swapaxes(dense, -1, -2) if adjoint else dense, rhs)
    got = banded_triangular_solve(bands, rhs, lower=lower, adjoint=adjoint)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)


def test_sparse_softmax_cross_entropy_without_labels_is_a_type_error():
    with pytest.raises(TypeError, match="labels and logits"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(logits=tf.zeros((2, 3)))


def _complex_central_grad(f, z, eps=1e-6):
    """TensorFlow's gradient of a real loss at complex z: dL/dRe(z) + i dL/dIm(z)."""
    grad = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[i] = eps
        grad[i] = ((f(z + e) - f(z - e)) + 1j * (f(z + 1j * e) - f(z - 1j * e))) / (2 * eps)
    return grad


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4)])
def test_qr_gradient_of_complex_matrices_matches_finite_differences(shape):
    rng = np.random.RandomState(6)
    c = rng.randn(*shape) + 1j * rng.randn(*shape)

    def loss_np(z):
        q, r = np.linalg.qr(z)
        return np.sum(np.abs(r) ** 2) + np.sum(q.real ** 3)

    ct = tf.constant(c)
    with tf.GradientTape() as tape:
        tape.watch(ct)
        q, r = tf.linalg.qr(ct)
        loss = tf.reduce_sum(tf.abs(r) ** 2) + tf.reduce_sum(tf.math.real(q) ** 3)
    got = tape.gradient(loss, ct).numpy()
    np.testing.assert_allclose(got, _complex_central_grad(loss_np, c), rtol=1e-5, atol=1e-6)


def test_singular_value_gradient_of_complex_matrices_matches_finite_differences():
    rng = np.random.RandomState(7)
    c = rng.randn(2, 3, 4) + 1j * rng.randn(2, 3, 4)
    ct = tf.constant(c)
    with tf.GradientTape() as tape:
        tape.watch(ct)
        loss = tf.reduce_sum(tf.linalg.svd(ct, compute_uv=False) ** 3)
    got = tape.gradient(loss, ct).numpy()
    want = _complex_central_grad(lambda z: np.sum(np.linalg.svd(z, compute_uv=False) ** 3), c)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_ctc_unique_labels_matches_a_first_seen_reference():
    from tensorflux.ops.ctc import ctc_unique_labels

    labels = np.random.RandomState(8).randint(0, 4, size=(3, 6))
    unique, idx = ctc_unique_labels(tf.constant(labels))
    want_unique, want_idx = np.zeros_like(labels), np.zeros_like(labels)
    for b, row in enumerate(labels):
        seen = {}
        for i, v in enumerate(row):
            want_idx[b, i] = seen.setdefault(v, len(seen))
        want_unique[b, :len(seen)] = list(seen)
    assert unique.dtype == tf.int64 and idx.dtype == tf.int32
    np.testing.assert_array_equal(unique.numpy(), want_unique)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    loss = tf.nn.ctc_loss([[1, 2]], tf.zeros([3, 1, 3]), [2], [3], unique=(unique, idx))
    assert loss.shape == (1,)


def test_main_diagonal_of_empty_matrices_is_empty():
    assert tf.linalg.diag_part(tf.zeros((2, 0, 3))).shape == (2, 0)
    assert float(tf.linalg.logdet(tf.zeros((0, 0)))) == 0.0  # log det of the empty matrix = 0
    with pytest.raises(ValueError, match="k=1 is out of range"):
        tf.linalg.diag_part(tf.zeros((0, 0)), k=1)


def test_selu_gradient_at_zero_is_the_scale():
    z = tf.constant([-1.0, 0.0, 1.0])
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = tf.reduce_sum(tf.nn.selu(z))
    scale, alpha = 1.0507009873554805, 1.6732632423543772
    np.testing.assert_allclose(tape.gradient(y, z).numpy(),
                               [scale * alpha * np.exp(-1.0), scale, scale], rtol=1e-6)


def test_segment_extrema_of_no_rows_and_bincount_of_floats():
    # (TF 2.21: every segment of a zero-row input holds the dtype's lowest / highest value,
    # and bincount counts float values by their integer parts)
    out = tf.math.unsorted_segment_max(tf.zeros([0, 2]), tf.zeros([0], tf.int32), 2)
    np.testing.assert_array_equal(out.numpy(), np.full((2, 2), np.finfo(np.float32).min))
    out = tf.math.unsorted_segment_min(tf.zeros([0, 2], tf.int32), tf.zeros([0], tf.int32), 2)
    np.testing.assert_array_equal(out.numpy(), np.full((2, 2), np.iinfo(np.int32).max))
    assert tf.math.bincount(tf.constant([1.0, 2.7])).numpy().tolist() == [0, 1, 1]
