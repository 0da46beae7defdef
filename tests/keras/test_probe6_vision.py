"""Probe round s9 (vision): fully convolutional models on run-time image sizes.

keras.io's U-Net / super-resolution examples build on `keras.Input((None, None, c))`: the
transposed convolutions (1-D/2-D/3-D), Conv3D, Max/AveragePooling3D, UpSampling 'nearest' /
'bilinear' and GroupNormalization then see sizes known only when the graph runs. Each layer
is traced with such a signature and compared, values and input gradients, with real Keras
3.15.1 (torch) holding the same weights; 3-D average pooling with 'same' padding with a
NumPy float64 reference (Keras on torch counts the padded zeros, TensorFlow does not).
"""

import itertools

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

LAYERS = [
    ("Conv2DTranspose", (2, 3), dict(strides=2, padding="same"), (2, 5, 4, 3)),
    ("Conv2DTranspose", (2, 3), dict(strides=3, output_padding=1), (2, 5, 4, 3)),
    ("Conv2DTranspose", (2, 3), dict(strides=2, data_format="channels_first"), (2, 3, 5, 4)),
    ("Conv2DTranspose", (2, 3), dict(dilation_rate=2, padding="same"), (1, 4, 5, 3)),
    ("Conv1DTranspose", (2, 3), dict(strides=2, padding="same"), (2, 5, 3)),
    ("Conv3DTranspose", (2, 3), dict(strides=2, padding="same"), (1, 3, 5, 4, 3)),
    ("Conv3DTranspose", (2, (2, 3, 1)), dict(strides=(1, 2, 3), output_padding=(0, 1, 2),
                                             data_format="channels_first"), (1, 3, 3, 5, 4)),
    ("Conv3D", (2, 3), dict(strides=2), (1, 5, 5, 4, 3)),
    ("Conv3D", (6, (3, 2, 2)), dict(strides=(1, 2, 2), padding="same", groups=3),
     (1, 5, 5, 4, 3)),
    ("Conv3D", (2, 2), dict(dilation_rate=2, padding="same", data_format="channels_first"),
     (1, 3, 5, 5, 4)),
    ("UpSampling2D", (), dict(size=(2, 3)), (2, 5, 4, 3)),
    ("UpSampling2D", (), dict(size=(3, 2), interpolation="bilinear"), (2, 5, 4, 3)),
    ("UpSampling2D", (), dict(size=2, interpolation="bilinear", data_format="channels_first"),
     (1, 3, 1, 4)),
    ("UpSampling1D", (), dict(size=3), (2, 5, 3)),
    ("UpSampling3D", (), dict(size=(1, 2, 3)), (1, 2, 3, 2, 3)),
    ("MaxPooling3D", (), dict(pool_size=(2, 3, 2), strides=(1, 2, 2), padding="same"),
     (1, 5, 6, 4, 3)),
    ("AveragePooling3D", (), dict(pool_size=3, strides=2), (1, 5, 7, 6, 3)),
    ("MaxPooling3D", (), dict(pool_size=2, data_format="channels_first"), (1, 3, 5, 6, 4)),
    ("GroupNormalization", (3,), dict(), (2, 5, 4, 3)),
    ("GroupNormalization", (3,), dict(axis=1), (2, 3, 5, 4)),
]


def _run_time_spec(shape, channels_axis):
    """A signature that keeps only the channels: batch and spatial sizes come at run time."""
    spec = [None] * len(shape)
    spec[channels_axis] = shape[channels_axis]
    return tf.TensorSpec(spec)


