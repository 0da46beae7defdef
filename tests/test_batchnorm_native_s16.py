"""numpy_norm_native's batch-normalization passes through the NumPy backend's
batch_norm_training and batch_norm_training_grad: against NumPy in float64, central
differences, real Keras 3, NumPy's float32 elementwise steps bit for bit, and across thread
counts and piece layouts."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend, numpy_llvm, numpy_norm_native
from tests.keras._oracle import assert_matches, import_keras
from tests.test_batchnorm_fused_s12 import _keras_step, _layer_step

pytestmark = pytest.mark.skipif(not numpy_llvm.available(),
                                reason="needs llvmlite and a CPU with AVX2 and FMA")

EPS = 1e-3


def lanes():
    return numpy_llvm.lanes(np.float32)


def ref_forward(x, gamma, beta, epsilon=EPS):
    rows = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
    mean = rows.mean(axis=0)
    variance = np.square(rows - mean).mean(axis=0)
    out = (rows - mean) / np.sqrt(variance + epsilon) * gamma + beta
    return out.reshape(x.shape), mean, variance


def ref_grads(x, gamma, dy, dmean, dvariance, epsilon=EPS):
    """(dx, dgamma, dbeta) of ref_forward's (out, mean, variance) for their cotangents."""
    c = x.shape[-1]
    rows = np.asarray(x, np.float64).reshape(-1, c)
    g = np.asarray(dy, np.float64).reshape(-1, c)
    n = rows.shape[0]
    dmean, dvariance = np.float64(dmean), np.float64(dvariance)
    centred = rows - rows.mean(axis=0)
    inv = 1 / np.sqrt(np.square(centred).mean(axis=0) + epsilon)
    xhat = centred * inv
    dx = gamma * inv * (g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0))
    dx = dx + dmean / n + 2 * dvariance * centred / n
    return dx.reshape(x.shape), (g * xhat).sum(axis=0), g.sum(axis=0)


def sample(shape, rng, loc=0.5, scale=2.0):
    c = shape[-1]
    f32 = np.float32
    return (rng.normal(loc, scale, shape).astype(f32), rng.uniform(0.5, 1.5, c).astype(f32),
            rng.uniform(-1, 1, c).astype(f32))


def grad_inputs(shape, rng):
    c = shape[-1]
    return (rng.normal(0, 1, shape).astype(np.float32),
            rng.normal(0, 1, c).astype(np.float32), rng.normal(0, 1, c).astype(np.float32))


def rel_error(got, want):
    return float(np.max(np.abs(np.asarray(got, np.float64) - want))
                 / max(np.max(np.abs(want)), 1e-30))


@pytest.fixture(params=["default", "pieces-on-two-threads"])
def layout(request, monkeypatch):
    """The default pieces, or pieces of a few rows (a short last one) split over two threads
    from any size."""
    if request.param != "default":
        monkeypatch.setattr(numpy_backend, "_THREADS", 2)
        monkeypatch.setattr(numpy_backend, "_PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(numpy_backend, "_BN_PIECE_BYTES", 7 * 4 * 3 * lanes())
    return request.param


def shapes():
    w = lanes()
    # one channel vector; two; five (a group and a tail); an odd row count
    return [(4, 3, 5, w), (2, 8, 8, 2 * w), (3, 7, 5 * w), (33, 2 * w)]


def test_native_path_is_taken():
    rows = np.zeros((10, 2 * lanes()), np.float32)
    assert numpy_norm_native.moments(rows) is not None
    assert numpy_norm_native.moments(rows[:, :lanes() + 1]) is None  # not whole vectors
    assert numpy_norm_native.moments(rows.astype(np.float64)) is None
    assert numpy_norm_native.moments(rows[::2]) is None  # not contiguous


@pytest.mark.parametrize("shape", shapes())
def test_forward_matches_float64(shape, layout):
    rng = np.random.default_rng(1)
    x, gamma, beta = sample(shape, rng)
    out, mean, variance = numpy_backend.batch_norm_training(x, gamma, beta, EPS)
    want_out, want_mean, want_variance = ref_forward(x, gamma, beta)
    assert out.dtype == mean.dtype == variance.dtype == np.float32
    # the statistics are float64 sums rounded once
    np.testing.assert_allclose(mean, want_mean, rtol=2e-7, atol=1e-7 * abs(want_mean).max())
    np.testing.assert_allclose(variance, want_variance, rtol=2e-7)
    assert rel_error(out, want_out) < 2e-6


@pytest.mark.parametrize("shape", shapes())
def test_forward_output_is_numpys_float32_steps(shape, layout):
    """out = (x - mean) * (1 / sqrt(variance + epsilon) * gamma) + beta, each step rounded to
    float32 as the NumPy kernel's ufuncs round it, from the statistics returned."""
    rng = np.random.default_rng(2)
    x, gamma, beta = sample(shape, rng)
    out, mean, variance = numpy_backend.batch_norm_training(x, gamma, beta, EPS)
    scale = 1 / np.sqrt(variance + np.float32(EPS)) * gamma
    want = (x.reshape(-1, shape[-1]) - mean) * scale + beta
    np.testing.assert_array_equal(out.reshape(want.shape).view(np.int32), want.view(np.int32))


def test_variance_is_two_pass_accurate():
    """Data far from zero (mean 1e4, spread 1e-2): a float32 sum of squares minus the squared
    sum loses every digit here; two passes keep float32 accuracy."""
    rng = np.random.default_rng(3)
    c = 2 * lanes()
    x = (1e4 + rng.normal(0, 1e-2, (64, 9, 9, c))).astype(np.float32)
    gamma, beta = np.ones(c, np.float32), np.zeros(c, np.float32)
    _, mean, variance = numpy_backend.batch_norm_training(x, gamma, beta, EPS)
    _, want_mean, want_variance = ref_forward(x, gamma, beta)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-7)
    np.testing.assert_allclose(variance, want_variance, rtol=3e-7)


