"""The base of Keras 3's newer image augmentation layers and what they share: factor and
value-range arguments, the random draws, value-range rescaling, and keras.ops.image's Gaussian
blur and sampler of images at arbitrary coordinates.

A layer draws the parameters of one call with `get_random_transformation(data, training,
seed)` and applies them with `transform_images` (and `transform_labels`,
`transform_segmentation_masks`, `transform_bounding_boxes`), as Keras 3's
BaseImagePreprocessingLayer: composite layers (RandAugment, AugMix, RandomColorJitter) draw
from their sub-layers with their own random source (`seed`) and apply later, and a
transformation Keras drew applies here to the same effect.
"""

from tensorflux.keras.layers.base import _describe
from tensorflux.keras.layers.preprocessing.image import _RandomLayer
from tensorflux.keras.layers.regularization import _RandomSource


def _tf():
    import tensorflux as tf

    return tf


# ---------------------------------------------------------------------- arguments

def _factor_range(factor, bounds=(-1, 1), name="factor"):
    """Keras's `_set_factor`: a number f within `bounds` gives (max(-|f|, low), |f|); a pair
    that overlaps `bounds` is sorted."""
    low, high = bounds
    message = (f"The `{name}` argument should be a number (or a list of two numbers) in the "
               f"range [{low}, {high}]. Received: {name}={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > high or factor[1] < low:
            raise ValueError(message)
        lower, upper = sorted(factor)
        return lower, upper
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if factor < low or factor > high:
            raise ValueError(message)
        factor = abs(factor)
        return max(-factor, low), factor
    raise ValueError(message)


def _value_range(value_range, sort=True):
    """A checked (low, high) pair; sorted into a list where the Keras layer sorts it."""
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError("The `value_range` argument should be a list of two numbers. "
                         f"Received: value_range={value_range}")
    return sorted(value_range) if sort else value_range


# ---------------------------------------------------------------------- random draws

class _Source(_RandomSource):
    """A layer's random draws (see _RandomSource) plus the gamma draws that MixUp, CutMix and
    AugMix need: stateless gamma keyed from the layer's generator when it is seeded."""

    def gamma(self, shape, alpha, dtype="float32"):
        tf = _tf()
        if self._generator is None:
            return tf.random.gamma(shape, alpha, dtype=dtype)
        seed = self._generator.make_seeds(1)[:, 0]
        return tf.random.stateless_gamma(shape, seed, alpha, dtype=dtype)


def _uniform(source, shape, low=0.0, high=1.0, dtype="float32"):
    return low + (high - low) * source.uniform(shape, dtype)


def _randint(source, shape, low, high):
    """Integers uniform in [low, high)."""
    tf = _tf()
    return tf.cast(tf.floor(_uniform(source, shape, low, high)), "int32")


def _permutation(source, count):
    """A random ordering of range(count)."""
    return _tf().argsort(source.uniform((count,), "float32"))


def _beta(source, shape, alpha, beta, dtype="float32"):
    """Beta(alpha, beta) as X / (X + Y) of two gamma draws."""
    first = source.gamma(shape, alpha, dtype)
    second = source.gamma(shape, beta, dtype)
    return first / (first + second)


# ---------------------------------------------------------------------- image math

def _rescale(images, source_range, target_range, dtype="float32"):
    """Keras's `_transform_value_range`: values mapped linearly from one range to another, in
    `dtype` (a no-op when the ranges are equal)."""
    if source_range[0] == target_range[0] and source_range[1] == target_range[1]:
        return images
    tf = _tf()
    images = tf.cast(images, dtype)
    low, high = (tf.constant(value, dtype) for value in source_range)
    target_low, target_high = (tf.constant(value, dtype) for value in target_range)
    images = (images - low) / (high - low)
    return images * (target_high - target_low) + target_low


def _keras_image_ops():
    """keras.ops.image, whose blur, grayscale and sampler the layers share (imported on first
    use: the layers load before keras.ops)."""
    from tensorflux.keras.ops import image

    return image


def _gaussian_blur(images, kernel_size, sigma):
    """keras.ops.image.gaussian_blur of batched channels_last images (sigmas may be
    tensors)."""
    return _keras_image_ops().gaussian_blur(images, kernel_size, sigma, "channels_last")


def _sample(images, rows, cols, order, fill_mode="constant", fill_value=0.0):
    """Keras's map_coordinates over the height and width of batched channels_last images:
    output (b, i, j) reads images[b] at (rows[b, i, j], cols[b, i, j]) with nearest (order
    0) or bilinear (order 1) interpolation, each tap through `fill_mode` (keras.ops.image's
    sampler)."""
    image_ops = _keras_image_ops()
    return image_ops._sample(images, rows, cols, image_ops._INTERPOLATIONS[order], fill_mode,
                             fill_value)


# ---------------------------------------------------------------------- the base layer

class _AugmentationLayer(_RandomLayer):
    """Keras 3's image augmentation protocol (see the module docstring).

    `call(data, training=True)` takes images (a batch, or one image treated as a batch of
    one) or a dict with "images" and optionally "labels", "segmentation_masks" and
    "bounding_boxes" ({"boxes", "labels"}, which need `bounding_box_format`). Labels, masks
    and boxes pass through unless a layer transforms them.
    """

    def __init__(self, seed=None, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format,
                         bounding_box_format=bounding_box_format, **kwargs)
        self._random = _Source(seed)

    def call(self, data, training=True):
        if isinstance(data, dict):
            return self._call_dict(data, training)
        batched = len(self._check_rank(data)) == 4
        transformation = self.get_random_transformation(data, training=training)
        return _on_batch(self.transform_images, data, transformation, training, batched)

    def _call_dict(self, data, training):
        tf = _tf()
        if "images" not in data:
            raise ValueError(f"{_describe(self)} expected a dict with an 'images' key, "
                             f"received keys {sorted(data)}")
        batched = len(self._check_rank(data["images"])) == 4
        transformation = self.get_random_transformation(data, training=training)
        out = dict(data)
        out["images"] = _on_batch(self.transform_images, data["images"], transformation,
                                  training, batched)
        if "bounding_boxes" in data:
            out["bounding_boxes"] = self._dict_boxes(data, transformation, training)
        for key, transform in (("labels", self.transform_labels),
                               ("segmentation_masks", self.transform_segmentation_masks)):
            if key in data:
                out[key] = _on_batch(transform, tf.convert_to_tensor(data[key]),
                                     transformation, training, batched)
        return out

    def get_random_transformation(self, data, training=True, seed=None):
        return None

    def transform_images(self, images, transformation, training=True):
        raise NotImplementedError(f"{type(self).__name__} does not define transform_images")

    def transform_labels(self, labels, transformation, training=True):
        return labels

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        return segmentation_masks

    # -- helpers for subclasses
    def _source(self, seed):
        """The random source of one draw: this layer's, another layer's (as composite layers
        pass), or a new one seeded with an int."""
        if seed is None:
            return self._random
        return _Source(seed) if isinstance(seed, int) else seed

    def _images_of(self, data):
        return data["images"] if isinstance(data, dict) else data

    def _draws(self, data):
        """(draw count per call, static shape) of the images in `data`."""
        shape = self._check_rank(self._images_of(data))
        return self._batch_draws(shape), shape

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else -3

    def _last(self, images):
        """Batched images as channels_last, and the function undoing that view."""
        tf = _tf()
        if self.data_format == "channels_last":
            return images, lambda out: out
        return tf.transpose(images, (0, 2, 3, 1)), lambda out: tf.transpose(out, (0, 3, 1, 2))


def _on_batch(transform, values, transformation, training, batched):
    """`transform` of a batch; a single image (or its labels, masks) as a batch of one."""
    tf = _tf()
    if batched:
        return transform(values, transformation, training=training)
    out = transform(tf.expand_dims(values, 0), transformation, training=training)
    return tf.squeeze(out, 0)
