"""keras.utils.bounding_boxes: conversions between Keras's box formats, clipping, cropping,
padding and affine transforms of boxes, IoU / CIoU, and anchor delta encoding, as the image
augmentation layers use them on {"boxes", "labels"} dicts.

Formats (case-insensitive): "xyxy" [left, top, right, bottom], "yxyx", "xywh" [left, top,
width, height], "center_xywh", "center_yxhw", and "rel_xyxy", "rel_yxyx", "rel_xywh",
"rel_center_xywh" (fractions of the image `height` and `width`). Every conversion goes
through absolute "xyxy".
"""

import math

__all__ = ["affine_transform", "clip_to_image_size", "compute_ciou", "compute_iou",
           "convert_format", "crop", "decode_deltas_to_boxes", "encode_box_to_deltas", "pad"]

SUPPORTED_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy",
                     "rel_yxyx", "rel_xywh", "rel_center_xywh")


def _tf():
    import tensorflux as tf

    return tf


def _epsilon():
    from tensorflux.keras import backend

    return backend.epsilon()


def _columns(boxes):
    """The four coordinate columns of `boxes` (..., 4), each (..., 1)."""
    return _tf().split(boxes, 4, axis=-1)


def _join(*columns):
    return _tf().concat(list(columns), axis=-1)


# ---------------------------------------------------------------------- to and from xyxy

def _to_xyxy(boxes, source, height, width):
    a, b, c, d = _columns(boxes)
    if source == "xyxy":
        return boxes
    if source == "yxyx":
        return _join(b, a, d, c)
    if source == "xywh":
        return _join(a, b, a + c, b + d)
    if source == "center_xywh":
        return _join(a - c / 2.0, b - d / 2.0, a + c / 2.0, b + d / 2.0)
    if source == "center_yxhw":
        return _join(b - d / 2.0, a - c / 2.0, b + d / 2.0, a + c / 2.0)
    if source == "rel_xyxy":
        return _join(a * width, b * height, c * width, d * height)
    if source == "rel_yxyx":
        return _join(b * width, a * height, d * width, c * height)
    if source == "rel_xywh":
        return _join(a * width, b * height, (a + c) * width, (b + d) * height)
    # rel_center_xywh
    return _join((a - c / 2.0) * width, (b - d / 2.0) * height, (a + c / 2.0) * width,
                 (b + d / 2.0) * height)


