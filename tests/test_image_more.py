"""tf.image box ops, stateless augmentations, edges, YIQ/YUV and MS-SSIM.

References: NumPy float64 implementations of TensorFlow's documented algorithms written here
(greedy and Soft-NMS, bilinear crop sampling, Sobel, total variation, MS-SSIM), central
finite differences of those for gradients, and small arrays observed from TensorFlow 2.21
(CPU) given as literals. The literals were printed by running the same calls on
`tf.constant`s of the inputs shown here (inputs drawn from np.random.default_rng where
given), with values rounded to 6 decimals unless said otherwise.

tensorflux's stateless random ops draw from its own Philox stream, not TensorFlow's
(tf.random.stateless_uniform([4], seed=[1, 2]) differs), so the stateless image ops are
checked for their contract: determined by the seed alone, and values of the right form.
"""

import math

import numpy as np
import pytest

import tensorflux as tf
from tests.tolerances import central_difference

# ------------------------------------------------------------------ NumPy references


def _iou(a, b, tiled=False):
    """TensorFlow's IoU in float64: corners put in order, 0 for a box without area; tiled:
    non_max_suppression_padded's (union + 1e-8, no special case)."""
    a_lo, a_hi = np.minimum(a[:2], a[2:]), np.maximum(a[:2], a[2:])
    b_lo, b_hi = np.minimum(b[:2], b[2:]), np.maximum(b[:2], b[2:])
    area_a, area_b = np.prod(a_hi - a_lo), np.prod(b_hi - b_lo)
    inter = np.prod(np.maximum(np.minimum(a_hi, b_hi) - np.maximum(a_lo, b_lo), 0))
    if tiled:
        return inter / (area_a + area_b - inter + 1e-8)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    return inter / (area_a + area_b - inter)


def _by_score(scores, score_threshold):
    candidates = [i for i in range(len(scores)) if scores[i] > score_threshold]
    return sorted(candidates, key=lambda i: (-scores[i], i))


def _nms_ref(boxes, scores, max_out, iou_threshold, score_threshold=-np.inf, tiled=False):
    boxes, scores = np.asarray(boxes, np.float64), np.asarray(scores, np.float64)
    keep = []
    for i in _by_score(scores, score_threshold):
        if len(keep) == max_out:
            break
        overlaps = [_iou(boxes[i], boxes[j], tiled) for j in keep]
        if all((o < iou_threshold) if tiled else (o <= iou_threshold) for o in overlaps):
            keep.append(i)
    return keep


def _soft_nms_ref(boxes, scores, max_out, sigma, score_threshold=-np.inf):
    """Soft-NMS, eagerly: take the best, decay every other score by exp(-iou^2 / (2 sigma)),
    drop those not above score_threshold, repeat."""
    boxes = np.asarray(boxes, np.float64)
    live = {i: float(scores[i]) for i in _by_score(scores, score_threshold)}
    keep, kept = [], []
    while live and len(keep) < max_out:
        best = max(live, key=lambda k: (live[k], -k))
        keep.append(best)
        kept.append(live.pop(best))
        for k in list(live):
            live[k] *= math.exp(-_iou(boxes[k], boxes[best]) ** 2 / (2 * sigma))
            if live[k] <= score_threshold:
                del live[k]
    return keep, kept


def _random_boxes(rng, n, flip=0.3):
    centers = rng.uniform(0, 1, (n, 2))
    sizes = rng.uniform(0.05, 0.4, (n, 2))
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], 1)
    flipped = rng.random(n) < flip  # [y2, x2, y1, x1]: either corner may come first
    boxes[flipped] = boxes[flipped][:, [2, 3, 0, 1]]
    return boxes.astype(np.float32)


def _round_half_up(v):
    return int(math.floor(v + 0.5))


def _crop_ref(image, boxes, box_indices, crop, method="bilinear", extrapolation=0.0):
    """crop_and_resize per output pixel in float64, from TensorFlow's documented sampling."""
    _, height, width, channels = image.shape
    rows, cols = crop
    out = np.empty((len(boxes), rows, cols, channels))

    def position(start, end, k, count, size):
        if count > 1:
            return start * (size - 1) + k * (end - start) * (size - 1) / (count - 1)
        return 0.5 * (start + end) * (size - 1)

    for n, (y1, x1, y2, x2) in enumerate(np.asarray(boxes, np.float64)):
        img = image[box_indices[n]].astype(np.float64)
        for i in range(rows):
            y = position(y1, y2, i, rows, height)
            for j in range(cols):
                x = position(x1, x2, j, cols, width)
                if not (0 <= y <= height - 1 and 0 <= x <= width - 1):
                    out[n, i, j] = extrapolation
                elif method == "nearest":
                    out[n, i, j] = img[_round_half_up(y), _round_half_up(x)]
                else:
                    top, left = math.floor(y), math.floor(x)
                    bottom, right = math.ceil(y), math.ceil(x)
                    fy, fx = y - top, x - left
                    upper = img[top, left] * (1 - fx) + img[top, right] * fx
                    lower = img[bottom, left] * (1 - fx) + img[bottom, right] * fx
                    out[n, i, j] = upper * (1 - fy) + lower * fy
    return out


# ------------------------------------------------------------------ non-max suppression


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_out,iou_threshold,score_threshold",
                         [(20, 0.5, -np.inf), (60, 0.3, 0.4), (5, 0.7, -np.inf),
                          (60, 0.0, 0.1)])
def test_non_max_suppression_matches_greedy_reference(seed, max_out, iou_threshold,
                                                      score_threshold):
    rng = np.random.default_rng(seed)
    boxes, scores = _random_boxes(rng, 60), rng.uniform(0, 1, 60).astype(np.float32)
    got = tf.image.non_max_suppression(boxes, scores, max_out, iou_threshold, score_threshold)
    assert got.dtype == tf.int32
    assert got.numpy().tolist() == _nms_ref(boxes, scores, max_out, iou_threshold,
                                            score_threshold)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("sigma,score_threshold", [(0.5, -np.inf), (0.2, 0.3), (1.0, 0.05)])
