"""tf.keras.layers' Keras 2 layers that Keras 3 dropped: ThresholdedReLU, RandomHeight and
RandomWidth. Their configs name Keras's module for them, "keras._legacy.layers", as TF's
`.keras` files do."""

import tensorflux as tf
from tensorflux.keras import random as keras_random
from tensorflux.keras.layers.base import Layer
from tensorflux.keras.saving.serialization import keras_export

__all__ = ["RandomHeight", "RandomWidth", "ThresholdedReLU"]

# Keras 1/2 layers that TF 2.16+'s tf.keras.layers no longer has (neither does this one): what
# to write instead, added to the AttributeError that old code gets.
_REMOVED = {
    "CuDNNLSTM": "use keras.layers.LSTM, whose defaults are the cuDNN ones",
    "CuDNNGRU": "use keras.layers.GRU, whose defaults are the cuDNN ones",
    "merge": "use the functions keras.layers.concatenate, add, multiply, average, maximum or "
             "dot, or their layer classes",
}
_REMOVED["Merge"] = _REMOVED["merge"]


@keras_export("keras._legacy.layers.ThresholdedReLU")
class ThresholdedReLU(Layer):
    """x where x > theta, else 0.

    >>> import tensorflux as tf
    >>> tf.keras.layers.ThresholdedReLU(1.0)(tf.constant([0.5, 1.0, 2.0])).numpy().tolist()
    [0.0, 0.0, 2.0]
    """

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        if theta is None:
            raise ValueError("Theta of a Thresholded ReLU layer cannot be None, expecting a "
                             f"float. Received: {theta}")
        if theta < 0:
            raise ValueError("The theta value of a Thresholded ReLU layer should be >=0. "
                             f"Received: {theta}")
        self.theta = float(theta)
        self.supports_masking = True
        self.built = True

    def call(self, inputs):
        return inputs * tf.cast(inputs > tf.cast(self.theta, inputs.dtype), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "theta": self.theta}


class _RandomResize(Layer):
    """Resizes images (..., height, width, channels) along one axis (-3 or -2, `_axis`) by a
    factor drawn uniformly from [1 + lower, 1 + upper], only while training."""

    _axis = None

    def __init__(self, factor, interpolation="bilinear", seed=None, **kwargs):
        super().__init__(**kwargs)
        lower, upper = factor if isinstance(factor, (tuple, list)) else (-factor, factor)
        if upper < lower:
            raise ValueError("`factor` argument cannot have an upper bound lesser than the "
                             f"lower bound. Received: factor={factor}")
        if lower < -1.0 or upper < -1.0:
            raise ValueError("`factor` argument must have values larger than -1. Received: "
                             f"factor={factor}")
        self.factor = factor
        self.interpolation = interpolation
        self.seed = seed
        self._range = (1.0 + lower, 1.0 + upper)
        self._seed_generator = keras_random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training=True):
        inputs = tf.cast(inputs, self.compute_dtype)
        if not training:
            return inputs
        scale = keras_random.uniform((), *self._range, seed=self._seed_generator)
        size = tf.shape(inputs)[self._axis]
        new_size = tf.cast(scale * tf.cast(size, "float32"), "int32")
        if self.interpolation in ("bilinear", "nearest"):
            return _resize_axis(inputs, self._axis, new_size, self.interpolation)
        if not tf.executing_eagerly():
            raise ValueError(f"{type(self).__name__} with interpolation="
                             f"{self.interpolation!r} runs only eagerly (the resized size is "
                             "drawn at run time); use 'bilinear' or 'nearest' in a model")
        sizes = tf.unstack(tf.shape(inputs)[-3:-1])
        sizes[self._axis + 3] = new_size
        resized = tf.image.resize(inputs, [int(s) for s in sizes], method=self.interpolation)
        return tf.cast(resized, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._axis] = None
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "interpolation": self.interpolation, "seed": self.seed}


def _resize_axis(images, axis, size, method):
    """`images` resized along `axis` to `size` (a scalar tensor, known only at run time), as
    tf.image.resize samples: output pixel i reads input coordinate (i + 0.5) * scale - 0.5,
    linearly interpolated between the nearest pixels ("bilinear"), or pixel
    floor((i + 0.5) * scale) ("nearest")."""
    old_size = tf.shape(images)[axis]
    scale = tf.cast(old_size, "float32") / tf.cast(size, "float32")
    centers = (tf.cast(tf.range(size), "float32") + 0.5) * scale
    last = old_size - 1
    if method == "nearest":
        index = tf.minimum(tf.cast(tf.floor(centers), "int32"), last)
        return tf.gather(images, index, axis=axis)
    coordinates = centers - 0.5
    lower = tf.floor(coordinates)
    weight = coordinates - lower
    lower = tf.cast(lower, "int32")
    below = tf.gather(images, tf.clip_by_value(lower, 0, last), axis=axis)
    above = tf.gather(images, tf.clip_by_value(lower + 1, 0, last), axis=axis)
    weight = tf.reshape(tf.cast(weight, images.dtype), [-1] + [1] * (-axis - 1))
    return below + (above - below) * weight


@keras_export("keras._legacy.layers.RandomHeight")
class RandomHeight(_RandomResize):
    """While training, resizes images (..., height, width, channels) to a height scaled by a
    factor drawn from [1 - factor, 1 + factor] (or [1 + factor[0], 1 + factor[1]]).

    >>> import tensorflux as tf
    >>> layer = tf.keras.layers.RandomHeight((0.5, 0.5))
    >>> tuple(layer(tf.ones((1, 4, 3, 1))).shape)
    (1, 6, 3, 1)
    """

    _axis = -3


@keras_export("keras._legacy.layers.RandomWidth")
class RandomWidth(_RandomResize):
    """While training, resizes images (..., height, width, channels) to a width scaled by a
    factor drawn from [1 - factor, 1 + factor] (or [1 + factor[0], 1 + factor[1]]).

    >>> import tensorflux as tf
    >>> layer = tf.keras.layers.RandomWidth((-0.5, -0.5))
    >>> tuple(layer(tf.ones((1, 4, 4, 1))).shape)
    (1, 4, 2, 1)
    """

    _axis = -2
