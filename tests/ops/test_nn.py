"""tf.nn behaviour: numerical stability cases (reliability.md 1.4), semantics and bad input."""

import math

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.ops import nn
from tensorflux.ops import random as tfr

InvalidArgumentError = tf.errors.InvalidArgumentError


# ------------------------------------------------------------------ stability

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_with_finfo_max_in_a_row(dtype):
    # TF softmax_op_test.py::_testOverflow.
    big = np.finfo(dtype).max
    features = np.array([[1.0, 1.0, 1.0, 1.0], [big, 1.0, 2.0, 3.0]], dtype)
    got = nn.log_softmax(tf.constant(features)).numpy()
    expected = np.array([[-1.386294] * 4, [0.0, -big, -big, -big]])
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_with_large_logits(dtype):
    x = tf.constant(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype))
    np.testing.assert_allclose(nn.softmax(x).numpy(),
                               [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    np.testing.assert_allclose(nn.log_softmax(x).numpy(),
                               [[0.0, -2e4, -1e4], [-math.log(3)] * 3], rtol=1e-6)
    pair = nn.log_softmax(tf.constant(np.array([1000.0, 1000.0], dtype)))
    np.testing.assert_allclose(pair.numpy(), [-math.log(2)] * 2, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_over_many_short_rows_is_the_row_by_row_formula(dtype):
    # (Rows of a few classes take the maximum over a transposed copy: the same numbers.)
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((256, 10)) * 30).astype(dtype)
    x[3, 1] = np.nan
    x[5, :] = -np.inf
    x[6, 0] = np.inf
    x[7, :] = 0.0
    x[7, 0] = -0.0
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    with np.errstate(all="ignore"):
        expected_softmax = e / np.add.reduce(e, axis=-1, keepdims=True)
        expected_log = shifted - np.log(np.add.reduce(e, axis=-1, keepdims=True))
    np.testing.assert_array_equal(nn.softmax(tf.constant(x)).numpy(), expected_softmax)
    np.testing.assert_array_equal(nn.log_softmax(tf.constant(x)).numpy(), expected_log)


def _tf_test_sigmoid_xent(logits, targets):
    # nn_xent_test.py's own reference: clipped probabilities, float64 Python math.
    losses = []
    for x, z in zip(logits, targets):
        p = min(max(1 / (1 + math.exp(-x)), 1e-4), 1 - 1e-4)
        losses.append(-z * math.log(p) - (1 - z) * math.log(1 - p))
    return losses


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_sigmoid_cross_entropy_at_plus_minus_100(dtype):
    logits = [-100.0, -2.0, -2.0, 0.0, 2.0, 2.0, 2.0, 100.0]
    targets = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.5, 1.0]
    loss = nn.sigmoid_cross_entropy_with_logits(labels=tf.constant(np.array(targets, dtype)),
                                                logits=tf.constant(np.array(logits, dtype)))
    assert loss.dtype == tf.as_dtype(dtype)
    assert np.all(np.isfinite(loss.numpy()))
    np.testing.assert_allclose(loss.numpy().astype(np.float64),
                               _tf_test_sigmoid_xent(logits, targets), atol=1e-3)


def test_sigmoid_cross_entropy_gradient_at_zero():
    logits = tf.constant([0.0, 0.0], dtype=tf.float64)
    targets = tf.constant([0.0, 1.0], dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = tf.reduce_sum(nn.sigmoid_cross_entropy_with_logits(targets, logits))
    np.testing.assert_array_equal(tape.gradient(loss, logits).numpy(), [0.5, -0.5])


_TAIL_LOGITS = [37.42994775023705, 0.0]
_TAIL = 5.551115123125775e-17


def _assert_small_tail(grad):
    np.testing.assert_allclose(grad, [_TAIL, -_TAIL], rtol=1e-14, atol=0)
    assert grad[0] == -grad[1]


def test_softmax_gradient_preserves_small_component():
    # The gradient of softmax(z)[0] (cotangent [1, 0]): both entries are +-5.55e-17, where
    # the textbook out * (g - <g, out>) rounds the first to 0 (jax#40386).
    z = tf.constant(_TAIL_LOGITS, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = nn.softmax(z)
    grad = tape.gradient(y, z, output_gradients=tf.constant([1.0, 0.0], tf.float64))
    _assert_small_tail(grad.numpy())


def test_softmax_cross_entropy_double_gradient_preserves_small_component():
    # d/dz of the first entry of d xent / dz = softmax(z) - labels.
    z = tf.constant(_TAIL_LOGITS, dtype=tf.float64)
    labels = tf.constant([1.0, 0.0], dtype=tf.float64)
    with tf.GradientTape() as outer:
        outer.watch(z)
        with tf.GradientTape() as inner:
            inner.watch(z)
            loss = nn.softmax_cross_entropy_with_logits(labels, z)
        first = inner.gradient(loss, z)
        picked = tf.reduce_sum(first * tf.constant([1.0, 0.0], tf.float64))
    _assert_small_tail(outer.gradient(picked, z).numpy())


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_softmax_cross_entropies_at_plus_minus_100(dtype):
    logits = tf.constant(np.array([[100.0, -100.0], [-100.0, 100.0]], dtype))
    dense = nn.softmax_cross_entropy_with_logits(
        tf.constant(np.array([[1.0, 0.0], [1.0, 0.0]], dtype)), logits)
    sparse = nn.sparse_softmax_cross_entropy_with_logits(tf.constant([0, 0]), logits)
    for loss in (dense, sparse):
        assert loss.dtype == tf.as_dtype(dtype)
        np.testing.assert_allclose(loss.numpy().astype(np.float64), [0.0, 200.0], atol=1e-3)


def test_softmax_cross_entropy_of_equal_huge_logits_is_log_2():
    loss = nn.softmax_cross_entropy_with_logits([1.0, 0.0], tf.constant([1000.0, 1000.0]))
    assert abs(float(loss) - math.log(2)) < 1e-6


# ------------------------------------------------------------------ semantics

def test_relu_gradient_at_zero_is_zero_and_leaky_relu_casts_integers():
    x = tf.constant([-1.0, 0.0, 2.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(nn.relu(x))
    assert tape.gradient(y, x).numpy().tolist() == [0.0, 0.0, 1.0]
    assert nn.relu(tf.constant([-3, 4])).numpy().tolist() == [0, 4]
    leaky = nn.leaky_relu(tf.constant([-2, 3]))
    assert leaky.dtype == tf.float32
    np.testing.assert_allclose(leaky.numpy(), [-0.4, 3.0], rtol=1e-6)


def test_gelu_known_values():
    # Phi(1) = 0.841344746...; the tanh form gives 0.841191990...
    assert abs(float(nn.gelu(tf.constant(1.0, tf.float64))) - 0.8413447460685429) < 1e-15
    approx = nn.gelu(tf.constant(1.0, tf.float64), approximate=True)
    assert abs(float(approx) - 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715))) \
        < 1e-15


def test_avg_pool_same_averages_only_real_elements():
    x = tf.reshape(tf.constant([1.0, 2.0, 3.0, 4.0]), [1, 2, 2, 1])
    y = nn.avg_pool2d(x, 2, 1, "SAME")
    # Windows: {1,2,3,4}, {2,4}, {3,4}, {4}; padding is not counted.
    assert y.numpy().ravel().tolist() == [2.5, 3.0, 3.5, 4.0]


def test_max_pool_padding_never_wins_and_ties_go_to_the_first():
    x = tf.constant(np.full((1, 2, 2, 1), -5.0, np.float32))
    assert nn.max_pool2d(x, 3, 1, "SAME").numpy().ravel().tolist() == [-5.0] * 4
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = nn.max_pool2d(x, 2, 2, "VALID")
    grad = tape.gradient(y, x).numpy().ravel().tolist()
    assert grad == [1.0, 0.0, 0.0, 0.0]


def _max_pool_2x2_gradient(x, g):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = nn.max_pool2d(x, 2, 2, "VALID")
        total = tf.reduce_sum(y * tf.constant(g))
    return tape.gradient(total, x).numpy()


def test_max_pool_2x2_gradient_matches_the_general_path_on_ties_nan_and_inf(monkeypatch):
    # 2x2 windows at stride 2 take their own path, also where VALID pooling leaves a last row
    # or column out of every window (zero gradient there); the general path (the fast one
    # turned off) must agree bit for bit.
    from tensorflux.backends import numpy_backend
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, (2, 4, 6, 3)).astype(np.float32)  # small integers: many ties
    g = rng.standard_normal((2, 2, 3, 3)).astype(np.float32)
    x_nan = x.copy()
    x_nan[0, 0, 1, 0] = x_nan[0, 1, 0, 0] = np.nan  # the window's first NaN takes g
    g_inf = g.copy()
    g_inf[1, 1, 2, 2] = np.inf
    cases = []
    for xs, gs in ((x, g), (x_nan, g), (x, g_inf), (-np.abs(x), g)):
        extra_row = np.concatenate([xs, np.full_like(xs[:, :1], 7)], axis=1)
        extra_both = np.concatenate([extra_row, np.full_like(extra_row[:, :, :1], 7)], axis=2)
        cases += [(xs, gs), (extra_row, gs), (extra_both, gs)]
    fast = [_max_pool_2x2_gradient(xs, gs) for xs, gs in cases]
    assert _max_pool_2x2_gradient(x_nan, g)[0, 0, 1, 0] == g[0, 0, 0, 0]
    assert not fast[2][:, 4:].any() and not fast[2][:, :, 6:].any()
    monkeypatch.setattr(numpy_backend, "_nn_pool_2x2_grad", lambda *args: None)
    for (xs, gs), result in zip(cases, fast):
        np.testing.assert_array_equal(result, _max_pool_2x2_gradient(xs, gs))


def test_conv2d_nchw_matches_nhwc_and_grouped_matches_split():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5, 4))
    w = rng.standard_normal((3, 2, 2, 6))
    nhwc = nn.conv2d(tf.constant(x), tf.constant(w), [1, 2, 1, 1], "SAME")
    nchw = nn.conv2d(tf.constant(x.transpose(0, 3, 1, 2)), tf.constant(w), [1, 1, 2, 1],
                     "SAME", data_format="NCHW")
    np.testing.assert_allclose(nchw.numpy().transpose(0, 2, 3, 1), nhwc.numpy(), rtol=1e-12)
    halves = [nn.conv2d(tf.constant(x[..., 2 * g:2 * g + 2]), tf.constant(w[..., 3 * g:3 * g + 3]),
                        [1, 2, 1, 1], "SAME").numpy() for g in range(2)]
    np.testing.assert_allclose(nhwc.numpy(), np.concatenate(halves, axis=-1), rtol=1e-12)


