"""Keras masks reach the losses and metrics, and eager layer calls: a model whose output
carries a mask (Embedding(mask_zero=True), Masking) is trained and evaluated over the unmasked
steps only, in Functional, Sequential and subclassed models, and a layer called eagerly passes
its input's mask on as Keras does. Real Keras 3 (torch backend) and float64 NumPy are the
references."""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

STEPS, VOCAB, CLASSES = 6, 15, 4


def _tokens(seed=17, batch=12):
    """Padded token ids (0 is padding, at the end of each row) and per-step class labels."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, size=(batch, STEPS)).astype("int32")
    for row, length in enumerate(rng.integers(2, STEPS + 1, size=batch)):
        x[row, length:] = 0
    return x, rng.integers(0, CLASSES, size=(batch, STEPS))


def _functional(k):
    tokens = k.Input((STEPS,), dtype="int32")
    h = k.layers.Embedding(VOCAB, 5, mask_zero=True)(tokens)
    h = k.layers.LSTM(3, return_sequences=True)(h)
    return k.Model(tokens, k.layers.Dense(CLASSES, activation="softmax")(h))


def _sequential(k):
    return k.Sequential([k.Input((STEPS,), dtype="int32"),
                         k.layers.Embedding(VOCAB, 5, mask_zero=True),
                         k.layers.LSTM(3, return_sequences=True),
                         k.layers.Dense(CLASSES, activation="softmax")])


def _subclassed(k):
    class Tagger(k.Model):
        def __init__(self):
            super().__init__()
            self.embed = k.layers.Embedding(VOCAB, 5, mask_zero=True)
            self.rnn = k.layers.LSTM(3, return_sequences=True)
            self.head = k.layers.Dense(CLASSES, activation="softmax")

        def call(self, x):  # the LSTM gets the embedding's mask without being handed it
            return self.head(self.rnn(self.embed(x)))

    model = Tagger()
    model(np.ones((1, STEPS), "int32"))
    return model


@pytest.mark.keras_oracle
@pytest.mark.parametrize("build", [_functional, _sequential, _subclassed],
                         ids=["functional", "sequential", "subclassed"])
def test_a_masked_tagger_predicts_evaluates_and_trains_as_keras_does(build):
    real = import_keras()
    x, y = _tokens()
    ours, theirs = build(keras), build(real)
    theirs.set_weights(ours.get_weights())
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-6, what="predictions")
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    got = ours.evaluate(x, y, batch_size=12, verbose=0)
    want = theirs.evaluate(x, y, batch_size=12, verbose=0)
    assert_matches(np.array(got), np.array(want), rtol=1e-5, what="evaluate [loss, accuracy]")
    history = ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    expected = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    for key in ("loss", "accuracy"):
        assert_matches(np.array(history[key]), np.array(expected[key]), rtol=1e-5,
                       what=f"History {key}")
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_matches(a, b, rtol=1e-5, atol=1e-6, what="weights after fit")


def test_the_loss_and_accuracy_are_means_over_the_unmasked_steps():
    x, y = _tokens(seed=3)
    model = _functional(keras)
    # (larger weights than the initial ones: predictions far from uniform, so that the
    # padding steps' losses differ from the others')
    model.set_weights([w * 4 for w in model.get_weights()])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    loss, accuracy = model.evaluate(x, y, batch_size=len(x), verbose=0)
    p = model.predict(x, verbose=0).astype(np.float64)
    valid = x != 0
    assert 0 < valid.sum() < valid.size
    per_step = -np.log(np.take_along_axis(p, y[..., None], axis=-1)[..., 0])
    np.testing.assert_allclose(loss, per_step[valid].mean(), rtol=1e-5)
    np.testing.assert_allclose(accuracy, (p.argmax(-1) == y)[valid].mean(), rtol=1e-6)
    # (an unmasked mean would differ: the padding steps have losses of their own)
    assert abs(per_step.mean() - per_step[valid].mean()) > 1e-3


def _masked_regression(k):
    series = k.Input((STEPS, 2))
    h = k.layers.Masking(0.0)(series)
    h = k.layers.LSTM(3, return_sequences=True)(h)
    return k.Model(series, k.layers.Dense(1)(h))


@pytest.mark.keras_oracle
def test_a_mask_and_sample_weights_together_weigh_the_loss_as_keras_does():
    real = import_keras()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(8, STEPS, 2)).astype("float32")
    x[4:, 4:] = 0.0  # padding steps: Masking(0.0) masks them
    x[:3, 2:] = 0.0
    y = rng.normal(size=(8, STEPS, 1)).astype("float32")
    # Temporal weights, one per step: with a per-step mask, per-sample weights of shape (8,)
    # do not broadcast in Keras either.
    weights = rng.uniform(0.5, 2.0, size=(8, STEPS)).astype("float32")
    ours, theirs = _masked_regression(keras), _masked_regression(real)
    theirs.set_weights(ours.get_weights())
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    got = ours.evaluate(x, y, sample_weight=weights, batch_size=8, verbose=0)
    want = theirs.evaluate(x, y, sample_weight=weights, batch_size=8, verbose=0)
    assert_matches(np.array(got), np.array(want), rtol=1e-5, what="evaluate [loss, mae]")
    history = ours.fit(x, y, sample_weight=weights, batch_size=4, epochs=2, shuffle=False,
                       verbose=0).history
    expected = theirs.fit(x, y, sample_weight=weights, batch_size=4, epochs=2,
                          shuffle=False, verbose=0).history
    assert_matches(np.array(history["loss"]), np.array(expected["loss"]), rtol=1e-5,
                   what="History loss")
    # Keras's weighting, in float64: the masked steps drop out, the loss is the weighted sum
    # over the valid steps divided by their count (not by their weights' sum).
    p = ours.predict(x, verbose=0)[..., 0].astype(np.float64)
    valid = (x != 0).any(axis=-1)
    squared = (p - y[..., 0]) ** 2
    loss = ours.evaluate(x, y, sample_weight=weights, batch_size=8, verbose=0)[0]
    np.testing.assert_allclose(loss, (squared * weights * valid).sum() / valid.sum(), rtol=1e-5)


@pytest.mark.keras_oracle
def test_an_eager_layer_call_passes_its_inputs_mask_on():
    real = import_keras()
    x, y = _tokens(seed=9, batch=5)
    for k in (keras, real):
        probabilities = k.layers.Dense(CLASSES)(k.layers.Embedding(VOCAB, 5, mask_zero=True)(x))
        mask = getattr(probabilities, "_keras_mask", None)
        assert mask is not None, f"{k.__name__}: the Dense output lost the mask"
        np.testing.assert_array_equal(np.asarray(mask if k is keras else mask.cpu()), x != 0)
    # The same layers' loss on the eager output is the masked mean.
    embed = keras.layers.Embedding(VOCAB, 5, mask_zero=True)
    head = keras.layers.Dense(CLASSES, activation="softmax")
    probabilities = head(embed(x))
    loss = keras.losses.SparseCategoricalCrossentropy()(y, probabilities)
    p = np.asarray(probabilities, np.float64)
    per_step = -np.log(np.take_along_axis(p, y[..., None], axis=-1)[..., 0])
    np.testing.assert_allclose(float(loss), per_step[x != 0].mean(), rtol=1e-5)


def test_a_float_mask_survives_the_layers_cast_of_its_input():
    x, _ = _tokens(seed=4, batch=3)
    embed = keras.layers.Embedding(VOCAB, 4, mask_zero=True, dtype="float64")
    h = embed(x)
    dense = keras.layers.Dense(2)  # float32: the float64 input is cast, its mask kept
    out = dense(h)
    assert str(out.dtype.name) == "float32"
    np.testing.assert_array_equal(np.asarray(out._keras_mask), x != 0)
