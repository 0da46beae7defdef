"""Preprocessing and augmentation layers: Normalization, Resizing, CenterCrop, the random
image layers, TextVectorization, StringLookup and IntegerLookup; real Keras 3 is the oracle
for deterministic outputs, statistics and seeds for the random ones."""

import json

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import data as tfdata
from tensorflux import keras
from tensorflux.keras.saving.serialization import (
    deserialize_keras_object,
    serialize_keras_object,
)
from tensorflux.ops import image as image_ops
from tensorflux.ops import strings
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401


def _images(shape=(2, 7, 9, 3), seed=0):
    return np.random.default_rng(seed).uniform(0, 10, size=shape).astype("float32")


def _round_trip(layer):
    config = layer.get_config()
    text = json.dumps(config)
    clone = type(layer).from_config(json.loads(text))
    assert json.dumps(clone.get_config()) == text
    restored = deserialize_keras_object(json.loads(json.dumps(serialize_keras_object(layer))))
    assert type(restored) is type(layer)
    return clone


# ---------------------------------------------------------------------- image ops
@pytest.mark.keras_oracle
@pytest.mark.parametrize("method", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(3, 4), (10, 13), (7, 20), (14, 5)])
def test_resize_matches_keras(method, size):
    k = import_keras()
    x = _images()
    assert_matches(image_ops.resize(x, size, method=method),
                   k.ops.image.resize(x, size, interpolation=method), rtol=1e-5, atol=1e-5)


def _tf_bicubic_reference(x, size):
    """TensorFlow's resize_bicubic (half-pixel centers, Keys a=-0.5, taps outside the image
    dropped and the others renormalized), one output pixel at a time in float64."""
    def weights(in_size, out_size):
        table = np.zeros((out_size, in_size))
        for o in range(out_size):
            pos = (o + 0.5) * in_size / out_size - 0.5
            base = int(np.floor(pos))
            t = round((pos - base) * 1024) / 1024  # TF's weight table
            for k, d in enumerate((1 + t, t, 1 - t, 2 - t)):
                d = abs(d)
                w = (1.5 * d - 2.5) * d * d + 1 if d <= 1 else \
                    ((-0.5 * d + 2.5) * d - 4) * d + 2 if d < 2 else 0.0
                i = base - 1 + k
                if 0 <= i < in_size:
                    table[o, i] += w
            table[o] /= table[o].sum()
        return table
    wh, ww = weights(x.shape[1], size[0]), weights(x.shape[2], size[1])
    return np.einsum("oh,pw,bhwc->bopc", wh, ww, x.astype(np.float64))


@pytest.mark.parametrize("size", [(3, 4), (11, 13)])
def test_bicubic_resize_is_tensorflows_keys_kernel(size):
    x = _images((1, 6, 7, 2))
    np.testing.assert_allclose(image_ops.resize(x, size, method="bicubic").numpy(),
                               _tf_bicubic_reference(x, size), rtol=1e-5, atol=1e-5)


def test_resize_is_differentiable():
    x = tf.Variable(_images((1, 4, 5, 1)))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(image_ops.resize(x, (7, 3)) * 2.0)
    grad = tape.gradient(y, x).numpy()
    # Every output row of a bilinear resize has weights summing to 1.
    assert grad.sum() == pytest.approx(2.0 * 7 * 3, rel=1e-5)


_TRANSFORMS = np.array([[0.9, -0.3, 1.6, 0.35, 1.1, -2.2, 0, 0],
                        [1.3, 0.1, -3.4, 0.05, 0.8, 1.7, 0, 0]], "float32")


