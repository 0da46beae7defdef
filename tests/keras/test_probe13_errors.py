"""Probe round 13: misuse from Stack Overflow and GitHub issues that the earlier error probes
left open. Strings given to a numeric model (features or labels), an out-of-range label found
only when the traced step runs, a batch_size that is not a positive integer, and a
validation_split outside [0, 1]. Real Keras 3 (torch backend) says whether each is refused;
where Keras accepts one silently, the test shows what it silently does. Each error names the
argument or layer, what was expected and what was received, and leaves the weights as they
were."""

import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import fresh_names, import_keras, raised  # noqa: F401

pytestmark = pytest.mark.keras_oracle

X = np.random.default_rng(0).random((6, 3)).astype("float32")
Y = np.array([0, 1, 2, 0, 1, 2])


def _classifier(k, classes=3, **compile_kwargs):
    model = k.Sequential([k.Input((3,)), k.layers.Dense(4, activation="relu", name="hidden"),
                          k.layers.Dense(classes, activation="softmax", name="out")],
                         name="clf")
    model.compile("adam", "sparse_categorical_crossentropy", **compile_kwargs)
    return model


def _copy(weights):
    return [np.array(w, copy=True) for w in weights]


def _assert_unchanged(model, before):
    after = model.get_weights()
    assert len(after) == len(before)
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ strings into numbers

_STRING_X = np.array([["a", "b", "c"]] * 6)


@pytest.mark.parametrize("path", ["fit", "evaluate", "predict", "call"])
def test_string_features_for_a_float_input_name_the_model_input_and_both_dtypes(path):
    def run(k):
        model = _classifier(k)
        if path == "fit":
            model.fit(_STRING_X, Y, verbose=0)
        elif path == "evaluate":
            model.evaluate(_STRING_X, Y, verbose=0)
        elif path == "predict":
            model.predict(_STRING_X, verbose=0)
        else:
            model(_STRING_X)

    assert isinstance(raised(lambda: run(import_keras())), ValueError)
    model = _classifier(keras)
    before = _copy(model.get_weights())
    with pytest.raises(ValueError) as info:
        {"fit": lambda: model.fit(_STRING_X, Y, verbose=0),
         "evaluate": lambda: model.evaluate(_STRING_X, Y, verbose=0),
         "predict": lambda: model.predict(_STRING_X, verbose=0),
         "call": lambda: model(_STRING_X)}[path]()
    message = str(info.value)
    # (it used to be "clf/cast (cast): could not convert string to float: b'a'")
    assert "Sequential 'clf'" in message and f"'{model.inputs[0].name}'" in message, message
    assert "float32" in message and "strings" in message and "(6, 3)" in message, message
    assert "could not convert" not in message
    _assert_unchanged(model, before)


def test_a_string_input_model_still_takes_strings():
    inp = keras.Input((1,), dtype="string")
    model = keras.Model(inp, keras.layers.StringLookup(vocabulary=["a", "b"])(inp))
    out = model.predict(np.array([["b"], ["a"], ["z"]]), verbose=0)
    assert np.asarray(out).ravel().tolist() == [2, 1, 0]  # (0 is the OOV index)


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_string_labels_name_the_loss_the_output_and_the_labels(run_eagerly):
    labels = np.array(["cat", "dog", "cat", "dog", "cat", "dog"])
    theirs = raised(lambda: _classifier(import_keras()).fit(X, labels, verbose=0))
    assert isinstance(theirs, ValueError)
    model = _classifier(keras, run_eagerly=run_eagerly)
    before = _copy(model.get_weights())
    with pytest.raises(ValueError) as info:
        model.fit(X, labels, verbose=0)
    message = str(info.value)
    assert "'sparse_categorical_crossentropy'" in message and "output 'out'" in message, message
    assert "numeric labels" in message and "strings" in message and "(6,)" in message, message
    assert "could not convert" not in message
    _assert_unchanged(model, before)


def test_a_loss_called_on_string_labels_names_itself():
    loss = keras.losses.SparseCategoricalCrossentropy(name="my_loss")
    with pytest.raises(ValueError, match=r"'my_loss' needs numeric labels .*shape \(2,\)"):
        loss(np.array(["a", "b"]), np.full((2, 3), 1 / 3, "float32"))
    with pytest.raises(ValueError, match="'mean_squared_error' needs numeric labels"):
        keras.losses.MeanSquaredError()(np.array(["1.0"]), np.ones(1, "float32"))


# ------------------------------------------------------------------ labels out of range

@pytest.mark.parametrize("jit_compile", [False, True])
def test_an_out_of_range_label_in_a_traced_step_names_the_loss(jit_compile):
    labels = np.array([0, 1, 2, 9, 0, 1], "int64")  # (9 >= the 3 classes of the softmax)
    assert raised(lambda: _classifier(import_keras()).fit(X, labels, verbose=0))
    model = _classifier(keras, jit_compile=jit_compile)
    before = _copy(model.get_weights())
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        model.fit(X, labels, verbose=0)
    message = str(info.value)
    # (it used to be only "gather (gather): indices[3] = 9 is not in [0, 3)"; the one output
    # is not named, so that the message does not depend on its auto-name)
    assert "compile_loss/sparse_categorical_crossentropy/gather" in message, message
    assert "= 9 is not in [0, 3)" in message, message
    _assert_unchanged(model, before)


