"""tf.linalg solves, factorizations and helpers: values observed from TensorFlow 2.21 and
NumPy float64 references, gradients against central finite differences (tests/ops/harness).

ROWS follow the op-table format, so they can join tests/ops/table.py."""

import numpy as np
import pytest

import tensorflux as tf
from tests.ops import harness
from tests.ops.harness import Row, uniform
from tests.tolerances import assert_close

A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
W = np.array([[1.0, -2.0, 0.5], [0.3, 0.7, -1.0], [2.0, 0.1, 0.4]])
B = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])
M = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [2.0, 0.5, 1.0], [1.0, 1.0, 1.0]])
T = W + 3 * np.eye(3)


def _well_conditioned(*shape, extra=()):
    """Square matrices near 3I, with further uniform inputs of the shapes in `extra`."""
    n = shape[-1]
    return lambda rng: [rng.uniform(-0.5, 0.5, size=shape) + 3 * np.eye(n)] + [
        rng.uniform(-1, 1, size=s) for s in extra]


def _sym(a):
    return 0.5 * (a + tf.linalg.matrix_transpose(a))


def _np_sym(a):
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def _distinct_spectrum(*shape):
    """Symmetric-ish matrices with well separated eigenvalues (1, 3, 5, ...) plus noise."""
    n = shape[-1]
    return lambda rng: [np.diag(np.arange(1.0, 2 * n, 2.0)) + rng.uniform(-0.3, 0.3, size=shape)]


def _distinct_singular(*shape):
    m, n = shape[-2], shape[-1]
    def sample(rng):
        base = np.zeros(shape)
        for i in range(min(m, n)):
            base[..., i, i] = 2.0 * (i + 1)
        return [base + rng.uniform(-0.3, 0.3, size=shape)]
    return sample


def _eigh_np(a):
    e, v = np.linalg.eigh(a)
    return [e, v * v]