@pytest.mark.parametrize("shape", shapes())
def test_gradient_matches_float64(shape, layout):
    rng = np.random.default_rng(4)
    x, gamma, beta = sample(shape, rng)
    dy, dmean, dvariance = grad_inputs(shape, rng)
    _, mean, variance = numpy_backend.batch_norm_training(x, gamma, beta, EPS)
    dx, dgamma, dbeta = numpy_backend.batch_norm_training_grad(
        x, gamma, mean, variance, dy, dmean, dvariance, EPS)
    want_dx, want_dgamma, want_dbeta = ref_grads(x, gamma, dy, dmean, dvariance)
    assert dx.dtype == dgamma.dtype == dbeta.dtype == np.float32
    assert rel_error(dx, want_dx) < 1e-5
    assert rel_error(dgamma, want_dgamma) < 2e-6
    np.testing.assert_allclose(dbeta, want_dbeta, rtol=1e-6, atol=1e-6)


def test_gradient_matches_central_differences():
    """d/dx of L = sum(out * u) + sum(mean * p) + sum(variance * q) through the native forward,
    by central differences in float64 of the float32 forward (h large enough for float32)."""
    rng = np.random.default_rng(5)
    shape = (3, 2, lanes())
    x, gamma, beta = sample(shape, rng, loc=0.2, scale=1.0)
    u, p, q = grad_inputs(shape, rng)

    def loss(values):
        out, mean, variance = numpy_backend.batch_norm_training(
            values.astype(np.float32), gamma, beta, EPS)
        return (np.sum(out.astype(np.float64) * u) + np.dot(mean.astype(np.float64), p)
                + np.dot(variance.astype(np.float64), q))

    h = 1e-2
    numeric = np.zeros(x.size)
    base = x.astype(np.float64).reshape(-1)
    for i in range(x.size):
        up, down = base.copy(), base.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (loss(up.reshape(shape)) - loss(down.reshape(shape))) / (2 * h)
    _, mean, variance = numpy_backend.batch_norm_training(x, gamma, beta, EPS)
    dx, _, _ = numpy_backend.batch_norm_training_grad(x, gamma, mean, variance, u, p, q, EPS)
    np.testing.assert_allclose(dx.reshape(-1), numeric, rtol=2e-2, atol=2e-3)


def test_combine_and_normalize_are_numpys_float32_steps():
    rng = np.random.default_rng(6)
    c = 3 * lanes()
    x, dy = (rng.normal(0, 3, (41, c)).astype(np.float32) for _ in range(2))
    mean, a, k, b = (rng.normal(0, 2, c).astype(np.float32) for _ in range(4))
    dx = np.empty_like(x)
    numpy_norm_native.combine(x, dy, dx, mean, a, k, b)(0, 41)
    want = ((x - mean) * a + dy * k) + b
    np.testing.assert_array_equal(dx.view(np.int32), want.view(np.int32))
    out = np.empty_like(x)
    numpy_norm_native.normalize(x, out, mean, a, b)(0, 41)
    np.testing.assert_array_equal(out.view(np.int32), ((x - mean) * a + b).view(np.int32))


def test_same_bits_on_any_thread_count(monkeypatch):
    rng = np.random.default_rng(7)
    shape = (64, 16, 16, 2 * lanes())  # several pieces, over the split threshold
    x, gamma, beta = sample(shape, rng)
    dy, dmean, dvariance = grad_inputs(shape, rng)
    results = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(numpy_backend, "_THREADS", threads)
        out, mean, variance = numpy_backend.batch_norm_training(x, gamma, beta, EPS)
        grads = numpy_backend.batch_norm_training_grad(x, gamma, mean, variance, dy, dmean,
                                                       dvariance, EPS)
        results.append([out, mean, variance, *grads])
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


