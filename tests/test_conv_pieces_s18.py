"""How numpy_backend._nn_native_conv splits a native convolution into kernel calls, and how
numpy_conv_native packs a filter for them: work below the threads' threshold in one call
(an SE block's (8, 1, 1, c) convolutions), output channel blocks in runs of neighbours (at
most 4 runs a thread), and the filter's blocks packed a run at a time under their locks
taken in order. The bits are those of the same kernel over the whole output in one call
(each output's sum is one register chain whatever the split), checked at 1 and 2 threads
on odd channel counts (a shorter last block); the packed filter against the blocks cut
from the filter one by one with NumPy, on strided views; the convolution itself against
a float64 oracle."""

import threading

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_conv_native as ncn
from tensorflux.backends import numpy_llvm
from tests.tolerances import assert_same_bits

pytestmark = pytest.mark.skipif(not numpy_llvm.available(), reason="no llvmlite")


@pytest.fixture(params=[1, 2])
def threads(request):
    nb.set_threads(request.param)
    yield request.param
    nb.set_threads(0)


@pytest.fixture
def calls(monkeypatch):
    """The (row0, row1, vectors) of every kernel call _nn_native_conv makes."""
    seen = []
    lock = threading.Lock()
    original = ncn.conv2d_rows

    def recording(*args, **kwargs):
        run = original(*args, **kwargs)
        if run is None:
            return None

        def wrapped(row0, row1, vectors=None):
            with lock:
                seen.append((row0, row1, vectors))
            return run(row0, row1, vectors)
        wrapped.vector_block, wrapped.vectors = run.vector_block, run.vectors
        return wrapped
    monkeypatch.setattr(ncn, "conv2d_rows", recording)
    return seen


def _blocks_by_numpy(w, block):
    o = w.shape[3]
    return np.concatenate([np.ascontiguousarray(w[..., first:min(o, first + block)]).reshape(-1)
                           for first in range(0, o, block)])


@pytest.mark.parametrize("shape, block", [((1, 1, 48, 1152), 32), ((3, 3, 5, 80), 32),
                                          ((2, 3, 7, 40), 16), ((1, 1, 3, 17), 8)])
@pytest.mark.parametrize("view", ["contiguous", "strided", "transposed"])
def test_packed_filter_is_the_blocks_cut_one_by_one(shape, block, view):
    rng = np.random.default_rng(sum(shape) + block)
    if view == "contiguous":
        w = rng.standard_normal(shape).astype(np.float32)
    elif view == "strided":
        w = rng.standard_normal(shape[:3] + (2 * shape[3],)).astype(np.float32)[..., ::2]
    else:
        w = np.transpose(rng.standard_normal(shape[::-1]).astype(np.float32), (3, 2, 1, 0))
    expected = _blocks_by_numpy(w, block)
    whole, _ = ncn._packed(w, block)
    assert_same_bits(whole, expected, "packed at once")
    # (by ranges, as threads fill them: a run of blocks, single blocks, past the end)
    parts, fill = ncn._packed(w, block, fill=False)
    o = shape[3]
    starts = list(range(0, o, block))
    fill(starts[-1], o + block)
    for k, start in enumerate(starts[:-1]):
        if k % 3 == 0:
            fill(start, min(starts[-1], start + 2 * block))
        elif k % 3 == 2:
            fill(start, start + block)
    assert_same_bits(parts, expected, "packed by ranges")


def _reference(x, w, strides, pads, ho, wo):
    out = np.empty((x.shape[0], ho, wo, w.shape[3]), x.dtype)
    run = ncn.conv2d_rows(x, w, out, strides, (1, 1), pads=pads)
    run(0, x.shape[0] * ho)
    return out


def _oracle(x, w, strides, pads, ho, wo):
    kh, kw = w.shape[:2]
    xp = np.pad(x.astype(np.float64), ((0, 0), (pads[0], kh), (pads[1], kw), (0, 0)))
    out = np.zeros((x.shape[0], ho, wo, w.shape[3]))
    for i in range(kh):
        for j in range(kw):
            window = xp[:, i:i + strides[0] * ho:strides[0], j:j + strides[1] * wo:strides[1]]
            out += window @ w[i, j].astype(np.float64)
    return out


CASES = {
    # name: (x shape, filter shape, pads): the first two run by channel blocks over all
    # rows (a filter larger than the input), the third by pieces of rows, the last in one
    # call (under _PARALLEL_MIN_BYTES)
    "channel runs, a shorter last block": ((4, 14, 14, 256), (3, 3, 256, 528), (1, 1)),
    "channel runs, 1x1": ((4, 7, 7, 1024), (1, 1, 1024, 1040), (0, 0)),
    "row pieces, 1x1": ((8, 7, 7, 320), (1, 1, 320, 1280), (0, 0)),
    "row pieces": ((4, 30, 30, 32), (3, 3, 32, 48), (1, 1)),
    "one call, SE block": ((8, 1, 1, 48), (1, 1, 48, 1152), (0, 0)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_split_gives_the_one_call_bits(name, threads, calls):
    xs, ws, pads = CASES[name]
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal(xs).astype(np.float32)
    for _ in range(2):  # (a fresh filter each time: packed again, on the threads)
        w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[:3]))).astype(np.float32)
        ho = xs[1] + 2 * pads[0] - ws[0] + 1
        wo = xs[2] + 2 * pads[1] - ws[1] + 1
        out = np.full((xs[0], ho, wo, ws[3]), np.float32(np.nan))
        del calls[:]
        assert nb._nn_native_conv(x, w, out, (1, 1), (1, 1), pads=pads)
        made = list(calls)
        assert_same_bits(out, _reference(x, w, (1, 1), pads, ho, wo), name)
        oracle = _oracle(x, w, (1, 1), pads, ho, wo)
        bound = 1e-5 * np.sqrt(np.prod(ws[:3])) * np.abs(oracle).max()
        assert np.abs(out - oracle).max() <= bound
        by_channels = [c for c in made if c[2] is not None]
        if name.startswith("channel runs") and threads == 2:
            assert by_channels and len(by_channels) <= 4 * threads
            assert all(c[:2] == (0, xs[0] * ho) for c in by_channels)
        if name.startswith("one call"):
            assert made == [(0, xs[0] * ho, None)]
        if name.startswith("row pieces") and threads == 2:
            assert len(made) > 1 and not by_channels
