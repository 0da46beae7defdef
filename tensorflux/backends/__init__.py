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
           "available_backends", "parse_device", "placement"]

# name: contract. The op library binds only these names; tests check both directions.
# (Kept in sorted sections; tests/test_backends.py checks every Primitive's kernel is here.)
KERNELS = {}


def _declare(text):
    """Adds `name: contract` lines to KERNELS; an indented line continues the one above."""
    name = None
    for line in text.strip("\n").splitlines():
        if line[:1].isspace() and name is not None:
            KERNELS[name] += " " + line.strip()
            continue
        name, _, doc = line.partition(":")
        name = name.strip()
        KERNELS[name] = doc.strip()


_declare("""
asarray: (value, dtype) -> an array of a Python/NumPy value with the given DType
infer_array: (value) -> an array with TensorFlow's dtype inference (1.0 float32, 1 int32)
to_numpy: (x) -> a NumPy array on the host (a NumPy scalar for rank 0)
host_array: (x, dtype=None, copy=None) -> numpy.ndarray, for __array__
dlpack: (x, *args) -> a DLPack capsule of x
copy: (x) -> a new buffer holding x
alias: (x) -> x itself (stop_gradient's kernel: the value does not change)
all_nonzero: (x) -> Python bool, eager checks such as integer division by zero
any_negative: (x) -> Python bool, eager checks such as integer negative powers
any_nan: (x) -> Python bool, eager checks such as argmax's NaN entries (a float x)
assign: (target, value, kind) -> (); writes into target IN PLACE (assign/assign_add/assign_sub)
""")

# Creation and dtype.
_declare("""
fill: (shape, value, dtype) -> a new array of shape filled with value
fill_like: (x, value, dtype) -> an array of x's shape filled with value
arange: (start, limit, delta, dtype) -> evenly spaced values in [start, limit)
eye: (num_rows, num_columns, batch_shape, dtype) -> identity matrices
one_hot: (indices, depth, on_value, off_value, axis, dtype) -> one-hot encoding
cast: (x, dtype) -> x converted; floats to ints truncate toward zero
""")

# Elementwise: NumPy broadcasting, output dtype = input dtype unless said otherwise.
_declare("""
add: (x, y) -> x + y
subtract: (x, y) -> x - y
multiply: (x, y) -> x * y
divide: (x, y) -> x / y (float and complex)
floordiv: (x, y) -> floor(x / y)
floormod: (x, y) -> x - floor(x / y) * y
pow: (x, y) -> x ** y
maximum: (x, y) -> elementwise max, NaN-propagating
minimum: (x, y) -> elementwise min, NaN-propagating
mul_no_nan: (x, y) -> x * y, 0 where y == 0 even if x is inf or NaN
atan2: (y, x) -> the angle of (x, y)
complex: (re, im) -> re + i*im (complex64 from float32, complex128 from float64)
string_join: (x, y) -> bytes concatenation of two string arrays
negative: (x) -> -x
abs: (x) -> |x| (real for complex x)
sign: (x) -> -1, 0 or 1
square: (x) -> x * x
sqrt: (x) -> square root
rsqrt: (x) -> 1 / sqrt(x)
reciprocal: (x) -> 1 / x
exp: (x) -> e ** x
expm1: (x) -> exp(x) - 1
log: (x) -> natural log
log1p: (x) -> log(1 + x)
sin: (x) -> sine
cos: (x) -> cosine
tan: (x) -> tangent
tanh: (x) -> hyperbolic tangent
sinh: (x) -> hyperbolic sine
cosh: (x) -> hyperbolic cosine
asin: (x) -> inverse sine
acos: (x) -> inverse cosine
atan: (x) -> inverse tangent
erf: (x) -> the error function
sigmoid: (x) -> 1 / (1 + exp(-x)) without overflow
softplus: (x) -> log(1 + exp(x)) without overflow
softsign: (x) -> x / (1 + |x|)
round: (x) -> round half to even
floor: (x) -> floor
ceil: (x) -> ceiling
real: (x) -> real part
imag: (x) -> imaginary part
conj: (x) -> complex conjugate
angle: (x) -> complex argument
equal: (x, y) -> bool x == y
not_equal: (x, y) -> bool x != y
less: (x, y) -> bool x < y
less_equal: (x, y) -> bool x <= y
greater: (x, y) -> bool x > y
greater_equal: (x, y) -> bool x >= y
logical_and: (x, y) -> bool and
logical_or: (x, y) -> bool or
logical_xor: (x, y) -> bool xor
logical_not: (x) -> bool not
bitwise_not: (x) -> integer bitwise not
bitwise_and: (x, y) -> integer bitwise and, broadcasting
bitwise_or: (x, y) -> integer bitwise or, broadcasting
bitwise_xor: (x, y) -> integer bitwise xor, broadcasting
left_shift: (x, y) -> integer x shifted left by y bits (y clamped to [0, bits - 1] as TF),
    broadcasting
right_shift: (x, y) -> integer x shifted right by y bits (arithmetic for signed; y clamped as
    for left_shift), broadcasting
is_nan: (x) -> bool isnan
is_finite: (x) -> bool isfinite
is_inf: (x) -> bool isinf
select: (condition, x, y) -> x where condition else y, broadcasting
""")

