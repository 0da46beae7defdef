"""keras.utils image helpers: img_to_array, array_to_img, load_img, save_img (through Pillow,
an optional dependency) and smart_resize."""

import io
import pathlib
import warnings

from tensorflux.keras import backend

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]

_RESAMPLING = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


def _pil_image(caller):
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(f"`{caller}` needs Pillow, which is not installed: run "
                          "`pip install pillow`.") from error
    return Image


def _data_format(value):
    value = backend.image_data_format() if value is None else str(value).lower()
    if value not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={value}")
    return value


def img_to_array(img, data_format=None, dtype=None):
    """A NumPy array (height, width, channels) of a PIL image or array, in `dtype` (floatx
    by default); `data_format="channels_first"` puts channels first.

    >>> from PIL import Image
    >>> from tensorflux.keras import utils
    >>> utils.img_to_array(Image.new("L", (3, 2))).shape
    (2, 3, 1)
    """
    import tensorflux as tf

    data_format = _data_format(data_format)
    x = tf.cast(tf.convert_to_tensor(img), dtype or backend.floatx())
    if x.shape.rank == 3:
        if data_format == "channels_first":
            x = tf.transpose(x, (2, 0, 1))
    elif x.shape.rank == 2:
        x = tf.expand_dims(x, 0 if data_format == "channels_first" else -1)
    else:
        raise ValueError(f"Unsupported image shape: {tuple(x.shape)}")
    return x.numpy()


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A PIL image of a (height, width, channels) array with 1 (L, or I above 255), 3 (RGB)
    or 4 (RGBA) channels; `scale=True` maps the array's [min, max] to [0, 255].

    >>> import numpy as np
    >>> from tensorflux.keras import utils
    >>> utils.array_to_img(np.zeros((2, 3, 3))).size
    (3, 2)
    """
    import tensorflux as tf

    image_module = _pil_image("array_to_img")
    data_format = _data_format(data_format)
    x = tf.cast(tf.convert_to_tensor(x), dtype or backend.floatx())
    if x.shape.rank != 3:
        raise ValueError("Expected image array to have rank 3 (single image). Got array with "
                         f"shape: {tuple(x.shape)}")
    if data_format == "channels_first":
        x = tf.transpose(x, (1, 2, 0))
    if scale:
        x = x - tf.reduce_min(x)
        x_max = tf.reduce_max(x)
        if float(x_max) != 0:
            x = x / x_max
        x = x * 255
    channels = x.shape[2]
    if channels in (3, 4):
        return image_module.fromarray(tf.cast(x, "uint8").numpy(),
                                      "RGBA" if channels == 4 else "RGB")
    if channels == 1:
        if float(tf.reduce_max(x)) > 255:
            return image_module.fromarray(tf.cast(x[:, :, 0], "int32").numpy(), "I")
        return image_module.fromarray(tf.cast(x[:, :, 0], "uint8").numpy(), "L")
    raise ValueError(f"Unsupported channel number: {channels}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Writes an image array to `path` (format from the suffix unless `file_format`)."""
    data_format = _data_format(data_format)
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.",
                      stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """A PIL image read from a path or BytesIO, converted to `color_mode` ("grayscale",
    "rgb", "rgba") and resized to `target_size` (height, width) when given, optionally
    center-cropped to the target aspect ratio first."""
    image_module = _pil_image("load_img")
    if isinstance(path, io.BytesIO):
        img = image_module.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as f:
            img = image_module.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    modes = {"grayscale": ("L", ("L", "I;16", "I")), "rgba": ("RGBA", ("RGBA",)),
             "rgb": ("RGB", ("RGB",))}
    if color_mode not in modes:
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
    target_mode, kept = modes[color_mode]
    if img.mode not in kept:
        img = img.convert(target_mode)
    if target_size is None:
        return img
    width_height = (target_size[1], target_size[0])
    if img.size == width_height:
        return img
    if interpolation not in _RESAMPLING:
        raise ValueError(f"Invalid interpolation method {interpolation} specified. Supported "
                         f"methods are {', '.join(_RESAMPLING)}")
    resampling = getattr(image_module, "Resampling", image_module)
    resample = getattr(resampling, interpolation.upper())
    if not keep_aspect_ratio:
        return img.resize(width_height, resample)
    width, height = img.size
    target_width, target_height = width_height
    crop_height = min(height, width * target_height // target_width)
    crop_width = min(width, height * target_width // target_height)
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    return img.resize(width_height, resample,
                      box=[left, top, left + crop_width, top + crop_height])


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last"):
    """Resizes an image (or batch) to `size` without distorting it: the largest central
    window of the target aspect ratio is cropped, then resized (image_dataset_from_directory's
    crop_to_aspect_ratio)."""
    import tensorflux as tf
    from tensorflux.ops import image as image_ops

    if len(size) != 2:
        raise ValueError(f"Expected `size` to be a tuple of 2 integers, but got: {size}.")
    returns_array = type(x).__name__ == "ndarray"
    img = tf.convert_to_tensor(x)
    rank = img.shape.rank
    if rank < 3 or rank > 4:
        raise ValueError("Expected an image array with shape `(height, width, channels)`, or "
                         "`(batch_size, height, width, channels)`, but got input with "
                         f"incorrect rank, of shape {tuple(img.shape)}.")
    first = data_format == "channels_first"
    if first:
        img = tf.transpose(img, (0, 2, 3, 1) if rank == 4 else (1, 2, 0))
    height, width = img.shape[-3], img.shape[-2]
    target_height, target_width = size
    crop_height = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_width = max(min(width, int(float(height * target_width) / target_height)), 1)
    top = int(float(height - crop_height) / 2)
    left = int(float(width - crop_width) / 2)
    img = img[..., top:top + crop_height, left:left + crop_width, :]
    batched = img if rank == 4 else tf.expand_dims(img, 0)
    # tf.image.resize's dtypes, as Keras's TensorFlow backend: float32 from integer images,
    # except "nearest", which keeps them.
    out = image_ops.resize(batched, (target_height, target_width), method=interpolation)
    if rank == 3:
        out = tf.squeeze(out, 0)
    if first:
        out = tf.transpose(out, (0, 3, 1, 2) if rank == 4 else (2, 0, 1))
    return out.numpy() if returns_array else out
