"""keras.applications beyond the first set: MobileNet, ResNet V2, Xception, MobileNetV3,
EfficientNetB1..B7 and ConvNeXt have Keras's layer names, weight shapes and parameter counts,
predict as Keras with Keras's weights (set_weights, `.weights.h5` and the legacy ImageNet
`.h5` layout), and their modules' preprocess_input equal Keras's."""

import hashlib

import numpy as np
import pytest

from tensorflux.keras import applications
from tensorflux.keras import backend as tfx_backend
from tensorflux.keras.applications import (
    convnext,
    efficientnet,
    mobilenet,
    mobilenet_v3,
    resnet,
    resnet_v2,
    xception,
)
from tests.keras._oracle import import_keras as _keras

h5py = pytest.importorskip("h5py", reason="weight files are HDF5")


@pytest.fixture(autouse=True)
def _fresh_names():
    tfx_backend.clear_session()
    yield
    tfx_backend.clear_session()


_SLOW = pytest.mark.slow

STRUCTURE_CASES = [
    ("MobileNet", {"include_top": True, "input_shape": (32, 32, 3), "classes": 5}),
    ("MobileNet", {"include_top": False, "input_shape": (64, 64, 3), "alpha": 0.5,
                   "depth_multiplier": 2, "pooling": "avg"}),
    ("MobileNet", {"include_top": False, "input_shape": (128, 128, 3), "alpha": 0.25}),
    ("ResNet50V2", {"include_top": True, "input_shape": (32, 32, 3), "classes": 5}),
    ("ResNet101V2", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"}),
    pytest.param("ResNet152V2", {"include_top": False, "input_shape": (32, 32, 3)},
                 marks=_SLOW),
    ("Xception", {"include_top": True, "input_shape": (71, 71, 3), "classes": 4}),
    ("Xception", {"include_top": False, "input_shape": (71, 71, 3), "pooling": "max"}),
    ("MobileNetV3Small", {"include_top": True, "input_shape": (32, 32, 3), "classes": 5}),
    ("MobileNetV3Small", {"include_top": False, "input_shape": (32, 32, 3),
                          "minimalistic": True, "alpha": 0.75, "pooling": "max"}),
    ("MobileNetV3Large", {"include_top": True, "input_shape": (32, 32, 3), "alpha": 1.25,
                          "include_preprocessing": False}),
    ("MobileNetV3Large", {"include_top": False, "input_shape": (32, 32, 3),
                          "minimalistic": True, "pooling": "avg"}),
    ("EfficientNetB1", {"include_top": True, "input_shape": (32, 32, 3), "classes": 5}),
    ("EfficientNetB2", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"}),
    ("EfficientNetB3", {"include_top": False, "input_shape": (32, 32, 3)}),
    pytest.param("EfficientNetB4", {"include_top": False, "input_shape": (32, 32, 3)},
                 marks=_SLOW),
    pytest.param("EfficientNetB5", {"include_top": False, "input_shape": (32, 32, 3)},
                 marks=_SLOW),
    pytest.param("EfficientNetB6", {"include_top": False, "input_shape": (32, 32, 3)},
                 marks=_SLOW),
    pytest.param("EfficientNetB7", {"include_top": True, "input_shape": (32, 32, 3),
                                    "classes": 3}, marks=_SLOW),
    ("ConvNeXtTiny", {"include_top": True, "input_shape": (32, 32, 3), "classes": 5}),
    ("ConvNeXtTiny", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg",
                      "include_preprocessing": False}),
    pytest.param("ConvNeXtSmall", {"include_top": False, "input_shape": (32, 32, 3)},
                 marks=_SLOW),
    pytest.param("ConvNeXtBase", {"include_top": True, "input_shape": (32, 32, 3),
                                  "classes": 5}, marks=_SLOW),
]


def _case_id(case):
    name, kwargs = case.values if hasattr(case, "values") else case
    return f"{name}-{kwargs.get('include_top')}-{kwargs.get('input_shape')[0]}"


@pytest.mark.keras_oracle
@pytest.mark.parametrize("name,kwargs", STRUCTURE_CASES,
                         ids=[_case_id(c) for c in STRUCTURE_CASES])
def test_architecture_equals_keras(name, kwargs):
    keras = _keras()
    keras.backend.clear_session()
    # The meta device gives Keras's shapes without computing its random initial weights.
    with keras.device("meta"):
        theirs = getattr(keras.applications, name)(weights=None, **kwargs)
    ours = getattr(applications, name)(weights=None, **kwargs)
    assert ours.name == theirs.name
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ([tuple(w.shape) for w in ours.trainable_weights] ==
            [tuple(w.shape) for w in theirs.trainable_weights])
    assert tuple(ours.output.shape) == tuple(theirs.output.shape)


def _numpy(weight):
    return np.asarray(_keras().ops.convert_to_numpy(weight))


def _randomize(keras_model, rng):
    """Keras's initial kernels with random BatchNorm/LayerNorm/LayerScale/bias values, so
    that every weight matters to the output (LayerScale starts at 1e-6, biases at 0)."""
    values = []
    for weight in keras_model.weights:
        shape = tuple(weight.shape)
        path = weight.path
        if "kernel" in path or path.endswith("count"):
            values.append(_numpy(weight))
        elif "variance" in path or "gamma" in path:
            values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            values.append((rng.normal(size=shape) * 0.1).astype("float32"))
    keras_model.set_weights(values)


def _oracle_model(name, kwargs, seed):
    keras = _keras()
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    theirs = getattr(keras.applications, name)(weights=None, **kwargs)
    _randomize(theirs, np.random.default_rng(seed))
    return theirs


PREDICT_CASES = [
    ("MobileNet", mobilenet, {"include_top": True, "input_shape": (32, 32, 3), "classes": 6,
                              "classifier_activation": None}),
    ("MobileNet", mobilenet, {"include_top": False, "input_shape": (40, 40, 3),
                              "alpha": 0.5, "depth_multiplier": 2, "pooling": "max"}),
    ("ResNet50V2", resnet_v2, {"include_top": True, "input_shape": (32, 32, 3),
                               "classes": 6, "classifier_activation": None}),
    ("Xception", xception, {"include_top": True, "input_shape": (71, 71, 3), "classes": 6,
                            "classifier_activation": None}),
    ("MobileNetV3Small", mobilenet_v3, {"include_top": True, "input_shape": (32, 32, 3),
                                        "classes": 6, "classifier_activation": None}),
    ("MobileNetV3Large", mobilenet_v3, {"include_top": False, "input_shape": (48, 48, 3),
                                        "pooling": "avg"}),
    ("MobileNetV3Large", mobilenet_v3, {"include_top": False, "input_shape": (32, 32, 3),
                                        "minimalistic": True, "include_preprocessing": False}),
    ("EfficientNetB2", efficientnet, {"include_top": True, "input_shape": (33, 33, 3),
                                      "classes": 6, "classifier_activation": None}),
    ("ConvNeXtTiny", convnext, {"include_top": True, "input_shape": (32, 32, 3), "classes": 6,
                                "classifier_activation": None}),
    ("ConvNeXtTiny", convnext, {"include_top": False, "input_shape": (64, 64, 3),
                                "pooling": "max"}),
]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("name,module,kwargs", PREDICT_CASES,
                         ids=[f"{n}-{k.get('include_top')}-{k['input_shape'][0]}"
                              for n, _, k in PREDICT_CASES])
def test_keras_weights_predict_as_keras(name, module, kwargs):
    theirs = _oracle_model(name, kwargs, seed=1)
    ours = getattr(applications, name)(weights=None, **kwargs)
    ours.set_weights([_numpy(w) for w in theirs.weights])
    shape = (2,) + kwargs["input_shape"]
    x = module.preprocess_input(
        np.random.default_rng(2).uniform(0, 255, shape).astype("float32"))
    expected = _numpy(theirs(x, training=False))
    got = ours.predict(x, verbose=0)
    assert got.shape == expected.shape
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * max(scale, 1.0))


