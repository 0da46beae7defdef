"""keras.distribution on one host: device meshes, tensor layouts, layout maps, and the
DataParallel / ModelParallel distributions, with Keras's arguments, checks and lookups.

tensorflux runs a model in one process on one device (the CPU, or the one GPU), so a
distribution changes where nothing runs: a script that sets one, or enters its scope, builds
and fits the model exactly as without it and gets the same numbers. What a script can read
back (mesh shapes, axis names, the layout a LayoutMap finds for a variable path, the data
layout, replica counts) is Keras's.

>>> from tensorflux import keras
>>> keras.distribution.list_devices()
['cpu:0']
>>> keras.distribution.DataParallel().batch_dim_name
'batch'
"""

import contextlib as _contextlib
import math as _math
import os as _os
import re as _re
import threading as _threading
import warnings as _warnings
from collections.abc import MutableMapping as _MutableMapping

__all__ = ["DataParallel", "DeviceMesh", "LayoutMap", "ModelParallel", "TensorLayout",
           "distribute_tensor", "distribution", "get_device_count", "initialize",
           "list_devices", "set_distribution"]

_BATCH_DIM_NAME = "batch"


class _State(_threading.local):
    def __init__(self):
        self.distribution = None


_state = _State()


def list_devices(device_type=None):
    """The devices of `device_type` ("cpu" or "gpu") as "type:index" strings; without one,
    the GPU when there is one, else the CPU. Never a mix of types."""
    import tensorflux as tf

    if device_type is not None:
        device_type = str(device_type).lower()
        if device_type not in ("cpu", "gpu", "tpu"):
            raise ValueError("Argument `device_type` must be one of 'cpu', 'gpu' or 'tpu'. "
                             f"Received: device_type={device_type!r}")
    found = {"cpu": [], "gpu": [], "tpu": []}
    for device in tf.config.list_logical_devices():
        kind = device.device_type.lower()
        found.setdefault(kind, []).append(f"{kind}:{device.name.rsplit(':', 1)[-1]}")
    if device_type is None:
        return found["gpu"] or found["cpu"]
    return found[device_type]


def get_device_count(device_type=None):
    """How many devices list_devices(device_type) gives."""
    return len(list_devices(device_type))


