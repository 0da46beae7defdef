"""keras.applications.vgg16: VGG16 (Simonyan & Zisserman, 2014) with Keras's layer names."""

from tensorflux.keras.applications import imagenet_utils

__all__ = ["VGG16", "decode_predictions", "preprocess_input"]

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
WEIGHTS = {
    "vgg16": ((_BASE + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
               "64373286793e3c8b2b4e3219cbf3544b"),
              (_BASE + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
               "6d6bbae143d832006294945121d1f1fc")),
    "vgg19": ((_BASE + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5",
               "cbe5617147190e668d6c5d5026f83318"),
              (_BASE + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
               "253f8cb515780f3b799900260a226db6")),
}


def build_vgg(convs_per_block, family, include_top, weights, input_tensor, input_shape,
              pooling, classes, classifier_activation, name):
    """VGG16 ([2, 2, 3, 3, 3]) or VGG19 ([2, 2, 4, 4, 4])."""
    from tensorflux.keras import layers

    img_input = imagenet_utils.model_input(weights, include_top, classes, input_tensor,
                                           input_shape)
    x = img_input
    for block, (filters, convs) in enumerate(zip((64, 128, 256, 512, 512), convs_per_block),
                                             start=1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling)
    model = imagenet_utils.finish_model(img_input, input_tensor, x, name)
    origin, file_hash = WEIGHTS[family][0 if include_top else 1]
    return imagenet_utils.load_model_weights(model, weights, origin.rsplit("/", 1)[1], origin,
                                             file_hash)


def VGG16(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg16"):
    """Instantiates VGG16: 13 convolutions in 5 blocks, plus 3 dense layers when
    `include_top`. `weights` is "imagenet" (Keras's file, from its cache or downloaded),
    None, or a weights file path. Inputs are preprocessed by `preprocess_input` (caffe).

    >>> from tensorflux.keras.applications import VGG16
    >>> VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)).count_params()
    14714688
    """
    return build_vgg((2, 2, 3, 3, 3), "vgg16", include_top, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name)


def preprocess_input(x, data_format=None):
    """Caffe mode: RGB -> BGR and minus the ImageNet means, 0-255 inputs."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """See `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