def test_conv2d_transpose_is_the_input_gradient_of_conv2d():
    rng = np.random.default_rng(2)
    x = tf.constant(rng.standard_normal((2, 7, 6, 3)))
    w = tf.constant(rng.standard_normal((3, 3, 3, 4)))
    g = tf.constant(rng.standard_normal((2, 4, 3, 4)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = nn.conv2d(x, w, 2, "SAME", dilations=1)
    grad = tape.gradient(y, x, output_gradients=g)
    transposed = nn.conv2d_transpose(g, w, [2, 7, 6, 3], 2, "SAME")
    np.testing.assert_allclose(transposed.numpy(), grad.numpy(), rtol=1e-12)


def test_conv2d_float16_and_moments_float16_keep_their_dtype():
    x = tf.constant(np.ones((1, 3, 3, 2), np.float16))
    w = tf.constant(np.ones((2, 2, 2, 1), np.float16))
    y = nn.conv2d(x, w, 1, "VALID")
    assert y.dtype == tf.float16 and y.numpy().ravel().tolist() == [8.0] * 4
    mean, variance = nn.moments(tf.constant(np.array([1, 2, 3, 4], np.float16)), [0])
    assert mean.dtype == tf.float16 and float(mean) == 2.5 and float(variance) == 1.25


def test_dropout_scales_kept_elements_and_zeroes_about_rate():
    x = tf.ones([100, 100])
    y = nn.dropout(x, rate=0.25, seed=3).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.03
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = nn.dropout(x, rate=0.5, seed=4)
    grad = tape.gradient(z, x).numpy()
    np.testing.assert_array_equal(grad, z.numpy())  # x is ones: the gradient is the mask


def test_dropout_seeds_and_noise_shape():
    tfr.set_seed(11)
    first = nn.dropout(tf.ones([50]), 0.5, seed=1).numpy()
    tfr.set_seed(11)
    again = nn.dropout(tf.ones([50]), 0.5, seed=1).numpy()
    np.testing.assert_array_equal(first, again)
    shared = nn.dropout(tf.ones([4, 30]), 0.5, noise_shape=[1, 30], seed=2).numpy()
    assert (shared == shared[0]).all()
    x = tf.constant([1.0, 2.0])
    assert nn.dropout(x, 0.0) is x


def test_bias_add_and_l2_loss():
    assert nn.bias_add(tf.zeros([1, 2, 2]), [1.0, 2.0], data_format="NCW").numpy().tolist() \
        == [[[1.0, 1.0], [2.0, 2.0]]]
    assert float(nn.l2_loss(tf.constant([3.0, 4.0]))) == 12.5


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("label", [-1, 3])
def test_sparse_labels_out_of_range_name_value_and_classes(label):
    logits = tf.zeros([2, 3])
    labels = tf.constant([0, label])
    with pytest.raises(InvalidArgumentError,
                       match=rf"sparse_softmax_cross_entropy_with_logits.*{label}.*\[0, 3\)"):
        nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    with pytest.raises(InvalidArgumentError, match=rf"label value of {label}"):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            nn.sparse_softmax_cross_entropy_with_logits(labels, logits)


def test_sparse_labels_must_be_integers_of_the_right_shape():
    with pytest.raises(InvalidArgumentError, match=r"integer.*float32"):
        nn.sparse_softmax_cross_entropy_with_logits(tf.constant([0.0]), tf.zeros([1, 3]))
    with pytest.raises(InvalidArgumentError, match=r"\(2, 2\).*\(2, 3\)"):
        nn.sparse_softmax_cross_entropy_with_logits(tf.constant([[0, 1], [1, 0]]),
                                                    tf.zeros([2, 3]))


@pytest.mark.parametrize("loss", [nn.sigmoid_cross_entropy_with_logits,
                                  nn.softmax_cross_entropy_with_logits])
def test_cross_entropy_shape_mismatch_is_a_value_error(loss):
    with pytest.raises(ValueError, match=r"must have the same shape.*\(2, 3\).*\(2, 4\)"):
        loss(labels=tf.zeros([2, 4]), logits=tf.zeros([2, 3]))


def test_cross_entropy_dtype_mismatch():
    with pytest.raises(InvalidArgumentError, match="float64"):
        nn.sigmoid_cross_entropy_with_logits(tf.zeros([2], tf.float64), tf.zeros([2]))


def test_conv_channels_mismatch_names_both_shapes():
    with pytest.raises(InvalidArgumentError,
                       match=r"conv2d.*3 channels.*\(2, 5, 5, 3\).*\(3, 3, 2, 3\)"):
        nn.conv2d(tf.zeros([2, 5, 5, 3]), tf.zeros([3, 3, 2, 3]), 1, "SAME")
    with pytest.raises(InvalidArgumentError, match=r"depthwise_conv2d.*\(1, 4, 4, 3\)"):
        nn.depthwise_conv2d(tf.zeros([1, 4, 4, 3]), tf.zeros([3, 3, 2, 1]), [1, 1, 1, 1], "SAME")


@pytest.mark.parametrize("call", [
    lambda p: nn.conv2d(tf.zeros([1, 4, 4, 1]), tf.zeros([2, 2, 1, 1]), 1, p),
    lambda p: nn.max_pool2d(tf.zeros([1, 4, 4, 1]), 2, 1, p),
    lambda p: nn.avg_pool1d(tf.zeros([1, 4, 1]), 2, 1, p),
])
def test_invalid_padding_name(call):
    with pytest.raises(InvalidArgumentError, match=r"padding must be .*'FULL'"):
        call("FULL")


def test_avg_pool_rejects_explicit_padding_and_bad_ranks():
    with pytest.raises(InvalidArgumentError, match="avg_pool2d: padding"):
        nn.avg_pool2d(tf.zeros([1, 4, 4, 1]), 2, 1, [[0, 0], [1, 1], [1, 1], [0, 0]])
    with pytest.raises(InvalidArgumentError, match=r"conv2d.*rank 4.*\(4, 4, 1\)"):
        nn.conv2d(tf.zeros([4, 4, 1]), tf.zeros([2, 2, 1, 1]), 1, "SAME")
    with pytest.raises(InvalidArgumentError, match=r"max_pool.*rank 3 or 4"):
        nn.max_pool(tf.zeros([4, 4]), 2, 1, "SAME")


def test_kernel_larger_than_input_with_valid_padding():
    with pytest.raises(InvalidArgumentError, match=r"conv2d.*\(3, 3, 1, 1\).*\(1, 2, 2, 1\)"):
        nn.conv2d(tf.zeros([1, 2, 2, 1]), tf.zeros([3, 3, 1, 1]), 1, "VALID")
    assert nn.conv2d(tf.zeros([1, 2, 2, 1]), tf.zeros([3, 3, 1, 1]), 1, "SAME").shape \
        == tf.TensorShape([1, 2, 2, 1])


def test_pool_window_larger_than_input():
    with pytest.raises(InvalidArgumentError, match=r"max_pool2d.*\[3, 3\].*\(1, 2, 2, 1\)"):
        nn.max_pool2d(tf.zeros([1, 2, 2, 1]), 3, 1, "VALID")
    with pytest.raises(InvalidArgumentError, match=r"avg_pool1d"):
        nn.avg_pool1d(tf.zeros([1, 2, 1]), 3, 1, "VALID")
    assert nn.max_pool2d(tf.zeros([1, 2, 2, 1]), 3, 1, "SAME").shape \
        == tf.TensorShape([1, 2, 2, 1])


def test_bad_strides_data_format_and_transpose_output_shape():
    x, w = tf.zeros([1, 4, 4, 1]), tf.zeros([2, 2, 1, 1])
    with pytest.raises(InvalidArgumentError, match="strides"):
        nn.conv2d(x, w, [2, 1, 1, 1], "SAME")
    with pytest.raises(InvalidArgumentError, match="strides"):
        nn.conv2d(x, w, 0, "SAME")
    with pytest.raises(InvalidArgumentError, match="data_format"):
        nn.conv2d(x, w, 1, "SAME", data_format="HWCN")
    with pytest.raises(InvalidArgumentError, match=r"conv2d_transpose.*\[1, 9, 9, 1\]"):
        nn.conv2d_transpose(x, w, [1, 9, 9, 1], 2, "SAME")


def test_dropout_rate_must_be_in_zero_one():
    for rate in (1.0, -0.1, 1.5):
        with pytest.raises(InvalidArgumentError, match=r"dropout: rate .*\[0, 1\)"):
            nn.dropout(tf.ones([3]), rate)
    with pytest.raises(InvalidArgumentError, match="dropout.*floating"):
        nn.dropout(tf.constant([1, 2]), 0.5)
    with pytest.raises(InvalidArgumentError, match="noise_shape"):
        nn.dropout(tf.ones([2, 3]), 0.5, noise_shape=[2, 2])


def test_bias_add_and_softmax_bad_input():
    with pytest.raises(InvalidArgumentError, match=r"bias_add.*3 elements.*\(2, 4\)"):
        nn.bias_add(tf.zeros([2, 4]), tf.zeros([3]))
    with pytest.raises(InvalidArgumentError, match="softmax.*axis 2"):
        nn.softmax(tf.zeros([2, 2]), axis=2)
    with pytest.raises(InvalidArgumentError, match="softmax.*floating.*int32"):
        nn.softmax(tf.constant([1, 2]))


def test_empty_inputs_give_empty_outputs():
    assert nn.softmax(tf.zeros([0, 3])).shape == tf.TensorShape([0, 3])
    assert nn.log_softmax(tf.zeros([2, 0])).shape == tf.TensorShape([2, 0])
    loss = nn.softmax_cross_entropy_with_logits(tf.zeros([0, 3]), tf.zeros([0, 3]))
    assert loss.shape == tf.TensorShape([0])
    sparse = nn.sparse_softmax_cross_entropy_with_logits(tf.zeros([0], tf.int32),
                                                         tf.zeros([0, 3]))
    assert sparse.shape == tf.TensorShape([0])
    y = nn.conv2d(tf.zeros([0, 4, 4, 2]), tf.zeros([3, 3, 2, 5]), 1, "SAME")
    assert y.shape == tf.TensorShape([0, 4, 4, 5])


def test_conv1d_explicit_padding_follows_the_data_format():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 6))
    w = tf.constant(rng.standard_normal((3, 2, 2)))
    ncw = nn.conv1d(tf.constant(x), w, 1, [[0, 0], [0, 0], [1, 2]], data_format="NCW")
    nwc = nn.conv1d(tf.constant(x.transpose(0, 2, 1)), w, 1, [[0, 0], [1, 2], [0, 0]])
    assert ncw.shape == tf.TensorShape([1, 2, 7])
    np.testing.assert_allclose(ncw.numpy(), nwc.numpy().transpose(0, 2, 1), rtol=1e-12)


def test_large_relu_and_its_compiled_bias_add_are_bit_exact():
    # Large ReLUs take the max against a zero row (with a tail), and a compiled bias add +
    # ReLU runs by row blocks: both give np.maximum's bits (NaN, -0.0, -inf included).
    rng = np.random.default_rng(6)
    x = rng.standard_normal((48, 13, 13, 8)).astype(np.float32)  # 64896: 1024-rows + tail
    x.reshape(-1)[:4] = [np.nan, -0.0, -np.inf, np.inf]
    b = rng.standard_normal(8).astype(np.float32)
    assert nn.relu(tf.constant(x)).numpy().tobytes() == np.maximum(x, 0).tobytes()
    fused = tf.function(lambda t, u: nn.relu(t + u))
    assert fused(tf.constant(x), tf.constant(b)).numpy().tobytes() == np.maximum(x + b,
                                                                                  0).tobytes()
    big = rng.standard_normal((96, 26, 26, 32)).astype(np.float32)  # large enough for blocks
    got = fused(tf.constant(big), tf.constant(b.repeat(4)))
    assert got.numpy().tobytes() == np.maximum(big + b.repeat(4), 0).tobytes()
