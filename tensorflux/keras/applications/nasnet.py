"""keras.applications.nasnet: NASNetMobile and NASNetLarge (Zoph et al., 2018), NASNet-A
cells as Keras builds them (its layer names, auto-named activations and name scopes, so
weights load by layer name and variables have Keras's paths); channels_last only."""

from tensorflux.keras import backend
from tensorflux.keras.applications import imagenet_utils
from tensorflux.keras.engine.name_scope import name_scope

__all__ = ["NASNetLarge", "NASNetMobile", "decode_predictions", "preprocess_input"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
NASNET_MOBILE_WEIGHT_PATH = f"{BASE_WEIGHTS_PATH}NASNet-mobile.h5"
NASNET_MOBILE_WEIGHT_PATH_NO_TOP = f"{BASE_WEIGHTS_PATH}NASNet-mobile-no-top.h5"
NASNET_LARGE_WEIGHT_PATH = f"{BASE_WEIGHTS_PATH}NASNet-large.h5"
NASNET_LARGE_WEIGHT_PATH_NO_TOP = f"{BASE_WEIGHTS_PATH}NASNet-large-no-top.h5"
# Keyed by (default size, include_top): the cache file name, its origin and MD5.
WEIGHTS = {
    (224, True): ("nasnet_mobile.h5", NASNET_MOBILE_WEIGHT_PATH,
                  "020fb642bf7360b370c678b08e0adf61"),
    (224, False): ("nasnet_mobile_no_top.h5", NASNET_MOBILE_WEIGHT_PATH_NO_TOP,
                   "1ed92395b5b598bdda52abe5c0dbfd63"),
    (331, True): ("nasnet_large.h5", NASNET_LARGE_WEIGHT_PATH,
                  "11577c9a518f0070763c2b964a382f17"),
    (331, False): ("nasnet_large_no_top.h5", NASNET_LARGE_WEIGHT_PATH_NO_TOP,
                   "d81d89dc07e6e56530c4e77faddd61b5"),
}
_BN = {"momentum": 0.9997, "epsilon": 1e-3}


def _channel_dim():
    return 1 if backend.image_data_format() == "channels_first" else -1


def _bn(x, name):
    from tensorflux.keras import layers

    return layers.BatchNormalization(axis=_channel_dim(), name=name, **_BN)(x)


def _conv1x1(x, filters, name):
    from tensorflux.keras import layers

    return layers.Conv2D(filters, (1, 1), strides=(1, 1), padding="same", name=name,
                         use_bias=False, kernel_initializer="he_normal")(x)


def NASNet(input_shape=None, penultimate_filters=4032, num_blocks=6, stem_block_filters=96,
           skip_reduction=True, filter_multiplier=2, include_top=True, weights="imagenet",
           input_tensor=None, pooling=None, classes=1000, default_size=None,
           classifier_activation="softmax", name="NASNet"):
    """The NASNet-A builder (Keras's `nasnet.NASNet`): a strided stem, two reduction cells,
    then three stacks of `num_blocks` normal cells separated by reduction cells."""
    from tensorflux.keras import layers

    data_format = backend.image_data_format()
    if data_format == "channels_first":
        raise ValueError("NASNet does not support the `channels_first` image data format. "
                         "Switch to `channels_last` by editing your local config file at "
                         "~/.keras/keras.json")
    imagenet_utils.validate_weights(weights)
    imagenet_utils.check_classes(weights, include_top, classes)
    if isinstance(input_shape, tuple) and None in input_shape and weights == "imagenet":
        raise ValueError("When specifying the input shape of a NASNet and loading `ImageNet` "
                         "weights, the input_shape argument must be static (no None "
                         f"entries). Got: `input_shape={input_shape}`.")
    if default_size is None:
        default_size = 331
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32, data_format=data_format,
        require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    if penultimate_filters % (24 * (filter_multiplier**2)) != 0:
        raise ValueError("For NASNet-A models, the `penultimate_filters` must be a multiple "
                         "of 24 * (`filter_multiplier` ** 2). Current value: "
                         f"{penultimate_filters}")
    filters = penultimate_filters // 24
    x = layers.Conv2D(stem_block_filters, (3, 3), strides=(2, 2), padding="valid",
                      use_bias=False, name="stem_conv1", kernel_initializer="he_normal")(
                          img_input)
    x = _bn(x, "stem_bn1")
    p = None
    x, p = _reduction_a_cell(x, p, filters // (filter_multiplier**2), block_id="stem_1")
    x, p = _reduction_a_cell(x, p, filters // filter_multiplier, block_id="stem_2")
    for stack in range(3):
        width = filters * filter_multiplier**stack
        if stack > 0:
            # With `skip_reduction` the cells after a reduction see the cell before it.
            x, p_reduced = _reduction_a_cell(x, p, width,
                                             block_id=f"reduce_{stack * num_blocks}")
            p = p if skip_reduction else p_reduced
        for i in range(num_blocks):
            block_id = i if stack == 0 else stack * num_blocks + i + 1
            x, p = _normal_a_cell(x, p, width, block_id=f"{block_id}")
    x = layers.Activation("relu")(x)
    x = imagenet_utils.classifier_top(x, include_top, pooling, classes, classifier_activation,
                                      weights, top_pool_name=None)
    model = imagenet_utils.finish_model(img_input, input_tensor, x, name)
    if weights == "imagenet":
        entry = WEIGHTS.get((default_size, bool(include_top)))
        if entry is None:
            raise ValueError("ImageNet weights can only be loaded with NASNetLarge or "
                             "NASNetMobile")
        file_name, origin, file_hash = entry
        imagenet_utils.load_imagenet_weights(model, file_name, origin, file_hash)
    elif weights is not None:
        imagenet_utils.load_weights(model, weights)
    return model


def NASNetMobile(input_shape=None, include_top=True, weights="imagenet", input_tensor=None,
                 pooling=None, classes=1000, classifier_activation="softmax",
                 name="nasnet_mobile"):
    """Instantiates NASNet-A Mobile (4 @ 1056, default input 224x224); `preprocess_input`
    uses tf mode. Keras refuses it on its torch backend only; it builds here."""
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return NASNet(input_shape, penultimate_filters=1056, num_blocks=4, stem_block_filters=32,
                  skip_reduction=False, filter_multiplier=2, include_top=include_top,
                  weights=weights, input_tensor=input_tensor, pooling=pooling,
                  classes=classes, default_size=224,
                  classifier_activation=classifier_activation, name=name)


def NASNetLarge(input_shape=None, include_top=True, weights="imagenet", input_tensor=None,
                pooling=None, classes=1000, classifier_activation="softmax",
                name="nasnet_large"):
    """Instantiates NASNet-A Large (6 @ 4032, default input 331x331); `preprocess_input`
    uses tf mode."""
    return NASNet(input_shape, penultimate_filters=4032, num_blocks=6, stem_block_filters=96,
                  skip_reduction=True, filter_multiplier=2, include_top=include_top,
                  weights=weights, input_tensor=input_tensor, pooling=pooling,
                  classes=classes, default_size=331,
                  classifier_activation=classifier_activation, name=name)


def _separable_conv_block(ip, filters, kernel_size=(3, 3), strides=(1, 1), block_id=None):
    """Two ReLU, separable convolution, BatchNormalization steps; a stride-2 block pads
    explicitly first, as TensorFlow's 'same' would."""
    from tensorflux.keras import layers

    with name_scope(f"separable_conv_block_{block_id}"):
        x = layers.Activation("relu")(ip)
        padding = "same"
        if strides == (2, 2):
            x = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(x, kernel_size),
                                     name=f"separable_conv_1_pad_{block_id}")(x)
            padding = "valid"
        x = layers.SeparableConv2D(filters, kernel_size, strides=strides,
                                   name=f"separable_conv_1_{block_id}", padding=padding,
                                   use_bias=False)(x)
        x = _bn(x, f"separable_conv_1_bn_{block_id}")
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, kernel_size, name=f"separable_conv_2_{block_id}",
                                   padding="same", use_bias=False)(x)
        x = _bn(x, f"separable_conv_2_bn_{block_id}")
    return x


def _adjust_block(p, ip, filters, block_id=None):
    """The previous cell's output `p` brought to the shape of `ip`: halved spatially by two
    offset 1x1 paths when the sizes differ, or projected when the channels differ."""
    from tensorflux.keras import layers

    channel_dim = _channel_dim()
    img_dim = 2 if backend.image_data_format() == "channels_first" else -2
    with name_scope("adjust_block"):
        if p is None:
            return ip
        if tuple(p.shape)[img_dim] != tuple(ip.shape)[img_dim]:
            with name_scope(f"adjust_reduction_block_{block_id}"):
                p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
                p1 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                             name=f"adjust_avg_pool_1_{block_id}")(p)
                p1 = layers.Conv2D(filters // 2, (1, 1), padding="same", use_bias=False,
                                   name=f"adjust_conv_1_{block_id}",
                                   kernel_initializer="he_normal")(p1)
                p2 = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
                p2 = layers.Cropping2D(cropping=((1, 0), (1, 0)))(p2)
                p2 = layers.AveragePooling2D((1, 1), strides=(2, 2), padding="valid",
                                             name=f"adjust_avg_pool_2_{block_id}")(p2)
                p2 = layers.Conv2D(filters // 2, (1, 1), padding="same", use_bias=False,
                                   name=f"adjust_conv_2_{block_id}",
                                   kernel_initializer="he_normal")(p2)
                p = layers.concatenate([p1, p2], axis=channel_dim)
                p = _bn(p, f"adjust_bn_{block_id}")
        elif tuple(p.shape)[channel_dim] != filters:
            with name_scope(f"adjust_projection_block_{block_id}"):
                p = layers.Activation("relu")(p)
                p = _conv1x1(p, filters, f"adjust_conv_projection_{block_id}")
                p = _bn(p, f"adjust_bn_{block_id}")
    return p


