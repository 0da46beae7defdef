"""The NVIDIA GPU backend: the NumPy backend's kernels, re-bound to run on CuPy arrays.

CuPy mirrors NumPy's API, so each kernel of numpy_backend is reused as is with its global
`np` pointing at `cupy` instead; only conversions (host <-> device) and dtype lookups are
written here. A kernel that needs a GPU-specific version (a fused elementwise chain, cuDNN
convolutions) is defined below and wins over the re-bound one.
"""

import contextlib
import functools
import types

import cupy
import numpy

from tensorflux.backends import KERNELS, numpy_backend

name = "cupy"


def _errstate(**_):
    # GPU kernels never trap floating-point errors: inf and NaN results are already silent.
    return contextlib.nullcontext()


# What the re-bound kernels call `np`: CuPy's namespace plus the few NumPy names it lacks.
_np = types.ModuleType("cupy_as_numpy")
_np.__dict__.update(vars(cupy))
_np.errstate = _errstate

# Module globals that the re-bound kernels see: numpy_backend's, with np -> CuPy.
_GLOBALS = dict(vars(numpy_backend))
_GLOBALS["np"] = _np
# dtype bookkeeping stays on NumPy's dtype objects, which CuPy accepts everywhere.
_HOST_ONLY = {"native_dtype", "dtype_of", "np"}
# Random draws run on the host with NumPy's Philox, then move to the device: the same seed
# gives the same numbers on every device (CuPy has no Philox bit generator).
_HOST_KERNELS = {"random_normal", "random_uniform", "random_truncated_normal",
                 "random_uniform_int", "random_shuffle", "random_categorical",
                 "random_seed_stream"}


def _rebind(obj):
    if isinstance(obj, types.FunctionType):
        closure = obj.__closure__
        if closure is not None:
            # A decorated kernel (numpy_backend._quiet) closes over the NumPy-bound kernel.
            closure = tuple(types.CellType(_rebind(cell.cell_contents))
                            if _is_numpy_backend_function(cell.cell_contents) else cell
                            for cell in closure)
        rebound = types.FunctionType(obj.__code__, _GLOBALS, obj.__name__, obj.__defaults__,
                                     closure)
        rebound.__kwdefaults__ = obj.__kwdefaults__
        rebound.__doc__ = obj.__doc__
        return rebound
    if isinstance(obj, numpy.ufunc) or getattr(obj, "__module__", "").startswith("numpy"):
        return getattr(cupy, obj.__name__)
    return obj


def _is_numpy_backend_function(obj):
    return isinstance(obj, types.FunctionType) and obj.__globals__ is vars(numpy_backend)


def _host_kernel(kernel):
    @functools.wraps(kernel)
    def on_host(*args, **kwargs):
        out = kernel(*[_host(a) for a in args], **kwargs)
        return tuple(cupy.asarray(o) for o in out) if isinstance(out, tuple) \
            else cupy.asarray(out)
    return on_host


def _accepting_host_arrays(kernel):
    """A kernel that copies NumPy inputs to the device, as TensorFlow copies a CPU tensor
    used on the GPU; the copy happens only when CuPy has refused the host array."""
    @functools.wraps(kernel)
    def on_device(*args, **kwargs):
        try:
            return kernel(*args, **kwargs)
        except TypeError:
            if not any(isinstance(a, (numpy.ndarray, numpy.generic)) for a in args):
                raise
        return kernel(*[cupy.asarray(a) if isinstance(a, (numpy.ndarray, numpy.generic))
                        else a for a in args], **kwargs)
    return on_device


for _name, _obj in vars(numpy_backend).items():
    if _name.startswith("__") or _name in _HOST_ONLY or isinstance(_obj, types.ModuleType):
        continue
    if callable(_obj):
        _GLOBALS[_name] = _rebind(_obj)
# Module state that holds NumPy objects gets this backend's own copy.
_GLOBALS["_FUSED_UFUNCS"] = {"abs": cupy.absolute, "pow": cupy.power}
_GLOBALS["_FUSED_COMPILED"] = {}
for _name in KERNELS:
    if _name in _HOST_KERNELS:
        globals()[_name] = _host_kernel(getattr(numpy_backend, _name))
    elif callable(_GLOBALS.get(_name)):
        globals()[_name] = _accepting_host_arrays(_GLOBALS[_name])
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
