"""Probe round 5: the errors users hit with common mistakes (a wrong input shape on a built
model, a list given to Dense, a layer called without inputs, pop() on an empty Sequential, an
object-dtype array given to fit). Exception types are checked against real Keras 3; messages
must name the layer or model, what was expected and what was received."""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import import_keras, raised, raised_by_both

pytestmark = pytest.mark.keras_oracle


def _sequential(k):
    return k.Sequential([k.Input((4,)), k.layers.Dense(3, name="d1"),
                         k.layers.Dense(2, name="d2")], name="seq")


@pytest.mark.parametrize("run", ["predict", "call", "fit"])
def test_wrong_last_dim_names_the_model_the_layer_and_the_axis(run):
    def build(k):
        model = _sequential(k)
        x = np.zeros((8, 5), "float32")
        if run == "predict":
            model.predict(x, verbose=0)
        elif run == "call":
            model(x)
        else:
            model.compile("sgd", "mse")
            model.fit(x, np.zeros((8, 2)), verbose=0)

    ours, theirs = raised_by_both(build)
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError)
    message = str(ours)
    assert "Sequential 'seq'" in message and "'d1'" in message, message
    assert "(None, 4)" in message and "(8, 5)" in message and "axis -1" in message, message


def test_wrong_middle_dim_names_its_axis():
    inp = keras.Input((4, 5))
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(inp), name="net")
    error = raised(lambda: model(np.zeros((2, 3, 5), "float32")))
    assert isinstance(error, ValueError)
    assert "Functional 'net'" in str(error) and "axis 1" in str(error)
    assert "'head'" in str(error) and "(2, 3, 5)" in str(error)


def test_wrong_input_count_lists_the_inputs():
    def build(k):
        a, b = k.Input((3,), name="left"), k.Input((3,), name="right")
        model = k.Model([a, b], k.layers.Add()([a, b]))
        model.predict([np.zeros((2, 3))] * 3, verbose=0)

    ours, theirs = raised_by_both(build)
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError)
    assert "'left'" in str(ours) and "'right'" in str(ours) and "received 3" in str(ours)


def test_list_given_to_dense_is_a_value_error():
    def build(k):
        k.layers.Dense(2, name="single")([k.Input((3,)), k.Input((3,))])

    ours, theirs = raised_by_both(build)
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    assert "Dense 'single' expects 1 input(s)" in str(ours) and "received 2" in str(ours)


def test_layer_called_without_inputs_is_a_type_error():
    ours, theirs = raised_by_both(lambda k: k.layers.Dense(2, name="empty")())
    assert isinstance(theirs, TypeError) and isinstance(ours, TypeError), repr(ours)
    assert "'empty'" in str(ours) and "'inputs'" in str(ours)


def test_layer_whose_call_needs_no_input_still_runs():
    class Constant(keras.layers.Layer):
        def call(self, value=2.0):
            return value * 2

    assert Constant()() == 4.0


def test_pop_on_empty_sequential_is_an_index_error():
    ours, theirs = raised_by_both(lambda k: k.Sequential().pop())
    assert type(theirs) is IndexError and isinstance(ours, IndexError)


def test_object_array_of_numbers_is_a_clear_value_error():
    def build(k):
        model = k.Sequential([k.Input((4,)), k.layers.Dense(2)])
        model.compile("sgd", "mse")
        rows = np.empty((4, 4), dtype=object)
        rows[:] = 0.5
        model.fit(rows, np.zeros((4, 2)), verbose=0)

    ours, theirs = raised_by_both(build)
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    assert "dtype object" in str(ours) and "(4, 4)" in str(ours)


def test_object_array_of_strings_still_becomes_a_string_tensor():
    from tensorflux.keras.trainers.data_adapters import _to_tensor

    value = _to_tensor(np.array(["a b", "c"], dtype=object))
    assert value.dtype.name == "string" and value.shape == (2,)


