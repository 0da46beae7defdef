"""Probe round s8 (vision): fixes found by running keras.io / TF image tutorials.

RandomCrop inside a traced step, tf.image.resize's area / Lanczos / Gaussian / Mitchell
kernels, antialiasing and bicubic weight table (checked against a per-pixel NumPy float64
reference written from TensorFlow's kernel definitions, anchored by values TensorFlow 2.21
printed, and against real Keras 3.15.1 on torch where its backend has the kernel), resize
sizes from traced shapes, Resizing on integer images, UpSampling2D's and
image_dataset_from_directory's other interpolations, BatchNormalization(renorm=True), and
dict inputs (images, labels, segmentation masks) of the image augmentation layers.
"""

import math
import os

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import (  # noqa: F401
    assert_matches,
    fresh_names,
    import_keras,
    to_numpy,
)

pytestmark = pytest.mark.keras_oracle


def _images(shape=(2, 9, 13, 3), seed=0):
    return np.random.RandomState(seed).rand(*shape).astype("float32")


# ---------------------------------------------------------------------- RandomCrop
def test_random_crop_trains_inside_a_model_and_a_dataset_map():
    x = _images((4, 12, 10, 3))
    layers = keras.layers
    model = keras.Sequential([keras.Input((12, 10, 3)), layers.RandomCrop(8, 6, seed=1),
                              layers.Conv2D(2, 3), layers.GlobalAveragePooling2D(),
                              layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(x, np.zeros((4, 1), "float32"), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    crop = layers.RandomCrop(8, 6, seed=2)
    batches = [b.numpy() for b in tf.data.Dataset.from_tensor_slices(x).batch(2).map(crop)]
    assert [b.shape for b in batches] == [(2, 8, 6, 3)] * 2
    windows = [x[:2, top:top + 8, left:left + 6] for top in range(5) for left in range(5)]
    assert any(np.array_equal(batches[0], w) for w in windows)
    assert crop.compute_output_shape((None, 12, 10, 3)) == (None, 8, 6, 3)


# ---------------------------------------------------------------------- resize kernels
def _lanczos(radius):
    def kernel(x):
        if x > radius:
            return 0.0
        if x <= 1e-3:
            return 1.0
        return radius * math.sin(math.pi * x) * math.sin(math.pi * x / radius) / (
            math.pi ** 2 * x * x)
    return kernel


def _keys(x):
    if x >= 2:
        return 0.0
    return ((-0.5 * x + 2.5) * x - 4) * x + 2 if x >= 1 else (1.5 * x - 2.5) * x * x + 1


def _mitchell(x):
    if x >= 2:
        return 0.0
    if x >= 1:
        return (((-7 / 18) * x + 2) * x - 10 / 3) * x + 16 / 9
    return ((7 / 6) * x - 2) * x * x + 8 / 9


_KERNELS = {"bilinear": (1.0, lambda x: max(0.0, 1 - x)), "bicubic": (2.0, _keys),
            "lanczos3": (3.0, _lanczos(3)), "lanczos5": (5.0, _lanczos(5)),
            "gaussian": (1.5, lambda x: math.exp(-x * x / 0.5) if x < 1.5 else 0.0),
            "mitchellcubic": (2.0, _mitchell)}


def _axis_matrix(n_in, n_out, method, antialias):
    """TensorFlow's per-axis weights, one output position at a time: ResizeArea's cell
    overlaps, or ScaleAndTranslate's normalized kernel taps around (o + 0.5) * in / out."""
    inv = n_in / n_out
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        if method == "bicubic" and not antialias:
            # resize_bicubic: Keys weights from a 1024-step table, taps outside dropped
            position = (o + 0.5) * inv - 0.5
            base = math.floor(position)
            t = round((position - base) * 1024) / 1024
            for k, distance in enumerate((1 + t, t, 1 - t, 2 - t)):
                if 0 <= base - 1 + k < n_in:
                    m[o, base - 1 + k] += _keys(abs(distance))
            m[o] /= m[o].sum()
            continue
        if method == "area":
            lo, hi = o * inv, (o + 1) * inv
            for i in range(n_in):
                m[o, i] = max(0.0, min(i + 1, hi) - max(i, lo)) / inv
            continue
        radius, kernel = _KERNELS[method]
        widen = max(inv, 1.0) if antialias else 1.0
        centre = (o + 0.5) * inv
        for i in range(n_in):
            distance = abs(i + 0.5 - centre) / widen
            m[o, i] = kernel(distance) if distance <= radius else 0.0
        m[o] /= m[o].sum()
    return m


def _reference_resize(x, size, method, antialias):
    rows = _axis_matrix(x.shape[1], size[0], method, antialias)
    cols = _axis_matrix(x.shape[2], size[1], method, antialias)
    return np.einsum("oh,pw,bhwc->bopc", rows, cols, x.astype(np.float64))


# tf.image.resize(ramp, (3, 4), method, antialias) as TensorFlow 2.21 computed it.
_TF_VALUES = [
    (("bilinear", True), [0.9187, 1.3537, 1.9975, 2.6257, 5.7562, 6.6589, 7.7851, 8.7848,
                          12.9872, 14.1826, 15.64, 16.9088]),
    (("bicubic", False), [0.4415, 0.8556, 1.404, 2.0969, 5.3981, 6.4751, 7.5573, 8.7573,
                          13.7541, 15.2028, 16.623, 18.1653]),
    (("bicubic", True), [0.6137, 1.0572, 1.6814, 2.3488, 5.5499, 6.5334, 7.6665, 8.756,
                         13.2033, 14.5093, 15.9815, 17.3699]),
    (("area", False), [0.8369, 1.3025, 1.892, 2.5754, 5.6798, 6.6751, 7.7254, 8.828, 13.0642,
                       14.3858, 15.7486, 17.1514]),
    (("lanczos3", False), [0.3433, 0.7498, 1.2979, 1.99, 5.3778, 6.4656, 7.5674, 8.7804,
                           13.8839, 15.3537, 16.8057, 18.3705]),
    (("lanczos5", True), [0.5562, 0.9925, 1.5949, 2.2677, 5.3933, 6.4067, 7.5211, 8.6395,
                          13.3941, 14.7207, 16.1573, 17.5742]),
    (("gaussian", False), [0.7058, 1.1395, 1.7305, 2.4056, 5.5589, 6.5658, 7.6635, 8.7833,
                           13.3434, 14.686, 16.1151, 17.5436]),
    (("mitchellcubic", True), [0.9326, 1.3895, 2.0313, 2.683, 5.7311, 6.6584, 7.7656, 8.7916,
                               12.8391, 14.0627, 15.4915, 16.7905]),
]


def _ramp():
    return (np.arange(35, dtype="float32").reshape(1, 5, 7, 1) ** 1.5) / 10


@pytest.mark.parametrize("method, antialias, expected", [(m, a, v) for (m, a), v in _TF_VALUES])
def test_resize_kernels_match_tensorflow_values(method, antialias, expected):
    ours = tf.image.resize(_ramp(), (3, 4), method=method, antialias=antialias).numpy()
    np.testing.assert_allclose(ours.ravel(), expected, atol=2e-4)
    reference = _reference_resize(_ramp(), (3, 4), method, antialias)
    np.testing.assert_allclose(reference.ravel(), expected, atol=2e-4)


@pytest.mark.parametrize("method", ["area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic",
                                    "bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(4, 5), (13, 20), (9, 6)])
def test_resize_kernels_match_numpy_reference(method, size):
    x = _images()
    for antialias in (False, True):
        if method == "bilinear" and not antialias:
            continue  # the plain half-pixel kernel is covered by the op table
        ours = tf.image.resize(x, size, method=method, antialias=antialias)
        assert ours.dtype == tf.float32
        np.testing.assert_allclose(ours.numpy(), _reference_resize(x, size, method, antialias),
                                   rtol=1e-5, atol=1e-5)
    # integer images come back as float32, as TensorFlow; ResizeMethod names the kernels
    assert tf.image.resize((x * 255).astype("uint8"), size, method=method).dtype == tf.float32
    assert getattr(tf.image.ResizeMethod, method.upper()) == method


def test_resize_same_size_still_applies_smoothing_kernels():
    x = _images((1, 6, 5, 1))
    for method in ("gaussian", "mitchellcubic"):
        ours = tf.image.resize(x, (6, 5), method=method).numpy()
        np.testing.assert_allclose(ours, _reference_resize(x, (6, 5), method, False),
                                   rtol=1e-5, atol=1e-6)
        assert not np.allclose(ours, x)
    np.testing.assert_allclose(tf.image.resize(x, (6, 5), method="lanczos3").numpy(), x,
                               atol=1e-6)


def test_resize_antialias_gradient_and_tf_function():
    x = tf.constant(_images((1, 8, 6, 2)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(tf.image.resize(x, (3, 4), antialias=True) ** 2)
    grad = tape.gradient(y, x).numpy()
    rows, cols = _axis_matrix(8, 3, "bilinear", True), _axis_matrix(6, 4, "bilinear", True)
    out = np.einsum("oh,pw,bhwc->bopc", rows, cols, x.numpy().astype(np.float64))
    expected = np.einsum("oh,pw,bopc->bhwc", rows, cols, 2 * out)
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)
    traced = tf.function(lambda t: tf.image.resize(t, (3, 4), method="area"))
    np.testing.assert_allclose(traced(x).numpy(), _reference_resize(x.numpy(), (3, 4), "area",
                                                                    False), rtol=1e-5)


def test_resize_size_from_the_traced_shape():
    x = _images((2, 5, 6, 1))
    doubled = tf.function(lambda t: tf.image.resize(t, tf.shape(t)[1:3] * 2))(x)
    listed = tf.function(lambda t: tf.image.resize(t, [tf.shape(t)[1] + 1, 4]))(x)
    np.testing.assert_allclose(doubled.numpy(), tf.image.resize(x, (10, 12)).numpy())
    np.testing.assert_allclose(listed.numpy(), tf.image.resize(x, (6, 4)).numpy())
    with pytest.raises(tf.errors.InvalidArgumentError, match="resize: the size must be known"):
        tf.function(lambda t, s: tf.image.resize(t, s))(x, tf.constant([3, 3]))


@pytest.mark.parametrize("method", ["bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(5, 6), (4, 9), (20, 7)])
def test_keras_ops_resize_antialias_matches_keras(method, size):
    k = import_keras()
    x = _images((2, 11, 13, 3))
    assert_matches(keras.ops.image.resize(x, size, interpolation=method, antialias=True),
                   k.ops.image.resize(x, size, interpolation=method, antialias=True),
                   rtol=1e-5, atol=1e-5)


def test_keras_ops_resize_takes_lanczos_and_area_and_rejects_others():
    x = _images()
    for method in ("lanczos3", "lanczos5", "area"):
        np.testing.assert_allclose(
            keras.ops.image.resize(x, (4, 6), interpolation=method).numpy(),
            _reference_resize(x, (4, 6), method, False), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="interpolation.*Received: interpolation=gaussian"):
        keras.ops.image.resize(x, (4, 6), interpolation="gaussian")


# ---------------------------------------------------------------------- layers
@pytest.mark.parametrize("kwargs", [{}, {"interpolation": "nearest"},
                                    {"crop_to_aspect_ratio": True},
                                    {"pad_to_aspect_ratio": True},
                                    {"antialias": True}])
def test_resizing_keeps_integer_images_in_their_dtype_like_keras(kwargs):
    k = import_keras()
    x = (_images((2, 24, 32, 3)) * 255).astype("uint8")
    ours = keras.layers.Resizing(12, 10, **kwargs)(x)
    theirs = k.layers.Resizing(12, 10, **kwargs)(x)
    assert ours.dtype.name == "uint8"
    assert_matches(ours, theirs, atol=1.0)  # one level where float32 rounding meets .5


@pytest.mark.parametrize("name, args", [("RandomCrop", (10, 12)), ("RandomContrast", (0.2,)),
                                        ("RandomFlip", ())])
@pytest.mark.parametrize("dtype", ["uint8", "float64"])
def test_augmentation_inference_dtypes_like_keras(name, args, dtype):
    k = import_keras()
    x = (_images((2, 16, 20, 3)) * 255).astype(dtype)
    ours = getattr(keras.layers, name)(*args)(x, training=False)
    theirs = getattr(k.layers, name)(*args)(x, training=False)
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    assert_matches(ours, theirs)


def test_resizing_area_and_lanczos_layers_and_config():
    x = _images((2, 10, 12, 3))
    for method in ("area", "lanczos3"):
        layer = keras.layers.Resizing(4, 5, interpolation=method, antialias=True)
        np.testing.assert_allclose(layer(x).numpy(),
                                   _reference_resize(x, (4, 5), method, method != "area"),
                                   rtol=1e-5, atol=1e-5)
        clone = keras.layers.Resizing.from_config(layer.get_config())
        assert (clone.interpolation, clone.antialias) == (method, True)
    with pytest.raises(ValueError, match="Received: interpolation=cubic"):
        keras.layers.Resizing(4, 5, interpolation="cubic")


@pytest.mark.parametrize("method", ["bicubic", "lanczos3", "lanczos5", "area"])
def test_upsampling2d_other_interpolations_resize_like_tf(method):
    x = _images((2, 4, 5, 3))
    layer = keras.layers.UpSampling2D((2, 3), interpolation=method)
    np.testing.assert_allclose(layer(x).numpy(), _reference_resize(x, (8, 15), method, False),
                               rtol=1e-5, atol=1e-5)
    first = keras.layers.UpSampling2D((2, 3), interpolation=method, data_format="channels_first")
    np.testing.assert_allclose(first(np.transpose(x, (0, 3, 1, 2))).numpy(),
                               np.transpose(layer(x).numpy(), (0, 3, 1, 2)), rtol=1e-6)


def test_upsampling2d_rejects_unknown_interpolation():
    with pytest.raises(ValueError, match="Received: interpolation=cubic"):
        keras.layers.UpSampling2D(2, interpolation="cubic")


# ---------------------------------------------------------------------- dataset utils
def test_image_dataset_from_directory_area_and_lanczos(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    pixels = (_images((20, 30, 3)) * 255).astype("uint8")
    os.makedirs(tmp_path / "cls")
    pil.fromarray(pixels).save(tmp_path / "cls" / "a.png")
    for method in ("area", "lanczos3", "mitchellcubic"):
        ds = keras.utils.image_dataset_from_directory(
            str(tmp_path), image_size=(8, 8), batch_size=1, shuffle=False,
            interpolation=method, verbose=False)
        images, _ = next(iter(ds))
        np.testing.assert_allclose(images.numpy()[0],
                                   _reference_resize(pixels[None], (8, 8), method, False)[0],
                                   rtol=1e-5, atol=1e-3)


# ---------------------------------------------------------------------- batch renormalization
def _copy_weights(ours, theirs):
    for mine, other in zip(ours.weights, theirs.weights):
        assert mine.name == other.name
        mine.assign(to_numpy(other.value))


@pytest.mark.parametrize("kwargs", [{}, {"renorm_clipping": {"rmax": 1.05, "rmin": 0.9,
                                                              "dmax": 0.05},
                                         "renorm_momentum": 0.5, "center": False},
                                    {"scale": False, "axis": 1, "momentum": 0.8}])
def test_batch_renormalization_matches_keras(kwargs):
    k = import_keras()
    batches = [np.random.RandomState(i).rand(6, 5, 4).astype("float32") * (2 + i) + i
               for i in range(3)]
    ours = keras.layers.BatchNormalization(renorm=True, **kwargs)
    theirs = k.layers.BatchNormalization(renorm=True, **kwargs)
    ours.build(batches[0].shape)
    theirs.build(batches[0].shape)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    for w in theirs.weights:  # move off the initial values so r, d and clipping matter
        if w.name in ("renorm_mean", "renorm_stddev", "gamma", "beta"):
            w.assign(np.linspace(0.5, 1.5, w.shape[0]).astype("float32"))
    _copy_weights(ours, theirs)
    for x in batches:
        assert_matches(ours(x, training=True), theirs(x, training=True), rtol=1e-5, atol=1e-5)
        for mine, other in zip(ours.weights, theirs.weights):
            assert_matches(mine, other.value, rtol=1e-5, atol=1e-6, what=mine.name)
    assert_matches(ours(batches[0], training=False), theirs(batches[0], training=False),
                   rtol=1e-5, atol=1e-5)
    config = ours.get_config()
    assert config["renorm"] and config["renorm_clipping"] == theirs.get_config()[
        "renorm_clipping"]


def test_batch_renormalization_gradient_treats_r_and_d_as_constants():
    x = tf.constant(np.random.RandomState(0).rand(8, 3).astype("float64") * 3)
    layer = keras.layers.BatchNormalization(renorm=True, dtype="float64")
    layer.build((8, 3))
    layer.renorm_stddev.assign([0.5, 1.0, 2.0])
    layer.renorm_mean.assign([1.0, 1.5, 0.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer(x, training=True) * np.arange(24.0).reshape(8, 3))
    grad = tape.gradient(loss, x).numpy()

    def forward(values, r, d):
        mean, var = values.mean(0), values.var(0)
        return (((values - mean) / np.sqrt(var + 1e-3)) * r + d) * np.arange(24.0).reshape(8, 3)

    xv = x.numpy()
    std = np.sqrt(xv.var(0) + 1e-3)
    r, d = std / [0.5, 1.0, 2.0], (xv.mean(0) - [1.0, 1.5, 0.0]) / [0.5, 1.0, 2.0]
    numeric = np.zeros_like(xv)
    for index in np.ndindex(*xv.shape):
        bump = np.zeros_like(xv)
        bump[index] = 1e-6
        numeric[index] = (forward(xv + bump, r, d).sum() - forward(xv - bump, r, d).sum()) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_batch_renormalization_rejects_bad_clipping():
    with pytest.raises(ValueError, match="invalid keys.*'r'"):
        keras.layers.BatchNormalization(renorm=True, renorm_clipping={"r": 1.0})
    with pytest.raises(ValueError, match="rmax must be >= rmin"):
        keras.layers.BatchNormalization(renorm=True, renorm_clipping={"rmax": 1, "rmin": 2})


# ---------------------------------------------------------------------- dict inputs
@pytest.mark.parametrize("name, args", [("Resizing", (3, 5)), ("Resizing", (12, 10)),
                                        ("CenterCrop", (4, 4)), ("CenterCrop", (8, 10)),
                                        ("RandomFlip", ())])
def test_dict_inputs_transform_masks_like_keras(name, args):
    k = import_keras()
    images = _images((2, 6, 8, 3))
    masks = np.random.RandomState(1).randint(0, 4, (2, 6, 8, 1)).astype("int32")
    data = {"images": images, "labels": np.array([1, 2]), "segmentation_masks": masks}
    ours = getattr(keras.layers, name)(*args)(data, training=False)
    theirs = getattr(k.layers, name)(*args)(data, training=False)
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        assert ours[key].dtype.name == str(theirs[key].dtype).replace("torch.", "")
        assert_matches(ours[key], theirs[key], rtol=1e-5, atol=1e-5, what=key)


@pytest.mark.parametrize("name, args", [("RandomRotation", (0.2,)), ("RandomZoom", (0.2,)),
                                        ("RandomTranslation", (0.2, 0.2)),
                                        ("RandomContrast", (0.3,)),
                                        ("RandomBrightness", (0.2,))])
def test_dict_inputs_of_random_layers_at_inference_like_keras(name, args):
    k = import_keras()
    masks = np.random.RandomState(1).randint(0, 4, (2, 6, 8, 1)).astype("int32")
    data = {"images": _images((2, 6, 8, 3)), "labels": np.array([1, 2]),
            "segmentation_masks": masks}
    ours = getattr(keras.layers, name)(*args)(data, training=False)
    theirs = getattr(k.layers, name)(*args)(data, training=False)
    for key in ours:
        assert ours[key].dtype.name == str(theirs[key].dtype).replace("torch.", "")
        assert_matches(ours[key], theirs[key], what=key)


@pytest.mark.parametrize("layer", [
    lambda: keras.layers.RandomRotation(0.3, interpolation="nearest", seed=1),
    lambda: keras.layers.RandomZoom(0.3, interpolation="nearest", seed=2),
    lambda: keras.layers.RandomTranslation(0.3, 0.3, interpolation="nearest", seed=3),
    lambda: keras.layers.RandomCrop(4, 5, seed=4)])
def test_random_layers_move_masks_with_their_images(layer):
    masks = np.random.RandomState(1).randint(0, 4, (3, 6, 8, 1)).astype("int32")
    images = np.concatenate([masks.astype("float32"), _images((3, 6, 8, 2))], axis=-1)
    out = layer()({"images": images, "segmentation_masks": masks}, training=True)
    assert out["segmentation_masks"].dtype.name in ("int32", "float32")
    np.testing.assert_array_equal(out["segmentation_masks"].numpy().astype("float32"),
                                  out["images"].numpy()[..., :1])
    result = out["images"].numpy()
    assert result.shape != images.shape or not np.allclose(result, images)  # it transformed


def test_random_flip_flips_images_and_masks_together():
    images = _images((8, 4, 5, 1))
    out = keras.layers.RandomFlip("horizontal", seed=3)(
        {"images": images, "segmentation_masks": images * 10.0}, training=True)
    flipped = out["images"].numpy()
    assert not np.allclose(flipped, images)  # some of the 8 images were flipped
    np.testing.assert_allclose(out["segmentation_masks"].numpy(), flipped * 10.0, rtol=1e-6)
    for image, result in zip(images, flipped):
        assert np.array_equal(result, image) or np.array_equal(result, image[:, ::-1])


def test_dict_inputs_without_images_or_box_format_say_so():
    with pytest.raises(ValueError, match="bounding box format"):
        keras.layers.RandomRotation(0.1)({"images": _images(), "bounding_boxes": {}})
    assert keras.layers.RandomFlip(bounding_box_format="xyxy").bounding_box_format == "xyxy"
    with pytest.raises(ValueError, match="'images' key"):
        keras.layers.Resizing(2, 2)({"pixels": _images()})
