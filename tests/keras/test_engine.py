"""The Keras engine: Layer, KerasTensor/Input, Functional, Sequential, subclassed Model,
summary, configs and serialization; real Keras 3 is the oracle for graph order and summary."""

import json
import os

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras import backend
from tensorflux.keras.layers.base import InputSpec


# ---------------------------------------------------------------------- test layers
# Small stand-ins for Keras layers (the real ones live in their own modules): same class
# names, weights and shapes as keras.layers.Dense / Concatenate / Add.
class Dense(keras.layers.Layer):
    def __init__(self, units, use_bias=True, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias
        self.kernel_regularizer = kernel_regularizer
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel",
                                      regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_shape[-1]})

    def call(self, x):
        y = tf.matmul(x, self.kernel)
        return y + self.bias if self.use_bias else y

    def get_config(self):
        return {**super().get_config(), "units": self.units, "use_bias": self.use_bias}


class Concatenate(keras.layers.Layer):
    def call(self, xs):
        return tf.concat(xs, axis=-1)


class Add(keras.layers.Layer):
    def call(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Moving(keras.layers.Layer):
    """A layer with a trainable and a non-trainable weight, created in that order."""

    def build(self, input_shape):
        self.stat = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                    trainable=False, name="stat")
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     name="gamma")

    def call(self, x, training=None):
        return x * self.gamma + self.stat


class TrainingProbe(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, x, training=None):
        self.seen.append(training)
        return x


CUSTOM = {"Dense": Dense, "Concatenate": Concatenate, "Add": Add}


@pytest.fixture(autouse=True)
def fresh_names():
    backend.clear_session()
    yield
    backend.clear_session()