def _from_xyxy(boxes, target, height, width):
    x1, y1, x2, y2 = _columns(boxes)
    if target == "xyxy":
        return boxes
    if target == "yxyx":
        return _join(y1, x1, y2, x2)
    box_w, box_h = x2 - x1, y2 - y1
    if target == "xywh":
        return _join(x1, y1, box_w, box_h)
    center_x, center_y = x1 + box_w / 2.0, y1 + box_h / 2.0
    if target == "center_xywh":
        return _join(center_x, center_y, box_w, box_h)
    if target == "center_yxhw":
        return _join(center_y, center_x, box_h, box_w)
    if target == "rel_xyxy":
        return _join(x1 / width, y1 / height, x2 / width, y2 / height)
    if target == "rel_yxyx":
        return _join(y1 / height, x1 / width, y2 / height, x2 / width)
    if target == "rel_xywh":
        return _join(x1 / width, y1 / height, box_w / width, box_h / height)
    # rel_center_xywh
    return _join(center_x / width, center_y / height, box_w / width, box_h / height)


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """Converts boxes (..., 4), or the "boxes" of a {"boxes", "labels"} dict (updated in
    place and returned, as Keras), from format `source` to `target`; relative formats need
    the image `height` and `width`.

    >>> from tensorflux.keras.utils import bounding_boxes
    >>> boxes = [[10, 20, 30, 40]]
    >>> bounding_boxes.convert_format(boxes, "xyxy", "xywh").numpy().tolist()
    [[10.0, 20.0, 20.0, 20.0]]
    >>> bounding_boxes.convert_format(boxes, "xyxy", "rel_xyxy", height=200, width=100
    ...                               ).numpy().tolist()
    [[0.10000000149011612, 0.10000000149011612, 0.30000001192092896, 0.20000000298023224]]
    """
    if isinstance(boxes, dict):
        boxes["boxes"] = convert_format(boxes["boxes"], source, target, height=height,
                                        width=width, dtype=dtype)
        return boxes
    tf = _tf()
    boxes = tf.convert_to_tensor(boxes)
    shape = tuple(boxes.shape)
    if not shape or shape[-1] != 4:
        raise ValueError("`boxes` must be a tensor with the last dimension of 4. "
                         f"Received: boxes.shape={shape}")
    source, target = source.lower(), target.lower()
    if source not in SUPPORTED_FORMATS or target not in SUPPORTED_FORMATS:
        raise ValueError(f"Invalid source or target format (received source={source!r}, "
                         f"target={target!r}). Supported formats: {SUPPORTED_FORMATS}")
    if (source.startswith("rel_") or target.startswith("rel_")) and (
            height is None or width is None):
        raise ValueError("convert_format() needs `height` and `width` to convert between "
                         f"relative and absolute formats; received source={source!r}, "
                         f"target={target!r}, height={height} and width={width}.")
    boxes = tf.cast(boxes, dtype)
    if source == target:
        return boxes
    if height is not None:
        height = tf.cast(height, dtype)
    if width is not None:
        width = tf.cast(width, dtype)
    if source.startswith("rel_") and target.startswith("rel_"):
        # Relative to relative: the image size cancels out.
        source, target = source[4:], target[4:]
    return _from_xyxy(_to_xyxy(boxes, source, height, width), target, height, width)


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """Clips the "xyxy" (to [0, width] x [0, height]) or "rel_xyxy" (to [0, 1]) boxes of a
    {"boxes", "labels"} dict; boxes left with no area get label -1. Returns a new dict.

    >>> from tensorflux.keras.utils import bounding_boxes
    >>> out = bounding_boxes.clip_to_image_size(
    ...     {"boxes": [[-5.0, 2.0, 8.0, 20.0], [12.0, 0.0, 15.0, 4.0]], "labels": [1, 2]},
    ...     height=10, width=10)
    >>> out["boxes"].numpy().tolist(), out["labels"].numpy().tolist()
    ([[0.0, 2.0, 8.0, 10.0], [10.0, 0.0, 10.0, 4.0]], [1, -1])
    """
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError("clip_to_image_size() supports the 'xyxy' and 'rel_xyxy' "
                                  f"formats; received bounding_box_format="
                                  f"{bounding_box_format!r}")
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError("`height` and `width` must be set if `format='xyxy'`. Received: "
                         f"height={height}, width={width}")
    tf = _tf()
    boxes = tf.convert_to_tensor(bounding_boxes["boxes"])
    labels = bounding_boxes.get("labels")
    if bounding_box_format == "xyxy":
        boxes = _clip_xyxy(boxes, tf.cast(height, boxes.dtype), tf.cast(width, boxes.dtype))
    else:
        one = tf.constant(1.0, boxes.dtype)
        boxes = _clip_xyxy(boxes, one, one)
    result = dict(bounding_boxes)
    result["boxes"] = boxes
    if labels is not None:
        labels = tf.convert_to_tensor(labels)
        x1, y1, x2, y2 = _columns(boxes)
        area = tf.squeeze((x2 - x1) * (y2 - y1), axis=-1)
        result["labels"] = tf.where(area > 0, labels, tf.constant(-1, labels.dtype))
    return result


def _clip_xyxy(boxes, height, width):
    tf = _tf()
    zero = tf.zeros((), boxes.dtype)
    x1, y1, x2, y2 = _columns(boxes)

    def clip(values, high):
        return tf.minimum(tf.maximum(values, zero), high)

    return _join(clip(x1, width), clip(y1, height), clip(x2, width), clip(y2, height))


