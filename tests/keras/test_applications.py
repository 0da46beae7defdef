"""keras.applications: architectures equal Keras's (layer names, parameter counts), weight
files in the applications' HDF5 layout load by name and predict as Keras, preprocessing and
decode_predictions as Keras's, and the seed's VGG16 transfer-learning snippet."""

import hashlib
import json
import os

import numpy as np
import pytest

from tensorflux.keras import applications
from tensorflux.keras import backend as tfx_backend
from tensorflux.keras.applications import imagenet_utils, resnet, vgg16
from tests.keras._oracle import import_keras as _keras

h5py = pytest.importorskip("h5py", reason="weight files are HDF5")


@pytest.fixture(autouse=True)
def _fresh_names():
    tfx_backend.clear_session()
    yield
    tfx_backend.clear_session()


STRUCTURE_CASES = [
    ("VGG16", {"include_top": True, "input_shape": (32, 32, 3), "classes": 7}),
    ("VGG19", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"}),
    ("ResNet50", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"}),
    ("ResNet101", {"include_top": False, "input_shape": (32, 32, 3)}),
    ("ResNet152", {"include_top": True, "input_shape": (32, 32, 3), "classes": 5}),
    ("MobileNetV2", {"include_top": True, "input_shape": (32, 32, 3), "classes": 5}),
    ("MobileNetV2", {"include_top": False, "input_shape": (96, 96, 3), "alpha": 0.35}),
    ("InceptionV3", {"include_top": False, "input_shape": (75, 75, 3), "pooling": "max"}),
    ("DenseNet121", {"include_top": True, "input_shape": (32, 32, 3), "classes": 5}),
    ("EfficientNetB0", {"include_top": True, "input_shape": (32, 32, 3), "classes": 5}),
]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("name,kwargs", STRUCTURE_CASES,
                         ids=[f"{n}-{k.get('include_top')}" for n, k in STRUCTURE_CASES])
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
    assert tuple(ours.output.shape) == tuple(theirs.output.shape)


def _write_applications_h5(model, path, vgg_names=False, shuffle=None):
    """The official files' layout: root `layer_names`, one group per layer whose
    `weight_names` are 'layer/kernel:0' (Keras 2 files) or 'layer_W_1:0' (VGG's Keras 1)."""
    layers = list(model.layers)
    if shuffle is not None:
        shuffle.shuffle(layers)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in layers])
        for layer in layers:
            group = f.create_group(layer.name)
            names = []
            for k, weight in enumerate(layer.weights):
                if vgg_names:
                    leaf = f"{layer.name}_{'W' if k == 0 else 'b'}_1:0"
                else:
                    leaf = f"{layer.name}/{weight.name.split('/')[-1]}:0"
                names.append(leaf.encode())
                group.create_dataset(leaf, data=np.asarray(weight.numpy()))
            group.attrs["weight_names"] = np.array(names, dtype="S")


def _randomize(keras_model, rng):
    values = []
    for weight in keras_model.weights:
        shape = tuple(weight.shape)
        if "kernel" in weight.path:  # Keras's own random (Glorot) values keep a sane scale
            values.append(np.asarray(weight.numpy()))
        elif "moving_variance" in weight.path or "gamma" in weight.path:
            values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            values.append((rng.normal(size=shape) * 0.1).astype("float32"))
    keras_model.set_weights(values)


def _place_imagenet_file(tmp_path, monkeypatch, model, file_name, **kwargs):
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    path = home / "models" / file_name
    _write_applications_h5(model, path, **kwargs)
    return path, hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.keras_oracle
def test_vgg16_imagenet_file_loads_by_name_and_predicts_as_keras(tmp_path, monkeypatch):
    keras = _keras()
    keras.backend.clear_session()
    theirs = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    _randomize(theirs, np.random.default_rng(0))
    name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    _, md5 = _place_imagenet_file(tmp_path, monkeypatch, theirs, name, vgg_names=True,
                                  shuffle=np.random.default_rng(1))
    top, _ = vgg16.WEIGHTS["vgg16"]
    monkeypatch.setitem(vgg16.WEIGHTS, "vgg16", (top, (vgg16.WEIGHTS["vgg16"][1][0], md5)))
    ours = applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    x = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    x = vgg16.preprocess_input(x)
    expected = keras.ops.convert_to_numpy(theirs(x))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.keras_oracle
def test_resnet50_imagenet_file_loads_and_predicts_as_keras(tmp_path, monkeypatch):
    keras = _keras()
    keras.backend.clear_session()
    theirs = keras.applications.ResNet50(weights=None, include_top=False, pooling="avg",
                                         input_shape=(32, 32, 3))
    _randomize(theirs, np.random.default_rng(3))
    name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    _, md5 = _place_imagenet_file(tmp_path, monkeypatch, theirs, name)
    monkeypatch.setitem(resnet.WEIGHTS_HASHES, "resnet50",
                        (resnet.WEIGHTS_HASHES["resnet50"][0], md5))
    ours = applications.ResNet50(weights="imagenet", include_top=False, pooling="avg",
                                 input_shape=(32, 32, 3))
    x = np.random.default_rng(4).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    x = resnet.preprocess_input(x)
    expected = keras.ops.convert_to_numpy(theirs(x, training=False))
    np.testing.assert_allclose(ours(x, training=False).numpy(), expected, rtol=1e-3, atol=1e-4)


