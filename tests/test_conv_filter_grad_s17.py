"""numpy_conv_native's filter gradient kernels with their input and cotangent prefetched
(session 17): float32 results against an independent emulation of the documented numerics,
bit for bit: each filter value a chain of fused multiply-adds over a piece's rows and their
pixels in order from +0.0 (each step's exact product plus the running sum, rounded once to
float32; the pixels whose input lies in the padding skipped), the pieces' sums then added in
order as float32. Depths 1 (the every-tap kernel where no window reaches the padding, the
general one where one does), 3, 32, 128 and 512; strides 1 and 2; SAME and VALID padding read
in place; dilation 2; channel and output-vector tail blocks; parts of the filter by taps and
output channels, stored and accumulated. Plus float64 against a float64 sum, which kernels
ran, and the backend's filter gradient running the kernel (against the emulation of its
pieces)."""

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


def _geometry(hw, k_hw, strides, dilations, padding):
    """(pads above and to the left, output rows and columns) as TensorFlow's padding makes
    them."""
    if padding == "VALID":
        return (0, 0), tuple((n - (k - 1) * d - 1) // s + 1
                             for n, k, s, d in zip(hw, k_hw, strides, dilations))
    out_hw = tuple(-(-n // s) for n, s in zip(hw, strides))
    return tuple(max((m - 1) * s + (k - 1) * d + 1 - n, 0) // 2
                 for n, m, k, s, d in zip(hw, out_hw, k_hw, strides, dilations)), out_hw


def _taps(x, k_hw, strides, dilations, pads, out_hw):
    """For each tap (i, j): the input value of every output pixel (n, ho, wo, c), zero in the
    padding, and whether it lies inside x (ho, wo)."""
    (sh, sw), (dh, dw), (pt, pl), (ho, wo) = strides, dilations, pads, out_hw
    _, h, w, _ = x.shape
    for i in range(k_hw[0]):
        rows = np.arange(ho) * sh + i * dh - pt
        for j in range(k_hw[1]):
            cols = np.arange(wo) * sw + j * dw - pl
            inside = ((rows >= 0) & (rows < h))[:, None] & ((cols >= 0) & (cols < w))[None]
            values = x[:, np.clip(rows, 0, h - 1)][:, :, np.clip(cols, 0, w - 1)]
            yield (i, j), np.where(inside[None, :, :, None], values, 0), inside


def fma_chain32(x, g, k_hw, strides, dilations, pads, rows):
    """The float32 filter gradient over the output rows `rows` (row r: image r // ho, output
    row r % ho) as one fused multiply-add chain per filter value over those rows' pixels in
    order from +0.0, the padding's pixels skipped: a float32 product is exact in the 64-bit
    significand of x86's long double, and the sum rounded to it and then to float32 is the
    single rounding of a fused multiply-add but where the long double sum falls on a float32
    tie (not on random data)."""
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("the emulation needs a long double of at least 64 significant bits")
    n, ho, wo, o = g.shape
    c = x.shape[3]
    out = np.zeros(tuple(k_hw) + (c, o), np.float32)
    g_rows = g.reshape(n * ho, wo, o)[rows].astype(np.longdouble)
    for (i, j), values, inside in _taps(x, k_hw, strides, dilations, pads, (ho, wo)):
        x_rows = values.reshape(n * ho, wo, c)[rows].astype(np.longdouble)
        keep = np.tile(inside, (n, 1))[rows]
        acc = np.zeros((c, o), np.float32)
        for r in range(len(x_rows)):
            for p in range(wo):
                if keep[r, p]:
                    acc = (x_rows[r, p, :, None] * g_rows[r, p, None, :] + acc).astype(
                        np.float32)
        out[i, j] = acc
    return out


def grad64(x, g, k_hw, strides, dilations, pads):
    """The filter gradient summed in float64, and the sum of its terms' magnitudes."""
    out = np.zeros(tuple(k_hw) + (x.shape[3], g.shape[3]))
    size = np.zeros_like(out)
    g64 = g.astype(np.float64).reshape(-1, g.shape[3])
    for (i, j), values, _ in _taps(x, k_hw, strides, dilations, pads, g.shape[1:3]):
        flat = values.astype(np.float64).reshape(-1, x.shape[3])
        out[i, j] = flat.T @ g64
        size[i, j] = np.abs(flat).T @ np.abs(g64)
    return out, size


@pytest.fixture
def kernels(monkeypatch):
    """The kinds of the filter gradient kernels run while the test runs."""
    ran = []
    make = ncn._kernel

    def recording(kind, dtype, *shape):
        function = make(kind, dtype, *shape)
        if not kind.startswith("filter_grad"):
            return function

        def counted(*args):
            ran.append(kind)
            return function(*args)
        return counted
    monkeypatch.setattr(ncn, "_kernel", recording)
    return ran


# (c, o, (kh, kw), strides, dilations, (h, w), padding, kernel): rows wider and narrower than
# the prefetch distance (its addresses run past the arrays' ends), channel blocks with tails
# (32 -> 11 + 11 + 10, 128 -> 9 x 13 + 11, 512 -> 36 x 14 + 8 on AVX-512), an output vector
# tail (48 = 2 + 1 vectors), SAME padding read in place.
CASES = [
    (1, 32, (3, 3), (1, 1), (1, 1), (9, 30), "VALID", "filter_grad_taps"),
    (1, 48, (3, 3), (2, 2), (1, 1), (9, 21), "VALID", "filter_grad_taps"),
    (1, 32, (3, 3), (1, 1), (1, 1), (6, 20), "SAME", "filter_grad"),
    (3, 32, (3, 3), (2, 2), (1, 1), (7, 19), "SAME", "filter_grad"),
    (32, 48, (3, 3), (1, 1), (1, 1), (5, 13), "VALID", "filter_grad"),
    (32, 64, (3, 3), (2, 2), (1, 1), (8, 31), "SAME", "filter_grad"),
    (128, 32, (3, 3), (1, 1), (2, 2), (6, 18), "SAME", "filter_grad"),
    (128, 64, (2, 3), (2, 1), (1, 2), (7, 29), "VALID", "filter_grad"),
    (512, 32, (3, 3), (1, 1), (1, 1), (3, 14), "SAME", "filter_grad"),
    (512, 16, (3, 3), (2, 2), (1, 1), (4, 5), "SAME", "filter_grad"),
]


def _cid(case):
    c, o, k_hw, strides, dilations, hw, padding, _ = case
    return f"c{c}-o{o}-k{k_hw[0]}x{k_hw[1]}-s{strides}-d{dilations}-in{hw}-{padding}"


@pytest.mark.parametrize("case", CASES, ids=_cid)
def test_filter_grad_is_the_documented_fma_chain_bit_for_bit(case, kernels):
    c, o, k_hw, strides, dilations, hw, padding, kind = case
    rng = _rng("chain", case)
    x = rng.standard_normal((2,) + hw + (c,)).astype(np.float32)
    pads, out_hw = _geometry(hw, k_hw, strides, dilations, padding)
    g = rng.standard_normal((2,) + out_hw + (o,)).astype(np.float32)
    rows = 2 * out_hw[0]
    cut = out_hw[0] + 1  # (the second piece starts inside the second image)
    shape = tuple(k_hw) + (c, o)
    first = fma_chain32(x, g, k_hw, strides, dilations, pads, slice(0, cut))
    second = fma_chain32(x, g, k_hw, strides, dilations, pads, slice(cut, rows))
    expected = first + second
    # (the emulation checked: a float64 sum agrees to float32's rounding)
    exact, size = grad64(x, g, k_hw, strides, dilations, pads)
    pixels = rows * out_hw[1]
    assert (np.abs(expected - exact) <= (pixels + 1) * np.finfo(np.float32).eps * size).all()
    run = ncn.filter_grad_rows(x, g, shape, strides, dilations, pads)
    assert run is not None
    out = np.full(shape, np.float32(-7.5))
    run(0, cut, out)
    assert_same_bits(out, first, "first piece")
    assert kernels and set(kernels) == {kind}, kernels
    out = np.full(shape, np.float32(-7.5))
    run(cut, rows, out)
    assert_same_bits(out, second, "second piece")
    # by parts: each thread's share of the output channel blocks, every piece added in order
    kernels.clear()
    parts = np.full(shape, np.float32(-7.5))
    split = min(run.vectors, run.vector_block)
    for vectors in (slice(0, split), slice(split, run.vectors)):
        run.part(0, cut, parts, slice(0, run.taps), vectors, False)
        run.part(cut, rows, parts, slice(0, run.taps), vectors, True)
    assert_same_bits(parts, expected, "pieces added by parts of the output channels")
    assert set(kernels) == {kind}
    # by taps (the general kernel): a tap range starting inside a filter row
    taps = np.full(shape, np.float32(-7.5))
    middle = run.taps // 2 + 1
    for tap_range in (slice(0, middle), slice(middle, run.taps)):
        run.part(0, cut, taps, tap_range, slice(0, run.vectors), False)
        run.part(cut, rows, taps, tap_range, slice(0, run.vectors), True)
    assert_same_bits(taps, expected, "pieces added by parts of the taps")


def test_the_emulation_tells_the_pieces_apart():
    """The bit comparisons can fail: one piece's chain over every row differs from the two
    pieces' chains added (a test with the wrong pieces, or a kernel that summed them so, would
    fail)."""
    c, o, k_hw, strides, dilations, hw, padding, _ = CASES[6]
    rng = _rng("chain", CASES[6])
    x = rng.standard_normal((2,) + hw + (c,)).astype(np.float32)
    pads, out_hw = _geometry(hw, k_hw, strides, dilations, padding)
    g = rng.standard_normal((2,) + out_hw + (o,)).astype(np.float32)
    rows, cut = 2 * out_hw[0], out_hw[0] + 1
    whole = fma_chain32(x, g, k_hw, strides, dilations, pads, slice(0, rows))
    pieces = (fma_chain32(x, g, k_hw, strides, dilations, pads, slice(0, cut))
              + fma_chain32(x, g, k_hw, strides, dilations, pads, slice(cut, rows)))
    with pytest.raises(AssertionError):
        assert_same_bits(whole, pieces, "one piece against two")
    out = np.empty_like(whole)
    ncn.filter_grad_rows(x, g, whole.shape, strides, dilations, pads)(0, rows, out)
    assert_same_bits(out, whole, "one piece")


@pytest.mark.parametrize("case", [CASES[1], CASES[5], CASES[8]], ids=_cid)
def test_float64_filter_grad_matches_a_float64_sum(case, kernels):
    c, o, k_hw, strides, dilations, hw, padding, kind = case
    rng = _rng("float64", case)
    x = rng.standard_normal((2,) + hw + (c,))
    pads, out_hw = _geometry(hw, k_hw, strides, dilations, padding)
    g = rng.standard_normal((2,) + out_hw + (o,))
    exact, size = grad64(x, g, k_hw, strides, dilations, pads)
    out = np.empty(exact.shape)
    ncn.filter_grad_rows(x, g, exact.shape, strides, dilations, pads)(0, 2 * out_hw[0], out)
    pixels = 2 * out_hw[0] * out_hw[1]
    assert (np.abs(out - exact) <= 2 * pixels * np.finfo(np.float64).eps * size).all()
    assert kernels and set(kernels) == {kind}


@pytest.mark.parametrize("case", [CASES[0], CASES[5], CASES[8]], ids=_cid)
def test_backend_filter_gradient_runs_the_kernel(case, kernels, monkeypatch):
    """conv2d_backprop_filter on the kernel: the pieces it runs (recorded here), each the
    documented chain, added in order."""
    c, o, k_hw, strides, dilations, hw, padding, kind = case
    rng = _rng("backend", case)
    x = rng.standard_normal((3,) + hw + (c,)).astype(np.float32)
    pads, out_hw = _geometry(hw, k_hw, strides, dilations, padding)
    g = rng.standard_normal((3,) + out_hw + (o,)).astype(np.float32)
    monkeypatch.setattr(nb, "_NN_FILTER_PIECE_BYTES", 1)  # (a piece a row, 3 or more)
    shape = tuple(k_hw) + (c, o)
    dw = nb.conv2d_backprop_filter(x, g, shape, strides, padding, dilations, "NHWC")
    assert kernels and set(kernels) == {kind}, "the native filter gradient did not run"
    expected = None
    for row in range(3 * out_hw[0]):
        piece = fma_chain32(x, g, k_hw, strides, dilations, pads, slice(row, row + 1))
        expected = piece if expected is None else expected + piece
    assert_same_bits(dw, expected, "backend filter gradient")
