"""Custom training loops (GradientTape + apply_gradients), eager and in tf.function: the
gradients and updates are the same bits with the graph passes on and within
passes.disabled(), an optimizer whose update was first traced within disabled() updates as
one traced outside it, and reduce_mean's VJP (the cotangent divided by the count before it
is broadcast) gives the bits of dividing after, NumPy's in float64 to rounding, and central
finite differences."""

import contextlib

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.graph import passes
from tests.tolerances import assert_same_bits


def _model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((10, 10, 2)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Conv2D(6, 3, padding="same"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(5, activation="relu"),
        keras.layers.Dense(3)])


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 10, 10, 2)).astype(np.float32)
    x[0, 0, 0, 0] = -0.0
    y = rng.integers(0, 3, 4)
    return tf.constant(x), tf.constant(y)


def _train(off, wrapped, steps=3):
    """Variables and per-step gradients of `steps` Adam steps of one model."""
    model = _model(1)
    optimizer = keras.optimizers.Adam(1e-2)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = _batch()
    seen = []

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, grads

    run = tf.function(step) if wrapped else step
    with passes.disabled() if off else contextlib.nullcontext():
        for _ in range(steps):
            loss, grads = run(x, y)
            seen.append([loss.numpy()] + [g.numpy() for g in grads])
    return seen, [v.numpy() for v in model.trainable_variables]


@pytest.mark.parametrize("wrapped", [False, True], ids=["eager", "function"])
def test_tape_loop_same_bits_with_and_without_passes(wrapped):
    on_steps, on_vars = _train(False, wrapped)
    off_steps, off_vars = _train(True, wrapped)
    for step, (a, b) in enumerate(zip(on_steps, off_steps)):
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same_bits(u, v, f"step {step} output {i}")
    for i, (u, v) in enumerate(zip(on_vars, off_vars)):
        assert_same_bits(u, v, f"variable {i}")


