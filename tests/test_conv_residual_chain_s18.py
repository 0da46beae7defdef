"""A residual's own per-channel steps in the native conv kernel's registers
(numpy_conv_native's EPILOGUE_RESIDUAL_OPS, read from a program by
numpy_backend._nn_register_epilogue): ResNet50's projection blocks add the shortcut
convolution's output, with its bias and inference BatchNormalization, to the main branch's
bias + BatchNormalization, then relu, ten steps where EPILOGUE_MOST_STEPS was 6; the
single-pass loop over the whole output ran them after the kernel. Checked bit for bit
against that loop (the path replaced, NaN bits included) and against NumPy's ufuncs one
instruction at a time, on odd shapes, strides and paddings, on 1 and 2 threads, with NaN,
infinities and -0.0 in the data, float32 and float64; that programs the kernel does not
take keep the loop; and a Keras projection block against the unfused graph."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_conv_native as ncn
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

pytestmark = pytest.mark.skipif(not numpy_llvm.available(), reason="no llvmlite")

threads = conv_epilogue_cases.threads  # (a fixture: 1 and 2 threads)


@pytest.fixture
def paths(monkeypatch):
    """Counts the kernels built with residual steps in registers, and the loops' calls."""
    return count_paths(monkeypatch, lambda steps: any(
        name in ncn.EPILOGUE_RESIDUAL_OPS for name, _ in steps), [(ncn, "conv2d_rows")])


# name -> instructions (op, operands): "y" the convolution's output, "t" the tensor, "v" a
# new per-channel vector, "vn" one holding a NaN and an infinity, "%k" instruction k's result
PROJECTION = [("add", "y v"), ("add", "t vn"), ("subtract", "%1 v"), ("multiply", "%2 vn"),
              ("add", "%3 v"), ("subtract", "%0 v"), ("multiply", "%5 v"), ("add", "%6 v"),
              ("add", "%4 %7"), ("relu", "%8")]
PROGRAMS = {
    "resnet50 projection": PROJECTION,
    "shortcut chain first": [("add", "t vn"), ("subtract", "%0 v"), ("multiply", "%1 v"),
                             ("add", "%2 v"), ("add", "y v"), ("subtract", "%4 v"),
                             ("multiply", "%5 v"), ("add", "%6 v"), ("add", "%7 %3"),
                             ("relu6", "%8")],
    "operands first": [("add", "vn t"), ("subtract", "v %0"), ("multiply", "vn %1"),
                       ("multiply", "v y"), ("subtract", "%2 %3")],
    "interleaved": [("multiply", "t v"), ("subtract", "y v"), ("add", "%0 vn"),
                    ("multiply", "%1 v"), ("multiply", "%3 %2"), ("relu", "%4")],
    "one residual step": [("add", "t v"), ("add", "y %0")],
}