# Reductions and scans: axis is a tuple of non-negative ints.
_declare("""
reduce_sum: (x, axis, keepdims) -> sum, same dtype
reduce_mean: (x, axis, keepdims) -> mean; integers truncate toward zero
reduce_max: (x, axis, keepdims) -> max; -inf / dtype min when empty
reduce_min: (x, axis, keepdims) -> min; +inf / dtype max when empty
reduce_prod: (x, axis, keepdims) -> product, same dtype
reduce_any: (x, axis, keepdims) -> bool or
reduce_all: (x, axis, keepdims) -> bool and
reduce_logsumexp: (x, axis, keepdims) -> log(sum(exp(x))) shifted by the finite max
argmax: (x, axis, output_type) -> first index of the max along axis
argmin: (x, axis, output_type) -> first index of the min along axis
cumsum: (x, axis, exclusive, reverse) -> running sum
cumprod: (x, axis, exclusive, reverse) -> running product
top_k: (x, k, sorted, index_type) -> (values, indices) along the last axis, descending
argsort: (x, axis, descending) -> stable sorting permutation
unique: (x, out_idx) -> (unique values in order of first occurrence, index of each input)
""")

# Shapes and indexing.
_declare("""
reshape: (x, shape) -> x with a new shape (may be a view); for an empty x, a -1 beside a 0 is
    inferred from the non-zero dims, as TF
broadcast_to: (x, shape) -> x broadcast to shape (may be a view)
broadcast_like: (x, like) -> x broadcast to like's run-time shape (may be a view)
sum_to_like: (g, like) -> g summed over the dims broadcast from like's run-time shape
dynamic_shape: (x, dtype) -> x's run-time shape as a 1-D integer array
transpose: (x, perm) -> permuted axes
stack: (*xs, axis) -> xs joined on a new axis
unstack: (x, num, axis) -> tuple of slices along axis
concat: (*xs, axis) -> xs joined on an existing axis
split: (x, sizes, axis) -> tuple of pieces along axis
tile: (x, multiples) -> x repeated along each axis
pad: (x, paddings, mode, constant_values) -> padded x (CONSTANT, REFLECT, SYMMETRIC)
pad_grad: (g, paddings, mode) -> the cotangent of pad folded back onto the input
getitem: (x, *index_arrays, key) -> x[key], a copy; key marks where index arrays go
getitem_grad: (g, *index_arrays, shape, key) -> zeros of shape with g added at [key]
gather: (params, indices, axis, batch_dims) -> gathered slices; bad indices raise
gather_grad: (g, indices, shape, axis, batch_dims) -> scatter-add of g into zeros of shape
gather_nd: (params, indices, batch_dims) -> slices at index tuples
scatter_nd: (indices, updates, shape) -> zeros of shape with updates added at indices
tensor_scatter_nd_update: (x, indices, updates, reduction, batch_dims) -> a copy of x with
    updates written ("update") or combined ("add", "sub", "max", "min")
take_along_axis: (x, indices, axis) -> values at indices along axis
take_along_axis_grad: (g, indices, shape, axis) -> scatter-add of g along axis
where_indices: (condition) -> int64 [n, rank] coordinates of True entries
""")

