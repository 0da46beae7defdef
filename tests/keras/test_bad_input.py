"""Bad input at the Keras level, on the paths test_engine/test_trainer/test_losses leave open:
a wrong input shape at fit/evaluate/predict/call time, labels that would broadcast silently on
every training and evaluation path, out-of-range integer labels through predict-then-loss, and a
diverging loss stopped by TerminateOnNaN on the traced and the eager path."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.keras import callbacks, losses, optimizers
from tensorflux.keras.layers import Dense
from tensorflux.keras.models import Sequential
from tensorflux.keras.utils import set_random_seed


@pytest.fixture(autouse=True)
def seeded():
    set_random_seed(3)


def _x(n=64, features=8):
    return np.random.default_rng(0).normal(size=(n, features)).astype("float32")


def _classifier(classes=3, **compile_kwargs):
    model = Sequential()
    model.add(Dense(10, activation='relu', input_dim=8))
    model.add(Dense(classes, activation='softmax'))
    model.compile(optimizer='adam', **compile_kwargs)
    return model


# ------------------------------------------------------------------ wrong input shape

_PATHS = {
    "fit": lambda m, x: m.fit(x, np.zeros(len(x), "int32"), verbose=0),
    "evaluate": lambda m, x: m.evaluate(x, np.zeros(len(x), "int32"), verbose=0),
    "predict": lambda m, x: m.predict(x, verbose=0),
    "call": lambda m, x: m(x),
    "train_on_batch": lambda m, x: m.train_on_batch(x, np.zeros(len(x), "int32")),
}


@pytest.mark.parametrize("path", sorted(_PATHS))
def test_wrong_feature_count_names_the_input_and_both_shapes(path):
    model = _classifier(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError) as info:
        _PATHS[path](model, _x(features=7))
    message = str(info.value)
    assert "(None, 8)" in message and ", 7)" in message
    assert model.inputs[0].name in message


def test_wrong_feature_count_names_the_sequential_model():
    model = _classifier(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=f"'{model.name}'"):
        model.predict(_x(features=7), verbose=0)


def test_deferred_sequential_built_by_fit_rejects_a_new_feature_count_but_not_a_new_batch():
    model = Sequential([Dense(10, activation='relu'), Dense(1, activation='sigmoid')])
    model.compile(optimizer='adam', loss='binary_crossentropy')
    x = _x(n=70)  # batches of 32, 32 and 6: the partial last batch must be accepted
    model.fit(x, np.zeros(70, "float32"), verbose=0)
    assert model.predict(x[:5], verbose=0).shape == (5, 1)
    with pytest.raises(ValueError) as info:
        model.predict(x[:, :7], verbose=0)
    assert "8)" in str(info.value) and ", 7)" in str(info.value)


# ------------------------------------------------------------------ labels that broadcast

_LABEL_PATHS = {
    "fit": lambda m, x, y: m.fit(x, y, verbose=0),
    "evaluate": lambda m, x, y: m.evaluate(x, y, verbose=0),
    "train_on_batch": lambda m, x, y: m.train_on_batch(x, y),
    "test_on_batch": lambda m, x, y: m.test_on_batch(x, y),
}


@pytest.mark.parametrize("run_eagerly", [False, True])
@pytest.mark.parametrize("path", sorted(_LABEL_PATHS))
def test_labels_that_would_broadcast_against_predictions_raise(path, run_eagerly):
    # (n, 1) labels against (n, 3) predictions: MSE would broadcast them to (n, 3) silently.
    model = _classifier(loss="mse", run_eagerly=run_eagerly)
    x = _x(n=16)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)) as info:
        _LABEL_PATHS[path](model, x, np.zeros((16, 1), "float32"))
    message = str(info.value)
    assert "(16, 1)" in message and "(16, 3)" in message


def test_matching_label_shapes_are_accepted_on_the_same_paths():
    model = _classifier(loss="mse")
    x = _x(n=16)
    for path in _LABEL_PATHS.values():
        path(model, x, np.zeros((16, 3), "float32"))


# ------------------------------------------------------------------ labels out of range

@pytest.mark.parametrize("bad", [3, -1])
def test_out_of_range_labels_raise_through_predict_then_loss(bad):
    model = _classifier(loss="sparse_categorical_crossentropy")
    x = _x(n=8)
    predictions = model.predict(x, verbose=0)
    labels = np.array([0, 1, 2, bad, 0, 1, 2, 0], "int32")
    for loss in (lambda y, p: losses.sparse_categorical_crossentropy(y, p),
                 losses.SparseCategoricalCrossentropy(),
                 model.loss if callable(model.loss) else losses.get(model.loss)):
        with pytest.raises(tf.errors.InvalidArgumentError, match=str(bad)):
            loss(labels, predictions)
    traced = tf.function(lambda y, p: losses.SparseCategoricalCrossentropy()(y, p))
    with pytest.raises(tf.errors.InvalidArgumentError, match=str(bad)):
        traced(labels, predictions)


@pytest.mark.parametrize("path", ["fit", "fit_eager", "evaluate", "evaluate_eager",
                                  "test_on_batch"])
def test_out_of_range_labels_raise_on_every_model_path(path):
    model = _classifier(loss="sparse_categorical_crossentropy", run_eagerly="eager" in path)
    x = _x(n=8)
    labels = np.array([0, 1, 2, 7, 0, 1, 2, 0], "int32")
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="7"):
        if path.startswith("fit"):
            model.fit(x, labels, verbose=0)
        elif path.startswith("evaluate"):
            model.evaluate(x, labels, verbose=0)
        else:
            model.test_on_batch(x, labels)


@pytest.mark.parametrize("path", ["fit", "predict", "jit_fit"])
def test_an_index_out_of_range_in_a_traced_step_names_the_layer(path):
    # The traced graph's nodes are named after the layer that made them, as TF's are, so
    # the error when the step runs says which layer got the bad index.
    from tensorflux import keras

    model = Sequential([keras.Input((3,), dtype="int32"), keras.layers.Embedding(10, 4),
                        keras.layers.Flatten(), Dense(1)])
    model.compile("adam", "mse", jit_compile=path == "jit_fit")
    x = np.array([[1, 2, 3], [4, 5, 12]] * 8, "int32")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"sequential(_\d+)?/embedding(_\d+)?/.*12 is not in \[0, 10\)"):
        if path == "predict":
            model.predict(x, verbose=0)
        else:
            model.fit(x, np.zeros((16, 1)), batch_size=4, verbose=0)


# ------------------------------------------------------------------ NaN losses

@pytest.mark.parametrize("run_eagerly", [False, True])
def test_terminate_on_nan_stops_a_diverging_fit_mid_epoch(run_eagerly):
    x = _x(n=64)
    y = 100.0 * x[:, :1]
    model = Sequential([Dense(10, activation='relu', input_dim=8), Dense(1)])
    model.compile(optimizer=optimizers.SGD(1e3), loss='mse', run_eagerly=run_eagerly)
    batch_losses = []
    record = callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_losses.append(logs["loss"]))
    history = model.fit(x, y, epochs=5, batch_size=4, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN(), record])

    assert len(history.history["loss"]) == 1
    assert len(batch_losses) < 16  # stopped inside the first epoch
    assert not np.isfinite(batch_losses[-1])
    assert np.all(np.isfinite(batch_losses[:-1]))
    assert model.stop_training


def test_a_layer_called_on_a_nested_python_list_names_itself_and_what_it_received():
    # Keras takes only tensors positionally; the list used to fail deep in the kernel's
    # initializer with "int() argument must be ... not 'tuple'".
    layer = Dense(2, name="head")
    with pytest.raises(ValueError, match=r"Layer 'head' \(Dense\) takes tensors .* received "
                                         r"\[\[1\.0, 2\.0, 3\.0\]\].*np\.array"):
        layer([[1.0, 2.0, 3.0]])
    assert not layer.built  # nothing was built from the list
    model = Sequential([tf.keras.Input((3,)), Dense(2)])
    with pytest.raises(ValueError, match="takes tensors"):
        model([[1.0, 2.0, 3.0]])
    # Arrays, tensors, lists of them, and the preprocessing layers' lists of strings are fine.
    assert layer(np.ones((1, 3), "float32")).shape == (1, 2)
    assert tf.keras.layers.Concatenate()([np.ones((1, 2)), tf.ones((1, 2))]).shape == (1, 4)
    lookup = tf.keras.layers.StringLookup(vocabulary=["a", "b"])
    assert lookup(["b", "a", "z"]).numpy().tolist() == [2, 1, 0]