def _normal_a_cell(ip, p, filters, block_id=None):
    """A NASNet-A normal cell: five added pairs over the cell's input and the previous
    cell's, concatenated with the latter. Returns (output, the cell's input)."""
    from tensorflux.keras import layers

    def avg3(x, name):
        return layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=name)(x)

    with name_scope(f"normal_A_block_{block_id}"):
        p = _adjust_block(p, ip, filters, block_id)
        h = layers.Activation("relu")(ip)
        h = _conv1x1(h, filters, f"normal_conv_1_{block_id}")
        h = _bn(h, f"normal_bn_1_{block_id}")
        with name_scope("block_1"):
            x1 = layers.add([
                _separable_conv_block(h, filters, (5, 5), block_id=f"normal_left1_{block_id}"),
                _separable_conv_block(p, filters, block_id=f"normal_right1_{block_id}")],
                name=f"normal_add_1_{block_id}")
        with name_scope("block_2"):
            x2 = layers.add([
                _separable_conv_block(p, filters, (5, 5), block_id=f"normal_left2_{block_id}"),
                _separable_conv_block(p, filters, (3, 3),
                                      block_id=f"normal_right2_{block_id}")],
                name=f"normal_add_2_{block_id}")
        with name_scope("block_3"):
            x3 = layers.add([avg3(h, f"normal_left3_{block_id}"), p],
                            name=f"normal_add_3_{block_id}")
        with name_scope("block_4"):
            x4 = layers.add([avg3(p, f"normal_left4_{block_id}"),
                             avg3(p, f"normal_right4_{block_id}")],
                            name=f"normal_add_4_{block_id}")
        with name_scope("block_5"):
            x5 = _separable_conv_block(h, filters, block_id=f"normal_left5_{block_id}")
            x5 = layers.add([x5, h], name=f"normal_add_5_{block_id}")
        x = layers.concatenate([p, x1, x2, x3, x4, x5], axis=_channel_dim(),
                               name=f"normal_concat_{block_id}")
    return x, ip


