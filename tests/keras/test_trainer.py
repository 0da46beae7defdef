"""compile / fit / evaluate / predict: real Keras 3 (torch backend) is the oracle for the
numbers (History, evaluate, predict) and for the progress-bar text; the rest checks Keras's
semantics, the error messages and that the step is traced once and replayed."""

import io
import os
import re
import sys

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.keras import losses, optimizers, regularizers
from tensorflux.keras.engine.input_layer import Input
from tensorflux.keras.layers.base import Layer
from tensorflux.keras.models.functional import Functional
from tensorflux.keras.models.sequential import Sequential
from tensorflux.keras.trainers import data_adapters
from tensorflux.keras.utils import PyDataset, set_random_seed

callbacks_module = pytest.importorskip("tensorflux.keras.callbacks")
metrics_module = pytest.importorskip("tensorflux.keras.metrics")


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    module = pytest.importorskip("keras", reason="real Keras 3 is the oracle")
    if not module.__version__.startswith("3."):
        pytest.skip("the oracle must be Keras 3")
    return module


def _dense_class():
    try:
        from tensorflux.keras.layers import Dense

        return Dense
    except ImportError:
        return _Dense


class _Dense(Layer):
    """Keras's Dense maths, for as long as keras.layers.Dense is not written."""

    def __init__(self, units, activation=None, kernel_regularizer=None, name=None):
        super().__init__(name=name)
        from tensorflux.keras import activations

        self.units = units
        self.activation = activations.get(activation)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel",
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, x):
        return self.activation(tf.matmul(x, self.kernel) + self.bias)


def _data(n=70, features=4, classes=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    if classes is None:
        y = (x[:, :1] + 0.5 * x[:, 1:2] > 0).astype("float32")
    else:
        y = rng.integers(0, classes, size=(n,)).astype("int32")
    return x, y


def _pair(keras, hidden=8, outputs=1, activation="sigmoid", l2=None):
    """The same Sequential MLP in Keras and in tensorflux, with Keras's initial weights."""
    reg_k = keras.regularizers.L2(l2) if l2 else None
    theirs = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(hidden, activation="relu", kernel_regularizer=reg_k),
        keras.layers.Dense(outputs, activation=activation),
    ])
    dense = _dense_class()
    ours = Sequential([
        Input((4,)),
        dense(hidden, activation="relu", kernel_regularizer=regularizers.L2(l2) if l2 else None),
        dense(outputs, activation=activation),
    ])
    ours.set_weights([w.copy() for w in theirs.get_weights()])
    return theirs, ours


def _assert_history_equal(ours, theirs):
    assert list(ours.history) == list(theirs.history)
    for key in theirs.history:
        np.testing.assert_allclose(ours.history[key], theirs.history[key], rtol=1e-5,
                                   atol=1e-6, err_msg=key)


# ------------------------------------------------------------------ oracle: numbers

@pytest.mark.keras_oracle
def test_fit_history_matches_keras_with_validation_split(keras):
    x, y = _data()
    theirs, ours = _pair(keras)
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy",
                   metrics=["accuracy"])
    ours.compile(optimizer=optimizers.SGD(0.1), loss="binary_crossentropy",
                 metrics=["accuracy"])
    kw = dict(epochs=3, batch_size=16, validation_split=0.2, shuffle=False, verbose=0)
    history_k = theirs.fit(x, y, **kw)
    history_t = ours.fit(x, y, **kw)
    assert list(history_t.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    _assert_history_equal(history_t, history_k)
    assert history_t.epoch == [0, 1, 2]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.keras_oracle
def test_fit_with_regularization_and_sample_weights_matches_keras(keras):
    x, y = _data(n=70)
    weights = np.linspace(0.5, 2.0, 70).astype("float32")
    theirs, ours = _pair(keras, l2=0.01)
    for model, opt in ((theirs, keras.optimizers.Adam(0.01)), (ours, optimizers.Adam(0.01))):
        model.compile(optimizer=opt, loss="binary_crossentropy", metrics=["accuracy"],
                      weighted_metrics=["accuracy"])
    kw = dict(epochs=2, batch_size=32, sample_weight=weights, validation_split=0.25,
              shuffle=False, verbose=0)
    _assert_history_equal(ours.fit(x, y, **kw), theirs.fit(x, y, **kw))
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0),
                               theirs.evaluate(x, y, verbose=0), rtol=1e-5)