def _svd_np(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return [s, u * u, np.swapaxes(vh, -1, -2) ** 2]


def _svd_tf(a):
    s, u, v = tf.linalg.svd(a)
    return [s, u * u, v * v]


def _qr_np(a):
    q, r = np.linalg.qr(a)
    return [q, r]


def _band_np(a, lower, upper):
    rows, cols = a.shape[-2:]
    i, j = np.arange(rows)[:, None], np.arange(cols)[None, :]
    keep = ((lower < 0) | (i - j <= lower)) & ((upper < 0) | (j - i <= upper))
    return np.where(keep, a, 0.0)


def _expm_np(a):
    # Taylor series in float64 with enough terms for the small sampled matrices.
    out, term = np.eye(a.shape[-1]), np.eye(a.shape[-1])
    for k in range(1, 40):
        term = term @ a / k
        out = out + term
    return out


def _set_diag_np(a, d):
    out = a.copy()
    idx = np.arange(d.shape[-1])
    out[..., idx, idx] = d
    return out


ROWS = [
    Row("linalg_solve", tf.linalg.solve, np.linalg.solve, _well_conditioned(2, 3, 3, extra=[
        (2, 3, 2)])),
    Row("linalg_solve_adjoint", lambda a, b: tf.linalg.solve(a, b, adjoint=True),
        lambda a, b: np.linalg.solve(np.swapaxes(a, -1, -2), b),
        _well_conditioned(3, 3, extra=[(3, 4)])),
    Row("linalg_triangular_solve_lower", tf.linalg.triangular_solve,
        lambda a, b: np.linalg.solve(np.tril(a), b), _well_conditioned(2, 3, 3, extra=[(3, 2)])),
    Row("linalg_triangular_solve_upper_adjoint",
        lambda a, b: tf.linalg.triangular_solve(a, b, lower=False, adjoint=True),
        lambda a, b: np.linalg.solve(np.swapaxes(np.triu(a), -1, -2), b),
        _well_conditioned(3, 3, extra=[(3, 2)])),
    Row("linalg_cholesky", lambda a: tf.linalg.cholesky(_sym(a)),
        lambda a: np.linalg.cholesky(_np_sym(a)), _well_conditioned(2, 3, 3)),
    Row("linalg_cholesky_solve", lambda a, b: tf.linalg.cholesky_solve(
        tf.linalg.cholesky(_sym(a)), b), lambda a, b: np.linalg.solve(_np_sym(a), b),
        _well_conditioned(3, 3, extra=[(3, 2)])),
    Row("linalg_slogdet", lambda a: list(tf.linalg.slogdet(a)),
        lambda a: list(np.linalg.slogdet(a)), _well_conditioned(2, 3, 3)),
    Row("linalg_slogdet_negative", lambda a: list(tf.linalg.slogdet(-a)),
        lambda a: list(np.linalg.slogdet(-a)), _well_conditioned(3, 3)),
    Row("linalg_logdet", lambda a: tf.linalg.logdet(_sym(a)),
        lambda a: np.linalg.slogdet(_np_sym(a))[1], _well_conditioned(2, 3, 3)),
    Row("linalg_eigh", lambda a: (lambda e, v: [e, v * v])(*tf.linalg.eigh(a)), _eigh_np,
        _distinct_spectrum(2, 3, 3), rtol=1e-4, atol=1e-5),
    Row("linalg_eigvalsh", tf.linalg.eigvalsh, np.linalg.eigvalsh, _distinct_spectrum(4, 4),
        rtol=1e-5, atol=1e-5),
    Row("linalg_svd_tall", _svd_tf, _svd_np, _distinct_singular(4, 3), rtol=1e-4, atol=1e-5),
    Row("linalg_svd_wide", _svd_tf, _svd_np, _distinct_singular(2, 2, 4), rtol=1e-4, atol=1e-5),
    Row("linalg_svd_square_full",
        lambda a: (lambda s, u, v: [s, u * u, v * v])(*tf.linalg.svd(a, full_matrices=True)),
        _svd_np, _distinct_singular(3, 3), rtol=1e-4, atol=1e-5),
    Row("linalg_svd_values", lambda a: tf.linalg.svd(a, compute_uv=False),
        lambda a: np.linalg.svd(a, compute_uv=False), _distinct_singular(2, 3, 5),
        rtol=1e-5, atol=1e-5),
    Row("linalg_pinv", tf.linalg.pinv, np.linalg.pinv, _distinct_singular(4, 3),
        rtol=1e-4, atol=1e-5),
    Row("linalg_qr", lambda a: list(tf.linalg.qr(a)), _qr_np, _distinct_singular(2, 4, 3),
        rtol=1e-4, atol=1e-5),
    Row("linalg_qr_square", lambda a: list(tf.linalg.qr(a)), _qr_np, _distinct_singular(3, 3),
        rtol=1e-4, atol=1e-5),
    Row("linalg_lstsq", lambda a, b: tf.linalg.lstsq(a, b),
        lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0],
        lambda rng: _distinct_singular(5, 3)(rng) + [rng.uniform(-1, 1, (5, 2))],
        rtol=1e-4, atol=1e-5),
    Row("linalg_lstsq_underdetermined", lambda a, b: tf.linalg.lstsq(a, b),
        lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0],
        lambda rng: _distinct_singular(2, 4)(rng) + [rng.uniform(-1, 1, (2, 1))],
        rtol=1e-4, atol=1e-5),
    Row("linalg_norm_spectral", lambda a: tf.norm(a, ord=2, axis=[-2, -1]),
        lambda a: np.linalg.norm(a, 2, axis=(-2, -1)), _distinct_singular(2, 3, 4),
        rtol=1e-5, atol=1e-5),
    Row("linalg_band_part", lambda a: tf.linalg.band_part(a, 1, 0),
        lambda a: _band_np(a, 1, 0), uniform((2, 3, 4))),
    Row("linalg_band_part_upper", lambda a: tf.linalg.band_part(a, 0, -1),
        lambda a: _band_np(a, 0, -1), uniform((4, 3))),
    Row("linalg_set_diag", tf.linalg.set_diag, _set_diag_np, uniform((2, 3, 4), (2, 3))),
    Row("linalg_matvec", tf.linalg.matvec, lambda a, b: np.einsum("...ij,...j->...i", a, b),
        uniform((2, 3, 4), (4,))),
    Row("linalg_cross", tf.linalg.cross, np.cross, uniform((2, 3), (2, 3))),
]

FORWARD = [(row, dtype) for row in ROWS for dtype in row.dtypes]


@pytest.mark.parametrize("row,dtype", FORWARD, ids=[f"{r.name}-{d}" for r, d in FORWARD])
def test_forward_matches_numpy(row, dtype):
    harness.check_forward(row, dtype)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_vjp_matches_finite_differences(row):
    harness.check_vjp(row)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_shape_rules_agree_with_kernels(row):
    harness.check_shape_rules(row)


