"""tf.nn / tf.random / tf.signal gaps filled against TensorFlow 2.21: candidate samplers,
safe sparse embedding lookups, collapse_repeated, global batch norm, depthwise gradients,
isotonic regression, approximate top-k, fractional pooling, n-dimensional FFTs and the MDCT.

Expected values are TensorFlow 2.21's outputs (observed with tensorflow-cpu 2.21.0) or NumPy
float64 / closed forms; random draws are tested by their distribution.
"""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors
from tensorflux.ops import nn_more


def _numeric_grad(fn, x, eps=1e-6):
    """Central differences of the scalar fn at the float64 array x."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        grad[idx] = (fn(up) - fn(down)) / (2 * eps)
    return grad


def _tape_grad(fn, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tf.convert_to_tensor(tape.gradient(y, x)).numpy()


# ------------------------------------------------------------------ candidate samplers

TRUE = [[1, 3], [0, 9]]


def test_samplers_are_in_tf_nn_and_tf_random():
    for name in ("all_candidate_sampler", "fixed_unigram_candidate_sampler",
                 "learned_unigram_candidate_sampler"):
        assert callable(getattr(tf.nn, name)) and callable(getattr(tf.random, name))


def test_all_candidate_sampler_matches_tf():
    # TF 2.21: ([0, 1, 2, 3, 4], ones [2, 2], ones [5]) whatever `unique`.
    ids, true_count, sampled_count = tf.nn.all_candidate_sampler([[1, 3], [0, 2]], 2, 5, False)
    assert ids.numpy().tolist() == [0, 1, 2, 3, 4] and ids.dtype == tf.int64
    assert true_count.numpy().tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert sampled_count.numpy().tolist() == [1.0] * 5 and sampled_count.dtype == tf.float32


def test_fixed_unigram_expected_counts_closed_form():
    unigrams = np.arange(1.0, 11.0)
    ids, true_count, sampled_count = tf.nn.fixed_unigram_candidate_sampler(
        TRUE, 2, 3, False, 10, unigrams=unigrams.tolist(), distortion=0.5, seed=3)
    p = unigrams ** 0.5 / np.sum(unigrams ** 0.5)
    np.testing.assert_allclose(true_count.numpy(), 3 * p[np.array(TRUE)], rtol=1e-6)
    np.testing.assert_allclose(sampled_count.numpy(), 3 * p[ids.numpy()], rtol=1e-6)
    # TF 2.21 printed true_expected_count [[0.18882802, 0.26704317], [0.13352159, 0.42223233]]
    np.testing.assert_allclose(true_count.numpy(), [[0.18882802, 0.26704317],
                                                    [0.13352159, 0.42223233]], rtol=1e-6)


def test_fixed_unigram_reserved_ids_get_no_mass():
    # TF 2.21: true_expected_count [[0, 1/6], [0, 2/3]] (ids 0, 1 reserved; counts 1..8).
    ids, true_count, _ = tf.random.fixed_unigram_candidate_sampler(
        TRUE, 2, 3, False, 10, unigrams=[1., 2, 3, 4, 5, 6, 7, 8], num_reserved_ids=2, seed=3)
    np.testing.assert_allclose(true_count.numpy(), [[0.0, 1 / 6], [0.0, 2 / 3]], rtol=1e-6)
    assert set(ids.numpy().tolist()) <= set(range(2, 10))


def test_fixed_unigram_shard_numbers_its_ids_compactly():
    # TF 2.21: shard 1 of 2 keeps ids 1, 3, 5, 7, 9 (counts 2, 4, 6, 8, 10) as ids 0..4;
    # range_max must be 5, and true classes [[1, 3]] expect 3 * [4, 8] / 30 = [0.4, 0.8].
    ids, true_count, _ = tf.random.fixed_unigram_candidate_sampler(
        [[1, 3]], 2, 3, False, 5, unigrams=list(range(1, 11)), num_shards=2, shard=1, seed=3)
    np.testing.assert_allclose(true_count.numpy(), [[0.4, 0.8]], rtol=1e-6)
    assert set(ids.numpy().tolist()) <= set(range(5))
    with pytest.raises(errors.InvalidArgumentError, match="range_max"):
        tf.random.fixed_unigram_candidate_sampler(
            [[1, 3]], 2, 3, False, 10, unigrams=list(range(1, 11)), num_shards=2, shard=1)


def test_unique_sampling_without_repeats_expects_p_times_num_sampled():
    # TF 2.21 (uniform, unique, range 10, 4 samples that took 4 tries) gave 0.4 = 4 * 0.1, not
    # 1 - 0.9 ** 4: the tries formula is used only when a draw repeated. Over 100000 ids, two
    # draws (seeded) do not repeat.
    _, true_count, sampled_count = tf.random.uniform_candidate_sampler(
        [[5]], 1, 2, True, 100000, seed=4)
    np.testing.assert_allclose(true_count.numpy(), [[2e-5]], rtol=1e-6)
    np.testing.assert_allclose(sampled_count.numpy(), [2e-5, 2e-5], rtol=1e-6)


def test_unique_sampling_with_repeats_uses_the_number_of_tries():
    # 8 distinct ids out of 10 almost surely take more than 8 draws: then every expected
    # count is 1 - (1 - p)^tries for one whole number of tries > 8 (as TF's 0.68618941 for
    # p = 0.1, 11 tries).
    ids, true_count, sampled_count = tf.random.log_uniform_candidate_sampler(
        [[0]], 1, 8, True, 10, seed=5)
    c = np.arange(10.0)
    p = np.log((c + 2) / (c + 1)) / np.log(11.0)
    tries = np.log1p(-sampled_count.numpy().astype(np.float64)) / np.log1p(-p[ids.numpy()])
    assert len(set(ids.numpy().tolist())) == 8
    np.testing.assert_allclose(tries, np.round(tries[0]), rtol=1e-4)
    assert np.round(tries[0]) > 8
    np.testing.assert_allclose(true_count.numpy()[0, 0], 1 - (1 - p[0]) ** np.round(tries[0]),
                               rtol=1e-5)


def test_learned_unigram_first_draw_is_uniform():
    # TF 2.21, a fresh kernel: every id has count 1, so p = 1 / range_max; non-unique
    # expected counts num_sampled / range_max (0.4 for 4 of 10).
    ids, true_count, sampled_count = tf.nn.learned_unigram_candidate_sampler(
        TRUE, 2, 4, False, 10, seed=3)
    np.testing.assert_allclose(true_count.numpy(), np.full((2, 2), 0.4), rtol=1e-6)
    np.testing.assert_allclose(sampled_count.numpy(), np.full(4, 0.4), rtol=1e-6)
    ids, _, _ = tf.random.learned_unigram_candidate_sampler([[0]], 1, 20000, False, 5, seed=7)
    counts = np.bincount(ids.numpy(), minlength=5)
    # Each count is Binomial(20000, 0.2): sd 57, so 6 sd is a bound that does not flake.
    assert counts.sum() == 20000 and np.all(np.abs(counts - 4000) < 340)


def test_sampler_errors():
    with pytest.raises(errors.InvalidArgumentError, match="num_sampled"):
        tf.nn.learned_unigram_candidate_sampler([[0]], 1, 12, True, 10)
    with pytest.raises(errors.InvalidArgumentError, match="num_sampled"):
        tf.nn.learned_unigram_candidate_sampler([[0]], 1, 0, True, 10)
    with pytest.raises(errors.InvalidArgumentError, match="num_true=2"):
        tf.nn.learned_unigram_candidate_sampler([[0]], 2, 1, True, 10)


# ------------------------------------------------------------------ safe_embedding_lookup_sparse

W = np.arange(12, dtype=np.float32).reshape(4, 3)


def _ids_and_weights():
    ids = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0], [3, 0], [3, 1]],
                                 tf.constant([1, -1, 2, 3, 0], tf.int64), [5, 2])
    weights = tf.sparse.SparseTensor([[0, 0], [0, 1], [1, 0], [3, 0], [3, 1]],
                                     [2.0, 1.0, 0.0, 1.0, 3.0], [5, 2])
    return ids, weights


SQRTN_ROW3 = [2.8460497856140137, 4.110960960388184, 5.3758721351623535]


@pytest.mark.parametrize("combiner, default_id, expected", [
    # TF 2.21's outputs. A negative id is dropped; with a mean or sqrtn combiner so is a
    # non-positive weight (row 1), but not with sum (its row stays, adding zero).
    ("mean", None, [[3, 4, 5], [0, 0, 0], [0, 0, 0], [2.25, 3.25, 4.25], [0, 0, 0]]),
    ("mean", 2, [[3, 4, 5], [6, 7, 8], [6, 7, 8], [2.25, 3.25, 4.25], [6, 7, 8]]),
    ("sum", None, [[6, 8, 10], [0, 0, 0], [0, 0, 0], [9, 13, 17], [0, 0, 0]]),
    ("sum", 2, [[6, 8, 10], [0, 0, 0], [6, 7, 8], [9, 13, 17], [6, 7, 8]]),
    ("sqrtn", None, [[3, 4, 5], [0, 0, 0], [0, 0, 0], SQRTN_ROW3, [0, 0, 0]]),
    ("sqrtn", 2, [[3, 4, 5], [6, 7, 8], [6, 7, 8], SQRTN_ROW3, [6, 7, 8]]),
])
def test_safe_embedding_lookup_sparse_matches_tf(combiner, default_id, expected):
    ids, weights = _ids_and_weights()
    out = tf.nn.safe_embedding_lookup_sparse(W, ids, weights, combiner=combiner,
                                             default_id=default_id)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_safe_embedding_lookup_sparse_variants_match_tf():
    ids, _ = _ids_and_weights()
    out = tf.nn.safe_embedding_lookup_sparse(W, ids, None)
    np.testing.assert_allclose(out.numpy(), [[3, 4, 5], [6, 7, 8], [0, 0, 0], [4.5, 5.5, 6.5],
                                             [0, 0, 0]])
    # A list of tables is one table split in contiguous shards (TF 2.21's "div").
    out = tf.nn.safe_embedding_lookup_sparse([W[:2], W[2:]], ids, None, default_id=0)
    np.testing.assert_allclose(out.numpy(), [[3, 4, 5], [6, 7, 8], [0, 1, 2], [4.5, 5.5, 6.5],
                                             [0, 1, 2]])
    out = tf.nn.safe_embedding_lookup_sparse(W, ids, None, max_norm=5.0)
    np.testing.assert_allclose(out.numpy()[1], [2.457695722579956, 2.867311716079712,
                                                3.2769277095794678], rtol=1e-6)
    # Rank-3 ids: one embedding per [i, j], shape [2, 3, 3].
    ids3 = tf.sparse.SparseTensor([[0, 0, 0], [0, 1, 0], [0, 1, 1], [1, 0, 0]],
                                  tf.constant([1, 2, 3, 0], tf.int64), [2, 3, 2])
    out = tf.nn.safe_embedding_lookup_sparse(W, ids3, None, combiner="sum")
    np.testing.assert_allclose(out.numpy(), [[[3, 4, 5], [15, 17, 19], [0, 0, 0]],
                                             [[0, 1, 2], [0, 0, 0], [0, 0, 0]]])
    with pytest.raises(ValueError, match="combiner"):
        tf.nn.safe_embedding_lookup_sparse(W, ids, None, combiner="max")


def test_safe_embedding_lookup_sparse_gradient():
    ids, weights = _ids_and_weights()
    probe = np.linspace(-1.0, 1.0, 15).reshape(5, 3)

    def loss(table):
        out = tf.nn.safe_embedding_lookup_sparse(table, ids, weights, combiner="sqrtn",
                                                 default_id=2)
        return tf.reduce_sum(out * probe)

    grad = _tape_grad(loss, W.astype(np.float64))
    numeric = _numeric_grad(lambda t: float(loss(tf.constant(t))), W.astype(np.float64))
    np.testing.assert_allclose(grad, numeric, atol=1e-6)
    # TF 2.21's gradient of the plain sum: [0.9487, 1, 3, 0.3162] per row.
    ones = _tape_grad(lambda t: tf.reduce_sum(tf.nn.safe_embedding_lookup_sparse(
        t, ids, weights, combiner="sqrtn", default_id=2)), W)
    np.testing.assert_allclose(ones[:, 0], [0.9486832618713379, 1.0, 3.0, 0.3162277638912201],
                               rtol=1e-6)


# ------------------------------------------------------------------ collapse_repeated, bn

def test_collapse_repeated_matches_tf():
    out, length = tf.nn.collapse_repeated([[1, 1, 2, 2, 3, 0], [4, 4, 4, 5, 5, 5],
                                           [7, 7, 7, 7, 7, 7]], [6, 4, 2])
    assert out.numpy().tolist() == [[1, 2, 3, 0], [4, 5, 0, 0], [7, 0, 0, 0]]
    assert length.numpy().tolist() == [4, 2, 1]
    out, length = tf.nn.collapse_repeated([[1, 1, 2], [3, 3, 3]], [0, 2])
    assert out.numpy().tolist() == [[0], [3]] and length.numpy().tolist() == [0, 1]
    with pytest.raises(errors.InvalidArgumentError, match="labels"):
        tf.nn.collapse_repeated([1, 1, 2], [3])


@pytest.mark.parametrize("scale", [True, False])
def test_batch_norm_with_global_normalization(scale):
    x = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    m, v = np.array([0.1, 0.2, -0.1, 0.0]), np.array([1.0, 0.5, 2.0, 0.25])
    b, g = np.array([0., 1., 2., 3.]), np.array([1., 2., 3., 4.])
    out = tf.nn.batch_norm_with_global_normalization(x, m, v, b, g, 0.001, scale)
    expected = (x - m) / np.sqrt(v + 0.001) * (g if scale else 1.0) + b
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    # TF 2.21 (float32): the first row with scale_after_normalization=True.
    if scale:
        np.testing.assert_allclose(
            out.numpy()[0, 0], [-1.0994504690170288, -2.145019054412842, 0.46012187004089355,
                                -2.9012532234191895], rtol=1e-5)


# ------------------------------------------------------------------ depthwise gradients

def _depthwise_np(x, f, stride, padding):
    """float64 depthwise convolution, NHWC, equal strides."""
    n, h, w, c = x.shape
    kh, kw, _, m = f.shape
    if padding == "SAME":
        oh, ow = -(-h // stride), -(-w // stride)
        ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    y = np.zeros((n, oh, ow, c * m))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            y[:, i, j, :] = np.einsum("nhwc,hwcm->ncm", patch, f).reshape(n, -1)
    return y


@pytest.mark.parametrize("stride, padding", [(2, "SAME"), (1, "VALID")])
def test_depthwise_backprops_against_numpy(stride, padding):
    rng = np.random.RandomState(0)
    x, f = rng.randn(1, 5, 5, 2), rng.randn(3, 3, 2, 2)
    dy = rng.randn(*_depthwise_np(x, f, stride, padding).shape)
    # The conv is bilinear: each gradient entry is <dy, conv of a unit tensor>.
    df = np.zeros_like(f)
    for idx in np.ndindex(f.shape):
        unit = np.zeros_like(f)
        unit[idx] = 1
        df[idx] = np.sum(dy * _depthwise_np(x, unit, stride, padding))
    dx = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        unit = np.zeros_like(x)
        unit[idx] = 1
        dx[idx] = np.sum(dy * _depthwise_np(unit, f, stride, padding))
    strides = [1, stride, stride, 1]
    got_f = tf.nn.depthwise_conv2d_backprop_filter(x, [3, 3, 2, 2], dy, strides, padding)
    got_x = tf.nn.depthwise_conv2d_backprop_input([1, 5, 5, 2], f, dy, strides, padding)
    np.testing.assert_allclose(got_f.numpy(), df, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_x.numpy(), dx, rtol=1e-10, atol=1e-12)
    assert got_f.shape == (3, 3, 2, 2) and got_x.shape == (1, 5, 5, 2)


def test_depthwise_backprop_input_is_differentiable():
    rng = np.random.RandomState(1)
    f, dy, probe = rng.randn(2, 2, 2, 1), rng.randn(1, 3, 3, 2), rng.randn(1, 4, 4, 2)

    def loss(filters):
        dx = tf.nn.depthwise_conv2d_backprop_input([1, 4, 4, 2], filters, dy, [1, 1, 1, 1],
                                                   "VALID")
        return tf.reduce_sum(dx * probe)

    numeric = _numeric_grad(lambda t: float(loss(tf.constant(t))), f)
    np.testing.assert_allclose(_tape_grad(loss, f), numeric, atol=1e-6)


# ------------------------------------------------------------------ isotonic regression

def test_isotonic_regression_matches_tf():
    data = [[1., 3., 2., 4.], [5., 1., 2., 0.]]
    out, segments = tf.nn.isotonic_regression(data)
    assert out.numpy().tolist() == [[2.5, 2.5, 2.5, 2.5], [5.0, 1.5, 1.5, 0.0]]
    assert segments.numpy().tolist() == [[0, 0, 0, 0], [0, 1, 1, 2]]
    out, segments = tf.nn.isotonic_regression(data, decreasing=False)
    assert out.numpy().tolist() == [[1.0, 2.5, 2.5, 4.0], [2.0, 2.0, 2.0, 2.0]]
    assert segments.numpy().tolist() == [[0, 1, 1, 2], [0, 0, 0, 0]]
    out, segments = tf.nn.isotonic_regression([[1., 3.], [2., 4.], [0., 5.]], axis=0)
    assert out.numpy().tolist() == [[1.5, 4.0], [1.5, 4.0], [0.0, 4.0]]
    assert segments.numpy().tolist() == [[0, 0], [0, 0], [1, 0]]
    # Equal neighbouring means stay separate blocks; integers give float32.
    out, segments = tf.nn.isotonic_regression([[1, 3, 2]])
    assert out.dtype == tf.float32 and out.numpy().tolist() == [[2.0, 2.0, 2.0]]
    assert segments.numpy().tolist() == [[0, 0, 1]]


def test_isotonic_regression_in_a_function_and_gradient():
    fn = tf.function(lambda z: tf.nn.isotonic_regression(z))
    out, segments = fn(tf.constant([[5., 1., 2., 0.]]))
    assert out.numpy().tolist() == [[5.0, 1.5, 1.5, 0.0]]
    weights = np.array([[1., 2., 3., 4., 5.]])

    def loss(x):
        return tf.reduce_sum(tf.nn.isotonic_regression(x)[0] * weights)

    x = np.array([[1., 3., 2., 4., 0.5]])
    grad = _tape_grad(loss, x)
    np.testing.assert_allclose(grad, [[2.5, 2.5, 2.5, 2.5, 5.0]])  # TF 2.21's gradient
    np.testing.assert_allclose(grad, _numeric_grad(lambda t: float(loss(tf.constant(t))), x),
                               atol=1e-6)


# ------------------------------------------------------------------ approx top-k

def test_approx_top_k_is_exact():
    values, indices = tf.nn.approx_max_k([[1., 5., 3.], [4., 2., 6.]], 2)
    assert values.numpy().tolist() == [[5.0, 3.0], [6.0, 4.0]]  # TF 2.21
    assert indices.numpy().tolist() == [[1, 2], [2, 0]] and indices.dtype == tf.int32
    values, indices = tf.nn.approx_min_k([[1., 5., 3.], [4., 2., 6.]], 1, reduction_dimension=0)
    assert values.numpy().tolist() == [[1.0, 2.0, 3.0]] and indices.numpy().tolist() == [[0, 1,
                                                                                          0]]
    with pytest.raises(errors.InvalidArgumentError, match="at least k columns"):
        tf.nn.approx_max_k([[1., 5., 3.]], 4)
    with pytest.raises(errors.InvalidArgumentError, match="int32"):
        tf.nn.approx_max_k(tf.constant([[1, 5, 3]]), 2)


# ------------------------------------------------------------------ fractional pooling

def _fractional_np(x, rows, cols, overlapping, reduce):
    n, h, w, c = x.shape
    out = np.zeros((n, len(rows) - 1, len(cols) - 1, c))
    for i in range(len(rows) - 1):
        r1 = min(rows[i + 1] + overlapping, h)
        for j in range(len(cols) - 1):
            c1 = min(cols[j + 1] + overlapping, w)
            window = x[:, rows[i]:r1, cols[j]:c1, :]
            out[:, i, j, :] = window.max(axis=(1, 2)) if reduce else window.mean(axis=(1, 2))
    return out


X_POOL = np.arange(2 * 10 * 9 * 3, dtype=np.float64).reshape(2, 10, 9, 3) % 17


# The sequences TF 2.21 returned for ratio [1, 1.5, 1.7, 1] on a [2, 10, 9, 3] input, seed 5
# (random, then pseudo-random); fed back, TF's outputs equal the NumPy windows above.
@pytest.mark.parametrize("rows, cols", [([0, 2, 3, 5, 7, 8, 10], [0, 2, 3, 5, 7, 9]),
                                        ([0, 1, 3, 5, 6, 8, 10], [0, 2, 4, 6, 8, 9])])
@pytest.mark.parametrize("overlapping", [False, True])
@pytest.mark.parametrize("reduce", [True, False])
def test_fractional_pool_windows(rows, cols, overlapping, reduce):
    op = "fractional_max_pool" if reduce else "fractional_avg_pool"
    out, r, c = nn_more._fractional_pool(op, X_POOL, [1, 1.5, 1.7, 1], False, overlapping, 0,
                                         reduce, sequences=(rows, cols))
    np.testing.assert_allclose(out.numpy(), _fractional_np(X_POOL, rows, cols, overlapping,
                                                           reduce), rtol=1e-12)
    assert r.numpy().tolist() == rows and c.numpy().tolist() == cols


@pytest.mark.parametrize("pseudo_random", [False, True])
@pytest.mark.parametrize("overlapping", [False, True])
def test_fractional_pool_random_sequences(pseudo_random, overlapping):
    x = tf.constant(X_POOL.astype(np.float32))
    out, rows, cols = tf.nn.fractional_max_pool(x, [1, 1.5, 1.7, 1], pseudo_random,
                                                overlapping, seed=5)
    assert out.shape == (2, 6, 5, 3) and rows.dtype == tf.int64  # TF 2.21's shapes
    for seq, size, count in ((rows.numpy(), 10, 6), (cols.numpy(), 9, 5)):
        steps = np.diff(seq)
        assert len(seq) == count + 1 and seq[0] == 0 and seq[-1] == size
        assert set(steps.tolist()) <= {size // count, size // count + 1}
    np.testing.assert_allclose(out.numpy(), _fractional_np(
        X_POOL, rows.numpy().tolist(), cols.numpy().tolist(), overlapping, True))
    drawn = []
    try:
        for _ in range(2):  # the same global and op seeds draw the same windows
            tf.random.set_seed(11)
            drawn.append(tf.nn.fractional_max_pool(x, [1, 1.5, 1.7, 1], pseudo_random,
                                                   overlapping, seed=5)[1].numpy().tolist())
    finally:
        tf.random.set_seed(None)  # (no global seed left for the tests after this one)
    assert drawn[0] == drawn[1]
    avg, _, _ = tf.nn.fractional_avg_pool(x, 2.0, seed=1)
    assert avg.shape == (2, 5, 4, 3)  # TF 2.21: a scalar ratio pools rows and columns


def test_fractional_pool_errors_match_tf():
    x = tf.zeros([1, 6, 6, 1])
    with pytest.raises(ValueError, match="first and last elements"):
        tf.nn.fractional_max_pool(x, [2, 1.5, 1.5, 1])
    with pytest.raises(ValueError, match="first and last elements"):
        tf.nn.fractional_max_pool(x, [1.5, 1.5])
    with pytest.raises(ValueError, match=">= 1.0"):
        tf.nn.fractional_avg_pool(x, [1, 0.5, 1.5, 1])
    with pytest.raises(errors.InvalidArgumentError, match="4-dimensional"):
        tf.nn.fractional_max_pool(tf.zeros([6, 6, 1]), [1, 1.5, 1.5, 1])


@pytest.mark.parametrize("reduce", [True, False])
def test_fractional_pool_gradient(reduce):
    rng = np.random.RandomState(2)
    x = rng.permutation(5 * 6).reshape(1, 5, 6, 1).astype(np.float64) / 7.0  # distinct values
    probe = rng.randn(1, 3, 4, 1)
    op = "fractional_max_pool" if reduce else "fractional_avg_pool"

    def loss(t):
        out, _, _ = nn_more._fractional_pool(op, t, [1, 1.5, 1.5, 1], False, True, 0, reduce,
                                             sequences=([0, 2, 3, 5], [0, 1, 3, 4, 6]))
        return tf.reduce_sum(out * probe)

    numeric = _numeric_grad(lambda t: float(loss(tf.constant(t))), x)
    np.testing.assert_allclose(_tape_grad(loss, x), numeric, atol=1e-6)


# ------------------------------------------------------------------ n-dimensional FFTs
# TF 2.21 registers FFTND / RFFTND kernels for GPUs only (on CPU: NotFoundError), so NumPy's
# float64 np.fft.*fftn is the oracle; TF's Python wrapper scales for norm as NumPy does.

X3 = np.arange(24).reshape(2, 3, 4) % 5 - 1.5
XC = X3 + 0.5j * X3[::-1]


@pytest.mark.parametrize("kwargs, numpy_kwargs", [
    ({}, {}),
    ({"axes": [2, 0]}, {"axes": [2, 0]}),
    ({"fft_length": [2, 6], "axes": [1, 2]}, {"s": [2, 6], "axes": [1, 2]}),
    ({"fft_length": [5]}, {"s": [5], "axes": [2]}),
    ({"axes": [-1, 0], "norm": "ortho"}, {"axes": [-1, 0], "norm": "ortho"}),
    ({"axes": [1], "norm": "forward"}, {"axes": [1], "norm": "forward"}),
])
def test_fftnd_family_against_numpy(kwargs, numpy_kwargs):
    np.testing.assert_allclose(tf.signal.fftnd(XC, **kwargs).numpy(),
                               np.fft.fftn(XC, **numpy_kwargs), atol=1e-12)
    np.testing.assert_allclose(tf.signal.ifftnd(XC, **kwargs).numpy(),
                               np.fft.ifftn(XC, **numpy_kwargs), atol=1e-12)
    spectrum = tf.signal.rfftnd(X3, **kwargs)
    np.testing.assert_allclose(spectrum.numpy(), np.fft.rfftn(X3, **numpy_kwargs), atol=1e-12)
    half = np.fft.rfftn(X3, **numpy_kwargs)
    np.testing.assert_allclose(tf.signal.irfftnd(half, **kwargs).numpy(),
                               np.fft.irfftn(half, **numpy_kwargs), atol=1e-12)


def test_fftnd_dtypes_and_errors():
    assert tf.signal.fftnd(XC.astype(np.complex64)).dtype == tf.complex64
    assert tf.signal.rfftnd(X3.astype(np.float32)).dtype == tf.complex64
    assert tf.signal.irfftnd(tf.constant(XC, tf.complex128)).dtype == tf.float64
    with pytest.raises(errors.InvalidArgumentError, match="complex64 or complex128"):
        tf.signal.fftnd(tf.constant(X3))
    with pytest.raises(errors.InvalidArgumentError, match="float32 or float64"):
        tf.signal.rfftnd(tf.constant(XC))
    with pytest.raises(errors.InvalidArgumentError, match="fft_length"):
        tf.signal.fftnd(XC, fft_length=[2], axes=[1, 2])
    with pytest.raises(ValueError, match="norm"):
        tf.signal.fftnd(XC, norm="bad")


def test_rfftnd_gradient():
    rng = np.random.RandomState(3)
    x = rng.randn(3, 2, 4)
    probe_re, probe_im = rng.randn(3, 2, 3), rng.randn(3, 2, 3)

    def loss(t):
        y = tf.signal.rfftnd(t, axes=[1, 2], fft_length=[2, 4], norm="ortho")
        return tf.reduce_sum(tf.math.real(y) * probe_re + tf.math.imag(y) * probe_im)

    numeric = _numeric_grad(lambda t: float(loss(tf.constant(t))), x)
    np.testing.assert_allclose(_tape_grad(loss, x), numeric, atol=1e-6)


# ------------------------------------------------------------------ MDCT

SIGNAL = (np.sin(np.arange(32, dtype=np.float32) * 0.37)
          + np.arange(32, dtype=np.float32) * 0.01).astype(np.float32)


def _mdct_np(x, frame_length, window):
    """float64 MDCT by its definition: X_k = sum_n w_n x_n cos(pi/N (n + 1/2 + N/2)(k + 1/2)),
    N = frame_length / 2, with TF's scaling (2 times the sum)."""
    half = frame_length // 2
    frames = np.stack([x[i:i + frame_length]
                       for i in range(0, len(x) - frame_length + 1, half)]) * window
    n, k = np.arange(frame_length), np.arange(half)
    basis = np.cos(np.pi / half * np.outer(n + 0.5 + half / 2, k + 0.5))
    return 2 * frames @ basis


