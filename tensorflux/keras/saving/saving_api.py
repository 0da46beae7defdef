"""keras.saving.save_model / load_model and the Model.save / save_weights / load_weights
entry points: dispatch on the file suffix exactly as Keras 3's saving_api."""

import errno
import json
import os

from tensorflux.keras.saving import legacy_h5, saving_lib
from tensorflux.keras.saving._h5 import FileNotFoundValueError

__all__ = ["FileNotFoundValueError", "load_model", "load_weights", "model_from_json",
           "model_to_json", "save_model", "save_weights"]

# model_from_json refuses strings longer than this (a config is kilobytes to a few megabytes).
_MAX_JSON_CHARS = 1 << 28

_LEGACY = (".h5", ".hdf5")


def _proceed(filepath, overwrite):
    if overwrite or not os.path.exists(filepath):
        return True
    answer = input(f"[WARNING] {filepath} already exists - overwrite? [y/n]").strip().lower()
    return answer in ("y", "yes")


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Saves `model` to `x.keras` (Keras 3 zip) or `x.h5` (legacy tf.keras HDF5); the file
    is written next to the target and renamed over it, so a crash never leaves it torn.

    >>> import os, tempfile
    >>> from tensorflux import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
    >>> keras.saving.save_model(model, path)
    >>> loaded = keras.saving.load_model(path)
    >>> [w.shape for w in loaded.get_weights()]
    [(2, 1), (1,)]
    """
    filepath = os.fspath(filepath)
    include_optimizer = kwargs.pop("include_optimizer", True)
    save_format = kwargs.pop("save_format", None)
    if save_format and not filepath.endswith((".keras",) + _LEGACY):
        raise ValueError("The `save_format` argument is gone in Keras 3 (there is no 'tf' "
                         "SavedModel format): remove it and give a file path ending in "
                         "`.keras` (or `.h5` for the legacy format). Received: "
                         f"save_format={save_format}, filepath={filepath!r}")
    if kwargs:
        raise ValueError(f"The following argument(s) are not supported: {sorted(kwargs)}")
    if zipped is False:
        raise ValueError("tensorflux writes `.keras` files zipped only (zipped=False is not "
                         "supported).")
    if filepath.endswith(_LEGACY):
        if not _proceed(filepath, overwrite):
            return
        # Keras's legacy writer creates missing folders; its `.keras` writer does not.
        _check_target(filepath, make_folder=True)
        legacy_h5.save_model_to_hdf5(model, filepath, include_optimizer=include_optimizer)
        return
    if not filepath.endswith(".keras"):
        raise ValueError("Invalid filepath extension for saving. Please add either a `.keras` "
                         "extension for the native Keras format (recommended) or a `.h5` "
                         "extension. Use `model.export(filepath)` if you want to export a "
                         f"SavedModel for use with TFLite/TFServing/etc. Received: "
                         f"filepath={filepath}.")
    if not _proceed(filepath, overwrite):
        return
    _check_target(filepath)
    saving_lib.save_model(model, filepath)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002
    """Loads a model from `x.keras` or a legacy `x.h5`.

    Classes resolve only from tensorflux's Keras classes, registered objects and
    `custom_objects`; code stored in a file (a Lambda's Python bytecode) never runs, with or
    without safe_mode.
    """
    filepath = os.fspath(filepath)
    if filepath.endswith((".keras",) + _LEGACY):
        _require_file(filepath)
    if filepath.endswith(".keras"):
        return saving_lib.load_model(filepath, custom_objects=custom_objects,
                                     compile=compile, safe_mode=safe_mode)
    if filepath.endswith(_LEGACY):
        return legacy_h5.load_model_from_hdf5(filepath, custom_objects=custom_objects,
                                              compile=compile, safe_mode=safe_mode)
    if os.path.isdir(filepath) and os.path.lexists(os.path.join(filepath, "config.json")):
        # Keras's `model.save(folder, zipped=False)`: the archive's members, unzipped.
        return saving_lib.load_model_from_folder(filepath, custom_objects=custom_objects,
                                                 compile=compile, safe_mode=safe_mode)
    saved_model = " (a TensorFlow SavedModel folder)" if os.path.isdir(filepath) else ""
    raise ValueError(f"File format not supported: filepath={filepath}{saved_model}. "
                     "tensorflux.keras supports Keras 3 `.keras` files and legacy H5 files "
                     "(`.h5` extension). The legacy SavedModel format is not supported by "
                     "load_model(), as in Keras 3, and tensorflux cannot run its TensorFlow "
                     "graph: re-save the model from Keras as `.keras`, or build it in code and "
                     "load its weights.")


def save_weights(model, filepath, overwrite=True, max_shard_size=None, **kwargs):
    """model.save_weights("x.weights.h5")."""
    filepath = os.fspath(filepath)
    if max_shard_size is not None:
        raise ValueError("tensorflux does not write sharded weights (max_shard_size).")
    if kwargs:
        raise ValueError(f"The following argument(s) are not supported: {sorted(kwargs)}")
    legacy = filepath.endswith(_LEGACY) and not filepath.endswith(".weights.h5")
    if not filepath.endswith(".weights.h5") and not legacy:
        raise ValueError("The filename must end in `.weights.h5` (or `.h5`/`.hdf5` for "
                         f"Keras 2's weights file). Received: filepath={filepath}")
    if not _proceed(filepath, overwrite):
        return
    _check_target(filepath)
    if legacy:
        # Keras 3 refuses these names; Keras 2 scripts write them (`save_weights("w.h5")`),
        # and tf_keras and load_weights read the layout back.
        legacy_h5.save_weights_to_hdf5(model, filepath)
        return
    saving_lib.save_weights_only(model, filepath)


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """model.load_weights: `.keras`, `.weights.h5`, Keras's sharded `.weights.json` or legacy
    `.h5`/`.hdf5` (by_name=)."""
    filepath = os.fspath(filepath)
    if filepath.endswith((".keras", ".weights.h5") + _LEGACY):
        _require_file(filepath)
    if filepath.endswith((".keras", ".weights.h5")):
        if "by_name" in kwargs:
            raise ValueError("`by_name` only supports loading legacy '.h5' or '.hdf5' files "
                             "(`.keras` and `.weights.h5` files are matched by layer "
                             f"structure). Received: {filepath}")
        if kwargs:
            raise ValueError(f"Invalid keyword arguments: {kwargs}")
        saving_lib.load_weights_only(model, filepath, skip_mismatch=skip_mismatch)
    elif filepath.endswith(".weights.json"):
        _require_file(filepath)
        if kwargs:
            raise ValueError(f"Invalid keyword arguments: {kwargs}")
        saving_lib.load_sharded_weights(model, filepath, skip_mismatch=skip_mismatch)
    elif filepath.endswith(_LEGACY):
        by_name = kwargs.pop("by_name", False)
        if kwargs:
            raise ValueError(f"Invalid keyword arguments: {kwargs}")
        legacy_h5.load_weights_from_hdf5(model, filepath, by_name=by_name,
                                         skip_mismatch=skip_mismatch)
    else:
        raise ValueError(f"File format not supported: filepath={filepath}. tensorflux.keras "
                         "supports `.keras`, `.weights.h5`, sharded `.weights.json` and "
                         "legacy `.h5` files.")


def _check_target(filepath, make_folder=False):
    """The errors Keras gives for a target it cannot write, naming the target (the atomic
    save writes a temporary file beside it first, whose name would say nothing)."""
    folder = os.path.dirname(os.path.abspath(filepath))
    if make_folder:
        os.makedirs(folder, exist_ok=True)
    elif not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"No such file or directory (the folder "
                                f"{folder!r} does not exist)", filepath)
    if os.path.isdir(filepath):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", filepath)


def _require_file(filepath):
    if not os.path.isfile(filepath):
        raise FileNotFoundValueError(f"File not found: filepath={filepath}. Please ensure the "
                                     "file exists and is a readable file.")


def model_to_json(model, **kwargs):
    """`model.to_json()`: the model's Keras 3 config as a JSON string (no weights); `kwargs`
    go to `json.dumps`."""
    from tensorflux.keras.saving.serialization import serialize_keras_object

    return json.dumps(serialize_keras_object(model), default=saving_lib._json_default,
                      **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A new model (fresh weights) from `model.to_json()`'s string, from Keras 3 or tf.keras.
    Classes resolve only from tensorflux's Keras classes, registered objects and
    `custom_objects`; nothing named in the string is imported or run.

    >>> from tensorflux import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    >>> [layer.name for layer in keras.models.model_from_json(model.to_json()).layers]
    ['d']
    """
    from tensorflux.keras.layers.base import Layer
    from tensorflux.keras.saving.serialization import (
        CustomObjectScope,
        SafeModeScope,
        deserialize_keras_object,
    )

    if isinstance(json_string, (bytes, bytearray)):
        json_string = json_string.decode("utf-8")
    if not isinstance(json_string, str):
        raise TypeError("model_from_json expects a JSON string (from `model.to_json()`), "
                        f"received {type(json_string).__name__}.")
    if len(json_string) > _MAX_JSON_CHARS:
        raise ValueError(f"model_from_json: the string is {len(json_string)} characters, "
                         f"more than the {_MAX_JSON_CHARS} a model config may have.")
    try:
        config = json.loads(json_string)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"model_from_json: the string is not valid JSON ({error}).") \
            from error
    config = legacy_h5._fix_legacy_config(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError("model_from_json: the JSON does not hold a model config (an object "
                         "with 'class_name' and 'config').")
    with SafeModeScope(True), CustomObjectScope(custom_objects or {}):
        model = deserialize_keras_object(config, custom_objects=custom_objects)
    if not isinstance(model, Layer):
        raise ValueError("model_from_json: the JSON does not describe a Keras model (got "
                         f"{type(model).__name__}).")
    return model
