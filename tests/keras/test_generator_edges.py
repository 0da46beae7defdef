"""fit/evaluate/predict on Python generators: the edges Keras 3 defines.

Expected behaviour observed with Keras 3.x (TensorFlow backend):
- fit(finite_gen, epochs=3) with 4 batches runs 4 batches in epoch 0, then 2 in each later
  epoch (the 2 batches Keras reads up front are replayed once the generator is spent), warns
  "Your input ran out of data" once per epoch, and History has 3 losses for epochs [0, 1, 2].
  (Keras's TF backend reports optimizer.iterations == 11 there: its step counter also counts
  the step that hit the end of data; the 8 batches run are what we match.)
- evaluate/fit/predict on an empty or exhausted generator raise ValueError "...the generator
  must yield at least one batch. Received an empty generator."
- validation_data=finite generator with validation_steps=2 validates on batches 0 and 1 in
  every epoch (the same replayed batches), not on the next batches of the generator.
"""

import warnings

import numpy as np
import pytest

from tensorflux import keras

RAN_OUT = "Your input ran out of data"
EMPTY = "the generator must yield at least one batch. Received an empty generator."


def _data(rows):
    rng = np.random.default_rng(10)
    return (rng.normal(size=(rows, 4)).astype("float32"),
            rng.normal(size=(rows, 2)).astype("float32"))


def _model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return model


def _batches(x, y, size):
    for start in range(0, len(x), size):
        yield x[start:start + size], y[start:start + size]


def test_fit_finite_generator_several_epochs_matches_keras():
    x, y = _data(32)
    model = _model()
    seen, ends = [], []
    callback = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: seen.append(batch),
        on_epoch_end=lambda epoch, logs: ends.append((epoch, sorted(logs))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(_batches(x, y, 8), epochs=3, verbose=0, callbacks=[callback])
    assert seen == [0, 1, 2, 3, 0, 1, 0, 1]
    assert int(model.optimizer.iterations.numpy()) == 8
    assert history.epoch == [0, 1, 2]
    assert len(history.history["loss"]) == 3 and len(history.history["mae"]) == 3
    assert ends == [(0, ["loss", "mae"]), (1, ["loss", "mae"]), (2, ["loss", "mae"])]
    assert sum(RAN_OUT in str(w.message) for w in caught) == 3


def test_fit_finite_generator_losses_replay_first_batches():
    # Epochs 1 and 2 train on batches 0 and 1 only: the same as fitting arrays of 16 rows.
    x, y = _data(32)
    model = _model()
    weights = model.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(_batches(x, y, 8), epochs=3, verbose=0)
    reference = _model()
    reference.set_weights(weights)
    reference.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    reference.fit(x[:16], y[:16], batch_size=8, epochs=2, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("call", ["evaluate", "fit", "predict"])
def test_empty_generator_raises_keras_error(call):
    model = _model()
    empty = (batch for batch in [])
    with pytest.raises(ValueError, match=EMPTY):
        getattr(model, call)(empty, verbose=0)


def test_evaluate_exhausted_generator_raises_instead_of_empty_result():
    x, y = _data(32)
    model = _model()
    generator = _batches(x, y, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.evaluate(generator, verbose=0)
    assert len(result) == 2
    assert sum(RAN_OUT in str(w.message) for w in caught) == 1
    with pytest.raises(ValueError, match=EMPTY):
        model.evaluate(generator, verbose=0)


def test_validation_generator_with_steps_uses_the_same_batches_each_epoch():
    x, y = _data(30)

    def endless():
        while True:
            yield from _batches(x[:24], y[:24], 8)

    model = _model()
    found = []

    def check(epoch, logs):
        kernel, bias = model.get_weights()
        per_row = (((x @ kernel + bias) - y) ** 2).mean(axis=1)
        found.append((logs["val_loss"], float(per_row[:8].mean())))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(endless(), steps_per_epoch=3, epochs=3, verbose=0,
                  validation_data=_batches(x, y, 4), validation_steps=2,
                  callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=check)])
    assert len(found) == 3
    for val_loss, first_two_batches in found:
        assert val_loss == pytest.approx(first_two_batches, rel=1e-5)
