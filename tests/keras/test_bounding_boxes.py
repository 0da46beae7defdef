"""keras.utils.bounding_boxes and the image layers' bounding box transforms. Real Keras 3 is
the oracle: the helpers must give its numbers, and a layer given the same transformation
(drawn by Keras) must move boxes as Keras does; fully determined layers compare whole calls.
Random draws differ from Keras's, so random layers are checked by invariants: boxes follow a
bright square in the image. Where Keras 3.15 gets boxes wrong (RandomCrop, RandomRotation and
RandomPerspective outside "xyxy", MixUp's labels), the reference is NumPy float64 geometry or
Keras on the "xyxy" boxes, converted by its convert_format."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401

pytestmark = pytest.mark.keras_oracle

FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx",
           "rel_xywh", "rel_center_xywh")
H, W = 20, 30


def _xyxy(batch=2, count=4, height=H, width=W, seed=0):
    """Boxes partly outside the image, with a padding row (-1s) and a zero row."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(-3, [width, height], (batch, count, 2))
    size = rng.uniform(1, 12, (batch, count, 2))
    boxes = np.concatenate([corner, corner + size], -1).astype("float32")
    boxes[0, -1] = 0.0
    boxes[-1, 0] = -1.0
    return boxes


def _labels(boxes):
    return np.arange(boxes.shape[0] * boxes.shape[1], dtype="int32").reshape(boxes.shape[:2])


def _in_format(k, boxes, fmt, height=H, width=W):
    return to_numpy(k.utils.bounding_boxes.convert_format(boxes.copy(), "xyxy", fmt,
                                                          height=height, width=width))


def _torch(value):
    """A Keras (torch) version of NumPy values, nested."""
    import torch

    if isinstance(value, dict):
        return {key: _torch(item) for key, item in value.items()}
    return torch.tensor(value) if isinstance(value, np.ndarray) else value


def _ours(value):
    if isinstance(value, dict):
        return {key: _ours(item) for key, item in value.items()}
    return tf.constant(value) if isinstance(value, np.ndarray) else value


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return to_numpy(value).copy() if hasattr(value, "detach") else value


def _assert_boxes(ours, theirs, atol=1e-4):
    assert_matches(ours["boxes"], theirs["boxes"], rtol=1e-5, atol=atol, what="boxes")
    np.testing.assert_array_equal(to_numpy(ours["labels"]), to_numpy(theirs["labels"]))


# ---------------------------------------------------------------------- the helpers

def test_convert_format_matches_keras_between_all_formats():
    k = import_keras()
    ours, theirs = keras.utils.bounding_boxes, k.utils.bounding_boxes
    for source in FORMATS:
        boxes = _in_format(k, _xyxy(), source)
        for target in FORMATS:
            for value in (boxes, boxes[0]):
                assert_matches(ours.convert_format(value, source, target, height=H, width=W),
                               theirs.convert_format(value.copy(), source, target, height=H,
                                                     width=W), what=f"{source}->{target}")
    # Case-insensitive names, integer input, another dtype; a dict updated in place.
    assert_matches(ours.convert_format(np.array([[1, 2, 5, 9]]), "XYXY", "Center_YXHW"),
                   theirs.convert_format(np.array([[1, 2, 5, 9]]), "XYXY", "Center_YXHW"))
    assert ours.convert_format(boxes, "xyxy", "xywh", dtype="float16").dtype == "float16"
    data = {"boxes": _xyxy()[0], "labels": np.arange(4)}
    assert ours.convert_format(data, "xyxy", "yxyx") is data
    assert_matches(data["boxes"], theirs.convert_format(_xyxy()[0], "xyxy", "yxyx"))


def test_convert_format_errors():
    convert = keras.utils.bounding_boxes.convert_format
    with pytest.raises(ValueError, match="Supported formats"):
        convert(_xyxy(), "xyxy", "coco")
    with pytest.raises(ValueError, match="`height` and `width`"):
        convert(_xyxy(), "xyxy", "rel_xyxy")
    with pytest.raises(ValueError, match="last dimension of 4"):
        convert(_xyxy()[..., :3], "xyxy", "yxyx")


