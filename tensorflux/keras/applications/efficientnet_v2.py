"""keras.applications.efficientnet_v2: EfficientNetV2 B0..B3, S, M and L (Tan & Le, 2021) as
Keras builds them: fused and depthwise inverted bottlenecks, preprocessing (rescale, and
for the B models ImageNet normalization) included in the model unless
`include_preprocessing=False`."""

import copy
import math

from tensorflux.keras import backend
from tensorflux.keras.applications import imagenet_utils

__all__ = ["EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
           "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S", "decode_predictions",
           "preprocess_input"]

BASE_WEIGHTS_PATH = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                     "efficientnet_v2/")
WEIGHTS_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
# (width coefficient, depth coefficient, default input size) per weights variant.
SCALINGS = {"b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260),
            "b3": (1.2, 1.4, 300), "-s": (1.0, 1.0, 384), "-m": (1.0, 1.0, 480),
            "-l": (1.0, 1.0, 480)}


def _stages(*rows):
    """Keras's stage dicts from rows of (conv_type (1: fused), kernel_size, num_repeat,
    input_filters, output_filters, expand_ratio, se_ratio, strides)."""
    keys = ("conv_type", "kernel_size", "num_repeat", "input_filters", "output_filters",
            "expand_ratio", "se_ratio", "strides")
    return [dict(zip(keys, row)) for row in rows]


_B_STAGES = ((1, 3, 1, 32, 16, 1, 0, 1), (1, 3, 2, 16, 32, 4, 0, 2), (1, 3, 2, 32, 48, 4, 0, 2),
             (0, 3, 3, 48, 96, 4, 0.25, 2), (0, 3, 5, 96, 112, 6, 0.25, 1),
             (0, 3, 8, 112, 192, 6, 0.25, 2))
DEFAULT_BLOCKS_ARGS = {
    "efficientnetv2-s": _stages(
        (1, 3, 2, 24, 24, 1, 0, 1), (1, 3, 4, 24, 48, 4, 0, 2), (1, 3, 4, 48, 64, 4, 0, 2),
        (0, 3, 6, 64, 128, 4, 0.25, 2), (0, 3, 9, 128, 160, 6, 0.25, 1),
        (0, 3, 15, 160, 256, 6, 0.25, 2)),
    "efficientnetv2-m": _stages(
        (1, 3, 3, 24, 24, 1, 0, 1), (1, 3, 5, 24, 48, 4, 0, 2), (1, 3, 5, 48, 80, 4, 0, 2),
        (0, 3, 7, 80, 160, 4, 0.25, 2), (0, 3, 14, 160, 176, 6, 0.25, 1),
        (0, 3, 18, 176, 304, 6, 0.25, 2), (0, 3, 5, 304, 512, 6, 0.25, 1)),
    "efficientnetv2-l": _stages(
        (1, 3, 4, 32, 32, 1, 0, 1), (1, 3, 7, 32, 64, 4, 0, 2), (1, 3, 7, 64, 96, 4, 0, 2),
        (0, 3, 10, 96, 192, 4, 0.25, 2), (0, 3, 19, 192, 224, 6, 0.25, 1),
        (0, 3, 25, 224, 384, 6, 0.25, 2), (0, 3, 7, 384, 640, 6, 0.25, 1)),
    **{f"efficientnetv2-b{k}": _stages(*_B_STAGES) for k in range(4)},
}
CONV_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                           "config": {"scale": 2.0, "mode": "fan_out",
                                      "distribution": "truncated_normal"}}
DENSE_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                            "config": {"scale": 1.0 / 3.0, "mode": "fan_out",
                                       "distribution": "uniform"}}
_IMAGENET_MEAN = [0.485, 0.456, 0.406]
_IMAGENET_VARIANCE = [0.229**2, 0.224**2, 0.225**2]


def round_filters(filters, width_coefficient, min_depth, depth_divisor):
    """`filters` scaled by the width coefficient, rounded to a multiple of the divisor."""
    filters *= width_coefficient
    minimum = min_depth or depth_divisor
    return int(max(minimum, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor))


