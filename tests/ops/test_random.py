"""Behaviour of tensorflux.ops.random: distributions, seeds, Generator, errors."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors
from tensorflux.ops import random as tfr

N = 100_000


@pytest.fixture(autouse=True)
def _clear_global_seed():
    tfr.set_seed(None)
    yield
    tfr.set_seed(None)


# ------------------------------------------------------------------ distributions

def test_normal_mean_and_std():
    x = tfr.normal([N], mean=3.0, stddev=2.0, seed=1).numpy().astype(np.float64)
    # standard errors: 2/sqrt(N) ~ 0.0063 for the mean, ~0.0045 for the std; 5 sigma bounds
    assert abs(x.mean() - 3.0) < 0.035
    assert abs(x.std() - 2.0) < 0.025


def test_normal_float64_and_shape():
    x = tfr.normal([200, 500], dtype=tf.float64, seed=2)
    assert x.dtype is tf.float64 and tuple(x.shape) == (200, 500)
    values = x.numpy()
    assert abs(values.mean()) < 0.02 and abs(values.std() - 1.0) < 0.02


def test_normal_tensor_mean_broadcasts():
    mean = tf.constant([[-10.0], [10.0]])
    x = tfr.normal([2, 5000], mean=mean, stddev=0.1, seed=3).numpy()
    np.testing.assert_allclose(x.mean(axis=1), [-10.0, 10.0], atol=0.01)


def test_truncated_normal_bounds_and_std():
    x = tfr.truncated_normal([N], mean=1.0, stddev=0.5, seed=4).numpy().astype(np.float64)
    assert x.min() >= 1.0 - 2 * 0.5 - 1e-6 and x.max() <= 1.0 + 2 * 0.5 + 1e-6
    assert abs(x.mean() - 1.0) < 0.01
    # std of a standard normal truncated to [-2, 2] is 0.8796
    assert abs(x.std() / 0.5 - 0.8796) < 0.01


def test_uniform_float_range_and_moments():
    x = tfr.uniform([N], minval=-1.0, maxval=3.0, seed=5).numpy().astype(np.float64)
    assert x.min() >= -1.0 and x.max() < 3.0
    assert abs(x.mean() - 1.0) < 0.03
    assert abs(x.var() - 16.0 / 12.0) < 0.03


def test_uniform_default_range_is_unit_interval():
    x = tfr.uniform([1000], seed=6).numpy()
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() < 1.0


def test_uniform_float16_stays_below_maxval():
    x = tfr.uniform([N], dtype=tf.float16, seed=7).numpy()
    assert x.dtype == np.float16 and x.min() >= 0 and x.max() < 1.0


@pytest.mark.parametrize("dtype", [tf.int32, tf.int64])
def test_uniform_int_range_and_frequencies(dtype):
    x = tfr.uniform([N], minval=-2, maxval=3, dtype=dtype, seed=8).numpy()
    assert x.dtype == np.dtype(dtype.name)
    counts = np.bincount(x + 2, minlength=5)
    assert x.min() == -2 and x.max() == 2
    # each of the 5 values has p = 0.2; 5 sigma = 5 * sqrt(N * 0.2 * 0.8) ~ 632
    np.testing.assert_allclose(counts, N / 5, atol=650)


def test_categorical_frequencies():
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    with np.errstate(divide="ignore"):
        logits = tf.constant(np.log(probs))
    samples = tfr.categorical(logits, 20_000, seed=9).numpy()
    assert samples.shape == (2, 20_000) and samples.dtype == np.int64
    for row, p in zip(samples, probs):
        freq = np.bincount(row, minlength=3) / row.size
        np.testing.assert_allclose(freq, p, atol=0.02)
    assert not np.any(samples[1] == 2)  # zero probability is never drawn


def test_categorical_dtype_int32_and_unnormalized_logits():
    samples = tfr.categorical([[100.0, 100.0]], 1000, dtype=tf.int32, seed=10).numpy()
    assert samples.dtype == np.int32
    assert 0.4 < samples.mean() < 0.6


def test_shuffle_is_a_permutation_of_rows():
    x = np.arange(40).reshape(20, 2)
    y = tfr.shuffle(x, seed=11).numpy()
    assert y.shape == (20, 2)
    assert sorted(map(tuple, y)) == sorted(map(tuple, x))
    assert np.all(y[:, 1] == y[:, 0] + 1)  # rows move whole
    assert not np.array_equal(y, x)


def test_shuffle_of_scalar_and_empty():
    assert tfr.shuffle(tf.constant(5.0)).numpy() == 5.0
    assert tuple(tfr.shuffle(tf.zeros([0, 3])).shape) == (0, 3)


def test_empty_shape_draws():
    assert tuple(tfr.normal([0, 4]).shape) == (0, 4)
    assert tuple(tfr.uniform([3, 0], maxval=5, dtype=tf.int32).shape) == (3, 0)


# ------------------------------------------------------------------ seeds

def test_unseeded_draws_differ():
    a = tfr.normal([10]).numpy()
    b = tfr.normal([10]).numpy()
    assert not np.array_equal(a, b)


def test_global_seed_makes_the_sequence_reproducible():
    tfr.set_seed(1234)
    first = [tfr.uniform([3]).numpy(), tfr.normal([3]).numpy(), tfr.uniform([3]).numpy()]
    assert not np.array_equal(first[0], first[2])
    tfr.set_seed(1234)
    again = [tfr.uniform([3]).numpy(), tfr.normal([3]).numpy(), tfr.uniform([3]).numpy()]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    tfr.set_seed(4321)
    assert not np.array_equal(tfr.uniform([3]).numpy(), first[0])


def test_op_seed_repeats_continue_one_sequence_until_set_seed():
    # TensorFlow: uniform(seed=1) twice gives A1 then A2; set_seed restarts at A1.
    tfr.set_seed(7)
    a1 = tfr.uniform([4], seed=1).numpy()
    a2 = tfr.uniform([4], seed=1).numpy()
    assert not np.array_equal(a1, a2)
    tfr.set_seed(7)
    np.testing.assert_array_equal(tfr.uniform([4], seed=1).numpy(), a1)
    np.testing.assert_array_equal(tfr.uniform([4], seed=1).numpy(), a2)


def test_op_seed_is_independent_of_other_ops():
    tfr.set_seed(7)
    a = tfr.normal([4], seed=3).numpy()
    tfr.set_seed(7)
    tfr.normal([10])  # an unseeded op in between must not shift the seeded op
    np.testing.assert_array_equal(tfr.normal([4], seed=3).numpy(), a)


def test_op_seed_without_global_seed_uses_the_default_global_seed():
    a = tfr.normal([4], seed=3).numpy()
    tfr.set_seed(None)
    np.testing.assert_array_equal(tfr.normal([4], seed=3).numpy(), a)
    tfr.set_seed(tfr.DEFAULT_GRAPH_SEED)
    np.testing.assert_array_equal(tfr.normal([4], seed=3).numpy(), a)
    assert tfr.get_seed(3) == (tfr.DEFAULT_GRAPH_SEED, 3)


def test_different_op_seeds_differ():
    tfr.set_seed(1)
    assert not np.array_equal(tfr.normal([4], seed=1).numpy(), tfr.normal([4], seed=2).numpy())


def test_every_op_is_reproducible_with_set_seed():
    def draw():
        return [tfr.normal([5]).numpy(), tfr.truncated_normal([5]).numpy(),
                tfr.uniform([5]).numpy(), tfr.uniform([5], maxval=100, dtype=tf.int32).numpy(),
                tfr.shuffle(np.arange(10)).numpy(), tfr.categorical([[0.0, 0.0, 0.0]], 8).numpy()]

    tfr.set_seed(99)
    first = draw()
    tfr.set_seed(99)
    for a, b in zip(first, draw()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ Generator

def test_generator_from_seed_is_reproducible_and_advances():
    g1, g2 = tfr.Generator.from_seed(42), tfr.Generator.from_seed(42)
    a = g1.normal([5]).numpy()
    np.testing.assert_array_equal(a, g2.normal([5]).numpy())
    assert not np.array_equal(a, g1.normal([5]).numpy())
    g1.reset_from_seed(42)
    np.testing.assert_array_equal(a, g1.normal([5]).numpy())


def test_generator_is_independent_of_the_global_seed():
    tfr.set_seed(1)
    a = tfr.Generator.from_seed(5).uniform([3]).numpy()
    tfr.set_seed(2)
    np.testing.assert_array_equal(tfr.Generator.from_seed(5).uniform([3]).numpy(), a)


def test_generator_distributions():
    g = tfr.Generator.from_seed(3)
    n = g.normal([N], mean=-1.0, stddev=3.0).numpy().astype(np.float64)
    assert abs(n.mean() + 1.0) < 0.05 and abs(n.std() - 3.0) < 0.04
    u = g.uniform([N], minval=2.0, maxval=4.0).numpy()
    assert u.min() >= 2.0 and u.max() < 4.0 and abs(u.mean() - 3.0) < 0.01
    i = g.uniform([N], minval=0, maxval=10, dtype=tf.int64).numpy()
    assert i.dtype == np.int64 and i.min() == 0 and i.max() == 9
    t = g.truncated_normal([N], stddev=2.0).numpy()
    assert np.abs(t).max() <= 4.0 + 1e-6 and abs(t.std() / 2.0 - 0.8796) < 0.01


def test_generator_split_gives_independent_reproducible_generators():
    parent = tfr.Generator.from_seed(11)
    children = parent.split(3)
    assert len(children) == 3
    draws = [c.normal([N]).numpy().astype(np.float64) for c in children]
    draws.append(parent.normal([N]).numpy().astype(np.float64))
    for i in range(len(draws)):
        for j in range(i + 1, len(draws)):
            assert not np.array_equal(draws[i], draws[j])
            # independent streams: sample correlation ~ N(0, 1/N); 5 sigma = 0.016
            assert abs(np.corrcoef(draws[i], draws[j])[0, 1]) < 0.016
    again = tfr.Generator.from_seed(11).split(3)
    np.testing.assert_array_equal(again[1].normal([N]).numpy(), draws[1])
    grandchildren = children[0].split(2)
    assert not np.array_equal(grandchildren[0].normal([5]).numpy(),
                              grandchildren[1].normal([5]).numpy())


def test_non_deterministic_generators_differ():
    a = tfr.Generator.from_non_deterministic_state().normal([5]).numpy()
    b = tfr.Generator.from_non_deterministic_state().normal([5]).numpy()
    assert not np.array_equal(a, b)


def test_global_generator_get_and_set():
    original = tfr.get_global_generator()
    assert tfr.get_global_generator() is original
    try:
        replacement = tfr.Generator.from_seed(8)
        tfr.set_global_generator(replacement)
        assert tfr.get_global_generator() is replacement
        np.testing.assert_array_equal(tfr.get_global_generator().normal([3]).numpy(),
                                      tfr.Generator.from_seed(8).normal([3]).numpy())
        with pytest.raises(TypeError, match="Generator"):
            tfr.set_global_generator("not a generator")
    finally:
        tfr.set_global_generator(original)


# ------------------------------------------------------------------ gradients and errors

def test_gradients_reach_mean_and_stddev_but_not_the_draw():
    mean, stddev = tf.constant(1.0), tf.constant(2.0)
    with tf.GradientTape() as tape:
        tape.watch([mean, stddev])
        x = tfr.normal([1000], mean=mean, stddev=stddev, seed=1)
        loss = tf.reduce_sum(x)
    d_mean, d_std = tape.gradient(loss, [mean, stddev])
    assert float(d_mean) == 1000.0
    expected = float(np.sum((x.numpy().astype(np.float64) - 1.0) / 2.0))
    assert abs(float(d_std) - expected) < 1e-2


def test_shuffle_has_no_gradient():
    x = tf.constant([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tfr.shuffle(x, seed=1))
    assert tape.gradient(y, x) is None


@pytest.mark.parametrize("fn", [tfr.normal, tfr.uniform, tfr.truncated_normal])
def test_negative_shape_raises(fn):
    with pytest.raises(errors.InvalidArgumentError, match=r"non-negative.*\[2, -1\]"):
        fn([2, -1])


@pytest.mark.parametrize("fn", [tfr.normal, tfr.truncated_normal])
def test_integer_dtype_for_normal_raises(fn):
    with pytest.raises(errors.InvalidArgumentError, match="dtype.*int32"):
        fn([2], dtype=tf.int32)


def test_uniform_bad_dtype_raises():
    with pytest.raises(errors.InvalidArgumentError, match="uniform: dtype.*bool"):
        tfr.uniform([2], dtype=tf.bool)


def test_uniform_integer_needs_maxval():
    with pytest.raises(errors.InvalidArgumentError, match="maxval.*int32"):
        tfr.uniform([2], dtype=tf.int32)
    with pytest.raises(ValueError):
        tfr.Generator.from_seed(1).uniform([2], dtype=tf.int64)


def test_uniform_integer_needs_minval_below_maxval():
    with pytest.raises(errors.InvalidArgumentError, match="minval=5.*maxval=5"):
        tfr.uniform([2], minval=5, maxval=5, dtype=tf.int32)


def test_uniform_integer_bounds_must_be_scalars():
    with pytest.raises(errors.InvalidArgumentError, match=r"scalars.*\(2,\)"):
        tfr.uniform([2], minval=[0, 1], maxval=5, dtype=tf.int32)


def test_bad_shape_argument_raises():
    with pytest.raises(errors.InvalidArgumentError, match="normal: shape"):
        tfr.normal([2, "a"])


def test_categorical_errors():
    with pytest.raises(errors.InvalidArgumentError, match=r"matrix.*\(3,\)"):
        tfr.categorical([1.0, 2.0, 3.0], 2)
    with pytest.raises(errors.InvalidArgumentError, match="floating"):
        tfr.categorical([[1, 2]], 2)
    with pytest.raises(errors.InvalidArgumentError, match="num_samples.*-1"):
        tfr.categorical([[1.0, 2.0]], -1)
    with pytest.raises(errors.InvalidArgumentError, match="dtype.*float32"):
        tfr.categorical([[1.0, 2.0]], 2, dtype=tf.float32)


def test_seed_must_be_an_int():
    with pytest.raises(errors.InvalidArgumentError, match="seed"):
        tfr.normal([2], seed="abc")
