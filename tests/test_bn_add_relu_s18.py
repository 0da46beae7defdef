"""A residual block's end, relu(r + bn(x)) (session 18): graph.passes.fuse_batch_norm_activations
folds the add and the relu that alone read a training-mode batch normalization's output into
that node (activation="relu", residual="left" or "right": the shortcut r a fourth input,
added in the graph's operand order after the normalization's own rounding, then relu, in the
normalization's pass). The gradient graph is left as it is (the add passes relu's masked
cotangent to both the normalization and the shortcut). The fused results must be the unfused
ops' bits: the kernels against the separate ops (signed zeros, NaN and inf included), traced
functions with the passes on against `passes.disabled()` and eager tapes, Keras fits of a
residual block (History, weights and moving statistics) with the fusion on and off; and a
float64 oracle for the values."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_norm_native
from tensorflux.graph import passes
from tensorflux.ops import nn
from tests.tolerances import assert_close, assert_same_bits

EPS = 1e-3
# (shape, dtype): whole channel vectors (the native kernel, float32; the second in several
# pieces of rows), odd channel counts and batch 1 (the NumPy path), float64.
CASES = [((4, 6, 6, 32), np.float32), ((8, 16, 16, 48), np.float32), ((1, 5, 5, 16), np.float32),
         ((3, 4, 4, 7), np.float32), ((2, 5, 5, 16), np.float64), ((40, 16), np.float32)]
IDS = [f"{np.dtype(d).name}-{'x'.join(map(str, s))}" for s, d in CASES]
SIDES = ["left", "right"]
native = pytest.mark.skipif(not numpy_norm_native.supports(np.zeros((1, 16), np.float32)),
                            reason="no llvmlite, or no AVX2 with FMA")


def _data(shape, dtype, seed=0, special=True):
    """x, gamma, beta, r: random; with `special`, a constant channel of negative gamma and
    -0.0 beta (bn(x) -0.0 there) where r is -0.0 or +0.0, a NaN in x (its channel all NaN)
    where r has NaN (of the other sign: two NaNs added), +-inf and -0.0 in r's last channel,
    and signalling NaNs in float32's r."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = rng.standard_normal(shape).astype(dtype)
    gamma = rng.standard_normal(c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype) * 0.5
    r = rng.standard_normal(shape).astype(dtype)
    if special and c >= 3:
        x[..., 0] = 1.5
        gamma[0], beta[0] = -2.0, -0.0
        r[..., 0] = -0.0
        r.reshape(-1, c)[1::2, 0] = 0.0
        x.reshape(-1, c)[0, 1] = np.nan
        r.reshape(-1, c)[::3, 1] = -np.nan
        last = r.reshape(-1, c)[:, -1]
        last[::5], last[1::7], last[2::9] = np.nan, np.inf, -np.inf
        last[3::4] = -0.0
        if dtype == np.float32:  # (signalling NaNs: the add quiets them)
            r.reshape(-1, c)[1::4, 1].view(np.uint32)[:] = 0xFF800001
            last.view(np.uint32)[4::11] = 0x7F800001
    return x, gamma, beta, r


def _separate(x, gamma, beta, r, side):
    """relu(r + bn(x)) (or relu(bn(x) + r)) as the separate ops, eagerly."""
    out, mean, variance = nn.batch_norm_training(tf.constant(x), gamma, beta, EPS)
    r = tf.constant(r)
    return tf.nn.relu(r + out if side == "left" else out + r), mean, variance


# ------------------------------------------------------------------ the backend kernel

@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("shape, dtype", CASES, ids=IDS)
def test_forward_kernel_is_the_separate_add_and_relu(shape, dtype, side):
    x, gamma, beta, r = _data(shape, dtype)
    got = nb.batch_norm_training(x, gamma, beta, r, epsilon=EPS, activation="relu",
                                 residual=side)
    want = _separate(x, gamma, beta, r, side)
    for name, g, w in zip(("out", "mean", "variance"), got, want):
        assert_same_bits(g, w.numpy(), name)


