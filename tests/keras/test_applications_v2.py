"""keras.applications, third set: DenseNet169/201, EfficientNetV2 (B0..B3, S, M, L),
InceptionResNetV2 and NASNet (Mobile, Large) have Keras's layer names and classes, weight
shapes and paths, parameter counts, predict as Keras with Keras's weights, load Keras's
ImageNet files by name, and their modules match Keras's (preprocessing, tables, errors)."""

import hashlib

import numpy as np
import pytest

from tensorflux.keras import applications
from tensorflux.keras import backend as tfx_backend
from tensorflux.keras.applications import (
    densenet,
    efficientnet_v2,
    inception_resnet_v2,
    nasnet,
)
from tests.keras._oracle import import_keras as _keras

pytestmark = pytest.mark.keras_oracle
h5py = pytest.importorskip("h5py", reason="weight files are HDF5")

_SLOW = pytest.mark.slow


@pytest.fixture(autouse=True)
def _fresh_names():
    tfx_backend.clear_session()
    yield
    tfx_backend.clear_session()


def _keras_model(name, kwargs):
    """Keras's model; NASNetMobile through Keras's NASNet builder with NASNetMobile's
    arguments, since Keras refuses NASNetMobile itself on its torch backend."""
    keras = _keras()
    keras.backend.clear_session()
    if name != "NASNetMobile":
        return getattr(keras.applications, name)(**kwargs)
    from keras.src.applications import nasnet as k_nasnet

    kwargs = dict(kwargs)
    return k_nasnet.NASNet(kwargs.pop("input_shape"), penultimate_filters=1056, num_blocks=4,
                           stem_block_filters=32, skip_reduction=False, filter_multiplier=2,
                           default_size=224, name="nasnet_mobile", **kwargs)


