"""keras.ops.image: colour conversions, resizing, geometric transforms and interpolation,
crops and pads, patches, blurs, edges and SSIM, for images (H, W, C) or batches (N, H, W, C)
(channels first with data_format="channels_first").

Geometric sampling (affine_transform, perspective_transform, elastic_transform,
map_coordinates) follows Keras's map_coordinates on its JAX and torch backends: every
interpolation tap is read through the fill mode, nearest rounds half to even, and the
results differentiate with respect to the images and the coordinates.
"""

import itertools
import math

import tensorflux as tf
from tensorflux.keras import backend
from tensorflux.keras.ops._dispatch import (
    convert,
    float_operand,
    keras_op,
    result_type,
    static_shape,
)
from tensorflux.keras.ops.nn import (
    _channels_last,
    _from_channels_last,
    _to_channels_last,
    conv,
    depthwise_conv,
)
from tensorflux.ops.image import _hsv_planes, _rgb_planes

__all__ = ["affine_transform", "crop_images", "elastic_transform", "extract_patches",
           "extract_patches_3d", "gaussian_blur", "hsv_to_rgb", "map_coordinates",
           "pad_images", "perspective_transform", "resize", "rgb_to_grayscale", "rgb_to_hsv",
           "scale_and_translate", "sobel_edges", "ssim"]

_INTERPOLATIONS = ("nearest", "bilinear")
_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def _images(images, op, ranks=(3, 4)):
    images = convert(images)
    if len(static_shape(images)) not in ranks:
        raise ValueError(f"{op}: expected images of rank {' or '.join(map(str, ranks))} "
                         f"(one image or a batch), received shape {static_shape(images)}")
    return images


def _batched_channels_last(images, data_format):
    """(N, H, W, C) images and a function giving results back in the input's layout."""
    unbatched = len(static_shape(images)) == 3
    last = _channels_last(data_format)
    if unbatched:
        images = tf.expand_dims(images, 0)
    images = _to_channels_last(images, 2, last)

    def restore(out):
        out = _from_channels_last(out, 2, last)
        return tf.squeeze(out, 0) if unbatched else out

    return images, restore


def _channel_axis(data_format):
    return -1 if _channels_last(data_format) else -3


def _back_to(x, dtype):
    """x (float) as `dtype`, rounded first when that is an integer dtype."""
    if dtype.is_integer:
        return tf.saturate_cast(tf.round(x), dtype)
    return tf.cast(x, dtype)


# ---------------------------------------------------------------------- colour
@keras_op
def rgb_to_grayscale(images, data_format=None):
    """Luma 0.2989 R + 0.587 G + 0.114 B with a channel axis of 1, in the images' dtype
    (integers truncated, as Keras); single-channel images come back unchanged."""
    images = _images(images, "rgb_to_grayscale")
    axis = _channel_axis(data_format)
    channels = static_shape(images)[axis]
    if channels not in (1, 3):
        raise ValueError("rgb_to_grayscale: expected 3 (RGB) or 1 (grayscale) channels, "
                         f"received shape {static_shape(images)}")
    if channels == 1:
        return images
    floats = tf.cast(images, result_type(images, float))
    red, green, blue = tf.unstack(floats, axis=axis)
    gray = tf.expand_dims(0.2989 * red + 0.587 * green + 0.114 * blue, axis)
    return tf.cast(gray, images.dtype)


def _float_images(images, op):
    images = _images(images, op)
    if not images.dtype.is_floating:
        raise ValueError(f"{op}: expected float images, received {images.dtype.name}")
    return images


def _rgb_planes_of(images, op, data_format):
    """The three channel planes of float images, and their channel axis."""
    images = _float_images(images, op)
    axis = _channel_axis(data_format)
    if static_shape(images)[axis] != 3:
        raise ValueError(f"{op}: expected 3 channels, received shape {static_shape(images)}")
    return tf.unstack(images, axis=axis), axis


