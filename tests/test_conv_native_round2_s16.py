"""numpy_conv_native's filter gradient by parts of the filter (session 16, round 2): run.part
over ranges of taps and output channel vectors, adding each piece of rows' sums to the last's,
against run over the same pieces with their partial filters added in order by NumPy (bit for
bit, the pairing that numpy_pool_native's fused kernel relies on) and against a float64 sum;
conv2d_backprop_filter on filters past the old 4 MB limit against float64, on one thread and
on two (the same bits)."""

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


def _filter_grad64(xp, g, filter_shape, strides, pads, dilations=(1, 1)):
    """The filter gradient in float64 over x padded by pads (above, left) and below/right
    as far as g's windows reach, with the root of the sum of each sum's squared terms."""
    kh, kw, c, o = filter_shape
    n, ho, wo, _ = g.shape
    (sh, sw), (pt, pl), (dh, dw) = strides, pads, dilations
    big = np.zeros((n, pt + (ho - 1) * sh + kh * dh + xp.shape[1], pl + (wo - 1) * sw + kw * dw
                    + xp.shape[2], c))
    big[:, pt:pt + xp.shape[1], pl:pl + xp.shape[2]] = xp
    g64 = g.astype(np.float64).reshape(-1, o)
    out, squares = np.zeros(filter_shape), np.zeros(filter_shape)
    for i in range(kh):
        for j in range(kw):
            window = big[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                         j * dw:j * dw + sw * (wo - 1) + 1:sw]
            out[i, j] = window.reshape(-1, c).T @ g64
            squares[i, j] = np.square(window.reshape(-1, c)).T @ np.square(g64)
    return out, np.sqrt(squares)


def _assert_rounded(got, exact, scale, terms):
    tol = 4 * np.finfo(got.dtype).eps * np.sqrt(terms) * scale + np.finfo(got.dtype).tiny
    err = np.abs(got.astype(np.float64) - exact)
    assert not np.isnan(got).any()
    assert (err <= tol).all(), f"worst error {np.max(err - tol):.3g} past the tolerance"


# (dtype, x shape, filter shape, strides, pads): output channels in one block, in whole
# blocks, and with a tail block (48 float32 = 2 + 1 vectors on AVX-512; 24 float64 = 2 + 1).
PART_CASES = [
    ("float32", (3, 9, 11, 5), (3, 3, 5, 48), (1, 1), (1, 1)),
    ("float32", (2, 8, 8, 13), (3, 3, 13, 128), (1, 1), (0, 0)),
    ("float32", (2, 9, 10, 3), (2, 3, 3, 16), (2, 1), (1, 2)),
    ("float64", (2, 7, 9, 4), (3, 3, 4, 24), (1, 2), (1, 1)),
]


