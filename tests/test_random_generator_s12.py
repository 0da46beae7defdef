"""tf.random.Generator (state Variable, algorithms, skip/split/make_seeds, uniform_full_int,
binomial, checkpoints) and the stateless ops added with it (create_rng_state,
stateless_parameterized_truncated_normal, stateless_shuffle, index_shuffle, full-range unsigned
stateless_uniform).

References are independent of tensorflux: distributions are checked by statistics against
closed forms in float64 (scipy.stats for the CDFs), with tolerances from the sample size
(5 standard errors; the KS bound at significance ~1e-6). State layouts, dtypes, shapes and
errors are TensorFlow 2.21's, observed by running the same calls in real TF (noted where
used). The numbers themselves are tensorflux's own Philox stream, not TF's, so no test
compares drawn values with TF's."""

import math
import os

import numpy as np
import pytest
from scipy import stats

import tensorflux as tf

N = 20000
# Kolmogorov-Smirnov: P(sqrt(n) D > 2.6) ~ 1e-6 for n this large.
KS_BOUND = 2.6 / math.sqrt(N)


def _mean_within(sample, mean, variance, sigmas=5.0):
    se = math.sqrt(variance / sample.size)
    assert abs(sample.mean() - mean) < sigmas * se, (sample.mean(), mean, se)


# ------------------------------------------------------------------ state and algorithms

def test_state_is_an_int64_variable_laid_out_as_create_rng_state():
    # TF 2.21: from_seed(1).state is the Variable 'StateVar:0' [1, 0, 0], not trainable;
    # algorithm is the int 1 (philox); threefry states have 2 words, auto_select 3.
    g = tf.random.Generator.from_seed(1)
    assert isinstance(g.state, tf.Variable)
    assert g.state.dtype == tf.int64 and tuple(g.state.shape) == (3,)
    assert not g.state.trainable
    assert g.state.numpy().tolist() == [1, 0, 0]
    assert g.algorithm == 1 and type(g.algorithm) is int
    three = tf.random.Generator.from_seed(1, alg="threefry")
    assert three.algorithm == 2 and three.state.numpy().tolist() == [1, 0]
    auto = tf.random.Generator.from_seed(1, alg="auto_select")
    assert auto.algorithm == 3 and tuple(auto.state.shape) == (3,)
    assert tf.random.Generator.from_seed(1, alg=tf.random.Algorithm.THREEFRY).algorithm == 2
    assert tf.random.Generator.from_non_deterministic_state().algorithm == 1


def test_algorithm_enum_and_create_rng_state_as_tf():
    # TF 2.21 values of tf.random.Algorithm and create_rng_state.
    assert [(a.name, a.value) for a in tf.random.Algorithm] == [
        ("PHILOX", 1), ("THREEFRY", 2), ("AUTO_SELECT", 3)]
    crs = tf.random.create_rng_state
    assert crs(1234, "philox").dtype == tf.int64
    assert crs(1234, "philox").numpy().tolist() == [1234, 0, 0]
    assert crs([12, 34], "threefry").numpy().tolist() == [12, 34]
    assert crs(1, 2).numpy().tolist() == [1, 0]
    assert crs(1, "auto_select").numpy().tolist() == [1, 0, 0]
    assert crs(-1, 1).numpy().tolist() == [-1, -1, -1]  # sign-extended 64-bit words
    assert crs(2**64 + 3, 1).numpy().tolist() == [3, 1, 0]  # lowest word first
    assert crs([1, 2, 3, 4], 1).numpy().tolist() == [1, 2, 3]  # truncated
    assert crs([12], 1).numpy().tolist() == [0, 0, 12]  # padded on the left
    assert tf.random.experimental.create_rng_state is crs
    with pytest.raises(ValueError, match="unsupported value bogus"):
        crs(1, "bogus")
    with pytest.raises(ValueError, match="unsupported value bogus"):
        tf.random.Generator.from_seed(1, alg="bogus")
    with pytest.raises(ValueError, match="unsupported value bogus"):
        tf.random.stateless_uniform([2], [1, 2], alg="bogus")


