"""Registered losses and metrics in `.keras` files both ways with real Keras 3, subclassed models
without get_config, to_json/model_from_json, clone_model, output_names, the keras.utils
aliases and the loaders' error types (Keras 3 is the oracle)."""

import json
import os
import zipfile

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.saving._h5 import CorruptFileError
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

_PACKAGE = "tfx_registered"


# ---------------------------------------------------------------------- the same objects,
# registered under the same names, in tensorflux and in Keras
def _tfx_objects():
    @keras.saving.register_keras_serializable(package=_PACKAGE)
    def sq_loss(y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)

    @keras.saving.register_keras_serializable(package=_PACKAGE)
    def abs_metric(y_true, y_pred):
        return tf.reduce_mean(tf.abs(y_true - y_pred), axis=-1)

    @keras.saving.register_keras_serializable(package=_PACKAGE)
    class ScaledAbs(keras.losses.Loss):
        def __init__(self, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            return self.scale * tf.reduce_mean(tf.abs(y_true - y_pred), axis=-1)

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    @keras.saving.register_keras_serializable(package=_PACKAGE)
    class MeanAbs(keras.metrics.Mean):
        def update_state(self, y_true, y_pred, sample_weight=None):
            return super().update_state(tf.abs(y_true - y_pred))

    return {"sq_loss": sq_loss, "abs_metric": abs_metric, "ScaledAbs": ScaledAbs,
            "MeanAbs": MeanAbs}


def _keras_objects(k):
    ops = k.ops

    @k.saving.register_keras_serializable(package=_PACKAGE)
    def sq_loss(y_true, y_pred):
        return ops.mean(ops.square(y_true - y_pred), axis=-1)

    @k.saving.register_keras_serializable(package=_PACKAGE)
    def abs_metric(y_true, y_pred):
        return ops.mean(ops.abs(y_true - y_pred), axis=-1)

    @k.saving.register_keras_serializable(package=_PACKAGE)
    class ScaledAbs(k.losses.Loss):
        def __init__(self, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            return self.scale * ops.mean(ops.abs(y_true - y_pred), axis=-1)

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    @k.saving.register_keras_serializable(package=_PACKAGE)
    class MeanAbs(k.metrics.Mean):
        def update_state(self, y_true, y_pred, sample_weight=None):
            return super().update_state(ops.abs(y_true - y_pred))

    return {"sq_loss": sq_loss, "abs_metric": abs_metric, "ScaledAbs": ScaledAbs,
            "MeanAbs": MeanAbs}


# kind -> (loss, metrics) built from one library's objects
_KINDS = {
    "function": lambda o: (o["sq_loss"], [o["abs_metric"]]),
    "loss_subclass": lambda o: (o["ScaledAbs"](scale=2.0), ["mae"]),
    "metric_subclass": lambda o: ("mse", [o["MeanAbs"](name="mean_abs")]),
    "builtin_strings": lambda o: ("mse", ["mae", "mse"]),
}


def _data():
    rng = np.random.default_rng(3)
    return (rng.normal(size=(12, 3)).astype("float32"),
            rng.normal(size=(12, 2)).astype("float32"))


def _model(lib):
    return lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activation="tanh"),
                           lib.layers.Dense(2)])


def _evaluate(model, x, y):
    return model.evaluate(x, y, verbose=0, return_dict=True)


def _compile_config(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))["compile_config"]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kind", sorted(_KINDS))
def test_tensorflux_file_loads_in_keras(kind, tmp_path):
    k = import_keras()
    loss, metrics = _KINDS[kind](_tfx_objects())
    _keras_objects(k)
    x, y = _data()
    model = _model(keras)
    model.compile("sgd", loss=loss, metrics=metrics)
    path = str(tmp_path / "tfx.keras")
    model.save(path)
    theirs = k.models.load_model(path)
    assert_matches(model.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   what="predictions")
    ours, keras_result = _evaluate(model, x, y), _evaluate(theirs, x, y)
    assert sorted(ours) == sorted(keras_result)
    for name in ours:
        assert_matches(ours[name], keras_result[name], rtol=1e-5, what=name)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kind", sorted(_KINDS))
