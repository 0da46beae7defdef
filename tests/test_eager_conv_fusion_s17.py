"""Eager Conv2D layers run their convolution, bias and relu as one fused_conv2d kernel call
(ops.nn.conv2d_bias_relu, the primitive's VJP in graph/passes.py): the outputs and the
gradients of the three ops, bit for bit, with and without a recording tape; real Keras's to
float32 rounding; and the ops one by one wherever the fused kernel does not compute what the
layer does (channels_first, other activations, no bias, a subclass's convolution_op, a
backend without the kernel, tracing)."""

import contextlib

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.context import current_backend
from tensorflux.graph import passes
from tensorflux.primitive import registry
from tests.tolerances import assert_same_bits


@pytest.fixture
def spy(monkeypatch):
    """Counts the backend's fused_conv2d and conv2d calls (spy.fused, spy.conv)."""
    backend = current_backend()
    spy.fused = spy.conv = 0
    for kernel, counter in (("fused_conv2d", "fused"), ("conv2d", "conv")):
        run = getattr(backend, kernel)

        def counted(*args, _run=run, _counter=counter, **kwargs):
            setattr(spy, _counter, getattr(spy, _counter) + 1)
            return _run(*args, **kwargs)
        monkeypatch.setattr(backend, kernel, counted)
        primitive = registry[kernel]
        # (bind keeps the kernel of the last backend: looked up again, then put back)
        monkeypatch.setattr(primitive, "_kernel_fn", primitive._kernel_fn)
        monkeypatch.setattr(primitive, "_backend", None)
    return spy


def _data(shape, dtype, seed):
    """Normal values with exact zeros, -0.0s and a NaN: relu's edge cases."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 1:3] = 0.0
    x[-1, :, :2] = -0.0
    return x


# name: (Conv2D arguments, input shape, dtype)
CASES = {
    "relu same": (dict(filters=8, kernel_size=3, padding="same", activation="relu"),
                  (3, 9, 11, 5), "float32"),
    "bias only, valid, stride 2": (dict(filters=6, kernel_size=(3, 2), strides=2),
                                   (2, 10, 9, 4), "float32"),
    "relu, dilated": (dict(filters=4, kernel_size=3, dilation_rate=2, activation="relu"),
                      (2, 11, 11, 3), "float32"),
    "relu, grouped": (dict(filters=8, kernel_size=3, groups=2, activation="relu",
                           padding="same"), (2, 8, 8, 4), "float32"),
    "relu, float64": (dict(filters=5, kernel_size=3, activation="relu"), (2, 7, 8, 3),
                      "float64"),
    "relu, first layer (1 channel)": (dict(filters=16, kernel_size=5, activation="relu",
                                           padding="same"), (4, 20, 20, 1), "float32"),
    "relu, deep (by pieces)": (dict(filters=64, kernel_size=3, activation="relu",
                                    padding="same"), (4, 32, 32, 32), "float32"),
}


def _run(layer, x, cotangent, fused):
    """(output without a tape, output under one, gradients by x, kernel, bias)."""
    context = passes.disabled() if not fused else contextlib.nullcontext()
    with context:
        plain = layer(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * cotangent)
        grads = tape.gradient(loss, [x, layer.kernel, layer.bias])
    return [plain.numpy(), y.numpy()] + [g.numpy() for g in grads]


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_eager_conv2d_runs_fused_with_the_unfused_bits(name, spy):
    kwargs, shape, dtype = CASES[name]
    layer = keras.layers.Conv2D(**kwargs, bias_initializer="random_normal", dtype=dtype)
    x = tf.constant(_data(shape, dtype, 1))
    layer.build(x.shape)
    rng = np.random.default_rng(2)
    cotangent = tf.constant(rng.standard_normal(tuple(layer(x).shape)).astype(dtype))
    spy.fused = spy.conv = 0
    fused = _run(layer, x, cotangent, fused=True)
    assert (spy.fused, spy.conv) == (2, 0), "the fused kernel did not run eagerly"
    unfused = _run(layer, x, cotangent, fused=False)
    assert (spy.fused, spy.conv) == (2, 2)
    for what, a, b in zip(["output", "output under a tape", "d/dx", "d/dkernel", "d/dbias"],
                          fused, unfused):
        assert_same_bits(a, b, f"{name}: {what}")
    if kwargs.get("activation") == "relu":
        assert (fused[0] == 0).any() and (fused[0] > 0).any()
        assert not np.signbit(fused[0][fused[0] == 0]).any(), "relu gives +0.0"


def test_a_nan_input_gives_the_unfused_nans_and_gradients(spy):
    layer = keras.layers.Conv2D(4, 3, activation="relu", bias_initializer="random_normal")
    x = _data((2, 7, 7, 3), "float32", 3)
    x[1, 3, 3, 1] = np.nan
    x = tf.constant(x)
    cotangent = tf.ones(layer.compute_output_shape(x.shape))
    fused, unfused = (_run(layer, x, cotangent, fused=f) for f in (True, False))
    assert np.isnan(fused[0]).sum() == 4 * 9
    for a, b in zip(fused, unfused):
        assert_same_bits(a, b, "NaN input")


def test_second_order_gradients_match_the_unfused_ones(spy):
    layer = keras.layers.Conv2D(3, 3, activation="relu", bias_initializer="random_normal",
                                dtype="float64")
    x = tf.constant(_data((2, 6, 6, 2), "float64", 4))

    def run():
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(layer(x) ** 2)
            dx = inner.gradient(y, x)
            z = tf.reduce_sum(dx * dx)
        return [g.numpy() for g in outer.gradient(z, [x, layer.kernel, layer.bias])]
    fused = run()
    assert spy.fused == 1
    with passes.disabled():
        unfused = run()
    for what, a, b in zip(["x", "kernel", "bias"], fused, unfused):
        assert_same_bits(a, b, f"second order, {what}")


def test_a_training_loop_with_the_fused_layers_matches_the_unfused_one():
    def train(fused):
        tf.keras.utils.set_random_seed(5)
        model = keras.Sequential([
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Flatten(), keras.layers.Dense(4)])
        optimizer = keras.optimizers.Adam(0.01)
        rng = np.random.default_rng(6)
        x = tf.constant(rng.standard_normal((8, 12, 12, 3)).astype("float32"))
        y = tf.constant(rng.integers(0, 4, 8))
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        with passes.disabled() if not fused else contextlib.nullcontext():
            for _ in range(3):
                with tf.GradientTape() as tape:
                    loss = loss_fn(y, model(x, training=True))
                grads = tape.gradient(loss, model.trainable_weights)
                optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return [w.numpy() for w in model.weights]
    for i, (a, b) in enumerate(zip(train(True), train(False))):
        assert_same_bits(a, b, f"weight {i} after 3 steps")


# ------------------------------------------------------------------ the ops one by one

def _conv64(x, kernel, bias, padding="valid"):
    """NHWC, stride 1 and HWIO conv2d plus bias in float64 (an independent reference)."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    kh, kw = kernel.shape[:2]
    if padding == "same":
        x = np.pad(x, [(0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)])
    ho, wo = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = sum(np.einsum("nhwc,co->nhwo", x[:, i:i + ho, j:j + wo], kernel[i, j])
              for i in range(kh) for j in range(kw))
    return out + (0.0 if bias is None else np.asarray(bias, np.float64))