@native
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("side", SIDES)
def test_native_kernel_runs(threads, side):
    shape = (6, 9, 9, 32)
    x, gamma, beta, r = _data(shape, np.float32)
    rows = x.reshape(-1, 32)
    mean = np.zeros(32, np.float32)
    assert numpy_norm_native.normalize(rows, rows.copy(), mean, mean, mean, relu=True,
                                       residual=r.reshape(rows.shape),
                                       left=side == "left") is not None
    previous = nb._THREADS
    nb.set_threads(threads)
    try:
        got = nb.batch_norm_training(x, gamma, beta, r, epsilon=EPS, activation="relu",
                                     residual=side)
    finally:
        nb.set_threads(previous)
    assert_same_bits(got[0], _separate(x, gamma, beta, r, side)[0].numpy(), "out")


def test_residual_fallbacks_and_errors():
    x, gamma, beta, r = _data((2, 3, 3, 16), np.float32)
    # (r broadcast, as add broadcasts it; r not contiguous)
    for shortcut in (r[:1], r[..., ::-1]):
        got = nb.batch_norm_training(x, gamma, beta, shortcut, epsilon=EPS, activation="relu",
                                     residual="left")[0]
        assert_same_bits(got, _separate(x, gamma, beta, np.ascontiguousarray(shortcut),
                                        "left")[0].numpy(), "out")
    with pytest.raises(ValueError, match="residual"):
        nb.batch_norm_training(x, gamma, beta, r, epsilon=EPS, residual="left")
    with pytest.raises(ValueError, match="residual"):
        nb.batch_norm_training(x, gamma, beta, r, epsilon=EPS, activation="relu",
                               residual="middle")
    with pytest.raises(ValueError, match="relu"):
        numpy_norm_native.normalize(x.reshape(-1, 16), x.reshape(-1, 16).copy(), gamma, gamma,
                                    gamma, residual=r.reshape(-1, 16))


# ------------------------------------------------------------------ a float64 oracle

def _oracle(x, gamma, beta, r, w):
    """relu(r + bn(x)) and the gradients of sum(that * w) by x, gamma, beta, r, in float64
    by the textbook formula."""
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    mean = x.mean(axis=axes)
    xc = x - mean
    inv = 1 / np.sqrt((xc * xc).mean(axis=axes) + EPS)
    xhat = xc * inv
    total = xhat * gamma + beta + r
    g = w * (total > 0)
    dbeta, dgamma = g.sum(axis=axes), (g * xhat).sum(axis=axes)
    dx = gamma * inv / n * (n * g - dbeta - xhat * dgamma)
    return np.maximum(total, 0), dx, dgamma, dbeta, g


def _step(gamma, beta, w, side):
    def f(x, r):
        with tf.GradientTape() as tape:
            tape.watch([x, r])
            out, mean, variance = nn.batch_norm_training(x, gamma, beta, EPS)
            y = tf.nn.relu(r + out if side == "left" else out + r)
            loss = tf.reduce_sum(y * w)
        return (y, mean, variance) + tuple(tape.gradient(loss, [x, gamma, beta, r]))
    return f


@pytest.mark.parametrize("shape, dtype", [((4, 6, 6, 32), np.float32),
                                          ((2, 5, 5, 16), np.float64)])
def test_traced_fused_step_against_a_float64_formula(shape, dtype):
    x, gamma, beta, r = _data(shape, dtype, special=False)
    w = _data(shape, dtype, seed=1, special=False)[3]
    f = tf.function(_step(tf.Variable(gamma), tf.Variable(beta), tf.constant(w), "left"))
    got = f(tf.constant(x), tf.constant(r))
    want = _oracle(*(a.astype(np.float64) for a in (x, gamma, beta, r, w)))
    for name, g, o in zip(("y", "dx", "dgamma", "dbeta", "dr"), [got[0]] + list(got[3:]), want):
        # (float32: the normalization's few roundings, and the gradient's sums over 144 rows
        # of the float32 cotangent: relative 1e-4 of the largest value, absolute near zero)
        tol = 1e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(g.numpy(), o, rtol=tol, atol=tol * np.abs(o).max(),
                                   err_msg=name)


