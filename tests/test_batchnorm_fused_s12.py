"""Fused training-mode batch normalization: ops.nn.batch_norm_training, its gradient kernel,
and BatchNormalization's fused path, against NumPy in float64, central differences, the
composed ops, and real Keras 3 (torch backend)."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors, keras
from tensorflux.backends import numpy_backend
from tensorflux.graph import passes
from tensorflux.ops import nn
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401
from tests.ops import harness
from tests.ops.harness import Row
from tests.tolerances import assert_close

EPS = 1e-3


# ------------------------------------------------------------------ references (float64)

def ref_forward(x, gamma, beta, epsilon=EPS):
    rows = np.asarray(x, np.float64).reshape(-1, x.shape[-1])
    mean = rows.mean(axis=0)
    variance = ((rows - mean) ** 2).mean(axis=0)
    out = (np.asarray(x, np.float64) - mean) / np.sqrt(variance + epsilon) * gamma + beta
    return out, mean, variance


def ref_grads(x, gamma, dy, dmean, dvariance, epsilon=EPS):
    """dx, dgamma, dbeta in closed form: the classic formula plus the statistics' own
    cotangents (d mean / dx = 1 / n, d variance / dx = 2 (x - mean) / n)."""
    c = x.shape[-1]
    rows = np.asarray(x, np.float64).reshape(-1, c)
    g = np.asarray(dy, np.float64).reshape(-1, c)
    n = rows.shape[0]
    mean = rows.mean(axis=0)
    centred = rows - mean
    inv = 1 / np.sqrt((centred ** 2).mean(axis=0) + epsilon)
    xhat = centred * inv
    dx = gamma * inv * (g - g.mean(axis=0) - xhat * (g * xhat).mean(axis=0))
    dx = dx + dmean / n + 2 * dvariance * centred / n
    return dx.reshape(x.shape), (g * xhat).sum(axis=0), g.sum(axis=0)


def sample(shape, rng, loc=0.5, scale=2.0):
    c = shape[-1]
    return (rng.normal(loc, scale, shape), rng.uniform(0.5, 1.5, c), rng.uniform(-1, 1, c))


def composed(x, gamma, beta, epsilon=EPS):
    """The previous (composed) form of the layer's training step, in tensorflux ops."""
    axes = list(range(len(x.shape) - 1))
    mean = tf.reduce_mean(x, axis=axes, keepdims=True)
    variance = tf.reduce_mean(tf.square(x - mean), axis=axes, keepdims=True)
    mean, variance = tf.reshape(mean, [-1]), tf.reshape(variance, [-1])
    inv = tf.math.rsqrt(variance + epsilon) * gamma
    return (x - mean) * inv + beta, mean, variance


# Block layouts of the NumPy kernels: the defaults (one block here), and blocks of a few rows
# that mostly leave a short last block, with per-channel vectors tiled 3 or 4 times (_BN_WIDE),
# so that the last block takes the untiled path; run on two threads.
LAYOUTS = {"default": None, "blocks-7x3": (7 * 6 * 8, 3 * 6), "blocks-5x4": (5 * 5 * 8, 4 * 5)}
SHAPES = [(37, 6), (3, 5, 7, 6), (3, 3, 3, 5)]


