"""keras.layers image preprocessing and augmentation: Resizing, CenterCrop, RandomFlip,
RandomRotation, RandomZoom, RandomTranslation, RandomContrast and RandomCrop.

Augmentation layers follow Keras 3: `call(inputs, training=True)`, so a direct call augments
while `predict`/`evaluate` (training=False) pass images through (cast to the compute dtype).
Every layer here also takes Keras's dict inputs: "segmentation_masks" get the images'
geometric transform (nearest-neighbour), "labels" pass through, and "bounding_boxes"
({"boxes", "labels"} in the layer's `bounding_box_format`) move with the images as Keras's
`transform_bounding_boxes` moves them (keras.utils.bounding_boxes does the box arithmetic).
Random draws come from tf.random (a Generator of the layer's own when `seed` is given), so a
seeded layer repeats its sequence; the numbers differ from Keras's generator, the transforms
applied for given draws do not. Geometric transforms sample with
tensorflux.ops.image.affine_transform (TensorFlow's ImageProjectiveTransformV3).
"""

import math
import sys

from tensorflux.keras import backend
from tensorflux.keras.layers.base import Layer, _describe
from tensorflux.keras.layers.regularization import _RandomSource

__all__ = ["CenterCrop", "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation",
           "RandomTranslation", "RandomZoom", "Resizing"]

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _tf():
    import tensorflux as tf

    return tf


def _image_ops():
    from tensorflux.ops import image

    return image


def _data_format(value):
    value = backend.image_data_format() if value is None else str(value).lower()
    if value not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={value}")
    return value


def _in_data_pipeline():
    """Inside a tf.data function (Dataset.map...), where Keras's image layers first cast
    their inputs to their compute dtype (uint8 images resize to float32 there)."""
    dataset = sys.modules.get("tensorflux.data.dataset")
    return dataset is not None and dataset.in_user_function()


def _to_compute_dtype(x, dtype):
    from tensorflux.tensor import _TensorLike

    # Ragged boxes and labels are cast too: Keras's data layers cast every input.
    if not isinstance(x, _TensorLike) and type(x).__name__ != "RaggedTensor":
        return x
    if x.dtype.name == dtype or not (
            x.dtype.is_integer or x.dtype.is_floating or x.dtype.is_bool):
        return x
    return _tf().cast(x, dtype)


def _static_shape(x):
    shape = x.shape
    return tuple(shape.as_list()) if hasattr(shape, "as_list") else tuple(shape)


