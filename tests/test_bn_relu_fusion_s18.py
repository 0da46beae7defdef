"""Training-mode BatchNormalization followed by relu as one kernel each way (session 18):
graph.passes.fuse_batch_norm_activations gives batch_norm_training activation="relu" (out =
relu(bn(x)) in the normalization's pass) and batch_norm_training_grad relu's output y, whose
mask it applies as it reads dy (dy * (y > 0), relu's VJP). The fused results must be the
unfused ops' bits: the kernels against the separate NumPy steps (signed zeros, NaN and inf
included), traced functions with the passes on against `passes.disabled()` and eager tapes,
Keras fits (History, weights and moving statistics) with the fusion on and off; and float64
oracles (the formula, central differences) for the new kernels' values."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.backends import numpy_backend as nb
from tensorflux.backends import numpy_norm_native
from tensorflux.graph import passes
from tensorflux.ops import nn
from tests.tolerances import GRAD, assert_close, assert_same_bits, central_difference

EPS = 1e-3
# (shape, dtype): whole channel vectors (the native kernels, float32), odd channel counts and
# batch 1 (the NumPy path), several pieces of rows (threads), float64.
CASES = [((4, 6, 6, 32), np.float32), ((8, 16, 16, 48), np.float32), ((1, 5, 5, 16), np.float32),
         ((3, 4, 4, 7), np.float32), ((1, 1, 1, 3), np.float32), ((2, 5, 5, 16), np.float64),
         ((1, 3, 3, 5), np.float64), ((40, 16), np.float32)]
IDS = [f"{np.dtype(d).name}-{'x'.join(map(str, s))}" for s, d in CASES]
native = pytest.mark.skipif(not numpy_norm_native.supports(np.zeros((1, 16), np.float32)),
                            reason="no llvmlite, or no AVX2 with FMA")


def _data(shape, dtype, seed=0, special=True):
    """x, gamma, beta, dy: random, with a constant channel of negative gamma and -0.0 beta
    (out -0.0 there, relu's +0.0), a NaN in x (its channel all NaN), -0.0 in dy, and NaN and
    +-inf in dy's last channel (which they make NaN; the others stay finite)."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = rng.standard_normal(shape).astype(dtype)
    gamma = rng.standard_normal(c).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype) * 0.5
    dy = rng.standard_normal(shape).astype(dtype)
    if special and c >= 3:
        x[..., 0] = 1.5
        gamma[0], beta[0] = -2.0, -0.0
        x.reshape(-1, c)[0, 1] = np.nan
        dy.reshape(-1)[:: 7] = -0.0
        last = dy.reshape(-1, c)[:, -1]
        last[:: 5], last[1:: 7], last[2:: 9] = np.nan, np.inf, -np.inf
    return x, gamma, beta, dy


def _relu_vjp(dy, y):
    """relu's gradient as its graph computes it: g * cast(out > 0, g.dtype)."""
    return np.multiply(dy, np.greater(y, np.zeros((), y.dtype)).astype(dy.dtype))


# ------------------------------------------------------------------ the backend kernels

@pytest.mark.parametrize("shape, dtype", CASES, ids=IDS)
def test_forward_kernel_is_relu_of_the_plain_kernel(shape, dtype):
    x, gamma, beta, _ = _data(shape, dtype)
    out, mean, variance = nb.batch_norm_training(x, gamma, beta, EPS)
    got = nb.batch_norm_training(x, gamma, beta, EPS, activation="relu")
    assert_same_bits(got[0], nb.relu(out), "out")
    assert_same_bits(got[1], mean, "mean")
    assert_same_bits(got[2], variance, "variance")
    if shape[-1] >= 3:  # (the constant channel's -0.0 became +0.0; the NaN stayed)
        assert not np.signbit(got[0][..., 0]).any() and np.signbit(out[..., 0]).all()
        assert np.isnan(got[0][..., 1]).all()


