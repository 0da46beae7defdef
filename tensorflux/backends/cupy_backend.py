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
                 "random_seed_stream", "random_gamma", "random_poisson", "random_binomial"}


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


_HOST_TYPES = (numpy.ndarray, numpy.generic)


def _accepting_host_arrays(kernel):
    """A kernel that copies NumPy inputs to the device, as TensorFlow copies a CPU tensor
    used on the GPU; the copy happens only when CuPy has refused the host array."""
    @functools.wraps(kernel)
    def on_device(*args, **kwargs):
        try:
            return kernel(*args, **kwargs)
        except TypeError:
            if not any(isinstance(a, _HOST_TYPES) for a in args):
                raise
        return kernel(*[cupy.asarray(a) if isinstance(a, _HOST_TYPES) else a for a in args],
                      **kwargs)
    return on_device


for _name, _obj in vars(numpy_backend).items():
    if _name.startswith("__") or _name in _HOST_ONLY or isinstance(_obj, types.ModuleType):
        continue
    if callable(_obj):
        _GLOBALS[_name] = _rebind(_obj)
# Module state of numpy_backend, as this backend needs it:
# - caches and tables holding NumPy objects get this backend's own;
# - the cache-sized blocks the NumPy kernels cut large arrays into (im2col parts, batch
#   slices, fused programs by rows or chunks, RNN steps in blocks of 16, layer norm's pieces
#   of rows) become the whole array: on a GPU each block is more kernel launches and nothing
#   is gained;
# - sums as products with a ones vector (a CPU saving) are off: one reduction here.
_WHOLE = 1 << 62
_GLOBALS.update(
    _FUSED_UFUNCS={"abs": cupy.absolute, "pow": cupy.power}, _FUSED_COMPILED={},
    _NN_CHAIN_UFUNCS={"add": cupy.add, "subtract": cupy.subtract, "multiply": cupy.multiply,
                      "divide": cupy.true_divide, "maximum": cupy.maximum,
                      "minimum": cupy.minimum},
    _FUSED_CHUNKED={}, _FUSED_GROUPS={},
    _NN_COLS_BYTES=_WHOLE, _NN_SLICE_BYTES=_WHOLE, _FUSED_BLOCK_BYTES=_WHOLE,
    _FUSED_CHUNKED_MIN_SIZE=_WHOLE, _RNN_BLOCK=_WHOLE,
    _SUM_BY_DOT_MAX=0, _SUM_ROWS_BY_DOT_MIN=_WHOLE, _THREADS=1, _LN_PIECE_BYTES=_WHOLE)
def _from_a_kernel_module(kernel):
    """Whether a kernel comes from one of numpy_backend's own kernel modules (numpy_ctc,
    numpy_fft, numpy_special, numpy_image): re-binding reaches numpy_backend's globals only,
    so these run on the host (their loops are sequential or host-bound anyway)."""
    module = getattr(kernel, "__module__", None) or type(kernel).__module__
    return module.startswith("tensorflux.backends.numpy_") and module != numpy_backend.__name__


for _name in KERNELS:
    if _name in _HOST_KERNELS or _from_a_kernel_module(getattr(numpy_backend, _name, None)):
        globals()[_name] = _host_kernel(getattr(numpy_backend, _name))
    elif callable(_GLOBALS.get(_name)):
        globals()[_name] = _accepting_host_arrays(_GLOBALS[_name])
native_dtype = numpy_backend.native_dtype
dtype_of = numpy_backend.dtype_of


# Kernels whose NumPy form works around CPU costs (branch mispredictions, slow scalar loops)
# with extra passes: on the GPU the direct call is one launch.
def _relu(x):
    return cupy.maximum(x, x.dtype.type(0))


relu = _accepting_host_arrays(_relu)
select = _accepting_host_arrays(cupy.where)
_GLOBALS.update(relu=_relu, select=cupy.where)