@keras_op
def rgb_to_hsv(images, data_format=None):
    """RGB in [0, 1] to (hue, saturation, value), each in [0, 1]: tf.image.rgb_to_hsv after
    zeroing the values below the dtype's machine epsilon, as Keras does.

    >>> from tensorflux.keras import ops
    >>> [round(v, 4) for v in ops.image.rgb_to_hsv([[[0.0, 0.5, 1.0]]])[0, 0].numpy().tolist()]
    [0.5833, 1.0, 1.0]
    """
    planes, axis = _rgb_planes_of(images, "rgb_to_hsv", data_format)
    eps = 2.0 ** {"float16": -10, "bfloat16": -7, "float32": -23}.get(planes[0].dtype.name, -52)
    planes = [tf.where(tf.abs(p) < eps, tf.zeros_like(p), p) for p in planes]
    return tf.stack(_hsv_planes(*planes), axis=axis)


@keras_op
def hsv_to_rgb(images, data_format=None):
    """(hue, saturation, value) in [0, 1] to RGB, the inverse of rgb_to_hsv: tf.image's
    hsv_to_rgb of the hue modulo 1."""
    (hue, saturation, value), axis = _rgb_planes_of(images, "hsv_to_rgb", data_format)
    return tf.stack(_rgb_planes(tf.math.floormod(hue, 1.0), saturation, value), axis=axis)


