"""Saving across layer families: models built from convolution, pooling, normalization,
recurrent and attention layers round-trip through .keras files here, and move both ways
between tensorflux and real Keras 3 with the same predictions.

Each architecture is written once against a `keras` module argument, so the same code builds
the tensorflux model and the real Keras one.
"""

import os

import numpy as np
import pytest

from tensorflux import keras

pytest.importorskip("h5py", reason="saving needs the h5 extra (pip install h5py)")


def sequence_model(k):
    tokens = k.Input((12,), dtype="int32", name="tokens")
    x = k.layers.Embedding(50, 8, name="embed")(tokens)
    x = k.layers.Conv1D(8, 3, padding="causal", activation="relu", name="conv")(x)
    x = k.layers.BatchNormalization(name="bn")(x)
    x = k.layers.LSTM(6, return_sequences=True, name="lstm")(x)
    x = k.layers.Bidirectional(k.layers.GRU(5, return_sequences=True), name="bigru")(x)
    x = k.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(x, x)
    x = k.layers.LayerNormalization(name="ln")(x)
    x = k.layers.GlobalAveragePooling1D(name="gap")(x)
    out = k.layers.Dense(3, activation="softmax", name="out")(x)
    return k.Model(tokens, out, name="sequence_model")


def image_model(k):
    return k.Sequential([
        k.Input((10, 10, 3)),
        k.layers.Conv2D(6, 3, padding="same", activation="relu", name="c1"),
        k.layers.DepthwiseConv2D(3, name="dw"),
        k.layers.MaxPooling2D(2, name="pool"),
        k.layers.SeparableConv2D(5, 2, name="sep"),
        k.layers.Conv2DTranspose(4, 2, strides=2, name="up"),
        k.layers.BatchNormalization(name="bn"),
        k.layers.GlobalAveragePooling2D(name="gap"),
        k.layers.Dense(2, name="out"),
    ], name="image_model")


def _inputs(make, seed=0):
    rng = np.random.default_rng(seed)
    if make is sequence_model:
        return rng.integers(0, 50, size=(4, 12)).astype("int32")
    return rng.uniform(-1, 1, size=(4, 10, 10, 3)).astype("float32")


def _targets(make, seed=1):
    rng = np.random.default_rng(seed)
    if make is sequence_model:
        return rng.integers(0, 3, size=(4,))
    return rng.normal(size=(4, 2)).astype("float32")


def _compile(model, make):
    loss = "sparse_categorical_crossentropy" if make is sequence_model else "mse"
    model.compile(optimizer="adam", loss=loss)


def _numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


@pytest.mark.parametrize("make", [sequence_model, image_model])
def test_round_trip_here_predicts_and_trains_identically(make, tmp_path):
    x, y = _inputs(make), _targets(make)
    model = make(keras)
    _compile(model, make)
    model.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # Training continues identically: the optimizer state came back with the weights.
    model.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def real_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    module = pytest.importorskip("keras", reason="real Keras 3 is the oracle")
    if not module.__version__.startswith("3."):
        pytest.skip("the oracle must be Keras 3")
    return module


@pytest.mark.keras_oracle
@pytest.mark.parametrize("make", [sequence_model, image_model])
def test_files_move_both_ways_with_real_keras(make, real_keras, tmp_path):
    x, y = _inputs(make), _targets(make)

    ours = make(keras)
    _compile(ours, make)
    ours.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    ours.save(tmp_path / "ours.keras")
    in_keras = real_keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(_numpy(in_keras.predict(x, verbose=0)),
                               ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6)

    theirs = make(real_keras)
    _compile(theirs, make)
    theirs.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    theirs.save(tmp_path / "theirs.keras")
    here = keras.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(here.predict(x, verbose=0),
                               _numpy(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)
