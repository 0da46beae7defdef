"""Keras's global backend state: floatx, epsilon, image data format, object-name counters,
the debugging caps on fit's epochs and steps, and dtype helpers."""

import collections
import os
import re

__all__ = ["backend", "clear_session", "epsilon", "floatx", "get_uid", "image_data_format",
           "is_float_dtype", "is_int_dtype", "is_keras_tensor", "result_type", "set_epsilon",
           "set_floatx", "set_image_data_format", "standardize_dtype"]

_FLOATX = "float32"
_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"
# Caps on every fit's epochs and steps per epoch, for quick debugging runs (None: no cap).
_MAX_EPOCHS = int(os.environ["KERAS_MAX_EPOCHS"]) if "KERAS_MAX_EPOCHS" in os.environ else None
_MAX_STEPS_PER_EPOCH = (int(os.environ["KERAS_MAX_STEPS_PER_EPOCH"])
                        if "KERAS_MAX_STEPS_PER_EPOCH" in os.environ else None)
# prefix -> how many objects were auto-named with it (Keras's `object_name_uids`).
_NAME_UIDS = collections.defaultdict(int)


def backend():
    """The name of the backend running Keras: always "tensorflux".

    Keras scripts compare this with "tensorflow", "jax" or "torch" to pick code that calls
    that framework directly; none of those branches would run here, so no such name is given.

    >>> from tensorflux.keras import backend
    >>> backend.backend()
    'tensorflux'
    """
    return "tensorflux"


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
    global dtype policy and distribution (as Keras does).

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
    distribution = sys.modules.get("tensorflux.keras.distribution")
    if distribution is not None:
        distribution.set_distribution(None)


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
    elif isinstance(dtype, type):  # Python's bool/int/float/str, NumPy's scalar types
        name = _PYTHON_TYPES.get(dtype) or dtype.__name__
    else:
        name = getattr(dtype, "name", None) or str(dtype)
    name = _DTYPE_ALIASES.get(name, name)
    if name not in _KERAS_DTYPES:
        raise ValueError(f"Invalid dtype: {name!r}. Keras dtypes are "
                         f"{', '.join(sorted(_KERAS_DTYPES))}.")
    return name


_DTYPE_ALIASES = {"float": "float32", "double": "float64", "int": "int64", "half": "float16",
                  "bool_": "bool"}
_PYTHON_TYPES = {bool: "bool", int: "int64", float: "float32", str: "string"}
# The dtype names Keras 3 accepts (keras.backend.standardize_dtype raises for any other).
_KERAS_DTYPES = frozenset((
    "bool", "string", "float16", "bfloat16", "float32", "float64", "float8_e4m3fn",
    "float8_e5m2", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "complex64", "complex128"))


def is_float_dtype(dtype):
    """True for float16, bfloat16, float32, float64 (by name, DType or NumPy dtype).

    >>> from tensorflux.keras import backend
    >>> backend.is_float_dtype("bfloat16"), backend.is_float_dtype("int8")
    (True, False)
    """
    name = standardize_dtype(dtype)
    return name.startswith("float") or name.startswith("bfloat")


def is_int_dtype(dtype):
    """True for the signed and unsigned integer dtypes.

    >>> from tensorflux.keras import backend
    >>> backend.is_int_dtype("uint8"), backend.is_int_dtype("bool")
    (True, False)
    """
    name = standardize_dtype(dtype)
    return name.startswith("int") or name.startswith("uint")


def is_keras_tensor(x):
    """True for a symbolic KerasTensor (a functional model's input or intermediate value).

    >>> from tensorflux import keras
    >>> keras.backend.is_keras_tensor(keras.Input((3,))), keras.backend.is_keras_tensor(1.0)
    (True, False)
    """
    from tensorflux.keras.engine.keras_tensor import KerasTensor  # (it imports this module)

    return isinstance(x, KerasTensor)


def result_type(*dtypes):
    """The dtype Keras's promotion rules give an op over `dtypes` (names, DTypes, or the
    Python types int and float, which are weak); None stands for floatx, and no dtypes at all
    give floatx.

    >>> from tensorflux.keras import backend
    >>> backend.result_type("int32", "float16"), backend.result_type("bfloat16", int)
    ('float16', 'bfloat16')
    """
    if not dtypes:
        return floatx()
    from tensorflux.keras.ops import _dispatch

    def name(dtype):
        # (identity: NumPy and tensorflux dtypes compare equal to the Python types)
        if dtype is int or dtype is float:
            return dtype
        return standardize_dtype(dtype)

    return _dispatch.result_type(*(name(d) for d in dtypes))


def max_epochs():
    """The cap on the epochs of every fit, or None (keras.config.max_epochs)."""
    return _MAX_EPOCHS


def set_max_epochs(max_epochs):
    global _MAX_EPOCHS
    _MAX_EPOCHS = max_epochs


def max_steps_per_epoch():
    """The cap on the steps of every fit epoch, evaluate and predict, or None."""
    return _MAX_STEPS_PER_EPOCH


def set_max_steps_per_epoch(max_steps_per_epoch):
    global _MAX_STEPS_PER_EPOCH
    _MAX_STEPS_PER_EPOCH = max_steps_per_epoch


def __getattr__(name):
    # tf.keras's Keras 2 backend functions (K.mean, K.clip, ...), for `from tensorflow.keras
    # import backend as K` written with only its import changed; loaded on first use. Dunder
    # probes (the import machinery's) are not looked up.
    if not name.startswith("__"):
        import importlib

        legacy = importlib.import_module("tensorflux.keras.legacy.backend")
        if name in legacy.__all__:
            return getattr(legacy, name)
        hint = legacy._REMOVED.get(name)
        if hint:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r} ({hint})")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
