"""Bounding-box ops of tf.image: non-max suppression (plain, soft, padded, on overlaps, per
class), crop_and_resize with TensorFlow's gradients, glimpses, drawing boxes and sampling
distorted crops. Boxes are [y1, x1, y2, x2], either corner first, usually normalized to [0, 1].

The sequential parts run as NumPy-backend kernels (backends/numpy_image.py); glimpses are
composed from gathers."""

import collections
import operator

from tensorflux import dtypes, errors
from tensorflux.ops import array, indexing, reduction
from tensorflux.ops import math as tmath
from tensorflux.ops import random as trandom
from tensorflux.ops._core import as_operand, aval
from tensorflux.ops._static import fold, host
from tensorflux.primitive import Primitive
from tensorflux.tensor import _TensorLike

__all__ = ["non_max_suppression", "non_max_suppression_with_scores",
           "non_max_suppression_overlaps", "non_max_suppression_padded",
           "combined_non_max_suppression", "crop_and_resize", "extract_glimpse",
           "draw_bounding_boxes", "sample_distorted_bounding_box",
           "stateless_sample_distorted_bounding_box"]


def _no_gradient(g, *inputs, out, **attrs):
    return (None,) * len(inputs)


# ------------------------------------------------------------------ non-max suppression

def _nms_rule(boxes, scores, *thresholds, max_output_size, overlaps, tiled, padded):
    length = max_output_size if padded else None
    return (aval([length], dtypes.int32), aval([length], scores.dtype),
            aval([], dtypes.int32))


# image_non_max_suppression: greedy selection is sequential (each box's fate depends on the
# boxes kept before it), so it is one kernel; indices have no gradient, nor (as in
# TensorFlow) the soft-NMS scores.
_nms = Primitive("image_non_max_suppression", shape_rule=_nms_rule, vjp=_no_gradient,
                 multiple_results=True)


def _count(op, value, what):
    count = fold(op, value, what)
    try:
        count = None if isinstance(count, bool) else operator.index(count)
    except TypeError:
        count = None
    if count is None or count < 0:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be a non-negative integer, received {value!r}", op)
    return count


def _scalar(op, value, what, low=None, high=None):
    """A float32 scalar operand; checked against [low, high] when its value is known."""
    scalar = as_operand(op, value, dtypes.float32)
    if scalar.shape.rank != 0:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be a scalar, received shape {tuple(scalar.shape)}", op)
    if scalar._value is not None and (low is not None or high is not None):
        number = float(scalar.numpy())
        if (low is not None and number < low) or (high is not None and number > high):
            raise errors.InvalidArgumentError(
                f"{op}: {what} must be in [{low}, {high}], received {number}", op)
    return scalar


def _float_operand(op, value, what):
    tensor = as_operand(op, value)
    if not tensor.dtype.is_floating:
        tensor = tmath.cast(tensor, dtypes.float32)
    return tensor


def _boxes_and_scores(op, boxes, scores, lead=0):
    """boxes [..., num_boxes, 4] and scores [..., num_boxes] with `lead` batch axes."""
    boxes = _float_operand(op, boxes, "boxes")
    scores = _float_operand(op, scores, "scores")
    if boxes.shape.rank != lead + 2 or boxes.shape[-1] != 4:
        expected = "[..., num_boxes, 4]" if lead else "[num_boxes, 4]"
        raise errors.InvalidArgumentError(
            f"{op}: expected boxes of shape {expected}, received shape {tuple(boxes.shape)}",
            op)
    if tuple(scores.shape) != tuple(boxes.shape)[:-1]:
        raise errors.InvalidArgumentError(
            f"{op}: expected scores of shape {tuple(boxes.shape)[:-1]} (one per box), "
            f"received shape {tuple(scores.shape)}", op)
    return boxes, scores


def _suppress(op, similarity, scores, max_output_size, iou_threshold, score_threshold,
              soft_nms_sigma=0.0, overlaps=False, tiled=False, padded=False):
    return _nms.bind(similarity, scores, _scalar(op, iou_threshold, "the iou threshold"),
                     _scalar(op, score_threshold, "score_threshold"),
                     _scalar(op, soft_nms_sigma, "soft_nms_sigma", 0.0),
                     max_output_size=_count(op, max_output_size, "max_output_size"),
                     overlaps=overlaps, tiled=tiled, padded=padded)


