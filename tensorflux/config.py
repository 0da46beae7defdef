"""tf.config: process-wide switches (running functions eagerly) and device listing."""

from tensorflux.backends import available_backends
from tensorflux.graph.function import config as _function_config

__all__ = ["run_functions_eagerly", "functions_run_eagerly", "list_physical_devices",
           "list_logical_devices", "PhysicalDevice"]


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


def list_logical_devices(device_type=None):
    return list_physical_devices(device_type)
