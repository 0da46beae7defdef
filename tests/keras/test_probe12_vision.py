"""Probe round 12, keras.io computer-vision examples condensed (super-resolution, 3-D CNN,
ConvLSTM video, PointNet, Zero-DCE, fine-tuning, RandAugment, NeRF, RetinaNet, captioning,
DeepLabV3+, ViT, OCR): the two places where the scripts failed, checked against real Keras 3
(torch backend) holding the same weights.

DeepLabV3+ calls `keras.applications.resnet50.preprocess_input` on a `keras.Input` and builds
ResNet50 on the result (`input_tensor=`): the tensor path must stay symbolic. And reading a loss
left behind by a traced step (an activity regularizer's, from `model.losses` after `predict`)
with `keras.ops.convert_to_numpy` must say that it has no value, not return None."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

RNG = np.random.RandomState(0)


def _set_weights(model, seed, scale=0.3):
    """Deterministic weights, the same for ours and Keras (BatchNorm's ones/zeros kept)."""
    rng = np.random.RandomState(seed)
    new = []
    for w in model.get_weights():
        if w.ndim == 1 and (np.all(w == 1) or np.all(w == 0)):
            new.append(w.copy())
        else:
            new.append((rng.standard_normal(w.shape) * scale).astype(w.dtype))
    model.set_weights(new)


@pytest.mark.parametrize("module, data_format", [
    ("resnet50", "channels_last"),      # caffe: BGR flip, minus the means
    ("densenet", "channels_last"),      # torch: scale, minus the means, over the stds
    ("mobilenet_v2", "channels_last"),  # tf: to [-1, 1]
    ("vgg16", "channels_first"),
    ("densenet", "channels_first"),
])
def test_preprocess_input_on_a_keras_input_builds_a_model_as_keras(module, data_format):
    images = (RNG.rand(2, 3, 5, 4) * 255).astype("float32")
    if data_format == "channels_last":
        images = images.transpose(0, 2, 3, 1)
    expected = getattr(import_keras().applications, module).preprocess_input(
        images.copy(), data_format=data_format)
    inputs = keras.Input(images.shape[1:])
    outputs = getattr(keras.applications, module).preprocess_input(inputs,
                                                                   data_format=data_format)
    assert isinstance(outputs, keras.KerasTensor)
    model = keras.Model(inputs, outputs)
    assert_matches(model.predict(images, verbose=0), expected, rtol=1e-6, atol=1e-4,
                   what=f"{module}.preprocess_input in a Functional model")
    # The same function on a tensor value, eagerly.
    assert_matches(getattr(keras.applications, module).preprocess_input(
        tf.constant(images), data_format=data_format), expected, rtol=1e-6, atol=1e-4,
        what=f"{module}.preprocess_input on a tensor")


def _deeplab_head(k):
    """keras.io's DeepLabV3+ start: ResNet50's preprocess_input (caffe mode) on the Input, an
    application built on it with input_tensor=, inner layers' outputs taken by name, dilated,
    upsampled and concatenated (a small MobileNetV2 stands in for ResNet50)."""
    layers = k.layers
    model_input = k.Input(shape=(32, 32, 3))
    preprocessed = k.applications.resnet50.preprocess_input(model_input)
    backbone = k.applications.MobileNetV2(weights=None, include_top=False, alpha=0.35,
                                          input_tensor=preprocessed)
    low = backbone.get_layer("block_1_expand_relu").output
    high = backbone.get_layer("block_6_expand_relu").output
    high = layers.Conv2D(4, 3, dilation_rate=2, padding="same")(high)
    high = layers.UpSampling2D(size=(low.shape[1] // high.shape[1],
                                     low.shape[2] // high.shape[2]),
                               interpolation="bilinear")(high)
    x = layers.Concatenate(axis=-1)([high, layers.Conv2D(4, 1)(low)])
    x = layers.UpSampling2D(size=32 // x.shape[1], interpolation="bilinear")(x)
    return k.Model(model_input, layers.Conv2D(3, 1)(x)), backbone, model_input


def test_deeplab_style_backbone_on_preprocessed_input_matches_keras():
    ours, ours_backbone, ours_input = _deeplab_head(keras)
    theirs, _, _ = _deeplab_head(import_keras())
    assert ours_backbone.inputs[0] is ours_input  # the source Input, as in Keras
    assert len(ours.layers) == len(theirs.layers)
    _set_weights(theirs, 1)
    ours.set_weights(theirs.get_weights())
    images = (RNG.rand(2, 32, 32, 3) * 3).astype("float32")
    masks = RNG.randint(0, 3, (2, 32, 32, 1))
    assert_matches(ours.predict(images, verbose=0), theirs.predict(images, verbose=0),
                   rtol=1e-4, atol=1e-4, what="predictions")
    for k, model in ((keras, ours), (import_keras(), theirs)):
        model.compile(optimizer="sgd",
                      loss=k.losses.SparseCategoricalCrossentropy(from_logits=True))
    ours_loss = ours.fit(images, masks, batch_size=2, epochs=1, verbose=0).history["loss"]
    theirs_loss = theirs.fit(images, masks, batch_size=2, epochs=1, verbose=0).history["loss"]
    assert_matches(ours_loss, theirs_loss, rtol=1e-4, what="the training loss")


def test_convert_to_numpy_of_a_loss_left_by_predict_says_it_has_no_value():
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activity_regularizer="l2")(inputs)
    model = keras.Model(inputs, outputs)
    model.predict(np.ones((4, 3), "float32"), verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="no value"):
        keras.ops.convert_to_numpy(model.losses[0])
    # Called eagerly, the loss has a value; a scalar comes back as a 0-d ndarray, as Keras's.
    model(np.ones((4, 3), "float32"))
    value = keras.ops.convert_to_numpy(model.losses[0])
    assert type(value) is np.ndarray and value.shape == ()
    assert np.isfinite(value)