def _reduction_a_cell(ip, p, filters, block_id=None):
    """A NASNet-A reduction cell: stride-2 separable convolutions and poolings, four added
    pairs concatenated. Returns (output, the cell's input)."""
    from tensorflux.keras import layers

    def pool(kind, x, strides, padding, name):
        return kind((3, 3), strides=strides, padding=padding, name=name)(x)

    with name_scope(f"reduction_A_block_{block_id}"):
        p = _adjust_block(p, ip, filters, block_id)
        h = layers.Activation("relu")(ip)
        h = _conv1x1(h, filters, f"reduction_conv_1_{block_id}")
        h = _bn(h, f"reduction_bn_1_{block_id}")
        h3 = layers.ZeroPadding2D(padding=imagenet_utils.correct_pad(h, 3),
                                  name=f"reduction_pad_1_{block_id}")(h)
        with name_scope("block_1"):
            x1 = layers.add([
                _separable_conv_block(h, filters, (5, 5), strides=(2, 2),
                                      block_id=f"reduction_left1_{block_id}"),
                _separable_conv_block(p, filters, (7, 7), strides=(2, 2),
                                      block_id=f"reduction_right1_{block_id}")],
                name=f"reduction_add_1_{block_id}")
        with name_scope("block_2"):
            x2 = layers.add([
                pool(layers.MaxPooling2D, h3, (2, 2), "valid", f"reduction_left2_{block_id}"),
                _separable_conv_block(p, filters, (7, 7), strides=(2, 2),
                                      block_id=f"reduction_right2_{block_id}")],
                name=f"reduction_add_2_{block_id}")
        with name_scope("block_3"):
            x3 = layers.add([
                pool(layers.AveragePooling2D, h3, (2, 2), "valid",
                     f"reduction_left3_{block_id}"),
                _separable_conv_block(p, filters, (5, 5), strides=(2, 2),
                                      block_id=f"reduction_right3_{block_id}")],
                name=f"reduction_add3_{block_id}")
        with name_scope("block_4"):
            x4 = pool(layers.AveragePooling2D, x1, (1, 1), "same",
                      f"reduction_left4_{block_id}")
            x4 = layers.add([x2, x4])
        with name_scope("block_5"):
            x5 = layers.add([
                _separable_conv_block(x1, filters, (3, 3),
                                      block_id=f"reduction_left4_{block_id}"),
                pool(layers.MaxPooling2D, h3, (2, 2), "valid",
                     f"reduction_right5_{block_id}")],
                name=f"reduction_add4_{block_id}")
        x = layers.concatenate([x2, x3, x4, x5], axis=_channel_dim(),
                               name=f"reduction_concat_{block_id}")
    return x, ip


def preprocess_input(x, data_format=None):
    """tf mode: 0-255 inputs to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """See `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
