"""tf.config: process-wide switches (running functions eagerly, kernel threads) and device
listing."""

import collections
import types

from tensorflux.backends import available_backends
from tensorflux.graph.function import config as _function_config

__all__ = ["run_functions_eagerly", "functions_run_eagerly", "list_physical_devices",
           "list_logical_devices", "LogicalDevice", "PhysicalDevice", "threading",
           "experimental_run_functions_eagerly", "experimental_functions_run_eagerly",
           "get_visible_devices", "set_visible_devices", "get_soft_device_placement",
           "set_soft_device_placement", "LogicalDeviceConfiguration",
           "get_logical_device_configuration", "set_logical_device_configuration",
           "experimental"]


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
    """The logical devices of the visible physical ones, named as ops place on them
    ('/device:GPU:0'), as TensorFlow's: one each, or one per LogicalDeviceConfiguration set
    for a CPU (tf.device("CPU:1") then runs on the NumPy backend like CPU:0).

    >>> import tensorflux as tf
    >>> tf.config.list_logical_devices("CPU")
    [LogicalDevice(name='/device:CPU:0', device_type='CPU')]
    """
    devices = []
    for physical in get_visible_devices(device_type):
        count = len(_LOGICAL.get(physical) or [None]) if physical.device_type == "CPU" else 1
        devices += [LogicalDevice(f"/device:{physical.device_type}:{i}", physical.device_type)
                    for i in range(count)]
    return devices


def experimental_run_functions_eagerly(run_eagerly):
    """The former name of run_functions_eagerly."""
    run_functions_eagerly(run_eagerly)


def experimental_functions_run_eagerly():
    """The former name of functions_run_eagerly."""
    return functions_run_eagerly()


# ---- device configuration
# Recorded as TensorFlow records it, before any op runs or after: tensorflux creates no
# devices up front, so nothing is refused for having been initialized. Visibility and
# logical CPUs show in list_logical_devices; memory limits and growth are only recorded.

_HIDDEN = set()
_LOGICAL = {}
_MEMORY_GROWTH = {}
_SOFT_PLACEMENT = {"enabled": True}

LogicalDeviceConfiguration = collections.namedtuple(
    "LogicalDeviceConfiguration",
    ["memory_limit", "experimental_priority", "experimental_device_ordinal"],
    defaults=(None, None, None))
LogicalDeviceConfiguration.__doc__ = """How one logical device of a physical one is set up
(tf.config.set_logical_device_configuration)."""


def _physical(device, what):
    if not isinstance(device, PhysicalDevice) or isinstance(device, LogicalDevice) \
            or device not in list_physical_devices():
        raise ValueError(f"{what} expects one of tf.config.list_physical_devices(), received "
                         f"{device!r}")
    return device


def get_visible_devices(device_type=None):
    """The physical devices ops may use: all, unless set_visible_devices hid some.

    >>> import tensorflux as tf
    >>> [d.name for d in tf.config.get_visible_devices("CPU")]
    ['/physical_device:CPU:0']
    """
    return [d for d in list_physical_devices(device_type) if d not in _HIDDEN]


def set_visible_devices(devices, device_type=None):
    """Makes `devices` (of device_type, when given: devices of other types keep their
    visibility) the visible physical devices. The CPU cannot be hidden.

    >>> import tensorflux as tf
    >>> tf.config.set_visible_devices([], "GPU")
    >>> tf.config.list_logical_devices("GPU")
    []
    """
    if isinstance(devices, PhysicalDevice):
        devices = [devices]
    wanted = {_physical(d, "set_visible_devices") for d in devices}
    kind = None if device_type is None else str(device_type).upper()
    affected = [d for d in list_physical_devices() if kind is None or d.device_type == kind]
    if any(d.device_type == "CPU" and d not in wanted for d in affected):
        raise ValueError("set_visible_devices: the CPU cannot be hidden (tensorflux always "
                         "runs on it); list it among the visible devices")
    for d in affected:
        if d in wanted:
            _HIDDEN.discard(d)
        else:
            _HIDDEN.add(d)


