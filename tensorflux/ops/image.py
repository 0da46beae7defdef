"""Image ops (tf.image): resize with TensorFlow's half-pixel kernels, the projective transform
that Keras's geometric augmentation layers sample images with, and the flips, crops, pads,
colour (HSV, YIQ, YUV) and dtype adjustments, random and stateless-random augmentations,
edge filters and quality metrics built from ordinary ops. Bounding-box ops (non-max
suppression, crop_and_resize, ...) live in image_boxes.py; tf.io's image codecs are
reachable here under their tf.image names."""

import math as _pymath
import struct as _struct

from tensorflux import dtypes, errors
from tensorflux.ops import array, indexing, linalg, reduction
from tensorflux.ops import math as tmath
from tensorflux.ops import random as trandom
from tensorflux.ops._core import as_operand, aval
from tensorflux.ops.image_boxes import (
    combined_non_max_suppression,
    crop_and_resize,
    draw_bounding_boxes,
    extract_glimpse,
    non_max_suppression,
    non_max_suppression_overlaps,
    non_max_suppression_padded,
    non_max_suppression_with_scores,
    sample_distorted_bounding_box,
    stateless_sample_distorted_bounding_box,
)
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike, convert_to_tensor

__all__ = ["resize", "resize_weights", "affine_transform", "ResizeMethod", "flip_left_right",
           "flip_up_down", "random_flip_left_right", "random_flip_up_down", "rot90", "transpose",
           "crop_to_bounding_box", "pad_to_bounding_box", "central_crop",
           "resize_with_crop_or_pad", "resize_with_pad", "random_crop", "rgb_to_grayscale",
           "grayscale_to_rgb", "convert_image_dtype", "per_image_standardization",
           "adjust_brightness", "adjust_contrast", "adjust_gamma", "random_brightness",
           "random_contrast", "rgb_to_hsv", "hsv_to_rgb", "adjust_hue", "adjust_saturation",
           "random_hue", "random_saturation", "rgb_to_yiq", "yiq_to_rgb", "rgb_to_yuv",
           "yuv_to_rgb", "stateless_random_brightness", "stateless_random_contrast",
           "stateless_random_crop", "stateless_random_flip_left_right",
           "stateless_random_flip_up_down", "stateless_random_hue",
           "stateless_random_saturation", "adjust_jpeg_quality", "random_jpeg_quality",
           "stateless_random_jpeg_quality", "extract_patches", "psnr", "ssim",
           "ssim_multiscale", "sobel_edges", "total_variation", "image_gradients",
           "non_max_suppression", "non_max_suppression_with_scores",
           "non_max_suppression_overlaps", "non_max_suppression_padded",
           "combined_non_max_suppression", "crop_and_resize", "extract_glimpse",
           "draw_bounding_boxes", "sample_distorted_bounding_box",
           "stateless_sample_distorted_bounding_box"]

# tf.image's names for tf.io's image codecs, looked up in tensorflux.io on first use.
_CODECS = ("decode_and_crop_jpeg", "decode_bmp", "decode_gif", "decode_image", "decode_jpeg",
           "decode_png", "decode_webp", "encode_jpeg", "encode_png", "extract_jpeg_shape",
           "is_jpeg")


def __getattr__(name):
    if name in _CODECS:
        from tensorflux import io

        if hasattr(io, name):
            return getattr(io, name)
    raise AttributeError(f"module 'tensorflux.image' has no attribute {name!r}")


class ResizeMethod:
    """The method names tf.image.resize accepts."""

    BILINEAR = "bilinear"
    NEAREST_NEIGHBOR = "nearest"
    BICUBIC = "bicubic"
    AREA = "area"
    LANCZOS3 = "lanczos3"
    LANCZOS5 = "lanczos5"
    GAUSSIAN = "gaussian"
    MITCHELLCUBIC = "mitchellcubic"


_METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
            "mitchellcubic")
_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _scale(in_size, out_size):
    # TensorFlow computes the scale in float32; float64 of the same ratio differs only in the
    # last bits, below the float32 rounding of the sample positions for image-sized inputs.
    return in_size / out_size


def _keys(d, a=-0.5):
    """Keys' cubic convolution kernel at distance d."""
    d = abs(d)
    if d <= 1:
        return ((a + 2) * d - (a + 3)) * d * d + 1
    if d < 2:
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return 0.0


def _cubic_coeffs(t):
    """Keys' weights of the 4 taps around a sample at fraction t."""
    return [_keys(t + 1), _keys(t), _keys(1 - t), _keys(2 - t)]


def _lanczos(radius):
    def kernel(x):
        if x > radius:
            return 0.0
        if x <= 1e-3:  # the limit of sin(x) / x at 0
            return 1.0
        return radius * _pymath.sin(_pymath.pi * x) * _pymath.sin(_pymath.pi * x / radius) / (
            _pymath.pi * _pymath.pi * x * x)
    return kernel


def _mitchell(x):
    if x >= 2.0:
        return 0.0
    if x >= 1.0:
        return (((-7.0 / 18.0) * x + 2.0) * x - 10.0 / 3.0) * x + 16.0 / 9.0
    return ((7.0 / 6.0) * x - 2.0) * x * x + 8.0 / 9.0


# TensorFlow's ScaleAndTranslate kernels of |distance|, with their radii.
_SAMPLING_KERNELS = {
    "triangle": (1.0, lambda x: max(1.0 - x, 0.0)),
    "keyscubic": (2.0, _keys),
    "mitchellcubic": (2.0, _mitchell),
    "lanczos3": (3.0, _lanczos(3.0)),
    "lanczos5": (5.0, _lanczos(5.0)),
    "gaussian": (1.5, lambda x: _pymath.exp(-2.0 * x * x) if x < 1.5 else 0.0),  # sigma 0.5
}


def _kernel_row(in_size, out_size, o, kernel_name, antialias):
    """ScaleAndTranslate's weights for output o: kernel taps around (o + 0.5) * in / out,
    the kernel widened by in / out when antialiasing a downscale, normalized to sum 1."""
    radius, kernel = _SAMPLING_KERNELS[kernel_name]
    inverse = _scale(in_size, out_size)
    kernel_scale = max(inverse, 1.0) if antialias else 1.0
    sample = (o + 0.5) * inverse
    start = max(_pymath.ceil(sample - radius * kernel_scale - 0.5), 0)
    stop = min(_pymath.floor(sample + radius * kernel_scale - 0.5), in_size - 1) + 1
    row = [0.0] * in_size
    for i in range(start, stop):
        row[i] = kernel(abs(i + 0.5 - sample) / kernel_scale)
    total = sum(row)
    return [w / total for w in row] if total != 0.0 else row


def _area_row(in_size, out_size, o):
    """ResizeArea's weights for output o: the overlap of each input cell with the output
    cell's span [o, o + 1) * in / out, over that span's length."""
    scale = _scale(in_size, out_size)
    low, high = o * scale, (o + 1) * scale
    row = [0.0] * in_size
    for i in range(_pymath.floor(low), _pymath.ceil(high)):
        row[min(max(i, 0), in_size - 1)] += (min(i + 1, high) - max(i, low)) / scale
    return row


def resize_weights(in_size, out_size, method, antialias=False):
    """The (out_size x in_size) interpolation matrix of one axis, as nested Python lists.

    TensorFlow 2's resize is separable: half-pixel centers, sample position
    (o + 0.5) * in / out - 0.5; bilinear clamps the two taps to the edge; nearest takes
    floor((o + 0.5) * in / out) clamped; bicubic uses Keys' kernel with a = -0.5 at the
    fraction rounded to 1/1024 (TF's weight table), drops taps outside the image and
    renormalizes the rest (resize_bicubic with half_pixel_centers).
    "area" averages the input cells each output cell covers (resize_area). Lanczos, gaussian
    and Mitchell-cubic, and bilinear / bicubic with antialias=True, use ScaleAndTranslate's
    kernels; antialias widens them when downscaling so every input pixel contributes.

    >>> from tensorflux.ops.image import resize_weights
    >>> resize_weights(2, 4, "bilinear")
    [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]
    >>> resize_weights(3, 2, "area")
    [[0.6666666666666666, 0.3333333333333333, 0.0], [0.0, 0.3333333333333333, 0.6666666666666666]]
    """
    if method == "area":
        return [_area_row(in_size, out_size, o) for o in range(out_size)]
    if method not in ("nearest", "bilinear", "bicubic") or (antialias and method != "nearest"):
        kernel = {"bilinear": "triangle", "bicubic": "keyscubic"}.get(method, method)
        return [_kernel_row(in_size, out_size, o, kernel, antialias) for o in range(out_size)]
    scale = _scale(in_size, out_size)
    rows = []
    for o in range(out_size):
        row = [0.0] * in_size
        if method == "nearest":
            index = min(int(_pymath.floor((o + 0.5) * scale)), in_size - 1)
            row[max(index, 0)] = 1.0
        elif method == "bilinear":
            position = (o + 0.5) * scale - 0.5
            low = _pymath.floor(position)
            lerp = position - low
            lo, hi = max(low, 0), min(low + 1, in_size - 1)
            lo = min(lo, in_size - 1)
            row[lo] += 1.0 - lerp
            row[hi] += lerp
        else:
            position = (o + 0.5) * scale - 0.5
            low = _pymath.floor(position)
            # TF reads Keys' weights from a table of 1024 steps per pixel (the nearest entry).
            coeffs = _cubic_coeffs(round((position - low) * 1024) / 1024)
            taps = [(low - 1 + k, c) for k, c in enumerate(coeffs)]
            inside = [(i, c) for i, c in taps if 0 <= i < in_size]
            total = sum(c for _, c in inside)
            for i, c in inside:
                row[i] += c / total
        rows.append(row)
    return rows


