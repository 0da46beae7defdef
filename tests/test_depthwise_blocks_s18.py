"""numpy_depthwise_native's channel-block path (session 18): the forward pass (every stride)
and the input gradient (stride 1) over channels that are whole vectors, with each block's
filter taps held in registers and the inner pixels run without the padding's selects. It
must give the bits of the NumPy kernels it stands in for (forced by switching the native
ones off) at the borders, in the inner pixels, for signed zeros, NaN and infinities, on
any thread count, and the float64 oracle's values."""

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_llvm

NATIVE = numpy_llvm.available()
needs_native = pytest.mark.skipif(not NATIVE, reason="no llvmlite or no AVX2 with FMA")


def _numpy_path(f, *args):
    numpy_llvm.enable(False)
    try:
        return f(*args)
    finally:
        numpy_llvm.enable(True)


def _assert_same_bits(got, want, what):
    """Every bit, but a NaN's sign and payload (which of two NaNs a sum keeps is not the
    NumPy path's to define either: numpy_depthwise_native's docstring)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape)
    assert (np.isnan(got) == np.isnan(want)).all(), f"{what}: NaNs in other places"
    got, want = np.where(np.isnan(got), 0, got), np.where(np.isnan(want), 0, want)
    bits = {4: np.uint32, 8: np.uint64}[got.itemsize]
    differ = np.argwhere(got.view(bits) != want.view(bits))
    assert not differ.size, (f"{what}: {len(differ)} differ, first at {tuple(differ[0])}: "
                             f"{got[tuple(differ[0])]!r} != {want[tuple(differ[0])]!r}")


def _special(rng, shape, dtype, fraction=0.02):
    """Normal values with zeros of either sign and a few NaN and +-inf."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    count = max(1, int(fraction * flat.size))
    for value in (0.0, -0.0, np.nan, np.inf, -np.inf):
        flat[rng.choice(flat.size, count, replace=False)] = value
    return x


def _conv(x, w, strides, padding, dilations):
    kh, kw, c, _ = w.shape
    return nb.conv2d(x, w.reshape(kh, kw, 1, c), strides, padding, dilations, "NHWC")


def _input_grad(w, g, shape, strides, padding, dilations):
    kh, kw, c, _ = w.shape
    return nb.conv2d_backprop_input(w.reshape(kh, kw, 1, c), g, shape, strides, padding,
                                    dilations, "NHWC")


def _forward64(x, w, strides, padding, dilations):
    """The depthwise convolution in float64, tap by tap over a zero-padded copy."""
    kh, kw = w.shape[:2]
    pads, (ho, wo) = nb._nn_geometry(x.shape[1:3], (kh, kw), strides, padding, dilations)
    xp = np.pad(x.astype(np.float64), ((0, 0), *pads, (0, 0)))
    (sh, sw), (dh, dw) = strides, dilations
    out = np.zeros((x.shape[0], ho, wo, x.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                      j * dw:j * dw + sw * (wo - 1) + 1:sw] * w[i, j, :, 0]
    return out


def _input_grad64(w, g, shape, strides, padding, dilations):
    """The input gradient in float64: each tap's products scattered into a padded input."""
    kh, kw = w.shape[:2]
    pads, (ho, wo) = nb._nn_geometry(shape[1:3], (kh, kw), strides, padding, dilations)
    (sh, sw), (dh, dw) = strides, dilations
    dxp = np.zeros((shape[0], shape[1] + sum(pads[0]), shape[2] + sum(pads[1]), shape[3]))
    for i in range(kh):
        for j in range(kw):
            dxp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                j * dw:j * dw + sw * (wo - 1) + 1:sw] += g * w[i, j, :, 0]
    return dxp[:, pads[0][0]:pads[0][0] + shape[1], pads[1][0]:pads[1][0] + shape[2]]