def test_mdct_matches_tf_and_its_definition():
    window = tf.signal.vorbis_window(8, dtype=tf.float64).numpy()
    out = tf.signal.mdct(SIGNAL, 8)
    assert out.shape == (7, 4) and out.dtype == tf.float32  # TF 2.21
    np.testing.assert_allclose(out.numpy(), _mdct_np(SIGNAL.astype(np.float64), 8, window),
                               rtol=1e-5, atol=1e-5)
    # TF 2.21's first frames (rounded to 5 decimals).
    np.testing.assert_allclose(out.numpy()[:2], [[-5.51555, 0.56823, -0.43383, 0.01209],
                                                 [-0.50405, 1.92182, 0.06387, 0.03381]],
                               atol=2e-5)
    ortho = tf.signal.mdct(SIGNAL, 8, norm="ortho")
    np.testing.assert_allclose(ortho.numpy()[0], [-1.95004, 0.2009, -0.15338, 0.00427],
                               atol=2e-5)
    plain = tf.signal.mdct(SIGNAL, 8, window_fn=None)
    np.testing.assert_allclose(plain.numpy()[0], [-5.3237, -0.20915, 0.1584, 0.12434], atol=2e-5)
    padded = tf.signal.mdct(SIGNAL[:30], 8, pad_end=True)
    assert padded.shape == (8, 4)
    np.testing.assert_allclose(padded.numpy()[6], [2.44163, 0.0251, -0.01141, -0.10574],
                               atol=2e-5)
    assert tf.signal.mdct(SIGNAL.reshape(2, 16), 8).shape == (2, 3, 4)


