"""keras.layers colour and filter augmentation: RandomHue, RandomSaturation, RandomGrayscale,
RandomInvert, RandomPosterization, Solarization, RandomSharpness, RandomColorDegeneration,
RandomGaussianBlur and RandomColorJitter.

Each follows Keras 3 (see _augmentation): the random parameters are drawn per image while
training and images pass through at inference; for given parameters the pixels are Keras's.
"""

from tensorflux.keras import backend
from tensorflux.keras.layers.preprocessing._augmentation import (
    _AugmentationLayer,
    _factor_range,
    _gaussian_blur,
    _keras_image_ops,
    _randint,
    _rescale,
    _uniform,
    _value_range,
)
from tensorflux.keras.layers.preprocessing.image import RandomContrast, _static_shape
from tensorflux.keras.layers.preprocessing.random_brightness import RandomBrightness

__all__ = ["RandomColorDegeneration", "RandomColorJitter", "RandomGaussianBlur",
           "RandomGrayscale", "RandomHue", "RandomInvert", "RandomPosterization",
           "RandomSaturation", "RandomSharpness", "Solarization"]


def _tf():
    import tensorflux as tf

    return tf


def _per_image(values, dtype):
    """A per-image vector as a (batch, 1, 1) tensor, for one channel plane of a batch."""
    tf = _tf()
    return tf.reshape(tf.cast(values, dtype), (-1, 1, 1))


class RandomHue(_AugmentationLayer):
    """While training, turns each image's hue by f / 2 of the colour circle, f drawn from
    `factor` (in [0, 1]) with a random sign per image; colours are read in `value_range`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> gray = tf.fill((1, 2, 2, 3), 100.0)  # no hue to turn
    >>> keras.layers.RandomHue(0.5, seed=1)(gray)[0, 0, 0].numpy().tolist()
    [100.0, 100.0, 100.0]
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, (0, 1))
        self.value_range = _value_range(value_range, sort=False)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        tf = _tf()
        batch, _ = self._draws(data)
        source = self._source(seed)
        sign = tf.where(source.uniform((batch,), "float32") > 0.5, -1.0, 1.0)
        factor = _uniform(source, (batch,), self.factor[0], self.factor[1])
        return {"factor": sign * factor * 0.5}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        images, restore = self._last(_rescale(images, self.value_range, (0, 1)))
        image_ops = _keras_image_ops()
        hue, saturation, value = tf.unstack(image_ops.rgb_to_hsv(images, "channels_last"),
                                            axis=-1)
        hue = hue + _per_image(transformation["factor"], images.dtype)
        hue = tf.where(hue > 1.0, hue - 1.0, hue)
        hue = tf.where(hue < 0.0, hue + 1.0, hue)
        images = image_ops.hsv_to_rgb(tf.stack([hue, saturation, value], axis=-1),
                                      "channels_last")
        images = _rescale(tf.clip_by_value(images, 0.0, 1.0), (0, 1), self.value_range)
        return tf.cast(restore(images), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "value_range": self.value_range, "seed": self.seed}


class RandomSaturation(_AugmentationLayer):
    """While training, multiplies each image's HSV saturation by f / (1 - f), f drawn from
    `factor` (0.5 keeps it, 0 removes the colour, 1 saturates fully), and clips the
    saturation to `value_range`, as Keras does.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RandomSaturation((0.0, 0.0), value_range=(0, 1))
    >>> out = layer(tf.constant([[[[0.2, 0.4, 0.8]]]]))  # no saturation left: gray
    >>> [round(v, 4) for v in out[0, 0, 0].numpy().tolist()]
    [0.8, 0.8, 0.8]
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor)
        self.value_range = _value_range(value_range)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch, _ = self._draws(data)
        factor = _uniform(self._source(seed), (batch,), self.factor[0], self.factor[1])
        return {"factor": factor / (1.0 - factor + backend.epsilon())}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        tf = _tf()
        images, restore = self._last(tf.cast(images, self.compute_dtype))
        image_ops = _keras_image_ops()
        hue, saturation, value = tf.unstack(image_ops.rgb_to_hsv(images, "channels_last"),
                                            axis=-1)
        saturation = tf.clip_by_value(
            saturation * _per_image(transformation["factor"], images.dtype),
            self.value_range[0], self.value_range[1])
        return restore(image_ops.hsv_to_rgb(tf.stack([hue, saturation, value], axis=-1),
                                            "channels_last"))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "value_range": self.value_range, "seed": self.seed}