# ------------------------------------------------------------------ the graph pass

def _batch_norm_nodes(function, *specs):
    return [(n.attrs.get("activation"), n.attrs.get("residual"), len(n.inputs))
            for n in function.get_concrete_function(*specs).graph.nodes
            if n.type.startswith("batch_norm_training")]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("shape, dtype", CASES, ids=IDS)
def test_traced_step_matches_unfused_graph_and_eager(shape, dtype, side):
    x, gamma, beta, r = _data(shape, dtype)
    w = _data(shape, dtype, seed=1, special=False)[3]
    f = _step(tf.Variable(gamma), tf.Variable(beta), tf.constant(w), side)
    spec = tf.TensorSpec(shape, dtype)
    fused = tf.function(f)
    assert _batch_norm_nodes(fused, spec, spec) == [("relu", side, 4), (None, None, 7)]
    with passes.disabled():
        plain = tf.function(f)
        assert _batch_norm_nodes(plain, spec, spec) == [(None, None, 3), (None, None, 7)]
        want = plain(tf.constant(x), tf.constant(r))
    eager = f(tf.constant(x), tf.constant(r))
    got = fused(tf.constant(x), tf.constant(r))
    for name, g, p, e in zip(("y", "mean", "variance", "dx", "dgamma", "dbeta", "dr"), got,
                             want, eager):
        assert_same_bits(g.numpy(), p.numpy(), name)
        assert_same_bits(g.numpy(), e.numpy(), name + " (eager)")


def test_no_fusion_where_something_else_reads_or_r_comes_later(monkeypatch):
    gamma, beta = tf.Variable(np.ones(16, np.float32)), tf.Variable(np.zeros(16, np.float32))
    spec = tf.TensorSpec((2, 4, 4, 16), tf.float32)

    def bn(x):
        return nn.batch_norm_training(x, gamma, beta, EPS)[0]

    def sum_read(x, r):  # (the sum read by something else)
        total = r + bn(x)
        return tf.nn.relu(total), total

    def out_read(x, r):  # (the normalization's output read by something else)
        out = bn(x)
        return tf.nn.relu(r + out), out

    def later(x, r):  # (r made after the normalization)
        out = bn(x)
        return tf.nn.relu(out + tf.exp(r))

    def broadcast(x, r):  # (r of another shape)
        return tf.nn.relu(bn(x) + r[:1])

    for f in (sum_read, out_read, later, broadcast):
        nodes = _batch_norm_nodes(tf.function(f), spec, spec)
        assert nodes == [(None, None, 3)], f.__name__
    monkeypatch.setattr(nb, "BATCH_NORM_RESIDUALS", ())
    f = tf.function(lambda x, r: tf.nn.relu(r + bn(x)))
    assert _batch_norm_nodes(f, spec, spec) == [(None, None, 3)]


def test_the_sign_of_a_residual_output_is_never_found_from_x():
    """The gradient alone fused (no gradient wanted for the shortcut: nothing else reads the
    mask) reads relu's output y: y's sign is not the normalization's, so beta is not
    passed."""
    x, gamma, beta, r = _data((2, 4, 4, 16), np.float32, special=False)
    w = _data((2, 4, 4, 16), np.float32, seed=1, special=False)[3]
    gamma, beta = tf.Variable(gamma), tf.Variable(beta)

    def f(x, r):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.relu(r + nn.batch_norm_training(x, gamma, beta, EPS)[0])
            loss = tf.reduce_sum(y * w)
        return tape.gradient(loss, [x, gamma, beta])

    fused = tf.function(f)
    spec = tf.TensorSpec(x.shape, tf.float32)
    assert _batch_norm_nodes(fused, spec, spec) == [("relu", "left", 4), ("relu", None, 8)]
    with passes.disabled():
        want = tf.function(f)(tf.constant(x), tf.constant(r))
    for g, p in zip(fused(tf.constant(x), tf.constant(r)), want):
        assert_same_bits(g.numpy(), p.numpy())


