"""Keras 2 (tf_keras 2.x) arguments that Keras 3 removed, accepted so that old training
scripts run with only the import changed: `fit/evaluate/predict(workers=, max_queue_size=,
use_multiprocessing=)` (and the *_generator aliases, which forward them) and
`ModelCheckpoint(period=)`.

tf_keras facts (tf_keras is not installed here; read in keras-team/tf-keras with the search
tool):
- tf_keras/engine/training.py: fit(..., validation_freq=1, max_queue_size=10, workers=1,
  use_multiprocessing=False), the same three on evaluate/predict, "used for generator or
  keras.utils.Sequence input only"; fit passes them on to its validation data too.
- tf_keras/engine/data_adapter.py: a Sequence or generator gets worker threads when
  `workers > 1 or (workers > 0 and use_multiprocessing)`, else it is read on the calling
  thread (so workers=0 is the main thread, as Keras 2 documented).
- tf_keras/callbacks.py ModelCheckpoint: `period` comes through **kwargs (default 1, a logged
  deprecation pointing to save_freq); `epochs_since_last_save` starts at 0 in __init__ (so it
  carries over between fit calls), +1 in every on_epoch_end; with save_freq="epoch" a save is
  attempted when it reaches `period` and it goes back to 0 before save_best_only decides; an
  integer save_freq saves on batches and ignores `period`.
Oracles: NumPy float64 closed forms, real Keras 3 (torch) for a PyDataset read by workers.
"""

import inspect
import os
import threading
import time
import warnings

import numpy as np
import pytest

import tensorflux as tf
from tests.keras._oracle import fresh_names, import_keras  # noqa: F401

keras = tf.keras
RNG = np.random.default_rng(13)
X = RNG.random((12, 3)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5]]) + 0.25).astype("float32")
KERAS2_ARGS = {"workers": 4, "use_multiprocessing": True, "max_queue_size": 10}