def non_max_suppression(boxes, scores, max_output_size, iou_threshold=0.5,
                        score_threshold=float("-inf"), name=None):
    """Indices (int32) of at most max_output_size boxes [num_boxes, 4], chosen greedily in
    descending score (equal scores in index order): a box is dropped when its IoU with a
    box already chosen exceeds iou_threshold, or its score is not above score_threshold.

    >>> import tensorflux as tf
    >>> boxes = [[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 2, 1, 3]]
    >>> tf.image.non_max_suppression(boxes, [0.9, 0.8, 0.7], 3).numpy().tolist()
    [0, 2]
    """
    op = "non_max_suppression"
    boxes, scores = _boxes_and_scores(op, boxes, scores)
    iou_threshold = _scalar(op, iou_threshold, "iou_threshold", 0.0, 1.0)
    return _suppress(op, boxes, scores, max_output_size, iou_threshold, score_threshold)[0]


def non_max_suppression_with_scores(boxes, scores, max_output_size, iou_threshold=0.5,
                                    score_threshold=float("-inf"), soft_nms_sigma=0.0,
                                    name=None):
    """(indices, scores) as non_max_suppression; with soft_nms_sigma > 0, Soft-NMS instead:
    overlapping boxes are not dropped but their scores decay by exp(-iou^2 / (2 sigma))
    for each box chosen before them (iou_threshold then plays no part), and the decayed
    scores are returned in the order chosen.

    >>> import tensorflux as tf
    >>> boxes = [[0, 0, 1, 1], [0, 0.5, 1, 1.5]]
    >>> i, s = tf.image.non_max_suppression_with_scores(boxes, [0.9, 0.8], 2,
    ...                                                 soft_nms_sigma=0.5)
    >>> i.numpy().tolist(), [round(v, 4) for v in s.numpy().tolist()]
    ([0, 1], [0.9, 0.7159])
    """
    op = "non_max_suppression_with_scores"
    boxes, scores = _boxes_and_scores(op, boxes, scores)
    iou_threshold = _scalar(op, iou_threshold, "iou_threshold", 0.0, 1.0)
    indices, kept, _ = _suppress(op, boxes, scores, max_output_size, iou_threshold,
                                 score_threshold, soft_nms_sigma)
    return indices, kept


def non_max_suppression_overlaps(overlaps, scores, max_output_size, overlap_threshold=0.5,
                                 score_threshold=float("-inf"), name=None):
    """non_max_suppression on a precomputed [num_boxes, num_boxes] similarity matrix:
    candidate i is dropped when overlaps[i, j] > overlap_threshold for a chosen box j.

    >>> import tensorflux as tf
    >>> overlaps = [[1.0, 0.7, 0.1], [0.7, 1.0, 0.2], [0.1, 0.2, 1.0]]
    >>> tf.image.non_max_suppression_overlaps(overlaps, [0.9, 0.8, 0.7], 3).numpy().tolist()
    [0, 2]
    """
    op = "non_max_suppression_overlaps"
    overlaps = _float_operand(op, overlaps, "overlaps")
    scores = _float_operand(op, scores, "scores")
    count = scores.shape[0] if scores.shape.rank == 1 else -1
    if tuple(overlaps.shape) != (count, count):
        raise errors.InvalidArgumentError(
            f"{op}: expected overlaps of shape [num_boxes, num_boxes] and scores [num_boxes], "
            f"received shapes {tuple(overlaps.shape)} and {tuple(scores.shape)}", op)
    return _suppress(op, overlaps, scores, max_output_size, overlap_threshold, score_threshold,
                     overlaps=True)[0]


