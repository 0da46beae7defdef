"""keras.applications.resnet_v2: ResNet50V2/101V2/152V2 (pre-activation ResNets, He et al.
2016) with Keras's names; `preprocess_input` uses tf mode."""

from tensorflux.keras.applications import imagenet_utils, resnet

__all__ = ["ResNet50V2", "ResNet101V2", "ResNet152V2", "decode_predictions",
           "preprocess_input"]


def _resnet_v2(blocks, weights_name, include_top, weights, input_tensor, input_shape, pooling,
               classes, classifier_activation, name):
    def stack_fn(x):
        x = resnet.stack_residual_blocks_v2(x, 64, blocks[0], name="conv2")
        x = resnet.stack_residual_blocks_v2(x, 128, blocks[1], name="conv3")
        x = resnet.stack_residual_blocks_v2(x, 256, blocks[2], name="conv4")
        return resnet.stack_residual_blocks_v2(x, 512, blocks[3], stride1=1, name="conv5")

    return resnet.ResNet(stack_fn, True, True, name=name, weights_name=weights_name,
                         include_top=include_top, weights=weights, input_tensor=input_tensor,
                         input_shape=input_shape, pooling=pooling, classes=classes,
                         classifier_activation=classifier_activation)


def ResNet50V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
               pooling=None, classes=1000, classifier_activation="softmax", name="resnet50v2"):
    """Instantiates ResNet50V2 (stacks of 3, 4, 6, 3 pre-activation blocks).

    >>> from tensorflux.keras.applications import ResNet50V2
    >>> model = ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3))
    >>> model.count_params()
    23564800
    """
    return _resnet_v2((3, 4, 6, 3), "resnet50v2", include_top, weights, input_tensor,
                      input_shape, pooling, classes, classifier_activation, name)


def ResNet101V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet101v2"):
    """Instantiates ResNet101V2 (stacks of 3, 4, 23, 3 pre-activation blocks)."""
    return _resnet_v2((3, 4, 23, 3), "resnet101v2", include_top, weights, input_tensor,
                      input_shape, pooling, classes, classifier_activation, name)


def ResNet152V2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="resnet152v2"):
    """Instantiates ResNet152V2 (stacks of 3, 8, 36, 3 pre-activation blocks)."""
    return _resnet_v2((3, 8, 36, 3), "resnet152v2", include_top, weights, input_tensor,
                      input_shape, pooling, classes, classifier_activation, name)


def preprocess_input(x, data_format=None):
    """tf mode: scales 0-255 inputs to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """See `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