class _ImageLayer(Layer):
    """Shared plumbing: data_format, rank checks, channels_last views of the images."""

    _allow_non_tensor_positional_args = True  # (nested lists of pixel values)

    def __init__(self, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(data_format)
        self.bounding_box_format = bounding_box_format
        self.built = True

    def __call__(self, *args, **kwargs):
        if args and _in_data_pipeline():
            args = (_tf().nest.map_structure(
                lambda x: _to_compute_dtype(x, self.compute_dtype), args[0]),) + args[1:]
        return super().__call__(*args, **kwargs)

    def _check_rank(self, inputs):
        shape = _static_shape(inputs)
        if len(shape) not in (3, 4):
            raise ValueError(f"{_describe(self)} expected images of rank 3 (one image) or 4 "
                             f"(a batch), received shape {shape}")
        return shape

    def _dict_call(self, data, transform, transformation=None, training=True):
        """Keras's dict inputs: `transform(tensor, is_mask)` maps 'images' and
        'segmentation_masks' (with one shared random draw, made by the caller),
        'bounding_boxes' go through `transform_bounding_boxes` with `transformation` (a
        function of no arguments giving it, called only when there are boxes); 'labels'
        and any other key pass through."""
        self._dict_images(data)
        out = dict(data)
        out["images"] = transform(data["images"], False)
        if "segmentation_masks" in data:
            out["segmentation_masks"] = transform(data["segmentation_masks"], True)
        if "bounding_boxes" in data:
            out["bounding_boxes"] = self._dict_boxes(
                data, transformation() if callable(transformation) else transformation,
                training)
        return out

    def _dict_images(self, data):
        """The 'images' of a dict input, which must have them."""
        if "images" not in data:
            raise ValueError(f"{_describe(self)} expected a dict with an 'images' key, "
                             f"received keys {sorted(data)}")
        return data["images"]

    def _dict_boxes(self, data, transformation, training):
        """`transform_bounding_boxes` of data["bounding_boxes"], made dense and batched (a
        single image's boxes as a batch of one)."""
        if not self.bounding_box_format:
            raise ValueError(
                f"{_describe(self)} received 'bounding_boxes' but has no bounding box format "
                "to read them in: create it with `bounding_box_format=` (for example 'xyxy' "
                "or 'center_xywh').")
        boxes = _dense_boxes(data["bounding_boxes"])
        if len(_static_shape(data["images"])) == 4:
            return self.transform_bounding_boxes(boxes, transformation, training=training)
        single = {**boxes, "boxes": boxes["boxes"][None], "labels": boxes["labels"][None]}
        out = self.transform_bounding_boxes(single, transformation, training=training)
        return {**out, "boxes": out["boxes"][0], "labels": out["labels"][0]}

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Boxes pass through layers that do not move pixels."""
        return bounding_boxes

    def _to_last(self, images):
        """Batched channels_last images, and a function undoing that view."""
        tf = _tf()
        unbatched = len(_static_shape(images)) == 3
        if unbatched:
            images = tf.expand_dims(images, 0)
        first = self.data_format == "channels_first"
        if first:
            images = tf.transpose(images, (0, 2, 3, 1))

        def restore(out):
            if first:
                out = tf.transpose(out, (0, 3, 1, 2))
            return tf.squeeze(out, 0) if unbatched else out

        return images, restore

    def _hw_axes(self, rank):
        return (rank - 2, rank - 1) if self.data_format == "channels_first" else \
            (rank - 3, rank - 2)

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.bounding_box_format is not None:
            config["bounding_box_format"] = self.bounding_box_format
        return config


def _dense_boxes(bounding_boxes):
    """Keras's densify_bounding_boxes: a {"boxes", "labels"} dict with float32 boxes;
    ragged boxes are padded with 0 and their labels with -1."""
    tf = _tf()
    if not isinstance(bounding_boxes, dict) or not {"boxes", "labels"} <= set(bounding_boxes):
        received = sorted(bounding_boxes) if isinstance(bounding_boxes, dict) else \
            type(bounding_boxes).__name__
        raise ValueError("`bounding_boxes` must be a dict holding 'boxes' and 'labels', "
                         f"received {received}")
    boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
    if isinstance(boxes, tf.RaggedTensor):
        if not isinstance(labels, tf.RaggedTensor):
            raise ValueError("If `bounding_boxes['boxes']` is a ragged tensor, "
                             "`bounding_boxes['labels']` must also be one. Received: "
                             f"labels of type {type(labels).__name__}")
        boxes, labels = boxes.to_tensor(default_value=0), labels.to_tensor(default_value=-1)
    boxes = tf.cast(tf.convert_to_tensor(boxes), "float32")
    labels = tf.convert_to_tensor(labels)
    rank, label_rank = len(boxes.shape), len(labels.shape)
    if rank not in (2, 3) or label_rank not in (rank - 1, rank):
        raise ValueError("Expected bounding_boxes['boxes'] of shape (num_boxes, 4) or "
                         "(batch_size, num_boxes, 4) and labels of one rank less (or with a "
                         f"class axis). Received: boxes.shape={tuple(boxes.shape)}, "
                         f"labels.shape={tuple(labels.shape)}")
    return {**bounding_boxes, "boxes": boxes, "labels": labels}


def _box_utils():
    """keras.utils.bounding_boxes (imported on first use: keras.utils loads after the
    layers)."""
    from tensorflux.keras.utils import bounding_boxes

    return bounding_boxes


def _crop_or_pad_box(height, width, target_h, target_w, pad):
    """Keras's crop_to_aspect_ratio / pad_to_aspect_ratio box arithmetic (the crop's also
    on run-time sizes, scalar tensors)."""
    if not (isinstance(height, int) and isinstance(width, int)):
        if pad:
            raise ValueError("pad_to_aspect_ratio needs the image height and width known when "
                             "the model is built; give the Input its image size")
        tf = _tf()
        h, w = tf.cast(height, "float64"), tf.cast(width, "float64")
        box_h = tf.maximum(tf.minimum(height, tf.cast(w * target_h / target_w, "int32")), 1)
        box_w = tf.maximum(tf.minimum(width, tf.cast(h * target_w / target_h, "int32")), 1)
        return box_h, box_w, (height - box_h) // 2, (width - box_w) // 2
    if pad:
        box_h = max(height, int(float(width * target_h) / target_w))
        box_w = max(width, int(float(height * target_w) / target_h))
        return box_h, box_w, int(float(box_h - height) / 2), int(float(box_w - width) / 2)
    box_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    box_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return box_h, box_w, int(float(height - box_h) / 2), int(float(width - box_w) / 2)


# keras.ops.image.resize's interpolations (its TensorFlow backend's).
RESIZE_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")


def _check_interpolation(interpolation):
    if interpolation not in RESIZE_INTERPOLATIONS:
        raise ValueError("Invalid value for argument `interpolation`. Expected of one "
                         f"{RESIZE_INTERPOLATIONS}. Received: interpolation={interpolation}")


def _resize_images(images, size, interpolation, crop_to_aspect_ratio=False,
                   pad_to_aspect_ratio=False, fill_value=0.0, antialias=False):
    """Batched channels_last images resized as keras.ops.image.resize (TensorFlow)."""
    tf = _tf()
    height, width = _run_time_hw(images)
    target_h, target_w = size
    if crop_to_aspect_ratio:
        box_h, box_w, top, left = _crop_or_pad_box(height, width, target_h, target_w, False)
        images = images[:, top:top + box_h, left:left + box_w, :]
    elif pad_to_aspect_ratio:
        box_h, box_w, top, left = _crop_or_pad_box(height, width, target_h, target_w, True)
        if top > 0 or left > 0:
            images = tf.pad(images, [[0, 0], [top, top], [left, left], [0, 0]],
                            constant_values=fill_value)
    return _image_ops().resize(images, (target_h, target_w), method=interpolation,
                               antialias=antialias)


class Resizing(_ImageLayer):
    """Resizes images to (height, width) with TensorFlow's half-pixel interpolation,
    optionally cropping or padding to the target aspect ratio first.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.Resizing(2, 3)(tf.ones((1, 4, 4, 1))).shape
    TensorShape([1, 2, 3, 1])
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        _check_interpolation(interpolation)
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError("Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` "
                             "can be True.")
        self.height = int(height)
        self.width = int(width)
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = bool(antialias)

    def call(self, inputs):
        if isinstance(inputs, dict):
            # Keras resizes segmentation masks with nearest-neighbour sampling.
            return self._dict_call(inputs, lambda x, is_mask: self._resize(
                x, "nearest" if is_mask else self.interpolation),
                lambda: self.get_random_transformation(inputs))
        return self._resize(inputs, self.interpolation)

    def get_random_transformation(self, data, training=True, seed=None):
        """Keras's transformation of a resize: the input (height, width)."""
        shape = self._check_rank(data["images"] if isinstance(data, dict) else data)
        return tuple(shape[axis] for axis in self._hw_axes(len(shape)))

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Boxes scaled (and moved by the aspect-ratio crop or padding) as their images,
        clipped; padding boxes (all 0 or all -1) become zeros."""
        tf = _tf()
        box_utils = _box_utils()
        input_height, input_width = transformation
        boxes = bounding_boxes["boxes"]
        padding = tf.logical_or(tf.reduce_all(tf.equal(boxes, -1.0), axis=-1),
                                tf.reduce_all(tf.equal(boxes, 0.0), axis=-1))
        boxes = box_utils.convert_format(boxes, self.bounding_box_format, "xyxy",
                                         height=input_height, width=input_width)
        boxes = self._resize_xyxy(boxes, tf.cast(input_height, boxes.dtype),
                                  tf.cast(input_width, boxes.dtype))
        out = box_utils.clip_to_image_size({**bounding_boxes, "boxes": boxes},
                                           height=self.height, width=self.width)
        boxes = tf.where(padding[..., None], tf.zeros_like(out["boxes"]), out["boxes"])
        out["boxes"] = box_utils.convert_format(boxes, "xyxy", self.bounding_box_format,
                                                height=self.height, width=self.width)
        return out

    def _resize_xyxy(self, boxes, input_height, input_width):
        """xyxy boxes of an (input_height, input_width) image in the resized image (Keras's
        arithmetic: float32, offsets floored)."""
        tf = _tf()
        height = tf.constant(float(self.height), boxes.dtype)
        width = tf.constant(float(self.width), boxes.dtype)
        if self.pad_to_aspect_ratio:
            scale_x = scale_y = tf.minimum(height / input_height, width / input_width)
            left = tf.floor((width - input_width * scale_x) / 2.0)
            top = tf.floor((height - input_height * scale_y) / 2.0)
        elif self.crop_to_aspect_ratio:
            source_ratio = input_width / input_height
            wider = source_ratio > width / height
            new_width = tf.where(wider, height * source_ratio, width)
            new_height = tf.where(wider, height, width / source_ratio)
            scale_x, scale_y = new_width / input_width, new_height / input_height
            # The centered crop's floored offset moves the boxes back.
            left = -tf.floor((new_width - width) / 2.0)
            top = -tf.floor((new_height - height) / 2.0)
        else:
            scale_x, scale_y = width / input_width, height / input_height
            left = top = tf.zeros((), boxes.dtype)
        x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
        return tf.stack([x1 * scale_x + left, y1 * scale_y + top, x2 * scale_x + left,
                         y2 * scale_y + top], axis=-1)

    def _resize(self, inputs, interpolation):
        tf = _tf()
        if self.fill_mode != "constant":  # (Keras's resize supports only this one)
            raise ValueError(f"{_describe(self)}: invalid value for argument `fill_mode`. "
                             "Only 'constant' is supported. Received: "
                             f"fill_mode={self.fill_mode!r}")
        self._check_rank(inputs)
        images, restore = self._to_last(inputs)
        dtype = self.compute_dtype
        integer = images.dtype.is_integer
        if not integer and images.dtype.name != dtype:
            images = tf.cast(images, dtype)
        out = _resize_images(images, (self.height, self.width), interpolation,
                             self.crop_to_aspect_ratio, self.pad_to_aspect_ratio,
                             self.fill_value, self.antialias)
        if integer and out.dtype != images.dtype:
            # Keras hands integer images back in their dtype, rounded and saturated.
            out = tf.saturate_cast(tf.round(out), images.dtype)
        return restore(tf.cast(out, dtype) if not integer and out.dtype.name != dtype else out)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


def _clip_to_window(boxes, top, left, height, width):
    """xyxy boxes clipped to the (height, width) window at (top, left), in its frame."""
    tf = _tf()
    x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)

    def clip(values, start, size):
        start = tf.constant(float(start), boxes.dtype)
        return tf.clip_by_value(values, start, start + float(size)) - start

    return tf.stack([clip(x1, left, width), clip(y1, top, height), clip(x2, left, width),
                     clip(y2, top, height)], axis=-1)


def _run_time_hw(images):
    """(height, width) of batched channels_last images: ints where known, else scalar
    tensors read when the function runs (a model on Input((None, None, 3)))."""
    height, width = _static_shape(images)[1:3]
    if height is None or width is None:
        shape = _tf().shape(images)
        height = shape[1] if height is None else height
        width = shape[2] if width is None else width
    return height, width


def _center_crop(images, target_h, target_w):
    """Keras's CenterCrop on batched channels_last images: a plain center crop when the
    image is large enough, else crop to the target aspect ratio and resize (bilinear)."""
    height, width = _run_time_hw(images)
    if not (isinstance(height, int) and isinstance(width, int)):
        tf = _tf()

        def crop():
            top, left = (height - target_h) // 2, (width - target_w) // 2
            return images[:, top:top + target_h, left:left + target_w, :]

        out = tf.cond(tf.logical_and(height >= target_h, width >= target_w), crop,
                      lambda: _resize_images(images, (target_h, target_w), "bilinear",
                                             crop_to_aspect_ratio=True))
        shape = list(_static_shape(images))
        out.set_shape([shape[0], target_h, target_w, shape[3]])
        return out
    if height >= target_h and width >= target_w:
        top, left = (height - target_h) // 2, (width - target_w) // 2
        return images[:, top:top + target_h, left:left + target_w, :]
    return _resize_images(images, (target_h, target_w), "bilinear",
                          crop_to_aspect_ratio=True)


class CenterCrop(_ImageLayer):
    """Crops the central (height, width) region; smaller images are cropped to the target
    aspect ratio and resized, as Keras.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> image = tf.reshape(tf.range(16.0), (4, 4, 1))
    >>> keras.layers.CenterCrop(2, 2)(image)[..., 0].numpy().tolist()
    [[5.0, 6.0], [9.0, 10.0]]
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.height = int(height)
        self.width = int(width)

    def call(self, inputs):
        if isinstance(inputs, dict):
            return self._dict_call(inputs, lambda x, is_mask: self._crop(x),
                                   lambda: self.get_random_transformation(inputs))
        return self._crop(inputs)

    def get_random_transformation(self, data, training=True, seed=None):
        return {"input_shape": _static_shape(data["images"] if isinstance(data, dict)
                                             else data)}

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Boxes in the frame of the central window, clipped to it; where the image is
        smaller than the target, the window is Keras's aspect-ratio crop, scaled."""
        box_utils = _box_utils()
        shape = transformation["input_shape"]
        height, width = (shape[axis] for axis in self._hw_axes(len(shape)))
        boxes = box_utils.convert_format(bounding_boxes["boxes"], self.bounding_box_format,
                                         "xyxy", height=height, width=width)
        if height >= self.height and width >= self.width:
            top, left = int((height - self.height) / 2), int((width - self.width) / 2)
            boxes = _clip_to_window(boxes, top, left, self.height, self.width)
        else:
            box_h, box_w, top, left = _crop_or_pad_box(height, width, self.height,
                                                       self.width, False)
            boxes = _clip_to_window(boxes, top, left, box_h, box_w)
            boxes = box_utils.convert_format(boxes, "xyxy", "rel_xyxy", height=box_h,
                                             width=box_w)
            boxes = box_utils.convert_format(boxes, "rel_xyxy", "xyxy", height=self.height,
                                             width=self.width)
        out = box_utils.clip_to_image_size({**bounding_boxes, "boxes": boxes},
                                           height=self.height, width=self.width)
        out["boxes"] = box_utils.convert_format(out["boxes"], "xyxy", self.bounding_box_format,
                                                height=self.height, width=self.width)
        return out

    def _crop(self, inputs):
        tf = _tf()
        self._check_rank(inputs)
        images, restore = self._to_last(inputs)
        if images.dtype.name != self.compute_dtype:
            images = tf.cast(images, self.compute_dtype)
        return restore(_center_crop(images, self.height, self.width))

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class _RandomLayer(_ImageLayer):
    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        self._random = _RandomSource(seed)

    def _uniform(self, shape, low, high, dtype="float32", source=None):
        """Uniform draws from `source`: this layer's, another layer's, or a new one seeded
        with an int."""
        if source is None:
            source = self._random
        elif isinstance(source, int):
            source = _RandomSource(source)
        return low + (high - low) * source.uniform(shape, dtype)

    def _batch_draws(self, shape):
        """How many images one call draws for: the batch size (see _draw_count), or 1."""
        return _draw_count(shape[0]) if len(shape) == 4 else 1

    def _cast(self, inputs):
        tf = _tf()
        if inputs.dtype.name != self.compute_dtype:
            return tf.cast(inputs, self.compute_dtype)
        return inputs

    def _pass_through(self, inputs):
        """Inference output of the layers Keras leaves untouched then: integer images keep
        their dtype, float ones take the compute dtype."""
        return inputs if inputs.dtype.is_integer else self._cast(inputs)


HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL = "horizontal", "vertical", \
    "horizontal_and_vertical"


class RandomFlip(_RandomLayer):
    """While training, flips each image left-right and/or up-down with probability 1/2
    (one draw per image: with "horizontal_and_vertical" both flips happen together).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> x = tf.reshape(tf.range(4.0), (1, 2, 2, 1))
    >>> keras.layers.RandomFlip("horizontal")(x, training=False)[0, ..., 0].numpy().tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """

    def __init__(self, mode=HORIZONTAL_AND_VERTICAL, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in (HORIZONTAL, VERTICAL, HORIZONTAL_AND_VERTICAL):
            raise ValueError(f"RandomFlip layer {self.name} received an unknown mode "
                             f"argument {mode}")
        self.mode = mode

    def call(self, inputs, training=True):
        if isinstance(inputs, dict):
            transformation = self.get_random_transformation(inputs, training)
            flips = None if transformation is None else transformation["flips"]
            return self._dict_call(inputs, lambda x, is_mask: self._flip(x, flips),
                                   transformation, training)
        return self._flip(inputs, self._draw(inputs) if training else None)

    def get_random_transformation(self, data, training=True, seed=None):
        """{"flips": whether to flip each image, "input_shape"} (None at inference)."""
        if not training:
            return None
        images = self._dict_images(data) if isinstance(data, dict) else data
        return {"flips": self._draw(images), "input_shape": _static_shape(images)}

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """Flipped images' boxes mirrored (in relative coordinates, as Keras)."""
        if not training:
            return bounding_boxes
        tf = _tf()
        box_utils = _box_utils()
        shape = transformation["input_shape"]
        height, width = (shape[axis] for axis in self._hw_axes(len(shape)))
        flips = tf.reshape(tf.convert_to_tensor(transformation["flips"]), (-1, 1, 1))
        boxes = box_utils.convert_format(bounding_boxes["boxes"], self.bounding_box_format,
                                         "rel_xyxy", height=height, width=width)
        x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
        if self.mode in (HORIZONTAL, HORIZONTAL_AND_VERTICAL):
            boxes = tf.where(flips, tf.stack([1 - x2, y1, 1 - x1, y2], axis=-1), boxes)
        x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
        if self.mode in (VERTICAL, HORIZONTAL_AND_VERTICAL):
            boxes = tf.where(flips, tf.stack([x1, 1 - y2, x2, 1 - y1], axis=-1), boxes)
        # Keras clips the relative boxes to the pixel size: only empty boxes lose labels.
        out = box_utils.clip_to_image_size({**bounding_boxes, "boxes": boxes},
                                           height=height, width=width)
        out["boxes"] = box_utils.convert_format(out["boxes"], "rel_xyxy",
                                                self.bounding_box_format, height=height,
                                                width=width)
        return out

    def _draw(self, images):
        """Whether to flip each image (one draw per image of a batch)."""
        shape = self._check_rank(images)
        batch = _draw_count(shape[0]) if len(shape) == 4 else 1
        return _tf().less_equal(self._random.uniform((batch, 1, 1, 1), "float32"), 0.5)

    def _flip(self, inputs, flips):
        tf = _tf()
        self._check_rank(inputs)
        inputs = self._cast(inputs)
        if flips is None:
            return inputs
        images, restore = self._to_last(inputs)
        out = images
        if self.mode in (HORIZONTAL, HORIZONTAL_AND_VERTICAL):
            out = tf.where(flips, tf.reverse(out, [2]), out)
        if self.mode in (VERTICAL, HORIZONTAL_AND_VERTICAL):
            out = tf.where(flips, tf.reverse(out, [1]), out)
        return restore(out)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "seed": self.seed}