def round_repeats(repeats, depth_coefficient):
    return int(math.ceil(depth_coefficient * repeats))


def _conv(filters, kernel_size, name, strides=1, activation=None, use_bias=False):
    from tensorflux.keras import layers

    return layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=copy.deepcopy(CONV_KERNEL_INITIALIZER), name=name)


def _bn_act(x, bn_momentum, activation, bn_name, act_name):
    """BatchNormalization, then the activation when `act_name` is given."""
    from tensorflux.keras import layers

    bn_axis = 3 if backend.image_data_format() == "channels_last" else 1
    x = layers.BatchNormalization(axis=bn_axis, momentum=bn_momentum, name=bn_name)(x)
    if act_name is not None:
        x = layers.Activation(activation, name=act_name)(x)
    return x


def _squeeze_excite(x, filters, input_filters, se_ratio, activation, name):
    from tensorflux.keras import layers

    se_filters = max(1, int(input_filters * se_ratio))
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    channels_last = backend.image_data_format() == "channels_last"
    se = layers.Reshape((1, 1, filters) if channels_last else (filters, 1, 1),
                        name=f"{name}se_reshape")(se)
    se = _conv(filters=se_filters, kernel_size=1, activation=activation, use_bias=True,
               name=f"{name}se_reduce")(se)
    se = _conv(filters=filters, kernel_size=1, activation="sigmoid", use_bias=True,
               name=f"{name}se_expand")(se)
    return layers.multiply([x, se], name=f"{name}se_excite")


def _residual(x, inputs, strides, input_filters, output_filters, drop_rate, name):
    """Adds the block's input back when the shapes agree, after per-sample dropout."""
    from tensorflux.keras import layers

    if strides != 1 or input_filters != output_filters:
        return x
    if drop_rate:
        x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
    return layers.add([x, inputs], name=f"{name}add")


def MBConvBlock(input_filters, output_filters, expand_ratio=1, kernel_size=3, strides=1,
                se_ratio=0.0, bn_momentum=0.9, activation="swish", survival_probability=0.8,
                name=None):
    """The depthwise inverted bottleneck: 1x1 expansion, depthwise convolution,
    squeeze-and-excitation, 1x1 projection. `survival_probability` is, as in Keras, the
    dropout rate of the residual branch."""
    from tensorflux.keras import layers

    if name is None:
        name = backend.get_uid("block0")

    def apply(inputs):
        filters = input_filters * expand_ratio
        x = inputs
        if expand_ratio != 1:
            x = _conv(filters, 1, name=f"{name}expand_conv")(x)
            x = _bn_act(x, bn_momentum, activation, f"{name}expand_bn",
                        f"{name}expand_activation")
        x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same",
                                   use_bias=False,
                                   depthwise_initializer=copy.deepcopy(CONV_KERNEL_INITIALIZER),
                                   name=f"{name}dwconv2")(x)
        x = _bn_act(x, bn_momentum, activation, f"{name}bn", f"{name}activation")
        if 0 < se_ratio <= 1:
            x = _squeeze_excite(x, filters, input_filters, se_ratio, activation, name)
        x = _conv(output_filters, 1, name=f"{name}project_conv")(x)
        x = _bn_act(x, bn_momentum, activation, f"{name}project_bn", None)
        return _residual(x, inputs, strides, input_filters, output_filters,
                         survival_probability, name)

    return apply


def FusedMBConvBlock(input_filters, output_filters, expand_ratio=1, kernel_size=3, strides=1,
                     se_ratio=0.0, bn_momentum=0.9, activation="swish",
                     survival_probability=0.8, name=None):
    """The fused inverted bottleneck: one full convolution does the expansion (and the
    stride); without expansion the projection convolution is that full convolution."""
    if name is None:
        name = backend.get_uid("block0")

    def apply(inputs):
        filters = input_filters * expand_ratio
        x = inputs
        if expand_ratio != 1:
            x = _conv(filters, kernel_size, strides=strides, name=f"{name}expand_conv")(x)
            x = _bn_act(x, bn_momentum, activation, f"{name}expand_bn",
                        f"{name}expand_activation")
        if 0 < se_ratio <= 1:
            x = _squeeze_excite(x, filters, input_filters, se_ratio, activation, name)
        fused = expand_ratio == 1
        x = _conv(output_filters, kernel_size if fused else 1, strides=strides if fused else 1,
                  name=f"{name}project_conv")(x)
        x = _bn_act(x, bn_momentum, activation, f"{name}project_bn",
                    f"{name}project_activation" if fused else None)
        return _residual(x, inputs, strides, input_filters, output_filters,
                         survival_probability, name)

    return apply