def test_inverse_mdct_matches_tf_and_reconstructs():
    # TF 2.21's inverse_mdct(mdct(s, 8)) (first 6 samples, rounded), the same with "ortho".
    first = [-0.05521, -0.20557, 0.39024, 0.92239, 1.03588, 1.01127]
    for norm in (None, "ortho"):
        back = tf.signal.inverse_mdct(tf.signal.mdct(SIGNAL, 8, norm=norm), norm=norm)
        assert back.shape == (32,)
        np.testing.assert_allclose(back.numpy()[:6], first, atol=2e-5)
        # Princen-Bradley: everything but the first and last half frame comes back.
        np.testing.assert_allclose(back.numpy()[4:-4], SIGNAL[4:-4], atol=1e-5)
    plain = tf.signal.inverse_mdct(tf.signal.mdct(SIGNAL, 8), window_fn=None)
    np.testing.assert_allclose(plain.numpy()[:4], [-0.6534, -0.31189, 0.31189, 0.6534],
                               atol=2e-5)


def test_mdct_errors_and_gradient():
    with pytest.raises(ValueError, match="multiple of 4"):
        tf.signal.mdct(SIGNAL, 6)
    with pytest.raises(ValueError, match="norm"):
        tf.signal.mdct(SIGNAL, 8, norm="forward")
    with pytest.raises(ValueError, match="floating point"):
        tf.signal.mdct(tf.range(16), 8)
    probe = np.random.RandomState(4).randn(3, 4)
    x = SIGNAL[:16].astype(np.float64)

    def loss(t):
        return tf.reduce_sum(tf.signal.mdct(t, 8) * probe)

    numeric = _numeric_grad(lambda t: float(loss(tf.constant(t))), x)
    np.testing.assert_allclose(_tape_grad(loss, x), numeric, atol=1e-6)