def test_constructors_and_resets_share_one_layout():
    # TF 2.21: reset_from_key_counter(5, [7, 8]) gives [7, 8, 5]; from_key_counter likewise;
    # key is the last word; from_state([1, 2]) for philox is a shape error; Generator()
    # with nothing to start from fails (an AssertionError in TF, a ValueError here).
    g = tf.random.Generator.from_seed(1)
    g.reset_from_key_counter(5, [7, 8])
    assert g.state.numpy().tolist() == [7, 8, 5] and int(g.key) == 5
    assert tf.random.Generator.from_key_counter(5, [1, 2], "philox").state.numpy().tolist() == [
        1, 2, 5]
    g.reset([1, 2, 3])
    assert g.state.numpy().tolist() == [1, 2, 3]
    g.reset_from_seed(1)
    assert g.state.numpy().tolist() == [1, 0, 0]
    assert tf.random.Generator.from_state([1, 2, 3], "philox").state.numpy().tolist() == [1, 2, 3]
    assert tf.random.Generator(state=[1, 2, 3], alg=1).state.numpy().tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match=r"shape \[3\]"):
        tf.random.Generator.from_state([1, 2], "philox")
    with pytest.raises(ValueError, match="counter of 2 ints"):
        g.reset_from_key_counter(1, [1])
    with pytest.raises(ValueError, match="state and alg"):
        tf.random.Generator()
    variable = tf.Variable([4, 0, 9], dtype=tf.int64)
    shared = tf.random.Generator.from_state(variable, "philox")
    assert shared.state is variable  # a Variable is used, not copied (as TF)
    shared.normal([2])
    assert variable.numpy().tolist() != [4, 0, 9]


# ------------------------------------------------------------------ determinism and advancing

def test_same_state_same_numbers_and_every_draw_advances():
    a, b = tf.random.Generator.from_seed(7), tf.random.Generator.from_seed(7)
    for method in ("normal", "uniform", "truncated_normal", "uniform_full_int"):
        before = a.state.numpy().tolist()
        x, y = getattr(a, method)([5]).numpy(), getattr(b, method)([5]).numpy()
        np.testing.assert_array_equal(x, y)
        assert a.state.numpy().tolist() != before
    np.testing.assert_array_equal(a.binomial([4], 10.0, 0.5).numpy(),
                                  b.binomial([4], 10.0, 0.5).numpy())
    # successive draws differ
    assert not np.array_equal(a.normal([8]).numpy(), a.normal([8]).numpy())
    # a generator from the other's state replays it; a copy is independent afterwards
    c = tf.random.Generator.from_state(a.state.numpy(), a.algorithm)
    d = tf.random.Generator(copy_from=a)
    assert d.state is not a.state
    expected = a.normal([6]).numpy()
    np.testing.assert_array_equal(c.normal([6]).numpy(), expected)
    np.testing.assert_array_equal(d.normal([6]).numpy(), expected)
    # reset_from_seed restarts the sequence
    e = tf.random.Generator.from_seed(7)
    first = e.normal([3]).numpy()
    e.normal([3])
    e.reset_from_seed(7)
    np.testing.assert_array_equal(e.normal([3]).numpy(), first)


def test_different_seeds_and_algorithms_give_different_streams():
    draws = [tf.random.Generator.from_seed(s).normal([64]).numpy() for s in (1, 2)]
    draws.append(tf.random.Generator.from_seed(1, alg="threefry").normal([64]).numpy())
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.array_equal(draws[i], draws[j])


def test_skip_returns_the_old_state_and_matches_that_many_draws():
    g, h = tf.random.Generator.from_seed(3), tf.random.Generator.from_seed(3)
    old = g.skip(4)
    assert old.dtype == tf.int64 and old.numpy().tolist() == [3, 0, 0]  # TF returns the old state
    for _ in range(4):
        h.uniform([10])
    assert g.state.numpy().tolist() == h.state.numpy().tolist()
    np.testing.assert_array_equal(g.normal([5]).numpy(), h.normal([5]).numpy())
    g.skip(-4)  # TF accepts negative deltas
    assert g.state.numpy().tolist() == [4, 0, 0]