def get_soft_device_placement():
    """Whether ops may fall back to another device when the one asked for cannot run them."""
    return _SOFT_PLACEMENT["enabled"]


def set_soft_device_placement(enabled):
    """Records whether ops may fall back to another device (TensorFlow's soft placement).

    >>> import tensorflux as tf
    >>> tf.config.set_soft_device_placement(True); tf.config.get_soft_device_placement()
    True
    """
    _SOFT_PLACEMENT["enabled"] = bool(enabled)


def get_logical_device_configuration(device):
    """The LogicalDeviceConfigurations set for a physical device, or None."""
    configs = _LOGICAL.get(_physical(device, "get_logical_device_configuration"))
    return None if configs is None else list(configs)


def set_logical_device_configuration(device, logical_devices):
    """Splits a physical device into logical ones, one per LogicalDeviceConfiguration (None
    restores the default of one).

    >>> import tensorflux as tf
    >>> cpu = tf.config.list_physical_devices("CPU")[0]
    >>> two = [tf.config.LogicalDeviceConfiguration()] * 2
    >>> tf.config.set_logical_device_configuration(cpu, two)
    >>> [d.name for d in tf.config.list_logical_devices("CPU")]
    ['/device:CPU:0', '/device:CPU:1']
    >>> tf.config.set_logical_device_configuration(cpu, None)
    """
    device = _physical(device, "set_logical_device_configuration")
    if logical_devices is None:
        _LOGICAL.pop(device, None)
        return
    configs = list(logical_devices)
    if not configs or not all(isinstance(c, LogicalDeviceConfiguration) for c in configs):
        raise ValueError("set_logical_device_configuration expects a non-empty list of "
                         f"tf.config.LogicalDeviceConfiguration, received {logical_devices!r}")
    _LOGICAL[device] = configs


def _gpu(device, what):
    device = _physical(device, what)
    if device.device_type != "GPU":
        raise ValueError(f"{what}: memory growth applies to GPUs only, received {device!r}")
    return device


def set_memory_growth(device, enable):
    """Records whether a GPU's memory is allocated as needed (CuPy's pool always is)."""
    _MEMORY_GROWTH[_gpu(device, "set_memory_growth")] = bool(enable)


def get_memory_growth(device):
    return _MEMORY_GROWTH.get(_gpu(device, "get_memory_growth"), False)


def get_device_details(device):
    """Details of a physical device; TensorFlow's keys (device_name, compute_capability)
    are GPU-only, and tensorflux has none to report: {}."""
    _physical(device, "get_device_details")
    return {}


def enable_op_determinism():
    """A no-op: tensorflux's ops are deterministic given their seeds."""


_TF32 = {"enabled": False}


def enable_tensor_float_32_execution(enabled):
    """Records the setting; tensorflux computes float32 in float32 on every device."""
    _TF32["enabled"] = bool(enabled)


def tensor_float_32_execution_enabled():
    return _TF32["enabled"]


def enable_flush_denormals(enabled):
    """Whether compiled runs on the CPU (tf.function calls, Keras's fit, evaluate and
    predict) treat subnormal floats, those below 1.2e-38 in float32, as zero: on by default,
    as TensorFlow's and XLA's CPU kernels always do. Off, they compute with subnormals as
    NumPy does, which a CPU does 10-20x slower per value. Eager ops keep subnormals either
    way. Not in TensorFlow, which has no setting for it (PyTorch's is
    torch.set_flush_denormal).

    >>> import tensorflux as tf
    >>> tf.config.experimental.enable_flush_denormals(False)
    >>> tf.function(lambda x: x * 0.5)(tf.constant(2e-38)).numpy() > 0
    np.True_
    >>> tf.config.experimental.enable_flush_denormals(True)
    """
    from tensorflux.backends import numpy_denormals
    numpy_denormals.enable(enabled)


def flush_denormals_enabled():
    from tensorflux.backends import numpy_denormals
    return numpy_denormals.enabled()


