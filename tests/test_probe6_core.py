"""Core ops on sizes a traced function only learns when it runs (keras.io's fully
convolutional models on Input((None, None, c)), Dataset.map over images of several sizes):
resize, depth_to_space / space_to_depth and the gradient of concat, checked against NumPy
float64 and against real Keras (torch backend) where a Keras layer is involved."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras


def _bilinear_matrix(in_size, out_size):
    """TF 2's half-pixel bilinear interpolation matrix, in NumPy float64."""
    matrix = np.zeros((out_size, in_size))
    for o in range(out_size):
        position = (o + 0.5) * in_size / out_size - 0.5
        low = int(np.floor(position))
        frac = position - low
        matrix[o, min(max(low, 0), in_size - 1)] += 1 - frac
        matrix[o, min(max(low + 1, 0), in_size - 1)] += frac
    return matrix


def test_bilinear_resize_of_run_time_sizes_matches_numpy():
    resize = tf.function(lambda x: tf.image.resize(x, (4, 6)),
                         input_signature=[tf.TensorSpec([None, None, None, 2])])
    for shape in ((1, 5, 7, 2), (3, 9, 3, 2)):
        x = np.random.RandomState(sum(shape)).rand(*shape)
        expected = np.einsum("oh,bhwc->bowc", _bilinear_matrix(shape[1], 4), x)
        expected = np.einsum("pw,bowc->bopc", _bilinear_matrix(shape[2], 6), expected)
        np.testing.assert_allclose(resize(x.astype("float32")).numpy(), expected, rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("method", ["nearest", "bicubic", "area", "lanczos3", "gaussian"])
def test_every_method_gives_the_same_on_run_time_sizes(method):
    x = np.random.RandomState(1).rand(2, 7, 5, 3).astype("float32")
    traced = tf.function(lambda t: tf.image.resize(t, (3, 8), method=method),
                         input_signature=[tf.TensorSpec([None, None, None, 3])])
    np.testing.assert_allclose(traced(x).numpy(),
                               tf.image.resize(x, (3, 8), method=method).numpy(), rtol=1e-6)


def test_resize_gradient_on_run_time_sizes_matches_numpy():
    x = np.random.RandomState(2).rand(1, 5, 3, 1)
    weights = np.random.RandomState(3).rand(1, 4, 4, 1)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.float64)])
    def grad(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = tf.reduce_sum(tf.image.resize(images, (4, 4)) * weights)
        return tape.gradient(loss, images)

    h, w = _bilinear_matrix(5, 4), _bilinear_matrix(3, 4)
    expected = np.einsum("oh,pw,bopc->bhwc", h, w, weights)
    np.testing.assert_allclose(grad(x).numpy(), expected, rtol=1e-10)


def test_dataset_map_resizes_images_of_several_sizes():
    images = [np.full((h, w, 3), float(h), "float32") for h, w in ((4, 6), (8, 3), (5, 5))]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec([None, None, 3], tf.float32))
    resized = [x.numpy() for x in dataset.map(lambda x: tf.image.resize(x, (2, 2)))]
    for image, out in zip(images, resized):
        np.testing.assert_allclose(out, np.full((2, 2, 3), image[0, 0, 0]))


@pytest.mark.keras_oracle
def test_resizing_layer_on_any_image_size_matches_keras():
    from tests.keras._oracle import assert_matches, import_keras

    real = import_keras()
    outputs = []
    for k in (keras, real):
        model = k.Sequential([k.Input((None, None, 3)), k.layers.Resizing(6, 5),
                              k.layers.Conv2D(2, 3), k.layers.GlobalAveragePooling2D()])
        rng = np.random.RandomState(0)
        model.set_weights([rng.standard_normal(w.shape).astype("float32")
                           for w in model.get_weights()])
        outputs.append([model.predict(np.random.RandomState(s).rand(2, *size, 3)
                                      .astype("float32"), verbose=0)
                        for s, size in enumerate(((9, 7), (4, 12)))])
    for ours, theirs in zip(*outputs):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-5, what="Resizing on any size")


def _depth_to_space_numpy(x, b):
    n, h, w, c = x.shape
    y = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, h * b, w * b, c // (b * b))


def test_depth_to_space_and_back_on_run_time_sizes():
    x = np.random.RandomState(4).rand(2, 3, 5, 8).astype("float32")
    spec = [tf.TensorSpec([None, None, None, 8])]
    to_space = tf.function(lambda t: tf.nn.depth_to_space(t, 2), input_signature=spec)
    up = to_space(x)
    np.testing.assert_array_equal(up.numpy(), _depth_to_space_numpy(x, 2))
    back = tf.function(lambda t: tf.nn.space_to_depth(t, 2),
                       input_signature=[tf.TensorSpec([None, None, None, 2])])
    np.testing.assert_array_equal(back(up).numpy(), x)


@pytest.mark.parametrize("axis", [0, -1])
def test_concat_gradient_with_run_time_sizes(axis):
    """The pieces of the cotangent are cut at run-time offsets (it failed in the split)."""
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float64)] * 2)
    def grads(a, b):
        with tf.GradientTape() as tape:
            tape.watch([a, b])
            joined = tf.concat([a, b, a], axis)
            weights = tf.reshape(tf.cast(tf.range(tf.size(joined)), tf.float64),
                                 tf.shape(joined))
            loss = tf.reduce_sum(joined * weights)
        return tape.gradient(loss, [a, b])

    a, b = np.ones((2, 3)), np.ones((2, 3)) * 2
    joined = np.concatenate([a, b, a], axis)
    weights = np.arange(joined.size, dtype=np.float64).reshape(joined.shape)
    pieces = np.split(weights, 3, axis=axis)
    got_a, got_b = grads(a, b)
    np.testing.assert_allclose(got_a.numpy(), pieces[0] + pieces[2])
    np.testing.assert_allclose(got_b.numpy(), pieces[1])


@pytest.mark.keras_oracle
@pytest.mark.parametrize("layer", ["center_crop", "resize_crop_to_aspect"])
def test_crops_on_any_image_size_match_keras(layer):
    """CenterCrop (a crop for large images, an aspect-ratio crop and resize for small ones)
    and Resizing(crop_to_aspect_ratio=True) in a model on Input((None, None, 3))."""
    from tests.keras._oracle import assert_matches, import_keras

    real = import_keras()
    sizes = ((9, 7), (4, 12), (3, 3), (6, 5))
    outputs = []
    for k in (keras, real):
        crop = (k.layers.CenterCrop(5, 4) if layer == "center_crop" else
                k.layers.Resizing(5, 4, crop_to_aspect_ratio=True))
        model = k.Sequential([k.Input((None, None, 3)), crop])
        assert tuple(model.output_shape) == (None, 5, 4, 3)
        outputs.append([model.predict(np.random.RandomState(s).rand(2, *size, 3)
                                      .astype("float32"), verbose=0)
                        for s, size in enumerate(sizes)])
    for size, ours, theirs in zip(sizes, *outputs):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-6, what=f"{layer} of {size}")
