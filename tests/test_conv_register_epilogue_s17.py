"""A fused convolution's per-channel epilogue in the native kernels' registers
(numpy_conv_native.epilogue_ir, from numpy_backend._nn_register_epilogue): a bias, an
inference BatchNormalization's subtract / multiply / add (or x * a + b), then relu, relu6 or
nothing, applied to each output vector before the store, on regular and depthwise
convolutions. Checked bit for bit against the same program run by NumPy's own ufuncs on a
plain conv2d's output (NaN, infinities, -0.0, values around 0 and 6 in the data), against
the unfused graph on MobileNetV2- and ResNet-like models, and that the in-register path ran
where the whole-output loop ran before."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_conv_native as ncn
from tensorflux.backends import numpy_depthwise_native as ndn
from tensorflux.backends import numpy_llvm
from tensorflux.graph import passes
from tests.conv_epilogue_cases import count_paths
from tests.tolerances import assert_same_bits

pytestmark = pytest.mark.skipif(not numpy_llvm.available(),
                                reason="no llvmlite or no AVX2 with FMA")

# NumPy's own kernels for each step: the independent oracle
UFUNCS = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply}


@pytest.fixture
def paths(monkeypatch):
    """Counts the in-register epilogues the kernels were built for and the whole-output
    loops' calls."""
    return count_paths(monkeypatch, bool, [(ncn, "conv2d_rows"), (ndn, "depthwise_rows")])


# name -> (steps: (ufunc name or activation, operand kind: "v" vector, "s" scalar, "" none,
# whether the running value comes first))
PROGRAMS = {
    "bn relu6": [("subtract", "v", True), ("multiply", "v", True), ("add", "v", True),
                 ("relu6", "", True)],
    "bn relu": [("subtract", "v", True), ("multiply", "v", True), ("add", "v", True),
                ("relu", "", True)],
    "bn alone": [("subtract", "v", True), ("multiply", "v", True), ("add", "v", True)],
    "affine relu6": [("multiply", "v", False), ("add", "v", True), ("relu6", "", True)],
    "bias bn relu": [("add", "v", False), ("subtract", "v", True), ("multiply", "v", True),
                     ("add", "v", True), ("relu", "", True)],
    "scalars, operand first": [("subtract", "v", False), ("multiply", "s", True),
                               ("add", "s", False), ("relu6", "", True)],
}


def _program(steps, dt):
    """fused_elementwise's program for `steps` on (conv output, operands...), and the
    operands' kinds."""
    kinds = [kind for _, kind, _ in steps if kind]
    n = 1 + len(kinds)
    program, previous, operand = [], 0, 1
    for j, (name, kind, first) in enumerate(steps):
        if kind:
            refs = (previous, operand) if first else (operand, previous)
            operand += 1
        else:
            refs = (previous,)
        program.append((name, refs, (), dt))
        previous = n + j
    return tuple(program), kinds


def _numpy(y, steps, operands):
    """The steps by NumPy's ufuncs, one at a time (relu6 as numpy_backend's relu6 kernel:
    np.minimum(np.maximum(x, 0), 6))."""
    operands = iter(operands)
    zero, six = np.zeros((), y.dtype), np.asarray(6, y.dtype)
    with np.errstate(all="ignore"):
        for name, _, first in steps:
            if name == "relu":
                y = np.maximum(y, zero)
            elif name == "relu6":
                y = np.minimum(np.maximum(y, zero), six)
            else:
                other = next(operands)
                y = UFUNCS[name](y, other) if first else UFUNCS[name](other, y)
    return y


def _case(depthwise, dtype, channels, seed):
    rng = np.random.default_rng(seed)
    c = channels if depthwise else 5
    x = (rng.standard_normal((2, 11, 13, c)) * 3).astype(dtype)
    x[0, 2, 3, 1] = np.nan
    x[1, 4:7, 2:6] = -0.0
    x[1, 8, 8, 0] = np.inf
    x[0, 9, 1, 2] = -np.inf
    w = rng.standard_normal((3, 3, 1, c) if depthwise else (3, 3, c, channels)).astype(dtype)
    return x, w


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("geometry", [((1, 1), "SAME"), ((2, 2), "VALID"),
                                      ((2, 2), ((1, 0), (0, 1)))])
