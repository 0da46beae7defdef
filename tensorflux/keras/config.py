"""keras.config: global Keras settings (floatx, the dtype policy, epsilon, image data format,
backend name, unsafe deserialization, traceback filtering and interactive logging).

>>> from tensorflux import keras
>>> keras.config.floatx(), keras.config.image_data_format(), keras.config.backend()
('float32', 'channels_last', 'tensorflux')
"""

import warnings

from tensorflux.keras.backend import (
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from tensorflux.keras.dtype_policies import dtype_policy, set_dtype_policy
from tensorflux.keras.utils.io_utils import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)

__all__ = ["backend", "disable_interactive_logging", "disable_traceback_filtering",
           "enable_interactive_logging", "enable_traceback_filtering",
           "enable_unsafe_deserialization", "disable_unsafe_deserialization", "epsilon",
           "floatx", "image_data_format", "is_interactive_logging_enabled",
           "is_traceback_filtering_enabled", "is_unsafe_deserialization_enabled",
           "set_epsilon", "set_floatx", "set_image_data_format", "dtype_policy",
           "set_dtype_policy"]

_settings = {"traceback_filtering": True}


def backend():
    """The name of the backend running Keras: always "tensorflux"."""
    return "tensorflux"


def enable_unsafe_deserialization():
    """Has no effect in tensorflux, and warns saying so.

    Keras 3 uses this to let `load_model` run the Python bytecode of a saved Lambda layer.
    tensorflux never executes code from a model file: a Lambda layer is restored only from
    a function you pass in `custom_objects` or register with
    `keras.saving.register_keras_serializable`, whatever this setting says. So
    `is_unsafe_deserialization_enabled()` stays False.
    """
    warnings.warn(
        "keras.config.enable_unsafe_deserialization() has no effect in tensorflux: loading a "
        "model never executes code stored in the file. Pass the functions of Lambda layers "
        "in `custom_objects` (or register them with "
        "keras.saving.register_keras_serializable) instead.", UserWarning, stacklevel=2)


def disable_unsafe_deserialization():
    """Does nothing: unsafe deserialization is never enabled in tensorflux."""


def is_unsafe_deserialization_enabled():
    """Always False: tensorflux never executes code stored in a model file."""
    return False


def enable_traceback_filtering():
    """Records the setting; tensorflux does not filter tracebacks (its frames are short)."""
    _settings["traceback_filtering"] = True


def disable_traceback_filtering():
    _settings["traceback_filtering"] = False


def is_traceback_filtering_enabled():
    return _settings["traceback_filtering"]
