"""numpy_conv_native's forward kernel specialised on the input's depth and column stride, with
its filter values prefetched (session 17): its float32 outputs against an independent
emulation of the documented numerics, bit for bit: each output one chain of fused
multiply-adds over (kh, kw, c) in that order from +0.0 (each step's exact product plus the
running sum, rounded once to float32; the padding's zero terms leave a finite sum as it is),
then + bias rounded, then NumPy's maximum with zero. Depths 3 (the general loop), 64, 128
and 512; strides 1 and 2; SAME and VALID padding read in place; dilation 2; widths with
tails of the 14-pixel register block; bias and relu in registers. Plus float64 against a
float64 sum, which kernels were made, and the backend's forward and input gradient running
the specialised kernel (against float64)."""

import zlib

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_conv_native as ncn
from tensorflux.backends import numpy_llvm
from tests.tolerances import assert_same_bits

pytestmark = pytest.mark.skipif(
    not numpy_llvm.available(), reason="numpy_conv_native needs llvmlite and AVX2 with FMA")


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _padded(x, pads, k_hw, strides, dilations, out_hw):
    """x with zeros pads[0] rows above, pads[1] columns to the left, and below and to the
    right as far as the windows reach."""
    (pt, pl), (ho, wo) = pads, out_hw
    bottom = max(0, (ho - 1) * strides[0] + (k_hw[0] - 1) * dilations[0] + 1 - pt - x.shape[1])
    right = max(0, (wo - 1) * strides[1] + (k_hw[1] - 1) * dilations[1] + 1 - pl - x.shape[2])
    return np.pad(x, ((0, 0), (pt, bottom), (pl, right), (0, 0)))


def _windows(xp, i, j, strides, dilations, out_hw):
    (sh, sw), (dh, dw), (ho, wo) = strides, dilations, out_hw
    return xp[:, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]


def fma_chain32(xp, w, strides, dilations, out_hw):
    """float32 conv2d of the zero-padded xp as one fused multiply-add chain per output over
    (kh, kw, c) in order from +0.0: a float32 product is exact in the 64-bit significand of
    x86's long double, and the sum rounded to it and then to float32 is the single
    rounding of a fused multiply-add but where the long double sum falls on a float32
    tie (the product's low bits would have to be 1000...0 with a term 2^-40 times
    smaller: not on random data)."""
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("the emulation needs a long double of at least 64 significant bits")
    kh, kw, c, o = w.shape
    acc = np.zeros((xp.shape[0],) + tuple(out_hw) + (o,), np.float32)
    wide = w.astype(np.longdouble)
    for i in range(kh):
        for j in range(kw):
            window = _windows(xp, i, j, strides, dilations, out_hw).astype(np.longdouble)
            for ci in range(c):
                acc = (window[..., ci, None] * wide[i, j, ci] + acc).astype(np.float32)
    return acc


def conv64(xp, w, strides, dilations, out_hw):
    xp, w = xp.astype(np.float64), w.astype(np.float64)
    out = 0.0
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            out = out + _windows(xp, i, j, strides, dilations, out_hw) @ w[i, j]
    return out


@pytest.fixture
def kernels(monkeypatch):
    """The compile-time sizes of every conv_rows kernel asked for while the test runs."""
    asked = []
    make = ncn._kernel

    def recording(kind, dtype, *shape):
        if kind == "conv_rows":
            asked.append(shape)
        return make(kind, dtype, *shape)
    monkeypatch.setattr(ncn, "_kernel", recording)
    return asked


