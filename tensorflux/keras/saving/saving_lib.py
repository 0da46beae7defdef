"""Keras 3's native files: the `.weights.h5` layout (the walk over layers and optimizer that
names every `vars` group) and the `.keras` zip (metadata.json, config.json,
model.weights.h5, then assets/<inner path>/... from the layers' save_assets). Writes are
atomic; reads validate everything before any assignment."""

import datetime
import json
import os
import re
import shutil
import stat
import tempfile
import warnings
import zipfile
import zlib

import numpy as np

from tensorflux.io.atomic import atomic_write
from tensorflux.keras.saving import _h5
from tensorflux.keras.saving._h5 import (
    CorruptFileError,
    FileNotFoundValueError,
    WeightShapeMismatchError,
)

__all__ = ["load_model", "load_model_from_folder", "load_sharded_weights", "load_weights_only",
           "save_model", "save_weights_only", "walk_saveables"]

_CONFIG_FILENAME = "config.json"
_METADATA_FILENAME = "metadata.json"
_VARS_FILENAME = "model.weights.h5"
_ASSETS_DIRNAME = "assets"
# Bounds for reading archives: member count, config size, expansion ratio of compressed
# members (Keras's own guard is 100x past 4 GiB; stored members expand 1x).
_MAX_MEMBERS = 10000
_MAX_CONFIG_BYTES = 64 << 20
_MAX_WEIGHTS_BYTES = 1 << 40
_MAX_RATIO = 100
# Bound on everything extracted from assets/ (vocabularies and the like).
_MAX_ASSETS_BYTES = 4 << 30


# ---------------------------------------------------------------------- the walk
def _to_snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _name_key(name):
    return f"~{name}" if name.startswith("_") else name


_SKIPSETS = {}


def _obj_type(obj):
    from tensorflux.keras.layers.base import Layer
    from tensorflux.keras.models.functional import Functional
    from tensorflux.keras.models.model import Model
    from tensorflux.keras.models.sequential import Sequential
    from tensorflux.keras.optimizers.base import Optimizer

    if isinstance(obj, Sequential):
        return "Sequential"
    if isinstance(obj, Functional):
        return "Functional"
    if isinstance(obj, Model):
        return "Model"
    if isinstance(obj, Layer):
        return "Layer"
    if isinstance(obj, Optimizer):
        return "Optimizer"
    return None


def _skipset(obj_type):
    """Attributes a bare Layer already has (Keras's get_attr_skipset), plus the engine's
    own bookkeeping and the trainer's state other than `optimizer`."""
    if obj_type in _SKIPSETS:
        return _SKIPSETS[obj_type]
    from tensorflux.keras.layers.base import Layer
    from tensorflux.keras.models.model import Trainer

    if obj_type == "Optimizer":
        # What a plain optimizer has; what a subclass adds (a LossScaleOptimizer's
        # inner_optimizer, a MultiOptimizer's optimizers) is walked, as in Keras.
        from tensorflux.keras.optimizers.base import Optimizer

        _SKIPSETS[obj_type] = set(dir(Optimizer(1.0)))
        return _SKIPSETS[obj_type]
    skip = set(dir(Layer(name="__skipset_probe__")))
    if obj_type in ("Sequential", "Functional", "Model"):
        skip.update(set(dir(Trainer)) - {"optimizer"})
        skip.update({"_functional", "_operations", "operations", "_nodes", "_nodes_by_depth",
                     "_run_order", "_inputs", "_outputs", "_inputs_struct",
                     "_outputs_struct", "inputs", "outputs", "input", "output",
                     "input_shape", "output_shape", "metrics", "metrics_names",
                     "metrics_variables", "history", "compiled", "distribute_strategy"})
    _SKIPSETS[obj_type] = skip
    return skip


def _own_variables(obj):
    from tensorflux.keras.optimizers.base import Optimizer

    if isinstance(obj, Optimizer):
        return list(obj.variables)
    if getattr(obj, "_is_quantized", False) or getattr(obj, "lora_enabled", False):
        # (Keras's file order differs from .weights'; a LoRA layer's file holds its merged
        # kernel and no factors)
        return obj.quantized_variables_in_file_order()
    seen = set()
    found = []
    for variable in list(obj._trainable_variables) + list(obj._non_trainable_variables):
        if id(variable) not in seen:
            seen.add(id(variable))
            found.append(variable)
    return found


