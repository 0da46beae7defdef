"""numpy_elementwise_native's float32 sigmoid: programs holding it (sigmoid alone, swish,
a convolution's batch norm + swish epilogue, a squeeze-and-excitation gate) run as one native
loop and give the NumPy runner's bits (the oracle: the same program through
nb.fused_elementwise, and numpy_backend.sigmoid) over NaN of both signs and with payloads,
infinities, signed zeros, subnormals and exp's clamps, on one thread and two and under a
compiled run's flushing; sigmoid is within float32 rounding of a float64 reference; and an
EfficientNet-style block (swish, squeeze-and-excitation) predicts as real Keras does."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_denormals
from tests.tolerances import assert_same_bits

ne = pytest.importorskip("tensorflux.backends.numpy_elementwise_native")
LOWERED = ne.available() and ne._sigmoid_lowered()
F32 = tf.float32
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
needs_native = pytest.mark.skipif(not LOWERED, reason="sigmoid is not lowered here (no "
                                  "llvmlite, no AVX-512, or NumPy's exp is another)")

SIGMOID = (("sigmoid", (0,), (), F32),)
SWISH = (("sigmoid", (0,), (), F32), ("multiply", (0, 1), (), F32))
# A convolution's epilogue: (x - mean) * scale + offset, then swish (inputs x, mean, scale,
# offset).
BN_SWISH = (("subtract", (0, 1), (), F32), ("multiply", (4, 2), (), F32),
            ("add", (5, 3), (), F32), ("sigmoid", (6,), (), F32), ("multiply", (6, 7), (), F32))
# A squeeze-and-excitation gate's bias + sigmoid, times a feature map's row (inputs: logits,
# bias, features).
GATE = (("add", (0, 1), (), F32), ("sigmoid", (3,), (), F32), ("multiply", (4, 2), (), F32))


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def loops(request, monkeypatch):
    """Runs the test on that many kernel threads, with split thresholds small enough for
    test-sized arrays; `loops.made` counts the layouts of programs with a sigmoid that made
    a native loop."""
    monkeypatch.setattr(nb, "_PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(ne, "_SPLIT_MIN_BYTES", 1)
    layout = ne._layout

    def counted(program, inputs, fallback):
        found = layout(program, inputs, fallback)
        state.made += found is not None and any(p[0] == "sigmoid" for p in program)
        return found
    monkeypatch.setattr(ne, "_layout", counted)

    class state:
        made = 0
    nb.set_threads(request.param)
    yield state
    nb.set_threads(0)


def _canonical_nans(x):
    """x with its NaNs made the NaN that exp gives (0x7FC00000). A product of two NaNs of
    other bits is the first operand's NaN in these loops and in NumPy's, except in the last
    size % 16 elements of a NumPy call (its AVX-512 loop's masked tail), where NumPy's is
    the second's; a NaN input's swish is such a product (x's NaN times sigmoid's)."""
    return np.where(np.isnan(x), np.float32(np.nan), x)


def _special(rng, shape, scale=30.0):
    """float32 values over exp's whole range with NaNs of both signs and with payloads,
    infinities, signed zeros, subnormals and exp's clamps (88.72, -103.97) and their
    neighbours."""
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    flat = x.reshape(-1)
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 1e-45,
                         88.72283, -88.72283, 88.8, -88.8, 103.97, -103.97, -104.5, 104.5,
                         -87.3, 3.4e38, -3.4e38, 1.0, -1.0, 16.6, -16.6], np.float32)
    picks = rng.integers(0, flat.size, size=max(len(specials), flat.size // 10))
    flat[picks] = rng.choice(specials, size=picks.size)
    bits = flat.view(np.uint32)
    bits[picks[:4]] = [0x7FA00001, 0xFFC12345, 0x7F800001, 0xFF812345]  # payload NaNs
    return x


def _numpy(program, inputs, out=None):
    return nb.fused_elementwise(*inputs, program=program, out=out)


def _looped(program, inputs, out=None):
    """The program through numpy_elementwise_native's loop, as a fused convolution's
    epilogue calls it (plans take it from 16384 elements on), the NumPy runner behind."""
    run = ne.elementwise(program, lambda *args, out=None: _numpy(program, args, out))
    return run(*inputs, out=out)


@needs_native
@pytest.mark.parametrize("shape", [(130, 257), (3, 7, 9, 13), (1,), (2, 5, 5, 17)])
def test_sigmoid_and_swish_give_the_numpy_runners_bits(loops, shape):
    rng = np.random.default_rng(sum(shape))
    x = _special(rng, shape)
    for program, data in ((SIGMOID, x), (SWISH, _canonical_nans(x))):
        assert_same_bits(_looped(program, [data]), _numpy(program, [data]))
        flushed = numpy_denormals.flushing(lambda p=program, d=data: (_looped(p, [d]),
                                                                      _numpy(p, [d])))()
        assert_same_bits(*flushed)
    assert_same_bits(_looped(SWISH, [x]), _numpy(SWISH, [x]), nan_bits=False)
    assert_same_bits(_looped(SIGMOID, [x]), nb.sigmoid(x))
    assert loops.made >= 2


@needs_native
def test_every_float32_around_exps_clamps_and_zero_gives_numpys_sigmoid(loops):
    """A dense sweep of float32 bit patterns over the ranges where exp's branches meet."""
    pieces = [np.arange(start, start + 40000, dtype=np.uint32).view(np.float32) for start in
              (0x42B00000, 0xC2CF0000, 0x00000000, 0x80000000, 0x3F7F0000, 0xC1000000)]
    x = np.concatenate(pieces + [-p for p in pieces])
    assert_same_bits(_looped(SIGMOID, [x]), nb.sigmoid(x))
    assert loops.made


@needs_native
@pytest.mark.parametrize("shape", [(2, 11, 13, 96), (3, 5, 7, 33)])
def test_a_batch_norm_swish_epilogue_and_a_gate_give_the_numpy_runners_bits(loops, shape):
    rng = np.random.default_rng(shape[-1])
    c = shape[-1]
    x = _special(rng, shape)
    vectors = [_special(rng, (c,), 2.0) for _ in range(3)]
    for nan_bits in (True, False):
        inputs = [x] + vectors
        if nan_bits:
            inputs = [_canonical_nans(a) for a in inputs]
        assert_same_bits(_looped(BN_SWISH, inputs), _numpy(BN_SWISH, inputs), nan_bits=nan_bits)
        out = np.empty_like(x)  # (in place, as a fused convolution runs it)
        assert _looped(BN_SWISH, inputs, out=out) is out
        assert_same_bits(out, _numpy(BN_SWISH, inputs), nan_bits=nan_bits)
        gate = [_special(rng, (17, c)), vectors[0], _special(rng, (17, c))]
        if nan_bits:
            gate = [_canonical_nans(a) for a in gate]
        assert_same_bits(_looped(GATE, gate), _numpy(GATE, gate), nan_bits=nan_bits)
    assert loops.made >= 2


@needs_native
def test_a_float32_sigmoid_in_a_program_with_float64_gives_the_numpy_runners_bits(loops):
    """Beside float64 the loop's vectors hold 4 lanes, not 8 (the exps' 16 lanes padded)."""
    to32, to64 = (("dtype", F32),), (("dtype", tf.float64),)
    program = (("cast", (0,), to32, F32), ("sigmoid", (1,), (), F32),
               ("cast", (2,), to64, tf.float64), ("add", (3, 0), (), tf.float64))
    x = _special(np.random.default_rng(7), (3, 1003)).astype(np.float64)
    assert_same_bits(_looped(program, [x]), _numpy(program, [x]))
    assert loops.made


@needs_native
def test_sigmoid_is_float32_rounding_of_the_float64_function(loops):
    rng = np.random.default_rng(3)
    x = np.concatenate([(rng.standard_normal(50000) * 20).astype(np.float32),
                        np.linspace(-104, 89, 20001, dtype=np.float32)])
    got = _looped(SIGMOID, [x]).astype(np.float64)
    reference = 1 / (1 + np.exp(-x.astype(np.float64)))
    tiny = reference < np.finfo(np.float32).tiny  # (subnormal results: absolute error)
    relative = np.abs(got - reference) / np.where(tiny, 1.0, reference)
    assert relative[~tiny].max() <= 4 * np.finfo(np.float32).eps
    assert np.abs(got - reference)[tiny].max() <= 4 * np.finfo(np.float32).smallest_subnormal


def test_what_sigmoid_does_not_lower_keeps_the_numpy_runner(loops):
    """float64 sigmoid, and float32 sigmoid where the probe finds another exp, keep the
    NumPy path (no native loop), with its bits."""
    rng = np.random.default_rng(4)
    x64 = _special(rng, (40, 33)).astype(np.float64)
    assert_same_bits(_looped((("sigmoid", (0,), (), tf.float64),), [x64]), nb.sigmoid(x64))
    assert loops.made == 0


def test_off_avx512_or_on_a_probe_mismatch_float32_sigmoid_is_not_lowered(loops, monkeypatch):
    from tensorflux.backends import numpy_softmax_native

    monkeypatch.setattr(numpy_softmax_native, "_probed", False)
    x = _special(np.random.default_rng(5), (40, 33))
    program = (("sigmoid", (0,), (), F32), ("add", (1, 0), (), F32))  # (not yet laid out)
    assert_same_bits(_looped(program, [x]), _numpy(program, [x]))
    assert loops.made == 0


# ------------------------------------------------------------------ against real Keras


def _se_block(k):
    """EfficientNet's MBConv block, small: expand 1x1 + batch norm + swish, 5x5 depthwise +
    batch norm + swish, squeeze-and-excitation (global average pool, 1x1 convolutions with
    swish and sigmoid, the gate times the features), project 1x1 + batch norm."""
    layers = k.layers
    inputs = k.Input((17, 17, 8))
    x = layers.Conv2D(48, 1, use_bias=False)(inputs)
    x = layers.Activation("swish")(layers.BatchNormalization()(x))
    x = layers.DepthwiseConv2D(5, padding="same", use_bias=False)(x)
    x = layers.Activation("swish")(layers.BatchNormalization()(x))
    se = layers.Reshape((1, 1, 48))(layers.GlobalAveragePooling2D()(x))
    se = layers.Conv2D(4, 1, activation="swish")(se)
    se = layers.Conv2D(48, 1, activation="sigmoid")(se)
    x = layers.multiply([x, se])
    x = layers.BatchNormalization()(layers.Conv2D(16, 1, use_bias=False)(x))
    return k.Model(inputs, x)


@pytest.mark.keras_oracle
def test_an_squeeze_and_excitation_block_predicts_as_keras():
    from tensorflux import keras
    from tests.keras._oracle import assert_matches, import_keras

    k = import_keras()
    ours, theirs = _se_block(keras), _se_block(k)
    rng = np.random.default_rng(6)
    weights = [rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in ours.get_weights()]
    # (batch norms' moving variances: positive)
    weights = [np.abs(w) + 0.5 if "variance" in v.path else w
               for w, v in zip(weights, ours.weights, strict=True)]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = (rng.standard_normal((6, 17, 17, 8)) * 3).astype("float32")
    made = []
    layout = ne._layout

    def counted(program, inputs, fallback):
        found = layout(program, inputs, fallback)
        made.append(found is not None and any(p[0] == "sigmoid" for p in program))
        return found
    ne._layout = counted
    try:
        got = ours.predict(x, verbose=0)
    finally:
        ne._layout = layout
    assert_matches(got, theirs.predict(x, verbose=0), rtol=2e-5, atol=2e-5,
                   what="predictions")
    if LOWERED:
        assert any(made)
