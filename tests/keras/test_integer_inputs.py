"""Integer inputs to layers whose arithmetic is floating: Keras's ops promote int32 with
float32 to float32, so Dense(2) of int32 features gives float32 and trains. Real Keras 3 (torch
backend) is the oracle; the core ops keep TensorFlow's rule and never promote silently."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

FEATURES = np.arange(12, dtype="int32").reshape(4, 3) - 5
SEQUENCES = (np.arange(48, dtype="int32").reshape(4, 4, 3) % 7) - 3

LAYERS = {
    "Dense": (lambda L: L.Dense(2), FEATURES),
    "LSTM": (lambda L: L.LSTM(2), SEQUENCES),
    "GRU": (lambda L: L.GRU(2, return_sequences=True), SEQUENCES),
    "SimpleRNN": (lambda L: L.SimpleRNN(2), SEQUENCES),
    "Bidirectional": (lambda L: L.Bidirectional(L.LSTM(2)), SEQUENCES),
    "TimeDistributed": (lambda L: L.TimeDistributed(L.Dense(2)), SEQUENCES),
    "GlobalAveragePooling1D": (lambda L: L.GlobalAveragePooling1D(), SEQUENCES),
}


@pytest.mark.keras_oracle
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_floating_layer_of_integer_inputs_computes_in_float32_as_keras_does(name):
    real = import_keras()
    make, x = LAYERS[name]
    ours, theirs = make(keras.layers), make(real.layers)
    got = ours(x)
    theirs(x)
    theirs.set_weights(ours.get_weights())
    want = theirs(x)
    assert got.dtype.name == "float32"
    assert_matches(got, want, rtol=1e-5, atol=1e-6, what=f"{name} of int32 inputs")
    symbolic = make(keras.layers)(keras.Input(x.shape[1:], dtype="int32"))
    expected = make(real.layers)(real.Input(x.shape[1:], dtype="int32"))
    assert symbolic.dtype == expected.dtype == "float32"


@pytest.mark.keras_oracle
def test_a_model_of_integer_features_trains_as_keras_does():
    real = import_keras()
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(16, 3)).astype("int32")
    y = rng.normal(size=(16, 1)).astype("float32")
    models = []
    for k in (keras, real):
        inputs = k.Input((3,), dtype="int32")
        model = k.Model(inputs, k.layers.Dense(1)(k.layers.Dense(4, activation="tanh")(inputs)))
        model.compile(optimizer="sgd", loss="mse")
        models.append(model)
    ours, theirs = models
    assert ours.outputs[0].dtype == theirs.outputs[0].dtype == "float32"
    theirs.set_weights(ours.get_weights())
    history = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    expected = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert_matches(np.array(history["loss"]), np.array(expected["loss"]), rtol=1e-5,
                   what="History loss")
    predictions = ours.predict(x, verbose=0)
    assert predictions.dtype == np.float32
    assert_matches(predictions, theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6,
                   what="predictions")


def test_layers_that_keep_integers_keep_them():
    assert keras.layers.Flatten()(SEQUENCES).dtype.name == "int32"
    assert keras.layers.GlobalMaxPooling1D()(SEQUENCES).dtype.name == "int32"
    tokens = keras.layers.Embedding(10, 2)(np.abs(FEATURES))
    assert tokens.dtype.name == "float32"


def test_the_core_ops_never_promote_a_keras_variable_silently():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(tf.errors.InvalidArgumentError, match="same dtype.*int32.*float32"):
        tf.matmul(tf.constant(FEATURES), layer.kernel)
    with pytest.raises(tf.errors.InvalidArgumentError, match="same dtype"):
        tf.constant(np.ones((3, 2), "int32")) + layer.kernel
