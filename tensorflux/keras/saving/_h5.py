"""Guarded HDF5 access for the weight loaders: no links, no external or virtual storage, and
every dataset's shape and dtype checked against what the model expects before it is read."""

import math

import numpy as np

__all__ = ["CorruptFileError", "FileNotFoundValueError", "WeightShapeMismatchError",
           "config_errors", "open_h5_for_reading", "read_dataset",
           "require_h5py", "safe_child", "safe_group", "stored_weight_bytes",
           "translate_errors"]

# Bytes a single dataset may hold, checked before anything is allocated (checked product of
# the declared shape times the item size); real weights are far below it.
MAX_DATASET_BYTES = 1 << 36
# A dataset declaring more than SPARSE_CHECK_BYTES must store at least 1/MAX_EXPANSION of
# them: a chunked dataset with no chunks written reads back as gigabytes of fill value.
SPARSE_CHECK_BYTES = 1 << 30
MAX_EXPANSION = 1000
# Attribute arrays (layer_names, weight_names) longer than this are refused.
MAX_ATTRIBUTE_ITEMS = 1 << 20


class CorruptFileError(ValueError, OSError):
    """A weights or model file that is truncated, corrupt or refused for safety reasons.
    Keras raises ValueError for a bad `.keras` zip and h5py's OSError for a bad HDF5 file;
    this is both."""


class FileNotFoundValueError(FileNotFoundError, ValueError):
    """A model or weights file that does not exist: Keras raises ValueError, Python code
    expects FileNotFoundError; this is both."""


class WeightShapeMismatchError(ValueError):
    """A weight in a file whose shape differs from the model's variable: the file is fine,
    the model is not the one it was saved from."""

    def __init__(self, where, expected, received, message=None):
        super().__init__(message or f"Dataset '{where}' has shape {tuple(received)}, the "
                         f"model's variable expects shape {tuple(expected)}.")
        self.where = where
        self.expected = tuple(expected)
        self.received = tuple(received)


def require_h5py():
    """The h5py module, or an ImportError telling how to install it."""
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("Saving and loading HDF5 files (.weights.h5, .keras, .h5) needs "
                          "h5py: install tensorflux[h5] (pip install 'tensorflux[h5]' or "
                          "pip install h5py).") from error
    return h5py


def open_h5_for_reading(source, what):
    """An h5py.File opened read-only on `source` (a path or a binary file object); a file
    HDF5 cannot open (truncated, not HDF5) gives CorruptFileError."""
    h5py = require_h5py()
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise CorruptFileError(f"Cannot read {what}: it is not a valid HDF5 file, or it is "
                               f"truncated or corrupt ({error}).") from error


def safe_child(group, name, where):
    """group[name] when it is a hard link to a group or dataset; None when absent. Soft links,
    external links and anything else are refused without being followed. A name with "/"
    (legacy weight names, or a file's own attributes) is walked one hard link at a time:
    HDF5 would otherwise follow any link along the way."""
    h5py = require_h5py()
    if "/" in name or name in ("", "."):
        parts = [part for part in name.split("/") if part]
        if not parts or "." in parts:
            raise CorruptFileError(f"Refusing to load '{where}': {name!r} is not a member "
                                   "name.")
        parent = safe_group(group, "/".join(parts[:-1])) if len(parts) > 1 else group
        return None if parent is None else safe_child(parent, parts[-1], where)
    try:
        link = group.get(name, getlink=True)
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        raise CorruptFileError(f"Cannot read '{where}': the file is corrupt ({error}).") \
            from error
    if link is None:
        return None
    if isinstance(link, h5py.ExternalLink):
        raise CorruptFileError(f"Refusing to load '{where}': it is an HDF5 external link to "
                               f"{link.filename!r}; weight files may not reference other "
                               "files.")
    if not isinstance(link, h5py.HardLink):
        raise CorruptFileError(f"Refusing to load '{where}': it is an HDF5 soft link; weight "
                               "files may not contain links.")
    try:
        obj = group[name]
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        raise CorruptFileError(f"Cannot read '{where}': the file is corrupt ({error}).") \
            from error
    if not isinstance(obj, (h5py.Group, h5py.Dataset)):
        raise CorruptFileError(f"Refusing to load '{where}': unexpected HDF5 object "
                               f"{type(obj).__name__}.")
    return obj


def safe_group(root, path):
    """The group at `path` ("layers/dense/vars") below `root`, following hard links only;
    None when some part of the path is missing."""
    h5py = require_h5py()
    node = root
    walked = []
    for part in [p for p in path.split("/") if p]:
        walked.append(part)
        node = safe_child(node, part, "/".join(walked))
        if node is None:
            return None
        if not isinstance(node, h5py.Group):
            raise CorruptFileError(f"Expected an HDF5 group at '{'/'.join(walked)}', found a "
                                   "dataset.")
    return node


def _checked_bytes(shape, itemsize, where):
    total = int(itemsize)
    for dim in shape:
        dim = int(dim)
        if dim < 0:
            raise CorruptFileError(f"Dataset '{where}' has a negative dimension {shape}.")
        total *= dim
        if total > MAX_DATASET_BYTES:
            raise CorruptFileError(f"Refusing to load dataset '{where}': its declared shape "
                                   f"{tuple(shape)} needs more than {MAX_DATASET_BYTES} "
                                   "bytes.")
    return total