# Linear algebra.
_declare("""
matmul: (a, b, transpose_a, transpose_b) -> batched matrix product, batch dims broadcast
einsum: (*operands, equation) -> explicit-form einsum
matrix_determinant: (x) -> det of [..., M, M]
matrix_inverse: (x) -> inverse of [..., M, M]
matrix_diag_part: (x, k) -> k-th diagonal of [..., M, N]
matrix_diag: (d, k, num_rows, num_cols, padding_value) -> matrices with d on diagonal k
""")

# Linear-algebra decompositions and solves (tensorflux/ops/linalg.py): [..., M, N] batches.
_declare("""
matrix_solve: (matrix, rhs, adjoint) -> X with op(matrix) X = rhs, batch dims broadcast
matrix_triangular_solve: (matrix, rhs, lower, adjoint) -> X with op(tril or triu(matrix)) X = rhs
cholesky: (x) -> lower Cholesky factor from the lower triangle; not positive definite raises
log_matrix_determinant: (x) -> (sign, log|det|), log|det| real
self_adjoint_eig: (x, compute_v) -> (ascending eigenvalues, eigenvector columns) or (values,)
    from the lower triangle
eig: (x, compute_v) -> (eigenvalues, unit-norm eigenvector columns) of general matrices, complex
    (complex64 for float32 / complex64 input), or (values,)
svd: (x, full_matrices, compute_uv) -> (s descending, u, v) with x = u diag(s) v^H, or (s,)
qr: (x, full_matrices) -> (q, r), reduced unless full_matrices
""")

# Neural-network kernels: fused where that is faster or numerically safer.
_declare("""
relu: (x) -> max(x, 0)
relu6: (x) -> min(max(x, 0), 6)
elu: (x) -> x if x > 0 else exp(x) - 1
softmax: (x, axis) -> max-shifted softmax
softmax_grad: (g, y, axis) -> softmax's VJP for output y: (r - sum(r * y)) * y, r = g -
    sum(g * y) (float32/float64, rank >= 2, the last axis)
log_softmax: (x, axis) -> max-shifted log-softmax
sigmoid_cross_entropy_with_logits: (labels, logits) -> max(x,0) - x*z + log1p(exp(-|x|))
softmax_cross_entropy_with_logits: (labels, logits, axis) -> per-row cross-entropy
sparse_softmax_cross_entropy_with_logits: (labels, logits) -> per-row loss; bad labels raise
conv2d: (x, filters, strides, padding, dilations, data_format) -> 2-D convolution (HWIO)
conv2d_backprop_input: (filters, grad, input_shape, ...) -> the input cotangent of conv2d
conv2d_backprop_filter: (x, grad, filter_shape, ...) -> the filter cotangent of conv2d
max_pool2d: (x, ksize, strides, padding, data_format) -> window max
max_pool2d_grad: (x, grad, ...) -> grad routed to each window's argmax
max_pool2d_gather: (x, values, ...) -> values read at each window's argmax
avg_pool2d: (x, ksize, strides, padding, data_format) -> window mean over valid elements
avg_pool2d_grad: (grad, input_shape, ...) -> grad spread evenly over each window
batch_norm_training: (x, gamma, beta, [r], epsilon, activation=None, residual=None) -> (out,
    mean, variance): per channel (the last axis) over all others, variance = mean((x -
    mean)^2), out = (x - mean) * rsqrt(variance + epsilon) * gamma + beta; float16 x gives
    float32 statistics; with activation "relu" (where the backend's BATCH_NORM_ACTIVATIONS
    lists it) out is relu of that; with residual "left" or "right" too (where its
    BATCH_NORM_RESIDUALS lists it) r comes fourth and out is relu(r + that) or relu(that + r);
    epsilon comes by name after r
batch_norm_training_grad: (x, gamma, mean, variance, dy, dmean, dvariance, [y, [beta]], epsilon,
    activation=None) -> (dx, dgamma, dbeta), batch_norm_training's VJP; with activation "relu",
    y is relu's output and dy * (y > 0) the normalization's cotangent; epsilon comes by name
    after y
layer_norm: (x, gamma, beta, epsilon, count) -> (x - mean) * (rsqrt(variance + epsilon) *
    gamma) + beta, mean and variance over each row of the trailing `count` axes (float32 or
    float64), with the composed ops' bits
layer_norm_grad: (x, gamma, dy, epsilon, count) -> (dx, dgamma, dbeta), layer_norm's VJP
""")