@pytest.mark.keras_oracle
@pytest.mark.parametrize("fill_mode", ["constant", "reflect", "nearest"])
def test_affine_transform_bilinear_matches_keras(fill_mode):
    k = import_keras()
    x = _images()
    ours = image_ops.affine_transform(x, _TRANSFORMS, fill_mode=fill_mode, fill_value=0.5)
    theirs = k.ops.image.affine_transform(x, _TRANSFORMS, fill_mode=fill_mode,
                                          fill_value=0.5)
    assert_matches(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("fill_mode", ["constant", "reflect", "wrap", "nearest"])
def test_affine_transform_integer_shifts_match_keras(fill_mode):
    # Integer shifts: nearest sampling hits no halfway points (TensorFlow rounds halves away
    # from zero, Keras's torch backend to even) and wrap agrees with a true modulo.
    k = import_keras()
    x = _images()
    shift = np.array([[1, 0, 3, 0, 1, -2, 0, 0], [1, 0, -4, 0, 1, 5, 0, 0]], "float32")
    for interpolation in ("nearest", "bilinear"):
        ours = image_ops.affine_transform(x, shift, interpolation=interpolation,
                                          fill_mode=fill_mode)
        theirs = k.ops.image.affine_transform(x, shift, interpolation=interpolation,
                                              fill_mode=fill_mode)
        assert_matches(ours, theirs, rtol=1e-6, atol=1e-6)


def test_affine_transform_gradient_is_the_transposed_sampling():
    # <T x, g> == <x, T^T g> for the linear sampling map.
    rng = np.random.default_rng(2)
    x = tf.Variable(rng.normal(size=(2, 4, 5, 1)))
    g = rng.normal(size=(2, 4, 5, 1))
    with tf.GradientTape() as tape:
        y = image_ops.affine_transform(x, _TRANSFORMS.astype("float64"), fill_mode="reflect")
        inner = tf.reduce_sum(y * g)
    grad = tape.gradient(inner, x).numpy()
    eps = 1e-6
    for index in [(0, 1, 2, 0), (1, 3, 0, 0), (0, 0, 4, 0)]:
        bump = np.zeros(x.shape)
        bump[index] = eps
        plus = image_ops.affine_transform(x.numpy() + bump, _TRANSFORMS.astype("float64"),
                                          fill_mode="reflect").numpy()
        minus = image_ops.affine_transform(x.numpy() - bump, _TRANSFORMS.astype("float64"),
                                           fill_mode="reflect").numpy()
        fd = ((plus - minus) * g).sum() / (2 * eps)
        assert grad[index] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_image_op_errors_name_the_op():
    with pytest.raises(tf.errors.InvalidArgumentError, match="resize.*rank 3 or 4"):
        image_ops.resize(tf.ones((4, 4)), (2, 2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="resize: method"):
        image_ops.resize(tf.ones((1, 4, 4, 1)), (2, 2), method="cubic")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"affine_transform.*\(3, 6\)"):
        image_ops.affine_transform(tf.ones((3, 4, 4, 1)), tf.ones((3, 6)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="affine_transform: fill_mode"):
        image_ops.affine_transform(tf.ones((3, 4, 4, 1)), tf.ones((3, 8)), fill_mode="mirror")


# ---------------------------------------------------------------------- Normalization
@pytest.mark.keras_oracle
@pytest.mark.parametrize("axis,shape", [(-1, (8, 3)), (None, (6, 4)), ((1, 2), (5, 2, 3)),
                                        (1, (4, 3, 2))])
def test_normalization_adapt_matches_keras(axis, shape):
    k = import_keras()
    data = np.random.default_rng(1).normal(3.0, 2.0, size=shape).astype("float32")
    ours, theirs = keras.layers.Normalization(axis=axis), k.layers.Normalization(axis=axis)
    ours.adapt(data)
    theirs.adapt(data)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert not ours.trainable_weights and len(ours.non_trainable_weights) == 3
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert_matches(ours(data), theirs(data), rtol=1e-5, atol=1e-5)
    inverse = keras.layers.Normalization(axis=axis, invert=True)
    inverse.adapt(data)
    np.testing.assert_allclose(inverse(ours(data)).numpy(), data, rtol=1e-5, atol=1e-4)


@pytest.mark.keras_oracle
def test_normalization_with_given_statistics_and_batches_matches_keras():
    k = import_keras()
    x = np.random.default_rng(2).normal(size=(4, 3)).astype("float32")
    kwargs = {"mean": [1.0, 2.0, 3.0], "variance": [4.0, 0.0, 9.0]}
    ours, theirs = keras.layers.Normalization(**kwargs), k.layers.Normalization(**kwargs)
    assert_matches(ours(x), theirs(x))
    assert ours.weights == []
    clone = _round_trip(ours)
    np.testing.assert_array_equal(clone(x).numpy(), ours(x).numpy())
    # An iterable of batches combines statistics with Keras's running update.
    batches = [np.random.default_rng(i).normal(size=(5 + i, 3)).astype("float32")
               for i in range(3)]
    ours, theirs = keras.layers.Normalization(), k.layers.Normalization()
    ours.adapt(batches)
    theirs.adapt(np.concatenate(batches))  # Keras's iterable path needs TensorFlow
    assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_normalization_adapts_on_a_dataset_and_survives_set_weights():
    data = np.random.default_rng(3).normal(size=(20, 2)).astype("float32")
    layer = keras.layers.Normalization()
    layer.adapt(tfdata.Dataset.from_tensor_slices(data).batch(6))
    np.testing.assert_allclose(layer.get_weights()[0], data.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[1], data.var(0), rtol=1e-4, atol=1e-6)
    unbatched = keras.layers.Normalization()
    unbatched.adapt(tfdata.Dataset.from_tensor_slices(data))  # batched by 128, as Keras
    np.testing.assert_allclose(unbatched.get_weights()[0], data.mean(0), rtol=1e-5,
                               atol=1e-6)
    clone = keras.layers.Normalization()
    clone.build((None, 2))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(data).numpy(), layer(data).numpy())
    model = keras.Sequential([keras.Input((2,)), layer])
    assert model.output_shape == (None, 2)


# ---------------------------------------------------------------------- Resizing, CenterCrop
@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [
    {"height": 4, "width": 5},
    {"height": 10, "width": 6, "interpolation": "nearest"},
    {"height": 4, "width": 4, "crop_to_aspect_ratio": True},
    {"height": 4, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 1.0},
    {"height": 5, "width": 12, "pad_to_aspect_ratio": True},
    {"height": 3, "width": 5, "data_format": "channels_first"},
])
def test_resizing_matches_keras(kwargs):
    k = import_keras()
    x = _images()
    ours, theirs = keras.layers.Resizing(**kwargs), k.layers.Resizing(**kwargs)
    assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    assert ours.get_config() == {**theirs.get_config(), "dtype": ours.get_config()["dtype"]}
    _round_trip(ours)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("size", [(3, 4), (7, 9), (8, 4), (10, 12)])
