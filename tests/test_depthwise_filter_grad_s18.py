"""numpy_depthwise_native's filter gradient by bands of rows (session 18): its channel blocks
take turns over bands of output rows, each block's sums kept in the result between bands.
Each sum must still be its documented chain, bit for bit: fused multiply-adds over the
output rows of each piece and their pixels in order (taps in the padding adding nothing),
the pieces' sums then added in order. The oracle replays that chain in float64 for float32
data (a product of two float32 values is exact in float64, so each step is the fused
multiply-add's exact sum rounded twice, to float64 then float32: the same float32 but where
the float64 value lies exactly half-way between two float32 values, which these seeded
data never give). float64 kernels are held to the float64 sum's rounding bound."""

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_depthwise_native as dn
from tensorflux.backends import numpy_llvm

NATIVE = numpy_llvm.available()
needs_native = pytest.mark.skipif(not NATIVE, reason="no llvmlite or no AVX2 with FMA")


def _padded(x, k, strides, dilations, pads, out_hw):
    """(x zero-padded far enough, inside mask) for the windows of out_hw."""
    (kh, kw), (sh, sw), (dh, dw) = k, strides, dilations
    n, h, w, c = x.shape
    ho, wo = out_hw
    bottom = max(0, (ho - 1) * sh + (kh - 1) * dh + 1 - h - pads[0])
    right = max(0, (wo - 1) * sw + (kw - 1) * dw + 1 - w - pads[1])
    widths = ((0, 0), (pads[0], bottom), (pads[1], right), (0, 0))
    return np.pad(x, widths), np.pad(np.ones(x.shape[:3] + (1,), bool), widths)


def _chain32(x, g, k, strides, dilations, pads, row0, row1):
    """The kernel's sums (kh * kw, c) over output rows [row0, row1) of float32 data: per tap
    and channel, acc = fma(x, g, acc) over the rows and their pixels in order."""
    (kh, kw), (sh, sw), (dh, dw) = k, strides, dilations
    n, ho, wo, c = g.shape
    xp, inside = _padded(x.astype(np.float64), k, strides, dilations, pads, (ho, wo))
    acc = np.zeros((kh * kw, c), np.float32)
    for r in range(row0, row1):
        m, i = divmod(r, ho)
        for j in range(wo):
            rows = [i * sh + ti * dh for ti in range(kh) for tj in range(kw)]
            cols = [j * sw + tj * dw for ti in range(kh) for tj in range(kw)]
            taps = xp[m, rows, cols]  # (kh * kw, c)
            total = (taps * g[m, i, j].astype(np.float64) + acc).astype(np.float32)
            acc = np.where(inside[m, rows, cols], total, acc)
    return acc


CASES = [  # (shape, k, strides, dilations, pads): blocks of channels, bands across images
    ((2, 6, 6, 64), (3, 3), (1, 1), (1, 1), (1, 1)),  # two blocks at AVX-512
    ((3, 4, 4, 256), (3, 3), (1, 1), (1, 1), (1, 1)),  # several blocks; bands of images
    ((2, 5, 7, 40), (3, 3), (2, 2), (1, 1), (1, 0)),  # channels past the vectors
    ((1, 9, 3, 96), (3, 3), (1, 1), (2, 2), (2, 2)),
    ((2, 4, 5, 48), (5, 5), (1, 1), (1, 1), (2, 2)),
    ((1, 40, 2, 128), (3, 3), (1, 1), (1, 1), (1, 1)),  # narrow rows: long bands
]


@needs_native
@pytest.mark.parametrize("shape, k, strides, dilations, pads", CASES)
def test_each_sum_is_its_chain_of_fused_multiply_adds(shape, k, strides, dilations, pads):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    n, h, w, c = shape
    (kh, kw), (sh, sw), (dh, dw) = k, strides, dilations
    ho = (h + 2 * pads[0] - (kh - 1) * dh - 1) // sh + 1
    wo = (w + 2 * pads[1] - (kw - 1) * dw - 1) // sw + 1
    g = rng.standard_normal((n, ho, wo, c)).astype(np.float32)
    run = dn.depthwise_filter_grad_rows(x, g, k + (1, c), strides, dilations, pads)
    assert run is not None
    rows = n * ho
    for row0, row1 in ((0, rows), (1, rows - 1), (rows // 2, rows)):
        part = np.full((kh * kw, c), np.nan, np.float32)
        run(row0, row1, part)
        want = _chain32(x, g, k, strides, dilations, pads, row0, row1)
        np.testing.assert_array_equal(part.view(np.uint32), want.view(np.uint32))


@needs_native
@pytest.mark.parametrize("threads", [1, 2])
def test_backend_sums_pieces_in_order(threads, monkeypatch):
    """conv2d_backprop_filter of a depthwise convolution: the pieces (those of two threads,
    on any thread count) each their chain, added in order."""
    monkeypatch.setattr(nb, "_THREADS", threads)
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 0)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 8, 8, 64)).astype(np.float32)
    g = rng.standard_normal((4, 8, 8, 64)).astype(np.float32)
    got = nb.conv2d_backprop_filter(x, g, (3, 3, 1, 64), (1, 1), "SAME", (1, 1), "NHWC")
    rows = 4 * 8
    pieces = nb._nn_row_pieces(rows, (x.nbytes + g.nbytes) // rows, threads=2)
    parts = [_chain32(x, g, (3, 3), (1, 1), (1, 1), (1, 1), p.start, p.stop) for p in pieces]
    want = parts[0]
    for part in parts[1:]:
        want = want + part
    np.testing.assert_array_equal(got.reshape(9, 64).view(np.uint32), want.view(np.uint32))


@needs_native
def test_float64_within_the_rounding_bound():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 5, 72))
    g = rng.standard_normal((2, 6, 5, 72))
    part = np.empty((9, 72))
    dn.depthwise_filter_grad_rows(x, g, (3, 3, 1, 72), (1, 1), (1, 1), (1, 1))(0, 12, part)
    xp, inside = _padded(x, (3, 3), (1, 1), (1, 1), (1, 1), (6, 5))
    for t in range(9):
        ti, tj = divmod(t, 3)
        terms = xp[:, ti:ti + 6, tj:tj + 5] * g
        exact = terms.sum(axis=(0, 1, 2))
        bound = 4 * np.finfo(np.float64).eps * np.sqrt(60) * np.sqrt(
            np.square(terms).sum(axis=(0, 1, 2)))
        assert (np.abs(part[t] - exact) <= bound).all()
