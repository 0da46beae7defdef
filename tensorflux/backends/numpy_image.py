"""Box kernels of the NumPy backend for tf.image: greedy non-max suppression (plain, soft and
per class), crop_and_resize with both of its gradients, bounding-box drawing and the search
for a randomly distorted crop.

Non-max suppression is sequential: each box is kept or dropped depending on the boxes kept
before it. Candidates go in descending score, equal scores in index order, and the overlap
of two boxes is TensorFlow's: corners put in order first, IoU computed in float32 (the boxes'
dtype for float64), and 0 when either box has no area. crop_and_resize samples in float32 as
TensorFlow's kernel does.
"""

import heapq
import math

import numpy as np

__all__ = ["image_non_max_suppression", "image_combined_non_max_suppression",
           "image_crop_and_resize", "image_crop_and_resize_grad_image",
           "image_crop_and_resize_grad_boxes", "image_draw_bounding_boxes",
           "image_sample_distorted_bounding_box"]


# ---------------------------------------------------------------- non-max suppression

def _compute_dtype(dtype):
    return np.float64 if dtype == np.float64 else np.float32


def _iou_function(boxes, tiled):
    """similarity(candidates, chosen): the IoU of boxes[candidates] (indices) with the box
    boxes[chosen]. tiled: the union widened by 1e-8 and no special case for empty boxes, as
    TensorFlow's tiled non_max_suppression_padded computes it."""
    dtype = _compute_dtype(boxes.dtype)
    boxes = np.asarray(boxes, dtype=dtype)
    low = np.minimum(boxes[:, :2], boxes[:, 2:])
    high = np.maximum(boxes[:, :2], boxes[:, 2:])
    areas = (high[:, 0] - low[:, 0]) * (high[:, 1] - low[:, 1])
    epsilon = dtype(1e-8)

    def similarity(candidates, chosen):
        top = np.maximum(low[candidates], low[chosen])
        bottom = np.minimum(high[candidates], high[chosen])
        extent = np.maximum(bottom - top, dtype(0))
        inter = extent[..., 0] * extent[..., 1]
        union = areas[candidates] + areas[chosen] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            if tiled:
                return inter / (union + epsilon)
            iou = inter / union
        return np.where((areas[candidates] <= 0) | (areas[chosen] <= 0), dtype(0), iou)

    return similarity


def _overlap_function(overlaps):
    overlaps = np.asarray(overlaps)

    def similarity(candidates, chosen):
        return overlaps[candidates, chosen]

    return similarity


def _score_order(scores, score_threshold):
    """Indices of the scores above score_threshold, highest first, ties in index order."""
    candidates = np.flatnonzero(scores > score_threshold)
    return candidates[np.argsort(-scores[candidates], kind="stable")]


def _hard_suppression(similarity, scores, max_output_size, threshold, score_threshold,
                      inclusive=False):
    """Greedy NMS: keep the best remaining box, drop the others that overlap it by more
    than `threshold` (or as much, when inclusive), repeat."""
    remaining = _score_order(scores, score_threshold)
    chosen = []
    while remaining.size and len(chosen) < max_output_size:
        best, rest = remaining[0], remaining[1:]
        chosen.append(best)
        overlap = similarity(rest, best)
        remaining = rest[~(overlap >= threshold if inclusive else overlap > threshold)]
    return np.asarray(chosen, dtype=np.int64)


def _soft_suppression(similarity, scores, max_output_size, sigma, score_threshold):
    """Soft-NMS (Bodla et al.) with a Gaussian penalty: a candidate's score is multiplied by
    exp(-iou^2 / (2 sigma)) for each box kept since it was last scored; it is kept when no
    kept box lowered it, requeued while above score_threshold otherwise."""
    dtype = scores.dtype.type
    scale = dtype(-0.5) / dtype(sigma)
    queue = [(-float(scores[i]), int(i), 0) for i in _score_order(scores, score_threshold)]
    heapq.heapify(queue)
    chosen, chosen_scores = [], []
    while queue and len(chosen) < max_output_size:
        negative, index, begin = heapq.heappop(queue)
        original = score = dtype(-negative)
        for j in range(len(chosen) - 1, begin - 1, -1):
            iou = dtype(similarity(index, chosen[j]))
            score = dtype(score * dtype(np.exp(scale * iou * iou)))
            if score <= score_threshold:
                break
        if score == original:
            chosen.append(index)
            chosen_scores.append(score)
        elif score > score_threshold:
            heapq.heappush(queue, (-float(score), index, len(chosen)))
    return np.asarray(chosen, dtype=np.int64), np.asarray(chosen_scores, dtype=scores.dtype)