def keras3():
    """Real Keras 3 on the torch backend, or skip."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    real = pytest.importorskip("keras", reason="real Keras 3 is not installed")
    if not real.__version__.startswith("3."):
        pytest.skip(f"needs Keras 3, found {real.__version__}")
    if real.backend.backend() not in ("torch", "jax", "numpy", "tensorflow"):
        pytest.skip("no usable Keras backend")
    real.utils.clear_session()
    return real


# ---------------------------------------------------------------------- Layer
def test_auto_names_count_per_prefix_and_clear_session_resets():
    names = [Dense(2).name, Dense(2).name, Concatenate().name, Dense(2, name="x").name,
             Dense(2).name]
    assert names == ["dense", "dense_1", "concatenate", "x", "dense_2"]
    backend.clear_session()
    assert Dense(1).name == "dense"
    assert keras.layers.Layer().name == "layer"


def test_build_on_first_call_records_shape_and_casts_float_inputs():
    layer = Dense(3)
    assert not layer.built and layer.weights == []
    out = layer(np.ones((2, 4)))  # float64 NumPy input: autocast to float32
    assert layer.built
    assert out.dtype == tf.float32 and tuple(out.shape) == (2, 3)
    assert [tuple(w.shape) for w in layer.weights] == [(4, 3), (3,)]
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert [w.path for w in layer.weights] == ["dense/kernel", "dense/bias"]
    assert layer.get_build_config() == {"input_shape": (2, 4)}
    assert layer.count_params() == 15


def test_count_params_before_build_names_the_layer():
    with pytest.raises(ValueError, match="'dense'.*isn't built"):
        Dense(2).count_params()


def test_wrong_last_dimension_error_names_layer_and_both_shapes():
    Dense(2)  # dense
    layer = Dense(4)  # dense_1
    layer(tf.zeros([32, 8]))
    with pytest.raises(ValueError) as info:
        layer(tf.zeros([32, 7]))
    assert str(info.value) == ("Dense 'dense_1' expected an input with last dimension 8, "
                               "received shape (32, 7)")
    with pytest.raises(ValueError, match=r"Dense 'dense_1' expected an input of rank >= 2, "
                                         r"received shape \(8,\)"):
        layer(tf.zeros([8]))


def test_weights_order_trainable_first_then_sublayers_in_creation_order():
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = Dense(3, name="first")
            self.norm = Moving(name="norm")
            self.heads = [Dense(2, name="h0"), Dense(1, name="h1")]

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

        def call(self, x):
            x = self.norm(self.first(x)) * self.scale
            return [head(x) for head in self.heads]

    block = Block()
    block(tf.ones([2, 5]))
    paths = [w.path for w in block.weights]
    # (Keras's paths: the sublayers' weights are created inside the block's name scope)
    assert paths == ["block/scale", "block/first/kernel", "block/first/bias",
                     "block/norm/gamma", "block/norm/stat", "block/h0/kernel", "block/h0/bias",
                     "block/h1/kernel", "block/h1/bias"]
    assert [w.path for w in block.non_trainable_weights] == ["block/norm/stat"]
    assert len(block.trainable_weights) == 8
    assert [layer.name for layer in block._flatten_layers(include_self=False)] == [
        "first", "norm", "h0", "h1"]


def test_freezing_makes_weights_non_trainable_and_unfreezing_restores():
    model = keras.Sequential([keras.Input((4,)), Dense(3, name="a"), Moving(name="m"),
                              Dense(1, name="b")])
    assert len(model.trainable_variables) == 5
    model.layers[0].trainable = False
    assert [v.path for v in model.trainable_variables] == [
        "sequential/m/gamma", "sequential/b/kernel", "sequential/b/bias"]
    assert [v.path for v in model.non_trainable_variables] == [
        "sequential/a/kernel", "sequential/a/bias", "sequential/m/stat"]
    model.layers[0].trainable = True
    assert len(model.trainable_variables) == 5
    model.trainable = False
    assert model.trainable_variables == [] and len(model.non_trainable_variables) == 6
    model.trainable = True
    assert [v.path for v in model.non_trainable_variables] == ["sequential/m/stat"]


def test_set_weights_checks_count_and_shapes_naming_the_layer():
    layer = Dense(2, name="d")
    layer.build((None, 3))
    with pytest.raises(ValueError, match="layer 'd' with a weight list of length 1, but the "
                                         "layer was expecting 2 weights"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"Layer d weight shape \(2,\) is not compatible with "
                                         r"provided weight shape \(3,\)"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(3)])
    kernel = np.arange(6, dtype="float32").reshape(3, 2)
    layer.set_weights([kernel, np.ones(2, "float32")])
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    np.testing.assert_array_equal(layer.get_weights()[1], [1.0, 1.0])


def test_training_argument_propagates_to_nested_layers():
    class Outer(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = TrainingProbe()
            self.forced = TrainingProbe()

        def call(self, x, training=None):
            return self.forced(self.inner(x), training=False)

    outer = Outer()
    outer(tf.ones([1]), training=True)
    outer(tf.ones([1]))
    assert outer.inner.seen == [True, None]
    assert outer.forced.seen == [False, False]


def test_losses_are_add_loss_values_plus_regularization_from_current_values():
    class L2:
        def __call__(self, w):
            return 0.5 * tf.reduce_sum(w * w)

    class WithLoss(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = Dense(2, kernel_regularizer=L2())

        def call(self, x):
            y = self.dense(x)
            self.add_loss(tf.reduce_sum(y) * 0.0 + 1.5)
            return y

    layer = WithLoss()
    layer(tf.ones([1, 2]))
    layer.dense.set_weights([np.full((2, 2), 2.0), np.zeros(2)])
    losses = [float(v) for v in layer.losses]
    assert losses == [1.5, 8.0]
    layer(tf.ones([1, 2]))
    assert len(layer.losses) == 2  # add_loss values are reset at every outer call


def test_compute_output_shape_by_tracing_call():
    assert Dense(5).compute_output_shape((None, 3)) == (None, 5)
    assert Concatenate().compute_output_shape([(None, 3), (None, 4)]) == (None, 7)


def test_layer_config_round_trip():
    layer = Dense(3, use_bias=False, name="d", trainable=False)
    config = layer.get_config()
    assert config["dtype"]["config"] == {"name": "float32"}
    clone = Dense.from_config(config)
    assert clone.get_config() == config
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to Dense"):
        Dense(3, bogus=1)


def test_forgetting_super_init_is_a_clear_error():
    class Broken(keras.layers.Layer):
        def __init__(self):
            pass

    with pytest.raises(RuntimeError, match=r"forgot to call `super\(\)\.__init__\(\)`"):
        Broken()(tf.ones([1]))


# ---------------------------------------------------------------------- KerasTensor, Input
def test_input_is_a_keras_tensor_with_history():
    x = keras.Input(shape=(8,), name="x")
    assert x.shape == (None, 8) and x.dtype == "float32"
    layer, node_index, tensor_index = x._keras_history
    assert isinstance(layer, keras.InputLayer) and (node_index, tensor_index) == (0, 0)
    assert keras.Input(batch_shape=(4, 2), dtype="int32").shape == (4, 2)
    with pytest.raises(TypeError, match="cannot be passed to a tensorflux op"):
        tf.exp(x)


def test_operators_on_keras_tensors_build_op_nodes():
    inputs = keras.Input((4,), name="x")
    residual = inputs
    x = Dense(4, name="d")(inputs)
    x += residual
    x = -x[:, :2] * 2.0 - 1.0
    model = keras.Model(inputs, x)
    assert [layer.name for layer in model.layers] == ["x", "d"]
    assert [op.name for op in model.operations] == [
        "x", "d", "add", "get_item", "negative", "multiply", "subtract"]
    data = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    kernel, bias = (w.numpy() for w in model.get_layer("d").weights)
    expected = -((data @ kernel + bias + data)[:, :2]) * 2.0 - 1.0
    np.testing.assert_allclose(model(data).numpy(), expected, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- Functional
def test_functional_multiple_inputs_outputs_and_shared_layer():
    a = keras.Input((8,), name="a")
    b = keras.Input((8,), name="b")
    shared = Dense(4, name="shared")
    xa, xb = shared(a), shared(b)
    assert xa._keras_history[1] == 0 and xb._keras_history[1] == 1
    out1 = Dense(1, name="o1")(Concatenate(name="cat")([xa, xb]))
    out2 = Dense(2, name="o2")(xb)
    model = keras.Model(inputs=[a, b], outputs={"first": out1, "second": out2}, name="m")
    assert isinstance(model, keras.Functional)
    assert model.input_shape == [(None, 8), (None, 8)]
    assert model.output_shape == {"first": (None, 1), "second": (None, 2)}
    assert len(model.weights) == 6
    rng = np.random.default_rng(1)
    xa_v, xb_v = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    out = model([xa_v, xb_v])
    k, bias = shared.get_weights()
    ha, hb = xa_v @ k + bias, xb_v @ k + bias
    k1, b1 = model.get_layer("o1").get_weights()
    k2, b2 = model.get_layer("o2").get_weights()
    np.testing.assert_allclose(out["first"].numpy(), np.concatenate([ha, hb], 1) @ k1 + b1,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["second"].numpy(), hb @ k2 + b2, rtol=1e-4, atol=1e-5)
    assert model.get_layer(index=2) is shared
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")


def test_functional_dict_inputs_and_nested_model():
    inputs = {"x": keras.Input((3,), name="x"), "y": keras.Input((2,), name="y")}
    merged = Concatenate(name="merge")([inputs["x"], inputs["y"]])
    inner = keras.Model(inputs, Dense(4, name="inner_dense")(merged), name="inner")
    x, y = keras.Input((3,), name="x2"), keras.Input((2,), name="y2")
    outer = keras.Model([x, y], Dense(1, name="head")(inner({"x": x, "y": y})), name="outer")
    assert [layer.name for layer in outer.layers] == ["x2", "y2", "inner", "head"]
    assert len(outer.weights) == 4
    value = outer([np.ones((2, 3)), np.ones((2, 2))])
    assert tuple(value.shape) == (2, 1)
    config = outer.get_config()
    clone = keras.Model.from_config(config, custom_objects=CUSTOM)
    assert clone.get_config() == config


def test_functional_input_shape_mismatch_names_model_and_shapes():
    x = keras.Input((8,), name="x")
    model = keras.Model(x, Dense(2)(x), name="net")
    with pytest.raises(ValueError, match=r"Functional 'net' expected an input of shape "
                                         r"\(None, 8\) for input 'x', received shape \(2, 7\)"):
        model(np.ones((2, 7)))


def test_calling_a_model_in_a_loop_does_not_grow_state():
    x = keras.Input((4,))
    model = keras.Model(x, Dense(2)(Dense(3)(x)))
    data = tf.ones([2, 4])
    model(data)
    nodes = [len(layer._inbound_nodes) for layer in model.layers]
    for _ in range(20):
        model(data)
    assert [len(layer._inbound_nodes) for layer in model.layers] == nodes
    assert len(model.weights) == 4


def test_graph_disconnected_and_non_keras_tensor_inputs_are_errors():
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    with pytest.raises(ValueError, match="Graph disconnected"):
        keras.Model(a, Dense(1)(b))
    with pytest.raises(ValueError, match="must be KerasTensors"):
        keras.Model(tf.ones([2]), Dense(1)(b))


# ---------------------------------------------------------------------- Sequential
def test_sequential_with_input_first_is_built():
    model = keras.Sequential([keras.Input((4,)), Dense(3), Dense(1)], name="s")
    assert model.built and [layer.name for layer in model.layers] == ["dense", "dense_1"]
    assert model.input_shape == (None, 4) and model.output_shape == (None, 1)
    assert model.count_params() == 19


def test_sequential_input_shape_kwarg_on_first_layer():
    model = keras.Sequential([Dense(3, input_shape=(5,)), Dense(2)])
    assert model.built and model.input_shape == (None, 5)
    model = keras.Sequential([Dense(3, input_dim=6)])
    assert model.input_shape == (None, 6)
    model = keras.Sequential([Dense(3, batch_input_shape=(8, 2))])
    assert model.input_shape == (8, 2)


def test_sequential_deferred_build_and_pop_and_add():
    model = keras.Sequential()
    model.add(Dense(3))
    model.add(Dense(2))
    assert not model.built and model.weights == []
    out = model(np.ones((4, 6)))
    assert model.built and tuple(out.shape) == (4, 2)
    assert len(model.weights) == 4
    popped = model.pop()
    assert popped.name == "dense_1" and len(model.layers) == 1
    assert model.output_shape == (4, 3)  # as Keras: built with the first call's batch size
    with pytest.raises(ValueError, match=r"already been configured to use input shape "
                                         r"\(4, 6\)"):
        model.build((None, 6))
    other = keras.Sequential([Dense(2)])
    other.build((None, 3))
    assert other.built and other.input_shape == (None, 3) and len(other.weights) == 2


def test_sequential_add_rejects_a_layer_that_does_not_fit():
    model = keras.Sequential([keras.Input((4,)), Dense(3, name="a")])
    fixed = Dense(2, name="fixed")
    fixed.build((None, 5))
    with pytest.raises(ValueError, match=r"Dense 'fixed' expected an input with last dimension "
                                         r"5, received shape \(None, 3\)"):
        model.add(fixed)
    assert [layer.name for layer in model.layers] == ["a"]
    with pytest.raises(ValueError, match="Only instances of `keras.Layer`"):
        model.add("dense")
    with pytest.raises(ValueError, match="unique names"):
        model.add(Dense(1, name="a"))


def test_sequential_config_round_trip_in_keras3_format():
    model = keras.Sequential([keras.Input((4,)), Dense(3, name="d1"), Dense(1, name="d2")],
                             name="seq")
    serialized = keras.saving.serialize_keras_object(model)
    assert serialized["module"] == "keras" and serialized["class_name"] == "Sequential"
    config = serialized["config"]
    assert config["build_input_shape"] == (None, 4)
    first = config["layers"][0]
    assert first == {"module": "keras.layers", "class_name": "InputLayer",
                     "config": {"batch_shape": (None, 4), "dtype": "float32", "sparse": False,
                                "ragged": False, "name": "input_layer", "optional": False},
                     "registered_name": None}
    text = json.dumps(serialized)
    restored = keras.saving.deserialize_keras_object(json.loads(text), custom_objects=CUSTOM)
    assert json.dumps(restored.get_config()) == json.dumps(model.get_config())
    assert restored.built and len(restored.weights) == 4


# ---------------------------------------------------------------------- subclassed models
def test_subclassed_model_tracks_layers_and_weights():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = Dense(4)
            self.out = Dense(1)

        def call(self, x, training=None):
            return self.out(self.hidden(x))

    model = Net()
    assert model.name == "net" and [layer.name for layer in model.layers] == ["dense",
                                                                             "dense_1"]
    assert tuple(model(np.ones((3, 2))).shape) == (3, 1)
    assert len(model.trainable_variables) == 4 and model.count_params() == 17
    other = Net()  # Keras 3: the default build() creates nothing and warns
    with pytest.warns(UserWarning, match=r"does not have a `build\(\)` method implemented"):
        other.build((None, 2))
    assert other.built and other.count_params() == 0
    other(np.ones((3, 2)))
    assert other.count_params() == 17


def test_subclass_of_model_constructed_functionally():
    class Custom(keras.Model):
        def marker(self):
            return "custom"

    x = keras.Input((2,))
    model = Custom(x, Dense(1)(x))
    assert isinstance(model, keras.Functional) and model.marker() == "custom"
    assert tuple(model(np.ones((1, 2))).shape) == (1, 1)


# ---------------------------------------------------------------------- serialization
def test_register_serializable_and_custom_object_scope():
    @keras.saving.register_keras_serializable(package="pkg")
    class Scale(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    config = keras.saving.serialize_keras_object(Scale(3.0, name="s"))
    assert config["registered_name"] == "pkg>Scale" and config["class_name"] == "Scale"
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, Scale) and restored.factor == 3.0
    assert keras.saving.get_registered_object("pkg>Scale") is Scale

    unregistered = {"module": "os", "class_name": "system", "config": {},
                    "registered_name": None}
    with pytest.raises(TypeError, match="Could not locate class 'system'"):
        keras.saving.deserialize_keras_object(unregistered)
    with keras.saving.custom_object_scope({"system": Scale}):
        assert isinstance(keras.saving.deserialize_keras_object(unregistered), Scale)
    with pytest.raises(ValueError, match="lambda"):
        keras.saving.deserialize_keras_object({"class_name": "__lambda__",
                                               "config": {"value": "x"}})


# ---------------------------------------------------------------------- oracle: real Keras
def _branching(lib, layers):
    """A ResNet-like graph whose Keras layer order is not the creation order."""
    x = lib.Input((6,), name="x")
    y = lib.Input((3,), name="y")
    h = layers["Dense"](8, name="stem")(x)
    a = layers["Dense"](8, name="a1")(h)
    a = layers["Dense"](8, name="a2")(a)
    shortcut = layers["Dense"](8, name="shortcut")(h)
    s = layers["Add"](name="sum")([a, shortcut])
    side = layers["Dense"](8, name="side")(y)
    c = layers["Concatenate"](name="cat")([s, side, h])
    out = layers["Dense"](2, name="out")(c)
    aux = layers["Dense"](1, name="aux")(side)
    return lib.Model([x, y], [out, aux], name="branchy")


@pytest.mark.keras_oracle
def test_functional_layer_order_and_params_match_keras():
    real = keras3()
    theirs = _branching(real, {"Dense": real.layers.Dense, "Add": real.layers.Add,
                               "Concatenate": real.layers.Concatenate})
    ours = _branching(keras, CUSTOM)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert [layer.count_params() for layer in ours.layers] == [
        layer.count_params() for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    our_config, their_config = ours.get_config(), theirs.get_config()
    assert our_config["input_layers"] == their_config["input_layers"]
    assert our_config["output_layers"] == their_config["output_layers"]
    for mine, real_layer in zip(our_config["layers"], their_config["layers"]):
        assert mine["name"] == real_layer["name"]
        assert json.dumps(mine["inbound_nodes"]) == json.dumps(real_layer["inbound_nodes"])


def _summary_text(model):
    captured = []
    model.summary(print_fn=lambda text, *args, **kwargs: captured.append(text))
    return "".join(captured)


def _summary_text_with(model, **kwargs):
    captured = []
    model.summary(print_fn=lambda text, *args, **kw: captured.append(text), **kwargs)
    return "".join(captured)


@pytest.mark.keras_oracle
def test_summary_matches_keras():
    real = keras3()
    cases = []
    theirs = _branching(real, {"Dense": real.layers.Dense, "Add": real.layers.Add,
                               "Concatenate": real.layers.Concatenate})
    cases.append((_branching(keras, CUSTOM), theirs))
    cases.append((keras.Sequential([keras.Input((4,)), Dense(3), Dense(1)], name="seq"),
                  real.Sequential([real.Input((4,)), real.layers.Dense(3),
                                   real.layers.Dense(1)], name="seq")))
    ours_deferred = keras.Sequential([Dense(5, name="late")], name="deferred")
    theirs_deferred = real.Sequential([real.layers.Dense(5, name="late")], name="deferred")
    cases.append((ours_deferred, theirs_deferred))
    for ours, theirs in cases:
        assert _summary_text(ours) == _summary_text(theirs)
    ours_deferred(np.ones((2, 3), "float32"))
    theirs_deferred(np.ones((2, 3), "float32"))
    assert _summary_text(ours_deferred) == _summary_text(theirs_deferred)
    small_ours = keras.Sequential([keras.Input((4,)), Dense(3, name="d")], name="small")
    small_theirs = real.Sequential([real.Input((4,)), real.layers.Dense(3, name="d")],
                                   name="small")
    for length in (60, 100):
        captured = []
        small_ours.summary(line_length=length, print_fn=captured.append)
        assert captured == [_summary_text_with(small_theirs, line_length=length)]


def test_a_training_argument_is_dropped_for_a_call_that_takes_none():
    # Keras drops `training=` for a layer whose call() has no such parameter, eagerly and in
    # a Functional model, and still passes it to the sublayers that take one.
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    x = np.ones((2, 3), "float32")
    np.testing.assert_array_equal(Doubler()(x, training=True), 2 * x)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dropout(0.5)(Doubler()(inputs, training=False)))
    np.testing.assert_array_equal(model(x, training=False), 2 * x)