# Batch normalization in training: the NumPy kernels' row blocks, thread pool and cached
# ones vectors (shared with the NumPy backend) are CPU devices; here each step is one
# whole-array CuPy call. (Not yet run on a GPU.)
def _bn_work(x):
    work = numpy.dtype(numpy.float32) if x.dtype == numpy.float16 else x.dtype
    return x.astype(work, copy=False).reshape(int(numpy.prod(x.shape[:-1])), x.shape[-1]), work


def _batch_norm_training(x, gamma, beta, epsilon):
    rows, work = _bn_work(x)
    mean = rows.mean(axis=0)
    centred = rows - mean
    variance = (centred * centred).mean(axis=0)
    scale = 1 / cupy.sqrt(variance + work.type(epsilon)) * gamma.astype(work, copy=False)
    out = centred * scale + beta.astype(work, copy=False)
    return out.reshape(x.shape).astype(x.dtype, copy=False), mean, variance


def _batch_norm_training_grad(x, gamma, mean, variance, dy, dmean, dvariance, epsilon):
    rows, work = _bn_work(x)
    grads, _ = _bn_work(dy)
    count = work.type(rows.shape[0])
    inv = 1 / cupy.sqrt(variance + work.type(epsilon))
    centred = rows - mean
    sum_dy, sum_dy_centred = grads.sum(axis=0), (grads * centred).sum(axis=0)
    k = gamma * inv
    dx = (k * grads + (2 * dvariance - k * inv * inv * sum_dy_centred) / count * centred
          + (dmean - k * sum_dy) / count)
    return dx.reshape(x.shape).astype(x.dtype, copy=False), inv * sum_dy_centred, sum_dy


batch_norm_training = _accepting_host_arrays(_batch_norm_training)
batch_norm_training_grad = _accepting_host_arrays(_batch_norm_training_grad)


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


# ---- fused elementwise chains as one generated CUDA kernel
# graph/passes.py fuses trees of elementwise primitives into one `fused_elementwise` node with
# a program (kernel name, input registers, attrs, result DType). On the GPU such a program
# becomes one cupy.ElementwiseKernel, one launch instead of one per instruction; programs with
# an instruction or dtype not covered below run instruction by instruction, as on the CPU.

_C_TYPES = {"float32": "float", "float64": "double", "bool": "bool", "int32": "int",
            "int64": "long long"}
_FLOATS = ("float32", "float64")

# Each instruction as C++ over its operands {0}, {1}, ...: floating operands only, except
# comparisons, logic, select and cast. Semantics are the NumPy kernels': maximum/minimum and
# relu propagate NaN, sigmoid is split at 0 so exp never overflows.
_C_FLOAT_EXPR = {
    "add": "({0} + {1})", "subtract": "({0} - {1})", "multiply": "({0} * {1})",
    "divide": "({0} / {1})", "negative": "(-{0})", "abs": "fabs({0})",
    "square": "({0} * {0})", "sqrt": "sqrt({0})", "rsqrt": "(1 / sqrt({0}))",
    "reciprocal": "(1 / {0})", "exp": "exp({0})", "expm1": "expm1({0})", "log": "log({0})",
    "log1p": "log1p({0})", "sin": "sin({0})", "cos": "cos({0})", "tanh": "tanh({0})",
    "pow": "pow({0}, {1})", "floor": "floor({0})", "ceil": "ceil({0})",
    "round": "rint({0})", "is_nan": "isnan({0})", "is_finite": "isfinite({0})",
    "is_inf": "isinf({0})",
    "maximum": "tfx_max({0}, {1})", "minimum": "tfx_min({0}, {1})",
    "relu": "tfx_max({0}, ({T}) 0)",
    "sigmoid": "({0} >= 0 ? 1 / (1 + exp(-{0})) : exp({0}) / (1 + exp({0})))",
}
_C_ANY_EXPR = {
    "equal": "({0} == {1})", "not_equal": "({0} != {1})", "less": "({0} < {1})",
    "less_equal": "({0} <= {1})", "greater": "({0} > {1})", "greater_equal": "({0} >= {1})",
    "logical_and": "({0} && {1})", "logical_or": "({0} || {1})", "logical_xor": "({0} != {1})",
    "logical_not": "(!{0})", "select": "({0} ? {1} : {2})",
}
_C_PREAMBLE = """
template <typename T> __device__ T tfx_max(T a, T b) { return (a != a || a > b) ? a : b; }
template <typename T> __device__ T tfx_min(T a, T b) { return (a != a || a < b) ? a : b; }
"""
_CUDA_FUSED = {}  # (id(program), input dtypes) -> (program, ElementwiseKernel or None)