# ---------------------------------------------------------------------- crop, pad, affine

def _check_xyxy(bounding_box_format, function):
    if bounding_box_format != "xyxy":
        raise NotImplementedError(f"{function}() supports bounding_box_format='xyxy' only; "
                                  f"received {bounding_box_format!r}")


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """"xyxy" boxes in the frame of the (height, width) window at (top, left) of the image,
    clipped to the window (`height` / `width` None: no upper clip on that axis).

    >>> from tensorflux.keras.utils import bounding_boxes
    >>> bounding_boxes.crop([[10.0, 20.0, 50.0, 60.0]], top=10, left=20, height=40,
    ...                     width=30).numpy().tolist()
    [[0.0, 10.0, 30.0, 40.0]]
    """
    _check_xyxy(bounding_box_format, "crop")
    tf = _tf()
    boxes = tf.convert_to_tensor(boxes)
    x1, y1, x2, y2 = _columns(boxes)
    top, left = tf.cast(top, boxes.dtype), tf.cast(left, boxes.dtype)

    def clip(values, high):
        values = tf.maximum(values, tf.zeros((), values.dtype))
        return values if high is None else tf.minimum(values, tf.cast(high, values.dtype))

    return _join(clip(x1 - left, width), clip(y1 - top, height), clip(x2 - left, width),
                 clip(y2 - top, height))


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """"xyxy" boxes moved by the `top` and `left` padding added to their image (`height` and
    `width` are accepted for Keras's signature and unused).

    >>> from tensorflux.keras.utils import bounding_boxes
    >>> bounding_boxes.pad([[1.0, 2.0, 3.0, 4.0]], top=10, left=5).numpy().tolist()
    [[6.0, 12.0, 8.0, 14.0]]
    """
    _check_xyxy(bounding_box_format, "pad")
    tf = _tf()
    boxes = tf.convert_to_tensor(boxes)
    x1, y1, x2, y2 = _columns(boxes)
    top, left = tf.cast(top, boxes.dtype), tf.cast(left, boxes.dtype)
    return _join(x1 + left, y1 + top, x2 + left, y2 + top)


def _inverse_affine_matrix(center_x, center_y, angle, translate_x, translate_y, scale,
                           shear_x, shear_y, height, width):
    """(batch, 2, 3): the inverse of the rotate-scale-shear-translate transform about
    (center_x, center_y) (fractions of the image), with angles in degrees (the inverse that
    torchvision's _get_inverse_affine_matrix builds, which Keras follows)."""
    tf = _tf()
    radians = 1.0 / 180.0 * math.pi
    dtype = angle.dtype
    center_x = tf.cast(center_x, dtype) * tf.cast(width - 1, dtype)
    center_y = tf.cast(center_y, dtype) * tf.cast(height - 1, dtype)
    rotation = -angle * radians
    shift_x = -tf.cast(translate_x, dtype) * tf.cast(width - 1, dtype)
    shift_y = -tf.cast(translate_y, dtype) * tf.cast(height - 1, dtype)
    shear_x = -tf.cast(shear_x, dtype) * radians
    shear_y = -tf.cast(shear_y, dtype) * radians
    scale = tf.cast(scale, dtype)
    cos_sy, tan_sx = tf.cos(shear_y), tf.tan(shear_x)
    a = tf.cos(rotation - shear_y) / cos_sy
    b = a * tan_sx + tf.sin(rotation)
    c = -tf.sin(rotation - shear_y) / cos_sy
    d = tf.cos(rotation) - c * tan_sx
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    moved_x, moved_y = center_x + shift_x, center_y + shift_y
    a2 = center_x - a0 * moved_x - a1 * moved_y
    b2 = center_y - b0 * moved_x - b1 * moved_y
    return tf.reshape(tf.stack([a0, a1, a2, b0, b1, b2], axis=-1), (-1, 2, 3))