def non_max_suppression_padded(boxes, scores, max_output_size, iou_threshold=0.5,
                               score_threshold=float("-inf"), pad_to_max_output_size=False,
                               name=None, sorted_input=False, canonicalized_coordinates=False,
                               tile_size=512):
    """(indices, num_valid): non_max_suppression for boxes [..., num_boxes, 4] (leading axes
    are a batch), as TensorFlow's tiled version decides: a box is dropped when its IoU
    reaches iou_threshold (>=, the union widened by 1e-8). With pad_to_max_output_size
    (required for a batch) the indices are zero-padded to max_output_size, and num_valid
    counts the real ones. sorted_input, canonicalized_coordinates and tile_size change
    nothing here but speed in TensorFlow.

    >>> import tensorflux as tf
    >>> boxes = [[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 2, 1, 3]]
    >>> i, n = tf.image.non_max_suppression_padded(boxes, [0.9, 0.8, 0.7], 4,
    ...                                            pad_to_max_output_size=True)
    >>> i.numpy().tolist(), int(n)
    ([0, 2, 0, 0], 2)
    """
    op = "non_max_suppression_padded"
    boxes = _float_operand(op, boxes, "boxes")
    rank = boxes.shape.rank
    if rank is None or rank < 2:
        raise errors.InvalidArgumentError(
            f"{op}: expected boxes of shape [..., num_boxes, 4], received shape "
            f"{tuple(boxes.shape)}", op)
    if rank > 2 and not pad_to_max_output_size:
        raise ValueError(f"{op}: pad_to_max_output_size must be True for batched input "
                         f"(boxes of shape {tuple(boxes.shape)})")
    boxes, scores = _boxes_and_scores(op, boxes, scores, lead=rank - 2)
    lead = list(boxes.shape)[:-2]
    if None in lead:
        raise errors.InvalidArgumentError(
            f"{op}: the batch dimensions must be known, received boxes of shape "
            f"{tuple(boxes.shape)}", op)
    flat_boxes = array.reshape(boxes, [-1] + list(boxes.shape)[-2:])
    flat_scores = array.reshape(scores, [-1, scores.shape[-1]])
    indices, counts = [], []
    for b in range(flat_boxes.shape[0]):
        chosen, _, count = _suppress(op, flat_boxes[b], flat_scores[b], max_output_size,
                                     iou_threshold, score_threshold, tiled=True,
                                     padded=bool(pad_to_max_output_size))
        indices.append(chosen)
        counts.append(count)
    if rank == 2:
        return indices[0], counts[0]
    size = indices[0].shape[0]
    return (array.reshape(array.stack(indices), lead + [size]),
            array.reshape(array.stack(counts), lead))


def _combined_rule(boxes, scores, *thresholds, max_output_size_per_class, max_total_size,
                   pad_per_class, clip_boxes):
    batch, classes = boxes.shape[0], scores.shape[2]
    size = max_total_size
    if pad_per_class:
        size = min(max_total_size, max_output_size_per_class * classes)
    return (aval([batch, size, 4], dtypes.float32), aval([batch, size], dtypes.float32),
            aval([batch, size], dtypes.float32), aval([batch], dtypes.int32))


# image_combined_non_max_suppression: per image and class greedy NMS, then the best picks
# over all classes; one kernel for the same reason as image_non_max_suppression.
_combined_nms = Primitive("image_combined_non_max_suppression", shape_rule=_combined_rule,
                          vjp=_no_gradient, multiple_results=True)