class RandomGrayscale(_AugmentationLayer):
    """While training, turns each image to grayscale (its luma in every channel) with
    probability `factor`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> out = keras.layers.RandomGrayscale(1.0)(tf.constant([[[[10.0, 20.0, 30.0]]]]))
    >>> [round(v, 3) for v in out[0, 0, 0].numpy().tolist()]
    [18.149, 18.149, 18.149]
    """

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if factor < 0 or factor > 1:
            raise ValueError(f"`factor` should be between 0 and 1. Received: factor={factor}")
        self.factor = factor

    def get_random_transformation(self, data, training=True, seed=None):
        """A (batch, 1, 1, 1) boolean: which images turn gray (a tensor, as Keras)."""
        if not training:
            return None
        tf = _tf()
        batch, _ = self._draws(data)
        draws = self._source(seed).uniform((batch,), "float32")
        return tf.reshape(draws < self.factor, (-1, 1, 1, 1))

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        if transformation is None:
            transformation = self.get_random_transformation(images)
        gray = _keras_image_ops().rgb_to_grayscale(images, self.data_format)
        return _tf().where(transformation, gray, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomInvert(_AugmentationLayer):
    """While training, replaces each image x by `value_range[1] - x` with a probability drawn
    from `factor` (in [0, 1]; 1.0 draws it uniformly).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RandomInvert((1.0, 1.0), value_range=(0, 1))
    >>> layer(tf.constant([[[[0.25]]]]))[0, 0, 0].numpy().tolist()
    [0.75]
    """

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, (0, 1))
        self.value_range = _value_range(value_range, sort=False)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch, _ = self._draws(data)
        source = self._source(seed)
        probability = _uniform(source, (batch,), self.factor[0], self.factor[1])
        return {"apply_inversion": source.uniform((batch,), "float32") < probability}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        apply = tf.reshape(transformation["apply_inversion"], (-1, 1, 1, 1))
        return tf.where(apply, self.value_range[1] - images, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "value_range": self.value_range, "seed": self.seed}