def _cuda_fused_source(program, in_dtypes):
    """The body of an ElementwiseKernel for program, or None where an instruction or dtype
    has no CUDA form here."""
    names = [d.name for d in in_dtypes] + [dtype.name for *_, dtype in program]
    if any(n not in _C_TYPES for n in names):
        return None
    lines = []
    n_inputs = len(in_dtypes)
    for j, (kernel, refs, attrs, dtype) in enumerate(program):
        args = [f"r{r}" for r in refs]
        operand_types = {names[r] for r in refs}
        if kernel == "cast":
            expr = f"(({_C_TYPES[dtype.name]}) {args[0]})"
        elif attrs:
            return None
        elif kernel in _C_FLOAT_EXPR and operand_types <= set(_FLOATS):
            expr = _C_FLOAT_EXPR[kernel].format(*args, T=_C_TYPES[dtype.name])
        elif kernel in _C_ANY_EXPR:
            expr = _C_ANY_EXPR[kernel].format(*args)
        else:
            return None
        lines.append(f"{_C_TYPES[dtype.name]} r{n_inputs + j} = {expr};")
    lines.append(f"result = r{n_inputs + len(program) - 1};")
    return "\n".join(lines)


def _cuda_fused_kernel(program, inputs):
    in_dtypes = tuple(numpy.dtype(x.dtype) for x in inputs)
    key = (id(program), in_dtypes)
    entry = _CUDA_FUSED.get(key)
    if entry is not None and entry[0] is program:
        return entry[1]
    body = _cuda_fused_source(program, in_dtypes)
    kernel = None
    if body is not None:
        params = ", ".join(f"{d.name} r{i}" for i, d in enumerate(in_dtypes))
        kernel = cupy.ElementwiseKernel(params, f"{program[-1][3].name} result", body,
                                        f"tfx_fused_{len(program)}", preamble=_C_PREAMBLE)
    if len(_CUDA_FUSED) > 4096:
        _CUDA_FUSED.clear()
    _CUDA_FUSED[key] = (program, kernel)
    return kernel


_fused_by_instruction = _GLOBALS["fused_elementwise"]


def _fused_elementwise(*inputs, program, out=None):
    if not all(isinstance(x, cupy.ndarray) for x in inputs):
        inputs = tuple(cupy.asarray(x) for x in inputs)
    kernel = _cuda_fused_kernel(program, inputs)
    if kernel is not None:
        try:
            if out is not None and out.dtype == numpy.dtype(program[-1][3].name) and \
                    out.shape == numpy.broadcast_shapes(*(x.shape for x in inputs)):
                return kernel(*inputs, out)
            return kernel(*inputs)
        except cupy.cuda.compiler.CompileException:
            # NVRTC refused the generated source (it is compiled on first use): this
            # program runs instruction by instruction from now on.
            _CUDA_FUSED[(id(program), tuple(numpy.dtype(x.dtype) for x in inputs))] = \
                (program, None)
    return _fused_by_instruction(*inputs, program=program, out=out)


fused_elementwise = functools.wraps(_fused_by_instruction)(_fused_elementwise)
