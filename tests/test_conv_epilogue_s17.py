"""Inference convolution chains (Conv2D / DepthwiseConv2D, then BatchNormalization, then relu,
relu6 or swish, perhaps a residual add; MobileNetV2's and ResNet50's blocks) folded into one
`fused_conv2d` by passes.fuse_conv2d_epilogues, and a ZeroPadding2D before a depthwise
convolution folded into its padding by passes.fold_conv2d_pads: the fused graph's
predictions bit for bit against the unfused graph's (passes off), with the native kernels on
and off and NaN, infinities and -0.0 in the data; training unchanged; the model against
real Keras."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_llvm
from tensorflux.graph import passes

NATIVE = numpy_llvm.available()
F32 = tf.float32


@pytest.fixture(params=["native", "numpy"])
def kernels(request):
    """The native kernels on (where available), or off: the NumPy path of every kernel."""
    if request.param == "native" and not NATIVE:
        pytest.skip("no llvmlite or no AVX2 with FMA")
    previous = numpy_llvm.enabled()
    numpy_llvm.enable(request.param == "native")
    yield request.param
    numpy_llvm.enable(previous)


def _blocks(k, activation="relu6"):
    """A MobileNetV2-like stack in Keras library `k`: expansion without bias, BN, ReLU(6.);
    ZeroPadding2D before a stride-2 depthwise convolution, BN, relu6; a projection with a
    residual add; a convolution with bias, BN and relu; one with swish."""
    layers = k.layers
    inputs = k.Input((12, 12, 6))
    x = layers.Conv2D(12, 1, use_bias=False)(inputs)
    x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
    x = layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = layers.DepthwiseConv2D(3, strides=2, use_bias=False)(x)
    x = layers.Activation(activation)(layers.BatchNormalization()(x))
    shortcut = x
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(layers.Conv2D(12, 1, use_bias=False)(x))
    x = layers.add([shortcut, x])
    x = layers.Activation("relu")(layers.BatchNormalization()(layers.Conv2D(8, 3)(x)))
    x = layers.Conv2D(8, 3, padding="same", activation="swish")(x)
    return k.Model(inputs, x)


def _weights(model, seed=3):
    """Random weights, BatchNormalization's moving variances positive."""
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.weights:
        value = rng.uniform(-0.5, 0.5, tuple(w.shape)).astype("float32")
        weights.append(np.abs(value) + 0.5 if "variance" in w.path else value)
    return weights


def _data(seed=0):
    x = np.random.default_rng(seed).standard_normal((3, 12, 12, 6)).astype(np.float32) * 4
    x[0, 3, 4, 1] = np.nan
    x[1, 5:8, 5:8, :] = -0.0
    x[2, 11, 11, 2] = np.inf
    x[2, 0, 0, 0] = -np.inf
    return x


def _assert_same_bits(got, want):
    """The same bits, but for which NaN (where two NaNs meet in a sum NumPy's own loops
    return either one)."""
    assert got.shape == want.shape and got.dtype == want.dtype
    assert (np.isnan(got) == np.isnan(want)).all()
    got, want = np.where(np.isnan(got), 0, got), np.where(np.isnan(want), 0, want)
    assert (got.view(np.uint32) == want.view(np.uint32)).all()


def _unfused_predict(model, x):
    with passes.disabled():
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        return copy.predict(x, verbose=0)


def _graph(model, shape):
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec(shape, F32)).graph


def test_batch_norm_and_activations_fold_into_the_convolutions():
    model = _blocks(keras)
    types = [n.type for n in _graph(model, (3, 12, 12, 6)).nodes]
    # Every convolution takes its BN, activation (and the residual add) into itself (but
    # the second depthwise one, which has none), the first depthwise one its zero padding;
    # what is left elementwise works on BN's vectors.
    assert types.count("fused_conv2d") == 5 and types.count("conv2d") == 1
    assert "pad" not in types
    graph = _graph(model, (3, 12, 12, 6))
    for node in graph.nodes:
        if node.type == "fused_elementwise":
            assert node.outputs.shape.rank == 1, node.attrs["program"]


def test_a_pad_before_a_regular_convolution_stays():
    # (numpy_conv_native skips taps in the padding: an infinite filter value against a
    # padded zero would give a NaN the folded convolution does not)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.ZeroPadding2D(1)(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, strides=2)(x))
    assert "pad" in [n.type for n in _graph(model, (2, 8, 8, 3)).nodes]


@pytest.mark.parametrize("activation", ["relu6", "swish"])
def test_fused_predictions_are_the_unfused_bits(kernels, activation):
    model = _blocks(keras, activation)
    model.set_weights(_weights(model))
    x = _data()
    _assert_same_bits(model.predict(x, verbose=0), _unfused_predict(model, x))


