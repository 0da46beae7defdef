"""tf.train: object-graph checkpoints (Checkpoint, CheckpointManager, latest_checkpoint).

Checkpoints follow TF2's object-graph semantics: an object's dependencies are its attributes
(Variables, tf.Modules, Keras layers, models and optimizers, and lists/tuples/dicts of them),
named by attribute; restoring walks the saved graph and the live one together from the root
and matches them edge by edge, so a variable is found by the path it was saved under.

The file format is tensorflux's own, not TensorFlow's TensorBundle (.index/.data files are
neither written nor read): one file `<prefix>.tfxckpt` per checkpoint, a zip of a JSON index
and .npy arrays, written atomically and read without pickle (tensorflux/io/checkpoint_file.py).
"""

import os
import re
import time

from tensorflux import errors
from tensorflux.cluster_spec import ClusterSpec
from tensorflux.io.atomic import atomic_write
from tensorflux.io.checkpoint_file import (
    SUFFIX,
    data_path,
    read_checkpoint_file,
    write_checkpoint_file,
)
from tensorflux.module import _PENDING_RESTORES, Module, run_pending_restores
from tensorflux.moving_averages import ExponentialMovingAverage
from tensorflux.proto.example_pb import (
    BytesList,
    Example,
    Feature,
    FeatureList,
    FeatureLists,
    Features,
    FloatList,
    Int64List,
    SequenceExample,
)
from tensorflux.variable import Variable

__all__ = ["Checkpoint", "CheckpointManager", "CheckpointOptions", "latest_checkpoint",
           "get_checkpoint_state", "list_variables", "load_variable", "load_checkpoint",
           "checkpoints_iterator", "ClusterSpec", "ExponentialMovingAverage"]
# The Example protocol buffers (tensorflow/core/example), in tensorflux/proto/example_pb.py.
__all__ += ["BytesList", "Example", "Feature", "FeatureList", "FeatureLists", "Features",
            "FloatList", "Int64List", "SequenceExample"]

_STATE_FILE = "checkpoint"
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
# Keras base classes that are trackable, looked up only once Keras has been imported (so
# that tf.train never imports Keras itself).
_KERAS_TRACKABLES = (("tensorflux.keras.layers.base", "Layer"),
                     ("tensorflux.keras.optimizers.base", "Optimizer"))


# ------------------------------------------------------------------ the object graph
def _keras_classes():
    import sys

    found = []
    for module_name, class_name in _KERAS_TRACKABLES:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, class_name):
            found.append(getattr(module, class_name))
    return tuple(found)


def _is_trackable(value, keras_classes):
    return isinstance(value, (Variable, Module, Checkpoint)) or _has_state(value) or (
        bool(keras_classes) and isinstance(value, keras_classes))


def _has_state(value):
    """Whether `value` saves a state of its own (a tf.data iterator's position) through
    _checkpoint_state / _restore_checkpoint_state, under its _CHECKPOINT_ATTRIBUTE."""
    return hasattr(type(value), "_restore_checkpoint_state")


def _state_key(path, obj):
    return f"{path}/.ATTRIBUTES/{obj._CHECKPOINT_ATTRIBUTE}"


def _children(obj, keras_classes):
    """[(edge name, child)] of a trackable object, in a stable order."""
    if isinstance(obj, Variable) or _has_state(obj):
        return []
    if isinstance(obj, Checkpoint):
        root = obj._flat_root()
        # With a root object, the root's own dependencies sit at the top (as TF names them).
        found = [] if root is None else _children(root, keras_classes)
        for name, value in sorted(obj._dependencies.items()):
            if value is not root:
                _collect(name, value, keras_classes, found, depth=0)
        if obj._save_counter is not None:
            found.append(("save_counter", obj._save_counter))
        return found
    ignored = getattr(obj, "_TF_MODULE_IGNORED_PROPERTIES", frozenset())
    found = []
    for name in sorted(vars(obj)):
        if name in ignored or name.startswith("__"):
            continue
        _collect(name, vars(obj)[name], keras_classes, found, depth=0)
    return found


def _collect(name, value, keras_classes, found, depth):
    if _is_trackable(value, keras_classes):
        found.append((name, value))
    elif depth < 8 and isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            _collect(f"{name}/{position}", item, keras_classes, found, depth + 1)
    elif depth < 8 and isinstance(value, dict):
        for key in sorted(value, key=str):
            if isinstance(key, (str, int)):
                _collect(f"{name}/{key}", value[key], keras_classes, found, depth + 1)