def _children(obj, obj_type):
    if obj_type in ("Sequential", "Functional"):
        yield "layers", obj.layers
    skip = _skipset(obj_type)
    for attr in sorted(dir(obj), key=_name_key):
        if attr.startswith("__") or attr in skip:
            continue
        try:
            value = getattr(obj, attr)
        except Exception:  # noqa: BLE001 - Keras skips attributes that fail to read
            continue
        yield attr, value


def walk_saveables(model):
    """[(inner_path, object)] for every layer and optimizer in Keras 3's save order and with
    its path ("layers/dense", "optimizer", "" for the model)."""
    found = []
    visited = set()

    def visit(obj, path):
        if id(obj) in visited:
            return
        obj_type = _obj_type(obj)
        found.append((path, obj))
        visited.add(id(obj))
        for attr, child in _children(obj, obj_type):
            child_path = f"{path}/{attr}" if path else attr
            if _obj_type(child) is not None:
                visit(child, child_path)
            elif isinstance(child, (list, tuple, dict)):
                container(child, child_path, set())

    def container(values, path, seen_containers):
        if id(values) in seen_containers:
            return
        seen_containers.add(id(values))
        used = {}
        if isinstance(values, dict):
            values = list(values.values())
        for item in values:
            if _obj_type(item) is not None:
                name = _unique_name(_to_snake_case(type(item).__name__), used)
                visit(item, f"{path}/{name}")
            elif isinstance(item, (list, tuple, dict)):
                name = _unique_name("container", used)
                container(item, f"{path}/{name}", seen_containers)

    visit(model, "")
    return found


def _unique_name(name, used):
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _is_optimizer(obj):
    return _obj_type(obj) == "Optimizer"


# ---------------------------------------------------------------------- .weights.h5
def _vars_path(path):
    return f"{path}/vars" if path else "vars"


def _to_array(variable):
    return np.asarray(variable.numpy())


def _overrides(obj, method):
    """Whether `obj`'s class replaces Layer.<method> (a user's save_own_variables or
    load_own_variables, as in Keras's guide on customizing saving)."""
    from tensorflux.keras.layers.base import Layer

    found = getattr(type(obj), method, None)
    return isinstance(obj, Layer) and found is not None and found is not getattr(Layer, method)


def write_weights_h5(model, h5file):
    """Writes every layer's and the optimizer's variables into an open h5py File."""
    for path, obj in walk_saveables(model):
        group = h5file.require_group(_vars_path(path))
        name = getattr(obj, "name", None)
        if isinstance(name, str):
            group.attrs["name"] = name
        if _overrides(obj, "save_own_variables"):
            store = {}
            obj.save_own_variables(store)
            for key, value in store.items():
                group.create_dataset(str(key), data=_to_array(value) if hasattr(value, "numpy")
                                     else np.asarray(value))
            continue
        for index, variable in enumerate(_own_variables(obj)):
            group.create_dataset(str(index), data=_to_array(variable))
        # Named datasets Keras's save_own_variables adds (a tf_idf layer's idf_weights).
        for key, value in _extra_vars(obj).items():
            group.create_dataset(key, data=_to_array(value))


def _extra_vars(obj):
    hook = getattr(type(obj), "_save_extra_vars", None)
    return hook(obj) if callable(hook) else {}


def read_extra_h5(model, h5file, where="the weights file"):
    """[(object, {name: array})] for the named (non-index) datasets of every object that
    takes them (`_load_extra_vars`), each validated as read_weights_h5 does."""
    h5py = _h5.require_h5py()
    found = []
    for path, obj in walk_saveables(model):
        if not callable(getattr(type(obj), "_load_extra_vars", None)):
            continue
        group = _h5.safe_group(h5file, _vars_path(path))
        if group is None:
            continue
        arrays = {}
        for key in _group_keys(group, _vars_path(path)):
            if key.isdigit():
                continue
            label = f"{_vars_path(path)}/{key}"
            dataset = _h5.safe_child(group, key, label)
            if not isinstance(dataset, h5py.Dataset):
                continue
            try:
                shape = dataset.shape
            except (OSError, ValueError, RuntimeError) as error:
                raise CorruptFileError(f"Cannot read dataset '{label}' in {where}: the file "
                                       f"is corrupt ({error}).") from error
            if shape is None or len(shape) != 1:
                raise CorruptFileError(f"Dataset '{label}' in {where} should be 1-D, found "
                                       f"shape {shape}.")
            arrays[key] = _h5.read_dataset(group, key, tuple(shape), label)
        if arrays:
            found.append((obj, arrays))
    return found


def apply_extra(found):
    for obj, arrays in found:
        obj._load_extra_vars(arrays)


