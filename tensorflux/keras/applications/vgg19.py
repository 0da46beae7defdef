"""keras.applications.vgg19: VGG19 with Keras's layer names."""

from tensorflux.keras.applications.vgg16 import build_vgg, decode_predictions, preprocess_input

__all__ = ["VGG19", "decode_predictions", "preprocess_input"]


def VGG19(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
          pooling=None, classes=1000, classifier_activation="softmax", name="vgg19"):
    """Instantiates VGG19 (16 convolutions); arguments as VGG16's.

    >>> from tensorflux.keras.applications import VGG19
    >>> VGG19(weights=None, include_top=False, input_shape=(32, 32, 3)).count_params()
    20024384
    """
    return build_vgg((2, 2, 4, 4, 4), "vgg19", include_top, weights, input_tensor,
                     input_shape, pooling, classes, classifier_activation, name)