class _Standardized(keras.layers.Conv2D):
    """keras.io's weight-standardized convolution: overrides convolution_op."""

    def convolution_op(self, inputs, kernel):
        mean = tf.reduce_mean(kernel, axis=[0, 1, 2], keepdims=True)
        return super().convolution_op(inputs, kernel - mean)


@pytest.mark.parametrize("case", ["channels_first", "tanh", "no bias", "convolution_op",
                                  "relu6"])
def test_layers_the_kernel_does_not_compute_run_the_ops(case, spy):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 6, 7, 3)).astype("float32")
    args = dict(filters=4, kernel_size=3, activation="relu",
                bias_initializer="random_normal")
    if case == "channels_first":
        args["data_format"] = "channels_first"
    if case in ("tanh", "relu6"):
        args["activation"] = case
    if case == "no bias":
        args["use_bias"] = False
    layer = (_Standardized if case == "convolution_op" else keras.layers.Conv2D)(**args)
    given = np.moveaxis(x, -1, 1) if case == "channels_first" else x
    y = layer(tf.constant(given)).numpy()
    assert (spy.fused, spy.conv) == (0, 1)
    kernel = layer.kernel.numpy()
    if case == "convolution_op":
        kernel = kernel - kernel.mean(axis=(0, 1, 2), keepdims=True)
    pre = _conv64(x, kernel, None if layer.bias is None else layer.bias.numpy())
    expected = {"tanh": np.tanh, "relu6": lambda v: np.clip(v, 0, 6)}.get(
        case, lambda v: np.maximum(v, 0))(pre)
    if case == "channels_first":
        y = np.moveaxis(y, 1, -1)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_a_backend_without_the_kernel_runs_the_ops(spy, monkeypatch):
    backend = current_backend()
    monkeypatch.delattr(backend, "fused_conv2d")
    monkeypatch.setattr(backend.module, "fused_conv2d", None)  # (the backend lacks it)
    layer = keras.layers.Conv2D(4, 3, activation="relu", bias_initializer="random_normal")
    x = np.random.default_rng(9).standard_normal((2, 6, 6, 3)).astype("float32")
    y = layer(tf.constant(x)).numpy()
    assert spy.conv == 1
    expected = np.maximum(_conv64(x, layer.kernel.numpy(), layer.bias.numpy()), 0)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_traced_calls_keep_the_unfused_ops_for_the_passes():
    layer = keras.layers.Conv2D(4, 3, activation="relu", padding="same")
    x = tf.constant(np.random.default_rng(10).standard_normal((2, 6, 6, 3)), tf.float32)
    layer(x)
    with passes.disabled():
        graph = tf.function(layer).get_concrete_function(tf.TensorSpec(x.shape)).graph
    assert [n.type for n in graph.nodes if n.type in ("conv2d", "add", "relu",
                                                     "fused_conv2d")] == [
        "conv2d", "add", "relu"]
    assert_same_bits(tf.function(layer)(x).numpy(), layer(x).numpy(), "traced against eager")