def initialize(job_addresses=None, num_processes=None, process_id=None):
    """Prepares a multi-process run in Keras; here, where everything runs in this one
    process, it accepts only a cluster of one process (the arguments, or Keras's
    KERAS_DISTRIBUTION_* environment variables, as Keras reads them)."""
    environ = _os.environ
    if num_processes is None and "KERAS_DISTRIBUTION_NUM_PROCESSES" in environ:
        num_processes = int(environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if process_id is None and "KERAS_DISTRIBUTION_PROCESS_ID" in environ:
        process_id = int(environ["KERAS_DISTRIBUTION_PROCESS_ID"])
    if num_processes not in (None, 1) or process_id not in (None, 0):
        raise NotImplementedError(
            "keras.distribution.initialize: tensorflux runs a model in one process; a "
            f"cluster of several is not supported. Received: num_processes={num_processes}, "
            f"process_id={process_id}, job_addresses={job_addresses!r}")


class _DeviceArray:
    """The devices of a mesh laid out in its shape: the parts of NumPy's array API that
    Keras's DeviceMesh.devices is used with (shape, ndim, size, flatten, indexing)."""

    def __init__(self, flat, shape):
        self._flat = list(flat)
        self.shape = tuple(shape)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return len(self._flat)

    def flatten(self):
        return _DeviceArray(self._flat, (len(self._flat),))

    ravel = flatten

    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
        if _math.prod(shape) != len(self._flat):
            raise ValueError(f"cannot reshape {len(self._flat)} devices into shape {shape}")
        return _DeviceArray(self._flat, shape)

    def tolist(self):
        def nest(flat, shape):
            if not shape:
                return flat[0]
            step = len(flat) // shape[0] if shape[0] else 0
            return [nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]
        return nest(self._flat, self.shape)

    def __len__(self):
        return self.shape[0]

    def __iter__(self):
        return iter(self.tolist())

    def __getitem__(self, index):
        value = self.tolist()
        for i in index if isinstance(index, tuple) else (index,):
            value = value[i]
        return value

    def __eq__(self, other):
        if isinstance(other, _DeviceArray):
            return self.shape == other.shape and self._flat == other._flat
        return self.tolist() == other

    __hash__ = None

    def __repr__(self):
        return f"array({self.tolist()!r})"


def _device_array(devices):
    """A _DeviceArray of `devices`: a list (nested or not) of device names, or an array."""
    if isinstance(devices, _DeviceArray):
        return devices
    if hasattr(devices, "shape") and hasattr(devices, "tolist"):  # a NumPy array
        shape = tuple(devices.shape)
        devices = devices.tolist()
    else:
        shape = None
    flat = []

    def walk(value, depth, dims):
        if isinstance(value, (list, tuple)):
            if len(dims) == depth:
                dims.append(len(value))
            for item in value:
                walk(item, depth + 1, dims)
        else:
            flat.append(value)

    dims = []
    walk(devices, 0, dims)
    return _DeviceArray(flat, shape if shape is not None else tuple(dims))


class DeviceMesh:
    """Devices laid out as a grid of `shape` whose axes are named by `axis_names` (for
    example (2, 4) with ("batch", "model")); layouts name these axes. `devices` defaults to
    list_devices()."""

    def __init__(self, shape, axis_names, devices=None):
        if not shape or not axis_names:
            raise ValueError("Shape and axis_names cannot be empty. Received: "
                             f"shape={shape}, axis_names={axis_names}")
        if len(shape) != len(axis_names):
            raise ValueError("Shape and axis_names should have same size. "
                             f"Received: shape={shape}, axis_names={axis_names}")
        devices = _device_array(list_devices() if devices is None else devices)
        if _math.prod(shape) != devices.size:
            raise ValueError("Shape does not match the number of devices. "
                             f"Received: shape={shape}; devices.shape={devices.shape}")
        self._shape = shape
        self._axis_names = axis_names
        self._devices = devices.reshape(tuple(shape))

    @property
    def shape(self):
        return self._shape

    @property
    def axis_names(self):
        return self._axis_names

    @property
    def devices(self):
        return self._devices

    def __repr__(self):
        return f"<{type(self).__name__} shape={self.shape}, axis_names={self.axis_names}>"

    __str__ = __repr__


class TensorLayout:
    """How a tensor's axes map onto a mesh's named axes: one mesh axis name, or None (not
    split), per tensor axis. The mesh may come later (a LayoutMap sets its own)."""

    def __init__(self, axes, device_mesh=None):
        self._axes = tuple(axes)
        self._device_mesh = device_mesh
        self._validate_axes()

    @property
    def axes(self):
        return self._axes

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh):
        if self._device_mesh is not None:
            raise ValueError("Cannot override device mesh value. Existing value is "
                             f"{self._device_mesh}")
        self._device_mesh = device_mesh
        self._validate_axes()

    def _validate_axes(self):
        if self._device_mesh:
            valid = set(self._device_mesh.axis_names)
            named = set(self._axes) - {None}
            if named - valid:
                raise ValueError(f"Invalid axis names for Layout. Valid axis names: {valid}, "
                                 f"Got {named}")

    def __repr__(self):
        return f"<{type(self).__name__} axes={self.axes}, device_mesh={self.device_mesh}>"

    __str__ = __repr__


class Distribution:
    """What DataParallel and ModelParallel share: the mesh, the batch axis's name, and a
    scope that makes the distribution current."""

    def __init__(self, device_mesh, batch_dim_name=None, auto_shard_dataset=True):
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name
        self._auto_shard_dataset = auto_shard_dataset
        self._num_processes = 1
        self._process_id = 0
        self._is_multi_process = False

    @property
    def num_processes(self):
        return self._num_processes

    @property
    def num_model_replicas(self):
        raise NotImplementedError()

    @property
    def data_shard_id(self):
        return self._process_id

    @property
    def device_mesh(self):
        return self._device_mesh

    @property
    def batch_dim_name(self):
        return self._batch_dim_name

    @property
    def auto_shard_dataset(self):
        return self._auto_shard_dataset

    @auto_shard_dataset.setter
    def auto_shard_dataset(self, auto_shard_dataset):
        self._auto_shard_dataset = auto_shard_dataset

    def get_data_layout(self, data_shape):
        """The layout of a batch of input data: split along its first axis."""
        axes = [None] * len(data_shape)
        axes[0] = self.batch_dim_name
        return TensorLayout(axes, self.device_mesh)

    def get_variable_layout(self, variable):
        raise NotImplementedError()

    def get_tensor_layout(self, path):
        raise NotImplementedError()

    def distribute_dataset(self, dataset):
        """The dataset this process reads: all of it, in one process."""
        return dataset

    @_contextlib.contextmanager
    def scope(self):
        """Makes this distribution the current one within the `with` block."""
        previous = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(previous)

    def __repr__(self):
        return f"<{type(self).__name__} device_mesh={self.device_mesh}>"

    __str__ = __repr__