def _family(variant):
    return "efficientnetv2-" + variant.lstrip("-")


def EfficientNetV2(width_coefficient, depth_coefficient, default_size, dropout_rate=0.2,
                   drop_connect_rate=0.2, depth_divisor=8, min_depth=8, bn_momentum=0.9,
                   activation="swish", blocks_args="default", name="efficientnetv2",
                   include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   include_preprocessing=True, weights_name=None):
    """The EfficientNetV2 family's builder (Keras's `efficientnet_v2.EfficientNetV2`);
    `blocks_args="default"` takes the stages of the model named `name` (or of the
    `weights_name` variant)."""
    from tensorflux.keras import initializers, layers

    if blocks_args == "default":
        key = _family(weights_name) if weights_name else name
        if key not in DEFAULT_BLOCKS_ARGS:
            raise ValueError("`blocks_args='default'` needs the name of an EfficientNetV2 "
                             f"model, one of {sorted(DEFAULT_BLOCKS_ARGS)}. Received: "
                             f"name={name}")
        blocks_args = DEFAULT_BLOCKS_ARGS[key]
    imagenet_utils.validate_weights(weights)
    imagenet_utils.check_classes(weights, include_top, classes)
    bn_axis = 3 if backend.image_data_format() == "channels_last" else 1
    input_shape = imagenet_utils.obtain_input_shape(
        input_shape, default_size=default_size, min_size=32,
        data_format=backend.image_data_format(), require_flatten=include_top, weights=weights)
    img_input = imagenet_utils.image_input(input_tensor, input_shape)
    x = img_input
    if include_preprocessing:
        # The B models were trained on ImageNet-normalized inputs, S/M/L on [-1, 1].
        b_model = (weights_name or name.split("-")[-1]).startswith("b")
        if b_model and input_shape[bn_axis - 1] == 3:
            x = layers.Rescaling(scale=1.0 / 255)(x)
            x = layers.Normalization(mean=_IMAGENET_MEAN, variance=_IMAGENET_VARIANCE,
                                     axis=bn_axis)(x)
        else:
            x = layers.Rescaling(scale=1.0 / 128.0, offset=-1)(x)

    def round_width(filters):
        return round_filters(filters, width_coefficient, min_depth, depth_divisor)

    x = _conv(round_width(blocks_args[0]["input_filters"]), 3, strides=2, name="stem_conv")(x)
    x = _bn_act(x, bn_momentum, activation, "stem_bn", "stem_activation")
    blocks_args = copy.deepcopy(blocks_args)
    # Keras spreads the drop rates over the unscaled number of blocks.
    total = float(sum(args["num_repeat"] for args in blocks_args))
    b = 0
    for i, args in enumerate(blocks_args):
        if args["num_repeat"] <= 0:
            raise ValueError("The number of repeats in `EfficientNetV2` must be > 0. "
                             f"Received: num_repeat={args['num_repeat']}")
        args["input_filters"] = round_width(args["input_filters"])
        args["output_filters"] = round_width(args["output_filters"])
        block = FusedMBConvBlock if args.pop("conv_type") == 1 else MBConvBlock
        for j in range(round_repeats(args.pop("num_repeat"), depth_coefficient)):
            if j > 0:
                args["strides"] = 1
                args["input_filters"] = args["output_filters"]
            x = block(activation=activation, bn_momentum=bn_momentum,
                      survival_probability=drop_connect_rate * b / total,
                      name=f"block{i + 1}{chr(j + 97)}_", **args)(x)
            b += 1
    x = _conv(round_width(1280), 1, name="top_conv")(x)
    x = _bn_act(x, bn_momentum, activation, "top_bn", "top_activation")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation,
                         kernel_initializer=copy.deepcopy(DENSE_KERNEL_INITIALIZER),
                         bias_initializer=initializers.Constant(0.0), name="predictions")(x)
    else:
        x = imagenet_utils.pool_features(x, pooling, "avg_pool", "max_pool")
    model = imagenet_utils.finish_model(img_input, input_tensor, x, name)
    if weights == "imagenet":
        if weights_name not in WEIGHTS_HASHES:
            raise ValueError("ImageNet weights exist for the variants "
                             f"{sorted(WEIGHTS_HASHES)}. Received: weights_name={weights_name}")
        file_name = _family(weights_name) + (".h5" if include_top else "_notop.h5")
        imagenet_utils.load_imagenet_weights(model, file_name, BASE_WEIGHTS_PATH + file_name,
                                             WEIGHTS_HASHES[weights_name][0 if include_top
                                                                          else 1])
    elif weights is not None:
        imagenet_utils.load_weights(model, weights)
    return model