def test_clip_crop_pad_and_affine_match_keras():
    k = import_keras()
    ours, theirs = keras.utils.bounding_boxes, k.utils.bounding_boxes
    boxes = _xyxy() - 4.0
    data = {"boxes": boxes, "labels": _labels(boxes)}
    _assert_boxes(ours.clip_to_image_size(data, height=12, width=15),
                  theirs.clip_to_image_size(dict(data), height=12, width=15))
    relative = {"boxes": boxes / 10.0, "labels": _labels(boxes)}
    _assert_boxes(ours.clip_to_image_size(relative, bounding_box_format="rel_xyxy"),
                  theirs.clip_to_image_size(dict(relative), bounding_box_format="rel_xyxy"))
    with pytest.raises(ValueError, match="`height` and `width`"):
        ours.clip_to_image_size(data)
    with pytest.raises(NotImplementedError):
        ours.clip_to_image_size(data, 10, 10, bounding_box_format="xywh")
    assert_matches(ours.crop(boxes, 3, 4, 10, 12), theirs.crop(_torch(boxes), 3, 4, 10, 12))
    assert_matches(ours.pad(boxes, 3, 4), theirs.pad(_torch(boxes), 3, 4))
    with pytest.raises(NotImplementedError):
        ours.crop(boxes, 1, 1, 5, 5, bounding_box_format="yxyx")
    args = [np.array(v, "float32") for v in ([30.0, -45.0], [0.1, -0.2], [0.05, 0.0],
                                             [1.2, 0.8], [10.0, 0.0], [0.0, -5.0])]
    for center in ({}, {"center_x": 0.3, "center_y": 0.7}):
        assert_matches(ours.affine_transform(boxes, *args, H, W, **center),
                       theirs.affine_transform(*_torch([boxes] + args), H, W, **center),
                       atol=1e-4)


def test_iou_and_ciou_match_keras():
    k = import_keras()
    ours, theirs = keras.utils.bounding_boxes, k.utils.bounding_boxes
    for fmt in ("xyxy", "center_yxhw", "rel_yxyx"):
        boxes = _in_format(k, np.abs(_xyxy()), fmt)
        pairs = [(boxes, boxes[0]), (boxes[1], boxes), (boxes[0], boxes[1]), (boxes, boxes)]
        for first, second in pairs:
            for masking in (False, True):
                if masking and first.ndim != second.ndim:
                    continue  # Keras's masking fails on mixed ranks
                assert_matches(
                    ours.compute_iou(first, second, fmt, use_masking=masking, mask_val=-3,
                                     image_shape=(H, W, 3)),
                    theirs.compute_iou(*_torch([first, second]), fmt, use_masking=masking,
                                       mask_val=-3, image_shape=(H, W, 3)), what=fmt)
    boxes = np.abs(_xyxy())
    assert_matches(ours.compute_ciou(boxes, boxes[::-1], "xyxy"),
                   theirs.compute_ciou(*_torch([boxes, boxes[::-1].copy()]), "xyxy"))
    with pytest.raises(ValueError, match="image_shape"):
        ours.compute_iou(boxes, boxes, "rel_xyxy")
    with pytest.raises(ValueError, match="relative"):
        ours.compute_ciou(boxes, boxes, "rel_xyxy", image_shape=(H, W, 3))
    with pytest.raises(ValueError, match="boxes1"):
        ours.compute_iou(boxes[0, 0], boxes, "xyxy")


def test_box_deltas_match_keras():
    k = import_keras()
    ours, theirs = keras.utils.bounding_boxes, k.utils.bounding_boxes
    boxes = np.abs(_xyxy()) + 1.0
    anchors = boxes[0]
    for encoding in ("center_yxhw", "center_xywh"):
        for variance in (None, [0.1, 0.1, 0.2, 0.2]):
            options = {"variance": variance, "image_shape": (H, W, 3)}
            deltas = ours.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy",
                                               encoding_format=encoding, **options)
            expected = theirs.encode_box_to_deltas(*_torch([anchors, boxes]), "xyxy", "xyxy",
                                                   encoding_format=encoding, **options)
            assert_matches(deltas, expected, rtol=1e-5, atol=1e-5)
            assert_matches(
                ours.decode_deltas_to_boxes(anchors, deltas, "xyxy", "rel_xywh",
                                            encoded_format=encoding, **options),
                theirs.decode_deltas_to_boxes(_torch(anchors), expected, "xyxy", "rel_xywh",
                                              encoded_format=encoding, **options),
                rtol=1e-5, atol=1e-5)
    levels = ours.decode_deltas_to_boxes({"P3": anchors}, {"P3": np.zeros((4, 4), "float32")},
                                         "xyxy", "xyxy")
    assert_matches(levels["P3"], anchors)
    with pytest.raises(ValueError, match="variance"):
        ours.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", variance=[1.0])
    with pytest.raises(ValueError, match="encoding_format"):
        ours.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", encoding_format="xyxy")