def save_weights_only(model, filepath):
    """model.save_weights("x.weights.h5"): Keras 3's layout, written atomically."""
    h5py = _h5.require_h5py()
    filepath = os.fspath(filepath)
    if not filepath.endswith(".weights.h5"):
        raise ValueError("The filename must end in `.weights.h5`. Received: "
                         f"filepath={filepath}")
    if not getattr(model, "built", False):
        raise ValueError("You are saving a model that has not yet been built. Try building "
                         "the model first by calling it on some data or by using `build()`.")

    def write(temp_path):
        with h5py.File(temp_path, "w") as h5file:
            write_weights_h5(model, h5file)

    atomic_write(filepath, write, mode=None)


def read_weights_h5(model, h5file, skip_mismatch=False, where="the weights file"):
    """[(variable, array)] for every variable of `model` found in `h5file`, every dataset
    validated (links, storage, dtype, shape) before it is read. Raises on any mismatch
    (unless skip_mismatch) without touching the model."""
    root = h5file
    rename = None
    if _h5.safe_child(root, "layers", "layers") is None and \
            _h5.safe_child(root, "_layer_checkpoint_dependencies",
                           "_layer_checkpoint_dependencies") is not None:
        rename = "_layer_checkpoint_dependencies"  # tf.keras 2.13 .keras files
    pending = []
    optimizer_paths = []
    for path, obj in walk_saveables(model):
        variables = _own_variables(obj)
        file_path = path
        if rename and (path == "layers" or path.startswith("layers/")):
            file_path = rename + path[len("layers"):]
        group = _h5.safe_group(root, _vars_path(file_path))
        if _is_optimizer(obj):
            if group is None and any(path.startswith(f"{p}/") for p in optimizer_paths):
                # An inner optimizer's variables are its parent's too (files written before
                # tensorflux saved the inner group): restored there.
                continue
            optimizer_paths.append(path)
        keys = [] if group is None else _group_keys(group, _vars_path(file_path))
        label = getattr(obj, "name", path or "model")
        if _overrides(obj, "load_own_variables"):
            # Every dataset is validated now; the layer's own method gets them afterwards.
            pending.append((_OwnVariablesLoader(obj), {
                key: _h5.read_dataset(group, key, _dataset_shape(group, key, where),
                                      f"{_vars_path(file_path)}/{key}") for key in keys}))
            continue
        if not variables:
            continue
        if _is_optimizer(obj) and len(keys) < len(variables) and \
                len(keys) == _unbuilt_optimizer_count(obj):
            # Saved before its first step (only iterations and learning_rate exist yet):
            # restore those and keep the fresh slots, instead of Keras's warning.
            variables = variables[:len(keys)]
        if len(keys) != len(variables):
            message = (f"{'Optimizer' if _is_optimizer(obj) else 'Layer'} '{label}' expected "
                       f"{len(variables)} variables, but received {len(keys)} variables "
                       f"during loading from {where} (group '{_vars_path(file_path)}'). "
                       f"Expected: {[_variable_label(v) for v in variables]}")
            if _is_optimizer(obj) or skip_mismatch:
                warnings.warn(message, stacklevel=3)
                continue
            raise ValueError(message)
        arrays = []
        for i, variable in enumerate(variables):
            try:
                arrays.append(_h5.read_dataset(group, str(i), tuple(variable.shape),
                                               f"{_vars_path(file_path)}/{i}"))
            except WeightShapeMismatchError as error:
                message = shape_mismatch_message(obj, label, variable, error, where)
                if not skip_mismatch:
                    raise ValueError(message) from None
                warnings.warn(f"Skipping loading weights for '{label}': {message}",
                              stacklevel=3)
                break
        else:
            pending.extend(zip(variables, arrays))
    return pending


def shape_mismatch_message(obj, label, variable, error, where):
    """Names the layer (or optimizer), the weight and both shapes: a shape mismatch means a
    model built differently from the saved one, not a damaged file."""
    if _is_optimizer(obj):
        kind = f"Optimizer '{label}'"
    else:
        kind = f"Layer '{label}' ({type(obj).__name__})"
    return (f"{kind} cannot load its weight '{variable.name}' (variable "
            f"'{_variable_label(variable)}'): expected shape {tuple(variable.shape)}, received "
            f"shape {error.received} from {where} (dataset '{error.where}'). The file was "
            "saved from a model whose layer has a different shape; build the model as it was "
            "saved, or pass skip_mismatch=True to skip this layer.")


def _unbuilt_optimizer_count(optimizer):
    from tensorflux.variable import Variable

    return 1 + isinstance(getattr(optimizer, "_learning_rate", None), Variable)


