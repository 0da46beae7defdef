"""The native convolution's sigmoid and swish epilogues on a 16-lane vector with one call of
NumPy's exp (numpy_conv_native._sigmoid_ir: exp of x where x is NaN, else of -|x|, the
numerator that exp where x < 0 or NaN, else 1.0) give the bits of the NumPy path they
replace: the kernel's sums stored as they are, then NumPy's add and numpy_backend.sigmoid
(exp(-|x|) + 1 and exp(min(x, 0)), two exps) and NumPy's multiply, value by value. The
data reach every branch: NaN (two payloads, both signs), +-inf, +-0.0, subnormals, exp's
clamps (above 88.72 and below -103.97, and the values next to them) and a wide spread of
finite values, on odd geometries (a channel tail, padding borders, a stride), the rows run
in one call and split over 2 threads at an odd row."""

import threading

import numpy as np
import pytest

from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_conv_native as ncn
from tensorflux.backends import numpy_llvm
from tests.tolerances import assert_same_bits

pytestmark = pytest.mark.skipif(not (numpy_llvm.available() and ncn.sigmoid_lowered()),
                                reason="needs the native kernels with float32 sigmoid lowered")

_F32 = np.float32
# Per-channel values added before the sigmoid: every special value, then zeros (the
# convolution's own values pass through those channels).
_SPECIAL = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 88.72283, 88.72284,
                     -103.97207, -103.97208, -103.9721, 1e-40, -1e-40, 1e30, -1e30, 17.0],
                    _F32)
_SPECIAL[1] = np.uint32(0xFFC12345).view(_F32)  # a NaN with a payload and the sign set