def _walk(root):
    """Breadth-first: (objects in order with their first path, {id: node number}, edges)."""
    keras_classes = _keras_classes()
    order, numbers, edges = [(root, "")], {id(root): 0}, [[]]
    position = 0
    while position < len(order):
        obj, path = order[position]
        for name, child in _children(obj, keras_classes):
            if id(child) not in numbers:
                numbers[id(child)] = len(order)
                order.append((child, f"{path}/{name}" if path else name))
                edges.append([])
            edges[position].append((name, numbers[id(child)]))
        position += 1
    return order, numbers, edges


def _variable_key(path):
    return path + _VALUE_SUFFIX


# ------------------------------------------------------------------ restore status
class CheckpointLoadStatus:
    """What a restore matched. Values the file holds for objects that do not exist yet (a
    Keras optimizer's slots before its first step, an unbuilt layer's weights) are restored
    when the object builds them, as TF defers them.

    assert_consumed() raises AssertionError while any checkpointed value is unmatched or any
    variable of the live object graph got no value; assert_existing_objects_matched() only
    checks the variables that exist now.
    """

    def __init__(self, root, path, nodes, arrays):
        self._root = root
        self._path = path
        self._nodes = nodes
        self._arrays = arrays
        self._matched_nodes = set()
        self._restored = set()  # ids of live variables given a value
        self._live = {}  # id -> live object, keeps matched objects alive for the checks
        self._expect_partial = False

    # -- matching
    def _match(self, obj, node):
        """Matches the live objects below `obj` to the saved ones below `node`, checks
        every value, then assigns them all: a value that does not fit leaves every object
        as it was."""
        keras_classes = _keras_classes()
        queue = [(obj, node)]
        updates = []
        while queue:
            live, number = queue.pop(0)
            if number in self._matched_nodes and id(live) in self._live:
                continue
            self._matched_nodes.add(number)
            self._live[id(live)] = live
            entry = self._nodes[number]
            if isinstance(live, Variable):
                value = self._checked_value(live, entry)
                if value is not None:
                    updates.append((live, value))
                continue
            if _has_state(live):
                key = entry.get("state")
                if key is not None and key in self._arrays:
                    updates.append((live, self._arrays[key]))
                continue
            saved_children = entry.get("children", {})
            live_names = set()
            for name, child in _children(live, keras_classes):
                live_names.add(name)
                target = saved_children.get(name)
                if target is not None and target not in self._matched_nodes:
                    queue.append((child, target))
            if set(saved_children) - live_names:
                self._defer(live, number)
        from tensorflux.ops.framework import init_scope

        for live, value in updates:
            if isinstance(live, Variable):
                # Eagerly, also when the variable was created (a deferred restore) while a
                # function was being traced: an assignment recorded in the trace would be lost.
                with init_scope():
                    live.assign(value)
            else:
                live._restore_checkpoint_state(value)
            self._restored.add(id(live))

    def _checked_value(self, variable, entry):
        """The saved value for `variable`, None when the checkpoint has none; raises when its
        dtype or shape differs."""
        key = entry.get("variable")
        if key is None or key not in self._arrays:
            return None
        value = self._arrays[key]
        from tensorflux import dtypes

        saved = dtypes.as_dtype(value.dtype)
        if saved != variable.dtype:  # TF refuses to cast, too
            raise errors.InvalidArgumentError(
                f"tensor_name = {key}; expected dtype {variable.dtype.name} does not equal "
                f"original dtype {saved.name} (variable {variable.name}, checkpoint "
                f"{self._path}).")
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(
                f"Received incompatible tensor with shape {tuple(value.shape)} when attempting "
                f"to restore variable with shape {tuple(variable.shape)} and name "
                f"{variable.name} (checkpoint key {key!r} in {self._path}).")
        return value

    def _defer(self, live, number):
        """Re-matches `live` once it creates the missing children: after its build() runs (a
        Keras layer), or when an attribute is set on it (a tf.Module creating variables on
        first call, a Checkpoint given a new attribute or list item)."""
        if isinstance(live, Checkpoint) and live._flat_root() is not None:
            live = live._flat_root()
        if isinstance(live, (Module, Checkpoint)):
            pending = live.__dict__.setdefault(_PENDING_RESTORES, {})
            pending[(id(self), number)] = lambda name: self._rematch(live, number, name)
            return
        build = getattr(live, "build", None)
        if build is None or getattr(live, "built", True) or "build" in vars(live):
            return
        status = self

        def build_then_restore(*args, **kwargs):
            object.__delattr__(live, "build")  # the class's build from now on
            result = build(*args, **kwargs)
            status._matched_nodes.discard(number)
            status._live.pop(id(live), None)
            status._match(live, number)
            return result

        object.__setattr__(live, "build", build_then_restore)

    def _rematch(self, live, number, name=None):
        if name is not None:  # skip attributes no saved value waits for (most of them)
            waiting = {edge.split("/")[0] for edge, target
                       in self._nodes[number].get("children", {}).items()
                       if target not in self._matched_nodes}
            if name not in waiting:
                return
        # _match registers `live` again while some of its saved children are still missing.
        live.__dict__[_PENDING_RESTORES].pop((id(self), number), None)
        self._matched_nodes.discard(number)
        self._live.pop(id(live), None)
        self._match(live, number)

    # -- checks
    def _unmatched_values(self):
        keys = [entry.get("variable") or entry.get("state")
                for number, entry in enumerate(self._nodes) if number not in self._matched_nodes]
        return [key for key in keys if key is not None]

    def _unrestored_variables(self):
        order, _, _ = _walk(self._root)
        return [(path, obj) for obj, path in order
                if (isinstance(obj, Variable) or _has_state(obj))
                and id(obj) not in self._restored]

    def assert_consumed(self):
        """Raises AssertionError unless every variable was restored and every value matched
        (checked in that order, as TF)."""
        self.assert_existing_objects_matched()
        unmatched = self._unmatched_values()
        if unmatched:
            raise AssertionError(
                f"Unresolved objects in checkpoint {self._path}: {len(unmatched)} values were "
                f"not matched to a variable (not created yet, or the program changed): "
                f"{unmatched[:10]}")
        return self

    def assert_existing_objects_matched(self):
        """Raises AssertionError if a variable that exists now got no value."""
        missing = self._unrestored_variables()
        if missing:
            raise AssertionError(
                f"Found {len(missing)} Python objects that were not bound to checkpointed "
                f"values, likely due to changes in the Python program. Showing "
                f"{min(len(missing), 10)} of {len(missing)} unmatched objects: "
                f"{[path for path, _ in missing[:10]]}")
        return self

    def assert_nontrivial_match(self):
        """Raises AssertionError if nothing but the root was matched."""
        if not self._restored:
            raise AssertionError(f"Nothing except the root object matched a checkpointed "
                                 f"value in {self._path}.")
        return self

    def expect_partial(self):
        """Marks a partial restore as intended (tensorflux never warns about it); returns self."""
        self._expect_partial = True
        return self

    def run_restore_ops(self, session=None):
        """Values are assigned eagerly; nothing to run (TF 1 compatibility)."""

    def initialize_or_restore(self, session=None):
        """Values are assigned eagerly; nothing to run (TF 1 compatibility)."""


