"""AlphaDropout against real Keras 3 (torch backend): the two values a unit can take, the
moments it keeps, inference, seeding, noise_shape and config."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras as tfk

from ._oracle import assert_matches, import_keras

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def _np(x):
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("rate", [0.1, 0.5])
@pytest.mark.parametrize("value", [2.0, -0.75])
def test_training_values_match_keras(keras, rate, value):
    # With a constant input every output is one of two numbers, a*value + b (kept) or
    # a*alpha_p + b (dropped): the same two in Keras and here, in about the same shares.
    x = np.full((40, 100), value, dtype="float32")
    theirs = keras.ops.convert_to_numpy(
        keras.layers.AlphaDropout(rate, seed=3)(x, training=True))
    ours = _np(tfk.layers.AlphaDropout(rate, seed=3)(tf.constant(x), training=True))
    k_values, k_counts = np.unique(theirs, return_counts=True)
    t_values, t_counts = np.unique(ours, return_counts=True)
    assert k_values.size == 2 and t_values.size == 2
    np.testing.assert_allclose(t_values, k_values, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(t_counts / x.size, k_counts / x.size, atol=0.04)


@pytest.mark.keras_oracle
def test_inference_is_identity_and_config_matches(keras):
    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    for training in (None, False):
        layer = tfk.layers.AlphaDropout(0.4, seed=1)
        assert_matches(layer(tf.constant(x), training=training), x, what="inference")
    kwargs = dict(rate=0.3, noise_shape=(None, 1), seed=7, name="ad")
    k_config = keras.layers.AlphaDropout(**kwargs).get_config()
    t_config = tfk.layers.AlphaDropout(**kwargs).get_config()
    assert set(t_config) >= {"rate", "noise_shape", "seed", "name"}
    for key in ("rate", "noise_shape", "seed", "name", "trainable"):
        assert t_config[key] == k_config[key], key
    clone = tfk.layers.AlphaDropout.from_config(t_config)
    assert clone.get_config() == t_config
    restored = tfk.layers.deserialize(tfk.layers.serialize(clone))
    assert type(restored).__name__ == "AlphaDropout" and restored.rate == 0.3


def test_seeded_reproducible_and_rate_zero():
    x = tf.ones((4, 50))
    a = tfk.layers.AlphaDropout(0.5, seed=11)(x, training=True).numpy()
    b = tfk.layers.AlphaDropout(0.5, seed=11)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    layer = tfk.layers.AlphaDropout(0.5, seed=11)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(tfk.layers.AlphaDropout(0.0)(x, training=True).numpy(),
                                  x.numpy())


def test_keeps_selu_moments_and_noise_shape():
    x = tf.constant(np.random.default_rng(2).normal(size=(200, 500)).astype("float32"))
    out = tfk.layers.AlphaDropout(0.2, seed=0)(x, training=True).numpy()
    assert abs(out.mean()) < 0.02 and abs(out.std() - 1.0) < 0.02
    shared = tfk.layers.AlphaDropout(0.5, noise_shape=(None, 1), seed=0)
    out = shared(tf.ones((6, 8)), training=True).numpy()
    assert all(np.unique(row).size == 1 for row in out)
    with pytest.raises(ValueError, match="rate"):
        tfk.layers.AlphaDropout(1.5)


def test_in_a_model_fit():
    model = tfk.Sequential([tfk.Input((4,)), tfk.layers.Dense(8, activation="selu"),
                            tfk.layers.AlphaDropout(0.2, seed=1), tfk.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))