@pytest.mark.parametrize("shape, dtype", CASES, ids=IDS)
def test_gradient_kernel_is_the_plain_kernel_of_relus_gradient(shape, dtype):
    x, gamma, beta, dy = _data(shape, dtype, special=False)
    y, mean, variance = nb.batch_norm_training(x, gamma, beta, EPS, activation="relu")
    # (y with signed zeros and a NaN, dy with NaN, inf and -0.0 where y is and is not > 0)
    y = y.copy()
    flat = y.reshape(-1)
    flat[1:: 5], flat[2:: 9], flat[4:: 23] = 0.0, -0.0, np.nan
    _, _, _, dy = _data(shape, dtype, seed=1)
    rng = np.random.default_rng(2)
    dmean, dvariance = (rng.standard_normal(shape[-1]).astype(dtype) for _ in range(2))
    want = nb.batch_norm_training_grad(x, gamma, mean, variance, _relu_vjp(dy, y), dmean,
                                       dvariance, EPS)
    got = nb.batch_norm_training_grad(x, gamma, mean, variance, dy, dmean, dvariance, y,
                                      epsilon=EPS, activation="relu")
    for name, g, w in zip(("dx", "dgamma", "dbeta"), got, want):
        assert_same_bits(g, w, name)
    if shape[-1] >= 3:  # (NaN only where a NaN reached the sums)
        assert np.isfinite(got[0][..., :-1]).all() and np.isnan(got[0][..., -1]).all()


@pytest.mark.parametrize("shape, dtype", CASES, ids=IDS)
def test_gradient_kernel_finding_the_mask_from_x_and_beta(shape, dtype):
    """Given beta (y is relu of the normalization of x with these statistics), the kernels
    may find y > 0 from x: the same bits as reading y (x with a NaN channel and a channel
    whose output is -0.0; dy with NaN, inf and -0.0)."""
    x, gamma, beta, dy = _data(shape, dtype)
    y, mean, variance = nb.batch_norm_training(x, gamma, beta, EPS, activation="relu")
    rng = np.random.default_rng(2)
    dmean, dvariance = (rng.standard_normal(shape[-1]).astype(dtype) for _ in range(2))
    want = nb.batch_norm_training_grad(x, gamma, mean, variance, _relu_vjp(dy, y), dmean,
                                       dvariance, EPS)
    got = nb.batch_norm_training_grad(x, gamma, mean, variance, dy, dmean, dvariance, y, beta,
                                      epsilon=EPS, activation="relu")
    for name, g, w in zip(("dx", "dgamma", "dbeta"), got, want):
        assert_same_bits(g, w, name)


@native
def test_native_sign_kernels_run():
    x, gamma, beta, _ = _data((2, 3, 3, 32), np.float32, special=False)
    rows = x.reshape(-1, 32)
    vector = np.zeros(32, np.float32)
    assert numpy_norm_native.grad_sums(rows, rows, vector, affine=(gamma, beta)) is not None
    assert numpy_norm_native.combine(rows, rows, rows.copy(), vector, vector, vector, vector,
                                     affine=(gamma, beta)) is not None


@native
@pytest.mark.parametrize("threads", [1, 2])
def test_native_kernels_run_and_read_dy_in_place(threads):
    shape = (4, 9, 9, 32)
    x, gamma, beta, _ = _data(shape, np.float32, special=False)
    y, mean, variance = nb.batch_norm_training(x, gamma, beta, EPS, activation="relu")
    rows, y_rows = x.reshape(-1, 32), y.reshape(-1, 32)
    assert numpy_norm_native.grad_sums(rows, y_rows, mean, y_rows) is not None
    assert numpy_norm_native.combine(rows, y_rows, rows.copy(), mean, mean, mean, mean,
                                     y_rows) is not None
    # dy a view of a padded buffer (a max pool's gradient): its rows read through a table
    buffer = np.random.default_rng(3).standard_normal((4, 10, 10, 32)).astype(np.float32)
    buffer[:, 9:] = np.nan
    dy = buffer[:, :9, :9]
    assert not dy.flags.c_contiguous
    zeros = np.zeros(32, np.float32)
    previous = nb._THREADS
    nb.set_threads(threads)
    try:
        got = nb.batch_norm_training_grad(x, gamma, mean, variance, dy, zeros, zeros, y,
                                          epsilon=EPS, activation="relu")
        signed = nb.batch_norm_training_grad(x, gamma, mean, variance, dy, zeros, zeros, y,
                                             beta, epsilon=EPS, activation="relu")
        fused = nb.batch_norm_training(x, gamma, beta, EPS, activation="relu")
    finally:
        nb.set_threads(previous)
    assert_same_bits(fused[0], y, "out on threads")
    for name, g, w in zip(("dx", "dgamma", "dbeta"), signed, got):
        assert_same_bits(g, w, name + " (mask from x)")
    want = nb.batch_norm_training_grad(x, gamma, mean, variance,
                                       _relu_vjp(np.ascontiguousarray(dy), y), zeros, zeros,
                                       EPS)
    for name, g, w in zip(("dx", "dgamma", "dbeta"), got, want):
        assert_same_bits(g, w, name)


