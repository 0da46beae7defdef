"""keras.layers augmentation that mixes or occludes images: MixUp, CutMix (images and their
labels mixed with another image of the batch) and RandomErasing (a random box filled)."""

from tensorflux.keras.layers.preprocessing._augmentation import (
    _AugmentationLayer,
    _beta,
    _factor_range,
    _permutation,
    _uniform,
    _value_range,
)

__all__ = ["CutMix", "MixUp", "RandomErasing"]


def _tf():
    import tensorflux as tf

    return tf


def _mix(values, others, weight):
    """weight * values + (1 - weight) * others, weight one per example."""
    tf = _tf()
    rank = len(values.shape)
    weight = tf.reshape(tf.cast(weight, values.dtype), (-1,) + (1,) * (rank - 1))
    return weight * values + (1.0 - weight) * others


class _BoxLayer(_AugmentationLayer):
    """Layers that draw one box per image: [x0, x1) x [y0, y1) as Keras's CutMix and
    RandomErasing draw them."""

    def _box_bounds(self, source, batch, length, ratio):
        """(start, end) of a span of ratio * length at a random position."""
        tf = _tf()
        span = tf.cast(ratio * length, self.compute_dtype)
        start = _uniform(source, (batch,), 0.0, 1.0, self.compute_dtype) * (length - span)
        return start, start + span

    def _box_masks(self, shape, corners):
        """Booleans of the images' shape: which pixels fall inside each image's box."""
        tf = _tf()
        height, width = (shape[axis] for axis in self._hw_axes(len(shape)))
        channels = shape[self._channel_axis()]
        x0, x1, y0, y1 = (tf.reshape(c, (-1, 1, 1, 1)) for c in corners)
        last = self.data_format == "channels_last"
        rows = tf.reshape(tf.range(height, dtype=self.compute_dtype),
                          (1, -1, 1, 1) if last else (1, 1, -1, 1))
        cols = tf.reshape(tf.range(width, dtype=self.compute_dtype),
                          (1, 1, -1, 1) if last else (1, 1, 1, -1))
        inside = (cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)
        return tf.tile(inside, [1, 1, 1, channels] if last else [1, channels, 1, 1])


class MixUp(_AugmentationLayer):
    """While training, blends each image (and its labels) with another image of the batch:
    w * x + (1 - w) * x[perm], w drawn from Beta(alpha, alpha) per image and perm a random
    permutation of the batch.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> data = {"images": tf.ones((4, 2, 2, 3)), "labels": tf.one_hot([0, 1, 2, 0], 3)}
    >>> out = keras.layers.MixUp(seed=1)(data)
    >>> out["images"].shape, [round(v, 4) for v in out["labels"].numpy().sum(1).tolist()]
    (TensorShape([4, 2, 2, 3]), [1.0, 1.0, 1.0, 1.0])
    """

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.alpha = alpha

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        batch, _ = self._draws(data)
        source = self._source(seed)
        return {"mix_weight": _beta(source, (batch,), self.alpha, self.alpha),
                "permutation_order": _permutation(source, batch)}

    def _mixed(self, values, transformation):
        others = _tf().gather(values, transformation["permutation_order"])
        return _mix(values, others, transformation["mix_weight"])

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        return self._mixed(_tf().cast(images, self.compute_dtype), transformation)

    def transform_labels(self, labels, transformation, training=True):
        if not training:
            return labels
        return self._mixed(labels, transformation)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        if not training:
            return segmentation_masks
        return self._mixed(segmentation_masks, transformation)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """While training, each image's boxes, and their labels, are followed by its
        partner's: (batch, 2 * n, 4) boxes and (batch, 2 * n) labels. (Keras 3.15 stacks the
        labels along the batch axis instead: (2 * batch, n).)"""
        if not training:
            return bounding_boxes
        tf = _tf()
        order = transformation["permutation_order"]
        boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
        return {"boxes": tf.concat([boxes, tf.gather(boxes, order)], axis=1),
                "labels": tf.concat([labels, tf.gather(labels, order)], axis=1)}

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "seed": self.seed}


