"""keras.layers geometric augmentation added in Keras 3: RandomShear, RandomPerspective and
RandomElasticTransform. Shear samples with TensorFlow's projective transform (as the other
geometric layers); perspective and elastic warps sample as Keras's map_coordinates.
Segmentation masks move with the images (nearest-neighbour); bounding boxes move with shear
and perspective as Keras moves them (RandomElasticTransform, as Keras, does not move them)."""

from tensorflux.keras.layers.preprocessing._augmentation import (
    _AugmentationLayer,
    _factor_range,
    _gaussian_blur,
    _sample,
    _uniform,
    _value_range,
)
from tensorflux.keras.layers.preprocessing.image import (
    _FILL_MODES,
    _INTERPOLATIONS,
    _box_utils,
    _check_fill,
    _image_hw,
    _image_ops,
    _static_shape,
    _xyxy_boxes,
)

__all__ = ["RandomElasticTransform", "RandomPerspective", "RandomShear"]


def _tf():
    import tensorflux as tf

    return tf


class _WarpLayer(_AugmentationLayer):
    """Keras's geometric base: images are cast and, while training, warped by
    `_transform_images(images, transformation, interpolation)`; masks are warped with
    nearest-neighbour interpolation."""

    def transform_images(self, images, transformation, training=True):
        images = _tf().cast(images, self.compute_dtype)
        if not training or transformation is None:
            return images
        return self._transform_images(images, transformation, self.interpolation)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        if not training or transformation is None:
            return segmentation_masks
        return self._transform_images(segmentation_masks, transformation, "nearest")

    def _image_size(self, shape):
        height, width = (shape[axis] for axis in self._hw_axes(len(shape)))
        if height is None or width is None:
            raise ValueError(f"{type(self).__name__} needs images of known height and width, "
                             f"received shape {shape}")
        return height, width


def _shear_factor(factor, name):
    """(lower, upper): a number f in [0, 1] gives (-f, f); a pair is sorted. Pairs may reach
    down to -1 (Keras allows [0, 1] only, so that it cannot reload the (-f, f) it saves)."""
    message = ("The `factor` argument should be a number (or a list of two numbers) in the "
               "range [0, 1.0]. ")
    pair = isinstance(factor, (tuple, list))
    values = factor if pair else [factor]
    if (pair and len(factor) != 2) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(message + f"Received: {name}={factor}")
    for value in values:
        if value > 1.0 or value < (-1.0 if pair else 0.0):
            raise ValueError(message + f"Received: input_number={value}")
    if pair:
        lower, upper = sorted(factor)
        return lower, upper
    return -abs(factor), abs(factor)


class RandomShear(_WarpLayer):
    """While training, shears each image about its top-left corner: x reads x + sx * y and
    y reads y + sy * x, sx and sy drawn from `x_factor` and `y_factor` (a number f: [-f, f])
    with a random sign per image.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.RandomShear(x_factor=0.2, seed=1)(tf.ones((2, 6, 6, 3))).shape
    TensorShape([2, 6, 6, 3])
    """

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear",
                 fill_mode="reflect", fill_value=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.x_factor = _shear_factor(x_factor, "x_factor")
        self.y_factor = _shear_factor(y_factor, "y_factor")
        _check_fill(self, fill_mode, interpolation)
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.interpolation = interpolation

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        tf = _tf()
        batch, shape = self._draws(data)
        source = self._source(seed)
        dtype = self.compute_dtype
        sign = tf.where(source.uniform((batch, 1), dtype) > 0.5, -1.0, 1.0)
        shear_y = _uniform(source, (batch, 1), self.y_factor[0], self.y_factor[1], dtype)
        shear_x = _uniform(source, (batch, 1), self.x_factor[0], self.x_factor[1], dtype)
        factor = tf.concat([shear_x, shear_y], axis=1) * tf.cast(sign, dtype)
        return {"shear_factor": factor, "input_shape": shape}

    def _transform_images(self, images, transformation, interpolation):
        tf = _tf()
        images, restore = self._last(images)
        shear = tf.cast(transformation["shear_factor"], "float32")
        ones, zeros = tf.ones_like(shear[:, 0]), tf.zeros_like(shear[:, 0])
        matrix = tf.stack([ones, shear[:, 0], zeros, shear[:, 1], ones, zeros, zeros, zeros],
                          axis=1)
        out = _image_ops().affine_transform(images, matrix, interpolation=interpolation,
                                            fill_mode=self.fill_mode,
                                            fill_value=self.fill_value)
        return restore(tf.cast(out, images.dtype))

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """While training, box corners sheared in relative coordinates (Keras's
        approximation: for a non-square image the shear is scaled by its aspect ratio),
        then clipped."""
        if not training or transformation is None:
            return bounding_boxes
        tf = _tf()
        box_utils = _box_utils()
        height, width = _image_hw(self, transformation)
        dtype = self.compute_dtype
        boxes = box_utils.convert_format(bounding_boxes["boxes"], self.bounding_box_format,
                                         "rel_xyxy", height=height, width=width, dtype=dtype)
        shear_x, shear_y = tf.split(tf.cast(transformation["shear_factor"], dtype), 2, -1)
        x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
        # Each side follows the corner Keras picks for the shear's sign (x first, then y
        # from the moved x).
        x1, x2 = (tf.where(shear_x < 0, x1 - shear_x * y1, x1 - shear_x * y2),
                  tf.where(shear_x < 0, x2 - shear_x * y2, x2 - shear_x * y1))
        y1, y2 = (tf.where(shear_y > 0, y1 - shear_y * x2, y1 - shear_y * x1),
                  tf.where(shear_y > 0, y2 - shear_y * x1, y2 - shear_y * x2))
        out = box_utils.clip_to_image_size(
            {**bounding_boxes, "boxes": tf.stack([x1, y1, x2, y2], axis=-1)},
            bounding_box_format="rel_xyxy")
        out["boxes"] = box_utils.convert_format(out["boxes"], "rel_xyxy",
                                                self.bounding_box_format, height=height,
                                                width=width, dtype=dtype)
        return out

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor,
                "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "seed": self.seed, "fill_value": self.fill_value,
                "data_format": self.data_format}