def test_keras_tensor_as_a_value_is_a_value_error_and_has_no_numpy():
    import tensorflux as tf

    real = import_keras()
    ours, theirs = keras.Input((4,)), real.Input((4,))
    assert hasattr(ours, "numpy") is hasattr(theirs, "numpy") is False
    with pytest.raises(ValueError):
        np.asarray(theirs)
    for use in (np.asarray, tf.reduce_sum, tf.math.log):
        with pytest.raises(ValueError, match="symbolic placeholder"):
            use(ours)
    with pytest.raises(TypeError):  # (still a TypeError, as tensorflux raised before)
        tf.reduce_sum(ours)


def test_input_with_an_unknown_dtype_is_refused():
    ours, theirs = raised_by_both(lambda k: k.Input((3,), dtype="floot32"))
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError), repr(ours)
    assert "floot32" in str(ours)
    assert keras.Input((3,), dtype="int8").dtype == "int8"


def test_a_call_failing_on_symbolic_inputs_names_the_layer_and_keeps_the_error_class():
    class Broken(keras.layers.Layer):
        def call(self, x):
            raise NotImplementedError("no symbolic support here")

    with pytest.raises(NotImplementedError) as info:
        Broken(name="broken")(keras.Input((4,)))
    assert "Broken 'broken'" in str(info.value) and "no symbolic support here" in str(info.value)


def _conv_then_pool(k):
    return [k.Input((8, 8, 3)), k.layers.Conv2D(2, 3), k.layers.GlobalAveragePooling2D()]


@pytest.mark.parametrize("x_shape", [(2, 16, 16, 3), (2, 6, 6, 3)])
def test_sequential_takes_other_spatial_sizes_as_keras_does(x_shape):
    x = np.random.RandomState(0).rand(*x_shape).astype("float32")
    real = import_keras()
    theirs = real.Sequential(_conv_then_pool(real))
    ours = keras.Sequential(_conv_then_pool(keras))
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_sequential_rnn_takes_other_step_counts_but_a_functional_model_does_not():
    x = np.zeros((2, 6, 3), "float32")

    def sequential(k):
        return k.Sequential([k.Input((5, 3)), k.layers.LSTM(2)])

    def functional(k):
        inp = k.Input((5, 3))
        return k.Model(inp, k.layers.LSTM(2)(inp))

    assert sequential(keras).predict(x, verbose=0).shape == (2, 2)
    assert sequential(import_keras()).predict(x, verbose=0).shape == (2, 2)
    ours, theirs = raised_by_both(lambda k: functional(k).predict(x, verbose=0))
    assert isinstance(theirs, ValueError) and isinstance(ours, ValueError)
    assert "axis 1" in str(ours) and "(2, 6, 3)" in str(ours)


@pytest.mark.parametrize("build", ["sequential", "functional"])
def test_one_image_without_its_batch_axis_gets_a_hint(build):
    layers = [keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(2)]
    if build == "sequential":
        model = keras.Sequential([keras.Input((8, 8, 1))] + layers)
    else:
        inp = keras.Input((8, 8, 1))
        x = inp
        for layer in layers:
            x = layer(x)
        model = keras.Model(inp, x)
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros((8, 8, 1)), verbose=0)
    message = str(info.value)
    assert "(None, 8, 8, 1)" in message and "(8, 8, 1)." in message
    assert "batch axis" in message and len(message) < 400
    # (a batch of scalars for an Input((1,)) still gets its trailing axis, as in Keras)
    scalar_model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    assert scalar_model.predict(np.zeros((4,)), verbose=0).shape == (4, 2)


def test_an_error_inside_call_notes_the_innermost_layer_and_its_input_shapes():
    import sys

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d"),
                              keras.layers.Dropout(0.5, noise_shape=(1, 5), name="drop")])
    with pytest.raises(ValueError) as info:  # (an InvalidArgumentError, as in TF)
        model(np.ones((2, 4), "float32"), training=True)
    if sys.version_info >= (3, 11):
        assert info.value.__notes__ == [
            "Raised while calling Dropout 'drop'.call() on inputs of shape (2, 3)."]