def test_the_philox_counter_carries_into_its_second_word():
    g = tf.random.Generator.from_state([-1, 0, 9], "philox")  # low word all ones
    g.skip(1)
    assert g.state.numpy().tolist() == [0, 1, 9]


def test_draws_in_a_function_advance_the_state_at_each_run():
    g, reference = tf.random.Generator.from_seed(5), tf.random.Generator.from_seed(5)
    f = tf.function(lambda: g.normal([3]))
    f.get_concrete_function()
    assert g.state.numpy().tolist() == [5, 0, 0]  # tracing draws nothing
    traced = [f().numpy() for _ in range(3)]
    for value in traced:
        np.testing.assert_array_equal(value, reference.normal([3]).numpy())
    assert g.state.numpy().tolist() == reference.state.numpy().tolist()
    skip = tf.function(lambda: g.skip(2))
    before = g.state.numpy().tolist()
    assert skip().numpy().tolist() == before
    assert g.state.numpy()[0] == before[0] + 2


# ------------------------------------------------------------------ distributions

def test_normal_uniform_and_truncated_normal_statistics():
    g = tf.random.Generator.from_seed(11)
    x = g.normal([N], mean=2.0, stddev=3.0, dtype=tf.float64).numpy()
    _mean_within(x, 2.0, 9.0)
    assert stats.kstest(x, stats.norm(2.0, 3.0).cdf).statistic < KS_BOUND
    u = g.uniform([N], minval=-1.0, maxval=3.0, dtype=tf.float64).numpy()
    assert u.min() >= -1.0 and u.max() < 3.0
    assert stats.kstest(u, stats.uniform(-1.0, 4.0).cdf).statistic < KS_BOUND
    t = g.truncated_normal([N], mean=1.0, stddev=2.0, dtype=tf.float64).numpy()
    assert t.min() >= -3.0 and t.max() <= 5.0
    assert stats.kstest(t, stats.truncnorm(-2, 2, loc=1.0, scale=2.0).cdf).statistic < KS_BOUND


@pytest.mark.parametrize("dtype", [tf.int32, tf.int64, tf.uint32, tf.uint64])
def test_uniform_full_int_covers_the_dtype_range(dtype):
    # TF 2.21: uniform_full_int takes int32, int64, uint32, uint64 (uint64 by default);
    # uniform(minval=None, maxval=None) with an integer dtype is the same draw.
    g = tf.random.Generator.from_seed(2)
    x = g.uniform_full_int([N], dtype=dtype)
    assert x.dtype == dtype and tuple(x.shape) == (N,)
    values = x.numpy().astype(np.float64)
    lo, hi = float(dtype.min), float(dtype.max) + 1.0
    # the position in the range is uniform on [0, 1)
    position = (values - lo) / (hi - lo)
    assert stats.kstest(position, "uniform").statistic < KS_BOUND
    assert g.uniform([3], minval=None, maxval=None, dtype=dtype).dtype == dtype
    assert tf.random.Generator.from_seed(1).uniform_full_int([2]).dtype == tf.uint64


def test_uniform_integer_bounds_errors_as_tf():
    # TF 2.21: an integer dtype needs both bounds or neither; uniform_full_int rejects floats.
    g = tf.random.Generator.from_seed(1)
    with pytest.raises(ValueError, match="both minval and maxval"):
        g.uniform([2], dtype=tf.int32)
    with pytest.raises(ValueError, match="dtype must be one of"):
        g.uniform_full_int([2], dtype=tf.float32)


@pytest.mark.parametrize("counts,probs", [(10.0, 0.5), (50.0, 0.1), (3.0, 0.9)])
def test_binomial_mean_and_variance(counts, probs):
    g = tf.random.Generator.from_seed(4)
    x = g.binomial([N], counts=counts, probs=probs)
    assert x.dtype == tf.int32  # TF's default
    values = x.numpy().astype(np.float64)
    assert values.min() >= 0 and values.max() <= counts
    variance = counts * probs * (1 - probs)
    _mean_within(values, counts * probs, variance)
    # the sample variance's standard error, from the binomial's fourth central moment
    mu4 = variance * (1 + 3 * (counts - 2) * probs * (1 - probs))
    se_var = math.sqrt((mu4 - variance**2) / N)
    assert abs(values.var() - variance) < 6 * se_var


