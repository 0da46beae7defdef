"""A fused convolution's residual add and swish in the native kernel's registers
(numpy_conv_native.epilogue_ir's tensor steps, sigmoid and swish, from
numpy_backend._nn_register_epilogue), where the single-pass loop over the whole output ran
them after the kernel. Checked bit for bit against that loop (the path replaced: NaN bits
included) and against NumPy's own ufuncs and numpy_backend.sigmoid step by step (a NaN where
two NaNs meet may be either's there), on odd shapes, strides and paddings, batches of 1 and
3, on 1 and 2 threads, with NaN, infinities and sigmoid's exp clamps in the data; against a
float64 NumPy oracle; on EfficientNet- and ResNet-style Keras blocks against the unfused
graph; and that a failed exp probe or a float64 program keeps the loop."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_conv_native as ncn
from tensorflux.backends import numpy_elementwise_native as ne
from tensorflux.backends import numpy_llvm
from tensorflux.graph import passes
from tests import conv_epilogue_cases
from tests.conv_epilogue_cases import (
    GEOMETRIES,
    conv_data,
    count_paths,
    epilogue_operands,
    loop,
    numpy_steps,
    set_random_weights,
)
from tests.tolerances import assert_same_bits

pytestmark = pytest.mark.skipif(not (numpy_llvm.available() and ncn.sigmoid_lowered()),
                                reason="no llvmlite, or no AVX-512 exp giving np.exp's bits")

F32 = tf.float32
threads = conv_epilogue_cases.threads  # (a fixture: 1 and 2 threads)


@pytest.fixture
def paths(monkeypatch):
    """Counts the kernels built with sigmoid, swish or a tensor step in registers, and the
    whole-output loops' calls."""
    return count_paths(monkeypatch, lambda steps: any(
        name in ("sigmoid", "swish") or name.endswith("_tensor") for name, _ in steps),
        [(ncn, "conv2d_rows")])


# name -> the epilogue after the convolution's output (register 0): (instruction, operands)
# with operands "v" a per-channel vector, "t" the residual tensor, "x" the value before the
# last sigmoid, "." the running value; the running value's position in them is kept.
PROGRAMS = {
    "bn swish": [("subtract", ".v"), ("multiply", ".v"), ("add", ".v"), ("sigmoid", "."),
                 ("multiply", "x.")],
    "bn swish, sigmoid first": [("subtract", ".v"), ("multiply", ".v"), ("add", ".v"),
                                ("sigmoid", "."), ("multiply", ".x")],
    "bias sigmoid": [("add", "v."), ("sigmoid", ".")],
    "bn residual": [("subtract", ".v"), ("multiply", ".v"), ("add", ".v"), ("add", "t.")],
    "bias bn residual relu": [("add", ".v"), ("subtract", ".v"), ("multiply", ".v"),
                              ("add", ".v"), ("add", ".t"), ("relu", ".")],
    "residual first, relu6": [("add", "t."), ("relu6", ".")],
    "residual subtract, multiply": [("subtract", "t."), ("multiply", ".v")],
    "residual product": [("multiply", ".t"), ("add", ".v")],
    "swish then residual": [("multiply", ".v"), ("sigmoid", "."), ("multiply", "x."),
                            ("add", "t.")],
}


