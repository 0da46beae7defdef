"""keras.applications.inception_v3: InceptionV3 (Szegedy et al., 2015) as Keras builds it
(auto-named conv2d/batch_normalization/activation layers, mixed0..mixed10)."""

from tensorflux.keras import backend
from tensorflux.keras.applications import imagenet_utils

__all__ = ["InceptionV3", "decode_predictions", "preprocess_input"]

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
WEIGHTS_PATH = _BASE + "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_PATH_NO_TOP = _BASE + "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def conv2d_bn(x, filters, num_row, num_col, padding="same", strides=(1, 1), name=None):
    from tensorflux.keras import layers

    bn_name = f"{name}_bn" if name is not None else None
    conv_name = f"{name}_conv" if name is not None else None
    bn_axis = 1 if backend.image_data_format() == "channels_first" else 3
    x = layers.Conv2D(filters, (num_row, num_col), strides=strides, padding=padding,
                      use_bias=False, name=conv_name)(x)
    x = layers.BatchNormalization(axis=bn_axis, scale=False, name=bn_name)(x)
    return layers.Activation("relu", name=name)(x)


def _avg_branch(x, filters):
    from tensorflux.keras import layers

    pooled = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return conv2d_bn(pooled, filters, 1, 1)


def InceptionV3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="inception_v3"):
    """Instantiates InceptionV3 (299x299 default input, at least 75x75);
    `preprocess_input` uses tf mode."""
    from tensorflux.keras import layers

    img_input = imagenet_utils.model_input(weights, include_top, classes, input_tensor,
                                           input_shape, default_size=299, min_size=75)
    axis = 1 if backend.image_data_format() == "channels_first" else 3

    def concat(tensors, name=None):
        return layers.concatenate(tensors, axis=axis, name=name)

    x = conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = conv2d_bn(x, 32, 3, 3, padding="valid")
    x = conv2d_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv2d_bn(x, 80, 1, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)

    # mixed 0, 1, 2: 35 x 35 x 256/288/288
    for index, pool_filters in enumerate((32, 64, 64)):
        branch1x1 = conv2d_bn(x, 64, 1, 1)
        branch5x5 = conv2d_bn(x, 48, 1, 1)
        branch5x5 = conv2d_bn(branch5x5, 64, 5, 5)
        branch3x3dbl = conv2d_bn(x, 64, 1, 1)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
        branch_pool = _avg_branch(x, pool_filters)
        x = concat([branch1x1, branch5x5, branch3x3dbl, branch_pool], f"mixed{index}")

    # mixed 3: 17 x 17 x 768
    branch3x3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    branch3x3dbl = conv2d_bn(x, 64, 1, 1)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3)
    branch3x3dbl = conv2d_bn(branch3x3dbl, 96, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = concat([branch3x3, branch3x3dbl, branch_pool], "mixed3")

    # mixed 4..7: 17 x 17 x 768
    for index, width in ((4, 128), (5, 160), (6, 160), (7, 192)):
        branch1x1 = conv2d_bn(x, 192, 1, 1)
        branch7x7 = conv2d_bn(x, width, 1, 1)
        branch7x7 = conv2d_bn(branch7x7, width, 1, 7)
        branch7x7 = conv2d_bn(branch7x7, 192, 7, 1)
        branch7x7dbl = conv2d_bn(x, width, 1, 1)
        branch7x7dbl = conv2d_bn(branch7x7dbl, width, 7, 1)
        branch7x7dbl = conv2d_bn(branch7x7dbl, width, 1, 7)
        branch7x7dbl = conv2d_bn(branch7x7dbl, width, 7, 1)
        branch7x7dbl = conv2d_bn(branch7x7dbl, 192, 1, 7)
        branch_pool = _avg_branch(x, 192)
        x = concat([branch1x1, branch7x7, branch7x7dbl, branch_pool], f"mixed{index}")

    # mixed 8: 8 x 8 x 1280
    branch3x3 = conv2d_bn(x, 192, 1, 1)
    branch3x3 = conv2d_bn(branch3x3, 320, 3, 3, strides=(2, 2), padding="valid")
    branch7x7x3 = conv2d_bn(x, 192, 1, 1)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 1, 7)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 7, 1)
    branch7x7x3 = conv2d_bn(branch7x7x3, 192, 3, 3, strides=(2, 2), padding="valid")
    branch_pool = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = concat([branch3x3, branch7x7x3, branch_pool], "mixed8")

    # mixed 9, 10: 8 x 8 x 2048
    for i in range(2):
        branch1x1 = conv2d_bn(x, 320, 1, 1)
        branch3x3 = conv2d_bn(x, 384, 1, 1)
        branch3x3_1 = conv2d_bn(branch3x3, 384, 1, 3)
        branch3x3_2 = conv2d_bn(branch3x3, 384, 3, 1)
        branch3x3 = concat([branch3x3_1, branch3x3_2], f"mixed9_{i}")
        branch3x3dbl = conv2d_bn(x, 448, 1, 1)
        branch3x3dbl = conv2d_bn(branch3x3dbl, 384, 3, 3)
        branch3x3dbl_1 = conv2d_bn(branch3x3dbl, 384, 1, 3)
        branch3x3dbl_2 = conv2d_bn(branch3x3dbl, 384, 3, 1)
        branch3x3dbl = concat([branch3x3dbl_1, branch3x3dbl_2])
        branch_pool = _avg_branch(x, 192)
        x = concat([branch1x1, branch3x3, branch3x3dbl, branch_pool], f"mixed{9 + i}")

    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      weights)
    model = imagenet_utils.finish_model(img_input, input_tensor, x, name)
    if include_top:
        origin, file_hash = WEIGHTS_PATH, "9a0d58056eeedaa3f26cb7ebd46da564"
    else:
        origin, file_hash = WEIGHTS_PATH_NO_TOP, "bcbd6486424b2319ff4ef7d526e38f63"
    return imagenet_utils.load_model_weights(model, weights, origin.rsplit("/", 1)[1], origin,
                                             file_hash)


def preprocess_input(x, data_format=None):
    """tf mode: scales 0-255 inputs to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """See `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