def combined_non_max_suppression(boxes, scores, max_output_size_per_class, max_total_size,
                                 iou_threshold=0.5, score_threshold=float("-inf"),
                                 pad_per_class=False, clip_boxes=True, name=None):
    """Non-max suppression per image and class for detector outputs: boxes [batch,
    num_boxes, q, 4] (q = 1: shared by all classes, else one box per class) and scores
    [batch, num_boxes, num_classes]. Each class keeps at most max_output_size_per_class
    boxes; the max_total_size best of all classes are returned, best first, zero-padded.

    Returns (nmsed_boxes [batch, n, 4], nmsed_scores [batch, n], nmsed_classes [batch, n]
    as float32, valid_detections [batch] int32), n = max_total_size, or with pad_per_class
    min(max_total_size, max_output_size_per_class * num_classes). clip_boxes clips the
    returned boxes to [0, 1]. Equal scores of different classes come in class order
    (TensorFlow leaves their order unspecified).

    >>> import tensorflux as tf
    >>> boxes = [[[[0, 0, 1, 1]], [[0, 0.1, 1, 1.1]]]]
    >>> out = tf.image.combined_non_max_suppression(boxes, [[[0.9, 0.1], [0.8, 0.7]]], 2, 3)
    >>> [round(v, 4) for v in out[1][0].numpy().tolist()], out[2].numpy().tolist(), int(out[3][0])
    ([0.9, 0.7, 0.0], [[0.0, 1.0, 0.0]], 2)
    """
    op = "combined_non_max_suppression"
    boxes = as_operand(op, boxes, None if isinstance(boxes, _TensorLike) else dtypes.float32)
    scores = as_operand(op, scores, None if isinstance(scores, _TensorLike) else dtypes.float32)
    if boxes.shape.rank != 4 or boxes.shape[3] != 4:
        raise errors.InvalidArgumentError(
            f"{op}: expected boxes of shape [batch, num_boxes, q, 4], received shape "
            f"{tuple(boxes.shape)}", op)
    if scores.shape.rank != 3 or tuple(scores.shape[:2]) != tuple(boxes.shape[:2]):
        raise errors.InvalidArgumentError(
            f"{op}: expected scores of shape [batch, num_boxes, num_classes] matching boxes "
            f"{tuple(boxes.shape)}, received shape {tuple(scores.shape)}", op)
    if boxes.shape[2] not in (1, scores.shape[2]):
        raise errors.InvalidArgumentError(
            f"{op}: boxes' third dimension q must be 1 or num_classes ({scores.shape[2]}), "
            f"received shape {tuple(boxes.shape)}", op)
    per_class = _count(op, max_output_size_per_class, "max_output_size_per_class")
    total = _count(op, max_total_size, "max_total_size")
    if total == 0:
        raise errors.InvalidArgumentError(f"{op}: max_total_size must be > 0, received 0", op)
    return tuple(_combined_nms.bind(
        tmath.cast(boxes, dtypes.float32), tmath.cast(scores, dtypes.float32),
        _scalar(op, iou_threshold, "iou_threshold", 0.0, 1.0),
        _scalar(op, score_threshold, "score_threshold"), max_output_size_per_class=per_class,
        max_total_size=total, pad_per_class=bool(pad_per_class), clip_boxes=bool(clip_boxes)))


# ------------------------------------------------------------------ crop_and_resize

def _crop_rule(image, boxes, box_indices, crop_size, method, extrapolation_value):
    return aval([boxes.shape[0], crop_size[0], crop_size[1], image.shape[3]], dtypes.float32)


def _crop_vjp(g, image, boxes, box_indices, out, crop_size, method, extrapolation_value):
    g_image = None
    if image.dtype.is_floating:
        if None in tuple(image.shape):
            raise errors.InvalidArgumentError(
                "crop_and_resize: the gradient needs the image shape, received "
                f"{tuple(image.shape)}", "crop_and_resize")
        g_image = _crop_grad_image.bind(g, boxes, box_indices, image_shape=tuple(image.shape),
                                        method=method)
        if image.dtype is not dtypes.float32:
            g_image = tmath.cast(g_image, image.dtype)
    return g_image, _crop_grad_boxes.bind(g, image, boxes, box_indices), None


def _crop_grad_image_rule(g, boxes, box_indices, image_shape, method):
    return aval(list(image_shape), dtypes.float32)


def _crop_grad_image_vjp(gg, g, boxes, box_indices, out, image_shape, method):
    # Linear in g: its transpose samples the cotangent image again, nothing filled in.
    return (_crop.bind(gg, boxes, box_indices, crop_size=tuple(g.shape[1:3]), method=method,
                       extrapolation_value=0.0), None, None)


# image_crop_and_resize: one kernel (TensorFlow's CropAndResize) rather than gathers, since
# TensorFlow's box gradient differentiates bilinear sampling even for method="nearest".
_crop = Primitive("image_crop_and_resize", shape_rule=_crop_rule, vjp=_crop_vjp)
# image_crop_and_resize_grad_image: scatter-adds the cotangents onto the sampled pixels.
_crop_grad_image = Primitive("image_crop_and_resize_grad_image",
                             shape_rule=_crop_grad_image_rule, vjp=_crop_grad_image_vjp)
# image_crop_and_resize_grad_boxes: d loss / d box corners; not differentiable further.
_crop_grad_boxes = Primitive(
    "image_crop_and_resize_grad_boxes", vjp=_no_gradient,
    shape_rule=lambda g, image, boxes, box_indices: aval([boxes.shape[0], 4], dtypes.float32))


def _size_pair(op, value, what):
    try:
        pair = [int(v) for v in fold(op, value, what)]
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be two ints, received {value!r}", op) from error
    if len(pair) != 2 or min(pair) <= 0:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be two positive ints [height, width], received {value!r}", op)
    return tuple(pair)