# ------------------------------------------------------------------ sparse serialization
# The exact bytes TensorFlow 2.21 wrote for these SparseTensors.

SER_FLOAT = [
    b'\x08\t\x12\x08\x12\x02\x08\x02\x12\x02\x08\x02" '
    + bytes([0] * 8) + b'\x01' + bytes(7) + b'\x02' + bytes(7) + b'\x03' + bytes(7),
    b'\x08\x01\x12\x04\x12\x02\x08\x02"\x08\x00\x00\xc0?\x00\x00\x00\xc0',
    b'\x08\t\x12\x04\x12\x02\x08\x02"\x10\x03' + bytes(7) + b'\x04' + bytes(7)]
SER_STRING = [b'\x08\t\x12\x08\x12\x02\x08\x01\x12\x02\x08\x01"\x08\x01' + bytes(7),
              b'\x08\x07\x12\x04\x12\x02\x08\x01"\x02\x01x',
              b'\x08\t\x12\x04\x12\x02\x08\x01"\x08\x03' + bytes(7)]


def test_serialize_sparse_writes_tfs_bytes():
    st = tf.sparse.SparseTensor([[0, 1], [2, 3]], [1.5, -2.0], [3, 4])
    assert tf.io.serialize_sparse(st).numpy().tolist() == SER_FLOAT
    st = tf.sparse.SparseTensor([[1]], [b"x"], [3])
    assert tf.io.serialize_sparse(st).numpy().tolist() == SER_STRING
    with pytest.raises(errors.UnimplementedError, match="out_type"):
        tf.io.serialize_sparse(st, out_type=tf.int32)