def test_center_crop_matches_keras(size):
    k = import_keras()
    x = _images()
    ours, theirs = keras.layers.CenterCrop(*size), k.layers.CenterCrop(*size)
    assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    assert_matches(ours(x[0]), theirs(x[0]), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- augmentation
AUGMENTATIONS = [
    ("RandomFlip", {}),
    ("RandomFlip", {"mode": "vertical"}),
    ("RandomRotation", {"factor": 0.2}),
    ("RandomRotation", {"factor": (-0.1, 0.3), "fill_mode": "constant",
                        "interpolation": "nearest"}),
    ("RandomZoom", {"height_factor": 0.3}),
    ("RandomZoom", {"height_factor": (-0.2, 0.1), "width_factor": 0.2, "fill_mode": "wrap"}),
    ("RandomTranslation", {"height_factor": 0.2, "width_factor": (-0.1, 0.3)}),
    ("RandomContrast", {"factor": 0.4}),
]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("name,kwargs", AUGMENTATIONS,
                         ids=[f"{n}{sorted(k.items())}" for n, k in AUGMENTATIONS])
def test_augmentation_is_identity_at_inference_and_configs_match_keras(name, kwargs):
    k = import_keras()
    x = _images()
    ours, theirs = getattr(keras.layers, name)(seed=1, **kwargs), \
        getattr(k.layers, name)(seed=1, **kwargs)
    assert_matches(ours(x, training=False), theirs(x, training=False), rtol=0, atol=0)
    model = keras.Sequential([keras.Input(x.shape[1:]), getattr(keras.layers, name)(**kwargs)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    theirs_config = theirs.get_config()
    ours_config = ours.get_config()
    for key, value in theirs_config.items():
        if key not in ("dtype", "name"):
            assert json.loads(json.dumps(ours_config[key])) == \
                json.loads(json.dumps(value)), key
    _round_trip(ours)


@pytest.mark.parametrize("name,kwargs", AUGMENTATIONS,
                         ids=[f"{n}{sorted(k.items())}" for n, k in AUGMENTATIONS])
def test_augmentation_is_seeded_active_when_training_and_keeps_shape(name, kwargs):
    x = _images((4, 8, 8, 3))
    first = getattr(keras.layers, name)(seed=5, **kwargs)
    second = getattr(keras.layers, name)(seed=5, **kwargs)
    a, b = first(x), second(x)  # training=True is the default of a direct call (Keras 3)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert tuple(a.shape) == x.shape and a.dtype.name == "float32"
    assert not np.array_equal(a.numpy(), x)
    # Values stay in the range of the inputs (bilinear mixes, contrast clips to 0..255).
    assert a.numpy().min() >= -1e-4 and a.numpy().max() <= 255.0
    if name != "RandomContrast":
        assert a.numpy().max() <= x.max() + 1e-4


def test_random_flip_flips_about_half_of_the_images():
    x = np.broadcast_to(np.arange(4, dtype="float32")[None, None, :, None], (400, 1, 4, 1))
    out = keras.layers.RandomFlip("horizontal", seed=11)(x).numpy()
    flipped = (out[:, 0, :, 0] == np.arange(4)[::-1]).all(axis=1)
    kept = (out[:, 0, :, 0] == np.arange(4)).all(axis=1)
    assert (flipped | kept).all()
    assert 150 < flipped.sum() < 250


def test_random_rotation_keeps_size_and_center():
    x = np.zeros((50, 5, 5, 1), "float32")
    x[:, 2, 2, 0] = 1.0
    out = keras.layers.RandomRotation(0.5, seed=3, fill_mode="constant")(x).numpy()
    assert out.shape == x.shape
    np.testing.assert_allclose(out[:, 2, 2, 0], 1.0, atol=1e-5)  # the center is fixed
    angles_differ = len({out[i].round(4).tobytes() for i in range(50)})
    assert angles_differ > 10


def test_random_translation_integer_shift_moves_pixels():
    layer = keras.layers.RandomTranslation((0.25, 0.25), (0.0, 0.0), fill_mode="constant",
                                           interpolation="nearest", seed=1)
    x = _images((2, 8, 6, 1))
    out = layer(x).numpy()
    np.testing.assert_array_equal(out[:, 2:], x[:, :-2])
    np.testing.assert_array_equal(out[:, :2], 0.0)


def test_random_contrast_stays_in_value_range_and_keeps_means():
    x = _images((8, 6, 6, 3)) * 5.0 + 100.0
    out = keras.layers.RandomContrast((0.5, 0.5), value_range=(0, 255), seed=2)(x).numpy()
    assert out.min() >= 0 and out.max() <= 255
    np.testing.assert_allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), rtol=1e-4)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("size", [(4, 4), (7, 3), (9, 12)])
def test_random_crop_inference_matches_keras_and_training_crops(size):
    k = import_keras()
    x = _images()
    ours, theirs = keras.layers.RandomCrop(*size, seed=1), k.layers.RandomCrop(*size, seed=1)
    assert_matches(ours(x, training=False), theirs(x, training=False), rtol=1e-5, atol=1e-5)
    if not (size[0] < x.shape[1] and size[1] < x.shape[2]):
        # no room for a random window: deterministic in Keras too
        assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    out = ours(x).numpy()
    assert out.shape == (2,) + size + (3,)
    if size[0] < x.shape[1] and size[1] < x.shape[2]:
        # a window of the input: find it
        found = any(np.array_equal(out, x[:, i:i + size[0], j:j + size[1]])
                    for i in range(x.shape[1] - size[0] + 1)
                    for j in range(x.shape[2] - size[1] + 1))
        assert found


def test_augmentation_errors_name_the_layer():
    with pytest.raises(ValueError, match="RandomFlip 'flip' expected images of rank 3"):
        keras.layers.RandomFlip(name="flip")(tf.ones((2, 3)))
    with pytest.raises(NotImplementedError, match="fill_mode"):
        keras.layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="factor"):
        keras.layers.RandomZoom(1.5)