def test_keras_file_loads_in_tensorflux(kind, tmp_path):
    k = import_keras()
    loss, metrics = _KINDS[kind](_keras_objects(k))
    _tfx_objects()
    x, y = _data()
    theirs = _model(k)
    theirs.compile("sgd", loss=loss, metrics=metrics)
    theirs.fit(x, y, epochs=1, batch_size=6, verbose=0)
    path = str(tmp_path / "keras.keras")
    theirs.save(path)
    ours = keras.models.load_model(path)
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   what="predictions")
    ours_result, keras_result = _evaluate(ours, x, y), _evaluate(theirs, x, y)
    assert sorted(ours_result) == sorted(keras_result)
    for name in ours_result:
        assert_matches(ours_result[name], keras_result[name], rtol=1e-5, what=name)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kind", sorted(_KINDS))
def test_compile_config_is_written_as_keras_writes_it(kind, tmp_path):
    k = import_keras()
    ours_loss, ours_metrics = _KINDS[kind](_tfx_objects())
    theirs_loss, theirs_metrics = _KINDS[kind](_keras_objects(k))
    ours, theirs = _model(keras), _model(k)
    ours.compile("sgd", loss=ours_loss, metrics=ours_metrics)
    theirs.compile("sgd", loss=theirs_loss, metrics=theirs_metrics)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    mine, keras_config = _compile_config(tmp_path / "ours.keras"), \
        _compile_config(tmp_path / "theirs.keras")
    for key in ("loss", "metrics"):
        # Class modules name each library's own test module; the rest must be identical.
        assert _without_module(mine[key]) == _without_module(keras_config[key]), key


def _without_module(value):
    if isinstance(value, dict):
        return {k: _without_module(v) for k, v in value.items()
                if not (k == "module" and value.get("class_name") != "function")}
    if isinstance(value, list):
        return [_without_module(v) for v in value]
    return value


@pytest.mark.keras_oracle
def test_keras_file_with_registered_function_loads_with_custom_objects_only(tmp_path):
    """A Keras file naming "package>fn" loads when the caller passes {"fn": fn} (or the full
    name), with nothing registered under that package in tensorflux."""
    k = import_keras()
    ops = k.ops

    @k.saving.register_keras_serializable(package="only_in_keras")
    def half_sq(y_true, y_pred):
        return 0.5 * ops.mean(ops.square(y_true - y_pred), axis=-1)

    def half_sq_tfx(y_true, y_pred):
        return 0.5 * tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)

    x, y = _data()
    theirs = _model(k)
    theirs.compile("sgd", loss=half_sq)
    path = str(tmp_path / "k.keras")
    theirs.save(path)
    assert _compile_config(path)["loss"]["config"] == "only_in_keras>half_sq"
    for key in ("half_sq", "only_in_keras>half_sq"):
        ours = keras.models.load_model(path, custom_objects={key: half_sq_tfx})
        assert ours.loss is half_sq_tfx
        assert_matches(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0),
                       rtol=1e-5, what="loss")
    with pytest.raises(TypeError, match="only_in_keras>half_sq"):
        keras.models.load_model(path)


def test_loss_configs_never_import_or_run_what_they_name():
    for config in ({"module": "os", "class_name": "function", "config": "system",
                    "registered_name": "function"},
                   {"module": "builtins", "class_name": "function", "config": "os>system",
                    "registered_name": "function"},
                   {"module": "subprocess", "class_name": "Popen", "config": {},
                    "registered_name": "subprocess>Popen"}):
        with pytest.raises((ValueError, TypeError)):
            keras.losses.deserialize(config)
        with pytest.raises((ValueError, TypeError)):
            keras.metrics.deserialize(config)


def test_legacy_h5_compiles_with_registered_loss(tmp_path):
    objects = _tfx_objects()
    x, y = _data()
    model = _model(keras)
    model.compile("sgd", loss=objects["ScaledAbs"](scale=3.0), metrics=[objects["MeanAbs"]()])
    model.save(tmp_path / "m.h5")
    loaded = keras.models.load_model(tmp_path / "m.h5")
    assert isinstance(loaded.loss, objects["ScaledAbs"]) and loaded.loss.scale == 3.0
    assert _evaluate(loaded, x, y) == pytest.approx(_evaluate(model, x, y), rel=1e-6)