def crop_and_resize(image, boxes, box_indices, crop_size, method="bilinear",
                    extrapolation_value=0.0, name=None):
    """Crops boxes [num_boxes, 4] (normalized [y1, x1, y2, x2]; y2 < y1 flips) out of the
    images [batch, height, width, channels] named by box_indices and resizes each to
    crop_size with bilinear or nearest sampling: float32 [num_boxes, crop_h, crop_w,
    channels]. Samples outside the image take extrapolation_value. Differentiable in the
    image and the boxes, with TensorFlow's gradients.

    >>> import tensorflux as tf
    >>> image = tf.reshape(tf.range(9.0), (1, 3, 3, 1))
    >>> tf.image.crop_and_resize(image, [[0.0, 0.0, 0.5, 0.5]], [0], [2, 2])[0, ..., 0].numpy(
    ...     ).tolist()
    [[0.0, 1.0], [3.0, 4.0]]
    """
    op = "crop_and_resize"
    image = as_operand(op, image)
    if image.shape.rank != 4:
        raise errors.InvalidArgumentError(
            f"{op}: expected images of shape [batch, height, width, channels], received shape "
            f"{tuple(image.shape)}", op)
    boxes = as_operand(op, boxes, None if isinstance(boxes, _TensorLike) else dtypes.float32)
    if boxes.dtype is not dtypes.float32:
        boxes = tmath.cast(boxes, dtypes.float32)
    box_indices = as_operand(op, box_indices, None if isinstance(box_indices, _TensorLike)
                             else dtypes.int32)
    if boxes.shape.rank != 2 or boxes.shape[1] != 4:
        raise errors.InvalidArgumentError(
            f"{op}: expected boxes of shape [num_boxes, 4], received shape "
            f"{tuple(boxes.shape)}", op)
    if (not box_indices.dtype.is_integer or box_indices.shape.rank != 1
            or box_indices.shape[0] != boxes.shape[0]):
        raise errors.InvalidArgumentError(
            f"{op}: expected integer box_indices of shape [{boxes.shape[0]}] (one per box), "
            f"received {box_indices.dtype.name} with shape {tuple(box_indices.shape)}", op)
    if method not in ("bilinear", "nearest"):
        raise errors.InvalidArgumentError(
            f"{op}: method must be 'bilinear' or 'nearest', received {method!r}", op)
    crop_size = _size_pair(op, crop_size, "crop_size")
    batch = image.shape[0]
    if box_indices._value is not None and batch is not None and box_indices.shape[0]:
        values = box_indices.numpy()
        if values.min() < 0 or values.max() >= batch:
            raise errors.OutOfRangeError(
                f"{op}: box_indices must be in [0, {batch}) (the batch), received "
                f"{values.tolist()}", op)
    return _crop.bind(image, boxes, box_indices, crop_size=crop_size, method=method,
                      extrapolation_value=float(extrapolation_value))


# ------------------------------------------------------------------ glimpses

def _glimpse_corner(offset, size, glimpse, centered, normalized):
    """The first row (or column) of each glimpse, in float32 and truncated as TensorFlow:
    normalized centered offsets name the glimpse's center in [-1, 1]; the other modes its
    top-left corner (in pixels, or in [0, 1], from the top-left or from the image center)."""
    if normalized:
        offset = offset * float(size)
        if centered:
            offset = offset / 2.0 + size / 2.0 - glimpse / 2.0
    elif centered:
        offset = offset + size / 2.0
    return tmath.cast(offset, dtypes.int32)


def _glimpse_noise(op, images, shape, noise):
    if noise == "zero":
        return array.zeros(shape, dtypes.float32)
    if noise == "uniform":
        low = reduction.reduce_min(images, axis=[1, 2, 3], keepdims=True)
        high = reduction.reduce_max(images, axis=[1, 2, 3], keepdims=True)
        return low + trandom.uniform(shape) * (high - low)
    if noise in ("gaussian", ""):
        low = reduction.reduce_min(images, axis=[1, 2], keepdims=True)
        high = reduction.reduce_max(images, axis=[1, 2], keepdims=True)
        mean = reduction.reduce_mean(images, axis=[1, 2], keepdims=True)
        std = reduction.reduce_std(images, axis=[1, 2], keepdims=True)
        return tmath.clip_by_value(mean + std * trandom.normal(shape), low, high)
    raise errors.InvalidArgumentError(
        f"{op}: noise must be 'uniform', 'gaussian' or 'zero', received {noise!r}", op)