def test_unknown_activation_is_an_error():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="activation"):
        nb.batch_norm_training(x, x[0], x[0], EPS, activation="gelu")


# ------------------------------------------------------------------ float64 oracles

def _oracle(x, gamma, beta, w):
    """relu(bn(x)) and the gradients of sum(relu(bn(x)) * w) by x, gamma, beta, in float64
    by the textbook formula."""
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    mean = x.mean(axis=axes)
    xc = x - mean
    variance = (xc * xc).mean(axis=axes)
    inv = 1 / np.sqrt(variance + EPS)
    xhat = xc * inv
    bn = xhat * gamma + beta
    g = w * (bn > 0)
    dbeta, dgamma = g.sum(axis=axes), (g * xhat).sum(axis=axes)
    dx = gamma * inv / n * (n * g - dbeta - xhat * dgamma)
    return np.maximum(bn, 0), dx, dgamma, dbeta


@pytest.mark.parametrize("shape, dtype", [((4, 6, 6, 32), np.float32),
                                          ((3, 4, 4, 7), np.float32),
                                          ((2, 3, 3, 5), np.float64)])
def test_kernels_against_a_float64_formula(shape, dtype):
    x, gamma, beta, w = _data(shape, dtype, special=False)
    y, mean, variance = nb.batch_norm_training(x, gamma, beta, EPS, activation="relu")
    zeros = np.zeros(shape[-1], dtype)
    grads = nb.batch_norm_training_grad(x, gamma, mean, variance, w, zeros, zeros, y,
                                        epsilon=EPS, activation="relu")
    want = _oracle(*(a.astype(np.float64) for a in (x, gamma, beta, w)))
    # float32: the kernels round each step to float32 (statistics from float64 sums); the
    # forward's error is a few ulps of its inputs' scale, the gradient's a few of its sums'
    # (about sqrt(n) * |dy|), hence the atol; elements where bn(x) is within rounding of 0
    # may be masked differently and are left out.
    axes = tuple(range(x.ndim - 1))
    x64 = x.astype(np.float64)
    bn = ((x64 - x64.mean(axis=axes)) / np.sqrt(x64.var(axis=axes) + EPS) * gamma + beta)
    clear = np.abs(bn) > 1e-4
    kind = np.dtype(dtype).name
    atol = 1e-4 if dtype == np.float32 else 1e-10
    assert_close(np.where(clear, y, 0), np.where(clear, want[0], 0), kind, what="out")
    for name, got, expected in zip(("dx", "dgamma", "dbeta"), grads, want[1:]):
        if name == "dx":
            got, expected = np.where(clear, got, 0), np.where(clear, expected, 0)
        assert_close(got, expected, kind, rtol=1e-4 if dtype == np.float32 else 1e-9,
                     atol=atol, what=name)


