"""numpy_elementwise_native's blocked loops: an input shaped (n, 1, 1, c) against (n, h, w, c),
squeeze-and-excitation's gate, read as image i's c-vector for each of its h*w pixels, with
the steps that read no per-pixel input (the gate's bias and sigmoid) made once per image.
The reference is the NumPy runner (nb.fused_elementwise), bit for bit, over NaN, infinities
and signed zeros; numpy_loops (the Numba loops) leaves such layouts to it."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import numpy_backend as nb
from tests import test_se_inference_s17 as se
from tests.test_se_inference_s17 import GATE, _canonical_nans, _numpy, _special
from tests.tolerances import assert_same_bits

ne = pytest.importorskip("tensorflux.backends.numpy_elementwise_native")
F32 = tf.float32
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
loops = se.loops  # (the fixture: 1 and 2 threads; .made counts native sigmoid layouts)
needs_native = se.needs_native

MULTIPLY = (("multiply", (0, 1), (), F32),)
# A feature map's batch norm and swish, then the gate (inputs x, mean, scale, offset, gate).
BN_SWISH_GATE = (("subtract", (0, 1), (), F32), ("multiply", (5, 2), (), F32),
                 ("add", (6, 3), (), F32), ("sigmoid", (7,), (), F32),
                 ("multiply", (7, 8), (), F32), ("multiply", (9, 4), (), F32))
SHAPES = [(8, 56, 56, 24), (8, 7, 7, 1152), (3, 5, 4, 37), (1, 6, 7, 37), (2, 1, 1, 5)]


def _native(program, inputs, out=None):
    """The program through numpy_elementwise_native's loop, failing where it falls back."""
    def refuse(*args, out=None):
        raise AssertionError("the NumPy path ran")
    return ne.elementwise(program, refuse)(*inputs, out=out)


def _cases(rng, shape):
    """(features, gate logits (n, 1, 1, c), a per-channel vector), NaNs canonical and not."""
    n, c = shape[0], shape[-1]
    raw = [_special(rng, shape), _special(rng, (n, 1, 1, c), 4.0), _special(rng, (c,), 2.0)]
    return [([_canonical_nans(a) for a in raw], True), (raw, False)]


def test_blocks_are_found_beside_rows_and_columns():
    kinds = ne._kinds
    assert kinds([(8, 1, 1, 24), (8, 5, 5, 24)], (8, 5, 5, 24)) == (["block", "long"], (1, 3))
    assert kinds([(8, 1, 1, 24), (24,), (8, 1, 1, 1), ()], (8, 5, 5, 24)) == (
        ["block", "row", "column", "scalar"], (1, 3))
    assert kinds([(8, 1, 5, 24), (8, 5, 5, 24)], (8, 5, 5, 24)) == (["block", "long"], (1, 2))
    assert kinds([(8, 1, 1, 24), (1, 5, 24)], (8, 5, 5, 24)) is None  # (a row from 2)
    assert kinds([(8, 1, 1, 24), (8, 5, 1, 24)], (8, 5, 5, 24)) is None  # (two blocks)
    assert kinds([(8, 1, 5, 1, 24)], (8, 3, 5, 3, 24)) is None  # (ones in two places)
    assert kinds([(1, 1, 24), (8, 5, 5, 24)], (8, 5, 5, 24)) == (["row", "long"], 3)


@needs_native
@pytest.mark.parametrize("shape", SHAPES)
def test_a_gate_its_bias_and_sigmoid_give_the_numpy_runners_bits(loops, shape):
    rng = np.random.default_rng(shape[-1] + shape[0])
    for (x, gate, bias), nan_bits in _cases(rng, shape):
        for program, inputs in ((MULTIPLY, [x, gate]), (MULTIPLY, [gate, x]),
                                (GATE, [gate, bias, x])):
            assert_same_bits(_native(program, inputs), _numpy(program, inputs), nan_bits=nan_bits)
        out = x.copy()  # (in place, through the features' own pointer)
        assert _native(GATE, [gate, bias, out], out=out) is out
        assert_same_bits(out, _numpy(GATE, [gate, bias, x]), nan_bits=nan_bits)
    assert loops.made