def test_the_op_raises_conv2ds_errors_and_steps_aside_for_a_wrong_bias():
    from tensorflux.ops import nn

    x, w = tf.ones([1, 3, 3, 2]), tf.ones([2, 2, 2, 4])
    with pytest.raises(tf.errors.InvalidArgumentError, match="conv2d: the input has 2"):
        nn.conv2d_bias_relu(x, tf.ones([2, 2, 3, 4]), tf.zeros([4]), 1, "VALID")
    with pytest.raises(tf.errors.InvalidArgumentError, match="conv2d: the filter"):
        nn.conv2d_bias_relu(x, tf.ones([4, 4, 2, 4]), tf.zeros([4]), 1, "VALID")
    assert nn.conv2d_bias_relu(x, w, tf.zeros([3]), 1, "VALID") is None
    assert nn.conv2d_bias_relu(x, w, tf.zeros([4], tf.float64), 1, "VALID") is None
    with passes.disabled():
        assert nn.conv2d_bias_relu(x, w, tf.zeros([4]), 1, "VALID") is None


def test_the_vjp_of_a_bias_first_program_is_the_unfused_ops_one():
    rng = np.random.default_rng(13)
    x = tf.constant(_data((2, 6, 6, 3), "float32", 13))
    w = tf.constant(rng.standard_normal((3, 3, 3, 4)).astype("float32"))
    b = tf.constant(rng.standard_normal(4).astype("float32"))
    attrs = dict(strides=(1, 1), padding="SAME", dilations=(1, 1), data_format="NHWC")
    program = (("add", (1, 0), (), tf.float32), ("relu", (2,), (), tf.float32))

    def grads(f):
        with tf.GradientTape() as tape:
            tape.watch([x, w, b])
            y = f()
            loss = tf.reduce_sum(y * y)
        return [y] + tape.gradient(loss, [x, w, b])
    fused = grads(lambda: passes.fused_conv2d_primitive.bind(x, w, b, program=program,
                                                              register=1, **attrs))
    unfused = grads(lambda: tf.nn.relu(b + tf.nn.conv2d(x, w, 1, "SAME")))
    for what, a, c in zip(["output", "x", "filters", "bias"], fused, unfused):
        assert_same_bits(a.numpy(), c.numpy(), f"bias first: {what}")


def test_the_vjp_refuses_programs_it_cannot_differentiate_from_the_output():
    x, w, b = tf.ones([1, 3, 3, 1]), tf.ones([2, 2, 1, 1]), tf.constant([0.5])
    attrs = dict(strides=(1, 1), padding="VALID", dilations=(1, 1), data_format="NHWC")
    program = (("relu", (0,), (), tf.float32), ("add", (2, 1), (), tf.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = passes.fused_conv2d_primitive.bind(x, w, b, program=program, register=0, **attrs)
    with pytest.raises(tf.errors.UnimplementedError, match="fused_conv2d"):
        tape.gradient(y, x)


# ------------------------------------------------------------------ real Keras

@pytest.mark.keras_oracle
def test_a_conv2d_stack_and_its_gradients_match_keras():
    from tests.keras._oracle import assert_matches, import_keras

    k = import_keras()
    import torch

    def stack(lib):
        return lib.Sequential([
            lib.Input((10, 10, 3)),
            lib.layers.Conv2D(8, 3, activation="relu", padding="same"),
            lib.layers.Conv2D(6, 3, strides=2),
            lib.layers.Conv2D(4, 2, activation="relu", dilation_rate=2)])
    ours, theirs = stack(keras), stack(k)
    rng = np.random.default_rng(12)
    weights = [rng.uniform(-0.4, 0.4, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = rng.standard_normal((4, 10, 10, 3)).astype("float32")
    cotangent = rng.standard_normal((4, 1, 1, 4)).astype("float32")
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        y = ours(xt)
        loss = tf.reduce_sum(y * cotangent)
    grads = tape.gradient(loss, [xt] + ours.trainable_weights)
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = theirs(x_torch)
    variables = [w.value for w in theirs.trainable_weights]
    expected = torch.autograd.grad((y_torch * torch.tensor(cotangent)).sum(),
                                   [x_torch] + variables)
    assert_matches(y, y_torch, rtol=1e-5, atol=1e-5, what="outputs")
    for i, (a, b) in enumerate(zip(grads, expected)):
        assert_matches(a, b, rtol=1e-4, atol=1e-5, what=f"gradient {i}")
