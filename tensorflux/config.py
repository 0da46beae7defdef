"""tf.config: process-wide switches (running functions eagerly, kernel threads) and device
listing."""

import types

from tensorflux.backends import available_backends
from tensorflux.graph.function import config as _function_config

__all__ = ["run_functions_eagerly", "functions_run_eagerly", "list_physical_devices",
           "list_logical_devices", "LogicalDevice", "PhysicalDevice", "threading"]


def run_functions_eagerly(run_eagerly):
    """Makes every tf.function call its Python function directly (for debugging).

    >>> import tensorflux as tf
    >>> tf.config.run_functions_eagerly(True); tf.config.functions_run_eagerly()
    True
    >>> tf.config.run_functions_eagerly(False)
    """
    _function_config.run_functions_eagerly = bool(run_eagerly)


def functions_run_eagerly():
    return _function_config.run_functions_eagerly


class PhysicalDevice:
    """A device tensorflux can place ops on: name like '/physical_device:CPU:0'."""

    def __init__(self, name, device_type):
        self.name = name
        self.device_type = device_type

    def __repr__(self):
        return f"PhysicalDevice(name={self.name!r}, device_type={self.device_type!r})"

    def __eq__(self, other):
        return isinstance(other, PhysicalDevice) and other.name == self.name

    def __hash__(self):
        return hash(self.name)


def list_physical_devices(device_type=None):
    """The CPU, plus one GPU when CuPy sees one.

    >>> import tensorflux as tf
    >>> tf.config.list_physical_devices("CPU")[0].name
    '/physical_device:CPU:0'
    """
    devices = [PhysicalDevice("/physical_device:CPU:0", "CPU")]
    if "cupy" in available_backends():
        devices.append(PhysicalDevice("/physical_device:GPU:0", "GPU"))
    if device_type is None:
        return devices
    return [d for d in devices if d.device_type == str(device_type).upper()]


class LogicalDevice(PhysicalDevice):
    """A device as ops name it ('/device:CPU:0'), one per physical device here."""

    def __repr__(self):
        return f"LogicalDevice(name={self.name!r}, device_type={self.device_type!r})"

    def __eq__(self, other):
        return isinstance(other, LogicalDevice) and other.name == self.name

    def __hash__(self):
        return hash(self.name)


def list_logical_devices(device_type=None):
    """The logical devices, named as ops place on them ('/device:GPU:0'), as TensorFlow's.

    >>> import tensorflux as tf
    >>> tf.config.list_logical_devices("CPU")
    [LogicalDevice(name='/device:CPU:0', device_type='CPU')]
    """
    return [LogicalDevice(d.name.replace("/physical_device:", "/device:"), d.device_type)
            for d in list_physical_devices(device_type)]


# ---- threading
# The CPU kernels' threads are numpy_backend's (see its "threads" section): 0 means the
# default for this machine. Ops run one at a time, so the inter-op count is only recorded.
_THREAD_COUNTS = {"intra": 0, "inter": 0}


def _thread_count(num_threads, what):
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
        raise ValueError(f"set_{what}_op_parallelism_threads expects a whole number of threads "
                         f"(0 for the default), received {num_threads!r}")
    return num_threads


def set_intra_op_parallelism_threads(num_threads):
    """Sets how many threads one CPU kernel may use (0: the default, every core up to 8).
    With 1, kernels run on the calling thread and BLAS keeps its own thread count.

    >>> import tensorflux as tf
    >>> tf.config.threading.set_intra_op_parallelism_threads(1)
    >>> tf.config.threading.get_intra_op_parallelism_threads()
    1
    >>> tf.config.threading.set_intra_op_parallelism_threads(0)
    """
    from tensorflux.backends import numpy_backend
    numpy_backend.set_threads(_thread_count(num_threads, "intra"))
    _THREAD_COUNTS["intra"] = num_threads


def get_intra_op_parallelism_threads():
    """The count set by set_intra_op_parallelism_threads; 0 when the default is in use."""
    return _THREAD_COUNTS["intra"]


def set_inter_op_parallelism_threads(num_threads):
    """Records the count for get_inter_op_parallelism_threads: tensorflux runs one op at a
    time, which any count allows."""
    _THREAD_COUNTS["inter"] = _thread_count(num_threads, "inter")


def get_inter_op_parallelism_threads():
    return _THREAD_COUNTS["inter"]


threading = types.SimpleNamespace(
    set_intra_op_parallelism_threads=set_intra_op_parallelism_threads,
    get_intra_op_parallelism_threads=get_intra_op_parallelism_threads,
    set_inter_op_parallelism_threads=set_inter_op_parallelism_threads,
    get_inter_op_parallelism_threads=get_inter_op_parallelism_threads)
