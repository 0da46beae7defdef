"""The eager engine's cheaper mechanisms (session 15): fast paths that also serve ops under
a GradientTape and ops reading Variables, the backward walker's eager unbroadcasting, and
the tape's records. Each fast path must give what the ordinary path through bind gives:
the same values and dtypes (bit for bit), the same errors, the same tape records; gradients
are checked against NumPy float64 closed forms."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.autodiff.backward import sum_to_shape
from tensorflux.ops import array, linalg, math, nn, reduction

InvalidArgument = tf.errors.InvalidArgumentError

# The primitives whose fast paths these tests reach, to close them (a primitive whose
# `_backend` is not the eager backend takes the ordinary path; bind then sets it again).
_PRIMITIVES = [linalg._matmul, math._add, math._multiply, math._subtract, math._divide,
               math._maximum, math._minimum, math._less, math._less_equal, math._greater,
               math._greater_equal, math._negative, math._log, math._sigmoid, math._cast,
               math._select, math._exp, nn._relu, reduction._reduce_sum,
               reduction._reduce_mean, array._fill_like,
               array._reshape, array._broadcast_to]


def _ordinary(fn):
    """fn() with every fast path closed: the ordinary path through bind."""
    for primitive in _PRIMITIVES:
        primitive._backend = None
    return fn()


def _same(a, b):
    assert a.__class__ is b.__class__ is tf.Tensor
    assert a.dtype is b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def _rng(seed=0):
    return np.random.default_rng(seed)


def _cases():
    rng = _rng()
    a = tf.constant(rng.standard_normal((4, 3)).astype(np.float32))
    b = tf.constant(rng.standard_normal((4, 3)).astype(np.float32))
    m = tf.constant(rng.standard_normal((3, 5)).astype(np.float32))
    v = tf.Variable(rng.standard_normal((3, 5)).astype(np.float32))
    cond = tf.constant(rng.standard_normal((4, 3)) > 0)
    bias = tf.constant(rng.standard_normal(3).astype(np.float32))
    ints = tf.constant(rng.integers(-5, 5, (4, 3)).astype(np.int32))
    return [
        lambda: tf.matmul(a, m), lambda: tf.matmul(a, v), lambda: tf.matmul(v, m,
                                                                             transpose_a=True),
        lambda: tf.matmul(a, b, transpose_b=True), lambda: tf.matmul(a, b, transpose_a=True),
        lambda: tf.matmul(ints, tf.transpose(ints)), lambda: a - b, lambda: a - 1.5,
        lambda: a / b, lambda: a / 2.0, lambda: tf.maximum(a, b), lambda: tf.minimum(a, 0.0),
        lambda: a < b, lambda: a <= b, lambda: a > b, lambda: a >= 0.0, lambda: -a,
        lambda: -ints, lambda: tf.math.log(tf.abs(a)), lambda: tf.sigmoid(a),
        lambda: tf.cast(a, tf.int32), lambda: tf.cast(ints, tf.float64),
        lambda: tf.cast(a, tf.float32), lambda: tf.where(cond, a, b),
        lambda: tf.where(cond, a, bias), lambda: tf.nn.relu(a), lambda: tf.nn.relu(ints),
        lambda: tf.zeros_like(a), lambda: tf.ones_like(ints), lambda: tf.reshape(a, [3, 4]),
        lambda: tf.reshape(a, (12,)), lambda: tf.reshape(a, [4, 3]),
        lambda: tf.broadcast_to(bias, [4, 3]), lambda: tf.broadcast_to(bias, (2, 4, 3)),
        lambda: tf.broadcast_to(a, a.shape), lambda: tf.reduce_sum(a, axis=[0]),
        lambda: tf.reduce_sum(a, axis=(0, 1)), lambda: tf.reduce_sum(a, axis=[1], keepdims=True),
        lambda: a + b, lambda: a * b, lambda: a * 3.0, lambda: tf.exp(a),
        lambda: tf.add(m, v), lambda: tf.add(v, m), lambda: m - v, lambda: m / v,
        lambda: tf.maximum(m, v), lambda: m < v, lambda: tf.reduce_mean(a),
        lambda: tf.reduce_mean(a, axis=-1), lambda: tf.reduce_mean(a, axis=[0, 1]),
        lambda: tf.reduce_mean(a, axis=0, keepdims=True), lambda: tf.reduce_mean(ints, 1),
    ]


def test_fast_paths_give_the_ordinary_paths_values_bit_for_bit():
    for case in _cases():
        case()  # (binds each kernel and caches the Python scalars)
        fast = case()
        _same(fast, _ordinary(case))
        _same(fast, case())


def test_fast_paths_keep_the_ordinary_errors():
    a = tf.constant(np.ones((2, 3), np.float32))
    v = tf.Variable(np.ones((4, 5), np.float32))
    cases = [
        (lambda: tf.matmul(a, v), InvalidArgument, "matmul: inner dimensions differ"),
        (lambda: tf.add(a, v), InvalidArgument, "add"),
        (lambda: tf.add(v, tf.ones((4, 5), tf.float64)), InvalidArgument, "same dtype"),
        (lambda: a - v, InvalidArgument, "subtract"),
        (lambda: tf.matmul(v, a, transpose_a=True), InvalidArgument, "inner dimensions"),
        (lambda: tf.where(tf.constant([True, False, True, False]), a, a), InvalidArgument,
         "where"),
        (lambda: tf.reshape(a, [4, 2]), InvalidArgument, "reshape: cannot reshape"),
        (lambda: tf.broadcast_to(a, [3, 3]), InvalidArgument, "broadcast_to"),
        (lambda: a - tf.constant(np.ones((2, 3))), InvalidArgument, "same dtype"),
        (lambda: tf.maximum(a, tf.ones((4, 4))), InvalidArgument, "maximum"),
        (lambda: tf.math.log(tf.constant([1, 2])), InvalidArgument, "log: expected"),
        (lambda: tf.nn.relu(tf.constant([True])), InvalidArgument, "relu"),
        (lambda: tf.reduce_sum(a, axis=[0, 2]), InvalidArgument, "out of range"),
        (lambda: tf.reduce_mean(a, axis=2), InvalidArgument, "out of range"),
        (lambda: tf.reduce_mean(tf.constant([True])), InvalidArgument, "reduce_mean"),
    ]
    for fn, error, message in cases:
        texts = []
        for run in (fn, lambda fn=fn: _ordinary(fn), fn):
            with pytest.raises(error, match=message) as caught:
                run()
            texts.append((type(caught.value), str(caught.value)))
        assert texts[0] == texts[1] == texts[2]


def _records(tape):
    return [(node.primitive.name, tuple(id(x) for x in node.inputs), dict(node.attrs))
            for node in tape._nodes]


def test_a_tape_records_the_fast_paths_as_bind_does():
    rng = _rng(1)
    x = tf.constant(rng.standard_normal((4, 3)).astype(np.float32))
    w = tf.Variable(rng.standard_normal((3, 2)).astype(np.float32))
    c = tf.constant(rng.standard_normal((4, 2)) > 0)

    def step():
        h = tf.matmul(x, w)
        h = tf.nn.relu(h - 0.5) * 2.0 + tf.where(c, h, tf.zeros_like(h))
        h = tf.reshape(tf.sigmoid(h) / 3.0, [8])
        return tf.reduce_sum(tf.cast(tf.maximum(h, 0.25), tf.float64), axis=[0])

    step()
    recorded = []
    for run in (step, lambda: _ordinary(step)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = run()
        recorded.append((_records(tape), tape.watched_variables(),
                         [g.numpy() for g in tape.gradient(y, [x, w])]))
    (fast_nodes, fast_watched, fast_grads), (nodes, watched, grads) = recorded
    assert [n[0] for n in fast_nodes] == [n[0] for n in nodes]
    assert [n[2] for n in fast_nodes] == [n[2] for n in nodes]
    assert fast_watched == watched and watched[0] is w
    for got, expected in zip(fast_grads, grads):
        np.testing.assert_array_equal(got, expected)


def _mlp_numpy(x, weights, y):
    """Dense(relu) -> Dense(sigmoid) -> mean binary cross-entropy, and its gradients, in
    float64 (the closed form)."""
    w1, b1, w2, b2 = weights
    z1 = x @ w1 + b1
    h = np.maximum(z1, 0)
    z2 = h @ w2 + b2
    p = 1 / (1 + np.exp(-z2))
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    dz2 = (p - y) / y.size
    dh = dz2 @ w2.T
    dz1 = dh * (z1 > 0)
    return loss, [x.T @ dz1, dz1.sum(0), h.T @ dz2, dz2.sum(0)]


@pytest.mark.parametrize("persistent", [False, True])
def test_mlp_gradients_match_the_float64_closed_form(persistent):
    rng = _rng(2)
    x = rng.standard_normal((10, 8))
    y = (rng.uniform(size=(10, 1)) < 0.5).astype(np.float64)
    values = [rng.standard_normal((8, 6)) * 0.5, rng.standard_normal(6) * 0.1,
              rng.standard_normal((6, 1)) * 0.5, rng.standard_normal(1) * 0.1]
    weights = [tf.Variable(v.astype(np.float32)) for v in values]
    tx, ty = tf.constant(x.astype(np.float32)), tf.constant(y.astype(np.float32))
    for _ in range(2):
        with tf.GradientTape(persistent=persistent) as tape:
            h = tf.nn.relu(tf.matmul(tx, weights[0]) + weights[1])
            p = tf.sigmoid(tf.matmul(h, weights[2]) + weights[3])
            loss = -tf.reduce_mean(ty * tf.math.log(p) + (1.0 - ty) * tf.math.log(1.0 - p))
        grads = tape.gradient(loss, weights)
        expected_loss, expected = _mlp_numpy(x, values, y)
        np.testing.assert_allclose(loss.numpy(), expected_loss, rtol=1e-5)
        for g, e, w in zip(grads, expected, weights):
            assert g.dtype is tf.float32 and g.shape == w.shape
            np.testing.assert_allclose(g.numpy(), e, rtol=1e-4, atol=1e-6)
        if persistent:
            again = tape.gradient(loss, weights)
            for g, h in zip(grads, again):
                np.testing.assert_array_equal(g.numpy(), h.numpy())


def test_unbroadcasting_sums_each_input_back_to_its_shape():
    rng = _rng(3)
    g = tf.constant(rng.standard_normal((5, 4, 3)).astype(np.float32))
    for like, axes in [(np.zeros(3, np.float32), (0, 1)),
                       (np.zeros((4, 1), np.float32), (0, 2)),
                       (np.zeros((1, 4, 3), np.float32), (0,)),
                       (np.zeros((), np.float32), (0, 1, 2))]:
        expected = g.numpy().astype(np.float64).sum(axis=axes).reshape(like.shape)
        for target in (tf.constant(like), tf.Variable(like)):
            out = sum_to_shape(g, target)
            assert out.shape == like.shape and out.dtype is tf.float32
            np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    same = sum_to_shape(g, tf.Variable(np.zeros((5, 4, 3), np.float32)))
    assert same is g
    cast = sum_to_shape(g, tf.constant(np.zeros((5, 4, 3))))
    assert cast.dtype is tf.float64
    np.testing.assert_array_equal(cast.numpy(), g.numpy().astype(np.float64))


def test_variable_shape_and_gradients_of_a_partly_known_variable():
    v = tf.Variable(np.ones(3, np.float32), shape=tf.TensorShape([None]))
    assert v.shape.as_list() == [None]
    w = tf.Variable(np.ones((2, 3), np.float32))
    assert w.shape == (2, 3) and w.shape.as_list() == [2, 3]
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(v * tf.constant([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [1.0, 2.0, 3.0])


def test_nested_tapes_record_fast_ops_for_second_derivatives():
    x = tf.constant([0.5, -1.5, 2.0])
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = tf.reduce_sum(x * x * x - 2.0 * x)
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    np.testing.assert_allclose(dy.numpy(), 3 * x.numpy() ** 2 - 2, rtol=1e-6)
    np.testing.assert_allclose(d2y.numpy(), 6 * x.numpy(), rtol=1e-6)


def test_accessed_variables_unconnected_and_integer_sources():
    v = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    u = tf.Variable([[1.0], [1.0]])
    frozen = tf.Variable([[2.0], [0.5]], trainable=False)
    n = tf.constant([1, 2])
    x = tf.constant([[1.0, 1.0]])
    with tf.GradientTape(persistent=True) as tape:
        y = tf.reduce_sum(tf.matmul(tf.matmul(x, v), frozen))
    assert tape.watched_variables() == (v,)
    gv, gu, gf, gn = tape.gradient(y, [v, u, frozen, n])
    np.testing.assert_array_equal(gv.numpy(), [[2.0, 0.5], [2.0, 0.5]])
    assert gu is None and gf is None and gn is None
    zeros = tape.gradient(y, [u, frozen], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    for z, s in zip(zeros, [u, frozen]):
        np.testing.assert_array_equal(z.numpy(), np.zeros(s.shape))
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        y = tf.reduce_sum(tf.matmul(x, v))
    assert tape.watched_variables() == () and tape.gradient(y, v) is None


def test_gather_gradient_and_int_matmul():
    params = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.gather(params, [0, 2, 2]) * tf.constant([1.0, 2.0, 3.0]))
    g = tf.convert_to_tensor(tape.gradient(y, params))
    expected = np.zeros((4, 3), np.float32)
    expected[0] += [1, 2, 3]
    expected[2] += 2 * np.array([1, 2, 3], np.float32)
    np.testing.assert_array_equal(g.numpy(), expected)
    k = tf.constant(np.arange(6, dtype=np.int32).reshape(2, 3))
    out = tf.matmul(k, k, transpose_b=True)
    assert out.dtype is tf.int32
    np.testing.assert_array_equal(out.numpy(), k.numpy() @ k.numpy().T)


def test_gradients_traced_inside_a_function_match_eager():
    rng = _rng(4)
    w = tf.Variable(rng.standard_normal((3, 2)).astype(np.float32))
    b = tf.Variable(np.zeros(2, np.float32))
    x = tf.constant(rng.standard_normal((5, 3)).astype(np.float32))

    def grads():
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.matmul(x, w) + b)
            loss = tf.reduce_mean(tf.where(h > 0.1, h * h, tf.zeros_like(h)))
        return tape.gradient(loss, [w, b])

    eager = grads()
    traced = tf.function(grads)()
    for e, t in zip(eager, traced):
        np.testing.assert_allclose(t.numpy(), e.numpy(), rtol=1e-6, atol=1e-7)


def test_stateless_scope_reads_still_reach_the_mapped_values():
    from tensorflux import keras

    v = tf.Variable([[1.0, 2.0]])
    x = tf.constant([[3.0], [4.0]])
    mapped = tf.constant([[10.0, 20.0]])
    with keras.StatelessScope(state_mapping=[(v, mapped)]):
        out = tf.matmul(x, v)
    np.testing.assert_array_equal(out.numpy(), [[30.0, 60.0], [40.0, 80.0]])
    np.testing.assert_array_equal(tf.matmul(x, v).numpy(), [[3.0, 6.0], [4.0, 8.0]])


def test_select_and_clip_gradients_follow_the_choice():
    x = tf.constant([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]])
    y = tf.constant([0.0, -2.0, 5.0])
    cond = tf.constant([True, False, True])
    w = tf.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        picked = tf.reduce_sum(tf.where(cond, x, y) * w)
        clipped = tf.reduce_sum(tf.maximum(x, y) * w + tf.minimum(x, 0.0) * w)
    gx, gy = tape.gradient(picked, [x, y])
    np.testing.assert_array_equal(gx.numpy(), w.numpy() * [1, 0, 1])
    np.testing.assert_array_equal(gy.numpy(), (w.numpy() * [0, 1, 0]).sum(0))
    gx, gy = tape.gradient(clipped, [x, y])
    xv, yv, wv = x.numpy(), y.numpy(), w.numpy()
    x_wins = xv >= yv  # (ties to x, as TF)
    np.testing.assert_array_equal(gx.numpy(), wv * x_wins + wv * (xv <= 0.0))
    np.testing.assert_array_equal(gy.numpy(), (wv * ~x_wins).sum(0))


@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_matmul_gradients_of_one_side_alone(transpose_a, transpose_b):
    rng = _rng(5)
    a = rng.standard_normal((3, 4) if not transpose_a else (4, 3))
    b = rng.standard_normal((4, 2) if not transpose_b else (2, 4))
    w = rng.standard_normal((3, 2))
    op_a = a.T if transpose_a else a
    op_b = b.T if transpose_b else b
    expected_a = w @ op_b.T
    expected_b = op_a.T @ w
    expected_a, expected_b = (expected_a.T if transpose_a else expected_a,
                              expected_b.T if transpose_b else expected_b)
    ta, tb, tw = tf.constant(a), tf.Variable(b), tf.constant(w)
    for sources, expected in [([ta], [expected_a]), ([tb], [expected_b]),
                              ([ta, tb], [expected_a, expected_b])]:
        with tf.GradientTape() as tape:
            tape.watch(ta)
            y = tf.reduce_sum(tf.matmul(ta, tb, transpose_a=transpose_a,
                                        transpose_b=transpose_b) * tw)
        for g, e in zip(tape.gradient(y, sources), expected):
            np.testing.assert_allclose(g.numpy(), e, rtol=1e-12)


def test_batched_rows_times_a_matrix_and_complex_gradients():
    rng = _rng(6)
    x = rng.standard_normal((2, 3, 4))
    k = rng.standard_normal((4, 5))
    tx, tk = tf.constant(x), tf.Variable(k)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(tx)
        y = tf.reduce_sum(tf.matmul(tx, tk))
    np.testing.assert_allclose(tape.gradient(y, tk).numpy(),
                               np.ones((6, 5)).T.dot(x.reshape(6, 4)).T, rtol=1e-12)
    np.testing.assert_allclose(tape.gradient(y, tx).numpy(),
                               np.ones((2, 3, 5)) @ k.T, rtol=1e-12)
    c = rng.standard_normal((2, 2)) + 1j * rng.standard_normal((2, 2))
    d = rng.standard_normal((2, 2)) + 1j * rng.standard_normal((2, 2))
    tc, td = tf.constant(c), tf.constant(d)
    with tf.GradientTape() as tape:
        tape.watch(tc)
        y = tf.reduce_sum(tf.matmul(tc, td))
    # TF's convention for a real loss of complex inputs: conj(d(loss)/dc) = g @ conj(d)^T
    np.testing.assert_allclose(tape.gradient(y, tc).numpy(), np.ones((2, 2)) @ np.conj(d).T,
                               rtol=1e-12)


def test_custom_gradient_sees_the_variables_its_fast_ops_read():
    w = tf.Variable([[2.0], [3.0]])
    seen = []

    @tf.custom_gradient
    def f(x):
        y = tf.matmul(x, w) + tf.add(tf.zeros_like(x[:, :1]), 1.0)

        def grad(upstream, variables=None):
            seen.append(list(variables))
            return tf.ones_like(x) * 10.0, [tf.ones_like(w) * 7.0]

        return y, grad

    x = tf.constant([[1.0, 1.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    gx, gw = tape.gradient(y, [x, w])
    assert len(seen) == 1 and len(seen[0]) == 1 and seen[0][0] is w
    np.testing.assert_array_equal(gx.numpy(), [[10.0, 10.0]])
    np.testing.assert_array_equal(gw.numpy(), [[7.0], [7.0]])


def test_conv2d_filter_gradient_alone_matches_the_closed_form():
    rng = _rng(7)
    x = rng.standard_normal((2, 5, 6, 3))
    w = rng.standard_normal((2, 3, 3, 4))
    r = rng.standard_normal((2, 4, 4, 4))
    expected_w = np.zeros_like(w)
    for i in range(2):
        for j in range(3):
            expected_w[i, j] = np.einsum("bhwc,bhwo->co", x[:, i:i + 4, j:j + 4], r)
    expected_x = np.zeros_like(x)
    for i in range(2):
        for j in range(3):
            expected_x[:, i:i + 4, j:j + 4] += np.einsum("bhwo,co->bhwc", r, w[i, j])
    tx, tw, tr = tf.constant(x), tf.Variable(w), tf.constant(r)
    found = []
    for sources in ([tw], [tx, tw], [tx]):
        with tf.GradientTape() as tape:
            tape.watch(tx)
            y = tf.reduce_sum(tf.nn.conv2d(tx, tw, 1, "VALID") * tr)
        found.append(tape.gradient(y, sources))
    (gw,), (gx, gw_both), (gx_alone,) = found
    np.testing.assert_allclose(gw.numpy(), expected_w, rtol=1e-10)
    np.testing.assert_allclose(gx.numpy(), expected_x, rtol=1e-10)
    np.testing.assert_array_equal(gw.numpy(), gw_both.numpy())
    np.testing.assert_array_equal(gx.numpy(), gx_alone.numpy())