@pytest.mark.parametrize("case", PART_CASES, ids=str)
def test_filter_grad_parts_match_pieces_added_in_order(case):
    dtype, x_shape, filter_shape, strides, pads = case
    rng = _rng(case)
    kh, kw, c, o = filter_shape
    n, h, w, _ = x_shape
    ho = (h + 2 * pads[0] - kh) // strides[0] + 1
    wo = (w + 2 * pads[1] - kw) // strides[1] + 1
    x = rng.standard_normal(x_shape).astype(dtype)
    g = rng.standard_normal((n, ho, wo, o)).astype(dtype)
    run = ncn.filter_grad_rows(x, g, filter_shape, strides, (1, 1), pads)
    assert run is not None
    rows = n * ho
    pieces = [slice(start, min(rows, start + 3)) for start in range(0, rows, 3)]
    # the partial filters of the pieces, added in order by NumPy
    parts = np.empty((len(pieces),) + filter_shape, dtype)
    for index, piece in enumerate(pieces):
        run(piece.start, piece.stop, parts[index])
    expected = parts[0]
    for part in parts[1:]:
        np.add(expected, part, out=expected)
    exact, scale = _filter_grad64(x, g, filter_shape, strides, pads)
    _assert_rounded(expected, exact, scale, rows * wo)
    # every split of the taps and of the channel vectors (at multiples of a block)
    block, taps, vectors = run.vector_block, run.taps, run.vectors
    for tap_cut in sorted({0, 1, taps // 2, taps}):
        for vector_cut in sorted(set(range(0, vectors, block)) | {vectors}):
            got = np.full(filter_shape, np.nan, dtype)
            for part_taps, part_vectors in [(slice(0, tap_cut), slice(0, vector_cut)),
                                            (slice(0, tap_cut), slice(vector_cut, vectors)),
                                            (slice(tap_cut, taps), slice(0, vectors))]:
                for index, piece in enumerate(pieces):
                    run.part(piece.start, piece.stop, got, part_taps, part_vectors, index > 0)
            assert_same_bits(got, expected)
    # a part leaves the rest of the filter as it was
    got = np.full(filter_shape, np.nan, dtype)
    run.part(0, rows, got, slice(1, 2), slice(0, vectors), False)
    assert np.isnan(got.reshape(kh * kw, -1)[[0] + list(range(2, kh * kw))]).all()
    assert not np.isnan(got.reshape(kh * kw, -1)[1]).any()


def test_filter_grad_parts_refuse_a_misaligned_start():
    x = np.ones((1, 4, 4, 2), np.float32)
    g = np.ones((1, 2, 2, 64), np.float32)
    run = ncn.filter_grad_rows(x, g, (3, 3, 2, 64), (1, 1), (1, 1))
    if run.vector_block == 1:
        pytest.skip("one vector a block: every start is aligned")
    with pytest.raises(ValueError, match="multiple"):
        run.part(0, 2, np.empty((3, 3, 2, 64), np.float32), slice(0, 9), slice(1, 4), False)


# (x shape, filter shape, padding): VGG16's deepest filter (9.4 MB) and one past 4 MB with
# few output channels' blocks, on small maps.
DEEP_CASES = [
    ((2, 5, 5, 512), (3, 3, 512, 512), "SAME"),
    ((1, 6, 4, 1024), (3, 3, 1024, 128), "VALID"),
]


@pytest.mark.parametrize("case", DEEP_CASES, ids=str)
def test_conv2d_backprop_filter_native_on_deep_filters(case, monkeypatch):
    x_shape, filter_shape, padding = case
    rng = _rng(case)
    x = rng.standard_normal(x_shape).astype(np.float32)
    kh, kw, c, o = filter_shape
    pad = (kh // 2, kw // 2) if padding == "SAME" else (0, 0)
    n, h, w, _ = x_shape
    ho, wo = h + 2 * pad[0] - kh + 1, w + 2 * pad[1] - kw + 1
    g = rng.standard_normal((n, ho, wo, o)).astype(np.float32)
    made = []
    original = ncn.filter_grad_rows

    def counted(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]
    monkeypatch.setattr(ncn, "filter_grad_rows", counted)
    results = []
    threads = nb._THREADS
    try:
        for count in (1, 2):
            nb.set_threads(count)
            results.append(nb.conv2d_backprop_filter(x, g, filter_shape, (1, 1), padding,
                                                     (1, 1), "NHWC"))
    finally:
        nb.set_threads(threads)
    assert made and all(run is not None for run in made), "the native kernel did not run"
    assert_same_bits(results[0], results[1])
    exact, scale = _filter_grad64(x, g, filter_shape, (1, 1), pad)
    _assert_rounded(results[0], exact, scale, n * ho * wo)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("o", [16, 48, 80])
def test_conv2d_rows_packs_a_filter_view(dtype, o):
    rng = _rng("view", dtype, o)
    x = rng.standard_normal((2, 6, 7, 5)).astype(dtype)
    # an OIHW-ordered array read through a transposed view: HWIO with no unit step
    w_view = rng.standard_normal((o, 5, 3, 3)).astype(dtype).transpose(2, 3, 1, 0)
    outs = []
    for w in (w_view, np.ascontiguousarray(w_view)):
        out = np.empty((2, 6, 7, o), dtype)
        run = ncn.conv2d_rows(x, w, out, (1, 1), (1, 1), pads=(1, 1))
        assert run is not None
        run(0, 12)
        outs.append(out)
    assert_same_bits(outs[0], outs[1])
    big = np.zeros((2, 8, 9, 5))
    big[:, 1:7, 1:8] = x
    exact, squares = np.zeros((2, 6, 7, o)), np.zeros((2, 6, 7, o))
    for i in range(3):
        for j in range(3):
            window = big[:, i:i + 6, j:j + 7]
            exact += window @ w_view[i, j].astype(np.float64)
            squares += np.square(window) @ np.square(w_view[i, j].astype(np.float64))
    _assert_rounded(outs[0], exact, np.sqrt(squares), 45)


@pytest.mark.parametrize("rows", [1, 3, 13, 112, 448, 1000])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("row_bytes", [1, 1 << 16, 1 << 21])
def test_row_pieces_cover_the_rows_evenly(rows, threads, row_bytes):
    pieces = nb._nn_row_pieces(rows, row_bytes, threads)
    assert [p.start for p in pieces] == [0] + [p.stop for p in pieces[:-1]]
    assert pieces[-1].stop == rows and all(p.step is None for p in pieces)
    sizes = [p.stop - p.start for p in pieces]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    assert len(pieces) % threads == 0 or len(pieces) == rows
    # no larger than a quarter of a thread's share, nor than about _NN_COLS_BYTES of work
    assert max(sizes) <= max(1, nb._NN_COLS_BYTES // row_bytes, -(-rows // (4 * threads)))


# (dtype, x shape, filter shape, strides, dilations, pads): first layers' one-channel filters,
# whose rows get a kernel of their own (ncn._FIXED_TAPS), in and past the padding.
FIXED_CASES = [
    ("float32", (2, 28, 28, 1), (3, 3, 1, 32), (1, 1), (1, 1), (0, 0)),
    ("float32", (2, 9, 30, 1), (3, 3, 1, 48), (1, 1), (1, 1), (1, 1)),
    ("float32", (1, 12, 17, 1), (5, 5, 1, 16), (2, 2), (1, 1), (2, 2)),
    ("float32", (1, 8, 16, 1), (2, 7, 1, 32), (1, 1), (2, 1), (1, 3)),
    ("float64", (2, 7, 15, 1), (3, 3, 1, 24), (1, 1), (1, 1), (1, 1)),
]


@pytest.mark.parametrize("case", FIXED_CASES, ids=str)
def test_fixed_first_layer_kernel_matches_the_general_one(case, monkeypatch):
    dtype, x_shape, filter_shape, strides, dilations, pads = case
    rng = _rng("fixed", case)
    kh, kw, c, o = filter_shape
    n, h, w, _ = x_shape
    (sh, sw), (dh, dw), (pt, pl) = strides, dilations, pads
    ho = (h + 2 * pt - (kh - 1) * dh - 1) // sh + 1
    wo = (w + 2 * pl - (kw - 1) * dw - 1) // sw + 1
    x = rng.standard_normal(x_shape).astype(dtype)
    wt = rng.standard_normal(filter_shape).astype(dtype)
    bias = rng.standard_normal(o).astype(dtype)
    outs = []
    for fixed_taps in (ncn._FIXED_TAPS, 0):
        monkeypatch.setattr(ncn, "_FIXED_TAPS", fixed_taps)
        out = np.empty((n, ho, wo, o), dtype)
        ncn.conv2d_rows(x, wt, out, strides, dilations, bias, False, pads)(0, n * ho)
        outs.append(out)
    assert any(key[1] == "conv_rows" and key[3][-1] == (kw, c)
               for key, _ in numpy_llvm._kernels), "the written-out kernel did not run"
    assert_same_bits(outs[0], outs[1])
    big = np.zeros((n, pt + h + (kh - 1) * dh + sh * ho, pl + w + (kw - 1) * dw + sw * wo, c))
    big[:, pt:pt + h, pl:pl + w] = x
    exact, squares = np.zeros((n, ho, wo, o)), np.zeros((n, ho, wo, o))
    for i in range(kh):
        for j in range(kw):
            window = big[:, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                         j * dw:j * dw + sw * (wo - 1) + 1:sw]
            exact += window @ wt[i, j].astype(np.float64)
            squares += np.square(window) @ np.square(wt[i, j].astype(np.float64))
    exact += bias
    _assert_rounded(outs[0], exact, np.sqrt(squares + np.square(bias.astype(np.float64))),
                    kh * kw * c + 1)


# (dtype, x shape, filter shape, strides, dilations): shallow filters, whose filter gradient
# keeps every tap's sums in registers (ncn._SHALLOW_SUMS), x with spare rows and columns.
SHALLOW_CASES = [
    ("float32", (3, 28, 28, 1), (3, 3, 1, 32)),
    ("float32", (2, 11, 13, 3), (2, 2, 3, 48)),
    ("float32", (2, 12, 15, 1), (3, 3, 1, 80), (2, 2), (1, 1)),
    ("float32", (1, 9, 16, 2), (1, 3, 2, 16), (1, 1), (2, 2)),
    ("float64", (2, 10, 9, 1), (3, 3, 1, 24)),
]


@pytest.mark.parametrize("case", SHALLOW_CASES, ids=str)
def test_shallow_filter_grad_matches_the_general_kernel(case, monkeypatch):
    dtype, x_shape, filter_shape = case[:3]
    strides, dilations = case[3:] if len(case) > 3 else ((1, 1), (1, 1))
    rng = _rng("shallow", case)
    kh, kw, c, o = filter_shape
    n, h, w, _ = x_shape
    (sh, sw), (dh, dw) = strides, dilations
    ho, wo = (h - (kh - 1) * dh - 2) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
    x = rng.standard_normal(x_shape).astype(dtype)
    g = rng.standard_normal((n, ho, wo, o)).astype(dtype)
    results = []
    for sums in (ncn._SHALLOW_SUMS, 0):
        monkeypatch.setattr(ncn, "_SHALLOW_SUMS", sums)
        run = ncn.filter_grad_rows(x, g, filter_shape, strides, dilations)
        whole = np.full(filter_shape, np.nan, dtype)
        run(0, n * ho, whole)
        pieces = np.full(filter_shape, np.nan, dtype)  # parts of the channels, rows in pieces
        for start in range(0, run.vectors, run.vector_block):
            for row0 in range(0, n * ho, 4):
                run.part(row0, min(n * ho, row0 + 4), pieces, slice(0, kh * kw),
                         slice(start, start + run.vector_block), row0 > 0)
        results.append((whole, pieces))
    assert any(key[1] == "filter_grad_taps" and key[3][:3] == (kh, kw, c)
               for key, _ in numpy_llvm._kernels), "the every-tap kernel did not run"
    assert_same_bits(results[0][0], results[1][0])
    assert_same_bits(results[0][1], results[1][1])
    exact, scale = _filter_grad64(x, g, filter_shape, strides, (0, 0), dilations)
    _assert_rounded(results[0][0], exact, scale, n * ho * wo)
    _assert_rounded(results[0][1], exact, scale, n * ho * wo)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("o", [48, 128])
def test_conv2d_rows_packs_blocks_on_first_use(dtype, o):
    rng = _rng("lazy", dtype, o)
    x = rng.standard_normal((2, 5, 6, 7)).astype(dtype)
    w = rng.standard_normal((3, 3, 7, o)).astype(dtype)
    whole = np.empty((2, 5, 6, o), dtype)
    ncn.conv2d_rows(x, w, whole, (1, 1), (1, 1), pads=(1, 1))(0, 10)
    got = np.full((2, 5, 6, o), np.nan, dtype)
    run = ncn.conv2d_rows(x, w, got, (1, 1), (1, 1), pads=(1, 1), pack=False)
    starts = list(range(0, run.vectors, run.vector_block))
    # the blocks in reverse order, each over two ranges of rows; a later block untouched
    for start in starts[::-1]:
        vectors = slice(start, start + run.vector_block)
        run(0, 4, vectors)
        run(4, 10, vectors)
        channels = slice(start * ncn.lanes(dtype), None)
        assert_same_bits(got[..., channels], whole[..., channels])
        if start:
            assert np.isnan(got[..., :start * ncn.lanes(dtype)]).all()
    if run.vector_block > 1:
        with pytest.raises(ValueError, match="multiple"):
            run(0, 10, slice(1, 2))


@pytest.mark.parametrize("case", DEEP_CASES, ids=str)
def test_conv2d_and_input_grad_by_channel_blocks_on_deep_filters(case):
    x_shape, filter_shape, padding = case
    rng = _rng("deep forward", case)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(filter_shape).astype(np.float32)
    kh, kw, c, o = filter_shape
    pt, pl = (kh // 2, kw // 2) if padding == "SAME" else (0, 0)
    n, h, wd, _ = x_shape
    ho, wo = h + 2 * pt - kh + 1, wd + 2 * pl - kw + 1
    g = rng.standard_normal((n, ho, wo, o)).astype(np.float32)
    threads = nb._THREADS
    outs, grads = [], []
    try:
        for count in (1, 2):
            nb.set_threads(count)
            outs.append(nb.conv2d(x, w, (1, 1), padding, (1, 1), "NHWC"))
            grads.append(nb.conv2d_backprop_input(w, g, x_shape, (1, 1), padding, (1, 1),
                                                  "NHWC"))
    finally:
        nb.set_threads(threads)
    assert_same_bits(outs[0], outs[1])
    assert_same_bits(grads[0], grads[1])
    big = np.zeros((n, h + 2 * pt, wd + 2 * pl, c))
    big[:, pt:pt + h, pl:pl + wd] = x
    exact, squares = np.zeros((n, ho, wo, o)), np.zeros((n, ho, wo, o))
    dx, dx_squares = np.zeros(big.shape), np.zeros(big.shape)
    g64 = g.astype(np.float64)
    for i in range(kh):
        for j in range(kw):
            tap = w[i, j].astype(np.float64)
            exact += big[:, i:i + ho, j:j + wo] @ tap
            squares += np.square(big[:, i:i + ho, j:j + wo]) @ np.square(tap)
            dx[:, i:i + ho, j:j + wo] += g64 @ tap.T
            dx_squares[:, i:i + ho, j:j + wo] += np.square(g64) @ np.square(tap.T)
    _assert_rounded(outs[0], exact, np.sqrt(squares), kh * kw * c)
    crop = (slice(None), slice(pt, pt + h), slice(pl, pl + wd))
    _assert_rounded(grads[0], dx[crop], np.sqrt(dx_squares[crop]), kh * kw * o)