# ---------------------------------------------------------------------- get_config of a
# subclassed model without one
def _subclasses(lib):
    class Required(lib.Model):
        def __init__(self, units):
            super().__init__()
            self.dense = lib.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

    class Defaults(lib.Model):
        def __init__(self, units=2):
            super().__init__()
            self.dense = lib.layers.Dense(units)

        def call(self, x):
            return self.dense(x)

    class KwargsOnly(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    return {"required": (Required, (3,)), "defaults": (Defaults, ()),
            "kwargs_only": (KwargsOnly, ())}


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", ["required", "defaults", "kwargs_only"])
def test_subclass_without_get_config_raises_when_keras_does(case, tmp_path):
    k = import_keras()
    ours_cls, args = _subclasses(keras)[case]
    theirs_cls, _ = _subclasses(k)[case]
    ours, theirs = ours_cls(*args), theirs_cls(*args)
    try:
        theirs.get_config()
        keras_raises = False
    except NotImplementedError:
        keras_raises = True
    path = tmp_path / f"{case}.keras"
    ours(np.ones((1, 2), "float32"))
    if keras_raises:
        with pytest.raises(NotImplementedError, match=f"{ours_cls.__name__}.get_config"):
            ours.get_config()
        with pytest.raises(NotImplementedError, match="override get_config"):
            ours.save(path)
        assert not path.exists() and os.listdir(tmp_path) == []
    else:
        config = ours.get_config()
        ours.save(path)
        loaded = keras.models.load_model(path, custom_objects={ours_cls.__name__: ours_cls})
        assert isinstance(loaded, ours_cls) and loaded.get_config() == config
        assert_matches(loaded(np.ones((2, 2), "float32")), ours(np.ones((2, 2), "float32")))


def test_subclass_auto_config_keeps_the_arguments_given():
    class Net(keras.Model):
        def __init__(self, units=2, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(units, activation=activation)

        def call(self, x):
            return self.dense(x)

    config = Net(5, name="net_five").get_config()
    assert config["units"] == 5 and config["activation"] == "relu"
    assert config["name"] == "net_five"
    rebuilt = Net.from_config(config)
    assert rebuilt.name == "net_five"

    with pytest.raises(NotImplementedError, match="Net.get_config.*'activation'"):
        Net(3, activation=keras.activations.relu).get_config()


# ---------------------------------------------------------------------- JSON
def _functional(lib):
    x = lib.Input((3,), name="x")
    shared = lib.layers.Dense(4, activation="relu", name="shared")
    a = lib.layers.Dense(1, name="a")(shared(x))
    b = lib.layers.Dense(2, name="b")(shared(x * 2.0))
    return lib.Model(x, {"a": a, "b": b}, name="two_heads")


def _sequential(lib):
    return lib.Sequential([lib.Input((3,), name="inp"), lib.layers.Dense(4, name="d1"),
                           lib.layers.Dropout(0.1, name="drop"),
                           lib.layers.Dense(2, name="d2")], name="seq")


def _copy_weights(source, target):
    target.set_weights([np.asarray(w) if not hasattr(w, "detach") else w.detach().numpy()
                        for w in source.get_weights()])


@pytest.mark.keras_oracle
@pytest.mark.parametrize("build", [_sequential, _functional], ids=["sequential", "functional"])
def test_to_json_and_model_from_json_both_ways(build):
    k = import_keras()
    x = _data()[0]
    ours, theirs = build(keras), build(k)
    _copy_weights(theirs, ours)
    ours_json = ours.to_json()
    assert isinstance(ours_json, str)
    assert json.loads(ours_json)["class_name"] == json.loads(theirs.to_json())["class_name"]

    in_keras = k.models.model_from_json(ours_json)
    in_tfx = keras.models.model_from_json(theirs.to_json())
    assert [layer.name for layer in in_keras.layers] == [layer.name for layer in theirs.layers]
    assert [layer.name for layer in in_tfx.layers] == [layer.name for layer in ours.layers]
    _copy_weights(theirs, in_keras)
    _copy_weights(theirs, in_tfx)
    for model in (ours, in_tfx):
        predictions = model.predict(x, verbose=0)
        expected = in_keras.predict(x, verbose=0)
        if isinstance(expected, dict):
            for key in expected:
                assert_matches(predictions[key], expected[key], rtol=1e-5, what=key)
        else:
            assert_matches(predictions, expected, rtol=1e-5)


def test_model_from_json_rejects_bad_strings():
    with pytest.raises(ValueError, match="not valid JSON"):
        keras.models.model_from_json("{not json")
    with pytest.raises(ValueError, match="model config"):
        keras.models.model_from_json("[1, 2]")
    with pytest.raises(TypeError, match="Could not locate class"):
        keras.models.model_from_json(json.dumps(
            {"module": "os", "class_name": "system", "config": {}, "registered_name": None}))


# ---------------------------------------------------------------------- clone_model
def _layer_summary(model):
    return [(type(layer).__name__, layer.name) for layer in model.layers]


def _graph(model):
    """Layer classes and names, and for a Functional model each layer's inbound tensors and
    the input/output layers, from the model's JSON config."""
    config = json.loads(model.to_json())["config"]

    def histories(value):
        if isinstance(value, dict):
            if value.get("class_name") == "__keras_tensor__":
                return [value["config"]["keras_history"]]
            return [h for v in value.values() for h in histories(v)]
        if isinstance(value, list):
            return [h for v in value for h in histories(v)]
        return []

    layers = [(layer["class_name"], layer["config"]["name"],
               histories(layer.get("inbound_nodes", []))) for layer in config["layers"]]
    return layers, config.get("input_layers"), config.get("output_layers")


@pytest.mark.keras_oracle
@pytest.mark.parametrize("build", [_sequential, _functional], ids=["sequential", "functional"])
def test_clone_model_matches_keras(build):
    k = import_keras()
    ours, theirs = build(keras), build(k)
    ours.compile("adam", "mse")
    theirs.compile("adam", "mse")
    ours_clone, keras_clone = keras.models.clone_model(ours), k.models.clone_model(theirs)
    assert _layer_summary(ours_clone) == _layer_summary(keras_clone)
    assert ours_clone.name == keras_clone.name
    assert _graph(ours) == _graph(theirs)
    # (Keras's clone calls a shared layer in execution order, which may differ from the
    # original's call order: the clone's graph must be Keras's clone's graph.)
    assert _graph(ours_clone) == _graph(keras_clone)
    assert ours_clone.compiled == keras_clone.compiled
    for new, old in zip(ours_clone.layers, ours.layers):
        assert new is not old
        for w_new, w_old in zip(new.weights, old.weights):
            assert w_new is not w_old
    original_dense = ours.get_layer("d1" if build is _sequential else "shared")
    clone_dense = ours_clone.get_layer(original_dense.name)
    assert not np.array_equal(np.asarray(original_dense.kernel.numpy()),
                              np.asarray(clone_dense.kernel.numpy())), \
        "a clone's weights are initialized afresh"
    if build is _functional:
        assert ours_clone.output_names == keras_clone.output_names


@pytest.mark.keras_oracle
def test_clone_model_arguments_match_keras():
    k = import_keras()

    def rename(lib):
        return lambda layer: layer.__class__.from_config({**layer.get_config(),
                                                          "name": layer.name + "_c"})

    ours = keras.models.clone_model(_sequential(keras), clone_function=rename(keras))
    theirs = k.models.clone_model(_sequential(k), clone_function=rename(k))
    assert _layer_summary(ours) == _layer_summary(theirs)

    ours = keras.models.clone_model(_functional(keras), clone_function=rename(keras))
    theirs = k.models.clone_model(_functional(k), clone_function=rename(k))
    assert _layer_summary(ours) == _layer_summary(theirs)
    assert ours.output_names == theirs.output_names

    ours = keras.models.clone_model(_sequential(keras),
                                    input_tensors=keras.Input((3,), name="new_in"))
    theirs = k.models.clone_model(_sequential(k), input_tensors=k.Input((3,), name="new_in"))
    assert _layer_summary(ours) == _layer_summary(theirs)
    assert [tuple(t.shape) for t in ours.inputs] == [tuple(t.shape) for t in theirs.inputs]

    # Reusing the layers (clone_function=identity) shares the weights.
    original = _functional(keras)
    shared = keras.models.clone_model(original, clone_function=lambda layer: layer)
    assert all(a is b for a, b in zip(shared.layers[1:], original.layers[1:]))

    with pytest.raises(ValueError, match="call_function"):
        keras.models.clone_model(_sequential(keras), call_function=lambda *a: None)
    with pytest.raises(ValueError, match="call_function"):
        k.models.clone_model(_sequential(k), call_function=lambda *a: None)


def test_clone_model_of_subclass_goes_through_its_config():
    model = _subclasses(keras)["defaults"][0](units=3)
    clone = keras.models.clone_model(model)
    assert type(clone) is type(model) and clone is not model
    with pytest.raises(ValueError, match="clone_function"):
        keras.models.clone_model(model, clone_function=lambda layer: layer)


@pytest.mark.keras_oracle
def test_output_names_match_keras():
    k = import_keras()
    assert _functional(keras).output_names == _functional(k).output_names
    x = keras.Input((2,))
    model = keras.Model(x, [keras.layers.Dense(1, name="p")(x), x * 3.0])
    kx = k.Input((2,))
    theirs = k.Model(kx, [k.layers.Dense(1, name="p")(kx), kx * 3.0])
    assert model.output_names == theirs.output_names
    model.output_names = ["first", "second"]
    assert model.output_names == ["first", "second"]


# ---------------------------------------------------------------------- keras.utils aliases
@pytest.mark.keras_oracle
def test_utils_aliases():
    k = import_keras()
    names = ["register_keras_serializable", "custom_object_scope", "CustomObjectScope",
             "get_custom_objects", "get_registered_name", "get_registered_object",
             "serialize_keras_object", "deserialize_keras_object"]
    for name in names:
        assert hasattr(k.utils, name), name
        assert getattr(keras.utils, name) is getattr(keras.saving, name), name
    assert hasattr(k.utils, "clear_session")
    assert keras.utils.clear_session is keras.backend.clear_session


# ---------------------------------------------------------------------- loader errors
@pytest.mark.keras_oracle
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_missing_model_file_is_value_and_file_not_found_error(suffix, tmp_path):
    k = import_keras()
    path = str(tmp_path / f"absent{suffix}")
    if suffix == ".keras":  # (Keras raises FileNotFoundError for a missing .h5)
        with pytest.raises(ValueError):
            k.models.load_model(path)
    with pytest.raises(ValueError, match="absent") as caught:
        keras.models.load_model(path)
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError, match="absent"):
        _model(keras).load_weights(str(tmp_path / "absent.weights.h5"))


@pytest.mark.keras_oracle
def test_load_weights_shape_mismatch_names_layer_weight_and_shapes(tmp_path):
    k = import_keras()
    small = k.Sequential([k.Input((3,)), k.layers.Dense(1, name="out")])
    path = str(tmp_path / "small.weights.h5")
    small.save_weights(path)
    with pytest.raises(ValueError):
        k.Sequential([k.Input((3,)), k.layers.Dense(2, name="out")]).load_weights(path)

    target = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="out")])
    before = [np.asarray(w) for w in target.get_weights()]
    with pytest.raises(ValueError) as caught:
        target.load_weights(path)
    assert not isinstance(caught.value, CorruptFileError)
    message = str(caught.value)
    for part in ("'out'", "'kernel'", "expected shape (3, 2)", "received shape (3, 1)"):
        assert part in message, (part, message)
    for a, b in zip(target.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.warns(UserWarning, match="Skipping"):
        target.load_weights(path, skip_mismatch=True)


def test_public_functions_are_written_as_keras_writes_them_and_keras_reads_them():
    real = import_keras()
    from keras.src.saving import serialization_lib

    from tensorflux.keras.saving import serialization

    for name in ("losses.kl_divergence", "losses.mean_squared_error", "activations.relu",
                 "metrics.binary_accuracy", "losses.categorical_crossentropy"):
        module, attribute = name.split(".")
        ours = serialization.serialize_keras_object(getattr(getattr(keras, module), attribute))
        theirs = serialization_lib.serialize_keras_object(
            getattr(getattr(real, module), attribute))
        assert ours == theirs, name
        assert serialization_lib.deserialize_keras_object(ours) is \
            getattr(getattr(real, module), attribute)
        assert serialization.deserialize_keras_object(theirs) is \
            getattr(getattr(keras, module), attribute)


def test_registered_names_follow_the_registered_objects_not_their_ids():
    """A class registered again under the same name (code run twice, as a test module or a
    notebook cell) frees the first one; a new, unregistered class may then get its id. Its
    name must not be the registered one (a layer was saved as another test's metric)."""
    from tensorflux.keras.saving import serialization

    def make(name):
        @keras.saving.register_keras_serializable(package="tfx_reuse")
        class Scale(keras.layers.Layer):
            pass

        Scale.__name__ = name
        return Scale

    first = make("Scale")
    second = make("Scale")  # the same "tfx_reuse>Scale" key, now another class
    assert keras.saving.get_registered_name(second) == "tfx_reuse>Scale"
    assert keras.saving.get_registered_name(first) == "Scale"

    class Unregistered(keras.layers.Layer):
        pass

    # What id reuse would leave behind: an entry for an id the registry does not hold.
    serialization._GLOBAL_CUSTOM_NAMES[id(Unregistered)] = "tfx_reuse>Scale"
    try:
        assert keras.saving.get_registered_name(Unregistered) == "Unregistered"
        config = keras.saving.serialize_keras_object(Unregistered())
        assert config["registered_name"] == "Unregistered"
    finally:
        serialization._GLOBAL_CUSTOM_NAMES.pop(id(Unregistered), None)