def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height,
                     width, center_x=None, center_y=None, bounding_box_format="xyxy"):
    """Moves "xyxy" boxes (batch, n, 4) as an affine transform moves their images: rotation
    by `angle` degrees, translation by fractions of the image, `scale`, shears in degrees
    (one value per image each), about (center_x, center_y) (fractions, default the center).
    Each result is the axis-aligned box around the moved corners.

    >>> import tensorflux as tf
    >>> from tensorflux.keras.utils import bounding_boxes
    >>> zeros, ones = tf.zeros((1,)), tf.ones((1,))
    >>> bounding_boxes.affine_transform([[[1.0, 1.0, 3.0, 2.0]]], zeros, ones * 0.25, zeros,
    ...                                 ones, zeros, zeros, height=5, width=5
    ...                                 ).numpy().tolist()
    [[[2.0, 1.0, 4.0, 2.0]]]
    """
    _check_xyxy(bounding_box_format, "affine_transform")
    tf = _tf()
    angle = tf.convert_to_tensor(angle)
    if not angle.dtype.is_floating:
        angle = tf.cast(angle, "float32")
    matrix = _inverse_affine_matrix(0.5 if center_x is None else center_x,
                                    0.5 if center_y is None else center_y, angle,
                                    translate_x, translate_y, scale, shear_x, shear_y,
                                    height, width)
    boxes = tf.cast(tf.convert_to_tensor(boxes), matrix.dtype)
    x1, y1, x2, y2 = (column[..., 0] for column in _columns(boxes))
    xs = tf.stack([x1, x2, x2, x1], axis=-1)
    ys = tf.stack([y1, y1, y2, y2], axis=-1)
    # One matrix per image: (batch, 1, 1) coefficients against (batch, n, 4) corners.
    coefficient = [tf.reshape(matrix[:, row, col], (-1, 1, 1))
                   for row in range(2) for col in range(3)]
    a0, a1, a2, b0, b1, b2 = coefficient
    new_x = xs * a0 + ys * a1 + a2
    new_y = xs * b0 + ys * b1 + b2
    return tf.stack([tf.reduce_min(new_x, axis=-1), tf.reduce_min(new_y, axis=-1),
                     tf.reduce_max(new_x, axis=-1), tf.reduce_max(new_y, axis=-1)], axis=-1)


# ---------------------------------------------------------------------- IoU

def _image_size(image_shape):
    if image_shape is None:
        return None, None
    height, width, _ = image_shape
    return height, width


def _swap_last(x):
    """x with its last two axes swapped."""
    rank = len(x.shape)
    return _tf().transpose(x, [1, 0] if rank == 2 else [0, 2, 1])