def _check_fill(layer, fill_mode, interpolation):
    if fill_mode not in _FILL_MODES:
        raise NotImplementedError(f"Unknown `fill_mode` {fill_mode}. Expected of one "
                                  f"{_FILL_MODES}.")
    if interpolation not in _INTERPOLATIONS:
        raise NotImplementedError(f"Unknown `interpolation` {interpolation}. Expected of "
                                  f"one {_INTERPOLATIONS}.")


def _factor_pair(factor, name, check):
    """(lower, upper) from a number f (-|f|, |f|) or a pair (sorted), as Keras."""
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"The `{name}` argument should be a number or a list of two "
                             f"numbers. Received: {name}={factor}")
        for value in factor:
            check(value)
        lower, upper = sorted(factor)
        return float(lower), float(upper)
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        check(factor)
        factor = abs(factor)
        return -float(factor), float(factor)
    raise ValueError(f"The `{name}` argument should be a number or a list of two numbers. "
                     f"Received: {name}={factor}")


class _GeometricLayer(_RandomLayer):
    """Rotation, zoom and translation: one projective transform per image while training.

    As Keras 3, `get_random_transformation(data, training, seed)` draws the parameters of one
    call (`seed`: another layer's random source, as RandAugment passes) and
    `transform_images(images, transformation, training)` applies them, so composite layers
    draw first and apply later."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        _check_fill(self, fill_mode, interpolation)
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = fill_value

    def call(self, inputs, training=True):
        if isinstance(inputs, dict):
            self._dict_images(inputs)
            transformation = self.get_random_transformation(inputs, training=training)
            return self._dict_call(inputs, lambda x, is_mask: (
                self.transform_segmentation_masks if is_mask else self.transform_images)(
                    x, transformation, training=training), transformation, training)
        self._check_rank(inputs)
        transformation = self.get_random_transformation(inputs, training=training)
        return self.transform_images(inputs, transformation, training=training)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        shape = self._check_rank(images)
        height, width = (shape[axis] for axis in self._hw_axes(len(shape)))
        if height is None or width is None:
            raise ValueError(f"{_describe(self)} needs images of known height and width, "
                             f"received shape {shape}")
        return self._draw(self._batch_draws(shape), height, width, shape,
                          self._random if seed is None else seed)

    def transform_images(self, images, transformation, training=True):
        images = self._cast(images)
        if not training or transformation is None:
            return images
        return self._warp(images, transformation, self.interpolation)

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        """Masks move with their images, nearest-neighbour so that class ids stay whole."""
        if not training or transformation is None:
            return segmentation_masks
        if segmentation_masks.dtype.is_floating:
            return self._warp(segmentation_masks, transformation, "nearest")
        # Integer class ids: nearest sampling reads them exactly through float32.
        tf = _tf()
        warped = self._warp(tf.cast(segmentation_masks, "float32"), transformation, "nearest")
        return tf.cast(warped, segmentation_masks.dtype)

    def _warp(self, images, transformation, interpolation):
        images, restore = self._to_last(images)
        height, width = _static_shape(images)[1:3]
        out = _image_ops().affine_transform(images, self._matrix(transformation, height, width),
                                            interpolation=interpolation,
                                            fill_mode=self.fill_mode,
                                            fill_value=self.fill_value)
        return restore(out)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value}


def _draw_count(batch):
    """Draws per image when the batch size is static; a graph traced with an unknown batch
    size (a symbolic shape trace) draws once for the whole batch, since random shapes must
    be static in tensorflux graphs."""
    return 1 if batch is None else batch


class RandomRotation(_GeometricLayer):
    """While training, rotates each image by an angle drawn uniformly from
    [factor[0], factor[1]] * 360 degrees about its center (Keras's affine matrix).

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> layer = keras.layers.RandomRotation(0.1, seed=3)
    >>> layer(tf.ones((2, 5, 5, 1))).shape
    TensorShape([2, 5, 5, 1])
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.factor = _factor_pair(factor, "factor", _no_check)
        self._factor_arg = factor

    def _draw(self, batch, height, width, shape, source):
        tf = _tf()
        angle = self._uniform((batch,), self.factor[0] * 360.0, self.factor[1] * 360.0,
                              source=source)
        radians = angle * (math.pi / 180.0)
        cos, sin = tf.cos(radians), tf.sin(radians)
        cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
        a0, a1 = cos, -sin
        b0, b1 = sin, cos
        a2 = cx - cx * a0 - cy * a1
        b2 = cy - cx * b0 - cy * b1
        zeros = tf.zeros_like(angle)
        matrix = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        return {"angle": angle, "rotation_matrix": matrix, "image_height": height,
                "image_width": width, "batch_size": batch}

    def _matrix(self, transformation, height, width):
        return _tf().reshape(transformation["rotation_matrix"], (-1, 8))

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """While training, each box becomes the box around its rotated corners, clipped.
        Boxes are read in `bounding_box_format` and returned in it. (Keras 3.15 reads them
        as "xyxy" whatever the format says.)"""
        if not training or transformation is None:
            return bounding_boxes
        tf = _tf()
        box_utils = _box_utils()
        height, width = transformation["image_height"], transformation["image_width"]
        angle = tf.reshape(tf.cast(transformation["angle"], "float32"), (-1,))
        zeros, ones = tf.zeros_like(angle), tf.ones_like(angle)
        boxes = box_utils.convert_format(bounding_boxes["boxes"], self.bounding_box_format,
                                         "xyxy", height=height, width=width)
        boxes = box_utils.affine_transform(boxes, angle, zeros, zeros, ones, zeros, zeros,
                                           height, width)
        return _clip_and_convert(self, {**bounding_boxes, "boxes": boxes}, height, width)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor),
                "data_format": self.data_format}


