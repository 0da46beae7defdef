"""keras.visualization: bounding boxes and segmentation masks drawn onto batches of images, and
galleries of images plotted with matplotlib, as Keras 3.

The draw functions return arrays (uint8 images) ready for saving or plotting. Box and label
drawing is OpenCV's, as in Keras (its rectangles and Hershey font are what Keras's output holds),
so `draw_bounding_boxes` needs the `cv2` package; the plot functions need `matplotlib`. Both are
optional and imported on first use.
"""

import math

__all__ = ["draw_bounding_boxes", "draw_segmentation_masks", "plot_bounding_box_gallery",
           "plot_image_gallery", "plot_segmentation_mask_gallery"]


def _ops():
    from tensorflux.keras import ops

    return ops


def _optional(module, function, install):
    """The optional `module` a function needs, or an ImportError saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"`{function}` requires the `{module.split('.')[0]}` package. "
                          f"Install it with `pip install {install}`.") from error


def _data_format(data_format):
    if data_format is None:
        from tensorflux.keras import backend

        return backend.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("`data_format` must be 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format!r}")
    return data_format


def _batched_shape(images):
    shape = tuple(_ops().shape(images))
    if len(shape) != 4:
        raise ValueError(f"`images` must be a batched 4D tensor. Received: images.shape={shape}")
    return shape


# ---------------------------------------------------------------------- drawing

def draw_bounding_boxes(images, bounding_boxes, bounding_box_format, class_mapping=None,
                        color=(128, 128, 128), line_thickness=2, text_thickness=1,
                        font_scale=1.0, data_format=None):
    """A uint8 copy of the batch `images` with the `bounding_boxes` dict's boxes ("boxes"
    (batch, num_boxes, 4) in `bounding_box_format`, "labels" (batch, num_boxes), optional
    "confidences") drawn in `color`; label -1 marks padding. Classes in `class_mapping` get
    their name (and confidence) written above the box. Float images in [0, 1] are scaled to
    [0, 255]. Needs OpenCV (`cv2`), as Keras."""
    cv2 = _optional("cv2", "draw_bounding_boxes", "opencv-python")
    from tensorflux.keras.utils import bounding_boxes as box_utils

    ops = _ops()
    class_mapping = class_mapping or {}
    text_thickness = text_thickness or line_thickness
    data_format = _data_format(data_format)
    shape = _batched_shape(images)
    if not isinstance(bounding_boxes, dict):
        raise TypeError("`bounding_boxes` should be a dict with 'boxes' and 'labels'. "
                        f"Received: bounding_boxes of type {type(bounding_boxes).__name__}")
    if "boxes" not in bounding_boxes or "labels" not in bounding_boxes:
        raise ValueError("`bounding_boxes` should be a dict containing 'boxes' and 'labels' "
                         f"keys. Received keys: {sorted(bounding_boxes)}")
    height, width = shape[1:3] if data_format == "channels_last" else shape[2:4]
    converted = box_utils.convert_format(dict(bounding_boxes), bounding_box_format, "xyxy",
                                         height, width)

    images = ops.convert_to_numpy(images)
    if images.dtype.kind == "f" and images.size > 0:
        images = images.clip(0, 1) * 255 if images.max() <= 1.0 else images.clip(0, 255)
    images = images.astype("uint8")  # a copy: OpenCV draws into it in place
    boxes = ops.convert_to_numpy(converted["boxes"])
    labels = ops.convert_to_numpy(converted["labels"])
    confidences = converted.get("confidences")
    if confidences is not None:
        confidences = ops.convert_to_numpy(confidences)
    _check_box_batch(shape[0], boxes, labels)

    for index, (image, image_boxes, image_labels) in enumerate(zip(images, boxes, labels)):
        for box_index, (box, label) in enumerate(zip(image_boxes, image_labels)):
            label = int(label.astype("int32"))
            if label == -1:
                continue
            x1, y1, x2, y2 = (int(value) for value in box.astype("int32"))
            cv2.rectangle(image, (x1, y1), (x2, y2), color, line_thickness)
            if label not in class_mapping:
                continue
            text = class_mapping[label]
            if confidences is not None:
                text = f"{text} | {confidences[index][box_index]:.2f}"
            cv2.putText(img=image, text=text, org=_text_origin(x1, y1, font_scale, text_thickness),
                        fontFace=cv2.FONT_HERSHEY_SIMPLEX, fontScale=font_scale, color=color,
                        thickness=text_thickness)
    return images


def _check_box_batch(batch_size, boxes, labels):
    """Boxes (batch, num_boxes, 4) and labels (batch, num_boxes) for every image."""
    if boxes.ndim != 3:
        raise ValueError("`bounding_boxes['boxes']` must be batched, of shape (batch_size, "
                         f"num_boxes, 4). Received: boxes.shape={boxes.shape}")
    if boxes.shape[0] < batch_size:
        raise ValueError(f"`bounding_boxes` holds boxes for {boxes.shape[0]} images, but "
                         f"`images` holds {batch_size}.")
    if labels.ndim != 2 or labels.shape[0] < batch_size or labels.shape[1] < boxes.shape[1]:
        raise ValueError("`bounding_boxes['labels']` must be of shape (batch_size, num_boxes) = "
                         f"{(batch_size, boxes.shape[1])}. Received: labels.shape={labels.shape}")


def _text_origin(x, y, font_scale, thickness):
    """Where a box's label goes: just above the box, or inside it when too close to the top."""
    font_height = int(font_scale * 12)
    if y - 8 - 2 * font_height > 0:
        return x, y - 8
    return x + 3, y + 2 * font_height + thickness + 3


