"""keras.utils.split_dataset and the image, text and audio dataset_from_directory builders."""

import random

import tensorflux as tf
from tensorflux.tensor import _is_dense_tensor

__all__ = ["audio_dataset_from_directory", "image_dataset_from_directory", "split_dataset",
           "text_dataset_from_directory"]


# ------------------------------------------------------------------ split_dataset

def _rescale_split_sizes(left_size, right_size, total_length):
    """Keras's checks and rounding of left_size/right_size (ints are counts, floats
    fractions)."""
    left_type, right_type = type(left_size), type(right_size)
    for name, size, kind in (("left_size", left_size, left_type),
                             ("right_size", right_size, right_type)):
        if size is not None and kind not in (int, float):
            raise TypeError(f"Invalid `{name}` Type. Expected: int or float or None, "
                            f"Received: type({name})={kind}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the "
                         "split sizes must be non-zero.")
    for name, size, kind in (("left_size", left_size, left_type),
                             ("right_size", right_size, right_type)):
        if (kind is int and (size <= 0 or size >= total_length)) or (
                kind is float and (size <= 0 or size >= 1)):
            raise ValueError(f"`{name}` should be either a positive integer smaller than "
                             f"{total_length}, or a float within the range `[0, 1]`. "
                             f"Received: {name}={size}")
    if left_type is float and right_type is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must "
                         "be less than or equal to 1.")
    left = round(left_size * total_length) if left_type is float else left_size
    right = round(right_size * total_length) if right_type is float else right_size
    if left is None:
        left = total_length - right
    elif right is None:
        right = total_length - left
    if left + right > total_length:
        raise ValueError("The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total_length}. Received: left_size + right_size = {left + right}"
                         f"and total_length = {total_length}")
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(f"With `dataset` of length '{total_length}', `left_size`="
                             f"{left_size} and `right_size`={right_size}.Resulting {side} side "
                             "dataset split will be empty. Adjust any of the aforementioned "
                             "parameters")
    return int(left), int(right)


def _as_columns(dataset):
    """(structure of stacked tensors, batch size or None) from arrays or a Dataset."""
    from tensorflux.data import Dataset

    if isinstance(dataset, Dataset):
        batch_size = getattr(dataset, "_batch_size", None)
        source = dataset.unbatch() if batch_size is not None else dataset
        elements = list(source)
        if not elements:
            raise ValueError("split_dataset: the dataset is empty")
        from tensorflux.data._structure import flatten, pack_as

        columns = zip(*[flatten(e) for e in elements])
        return pack_as(elements[0], [tf.stack(list(c)) for c in columns]), batch_size
    if isinstance(dataset, list) and dataset and all(
            _is_dense_tensor(part) or hasattr(part, "__array__") for part in dataset):
        dataset = tuple(dataset)  # a list of arrays, as Keras reads it
    elif isinstance(dataset, list):
        return tf.convert_to_tensor(dataset), None
    if isinstance(dataset, (tuple, dict)):
        from tensorflux.data._structure import map_structure

        return map_structure(tf.convert_to_tensor, dataset), None
    if _is_dense_tensor(dataset) or hasattr(dataset, "__array__"):
        return tf.convert_to_tensor(dataset), None
    raise TypeError(f"The `dataset` argument must be either a `tf.data.Dataset`, a "
                    f"`torch.utils.data.Dataset` object, or a list/tuple of arrays. Received: "
                    f"dataset={dataset} of type {type(dataset)}")


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None,
                  preferred_backend=None):
    """Splits arrays or a Dataset into two Datasets of `left_size` and `right_size` samples
    (Keras's rules; shuffling uses Python's `random` with `seed`).

    >>> from tensorflux.keras.utils import split_dataset
    >>> left, right = split_dataset([1, 2, 3, 4, 5], left_size=0.8)
    >>> len(left), len(right)
    (4, 1)
    """
    if preferred_backend not in (None, "tensorflow"):
        raise ValueError("split_dataset: tensorflux returns its own (tf.data-style) Datasets, "
                         "so preferred_backend must be None or 'tensorflow'. Received: "
                         f"preferred_backend={preferred_backend!r}")
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    from tensorflux.data import AUTOTUNE, Dataset
    from tensorflux.data._structure import flatten, map_structure

    columns, batch_size = _as_columns(dataset)
    total = int(flatten(columns)[0].shape[0])
    order = list(range(total))
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(order)
    left, right = _rescale_split_sizes(left_size, right_size, total)
    left_index = tf.constant(order[:left], tf.int64)
    right_index = tf.constant(order[total - right:], tf.int64)
    splits = []
    for index in (left_index, right_index):
        part = Dataset.from_tensor_slices(map_structure(lambda t, i=index: tf.gather(t, i),
                                                        columns))
        if batch_size is not None:
            part = part.batch(batch_size)
        splits.append(part.prefetch(AUTOTUNE))
    return tuple(splits)


# ------------------------------------------------------------------ from directories

