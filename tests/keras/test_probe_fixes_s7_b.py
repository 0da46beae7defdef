"""Probe round s7 (b): image_dataset_from_directory's crop_to_aspect_ratio/pad_to_aspect_ratio,
TextVectorization's split="character", ragged=True and config, lookups with num_oov_indices=0
inside traced calls, and scatter/segment ops on shapes known only at run time.

Keras's directory loader and text layers need TensorFlow even on the torch backend, so their
expected values were recorded from Keras 3.15.1 with TensorFlow 2.21 running these very
inputs (noted "recorded"); resizing is compared live with Keras on torch, and the ops with
NumPy float64 and central finite differences.
"""

import json
import os
import sys

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors, keras
from tensorflux.ops import indexing
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401
from tests.test_io_images import png_bytes
from tests.tolerances import central_difference

# ---------------------------------------------------------------- image_dataset_from_directory

SHAPES = {"a": [(10, 12, 3), (13, 7, 3), (9, 9, 3)], "b": [(12, 16, 3), (8, 5, 3), (7, 11)]}


@pytest.fixture
def image_folder(tmp_path):
    """Six PNGs of known pixels (the last one grey), written without Pillow."""
    rng = np.random.default_rng(3)
    pixels = []
    for name, shapes in SHAPES.items():
        os.makedirs(tmp_path / name)
        for i, shape in enumerate(shapes):
            pixels.append(rng.integers(0, 256, shape))
            (tmp_path / name / f"{i}.png").write_bytes(
                png_bytes(pixels[-1], 8, 2 if len(shape) == 3 else 0))
    return tmp_path, pixels


# Per-image sums recorded from Keras 3.15.1 / TensorFlow 2.21 (batch_size=None, no shuffle).
RECORDED = [
    ({"crop_to_aspect_ratio": True, "image_size": (6, 6)}, "float32", (6, 6, 3),
     [13726.555, 13764.681, 13207.375, 12629.75, 14718.75, 13896.854]),
    ({"pad_to_aspect_ratio": True, "image_size": (6, 6)}, "float32", (6, 6, 3),
     [11440.5, 6659.861, 13207.375, 8410.833, 7328.389, 6461.334]),
    ({"crop_to_aspect_ratio": True, "image_size": (5, 9), "interpolation": "nearest"}, "uint8",
     (5, 9, 3), [17564, 16629, 17153, 16094, 17740, 18852]),
    ({"pad_to_aspect_ratio": True, "image_size": (9, 4)}, "float32", (9, 4, 3),
     [4700.833, 10755.178, 6364.219, 4326.25, 9929.563, 3142.594]),
    ({"crop_to_aspect_ratio": True, "image_size": (4, 4), "color_mode": "grayscale"},
     "float32", (4, 4, 1), [2041.375, 2016.5, 2190.703, 2023.0, 2351.219, 2096.094]),
    ({"pad_to_aspect_ratio": True, "image_size": (5, 5), "color_mode": "rgba",
      "interpolation": "nearest"}, "uint8", (5, 5, 4),
     [13061, 6687, 14552, 8639, 9549, 9036]),
]


def _images(folder, **kwargs):
    ds = keras.utils.image_dataset_from_directory(folder, batch_size=None, shuffle=False,
                                                  verbose=False, **kwargs)
    return [x.numpy() for x, _ in ds], ds


@pytest.mark.parametrize("kwargs,dtype,shape,sums", RECORDED,
                         ids=[f"case{i}" for i in range(len(RECORDED))])
def test_aspect_ratio_options_match_recorded_keras(image_folder, kwargs, dtype, shape, sums):
    folder, _ = image_folder
    images, ds = _images(folder, **kwargs)
    assert ds.element_spec[0].dtype.name == dtype
    assert all(image.shape == shape and image.dtype.name == dtype for image in images)
    np.testing.assert_allclose([image.astype(np.float64).sum() for image in images], sums,
                               rtol=2e-7, atol=1e-3)