class RandomPosterization(_AugmentationLayer):
    """While training, keeps only the top b bits of each 8-bit colour value (values read in
    `value_range`), b drawn per image from [factor[0], factor[1]) (a number f: [1, f));
    b = factor when the range is one value.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RandomPosterization((2, 2))
    >>> layer(tf.constant([[[[200.0, 100.0, 63.0]]]]))[0, 0, 0].numpy().tolist()
    [192.0, 64.0, 0.0]
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, (1, 8))
        self.value_range = _value_range(value_range)

    def get_random_transformation(self, data, training=True, seed=None):
        """{"shift_factor": 8 - bits kept, per image}."""
        if not training:
            return None
        tf = _tf()
        batch, _ = self._draws(data)
        if self.factor[0] != self.factor[1]:
            bits = _randint(self._source(seed), (batch,), self.factor[0], self.factor[1])
        else:
            bits = tf.fill((batch,), int(self.factor[0]))
        return {"shift_factor": 8 - bits}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        tf = _tf()
        step = tf.gather(tf.constant([2 ** bit for bit in range(9)], "int32"),
                         tf.cast(transformation["shift_factor"], "int32"))
        step = tf.reshape(step, (-1, 1, 1, 1))
        images = _rescale(images, self.value_range, (0, 255), self.compute_dtype)
        # The 8-bit value (float to uint8 truncates), its low bits cleared.
        levels = tf.cast(tf.cast(images, "uint8"), "int32")
        images = tf.cast(tf.math.floordiv(levels, step) * step, self.compute_dtype)
        return _rescale(images, (0, 255), self.value_range, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "value_range": self.value_range, "seed": self.seed}


def _solarization_factor(factor, name):
    message = ("The `addition_factor` and `threshold_factor` arguments should be a number (or "
               "a list of two numbers) in the range [0, 1]. ")
    values = factor if isinstance(factor, (tuple, list)) else [factor]
    if (isinstance(factor, (tuple, list)) and len(factor) != 2) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(message + f"Received: {name}={factor}")
    for value in values:
        if value > 1.0 or value < 0:
            raise ValueError(message + f"Received: input_number={value}")
    if isinstance(factor, (tuple, list)):
        lower, upper = sorted(factor)
        return lower, upper
    return 0, factor


class Solarization(_AugmentationLayer):
    """While training, adds to each image (read in `value_range`, scaled to 0..255) an
    offset drawn from [addition_factor[0], addition_factor[1] * 255], clips, and inverts
    (255 - x) every value at or above a threshold drawn from [threshold_factor[0],
    threshold_factor[1] * 255]; the defaults invert the whole image, as Keras.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.Solarization(value_range=(0, 1))  # threshold 0: all inverted
    >>> layer(tf.constant([[[[0.25, 0.75]]]]))[0, 0, 0].numpy().tolist()
    [0.75, 0.25]
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.addition_factor = _solarization_factor(addition_factor, "addition_factor")
        self.threshold_factor = _solarization_factor(threshold_factor, "threshold_factor")
        self.value_range = _value_range(value_range)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch, shape = self._draws(data)
        draw_shape = (batch, 1, 1, 1) if len(shape) == 4 else (1, 1, 1)
        source = self._source(seed)
        additions = _uniform(source, draw_shape, self.addition_factor[0],
                             self.addition_factor[1] * 255, self.compute_dtype)
        thresholds = _uniform(source, draw_shape, self.threshold_factor[0],
                              self.threshold_factor[1] * 255, self.compute_dtype)
        return {"additions": additions, "thresholds": thresholds}

    def transform_images(self, images, transformation, training=True):
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        if not training or transformation is None:
            return images
        images = _rescale(images, self.value_range, (0, 255), self.compute_dtype)
        additions = tf.cast(transformation["additions"], images.dtype)
        thresholds = tf.cast(transformation["thresholds"], images.dtype)
        results = tf.clip_by_value(images + additions, 0.0, 255.0)
        results = tf.where(results < thresholds, results, 255.0 - results)
        return _rescale(results, (0, 255), self.value_range, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor, "seed": self.seed}


class RandomSharpness(_AugmentationLayer):
    """While training, moves each image away from (or toward) its 3x3-smoothed version:
    x + (1 - 2f) * (smooth(x) - x), f drawn from `factor` in [0, 1] (0.5 keeps the image,
    higher sharpens), clipped to `value_range`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> flat = tf.fill((1, 3, 3, 1), 5.0)
    >>> keras.layers.RandomSharpness((1.0, 1.0))(flat)[0, 1, 1].numpy().tolist()
    [5.0]
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, (0, 1))
        self.value_range = _value_range(value_range)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch, _ = self._draws(data)
        return {"factor": _uniform(self._source(seed), (batch,), self.factor[0],
                                   self.factor[1])}

    def transform_images(self, images, transformation, training=True):
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        if not training:
            return images
        images, restore = self._last(images)
        sharpness = tf.reshape(tf.cast(tf.convert_to_tensor(transformation["factor"]) * 2,
                                       self.compute_dtype), (-1, 1, 1, 1))
        edge, center = 1.0 / 13.0, 5.0 / 13.0
        kernel = tf.constant([[edge, edge, edge], [edge, center, edge], [edge, edge, edge]],
                             self.compute_dtype)
        channels = _static_shape(images)[-1]
        kernel = tf.tile(tf.reshape(kernel, (3, 3, 1, 1)), [1, 1, channels, 1])
        smoothed = tf.nn.depthwise_conv2d(images, kernel, [1, 1, 1, 1], "SAME")
        images = images + (1.0 - sharpness) * (smoothed - images)
        return restore(tf.clip_by_value(images, self.value_range[0], self.value_range[1]))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "value_range": self.value_range, "seed": self.seed}


class RandomColorDegeneration(_AugmentationLayer):
    """While training, blends each image toward its grayscale version by a factor drawn from
    `factor` (0 keeps it, 1 is gray), clipped to `value_range`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RandomColorDegeneration((1.0, 1.0))
    >>> out = layer(tf.constant([[[[10.0, 20.0, 30.0]]]]))
    >>> [round(v, 3) for v in out[0, 0, 0].numpy().tolist()]
    [18.149, 18.149, 18.149]
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor)
        self.value_range = _value_range(value_range)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch, _ = self._draws(data)
        return {"factor": _uniform(self._source(seed), (batch, 1, 1, 1), self.factor[0],
                                   self.factor[1])}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        factor = tf.cast(transformation["factor"], self.compute_dtype)
        gray = _keras_image_ops().rgb_to_grayscale(images, self.data_format)
        images = images + factor * (gray - images)
        return tf.clip_by_value(images, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "value_range": self.value_range, "seed": self.seed}


