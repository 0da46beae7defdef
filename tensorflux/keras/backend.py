"""Keras's global backend state: floatx, epsilon, image data format, object-name counters."""

import collections
import re

__all__ = ["clear_session", "epsilon", "floatx", "get_uid", "image_data_format",
           "set_epsilon", "set_floatx", "set_image_data_format", "standardize_dtype"]

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"
# prefix -> how many objects were auto-named with it (Keras's `object_name_uids`).
_NAME_UIDS = collections.defaultdict(int)


def floatx():
    """The default float type, as a string (Keras's `keras.config.floatx`).

    >>> from tensorflux.keras import backend
    >>> backend.floatx()
    'float32'
    """
    return _FLOATX


def set_floatx(value):
    global _FLOATX
    accepted = {"bfloat16", "float16", "float32", "float64"}
    value = str(value)
    if value not in accepted:
        raise ValueError(f"Unknown `floatx` value: {value}. Expected one of {sorted(accepted)}")
    _FLOATX = value


def epsilon():
    """The fuzz factor used in numeric expressions (1e-7 by default).

    >>> from tensorflux.keras import backend
    >>> backend.epsilon()
    1e-07
    """
    return _EPSILON


def set_epsilon(value):
    global _EPSILON
    _EPSILON = float(value)


def image_data_format():
    """`"channels_last"` (the default) or `"channels_first"`.

    >>> from tensorflux.keras import backend
    >>> backend.image_data_format()
    'channels_last'
    """
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format):
    global _IMAGE_DATA_FORMAT
    if data_format not in {"channels_last", "channels_first"}:
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    _IMAGE_DATA_FORMAT = data_format


def clear_session(free_memory=True):
    """Resets the auto-naming counters, so the next Dense is named "dense" again, and the
    global dtype policy (as Keras does).

    >>> from tensorflux import keras
    >>> from tensorflux.keras import backend
    >>> backend.clear_session()
    >>> keras.layers.Layer().name
    'layer'
    """
    _NAME_UIDS.clear()
    import sys

    policies = sys.modules.get("tensorflux.keras.dtype_policies")  # (set only once loaded)
    if policies is not None:
        policies._GLOBAL["policy"] = None


def get_uid(prefix=""):
    """A per-prefix counter starting at 1 (Keras's `backend.get_uid`)."""
    _NAME_UIDS[prefix] += 1
    return _NAME_UIDS[prefix]


def to_snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


def uniquify(name):
    """`name` the first time, then `name_1`, `name_2`... (Keras's naming.uniquify)."""
    count = _NAME_UIDS[name]
    unique = name if count == 0 else f"{name}_{count}"
    _NAME_UIDS[name] = count + 1
    return unique


def auto_name(class_name):
    return uniquify(to_snake_case(class_name))


def standardize_dtype(dtype):
    """A dtype name string ("float32") from a DType, a string, a NumPy dtype or None."""
    if dtype is None:
        return floatx()
    if isinstance(dtype, str):
        name = dtype
    else:
        name = getattr(dtype, "name", None) or str(dtype)
    aliases = {"float": "float32", "double": "float64", "int": "int64", "half": "float16"}
    return aliases.get(name, name)