@pytest.mark.keras_oracle
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (raised inside Keras)
def test_crop_and_pad_match_keras_resizing_pixel_for_pixel(image_folder):
    k = import_keras()
    folder, pixels = image_folder
    size = (5, 9)
    cropped, _ = _images(folder, image_size=size, crop_to_aspect_ratio=True)
    padded, _ = _images(folder, image_size=size, pad_to_aspect_ratio=True)
    for source, crop, pad in zip(pixels[:5], cropped, padded):  # the RGB ones
        x = source.astype(np.float32)
        assert_matches(crop, k.preprocessing.image.smart_resize(x, size), rtol=1e-5,
                       atol=1e-3)
        # tf.image.resize_with_pad: fit inside keeping the aspect ratio (sizes in float32,
        # floored), then centre on zeros.
        height, width = np.float32(x.shape[0]), np.float32(x.shape[1])
        ratio = max(width / np.float32(size[1]), height / np.float32(size[0]))
        inner = (int(np.floor(height / ratio)), int(np.floor(width / ratio)))
        top = int(np.floor((np.float32(size[0]) - height / ratio) / 2))
        left = int(np.floor((np.float32(size[1]) - width / ratio) / 2))
        resized = np.asarray(k.ops.convert_to_numpy(k.ops.image.resize(x, inner)))
        expected = np.zeros(size + (3,), np.float32)
        expected[top:top + inner[0], left:left + inner[1]] = resized
        assert_matches(pad, expected, rtol=1e-5, atol=1e-3)


def test_aspect_ratio_argument_checks_and_channels_first(image_folder):
    folder, _ = image_folder
    with pytest.raises(ValueError, match="Only one of `pad_to_aspect_ratio`"):
        keras.utils.image_dataset_from_directory(folder, crop_to_aspect_ratio=True,
                                                 pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="interpolation"):
        keras.utils.image_dataset_from_directory(folder, interpolation="cubic")
    first, _ = _images(folder, image_size=(4, 6), pad_to_aspect_ratio=True,
                       data_format="channels_first")
    last, _ = _images(folder, image_size=(4, 6), pad_to_aspect_ratio=True)
    np.testing.assert_array_equal(first[0], last[0].transpose(2, 0, 1))


def test_png_folders_load_without_pillow(image_folder, monkeypatch):
    folder, _ = image_folder
    monkeypatch.setitem(sys.modules, "PIL", None)
    images, _ = _images(folder, image_size=(6, 6), crop_to_aspect_ratio=True)
    np.testing.assert_allclose(images[0].sum(), RECORDED[0][3][0], rtol=1e-6)


# ---------------------------------------------------------------- TextVectorization

TEXTS = ["Hello, World!", "abc  ab", "", "héllo ünïcode", "zz top"]


def test_character_split_matches_recorded_keras():
    layer = keras.layers.TextVectorization(split="character", max_tokens=12)
    layer.adapt(TEXTS)
    assert layer.get_vocabulary() == ["", "[UNK]", "o", "l", " ", "z", "h", "e", "d", "c",
                                      "b", "a"]
    expected = [[6, 7, 3, 3, 2, 4, 1, 2, 1, 3, 8, 0, 0], [11, 10, 9, 4, 4, 11, 10] + [0] * 6,
                [0] * 13, [6, 1, 3, 3, 2, 4, 1, 1, 1, 9, 2, 8, 7], [5, 5, 4, 1, 2, 1] + [0] * 7]
    assert layer(TEXTS).numpy().tolist() == expected
    assert layer(np.array(TEXTS)[:, None]).numpy().tolist() == expected
    assert layer("abca").numpy().tolist() == [11, 10, 9, 11]
    fixed = keras.layers.TextVectorization(split="character", output_sequence_length=5,
                                           standardize=None, vocabulary=["a", "b", " "])
    assert fixed(TEXTS).numpy().tolist() == [[1, 1, 1, 1, 1], [2, 3, 1, 4, 4], [0] * 5,
                                             [1, 1, 1, 1, 1], [1, 1, 4, 1, 1]]
    # The same inside a traced model and a Dataset.map.
    inputs = keras.Input((1,), dtype="string")
    model = keras.Model(inputs, layer(inputs))
    assert model.predict(np.array(TEXTS)[:, None], verbose=0).tolist() == expected
    mapped = tf.data.Dataset.from_tensor_slices(TEXTS).batch(2).map(layer)
    # Each batch is padded to its own longest text, as Keras's ragged-to-dense does.
    assert [batch.numpy().tolist() for batch in mapped] == [
        [row[:11] for row in expected[:2]], expected[2:4], [expected[4][:6]]]


