"""keras.config: global Keras settings (floatx, the dtype policy, epsilon, image data format,
backend name, unsafe deserialization, traceback filtering, interactive logging, flash
attention, and the debugging caps on fit's epochs and steps).

>>> from tensorflux import keras
>>> keras.config.floatx(), keras.config.image_data_format(), keras.config.backend()
('float32', 'channels_last', 'tensorflux')
"""

import warnings

from tensorflux.keras.backend import (
    backend,
    epsilon,
    floatx,
    image_data_format,
    max_epochs,
    max_steps_per_epoch,
    set_epsilon,
    set_floatx,
    set_image_data_format,
    set_max_epochs,
    set_max_steps_per_epoch,
)
from tensorflux.keras.dtype_policies import dtype_policy, set_dtype_policy
from tensorflux.keras.utils.io_utils import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)

__all__ = ["backend", "disable_flash_attention", "disable_interactive_logging",
           "disable_traceback_filtering", "enable_flash_attention",
           "enable_interactive_logging", "enable_traceback_filtering",
           "enable_unsafe_deserialization", "disable_unsafe_deserialization", "epsilon",
           "floatx", "image_data_format", "is_flash_attention_enabled",
           "is_interactive_logging_enabled", "is_nnx_enabled",
           "is_traceback_filtering_enabled", "is_unsafe_deserialization_enabled",
           "max_epochs", "max_steps_per_epoch", "set_backend", "set_epsilon", "set_floatx",
           "set_image_data_format", "set_max_epochs", "set_max_steps_per_epoch",
           "dtype_policy", "set_dtype_policy"]

# flash_attention: None (the default, as in Keras) means enabled where a layer supports it.
_settings = {"traceback_filtering": True, "flash_attention": None}


def set_backend(backend):
    """Accepts only "tensorflux": Keras reloads itself on another framework here, and
    tensorflux.keras runs on tensorflux alone."""
    if backend != "tensorflux":
        raise ValueError(
            f"keras.config.set_backend({backend!r}): tensorflux.keras runs only on the "
            "tensorflux backend; to run on TensorFlow, JAX or PyTorch import real Keras "
            "with KERAS_BACKEND set instead.")


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


def enable_flash_attention():
    """Records the setting (Keras's default); tensorflux's attention layers read it only
    through `is_flash_attention_enabled`."""
    _settings["flash_attention"] = None


def disable_flash_attention():
    _settings["flash_attention"] = False


def is_flash_attention_enabled():
    """False once disabled; otherwise None, as in Keras (meaning: used where supported).

    >>> from tensorflux import keras
    >>> keras.config.is_flash_attention_enabled() is None
    True
    """
    return _settings["flash_attention"]


def is_nnx_enabled():
    """Always False: Flax NNX integration belongs to Keras's JAX backend."""
    return False