# Whole channel vectors (16 and 8 lanes on AVX-512, 8 and 4 on AVX2) in every geometry the
# blocks meet: inner pixels and borders, images narrower and shorter than the window, the
# separable network's layers, dilation, VALID, uneven strides, a 5x5 window (one vector a
# block), a 1x4 one.
GEOMETRIES = [
    ((2, 9, 10, 32), (3, 3), (1, 1), "SAME", (1, 1)),
    ((2, 4, 4, 64), (3, 3), (1, 1), "SAME", (1, 1)),
    ((2, 2, 3, 48), (3, 3), (1, 1), "SAME", (1, 1)),
    ((3, 1, 1, 16), (3, 3), (1, 1), "SAME", (1, 1)),
    ((2, 11, 9, 32), (3, 3), (2, 2), "SAME", (1, 1)),
    ((2, 12, 13, 16), (3, 3), (1, 1), "VALID", (2, 2)),
    ((2, 10, 12, 32), (3, 3), (2, 1), "SAME", (1, 2)),
    ((2, 9, 11, 16), (5, 5), (1, 1), "SAME", (1, 1)),
    ((2, 7, 9, 48), (1, 4), (1, 1), "SAME", (1, 1)),
    ((2, 8, 8, 80), (3, 3), (1, 1), "VALID", (1, 1)),
]


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, k, strides, padding, dilations", GEOMETRIES)
def test_blocks_give_the_numpy_paths_bits(shape, k, strides, padding, dilations, dtype):
    rng = np.random.default_rng(sum(shape) + len(k))
    x = rng.standard_normal(shape).astype(dtype)
    x[x < -0.6] = 0.0  # (a ReLU's zeros)
    w = rng.standard_normal(k + (shape[3], 1)).astype(dtype)
    attrs = (strides, padding, dilations)
    got = _conv(x, w, *attrs)
    _assert_same_bits(got, _numpy_path(_conv, x, w, *attrs), "forward")
    # (float32 sums of 9-25 terms of size ~1: a few ulps of the largest term)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, _forward64(x, w, *attrs), rtol=tolerance, atol=tolerance)
    g = rng.standard_normal(got.shape).astype(dtype)
    dx = _input_grad(w, g, shape, *attrs)
    _assert_same_bits(dx, _numpy_path(_input_grad, w, g, shape, *attrs), "input gradient")
    np.testing.assert_allclose(dx, _input_grad64(w, g, shape, *attrs), rtol=tolerance,
                               atol=tolerance)


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, k, strides, padding, dilations", GEOMETRIES)
def test_zeros_nan_and_inf_in_the_blocks(shape, k, strides, padding, dilations, dtype):
    """Signed zeros (a padding tap turns a sum of -0.0 into +0.0 in the forward pass and
    adds nothing in the input gradient), NaN and infinities in the input, the filter and
    the cotangent."""
    rng = np.random.default_rng(7 + sum(shape))
    x = _special(rng, shape, dtype)
    w = _special(rng, k + (shape[3], 1), dtype, fraction=0.03)
    attrs = (strides, padding, dilations)
    got = _conv(x, w, *attrs)
    _assert_same_bits(got, _numpy_path(_conv, x, w, *attrs), "forward")
    g = _special(rng, got.shape, dtype)
    _assert_same_bits(_input_grad(w, g, shape, *attrs),
                      _numpy_path(_input_grad, w, g, shape, *attrs), "input gradient")


@needs_native
def test_all_negative_zeros_keep_their_sign_only_where_no_padding_is_read():
    """Inputs of -0.0 times positive taps: -0.0 sums in the inner pixels; the border's
    padding taps add +0.0 (forward). In the input gradient (cotangent -0.0) the inner
    pixels start from the first tap's product (-0.0) and the border too where the first
    tap reads it, else from +0.0."""
    x = np.full((1, 5, 6, 32), -0.0, np.float32)
    w = np.ones((3, 3, 32, 1), np.float32)
    out = _conv(x, w, (1, 1), "SAME", (1, 1))
    inner = np.zeros((5, 6), bool)
    inner[1:-1, 1:-1] = True
    assert np.signbit(out[0][inner]).all() and not np.signbit(out[0][~inner]).any()
    dx = _input_grad(w, x, x.shape, (1, 1), "SAME", (1, 1))
    # (the first tap reads input pixels (i, j) with i + 1 < 5 and j + 1 < 6)
    first = np.zeros((5, 6), bool)
    first[:-1, :-1] = True
    assert np.signbit(dx[0][first]).all() and not np.signbit(dx[0][~first]).any()