def extract_glimpse(input, size, offsets, centered=True, normalized=True,  # noqa: A002
                    noise="uniform", name=None):
    """Windows of `size` [h, w] out of images [batch, height, width, channels], one per image
    at offsets [batch, 2] (y, x; see centered/normalized), as float32. Pixels outside the
    image are zero (noise="zero"), uniform noise over the image's range ("uniform"), or
    Gaussian noise with each channel's mean and deviation, clipped to its range
    ("gaussian"), from tensorflux's generator.

    >>> import tensorflux as tf
    >>> image = tf.reshape(tf.range(1.0, 17.0), (1, 4, 4, 1))
    >>> tf.image.extract_glimpse(image, [2, 2], [[0.0, 0.0]])[0, ..., 0].numpy().tolist()
    [[6.0, 7.0], [10.0, 11.0]]
    """
    op = "extract_glimpse"
    images = as_operand(op, input)
    if images.shape.rank != 4:
        raise errors.InvalidArgumentError(
            f"{op}: expected images of shape [batch, height, width, channels], received shape "
            f"{tuple(images.shape)}", op)
    if images.dtype is not dtypes.float32:
        images = tmath.cast(images, dtypes.float32)
    batch, height, width, channels = images.shape
    if None in (batch, height, width, channels):
        raise errors.InvalidArgumentError(
            f"{op}: the image shape must be known, received {tuple(images.shape)}", op)
    rows, cols = _size_pair(op, size, "size")
    offsets = as_operand(op, offsets, None if isinstance(offsets, _TensorLike)
                         else dtypes.float32)
    if offsets.dtype is not dtypes.float32:
        offsets = tmath.cast(offsets, dtypes.float32)
    if tuple(offsets.shape) != (batch, 2):
        raise errors.InvalidArgumentError(
            f"{op}: expected offsets of shape [{batch}, 2] (y, x per image), received shape "
            f"{tuple(offsets.shape)}", op)
    top = _glimpse_corner(offsets[:, 0], height, rows, centered, normalized)
    left = _glimpse_corner(offsets[:, 1], width, cols, centered, normalized)
    row_ids = array.expand_dims(top, 1) + array.range(rows, dtype=dtypes.int32)
    col_ids = array.expand_dims(left, 1) + array.range(cols, dtype=dtypes.int32)
    row_in = tmath.logical_and(row_ids >= 0, row_ids < height)
    col_in = tmath.logical_and(col_ids >= 0, col_ids < width)
    picked = indexing.gather(images, tmath.clip_by_value(row_ids, 0, height - 1), axis=1,
                             batch_dims=1)
    picked = indexing.gather(picked, tmath.clip_by_value(col_ids, 0, width - 1), axis=2,
                             batch_dims=1)
    inside = tmath.logical_and(array.reshape(row_in, [batch, rows, 1, 1]),
                               array.reshape(col_in, [batch, 1, cols, 1]))
    shape = [batch, rows, cols, channels]
    return tmath.where(inside, picked, _glimpse_noise(op, images, shape, noise))


# ------------------------------------------------------------------ drawing

# TensorFlow's colours for boxes drawn without a colour table (RGBA).
_PALETTE = ((1.0, 1.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0), (1.0, 0.0, 0.0, 1.0),
            (0.0, 1.0, 0.0, 1.0), (0.5, 0.0, 0.5, 1.0), (0.5, 0.5, 0.0, 1.0),
            (0.5, 0.0, 0.0, 1.0), (0.0, 0.0, 0.5, 1.0), (0.0, 1.0, 1.0, 1.0),
            (1.0, 0.0, 1.0, 1.0))

# image_draw_bounding_boxes: per-box outlines clipped to the image, one kernel; no gradient.
_draw = Primitive("image_draw_bounding_boxes", vjp=_no_gradient,
                  shape_rule=lambda images, boxes, colors: aval(images.shape, images.dtype))