def _model(kernel=None, bias=0.0):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    kernel = np.full((3, 1), 0.1, "float32") if kernel is None else kernel
    model.set_weights([kernel, np.full((1,), bias, "float32")])
    model.compile(keras.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return model


def _keras2_warnings(caught):
    return [w for w in caught if issubclass(w.category, DeprecationWarning)
            and "Keras 2 arguments" in str(w.message)]


def _call(method, *args, **kwargs):
    """(result, the Keras 2 argument warnings) of one call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = method(*args, **kwargs)
    return result, _keras2_warnings(caught)


def _generator(x, y, size=4):
    while True:
        for start in range(0, len(x), size):
            yield x[start:start + size], y[start:start + size]


# ------------------------------------------------------------------ fit/evaluate/predict

def test_arrays_take_the_arguments_change_nothing_and_warn_once_per_call():
    plain, legacy = _model(), _model()
    plain.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    _, caught = _call(legacy.fit, X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                      validation_data=(X, Y), **KERAS2_ARGS)
    assert len(caught) == 1  # once for the call, not per epoch or for its validation
    message = str(caught[0].message)
    for expected in ("`Model.fit()`", "`max_queue_size`, `workers`, `use_multiprocessing`",
                     "keras.utils.PyDataset", "super().__init__(workers="):
        assert expected in message
    assert caught[0].filename == __file__  # points at the caller's line
    for ours, theirs in zip(legacy.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(ours, theirs)

    results, caught = _call(legacy.evaluate, X, Y, batch_size=4, verbose=0, workers=2)
    assert len(caught) == 1 and "`Model.evaluate()` got `workers`" in str(caught[0].message)
    np.testing.assert_allclose(results, plain.evaluate(X, Y, batch_size=4, verbose=0),
                               rtol=1e-6)
    for batch_size in (4, 32):  # a loop of batches and the one-batch shortcut
        outputs, caught = _call(legacy.predict, X, batch_size=batch_size, verbose=0,
                                max_queue_size=3, use_multiprocessing=False)
        assert len(caught) == 1 and "`max_queue_size`, `use_multiprocessing`" in str(
            caught[0].message)
        kernel, bias = (w.astype(np.float64) for w in legacy.get_weights())
        np.testing.assert_allclose(outputs, X.astype(np.float64) @ kernel + bias, rtol=1e-5)


def test_no_warning_without_the_arguments():
    model = _model()
    for method, args in ((model.fit, (X, Y)), (model.evaluate, (X, Y)), (model.predict, (X,))):
        _, caught = _call(method, *args, verbose=0)
        assert caught == []


def test_tf_data_and_generators_take_the_arguments_unchanged():
    dataset = tf.data.Dataset.from_tensor_slices((X, Y)).batch(4)
    plain, legacy = _model(), _model()
    plain.fit(dataset, epochs=2, verbose=0)
    _, caught = _call(legacy.fit, dataset, epochs=2, verbose=0, **KERAS2_ARGS)
    assert len(caught) == 1
    for ours, theirs in zip(legacy.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    plain.fit(_generator(X, Y), steps_per_epoch=3, epochs=1, verbose=0)
    _, caught = _call(legacy.fit, _generator(X, Y), steps_per_epoch=3, epochs=1, verbose=0,
                      validation_data=_generator(X, Y), validation_steps=3, **KERAS2_ARGS)
    assert len(caught) == 1
    for ours, theirs in zip(legacy.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    evaluated, caught = _call(legacy.evaluate, _generator(X, Y), steps=3, verbose=0, workers=0)
    assert len(caught) == 1  # workers=0: Keras 2's "on the main thread", accepted
    np.testing.assert_allclose(evaluated, plain.evaluate(X, Y, batch_size=4, verbose=0),
                               rtol=1e-6)


class _Concurrency(keras.utils.PyDataset):
    """Three batches of (X, Y). Batches below `meet` read off the main thread wait until
    `meet` of them run at once (a pool of fewer threads times out); the most calls seen
    running at once is recorded (a pool of more threads runs a further batch meanwhile)."""

    def __init__(self, meet, **kwargs):
        super().__init__(**kwargs)
        self.meet = meet
        self.barrier = threading.Barrier(meet, timeout=20) if meet > 1 else None
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.met = False

    def __len__(self):
        return 3

    def __getitem__(self, index):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if self.barrier is not None and index < self.meet and \
                    threading.current_thread() is not threading.main_thread():
                self.barrier.wait()
                self.met = True
            time.sleep(0.02)  # long enough for any further thread to show up in `most`
            return X[4 * index:4 * index + 4], Y[4 * index:4 * index + 4]
        finally:
            with self.lock:
                self.running -= 1


def test_a_pydataset_with_default_workers_takes_them_from_fit_evaluate_predict():
    plain, legacy = _model(), _model()
    plain.fit(_Concurrency(1), epochs=1, shuffle=False, verbose=0)
    dataset = _Concurrency(3)
    # use_multiprocessing=True is accepted: the workers are threads (a PyDataset constructed
    # with it raises NotImplementedError, which a fit() argument must not bring about)
    _, caught = _call(legacy.fit, dataset, epochs=1, shuffle=False, verbose=0, workers=3,
                      use_multiprocessing=True, max_queue_size=3)
    assert len(caught) == 1
    assert dataset.met and dataset.most == 3
    for ours, theirs in zip(legacy.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)  # batches in order
    for method in (legacy.evaluate, legacy.predict):
        dataset = _Concurrency(3)
        _, caught = _call(method, dataset, verbose=0, workers=3)
        assert len(caught) == 1 and dataset.met and dataset.most == 3


def test_validation_pydataset_gets_the_fit_workers_too():
    model, validation = _model(), _Concurrency(2)
    _call(model.fit, X, Y, epochs=1, verbose=0, validation_data=validation, workers=2)
    assert validation.met and validation.most == 2


def test_a_pydataset_that_sets_its_own_workers_keeps_them():
    dataset = _Concurrency(2, workers=2)
    _call(_model().fit, dataset, epochs=1, shuffle=False, verbose=0, workers=3)
    # (with three threads a third call would run while the first two wait for each other)
    assert dataset.met and dataset.most == 2


def test_generator_methods_forward_the_arguments():
    # fit_generator and friends keep their Keras 2 signature; the values reach fit, evaluate
    # and predict (which warn, pointing at this file, not at model.py)
    defaults = inspect.signature(keras.Model.fit_generator).parameters
    assert defaults["workers"].default is None  # a call that leaves them out does not warn
    model = _model()
    for method, kwargs in ((model.fit_generator, {"epochs": 1, "verbose": 0}),
                           (model.evaluate_generator, {}), (model.predict_generator, {})):
        dataset = _Concurrency(2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            method(dataset, workers=2, max_queue_size=4, use_multiprocessing=True, **kwargs)
        ours = _keras2_warnings(caught)
        assert len(ours) == 1 and ours[0].filename == __file__
        assert dataset.met and dataset.most == 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit_generator(_generator(X, Y), steps_per_epoch=3, verbose=0)
    assert _keras2_warnings(caught) == []


@pytest.mark.parametrize("name, value", [
    ("workers", -1), ("workers", 2.0), ("workers", "4"), ("workers", True),
    ("max_queue_size", -10), ("max_queue_size", 1.5), ("use_multiprocessing", "yes"),
    ("use_multiprocessing", 2)])
def test_bad_values_are_a_value_error_naming_the_argument(name, value):
    model = _model()
    before = model.get_weights()
    for method, args in ((model.fit, (X, Y)), (model.evaluate, (X, Y)), (model.predict, (X,))):
        with pytest.raises(ValueError, match=f"expected `{name}` to be") as error:
            method(*args, verbose=0, **{name: value})
        assert f"received {name}={value!r} of type {type(value).__name__}" in str(error.value)
    for ours, theirs in zip(model.get_weights(), before):
        np.testing.assert_array_equal(ours, theirs)  # refused before any step ran


@pytest.mark.keras_oracle
def test_fit_workers_on_a_pydataset_trains_as_keras3_on_the_batches_in_order():
    # tf_keras's OrderedEnqueuer hands a Sequence's batches out in order whatever `workers`
    # is, so fit(sequence, workers=3) trains as Keras 3 does on the same batches in order.
    # (Keras 3.15.1 on torch, given PyDataset(workers=3) here, trained on batches 1, 2, 0
    # each epoch, observed: it is Keras 3 without workers that serves as the oracle.)
    real = import_keras()
    theirs = real.Sequential([real.Input((3,)), real.layers.Dense(1)])
    ours = _model()
    theirs.set_weights(ours.get_weights())
    theirs.compile(real.optimizers.SGD(0.05), "mse")
    theirs.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    dataset = _Concurrency(3)
    _call(ours.fit, dataset, epochs=2, shuffle=False, verbose=0, workers=3)
    assert dataset.met
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, np.asarray(keras_weight), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ ModelCheckpoint(period)

def _regression(n=8):
    """A bias-free linear model trained by full-batch SGD, whose weights after each epoch
    have a closed form."""
    x = RNG.random((n, 3)).astype("float32")
    y = (x @ np.array([[0.5], [1.5], [-1.0]])).astype("float32")
    model = keras.Sequential([keras.Input((3,)),
                              keras.layers.Dense(1, use_bias=False,
                                                 kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model, x, y


def _sgd_kernels(x, y, epochs, lr=0.1):
    """The kernel after each epoch, in float64: w -= lr * d/dw mean((xw - y)^2)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    kernel, kernels = np.zeros((3, 1)), []
    for _ in range(epochs):
        kernel = kernel - lr * 2.0 / len(x) * x.T @ (x @ kernel - y)
        kernels.append(kernel)
    return kernels


class _Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.kernels = {}

    def on_epoch_end(self, epoch, logs=None):
        self.kernels[epoch + 1] = self.model.get_weights()[0]


def test_period_2_over_5_epochs_saves_after_epochs_2_and_4_exactly(tmp_path):
    model, x, y = _regression()
    with pytest.warns(DeprecationWarning, match=r"period=.*save_freq") as caught:
        checkpoint = keras.callbacks.ModelCheckpoint(
            str(tmp_path / "w-{epoch}.weights.h5"), save_weights_only=True, period=2)
    assert len(caught) == 1 and caught[0].filename == __file__
    snapshots = _Snapshots()
    model.fit(x, y, batch_size=len(x), epochs=5, shuffle=False, verbose=0,
              callbacks=[checkpoint, snapshots])
    assert sorted(os.listdir(tmp_path)) == ["w-2.weights.h5", "w-4.weights.h5"]
    kernels = _sgd_kernels(x, y, 5)
    for epoch in (2, 4):
        restored, _, _ = _regression()
        restored.load_weights(str(tmp_path / f"w-{epoch}.weights.h5"))
        saved = restored.get_weights()[0]
        np.testing.assert_array_equal(saved, snapshots.kernels[epoch])
        np.testing.assert_allclose(saved, kernels[epoch - 1], rtol=1e-5)
        assert not np.allclose(saved, kernels[epoch - 2], rtol=1e-3)  # not the epoch before


def test_period_overwrites_one_file_at_epochs_2_and_4(tmp_path, monkeypatch):
    model, x, y = _regression()
    path = str(tmp_path / "model.keras")
    saves, epochs = [], []
    monkeypatch.setattr(model, "save",
                        lambda filepath, overwrite=True: saves.append((epochs[-1], filepath)))
    with pytest.warns(DeprecationWarning):
        checkpoint = keras.callbacks.ModelCheckpoint(path, period=2)
    recorder = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: epochs.append(epoch + 1))
    model.fit(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[recorder, checkpoint])
    assert saves == [(2, path), (4, path)]


