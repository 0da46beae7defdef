"""tf.keras.preprocessing.image's Keras 2 tools: ImageDataGenerator (random affine, colour
and flip augmentation plus normalization, fed from arrays, a folder per class or a table of
file names) and the random transforms it is made of.

Images are NumPy arrays in and out, as in Keras; the pixels are resampled with
keras.ops.image.map_coordinates, read and written with keras.utils' image helpers (Pillow).
Random draws come from Python's `random`: an iterator with a `seed` reseeds it before each
batch (as Keras reseeds NumPy's generator), so a seed repeats the same batches, though not
Keras's own draws.
"""

import math
import numbers
import os
import random
import threading
import warnings

import tensorflux as tf
from tensorflux.keras import backend
from tensorflux.keras.ops import image as image_ops
from tensorflux.keras.utils import image_utils, io_utils
from tensorflux.keras.utils.py_dataset import PyDataset

__all__ = ["DirectoryIterator", "ImageDataGenerator", "Iterator", "NumpyArrayIterator",
           "apply_affine_transform", "apply_brightness_shift", "apply_channel_shift",
           "random_brightness", "random_channel_shift", "random_rotation", "random_shear",
           "random_shift", "random_zoom"]

_FILL_MODES = ("constant", "nearest", "reflect", "wrap", "mirror")


def _numpy(x, dtype=None):
    """`x` as a NumPy array (of `dtype` when given), through a tensorflux tensor."""
    x = tf.convert_to_tensor(x)
    return (x if dtype is None else tf.cast(x, dtype)).numpy()


def _ndarray(values):
    """NumPy arrays as they are; other sequences converted (so that rows can be picked with a
    list of indices)."""
    return values if type(values).__name__ == "ndarray" else _numpy(values)


