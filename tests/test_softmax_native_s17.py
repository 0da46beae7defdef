"""numpy_softmax_native's softmax and softmax gradient (session 17) through the NumPy backend's
softmax and softmax_grad, and through tf.nn.softmax with a GradientTape: the NumPy path's bits
(odd row lengths, NaN, infinities, signed zeros, subnormal results), NumPy float64 and central
differences, real Keras 3, float64 inputs and the native-off switch falling back, and a spy that
the kernels ran. (The file's name is the task's: a Transformer block's largest non-GEMM
kernels turned out to be its attention softmax and its gradient, not layer normalization, which
is composed of graph ops.)"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_llvm, numpy_softmax_native
from tests.keras._oracle import assert_matches, import_keras

pytestmark = pytest.mark.skipif(not numpy_llvm.available(),
                                reason="needs llvmlite and a CPU with AVX2 and FMA")

# Row lengths: below 8 (sequential sum), a vector and around it, pairwise blocks of 128 and
# the halving above, and a long row.
LENGTHS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 200, 257, 1000, 4099]


def _rows_for(n):
    """A row count that puts n-long rows over the parallel branch's minimum, and odd."""
    return (nb._PARALLEL_SOFTMAX_MIN + n - 1) // n | 1


def _numpy_path(function, *args):
    numpy_llvm.enable(False)
    try:
        return function(*args)
    finally:
        numpy_llvm.enable(True)


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _assert_same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    differ = np.flatnonzero(_bits(got) != _bits(want))
    assert differ.size == 0, (f"{differ.size} elements differ, first at {differ[0]}: "
                              f"{got.ravel()[differ[0]]!r} vs {want.ravel()[differ[0]]!r}")


@pytest.fixture
def spy(monkeypatch):
    """Counts the native softmax kernels' runs, by kind."""
    counts = {"softmax": 0, "softmax_grad": 0}
    original = numpy_softmax_native._kernel

    def counted(kind):
        function = original(kind)

        def run(*args):
            counts[kind] += 1
            return function(*args)
        return run
    monkeypatch.setattr(numpy_softmax_native, "_kernel", counted)
    return counts


def _forward_native():
    return numpy_softmax_native.exp_matches()


needs_exp = pytest.mark.skipif(not numpy_llvm.available() or not _forward_native(),
                               reason="the native softmax runs where NumPy's exp is AVX-512's")