@needs_native
def test_blocks_split_across_threads_give_the_same_bits(monkeypatch):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 17, 16, 64)).astype(np.float32)
    w = rng.standard_normal((3, 3, 64, 1)).astype(np.float32)
    g = rng.standard_normal((4, 17, 16, 64)).astype(np.float32)
    attrs = ((1, 1), "SAME", (1, 1))
    monkeypatch.setattr(nb, "_NN_COLS_BYTES", 4096)  # (pieces of a few rows)
    monkeypatch.setattr(nb, "_THREADS", 1)
    want = _conv(x, w, *attrs), _input_grad(w, g, x.shape, *attrs)
    monkeypatch.setattr(nb, "_THREADS", 2)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 0)
    _assert_same_bits(_conv(x, w, *attrs), want[0], "forward")
    _assert_same_bits(_input_grad(w, g, x.shape, *attrs), want[1], "input gradient")


def _filter_grad(x, g, k, strides, padding, dilations):
    return nb.conv2d_backprop_filter(x, g, k + (1, x.shape[3]), strides, padding, dilations,
                                     "NHWC")


@needs_native
@pytest.mark.parametrize("shape, k, strides, padding, dilations", GEOMETRIES)
def test_filter_gradient_counts_each_taps_reads_exactly(shape, k, strides, padding,
                                                        dilations):
    """With x and g all ones, each tap's filter gradient is the number of output pixels
    whose window reads that tap inside x (the padding's taps add nothing): integers, exact
    in float32, whichever pixels go without the selects."""
    x = np.ones(shape, np.float32)
    attrs = (strides, padding, dilations)
    g = np.ones(_conv(x, np.ones(k + (shape[3], 1), np.float32), *attrs).shape, np.float32)
    got = _filter_grad(x, g, k, *attrs)
    pads, (ho, wo) = nb._nn_geometry(shape[1:3], k, strides, padding, dilations)
    (sh, sw), (dh, dw) = strides, dilations
    for i in range(k[0]):
        for j in range(k[1]):
            rows = sum(0 <= r * sh + i * dh - pads[0][0] < shape[1] for r in range(ho))
            columns = sum(0 <= c * sw + j * dw - pads[1][0] < shape[2] for c in range(wo))
            want = np.float32(shape[0] * rows * columns)
            assert (got[i, j, 0] == want).all(), (i, j, got[i, j, 0, :3], want)


@needs_native
@pytest.mark.parametrize("shape, k, strides, padding, dilations", GEOMETRIES[:8])
def test_filter_gradient_against_float64(shape, k, strides, padding, dilations):
    """Each tap's products summed by float32 fused multiply-adds over the output pixels in
    order: within n * eps32 * sum |x g| of float64's sum (n terms: the recursive-summation
    bound), whichever pixels go without the selects."""
    rng = np.random.default_rng(3 + sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    attrs = (strides, padding, dilations)
    ones = np.ones(k + (shape[3], 1), np.float32)
    g = rng.standard_normal(_conv(x, ones, *attrs).shape).astype(np.float32)
    got = _filter_grad(x, g, k, *attrs)
    pads, (ho, wo) = nb._nn_geometry(shape[1:3], k, strides, padding, dilations)
    (sh, sw), (dh, dw) = strides, dilations
    xp = np.pad(x.astype(np.float64), ((0, 0), *pads, (0, 0)))
    n = shape[0] * ho * wo
    for i in range(k[0]):
        for j in range(k[1]):
            window = xp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                        j * dw:j * dw + sw * (wo - 1) + 1:sw]
            exact = (window * g).sum(axis=(0, 1, 2))
            scale = np.abs(window * g).sum(axis=(0, 1, 2))
            bound = n * np.finfo(np.float32).eps * scale + 1e-30
            assert (np.abs(got[i, j, 0] - exact) <= bound).all(), (i, j)
