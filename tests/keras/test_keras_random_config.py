"""keras.random (shapes, dtypes, seeds, SeedGenerator, distributions) and keras.config,
against real Keras 3 where the two can be compared."""

import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import fresh_names, import_keras  # noqa: F401

N = 200_000


@pytest.mark.parametrize("draw", [
    lambda seed: keras.random.normal((3, 4), seed=seed),
    lambda seed: keras.random.uniform((3, 4), seed=seed),
    lambda seed: keras.random.truncated_normal((3, 4), seed=seed),
    lambda seed: keras.random.randint((3, 4), 0, 10, seed=seed),
    lambda seed: keras.random.dropout(tf.ones((3, 4)), 0.5, seed=seed),
    lambda seed: keras.random.shuffle(tf.range(12), seed=seed),
    lambda seed: keras.random.categorical(tf.zeros((3, 5)), 4, seed=seed),
], ids=["normal", "uniform", "truncated_normal", "randint", "dropout", "shuffle", "categorical"])
def test_shapes_dtypes_and_seeds_match_keras_semantics(draw):
    ours = draw(7)
    # An int seed gives the same values on every call; a SeedGenerator advances.
    np.testing.assert_array_equal(ours.numpy(), draw(7).numpy())
    generator = keras.random.SeedGenerator(3)
    first, second = draw(generator).numpy(), draw(generator).numpy()
    replay = keras.random.SeedGenerator(3)
    np.testing.assert_array_equal(first, draw(replay).numpy())
    np.testing.assert_array_equal(second, draw(replay).numpy())
    if first.size > 1 and len(np.unique(first)) > 1:
        assert not np.array_equal(first, second)


