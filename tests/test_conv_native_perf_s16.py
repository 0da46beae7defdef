"""numpy_conv_native's padding read in place and the strided input gradient (session 16): the
kernel reading x as padded (pads above and to the left, negative ones cropping) against a
float64 sum over the taps of an explicitly zero-padded copy, and against the same kernel on
that copy bit for bit; conv2d_backprop_input at strides > 1 (by stride phases) against a
float64 scatter of g @ tap^T and the adjoint identity with a float64 conv."""

import zlib

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_conv_native as ncn
from tensorflux.backends import numpy_llvm

NATIVE = numpy_llvm.available()
pytestmark = pytest.mark.skipif(
    not NATIVE, reason="numpy_conv_native needs llvmlite and a CPU with AVX2 and FMA")


def _placed64(x, pads, size):
    """x in float64 at offset pads (rows, columns; negative crops) of zeros of spatial `size`."""
    n, h, w, c = x.shape
    (pt, pl), margin = pads, 16
    big = np.zeros((n, margin + size[0] + h + margin, margin + size[1] + w + margin, c))
    big[:, margin + pt:margin + pt + h, margin + pl:margin + pl + w] = x
    return big[:, margin:margin + size[0], margin:margin + size[1]]


def _conv64(xp, w, strides, dilations, out_hw):
    kh, kw, _, o = w.shape
    (sh, sw), (dh, dw), (ho, wo) = strides, dilations, out_hw
    out = np.zeros((xp.shape[0], ho, wo, o))
    for i in range(kh):
        for j in range(kw):
            out += (xp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                       j * dw:j * dw + sw * (wo - 1) + 1:sw] @ w[i, j].astype(np.float64))
    return out


# (x shape, kernel size, output channels, strides, dilations, pads, output hw)
PADDED = [
    ((2, 7, 9, 3), 3, 32, (1, 1), (1, 1), (1, 1), (7, 9)),
    ((1, 11, 11, 64), 3, 32, (1, 1), (1, 1), (2, 2), (13, 13)),  # W2's input gradient
    ((2, 11, 16, 4), 3, 32, (2, 2), (1, 1), (0, 1), (6, 8)),
    ((1, 6, 30, 2), 5, 16, (1, 1), (2, 2), (4, 4), (6, 30)),
    ((1, 3, 40, 2), 7, 48, (2, 2), (1, 1), (3, 3), (2, 20)),
    ((1, 2, 2, 1), 3, 16, (1, 1), (1, 1), (1, 1), (2, 2)),  # a block of padding taps only
    ((1, 9, 9, 5), 3, 32, (1, 1), (1, 1), (-1, 2), (7, 9)),  # cropping above
    ((1, 9, 9, 5), 3, 32, (1, 1), (1, 1), (2, -2), (9, 5)),
    ((1, 5, 40, 3), 9, 16, (1, 1), (1, 1), (8, 8), (5, 40)),  # past _EDGE: padded copy
    ((2, 4, 4, 3), 3, 16, (1, 1), (1, 1), (0, 0), (3, 3)),  # windows past x's far edges
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", PADDED, ids=str)
def test_conv2d_rows_reads_its_input_as_padded(case, dtype):
    shape, k, o, strides, dilations, pads, out_hw = case
    rng = np.random.default_rng(zlib.crc32(str(case).encode()))
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((k, k, shape[3], o)).astype(dtype)
    bias = rng.standard_normal(o).astype(dtype)
    n = shape[0]
    size = tuple((m - 1) * s + (k - 1) * d + 1 for m, s, d in zip(out_hw, strides, dilations))
    xp64 = _placed64(x, pads, size)
    exact = np.maximum(_conv64(xp64, w, strides, dilations, out_hw) + bias, 0)
    out = np.full((n, *out_hw, o), np.nan, dtype)
    run = ncn.conv2d_rows(x, w, out, strides, dilations, bias, True, pads)
    run(0, n * out_hw[0])
    terms = k * k * shape[3]
    scale = np.sqrt(_conv64(np.square(xp64), np.square(w.astype(np.float64)), strides,
                            dilations, out_hw)) + np.abs(bias)
    assert np.all(np.abs(out - exact) <= 2 * terms * np.finfo(dtype).eps * scale + 1e-30)
    # the taps it skips are the padding's zeros: the same bits as on the padded copy
    copy = np.full_like(out, np.nan)
    ncn.conv2d_rows(np.ascontiguousarray(xp64.astype(dtype)), w, copy, strides, dilations,
                    bias, True)(0, n * out_hw[0])
    assert np.array_equal(out, copy)


def _scatter64(w, g, x_shape, strides, padding):
    n, h, wd, c = x_shape
    kh, kw, _, _ = w.shape
    pads, (ho, wo) = nb._nn_geometry((h, wd), (kh, kw), strides, padding, (1, 1))
    (pt, pb), (pl, pr) = pads
    (sh, sw) = strides
    dxp = np.zeros((n, pt + h + pb + kh + sh, pl + wd + pr + kw + sw, c))
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] += \
                g.astype(np.float64) @ w[i, j].astype(np.float64).T
    return dxp[:, pt:pt + h, pl:pl + wd], pads