def _kernel_size(value):
    message = f"kernel_size must be an odd number. Received: kernel_size={value}"
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError("The `kernel_size` argument should be a number (or a list of two "
                             f"numbers) Received: kernel_size={value}")
        if value[0] % 2 == 0 or value[1] % 2 == 0:
            raise ValueError(message)
        return value[0], value[1]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value % 2 == 0:
            raise ValueError(message)
        return value, value
    raise ValueError(message)


class RandomGaussianBlur(_AugmentationLayer):
    """While training, blurs each image with probability drawn from `factor` by a Gaussian
    of `kernel_size` (odd) whose two standard deviations (one per axis, shared by the batch)
    are drawn from `sigma` (in [0, 1]); clipped to `value_range`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.RandomGaussianBlur(seed=1)(tf.ones((2, 5, 5, 3))).shape
    TensorShape([2, 5, 5, 3])
    """

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, (0, 1))
        self.kernel_size = _kernel_size(kernel_size)
        self.sigma = _factor_range(sigma, (0, 1), "sigma")
        self.value_range = _value_range(value_range, sort=False)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch, _ = self._draws(data)
        source = self._source(seed)
        probability = _uniform(source, (batch,), self.factor[0], self.factor[1])
        apply = source.uniform((batch,), "float32") < probability
        sigma = _uniform(source, (2,), self.sigma[0], self.sigma[1], self.compute_dtype)
        return {"should_apply_blur": apply, "blur_factor": sigma + 1e-6}

    def transform_images(self, images, transformation, training=True):
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        if not training or transformation is None:
            return images
        last, restore = self._last(images)
        sigma = tf.cast(transformation["blur_factor"], self.compute_dtype)
        blurred = restore(_gaussian_blur(last, self.kernel_size, (sigma[0], sigma[1])))
        apply = tf.reshape(transformation["should_apply_blur"], (-1, 1, 1, 1))
        images = tf.where(apply, blurred, images)
        return tf.clip_by_value(images, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "kernel_size": self.kernel_size, "sigma": self.sigma,
                "value_range": self.value_range, "seed": self.seed}


class RandomColorJitter(_AugmentationLayer):
    """While training, applies RandomBrightness, RandomContrast, RandomSaturation and
    RandomHue in that order, each only when its factor is given, all drawing from this
    layer's random source.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RandomColorJitter(brightness_factor=(0.1, 0.1), value_range=(0, 1))
    >>> [round(v, 4) for v in layer(tf.fill((1, 1, 1, 3), 0.5))[0, 0, 0].numpy().tolist()]
    [0.6, 0.6, 0.6]
    """

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, sort=False)
        self.brightness_factor = brightness_factor
        self.contrast_factor = contrast_factor
        self.saturation_factor = saturation_factor
        self.hue_factor = hue_factor
        # As Keras, the sub-layers keep the default data_format.
        self._jitters = [
            kind(factor=factor, value_range=value_range, seed=seed)
            for kind, factor in ((RandomBrightness, brightness_factor),
                                 (RandomContrast, contrast_factor),
                                 (RandomSaturation, saturation_factor),
                                 (RandomHue, hue_factor))
            if factor is not None]

    def transform_images(self, images, transformation, training=True):
        tf = _tf()
        if not training:
            return images
        images = tf.cast(images, self.compute_dtype)
        for layer in self._jitters:
            drawn = layer.get_random_transformation(images, seed=self._random)
            images = layer.transform_images(images, drawn)
        return tf.cast(images, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor,
                "saturation_factor": self.saturation_factor, "hue_factor": self.hue_factor,
                "seed": self.seed}