def _sample(rng, shape, scale=4.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@needs_exp
@pytest.mark.parametrize("n", LENGTHS)
def test_softmax_gives_the_numpy_paths_bits(n, spy):
    rng = np.random.default_rng(n)
    x = _sample(rng, (_rows_for(n), n), scale=rng.choice([0.1, 4.0, 40.0]))
    got = nb.softmax(x, -1)
    assert spy["softmax"] > 0
    _assert_same_bits(got, _numpy_path(nb.softmax, x, -1))


@pytest.mark.parametrize("n", LENGTHS)
def test_softmax_grad_gives_the_numpy_paths_bits(n, spy):
    rng = np.random.default_rng(100 + n)
    rows = _rows_for(n)
    y = _numpy_path(nb.softmax, _sample(rng, (rows, n)), -1)
    g = _sample(rng, (rows, n), scale=1.0)
    got = nb.softmax_grad(g, y, -1)
    assert spy["softmax_grad"] > 0
    _assert_same_bits(got, _numpy_path(nb.softmax_grad, g, y, -1))


@needs_exp
def test_softmax_special_values_give_the_numpy_paths_bits(spy):
    """NaN, +-inf, -0.0, rows of one repeated value, values whose exp is subnormal or 0, and
    rows spanning exp's whole range, each in rows of odd length."""
    rng = np.random.default_rng(7)
    n = 37
    x = _sample(rng, (_rows_for(n), n), scale=30.0)
    specials = [np.nan, np.inf, -np.inf, -0.0, 0.0, 88.8, -88.0, -100.0, -103.97, -104.0,
                -150.0, 3e38, -3e38, 1e-40]
    for i, value in enumerate(specials):
        x[i, (3 * i) % n] = value
        x[len(specials) + i, :] = value
    x[2 * len(specials), :] = np.linspace(-120, 0, n)
    x[2 * len(specials) + 1, :] = -np.inf
    got = nb.softmax(x, -1)
    assert spy["softmax"] > 0
    _assert_same_bits(got, _numpy_path(nb.softmax, x, -1))
    assert np.isnan(got[0]).all() and np.isnan(got[1]).all()  # a NaN, an inf: NaN rows
    assert (got[2 * len(specials)] >= 0).all() and (got[2 * len(specials)][:5] < 1e-38).all()


def test_softmax_grad_special_values_give_the_numpy_paths_bits(spy):
    rng = np.random.default_rng(8)
    n = 19
    rows = _rows_for(n)
    y = _numpy_path(nb.softmax, _sample(rng, (rows, n)), -1)
    g = _sample(rng, (rows, n), scale=1.0)
    g[0, 3], g[1, :], g[2, 5], y[3, 1], g[4, :] = np.nan, -0.0, np.inf, np.nan, 3e38
    y[5, :] = 0.0
    got = nb.softmax_grad(g, y, -1)
    assert spy["softmax_grad"] > 0
    _assert_same_bits(got, _numpy_path(nb.softmax_grad, g, y, -1))
    assert np.isnan(got[0]).all() and np.isnan(got[3]).all()


@needs_exp
def test_softmax_matches_float64_and_its_gradient_central_differences():
    """The attention scores' shape: the softmax against NumPy float64, its VJP against the
    exact float64 VJP and against central differences of sum(g * softmax(x)) at sampled
    elements."""
    rng = np.random.default_rng(3)
    x = _sample(rng, (32, 4, 64, 64), scale=3.0)
    g = _sample(rng, x.shape, scale=1.0)
    x64 = x.astype(np.float64)

    def softmax64(v):
        e = np.exp(v - v.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    y64 = softmax64(x64)
    y = nb.softmax(x, -1)
    np.testing.assert_allclose(y, y64, rtol=2e-6, atol=1e-9)
    dx = nb.softmax_grad(g, y, -1)
    exact = y64 * (g - (g * y64).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(dx, exact, rtol=1e-4, atol=2e-6)
    h = 1e-6
    for flat in rng.choice(x.size, 24, replace=False):
        index = np.unravel_index(flat, x.shape)
        row = index[:-1]
        plus, minus = x64[row].copy(), x64[row].copy()
        plus[index[-1]] += h
        minus[index[-1]] -= h
        fd = (g[row] @ softmax64(plus) - g[row] @ softmax64(minus)) / (2 * h)
        assert abs(dx[index] - fd) <= 1e-4 * max(1.0, abs(fd)) + 2e-6


@needs_exp
def test_graph_softmax_and_gradient_match_keras_and_the_numpy_path(spy):
    """tf.nn.softmax and its tape gradient over attention-shaped scores: real Keras 3's softmax
    (torch backend) and its autograd gradient to float32 accuracy, and the NumPy path's bits."""
    k = import_keras()
    import torch

    rng = np.random.default_rng(5)
    x = _sample(rng, (8, 4, 64, 64), scale=3.0)
    w = _sample(rng, x.shape, scale=1.0)

    def ours():
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = tf.reduce_sum(tf.nn.softmax(xt, axis=-1) * tf.constant(w))
            y = tf.nn.softmax(xt, axis=-1)
        return np.asarray(y), np.asarray(tape.gradient(loss, xt))

    y, dx = ours()
    assert spy["softmax"] > 0 and spy["softmax_grad"] > 0
    xt = torch.tensor(x, requires_grad=True)
    yt = k.activations.softmax(xt, axis=-1)
    (yt * torch.tensor(w)).sum().backward()
    assert_matches(y, yt, rtol=1e-5, atol=1e-7, what="softmax")
    assert_matches(dx, xt.grad, rtol=1e-4, atol=1e-6, what="d softmax")
    y_off, dx_off = _numpy_path(ours)
    _assert_same_bits(y, y_off)
    _assert_same_bits(dx, dx_off)


def test_float64_and_strided_inputs_take_the_numpy_path(spy):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2048, 64))
    y = nb.softmax(x, -1)
    g = rng.standard_normal(x.shape)
    dx = nb.softmax_grad(g, y, -1)
    assert spy == {"softmax": 0, "softmax_grad": 0}
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=-1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(dx, y * (g - (g * y).sum(axis=-1, keepdims=True)),
                               rtol=1e-12, atol=1e-15)
    strided = _sample(rng, (2048, 128))[:, ::2]
    assert numpy_softmax_native.softmax(strided, np.empty_like(strided)) is None


def test_enable_false_runs_no_native_kernel(spy):
    rng = np.random.default_rng(11)
    x = _sample(rng, (2048, 64))
    y = _numpy_path(nb.softmax, x, -1)
    _numpy_path(nb.softmax_grad, x, y, -1)
    assert spy == {"softmax": 0, "softmax_grad": 0}
    numpy_llvm.enable(False)
    try:
        assert numpy_softmax_native.softmax(x, np.empty_like(x)) is None
        assert numpy_softmax_native.softmax_grad(x, y, np.empty_like(x)) is None
    finally:
        numpy_llvm.enable(True)


def test_environment_variable_switches_the_softmax_kernels_off():
    code = textwrap.dedent("""
        import numpy as np
        from tensorflux.backends import numpy_softmax_native as m
        x = np.ones((4, 16), np.float32)
        print(m.softmax(x, np.empty_like(x)) is None,
              m.softmax_grad(x, x, np.empty_like(x)) is None)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TENSORFLUX_NATIVE_KERNELS": "0"}, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]


def test_rows_split_across_threads_give_the_same_bits(monkeypatch):
    """Pieces of a few rows (a short last one) on two threads: each row's bits its own."""
    rng = np.random.default_rng(12)
    x = _sample(rng, (1001, 64))
    g = _sample(rng, x.shape, scale=1.0)
    want = _numpy_path(nb.softmax, x, -1), None
    want = want[0], _numpy_path(nb.softmax_grad, g, want[0], -1)
    monkeypatch.setattr(nb, "_THREADS", 2)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(nb, "_FUSED_BLOCK_BYTES", 7 * 64 * 16)
    if _forward_native():
        _assert_same_bits(nb.softmax(x, -1), want[0])
    _assert_same_bits(nb.softmax_grad(g, want[0], -1), want[1])


@needs_exp
def test_exp_probe_rejects_an_exp_that_is_not_numpys(monkeypatch):
    """The forward is compiled only where its exp gives np.exp's bits: a probe against a
    one-ulp-off np.exp fails it."""
    real_exp = np.exp

    def off_by_one_ulp(v, *args, **kwargs):
        out = real_exp(v, *args, **kwargs)
        return np.nextafter(out, np.float32(np.inf)).astype(out.dtype)
    monkeypatch.setattr(numpy_softmax_native.np, "exp", off_by_one_ulp)
    assert numpy_softmax_native._probe() is False


@needs_exp
def test_under_a_compiled_runs_flushing_gives_the_numpy_paths_bits(spy):
    """A fit runs its kernels with subnormals flushed (numpy_denormals): subnormal inputs and
    exps, maxima among subnormals and zeros of both signs, give the NumPy path's bits there."""
    from tensorflux.backends import numpy_denormals

    if not numpy_denormals.flushing(numpy_denormals.flushing_now)():
        pytest.skip("flush-to-zero is unavailable here")
    rng = np.random.default_rng(13)
    n = 41
    x = _sample(rng, (_rows_for(n), n), scale=40.0)
    tiny = np.float32(1e-39)
    x[::3, ::2] = rng.choice(np.array([tiny, -tiny, 0.0, -0.0, 2 * tiny], np.float32),
                             x[::3, ::2].shape)
    x[1::3] -= 90.0  # exps in and below the subnormal range
    g = _sample(rng, x.shape, scale=1e-36)

    def both():
        y = nb.softmax(x, -1)
        return y, nb.softmax_grad(g, y, -1)
    y, dx = numpy_denormals.flushing(both)()
    assert spy["softmax"] > 0 and spy["softmax_grad"] > 0
    y_off, dx_off = numpy_denormals.flushing(lambda: _numpy_path(both))()
    _assert_same_bits(y, y_off)
    _assert_same_bits(dx, dx_off)
    assert np.array_equal(y == 0, y_off == 0) and (y_off == 0).any()