# ---------------------------------------------------------------------- transforms
def _matmul3(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _affine_matrix(theta, tx, ty, shear, zx, zy):
    """Keras's 3x3 transform (rotation, then shift, shear and zoom), or None for none."""
    parts = []
    if theta != 0:
        angle = math.radians(theta)
        parts.append([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle),
                                                               math.cos(angle), 0], [0, 0, 1]])
    if tx != 0 or ty != 0:
        parts.append([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    if shear != 0:
        angle = math.radians(shear)
        parts.append([[1, -math.sin(angle), 0], [0, math.cos(angle), 0], [0, 0, 1]])
    if zx != 1 or zy != 1:
        parts.append([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    if not parts:
        return None
    matrix = parts[0]
    for part in parts[1:]:
        matrix = _matmul3(matrix, part)
    return matrix


def _scipy_coordinates(coordinate, size, fill_mode):
    """Coordinates on one axis turned into what map_coordinates' "nearest" mode reads as
    scipy.ndimage reads them in `fill_mode`: "wrap" repeats the axis with period size - 1
    (its first and last pixels overlap), "constant" is applied by the caller. The others are
    map_coordinates' own modes."""
    if fill_mode != "wrap" or size <= 1:
        return coordinate
    period = float(size - 1)
    below = coordinate + period * (tf.floor(-coordinate / period) + 1.0)
    above = coordinate - period * tf.floor(coordinate / period)
    return tf.where(coordinate < 0, below, tf.where(coordinate > period, above, coordinate))


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=1,
                           col_axis=2, channel_axis=0, fill_mode="nearest", cval=0.0, order=1):
    """One image (rank 3, channels first or last) rotated by `theta` degrees, shifted by tx
    (width) and ty (height) pixels, sheared by `shear` degrees and zoomed by (zx, zy), all
    about its centre, resampled as scipy.ndimage.affine_transform does for Keras (`order` 0
    or 1; fill_mode "constant" with `cval`, "nearest", "reflect", "wrap" or "mirror").

    >>> import numpy as np
    >>> import tensorflux as tf
    >>> image = np.arange(9.0).reshape(3, 3, 1)
    >>> shifted = tf.keras.preprocessing.image.apply_affine_transform(
    ...     image, tx=1, row_axis=0, col_axis=1, channel_axis=2)
    >>> shifted[..., 0].tolist()
    [[1.0, 2.0, 2.0], [4.0, 5.0, 5.0], [7.0, 8.0, 8.0]]
    """
    axes = (row_axis, col_axis, channel_axis)
    if len(set(axes)) != 3:
        raise ValueError("'row_axis', 'col_axis', and 'channel_axis' must be distinct")
    if set(axes) != {0, 1, 2}:
        raise ValueError(f"Invalid axis' indices: {set(axes) - {0, 1, 2}}")
    if len(x.shape) != 3:
        raise ValueError("Input arrays must be multi-channel 2D images.")
    if channel_axis not in (0, 2):
        raise ValueError("Channels are allowed and the first and last dimensions.")
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"fill_mode must be one of {_FILL_MODES}, received {fill_mode!r}")
    matrix = _affine_matrix(theta, tx, ty, shear, zx, zy)
    if matrix is None:
        return x
    height, width = x.shape[row_axis], x.shape[col_axis]
    center, uncenter = ([[1, 0, height / 2 - 0.5], [0, 1, width / 2 - 0.5], [0, 0, 1]],
                        [[1, 0, 0.5 - height / 2], [0, 1, 0.5 - width / 2], [0, 0, 1]])
    matrix = _matmul3(_matmul3(center, matrix), uncenter)
    if col_axis > row_axis:  # (Keras swaps both axes of its matrix for this layout)
        matrix = [[row[1], row[0], row[2]] for row in (matrix[1], matrix[0])]
    # Channels first; the two image axes keep their order: (a, b).
    image = tf.transpose(tf.convert_to_tensor(x), [channel_axis] + [a for a in (0, 1, 2)
                                                                    if a != channel_axis])
    channels, size_a, size_b = image.shape.as_list()
    a, b = tf.meshgrid(tf.range(size_a, dtype="float64"), tf.range(size_b, dtype="float64"),
                       indexing="ij")
    source = [matrix[i][0] * a + matrix[i][1] * b + matrix[i][2] for i in (0, 1)]
    source = [_scipy_coordinates(s, size, fill_mode) for s, size in zip(source, (size_a,
                                                                                 size_b))]
    full = [channels, size_a, size_b]
    coordinates = [tf.broadcast_to(tf.reshape(tf.range(channels), [-1, 1, 1]), full)] + \
        [tf.broadcast_to(s[None], full) for s in source]
    mode = {"constant": "nearest", "wrap": "nearest"}.get(fill_mode, fill_mode)
    out = image_ops.map_coordinates(image, coordinates, order, fill_mode=mode)
    if fill_mode == "constant":
        # scipy's "constant": cval for points off the image, no blending at its edges.
        inside = (source[0] >= 0) & (source[0] <= size_a - 1) & (source[1] >= 0) & \
            (source[1] <= size_b - 1)
        out = tf.where(inside[None], out, tf.cast(cval, out.dtype))
    back = [1, 2, 0] if channel_axis == 2 else [0, 1, 2]
    return tf.transpose(out, back).numpy()


def apply_channel_shift(x, intensity, channel_axis=0):
    """`intensity` added to every pixel, clipped to the image's [min, max]."""
    x = tf.convert_to_tensor(x)
    low, high = tf.reduce_min(x), tf.reduce_max(x)
    return tf.clip_by_value(x + tf.cast(intensity, x.dtype), low, high).numpy()


def apply_brightness_shift(x, brightness, scale=True):
    """The image's brightness multiplied by `brightness` (Pillow's ImageEnhance), on the
    0-255 scale; an image outside [0, 255] is mapped there and, with scale=False, back."""
    from PIL import ImageEnhance

    low, high = float(tf.reduce_min(x)), float(tf.reduce_max(x))
    local_scale = low < 0 or high > 255
    image = image_utils.array_to_img(x, scale=local_scale or scale)
    x = image_utils.img_to_array(ImageEnhance.Brightness(image).enhance(brightness))
    if not scale and local_scale:
        x = x / 255 * (high - low) + low
    return x


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                    cval=0.0, interpolation_order=1):
    """The image rotated by an angle drawn from [-rg, rg] degrees."""
    return apply_affine_transform(x, theta=random.uniform(-rg, rg), row_axis=row_axis,
                                  col_axis=col_axis, channel_axis=channel_axis,
                                  fill_mode=fill_mode, cval=cval, order=interpolation_order)


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0.0, interpolation_order=1):
    """The image shifted by fractions of its height and width drawn from [-hrg, hrg] and
    [-wrg, wrg]."""
    tx = random.uniform(-hrg, hrg) * x.shape[row_axis]
    ty = random.uniform(-wrg, wrg) * x.shape[col_axis]
    return apply_affine_transform(x, tx=tx, ty=ty, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0.0, interpolation_order=1):
    """The image sheared by an angle drawn from [-intensity, intensity] degrees."""
    return apply_affine_transform(x, shear=random.uniform(-intensity, intensity),
                                  row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                cval=0.0, interpolation_order=1):
    """The image zoomed by factors (rows, columns) drawn from [zoom_range[0],
    zoom_range[1]] (a factor above 1 shows less of the image)."""
    if len(zoom_range) != 2:
        raise ValueError("`zoom_range` should be a tuple or list of two floats. Received: "
                         f"{zoom_range}")
    zx, zy = _zoom_factors(zoom_range, random)
    return apply_affine_transform(x, zx=zx, zy=zy, row_axis=row_axis, col_axis=col_axis,
                                  channel_axis=channel_axis, fill_mode=fill_mode, cval=cval,
                                  order=interpolation_order)


def _zoom_factors(zoom_range, rng):
    if zoom_range[0] == 1 and zoom_range[1] == 1:
        return 1, 1
    return rng.uniform(*zoom_range), rng.uniform(*zoom_range)


def random_channel_shift(x, intensity_range, channel_axis=0):
    """apply_channel_shift with an intensity drawn from [-intensity_range,
    intensity_range]."""
    intensity = random.uniform(-intensity_range, intensity_range)
    return apply_channel_shift(x, intensity, channel_axis=channel_axis)


def random_brightness(x, brightness_range, scale=True):
    """apply_brightness_shift with a factor drawn from brightness_range (two floats)."""
    if len(brightness_range) != 2:
        raise ValueError("`brightness_range should be tuple or list of two floats. Received: "
                         f"{brightness_range}")
    return apply_brightness_shift(x, random.uniform(*brightness_range), scale)