def test_augmentation_trains_through_a_model():
    x = _images((8, 6, 6, 1)) / 10.0
    y = x.mean(axis=(1, 2, 3))[:, None]
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.RandomFlip(seed=1),
                              keras.layers.RandomRotation(0.1, seed=1),
                              keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


# ---------------------------------------------------------------------- lookups and text
def import_keras_text():
    """Keras's lookup and text layers run on tf.data/tf.lookup even with the torch backend."""
    pytest.importorskip("tensorflow", reason="Keras's text layers need TensorFlow")
    return import_keras()


# Expected values from the examples in Keras 3's own docstrings (string_lookup.py,
# integer_lookup.py, text_vectorization.py): real Keras outputs, usable without TensorFlow.
def test_string_lookup_reproduces_the_keras_docstring_examples():
    vocab = ["a", "b", "c", "d"]
    data = [["a", "c", "d"], ["d", "z", "b"]]
    assert keras.layers.StringLookup(vocabulary=vocab)(data).numpy().tolist() == \
        [[1, 3, 4], [4, 0, 2]]
    layer = keras.layers.StringLookup()
    layer.adapt(data)
    assert layer.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    assert layer(data).numpy().tolist() == [[5, 3, 1], [1, 2, 4]]
    multi = keras.layers.StringLookup(vocabulary=vocab, output_mode="multi_hot")
    assert multi(data).numpy().tolist() == [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]]
    data4 = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    count = keras.layers.StringLookup(vocabulary=vocab, output_mode="count")
    assert count(data4).numpy().tolist() == [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]]
    tfidf = keras.layers.StringLookup(output_mode="tf_idf", vocabulary=vocab,
                                      idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tfidf(data4).numpy(),
                               [[0.0, 0.25, 0.0, 0.6, 0.8], [1.0, 0.0, 0.75, 0.0, 0.4]],
                               rtol=1e-6)
    inverse = keras.layers.StringLookup(vocabulary=vocab, invert=True)
    assert inverse([[1, 3, 4], [4, 0, 2]]).numpy().tolist() == \
        [[b"a", b"c", b"d"], [b"d", b"[UNK]", b"b"]]
    masked = keras.layers.StringLookup(vocabulary=vocab, mask_token="")
    assert masked([["a", "c", "d"], ["d", "", "b"]]).numpy().tolist() == \
        [[2, 4, 5], [5, 0, 3]]
    assert masked.get_vocabulary()[:2] == ["", "[UNK]"]