def _group_keys(group, where):
    try:
        keys = list(group.keys())
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise CorruptFileError(f"Cannot list '{where}': the file is corrupt ({error}).") \
            from error
    if len(keys) > 1_000_000:
        raise CorruptFileError(f"Group '{where}' has too many members.")
    return keys


def _variable_label(variable):
    return getattr(variable, "path", None) or variable.name


class _OwnVariablesLoader:
    """A pending entry of read_weights_h5 for a layer with its own load_own_variables."""

    def __init__(self, layer):
        self.layer = layer


def _dataset_shape(group, key, where):
    h5py = _h5.require_h5py()
    dataset = _h5.safe_child(group, key, f"{where}: {key}")
    if not isinstance(dataset, h5py.Dataset):
        raise CorruptFileError(f"Expected a dataset at '{key}' in {where}, found a group.")
    try:
        return tuple(dataset.shape or ())
    except (OSError, ValueError, RuntimeError) as error:
        raise CorruptFileError(f"Cannot read dataset '{key}' in {where}: the file is corrupt "
                               f"({error}).") from error


def assign_all(pending):
    """Assigns (variable, array) pairs; every array was validated beforehand. A layer that
    overrides load_own_variables gets its {name: array} store instead."""
    import tensorflux as tf

    for variable, array in pending:
        if isinstance(variable, _OwnVariablesLoader):
            variable.layer.load_own_variables(array)
            continue
        dtype = variable.dtype
        value = np.asarray(array)
        if value.dtype != np.dtype(dtype.as_numpy_dtype if hasattr(dtype, "as_numpy_dtype")
                                   else dtype.name):
            value = value.astype(dtype.name)
        variable.assign(tf.constant(value, dtype=dtype))


def load_weights_only(model, filepath, skip_mismatch=False):
    """model.load_weights("x.weights.h5" or "x.keras"): all-or-nothing."""
    filepath = os.fspath(filepath)
    if not getattr(model, "built", True):
        # An unbuilt model has no variables yet: nothing would be loaded, silently.
        raise ValueError("You are loading weights into a model that has not yet been built. "
                         "Try building the model first by calling it on some data or by "
                         "using `build()`.")
    if filepath.endswith(".keras"):
        with _open_archive(filepath) as (archive, _):
            with _extracted_weights(archive, filepath) as weights_path:
                _load_weights_file(model, weights_path, skip_mismatch, filepath)
        return
    _load_weights_file(model, filepath, skip_mismatch, filepath)


def _load_weights_file(model, path, skip_mismatch, label):
    if not os.path.isfile(path):
        raise FileNotFoundValueError(f"File not found: filepath={label}.")
    h5file = _h5.open_h5_for_reading(path, label)
    try:
        with _h5.translate_errors(label):
            pending = read_weights_h5(model, h5file, skip_mismatch=skip_mismatch,
                                      where=label)
            extra = read_extra_h5(model, h5file, where=label)
    finally:
        h5file.close()
    assign_all(pending)
    apply_extra(extra)