def test_character_ngrams_multi_hot_vocabulary_matches_recorded_keras():
    layer = keras.layers.TextVectorization(split="character", output_mode="multi_hot",
                                           ngrams=2)
    layer.adapt(TEXTS)
    assert layer.get_vocabulary()[:16] == ["[UNK]", "o", "l", " ", "z", "o  ", "l o", "l l",
                                           "h", "e", "d", "c", "b", "a b", "a", "ü n"]
    assert layer.vocabulary_size() == 48
    hot = layer(["ab"]).numpy()
    assert hot.shape == (1, 48) and hot[0].sum() == 3  # "a", "b" and "a b"


def test_config_is_keras_key_for_key():
    layer = keras.layers.TextVectorization(split="character", max_tokens=12)
    layer.adapt(TEXTS)
    config = layer.get_config()
    # Key order and values recorded from Keras (name and dtype policy aside).
    assert list(config) == ["name", "trainable", "dtype", "max_tokens", "standardize", "split",
                            "ngrams", "output_mode", "output_sequence_length",
                            "pad_to_max_tokens", "sparse", "ragged", "vocabulary",
                            "idf_weights", "encoding", "vocabulary_size"]
    assert {k: v for k, v in config.items() if k not in ("name", "dtype")} == {
        "trainable": True, "max_tokens": 12, "standardize": "lower_and_strip_punctuation",
        "split": "character", "ngrams": None, "output_mode": "int",
        "output_sequence_length": None, "pad_to_max_tokens": False, "sparse": False,
        "ragged": False, "vocabulary": None, "idf_weights": None, "encoding": "utf-8",
        "vocabulary_size": 12}
    clone = keras.layers.TextVectorization.from_config(json.loads(json.dumps(config)))
    assert clone.get_config()["split"] == "character"


def test_adapted_multi_hot_model_reloads_at_its_vocabulary_size(tmp_path):
    layer = keras.layers.TextVectorization(output_mode="multi_hot")
    layer.adapt(["a b c", "a d"])
    inputs = keras.Input((1,), dtype="string")
    model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
    model.save(tmp_path / "m.keras")
    # The Dense kernel is (5, 2): rebuilding the model before the vocabulary asset is read
    # needs the config's vocabulary_size.
    loaded = keras.models.load_model(tmp_path / "m.keras")
    x = np.array([["a b"], ["d zz"]])
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ---------------------------------------------------------------- lookups, num_oov_indices=0

def _oov_message(values):
    return (r"When `num_oov_indices=0` all inputs should be in vocabulary, found OOV values "
            rf"\[{values}\], consider setting `num_oov_indices=1`\.")


@pytest.mark.parametrize("kind", ["integer", "string"])
def test_zero_oov_indices_are_checked_when_traced_calls_run(kind):
    if kind == "integer":
        layer = keras.layers.IntegerLookup(vocabulary=[10, 20], num_oov_indices=0)
        good, bad, found = [[10, 20], [20, 20]], [[10, 30], [40, 20]], "30 40"
        inputs = keras.Input((2,), dtype="int64")
    else:
        layer = keras.layers.StringLookup(vocabulary=["a", "b"], num_oov_indices=0)
        good, bad, found = [["a", "b"], ["b", "b"]], [["a", "zz"], ["b", "q"]], '"zz" "q"'
        inputs = keras.Input((2,), dtype="string")
    # Keras's message (recorded from Keras on TensorFlow), eagerly and in a traced predict.
    with pytest.raises(errors.InvalidArgumentError, match=_oov_message(found)):
        layer(np.array(bad))
    model = keras.Model(inputs, layer(inputs))
    assert model.predict(np.array(good), verbose=0).tolist() == [[0, 1], [1, 1]]
    with pytest.raises(errors.InvalidArgumentError, match=_oov_message(found)):
        model.predict(np.array(bad), verbose=0)
    mapped = tf.data.Dataset.from_tensor_slices(np.array(bad)).map(layer)
    with pytest.raises(errors.InvalidArgumentError, match="found OOV values"):
        list(mapped)