@pytest.mark.keras_oracle
@pytest.mark.parametrize("name,kwargs", [
    ("ConvNeXtTiny", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"}),
    ("MobileNetV3Small", {"include_top": True, "input_shape": (32, 32, 3), "classes": 4}),
])
def test_keras_weights_file_loads_through_the_weights_argument(tmp_path, name, kwargs):
    theirs = _oracle_model(name, kwargs, seed=3)
    path = tmp_path / "model.weights.h5"
    theirs.save_weights(str(path))
    ours = getattr(applications, name)(weights=str(path), **kwargs)
    for a, b in zip(ours.get_weights(), theirs.weights):
        np.testing.assert_array_equal(a, _numpy(b))
    x = np.random.default_rng(4).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = _numpy(theirs(x, training=False))
    np.testing.assert_allclose(ours(x, training=False).numpy(), expected, rtol=1e-4,
                               atol=1e-4)


def _write_applications_h5(model, path):
    """The official files' layout: root `layer_names`, one group per layer whose
    `weight_names` are 'layer/weight:0' (Keras 2 files)."""
    layers = list(model.layers)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in layers])
        for layer in layers:
            group = f.create_group(layer.name)
            names = []
            for weight in layer.weights:
                leaf = f"{layer.name}/{weight.name.split('/')[-1]}:0"
                names.append(leaf.encode())
                group.create_dataset(leaf, data=_numpy(weight))
            group.attrs["weight_names"] = np.array(names, dtype="S")