class InitializationOnlyStatus(CheckpointLoadStatus):
    """The status of restore(None): nothing restored, every assert raises but expect_partial."""

    def __init__(self, root):
        super().__init__(root, None, [], {})

    def assert_consumed(self):
        raise AssertionError("No checkpoint specified (save_path=None); nothing is being "
                             "restored.")

    def assert_existing_objects_matched(self):
        return self.assert_consumed()

    def assert_nontrivial_match(self):
        return self.assert_consumed()


# ------------------------------------------------------------------ Checkpoint
class CheckpointOptions:
    """Options of Checkpoint.write/save/read/restore. experimental_write_callbacks run after
    each write, as TF's: each takes the written prefix or no argument. The io device, async
    writing and sharding change how TF writes, not what is saved, and are accepted as such;
    experimental_skip_slot_variables is refused by restore (it would change what is restored).
    """

    def __init__(self, experimental_io_device=None, experimental_enable_async_checkpoint=False,
                 experimental_write_callbacks=None, enable_async=False,
                 experimental_skip_slot_variables=False, experimental_sharding_callback=None):
        self.experimental_io_device = experimental_io_device
        self.enable_async = enable_async or experimental_enable_async_checkpoint
        self.experimental_enable_async_checkpoint = self.enable_async
        if experimental_write_callbacks is not None:
            for callback in experimental_write_callbacks:
                if not callable(callback):
                    raise TypeError("CheckpointOptions: experimental_write_callbacks must "
                                    f"be callables, received {callback!r}")
        self.experimental_write_callbacks = experimental_write_callbacks
        self.experimental_skip_slot_variables = experimental_skip_slot_variables
        self.experimental_sharding_callback = experimental_sharding_callback


