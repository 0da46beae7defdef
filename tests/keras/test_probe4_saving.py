"""Saving and model-construction fixes from the probe round, checked against real Keras 3
(it writes and reads the files where it can): error types users catch, legacy `.h5` files
(keras.ops nodes, registered model subclasses, tf.keras 2 axis lists), user overrides of
save/load_own_variables, registered custom activations and initializers, rebuilding a built
layer, one-item output lists, Model subclasses that build their graph in __init__,
`Input(tensor=...)`, Python lambdas at save time and loading weights into unbuilt models."""

import json
import warnings

import numpy as np
import pytest

h5py = pytest.importorskip("h5py", reason="saving needs the h5 extra (pip install h5py)")

from tensorflux import keras  # noqa: E402
from tests.keras._oracle import fresh_names, import_keras, to_numpy  # noqa: E402,F401

pytestmark = pytest.mark.keras_oracle

X = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")


def _copy_weights(src, dst):
    dst.set_weights([to_numpy(w) for w in src.get_weights()])


def _unregistered_layer(k):
    class Doubler(k.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = k.Input((6,))
    return Doubler, k.Model(inputs, k.layers.Dense(2)(Doubler()(inputs)))


def test_unknown_class_is_a_value_error_in_legacy_h5_and_a_type_error_in_keras_files(
        tmp_path):
    k = import_keras()
    _, theirs = _unregistered_layer(k)
    theirs.save(tmp_path / "k.h5")
    with pytest.raises(ValueError, match="Unknown layer"):  # what Keras raises
        k.models.load_model(tmp_path / "k.h5")
    with pytest.raises(ValueError, match="Could not locate class 'Doubler'"):
        keras.models.load_model(tmp_path / "k.h5")

    doubler, ours = _unregistered_layer(keras)
    ours.save(tmp_path / "ours.keras")
    ours.save(tmp_path / "ours.h5")
    with pytest.raises(TypeError, match="Could not locate class 'Doubler'"):
        keras.models.load_model(tmp_path / "ours.keras")
    with pytest.raises(ValueError, match="Could not locate class 'Doubler'"):
        keras.models.load_model(tmp_path / "ours.h5")
    loaded = keras.models.load_model(tmp_path / "ours.h5", custom_objects={"Doubler": doubler})
    np.testing.assert_allclose(loaded.predict(X, verbose=0), ours.predict(X, verbose=0))


@pytest.mark.parametrize("name", ["bad.h5", "bad.weights.h5", "bad.keras"])
def test_corrupt_files_raise_what_keras_and_h5py_raise(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(b"this is not a model file" * 4)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    # h5py raises OSError for a file that is not HDF5, Keras ValueError for a bad zip.
    expected = ValueError if name.endswith(".keras") else OSError
    with pytest.raises(expected, match="Cannot read"):
        if name.endswith(".weights.h5"):
            model.load_weights(path)
        else:
            keras.models.load_model(path)


def test_legacy_h5_with_keras_ops_nodes_written_by_keras_loads(tmp_path):
    k = import_keras()
    inputs = k.Input((6,))
    x = k.ops.tanh(inputs[:, :3]) + k.layers.Dense(3, name="d")(inputs[:, 3:])
    x = k.ops.concatenate([x, x * 2.0], axis=-1)
    out = k.layers.Dense(2, name="o")(x) + k.ops.mean(x, axis=-1, keepdims=True)
    theirs = k.Model(inputs, out)
    theirs.save(tmp_path / "ops.h5")
    expected = to_numpy(theirs.predict(X, verbose=0))

    # The nodes are named "Tanh", "GetItem", "Add"... with no module; `Add` and `Multiply`
    # are also merge layers, which would refuse the op's two positional inputs.
    loaded = keras.models.load_model(tmp_path / "ops.h5", compile=False)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)


def _registered_sequential(k, package):
    @k.saving.register_keras_serializable(package=package)
    class TaggedSequential(k.Sequential):
        pass

    model = TaggedSequential([k.Input((6,)), k.layers.Dense(3, activation="tanh"),
                              k.layers.Dense(2)], name="tagged")
    return TaggedSequential, model


def test_registered_model_subclass_round_trips_through_legacy_h5(tmp_path):
    k = import_keras()
    _, theirs = _registered_sequential(k, "probe4_saving")
    theirs.save(tmp_path / "k.h5")
    expected = to_numpy(theirs.predict(X, verbose=0))
    # Keras writes the bare class name, which its own loader cannot find; tensorflux finds
    # the one registered class of that name.
    cls, _ = _registered_sequential(keras, "probe4_saving")
    loaded = keras.models.load_model(tmp_path / "k.h5")
    assert type(loaded) is cls
    np.testing.assert_allclose(loaded.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)

    # tensorflux writes the registered name, which real Keras loads.
    loaded.save(tmp_path / "ours.h5")
    back = k.models.load_model(tmp_path / "ours.h5")
    assert type(back).__name__ == "TaggedSequential"
    np.testing.assert_allclose(to_numpy(back.predict(X, verbose=0)), expected, rtol=1e-5,
                               atol=1e-6)


def test_input_with_tensor_reuses_it_and_clone_model_stays_connected():
    k = import_keras()
    for lib in (k, keras):
        given = lib.Input((6,), name="given")
        assert lib.Input(tensor=given) is given
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, name="d1"),
                              keras.layers.Dense(2, name="d2")])
    new_input = keras.Input((6,), name="new_input")
    clone = keras.models.clone_model(model, input_tensors=new_input)
    assert clone.inputs[0] is new_input
    _copy_weights(model, clone)
    # The usual reason to pass input_tensors: building a bigger model on the clone's graph.
    wrapper = keras.Model(new_input, keras.layers.Activation("relu")(clone.output))
    np.testing.assert_allclose(wrapper.predict(X, verbose=0),
                               np.maximum(model.predict(X, verbose=0), 0.0), rtol=1e-6)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_by_name_on_keras3_files_says_it_needs_legacy_h5(suffix, tmp_path):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    path = tmp_path / f"m{suffix}"
    if suffix == ".keras":
        model.save(path)
    else:
        model.save_weights(path)
    with pytest.raises(ValueError, match="`by_name` only supports loading legacy"):
        model.load_weights(path, by_name=True)


