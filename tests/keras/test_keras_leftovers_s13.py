"""Session 13 leftovers: misspelled names get suggestions, compile() checks steps_per_execution,
a None input (a call() without `return` upstream) is named, the PyDataset warning tells what
fit()'s loader arguments still do, and HashedCrossing shares tf.ragged's cross hash. Exception
types are checked against real Keras 3 (torch backend) where Keras has the same case."""

import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import import_keras, raised, raised_by_both

pytestmark = pytest.mark.keras_oracle


# ------------------------------------------------------------------ 1. misspelled names

@pytest.mark.parametrize("build, typo, meant", [
    (lambda k: k.losses.get("binary_crossentropyy"), "binary_crossentropyy",
     "binary_crossentropy"),
    (lambda k: k.metrics.get("acuracy"), "acuracy", "accuracy"),
    (lambda k: k.optimizers.get("adm"), "adm", "adam"),
    (lambda k: k.activations.get("rellu"), "rellu", "relu"),
    (lambda k: k.layers.Dense(1, activation="rellu"), "rellu", "relu"),
])
def test_misspelled_name_suggests_the_closest(build, typo, meant):
    ours, theirs = raised_by_both(build)
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    message = str(ours)
    assert f"identifier: {typo!r}." in message
    hint = message.split("Did you mean ", 1)[1].split("?", 1)[0]
    assert hint.startswith(repr(meant)), message
    assert "Known" in message  # (the full list is still there, after the hint)


def test_misspelled_optimizer_name_in_compile():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    error = raised(lambda: model.compile(optimizer="adm", loss="mse"))
    assert isinstance(error, ValueError) and "Did you mean 'adam'" in str(error)


@pytest.mark.parametrize("kwargs, typo, meant", [
    (dict(loss="binary_crossentropyy"), "binary_crossentropyy", "binary_crossentropy"),
    (dict(loss="mse", metrics=["acuracy"]), "acuracy", "accuracy"),
])
def test_misspelled_loss_or_metric_in_compile_then_fit(kwargs, typo, meant):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    x, y = np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32")

    def run():
        model.compile(optimizer="sgd", **kwargs)
        model.fit(x, y, verbose=0)

    error = raised(run)
    assert isinstance(error, ValueError), repr(error)
    assert repr(typo) in str(error) and f"Did you mean {meant!r}" in str(error)


def test_name_close_to_nothing_gets_no_hint_but_the_list():
    error = raised(lambda: keras.losses.get("zzqqxx"))
    assert isinstance(error, ValueError)
    assert "Did you mean" not in str(error) and "mean_squared_error" in str(error)


def test_hint_ignores_case():
    error = raised(lambda: keras.optimizers.get("ADM"))
    assert "Did you mean 'adam'" in str(error)


# ------------------------------------------------------------------ 2. steps_per_execution

@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True, None])
def test_bad_steps_per_execution_is_named(value):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.optimizer
    error = raised(lambda: model.compile(optimizer="adam", loss="mse",
                                          steps_per_execution=value))
    assert isinstance(error, ValueError), repr(error)
    assert f"steps_per_execution={value!r}" in str(error)
    assert type(value).__name__ in str(error)
    assert model.optimizer is before  # (a refused compile changes nothing)


@pytest.mark.parametrize("value", [0, 1.5])
def test_keras_fails_too_on_steps_per_execution(value):
    keras3 = import_keras()
    model = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(1)])

    def run():
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=value)
        model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32"), verbose=0)

    raised(run)  # (Keras refuses it somewhere; ours refuses it in compile, by name)


def test_good_steps_per_execution_trains():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=2)
    assert model.steps_per_execution == 2
    history = model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), batch_size=2,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ------------------------------------------------------------------ 3. a None input

def test_none_input_is_a_value_error_like_keras():
    ours, theirs = raised_by_both(lambda k: k.layers.Dense(2, name="after")(None))
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    assert "Got 'None' as input for Dense 'after'" in str(ours)


def test_layer_after_a_call_without_return_points_at_it():
    class Forgetful(keras.layers.Layer):
        def call(self, x):
            x * 2  # noqa: B018  (the missing `return` under test)

    error = raised(lambda: keras.layers.Dense(2, name="after")(
        Forgetful()(np.ones((2, 3), "float32"))))
    assert isinstance(error, ValueError), repr(error)
    assert "Dense 'after'" in str(error) and "is a `return` missing?" in str(error)


def test_layer_without_spec_still_takes_none():
    class Passthrough(keras.layers.Layer):
        def call(self, x):
            return 1.0 if x is None else x

    assert Passthrough()(None) == 1.0


# ------------------------------------------------------------------ 4. PyDataset warning

def _no_super_dataset(k):
    class NoSuper(k.utils.PyDataset):
        def __init__(self):  # (no super().__init__())
            pass

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return np.zeros((2, 3), "float32"), np.zeros((2, 1), "float32")

    return NoSuper()


def _warning_of(k):
    dataset = _no_super_dataset(k)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert dataset.workers == 1
    return [str(w.message) for w in caught if "PyDataset" in str(w.message)]


def test_no_super_warning_keeps_keras_start_and_tells_what_fit_does():
    theirs = _warning_of(import_keras())
    ours = _warning_of(keras)
    assert len(ours) == 1 and len(theirs) == 1
    start = "Your `PyDataset` class should call `super().__init__(**kwargs)` in its constructor."
    assert theirs[0].startswith(start) and ours[0].startswith(start)
    assert "will be ignored" not in ours[0]
    assert "one worker" in ours[0] and "`use_multiprocessing`" in ours[0]


# ------------------------------------------------------------------ 5. HashedCrossing hash

def test_hashed_crossing_matches_ragged_cross_hashed():
    strings = ["A", "B", "A", "B", "A", "zebra"]
    ints = [101, 101, 101, 102, 102, -7]
    layer = keras.layers.HashedCrossing(num_bins=97)
    ours = layer((strings, ints)).numpy().reshape(-1).tolist()
    rows = tf.ragged.cross_hashed([tf.constant([[s] for s in strings]),
                                   tf.constant([[i] for i in ints], "int64")], num_buckets=97)
    assert ours == [row[0] for row in rows.to_list()]


def test_keras_documented_hashed_crossing_example():
    # The bins Keras's HashedCrossing docstring shows (computed there by TensorFlow).
    layer = keras.layers.HashedCrossing(num_bins=5)
    bins = layer((["A", "B", "A", "B", "A"], [101, 101, 101, 102, 102]))
    assert bins.numpy().tolist() == [1, 4, 1, 1, 3]