def test_binomial_broadcasts_and_rejects_integer_counts_as_tf():
    # TF 2.21: counts/probs of the sample shape and dtype=int64 work; int32 counts have no
    # kernel (an error).
    g = tf.random.Generator.from_seed(4)
    x = g.binomial([2, 3], counts=[[5.0, 6.0, 7.0]] * 2, probs=[1.0, 0.0, 1.0], dtype=tf.int64)
    assert x.dtype == tf.int64
    assert x.numpy().tolist() == [[5, 0, 7], [5, 0, 7]]  # p = 0 and 1 are certain
    assert g.binomial([2], 10.0, 0.5, dtype=tf.float32).dtype == tf.float32
    with pytest.raises(ValueError, match="counts must be floating-point"):
        g.binomial([2], counts=10, probs=0.5)


# ------------------------------------------------------------------ make_seeds and split

def test_make_seeds_shape_dtype_and_use():
    # TF 2.21: [2, count] int64, the second row zeros.
    g = tf.random.Generator.from_seed(9)
    seeds = g.make_seeds(4)
    assert seeds.dtype == tf.int64 and tuple(seeds.shape) == (2, 4)
    assert seeds.numpy()[1].tolist() == [0, 0, 0, 0]
    assert len(set(seeds.numpy()[0].tolist())) == 4
    assert tuple(g.make_seeds().shape) == (2, 1)
    draws = [tf.random.stateless_normal([16], seeds[:, i]).numpy() for i in range(4)]
    assert not np.array_equal(draws[0], draws[1])
    again = tf.random.Generator.from_seed(9).make_seeds(4)
    np.testing.assert_array_equal(again.numpy(), seeds.numpy())


def test_split_gives_independent_generators_of_the_same_algorithm():
    parent = tf.random.Generator.from_seed(11, alg="threefry")
    before = parent.state.numpy().tolist()
    children = parent.split(3)
    assert parent.state.numpy().tolist() != before
    assert [c.algorithm for c in children] == [2, 2, 2]
    assert all(c.state.numpy().tolist()[0] == 0 for c in children)  # counter 0, new key
    assert len(tf.random.Generator.from_seed(1).split()) == 1
    assert tf.random.Generator.from_seed(1).split(0) == []
    draws = [c.normal([N], dtype=tf.float64).numpy() for c in children]
    draws.append(parent.normal([N], dtype=tf.float64).numpy())
    bound = 5 / math.sqrt(N)  # the sample correlation of independent draws is ~N(0, 1/N)
    for i in range(4):
        for j in range(i + 1, 4):
            assert abs(np.corrcoef(draws[i], draws[j])[0, 1]) < bound
    replay = tf.random.Generator.from_seed(11, alg="threefry").split(3)
    np.testing.assert_array_equal(replay[2].normal([N], dtype=tf.float64).numpy(), draws[2])
    with pytest.raises(ValueError, match="non-negative"):
        parent.split(-1)


# ------------------------------------------------------------------ checkpoints

def test_checkpoint_restores_the_state_so_draws_repeat(tmp_path):
    g = tf.random.Generator.from_seed(3)
    g.normal([2])
    checkpoint = tf.train.Checkpoint(g=g)
    path = checkpoint.save(os.fspath(tmp_path / "ckpt"))
    after_save = g.normal([4]).numpy()
    g.normal([4])
    checkpoint.restore(path).assert_consumed()
    np.testing.assert_array_equal(g.normal([4]).numpy(), after_save)
    # into a generator that started elsewhere, as part of a tf.Module
    module = tf.Module()
    module.gen = tf.random.Generator.from_seed(99)
    tf.train.Checkpoint(g=module.gen).restore(path)
    np.testing.assert_array_equal(module.gen.normal([4]).numpy(), after_save)
    keys = [name for name, _ in tf.train.list_variables(path)]
    assert any(name.startswith("g/") for name in keys)