def _nearest_indices(in_size, out_size):
    scale = _scale(in_size, out_size)
    return [max(min(int(_pymath.floor((o + 0.5) * scale)), in_size - 1), 0)
            for o in range(out_size)]


def resize(images, size, method="bilinear", preserve_aspect_ratio=False, antialias=False,
           name=None):
    """Resizes [batch, height, width, channels] (or unbatched [h, w, c]) images to `size`.

    `method` is one of ResizeMethod's names (see resize_weights for each kernel); antialias
    applies to all but nearest and area. Every method but nearest returns float32 for integer
    images (float inputs keep their dtype); nearest keeps the dtype. The result is linear in
    the images, so gradients flow.

    >>> import tensorflux as tf
    >>> from tensorflux.ops.image import resize
    >>> image = tf.reshape(tf.constant([0.0, 1.0, 2.0, 3.0]), (2, 2, 1))
    >>> resize(image, (1, 4))[..., 0].numpy().tolist()
    [[1.0, 1.25, 1.75, 2.0]]
    """
    images = as_operand("resize", images)
    rank = images.shape.rank
    if rank not in (3, 4):
        raise errors.InvalidArgumentError(
            f"resize: expected images of rank 3 or 4, received shape {tuple(images.shape)}",
            "resize")
    method = str(method).lower()
    if method not in _METHODS:
        raise errors.InvalidArgumentError(
            f"resize: method must be one of {_METHODS}, received {method!r}", "resize")
    if isinstance(size, (_TensorLike, list, tuple)):
        # e.g. tf.shape(images)[1:3] * 2 in a tf.function: folded from the static shapes
        from tensorflux.ops._static import fold

        size = fold("resize", size, "size")
    try:
        out_h, out_w = (int(s) for s in size)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"resize: size must be two ints (height, width), received {size!r}",
            "resize") from error
    if out_h <= 0 or out_w <= 0:
        raise errors.InvalidArgumentError(
            f"resize: size must be positive, received {(out_h, out_w)}", "resize")
    in_h, in_w = images.shape[rank - 3], images.shape[rank - 2]
    if (in_h is None or in_w is None) and preserve_aspect_ratio:
        raise errors.InvalidArgumentError(
            f"resize: preserve_aspect_ratio needs the image height and width known when the "
            f"function is traced (the output size follows them), received shape "
            f"{tuple(images.shape)}", "resize")
    if in_h == 0 or in_w == 0:
        raise errors.InvalidArgumentError(
            f"resize: the images must not be empty, received shape {tuple(images.shape)}",
            "resize")
    if preserve_aspect_ratio:
        scale = min(out_h / in_h, out_w / in_w)
        out_h, out_w = int(round(in_h * scale)), int(round(in_w * scale))
    batched = images if rank == 4 else array.expand_dims(images, 0)
    if method == "nearest":
        out = batched
        if out_h != in_h:
            out = indexing.gather(out, _axis_table(batched, 1, in_h, out_h, _nearest_indices,
                                                   dtypes.int32), axis=1)
        if out_w != in_w:
            out = indexing.gather(out, _axis_table(batched, 2, in_w, out_w, _nearest_indices,
                                                   dtypes.int32), axis=2)
    else:
        if not batched.dtype.is_floating:
            batched = tmath.cast(batched, dtypes.float32)
        dtype = batched.dtype
        out = batched

        def weights(in_size, out_size):
            return resize_weights(in_size, out_size, method, antialias)

        # A same-size bilinear or area resize is the identity; other kernels may smooth.
        keeps_size = method in ("bilinear", "area")
        if out_h != in_h or not keeps_size:
            wh = _axis_table(batched, 1, in_h, out_h, weights, dtype)
            out = linalg.einsum("oh,bhwc->bowc", wh, out)
        if out_w != in_w or not keeps_size:
            ww = _axis_table(batched, 2, in_w, out_w, weights, dtype)
            out = linalg.einsum("pw,bowc->bopc", ww, out)
    return out if rank == 4 else array.squeeze(out, 0)


def _axis_table(images, axis, in_size, out_size, table, dtype):
    """`table(in_size, out_size)` (one axis's interpolation weights or nearest indices) as a
    tensor. Where the traced images' size along `axis` is unknown (a Dataset.map over images
    of several sizes, a model on Input((None, None, 3))), the table is computed on the host
    when the function runs, from the size the images have then."""
    if in_size is not None:
        return convert_to_tensor(table(in_size, out_size), dtype=dtype)
    from tensorflux.control import numpy_function

    result = numpy_function(lambda size: (table(int(size), out_size),),
                            [array.shape(images)[axis]], Tout=[dtype])[0]
    result.set_shape([out_size] if dtype.is_integer else [out_size, None])
    return result


# ------------------------------------------------------------------ projective transform

def _affine_vjp(g, images, transforms, out, interpolation, fill_mode, fill_value):
    # The output is linear in the image: its transpose scatters each cotangent back onto the
    # taps it was sampled from. Transforms get no gradient (as TensorFlow's kernel).
    return (_affine_grad.bind(g, transforms, height=int(images.shape[1]),
                              width=int(images.shape[2]), interpolation=interpolation,
                              fill_mode=fill_mode), None)


def _affine_grad_vjp(g, cotangent, transforms, out, height, width, interpolation, fill_mode):
    # The transpose of the transpose is the forward sampling, with nothing filled in.
    return (_affine.bind(g, transforms, interpolation=interpolation, fill_mode=fill_mode,
                         fill_value=0.0), None)


def _affine_rule(images, transforms, **attrs):
    return aval(images.shape, images.dtype)


def _affine_grad_rule(g, transforms, height, width, **attrs):
    shape = g.shape
    return aval((shape[0], height, width, shape[3]), g.dtype)


# image_affine_transform: TensorFlow's ImageProjectiveTransformV3 (output pixel (x, y) samples
# the input at ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1) with its
# fill modes; the VJP is the transposed sampling (image_affine_transform_grad).
_affine = Primitive("image_affine_transform", vjp=_affine_vjp, shape_rule=_affine_rule)
# image_affine_transform_grad: scatter-adds cotangents onto the sampled taps.
_affine_grad = Primitive("image_affine_transform_grad", vjp=_affine_grad_vjp,
                         shape_rule=_affine_grad_rule)


def affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant",
                     fill_value=0.0, name=None):
    """Samples [batch, height, width, channels] images through 8-parameter projective
    transforms [a0, a1, a2, b0, b1, b2, c0, c1] (one per image, or one for all), as
    keras.ops.image.affine_transform on TensorFlow (ImageProjectiveTransformV3).

    fill_mode: "constant" (fill_value outside), "reflect" (d c b a | a b c d | d c b a),
    "wrap" or "nearest". interpolation: "bilinear" or "nearest".

    >>> import tensorflux as tf
    >>> from tensorflux.ops.image import affine_transform
    >>> image = tf.reshape(tf.range(4.0), (1, 1, 4, 1))
    >>> shift = [1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    >>> affine_transform(image, shift)[0, 0, :, 0].numpy().tolist()
    [0.0, 0.0, 1.0, 2.0]
    """
    images = as_operand("affine_transform", images)
    if images.shape.rank not in (3, 4):
        raise errors.InvalidArgumentError(
            "affine_transform: expected images of rank 3 or 4, received shape "
            f"{tuple(images.shape)}", "affine_transform")
    if interpolation not in ("bilinear", "nearest"):
        raise errors.InvalidArgumentError(
            "affine_transform: interpolation must be 'bilinear' or 'nearest', received "
            f"{interpolation!r}", "affine_transform")
    if fill_mode not in _FILL_MODES:
        raise errors.InvalidArgumentError(
            f"affine_transform: fill_mode must be one of {_FILL_MODES}, received "
            f"{fill_mode!r}", "affine_transform")
    unbatched = images.shape.rank == 3
    if unbatched:
        images = array.expand_dims(images, 0)
    if not images.dtype.is_floating:
        raise errors.InvalidArgumentError(
            "affine_transform: the images must be floating point, received "
            f"{images.dtype.name} with shape {tuple(images.shape)}", "affine_transform")
    transforms = as_operand("affine_transform", transforms)
    if transforms.dtype is not images.dtype:
        transforms = tmath.cast(transforms, images.dtype)
    if transforms.shape.rank == 1:
        transforms = array.expand_dims(transforms, 0)
    if transforms.shape.rank != 2 or transforms.shape[1] != 8:
        raise errors.InvalidArgumentError(
            "affine_transform: transforms must have shape [8] or [batch, 8], received "
            f"{tuple(transforms.shape)}", "affine_transform")
    batch, count = images.shape[0], transforms.shape[0]
    if count != 1 and batch is not None and count is not None and count != batch:
        raise errors.InvalidArgumentError(
            f"affine_transform: {count} transforms for a batch of {batch} images "
            f"(images shape {tuple(images.shape)})", "affine_transform")
    out = _affine.bind(images, transforms, interpolation=interpolation, fill_mode=fill_mode,
                       fill_value=float(fill_value))
    return array.squeeze(out, 0) if unbatched else out


