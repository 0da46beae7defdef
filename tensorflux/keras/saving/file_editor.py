"""keras.saving.KerasFileEditor: inspect and edit the weights of a `.keras` or `.weights.h5`
file without building its model, then write them out as a `.weights.h5` file.

The weights become a nested dict that mirrors the file's object paths ("layers/dense") with
each object's weights as NumPy arrays under their names ("0", "1"); editing works on that
dict. The file is only read as data: config.json is parsed as JSON and never turned into
objects, and the HDF5 reads refuse links, external or virtual storage and non-numeric data.

>>> import os, tempfile
>>> from tensorflux import keras
>>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
>>> path = os.path.join(tempfile.mkdtemp(), "m.weights.h5")
>>> model.save_weights(path)
>>> editor = keras.saving.KerasFileEditor(path)  # doctest: +ELLIPSIS
Keras weights file '...m.weights.h5'
>>> editor.rename_object("dense", "head")
>>> sorted(editor.weights_dict["layers"]), editor.weights_dict["layers"]["head"]["0"].shape
(['head'], (3, 2))
"""

import json
import os

import numpy as np

from tensorflux.io.atomic import atomic_write
from tensorflux.keras.saving import _h5, saving_lib
from tensorflux.keras.saving._h5 import CorruptFileError

__all__ = ["KerasFileEditor"]

_VARS = "vars"


def _weights_argument(weights):
    if not isinstance(weights, dict):
        raise ValueError("Argument `weights` should be a dict where keys are weight names "
                         "(usually '0', '1', etc.) and values are NumPy arrays. Received: "
                         f"type(weights)={type(weights)}")
    return {str(name): np.asarray(value) for name, value in weights.items()}