@pytest.mark.keras_oracle
def test_sparse_softmax_evaluate_predict_and_class_weight_match_keras(keras):
    x, y = _data(n=50, classes=3)
    theirs, ours = _pair(keras, outputs=3, activation="softmax")
    for model, opt, top_k in (
            (theirs, keras.optimizers.RMSprop(), keras.metrics.SparseTopKCategoricalAccuracy),
            (ours, optimizers.RMSprop(), metrics_module.SparseTopKCategoricalAccuracy)):
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy", top_k(k=2)])
    kw = dict(epochs=2, batch_size=8, shuffle=False, verbose=0,
              class_weight={0: 1.0, 1: 2.0, 2: 0.5})
    _assert_history_equal(ours.fit(x, y, **kw), theirs.fit(x, y, **kw))
    np.testing.assert_allclose(ours.evaluate(x, y, batch_size=7, verbose=0),
                               theirs.evaluate(x, y, batch_size=7, verbose=0), rtol=1e-5)
    assert ours.evaluate(x, y, verbose=0, return_dict=True).keys() == \
        theirs.evaluate(x, y, verbose=0, return_dict=True).keys()
    predicted = ours.predict(x, batch_size=16, verbose=0)
    assert isinstance(predicted, np.ndarray) and predicted.shape == (50, 3)
    np.testing.assert_allclose(predicted, theirs.predict(x, batch_size=16, verbose=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.train_on_batch(x[:8], y[:8]),
                               theirs.train_on_batch(x[:8], y[:8]), rtol=1e-5)
    np.testing.assert_allclose(ours.test_on_batch(x[:8], y[:8]),
                               theirs.test_on_batch(x[:8], y[:8]), rtol=1e-5)
    np.testing.assert_allclose(ours.predict_on_batch(x[:8]), theirs.predict_on_batch(x[:8]),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.keras_oracle
def test_multi_output_functional_losses_weights_and_names_match_keras(keras):
    x, y = _data(n=40)
    y2 = x[:, 2:3] * 2.0

    def build(k, dense, inputs_fn, model_fn):
        inputs = inputs_fn((4,))
        hidden = dense(6, activation="tanh", name="hidden")(inputs)
        first = dense(1, activation="sigmoid", name="prob")(hidden)
        second = dense(1, name="value")(hidden)
        return model_fn(inputs, [first, second])

    theirs = build(keras, keras.layers.Dense, keras.Input, keras.Model)
    ours = build(None, _dense_class(), Input, Functional)
    ours.set_weights([w.copy() for w in theirs.get_weights()])
    for model, opt in ((theirs, keras.optimizers.SGD(0.05)), (ours, optimizers.SGD(0.05))):
        model.compile(optimizer=opt, loss={"prob": "binary_crossentropy", "value": "mse"},
                      loss_weights={"prob": 1.0, "value": 0.5},
                      metrics={"prob": ["accuracy"], "value": ["mae"]})
    kw = dict(epochs=2, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    _assert_history_equal(ours.fit(x, {"prob": y, "value": y2}, **kw),
                          theirs.fit(x, {"prob": y, "value": y2}, **kw))
    np.testing.assert_allclose(ours.evaluate(x, [y, y2], verbose=0),
                               theirs.evaluate(x, [y, y2], verbose=0), rtol=1e-5)
    ours_pred, theirs_pred = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert len(ours_pred) == 2
    for a, b in zip(ours_pred, theirs_pred):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ oracle: progress bar

_TIME_FIELDS = [
    (re.compile(r"\x1b\[1m(\d+:)*\d+s\x1b\[0m"), "\x1b[1m<T>\x1b[0m"),  # ETA / elapsed
    (re.compile(r" - \d+s - "), " - <T> - "),  # verbose=2 elapsed
    (re.compile(r"\d+(s|ms|us)/step"), "<T>/step"),
    (re.compile(r"\x08+"), "<BS>"),
    (re.compile(r" +(?=\r|\n|<BS>|$)"), ""),  # padding after a shorter line
]


def _normalize(text):
    for pattern, replacement in _TIME_FIELDS:
        text = pattern.sub(replacement, text)
    return text


def _captured(monkeypatch, fn):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    # Keras redraws in place on any POSIX system; ours does only on a terminal. Compare the
    # redrawing mode, which is what both show a user at a terminal.
    monkeypatch.setattr("tensorflux.keras.utils.progbar.dynamic_display", lambda: True)
    # A clock that moves 1 s per reading: every progress update is drawn by both bars.
    ticks = iter(range(10**6))
    monkeypatch.setattr("time.time", lambda: 1e6 + next(ticks))
    if "keras.src.backend" in sys.modules:
        # Keras dispatches batch callbacks on a thread pool, which can reorder the updates.
        monkeypatch.setattr(sys.modules["keras.src.backend"], "IS_THREAD_SAFE", False)
    try:
        fn()
    finally:
        monkeypatch.undo()
    return out.getvalue()


@pytest.mark.keras_oracle
@pytest.mark.parametrize("verbose", [1, 2, "auto"])
def test_progress_bar_text_matches_keras(keras, monkeypatch, verbose):
    x, y = _data()
    theirs, ours = _pair(keras)
    theirs.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    ours.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])

    def session(model):
        def run():
            model.fit(x, y, epochs=2, batch_size=16, validation_split=0.2, shuffle=False,
                      verbose=verbose)
            model.evaluate(x, y, batch_size=32, verbose=verbose)
            model.predict(x, batch_size=32, verbose=verbose)
        return run

    text_k = _normalize(_captured(monkeypatch, session(theirs)))
    text_t = _normalize(_captured(monkeypatch, session(ours)))
    assert text_t == text_k
    assert "Epoch 2/2" in text_t


@pytest.mark.keras_oracle
def test_single_epoch_prints_no_epoch_line(keras, monkeypatch):
    x, y = _data()
    _, ours = _pair(keras)
    ours.compile(optimizer="sgd", loss="binary_crossentropy")
    text = _captured(monkeypatch, lambda: ours.fit(x, y, epochs=1, verbose=1))
    assert "Epoch" not in text and "3/3" in text


# ------------------------------------------------------------------ semantics

def _model(units=1, activation="sigmoid"):
    dense = _dense_class()
    return Sequential([Input((4,)), dense(units, activation=activation)])


def test_validation_split_takes_the_last_samples_before_shuffling():
    x = np.arange(20, dtype="float32").reshape(10, 2)
    y = np.arange(10, dtype="float32")
    (tx, ty, _), (vx, vy, _) = data_adapters.train_validation_split((x, y, None), 0.3)
    assert ty.numpy().tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert vy.numpy().tolist() == [7, 8, 9]
    assert vx.numpy().tolist() == x[7:].tolist()


def test_shuffle_permutes_every_epoch_and_is_seedable():
    x = np.arange(10, dtype="float32").reshape(10, 1)

    def epoch_orders():
        adapter = data_adapters.ArrayDataAdapter(x, batch_size=4, shuffle=True)
        return [[v for b in adapter.get_iterator() for v in b.numpy().ravel().tolist()]
                for _ in range(2)]

    set_random_seed(7)
    first = epoch_orders()
    set_random_seed(7)
    again = epoch_orders()
    assert first == again
    assert first[0] != first[1]
    assert sorted(first[0]) == list(range(10))


def test_shuffled_array_batches_match_the_general_gather_path():
    # (x, y) of arrays take their rows on the raw arrays; nested inputs go through tf.gather.
    # With one seed both give the same batches.
    x = np.arange(30, dtype="float32").reshape(15, 2)
    y = np.arange(15, dtype="float32") * 10

    def batches(x_in):
        adapter = data_adapters.ArrayDataAdapter(x_in, y, batch_size=4, shuffle=True)
        return [(flatten_x(bx), by.numpy()) for bx, by in adapter.get_iterator()]

    def flatten_x(bx):
        return (bx["a"] if isinstance(bx, dict) else bx).numpy()

    set_random_seed(3)
    flat = batches(x)
    set_random_seed(3)
    nested = batches({"a": x})
    assert [len(bx) for bx, _ in flat] == [4, 4, 4, 3]
    for (fx, fy), (nx, ny) in zip(flat, nested):
        np.testing.assert_array_equal(fx, nx)
        np.testing.assert_array_equal(fy, ny)
        np.testing.assert_array_equal(fx[:, 0] * 5, fy)  # rows stay paired with labels


def test_reported_loss_is_the_sample_weighted_epoch_mean():
    x, y = _data(n=70)
    model = _model()
    model.compile(optimizer=optimizers.SGD(0.0), loss="binary_crossentropy")
    history = model.fit(x, y, batch_size=32, shuffle=False, verbose=0)
    per_batch = [model.test_on_batch(x[i:i + 32], y[i:i + 32]) for i in (0, 32, 64)]
    expected = (32 * per_batch[0] + 32 * per_batch[1] + 6 * per_batch[2]) / 70
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_metrics_property_and_names():
    x, y = _data()
    model = _model()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["acc"])
    assert model.metrics_names == ["loss", "compile_metrics"]  # Keras 3 lists the container
    model.fit(x, y, verbose=0)
    assert model.metrics_names == ["loss", "compile_metrics"]
    assert model.metrics[0].name == "loss"
    assert list(model.evaluate(x, y, verbose=0, return_dict=True)) == ["acc", "loss"]