def _place_imagenet_file(tmp_path, monkeypatch, model, file_name):
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    path = home / "models" / file_name
    _write_applications_h5(model, path)
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.keras_oracle
def test_xception_imagenet_file_loads_from_the_cache_and_predicts_as_keras(tmp_path,
                                                                          monkeypatch):
    kwargs = {"include_top": False, "input_shape": (71, 71, 3), "pooling": "avg"}
    theirs = _oracle_model("Xception", kwargs, seed=5)
    file_name = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
    md5 = _place_imagenet_file(tmp_path, monkeypatch, theirs, file_name)
    monkeypatch.setitem(xception.WEIGHTS, False, (file_name, md5))
    ours = applications.Xception(weights="imagenet", **kwargs)
    x = xception.preprocess_input(
        np.random.default_rng(6).uniform(0, 255, (2, 71, 71, 3)).astype("float32"))
    expected = _numpy(theirs(x, training=False))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.keras_oracle
def test_mobilenet_imagenet_file_names_follow_keras(tmp_path, monkeypatch):
    """alpha 0.5 at 128x128 reads `mobilenet_5_0_128_tf_no_top.h5` (no hash in Keras)."""
    kwargs = {"include_top": False, "input_shape": (128, 128, 3), "alpha": 0.5}
    theirs = _oracle_model("MobileNet", kwargs, seed=7)
    _place_imagenet_file(tmp_path, monkeypatch, theirs, "mobilenet_5_0_128_tf_no_top.h5")
    ours = applications.MobileNet(weights="imagenet", **kwargs)
    assert ours.name == theirs.name == "mobilenet_0.50_128"
    for a, b in zip(ours.get_weights(), theirs.weights):
        np.testing.assert_array_equal(a, _numpy(b))


@pytest.mark.keras_oracle
def test_resnet_v2_imagenet_file_name_and_hash(tmp_path, monkeypatch):
    kwargs = {"include_top": False, "input_shape": (32, 32, 3)}
    theirs = _oracle_model("ResNet50V2", kwargs, seed=8)
    md5 = _place_imagenet_file(tmp_path, monkeypatch, theirs,
                               "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5")
    monkeypatch.setitem(resnet.WEIGHTS_HASHES, "resnet50v2",
                        (resnet.WEIGHTS_HASHES["resnet50v2"][0], md5))
    ours = applications.ResNet50V2(weights="imagenet", **kwargs)
    for a, b in zip(ours.get_weights(), theirs.weights):
        np.testing.assert_array_equal(a, _numpy(b))