# Random numbers: seed is a tuple of ints; the same seed gives the same numbers.
_declare("""
random_normal: (*seed_input, shape, dtype, seed) -> standard normal samples
random_uniform: (*seed_input, shape, dtype, seed) -> floats in [0, 1)
random_truncated_normal: (*seed_input, shape, dtype, seed) -> standard normal, redrawn if |x| > 2
random_uniform_int: (minval, maxval, *seed_input, shape, dtype, seed) -> ints in [minval, maxval)
random_shuffle: (x, *seed_input, seed) -> x permuted along axis 0
random_categorical: (logits, *seed_input, num_samples, dtype, seed) -> [batch, samples] indices
random_seed_stream: (source) -> uint64 seed vector source.next_seed(); seed_input of graph draws
""")

# Random draws with parameters (tensorflux/ops/random.py): output shape = shape + param shape.
_declare("""
random_gamma: (alpha, *seed_input, shape, dtype, seed) -> Gamma(alpha, 1) samples, shape + alpha
random_poisson: (lam, *seed_input, shape, dtype, seed) -> Poisson(lam) samples, shape + lam
random_binomial: (counts, probs, *seed_input, shape, dtype, seed) -> Binomial samples of shape
""")

# Graph (tensorflux/graph/passes.py).
_declare("""
fused_elementwise: (*inputs, program, out=None) -> elementwise kernels run as one; may fill out
fused_conv2d: (x, filters, *inputs, strides, padding, dilations, data_format, program,
    register) -> fused_elementwise(program) of inputs with conv2d(x, filters) inserted at
    `register`
fused_conv2d_backprop_filter: (x, y, grad, filter_shape, strides, padding, dilations,
    data_format, pool_ksize, pool_strides, pool_padding) -> conv2d_backprop_filter of x and
    max_pool2d_grad(y, grad)
""")

# Autodiff.
_declare("""
custom_gradient: (*arrays, n_results, n_args, grad_fn) -> the first n_results arrays
""")

# Control flow and logging (graph/control_flow.py, ops/logging.py): generic kernels that call
# the runner object in their attributes, which runs compiled sub-graphs on the current backend.
_declare("""
cond: (pred, *arrays, branches) -> branches(pred, arrays): the outputs of the chosen branch
while_loop: (*arrays, loop) -> loop(arrays): the final loop variables and the trip count
while_grad: (*arrays, grad) -> grad(arrays): a while loop's cotangents, body VJP per iteration
print_tensors: (*arrays, template, output_stream, sep, end, summarize) -> (); prints the arrays
""")


class Backend:
    """A loaded backend: its kernels as attributes, plus its name and device string."""

    def __init__(self, name, module, device):
        self.name = name
        self.module = module
        self.device = device
        defined = vars(module)  # (kernels a module loads on first use are bound when asked)
        for kernel in KERNELS:
            fn = defined.get(kernel)
            if fn is not None:
                setattr(self, kernel, fn)

    def __getattr__(self, kernel):
        # Only reached for attributes not set in __init__: a kernel the module loads on first
        # use (bound here from then on), or one this backend lacks.
        if kernel.startswith("__"):
            raise AttributeError(kernel)
        if kernel in KERNELS:
            fn = getattr(self.module, kernel, None)
            if fn is None:
                raise NotImplementedError(
                    f"The {self.name} backend does not implement the kernel '{kernel}'.")
            setattr(self, kernel, fn)
            return fn
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


# Device types TensorFlow's device strings may name ("GPU:0", "/TPU:1"); tensorflux has
# backends for CPU and GPU, and places ops for the others as it places them for a device
# that is not here.
_DEVICE_TYPES = frozenset({"CPU", "GPU", "TPU", "CUSTOM", "EPU"})


