"""The NVIDIA GPU backend: the NumPy backend's kernels, re-bound to run on CuPy arrays.

CuPy mirrors NumPy's API, so each kernel of numpy_backend is reused as is with its global
`np` pointing at `cupy` instead; only conversions (host <-> device) and dtype lookups are
written here. A kernel that needs a GPU-specific version (a fused elementwise chain, cuDNN
convolutions) is defined below and wins over the re-bound one.
"""

import types

import cupy
import numpy

from tensorflux.backends import KERNELS, numpy_backend

name = "cupy"

# Module globals that the re-bound kernels see: numpy_backend's, with np -> cupy.
_GLOBALS = dict(vars(numpy_backend))
_GLOBALS["np"] = cupy
# dtype bookkeeping stays on NumPy's dtype objects, which CuPy accepts everywhere.
_HOST_ONLY = {"native_dtype", "dtype_of", "np"}


def _rebind(obj):
    if isinstance(obj, types.FunctionType):
        return types.FunctionType(obj.__code__, _GLOBALS, obj.__name__, obj.__defaults__,
                                  obj.__closure__)
    if isinstance(obj, numpy.ufunc) or getattr(obj, "__module__", "").startswith("numpy"):
        return getattr(cupy, obj.__name__)
    return obj


for _name, _obj in vars(numpy_backend).items():
    if _name.startswith("__") or _name in _HOST_ONLY or isinstance(_obj, types.ModuleType):
        continue
    if callable(_obj):
        _GLOBALS[_name] = _rebind(_obj)
globals().update({k: v for k, v in _GLOBALS.items() if k in KERNELS})
native_dtype = numpy_backend.native_dtype
dtype_of = numpy_backend.dtype_of


def is_available():
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, no device: CuPy raises its own runtime errors
        return False


def select_device(index):
    cupy.cuda.Device(index).use()


def asarray(value, dtype):
    return cupy.asarray(numpy_backend.asarray(_host(value), dtype))


def infer_array(value):
    if isinstance(value, cupy.ndarray):
        return value
    return cupy.asarray(numpy_backend.infer_array(_host(value)))


def to_numpy(x):
    return cupy.asnumpy(x)


def copy(x):
    return cupy.array(x, copy=True)


def _host(value):
    return cupy.asnumpy(value) if isinstance(value, cupy.ndarray) else value


_GLOBALS.update(asarray=asarray, infer_array=infer_array, to_numpy=to_numpy, copy=copy)


def host_array(x, dtype=None, copy=None):
    return numpy_backend.host_array(_host(x), dtype, copy)


def dlpack(x, *args, **kwargs):
    return x.__dlpack__(*args, **kwargs)
