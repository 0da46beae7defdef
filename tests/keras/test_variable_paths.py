"""Variable and layer paths follow Keras 3's name scopes (a variable's path is fixed when it is
created, from the scopes of the layers being built around it), checked against real Keras for
each kind of model; weights files of nested models still load in Keras and back."""

import os

import numpy as np
import pytest

from tensorflux import keras
from tensorflux.keras.engine.name_scope import current_path, name_scope
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

X3 = np.linspace(-1.0, 1.0, 6, dtype="float32").reshape(2, 3)


# ---------------------------------------------------------------------- constructions
# Each builder takes a keras module (tensorflux's or Keras's) and returns a built model or
# layer; the same code runs in both, with explicit names.

def functional(k):
    i = k.Input((4,), name="x")
    return k.Model(i, k.layers.Dense(2, name="d2")(k.layers.Dense(3, name="d1")(i)),
                   name="func")


def sequential_with_input(k):
    return k.Sequential([k.Input((4,)), k.layers.Dense(3, name="a"), k.layers.Dense(2, name="b")],
                        name="seq")


def sequential_built_by_call(k):
    model = k.Sequential([k.layers.Dense(3, name="a"), k.layers.Dense(2, name="b")], name="lazy")
    model(X3)
    return model


def sequential_built_by_build(k):
    model = k.Sequential([k.layers.Dense(3, name="a"), k.layers.Dense(2, name="b")], name="sb")
    model.build((None, 4))
    return model


def sequential_in_functional(k):
    inner = k.Sequential([k.Input((2,)), k.layers.Dense(2, name="dd")], name="inner")
    i = k.Input((2,))
    return k.Model(i, inner(i), name="outer")


def lazy_sequential_in_functional(k):
    inner = k.Sequential([k.layers.Dense(2, name="dd")], name="inner")
    i = k.Input((2,))
    return k.Model(i, inner(i), name="outer")


def sequential_in_sequential(k):
    inner = k.Sequential([k.layers.Dense(2, name="dd")], name="inner")
    return k.Sequential([k.Input((3,)), inner, k.layers.Dense(1, name="top")], name="outer")


def functional_in_functional(k):
    i1 = k.Input((3,))
    inner = k.Model(i1, k.layers.Dense(2, name="fd")(i1), name="f_in")
    i2 = k.Input((3,))
    return k.Model(i2, k.layers.Dense(1, name="top")(inner(i2)), name="f_out")