@pytest.mark.parametrize("name,args,kwargs", [
    ("normal", ((3, 4),), {}), ("normal", ((2,),), {"dtype": "float64"}),
    ("uniform", ((3, 4),), {"minval": -1.0, "maxval": 2.0}),
    ("truncated_normal", ((5,),), {"dtype": "float16"}),
    ("randint", ((3, 4), 0, 10), {}), ("randint", ((2,), 0, 10), {"dtype": "int64"}),
    ("categorical", (np.zeros((3, 5), "float32"), 4), {}),
    ("dropout", (np.ones((3, 4), "float32"), 0.5), {}),
    ("shuffle", (np.arange(12, dtype="int32").reshape(3, 4),), {"axis": 1}),
])
def test_shapes_and_dtypes_equal_keras(name, args, kwargs):
    real = import_keras()
    ours = getattr(keras.random, name)(*args, seed=1, **kwargs)
    their_args = [real.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    theirs = getattr(real.random, name)(*their_args, seed=1, **kwargs)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.dtype.name == real.backend.standardize_dtype(theirs.dtype)


def test_unseeded_draws_differ_and_set_random_seed_repeats_them():
    assert not np.array_equal(keras.random.normal((4,)).numpy(), keras.random.normal((4,)).numpy())
    keras.utils.set_random_seed(5)
    a = keras.random.uniform((4,)).numpy()
    keras.utils.set_random_seed(5)
    np.testing.assert_array_equal(a, keras.random.uniform((4,)).numpy())


def test_distributions():
    normal = keras.random.normal((N,), mean=2.0, stddev=3.0, seed=1).numpy()
    assert abs(normal.mean() - 2.0) < 0.03 and abs(normal.std() - 3.0) < 0.03
    uniform = keras.random.uniform((N,), minval=-1.0, maxval=3.0, seed=2).numpy()
    assert uniform.min() >= -1.0 and uniform.max() < 3.0
    assert abs(uniform.mean() - 1.0) < 0.02 and abs(uniform.var() - 16 / 12) < 0.02
    truncated = keras.random.truncated_normal((N,), stddev=2.0, seed=3).numpy()
    assert np.abs(truncated).max() <= 4.0
    assert abs(truncated.std() - 2.0 * 0.8796) < 0.02  # the std of a normal cut at 2 sigma
    ints = keras.random.randint((N,), 3, 7, seed=4).numpy()
    assert set(np.unique(ints)) == {3, 4, 5, 6}
    np.testing.assert_allclose(np.bincount(ints)[3:] / N, 0.25, atol=0.01)
    kept = keras.random.dropout(tf.ones((N,)), 0.3, seed=5).numpy()
    values = np.unique(kept)
    assert len(values) == 2 and values[0] == 0.0 and np.isclose(values[1], 1 / 0.7)
    assert abs((kept == 0).mean() - 0.3) < 0.01
    logits = np.log(np.array([[0.1, 0.2, 0.7]], "float32"))
    samples = keras.random.categorical(logits, N, seed=6).numpy()
    np.testing.assert_allclose(np.bincount(samples[0], minlength=3) / N, [0.1, 0.2, 0.7],
                               atol=0.01)
    shuffled = keras.random.shuffle(tf.range(1000), seed=7).numpy()
    assert sorted(shuffled.tolist()) == list(range(1000)) and shuffled.tolist() != list(
        range(1000))
    positions = np.stack([keras.random.shuffle(tf.range(4), seed=s).numpy() for s in range(2000)])
    np.testing.assert_allclose((positions == 0).mean(axis=0), 0.25, atol=0.04)


def test_seed_generator_config_and_bad_seeds():
    generator = keras.random.SeedGenerator(seed=11)
    assert generator.get_config() == {"seed": 11}
    clone = keras.random.SeedGenerator.from_config(generator.get_config())
    np.testing.assert_array_equal(keras.random.normal((3,), seed=generator).numpy(),
                                  keras.random.normal((3,), seed=clone).numpy())
    assert tuple(generator.next().shape) == (2,)
    with pytest.raises(ValueError, match="seed"):
        keras.random.normal((2,), seed="1")
    with pytest.raises(ValueError, match="seed"):
        keras.random.SeedGenerator(1.5)


def test_random_ops_trace_inside_tf_function():
    generator = keras.random.SeedGenerator(2)
    f = tf.function(lambda: keras.random.uniform((3,), seed=generator))
    a, b = f().numpy(), f().numpy()
    assert not np.array_equal(a, b)  # the generator advances at each run, not at trace time


def test_config_matches_keras_defaults_and_backend_settings():
    real = import_keras()
    for name in ("floatx", "epsilon", "image_data_format"):
        assert getattr(keras.config, name)() == getattr(real.config, name)()
    assert keras.config.backend() == "tensorflux"
    keras.config.set_floatx("float64")
    try:
        assert keras.backend.floatx() == "float64"
        assert keras.ops.ones((2,)).dtype.name == "float64"
        assert keras.ops.add(keras.ops.ones((1,), "int32"), 1.5).dtype.name == "float64"
    finally:
        keras.config.set_floatx("float32")
    keras.config.set_epsilon(1e-5)
    try:
        assert keras.backend.epsilon() == 1e-5
    finally:
        keras.config.set_epsilon(1e-7)
    keras.config.set_image_data_format("channels_first")
    try:
        assert keras.backend.image_data_format() == "channels_first"
    finally:
        keras.config.set_image_data_format("channels_last")
    with pytest.raises(ValueError):
        keras.config.set_floatx("int32")


def test_unsafe_deserialization_cannot_be_enabled():
    assert keras.config.is_unsafe_deserialization_enabled() is False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras.config.enable_unsafe_deserialization()
    assert any("never executes code" in str(w.message) for w in caught)
    assert keras.config.is_unsafe_deserialization_enabled() is False
    keras.config.disable_unsafe_deserialization()
    assert keras.config.is_unsafe_deserialization_enabled() is False


def test_harmless_settings():
    keras.config.disable_traceback_filtering()
    assert not keras.config.is_traceback_filtering_enabled()
    keras.config.enable_traceback_filtering()
    assert keras.config.is_traceback_filtering_enabled()
    keras.config.disable_interactive_logging()
    try:
        assert not keras.config.is_interactive_logging_enabled()
        assert not keras.utils.is_interactive_logging_enabled()
    finally:
        keras.config.enable_interactive_logging()
    assert keras.config.is_interactive_logging_enabled()


def test_top_level_aliases():
    from tensorflux.keras import initializers, layers, losses, metrics, optimizers, regularizers

    assert keras.Loss is losses.Loss and keras.Metric is metrics.Metric
    assert keras.InputSpec is layers.InputSpec and keras.Optimizer is optimizers.Optimizer
    assert keras.Initializer is initializers.Initializer
    assert keras.Regularizer is regularizers.Regularizer
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    assert isinstance(dense.kernel, keras.Variable)
    assert isinstance(keras.Variable([1.0]), tf.Variable)
    with pytest.raises(AttributeError, match="no_such_thing"):
        keras.no_such_thing  # noqa: B018