# ---------------------------------------------------------------------- deterministic layers

def _call_both(k, make, fmt="xyxy", batched=True, training=None, height=H, width=W,
               keras_format=None):
    """A dict call of our layer and Keras's (make(module, fmt) builds each) on the same data.
    With `keras_format`, Keras's layer reads and writes the same boxes in that format (where
    Keras is right) and its output boxes are converted to `fmt` by Keras's convert_format."""
    xyxy = _xyxy(height=height, width=width)
    boxes = _in_format(k, xyxy, fmt, height, width)
    labels = _labels(boxes)
    images = np.random.default_rng(1).uniform(0, 255, (2, height, width, 3)).astype("float32")
    reference = boxes if keras_format is None else _in_format(k, xyxy, keras_format, height,
                                                              width)
    if not batched:
        boxes, labels, images, reference = boxes[0], labels[0], images[0], reference[0]
    options = {} if training is None else {"training": training}
    ours = make(keras, fmt)({"images": images,
                             "bounding_boxes": {"boxes": boxes, "labels": labels}}, **options)
    theirs = make(k, keras_format or fmt)({"images": images.copy(), "bounding_boxes": {
        "boxes": reference.copy(), "labels": labels.copy()}}, **options)
    if keras_format is not None:
        out_h, out_w = to_numpy(theirs["images"]).shape[-3:-1]
        theirs["bounding_boxes"]["boxes"] = k.utils.bounding_boxes.convert_format(
            theirs["bounding_boxes"]["boxes"], keras_format, fmt, height=out_h, width=out_w)
    _assert_boxes(ours["bounding_boxes"], theirs["bounding_boxes"])
    assert_matches(ours["images"], theirs["images"], rtol=1e-4, atol=1e-3, what="images")


@pytest.mark.parametrize("options", [{}, {"pad_to_aspect_ratio": True},
                                     {"crop_to_aspect_ratio": True}])
def test_resizing_moves_boxes_as_keras(options):
    k = import_keras()
    for fmt in ("xyxy", "rel_xyxy", "center_yxhw"):
        for size in ((10, 40), (40, 10)):
            _call_both(k, lambda m, f, size=size: m.layers.Resizing(
                *size, bounding_box_format=f, **options), fmt)
    _call_both(k, lambda m, f: m.layers.Resizing(16, 16, bounding_box_format=f, **options),
               batched=False)


def test_center_crop_moves_boxes_as_keras():
    k = import_keras()
    for fmt in ("xyxy", "rel_xyxy"):
        for size in ((10, 25), (25, 10), (30, 40)):
            _call_both(k, lambda m, f, size=size: m.layers.CenterCrop(
                *size, bounding_box_format=f), fmt)
    _call_both(k, lambda m, f: m.layers.CenterCrop(8, 8, bounding_box_format=f),
               "center_xywh", batched=False)


def _cropped_xyxy(boxes, top, left, window_h, window_w, height, width):
    """NumPy float64 reference: "xyxy" boxes in the frame of the (window_h, window_w) window
    at (top, left), scaled as that window is resized to (height, width), clipped to it."""
    boxes = boxes.astype("float64") - [left, top, left, top]
    boxes = boxes * ([width / window_w, height / window_h] * 2)
    return np.clip(boxes, 0.0, [width, height] * 2)