class DataParallel(Distribution):
    """Replicates the variables and splits each batch over a one-axis mesh, given as
    `device_mesh`, as `devices`, or by default over list_devices()."""

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        if device_mesh:
            if not isinstance(device_mesh, DeviceMesh):
                raise ValueError("Expect `mesh` to be an instance of `DeviceMesh`. "
                                 f"Received: mesh={device_mesh} (of type {type(device_mesh)})")
            super().__init__(device_mesh, device_mesh.axis_names[0], auto_shard_dataset)
            if device_mesh.devices.ndim != 1:
                _warnings.warn("Expect the input mesh to be 1D, but received mesh.devices.ndim="
                              f"{device_mesh.devices.ndim}. The first axis will be used for "
                              "data-parallel sharding.", stacklevel=2)
            return
        devices = _device_array(devices if devices else list_devices())
        mesh = DeviceMesh(devices.shape, [_BATCH_DIM_NAME], devices)
        super().__init__(mesh, _BATCH_DIM_NAME, auto_shard_dataset)

    @property
    def num_model_replicas(self):
        return self.device_mesh.devices.size

    def get_variable_layout(self, variable):
        """A variable's own layout if it has one, else replicated (no axis split)."""
        if getattr(variable, "_layout", None) is not None:
            return variable._layout
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        return None


class ModelParallel(Distribution):
    """Splits variables as `layout_map` says (by their paths) and batches along
    `batch_dim_name` (default: the mesh's first axis)."""

    def __init__(self, *, layout_map=None, batch_dim_name=None, auto_shard_dataset=True,
                 **kwargs):
        kwargs.pop("device_mesh", None)
        if layout_map is None:
            raise ValueError("You must specify a layout_map argument.")
        if not isinstance(layout_map, LayoutMap):
            raise ValueError("Argument `layout_map` must be a `LayoutMap` instance. "
                             f"Received: layout_map={layout_map}")
        mesh = layout_map.device_mesh
        super().__init__(mesh, batch_dim_name or mesh.axis_names[0], auto_shard_dataset)
        self._layout_map = layout_map

    @property
    def num_model_replicas(self):
        return self.device_mesh.shape[self.device_mesh.axis_names.index(self.batch_dim_name)]

    def get_variable_layout(self, variable):
        """The variable's own layout, else the layout map's for its path, else replicated."""
        if getattr(variable, "_layout", None) is not None:
            return variable._layout
        layout = self._layout_map[variable.path]
        if layout is not None:
            return layout
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        return self._layout_map[path]


class LayoutMap(_MutableMapping):
    """A mapping from variable paths to TensorLayouts whose keys are regular expressions: a
    lookup returns the exact key's layout, else the one layout whose key fully matches the
    path (ValueError when several do), else None. Tuples of axis names are accepted as
    values and become layouts on this map's mesh."""

    def __init__(self, device_mesh):
        self._layout_map = {}
        self._device_mesh = device_mesh

    def __getitem__(self, key):
        if key in self._layout_map:
            return self._layout_map[key]
        matching = [pattern for pattern in self._layout_map if _re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(f"Path '{key}' matches multiple layout specification keys: "
                             f"{matching}. Please make sure each tensor/variable path only "
                             "matches at most one layout specification key in the LayoutMap.")
        return self._layout_map[matching[0]] if matching else None

    def __setitem__(self, key, layout):
        if key in self._layout_map:
            raise ValueError(f"{key} already exist in the LayoutMap with value "
                             f"{self._layout_map[key]}. Please make sure to not use "
                             "duplicated keys.")
        if isinstance(layout, tuple):
            layout = TensorLayout(axes=layout, device_mesh=None)
        if not isinstance(layout, TensorLayout):
            raise ValueError(f"{layout} should be a TensorLayout type, got {type(layout)}")
        if layout.device_mesh is None and self._device_mesh is not None:
            layout.device_mesh = self._device_mesh
        self._layout_map[key] = layout

    def __delitem__(self, key):
        return self._layout_map.pop(key)

    def __len__(self):
        return len(self._layout_map)

    def __iter__(self):
        return iter(self._layout_map)

    @property
    def device_mesh(self):
        return self._device_mesh


def distribute_tensor(tensor, layout):
    """`tensor` laid out as `layout` says; on one device, the tensor itself."""
    return tensor


def distribution():
    """The current distribution (set_distribution's, or a scope's), or None."""
    return _state.distribution


def set_distribution(value):
    """Makes `value` (a DataParallel or ModelParallel, or None) the current distribution."""
    _state.distribution = value