def _check_format(format):  # noqa: A002 - Keras's name
    if format == "grain":
        raise ValueError('format="grain" (a grain.IterDataset) is not supported by '
                         'tensorflux: use format="tf", its tf.data-style Dataset.')
    if format != "tf":
        raise ValueError(f'`format` should be either "tf" or "grain". Received: '
                         f"format={format!r}")


def _check_common(labels, label_mode, class_names, validation_split, subset, shuffle, seed):
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple)):
        raise ValueError("`labels` argument should be a list/tuple of integer labels, of the "
                         "same size as the number of files in the target directory. If you "
                         "wish to infer the labels from the subdirectory names in the target "
                         "directory, pass `labels='inferred'`. If you wish to get a dataset "
                         f"that only contains images (no labels), pass `labels=None`. "
                         f"Received: labels={labels}")
    if class_names and labels != "inferred":
        raise ValueError("You can only pass `class_names` if `labels='inferred'`. Received: "
                         f"labels={labels}, and class_names={class_names}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError('`label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode}')
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if validation_split is not None and not 0 < validation_split < 1:
        raise ValueError("`validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split is None) != (subset is None):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError('`subset` must be either "training", "validation" or "both", '
                         f"received: {subset}")
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must "
                         "provide a `seed` argument, to make sure that there is no overlap "
                         "between the training and validation subset.")
    return labels, label_mode


def _label_tensor(labels, label_mode, num_classes):
    values = tf.constant(labels, tf.int32) if labels else tf.zeros([0], tf.int32)
    if label_mode == "binary":
        return tf.expand_dims(tf.cast(values, tf.float32), -1)
    if label_mode == "categorical":
        return tf.one_hot(values, num_classes, dtype=tf.float32)
    return values


def _from_files(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                validation_split, subset, follow_links, verbose, formats, load, kind,
                batch=None):
    """The dataset(s) of `load(path)` (and labels) for the files of `directory`;
    `batch(dataset, batch_size)` batches (default: Dataset.batch)."""
    from tensorflux.data import AUTOTUNE, Dataset, files

    labels, label_mode = _check_common(labels, label_mode, class_names, validation_split,
                                       subset, shuffle, seed)
    if seed is None:
        seed = random.randint(0, int(1e6)) if shuffle else None
    paths, label_list, class_names = files.index_directory(
        directory, labels, formats, class_names=class_names, shuffle=shuffle, seed=seed,
        follow_links=follow_links)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    if verbose:
        if labels == "inferred" or label_list is not None:
            print(f"Found {len(paths)} files belonging to {len(class_names)} classes.")
        else:
            print(f"Found {len(paths)} files.")
    subsets = ["training", "validation"] if subset == "both" else [subset]
    datasets = []
    for part in subsets:
        part_paths, part_labels = files.split_for_subset(paths, label_list, validation_split,
                                                         part)
        if validation_split and verbose:
            usage = "training" if part == "training" else "validation"
            print(f"Using {len(part_paths)} files for {usage}.")
        if not part_paths:
            which = f"{part} " if subset == "both" else ""
            allowed = (f"Allowed formats: {formats}" if kind == "images" else
                       f"Allowed format: {', '.join(formats)}")
            raise ValueError(f"No {which}{kind} found in directory {directory}. {allowed}")
        path_ds = Dataset.from_tensor_slices(tf.constant(part_paths, tf.string))
        if label_mode is not None:
            label_ds = Dataset.from_tensor_slices(_label_tensor(part_labels, label_mode,
                                                                len(class_names)))
            dataset = Dataset.zip((path_ds, label_ds))
        else:
            dataset = path_ds
        # As in Keras, the validation half of subset="both" keeps its (seeded) file order.
        if shuffle and not (subset == "both" and part == "validation"):
            dataset = dataset.shuffle(batch_size * 8 if batch_size else 1024, seed=seed)
        if label_mode is not None:
            dataset = dataset.map(lambda path, label: (load(path), label),
                                  num_parallel_calls=AUTOTUNE)
        else:
            dataset = dataset.map(load, num_parallel_calls=AUTOTUNE)
        if batch_size is not None:
            dataset = (batch or Dataset.batch)(dataset, batch_size)
        dataset = dataset.prefetch(AUTOTUNE)
        dataset.class_names = None if class_names is None else list(class_names)
        dataset.file_paths = list(part_paths)
        datasets.append(dataset)
    return tuple(datasets) if subset == "both" else datasets[0]


