"""The NumPy backend's depthwise convolutions (one input channel per group: DepthwiseConv2D,
SeparableConv2D) run tap by tap as elementwise products: checked against a float64
reference written here from the definition, C-ordered, and the same bits on one and two
threads. relu6 takes out= and runs by blocks of rows: the same bits as its two ufuncs."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import numpy_backend as nb

rng = np.random.default_rng(11)


@pytest.fixture
def threads(monkeypatch):
    """use(count): that many kernel threads, splits at any size where count > 1, pieces
    small enough for test-sized arrays; use.splits counts splits into several pieces."""
    monkeypatch.setattr(nb, "_NN_COLS_BYTES", 1 << 12)
    monkeypatch.setattr(nb, "_FUSED_BLOCK_BYTES", 1 << 12)
    in_parallel = nb._in_parallel

    def counted(run, pieces, nbytes):
        use.splits += len(pieces) > 1 and nbytes >= nb._PARALLEL_MIN_BYTES
        return in_parallel(run, pieces, nbytes)
    monkeypatch.setattr(nb, "_in_parallel", counted)

    def use(count):
        monkeypatch.setattr(nb, "_THREADS", count)
        monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1 if count > 1 else 1 << 62)
        use.splits = 0
    return use


def _padded(x, k, s, d, padding):
    """x (NHWC, float64) padded by TensorFlow's rule for a k x k window."""
    if padding == "VALID":
        return x
    pads = []
    for size in x.shape[1:3]:
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0)] + pads + [(0, 0)])


def _reference(x, w, g, s, d, padding):
    """(output, filter gradient, input gradient) of a depthwise convolution in float64:
    output channel c * multiplier + m is channel c of x convolved with w[:, :, c, m]."""
    x, w, g = (a.astype(np.float64) for a in (x, w, g))
    n, h, wd, c = x.shape
    k, multiplier = w.shape[0], w.shape[3]
    xp = _padded(x, k, s, d, padding)
    ho = (xp.shape[1] - (k - 1) * d - 1) // s + 1
    wo = (xp.shape[2] - (k - 1) * d - 1) // s + 1
    out = np.zeros((n, ho, wo, c, multiplier))
    dw = np.zeros(w.shape)
    dxp = np.zeros(xp.shape)
    g5 = g.reshape(n, ho, wo, c, multiplier)
    for i in range(k):
        for j in range(k):
            rows = (slice(None), slice(i * d, i * d + s * (ho - 1) + 1, s),
                    slice(j * d, j * d + s * (wo - 1) + 1, s))
            tap = xp[rows]
            out += tap[..., None] * w[i, j]
            dw[i, j] = np.einsum("nhwc,nhwcm->cm", tap, g5)
            dxp[rows] += np.einsum("nhwcm,cm->nhwc", g5, w[i, j])
    top = (xp.shape[1] - h) // 2 if padding == "SAME" else 0
    left = (xp.shape[2] - wd) // 2 if padding == "SAME" else 0
    return out.reshape(n, ho, wo, c * multiplier), dw, dxp[:, top:top + h, left:left + wd]


# (batch, size, channels, multiplier, window, stride, dilation, padding)
CASES = [(6, 9, 5, 1, 3, 1, 1, "SAME"), (4, 10, 3, 2, 3, 2, 1, "SAME"),
         (3, 11, 4, 3, 3, 1, 1, "VALID"), (5, 12, 6, 1, 3, 1, 2, "SAME"),
         (4, 8, 7, 1, 5, 2, 1, "VALID"), (3, 7, 2, 2, 2, 2, 1, "SAME")]


def _kernels(x, w, g, s, d, padding, data_format="NHWC"):
    attrs = dict(strides=(s, s), padding=padding, dilations=(d, d), data_format=data_format)
    grouped = w.reshape(w.shape[:2] + (1, -1))  # depthwise_conv2d's grouped filters
    return (nb.conv2d(x, grouped, **attrs),
            nb.conv2d_backprop_filter(x, g, grouped.shape, **attrs).reshape(w.shape),
            nb.conv2d_backprop_input(grouped, g, x.shape, **attrs))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_convolution_and_its_gradients_match_float64(case, dtype):
    n, size, c, multiplier, k, s, d, padding = case
    x = rng.standard_normal((n, size, size, c)).astype(dtype)
    w = rng.standard_normal((k, k, c, multiplier)).astype(dtype)
    out_size = (_padded(x, k, s, d, padding).shape[1] - (k - 1) * d - 1) // s + 1
    g = rng.standard_normal((n, out_size, out_size, c * multiplier)).astype(dtype)
    expected = _reference(x, w, g, s, d, padding)
    tolerance = 1e-12 if dtype is np.float64 else 1e-5
    for got, want in zip(_kernels(x, w, g, s, d, padding), expected):
        assert got.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=tolerance,
                                   atol=tolerance * np.abs(want).max())
    # Elementwise kernels after it walk a channel-strided output many times slower.
    assert _kernels(x, w, g, s, d, padding)[0].flags.c_contiguous