def test_soft_nms_matches_reference(seed, sigma, score_threshold):
    rng = np.random.default_rng(seed)
    boxes, scores = _random_boxes(rng, 40), rng.uniform(0, 1, 40).astype(np.float32)
    indices, kept = tf.image.non_max_suppression_with_scores(
        boxes, scores, 30, iou_threshold=0.5, score_threshold=score_threshold,
        soft_nms_sigma=sigma)
    want_indices, want_scores = _soft_nms_ref(boxes, scores, 30, sigma, score_threshold)
    assert indices.numpy().tolist() == want_indices
    np.testing.assert_allclose(kept.numpy(), want_scores, rtol=1e-5)


def test_with_scores_without_sigma_returns_the_original_scores():
    rng = np.random.default_rng(3)
    boxes, scores = _random_boxes(rng, 30), rng.uniform(0, 1, 30).astype(np.float32)
    indices, kept = tf.image.non_max_suppression_with_scores(boxes, scores, 10, 0.4)
    assert indices.numpy().tolist() == _nms_ref(boxes, scores, 10, 0.4)
    np.testing.assert_array_equal(kept.numpy(), scores[indices.numpy()])


# 8 boxes with tied scores; expected orders observed from TensorFlow.
TIE_BOXES = [[-0.07, 0.32, 0.33, 0.68], [0.38, -0.15, 0.82, 0.21], [-0.1, 0.8, 0.4, 1.06],
             [-0.11, -0.04, 0.25, 0.3], [0.8, 0.43, 1.1, 0.81], [0.23, 0.29, 0.5, 0.73],
             [0.43, 0.16, 0.89, 0.39], [-0.03, 0.65, 0.31, 0.93]]
TIE_SCORES = [0.5, 0.7, 0.5, 0.7, 0.3, 0.5, 0.7, 0.3]


@pytest.mark.parametrize("kwargs,expected", [
    (dict(max_output_size=8, iou_threshold=0.5), [1, 3, 6, 0, 2, 5, 4, 7]),
    (dict(max_output_size=8, iou_threshold=0.1), [1, 3, 6, 0, 2, 4]),
    (dict(max_output_size=8, iou_threshold=0.1, score_threshold=0.5), [1, 3, 6]),
    (dict(max_output_size=5, iou_threshold=1.0), [1, 3, 6, 0, 2]),
])
def test_ties_go_in_index_order_as_tensorflow(kwargs, expected):
    got = tf.image.non_max_suppression(TIE_BOXES, TIE_SCORES, **kwargs)
    assert got.numpy().tolist() == expected


def test_soft_nms_on_ties_matches_tensorflow():
    indices, kept = tf.image.non_max_suppression_with_scores(
        TIE_BOXES, TIE_SCORES, 8, 0.5, score_threshold=0.2, soft_nms_sigma=0.3)
    assert indices.numpy().tolist() == [1, 3, 6, 0, 2, 5, 4, 7]
    np.testing.assert_allclose(kept.numpy(), [0.7, 0.7, 0.69263, 0.5, 0.5, 0.478612, 0.3,
                                              0.270292], atol=2e-6)


def test_soft_nms_ignores_the_iou_threshold_as_tensorflow():
    boxes = [[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, 0.6, 1, 1.6], [0, 0.3, 1, 1.3]]
    for threshold in (0.2, 0.5, 1.0):
        indices, kept = tf.image.non_max_suppression_with_scores(
            boxes, [0.9, 0.85, 0.8, 0.7], 4, iou_threshold=threshold, soft_nms_sigma=0.5)
        assert indices.numpy().tolist() == [0, 2, 3, 1]
        np.testing.assert_allclose(kept.numpy(), [0.9, 0.75153047, 0.39197528, 0.2496998],
                                   rtol=1e-6)


def test_thresholds_are_strict_as_tensorflow():
    # IoU of box 0 with boxes 1 and 2 is exactly 0.5: kept at iou_threshold=0.5, while the
    # padded (tiled) variant drops at equality; a score equal to score_threshold is dropped.
    boxes = [[0, 0, 1, 1], [0, 0, 1, 0.5], [0, 0.5, 1, 1.0]]
    scores = [0.9, 0.8, 0.7]
    assert tf.image.non_max_suppression(boxes, scores, 3, 0.5).numpy().tolist() == [0, 1, 2]
    indices, count = tf.image.non_max_suppression_padded(boxes, scores, 3, 0.5)
    assert indices.numpy().tolist() == [0] and int(count) == 1
    got = tf.image.non_max_suppression(boxes, scores, 3, 1.0, score_threshold=0.8)
    assert got.numpy().tolist() == [0]


def test_padded_matches_tensorflow_and_reference():
    indices, count = tf.image.non_max_suppression_padded(TIE_BOXES, TIE_SCORES, 6, 0.1,
                                                         pad_to_max_output_size=True)
    assert indices.numpy().tolist() == [1, 3, 6, 0, 2, 4] and int(count) == 6
    boxes = np.array([TIE_BOXES, TIE_BOXES[::-1]], np.float32)
    scores = np.array([TIE_SCORES, [0.9 * s for s in TIE_SCORES[::-1]]], np.float32)
    indices, count = tf.image.non_max_suppression_padded(boxes, scores, 5, 0.2, 0.4,
                                                         pad_to_max_output_size=True)
    assert indices.numpy().tolist() == [[1, 3, 6, 0, 2], [1, 4, 6, 2, 5]]  # (TensorFlow)
    assert count.numpy().tolist() == [5, 5]
    rng = np.random.default_rng(4)
    boxes = np.stack([_random_boxes(rng, 40, flip=0) for _ in range(6)]).reshape(2, 3, 40, 4)
    scores = rng.uniform(0, 1, (2, 3, 40)).astype(np.float32)
    indices, count = tf.image.non_max_suppression_padded(boxes, scores, 25, 0.4, 0.3,
                                                         pad_to_max_output_size=True)
    assert indices.shape == (2, 3, 25) and count.shape == (2, 3)
    for b in np.ndindex(2, 3):
        want = _nms_ref(boxes[b], scores[b], 25, 0.4, 0.3, tiled=True)
        assert indices.numpy()[b].tolist() == want + [0] * (25 - len(want))
        assert int(count.numpy()[b]) == len(want)