def _program(name, dtype=F32):
    """(fused_elementwise's program on (conv output, operands...), the operands' kinds)."""
    kinds = []
    program, previous, before = [], 0, None
    steps = PROGRAMS[name]
    n = 1 + sum(ch in "vt" for _, operands in steps for ch in operands)
    for j, (op, operands) in enumerate(steps):
        refs = []
        for ch in operands:
            if ch == ".":
                refs.append(previous)
            elif ch == "x":
                refs.append(before)
            else:
                kinds.append(ch)
                refs.append(len(kinds))
        program.append((op, tuple(refs), (), dtype))
        before = previous if op == "sigmoid" else before
        previous = n + j
    return tuple(program), kinds


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g[0]}-{g[1]}-{g[2]}")
def test_registers_give_the_loops_bits(name, geometry, threads, paths):
    shape, strides, padding = geometry
    program, kinds = _program(name)
    # (48 channels: 3 vectors of 16, register blocks with a tail)
    x, w, rng = conv_data(shape, 48, len(name) + shape[0])
    conv = dict(strides=strides, padding=padding, dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    operands = epilogue_operands(kinds, y.shape, rng)
    got = nb.fused_conv2d(x, w, *operands, program=program, register=0, **conv)
    assert paths["register"] == 1 and paths["loop"] == 0
    assert_same_bits(got, loop(y, program, operands), "registers against the loop")
    assert_same_bits(got, numpy_steps(y, program, operands), "registers against NumPy",
                     nan_bits=False)
    assert np.isnan(got).any() and np.isfinite(got).any()


def test_sigmoid_at_nan_infinities_and_exps_clamps(threads, paths):
    """A 1x1 convolution of a one-hot filter copies the input's finite values (a pixel
    holding NaN or an infinity comes out NaN: its zero taps meet it), then a
    BatchNormalization whose scale overflows some values to +-inf: swish and sigmoid meet
    NaN (a negative one with a payload too), +-inf, +-0, subnormals and the values around
    exp's clamps (-103.97, 88.72) bit for bit."""
    clamps = np.array([-103.972, -103.97208, -87.3, -87.34, 88.72, 88.7228, 88.73, -16.6,
                       16.6, 1e-30, -1e-30, 1e-45, -1e-45, 0.0, -0.0, 3e38, -3e38],
                       np.float32)
    c = 32
    sweep = np.concatenate([clamps, np.linspace(-110, 95, 4000, dtype=np.float32),
                            np.nextafter(clamps, np.float32(np.inf))])
    x = np.resize(sweep, (2, 5, 41, c)).astype(np.float32)
    for k, special in enumerate([np.nan, np.inf, -np.inf,
                                 np.uint32(0xFFC01234).view(np.float32)]):
        x[k % 2, 4, 3 + k] = special
    w = np.eye(c, dtype=np.float32).reshape(1, 1, c, c)
    conv = dict(strides=(1, 1), padding="VALID", dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    assert np.isnan(y).any()
    for name in ("bn swish", "bn swish, sigmoid first", "bias sigmoid"):
        program, kinds = _program(name)
        operands = [np.ones((1, 1, 1, c), np.float32) for _ in kinds]
        operands[-1] = np.zeros((1, 1, 1, c), np.float32)
        if len(operands) > 1:
            operands[1][..., 5::6] = 1e30  # (overflow to +-inf in the multiply)
        if len(operands) > 1:
            with np.errstate(over="ignore"):
                assert np.isinf(y * operands[1]).any()
        got = nb.fused_conv2d(x, w, *operands, program=program, register=0, **conv)
        assert_same_bits(got, loop(y, program, operands), name)
        assert_same_bits(got, numpy_steps(y, program, operands), name, nan_bits=False)
    assert paths["register"] == 3 and paths["loop"] == 0


def test_a_float64_oracle():
    """Swish after BatchNormalization, then a residual, against float64 NumPy: the
    convolution's float32 sums (fused multiply-adds over 3x3x8 taps) err by at most about
    taps x 2^-24 of the sum of |x * w|, which BN scales; sigmoid is NumPy's (a few ulps)
    and swish's slope is below 1.1, so 2e-6 of that scaled sum plus 1e-6 relative holds
    with room."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 13, 15, 8)).astype(np.float32)
    w = (rng.standard_normal((3, 3, 8, 32)) / 4).astype(np.float32)
    program, kinds = _program("swish then residual")
    conv = dict(strides=(1, 1), padding="SAME", dilations=(1, 1), data_format="NHWC")
    scale = (rng.standard_normal((1, 1, 1, 32)) * 2).astype(np.float32)
    residual = rng.standard_normal((2, 13, 15, 32)).astype(np.float32)
    got = nb.fused_conv2d(x, w, scale, residual, program=program, register=0, **conv)

    def conv64(a, b):
        padded = np.pad(a.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
        return sum(np.einsum("nhwc,co->nhwo", padded[:, i:i + 13, j:j + 15],
                             b[i, j].astype(np.float64)) for i in range(3) for j in range(3))
    v = conv64(x, w) * scale
    want = v / (1 + np.exp(-v)) + residual
    bound = 2e-6 * conv64(np.abs(x), np.abs(w)) * np.abs(scale) + 1e-6 * np.abs(want)
    assert got.dtype == np.float32
    assert np.all(np.abs(got - want) <= bound + 1e-30)


def test_a_residual_where_the_kernel_does_not_run_keeps_whole_output(threads, paths):
    """24 output channels (not whole vectors): im2col and GEMMs by pieces, the residual
    then added over the whole output, never to a piece of it, large enough that a
    per-channel epilogue would have run by pieces."""
    x, w, rng = conv_data((2, 256, 256, 3), 24, 3, specials=False)
    conv = dict(strides=(1, 1), padding="SAME", dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    program, kinds = _program("bn residual")
    operands = epilogue_operands(kinds, y.shape, rng, specials=False)
    got = nb.fused_conv2d(x, w, *operands, program=program, register=0, **conv)
    assert paths["register"] == 0 and paths["loop"] == 1
    assert_same_bits(got, numpy_steps(y, program, operands))


def test_what_the_registers_do_not_run_keeps_the_loop(paths, monkeypatch):
    """float64 swish; a second residual; a broadcast (n, 1, 1, c) tensor; sigmoid where
    the exp probe failed: the whole-output path, NumPy's values."""
    conv = dict(strides=(1, 1), padding="SAME", dilations=(1, 1), data_format="NHWC")
    x, w, rng = conv_data((2, 7, 9, 5), 32, 5, specials=False)
    program, kinds = _program("bn swish", tf.float64)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    operands = [v.astype(np.float64) for v in epilogue_operands(kinds, (2, 7, 9, 32), rng)]
    got = nb.fused_conv2d(x64, w64, *operands, program=program, register=0, **conv)
    assert_same_bits(got, numpy_steps(nb.conv2d(x64, w64, **conv), program, operands),
                     nan_bits=False)
    y = nb.conv2d(x, w, **conv)
    two = ((("add", (0, 1), (), F32), ("add", (3, 2), (), F32)), [y + 1, y * 2])
    gate = ((("multiply", (0, 1), (), F32),),
            [rng.standard_normal((2, 1, 1, 32)).astype(np.float32)])
    for program, operands in (two, gate):
        got = nb.fused_conv2d(x, w, *operands, program=program, register=0, **conv)
        assert_same_bits(got, numpy_steps(y, program, operands), nan_bits=False)
    assert paths["register"] == 0
    monkeypatch.setattr(ne, "_sigmoid_lowered", lambda: False)
    program, kinds = _program("bn swish")
    operands = epilogue_operands(kinds, y.shape, rng)
    assert nb._nn_register_epilogue(program, 0, tuple(v.reshape(-1) for v in operands),
                                    np.float32) is None
    got = nb.fused_conv2d(x, w, *operands, program=program, register=0, **conv)
    assert_same_bits(got, numpy_steps(y, program, operands), nan_bits=False)
    assert paths["register"] == 0


def _efficientnet_block(k):
    """An MBConv block as keras.applications.EfficientNet builds it: expansion, depthwise,
    squeeze-and-excitation, projection, the residual."""
    layers = k.layers
    inputs = k.Input((15, 13, 16))
    x = layers.Activation("swish")(layers.BatchNormalization()(
        layers.Conv2D(96, 1, padding="same", use_bias=False)(inputs)))
    x = layers.Activation("swish")(layers.BatchNormalization()(
        layers.DepthwiseConv2D(5, padding="same", use_bias=False)(x)))
    se = layers.Reshape((1, 1, 96))(layers.GlobalAveragePooling2D()(x))
    se = layers.Conv2D(4, 1, activation="swish")(se)
    se = layers.Conv2D(96, 1, activation="sigmoid")(se)
    x = layers.multiply([x, se])
    x = layers.BatchNormalization()(layers.Conv2D(16, 1, use_bias=False)(x))
    x = layers.add([x, inputs])
    x = layers.Activation("swish")(layers.BatchNormalization()(
        layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(x)))
    return k.Model(inputs, x)


def _resnet_block(k):
    """keras.applications.ResNet50's identity block (conv + BN + relu, twice, conv + BN,
    the shortcut added, relu)."""
    layers = k.layers
    inputs = k.Input((9, 11, 64))
    x = layers.Activation("relu")(layers.BatchNormalization(epsilon=1.001e-5)(
        layers.Conv2D(16, 1)(inputs)))
    x = layers.Activation("relu")(layers.BatchNormalization(epsilon=1.001e-5)(
        layers.Conv2D(16, 3, padding="same")(x)))
    x = layers.BatchNormalization(epsilon=1.001e-5)(layers.Conv2D(64, 1)(x))
    return k.Model(inputs, layers.Activation("relu")(layers.add([inputs, x])))


@pytest.mark.parametrize("build", [_efficientnet_block, _resnet_block])
@pytest.mark.parametrize("batch", [1, 3])
def test_application_blocks_predict_the_unfused_bits(build, batch, threads, paths):
    model = build(keras)
    rng = np.random.default_rng(batch)
    set_random_weights(model, rng)
    x = (rng.standard_normal((batch,) + tuple(model.input_shape[1:])) * 3).astype(np.float32)
    # (NaN and inf in the first image only, where there are others: squeeze-and-excitation's
    # pooling spreads them over their image)
    x[-1, 5, 6, :] = -0.0
    if batch > 1:
        x[0, 3, 4, 1] = np.nan
        x[0, 7, 2, 5] = np.inf
    got = model.predict(x, verbose=0)
    assert paths["register"] > 0
    with passes.disabled(), np.errstate(invalid="ignore"):  # (NumPy's 0 * inf)
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        want = copy.predict(x, verbose=0)
    assert_same_bits(got, want, nan_bits=False)
    assert np.isnan(got).any() == (batch > 1) and np.isfinite(got).any()


@pytest.mark.parametrize("name", ["bn swish", "bn swish, sigmoid first", "bias sigmoid"])
@pytest.mark.parametrize("geometry", [((2, 9, 13, 37), (1, 1), "SAME", 3),
                                      ((1, 12, 11, 48), (2, 2), ((1, 2), (2, 1)), 5)],
                         ids=["37ch-same-3x3", "48ch-stride2-5x5"])
def test_depthwise_swish_gives_the_loops_bits(name, geometry, threads):
    """A depthwise convolution's swish: in registers where numpy_depthwise_native takes
    sigmoid and swish, else after the kernel in the loop (numpy_backend tries the kernel
    without them); the loop's bits either way (37 channels: vectors and single ones)."""
    shape, strides, padding, size = geometry
    program, kinds = _program(name)
    x, _, rng = conv_data(shape, shape[3], 2)
    w = (rng.standard_normal((size, size, 1, shape[3])) / 3).astype(np.float32)
    conv = dict(strides=strides, padding=padding, dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    operands = epilogue_operands(kinds, y.shape, rng)
    got = nb.fused_conv2d(x, w, *operands, program=program, register=0, **conv)
    assert_same_bits(got, loop(y, program, operands))
    assert_same_bits(got, numpy_steps(y, program, operands), nan_bits=False)