# ---------------------------------------------------------------------- resizing
@keras_op
def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Images resized to `size` (height, width) with TensorFlow's half-pixel kernels
    (tf.image.resize, as Keras's TensorFlow backend): "bilinear", "nearest", "bicubic" (Keys,
    a = -0.5), "lanczos3", "lanczos5" or "area"; antialias widens the kernel when
    downscaling. crop_to_aspect_ratio / pad_to_aspect_ratio first cut or pad (with
    fill_value) the centred box of the target's aspect ratio. Integer images come back
    rounded in their dtype."""
    from tensorflux.keras.layers.preprocessing.image import _check_interpolation, _resize_images

    _check_interpolation(interpolation)
    if fill_mode != "constant":
        raise ValueError(f"resize: fill_mode must be 'constant', received {fill_mode!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("resize: give crop_to_aspect_ratio or pad_to_aspect_ratio, not both")
    if len(size) != 2:
        raise ValueError(f"resize: size must be (height, width), received {size!r}")
    images = _images(images, "resize")
    batched, restore = _batched_channels_last(images, data_format)
    resized = _resize_images(batched, tuple(size), interpolation, crop_to_aspect_ratio,
                             pad_to_aspect_ratio, fill_value, antialias)
    return restore(_back_to(resized, images.dtype))


@keras_op
def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    """jax.image.scale_and_translate: each of `spatial_dims` resampled to output_shape with
    input coordinate (output + 0.5 - translation) / scale - 0.5, by a "linear", "cubic"
    (Keys), "lanczos3" or "lanczos5" kernel, widened by 1 / scale when antialiasing a
    downscale; samples mapping outside the input are zero."""
    kernels = {"linear": "linear", "bilinear": "linear", "trilinear": "linear",
               "triangle": "linear", "cubic": "cubic", "bicubic": "cubic", "tricubic": "cubic",
               "lanczos3": "lanczos3", "lanczos5": "lanczos5"}
    if method not in kernels:
        raise ValueError(f"scale_and_translate: method must be one of {sorted(kernels)}, "
                         f"received {method!r}")
    images = convert(images)
    dtype = result_type(scale, translation, float)
    scale, translation = convert(scale, dtype), convert(translation, dtype)
    out = tf.cast(images, "float32") if images.dtype.is_integer else images
    rank = len(static_shape(images))
    for i, axis in enumerate(spatial_dims):
        axis %= rank
        weights = _resampling_weights(static_shape(images)[axis], output_shape[axis], scale[i],
                                      translation[i], kernels[method], antialias)
        out = tf.tensordot(out, tf.cast(weights, out.dtype), [[axis], [0]])
        out = tf.transpose(out, list(range(axis)) + [rank - 1] + list(range(axis, rank - 1)))
    if images.dtype.is_integer:
        low, high = tf.reduce_min(images), tf.reduce_max(images)
        return tf.cast(tf.clip_by_value(tf.round(out), tf.cast(low, out.dtype),
                                        tf.cast(high, out.dtype)), images.dtype)
    return out


def _kernel(name, x):
    """The resampling kernel at distances x >= 0."""
    if name == "linear":
        return tf.maximum(1.0 - x, tf.zeros_like(x))
    if name == "cubic":
        near = ((1.5 * x - 2.5) * x) * x + 1.0
        far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
        return tf.where(x >= 2.0, tf.zeros_like(x), tf.where(x >= 1.0, far, near))
    radius = 3.0 if name == "lanczos3" else 5.0
    safe = tf.where(x > 1e-3, x, tf.ones_like(x))
    lanczos = radius * tf.sin(math.pi * safe) * tf.sin(math.pi * safe / radius) / (
        math.pi ** 2 * safe * safe)
    return tf.where(x > radius, tf.zeros_like(x), tf.where(x > 1e-3, lanczos,
                                                           tf.ones_like(x)))


def _resampling_weights(in_size, out_size, scale, translation, kernel, antialias):
    """The (in_size, out_size) matrix of one axis's resampling weights, each column summing
    to 1 (or all zero where the sample falls outside the input)."""
    dtype = scale.dtype
    inverse = 1.0 / scale
    kernel_scale = tf.maximum(inverse, tf.ones_like(inverse)) if antialias else 1.0
    sample = (tf.cast(tf.range(out_size), dtype) + 0.5) * inverse - translation * inverse - 0.5
    distance = tf.abs(sample[None, :] - tf.cast(tf.range(in_size), dtype)[:, None])
    weights = _kernel(kernel, distance / kernel_scale)
    total = tf.reduce_sum(weights, axis=0, keepdims=True)
    usable = tf.abs(total) > 1000.0 * 2.0 ** -23
    weights = tf.where(usable, weights / tf.where(total != 0, total, tf.ones_like(total)),
                       tf.zeros_like(weights))
    inside = tf.logical_and(sample >= -0.5, sample <= in_size - 0.5)
    return tf.where(inside[None, :], weights, tf.zeros_like(weights))


# ---------------------------------------------------------------------- interpolation
def _mirror(index, size):
    if size == 1:
        return tf.zeros_like(index)
    period = size - 1
    return tf.abs(tf.math.floormod(index + period, 2 * period) - period)


_INDEX_FIXERS = {
    "constant": lambda index, size: tf.clip_by_value(index, 0, size - 1),
    "nearest": lambda index, size: tf.clip_by_value(index, 0, size - 1),
    "wrap": lambda index, size: tf.math.floormod(index, size),
    "mirror": _mirror,
    "reflect": lambda index, size: tf.math.floordiv(_mirror(2 * index + 1, 2 * size + 1) - 1,
                                                    2),
}


def _interpolate(inputs, coordinates, order, fill_mode, fill_value):
    """`inputs` sampled at `coordinates`, one tensor per leading axis of inputs (all of one
    shape S): a tensor S + the remaining axes of inputs, in inputs' dtype (integers
    rounded). Integer coordinates are read exactly; float ones by nearest (order 0) or
    linear (order 1) interpolation, each tap outside the input read through fill_mode."""
    if order not in (0, 1):
        raise ValueError(f"map_coordinates: order must be 0 or 1, received {order!r}")
    if fill_mode not in _INDEX_FIXERS:
        raise ValueError(f"fill_mode must be one of {_FILL_MODES}, received {fill_mode!r}")
    shape = static_shape(inputs)
    compute = result_type(inputs, *[c for c in coordinates if not c.dtype.is_integer], float)
    values_in = tf.cast(inputs, compute)
    per_axis = []
    for coordinate, size in zip(coordinates, shape):
        if coordinate.dtype.is_integer:
            taps = [(tf.cast(coordinate, "int32"), None)]
        elif order == 0:
            taps = [(tf.cast(tf.round(coordinate), "int32"), None)]
        else:
            lower = tf.floor(coordinate)
            upper_weight = tf.cast(coordinate - lower, compute)
            lower = tf.cast(lower, "int32")
            taps = [(lower, 1.0 - upper_weight), (lower + 1, upper_weight)]
        if size is None:  # (an unknown batch, read at its own indices)
            per_axis.append([(index, True, weight) for index, weight in taps])
            continue
        per_axis.append([(_INDEX_FIXERS[fill_mode](index, size),
                          tf.logical_and(index >= 0, index < size), weight)
                         for index, weight in taps])
    trailing = len(shape) - len(coordinates)

    def broadcastable(t):  # t of shape S, with an axis of 1 for each remaining input axis
        return tf.reshape(t, tf.concat([tf.shape(t), [1] * trailing], 0)) if trailing else t

    fill = tf.cast(fill_value, compute)
    total = 0
    for taps in itertools.product(*per_axis):
        values = tf.gather_nd(values_in, tf.stack([index for index, _, _ in taps], axis=-1))
        if fill_mode == "constant":
            inside = True
            for _, valid, _ in taps:
                inside = tf.logical_and(inside, valid)
            values = tf.where(broadcastable(inside), values, fill)
        for _, _, weight in taps:
            if weight is not None:
                values = values * broadcastable(weight)
        total = total + values
    return _back_to(total, inputs.dtype)


@keras_op
def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """`inputs` interpolated at `coordinates` (rank(inputs), ...): order 0 (nearest) or 1
    (linear); outside points per fill_mode: "constant" (fill_value), "nearest", "wrap",
    "mirror" (c d c b | a b c d | c b a b) or "reflect" (d c b a | a b c d | d c b a).

    >>> from tensorflux.keras import ops
    >>> ops.image.map_coordinates([1.0, 2.0, 4.0], [[0.5, 1.25]], 1).numpy().tolist()
    [1.5, 2.5]
    """
    inputs = convert(inputs)
    coordinates = [convert(c) for c in (tf.unstack(convert(coordinates), axis=0)
                                        if not isinstance(coordinates, (list, tuple))
                                        else coordinates)]
    if len(coordinates) != len(static_shape(inputs)):
        raise ValueError(f"map_coordinates: expected one coordinate array per axis of the "
                         f"input ({len(static_shape(inputs))}), received {len(coordinates)}")
    if not static_shape(coordinates[0]):
        raise ValueError("map_coordinates: coordinates must have rank >= 2 (axes, points...)")
    return _interpolate(inputs, coordinates, order, fill_mode, fill_value)


def _sample(images, y, x, interpolation, fill_mode, fill_value):
    """Batched channels_last images sampled at rows y and columns x (N, H, W)."""
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, received "
                         f"{interpolation!r}")
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"fill_mode must be one of {_FILL_MODES}, received {fill_mode!r}")
    batch = tf.broadcast_to(tf.reshape(tf.range(tf.shape(images)[0]), [-1, 1, 1]),
                            tf.shape(y))
    return _interpolate(images, [batch, y, x], _INTERPOLATIONS.index(interpolation),
                        fill_mode, fill_value)


def _grid(images, dtype):
    """The output pixels' (x, y) coordinates, each (1, H, W)."""
    height, width = static_shape(images)[1:3]
    y, x = tf.meshgrid(tf.cast(tf.range(height), dtype), tf.cast(tf.range(width), dtype),
                       indexing="ij")
    return x[None], y[None]