def _layer_with_own_saving(k):
    @k.saving.register_keras_serializable(package="probe4_own")
    class Shifted(k.layers.Layer):
        """A Dense-like layer with extra numeric state saved by its own methods (Keras's
        guide on customizing saving)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.shift = np.zeros(2, "float32")

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], 2), name="kernel")

        def call(self, x):
            return k.ops.matmul(x, self.kernel) + self.shift

        def save_own_variables(self, store):
            super().save_own_variables(store)
            store["shift"] = self.shift

        def load_own_variables(self, store):
            self.shift = np.array(store["shift"])
            self.kernel.assign(np.array(store["0"]))

    return Shifted


@pytest.mark.parametrize("writer", ["keras", "tensorflux"])
def test_save_and_load_own_variables_overrides_round_trip_with_real_keras(writer, tmp_path):
    k = import_keras()
    libs = {"keras": k, "tensorflux": keras}
    reader = "tensorflux" if writer == "keras" else "keras"
    src, dst = libs[writer], libs[reader]
    shifted = _layer_with_own_saving(src)
    _layer_with_own_saving(dst)
    inputs = src.Input((6,))
    layer = shifted(name="shifted")
    model = src.Model(inputs, layer(inputs))
    layer.shift = np.array([1.5, -2.0], "float32")
    expected = X @ to_numpy(layer.kernel) + layer.shift
    np.testing.assert_allclose(to_numpy(model.predict(X, verbose=0)), expected, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = dst.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(loaded.predict(X, verbose=0)), expected, rtol=1e-5)
    np.testing.assert_array_equal(loaded.layers[-1].shift, [1.5, -2.0])


def test_default_own_variables_methods_match_the_weights_file_layout():
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    store = {}
    layer.save_own_variables(store)
    assert sorted(store) == ["0", "1", "2", "3"]
    np.testing.assert_array_equal(store["3"], np.ones(3))  # moving_variance, last
    store["0"] = np.full(3, 2.0, "float32")
    layer.load_own_variables(store)
    np.testing.assert_array_equal(layer.gamma.numpy(), np.full(3, 2.0))
    with pytest.raises(ValueError, match="expected 4 variables, but received 1"):
        layer.load_own_variables({"0": store["0"]})


@pytest.mark.parametrize("lib", ["keras", "tensorflux"])
def test_building_a_built_layer_again_may_not_add_weights(lib):
    k = import_keras() if lib == "keras" else keras
    dense = k.layers.Dense(2)
    dense.build((None, 3))
    with pytest.raises(ValueError, match="cannot add new elements of state"):
        dense.build((None, 3))
    assert len(dense.weights) == 2

    class Block(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = k.layers.Dense(3)

        def build(self, input_shape):
            if not self.inner.built:  # the safe way to build a sub-layer by hand
                self.inner.build(input_shape)
            self.scale = self.add_weight(shape=(3,), initializer="ones", name="scale")

        def call(self, x):
            return self.inner(x) * self.scale

    block = Block()
    block.inner.build((None, 3))
    block.build((None, 3))
    assert len(block.weights) == 3
    # A build that adds nothing may run again (a Sequential rebuilt with the same shape).
    model = k.Sequential([k.layers.Dense(2)])
    model.build((None, 3))
    model.build((None, 3))
    assert len(model.weights) == 2


def test_keras2_layer_configs_with_one_item_axis_lists_load(tmp_path):
    """tf.keras 2 wrote a built BatchNormalization's axis as [3]; Keras 3's legacy loader
    (configs without "module") turns a one-item list into an int, and so does tensorflux."""
    k = import_keras()
    inputs = k.Input((4, 4, 2))
    x = k.layers.Conv2D(3, 2, name="conv")(inputs)
    x = k.layers.BatchNormalization(name="bn")(x)
    theirs = k.Model(inputs, k.layers.GlobalAveragePooling2D()(x))
    theirs.get_layer("bn").moving_mean.assign(np.array([0.5, -0.5, 0.25], "float32"))
    theirs.save(tmp_path / "k2.h5")
    with h5py.File(tmp_path / "k2.h5", "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "BatchNormalization":
                assert "module" not in layer
                layer["config"]["axis"] = [3]
        f.attrs["model_config"] = json.dumps(config)
    images = np.random.default_rng(1).normal(size=(2, 4, 4, 2)).astype("float32")
    expected = to_numpy(k.models.load_model(tmp_path / "k2.h5").predict(images, verbose=0))

    loaded = keras.models.load_model(tmp_path / "k2.h5")
    assert loaded.get_layer("bn").axis == 3
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
    sequential = keras.Sequential.from_config({"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 5]}},
        {"class_name": "BatchNormalization", "config": {"axis": [1], "name": "bn"}}]})
    assert sequential.layers[0].axis == 1


@pytest.mark.parametrize("lib", ["keras", "tensorflux"])
def test_one_item_output_list_is_unpacked_when_the_model_runs(lib):
    k = import_keras() if lib == "keras" else keras
    inputs = k.Input((6,))
    model = k.Model(inputs=[inputs], outputs=[k.layers.Dense(2)(inputs)])
    assert isinstance(model.outputs, list) and isinstance(model.output, list)
    assert isinstance(model(k.Input((6,))), list)  # a symbolic call keeps the structure
    assert isinstance(model.predict(X, verbose=0), np.ndarray)
    assert not isinstance(model(X), (list, tuple))
    both = k.Model(inputs, [model.output[0], model.output[0]])
    assert len(both.predict(X, verbose=0)) == 2


def _functional_built_subclass(k):
    @k.saving.register_keras_serializable(package="probe4_funcsub")
    class Builder(k.Model):
        """Builds its own graph in __init__; its config is its constructor arguments."""

        def __init__(self, units=3, **kwargs):
            inputs = k.Input((6,))
            super().__init__(inputs, k.layers.Dense(units, name="d")(inputs), **kwargs)
            self.units = units

        def get_config(self):
            return {"units": self.units, "name": self.name}

    return Builder


def test_model_subclass_building_its_graph_in_init_round_trips(tmp_path):
    k = import_keras()
    theirs = _functional_built_subclass(k)(4, name="builder")
    theirs.save(tmp_path / "k.keras")
    expected = to_numpy(theirs.predict(X, verbose=0))
    cls = _functional_built_subclass(keras)
    loaded = keras.models.load_model(tmp_path / "k.keras")
    assert type(loaded) is cls and loaded.units == 4
    np.testing.assert_allclose(loaded.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert cls.from_config(loaded.get_config()).units == 4

    class NeedsArgs(keras.Model):
        def __init__(self, units):
            inputs = keras.Input((6,))
            super().__init__(inputs, keras.layers.Dense(units)(inputs))

    with pytest.raises(TypeError, match="Unable to revive model from config"):
        NeedsArgs.from_config({"name": "x"})

    @keras.saving.register_keras_serializable(package="probe4_funcsub")
    class Plain(keras.Model):  # the common (inputs, outputs, **kwargs) subclass
        def __init__(self, inputs, outputs, **kwargs):
            super().__init__(inputs, outputs, **kwargs)

    inputs = keras.Input((6,))
    plain = Plain(inputs, keras.layers.Dense(2)(inputs))
    plain.save(tmp_path / "plain.keras")
    again = keras.models.load_model(tmp_path / "plain.keras")
    assert type(again) is Plain
    np.testing.assert_allclose(again.predict(X, verbose=0), plain.predict(X, verbose=0))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_saving_a_python_lambda_warns_that_the_file_cannot_rebuild_it(suffix, tmp_path):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0, name="dbl")(inputs))
    with pytest.warns(UserWarning, match=r"Lambda layer\(s\) \['dbl'\] wrap a Python lambda"):
        model.save(tmp_path / f"m{suffix}")
    with pytest.raises(ValueError, match="Python lambda"):
        keras.models.load_model(tmp_path / f"m{suffix}")

    @keras.saving.register_keras_serializable(package="probe4_lambda")
    def triple(t):
        return t * 3.0

    named = keras.Model(inputs, keras.layers.Lambda(triple)(inputs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        named.save(tmp_path / f"named{suffix}")
    loaded = keras.models.load_model(tmp_path / f"named{suffix}")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), X * 3.0, rtol=1e-6)


def _custom_objects_model(k):
    @k.saving.register_keras_serializable(package="probe4_fns")
    def soft_step(t):
        return t * k.ops.sigmoid(1.5 * t)

    @k.saving.register_keras_serializable(package="probe4_fns")
    class FilledWith(k.initializers.Initializer):
        def __init__(self, value=0.1):
            self.value = value

        def __call__(self, shape, dtype=None):
            return k.ops.ones(shape, dtype=dtype) * self.value

        def get_config(self):
            return {"value": self.value}

    def leaky(t):  # not registered: loading needs custom_objects
        return k.ops.maximum(t, 0.1 * t)

    inputs = k.Input((6,))
    x = k.layers.Dense(4, activation=soft_step, kernel_initializer=FilledWith(0.2),
                       name="a")(inputs)
    x = k.layers.Dense(3, activation=leaky, name="b")(x)
    return k.Model(inputs, k.layers.Dense(2, name="c")(x)), leaky


@pytest.mark.parametrize("writer", ["keras", "tensorflux"])
def test_custom_activations_and_initializers_round_trip_with_real_keras(writer, tmp_path):
    k = import_keras()
    libs = {"keras": k, "tensorflux": keras}
    src = libs[writer]
    dst = libs["tensorflux" if writer == "keras" else "keras"]
    model, _ = _custom_objects_model(src)
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(size=to_numpy(w).shape).astype("float32") * 0.3
                       for w in model.get_weights()])
    expected = to_numpy(model.predict(X, verbose=0))
    model.save(tmp_path / "m.keras")
    # Keras's own form: the registered name, under class_name "function".
    assert model.get_layer("a").get_config()["activation"] == {
        "module": "builtins", "class_name": "function", "config": "probe4_fns>soft_step",
        "registered_name": "function"}
    assert model.get_layer("a").get_config()["kernel_initializer"]["registered_name"] == \
        "probe4_fns>FilledWith"
    _, leaky = _custom_objects_model(dst)
    with pytest.raises(TypeError):  # the unregistered function needs custom_objects
        dst.models.load_model(tmp_path / "m.keras")
    loaded = dst.models.load_model(tmp_path / "m.keras", custom_objects={"leaky": leaky})
    np.testing.assert_allclose(to_numpy(loaded.predict(X, verbose=0)), expected, rtol=1e-5,
                               atol=1e-6)
    assert type(loaded.get_layer("a").kernel_initializer).__name__ == "FilledWith"


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_loading_weights_into_an_unbuilt_model_is_refused(suffix, tmp_path):
    k = import_keras()
    built = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    path = tmp_path / f"m{suffix}"
    built.save(path) if suffix == ".keras" else built.save_weights(path)
    for lib in (k, keras):  # nothing would be loaded: both refuse instead of ignoring it
        unbuilt = lib.Sequential([lib.layers.Dense(3), lib.layers.Dense(2)])
        with pytest.raises(ValueError, match="has not yet been built"):
            unbuilt.load_weights(path)
    unbuilt.build((None, 6))
    unbuilt.load_weights(path)
    np.testing.assert_allclose(unbuilt.predict(X, verbose=0), built.predict(X, verbose=0))


def test_keras2_training_config_metrics_compile_the_named_metric(tmp_path):
    """tf.keras 2 wrote compile(metrics=["accuracy"]) into a `.h5` training_config as
    [[MeanMetricWrapper(fn="sparse_categorical_accuracy", name="accuracy")]]."""
    k = import_keras()
    theirs = k.Sequential([k.Input((6,)), k.layers.Dense(3, activation="softmax")])
    theirs.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    theirs.save(tmp_path / "k2.h5")
    with h5py.File(tmp_path / "k2.h5", "r+") as f:
        training = json.loads(f.attrs["training_config"])
        training["metrics"] = [[{"class_name": "MeanMetricWrapper", "config": {
            "name": "accuracy", "dtype": "float32", "fn": "sparse_categorical_accuracy"}}]]
        f.attrs["training_config"] = json.dumps(training)
    labels = np.array([0, 1, 2, 0, 1])
    probabilities = to_numpy(theirs.predict(X, verbose=0))

    loaded = keras.models.load_model(tmp_path / "k2.h5")
    result = loaded.evaluate(X, labels, verbose=0, return_dict=True)
    assert sorted(result) == ["accuracy", "loss"]
    np.testing.assert_allclose(result["accuracy"], np.mean(probabilities.argmax(1) == labels))
    np.testing.assert_allclose(
        result["loss"], -np.mean(np.log(probabilities[np.arange(5), labels])), rtol=1e-5)


def test_save_targets_keras_cannot_write_name_the_target(tmp_path):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    for path, save in ((tmp_path / "no" / "m.keras", model.save),
                       (tmp_path / "no" / "m.weights.h5", model.save_weights)):
        with pytest.raises(FileNotFoundError, match=r"does not exist\): '.*m\.(keras|weights)"):
            save(path)
    (tmp_path / "d.keras").mkdir()
    with pytest.raises(IsADirectoryError, match="d.keras"):
        model.save(tmp_path / "d.keras")
    model.save(tmp_path / "new" / "m.h5")  # Keras's legacy writer makes the folder
    assert (tmp_path / "new" / "m.h5").is_file()


def test_loading_a_weights_only_h5_as_a_model_says_to_use_load_weights(tmp_path):
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    model.save(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r+") as f:  # what tf.keras 2's save_weights wrote
        del f.attrs["model_config"]
    with pytest.raises(ValueError, match=r"No model config found.*model\.load_weights"):
        keras.models.load_model(tmp_path / "w.h5")
    model.load_weights(tmp_path / "w.h5")