# ------------------------------------------------------------------ geometry
# Compositions of reverse, transpose, slicing and pad: gradients come from those ops.

def _images(op, image, ranks=(3, 4)):
    """image as a tensor of rank 3 ([h, w, c]) or 4 ([batch, h, w, c]), or an error."""
    image = as_operand(op, image)
    if image.shape.rank not in ranks:
        raise errors.InvalidArgumentError(
            f"{op}: expected an image of rank 3 [height, width, channels] or a batch of rank 4 "
            f"[batch, height, width, channels], received shape {tuple(image.shape)}", op)
    return image


def flip_left_right(image):
    """Reverses the width axis of an image [h, w, c] or a batch [b, h, w, c].

    >>> import tensorflux as tf
    >>> tf.image.flip_left_right([[[1], [2], [3]]])[..., 0].numpy().tolist()
    [[3, 2, 1]]
    """
    image = _images("flip_left_right", image)
    return indexing.reverse(image, [image.shape.rank - 2])


def flip_up_down(image):
    """Reverses the height axis of an image [h, w, c] or a batch [b, h, w, c].

    >>> import tensorflux as tf
    >>> tf.image.flip_up_down([[[1]], [[2]]])[..., 0].numpy().tolist()
    [[2], [1]]
    """
    image = _images("flip_up_down", image)
    return indexing.reverse(image, [image.shape.rank - 3])


def _seeded(seed):
    """draw(shape): uniforms in [0, 1) from tf.random's stateful stream under `seed`."""
    return lambda shape: trandom.uniform(shape, 0, 1.0, seed=seed)


def _stateless(seed):
    """draw(shape): uniforms in [0, 1) determined by the stateless `seed` alone."""
    return lambda shape: trandom.stateless_uniform(shape, seed, 0, 1.0)


def _random_flip(op, image, axis, draw):
    image = _images(op, image)
    flipped = indexing.reverse(image, [image.shape.rank + axis])
    if image.shape.rank == 3:
        return tmath.where(tmath.less(draw([]), 0.5), flipped, image)
    # One coin per image of the batch, as TensorFlow.
    batch = array.shape(image)[0] if image.shape[0] is None else image.shape[0]
    coins = draw([batch])
    return tmath.where(array.reshape(tmath.less(coins, 0.5), [-1, 1, 1, 1]), flipped, image)


def random_flip_left_right(image, seed=None):
    """Flips each image left to right with probability 1/2 (one draw per image of a batch).
    Seeded draws follow tf.random's seed rules with tensorflux's own generator, not
    TensorFlow's numbers.

    >>> import tensorflux as tf
    >>> out = tf.image.random_flip_left_right([[[1], [2]]], seed=3)[0, :, 0].numpy().tolist()
    >>> out in ([1, 2], [2, 1])
    True
    """
    return _random_flip("random_flip_left_right", image, -2, _seeded(seed))


def stateless_random_flip_left_right(image, seed):
    """random_flip_left_right determined by `seed` (shape [2]) alone.

    >>> import tensorflux as tf
    >>> image = tf.reshape(tf.range(6), (1, 3, 2, 1))
    >>> a = tf.image.stateless_random_flip_left_right(image, [1, 2])
    >>> bool(tf.reduce_all(a == tf.image.stateless_random_flip_left_right(image, [1, 2])))
    True
    """
    return _random_flip("stateless_random_flip_left_right", image, -2, _stateless(seed))


def random_flip_up_down(image, seed=None):
    """Flips each image upside down with probability 1/2 (one draw per image of a batch);
    tensorflux's own generator, not TensorFlow's numbers.

    >>> import tensorflux as tf
    >>> out = tf.image.random_flip_up_down([[[1]], [[2]]], seed=3)[:, 0, 0].numpy().tolist()
    >>> out in ([1, 2], [2, 1])
    True
    """
    return _random_flip("random_flip_up_down", image, -3, _seeded(seed))


def stateless_random_flip_up_down(image, seed):
    """random_flip_up_down determined by `seed` (shape [2]) alone.

    >>> import tensorflux as tf
    >>> image = tf.reshape(tf.range(6), (3, 2, 1))
    >>> a = tf.image.stateless_random_flip_up_down(image, [1, 2])
    >>> bool(tf.reduce_all(a == tf.image.stateless_random_flip_up_down(image, [1, 2])))
    True
    """
    return _random_flip("stateless_random_flip_up_down", image, -3, _stateless(seed))


def _swap_hw(image):
    rank = image.shape.rank
    perm = list(range(rank))
    perm[rank - 3], perm[rank - 2] = perm[rank - 2], perm[rank - 3]
    return linalg.transpose(image, perm)


def transpose(image, name=None):
    """Swaps the height and width axes of an image or a batch of images.

    >>> import tensorflux as tf
    >>> tf.image.transpose([[[1], [2]]])[..., 0].numpy().tolist()
    [[1], [2]]
    """
    return _swap_hw(_images("transpose", image))


def rot90(image, k=1, name=None):
    """Rotates images counter-clockwise by k * 90 degrees.

    >>> import tensorflux as tf
    >>> tf.image.rot90([[[1], [2]], [[3], [4]]])[..., 0].numpy().tolist()
    [[2, 4], [1, 3]]
    """
    image = _images("rot90", image)
    try:
        k = int(k) % 4
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"rot90: k must be an int, received {k!r}",
                                          "rot90") from error
    rank = image.shape.rank
    h_axis, w_axis = rank - 3, rank - 2
    if k == 0:
        return image
    if k == 1:
        return _swap_hw(indexing.reverse(image, [w_axis]))
    if k == 2:
        return indexing.reverse(image, [h_axis, w_axis])
    return indexing.reverse(_swap_hw(image), [w_axis])


def _int_arg(op, value, what):
    if isinstance(value, _TensorLike):
        from tensorflux.ops._static import host

        value = host(op, value, what)
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: {what} must be an int, received {value!r}",
                                          op) from error


def _hw(op, image):
    rank = image.shape.rank
    height, width = image.shape[rank - 3], image.shape[rank - 2]
    if height is None or width is None:
        raise errors.InvalidArgumentError(
            f"{op}: the image height and width must be known, received shape "
            f"{tuple(image.shape)}", op)
    return height, width


def crop_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """The [target_height, target_width] window of each image whose top-left corner is at
    (offset_height, offset_width).

    >>> import tensorflux as tf
    >>> image = tf.reshape(tf.range(9), (3, 3, 1))
    >>> tf.image.crop_to_bounding_box(image, 1, 1, 2, 2)[..., 0].numpy().tolist()
    [[4, 5], [7, 8]]
    """
    op = "crop_to_bounding_box"
    image = _images(op, image)
    top, left = _int_arg(op, offset_height, "offset_height"), _int_arg(op, offset_width,
                                                                       "offset_width")
    rows, cols = _int_arg(op, target_height, "target_height"), _int_arg(op, target_width,
                                                                        "target_width")
    height, width = _hw(op, image)
    if top < 0 or left < 0:
        raise errors.InvalidArgumentError(
            f"{op}: offsets must be >= 0, received ({top}, {left})", op)
    if rows <= 0 or cols <= 0:
        raise errors.InvalidArgumentError(
            f"{op}: target size must be > 0, received ({rows}, {cols})", op)
    if top + rows > height or left + cols > width:
        raise errors.InvalidArgumentError(
            f"{op}: the box at ({top}, {left}) of size ({rows}, {cols}) does not fit an image "
            f"of height {height} and width {width}", op)
    return image[..., top:top + rows, left:left + cols, :]


