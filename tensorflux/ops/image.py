"""Image ops (tf.image subset): resize with TensorFlow's half-pixel kernels and the projective
transform that Keras's geometric augmentation layers sample images with."""

import math as _pymath

from tensorflux import dtypes, errors
from tensorflux.ops import array, indexing, linalg
from tensorflux.ops import math as tmath
from tensorflux.ops._core import as_operand, aval
from tensorflux.primitive import Primitive
from tensorflux.tensor import convert_to_tensor

__all__ = ["resize", "resize_weights", "affine_transform", "ResizeMethod"]


class ResizeMethod:
    """The method names tf.image.resize accepts."""

    BILINEAR = "bilinear"
    NEAREST_NEIGHBOR = "nearest"
    BICUBIC = "bicubic"


_METHODS = ("bilinear", "nearest", "bicubic")
_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _scale(in_size, out_size):
    # TensorFlow computes the scale in float32; float64 of the same ratio differs only in the
    # last bits, below the float32 rounding of the sample positions for image-sized inputs.
    return in_size / out_size


def _cubic_coeffs(t, a=-0.5):
    """Keys' cubic convolution weights of the 4 taps around a sample at fraction t."""
    def kernel(d):
        d = abs(d)
        if d <= 1:
            return ((a + 2) * d - (a + 3)) * d * d + 1
        if d < 2:
            return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        return 0.0
    return [kernel(t + 1), kernel(t), kernel(1 - t), kernel(2 - t)]


def resize_weights(in_size, out_size, method):
    """The (out_size x in_size) interpolation matrix of one axis, as nested Python lists.

    TensorFlow 2's resize (antialias=False) is separable: half-pixel centers, sample position
    (o + 0.5) * in / out - 0.5; bilinear clamps the two taps to the edge; nearest takes
    floor((o + 0.5) * in / out) clamped; bicubic uses Keys' kernel with a = -0.5, drops taps
    outside the image and renormalizes the rest (resize_bicubic with half_pixel_centers).

    >>> from tensorflux.ops.image import resize_weights
    >>> resize_weights(2, 4, "bilinear")
    [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]
    """
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
            coeffs = _cubic_coeffs(position - low)
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

    Bilinear and bicubic return float32 for integer images (float inputs keep their dtype);
    nearest keeps the dtype. The result is linear in the images, so gradients flow.

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
    if antialias:
        raise errors.UnimplementedError("resize: antialias=True is not supported", "resize")
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
    if in_h is None or in_w is None:
        raise errors.InvalidArgumentError(
            f"resize: the image height and width must be known, received shape "
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
            out = indexing.gather(out, _nearest_indices(in_h, out_h), axis=1)
        if out_w != in_w:
            out = indexing.gather(out, _nearest_indices(in_w, out_w), axis=2)
    else:
        if not batched.dtype.is_floating:
            batched = tmath.cast(batched, dtypes.float32)
        dtype = batched.dtype
        out = batched
        if out_h != in_h or method == "bicubic":
            wh = convert_to_tensor(resize_weights(in_h, out_h, method), dtype=dtype)
            out = linalg.einsum("oh,bhwc->bowc", wh, out)
        if out_w != in_w or method == "bicubic":
            ww = convert_to_tensor(resize_weights(in_w, out_w, method), dtype=dtype)
            out = linalg.einsum("pw,bowc->bopc", ww, out)
    return out if rank == 4 else array.squeeze(out, 0)


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