def test_evaluate_returns_a_scalar_without_metrics():
    x, y = _data()
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_train_step_is_traced_once_per_batch_shape_and_predict_does_not_retrace():
    x, y = _data(n=70)
    model = _model()
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert model.train_function.experimental_get_tracing_count() == 2  # 32 and 6 samples
    for _ in range(5):
        model.predict(x, batch_size=32, verbose=0)
    assert model.predict_function.experimental_get_tracing_count() == 2


def test_run_eagerly_gives_the_same_history():
    x, y = _data(n=40)
    histories = []
    for eager in (False, True):
        model = _model()
        model.set_weights([np.full((4, 1), 0.1, "float32"), np.zeros(1, "float32")])
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"],
                      run_eagerly=eager)
        histories.append(model.fit(x, y, epochs=2, shuffle=False, verbose=0).history)
    assert histories[0].keys() == histories[1].keys()
    for key in histories[0]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-6)


def test_custom_train_step_logs_come_from_the_epochs_last_step():
    # Steps before an epoch's last run for their updates only (no batch callback reads their
    # logs); the History still holds the last step's own logs, not the metrics' results.
    class Counting(Sequential):
        def train_step(self, data):
            x, _ = data
            super().train_step(data)
            return {"batch_mean": tf.reduce_mean(x), "loss": tf.constant(7.0)}

    x = np.arange(10 * 4, dtype="float32").reshape(10, 4)
    y = np.ones((10, 1), "float32")
    model = Counting([Input((4,)), _dense_class()(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.optimizer.iterations.numpy() if model.optimizer.built else 0
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    assert history["batch_mean"] == [float(x[8:].mean())] * 2
    assert history["loss"] == [7.0, 7.0]
    assert int(model.optimizer.iterations.numpy()) - before == 6  # every step updated


def test_dict_inputs_for_a_multi_input_model():
    dense = _dense_class()
    a, b = Input((2,), name="a"), Input((2,), name="b")
    out = dense(1, activation="sigmoid")(dense(3)(a) + dense(3)(b))
    model = Functional([a, b], out)
    x, y = _data(n=20)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    history = model.fit({"a": x[:, :2], "b": x[:, 2:]}, y, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict([x[:, :2], x[:, 2:]], verbose=0).shape == (20, 1)


def test_generator_and_py_dataset_inputs():
    x, y = _data(n=32)
    model = _model()
    model.compile(optimizer="sgd", loss="binary_crossentropy")

    def batches():
        for i in range(0, 32, 8):
            yield x[i:i + 8], y[i:i + 8]

    assert len(model.fit(batches(), epochs=1, shuffle=False, verbose=0).history["loss"]) == 1

    class Batches(PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return x[index * 8:(index + 1) * 8], y[index * 8:(index + 1) * 8]

    history = model.fit(Batches(), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.evaluate(Batches(), verbose=0) == pytest.approx(
        model.evaluate(x, y, batch_size=8, verbose=0), rel=1e-5)


def test_early_stopping_stops_and_terminate_on_nan_terminates():
    x, y = _data(n=32)
    model = _model()
    model.compile(optimizer=optimizers.SGD(0.0), loss="binary_crossentropy")
    stop = callbacks_module.EarlyStopping(monitor="loss", patience=1)
    # With lr 0 every epoch's loss is the same number; unshuffled, it is also summed in the
    # same order (a shuffled epoch may round its mean an ulp lower, an "improvement").
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[stop], shuffle=False)
    assert len(history.history["loss"]) == 2  # no improvement at all with lr 0

    bad = x.copy()
    bad[3, 0] = np.nan
    history = model.fit(bad, y, epochs=5, batch_size=8, verbose=0,
                        callbacks=[callbacks_module.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])


def test_stop_training_flag_from_a_batch_callback():
    x, y = _data(n=64)
    seen = []

    class StopAfterTwo(callbacks_module.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(sorted(logs))
            if batch == 1:
                self.model.stop_training = True

    model = _model()
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[StopAfterTwo()])
    assert seen == [["accuracy", "loss"], ["accuracy", "loss"]]


# ------------------------------------------------------------------ errors

def test_fit_before_compile_raises_keras_message():
    x, y = _data()
    with pytest.raises(ValueError, match=r"You must call `compile\(\)` before using the model"):
        _model().fit(x, y)


def test_mismatched_sample_counts_name_x_and_y():
    x, y = _data()
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"(?s)'x' sizes: 70.*'y' sizes: 60"):
        model.fit(x, y[:60], verbose=0)


def test_validation_split_with_a_generator_is_an_error():
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    generator = (b for b in [])
    with pytest.raises(ValueError, match="only supported for tensors or NumPy arrays"):
        model.fit(generator, validation_split=0.2, verbose=0)


def test_label_shape_that_would_broadcast_names_the_output_and_both_shapes():
    x, _ = _data()
    model = _model(units=3, activation="softmax")
    model.compile(optimizer="sgd", loss="mse")
    labels = np.zeros((70, 2), "float32")
    with pytest.raises(ValueError) as info:
        model.fit(x, labels, verbose=0)
    message = str(info.value)
    assert "(70, 2)" in message or "(32, 2)" in message
    assert "(32, 3)" in message or "(70, 3)" in message
    assert model.layers[-1].name in message


@pytest.mark.parametrize("path", ["fit", "fit_eager", "evaluate", "train_on_batch"])
def test_integer_labels_out_of_range_raise_on_every_path(path):
    x, _ = _data(n=16)
    labels = np.array([0, 1, 2, 5] * 4, "int32")
    model = _model(units=3, activation="softmax")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  run_eagerly=path == "fit_eager")
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="5"):
        if path.startswith("fit"):
            model.fit(x, labels, verbose=0)
        elif path == "evaluate":
            model.evaluate(x, labels, verbose=0)
        else:
            model.train_on_batch(x, labels)


def test_class_weight_and_sample_weight_together_is_an_error():
    x, y = _data()
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="class_weight"):
        model.fit(x, y, sample_weight=np.ones(70), class_weight={0: 1.0}, verbose=0)


def test_class_weight_to_sample_weights_reads_one_hot_and_sparse_labels():
    one_hot = np.eye(3, dtype="float32")[[0, 2, 1]]
    weights = data_adapters.class_weight_to_sample_weights(one_hot, {2: 5.0, 1: 0.5})
    assert weights.numpy().tolist() == [1.0, 5.0, 0.5]
    sparse = np.array([[1], [0]], "int32")
    assert data_adapters.class_weight_to_sample_weights(sparse, {1: 3.0}).numpy().tolist() == \
        [3.0, 1.0]


def test_losses_module_is_the_one_compile_resolves():
    model = _model()
    model.compile(optimizer="sgd", loss=losses.MeanSquaredError())
    x, y = _data(n=8)
    assert model.evaluate(x, y, verbose=0) >= 0.0


def test_compile_config_round_trip():
    model = _model()
    model.compile(optimizer=optimizers.Adam(0.01), loss=losses.BinaryCrossentropy(),
                  metrics=["accuracy", metrics_module.AUC()])
    config = model.get_compile_config()
    assert config["optimizer"]["class_name"] == "Adam"
    assert config["loss"]["class_name"] == "BinaryCrossentropy"
    assert config["metrics"][0] == "accuracy"
    clone = _model()
    clone.compile_from_config(config)
    assert clone.optimizer.learning_rate.numpy() == pytest.approx(0.01)
    x, y = _data(n=16)
    assert sorted(clone.fit(x, y, verbose=0).history) == ["accuracy", "auc", "loss"]


def test_steps_run_for_their_effects_follow_run_functions_eagerly_between_fits():
    # (x, y) steps before an epoch's last reuse the step found on the first such step; a
    # later fit under run_functions_eagerly still runs them eagerly (python side effects).
    calls = []

    class Counting(Sequential):
        def train_step(self, data):
            calls.append(1)
            return super().train_step(data)

    x, y = _data(n=40)
    model = Counting([Input((4,)), _dense_class()(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    traced = len(calls)
    assert traced <= 2  # traced, not run in Python per step
    tf.config.run_functions_eagerly(True)
    try:
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    finally:
        tf.config.run_functions_eagerly(False)
    assert len(calls) - traced == 10
    assert int(model.optimizer.iterations.numpy()) == 30


def test_predict_of_one_batch_without_callbacks_equals_the_batch_loop():
    # verbose=0 and no callbacks on an array that fits one batch calls the predict function
    # directly; with a callback the loop runs. Both give the same array, and a float64 input
    # becomes float32 on either path, as Keras converts it.
    x, _ = _data(n=5)
    model = _model()
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    seen = []

    class Counter(callbacks_module.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(batch)

    counter = Counter()
    looped = model.predict(x, verbose=0, callbacks=[counter])
    assert seen == [0]
    # A hook given to LambdaCallback (set on the instance, not the class) is called too.
    lambda_seen = []
    model.predict(x, verbose=0, callbacks=[callbacks_module.LambdaCallback(
        on_predict_batch_end=lambda batch, logs: lambda_seen.append(batch))])
    assert lambda_seen == [0]
    direct = model.predict(x, verbose=0)
    assert direct.dtype == looped.dtype == np.float32
    np.testing.assert_array_equal(direct, looped)
    np.testing.assert_array_equal(model.predict(x.astype("float64"), verbose=0), looped)
    # Larger than one batch: the loop, with the same values row by row.
    many = np.concatenate([x] * 8)
    np.testing.assert_array_equal(model.predict(many, batch_size=8, verbose=0),
                                  np.concatenate([looped] * 8))


@pytest.mark.keras_oracle
@pytest.mark.parametrize("output_order,loss_order", [
    (("price", "dept", "zeta"), ("price", "dept", "zeta")),
    (("price", "dept", "zeta"), ("zeta", "price", "dept")),
    (("zeta", "dept", "price"), ("price", "zeta", "dept")),
])
def test_evaluate_lists_a_dict_models_losses_in_the_loss_dicts_order(keras, output_order,
                                                                     loss_order):
    # Code that unpacks evaluate's list must get the same values from both.
    from tensorflux import keras as ours_keras

    rng = np.random.default_rng(8)
    x = rng.normal(size=(8, 3)).astype("float32")
    y = {"price": rng.normal(size=(8, 1)).astype("float32"),
         "dept": rng.normal(size=(8, 2)).astype("float32"),
         "zeta": rng.normal(size=(8, 1)).astype("float32")}
    losses_by_name = {"price": "mse", "dept": "mae", "zeta": "mse"}
    results = []
    for k in (ours_keras, keras):
        inputs = k.Input((3,), name="a")
        outputs = {name: k.layers.Dense(y[name].shape[1], name=name)(inputs)
                   for name in output_order}
        model = k.Model(inputs, outputs)
        if results:
            model.set_weights(results[0][0])
        model.compile(optimizer="sgd", loss={n: losses_by_name[n] for n in loss_order},
                      metrics={"dept": ["mae"], "price": ["mse"]})
        results.append((model.get_weights(), model.metrics_names,
                        model.evaluate(x, y, batch_size=8, verbose=0)))
    (_, names, got), (_, expected_names, want) = results
    assert names == expected_names
    np.testing.assert_allclose(got, want, rtol=1e-6)