def _pair(name, args, kwargs, shape):
    """Our layer and Keras's, built on `shape` and holding the same (random) weights."""
    ours, theirs = getattr(keras.layers, name)(*args, **kwargs), None
    k = import_keras()
    theirs = getattr(k.layers, name)(*args, **kwargs)
    ours.build(shape)
    theirs.build(shape)
    rng = np.random.RandomState(3)
    weights = [rng.uniform(-0.5, 0.5, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


@pytest.mark.parametrize("name,args,kwargs,shape", LAYERS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYERS)])
def test_layer_on_run_time_sizes_matches_keras(name, args, kwargs, shape):
    import torch

    ours, theirs = _pair(name, args, kwargs, shape)
    channels_first = kwargs.get("data_format") == "channels_first" or kwargs.get("axis") == 1
    x = np.random.RandomState(0).rand(*shape).astype("float32")

    def traced(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = ours(images)
            weights = tf.reshape(tf.sin(tf.cast(tf.range(tf.size(outputs)), "float32")),
                                 tf.shape(outputs))
            loss = tf.reduce_sum(outputs * weights)
        return outputs, tape.gradient(loss, images)

    spec = _run_time_spec(shape, 1 if channels_first else -1)
    function = tf.function(traced, input_signature=[spec])
    static = function.get_concrete_function().structured_outputs[0].shape
    assert static[1 if channels_first else -1] is not None  # the channels stay known
    outputs, grad = function(tf.constant(x))

    x_torch = torch.tensor(x, requires_grad=True)
    expected = theirs(x_torch)
    weights = torch.sin(torch.arange(expected.numel(), dtype=torch.float32)).reshape(
        expected.shape)
    (expected * weights).sum().backward()
    assert_matches(outputs, expected, rtol=1e-5, atol=1e-5, what=f"{name} outputs")
    assert_matches(grad, x_torch.grad, rtol=1e-5, atol=1e-5, what=f"{name} input gradient")


def _unet(k, num_classes=3):
    """keras.io's Oxford-pets U-Net, narrowed, on images of any size."""
    layers = k.layers
    inputs = k.Input((None, None, 3))
    x = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    previous = x = layers.Activation("relu")(x)
    for filters in (8,):
        x = layers.SeparableConv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(previous)
        previous = x = layers.add([x, residual])
    for filters in (8, 4):
        x = layers.Conv2DTranspose(filters, 3, padding="same", activation="relu")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2, interpolation="bilinear")(previous)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        previous = x = layers.add([x, residual])
    x = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(x)
    x = layers.GroupNormalization(2)(x)
    x = layers.Cropping2D(((0, 0), (0, 0)))(x)
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    return k.Model(inputs, outputs)


