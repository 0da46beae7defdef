"""The layer_norm primitive (tensorflux.ops.nn.layer_norm) and LayerNormalization on it:
values and gradients against float64 NumPy, central differences and real Keras; the NumPy
kernel against numpy_norm_native's, bit for bit; the kernel against the composed ops the
layer ran before (the same bits), and the cases that keep those ops."""

import os

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors, keras
from tensorflux.backends import numpy_backend, numpy_llvm, numpy_norm_native
from tensorflux.graph import passes
from tensorflux.ops import nn
from tests.keras._oracle import assert_matches, import_keras
from tests.ops import harness
from tests.ops.harness import Row

EPS = 1e-3


def ref_forward(x, gamma, beta, count=1, epsilon=EPS):
    """float64 layer normalization over the trailing `count` axes."""
    axes = tuple(range(x.ndim - count, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def ref_grads(x, gamma, dy, count=1, epsilon=EPS):
    """(dx, dgamma, dbeta) in float64 from the textbook formula."""
    axes = tuple(range(x.ndim - count, x.ndim))
    rows = tuple(range(x.ndim - count))
    mean = x.mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + epsilon)
    xhat = (x - mean) * inv
    g = dy * gamma
    dx = inv * (g - g.mean(axis=axes, keepdims=True)
                - xhat * (g * xhat).mean(axis=axes, keepdims=True))
    return dx, (dy * xhat).sum(axis=rows), dy.sum(axis=rows)


def sample(shape, count, rng, dtype=np.float64):
    trailing = shape[len(shape) - count:]
    return [(rng.normal(size=shape) * 2 + 0.5).astype(dtype),
            rng.normal(size=trailing).astype(dtype), rng.normal(size=trailing).astype(dtype)]


@pytest.fixture(params=["native", "numpy"])
def kernels(request):
    """Both kernels: numpy_norm_native's where llvmlite runs, and the NumPy path."""
    if request.param == "native" and not numpy_llvm.available():
        pytest.skip("no llvmlite kernels here")
    numpy_llvm.enable(request.param == "native")
    yield request.param
    numpy_llvm.enable(True)


def bits(a):
    a = np.asarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


SHAPES = [((6, 64), 1), ((3, 5, 17), 1), ((2, 3, 4, 8), 2), ((700, 48), 1), ((4, 1), 1)]


# ------------------------------------------------------------------ kernels against float64

@pytest.mark.parametrize("shape,count", SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_and_gradients_match_float64(kernels, shape, count, dtype):
    rng = np.random.default_rng(0)
    x, gamma, beta = sample(shape, count, rng)
    dy = rng.normal(size=shape)
    cast = [v.astype(dtype) for v in (x, gamma, beta, dy)]
    out = numpy_backend.layer_norm(*cast[:3], EPS, count)
    grads = numpy_backend.layer_norm_grad(cast[0], cast[1], cast[3], EPS, count)
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out, ref_forward(x, gamma, beta, count), rtol=tol, atol=tol)
    for ours, theirs in zip(grads, ref_grads(x, gamma, dy, count)):
        assert ours.dtype == dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("shape,count", SHAPES)
def test_native_kernel_gives_the_numpy_kernels_bits(shape, count):
    if not numpy_llvm.available():
        pytest.skip("no llvmlite kernels here")
    rng = np.random.default_rng(1)
    x, gamma, beta = (v.astype(np.float32) for v in sample(shape, count, rng))
    x[0, ...] *= 1e4  # a row of large values, one with a NaN, one constant (variance 0)
    if shape[0] > 2:
        x[1].flat[0] = np.nan
        x[2] = 3.0
    dy = rng.normal(size=shape).astype(np.float32)
    results = []
    for on in (True, False):
        numpy_llvm.enable(on)
        try:
            with np.errstate(invalid="ignore"):
                results.append([numpy_backend.layer_norm(x, gamma, beta, EPS, count),
                                *numpy_backend.layer_norm_grad(x, gamma, dy, EPS, count)])
        finally:
            numpy_llvm.enable(True)
    for native, plain in zip(*results):
        assert np.array_equal(bits(native), bits(plain))


def test_native_kernels_run_where_they_apply(monkeypatch):
    if not numpy_llvm.available():
        pytest.skip("no llvmlite kernels here")
    ran = []
    for name in ("layer_norm", "layer_norm_grad"):
        real = getattr(numpy_norm_native, name)

        def spy(*args, _real=real, _name=name):
            run = _real(*args)
            ran.append((_name, run is not None))
            return run
        monkeypatch.setattr(numpy_norm_native, name, spy)
    x = np.ones((4, 16), np.float32)
    numpy_backend.layer_norm(x, x[0], x[0], EPS, 1)
    numpy_backend.layer_norm_grad(x, x[0], x, EPS, 1)
    numpy_backend.layer_norm(x.astype(np.float64), x[0], x[0], EPS, 1)  # float64: NumPy
    assert ran == [("layer_norm", True), ("layer_norm_grad", True), ("layer_norm", False)]


def test_native_off_switch_in_a_fresh_process():
    import subprocess
    import sys

    code = ("from tensorflux.backends import numpy_norm_native as m; import numpy as np; "
            "x = np.ones((2, 16), np.float32); "
            "print(m.layer_norm(x, x.copy(), x[0], x[0], 1e-3) is None)")
    env = dict(os.environ, TENSORFLUX_NATIVE_KERNELS="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "True"


def test_parameter_sums_do_not_depend_on_the_thread_count(monkeypatch):
    rng = np.random.default_rng(2)
    x, gamma, _ = (v.astype(np.float32) for v in sample((3000, 40), 1, rng))
    dy = rng.normal(size=x.shape).astype(np.float32)
    results = []
    for threads in (1, 2, 5):
        monkeypatch.setattr(numpy_backend, "_THREADS", threads)
        monkeypatch.setattr(numpy_backend, "_PARALLEL_MIN_BYTES", 0)
        results.append(numpy_backend.layer_norm_grad(x, gamma, dy, EPS, 1))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(bits(a), bits(b))


# ------------------------------------------------------------------ against the composed ops

def composed(layer, x):
    """The layer's composed ops (the code path before layer_norm)."""
    layer._fused = lambda axes, rank: False
    try:
        return layer(x)
    finally:
        del layer._fused


def layer_with_weights(shape, axis, rng, **kwargs):
    layer = keras.layers.LayerNormalization(axis=axis, **kwargs)
    layer.build(shape)
    for w in layer.weights:
        w.assign(rng.normal(size=w.shape).astype(np.float32))
    return layer


@pytest.mark.parametrize("shape,axis", [((8, 10, 32), -1), ((4, 5, 6, 16), [2, 3]),
                                        ((16, 48), -1), ((3, 7, 5), -1)])
@pytest.mark.parametrize("scale", [True, False])
def test_layer_gives_the_composed_ops_bits(kernels, shape, axis, scale):
    rng = np.random.default_rng(3)
    layer = layer_with_weights(shape, axis, rng, scale=scale)
    x = tf.constant((rng.normal(size=shape) * 3 + 1).astype(np.float32))
    dy = tf.constant(rng.normal(size=shape).astype(np.float32))
    results = []
    for run in (layer, lambda v: composed(layer, v)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = run(x)
        results.append([y, *tape.gradient(y, [x, *layer.trainable_weights],
                                          output_gradients=dy)])
    assert np.array_equal(bits(results[0][0]), bits(results[1][0]))  # forward: the same bits
    for ours, theirs in zip(results[0][1:], results[1][1:]):  # gradients: another order
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_layer_trains_through_the_primitive():
    layer = keras.layers.LayerNormalization()
    x = tf.constant(np.random.default_rng(7).normal(size=(4, 3, 8)).astype("float32"))
    with harness.ProbeTape() as probe:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        tape.gradient(y, [x, *layer.trainable_weights], output_gradients=tf.ones(x.shape))
    names = [n.primitive.name for n in probe._nodes]
    assert "layer_norm" in names and "layer_norm_grad" in names
    assert "reduce_mean" not in names  # no composed statistics left


def test_traced_training_step_keeps_the_primitive_through_the_passes():
    layer = keras.layers.LayerNormalization()
    layer.build((None, 3, 8))

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        return [y, *tape.gradient(loss, [x, *layer.trainable_weights])]

    with passes.disabled():
        graph = tf.function(step).get_concrete_function(
            tf.TensorSpec([4, 3, 8], tf.float32)).graph
    kinds = {n.type for n in passes.optimize(graph).nodes}
    assert {"layer_norm", "layer_norm_grad"} <= kinds
    x = tf.constant(np.random.default_rng(8).normal(size=(4, 3, 8)).astype("float32"))
    for traced, eager in zip(tf.function(step)(x), step(x)):
        assert np.array_equal(bits(traced), bits(eager))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_of_a_small_transformer_block_matches_float64_step(jit_compile):
    """One fit step of a small model (default and jit plans) against the same step by the
    composed ops: the forward has the same bits, the gradients another order."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(8, 4, 16)).astype(np.float32)
    labels = rng.integers(0, 2, size=8)
    results = []
    for fused in (True, False):
        tf.keras.utils.set_random_seed(1)
        inputs = keras.Input((4, 16))
        norm = keras.layers.LayerNormalization()
        if not fused:
            norm._fused = lambda axes, rank: False
        h = keras.layers.Dense(16)(norm(inputs))
        outputs = keras.layers.Dense(2, activation="softmax")(
            keras.layers.GlobalAveragePooling1D()(h))
        model = keras.Model(inputs, outputs)
        model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=jit_compile,
                      loss="sparse_categorical_crossentropy")
        model.fit(x, labels, batch_size=8, epochs=3, verbose=0, shuffle=False)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_gradient_penalty_through_the_layer_matches_the_composed_ops():
    """A gradient of a gradient (layer_norm_grad's own VJP), eager and traced, against the
    composed ops' and a float64 central difference of the penalty."""
    rng = np.random.default_rng(10)
    norm = layer_with_weights((4, 8), -1, rng)
    x = tf.constant(rng.normal(size=(4, 8)).astype(np.float32))

    def penalty(v):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(v)
                y = tf.reduce_sum(norm(v) ** 3)
            g = inner.gradient(y, v)
            p = tf.reduce_sum(g * g)
        return outer.gradient(p, norm.trainable_weights)

    fused, traced = penalty(x), tf.function(penalty)(x)
    norm._fused = lambda axes, rank: False
    plain = penalty(x)
    del norm._fused
    for a, b, c in zip(fused, traced, plain):
        assert np.array_equal(bits(a), bits(b))
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("kwargs,shape", [({"rms_scaling": True}, (4, 8)),
                                          ({"center": False}, (4, 8)),
                                          ({"axis": 1}, (4, 6, 8)),
                                          ({"axis": [0, 1]}, (4, 8))])
def test_other_cases_keep_the_composed_ops(monkeypatch, kwargs, shape):
    calls = []
    real = nn.layer_norm
    monkeypatch.setattr(nn, "layer_norm", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(4)
    layer = layer_with_weights(shape, kwargs.pop("axis", -1), rng, **kwargs)
    x = (rng.normal(size=shape) * 2).astype(np.float32)
    y = layer(tf.constant(x)).numpy()
    assert not calls
    axes = tuple(a % len(shape) for a in np.atleast_1d(layer.axis))
    mean = x.astype(np.float64).mean(axis=axes, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    gamma = layer.gamma.numpy().astype(np.float64)
    gamma = gamma.reshape([shape[d] if d in axes else 1 for d in range(len(shape))])
    if kwargs.get("rms_scaling"):
        expected = x / np.sqrt(variance + EPS) * gamma
    else:
        expected = (x - mean) / np.sqrt(variance + EPS) * gamma
        if layer.beta is not None:
            expected = expected + layer.beta.numpy().reshape(gamma.shape)
    np.testing.assert_allclose(y, expected, rtol=2e-5, atol=2e-5)


def test_fused_layer_calls_the_primitive(monkeypatch):
    calls = []
    real = nn.layer_norm
    monkeypatch.setattr(nn, "layer_norm", lambda *a, **k: calls.append(1) or real(*a, **k))
    keras.layers.LayerNormalization()(tf.ones((2, 3, 8)))
    assert calls == [1]


def test_float16_computes_in_float32():
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(6, 16)) * 4).astype(np.float16)
    layer = keras.layers.LayerNormalization(dtype="mixed_float16")
    y = layer(tf.constant(x))
    assert y.dtype == tf.float16
    expected = ref_forward(x.astype(np.float64), 1.0, 0.0)
    np.testing.assert_allclose(y.numpy().astype(np.float64), expected, rtol=2e-3, atol=2e-3)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(tf.cast(layer(tf.constant(x)), tf.float32) ** 2)
    grads = tape.gradient(out, layer.trainable_weights)
    assert all(g.dtype == tf.float32 for g in grads)


def test_nan_and_inf_rows_stay_in_their_rows(kernels):
    x = np.ones((4, 16), np.float32) * np.arange(16, dtype=np.float32)
    x[1, 3], x[2, 5] = np.nan, np.inf
    with np.errstate(invalid="ignore"):
        y = keras.layers.LayerNormalization()(tf.constant(x)).numpy()
    assert np.isnan(y[1]).all() and np.isnan(y[2]).all()
    np.testing.assert_allclose(y[[0, 3]], ref_forward(x[[0, 3]].astype(np.float64), 1, 0),
                               rtol=1e-5, atol=1e-5)


def test_bad_arguments_fail_naming_the_op():
    with pytest.raises(errors.InvalidArgumentError, match="layer_norm"):
        nn.layer_norm(tf.ones((2, 4)), tf.ones(3), tf.zeros(4), EPS)
    with pytest.raises(errors.InvalidArgumentError, match="layer_norm"):
        nn.layer_norm(tf.ones((2, 4), tf.float16), tf.ones(4), tf.zeros(4), EPS)


# ------------------------------------------------------------------ op-table rows

def _row_sample(shape, count):
    return lambda rng: sample(shape, count, rng)


def _grad_fn(count):
    def run(x, gamma, beta, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, gamma, beta])
            y = nn.layer_norm(x, gamma, beta, EPS, count)
        return tape.gradient(y, [x, gamma, beta], output_gradients=dy)
    return run


def _grad_sample(shape, count):
    return lambda rng: sample(shape, count, rng) + [rng.normal(size=shape)]


ROWS = [
    Row("nn_layer_norm_2d", lambda x, g, b: nn.layer_norm(x, g, b, EPS),
        lambda x, g, b: ref_forward(x, g, b), _row_sample((5, 6), 1), second_order=True),
    Row("nn_layer_norm_trailing_2", lambda x, g, b: nn.layer_norm(x, g, b, EPS, 2),
        lambda x, g, b: ref_forward(x, g, b, 2), _row_sample((2, 3, 4), 2),
        second_order=True),
    # The gradient kernel as a function of dy too: its own VJP is checked for every input.
    Row("nn_layer_norm_grad", _grad_fn(1),
        lambda x, g, b, dy: list(ref_grads(x, g, dy)), _grad_sample((4, 5), 1),
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


def test_rows_run_the_primitives():
    names = {n.primitive.name for row in ROWS for n in harness.recorded_nodes(row)}
    assert {"layer_norm", "layer_norm_grad"} <= names


# ------------------------------------------------------------------ against real Keras

def test_matches_real_keras_forward_gradients_and_adam_steps():
    rk = import_keras()
    import torch

    rng = np.random.default_rng(6)
    x = (rng.normal(size=(16, 5, 12)) * 2 + 1).astype(np.float32)
    labels = rng.integers(0, 3, size=16)
    models = []
    for lib in (keras, rk):
        inputs = lib.Input((5, 12))
        h = lib.layers.LayerNormalization()(inputs)
        h = lib.layers.Dense(12)(h)
        h = lib.layers.LayerNormalization(axis=[1, 2])(h)
        h = lib.layers.GlobalAveragePooling1D()(h)
        models.append(lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(h)))
    ours, theirs = models
    weights = [rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in ours.weights]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-5, what="forward")
    # gradients of the mean cross-entropy
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, ours(x)))
    grads = tape.gradient(loss, ours.trainable_weights)
    tx = torch.tensor(x)
    their_loss = rk.ops.mean(rk.losses.sparse_categorical_crossentropy(
        torch.tensor(labels), theirs(tx)))
    their_grads = torch.autograd.grad(their_loss, [w.value for w in theirs.trainable_weights])
    for a, b, w in zip(grads, their_grads, ours.trainable_weights):
        assert_matches(a, b, rtol=1e-4, atol=1e-5, what=f"gradient of {w.name}")
    for model, lib in ((ours, keras), (theirs, rk)):
        model.compile(optimizer=lib.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        model.fit(x, labels, batch_size=16, epochs=5, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_matches(a, b, rtol=1e-4, atol=1e-4, what="weights after 5 Adam steps")