def _grad(fn, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return y, tape.gradient(y, x)


# ------------------------------------------------------------------ values seen in TensorFlow

def test_values_match_tensorflow():
    assert_close(tf.linalg.solve(A, B).numpy(), [
        [0.09675904180366371, 0.6186002818224519], [-0.13151714419915456, -0.5495537811178958],
        [1.4889619539689993, 0.15030530765617658]])
    assert_close(tf.linalg.triangular_solve(T, B).numpy(), [
        [0.25, 0.5], [-0.020270270270270268, -0.31081081081081074],
        [0.7358903020667726, -0.1379173290937997]])
    assert_close(tf.linalg.triangular_solve(T, B, lower=False, adjoint=True).numpy(), [
        [0.25, 0.5], [0.13513513513513511, 0.0], [0.8853338632750397, 0.07352941176470588]])
    sign, logabs = tf.linalg.slogdet(W)
    assert_close([sign.numpy(), logabs.numpy()], [1.0, 1.3699108818693666])
    assert_close(tf.linalg.logdet(A).numpy(), 3.0582374789053883)
    assert_close(tf.linalg.eigh(A)[0].numpy(),
                 [1.880086902915053, 2.3983430193369975, 4.72157007774795])
    assert_close(tf.linalg.svd(M, compute_uv=False).numpy(),
                 [3.3045565224402043, 1.9718830996330245, 0.6645172920094481])
    assert_close(tf.linalg.pinv(M).numpy(), [
        [-0.13333333333333344, 0.33333333333333326, 0.8, -0.4666666666666667],
        [0.40000000000000013, 0.0, -0.4000000000000001, 0.39999999999999986],
        [0.06666666666666653, -0.6666666666666666, -0.39999999999999963, 0.7333333333333331]],
        atol=1e-12)
    rhs = np.array([[1.0], [2.0], [0.0], [1.0]])
    assert_close(tf.linalg.lstsq(M, rhs).numpy(),
                 [[0.06666666666666661], [0.7999999999999999], [-0.5333333333333331]])
    assert_close(tf.linalg.lstsq(M, rhs, l2_regularizer=0.5).numpy(),
                 [[0.052980132450331056], [0.7417218543046359], [-0.4370860927152318]])
    assert_close(tf.linalg.lstsq(M, rhs, fast=False).numpy(),
                 [[0.06666666666666661], [0.7999999999999999], [-0.5333333333333331]])
    assert_close(tf.norm(M, ord=2, axis=[-2, -1]).numpy(), 3.3045565224402043)
    assert_close(tf.linalg.expm(W * 0.5).numpy(), [
        [1.843341754879825, -1.5702049098186932, 0.7282973766644485],
        [-0.12365004328584137, 1.40816599276953, -0.6544093230021858],
        [1.4764663876232125, -0.652920627217072, 1.4921574305111294]], rtol=1e-10, atol=1e-12)
    assert_close(tf.linalg.band_part(W, 1, 0).numpy(),
                 [[1.0, 0.0, 0.0], [0.3, 0.7, 0.0], [0.0, 0.1, 0.4]])
    assert_close(tf.linalg.set_diag(M, [7.0, 8.0], k=1).numpy(),
                 [[1.0, 7.0, 0.0], [0.0, 1.0, 8.0], [2.0, 0.5, 1.0], [1.0, 1.0, 1.0]])
    assert_close(tf.linalg.cross([[1.0, 2.0, 3.0]], [[4.0, 5.0, 7.0]]).numpy(),
                 [[-1.0, 5.0, -3.0]], dtype="float32")
    assert_close(tf.linalg.matvec(M, np.array([1.0, 2.0, 3.0])).numpy(), [5.0, -1.0, 6.0, 6.0])
    assert_close(np.abs(tf.linalg.qr(M)[1].numpy()), [
        [2.449489742783178, 1.6329931618554525, 1.2247448713915892],
        [0.0, 1.8929694486000914, 0.7924058156930611], [0.0, 0.0, 0.9338592095470357]])


def test_gradients_match_tensorflow():
    """Gradients TensorFlow gives, including its conventions for inputs whose kernels read
    one triangle: cholesky's is symmetric, eigh's lives on the lower triangle."""
    _, g = _grad(lambda a: tf.reduce_sum(tf.linalg.cholesky(a) * W), A)
    assert_close(g.numpy(), [
        [0.18578206290309748, 0.019135557959211187, 0.47547238085679794],
        [0.019135557959211187, 0.2103425665722006, 0.026230403181909126],
        [0.47547238085679794, 0.026230403181909126, 0.1437601467817986]], rtol=1e-9)
    _, g = _grad(lambda a: tf.reduce_sum(tf.linalg.solve(a, B) * W[:, :2]), A)
    assert_close(g.numpy(), [
        [0.3760880246196423, -0.328139819588624, -0.10066316745579457],
        [-0.2663737322236639, 0.2362673328860592, -0.05267679483109294],
        [-0.19507368882733045, 0.21740305486359937, -1.4660437480047501]], rtol=1e-9)
    _, g = _grad(lambda a: tf.reduce_sum(tf.linalg.triangular_solve(a, B) * W[:, :2]), T)
    assert_close(g.numpy(), [
        [0.2766693163751987, 0.0, 0.0], [-0.1104928457869634, 0.059876251450178296, 0.0],
        [-0.16176470588235295, 0.021065182829888708, -0.4288202562424016]], rtol=1e-9)
    _, g = _grad(lambda a: tf.linalg.slogdet(a)[1], W)
    assert_close(g.numpy(), [
        [0.096569250317662, -0.5387547649301143, -0.3481575603557814],
        [0.21601016518424399, -0.15247776365946633, -1.0419313850063532],
        [0.4193138500635324, 0.29224904701397714, 0.3303684879288437]], rtol=1e-9)
    weights = tf.constant([1.0, 2.0, 3.0], tf.float64)
    _, g = _grad(lambda a: tf.reduce_sum(tf.linalg.eigh(a)[0] * weights)
                 + tf.reduce_sum(tf.linalg.eigh(a)[1] ** 2 * W), A)
    assert_close(g.numpy(), [
        [3.2740230381374245, 0.0, 0.0], [0.20070491606827745, 1.5826592983160088, 0.0],
        [1.0976069788981604, -0.19365302637660514, 1.143317663546566]], rtol=1e-8)
    _, g = _grad(lambda a: tf.reduce_sum(
        tf.linalg.svd(a, compute_uv=False) * tf.constant([1.0, -1.0, 0.5], tf.float64)), M)
    assert_close(g.numpy(), [
        [0.5262450610558838, 0.06860498298470641, 0.598960784827425],
        [0.4220589384939227, -0.4762073701683206, 0.342979555002939],
        [0.4802903676010851, 0.6027315154152303, -0.3462622314913939],
        [0.10418612256196097, 0.5448123531530269, 0.25598122982448585]], rtol=1e-8)
    _, g = _grad(lambda a: tf.reduce_sum(tf.abs(tf.linalg.qr(a)[1]) * W), M)
    assert_close(g.numpy(), [
        [-1.5032346328123831, -0.28230619477907404, 0.9333877825470186],
        [-1.1325151665135633, -0.0415894054062646, 0.2792414212494978],
        [2.1617219209471896, -2.1879782507072365, -0.18139463622647445],
        [-0.3707194662988183, -0.24071678937281016, 0.65414636129752]], rtol=1e-8)


def test_decompositions_reconstruct_their_input():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 3))
    s, u, v = tf.linalg.svd(x, full_matrices=True)
    assert u.shape == (2, 4, 4) and v.shape == (2, 3, 3)
    s, u, v = tf.linalg.svd(x)
    assert_close((u.numpy() * s.numpy()[..., None, :]) @ np.swapaxes(v.numpy(), -1, -2), x)
    q, r = tf.linalg.qr(x, full_matrices=True)
    assert q.shape == (2, 4, 4) and r.shape == (2, 4, 3)
    assert_close(q.numpy() @ r.numpy(), x, atol=1e-12)
    e, v = tf.linalg.eigh(_np_sym(x @ np.swapaxes(x, -1, -2)))
    assert_close(v.numpy() @ (e.numpy()[..., None] * np.swapaxes(v.numpy(), -1, -2)),
                 _np_sym(x @ np.swapaxes(x, -1, -2)), atol=1e-12)


