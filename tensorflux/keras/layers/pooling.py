"""keras.layers pooling layers: Max/AveragePooling1D/2D/3D and GlobalMax/GlobalAverage
Pooling1D/2D/3D (Keras 3's arguments, defaults and configs)."""

from tensorflux.keras.layers.base import InputSpec, Layer, _describe, floating_input
from tensorflux.keras.layers.convolutional import (
    check_window_fits,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
    tf_format,
)

__all__ = [
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D",
    "AvgPool3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GlobalMaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "MaxPooling1D",
    "MaxPooling2D", "MaxPooling3D",
]


def _tf():
    import tensorflux as tf

    return tf


class BasePooling(Layer):
    """Max or average over `pool_size` windows every `strides` (default: `pool_size`);
    'same' averages only the real (unpadded) elements, as Keras on TensorFlow does."""

    def __init__(self, pool_size, strides, pool_dimensions, pool_mode="max", padding="valid",
                 data_format=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = standardize_tuple(pool_size, pool_dimensions, "pool_size")
        strides = pool_size if strides is None else strides
        self.strides = standardize_tuple(strides, pool_dimensions, "strides")
        self.pool_mode = pool_mode
        standardize_padding(_describe(self), padding)
        self.padding = padding
        self.data_format = standardize_data_format(data_format)
        self.rank = pool_dimensions
        self.input_spec = InputSpec(ndim=pool_dimensions + 2)
        self.built = True

    def call(self, inputs):
        nn = _tf().nn
        shape = tuple(inputs.shape)
        padding = self.padding.lower()
        check_window_fits(self, shape, self.data_format, self.pool_size, self.strides,
                          padding, (1,) * self.rank, what="pool_size")
        pool = nn.max_pool if self.pool_mode == "max" else nn.avg_pool
        return pool(inputs, self.pool_size, self.strides, padding.upper(),
                    data_format=tf_format(self.data_format, self.rank))

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


def _pooling_class(name, rank, mode, default_size, example):
    if default_size is None:  # Keras 3: average pooling has no default pool_size
        def init(self, pool_size, strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
            BasePooling.__init__(self, pool_size, strides, rank, mode, padding, data_format,
                                 name=name, **kwargs)
    else:
        def init(self, pool_size=default_size, strides=None, padding="valid",
                 data_format=None, name=None, **kwargs):
            BasePooling.__init__(self, pool_size, strides, rank, mode, padding, data_format,
                                 name=name, **kwargs)

    kind = "maximum" if mode == "max" else "average"
    default = "required" if default_size is None else f"default {default_size}"
    doc = (f"{rank}-D {kind} pooling over `pool_size` windows ({default}).\n\n"
           f"    >>> import tensorflux as tf\n    >>> from tensorflux import keras\n"
           f"{example}\n    ")
    return type(name, (BasePooling,), {"__init__": init, "__doc__": doc,
                                       "__module__": __name__})


MaxPooling1D = _pooling_class(
    "MaxPooling1D", 1, "max", 2,
    "    >>> keras.layers.MaxPooling1D()(tf.constant([[[1.0], [3.0], [2.0], [0.0]]]))"
    ".numpy().ravel().tolist()\n    [3.0, 2.0]")
MaxPooling2D = _pooling_class(
    "MaxPooling2D", 2, "max", (2, 2),
    "    >>> keras.layers.MaxPooling2D()(tf.ones((1, 4, 4, 3))).shape\n"
    "    TensorShape([1, 2, 2, 3])")
MaxPooling3D = _pooling_class(
    "MaxPooling3D", 3, "max", (2, 2, 2),
    "    >>> keras.layers.MaxPooling3D()(tf.ones((1, 4, 4, 4, 3))).shape\n"
    "    TensorShape([1, 2, 2, 2, 3])")
AveragePooling1D = _pooling_class(
    "AveragePooling1D", 1, "average", None,
    "    >>> keras.layers.AveragePooling1D(2)(tf.constant([[[1.0], [3.0], [2.0], [0.0]]]))"
    ".numpy().ravel().tolist()\n    [2.0, 1.0]")
AveragePooling2D = _pooling_class(
    "AveragePooling2D", 2, "average", None,
    "    >>> keras.layers.AveragePooling2D(2, padding='same')(tf.ones((1, 3, 3, 1))).shape\n"
    "    TensorShape([1, 2, 2, 1])")
AveragePooling3D = _pooling_class(
    "AveragePooling3D", 3, "average", None,
    "    >>> keras.layers.AveragePooling3D(2)(tf.ones((1, 2, 2, 2, 1))).numpy().ravel()"
    ".tolist()\n    [1.0]")
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D


class BaseGlobalPooling(Layer):
    """The max or mean over every spatial dimension (kept as size 1 with `keepdims`)."""

    def __init__(self, pool_dimensions, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.keepdims = keepdims
        self.rank = pool_dimensions
        self.input_spec = InputSpec(ndim=pool_dimensions + 2)
        self.built = True

    def _axes(self):
        if self.data_format == "channels_last":
            return list(range(1, self.rank + 1))
        return list(range(2, self.rank + 2))

    def call(self, inputs):
        tf = _tf()
        if self.mode != "max":  # (a mean of integers is a float, as in Keras)
            inputs = floating_input(inputs, self.compute_dtype)
        reduce = tf.reduce_max if self.mode == "max" else tf.reduce_mean
        return reduce(inputs, axis=self._axes(), keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling1D(BaseGlobalPooling):
    """The mean over the steps; masked steps (a `mask` from Embedding/Masking) are left out.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.GlobalAveragePooling1D()(tf.constant([[[1.0], [3.0]]])).numpy().tolist()
    [[2.0]]
    """

    mode = "average"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(1, data_format, keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        tf = _tf()
        axis = 1 if self.data_format == "channels_last" else 2
        weights = tf.cast(mask, inputs.dtype)
        weights = tf.expand_dims(weights, 2 if self.data_format == "channels_last" else 1)
        total = tf.reduce_sum(inputs * weights, axis=axis, keepdims=self.keepdims)
        return total / tf.reduce_sum(weights, axis=axis, keepdims=self.keepdims)

    def compute_mask(self, inputs, mask=None):
        return None


def _global_class(name, rank, mode, example):
    def init(self, data_format=None, keepdims=False, **kwargs):
        BaseGlobalPooling.__init__(self, rank, data_format, keepdims, **kwargs)

    kind = "maximum" if mode == "max" else "mean"
    doc = (f"The {kind} over the {rank} spatial dimension(s).\n\n"
           f"    >>> import tensorflux as tf\n    >>> from tensorflux import keras\n"
           f"{example}\n    ")
    return type(name, (BaseGlobalPooling,), {"__init__": init, "__doc__": doc,
                                             "mode": mode, "__module__": __name__})


GlobalMaxPooling1D = _global_class(
    "GlobalMaxPooling1D", 1, "max",
    "    >>> keras.layers.GlobalMaxPooling1D()(tf.constant([[[1.0], [3.0]]])).numpy()"
    ".tolist()\n    [[3.0]]")
GlobalMaxPooling2D = _global_class(
    "GlobalMaxPooling2D", 2, "max",
    "    >>> keras.layers.GlobalMaxPooling2D(keepdims=True)(tf.ones((2, 3, 3, 4))).shape\n"
    "    TensorShape([2, 1, 1, 4])")
GlobalMaxPooling3D = _global_class(
    "GlobalMaxPooling3D", 3, "max",
    "    >>> keras.layers.GlobalMaxPooling3D()(tf.ones((2, 3, 3, 3, 4))).shape\n"
    "    TensorShape([2, 4])")
GlobalAveragePooling2D = _global_class(
    "GlobalAveragePooling2D", 2, "average",
    "    >>> keras.layers.GlobalAveragePooling2D()(tf.ones((2, 3, 3, 4))).shape\n"
    "    TensorShape([2, 4])")
GlobalAveragePooling3D = _global_class(
    "GlobalAveragePooling3D", 3, "average",
    "    >>> keras.layers.GlobalAveragePooling3D(data_format='channels_first')("
    "tf.ones((2, 4, 3, 3, 3))).shape\n    TensorShape([2, 4])")
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = (
    GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D)
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (
    GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D)