def json_value(raw, filepath, what):
    """The value JSON text (bytes or str) holds; CorruptFileError naming `what` of
    `filepath` when it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (ValueError, RecursionError) as error:  # (UnicodeDecodeError is a ValueError)
        raise CorruptFileError(f"{filepath}: {what} is not valid JSON ({error}).") from error


def _read_file(path, limit, filepath, what):
    """The bytes of a file a model file names, refused when larger than `limit`."""
    if os.path.getsize(path) > limit:
        raise CorruptFileError(f"Refusing to load {filepath}: {what} is larger than {limit} "
                               "bytes.")
    with open(path, "rb") as handle:
        return handle.read(limit + 1)


_MAX_SHARD_MAP_BYTES = 64 << 20


def load_sharded_weights(model, filepath, skip_mismatch=False):
    """model.load_weights("x.weights.json"): Keras's sharded weights, a JSON map from each
    vars group ("/layers/dense/vars") to the shard files beside it ("x_00000.weights.h5")
    that hold its datasets. Every dataset is read through the same checks as a `.weights.h5`
    and gathered into one private temporary file, then loaded all-or-nothing."""
    h5py = _h5.require_h5py()
    filepath = os.fspath(filepath)
    folder = os.path.dirname(os.path.abspath(filepath))
    config = json_value(_read_file(filepath, _MAX_SHARD_MAP_BYTES, filepath, "the shard map"),
                        filepath, "the shard map")
    weight_map = config.get("weight_map") if isinstance(config, dict) else None
    if not isinstance(weight_map, dict):
        raise CorruptFileError(f"{filepath}: a sharded weights map should hold a "
                               "'weight_map' object (vars group -> shard files).")
    by_shard = {}
    for group_path, shards in weight_map.items():
        shards = [shards] if isinstance(shards, str) else shards
        if not isinstance(group_path, str) or not group_path.startswith("/") or \
                not isinstance(shards, list) or \
                not all(isinstance(name, str) for name in shards):
            raise CorruptFileError(f"{filepath}: weight_map entry {group_path!r}: "
                                   f"{shards!r} should map a '/...' group path to shard "
                                   "file names.")
        for name in shards:
            if name in ("", ".", "..") or os.path.basename(name) != name or "\\" in name:
                raise CorruptFileError(f"Refusing to load {filepath}: shard {name!r} is not "
                                       "a file name beside the map (no folders, no '..').")
            by_shard.setdefault(name, []).append(group_path.strip("/"))
    merged_folder = tempfile.mkdtemp(prefix="tfx_keras_shards_")
    try:
        merged_path = os.path.join(merged_folder, "merged.weights.h5")
        with h5py.File(merged_path, "w") as merged:
            for name, group_paths in by_shard.items():
                _gather_shard(merged, os.path.join(folder, name), group_paths, filepath)
        _load_weights_file(model, merged_path, skip_mismatch, filepath)
    finally:
        shutil.rmtree(merged_folder, ignore_errors=True)


def _gather_shard(merged, shard_path, group_paths, filepath):
    label = f"{filepath} (shard {os.path.basename(shard_path)})"
    if not os.path.isfile(shard_path):
        raise FileNotFoundValueError(f"File not found: {shard_path}, a shard that {filepath} "
                                     "names.")
    if os.path.islink(shard_path):  # (as a folder's files: loading follows no paths)
        raise CorruptFileError(f"Refusing to load {filepath}: its shard {shard_path} is a "
                               "symbolic link.")
    shard = _h5.open_h5_for_reading(shard_path, label)
    try:
        with _h5.translate_errors(label):
            for group_path in group_paths:
                group = _h5.safe_group(shard, group_path)
                if group is None:
                    continue  # (Keras lists a group under every shard it may span)
                target = merged.require_group(group_path)
                for key in _group_keys(group, f"{label}/{group_path}"):
                    where = f"{label}/{group_path}/{key}"
                    if key in target:
                        raise CorruptFileError(f"Refusing to load {filepath}: dataset "
                                               f"{group_path}/{key} is in more than one "
                                               "shard.")
                    shape = _dataset_shape(group, key, where)
                    target.create_dataset(key, data=_h5.read_dataset(group, key, shape,
                                                                     where))
    finally:
        shard.close()


# ---------------------------------------------------------------------- .keras
def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Cannot write {value!r} ({type(value).__name__}) into config.json")


def _keras_version():
    from tensorflux import keras

    return getattr(keras, "__version__", "3.15.1")


def save_model(model, filepath):
    """model.save("x.keras"): Keras 3's zip (members stored, in Keras's order), atomic."""
    from tensorflux.keras.saving.serialization import serialize_keras_object

    h5py = _h5.require_h5py()
    filepath = os.fspath(filepath)
    config = serialize_keras_object(model)
    warn_code_free_lambdas(config, filepath)
    config_json = json.dumps(config, default=_json_default)
    metadata_json = json.dumps({
        "keras_version": _keras_version(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    folder = os.path.dirname(os.path.abspath(filepath))
    fd, weights_path = tempfile.mkstemp(prefix=".model.weights.", suffix=".h5.tmp",
                                        dir=folder)
    os.close(fd)
    assets_folder = tempfile.mkdtemp(prefix="tfx_keras_assets_")
    try:
        with h5py.File(weights_path, "w") as h5file:
            write_weights_h5(model, h5file)
        assets = _save_assets(model, assets_folder)

        def write(handle):
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
                archive.writestr(_member_info(_METADATA_FILENAME), metadata_json)
                archive.writestr(_member_info(_CONFIG_FILENAME), config_json)
                archive.write(weights_path, _VARS_FILENAME,
                              compress_type=zipfile.ZIP_STORED)
                for source, member in assets:
                    archive.write(source, member, compress_type=zipfile.ZIP_STORED)

        atomic_write(filepath, write, mode="wb")
    finally:
        if os.path.exists(weights_path):
            os.remove(weights_path)
        shutil.rmtree(assets_folder, ignore_errors=True)


def warn_code_free_lambdas(config, filepath):
    """Warns when a model config has Lambda layers wrapping a Python lambda: tensorflux never
    writes Python bytecode, so the file cannot rebuild them, in tensorflux or in Keras."""
    names = []

    def visit(value):
        if isinstance(value, dict):
            inner = value.get("config")
            function = inner.get("function") if isinstance(inner, dict) else None
            if value.get("class_name") == "Lambda" and isinstance(function, dict) and \
                    function.get("class_name") == "__lambda__" and \
                    not (function.get("config") or {}).get("code"):
                names.append(inner.get("name"))
            for item in value.values():
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    visit(config)
    if names:
        warnings.warn(f"Lambda layer(s) {names} wrap a Python lambda, and tensorflux never "
                      f"stores Python bytecode: {filepath} keeps their config without the "
                      "function, so load_model() cannot rebuild them (in tensorflux or Keras). "
                      f"Rebuild the model in code and call model.load_weights({filepath!r}), "
                      "or give Lambda a named function registered with "
                      "@keras.saving.register_keras_serializable().", stacklevel=4)


def _assets_dir(root, path):
    return os.path.join(root, *path.split("/")) if path else root


def _save_assets(model, folder):
    """Calls every object's save_assets(<folder>/<inner path>) (the walk that names the
    `vars` groups) and returns [(file, "assets/<inner path>/<name>")], files only, as
    Keras's DiskIOStore writes them."""
    for path, obj in walk_saveables(model):
        hook = getattr(obj, "save_assets", None)
        if callable(hook):
            target = _assets_dir(folder, path)
            os.makedirs(target, exist_ok=True)
            hook(target)
    found = []
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        relative = os.path.relpath(current, folder)
        for name in sorted(files):
            parts = [] if relative == "." else relative.split(os.sep)
            found.append((os.path.join(current, name),
                          "/".join([_ASSETS_DIRNAME] + parts + [name])))
    return found