def test_serialize_many_sparse_and_back():
    st = tf.sparse.SparseTensor([[0, 0, 1], [0, 1, 0], [2, 0, 3]],
                                tf.constant([1, 2, 3], tf.int64), [3, 2, 4])
    rows = tf.io.serialize_many_sparse(st).numpy().tolist()
    shape_row = b'\x08\t\x12\x04\x12\x02\x08\x02"\x10\x02' + bytes(7) + b'\x04' + bytes(7)
    # TF 2.21: an empty entry has a [0, 2] indices proto and a [0] values proto, no content.
    assert rows[1] == [b'\x08\t\x12\x06\x12\x00\x12\x02\x08\x02', b'\x08\t\x12\x02\x12\x00',
                       shape_row]
    assert rows[2] == [b'\x08\t\x12\x08\x12\x02\x08\x01\x12\x02\x08\x02"\x10' + bytes(8)
                       + b'\x03' + bytes(7),
                       b'\x08\t\x12\x04\x12\x02\x08\x01"\x08\x03' + bytes(7), shape_row]
    back = tf.io.deserialize_many_sparse(tf.io.serialize_many_sparse(st), tf.int64, rank=3)
    assert back.indices.numpy().tolist() == [[0, 0, 1], [0, 1, 0], [2, 0, 3]]
    assert back.values.numpy().tolist() == [1, 2, 3]
    assert back.dense_shape.numpy().tolist() == [3, 2, 4]