def _crop_call(k, layer, images, fmt):
    """Our RandomCrop called on `images` (20 x 30, each pixel its own row * 100 + column)
    with boxes in `fmt`; returns the output images and the output boxes as "xyxy" (Keras's
    convert_format reads the relative ones against the output size)."""
    boxes = _in_format(k, _xyxy(), fmt)
    out = layer({"images": images,
                 "bounding_boxes": {"boxes": boxes, "labels": _labels(boxes)}})
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"].numpy(), _labels(boxes))
    out_images = out["images"].numpy()
    out_h, out_w = out_images.shape[1:3]
    return out_images, to_numpy(k.utils.bounding_boxes.convert_format(
        out["bounding_boxes"]["boxes"].numpy(), fmt, "xyxy", height=out_h, width=out_w))


def _pixel_ids(channels=1):
    ids = np.arange(H)[:, None] * 100.0 + np.arange(W)[None, :]
    return np.broadcast_to(ids[None, :, :, None], (2, H, W, channels)).astype("float32")


def test_random_crop_boxes_follow_the_window():
    """Boxes in the window's frame (x - left, y - top), clipped to the crop; relative boxes
    read against the input and written against the output. Keras 3.15 instead shifts x by
    the top offset and y by the left one and clips no far edge, so the reference is NumPy
    float64 geometry, with the window's offsets read back from the cropped pixels."""
    k = import_keras()
    for fmt in ("xyxy", "rel_xyxy", "center_yxhw", "rel_xywh"):
        layer = keras.layers.RandomCrop(12, 15, bounding_box_format=fmt, seed=3)
        for _ in range(3):
            images, boxes = _crop_call(k, layer, _pixel_ids(), fmt)
            top, left = divmod(int(images[0, 0, 0, 0]), 100)
            np.testing.assert_array_equal(images[0, ..., 0],
                                          _pixel_ids()[0, top:top + 12, left:left + 15, 0])
            assert_matches(boxes, _cropped_xyxy(_xyxy(), top, left, 12, 15, 12, 15),
                           rtol=1e-5, atol=1e-4, what=fmt)
    # A transformation given by hand, as Keras's (top, left) tuple.
    layer = keras.layers.RandomCrop(12, 15, bounding_box_format="xyxy")
    data = {"boxes": _xyxy(), "labels": _labels(_xyxy())}
    for window in ((3, 7), (0, 0), (8, 15)):
        assert_matches(layer.transform_bounding_boxes(_ours(data), window)["boxes"],
                       _cropped_xyxy(_xyxy(), *window, 12, 15, 12, 15), atol=1e-5)
    with pytest.raises(ValueError, match="get_random_transformation"):
        keras.layers.RandomCrop(12, 15, bounding_box_format="rel_xyxy"
                                ).transform_bounding_boxes(_ours(data), (3, 7))
    window = layer.get_random_transformation(_pixel_ids())
    assert len(window) == 2 and all(0 <= int(v) <= 15 for v in window)


@pytest.mark.parametrize("size, window", [
    # 20 x 30 images, the crop size, and the rows and columns the image path keeps:
    # Keras's aspect-ratio corner (top, left), then crop size rows and columns from it, as
    # far as the image goes, resized to the crop size.
    ((25, 40), (1, 0, 19, 30)),   # corner (1, 0): rows 1..19, all 30 columns
    ((12, 40), (5, 0, 12, 30)),   # corner (5, 0): rows 5..16, all 30 columns
    ((20, 30), (0, 0, 20, 30)),   # the whole image, unchanged
])
def test_random_crop_boxes_follow_the_resized_window_of_small_images(size, window):
    """Images not larger than the crop: the boxes follow the window the images keep and
    its resize (NumPy float64 reference; Keras 3.15 only shifts them, x by the top offset)."""
    k = import_keras()
    top, left, window_h, window_w = window
    for fmt in ("xyxy", "rel_yxyx", "center_xywh"):
        layer = keras.layers.RandomCrop(*size, bounding_box_format=fmt)
        images, boxes = _crop_call(k, layer, _pixel_ids(3), fmt)
        theirs = k.layers.RandomCrop(*size)(_pixel_ids(3))
        assert_matches(images, theirs, rtol=1e-4, atol=1e-2, what="images")
        assert_matches(boxes, _cropped_xyxy(_xyxy(), top, left, window_h, window_w, *size),
                       rtol=1e-5, atol=1e-4, what=fmt)