def _member_info(name):
    info = zipfile.ZipInfo(name, date_time=datetime.datetime.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


class _open_archive:  # noqa: N801 - used as a context manager like open()
    """Opens a .keras zip after checking every member name, type and size."""

    def __init__(self, filepath):
        self.filepath = filepath

    def __enter__(self):
        if not os.path.isfile(self.filepath):
            raise FileNotFoundValueError(f"File not found: filepath={self.filepath}. Please "
                                         "ensure the file is an accessible `.keras` zip file.")
        try:
            self.archive = zipfile.ZipFile(self.filepath, "r")
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise CorruptFileError(f"Cannot read {self.filepath}: it is not a valid .keras "
                                   f"file (not a zip archive, or truncated): {error}") from error
        try:
            names = _check_members(self.archive, self.filepath)
        except BaseException:
            self.archive.close()
            raise
        return self.archive, names

    def __exit__(self, *exc_info):
        self.archive.close()
        return False


def _check_members(archive, filepath):
    infos = archive.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise CorruptFileError(f"Refusing to load {filepath}: {len(infos)} archive members.")
    names = set()
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or "\\" in name or ".." in parts or \
                re.match(r"^[A-Za-z]:", name) or "\x00" in name:
            raise CorruptFileError(f"Refusing to load {filepath}: unsafe archive member name "
                                   f"{name!r} (absolute path, '..', drive or backslash).")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise CorruptFileError(f"Refusing to load {filepath}: archive member {name!r} is "
                                   "a symbolic link.")
        if info.file_size > _MAX_WEIGHTS_BYTES:
            raise CorruptFileError(f"Refusing to load {filepath}: archive member {name!r} "
                                   f"declares {info.file_size} bytes.")
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > (1 << 20) and \
                info.file_size > _MAX_RATIO * max(info.compress_size, 1):
            raise CorruptFileError(f"Refusing to load {filepath}: archive member {name!r} "
                                   "expands more than 100x (zip bomb).")
        if name in names:  # zip readers disagree on which copy wins; a scanner may see the other
            raise CorruptFileError(f"Refusing to load {filepath}: the archive holds member "
                                   f"{name!r} more than once.")
        names.add(name)
    return names


def _read_member(archive, name, limit, filepath):
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise CorruptFileError(f"Refusing to load {filepath}: {name} is {info.file_size} "
                               f"bytes (limit {limit}).")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as error:
        raise CorruptFileError(f"Cannot read {name} from {filepath}: the archive is corrupt "
                               f"or truncated ({error}).") from error
    if len(data) > limit:
        raise CorruptFileError(f"Refusing to load {filepath}: {name} is larger than {limit} "
                               "bytes.")
    return data


class _extracted_weights:  # noqa: N801 - a context manager
    """Copies model.weights.h5 into a fresh private temporary folder (bounded by its
    declared size) and yields the path; removes the folder afterwards."""

    def __init__(self, archive, filepath):
        self.archive = archive
        self.filepath = filepath

    def __enter__(self):
        names = set(self.archive.namelist())
        if _VARS_FILENAME not in names:
            if "model.weights.npz" in names:
                raise ValueError(f"{self.filepath} stores its weights as model.weights.npz, "
                                 "which holds pickled objects; tensorflux never unpickles "
                                 "data. Re-save the model with the default .h5 weights.")
            raise CorruptFileError(f"{self.filepath}: expected a model.weights.h5 file in "
                                   "the archive.")
        info = self.archive.getinfo(_VARS_FILENAME)
        self.folder = tempfile.mkdtemp(prefix="tfx_keras_load_")
        path = os.path.join(self.folder, "model.weights.h5")
        try:
            with self.archive.open(info) as source, open(path, "wb") as target:
                remaining = info.file_size
                while True:
                    chunk = source.read(min(1 << 22, remaining + 1))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                    if remaining < 0:
                        raise CorruptFileError(f"{self.filepath}: model.weights.h5 is larger "
                                               "than the archive declares.")
                    target.write(chunk)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as error:
            shutil.rmtree(self.folder, ignore_errors=True)
            if isinstance(error, CorruptFileError):
                raise
            raise CorruptFileError(f"Cannot read model.weights.h5 from {self.filepath}: the "
                                   f"archive is corrupt or truncated ({error}).") from error
        return path

    def __exit__(self, *exc_info):
        shutil.rmtree(self.folder, ignore_errors=True)
        return False


class _extracted_assets:  # noqa: N801 - a context manager
    """Extracts the archive's assets/ members (regular files only, names checked, sizes
    bounded) into a fresh private temporary folder and yields <folder>/assets, or None when
    the archive has none (Keras opens an asset store only past 3 members); removes the
    folder afterwards."""

    def __init__(self, archive, filepath):
        self.archive = archive
        self.filepath = filepath
        self.folder = None

    def _refuse(self, name, why):
        raise CorruptFileError(f"Refusing to load {self.filepath}: archive member {name!r} "
                               f"{why}.")

    def __enter__(self):
        infos = self.archive.infolist()
        members = [i for i in infos if i.filename.startswith(_ASSETS_DIRNAME + "/")]
        if len(infos) <= 3 or not members:
            return None
        self.folder = tempfile.mkdtemp(prefix="tfx_keras_load_assets_")
        root = os.path.realpath(self.folder)
        total = 0
        try:
            for info in members:
                name = info.filename
                parts = name.split("/")
                if info.is_dir():
                    parts = parts[:-1]
                if "\\" in name or "\x00" in name or name.startswith("/") or \
                        any(part in ("", ".", "..") for part in parts) or \
                        re.match(r"^[A-Za-z]:", name):
                    self._refuse(name, "has an unsafe name (empty, '.', '..', absolute, "
                                 "drive or backslash)")
                mode = info.external_attr >> 16
                if info.is_dir():
                    continue
                # (zipfile's writestr stores bare permissions, 0o600, with no file type)
                if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                    self._refuse(name, "is not a regular file")
                total += info.file_size
                if total > _MAX_ASSETS_BYTES:
                    self._refuse(name, f"takes the assets past {_MAX_ASSETS_BYTES} bytes")
                target = os.path.realpath(os.path.join(root, *parts))
                if os.path.commonpath([root, target]) != root or target == root:
                    self._refuse(name, "would be extracted outside the temporary folder")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                self._copy(info, target)
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        return os.path.join(self.folder, _ASSETS_DIRNAME)

    def _copy(self, info, target):
        try:
            with self.archive.open(info) as source, open(target, "xb") as handle:
                remaining = info.file_size
                while True:
                    chunk = source.read(min(1 << 22, remaining + 1))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                    if remaining < 0:
                        self._refuse(info.filename, "is larger than the archive declares")
                    handle.write(chunk)
        except CorruptFileError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as error:
            raise CorruptFileError(f"Cannot read {info.filename} from {self.filepath}: the "
                                   f"archive is corrupt or truncated ({error}).") from error

    def __exit__(self, *exc_info):
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        return False


def _load_assets(model, assets_root, filepath):
    for path, obj in walk_saveables(model):
        hook = getattr(obj, "load_assets", None)
        if not callable(hook):
            continue
        folder = None if assets_root is None else _assets_dir(assets_root, path)
        if folder is not None and os.path.isdir(folder):
            hook(folder)
        elif getattr(obj, "_vocabulary_arg", None) is None and \
                hasattr(obj, "_vocabulary_arg"):
            warnings.warn(f"{filepath} has no assets for '{path}' "
                          f"({type(obj).__name__} '{getattr(obj, 'name', path)}'): its "
                          "vocabulary is left empty.", stacklevel=3)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002
    """The model stored in a `.keras` file; classes come only from the allowlist,
    registered objects and `custom_objects`. The variables its config builds may take only
    about the bytes its weights file holds (see LoadBudget)."""
    filepath = os.fspath(filepath)
    with _open_archive(filepath) as (archive, names):
        if _CONFIG_FILENAME not in names:
            raise CorruptFileError(f"{filepath}: the archive has no config.json; it is not a "
                                   ".keras model file.")
        raw = _read_member(archive, _CONFIG_FILENAME, _MAX_CONFIG_BYTES, filepath)
        with _extracted_weights(archive, filepath) as weights_path:
            model, pending, extra = _model_and_weights(
                filepath, raw, weights_path, custom_objects, compile, safe_mode)
        with _extracted_assets(archive, filepath) as assets_root:
            assign_all(pending)
            apply_extra(extra)
            _load_assets(model, assets_root, filepath)
    return model


def load_model_from_folder(folder, custom_objects=None, compile=True,  # noqa: A002
                           safe_mode=True):
    """The model Keras saved with `zipped=False`: a folder holding the `.keras` archive's
    members (config.json, model.weights.h5, assets/). The same checks as for an archive;
    config.json and model.weights.h5 must be regular files, not links."""
    folder = os.fspath(folder)
    paths = {}
    for name in (_CONFIG_FILENAME, _VARS_FILENAME):
        path = os.path.join(folder, name)
        try:
            mode = os.lstat(path).st_mode
        except OSError as error:
            raise CorruptFileError(f"{folder}: expected a {name} file in the model folder "
                                   f"saved with zipped=False ({error.strerror}).") from error
        if not stat.S_ISREG(mode):
            raise CorruptFileError(f"Refusing to load {folder}: {name} is not a regular file "
                                   "(a link or a folder).")
        paths[name] = path
    raw = _read_file(paths[_CONFIG_FILENAME], _MAX_CONFIG_BYTES, folder, _CONFIG_FILENAME)
    model, pending, extra = _model_and_weights(folder, raw, paths[_VARS_FILENAME],
                                               custom_objects, compile, safe_mode)
    assign_all(pending)
    apply_extra(extra)
    assets = os.path.join(folder, _ASSETS_DIRNAME)
    _load_assets(model, assets if os.path.isdir(assets) else None, folder)
    return model


def _model_and_weights(filepath, raw_config, weights_path, custom_objects, compile,  # noqa: A002
                       safe_mode):
    """The model config.json describes, and its weights read and validated but not yet
    assigned: (model, pending, extra)."""
    from tensorflux.keras.engine.load_budget import LoadBudget
    from tensorflux.keras.layers.base import Layer
    from tensorflux.keras.saving.serialization import (
        CustomObjectScope,
        SafeModeScope,
        deserialize_keras_object,
    )

    config = json_value(raw_config, filepath, _CONFIG_FILENAME)
    if not isinstance(config, dict):
        raise CorruptFileError(f"{filepath}: config.json should hold an object config, "
                               f"found {type(config).__name__}.")
    if not compile:
        config["compile_config"] = None
    h5file = _h5.open_h5_for_reading(weights_path, f"{filepath}/model.weights.h5")
    try:
        with _h5.translate_errors(filepath):
            stored = _h5.stored_weight_bytes(h5file)
        with LoadBudget(stored, filepath):
            with SafeModeScope(safe_mode), CustomObjectScope(custom_objects or {}), \
                    _h5.config_errors(f"{filepath} (config.json)"):
                model = deserialize_keras_object(config, custom_objects=custom_objects,
                                                 safe_mode=safe_mode)
            if not isinstance(model, Layer):
                raise ValueError(f"{filepath}: config.json does not describe a Keras "
                                 f"model or layer (got {type(model).__name__}).")
            with _h5.translate_errors(filepath):
                pending = read_weights_h5(model, h5file, where=filepath)
                extra = read_extra_h5(model, h5file, where=filepath)
    finally:
        h5file.close()
    return model, pending, extra
