"""keras.layers histogram-based contrast layers: AutoContrast, Equalization and
ContrastLimitedAdaptiveHistogramEqualization, with Keras 3's arithmetic (values read in
`value_range`, histograms over 0..255)."""

from tensorflux.keras.layers.preprocessing._augmentation import (
    _AugmentationLayer,
    _rescale,
    _value_range,
)
from tensorflux.keras.layers.preprocessing.image import _static_shape

__all__ = ["AutoContrast", "ContrastLimitedAdaptiveHistogramEqualization", "Equalization"]


def _tf():
    import tensorflux as tf

    return tf


def _counts(indices, length):
    """How often each of 0..length-1 occurs in the int32 tensor `indices` (int32)."""
    tf = _tf()
    flat = tf.reshape(indices, (-1,))
    from tensorflux.ops.composite import unchecked_segment_sum

    return unchecked_segment_sum(tf.ones_like(flat), flat, length)


class AutoContrast(_AugmentationLayer):
    """Stretches each image so that its darkest value becomes `value_range[0]` and its
    brightest `value_range[1]`, per channel; applied at inference too, as Keras. (The
    extremes are taken over axes 1 and 2 of the batch, which are height and width for
    channels_last images.) Constant channels are left as they are.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> out = keras.layers.AutoContrast()(tf.constant([[[[50.0], [100.0], [150.0]]]]))
    >>> out[0, 0, :, 0].numpy().tolist()
    [0.0, 127.5, 255.0]
    """

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = _value_range(value_range)

    def transform_images(self, images, transformation=None, training=True):
        tf = _tf()
        original = tf.cast(images, self.compute_dtype)
        images = _rescale(images, self.value_range, (0, 255), self.compute_dtype)
        images = tf.cast(images, self.compute_dtype)
        low = tf.reduce_min(images, axis=(1, 2), keepdims=True)
        high = tf.reduce_max(images, axis=(1, 2), keepdims=True)
        # 255 times the reciprocal, as Keras on torch computes it (to the last bit).
        scale = 255.0 * tf.math.reciprocal(high - low)
        results = tf.clip_by_value(images * scale - low * scale, 0.0, 255.0)
        results = _rescale(results, (0, 255), self.value_range, self.compute_dtype)
        # A constant channel divides by zero: NaN, so it keeps its values.
        return tf.where(tf.math.is_nan(results), original, results)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}


class Equalization(_AugmentationLayer):
    """While training, equalizes the histogram of each channel (over the whole batch, as
    Keras) into `bins` bins, so values spread evenly over `value_range`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> x = tf.constant([[[[0.0], [10.0], [10.0], [20.0]]]])
    >>> keras.layers.Equalization()(x)[0, 0, :, 0].numpy().tolist()
    [0.0, 170.0, 170.0, 255.0]
    """

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.bins = bins
        self.value_range = _value_range(value_range)

    def _to_scale(self, values, source, target):
        scale = (target[1] - target[0]) / (source[1] - source[0])
        return values * scale + (target[0] - source[0] * scale)

    def _equalize(self, channel):
        tf = _tf()
        bins = self.bins
        channel = self._to_scale(channel, self.value_range, (0, 255))
        levels = tf.cast(tf.cast(channel, "float32") * (bins - 1) / 255.0, "int32")
        histogram = _counts(tf.clip_by_value(levels, 0, bins - 1), bins)
        cdf = tf.cumsum(histogram)
        # cdf at the first occupied bin: the smallest positive cumulative count
        cdf_min = tf.reduce_min(tf.where(cdf > 0, cdf, tf.fill(tf.shape(cdf), cdf[-1])))
        denominator = cdf[-1] - cdf_min
        denominator = tf.where(denominator == 0, tf.ones_like(denominator), denominator)
        table = tf.cast((cdf - cdf_min) * 255, "float32") / tf.cast(denominator, "float32")
        table = tf.clip_by_value(tf.round(table), 0.0, 255.0)
        index = tf.cast(tf.clip_by_value(channel / 255.0 * (bins - 1), 0.0, bins - 1.0),
                        "int32")
        equalized = tf.gather(table, index)
        occupied = tf.math.count_nonzero(histogram)
        equalized = tf.where(occupied <= 1, channel, tf.cast(equalized, channel.dtype))
        return self._to_scale(equalized, (0, 255), self.value_range)

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        tf = _tf()
        images = tf.cast(images, self.compute_dtype)
        axis = self._channel_axis()
        channels = [self._equalize(channel) for channel in tf.unstack(images, axis=axis)]
        return tf.cast(tf.stack(channels, axis=axis), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "value_range": self.value_range}