def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1,
                image_shape=None):
    """Pairwise IoU of boxes1 (m, 4) or (batch, m, 4) and boxes2 (n, 4) or (batch, n, 4):
    (m, n) or (batch, m, n). With `use_masking`, pairs where a box has all coordinates
    negative (padding) get `mask_val`. Relative formats need `image_shape` (h, w, c).

    >>> from tensorflux.keras.utils import bounding_boxes
    >>> iou = bounding_boxes.compute_iou([[0.0, 0.0, 2.0, 2.0]],
    ...                                  [[1.0, 0.0, 3.0, 2.0], [4.0, 4.0, 5.0, 5.0]], "xyxy")
    >>> [round(v, 4) for v in iou.numpy()[0].tolist()]
    [0.3333, 0.0]
    """
    tf = _tf()
    boxes1, boxes2 = tf.convert_to_tensor(boxes1), tf.convert_to_tensor(boxes2)
    rank1, rank2 = len(boxes1.shape), len(boxes2.shape)
    for name, rank in (("boxes1", rank1), ("boxes2", rank2)):
        if rank not in (2, 3):
            raise ValueError(f"compute_iou() expects {name} to be batched (rank 3) or "
                             f"unbatched (rank 2). Received len(boxes1.shape)={rank1}, "
                             f"len(boxes2.shape)={rank2}.")
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError("When using relative bounding box formats (e.g. `rel_yxyx`) the "
                         f"`image_shape` argument must be provided. Received `image_shape`: "
                         f"{image_shape}")
    height, width = _image_size(image_shape)
    boxes1 = convert_format(boxes1, bounding_box_format, "yxyx", height=height, width=width)
    boxes2 = convert_format(boxes2, bounding_box_format, "yxyx", height=height, width=width)
    top1, left1, bottom1, right1 = _columns(boxes1)
    top2, left2, bottom2, right2 = (_swap_last(c) for c in _columns(boxes2))
    zero = tf.zeros((), boxes1.dtype)
    inter_h = tf.maximum(zero, tf.minimum(bottom1, bottom2) - tf.maximum(top1, top2))
    inter_w = tf.maximum(zero, tf.minimum(right1, right2) - tf.maximum(left1, left2))
    intersection = inter_h * inter_w
    area1 = (bottom1 - top1) * (right1 - left1)
    area2 = (bottom2 - top2) * (right2 - left2)
    iou = intersection / (area1 + area2 - intersection + _epsilon())
    if not use_masking:
        return iou
    padding1 = tf.reduce_max(boxes1, axis=-1, keepdims=True) < 0.0
    padding2 = _swap_last(tf.reduce_max(boxes2, axis=-1, keepdims=True) < 0.0)
    return tf.where(tf.logical_or(padding1, padding2),
                    tf.cast(mask_val, iou.dtype) * tf.ones_like(iou), iou)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """Complete IoU of matching boxes (..., 4): IoU minus the squared center distance over
    the squared diagonal of the enclosing box, minus the aspect-ratio term. (As Keras,
    relative formats are refused.)

    >>> from tensorflux.keras.utils import bounding_boxes
    >>> ciou = bounding_boxes.compute_ciou([[0.0, 0.0, 2.0, 2.0]], [[0.0, 0.0, 2.0, 2.0]],
    ...                                    "xyxy")
    >>> round(float(ciou[0]), 4)
    1.0
    """
    if "rel" in bounding_box_format:
        raise ValueError("compute_ciou() does not support relative bounding box formats; "
                         f"received bounding_box_format={bounding_box_format!r}")
    tf = _tf()
    eps = _epsilon()
    height, width = _image_size(image_shape)
    boxes1 = convert_format(boxes1, bounding_box_format, "xyxy", height=height, width=width)
    boxes2 = convert_format(boxes2, bounding_box_format, "xyxy", height=height, width=width)
    left1, top1, right1, bottom1 = _columns(boxes1)
    left2, top2, right2, bottom2 = _columns(boxes2)
    width1, height1 = right1 - left1, bottom1 - top1 + eps
    width2, height2 = right2 - left2, bottom2 - top2 + eps
    zero = tf.zeros((), boxes1.dtype)
    intersection = (tf.maximum(tf.minimum(right1, right2) - tf.maximum(left1, left2), zero)
                    * tf.maximum(tf.minimum(bottom1, bottom2) - tf.maximum(top1, top2), zero))
    union = width1 * height1 + width2 * height2 - intersection + eps
    iou = tf.squeeze(intersection / (union + eps), axis=-1)
    enclosing_w = tf.maximum(right1, right2) - tf.minimum(left1, left2)
    enclosing_h = tf.maximum(bottom1, bottom2) - tf.minimum(top1, top2)
    diagonal = tf.squeeze(enclosing_w ** 2 + enclosing_h ** 2 + eps, axis=-1)
    centers = tf.squeeze(((left1 + right1) / 2 - (left2 + right2) / 2) ** 2
                         + ((top1 + bottom1) / 2 - (top2 + bottom2) / 2) ** 2, axis=-1)
    aspect = tf.squeeze((4 / math.pi ** 2) * (tf.math.atan(width2 / height2)
                                               - tf.math.atan(width1 / height1)) ** 2,
                        axis=-1)
    alpha = aspect / (aspect - iou + (1 + eps))
    return iou - (centers / diagonal + aspect * alpha)