# ---------------------------------------------------------------------- iterators
class Iterator(PyDataset):
    """Batches of `n` samples, `batch_size` at a time, in order or shuffled each epoch:
    indexable (a PyDataset, for fit) and an endless Python iterator. Subclasses write
    `_get_batches_of_transformed_samples(index_array)`."""

    white_list_formats = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")

    def __init__(self, n, batch_size, shuffle, seed, **kwargs):
        super().__init__(**kwargs)
        self.n = n
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_array = None
        self.index_generator = self._flow_index()

    def _reseed(self):
        # What Keras does with NumPy's global generator, with Python's.
        if self.seed is not None:
            random.seed(self.seed + self.total_batches_seen)

    def _set_index_array(self):
        self.index_array = list(range(self.n))
        if self.shuffle:
            random.shuffle(self.index_array)

    def __getitem__(self, idx):
        if idx >= len(self):
            raise ValueError(f"Asked to retrieve element {idx}, but the Sequence has length "
                             f"{len(self)}")
        self._reseed()
        self.total_batches_seen += 1
        if self.index_array is None:
            self._set_index_array()
        batch = self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)]
        return self._get_batches_of_transformed_samples(batch)

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def on_epoch_end(self):
        self._set_index_array()

    def reset(self):
        self.batch_index = 0

    def _flow_index(self):
        self.reset()
        while True:
            self._reseed()
            if self.batch_index == 0:
                self._set_index_array()
            current = self.batch_index * self.batch_size % self.n if self.n else 0
            self.batch_index = self.batch_index + 1 if self.n > current + self.batch_size else 0
            self.total_batches_seen += 1
            yield self.index_array[current:current + self.batch_size]

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            index_array = next(self.index_generator)
        return self._get_batches_of_transformed_samples(index_array)

    def _get_batches_of_transformed_samples(self, index_array):
        raise NotImplementedError

    def _save_batch(self, batch_x, index_array):
        """Writes each augmented image to save_to_dir, as Keras names them."""
        if not self.save_to_dir:
            return
        for i, j in enumerate(index_array):
            image = image_utils.array_to_img(batch_x[i], self.data_format, scale=True)
            name = f"{self.save_prefix}_{j}_{random.randint(0, 10**7 - 1)}.{self.save_format}"
            image.save(os.path.join(self.save_to_dir, name))


def _transformed(generator, x):
    """One sample through the generator's random transform and standardization."""
    if generator is None:
        return x
    x = generator.apply_transform(x, generator.get_random_transform(x.shape))
    if generator.preprocessing_function:
        x = generator.preprocessing_function(x)
    return generator._normalized(x)


class NumpyArrayIterator(Iterator):
    """Batches of augmented images from an array x (samples, rows, columns, channels, or
    channels first), with labels y and sample weights when given; x may be a pair (images,
    other inputs), whose other arrays are batched alongside."""

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False,
                 sample_weight=None, seed=None, data_format=None, save_to_dir=None,
                 save_prefix="", save_format="png", subset=None, ignore_class_split=False,
                 dtype=None):
        data_format = data_format or backend.image_data_format()
        self.dtype = dtype or backend.floatx()
        if isinstance(x, (tuple, list)):
            x, misc = x[0], x[1] if isinstance(x[1], list) else [x[1]]
            misc = [_ndarray(m) for m in misc]
            for m in misc:
                if len(x) != len(m):
                    raise ValueError("All of the arrays in `x` should have the same length. "
                                     f"Found a pair with: len(x[0]) = {len(x)}, len(x[?]) = "
                                     f"{len(m)}")
        else:
            misc = []
        if y is not None and len(x) != len(y):
            raise ValueError("`x` (images tensor) and `y` (labels) should have the same "
                             f"length. Found: len(x) = {len(x)}, len(y) = {len(y)}")
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError("`x` (images tensor) and `sample_weight` should have the same "
                             f"length. Found: len(x) = {len(x)}, len(sample_weight) = "
                             f"{len(sample_weight)}")
        if subset is not None:
            x, y, misc = _split(x, y, misc, subset, image_data_generator._validation_split,
                                ignore_class_split)
        self.x = _numpy(x, self.dtype)
        self.x_misc = misc
        if self.x.ndim != 4:
            raise ValueError("Input data in `NumpyArrayIterator` should have rank 4. You "
                             f"passed an array with shape {self.x.shape}")
        _warn_unusual_channels(self.x.shape, data_format, "NumpyArrayIterator")
        self.y = None if y is None else _ndarray(y)
        self.sample_weight = None if sample_weight is None else _ndarray(sample_weight)
        self.image_data_generator = image_data_generator
        self.data_format = data_format
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        super().__init__(self.x.shape[0], batch_size, shuffle, seed)

    def _get_batches_of_transformed_samples(self, index_array):
        samples = [_transformed(self.image_data_generator, self.x[j]) for j in index_array]
        batch_x = _numpy(tf.stack(samples) if samples else self.x[:0], self.dtype)
        self._save_batch(batch_x, index_array)
        misc = [m[index_array] for m in self.x_misc]
        output = ([batch_x] + misc if misc else batch_x,)
        if self.y is None:
            return output[0]
        output += (self.y[index_array],)
        if self.sample_weight is not None:
            output += (self.sample_weight[index_array],)
        return output