def _data(rng, shape):
    """Spread values: normal, wide (+-120), tiny and zeros of both signs."""
    x = rng.standard_normal(shape).astype(_F32) * _F32(4)
    flat = x.reshape(-1)
    picks = rng.integers(0, flat.size, (4, flat.size // 8))
    flat[picks[0]] = rng.uniform(-120, 120, picks.shape[1]).astype(_F32)
    flat[picks[1]] = _F32(0.0)
    flat[picks[2]] = _F32(-0.0)
    flat[picks[3]] = (rng.standard_normal(picks.shape[1]) * 1e-39).astype(_F32)
    return x


def _run(x, w, out, strides, pads, steps, rows, threads):
    run = ncn.conv2d_rows(x, w, out, strides, (1, 1), pads=pads, epilogue=(steps, rows))
    assert run is not None
    total = out.shape[0] * out.shape[1]
    if threads == 1:
        run(0, total)
        return out
    cut = total // 2 | 1
    parts = [threading.Thread(target=run, args=span) for span in ((0, cut), (cut, total))]
    for part in parts:
        part.start()
    for part in parts:
        part.join()
    return out


GEOMETRIES = {
    # (x shape, filter (kh, kw), output channels, strides, pads)
    "1x1 odd map": ((3, 5, 7, 16), (1, 1), 32, (1, 1), (0, 0)),
    "1x1 channel tail": ((2, 3, 9, 24), (1, 1), 48, (1, 1), (0, 0)),
    "3x3 padded": ((2, 9, 11, 5), (3, 3), 32, (1, 1), (1, 1)),
    "3x3 stride 2 first layer": ((2, 13, 15, 3), (3, 3), 16, (2, 2), (0, 0)),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
@pytest.mark.parametrize("last", [("sigmoid", True), ("swish", True), ("swish", False)])
def test_sigmoid_and_swish_give_numpys_bits(last, geometry, threads):
    shape, (kh, kw), o, strides, pads = GEOMETRIES[geometry]
    rng = np.random.default_rng(abs(hash((geometry, last, threads))) % 2**32)
    x = _data(rng, shape)
    w = (rng.standard_normal((kh, kw, shape[3], o)) / np.sqrt(kh * kw * shape[3])).astype(_F32)
    n, h, wd, _ = shape
    ho = (h + 2 * pads[0] - kh) // strides[0] + 1
    wo = (wd + 2 * pads[1] - kw) // strides[1] + 1
    shifts = np.zeros(o, _F32)
    shifts[:len(_SPECIAL)] = _SPECIAL
    raw = _run(x, w, np.empty((n, ho, wo, o), _F32), strides, pads, (), None, 1)
    fused = _run(x, w, np.full((n, ho, wo, o), _F32(7)), strides, pads,
                 (("add", True), last), shifts[None], threads)
    with np.errstate(invalid="ignore"):
        value = np.add(raw, shifts)
        sig = nb.sigmoid(value)
        expected = (sig if last[0] == "sigmoid" else
                    np.multiply(value, sig) if last[1] else np.multiply(sig, value))
    assert np.isnan(expected).any() and np.isinf(value).any() and (expected == 0).any()
    assert_same_bits(fused, expected, f"{geometry} {last}")


def test_every_float32_class_through_one_channel_vector():
    """One pixel row whose 16 channels are the special values themselves (a 1x1 filter of
    ones over a single input channel of +0.0, so the sums are +0.0 and the added operand is
    the value): sigmoid's result for each, against numpy_backend.sigmoid."""
    x = np.zeros((1, 1, 3, 1), _F32)
    w = np.ones((1, 1, 1, 16), _F32)
    for swish in (False, True):
        out = np.empty((1, 1, 3, 16), _F32)
        steps = (("add", True), ("swish" if swish else "sigmoid", True))
        _run(x, w, out, (1, 1), (0, 0), steps, _SPECIAL[None], 1)
        value = np.add(np.zeros((1, 1, 3, 16), _F32), _SPECIAL)
        with np.errstate(invalid="ignore"):
            expected = np.multiply(value, nb.sigmoid(value)) if swish else nb.sigmoid(value)
        assert_same_bits(out, expected, "swish" if swish else "sigmoid")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("last", [("sigmoid", True), ("swish", True), ("swish", False)])
@pytest.mark.parametrize("shape, strides", [((2, 7, 9, 40), (1, 1)), ((3, 9, 8, 32), (2, 2))])
def test_depthwise_sigmoid_and_swish_give_numpys_bits(shape, strides, last, threads):
    """numpy_depthwise_native builds its epilogue with numpy_conv_native.epilogue_ir, so its
    16-lane vectors take the same sigmoid (its channel tail, one value at a time, the
    elementwise loops'): its output then NumPy's add, sigmoid and multiply."""
    from tensorflux.backends import numpy_depthwise_native as ndn

    rng = np.random.default_rng(shape[3] * 10 + strides[0] + len(last[0]) + threads)
    x = _data(rng, shape)
    w = rng.standard_normal((3, 3, shape[3], 1)).astype(_F32) / _F32(3)
    n, h, wd, c = shape
    ho, wo = (h - 1) // strides[0] + 1, (wd - 1) // strides[1] + 1
    pads = (1, 1) if strides == (1, 1) else (0, 0)
    if strides != (1, 1):
        ho, wo = (h - 3) // 2 + 1, (wd - 3) // 2 + 1
    shifts = np.zeros(c, _F32)
    shifts[:len(_SPECIAL)] = _SPECIAL
    raw = np.empty((n, ho, wo, c), _F32)
    plain = ndn.depthwise_rows(x, w, raw, strides, (1, 1), pads)
    fused_out = np.full((n, ho, wo, c), _F32(7))
    fused = ndn.depthwise_rows(x, w, fused_out, strides, (1, 1), pads,
                               epilogue=((("add", True), last), shifts[None]))
    if plain is None or fused is None:
        pytest.skip("numpy_depthwise_native does not take this epilogue")
    plain(0, n * ho)
    if threads == 1:
        fused(0, n * ho)
    else:
        cut = (n * ho) // 2 | 1
        parts = [threading.Thread(target=fused, args=span) for span in ((0, cut), (cut, n * ho))]
        for part in parts:
            part.start()
        for part in parts:
            part.join()
    with np.errstate(invalid="ignore"):
        value = np.add(raw, shifts)
        sig = nb.sigmoid(value)
        expected = (sig if last[0] == "sigmoid" else
                    np.multiply(value, sig) if last[1] else np.multiply(sig, value))
    assert np.isnan(expected).any()
    assert_same_bits(fused_out, expected, f"depthwise {shape} {last}")