# ---- memory statistics, device policy, synchronous execution (tf.config.experimental)

def _memory_device(device, what):
    """The device type of a device string ('CPU:0', '/device:GPU:0', 'GPU:1')."""
    from tensorflux.backends import parse_device

    try:
        device_type = parse_device(str(device))[3]
    except ValueError as error:
        raise ValueError(f"{what}: expected a device such as 'CPU:0' or 'GPU:0', received "
                         f"{device!r}") from error
    if device_type not in ("CPU", "GPU"):
        raise ValueError(f"{what}: expected a CPU or GPU device, received {device!r}")
    if device_type == "GPU":
        raise ValueError(f"{what}: tensorflux does not track GPU memory itself (CuPy's "
                         f"memory pool holds it: cupy.get_default_memory_pool().used_bytes() "
                         f"gives the bytes in use), received {device!r}")
    return device_type


def get_memory_info(device):
    """{'current': bytes in use, 'peak': the most since the last reset} for `device`: on
    the CPU TF does not track its allocator by default and reports 0 for both, as here.

    >>> import tensorflux as tf
    >>> tf.config.experimental.get_memory_info("CPU:0")
    {'current': 0, 'peak': 0}
    """
    _memory_device(device, "get_memory_info")
    return {"current": 0, "peak": 0}


def get_memory_usage(device):
    """get_memory_info(device)['current'] (TF's deprecated name)."""
    return get_memory_info(device)["current"]


def reset_memory_stats(device):
    """Resets the peak of get_memory_info (nothing is tracked on the CPU)."""
    _memory_device(device, "reset_memory_stats")


_DEVICE_POLICIES = ("explicit", "warn", "silent", "silent_for_int32")
_EXECUTION = {"device_policy": "silent", "synchronous": True}


def get_device_policy():
    """How inputs on another device are handled: 'silent' (copied without a word), the
    only behaviour tensorflux has, unless set_device_policy recorded another name."""
    return _EXECUTION["device_policy"]


def set_device_policy(device_policy):
    """Records TF's device policy ('explicit', 'warn', 'silent', 'silent_for_int32', or None
    for the default, 'silent'); tensorflux copies inputs between devices silently anyway."""
    if device_policy is None:
        device_policy = "silent"
    if device_policy not in _DEVICE_POLICIES:
        raise ValueError(f"Invalid argument `device_policy`: {device_policy!r}. Expected one "
                         f"of {', '.join(map(repr, _DEVICE_POLICIES))} or None.")
    _EXECUTION["device_policy"] = device_policy


def get_synchronous_execution():
    """Whether ops run synchronously (True by default, as in TF)."""
    return _EXECUTION["synchronous"]


def set_synchronous_execution(enable):
    """Records the setting; tensorflux's eager ops always run synchronously."""
    _EXECUTION["synchronous"] = True if enable is None else bool(enable)


experimental = types.SimpleNamespace(
    VirtualDeviceConfiguration=LogicalDeviceConfiguration,
    get_device_policy=get_device_policy,
    get_memory_info=get_memory_info,
    get_memory_usage=get_memory_usage,
    get_synchronous_execution=get_synchronous_execution,
    reset_memory_stats=reset_memory_stats,
    set_device_policy=set_device_policy,
    set_synchronous_execution=set_synchronous_execution,
    enable_flush_denormals=enable_flush_denormals,
    enable_op_determinism=enable_op_determinism,
    enable_tensor_float_32_execution=enable_tensor_float_32_execution,
    flush_denormals_enabled=flush_denormals_enabled,
    get_device_details=get_device_details,
    get_memory_growth=get_memory_growth,
    get_virtual_device_configuration=get_logical_device_configuration,
    get_visible_devices=get_visible_devices,
    list_logical_devices=list_logical_devices,
    list_physical_devices=list_physical_devices,
    set_memory_growth=set_memory_growth,
    set_virtual_device_configuration=set_logical_device_configuration,
    set_visible_devices=set_visible_devices,
    tensor_float_32_execution_enabled=tensor_float_32_execution_enabled)


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