def _variant(variant, include_top, weights, input_tensor, input_shape, pooling, classes,
             classifier_activation, include_preprocessing, name):
    width, depth, size = SCALINGS[variant]
    return EfficientNetV2(width, depth, size, name=name, include_top=include_top,
                          weights=weights, input_tensor=input_tensor, input_shape=input_shape,
                          pooling=pooling, classes=classes,
                          classifier_activation=classifier_activation,
                          include_preprocessing=include_preprocessing, weights_name=variant)


def EfficientNetV2B0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                     pooling=None, classes=1000, classifier_activation="softmax",
                     include_preprocessing=True, name="efficientnetv2-b0"):
    """Instantiates EfficientNetV2B0 (default input 224x224). The model rescales and
    normalizes its 0-255 inputs itself; `preprocess_input` is the identity.

    >>> from tensorflux.keras.applications import EfficientNetV2B0
    >>> EfficientNetV2B0(weights=None, input_shape=(32, 32, 3)).count_params()
    7200312
    """
    return _variant("b0", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2B1(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                     pooling=None, classes=1000, classifier_activation="softmax",
                     include_preprocessing=True, name="efficientnetv2-b1"):
    """Instantiates EfficientNetV2B1 (width 1.0, depth 1.1, default input 240x240)."""
    return _variant("b1", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2B2(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                     pooling=None, classes=1000, classifier_activation="softmax",
                     include_preprocessing=True, name="efficientnetv2-b2"):
    """Instantiates EfficientNetV2B2 (width 1.1, depth 1.2, default input 260x260)."""
    return _variant("b2", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2B3(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                     pooling=None, classes=1000, classifier_activation="softmax",
                     include_preprocessing=True, name="efficientnetv2-b3"):
    """Instantiates EfficientNetV2B3 (width 1.2, depth 1.4, default input 300x300)."""
    return _variant("b3", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2S(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    include_preprocessing=True, name="efficientnetv2-s"):
    """Instantiates EfficientNetV2S (default input 384x384); its built-in preprocessing
    maps 0-255 inputs to [-1, 1]."""
    return _variant("-s", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2M(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    include_preprocessing=True, name="efficientnetv2-m"):
    """Instantiates EfficientNetV2M (default input 480x480)."""
    return _variant("-m", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def EfficientNetV2L(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    include_preprocessing=True, name="efficientnetv2-l"):
    """Instantiates EfficientNetV2L (default input 480x480)."""
    return _variant("-l", include_top, weights, input_tensor, input_shape, pooling, classes,
                    classifier_activation, include_preprocessing, name)


def preprocess_input(x, data_format=None):
    """The identity: EfficientNetV2 models include their preprocessing (as in Keras)."""
    return x


def decode_predictions(preds, top=5):
    """See `imagenet_utils.decode_predictions`."""
    return imagenet_utils.decode_predictions(preds, top=top)