def _clip_and_convert(layer, bounding_boxes, height, width, source="xyxy"):
    """Boxes in `source` format ("xyxy" or "rel_xyxy") clipped to the image (labels of
    emptied boxes -1), then converted to the layer's format."""
    box_utils = _box_utils()
    out = box_utils.clip_to_image_size(bounding_boxes, height=height, width=width,
                                       bounding_box_format=source)
    out["boxes"] = box_utils.convert_format(out["boxes"], source, layer.bounding_box_format,
                                            height=height, width=width)
    return out


def _xyxy_boxes(layer, bounding_boxes, transformation):
    """(the boxes in absolute xyxy, the image height and width): where a geometric layer's
    transform_bounding_boxes starts; it converts back to its own format at the end."""
    height, width = _image_hw(layer, transformation)
    boxes = _box_utils().convert_format(bounding_boxes["boxes"], layer.bounding_box_format,
                                        "xyxy", height=height, width=width)
    return boxes, height, width


def _image_hw(layer, transformation):
    """(height, width) of the images a transformation was drawn for."""
    shape = transformation["input_shape"]
    return tuple(shape[axis] for axis in layer._hw_axes(len(shape)))


def _no_check(value):
    return None


def _json_factor(factor):
    return list(factor) if isinstance(factor, tuple) else factor