def read_dataset(group, name, expected_shape, where):
    """The array stored at group[name], after checking (before reading anything) that it is a
    plain numeric dataset with `expected_shape`, stored in this file, not virtual, and with
    a sane size."""
    h5py = require_h5py()
    dataset = safe_child(group, name, where)
    if dataset is None:
        raise CorruptFileError(f"Missing dataset '{where}'.")
    if not isinstance(dataset, h5py.Dataset):
        raise CorruptFileError(f"Expected a dataset at '{where}', found a group.")
    try:
        shape = dataset.shape
        dtype = dataset.dtype
        is_virtual = dataset.is_virtual
        external = dataset.external
    except (OSError, ValueError, RuntimeError) as error:
        raise CorruptFileError(f"Cannot read dataset '{where}': the file is corrupt "
                               f"({error}).") from error
    if is_virtual:
        raise CorruptFileError(f"Refusing to load dataset '{where}': it is an HDF5 virtual "
                               "dataset (its data lives in other files).")
    if external:
        raise CorruptFileError(f"Refusing to load dataset '{where}': it uses HDF5 external "
                               "storage (its data lives in another file).")
    if shape is None:
        raise CorruptFileError(f"Dataset '{where}' has no data (null dataspace).")
    if dtype.kind not in "fiub" or dtype.itemsize > 16:
        raise CorruptFileError(f"Refusing to load dataset '{where}': dtype {dtype} is not a "
                               "numeric weight dtype.")
    declared = _checked_bytes(shape, dtype.itemsize, where)
    if declared > SPARSE_CHECK_BYTES:
        try:
            stored = dataset.id.get_storage_size()
        except (OSError, ValueError, RuntimeError) as error:
            raise CorruptFileError(f"Cannot read dataset '{where}': the file is corrupt "
                                   f"({error}).") from error
        if stored * MAX_EXPANSION < declared:
            raise CorruptFileError(f"Refusing to load dataset '{where}': its shape "
                                   f"{tuple(shape)} declares {declared} bytes, but the file "
                                   f"stores only {stored} bytes of it.")
    if tuple(shape) != tuple(expected_shape):
        raise WeightShapeMismatchError(where, expected_shape, shape)
    try:
        value = dataset[()]
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise CorruptFileError(f"Cannot read dataset '{where}': the file is truncated or "
                               f"corrupt ({error}).") from error
    value = np.asarray(value)
    if value.shape != tuple(expected_shape):
        raise CorruptFileError(f"Dataset '{where}' read back with shape {value.shape}, "
                               f"expected {tuple(expected_shape)}.")
    return value


def stored_weight_bytes(h5file):
    """The bytes the datasets in `h5file` hold once read: each dataset's declared size, but at
    most MAX_EXPANSION times what the file stores for it, so a small file cannot claim
    gigabytes. Only hard links are visited. This sizes the load's variable budget."""
    h5py = require_h5py()
    total = 0

    def visit(_, obj):
        nonlocal total
        if isinstance(obj, h5py.Dataset) and obj.shape is not None:
            declared = math.prod(obj.shape) * obj.dtype.itemsize
            total += min(declared, obj.id.get_storage_size() * MAX_EXPANSION)

    h5file.visititems(visit)
    return total


def read_string_list_attribute(group, name, where):
    """A list of str from an attribute such as `layer_names`, joining the chunked form
    (`layer_names0`, `layer_names1`, ...) Keras uses for long lists."""
    try:
        attrs = group.attrs
        if name in attrs:
            values = list(_attr_items(attrs[name], where))
        else:
            values = []
            chunk = 0
            while f"{name}{chunk}" in attrs:
                values.extend(_attr_items(attrs[f"{name}{chunk}"], where))
                chunk += 1
                if len(values) > MAX_ATTRIBUTE_ITEMS:
                    raise CorruptFileError(f"Attribute '{where}' is too long.")
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
        if isinstance(error, CorruptFileError):
            raise
        raise CorruptFileError(f"Cannot read attribute '{where}': the file is corrupt "
                               f"({error}).") from error
    return values


def _attr_items(value, where):
    array = np.asarray(value)
    if array.ndim == 0:
        items = [array.item()]
    else:
        if array.size > MAX_ATTRIBUTE_ITEMS:
            raise CorruptFileError(f"Attribute '{where}' is too long.")
        if array.size == 0:
            return []
        items = array.ravel().tolist()
    out = []
    for item in items:
        if isinstance(item, bytes):
            item = item.decode("utf-8")
        if not isinstance(item, str):
            raise CorruptFileError(f"Attribute '{where}' should hold strings, found "
                                   f"{type(item).__name__}.")
        out.append(item)
    return out


def read_string_attribute(obj, name, where):
    """A str attribute (JSON configs in legacy files), or None when absent."""
    try:
        if name not in obj.attrs:
            return None
        value = obj.attrs[name]
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise CorruptFileError(f"Cannot read attribute '{where}': the file is corrupt "
                               f"({error}).") from error
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str):
        raise CorruptFileError(f"Attribute '{where}' should be a string, found "
                               f"{type(value).__name__}.")
    return value


class translate_errors:  # noqa: N801 - a context manager
    """Turns the low-level errors h5py raises on damaged files (KeyError, RuntimeError,
    OSError...) into CorruptFileError naming the file; ValueErrors pass through."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or isinstance(error, ValueError):
            return False
        if isinstance(error, (KeyError, RuntimeError, OSError, TypeError, AttributeError,
                              IndexError, SystemError)) and \
                not isinstance(error, FileNotFoundError):
            raise CorruptFileError(f"Cannot read {self.what}: the file is truncated or "
                                   f"corrupt ({type(error).__name__}: {error}).") from error
        return False


class config_errors:  # noqa: N801 - a context manager
    """Rebuilding a model from a damaged config: lookups that fail deep in the engine
    (KeyError, IndexError, AttributeError, RecursionError) become one ValueError naming the
    file. TypeErrors (Keras's "Could not locate class ...") pass through."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, (KeyError, IndexError, AttributeError, RecursionError)):
            raise CorruptFileError(f"Invalid model config in {self.what}: "
                                   f"{type(error).__name__}: {error}") from error
        return False