# (x shape, kernel size, output channels, strides, padding)
STRIDED = [
    ((2, 8, 8, 16), 3, 32, (2, 2), "SAME"),
    ((2, 9, 7, 32), 3, 16, (2, 2), "SAME"),
    ((2, 9, 9, 16), 3, 16, (2, 2), "VALID"),
    ((1, 11, 10, 16), 5, 8, (3, 3), "SAME"),
    ((1, 8, 8, 32), 1, 16, (2, 2), "VALID"),  # phases no tap reaches: zeros
    ((1, 10, 10, 16), 4, 4, (2, 2), "SAME"),  # Conv2DTranspose's 4x4 / 2
    ((1, 7, 7, 16), 7, 16, (2, 2), "SAME"),
    ((1, 5, 9, 16), 3, 16, (2, 1), "SAME"),
    ((1, 15, 15, 16), 3, 16, (4, 4), "SAME"),  # stride past the filter
    ((1, 6, 6, 16), 3, 16, (3, 3), "VALID"),  # input rows no window reads
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", STRIDED, ids=str)
def test_strided_input_gradient_runs_natively_and_matches_float64(case, dtype, monkeypatch):
    shape, k, o, strides, padding = case
    rng = np.random.default_rng(zlib.crc32(str(case).encode()))
    w = rng.standard_normal((k, k, shape[3], o)).astype(dtype)
    pads, out_hw = nb._nn_geometry(shape[1:3], (k, k), strides, padding, (1, 1))
    g = rng.standard_normal((shape[0], *out_hw, o)).astype(dtype)
    calls = []
    original = ncn.conv2d_rows
    monkeypatch.setattr(ncn, "conv2d_rows", lambda *a, **kw: calls.append(1) or original(
        *a, **kw))
    dx = nb.conv2d_backprop_input(w, g, shape, strides, padding, (1, 1), "NHWC")
    assert calls, "the strided input gradient did not run natively"
    assert dx.dtype == dtype and dx.shape == shape
    exact, _ = _scatter64(w, g, shape, strides, padding)
    scale, _ = _scatter64(np.square(w.astype(np.float64)), np.square(g.astype(np.float64)),
                          shape, strides, padding)
    bound = 2 * k * k * o * np.finfo(dtype).eps * np.sqrt(scale)
    assert np.all(np.abs(dx - exact) <= bound)
    # the adjoint identity <conv(v), g> == <v, dx>, the convolution in float64
    v = rng.standard_normal(shape)
    size = tuple((m - 1) * s + k for m, s in zip(out_hw, strides))
    conv = _conv64(_placed64(v, (pads[0][0], pads[1][0]), size), w, strides, (1, 1), out_hw)
    left, right = np.vdot(conv, g.astype(np.float64)), np.vdot(v, dx.astype(np.float64))
    tolerance = 10 * np.finfo(dtype).eps * np.sqrt(np.vdot(v, v) * np.vdot(exact, exact))
    assert abs(left - right) <= tolerance * k * k * o


def test_strided_input_gradient_with_dilation_keeps_the_numpy_path(monkeypatch):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    g = rng.standard_normal((1, 4, 4, 16)).astype(np.float32)
    calls = []
    original = ncn.conv2d_rows
    monkeypatch.setattr(ncn, "conv2d_rows", lambda *a, **kw: calls.append(1) or original(
        *a, **kw))
    assert nb._nn_native_input_grad(w, g, (1, 8, 8, 16), ((1, 1), (1, 1)), (2, 2),
                                    (2, 2)) is None
    assert not calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", PADDED, ids=str)
def test_filter_grad_rows_reads_its_input_as_padded(case, dtype):
    shape, k, o, strides, dilations, pads, out_hw = case
    rng = np.random.default_rng(zlib.crc32(str(case).encode()) + 1)
    x = rng.standard_normal(shape).astype(dtype)
    n, c = shape[0], shape[3]
    g = rng.standard_normal((n, *out_hw, o)).astype(dtype)
    size = tuple((m - 1) * s + (k - 1) * d + 1 for m, s, d in zip(out_hw, strides, dilations))
    xp64 = _placed64(x, pads, size)
    (sh, sw), (dh, dw), (ho, wo) = strides, dilations, out_hw
    exact = np.empty((k, k, c, o))
    scale = np.empty((k, k, c, o))
    for i in range(k):
        for j in range(k):
            window = xp64[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                          j * dw:j * dw + sw * (wo - 1) + 1:sw].reshape(-1, c)
            exact[i, j] = window.T @ g.reshape(-1, o)
            scale[i, j] = np.sqrt(np.square(window).T @ np.square(g.reshape(-1, o), dtype=float))
    got = np.full((k, k, c, o), np.nan, dtype)
    ncn.filter_grad_rows(x, g, (k, k, c, o), strides, dilations, pads)(0, n * ho, got)
    assert np.all(np.abs(got - exact) <= 2 * n * ho * wo * np.finfo(dtype).eps * scale + 1e-30)
    # the pixels it skips read the padding's zeros: the same bits as on the padded copy
    copy = np.full_like(got, np.nan)
    ncn.filter_grad_rows(np.ascontiguousarray(xp64.astype(dtype)), g, (k, k, c, o), strides,
                         dilations)(0, n * ho, copy)
    assert np.array_equal(got, copy)