def _program(name, dtype=tf.float32):
    """(fused_elementwise's program on (conv output, operands...), the operands' kinds)."""
    steps = PROGRAMS[name]
    kinds = [ch for _, operands in steps for ch in operands.split() if ch[0] in "tv"]
    n = 1 + len(kinds)
    program, k = [], 0
    for op, operands in steps:
        refs = []
        for ch in operands.split():
            if ch == "y":
                refs.append(0)
            elif ch[0] == "%":
                refs.append(n + int(ch[1:]))
            else:
                k += 1
                refs.append(k)
        program.append((op, tuple(refs), (), dtype))
    return tuple(program), kinds


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: f"{g[0]}-{g[1]}-{g[2]}")
def test_registers_give_the_loops_bits(name, geometry, threads, paths):
    shape, strides, padding = geometry
    program, kinds = _program(name)
    # (48 channels: 3 vectors of 16 float32, register blocks with a tail)
    x, w, rng = conv_data(shape, 48, len(name) + shape[0], np.float32)
    conv = dict(strides=strides, padding=padding, dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    operands = epilogue_operands(kinds, y.shape, rng, np.float32)
    got = nb.fused_conv2d(x, w, *operands, program=program, register=0, **conv)
    assert paths["register"] == 1 and paths["loop"] == 0
    assert_same_bits(got, loop(y, program, operands), "registers against the loop")
    assert_same_bits(got, numpy_steps(y, program, operands), "registers against NumPy",
                     nan_bits=False)
    assert np.isnan(got).any() and np.isfinite(got).any()


@pytest.mark.parametrize("name", ["resnet50 projection", "operands first"])
def test_float64(name, paths):
    program, kinds = _program(name, tf.float64)
    x, w, rng = conv_data((2, 7, 10, 6), 24, 3, np.float64)
    conv = dict(strides=(1, 1), padding="SAME", dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    operands = epilogue_operands(kinds, y.shape, rng, np.float64)
    got = nb.fused_conv2d(x, w, *operands, program=program, register=0, **conv)
    assert paths["register"] == 1 and paths["loop"] == 0
    assert_same_bits(got, loop(y, program, operands), "registers against the loop")
    assert_same_bits(got, numpy_steps(y, program, operands), nan_bits=False)


def test_the_kernel_takes_ten_steps_not_eleven():
    x, w, rng = conv_data((1, 5, 6, 4), 16, 1, np.float32)
    out = np.empty((1, 3, 4, 16), np.float32)
    for count, runs in ((ncn.EPILOGUE_MOST_STEPS, True), (ncn.EPILOGUE_MOST_STEPS + 1, False)):
        steps = (("add", True),) * count
        rows = np.ones((count, 16), np.float32)
        run = ncn.conv2d_rows(x, w, out, (1, 1), (1, 1), epilogue=(steps, rows))
        assert (run is not None) == runs
    # (a residual step after its tensor step, or without one: refused)
    for steps in ((("add_tensor", True), ("residual_add", True)), (("residual_add", True),)):
        assert ncn.conv2d_rows(x, w, out, (1, 1), (1, 1), epilogue=(
            steps, np.ones((1, 16), np.float32), np.ones(out.shape, np.float32))) is None


# programs the registers do not run: (instructions, kinds) as PROGRAMS'
REFUSED = {
    # (the residual chain's middle value read twice)
    "read twice": [("add", "t v"), ("multiply", "%0 v"), ("add", "y %1"), ("add", "%2 %0")],
    # (the tensor read by the chain and by the running value)
    "tensor twice": [("add", "t v"), ("add", "y t"), ("add", "%1 %0")],
    # (two tensors)
    "two tensors": [("add", "t v"), ("add", "y %0"), ("add", "%1 t")],
    # (a chain never added: the result is not the running value's)
    "chain last": [("add", "t v"), ("add", "y v"), ("multiply", "%0 v")],
    # (a chain step of two tensors)
    "tensor by tensor": [("multiply", "t t"), ("add", "y %0")],
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_the_registers_do_not_run_keeps_the_loop(name, paths, monkeypatch):
    monkeypatch.setitem(PROGRAMS, name, REFUSED[name])
    program, kinds = _program(name)
    x, w, rng = conv_data((2, 7, 9, 5), 32, 5, np.float32)
    conv = dict(strides=(1, 1), padding="SAME", dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    operands = epilogue_operands(kinds, y.shape, rng, np.float32)
    inputs = tuple(np.reshape(a, -1) if a.shape[:3] == (1, 1, 1) else a for a in operands)
    assert nb._nn_register_epilogue(program, 0, inputs, np.float32) is None
    got = nb.fused_conv2d(x, w, *operands, program=program, register=0, **conv)
    assert paths["register"] == 0
    assert_same_bits(got, numpy_steps(y, program, operands), nan_bits=False)


def _projection_block(k):
    """keras.applications.ResNet50's first block of a stage: conv + BN + relu twice, a 1x1
    conv + BN, and the shortcut's 1x1 conv + BN added, relu."""
    layers = k.layers
    inputs = k.Input((9, 11, 16))
    bn = dict(epsilon=1.001e-5)
    shortcut = layers.BatchNormalization(**bn)(layers.Conv2D(64, 1, strides=2)(inputs))
    x = layers.Activation("relu")(layers.BatchNormalization(**bn)(
        layers.Conv2D(16, 1, strides=2)(inputs)))
    x = layers.Activation("relu")(layers.BatchNormalization(**bn)(
        layers.Conv2D(16, 3, padding="same")(x)))
    x = layers.BatchNormalization(**bn)(layers.Conv2D(64, 1)(x))
    return k.Model(inputs, layers.Activation("relu")(layers.add([shortcut, x])))


@pytest.mark.parametrize("batch", [1, 3])
def test_a_projection_block_predicts_the_unfused_bits(batch, threads, paths):
    model = _projection_block(keras)
    rng = np.random.default_rng(batch)
    set_random_weights(model, rng)
    x = (rng.standard_normal((batch,) + tuple(model.input_shape[1:])) * 3).astype(np.float32)
    x[-1, 4, 6, :] = -0.0
    x[0, 2, 4, 1] = np.nan
    x[-1, 6, 2, 5] = np.inf
    got = model.predict(x, verbose=0)
    assert paths["register"] > 0
    with passes.disabled(), np.errstate(invalid="ignore"):  # (NumPy's 0 * inf)
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        want = copy.predict(x, verbose=0)
    assert_same_bits(got, want, nan_bits=False)
    assert np.isnan(got).any() and np.isfinite(got).any()