class KerasFileEditor:
    """Loads the weights of `filepath` (a `.keras` or `.weights.h5` file) into
    `weights_dict` for inspection and editing; `save` writes them to a `.weights.h5` file.

    `weights_dict` holds, for each object with weights, a dict at its path: the object's own
    weights (arrays) and its children's dicts, e.g. {"layers": {"dense": {"0": kernel,
    "1": bias}}}. The weights of the model object itself sit at the top level."""

    def __init__(self, filepath):
        self.filepath = os.fspath(filepath)
        self.config = None
        self.metadata = None
        if self.filepath.endswith(".keras"):
            self._read_keras_file()
        elif self.filepath.endswith(".weights.h5"):
            self._read_weights_file(self.filepath)
        else:
            raise ValueError("Invalid filename: expected a `.keras` or `.weights.h5` "
                             f"extension. Received: filepath={self.filepath}")
        kind = "model" if self.config is not None else "weights"
        print(f"Keras {kind} file '{self.filepath}'")
        if self.metadata is not None:
            print(f"Saved with Keras {self.metadata.get('keras_version')} - date: "
                  f"{self.metadata.get('date_saved')}")

    # ---------------------------------------------------------------- reading
    def _read_keras_file(self):
        with saving_lib._open_archive(self.filepath) as (archive, names):
            for member, attribute in ((saving_lib._CONFIG_FILENAME, "config"),
                                      (saving_lib._METADATA_FILENAME, "metadata")):
                if member in names:
                    raw = saving_lib._read_member(archive, member,
                                                  saving_lib._MAX_CONFIG_BYTES, self.filepath)
                    try:
                        setattr(self, attribute, json.loads(raw.decode("utf-8")))
                    except (UnicodeDecodeError, ValueError, RecursionError) as error:
                        raise CorruptFileError(f"{self.filepath}: {member} is not valid "
                                               f"JSON ({error}).") from error
            with saving_lib._extracted_weights(archive, self.filepath) as weights_path:
                self._read_weights_file(weights_path)

    def _read_weights_file(self, path):
        h5file = _h5.open_h5_for_reading(path, self.filepath)
        try:
            self.object_metadata = {}
            self.weights_dict = self._read_group(h5file, "")
        finally:
            h5file.close()

    def _read_group(self, group, path):
        """The dict of one object: the datasets of its `vars` group, then its children's
        dicts (objects and containers without any weights are left out)."""
        h5py = _h5.require_h5py()
        result = {}
        for key in saving_lib._group_keys(group, path or "/"):
            where = f"{path}/{key}" if path else key
            child = _h5.safe_child(group, key, where)
            if not isinstance(child, h5py.Group):
                continue  # datasets live in `vars` groups only
            if key == _VARS:
                result.update(self._read_vars(child, where))
                name = _h5.read_string_attribute(child, "name", f"{where}.attrs['name']")
                if name is not None:
                    self.object_metadata[path] = {"name": name}
                continue
            value = self._read_group(child, where)
            if value:
                result[key] = value
        return result

    def _read_vars(self, group, where):
        h5py = _h5.require_h5py()
        arrays = {}
        for key in saving_lib._group_keys(group, where):
            label = f"{where}/{key}"
            dataset = _h5.safe_child(group, key, label)
            if not isinstance(dataset, h5py.Dataset):
                raise CorruptFileError(f"Expected a dataset at '{label}' in {self.filepath}, "
                                       "found a group.")
            try:
                shape = dataset.shape
            except (OSError, ValueError, RuntimeError) as error:
                raise CorruptFileError(f"Cannot read dataset '{label}' in {self.filepath}: "
                                       f"the file is corrupt ({error}).") from error
            if shape is None:
                raise CorruptFileError(f"Dataset '{label}' has no data (null dataspace).")
            arrays[key] = _h5.read_dataset(group, key, tuple(shape), label)
        return arrays

    # ---------------------------------------------------------------- inspecting
    def summary(self):
        """Prints the objects of the file and the name, shape and dtype of their weights."""
        print("Weights structure")
        self._print_tree(self.weights_dict, "  ", "")

    def weights_summary(self):
        """Same as summary()."""
        self.summary()

    def _print_tree(self, tree, prefix, path):
        items = list(tree.items())
        for index, (key, value) in enumerate(items):
            last = index == len(items) - 1
            connector, extension = ("└─ ", "    ") if last else ("├─ ", "│   ")
            child_path = f"{path}/{key}" if path else key
            if isinstance(value, dict):
                name = self.object_metadata.get(child_path, {}).get("name")
                print(f"{prefix}{connector}{key}" + (f" ('{name}')" if name else ""))
                self._print_tree(value, prefix + extension, child_path)
            else:
                print(f"{prefix}{connector}{key}: shape={value.shape}, dtype={value.dtype}")

    def compare(self, reference_model):
        """Lists the differences between the file's weights and `reference_model`'s (missing
        objects or weights, shape mismatches). Returns {"status": "success" or "error",
        "error_count", "match_count"}."""
        reference = _weight_spec(reference_model)
        errors, matches = [], 0

        def walk(saved, expected, path):
            nonlocal matches
            for key in sorted(set(saved) | set(expected), key=str):
                where = f"{path}/{key}" if path else key
                if key not in saved:
                    errors.append(f"{where} is in the reference model but not in the file")
                elif key not in expected:
                    errors.append(f"{where} is in the file but not in the reference model")
                elif isinstance(saved[key], dict) != isinstance(expected[key], dict):
                    errors.append(f"{where} is an object in one and a weight in the other")
                elif isinstance(saved[key], dict):
                    walk(saved[key], expected[key], where)
                elif tuple(saved[key].shape) != tuple(expected[key]):
                    errors.append(f"{where} has shape {tuple(saved[key].shape)} in the file "
                                  f"and {tuple(expected[key])} in the reference model")
                else:
                    matches += 1

        walk(self.weights_dict, reference, "")
        for error in errors:
            print(f"...{error}")
        if errors:
            print(f"Found {len(errors)} error{'s' * (len(errors) != 1)}: the file is not "
                  "compatible with the reference model")
        else:
            print(f"Comparison successful: the file is compatible with the reference model "
                  f"({matches} matching weight{'s' * (matches != 1)})")
        return {"status": "error" if errors else "success", "error_count": len(errors),
                "match_count": matches}

    # ---------------------------------------------------------------- editing
    def _locate(self, object_name):
        """(parent dict, key) of an object given by its path ("layers/dense") or by a name
        that occurs exactly once anywhere in the tree ("dense")."""
        if "/" in object_name:
            parts = object_name.split("/")
            parent = self.weights_dict
            for part in parts[:-1]:
                parent = parent.get(part)
                if not isinstance(parent, dict):
                    raise ValueError(f"Path '{object_name}' not found in the file.")
            if parts[-1] not in parent:
                raise ValueError(f"Path '{object_name}' not found in the file.")
            return parent, parts[-1]
        found = []

        def search(tree):
            for key, value in tree.items():
                if key == object_name:
                    found.append((tree, key))
                if isinstance(value, dict):
                    search(value)

        search(self.weights_dict)
        if not found:
            raise ValueError(f"Source name '{object_name}' does not appear in the file. Use "
                             "`editor.summary()` to list all objects.")
        if len(found) > 1:
            raise ValueError(f"Name '{object_name}' occurs more than once in the file; pass "
                             "its complete path instead.")
        return found[0]

    def _locate_object(self, object_name):
        parent, key = self._locate(object_name)
        if not isinstance(parent[key], dict):
            raise ValueError(f"'{object_name}' is a weight, not an object; name the object "
                             "that holds it.")
        return parent, key

    def rename_object(self, object_name, new_name):
        """Renames an object (by name or path), e.g. rename_object("dense_2", "head")."""
        if "/" in new_name:
            raise ValueError("Argument `new_name` should be a leaf name, not a full path "
                             f"name. Received: new_name='{new_name}'")
        parent, key = self._locate_object(object_name)
        if new_name in parent and new_name != key:
            raise ValueError(f"Cannot rename '{object_name}' to '{new_name}': an entry of that "
                             "name already exists there.")
        parent[new_name] = parent.pop(key)

    def delete_object(self, object_name):
        """Removes an object (by name or path) and all its weights."""
        parent, key = self._locate_object(object_name)
        del parent[key]

    def add_object(self, object_path, weights):
        """Adds a new object at `object_path` ("layers/dense_2") with `weights`, a dict of
        weight name to array ({"0": kernel, "1": bias}); the path's parents must exist."""
        weights = _weights_argument(weights)
        parts = object_path.split("/")
        parent = self.weights_dict
        for part in parts[:-1]:
            parent = parent.get(part)
            if not isinstance(parent, dict):
                raise ValueError(f"Path '{'/'.join(parts[:-1])}' not found in the file.")
        if parts[-1] in parent:
            raise ValueError(f"'{object_path}' already exists; delete it first or use "
                             "add_weights.")
        parent[parts[-1]] = weights

    def delete_weight(self, object_name, weight_name):
        """Removes one weight ("0") from an object (by name or path)."""
        parent, key = self._locate_object(object_name)
        weights = parent[key]
        names = [k for k, v in weights.items() if not isinstance(v, dict)]
        if weight_name not in names:
            raise ValueError(f"Weight {weight_name} not found in object {object_name}. "
                             f"Weights found: {names}")
        del weights[weight_name]

    def add_weights(self, object_name, weights):
        """Adds or replaces weights ({"2": array}) of an existing object."""
        weights = _weights_argument(weights)
        parent, key = self._locate_object(object_name)
        parent[key].update(weights)

    # ---------------------------------------------------------------- writing
    def save(self, filepath):
        """Writes the edited weights to a `.weights.h5` file (atomically), in Keras's layout:
        each object's weights in `<path>/vars`."""
        filepath = os.fspath(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ValueError("Invalid `filepath` argument: expected a `.weights.h5` "
                             f"extension. Received: filepath={filepath}")
        h5py = _h5.require_h5py()

        def write_tree(group, tree):
            arrays = {k: v for k, v in tree.items() if not isinstance(v, dict)}
            if arrays:
                vars_group = group.require_group(_VARS)
                for name, value in arrays.items():
                    vars_group.create_dataset(name, data=np.asarray(value))
            for name, value in tree.items():
                if isinstance(value, dict) and value:
                    write_tree(group.require_group(name), value)

        def write(temp_path):
            with h5py.File(temp_path, "w") as h5file:
                write_tree(h5file, self.weights_dict)

        atomic_write(filepath, write, mode=None)

    def resave_weights(self, filepath):
        self.save(filepath)


def _weight_spec(model):
    """The weights tree `model` would save, with shapes in place of arrays."""
    spec = {}
    for path, obj in saving_lib.walk_saveables(model):
        shapes = {str(index): tuple(variable.shape)
                  for index, variable in enumerate(saving_lib._own_variables(obj))}
        shapes.update((name, tuple(value.shape))
                      for name, value in saving_lib._extra_vars(obj).items())
        if not shapes:
            continue
        node = spec
        for part in [p for p in path.split("/") if p]:
            node = node.setdefault(part, {})
        node.update(shapes)
    return spec