def pad_to_bounding_box(image, offset_height, offset_width, target_height, target_width):
    """Pads each image with zeros to [target_height, target_width], placing it with its
    top-left corner at (offset_height, offset_width).

    >>> import tensorflux as tf
    >>> tf.image.pad_to_bounding_box([[[1]]], 1, 0, 2, 2)[..., 0].numpy().tolist()
    [[0, 0], [1, 0]]
    """
    op = "pad_to_bounding_box"
    image = _images(op, image)
    top, left = _int_arg(op, offset_height, "offset_height"), _int_arg(op, offset_width,
                                                                       "offset_width")
    rows, cols = _int_arg(op, target_height, "target_height"), _int_arg(op, target_width,
                                                                        "target_width")
    height, width = _hw(op, image)
    bottom, right = rows - top - height, cols - left - width
    if top < 0 or left < 0:
        raise errors.InvalidArgumentError(
            f"{op}: offsets must be >= 0, received ({top}, {left})", op)
    if bottom < 0 or right < 0:
        raise errors.InvalidArgumentError(
            f"{op}: an image of height {height} and width {width} at ({top}, {left}) does not "
            f"fit the target size ({rows}, {cols})", op)
    paddings = [[0, 0]] * (image.shape.rank - 3) + [[top, bottom], [left, right], [0, 0]]
    return array.pad(image, paddings)


def central_crop(image, central_fraction):
    """The central `central_fraction` (in (0, 1]) of each image along height and width; the
    margin is int((size - size * fraction) / 2) on each side, as TensorFlow.

    >>> import tensorflux as tf
    >>> image = tf.reshape(tf.range(16), (4, 4, 1))
    >>> tf.image.central_crop(image, 0.5)[..., 0].numpy().tolist()
    [[5, 6], [9, 10]]
    """
    op = "central_crop"
    image = _images(op, image)
    fraction = float(central_fraction)
    if not 0.0 < fraction <= 1.0:
        raise errors.InvalidArgumentError(
            f"{op}: central_fraction must be in (0, 1], received {central_fraction!r}", op)
    if fraction == 1.0:
        return image
    height, width = _hw(op, image)
    top = int((height - height * fraction) / 2)
    left = int((width - width * fraction) / 2)
    return image[..., top:height - top, left:width - left, :]