def test_random_crop_passes_boxes_through_at_inference_as_keras():
    """At inference Keras 3.15 returns the images unchanged, and the boxes stay with them."""
    k = import_keras()
    for fmt in ("xyxy", "rel_xyxy"):
        for size in ((12, 15), (25, 40)):
            _call_both(k, lambda m, f, size=size: m.layers.RandomCrop(
                *size, bounding_box_format=f), fmt, training=False)


def test_flip_with_a_fixed_transformation_moves_boxes_as_keras():
    k = import_keras()
    flips = np.array([True, False]).reshape(2, 1, 1, 1)
    for mode in ("horizontal", "vertical", "horizontal_and_vertical"):
        for fmt in ("xyxy", "rel_xyxy", "center_yxhw"):
            boxes = _in_format(k, _xyxy(), fmt)
            data = {"boxes": boxes, "labels": _labels(boxes)}
            transformation = {"flips": flips, "input_shape": (2, H, W, 3)}
            _assert_boxes(
                keras.layers.RandomFlip(mode, bounding_box_format=fmt).transform_bounding_boxes(
                    _ours(data), _ours(transformation)),
                k.layers.RandomFlip(mode, bounding_box_format=fmt).transform_bounding_boxes(
                    _torch(data), _torch(transformation)))
    _call_both(k, lambda m, f: m.layers.RandomFlip(bounding_box_format=f), training=False)


GEOMETRIC = {
    "rotation": lambda m, f: m.layers.RandomRotation(0.2, bounding_box_format=f),
    "zoom": lambda m, f: m.layers.RandomZoom((-0.4, 0.4), (-0.3, 0.5), bounding_box_format=f),
    "translation": lambda m, f: m.layers.RandomTranslation(0.3, 0.4, bounding_box_format=f),
    "shear": lambda m, f: m.layers.RandomShear(0.3, 0.4, bounding_box_format=f),
    "perspective": lambda m, f: m.layers.RandomPerspective(0.8, 0.4, bounding_box_format=f),
}


# Keras 3.15 reads RandomRotation's input boxes as "xyxy" and returns RandomPerspective's
# as "xyxy" whatever the format; ours keep the format, so for these the reference is Keras
# on the "xyxy" boxes (where it is right), converted to the format by its convert_format.
XYXY_REFERENCE = ("rotation", "perspective")


@pytest.mark.parametrize("name", sorted(GEOMETRIC))
def test_random_geometric_layers_move_boxes_as_keras_for_its_transformation(name):
    k = import_keras()
    for fmt in ("xyxy", "rel_xyxy", "center_yxhw", "rel_center_xywh"):
        keras_format = "xyxy" if name in XYXY_REFERENCE else fmt
        theirs = GEOMETRIC[name](k, keras_format)
        images = np.zeros((2, H, W, 3), "float32")
        transformation = _plain(theirs.get_random_transformation(
            {"images": _torch(images)}, training=True))
        boxes = _in_format(k, _xyxy(), fmt)
        data = {"boxes": boxes, "labels": _labels(boxes)}
        reference = _in_format(k, _xyxy(), keras_format)
        expected = theirs.transform_bounding_boxes(
            _torch({"boxes": reference, "labels": _labels(boxes)}), _torch(transformation))
        expected["boxes"] = k.utils.bounding_boxes.convert_format(
            expected["boxes"], keras_format, fmt, height=H, width=W)
        _assert_boxes(GEOMETRIC[name](keras, fmt).transform_bounding_boxes(
                          _ours(data), _ours(transformation)), expected)


def test_channels_first_images_move_boxes_as_keras():
    k = import_keras()
    images = np.random.default_rng(2).uniform(0, 255, (2, 3, H, W)).astype("float32")
    boxes = _xyxy()
    data = {"boxes": boxes, "labels": _labels(boxes)}
    options = {"bounding_box_format": "xyxy", "data_format": "channels_first"}
    for name, args in (("RandomZoom", (0.3,)), ("RandomShear", (0.2, 0.3)),
                       ("RandomFlip", ()), ("RandomPerspective", ())):
        theirs = getattr(k.layers, name)(*args, **options)
        transformation = _plain(theirs.get_random_transformation({"images": _torch(images)}))
        _assert_boxes(getattr(keras.layers, name)(*args, **options).transform_bounding_boxes(
                          _ours(data), _ours(transformation)),
                      theirs.transform_bounding_boxes(_torch(data), _torch(transformation)))
    for name, args in (("Resizing", (10, 40)), ("CenterCrop", (25, 12))):
        ours = getattr(keras.layers, name)(*args, **options)(
            {"images": images, "bounding_boxes": data})
        theirs = getattr(k.layers, name)(*args, **options)(
            {"images": images.copy(), "bounding_boxes": _torch(data)})
        _assert_boxes(ours["bounding_boxes"], theirs["bounding_boxes"])