def test_integer_lookup_reproduces_the_keras_docstring_examples():
    vocab = [12, 36, 1138, 42]
    data = [[12, 1138, 42], [42, 1000, 36]]
    assert keras.layers.IntegerLookup(vocabulary=vocab)(data).numpy().tolist() == \
        [[1, 3, 4], [4, 0, 2]]
    layer = keras.layers.IntegerLookup()
    layer.adapt(data)
    assert layer.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    two_oov = keras.layers.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    assert two_oov([[12, 1138, 42], [37, 1000, 36]]).numpy().tolist() == \
        [[2, 4, 5], [1, 0, 3]]
    masked = keras.layers.IntegerLookup(vocabulary=vocab, mask_token=0)
    assert masked([[12, 1138, 42], [42, 0, 36]]).numpy().tolist() == [[2, 4, 5], [5, 0, 3]]
    inverse = keras.layers.IntegerLookup(vocabulary=vocab, invert=True)
    assert inverse([[1, 3, 4], [4, 0, 2]]).numpy().tolist() == \
        [[12, 1138, 42], [42, -1, 36]]


def test_text_vectorization_reproduces_the_keras_docstring_examples():
    layer = keras.layers.TextVectorization(max_tokens=5000, output_mode="int",
                                           output_sequence_length=4)
    layer.adapt(tfdata.Dataset.from_tensor_slices(["foo bar", "bar baz", "baz bada boom"]))
    model = keras.Sequential([keras.Input(shape=(1,), dtype="string"), layer])
    assert model.output_shape == (None, 4)
    out = model.predict(np.array([["foo qux bar"], ["qux baz"]]), verbose=0)
    assert out.tolist() == [[4, 1, 3, 0], [1, 2, 0, 0]]
    given = keras.layers.TextVectorization(
        output_mode="int", output_sequence_length=4,
        vocabulary=["earth", "wind", "and", "fire"])
    assert given(np.array([["earth wind and also fire"]])).numpy().tolist() == \
        [[2, 3, 4, 1]]
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]