def _split(x, y, misc, subset, validation_split, ignore_class_split):
    """The validation (first `validation_split` of the samples) or training part."""
    if subset not in ("training", "validation"):
        raise ValueError(f'Invalid subset name: {subset}; expected "training" or '
                         '"validation".')
    cut = int(len(x) * validation_split)
    if y is not None and not ignore_class_split and \
            _label_set(y[:cut]) != _label_set(y[cut:]):
        raise ValueError("Training and validation subsets have different number of classes "
                         "after the split. If your numpy arrays are sorted by the label, you "
                         "might want to shuffle them.")
    part = slice(None, cut) if subset == "validation" else slice(cut, None)
    return x[part], None if y is None else y[part], [m[part] for m in misc]


def _label_set(labels):
    return set(tf.reshape(tf.convert_to_tensor(labels), [-1]).numpy().tolist())


def _warn_unusual_channels(shape, data_format, what):
    axis = 3 if data_format == "channels_last" else 1
    if shape[axis] not in (1, 3, 4):
        warnings.warn(f'{what} is set to use the data format convention "{data_format}" '
                      f"(channels on axis {axis}), i.e. expected either 1, 3, or 4 channels on "
                      f"axis {axis}. However, it was passed an array with shape {shape} "
                      f"({shape[axis]} channels).", stacklevel=3)


class _FileIterator(Iterator):
    """Batches of images read from files (self.filepaths), resized to target_size, with
    labels in the form `class_mode` asks for."""

    def _set_processing_attrs(self, image_data_generator, target_size, color_mode,
                              data_format, save_to_dir, save_prefix, save_format, subset,
                              interpolation, keep_aspect_ratio):
        self.image_data_generator = image_data_generator
        self.target_size = tuple(target_size)
        self.keep_aspect_ratio = keep_aspect_ratio
        channels = {"rgba": 4, "rgb": 3, "grayscale": 1}.get(color_mode)
        if channels is None:
            raise ValueError(f'Invalid color mode: {color_mode}; expected "rgb", "rgba", or '
                             '"grayscale".')
        self.color_mode = color_mode
        self.data_format = data_format
        self.image_shape = (self.target_size + (channels,) if data_format == "channels_last"
                            else (channels,) + self.target_size)
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        self.interpolation = interpolation
        if subset not in (None, "training", "validation"):
            raise ValueError(f'Invalid subset name: {subset}; expected "training" or '
                             '"validation"')
        fraction = image_data_generator._validation_split if subset else None
        self.split = {None: None, "validation": (0, fraction), "training": (fraction, 1)}[subset]
        self.subset = subset

    def _load(self, path):
        image = image_utils.load_img(path, color_mode=self.color_mode,
                                     target_size=self.target_size,
                                     interpolation=self.interpolation,
                                     keep_aspect_ratio=self.keep_aspect_ratio)
        x = image_utils.img_to_array(image, data_format=self.data_format, dtype=self.dtype)
        if hasattr(image, "close"):
            image.close()
        return _transformed(self.image_data_generator, x)

    def _get_batches_of_transformed_samples(self, index_array):
        samples = [self._load(self.filepaths[j]) for j in index_array]
        batch_x = _numpy(tf.stack(samples) if samples else tf.zeros((0,) + self.image_shape),
                         self.dtype)
        self._save_batch(batch_x, index_array)
        batch_y = self._labels_of(batch_x, index_array)
        if batch_y is None:
            return batch_x
        if self.sample_weight is None:
            return batch_x, batch_y
        return batch_x, batch_y, self.sample_weight[index_array]

    def _labels_of(self, batch_x, index_array):
        mode = self.class_mode
        if mode == "input":
            return batch_x.copy()
        if mode in ("binary", "sparse"):
            return _numpy([self.classes[j] for j in index_array], self.dtype)
        if mode == "categorical":
            hot = []
            for row, j in enumerate(index_array):
                classes = self.classes[j]
                classes = classes if isinstance(classes, list) else [classes]
                hot += [[row, int(c)] for c in classes]
            zeros = tf.zeros([len(index_array), len(self.class_indices)], self.dtype)
            return _numpy(tf.tensor_scatter_nd_update(
                zeros, tf.constant(hot, "int64", shape=[len(hot), 2]),
                tf.ones([len(hot)], self.dtype)))
        if mode == "multi_output":
            return [output[index_array] for output in self.labels]
        if mode == "raw":
            return self.labels[index_array]
        return None

    @property
    def filepaths(self):
        return self._filepaths


def _valid_files(directory, formats, follow_links):
    """(folder, file name) of the image files below `directory`, in sorted walk order."""
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(".tiff"):
                warnings.warn('Using ".tiff" files with multiple bands will cause '
                              "distortion. Please verify your output.", stacklevel=2)
            if name.lower().endswith(formats):
                yield root, name