def parse_device(device_name):
    """(job, replica, task, device type, index) of a TensorFlow device string, each None
    where the string does not say: 'GPU:0', '/gpu:1', '/device:CPU:0', 'CPU',
    '/job:localhost/replica:0/task:0/device:GPU:*' (any index: None).

    >>> parse_device("/job:localhost/device:GPU:1")
    ('localhost', None, None, 'GPU', 1)
    """
    job = replica = task = device_type = index = None
    for part in str(device_name or "").split("/"):
        fields = part.split(":")
        key = fields[0]
        if len(fields) == 2 and key in ("job", "replica", "task"):
            if key == "job":
                job = fields[1]
            elif key == "replica":
                replica = fields[1]
            else:
                task = fields[1]
        elif (len(fields) <= 2 and key.upper() in _DEVICE_TYPES) or (
                len(fields) == 3 and key == "device"):
            if device_type is not None:
                raise ValueError("Multiple device types are not allowed while parsing the "
                                 f"device spec: {device_name}.")
            device_type, number = (key.upper(), fields[1:]) if len(fields) <= 2 \
                else (fields[1].upper(), fields[2:])
            if number and number[0] != "*":
                index = int(number[0])
        elif key:
            raise ValueError(f"Unknown attribute '{key}' is encountered while parsing the "
                             f"device spec: '{device_name}'.")
    return job, replica, task, device_type, index


def _full_name(job, replica, task, device_type, index):
    return (f"/job:{job or 'localhost'}/replica:{replica or 0}/task:{task or 0}"
            f"/device:{device_type or 'CPU'}:{0 if index is None else index}")


def backend_for_device(device_name):
    """The Backend of a device string ('GPU:0', '/device:CPU:0',
    '/job:localhost/.../device:GPU:1'); ValueError for a device type without a backend,
    RuntimeError when the GPU's package is missing. (tf.device places ops with `placement`,
    which falls back to the CPU as TensorFlow does.)"""
    _, _, _, device_type, index = parse_device(device_name)
    if device_type not in _MODULES:
        raise ValueError(f"Unknown device {device_name!r}; expected 'CPU:<n>' or 'GPU:<n>'.")
    try:
        return _load(device_type, index or 0)
    except ImportError as error:
        raise RuntimeError(f"Device {device_name!r} needs the {_MODULES[device_type][0]} "
                           f"package: install tensorflux[gpu]. ({error})") from error


def placement(device_name):
    """The Backend that ops inside `tf.device(device_name)` run on, or None when the string
    names no device (None, '', '/job:localhost'): ops then stay where they run.

    As in TensorFlow, a device that is not here (a GPU without CuPy or hidden by
    tf.config.set_visible_devices, a TPU, CPU:3) gives the CPU while soft placement is on
    (tf.config's default); with tf.config.set_soft_device_placement(False) it is an
    InvalidArgumentError listing the devices there are.
    """
    from tensorflux import errors

    job, replica, task, device_type, index = parse_device(device_name)
    full = _full_name(job, replica, task, device_type, index)
    if job not in (None, "localhost") or replica not in (None, "0") or task not in (None, "0"):
        raise errors.InvalidArgumentError(f"{full} unknown device.", "device")
    if index is not None and index < 0:
        raise errors.InvalidArgumentError(f"Malformed device specification '{full}'", "device")
    if device_type is None:
        return None
    if device_type == "CPU" and not index:
        return _load("CPU")
    from tensorflux import config

    if _device_exists(config, device_type, index or 0):
        return _load(device_type, index or 0)
    if config.get_soft_device_placement():
        return _load("CPU")
    here = [_full_name(None, None, None, d.device_type, int(d.name.rsplit(":", 1)[1]))
            for d in config.list_logical_devices()]
    kinds = sorted({d.device_type for d in config.list_logical_devices()}, reverse=True)
    raise errors.InvalidArgumentError(
        f"Could not satisfy device specification '{full}'. enable_soft_placement=0. "
        f"Supported device types [{', '.join(kinds)}]. All available devices "
        f"[{', '.join(here)}].", "device")


def _device_exists(config, device_type, index):
    if device_type == "CPU":
        return index < len(config.list_logical_devices("CPU"))
    if device_type != "GPU" or not config.list_logical_devices("GPU"):
        return False
    try:
        _load("GPU", index)  # a GPU index past the machine's GPUs fails to select
    except Exception:  # noqa: BLE001 - CuPy raises its own CUDA runtime errors
        return False
    return True


def backend_of(array):
    """The loaded backend that owns a raw array (by the array's module)."""
    module = type(array).__module__
    if module.startswith("cupy"):
        return _load("GPU", array.device.id)
    return _load("CPU")