def test_fully_determined_geometric_calls_match_keras():
    k = import_keras()
    for fmt in ("xyxy", "rel_xyxy"):
        for batched in (True, False):
            # Keras on "xyxy" boxes is the reference (it reads every format as "xyxy").
            _call_both(k, lambda m, f: m.layers.RandomRotation(
                (0.25, 0.25), fill_mode="constant", bounding_box_format=f), fmt, batched,
                height=20, width=20, keras_format="xyxy")
            _call_both(k, lambda m, f: m.layers.RandomTranslation(
                (0.25, 0.25), (-0.1, -0.1), bounding_box_format=f), fmt, batched)
            _call_both(k, lambda m, f: m.layers.RandomZoom(
                (0.2, 0.2), (-0.3, -0.3), bounding_box_format=f), fmt, batched)


def test_rand_augment_moves_boxes_as_keras_for_its_transformation():
    k = import_keras()
    theirs = k.layers.RandAugment(num_ops=3, factor=0.5, bounding_box_format="xyxy", seed=3)
    ours = keras.layers.RandAugment(num_ops=3, factor=0.5, bounding_box_format="xyxy")
    images = np.full((2, H, W, 3), 100.0, "float32")
    boxes = np.abs(_xyxy())
    for _ in range(3):
        transformation = _plain(theirs.get_random_transformation({"images": _torch(images)}))
        data = {"boxes": boxes, "labels": _labels(boxes)}
        _assert_boxes(ours.transform_bounding_boxes(_ours(data), _ours(transformation)),
                      theirs.transform_bounding_boxes(_torch(data), _torch(transformation)))


def test_mix_up_appends_the_partner_boxes_and_labels():
    """Boxes as Keras; labels along the box axis, each image's then its partner's (NumPy
    reference; Keras 3.15 stacks them along the batch axis)."""
    k = import_keras()
    boxes = np.abs(_xyxy(batch=3))
    for labels in (_labels(boxes), np.eye(5, dtype="float32")[_labels(boxes) % 5]):
        data = {"boxes": boxes, "labels": labels}
        order = np.array([2, 0, 1])
        transformation = {"permutation_order": order,
                          "mix_weight": np.array([0.5, 0.5, 0.5], "float32")}
        ours = keras.layers.MixUp(bounding_box_format="xyxy").transform_bounding_boxes(
            _ours(data), _ours(transformation))
        theirs = k.layers.MixUp(bounding_box_format="xyxy").transform_bounding_boxes(
            _torch(data), _torch(transformation))
        assert_matches(ours["boxes"], theirs["boxes"], what="boxes")
        np.testing.assert_array_equal(ours["labels"].numpy(),
                                      np.concatenate([labels, labels[order]], axis=1))


def test_mix_up_call_pairs_boxes_and_labels_with_the_images_partner():
    """The partner each image was mixed with (read back from the mixed pixels: image i is
    one-hot in channel i) is the one whose boxes and labels follow its own."""
    batch, count = 4, 3
    images = np.repeat(np.eye(batch, dtype="float32")[:, None, None, :], 2, axis=1)
    images = np.repeat(images, 2, axis=2)
    boxes = np.abs(_xyxy(batch=batch, count=count))
    labels = _labels(boxes)
    layer = keras.layers.MixUp(alpha=50.0, bounding_box_format="xyxy", seed=5)
    for _ in range(3):
        out = layer({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}})
        mixed = out["images"].numpy()[:, 0, 0, :]
        out_boxes = out["bounding_boxes"]["boxes"].numpy()
        out_labels = out["bounding_boxes"]["labels"].numpy()
        assert out_boxes.shape == (batch, 2 * count, 4)
        assert out_labels.shape == (batch, 2 * count)
        for i in range(batch):
            others = np.delete(mixed[i], i)
            partner = i if others.max() < 1e-3 else int(np.argmax(np.where(
                np.arange(batch) == i, -1.0, mixed[i])))
            np.testing.assert_allclose(mixed[i].sum(), 1.0, rtol=1e-5)
            np.testing.assert_array_equal(out_labels[i],
                                          np.concatenate([labels[i], labels[partner]]))
            np.testing.assert_allclose(out_boxes[i],
                                       np.concatenate([boxes[i], boxes[partner]]))