# ---------------------------------------------------------------------- anchor deltas

_CENTER_FORMATS = ("center_xywh", "center_yxhw")


def _variance(variance):
    if variance is None:
        return None
    variance = _tf().convert_to_tensor(variance, "float32")
    if variance.shape[-1] != 4:
        raise ValueError(f"`variance` must be length 4, got {variance}")
    return variance


def encode_box_to_deltas(anchors, boxes, anchor_format, box_format,
                         encoding_format="center_yxhw", variance=None, image_shape=None):
    """Regression targets of `boxes` against `anchors` (n, 4): center offsets over the
    anchor's size and log size ratios, in `encoding_format` order ("center_yxhw" or
    "center_xywh"), divided by `variance` when given.

    >>> from tensorflux.keras.utils import bounding_boxes
    >>> deltas = bounding_boxes.encode_box_to_deltas(
    ...     [[0.0, 0.0, 4.0, 4.0]], [[1.0, 0.0, 5.0, 8.0]], "xyxy", "xyxy")
    >>> [round(v, 4) for v in deltas.numpy()[0].tolist()]
    [0.5, 0.25, 0.6931, 0.0]
    """
    tf = _tf()
    variance = _variance(variance)
    if encoding_format not in _CENTER_FORMATS:
        raise ValueError("`encoding_format` should be one of 'center_xywh' or "
                         f"'center_yxhw', got {encoding_format}")
    height, width = _image_size(image_shape)
    anchors = convert_format(anchors, anchor_format, encoding_format, height=height,
                             width=width)
    boxes = convert_format(boxes, box_format, encoding_format, height=height, width=width)
    anchor_size = tf.maximum(anchors[..., 2:], _epsilon())
    box_size = tf.maximum(boxes[..., 2:], _epsilon())
    deltas = tf.concat([(boxes[..., :2] - anchors[..., :2]) / anchor_size,
                        tf.math.log(box_size / anchor_size)], axis=-1)
    return deltas if variance is None else deltas / variance


def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format,
                           encoded_format="center_yxhw", variance=None, image_shape=None):
    """The inverse of encode_box_to_deltas: boxes in `box_format` from `anchors` and their
    deltas (dicts of per-level anchors and deltas give a dict of boxes).

    >>> from tensorflux.keras.utils import bounding_boxes
    >>> boxes = bounding_boxes.decode_deltas_to_boxes(
    ...     [[0.0, 0.0, 4.0, 4.0]], [[0.5, 0.25, 0.6931472, 0.0]], "xyxy", "xyxy")
    >>> [round(v, 4) for v in boxes.numpy()[0].tolist()]
    [1.0, 0.0, 5.0, 8.0]
    """
    tf = _tf()
    variance = _variance(variance)
    if encoded_format not in _CENTER_FORMATS:
        raise ValueError("`encoded_format` should be 'center_xywh' or 'center_yxhw', but "
                         f"got '{encoded_format}'.")
    height, width = _image_size(image_shape)

    def decode(anchor, delta):
        anchor = convert_format(anchor, anchor_format, encoded_format, height=height,
                                width=width)
        delta = tf.cast(tf.convert_to_tensor(delta), anchor.dtype)
        if variance is not None:
            delta = delta * variance
        box = tf.concat([delta[..., :2] * anchor[..., 2:] + anchor[..., :2],
                         tf.exp(delta[..., 2:]) * anchor[..., 2:]], axis=-1)
        return convert_format(box, encoded_format, box_format, height=height, width=width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)