def test_half_precision_runs_in_float32():
    rng = np.random.default_rng(8)
    shape = (5, 4, 2 * lanes())
    x, gamma, beta = sample(shape, rng)
    out, mean, variance = numpy_backend.batch_norm_training(
        x.astype(np.float16), gamma, beta, EPS)
    want_out, want_mean, want_variance = ref_forward(x.astype(np.float16), gamma, beta)
    assert out.dtype == np.float16 and mean.dtype == np.float32
    np.testing.assert_allclose(variance, want_variance, rtol=2e-7)
    assert rel_error(out, want_out) < 1e-3


@pytest.mark.parametrize("case", ["float64", "odd-channels", "strided-gamma"])
def test_other_inputs_match_float64(case):
    """The NumPy path where the kernels do not apply, and vectors the kernels copy first."""
    rng = np.random.default_rng(9)
    c = 2 * lanes() + (3 if case == "odd-channels" else 0)
    x, gamma, beta = sample((6, 5, c), rng)
    dy, dmean, dvariance = grad_inputs((6, 5, c), rng)
    if case == "float64":
        x, gamma, beta, dy = (v.astype(np.float64) for v in (x, gamma, beta, dy))
    if case == "strided-gamma":
        gamma, beta = np.repeat(gamma, 2)[::2], np.repeat(beta, 2)[::2]
    out, mean, variance = numpy_backend.batch_norm_training(x, gamma, beta, EPS)
    dx, dgamma, _ = numpy_backend.batch_norm_training_grad(
        x, gamma, mean, variance, dy, dmean, dvariance, EPS)
    want_out = ref_forward(x, gamma, beta)[0]
    want_dx, want_dgamma, _ = ref_grads(x, gamma, dy, dmean, dvariance)
    tight = case == "float64"
    assert rel_error(out, want_out) < (1e-12 if tight else 1e-5)
    assert rel_error(dx, want_dx) < (1e-11 if tight else 1e-4)
    assert rel_error(dgamma, want_dgamma) < (1e-11 if tight else 1e-4)


def test_avx2_vector_width(monkeypatch):
    """The kernels built for 8-lane vectors (AVX2's groups: the same loops, other register
    blocks), run here on a CPU that has them."""
    machine, width = numpy_llvm._target
    if width == 8:
        pytest.skip("the default width here")
    # (numpy_llvm.compiled keys its kernels by the width too: these are compiled anew)
    monkeypatch.setattr(numpy_llvm, "_target", (machine, 8))
    rng = np.random.default_rng(10)
    shape = (3, 7, 40)  # five vectors of 8: groups of 4 (moments) and 1 (sums), and a tail
    x, gamma, beta = sample(shape, rng)
    dy, dmean, dvariance = grad_inputs(shape, rng)
    assert numpy_norm_native.moments(x.reshape(-1, 40)) is not None
    out, mean, variance = numpy_backend.batch_norm_training(x, gamma, beta, EPS)
    dx, dgamma, _ = numpy_backend.batch_norm_training_grad(
        x, gamma, mean, variance, dy, dmean, dvariance, EPS)
    want_out, _, want_variance = ref_forward(x, gamma, beta)
    want_dx, want_dgamma, _ = ref_grads(x, gamma, dy, dmean, dvariance)
    np.testing.assert_allclose(variance, want_variance, rtol=2e-7)
    assert rel_error(out, want_out) < 2e-6
    assert rel_error(dx, want_dx) < 1e-5
    assert rel_error(dgamma, want_dgamma) < 2e-6


@pytest.mark.keras_oracle
def test_layer_step_matches_keras():
    """A BatchNormalization layer's training step over channels in whole vectors (the native
    passes) against real Keras 3: output, input and weight gradients, moving statistics."""
    k = import_keras()
    rng = np.random.default_rng(11)
    shape = (8, 5, 5, 2 * lanes())
    x = rng.normal(0.5, 1.5, size=shape).astype("float32")
    w = rng.normal(size=shape).astype("float32")
    assert numpy_norm_native.moments(x.reshape(-1, shape[-1])) is not None
    ours = keras.layers.BatchNormalization()
    ours.build(shape)
    weights = [rng.uniform(0.5, 1.5, v.shape).astype("float32") for v in ours.weights]
    ours.set_weights(weights)
    got = _layer_step(ours, tf.constant(x), tf.constant(w))
    theirs, layer = _keras_step(k, {}, weights, x, w)
    for a, b, what in zip(got, theirs, ["out", "dx", "gamma", "beta"]):
        scale = max(1.0, float(np.abs(np.asarray(b.detach())).max()))
        assert_matches(a, b, rtol=1e-5, atol=2e-6 * scale, what=what)
    for a, b in zip(ours.weights, layer.weights):
        assert_matches(a, b.value, rtol=1e-6, atol=1e-6, what=a.path)
