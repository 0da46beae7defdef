"""keras.layers.RandomBrightness: while training, adds one random offset per image, then
clips to `value_range`."""

from tensorflux.keras.layers.preprocessing.image import _RandomLayer

__all__ = ["RandomBrightness"]

_RANGE_ERROR = "The `value_range` argument should be a list of two numbers. "


def _tf():
    import tensorflux as tf

    return tf


def _factor_bounds(factor):
    """(lower, upper) in [-1, 1]: a number f gives (-|f|, |f|), a pair is sorted."""
    message = ("The `factor` argument should be a number (or a list of two numbers) in the "
               f"range [-1, 1]. Received: factor={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > 1 or factor[1] < -1:
            raise ValueError(message)
        lower, upper = sorted(factor)
        return lower, upper
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if factor < -1 or factor > 1:
            raise ValueError(message)
        factor = abs(factor)
        return max(-factor, -1), factor
    raise ValueError(message)


class RandomBrightness(_RandomLayer):
    """While training, adds to each image an offset drawn uniformly from
    `factor * (value_range[1] - value_range[0])` and clips to `value_range`; at inference
    (`training=False`) images pass through. Random draws come from tf.random (seeded per layer
    when `seed` is given), not Keras's generator, so the offsets differ from Keras's.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RandomBrightness((0.5, 0.5), value_range=(0, 1))
    >>> layer(tf.zeros((1, 1, 1, 1)))[0, 0, 0].numpy().tolist()
    [0.5]
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_bounds(factor)
        if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
            raise ValueError(_RANGE_ERROR + f"Received: value_range={value_range}")
        self.value_range = sorted(value_range)

    def call(self, inputs, training=True):
        if isinstance(inputs, dict):  # masks pass through
            return self._dict_call(inputs, lambda x, is_mask: x if is_mask else self.call(
                x, training=training))
        self._check_rank(inputs)
        if not training:
            return inputs
        transformation = self.get_random_transformation(inputs, training=training)
        return self.transform_images(inputs, transformation, training=training)

    def get_random_transformation(self, data, training=True, seed=None):
        """{"rgb_delta": one offset per image} (zeros at inference, as Keras); `seed` is
        another layer's random source, as RandAugment passes."""
        images = data["images"] if isinstance(data, dict) else data
        shape = self._check_rank(images)
        delta_shape = (self._batch_draws(shape), 1, 1, 1) if len(shape) == 4 else (1, 1, 1)
        if not training:
            return {"rgb_delta": _tf().zeros(delta_shape)}
        low, high = self.value_range
        delta = self._uniform(delta_shape, self.factor[0], self.factor[1], source=seed)
        return {"rgb_delta": delta * (high - low)}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        tf = _tf()
        low, high = self.value_range
        images = images + tf.cast(transformation["rgb_delta"], images.dtype)
        return tf.clip_by_value(images, tf.cast(low, images.dtype),
                                tf.cast(high, images.dtype))

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        return segmentation_masks

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor),
                "value_range": list(self.value_range), "seed": self.seed}