def test_deserialize_many_sparse_takes_the_largest_shape():
    # TF 2.21: rows of dense shapes [2, 3] and [3, 2] give [2, 3, 3].
    first = tf.io.serialize_sparse(tf.sparse.SparseTensor([[0, 1]], [7], [2, 3]))
    second = tf.io.serialize_sparse(tf.sparse.SparseTensor([[1, 0], [1, 2]], [8, 9], [3, 2]))
    back = tf.io.deserialize_many_sparse(tf.stack([first, second]), tf.int32)
    assert back.indices.numpy().tolist() == [[0, 0, 1], [1, 1, 0], [1, 1, 2]]
    assert back.values.numpy().tolist() == [7, 8, 9] and back.values.dtype == tf.int32
    assert back.dense_shape.numpy().tolist() == [2, 3, 3]
    strings = tf.io.serialize_many_sparse(
        tf.sparse.SparseTensor([[0, 1], [1, 0]], [b"ab", b""], [2, 2]))
    assert tf.io.deserialize_many_sparse(strings, tf.string).values.numpy().tolist() == [
        b"ab", b""]
    with pytest.raises(errors.InvalidArgumentError,
                       match="Requested SparseTensor of type float but"):
        tf.io.deserialize_many_sparse(tf.stack([first, second]), tf.float32)
    with pytest.raises(errors.InvalidArgumentError, match="3 as the last dimension"):
        tf.io.deserialize_many_sparse(tf.constant(["a", "b"]), tf.int64)