def test_padded_needs_padding_for_a_batch():
    with pytest.raises(ValueError, match="pad_to_max_output_size"):
        tf.image.non_max_suppression_padded(np.zeros((2, 3, 4), np.float32),
                                            np.zeros((2, 3), np.float32), 2)


def test_overlaps_variant_reads_candidate_rows():
    rng = np.random.default_rng(5)
    overlaps = rng.uniform(0, 1, (30, 30)).astype(np.float32)
    scores = rng.uniform(0, 1, 30).astype(np.float32)
    keep = []
    for i in _by_score(scores, 0.2):
        if len(keep) < 20 and all(overlaps[i, j] <= 0.6 for j in keep):
            keep.append(i)
    got = tf.image.non_max_suppression_overlaps(overlaps, scores, 20, 0.6, 0.2)
    assert got.numpy().tolist() == keep
    # (TensorFlow) an asymmetric matrix: candidate 1 is compared through overlaps[1, 0].
    asymmetric = np.array([[1, 0.9, 0], [0.1, 1, 0], [0, 0, 1]], np.float32)
    scores = [0.9, 0.8, 0.7]
    assert tf.image.non_max_suppression_overlaps(asymmetric, scores, 3).numpy().tolist() == [
        0, 1, 2]
    assert tf.image.non_max_suppression_overlaps(asymmetric.T, scores, 3).numpy().tolist() == [
        0, 2]


def _combined_ref(boxes, scores, per_class, total, iou_threshold, score_threshold,
                  pad_per_class=False, clip=True):
    batch, _, shared, _ = boxes.shape
    classes = scores.shape[2]
    size = min(total, per_class * classes) if pad_per_class else total
    out = [np.zeros((batch, size, 4)), np.zeros((batch, size)), np.zeros((batch, size)),
           np.zeros(batch, np.int32)]
    for b in range(batch):
        picks = []
        for c in range(classes):
            class_boxes = boxes[b, :, c if shared > 1 else 0]
            for i in _nms_ref(class_boxes, scores[b, :, c], per_class, iou_threshold,
                              score_threshold):
                picks.append((scores[b, i, c], c, class_boxes[i]))
        picks = sorted(picks, key=lambda p: -p[0])[:size]
        out[3][b] = len(picks)
        for k, (score, c, box) in enumerate(picks):
            out[0][b, k] = np.clip(box, 0, 1) if clip else box
            out[1][b, k], out[2][b, k] = score, c
    return out


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("kwargs", [
    dict(max_output_size_per_class=5, max_total_size=12),
    dict(max_output_size_per_class=4, max_total_size=50, pad_per_class=True,
         score_threshold=0.3),
    dict(max_output_size_per_class=10, max_total_size=8, clip_boxes=False, iou_threshold=0.3),
])
def test_combined_non_max_suppression_matches_reference(shared, kwargs):
    rng = np.random.default_rng(6)
    corners = rng.uniform(-0.2, 1.0, (2, 30, 1 if shared else 3, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(0.05, 0.5, corners.shape)], -1)
    boxes, scores = boxes.astype(np.float32), rng.uniform(0, 1, (2, 30, 3)).astype(np.float32)
    got = tf.image.combined_non_max_suppression(boxes, scores, **kwargs)
    want = _combined_ref(boxes, scores, kwargs["max_output_size_per_class"],
                         kwargs["max_total_size"], kwargs.get("iou_threshold", 0.5),
                         kwargs.get("score_threshold", -np.inf),
                         kwargs.get("pad_per_class", False), kwargs.get("clip_boxes", True))
    for tensor, expected in zip(got, want):
        np.testing.assert_allclose(tensor.numpy(), expected, rtol=1e-6)
    assert [t.dtype for t in got] == [tf.float32, tf.float32, tf.float32, tf.int32]


def test_combined_clips_the_boxes_as_given_as_tensorflow():
    boxes = [[[[1, 1.2, 0.2, -0.1]], [[0.5, 0.5, 0.6, 0.6]]]]
    out = tf.image.combined_non_max_suppression(boxes, [[[0.9], [0.8]]], 2, 3)
    np.testing.assert_allclose(out[0].numpy(), [[[1, 1, 0.2, 0], [0.5, 0.5, 0.6, 0.6],
                                                 [0, 0, 0, 0]]], rtol=1e-6)
    assert out[3].numpy().tolist() == [2]