def _run_write_callbacks(options, save_path):
    """TF's rule: a callback of no parameter is called bare, one of one gets the prefix."""
    import inspect

    for callback in getattr(options, "experimental_write_callbacks", None) or ():
        count = len(inspect.signature(callback).parameters)
        if count == 0:
            callback()
        elif count == 1:
            callback(save_path)
        else:
            raise TypeError(f"CheckpointOptions: a write callback takes 0 or 1 parameters "
                            f"(the checkpoint prefix); {callback!r} takes {count}")


def _check_read_options(op, options):
    if getattr(options, "experimental_skip_slot_variables", False):
        raise NotImplementedError(
            f"Checkpoint.{op}: CheckpointOptions(experimental_skip_slot_variables=True) is "
            "not supported: tensorflux restores optimizer slot variables with the rest")


class Checkpoint:
    """Saves and restores a group of trackable objects (Variables, tf.Modules, Keras models,
    layers and optimizers), each named by its keyword.

    Format: tensorflux's own single file `<path>.tfxckpt` (a zip of a JSON index and .npy
    arrays, no pickle), written atomically; TensorFlow's TensorBundle files are not read or
    written. `save(prefix)` returns `prefix-N`, N the save counter; `restore` takes that path.

    >>> import os, tempfile
    >>> import tensorflux as tf
    >>> step = tf.Variable(3)
    >>> ckpt = tf.train.Checkpoint(step=step)
    >>> path = ckpt.save(os.path.join(tempfile.mkdtemp(), "ckpt"))
    >>> os.path.basename(path)
    'ckpt-1'
    >>> _ = step.assign(7)
    >>> ckpt.restore(path).assert_consumed() and int(step)
    3
    """

    def __init__(self, root=None, **kwargs):
        object.__setattr__(self, "_dependencies", {})
        object.__setattr__(self, "_save_counter", None)
        if root is not None:
            kwargs = {"root": root, **kwargs}
        for name, value in kwargs.items():
            setattr(self, name, value)

    def _flat_root(self):
        """The root object whose dependencies this checkpoint saves at its top level (TF's
        Checkpoint(root)), or None. A Variable root stays a child named "root"."""
        root = self._dependencies.get("root")
        if root is None or isinstance(root, Variable) or _has_state(root):
            return None
        return root

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if name == "save_counter":
            raise AttributeError("save_counter is managed by the Checkpoint")
        if not (_is_trackable(value, _keras_classes()) or isinstance(value, (list, tuple, dict))):
            raise ValueError(
                f"`Checkpoint` was expecting {name} to be a trackable object (an object "
                f"derived from `Trackable`), got {value!r}. If you believe this object should "
                "be trackable (i.e. it is part of the TensorFlow Python API and manages "
                "state), please open an issue.")
        if type(value) is list:  # appending to it later can complete a deferred restore
            value = _CheckpointList(value, owner=self)
        self._dependencies[name] = value
        run_pending_restores(self, name)

    def __getattr__(self, name):
        dependencies = self.__dict__.get("_dependencies", {})
        if name in dependencies:
            return dependencies[name]
        raise AttributeError(f"'Checkpoint' object has no attribute {name!r}")

    @property
    def save_counter(self):
        """An int64 Variable counting save() calls (created on first save or restore)."""
        self._maybe_create_save_counter()
        return self._save_counter

    def _maybe_create_save_counter(self):
        if self._save_counter is None:
            from tensorflux import dtypes

            object.__setattr__(self, "_save_counter",
                               Variable(0, dtype=dtypes.int64, trainable=False,
                                        name="save_counter"))

    # -- writing
    def write(self, file_prefix, options=None):
        """Writes the checkpoint to `file_prefix` (no counter, no state file); returns it."""
        from tensorflux import reshape
        from tensorflux.context import context

        if context.graph is not None:  # (it would write once, while tracing, as TF refuses)
            raise NotImplementedError(
                "Calling tf.train.Checkpoint.save() or write() from a tf.function is not "
                "supported: the file would be written once, while the function is traced. "
                "Save from eager code, outside the function.")
        file_prefix = os.fspath(file_prefix)
        order, numbers, edges = _walk(self)
        nodes, arrays = [], {}
        for (obj, path), children in zip(order, edges):
            node = {"children": dict(children)}
            if isinstance(obj, Variable):
                key = _variable_key(path)
                node["variable"] = key
                value = obj.numpy()
                if obj.dtype.name == "string" and len(obj.shape) == 0:  # numpy() gave bytes
                    value = reshape(obj, [1]).numpy().astype(object).reshape(())
                arrays[key] = value
            elif _has_state(obj):
                key = _state_key(path, obj)
                node["state"] = key
                arrays[key] = obj._checkpoint_state()
            nodes.append(node)
        write_checkpoint_file(file_prefix, nodes, arrays)
        _run_write_callbacks(options, file_prefix)
        return file_prefix

    def save(self, file_prefix, options=None):
        """Increments save_counter, writes `file_prefix-N` and records it in the folder's
        `checkpoint` state file (for latest_checkpoint); returns `file_prefix-N`."""
        file_prefix = os.fspath(file_prefix)
        counter = self.save_counter
        counter.assign_add(1)
        try:
            path = self.write(f"{file_prefix}-{int(counter)}", options)
        except BaseException:
            counter.assign_sub(1)
            raise
        folder = os.path.dirname(os.path.abspath(path))
        state = get_checkpoint_state(folder)
        previous = list(state.all_model_checkpoint_paths) if state else []
        _write_state(folder, path, [p for p in previous if p != path] + [path],
                     state.last_preserved_timestamp if state else time.time())
        return path

    # -- reading
    def read(self, save_path, options=None):
        """Restores from `save_path` (as restore, without creating save_counter)."""
        _check_read_options("read", options)
        return self._restore(save_path)

    def restore(self, save_path, options=None):
        """Restores the values saved at `save_path` into the objects of this checkpoint,
        matching them by the attribute paths they were saved under; returns a status with
        assert_consumed(), assert_existing_objects_matched() and expect_partial().
        restore(None) restores nothing."""
        _check_read_options("restore", options)
        if save_path is None:
            return InitializationOnlyStatus(self)
        self._maybe_create_save_counter()
        return self._restore(save_path)

    def _restore(self, save_path):
        from tensorflux.context import context

        if context.graph is not None:  # (it would restore once, while tracing; TF fails too)
            raise NotImplementedError(
                "Calling tf.train.Checkpoint.restore() or read() from a tf.function is not "
                "supported: the values would be assigned once, while the function is traced. "
                "Restore from eager code, before calling the function.")
        save_path = os.fspath(save_path)
        if os.path.isdir(save_path):  # a common mistake; TF fails with DataLossError too
            raise errors.DataLossError(
                f"Unable to restore from {save_path}: it is a directory, expected a checkpoint "
                f"prefix such as tf.train.latest_checkpoint({save_path!r}) returns.")
        nodes, arrays = read_checkpoint_file(save_path)
        _validate_nodes(save_path, nodes, arrays)
        status = CheckpointLoadStatus(self, save_path, nodes, arrays)
        status._match(self, 0)
        return status