def test_period_with_save_best_only_compares_only_every_period_th_epoch(tmp_path, monkeypatch):
    # The loss falls every epoch, so without `period` each epoch would save; the counter is
    # reset before save_best_only decides, and it carries over to the next fit call.
    model, x, y = _regression()
    saves, epochs = [], []
    monkeypatch.setattr(model, "save_weights",
                        lambda filepath, overwrite=True: saves.append(epochs[-1]))
    with pytest.warns(DeprecationWarning):
        checkpoint = keras.callbacks.ModelCheckpoint(
            str(tmp_path / "best.weights.h5"), monitor="loss", mode="min",
            save_best_only=True, save_weights_only=True, period=3)
    recorder = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: epochs.append(len(epochs) + 1))
    losses = model.fit(x, y, batch_size=len(x), epochs=4, verbose=0,
                       callbacks=[recorder, checkpoint]).history["loss"]
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert saves == [3] and checkpoint.best == losses[2]
    losses = model.fit(x, y, batch_size=len(x), epochs=2, verbose=0,
                       callbacks=[recorder, checkpoint]).history["loss"]
    assert saves == [3, 6]  # the 6th epoch seen: the 2nd of this fit
    assert checkpoint.best == losses[1]


def test_an_integer_save_freq_ignores_period(tmp_path, monkeypatch):
    model, x, y = _regression()
    saves = []
    monkeypatch.setattr(model, "save_weights",
                        lambda filepath, overwrite=True: saves.append(filepath))
    with pytest.warns(DeprecationWarning, match="integer `save_freq`, `period` is ignored"):
        checkpoint = keras.callbacks.ModelCheckpoint(
            str(tmp_path / "b{batch}.weights.h5"), save_weights_only=True, save_freq=2,
            period=3)
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=[checkpoint])
    assert [os.path.basename(p) for p in saves] == ["b2.weights.h5", "b4.weights.h5"]


def test_without_period_every_epoch_saves_and_nothing_warns(tmp_path):
    model, x, y = _regression()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.keras"))
    assert checkpoint.period == 1
    model.fit(x, y, epochs=3, verbose=0, callbacks=[checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["e1.keras", "e2.keras", "e3.keras"]


@pytest.mark.parametrize("period", [0, -2, 1.5, "2", True])
def test_bad_period_is_a_value_error(period, tmp_path):
    with pytest.raises(ValueError, match=r"`period` to be a positive integer.*received "
                                         r"period=") as error:
        keras.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), period=period)
    assert repr(period) in str(error.value)