def test_unet_on_any_image_size_predicts_and_trains_as_keras():
    k = import_keras()
    ours, theirs = _unet(keras), _unet(k)
    rng = np.random.RandomState(1)
    weights = [rng.uniform(-0.4, 0.4, w.shape).astype("float32") if w.ndim > 1
               else np.array(w) for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    assert ours.count_params() == theirs.count_params()
    assert tuple(ours.output.shape) == (None, None, None, 3)
    run_time = tf.function(lambda images: ours(images),
                           input_signature=[tf.TensorSpec([None, None, None, 3])])
    for size in ((16, 16), (8, 24)):
        x = rng.rand(2, *size, 3).astype("float32")
        expected = theirs.predict(x, verbose=0)
        assert_matches(run_time(tf.constant(x)), expected, rtol=1e-5, atol=1e-6,
                       what=f"U-Net at {size}")
        assert_matches(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    x = rng.rand(2, 16, 8, 3).astype("float32")
    y = rng.randint(0, 3, (2, 32, 16, 1)).astype("uint8")
    # the first step's loss is the forward pass in training mode (batch statistics)
    expected = k.ops.mean(k.losses.sparse_categorical_crossentropy(y, theirs(x, training=True)))
    ours.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    losses = [ours.train_on_batch(x, y) for _ in range(3)]
    np.testing.assert_allclose(losses[0], float(expected.detach()), rtol=1e-5)
    assert losses[2] < losses[0]


def test_run_time_sizes_the_layer_cannot_handle_say_so():
    layers = keras.layers
    images = keras.Input((None, None, 3))
    with pytest.raises(ValueError, match="'nearest' and 'bilinear'"):
        layers.UpSampling2D(2, interpolation="bicubic")(images)
    volumes = keras.Input((None, None, None, 2))
    with pytest.raises(ValueError, match="depth stride of 2 needs the depth"):
        layers.Conv3D(2, 3, strides=2, padding="same")(volumes)
    with pytest.raises(ValueError, match="AveragePooling3D.*depth stride of 2 needs the depth"):
        layers.AveragePooling3D(2, padding="same")(volumes)
    known_depth = keras.Input((5, None, None, 2))
    assert tuple(layers.Conv3D(2, 3, strides=2, padding="same")(known_depth).shape)[-1] == 2


def _avg_pool3d_same_reference(x, size, strides):
    """TensorFlow's 'same' 3-D average pooling in float64: each window clipped to the input
    (padded cells are not counted); also the matrix mapping inputs to outputs."""
    n, *sizes, c = x.shape
    outs = [-(-d // s) for d, s in zip(sizes, strides)]
    starts = [[o * s - max((o_n - 1) * s + k - d, 0) // 2 for o in range(o_n)]
              for d, s, k, o_n in zip(sizes, strides, size, outs)]
    matrix = np.zeros((int(np.prod(outs)), int(np.prod(sizes))))
    for row, index in enumerate(np.ndindex(*outs)):
        cells = [range(max(st[i], 0), min(st[i] + k, d))
                 for st, i, k, d in zip(starts, index, size, sizes)]
        flat = [np.ravel_multi_index(cell, sizes) for cell in itertools.product(*cells)]
        matrix[row, flat] = 1.0 / len(flat)
    flat_x = x.astype(np.float64).reshape(n, -1, c)
    return np.einsum("oi,nic->noc", matrix, flat_x).reshape(n, *outs, c), matrix


def test_average_pooling3d_same_on_run_time_sizes_matches_numpy():
    x = np.random.RandomState(0).rand(2, 5, 6, 4, 3).astype("float32")
    layer = keras.layers.AveragePooling3D((3, 2, 3), strides=(1, 2, 2), padding="same")

    def traced(images):
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = layer(images)
            loss = tf.reduce_sum(outputs * outputs)
        return outputs, tape.gradient(loss, images)

    function = tf.function(traced, input_signature=[tf.TensorSpec([None, None, None, None, 3])])
    outputs, grad = function(tf.constant(x))
    expected, matrix = _avg_pool3d_same_reference(x, (3, 2, 3), (1, 2, 2))
    np.testing.assert_allclose(outputs.numpy(), expected, rtol=1e-5, atol=1e-6)
    cotangent = 2 * expected.reshape(2, -1, 3)
    expected_grad = np.einsum("oi,noc->nic", matrix, cotangent).reshape(x.shape)
    np.testing.assert_allclose(grad.numpy(), expected_grad, rtol=1e-5, atol=1e-6)


def test_conv_subclass_overriding_convolution_op_matches_keras():
    """keras.io's "Customizing the convolution operation of a Conv2D layer": a subclass
    standardizes the kernel in `convolution_op`; the bias and activation still follow."""
    real = import_keras()

    def standardized(k):
        class StandardizedConv2D(k.layers.Conv2D):
            def convolution_op(self, inputs, kernel):
                mean, var = k.ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
                return k.ops.conv(inputs, (kernel - mean) / k.ops.sqrt(var + 1e-10),
                                  padding="valid", strides=list(self.strides),
                                  dilation_rate=self.dilation_rate)

        layer = StandardizedConv2D(3, 3, activation="relu", bias_initializer="ones")
        layer.build((None, 6, 6, 2))
        rng = np.random.RandomState(4)
        layer.set_weights([rng.standard_normal(w.shape).astype("float32")
                           for w in layer.get_weights()])
        return layer

    x = np.random.RandomState(5).rand(2, 6, 6, 2).astype("float32")
    assert_matches(standardized(keras)(x), standardized(real)(x), rtol=1e-5, atol=1e-5,
                   what="standardized convolution")