def test_checkpoint_of_another_algorithm_is_refused(tmp_path):
    path = tf.train.Checkpoint(g=tf.random.Generator.from_seed(1, "threefry")).save(
        os.fspath(tmp_path / "ckpt"))
    with pytest.raises(ValueError, match=r"shape \[3\]"):
        tf.train.Checkpoint(g=tf.random.Generator.from_seed(1)).restore(path)


# ------------------------------------------------------------------ stateless additions

@pytest.mark.parametrize("dtype", [tf.uint32, tf.uint64, tf.int32])
def test_stateless_uniform_full_range_integers(dtype):
    # TF 2.21: minval=None, maxval=None gives the full range, unsigned dtypes included.
    x = tf.random.stateless_uniform([N], [1, 2], minval=None, maxval=None, dtype=dtype)
    assert x.dtype == dtype
    again = tf.random.stateless_uniform([N], [1, 2], minval=None, maxval=None, dtype=dtype)
    np.testing.assert_array_equal(x.numpy(), again.numpy())
    position = (x.numpy().astype(np.float64) - float(dtype.min)) / (
        float(dtype.max) - float(dtype.min) + 1.0)
    assert stats.kstest(position, "uniform").statistic < KS_BOUND


def test_stateless_uniform_unsigned_with_bounds_is_refused_as_tf():
    # TF 2.21 refuses minval/maxval with an unsigned dtype (a ValueError).
    with pytest.raises(ValueError, match="unsigned"):
        tf.random.stateless_uniform([3], [1, 2], minval=0, maxval=10, dtype=tf.uint32)