def test_decode_json_example_writes_tfs_bytes():
    text = ('{"features": {"feature": {"a": {"int64_list": {"value": [1, 2]}}, '
            '"b": {"bytes_list": {"value": ["aGk="]}}, "c": {"float_list": {"value": [1.5]}}}}}')
    out = tf.io.decode_json_example([text])
    assert out.numpy().tolist() == [  # TF 2.21 (repeated numbers unpacked)
        b'\n(\n\x0b\n\x01a\x12\x06\x1a\x04\x08\x01\x08\x02\n\x0b\n\x01b\x12\x06\n\x04\n\x02hi'
        b'\n\x0c\n\x01c\x12\x07\x12\x05\r\x00\x00\xc0?']
    parsed = tf.io.parse_example(out, {"b": tf.io.FixedLenFeature([], tf.string),
                                       "c": tf.io.FixedLenFeature([1], tf.float32)})
    assert parsed["b"].numpy().tolist() == [b"hi"] and parsed["c"].numpy().tolist() == [[1.5]]
    camel = tf.io.decode_json_example(
        '{"features": {"feature": {"a": {"int64List": {"value": ["5"]}}}}}')
    assert camel.numpy() == b'\n\x0b\n\t\n\x01a\x12\x04\x1a\x02\x08\x05'
    with pytest.raises(errors.InvalidArgumentError, match="Error while parsing JSON"):
        tf.io.decode_json_example(['{"features": 3}'])
    with pytest.raises(errors.InvalidArgumentError, match="Error while parsing JSON"):
        tf.io.decode_json_example(['{"features": '])


# ------------------------------------------------------------------ strings, sparse, ragged

def test_unicode_split_with_offsets_matches_tf():
    chars, starts = tf.strings.unicode_split_with_offsets(["héllo", "", "a€b"], "UTF-8")
    assert chars.to_list() == [[b"h", b"\xc3\xa9", b"l", b"l", b"o"], [],
                               [b"a", b"\xe2\x82\xac", b"b"]]
    assert starts.to_list() == [[0, 1, 3, 4, 5], [], [0, 1, 4]]
    chars, starts = tf.strings.unicode_split_with_offsets("a€b", "UTF-8")
    assert starts.dtype == tf.int64 and starts.numpy().tolist() == [0, 1, 4]
    chars, starts = tf.strings.unicode_split_with_offsets([b"a\xffb"], "UTF-8")
    assert chars.to_list() == [[b"a", b"\xef\xbf\xbd", b"b"]] and starts.to_list() == [[0, 1,
                                                                                       2]]
    chars, starts = tf.strings.unicode_split_with_offsets([b"a\xffb"], "UTF-8", errors="ignore")
    assert chars.to_list() == [[b"a", b"b"]] and starts.to_list() == [[0, 2]]
    chars, starts = tf.strings.unicode_split_with_offsets(["a€".encode("utf-16-be")],
                                                          "UTF-16-BE")
    assert chars.to_list() == [[b"\x00a", b" \xac"]] and starts.to_list() == [[0, 2]]


def test_sparse_mask_of_indexed_slices():
    a = tf.IndexedSlices(tf.constant([[1., 2.], [3., 4.], [5., 6.]]), tf.constant([0, 2, 5]),
                         tf.constant([7, 2]))
    out = tf.sparse.mask(a, [2, 9])
    assert out.values.numpy().tolist() == [[1.0, 2.0], [5.0, 6.0]]
    assert out.indices.numpy().tolist() == [0, 5]
    assert out.dense_shape.numpy().tolist() == [7, 2]
    with pytest.raises(TypeError, match="IndexedSlices"):
        tf.sparse.mask(tf.constant([1.0]), [0])


def _x1():
    return tf.sparse.SparseTensor([[0, 0], [1, 0], [1, 1]], [b"a", b"b", b"c"], [2, 2])


def _x3():
    return tf.sparse.SparseTensor([[0, 0], [1, 0]], tf.constant([3, 4], tf.int64), [2, 1])


def test_sparse_cross_puts_sparse_inputs_first():
    # TF 2.21: tf.sparse.cross([x1, dense, x3]) crosses x1, x3, then the dense input.
    out = tf.sparse.cross([_x1(), tf.constant([["d"], ["e"]]), _x3()])
    assert out.values.numpy().tolist() == [b"a_X_3_X_d", b"b_X_4_X_e", b"c_X_4_X_e"]
    # tf.ragged.cross keeps the given order.
    assert tf.ragged.cross([tf.constant([["d"], ["e"]]), _x1(), _x3()]).to_list() == [
        [b"d_X_a_X_3"], [b"e_X_b_X_4", b"e_X_c_X_4"]]