def draw_segmentation_masks(images, segmentation_masks, num_classes=None, color_mapping=None,
                            alpha=0.8, blend=True, ignore_index=-1, data_format=None):
    """The batch `images` with each pixel of class k in `segmentation_masks` (integer,
    (batch, height, width, 1)) painted in color k: `color_mapping[k]`, or a fixed palette of
    `num_classes` colors (inferred from the largest class when None). With `blend`, the colors
    are mixed in with opacity `alpha` (pixels of `ignore_index` left as they were) and the
    result is a uint8 array; without, a float32 tensor of the painted images."""
    from tensorflux.keras import backend

    ops = _ops()
    data_format = _data_format(data_format)
    _batched_shape(images)
    masks = ops.convert_to_tensor(segmentation_masks)
    if len(masks.shape) == 3:  # (batch, height, width), as Keras documents
        masks = ops.expand_dims(masks, -1)
    elif len(masks.shape) != 4:
        raise ValueError("`segmentation_masks` must be of shape (batch, height, width) or "
                         f"(batch, height, width, 1). Received: shape={tuple(masks.shape)}")
    elif data_format == "channels_first":
        masks = ops.transpose(masks, (0, 2, 3, 1))
    if data_format == "channels_first":
        images = ops.transpose(images, (0, 2, 3, 1))
    images = ops.convert_to_tensor(images, dtype="float32")
    if not backend.is_int_dtype(masks.dtype):
        dtype = backend.standardize_dtype(masks.dtype)
        raise TypeError("`segmentation_masks` must be in integer dtype. "
                        f"Received: segmentation_masks.dtype={dtype}")
    if num_classes is None:
        num_classes = int(ops.convert_to_numpy(ops.max(masks)))
    if color_mapping is None:
        colors = _palette(num_classes)
    else:
        colors = [color_mapping[k] for k in range(num_classes)]
    channels = images.shape[-1]
    for k, class_color in enumerate(colors):
        if len(class_color) != channels:
            raise ValueError(f"The color of class {k} has {len(class_color)} values, but the "
                             f"images have {channels} channels. Received: color={class_color}")

    valid = ops.squeeze(ops.not_equal(masks, ignore_index), axis=-1)
    one_hot = ops.one_hot(masks, num_classes)[..., 0, :]
    painted = ops.where(ops.any(one_hot > 0, axis=-1, keepdims=True),
                        ops.matmul(one_hot, ops.convert_to_tensor(colors, dtype="float32")),
                        images)
    if not blend:
        return painted
    blended = images * (1 - alpha) + painted * alpha
    blended = ops.where(valid[..., None], blended, images)
    return ops.convert_to_numpy(ops.cast(blended, "uint8"))


def _palette(num_classes):
    """Keras's default class colors: class k gets (k * p) % 255 for three fixed p."""
    return [[(k * p) % 255 for p in (2**25 - 1, 2**15 - 1, 2**21 - 1)]
            for k in range(num_classes)]


# ---------------------------------------------------------------------- galleries

def plot_image_gallery(images, y_true=None, y_pred=None, label_map=None, rows=None, cols=None,
                       value_range=(0, 255), scale=2, path=None, show=None, transparent=True,
                       dpi=60, legend_handles=None, data_format=None):
    """Plots the batch `images` (values in `value_range`) in a rows x cols grid, the first
    rows * cols of them, with their "Label: ..." / "Pred: ..." names from `label_map` as
    titles; saved to `path`, or else shown. Needs matplotlib."""
    plt = _optional("matplotlib.pyplot", "plot_image_gallery", "matplotlib")
    from tensorflux.keras.layers.preprocessing._augmentation import _rescale

    ops = _ops()
    if path is not None and show:
        raise ValueError("plot_image_gallery() saves to `path` or shows the figure "
                         f"(`show=True`), not both. Received: path={path!r}, show={show}")
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ValueError("If `y_true` or `y_pred` are provided, a `label_map` must also be "
                         "provided.")
    show = path is None if show is None else show
    data_format = _data_format(data_format)
    shape = tuple(ops.shape(images))
    batch_size = shape[0] if len(shape) == 4 else 1
    rows = rows or int(math.ceil(math.sqrt(batch_size)))
    cols = cols or batch_size // rows
    if len(shape) != 4:
        raise ValueError("plot_image_gallery() needs a batch of images (a 4D array). "
                         f"Received: images.shape={shape}")
    images = images[: min(rows * cols, batch_size)]
    if data_format == "channels_first":
        images = ops.transpose(images, (0, 2, 3, 1))

    figure, axes = plt.subplots(nrows=rows, ncols=cols, figsize=(cols * scale, rows * scale),
                                frameon=False, layout="tight", squeeze=False, sharex="row",
                                sharey="col")
    figure.subplots_adjust(wspace=0, hspace=0)
    if legend_handles is not None:
        figure.legend(handles=legend_handles, loc="lower center")
    images = ops.convert_to_numpy(_rescale(images, value_range, (0, 255)))
    if y_true is not None:
        y_true = ops.convert_to_numpy(y_true)
    if y_pred is not None:
        y_pred = ops.convert_to_numpy(y_pred)
    for row in range(rows):
        for col in range(cols):
            index = row * cols + col
            axis = axes[row][col]
            axis.imshow(images[index].astype("uint8"))
            axis.margins(x=0, y=0)
            axis.axis("off")
            title = []
            if y_true is not None and index < len(y_true):
                title.append(f"Label: {label_map.get(y_true[index], 'Unknown')}")
            if y_pred is not None and index < len(y_pred):
                title.append(f"Pred: {label_map.get(y_pred[index], 'Unknown')}")
            if title:
                axis.set_title("  ".join(title), fontsize=8)
    if path is not None:
        plt.savefig(fname=path, pad_inches=0, bbox_inches="tight", transparent=transparent,
                    dpi=dpi)
        plt.close()
    elif show:
        plt.show()
        plt.close()