def _homography(start_points, end_points):
    """The 8 projective coefficients mapping each end point to its start point (Keras's
    compute_homography_matrix: an 8x8 linear system per image, solved in float32)."""
    tf = _tf()
    start = tf.cast(start_points, "float32")
    end = tf.cast(end_points, "float32")
    rows, targets = [], []
    for corner in range(4):
        sx, sy = start[:, corner, 0], start[:, corner, 1]
        ex, ey = end[:, corner, 0], end[:, corner, 1]
        one, zero = tf.ones_like(ex), tf.zeros_like(ex)
        rows.append(tf.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1))
        rows.append(tf.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1))
        targets += [sx, sy]
    solution = tf.linalg.solve(tf.stack(rows, axis=1), tf.stack(targets, axis=-1)[..., None])
    return tf.reshape(solution, (-1, 8))


class RandomPerspective(_WarpLayer):
    """While training, with a probability drawn from `factor`, moves each image's four
    corners by up to `scale` / 2 of their coordinates and warps the image to match
    (constant `fill_value` outside).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.RandomPerspective(scale=0.3, seed=1)(tf.ones((2, 6, 6, 3))).shape
    TensorShape([2, 6, 6, 3])
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0,
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, (0, 1))
        if scale < 0.0 or scale > 1.0:
            raise ValueError("The `scale` argument should be a number in the range [0,1]. "
                             f"Received: scale={scale}")
        if interpolation not in _INTERPOLATIONS:
            raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of "
                                      f"one {_INTERPOLATIONS}.")
        self.scale = scale
        self.fill_value = fill_value
        self.interpolation = interpolation

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        tf = _tf()
        batch, shape = self._draws(data)
        height, width = self._image_size(shape)
        source = self._source(seed)
        probability = _uniform(source, (batch,), self.factor[0], self.factor[1])
        apply = source.uniform((batch,), "float32") < probability
        moves = _uniform(source, (batch, 4, 2), -0.5 * self.scale, 0.5 * self.scale,
                         self.compute_dtype)
        corners = tf.constant([[[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1],
                                [width - 1, height - 1]]], self.compute_dtype)
        start = corners + tf.zeros_like(moves)
        return {"apply_perspective": apply, "start_points": start,
                "end_points": start + start * moves, "input_shape": shape}

    def _transform_images(self, images, transformation, interpolation):
        tf = _tf()
        last, restore = self._last(images)
        height, width = _static_shape(last)[1:3]
        coefficients = tf.cast(_homography(transformation["start_points"],
                                           transformation["end_points"]), last.dtype)
        a0, a1, a2, a3, a4, a5, a6, a7 = (
            tf.reshape(c, (-1, 1, 1)) for c in tf.unstack(coefficients, axis=1))
        cols = tf.reshape(tf.range(width, dtype=last.dtype), (1, 1, -1))
        rows = tf.reshape(tf.range(height, dtype=last.dtype), (1, -1, 1))
        denominator = a6 * cols + a7 * rows + 1.0
        source_cols = (a0 * cols + a1 * rows + a2) / denominator
        source_rows = (a3 * cols + a4 * rows + a5) / denominator
        warped = _sample(last, source_rows, source_cols,
                         _INTERPOLATIONS.index(interpolation), "constant", self.fill_value)
        apply = tf.reshape(transformation["apply_perspective"], (-1, 1, 1, 1))
        return tf.where(apply, restore(warped), images)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """While training, each box becomes the box around its corners moved by the
        perspective warp, clipped, in `bounding_box_format`. (Keras 3.15 returns "xyxy"
        whatever the format says.)"""
        if not training or transformation is None:
            return bounding_boxes
        tf = _tf()
        box_utils = _box_utils()
        boxes, height, width = _xyxy_boxes(self, bounding_boxes, transformation)
        coefficients = tf.cast(_homography(transformation["start_points"],
                                           transformation["end_points"]), boxes.dtype)
        # The homography maps output pixels to input ones; boxes move by its inverse.
        matrix = tf.reshape(tf.concat([coefficients, tf.ones_like(coefficients[:, :1])], -1),
                            (-1, 3, 3))
        inverse = tf.linalg.inv(matrix)
        x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
        xs = tf.stack([x1, x2, x1, x2], axis=-1)
        ys = tf.stack([y1, y2, y2, y1], axis=-1)
        row = [tf.reshape(inverse[:, i, j], (-1, 1, 1)) for i in range(3) for j in range(3)]
        depth = row[6] * xs + row[7] * ys + row[8]
        new_x = (row[0] * xs + row[1] * ys + row[2]) / depth
        new_y = (row[3] * xs + row[4] * ys + row[5]) / depth
        moved = tf.stack([tf.reduce_min(new_x, -1), tf.reduce_min(new_y, -1),
                          tf.reduce_max(new_x, -1), tf.reduce_max(new_y, -1)], axis=-1)
        apply = tf.reshape(tf.convert_to_tensor(transformation["apply_perspective"]),
                           (-1, 1, 1))
        boxes = tf.where(apply, moved, boxes)
        out = box_utils.clip_to_image_size({**bounding_boxes, "boxes": boxes}, height=height,
                                           width=width)
        out["boxes"] = box_utils.convert_format(out["boxes"], "xyxy", self.bounding_box_format,
                                                height=height, width=width)
        return out

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value,
                "seed": self.seed}


_ELASTIC_FILL_MODES = _FILL_MODES + ("mirror",)


class RandomElasticTransform(_WarpLayer):
    """While training, with a probability drawn from `factor`, displaces each pixel by a
    smooth random field: normal noise blurred by a Gaussian of standard deviation
    min(height, width) * 0.05 * s, scaled by max(height, width) * 0.1 * s, s drawn from
    `scale` once per call; clipped to `value_range`. (The blur kernel spans 6 standard
    deviations of the largest `scale`, so that graphs have a fixed kernel size.)

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.RandomElasticTransform(seed=1)(tf.ones((2, 8, 8, 3))).shape
    TensorShape([2, 8, 8, 3])
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, value_range=(0, 255), seed=None, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor_range(factor, (0, 1))
        self.scale = _factor_range(scale, (0, 1), "scale")
        if interpolation not in _INTERPOLATIONS:
            raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of "
                                      f"one {_INTERPOLATIONS}.")
        if fill_mode not in _ELASTIC_FILL_MODES:
            raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Expected of one "
                                      f"{_ELASTIC_FILL_MODES}.")
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.value_range = _value_range(value_range, sort=False)

    def get_random_transformation(self, data, training=True, seed=None):
        """The draws, with the field's unsmoothed noise (so masks move with their images;
        Keras draws it again for each)."""
        if not training or self.scale[1] == 0 or self.factor[1] == 0:
            return None
        batch, shape = self._draws(data)
        height, width = self._image_size(shape)
        source = self._source(seed)
        probability = _uniform(source, (batch,), self.factor[0], self.factor[1])
        apply = source.uniform((batch,), "float32") < probability
        distortion = _uniform(source, (), self.scale[0], self.scale[1], self.compute_dtype)
        noise = source.normal((batch, height, width, 2), 0.0, 1.0, self.compute_dtype)
        return {"apply_transform": apply, "distortion_factor": distortion, "noise": noise}

    def _transform_images(self, images, transformation, interpolation):
        tf = _tf()
        last, restore = self._last(images)
        height, width = _static_shape(last)[1:3]
        dtype = last.dtype
        distortion = tf.cast(transformation["distortion_factor"], dtype)
        alpha = max(height, width) * (0.1 * distortion)
        sigma = min(height, width) * (0.05 * distortion)
        size = int(6 * min(height, width) * 0.05 * self.scale[1]) | 1
        noise = tf.cast(transformation["noise"], dtype) * sigma
        noise = _gaussian_blur(noise, (size, size), (sigma, sigma))
        cols = tf.reshape(tf.range(width, dtype=dtype), (1, 1, -1)) + alpha * noise[..., 0]
        rows = tf.reshape(tf.range(height, dtype=dtype), (1, -1, 1)) + alpha * noise[..., 1]
        warped = restore(_sample(last, rows, cols, _INTERPOLATIONS.index(interpolation),
                                 self.fill_mode, self.fill_value))
        apply = tf.reshape(transformation["apply_transform"], (-1, 1, 1, 1))
        images = tf.where(apply, warped, images)
        images = tf.clip_by_value(images, self.value_range[0], self.value_range[1])
        return tf.cast(images, self.compute_dtype)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        raise NotImplementedError("RandomElasticTransform does not transform bounding boxes "
                                  "(nor does Keras 3.15)")

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "value_range": self.value_range,
                "seed": self.seed}