def test_weights_path_loads_a_file_by_position_when_names_differ(tmp_path):
    source = applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path / "renamed.h5"
    with h5py.File(path, "w") as f:
        layers = [layer for layer in source.layers if layer.weights]
        f.attrs["layer_names"] = np.array([f"old_{k}".encode() for k in range(len(layers))])
        for k, layer in enumerate(layers):
            group = f.create_group(f"old_{k}")
            group.attrs["weight_names"] = np.array([b"w:0", b"b:0"])
            for leaf, weight in zip(("w:0", "b:0"), layer.weights):
                group.create_dataset(leaf, data=np.asarray(weight.numpy()) + 1.0)
    ours = applications.VGG16(weights=str(path), include_top=False, input_shape=(32, 32, 3))
    for a, b in zip(ours.get_weights(), source.get_weights()):
        np.testing.assert_allclose(a, b + 1.0)


def test_imagenet_weights_without_network_say_where_to_place_the_file(tmp_path, monkeypatch):
    from tensorflux.keras.utils import file_utils

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(file_utils, "_download", lambda origin, dest: (_ for _ in ()).throw(
        OSError("network unreachable")))
    with pytest.raises(file_utils.DownloadError) as info:
        applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    message = str(info.value)
    assert "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" in message
    expected = os.path.join(str(tmp_path), "models",
                            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert expected in message and "6d6bbae143d832006294945121d1f1fc" in message


def test_argument_errors_are_keras():
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        applications.ResNet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="`weights` argument should be either"):
        applications.VGG16(weights="/no/such/file.h5")
    with pytest.raises(ValueError, match=r"`input_shape` should be \(224, 224, 3\)"):
        applications.VGG16(weights="imagenet", input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="Input size must be at least 32x32"):
        applications.VGG16(weights=None, include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="static `input_shape`"):
        applications.VGG16(weights=None, include_top=True, input_shape=(None, None, 3))


@pytest.mark.keras_oracle
@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_preprocess_input_matches_keras(mode, data_format):
    _keras()
    from keras.src.applications import imagenet_utils as keras_utils

    rng = np.random.default_rng(5)
    shape = (2, 4, 5, 3) if data_format == "channels_last" else (2, 3, 4, 5)
    for batch_shape in (shape, shape[1:]):
        x = rng.uniform(0, 255, batch_shape).astype("float32")
        expected = keras_utils.preprocess_input(x.copy(), data_format=data_format, mode=mode)
        ours_in = x.copy()
        ours = imagenet_utils.preprocess_input(ours_in, data_format=data_format, mode=mode)
        np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-5)
        # In place on float NumPy input, as Keras (caffe returns a reversed view).
        assert np.shares_memory(ours, ours_in)
    ints = rng.integers(0, 255, shape).astype("uint8")
    np.testing.assert_allclose(
        imagenet_utils.preprocess_input(ints, data_format=data_format, mode=mode),
        keras_utils.preprocess_input(ints.copy(), data_format=data_format, mode=mode),
        rtol=1e-6, atol=1e-5)


def test_preprocess_input_on_tensors_matches_numpy():
    import tensorflux as tf

    x = np.random.default_rng(6).uniform(0, 255, (2, 3, 3, 3)).astype("float32")
    for mode in ("caffe", "tf", "torch"):
        ours = imagenet_utils.preprocess_input(tf.constant(x), mode=mode).numpy()
        np.testing.assert_allclose(ours, imagenet_utils.preprocess_input(x.copy(), mode=mode),
                                   rtol=1e-6, atol=1e-5)
    with pytest.raises(ValueError, match="mode"):
        imagenet_utils.preprocess_input(x, mode="bgr")


def test_decode_predictions_uses_the_cached_class_index(tmp_path, monkeypatch):
    index = {str(k): [f"n{k:08d}", f"class_{k}"] for k in range(1000)}
    data = json.dumps(index).encode()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "imagenet_class_index.json").write_bytes(data)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX", None)
    preds = np.zeros((2, 1000), dtype="float32")
    preds[0, [3, 10, 999]] = [0.5, 0.3, 0.2]
    preds[1, 7] = 1.0
    out = vgg16.decode_predictions(preds, top=3)
    assert [(w, label) for w, label, _ in out[0]] == [("n00000003", "class_3"),
                                                      ("n00000010", "class_10"),
                                                      ("n00000999", "class_999")]
    assert out[1][0][:2] == ("n00000007", "class_7") and float(out[1][0][2]) == 1.0
    with pytest.raises(ValueError, match=r"shape: \(2, 10\)"):
        imagenet_utils.decode_predictions(np.zeros((2, 10)))


def test_seed_vgg16_snippet_from_a_local_weights_file(tmp_path, monkeypatch):
    """The seed's transfer-learning code with only the import changed and an input_shape."""
    from tensorflux.keras import layers as L
    from tensorflux.keras.applications import VGG16
    from tensorflux.keras.models import Model

    source = VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    name = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    _, md5 = _place_imagenet_file(tmp_path, monkeypatch, source, name, vgg_names=True)
    monkeypatch.setitem(vgg16.WEIGHTS, "vgg16", (vgg16.WEIGHTS["vgg16"][0],
                                                 (vgg16.WEIGHTS["vgg16"][1][0], md5)))
    tfx_backend.clear_session()

    num_classes = 3
    base_model = VGG16(weights='imagenet', include_top=False, input_shape=(32, 32, 3))
    x = base_model.output
    x = L.Flatten()(x)
    x = L.Dense(64, activation='relu')(x)
    predictions = L.Dense(num_classes, activation='softmax')(x)
    model = Model(inputs=base_model.input, outputs=predictions)
    for layer in base_model.layers:
        layer.trainable = False
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])

    for a, b in zip(base_model.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(7).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    labels = np.eye(num_classes, dtype="float32")[np.arange(4) % num_classes]
    frozen = [w.copy() for w in base_model.get_weights()]
    history = model.fit(vgg16.preprocess_input(images), labels, epochs=1, batch_size=4,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for a, b in zip(base_model.get_weights(), frozen):
        np.testing.assert_array_equal(a, b)
