"""Legacy HDF5 files (Keras 1/2, tf.keras, Keras 3's `model.save("x.h5")`): the full-model
writer in tf.keras's layout and the order-based (or by-name) weight loader."""

import json
import os
import warnings

import numpy as np

from tensorflux.io.atomic import atomic_write
from tensorflux.keras.saving import _h5
from tensorflux.keras.saving._h5 import (
    CorruptFileError,
    FileNotFoundValueError,
    WeightShapeMismatchError,
)
from tensorflux.keras.saving.saving_lib import (
    _json_default,
    _keras_version,
    assign_all,
    json_value,
    warn_code_free_lambdas,
)

__all__ = ["load_model_from_hdf5", "load_weights_from_hdf5", "save_model_to_hdf5"]

# The HDF5 object header limit; longer string lists are split into name0, name1, ...
_HEADER_LIMIT = 64512
_MAX_CONFIG_CHARS = 64 << 20


# ---------------------------------------------------------------------- writing
def _layer_weights(layer):
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _save_attributes(group, name, values):
    data = np.array([v.encode("utf-8") for v in values], dtype=object) if values else \
        np.array([], dtype=np.float64)
    if data.size and sum(len(v) for v in data) > _HEADER_LIMIT:
        chunks = 1
        while True:
            parts = np.array_split(data, chunks)
            if all(sum(len(v) for v in part) <= _HEADER_LIMIT for part in parts):
                break
            chunks += 1
        for index, part in enumerate(parts):
            group.attrs[f"{name}{index}"] = part
    else:
        group.attrs[name] = data


def _weight_names(variables):
    names = []
    for variable in variables:
        base = getattr(variable, "path", None) or variable.name
        name = base if base.endswith(":0") else f"{base}:0"
        candidate, suffix = name, 1
        while candidate in names:
            candidate = f"{name[:-2]}_{suffix}:0"
            suffix += 1
        names.append(candidate)
    return names