class ContrastLimitedAdaptiveHistogramEqualization(_AugmentationLayer):
    """CLAHE: equalizes the histogram of each tile of a `tile_grid_size` grid, each bin
    capped at `clip_limit` times the mean count (the excess spread over all bins), and
    blends the four nearest tiles' mappings bilinearly. Applied at inference too and
    returning the input dtype, as Keras.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2))
    >>> float(layer(tf.zeros((1, 4, 4, 1))).numpy().max())
    0.0
    """

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8),
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = _value_range(value_range, sort=False)
        self.clip_limit = clip_limit
        self.tile_grid_size = tile_grid_size

    def transform_images(self, images, transformation=None, training=True):
        tf = _tf()
        dtype = images.dtype
        images, restore = self._last(images)
        images = _rescale(images, self.value_range, (0, 255))
        images = _rescale(self._clahe(tf.cast(images, "float32")), (0, 255), self.value_range)
        return restore(tf.cast(images, dtype))

    def _histograms(self, tiles, shape):
        """Clipped, redistributed per-tile histograms -> their normalized cdfs."""
        tf = _tf()
        batch, grid_h, grid_w, channels, pixels = shape
        tiles = tf.clip_by_value(tf.cast(tiles, "int32"), 0, 255)
        if batch is None:
            # Counting by segments needs a static segment count: sum one-hots instead
            # (a graph traced without a batch size; more memory, the same counts).
            histograms = tf.reduce_sum(tf.one_hot(tiles, 256, dtype="float32"), axis=-2)
        else:
            tile_ids = tf.reshape(tf.range(batch * grid_h * grid_w * channels),
                                  (batch, grid_h, grid_w, channels, 1))
            counts = _counts(tile_ids * 256 + tiles, batch * grid_h * grid_w * channels * 256)
            histograms = tf.cast(tf.reshape(counts, (batch, grid_h, grid_w, channels, 256)),
                                 "float32")
        if self.clip_limit > 0:
            limit = tf.constant(self.clip_limit * pixels / 256.0, "float32")
            clipped = tf.clip_by_value(histograms, 0.0, limit)
            excess = tf.reduce_sum(histograms - clipped, axis=-1, keepdims=True)
            histograms = clipped + excess / 256.0
        cdf = tf.cumsum(histograms, axis=-1)
        cdf_min = tf.reduce_min(cdf, axis=-1, keepdims=True)
        denominator = float(pixels) - cdf_min
        denominator = tf.where(denominator == 0, tf.ones_like(denominator), denominator)
        return tf.clip_by_value((cdf - cdf_min) * 255.0 / denominator, 0.0, 255.0)

    def _clahe(self, images):
        tf = _tf()
        batch, height, width, channels = _static_shape(images)
        if None in (height, width, channels):
            raise ValueError(f"{type(self).__name__} needs images of known height, width and "
                             f"channels, received shape {_static_shape(images)}")
        grid_h, grid_w = self.tile_grid_size
        tile_h, tile_w = -(-height // grid_h), -(-width // grid_w)
        pad_h, pad_w = tile_h * grid_h - height, tile_w * grid_w - width
        if pad_h or pad_w:
            images = tf.pad(images, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]],
                            mode="SYMMETRIC")
        tiles = tf.reshape(images, (-1, grid_h, tile_h, grid_w, tile_w, channels))
        tiles = tf.reshape(tf.transpose(tiles, (0, 1, 3, 5, 2, 4)),
                           (-1, grid_h, grid_w, channels, tile_h * tile_w))
        cdf = self._histograms(tiles, (batch, grid_h, grid_w, channels, tile_h * tile_w))
        # One tile of edge padding on each side, so every pixel has four tiles to blend.
        cdf = tf.concat([cdf[:, :1], cdf, cdf[:, -1:]], axis=1)
        cdf = tf.concat([cdf[:, :, :1], cdf, cdf[:, :, -1:]], axis=2)

        def axis_taps(size, tile, grid):
            position = (tf.range(size, dtype="float32") - tile / 2.0) / tile + 1.0
            lower = tf.floor(position)
            taps = (tf.cast(tf.clip_by_value(tap, 0.0, grid + 1.0), "int32")
                    for tap in (lower, lower + 1.0))
            return (*taps, position - lower)

        y0, y1, wy = axis_taps(tile_h * grid_h, tile_h, grid_h)
        x0, x1, wx = axis_taps(tile_w * grid_w, tile_w, grid_w)
        stride_x = 256 * channels
        stride_y = stride_x * (grid_w + 2)
        stride_b = stride_y * (grid_h + 2)
        flat = tf.reshape(cdf, (-1,))
        pixels = tf.cast(tf.clip_by_value(images, 0.0, 255.0), "int32")
        base = (tf.reshape(tf.range(tf.shape(images)[0]), (-1, 1, 1, 1)) * stride_b
                + tf.reshape(tf.range(channels), (1, 1, 1, -1)) * 256 + pixels)
        y0, y1 = (tf.reshape(v, (1, -1, 1, 1)) * stride_y for v in (y0, y1))
        x0, x1 = (tf.reshape(v, (1, 1, -1, 1)) * stride_x for v in (x0, x1))
        wy, wx = tf.reshape(wy, (1, -1, 1, 1)), tf.reshape(wx, (1, 1, -1, 1))
        top = tf.gather(flat, base + y0 + x0) * (1.0 - wx) + tf.gather(flat, base + y0 + x1) * wx
        bottom = (tf.gather(flat, base + y1 + x0) * (1.0 - wx)
                  + tf.gather(flat, base + y1 + x1) * wx)
        result = top * (1.0 - wy) + bottom * wy
        return result[:, :height, :width, :]

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "clip_limit": self.clip_limit, "tile_grid_size": self.tile_grid_size,
                "data_format": self.data_format}
