"""The backend seam: the documented kernel surface, and loading a backend by device.

A backend is one module whose functions are kernels on raw arrays (NumPy's, CuPy's, ...).
Every kernel a Primitive may call is named in KERNELS below with one line of contract; a
backend that lacks one raises NotImplementedError naming itself and the kernel, at the call.

Conventions every kernel follows:
- inputs are the backend's raw arrays (or Python scalars for attributes), outputs are raw
  arrays, or a tuple of them for multi-output kernels;
- keyword arguments are the primitive's attributes, already validated by the op;
- a kernel never mutates its inputs, except `assign`-family kernels, which say so.
"""

import importlib

__all__ = ["KERNELS", "Backend", "default_backend", "backend_for_device", "backend_of",
           "available_backends"]

# name: contract. The op library binds only these names; tests check both directions.
# (Kept in sorted sections; tests/test_backends.py checks every Primitive's kernel is here.)
KERNELS = {}


def _declare(text):
    for line in text.strip().splitlines():
        name, _, doc = line.partition(":")
        KERNELS[name.strip()] = doc.strip()


_declare("""
asarray: (value, dtype) -> array of a Python/NumPy value with the given DType
to_numpy: (array) -> numpy.ndarray (or NumPy scalar for rank 0), a host copy when needed
copy: (x) -> a copy of x
""")


class Backend:
    """A loaded backend: its kernels as attributes, plus its name and device string."""

    def __init__(self, name, module, device):
        self.name = name
        self.module = module
        self.device = device
        for kernel in KERNELS:
            fn = getattr(module, kernel, None)
            if fn is not None:
                setattr(self, kernel, fn)

    def __getattr__(self, kernel):
        # Only reached for attributes not set in __init__: a kernel this backend lacks.
        if kernel.startswith("__"):
            raise AttributeError(kernel)
        if kernel in KERNELS:
            raise NotImplementedError(
                f"The {self.name} backend does not implement the kernel '{kernel}'.")
        return getattr(self.module, kernel)

    def __repr__(self):
        return f"<Backend {self.name} on {self.device}>"


_LOADED = {}
_MODULES = {"CPU": ("numpy", "tensorflux.backends.numpy_backend"),
            "GPU": ("cupy", "tensorflux.backends.cupy_backend")}


def _load(device_type, index=0):
    key = (device_type, index)
    if key not in _LOADED:
        name, module_name = _MODULES[device_type]
        module = importlib.import_module(module_name)
        device = f"/job:localhost/replica:0/task:0/device:{device_type}:{index}"
        if hasattr(module, "select_device"):
            module.select_device(index)
        _LOADED[key] = Backend(name, module, device)
    return _LOADED[key]


def default_backend():
    """The CPU (NumPy) backend; the GPU is used only inside `tf.device("GPU:0")`."""
    return _load("CPU")


def backend_for_device(device_name):
    """Parses 'GPU:0', '/device:CPU:0', '/job:localhost/.../device:GPU:1' into a Backend."""
    spec = str(device_name).upper().rsplit("DEVICE:", 1)[-1].lstrip("/")
    device_type, _, index = spec.partition(":")
    if device_type not in _MODULES:
        raise ValueError(f"Unknown device {device_name!r}; expected 'CPU:<n>' or 'GPU:<n>'.")
    try:
        return _load(device_type, int(index or 0))
    except ImportError as error:
        raise RuntimeError(f"Device {device_name!r} needs the {_MODULES[device_type][0]} "
                           f"package: install tensorflux[gpu]. ({error})") from error


def backend_of(array):
    """The loaded backend that owns a raw array (by the array's module)."""
    module = type(array).__module__
    if module.startswith("cupy"):
        return _load("GPU", array.device.id)
    return _load("CPU")


def available_backends():
    """Names of the backends that can load here: 'numpy' always, 'cupy' with a GPU."""
    names = ["numpy"]
    try:
        module = importlib.import_module("tensorflux.backends.cupy_backend")
        if module.is_available():
            names.append("cupy")
    except ImportError:
        pass
    return names