def image_non_max_suppression(boxes, scores, iou_threshold, score_threshold, soft_nms_sigma, *,
                              max_output_size, overlaps, tiled, padded):
    scores = np.asarray(scores)
    similarity = _overlap_function(boxes) if overlaps else _iou_function(boxes, tiled)
    threshold, floor = float(iou_threshold), scores.dtype.type(score_threshold)
    if float(soft_nms_sigma) > 0:
        chosen, kept = _soft_suppression(similarity, scores, max_output_size,
                                         float(soft_nms_sigma), floor)
    else:
        chosen = _hard_suppression(similarity, scores, max_output_size, threshold, floor,
                                   inclusive=tiled)
        kept = scores[chosen]
    count = np.int32(chosen.size)
    if padded:
        pad = max_output_size - chosen.size
        chosen, kept = np.pad(chosen, (0, pad)), np.pad(kept, (0, pad))
    return chosen.astype(np.int32), kept, count


def image_combined_non_max_suppression(boxes, scores, iou_threshold, score_threshold, *,
                                       max_output_size_per_class, max_total_size,
                                       pad_per_class, clip_boxes):
    batch, _, shared, _ = boxes.shape
    classes = scores.shape[2]
    size = max_total_size
    if pad_per_class:
        size = min(max_total_size, max_output_size_per_class * classes)
    out_boxes = np.zeros((batch, size, 4), np.float32)
    out_scores = np.zeros((batch, size), np.float32)
    out_classes = np.zeros((batch, size), np.float32)
    valid = np.zeros((batch,), np.int32)
    threshold, floor = float(iou_threshold), np.float32(score_threshold)
    for b in range(batch):
        found = []  # (score, class, box) in class order, each class's picks in their order
        for c in range(classes):
            class_boxes = boxes[b, :, c if shared > 1 else 0]
            class_scores = scores[b, :, c].astype(np.float32)
            chosen = _hard_suppression(_iou_function(class_boxes, False), class_scores,
                                       max_output_size_per_class, threshold, floor)
            found.extend((class_scores[i], c, class_boxes[i]) for i in chosen)
        # TensorFlow orders equal scores of different classes arbitrarily: here, by class.
        found.sort(key=lambda pick: -pick[0])
        found = found[:size]
        valid[b] = len(found)
        for k, (score, c, box) in enumerate(found):
            out_boxes[b, k] = np.clip(box, 0, 1) if clip_boxes else box
            out_scores[b, k] = score
            out_classes[b, k] = c
    return out_boxes, out_scores, out_classes, valid


# ---------------------------------------------------------------- crop_and_resize

def _axis_samples(start, end, size, crop):
    """In float32 as TensorFlow: the sample positions [boxes, crop] along one image axis of
    `size` pixels for normalized box edges `start`, `end` ([boxes]), whether each lies inside
    the image, and d position / d start and d position / d end ([crop] or scalars)."""
    span = np.float32(size - 1)
    if crop > 1:
        steps = np.arange(crop, dtype=np.float32)
        scale = (end - start) * span / np.float32(crop - 1)
        position = start[:, None] * span + steps[None, :] * scale[:, None]
        d_end = steps * span / np.float32(crop - 1)
        d_start = span - d_end
    else:
        middle = 0.5 * (start.astype(np.float64) + end.astype(np.float64)) * (size - 1)
        position = middle.astype(np.float32)[:, None]
        d_start = d_end = np.full((1,), 0.5 * (size - 1), np.float32)
    inside = (position >= 0) & (position <= size - 1)
    return position, inside, d_start, d_end


def _taps(position, inside, size):
    """(floor, ceil, fraction) of bilinear sample positions, indices clamped into the image."""
    low = np.floor(position)
    fraction = position - low
    high = np.ceil(position)
    clamp = size - 1
    low = np.where(inside, np.clip(low, 0, clamp), 0).astype(np.intp)
    high = np.where(inside, np.clip(high, 0, clamp), 0).astype(np.intp)
    return low, high, fraction


def _nearest(position, inside, size):
    # roundf: halves away from zero (the positions used are >= 0).
    low = np.floor(position)
    index = low + (position - low >= 0.5)
    return np.where(inside, np.clip(index, 0, size - 1), 0).astype(np.intp)