def resize_with_crop_or_pad(image, target_height, target_width):
    """Crops (centrally) or zero-pads (evenly) each image to [target_height, target_width].

    >>> import tensorflux as tf
    >>> image = tf.reshape(tf.range(1, 5), (2, 2, 1))
    >>> tf.image.resize_with_crop_or_pad(image, 1, 4)[..., 0].numpy().tolist()
    [[0, 1, 2, 0]]
    """
    op = "resize_with_crop_or_pad"
    image = _images(op, image)
    rows, cols = _int_arg(op, target_height, "target_height"), _int_arg(op, target_width,
                                                                        "target_width")
    if rows <= 0 or cols <= 0:
        raise errors.InvalidArgumentError(
            f"{op}: target size must be > 0, received ({rows}, {cols})", op)
    height, width = _hw(op, image)
    dh, dw = rows - height, cols - width
    cropped = crop_to_bounding_box(image, max(-dh // 2, 0), max(-dw // 2, 0),
                                   min(rows, height), min(cols, width))
    return pad_to_bounding_box(cropped, max(dh // 2, 0), max(dw // 2, 0), rows, cols)


def _f32(value):
    """value rounded to float32: one float32 operation on float32 operands, done in float64
    (exactly, for + - * / of such operands) and rounded once."""
    return _struct.unpack("f", _struct.pack("f", value))[0]


def resize_with_pad(image, target_height, target_width, method="bilinear", antialias=False):
    """Resizes images to fit [target_height, target_width] keeping their aspect ratio, then
    zero-pads them evenly to that size; the sizes are computed in float32 as TensorFlow.

    >>> import tensorflux as tf
    >>> image = tf.ones([2, 4, 1])
    >>> tf.image.resize_with_pad(image, 4, 4)[..., 0].numpy().tolist()
    [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    """
    op = "resize_with_pad"
    image = _images(op, image)
    rows, cols = _int_arg(op, target_height, "target_height"), _int_arg(op, target_width,
                                                                        "target_width")
    if rows <= 0 or cols <= 0:
        raise errors.InvalidArgumentError(
            f"{op}: target size must be > 0, received ({rows}, {cols})", op)
    height, width = _hw(op, image)
    ratio = max(_f32(width / _f32(cols)), _f32(height / _f32(rows)))
    new_h, new_w = _f32(height / ratio), _f32(width / ratio)
    top = max(0, _pymath.floor(_f32(_f32(rows - new_h) / 2)))
    left = max(0, _pymath.floor(_f32(_f32(cols - new_w) / 2)))
    resized = resize(image, (_pymath.floor(new_h), _pymath.floor(new_w)), method=method,
                     antialias=antialias)
    return pad_to_bounding_box(resized, top, left, rows, cols)


def random_crop(value, size, seed=None, name=None):
    """A window of shape `size` at a uniformly random offset of `value` (any rank); uses
    tensorflux's own generator with tf.random's seed rules, not TensorFlow's numbers.

    >>> import tensorflux as tf
    >>> tf.image.random_crop(tf.zeros([5, 5, 3]), [2, 3, 3], seed=1).shape
    TensorShape([2, 3, 3])
    """
    return _random_window("random_crop", value, size, lambda shape: trandom.uniform(
        shape, 0, dtypes.int32.max, dtype=dtypes.int32, seed=seed))


def stateless_random_crop(value, size, seed, name=None):
    """random_crop determined by `seed` (shape [2]) alone.

    >>> import tensorflux as tf
    >>> value = tf.reshape(tf.range(25), (5, 5))
    >>> a = tf.image.stateless_random_crop(value, [2, 3], seed=[4, 2])
    >>> bool(tf.reduce_all(a == tf.image.stateless_random_crop(value, [2, 3], seed=[4, 2])))
    True
    """
    return _random_window("stateless_random_crop", value, size, lambda shape: (
        trandom.stateless_uniform(shape, seed, 0, dtypes.int32.max, dtype=dtypes.int32)))


def _random_window(op, value, size, draw):
    """The window of shape `size` of `value` at the offsets draw([rank]) (int32 in [0,
    int32 max)) modulo the number of positions along each axis, as TensorFlow."""
    value = as_operand(op, value)
    try:
        size = [int(s) for s in (size.numpy().tolist() if isinstance(size, _TensorLike)
                                 else size)]
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: size must be a list of ints, received "
                                          f"{size!r}", op) from error
    shape = list(value.shape)
    if len(size) != len(shape):
        raise errors.InvalidArgumentError(
            f"{op}: size {size} must have one entry per dimension of the value's shape "
            f"{tuple(shape)}", op)
    if any(d is None for d in shape) or any(s < 0 or s > d for s, d in zip(size, shape)):
        raise errors.InvalidArgumentError(
            f"{op}: need 0 <= size <= shape, received size {size} for shape {tuple(shape)}", op)
    limits = convert_to_tensor([d - s + 1 for d, s in zip(shape, size)], dtype=dtypes.int32)
    return indexing.slice(value, tmath.floormod(draw([len(size)]), limits), size)


# ------------------------------------------------------------------ dtypes and colour

def _image_dtype(op, dtype):
    dtype = dtypes.as_dtype(dtype)
    if not (dtype.is_floating or dtype.is_integer):
        raise errors.InvalidArgumentError(
            f"{op}: image dtypes must be integer or floating point, received {dtype.name}", op)
    return dtype


def convert_image_dtype(image, dtype, saturate=False, name=None):
    """Converts an image to `dtype`, rescaling values, as TensorFlow: floats span [0, 1) and
    integers [0, MAX]; integer-to-integer conversions shift by the bit-width difference,
    float to int multiplies by MAX + 0.5 and truncates (saturate=True clamps first).

    >>> import tensorflux as tf
    >>> tf.image.convert_image_dtype(tf.constant([255, 0], tf.uint8), tf.float32).numpy().tolist()
    [1.0, 0.0]
    >>> tf.image.convert_image_dtype([1.0, 0.5], tf.uint8).numpy().tolist()
    [255, 127]
    """
    op = "convert_image_dtype"
    image = as_operand(op, image)
    dtype = _image_dtype(op, dtype)
    _image_dtype(op, image.dtype)
    if image.dtype is dtype:
        return array.identity(image)
    cast = tmath.saturate_cast if saturate else tmath.cast
    source = image.dtype
    if source.is_integer and dtype.is_integer:
        scale_in, scale_out = source.max, dtype.max
        if scale_in > scale_out:
            scale = (scale_in + 1) // (scale_out + 1)
            return cast(tmath.floordiv(image, as_operand(op, scale, source)), dtype)
        scale = (scale_out + 1) // (scale_in + 1)
        return tmath.multiply(cast(image, dtype), as_operand(op, scale, dtype))
    if source.is_floating and dtype.is_floating:
        return tmath.cast(image, dtype)
    if source.is_integer:
        return tmath.multiply(tmath.cast(image, dtype), as_operand(op, 1.0 / source.max, dtype))
    scaled = tmath.multiply(image, as_operand(op, dtype.max + 0.5, source))
    return cast(scaled, dtype)


def _as_float(op, image):
    """(the image in float, its original dtype): integers through convert_image_dtype."""
    image = as_operand(op, image)
    original = _image_dtype(op, image.dtype)
    if original.is_floating:
        return image, original
    return convert_image_dtype(image, dtypes.float32), original


def _restore(image, original):
    if image.dtype is original:
        return image
    return convert_image_dtype(image, original, saturate=True)


def _rgb_images(op, images, floats_only=True):
    images = as_operand(op, images)
    if images.shape.rank is None or images.shape.rank < 1 or images.shape[-1] != 3:
        raise errors.InvalidArgumentError(
            f"{op}: expected images with a last dimension of 3 (RGB), received shape "
            f"{tuple(images.shape)}", op)
    if floats_only and not images.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: expected float images, received {images.dtype.name}", op)
    return images


_GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def rgb_to_grayscale(images, name=None):
    """Luma Y = 0.2989 R + 0.5870 G + 0.1140 B of [..., 3] images, keeping a last axis of 1
    and the input dtype (integers are converted through float32 and back).

    >>> import tensorflux as tf
    >>> round(float(tf.image.rgb_to_grayscale([[[1.0, 1.0, 1.0]]])[0, 0, 0]), 4)
    0.9999
    """
    op = "rgb_to_grayscale"
    flt, original = _as_float(op, _rgb_images(op, images, floats_only=False))
    weights = convert_to_tensor(list(_GRAY_WEIGHTS), dtype=flt.dtype)
    gray = reduction.reduce_sum(flt * weights, axis=-1, keepdims=True)
    return convert_image_dtype(gray, original) if original is not flt.dtype else gray


def grayscale_to_rgb(images, name=None):
    """Repeats the single channel of [..., 1] images three times.

    >>> import tensorflux as tf
    >>> tf.image.grayscale_to_rgb([[[0.5]]]).numpy().tolist()
    [[[0.5, 0.5, 0.5]]]
    """
    op = "grayscale_to_rgb"
    images = as_operand(op, images)
    if images.shape.rank is None or images.shape.rank < 2 or images.shape[-1] != 1:
        raise errors.InvalidArgumentError(
            f"{op}: expected images of rank >= 2 with a last dimension of 1, received shape "
            f"{tuple(images.shape)}", op)
    return array.tile(images, [1] * (images.shape.rank - 1) + [3])


def per_image_standardization(image):
    """(x - mean) / max(stddev, 1 / sqrt(N)) over each image's N = h * w * c values;
    integer images become float32.

    >>> import tensorflux as tf
    >>> tf.image.per_image_standardization([[[1.0], [3.0]]])[..., 0].numpy().tolist()
    [[-1.0, 1.0]]
    """
    op = "per_image_standardization"
    image = as_operand(op, image)
    if image.shape.rank is None or image.shape.rank < 3:
        raise errors.InvalidArgumentError(
            f"{op}: expected an image of rank >= 3, received shape {tuple(image.shape)}", op)
    if not image.dtype.is_floating:
        image = tmath.cast(image, dtypes.float32)
    dims = list(image.shape)[-3:]
    if None in dims:
        raise errors.InvalidArgumentError(
            f"{op}: the image dimensions must be known, received shape {tuple(image.shape)}", op)
    pixels = dims[0] * dims[1] * dims[2]
    axes = [-3, -2, -1]
    mean = reduction.reduce_mean(image, axis=axes, keepdims=True)
    stddev = reduction.reduce_std(image, axis=axes, keepdims=True)
    floor = as_operand(op, 1.0 / _pymath.sqrt(max(pixels, 1)), image.dtype)
    return tmath.divide(image - mean, tmath.maximum(stddev, floor))


def adjust_brightness(image, delta):
    """Adds `delta` to every value (integer images are shifted in float and saturated back).

    >>> import tensorflux as tf
    >>> tf.image.adjust_brightness([[[0.5]]], 0.25)[..., 0].numpy().tolist()
    [[0.75]]
    """
    flt, original = _as_float("adjust_brightness", image)
    shifted = flt + as_operand("adjust_brightness", delta, flt.dtype)
    return _restore(shifted, original)


def adjust_contrast(images, contrast_factor):
    """(x - mean) * contrast_factor + mean, the mean per channel over each image's height
    and width.

    >>> import tensorflux as tf
    >>> tf.image.adjust_contrast([[[1.0], [3.0]]], 2.0)[..., 0].numpy().tolist()
    [[0.0, 4.0]]
    """
    op = "adjust_contrast"
    flt, original = _as_float(op, images)
    if flt.shape.rank is None or flt.shape.rank < 3:
        raise errors.InvalidArgumentError(
            f"{op}: expected images of rank >= 3, received shape {tuple(flt.shape)}", op)
    mean = reduction.reduce_mean(flt, axis=[-3, -2], keepdims=True)
    factor = as_operand(op, contrast_factor, flt.dtype)
    return _restore((flt - mean) * factor + mean, original)


def adjust_gamma(image, gamma=1, gain=1):
    """gain * x ** gamma on images scaled to [0, 1] (integer images converted and back).

    >>> import tensorflux as tf
    >>> tf.image.adjust_gamma([[[0.25]]], gamma=0.5)[..., 0].numpy().tolist()
    [[0.5]]
    """
    op = "adjust_gamma"
    flt, original = _as_float(op, image)
    gamma_t = as_operand(op, gamma, flt.dtype)
    if gamma_t._value is not None and float(gamma_t.numpy().min()) < 0:
        raise errors.InvalidArgumentError(f"{op}: gamma must be >= 0, received {gamma!r}", op)
    adjusted = as_operand(op, gain, flt.dtype) * tmath.pow(flt, gamma_t)
    return _restore(adjusted, original)


def random_brightness(image, max_delta, seed=None):
    """adjust_brightness by a delta uniform in [-max_delta, max_delta); tensorflux's own
    generator with tf.random's seed rules, not TensorFlow's numbers.

    >>> import tensorflux as tf
    >>> out = tf.image.random_brightness([[[0.5]]], 0.1, seed=2)
    >>> bool(0.4 <= float(out[0, 0, 0]) <= 0.6)
    True
    """
    if max_delta < 0:
        raise ValueError(f"random_brightness: max_delta must be non-negative, received "
                         f"{max_delta!r}")
    delta = trandom.uniform([], -max_delta, max_delta, seed=seed)
    return adjust_brightness(image, delta)


def stateless_random_brightness(image, max_delta, seed):
    """random_brightness with the delta determined by `seed` (shape [2]) alone.

    >>> import tensorflux as tf
    >>> a = tf.image.stateless_random_brightness([[[0.5]]], 0.1, seed=[1, 2])
    >>> bool(a == tf.image.stateless_random_brightness([[[0.5]]], 0.1, seed=[1, 2]))
    True
    """
    if max_delta < 0:
        raise ValueError(f"stateless_random_brightness: max_delta must be non-negative, "
                         f"received {max_delta!r}")
    return adjust_brightness(image, trandom.stateless_uniform([], seed, -max_delta, max_delta))


def random_contrast(image, lower, upper, seed=None):
    """adjust_contrast by a factor uniform in [lower, upper); tensorflux's own generator.

    >>> import tensorflux as tf
    >>> tf.image.random_contrast([[[1.0], [3.0]]], 0.5, 1.5, seed=2).shape
    TensorShape([1, 2, 1])
    """
    _factor_range("random_contrast", lower, upper)
    factor = trandom.uniform([], lower, upper, seed=seed)
    return adjust_contrast(image, factor)


def _factor_range(op, lower, upper):
    if upper <= lower:
        raise ValueError(f"{op}: upper must be > lower, received lower={lower!r} and "
                         f"upper={upper!r}")
    if lower < 0:
        raise ValueError(f"{op}: lower must be non-negative, received {lower!r}")


def stateless_random_contrast(image, lower, upper, seed):
    """random_contrast with the factor determined by `seed` (shape [2]) alone.

    >>> import tensorflux as tf
    >>> tf.image.stateless_random_contrast([[[1.0], [3.0]]], 0.5, 1.5, seed=[1, 2]).shape
    TensorShape([1, 2, 1])
    """
    _factor_range("stateless_random_contrast", lower, upper)
    return adjust_contrast(image, trandom.stateless_uniform([], seed, lower, upper))


# ------------------------------------------------------------------ HSV

def _hue(red, green, blue, value, spread):
    """The hue in [0, 1) of RGB planes given their largest channel and spread (TensorFlow's
    formula): the sixth of the colour circle named by the largest channel plus the others'
    difference over 6 * spread; 0 for grays."""
    ones, zeros = array.ones_like(value), array.zeros_like(value)
    norm = 1.0 / (6.0 * tmath.where(spread > 0, spread, ones))
    hue = tmath.where(value == green, norm * (blue - red) + 2.0 / 6.0,
                      norm * (red - green) + 4.0 / 6.0)
    hue = tmath.where(value == red, norm * (green - blue), hue)
    hue = tmath.where(spread > 0, hue, zeros)
    return hue + tmath.cast(hue < 0, hue.dtype)


def _hue_weights(hue):
    """The (red, green, blue) weights in [0, 1] of a fully saturated colour of hue in [0, 1]:
    piecewise linear in the sixths of the colour circle."""
    sixths = hue * 6.0
    return (tmath.clip_by_value(tmath.abs(sixths - 3.0) - 1.0, 0.0, 1.0),
            tmath.clip_by_value(2.0 - tmath.abs(sixths - 2.0), 0.0, 1.0),
            tmath.clip_by_value(2.0 - tmath.abs(sixths - 4.0), 0.0, 1.0))


def _hsv_planes(red, green, blue):
    """(hue, saturation, value) planes of RGB planes: value the largest channel, saturation
    the channels' spread over value (0 where value <= 0), hue as _hue."""
    value = tmath.maximum(tmath.maximum(red, green), blue)
    spread = value - tmath.minimum(tmath.minimum(red, green), blue)
    positive = value > 0
    saturation = tmath.where(positive, spread / tmath.where(positive, value, array.ones_like(
        value)), array.zeros_like(value))
    return _hue(red, green, blue, value, spread), saturation, value


def _rgb_planes(hue, saturation, value):
    """The RGB planes of (hue, saturation, value) planes, the inverse of _hsv_planes for hue
    in [0, 1]: value * (1 - saturation + saturation * weight) per channel."""
    grey = 1.0 - saturation
    return tuple(value * (grey + saturation * weight) for weight in _hue_weights(hue))


def rgb_to_hsv(images, name=None):
    """RGB images [..., 3] to (hue, saturation, value), each in [0, 1] for RGB in [0, 1].

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.image.rgb_to_hsv([[0.0, 0.5, 1.0]])[0].numpy().tolist()]
    [0.5833, 1.0, 1.0]
    """
    images = _rgb_images("rgb_to_hsv", images)
    return array.stack(_hsv_planes(*array.unstack(images, axis=-1)), axis=-1)


def hsv_to_rgb(images, name=None):
    """(hue, saturation, value) images [..., 3] in [0, 1] to RGB, the inverse of rgb_to_hsv.

    >>> import tensorflux as tf
    >>> tf.image.hsv_to_rgb([[0.5, 1.0, 1.0]]).numpy().tolist()
    [[0.0, 1.0, 1.0]]
    """
    images = _rgb_images("hsv_to_rgb", images)
    return array.stack(_rgb_planes(*array.unstack(images, axis=-1)), axis=-1)


# ------------------------------------------------------------------ YIQ and YUV
# TensorFlow's conversion matrices, applied as pixel [r, g, b] @ matrix: columns give Y, I, Q
# (or Y, U, V); the inverses are theirs too, not recomputed, so round trips match its own.

_RGB_TO_YIQ = ((0.299, 0.59590059, 0.2115), (0.587, -0.27455667, -0.52273617),
               (0.114, -0.32134392, 0.31119955))
_YIQ_TO_RGB = ((1.0, 1.0, 1.0), (0.95598634, -0.27201283, -1.10674021),
               (0.6208248, -0.64720424, 1.70423049))
_RGB_TO_YUV = ((0.299, -0.14714119, 0.61497538), (0.587, -0.28886916, -0.51496512),
               (0.114, 0.43601035, -0.10001026))
_YUV_TO_RGB = ((1.0, 1.0, 1.0), (0.0, -0.394642334, 2.03206185),
               (1.13988303, -0.58062185, 0.0))


def _colour_matrix(op, images, matrix):
    images = _rgb_images(op, images)
    return linalg.tensordot(images, convert_to_tensor(matrix, dtype=images.dtype),
                            [[images.shape.rank - 1], [0]])


def rgb_to_yiq(images):
    """RGB images [..., 3] (float) to YIQ: luma Y in [0, 1], chroma I in [-0.5957, 0.5957]
    and Q in [-0.5226, 0.5226] for RGB in [0, 1].

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.image.rgb_to_yiq([[1.0, 0.0, 0.0]])[0].numpy().tolist()]
    [0.299, 0.5959, 0.2115]
    """
    return _colour_matrix("rgb_to_yiq", images, _RGB_TO_YIQ)


def yiq_to_rgb(images):
    """YIQ images [..., 3] back to RGB, the inverse of rgb_to_yiq.

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.image.yiq_to_rgb([[0.5, 0.0, 0.0]])[0].numpy().tolist()]
    [0.5, 0.5, 0.5]
    """
    return _colour_matrix("yiq_to_rgb", images, _YIQ_TO_RGB)


def rgb_to_yuv(images):
    """RGB images [..., 3] (float) to YUV: luma Y in [0, 1], chroma U in [-0.436, 0.436]
    and V in [-0.615, 0.615] for RGB in [0, 1].

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.image.rgb_to_yuv([[0.0, 0.0, 1.0]])[0].numpy().tolist()]
    [0.114, 0.436, -0.1]
    """
    return _colour_matrix("rgb_to_yuv", images, _RGB_TO_YUV)


def yuv_to_rgb(images):
    """YUV images [..., 3] back to RGB, the inverse of rgb_to_yuv.

    >>> import tensorflux as tf
    >>> [round(v, 4) for v in tf.image.yuv_to_rgb([[0.5, 0.0, 0.0]])[0].numpy().tolist()]
    [0.5, 0.5, 0.5]
    """
    return _colour_matrix("yuv_to_rgb", images, _YUV_TO_RGB)


def _colour_float32(op, image):
    """(RGB images in float32, their dtype): TensorFlow's hue and saturation kernels compute
    in float32, float16 widened and other dtypes through convert_image_dtype."""
    image = _rgb_images(op, image, floats_only=False)
    original = _image_dtype(op, image.dtype)
    if original is dtypes.float16:
        return tmath.cast(image, dtypes.float32), original
    return convert_image_dtype(image, dtypes.float32), original


def _from_float32(image, original):
    if original is dtypes.float16:
        return tmath.cast(image, original)
    return convert_image_dtype(image, original)


def adjust_hue(image, delta, name=None):
    """Turns the hue of RGB images [..., 3] by `delta` (in [-1, 1]) of the colour circle,
    keeping each pixel's largest and smallest channel: works for any value range.

    >>> import tensorflux as tf
    >>> tf.image.adjust_hue([[1.0, 0.0, 0.0]], 1 / 3).numpy().round(5).tolist()
    [[0.0, 1.0, 0.0]]
    """
    op = "adjust_hue"
    if not isinstance(delta, _TensorLike) and not -1 <= delta <= 1:
        raise errors.InvalidArgumentError(f"{op}: delta must be in [-1, 1], received {delta!r}",
                                          op)
    flt, original = _colour_float32(op, image)
    red, green, blue = array.unstack(flt, axis=-1)
    top = tmath.maximum(tmath.maximum(red, green), blue)
    bottom = tmath.minimum(tmath.minimum(red, green), blue)
    spread = top - bottom
    hue = _hue(red, green, blue, top, spread) + as_operand(op, delta, dtypes.float32)
    hue = hue - tmath.floor(hue)
    turned = array.stack([bottom + spread * weight for weight in _hue_weights(hue)], axis=-1)
    return _from_float32(turned, original)


def adjust_saturation(image, saturation_factor, name=None):
    """Multiplies the HSV saturation of RGB images [..., 3] by saturation_factor, clipped to
    [0, 1].

    >>> import tensorflux as tf
    >>> gray = tf.image.adjust_saturation([[0.2, 0.4, 0.8]], 0.0)
    >>> [round(v, 5) for v in gray[0].numpy().tolist()]
    [0.8, 0.8, 0.8]
    """
    op = "adjust_saturation"
    flt, original = _colour_float32(op, image)
    hue, saturation, value = _hsv_planes(*array.unstack(flt, axis=-1))
    factor = as_operand(op, saturation_factor, dtypes.float32)
    saturation = tmath.clip_by_value(saturation * factor, 0.0, 1.0)
    return _from_float32(array.stack(_rgb_planes(hue, saturation, value), axis=-1), original)


def random_hue(image, max_delta, seed=None):
    """adjust_hue by a delta uniform in [-max_delta, max_delta) (max_delta in [0, 0.5]);
    tensorflux's own generator.

    >>> import tensorflux as tf
    >>> tf.image.random_hue([[[0.5, 0.5, 0.5]]], 0.2, seed=2).numpy().tolist()
    [[[0.5, 0.5, 0.5]]]
    """
    if not 0 <= max_delta <= 0.5:
        raise ValueError(f"random_hue: max_delta must be in [0, 0.5], received {max_delta!r}")
    return adjust_hue(image, trandom.uniform([], -max_delta, max_delta, seed=seed))


def stateless_random_hue(image, max_delta, seed):
    """random_hue with the delta determined by `seed` (shape [2]) alone.

    >>> import tensorflux as tf
    >>> tf.image.stateless_random_hue([[[0.5, 0.5, 0.5]]], 0.2, seed=[1, 2]).numpy().tolist()
    [[[0.5, 0.5, 0.5]]]
    """
    if not 0 <= max_delta <= 0.5:
        raise ValueError(f"stateless_random_hue: max_delta must be in [0, 0.5], received "
                         f"{max_delta!r}")
    return adjust_hue(image, trandom.stateless_uniform([], seed, -max_delta, max_delta))


def random_saturation(image, lower, upper, seed=None):
    """adjust_saturation by a factor uniform in [lower, upper); tensorflux's own generator.

    >>> import tensorflux as tf
    >>> tf.image.random_saturation([[[0.5, 0.5, 0.5]]], 0.5, 1.5, seed=2).numpy().tolist()
    [[[0.5, 0.5, 0.5]]]
    """
    _factor_range("random_saturation", lower, upper)
    return adjust_saturation(image, trandom.uniform([], lower, upper, seed=seed))


def stateless_random_saturation(image, lower, upper, seed=None):
    """random_saturation with the factor determined by `seed` (shape [2]) alone.

    >>> import tensorflux as tf
    >>> gray = [[[0.5, 0.5, 0.5]]]
    >>> tf.image.stateless_random_saturation(gray, 0.5, 1.5, seed=[1, 2]).numpy().tolist()
    [[[0.5, 0.5, 0.5]]]
    """
    _factor_range("stateless_random_saturation", lower, upper)
    return adjust_saturation(image, trandom.stateless_uniform([], seed, lower, upper))


def _no_jpeg(op):
    raise errors.UnimplementedError(
        f"{op}: tensorflux has no JPEG encoder (tf.io.encode_jpeg), which this op needs to "
        "re-encode the image; use adjust_brightness / adjust_contrast style augmentations "
        "instead", op)


def adjust_jpeg_quality(image, jpeg_quality, dct_method="", name=None):
    """Not available: re-encoding as JPEG needs an encoder tensorflux does not have."""
    _no_jpeg("adjust_jpeg_quality")


def random_jpeg_quality(image, min_jpeg_quality, max_jpeg_quality, seed=None):
    """Not available: re-encoding as JPEG needs an encoder tensorflux does not have."""
    _no_jpeg("random_jpeg_quality")


def stateless_random_jpeg_quality(image, min_jpeg_quality, max_jpeg_quality, seed):
    """Not available: re-encoding as JPEG needs an encoder tensorflux does not have."""
    _no_jpeg("stateless_random_jpeg_quality")


# ------------------------------------------------------------------ patches and metrics

def _window_list(op, value, what):
    try:
        values = [int(v) for v in value]
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(f"{op}: {what} must be a list of 4 ints, received "
                                          f"{value!r}", op) from error
    if len(values) != 4 or values[0] != 1 or values[3] != 1 or min(values) < 1:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be [1, rows, cols, 1] with positive entries, received "
            f"{value!r}", op)
    return values[1], values[2]


def _patch_geometry(size, window, stride, rate, padding):
    """(output size, padding before) of one axis, as TensorFlow's convolution geometry."""
    effective = (window - 1) * rate + 1
    if padding == "VALID":
        return max(-(-(size - effective + 1) // stride), 0), 0
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return out, total // 2


def extract_patches(images, sizes, strides, rates, padding, name=None):
    """The [rows, cols] patches of [batch, h, w, c] images, flattened into the last axis as
    [rows, cols, c] (TensorFlow's ExtractImagePatches): output [batch, out_h, out_w,
    rows * cols * c]. SAME zero-pads as a convolution would.

    >>> import tensorflux as tf
    >>> images = tf.reshape(tf.range(1, 5), (1, 2, 2, 1))
    >>> tf.image.extract_patches(images, [1, 2, 2, 1], [1, 1, 1, 1], [1, 1, 1, 1],
    ...                          "VALID").numpy().tolist()
    [[[[1, 2, 3, 4]]]]
    """
    op = "extract_patches"
    images = _images(op, images, ranks=(4,))
    k_h, k_w = _window_list(op, sizes, "sizes")
    s_h, s_w = _window_list(op, strides, "strides")
    r_h, r_w = _window_list(op, rates, "rates")
    padding = str(padding).upper()
    if padding not in ("SAME", "VALID"):
        raise errors.InvalidArgumentError(
            f"{op}: padding must be 'SAME' or 'VALID', received {padding!r}", op)
    height, width = _hw(op, images)
    out_h, top = _patch_geometry(height, k_h, s_h, r_h, padding)
    out_w, left = _patch_geometry(width, k_w, s_w, r_w, padding)
    need_h = max((out_h - 1) * s_h + (k_h - 1) * r_h + 1, height + top)
    need_w = max((out_w - 1) * s_w + (k_w - 1) * r_w + 1, width + left)
    padded = array.pad(images, [[0, 0], [top, need_h - height - top],
                                [left, need_w - width - left], [0, 0]])
    pieces = []
    for i in range(k_h):
        for j in range(k_w):
            r0, c0 = i * r_h, j * r_w
            pieces.append(padded[:, r0:r0 + (out_h - 1) * s_h + 1:s_h,
                                 c0:c0 + (out_w - 1) * s_w + 1:s_w, :])
    if out_h == 0 or out_w == 0:
        channels = images.shape[3]
        return array.zeros([images.shape[0], out_h, out_w, k_h * k_w * channels],
                           dtype=images.dtype)
    return array.concat(pieces, axis=3)


# ------------------------------------------------------------------ edges and variation

_SOBEL_Y = ((-1.0, -2.0, -1.0), (0.0, 0.0, 0.0), (1.0, 2.0, 1.0))


def _float_images(op, image, ranks=(4,)):
    image = _images(op, image, ranks)
    if not image.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: expected float images, received {image.dtype.name}", op)
    return image


def sobel_edges(image):
    """Sobel responses of float images [batch, h, w, c] as [batch, h, w, c, 2]: the vertical
    (dy) then the horizontal (dx) 3x3 filter, over the image mirrored by one pixel (REFLECT).

    >>> import tensorflux as tf
    >>> image = tf.reshape(tf.constant([0.0, 0, 1, 1] * 3), (1, 3, 4, 1))
    >>> tf.image.sobel_edges(image)[0, 1, :, 0, 1].numpy().tolist()
    [0.0, 4.0, 4.0, 0.0]
    """
    image = _float_images("sobel_edges", image)
    height, width = _hw("sobel_edges", image)
    padded = array.pad(image, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
    edges = []
    for kernel in (_SOBEL_Y, tuple(zip(*_SOBEL_Y))):
        total = None
        for i, row in enumerate(kernel):
            for j, weight in enumerate(row):
                if weight:
                    term = padded[:, i:i + height, j:j + width, :] * weight
                    total = term if total is None else total + term
        edges.append(total)
    return array.stack(edges, axis=-1)


def _differences(image, axis):
    """image[1:] - image[:-1] along axis (a slice on each side of the subtraction)."""
    rank = image.shape.rank
    head = [slice(None)] * rank
    tail = [slice(None)] * rank
    head[axis], tail[axis] = slice(1, None), slice(None, -1)
    return image[tuple(head)] - image[tuple(tail)]


def total_variation(images, name=None):
    """The sum of absolute differences between neighbouring pixels, vertically and
    horizontally: a scalar for an image [h, w, c], one per image for a batch.

    >>> import tensorflux as tf
    >>> float(tf.image.total_variation([[[1.0], [4.0]], [[0.0], [2.0]]]))
    8.0
    """
    op = "total_variation"
    images = _images(op, images)
    if images.dtype.is_unsigned or images.dtype is dtypes.bool:
        raise errors.InvalidArgumentError(
            f"{op}: expected float or signed integer images, received {images.dtype.name}", op)
    rank = images.shape.rank
    axes = [-3, -2, -1]
    return (reduction.reduce_sum(tmath.abs(_differences(images, rank - 3)), axis=axes)
            + reduction.reduce_sum(tmath.abs(_differences(images, rank - 2)), axis=axes))


def image_gradients(image):
    """(dy, dx): forward differences of images [batch, h, w, c] down and across, each of the
    image's shape, zero in the last row (dy) and last column (dx).

    >>> import tensorflux as tf
    >>> dy, dx = tf.image.image_gradients(tf.reshape(tf.range(4.0), (1, 2, 2, 1)))
    >>> dy[0, ..., 0].numpy().tolist(), dx[0, ..., 0].numpy().tolist()
    ([[2.0, 2.0], [0.0, 0.0]], [[1.0, 0.0], [1.0, 0.0]])
    """
    image = _images("image_gradients", image, ranks=(4,))
    dy, dx = _differences(image, 1), _differences(image, 2)
    dy = array.concat([dy, array.zeros_like(image[:, :1])], axis=1)
    dx = array.concat([dx, array.zeros_like(image[:, :, :1])], axis=2)
    return dy, dx


def _metric_inputs(op, a, b, max_val):
    """a, b and max_val in float32, as TensorFlow's psnr and ssim compute (integer images
    and max_val rescaled to [0, 1] by convert_image_dtype)."""
    a = as_operand(op, a)
    b = as_operand(op, b, a.dtype)
    if a.dtype is not b.dtype:
        raise errors.InvalidArgumentError(
            f"{op}: both images must have one dtype, received {a.dtype.name} and "
            f"{b.dtype.name}", op)
    if a.shape.rank is None or a.shape.rank < 3:
        raise errors.InvalidArgumentError(
            f"{op}: expected images of rank >= 3, received shape {tuple(a.shape)}", op)
    _image_dtype(op, a.dtype)
    max_val = convert_image_dtype(tmath.cast(as_operand(op, max_val), a.dtype), dtypes.float32)
    return (convert_image_dtype(a, dtypes.float32), convert_image_dtype(b, dtypes.float32),
            max_val)


def psnr(a, b, max_val, name=None):
    """Peak signal-to-noise ratio 10 log10(max_val^2 / mse) per image (over the last three
    axes), in float32 for integer inputs, as TensorFlow.

    >>> import tensorflux as tf
    >>> round(float(tf.image.psnr([[[0.0]]], [[[0.1]]], 1.0)), 3)
    20.0
    """
    op = "psnr"
    a, b, max_val = _metric_inputs(op, a, b, max_val)
    mse = reduction.reduce_mean(tmath.squared_difference(a, b), axis=[-3, -2, -1])
    scale = 10.0 / _pymath.log(10.0)
    return (tmath.log(max_val) * (2.0 * scale)) - tmath.log(mse) * scale


def _gaussian_window(size, sigma):
    coords = [i - (size - 1) / 2.0 for i in range(size)]
    g = [_pymath.exp(-c * c / (2.0 * sigma * sigma)) for c in coords]
    # TensorFlow normalizes the 2-D window through a softmax of -(x^2 + y^2) / (2 sigma^2).
    total = sum(g)
    g = [v / total for v in g]
    return [[gi * gj for gj in g] for gi in g]


def _ssim_maps(x4, y4, max_val, size, filter_sigma, k1, k2):
    """(luminance, contrast-structure) maps [n, h', w', c] of images [n, h, w, c]: statistics
    under a Gaussian window (size, filter_sigma) at VALID positions, with TensorFlow's
    constants (k1 max_val)^2 and (k2 max_val)^2."""
    from tensorflux.ops import nn

    max_val = float(max_val.numpy()) if max_val._value is not None else max_val
    channels = x4.shape[-1]
    window = convert_to_tensor(_gaussian_window(size, float(filter_sigma)), dtype=x4.dtype)
    kernel = array.tile(array.reshape(window, [size, size, 1, 1]), [1, 1, channels, 1])

    def blur(z):
        return nn.depthwise_conv2d(z, kernel, [1, 1, 1, 1], "VALID")

    c1 = (float(k1) * float(max_val)) ** 2
    c2 = (float(k2) * float(max_val)) ** 2
    mu_x, mu_y = blur(x4), blur(y4)
    mean_xy = mu_x * mu_y
    mean_sq = tmath.square(mu_x) + tmath.square(mu_y)
    luminance = (2.0 * mean_xy + c1) / (mean_sq + c1)
    cov = blur(x4 * y4) * 2.0 - 2.0 * mean_xy
    var = blur(tmath.square(x4) + tmath.square(y4)) - mean_sq
    return luminance, (cov + c2) / (var + c2)


def ssim(img1, img2, max_val, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         return_index_map=False):
    """Structural similarity of images [..., h, w, c] with TensorFlow's definition: a
    Gaussian window (filter_size, filter_sigma) over VALID positions, constants
    (k1 max_val)^2 and (k2 max_val)^2, averaged over positions and channels.

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(64.0) / 64.0, (8, 8, 1))
    >>> round(float(tf.image.ssim(x, x, 1.0, filter_size=3)), 6)
    1.0
    """
    op = "ssim"
    x, y, max_val = _metric_inputs(op, img1, img2, max_val)
    height, width = _hw(op, x)
    size = min(int(filter_size), height, width)
    channels = x.shape[-1]
    lead = list(x.shape)[:-3]
    x4 = array.reshape(x, [-1, height, width, channels])
    y4 = array.reshape(y, [-1, height, width, channels])
    luminance, contrast_structure = _ssim_maps(x4, y4, max_val, size, filter_sigma, k1, k2)
    index_map = luminance * contrast_structure
    if return_index_map:
        return array.reshape(index_map, lead + list(index_map.shape)[1:])
    per_image = reduction.reduce_mean(index_map, axis=[1, 2, 3])
    return array.reshape(per_image, lead)


# The scale weights of Wang, Simoncelli and Bovik's MS-SSIM paper (TensorFlow's defaults).
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _halve(images):
    """Images [n, h, w, c] averaged over 2x2 blocks, an odd last row or column repeated."""
    from tensorflux.ops import nn

    height, width = images.shape[1], images.shape[2]
    images = array.pad(images, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]],
                       mode="SYMMETRIC")
    return nn.avg_pool(images, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")


def ssim_multiscale(img1, img2, max_val, power_factors=_MS_SSIM_WEIGHTS, filter_size=11,
                    filter_sigma=1.5, k1=0.01, k2=0.03):
    """Multi-scale SSIM of images [..., h, w, c], one scale per power factor, each half the
    size of the one before (2x2 averages): the product of the contrast-structure terms of
    all scales but the last and the SSIM of the last, each clipped at 0 and raised to its
    factor, averaged over channels. Every scale must be at least filter_size pixels high
    and wide (176 for the defaults).

    >>> import tensorflux as tf
    >>> x = tf.reshape(tf.range(144.0) % 7.0 / 7.0, (12, 12, 1))
    >>> round(float(tf.image.ssim_multiscale(x, x, 1.0, (0.5, 0.5), filter_size=3)), 6)
    1.0
    """
    from tensorflux.ops import nn

    op = "ssim_multiscale"
    x, y, max_val = _metric_inputs(op, img1, img2, max_val)
    height, width = _hw(op, x)
    channels = x.shape[-1]
    lead = list(x.shape)[:-3]
    x4 = array.reshape(x, [-1, height, width, channels])
    y4 = array.reshape(y, [-1, height, width, channels])
    factors = [float(p) for p in power_factors]
    size = int(filter_size)
    terms = []
    for scale in range(len(factors)):
        if scale:
            x4, y4 = _halve(x4), _halve(y4)
        if min(x4.shape[1], x4.shape[2]) < size:
            raise errors.InvalidArgumentError(
                f"{op}: scale {scale} of the images is {x4.shape[1]}x{x4.shape[2]}, smaller "
                f"than filter_size {size}: images of {height}x{width} are too small for "
                f"{len(factors)} scales", op)
        luminance, contrast_structure = _ssim_maps(x4, y4, max_val, size, filter_sigma, k1, k2)
        if scale < len(factors) - 1:
            term = reduction.reduce_mean(contrast_structure, axis=[1, 2])
        else:
            term = reduction.reduce_mean(luminance * contrast_structure, axis=[1, 2])
        terms.append(nn.relu(term))
    weights = convert_to_tensor(factors, dtype=x4.dtype)
    per_channel = reduction.reduce_prod(tmath.pow(array.stack(terms, axis=-1), weights), axis=-1)
    return array.reshape(reduction.reduce_mean(per_channel, axis=-1), lead)