def test_depthwise_convolution_of_nchw_inputs_matches_float64():
    x = rng.standard_normal((4, 9, 9, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 1)).astype(np.float32)
    g = rng.standard_normal((4, 5, 5, 6)).astype(np.float32)
    expected = _reference(x, w, g, 2, 1, "SAME")
    to_nchw = (0, 3, 1, 2)
    got = _kernels(x.transpose(to_nchw), w, g.transpose(to_nchw), 2, 1, "SAME", "NCHW")
    for value, want in zip(got, expected):
        if value.ndim == 4 and value.shape != w.shape:
            value = value.transpose(0, 2, 3, 1)
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_depthwise_kernels_give_the_same_bits_on_two_threads(threads):
    n, size, c, multiplier, k, s, d, padding = 24, 10, 8, 2, 3, 1, 1, "SAME"
    x = rng.standard_normal((n, size, size, c)).astype(np.float32)
    w = rng.standard_normal((k, k, c, multiplier)).astype(np.float32)
    g = rng.standard_normal((n, size, size, c * multiplier)).astype(np.float32)
    threads(1)
    serial = _kernels(x, w, g, s, d, padding)
    assert threads.splits == 0
    threads(2)
    split = _kernels(x, w, g, s, d, padding)
    assert threads.splits == 3
    for one, two in zip(serial, split):
        np.testing.assert_array_equal(two, one)


RELU6_INPUTS = [np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 5.9, 6.0, 6.1, -1e-30]),
                rng.standard_normal((3, 5)).astype(np.float32) * 8,
                (rng.standard_normal((40, 9, 130)) * 8).astype(np.float32),
                np.arange(-20, 20, dtype=np.int32).reshape(5, 8),
                np.float32(7.5)]


@pytest.mark.parametrize("x", RELU6_INPUTS, ids=lambda x: f"{x.dtype}{np.shape(x)}")
def test_relu6_is_its_two_ufuncs_bit_for_bit(x, threads):
    expected = np.minimum(np.maximum(x, np.zeros((), x.dtype)), np.asarray(6, x.dtype))
    threads(2)
    lone = nb.specialize("relu6", {}, 1, result_size=np.size(x))
    for got in (nb.relu6(x), nb.relu6(np.asarray(x).copy(), out=None),
                (lone or nb.relu6)(x)):
        assert got.dtype == expected.dtype and got.shape == np.shape(expected)
        np.testing.assert_array_equal(got, expected)
        assert np.array_equal(np.signbit(got), np.signbit(expected))  # -0.0 stays -0.0
    # A large one runs by blocks of rows on the threads, as a lone ufunc does.
    assert (lone is not None) == (np.size(x) > nb._FUSED_BLOCK_BYTES >> 3)
    assert threads.splits == (np.size(x) > nb._FUSED_BLOCK_BYTES >> 3)


# (shape, summed axes, keepdims, whether the sum runs as slices added in order)
SHORT_SUMS = [((1, 4, 1, 6, 1, 5, 2, 1, 1, 32), (0, 2, 4, 6, 8), False, True),  # UpSampling2D
              ((4, 6, 3, 5, 16), (2,), True, True), ((3, 8, 5, 8), (1,), False, True),
              ((3, 2, 4), (1,), False, False), ((3, 9, 16), (1,), False, False),
              ((3, 2, 2, 16), (1, 2), False, False), ((5, 16, 2), (2,), False, False)]


@pytest.mark.parametrize("shape, axis, keepdims, by_slices", SHORT_SUMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sums_over_a_short_axis_are_numpys_bit_for_bit(shape, axis, keepdims, by_slices,
                                                       dtype):
    x = rng.standard_normal(shape).astype(dtype)
    specials = [np.nan, np.inf, -np.inf, -0.0, -0.0, 0.0, 1e30, -1e30, 3e-39, -0.0]
    count = min(len(specials), x.size // 4)
    x.reshape(-1)[:4 * count:4] = specials[:count]
    kernel = nb.specialize("reduce_sum", {"axis": axis, "keepdims": keepdims}, 1,
                           input_types=[(shape, tf.as_dtype(dtype))])
    assert (getattr(kernel, "__name__", "") == "sum_short_axis") == by_slices
    for value in (x, np.asfortranarray(x)):  # (NumPy's bits depend on the layout)
        expected = np.add.reduce(value, axis, dtype, None, keepdims)
        got = kernel(value)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
        assert np.array_equal(np.signbit(got), np.signbit(expected))


def test_depthwise_kernels_of_an_empty_batch_give_empty_results_and_zero_filters():
    x = np.zeros((0, 5, 5, 3), np.float32)
    w = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    out, dw, dx = _kernels(x, w, np.zeros((0, 5, 5, 6), np.float32), 1, 1, "SAME")
    assert out.shape == (0, 5, 5, 6) and dx.shape == x.shape
    np.testing.assert_array_equal(dw, np.zeros(w.shape, np.float32))