def _write_weights_group(group, model):
    layers = list(model.layers)
    _save_attributes(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = _keras_version().encode("utf-8")
    for layer in sorted(layers, key=lambda x: x.name):
        layer_group = group.create_group(layer.name)
        variables = _layer_weights(layer)
        names = _weight_names(variables)
        _save_attributes(layer_group, "weight_names", names)
        for name, variable in zip(names, variables):
            layer_group.create_dataset(name, data=np.asarray(variable.numpy()))
    own = list(model._trainable_variables) + list(model._non_trainable_variables)
    top = group.create_group("top_level_model_weights")
    names = _weight_names(own)
    _save_attributes(top, "weight_names", names)
    for name, variable in zip(names, own):
        top.create_dataset(name, data=np.asarray(variable.numpy()))


def _training_config(model):
    from tensorflux.keras import optimizers

    config = model.get_compile_config() if getattr(model, "compiled", False) else None
    if not config:
        return None
    config = dict(config)
    config.pop("optimizer", None)
    optimizer = optimizers.serialize(model.optimizer)
    config["optimizer_config"] = {"class_name": optimizer["class_name"],
                                  "config": optimizer["config"]}
    return config


def save_model_to_hdf5(model, filepath, include_optimizer=True):
    """model.save("x.h5"): tf.keras's full-model layout (model_config, training_config,
    model_weights, optimizer_weights), written atomically."""
    from tensorflux.keras.saving.serialization import serialize_keras_object

    h5py = _h5.require_h5py()
    filepath = os.fspath(filepath)
    serialized = serialize_keras_object(model)
    # The registered name ("package>Name") of a user's model class, where Keras writes the
    # bare class name that its own loader then cannot find.
    registered = serialized.get("registered_name")
    class_name = registered if registered and ">" in registered else serialized["class_name"]
    model_config = {"class_name": class_name, "config": serialized["config"]}
    warn_code_free_lambdas(model_config, filepath)
    training = _training_config(model) if include_optimizer else None
    optimizer = getattr(model, "optimizer", None)

    def write(temp_path):
        with h5py.File(temp_path, "w") as h5file:
            h5file.attrs["backend"] = "tensorflow"
            h5file.attrs["keras_version"] = _keras_version()
            h5file.attrs["model_config"] = json.dumps(model_config, default=_json_default)
            if training is not None:
                h5file.attrs["training_config"] = json.dumps(training, default=_json_default)
            _write_weights_group(h5file.create_group("model_weights"), model)
            if include_optimizer and training is not None and optimizer is not None and \
                    getattr(optimizer, "built", False):
                group = h5file.create_group("optimizer_weights")
                variables = list(optimizer.variables)
                names = [getattr(v, "path", v.name) for v in variables]
                _save_attributes(group, "weight_names", names)
                for name, variable in zip(names, variables):
                    group.create_dataset(name, data=np.asarray(variable.numpy()))

    atomic_write(filepath, write, mode=None)


def save_weights_to_hdf5(model, filepath):
    """model.save_weights("x.h5"): Keras 2's weights-only layout (the `model_weights` group of
    a full file, at the root), written atomically."""
    h5py = _h5.require_h5py()

    def write(temp_path):
        with h5py.File(temp_path, "w") as h5file:
            _write_weights_group(h5file, model)

    atomic_write(os.fspath(filepath), write, mode=None)


# ---------------------------------------------------------------------- reading
def _dataset_at(group, name, expected_shape, where):
    parts = [p for p in name.split("/") if p]
    if not parts:
        raise CorruptFileError(f"Empty weight name in '{where}'.")
    parent = _h5.safe_group(group, "/".join(parts[:-1])) if len(parts) > 1 else group
    if parent is None:
        raise CorruptFileError(f"Missing weight '{name}' in '{where}'.")
    return _h5.read_dataset(parent, parts[-1], expected_shape, f"{where}/{name}")


def _weights_root(h5file):
    if "layer_names" not in h5file.attrs and "layer_names0" not in h5file.attrs:
        inner = _h5.safe_child(h5file, "model_weights", "model_weights")
        if inner is not None:
            return inner
    return h5file


def _saved_layers(root):
    """[(group name, group, weight names)] in the file's layer_names order."""
    found = []
    for name in _h5.read_string_list_attribute(root, "layer_names", "layer_names"):
        group = _h5.safe_child(root, name, name)
        if group is None:
            raise CorruptFileError(f"The file lists layer '{name}' but holds no group for it.")
        weight_names = _h5.read_string_list_attribute(group, "weight_names",
                                                      f"{name}.weight_names")
        found.append((name, group, weight_names))
    return found


def _read_layer(layer_label, group, weight_names, variables, where):
    if len(weight_names) != len(variables):
        raise ValueError(f"Weight count mismatch for layer {layer_label}: the model's layer "
                         f"expects {len(variables)} weight(s), but the saved weights have "
                         f"{len(weight_names)} element(s).")
    found = []
    for variable, name in zip(variables, weight_names):
        try:
            found.append((variable, _dataset_at(group, name, tuple(variable.shape), where)))
        except WeightShapeMismatchError as error:
            raise WeightShapeMismatchError(error.where, error.expected, error.received,
                                           _shape_message(layer_label, variable, error)) \
                from None
    return found


def _shape_message(layer_label, variable, error):
    return (f"Layer {layer_label} cannot load its weight '{variable.name}': expected shape "
            f"{error.expected}, received shape {error.received} (dataset '{error.where}'). "
            "The file was saved from a model whose layer has a different shape; build the "
            "model as it was saved, or pass skip_mismatch=True (with by_name=True) to skip "
            "this layer.")


def read_legacy_weights(model, root, by_name=False, skip_mismatch=False):
    """[(variable, array)] from a legacy weights group, all validated before any write."""
    saved = _saved_layers(root)
    pending = []
    if by_name:
        index = {}
        for layer in model.layers:
            index.setdefault(layer.name, []).append(layer)
        for name, group, weight_names in saved:
            for layer in index.get(name, []):
                variables = _layer_weights(layer)
                try:
                    pending.extend(_read_layer(f"'{layer.name}'", group, weight_names,
                                               variables, name))
                except ValueError as error:
                    if not skip_mismatch or isinstance(error, CorruptFileError):
                        raise
                    warnings.warn(f"Skipping loading weights for layer '{layer.name}': "
                                  f"{error}", stacklevel=3)
    else:
        layers = [layer for layer in model.layers if _layer_weights(layer)]
        saved = [entry for entry in saved if entry[2]]
        if len(layers) != len(saved):
            raise ValueError("Layer count mismatch when loading weights from file. Model "
                             f"expected {len(layers)} layers, found {len(saved)} saved "
                             "layers.")
        for k, (layer, (name, group, weight_names)) in enumerate(zip(layers, saved)):
            pending.extend(_read_layer(f"#{k} (named '{layer.name}' in the current model, "
                                       f"'{name}' in the file)", group, weight_names,
                                       _layer_weights(layer), name))
    top = _h5.safe_child(root, "top_level_model_weights", "top_level_model_weights")
    own = list(model._trainable_variables) + list(model._non_trainable_variables)
    if top is not None:
        names = _h5.read_string_list_attribute(top, "weight_names",
                                               "top_level_model_weights.weight_names")
        if names or own:
            pending.extend(_read_layer("top_level_model_weights", top, names, own,
                                       "top_level_model_weights"))
    return pending


def load_weights_from_hdf5(model, filepath, by_name=False, skip_mismatch=False):
    """model.load_weights("x.h5"): tf.keras/Keras 3 legacy weights or full-model files,
    positional by default (names are never matched), or by layer name."""
    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundValueError(f"File not found: filepath={filepath}.")
    h5file = _h5.open_h5_for_reading(filepath, filepath)
    try:
        with _h5.translate_errors(filepath):
            pending = read_legacy_weights(model, _weights_root(h5file), by_name=by_name,
                                          skip_mismatch=skip_mismatch)
    finally:
        h5file.close()
    assign_all(pending)


# Config keys tf.keras 2 wrote that Keras 3's classes do not take, per class: the default
# time_major=False of the recurrent layers (the only layout Keras 3 computes) and the build
# shapes of MultiHeadAttention (Keras 3 builds it on its first call).
_KERAS2_ONLY_KEYS = {"LSTM": {"time_major": False}, "GRU": {"time_major": False},
                     "SimpleRNN": {"time_major": False},
                     "MultiHeadAttention": {"query_shape": None, "key_shape": None,
                                            "value_shape": None}}


def _fix_legacy_config(config):
    """Keras 2 spellings rewritten for Keras 3: class_name Model -> Functional (as Keras 3's
    legacy loader does), and the _KERAS2_ONLY_KEYS dropped at any depth (inside
    Bidirectional or TimeDistributed too); a key whose value changes the computation
    (time_major=True) stays, so that loading fails naming it."""
    if isinstance(config, list):
        return [_fix_legacy_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    config = {key: _fix_legacy_config(value) for key, value in config.items()}
    if config.get("class_name") == "Model":
        config["class_name"] = "Functional"
    inner = config.get("config")
    dropped = _KERAS2_ONLY_KEYS.get(config.get("class_name"))
    if dropped and isinstance(inner, dict):
        config["config"] = {k: v for k, v in inner.items() if k not in dropped or (
            dropped[k] is not None and v is not dropped[k])}
    return config


def _compile_from_training_config(model, training_config, custom_objects):
    from tensorflux.keras import losses, metrics, optimizers

    optimizer_config = dict(training_config.get("optimizer_config") or {})
    class_name = optimizer_config.get("class_name", "rmsprop")
    if isinstance(class_name, str) and class_name.startswith("Custom>"):
        class_name = class_name[len("Custom>"):]
    inner = dict(optimizer_config.get("config") or {})
    for key in ("is_legacy_optimizer", "jit_compile", "decay"):
        inner.pop(key, None)
    optimizer = optimizers.deserialize({"class_name": class_name, "config": inner},
                                       custom_objects=custom_objects)

    def revive(value, module):
        if isinstance(value, dict) and value.get("class_name") == "MeanMetricWrapper" and \
                module is metrics:
            # tf.keras 2 wrote compile(metrics=["accuracy"]) as a MeanMetricWrapper of the
            # function it picked; the name given to compile rebuilds that metric.
            inner = value.get("config") or {}
            return inner.get("name") or inner.get("fn")
        if isinstance(value, str):
            # A user's loss or metric saved by name ("my_loss") comes from custom_objects;
            # an unknown loss name fails here, so that the model loads uncompiled with a
            # warning rather than failing at its first fit or evaluate.
            if custom_objects and value in custom_objects:
                return custom_objects[value]
            if module is losses:
                losses.deserialize(value, custom_objects=custom_objects)
            return value
        if isinstance(value, dict) and "class_name" in value:
            return module.deserialize(value, custom_objects=custom_objects)
        if isinstance(value, dict):
            return {k: revive(v, module) for k, v in value.items()}
        if isinstance(value, list):
            return [revive(v, module) for v in value]
        return value

    metric_list = training_config.get("metrics")
    # Keras 2 nests metrics per output: [[...]] for a single-output model.
    if isinstance(metric_list, list) and len(metric_list) == 1 and \
            isinstance(metric_list[0], list):
        metric_list = metric_list[0]
    model.compile(optimizer=optimizer,
                  loss=revive(training_config.get("loss"), losses),
                  loss_weights=training_config.get("loss_weights"),
                  metrics=revive(metric_list, metrics),
                  weighted_metrics=revive(training_config.get("weighted_metrics"), metrics))


def load_model_from_hdf5(filepath, custom_objects=None, compile=True,  # noqa: A002
                         safe_mode=True):
    """The model in a legacy .h5 file (config from the allowlist, weights by position); the
    variables its config builds may take only about the bytes the file's weights hold."""
    from tensorflux.keras.engine.load_budget import LoadBudget
    from tensorflux.keras.layers.base import Layer
    from tensorflux.keras.saving.serialization import (
        CustomObjectScope,
        SafeModeScope,
        deserialize_keras_object,
    )

    filepath = os.fspath(filepath)
    if not os.path.isfile(filepath):
        raise FileNotFoundValueError(f"File not found: filepath={filepath}.")
    h5file = _h5.open_h5_for_reading(filepath, filepath)
    try:
        with _h5.translate_errors(filepath):
            raw = _h5.read_string_attribute(h5file, "model_config", "model_config")
        if raw is None:
            raise ValueError(f"No model config found in the file at {filepath}. A file "
                             "written by save_weights holds only weights: build the model "
                             f"in code, then call model.load_weights({filepath!r}).")
        if len(raw) > _MAX_CONFIG_CHARS:
            raise CorruptFileError(f"{filepath}: model_config is too large.")
        try:
            config = _fix_legacy_config(json.loads(raw))
        except (ValueError, RecursionError) as error:
            raise CorruptFileError(f"{filepath}: model_config is not valid JSON ({error}).") \
                from error
        if not isinstance(config, dict) or "class_name" not in config:
            raise CorruptFileError(f"{filepath}: model_config is not a model config.")
        with _h5.translate_errors(filepath):
            budget = LoadBudget(_h5.stored_weight_bytes(h5file), filepath)
        with budget, SafeModeScope(safe_mode), CustomObjectScope(custom_objects or {}), \
                _h5.config_errors(f"{filepath} (model_config)"):
            model = deserialize_keras_object(config, custom_objects=custom_objects,
                                             safe_mode=safe_mode)
        if not isinstance(model, Layer):
            raise ValueError(f"{filepath}: model_config does not describe a Keras model.")
        with _h5.translate_errors(filepath):
            pending = read_legacy_weights(model, _h5.safe_child(h5file, "model_weights",
                                                                "model_weights") or h5file)
            training = _h5.read_string_attribute(h5file, "training_config",
                                                 "training_config")
        optimizer_weights = None
        if compile and training is not None:
            training_config = json_value(training, filepath, "training_config")
            assign_all(pending)
            pending = []
            try:
                with budget, CustomObjectScope(custom_objects or {}):
                    _compile_from_training_config(model, training_config, custom_objects)
            except (ValueError, TypeError, KeyError) as error:
                warnings.warn(f"{filepath}: the training configuration could not be applied "
                              f"({error}); the model is returned uncompiled.", stacklevel=2)
            else:
                with _h5.translate_errors(filepath):
                    optimizer_weights = _read_optimizer_weights(model, h5file, filepath)
        assign_all(pending)
        if optimizer_weights:
            model.optimizer.set_weights(optimizer_weights)
    finally:
        h5file.close()
    return model


def _read_optimizer_weights(model, h5file, filepath):
    group = _h5.safe_child(h5file, "optimizer_weights", "optimizer_weights")
    if group is None:
        return None
    names = _h5.read_string_list_attribute(group, "weight_names",
                                           "optimizer_weights.weight_names")
    optimizer = model.optimizer
    if not getattr(optimizer, "built", False) and getattr(model, "built", False):
        optimizer.build(model.trainable_variables)
    variables = list(optimizer.variables)
    if len(names) != len(variables):
        warnings.warn(f"{filepath}: error in loading the saved optimizer state: the file has "
                      f"{len(names)} optimizer weights and the optimizer {len(variables)}. "
                      "The optimizer starts fresh.", stacklevel=3)
        return None
    try:
        return [_dataset_at(group, name, tuple(v.shape), "optimizer_weights")
                for v, name in zip(variables, names)]
    except WeightShapeMismatchError as error:
        warnings.warn(f"{filepath}: error in loading the saved optimizer state ({error}). "
                      "The optimizer starts fresh.", stacklevel=3)
        return None