def test_gradient_kernel_against_central_differences():
    shape = (2, 3, 3, 4)
    x, gamma, beta, w = (a.astype(np.float64) for a in _data(shape, np.float64,
                                                             special=False))
    y, mean, variance = nb.batch_norm_training(x, gamma, beta, EPS, activation="relu")
    zeros = np.zeros(4)
    dx, dgamma, dbeta = nb.batch_norm_training_grad(x, gamma, mean, variance, w, zeros, zeros,
                                                    y, epsilon=EPS, activation="relu")

    def loss(x_=x, gamma_=gamma, beta_=beta):
        out = nb.batch_norm_training(x_, gamma_, beta_, EPS, activation="relu")[0]
        return float(np.sum(out * w))
    assert_close(dx, central_difference(lambda v: loss(x_=v), x), rtol=GRAD[0], atol=GRAD[1],
                 what="dx")
    assert_close(dgamma, central_difference(lambda v: loss(gamma_=v), gamma), rtol=GRAD[0],
                 atol=GRAD[1], what="dgamma")
    assert_close(dbeta, central_difference(lambda v: loss(beta_=v), beta), rtol=GRAD[0],
                 atol=GRAD[1], what="dbeta")


# ------------------------------------------------------------------ traced graphs

def _step(gamma, beta, w):
    def f(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out, mean, variance = nn.batch_norm_training(x, gamma, beta, EPS)
            y = tf.nn.relu(out)
            loss = tf.reduce_sum(y * w)
        return (y, mean, variance) + tuple(tape.gradient(loss, [x, gamma, beta]))
    return f


def _activations(function, spec):
    """The activation of each batch-norm node, with the gradient's input count."""
    return [(n.attrs.get("activation"), len(n.inputs)) if n.type.endswith("grad")
            else n.attrs.get("activation")
            for n in function.get_concrete_function(spec).graph.nodes
            if n.type.startswith("batch_norm_training")]


@pytest.mark.parametrize("shape, dtype", CASES, ids=IDS)
def test_traced_step_matches_unfused_graph_and_eager(shape, dtype):
    x, gamma, beta, w = _data(shape, dtype)
    if shape[0] > 1:  # (else NaN, inf and -0.0 in w, the gradient's dy)
        w = _data(shape, dtype, seed=1, special=False)[3]
    gamma, beta = tf.Variable(gamma), tf.Variable(beta)
    f = _step(gamma, beta, tf.constant(w))
    fused = tf.function(f)
    assert _activations(fused, tf.TensorSpec(shape, dtype)) == ["relu", ("relu", 9)]
    with passes.disabled():
        plain = tf.function(f)
        assert _activations(plain, tf.TensorSpec(shape, dtype)) == [None, (None, 7)]
        want = plain(tf.constant(x))
    eager = f(tf.constant(x))
    got = fused(tf.constant(x))
    for name, g, p, e in zip(("y", "mean", "variance", "dx", "dgamma", "dbeta"), got, want,
                             eager):
        assert_same_bits(g.numpy(), p.numpy(), name)
        assert_same_bits(g.numpy(), e.numpy(), name + " (eager)")


def test_no_fusion_where_the_normalization_has_other_readers():
    x, gamma, beta, _ = _data((2, 4, 4, 16), np.float32)

    def f(v):
        out = nn.batch_norm_training(v, gamma, beta, EPS)[0]
        return tf.nn.relu(out) + out
    fused = tf.function(f)
    assert _activations(fused, tf.TensorSpec(x.shape, tf.float32)) == [None]
    with passes.disabled():
        want = tf.function(f)(tf.constant(x))
    assert_same_bits(fused(tf.constant(x)).numpy(), want.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_fused_alone_where_relu_reads_something_else(dtype):
    """relu(bn(x) + 0.5): the forward stays as it is; the gradient's mask (through the add)
    still goes into the gradient node, read from y (eight inputs)."""
    x, gamma, beta, _ = _data((3, 4, 4, 16), dtype)
    w = _data((3, 4, 4, 16), dtype, seed=1, special=False)[3]
    gamma, beta = tf.Variable(gamma), tf.Variable(beta)

    def f(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            y = tf.nn.relu(nn.batch_norm_training(v, gamma, beta, EPS)[0] + 0.5)
            loss = tf.reduce_sum(y * w)
        return tape.gradient(loss, [v, gamma, beta])
    fused = tf.function(f)
    assert _activations(fused, tf.TensorSpec(x.shape, dtype)) == [None, ("relu", 8)]
    with passes.disabled():
        want = tf.function(f)(tf.constant(x))
    for name, g, p in zip(("dx", "dgamma", "dbeta"), fused(tf.constant(x)), want):
        assert_same_bits(g.numpy(), p.numpy(), name)


def test_fusion_off_where_the_backend_does_not_list_relu(monkeypatch):
    monkeypatch.setattr(nb, "BATCH_NORM_ACTIVATIONS", ())
    x, gamma, beta, w = _data((2, 4, 4, 16), np.float32)
    f = tf.function(_step(tf.Variable(gamma), tf.Variable(beta), tf.constant(w)))
    assert _activations(f, tf.TensorSpec(x.shape, tf.float32)) == [None, (None, 7)]


def test_tape_over_a_fused_function_and_second_order():
    """A tape watching a call of a function whose graph is fused: first and second
    derivatives as through the unfused graph."""
    x, gamma, beta, w = _data((2, 3, 3, 16), np.float64, special=False)
    gamma, beta = tf.Variable(gamma), tf.Variable(beta)
    step = _step(gamma, beta, tf.constant(w))

    def results(function):
        xt = tf.constant(x)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xt)
            outs = function(xt)
            penalty = tf.reduce_sum(outs[3] * outs[3]) + tf.reduce_sum(outs[0])
        return [g.numpy() for g in tape.gradient(penalty, [xt, gamma, beta])]

    fused = tf.function(step)
    with passes.disabled():
        plain = tf.function(step)
        want = results(plain)
    got = results(fused)
    for name, g, p in zip(("x", "gamma", "beta"), got, want):
        assert_close(g, p, "float64", what=name)


def _eager(x, gamma, beta, w, fused):
    """relu(bn(x)) bound eagerly as the fused primitive or as the two ops; the gradients of
    sum(out * w) by (x, gamma, beta), and of the sum of dx^2 (second order)."""
    x, gamma, beta = tf.constant(x), tf.Variable(gamma), tf.Variable(beta)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            if fused:
                out = nn._bn.bind(x, gamma, beta, epsilon=EPS, activation="relu")[0]
            else:
                out = tf.nn.relu(nn.batch_norm_training(x, gamma, beta, EPS)[0])
            loss = tf.reduce_sum(out * w)
        first = tape.gradient(loss, [x, gamma, beta])
        penalty = tf.reduce_sum(first[0] * first[0])
    second = outer.gradient(penalty, [x, gamma, beta])
    with tf.GradientTape() as tape:  # (first order, no outer tape: the fused gradient)
        tape.watch(x)
        out = (nn._bn.bind(x, gamma, beta, epsilon=EPS, activation="relu")[0] if fused else
               tf.nn.relu(nn.batch_norm_training(x, gamma, beta, EPS)[0]))
        loss = tf.reduce_sum(out * w)
    alone = tape.gradient(loss, [x, gamma, beta])
    return [t.numpy() for t in [out] + first + second + alone]


@pytest.mark.parametrize("shape, dtype", [((2, 3, 3, 32), np.float32),
                                          ((2, 3, 3, 5), np.float64)])
def test_fused_primitive_bound_eagerly_has_the_unfused_gradients(shape, dtype):
    x, gamma, beta, _ = _data(shape, dtype)
    w = _data(shape, dtype, seed=1, special=False)[3]
    for got, want in zip(_eager(x, gamma, beta, w, True), _eager(x, gamma, beta, w, False)):
        assert_same_bits(got, want)


@pytest.mark.parametrize("with_beta", [False, True])
def test_fused_gradient_primitive_has_the_composed_vjp(with_beta):
    """batch_norm_training_grad with activation="relu" (as the passes make it) under a tape:
    its VJP is the plain one's on dy * mask, chained through the mask."""
    x, gamma, beta, dy = _data((2, 3, 3, 8), np.float64, special=False)
    y, mean, variance = nb.batch_norm_training(x, gamma, beta, EPS, activation="relu")
    h = _data((2, 3, 3, 8), np.float64, seed=3, special=False)[3]
    zeros = tf.zeros([8], tf.float64)
    args = [tf.constant(a) for a in (x, gamma, mean, variance, dy)]
    extra = [tf.constant(y)] + ([tf.constant(beta)] if with_beta else [])

    def run(fused):
        with tf.GradientTape() as tape:
            for a in args:
                tape.watch(a)
            if fused:
                dx = nn._bn_grad.bind(*args, zeros, zeros, *extra, epsilon=EPS,
                                      activation="relu")[0]
            else:
                masked = args[4] * tf.cast(extra[0] > 0, tf.float64)
                dx = nn._bn_grad.bind(*args[:4], masked, zeros, zeros, epsilon=EPS)[0]
            loss = tf.reduce_sum(dx * h)
        return [dx.numpy()] + [g.numpy() for g in tape.gradient(loss, args)]
    for name, got, want in zip(("dx", "x", "gamma", "mean", "variance", "dy"), run(True),
                               run(False)):
        assert_same_bits(got, want, name)


# ------------------------------------------------------------------ Keras

def _fit(monkeypatch, fusion, dtype="float32"):
    if not fusion:
        monkeypatch.setattr(nb, "BATCH_NORM_ACTIVATIONS", ())
    else:
        monkeypatch.setattr(nb, "BATCH_NORM_ACTIVATIONS", ("relu",))
    keras.utils.set_random_seed(0)
    layers = keras.layers
    inputs = keras.Input((8, 8, 3), dtype=dtype)
    h = layers.Conv2D(16, 3, padding="same", dtype=dtype)(inputs)
    h = layers.Activation("relu", dtype=dtype)(layers.BatchNormalization(dtype=dtype)(h))
    h = layers.SeparableConv2D(32, 3, padding="same", dtype=dtype)(h)
    h = layers.ReLU(dtype=dtype)(layers.BatchNormalization(dtype=dtype)(h))
    out = layers.Dense(1, dtype=dtype)(layers.GlobalAveragePooling2D(dtype=dtype)(h))
    model = keras.Model(inputs, out)
    model.compile(loss="mse", optimizer="adam")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 8, 8, 3)).astype(dtype)
    y = rng.standard_normal((24, 1)).astype(dtype)
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False)
    return history.history, [v.numpy() for v in model.weights]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_keras_fit_is_identical_with_the_fusion_on_and_off(monkeypatch, dtype):
    on_history, on_weights = _fit(monkeypatch, True, dtype)
    off_history, off_weights = _fit(monkeypatch, False, dtype)
    with passes.disabled():
        plain_history, plain_weights = _fit(monkeypatch, True, dtype)
    assert on_history == off_history == plain_history
    # (weights, moving means and variances)
    assert len(on_weights) == len(off_weights) == len(plain_weights) > 8
    for a, b, c in zip(on_weights, off_weights, plain_weights):
        assert_same_bits(a, b, "weight")
        assert_same_bits(a, c, "weight")


def test_keras_train_step_is_fused(monkeypatch):
    monkeypatch.setattr(nb, "BATCH_NORM_ACTIVATIONS", ("relu",))
    layers = keras.layers
    model = keras.Sequential([keras.Input((6, 6, 16)), layers.BatchNormalization(),
                              layers.Activation("relu"), layers.Flatten(), layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    x = np.random.default_rng(0).standard_normal((4, 6, 6, 16)).astype("float32")
    model.fit(x, np.zeros((4, 1), "float32"), verbose=0)
    found = [n.attrs.get("activation") for function in model.train_function._functions.values()
             for concrete in function._cache.values() for n in concrete.graph.nodes
             if n.type.startswith("batch_norm_training")]
    assert found == ["relu", "relu"]  # (the forward's and its gradient's)