def _truncnorm(mean, sd, lo, hi):
    return stats.truncnorm((lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)


@pytest.mark.parametrize("mean,sd,lo,hi", [
    (0.0, 1.0, -2.0, 2.0), (1.0, 2.0, 0.0, 1.5), (0.0, 1.0, 5.0, np.inf),
    (0.0, 1.0, -np.inf, -6.0), (3.0, 0.5, -1.0, 10.0), (0.0, 1.0, 8.0, 8.5)])
def test_parameterized_truncated_normal_matches_the_truncated_cdf(mean, sd, lo, hi):
    x = tf.random.stateless_parameterized_truncated_normal(
        [N], [3, 4], means=tf.constant(mean, tf.float64), stddevs=tf.constant(sd, tf.float64),
        minvals=tf.constant(lo, tf.float64), maxvals=tf.constant(hi, tf.float64)).numpy()
    assert x.dtype == np.float64 and x.min() >= lo and x.max() <= hi
    reference = _truncnorm(mean, sd, lo, hi)
    assert stats.kstest(x, reference.cdf).statistic < KS_BOUND
    _mean_within(x, reference.mean(), reference.var())


def test_parameterized_truncated_normal_far_tail():
    # Both bounds ~40 sd out: the tail probabilities underflow float64. The density there is
    # exp(-(x^2)/2) / Z; on [40, 41] its CDF is (Phi_c(40) - Phi_c(x)) / (Phi_c(40) - Phi_c(41)),
    # evaluated with scipy's log survival function.
    x = tf.random.stateless_parameterized_truncated_normal(
        [N], [1, 2], means=0.0, stddevs=1.0, minvals=40.0, maxvals=41.0).numpy().astype(np.float64)
    assert x.min() >= 40.0 and x.max() <= 41.0
    log_sf40 = stats.norm.logsf(40.0)

    def cdf(v):
        return -np.expm1(stats.norm.logsf(v) - log_sf40)  # Phi_c(41)/Phi_c(40) ~ e^-40.5

    # float32 output: the positions resolve to ~4e-6, far inside the KS bound
    assert stats.kstest(x, cdf).statistic < KS_BOUND


def test_parameterized_truncated_normal_shapes_dtypes_and_errors():
    # TF 2.21: parameters broadcast to the shape (shape [2, 3] with [3]-vectors); the dtype
    # is float32 for Python numbers, means' dtype otherwise; a shape the parameters do not
    # end with, stddev <= 0, minval >= maxval and a seed not of shape [2] are errors.
    f = tf.random.stateless_parameterized_truncated_normal
    x = f([2, 3], [1, 2], means=[0.0, 1.0, 2.0], stddevs=1.0, minvals=-1.0,
          maxvals=[1.0, 2.0, 3.0])
    assert x.dtype == tf.float32 and tuple(x.shape) == (2, 3)
    assert np.all(x.numpy() >= -1.0) and np.all(x.numpy() <= [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(
        x.numpy(), f([2, 3], [1, 2], means=[0.0, 1.0, 2.0], stddevs=1.0, minvals=-1.0,
                     maxvals=[1.0, 2.0, 3.0]).numpy())
    with pytest.raises(ValueError, match="broadcast"):
        f([4], [1, 2], means=[0.0, 1.0])
    with pytest.raises(ValueError, match="stddevs > 0"):
        f([3], [1, 2], stddevs=0.0)
    with pytest.raises(ValueError, match="minvals < maxvals"):
        f([3], [1, 2], minvals=1.0, maxvals=-1.0)
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        f([3], [1, 2, 3])


def test_stateless_shuffle_is_a_seeded_permutation_of_rows():
    x = tf.reshape(tf.range(40), [20, 2])
    a = tf.random.experimental.stateless_shuffle(x, [1, 2])
    b = tf.random.experimental.stateless_shuffle(x, [1, 2])
    c = tf.random.experimental.stateless_shuffle(x, [1, 3])
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert sorted(map(tuple, a.numpy().tolist())) == sorted(map(tuple, x.numpy().tolist()))
    assert not np.array_equal(a.numpy(), c.numpy())
    # TF 2.21: a scalar comes back unchanged; a bad seed is an error
    assert int(tf.random.experimental.stateless_shuffle(5, [1, 2])) == 5
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        tf.random.experimental.stateless_shuffle([1, 2, 3], [1])


def test_index_shuffle_is_a_seeded_permutation():
    shuffle = tf.random.experimental.index_shuffle
    full = shuffle(tf.range(10), [5, 9], 9)
    assert full.dtype == tf.int32 and sorted(full.numpy().tolist()) == list(range(10))
    # one index at a time gives the same permutation (the point of index_shuffle)
    assert [int(shuffle(i, [5, 9], 9)) for i in range(10)] == full.numpy().tolist()
    assert not np.array_equal(full.numpy(), shuffle(tf.range(10), [5, 8], 9).numpy())
    wide = shuffle(tf.constant(3, tf.int64), tf.constant([1, 2], tf.int64),
                   tf.constant(9, tf.int64))
    assert wide.dtype == tf.int64 and 0 <= int(wide) <= 9
    # TF 2.21 errors: index beyond max_index, negative, float index
    with pytest.raises(ValueError, match="max_index"):
        shuffle(12, [1, 2], 9)
    with pytest.raises(ValueError, match=r"\[0, max_index"):
        shuffle(-1, [1, 2], 9)
    with pytest.raises(ValueError, match="int32, int64"):
        shuffle(3.0, [1, 2], 9)


def test_the_namespaces_hold_tf_2_21_names():
    # dir(tf.random.experimental) in TF 2.21, and the additions to dir(tf.random)
    for name in ("Algorithm", "Generator", "create_rng_state", "get_global_generator",
                 "index_shuffle", "set_global_generator", "stateless_fold_in",
                 "stateless_shuffle", "stateless_split"):
        assert hasattr(tf.random.experimental, name), name
    for name in ("Algorithm", "create_rng_state", "stateless_parameterized_truncated_normal"):
        assert hasattr(tf.random, name), name
    for name in ("algorithm", "binomial", "from_key_counter", "from_non_deterministic_state",
                 "from_seed", "from_state", "key", "make_seeds", "normal", "reset",
                 "reset_from_key_counter", "reset_from_seed", "skip", "split", "state",
                 "truncated_normal", "uniform", "uniform_full_int"):
        assert hasattr(tf.random.Generator, name), name