def _crop_geometry(image_shape, boxes, crop_size):
    _, height, width, _ = image_shape
    boxes = np.asarray(boxes, np.float32)
    rows = _axis_samples(boxes[:, 0], boxes[:, 2], height, crop_size[0])
    cols = _axis_samples(boxes[:, 1], boxes[:, 3], width, crop_size[1])
    return rows, cols


def _corners(image, box_indices, rows, cols):
    """The four neighbours [boxes, crop_h, crop_w, channels] in float32 and the fractions."""
    _, height, width, _ = image.shape
    top, bottom, y_frac = _taps(rows[0], rows[1], height)
    left, right, x_frac = _taps(cols[0], cols[1], width)
    b = np.asarray(box_indices).astype(np.intp)[:, None, None]

    def pick(r, c):
        return image[b, r[:, :, None], c[:, None, :]].astype(np.float32)

    return (pick(top, left), pick(top, right), pick(bottom, left), pick(bottom, right),
            y_frac[:, :, None, None], x_frac[:, None, :, None])


def image_crop_and_resize(image, boxes, box_indices, *, crop_size, method, extrapolation_value):
    rows, cols = _crop_geometry(image.shape, boxes, crop_size)
    inside = (rows[1][:, :, None] & cols[1][:, None, :])[..., None]
    if method == "nearest":
        b = np.asarray(box_indices).astype(np.intp)[:, None, None]
        r = _nearest(rows[0], rows[1], image.shape[1])
        c = _nearest(cols[0], cols[1], image.shape[2])
        values = image[b, r[:, :, None], c[:, None, :]].astype(np.float32)
    else:
        top_left, top_right, bottom_left, bottom_right, y_frac, x_frac = _corners(
            image, box_indices, rows, cols)
        top = top_left + (top_right - top_left) * x_frac
        bottom = bottom_left + (bottom_right - bottom_left) * x_frac
        values = top + (bottom - top) * y_frac
    return np.where(inside, values, np.float32(extrapolation_value))


def image_crop_and_resize_grad_image(grads, boxes, box_indices, *, image_shape, method):
    rows, cols = _crop_geometry(image_shape, boxes, grads.shape[1:3])
    inside = (rows[1][:, :, None] & cols[1][:, None, :])[..., None]
    grads = np.where(inside, grads.astype(np.float32), np.float32(0))
    out = np.zeros(image_shape, np.float32)
    b = np.broadcast_to(np.asarray(box_indices).astype(np.intp)[:, None, None],
                        grads.shape[:3])
    _, height, width, _ = image_shape
    if method == "nearest":
        r = _nearest(rows[0], rows[1], height)[:, :, None]
        c = _nearest(cols[0], cols[1], width)[:, None, :]
        np.add.at(out, (b, r, c), grads)
        return out
    top, bottom, y_frac = _taps(rows[0], rows[1], height)
    left, right, x_frac = _taps(cols[0], cols[1], width)
    y_frac, x_frac = y_frac[:, :, None, None], x_frac[:, None, :, None]
    to_top, to_bottom = grads * (1 - y_frac), grads * y_frac
    for r, share in ((top, to_top), (bottom, to_bottom)):
        np.add.at(out, (b, r[:, :, None], left[:, None, :]), share * (1 - x_frac))
        np.add.at(out, (b, r[:, :, None], right[:, None, :]), share * x_frac)
    return out


def image_crop_and_resize_grad_boxes(grads, image, boxes, box_indices):
    # TensorFlow differentiates the bilinear sampling whatever the method, with zero slope
    # where a position falls on a pixel exactly (floor == ceil) or outside the image.
    rows, cols = _crop_geometry(image.shape, boxes, grads.shape[1:3])
    inside = (rows[1][:, :, None] & cols[1][:, None, :])[..., None]
    grads = np.where(inside, grads.astype(np.float32), np.float32(0))
    top_left, top_right, bottom_left, bottom_right, y_frac, x_frac = _corners(
        image, box_indices, rows, cols)
    slope_y = (1 - x_frac) * (bottom_left - top_left) + x_frac * (bottom_right - top_right)
    slope_x = (1 - y_frac) * (top_right - top_left) + y_frac * (bottom_right - bottom_left)
    along_y = (grads * slope_y).sum(axis=(2, 3))  # [boxes, crop_h]
    along_x = (grads * slope_x).sum(axis=(1, 3))  # [boxes, crop_w]
    out = np.stack([along_y @ rows[2], along_x @ cols[2], along_y @ rows[3],
                    along_x @ cols[3]], axis=1)
    return out.astype(np.float32)