class _CheckpointList(list):
    """A list attribute of a Checkpoint: items appended or set after a restore are restored
    then, as TF's ListWrapper does (`ckpt.listed = []; ckpt.listed.append(v)`)."""

    def __init__(self, items=(), owner=None):  # (tf.nest rebuilds it from items alone)
        super().__init__(items)
        self._owner = owner

    def _changed(self):
        owner = self.__dict__.get("_owner")  # (unset while pickle or copy rebuilds the list)
        if owner is not None:
            run_pending_restores(owner)

    def append(self, item):
        super().append(item)
        self._changed()

    def extend(self, items):
        super().extend(items)
        self._changed()

    def insert(self, index, item):
        super().insert(index, item)
        self._changed()

    def __setitem__(self, index, item):
        super().__setitem__(index, item)
        self._changed()

    def __iadd__(self, items):
        self.extend(items)
        return self


def _validate_nodes(path, nodes, arrays):
    if not nodes:
        raise errors.DataLossError(f"The checkpoint file {data_path(path)} has no objects.")
    for entry in nodes:
        children = entry.get("children") if isinstance(entry, dict) else None
        if not isinstance(children, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and 0 <= v < len(nodes)
                for k, v in children.items()):
            raise errors.DataLossError(
                f"The checkpoint file {data_path(path)} has a malformed object graph.")
        key = entry.get("variable")
        if key is not None and key not in arrays:
            raise errors.DataLossError(
                f"The checkpoint file {data_path(path)} names a value {key!r} it lacks.")