_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                   "mitchellcubic")
_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None,
                                 format="tf", verbose=True):  # noqa: A002 - Keras's name
    """A Dataset of (images, labels) batches from `directory/<class name>/<image file>`.

    Each image is loaded as Keras does with TensorFlow: tf.io.decode_image (PNG and BMP in
    NumPy, JPEG and GIF through Pillow) to `color_mode`'s channels, then tf.image.resize to
    `image_size` (float32; "nearest" keeps uint8). `crop_to_aspect_ratio` first crops the
    largest central window of the target aspect ratio (smart_resize); `pad_to_aspect_ratio`
    resizes to fit inside and pads with zeros (tf.image.resize_with_pad). Labels come from
    the sorted subfolder names (`class_names` on the result); label_mode "int" (int32),
    "categorical" (one-hot float32), "binary" (float32, shape (1,)) or None (images only).
    """
    from tensorflux.data import files
    from tensorflux.keras import backend

    _check_format(format)
    if color_mode not in _CHANNELS:
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
                         f"Received: color_mode={color_mode}")
    if image_size is None or len(image_size) != 2:
        raise ValueError("Invalid `image_size` value. Expected a tuple of 2 integers. "
                         f"Received: image_size={image_size}")
    interpolation = interpolation.lower()
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"Argument `interpolation` should be one of {_INTERPOLATIONS}. "
                         f"Received: interpolation={interpolation}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be "
                         "set to `True`.")
    data_format = backend.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    image_size = tuple(int(s) for s in image_size)
    fit = "crop" if crop_to_aspect_ratio else "pad" if pad_to_aspect_ratio else None

    def load(path):
        return _load_image(path, image_size, _CHANNELS[color_mode], interpolation, fit,
                           data_format)

    return _from_files(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                       validation_split, subset, follow_links, verbose,
                       files.IMAGE_EXTENSIONS, load, "images")


def _load_image(path, image_size, channels, interpolation, fit, data_format):
    """One image file resized to image_size: Keras's TensorFlow loader."""
    from tensorflux.keras.utils.image_utils import smart_resize
    from tensorflux.ops import image as image_ops

    image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                               expand_animations=False)
    if fit == "crop":
        image = smart_resize(image, image_size, interpolation=interpolation)
    elif fit == "pad":
        image = _resize_with_pad(image, image_size, interpolation)
    else:
        image = image_ops.resize(image, image_size, method=interpolation)
    return tf.transpose(image, (2, 0, 1)) if data_format == "channels_first" else image


def _resize_with_pad(image, size, interpolation):
    """tf.image.resize_with_pad: the largest resize that fits `size` keeping the aspect
    ratio, centred on zeros; sizes computed in float32 as TensorFlow does."""
    from tensorflux.ops import image as image_ops

    height, width = (tf.constant(float(d), tf.float32) for d in image.shape[:2])
    target_height, target_width = (tf.constant(float(d), tf.float32) for d in size)
    ratio = tf.maximum(width / target_width, height / target_height)
    new_height, new_width = height / ratio, width / ratio
    resized = image_ops.resize(image, (int(tf.floor(new_height)), int(tf.floor(new_width))),
                               method=interpolation)
    top = max(0, int(tf.floor((target_height - new_height) / 2)))
    left = max(0, int(tf.floor((target_width - new_width) / 2)))
    return image_ops.pad_to_bounding_box(resized, top, left, size[0], size[1])


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None,
                                shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf",  # noqa: A002 - Keras's
                                verbose=True):
    """A Dataset of (texts, labels) batches from `directory/<class name>/<file>.txt`; each text
    is a tf.string scalar holding the file's bytes (cut to `max_length`)."""
    from tensorflux.data import files

    _check_format(format)

    def load(path):
        # Traceable ops, so that the element spec needs no file read.
        text = tf.io.read_file(path)
        return text if max_length is None else tf.strings.substr(text, 0, max_length)

    return _from_files(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                       validation_split, subset, follow_links, verbose,
                       files.TEXT_EXTENSIONS, load, "text files")


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, batch_size=32, sampling_rate=None,
                                 output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None,
                                 follow_links=False, verbose=True):
    """A Dataset of (audio, labels) batches from `directory/<class name>/<file>.wav`.

    Each file is read with tf.audio.decode_wav (16-bit PCM) as float32 [samples, channels]:
    cut or zero-padded to `output_sequence_length` when given, else batches are zero-padded
    to their longest clip (padded_batch), or RaggedTensors with `ragged=True`. Labels as in
    text_dataset_from_directory. Resampling (`sampling_rate`) needs tensorflow-io in Keras
    and is not supported here.
    """
    from tensorflux.io import audio
    from tensorflux.ragged import RaggedTensor

    if ragged and output_sequence_length is not None:
        raise ValueError("Cannot set both `ragged` and `output_sequence_length`")
    if sampling_rate is not None:
        if not isinstance(sampling_rate, int):
            raise ValueError("`sampling_rate` should have an integer value. Received: "
                             f"sampling_rate={sampling_rate}")
        if sampling_rate <= 0:
            raise ValueError("`sampling_rate` should be higher than 0. Received: "
                             f"sampling_rate={sampling_rate}")
        raise ImportError("audio_dataset_from_directory(sampling_rate=...) resamples with "
                          "tensorflow-io in Keras, which tensorflux does not provide: pass "
                          "sampling_rate=None and resample the files beforehand.")
    samples = -1 if output_sequence_length is None else int(output_sequence_length)

    def load(path):
        clip = audio.decode_wav(tf.io.read_file(path), desired_samples=samples).audio
        return RaggedTensor.from_tensor(clip) if ragged else clip

    def batch(dataset, size):
        if output_sequence_length is None and not ragged:
            return dataset.padded_batch(size)
        return dataset.batch(size)

    return _from_files(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                       validation_split, subset, follow_links, verbose, (".wav",), load,
                       "audio files", batch=batch)
