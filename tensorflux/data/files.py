"""Reading datasets from folders: Keras's directory indexing, image decoding and resizing.

keras.utils.image_dataset_from_directory / text_dataset_from_directory build on these; they
live here because decoding files into arrays is I/O (DESIGN.md: only I/O folders touch NumPy).
Images need Pillow (`pip install tensorflux[image]`).
"""

import os

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "TEXT_EXTENSIONS", "index_directory", "load_image", "read_text",
           "resize_bilinear", "split_for_subset"]

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_EXTENSIONS = (".txt",)


def _files_under(folder, extensions, follow_links):
    found = []
    for root, _, files in os.walk(folder, followlinks=follow_links):
        for name in sorted(files):
            if name.lower().endswith(extensions):
                found.append((root, name))
    return [os.path.join(root, name) for root, name in sorted(found)]


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None,
                    follow_links=False):
    """(file paths, labels or None, class names), as keras.utils' index_directory: classes are
    the sorted subfolders, files sorted within each, then one seeded global shuffle."""
    if not os.path.isdir(directory):
        raise ValueError(f"The `directory` argument should be an existing directory. "
                         f"Received: directory={directory}")
    subdirs = sorted(d for d in os.listdir(directory)
                     if os.path.isdir(os.path.join(directory, d)) and not d.startswith("."))
    if labels == "inferred":
        if class_names is not None:
            if not set(class_names) <= set(subdirs):
                raise ValueError("The `class_names` passed did not match the names of the "
                                 f"subdirectories of the target directory. Expected: {subdirs} "
                                 f"(or a subset of it), but received: class_names="
                                 f"{class_names}")
        else:
            class_names = subdirs
        folders = [os.path.join(directory, name) for name in class_names]
    else:
        folders = [directory]
        class_names = list(class_names or [])
    paths, found_labels = [], []
    for index, folder in enumerate(folders):
        files = _files_under(folder, formats, follow_links)
        paths += files
        found_labels += [index] * len(files)
    if labels == "inferred":
        label_list = found_labels
    elif labels is None:
        label_list = None
    else:
        label_list = list(labels)
        if len(label_list) != len(paths):
            raise ValueError("Expected the lengths of `labels` to match the number of files in "
                             f"the target directory. len(labels) is {len(label_list)} while we "
                             f"found {len(paths)} files in directory {directory}.")
    if shuffle:
        # Keras shuffles paths and labels with two RandomStates of one seed.
        if seed is None:
            seed = np.random.randint(int(1e6))
        np.random.RandomState(seed).shuffle(paths)
        if label_list is not None:
            np.random.RandomState(seed).shuffle(label_list)
    return paths, label_list, class_names


def split_for_subset(samples, labels, validation_split, subset):
    """The training or validation part (Keras's rule: validation is the last fraction)."""
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    if subset == "training":
        return samples[:len(samples) - num_val], (None if labels is None
                                                  else labels[:len(labels) - num_val])
    if subset == "validation":
        return samples[len(samples) - num_val:], (None if labels is None
                                                  else labels[len(labels) - num_val:])
    raise ValueError(f"`subset` must be either 'training' or 'validation', received: {subset}")


def _pillow():
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError("Loading images needs Pillow: `pip install tensorflux[image]` "
                          "(or `pip install Pillow`).") from error
    return Image


_MODES = {"rgb": "RGB", "grayscale": "L", "rgba": "RGBA"}


def load_image(path, image_size, color_mode="rgb", interpolation="bilinear"):
    """One image file as a float32 array [height, width, channels], resized to image_size."""
    image_module = _pillow()
    if color_mode not in _MODES:
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
                         f"Received: color_mode={color_mode}")
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    with image_module.open(path) as image:
        pixels = np.asarray(image.convert(_MODES[color_mode]), dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width = int(image_size[0]), int(image_size[1])
    if pixels.shape[:2] == (height, width):
        return pixels
    if interpolation == "bilinear":
        return resize_bilinear(pixels, height, width)
    if interpolation == "nearest":
        return _resize_nearest(pixels, height, width)
    raise ValueError("tensorflux supports interpolation='bilinear' or 'nearest', received "
                     f"interpolation={interpolation!r}")


def _source_coords(out_size, in_size):
    scale = in_size / out_size
    centers = (np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5
    floor = np.floor(centers)
    low = np.clip(floor, 0, in_size - 1).astype(np.int64)
    high = np.clip(np.ceil(centers), 0, in_size - 1).astype(np.int64)
    return low, high, (centers - floor).astype(np.float32)


def resize_bilinear(pixels, height, width):
    """tf.image.resize's bilinear rule (half-pixel centers, no antialiasing)."""
    top, bottom, dy = _source_coords(height, pixels.shape[0])
    left, right, dx = _source_coords(width, pixels.shape[1])
    dx = dx[None, :, None]
    upper = pixels[top][:, left] * (1 - dx) + pixels[top][:, right] * dx
    lower = pixels[bottom][:, left] * (1 - dx) + pixels[bottom][:, right] * dx
    dy = dy[:, None, None]
    return (upper * (1 - dy) + lower * dy).astype(np.float32)


def _resize_nearest(pixels, height, width):
    rows = np.minimum(np.floor((np.arange(height) + 0.5) * pixels.shape[0] / height),
                      pixels.shape[0] - 1).astype(np.int64)
    cols = np.minimum(np.floor((np.arange(width) + 0.5) * pixels.shape[1] / width),
                      pixels.shape[1] - 1).astype(np.int64)
    return pixels[rows][:, cols]


def read_text(path, max_length=None):
    """A text file's bytes (as a string tensor holds them), cut to max_length bytes."""
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    with open(path, "rb") as handle:
        content = handle.read()
    if max_length is not None:
        content = content[:max_length]
    return np.asarray(content, dtype=object)