def test_text_vectorization_multi_hot_ngrams_and_tf_idf():
    layer = keras.layers.TextVectorization(output_mode="count", ngrams=2)
    layer.adapt(["a b a", "b c"])
    vocab = layer.get_vocabulary()
    # counts: a 2, b 2, "a b" 1, "b a" 1, c 1, "b c" 1; ties by token, descending
    assert vocab == ["[UNK]", "b", "a", "c", "b c", "b a", "a b"]
    # x and "b x" are both out of vocabulary
    assert layer(["a b x"]).numpy().tolist() == [[2, 1, 1, 0, 0, 0, 1]]
    idf = keras.layers.TextVectorization(output_mode="tf_idf")
    idf.adapt(["a b", "a"])
    weights = [np.log(1 + 2 / 3), np.log(1 + 2 / 2)]
    expected = [np.mean(weights) * 1, weights[0] * 2, weights[1]]
    np.testing.assert_allclose(idf(["a a b z"]).numpy(), [expected], rtol=1e-6)

@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [
    {},
    {"mask_token": "", "max_tokens": 5},
    {"output_mode": "multi_hot"},
    {"output_mode": "count"},
    {"output_mode": "one_hot"},
    {"output_mode": "tf_idf"},
    {"num_oov_indices": 0, "output_mode": "count", "pad_to_max_tokens": True,
     "max_tokens": 8},
])
def test_string_lookup_matches_keras(kwargs):
    k = import_keras_text()
    data = np.array([["a", "b", "c"], ["b", "c", "d"], ["c", "a", "c"]])
    query = np.array([["a", "d", "c"], ["b", "b", "a"]])
    if kwargs.get("output_mode") == "one_hot":
        query = np.array(["a", "d", "c"])
    ours, theirs = keras.layers.StringLookup(**kwargs), k.layers.StringLookup(**kwargs)
    ours.adapt(data)
    theirs.adapt(data)
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    assert ours.vocabulary_size() == theirs.vocabulary_size()
    assert_matches(ours(query), theirs(query), rtol=1e-6, atol=1e-6)


@pytest.mark.keras_oracle
def test_string_lookup_vocabulary_and_invert_match_keras():
    k = import_keras_text()
    vocab = ["cat", "dog", "bird"]
    ours = keras.layers.StringLookup(vocabulary=vocab, mask_token="[MASK]")
    theirs = k.layers.StringLookup(vocabulary=vocab, mask_token="[MASK]")
    query = np.array([["dog", "fish"], ["[MASK]", "cat"]])
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    assert_matches(ours(query), theirs(query))
    assert ours(query).dtype.name == "int64"
    inverse = keras.layers.StringLookup(vocabulary=vocab, invert=True)
    their_inverse = k.layers.StringLookup(vocabulary=vocab, invert=True)
    ids = np.array([[1, 3], [0, 7]])
    assert inverse(ids).numpy().tolist() == \
        [[s.encode() if isinstance(s, str) else s for s in row]
         for row in np.asarray(their_inverse(ids)).tolist()]
    clone = _round_trip(ours)
    np.testing.assert_array_equal(clone(query).numpy(), ours(query).numpy())


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [
    {},
    {"num_oov_indices": 2, "mask_token": 0},
    {"output_mode": "multi_hot", "max_tokens": 4},
    {"invert": True},
])
def test_integer_lookup_matches_keras(kwargs):
    k = import_keras_text()
    data = np.array([12, 36, 1138, 42, 42, 12, 12])
    query = np.array([[12, 1138, 7], [42, 0, 36]])
    ours, theirs = keras.layers.IntegerLookup(**kwargs), k.layers.IntegerLookup(**kwargs)
    ours.adapt(data)
    theirs.adapt(data)
    assert ours.get_vocabulary() == [int(v) for v in theirs.get_vocabulary()]
    if kwargs.get("invert"):
        query = np.array([[1, 2, 9], [0, 3, 4]])
    assert_matches(ours(query), theirs(query))


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [
    {},
    {"output_sequence_length": 6},
    {"output_sequence_length": 2, "max_tokens": 6},
    {"ngrams": 2},
    {"output_mode": "multi_hot"},
    {"output_mode": "count", "ngrams": (1, 3)},
    {"output_mode": "tf_idf", "max_tokens": 8, "pad_to_max_tokens": True},
    {"standardize": "lower", "split": "whitespace"},
])
def test_text_vectorization_matches_keras(kwargs):
    k = import_keras_text()
    corpus = np.array(["The cat sat on the mat.", "The dog ate my homework!",
                       "A cat, a dog: the end?", "  Spaces   everywhere  "])
    query = np.array(["the cat ate the dog", "unknown words here, the end"])
    ours = keras.layers.TextVectorization(**kwargs)
    theirs = k.layers.TextVectorization(**kwargs)
    ours.adapt(corpus)
    theirs.adapt(corpus)
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    assert_matches(ours(query), theirs(query), rtol=1e-5, atol=1e-6)
    assert_matches(ours(query[:, None]), theirs(query[:, None]), rtol=1e-5, atol=1e-6)