def _projective(images, transforms, interpolation, fill_mode, fill_value):
    """Output pixel (x, y) of each image samples its input at ((a0 x + a1 y + a2) / k,
    (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1, for transforms (N or 1, 8)."""
    x, y = _grid(images, transforms.dtype)
    a0, a1, a2, b0, b1, b2, c0, c1 = (tf.reshape(t, [-1, 1, 1])
                                      for t in tf.unstack(transforms, axis=-1))
    k = c0 * x + c1 * y + 1.0
    x_in, y_in = (a0 * x + a1 * y + a2) / k, (b0 * x + b1 * y + b2) / k
    count = tf.shape(images)[:1]
    shape = tf.concat([count, tf.shape(x_in)[1:]], 0)
    return _sample(images, tf.broadcast_to(y_in, shape), tf.broadcast_to(x_in, shape),
                   interpolation, fill_mode, fill_value)


@keras_op
def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Images resampled through transforms [a0, a1, a2, b0, b1, b2, c0, c1] (one, or one per
    image): output pixel (x, y) reads the input at ((a0 x + a1 y + a2) / k,
    (b0 x + b1 y + b2) / k) with k = c0 x + c1 y + 1.

    >>> from tensorflux.keras import ops
    >>> image = ops.reshape(ops.arange(4.0), (1, 4, 1))
    >>> shift = [1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    >>> ops.image.affine_transform(image, shift)[0, :, 0].numpy().tolist()
    [0.0, 0.0, 1.0, 2.0]
    """
    images = _images(images, "affine_transform")
    transform = float_operand(transform)
    if len(static_shape(transform)) not in (1, 2) or static_shape(transform)[-1] != 8:
        raise ValueError("affine_transform: expected transforms of shape (8,) or (batch, 8), "
                         f"received {static_shape(transform)}")
    batched, restore = _batched_channels_last(images, data_format)
    out = _projective(batched, tf.reshape(transform, [-1, 8]), interpolation, fill_mode,
                      fill_value)
    return restore(out)


def _homographies(start_points, end_points):
    """The transforms (N, 8) mapping each output pixel at end_points to its input pixel at
    start_points: the 8x8 linear system of the 4 point pairs, solved."""
    dtype = result_type(start_points, end_points, float)
    start, end = convert(start_points, dtype), convert(end_points, dtype)
    for name, points in (("start_points", start), ("end_points", end)):
        if len(static_shape(points)) not in (2, 3) or static_shape(points)[-2:] != (4, 2):
            raise ValueError(f"perspective_transform: {name} must have shape (4, 2) or (N, 4, "
                             f"2), received {static_shape(points)}")
    if static_shape(start) != static_shape(end):
        raise ValueError("perspective_transform: start_points and end_points must have one "
                         f"shape, received {static_shape(start)} and {static_shape(end)}")
    start, end = tf.reshape(start, [-1, 4, 2]), tf.reshape(end, [-1, 4, 2])
    rows, targets = [], []
    zero = tf.zeros_like(end[:, 0, 0])
    for i in range(4):
        ex, ey, sx, sy = end[:, i, 0], end[:, i, 1], start[:, i, 0], start[:, i, 1]
        rows.append(tf.stack([ex, ey, zero + 1.0, zero, zero, zero, -sx * ex, -sx * ey], -1))
        rows.append(tf.stack([zero, zero, zero, ex, ey, zero + 1.0, -sy * ex, -sy * ey], -1))
        targets += [sx, sy]
    compute = result_type(dtype, "float32")
    solved = tf.linalg.solve(tf.cast(tf.stack(rows, axis=1), compute),
                             tf.cast(tf.stack(targets, axis=1)[..., None], compute))
    return tf.cast(solved[..., 0], dtype)


@keras_op
def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    """Images warped so that the 4 start_points (x, y) land on the 4 end_points: each
    output pixel samples the homography's preimage, fill_value outside."""
    images = _images(images, "perspective_transform")
    batched, restore = _batched_channels_last(images, data_format)
    transforms = _homographies(start_points, end_points)
    return restore(_projective(batched, transforms, interpolation, "constant", fill_value))


@keras_op
def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    """Images resampled through a random smooth displacement field: per image, normal
    noise times sigma, blurred by a Gaussian of that sigma (kernel int(6 sigma) | 1), times
    alpha, displaces each pixel's (x, y) sample."""
    from tensorflux.keras.random import _source

    images = _images(images, "elastic_transform")
    batched, restore = _batched_channels_last(images, data_format)
    dtype = images.dtype if images.dtype.is_floating else tf.as_dtype(backend.floatx())
    # Both displacement fields (x, then y) come from one draw of the seed's stream.
    shape = tf.concat([[2], tf.shape(batched)[:3], [1]], 0)
    noise = tf.reshape(_source(seed).normal(shape, 0.0, sigma, dtype),
                       tf.concat([[-1], tf.shape(batched)[1:3], [1]], 0))
    size = int(6 * sigma) | 1
    fields = gaussian_blur(noise, (size, size), (sigma, sigma), "channels_last")[..., 0]
    dx, dy = tf.split(fields, 2, axis=0)
    x, y = _grid(batched, dtype)
    out = _sample(batched, y + alpha * dy, x + alpha * dx, interpolation, fill_mode,
                  fill_value)
    return restore(out)


# ---------------------------------------------------------------------- crops and pads
def _two_of(first, second, target, what):
    if [first, second, target].count(None) != 1:
        raise ValueError(f"Give exactly two of {what}; received {first}, {second}, {target}")
    for value in (first, second, target):
        if value is not None and value < 0:
            raise ValueError(f"{what} must be >= 0; received {first}, {second}, {target}")


def _hw(images, data_format):
    shape = static_shape(images)
    return shape[-3:-1] if _channels_last(data_format) else shape[-2:]


def _spatial_pads(images, data_format, height_pads, width_pads):
    pads = [height_pads, width_pads] + ([[0, 0]] if _channels_last(data_format) else [])
    if not _channels_last(data_format):
        pads = [[0, 0]] + pads
    return [[0, 0]] * (len(static_shape(images)) - 3) + pads


@keras_op
def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    """Images zero-padded; of top_padding, bottom_padding and target_height give two (the
    third follows), and likewise across the width."""
    images = _images(images, "pad_images")
    _two_of(top_padding, bottom_padding, target_height,
            "top_padding, bottom_padding, target_height")
    _two_of(left_padding, right_padding, target_width,
            "left_padding, right_padding, target_width")
    height, width = _hw(images, data_format)
    if top_padding is None:
        top_padding = target_height - bottom_padding - height
    if bottom_padding is None:
        bottom_padding = target_height - top_padding - height
    if left_padding is None:
        left_padding = target_width - right_padding - width
    if right_padding is None:
        right_padding = target_width - left_padding - width
    amounts = {"top_padding": top_padding, "bottom_padding": bottom_padding,
               "left_padding": left_padding, "right_padding": right_padding}
    for name, value in amounts.items():
        if value < 0:
            raise ValueError(f"pad_images: {name} must be >= 0, received {name}={value} "
                             f"(images of height {height} and width {width})")
    return tf.pad(images, _spatial_pads(images, data_format, [top_padding, bottom_padding],
                                        [left_padding, right_padding]))


@keras_op
def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    """Images cropped; of top_cropping, bottom_cropping and target_height give two (the
    third follows), and likewise across the width."""
    images = _images(images, "crop_images")
    _two_of(top_cropping, bottom_cropping, target_height,
            "top_cropping, bottom_cropping, target_height")
    _two_of(left_cropping, right_cropping, target_width,
            "left_cropping, right_cropping, target_width")
    height, width = _hw(images, data_format)
    if top_cropping is None:
        top_cropping = height - target_height - bottom_cropping
    if target_height is None:
        target_height = height - bottom_cropping - top_cropping
    if left_cropping is None:
        left_cropping = width - target_width - right_cropping
    if target_width is None:
        target_width = width - right_cropping - left_cropping
    amounts = {"top_cropping": top_cropping, "target_height": target_height,
               "left_cropping": left_cropping, "target_width": target_width}
    for name, value in amounts.items():
        if value < 0:
            raise ValueError(f"crop_images: {name} must be >= 0, received {name}={value} "
                             f"(images of height {height} and width {width})")
    rows = slice(top_cropping, top_cropping + target_height)
    columns = slice(left_cropping, left_cropping + target_width)
    window = (rows, columns, slice(None)) if _channels_last(data_format) else \
        (slice(None), rows, columns)
    return images[(slice(None),) * (len(static_shape(images)) - 3) + window]


# ---------------------------------------------------------------------- patches
@keras_op
def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    """The size (rows, columns) patches of images, flattened as (rows, columns, channels)
    along the channel axis; strides default to size. A size of 3 ints extracts 3-D patches
    of volumes (see extract_patches_3d)."""
    if not isinstance(size, int) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    rows, columns = (size, size) if isinstance(size, int) else size
    strides = (rows, columns) if not strides else strides
    s_rows, s_columns = (strides, strides) if isinstance(strides, int) else strides
    r_rows, r_columns = (dilation_rate,) * 2 if isinstance(dilation_rate, int) else \
        dilation_rate
    images = _images(images, "extract_patches")
    batched, restore = _batched_channels_last(images, data_format)
    patches = tf.image.extract_patches(batched, [1, rows, columns, 1],
                                       [1, s_rows, s_columns, 1], [1, r_rows, r_columns, 1],
                                       padding.upper())
    return restore(patches)


@keras_op
def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    """The (depth, rows, columns) patches of volumes (D, H, W, C) or (N, D, H, W, C),
    flattened as (depth, rows, columns, channels); strides default to size."""
    size = (size,) * 3 if isinstance(size, int) else tuple(size)
    strides = size if strides is None else strides
    volumes = _images(volumes, "extract_patches_3d", ranks=(4, 5))
    unbatched = len(static_shape(volumes)) == 4
    if unbatched:
        volumes = tf.expand_dims(volumes, 0)
    channels = static_shape(volumes)[-1 if _channels_last(data_format) else 1]
    depth = size[0] * size[1] * size[2] * channels
    # A convolution with the identity kernel copies each window into the channel axis.
    kernel = tf.reshape(tf.eye(depth, dtype=volumes.dtype), list(size) + [channels, depth])
    patches = conv(volumes, kernel, strides, padding, data_format, dilation_rate)
    return tf.squeeze(patches, 0) if unbatched else patches


# ---------------------------------------------------------------------- filters
def _gaussian_kernel(size, sigma, dtype):
    """A normalized Gaussian window of `size` taps; sigma may be a tensor (Keras's blur layer
    draws it)."""
    x = tf.cast(tf.range(size), dtype) - (size - 1) / 2
    kernel = tf.exp(-0.5 * tf.square(x / tf.cast(sigma, dtype)))
    return kernel / tf.reduce_sum(kernel)


def _depthwise_same(images, kernel_2d, data_format):
    """Each channel of batched images convolved ("same", zero-padded) with one 2-D kernel."""
    channels = static_shape(images)[-1 if _channels_last(data_format) else 1]
    kernel = tf.tile(tf.reshape(kernel_2d, static_shape(kernel_2d) + (1, 1)),
                     [1, 1, channels, 1])
    return depthwise_conv(images, kernel, 1, "same", data_format)


@keras_op
def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Images blurred per channel by a Gaussian ("same" size, zero-padded). As Keras's
    backends compute it, kernel_size[0] and sigma[0] act across the width (columns) and
    kernel_size[1] and sigma[1] down the height; the sigmas may be tensors. The kernel is
    separable, so it runs as two 1-D convolutions."""
    images = float_operand(_images(images, "gaussian_blur"))
    unbatched = len(static_shape(images)) == 3
    if unbatched:
        images = tf.expand_dims(images, 0)
    across = _gaussian_kernel(int(kernel_size[0]), sigma[0], images.dtype)
    down = _gaussian_kernel(int(kernel_size[1]), sigma[1], images.dtype)
    out = _depthwise_same(images, tf.reshape(across, (1, -1)), data_format)
    out = _depthwise_same(out, tf.reshape(down, (-1, 1)), data_format)
    return tf.squeeze(out, 0) if unbatched else out


@keras_op
def sobel_edges(images, data_format=None):
    """The Sobel derivatives of each channel of a batch of images ("same", zero-padded):
    shape + (2,) holding (d/dy, d/dx).

    >>> from tensorflux.keras import ops
    >>> ramp = ops.reshape(ops.tile(ops.arange(4.0), [4]), (1, 4, 4, 1))
    >>> ops.image.sobel_edges(ramp)[0, 1, 1, 0].numpy().tolist()
    [0.0, 8.0]
    """
    images = _images(images, "sobel_edges", ranks=(4,))
    rows = tf.constant([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=images.dtype)
    dy = _depthwise_same(images, rows, data_format)
    dx = _depthwise_same(images, tf.transpose(rows), data_format)
    return tf.stack([dy, dx], axis=-1)


@keras_op
def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    """The structural similarity of image pairs (Wang et al. 2004): Gaussian-weighted means,
    variances and covariance over VALID windows, averaged over positions and channels; one
    value per image, in the images' dtype.

    >>> from tensorflux.keras import ops
    >>> x = ops.reshape(ops.arange(64.0) / 64.0, (8, 8, 1))
    >>> round(float(ops.image.ssim(x, x, filter_size=3)), 6)
    1.0
    """
    image1 = _images(image1, "ssim")
    image2 = _images(image2, "ssim")
    dtype = image1.dtype
    compute = result_type(image1, float)
    x, _ = _batched_channels_last(tf.cast(image1, compute), data_format)
    y, _ = _batched_channels_last(tf.cast(image2, compute), data_format)
    channels = static_shape(x)[-1]
    window = _gaussian_kernel(int(filter_size), filter_sigma, compute)
    kernel = tf.tile(tf.reshape(window[:, None] * window[None, :],
                                [filter_size, filter_size, 1, 1]), [1, 1, channels, 1])

    def mean(z):
        return depthwise_conv(z, kernel, 1, "valid", "channels_last")

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu_x, mu_y = mean(x), mean(y)
    var_x = mean(x * x) - mu_x * mu_x
    var_y = mean(y * y) - mu_y * mu_y
    cov = mean(x * y) - mu_x * mu_y
    index = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    per_image = tf.reduce_mean(index, axis=[1, 2, 3])
    if len(static_shape(image1)) == 3:
        per_image = per_image[0]
    return tf.cast(per_image, dtype)