def _check_unit(value):
    if value > 1.0 or value <= -1.0:
        raise ValueError("The `factor` argument should be a number (or a list of two numbers) "
                         f"in the range (-1.0, 1.0]. Received: input_number={value}")


class RandomZoom(_GeometricLayer):
    """While training, zooms each image by 1 + a factor drawn from [lower, upper] (positive:
    zoom out); `width_factor=None` keeps the aspect ratio.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.RandomZoom(0.2, seed=1)(tf.ones((1, 4, 4, 1))).shape
    TensorShape([1, 4, 4, 1])
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.height_lower, self.height_upper = _factor_pair(height_factor, "height_factor",
                                                            _check_unit)
        if width_factor is not None:
            self.width_lower, self.width_upper = _factor_pair(width_factor, "width_factor",
                                                              _check_unit)

    def _draw(self, batch, height, width, shape, source):
        zoom_h = self._uniform((batch, 1), 1.0 + self.height_lower, 1.0 + self.height_upper,
                               source=source)
        zoom_w = zoom_h
        if self.width_factor is not None:
            zoom_w = self._uniform((batch, 1), 1.0 + self.width_lower, 1.0 + self.width_upper,
                                   source=source)
        return {"height_zoom": zoom_h, "width_zoom": zoom_w, "input_shape": shape}

    def _matrix(self, transformation, height, width):
        tf = _tf()
        zoom_h = tf.cast(transformation["height_zoom"], "float32")
        zoom_w = tf.cast(transformation["width_zoom"], "float32")
        x_offset = (width - 1.0) / 2.0 * (1.0 - zoom_w)
        y_offset = (height - 1.0) / 2.0 * (1.0 - zoom_h)
        zeros = tf.zeros_like(zoom_h)
        return tf.concat([zoom_w, zeros, x_offset, zeros, zoom_h, y_offset, zeros, zeros],
                         axis=1)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """While training, boxes clipped to the region the zoomed image shows, scaled to
        the image and clipped."""
        if not training or transformation is None:
            return bounding_boxes
        tf = _tf()
        box_utils = _box_utils()
        boxes, height, width = _xyxy_boxes(self, bounding_boxes, transformation)
        matrix = self._matrix(transformation, height, width)
        # The region shown: where the output's corners (0, 0) and (width, height) read.
        left, top = _read_point(matrix, 0.0, 0.0)
        right, bottom = _read_point(matrix, float(width), float(height))
        if len(boxes.shape) == 3:
            left, top, right, bottom = (c[:, :, None] for c in (left, top, right, bottom))
        x1, y1, x2, y2 = tf.split(boxes, 4, axis=-1)
        boxes = tf.concat([tf.clip_by_value(x1, left, right) - left,
                           tf.clip_by_value(y1, top, bottom) - top,
                           tf.clip_by_value(x2, left, right) - left,
                           tf.clip_by_value(y2, top, bottom) - top], axis=-1)
        boxes = box_utils.convert_format(boxes, "xyxy", "rel_xyxy", height=bottom - top,
                                         width=right - left)
        return _clip_and_convert(self, {**bounding_boxes, "boxes": boxes}, height, width,
                                 source="rel_xyxy")

    def get_config(self):
        return {**super().get_config(), "height_factor": _json_factor(self.height_factor),
                "width_factor": _json_factor(self.width_factor),
                "data_format": self.data_format}


def _read_point(matrix, x, y):
    """Where output pixel (x, y) reads the input under projective transforms (batch, 8):
    two (batch, 1) tensors."""
    tf = _tf()
    a0, a1, a2, b0, b1, b2, c0, c1 = tf.split(matrix, 8, axis=-1)
    scale = c0 * x + c1 * y + 1.0
    return (a0 * x + a1 * y + a2) / scale, (b0 * x + b1 * y + b2) / scale


class RandomTranslation(_GeometricLayer):
    """While training, shifts each image by fractions of its height and width drawn from
    the factor ranges.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.RandomTranslation(0.2, 0.2, seed=1)(tf.ones((1, 4, 4, 1))).shape
    TensorShape([1, 4, 4, 1])
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.height_factor = height_factor
        self.width_factor = width_factor
        self.height_lower, self.height_upper = _factor_pair(height_factor, "height_factor",
                                                            _check_unit)
        self.width_lower, self.width_upper = _factor_pair(width_factor, "width_factor",
                                                          _check_unit)

    def _draw(self, batch, height, width, shape, source):
        tf = _tf()
        dy = self._uniform((batch, 1), self.height_lower, self.height_upper,
                           source=source) * float(height)
        dx = self._uniform((batch, 1), self.width_lower, self.width_upper,
                           source=source) * float(width)
        return {"translations": tf.concat([dx, dy], axis=1), "input_shape": shape}

    def _matrix(self, transformation, height, width):
        tf = _tf()
        translations = tf.cast(transformation["translations"], "float32")
        dx, dy = translations[:, 0:1], translations[:, 1:2]
        ones, zeros = tf.ones_like(dx), tf.zeros_like(dx)
        return tf.concat([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """While training, boxes moved with their images and clipped."""
        if not training or transformation is None:
            return bounding_boxes
        tf = _tf()
        boxes, height, width = _xyxy_boxes(self, bounding_boxes, transformation)
        shift_x, shift_y = _read_point(self._matrix(transformation, height, width), 0.0, 0.0)
        if len(boxes.shape) == 3:
            shift_x, shift_y = shift_x[:, :, None], shift_y[:, :, None]
        x1, y1, x2, y2 = tf.split(boxes, 4, axis=-1)
        boxes = tf.concat([x1 - shift_x, y1 - shift_y, x2 - shift_x, y2 - shift_y], axis=-1)
        return _clip_and_convert(self, {**bounding_boxes, "boxes": boxes}, height, width)

    def get_config(self):
        return {**super().get_config(), "height_factor": _json_factor(self.height_factor),
                "width_factor": _json_factor(self.width_factor),
                "data_format": self.data_format}


class RandomContrast(_RandomLayer):
    """While training, scales each image's deviation from its per-channel mean by a factor
    drawn from [1 - lower, 1 + upper], then clips to `value_range`.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> out = keras.layers.RandomContrast(0.5, seed=1)(tf.ones((1, 2, 2, 1)) * 9.0)
    >>> out[0, ..., 0].numpy().tolist()
    [[9.0, 9.0], [9.0, 9.0]]
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)

        def check(value):
            if value < 0 or value > 1:
                raise ValueError("The `factor` argument should be a number (or a list of two "
                                 f"numbers) in the range [0, 1]. Received: factor={factor}")

        if isinstance(factor, (tuple, list)):
            if len(factor) != 2 or factor[0] > 1 or factor[1] < 0:
                raise ValueError("The `factor` argument should be a number (or a list of two "
                                 f"numbers) in the range [0, 1]. Received: factor={factor}")
            self.factor = tuple(sorted(factor))
        else:
            check(factor)
            factor = abs(factor)
            self.factor = (max(-factor, 0), factor)
        self._factor_arg = factor
        self.value_range = tuple(value_range)

    def call(self, inputs, training=True):
        if isinstance(inputs, dict):  # masks pass through
            return self._dict_call(inputs, lambda x, is_mask: x if is_mask else self.call(
                x, training=training))
        self._check_rank(inputs)
        if not training:
            return self._pass_through(inputs)
        inputs = self._cast(inputs)
        transformation = self.get_random_transformation(inputs, training=training)
        return self.transform_images(inputs, transformation, training=training)

    def get_random_transformation(self, data, training=True, seed=None):
        """{"contrast_factor": one factor per image}; zeros at inference, as Keras."""
        images = data["images"] if isinstance(data, dict) else data
        shape = self._check_rank(images)
        factor_shape = (self._batch_draws(shape), 1, 1, 1) if len(shape) == 4 else (1, 1, 1)
        if not training:
            return {"contrast_factor": _tf().zeros(factor_shape)}
        factor = self._uniform(factor_shape, 1.0 - self.factor[0], 1.0 + self.factor[1],
                               dtype=self.compute_dtype, source=seed)
        return {"contrast_factor": factor}

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        tf = _tf()
        h_axis, w_axis = self._hw_axes(len(_static_shape(images)))
        mean = tf.reduce_mean(images, axis=h_axis, keepdims=True)
        mean = tf.reduce_mean(mean, axis=w_axis, keepdims=True)
        factor = tf.cast(transformation["contrast_factor"], images.dtype)
        out = (images - mean) * factor + mean
        return tf.clip_by_value(out, self.value_range[0], self.value_range[1])

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        return segmentation_masks

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor),
                "value_range": list(self.value_range), "seed": self.seed}


class RandomCrop(_RandomLayer):
    """While training, crops a random (height, width) window of each batch (one offset for
    the whole batch, as Keras); images not larger than the crop get Keras's aspect-ratio
    window, resized. At inference the images pass through unchanged, as Keras 3.15.

    >>> import tensorflux as tf
    >>> from tensorflux import keras
    >>> keras.layers.RandomCrop(2, 3, seed=1)(tf.ones((4, 5, 6, 1))).shape
    TensorShape([4, 2, 3, 1])
    """

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        self.height = int(height)
        self.width = int(width)
        self.autocast = False  # as Keras: inputs keep their dtype (cast when cropped)

    def call(self, inputs, training=True):
        if isinstance(inputs, dict):  # masks get the images' window
            images = self._dict_images(inputs)
            offsets = self._draw(images) if training else None
            return self._dict_call(
                inputs, lambda x, is_mask: self._crop(x, training, offsets),
                lambda: self._transformation(images, offsets), training)
        return self._crop(inputs, training, self._draw(inputs) if training else None)

    def get_random_transformation(self, data, training=True, seed=None):
        """Keras's (top, left) of the window: random while training when the images are
        larger than it, else the aspect-ratio crop's corner."""
        images = self._dict_images(data) if isinstance(data, dict) else data
        return self._transformation(images, self._draw(images) if training else None)

    def _transformation(self, images, offsets):
        """The window's (top, left), `offsets` or else the aspect-ratio window's, carrying
        the images' (height, width) for the boxes."""
        shape = self._check_rank(images)
        height, width = (shape[axis] for axis in self._hw_axes(len(shape)))
        if offsets is None:
            offsets = _crop_or_pad_box(height, width, self.height, self.width, False)[2:]
        return _CropWindow(offsets, (height, width))

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        """While training, boxes in the frame of the cropped window (x - left, y - top),
        scaled as the window is when it is resized to (height, width), and clipped to the
        output; relative formats are read against the input images and written against the
        output. (Keras 3.15 shifts x by the top offset and y by the left one, clips no far
        edge and reads relative boxes against the crop size; these boxes follow the image.)
        At inference the images, and so the boxes, pass through."""
        if not training:
            return bounding_boxes
        tf = _tf()
        box_utils = _box_utils()
        image_size = getattr(transformation, "image_size", None)
        if image_size is None and self.bounding_box_format.lower().startswith("rel_"):
            raise ValueError(
                "RandomCrop needs the input images' size to read relative boxes: pass the "
                "transformation from `get_random_transformation(images)`; received "
                f"transformation={transformation!r}")
        height, width = image_size or (None, None)
        boxes = box_utils.convert_format(bounding_boxes["boxes"], self.bounding_box_format,
                                         "xyxy", height=height, width=width)
        top, left = (tf.cast(offset, boxes.dtype) for offset in transformation)
        x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
        x1, x2, y1, y2 = x1 - left, x2 - left, y1 - top, y2 - top
        if image_size is not None:
            # The window holds what the images have of (height, width) rows and columns
            # from (top, left); a short window is resized to (height, width).
            window_h = tf.minimum(tf.cast(self.height, boxes.dtype), height - top)
            window_w = tf.minimum(tf.cast(self.width, boxes.dtype), width - left)
            scale_y, scale_x = self.height / window_h, self.width / window_w
            x1, x2, y1, y2 = x1 * scale_x, x2 * scale_x, y1 * scale_y, y2 * scale_y
        boxes = tf.stack([x1, y1, x2, y2], axis=-1)
        boxes = box_utils.crop(boxes, 0, 0, self.height, self.width)
        boxes = box_utils.convert_format(boxes, "xyxy", self.bounding_box_format,
                                         height=self.height, width=self.width)
        return {"boxes": boxes, "labels": bounding_boxes["labels"]}

    def _draw(self, images):
        """The window's (top, left) offsets: drawn when the images are larger than it."""
        shape = self._check_rank(images)
        h_axis, w_axis = self._hw_axes(len(shape))
        height, width = shape[h_axis], shape[w_axis]
        if height is None or width is None:
            raise ValueError("RandomCrop requires the input to have a fully defined height "
                             f"and width. Received: images.shape={shape}")
        if height > self.height and width > self.width:
            return (self._offset(height - self.height + 1),
                    self._offset(width - self.width + 1))
        return None

    def _crop(self, inputs, training, offsets):
        self._check_rank(inputs)
        if not training:
            # Keras 3.15 returns the images unchanged at inference, dtype included (its
            # transform runs only when training), though compute_output_shape says
            # (height, width).
            return inputs
        inputs = self._cast(inputs)
        images, restore = self._to_last(inputs)
        height, width = _static_shape(images)[1:3]
        if offsets is not None:
            return restore(_image_ops_crop(images, *offsets, self.height, self.width))
        # Keras: a window at the aspect-ratio crop's corner, resized when it falls short.
        _, _, top, left = _crop_or_pad_box(height, width, self.height, self.width, False)
        out = images[:, top:top + self.height, left:left + self.width, :]
        if tuple(_static_shape(out)[1:3]) != (self.height, self.width):
            out = _image_ops().resize(out, (self.height, self.width), method="bilinear")
        return restore(out)

    def _offset(self, span):
        tf = _tf()
        draw = self._uniform((), 0.0, float(span))
        return tf.cast(draw, "int32")

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "seed": self.seed}


class _CropWindow(tuple):
    """RandomCrop's transformation: Keras's (top, left) of the window, with the
    `image_size` (height, width) of the images it was made for."""

    def __new__(cls, offsets, image_size):
        window = super().__new__(cls, offsets)
        window.image_size = image_size
        return window


def _image_ops_crop(images, top, left, height, width):
    """images[:, top:top + height, left:left + width, :] for tensor offsets.

    Gathers rows then columns: unlike slice, gather takes offsets known only when the step
    runs, so the crop also works inside a traced train step or a Dataset.map.
    """
    tf = _tf()
    rows = tf.gather(images, tf.range(height) + top, axis=1)
    return tf.gather(rows, tf.range(width) + left, axis=2)