# (c, o, (kh, kw), strides, dilations, (h, w), padding): 14-pixel register blocks on AVX-512
# (6 on AVX2) with tails (15 -> 8 + 7, 29 -> 10 + 10 + 9), a 1-pixel row, one and two
# channel blocks and a tail block (48 = 2 + 1 vectors), SAME padding read in place.
CASES = [
    (3, 32, (3, 3), (1, 1), (1, 1), (4, 15), "SAME"),
    (64, 48, (3, 3), (1, 1), (1, 1), (3, 15), "SAME"),
    (64, 32, (3, 3), (2, 2), (1, 1), (6, 29), "SAME"),
    (128, 64, (3, 3), (1, 1), (1, 1), (4, 16), "VALID"),
    (128, 32, (3, 3), (1, 1), (2, 2), (6, 18), "SAME"),
    (128, 32, (2, 3), (2, 1), (1, 2), (7, 29), "VALID"),
    (512, 32, (3, 3), (1, 1), (1, 1), (3, 14), "SAME"),
    (512, 16, (3, 3), (2, 2), (1, 1), (4, 3), "SAME"),
    (64, 16, (3, 3), (1, 1), (1, 1), (3, 1), "SAME"),
]


def _geometry(case):
    c, o, k_hw, strides, dilations, hw, padding = case
    if padding == "VALID":
        pads = (0, 0)
        out_hw = tuple((n - (k - 1) * d - 1) // s + 1
                       for n, k, s, d in zip(hw, k_hw, strides, dilations))
    else:
        out_hw = tuple(-(-n // s) for n, s in zip(hw, strides))
        pads = tuple(max((m - 1) * s + (k - 1) * d + 1 - n, 0) // 2
                     for n, m, k, s, d in zip(hw, out_hw, k_hw, strides, dilations))
    return pads, out_hw


def _cid(case):
    c, o, k_hw, strides, dilations, hw, padding = case
    return f"c{c}-o{o}-k{k_hw[0]}x{k_hw[1]}-s{strides}-d{dilations}-in{hw}-{padding}"


@pytest.mark.parametrize("case", CASES, ids=_cid)
def test_forward_is_the_documented_fma_chain_bit_for_bit(case, kernels):
    c, o, k_hw, strides, dilations, hw, padding = case
    rng = _rng("chain", case)
    x = rng.standard_normal((2,) + hw + (c,)).astype(np.float32)
    w = rng.standard_normal(k_hw + (c, o)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    bias[::3] = -0.0
    pads, out_hw = _geometry(case)
    xp = _padded(x, pads, k_hw, strides, dilations, out_hw)
    expected = fma_chain32(xp, w, strides, dilations, out_hw)
    # (the emulation checked: a float64 sum agrees to float32's rounding)
    np.testing.assert_allclose(expected, conv64(xp, w, strides, dilations, out_hw),
                               rtol=1e-4, atol=1e-4 * np.sqrt(c))
    rows = 2 * out_hw[0]
    out = np.full((2,) + out_hw + (o,), np.float32(-7.5))
    run = ncn.conv2d_rows(x, w, out, strides, dilations, pads=pads)
    assert run is not None
    run(1, rows)
    run(0, 1)
    assert_same_bits(out, expected, "plain")
    fused = np.empty_like(out)
    ncn.conv2d_rows(x, w, fused, strides, dilations, bias, True, pads)(0, rows)
    assert_same_bits(fused, np.maximum(expected + bias, np.float32(0)), "bias + relu")
    # a strided view of the filter (packed by the kernel) gives the same bits
    spread = np.zeros(k_hw + (c, 2 * o), np.float32)
    spread[..., ::2] = w
    again = np.empty_like(out)
    ncn.conv2d_rows(x, spread[..., ::2], again, strides, dilations, pads=pads)(0, rows)
    assert_same_bits(again, expected, "a strided filter")
    assert kernels, "no conv_rows kernel was made"
    depth = (c, strides[1]) if c >= ncn._DEPTH_CHANNELS else None
    assert all(shape[-2] == depth for shape in kernels), kernels


@pytest.mark.parametrize("case", [CASES[2], CASES[4], CASES[7]], ids=_cid)
def test_float64_forward_matches_a_float64_sum(case, kernels):
    c, o, k_hw, strides, dilations, hw, padding = case
    rng = _rng("float64", case)
    x = rng.standard_normal((2,) + hw + (c,))
    w = rng.standard_normal(k_hw + (c, o))
    pads, out_hw = _geometry(case)
    xp = _padded(x, pads, k_hw, strides, dilations, out_hw)
    exact = conv64(xp, w, strides, dilations, out_hw)
    scale = np.sqrt(conv64(np.square(xp), np.square(w), strides, dilations, out_hw))
    out = np.empty((2,) + out_hw + (o,))
    ncn.conv2d_rows(x, w, out, strides, dilations, pads=pads)(0, 2 * out_hw[0])
    tol = 4 * np.finfo(np.float64).eps * np.sqrt(k_hw[0] * k_hw[1] * c) * scale
    assert (np.abs(out - exact) <= tol).all()
    assert kernels and all(shape[-2] == (c, strides[1]) for shape in kernels)


def test_each_depth_and_stride_has_its_own_kernel(kernels):
    rng = _rng("kernels")
    made = {}
    for c, sw in [(64, 1), (64, 2), (128, 1), (64, 1)]:
        x = rng.standard_normal((1, 5, 9, c)).astype(np.float32)
        w = rng.standard_normal((3, 3, c, 16)).astype(np.float32)
        out = np.empty((1, 3, (9 - 3) // sw + 1, 16), np.float32)
        kernels.clear()
        ncn.conv2d_rows(x, w, out, (1, sw), (1, 1))(0, 3)
        np.testing.assert_allclose(out, conv64(x, w, (1, sw), (1, 1), out.shape[1:3]),
                                   rtol=1e-4, atol=1e-4 * np.sqrt(9 * c))
        assert len(kernels) == 1
        made[(c, sw)] = kernels[0]
    assert made[(64, 1)][-2] == (64, 1) and made[(64, 2)][-2] == (64, 2)
    assert made[(128, 1)][-2] == (128, 1)
    assert len({made[key] for key in made}) == 3


@pytest.fixture
def conv_runs(monkeypatch):
    """Counts the pieces conv2d_rows' functions were run on."""
    make = ncn.conv2d_rows
    counts = []

    def counting(*args, **kwargs):
        run = make(*args, **kwargs)
        if run is None:
            return None

        def counted(*a):
            counts.append(a[:2])
            return run(*a)
        counted.vector_block, counted.vectors = run.vector_block, run.vectors
        return counted
    monkeypatch.setattr(ncn, "conv2d_rows", counting)
    return counts


@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_backend_forward_and_input_gradient_run_the_kernel(strides, conv_runs):
    rng = _rng("backend", strides)
    x = rng.standard_normal((2, 9, 10, 128)).astype(np.float32)
    w = rng.standard_normal((3, 3, 128, 64)).astype(np.float32)
    attrs = dict(strides=strides, padding="SAME", dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **attrs)
    assert conv_runs, "the native forward did not run"
    pads, out_hw = _geometry((128, 64, (3, 3), strides, (1, 1), (9, 10), "SAME"))
    xp = _padded(x, pads, (3, 3), strides, (1, 1), out_hw)
    assert_same_bits(y, fma_chain32(xp, w, strides, (1, 1), out_hw), "backend forward")
    g = rng.standard_normal(y.shape).astype(np.float32)
    conv_runs.clear()
    dx = nb.conv2d_backprop_input(w, g, x.shape, **attrs)
    assert conv_runs, "the native input gradient did not run"
    # float64: each window's g @ tap^T added back where it was read
    dxp = np.zeros(xp.shape)
    for i in range(3):
        for j in range(3):
            dxp[:, i:i + strides[0] * (out_hw[0] - 1) + 1:strides[0],
                j:j + strides[1] * (out_hw[1] - 1) + 1:strides[1]] += \
                g.astype(np.float64) @ w[i, j].astype(np.float64).T
    exact = dxp[:, pads[0]:pads[0] + 9, pads[1]:pads[1] + 10]
    np.testing.assert_allclose(dx, exact, rtol=1e-4, atol=1e-4 * np.sqrt(9 * 64))