class DirectoryIterator(_FileIterator):
    """Batches of images from a folder with one subfolder per class (sorted names, or
    `classes`); labels per `class_mode`: "categorical" (one-hot), "binary" or "sparse"
    (the class index), "input" (the images) or None (no labels)."""

    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}

    def __init__(self, directory, image_data_generator, target_size=(256, 256),
                 color_mode="rgb", classes=None, class_mode="categorical", batch_size=32,
                 shuffle=True, seed=None, data_format=None, save_to_dir=None, save_prefix="",
                 save_format="png", follow_links=False, subset=None, interpolation="nearest",
                 keep_aspect_ratio=False, dtype=None):
        self._set_processing_attrs(image_data_generator, target_size, color_mode,
                                   data_format or backend.image_data_format(), save_to_dir,
                                   save_prefix, save_format, subset, interpolation,
                                   keep_aspect_ratio)
        self.directory = directory
        if class_mode not in self.allowed_class_modes:
            raise ValueError(f"Invalid class_mode: {class_mode}; expected one of: "
                             f"{self.allowed_class_modes}")
        self.class_mode = class_mode
        self.dtype = dtype or backend.floatx()
        if not classes:
            classes = [name for name in sorted(os.listdir(directory))
                       if os.path.isdir(os.path.join(directory, name))]
        self.num_classes = len(classes)
        self.class_indices = {name: i for i, name in enumerate(classes)}
        self.filenames, labels = [], []
        for name in classes:
            folder = os.path.join(directory, name)
            files = list(_valid_files(folder, self.white_list_formats, follow_links))
            if self.split:
                files = files[int(self.split[0] * len(files)):int(self.split[1] * len(files))]
            for root, file in files:
                self.filenames.append(os.path.join(name, os.path.relpath(
                    os.path.join(root, file), folder)))
                labels.append(self.class_indices[name])
        self.samples = len(self.filenames)
        self.classes = _numpy(tf.constant(labels, "int32", shape=[len(labels)]))
        io_utils.print_msg(f"Found {self.samples} images belonging to {self.num_classes} "
                           "classes.")
        self._filepaths = [os.path.join(directory, name) for name in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def labels(self):
        return self.classes

    @property
    def sample_weight(self):
        return None


class DataFrameIterator(_FileIterator):
    """Batches of images whose file names are in column `x_col` of a table (a pandas
    DataFrame, or any mapping of column names to sequences), with labels from column(s)
    `y_col` per `class_mode`: "categorical" (one-hot; a list of class names gives several
    ones), "binary", "sparse", "raw" (the values), "multi_output" (one array per y_col),
    "input" or None; sample weights from `weight_col`."""

    allowed_class_modes = {"binary", "categorical", "input", "multi_output", "raw", "sparse",
                           None}

    def __init__(self, dataframe, directory=None, image_data_generator=None, x_col="filename",
                 y_col="class", weight_col=None, target_size=(256, 256), color_mode="rgb",
                 classes=None, class_mode="categorical", batch_size=32, shuffle=True,
                 seed=None, data_format="channels_last", save_to_dir=None, save_prefix="",
                 save_format="png", subset=None, interpolation="nearest",
                 keep_aspect_ratio=False, dtype="float32", validate_filenames=True):
        self._set_processing_attrs(image_data_generator, target_size, color_mode,
                                   data_format, save_to_dir, save_prefix, save_format, subset,
                                   interpolation, keep_aspect_ratio)
        self.directory = directory or ""
        self.class_mode = class_mode
        self.dtype = dtype
        labelled = class_mode not in ("input", "multi_output", "raw", None)
        y_cols = (y_col if isinstance(y_col, list) else [y_col]) \
            if class_mode not in ("input", None) else []
        names = [x_col] + y_cols + ([weight_col] if weight_col else [])
        columns = {name: list(dataframe[name]) for name in dict.fromkeys(names)}
        self._check_params(columns, x_col, y_col, weight_col, classes)
        rows = list(range(len(columns[x_col])))
        if validate_filenames:
            rows = self._valid_rows(columns[x_col], rows, x_col)
        if labelled:
            rows, classes = _filter_classes(columns, y_col, rows, classes)
            self.class_indices = {name: i for i, name in enumerate(classes)}
        if self.split:
            rows = rows[int(self.split[0] * len(rows)):int(self.split[1] * len(rows))]
        if labelled:
            self.classes = [_class_index(self.class_indices, columns[y_col][r]) for r in rows]
        self.filenames = [columns[x_col][r] for r in rows]
        self._sample_weight = (_numpy([columns[weight_col][r] for r in rows])
                               if weight_col else None)
        if class_mode == "multi_output":
            self._targets = [_numpy([columns[c][r] for r in rows]) for c in y_col]
        elif class_mode == "raw":
            self._targets = _numpy([[columns[c][r] for c in y_cols] if isinstance(y_col, list)
                                    else columns[y_col][r] for r in rows])
        self.samples = len(self.filenames)
        validated = "validated" if validate_filenames else "non-validated"
        belonging = f" belonging to {len(classes)} classes" if labelled else ""
        io_utils.print_msg(f"Found {self.samples} {validated} image filenames{belonging}.")
        self._filepaths = [os.path.join(self.directory, name) for name in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed)

    def _check_params(self, columns, x_col, y_col, weight_col, classes):
        mode = self.class_mode
        if mode not in self.allowed_class_modes:
            raise ValueError(f"Invalid class_mode: {mode}; expected one of: "
                             f"{self.allowed_class_modes}")
        if mode == "multi_output" and not isinstance(y_col, list):
            raise TypeError(f'If class_mode="{mode}", y_col must be a list. Received '
                            f"{type(y_col).__name__}.")
        if not all(isinstance(v, str) for v in columns[x_col]):
            raise TypeError(f"All values in column x_col={x_col} must be strings.")
        if mode in ("binary", "sparse") and \
                not all(isinstance(v, str) for v in columns[y_col]):
            raise TypeError(f'If class_mode="{mode}", y_col="{y_col}" column values must be '
                            "strings.")
        if mode == "binary":
            count = len(set(classes)) if classes else len(set(columns[y_col]))
            if count != 2:
                raise ValueError(f'If class_mode="binary" there must be 2 classes. Found '
                                 f"{count} classes.")
        if mode == "categorical" and \
                not all(isinstance(v, (str, list, tuple)) for v in columns[y_col]):
            raise TypeError(f'If class_mode="{mode}", y_col="{y_col}" column values must be '
                            "type string, list or tuple.")
        if classes and mode in ("input", "multi_output", "raw", None):
            warnings.warn(f'`classes` will be ignored given the class_mode="{mode}"',
                          stacklevel=3)
        if weight_col and not all(isinstance(v, numbers.Number) and not isinstance(v, bool)
                                  for v in columns[weight_col]):
            raise TypeError(f"Column weight_col={weight_col} must be numeric.")

    def _valid_rows(self, filenames, rows, x_col):
        valid = [r for r in rows if filenames[r].lower().endswith(self.white_list_formats)
                 and os.path.isfile(os.path.join(self.directory, filenames[r]))]
        if len(valid) != len(rows):
            warnings.warn(f"Found {len(rows) - len(valid)} invalid image filename(s) in "
                          f'x_col="{x_col}". These filename(s) will be ignored.', stacklevel=3)
        return valid

    @property
    def labels(self):
        return self._targets if self.class_mode in ("multi_output", "raw") else self.classes

    @property
    def sample_weight(self):
        return self._sample_weight


def _filter_classes(columns, y_col, rows, classes):
    """The rows with a label among `classes` (all labels, sorted, when not given; labels that
    are lists keep their known classes), and the classes."""
    labels = columns[y_col]
    if not classes:
        found = set()
        for label in (labels[r] for r in rows):
            found.update(label if isinstance(label, (list, tuple)) else [label])
        return rows, sorted(found)
    classes = list(dict.fromkeys(classes))
    kept = []
    for r in rows:
        label = labels[r]
        if isinstance(label, (list, tuple)):
            label = [c for c in label if c in classes] or None
        elif not isinstance(label, str):
            raise TypeError(f"Expect string, list or tuple but found {type(label)} in {y_col} "
                            "column ")
        elif label not in classes:
            label = None
        if label is not None:
            labels[r] = label
            kept.append(r)
    return kept, classes


def _class_index(class_indices, label):
    if isinstance(label, (list, tuple)):
        return [class_indices[c] for c in label]
    return class_indices[label]


# ---------------------------------------------------------------------- the generator
def _shift(value, size, rng):
    """A shift in pixels: from a list of choices (random sign), a whole number of pixels
    below `value` (random sign), or uniform in [-value, value]; a `value` below 1 is a
    fraction of `size`."""
    if isinstance(value, (list, tuple)) or hasattr(value, "__len__"):
        shift = rng.choice(list(value)) * rng.choice((-1, 1))
        largest = max(value)
    elif isinstance(value, numbers.Integral):
        shift = rng.randrange(value) * rng.choice((-1, 1))
        largest = value
    else:
        shift = rng.uniform(-value, value)
        largest = value
    return shift * size if largest < 1 else shift


class ImageDataGenerator:
    """Batches of images with random augmentation (rotation, shifts, shear, zoom, channel
    shift, flips, brightness) and normalization (rescale, sample- or feature-wise centring
    and scaling, ZCA whitening; feature-wise statistics come from `fit`), fed by `flow`
    (arrays), `flow_from_directory` (a folder per class) or `flow_from_dataframe`.

    >>> import numpy as np
    >>> import tensorflux as tf
    >>> generator = tf.keras.preprocessing.image.ImageDataGenerator(rescale=1 / 255)
    >>> x, y = next(generator.flow(np.full((4, 2, 2, 1), 255.0), [0, 1, 2, 3], batch_size=2,
    ...                            shuffle=False))
    >>> x.shape, float(x.max()), y.tolist()
    ((2, 2, 2, 1), 1.0, [0, 1])
    """

    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None,
                 shear_range=0.0, zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest",
                 cval=0.0, horizontal_flip=False, vertical_flip=False, rescale=None,
                 preprocessing_function=None, data_format=None, validation_split=0.0,
                 interpolation_order=1, dtype=None):
        data_format = data_format or backend.image_data_format()
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = zca_whitening
        self.zca_epsilon = zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.shear_range = shear_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.dtype = dtype or backend.floatx()
        self.interpolation_order = interpolation_order
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError('`data_format` should be `"channels_last"` (channel after row and '
                             'column) or `"channels_first"` (channel before row and column). '
                             f"Received: {data_format}")
        self.data_format = data_format
        self.channel_axis, self.row_axis, self.col_axis = \
            (1, 2, 3) if data_format == "channels_first" else (3, 1, 2)
        if validation_split and not 0 < validation_split < 1:
            raise ValueError("`validation_split` must be strictly between 0 and 1.  Received: "
                             f"{validation_split}")
        self._validation_split = validation_split
        self.mean = None
        self.std = None
        self.zca_whitening_matrix = None
        if isinstance(zoom_range, (float, int)):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif len(zoom_range) == 2 and all(isinstance(z, (float, int)) for z in zoom_range):
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError("`zoom_range` should be a float or a tuple or list of two "
                             f"floats. Received: {zoom_range}")
        self._implied_settings()
        if brightness_range is not None and (
                not isinstance(brightness_range, (tuple, list)) or len(brightness_range) != 2):
            raise ValueError("`brightness_range should be tuple or list of two floats. "
                             f"Received: {brightness_range}")
        self.brightness_range = brightness_range

    def _implied_settings(self):
        """The settings that others turn on or off, with Keras's warnings."""
        def override(attribute, value, because):
            if getattr(self, attribute) != value:
                setattr(self, attribute, value)
                warnings.warn(f"This ImageDataGenerator specifies `{because}`, which overrides "
                              f"setting of `{attribute}`.", stacklevel=4)

        if self.zca_whitening:
            override("featurewise_center", True, "zca_whitening")
            override("featurewise_std_normalization", False, "zca_whitening")
        if self.featurewise_std_normalization:
            override("featurewise_center", True, "featurewise_std_normalization")
        if self.samplewise_std_normalization:
            override("samplewise_center", True, "samplewise_std_normalization")

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None,
             save_to_dir=None, save_prefix="", save_format="png", ignore_class_split=False,
             subset=None):
        """A NumpyArrayIterator over images `x` (rank 4) and labels `y`."""
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle,
                                  sample_weight=sample_weight, seed=seed,
                                  data_format=self.data_format, save_to_dir=save_to_dir,
                                  save_prefix=save_prefix, save_format=save_format,
                                  ignore_class_split=ignore_class_split, subset=subset,
                                  dtype=self.dtype)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32, shuffle=True,
                            seed=None, save_to_dir=None, save_prefix="", save_format="png",
                            follow_links=False, subset=None, interpolation="nearest",
                            keep_aspect_ratio=False):
        """A DirectoryIterator over `directory`'s class subfolders."""
        return DirectoryIterator(directory, self, target_size=target_size,
                                 color_mode=color_mode, keep_aspect_ratio=keep_aspect_ratio,
                                 classes=classes, class_mode=class_mode,
                                 data_format=self.data_format, batch_size=batch_size,
                                 shuffle=shuffle, seed=seed, save_to_dir=save_to_dir,
                                 save_prefix=save_prefix, save_format=save_format,
                                 follow_links=follow_links, subset=subset,
                                 interpolation=interpolation, dtype=self.dtype)

    def flow_from_dataframe(self, dataframe, directory=None, x_col="filename", y_col="class",
                            weight_col=None, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32, shuffle=True,
                            seed=None, save_to_dir=None, save_prefix="", save_format="png",
                            subset=None, interpolation="nearest", validate_filenames=True,
                            **kwargs):
        """A DataFrameIterator over the files a table names (Keras 2's `has_ext`, `sort` and
        `drop_duplicates` are ignored with a warning; class_mode "other" is "raw")."""
        for name in ("has_ext", "sort", "drop_duplicates"):
            if name in kwargs:
                warnings.warn(f"{name} is deprecated and ignored.", DeprecationWarning,
                              stacklevel=2)
        if class_mode == "other":
            warnings.warn('`class_mode="other"` is deprecated, please use `class_mode="raw"`.',
                          DeprecationWarning, stacklevel=2)
            class_mode = "raw"
        return DataFrameIterator(dataframe, directory, self, x_col=x_col, y_col=y_col,
                                 weight_col=weight_col, target_size=target_size,
                                 color_mode=color_mode, classes=classes, class_mode=class_mode,
                                 data_format=self.data_format, batch_size=batch_size,
                                 shuffle=shuffle, seed=seed, save_to_dir=save_to_dir,
                                 save_prefix=save_prefix, save_format=save_format,
                                 subset=subset, interpolation=interpolation,
                                 validate_filenames=validate_filenames, dtype=self.dtype)

    def standardize(self, x):
        """`x` (an image or a batch) through preprocessing_function, rescale, the
        sample-wise and the fitted feature-wise normalizations. As in Keras, a writable float
        NumPy array is normalized in place (up to ZCA whitening, which makes a new array),
        so `datagen.standardize(x_test)` alone changes x_test."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        writable = type(x).__name__ == "ndarray" and x.dtype.kind == "f" and x.flags.writeable
        return self._normalized(x, into=x if writable else None)

    def _normalized(self, x, into=None):
        """standardize after preprocessing_function: a new array, or with `into`, the
        values written into that array before whitening."""
        x = tf.convert_to_tensor(x)
        if not x.dtype.is_floating:
            x = tf.cast(x, self.dtype)
        if self.rescale:
            x = x * tf.cast(self.rescale, x.dtype)
        if self.samplewise_center:
            x = x - tf.reduce_mean(x)
        if self.samplewise_std_normalization:
            x = x / (tf.math.reduce_std(x) + 1e-6)
        if self.featurewise_center:
            if self._fitted("mean", "featurewise_center"):
                x = x - tf.cast(self.mean, x.dtype)
        if self.featurewise_std_normalization:
            if self._fitted("std", "featurewise_std_normalization"):
                x = x / (tf.cast(self.std, x.dtype) + 1e-6)
        if into is not None:
            into[...] = x.numpy()
        if self.zca_whitening and self._fitted("zca_whitening_matrix", "zca_whitening"):
            # (in the wider of the two dtypes, as NumPy's matmul: the matrix is float64)
            matrix = tf.convert_to_tensor(self.zca_whitening_matrix)
            dtype = backend.result_type(x.dtype.name, matrix.dtype.name)
            features = math.prod(x.shape.as_list()[-3:])
            white = tf.matmul(tf.cast(tf.reshape(x, [-1, features]), dtype),
                              tf.cast(matrix, dtype))
            return tf.reshape(white, tf.shape(x)).numpy()
        return into if into is not None else x.numpy()

    def _fitted(self, attribute, setting):
        if getattr(self, attribute) is not None:
            return True
        warnings.warn(f"This ImageDataGenerator specifies `{setting}`, but it hasn't been fit "
                      "on any training data. Fit it first by calling `.fit(numpy_data)`.",
                      stacklevel=3)
        return False

    def get_random_transform(self, img_shape, seed=None):
        """A dict of random transform parameters for an image of `img_shape` (Python's
        `random`, reseeded with `seed` when given)."""
        if seed is not None:
            random.seed(seed)
        rows, cols = img_shape[self.row_axis - 1], img_shape[self.col_axis - 1]
        params = {
            "theta": random.uniform(-self.rotation_range, self.rotation_range)
            if self.rotation_range else 0,
            "tx": _shift(self.height_shift_range, rows, random)
            if self.height_shift_range else 0,
            "ty": _shift(self.width_shift_range, cols, random)
            if self.width_shift_range else 0,
            "shear": random.uniform(-self.shear_range, self.shear_range)
            if self.shear_range else 0,
        }
        params["zx"], params["zy"] = _zoom_factors(self.zoom_range, random)
        params["flip_horizontal"] = bool(self.horizontal_flip) and random.random() < 0.5
        params["flip_vertical"] = bool(self.vertical_flip) and random.random() < 0.5
        params["channel_shift_intensity"] = (
            random.uniform(-self.channel_shift_range, self.channel_shift_range)
            if self.channel_shift_range != 0 else None)
        params["brightness"] = (random.uniform(*self.brightness_range)
                                if self.brightness_range is not None else None)
        return params

    def apply_transform(self, x, transform_parameters):
        """One image (rank 3) transformed per a dict like get_random_transform's."""
        row_axis, col_axis, channel_axis = \
            self.row_axis - 1, self.col_axis - 1, self.channel_axis - 1
        p = transform_parameters
        x = apply_affine_transform(x, p.get("theta", 0), p.get("tx", 0), p.get("ty", 0),
                                   p.get("shear", 0), p.get("zx", 1), p.get("zy", 1),
                                   row_axis=row_axis, col_axis=col_axis,
                                   channel_axis=channel_axis, fill_mode=self.fill_mode,
                                   cval=self.cval, order=self.interpolation_order)
        if p.get("channel_shift_intensity") is not None:
            x = apply_channel_shift(x, p["channel_shift_intensity"], channel_axis)
        flips = [axis for axis, flip in ((col_axis, p.get("flip_horizontal", False)),
                                         (row_axis, p.get("flip_vertical", False))) if flip]
        if flips:
            x = tf.reverse(x, flips).numpy()
        if p.get("brightness") is not None:
            x = apply_brightness_shift(x, p["brightness"], False)
        return x

    def random_transform(self, x, seed=None):
        """One image (rank 3) with a random transform applied."""
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Computes the feature-wise statistics (mean and std per channel, ZCA matrix) that
        the normalizations need, from images `x` (rank 4), after rescale and, with
        `augment`, `rounds` random transforms of each."""
        x = _numpy(x, self.dtype)
        if x.ndim != 4:
            raise ValueError(f"Input to `.fit()` should have rank 4. Got array with shape: "
                             f"{x.shape}")
        if x.shape[self.channel_axis] not in (1, 3, 4):
            warnings.warn(f'Expected input to be images (as Numpy array) following the data '
                          f'format convention "{self.data_format}" (channels on axis '
                          f"{self.channel_axis}), i.e. expected either 1, 3 or 4 channels on "
                          f"axis {self.channel_axis}. However, it was passed an array with "
                          f"shape {x.shape} ({x.shape[self.channel_axis]} channels).",
                          stacklevel=2)
        if seed is not None:
            random.seed(seed)
        x = tf.convert_to_tensor(x)
        if self.rescale:
            x = x * tf.cast(self.rescale, x.dtype)
        if augment:
            x = tf.stack([self.random_transform(image.numpy())
                          for _ in range(rounds) for image in tf.unstack(x)])
        axes = (0, self.row_axis, self.col_axis)
        if self.featurewise_center:
            self.mean = tf.reduce_mean(x, axis=axes, keepdims=True)[0].numpy()
            x = x - self.mean
        if self.featurewise_std_normalization:
            self.std = tf.math.reduce_std(x, axis=axes, keepdims=True)[0].numpy()
            x = x / (self.std + 1e-6)
        if self.zca_whitening:
            count = x.shape[0]
            flat = tf.cast(tf.reshape(x, [count, -1]), "float64")
            s, u, _ = tf.linalg.svd(tf.transpose(flat))
            inverse = math.sqrt(count) / (s + self.zca_epsilon)
            self.zca_whitening_matrix = tf.matmul(u * inverse, u, transpose_b=True).numpy()