# The models of PREDICT_CASES are compared there; these are the others.
STRUCTURE_CASES = [
    ("DenseNet201", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"}),
    ("EfficientNetV2B1", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"}),
    ("EfficientNetV2B2", {"include_top": False, "input_shape": (32, 32, 3)}),
    ("EfficientNetV2B3", {"include_top": True, "input_shape": (32, 32, 3), "classes": 3,
                          "include_preprocessing": False}),
    ("EfficientNetV2S", {"include_top": True, "input_shape": (32, 32, 3), "classes": 3}),
    pytest.param("EfficientNetV2M", {"include_top": False, "input_shape": (32, 32, 3)},
                 marks=_SLOW),
    pytest.param("EfficientNetV2L", {"include_top": False, "input_shape": (32, 32, 3),
                                     "pooling": "max"}, marks=_SLOW),
    pytest.param("NASNetLarge", {"include_top": True, "input_shape": (32, 32, 3),
                                 "classes": 4}, marks=_SLOW),
]


def _case_id(case):
    name, kwargs = case.values if hasattr(case, "values") else case
    return f"{name}-{kwargs.get('include_top')}-{kwargs.get('input_shape')[0]}"


@pytest.mark.parametrize("name,kwargs", STRUCTURE_CASES,
                         ids=[_case_id(c) for c in STRUCTURE_CASES])
def test_architecture_equals_keras(name, kwargs):
    keras = _keras()
    # The meta device gives Keras's shapes without computing its random initial weights.
    with keras.device("meta"):
        theirs = _keras_model(name, dict(kwargs, weights=None))
    _assert_same_architecture(getattr(applications, name)(weights=None, **kwargs), theirs)


def _assert_same_architecture(ours, theirs):
    assert ours.name == theirs.name
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ([type(layer).__name__ for layer in ours.layers] ==
            [type(layer).__name__ for layer in theirs.layers])
    assert ours.count_params() == theirs.count_params()
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert ([tuple(w.shape) for w in ours.trainable_weights] ==
            [tuple(w.shape) for w in theirs.trainable_weights])
    assert tuple(ours.output.shape) == tuple(theirs.output.shape)


def _numpy(weight):
    return np.asarray(_keras().ops.convert_to_numpy(weight))


def _randomize(keras_model, rng):
    """Keras's initial kernels with random BatchNorm statistics and biases, so that every
    weight matters to the output."""
    values = []
    for weight in keras_model.weights:
        shape = tuple(weight.shape)
        if "kernel" in weight.path:
            values.append(_numpy(weight))
        elif "variance" in weight.path or "gamma" in weight.path:
            values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            values.append((rng.normal(size=shape) * 0.1).astype("float32"))
    keras_model.set_weights(values)


def _oracle_model(name, kwargs, seed):
    _keras().utils.set_random_seed(seed)
    theirs = _keras_model(name, dict(kwargs, weights=None))
    _randomize(theirs, np.random.default_rng(seed))
    return theirs


def _assert_predicts_as(ours, theirs, x):
    expected = _numpy(theirs(x, training=False))
    got = ours.predict(x, verbose=0)
    assert got.shape == expected.shape
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * max(scale, 1.0))


PREDICT_CASES = [
    # 33x33: TensorFlow's asymmetric 'same' padding of the stride-2 convolutions.
    ("EfficientNetV2B0", efficientnet_v2, {"include_top": True, "input_shape": (33, 33, 3),
                                           "classes": 6, "classifier_activation": None}),
    ("DenseNet169", densenet, {"include_top": True, "input_shape": (32, 32, 3), "classes": 6,
                               "classifier_activation": None}),
    ("InceptionResNetV2", inception_resnet_v2, {"include_top": True,
                                                "input_shape": (75, 75, 3), "classes": 6,
                                                "classifier_activation": None}),
    ("NASNetMobile", nasnet, {"include_top": True, "input_shape": (32, 32, 3), "classes": 6,
                              "classifier_activation": None}),
]


@pytest.mark.parametrize("name,module,kwargs", PREDICT_CASES,
                         ids=[n for n, _, _ in PREDICT_CASES])
def test_keras_weights_predict_as_keras(name, module, kwargs):
    theirs = _oracle_model(name, kwargs, seed=1)
    ours = getattr(applications, name)(weights=None, **kwargs)
    _assert_same_architecture(ours, theirs)
    ours.set_weights([_numpy(w) for w in theirs.weights])
    x = module.preprocess_input(
        np.random.default_rng(2).uniform(0, 255, (2,) + kwargs["input_shape"]).astype(
            "float32"))
    _assert_predicts_as(ours, theirs, x)


# Two small stages through the builder: a fused block with a residual (and its dropout) and
# a strided depthwise block with squeeze-and-excitation.
_TINY_STAGES = [
    {"kernel_size": 3, "num_repeat": 2, "input_filters": 16, "output_filters": 16,
     "expand_ratio": 1, "se_ratio": 0, "strides": 1, "conv_type": 1},
    {"kernel_size": 3, "num_repeat": 2, "input_filters": 16, "output_filters": 24,
     "expand_ratio": 4, "se_ratio": 0.25, "strides": 2, "conv_type": 0},
]


@pytest.mark.parametrize("model_name", ["efficientnetv2-s", "efficientnetv2-b1"])
def test_efficientnet_v2_builder_and_its_preprocessing_predict_as_keras(model_name):
    """S/M/L rescale to [-1, 1]; the B models rescale to [0, 1] and normalize."""
    keras = _keras()
    from keras.src.applications import efficientnet_v2 as k_efficientnet_v2

    kwargs = {"width_coefficient": 1.1, "depth_coefficient": 1.2, "default_size": 224,
              "blocks_args": _TINY_STAGES, "name": model_name, "weights": None,
              "input_shape": (34, 34, 3), "include_top": False, "pooling": "avg"}
    keras.backend.clear_session()
    keras.utils.set_random_seed(3)
    theirs = k_efficientnet_v2.EfficientNetV2(**kwargs)
    _randomize(theirs, np.random.default_rng(3))
    ours = efficientnet_v2.EfficientNetV2(**kwargs)
    _assert_same_architecture(ours, theirs)
    ours.set_weights([_numpy(w) for w in theirs.weights])
    x = np.random.default_rng(4).uniform(0, 255, (2, 34, 34, 3)).astype("float32")
    _assert_predicts_as(ours, theirs, x)


def _write_applications_h5(model, path):
    """The official files' layout: root `layer_names`, one group per layer whose
    `weight_names` are 'layer/weight:0' (Keras 2 files), in a shuffled layer order."""
    layers = list(model.layers)
    np.random.default_rng(0).shuffle(layers)
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


def test_nasnet_mobile_imagenet_file_loads_from_the_cache_by_name(tmp_path, monkeypatch):
    kwargs = {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"}
    theirs = _oracle_model("NASNetMobile", kwargs, seed=5)
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    path = home / "models" / "nasnet_mobile_no_top.h5"
    _write_applications_h5(theirs, path)
    file_name, origin, _ = nasnet.WEIGHTS[(224, False)]
    monkeypatch.setitem(nasnet.WEIGHTS, (224, False),
                        (file_name, origin, hashlib.md5(path.read_bytes()).hexdigest()))
    ours = applications.NASNetMobile(weights="imagenet", **kwargs)
    for a, b in zip(ours.get_weights(), theirs.weights):
        np.testing.assert_array_equal(a, _numpy(b))


IMAGENET_FILES = [
    (applications.DenseNet201, {"include_top": False, "input_shape": (32, 32, 3)},
     "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
     "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "c13680b51ded0fb44dff2d8f86ac8bb1"),
    (applications.EfficientNetV2B0, {"include_top": False, "input_shape": (32, 32, 3)},
     "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
     "efficientnetv2-b0_notop.h5", "893217f2bb855e2983157299931e43ff"),
    (applications.EfficientNetV2S, {"include_top": True},
     "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
     "efficientnetv2-s.h5", "e1d88a8495beba45748fedd0cecbe016"),
    (applications.InceptionResNetV2, {"include_top": False, "input_shape": (75, 75, 3)},
     "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
     "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
     "d19885ff4a710c122648d3b5c3b684e4"),
    (applications.NASNetMobile, {"include_top": False, "input_shape": (32, 32, 3)},
     "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
     "NASNet-mobile-no-top.h5", "1ed92395b5b598bdda52abe5c0dbfd63"),
]


@pytest.mark.parametrize("factory,kwargs,origin,md5", IMAGENET_FILES,
                         ids=[f.__name__ for f, _, _, _ in IMAGENET_FILES])
def test_imagenet_weights_come_from_keras_urls(tmp_path, monkeypatch, factory, kwargs, origin,
                                               md5):
    from tensorflux.keras.utils import file_utils

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(file_utils, "_download", lambda origin, dest: (_ for _ in ()).throw(
        OSError("network unreachable")))
    with pytest.raises(file_utils.DownloadError) as info:
        factory(weights="imagenet", **kwargs)
    assert origin in str(info.value) and md5 in str(info.value)


def test_tables_equal_keras():
    _keras()
    from keras.src.applications import efficientnet_v2 as k_efficientnet_v2
    from keras.src.applications import inception_resnet_v2 as k_inception_resnet_v2

    assert efficientnet_v2.WEIGHTS_HASHES == k_efficientnet_v2.WEIGHTS_HASHES
    assert efficientnet_v2.DEFAULT_BLOCKS_ARGS == k_efficientnet_v2.DEFAULT_BLOCKS_ARGS
    assert efficientnet_v2.BASE_WEIGHTS_PATH == k_efficientnet_v2.BASE_WEIGHTS_PATH
    assert inception_resnet_v2.BASE_WEIGHT_URL == k_inception_resnet_v2.BASE_WEIGHT_URL


def test_argument_errors_are_keras():
    with pytest.raises(ValueError, match="Input size must be at least 75x75"):
        applications.InceptionResNetV2(weights=None, include_top=False,
                                       input_shape=(74, 74, 3))
    with pytest.raises(ValueError, match="`classes` should be 1000"):
        applications.EfficientNetV2B0(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match=r"`input_shape` should be \(331, 331, 3\)"):
        applications.NASNetLarge(weights="imagenet", input_shape=(224, 224, 3))
    with pytest.raises(ValueError, match="must be static"):
        applications.NASNetMobile(weights="imagenet", include_top=False,
                                  input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="multiple of 24"):
        nasnet.NASNet((32, 32, 3), penultimate_filters=100, weights=None)
    with pytest.raises(ValueError, match="can only be loaded with NASNetLarge or NASNetMobile"):
        nasnet.NASNet((32, 32, 3), penultimate_filters=96, num_blocks=1, include_top=False,
                      default_size=64, weights="imagenet")
    with pytest.raises(ValueError, match="Only `None` and `softmax`"):
        applications.DenseNet169(weights="imagenet", classifier_activation="relu")


PREPROCESS_MODULES = ["densenet", "efficientnet_v2", "inception_resnet_v2", "nasnet"]


@pytest.mark.parametrize("module_name", PREPROCESS_MODULES)
def test_module_preprocess_input_matches_keras(module_name):
    theirs = getattr(_keras().applications, module_name)
    ours = getattr(applications, module_name)
    x = np.random.default_rng(9).uniform(0, 255, (2, 5, 6, 3)).astype("float32")
    expected = np.asarray(theirs.preprocess_input(x.copy()))
    np.testing.assert_allclose(np.asarray(ours.preprocess_input(x.copy())), expected,
                               rtol=1e-6, atol=1e-6)


def test_applications_are_registered_like_keras():
    keras_module = _keras()
    submodules = {"densenet": ["DenseNet121", "DenseNet169", "DenseNet201"],
                  "efficientnet_v2": [f"EfficientNetV2{v}" for v in
                                      ("B0", "B1", "B2", "B3", "S", "M", "L")],
                  "inception_resnet_v2": ["InceptionResNetV2"],
                  "nasnet": ["NASNetMobile", "NASNetLarge"]}
    for module_name, members in submodules.items():
        theirs = getattr(keras_module.applications, module_name)
        ours = getattr(applications, module_name)
        for member in members + ["preprocess_input", "decode_predictions"]:
            assert hasattr(theirs, member) and callable(getattr(ours, member)), member
        for member in members:
            assert getattr(applications, member) is getattr(ours, member)
            assert hasattr(keras_module.applications, member)


def test_custom_scale_layer_keras_file_round_trips_with_keras(tmp_path):
    """Keras writes the layer as keras.src.applications.inception_resnet_v2's
    CustomScaleLayer; both load the other's file."""
    keras = _keras()
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    from tensorflux import keras as tfx_keras

    a, b = keras.Input((4,)), keras.Input((4,))
    theirs = keras.Model([a, b], CustomScaleLayer(0.3)([a, b]))
    theirs.save(str(tmp_path / "keras.keras"))
    ours = tfx_keras.models.load_model(str(tmp_path / "keras.keras"))
    assert isinstance(ours.layers[-1], inception_resnet_v2.CustomScaleLayer)
    assert ours.layers[-1].scale == 0.3
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(2, 4)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(ours.predict([x, y], verbose=0), x + 0.3 * y, rtol=1e-6,
                               atol=1e-6)
    ours.save(str(tmp_path / "ours.keras"))
    again = keras.models.load_model(str(tmp_path / "ours.keras"))
    np.testing.assert_allclose(_numpy(again([x, y])), x + 0.3 * y, rtol=1e-6, atol=1e-6)