def test_an_out_of_range_label_of_the_second_output_names_that_output():
    inp = keras.Input((3,))
    model = keras.Model(inp, [keras.layers.Dense(2, activation="softmax", name="first")(inp),
                              keras.layers.Dense(4, activation="softmax", name="second")(inp)])
    model.compile("adam", ["sparse_categorical_crossentropy"] * 2)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"compile_loss/second/sparse_categorical_crossentropy/.*= 4 is "
                             r"not in \[0, 4\)"):
        model.fit(X, [Y % 2, np.array([0, 1, 2, 3, 4, 0])], verbose=0)
    # (in range, the same model trains: the scope changes node names, not results)
    model.fit(X, [Y % 2, Y], verbose=0)


# ------------------------------------------------------------------ batch_size

@pytest.mark.parametrize("batch_size", [2.5, -2, 4.0])
@pytest.mark.parametrize("path", ["fit", "evaluate", "predict"])
def test_a_batch_size_that_is_not_a_positive_integer_is_refused(path, batch_size):
    def run(model):
        if path == "fit":
            return model.fit(X, Y, batch_size=batch_size, verbose=0)
        if path == "evaluate":
            return model.evaluate(X, Y, batch_size=batch_size, verbose=0)
        return model.predict(np.concatenate([X] * 8), batch_size=batch_size, verbose=0)

    assert isinstance(raised(lambda: run(_classifier(import_keras()))), ValueError)
    model = _classifier(keras)
    before = _copy(model.get_weights())
    # (-2 used to run an epoch of no batches and return an empty history; 2.5 was truncated)
    with pytest.raises(ValueError) as info:
        run(model)
    assert "`batch_size` must be a positive integer" in str(info.value)
    assert f"batch_size={batch_size!r}" in str(info.value)
    _assert_unchanged(model, before)


def test_integer_batch_sizes_and_zero_are_accepted_as_in_keras():
    for k in (keras, import_keras()):
        model = _classifier(k)
        assert model.fit(X, Y, batch_size=2, verbose=0).history["loss"]
        assert model.fit(X, Y, batch_size=0, verbose=0).history["loss"]  # (the default)
        assert model.predict(X, batch_size=4, verbose=0).shape == (6, 3)
    # NumPy integers too (len(x) // 4 is one), as Keras's TensorFlow backend takes them; its
    # torch backend's sampler refuses them, a quirk not copied.
    model = _classifier(keras)
    assert model.fit(X, Y, batch_size=np.int64(2), verbose=0).history["loss"]
    assert model.predict(X, batch_size=np.int32(4), verbose=0).shape == (6, 3)


# ------------------------------------------------------------------ validation_split

def test_keras_silently_ignores_a_negative_validation_split():
    # The oracle for the case below: Keras neither refuses it nor validates on anything.
    history = _classifier(import_keras()).fit(X, Y, validation_split=-0.2, verbose=0)
    assert "val_loss" not in history.history


@pytest.mark.parametrize("split", [-0.2, 1.5, "0.2"])
def test_a_validation_split_outside_zero_one_is_refused(split):
    model = _classifier(keras)
    before = _copy(model.get_weights())
    # (-0.2 used to train on every sample and report val_loss 0.0 from an empty split)
    with pytest.raises(ValueError) as info:
        model.fit(X, Y, validation_split=split, verbose=0)
    message = str(info.value)
    assert "between 0 and 1" in message and f"validation_split={split!r}" in message, message
    _assert_unchanged(model, before)


def test_a_validation_split_of_one_keeps_keras_message_and_a_fraction_still_splits():
    def run(k):
        return _classifier(k).fit(X, Y, validation_split=1.0, verbose=0)

    theirs, ours = raised(lambda: run(import_keras())), raised(lambda: run(keras))
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError)
    assert "not sufficient to split" in str(theirs) and "not sufficient to split" in str(ours)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = _classifier(keras).fit(X, Y, validation_split=np.float32(0.5), verbose=0)
    assert sorted(history.history) == ["loss", "val_loss"]


# ------------------------------------------------------------------ a function that returns None

def _forgets_return(y_true, y_pred):
    (y_true - y_pred) ** 2  # noqa: B018 - the bug under test: no `return`


@pytest.mark.parametrize("where", ["loss", "metric"])
def test_a_loss_or_metric_function_without_return_is_named(where):
    def run(k):
        model = k.Sequential([k.Input((3,)), k.layers.Dense(3, name="out")], name="reg")
        if where == "loss":
            model.compile("sgd", _forgets_return)
        else:
            model.compile("sgd", "mse", metrics=[_forgets_return])
        before = _copy(model.get_weights())
        with pytest.raises(ValueError) as info:
            model.fit(X, np.zeros((6, 3)), verbose=0)
        return model, before, info.value

    run(import_keras())  # (Keras refuses it too: "Invalid dtype: object")
    model, before, error = run(keras)
    message = str(error)
    # (it used to be "Attempt to convert a value (None) with an unsupported type")
    assert "'_forgets_return'" in message and "returned None" in message, message
    assert ("LossFunctionWrapper" if where == "loss" else "MeanMetricWrapper") in message
    _assert_unchanged(model, before)


def test_a_layer_whose_call_returns_none_is_named_when_it_is_called_symbolically():
    """Before, the next layer failed with "'NoneType' object is not subscriptable"."""
    from tensorflux import keras as tfx_keras

    class Forgets(tfx_keras.layers.Layer):
        def call(self, x):
            x * 2  # (no return)

    with pytest.raises(ValueError, match=r"'forgot'.*returned None.*\(None, 3\)"):
        Forgets(name="forgot")(tfx_keras.Input((3,)))