def test_register_epilogue_is_numpys_steps(name, dtype, depthwise, geometry, paths):
    steps = PROGRAMS[name]
    dt = tf.as_dtype(np.dtype(dtype).name)
    # (depthwise: vectors and single channels at the tail; regular: 3 vectors of float32,
    # 6 of float64, blocks with a tail)
    channels = 37 if depthwise else 48
    x, w = _case(depthwise, dtype, channels, len(name))
    conv = dict(strides=geometry[0], padding=geometry[1], dilations=(1, 1),
                data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    rng = np.random.default_rng(7)
    program, kinds = _program(steps, dt)
    operands = []
    for kind in kinds:
        value = rng.standard_normal(channels if kind == "v" else ()).astype(dtype) * 2
        if kind == "v":
            value[::5] = -0.0
            value[3] = 0.0
        operands.append(np.asarray(value, dtype))
    want = _numpy(y, steps, [o.reshape(1, 1, 1, -1) if o.ndim else o for o in operands])
    got = nb.fused_conv2d(x, w, *[o.reshape(1, 1, 1, -1) if o.ndim else o
                                  for o in operands], program=program, register=0, **conv)
    assert_same_bits(got, want, nan_bits=False)
    assert paths["register"] == 1 and paths["loop"] == 0
    assert np.isnan(want).any() and (want == 0).any()
    if steps[-1][0] == "relu6":
        assert (want == 6).any() and ((want > 0) & (want < 6)).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_at_the_bounds_keep_numpys_bits(dtype, paths):
    """1x1 convolutions of one-hot filters copy the input: the epilogue meets exact 0.0,
    -0.0, 6.0, the values next to them, NaN and inf."""
    dt = tf.as_dtype(np.dtype(dtype).name)
    special = np.array([0.0, -0.0, 6.0, -6.0, np.nextafter(6, 7), np.nextafter(6, 5),
                        np.nextafter(0, 1), np.nextafter(0, -1), np.nan, np.inf, -np.inf,
                        1.0], dtype)
    c = 32
    x = np.resize(special, (2, 3, 5, c)).astype(dtype)
    x[1] = -x[1]
    w = np.eye(c, dtype=dtype).reshape(1, 1, c, c)
    conv = dict(strides=(1, 1), padding="VALID", dilations=(1, 1), data_format="NHWC")
    for name in ("relu", "relu6"):
        steps = [("multiply", "v", True), ("add", "v", True), (name, "", True)]
        program, _ = _program(steps, dt)
        ones, zeros = np.ones(c, dtype), np.zeros(c, dtype)
        zeros[1::2] = -0.0
        got = nb.fused_conv2d(x, w, ones, zeros, program=program, register=0, **conv)
        assert_same_bits(got, _numpy(nb.conv2d(x, w, **conv), steps, [ones, zeros]),
                         nan_bits=False)
    assert paths["register"] == 2 and paths["loop"] == 0


def test_a_residual_runs_in_registers(paths):
    """A residual tensor (since session 18 a tensor step in registers: see
    test_conv_epilogue_s18), with NumPy's values."""
    dt = tf.float32
    x, w = _case(False, np.float32, 32, 1)
    conv = dict(strides=(1, 1), padding="SAME", dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    residual = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    program = (("add", (0, 1), (), dt), ("relu6", (2,), (), dt))
    got = nb.fused_conv2d(x, w, residual, program=program, register=0, **conv)
    assert_same_bits(got, np.minimum(np.maximum(y + residual, np.float32(0)), np.float32(6)),
                     nan_bits=False)
    assert paths["register"] == 1 and paths["loop"] == 0


def _mobilenet_like(k):
    layers = k.layers
    inputs = k.Input((16, 16, 3))
    x = layers.ReLU(6.0)(layers.BatchNormalization()(
        layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inputs)))
    for expand, stride in ((32, 1), (32, 2), (32, 1)):
        shortcut = x
        y = layers.ReLU(6.0)(layers.BatchNormalization()(
            layers.Conv2D(expand, 1, use_bias=False)(x)))
        if stride == 2:
            y = layers.ZeroPadding2D(((0, 1), (0, 1)))(y)
        y = layers.DepthwiseConv2D(3, strides=stride, use_bias=False,
                                   padding="valid" if stride == 2 else "same")(y)
        y = layers.ReLU(6.0)(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(16, 1, use_bias=False)(y))
        x = layers.add([shortcut, y]) if stride == 1 else y
    return k.Model(inputs, layers.ReLU(6.0)(layers.BatchNormalization()(
        layers.Conv2D(32, 1, use_bias=False)(x))))


def _resnet_like(k):
    layers = k.layers
    inputs = k.Input((12, 12, 3))
    x = layers.Activation("relu")(layers.BatchNormalization()(
        layers.Conv2D(16, 3, padding="same")(inputs)))
    for filters in (16, 32):
        shortcut = layers.BatchNormalization()(layers.Conv2D(filters, 1)(x))
        y = layers.Activation("relu")(layers.BatchNormalization()(
            layers.Conv2D(filters, 1)(x)))
        y = layers.Activation("relu")(layers.BatchNormalization()(
            layers.Conv2D(filters, 3, padding="same")(y)))
        y = layers.BatchNormalization()(layers.Conv2D(filters, 1)(y))
        x = layers.Activation("relu")(layers.add([shortcut, y]))
    return k.Model(inputs, x)


@pytest.mark.parametrize("build", [_mobilenet_like, _resnet_like])
def test_models_predict_the_unfused_bits(build, paths):
    model = build(keras)
    rng = np.random.default_rng(4)
    weights = []
    for w in model.weights:
        value = rng.uniform(-0.5, 0.5, tuple(w.shape)).astype("float32")
        weights.append(np.abs(value) + 0.5 if "variance" in w.path else value)
    model.set_weights(weights)
    shape = (3,) + tuple(model.input_shape[1:])
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    x[0, 3, 4, 1] = np.nan
    x[1, 5:8, 5:8, :] = -0.0
    x[2, 7, 7, 2] = np.inf
    got = model.predict(x, verbose=0)
    assert paths["register"] > 0
    with passes.disabled():
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        want = copy.predict(x, verbose=0)
    assert_same_bits(got, want, nan_bits=False)