class CutMix(_BoxLayer):
    """While training, pastes into each image a box from another image of the batch (a
    random permutation), covering a fraction 1 - w of the area, w drawn from Beta(a, a) with
    a drawn from `factor` once per call; labels mix by the share of area each image keeps.
    Single images pass through.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.CutMix(seed=1)(tf.ones((4, 6, 6, 3))).shape
    TensorShape([4, 6, 6, 3])
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, (0, 1))

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        tf = _tf()
        batch, shape = self._draws(data)
        if len(shape) == 3:
            return None
        height, width = (shape[axis] for axis in self._hw_axes(4))
        source = self._source(seed)
        dtype = self.compute_dtype
        alpha = _uniform(source, (), self.factor[0], self.factor[1], dtype) + 1e-6
        ratio = tf.sqrt(1.0 - _beta(source, (batch,), alpha, alpha, dtype))
        x0, x1 = self._box_bounds(source, batch, width, ratio)
        y0, y1 = self._box_bounds(source, batch, height, ratio)
        masks = self._box_masks(shape, (x0, x1, y0, y1))
        return {"permutation_order": _permutation(source, batch), "batch_masks": masks,
                "mix_weight": 1.0 - (x1 - x0) * (y1 - y0) / (width * height)}

    def transform_images(self, images, transformation, training=True):
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        if not training or transformation is None:
            return images
        others = tf.gather(images, transformation["permutation_order"])
        return tf.where(transformation["batch_masks"], others, images)

    def transform_labels(self, labels, transformation, training=True):
        if not training or transformation is None:
            return labels
        others = _tf().gather(labels, transformation["permutation_order"])
        return _mix(labels, others, transformation["mix_weight"])

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        return self.transform_images(segmentation_masks, transformation, training)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        raise NotImplementedError("CutMix does not transform bounding boxes")

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "seed": self.seed}


class RandomErasing(_BoxLayer):
    """While training, with a probability drawn from `factor`, fills a box of each image
    (each side sqrt(s) of the image's, s drawn from `scale`) with `fill_value` (a number, or
    one per RGB channel) or, when it is None, normal noise times value_range[1]; fills are
    clipped to `value_range`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RandomErasing((1.0, 1.0), scale=(1.0, 1.0), fill_value=0.0)
    >>> float(layer(tf.ones((1, 4, 4, 3))).numpy().max())
    0.0
    """

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, (0, 1))
        self.scale = _factor_range(scale, (0, 1), "scale")
        if fill_value is not None and not (
                isinstance(fill_value, (int, float)) and not isinstance(fill_value, bool)
                or isinstance(fill_value, (tuple, list)) and len(fill_value) == 3):
            raise ValueError("The `fill_value` argument should be a number (or a list of "
                             f"three numbers). Received: fill_value={fill_value}")
        self.fill_value = fill_value
        self.value_range = _value_range(value_range, sort=False)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        tf = _tf()
        batch, shape = self._draws(data)
        height, width = (shape[axis] for axis in self._hw_axes(len(shape)))
        source = self._source(seed)
        dtype = self.compute_dtype
        sides = tf.sqrt(_uniform(source, (batch, 2), self.scale[0], self.scale[1], dtype))
        x0, x1 = self._box_bounds(source, batch, width, sides[:, 0])
        y0, y1 = self._box_bounds(source, batch, height, sides[:, 1])
        full_shape = (batch,) + tuple(shape[-3:])
        masks = self._box_masks(full_shape, (x0, x1, y0, y1))
        probability = _uniform(source, (batch,), self.factor[0], self.factor[1])
        apply = source.uniform((batch,), "float32") < probability
        if self.fill_value is None:
            fill = source.normal(full_shape, 0.0, 1.0, dtype) * self.value_range[1]
        else:
            fill = tf.zeros(full_shape, dtype) + tf.constant(self.fill_value, dtype)
        fill = tf.clip_by_value(fill, self.value_range[0], self.value_range[1])
        return {"apply_erasing": apply, "batch_masks": masks, "fill_value": fill}

    def transform_images(self, images, transformation, training=True):
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        if not training:
            return images
        fill = tf.cast(transformation["fill_value"], images.dtype)
        erased = tf.where(transformation["batch_masks"], fill, images)
        apply = tf.reshape(transformation["apply_erasing"], (-1, 1, 1, 1))
        return tf.where(apply, erased, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "fill_value": self.fill_value, "value_range": self.value_range,
                "seed": self.seed}
