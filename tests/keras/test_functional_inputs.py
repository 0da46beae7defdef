"""A Functional model built on a list of named Inputs takes a dict of arrays by those names,
as Keras does: other keys (an id column) are left alone, a missing one is named."""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401


def _two_inputs(k):
    a, b = k.Input((3,), name="a"), k.Input((2,), name="b")
    return k.Model([a, b], k.layers.Dense(1)(k.layers.Concatenate()([a, b])))


@pytest.mark.keras_oracle
def test_a_dict_with_an_extra_key_feeds_a_list_model_by_input_name():
    real = import_keras()
    rng = np.random.default_rng(0)
    data = {"id": np.arange(8), "b": rng.normal(size=(8, 2)).astype("float32"),
            "a": rng.normal(size=(8, 3)).astype("float32")}
    y = rng.normal(size=(8, 1)).astype("float32")
    ours, theirs = _two_inputs(keras), _two_inputs(real)
    theirs.set_weights(ours.get_weights())
    assert_matches(ours.predict(data, verbose=0), theirs.predict(data, verbose=0), rtol=1e-6,
                   what="predict on a dict")
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="mse")
    history = ours.fit(data, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    expected = theirs.fit(data, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert_matches(np.array(history["loss"]), np.array(expected["loss"]), rtol=1e-5,
                   what="History loss")


def test_a_dict_missing_an_input_names_it_and_the_keys_it_has():
    model = _two_inputs(keras)
    with pytest.raises(ValueError, match=r"takes its inputs \['a', 'b'\] from a dict by name, "
                                         r"but the dict has no key 'b'; it has the keys "
                                         r"\['a', 'id'\]"):
        model.predict({"a": np.ones((2, 3), "float32"), "id": np.arange(2)}, verbose=0)


@pytest.mark.keras_oracle
def test_the_model_calls_training_flag_overrides_one_given_when_the_graph_was_built():
    # Keras 3 (its transfer-learning guide says so since keras-team/keras#20285): fit trains
    # a BatchNormalization built with training=False; predict does not apply a Dropout built
    # with training=True; a direct call without a flag keeps what the graph says.
    real = import_keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    means = []
    for k in (keras, real):
        inputs = k.Input((4,))
        normed = k.layers.BatchNormalization(name="bn")(inputs, training=False)
        model = k.Model(inputs, k.layers.Dense(1)(normed))
        if means:
            model.set_weights(means[0][1])
        model.compile(optimizer="sgd", loss="mse")
        weights = model.get_weights()
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        means.append((np.asarray(model.get_layer("bn").moving_mean), weights))
    assert np.abs(means[0][0]).max() > 0  # trained: the moving mean moved off zero
    assert_matches(means[0][0], means[1][0], rtol=1e-5, atol=1e-7, what="moving_mean")

    inputs = keras.Input((4,), batch_size=4)
    model = keras.Model(inputs, keras.layers.Dropout(0.5)(inputs, training=True))
    ones = np.ones((4, 4), "float32")
    np.testing.assert_array_equal(model.predict(ones, verbose=0), ones)
    assert (np.asarray(model(ones)) == 0).any()