def plot_bounding_box_gallery(images, bounding_box_format, y_true=None, y_pred=None,
                              value_range=(0, 255), true_color=(0, 188, 212),
                              pred_color=(255, 235, 59), line_thickness=2, font_scale=1.0,
                              text_thickness=None, class_mapping=None, ground_truth_mapping=None,
                              prediction_mapping=None, legend=False, legend_handles=None,
                              rows=None, cols=None, data_format=None, **kwargs):
    """plot_image_gallery of `images` with the true boxes (`y_true`, in `true_color`) and the
    predicted ones (`y_pred`, in `pred_color`) drawn on them by draw_bounding_boxes; `legend`
    adds a "Ground Truth" / "Prediction" legend. Needs matplotlib and OpenCV."""
    patches = _optional("matplotlib.patches", "plot_bounding_box_gallery", "matplotlib")
    ops = _ops()
    prediction_mapping = prediction_mapping or class_mapping
    ground_truth_mapping = ground_truth_mapping or class_mapping
    data_format = _data_format(data_format)
    _batched_shape(images)
    if data_format == "channels_first":
        images = ops.transpose(images, (0, 2, 3, 1))
    plotted = ops.convert_to_numpy(images)
    options = dict(bounding_box_format=bounding_box_format, line_thickness=line_thickness,
                   text_thickness=text_thickness, font_scale=font_scale)
    if y_true is not None:
        plotted = draw_bounding_boxes(plotted, y_true, color=true_color,
                                      class_mapping=ground_truth_mapping, **options)
    if y_pred is not None:
        plotted = draw_bounding_boxes(plotted, y_pred, color=pred_color,
                                      class_mapping=prediction_mapping, **options)
    if legend:
        if legend_handles:
            raise ValueError("Pass `legend=True` or `legend_handles` to "
                             "plot_bounding_box_gallery(), not both.")
        legend_handles = [
            patches.Patch(color=[c / 255.0 for c in true_color], label="Ground Truth"),
            patches.Patch(color=[c / 255.0 for c in pred_color], label="Prediction")]
    return plot_image_gallery(plotted, value_range=value_range, legend_handles=legend_handles,
                              rows=rows, cols=cols, **kwargs)


def plot_segmentation_mask_gallery(images, num_classes, value_range=(0, 255), y_true=None,
                                   y_pred=None, color_mapping=None, blend=True, alpha=0.8,
                                   ignore_index=-1, data_format=None, **kwargs):
    """plot_image_gallery with one row per image: the image, then the image with its true
    masks (`y_true`) and its predicted masks (`y_pred`) drawn by draw_segmentation_masks."""
    ops = _ops()
    data_format = _data_format(data_format)
    batch_size = _batched_shape(images)[0]
    if data_format == "channels_first":
        images = ops.transpose(images, (0, 2, 3, 1))
    images = ops.convert_to_numpy(images)
    columns = [images]
    for masks in (y_true, y_pred):
        if masks is None:
            continue
        if data_format == "channels_first":
            masks = ops.transpose(masks, (0, 2, 3, 1))
        columns.append(draw_segmentation_masks(
            images, ops.cast(masks, "int32"), num_classes=num_classes,
            color_mapping=color_mapping, alpha=alpha, ignore_index=ignore_index, blend=blend))
    # Row i holds image i and its drawn masks.
    gallery = ops.reshape(ops.stack([ops.cast(c, "float32") for c in columns], axis=1),
                          (batch_size * len(columns),) + tuple(images.shape[1:]))
    return plot_image_gallery(gallery, value_range=value_range, rows=batch_size,
                              cols=len(columns), **kwargs)