def available_backends():
    """Names of the backends that can load here: 'numpy' always, 'cupy' with a GPU."""
    if _GPU_PRESENT[0] is None:
        try:
            module = importlib.import_module("tensorflux.backends.cupy_backend")
            _GPU_PRESENT[0] = bool(module.is_available())
        except ImportError:
            _GPU_PRESENT[0] = False
    return ["numpy", "cupy"] if _GPU_PRESENT[0] else ["numpy"]


# Whether CuPy loads and sees a GPU: asked once (a failed import is retried on every call).
_GPU_PRESENT = [None]

# Recurrent sequences (helper "rnn"): whole-sequence fused recurrences and their BPTT kernels.
_declare("""
lstm_sequence: (xw, h0, c0, kernel, mask=None, go_backwards) -> (hs, cs, gates [i, f, c, o])
lstm_sequence_grad: (h0, c0, kernel, hs, cs, gates, ghs, gcs, ggates, mask=None) -> dxw ...
gru_sequence: (xw, h0, kernel, bias, mask=None, reset_after, go_backwards) -> (hs, gates, aux)
gru_sequence_grad: (h0, kernel, hs, gates, aux, ghs, ggates, gaux, mask=None) -> dxw, dh0 ...
""")

# Images (helper "preprocessing", tensorflux/ops/image.py).
_declare("""
image_affine_transform: (images, transforms, interpolation, fill_mode, fill_value) -> sampled
image_affine_transform_grad: (cotangent, transforms, height, width, interpolation, fill_mode)
    -> the images' cotangent
""")

# Strings and vocabulary lookups (helper "preprocessing", tensorflux/ops/strings.py).
_declare("""
string_case: (x, upper) -> ASCII upper or lower case of each bytes string
string_regex_replace: (x, pattern, rewrite, replace_global) -> re.sub on each bytes string
string_split: (x, sep, maxsplit) -> (tokens padded with b"" [..., width], int64 lengths)
string_ngrams: (tokens, lengths, widths, separator) -> (ngrams padded with b"", int64 lengths)
lookup_index: (x, keys) -> int64 position of each element of x in 1-D keys, -1 if absent
""")

# CTC (helper "ctc-losses-metrics", tensorflux/ops/ctc.py; NumPy kernels in numpy_ctc.py).
_declare("""
ctc_loss: (labels, logits [B, T, C], label_length, logit_length, blank) -> (loss [B], float64
    log alphas [T, B, 2 * max_labels + 1])
ctc_loss_grad: (labels, logits, label_length, logit_length, log_alpha, loss, blank) -> d loss_b
    / d logits [B, T, C], zero past each logit_length
ctc_beam_search_decode: (logits [B, T, C], sequence_length, beam_width, top_paths, blank) ->
    (int32 paths [top_paths, B, T] padded with -1, log-probabilities [B, top_paths])
""")

# Fourier transforms (helper "signal", tensorflux/signal.py; NumPy kernels in numpy_fft.py):
# over the innermost axes, in the input's precision.
_declare("""
fft: (x, rank, inverse) -> the complex DFT of x over its last `rank` axes; inverse: the
    inverse DFT (conjugate twiddles, scaled by 1 / n)
rfft: (x, fft_length) -> the DFT of real x over its last len(fft_length) axes, x cropped or
    zero-padded to fft_length first; the last axis keeps fft_length[-1] // 2 + 1 terms
    (complex64 from float32, complex128 from float64)
irfft: (x, fft_length) -> the real signal of shape fft_length (last axes) whose rfft is x,
    x cropped or zero-padded to rfft's shape; the imaginary parts of self-conjugate terms
    are ignored
""")