# ------------------------------------------------------------------ the state file
class CheckpointState:
    """The `checkpoint` file of a folder: the latest checkpoint and all those kept."""

    def __init__(self, model_checkpoint_path, all_model_checkpoint_paths,
                 last_preserved_timestamp=0.0):
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = all_model_checkpoint_paths
        self.last_preserved_timestamp = last_preserved_timestamp

    def __repr__(self):
        return (f"CheckpointState(model_checkpoint_path={self.model_checkpoint_path!r}, "
                f"all_model_checkpoint_paths={self.all_model_checkpoint_paths!r})")


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_STATE_LINE = re.compile(r'^(model_checkpoint_path|all_model_checkpoint_paths):\s*"((?:[^"\\]|'
                         r'\\.)*)"\s*$')
_TIMESTAMP_LINE = re.compile(r"^last_preserved_timestamp:\s*([0-9.eE+-]+)\s*$")


def _write_state(folder, latest, all_paths, last_preserved):
    """Writes the state file (TF's text format, paths relative to `folder`) atomically."""
    def relative(path):
        absolute = os.path.abspath(path)
        if os.path.dirname(absolute) == os.path.abspath(folder):
            return os.path.basename(absolute)
        return absolute

    lines = [f"model_checkpoint_path: {_quote(relative(latest))}"]
    lines += [f"all_model_checkpoint_paths: {_quote(relative(p))}" for p in all_paths]
    lines.append(f"last_preserved_timestamp: {last_preserved!r}")
    atomic_write(os.path.join(folder, _STATE_FILE),
                 lambda handle: handle.write("\n".join(lines) + "\n"), mode="w")


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The CheckpointState of `checkpoint_dir`'s state file, or None if it has none."""
    path = os.path.join(os.fspath(checkpoint_dir), latest_filename or _STATE_FILE)
    if not os.path.isfile(path):
        return None
    latest, all_paths, preserved = None, [], 0.0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = _STATE_LINE.match(line.strip())
            if not match:
                stamp = _TIMESTAMP_LINE.match(line.strip())
                if stamp:
                    try:
                        preserved = float(stamp.group(1))
                    except ValueError:
                        pass
                continue
            value = re.sub(r"\\(.)", r"\1", match.group(2))
            if not os.path.isabs(value):
                value = os.path.join(os.fspath(checkpoint_dir), value)
            if match.group(1) == "model_checkpoint_path":
                latest = value
            else:
                all_paths.append(value)
    if latest is None:
        return None
    return CheckpointState(latest, all_paths, preserved)


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the newest checkpoint recorded in `checkpoint_dir`, or None.

    >>> import tempfile
    >>> import tensorflux as tf
    >>> tf.train.latest_checkpoint(tempfile.mkdtemp()) is None
    True
    """
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not os.path.isfile(data_path(state.model_checkpoint_path)):
        return None
    return state.model_checkpoint_path


def _wait_for_new_checkpoint(checkpoint_dir, last, timeout, poll_seconds=1.0):
    """The newest checkpoint of checkpoint_dir once it is not `last`, or None when `timeout`
    seconds pass first (never, for timeout None)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        path = latest_checkpoint(checkpoint_dir)
        if path is not None and path != last:
            return path
        if deadline is not None and time.monotonic() + poll_seconds > deadline:
            return None
        time.sleep(poll_seconds)