@pytest.fixture(params=list(LAYOUTS))
def layout(request, monkeypatch):
    setting = LAYOUTS[request.param]
    if setting is not None:
        block_bytes, wide = setting
        monkeypatch.setattr(numpy_backend, "_THREADS", 2)
        monkeypatch.setattr(numpy_backend, "_PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(numpy_backend, "_BN_BLOCK_BYTES", block_bytes)
        monkeypatch.setattr(numpy_backend, "_BN_WIDE", wide)
    return request.param


def blocks_of(shape, dtype):
    rows = np.zeros((int(np.prod(shape[:-1])), shape[-1]), dtype)
    return numpy_backend._bn_blocks(rows, numpy_backend._bn_reps(shape[-1]))


# ------------------------------------------------------------------ kernels

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_kernel_forward_matches_float64(layout, shape, dtype):
    rng = np.random.default_rng(1)
    x, gamma, beta = sample(shape, rng)
    if layout != "default":
        assert len(blocks_of(shape, dtype)) > 1  # (most with a short last one)
    out, mean, variance = numpy_backend.batch_norm_training(
        x.astype(dtype), gamma.astype(dtype), beta.astype(dtype), EPS)
    expected = ref_forward(x.astype(dtype), gamma.astype(dtype), beta.astype(dtype))
    for got, want, what in zip((out, mean, variance), expected, ("out", "mean", "variance")):
        assert got.dtype == np.dtype(dtype)
        assert_close(got, want, dtype=dtype, what=what)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_kernel_gradient_matches_closed_form(layout, shape, dtype):
    rng = np.random.default_rng(2)
    x, gamma, _ = sample(shape, rng)
    dy = rng.normal(size=shape)
    dmean, dvariance = rng.normal(size=shape[-1]), rng.normal(size=shape[-1])
    _, mean, variance = ref_forward(x, gamma, 0.0)
    cast = [a.astype(dtype) for a in (x, gamma, mean, variance, dy, dmean, dvariance)]
    got = numpy_backend.batch_norm_training_grad(*cast, epsilon=EPS)
    # (float32: the sums over rows round at ~n eps relative to their magnitude)
    rtol = 1e-5 if dtype == "float32" else 1e-9
    for g, want, what in zip(got, ref_grads(*cast[:2], *cast[4:]), ("dx", "dgamma", "dbeta")):
        assert g.dtype == np.dtype(dtype)
        assert_close(g, want, rtol=rtol, atol=rtol, what=what)


def test_blocked_results_do_not_depend_on_the_thread_count(monkeypatch):
    rng = np.random.default_rng(3)
    x, gamma, beta = (a.astype("float32") for a in sample((3, 5, 7, 6), rng))
    dy = rng.normal(size=x.shape).astype("float32")
    monkeypatch.setattr(numpy_backend, "_PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(numpy_backend, "_BN_BLOCK_BYTES", 7 * 6 * 4)
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(numpy_backend, "_THREADS", threads)
        out, mean, variance = numpy_backend.batch_norm_training(x, gamma, beta, EPS)
        zeros = np.zeros(6, "float32")
        grads = numpy_backend.batch_norm_training_grad(x, gamma, mean, variance, dy, zeros,
                                                       zeros, EPS)
        results.append((out, mean, variance) + grads)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_statistics_of_large_offsets_stay_accurate(monkeypatch):
    # mean 1e4, spread 1: a sum of squares without centring would lose every digit in float32
    monkeypatch.setattr(numpy_backend, "_BN_BLOCK_BYTES", 64 * 4 * 4)
    rng = np.random.default_rng(4)
    x = (1e4 + rng.normal(size=(1000, 4))).astype("float32")
    _, mean, variance = numpy_backend.batch_norm_training(x, np.ones(4, "float32"),
                                                          np.zeros(4, "float32"), EPS)
    _, want_mean, want_variance = ref_forward(x, 1.0, 0.0)
    assert_close(mean, want_mean, dtype="float32")
    assert_close(variance, want_variance, rtol=2e-4, atol=0)


def test_float16_input_gives_float32_statistics_and_float16_output():
    rng = np.random.default_rng(5)
    x, gamma, beta = sample((4, 3, 3, 5), rng)
    x16 = tf.constant(x.astype("float16"))
    with tf.GradientTape() as tape:
        tape.watch(x16)
        out, mean, variance = nn.batch_norm_training(x16, gamma.astype("float32"),
                                                     beta.astype("float32"), EPS)
    assert (out.dtype, mean.dtype, variance.dtype) == (tf.float16, tf.float32, tf.float32)
    expected = ref_forward(x.astype("float16").astype(np.float64), gamma.astype("float32"),
                           beta.astype("float32"))
    assert_close(out.numpy(), expected[0], dtype="float16")
    assert_close(mean.numpy(), expected[1], dtype="float32")
    assert_close(variance.numpy(), expected[2], dtype="float32")
    dx = tape.gradient(out, x16)
    assert dx.dtype == tf.float16
    want = ref_grads(x.astype("float16"), gamma.astype("float32"), np.ones(x.shape), 0.0, 0.0)
    assert_close(dx.numpy(), want[0], rtol=2e-2, atol=2e-3)


def test_empty_batch_gives_nan_statistics_like_the_composed_ops():
    out, mean, variance = nn.batch_norm_training(tf.zeros([0, 3]), tf.ones([3]), tf.zeros([3]),
                                                 EPS)
    assert out.shape == (0, 3)
    assert np.isnan(mean.numpy()).all() and np.isnan(variance.numpy()).all()


@pytest.mark.parametrize("scale, offset, message", [
    (tf.ones([4]), tf.zeros([3]), r"scale must have shape \(channels,\) = \(3,\), received "
                                  r"shape \(4,\)"),
    (tf.ones([3]), tf.zeros([1, 3]), r"offset must have shape \(channels,\) = \(3,\)"),
])
def test_bad_parameters_fail_naming_the_op(scale, offset, message):
    with pytest.raises(errors.InvalidArgumentError, match="batch_norm_training: the " + message):
        nn.batch_norm_training(tf.zeros([2, 3]), scale, offset, EPS)


def test_integer_input_fails_naming_the_op():
    with pytest.raises(errors.InvalidArgumentError, match="batch_norm_training.*floating"):
        nn.batch_norm_training(tf.zeros([2, 3], tf.int32), tf.ones([3]), tf.zeros([3]), EPS)


# ------------------------------------------------------------------ op-table rows

def _bn_sample(shape):
    return lambda rng: list(sample(shape, rng))


def _bn_grad_fn(x, gamma, beta, dy, dmean, dvariance):
    with tf.GradientTape() as tape:
        tape.watch([x, gamma, beta])
        outs = nn.batch_norm_training(x, gamma, beta, EPS)
    return tape.gradient(list(outs), [x, gamma, beta], output_gradients=[dy, dmean, dvariance])


def _bn_grad_ref(x, gamma, beta, dy, dmean, dvariance):
    return list(ref_grads(x, gamma, dy, dmean, dvariance))


def _grad_sample(shape):
    def draw(rng):
        return list(sample(shape, rng)) + [rng.normal(size=shape), rng.normal(size=shape[-1]),
                                           rng.normal(size=shape[-1])]
    return draw


ROWS = [
    Row("nn_batch_norm_training_2d",
        lambda x, g, b: list(nn.batch_norm_training(x, g, b, EPS)),
        lambda x, g, b: list(ref_forward(x, g, b)), _bn_sample((7, 3)), second_order=True),
    Row("nn_batch_norm_training_nhwc",
        lambda x, g, b: list(nn.batch_norm_training(x, g, b, EPS)),
        lambda x, g, b: list(ref_forward(x, g, b)), _bn_sample((2, 3, 2, 4)),
        second_order=True),
    # The gradient kernel as a function of all its cotangents: its own VJP (the composite
    # formula) is checked for dy and the statistics' cotangents too.
    Row("nn_batch_norm_training_grad", _bn_grad_fn, _bn_grad_ref, _grad_sample((5, 3)),
        rtol=1e-5, atol=1e-5),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("row", ROWS, ids=repr)
def test_rows_forward_match_float64(row, dtype):
    harness.check_forward(row, dtype)


@pytest.mark.parametrize("row", ROWS, ids=repr)
def test_rows_vjp_match_central_differences(row):
    harness.check_vjp(row)


@pytest.mark.parametrize("row", ROWS[:2], ids=repr)
def test_rows_second_order_match_central_differences(row):
    harness.check_second_order(row)


@pytest.mark.parametrize("row", ROWS, ids=repr)
def test_rows_shape_rules_agree_with_kernels(row):
    harness.check_shape_rules(row)


def test_rows_run_the_fused_primitives():
    names = {n.primitive.name for row in ROWS for n in harness.recorded_nodes(row)}
    assert {"batch_norm_training", "batch_norm_training_grad"} <= names


# ------------------------------------------------------------------ against the composed form

def _penalty_grads(norm, x, gamma, beta):
    """A WGAN-GP style gradient penalty through batch normalization: the gradients of
    ||d score / dx||^2 with respect to x, gamma and beta (a nonlinear critic's score)."""
    with tf.GradientTape() as outer:
        outer.watch([x, gamma, beta])
        with tf.GradientTape() as inner:
            inner.watch(x)
            out = norm(x, gamma, beta)[0]
            score = tf.reduce_sum(tf.sin(out) * (1.0 + 0.5 * out))
        dx = inner.gradient(score, x)
        penalty = tf.reduce_sum(tf.square(dx))
    return outer.gradient(penalty, [x, gamma, beta])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_second_order_gradient_matches_the_composed_form(dtype):
    rng = np.random.default_rng(6)
    x, gamma, beta = (tf.constant(a.astype(dtype)) for a in sample((6, 2, 2, 3), rng))

    def fused(*args):
        return nn.batch_norm_training(*args, EPS)

    ours, theirs = _penalty_grads(fused, x, gamma, beta), _penalty_grads(composed, x, gamma,
                                                                         beta)
    rtol = 2e-4 if dtype == "float32" else 1e-9
    for a, b, what in zip(ours, theirs, ("x", "gamma", "beta")):
        assert_close(a.numpy(), b.numpy(), rtol=rtol, atol=rtol, what=what)


def test_second_order_gradient_with_an_unknown_batch_size_matches_eager():
    rng = np.random.default_rng(13)
    x, gamma, beta = (tf.constant(a) for a in sample((5, 3, 4), rng))

    def fused(*args):
        return nn.batch_norm_training(*args, EPS)

    traced = tf.function(lambda x: _penalty_grads(fused, x, gamma, beta),
                         input_signature=[tf.TensorSpec([None, 3, 4], tf.float64)])
    for a, b in zip(traced(x), _penalty_grads(fused, x, gamma, beta)):
        assert_close(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(64, 33), (4, 9, 9, 16)], ids=str)
def test_fused_matches_the_composed_form_in_float32(layout, shape):
    rng = np.random.default_rng(7)
    x, gamma, beta = (tf.constant(a.astype("float32")) for a in sample(shape, rng))
    dy = tf.constant(rng.normal(size=shape).astype("float32"))
    results = []
    for norm in (lambda *a: nn.batch_norm_training(*a, EPS), composed):
        with tf.GradientTape() as tape:
            tape.watch([x, gamma, beta])
            out, mean, variance = norm(x, gamma, beta)
        grads = tape.gradient(out, [x, gamma, beta], output_gradients=dy)
        results.append([out, mean, variance] + grads)
    for a, b, what in zip(*results, ("out", "mean", "variance", "dx", "dgamma", "dbeta")):
        scale = max(1.0, float(np.abs(b.numpy()).max()))
        assert_close(a.numpy(), b.numpy(), rtol=1e-5, atol=2e-6 * scale, what=what)


# ------------------------------------------------------------------ the layer

def _layer_step(layer, x, w):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * w)
    return [y] + tape.gradient(loss, [x] + layer.trainable_weights)


def test_layer_trains_through_the_fused_primitive():
    layer = keras.layers.BatchNormalization()
    x = tf.constant(np.random.default_rng(8).normal(size=(4, 3, 3, 5)).astype("float32"))
    with harness.ProbeTape() as probe:
        _layer_step(layer, x, tf.ones(x.shape))
    names = [n.primitive.name for n in probe._nodes]
    assert "batch_norm_training" in names and "batch_norm_training_grad" in names
    assert "reduce_mean" not in names  # no composed statistics left


@pytest.mark.parametrize("config", [{}, {"center": False}, {"scale": False},
                                    {"axis": 3, "momentum": 0.5, "epsilon": 0.1}],
                         ids=["default", "no-center", "no-scale", "axis3"])
def test_layer_eager_matches_function(config):
    rng = np.random.default_rng(9)
    x = tf.constant(rng.normal(1.0, 2.0, size=(4, 3, 3, 5)).astype("float32"))
    w = tf.constant(rng.normal(size=(4, 3, 3, 5)).astype("float32"))
    eager, traced = keras.layers.BatchNormalization(**config), \
        keras.layers.BatchNormalization(**config)
    a = _layer_step(eager, x, w)
    b = tf.function(lambda x, w: _layer_step(traced, x, w))(x, w)
    for u, v in zip(a, b):
        assert_close(u.numpy(), v.numpy(), dtype="float32")
    for u, v in zip(eager.weights, traced.weights):
        assert_close(u.numpy(), v.numpy(), dtype="float32", what=u.path)


def test_inference_stays_one_fused_elementwise_kernel_over_the_batch():
    bn = keras.layers.BatchNormalization()
    bn.build((None, 8, 8, 4))

    def infer(x):
        return bn(x, training=False)

    with passes.disabled():
        graph = tf.function(infer).get_concrete_function(
            tf.TensorSpec([2, 8, 8, 4], tf.float32)).graph
    optimized = passes.optimize(graph)
    big = [n.type for n in optimized.nodes if n.type != "placeholder"
           and any(tuple(t.shape) == (2, 8, 8, 4)
                   for t in (n.outputs if isinstance(n.outputs, tuple) else (n.outputs,)))]
    assert big == ["fused_elementwise"]


# ------------------------------------------------------------------ real Keras 3

def _keras_step(k, config, weights, x, w):
    import torch

    layer = k.layers.BatchNormalization(**config)
    layer.build(x.shape)
    layer.set_weights(weights)
    xt = torch.tensor(x, requires_grad=True)
    y = layer(xt, training=True)
    (y.float() * torch.tensor(w)).sum().backward()
    grads = [xt.grad] + [v.value.grad for v in layer.trainable_weights]
    return [y] + grads, layer


@pytest.mark.keras_oracle
@pytest.mark.parametrize("shape", [(16, 5), (8, 4, 4, 6)], ids=str)
@pytest.mark.parametrize("config", [{}, {"center": False, "momentum": 0.9},
                                    {"scale": False, "epsilon": 0.01}],
                         ids=["default", "no-center", "no-scale"])
def test_layer_matches_keras_forward_statistics_and_gradients(shape, config):
    k = import_keras()
    rng = np.random.default_rng(10)
    x = rng.normal(0.5, 1.5, size=shape).astype("float32")
    w = rng.normal(size=shape).astype("float32")
    ours = keras.layers.BatchNormalization(**config)
    ours.build(shape)
    weights = [rng.uniform(0.5, 1.5, v.shape).astype("float32") for v in ours.weights]
    ours.set_weights(weights)
    got = _layer_step(ours, tf.constant(x), tf.constant(w))
    theirs, layer = _keras_step(k, config, weights, x, w)
    for a, b, what in zip(got, theirs, ["out", "dx"] + [v.path for v in ours.trainable_weights]):
        scale = max(1.0, float(np.abs(np.asarray(b.detach())).max()))
        assert_matches(a, b, rtol=1e-5, atol=2e-6 * scale, what=what)
    for a, b in zip(ours.weights, layer.weights):
        assert_matches(a, b.value, rtol=1e-6, atol=1e-6, what=a.path)


@pytest.mark.keras_oracle
def test_mixed_float16_layer_matches_keras():
    k = import_keras()
    rng = np.random.default_rng(11)
    x = rng.normal(0.5, 1.5, size=(8, 3, 3, 4)).astype("float16")
    ours = keras.layers.BatchNormalization(dtype="mixed_float16")
    theirs = k.layers.BatchNormalization(dtype="mixed_float16")
    y = ours(tf.constant(x), training=True)
    y_k = theirs(x, training=True)
    assert y.dtype == tf.float16
    assert_matches(y, y_k, rtol=1e-3, atol=1e-3, what="out")
    for a, b in zip(ours.weights, theirs.weights):
        assert_matches(a, b.value, rtol=1e-6, atol=1e-6, what=a.path)


@pytest.mark.keras_oracle
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside Keras's torch fit
def test_conv_block_fit_five_steps_matches_keras():
    k = import_keras()
    rng = np.random.default_rng(12)
    x = rng.normal(size=(40, 6, 6, 3)).astype("float32")
    y = rng.normal(size=(40, 2)).astype("float32")

    def build(lib):
        return lib.Sequential([
            lib.Input((6, 6, 3)), lib.layers.Conv2D(4, 3, padding="same"),
            lib.layers.BatchNormalization(momentum=0.8), lib.layers.ReLU(),
            lib.layers.GlobalAveragePooling2D(), lib.layers.Dense(2)])

    ours, theirs = build(keras), build(k)
    theirs.set_weights(ours.get_weights())
    for model, lib in ((ours, keras), (theirs, k)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for w, w_k in zip(ours.weights, theirs.weights):
        assert_matches(w, w_k.value, rtol=1e-4, atol=1e-5, what=w.path)