@pytest.mark.keras_oracle
def test_text_vectorization_with_vocabulary_and_config_match_keras():
    k = import_keras_text()
    kwargs = {"vocabulary": ["the", "cat", "dog"], "output_sequence_length": 4}
    ours = keras.layers.TextVectorization(**kwargs)
    theirs = k.layers.TextVectorization(**kwargs)
    query = np.array(["The Dog and the cat!"])
    assert_matches(ours(query), theirs(query))
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    for key in ("max_tokens", "standardize", "split", "ngrams", "output_mode",
                "output_sequence_length", "pad_to_max_tokens", "vocabulary"):
        assert ours_config[key] == theirs_config[key], key
    clone = _round_trip(ours)
    np.testing.assert_array_equal(clone(query).numpy(), ours(query).numpy())
    # A symbolic call gives Keras's output shape.
    model = keras.Sequential([keras.Input((), dtype="string"), ours])
    assert model.output_shape == (None, 4)


def test_string_ops():
    x = tf.constant([b"Hello, World!", b"  a  b "])
    assert strings.lower(x).numpy().tolist() == [b"hello, world!", b"  a  b "]
    assert strings.regex_replace(x, r"[,!]", "").numpy().tolist() == [b"Hello World",
                                                                         b"  a  b "]
    tokens, lengths = strings.split_padded(x)
    assert tokens.numpy().tolist() == [[b"Hello,", b"World!"], [b"a", b"b"]]
    assert lengths.numpy().tolist() == [2, 2]
    grams, counts = strings.ngrams_padded(tokens, lengths, 2, separator="_")
    assert grams.numpy().tolist() == [[b"Hello,_World!"], [b"a_b"]]
    assert counts.numpy().tolist() == [1, 1]
    with pytest.raises(tf.errors.InvalidArgumentError, match="lower: expected a string"):
        strings.lower(tf.constant([1.0]))
    # (a rank-2 input splits into a ragged rank-3 result, as TensorFlow's does)
    assert strings.split(tf.constant([[b"a b", b"c"]])).to_list() == [[[b"a", b"b"], [b"c"]]]
    assert strings.lookup_index(tf.constant([3, 9], "int64"),
                                tf.constant([9, 3, 1], "int64")).numpy().tolist() == [1, 0]


def test_string_ops_trace_in_a_graph():
    @tf.function
    def lower_tokens(x):
        tokens, lengths = strings.split_padded(strings.lower(x))
        return strings.lookup_index(tokens, tf.constant([b"b", b"a"])), lengths

    index, lengths = lower_tokens(tf.constant([b"A B", b"b"]))
    assert index.numpy().tolist() == [[1, 0], [0, -1]]
    assert lengths.numpy().tolist() == [2, 1]


def test_text_vectorization_takes_numpy_string_arrays():
    """Keras adapts on np.array([...str...]) (dtype '<U…'), not only on lists."""
    import numpy as np

    from tensorflux.keras import layers as tfx_layers

    from_list = tfx_layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    from_list.adapt(["the cat sat", "the dog ran far"])
    from_array = tfx_layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    from_array.adapt(np.array(["the cat sat", "the dog ran far"]))
    assert from_array.get_vocabulary() == from_list.get_vocabulary()
    np.testing.assert_array_equal(from_array(np.array(["the cat ran"])).numpy(),
                                  from_list(["the cat ran"]).numpy())