def checkpoints_iterator(checkpoint_dir, min_interval_secs=0, timeout=None, timeout_fn=None):
    """Yields the path of each new checkpoint written to checkpoint_dir, as it appears
    (the newest one at once, if there is one), at most one per min_interval_secs.

    Waits for ever unless `timeout` (seconds) is set: when that passes without a new
    checkpoint, the iterator ends, unless timeout_fn is given and returns False, which waits
    once more.

    >>> import tempfile
    >>> import tensorflux as tf
    >>> list(tf.train.checkpoints_iterator(tempfile.mkdtemp(), timeout=0))
    []
    """
    if timeout is not None and timeout < 0:
        raise ValueError(f"checkpoints_iterator: timeout must be >= 0 or None, received "
                         f"{timeout!r}")
    last = None
    while True:
        path = _wait_for_new_checkpoint(checkpoint_dir, last, timeout)
        if path is None:
            if timeout_fn is None or timeout_fn():
                return
            continue
        started = time.monotonic()
        last = path
        yield path
        remaining = started + min_interval_secs - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)


# ------------------------------------------------------------------ reading without objects
class CheckpointReader:
    """Reads a checkpoint's values by key (tf.train.load_checkpoint)."""

    def __init__(self, save_path):
        self._path = os.fspath(save_path)
        _, self._arrays = read_checkpoint_file(self._path)

    def get_variable_to_shape_map(self):
        """{key: shape as a list}, keys as list_variables names them."""
        return {key: list(value.shape) for key, value in self._arrays.items()}

    def get_variable_to_dtype_map(self):
        """{key: tf.DType}."""
        from tensorflux import dtypes

        return {key: dtypes.as_dtype(value.dtype) for key, value in self._arrays.items()}

    def has_tensor(self, name):
        return _variable_key(name) in self._arrays or name in self._arrays

    def get_tensor(self, name):
        for key in (name, _variable_key(name)):
            if key in self._arrays:
                return self._arrays[key].copy()[()]  # a NumPy scalar for a scalar, as TF
        raise errors.NotFoundError(f"Key {name} not found in checkpoint {self._path}")


def load_checkpoint(ckpt_dir_or_file):
    """A CheckpointReader for a checkpoint prefix, or a folder's latest checkpoint."""
    return CheckpointReader(_resolve(ckpt_dir_or_file))


def _resolve(ckpt_dir_or_file):
    path = os.fspath(ckpt_dir_or_file)
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise ValueError(f"Couldn't find 'checkpoint' file or checkpoints in given "
                             f"directory {path}")
        return latest
    return path


def list_variables(ckpt_dir_or_file):
    """[(key, shape)] of the values in a checkpoint, sorted by key (keys end in
    /.ATTRIBUTES/VARIABLE_VALUE, as TF's; TF's _CHECKPOINTABLE_OBJECT_GRAPH entry is not
    listed)."""
    shapes = load_checkpoint(ckpt_dir_or_file).get_variable_to_shape_map()
    return sorted(shapes.items())


def load_variable(ckpt_dir_or_file, name):
    """The NumPy value saved under `name` (with or without /.ATTRIBUTES/VARIABLE_VALUE)."""
    return load_checkpoint(ckpt_dir_or_file).get_tensor(name)