def _eager(x, gamma, beta, r, w, fused):
    """relu(r + bn(x)) bound eagerly as the fused primitive or as the three ops; the
    gradients of sum(out * w) by (x, gamma, beta, r), and of the sum of dx^2 (second order)."""
    x, r = tf.constant(x), tf.constant(r)
    gamma, beta = tf.Variable(gamma), tf.Variable(beta)
    with tf.GradientTape() as outer:
        outer.watch([x, r])
        with tf.GradientTape() as tape:
            tape.watch([x, r])
            if fused:
                out = nn._bn.bind(x, gamma, beta, r, epsilon=EPS, activation="relu",
                                  residual="left")[0]
            else:
                out = tf.nn.relu(r + nn.batch_norm_training(x, gamma, beta, EPS)[0])
            loss = tf.reduce_sum(out * w)
        first = tape.gradient(loss, [x, gamma, beta, r])
        penalty = tf.reduce_sum(first[0] * first[0])
    second = outer.gradient(penalty, [x, gamma, beta])
    return [t.numpy() for t in [out] + first + second]


@pytest.mark.parametrize("shape, dtype", [((2, 3, 3, 32), np.float32),
                                          ((2, 3, 3, 5), np.float64)])
def test_fused_primitive_bound_eagerly_has_the_unfused_gradients(shape, dtype):
    x, gamma, beta, r = _data(shape, dtype, special=False)
    w = _data(shape, dtype, seed=1, special=False)[3]
    got, want = _eager(x, gamma, beta, r, w, True), _eager(x, gamma, beta, r, w, False)
    assert len(got) == len(want) == 8
    for g, p in zip(got, want):
        assert_same_bits(g, p)


def test_tape_over_a_fused_function_and_second_order():
    x, gamma, beta, r = _data((2, 3, 3, 16), np.float64, special=False)
    w = _data((2, 3, 3, 16), np.float64, seed=1, special=False)[3]
    gamma, beta = tf.Variable(gamma), tf.Variable(beta)
    step = _step(gamma, beta, tf.constant(w), "right")

    def results(function):
        xt, rt = tf.constant(x), tf.constant(r)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([xt, rt])
            outs = function(xt, rt)
            penalty = tf.reduce_sum(outs[3] * outs[3]) + tf.reduce_sum(outs[0])
        return [g.numpy() for g in tape.gradient(penalty, [xt, rt, gamma, beta])]

    fused = tf.function(step)
    with passes.disabled():
        want = results(tf.function(step))
    got = results(fused)
    for name, g, p in zip(("x", "r", "gamma", "beta"), got, want):
        assert_close(g, p, "float64", what=name)


# ------------------------------------------------------------------ Keras