# Special functions and other numeric kernels (helper "tf-numeric", tensorflux/ops/special.py,
# linalg_extra.py and sampling.py; NumPy kernels in numpy_special.py): elementwise ones
# broadcast their inputs and keep the (floating) dtype of the first.
_declare("""
asinh: (x) -> inverse hyperbolic sine
acosh: (x) -> inverse hyperbolic cosine, NaN below 1
atanh: (x) -> inverse hyperbolic tangent, +-inf at +-1
lgamma: (x) -> log|Gamma(x)|, inf at the non-positive integers
digamma: (x) -> d lgamma / dx, NaN at the non-positive integers
polygamma: (n, x) -> the n-th derivative of digamma for whole n >= 0, NaN for other n
zeta: (x, q) -> Hurwitz zeta sum_k (q + k)^-x; inf at x == 1, NaN for x < 1
igamma: (a, x) -> regularized lower incomplete gamma P(a, x); NaN for a <= 0 or x < 0
igammac: (a, x) -> regularized upper incomplete gamma Q(a, x) = 1 - P(a, x)
igamma_grad_a: (a, x) -> d P(a, x) / da
betainc: (a, b, x) -> regularized incomplete beta I_x(a, b); NaN outside a, b > 0, 0 <= x <= 1
erfc: (x) -> 1 - erf(x), relatively accurate in the tails
erfinv: (x) -> inverse of erf on [-1, 1]
erfcinv: (x) -> inverse of erfc on [0, 2]
ndtri: (p) -> inverse of the standard normal CDF on [0, 1]
bessel_i0e: (x) -> exp(-|x|) I0(x)
bessel_i1e: (x) -> exp(-|x|) I1(x)
bessel_j0: (x) -> the Bessel function of the first kind J0(x)
bessel_j1: (x) -> the Bessel function of the first kind J1(x)
bessel_y0: (x) -> the Bessel function of the second kind Y0(x), -inf for x <= 0
bessel_y1: (x) -> the Bessel function of the second kind Y1(x), -inf for x <= 0
bessel_k0e: (x) -> exp(x) K0(x), inf for x <= 0
bessel_k1e: (x) -> exp(x) K1(x), inf for x <= 0
dawsn: (x) -> Dawson's integral exp(-x^2) * integral_0^x exp(t^2) dt
expint: (x) -> the exponential integral Ei(x), -inf at 0, NaN below
fresnel_cos: (x) -> the Fresnel integral C(x) = integral_0^x cos(pi t^2 / 2) dt
fresnel_sin: (x) -> the Fresnel integral S(x) = integral_0^x sin(pi t^2 / 2) dt
spence: (x) -> Spence's function Li2(1 - x) for x >= 0, NaN below
nextafter: (x1, x2) -> the next representable value after x1 towards x2
cumulative_logsumexp: (x, axis, exclusive, reverse) -> log(cumsum(exp(x))) without overflow
lu: (x, output_idx_type) -> (lu, p) with x[..., p, :] = L U, partial pivoting; L unit lower
    below lu's diagonal, U on and above it
random_candidates: (probabilities, *seed_input, num_sampled, unique, seed) -> (int64 ids drawn
    from the probability vector, float64 number of draws made); with unique, drawing repeats
    until num_sampled distinct ids have come up
""")

# Bounding boxes (helper "tf-image", tensorflux/ops/image_boxes.py; NumPy kernels in
# numpy_image.py): boxes are [y1, x1, y2, x2], either corner first.
_declare("""
image_non_max_suppression: (boxes or overlaps, scores, iou_threshold, score_threshold,
    soft_nms_sigma, max_output_size, overlaps, tiled, padded) -> (int32 indices, their scores,
    int32 count): greedy NMS in descending score, ties in index order; soft-NMS when sigma > 0;
    tiled: suppress at IoU >= threshold, union + 1e-8; padded: zero-padded to max_output_size
image_combined_non_max_suppression: (boxes [B, N, q, 4], scores [B, N, C], iou_threshold,
    score_threshold, max_output_size_per_class, max_total_size, pad_per_class, clip_boxes) ->
    (float32 boxes [B, n, 4], scores [B, n], classes [B, n], int32 valid [B])
image_crop_and_resize: (image [B, H, W, C], boxes [N, 4], box_indices [N], crop_size, method,
    extrapolation_value) -> float32 crops [N, crop_h, crop_w, C]
image_crop_and_resize_grad_image: (grads, boxes, box_indices, image_shape, method) -> float32
    d loss / d image
image_crop_and_resize_grad_boxes: (grads, image, boxes, box_indices) -> float32 d loss / d
    boxes [N, 4] of bilinear sampling (whatever the forward method)
image_draw_bounding_boxes: (images [B, H, W, D], boxes [B, K, 4], colors [M, >= D]) -> the
    images with each box's outline drawn in colors[k % M]
image_sample_distorted_bounding_box: (image_size [3], boxes [B, K, 4], uniforms [attempts, 4],
    min_object_covered, aspect_ratio_range, area_range) -> (begin [3], size [3] in
    image_size's dtype, float32 bboxes [1, 1, 4]): the first acceptable drawn crop, else the
    whole image
""")