@pytest.mark.keras_oracle
def test_weight_hashes_and_argument_errors_are_keras():
    keras_module = _keras()
    from keras.src.applications import convnext as k_convnext
    from keras.src.applications import efficientnet as k_efficientnet
    from keras.src.applications import mobilenet_v3 as k_mobilenet_v3
    from keras.src.applications import resnet as k_resnet

    assert keras_module is not None
    assert efficientnet.WEIGHTS_HASHES == k_efficientnet.WEIGHTS_HASHES
    assert mobilenet_v3.WEIGHTS_HASHES == k_mobilenet_v3.WEIGHTS_HASHES
    assert convnext.WEIGHTS_HASHES == k_convnext.WEIGHTS_HASHES
    for variant in ("resnet50v2", "resnet101v2", "resnet152v2"):
        assert resnet.WEIGHTS_HASHES[variant] == k_resnet.WEIGHTS_HASHES[variant]
    with pytest.raises(ValueError, match="depth multiplier must be 1"):
        applications.MobileNet(weights="imagenet", depth_multiplier=2)
    with pytest.raises(ValueError, match="alpha can be one of"):
        applications.MobileNetV3Small(weights="imagenet", minimalistic=True, alpha=0.75)
    with pytest.raises(ValueError, match="Input size must be at least 71x71"):
        applications.Xception(weights=None, include_top=False, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="Input size must be at least 32x32"):
        applications.MobileNetV3Large(weights=None, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        applications.ConvNeXtTiny(weights="imagenet", classes=10)


PREPROCESS_MODULES = ["mobilenet", "resnet_v2", "xception", "mobilenet_v3", "efficientnet",
                      "convnext"]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("module_name", PREPROCESS_MODULES)
def test_module_preprocess_input_matches_keras(module_name):
    keras_module = _keras()
    theirs = getattr(keras_module.applications, module_name)
    ours = getattr(applications, module_name)
    x = np.random.default_rng(9).uniform(0, 255, (2, 5, 6, 3)).astype("float32")
    expected = np.asarray(theirs.preprocess_input(x.copy()))
    np.testing.assert_allclose(np.asarray(ours.preprocess_input(x.copy())), expected,
                               rtol=1e-6, atol=1e-6)
    assert callable(ours.decode_predictions)


def test_applications_are_registered_like_keras():
    keras_module = _keras()
    names = ["MobileNet", "ResNet50V2", "ResNet101V2", "ResNet152V2", "Xception",
             "MobileNetV3Small", "MobileNetV3Large", "ConvNeXtTiny", "ConvNeXtSmall",
             "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge"]
    names += [f"EfficientNetB{k}" for k in range(8)]
    for name in names:
        assert hasattr(keras_module.applications, name)
        assert callable(getattr(applications, name)), name
    submodules = {"mobilenet": ["MobileNet"],
                  "resnet_v2": ["ResNet50V2", "ResNet101V2", "ResNet152V2"],
                  "xception": ["Xception"],
                  "mobilenet_v3": [],
                  "efficientnet": [f"EfficientNetB{k}" for k in range(8)],
                  "convnext": ["ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase",
                               "ConvNeXtLarge", "ConvNeXtXLarge"]}
    for module_name, members in submodules.items():
        theirs = getattr(keras_module.applications, module_name)
        ours = getattr(applications, module_name)
        for member in members + ["preprocess_input", "decode_predictions"]:
            assert hasattr(theirs, member) and hasattr(ours, member), (module_name, member)


def test_layer_scale_config_round_trips_and_stochastic_depth_is_identity_at_inference():
    import tensorflux as tf

    layer = convnext.LayerScale(0.5, 4, name="scale")
    x = tf.constant(np.ones((2, 4), dtype="float32"))
    np.testing.assert_allclose(layer(x).numpy(), np.full((2, 4), 0.5))
    clone = convnext.LayerScale.from_config(layer.get_config())
    assert (clone.init_values, clone.projection_dim, clone.name) == (0.5, 4, "scale")
    drop = convnext.StochasticDepth(0.5)
    np.testing.assert_array_equal(drop(x, training=False).numpy(), x.numpy())
    kept = drop(x, training=True).numpy()
    assert set(np.unique(kept)) <= {0.0, 2.0}


@pytest.mark.keras_oracle
def test_convnext_keras_file_round_trips_with_keras(tmp_path):
    """Keras writes LayerScale as keras.src.applications.convnext.LayerScale; both load it."""
    keras = _keras()
    from tensorflux import keras as tfx_keras

    kwargs = {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"}
    theirs = _oracle_model("ConvNeXtTiny", kwargs, seed=10)
    theirs.save(str(tmp_path / "keras.keras"))
    ours = tfx_keras.models.load_model(str(tmp_path / "keras.keras"))
    x = np.random.default_rng(11).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = _numpy(theirs(x, training=False))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)
    ours.save(str(tmp_path / "ours.keras"))
    again = keras.models.load_model(str(tmp_path / "ours.keras"))
    np.testing.assert_allclose(_numpy(again(x, training=False)), expected, rtol=1e-6,
                               atol=1e-6)