def _fit(monkeypatch, fusion, dtype="float32"):
    monkeypatch.setattr(nb, "BATCH_NORM_RESIDUALS", ("left", "right") if fusion else ())
    keras.utils.set_random_seed(0)
    layers = keras.layers
    inputs = keras.Input((8, 8, 3), dtype=dtype)
    h = layers.Conv2D(16, 3, padding="same", dtype=dtype)(inputs)
    for _ in range(2):  # (benchmarks/block_workloads.py's resnet blocks)
        r = layers.Activation("relu", dtype=dtype)(layers.BatchNormalization(dtype=dtype)(
            layers.Conv2D(16, 3, padding="same", dtype=dtype)(h)))
        r = layers.BatchNormalization(dtype=dtype)(
            layers.Conv2D(16, 3, padding="same", dtype=dtype)(r))
        # (h + r as the benchmark writes it; in float64 layers.Add: the operator adds in
        # float32 there, then casts)
        total = h + r if dtype == "float32" else layers.Add(dtype=dtype)([h, r])
        h = layers.Activation("relu", dtype=dtype)(total)
    out = layers.Dense(1, dtype=dtype)(layers.GlobalAveragePooling2D(dtype=dtype)(h))
    model = keras.Model(inputs, out)
    model.compile(loss="mse", optimizer="adam")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 8, 8, 3)).astype(dtype)
    y = rng.standard_normal((24, 1)).astype(dtype)
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    found = [(n.attrs.get("activation"), n.attrs.get("residual"))
             for function in model.train_function._functions.values()
             for concrete in function._cache.values() for n in concrete.graph.nodes
             if n.type == "batch_norm_training"]
    return history.history, [v.numpy() for v in model.weights], found


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_keras_fit_is_identical_with_the_fusion_on_and_off(monkeypatch, dtype):
    on_history, on_weights, on_found = _fit(monkeypatch, True, dtype)
    off_history, off_weights, off_found = _fit(monkeypatch, False, dtype)
    with passes.disabled():
        plain_history, plain_weights, plain_found = _fit(monkeypatch, True, dtype)
    assert sorted(on_found, key=str) == [("relu", "left"), ("relu", "left"), ("relu", None),
                                         ("relu", None)]
    assert ("relu", "left") not in off_found and plain_found == [(None, None)] * 4
    assert on_history == off_history == plain_history
    assert len(on_weights) == len(off_weights) == len(plain_weights) > 16
    for a, b, c in zip(on_weights, off_weights, plain_weights):
        assert_same_bits(a, b, "weight")
        assert_same_bits(a, c, "weight")


def test_a_shortcut_made_after_the_normalization_is_not_fused_before_it():
    """relu(bn(x) + relu(bn(z))) where the shortcut's own (fused) normalization comes after
    the main branch's in the graph: the residual fusion would read the shortcut before it is
    made, so it is declined (review R1 found the fused node's position missing)."""
    g1, b1 = tf.ones([4]), tf.zeros([4])

    def f(x, z):
        main = nn.batch_norm_training(x, g1, b1, 1e-3)[0]
        shortcut = tf.nn.relu(nn.batch_norm_training(z, g1, b1, 1e-3)[0])
        return tf.nn.relu(main + shortcut)

    rng = np.random.default_rng(0)
    x, z = (tf.constant(rng.standard_normal((8, 4)).astype(np.float32)) for _ in range(2))
    got = tf.function(f)(x, z)
    with passes.disabled():
        want = tf.function(f)(x, z)
    assert_same_bits(np.asarray(got), np.asarray(want))
    main = np.asarray(nn.batch_norm_training(x, g1, b1, 1e-3)[0])
    shortcut = np.maximum(np.asarray(nn.batch_norm_training(z, g1, b1, 1e-3)[0]), 0)
    assert_same_bits(np.asarray(got), np.maximum(main + shortcut, np.float32(0)))


def test_the_backend_wants_epsilon_by_name_after_the_residual():
    """A backend caller that puts r (or y) in the positional slot and leaves epsilon out gets
    an error, not NaN everywhere (np.float32(None) is NaN: review R2)."""
    x, gamma, beta, r = _data((2, 3, 3, 16), np.float32, special=False)
    with pytest.raises(TypeError, match="epsilon"):
        nb.batch_norm_training(x, gamma, beta, r, activation="relu", residual="left")
    out, mean, variance = nb.batch_norm_training(x, gamma, beta, 1e-3)
    dy = np.ones_like(x)
    zeros = np.zeros_like(mean)
    with pytest.raises(TypeError, match="epsilon"):
        nb.batch_norm_training_grad(x, gamma, mean, variance, dy, zeros, zeros,
                                    np.maximum(out, 0), activation="relu")
