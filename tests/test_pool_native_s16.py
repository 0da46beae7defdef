"""numpy_pool_native's max-pool kernels against NumPy float64 oracles (window maxima, a
per-window argmax that routes each cotangent, a float64 filter gradient) and, bit for bit,
against the NumPy kernels they stand in for (forced by switching the native ones off)."""

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_llvm
from tensorflux.backends import numpy_pool_native as pn
from tests.tolerances import assert_same_bits

NATIVE = numpy_llvm.available()


@pytest.fixture
def numpy_only(monkeypatch):
    """A function running f(*args) with the native pool kernels switched off."""
    def run(f, *args):
        with monkeypatch.context() as patch:
            for name in ("pool_max_rows", "pool_grad_2x2", "pool_filter_grad_rows"):
                patch.setattr(pn, name, lambda *a, **k: None)
            return f(*args)
    return run


def _tied(rng, shape, dtype, nan=0, inf=0):
    """Values from {-2 .. 2} (many ties), zeros of either sign, and a few NaN / inf."""
    x = rng.integers(-2, 3, shape).astype(dtype)
    zeros = x == 0
    x[zeros] = rng.choice(np.array([0.0, -0.0], dtype), zeros.sum())
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, nan, replace=False)] = np.nan
    flat[rng.choice(flat.size, inf, replace=False)] = rng.choice([np.inf, -np.inf], inf)
    return x


