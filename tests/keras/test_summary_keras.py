"""Model.summary() against real Keras 3's, as text: the same model built in both (explicit
names, so no auto-name counter differs), printed through print_fn with the same arguments and
the same terminal width."""

import numpy as np
import pytest

from tensorflux import keras
from tensorflux.keras.models import summary
from tests.keras._oracle import fresh_names, import_keras  # noqa: F401

pytestmark = [pytest.mark.keras_oracle,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]


# ------------------------------------------------------------------ the same models in both

def sequential(k):
    layers = k.layers
    return k.Sequential([k.Input((16,), name="inp"),
                         layers.Dense(32, activation="relu", name="dense_a"),
                         layers.Dropout(0.1, name="drop"),
                         layers.BatchNormalization(name="bn"),
                         layers.Dense(10, name="out")], name="seq")


def functional_multi(k):
    layers = k.layers
    a = k.Input((8,), name="first_input_with_a_really_long_name")
    b = k.Input((4,), name="second_input")
    x = layers.Dense(16, name="a_dense_layer_with_an_extremely_long_name_here")(a)
    y = layers.Dense(16, name="short")(b)
    z = layers.Concatenate(name="concatenate_these_two_branches")([x, y])
    z = layers.Add(name="add")([z, z])
    return k.Model([a, b], [layers.Dense(1, name="out_one")(z),
                            layers.Dense(3, name="out_two")(z)], name="functional_multi")


def shared_and_multi_output(k):
    layers = k.layers
    a, b = k.Input((6,), name="a"), k.Input((6,), name="b")
    shared = layers.Dense(5, name="shared_dense")
    z = layers.Multiply(name="mul")([shared(a), shared(b)])
    z = layers.Reshape((5, 1), name="reshape")(z)
    sequence, h, c = layers.LSTM(3, return_sequences=True, return_state=True, name="lstm")(z)
    out = layers.Concatenate(name="cat")([layers.Flatten(name="flat")(sequence), h, c])
    return k.Model({"a": a, "b": b}, out,
                   name="a_model_with_a_rather_long_name_for_testing_purposes")


def nested(k):
    layers = k.layers
    inner = k.Sequential([k.Input((8,), name="inner_in"), layers.Dense(4, name="inner_dense"),
                          layers.BatchNormalization(name="inner_bn")], name="inner_block")
    inner.layers[1].trainable = False
    inputs = k.Input((8,), name="outer_in")
    x = inner(layers.Dense(8, name="pre")(inputs))
    return k.Model(inputs, layers.Dense(2, name="post")(x), name="outer")


def nested_deep(k):
    layers = k.layers
    inner = k.Sequential([k.Input((8,), name="deep_in"), layers.Dense(4, name="deep_dense")],
                         name="deep")
    middle = k.Sequential([k.Input((8,), name="mid_in"), inner,
                           layers.Dense(3, name="mid_dense")], name="middle_sequential_model")
    return k.Sequential([k.Input((8,), name="top_in"), middle,
                         layers.Dense(1, name="top_dense")], name="top")


def subclassed_unbuilt(k):
    class TwoDense(k.Model):
        def __init__(self):
            super().__init__(name="two_dense")
            self.hidden = k.layers.Dense(8, name="hidden")
            self.head = k.layers.Dense(2, name="head")

        def call(self, x):
            return self.head(self.hidden(x))

    return TwoDense()


def subclassed_built(k):
    model = subclassed_unbuilt(k)
    model(np.zeros((2, 5), "float32"))
    return model


def trained(k):
    model = sequential(k)
    model.compile(optimizer=k.optimizers.Adam(), loss="mse")
    model.fit(np.zeros((4, 16), "float32"), np.zeros((4, 10), "float32"), epochs=1,
              verbose=0)
    return model


def mobilenet(k):
    return k.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))


VARIANTS = [dict(), dict(line_length=100), dict(line_length=70),
            dict(expand_nested=True), dict(show_trainable=True),
            dict(expand_nested=True, show_trainable=True, line_length=120),
            dict(line_length=60, show_trainable=True)]


def _summary(model, **kwargs):
    chunks = []
    model.summary(print_fn=chunks.append, **kwargs)
    return "".join(chunks)


def _assert_same_text(ours, theirs):
    ours_lines, their_lines = ours.splitlines(), theirs.splitlines()
    for number, (got, expected) in enumerate(zip(ours_lines, their_lines), start=1):
        assert got == expected, f"line {number}:\n  ours:  {got!r}\n  Keras: {expected!r}"
    assert len(ours_lines) == len(their_lines), (len(ours_lines), len(their_lines))
    assert ours == theirs


@pytest.mark.parametrize("build", [sequential, functional_multi, shared_and_multi_output,
                                   nested, nested_deep, subclassed_unbuilt, subclassed_built,
                                   trained], ids=lambda f: f.__name__)
@pytest.mark.parametrize("columns", ["80", "200"])
def test_summary_text_matches_keras(build, columns, monkeypatch):
    k = import_keras()
    monkeypatch.setenv("COLUMNS", columns)
    ours, theirs = build(keras), build(k)
    for variant in VARIANTS:
        _assert_same_text(_summary(ours, **variant), _summary(theirs, **variant))


@pytest.mark.parametrize("layer_range", [["dense_a", "bn"], ["b.*", "dense_a"]])
def test_layer_range_matches_keras(layer_range, monkeypatch):
    k = import_keras()
    monkeypatch.setenv("COLUMNS", "80")
    _assert_same_text(_summary(sequential(keras), layer_range=layer_range),
                      _summary(sequential(k), layer_range=layer_range))


def test_mobilenet_v2_summary_matches_keras(monkeypatch):
    k = import_keras()
    monkeypatch.setenv("COLUMNS", "80")
    ours, theirs = mobilenet(keras), mobilenet(k)
    for variant in (dict(), dict(line_length=100), dict(show_trainable=True),
                    dict(line_length=60, show_trainable=True)):
        _assert_same_text(_summary(ours, **variant), _summary(theirs, **variant))


def test_narrow_terminal_crops_wide_tables_as_keras(monkeypatch):
    k = import_keras()
    monkeypatch.setenv("COLUMNS", "50")
    monkeypatch.setenv("LINES", "40")
    for variant in (dict(), dict(line_length=90, show_trainable=True)):
        _assert_same_text(_summary(functional_multi(keras), **variant),
                          _summary(functional_multi(k), **variant))


# ------------------------------------------------------------------ rich's cell layout rules

def test_a_word_wider_than_its_column_is_cut_with_an_ellipsis():
    assert summary._wrap("batch_normalization (BatchNormalization)", 19) == [
        "batch_normalization", "(BatchNormalizatio…"]
    assert summary._wrap("Trainable", 5, "center") == ["Trai…"]


def test_leading_indentation_is_kept_and_words_wrap_at_spaces():
    assert summary._wrap("   └ inner (Dense)", 20) == ["   └ inner (Dense)  "]
    assert summary._wrap("a bb ccc", 4) == ["a bb", "ccc "]


def test_centred_text_puts_the_odd_space_on_the_right():
    assert summary._wrap("Y", 4, "center") == [" Y  "]
    assert summary._wrap("12", 5, "right") == ["   12"]
