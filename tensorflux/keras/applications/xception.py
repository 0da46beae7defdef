"""keras.applications.xception: Xception (Chollet, 2017) with Keras's names; inputs of at
least 71x71, `preprocess_input` uses tf mode."""

from tensorflux.keras import backend
from tensorflux.keras.applications import imagenet_utils

__all__ = ["Xception", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
WEIGHTS = {
    True: ("xception_weights_tf_dim_ordering_tf_kernels.h5",
           "0a58e3b7378bc2990ea3b43d5981f1f6"),
    False: ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "b0042744bf5b25fce3cb969f33bebb97"),
}


def _channel_axis():
    return 1 if backend.image_data_format() == "channels_first" else -1


def _separable(x, filters, name):
    from tensorflux.keras import layers

    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=_channel_axis(), name=f"{name}_bn")(x)


def _projection(x, filters):
    """The strided 1x1 shortcut of a downsampling block; Keras leaves its layers unnamed."""
    from tensorflux.keras import layers

    residual = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same",
                             use_bias=False)(x)
    return layers.BatchNormalization(axis=_channel_axis())(residual)


def _entry_block(x, filters, block, first_activation=True, out_filters=None):
    """Two separable convolutions and a strided max pool, added to a 1x1 projection."""
    from tensorflux.keras import layers

    residual = _projection(x, out_filters or filters)
    if first_activation:
        x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
    x = _separable(x, filters, f"block{block}_sepconv1")
    x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
    x = _separable(x, out_filters or filters, f"block{block}_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same",
                            name=f"block{block}_pool")(x)
    return layers.add([x, residual])


def _middle_block(x, block):
    from tensorflux.keras import layers

    residual = x
    for k in (1, 2, 3):
        x = layers.Activation("relu", name=f"block{block}_sepconv{k}_act")(x)
        x = _separable(x, 728, f"block{block}_sepconv{k}")
    return layers.add([x, residual])


def Xception(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
             pooling=None, classes=1000, classifier_activation="softmax", name="xception"):
    """Instantiates Xception (default input 299x299, at least 71x71).

    >>> from tensorflux.keras.applications import Xception
    >>> Xception(weights=None, include_top=False, input_shape=(71, 71, 3)).count_params()
    20861480
    """
    from tensorflux.keras import layers

    img_input = imagenet_utils.model_input(weights, include_top, classes, input_tensor,
                                           input_shape, default_size=299, min_size=71)
    channel_axis = _channel_axis()
    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False,
                      name="block1_conv1")(img_input)
    x = layers.BatchNormalization(axis=channel_axis, name="block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = layers.BatchNormalization(axis=channel_axis, name="block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)
    x = _entry_block(x, 128, 2, first_activation=False)
    x = _entry_block(x, 256, 3)
    x = _entry_block(x, 728, 4)
    for block in range(5, 13):
        x = _middle_block(x, block)
    x = _entry_block(x, 728, 13, out_filters=1024)
    x = _separable(x, 1536, "block14_sepconv1")
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = _separable(x, 2048, "block14_sepconv2")
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      weights)
    model = imagenet_utils.finish_model(img_input, input_tensor, x, name)
    file_name, file_hash = WEIGHTS[bool(include_top)]
    return imagenet_utils.load_model_weights(model, weights, file_name,
                                             BASE_WEIGHTS_PATH + file_name, file_hash)


def preprocess_input(x, data_format=None):
    """tf mode: scales 0-255 inputs to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """See `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