def test_nms_traces_and_rejects_bad_arguments():
    rng = np.random.default_rng(8)
    boxes, scores = _random_boxes(rng, 12), rng.uniform(0, 1, 12).astype(np.float32)
    traced = tf.function(lambda b, s: tf.image.non_max_suppression(b, s, 6, 0.3))
    assert traced(boxes, scores).numpy().tolist() == _nms_ref(boxes, scores, 6, 0.3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"iou_threshold must be in"):
        tf.image.non_max_suppression(boxes, scores, 3, 1.5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_output_size"):
        tf.image.non_max_suppression(boxes, scores, -1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one per box"):
        tf.image.non_max_suppression(boxes, scores[:5], 3)
    assert tf.image.non_max_suppression(np.zeros((0, 4)), np.zeros(0), 3).shape == (0,)


# ------------------------------------------------------------------ crop_and_resize

# (TensorFlow) image arange(40).reshape(2, 4, 5, 1), these boxes and box indices, crop [3, 2],
# extrapolation_value=-1; gradients of sum(out * arange(24).reshape(4, 3, 2, 1)) without
# extrapolation (rounded to 4 and 3 decimals).
CAR_BOXES = [[0.1, 0.2, 0.9, 0.7], [-0.2, 0.5, 0.5, 1.3], [0.8, 0.9, 0.2, 0.1],
             [0.3, 0.3, 0.3, 0.3]]
CAR_TF = {
    "bilinear": (
        [[[2.3, 4.3], [8.3, 10.3], [14.3, 16.3]], [[-1.0, -1.0], [24.25, -1.0], [29.5, -1.0]],
         [[35.6, 32.4], [31.1, 27.9], [26.6, 23.4]], [[5.7, 5.7], [5.7, 5.7], [5.7, 5.7]]],
        [[[0.0, 9.84, 2.6, 0.56, 0.0], [0.2, 89.36, 22.5, 1.44, 0.0],
          [0.44, 1.76, 0.6, 2.4, 0.0], [0.56, 2.24, 0.7, 2.8, 0.0]],
         [[4.08, 2.72, 4.4, 2.56, 3.84], [10.62, 7.08, 8.6, 6.64, 9.96],
          [9.18, 6.12, 5.0, 5.68, 8.52], [3.12, 2.08, 0.0, 1.92, 2.88]]]),
    "nearest": (
        [[[1.0, 3.0], [11.0, 13.0], [16.0, 18.0]], [[-1.0, -1.0], [22.0, -1.0], [27.0, -1.0]],
         [[34.0, 30.0], [34.0, 30.0], [29.0, 25.0]], [[6.0, 6.0], [6.0, 6.0], [6.0, 6.0]]],
        [[[0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 123.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 3.0, 0.0],
          [0.0, 4.0, 0.0, 5.0, 0.0]],
         [[0.0, 0.0, 8.0, 0.0, 0.0], [17.0, 0.0, 10.0, 0.0, 16.0],
          [28.0, 0.0, 0.0, 0.0, 26.0], [0.0, 0.0, 0.0, 0.0, 0.0]]]),
}
# TensorFlow's box gradient differentiates bilinear sampling for both methods.
CAR_TF_BOX_GRAD = [[52.5, 24.0, 172.5, 36.0], [60.0, 0.0, 210.0, 0.0],
                   [592.5, 168.0, 712.5, 180.0], [862.5, 240.0, 982.5, 252.0]]


@pytest.mark.parametrize("method", ["bilinear", "nearest"])
def test_crop_and_resize_matches_tensorflow(method):
    image = tf.constant(np.arange(40, dtype=np.float32).reshape(2, 4, 5, 1))
    boxes = tf.constant(CAR_BOXES)
    weights = np.arange(24, dtype=np.float32).reshape(4, 3, 2, 1)
    out = tf.image.crop_and_resize(image, boxes, [0, 1, 1, 0], [3, 2], method=method,
                                   extrapolation_value=-1.0)
    np.testing.assert_allclose(out.numpy()[..., 0], CAR_TF[method][0], atol=1e-4)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(image)
        tape.watch(boxes)
        loss = tf.reduce_sum(tf.image.crop_and_resize(image, boxes, [0, 1, 1, 0], [3, 2],
                                                      method=method) * weights)
    np.testing.assert_allclose(tape.gradient(loss, image).numpy()[..., 0], CAR_TF[method][1],
                               atol=1e-3)
    np.testing.assert_allclose(tape.gradient(loss, boxes).numpy(), CAR_TF_BOX_GRAD, rtol=1e-5)


@pytest.mark.parametrize("method,crop", [("bilinear", (4, 3)), ("nearest", (4, 3)),
                                         ("bilinear", (1, 1))])
def test_crop_and_resize_values_and_gradients_match_references(method, crop):
    rng = np.random.default_rng(9)
    image = rng.uniform(-1, 1, (2, 5, 6, 2))
    boxes = rng.uniform(-0.3, 1.3, (5, 4))
    box_indices = np.array([0, 1, 1, 0, 1], np.int32)
    weights = rng.uniform(-1, 1, (5,) + crop + (2,))
    image32, boxes32 = tf.constant(image, tf.float32), tf.constant(boxes, tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(image32)
        tape.watch(boxes32)
        out = tf.image.crop_and_resize(image32, boxes32, box_indices, crop, method=method,
                                       extrapolation_value=0.25)
        loss = tf.reduce_sum(out * tf.constant(weights, tf.float32))
    assert out.dtype == tf.float32 and out.shape == (5,) + crop + (2,)
    boxes_f32 = boxes.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(out.numpy(), _crop_ref(image, boxes_f32, box_indices, crop,
                                                      method, 0.25), atol=2e-6)
    grad_image = central_difference(lambda x: np.sum(_crop_ref(
        x, boxes_f32, box_indices, crop, method) * weights), image)
    np.testing.assert_allclose(tape.gradient(loss, image32).numpy(), grad_image, atol=1e-5)
    # The box gradient is the bilinear sampling's for both methods (TensorFlow's).
    grad_boxes = central_difference(lambda b: np.sum(_crop_ref(
        image.astype(np.float32), b, box_indices, crop) * weights), boxes_f32)
    np.testing.assert_allclose(tape.gradient(loss, boxes32).numpy(), grad_boxes, rtol=1e-4,
                               atol=1e-4)


def test_crop_and_resize_second_order_and_traced_gradients():
    rng = np.random.default_rng(10)
    image = tf.constant(rng.uniform(0, 1, (1, 4, 4, 1)).astype(np.float32))
    boxes = tf.constant([[0.1, 0.2, 0.8, 0.7]])
    cotangent = tf.constant(rng.uniform(0, 1, (1, 3, 3, 1)).astype(np.float32))
    with tf.GradientTape() as outer:
        outer.watch(cotangent)
        with tf.GradientTape() as inner:
            inner.watch(image)
            out = tf.image.crop_and_resize(image, boxes, [0], [3, 3])
        grad = inner.gradient(out, image, output_gradients=cotangent)
        total = tf.reduce_sum(grad * image)
    # d/dcotangent of <J^T c, image> is J image: the crop itself.
    np.testing.assert_allclose(outer.gradient(total, cotangent).numpy(), out.numpy(),
                               atol=1e-6)

    @tf.function
    def box_gradient(image, boxes):
        with tf.GradientTape() as tape:
            tape.watch(boxes)
            loss = tf.reduce_sum(tf.image.crop_and_resize(image, boxes, [0], [3, 3]) ** 2)
        return tape.gradient(loss, boxes)

    with tf.GradientTape() as tape:
        tape.watch(boxes)
        loss = tf.reduce_sum(tf.image.crop_and_resize(image, boxes, [0], [3, 3]) ** 2)
    np.testing.assert_allclose(box_gradient(image, boxes).numpy(),
                               tape.gradient(loss, boxes).numpy(), rtol=1e-6)


def test_crop_and_resize_nearest_rounds_halves_up_as_tensorflow():
    # Sample positions 0.5, 1, 1.5, 2, 2.5 along a row [0, 1, 2, 3, 4] (TensorFlow's result).
    image = np.arange(5, dtype=np.float32).reshape(1, 1, 5, 1)
    out = tf.image.crop_and_resize(image, [[0, 0.125, 0, 0.625]], [0], [1, 5], "nearest")
    assert out.numpy().ravel().tolist() == [1, 1, 2, 2, 3]


def test_crop_and_resize_rejects_bad_arguments():
    image = tf.zeros([2, 3, 3, 1])
    with pytest.raises(tf.errors.OutOfRangeError, match=r"\[0, 2\)"):
        tf.image.crop_and_resize(image, [[0, 0, 1, 1.0]], [2], [2, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="crop_size"):
        tf.image.crop_and_resize(image, [[0, 0, 1, 1.0]], [0], [0, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match="method"):
        tf.image.crop_and_resize(image, [[0, 0, 1, 1.0]], [0], [2, 2], method="bicubic")
    with pytest.raises(tf.errors.InvalidArgumentError, match="one per box"):
        tf.image.crop_and_resize(image, [[0, 0, 1, 1.0]], [0, 1], [2, 2])


# ------------------------------------------------------------------ glimpses and drawing

GLIMPSE_OFFSETS = [(0.0, 0.0), (0.2, 0.3), (-0.2, -0.3), (1.0, 1.0), (1.7, 2.2), (-1.3, -0.6)]
# (TensorFlow) the top-left pixel of 3x4 glimpses of a 6x7 image at GLIMPSE_OFFSETS for
# (centered, normalized); None: the glimpse lies wholly outside the image.
GLIMPSE_CORNERS = {
    (True, True): [(1, 1), (2, 2), (0, 0), (4, 5), None, (-2, 0)],
    (True, False): [(3, 3), (3, 3), (2, 3), (4, 4), (4, 5), (1, 2)],
    (False, True): [(0, 0), (1, 2), (-1, -2), None, None, None],
    (False, False): [(0, 0), (0, 0), (0, 0), (1, 1), (1, 2), (-1, 0)],
}


@pytest.mark.parametrize("centered,normalized", list(GLIMPSE_CORNERS))
def test_extract_glimpse_positions_match_tensorflow(centered, normalized):
    image = np.arange(1, 43, dtype=np.float32).reshape(1, 6, 7, 1)
    padded = np.pad(image[0, ..., 0], 10)
    for offset, corner in zip(GLIMPSE_OFFSETS, GLIMPSE_CORNERS[(centered, normalized)]):
        got = tf.image.extract_glimpse(image, [3, 4], [offset], centered=centered,
                                       normalized=normalized, noise="zero")[0, ..., 0].numpy()
        if corner is None:
            assert not got.any(), offset
        else:
            top, left = corner[0] + 10, corner[1] + 10
            np.testing.assert_array_equal(got, padded[top:top + 3, left:left + 4])


def test_extract_glimpse_noise_stays_in_the_images_range():
    image = np.zeros((1, 4, 4, 2), np.float32)
    image[..., 0] = np.linspace(0, 1, 16).reshape(4, 4)
    image[..., 1] = 100 + np.linspace(0, 1, 16).reshape(4, 4)
    outside = np.ones((40, 40), bool)
    outside[18:22, 18:22] = False
    uniform = tf.image.extract_glimpse(image, [40, 40], [[0.0, 0.0]]).numpy()[0][outside]
    assert uniform.min() >= 0 and uniform.max() <= 101 and uniform.std() > 20
    gaussian = tf.image.extract_glimpse(image, [40, 40], [[0.0, 0.0]], noise="gaussian")
    gaussian = gaussian.numpy()[0][outside]
    assert gaussian[:, 0].min() >= 0 and gaussian[:, 0].max() <= 1
    assert gaussian[:, 1].min() >= 100 and gaussian[:, 1].max() <= 101
    assert abs(gaussian[:, 1].mean() - 100.5) < 0.05


# (TensorFlow) boxes drawn with colour 1 on a 5x5 zero image: clipped, skipped when inverted
# or wholly outside.
DRAWN = [
    ([-0.3, -0.3, 0.5, 0.5], [[0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0],
                              [0, 0, 0, 0, 0]]),
    ([-0.1, -0.1, 0.5, 0.5], [[1, 1, 1, 0, 0], [1, 0, 1, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0],
                              [0, 0, 0, 0, 0]]),
    ([0.5, 0.5, 1.4, 1.4], [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 1, 1, 1], [0, 0, 1, 0, 0],
                            [0, 0, 1, 0, 0]]),
    ([0.8, 0.8, 0.2, 0.2], [[0] * 5] * 5),
    ([1.5, 0.0, 2.0, 1.0], [[0] * 5] * 5),
]


@pytest.mark.parametrize("box,expected", DRAWN)
def test_draw_bounding_boxes_matches_tensorflow(box, expected):
    out = tf.image.draw_bounding_boxes(tf.zeros([1, 5, 5, 1]), [[box]], [[1.0, 1, 1, 1]])
    np.testing.assert_array_equal(out.numpy()[0, ..., 0], expected)


def test_draw_bounding_boxes_cycles_colours_and_tensorflows_palette():
    # One single-pixel box per row; without colours TensorFlow cycles through these 10.
    palette = [[1, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [0, 1, 0, 1], [0.5, 0, 0.5, 1],
               [0.5, 0.5, 0, 1], [0.5, 0, 0, 1], [0, 0, 0.5, 1], [0, 1, 1, 1], [1, 0, 1, 1]]
    boxes = np.zeros((1, 14, 4), np.float32)
    boxes[0, :, 0] = boxes[0, :, 2] = np.arange(14) / 13
    out = tf.image.draw_bounding_boxes(tf.zeros([1, 14, 3, 4]), boxes, None).numpy()
    np.testing.assert_array_equal(out[0, :, 0], [palette[k % 10] for k in range(14)])
    grey = tf.image.draw_bounding_boxes(tf.zeros([1, 3, 3, 1]), [[[0, 0, 1, 1.0]]],
                                        [[0.3, 0.6, 0.9, 1.0]]).numpy()[0, ..., 0]
    np.testing.assert_allclose(grey, [[0.3] * 3, [0.3, 0, 0.3], [0.3] * 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="depth 1, 3 or 4"):
        tf.image.draw_bounding_boxes(tf.zeros([1, 3, 3, 2]), [[[0, 0, 1, 1.0]]], None)


# ------------------------------------------------------------------ distorted crops


def _check_crop(begin, size, bbox, height, width):
    y, x, _ = begin.numpy().tolist()
    h, w, last = size.numpy().tolist()
    assert last == -1 and 0 <= y <= height - h and 0 <= x <= width - w
    np.testing.assert_allclose(bbox.numpy()[0, 0], [y / height, x / width, (y + h) / height,
                                                    (x + w) / width], rtol=1e-6)
    return y, x, h, w


def test_sample_distorted_bounding_box_meets_its_constraints():
    boxes = np.array([[[0.1, 0.2, 0.5, 0.6], [0.6, 0.6, 0.9, 0.95]]], np.float32)
    seen = set()
    for seed in range(40):
        begin, size, bbox = tf.image.stateless_sample_distorted_bounding_box(
            [64, 48, 3], boxes, seed=[seed, 7], min_object_covered=0.5,
            aspect_ratio_range=(0.5, 2.0), area_range=(0.1, 0.6), max_attempts=50)
        y, x, h, w = _check_crop(begin, size, bbox, 64, 48)
        seen.add((y, x, h, w))
        assert 0.1 <= h * w / (64 * 48) <= 0.6
        # width rounded from height * ratio: within half a pixel of the range
        assert 0.5 * h - 0.5 <= w <= 2.0 * h + 0.5
        covered = []
        for top, left, bottom, right in boxes[0] * [64, 48, 64, 48]:
            inter = (max(min(bottom, y + h) - max(top, y), 0)
                     * max(min(right, x + w) - max(left, x), 0))
            covered.append(inter / ((bottom - top) * (right - left)))
        assert max(covered) >= 0.5 - 1e-6
    assert len(seen) > 20


def test_sample_distorted_bounding_box_seeds_fallback_and_errors():
    args = ([30, 40, 3], [[[0.0, 0.0, 1.0, 1.0]]])
    first = tf.image.stateless_sample_distorted_bounding_box(*args, seed=[3, 4])
    tf.random.uniform([5])  # stateful draws in between change nothing
    second = tf.image.stateless_sample_distorted_bounding_box(*args, seed=[3, 4])
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # No crop with such an aspect ratio and area fits: the whole image (as TensorFlow).
    whole = tf.image.stateless_sample_distorted_bounding_box(
        *args, seed=[1, 2], aspect_ratio_range=(50.0, 60.0), area_range=(0.9, 1.0))
    assert whole.begin.numpy().tolist() == [0, 0, 0]
    assert whole.size.numpy().tolist() == [30, 40, -1]
    crop = tf.image.sample_distorted_bounding_box(
        tf.constant([30, 40, 3], tf.int64), tf.zeros([1, 0, 4]), seed=5,
        use_image_if_no_bounding_boxes=True)
    assert crop.begin.dtype == tf.int64
    _check_crop(*crop, 30, 40)
    with pytest.raises(tf.errors.InvalidArgumentError, match="use_image_if_no_bounding_boxes"):
        tf.image.stateless_sample_distorted_bounding_box([30, 40, 3], tf.zeros([1, 0, 4]),
                                                         seed=[1, 2])


# ------------------------------------------------------------------ stateless augmentations


def _image(shape=(4, 5, 3), seed=0):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def _same_for_same_seed(fn, *args):
    a = fn(*args, seed=[5, 6]).numpy()
    tf.random.set_seed(123)
    tf.random.uniform([3])
    np.testing.assert_array_equal(a, fn(*args, seed=[5, 6]).numpy())
    return [fn(*args, seed=[s, 1]).numpy() for s in range(12)]


def test_stateless_brightness_and_contrast():
    image = _image()
    outs = _same_for_same_seed(tf.image.stateless_random_brightness, image, 0.2)
    deltas = [out - image for out in outs]
    for delta in deltas:
        assert np.ptp(delta) < 1e-6 and abs(delta.flat[0]) <= 0.2 + 1e-6
    assert len({round(float(d.flat[0]), 6) for d in deltas}) > 6
    outs = _same_for_same_seed(tf.image.stateless_random_contrast, image, 0.5, 1.5)
    mean = image.mean(axis=(0, 1), keepdims=True)
    for out in outs:
        factor = (out - mean) / (image - mean)
        assert np.ptp(factor) < 1e-3 and 0.5 <= factor.flat[0] < 1.5


@pytest.mark.parametrize("op,axis", [(tf.image.stateless_random_flip_left_right, 1),
                                     (tf.image.stateless_random_flip_up_down, 0)])
def test_stateless_flips(op, axis):
    image = _image()
    outs = _same_for_same_seed(op, image)
    flipped = [np.array_equal(out, np.flip(image, axis)) for out in outs]
    assert all(f or np.array_equal(out, image) for f, out in zip(flipped, outs))
    assert 0 < sum(flipped) < len(flipped)
    batch = _image((8, 3, 3, 1))
    out = op(batch, seed=[2, 3]).numpy()
    per_image = [np.array_equal(out[i], np.flip(batch[i], axis)) for i in range(8)]
    assert all(p or np.array_equal(out[i], batch[i]) for i, p in enumerate(per_image))
    assert 0 < sum(per_image) < 8  # one coin per image


def test_stateless_crop():
    value = np.arange(60).reshape(6, 10)
    outs = _same_for_same_seed(tf.image.stateless_random_crop, value, [3, 4])
    corners = set()
    for out in outs:
        top, left = divmod(int(out[0, 0]), 10)
        np.testing.assert_array_equal(out, value[top:top + 3, left:left + 4])
        corners.add((top, left))
    assert len(corners) > 4


def test_stateless_hue_and_saturation():
    image = _image()
    top, bottom = image.max(-1), image.min(-1)
    for out in _same_for_same_seed(tf.image.stateless_random_hue, image, 0.3):
        # turning the hue keeps each pixel's largest and smallest channel
        np.testing.assert_allclose(out.max(-1), top, atol=1e-6)
        np.testing.assert_allclose(out.min(-1), bottom, atol=1e-6)
    for out in _same_for_same_seed(tf.image.stateless_random_saturation, image, 0.2, 0.8):
        np.testing.assert_allclose(out.max(-1), top, atol=1e-6)  # the HSV value is kept
        assert np.all(out.min(-1) >= bottom - 1e-6)  # lower saturation: closer to grey
    with pytest.raises(ValueError, match="max_delta"):
        tf.image.stateless_random_hue(image, 0.7, seed=[1, 2])


def test_jpeg_quality_ops_say_they_are_unavailable():
    with pytest.raises(tf.errors.UnimplementedError, match="JPEG encoder"):
        tf.image.stateless_random_jpeg_quality(_image(), 50, 90, seed=[1, 2])
    with pytest.raises(tf.errors.UnimplementedError, match="JPEG encoder"):
        tf.image.adjust_jpeg_quality(_image(), 50)


# ------------------------------------------------------------------ resize_with_pad

# (TensorFlow) x = arange(12).reshape(2, 3, 2) / 12, resized with padding.
_X = np.arange(12, dtype=np.float32).reshape(2, 3, 2) / 12
RESIZE_WITH_PAD = [
    ((4, 4, "bilinear"), [[[0.0, 0.083333], [0.104167, 0.1875], [0.229167, 0.3125],
                           [0.333333, 0.416667]],
                          [[0.5, 0.583333], [0.604167, 0.6875], [0.729167, 0.8125],
                           [0.833333, 0.916667]], [[0.0, 0.0]] * 4, [[0.0, 0.0]] * 4]),
    ((5, 2, "nearest"), [[[0.0, 0.0], [0.0, 0.0]], [[0.5, 0.583333], [0.833333, 0.916667]],
                         [[0.0, 0.0]] * 2, [[0.0, 0.0]] * 2, [[0.0, 0.0]] * 2]),
    ((3, 7, "bilinear"), [[[0.0, 0.0], [0.0, 0.083333], [0.104167, 0.1875], [0.229167, 0.3125],
                           [0.333333, 0.416667], [0.0, 0.0], [0.0, 0.0]],
                          [[0.0, 0.0], [0.25, 0.333333], [0.354167, 0.4375],
                           [0.479167, 0.5625], [0.583333, 0.666667], [0.0, 0.0], [0.0, 0.0]],
                          [[0.0, 0.0], [0.5, 0.583333], [0.604167, 0.6875],
                           [0.729167, 0.8125], [0.833333, 0.916667], [0.0, 0.0],
                           [0.0, 0.0]]]),
]


@pytest.mark.parametrize("args,expected", RESIZE_WITH_PAD)
def test_resize_with_pad_matches_tensorflow(args, expected):
    height, width, method = args
    np.testing.assert_allclose(tf.image.resize_with_pad(_X, height, width, method).numpy(),
                               expected, atol=1e-6)
    batched = tf.image.resize_with_pad(_X[None], height, width, method)
    np.testing.assert_allclose(batched.numpy()[0], expected, atol=1e-6)


# ------------------------------------------------------------------ edges, colour, metrics


def test_sobel_total_variation_and_gradients_match_numpy():
    image = _image((2, 5, 6, 3), seed=1).astype(np.float64)
    padded = np.pad(image, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    kernel = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float64)
    expected = np.zeros(image.shape + (2,))
    for k, weights in enumerate((kernel, kernel.T)):
        for i in range(3):
            for j in range(3):
                expected[..., k] += weights[i, j] * padded[:, i:i + 5, j:j + 6]
    np.testing.assert_allclose(tf.image.sobel_edges(image).numpy(), expected, atol=1e-12)
    variation = (np.abs(np.diff(image, axis=1)).sum(axis=(1, 2, 3))
                 + np.abs(np.diff(image, axis=2)).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(tf.image.total_variation(image).numpy(), variation)
    np.testing.assert_allclose(tf.image.total_variation(image[0]).numpy(), variation[0])
    dy, dx = tf.image.image_gradients(image)
    np.testing.assert_allclose(dy.numpy()[:, :-1], np.diff(image, axis=1))
    np.testing.assert_allclose(dx.numpy()[:, :, :-1], np.diff(image, axis=2))
    assert not dy.numpy()[:, -1].any() and not dx.numpy()[:, :, -1].any()
    with pytest.raises(tf.errors.InvalidArgumentError, match="float images"):
        tf.image.sobel_edges(np.zeros((1, 3, 3, 1), np.int32))


# TensorFlow's matrices (observed as rgb_to_yiq(eye(3)) and friends).
RGB_TO_YIQ = [[0.299, 0.59590059, 0.2115], [0.587, -0.27455667, -0.52273617],
              [0.114, -0.32134392, 0.31119955]]
RGB_TO_YUV = [[0.299, -0.14714119, 0.61497538], [0.587, -0.28886916, -0.51496512],
              [0.114, 0.43601035, -0.10001026]]
YIQ_TO_RGB = [[1.0, 1.0, 1.0], [0.95598634, -0.27201283, -1.10674021],
              [0.6208248, -0.64720424, 1.70423049]]
YUV_TO_RGB = [[1.0, 1.0, 1.0], [0.0, -0.394642334, 2.03206185],
              [1.13988303, -0.58062185, 0.0]]


def test_yiq_and_yuv_conversions():
    image = _image((3, 4, 3), seed=2).astype(np.float64)
    for forward, inverse, matrix, back in (
            (tf.image.rgb_to_yiq, tf.image.yiq_to_rgb, RGB_TO_YIQ, YIQ_TO_RGB),
            (tf.image.rgb_to_yuv, tf.image.yuv_to_rgb, RGB_TO_YUV, YUV_TO_RGB)):
        converted = forward(image)
        np.testing.assert_allclose(converted.numpy(), image @ np.array(matrix), atol=1e-12)
        np.testing.assert_allclose(inverse(image).numpy(), image @ np.array(back), atol=1e-12)
        # TensorFlow's inverse matrices are rounded: a round trip is exact to ~1e-4 only.
        np.testing.assert_allclose(inverse(converted).numpy(), image, atol=1e-4)
        assert forward(image.astype(np.float32)).dtype == tf.float32
    with pytest.raises(tf.errors.InvalidArgumentError, match="last dimension of 3"):
        tf.image.rgb_to_yiq(np.zeros((2, 2)))


def _ms_ssim_ref(x, y, max_val, factors, size, sigma=1.5, k1=0.01, k2=0.03):
    """MS-SSIM of [n, h, w, c] float64 images, from Wang et al. as TensorFlow documents it."""
    coords = np.arange(size) - (size - 1) / 2
    g = np.exp(-coords ** 2 / (2 * sigma ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def blur(z):
        h, w = z.shape[1] - size + 1, z.shape[2] - size + 1
        return sum(window[i, j] * z[:, i:i + h, j:j + w] for i in range(size)
                   for j in range(size))

    def halve(z):
        z = np.pad(z, [(0, 0), (0, z.shape[1] % 2), (0, z.shape[2] % 2), (0, 0)],
                   mode="symmetric")
        return (z[:, 0::2, 0::2] + z[:, 1::2, 0::2] + z[:, 0::2, 1::2] + z[:, 1::2, 1::2]) / 4

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    terms = []
    for scale in range(len(factors)):
        if scale:
            x, y = halve(x), halve(y)
        mx, my = blur(x), blur(y)
        luminance = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
        cs = (2 * (blur(x * y) - mx * my) + c2) / (blur(x * x) - mx ** 2 + blur(y * y)
                                                   - my ** 2 + c2)
        last = scale == len(factors) - 1
        terms.append(np.maximum((luminance * cs if last else cs).mean(axis=(1, 2)), 0))
    return np.prod([t ** f for t, f in zip(terms, factors)], axis=0).mean(axis=-1)


def test_ssim_multiscale_matches_reference_and_tensorflow():
    rng = np.random.default_rng(5)
    a = rng.uniform(size=(2, 37, 41, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(scale=0.2, size=a.shape), 0, 1).astype(np.float32)
    got = tf.image.ssim_multiscale(a, b, 1.0, power_factors=(0.2, 0.3, 0.5), filter_size=3)
    np.testing.assert_allclose(got.numpy(), _ms_ssim_ref(a.astype(np.float64), b.astype(
        np.float64), 1.0, (0.2, 0.3, 0.5), 3), rtol=1e-5)
    np.testing.assert_allclose(got.numpy(), [0.7983021, 0.8072453], rtol=1e-5)  # TensorFlow
    a8, b8 = (a * 255).astype(np.uint8), (b * 255).astype(np.uint8)
    got = tf.image.ssim_multiscale(a8, b8, 255, power_factors=(0.6, 0.4), filter_size=5)
    np.testing.assert_allclose(got.numpy(), [0.8143426, 0.8139856], rtol=1e-5)  # TensorFlow
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than filter_size"):
        tf.image.ssim_multiscale(a, b, 1.0)


def test_image_codecs_are_tf_io_s():
    for name in ("decode_png", "encode_png", "decode_jpeg", "decode_image"):
        assert getattr(tf.image, name) is getattr(tf.io, name)