def test_cross_hashed_matches_tf():
    dense = tf.constant([["d"], ["e"]])
    out = tf.sparse.cross_hashed([_x1(), dense, _x3()])
    assert out.indices.numpy().tolist() == [[0, 0], [1, 0], [1, 1]]
    assert out.values.numpy().tolist() == [1091707526958790436, 4231948014669141395,
                                           3018013499396062534]
    assert tf.sparse.cross_hashed([dense, _x1(), _x3()]).values.numpy().tolist() == [
        1091707526958790436, 4231948014669141395, 3018013499396062534]
    assert tf.sparse.cross_hashed([_x1(), dense]).values.numpy().tolist() == [
        1584069791037555375, 4171697120956746554, 1746051686049959641]
    assert tf.sparse.cross_hashed([_x1(), dense], num_buckets=100).values.numpy().tolist() == [
        82, 61, 41]
    assert tf.sparse.cross_hashed([_x1(), dense], num_buckets=100,
                                  hash_key=12345).values.numpy().tolist() == [19, 5, 56]
    ints = tf.sparse.cross_hashed([tf.constant([[-1], [2]], tf.int64), dense])
    assert ints.values.numpy().tolist() == [2211397149721181544, 6870019135446212689]
    assert tf.sparse.cross_hashed([tf.constant([[1], [2]], tf.int32), dense]).values.numpy(
    ).tolist() == [8731989417520980377, 6870019135446212689]
    empty_row = tf.sparse.cross_hashed([tf.sparse.SparseTensor([[1, 0]], [b"z"], [2, 1]),
                                        dense])
    assert empty_row.indices.numpy().tolist() == [[1, 0]]
    assert empty_row.values.numpy().tolist() == [842752708958459658]
    assert empty_row.dense_shape.numpy().tolist() == [2, 1]


def test_ragged_cross_hashed_matches_tf():
    dense = tf.constant([["d"], ["e"]])
    assert tf.ragged.cross_hashed([dense, _x1(), _x3()]).to_list() == [
        [3911808374995760501], [776471737645279961, 1847917020823914109]]
    ragged = tf.ragged.constant([["f"], ["g", "h"]])
    assert tf.ragged.cross_hashed([ragged, dense, _x1()], num_buckets=1000,
                                  hash_key=7).to_list() == [[16], [81, 725, 874, 809]]
    assert tf.ragged.cross_hashed([tf.ragged.constant([["a"], ["b", "c"]]),
                                   tf.ragged.constant([[3], [4, 5]], tf.int64)]).to_list() == [
        [9216350530976061679], [5665986376437707883, 2973843856347199673,
                                4779491748946477322, 4707660378794676007]]
    fn = tf.function(lambda a, b: tf.ragged.cross_hashed([a, b], num_buckets=100).flat_values)
    assert fn(tf.constant([["a"], ["b"]]), dense).numpy().tolist() == [82, 61]
    with pytest.raises(errors.InvalidArgumentError, match="strings or integers"):
        tf.ragged.cross_hashed([tf.constant([[1.0]]), dense[:1]])


# ------------------------------------------------------------------ SparseFeature

def _example(**features):
    feature = {}
    for key, values in features.items():
        if isinstance(values[0], float):
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        else:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _parts(sp):
    return sp.indices.numpy().tolist(), sp.values.numpy().tolist(), sp.dense_shape.numpy(
    ).tolist()


def test_sparse_feature_matches_tf():
    first = _example(i=[2, 0], j=[1, 3], v=[5.0, 6.0])
    second = _example(i=[1], j=[0], v=[7.0])
    spec = {"sp": tf.io.SparseFeature(["i", "j"], "v", tf.float32, [3, 4])}
    # TF 2.21: sorted by index within each example, dense shape [batch, *size].
    assert _parts(tf.io.parse_example([first, second], spec)["sp"]) == (
        [[0, 0, 3], [0, 2, 1], [1, 1, 0]], [6.0, 5.0, 7.0], [2, 3, 4])
    kept = {"sp": tf.io.SparseFeature(["i", "j"], "v", tf.float32, [3, 4], already_sorted=True)}
    assert _parts(tf.io.parse_example([first, second], kept)["sp"]) == (
        [[0, 2, 1], [0, 0, 3], [1, 1, 0]], [5.0, 6.0, 7.0], [2, 3, 4])
    assert _parts(tf.io.parse_single_example(first, spec)["sp"]) == (
        [[0, 3], [2, 1]], [6.0, 5.0], [3, 4])
    # One index key for a 1-D size; a part also requested stays in the result.
    both = tf.io.parse_example([first, second], {
        "sp": tf.io.SparseFeature("i", "v", tf.float32, 3), "i": tf.io.VarLenFeature(tf.int64)})
    assert sorted(both) == ["i", "sp"]
    assert _parts(both["sp"]) == ([[0, 0], [0, 2], [1, 1]], [6.0, 5.0, 7.0], [2, 3])
    assert _parts(both["i"]) == ([[0, 0], [0, 1], [1, 0]], [2, 0, 1], [2, 2])
    # An example without the feature has no entries; indices out of size are kept (as TF).
    missing = tf.io.parse_example([_example(x=[1]), _example(i=[9], j=[0], v=[7.0])], spec)
    assert _parts(missing["sp"]) == ([[1, 9, 0]], [7.0], [2, 3, 4])
    fn = tf.function(lambda s: tf.io.parse_example(s, spec)["sp"].indices)
    assert fn(tf.constant([first, second])).numpy().tolist() == [[0, 0, 3], [0, 2, 1],
                                                                 [1, 1, 0]]
    with pytest.raises(ValueError, match="not compatible"):
        tf.io.parse_example([_example(i=[1], j=[0], v=[7.0, 8.0])], spec)