def draw_bounding_boxes(images, boxes, colors, name=None):
    """Draws the one-pixel outline of boxes [batch, num_boxes, 4] (normalized [y_min, x_min,
    y_max, x_max]; corners at int(y * (height - 1)), int(x * (width - 1))) on float images
    [batch, height, width, depth], depth 1, 3 or 4, cycling through the colours [n, >= depth]
    (None: TensorFlow's table of 10). Inverted boxes and boxes wholly outside are skipped.

    >>> import tensorflux as tf
    >>> out = tf.image.draw_bounding_boxes(tf.zeros([1, 3, 3, 1]), [[[0.0, 0.0, 1.0, 1.0]]],
    ...                                    [[0.5]])
    >>> out[0, ..., 0].numpy().tolist()
    [[0.5, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.5]]
    """
    op = "draw_bounding_boxes"
    images = as_operand(op, images)
    if images.shape.rank != 4 or images.shape[3] not in (1, 3, 4):
        raise errors.InvalidArgumentError(
            f"{op}: expected images of shape [batch, height, width, depth] with depth 1, 3 or "
            f"4, received shape {tuple(images.shape)}", op)
    if not images.dtype.is_floating:
        raise errors.InvalidArgumentError(
            f"{op}: expected float images, received {images.dtype.name}", op)
    boxes = as_operand(op, boxes, None if isinstance(boxes, _TensorLike) else dtypes.float32)
    if boxes.shape.rank != 3 or boxes.shape[2] != 4 or boxes.shape[0] != images.shape[0]:
        raise errors.InvalidArgumentError(
            f"{op}: expected boxes of shape [{images.shape[0]}, num_boxes, 4], received shape "
            f"{tuple(boxes.shape)}", op)
    if colors is None or (not isinstance(colors, _TensorLike) and len(colors) == 0):
        colors = _PALETTE
    colors = as_operand(op, colors, None if isinstance(colors, _TensorLike) else dtypes.float32)
    if colors.shape.rank != 2 or colors.shape[1] < images.shape[3]:
        raise errors.InvalidArgumentError(
            f"{op}: expected colors of shape [num_colors, >= {images.shape[3]}] (the depth), "
            f"received shape {tuple(colors.shape)}", op)
    if colors.shape[0] == 0:
        colors = as_operand(op, _PALETTE, dtypes.float32)
    return _draw.bind(images, tmath.cast(boxes, dtypes.float32),
                      tmath.cast(colors, dtypes.float32))


# ------------------------------------------------------------------ distorted crops

def _sample_rule(image_size, boxes, uniforms, **attrs):
    return (aval([3], image_size.dtype), aval([3], image_size.dtype),
            aval([1, 1, 4], dtypes.float32))


# image_sample_distorted_bounding_box: rejection sampling over the attempts' uniforms (drawn
# by the op, so seeds behave as every random op's), first acceptable crop wins.
_sample_box = Primitive("image_sample_distorted_bounding_box", shape_rule=_sample_rule,
                        vjp=_no_gradient, multiple_results=True)

SampleDistortedBoundingBox = collections.namedtuple("SampleDistortedBoundingBox",
                                                    ["begin", "size", "bboxes"])


def _range_pair(op, value, default, what):
    try:
        low, high = (float(v) for v in (default if value is None else value))
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must be two floats, received {value!r}", op) from error
    if not 0 < low <= high:
        raise errors.InvalidArgumentError(
            f"{op}: {what} must satisfy 0 < low <= high, received {value!r}", op)
    return low, high