def test_zero_oov_indices_summary_and_mask():
    layer = keras.layers.IntegerLookup(vocabulary=list(range(20)), num_oov_indices=0)
    with pytest.raises(errors.InvalidArgumentError,
                       match=_oov_message("20 21 22 ... 37 38 39")):
        layer(np.arange(5, 40))
    masked = keras.layers.StringLookup(vocabulary=["a", "b"], num_oov_indices=0,
                                       mask_token="")
    assert masked(np.array([["a", ""], ["b", "a"]])).numpy().tolist() == [[1, 0], [2, 1]]


def test_lookup_configs_are_keras_key_for_key():
    string = keras.layers.StringLookup(vocabulary=["a", "b"], mask_token="").get_config()
    assert list(string)[3:] == ["invert", "max_tokens", "num_oov_indices", "oov_token",
                                "mask_token", "output_mode", "sparse", "pad_to_max_tokens",
                                "idf_weights", "vocabulary", "vocabulary_size", "oov_method",
                                "salt", "encoding"]
    assert (string["vocabulary_size"], string["oov_method"], string["salt"]) == (
        4, "floormod", None)
    integer = keras.layers.IntegerLookup(num_oov_indices=2, max_tokens=10).get_config()
    assert list(integer)[3:] == ["invert", "max_tokens", "num_oov_indices", "oov_token",
                                 "mask_token", "output_mode", "sparse", "pad_to_max_tokens",
                                 "vocabulary_dtype", "idf_weights", "vocabulary",
                                 "vocabulary_size", "oov_method", "salt"]
    assert integer["vocabulary_size"] is None
    counted = keras.layers.IntegerLookup(output_mode="count")
    counted.adapt(np.array([1, 2, 2, 5]))
    assert counted.get_config()["vocabulary_size"] == 4
    assert keras.layers.IntegerLookup(salt=3, oov_method="farmhash").get_config()["salt"] == [
        3, 3]
    with pytest.raises(ValueError, match="salt"):
        keras.layers.IntegerLookup(salt=3)
    with pytest.raises(ValueError, match="oov_method"):
        keras.layers.IntegerLookup(oov_method="modulo")


# ---------------------------------------------------------------- scatter and segment ops

def _scatter_reference(tensor, indices, updates, combine):
    out = np.array(tensor, np.float64)
    key = tuple(np.moveaxis(np.asarray(indices), -1, 0))
    if combine is None:
        out[key] = updates
    else:
        combine.at(out, key, updates)
    return out


SCATTERS = [("tensor_scatter_nd_update", None), ("tensor_scatter_nd_add", np.add),
            ("tensor_scatter_nd_sub", np.subtract), ("tensor_scatter_nd_max", np.maximum),
            ("tensor_scatter_nd_min", np.minimum)]


@pytest.mark.parametrize("name,combine", SCATTERS, ids=[s[0] for s in SCATTERS])
def test_tensor_scatters_run_on_run_time_shapes(name, combine):
    rng = np.random.default_rng(0)
    tensor = rng.normal(size=(4, 3))
    indices = np.array([[2], [0], [2]] if combine is not None else [[2], [0]])
    updates = rng.normal(size=(len(indices), 3))
    op = getattr(indexing, name)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float64),
                                  tf.TensorSpec([None, 1], tf.int32),
                                  tf.TensorSpec([None, None], tf.float64)])
    def traced(t, i, u):
        return op(t, i, u)

    expected = _scatter_reference(tensor, indices, updates, combine)
    np.testing.assert_allclose(traced(tensor, indices, updates).numpy(), expected)
    np.testing.assert_allclose(op(tensor, indices, updates).numpy(), expected)