def _block_classes(k):
    class Block(k.layers.Layer):
        """A custom layer with its own add_weight and two sublayers built in its call."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.d1 = k.layers.Dense(units, name="b_d1")
            self.norm = k.layers.LayerNormalization(name="b_norm")

        def build(self, input_shape):
            self.proj = self.add_weight(shape=(input_shape[-1], self.units), name="proj")

        def call(self, x):
            return self.norm(self.d1(x) + k.ops.matmul(x, self.proj))

    class Reg(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = Block(4, name="blk")
            self.head = k.layers.Dense(2, name="head")

        def call(self, x):
            return self.head(self.block(x))

    return Block, Reg


def subclassed(k):
    _, Reg = _block_classes(k)
    model = Reg(name="reg")
    model(X3)
    return model


def subclassed_built_then_called(k):
    _, Reg = _block_classes(k)
    model = Reg(name="reg")
    model.build((None, 3))
    model(X3)
    return model


def subclassed_in_subclassed(k):
    _, Reg = _block_classes(k)

    class Wrap(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.reg = Reg(name="reg_in")

        def call(self, x):
            return self.reg(x)

    model = Wrap(name="wrap")
    model(X3)
    return model


def subclassed_with_list_of_layers(k):
    class Stack(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.stack = [k.layers.Dense(2, name=f"l{n}") for n in range(2)]

        def call(self, x):
            for layer in self.stack:
                x = layer(x)
            return x

    model = Stack(name="stack")
    model(X3)
    return model


def subclassed_holding_built_models_and_layers(k):
    """A layer built on its own keeps its path; a lazy Sequential gets the holder's scope; a
    Functional built at top level keeps its layers' paths."""
    pre = k.layers.Dense(3, name="pre")
    pre.build((None, 3))
    i = k.Input((3,))
    functional_model = k.Model(i, k.layers.Dense(2, name="fd")(i), name="f_in")

    class Holder(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.pre = pre
            self.seq = k.Sequential([k.layers.Dense(3, name="s1"), k.layers.Dense(2, name="s2")],
                                    name="sq")
            self.fn = functional_model

        def call(self, x):
            return self.seq(self.pre(x)) + self.fn(x)

    model = Holder(name="holder")
    model(X3)
    return model


def _shared_pair(k):
    shared = k.layers.Dense(3, name="shared")

    def make(name, own):
        class Uses(k.Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.shared = shared
                self.own = k.layers.Dense(1, name=own)

            def call(self, x):
                return self.own(self.shared(x))

        model = Uses(name=name)
        model(X3)
        return model

    return make("first", "own_a"), make("second", "own_b")


def shared_layer_first_user(k):
    return _shared_pair(k)[0]


def shared_layer_second_user(k):
    """The shared layer keeps the path of the model that first called it."""
    return _shared_pair(k)[1]


def add_weight_in_init(k):
    class InitWeight(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = self.add_weight(shape=(2,), initializer="ones", name="w0")

        def call(self, x):
            return x * self.w

    class Holder(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.scale = InitWeight(name="initw")
            self.dense = k.layers.Dense(2, name="cd")

        def call(self, x):
            return self.dense(self.scale(x))

    model = Holder(name="holder")
    model(X3[:, :2])
    return model


def sublayer_built_in_build(k):
    class Outer(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = k.layers.Dense(2, name="inn")

        def build(self, input_shape):
            self.inner.build(input_shape)
            self.v = self.add_weight(shape=(2,), name="v")

        def call(self, x):
            return self.inner(x) + self.v

    i = k.Input((3,))
    return k.Model(i, Outer(name="outerl")(i))


def recurrent_and_wrappers(k):
    i = k.Input((5, 3))
    layers = k.layers
    return k.Model(i, [layers.LSTM(2, name="lstm")(i), layers.GRU(2, name="gru")(i),
                       layers.Bidirectional(layers.LSTM(2, name="bl"), name="bi")(i),
                       layers.TimeDistributed(layers.Dense(2, name="tdd"), name="td")(i),
                       layers.SimpleRNN(2, name="srnn")(i),
                       layers.BatchNormalization(name="bn")(i)])


def recurrent_in_subclassed(k):
    class Net(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.rnn = k.layers.LSTM(2, name="lstm", return_sequences=True)

        def call(self, x):
            return self.rnn(x)

    model = Net(name="net")
    model(np.ones((1, 5, 3), "float32"))
    return model


def multi_head_attention(k):
    i = k.Input((5, 3))
    return k.Model(i, k.layers.MultiHeadAttention(2, 2, name="mha")(i, i))


def multi_head_attention_in_subclassed(k):
    class Net(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.mha = k.layers.MultiHeadAttention(2, 2, name="mha")

        def call(self, x):
            return self.mha(x, x)

    model = Net(name="net")
    model(np.ones((1, 5, 3), "float32"))
    return model


CASES = [functional, sequential_with_input, sequential_built_by_call, sequential_built_by_build,
         sequential_in_functional, lazy_sequential_in_functional, sequential_in_sequential,
         functional_in_functional, subclassed, subclassed_built_then_called,
         subclassed_in_subclassed, subclassed_with_list_of_layers,
         subclassed_holding_built_models_and_layers, shared_layer_first_user,
         shared_layer_second_user, add_weight_in_init, sublayer_built_in_build,
         recurrent_and_wrappers, recurrent_in_subclassed,
         multi_head_attention,
         multi_head_attention_in_subclassed]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("build", CASES, ids=lambda f: f.__name__)
def test_variable_paths_match_keras(build):
    k = import_keras()
    theirs = [w.path for w in build(k).weights]
    k.utils.clear_session(free_memory=False)
    ours = [w.path for w in build(keras).weights]
    assert ours == theirs


def _layer_paths(k):
    layers = k.layers
    i = k.Input((4,))
    dense = layers.Dense(2, name="d")
    layers.Dropout(0.1, name="drop")(dense(i))
    seq = k.Sequential([k.Input((4,)), layers.Dense(2, name="sd")], name="sm")

    class Sub(k.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.a = layers.Dense(2, name="a")
            self.flat = layers.Flatten(name="flat")

        def call(self, x):
            return self.flat(self.a(x))

    sub = Sub()
    sub(np.ones((1, 4), "float32"))
    alone = layers.Dense(2, name="alone")
    alone.build((None, 4))
    unbuilt = layers.Dense(2, name="unbuilt")
    return {layer.name: layer.path
            for layer in [dense, seq, *seq.layers, sub, sub.a, sub.flat, alone, unbuilt]}


@pytest.mark.keras_oracle
def test_layer_paths_match_keras():
    k = import_keras()
    theirs = _layer_paths(k)
    k.utils.clear_session(free_memory=False)
    assert _layer_paths(keras) == theirs


@pytest.mark.keras_oracle
def test_functional_model_path_matches_keras():
    k = import_keras()
    theirs = functional(k).path
    k.utils.clear_session(free_memory=False)
    assert functional(keras).path == theirs


def test_name_scopes_nest_and_a_recorded_parent_path_overrides_the_stack():
    class Caller:
        _parent_path = "root/model"

    with name_scope("a"):
        with name_scope("b"):
            assert current_path() == "a/b"
        with name_scope("layer", caller=Caller()):
            assert current_path() == "root/model/layer"
        assert current_path() == "a"
    assert current_path() == ""
    caller = Caller()
    caller._parent_path = None
    with name_scope("x", caller=caller):
        with name_scope("x", caller=caller):  # the same caller re-entering: one scope
            assert current_path() == "x"
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        name_scope("a/b")


def test_a_failing_call_leaves_no_scope_open():
    class Broken(keras.layers.Layer):
        def call(self, x):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        Broken(name="broken")(X3)
    assert current_path() == ""


# ---------------------------------------------------------------------- files with Keras

def _nested_model(k):
    """A subclassed model holding a custom block, a lazy Sequential and a shared layer."""
    Block, _ = _block_classes(k)

    class Nested(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = Block(4, name="blk")
            self.seq = k.Sequential([k.layers.Dense(3, name="s1"), k.layers.Dense(2, name="s2")],
                                    name="sq")

        def call(self, x):
            return self.seq(self.block(x))

    model = Nested(name="nested")
    model(X3)
    return model


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=tuple(w.shape)).astype("float32")
                       for w in model.get_weights()])


@pytest.mark.keras_oracle
@pytest.mark.parametrize("build, width", [(_nested_model, 3), (sequential_in_functional, 2),
                                          (sequential_in_sequential, 3),
                                          (subclassed_in_subclassed, 3)],
                         ids=["nested_subclassed", "sequential_in_functional",
                              "sequential_in_sequential", "subclassed_in_subclassed"])
def test_weights_files_of_nested_models_load_both_ways(tmp_path, build, width):
    k = import_keras()
    theirs = build(k)
    ours = build(keras)
    x = np.linspace(-1.0, 1.0, 2 * width, dtype="float32").reshape(2, width)
    _randomize(ours, 1)
    _randomize(theirs, 2)

    ours_file = os.path.join(tmp_path, "ours.weights.h5")
    ours.save_weights(ours_file)
    theirs.load_weights(ours_file)
    assert_matches(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-6, what="Keras loading tensorflux's weights")

    _randomize(theirs, 3)
    theirs_file = os.path.join(tmp_path, "theirs.weights.h5")
    theirs.save_weights(theirs_file)
    ours.load_weights(theirs_file)
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-6, what="tensorflux loading Keras's weights")
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]


@pytest.mark.keras_oracle
def test_keras_file_of_nested_sequential_loads_both_ways_with_keras_paths(tmp_path):
    k = import_keras()
    x = np.ones((2, 3), "float32")
    ours = sequential_in_sequential(keras)
    _randomize(ours, 4)
    path = os.path.join(tmp_path, "ours.keras")
    ours.save(path)
    loaded = k.models.load_model(path)
    assert_matches(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-6, what="Keras loading tensorflux's .keras")
    k.utils.clear_session(free_memory=False)
    theirs = sequential_in_sequential(k)
    _randomize(theirs, 5)
    path = os.path.join(tmp_path, "theirs.keras")
    theirs.save(path)
    back = keras.models.load_model(path)
    assert_matches(back.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-6, what="tensorflux loading Keras's .keras")
    assert [w.path for w in back.weights] == [w.path for w in k.models.load_model(path).weights]


@pytest.mark.keras_oracle
def test_optimizer_slot_paths_follow_the_nested_variable_paths():
    def run(k):
        model = k.Sequential([k.Input((3,)), k.layers.Dense(2, name="a")], name="seq")
        model.compile(k.optimizers.Adam(name="adam"), "mse")
        model.fit(np.ones((4, 3), "float32"), np.ones((4, 2), "float32"), verbose=0)
        return [v.path for v in model.optimizer.variables]

    k = import_keras()
    theirs = run(k)
    k.utils.clear_session(free_memory=False)
    assert run(keras) == theirs