# ---------------------------------------------------------------------- random layers

def _square_data(top=6, left=10, size=8, height=32, width=32):
    images = np.zeros((2, height, width, 1), "float32")
    images[:, top:top + size, left:left + size] = 1.0
    boxes = np.array([[[left, top, left + size, top + size]]] * 2, "float32")
    return {"images": images, "bounding_boxes": {"boxes": boxes,
                                                 "labels": np.array([[4], [5]], "int32")}}


def _bright_box(image):
    rows, cols = np.nonzero(image[..., 0] > 0.5)
    return np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], "float32")


@pytest.mark.parametrize("make", [
    lambda: keras.layers.RandomFlip(bounding_box_format="xyxy", seed=1),
    lambda: keras.layers.RandomTranslation(0.2, 0.2, fill_mode="constant",
                                           interpolation="nearest", bounding_box_format="xyxy",
                                           seed=2),
    lambda: keras.layers.RandomZoom((-0.3, 0.3), fill_mode="constant",
                                    interpolation="nearest", bounding_box_format="xyxy", seed=3),
    lambda: keras.layers.RandomRotation(0.1, fill_mode="constant", interpolation="nearest",
                                        bounding_box_format="xyxy", seed=4),
    lambda: keras.layers.RandomShear(0.1, 0.1, fill_mode="constant", interpolation="nearest",
                                     bounding_box_format="xyxy", seed=5),
    lambda: keras.layers.RandomCrop(24, 24, bounding_box_format="xyxy", seed=6),
], ids=["flip", "translation", "zoom", "rotation", "shear", "crop"])
def test_random_layers_keep_boxes_around_the_bright_square(make):
    layer = make()
    for _ in range(3):
        out = layer(_square_data(top=10, left=10))
        images = out["images"].numpy()
        boxes = out["bounding_boxes"]["boxes"].numpy()
        np.testing.assert_array_equal(out["bounding_boxes"]["labels"].numpy(), [[4], [5]])
        for image, box in zip(images, boxes[:, 0]):
            bright = _bright_box(image)
            if isinstance(layer, keras.layers.RandomCrop):
                # The square always lies inside the window, so its box is the square's.
                # (Keras 3.15 moves x by the window's top offset and y by its left one.)
                np.testing.assert_array_equal(box, bright)
                continue
            assert (box[:2] <= bright[:2] + 1.01).all() and (box[2:] >= bright[2:] - 1.01).all()
            # A tight box for flips, shifts and zooms; the rotated and sheared squares' boxes
            # grow by the corners' travel only.
            slack = 1.01 if isinstance(layer, (keras.layers.RandomFlip,
                                               keras.layers.RandomTranslation,
                                               keras.layers.RandomZoom)) else 4.0
            assert (box[:2] >= bright[:2] - slack).all() and (box[2:] <= bright[2:] + slack).all()


def test_single_images_and_ragged_boxes():
    layer = keras.layers.RandomTranslation((0.25, 0.25), (0.0, 0.0),
                                           bounding_box_format="xyxy")
    data = _square_data()
    single = layer({"images": data["images"][0],
                    "bounding_boxes": {"boxes": data["bounding_boxes"]["boxes"][0],
                                       "labels": np.array([4])}})
    np.testing.assert_allclose(single["bounding_boxes"]["boxes"].numpy(), [[10, 14, 18, 22]])
    assert single["bounding_boxes"]["labels"].shape == (1,)
    ragged = {"boxes": tf.ragged.constant([[[1.0, 2.0, 10.0, 12.0], [5.0, 5.0, 25.0, 18.0]],
                                           [[0.0, 0.0, 8.0, 8.0]]], ragged_rank=1),
              "labels": tf.ragged.constant([[1, 2], [3]])}
    out = keras.layers.Resizing(10, 15, bounding_box_format="xyxy")(
        {"images": np.zeros((2, 20, 30, 3), "float32"), "bounding_boxes": ragged})
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"].numpy(),
                               [[[0.5, 1, 5, 6], [2.5, 2.5, 12.5, 9]], [[0, 0, 4, 4], [0] * 4]])
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"].numpy(), [[1, 2], [3, -1]])


