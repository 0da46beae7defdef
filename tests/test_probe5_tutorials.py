"""Probe round 5, TensorFlow tutorials with custom training loops (DCGAN, CVAE, style
transfer, word2vec, advanced autodiff, custom gradients). TensorFlow is not available here:
expected values are NumPy computations and the behaviour TF 2.21 showed in the probes."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.ops import nn
from tensorflux.ops._static import RuntimeShape
from tests.ops import harness
from tests.ops.harness import Row
from tests.ops.table_nn import ref_avg_pool_grad, ref_conv2d_transpose


def test_batch_jacobian_of_an_unconnected_source_is_zeros_not_none():
    # TF 2.21 returns zeros of shape [batch] + target.shape[1:] + source.shape[1:] here,
    # while jacobian returns None (the advanced-autodiff tutorial forgets tape.watch(x)).
    x = tf.constant(np.arange(6, dtype="float32").reshape(3, 2))
    w = tf.Variable(np.ones((2, 4), "float32"))
    with tf.GradientTape(persistent=True) as tape:
        y = tf.matmul(x, w)
    bj = tape.batch_jacobian(y, x)
    assert bj.shape == (3, 4, 2) and bj.dtype == tf.float32
    np.testing.assert_array_equal(bj.numpy(), np.zeros((3, 4, 2), "float32"))
    assert tape.jacobian(y, x) is None


def test_batch_jacobian_matches_per_example_derivative():
    x = tf.constant([[1.0, 2.0], [3.0, -1.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.stack([x[:, 0] * x[:, 1], x[:, 0] ** 2], axis=1)
    bj = tape.batch_jacobian(y, x).numpy()
    xs = x.numpy()
    want = np.stack([[[r[1], r[0]], [2 * r[0], 0.0]] for r in xs])
    np.testing.assert_allclose(bj, want, rtol=1e-6)


def test_unknown_rank_input_signature_traces_reductions_and_shapes():
    # The integrated-gradients tutorial: tf.TensorSpec(shape=None) with reduce_sum inside.
    @tf.function(input_signature=(tf.TensorSpec(shape=None, dtype=tf.float32),))
    def f(x):
        return tf.reduce_sum(x), tf.reduce_mean(x, 0), tf.rank(x), tf.transpose(x)

    x = np.arange(6, dtype="float32").reshape(2, 3)
    total, mean, rank, xt = f(tf.constant(x))
    assert float(total) == 15.0 and int(rank) == 2
    np.testing.assert_allclose(mean.numpy(), x.mean(0))
    np.testing.assert_array_equal(xt.numpy(), x.T)
    # another rank through the same signature
    assert float(f(tf.constant([1.0, 2.0]))[0]) == 3.0


def test_reduce_retracing_across_ranks_still_runs():
    @tf.function(reduce_retracing=True)
    def f(x):
        return tf.reduce_sum(x * x, axis=-1)

    assert f(tf.ones([2])).numpy().tolist() == 2.0
    assert f(tf.ones([2, 3])).numpy().tolist() == [3.0, 3.0]
    assert f(tf.ones([4, 2, 2])).numpy().shape == (4, 2)


def _conv_loss_grads(x, w, strides, padding):
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        y = tf.nn.conv2d(x, w, strides, padding)
        z = tf.nn.avg_pool2d(y, 2, 2, "SAME")
        loss = tf.reduce_sum(z * z)
    return tape.gradient(loss, x), tape.gradient(loss, w)


def test_conv_and_avg_pool_gradients_with_unknown_spatial_dims_in_tf_function():
    # DeepDream: input_signature [None, None, 3] and a tape over the model in the function.
    rng = np.random.RandomState(0)
    w = tf.constant(rng.standard_normal((3, 3, 3, 2)).astype("float32"))
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    for hw, strides, padding in [((7, 8), 2, "SAME"), ((8, 7), 2, "VALID"), ((5, 6), 1, "SAME")]:
        x = tf.constant(rng.standard_normal((2,) + hw + (3,)).astype("float32"))
        traced = tf.function(lambda a, s=strides, p=padding: _conv_loss_grads(a, w, s, p),
                             input_signature=(spec,))
        gx, gw = traced(x)
        ex, ew = _conv_loss_grads(x, w, strides, padding)
        np.testing.assert_allclose(gx.numpy(), ex.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(gw.numpy(), ew.numpy(), rtol=1e-5, atol=1e-5)
        # central differences on one input element (float64 reference)
        x64 = x.numpy().astype("float64")
        w64 = tf.constant(w.numpy().astype("float64"))

        def loss_at(v, w64=w64, strides=strides, padding=padding):
            y = tf.nn.conv2d(tf.constant(v), w64, strides, padding)
            return float(tf.reduce_sum(tf.nn.avg_pool2d(y, 2, 2, "SAME") ** 2))
        e = np.zeros_like(x64)
        e[1, hw[0] - 1, hw[1] - 2, 2] = 1e-5
        fd = (loss_at(x64 + e) - loss_at(x64 - e)) / 2e-5
        assert abs(gx.numpy()[1, hw[0] - 1, hw[1] - 2, 2] - fd) < 1e-3 * max(1.0, abs(fd))


def test_second_order_through_dynamic_conv_input_gradient():
    rng = np.random.RandomState(1)
    w = tf.Variable(rng.standard_normal((2, 2, 1, 1)).astype("float32"))
    x = tf.constant(rng.standard_normal((1, 5, 4, 1)).astype("float32"))

    def grad_norm(a):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(a)
                loss = tf.reduce_sum(tf.nn.conv2d(a, w, 2, "SAME") ** 2)
            gx = inner.gradient(loss, a)
            penalty = tf.reduce_sum(gx * gx)
        return outer.gradient(penalty, w)

    traced = tf.function(grad_norm, input_signature=(tf.TensorSpec([None, None, None, 1]),))
    np.testing.assert_allclose(traced(x).numpy(), grad_norm(x).numpy(), rtol=1e-5, atol=1e-6)


def test_tape_watch_of_an_eager_constant_inside_tf_function():
    # An eager tensor closed over by a tf.function, watched inside it (TF: gradient 2 * x).
    c = tf.constant([1.0, 2.0, 3.0])

    @tf.function
    def grads(scale):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(c)
            y = tf.reduce_sum(c * c) * scale
            z = c * scale
        return tape.gradient(y, c), tape.jacobian(z, c)

    g, j = grads(tf.constant(2.0))
    np.testing.assert_allclose(g.numpy(), [4.0, 8.0, 12.0])
    np.testing.assert_allclose(j.numpy(), 2.0 * np.eye(3))


# The run-time-shape gradient primitives (traced with unknown dims) through the op-table
# checks: forward against loop references, VJPs against central differences, shape rules.
_CONV = dict(strides=(2, 2), padding="SAME", dilations=(1, 1), data_format="NHWC")
_POOL = dict(ksize=(3, 3), strides=(2, 2), padding="SAME", data_format="NHWC")
ROWS = [
    Row("conv2d_backprop_input_dynamic", lambda w, g: nn._conv2d_backprop_input_dynamic.bind(
        w, g, tf.constant([1, 5, 6, 2]),
        branches=RuntimeShape(nn._backprop_input_kernel, (2,), **_CONV)),
        lambda w, g: ref_conv2d_transpose(g, w, (1, 5, 6, 2), (2, 2),
                                          "SAME"),
        harness.uniform((3, 3, 2, 3), (1, 3, 3, 3)), second_order=True),
    Row("avg_pool2d_grad_dynamic", lambda g: nn._avg_pool2d_grad_dynamic.bind(
        g, tf.constant([1, 5, 5, 2]),
        branches=RuntimeShape(nn._avg_pool_grad_kernel, (1,), **_POOL)),
        lambda g: ref_avg_pool_grad((1, 5, 5, 2), g, (3, 3), (2, 2), "SAME"),
        harness.uniform((1, 3, 3, 2))),
]
_IDS = [r.name for r in ROWS]


@pytest.mark.parametrize("row", ROWS, ids=_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dynamic_gradient_primitives_forward(row, dtype):
    harness.check_forward(row, dtype)


@pytest.mark.parametrize("row", ROWS, ids=_IDS)
def test_dynamic_gradient_primitives_vjp_and_shape_rule(row):
    harness.check_vjp(row)
    harness.check_shape_rules(row)
    if row.second_order:
        harness.check_second_order(row)


def test_apply_gradients_refuses_a_gradient_of_another_shape_even_of_equal_size():
    # TF: InvalidArgumentError "Cannot update variable with shape [3,2] using a Tensor with
    # shape [2,3]"; flattened updates used to apply it silently.
    from tensorflux import keras

    v = tf.Variable(np.ones((3, 2), "float32"))
    w = tf.Variable(1.0)
    for grads in ([(tf.ones((2, 3)), v)], [(tf.ones(()), w), (tf.ones((2, 3)), v)]):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \(3, 2\).*\(2, 3\)"):
            keras.optimizers.SGD(0.1).apply_gradients(grads)
    np.testing.assert_array_equal(v.numpy(), np.ones((3, 2), "float32"))
    opt = keras.optimizers.SGD(0.5)
    opt.apply_gradients([(tf.ones((3, 2)), v)])
    np.testing.assert_allclose(v.numpy(), np.full((3, 2), 0.5))


def test_gradient_through_tensor_array_written_in_a_traced_loop():
    # The tf.function guide's RNN: a TensorArray (no element_shape) written in a tf.range loop.
    @tf.function
    def rnn(xs, w):
        ta = tf.TensorArray(tf.float32, size=3)
        s = tf.constant(0.0)
        for i in tf.range(3):
            s = tf.tanh(s * w + xs[i])
            ta = ta.write(i, s)
        return tf.reduce_sum(ta.stack())

    xs = [1.0, 0.5, -1.0]
    w = tf.Variable(0.5)
    with tf.GradientTape() as tape:
        y = rnn(tf.constant(xs), w)
    # float64 reference: forward recursion with ds/dw carried along
    s, ds, total, dtotal = 0.0, 0.0, 0.0, 0.0
    for x in xs:
        pre = s * 0.5 + x
        s_new = np.tanh(pre)
        ds = (1 - s_new ** 2) * (ds * 0.5 + s)
        s = s_new
        total += s
        dtotal += ds
    assert abs(float(y) - total) < 1e-6
    assert abs(float(tape.gradient(y, w)) - dtotal) < 1e-6


def test_gradient_of_a_none_target_is_a_type_error():
    x = tf.constant([1.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
    with pytest.raises(TypeError, match="target must be a tensor.*received None"):
        tape.gradient(None, x)


def test_conv2d_transpose_to_an_output_shape_known_only_at_run_time():
    # A traced generator on images of unknown size: output_shape computed from tf.shape.
    rng = np.random.RandomState(0)
    w = rng.standard_normal((3, 3, 2, 3)).astype("float32")
    x = rng.standard_normal((2, 4, 5, 3)).astype("float32")

    def up(a):
        s = tf.shape(a)
        return tf.nn.conv2d_transpose(a, w, tf.stack([s[0], s[1] * 2, s[2] * 2, 2]), 2, "SAME")

    traced = tf.function(up, input_signature=(tf.TensorSpec([None, None, None, 3]),))
    got = traced(tf.constant(x)).numpy()
    want = ref_conv2d_transpose(x.astype("float64"), w.astype("float64"), (2, 8, 10, 2), (2, 2),
                                "SAME")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # an output shape that does not match the input fails at run time
    bad = tf.function(lambda a: tf.nn.conv2d_transpose(
        a, w, tf.stack([tf.shape(a)[0], 3, 3, 2]) + 0 * tf.shape(a)[1], 2, "SAME"),
        input_signature=(tf.TensorSpec([None, None, None, 3]),))
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        bad(tf.constant(x))


def test_reducing_a_tensor_of_unknown_rank_says_what_is_unsupported():
    f = tf.function(lambda x: tf.reduce_sum(x))
    with pytest.raises(tf.errors.UnimplementedError, match="reduce_sum: the input has an unknown"):
        f.get_concrete_function(tf.TensorSpec(None, tf.float32))


def test_batch_jacobian_with_a_batch_size_known_only_at_run_time():
    w = tf.Variable([[0.5, -1.0], [2.0, 0.3], [0.1, 0.1]])
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], "float32")

    @tf.function(input_signature=(tf.TensorSpec([None, 3]),))
    def bjac(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = tf.tanh(a @ w)
        return tape.batch_jacobian(y, a)

    got = bjac(tf.constant(x)).numpy()
    # float64 reference: d tanh(x w)_i / dx_j = (1 - tanh^2) w[j, i]
    w64 = w.numpy().astype("float64")
    t = np.tanh(x.astype("float64") @ w64)
    want = (1 - t ** 2)[:, :, None] * w64.T[None]
    assert got.shape == (2, 2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_jacobian_of_a_target_of_run_time_size_in_tf_function():
    w = tf.Variable([[0.5, -1.0], [2.0, 0.3], [0.1, 0.1]])
    other = tf.Variable(1.0)
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], "float32")

    @tf.function(input_signature=(tf.TensorSpec([None, 3]),))
    def jac(a):
        with tf.GradientTape(persistent=True) as tape:
            y = tf.tanh(a @ w)
        return (tape.jacobian(y, w), tape.jacobian(y, other),
                tape.jacobian(y, other, unconnected_gradients="zero"))

    full, none, zeros = jac(tf.constant(x))
    # float64 reference: d y[b, i] / d w[j, k] = (1 - y[b, i]^2) x[b, j] [i == k]
    t = np.tanh(x.astype("float64") @ w.numpy().astype("float64"))
    want = np.einsum("bi,bj,ik->bijk", 1 - t ** 2, x.astype("float64"), np.eye(2))
    np.testing.assert_allclose(full.numpy(), want, rtol=1e-5, atol=1e-6)
    assert none is None
    assert zeros.shape == (2, 2) and not zeros.numpy().any()