def test_scatter_nd_takes_a_run_time_shape_and_gather_nd_grads_on_unknown_dims():
    updates = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float64)])
    def traced(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.gather_nd(x, [[1, 0], [1, 0], [0, 2]]) * [1.0, 2.0, 3.0])
        return (tf.scatter_nd([[1], [1]], updates, tf.shape(x)),
                tf.scatter_nd([[0]], updates[:1], [tf.shape(x)[0], 3]), tape.gradient(y, x))

    scattered, first_row, grad = traced(np.zeros((3, 3)))
    np.testing.assert_allclose(scattered.numpy(), [[0, 0, 0], [5, 7, 9], [0, 0, 0]])
    np.testing.assert_allclose(first_row.numpy(), [[1, 2, 3], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(grad.numpy(), [[0, 0, 3], [3, 0, 0], [0, 0, 0]])


@pytest.mark.parametrize("name", ["tensor_scatter_nd_max", "tensor_scatter_nd_min",
                                  "tensor_scatter_nd_sub"])
def test_scatter_gradients_match_finite_differences(name):
    rng = np.random.default_rng(1)
    tensor, updates = rng.normal(size=(5,)), rng.normal(size=(4,))
    indices = np.array([[1], [3], [1], [4]])
    weights = rng.normal(size=(5,))
    op = getattr(indexing, name)

    def loss(t, u):
        return float(np.sum(op(t, indices, u).numpy() * weights))

    t, u = tf.constant(tensor), tf.constant(updates)
    with tf.GradientTape() as tape:
        tape.watch([t, u])
        value = tf.reduce_sum(op(t, indices, u) * weights)
    got_t, got_u = tape.gradient(value, [t, u])
    np.testing.assert_allclose(got_t.numpy(), central_difference(
        lambda v: loss(v, updates), tensor), atol=1e-6)
    np.testing.assert_allclose(got_u.numpy(), central_difference(
        lambda v: loss(tensor, v), updates), atol=1e-6)


def test_scatter_max_splits_the_gradient_between_ties():
    # TensorFlow's rule: equal winners share the cotangent evenly.
    t, u = tf.constant([1.0, 5.0]), tf.constant([5.0, 5.0, 0.0])
    with tf.GradientTape() as tape:
        tape.watch([t, u])
        value = tf.reduce_sum(indexing.tensor_scatter_nd_max(t, [[1], [1], [0]], u))
    got_t, got_u = tape.gradient(value, [t, u])
    np.testing.assert_allclose(got_t.numpy(), [1.0, 1 / 3])
    np.testing.assert_allclose(got_u.numpy(), [1 / 3, 1 / 3, 0.0])


def _segments_reference(data, ids, count, reduce):
    out = []
    for s in range(count):
        rows = data[ids == s]
        out.append(reduce(rows, axis=0) if len(rows) else None)
    return out


def test_unsorted_segments_take_a_run_time_num_segments():
    rng = np.random.default_rng(2)
    data, ids = rng.normal(size=(6, 2)), np.array([0, 3, 0, 1, 3, 3])

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float64),
                                  tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([], tf.int32)])
    def traced(x, segment_ids, count):
        return [f(x, segment_ids, count) for f in (
            tf.math.unsorted_segment_sum, tf.math.unsorted_segment_mean,
            tf.math.unsorted_segment_max, tf.math.unsorted_segment_min)]

    results = traced(data, ids, 5)
    for got, reduce, empty in zip(results, (np.sum, np.mean, np.max, np.min),
                                  (0.0, 0.0, np.finfo(np.float64).min,
                                   np.finfo(np.float64).max)):
        assert got.shape == (5, 2)
        expected = [np.full(2, empty) if r is None else r
                    for r in _segments_reference(data, ids, 5, reduce)]
        np.testing.assert_allclose(got.numpy(), expected)
    eager = tf.math.unsorted_segment_sum(data, ids, tf.constant(4))
    np.testing.assert_allclose(eager.numpy()[:, 0], [data[[0, 2], 0].sum(), data[3, 0], 0.0,
                                                     data[[1, 4, 5], 0].sum()])