# ------------------------------------------------------------------ CheckpointManager
class CheckpointManager:
    """Saves numbered checkpoints of `checkpoint` into `directory`, keeping the newest
    `max_to_keep` (None keeps all) and deleting older ones; picks up the checkpoints a
    previous run recorded in the folder's state file.

    >>> import os, tempfile
    >>> import tensorflux as tf
    >>> manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=tf.Variable(1.0)),
    ...                                      tempfile.mkdtemp(), max_to_keep=2)
    >>> [os.path.basename(manager.save()) for _ in range(3)]
    ['ckpt-1', 'ckpt-2', 'ckpt-3']
    >>> [os.path.basename(p) for p in manager.checkpoints]
    ['ckpt-2', 'ckpt-3']
    """

    def __init__(self, checkpoint, directory, max_to_keep, keep_checkpoint_every_n_hours=None,
                 checkpoint_name="ckpt", step_counter=None, checkpoint_interval=None,
                 init_fn=None, last_checkpoint_step=None):
        if max_to_keep is not None and (not isinstance(max_to_keep, int) or max_to_keep <= 0):
            raise ValueError(f"Expected a positive integer or `None` for `max_to_keep`, got "
                             f"{max_to_keep}.")
        if checkpoint_interval is not None and step_counter is None:
            raise ValueError("`step_counter` should be passed if `checkpoint_interval` is not "
                             "None.")
        self._checkpoint = checkpoint
        self._directory = os.fspath(directory)
        self._max_to_keep = max_to_keep
        self._keep_every_seconds = (None if keep_checkpoint_every_n_hours is None
                                    else keep_checkpoint_every_n_hours * 3600.0)
        self._prefix = os.path.join(self._directory, checkpoint_name)
        self._step_counter = step_counter
        self._checkpoint_interval = checkpoint_interval
        # The step checkpoint_interval counts from (TF keeps it only with an interval).
        self._last_checkpoint_step = (None if checkpoint_interval is None
                                      else last_checkpoint_step)
        self._init_fn = init_fn
        state = get_checkpoint_state(self._directory)
        # keep_checkpoint_every_n_hours keeps a checkpoint once that long has passed since the
        # last one kept (TF starts the clock a second early, so a first one can be kept).
        self._last_preserved = state.last_preserved_timestamp if state else time.time() - 1.0
        self._checkpoints = []
        if state is not None:
            kept = [p for p in state.all_model_checkpoint_paths if os.path.isfile(data_path(p))]
            # All of them, as TF: the next save() deletes those beyond max_to_keep.
            self._checkpoints = [(p, os.path.getmtime(data_path(p))) for p in kept]

    @property
    def directory(self):
        return self._directory

    @property
    def checkpoint(self):
        return self._checkpoint

    @property
    def checkpoint_interval(self):
        return self._checkpoint_interval

    @property
    def checkpoints(self):
        """The kept checkpoint prefixes, oldest first."""
        return [path for path, _ in self._checkpoints]

    @property
    def latest_checkpoint(self):
        """The newest kept checkpoint's prefix, or None."""
        return self._checkpoints[-1][0] if self._checkpoints else None

    def save(self, checkpoint_number=None, check_interval=True, options=None):
        """Writes `<directory>/<checkpoint_name>-N` (N = checkpoint_number or the checkpoint's
        incremented save_counter), deletes checkpoints beyond max_to_keep, updates the state
        file; returns the new prefix, or None when checkpoint_interval skips this step."""
        if self._checkpoint_interval is not None and self._last_checkpoint_step is not None:
            # As TF: never twice at one step, even with check_interval=False.
            step = int(self._step_counter)
            if step == self._last_checkpoint_step or (
                    check_interval
                    and step - self._last_checkpoint_step < self._checkpoint_interval):
                return None
        counter = self._checkpoint.save_counter
        counter.assign_add(1)
        if checkpoint_number is None:
            checkpoint_number = int(counter)
        os.makedirs(self._directory, exist_ok=True)
        prefix = f"{self._prefix}-{int(checkpoint_number)}"
        try:
            self._checkpoint.write(prefix, options)
        except BaseException:
            counter.assign_sub(1)
            raise
        if self._checkpoint_interval is not None:
            self._last_checkpoint_step = int(self._step_counter)
        self._checkpoints = [(p, t) for p, t in self._checkpoints if p != prefix]
        self._checkpoints.append((prefix, time.time()))
        # The state file names only kept checkpoints before any file is deleted, so that a
        # crash between the two never leaves it pointing at a missing checkpoint.
        removed = self._sweep()
        _write_state(self._directory, prefix, self.checkpoints, self._last_preserved)
        for path in removed:
            _remove_checkpoint(path)
        return prefix

    def _sweep(self):
        if self._max_to_keep is None:
            return []
        removed = []
        while len(self._checkpoints) > self._max_to_keep:
            path, timestamp = self._checkpoints.pop(0)
            if (self._keep_every_seconds is not None
                    and timestamp - self._keep_every_seconds >= self._last_preserved):
                self._last_preserved = timestamp
                continue
            removed.append(path)
        return removed

    def restore_or_initialize(self):
        """Restores the latest checkpoint and returns its path, or calls init_fn and returns
        None when the folder has none."""
        latest = self.latest_checkpoint
        if latest is not None:
            self._checkpoint.restore(latest)
            if self._checkpoint_interval is not None:
                self._last_checkpoint_step = int(self._step_counter)
            return latest
        if self._init_fn is not None:
            self._init_fn()
        return None


def _remove_checkpoint(prefix):
    try:
        os.remove(data_path(prefix))
    except FileNotFoundError:
        pass


# Re-exported for code that inspects suffixes (tests, tools).
CHECKPOINT_SUFFIX = SUFFIX