def test_tape_gradients_match_float64_oracle():
    """The eager tape's gradient of a small model (dense, relu, mean) against the same
    model in float64 NumPy: the float32 result to float32 rounding of the sums."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5))
    w1, b1 = rng.standard_normal((5, 7)), rng.standard_normal(7)
    w2 = rng.standard_normal((7, 2))
    variables = [tf.Variable(v.astype(np.float32)) for v in (w1, b1, w2)]
    with tf.GradientTape() as tape:
        h = tf.nn.relu(tf.matmul(tf.constant(x.astype(np.float32)), variables[0])
                       + variables[1])
        loss = tf.reduce_mean(tf.square(tf.matmul(h, variables[2])))
    got = tape.gradient(loss, variables)
    pre = x @ w1 + b1
    h64 = np.maximum(pre, 0.0)
    out = h64 @ w2
    d_out = 2.0 * out / out.size
    d_pre = (d_out @ w2.T) * (pre > 0)
    want = [x.T @ d_pre, d_pre.sum(axis=0), h64.T @ d_out]
    assert not np.any(np.abs(pre) < 1e-3)  # (no relu input near its kink)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=2e-5, atol=2e-6)


def test_optimizer_traced_within_disabled_updates_as_optimized():
    """apply_gradients replays a traced update; one first traced within passes.disabled()
    keeps that unoptimized graph, and it updates the variables to the same bits."""
    x, y = _batch(5)
    results = []
    for off in (False, True):
        model = _model(2)
        optimizer = keras.optimizers.Adam(1e-2)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        with passes.disabled() if off else contextlib.nullcontext():
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))  # (passes on)
        results.append([v.numpy() for v in model.trainable_variables])
    for i, (u, v) in enumerate(zip(*results)):
        assert_same_bits(u, v, f"variable {i}")


# ---- reduce_mean's VJP: divided before the broadcast

_MEAN_CASES = [((4, 5), None, False), ((4, 5), [1], False), ((4, 5), [0], True),
               ((2, 3, 4, 5), [1, 2], False), ((2, 3, 4, 5), [1, 2], True),
               ((3, 1, 7), [0, 2], True), ((6,), [0], False), ((2, 0, 3), [1], False),
               ((3, 7, 11), [1], False)]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape,axis,keepdims", _MEAN_CASES)
def test_mean_gradient_bits_of_divide_after_broadcast(shape, axis, keepdims, dtype):
    """Against NumPy computing the former order (broadcast the cotangent to x's shape, then
    divide by the count converted to the dtype): the same bits, special values included."""
    rng = np.random.default_rng(7)
    x = tf.constant(rng.standard_normal(shape).astype(dtype))
    axes = tuple(range(len(shape))) if axis is None else tuple(axis)
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keepdims else \
        tuple(d for i, d in enumerate(shape) if i not in axes)
    g = rng.standard_normal(out_shape).astype(dtype) * 1e3
    flat = g.reshape(-1)
    specials = [np.inf, -np.inf, np.nan, -0.0, np.finfo(dtype).tiny / 2, np.finfo(dtype).max]
    flat[:len(specials)] = np.array(specials, dtype)[:flat.size]
    with tf.GradientTape() as tape, np.errstate(all="ignore"):  # (an empty mean: NaN)
        tape.watch(x)
        y = tf.reduce_mean(x, axis=axis, keepdims=keepdims)
    (got,) = tape.gradient(y, [x], output_gradients=[tf.constant(g)])
    count = int(np.prod([shape[a] for a in axes]))
    kept = g.reshape([1 if i in axes else d for i, d in enumerate(shape)])
    with np.errstate(all="ignore"):
        want = np.broadcast_to(kept, shape) / np.asarray(count, dtype)
    assert_same_bits(np.asarray(got.numpy()), want, "mean gradient")


def test_mean_gradient_of_an_empty_reduction_warns_of_nothing():
    """An empty axis: no division by its zero count (an empty gradient, no RuntimeWarning)."""
    x = tf.zeros([2, 0, 3])
    with tf.GradientTape() as tape, np.errstate(all="ignore"):  # (the mean itself: NaN)
        tape.watch(x)
        y = tf.reduce_mean(x, axis=1)
    with np.errstate(all="raise"):
        (got,) = tape.gradient(y, [x], output_gradients=[tf.ones([2, 3])])
    assert got.shape == (2, 0, 3)


def test_mean_gradient_finite_differences():
    rng = np.random.default_rng(11)
    x0 = rng.standard_normal((3, 4, 5))
    weights = rng.standard_normal((3, 5))

    def f(values):
        x = tf.constant(values)
        return tf.reduce_sum(tf.reduce_mean(x, axis=1) * tf.constant(weights))

    x = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.reduce_mean(x, axis=1) * tf.constant(weights))
    got = tape.gradient(y, x).numpy()
    eps = 1e-6
    numeric = np.zeros_like(x0)
    for index in np.ndindex(x0.shape):
        up, down = x0.copy(), x0.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (float(f(up)) - float(f(down))) / (2 * eps)
    np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


def test_mean_gradient_traced_and_second_order():
    """In a tf.function with an unknown batch (the count known only at run time) the same
    bits as eagerly; and a gradient of the gradient (zero: the mean is linear)."""
    rng = np.random.default_rng(13)
    values = rng.standard_normal((5, 6)).astype(np.float32)

    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.square(tf.reduce_mean(x, axis=0)))
        return tape.gradient(y, x)

    eager = grad(tf.constant(values)).numpy()
    traced = tf.function(grad, input_signature=[tf.TensorSpec([None, 6], tf.float32)])
    assert_same_bits(traced(tf.constant(values)).numpy(), eager, "traced mean gradient")
    x = tf.constant(values.astype(np.float64))
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_mean(x)
        g = inner.gradient(y, x)
        s = tf.reduce_sum(g * g)
    second = outer.gradient(s, x)
    assert second is None or not np.any(second.numpy())
    np.testing.assert_array_equal(g.numpy(), np.full((5, 6), 1 / 30))


def _divide_after(g, x, out, axis, keepdims):
    """reduce_mean's former VJP: the sum's broadcast cotangent, then divided by the count."""
    from tensorflux.ops import reduction

    shape = x.shape
    (gx,) = reduction._sum_vjp(g, x, out, axis, keepdims, shape)
    return (gx / reduction._count(x, axis, shape),)


def _pooled_model(kind, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((9, 9, 4))
    if kind == "conv":  # (a fused bias-only conv, whose VJP reads the pooled cotangent)
        h = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    elif kind == "conv_relu":
        h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    elif kind == "depthwise":
        h = keras.layers.DepthwiseConv2D(3, padding="same")(inputs)
    else:  # batch norm, then swish
        h = keras.layers.Activation("swish")(keras.layers.BatchNormalization()(inputs))
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(3)(h))


@pytest.mark.parametrize("kind", ["conv", "conv_relu", "depthwise", "bn_swish"])
@pytest.mark.parametrize("wrapped", [False, True], ids=["eager", "function"])
def test_models_after_a_mean_same_bits_as_divide_after(kind, wrapped, monkeypatch):
    """Whatever reads the mean's cotangent (a broadcast view now, an array before) computes
    the gradients the former VJP gave, bit for bit, eagerly and traced."""
    from tensorflux.primitive import registry

    rng = np.random.default_rng(17)
    x = tf.constant(rng.standard_normal((3, 9, 9, 4)).astype(np.float32))
    results = []
    for vjp in (registry["reduce_mean"].vjp, _divide_after):
        monkeypatch.setattr(registry["reduce_mean"], "vjp", vjp)
        model = _pooled_model(kind, 4)

        def grads(x, model=model):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.square(model(x, training=True)))
            return tape.gradient(loss, [x] + model.trainable_variables)

        run = tf.function(grads) if wrapped else grads
        results.append([g.numpy() for g in run(x)])
    for i, (u, v) in enumerate(zip(*results)):
        assert_same_bits(u, v, f"gradient {i}")