# ---------------------------------------------------------------- drawing and sampling

def image_draw_bounding_boxes(images, boxes, colors):
    out = np.array(images, copy=True)
    _, height, width, depth = out.shape
    for b in range(out.shape[0]):
        for k in range(boxes.shape[1]):
            color = colors[k % colors.shape[0], :depth].astype(out.dtype)
            # float32 products truncated toward zero, as TensorFlow's kernel.
            edges = np.asarray(boxes[b, k], np.float32) * np.float32(
                [height - 1, width - 1, height - 1, width - 1])
            top, left, bottom, right = (int(v) for v in edges)
            if top > bottom or left > right:
                continue  # an inverted box is not drawn
            if top >= height or bottom < 0 or left >= width or right < 0:
                continue  # nor one wholly outside the image
            rows = slice(max(top, 0), min(bottom, height - 1) + 1)
            cols = slice(max(left, 0), min(right, width - 1) + 1)
            if top >= 0:
                out[b, top, cols] = color
            if bottom < height:
                out[b, bottom, cols] = color
            if left >= 0:
                out[b, rows, left] = color
            if right < width:
                out[b, rows, right] = color
    return out


def _random_crop(height, width, aspect_ratio, area_range, pick_height, pick_y, pick_x):
    """(y, x, crop_height, crop_width) of a crop with the given aspect ratio (width / height)
    whose area lies in area_range (fractions of the image), its height and offsets chosen by
    the uniforms pick_*; None when no such crop fits the image."""
    min_area = area_range[0] * height * width
    max_area = area_range[1] * height * width
    lowest = round(math.sqrt(min_area / aspect_ratio))
    highest = round(math.sqrt(max_area / aspect_ratio))
    if round(highest * aspect_ratio) > width:
        # The tallest crop whose rounded width still fits.
        highest = int((width + 0.5) / aspect_ratio)
        while highest > 0 and round(highest * aspect_ratio) > width:
            highest -= 1
    highest = min(highest, height)
    lowest = min(lowest, highest)
    crop_h = lowest + min(int(pick_height * (highest - lowest + 1)), highest - lowest)
    crop_w = round(crop_h * aspect_ratio)
    if crop_w * crop_h < min_area:
        crop_h += 1
        crop_w = round(crop_h * aspect_ratio)
    if crop_w * crop_h > max_area:
        crop_h -= 1
        crop_w = round(crop_h * aspect_ratio)
    area = crop_w * crop_h
    if not (min_area <= area <= max_area and 0 < crop_w <= width and 0 < crop_h <= height):
        return None
    y = min(int(pick_y * (height - crop_h + 1)), height - crop_h)
    x = min(int(pick_x * (width - crop_w + 1)), width - crop_w)
    return y, x, crop_h, crop_w


def _covers(crop, boxes, height, width, min_object_covered):
    """Whether the crop covers at least min_object_covered of one box's area."""
    y, x, crop_h, crop_w = crop
    for box in boxes:
        top, left = box[0] * height, box[1] * width
        bottom, right = box[2] * height, box[3] * width
        area = (bottom - top) * (right - left)
        if area <= 0:
            continue
        inter = (max(min(bottom, y + crop_h) - max(top, y), 0)
                 * max(min(right, x + crop_w) - max(left, x), 0))
        if inter / area >= min_object_covered:
            return True
    return False


def image_sample_distorted_bounding_box(image_size, boxes, uniforms, *, min_object_covered,
                                        aspect_ratio_range, area_range):
    height, width = int(image_size[0]), int(image_size[1])
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4).tolist()
    crop = None
    for draw in np.asarray(uniforms, np.float64).tolist():
        low, high = aspect_ratio_range
        aspect_ratio = low + draw[0] * (high - low)
        candidate = _random_crop(height, width, aspect_ratio, area_range, *draw[1:])
        if candidate is not None and _covers(candidate, boxes, height, width,
                                             min_object_covered):
            crop = candidate
            break
    y, x, crop_h, crop_w = crop or (0, 0, height, width)
    dtype = np.asarray(image_size).dtype
    begin = np.array([y, x, 0], dtype)
    size = np.array([crop_h, crop_w, -1], dtype)
    bbox = np.array([[[y / height, x / width, (y + crop_h) / height, (x + crop_w) / width]]],
                    np.float32)
    return begin, size, bbox