def _sample_distorted(op, image_size, bounding_boxes, draw, min_object_covered,
                      aspect_ratio_range, area_range, max_attempts,
                      use_image_if_no_bounding_boxes):
    image_size = as_operand(op, image_size, None if isinstance(image_size, _TensorLike)
                            else dtypes.int32)
    if not image_size.dtype.is_integer or tuple(image_size.shape) != (3,):
        raise errors.InvalidArgumentError(
            f"{op}: image_size must be [height, width, channels] integers, received "
            f"{image_size.dtype.name} with shape {tuple(image_size.shape)}", op)
    boxes = as_operand(op, bounding_boxes, None if isinstance(bounding_boxes, _TensorLike)
                       else dtypes.float32)
    if boxes.shape.rank != 3 or boxes.shape[2] != 4:
        raise errors.InvalidArgumentError(
            f"{op}: bounding_boxes must have shape [batch, num_boxes, 4], received "
            f"{tuple(boxes.shape)}", op)
    if boxes.shape[0] * boxes.shape[1] == 0:
        if not use_image_if_no_bounding_boxes:
            raise errors.InvalidArgumentError(
                f"{op}: no bounding boxes given; pass use_image_if_no_bounding_boxes=True to "
                "sample crops of the whole image instead", op)
        boxes = as_operand(op, [[[0.0, 0.0, 1.0, 1.0]]], dtypes.float32)
    covered = min_object_covered
    if isinstance(covered, _TensorLike):
        covered = host(op, covered, "min_object_covered")
    covered = float(covered)
    if covered < 0:
        raise errors.InvalidArgumentError(
            f"{op}: min_object_covered must be >= 0, received {covered}", op)
    attempts = 100 if max_attempts is None else _count(op, max_attempts, "max_attempts")
    if attempts < 1:
        raise errors.InvalidArgumentError(
            f"{op}: max_attempts must be positive, received {max_attempts!r}", op)
    aspect = _range_pair(op, aspect_ratio_range, (0.75, 1.33), "aspect_ratio_range")
    area = _range_pair(op, area_range, (0.05, 1.0), "area_range")
    if area[1] > 1.0:
        raise errors.InvalidArgumentError(
            f"{op}: area_range must lie in (0, 1], received {area_range!r}", op)
    begin, size, bboxes = _sample_box.bind(
        image_size, tmath.cast(boxes, dtypes.float32), draw([attempts, 4]),
        min_object_covered=covered, aspect_ratio_range=aspect, area_range=area)
    return SampleDistortedBoundingBox(begin, size, bboxes)


def sample_distorted_bounding_box(image_size, bounding_boxes, seed=0, min_object_covered=0.1,
                                  aspect_ratio_range=None, area_range=None, max_attempts=None,
                                  use_image_if_no_bounding_boxes=None, name=None):
    """A random crop of an image of image_size [height, width, channels] for augmentation:
    (begin [y, x, 0], size [h, w, -1], bboxes [1, 1, 4] normalized), ready for tf.slice and
    draw_bounding_boxes. Up to max_attempts (100) crops are drawn with an aspect ratio
    (width / height) in aspect_ratio_range (0.75, 1.33) and an area fraction in area_range
    (0.05, 1.0); the first covering at least min_object_covered of one of bounding_boxes
    [batch, n, 4] wins, else the whole image. seed=0: unseeded (tf.random's seed rules);
    tensorflux's generator, not TensorFlow's numbers.

    >>> import tensorflux as tf
    >>> begin, size, box = tf.image.sample_distorted_bounding_box(
    ...     [30, 40, 3], [[[0.0, 0.0, 1.0, 1.0]]], seed=4, area_range=(0.2, 0.5))
    >>> h, w = size.numpy().tolist()[:2]
    >>> bool(0.2 <= h * w / 1200 <= 0.5 and int(size[2]) == -1)
    True
    """
    def draw(shape):
        return trandom.uniform(shape, seed=seed or None)

    return _sample_distorted("sample_distorted_bounding_box", image_size, bounding_boxes,
                             draw, min_object_covered, aspect_ratio_range, area_range,
                             max_attempts, use_image_if_no_bounding_boxes)


def stateless_sample_distorted_bounding_box(image_size, bounding_boxes, seed,
                                            min_object_covered=0.1, aspect_ratio_range=None,
                                            area_range=None, max_attempts=None,
                                            use_image_if_no_bounding_boxes=None, name=None):
    """sample_distorted_bounding_box determined by `seed` (shape [2]) alone.

    >>> import tensorflux as tf
    >>> args = ([64, 48, 3], [[[0.1, 0.1, 0.6, 0.6]]], [1, 2])
    >>> a = tf.image.stateless_sample_distorted_bounding_box(*args)
    >>> b = tf.image.stateless_sample_distorted_bounding_box(*args)
    >>> a.begin.numpy().tolist() == b.begin.numpy().tolist()
    True
    """
    def draw(shape):
        return trandom.stateless_uniform(shape, seed=seed)

    return _sample_distorted("stateless_sample_distorted_bounding_box", image_size,
                             bounding_boxes, draw, min_object_covered, aspect_ratio_range,
                             area_range, max_attempts, use_image_if_no_bounding_boxes)