def test_tf_data_map_casts_box_labels_as_keras():
    """Keras's data layers cast every input to the compute dtype inside tf.data."""
    data = _square_data()
    ds = tf.data.Dataset.from_tensor_slices(data).batch(2)
    out = next(iter(ds.map(keras.layers.Resizing(16, 16, bounding_box_format="xyxy"))))
    assert out["bounding_boxes"]["labels"].dtype == "float32"
    np.testing.assert_allclose(out["bounding_boxes"]["boxes"].numpy(), [[[5, 3, 9, 7]]] * 2)


# ---------------------------------------------------------------------- errors and config

def test_box_input_errors():
    data = _square_data()
    for layer in (keras.layers.Resizing(4, 4), keras.layers.RandomFlip(),
                  keras.layers.RandomContrast(0.1), keras.layers.RandomShear(0.1)):
        with pytest.raises(ValueError, match="bounding_box_format"):
            layer(data)
    layer = keras.layers.Resizing(4, 4, bounding_box_format="xyxy")
    with pytest.raises(ValueError, match="'boxes' and 'labels'"):
        layer({"images": data["images"], "bounding_boxes": {"boxes": np.zeros((2, 1, 4))}})
    with pytest.raises(ValueError, match="last dimension of 4"):
        layer({"images": data["images"], "bounding_boxes": {"boxes": np.zeros((2, 1, 5)),
                                                            "labels": np.zeros((2, 1))}})
    with pytest.raises(ValueError, match="Supported formats"):
        keras.layers.Resizing(4, 4, bounding_box_format="coco")(data)
    for layer in (keras.layers.RandomElasticTransform(bounding_box_format="xyxy"),
                  keras.layers.CutMix(bounding_box_format="xyxy")):
        with pytest.raises(NotImplementedError, match="bounding boxes"):
            layer(data)


def test_pass_through_layers_keep_boxes():
    data = _square_data()
    data["images"] = np.repeat(data["images"], 3, axis=-1) * 200.0
    for layer in (keras.layers.RandomContrast(0.2, bounding_box_format="xyxy"),
                  keras.layers.RandomBrightness(0.2, bounding_box_format="xyxy"),
                  keras.layers.RandomHue(0.2, bounding_box_format="xyxy"),
                  keras.layers.AugMix(bounding_box_format="xyxy")):
        out = layer(data)
        np.testing.assert_array_equal(out["bounding_boxes"]["boxes"].numpy(),
                                      data["bounding_boxes"]["boxes"])


def test_bounding_box_format_round_trips_configs():
    k = import_keras()
    for name, args in (("Resizing", (4, 4)), ("RandomFlip", ()), ("RandomCrop", (4, 4)),
                       ("RandomRotation", (0.1,)), ("RandomShear", (0.1,))):
        ours = getattr(keras.layers, name)(*args, bounding_box_format="center_xywh")
        theirs = getattr(k.layers, name)(*args, bounding_box_format="center_xywh")
        assert ours.get_config()["bounding_box_format"] == "center_xywh"
        assert "bounding_box_format" in theirs.get_config()
        rebuilt = getattr(keras.layers, name).from_config(theirs.get_config())
        assert rebuilt.bounding_box_format == "center_xywh"
        assert "bounding_box_format" not in getattr(keras.layers, name)(*args).get_config()


def test_helpers_have_keras_names_signatures_and_defaults():
    import inspect

    k = import_keras()
    names = {n for n in dir(k.utils.bounding_boxes) if not n.startswith("_")}
    assert names <= set(dir(keras.utils.bounding_boxes))
    for name in names:
        ours = inspect.signature(getattr(keras.utils.bounding_boxes, name)).parameters
        theirs = inspect.signature(getattr(k.utils.bounding_boxes, name)).parameters
        assert [(p.name, p.default) for p in ours.values()] == \
            [(p.name, p.default) for p in theirs.values()], name