@needs_native
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_batch_norm_swish_and_a_gate_give_the_numpy_runners_bits(loops, shape):
    rng = np.random.default_rng(shape[-1])
    for (x, gate, mean), nan_bits in _cases(rng, shape):
        scale, offset = _special(rng, mean.shape, 2.0), _special(rng, mean.shape, 2.0)
        if nan_bits:
            scale, offset = _canonical_nans(scale), _canonical_nans(offset)
        inputs = [x, mean, scale, offset, gate]
        assert_same_bits(_native(BN_SWISH_GATE, inputs), _numpy(BN_SWISH_GATE, inputs),
                         nan_bits=nan_bits)
        # A per-image column and a scalar beside the block. (The column has no NaN where
        # bits count: a sum of x * gate's own NaN (0 * inf) and a column's NaN is either
        # one in NumPy, by its iterator's buffers, as the module documents.)
        column = _special(rng, (shape[0], 1, 1, 1), 3.0)
        program = (("multiply", (0, 1), (), F32), ("add", (4, 2), (), F32),
                   ("maximum", (5, 3), (), F32))
        inputs = [x, gate, np.nan_to_num(column) if nan_bits else column, np.float32(-0.0)]
        assert_same_bits(_native(program, inputs), _numpy(program, inputs), nan_bits=nan_bits)
    assert loops.made


@needs_native
def test_a_gate_is_one_pass_and_its_sigmoid_once_per_image(loops, monkeypatch):
    """The blocked loop runs (no NumPy pass), and the hoisted steps' buffer is what it
    reads: a layout whose per-image values would outgrow the stack keeps the NumPy path."""
    rng = np.random.default_rng(5)
    x, gate, bias = [_canonical_nans(a) for a in _cases(rng, (2, 9, 9, 40))[1][0]]
    calls = []
    made = ne._elementwise_loop

    def spy(kinds, steps, *args):
        calls.append((tuple(kinds), [step[1] for step in ne._hoisted(kinds, steps)[0]]))
        return made(kinds, steps, *args)
    monkeypatch.setattr(ne, "_elementwise_loop", spy)
    assert_same_bits(_native(GATE, [gate, bias, x]), _numpy(GATE, [gate, bias, x]))
    assert calls == [(("block", "row", "long"), ["add", "sigmoid"])]
    monkeypatch.setattr(ne, "_HOISTED_MAX_BYTES", 40 * 4 - 1)
    fell_back = []

    def fallback(*args, out=None):
        fell_back.append(True)
        return _numpy(GATE, args, out)
    assert_same_bits(ne.elementwise(GATE, fallback)(gate, bias, x), _numpy(GATE, [gate, bias, x]))
    assert fell_back


def test_numba_loops_leave_blocks_to_numpy_and_still_take_rows(monkeypatch):
    numpy_loops = pytest.importorskip("tensorflux.backends.numpy_loops")
    if not numpy_loops.available():
        pytest.skip("no Numba here")
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(numpy_loops, "_SPLIT_MIN_BYTES", 1)
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((2, 5, 6, 37)) * 3).astype(np.float32)
    gate = rng.standard_normal((2, 1, 1, 37)).astype(np.float32)
    fell_back = []

    def fallback(*args, out=None):
        fell_back.append(True)
        return _numpy(MULTIPLY, args, out)
    run = numpy_loops.elementwise(MULTIPLY, fallback)
    assert_same_bits(run(x, gate), x * gate)
    assert fell_back == [True]
    assert_same_bits(run(x, gate[0, 0, 0]), x * gate[0, 0, 0])  # (a row: Numba's loop)
    assert fell_back == [True]