def _windows64(x, ksize, strides, padding):
    """(n, ho, wo, kh * kw, c) float64 windows, padding -inf, rows in TF's SAME geometry."""
    x = x.astype(np.float64)
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = ksize, strides
    if padding == "VALID":
        ho, wo, top, left = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0
    else:
        ho, wo = -(-h // sh), -(-w // sw)
        top = max((ho - 1) * sh + kh - h, 0) // 2
        left = max((wo - 1) * sw + kw - w, 0) // 2
    big = np.full((n, h + 2 * kh + 2 * sh, w + 2 * kw + 2 * sw, c), -np.inf)
    big[:, top:top + h, left:left + w] = x
    out = np.empty((n, ho, wo, kh * kw, c))
    for i in range(ho):
        for j in range(wo):
            out[:, i, j] = big[:, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(n, -1, c)
    return out, (top, left)


CASES = [  # (shape, ksize, strides, padding)
    ((4, 26, 26, 32), (2, 2), (2, 2), "VALID"),
    ((3, 11, 11, 64), (2, 2), (2, 2), "VALID"),  # an odd size: the last row/col in no window
    ((2, 7, 9, 16), (2, 2), (2, 2), "SAME"),
    ((2, 8, 6, 16), (2, 2), (2, 2), "SAME"),  # even: SAME pads nothing
    ((2, 9, 10, 32), (3, 3), (2, 2), "SAME"),
    ((2, 6, 7, 16), (3, 2), (1, 1), "VALID"),
    ((2, 6, 6, 3), (2, 2), (2, 2), "VALID"),  # channels not whole vectors: the NumPy path
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, ksize, strides, padding", CASES)
def test_max_pool_forward(shape, ksize, strides, padding, dtype, numpy_only):
    rng = np.random.default_rng(sum(shape) + len(padding))
    x = _tied(rng, shape, dtype, nan=3, inf=3)
    got = nb.max_pool2d(x, ksize, strides, padding, "NHWC")
    windows, _ = _windows64(x, ksize, strides, padding)
    with np.errstate(invalid="ignore"):
        expected = windows.max(axis=3)  # NaN where a window holds one
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.astype(np.float64), expected)  # NaN == NaN here
    # Zeros' signs: NumPy's maximum folded over the window, the NumPy kernel's bits.
    assert_same_bits(got, numpy_only(nb.max_pool2d, x, ksize, strides, padding, "NHWC"))


def test_max_pool_forward_nchw_and_strided(numpy_only):
    rng = np.random.default_rng(5)
    x = _tied(rng, (3, 32, 12, 12), np.float32, nan=2)
    got = nb.max_pool2d(x, (2, 2), (2, 2), "VALID", "NCHW")
    assert_same_bits(got, numpy_only(nb.max_pool2d, x, (2, 2), (2, 2), "VALID", "NCHW"))
    y = _tied(rng, (3, 12, 12, 64), np.float32)[..., ::2]  # not contiguous
    got = nb.max_pool2d(y, (2, 2), (2, 2), "VALID", "NHWC")
    windows, _ = _windows64(y, (2, 2), (2, 2), "VALID")
    np.testing.assert_array_equal(got, windows.max(axis=3))


def _routed64(x, g, ksize, strides, padding):
    """Each cotangent added at its window's first maximum in row-major order (np.argmax:
    the first NaN where there is one), in float64: the routing rule, independently."""
    n, h, w, c = x.shape
    windows, (top, left) = _windows64(x, ksize, strides, padding)
    (kh, kw), (sh, sw) = ksize, strides
    best = np.argmax(windows, axis=3)  # (n, ho, wo, c)
    big = np.zeros((n, h + 2 * kh + 2 * sh, w + 2 * kw + 2 * sw, c))
    images, channels = np.arange(n)[:, None], np.arange(c)[None, :]
    for i in range(best.shape[1]):
        for j in range(best.shape[2]):
            k = best[:, i, j]
            big[images, i * sh + k // kw, j * sw + k % kw, channels] += g[:, i, j]
    return big[:, top:top + h, left:left + w]


GRAD_CASES = [c for c in CASES if c[1] == (2, 2) and c[2] == (2, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, ksize, strides, padding", GRAD_CASES)
@pytest.mark.parametrize("special", ["finite", "nan", "inf", "huge_g", "nan_g"])
def test_max_pool_grad_routes(shape, ksize, strides, padding, dtype, special, numpy_only):
    rng = np.random.default_rng(len(special) + sum(shape))
    x = _tied(rng, shape, dtype, nan=2 if special == "nan" else 0,
              inf=2 if special == "inf" else 0)
    out_shape = nb.max_pool2d(x, ksize, strides, padding, "NHWC").shape
    g = rng.standard_normal(out_shape).astype(dtype)
    if special == "huge_g":  # finite, but past the bound that keeps NumPy's sums finite
        g[0, 0, 0, 0] = np.finfo(dtype).max / 4
    if special == "nan_g":
        g[-1, -1, -1, -1] = np.nan
    got = nb.max_pool2d_grad(x, g, ksize, strides, padding, "NHWC")
    expected = _routed64(x, g.astype(np.float64), ksize, strides, padding)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got.astype(np.float64), expected)
    assert_same_bits(got, numpy_only(nb.max_pool2d_grad, x, g, ksize, strides, padding,
                                      "NHWC"))


def _filter_grad64(x, routed, filter_shape):
    """conv2d's VALID, stride-1 filter gradient in float64."""
    kh, kw, _, _ = filter_shape
    n, h, w, _ = x.shape
    ho, wo = h - kh + 1, w - kw + 1
    x, routed = x.astype(np.float64), routed.astype(np.float64)
    out = np.empty(filter_shape)
    for i in range(kh):
        for j in range(kw):
            out[i, j] = np.einsum("nhwc,nhwo->co", x[:, i:i + ho, j:j + wo], routed)
    return out


FUSED_CASES = [  # (x shape, filter shape): W2's first layer, and others the kernel takes
    ((16, 28, 28, 1), (3, 3, 1, 32)),
    ((5, 10, 12, 2), (3, 3, 2, 16)),
    ((3, 9, 9, 1), (2, 2, 1, 64)),
    ((2, 12, 12, 3), (3, 3, 3, 32)),  # too deep for its registers: the two kernels
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, filter_shape", FUSED_CASES)
@pytest.mark.parametrize("special", ["finite", "ties", "nan", "huge_g"])
def test_fused_pool_filter_grad(x_shape, filter_shape, dtype, special, numpy_only):
    rng = np.random.default_rng(sum(x_shape) + len(special))
    kh, kw, _, o = filter_shape
    x = rng.standard_normal(x_shape).astype(dtype)
    n, h, w, _ = x_shape
    y_shape = (n, h - kh + 1, w - kw + 1, o)
    if special == "finite":
        y = rng.standard_normal(y_shape).astype(dtype)
    else:
        y = _tied(rng, y_shape, dtype, nan=2 if special == "nan" else 0)
    g = rng.standard_normal((n, y_shape[1] // 2, y_shape[2] // 2, o)).astype(dtype)
    if special == "huge_g":
        g[0, 0, 0, 0] = np.finfo(dtype).max / 4
    args = (filter_shape, (1, 1), "VALID", (1, 1), "NHWC", (2, 2), (2, 2), "VALID")
    got = nb.fused_conv2d_backprop_filter(x, y, g, *args)
    assert got.dtype == dtype and got.shape == filter_shape
    # The two kernels it fuses, the NumPy routing forced: the same bits.
    routed = numpy_only(nb.max_pool2d_grad, y, g, (2, 2), (2, 2), "VALID", "NHWC")
    assert_same_bits(got, nb.conv2d_backprop_filter(x, routed, *args[:5]))
    if special != "finite":
        return
    expected = _filter_grad64(x, _routed64(y, g.astype(np.float64), (2, 2), (2, 2),
                                           "VALID"), filter_shape)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tolerance,
                               atol=tolerance * np.abs(expected).max())


@pytest.mark.skipif(not NATIVE, reason="no llvmlite or no AVX2/FMA: the NumPy path runs")
def test_native_kernels_take_the_w2_shapes():
    """The kernels apply where W2 runs them (a silent fallback would pass every test
    above)."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal((4, 26, 26, 32)).astype(np.float32)
    g = rng.standard_normal((4, 13, 13, 32)).astype(np.float32)
    x = rng.standard_normal((4, 28, 28, 1)).astype(np.float32)
    assert pn.pool_max_rows(y, np.empty_like(g), (2, 2), (2, 2)) is not None
    assert pn.pool_grad_2x2(y, g, np.empty_like(y)) is not None
    run = pn.pool_filter_grad_rows(x, y, g, (3, 3, 1, 32), (1, 1), (1, 1))
    assert run is not None
    part = np.empty((3, 3, 1, 32), np.float32)
    assert run(0, 4 * 26, part)
    routed = nb.max_pool2d_grad(y, g, (2, 2), (2, 2), "VALID", "NHWC")
    np.testing.assert_allclose(part, _filter_grad64(x, routed, (3, 3, 1, 32)), rtol=1e-4,
                               atol=1e-4)


def test_split_over_threads_same_bits(monkeypatch):
    """Pieces of rows on the backend's threads give the bits one call gives."""
    rng = np.random.default_rng(7)
    y = _tied(rng, (6, 10, 14, 32), np.float32)
    g = rng.standard_normal((6, 5, 7, 32)).astype(np.float32)
    whole = (nb.max_pool2d(y, (2, 2), (2, 2), "VALID", "NHWC"),
             nb.max_pool2d_grad(y, g, (2, 2), (2, 2), "VALID", "NHWC"))
    monkeypatch.setattr(nb, "_NN_POOL_SPLIT_BYTES", 0)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(nb, "_THREADS", 2)
    split = (nb.max_pool2d(y, (2, 2), (2, 2), "VALID", "NHWC"),
             nb.max_pool2d_grad(y, g, (2, 2), (2, 2), "VALID", "NHWC"))
    for a, b in zip(whole, split):
        assert_same_bits(a, b)
    windows, _ = _windows64(y, (2, 2), (2, 2), "VALID")
    np.testing.assert_array_equal(split[0], windows.max(axis=3))


def test_fused_filter_grad_cuts_the_pieces_of_the_two_step_path():
    """A SAME convolution followed by a 2x2 pool: the fused pool + filter gradient sums the
    batch in the pieces conv2d_backprop_filter cuts (sized from the unpadded input's rows),
    so the two give the same bits; a first layer (the fused kernel's case) with a batch large
    enough for the pieces' byte budget to bind."""
    if not NATIVE:
        pytest.skip("needs llvmlite and a CPU with AVX2 and FMA")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((48, 64, 64, 1)).astype(np.float32)
    w = rng.standard_normal((3, 3, 1, 32)).astype(np.float32)
    y = np.maximum(nb.conv2d(x, w, (1, 1), "SAME", (1, 1), "NHWC"), 0)
    g = rng.standard_normal((48, 32, 32, 32)).astype(np.float32)
    pool = ((2, 2), (2, 2), "VALID")
    fused = nb.fused_conv2d_backprop_filter(x, y, g, w.shape, (1, 1), "SAME", (1, 1), "NHWC",
                                            *pool)
    routed = nb.max_pool2d_grad(y, g, *pool, "NHWC")
    two_step = nb.conv2d_backprop_filter(x, routed, w.shape, (1, 1), "SAME", (1, 1), "NHWC")
    assert_same_bits(fused, two_step)
