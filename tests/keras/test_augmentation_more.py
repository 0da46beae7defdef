"""Keras 3's newer image augmentation layers (colour, histogram, geometric, mixing, policies,
MaxNumBoundingBoxes). Real Keras 3 is the oracle: its layers draw a transformation, and ours
must turn the same images into the same pixels with it (random streams differ, the
transforms must not); settings that make a layer deterministic compare whole calls. The
random parts are checked by their statistics and seeds."""

import inspect
import json
import random

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.layers.preprocessing._augmentation import _gaussian_blur, _sample
from tensorflux.keras.saving.serialization import (
    deserialize_keras_object,
    serialize_keras_object,
)
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401

pytestmark = pytest.mark.keras_oracle


def _images(shape=(3, 8, 8, 3), seed=0, high=255.0):
    return np.random.default_rng(seed).uniform(0, high, size=shape).astype("float32")


def _plain(value):
    """A Keras transformation with its tensors as NumPy arrays."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy().copy()
    return value


def _theirs(k, x):
    """A Keras tensor of a copy of `x` (torch shares NumPy's memory, and Keras's brightness
    adds in place)."""
    return k.ops.convert_to_tensor(np.array(x))


# Layer, arguments, images: (shape, high), data_format.
KERAS_DRAWS = [
    ("RandomHue", {"factor": 0.5}, 255.0),
    ("RandomHue", {"factor": (0.2, 0.8), "value_range": (0, 1),
                   "data_format": "channels_first"}, 1.0),
    ("RandomSaturation", {"factor": 0.5}, 255.0),
    ("RandomSaturation", {"factor": (0.3, 0.9), "value_range": (0, 1)}, 1.0),
    ("RandomGrayscale", {"factor": 0.5}, 255.0),
    ("RandomInvert", {"factor": 0.5}, 255.0),
    ("RandomPosterization", {"factor": (2, 6)}, 255.0),
    ("RandomPosterization", {"factor": 4, "value_range": (0, 1)}, 1.0),
    ("Solarization", {"addition_factor": 0.2, "threshold_factor": (0.3, 0.7)}, 255.0),
    ("RandomSharpness", {"factor": 0.7}, 255.0),
    ("RandomSharpness", {"factor": (0.1, 0.9), "data_format": "channels_first"}, 255.0),
    ("RandomColorDegeneration", {"factor": 0.6}, 255.0),
    ("RandomGaussianBlur", {"factor": 0.8, "kernel_size": 5, "sigma": 0.7}, 255.0),
    ("RandomGaussianBlur", {"sigma": (0.4, 0.9), "data_format": "channels_first"}, 255.0),
    ("AutoContrast", {}, 255.0),
    ("AutoContrast", {"value_range": (0, 1)}, 1.0),
    ("Equalization", {}, 255.0),
    ("Equalization", {"bins": 64, "value_range": (0, 1)}, 1.0),
    # Keras on torch counts histograms in int64 and so truncates the clip limit (TensorFlow and
    # JAX count in float32, as here): limits that are whole numbers compare.
    ("ContrastLimitedAdaptiveHistogramEqualization",
     {"tile_grid_size": (1, 2), "clip_limit": 8.0}, 255.0),
    ("ContrastLimitedAdaptiveHistogramEqualization",
     {"tile_grid_size": (3, 3), "clip_limit": 0.0, "value_range": (0, 1)}, 1.0),
    ("RandomShear", {"x_factor": 0.3, "y_factor": 0.2}, 255.0),
    ("RandomShear", {"x_factor": (0.1, 0.4), "fill_mode": "constant", "fill_value": 7.0,
                     "data_format": "channels_first"}, 255.0),
    ("RandomPerspective", {"scale": 0.5, "factor": 0.8}, 255.0),
    ("RandomPerspective", {"interpolation": "nearest", "fill_value": 3.0}, 255.0),
    ("MixUp", {"alpha": 0.4}, 255.0),
    ("CutMix", {}, 255.0),
    ("CutMix", {"factor": 0.5, "data_format": "channels_first"}, 255.0),
    ("RandomErasing", {}, 255.0),
    ("RandomErasing", {"fill_value": (10.0, 20.0, 300.0), "scale": (0.2, 0.5)}, 255.0),
    ("RandAugment", {"num_ops": 4, "factor": 0.4}, 255.0),
    ("AugMix", {"num_chains": 2, "chain_depth": 2}, 255.0),
    ("AugMix", {"all_ops": False, "factor": (0.1, 0.5)}, 255.0),
    # The existing layers draw Keras's transformations too (RandAugment and AugMix use them).
    ("RandomRotation", {"factor": 0.2}, 255.0),
    ("RandomTranslation", {"height_factor": 0.2, "width_factor": (-0.1, 0.3)}, 255.0),
    ("RandomZoom", {"height_factor": 0.3, "width_factor": (-0.2, 0.1)}, 255.0),
    ("RandomBrightness", {"factor": 0.3}, 255.0),
    ("RandomContrast", {"factor": 0.4}, 255.0),
]


def _arguments(k, name):
    return inspect.signature(getattr(k.layers, name).__init__).parameters


def _ids(rows):
    return [f"{row[0]}{sorted(row[1].items())}" for row in rows]


@pytest.mark.parametrize("name,kwargs,high", KERAS_DRAWS, ids=_ids(KERAS_DRAWS))
def test_keras_transformations_give_keras_pixels(name, kwargs, high):
    k = import_keras()
    shape = (4, 3, 8, 8) if kwargs.get("data_format") == "channels_first" else (4, 8, 8, 3)
    x = _images(shape, high=high)
    theirs = getattr(k.layers, name)(seed=3, **kwargs) if "seed" in _arguments(k, name) \
        else getattr(k.layers, name)(**kwargs)
    ours = getattr(keras.layers, name)(**kwargs)
    random.seed(4)  # Keras's AugMix picks its chains with Python's random module
    drawn = theirs.get_random_transformation(_theirs(k, x), training=True)
    if name == "RandAugment":
        # Keras on torch adds the brightness offset in place, so every op after brightness
        # sees it, picked or not; with no offset the two agree.
        drawn["transforms"]["random_brightness"]["rgb_delta"] *= 0
    # (Copied first: Keras's affine_transform on torch swaps matrix entries in place.)
    ours_drawn = _plain(drawn)
    expected = theirs.transform_images(_theirs(k, x), drawn)
    got = ours.transform_images(tf.constant(x), ours_drawn)
    assert got.dtype.name == "float32"
    # Sampling and convolutions sum in other orders: float32 rounding, ~1e-6 of the range.
    assert_matches(got, expected, rtol=1e-5, atol=1e-5 * high, what=name)


@pytest.mark.parametrize("name", ["MixUp", "CutMix"])
def test_mixing_labels_and_masks_follow_keras(name):
    k = import_keras()
    x = _images()
    labels = np.eye(4, dtype="float32")[[0, 3, 1]]
    masks = np.random.default_rng(2).integers(0, 3, (3, 8, 8, 1)).astype("float32")
    theirs, ours = getattr(k.layers, name)(seed=2), getattr(keras.layers, name)()
    drawn = theirs.get_random_transformation(_theirs(k, x))
    assert_matches(ours.transform_labels(tf.constant(labels), _plain(drawn)),
                   theirs.transform_labels(_theirs(k, labels), drawn), rtol=1e-6, atol=1e-6)
    if name == "CutMix":  # (Keras's MixUp gathers masks from the flattened array)
        assert_matches(ours.transform_segmentation_masks(tf.constant(masks), _plain(drawn)),
                       theirs.transform_segmentation_masks(_theirs(k, masks), drawn))


# Settings under which a whole call is deterministic, for Keras and here.
DETERMINISTIC = [
    ("RandomInvert", {"factor": (1.0, 1.0)}),
    ("RandomGrayscale", {"factor": 1.0}),
    ("RandomPosterization", {"factor": (3, 3)}),
    ("Solarization", {}),
    ("RandomSharpness", {"factor": (0.8, 0.8)}),
    ("RandomColorDegeneration", {"factor": (0.4, 0.4)}),
    ("RandomSaturation", {"factor": (0.7, 0.7)}),
    ("RandomGaussianBlur", {"factor": (1.0, 1.0), "sigma": (0.5, 0.5)}),
    ("RandomErasing", {"factor": (1.0, 1.0), "scale": (1.0, 1.0), "fill_value": 5.0}),
    ("RandomColorJitter", {"brightness_factor": (0.1, 0.1), "contrast_factor": (0.0, 0.0),
                           "saturation_factor": (0.5, 0.5), "hue_factor": (0.0, 0.0)}),
    ("AutoContrast", {}),
    ("Equalization", {}),
    ("ContrastLimitedAdaptiveHistogramEqualization", {"tile_grid_size": (1, 1)}),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("name,kwargs", DETERMINISTIC, ids=_ids(DETERMINISTIC))
def test_deterministic_calls_match_keras_batched_and_single(name, kwargs, data_format):
    k = import_keras()
    if name == "RandomColorJitter" and data_format == "channels_first":
        pytest.skip("Keras's jitter builds its sub-layers with the default data_format")
    x = _images((3, 8, 8, 3))
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    kwargs = {**kwargs, "data_format": data_format}
    ours, theirs = getattr(keras.layers, name)(**kwargs), getattr(k.layers, name)(**kwargs)
    assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-3, what=name)
    assert_matches(ours(x[1]), theirs(x[1]), rtol=1e-5, atol=1e-3, what=f"{name} (one image)")


AUGMENTATIONS = [
    ("RandomHue", {"factor": 0.5}), ("RandomSaturation", {"factor": 0.5}),
    ("RandomGrayscale", {}), ("RandomInvert", {}), ("RandomPosterization", {"factor": 4}),
    ("Solarization", {"threshold_factor": 0.5}), ("RandomSharpness", {"factor": 0.5}),
    ("RandomColorDegeneration", {"factor": 0.5}), ("RandomGaussianBlur", {}),
    ("RandomColorJitter", {"brightness_factor": 0.2, "hue_factor": 0.3}),
    ("RandomShear", {"x_factor": (0.1, 0.2), "y_factor": (0.0, 0.1)}),
    ("RandomPerspective", {}),
    ("RandomElasticTransform", {}), ("MixUp", {}), ("CutMix", {}), ("RandomErasing", {}),
    ("RandAugment", {}), ("AugMix", {}), ("Equalization", {"bins": 128}),
]


@pytest.mark.parametrize("name,kwargs", AUGMENTATIONS, ids=_ids(AUGMENTATIONS))
def test_inference_passes_through_and_configs_match_keras(name, kwargs):
    k = import_keras()
    x = _images()
    seeded = {} if name == "Equalization" else {"seed": 1}
    ours = getattr(keras.layers, name)(**kwargs, **seeded)
    theirs = getattr(k.layers, name)(**kwargs, **seeded)
    np.testing.assert_array_equal(ours(x, training=False).numpy(), x)
    model = keras.Sequential([keras.Input(x.shape[1:]), getattr(keras.layers, name)(**kwargs)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    ours_config = json.loads(json.dumps(ours.get_config()))
    theirs_config = json.loads(json.dumps(theirs.get_config()))
    assert set(ours_config) == set(theirs_config)
    for key, value in theirs_config.items():
        if key not in ("dtype", "name"):
            assert ours_config[key] == value, key
    text = json.dumps(ours.get_config())
    clone = type(ours).from_config(json.loads(text))
    assert json.dumps(clone.get_config()) == text
    restored = deserialize_keras_object(json.loads(json.dumps(serialize_keras_object(ours))))
    assert type(restored) is type(ours)
    assert type(k.layers.deserialize(json.loads(json.dumps(serialize_keras_object(ours))))) \
        is type(theirs)


@pytest.mark.parametrize("name,kwargs", AUGMENTATIONS, ids=_ids(AUGMENTATIONS))
def test_training_calls_are_seeded_and_keep_shape_and_range(name, kwargs):
    x = _images((4, 8, 8, 3))
    seeded = {} if name == "Equalization" else {"seed": 5}
    first = getattr(keras.layers, name)(**kwargs, **seeded)(x).numpy()
    second = getattr(keras.layers, name)(**kwargs, **seeded)(x).numpy()
    assert first.shape == x.shape and first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, x)
    if name != "RandomSaturation":  # (Keras's saturation may leave the colour cube)
        assert first.min() >= -1e-3 and first.max() <= 255.0 + 1e-3
    single = getattr(keras.layers, name)(**kwargs, **seeded)(x[0]).numpy()
    assert single.shape == x.shape[1:]


def test_probabilities_and_ranges_of_random_draws():
    x = np.broadcast_to(_images((1, 2, 2, 3), seed=4), (400, 2, 2, 3))
    gray = keras.layers.RandomGrayscale(0.3, seed=1)(x).numpy()
    turned = np.isclose(gray[..., 0], gray[..., 1]).all(axis=(1, 2))
    assert 80 < turned.sum() < 160  # ~120
    inverted = keras.layers.RandomInvert(seed=1)(x).numpy()  # P = E[U(0, 1)] = 1/2
    flipped = np.isclose(inverted, 255.0 - x).all(axis=(1, 2, 3))
    assert (flipped | np.isclose(inverted, x).all(axis=(1, 2, 3))).all()
    assert 150 < flipped.sum() < 250
    poster = keras.layers.RandomPosterization(4, seed=1)(x).numpy()  # 1 to 3 bits kept
    assert np.all(poster % 32 == 0) and len(np.unique(poster % 128)) > 1
    hue = keras.layers.RandomHue((0.2, 0.2), seed=1)(x).numpy()
    assert hue.min() >= 0 and hue.max() <= 255
    # The hue turns by +-0.1 of the circle: both signs occur.
    assert len({row.round(2).tobytes() for row in hue[:, 0, 0]}) == 2


def test_mixup_and_cutmix_mix_images_and_labels_consistently():
    x = np.stack([np.full((6, 6, 1), float(i)) for i in range(8)]).astype("float32")
    labels = np.eye(8, dtype="float32")
    out = keras.layers.MixUp(alpha=0.5, seed=2)({"images": x, "labels": labels})
    # Each image is w * x_i + (1 - w) * x_j, and its labels carry the same weights.
    mixed, weights = out["images"].numpy()[:, 0, 0, 0], out["labels"].numpy()
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(weights @ np.arange(8.0), mixed, rtol=1e-5, atol=1e-5)
    out = keras.layers.CutMix(seed=3)({"images": x, "labels": labels})
    images, weights = out["images"].numpy(), out["labels"].numpy()
    for image, weight in zip(images, weights):
        shares = np.bincount(image.astype(int).ravel(), minlength=8) / image.size
        # The labels follow the box's area (Keras's continuous box, so not to the pixel).
        np.testing.assert_allclose(weight, shares, atol=0.35)
        assert set(np.unique(image)) <= set(np.nonzero(weight > 0)[0].astype(float))


def test_random_erasing_and_elastic_statistics():
    x = np.full((200, 10, 10, 1), 100.0, "float32")
    out = keras.layers.RandomErasing(fill_value=0.0, seed=1)(x).numpy()
    erased = (out == 0).any(axis=(1, 2, 3))
    assert 60 < erased.sum() < 140  # P = 1/2
    area = (out[erased] == 0).mean(axis=(1, 2, 3))
    assert area.min() > 0 and area.max() < 0.5  # boxes of 2% to 33% of the image
    ramp = np.broadcast_to(np.arange(16, dtype="float32")[None, None, :, None] * 10,
                           (4, 16, 16, 1))
    warped = keras.layers.RandomElasticTransform(factor=(1.0, 1.0), seed=2)(ramp).numpy()
    assert warped.min() >= 0 and warped.max() <= 150 + 1e-3
    assert 0 < np.abs(warped - ramp).mean() < 40  # moved, smoothly (no scrambling)
    unmoved = keras.layers.RandomElasticTransform(scale=0.0, seed=2)(ramp).numpy()
    np.testing.assert_array_equal(unmoved, ramp)


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
@pytest.mark.parametrize("order", [0, 1])
def test_sampling_matches_keras_map_coordinates(fill_mode, order):
    k = import_keras()
    image = _images((1, 5, 6, 1))
    rng = np.random.default_rng(3)
    rows = rng.uniform(-4, 9, (1, 7, 4)).astype("float32")
    cols = rng.uniform(-4, 10, (1, 7, 4)).astype("float32")
    ours = _sample(tf.constant(image), tf.constant(rows), tf.constant(cols), order,
                   fill_mode, 2.5)
    theirs = k.ops.image.map_coordinates(image[0, ..., 0], [rows[0], cols[0]], order,
                                         fill_mode=fill_mode, fill_value=2.5)
    assert_matches(ours[0, ..., 0], theirs, rtol=1e-5, atol=1e-4)


def test_gaussian_blur_matches_keras():
    k = import_keras()
    x = _images((2, 9, 7, 3))
    ours = _gaussian_blur(tf.constant(x), (5, 5), (0.8, 1.7))
    theirs = k.ops.image.gaussian_blur(x, (5, 5), (0.8, 1.7), data_format="channels_last")
    assert_matches(ours, theirs, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name,kwargs", [
    ("ContrastLimitedAdaptiveHistogramEqualization", {"tile_grid_size": (1, 2),
                                                      "clip_limit": 8.0}),
    ("Equalization", {}), ("AutoContrast", {})])
def test_histogram_layers_trace_without_a_batch_size(name, kwargs):
    k = import_keras()
    x = _images()
    layer = getattr(keras.layers, name)(**kwargs)
    traced = tf.function(lambda images: layer(images),
                         input_signature=[tf.TensorSpec([None, 8, 8, 3], "float32")])
    assert_matches(traced(tf.constant(x)), getattr(k.layers, name)(**kwargs)(x), rtol=1e-5,
                   atol=1e-3)


def test_dict_inputs_labels_masks_and_bounding_boxes():
    k = import_keras()
    x = _images((2, 8, 8, 3))
    labels = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    out = keras.layers.RandomHue(0.5, seed=1)({"images": x, "labels": labels})
    np.testing.assert_array_equal(out["labels"].numpy(), labels)
    masks = np.zeros((2, 8, 8, 1), "float32")
    masks[:, 2:5, 3:6] = 2.0
    shear = keras.layers.RandomShear(0.3, 0.3, seed=1)
    out = shear({"images": x, "segmentation_masks": masks})
    assert set(np.unique(out["segmentation_masks"].numpy())) <= {0.0, 2.0}  # nearest
    single = shear({"images": x[0], "segmentation_masks": masks[0]})
    assert single["images"].shape == (8, 8, 3) and single["segmentation_masks"].shape == (8, 8, 1)
    boxes = {"boxes": np.arange(24, dtype="float32").reshape(2, 3, 4),
             "labels": np.array([[1, 2, 3], [4, 5, 6]], "int32")}
    for number in (2, 5):
        data = {"images": x, "bounding_boxes": boxes}
        ours = keras.layers.MaxNumBoundingBoxes(number, bounding_box_format="xyxy")(data)
        theirs = k.layers.MaxNumBoundingBoxes(number, bounding_box_format="xyxy")(
            {"images": x, "bounding_boxes": dict(boxes)})
        for key in ("boxes", "labels"):
            assert_matches(ours["bounding_boxes"][key], theirs["bounding_boxes"][key])
        np.testing.assert_array_equal(ours["images"].numpy(), x)
    with pytest.raises(ValueError, match="bounding box format"):
        keras.layers.MaxNumBoundingBoxes(2)({"images": x, "bounding_boxes": boxes})
    with pytest.raises(NotImplementedError, match="bounding boxes"):
        keras.layers.RandomElasticTransform(bounding_box_format="xyxy")(
            {"images": x, "bounding_boxes": boxes})


def test_argument_errors_match_keras_messages():
    with pytest.raises(ValueError, match=r"`factor` argument .* range \[0, 1\]"):
        keras.layers.RandomHue(1.5)
    with pytest.raises(ValueError, match="kernel_size must be an odd number"):
        keras.layers.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match="`value_range` argument should be a list of two"):
        keras.layers.AutoContrast(value_range=5)
    with pytest.raises(NotImplementedError, match="fill_mode"):
        keras.layers.RandomShear(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="`scale` argument"):
        keras.layers.RandomPerspective(scale=2.0)
    with pytest.raises(ValueError, match="RandomInvert 'inv' expected images of rank 3"):
        keras.layers.RandomInvert(name="inv")(tf.ones((2, 3)))


def test_augmentation_layers_train_in_a_compiled_model():
    x = _images((8, 8, 8, 3)) / 255.0
    y = x.mean(axis=(1, 2, 3))[:, None]
    model = keras.Sequential([
        keras.Input((8, 8, 3)), keras.layers.RandomHue(0.2, value_range=(0, 1), seed=1),
        keras.layers.RandAugment(value_range=(0, 1), num_ops=1, seed=1),
        keras.layers.RandomErasing(value_range=(0, 1), seed=1),
        keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_keras_files_move_both_ways(tmp_path):
    k = import_keras()
    x = _images((2, 8, 8, 3))

    def build(module):
        return module.Sequential([
            module.Input((8, 8, 3)), module.layers.RandomHue(0.3, seed=1),
            module.layers.RandomShear((0.0, 0.2), fill_mode="constant"),
            module.layers.RandAugment(num_ops=1), module.layers.AutoContrast(),
            module.layers.CutMix(seed=2), module.layers.Flatten(), module.layers.Dense(2)])

    ours = build(keras)
    ours.save(tmp_path / "ours.keras")
    in_keras = k.models.load_model(tmp_path / "ours.keras")
    assert [type(layer).__name__ for layer in in_keras.layers] == \
        [type(layer).__name__ for layer in ours.layers]
    assert list(in_keras.layers[0].get_config()["factor"]) == [0, 0.3]
    np.testing.assert_allclose(to_numpy(in_keras.predict(x, verbose=0)),
                               ours.predict(x, verbose=0), rtol=1e-5, atol=1e-4)
    theirs = build(k)
    theirs.save(tmp_path / "theirs.keras")
    here = keras.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(here.predict(x, verbose=0),
                               to_numpy(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-4)