def test_solve_broadcasts_batch_dims_and_float32_stays_float32():
    rng = np.random.default_rng(4)
    a = (rng.standard_normal((3, 3)) + 4 * np.eye(3)).astype(np.float32)
    b = rng.standard_normal((2, 3, 1)).astype(np.float32)
    out = tf.linalg.solve(a, b)
    assert out.dtype == tf.float32 and out.shape == (2, 3, 1)
    assert_close(out.numpy(), np.linalg.solve(a.astype(np.float64), b.astype(np.float64)),
                 dtype="float32", rtol=1e-5)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(tf.errors.InvalidArgumentError, match="square"):
        tf.linalg.cholesky(M)
    with pytest.raises(tf.errors.InvalidArgumentError, match="cholesky"):
        tf.linalg.cholesky(-np.eye(2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="rows"):
        tf.linalg.solve(A, np.ones((4, 1)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="last dimension 3"):
        tf.linalg.cross([1.0, 2.0], [3.0, 4.0])


def test_traced_function_matches_eager():
    fn = tf.function(lambda a, b: tf.linalg.solve(a, b) + tf.linalg.cholesky(a)[..., :2])
    assert_close(fn(tf.constant(A), tf.constant(B)).numpy(),
                 np.linalg.solve(A, B) + np.linalg.cholesky(A)[:, :2])


def test_expm_matches_a_float64_taylor_series_eagerly():
    # (not a table row: expm runs eagerly only, and the table traces every row)
    a = np.random.default_rng(3).uniform(-0.8, 0.8, (2, 3, 3))
    assert_close(tf.linalg.expm(tf.constant(a)).numpy(), _expm_np(a), rtol=1e-10, atol=1e-12)