def test_an_infinite_depthwise_tap_meets_the_folded_padding_as_it_met_the_padded_zeros(
        kernels):
    layers = keras.layers
    inputs = keras.Input((9, 9, 4))
    x = layers.ZeroPadding2D(((1, 1), (0, 1)))(inputs)
    x = layers.DepthwiseConv2D(3, strides=2, use_bias=False)(x)
    model = keras.Model(inputs, layers.ReLU(6.0)(layers.BatchNormalization()(x)))
    weights = _weights(model, 5)
    weights[0][0, 0, 1, 0] = np.inf  # the padding row above meets it: 0 * inf
    weights[0][2, 2, 3, 0] = -np.inf
    model.set_weights(weights)
    x = _data(1)[:, :9, :9, :4]
    got = model.predict(x, verbose=0)
    _assert_same_bits(got, _unfused_predict(model, x))
    assert np.isnan(got[:, 0, :, 1]).all()


def test_the_epilogue_runs_as_one_loop_after_the_kernel(monkeypatch):
    if not NATIVE:
        pytest.skip("no llvmlite or no AVX2 with FMA")
    calls = []
    real = nb._nn_epilogue_loop

    def spy(program, n_inputs):
        loop = real(program, n_inputs)

        def counted(*inputs, out=None):
            calls.append((out.shape, out is inputs[0] or any(a is out for a in inputs)))
            return loop(*inputs, out=out)
        return counted if loop is not None else None
    monkeypatch.setattr(nb, "_nn_epilogue_loop", spy)
    model = _blocks(keras)
    model.set_weights(_weights(model))
    x = _data()
    got = model.predict(x, verbose=0)
    # (once per fused convolution, in place over its whole output, but for the first
    # depthwise one, whose BN and relu6 its kernel applies in registers: the first
    # convolution's 12 channels fill no vector, the projection adds a residual, the last
    # convolution's 8 channels fill none either, swish is no register step)
    assert len(calls) == 4 and all(in_place for _, in_place in calls)
    assert [shape for shape, _ in calls] == [(3, 12, 12, 12), (3, 6, 6, 12), (3, 4, 4, 8),
                                             (3, 4, 4, 8)]
    monkeypatch.setattr(nb, "_nn_epilogue_loop", real)
    _assert_same_bits(got, _unfused_predict(model, x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("depthwise", [False, True])
def test_fused_conv2d_with_per_channel_tensors_and_a_residual(kernels, dtype, depthwise):
    dt = tf.as_dtype(np.dtype(dtype).name)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 7, 7, 5)).astype(dtype)
    x[0, 1, 1, 1], x[1, 2, 2, :] = np.nan, -0.0
    w = rng.standard_normal((3, 3, 1, 5) if depthwise else (3, 3, 5, 5)).astype(dtype)
    conv = dict(strides=(2, 2), padding=((1, 0), (0, 1)), dilations=(1, 1), data_format="NHWC")
    y = nb.conv2d(x, w, **conv)
    mean, scale, shift = (rng.standard_normal((1, 1, 1, 5)).astype(dtype) for _ in range(3))
    residual = rng.standard_normal(y.shape).astype(dtype)
    program = (("subtract", (0, 1), (), dt), ("multiply", (5, 2), (), dt),
               ("add", (6, 3), (), dt), ("add", (4, 7), (), dt), ("relu6", (8,), (), dt))
    inputs = (mean, scale, shift, residual)
    want = nb.fused_elementwise(y, *inputs, program=program)
    _assert_same_bits(nb.fused_conv2d(x, w, *inputs, program=program, register=0, **conv),
                      want)
    # relu6 as the NumPy ops: an independent check of the program's values
    plain = np.minimum(np.maximum(residual + ((y - mean) * scale + shift), 0), 6)
    _assert_same_bits(want, plain.astype(dtype))


def test_a_tape_through_the_fused_function_gets_the_eager_gradient():
    # (fused nodes are expanded for tapes: expand_fused; the folded padding is conv2d's own)
    model = _blocks(keras, "swish")
    model.set_weights(_weights(model))
    x = tf.constant(np.tanh(_data(3)))
    function = tf.function(lambda v: model(v, training=False))
    grads = []
    for f in (function, lambda v: model(v, training=False)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(f(x) ** 2)
        grads.append(tape.gradient(loss, x).numpy())
    assert "fused_conv2d" in [n.type for n in function.get_concrete_function(x).graph.nodes]
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-5)


def test_training_is_unchanged():
    def fit(enabled):
        keras.utils.set_random_seed(0)
        model = _blocks(keras)
        model.set_weights(_weights(model))
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        x = _data(2)
        x[~np.isfinite(x)] = 1.0
        y = np.random.default_rng(4).standard_normal((3, 4, 4, 8)).astype(np.float32)
        if enabled:
            model.fit(x, y, batch_size=3, epochs=2, verbose=0)
            return model.get_weights() + [model.predict(x, verbose=0)]
        with passes.disabled():
            model.fit(x, y, batch_size=3, epochs=2, verbose=0)
            return model.get_weights() + [model.predict(x, verbose=0)]
    for a, b in zip(fit(True), fit(False), strict=True):
        _assert_same_bits(a, b)


@pytest.mark.keras_oracle
def test_the_blocks_predict_as_keras():
    from tests.keras._oracle import assert_matches, import_keras

    k = import_keras()
    ours, theirs = _blocks(keras), _blocks(k)
    weights = _weights(ours)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = _data()
    x[~np.isfinite(x)] = 0.5
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-5, what="predictions")
