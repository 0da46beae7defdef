"""Stateless random ops (seed=[a, b]), tf.random.gamma and tf.random.poisson: reproducibility,
seed sensitivity, and distributions checked on large samples against analytic CDFs and
moments. The numbers are tensorflux's own (Philox) stream, not TensorFlow's, so no test
compares draws with TensorFlow's values.

ROWS follow the op-table format (deterministic draws), so they can join tests/ops/table.py."""

import math

import numpy as np
import pytest

import tensorflux as tf
from tests.ops import harness
from tests.ops.harness import Row, uniform

N = 200_000
# Kolmogorov-Smirnov: sup |F_n - F| exceeds 1.95 / sqrt(n) with probability ~0.001.
KS_BOUND = 1.95 / math.sqrt(N)


def _ks(samples, cdf):
    x = np.sort(np.asarray(samples, np.float64).ravel())
    n = x.size
    f = np.array([cdf(v) for v in x[:: max(n // 20000, 1)]])
    ranks = np.arange(0, n, max(n // 20000, 1))
    upper = np.abs((ranks + 1) / n - f)
    lower = np.abs(ranks / n - f)
    return max(upper.max(), lower.max())


def _normal_cdf(x, mean=0.0, std=1.0):
    return 0.5 * (1 + math.erf((x - mean) / (std * math.sqrt(2))))


ROWS = [
    Row("stateless_normal_zero_stddev",
        lambda x: tf.random.stateless_normal(x.shape, [1, 2], mean=x, stddev=0.0, dtype=x.dtype),
        lambda x: x, uniform((2, 3))),
    Row("stateless_uniform_zero_width",
        lambda x: tf.random.stateless_uniform(x.shape, [3, 4], minval=x, maxval=x,
                                              dtype=x.dtype),
        lambda x: x, uniform((4,))),
    Row("stateless_binomial_certain",
        lambda x: x + tf.cast(tf.random.stateless_binomial(x.shape, [5, 6], counts=7.0,
                                                           probs=1.0), x.dtype),
        lambda x: x + 7.0, uniform((3,))),
    Row("stateless_poisson_zero_rate",
        lambda x: x + tf.cast(tf.random.stateless_poisson(x.shape, [7, 8], lam=0.0), x.dtype),
        lambda x: x, uniform((2, 2))),
    Row("random_gamma_scaled_to_zero",
        lambda x: x + 0.0 * tf.reduce_sum(tf.cast(tf.random.gamma([2], [1.0, 3.0], seed=9),
                                                  x.dtype)),
        lambda x: x, uniform((3,))),
    Row("random_poisson_zero_rate",
        lambda x: x + tf.cast(tf.random.poisson([2], [0.0, 0.0], seed=9), x.dtype)[0],
        lambda x: x, uniform((2,))),
]

FORWARD = [(row, dtype) for row in ROWS for dtype in row.dtypes]


@pytest.mark.parametrize("row,dtype", FORWARD, ids=[f"{r.name}-{d}" for r, d in FORWARD])
def test_forward_matches_numpy(row, dtype):
    harness.check_forward(row, dtype)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_vjp_and_shape_rules(row):
    harness.check_vjp(row)
    harness.check_shape_rules(row)


STATELESS = {
    "normal": lambda seed: tf.random.stateless_normal([64], seed),
    "truncated_normal": lambda seed: tf.random.stateless_truncated_normal([64], seed),
    "uniform": lambda seed: tf.random.stateless_uniform([64], seed),
    "uniform_int": lambda seed: tf.random.stateless_uniform([64], seed, minval=-5, maxval=1000,
                                                            dtype=tf.int64),
    "uniform_int_full": lambda seed: tf.random.stateless_uniform([64], seed, dtype=tf.int32),
    "categorical": lambda seed: tf.random.stateless_categorical(tf.zeros([2, 50]), 32, seed),
    "binomial": lambda seed: tf.random.stateless_binomial([64], seed, counts=100.0, probs=0.4),
    "gamma": lambda seed: tf.random.stateless_gamma([64], seed, alpha=2.0),
    "poisson": lambda seed: tf.random.stateless_poisson([64], seed, lam=30.0),
}


@pytest.mark.parametrize("name", sorted(STATELESS))
def test_same_seed_same_numbers_different_seeds_differ(name):
    draw = STATELESS[name]
    tf.random.set_seed(1)
    first = draw([3, 4]).numpy()
    tf.random.set_seed(2)  # the global seed plays no part
    np.testing.assert_array_equal(first, draw([3, 4]).numpy())
    np.testing.assert_array_equal(first, draw(tf.constant([3, 4], tf.int64)).numpy())
    for other in ([4, 3], [3, 5], [-3, 4]):
        assert not np.array_equal(first, draw(other).numpy()), f"seed {other} repeats [3, 4]"


def test_stateless_draws_are_the_same_in_a_traced_function():
    fn = tf.function(lambda seed: tf.random.stateless_normal([5], seed))
    eager = tf.random.stateless_normal([5], [8, 9]).numpy()
    np.testing.assert_array_equal(fn(tf.constant([8, 9])).numpy(), eager)
    np.testing.assert_array_equal(fn(tf.constant([8, 9])).numpy(), eager)
    assert not np.array_equal(fn(tf.constant([8, 10])).numpy(), eager)


def test_stateless_streams_differ_from_stateful_ones():
    tf.random.set_seed(None)
    stateless = tf.random.stateless_uniform([8], [1, 2]).numpy()
    assert not np.array_equal(stateless, tf.random.uniform([8], seed=2).numpy())


def test_normal_and_uniform_distributions():
    x = tf.random.stateless_normal([N], [1, 1], mean=2.0, stddev=3.0, dtype=tf.float64).numpy()
    assert _ks(x, lambda v: _normal_cdf(v, 2.0, 3.0)) < KS_BOUND
    u = tf.random.stateless_uniform([N], [1, 2], minval=-1.0, maxval=3.0).numpy()
    assert u.dtype == np.float32 and u.min() >= -1.0 and u.max() < 3.0
    assert _ks(u, lambda v: (v + 1.0) / 4.0) < KS_BOUND


def test_truncated_normal_distribution():
    x = tf.random.stateless_truncated_normal([N], [2, 2], dtype=tf.float64).numpy()
    assert np.abs(x).max() <= 2.0
    mass = _normal_cdf(2.0) - _normal_cdf(-2.0)
    assert _ks(x, lambda v: (_normal_cdf(v) - _normal_cdf(-2.0)) / mass) < KS_BOUND
    # Variance of N(0, 1) truncated to [-2, 2]: 1 - 4 phi(2) / mass.
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    assert abs(x.var() - (1 - 4 * phi2 / mass)) < 0.01


def test_integer_uniform_is_uniform_over_the_range():
    x = tf.random.stateless_uniform([N], [3, 3], minval=-3, maxval=7, dtype=tf.int32).numpy()
    assert x.dtype == np.int32 and x.min() == -3 and x.max() == 6
    counts = np.bincount(x + 3, minlength=10)
    expected = N / 10
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 33.7  # 9 degrees of freedom, p ~ 1e-4
    with pytest.raises(tf.errors.InvalidArgumentError, match="both minval and maxval"):
        tf.random.stateless_uniform([2], [1, 2], minval=None, maxval=5, dtype=tf.int32)


def test_categorical_frequencies():
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    logits = np.log(probs)[None, :].repeat(2, axis=0)
    x = tf.random.stateless_categorical(logits, N // 2, [4, 4]).numpy()
    assert x.dtype == np.int64 and x.shape == (2, N // 2)
    freq = np.bincount(x.ravel(), minlength=4) / x.size
    assert np.abs(freq - probs).max() < 4 * np.sqrt(0.25 / x.size)


def test_binomial_moments():
    counts = np.array([5.0, 40.0, 100.0])
    probs = np.array([0.5, 0.1, 0.9])
    x = tf.random.stateless_binomial([N // 4, 3], [5, 5], counts=counts, probs=probs).numpy()
    assert x.dtype == np.int32 and x.min() >= 0 and np.all(x <= counts)
    mean, var = counts * probs, counts * probs * (1 - probs)
    assert np.all(np.abs(x.mean(axis=0) - mean) < 5 * np.sqrt(var / x.shape[0]))
    assert np.all(np.abs(x.var(axis=0) / var - 1) < 0.05)


def test_gamma_moments_and_rate():
    alpha = np.array([0.5, 2.0, 9.0])
    x = tf.random.stateless_gamma([N // 4, 3], [6, 6], alpha=alpha, beta=2.0,
                                  dtype=tf.float64).numpy()
    assert x.min() > 0
    n = x.shape[0]
    # Five standard errors: of the mean, and of the variance (excess kurtosis 6 / alpha).
    assert np.all(np.abs(x.mean(axis=0) - alpha / 2.0) < 5 * np.sqrt(alpha / 4.0 / n))
    assert np.all(np.abs(x.var(axis=0) / (alpha / 4.0) - 1) < 5 * np.sqrt((2 + 6 / alpha) / n))
    # Exponential(1) is Gamma(1): check the whole CDF.
    e = tf.random.gamma([N], 1.0, seed=3, dtype=tf.float64).numpy()
    assert _ks(e, lambda v: 1 - math.exp(-v)) < KS_BOUND


def test_gamma_shape_and_rate_gradient():
    samples = tf.random.gamma([3, 5], [1.0, 2.0], beta=[[1.0], [4.0]], seed=1)
    assert samples.shape == (3, 5, 2, 2) and samples.dtype == tf.float32
    beta = tf.constant([2.0, 4.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(beta)
        x = tf.random.gamma([7], [3.0, 3.0], beta=beta, dtype=tf.float64, seed=5)
        total = tf.reduce_sum(x)
    # x = g / beta with g independent of beta: d sum(x) / d beta = -sum(x) / beta per column.
    expected = -np.sum(x.numpy(), axis=0) / beta.numpy()
    np.testing.assert_allclose(tape.gradient(total, beta).numpy(), expected, rtol=1e-12)


def test_poisson_moments_and_pmf():
    lam = np.array([0.7, 12.0])
    x = tf.random.poisson([N // 2], lam, seed=4, dtype=tf.int64).numpy()
    assert x.shape == (N // 2, 2) and x.dtype == np.int64
    assert np.all(np.abs(x.mean(axis=0) - lam) < 5 * np.sqrt(lam / x.shape[0]))
    assert np.all(np.abs(x.var(axis=0) / lam - 1) < 0.03)
    small = np.bincount(x[:, 0], minlength=4)[:4] / x.shape[0]
    pmf = [math.exp(-0.7) * 0.7 ** k / math.factorial(k) for k in range(4)]
    assert np.abs(small - pmf).max() < 0.005
    y = tf.random.stateless_poisson([N // 4], [1, 9], lam=3.0).numpy()
    assert y.dtype == np.int32 and abs(y.mean() - 3.0) < 0.03
    assert tf.random.poisson([2], 1.0, seed=1).dtype == tf.float32


def test_seeded_gamma_and_poisson_follow_the_global_seed_rules():
    tf.random.set_seed(5)
    a = tf.random.gamma([4], 2.0, seed=1).numpy()
    b = tf.random.gamma([4], 2.0, seed=1).numpy()
    tf.random.set_seed(5)
    np.testing.assert_array_equal(a, tf.random.gamma([4], 2.0, seed=1).numpy())
    assert not np.array_equal(a, b)  # successive calls continue the sequence


def test_bad_seeds_and_shapes_raise():
    with pytest.raises(tf.errors.InvalidArgumentError, match="shape \\[2\\]"):
        tf.random.stateless_normal([2], [1, 2, 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="integer tensor"):
        tf.random.stateless_normal([2], [1.0, 2.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="broadcast"):
        tf.random.stateless_gamma([2, 3], [1, 2], alpha=[1.0, 2.0])
