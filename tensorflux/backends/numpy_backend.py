"""The CPU backend: every kernel of backends.KERNELS on NumPy arrays."""

import contextlib
import ctypes
import math
import os
import queue
import sys
import threading
import warnings

import numpy as np

from tensorflux import dtypes
from tensorflux.backends import numpy_conv_native, numpy_denormals

name = "numpy"

# NumPy warns on 1/0, log(0), inf-inf...; TensorFlow returns inf/nan silently, and so do we.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"tensorflux(\.|$)")

# glibc gives freed heap memory back to the OS once the free space at the heap's top passes a
# trim threshold, which it raises (with the mmap threshold) to the size of the largest block
# it has mmapped and then freed, up to 32 MiB (mallopt(3), M_MMAP_THRESHOLD). With the
# default thresholds every training step returns its activations' memory and faults it in
# again: ~3000 page faults and 5-9 ms of system time per step of the MNIST convnet (W2).
# One untouched 31 MiB block, allocated and freed here, raises both thresholds once for the
# process (freed memory up to 62 MiB stays with it); elsewhere it only costs two calls.
np.empty(31 << 20, np.uint8)

_NATIVE = {d: np.dtype(d.name) for d in dtypes._ALL if d.name not in ("bfloat16", "string")}
_NATIVE[dtypes.string] = np.dtype(object)
dtypes._BY_NATIVE.update({v: k for k, v in _NATIVE.items() if k is not dtypes.string})
dtypes._BY_NATIVE.update({np.dtype(object): dtypes.string, np.dtype("S"): dtypes.string})
for _scalar_type, _dtype in [(np.float32, dtypes.float32), (np.float64, dtypes.float64),
                             (np.float16, dtypes.float16), (np.int32, dtypes.int32),
                             (np.int64, dtypes.int64), (np.bool_, dtypes.bool)]:
    dtypes._BY_NATIVE[_scalar_type] = _dtype


def _quiet(kernel):
    """For kernels that call NumPy's Python-level functions (tensordot, einsum, linalg):
    their floating-point warnings are raised from NumPy's frames, which the filter above does
    not cover; inf and NaN results stay silent, as in TensorFlow."""
    def quiet_kernel(*args, **kwargs):
        with np.errstate(all="ignore"):
            return kernel(*args, **kwargs)
    quiet_kernel.__name__ = kernel.__name__
    quiet_kernel.__doc__ = kernel.__doc__
    return quiet_kernel


# ---- threads (helper)
# NumPy runs its ufunc loops, copies and reductions on one core, with the GIL released for
# large arrays; only BLAS uses more, on threads of its own. Those threads busy-wait for about
# 0.1 s after each GEMM (OpenBLAS), longer than the gaps between a training step's GEMMs, so
# no other thread gets their cores. This backend therefore owns the threading: once its first
# split runs, OpenBLAS is set to one thread, and kernels over large arrays cut their work into
# pieces (blocks of rows, slices of a batch, the rows or columns of a GEMM) for _in_parallel to
# run on this thread and the pool's workers at once. Where OpenBLAS's thread count cannot be
# set (another BLAS, no /proc/self/maps), nothing is split and BLAS keeps its own threads.
# TENSORFLUX_NUM_THREADS or tf.config.threading.set_intra_op_parallelism_threads sets the
# count (1: no pool, BLAS left as it was); the CuPy backend sets _THREADS to 1.

# Beyond this many cores BLAS's own threads are kept: a GEMM split more ways than this on
# Python threads gains less than OpenBLAS's own split.
_OWNED_CORES_MAX = 8


def _default_threads():
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores if cores <= _OWNED_CORES_MAX else 1


def _thread_count():
    value = os.environ.get("TENSORFLUX_NUM_THREADS", "").strip()
    if value:
        try:
            count = int(value)
        except ValueError:
            count = -1
        if count < 0:
            raise ValueError(f"TENSORFLUX_NUM_THREADS must be a whole number of threads (0 for "
                             f"the default), received {value!r}")
        if count:
            return count
    return _default_threads()


def _one_asked(count):
    """Whether set_threads(count) asks for one thread: 1, or 0 (the default) where
    TENSORFLUX_NUM_THREADS says 1. One asked for holds OpenBLAS to one thread too, as
    TensorFlow's intra-op setting of 1 and PyTorch's set_num_threads(1) make their kernels
    single-threaded; a default of one (a machine of one core) leaves BLAS its threads."""
    return count == 1 or count == 0 and os.environ.get(
        "TENSORFLUX_NUM_THREADS", "").strip() not in ("", "0") and _thread_count() == 1


_THREADS = _thread_count()
_ONE_ASKED = _one_asked(0)
# Work over fewer bytes than this (read and written) runs on the calling thread alone:
# waking a worker and waiting for it costs about as much as a loop over this much memory.
_PARALLEL_MIN_BYTES = 1 << 20
_pool_tasks = []  # one task queue per worker thread, started on first use
_pool_lock = threading.Lock()  # one split at a time; a nested or concurrent one runs serially
# OpenBLAS's (set_num_threads, get_num_threads, the count it had) once this backend has set
# it to one thread; None before the first split or product; False where it could not be found.
_blas = None
_blas_lock = threading.Lock()


# ---- subnormal floats (helper)
# A compiled run (a tf.function call, a Keras step) flushes subnormal floats to zero on its
# thread, as TensorFlow's and XLA's CPU kernels do: see numpy_denormals. The executor wraps
# each plan runner with flushing_denormals, and Keras its batch loops and eager steps.
flushing_denormals = numpy_denormals.flushing


def _find_openblas():
    """(set_num_threads, get_num_threads) of the OpenBLAS that NumPy calls, found among the
    libraries this process has loaded (its own copy in numpy.libs first), or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps
                     if "openblas" in line.lower() and len(line.split(None, 5)) == 6}
    except OSError:  # not Linux
        return None
    # NumPy's wheels carry their own copy in numpy.libs (SciPy's has another in scipy.libs).
    for path in sorted(paths, key=lambda path: "numpy" not in os.path.dirname(path)):
        try:
            library = ctypes.CDLL(path)  # already loaded: the same handle, nothing runs
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                set_threads = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
                get_threads = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
                if set_threads is not None and get_threads is not None:
                    set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                    get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                    return set_threads, get_threads
    return None


def _own_blas():
    """Whether BLAS runs on one thread, so that splits may use the other cores: on the
    first call, sets OpenBLAS to one thread where it is found. Called on the first split and
    on the first matrix product: a process whose products are all too small to split (an
    MLP's) would otherwise leave OpenBLAS's threads spinning after each small GEMM on the
    cores the pool and other processes need (an eager step's median +5%, and runs of
    steps 10-70x slower on a loaded 2-core machine)."""
    global _blas
    with _blas_lock:  # (two threads' first products: one records OpenBLAS's own count)
        if _blas is None:
            found = _find_openblas()
            if found is None:
                _blas = False
            else:
                set_threads, get_threads = found
                _blas = (set_threads, get_threads, get_threads())
                set_threads(1)
    return _blas is not False


def set_threads(count):
    """Sets the number of threads this backend's kernels use (0: the default, from
    TENSORFLUX_NUM_THREADS or this machine). One asked for holds OpenBLAS to one thread
    too; a default of one (a machine of one core) gives it back the thread count it had."""
    global _THREADS, _ONE_ASKED
    _THREADS = _thread_count() if count == 0 else count
    _ONE_ASKED = _one_asked(count)
    if _blas:
        set_threads_, _, original = _blas
        set_threads_(1 if _THREADS > 1 or _ONE_ASKED else original)


@contextlib.contextmanager
def blas_as_found():
    """Within the block, OpenBLAS runs with the thread count it had before this backend set
    it to one (for measuring BLAS alone, as a benchmark's sgemm rate)."""
    owned = _blas
    if owned:
        owned[0](owned[2])
    try:
        yield
    finally:
        if owned:
            owned[0](1 if _THREADS > 1 or _ONE_ASKED else owned[2])


def _pool_work(tasks):
    flushing = False
    while True:
        run, pieces, claim, done, caller_flushing = tasks.get()
        if caller_flushing is not flushing:  # the caller's floating-point mode, see below
            numpy_denormals.set_flushing(caller_flushing)
            flushing = caller_flushing
        for i in claim:
            try:
                run(pieces[i])
            except BaseException as error:  # handed to the caller, which raises it
                done.put(error)
            else:
                done.put(None)


def _pool_start(workers):
    while len(_pool_tasks) < workers:
        tasks = queue.SimpleQueue()
        thread = threading.Thread(target=_pool_work, args=(tasks,), daemon=True,
                                  name=f"tensorflux-kernels-{len(_pool_tasks) + 1}")
        thread.start()
        _pool_tasks.append(tasks)


def _pool_reset():
    # After fork the child has none of the parent's threads (OpenBLAS keeps its setting).
    global _pool_lock
    _pool_tasks.clear()
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool_reset)


def _pieces(count, nbytes):
    """Slices of range(count) for _in_parallel to run work over `nbytes` in: one where that
    work stays on this thread, else a few per thread (a thread that starts late takes fewer)."""
    if _THREADS < 2 or nbytes < _PARALLEL_MIN_BYTES:
        return [slice(None)]
    step = -(-count // min(count, 4 * _THREADS))
    return [slice(start, start + step) for start in range(0, count, step)]


def _in_parallel(run, pieces, nbytes):
    """Calls run(piece) once for every piece, in any order, on this thread and the pool's
    worker threads at once when the work spans at least _PARALLEL_MIN_BYTES; returns when all
    are done, raising the first exception any of them raised. Each piece must write memory
    of its own.

    Each thread claims the next unclaimed piece until none is left, so a worker that the
    OS schedules late costs little: this thread does the pieces meanwhile."""
    threads = min(_THREADS, len(pieces))
    if (threads < 2 or nbytes < _PARALLEL_MIN_BYTES or not _own_blas()
            or not _pool_lock.acquire(blocking=False)):
        for piece in pieces:
            run(piece)
        return
    try:
        if len(_pool_tasks) < threads - 1:
            _pool_start(threads - 1)
        claim = iter(range(len(pieces)))  # next() on it is atomic under the GIL
        done = queue.SimpleQueue()
        # The workers flush subnormals when this thread does (a compiled run), so a piece's
        # numbers do not depend on the thread that computed it.
        flushing = numpy_denormals.flushing_now()
        for i in range(threads - 1):
            _pool_tasks[i].put((run, pieces, claim, done, flushing))
        error = None
        mine = 0
        for i in claim:
            mine += 1
            try:
                run(pieces[i])
            except BaseException as caught:
                error = error or caught
        for _ in range(len(pieces) - mine):  # the workers' pieces may still be running
            caught = done.get()
            error = error or caught
        if error is not None:
            raise error
    finally:
        _pool_lock.release()


# A GEMM of fewer multiply-adds than this runs whole on this thread: splitting it saves less
# than handing half to a worker costs (about 50 us).
_GEMM_SPLIT_MIN = 1 << 24
# A product too small to split whose second matrix has at least this many elements (a few
# rows times a layer's weights: single-sample inference) is a pass over memory that two
# threads read faster, and too short for a hand-off to the pool: it runs on OpenBLAS's own
# threads (784x1024 weights: 37 -> 28 us). Its workers then spin for a while, as they do
# for NumPy's own products.
_BLAS_THREADS_MIN_SIZE = 1 << 18


def _threaded_product(a, b):
    """Whether _gemm runs a @ b (2-D) on more than this thread: split, or on BLAS's threads."""
    return _THREADS > 1 and (a.shape[0] * a.shape[1] * b.shape[1] >= _GEMM_SPLIT_MIN
                             or b.size >= _BLAS_THREADS_MIN_SIZE)


def _matmul_2d(a, b, out=None):
    """np.matmul(a, b, out=out), through _gemm where it may use the threads: 2-D float
    operands that BLAS takes as they are."""
    if _blas is None and (_THREADS > 1 or _ONE_ASKED):
        _own_blas()
    if (a.ndim == 2 and b.ndim == 2 and a.dtype.char in "fdFD" and _threaded_product(a, b)
            and a.dtype == b.dtype and (out is None or out.dtype == a.dtype)
            and (a.flags.c_contiguous or a.flags.f_contiguous)
            and (b.flags.c_contiguous or b.flags.f_contiguous)):
        return _gemm(a, b, out)
    if out is None:
        return _in_dtype(np.matmul(a, b), a)
    return np.matmul(a, b, out=out)


def _gemm(a, b, out=None):
    """a @ b for 2-D float arrays that BLAS takes as they are (C- or F-ordered), into `out`
    where given: a GEMM large enough is split over the threads by the rows of a or the
    columns of b, the longer, each piece one single-threaded BLAS call (the sum over the
    shared dimension is never split, so the pieces' numbers are those of the whole); a few
    rows over a large matrix run on OpenBLAS's own threads."""
    pieces = _gemm_pieces(a, b)
    if pieces is None:
        owned = _blas
        if owned and _THREADS > 1 and b.size >= _BLAS_THREADS_MIN_SIZE:
            owned[0](owned[2])
            try:
                return a.dot(b) if out is None else np.matmul(a, b, out=out)
            finally:
                owned[0](1)
        return a.dot(b) if out is None else np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), np.result_type(a.dtype, b.dtype))
    _in_parallel(lambda piece: _gemm_piece(a, b, out, piece), pieces, _PARALLEL_MIN_BYTES)
    return out


def _gemm_pieces(a, b):
    """The pieces _gemm splits a @ b into ((True, rows of a) or (False, columns of b), the
    longer), or None where it runs whole."""
    m, k = a.shape
    n = b.shape[1]
    threads = _THREADS
    # (NumPy runs a.T @ a as one syrk, which a split would change to GEMMs: kept whole.)
    if (threads < 2 or m * n * k < _GEMM_SPLIT_MIN or np.may_share_memory(a, b)
            or not _own_blas()):
        return None
    long = max(m, n)
    step = -(-long // threads)
    return [(m >= n, slice(start, start + step)) for start in range(0, long, step)]


def _gemm_piece(a, b, out, piece):
    by_rows, part = piece
    if by_rows:
        np.matmul(a[part], b, out=out[part])
    else:
        np.matmul(a, b[:, part], out=out[:, part])


def native_dtype(dtype):
    """The numpy.dtype of a DType; bfloat16 comes from ml_dtypes, imported on first use."""
    found = _NATIVE.get(dtype)
    if found is None and dtype is dtypes.bfloat16:
        try:
            import ml_dtypes
        except ImportError as error:
            raise TypeError("bfloat16 needs the ml_dtypes package (pip install ml_dtypes)") \
                from error
        found = _NATIVE[dtype] = np.dtype(ml_dtypes.bfloat16)
        dtypes._BY_NATIVE[found] = dtype
    if found is None:
        raise TypeError(f"The numpy backend has no dtype {dtype.name}")
    return found


def dtype_of(array):
    """The DType of an array; used when the fast dict lookup misses (bytes, bfloat16)."""
    kind = array.dtype.kind
    if kind in "SUO":
        return dtypes.string
    return dtypes.as_dtype(array.dtype.name)


# ---------------------------------------------------------------- creation and conversion

def asarray(value, dtype):
    if dtype is dtypes.string:
        return _string_array(value)
    return np.asarray(value, dtype=native_dtype(dtype))


def stacked_values(items):
    """np.array of host values with None for unknown ones (tf.get_static_value(partial=True)
    of a tf.stack): a NumPy array where they stack, else an object array, as TF builds it.
    A host helper of tensorflux/graph/static.py, not a kernel."""
    try:
        return np.array(items)
    except ValueError:
        return np.array(items, dtype=object)


def _string_array(value):
    # (a copy: the caller's object array, maybe read-only as a pandas column's, is untouched)
    array = np.array(value, dtype=object)
    flat = array.reshape(-1)
    for i, item in enumerate(flat):
        if isinstance(item, str):
            flat[i] = item.encode("utf-8")
        elif not isinstance(item, bytes):
            raise TypeError(f"A string tensor holds str or bytes, received {type(item).__name__}")
    return array


def infer_array(value):
    """Converts a Python or NumPy value with TensorFlow's dtype inference.

    NumPy values keep their dtype; Python floats become float32 and Python ints int32
    (int64 when a value does not fit), as tf.constant does.
    """
    if not isinstance(value, (np.ndarray, np.generic)) and hasattr(value, "__array__"):
        value = np.asarray(value)  # (a pandas column: its own dtype, as TensorFlow keeps it)
    if isinstance(value, (np.ndarray, np.generic)):
        return value if value.dtype.kind not in "SUO" else _string_array(value)
    array = np.asarray(value)
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32)
    if kind == "i":
        if array.size == 0 or (array.min() >= -2**31 and array.max() < 2**31):
            return array.astype(np.int32)
        return array
    if kind in "SUO":
        return _string_array(value)
    return array


def to_numpy(x):
    # TensorFlow gives rank-0 results as NumPy scalars (np.float32(1.0)), not 0-d arrays.
    if x.ndim == 0 and isinstance(x, np.ndarray):
        return x[()]
    return x


def copy(x):
    return np.array(x, copy=True)


def fill(shape, value, dtype):
    return np.full(shape, value, dtype=native_dtype(dtype))


def shape_of(x):
    return x.shape


def alias(x):
    return x


def all_nonzero(x):
    return bool(np.all(x != 0))


def any_negative(x):
    return bool(np.any(x < 0))


def any_nan(x):
    return bool(np.isnan(x).any())


def fill_like(x, value, dtype):
    return np.full(np.shape(x), value, dtype=native_dtype(dtype))


def assign(target, value, kind):
    """In place: the Variable's buffer is the output; returns no tensors."""
    if kind == "assign":
        np.copyto(target, value)
    elif kind == "assign_add":
        np.add(target, value, out=target)
    else:
        np.subtract(target, value, out=target)
    return ()


# ---------------------------------------------------------------- elementwise

add = np.add
subtract = np.subtract
multiply = np.multiply
divide = np.true_divide
floordiv = np.floor_divide
floormod = np.mod
maximum = np.maximum
minimum = np.minimum
atan2 = np.arctan2
negative = np.negative
sign = np.sign
square = np.square
sqrt = np.sqrt
exp = np.exp
expm1 = np.expm1
log = np.log
log1p = np.log1p
sin = np.sin
cos = np.cos
tan = np.tan
tanh = np.tanh
sinh = np.sinh
cosh = np.cosh
asin = np.arcsin
acos = np.arccos
atan = np.arctan
floor = np.floor
ceil = np.ceil
round = np.rint  # noqa: A001 - half to even, as TensorFlow
real = np.real
imag = np.imag
conj = np.conjugate
angle = np.angle
equal = np.equal
not_equal = np.not_equal
less = np.less
less_equal = np.less_equal
greater = np.greater
greater_equal = np.greater_equal
logical_and = np.logical_and
logical_or = np.logical_or
logical_xor = np.logical_xor
logical_not = np.logical_not
bitwise_not = np.invert
bitwise_and = np.bitwise_and
bitwise_or = np.bitwise_or
bitwise_xor = np.bitwise_xor


def left_shift(x, y):
    # TF clamps the shift to [0, bits - 1]; C (and NumPy) leave wider shifts undefined.
    return np.left_shift(x, np.clip(y, 0, x.dtype.itemsize * 8 - 1))


def right_shift(x, y):
    return np.right_shift(x, np.clip(y, 0, x.dtype.itemsize * 8 - 1))


is_nan = np.isnan
is_finite = np.isfinite
is_inf = np.isinf
# Same-size unsigned integers to select 2/4/8-byte values through, bit for bit.
_SELECT_BITS = {2: np.uint16, 4: np.uint32, 8: np.uint64}
# Below this many elements np.where is as fast as the extra passes of the bitwise select.
_SELECT_BITWISE_MIN = 4096


def select(condition, x, y):
    """x where condition else y, broadcasting. np.where branches per element, which costs
    ~10x a plain ufunc pass on unpredictable masks (e.g. a ReLU gradient); large selects
    between values of one numeric dtype are done branch-free on the values' bits instead:
    y ^ ((x ^ y) & m) with m all ones where the condition holds. It copies the bits, so
    NaN payloads, -0.0 and infinities come through exactly as np.where gives them."""
    if condition.size < _SELECT_BITWISE_MIN and x.size < _SELECT_BITWISE_MIN and \
            y.size < _SELECT_BITWISE_MIN:
        return np.where(condition, x, y)  # (small: decided before the dtype checks)
    bits = _SELECT_BITS.get(x.dtype.itemsize)
    if (bits is None or x.dtype != y.dtype or x.dtype.kind not in "fiuc"
            or condition.dtype != np.bool_ or not condition.ndim
            or max(condition.size, x.size, y.size) < _SELECT_BITWISE_MIN):
        return np.where(condition, x, y)
    mask = condition.astype(bits)
    np.negative(mask, out=mask)  # 0 or all ones (unsigned negation wraps)
    x_bits, y_bits = x.view(bits), y.view(bits)
    # The mask's buffer takes the result when it has the broadcast shape (the usual case).
    out = mask if _fits(mask.shape, (x_bits, y_bits)) else None
    if not y.ndim and not y_bits.item():  # y is +0 (all bits clear): x & m
        return np.bitwise_and(mask, x_bits, out=out).view(x.dtype)
    out = np.bitwise_and(mask, np.bitwise_xor(x_bits, y_bits), out=out)  # y ^ ((x ^ y) & m)
    return np.bitwise_xor(out, y_bits, out=out).view(x.dtype)


def string_join(x, y):
    return np.asarray(np.char.add(x.astype(bytes), y.astype(bytes)), dtype=object)


def abs(x):  # noqa: A001
    return np.abs(x)


def pow(x, y):  # noqa: A001
    return np.power(x, y)


def rsqrt(x):
    return 1 / np.sqrt(x)


def reciprocal(x):
    return np.reciprocal(x) if x.dtype.kind in "fc" else 1 / x


def sigmoid(x):
    if x.dtype.kind == "c":  # no ordering to split on; TF's complex sigmoid is the formula
        return 1 / (1 + np.exp(-x))
    # exp of a non-positive number never overflows; the two branches meet at 0. The result
    # is 1/d where x >= 0, else e/d, with e = exp(-|x|) and d = 1 + e; that numerator is
    # exp(min(x, 0)): exp of the same number where x < 0, exp(0) == 1 elsewhere (NaN stays
    # NaN), without a select. -|x| is copysign(x, -1), bit for bit, in one pass.
    # (_fused_sigmoid_lines is this, inlined in fused programs.)
    d = np.exp(np.copysign(x, -1))
    d += 1
    out = np.exp(np.minimum(x, 0))
    out /= d
    return out if out.dtype == x.dtype else out.astype(x.dtype)


def softplus(x):
    return np.logaddexp(np.zeros((), x.dtype), x)


def softsign(x):
    return x / (1 + np.abs(x))


_erf_scalar = None


def erf(x):
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:
        import math

        global _erf_scalar
        if _erf_scalar is None:
            _erf_scalar = np.frompyfunc(math.erf, 1, 1)
        # frompyfunc gives a Python float, not an array, for a 0-d input.
        return np.asarray(_erf_scalar(x), dtype=x.dtype)
    return scipy_erf(x).astype(x.dtype, copy=False)


def complex(re, im):  # noqa: A001
    dtype = np.complex64 if re.dtype == np.float32 else np.complex128
    return (re + 1j * im).astype(dtype)


def cast(x, dtype):
    target = native_dtype(dtype)
    if x.dtype.kind == "f" and target.kind in "iu":
        # TF truncates toward zero; NaN and out-of-range values are undefined there too.
        x = np.trunc(x)
    return np.asarray(x).astype(target)


# ---------------------------------------------------------------- reductions

# A float32/float64 sum of 1 to _SUM_BY_DOT_MAX elements of a C-contiguous array, over all
# axes or over either axis of a matrix, is a product with a ones vector (BLAS dot/gemv): 2-3x
# cheaper than ufunc.reduce there, whose cost at these sizes is its per-call set-up. The
# results differ from NumPy's pairwise sum by rounding only (both add in SIMD lanes), and an
# all -0.0 sum is +0.0, as in TensorFlow.
_SUM_BY_DOT_MAX = 1024
_SUM_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_SUM_ONES = ([None] * (_SUM_BY_DOT_MAX + 1), [None] * (_SUM_BY_DOT_MAX + 1))


def _sum_ones(n, dtype):
    table = _SUM_ONES[dtype is _SUM_FLOATS[1]]
    ones = table[n]
    if ones is None:
        ones = table[n] = np.ones(n, dtype)
    return ones


# A float sum over the leading axes of a larger C-contiguous array (a bias gradient over a
# batch of images: (n*h*w, channels) rows) is ones @ rows, a GEMV: NumPy's reduction adds
# such rows one at a time into a short accumulator, ~7x slower than the GEMV, and no more
# accurately (both sum each column in order; the GEMV in several partial sums).
_SUM_ROWS_BY_DOT_MIN = 1 << 14
_SUM_ROWS_ONES = {}  # (row count, dtype) -> ones vector


def _ones(count, dtype):
    ones = _SUM_ROWS_ONES.get((count, dtype))
    if ones is None:
        if len(_SUM_ROWS_ONES) >= 16:  # a few shapes recur in training; bound the rest
            _SUM_ROWS_ONES.clear()
        ones = _SUM_ROWS_ONES[(count, dtype)] = np.ones(count, dtype)
    return ones


def _sum_rows(x, lead, dtype, keepdims=False):
    count = 1
    for size in x.shape[:lead]:
        count *= size
    total = _ones(count, dtype).dot(x.reshape(count, -1))
    return total.reshape(((1,) * lead if keepdims else ()) + x.shape[lead:])


def _sums_rows(x, axis):
    """Whether a float sum of C-contiguous x over `axis` runs as _sum_rows."""
    return (x.size >= _SUM_ROWS_BY_DOT_MIN and axis is not None and 0 < len(axis) < x.ndim
            and axis == tuple(range(len(axis))))


def reduce_sum(x, axis, keepdims):
    dtype = x.dtype
    if (dtype is _SUM_FLOATS[0] or dtype is _SUM_FLOATS[1]) and x.flags.c_contiguous:
        if keepdims:
            if _sums_rows(x, axis):
                return _sum_rows(x, len(axis), dtype, keepdims=True)
        elif 0 < x.size <= _SUM_BY_DOT_MAX:
            if axis is None or len(axis) == x.ndim:
                return x.reshape(-1).dot(_sum_ones(x.size, dtype))
            if x.ndim == 2:
                if axis == (1,):
                    return x.dot(_sum_ones(x.shape[1], dtype))
                if axis == (0,):  # (a bias gradient)
                    return _sum_ones(x.shape[0], dtype).dot(x)
        elif _sums_rows(x, axis):
            return _sum_rows(x, len(axis), dtype)
    # Positional arguments (axis, dtype, out, keepdims): the cheapest call of a hot kernel.
    if keepdims:
        return np.add.reduce(x, axis, x.dtype, None, True)
    return np.add.reduce(x, axis, x.dtype)


def reduce_mean(x, axis, keepdims):
    if x.dtype.kind in "iu":
        count = 1
        for a in axis:
            count *= x.shape[a]
        total = np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
        if not count:
            return total
        # TensorFlow truncates toward zero: mean([-1, -2]) == -1 for integers.
        return (np.sign(total) * (np.abs(total) // count)).astype(x.dtype)
    if axis == (1, 2):
        spatial = _spatial_mean(x, keepdims)
        if spatial is not None:
            return spatial
    count = 1
    for a in axis:
        count *= x.shape[a]
    if x.dtype in _SUM_FLOATS and x.flags.c_contiguous and _sums_rows(x, axis):
        # As reduce_sum sums over leading axes (BatchNormalization's moments over a batch of
        # images: 0.95 -> 0.2 ms for 64x32x32x32).
        total = _sum_rows(x, len(axis), x.dtype, keepdims)
    else:
        # add.reduce then divide, called from here so NumPy's empty-slice warning stays
        # quiet.
        total = np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
    return np.true_divide(total, x.dtype.type(count) if count else x.dtype.type(0))


def _spatial_mean(x, keepdims):
    """The float mean over axes (1, 2) of a C-contiguous NHWC ndarray (GlobalAveragePooling2D,
    a squeeze-and-excitation squeeze) by numpy_reduce_native, the same bits as add.reduce
    then true_divide, threaded over the images; None where that kernel does not apply."""
    if type(x) is not np.ndarray or x.ndim != 4 or x.dtype not in _SUM_FLOATS:
        return None
    from tensorflux.backends import numpy_reduce_native

    n, _, _, c = x.shape
    out = np.empty((n, 1, 1, c) if keepdims else (n, c), x.dtype)
    run = numpy_reduce_native.spatial_mean_images(x, out)
    if run is None:
        return None
    pieces = [slice(None)] if x.nbytes < numpy_reduce_native.SPLIT_BYTES else _pieces(n, x.nbytes)
    _in_parallel(lambda images: run(*images.indices(n)[:2]), pieces, x.nbytes)
    return out


# ---------------------------------------------------------------- shapes

def reshape(x, shape):
    try:
        return np.reshape(x, shape)
    except ValueError:
        if x.size or -1 not in shape or 0 not in shape:
            raise
        # TF's rule for an empty tensor whose new shape has a 0: the -1 comes from the
        # non-zero dims alone ((0, 3) -> (0, -1) gives (0, 3)); NumPy refuses to guess.
        inferred = _nonzero_product(x.shape) // _nonzero_product(shape)
        return np.reshape(x, tuple(inferred if d == -1 else d for d in shape))


def _nonzero_product(dims):
    total = 1
    for d in dims:
        total *= d if d > 0 else 1
    return total


def broadcast_to(x, shape):
    return np.broadcast_to(x, shape)


def stack(*xs, axis):
    return np.stack(xs, axis=axis)


def unstack(x, num, axis):
    return tuple(np.moveaxis(x, axis, 0))


def one_hot(indices, depth, on_value, off_value, axis, dtype):
    native = native_dtype(dtype)
    hot = np.asarray(indices)[..., None] == np.arange(depth)
    out = np.where(hot, np.asarray(on_value, native), np.asarray(off_value, native))
    if axis != -1 and axis != indices.ndim:
        out = np.moveaxis(out, -1, axis)
    return out


# ---------------------------------------------------------------- linear algebra

def matmul(a, b, transpose_a, transpose_b):
    if _blas is None and (_THREADS > 1 or _ONE_ASKED):
        _own_blas()  # (from the first product, split or not: see _own_blas)
    if a.ndim == 2 and b.ndim == 2:
        if transpose_a:
            a = a.T
        if transpose_b:
            b = b.T
        if (a.dtype.char in "fdFD"  # b has a's dtype (the op)
                and (a.flags.c_contiguous or a.flags.f_contiguous)
                and (b.flags.c_contiguous or b.flags.f_contiguous)):
            # ndarray.dot skips the gufunc set-up np.matmul pays (and np.dot's dispatch),
            # about half of a small product. For contiguous float matrices both make the same
            # BLAS call (gemm, gemv or syrk), so the result is bit-identical; strided operands
            # can differ (matmul may loop without BLAS), so they keep np.matmul. A large
            # product runs on the threads (_gemm). (m*k*n <= a.size * b.size: a cheap first
            # test for the small products that never do.)
            b_size = b.size
            if b_size < _BLAS_THREADS_MIN_SIZE and a.size * b_size < _GEMM_SPLIT_MIN:
                return a.dot(b)
            return _gemm(a, b)
        return _in_dtype(np.matmul(a, b), a)
    if b.ndim == 2 and a.ndim > 2 and not transpose_a and a.flags.c_contiguous:
        # one GEMM over all rows instead of NumPy's loop of one per batch matrix
        out = _matmul_2d(a.reshape(-1, a.shape[-1]), b.T if transpose_b else b)
        return out.reshape(a.shape[:-1] + out.shape[-1:])
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return _in_dtype(np.matmul(a, b), a)


def _in_dtype(result, a):
    """A product in its operands' dtype: ml_dtypes' bfloat16 matmul returns float32 (its
    accumulator); TensorFlow's rounds back to bfloat16."""
    return result if result.dtype == a.dtype else result.astype(a.dtype)


# ---------------------------------------------------------------- indexing

def _index_key(key, indices):
    """An ops/indexing.py key (slices as triples, "input" for index arrays) for NumPy."""
    arrays = iter(indices)
    return tuple(next(arrays) if isinstance(k, str) else slice(*k) if isinstance(k, tuple)
                 else k for k in key)


def getitem(x, *indices, key):
    out = x[_index_key(key, indices)]
    # A basic index gives a view; copy so a later Variable.assign cannot change the result.
    return out.copy() if np.may_share_memory(out, x) else np.asarray(out)


def getitem_grad(g, *indices, shape, key):
    out = np.zeros(shape, dtype=g.dtype)
    if indices:
        np.add.at(out, _index_key(key, indices), g)  # repeated indices add up
    else:
        out[_index_key(key, indices)] = g
    return out


def where_indices(condition):
    return np.argwhere(condition).astype(np.int64)


# ---- host interchange (lead): not kernels, used by Tensor.__array__ and __dlpack__

def host_array(x, dtype=None, copy=None):
    value = np.asarray(x)
    if dtype is not None and value.dtype != dtype:
        return value.astype(dtype)
    return value.copy() if copy else value


def dlpack(x, *args, **kwargs):
    return np.asarray(x).__dlpack__(*args, **kwargs)


# ---- reductions (helper)

def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _highest(dtype):
    return np.inf if dtype.kind == "f" else np.iinfo(dtype).max


def _empty_reduction(x, axis, keepdims, identity):
    """TensorFlow's identity element where the reduced axes are empty (NumPy would raise);
    built with `full` rather than ufunc.reduce's `initial`, which CuPy lacks."""
    axes = range(x.ndim) if axis is None else \
        [a % x.ndim for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]
    shape = [1 if i in axes else n for i, n in enumerate(x.shape)] if keepdims else \
        [n for i, n in enumerate(x.shape) if i not in axes]
    return np.full(shape, identity, dtype=x.dtype)


def reduce_max(x, axis, keepdims):
    if x.size == 0:
        return _empty_reduction(x, axis, keepdims, _lowest(x.dtype))
    return np.asarray(np.max(x, axis=axis, keepdims=keepdims))


def reduce_min(x, axis, keepdims):
    if x.size == 0:
        return _empty_reduction(x, axis, keepdims, _highest(x.dtype))
    return np.asarray(np.min(x, axis=axis, keepdims=keepdims))


def reduce_prod(x, axis, keepdims):
    return np.asarray(np.multiply.reduce(x, axis=axis, keepdims=keepdims, dtype=x.dtype))


def reduce_any(x, axis, keepdims):
    return np.asarray(np.any(x, axis=axis, keepdims=keepdims))


def reduce_all(x, axis, keepdims):
    return np.asarray(np.all(x, axis=axis, keepdims=keepdims))


def reduce_logsumexp(x, axis, keepdims):
    # Shift by the (finite) maximum so that exp never overflows and the largest term is 1.
    shift = reduce_max(x, axis, True)
    shift = np.where(np.isfinite(shift), shift, 0).astype(x.dtype)
    total = np.add.reduce(np.exp(x - shift), axis=axis, keepdims=True, dtype=x.dtype)
    with np.errstate(divide="ignore"):  # log(0) = -inf is the answer for all -inf inputs
        out = np.log(total) + shift
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return np.asarray(out, dtype=x.dtype)


def argmax(x, axis, output_type):
    return np.asarray(np.argmax(x, axis=axis), dtype=native_dtype(output_type))


def argmin(x, axis, output_type):
    return np.asarray(np.argmin(x, axis=axis), dtype=native_dtype(output_type))


def _scan(ufunc, x, axis, exclusive, reverse, identity):
    if reverse:
        x = np.flip(x, axis)
    out = ufunc.accumulate(x, axis=axis, dtype=x.dtype)
    if exclusive:
        shifted = np.empty_like(out)
        head = [slice(None)] * x.ndim
        tail, body = list(head), list(head)
        head[axis], tail[axis], body[axis] = slice(0, 1), slice(1, None), slice(None, -1)
        shifted[tuple(head)] = identity
        shifted[tuple(tail)] = out[tuple(body)]
        out = shifted
    if reverse:
        out = np.flip(out, axis)
    return np.ascontiguousarray(out)


def cumsum(x, axis, exclusive, reverse):
    return _scan(np.add, x, axis, exclusive, reverse, 0)


def cumprod(x, axis, exclusive, reverse):
    return _scan(np.multiply, x, axis, exclusive, reverse, 1)


def top_k(x, k, sorted, index_type):  # noqa: A002 - TensorFlow's attribute name
    # A stable ascending sort of the reversed axis, read backwards, is descending with the
    # lower index first among ties (TensorFlow's order), and needs no negation (unsigned ints).
    last = x.shape[-1]
    order = np.argsort(x[..., ::-1], axis=-1, kind="stable")[..., ::-1][..., :k]
    indices = last - 1 - order
    values = np.take_along_axis(x, indices, axis=-1)
    return values, indices.astype(native_dtype(index_type))


# ---- random (helper)
# Each kernel builds a fresh Philox bit generator from its seed tuple (hashed by
# SeedSequence), so a random op is a pure function of its seed: the `seed` attribute eagerly,
# or, in traced graphs (seed=None), a last input from a `random_seed_stream` node.

def _philox(seed_input, seed):
    seed = seed_input[0] if seed_input else seed
    return np.random.Generator(np.random.Philox(np.random.SeedSequence(
        [int(s) for s in seed])))


def _draw_dtype(native):
    # NumPy draws float32/float64 directly; half precisions are drawn in float32 and rounded.
    return native if native in (np.float32, np.float64) else np.dtype(np.float32)


def random_normal(*seed_input, shape, dtype, seed):
    native = native_dtype(dtype)
    out = _philox(seed_input, seed).standard_normal(shape, dtype=_draw_dtype(native))
    return out.astype(native, copy=False)


# A draw of at least this many values is made from the bit generator's raw words (see
# _uniform_words); a smaller one by Generator.random.
_UNIFORM_WORDS_MIN = 1 << 12


def _uniform_words(seed, shape, draw):
    """Generator(Philox(SeedSequence(seed))).random(shape, dtype=draw), the same values, from
    the bit generator's raw 64-bit words: a float32 is the top 24 bits of a word's low then
    high 32-bit half, a float64 the top 53 bits of a word, times 2**-24 or 2**-53 (exact), as
    NumPy draws them. NumPy's float32 fill costs ~1.5x the raw words and their conversion,
    and random_raw releases the GIL, so pieces of the stream (Philox's counter advanced to
    each piece's first block of 4 words) run on the threads at once."""
    count = math.prod(shape)
    out = np.empty(count, draw)
    half = draw == np.float32
    per_word = 2 if half else 1
    words = -(-count // per_word)
    blocks = -(-words // 4)
    # Pieces of at least ~32k words: each costs a generator (~10 us). A whole number of
    # pieces per thread: W2's dropout draw (102400 words) in 2 pieces instead of 3 on two
    # threads, 0.26 -> 0.24 ms.
    parts = max(1, min(2 * _THREADS, blocks >> 13))
    if parts > _THREADS:
        parts -= parts % _THREADS
    step = -(-blocks // parts)
    pieces = [slice(start, start + step) for start in range(0, blocks, step)]
    sequence = np.random.SeedSequence(seed)

    def run(piece):
        first, stop, _ = piece.indices(blocks)
        generator = np.random.Philox(sequence)
        if first:
            generator.advance(first)
        lo, hi = 4 * first * per_word, min(count, 4 * stop * per_word)
        raw = generator.random_raw(-(-(hi - lo) // per_word))
        bits = raw.view(np.uint32)[:hi - lo] if half else raw
        # The shift leaves at most 24 (53) bits: the cast to the float type is exact.
        np.right_shift(bits, 8 if half else 11, out=bits)
        np.multiply(bits, 2.0 ** (-24 if half else -53), out=out[lo:hi], dtype=draw,
                    casting="unsafe")
    _in_parallel(run, pieces, 2 * out.nbytes)
    return out.reshape(shape)


def random_uniform(*seed_input, shape, dtype, seed):
    native = native_dtype(dtype)
    draw = _draw_dtype(native)
    if math.prod(shape) >= _UNIFORM_WORDS_MIN and sys.byteorder == "little":
        seed = seed_input[0] if seed_input else seed
        out = _uniform_words([int(s) for s in seed], tuple(shape), draw)
    else:
        out = _philox(seed_input, seed).random(shape, dtype=draw)
    out = out.astype(native, copy=False)
    if native.itemsize < 4:
        # Rounding to a half type can reach 1.0; keep the interval half-open, as TF does.
        # (NumPy's finfo does not know bfloat16: its 7 mantissa bits come from ml_dtypes')
        finfo = np.finfo if native.kind == "f" else sys.modules["ml_dtypes"].finfo
        below_one = np.asarray(1.0 - 2.0 ** -(finfo(native).nmant + 1), native)
        out = np.minimum(out, below_one)
    return out


def random_truncated_normal(*seed_input, shape, dtype, seed):
    native = native_dtype(dtype)
    rng = _philox(seed_input, seed)
    out = rng.standard_normal(shape)
    outside = np.abs(out) > 2.0
    while outside.any():
        out[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(out) > 2.0
    return out.astype(native)


def random_uniform_int(minval, maxval, *seed_input, shape, dtype, seed):
    return _philox(seed_input, seed).integers(int(minval), int(maxval), size=shape,
                                  dtype=native_dtype(dtype))


def random_shuffle(x, *seed_input, seed):
    if x.ndim == 0:
        return x.copy()
    return _philox(seed_input, seed).permutation(x, axis=0)


def random_categorical(logits, *seed_input, num_samples, dtype, seed):
    rng = _philox(seed_input, seed)
    logits = logits.astype(np.float64)
    batch, classes = logits.shape
    top = np.max(logits, axis=1, keepdims=True) if classes else np.zeros((batch, 1))
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.exp(logits - top)
    cdf = np.cumsum(weights, axis=1)
    out = np.empty((batch, num_samples), dtype=native_dtype(dtype))
    for b in range(batch):
        total = cdf[b, -1]
        u = rng.random(num_samples) * total
        positive = np.flatnonzero(weights[b] > 0)
        last = positive[-1] if positive.size else classes - 1
        out[b] = np.minimum(np.searchsorted(cdf[b], u, side="right"), last)
    return out


def random_seed_stream(source):
    """The next seed tuple of a traced random op; `source` holds and advances the state."""
    return np.asarray(source.next_seed(), dtype=np.uint64)


# ---- custom_gradient (helper)

def custom_gradient(*arrays, n_results, n_args, grad_fn):
    """The identity on the first n_results inputs (the decorated function's results)."""
    return tuple(arrays[:n_results])


# ---- nn (helper)
# Activations, softmax family, cross-entropies, dropout masks, convolution and pooling.
# Half-precision inputs are computed in float32 and rounded back once, as TF's kernels do.

def _nn_upcast(x):
    return x.astype(np.float32) if x.dtype.kind == "f" and x.dtype.itemsize < 4 else x


def relu(x):
    zero = np.zeros((), x.dtype)
    if x.size < 4096 or not x.flags.c_contiguous:
        return np.maximum(x, zero)
    # np.maximum against a scalar runs a slower loop than against a contiguous row: take
    # the max with a row of zeros over 1024-wide rows of the flat values, then the tail.
    row = np.zeros(1024, x.dtype)
    out = np.empty(x.shape, x.dtype)
    flat, flat_out = x.reshape(-1), out.reshape(-1)
    body = flat.size - flat.size % row.size
    np.maximum(flat[:body].reshape(-1, row.size), row, out=flat_out[:body].reshape(-1, row.size))
    np.maximum(flat[body:], zero, out=flat_out[body:])
    return out


def _relu_into(x, out=None):
    """relu(x) for fused programs, into `out` (x's shape and dtype, possibly x) where given:
    np.maximum against a row of zeros (relu's faster loop, see above) on any layout."""
    if not isinstance(x, np.ndarray) or x.size < 4096 or x.shape[-1] < 16:
        # (small arrays: the row's allocation costs more than its faster loop saves, as in
        # relu)
        return np.maximum(x, np.zeros((), x.dtype), out=out)
    return np.maximum(x, np.zeros(x.shape[-1], x.dtype), out=out)


def relu6(x, out=None):
    """min(max(x, 0), 6). Into `out` where given, so that a large one runs by blocks of rows
    on the threads as a lone ufunc does (see specialize); a large one's second pass in place
    and each bound a row, where that loop is faster (see relu)."""
    if out is None and (not isinstance(x, np.ndarray) or x.size < 4096):
        return np.minimum(np.maximum(x, np.zeros((), x.dtype)), np.asarray(6, x.dtype))
    out = _relu_into(x, out)
    six = np.full(out.shape[-1], 6, x.dtype) if out.size >= 4096 and out.shape[-1] >= 16 \
        else np.asarray(6, x.dtype)
    return np.minimum(out, six, out=out)


def elu(x):
    # expm1 of min(x, 0): the unused branch never overflows.
    return np.where(x > 0, x, np.expm1(np.minimum(x, np.zeros((), x.dtype))))


# Rows this short (a classifier's classes) are maximised over a transposed copy: NumPy's
# reduction along a short last axis pays a loop call per row (256x10: 11.8 us; copy and
# reduction over the rows, 2.2 us).
_SHORT_ROW = 32


def _nn_max_shift(x, axis):
    if x.shape[axis] == 0:  # no classes: empty results, as TF gives
        return x
    if (x.ndim == 2 and axis in (1, -1) and 1 < x.shape[1] <= _SHORT_ROW
            and x.shape[0] >= 4 * _SHORT_ROW and x.flags.c_contiguous):
        # Maxima are exact; NaN propagates either way; a row's +0 and -0 may swap as its
        # maximum, which shifts a zero to a zero (and exp of either is 1).
        return x - np.maximum.reduce(x.T.copy(), axis=0)[:, None]
    if axis in (-1, x.ndim - 1):
        return x - _max_last(x)
    return x - np.max(x, axis=axis, keepdims=True)


# Rows at most this long are maximised by halving (the larger of a row's two halves, then of
# that's halves, ...): NumPy's max along a short last axis pays a loop call per row (524k
# elements in rows of 64: 555 -> 375 us; rows of 8: 2.5 -> 0.8 ms; rows of 128 break even).
_HALVING_MAX_ROW = 64


def _max_last(x):
    """np.max(x, axis=-1, keepdims=True) for a non-empty last axis, exactly (NaN propagates
    through np.maximum as through np.max)."""
    n = x.shape[-1]
    if not 1 < n <= _HALVING_MAX_ROW:
        return np.maximum.reduce(x, axis=-1, keepdims=True)
    while n > 1:
        half = n // 2
        folded = np.maximum(x[..., :half], x[..., half:2 * half])
        if n % 2:
            np.maximum(folded[..., :1], x[..., 2 * half:], out=folded[..., :1])
        x, n = folded, half
    return x


def _softmax_rows(x, out):
    """softmax along the last axis of x into out, in place: each step as softmax's."""
    np.subtract(x, _max_last(x), out=out)
    np.exp(out, out=out)
    np.divide(out, np.add.reduce(out, axis=-1, keepdims=True), out=out)


def _nn_shifted(x, axis):
    """x minus its max along axis, and log(sum(exp(.))) of that: the stable softmax pieces."""
    shifted = _nn_max_shift(x, axis)
    if x.shape[axis] == 0:
        return shifted, np.zeros(np.add.reduce(x, axis=axis, keepdims=True).shape, x.dtype)
    return shifted, np.log(np.add.reduce(np.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis):
    if (axis in (-1, x.ndim - 1) and x.dtype.char in "fd" and x.size >= _PARALLEL_SOFTMAX_MIN
            and x.shape[-1] and x.flags.c_contiguous):
        # Over blocks of rows, each in cache for its four passes, on the threads
        # (MultiHeadAttention's 32x4x64x64 scores: 1.2 ms -> 0.3 ms); the same values.
        rows = x.reshape(-1, x.shape[-1])
        out = np.empty_like(rows)
        step = max(1, _FUSED_BLOCK_BYTES // (8 * rows.shape[1]))
        blocks = [slice(start, start + step) for start in range(0, rows.shape[0], step)]
        # (float32 rows by numpy_softmax_native where it runs: each row once, the same bits)
        from tensorflux.backends import numpy_softmax_native

        run = numpy_softmax_native.softmax(rows, out)
        _in_parallel((lambda block: run(block.start, min(block.stop, rows.shape[0])))
                     if run else (lambda block: _softmax_rows(rows[block], out[block])),
                     blocks, 2 * rows.nbytes)
        return out.reshape(x.shape)
    if axis in (-1, x.ndim - 1) and x.ndim and 0 < x.shape[-1] and (
            x.size <= _FEW_ROWS_SOFTMAX * x.shape[-1]):
        # A few rows (a single sample's classifier head): one max reduction in place of
        # _max_last's halving, whose ufunc calls cost more here (1x10: 6.0 -> 3.2 us). The
        # values are the same: both maxima are exact, and where they differ (+0 or -0) every
        # x - max is the same number except the sign of a zero, and exp of either zero is 1.
        upcast = _nn_upcast(x)
        e = np.exp(upcast - np.maximum.reduce(upcast, axis=-1, keepdims=True))
    else:
        e = np.exp(_nn_max_shift(_nn_upcast(x), axis))
    return (e / np.add.reduce(e, axis=axis, keepdims=True)).astype(x.dtype, copy=False)


# A softmax over at least this many elements runs by blocks of rows (see softmax).
_PARALLEL_SOFTMAX_MIN = 1 << 16
# A softmax over the last axis of at most this many rows takes its maxima in one reduction.
_FEW_ROWS_SOFTMAX = 64


def _softmax_grad_rows(g, y, out):
    """softmax_grad's steps on rows of g and y (the last axis), into out."""
    products = np.multiply(g, y)
    np.subtract(g, np.add.reduce(products, axis=-1, keepdims=True), out=out)
    np.multiply(out, y, out=products)
    np.subtract(out, np.add.reduce(products, axis=-1, keepdims=True), out=out)
    np.multiply(y, out, out=out)


def softmax_grad(g, y, axis):
    """softmax's VJP for the cotangent g and the output y: residual = g - sum(g * y), then
    residual - sum(residual * y) (see ops/nn.py's _softmax_vjp), times y."""
    if (axis in (-1, y.ndim - 1) and y.ndim >= 2 and y.dtype.char in "fd" and g.dtype == y.dtype
            and y.size >= _PARALLEL_SOFTMAX_MIN and y.shape[-1] and g.shape == y.shape
            and g.flags.c_contiguous and y.flags.c_contiguous):
        # As softmax: by blocks of rows, each in cache for its seven passes, on the threads
        # (MultiHeadAttention's 32x4x64x64 scores: five graph nodes, ~8 passes over memory
        # with their temporaries, in one). The same values as the op-by-op VJP: each step
        # is the same correctly rounded ufunc, and add.reduce sums a contiguous row the same
        # way whatever the rows around it.
        rows, grads = y.reshape(-1, y.shape[-1]), g.reshape(-1, y.shape[-1])
        out = np.empty_like(rows)
        step = max(1, _FUSED_BLOCK_BYTES // (16 * rows.shape[1]))
        blocks = [slice(start, start + step) for start in range(0, rows.shape[0], step)]
        from tensorflux.backends import numpy_softmax_native

        run = numpy_softmax_native.softmax_grad(grads, rows, out)
        _in_parallel((lambda block: run(block.start, min(block.stop, rows.shape[0])))
                     if run else
                     (lambda block: _softmax_grad_rows(grads[block], rows[block], out[block])),
                     blocks, 3 * rows.nbytes)
        return out.reshape(y.shape)
    residual = g - np.add.reduce(g * y, axis=axis, keepdims=True)
    residual = residual - np.add.reduce(residual * y, axis=axis, keepdims=True)
    return y * residual


def log_softmax(x, axis):
    shifted, lse = _nn_shifted(_nn_upcast(x), axis)
    return (shifted - lse).astype(x.dtype, copy=False)


def sigmoid_cross_entropy_with_logits(labels, logits):
    x, z = _nn_upcast(logits), _nn_upcast(labels)
    zero = np.zeros((), x.dtype)
    out = np.maximum(x, zero) - x * z + np.log1p(np.exp(-np.abs(x)))
    return out.astype(logits.dtype, copy=False)


def softmax_cross_entropy_with_logits(labels, logits, axis):
    shifted, lse = _nn_shifted(_nn_upcast(logits), axis)
    loss = np.add.reduce(_nn_upcast(labels) * (lse - shifted), axis=axis)
    return np.asarray(loss).astype(logits.dtype, copy=False)


# ---- batch normalization
# Training-mode batch normalization over x seen as (rows, channels): statistics per channel
# over every row. Composed of generic ops it is ~10 passes over x and as many temporaries;
# here the forward is three passes (column sums; x - mean into the output and the sums of
# its squares; scale and shift in place) and the backward two (x - mean into dx and the
# sums of dy and dy * (x - mean); then dx in place), by blocks of rows that stay in cache
# between their steps, on the threads. Cost here is the count of ufunc calls more than
# memory traffic, hence the centred values kept rather than recomputed. Column sums are
# ones @ block (a GEMV, ~7x faster than add.reduce over rows; see _sum_rows); the blocks'
# partial sums are added in block order, so a result does not depend on the thread count.
# Half precision is computed in float32; the statistics stay float32. As Keras:
# mean = mean(x), variance = mean((x - mean)^2), out = (x - mean) * (rsqrt(variance +
# epsilon) * gamma) + beta.

# Bytes of x in one block of rows: x's block, a temporary and the output's block then fit
# in a core's L2 cache together.
_BN_BLOCK_BYTES = 1 << 18
# A ufunc broadcasting a row of few channels runs its inner loop once per row (32 channels:
# ~25% slower than over long rows); the elementwise steps see a block as rows of about this
# many elements instead, with each per-channel vector tiled to match, once per call.
_BN_WIDE = 1024


def _bn_rows(x):
    x = _nn_upcast(x)
    return np.ascontiguousarray(x).reshape(math.prod(x.shape[:-1]), x.shape[-1])


def _bn_reps(c):
    return max(1, _BN_WIDE // max(1, c))


def _bn_blocks(rows, reps):
    n, c = rows.shape
    step = max(1, _BN_BLOCK_BYTES // max(1, c * rows.itemsize))
    step = max(reps, step - step % reps)  # (whole wide rows in every block but the last)
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


def _bn_wide(arrays, vectors, reps):
    """(m, c) blocks as rows of reps * c with the vectors tiled to match (as given by
    _bn_tiled), where m allows; else the blocks as they are with the plain vectors."""
    m = arrays[0].shape[0]
    if reps > 1 and m % reps == 0:
        return [a.reshape(m // reps, -1) for a in arrays], [tiled for _, tiled in vectors]
    return arrays, [plain for plain, _ in vectors]


def _bn_tiled(reps, *vectors):
    return [(v, np.tile(v, reps) if reps > 1 else v) for v in vectors]


def _bn_column_sums(per_block, blocks, count, width, dtype, nbytes):
    """Runs per_block(block, into) over the blocks on the threads, each writing `count`
    rows of `width` column sums into `into`, and returns their totals, added in block
    order."""
    partial = np.empty((len(blocks), count, width), dtype)
    _in_parallel(lambda i: per_block(blocks[i], partial[i]), list(range(len(blocks))), nbytes)
    return partial[0] if len(blocks) == 1 else np.add.reduce(partial, axis=0)


def _bn_sum(block):
    return _ones(block.shape[0], block.dtype).dot(block)


# Float32 rows with channels in whole vector registers take numpy_norm_native's passes
# instead: the statistics in one read of x (each piece's mean and squared deviations from it,
# in float64, combined exactly here), the normalization in one more; the backward's sums in
# one read of x and dy, dx in one more. Pieces have a fixed number of rows (from the shape
# alone), so no result depends on the thread count. Over (64, 32, 32, 32) on one thread:
# forward 2.3 -> 1.3 ms, backward 3.3 -> 1.7 ms (CPU time).
_BN_PIECE_BYTES = 1 << 18


def _bn_pieces(rows):
    n, c = rows.shape
    step = max(1, _BN_PIECE_BYTES // max(1, c * rows.itemsize))
    return [(start, min(n, start + step)) for start in range(0, n, step)]


def _bn_piece_sums(summing, rows, nbytes):
    """(pieces, their (2, c) float64 results from summing(start, stop, into), in order)."""
    pieces = _bn_pieces(rows)
    parts = np.empty((len(pieces), 2, rows.shape[1]))
    _in_parallel(lambda i: summing(*pieces[i], parts[i]), list(range(len(pieces))), nbytes)
    return pieces, parts


def _bn_native_training(rows, gamma, beta, epsilon, relu=False, residual=None, left=True):
    """batch_norm_training's (out rows, mean, variance) by numpy_norm_native, or None; out
    with relu applied where `relu`, to residual + out (`left`) or out + residual where rows
    `residual` are given."""
    from tensorflux.backends import numpy_norm_native

    n, c = rows.shape
    summing = numpy_norm_native.moments(rows)
    if summing is None or gamma.shape != (c,) or beta.shape != (c,):
        return None
    pieces, parts = _bn_piece_sums(summing, rows, rows.nbytes)
    counts = np.array([stop - start for start, stop in pieces], np.float64)[:, None]
    means = parts[:, 0]
    mean = np.add.reduce(counts * means, axis=0) / n
    squares = (np.add.reduce(parts[:, 1], axis=0)
               + np.add.reduce(counts * np.square(means - mean), axis=0))
    mean, variance = mean.astype(rows.dtype), (squares / n).astype(rows.dtype)
    scale = 1 / np.sqrt(variance + rows.dtype.type(epsilon)) * gamma
    out = np.empty_like(rows)
    run = numpy_norm_native.normalize(rows, out, mean, scale, np.ascontiguousarray(beta),
                                      relu=relu, residual=residual, left=left)
    if run is None:
        return None
    _in_parallel(lambda piece: run(*piece), pieces, (2 if residual is None else 3) * rows.nbytes)
    return out, mean, variance


# batch_norm_training's activations: the graph passes (fuse_batch_norm_activations) give the
# kernels the relu that follows a BatchNormalization as activation="relu" where the backend
# lists it here: out is relu(bn(x)), np.maximum(bn(x), 0.0)'s bits (relu's kernel), in the
# normalization's pass; the gradient then takes relu's output y as one more input and reads
# dy * (y > 0) (relu's VJP, `g * cast(out > 0)`) where it read dy: the same bits as the
# separate ops, one pass over the batch fewer each way.
BATCH_NORM_ACTIVATIONS = ("relu",)
# A residual block's end, relu(r + bn(x)) (or relu(bn(x) + r)): with activation="relu" and
# residual="left" (or "right"), batch_norm_training takes r (x's shape and dtype) after beta
# and adds it to the normalization's result in that operand order (its own rounding, as the
# separate add) before relu, in the normalization's pass: the add's and relu's pass over the
# batch saved. (The gradient is unchanged: the add passes relu's masked cotangent to both.)
BATCH_NORM_RESIDUALS = ("left", "right")


def _bn_activation(activation):
    if activation not in (None,) + BATCH_NORM_ACTIVATIONS:
        raise ValueError(f"batch_norm_training: unknown activation {activation!r}, expected "
                         f"one of {BATCH_NORM_ACTIVATIONS} or None")
    return activation == "relu"


def _bn_residual_end(out, r, residual):
    """relu(r + out) or relu(out + r) (residual "left" or "right") as the separate add and
    relu give it, broadcasting as add does."""
    total = np.add(r, out) if residual == "left" else np.add(out, r)
    return np.maximum(total, np.zeros((), total.dtype), out=total)


def batch_norm_training(x, gamma, beta, *rest, epsilon=None, activation=None, residual=None):
    """(out, mean, variance) of x normalized over all axes but the last, in three passes;
    out relu'd where activation is "relu". `rest` is (epsilon,) (or epsilon comes by name);
    with residual "left" or "right" (activation "relu" then), it is (r,) and out is relu(r +
    bn(x)) or relu(bn(x) + r), the separate add's and relu's bits (see
    BATCH_NORM_RESIDUALS)."""
    relu = _bn_activation(activation)
    r = None
    if residual is not None:
        if residual not in BATCH_NORM_RESIDUALS or not relu:
            raise ValueError(f"batch_norm_training: residual must be one of "
                             f"{BATCH_NORM_RESIDUALS} with activation 'relu', received "
                             f"{residual!r} with {activation!r}")
        (r,) = rest
        r = np.asarray(r)
    elif rest:
        (epsilon,) = rest
    if epsilon is None:  # (np.float32(None) is NaN: every output would be, silently)
        raise TypeError("batch_norm_training: epsilon is required (by name where r is given)")
    dtype = x.dtype
    rows = _bn_rows(x)
    n, c = rows.shape
    gamma, beta = gamma.astype(rows.dtype, copy=False), beta.astype(rows.dtype, copy=False)
    if r is not None and not (r.dtype == dtype == rows.dtype and r.shape == x.shape
                              and r.flags.c_contiguous and n > 0):
        out, mean, variance = batch_norm_training(x, gamma, beta, epsilon=epsilon)
        return _bn_residual_end(out, r, residual), mean, variance
    if n == 0:  # an empty batch has no statistics, as 0 / 0 gives in the composed ops
        nan = np.full(c, np.nan, rows.dtype)
        return np.empty(x.shape, dtype), nan, nan.copy()
    native = _bn_native_training(rows, gamma, beta, epsilon, relu and rows.dtype == dtype,
                                 None if r is None else r.reshape(rows.shape),
                                 residual == "left")
    if native is not None:
        out, mean, variance = native
        out = out.reshape(x.shape).astype(dtype, copy=False)
        if relu and rows.dtype != dtype:  # (relu of the half-precision result, as relu's)
            np.maximum(out, np.zeros((), dtype), out=out)
        return out, mean, variance
    if r is not None:
        out, mean, variance = batch_norm_training(x, gamma, beta, epsilon=epsilon)
        return _bn_residual_end(out, r, residual), mean, variance
    out = np.empty_like(rows)
    reps = _bn_reps(c)
    blocks = _bn_blocks(rows, reps)
    count = rows.dtype.type(n)

    def add_up(block, into):
        into[0] = _bn_sum(rows[block])

    mean = _bn_column_sums(add_up, blocks, 1, c, rows.dtype, rows.nbytes)[0] / count
    centring = _bn_tiled(reps, mean)

    def centre(block, into):
        (part, centred), (m,) = _bn_wide((rows[block], out[block]), centring, reps)
        np.subtract(part, m, out=centred)
        into[0] = _bn_sum(np.square(out[block]))

    variance = _bn_column_sums(centre, blocks, 1, c, rows.dtype, 2 * rows.nbytes)[0] / count
    scale = 1 / np.sqrt(variance + rows.dtype.type(epsilon)) * gamma
    affine = _bn_tiled(reps, scale, beta)

    def scale_and_shift(block):
        (part,), (s, b) = _bn_wide((out[block],), affine, reps)
        np.multiply(part, s, out=part)
        np.add(part, b, out=part)

    _in_parallel(scale_and_shift, blocks, 2 * rows.nbytes)
    out = out.reshape(x.shape).astype(dtype, copy=False)
    if relu:
        np.maximum(out, np.zeros((), dtype), out=out)
    return out, mean, variance


def _bn_grad_terms(sums, gamma, inv, dmean, dvariance, n):
    """dx's per-channel (a, k, b) from the sums of dy and dy * (x - mean)."""
    k = gamma * inv
    a = (2 * dvariance - k * inv * inv * sums[1]) / n
    b = (dmean - k * sums[0]) / n
    return a, k, b


def _bn_native_training_grad(rows, grads, gamma, mean, inv, dmean, dvariance, y=None,
                             affine=None):
    """batch_norm_training_grad's (dx rows, dgamma, dbeta) by numpy_norm_native, or None;
    with relu's output rows y, for the cotangent grads * (y > 0) (found from the forward's
    (scale, shift) where `affine` gives them, see numpy_norm_native.grad_sums)."""
    from tensorflux.backends import numpy_norm_native

    n, c = rows.shape
    mean = np.ascontiguousarray(mean)
    summing = numpy_norm_native.grad_sums(rows, grads, mean, y, affine)
    if summing is None or any(v.shape != (c,) for v in (gamma, inv, dmean, dvariance)):
        return None
    sums = np.add.reduce(_bn_piece_sums(summing, rows, 2 * rows.nbytes)[1], axis=0)
    sums = sums.astype(rows.dtype)
    a, k, b = _bn_grad_terms(sums, gamma, inv, dmean, dvariance, rows.dtype.type(n))
    dx = np.empty_like(rows)
    run = numpy_norm_native.combine(rows, grads, dx, mean, a, k, b, y, affine)
    if run is None:
        return None
    _in_parallel(lambda piece: run(*piece), _bn_pieces(rows), 3 * rows.nbytes)
    return dx, inv * sums[1], sums[0]


def batch_norm_training_grad(x, gamma, mean, variance, dy, dmean, dvariance, *rest,
                             epsilon=None, activation=None):
    """(dx, dgamma, dbeta) of batch_norm_training for the cotangents (dy, dmean, dvariance),
    in two passes: dx = k * dy + a * (x - mean) + b per channel, with k = gamma * inv,
    a = 2 dvariance / n - k * inv^2 * sum(dy (x - mean)) / n, b = (dmean - k sum(dy)) / n.
    `rest` is (epsilon,) (or epsilon comes by name); with activation="relu", it is (y,),
    relu's output, and the cotangent of the normalization is dy * (y > 0), relu's VJP, which
    the native kernels apply as they read dy (elsewhere one NumPy multiply first); or (y,
    beta) where y is relu of batch_norm_training(x, gamma, beta, epsilon)'s output and mean
    and variance its statistics (the graph pass checks it): the native kernels then find
    y > 0 from the x they read, as the forward's float32 steps ((x - mean) * scale) + beta
    with its scale = 1 / sqrt(variance + epsilon) * gamma, rather than read y."""
    relu = _bn_activation(activation)
    beta = None
    if relu:
        y, *beta = rest
        beta = beta[0] if beta else None
    else:
        y = None
        if rest:
            (epsilon,) = rest
    if epsilon is None:
        raise TypeError("batch_norm_training_grad: epsilon is required (by name where y is "
                        "given)")
    if relu and not (type(y) is np.ndarray and y.dtype == dy.dtype == x.dtype == np.float32
                     and y.shape == dy.shape == x.shape):
        # (relu's VJP as its graph runs it: g * cast(out > 0, g.dtype))
        dy = np.multiply(dy, np.greater(y, np.zeros((), y.dtype)).astype(dy.dtype))
        relu = False
    dtype = x.dtype
    rows = _bn_rows(x)
    n, c = rows.shape
    work = rows.dtype
    gamma, mean, variance, dmean, dvariance = (
        v.astype(work, copy=False) for v in (gamma, mean, variance, dmean, dvariance))
    inv = 1 / np.sqrt(variance + work.type(epsilon))
    if n == 0:
        return np.empty(x.shape, dtype), np.zeros(c, work), np.zeros(c, work)
    # (the native kernels read a view of a larger array, as a max pool's gradient written
    # into its padded buffer is, in place: numpy_norm_native.row_table)
    cotangent = (dy if type(dy) is np.ndarray and dy.dtype == work and dy.shape == x.shape
                 else _bn_rows(dy))
    affine = None
    if relu and beta is not None and type(beta) is np.ndarray and beta.dtype == work:
        # (the forward's scale: the same steps on the same vectors, the same bits)
        affine = (inv * gamma, np.ascontiguousarray(beta))
    native = _bn_native_training_grad(rows, cotangent, gamma, mean, inv, dmean, dvariance,
                                      _bn_rows(y) if relu else None, affine)
    if native is not None:
        dx, dgamma, dbeta = native
        return dx.reshape(x.shape).astype(dtype, copy=False), dgamma, dbeta
    if relu:
        dy = np.multiply(dy, np.greater(y, np.zeros((), y.dtype)).astype(dy.dtype))
    grads = _bn_rows(dy)
    dx = np.empty_like(rows)
    reps = _bn_reps(c)
    blocks = _bn_blocks(rows, reps)
    centring = _bn_tiled(reps, mean)

    def add_up(block, into):
        (part, centred), (m,) = _bn_wide((rows[block], dx[block]), centring, reps)
        np.subtract(part, m, out=centred)
        into[0] = _bn_sum(grads[block])
        into[1] = _bn_sum(np.multiply(dx[block], grads[block]))

    sums = _bn_column_sums(add_up, blocks, 2, c, work, 3 * rows.nbytes)
    a, k, b = _bn_grad_terms(sums, gamma, inv, dmean, dvariance, work.type(n))
    terms = _bn_tiled(reps, a, k, b)

    def combine(block):
        (part, g), (av, kv, bv) = _bn_wide((dx[block], grads[block]), terms, reps)
        np.multiply(part, av, out=part)
        part += np.multiply(g, kv)
        part += bv

    _in_parallel(combine, blocks, 3 * rows.nbytes)
    return dx.reshape(x.shape).astype(dtype, copy=False), inv * sums[1], sums[0].copy()


# layer_norm: LayerNormalization over the trailing `count` axes, with the composed ops' bits
# (the layer's chain reduce_mean, subtract, square, reduce_mean, add, rsqrt, multiply,
# subtract, multiply, add) in one call: per row, mean = np.add.reduce(row) / n, centred =
# row - mean, variance = np.add.reduce(centred^2) / n, inv = 1 / sqrt(variance + epsilon),
# out = centred * (inv * gamma) + beta, each step one NumPy operation. Rows go by pieces of
# a fixed number of rows (from the shape alone), on the threads; float32 rows by
# numpy_norm_native where it runs (the same steps, the same bits, each row read once).
_LN_PIECE_BYTES = 1 << 16


def _ln_rows(x, count):
    """x as C-contiguous (rows, n) rows of its trailing `count` axes, and the pieces."""
    n = 1
    for d in x.shape[x.ndim - count:]:
        n *= d
    rows = np.ascontiguousarray(x).reshape(-1, n)
    step = max(1, _LN_PIECE_BYTES // max(1, n * rows.itemsize))
    return rows, [(start, min(rows.shape[0], start + step))
                  for start in range(0, rows.shape[0], step)]


def _ln_statistics(part, epsilon, centred):
    """(centred rows into `centred`, inv) of the rows `part`, the layer's steps."""
    n = part.dtype.type(part.shape[1])
    np.subtract(part, np.add.reduce(part, axis=1, keepdims=True) / n, out=centred)
    variance = np.add.reduce(np.square(centred), axis=1, keepdims=True) / n
    return centred, 1 / np.sqrt(variance + part.dtype.type(epsilon))


def layer_norm(x, gamma, beta, epsilon, count):
    """LayerNormalization of x (float32/float64) over its trailing `count` axes."""
    rows, pieces = _ln_rows(x, count)
    gamma, beta = (np.ascontiguousarray(v, rows.dtype).reshape(-1) for v in (gamma, beta))
    out = np.empty_like(rows)
    if rows.size:
        from tensorflux.backends import numpy_norm_native

        run = numpy_norm_native.layer_norm(rows, out, gamma, beta, epsilon)
        if run is None:
            def run(start, stop):
                centred, inv = _ln_statistics(rows[start:stop], epsilon, out[start:stop])
                np.multiply(centred, inv * gamma, out=centred)
                np.add(centred, beta, out=centred)
        _in_parallel(lambda piece: run(*piece), pieces, 2 * rows.nbytes)
    return out.reshape(x.shape)


def layer_norm_grad(x, gamma, dy, epsilon, count):
    """(dx, dgamma, dbeta) of layer_norm for its output's cotangent dy, in this order: per
    row (statistics as layer_norm's) xhat = centred * inv, g = dy * gamma, a = np.add.reduce(
    g) / n, b = np.add.reduce(g * xhat) / n, dx = ((g - a) - xhat * b) * inv; dgamma and dbeta
    the sums over rows of dy * xhat and dy, each product rounded to x's dtype, added in
    float64: row by row within each piece of rows, then the pieces in order, then rounded
    once (no bit depends on the thread count)."""
    rows, pieces = _ln_rows(x, count)
    grads = np.ascontiguousarray(dy, rows.dtype).reshape(rows.shape)
    shape = gamma.shape
    gamma = np.ascontiguousarray(gamma, rows.dtype).reshape(-1)
    dx = np.empty_like(rows)
    parts = np.zeros((len(pieces), 2, rows.shape[1]))
    if rows.size:
        from tensorflux.backends import numpy_norm_native

        run = numpy_norm_native.layer_norm_grad(rows, grads, dx, gamma, epsilon)
        if run is None:
            def run(start, stop, into):
                xhat, inv = _ln_statistics(rows[start:stop], epsilon, dx[start:stop])
                np.multiply(xhat, inv, out=xhat)
                dys = grads[start:stop]
                n = rows.dtype.type(rows.shape[1])
                g = dys * gamma
                a = np.add.reduce(g, axis=1, keepdims=True) / n
                b = np.add.reduce(g * xhat, axis=1, keepdims=True) / n
                np.add.reduce((dys * xhat).astype(np.float64), axis=0, out=into[0])
                np.add.reduce(dys.astype(np.float64), axis=0, out=into[1])
                np.subtract(g, a, out=g)
                np.subtract(g, np.multiply(xhat, b, out=xhat), out=g)
                np.multiply(g, inv, out=xhat)
        _in_parallel(lambda i: run(*pieces[i], parts[i]), list(range(len(pieces))),
                     3 * rows.nbytes)
    sums = np.add.reduce(parts, axis=0).astype(rows.dtype)
    return dx.reshape(x.shape), sums[0].reshape(shape), sums[1].reshape(shape)


def _nn_check_labels(labels, depth):
    bad = (labels < 0) | (labels >= depth)
    if np.any(bad):
        value = labels[bad].reshape(-1)[0]
        raise ValueError(f"received a label value of {value} which is outside the valid range "
                         f"of [0, {depth}) for logits with {depth} classes")


def sparse_softmax_cross_entropy_with_logits(labels, logits):
    depth = logits.shape[-1]
    _nn_check_labels(labels, depth)
    shifted, lse = _nn_shifted(_nn_upcast(logits), -1)
    picked = np.take_along_axis(shifted, labels[..., None].astype(np.intp), axis=-1)[..., 0]
    return np.asarray(lse[..., 0] - picked).astype(logits.dtype, copy=False)


# Convolution and pooling run in NHWC; NCHW inputs are transposed views in and out.
# Padding attrs are "SAME", "VALID" or ((top, bottom), (left, right)), resolved here per call.

def _nn_nhwc(x, data_format):
    return x.transpose(0, 2, 3, 1) if data_format == "NCHW" else x


def _nn_from_nhwc(x, data_format):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if data_format == "NCHW" else x


def _nn_nhwc_shape(shape, data_format):
    return (shape[0], shape[2], shape[3], shape[1]) if data_format == "NCHW" else tuple(shape)


def _nn_pads(padding, sizes, ksizes, strides, dilations):
    """Explicit ((before, after), ...) per spatial dim; SAME follows TF's rule."""
    if padding == "VALID":
        return tuple((0, 0) for _ in sizes)
    if padding == "SAME":
        pads = []
        for n, k, s, d in zip(sizes, ksizes, strides, dilations):
            total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    return tuple(tuple(p) for p in padding)


def _nn_windows(xp, ksizes, strides, dilations, out_sizes):
    """A (n, ho, wo, kh, kw, c) view of every window of the padded NHWC input; overlapping
    windows share memory, so it is only ever read (CuPy's as_strided has no writeable=)."""
    n, _, _, c = xp.shape
    s0, s1, s2, s3 = xp.strides
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = ksizes, strides, dilations, out_sizes
    return np.lib.stride_tricks.as_strided(
        xp, shape=(n, ho, wo, kh, kw, c),
        strides=(s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3))


def _nn_geometry(in_hw, ksizes, strides, padding, dilations):
    pads = _nn_pads(padding, in_hw, ksizes, strides, dilations)
    out = tuple((n + p[0] + p[1] - (k - 1) * d - 1) // s + 1
                for n, p, k, s, d in zip(in_hw, pads, ksizes, strides, dilations))
    if min(out) <= 0:
        raise ValueError(f"the window {tuple(ksizes)} (dilations {tuple(dilations)}) does not "
                         f"fit the padded input of spatial size {tuple(in_hw)} with padding "
                         f"{pads}")
    return pads, out


def _nn_pad(x, pads, value=0):
    if not any(a or b for a, b in pads):
        return x
    return np.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),), constant_values=value)


def _nn_scatter_into(x_rows, cols_rows, strides, dilations):
    """Sets x_rows to the sum of the windows cols_rows (m, ho, wo, kh, kw, c) put back at the
    input positions they were read from (the adjoint of _nn_windows), zero where none was:
    a loop over the kh*kw kernel offsets only. At stride 1 the first offset's windows cover
    one block of x_rows: they are copied there, and only the rest is zeroed (a pass less)."""
    _, ho, wo, kh, kw, _ = cols_rows.shape
    (sh, sw), (dh, dw) = strides, dilations
    hspan, wspan = sh * (ho - 1) + 1, sw * (wo - 1) + 1
    first = 0
    if (sh, sw) == (1, 1) and kh * kw:
        x_rows[:, hspan:].fill(0)
        x_rows[:, :hspan, wspan:].fill(0)
        np.copyto(x_rows[:, :hspan, :wspan], cols_rows[:, :, :, 0, 0, :])
        first = 1
    else:
        x_rows.fill(0)
    for offset in range(first, kh * kw):
        i, j = divmod(offset, kw)
        x_rows[:, i * dh:i * dh + hspan:sh, j * dw:j * dw + wspan:sw, :] += \
            cols_rows[:, :, :, i, j, :]


def _nn_scatter_windows(cols, padded_shape, pads, in_hw, strides, dilations):
    """Adds each window's values back to the input positions it read (the adjoint of
    _nn_windows); crops the padding."""
    n = cols.shape[0]
    xp = np.empty(padded_shape, cols.dtype)
    nbytes = 2 * cols.size * cols.itemsize + xp.nbytes
    _in_parallel(lambda rows: _nn_scatter_into(xp[rows], cols[rows], strides, dilations),
                 _pieces(n, nbytes), nbytes)
    (pt, _), (pl, _) = pads
    return xp[:, pt:pt + in_hw[0], pl:pl + in_hw[1], :]


def _nn_padded_shape(n, in_hw, pads, c):
    return (n, in_hw[0] + sum(pads[0]), in_hw[1] + sum(pads[1]), c)


def _nn_conv_windows(x, filter_hw, strides, padding, dilations):
    """(the (n, ho, wo, kh, kw, c) window view of NHWC x, padded, and (ho, wo))."""
    n, h, wd, c = x.shape
    pads, out = _nn_geometry((h, wd), filter_hw, strides, padding, dilations)
    return _nn_windows(_nn_pad(x, pads), filter_hw, strides, dilations, out), out


def _nn_grouped_cols(windows, cg):
    """The windows as (groups, n*ho*wo, kh*kw*cg) GEMM rows, one stack per group (a copy)."""
    n, ho, wo, kh, kw, c = windows.shape
    groups = c // cg
    cols_g = np.moveaxis(windows.reshape(n, ho, wo, kh, kw, groups, cg), 5, 0)
    return cols_g.reshape(groups, n * ho * wo, kh * kw * cg)


def _nn_cols_by_quads(windows, pooled_hw):
    """The transposed GEMM rows (kh*kw*c, m*ho*wo) of a window view (m, ho, wo, kh, kw, c)
    whose output pixels are tiled by 2x2 windows (pooled_hw of them), the pixels ordered as
    _nn_pool_2x2_route's gradient: (row in the window, column in the window, m, pooled row,
    pooled column). Tap by tap for one channel, as _nn_cols."""
    m, _, _, kh, kw, c = windows.shape
    ph, pw = pooled_hw
    split = windows.reshape(m, ph, 2, pw, 2, kh, kw, c)
    if c == 1:
        taps = np.ascontiguousarray(split.transpose(5, 6, 7, 2, 4, 0, 1, 3))
        return taps.reshape(kh * kw, -1)
    rows = np.ascontiguousarray(split.transpose(2, 4, 0, 1, 3, 5, 6, 7))
    return rows.reshape(-1, kh * kw * c).T


def _nn_cols(windows):
    """The GEMM rows (m*ho*wo, kh*kw*c) of a window view (m, ho, wo, kh, kw, c), copied. For
    one channel the copy is made tap by tap, (kh*kw, m*ho*wo), and handed back transposed (a
    BLAS flag): each tap reads whole image rows, where the window-major copy would move
    kw-float runs (4x slower for a 3x3 filter)."""
    m, ho, wo, kh, kw, c = windows.shape
    if c == 1:
        taps = np.ascontiguousarray(windows.transpose(3, 4, 5, 0, 1, 2))
        return taps.reshape(kh * kw, m * ho * wo).T
    return np.ascontiguousarray(windows).reshape(m * ho * wo, kh * kw * c)


# A convolution of one group runs over pieces of its batch with about this many bytes of
# im2col columns and outputs each (a few images, or a few output rows of a large image): with
# small filters, a piece's copy and its GEMM run on one thread, one piece per thread at a
# time, so that the columns are still in that core's cache (1 MB of L2 here) when the GEMM
# reads them, with one hand-off per piece.
_NN_COLS_BYTES = 1 << 19


def _nn_pieces(cols_shape, o, itemsize, whole_images=False, budget=None, per_thread=4,
               threads=None):
    """(image slice, output-row slice) pieces of a batch with im2col columns of shape
    (n, ho, wo, kh, kw, c) and o output channels (whole images only where `whole_images`),
    and whether they run on the threads at once: pieces of about _NN_COLS_BYTES, or of
    `budget` where they are whole images, at least `per_thread` per thread where they run at
    once (sized for `threads` threads where given, else for those there are).

    Filters of more than half the budget (deep layers) make larger pieces, of at least 4
    output pixels per output channel, whose GEMMs split over the threads instead: a GEMM of
    fewer rows than that spends as long packing the filters as multiplying."""
    n, ho, wo = cols_shape[:3]
    depth = math.prod(cols_shape[3:])
    pixel_bytes = max(1, (depth + o) * itemsize)
    small = 2 * depth * o * itemsize <= _NN_COLS_BYTES
    pixels = _NN_COLS_BYTES // pixel_bytes if small else max(
        8 * _NN_COLS_BYTES // pixel_bytes, 4 * o)
    if ho * wo <= pixels or whole_images:
        if budget:
            pixels = budget // pixel_bytes if small else max(8 * budget // pixel_bytes, 4 * o)
        step = max(1, pixels // (ho * wo))
        planned = _THREADS if threads is None else threads
        if small and planned > 1:
            step = max(1, min(step, -(-n // (per_thread * planned))))
        pieces = [(slice(start, start + step), slice(None)) for start in range(0, n, step)]
    else:
        step = max(1, pixels // wo)
        pieces = [(slice(image, image + 1), slice(start, start + step))
                  for image in range(n) for start in range(0, ho, step)]
    return pieces, small and len(pieces) >= _THREADS > 1


def _nn_by_pieces(run, pieces, parallel, nbytes):
    """Calls run(index, piece, matmul) for each piece: on the threads at once where
    `parallel`, each GEMM then single-threaded (np.matmul); else one piece after another,
    with GEMMs split over the threads (_matmul_2d)."""
    if parallel:
        _in_parallel(lambda item: run(item[0], item[1], np.matmul), list(enumerate(pieces)),
                     nbytes)
    else:
        for index, piece in enumerate(pieces):
            run(index, piece, _matmul_2d)


@_quiet
def conv2d(x, filters, strides, padding, dilations, data_format):
    """Cross-correlation with HWIO filters; input channels / filter depth = groups.
    im2col (a strided view, copied a piece at a time) and a GEMM per piece of the batch; one
    batched matmul over the groups for several."""
    return _nn_conv2d(x, filters, strides, padding, dilations, data_format)


@_quiet
def fused_conv2d(x, filters, *inputs, strides, padding, dilations, data_format, program,
                 register):
    """conv2d, then the elementwise `program` (fused_elementwise's) on its output, which is
    the program's input number `register` (the others are `inputs`, broadcast over the
    output's last axis, or of the output's shape): a bias, an inference BatchNormalization,
    a residual add, an activation. Where conv2d runs by pieces of the batch, each piece gets
    the program right after its GEMM, while it is still in cache; the native kernels apply
    a chain of per-channel steps (a bias, BatchNormalization, relu, relu6), swish and one
    residual (_nn_register_epilogue) in registers before they store; elsewhere the whole
    output gets it, in one native loop where _nn_epilogue_loop gives one. Either way the
    values are the program's on the output."""
    # (inputs shaped (1, 1, 1, c), as Keras' BatchNormalization reshapes its vectors, as (c,):
    # the same broadcast values, and a shape that broadcasts against a piece of the rows)
    inputs = tuple(np.reshape(a, -1) if np.ndim(a) > 1 and np.size(a) == np.shape(a)[-1]
                   else a for a in inputs)
    steps = _nn_epilogue_program(program, register, inputs)
    chain = _nn_epilogue_chain(steps)
    loop = _nn_epilogue_loop(program, len(inputs) + 1)

    def epilogue(result, in_place=True):
        if in_place and loop is not None:
            value = loop(*inputs[:register], result, *inputs[register:], out=result)
            if value is not result:
                np.copyto(result, value)
            return result
        if in_place and chain is not None and result.flags.c_contiguous and \
                chain(result) is not None:
            return result
        args = inputs[:register] + (result,) + inputs[register:]
        value = fused_elementwise(*args, program=program, out=result if in_place else None)
        if in_place and value is not result:
            np.copyto(result, value)
            return result
        return value
    dtype = native_dtype(program[-1][3])
    registers = _nn_register_epilogue(program, register, inputs, dtype)
    if any(np.ndim(a) > 1 for a in inputs):
        # (a tensor of the output's shape, a residual: in registers where the native kernel
        # runs, else the epilogue runs on the whole output, where it lines up, not by pieces)
        if registers is None:
            out = _nn_conv2d(x, filters, strides, padding, dilations, data_format)
            return epilogue(out, out.dtype == dtype
                            and out.flags.c_contiguous and out.flags.writeable)
        return _nn_conv2d(x, filters, strides, padding, dilations, data_format, epilogue,
                          dtype, registers, by_pieces=False)
    return _nn_conv2d(x, filters, strides, padding, dilations, data_format, epilogue, dtype,
                      registers)


# Instructions an epilogue chain runs in place: binary ufuncs, and relu as the maximum with
# a row of zeros (what the relu kernel computes).
_NN_CHAIN_UFUNCS = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
                    "divide": np.true_divide, "maximum": np.maximum, "minimum": np.minimum}


def _nn_epilogue_program(program, register, inputs):
    """A fused convolution's epilogue `program` as [(name, other input or None, whether the
    running value is the first operand)] where it is a chain: each instruction takes the
    previous result (the convolution's output first) and at most one input that is a scalar
    or a vector over the channels, in one float dtype throughout (a bias, then relu); else
    None."""
    n_inputs = len(inputs) + 1
    dtype = program[-1][3]
    steps = []
    previous = register
    for j, (name, refs, attrs, result_dtype) in enumerate(program):
        if attrs or result_dtype is not dtype or previous not in refs:
            return None
        others = [r for r in refs if r != previous]
        if name == "relu" and len(refs) == 1:
            steps.append((name, None, True))
        elif name in _NN_CHAIN_UFUNCS and len(refs) == 2 and len(others) == 1 \
                and others[0] < n_inputs and others[0] != register:
            other = inputs[others[0] - (others[0] > register)]
            if np.ndim(other) > 1 or np.asarray(other).dtype != native_dtype(dtype):
                return None
            steps.append((name, other, refs[0] == previous))
        else:
            return None
        previous = n_inputs + j
    return steps


# program -> (program, numpy_elementwise_native's loop for it, or None): see _nn_epilogue_loop
_NN_EPILOGUE_LOOPS = {}


def _nn_epilogue_loop(program, n_inputs):
    """For a fused convolution's epilogue `program` (a bias, an inference BatchNormalization's
    subtract, multiply and add, then relu or relu6): numpy_elementwise_native's single-pass
    loop (*inputs, out=None) computing it, relu6 as the maximum with 0 and then the minimum
    with 6 that the relu6 kernel computes (the same bits), or None where the loops do not run
    (the loop itself falls back to fused_elementwise on what it does not lower). One pass
    over the output where a chain makes one per instruction and fused_elementwise's NumPy
    broadcasts a vector over the channels slowly: MobileNetV2's (8, 112, 112, 96) 1x1
    convolution + BatchNormalization + relu6 took 47 ms as conv2d then fused_elementwise,
    17 ms so; a chain over ResNet50's (8, 56, 56, 256) bias + BatchNormalization + relu,
    6.7 ms, takes 1.6 ms.

    (A fused convolution applies it to the whole output after the native kernels, not to
    each piece of rows as they are written: a call per piece of ~100-400 kB cost more in
    Python and hand-offs of the GIL between the threads than the cache saved, 16.3 against
    12.8 ms for that MobileNetV2 layer, 49 against 67 images/s for its predict.)"""
    loops = _loops(False)
    if loops is None:
        return None
    entry = _NN_EPILOGUE_LOOPS.get(id(program))
    if entry is not None and entry[0] is program:
        return entry[1]
    dtype = program[-1][3]
    if any(name == "relu6" and (attrs or result is not dtype)
           for name, _, attrs, result in program):
        loop = None
    else:
        # (two inputs appended, 0 and 6, for relu6's bounds: register n_inputs + 2 + k is
        # instruction k of the rewritten program)
        zero, six = n_inputs, n_inputs + 1
        register_of = list(range(n_inputs))
        rewritten = []
        for name, refs, attrs, result in program:
            refs = tuple(register_of[r] for r in refs)
            if name == "relu6":
                rewritten.append(("maximum", (refs[0], zero), (), result))
                name, refs = "minimum", (n_inputs + 1 + len(rewritten), six)
            rewritten.append((name, refs, attrs, result))
            register_of.append(n_inputs + 1 + len(rewritten))
        rewritten = tuple(rewritten)
        bounds = (np.zeros((), native_dtype(dtype)), np.asarray(6, native_dtype(dtype)))
        run = loops.elementwise(rewritten, lambda *inputs, out=None: fused_elementwise(
            *inputs, program=rewritten, out=out))

        def loop(*inputs, out=None):
            return run(*inputs, *bounds, out=out)
    _NN_EPILOGUE_LOOPS[id(program)] = (program, loop)
    return loop


def _nn_epilogue_chain(steps):
    """For an epilogue program of _nn_epilogue_program's steps (None: not a chain): a
    function running it in place on a C-contiguous part of the output, as rows of several
    pixels with the vectors tiled to that length (NumPy broadcasts a short vector over rows
    of its own length ~2x slower, and the generic path allocates and copies each result);
    else None."""
    if steps is None:
        return None
    steps = [(np.maximum, None, True) if name == "relu" else
             (_NN_CHAIN_UFUNCS[name], other, first) for name, other, first in steps]

    def run(result):
        """result with the chain applied in place, or None where a vector is not one over
        its last axis."""
        c = result.shape[-1]
        if any(np.ndim(other) == 1 and other.shape[0] not in (1, c) for _, other, _ in steps):
            return None
        pixels = result.size // max(1, c)
        k = 1
        while 2 * k * c <= 1024 and pixels % (2 * k) == 0:
            k *= 2
        rows = result.reshape(-1, k * c)
        operands = [(ufunc, np.zeros(k * c, rows.dtype) if other is None else
                     np.tile(other, k * c // other.shape[0]) if np.ndim(other) == 1 else other,
                     first) for ufunc, other, first in steps]

        def apply(block):
            part = rows[block]
            for ufunc, other, first in operands:
                if first:
                    ufunc(part, other, out=part)
                else:
                    ufunc(other, part, out=part)
        # (A piece of a convolution's output, on a worker already, runs whole.)
        _in_parallel(apply, _pieces(rows.shape[0], 2 * result.nbytes), 2 * result.nbytes)
        return result
    return run


# A convolution's epilogue runs on each piece of its output (where the pieces run on the
# threads at once) only where the whole output is at least this large: a smaller one is
# still in cache for a pass over it afterwards, which then costs less than one call per
# piece (measured on one core: W2's (128, 26, 26, 32) bias + relu takes 0.6 ms less by
# pieces than in a pass afterwards, its (128, 11, 11, 64) one 0.3 ms more).
_NN_EPILOGUE_MIN_BYTES = 1 << 23
# ... and where its pieces' outputs average at least this many bytes: over many small pieces
# the calls cost more than the pass afterwards (64 pieces of (1, 32, 32, 32), a 3x3 SAME
# convolution + bias: 7.6 ms by pieces, 5.9 ms with the bias added afterwards).
_NN_EPILOGUE_PIECE_MIN_BYTES = 1 << 19


# A convolution of small images takes pieces of whole images of this many times
# _NN_COLS_BYTES: fewer pieces, less Python per piece, where the columns' reuse from L2 gains
# less (W2's first layer, (128, 28, 28, 1) * (3, 3, 1, 32) + bias + relu: pieces of 16 images
# instead of 4, 1.53-1.68 -> 1.21-1.36 ms; its second layer is as fast either way).
_NN_FORWARD_IMAGES_SCALE = 4


def _nn_row_pieces(rows, row_bytes, threads=None):
    """Slices of range(rows) (output rows of a batch, each with about row_bytes of work:
    output and the window values it reads) for a native kernel's pieces: at least 4 per
    thread (for `threads` where given, else those there are), at most about _NN_COLS_BYTES
    of work each."""
    threads = max(1, _THREADS if threads is None else threads)
    step = max(1, min(-(-rows // (4 * threads)), _NN_COLS_BYTES // max(1, row_bytes)))
    # (a multiple of the threads, in pieces that differ by a row at most: VGG16's 14x14
    # layers' 112 rows made 13 pieces of 9 (and 4), 7 rounds of the 2 threads' for 6.2 each)
    pieces = -(-rows // step)
    count = min(rows, -(-pieces // threads) * threads)
    return [slice(k * rows // count, (k + 1) * rows // count) for k in range(count)]


def _nn_native_conv(xp, w, out, strides, dilations, pads=(0, 0), epilogue=None):
    """Whether numpy_conv_native computed out = conv2d(xp, w) (xp NHWC, padded, or to be read
    as padded by pads = (rows above, columns to the left) and as far as out's windows reach
    below and to the right), then the `epilogue` in registers where given (see
    _nn_register_epilogue), by pieces of output rows on the threads."""
    by_rows = numpy_conv_native.conv2d_rows(xp, w, out, strides, dilations, pads=pads,
                                            pack=False, epilogue=epilogue)
    if by_rows is None:
        return False
    n, ho, wo, o = out.shape
    # (the filter's values are packed by the first piece that needs them: conv2d_rows)
    # (A row reads about strides[0] new input rows and writes one output row; a piece of
    # rows reads each block of filter values once, from L2 where it fits: VGG16's last
    # 3x3x512x512 convolution streamed its 9.4 MB filter from L3 for every row when pieces
    # were sized by the rows' im2col bytes, one row each: 26 -> 18 ms)
    row_bytes = (strides[0] * xp.shape[2] * xp.shape[3] + wo * o) * out.itemsize
    nbytes = xp.nbytes + out.nbytes
    # (Work too small for the threads (and within L2) runs in one call: each call costs a
    # few microseconds of ctypes and packing, which an SE block's (8, 1, 1, c) convolutions
    # paid 8-36 times)
    small = nbytes < _PARALLEL_MIN_BYTES
    pieces = [slice(0, n * ho)] if small else _nn_row_pieces(n * ho, row_bytes)
    block = getattr(by_rows, "vector_block", None)
    blocks = -(-by_rows.vectors // block) if block else 0
    # (Where every piece reading the whole filter would read more than every block of
    # output channels reading the whole input, each block runs over all rows instead, its
    # filter values packed on the thread that runs it: VGG16's 3x3x512x512 on 14x14 maps,
    # 132 MB of filter reads against 51 MB of input ones, 22 -> 20 ms. The blocks go in
    # runs of neighbours, at most 4 runs a thread: one kernel call each.)
    if not small and blocks >= 2 * _THREADS and w.nbytes * len(pieces) > xp.nbytes * blocks:
        runs = min(blocks, 4 * _THREADS)
        _in_parallel(lambda vectors: by_rows(0, n * ho, vectors),
                     [slice(k * blocks // runs * block, (k + 1) * blocks // runs * block)
                      for k in range(runs)], nbytes)
        return True
    _in_parallel(lambda piece: by_rows(piece.start, piece.stop), pieces, nbytes)
    return True


def _nn_register_epilogue(program, register, inputs, dtype):
    """(steps, rows, tensor) where a fused convolution's epilogue `program` (its output the
    input `register`, the others `inputs`) is what the native kernels apply in registers
    before they store (numpy_conv_native.epilogue_ir): a chain of adds, subtracts and
    multiplies of the running value with a scalar or a vector over the channels, all of
    `dtype` (a bias, an inference BatchNormalization as (x - mean) * scale + offset or x * a
    + b), relu and relu6, at most EPILOGUE_MOST_STEPS; rows (operands, channels) the
    operands, a scalar as a row of itself (the same values, in a kernel that does not
    depend on them). Also, for numpy_conv_native.conv2d_rows (not the depthwise kernel):
    float32 sigmoid, and sigmoid followed by its input times it (swish, one step), where
    the single-pass loops lower sigmoid; and at most one add, subtract or multiply with a
    tensor of the output's shape (a residual: `tensor`, else None), which may first have
    adds, subtracts and multiplies of per-channel operands of its own (a projection block's
    shortcut convolution's bias and BatchNormalization: EPILOGUE_RESIDUAL_OPS), each
    instruction's result read only by the next of its chain. Else None (the whole-output
    loop runs the program).

    The residual and swish ran in that loop after the kernel, a pass over the output that
    cost more than the kernel's stores: in a predict of 8 images (load ~1), EfficientNetB0's
    convolutions with BatchNormalization and swish spent 36 of their 99 ms in it,
    ResNet50's with BatchNormalization and a residual 21 of 107 (its projection blocks'
    ten-step programs, two BatchNormalizations, stayed in the loop until the residual's own
    steps). Alternated in one process (load ~5), EfficientNetB0's predict took 257 -> 222
    ms CPU time (median of 7)."""
    if len(program) > numpy_conv_native.EPILOGUE_MOST_STEPS + sum(
            name == "sigmoid" for name, *_ in program):
        return None
    n_inputs = len(inputs) + 1
    steps, rows, tensor = [], [], None
    previous = register
    residual = None  # (the register of the residual's chain's last value, until it is read)
    reads = {}
    for _, refs, _, _ in program:
        for r in set(refs):
            reads[r] = reads.get(r, 0) + 1
    sigmoid_of = None  # (the register a sigmoid's input is in, while the next step may be
    # swish's product)
    for j, (name, refs, attrs, result) in enumerate(program):
        if attrs or native_dtype(result) != dtype:
            return None
        if previous not in refs:
            # (a step of the residual's own chain: a tensor of the output's shape, or the
            # chain's last value, with a per-channel operand)
            if name not in ("add", "subtract", "multiply") or len(refs) != 2 \
                    or refs[0] == refs[1] or tensor is not None and residual is None:
                return None
            chain = [r for r in refs if r == residual or (
                r < n_inputs and r != register
                and np.ndim(inputs[r - (r > register)]) > 1)]
            if len(chain) != 1 or (residual is None) != (chain[0] < n_inputs) \
                    or reads.get(chain[0], 0) != 1:
                return None
            other = refs[0] + refs[1] - chain[0]
            if other >= n_inputs or other == register:
                return None
            other = inputs[other - (other > register)]
            if type(other) is not np.ndarray or other.dtype != dtype or other.ndim > 1:
                return None
            if residual is None:
                tensor = inputs[chain[0] - (chain[0] > register)]
                if type(tensor) is not np.ndarray or tensor.dtype != dtype:
                    return None
            steps.append(("residual_" + name, refs[0] == chain[0]))
            rows.append(other)
            residual = n_inputs + j
            sigmoid_of = None
            continue
        if residual is not None and residual in refs:
            # (the residual's chain read by the running value: its tensor step)
            if name not in ("add", "subtract", "multiply") or len(refs) != 2:
                return None
            steps.append((name + "_tensor", refs[0] == previous))
            residual = None
            sigmoid_of = None
            previous = n_inputs + j
            continue
        swish = (sigmoid_of is not None and name == "multiply" and len(refs) == 2
                 and set(refs) == {previous, sigmoid_of})
        if swish:
            steps[-1] = ("swish", refs[0] == sigmoid_of)
        elif name in ("relu", "relu6") and len(refs) == 1:
            steps.append((name, True))
        elif name == "sigmoid" and len(refs) == 1 and dtype == np.float32 \
                and numpy_conv_native.sigmoid_lowered():
            steps.append((name, True))
        elif name in ("add", "subtract", "multiply") and len(refs) == 2 \
                and refs[0] != refs[1] and refs[0] + refs[1] - previous < n_inputs \
                and refs[0] + refs[1] - previous != register:
            other = refs[0] + refs[1] - previous
            other = inputs[other - (other > register)]
            if type(other) is not np.ndarray or other.dtype != dtype:
                return None
            if other.ndim > 1:
                if tensor is not None:
                    return None
                tensor = other
                steps.append((name + "_tensor", refs[0] == previous))
            else:
                steps.append((name, refs[0] == previous))
                rows.append(other)
        else:
            return None
        sigmoid_of = previous if name == "sigmoid" else None
        previous = n_inputs + j
    if len(steps) > numpy_conv_native.EPILOGUE_MOST_STEPS or residual is not None \
            or previous != n_inputs + len(program) - 1:
        return None
    return tuple(steps), rows, tensor


def _nn_epilogue_rows(rows, channels, dtype):
    """The (operands, channels) C-contiguous array of an epilogue's operands (scalars and
    vectors of `channels` or 1 values), or None where one is of another length."""
    if any(row.ndim and row.shape[0] not in (1, channels) for row in rows):
        return None
    out = np.empty((len(rows), channels), dtype)
    for k, row in enumerate(rows):
        out[k] = row
    return out


def _nn_conv_by_gemm(windows, w, out, epilogue):
    """out = conv2d by im2col and GEMMs over pieces of the batch, with epilogue (None, or
    a function on a part of out, in place) run on each piece where the output is large
    enough for it to gain (see _NN_EPILOGUE_MIN_BYTES); the caller runs it otherwise."""
    kh, kw, cg, o = w.shape
    w2d = w.reshape(kh * kw * cg, o)
    pieces, parallel = _nn_pieces(windows.shape, o, windows.itemsize,
                                  budget=_NN_FORWARD_IMAGES_SCALE * _NN_COLS_BYTES)
    # (Pieces one after another leave the other threads idle: the epilogue then runs at
    # the end, where fused_elementwise splits it.)
    by_piece = (epilogue is not None and parallel
                and out.nbytes >= _NN_EPILOGUE_MIN_BYTES
                and out.nbytes >= _NN_EPILOGUE_PIECE_MIN_BYTES * len(pieces))

    def run(index, piece, matmul):
        matmul(_nn_cols(windows[piece]), w2d, out=out[piece].reshape(-1, o))
        if by_piece:
            epilogue(out[piece])
    _nn_by_pieces(run, pieces, parallel, windows.size * windows.itemsize + out.nbytes)
    return by_piece


def _nn_conv2d(x, filters, strides, padding, dilations, data_format, epilogue=None,
               epilogue_dtype=None, program=None, by_pieces=True):
    """conv2d, with epilogue(part of the output, in place) run on each piece as it is made
    where the output is NHWC of epilogue_dtype already (and `by_pieces`: not where it reads
    a tensor of the output's shape), else on the whole output at the end (in place where it
    can); `program` is the epilogue's _nn_register_epilogue (what the native kernels apply
    in registers instead, where they run), or None."""
    dtype = x.dtype
    x = _nn_upcast(_nn_nhwc(x, data_format))
    w = _nn_upcast(filters)
    kh, kw, cg, o = w.shape
    n, c = x.shape[0], x.shape[3]
    pads, (ho, wo) = _nn_geometry(x.shape[1:3], (kh, kw), strides, padding, dilations)

    def windows_of():
        return _nn_windows(_nn_pad(x, pads), (kh, kw), strides, dilations, (ho, wo))
    groups = c // cg
    out_dtype = np.result_type(x.dtype, w.dtype)
    in_place = (epilogue is not None and data_format == "NHWC"
                and out_dtype == dtype == epilogue_dtype)
    # (the epilogue the native kernels apply in registers, where they can: then no pass
    # over the output afterwards)
    steps, rows, tensor = program if in_place and program is not None else ((), None, None)
    rows = _nn_epilogue_rows(rows, o, out_dtype) if steps else None
    if rows is None or (tensor is not None and not (
            tensor.shape == (n, ho, wo, o) and tensor.flags.c_contiguous)):
        steps, tensor = (), None
    if groups == 1:
        out = np.empty((n, ho, wo, o), out_dtype)
        # (the kernel reads x as padded, skipping the padding's taps: no padded copy)
        if numpy_conv_native.supports(x, o) and _nn_native_conv(
                np.ascontiguousarray(x), w, out, strides, dilations,
                pads=(pads[0][0], pads[1][0]), epilogue=(steps, rows, tensor)):
            if steps:
                return out
            # (any other epilogue runs on the whole output, below)
        elif _nn_conv_by_gemm(windows_of(), w, out,
                              epilogue if in_place and by_pieces else None):
            return out
    elif cg == 1:
        out = np.empty((n, ho, wo, o), out_dtype)
        taps = w.reshape(kh, kw, c, o // c)
        # (the kernel reads x as padded, the padding's taps adding 0 * w: no padded copy. It
        # takes no tensor steps; where it refuses the others (sigmoid and swish, which
        # numpy_depthwise_native may not take) it runs without them, the loop after it.)
        steps = () if tensor is not None else steps
        source = np.ascontiguousarray(x)
        native = _nn_native_depthwise("depthwise_rows", source, taps, out, strides,
                                      dilations, pads, (steps, rows))
        if not native and steps:
            steps = ()
            native = _nn_native_depthwise("depthwise_rows", source, taps, out, strides,
                                          dilations, pads, ((), None))
        if native:
            if steps:
                return out
        else:
            windows = windows_of()
            _nn_depthwise_by_pieces(
                lambda images: _nn_depthwise_into(out[images], windows[images], taps), n, out)
    else:
        og = o // groups
        w_g = np.moveaxis(w.reshape(kh, kw, cg, groups, og), 3, 0).reshape(groups, -1, og)
        out = np.matmul(_nn_grouped_cols(windows_of(), cg), w_g)
        out = np.moveaxis(out, 0, 1).reshape(n, ho, wo, o)
    out = _nn_from_nhwc(out.astype(dtype, copy=False), data_format)
    if epilogue is None:
        return out
    return epilogue(out, out.dtype == epilogue_dtype and out.flags.c_contiguous)


@_quiet
def conv2d_backprop_filter(x, grad, filter_shape, strides, padding, dilations, data_format):
    """The filter gradient of conv2d: windows of x contracted with the output cotangent, one
    GEMM per piece of the batch, the pieces' products summed in order."""
    dtype = x.dtype
    x = _nn_upcast(_nn_nhwc(x, data_format))
    g = _nn_upcast(_nn_nhwc(grad, data_format))
    kh, kw, cg, o = filter_shape
    n, c = x.shape[0], x.shape[3]
    pads, (ho, wo) = _nn_geometry(x.shape[1:3], (kh, kw), strides, padding, dilations)
    groups = c // cg
    by_rows = None
    if groups == 1 and numpy_conv_native.supports(x, o):
        g = np.ascontiguousarray(g)
        # (the kernel reads x as padded, skipping the padding's pixels: no padded copy)
        by_rows = numpy_conv_native.filter_grad_rows(
            np.ascontiguousarray(x), g, tuple(filter_shape), strides, dilations,
            pads=(pads[0][0], pads[1][0]))
    depthwise = (_nn_native_depthwise_filter(x, g, filter_shape, strides, dilations, pads)
                 if groups > 1 and cg == 1 else None)
    windows = None if by_rows is not None or depthwise is not None else _nn_windows(
        _nn_pad(x, pads), (kh, kw), strides, dilations, (ho, wo))
    if by_rows is not None:
        out = _nn_filter_grad_by_rows(by_rows, n * ho, g.nbytes // max(1, n * ho),
                                      x.nbytes // max(1, n * ho), filter_shape, g.dtype)
    elif groups == 1:
        # (Deep filters keep their pieces: theirs split each GEMM over the threads. One
        # thread takes the pieces two would, so that the products are summed in the same
        # groups, the same bits either way.)
        shallow = 2 * kh * kw * cg * o * windows.itemsize <= _NN_COLS_BYTES
        pieces, parallel = _nn_pieces(windows.shape, o, windows.itemsize, budget=(
            _NN_FILTER_GRAD_SCALE * _NN_COLS_BYTES if shallow else None),
            threads=max(2, _THREADS))
        parts = [None] * len(pieces)

        def run(index, piece, matmul):
            # (_nn_cols(...).T: a BLAS flag, no copy)
            g_rows = np.ascontiguousarray(g[piece]).reshape(-1, o)
            parts[index] = matmul(_nn_cols(windows[piece]).T, g_rows)
        _nn_by_pieces(run, pieces, parallel, windows.size * windows.itemsize + g.nbytes)
        out = parts[0] if parts else np.zeros((kh * kw * cg, o), np.result_type(x, g))
        for part in parts[1:]:
            np.add(out, part, out=out)
        out = out.reshape(kh, kw, cg, o)
    elif depthwise is not None:
        out = depthwise
    elif cg == 1:
        parts = {}

        def run(images):
            parts[images.start] = _nn_depthwise_filter_part(windows[images], g[images])
        _nn_depthwise_by_pieces(run, n, g, fixed=True)
        out = np.zeros((kh * kw * c, o // c), np.result_type(x, g)) if not parts else None
        for start in sorted(parts):  # the pieces' sums added in the batch's order
            out = parts[start] if out is None else np.add(out, parts[start], out=out)
        out = out.reshape(kh, kw, cg, o)
    else:
        og = o // groups
        g_g = np.moveaxis(g.reshape(n * ho * wo, groups, og), 1, 0)
        cols_g = _nn_grouped_cols(windows, cg)
        out = np.matmul(np.swapaxes(cols_g, 1, 2), g_g).reshape(groups, kh, kw, cg, og)
        out = np.moveaxis(out, 0, 3).reshape(kh, kw, cg, o)
    return out.astype(dtype, copy=False)


# A native filter gradient's pieces of the batch read about this many bytes of the input and
# the cotangent each (they stay in L2 through the kernel's passes over them, one per filter
# tap and register block), and are at least this many: a fixed count, so that the partial
# sums, added in order, are the same on any number of threads.
_NN_FILTER_PIECE_BYTES = 1 << 20
_NN_FILTER_PIECES_MIN = 8


def _nn_filter_grad_by_rows(by_rows, rows, g_row_bytes, x_row_bytes, filter_shape, dtype):
    """The filter gradient from a native kernel by_rows(row0, row1, out) over pieces of the
    batch's output rows, their partial sums added in order (by parts of the filter where
    by_rows has numpy_conv_native's `part`: the same bits)."""
    step = max(1, _NN_FILTER_PIECE_BYTES // max(1, g_row_bytes + x_row_bytes))
    step = min(step, -(-rows // min(rows, _NN_FILTER_PIECES_MIN)))
    pieces = [slice(start, min(rows, start + step)) for start in range(0, rows, step)]
    by_part = getattr(by_rows, "part", None)
    blocks = -(-by_rows.vectors // by_rows.vector_block) if by_part is not None else 0
    filter_bytes = int(np.prod(filter_shape)) * np.dtype(dtype).itemsize
    if blocks >= _THREADS and (_THREADS <= 1
                               or len(pieces) * filter_bytes > rows * x_row_bytes):
        # (Each thread takes a part of the filter's output channel blocks over every piece in
        # order, adding each piece's sums to the last's: the bits of the pieces' partial sums
        # added in order, with no filter per piece to allocate and add: VGG16's 3x3x512x512
        # gradient has 8 pieces, 75 MB of them (25 -> 23 ms; its 3x3x128x256, 45 MB: 57 ->
        # 44 ms). Each thread reads every piece's input then: where that is more than the
        # pieces' filters, or there are fewer blocks than threads, they keep the pieces
        # (W2's 3x3x32x64, 8 pieces of 74 kB against 2.8 MB of input: 2.0 -> 2.06 ms by parts;
        # its first layer's one block split by taps instead took about 20% longer).)
        out = np.empty(tuple(filter_shape), dtype)
        groups = max(1, _THREADS)
        tasks = [(slice(0, by_rows.taps),
                  slice(k * blocks // groups * by_rows.vector_block,
                        (k + 1) * blocks // groups * by_rows.vector_block))
                 for k in range(groups)]

        def run(task):
            for index, piece in enumerate(pieces):
                by_part(piece.start, piece.stop, out, *task, index > 0)
        _in_parallel(run, tasks, rows * (g_row_bytes + x_row_bytes))
        return out
    parts = np.empty((len(pieces),) + tuple(filter_shape), dtype)
    _in_parallel(lambda index: by_rows(pieces[index].start, pieces[index].stop, parts[index]),
                 list(range(len(pieces))), rows * (g_row_bytes + x_row_bytes))
    out = parts[0]
    for part in parts[1:]:
        np.add(out, part, out=out)
    return out


# The input gradient's pieces are this many times larger than the others' (its batched GEMM,
# one product per kernel offset, gains from longer ones more than its col2im loses to the
# columns leaving L2): W2's (128, 11, 11, 64) -> (128, 13, 13, 32) takes 2.5-2.7 ms in
# pieces of 16 images, 2.9-3.2 ms in pieces of 3.
_NN_INPUT_GRAD_SCALE = 8


# The filter gradient's pieces of small images (shallow filters) are this many times larger
# than the others (fewer partial products to sum, less Python per piece; still at least 4 per
# thread): W2's (128, 13, 13, 32) x (128, 11, 11, 64) takes 1.80-1.87 ms in pieces of 16
# images, 1.97-2.03 ms in pieces of 3.
_NN_FILTER_GRAD_SCALE = 8


def _nn_pool_filter_grad_native(x, y, grad, filter_shape, strides, padding, dilations,
                                data_format, pool_ksize, pool_strides, pool_padding):
    """fused_conv2d_backprop_filter by the native kernels, where 2x2 pool windows at stride
    2 tile y and both kernels apply (else None): one kernel routes each cotangent in
    registers and adds its products with the windows of x, the routed cotangent never
    written out. The pieces and their sums are conv2d_backprop_filter's
    (_nn_filter_grad_by_rows), so are the bits; a piece that finds a value the routing
    leaves to NumPy (see numpy_pool_native.pool_grad_2x2) sends it all to the two kernels."""
    from tensorflux.backends import numpy_pool_native

    kh, kw, cg, o = filter_shape
    if not (data_format == "NHWC" and tuple(pool_ksize) == (2, 2)
            and tuple(pool_strides) == (2, 2) and pool_padding in ("VALID", "SAME")
            and x.ndim == y.ndim == grad.ndim == 4 and x.shape[3] == cg
            and x.dtype == y.dtype == grad.dtype and x.dtype in _SUM_FLOATS
            and y.shape[0] == grad.shape[0] == x.shape[0]
            and y.shape[1:3] == (2 * grad.shape[1], 2 * grad.shape[2])
            and y.flags.c_contiguous and grad.flags.c_contiguous
            and numpy_conv_native.supports(x, o)):
        return None  # (SAME on an even size pads nothing: the windows tile y)
    pads, (ho, wo) = _nn_geometry(x.shape[1:3], (kh, kw), strides, padding, dilations)
    n = x.shape[0]
    xp = _nn_pad(x, pads)
    if y.shape[1:] != (ho, wo, o) or not n * ho or not xp.flags.c_contiguous:
        return None  # (conv2d_backprop_filter's NumPy path: its bits)
    # (Where conv2d_backprop_filter would not run the native kernel, its bits are another's.)
    by_rows = numpy_pool_native.pool_filter_grad_rows(xp, y, grad, tuple(filter_shape),
                                                      strides, dilations)
    if by_rows is None or numpy_conv_native.filter_grad_rows(
            xp, y, tuple(filter_shape), strides, dilations) is None:
        return None
    finite = []
    # (the pieces conv2d_backprop_filter cuts, from the same row sizes: the same bits)
    out = _nn_filter_grad_by_rows(lambda row0, row1, part: finite.append(
        by_rows(row0, row1, part)), n * ho, wo * o * y.itemsize, x.nbytes // (n * ho),
        filter_shape, y.dtype)
    return out if all(finite) else None


@_quiet
def fused_conv2d_backprop_filter(x, y, grad, filter_shape, strides, padding, dilations,
                                 data_format, pool_ksize, pool_strides, pool_padding):
    """conv2d_backprop_filter(x, max_pool2d_grad(y, grad)) (the pool's attributes prefixed
    pool_, its data_format the convolution's). For float32/float64 NHWC of one group with
    2x2 windows at stride 2 (VALID), by slices of the batch: each slice's pool gradient is
    routed into a buffer of its own and contracted with its columns while in cache, the
    slices' products summed in order (the full-size gradient is never made; where the
    windows tile the output it stays by window element, see run); a non-finite
    cotangent or input, or any other case, runs the two kernels."""
    kh, kw, cg, o = filter_shape
    out = _nn_pool_filter_grad_native(x, y, grad, filter_shape, strides, padding, dilations,
                                      data_format, pool_ksize, pool_strides, pool_padding)
    if out is not None:
        return out
    windows = None
    # (Where the native filter gradient runs, the pool's gradient is made first: the native
    # kernel is faster than this fusion's GEMMs.)
    if (data_format == "NHWC" and tuple(pool_ksize) == (2, 2)
            and not (x.ndim == 4 and x.shape[3] == cg
                     and numpy_conv_native.supports(_nn_upcast(x), o))
            and tuple(pool_strides) == (2, 2) and pool_padding == "VALID"
            and x.ndim == y.ndim == grad.ndim == 4 and x.shape[3] == cg
            and x.dtype == y.dtype == grad.dtype and x.dtype in _SUM_FLOATS):
        windows, (ho, wo) = _nn_conv_windows(x, (kh, kw), strides, padding, dilations)
        pooled_hw = (y.shape[1] // 2, y.shape[2] // 2)
        if y.shape[:3] != (x.shape[0], ho, wo) or y.shape[3] != o or \
                grad.shape != (x.shape[0],) + pooled_hw + (o,):
            windows = None
    if windows is not None:
        slices = _nn_batch_slices(y)
        parts = [None] * len(slices)
        failed = []
        ht, wt = 2 * pooled_hw[0], 2 * pooled_hw[1]

        def run(item):
            index, images = item
            y_rows = y[images]
            if (ht, wt) == y.shape[1:3]:
                # The routed gradient stays by window element (four blocks, 3/4 zeros), and
                # the columns are copied in that pixel order: the same sum over pixels, in
                # another order, without writing the gradient back to image order (W2's
                # (128, 26, 26, 32) first layer: 0.29 -> 0.24 ms a slice, one thread).
                routed = _nn_pool_2x2_route(y_rows, grad[images], pooled_hw)
                if routed is None:
                    failed.append(index)
                    return
                parts[index] = np.matmul(_nn_cols_by_quads(windows[images], pooled_hw),
                                         routed.reshape(-1, o))
                return
            routed = np.empty(y_rows.shape, y.dtype)
            if _nn_pool_2x2_grad(y_rows[:, :ht, :wt], grad[images], pooled_hw,
                                 routed[:, :ht, :wt]) is None:
                failed.append(index)
                return
            routed[:, ht:].fill(0)
            routed[:, :ht, wt:].fill(0)
            # (_nn_cols(...).T: a BLAS flag, no copy)
            parts[index] = np.matmul(_nn_cols(windows[images]).T, routed.reshape(-1, o))
        _in_parallel(run, list(enumerate(slices)), 2 * y.nbytes + windows.size * x.itemsize)
        if not failed:
            out = parts[0]
            for part in parts[1:]:
                np.add(out, part, out=out)
            return out.reshape(kh, kw, cg, o)
    routed = max_pool2d_grad(y, grad, pool_ksize, pool_strides, pool_padding, data_format)
    return conv2d_backprop_filter(x, routed, filter_shape, strides, padding, dilations,
                                  data_format)


@_quiet
def conv2d_backprop_input(filters, grad, input_shape, strides, padding, dilations, data_format):
    """The input gradient of conv2d (a transposed convolution): col2im of grad @ filters^T,
    a few images at a time."""
    dtype = grad.dtype
    w = _nn_upcast(filters)
    g = _nn_upcast(_nn_nhwc(grad, data_format))
    kh, kw, cg, o = w.shape
    _, h, wd, c = _nn_nhwc_shape(input_shape, data_format)
    n = g.shape[0]  # input_shape's batch may be unknown (None) in a traced graph
    pads, (ho, wo) = _nn_geometry((h, wd), (kh, kw), strides, padding, dilations)
    if (ho, wo) != g.shape[1:3]:
        raise ValueError(f"the input shape {tuple(input_shape)} would give an output of "
                         f"spatial size {(ho, wo)}, but the gradient has shape {grad.shape}")
    groups = c // cg
    padded_shape = _nn_padded_shape(n, (h, wd), pads, c)
    if groups == 1:
        dx = _nn_native_input_grad(w, g, (n, h, wd, c), pads, strides, dilations)
        if dx is not None:
            return _nn_from_nhwc(dx.astype(dtype, copy=False), data_format)
    if groups == 1:
        # One batched GEMM per piece with a (kh*kw, o, c) stack of filter taps: each tap's
        # columns come out as one contiguous block, so the scatter adds whole (wo, c) rows;
        # the (m*ho*wo, kh*kw*c) product would interleave the taps and add c-float runs.
        taps = np.swapaxes(w.reshape(kh * kw, cg, o), 1, 2)
        dxp = np.empty(padded_shape, np.result_type(g.dtype, w.dtype))
        cols_shape = (n, ho, wo, kh, kw, c)  # of the whole batch, never made at once

        def run(index, piece, matmul):
            rows = piece[0]
            if matmul is np.matmul and tuple(strides) == (1, 1):
                _nn_input_grad_by_tap(dxp[rows], g[rows], taps, (kh, kw), dilations)
                return
            g_rows = np.ascontiguousarray(g[rows]).reshape(1, -1, o)
            cols = np.matmul(g_rows, taps).reshape(kh, kw, -1, ho, wo, c)
            _nn_scatter_into(dxp[rows], cols.transpose(2, 3, 4, 0, 1, 5), strides, dilations)
        pieces, parallel = _nn_pieces(cols_shape, o, dxp.itemsize, whole_images=True,
                                      budget=_NN_INPUT_GRAD_SCALE * _NN_COLS_BYTES)
        _nn_by_pieces(run, pieces, parallel,
                      2 * math.prod(cols_shape) * dxp.itemsize + dxp.nbytes)
        (pt, _), (pl, _) = pads
        dx = dxp[:, pt:pt + h, pl:pl + wd, :]
    elif cg == 1:
        taps = w.reshape(kh, kw, c, o // c)
        dx = np.empty((n, h, wd, c), np.result_type(g.dtype, w.dtype))
        if not _nn_native_depthwise("depthwise_input_grad_rows", np.ascontiguousarray(g),
                                    taps, dx, strides, dilations, pads):
            dxp = np.empty(padded_shape, dx.dtype)
            _nn_depthwise_by_pieces(lambda images: _nn_depthwise_input_into(
                dxp[images], g[images], taps, strides, dilations), n, dxp)
            (pt, _), (pl, _) = pads
            dx = dxp[:, pt:pt + h, pl:pl + wd, :]
    else:
        og = o // groups
        g_g = np.moveaxis(g.reshape(n * ho * wo, groups, og), 1, 0)
        w_g = np.moveaxis(w.reshape(kh, kw, cg, groups, og), 3, 0).reshape(groups, -1, og)
        cols = np.matmul(g_g, np.swapaxes(w_g, 1, 2)).reshape(groups, n, ho, wo, kh, kw, cg)
        cols = np.moveaxis(cols, 0, 5).reshape(n, ho, wo, kh, kw, c)
        dx = _nn_scatter_windows(cols, padded_shape, pads, (h, wd), strides, dilations)
    return _nn_from_nhwc(dx.astype(dtype, copy=False), data_format)


def _nn_native_input_grad(w, g, input_shape, pads, strides, dilations):
    """conv2d's input gradient by numpy_conv_native, or None where it does not apply. At
    stride 1: the convolution of the cotangent, padded by the filter's reach less the
    forward padding, with the filter turned half a turn and its channel axes swapped. At
    stride s the input's pixels fall into s x s phases (row % s, column % s), each reached
    by the taps of one residue modulo s only: a phase is the stride-1 convolution of the
    cotangent with those taps, turned, written by the kernel into every s-th pixel of dx."""
    n, h, wd, c = input_shape
    if not numpy_conv_native.supports(g, c):
        return None
    axes = []  # per axis: (phase, its taps in turned order, padding before, dilation)
    for size, k, s, d, (p, _) in zip((h, wd), w.shape[:2], strides, dilations, pads):
        if s == 1:
            axes.append([(0, np.arange(k)[::-1], (k - 1) * d - p, d)])
        elif d == 1:
            # (phase r's taps are first, first + s, ...: output i reaches x[i * s + tap - p])
            phases = []
            for r in range(min(s, size)):
                first = (r + p) % s
                taps = np.arange(first, k, s)[::-1]
                phases.append((r, taps, len(taps) - 1 - (r + p - first) // s, 1))
            axes.append(phases)
        else:
            return None
    g = np.ascontiguousarray(g)
    dx = np.empty(input_shape, np.result_type(g.dtype, w.dtype))
    sh, sw = strides

    def steps(indices):
        """The slice picking `indices`, a run of equal steps (each phase's turned taps)."""
        step = int(indices[1] - indices[0]) if len(indices) > 1 else 1
        stop = int(indices[-1]) + step
        return slice(int(indices[0]), None if stop < 0 else stop, step)
    # (the kernel skips the padding's taps, a third of them on W2's 11x11 cotangents)
    for r, rows, top, dh in axes[0]:
        for q, cols, left, dw in axes[1]:
            if not (len(rows) and len(cols)):
                dx[:, r::sh, q::sw] = 0
                continue
            # (a view of w, the taps' indices being steps of one stride: the kernel packs it
            # in one copy, where indexing by them copied twice more: 2 ms of VGG16's 19 ms
            # 3x3x512x512 input gradient)
            taps = w[steps(rows)][:, steps(cols)].transpose(0, 1, 3, 2)
            if not _nn_native_conv(g, taps, dx[:, r::sh, q::sw], (1, 1), (dh, dw),
                                   pads=(top, left)):
                return None
    return dx


def _nn_input_grad_by_tap(x_rows, g_rows, taps, filter_hw, dilations):
    """_nn_scatter_into(x_rows, windows of g_rows @ taps) at stride 1, one filter tap at a
    time: each tap's product (the same GEMM as a batched matmul's) lands in a buffer that
    stays in cache while it is added in, instead of all taps' columns leaving L2 first."""
    m, ho, wo, o = g_rows.shape
    c = x_rows.shape[3]
    kh, kw = filter_hw
    dh, dw = dilations
    g_flat = np.ascontiguousarray(g_rows).reshape(-1, o)
    buffer = np.empty((m * ho * wo, c), np.result_type(g_rows.dtype, taps.dtype))
    block = buffer.reshape(m, ho, wo, c)
    x_rows[:, ho:].fill(0)
    x_rows[:, :ho, wo:].fill(0)
    for offset in range(kh * kw):
        i, j = divmod(offset, kw)
        np.matmul(g_flat, taps[offset], out=buffer)
        if offset:
            x_rows[:, i * dh:i * dh + ho, j * dw:j * dw + wo] += block
        else:
            np.copyto(x_rows[:, :ho, :wo], block)


# A convolution of one input channel per group (DepthwiseConv2D, SeparableConv2D's first
# step) runs filter tap by filter tap as elementwise products over a few images at a time,
# on the threads: as a grouped GEMM it was a stack of one-column products, a BLAS call per
# channel, with an output strided by channel that made every kernel after it slow too.
def _nn_depthwise_by_pieces(run, n, largest, fixed=False):
    """Calls run(slice of images) over a batch of n: pieces of about _NN_COLS_BYTES of
    `largest` (the largest array a piece writes or reads, batch first), at least 4 per thread
    where they run on the threads. `fixed` pieces (whose results are summed in order) are the
    same on any thread count: those for at least two threads."""
    nbytes = 2 * largest.nbytes
    image_bytes = max(1, largest.nbytes // max(1, n))
    step = max(1, _NN_COLS_BYTES // image_bytes)
    if fixed or (_THREADS > 1 and nbytes >= _PARALLEL_MIN_BYTES):
        step = max(1, min(step, -(-n // (4 * max(2, _THREADS)))))
    _in_parallel(run, [slice(start, start + step) for start in range(0, n, step)], nbytes)


def _nn_native_depthwise(rows_of, source, taps, target, strides, dilations, pads,
                         epilogue=None):
    """Whether numpy_depthwise_native's `rows_of` kernel (depthwise_rows, or
    depthwise_input_grad_rows) wrote target (NHWC) from source and the filter taps (kh, kw,
    c, multiplier), reading the input as padded by pads, by pieces of target's rows on the
    threads (each row its own: the same bits on any thread count); depthwise_rows with the
    `epilogue` in registers where given (see _nn_register_epilogue)."""
    from tensorflux.backends import numpy_depthwise_native

    by_rows = getattr(numpy_depthwise_native, rows_of)(
        source, taps, target, strides, dilations, (pads[0][0], pads[1][0]),
        **({} if epilogue is None else {"epilogue": epilogue}))
    if by_rows is None:
        return False
    rows = target.shape[0] * target.shape[1]
    nbytes = source.nbytes + target.nbytes
    _in_parallel(lambda piece: by_rows(piece.start, piece.stop),
                 _nn_row_pieces(rows, nbytes // max(1, rows)), nbytes)
    return True


def _nn_native_depthwise_filter(x, g, filter_shape, strides, dilations, pads):
    """The filter gradient of a depthwise convolution by numpy_depthwise_native, or None where
    it does not apply: sums over pieces of the output rows (those two threads would take, on
    any number of threads), on the threads, then the pieces' sums added in order, so the
    same bits on any thread count."""
    from tensorflux.backends import numpy_depthwise_native

    g = np.ascontiguousarray(g)
    by_rows = numpy_depthwise_native.depthwise_filter_grad_rows(
        np.ascontiguousarray(x), g, tuple(filter_shape), strides, dilations,
        (pads[0][0], pads[1][0]))
    if by_rows is None:
        return None
    kh, kw, _, o = filter_shape
    rows = g.shape[0] * g.shape[1]
    nbytes = x.nbytes + g.nbytes
    pieces = _nn_row_pieces(rows, nbytes // max(1, rows), threads=2)
    parts = np.empty((len(pieces), kh * kw, o), g.dtype)
    _in_parallel(lambda k: by_rows(pieces[k].start, pieces[k].stop, parts[k]),
                 list(range(len(pieces))), nbytes)
    out = parts[0]
    for part in parts[1:]:
        np.add(out, part, out=out)
    return out.reshape(filter_shape)


def _nn_depthwise_tap(windows, i, j, multiplier):
    """Filter tap (i, j)'s inputs of a window view (m, ho, wo, kh, kw, c): (m, ho, wo, c), with
    an axis for the channel multiplier where it is not 1."""
    tap = windows[:, :, :, i, j, :]
    return tap if multiplier == 1 else tap[..., None]


def _nn_depthwise_into(out, windows, taps):
    """out (m, ho, wo, c * multiplier) = the convolution of each channel of the window view
    windows (m, ho, wo, kh, kw, c) with its filters taps (kh, kw, c, multiplier): each tap's
    products added in the taps' row-major order."""
    m, ho, wo, kh, kw, c = windows.shape
    multiplier = taps.shape[3]
    target = out if multiplier == 1 else out.reshape(m, ho, wo, c, multiplier)
    if multiplier == 1:
        taps = taps[..., 0]
    np.multiply(_nn_depthwise_tap(windows, 0, 0, multiplier), taps[0, 0], out=target)
    buffer = np.empty_like(target)
    for offset in range(1, kh * kw):
        i, j = divmod(offset, kw)
        np.multiply(_nn_depthwise_tap(windows, i, j, multiplier), taps[i, j], out=buffer)
        np.add(target, buffer, out=target)


def _nn_depthwise_filter_part(windows, g_rows):
    """The filter gradient (kh * kw * c, multiplier) of a depthwise convolution over the
    window view windows (m, ho, wo, kh, kw, c) with cotangent g_rows (m, ho, wo, c *
    multiplier): each tap's products summed over the pixels as a GEMV with ones."""
    m, ho, wo, kh, kw, c = windows.shape
    o = g_rows.shape[3]
    multiplier = o // c
    dtype = np.result_type(windows.dtype, g_rows.dtype)
    g = g_rows if multiplier == 1 else g_rows.reshape(m, ho, wo, c, multiplier)
    buffer = np.empty(g.shape, dtype)
    rows = buffer.reshape(-1, o)
    ones = _ones(rows.shape[0], dtype)
    part = np.empty((kh, kw, o), dtype)
    for offset in range(kh * kw):
        i, j = divmod(offset, kw)
        np.multiply(_nn_depthwise_tap(windows, i, j, multiplier), g, out=buffer)
        np.dot(ones, rows, out=part[i, j])
    return part.reshape(kh * kw * c, multiplier)


def _nn_depthwise_input_into(xp_rows, g_rows, taps, strides, dilations):
    """xp_rows (m, padded h, padded w, c) = the input gradient of a depthwise convolution with
    filters taps (kh, kw, c, multiplier), cotangent g_rows (m, ho, wo, c * multiplier): each
    tap's products (summed over the multiplier) added where its windows read, in the taps'
    order; zero where none read."""
    m, ho, wo, o = g_rows.shape
    kh, kw, c, multiplier = taps.shape
    (sh, sw), (dh, dw) = strides, dilations
    hspan, wspan = sh * (ho - 1) + 1, sw * (wo - 1) + 1
    buffer = np.empty((m, ho, wo, c), xp_rows.dtype)
    g = g_rows if multiplier == 1 else g_rows.reshape(m, ho, wo, c, multiplier)
    first = 0
    if (sh, sw) == (1, 1):  # the first tap's block is written, only the rest zeroed
        xp_rows[:, hspan:].fill(0)
        xp_rows[:, :hspan, wspan:].fill(0)
    else:
        xp_rows.fill(0)
        first = -1
    for offset in range(kh * kw):
        i, j = divmod(offset, kw)
        target = xp_rows[:, i * dh:i * dh + hspan:sh, j * dw:j * dw + wspan:sw]
        product = target if offset == first else buffer
        if multiplier == 1:
            np.multiply(g, taps[i, j, :, 0], out=product)
        else:
            np.add.reduce(g * taps[i, j], axis=-1, out=product)
        if product is buffer:
            np.add(target, buffer, out=target)


def _nn_lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _nn_pool_setup(x, ksize, strides, padding, data_format, fill):
    x = _nn_nhwc(x, data_format)
    n, h, w, c = x.shape
    pads, out = _nn_geometry((h, w), ksize, strides, padding, (1, 1))
    windows = _nn_windows(_nn_pad(x, pads, fill), ksize, strides, (1, 1), out)
    return x, pads, out, windows


def _nn_offsets(ksize, strides, out):
    """Per kernel offset (row-major, TF's flat window order), the (h, w) slices of the padded
    input that the offset reads for every output position."""
    (kh, kw), (sh, sw), (ho, wo) = ksize, strides, out
    for i in range(kh):
        for j in range(kw):
            yield (slice(None), slice(i, i + sh * (ho - 1) + 1, sh),
                   slice(j, j + sw * (wo - 1) + 1, sw), slice(None))


def _nn_pool_max(x, ksize, strides, padding, data_format):
    """(NHWC input, pads, output sizes, padded input, window maxima): a running maximum over
    the kh*kw shifted strided views (no window copy, no reduction over a strided axis), by
    slices of the batch."""
    xn = _nn_nhwc(x, data_format)
    n, h, w, c = xn.shape
    pads, out = _nn_geometry((h, w), ksize, strides, padding, (1, 1))
    xp = _nn_pad(xn, pads, _nn_lowest(x.dtype))
    peak = np.empty((n,) + tuple(out) + (c,), xp.dtype)
    from tensorflux.backends import numpy_pool_native

    by_rows = numpy_pool_native.pool_max_rows(xp, peak, ksize, strides)
    if by_rows is not None:
        _nn_pool_by_rows(by_rows, n * out[0], xp.nbytes + peak.nbytes)
        return xn, pads, out, xp, peak
    offsets = list(_nn_offsets(ksize, strides, out))

    def run(rows):
        x_rows, peak_rows = xp[rows], peak[rows]
        if len(offsets) == 1:
            np.copyto(peak_rows, x_rows[offsets[0]])
            return
        np.maximum(x_rows[offsets[0]], x_rows[offsets[1]], out=peak_rows)
        for index in offsets[2:]:
            np.maximum(peak_rows, x_rows[index], out=peak_rows)
    _in_parallel(run, _nn_thread_slices(xp), xp.nbytes + peak.nbytes)
    return xn, pads, out, xp, peak


# numpy_pool_native's kernels run on one thread below this many bytes read and written, else
# in one piece per thread: they go at memory speed, and a worker's wake-up and more pieces
# cost more than a second core gains on less (W2, ms on one thread / 2 threads in 2 pieces /
# in 8: (128, 26, 26, 32) max_pool2d_grad (25 MB) 0.99 / 0.68 / 0.80, max_pool2d (14 MB)
# 0.51 / 0.37 / 0.41; (128, 11, 11, 64) max_pool2d_grad (8.8 MB) 0.44 / 0.42 / 0.58,
# max_pool2d (4.9 MB) 0.17 / 0.22 / 0.22).
_NN_POOL_SPLIT_BYTES = 8 << 20


def _nn_pool_by_rows(by_rows, rows, nbytes):
    """The results of a numpy_pool_native kernel by_rows(row0, row1) over pieces of
    range(rows), split over threads where the work spans `nbytes`."""
    results = []
    threads = _THREADS if nbytes >= _NN_POOL_SPLIT_BYTES else 1
    step = max(1, -(-rows // max(1, min(rows, threads))))
    _in_parallel(lambda start: results.append(by_rows(start, min(rows, start + step))),
                 list(range(0, rows, step)), nbytes)
    return results


def _nn_first_max(xp, peak, ksize, strides, out):
    """Per kernel offset, (slices, mask of the windows whose first maximum is there): TF's
    CPU tie rule (the first maximum wins; a NaN counts as the maximum it produced)."""
    taken = np.zeros(peak.shape, bool)
    nan_peak = np.isnan(peak) if peak.dtype.kind == "f" and np.isnan(peak).any() else None
    for index in _nn_offsets(ksize, strides, out):
        v = xp[index]
        hit = v == peak
        if nan_peak is not None:
            hit |= nan_peak & np.isnan(v)
        hit &= ~taken
        taken |= hit
        yield index, hit


def max_pool2d(x, ksize, strides, padding, data_format):
    # (numpy_pool_native reads x in place as padded: no padded copy, as _nn_pool_max makes)
    xn = _nn_nhwc(x, data_format)
    n, h, w, c = xn.shape
    pads, out = _nn_geometry((h, w), ksize, strides, padding, (1, 1))
    peak = np.empty((n,) + tuple(out) + (c,), x.dtype)
    if _nn_pool_native_rows(xn, peak, ksize, strides, pads):
        return _nn_from_nhwc(peak, data_format)
    return _nn_from_nhwc(_nn_pool_max(x, ksize, strides, padding, data_format)[4], data_format)


def _nn_pool_native_rows(xn, peak, ksize, strides, pads):
    """Whether numpy_pool_native wrote peak, the window maxima of xn (NHWC) read as padded
    with -inf by pads, as _nn_pool_max computes them."""
    from tensorflux.backends import numpy_pool_native

    if xn.dtype not in _SUM_FLOATS:
        return False
    xn = np.ascontiguousarray(xn)
    by_rows = numpy_pool_native.pool_max_rows(xn, peak, ksize, strides,
                                              (pads[0][0], pads[1][0]))
    if by_rows is None:
        return False
    _nn_pool_by_rows(by_rows, peak.shape[0] * peak.shape[1], xn.nbytes + peak.nbytes)
    return True


def _nn_finite(a):
    """Whether a float array holds no inf/NaN, from one sum (an overflow to inf only sends
    the caller down its general path): for a contiguous float32/float64 one a dot product
    with ones (BLAS), 3x cheaper than np.add.reduce at the sizes of a pooling slice."""
    if a.dtype.kind != "f":
        return True
    if a.dtype in _SUM_FLOATS and a.flags.c_contiguous and a.size:
        total = a.reshape(-1).dot(_ones(a.size, a.dtype))
    else:
        total = np.add.reduce(a, axis=None)
    return bool(np.isfinite(total))


# Kernels that make several passes over a batch go through it in slices of about this many
# input bytes, so that a slice and its temporaries stay in cache between the passes (mostly:
# W2's max-pool gradients run faster in slices of 1 MB than of 512 KB, fewer calls each).
_NN_SLICE_BYTES = 1 << 20


def _nn_batch_slices(x):
    step = max(1, _NN_SLICE_BYTES // max(1, x[:1].nbytes))
    return [slice(start, start + step) for start in range(0, x.shape[0], step)]


def _nn_thread_slices(x):
    """_nn_batch_slices where the work may be split over threads, else the whole batch (as
    these kernels ran before there were threads, and as the GPU runs them)."""
    return _nn_batch_slices(x) if _THREADS > 1 else [slice(None)]


def _nn_pool_2x2_grad(xp, g, out, dxp):
    """max_pool2d_grad for 2x2 windows at stride 2 that tile xp, written into dxp (xp's
    shape), or None where x or g is not finite.

    A tournament gives each window's first maximum in row-major order: the left element of
    each row pair wins unless the right one is greater, then the top row unless the bottom
    row's maximum is greater. The windows' four elements are copied out as four contiguous
    arrays first, and the results copied back in: NumPy's arithmetic on strided views costs
    ~2.5x that on contiguous arrays, a copy less."""
    ho, wo = out
    failed = []

    def run(rows):
        x_rows, d_rows = xp[rows], dxp[rows]
        routed = _nn_pool_2x2_route(x_rows, g[rows], out)
        if routed is None:
            failed.append(rows)
            return
        m, c = x_rows.shape[0], x_rows.shape[3]
        np.copyto(d_rows.reshape(m, ho, 2, wo, 2, c).transpose(2, 4, 0, 1, 3, 5), routed)
    _in_parallel(run, _nn_batch_slices(xp), 2 * xp.size * xp.itemsize + 2 * g.nbytes)
    return None if failed else dxp


def _nn_pool_2x2_native(xp, g, dxp):
    """Whether numpy_pool_native routed g into dxp as _nn_pool_2x2_grad would (but for the
    rows and columns past the windows, left alone)."""
    from tensorflux.backends import numpy_pool_native

    by_rows = numpy_pool_native.pool_grad_2x2(xp, g, dxp)
    return by_rows is not None and all(_nn_pool_by_rows(
        by_rows, g.shape[0] * g.shape[1], xp.nbytes + dxp.nbytes + g.nbytes))


def _nn_pool_2x2_route(x_rows, g_rows, out):
    """The gradient of 2x2 windows at stride 2 that tile x_rows, by window element: an array
    (row in the window, column in the window, m, ho, wo, c), g routed to each window's first
    maximum and zero elsewhere; None where g or x is not finite."""
    ho, wo = out
    if not _nn_finite(g_rows):
        return None  # inf * 0 below would make NaN: the general path selects
    m, c = x_rows.shape[0], x_rows.shape[3]
    quads = (2, 2, m, ho, wo, c)
    windows = np.empty(quads, x_rows.dtype)
    np.copyto(windows, x_rows.reshape(m, ho, 2, wo, 2, c).transpose(2, 4, 0, 1, 3, 5))
    # Each step covers both rows of the windows in one call (fewer, larger passes).
    left, right = windows[:, 0], windows[:, 1]
    row_max = np.maximum(left, right)  # (top, bottom)
    if not _nn_finite(row_max):
        return None  # NaN windows follow the general path's rule
    left_first = np.greater_equal(left, right)
    routed = np.empty(quads, g_rows.dtype)
    # Finite g times a 0/1 mask, and g minus that, route g exactly to one element each:
    # to the top or bottom row (held where the right elements go until they are
    # written), then to the left or right element of that row.
    by_row = routed[:, 1]
    np.multiply(g_rows, row_max[0] >= row_max[1], out=by_row[0])
    np.subtract(g_rows, by_row[0], out=by_row[1])
    np.multiply(by_row, left_first, out=routed[:, 0])
    np.subtract(by_row, routed[:, 0], out=routed[:, 1])
    return routed


def _nn_pool_overlap_native(x, g, ksize, strides, padding, data_format):
    """max_pool2d_grad of overlapping windows by numpy_pool_native (the same sums in the
    same order as the general path below: bit-identical), or None where it does not apply.
    The kernel reads x as padded and writes the gradient of the unpadded input, contiguous
    (where the general path pads x and returns a view into its padded result, which every
    reader then reads strided)."""
    from tensorflux.backends import numpy_pool_native

    xn = _nn_nhwc(x, data_format)
    if xn.dtype not in _SUM_FLOATS or g.dtype != xn.dtype:
        return None
    n, h, w, c = xn.shape
    pads, out = _nn_geometry((h, w), ksize, strides, padding, (1, 1))
    if g.shape != (n,) + tuple(out) + (c,):
        return None
    xn, g = np.ascontiguousarray(xn), np.ascontiguousarray(g)
    dx = np.empty(xn.shape, g.dtype)
    by_images = numpy_pool_native.pool_grad_overlap(xn, g, dx, ksize, strides,
                                                    (pads[0][0], pads[1][0]))
    if by_images is None:
        return None
    _nn_pool_by_rows(by_images, n, xn.nbytes + dx.nbytes + g.nbytes)
    return _nn_from_nhwc(dx, data_format)


def max_pool2d_grad(x, grad, ksize, strides, padding, data_format):
    """Routes each output's cotangent to the input element its window's max came from."""
    g = _nn_nhwc(grad, data_format)
    if tuple(ksize) == (2, 2) and tuple(strides) == (2, 2):
        xn = _nn_nhwc(x, data_format)
        pads, out = _nn_geometry(xn.shape[1:3], ksize, strides, padding, (1, 1))
        xp = _nn_pad(xn, pads, _nn_lowest(x.dtype))
        # The windows tile the (padded) input but for a last row or column that VALID
        # padding leaves out of every window (an odd size): its gradient is zero.
        ht, wt = 2 * out[0], 2 * out[1]
        dxp = np.empty(xp.shape, g.dtype)
        if (_nn_pool_2x2_native(xp, g, dxp)
                or _nn_pool_2x2_grad(xp[:, :ht, :wt], g, out, dxp[:, :ht, :wt]) is not None):
            dxp[:, ht:].fill(0)
            dxp[:, :ht, wt:].fill(0)
            (pt, _), (pl, _) = pads
            n, h, w, c = xn.shape
            return _nn_from_nhwc(dxp[:, pt:pt + h, pl:pl + w, :], data_format)
    disjoint = all(k <= s for k, s in zip(ksize, strides))
    if not disjoint:  # (as a 3x3 pool at stride 2: numpy_pool_native's overlap kernel)
        native = _nn_pool_overlap_native(x, g, ksize, strides, padding, data_format)
        if native is not None:
            return native
    xn, pads, out, xp, peak = _nn_pool_max(x, ksize, strides, padding, data_format)
    dxp = np.zeros(xp.shape, g.dtype)
    # g * mask is a branch-free pass (a masked select on random masks is ~20x slower); it
    # is exact unless g holds inf/NaN (inf * 0 = NaN), where the select is used instead.
    # (Many small passes: split over threads, they lose more to handing the GIL back and
    # forth than they gain.)
    finite = g.dtype.kind != "f" or bool(np.isfinite(g).all())
    for index, hit in _nn_first_max(xp, peak, ksize, strides, out):
        routed = np.multiply(g, hit) if finite else np.where(hit, g, np.zeros((), g.dtype))
        if disjoint:  # each input element is read by at most one window
            dxp[index] = routed
        else:
            dxp[index] += routed
    (pt, _), (pl, _) = pads
    n, h, w, c = xn.shape
    return _nn_from_nhwc(dxp[:, pt:pt + h, pl:pl + w, :], data_format)


def max_pool2d_gather(x, values, ksize, strides, padding, data_format):
    """Per window of x, the element of `values` (x's shape) where x has its max."""
    _, pads, out, xp, peak = _nn_pool_max(x, ksize, strides, padding, data_format)
    vp = _nn_pad(_nn_nhwc(values, data_format), pads)
    picked = np.zeros(peak.shape, values.dtype)
    finite = values.dtype.kind != "f" or bool(np.isfinite(values).all())
    for index, hit in _nn_first_max(xp, peak, ksize, strides, out):
        if finite:
            picked += np.multiply(vp[index], hit)
        else:
            np.copyto(picked, vp[index], where=hit)
    return _nn_from_nhwc(picked, data_format)


def _nn_avg_counts(in_hw, pads, ksize, strides, out, dtype):
    """How many real (unpadded) elements each window covers: TF's SAME averages those only."""
    ones = np.ones((1,) + tuple(in_hw) + (1,), dtype)
    windows = _nn_windows(_nn_pad(ones, pads), ksize, strides, (1, 1), out)
    return np.add.reduce(windows, axis=(3, 4))


def avg_pool2d(x, ksize, strides, padding, data_format):
    xn, pads, out, windows = _nn_pool_setup(x, ksize, strides, padding, data_format, 0)
    wide = _nn_upcast(x).dtype
    sums = np.add.reduce(windows, axis=(3, 4), dtype=wide)
    counts = _nn_avg_counts(xn.shape[1:3], pads, ksize, strides, out, wide)
    return _nn_from_nhwc((sums / counts).astype(x.dtype, copy=False), data_format)


def avg_pool2d_grad(grad, input_shape, ksize, strides, padding, data_format):
    """Spreads each output's cotangent evenly over the real elements of its window."""
    n, h, w, c = _nn_nhwc_shape(input_shape, data_format)
    pads, out = _nn_geometry((h, w), ksize, strides, padding, (1, 1))
    g = _nn_upcast(_nn_nhwc(grad, data_format))
    share = g / _nn_avg_counts((h, w), pads, ksize, strides, out, g.dtype)
    cols = np.broadcast_to(share[:, :, :, None, None, :], share.shape[:3] + tuple(ksize) + (c,))
    dx = _nn_scatter_windows(cols, _nn_padded_shape(n, (h, w), pads, c), pads, (h, w),
                             strides, (1, 1))
    return _nn_from_nhwc(dx.astype(grad.dtype, copy=False), data_format)


# ---- math (helper)

def mul_no_nan(x, y):
    # Only inf * 0 and NaN * 0 differ from the plain product: mask when a NaN shows up (the
    # warning it raises is silenced by the filter above). Zeros keep the product's sign.
    out = np.multiply(x, y)
    if np.isnan(out).any():
        out = np.where(y == 0, np.zeros((), out.dtype), out)
    return out


# ---- array (helper)

def arange(start, delta, size, dtype):
    native = native_dtype(dtype)
    steps = np.arange(size, dtype=native)
    return (np.asarray(start, native) + steps * np.asarray(delta, native)).astype(native,
                                                                                 copy=False)


def eye(num_rows, num_columns, batch_shape, dtype):
    matrix = np.eye(num_rows, num_columns, dtype=native_dtype(dtype))
    return np.broadcast_to(matrix, tuple(batch_shape) + matrix.shape).copy()


def concat(*xs, axis):
    return np.concatenate(xs, axis=axis)


def split(x, sizes, axis):
    # The pieces are views of one private copy: they share no memory with x (nor with each
    # other), and splitting an epoch into batches is one copy instead of one per batch.
    x = np.array(x, copy=True)
    index = [slice(None)] * x.ndim
    pieces = []
    start = 0
    # Leading pieces of one size along axis 0 (an epoch's batches) come from iterating one
    # reshaped view: half the cost of slicing each.
    size, count = (sizes[0], 0) if len(sizes) else (0, 0)
    while count < len(sizes) and sizes[count] == size:
        count += 1
    if axis == 0 and size > 0 and count > 2:
        start = size * count
        pieces = list(x[:start].reshape((count, size) + x.shape[1:]))
        sizes = sizes[count:]
    for size in sizes:
        index[axis] = slice(start, start + size)
        pieces.append(x[tuple(index)])
        start += size
    return tuple(pieces)


def tile(x, multiples):
    return np.tile(x, multiples)


_PAD_MODES = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}


def pad(x, paddings, mode, constant_values):
    if mode == "CONSTANT":
        return np.pad(x, paddings, constant_values=x.dtype.type(constant_values))
    return np.pad(x, paddings, mode=_PAD_MODES[mode])


def _pad_source(n, before, after, mode):
    """For each padded position along one axis, the input position it copies."""
    if mode == "CONSTANT":
        return None
    shift = 0 if mode == "REFLECT" else 1
    left = np.arange(before, 0, -1) - shift
    right = n - 2 + shift - np.arange(after)
    return np.concatenate([left, np.arange(n), right])


def pad_grad(g, paddings, mode):
    """The adjoint of pad: the interior, plus (REFLECT/SYMMETRIC) the mirrored borders."""
    for axis, (before, after) in enumerate(paddings):
        n = g.shape[axis] - before - after
        source = _pad_source(n, before, after, mode)
        if source is None:
            g = g[(slice(None),) * axis + (slice(before, before + n),)]
            continue
        folded = np.zeros(g.shape[:axis] + (n,) + g.shape[axis + 1:], g.dtype)
        np.add.at(folded, (slice(None),) * axis + (source,), g)
        g = folded
    return np.ascontiguousarray(g)


def _check_range(op_what, indices, bound):
    if indices.size and (indices.min() < 0 or indices.max() >= bound):
        where = tuple(np.argwhere((indices < 0) | (indices >= bound))[0])
        raise IndexError(f"{op_what}[{','.join(map(str, where))}] = {indices[where]} is not "
                         f"in [0, {bound})")


def _gather_key(shape, indices, axis, batch_dims):
    """A NumPy key for tf.gather, and the transpose from NumPy's result order to TF's."""
    b, ndim = batch_dims, indices.ndim
    batch = tuple(np.arange(shape[i]).reshape([-1 if j == i else 1 for j in range(ndim)])
                  for i in range(b))
    key = batch + (slice(None),) * (axis - b) + (indices,)
    if b == 0 or axis == b:
        return key, None
    # Non-adjacent advanced indices put their dims first: (batch, index, middle, tail).
    k, m = ndim - b, axis - b
    out_rank = ndim + len(shape) - b - 1
    perm = (list(range(b)) + list(range(b + k, b + k + m))
            + list(range(b, b + k)) + list(range(b + k + m, out_rank)))
    return key, perm


def gather(params, indices, axis, batch_dims):
    _check_range("indices", indices, params.shape[axis])
    key, perm = _gather_key(params.shape, indices, axis, batch_dims)
    out = params[key]
    return np.ascontiguousarray(out.transpose(perm)) if perm else out


def _scatter_add_rows(out, rows, values):
    """out[rows[j]] += values[j] for every j in order, rows repeating (np.add.at's result and
    summation order), in a few vectorised rounds instead of add.at's per-element loop: a
    stable sort groups equal rows, and round r adds the r-th occurrence of every row."""
    order, rows = _stable_order(rows, out.shape[0])
    rank = np.arange(rows.size) - np.searchsorted(rows, rows)  # occurrence number of its row
    first = rank == 0
    # out is zeros there, so this is the first addition; each round gathers its own values.
    out[rows[first]] = np.take(values, order[first], axis=0)
    for r in range(1, int(rank.max()) + 1):
        chosen = rank == r
        out[rows[chosen]] += np.take(values, order[chosen], axis=0)  # distinct rows


def _stable_order(rows, bound):
    """(the stable argsort of rows, rows sorted) for rows in [0, bound). One sort of 64-bit
    keys (row, position) when both fit 32 bits: unique keys need no stable sort, and
    NumPy's plain sort of int64 is ~10x its stable argsort of the rows."""
    if bound <= 1 << 31 and rows.size <= 1 << 31:
        keys = rows.astype(np.int64) << 32
        keys |= np.arange(rows.size, dtype=np.int64)
        keys.sort()
        return keys & 0xFFFFFFFF, keys >> 32
    order = np.argsort(rows, kind="stable")
    return order, rows[order]


def gather_grad(indices, g, shape, axis, batch_dims):
    if axis == 0 and batch_dims == 0 and indices.size:
        # The embedding case: rows of a table. Indices are in range (gather checked them).
        out = np.zeros(shape, g.dtype)
        rows = indices.reshape(-1)
        _scatter_add_rows(out, rows, g.reshape((rows.size,) + tuple(shape[1:])))
        return out
    key, perm = _gather_key(shape, indices, axis, batch_dims)
    if perm:
        g = g.transpose(np.argsort(perm))
    out = np.zeros(shape, g.dtype)
    np.add.at(out, key, g)
    return out


def _nd_key(shape, indices, batch_dims):
    """A NumPy key for gather_nd/scatter_nd; checks each index against its dimension."""
    lead = indices.ndim - 1
    depth = indices.shape[-1]
    for k in range(depth):
        column = indices[..., k]
        bound = shape[batch_dims + k]
        if column.size and (column.min() < 0 or column.max() >= bound):
            where = tuple(np.argwhere((column < 0) | (column >= bound))[0])
            raise IndexError(
                f"indices[{','.join(map(str, where))}] = {indices[where].tolist()} does not "
                f"index into shape {list(shape)}")
    batch = tuple(np.arange(shape[i]).reshape([-1 if j == i else 1 for j in range(lead)])
                  for i in range(batch_dims))
    return batch + tuple(indices[..., k] for k in range(depth))


def gather_nd(params, indices, batch_dims):
    return params[_nd_key(params.shape, indices, batch_dims)]


def scatter_nd(indices, updates, shape, batch_dims):
    out = np.zeros(shape, updates.dtype)
    np.add.at(out, _nd_key(shape, indices, batch_dims), updates)
    return out


# The ufunc (by name: the CuPy backend's `np` differs) that combines an update with its
# destination entry in tensor_scatter_nd_update.
_SCATTER_UFUNCS = {"add": "add", "sub": "subtract", "max": "maximum", "min": "minimum"}


def tensor_scatter_nd_update(tensor, indices, updates, reduction="update", batch_dims=0):
    out = tensor.copy()
    key = _nd_key(tensor.shape, indices, batch_dims)
    if reduction == "update":
        out[key] = updates
    else:  # repeated indices apply in turn
        getattr(np, _SCATTER_UFUNCS[reduction]).at(out, key, updates)
    return out


def _along_axis_key(shape, indices, axis):
    return tuple(indices if i == axis else
                 np.arange(indices.shape[i]).reshape([-1 if j == i else 1
                                                      for j in range(indices.ndim)])
                 for i in range(indices.ndim))


def take_along_axis(x, indices, axis):
    return np.take_along_axis(x, indices, axis=axis)


def take_along_axis_grad(indices, g, shape, axis):
    out = np.zeros(shape, g.dtype)
    np.add.at(out, _along_axis_key(shape, indices, axis), g)
    return out


def argsort(x, axis, descending):
    if not descending:
        return np.argsort(x, axis=axis, kind="stable").astype(np.int32)
    # Stable descending: sort the reversed array ascending, then map positions back.
    flipped = np.flip(x, axis)
    order = np.flip(np.argsort(flipped, axis=axis, kind="stable"), axis)
    return (x.shape[axis] - 1 - order).astype(np.int32)


def unique(x, out_idx):
    values, first, inverse = np.unique(x, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # TF lists values in order of first occurrence
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    return values[order], position[inverse.reshape(-1)].astype(native_dtype(out_idx))


# ---- linalg (helper)

def transpose(x, perm):
    return np.ascontiguousarray(np.transpose(x, perm))


@_quiet
def einsum(*operands, equation):
    if len(operands) == 2:
        a, b = operands
        if a.dtype == b.dtype and a.dtype.char in "fdFD":
            key = (equation, a.shape, b.shape)
            found = _EINSUM_PRODUCTS.get(key, False)
            if found is False:
                if len(_EINSUM_PRODUCTS) > 256:
                    _EINSUM_PRODUCTS.clear()
                found = _EINSUM_PRODUCTS[key] = _einsum_product(equation, a.shape, b.shape)
            if found is not None:
                return found(a, b)
    # NumPy's optimizer picks a pairwise contraction order (and BLAS) for 2+ operands. Its
    # result can be a transposed view: copied, as elementwise kernels walk a mix of layouts
    # many times slower (MultiHeadAttention's output projection: 1.1 ms instead of 60 us).
    out = np.asarray(np.einsum(equation, *operands, optimize=len(operands) > 1),
                     dtype=operands[0].dtype)
    return out if out.flags.c_contiguous else out.copy()


# (equation, shape of a, shape of b) -> _einsum_product's function, or None
_EINSUM_PRODUCTS = {}


def _einsum_product(equation, a_shape, b_shape):
    """A two-operand einsum as one product, or None where it is not one: the labels of both
    operands and of the result (batch), of both only (summed over), and of one operand and
    the result (its free labels) are each gathered into one axis by a transpose and a reshape
    (views where the layout allows), and np.matmul, or _matmul_2d without batch labels (large
    products then run on the threads), multiplies the two; the result is C-ordered. NumPy's
    einsum computes the same products through more calls (its path search and parsing on
    every call: 150-370 us for MultiHeadAttention's 8M multiply-add projections, 40-60 us
    this way). Diagonals (a label twice in one operand), labels summed in one operand only,
    broadcast ellipses and size-1 dimensions against larger ones keep NumPy's einsum.

    Batch labels that do not gather into one axis (MultiHeadAttention's heads lie between
    its sequence and its key_dim: "acbe,aecd->abcd") stay axes of their own, which np.matmul
    loops over, where that leaves an operand's matrices as BLAS takes them untransposed
    (_blas_view); and a result whose labels come in another order is written through such
    a view of it. Each saves the copy a transpose made (MultiHeadAttention's attention
    products and their gradients, batch 32, 4 heads of 64x64 by 16: 265-315 -> 195-230 us).
    The BLAS calls are those of the copies, their sizes and transposition flags, at other
    strides (leading dimensions): the same bits. An operand whose matrices BLAS would take
    transposed (the keys in "aecd,abcd->acbe") is still copied, as before: a transposed
    small GEMM is slower than the copy (250 against 40 + 135 us), and its bits differ."""
    if "->" not in equation:
        return None
    inputs, result = equation.replace(" ", "").split("->")
    terms = inputs.split(",")
    if len(terms) != 2:
        return None
    shapes = (a_shape, b_shape)
    if "..." in inputs or "..." in result:
        # The ellipsis's dimensions as letters of their own, aligned from the right as NumPy
        # broadcasts them (a size-1 dimension against a larger one fails the size check).
        spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation]
        counts = [len(shape) - len(term.replace("...", "")) if "..." in term else 0
                  for term, shape in zip(terms, shapes)]
        longest = max(counts)
        if min(counts) < 0 or len(spare) < longest:
            return None
        terms = [term.replace("...", "".join(spare[longest - count:longest]))
                 for term, count in zip(terms, counts)]
        result = result.replace("...", "".join(spare[:longest]))
    if any(len(set(term)) != len(term) for term in terms) or len(set(result)) != len(result):
        return None
    a_term, b_term = terms
    sizes = {}
    for term, shape in zip(terms, shapes):
        if len(term) != len(shape):
            return None
        for label, size in zip(term, shape):
            if sizes.setdefault(label, size) != size:
                return None
    batch = [c for c in result if c in a_term and c in b_term]
    free_a = [c for c in result if c in a_term and c not in b_term]
    free_b = [c for c in result if c in b_term and c not in a_term]
    summed = [c for c in a_term if c in b_term and c not in result]
    if (len(batch) + len(free_a) + len(free_b) != len(result)
            or len(batch) + len(free_a) + len(summed) != len(a_term)
            or len(batch) + len(free_b) + len(summed) != len(b_term)):
        return None  # a label of one operand only is summed over, or the result has a new one
    # The operand whose free labels come first in the result is the left factor.
    first_free = next((c for c in result if c not in batch), None)
    if first_free is not None and first_free in free_b:
        a_term, b_term, free_a, free_b = b_term, a_term, free_b, free_a
        swap = True
    else:
        swap = False
    left = [a_term.index(c) for c in batch + free_a + summed]
    right = [b_term.index(c) for c in batch + summed + free_b]
    count = math.prod(sizes[c] for c in batch)
    rows = math.prod(sizes[c] for c in free_a)
    depth = math.prod(sizes[c] for c in summed)
    columns = math.prod(sizes[c] for c in free_b)
    made = batch + free_a + free_b
    made_shape = tuple(sizes[c] for c in made)
    order = [made.index(c) for c in result]
    identity = order == list(range(len(order)))
    left_identity = left == sorted(left)
    right_identity = right == sorted(right)
    a_shape, b_shape = (b_shape, a_shape) if swap else (a_shape, b_shape)
    # Which of the operands (when C-ordered) and the result have views BLAS takes as they
    # are, their batch labels kept as axes of their own; only for true GEMMs (NumPy's matmul
    # takes vectors and outer products through other loops).
    gemm = min(rows, depth, columns) > 1
    a_view = gemm and count > 1 and _blas_view(a_term, a_shape, free_a, summed)
    b_view = gemm and count > 1 and _blas_view(b_term, b_shape, summed, free_b)
    result_shape = tuple(sizes[c] for c in result)
    out_view = gemm and not identity and _blas_view(result, result_shape, free_a, free_b)
    split = count > 1 and (a_view or b_view or out_view)
    gathered = () if count == 1 else (count,)
    lead = tuple(sizes[c] for c in batch) if split else gathered
    placed = [result.index(c) for c in made]
    multiply = _matmul_2d if count == 1 else np.matmul

    def arrange(x, perm, view, shape):
        """x (perm: None for no transpose) as the stack of matrices np.matmul takes: a view
        where _blas_view says so, else gathered into one batch axis, as before (a copy
        where the layout needs one)."""
        c_ordered = x.flags.c_contiguous
        x = x if perm is None else x.transpose(perm)
        if view and c_ordered:
            return x.reshape(lead + shape)
        x = x.reshape(gathered + shape)
        return x.reshape(lead + shape) if split else x

    def product(a, b):
        if swap:
            a, b = b, a
        a = arrange(a, None if left_identity else left, a_view, (rows, depth))
        b = arrange(b, None if right_identity else right, b_view, (depth, columns))
        if out_view:
            out = np.empty(result_shape, a.dtype)
            multiply(a, b, out=out.transpose(placed).reshape(lead + (rows, columns)))
            return out
        # (np.matmul would lay its result's batch axes out as its operands' lie)
        out = multiply(a, b, out=np.empty(lead + (rows, columns), a.dtype) if split else None)
        out = out.reshape(made_shape)
        return out if identity else np.ascontiguousarray(out.transpose(order))
    return product


def _blas_view(term, shape, first, second):
    """Whether a C-ordered array of `shape`, its axes labelled by `term`, transposed to (its
    other labels, `first`, `second`) and reshaped to (those, the product of first's sizes,
    that of second's) is a view whose matrices BLAS takes untransposed: first's labels lie
    next to each other in `term`, in that order, and second's do at its end (size-1 labels
    aside: they take no room)."""
    sizes = dict(zip(term, shape))
    placed = [c for c in term if sizes[c] != 1]
    first = [c for c in first if sizes[c] != 1]
    second = [c for c in second if sizes[c] != 1]
    if not first or not second or placed[len(placed) - len(second):] != second:
        return False
    start = placed.index(first[0])
    return placed[start:start + len(first)] == first


@_quiet
def matrix_determinant(x):
    return np.asarray(np.linalg.det(x), dtype=x.dtype)


@_quiet
def matrix_inverse(x):
    return np.asarray(np.linalg.inv(x), dtype=x.dtype)


def matrix_diag_part(x, k):
    return np.ascontiguousarray(np.diagonal(x, offset=k, axis1=-2, axis2=-1))


def matrix_diag(d, k, num_rows, num_cols, padding_value):
    out = np.full(d.shape[:-1] + (num_rows, num_cols), padding_value, dtype=d.dtype)
    index = np.arange(d.shape[-1])
    out[..., index + max(-k, 0), index + max(k, 0)] = d
    return out


# ---- dynamic shapes in traced graphs (tf.function helper)
def dynamic_shape(x, dtype):
    return np.array(np.shape(x), dtype=native_dtype(dtype))


def sum_to_like(g, like):
    shape = np.shape(like)
    g = np.asarray(g)
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and g.shape[lead + i] != 1)
    out = np.sum(g, axis=axes) if axes else g
    return np.reshape(out, shape)


def broadcast_like(x, like):
    return np.broadcast_to(x, np.shape(like))


# ---- control flow (helper)
# Backend-agnostic: each kernel calls the runner object in its attributes
# (tensorflux/graph/control_flow.py), which runs compiled sub-graphs on the current backend.

def cond(pred, *arrays, branches):
    return branches(pred, arrays)


def while_loop(*arrays, loop):
    return loop(arrays)


def while_grad(*arrays, grad):
    return grad(arrays)


# tf.print's formatting, TensorFlow's: [1 2 3], nested rows on new lines, `summarize` items at
# each end of a long dimension with "..." between, floats in the shortest round-tripping %g.

def print_tensors(*arrays, template, output_stream, sep, end, summarize):
    import sys

    texts = ["".join(p if isinstance(p, str) else _print_format(arrays[p], summarize)
                     for p in parts) for parts in template]
    text = sep.join(texts) + end
    if isinstance(output_stream, str):
        with open(output_stream[len("file://"):], "a", encoding="utf-8") as stream:
            stream.write(text)
    else:
        stream = sys.stderr if output_stream is None else output_stream
        stream.write(text)
        flush = getattr(stream, "flush", None)
        if flush is not None:
            flush()
    return ()


def _print_format(x, summarize):
    if hasattr(x, "get") and type(x).__module__.split(".")[0] == "cupy":
        x = x.get()
    kind, size = x.dtype.kind, x.dtype.itemsize
    if x.ndim == 0:
        return _print_scalar(x.item(), kind, size, quote=False)
    return _print_dims(x, summarize, 0, kind, size)


def _print_dims(x, summarize, depth, kind, size):
    count = x.shape[0]
    limit = count if summarize is None or summarize < 0 or count <= 2 * summarize else summarize
    indices = list(range(count)) if limit == count else (
        list(range(limit)) + [None] + list(range(count - limit, count)))
    if x.ndim == 1:
        items = ["..." if i is None else _print_scalar(_print_item(x[i]), kind, size, True)
                 for i in indices]
        return "[" + " ".join(items) + "]"
    rows = ["..." if i is None else _print_dims(x[i], summarize, depth + 1, kind, size)
            for i in indices]
    return "[" + ("\n" + " " * (depth + 1)).join(rows) + "]"


def _print_item(value):
    return value.item() if hasattr(value, "item") else value


def _print_scalar(value, kind, size, quote):
    if kind == "b":
        return "1" if value else "0"
    if kind in "iu":
        return str(int(value))
    if kind == "c":
        return f"({_print_float(value.real, 8 if size == 8 else 4)},"\
               f"{_print_float(value.imag, 8 if size == 8 else 4)})"
    if kind in "SO" and isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        return f'"{text}"' if quote else text
    if kind == "U" or isinstance(value, str):
        return f'"{value}"' if quote else str(value)
    return _print_float(float(value), size)


def _print_float(value, size):
    import struct

    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if size >= 8:
        short = f"{value:.15g}"
        return short if float(short) == value else f"{value:.17g}"
    short = f"{value:.6g}"
    single = struct.unpack("f", struct.pack("f", float(short)))[0]
    return short if single == value else f"{value:.9g}"


# ---- graph (helper)
# fused_elementwise: one kernel for a tree of elementwise primitives (graph/passes.py).

# Kernels whose ufunc takes `out=` although the module-level kernel is a wrapper function.
_FUSED_UFUNCS = {"abs": np.absolute, "pow": np.power}
# id(program) -> (program, compiled steps); the program is kept so that its id stays unique.
_FUSED_COMPILED = {}


# Temporaries smaller than this are not worth reusing: the checks cost more than allocating.
_FUSED_REUSE_MIN_SIZE = 1024


def _fused_compile(program, n_inputs, out_fits=False):
    """Generates straight-line Python for `program`: one line per instruction, no loop, no
    per-instruction lookups. A ufunc instruction may write into a temporary of this call
    that dies there (when large enough and of the result's shape and dtype); the last one
    may write into `out` (with `out_fits`, the caller vouches that out has the result's shape
    and dtype whenever it is given, and the checks are left out). Temporaries are dropped at
    their last use. Cached by program, except with `out_fits`."""
    last = {}
    for j, (_, refs, _, _) in enumerate(program):
        for r in refs:
            last[r] = j
    # __name__ makes NumPy's floating-point warnings from this code count as this module's,
    # which the warnings filter at the top keeps quiet, as for every other kernel.
    env = {"_fits": _fits, "_reaches": _reaches, "_MIN": _FUSED_REUSE_MIN_SIZE,
           "_ndarray": np.ndarray, "__name__": __name__}
    inputs = ", ".join(f"r{i}" for i in range(n_inputs))
    lines = [f"def fused({inputs}, out=None):"]
    if isinstance(_FUSED_UFUNCS.get(program[-1][0]) or globals()[program[-1][0]], np.ufunc):
        # Writing a long 1-D `out` (an optimizer's flat buffer): chunk by chunk.
        env.update(_program=program, _chunked=_fused_chunked, _run=_fused_run_chunked,
                   _CHUNKED_MIN=_FUSED_CHUNKED_MIN_SIZE)
        lines += ["    if out is not None and out.ndim == 1 and out.size >= _CHUNKED_MIN:",
                  f"        chunked = _chunked(_program, ({inputs},), out)",
                  "        if chunked is not None:",
                  f"            return _run(chunked, ({inputs},), out)"]
    ufunc_results = set()  # registers that a ufunc of this call allocated
    final = len(program) - 1
    for j, (kernel_name, refs, attrs, dtype) in enumerate(program):
        fn = _FUSED_UFUNCS.get(kernel_name) or globals()[kernel_name]
        env[f"f{j}"] = fn
        reg = n_inputs + j
        args = ", ".join(f"r{r}" for r in refs)
        dying = sorted({r for r in refs if r >= n_inputs and last[r] == j})
        is_ufunc = not attrs and isinstance(fn, np.ufunc) and fn.nout == 1
        if (kernel_name == "cast" and j != final and len(refs) == 1 and refs[0] >= n_inputs
                and program[refs[0] - n_inputs][3] == dtypes.bool
                and set(dict(attrs)) == {"dtype"}):
            # A comparison's mask as numbers: cast's own path for bool arrays, inlined.
            env[f"d{j}"] = native_dtype(dict(attrs)["dtype"])
            lines.append(f"    r{reg} = r{refs[0]}.astype(d{j})")
        elif kernel_name == "relu" and not attrs:
            # As a ufunc: into a temporary that dies here, or into out when last.
            env[f"f{j}"] = _relu_into
            x = f"r{refs[0]}"
            into = "None"
            if refs[0] in dying and refs[0] in ufunc_results:
                into = f"({x} if type({x}) is _ndarray and {x}.size >= _MIN else None)"
            if j == final and out_fits:
                into = f"(out if out is not None else {into})"
            elif j == final:
                into = (f"(out if out is not None and type({x}) is _ndarray and out.dtype == "
                        f"{x}.dtype and out.shape == {x}.shape else {into})")
            lines.append(f"    r{reg} = f{j}({x}, {into})")
            ufunc_results.add(reg)
        elif not is_ufunc:
            env[f"a{j}"] = dict(attrs)
            lines.append(f"    r{reg} = f{j}({args}, **a{j})" if attrs else
                         f"    r{reg} = f{j}({args})")
        else:
            env[f"d{j}"] = native_dtype(dtype)
            donors = [r for r in dying if r in ufunc_results]
            call = f"f{j}({args})"
            if donors:
                d = donors[0]
                call = (f"f{j}({args}, out=r{d}) if (type(r{d}) is _ndarray and r{d}.size >= _MIN"
                        f" and r{d}.dtype == d{j} and _fits(r{d}.shape, ({args},))) else {call}")
            # A last relu of this result runs in place on it: this one writes into out.
            into_out = j == final or (j == final - 1 and program[final][0] == "relu"
                                      and not program[final][2]
                                      and program[final][1] == (reg,))
            if into_out and out_fits:
                call = f"f{j}({args}, out=out)"
            elif into_out:
                call = (f"f{j}({args}, out=out) if (out is not None and out.dtype == d{j} and "
                        f"_fits(out.shape, ({args},)) and _reaches(out.shape, ({args},))) "
                        f"else {call}")
            lines.append(f"    r{reg} = {call}")
            ufunc_results.add(reg)
        for r in dying:
            lines.append(f"    del r{r}")
    lines.append(f"    return r{n_inputs + final}")
    code = compile("\n".join(lines), f"<fused_elementwise {len(program)} ops>", "exec")
    exec(code, env)  # noqa: S102 - our own generated source, built from kernel names only
    fused = env["fused"]
    # Worth running by row blocks (see _fused_by_rows) when an intermediate is as wide as
    # the result: that temporary is what would go out to memory and back.
    fused.by_rows = any(dtype.itemsize >= program[-1][3].itemsize for _, _, _, dtype in
                        program[:-1])
    if out_fits:
        return fused
    if len(_FUSED_COMPILED) > 4096:
        _FUSED_COMPILED.clear()
    _FUSED_COMPILED[id(program)] = (program, fused)
    return fused


def _into_target_signature(n_inputs, into_target):
    """The first line of a generated program that writes its result into an assign's target
    (an assign folded into it) and returns nothing, as the plan's folded-assign kernels do:
    with into_target "read" the target is the last input (assign_add, assign_sub), with
    "write" it follows the inputs. Returns ([line], the target's name)."""
    names = [f"r{i}" for i in range(n_inputs)]
    if into_target == "write":
        return [f"def fused({', '.join(names + ['out'])}):"], "out"
    return [f"def fused({', '.join(names)}):"], names[-1]


def _fused_compile_small(program, n_inputs, out_fits=False, scalar_inputs=(), into_target=None,
                         input_shapes=None):
    """_fused_compile for a program whose result statically has fewer elements than
    _FUSED_REUSE_MIN_SIZE (and so has every register): no chunks, row blocks or reused
    temporaries to decide on, so plain calls. Kernels whose small-array path is a ufunc call
    or a few are inlined with their constants made once (select as np.where, relu as maximum
    with zero, sigmoid as its ufunc passes). Instructions whose operands are all rank 0
    (`scalar_inputs`: the input registers that statically are; an optimizer's step scalars
    inside its update) run as _fused_compile_scalar runs them: Python operators on NumPy
    scalars for float arithmetic and comparisons, select as a conditional. With
    `into_target` (see _into_target_signature) the last instruction, a ufunc, writes into
    the target and nothing is returned (None where the last instruction is no ufunc). With
    the inputs' static shapes (`input_shapes`), a one-element input that a ufunc broadcasts
    over a larger operand (a [1] bias added to a [batch, 1] layer output) is given to it as
    a 0-d array: the same values and dtype, without the broadcasting loop's set-up (2.5x the
    call at these sizes)."""
    env = {"_ndarray": np.ndarray, "_where": np.where, "_maximum": np.maximum,
           "_fits": _fits, "_reaches": _reaches, "__name__": __name__}
    inputs = ", ".join(f"r{i}" for i in range(n_inputs))
    lines = [f"def fused({inputs}, out=None):"]
    if into_target is not None:
        last = _FUSED_UFUNCS.get(program[-1][0]) or globals()[program[-1][0]]
        if program[-1][2] or not isinstance(last, np.ufunc) or last.nout != 1:
            return None
        lines, target = _into_target_signature(n_inputs, into_target)
        out_fits = True
    scalar = set(scalar_inputs)
    taken = set()  # inputs taken out of their 0-d arrays (as q<i>)
    final = len(program) - 1
    shapes = _register_shapes(program, n_inputs, input_shapes)
    as_0d = set()  # one-element inputs also bound as 0-d views (as u<i>)
    rank_0 = set(scalar_inputs)
    for j, (_, refs, _, _) in enumerate(program):
        if refs and all(r in rank_0 for r in refs):
            rank_0.add(n_inputs + j)
    merged = _merged_selects(program, n_inputs, final, rank_0)
    env["_logical_and"] = np.logical_and
    for j, (kernel_name, refs, attrs, dtype) in enumerate(program):
        reg = n_inputs + j
        args = [f"r{r}" for r in refs]
        if j in merged:
            continue  # (computed by the select that reads it, see _merged_selects)
        fn = _FUSED_UFUNCS.get(kernel_name) or globals()[kernel_name]
        if isinstance(fn, np.ufunc) and not attrs and shapes[reg] is not None:
            operand_shapes = [shapes[r] for r in refs]
            for position, r in enumerate(refs):
                if not (r < n_inputs and shapes[r] and math.prod(shapes[r]) == 1):
                    continue
                operand_shapes[position] = ()
                if np.broadcast_shapes(*operand_shapes) != shapes[reg]:
                    operand_shapes[position] = shapes[r]  # (it shapes the result)
                else:
                    if r not in as_0d:
                        as_0d.add(r)
                        lines.append(f"    u{r} = r{r}.reshape(())")
                    args[position] = f"u{r}"
        pattern = _SCALAR_OPERATORS.get(kernel_name)
        if j != final and refs and not attrs and all(r in scalar for r in refs) and (
                (pattern is not None and (dtype.is_floating or (
                    dtype.is_bool and kernel_name in _SCALAR_COMPARISONS)))
                or (kernel_name == "select" and (dtype.is_numeric or dtype.is_bool))):
            for r in refs:
                if r < n_inputs and r not in taken:
                    taken.add(r)
                    lines.append(f"    q{r} = r{r}[()] if type(r{r}) is _ndarray else r{r}")
            names = [f"q{r}" if r < n_inputs else f"r{r}" for r in refs]
            lines.append(f"    r{reg} = " + (pattern.format(*names) if pattern is not None else
                                             f"{names[1]} if {names[0]} else {names[2]}"))
            scalar.add(reg)
            continue
        if refs and all(r in scalar for r in refs):
            scalar.add(reg)  # (an elementwise result of rank-0 operands is rank 0)
        env[f"f{j}"] = fn
        call = f"f{j}({', '.join(args)})"
        if kernel_name == "select" and not attrs and refs[1] - n_inputs in merged:
            inner = program[refs[1] - n_inputs][1]
            call = f"_where(_logical_and({args[0]}, r{inner[0]}), r{inner[1]}, {args[2]})"
        elif kernel_name == "select" and not attrs:
            call = f"_where({', '.join(args)})"  # (select's own path below 4096 elements)
        elif kernel_name == "relu" and not attrs and dtype.is_numeric and not dtype.is_complex:
            env[f"z{j}"] = np.zeros((), native_dtype(dtype))
            call = f"_maximum({args[0]}, z{j})"  # (relu's own path below 4096 elements)
        elif kernel_name == "sigmoid" and not attrs and dtype.is_floating:
            lines += _fused_sigmoid_lines(f"r{reg}", args[0], j, native_dtype(dtype), env,
                                          refs[0] in rank_0)
            continue
        elif (kernel_name == "cast" and len(refs) == 1 and refs[0] >= n_inputs
                and program[refs[0] - n_inputs][3] == dtypes.bool
                and set(dict(attrs)) == {"dtype"}):
            env[f"d{j}"] = native_dtype(dict(attrs)["dtype"])
            call = f"{args[0]}.astype(d{j})"
        elif attrs:
            env[f"a{j}"] = dict(attrs)
            call = f"f{j}({', '.join(args)}, **a{j})"
        elif j == final and isinstance(fn, np.ufunc) and fn.nout == 1:
            env[f"d{j}"] = native_dtype(dtype)
            listed = ", ".join(args)
            if into_target is not None:  # (NumPy deprecates maximum's positional out)
                call = (f"f{j}({listed}, out={target})" if fn in (np.maximum, np.minimum)
                        else f"f{j}({listed}, {target})")
            elif out_fits:
                call = f"f{j}({listed}, out=out)"
            else:
                call = (f"f{j}({listed}, out=out) if (out is not None and out.dtype == d{j} "
                        f"and _fits(out.shape, ({listed},)) and _reaches(out.shape, "
                        f"({listed},))) else {call}")
        lines.append(f"    r{reg} = {call}")
    lines.append("    return ()" if into_target is not None else
                 f"    return r{n_inputs + final}")
    code = compile("\n".join(lines), f"<fused_elementwise {len(program)} ops, small>", "exec")
    exec(code, env)  # noqa: S102 - our own generated source, built from kernel names only
    fused = env["fused"]
    fused.by_rows = False
    return fused


def _merged_selects(program, n_inputs, final, rank_0):
    """The instructions `select(c1, x, y)` read only by a `select(c2, <it>, y)` of the same y
    (chained gradients of clips, as in a clipped cross-entropy): that pair is one
    `select(c1 and c2, x, y)`, the same elements picked, with a logical_and (a ufunc call)
    in place of a select (np.where, 2-3x one). The outer one may not be statically rank 0
    (`rank_0`: such selects are conditionals on NumPy scalars)."""
    readers = {}
    for j, (_, refs, _, _) in enumerate(program):
        for r in refs:
            readers.setdefault(r, []).append(j)
    merged, absorbing = set(), set()
    for j, (kernel_name, refs, attrs, _) in enumerate(program):
        if (kernel_name != "select" or attrs or refs[1] < n_inputs
                or all(r in rank_0 for r in refs)):
            continue
        i = refs[1] - n_inputs
        inner_name, inner_refs, inner_attrs, _ = program[i]
        # (not one that absorbed a select itself: a chain of three, as the gradient of a clip
        # of a tf.where has, merges in pairs)
        if (inner_name == "select" and not inner_attrs and inner_refs[2] == refs[2]
                and readers[refs[1]] == [j] and i not in merged and i not in absorbing
                and i != final):
            merged.add(i)
            absorbing.add(j)
    return merged


def _register_shapes(program, n_inputs, input_shapes):
    """Per register of an elementwise program, its static shape (broadcast from its
    operands'), or None where unknown (every register, when an input's shape is)."""
    shapes = dict.fromkeys(range(n_inputs + len(program)))
    if input_shapes is None or len(input_shapes) != n_inputs or any(
            shape is None or None in shape for shape in input_shapes):
        return shapes
    shapes.update(enumerate(input_shapes))
    for j, (_, refs, _, _) in enumerate(program):
        try:
            shapes[n_inputs + j] = np.broadcast_shapes(*[shapes[r] for r in refs])
        except (TypeError, ValueError):
            pass
    return shapes


def _fused_sigmoid_lines(target, source, tag, dtype, env, rank_0=False):
    """sigmoid(source) into `target` as the sigmoid kernel computes it, for a float dtype.
    A rank-0 source's ufunc results are NumPy scalars, which cannot be written into."""
    env.update({"_exp": np.exp, "_copysign": np.copysign, "_add": np.add,
                "_minimum": np.minimum, "_divide": np.divide, f"z{tag}": np.zeros((), dtype),
                f"o{tag}": np.ones((), dtype), f"m{tag}": -np.ones((), dtype)})
    if rank_0:
        return [f"    {target} = _divide(_exp(_minimum({source}, z{tag})), "
                f"_add(_exp(_copysign({source}, m{tag})), o{tag}))"]
    return [f"    _d = _copysign({source}, m{tag})", "    _exp(_d, _d)",
            f"    _add(_d, o{tag}, _d)", f"    {target} = _exp(_minimum({source}, z{tag}))",
            f"    _divide({target}, _d, {target})"]


def _fits(shape, args):
    """Whether every arg broadcasts into shape."""
    ndim = len(shape)
    for a in args:
        a_shape = a.shape
        if a_shape == shape:
            continue
        if len(a_shape) > ndim:
            return False
        for d, b in zip(reversed(a_shape), reversed(shape)):
            if d != b and d != 1:
                return False
    return True


def _reaches(shape, args):
    """Given _fits, whether the broadcast of args is all of shape (each dim over 1 comes
    from some argument)."""
    ndim = len(shape)
    for i, d in enumerate(shape):
        if d != 1 and not any(len(a.shape) >= ndim - i and a.shape[i - ndim] == d
                              for a in args):
            return False
    return True


def fused_elementwise(*inputs, program, out=None):
    """Runs `program` (instructions (kernel name, registers, attrs, result DType); registers
    0..n-1 are the inputs, n+j the result of instruction j) and returns the last result,
    through Python generated once per program (see _fused_compile)."""
    entry = _FUSED_COMPILED.get(id(program))
    fused = entry[1] if entry is not None and entry[0] is program else \
        _fused_compile(program, len(inputs))
    if fused.by_rows:
        result = _fused_by_rows(fused, inputs, out)
        if result is not None:
            return result
    return fused(*inputs, out=out)


# A fused program over a large result (at least 8 blocks) runs on row blocks of about this
# many bytes (counting 8 per element), so that each instruction's temporary is still in cache
# for the next one; below that the per-block calls cost more than they save.
_FUSED_BLOCK_BYTES = 1 << 20


def _by_rows_or_whole(fused):
    """fused(*inputs, out=None) (a fused program, or a ufunc) by blocks of rows where
    _fused_by_rows applies, else whole."""
    def by_rows_or_whole(*inputs, out=None):
        if _below_row_blocks(inputs):
            return fused(*inputs, out=out)
        result = _fused_by_rows(fused, inputs, out)
        return fused(*inputs, out=out) if result is None else result
    return by_rows_or_whole


def _fused_by_rows(fused, inputs, out):
    """`fused` over blocks of the leading axis (inputs without that axis are broadcast
    whole), into one result; None where that does not apply (small or rank-0 results).
    Elementwise instructions give the same values block by block."""
    shapes = [np.shape(a) for a in inputs]
    try:
        full = np.broadcast_shapes(*shapes)
    except ValueError:
        return None  # the whole-array call reports it
    if not full:
        return None
    lead = full[0]
    row_bytes = 8 * max(1, math.prod(full[1:]))
    step = max(1, _FUSED_BLOCK_BYTES // row_bytes)
    if 8 * step >= lead:
        return None
    rows = [len(s) == len(full) and s[0] == lead for s in shapes]
    block = slice(0, step)
    first = fused(*[a[block] if r else a for a, r in zip(inputs, rows)])
    if first.shape != (step,) + full[1:]:
        return None  # not a plain broadcast of the inputs: run it whole
    reuse = (out is not None and out.shape == full and out.dtype == first.dtype
             and out.flags.c_contiguous)
    result = out if reuse else np.empty(full, first.dtype)
    result[block] = first

    def run(block):
        target = result[block]
        value = fused(*[a[block] if r else a for a, r in zip(inputs, rows)], out=target)
        if value is not target:
            target[...] = value
    blocks = [slice(start, start + step) for start in range(step, lead, step)]
    _in_parallel(run, blocks, result.nbytes + sum(a.nbytes for a, r in zip(inputs, rows) if r))
    return result


# Instructions on rank-0 values that run as Python operators on NumPy scalars: NumPy's
# scalar arithmetic rounds as its ufunc loops do (IEEE for + - * /, the same promotion),
# at a tenth of a ufunc call's cost on a 0-d array.
_SCALAR_OPERATORS = {"add": "{} + {}", "subtract": "{} - {}", "multiply": "{} * {}",
                     "divide": "{} / {}", "negative": "-{}", "less": "{} < {}",
                     "less_equal": "{} <= {}", "greater": "{} > {}",
                     "greater_equal": "{} >= {}", "equal": "{} == {}",
                     "not_equal": "{} != {}"}
# (Integer arithmetic keeps its ufuncs: NumPy's integer scalars warn on overflow, which
# the ufuncs silently wrap as TensorFlow does.)
_SCALAR_COMPARISONS = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"}


def _fused_compile_scalar(program, n_inputs, into_out=False, into_target=None):
    """Generated code for a program whose inputs are all rank 0 (an optimizer's step
    scalars, a loss mean): inputs become NumPy scalars, arithmetic and comparisons Python
    operators, select a conditional expression; other instructions call their kernel as
    _fused_compile does. With `into_out`, the result is written into the rank-0 `out` (of
    the result's dtype), which is returned. With `into_target` (see _into_target_signature)
    it is written into the target and nothing returned. None when an instruction's dtype
    rules it out."""
    env = {"_ndarray": np.ndarray, "__name__": __name__}
    inputs = ", ".join(f"r{i}" for i in range(n_inputs))
    lines = [f"def fused({inputs}, out=None):"]
    if into_target is not None:
        lines, target = _into_target_signature(n_inputs, into_target)
    taken = set()  # inputs taken out of their 0-d arrays (as q<i>), for Python operators

    def operands(refs):
        for r in refs:
            if r < n_inputs and r not in taken:
                taken.add(r)
                lines.append(f"    q{r} = r{r}[()] if type(r{r}) is _ndarray else r{r}")
        return [f"q{r}" if r < n_inputs else f"r{r}" for r in refs]

    for j, (kernel_name, refs, attrs, dtype) in enumerate(program):
        reg = n_inputs + j
        # (Ufuncs take the inputs as they come: on 0-d arrays they cost half what they cost
        # on NumPy scalars.)
        args = [f"r{r}" for r in refs]
        pattern = _SCALAR_OPERATORS.get(kernel_name)
        if not dtype.is_numeric and not dtype.is_bool:
            return None
        if pattern is not None and not attrs and (
                (dtype.is_bool and kernel_name in _SCALAR_COMPARISONS) or dtype.is_floating):
            lines.append(f"    r{reg} = {pattern.format(*operands(refs))}")
        elif kernel_name == "select" and not attrs:
            args = operands(refs)
            lines.append(f"    r{reg} = {args[1]} if {args[0]} else {args[2]}")
        elif (kernel_name == "cast" and set(dict(attrs)) == {"dtype"} and refs[0] >= n_inputs
              and (dtype.is_floating or dtype.is_bool)
              and not program[refs[0] - n_inputs][3].is_complex):
            # A computed scalar of a known real dtype to a float or bool: astype does what
            # cast does then (no truncation toward zero to apply).
            env[f"d{j}"] = native_dtype(dtype)
            lines.append(f"    r{reg} = {args[0]}.astype(d{j})")
        elif attrs:
            env[f"f{j}"] = _FUSED_UFUNCS.get(kernel_name) or globals()[kernel_name]
            env[f"a{j}"] = dict(attrs)
            lines.append(f"    r{reg} = f{j}({', '.join(args)}, **a{j})")
        else:
            env[f"f{j}"] = _FUSED_UFUNCS.get(kernel_name) or globals()[kernel_name]
            lines.append(f"    r{reg} = f{j}({', '.join(args)})")
    if into_target is not None:
        lines += [f"    {target}[()] = r{n_inputs + len(program) - 1}", "    return ()"]
    elif into_out:
        lines += [f"    out[()] = r{n_inputs + len(program) - 1}", "    return out"]
    else:
        lines.append(f"    return r{n_inputs + len(program) - 1}")
    code = compile("\n".join(lines), f"<fused_elementwise {len(program)} ops, scalar>", "exec")
    exec(code, env)  # noqa: S102 - our own generated source, built from kernel names only
    return env["fused"]


def specialize(kernel_name, attrs, n_inputs, result_size=None, scalar_inputs=False,
               input_types=None, native=False):
    """A callable taking only the inputs (and `out=` where the kernel takes it) that does
    what `kernel(*inputs, **attrs)` does, with the attributes bound once, or None. The
    compiled plan calls these: a tiny step is then one NumPy call, not a wrapper deciding
    on its attributes every time. `result_size`, where the plan knows it statically, is the
    result's element count; `scalar_inputs`, that every input is statically rank 0;
    `input_types`, per input, its static shape (a tuple, None for unknown dimensions; None
    for an unknown rank) and DType; `native`, that the plan is for jit_compile: a large
    fused program then runs as one Numba loop where numpy_loops lowers it, and in other
    plans as one llvmlite loop where numpy_elementwise_native lowers it (native=None: the
    NumPy runner's callable alone, the loops' fallback)."""
    if not attrs:
        # A kernel that is one ufunc, over a large result: by blocks of rows on the threads,
        # as a fused program (BatchNormalization's lone square and products over a batch of
        # images, 64x32x32x32: 1.0-1.5 ms on one thread).
        ufunc = _UFUNC_KERNELS.get(kernel_name)
        if ufunc is None or result_size is None or result_size <= _FUSED_BLOCK_BYTES >> 3:
            return None
        return _by_rows_or_whole(ufunc)
    if (native is not None and kernel_name == "fused_elementwise" and not scalar_inputs
            and set(attrs) in ({"program"}, {"program", "out_fits"})
            and result_size is not None and result_size >= _LOOP_MIN_SIZE):
        loops = _loops(native)
        if loops is not None:
            program = attrs["program"]
            fallback = specialize(kernel_name, attrs, n_inputs, result_size, scalar_inputs,
                                  input_types, native=None)
            if fallback is None:
                def fallback(*inputs, out=None):
                    return fused_elementwise(*inputs, program=program, out=out)
            return loops.elementwise(program, fallback)
    if kernel_name == "fused_elementwise" and set(attrs) == {"program", "out_fits"} and \
            scalar_inputs:
        fused = _fused_compile_scalar(attrs["program"], n_inputs, into_out=True)
        if fused is not None:
            return fused
    small = (kernel_name == "fused_elementwise" and result_size is not None
             and result_size < _FUSED_REUSE_MIN_SIZE)
    rank_0 = () if input_types is None else tuple(
        i for i, (shape, _) in enumerate(input_types) if shape == ())
    shapes = None if input_types is None else tuple(shape for shape, _ in input_types)
    if kernel_name == "fused_elementwise" and set(attrs) == {"program", "into_target"}:
        # Not an attribute of the kernel either: an assign folded into the program (see
        # _into_target_signature), for the plan to call as it is.
        if scalar_inputs:
            return _fused_compile_scalar(attrs["program"], n_inputs,
                                         into_target=attrs["into_target"])
        if small:
            return _fused_compile_small(attrs["program"], n_inputs, True, rank_0,
                                        into_target=attrs["into_target"], input_shapes=shapes)
        return None
    if kernel_name == "fused_elementwise" and set(attrs) == {"program", "out_fits"}:
        # Not an attribute of the kernel: the caller vouches that every `out` it passes has
        # the result's shape and dtype (an assign folded into the program).
        if small:
            return _fused_compile_small(attrs["program"], n_inputs, True, rank_0,
                                        input_shapes=shapes)
        return _fused_compile(attrs["program"], n_inputs, out_fits=True)
    if kernel_name == "fused_elementwise" and scalar_inputs and set(attrs) == {"program"}:
        fused = _fused_compile_scalar(attrs["program"], n_inputs)
        if fused is not None:
            return fused
    if kernel_name == "fused_elementwise" and small and set(attrs) == {"program"}:
        return _fused_compile_small(attrs["program"], n_inputs, False, rank_0,
                                    input_shapes=shapes)
    if kernel_name == "fused_elementwise":
        program = attrs["program"]
        entry = _FUSED_COMPILED.get(id(program))
        fused = entry[1] if entry is not None and entry[0] is program else \
            _fused_compile(program, n_inputs)
        if not fused.by_rows or (result_size is not None
                                 and result_size <= _FUSED_BLOCK_BYTES >> 3):
            return fused  # (a result this small is never run by row blocks)
        return _by_rows_or_whole(fused)
    if kernel_name == "matmul" and set(attrs) == {"transpose_a", "transpose_b"}:
        transpose_a, transpose_b = attrs["transpose_a"], attrs["transpose_b"]
        if _small_float_matrices(input_types, transpose_a, transpose_b):
            return _small_matmul(transpose_a, transpose_b)
        if not transpose_a and not transpose_b:
            return _matmul_2d
        if transpose_a and transpose_b:
            return lambda a, b: _matmul_2d(a.swapaxes(-1, -2), b.swapaxes(-1, -2))
        if transpose_a:
            return lambda a, b: _matmul_2d(a.swapaxes(-1, -2), b)
        return lambda a, b: _matmul_2d(a, b.swapaxes(-1, -2))
    if kernel_name == "reduce_sum" and set(attrs) == {"axis", "keepdims"}:
        axis, keepdims = attrs["axis"], attrs["keepdims"]
        by_dot = _sum_by_dot(input_types, axis, keepdims)
        if by_dot is not None:
            return by_dot
        by_slices = _sum_short_axis(input_types, axis, keepdims)
        if by_slices is not None:
            return by_slices
        if (axis is None or axis == tuple(range(len(axis)))) or (not keepdims and axis == (1,)):
            # Sums that reduce_sum may run as a product with ones: the same kernel as eagerly.
            return lambda x: reduce_sum(x, axis, keepdims)
        add_reduce = np.add.reduce
        return lambda x: add_reduce(x, axis, x.dtype, None, keepdims)
    if kernel_name == "assign" and set(attrs) == {"kind"}:
        # (The plan ignores what an assign returns.)
        if input_types is not None and len(input_types) == 2 and \
                input_types[0][0] == input_types[1][0] == ():
            return _RANK_0_ASSIGNS.get((attrs["kind"], input_types[0][1].is_floating))
        return {"assign": np.copyto, "assign_add": _add_into,
                "assign_sub": _subtract_into}.get(attrs["kind"])
    if kernel_name == "concat" and set(attrs) == {"axis"}:
        axis = attrs["axis"]
        return lambda *xs: np.concatenate(xs, axis)
    if kernel_name == "reduce_mean" and set(attrs) == {"axis", "keepdims"}:
        axis, keepdims = attrs["axis"], attrs["keepdims"]
        if axis is None or not all(isinstance(a, int) for a in axis):
            return None
        over_ones = _mean_over_ones(input_types, axis, keepdims)
        if over_ones is not None:
            return over_ones
        add_reduce = np.add.reduce
        leading = 0 < len(axis) and axis == tuple(range(len(axis)))

        spatial = axis == (1, 2)

        def mean(x):
            if leading or x.dtype.kind in "iu":  # (leading axes: maybe as _sum_rows)
                return reduce_mean(x, axis, keepdims)
            if spatial:
                out = _spatial_mean(x, keepdims)
                if out is not None:
                    return out
            count = 1
            for a in axis:
                count *= x.shape[a]
            total = add_reduce(x, axis, x.dtype, None, keepdims)
            if count == 1:
                return total  # (x / 1 is x: a mean over axes of length 1, as of a [n, 1] loss)
            return np.true_divide(total, x.dtype.type(count) if count else x.dtype.type(0))
        return mean
    if kernel_name == "reshape" and set(attrs) == {"shape"} and not (
            -1 in attrs["shape"] and 0 in attrs["shape"]):  # (that case: reshape's TF rule)
        shape = tuple(attrs["shape"])

        def reshape_to(x):
            try:
                return x.reshape(shape)  # (arrays and NumPy scalars: no asarray call)
            except AttributeError:
                return np.asarray(x).reshape(shape)
        return reshape_to
    return None


# A fused program over fewer elements than this keeps NumPy in a plan for jit_compile too:
# the loop's call and its Python wrapper cost about what NumPy's few calls cost there, and
# each distinct program would take Numba a compile.
_LOOP_MIN_SIZE = 1 << 14


def _assign_rank_0(target, value):
    target[()] = value


def _assign_add_rank_0(target, value):  # (a ufunc: integers wrap silently, as in TF)
    target[()] = target + value


def _assign_sub_rank_0(target, value):
    target[()] = target - value


def _assign_add_float_rank_0(target, value):  # (scalar arithmetic: the ufunc's IEEE result)
    target[()] = target[()] + value[()]


def _assign_sub_float_rank_0(target, value):
    target[()] = target[()] - value[()]


# An assign between rank-0 arrays (a step counter, a metric's total): ufuncs writing into a
# 0-d `out` cost twice as much as computing the value and storing it.
_RANK_0_ASSIGNS = {("assign", False): _assign_rank_0, ("assign", True): _assign_rank_0,
                   ("assign_add", False): _assign_add_rank_0,
                   ("assign_sub", False): _assign_sub_rank_0,
                   ("assign_add", True): _assign_add_float_rank_0,
                   ("assign_sub", True): _assign_sub_float_rank_0}


def _mean_over_ones(input_types, axis, keepdims):
    """A float mean over axes of static length 1 (Keras's mean of a [batch, 1] loss over its
    last axis): the values themselves, plus zero as the sum does it (-0.0 becomes +0.0)."""
    if input_types is None or len(input_types) != 1:
        return None
    shape, dtype = input_types[0]
    if (shape is None or None in shape or not dtype.is_floating or dtype.is_complex
            or not all(-len(shape) <= a < len(shape) and shape[a] == 1 for a in axis)):
        return None
    dropped = {a % len(shape) for a in axis}
    target = shape if keepdims else tuple(d for i, d in enumerate(shape) if i not in dropped)
    zero = np.zeros((), native_dtype(dtype))
    add = np.add
    return lambda x: add(x.reshape(target), zero)


def _sum_by_dot(input_types, axis, keepdims):
    """reduce_sum's product with ones for an input of static shape and float dtype where
    reduce_sum takes that route: the ones vector found once, only contiguity left to check."""
    if input_types is None or len(input_types) != 1 or keepdims:
        return None
    shape, dtype = input_types[0]
    if shape is None or None in shape:
        return None
    dtype = native_dtype(dtype)
    size = math.prod(shape)
    if dtype not in _SUM_FLOATS or not 0 < size <= _SUM_BY_DOT_MAX:
        return None
    if axis is None or len(axis) == len(shape):
        ones = _sum_ones(size, dtype)
        if len(shape) == 1:
            return lambda x: x.dot(ones) if x.flags.c_contiguous else reduce_sum(x, axis, False)
        return lambda x: (x.reshape(-1).dot(ones) if x.flags.c_contiguous
                          else reduce_sum(x, axis, False))
    if len(shape) == 2 and axis == (1,):
        ones = _sum_ones(shape[1], dtype)
        return lambda x: x.dot(ones) if x.flags.c_contiguous else reduce_sum(x, axis, False)
    if len(shape) == 2 and axis == (0,):
        ones = _sum_ones(shape[0], dtype)
        return lambda x: ones.dot(x) if x.flags.c_contiguous else reduce_sum(x, axis, False)
    return None


# A float sum over one short axis (any other summed axes of size 1) followed by a short run of
# elements (UpSampling2D's gradient: its tile's (..., 2, 1, 1, channels) summed over the 2)
# is its slices added in order: NumPy's reduction makes a loop call per run there (16 x 64 x
# 32 x 2 x 32: 1.5 -> 0.36 ms), and adds the slices in that order too, the same bits.
_SHORT_AXIS_MAX = 8
_SHORT_AXIS_RUN = (8, 1024)


def _sum_short_axis(input_types, axis, keepdims):
    """reduce_sum's slices-added-in-order kernel where the input's static shape and float
    dtype call for it (see above), or None."""
    if input_types is None or len(input_types) != 1 or not axis or min(axis) < 0:
        return None
    shape, dtype = input_types[0]
    if shape is None or native_dtype(dtype) not in _SUM_FLOATS:
        return None
    summed = [a for a in axis if shape[a] != 1]
    if len(summed) != 1 or None in shape[summed[0]:]:
        return None
    count, run = shape[summed[0]], math.prod(shape[summed[0] + 1:])
    if not 2 <= count <= _SHORT_AXIS_MAX or not _SHORT_AXIS_RUN[0] <= run <= _SHORT_AXIS_RUN[1]:
        return None
    add_reduce = np.add.reduce

    def sum_short_axis(x):
        if not x.flags.c_contiguous:
            return add_reduce(x, axis, x.dtype, None, keepdims)
        slices = x.reshape(-1, count, run)
        total = np.add(slices[:, 0], slices[:, 1])
        for i in range(2, count):
            np.add(total, slices[:, i], out=total)
        return total.reshape([1 if i in axis else d for i, d in enumerate(x.shape)
                              if keepdims or i not in axis])
    return sum_short_axis


def _small_float_matrices(input_types, transpose_a, transpose_b):
    """Whether a matmul's inputs are statically float matrices of known shapes whose product
    never splits over the threads (see _gemm)."""
    if input_types is None or len(input_types) != 2:
        return False
    (a, a_dtype), (b, b_dtype) = input_types
    if (a is None or b is None or len(a) != 2 or len(b) != 2 or None in a or None in b
            or a_dtype != b_dtype or native_dtype(a_dtype).char not in "fdFD"):
        return False
    # m * k * n; the size of b (see _threaded_product)
    return (a[0] * a[1] * b[0 if transpose_b else 1] < _GEMM_SPLIT_MIN
            and b[0] * b[1] < _BLAS_THREADS_MIN_SIZE)


def _small_matmul(transpose_a, transpose_b):
    """matmul's 2-D float path for products too small to split, without its checks: for
    operands BLAS takes as they are, ndarray.dot (half of np.matmul's cost at these sizes,
    the same BLAS call); for others np.matmul, as the kernel does."""
    matmul = np.matmul

    def small_matmul(a, b):
        if transpose_a:
            a = a.T
        if transpose_b:
            b = b.T
        if ((a.flags.c_contiguous or a.flags.f_contiguous)
                and (b.flags.c_contiguous or b.flags.f_contiguous)):
            return a.dot(b)
        return matmul(a, b)
    return small_matmul


def _below_row_blocks(inputs):
    """Whether the broadcast result of `inputs` certainly has too few elements for
    _fused_by_rows (at most _FUSED_BLOCK_BYTES / 8 of them): a step's small fused programs
    then skip its shape work (np.broadcast_shapes costs more than a 10x10 add). Inputs of
    one element never add elements to a broadcast; those of one common shape give its size;
    otherwise the product of the sizes bounds the broadcast size from above."""
    shape = None
    size = product = 1
    for a in inputs:
        n = getattr(a, "size", 1)
        if n > 1:
            product *= n
            if shape is None:
                shape, size = a.shape, n
            elif a.shape != shape:
                size = product
    return size <= _FUSED_BLOCK_BYTES >> 3


# Concat pieces smaller than this are copied: writing them in place saves less than the
# slicing it takes.
_WRITER_MIN_SIZE = 1 << 14


def writer(kernel_name, attrs, n_inputs, size):
    """For a plan that gives a kernel its result's buffer (a piece of a concat planned in
    place): a callable (*inputs, out) writing what `kernel(*inputs, **attrs)` returns into
    `out` (of the result's shape and dtype, `size` elements), or None for kernels without
    one and for small results."""
    if size < _WRITER_MIN_SIZE:
        return None
    if kernel_name == "matmul" and set(attrs) == {"transpose_a", "transpose_b"}:
        transpose_a, transpose_b = attrs["transpose_a"], attrs["transpose_b"]

        def matmul_into(a, b, out):
            return _matmul_2d(a.swapaxes(-1, -2) if transpose_a else a,
                              b.swapaxes(-1, -2) if transpose_b else b, out)
        matmul_into.operands = lambda a, b: (a.swapaxes(-1, -2) if transpose_a else a,
                                             b.swapaxes(-1, -2) if transpose_b else b)
        return matmul_into
    if kernel_name == "reduce_sum" and set(attrs) == {"axis", "keepdims"}:
        axis, keepdims = attrs["axis"], attrs["keepdims"]
        # (Results this large are never reduce_sum's products with ones.)
        add_reduce = np.add.reduce
        return lambda x, out: add_reduce(x, axis, x.dtype, out, keepdims)
    if kernel_name == "gather_grad" and set(attrs) == {"shape", "axis", "batch_dims"}:
        shape, axis, batch_dims = attrs["shape"], attrs["axis"], attrs["batch_dims"]

        def gather_grad_into(indices, g, out):
            if axis == 0 and batch_dims == 0 and indices.size and out.dtype == g.dtype:
                out.fill(0)
                rows = indices.reshape(-1)
                _scatter_add_rows(out, rows, g.reshape((rows.size,) + tuple(shape[1:])))
            else:
                out[...] = gather_grad(indices, g, shape, axis, batch_dims)
            return out
        return gather_grad_into
    return None


def products_together(first, second):
    """For a plan with two large 2-D GEMMs in a row that do not depend on each other (the
    backward pass's product for the layer below and the gradient of a kernel): a callable
    (*first's inputs, *second's inputs) running both as one split over the threads, one
    hand-off instead of two and no wait between them; it returns first's result, then
    second's where it has one. Each of `first` and `second` is (kernel, input count, matmul
    attributes) for a matmul step, or (write_piece, input count, None) for a product written
    into a buffer (its writer has `operands`, see `writer`); None where that does not apply.
    The pieces are those _gemm would split each GEMM into: the same numbers."""
    described = []
    for kernel, count, attrs in (first, second):
        if attrs is not None:
            if set(attrs) != {"transpose_a", "transpose_b"} or count != 2:
                return None
            transpose_a, transpose_b = attrs["transpose_a"], attrs["transpose_b"]
            described.append((count, lambda a, b, transpose_a=transpose_a,
                              transpose_b=transpose_b: (a.T if transpose_a else a,
                                                        b.T if transpose_b else b), None))
        else:
            write, offset, size, shape = kernel.piece
            operands = getattr(write, "operands", None)
            if operands is None or count != 3 or len(shape) != 2:
                return None
            described.append((count, operands, (offset, size, shape)))

    def run(*inputs):
        gemms, results = [], []
        start = 0
        for count, operands, place in described:
            a, b = operands(*inputs[start:start + 2])
            if place is None:
                out = None
            else:
                offset, size, shape = place
                out = inputs[start + 2][offset:offset + size].reshape(shape)
            gemms.append((a, b, out))
            start += count
        pieces = []
        for g, (a, b, out) in enumerate(gemms):
            split = None
            if (a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and a.dtype.char in "fdFD"
                    and (a.flags.c_contiguous or a.flags.f_contiguous)
                    and (b.flags.c_contiguous or b.flags.f_contiguous)):
                split = _gemm_pieces(a, b)
                if (split is None and _THREADS > 1 and _own_blas()
                        and a.shape[0] * a.shape[1] * b.shape[1] >= _PAIRED_WHOLE_MIN
                        and not _threaded_product(a, b) and not np.may_share_memory(a, b)):
                    # Too small to split but long enough to run beside the other product
                    # on another thread: whole, as its step would run it.
                    split = [(True, slice(None))]
            if split is None:
                pieces = None
                break
            if out is None:
                out = np.empty((a.shape[0], b.shape[1]), a.dtype)
                gemms[g] = (a, b, out)
                results.append(out)
            pieces += [(g, piece) for piece in split]
        if pieces is None:  # each as its step would run it
            results = []
            start = 0
            for kernel, count, attrs in (first, second):
                if attrs is None:
                    kernel(*inputs[start:start + count])
                else:
                    results.append(kernel(*inputs[start:start + count], **attrs))
                start += count
            return tuple(results)
        # The longest pieces first: this thread starts on the first while a worker wakes.
        pieces.sort(key=lambda piece: -_piece_size(gemms[piece[0]], piece[1]))
        _in_parallel(lambda piece: _gemm_piece(*gemms[piece[0]], piece[1]), pieces,
                     _PARALLEL_MIN_BYTES)
        return tuple(results)
    return run


# A product too small for _gemm to split runs whole beside the other of products_together
# when it has at least this many multiply-adds (W4's 256x1024x10 products, 70-100 us each:
# the pair 213 -> 140 us), not in a row.
_PAIRED_WHOLE_MIN = 1 << 21


def _piece_size(gemm, piece):
    """The multiply-adds of one piece of a products_together split."""
    a, b, _ = gemm
    by_rows, part = piece
    rows = len(range(a.shape[0])[part]) if by_rows else a.shape[0]
    columns = b.shape[1] if by_rows else len(range(b.shape[1])[part])
    return rows * columns * a.shape[1]


def update_after_product(write, offset, size, shape, group):
    """For a plan whose last gradient product is written into a flat buffer that an update
    group (see fused_update_group) then reads: a callable (a, b, buffer, *group_args) doing
    both, `write(a, b, out)` writing the product into buffer[offset:offset + size] (of
    `shape`); None where it does not apply (not a matmul writer).

    On several threads they overlap: the product is computed in blocks of rows, this thread
    taking them first, while the workers update the rest of the buffers (the other
    variables, whose gradients are already there); the range of each block of rows is
    updated once that block is written. The GEMM releases the GIL, so the updates beside it
    run at one thread's full speed (two updates at once contend for it), and no thread waits
    at the end of the GEMM. The values are those of the GEMM split by rows followed by the
    group over the whole buffer (the updates are elementwise)."""
    operands = getattr(write, "operands", None)
    ranges = getattr(group, "ranges", None)
    if operands is None or ranges is None or len(shape) != 2:
        return None

    def run(a, b, buffer, *args):
        target = buffer[offset:offset + size].reshape(shape)
        a2, b2 = operands(a, b)
        found = ranges(args) if _THREADS > 1 else None
        if (found is None or a2.ndim != 2 or b2.ndim != 2
                or a2.shape[0] * a2.shape[1] * b2.shape[1] < _GEMM_SPLIT_MIN or not _own_blas()
                or np.may_share_memory(a2, b2) or a2.dtype != b2.dtype
                or a2.dtype.char not in "fdFD"
                or not (a2.flags.c_contiguous or a2.flags.f_contiguous)
                or not (b2.flags.c_contiguous or b2.flags.f_contiguous)):
            write(a, b, out=target)
            group(*args)
            return ()
        update, length = found
        _product_and_update(a2, b2, target, offset, update, length)
        return ()
    return run


# (rows, columns, offset, length and the constants below) -> the pieces of
# _product_and_update: built once per shape, not on every step before the GEMM starts (W4's
# pair 15-20 us sooner; the workers wait for this thread meanwhile).
_PRODUCT_AND_UPDATE_PIECES = {}


def _product_blocks(rows, columns, depth, others):
    """The product's blocks of rows in _product_and_update: the first, which this thread
    computes while the workers update the `others` elements of the other variables, is
    larger by its share of those updates, so that every thread ends its part of product and
    updates together (one block each otherwise equal, in multiples of 16 rows). The blocks
    depend on the shapes only, so the product's values do not depend on timing."""
    threads = min(_THREADS, max(1, rows // 16))
    product = rows * columns * depth
    share = min(1.0, (product + _UPDATE_COST * others) / (threads * product))
    # (the builtin round is shadowed here by the round kernel)
    first = rows if threads == 1 else min(rows, max(16, int(rows * share / 16 + 0.5) * 16))
    blocks = [slice(0, first)]
    rest = rows - first
    if rest:
        count = min(threads - 1, -(-rest // 16))
        step = -(-rest // count)
        step = -(-step // 16) * 16
        blocks += [slice(start, min(start + step, rows)) for start in range(first, rows, step)]
    return blocks


# What updating one element of a flat buffer costs beside the product in
# _product_and_update, in its multiply-adds (W4: Adam over the other 1.06M parameters as one
# loop took 390-460 us while a 103M multiply-add block took 950 us on the other thread).
_UPDATE_COST = 46


def _product_and_update_pieces(rows, columns, depth, offset, length):
    """(the product's blocks of rows, the other ranges to update, (block, begin, end) of the
    ranges of the written blocks) of _product_and_update."""
    key = (rows, columns, depth, offset, length, _THREADS, _UPDATE_COST, _FUSED_CHUNK,
           _FUSED_CHUNKS_PER_PIECE)
    found = _PRODUCT_AND_UPDATE_PIECES.get(key)
    if found is not None:
        return found
    products = _product_blocks(rows, columns, depth, length - rows * columns)
    span = _FUSED_CHUNK * _FUSED_CHUNKS_PER_PIECE
    others = [(begin, min(begin + span, end)) for first, end in
              ((0, offset), (offset + rows * columns, length)) for begin in range(first, end, span)]
    # A written block's range in pieces of a chunk, so that the threads finish together.
    afters = [(i, begin, min(begin + _FUSED_CHUNK, offset + block.stop * columns))
              for i, block in enumerate(products)
              for begin in range(offset + block.start * columns, offset + block.stop * columns,
                                 _FUSED_CHUNK)]
    if len(_PRODUCT_AND_UPDATE_PIECES) > 64:
        _PRODUCT_AND_UPDATE_PIECES.clear()
    found = _PRODUCT_AND_UPDATE_PIECES[key] = (products, others, afters)
    return found


def _product_and_update(a, b, target, offset, update, length):
    rows, columns = target.shape
    products, others, afters = _product_and_update_pieces(rows, columns, a.shape[1], offset,
                                                          length)
    done = [threading.Event() for _ in products]
    written = [False] * len(products)
    claims = (iter(range(len(products))), iter(others), iter(afters))

    def product(i):
        try:
            np.matmul(a[products[i]], b, out=target[products[i]])
            written[i] = True
        finally:
            done[i].set()

    def after(i, begin, end):
        done[i].wait()
        if written[i]:  # else its error reaches the caller, and nothing reads the block
            update(begin, end)

    def work(first_the_product):
        # The GEMM blocks first on this thread (a worker starts late), the other updates
        # first on the workers; the updates of written blocks last on every thread. A block
        # is waited for only once every block was claimed, so it is being computed.
        tasks = ((claims[0], product), (claims[1], lambda piece: update(*piece)))
        for claim, task in (tasks if first_the_product else tasks[::-1]):
            for piece in claim:
                task(piece)
        for piece in claims[2]:
            after(*piece)
    _in_parallel(work, [True] + [False] * (_THREADS - 1), _PARALLEL_MIN_BYTES)


def empty_buffer(size, dtype):
    """A new uninitialised 1-D array of `size` elements of a DType (a concat's buffer that
    its pieces' kernels write into)."""
    return np.empty(size, native_dtype(dtype))


def _add_into(target, value):
    return np.add(target, value, out=target)


def _subtract_into(target, value):
    return np.subtract(target, value, out=target)


# A long 1-D program (an optimizer's update of a flat buffer) runs chunk by chunk, so that
# its temporaries stay in cache: one pass over memory instead of one per instruction.
_FUSED_CHUNK = 1 << 16
_FUSED_CHUNKED_MIN_SIZE = 4 * _FUSED_CHUNK
# Chunks are handed to threads this many at a time.
_FUSED_CHUNKS_PER_PIECE = 4
# (id(program), which inputs are long) -> (program, generated function or None)
_FUSED_CHUNKED = {}


def _fused_run_chunked(fused, inputs, out):
    """Runs the chunked form `fused` of a program over all of `out`, a few chunks per piece
    of work (see _in_parallel)."""
    span = _FUSED_CHUNK * _FUSED_CHUNKS_PER_PIECE
    size = out.shape[0]
    pieces = [(start, min(start + span, size)) for start in range(0, size, span)]
    long_bytes = sum(a.nbytes for a in inputs if getattr(a, "shape", None) == out.shape)
    _in_parallel(lambda piece: fused(*inputs, out=out, chunk=_FUSED_CHUNK, begin=piece[0],
                                     end=piece[1]),
                 pieces, out.nbytes + long_bytes)
    return out


def _fused_chunked(program, inputs, out):
    """The chunked form of `program` for these inputs, or None when it does not apply: every
    input is either `out`'s shape or a single element, the result has out's dtype and the
    last instruction is a ufunc that can write into out."""
    shape = out.shape
    long = []
    for a in inputs:
        a_shape = getattr(a, "shape", None)
        if a_shape == shape:
            long.append(True)
        elif a_shape is not None and a.size == 1 and len(a_shape) <= 1:
            long.append(False)
        else:
            return None
    key = (id(program), tuple(long))
    entry = _FUSED_CHUNKED.get(key)
    if entry is None or entry[0] is not program:
        entry = (program, _fused_compile_chunked(program, long))
        if len(_FUSED_CHUNKED) > 4096:
            _FUSED_CHUNKED.clear()
        _FUSED_CHUNKED[key] = entry
    fused = entry[1]
    if fused is None or out.dtype != native_dtype(program[-1][3]):
        return None
    return fused


def _fused_compile_chunked(program, long):
    """Like _fused_compile, with the instructions that read only single elements run once
    before a loop over the chunks of the long inputs from `begin` to `end` (a multiple of
    `chunk` or the end of `out`); the last instruction writes each chunk of `out`. The lines
    are a one-update group's (see _fused_group_part); None where it does not apply."""
    env = {"__name__": __name__}
    lines = _fused_group_part(program, long, "", env)
    if lines is None:
        return None
    head, body = lines
    source = [f"def fused({', '.join(f'r{i}' for i in range(len(long)))}, out, chunk, begin, "
              "end):", "    target = out"]
    source += head + ["    for i in range(begin, end, chunk):", "        e = min(i + chunk, end)"]
    source += body + ["    return out"]
    code = compile("\n".join(source), f"<fused_elementwise {len(program)} ops, chunked>",
                   "exec")
    exec(code, env)  # noqa: S102 - our own generated source, built from kernel names only
    return env["fused"]


# Several folded updates in a row (an optimizer's m, v and variable updates over flat
# buffers) run as one loop over chunks: chunk i of each update in turn, so that what one
# update writes is still in cache when the next one reads it.
# (programs, longs) -> (programs, generated function or None)
_FUSED_GROUPS = {}


def fused_update_group(parts, kernels, size, native=False):
    """One callable for consecutive folded updates, or None where grouping cannot help
    (buffers shorter than the chunked minimum). `parts` are (program, inputs, reads_target)
    per update, whose kernel (in `kernels`) takes those inputs then the target it writes;
    `size` is the targets' element count. The callable takes every update's arguments in
    order and runs them chunk by chunk together when all are chunkable over aligned,
    non-overlapping buffers, else one after another through `kernels`. The updates run as
    one loop where it lowers them (the same values, one pass over the buffers): Numba's
    (numpy_loops) with `native` (a plan for jit_compile), else llvmlite's
    (numpy_elementwise_native); native=None: neither."""
    if size < _FUSED_CHUNKED_MIN_SIZE or len(parts) < 2:
        return None
    counts = [n_inputs + (not reads_target) for _, n_inputs, reads_target in parts]
    programs = tuple(program for program, _, _ in parts)
    loops = _loops(native)
    bind = loops and loops.update_group(parts, counts)

    def run_group(*args):
        looped = bind and _native_group(bind, parts, counts, args)
        if looped:
            _in_parallel(lambda piece: looped(*piece), *_group_pieces(args, counts))
            return ()
        generated = _fused_group_for(programs, parts, counts, args)
        if generated is not None:
            _in_parallel(lambda piece: generated(args, _FUSED_CHUNK, *piece),
                         *_group_pieces(args, counts))
            return ()
        start = 0
        for kernel, count in zip(kernels, counts):
            kernel(*args[start:start + count])
            start += count
        return ()

    def ranges(args):
        """A callable (begin, end) running the group over that range of its buffers on this
        thread, with the targets' length; None where run_group would not run the loop."""
        looped = bind and _native_group(bind, parts, counts, args)
        if looped:
            return looped, args[counts[0] - 1].shape[0]
        generated = _fused_group_for(programs, parts, counts, args)
        if generated is None:
            return None
        return (lambda begin, end: generated(args, _FUSED_CHUNK, begin, end),
                args[counts[0] - 1].shape[0])
    run_group.ranges = ranges
    return run_group


def _group_pieces(args, counts):
    """(pieces, bytes) for _in_parallel over an update group's buffers: pieces of a few
    chunks, each running every update in turn."""
    length = args[counts[0] - 1].shape[0]  # (of every target)
    span = _FUSED_CHUNK * _FUSED_CHUNKS_PER_PIECE
    pieces = [(begin, min(begin + span, length)) for begin in range(0, length, span)]
    return pieces, sum(a.nbytes for a in args if getattr(a, "size", 0) == length)


def _loops(native):
    """The single-pass loops for a plan (native None: none): numpy_elementwise_native's
    where llvmlite's kernels run, for every plan; else, for a plan built for jit_compile
    (native True), numpy_loops' where Numba runs without them (a CPU without AVX2 and FMA, or
    TENSORFLUX_NATIVE_KERNELS=0). Both give the NumPy runner's bits, subnormals flushed (a
    compiled run's denormals-are-zero) or kept; Numba takes ten times as long to compile a
    loop (imported on use)."""
    if native is None:
        return None
    from tensorflux.backends import numpy_elementwise_native

    if numpy_elementwise_native.available():
        return numpy_elementwise_native
    if native:
        from tensorflux.backends import numpy_loops

        return numpy_loops if numpy_loops.available() else None
    return None


def _native_group(bind, parts, counts, args):
    """numpy_loops' loop (begin, end) over the group's buffers for these arguments (`bind`,
    from numpy_loops.update_group), or None where they or the programs do not allow it."""
    longs = _fused_group_longs(parts, counts, args)
    return None if longs is None else bind(tuple(longs), args)


def _fused_group_for(programs, parts, counts, args):
    """The generated group loop for these arguments, or None when they do not allow it."""
    longs = _fused_group_longs(parts, counts, args)
    if longs is None:
        return None
    key = (tuple(id(p) for p in programs), tuple(longs))
    entry = _FUSED_GROUPS.get(key)
    if entry is None or entry[0] is not programs:
        entry = (programs, _fused_group_compile(programs, parts, longs))
        if len(_FUSED_GROUPS) > 256:
            _FUSED_GROUPS.clear()
        _FUSED_GROUPS[key] = entry
    return entry[1]


def _fused_group_longs(parts, counts, args):
    """Per update, which of its inputs are long (the targets' shape; the others are single
    elements), when the arguments allow running the updates chunk by chunk together: 1-D
    contiguous targets of one length, each argument a target or sharing no memory with any;
    else None."""
    longs = []
    targets = []
    start = 0
    for (program, n_inputs, _), count in zip(parts, counts):
        chunk_args = args[start:start + count]
        start += count
        target = chunk_args[-1]
        if (type(target) is not np.ndarray or target.ndim != 1 or not target.flags.c_contiguous
                or target.dtype != native_dtype(program[-1][3])):
            return None
        targets.append(target)
        long = []
        for a in chunk_args[:n_inputs]:
            a_shape = getattr(a, "shape", None)
            if a_shape == target.shape:
                long.append(True)
            elif a_shape is not None and a.size == 1 and len(a_shape) <= 1:
                long.append(False)
            else:
                return None
        longs.append(tuple(long))
    if any(t.shape != targets[0].shape for t in targets):
        return None
    # Chunk i of a later update must see exactly what the earlier ones wrote there: every
    # argument is a target itself or shares no memory with any target.
    for a in args:
        for t in targets:
            if a is not t and np.may_share_memory(a, t):
                return None
    return longs


def _fused_group_compile(programs, parts, longs):
    """Generated code: each update's single-element instructions once, then one loop over
    the chunks from `begin` to `end` running each update's long instructions in turn (as
    _fused_compile_chunked does for one program), the last of each writing its target's
    chunk."""
    env = {"__name__": __name__}
    names = []
    head, body = [], []
    for u, (program, longs_u, (_, n_inputs, reads_target)) in enumerate(
            zip(programs, longs, parts)):
        lines = _fused_group_part(program, longs_u, f"u{u}_", env)
        if lines is None:
            return None
        names += [f"u{u}_r{i}" for i in range(n_inputs)]
        if reads_target:
            head.append(f"    u{u}_target = u{u}_r{n_inputs - 1}")
        else:
            names.append(f"u{u}_target")
        head += lines[0]
        body += lines[1]
    source = ["def group(args, chunk, begin, end):", f"    {', '.join(names)}, = args"]
    source += head + ["    for i in range(begin, end, chunk):", "        e = min(i + chunk, end)"]
    source += body + ["    return None"]
    code = compile("\n".join(source), f"<fused update group of {len(programs)}>", "exec")
    exec(code, env)  # noqa: S102 - our own generated source, built from kernel names only
    return env["group"]


def _fused_group_part(program, long, tag, env):
    """(head lines, loop body lines) of one update in a group, its names prefixed by `tag`;
    its target is `{tag}target` (the last input when the program reads it). None when the
    program's last instruction cannot write a chunk of the target."""
    n_inputs = len(long)
    is_long = list(long)
    for _, refs, _, _ in program:
        is_long.append(any(is_long[r] for r in refs))
    final = len(program) - 1
    name, _, attrs, _ = program[final]
    fn = _FUSED_UFUNCS.get(name) or globals()[name]
    if not is_long[-1] or attrs or not isinstance(fn, np.ufunc) or fn.nout != 1:
        return None
    last = {}
    for j, (_, refs, _, _) in enumerate(program):
        for r in refs:
            last[r] = j
    head = []

    def ref(r):
        return f"{tag}x{r}" if r < n_inputs and long[r] else f"{tag}r{r}"

    body = [f"        {tag}x{i} = {tag}r{i}[i:e]" for i in range(n_inputs) if long[i]]
    allocated = set()
    for j, (kernel_name, refs, attrs, dtype) in enumerate(program):
        fn = _FUSED_UFUNCS.get(kernel_name) or globals()[kernel_name]
        env[f"{tag}f{j}"] = fn
        reg = n_inputs + j
        args = ", ".join(ref(r) for r in refs)
        is_ufunc = not attrs and isinstance(fn, np.ufunc) and fn.nout == 1
        if attrs:
            env[f"{tag}a{j}"] = dict(attrs)
        call = f"{tag}f{j}({args}, **{tag}a{j})" if attrs else f"{tag}f{j}({args})"
        if not is_long[reg]:
            head.append(f"    {tag}r{reg} = {call}")
            continue
        dying = sorted({r for r in refs if r >= n_inputs and is_long[r] and last[r] == j})
        if j == final:
            call = f"{tag}f{j}({args}, out={tag}target[i:e])"
        elif is_ufunc:
            env[f"{tag}d{j}"] = native_dtype(dtype)
            donors = [r for r in dying if r in allocated]
            if donors:
                d = f"{tag}r{donors[0]}"
                call = f"{tag}f{j}({args}, out={d}) if {d}.dtype == {tag}d{j} else {call}"
            allocated.add(reg)
        body.append(f"        {tag}r{reg} = {call}")
        body += [f"        del {tag}r{r}" for r in dying]
    return head, body


# ---- rnn (helper)
# Fused whole-sequence LSTM/GRU recurrences and their backward-through-time kernels. Sigmoid
# gates are computed as 0.5 + 0.5*tanh(x/2) so one tanh covers every gate block of a step
# (the 1/2 is folded into the weights once per call). Per-step states are kept in processing
# order (reversed time with go_backwards); masked steps keep the previous states.

def _rnn_time_index(s, t, go_backwards):
    return t - 1 - s if go_backwards else s


def _time_major(x, go_backwards, scale):
    """(batch, time, features) times scale (features,) as a contiguous (time, batch,
    features) array in processing order."""
    out = np.empty((x.shape[1], x.shape[0]) + x.shape[2:], x.dtype)
    np.multiply((x[:, ::-1] if go_backwards else x).swapaxes(0, 1), scale, out=out)
    return out


def _rnn_keep(mask, go_backwards):
    """The mask as (time, batch, 1) booleans in processing order: kept, and masked."""
    keep = (mask != 0).T[::-1 if go_backwards else None, :, None]
    return keep, ~keep


# The LSTM kernels keep every per-step array in a time-major buffer (time, batch, ...) in
# processing order, so a step's slices are contiguous and each NumPy call writes its result
# in place: a step is one GEMM and nine small elementwise calls. The outputs are (batch, time)
# views of those buffers; lstm_sequence_grad reads them back time-major without a copy.

def lstm_sequence(xw, h0, c0, kernel, mask=None, *, go_backwards):
    b, t, w = xw.shape
    u = w // 4
    dt = xw.dtype
    scale = np.full(w, 0.5, dt)
    scale[2 * u:3 * u] = 1
    shift = np.full(w, 0.5, dt)
    shift[2 * u:3 * u] = 0
    ks = kernel * scale
    gates = _time_major(xw, go_backwards, scale)  # the scaled pre-activations, then gates
    hs = np.empty((t, b, u), dt)
    cs = np.empty((t, b, u), dt)
    hu = np.empty((b, w), dt)
    ig = np.empty((b, u), dt)
    if mask is not None:
        _, dropped = _rnn_keep(mask, go_backwards)
    h, c = h0, c0
    for s in range(t):
        z = gates[s]
        _matmul_2d(h, ks, out=hu)
        z += hu
        np.tanh(z, out=z)
        z *= scale
        z += shift
        c_new = cs[s]
        np.multiply(z[:, u:2 * u], c, out=c_new)
        np.multiply(z[:, :u], z[:, 2 * u:3 * u], out=ig)
        c_new += ig
        h_new = hs[s]
        np.tanh(c_new, out=h_new)
        h_new *= z[:, 3 * u:]
        if mask is not None:
            np.copyto(c_new, c, where=dropped[s])
            np.copyto(h_new, h, where=dropped[s])
        h, c = h_new, c_new
    return hs.swapaxes(0, 1), cs.swapaxes(0, 1), gates.swapaxes(0, 1)


def _rnn_hits(g):
    """Per processing step (axis 1 of a (batch, time, ...) cotangent), whether it has any
    nonzero entry; reducing over the batch first keeps the reductions vectorised."""
    if not g.any():  # the usual case for the gates' cotangent, and a cheaper scan
        return [False] * g.shape[1]
    return (g != 0).any(axis=0).reshape(g.shape[1], -1).any(axis=1).tolist()


# Steps per block of lstm_sequence_grad: its scratch then stays small enough to be reused
# from the heap and the cache, instead of freshly faulted-in pages for whole-sequence arrays.
_RNN_BLOCK = 16


def lstm_sequence_grad(h0, c0, kernel, hs, cs, gates, ghs, gcs, ggates, mask=None, *,
                       go_backwards):
    b, t, u = hs.shape
    w = 4 * u
    dt = hs.dtype
    # time-major views (no copy for lstm_sequence's own outputs)
    hs, cs, gates = hs.swapaxes(0, 1), cs.swapaxes(0, 1), gates.swapaxes(0, 1)
    # Cotangents of the states and gates are mostly zero (only the last step's states are
    # used): steps without any skip the addition.
    h_hit, c_hit, g_hit = _rnn_hits(ghs), _rnn_hits(gcs), _rnn_hits(ggates)
    if mask is not None:
        keep, dropped = _rnn_keep(mask, go_backwards)
        dh_kept = np.empty((b, u), dt)
        dc_kept = np.empty((b, u), dt)
    kernel_t = np.ascontiguousarray(kernel.T)
    dh = np.zeros((b, u), dt)
    dc = np.zeros((b, u), dt)
    dc_row = dc[:, None]
    dh_row = dh[:, None]
    dxw = np.empty((b, t, w), dt)
    dkernel = np.zeros((u, w), dt)
    # A step is dc += dh*odt; dz = [dc*ai, dc*af, dc*ag, dh*bo]; dc *= f; dh = dz @ kernel.T.
    # The factors that do not depend on the recurrence are computed for a block of steps at
    # once, laid out so that a step needs two broadcast multiplies: dh times (bo, odt), whose
    # results land in dz's o block and a fifth scratch block, and dc times (ai, af, ag).
    n = min(t, _RNN_BLOCK)
    deriv_buffer = np.empty((n, b, w), dt)
    tc_buffer = np.empty((n, b, u), dt)
    by_dh_buffer = np.empty((n, b, 2, u), dt)
    by_dc_buffer = np.empty((n, b, 3, u), dt)
    dz_buffer = np.empty((n, b, 5, u), dt)  # blocks i, f, c, o of dz, then dh*odt
    for end in range(t, 0, -n):
        start = max(end - n, 0)
        m = end - start
        block = gates[start:end]
        i, f, g, o = (block[:, :, k * u:(k + 1) * u] for k in range(4))
        deriv = deriv_buffer[:m]
        np.subtract(1, block, out=deriv)
        deriv *= block  # sigmoid' of the i, f, o blocks
        tc = np.tanh(cs[start:end], out=tc_buffer[:m])
        by_dh = by_dh_buffer[:m]
        np.multiply(deriv[:, :, 3 * u:], tc, out=by_dh[:, :, 0])
        odt = by_dh[:, :, 1]
        np.multiply(tc, tc, out=odt)
        np.subtract(1, odt, out=odt)
        odt *= o
        by_dc = by_dc_buffer[:m]
        np.multiply(deriv[:, :, :u], g, out=by_dc[:, :, 0])
        if start == 0:
            np.multiply(deriv[0, :, u:2 * u], c0, out=by_dc[0, :, 1])
            np.multiply(deriv[1:, :, u:2 * u], cs[:end - 1], out=by_dc[1:, :, 1])
        else:
            np.multiply(deriv[:, :, u:2 * u], cs[start - 1:end - 1], out=by_dc[:, :, 1])
        ag = by_dc[:, :, 2]
        np.multiply(g, g, out=ag)
        np.subtract(1, ag, out=ag)
        ag *= i
        if any(g_hit[start:end]):
            np.subtract(1, g * g, out=deriv[:, :, 2 * u:3 * u])  # tanh' of the candidate
            deriv *= ggates[:, start:end].swapaxes(0, 1)
        dz_all = dz_buffer[:m]
        for s in range(end - 1, start - 1, -1):
            j = s - start
            if h_hit[s]:
                dh += ghs[:, s]
            if c_hit[s]:
                dc += gcs[:, s]
            if mask is not None:
                # a masked step passes the state cotangents straight to the previous step
                np.multiply(dh, dropped[s], out=dh_kept)
                np.multiply(dc, dropped[s], out=dc_kept)
                dh *= keep[s]
                dc *= keep[s]
            blocks = dz_all[j]
            np.multiply(dh_row, by_dh[j], out=blocks[:, 3:])
            dc += blocks[:, 4]
            np.multiply(dc_row, by_dc[j], out=blocks[:, :3])
            dz = blocks[:, :4].reshape(b, w)
            if g_hit[s]:
                dz += deriv[j]
            dc *= f[j]
            _matmul_2d(dz, kernel_t, out=dh)
            if mask is not None:
                dh += dh_kept
                dc += dc_kept
        dz_all = dz_all[:, :, :4].reshape(m, b, w)  # a view: rows of stride 5u
        # the hidden state before each step of the block
        if start == 0:
            dkernel += h0.T @ dz_all[0]
            if m > 1:
                dkernel += hs[:end - 1].reshape(-1, u).T @ dz_all[1:].reshape(-1, w)
        else:
            dkernel += hs[start - 1:end - 1].reshape(-1, u).T @ dz_all.reshape(-1, w)
        if go_backwards:
            np.copyto(dxw[:, t - end:t - start], dz_all[::-1].swapaxes(0, 1))
        else:
            np.copyto(dxw[:, start:end], dz_all.swapaxes(0, 1))
    return dxw, dh, dc, dkernel


def gru_sequence(xw, h0, kernel, bias, mask=None, *, reset_after, go_backwards):
    # time-major buffers written in place, as lstm_sequence
    b, t, w = xw.shape
    u = w // 3
    dt = xw.dtype
    scale = np.ones(w, dt)
    scale[:2 * u] = 0.5  # z and r are sigmoids: 0.5 + 0.5*tanh(x/2)
    gates = _time_major(xw, go_backwards, scale)  # the scaled pre-activations, then gates
    if reset_after:
        ks = kernel * scale
        bs = bias * scale
        hu = np.empty((b, w), dt)
    else:
        ks = kernel[:, :2 * u] * 0.5
        kh = kernel[:, 2 * u:]
        hu = np.empty((b, 2 * u), dt)
    hs = np.empty((t, b, u), dt)
    aux = np.empty((t, b, u), dt)
    tmp = np.empty((b, u), dt)
    if mask is not None:
        _, dropped = _rnn_keep(mask, go_backwards)
    h = h0
    for s in range(t):
        z = gates[s]
        _matmul_2d(h, ks, out=hu)
        if reset_after:
            hu += bs
        zr = z[:, :2 * u]
        zr += hu[:, :2 * u]
        np.tanh(zr, out=zr)
        zr *= 0.5
        zr += 0.5
        r = z[:, u:2 * u]
        hh = z[:, 2 * u:]
        a = aux[s]
        if reset_after:
            np.copyto(a, hu[:, 2 * u:])
            np.multiply(r, a, out=tmp)
        else:
            np.multiply(r, h, out=a)
            _matmul_2d(a, kh, out=tmp)
        hh += tmp
        np.tanh(hh, out=hh)
        h_new = hs[s]
        np.subtract(h, hh, out=h_new)
        h_new *= z[:, :u]
        h_new += hh
        if mask is not None:
            np.copyto(h_new, h, where=dropped[s])
        h = h_new
    return hs.swapaxes(0, 1), gates.swapaxes(0, 1), aux.swapaxes(0, 1)


def gru_sequence_grad(h0, kernel, hs, gates, aux, ghs, ggates, gaux, mask=None, *,
                      reset_after, go_backwards):
    if not reset_after:
        return _gru_sequence_grad_stepwise(h0, kernel, hs, gates, aux, ghs, ggates, gaux, mask,
                                           reset_after=False, go_backwards=go_backwards)
    b, t, u = hs.shape
    w = 3 * u
    dt = hs.dtype
    hs, gates, aux = hs.swapaxes(0, 1), gates.swapaxes(0, 1), aux.swapaxes(0, 1)
    h_hit, g_hit, a_hit = _rnn_hits(ghs), _rnn_hits(ggates), _rnn_hits(gaux)
    if mask is not None:
        keep, dropped = _rnn_keep(mask, go_backwards)
        dh_kept = np.empty((b, u), dt)
    kernel_t = np.ascontiguousarray(kernel.T)
    dh = np.zeros((b, u), dt)
    dh_row = dh[:, None]
    tmp = np.empty((b, u), dt)
    dxw = np.empty((b, t, w), dt)
    dkernel = np.zeros((u, w), dt)
    dbias = np.zeros(w, dt)
    # A step, with dah the cotangent of the candidate's pre-activation and dhuh that of
    # h@U_h + b_h: [dah, dz] = dh*(a_hh, a_z); [dr, dhuh] = dah*(aux*r', r);
    # dh = dh*z + [dz, dr, dhuh] @ kernel.T. Blocks are laid out [dah, dz, dr, dhuh] so that
    # each product is one broadcast multiply and the GEMM reads three adjacent blocks; the
    # factors are computed for a block of steps at once, as in lstm_sequence_grad.
    n = min(t, _RNN_BLOCK)
    deriv_buffer = np.empty((n, b, w), dt)
    by_dh_buffer = np.empty((n, b, 2, u), dt)
    by_dah_buffer = np.empty((n, b, 2, u), dt)
    dz_buffer = np.empty((n, b, 4, u), dt)
    for end in range(t, 0, -n):
        start = max(end - n, 0)
        m = end - start
        block = gates[start:end]
        z, r, hh = (block[:, :, k * u:(k + 1) * u] for k in range(3))
        deriv = deriv_buffer[:m]
        np.subtract(1, block, out=deriv)
        deriv *= block  # sigmoid' of z and r
        d_hh = deriv[:, :, 2 * u:]
        np.multiply(hh, hh, out=d_hh)
        np.subtract(1, d_hh, out=d_hh)  # tanh' of the candidate
        by_dh = by_dh_buffer[:m]
        np.subtract(1, z, out=by_dh[:, :, 0])
        by_dh[:, :, 0] *= d_hh
        a_z = by_dh[:, :, 1]
        if start == 0:
            np.subtract(h0, hh[0], out=a_z[0])
            np.subtract(hs[:end - 1], hh[1:], out=a_z[1:])
        else:
            np.subtract(hs[start - 1:end - 1], hh, out=a_z)
        a_z *= deriv[:, :, :u]
        by_dah = by_dah_buffer[:m]
        np.multiply(aux[start:end], deriv[:, :, u:2 * u], out=by_dah[:, :, 0])
        np.copyto(by_dah[:, :, 1], r)
        if any(g_hit[start:end]):
            deriv *= ggates[:, start:end].swapaxes(0, 1)
        dz_all = dz_buffer[:m]
        for s in range(end - 1, start - 1, -1):
            j = s - start
            if h_hit[s]:
                dh += ghs[:, s]
            if mask is not None:
                # a masked step passes the state cotangent straight to the previous step
                np.multiply(dh, dropped[s], out=dh_kept)
                dh *= keep[s]
            blocks = dz_all[j]
            np.multiply(dh_row, by_dh[j], out=blocks[:, :2])
            if g_hit[s]:
                blocks[:, 0] += deriv[j, :, 2 * u:]
                blocks[:, 1] += deriv[j, :, :u]
            np.multiply(blocks[:, :1], by_dah[j], out=blocks[:, 2:])
            if g_hit[s]:
                blocks[:, 2] += deriv[j, :, u:2 * u]
            if a_hit[s]:
                blocks[:, 3] += gaux[:, s]
            _matmul_2d(blocks[:, 1:].reshape(b, w), kernel_t, out=tmp)
            dh *= z[j]
            dh += tmp
            if mask is not None:
                dh += dh_kept
        dzrh = dz_all[:, :, 1:].reshape(m, b, w)  # [dz, dr, dhuh]: a view, rows of stride 4u
        if start == 0:
            dkernel += h0.T @ dzrh[0]
            if m > 1:
                dkernel += hs[:end - 1].reshape(-1, u).T @ dzrh[1:].reshape(-1, w)
        else:
            dkernel += hs[start - 1:end - 1].reshape(-1, u).T @ dzrh.reshape(-1, w)
        dbias += dzrh.reshape(-1, w).sum(axis=0)
        where = slice(t - end, t - start) if go_backwards else slice(start, end)
        order = slice(None, None, -1) if go_backwards else slice(None)
        np.copyto(dxw[:, where, :2 * u],
                  dz_all[order, :, 1:3].reshape(m, b, 2 * u).swapaxes(0, 1))
        np.copyto(dxw[:, where, 2 * u:], dz_all[order, :, 0].swapaxes(0, 1))
    return dxw, dh, dkernel, dbias


def _gru_sequence_grad_stepwise(h0, kernel, hs, gates, aux, ghs, ggates, gaux, mask, *,
                                reset_after, go_backwards):
    """gru_sequence_grad one step at a time (reset before the recurrent matmul needs a
    second GEMM per step that depends on the first)."""
    b, t, u = hs.shape
    w = 3 * u
    dt = hs.dtype
    zr = gates[:, :, :2 * u]
    d_zr = zr * (1 - zr)
    hh_all = gates[:, :, 2 * u:]
    d_hh = 1 - hh_all * hh_all
    keep = None if mask is None else (mask != 0)
    h_prev_all = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)
    dz_all = np.empty((b, t, w), dt)
    if reset_after:
        dhuh_all = np.empty((b, t, u), dt)
        kernel_t = np.ascontiguousarray(kernel.T)
    else:
        kzr_t = np.ascontiguousarray(kernel[:, :2 * u].T)
        kh_t = np.ascontiguousarray(kernel[:, 2 * u:].T)
    dh = np.zeros((b, u), dt)
    dgate = np.empty((b, w), dt)
    for s in range(t - 1, -1, -1):
        dh = dh + ghs[:, s]
        if keep is not None:
            m = keep[:, _rnn_time_index(s, t, go_backwards)][:, None]
            dh_keep = np.where(m, 0, dh)
            dh = np.where(m, dh, 0)
        z = gates[:, s, :u]
        r = gates[:, s, u:2 * u]
        hh = hh_all[:, s]
        h_prev = h_prev_all[:, s]
        np.multiply(dh, h_prev - hh, out=dgate[:, :u])
        np.multiply(dh, 1 - z, out=dgate[:, 2 * u:])
        dgate[:, 2 * u:] += ggates[:, s, 2 * u:]
        dgate[:, 2 * u:] *= d_hh[:, s]
        dah = dgate[:, 2 * u:]
        dh_prev = dh * z
        if reset_after:
            np.multiply(dah, aux[:, s], out=dgate[:, u:2 * u])
            dhuh = dah * r
            dhuh += gaux[:, s]
            dhuh_all[:, s] = dhuh
        else:
            drh = dah @ kh_t
            drh += gaux[:, s]
            np.multiply(drh, h_prev, out=dgate[:, u:2 * u])
            dh_prev += drh * r
        dgate[:, :2 * u] += ggates[:, s, :2 * u]
        dgate[:, :2 * u] *= d_zr[:, s]
        dz_all[:, s] = dgate
        if reset_after:
            dh_prev += dgate[:, :2 * u] @ kernel_t[:2 * u]
            dh_prev += dhuh @ kernel_t[2 * u:]
        else:
            dh_prev += dgate[:, :2 * u] @ kzr_t
        if keep is not None:
            dh_prev += dh_keep
        dh = dh_prev
    h_prev_flat = h_prev_all.reshape(-1, u)
    dkernel = np.empty(kernel.shape, dt)
    dkernel[:, :2 * u] = h_prev_flat.T @ dz_all[:, :, :2 * u].reshape(-1, 2 * u)
    dbias = np.zeros(w, dt)
    if reset_after:
        dkernel[:, 2 * u:] = h_prev_flat.T @ dhuh_all.reshape(-1, u)
        dbias[:2 * u] = dz_all[:, :, :2 * u].sum(axis=(0, 1))
        dbias[2 * u:] = dhuh_all.sum(axis=(0, 1))
    else:
        dkernel[:, 2 * u:] = aux.reshape(-1, u).T @ dz_all[:, :, 2 * u:].reshape(-1, u)
    dxw = np.ascontiguousarray(dz_all[:, ::-1]) if go_backwards else dz_all
    return dxw, dh, dkernel, dbias


# ---- image (helper)
def _image_map_coord(coord, size, fill_mode):
    """TensorFlow's MapCoordinate for each fill mode, on float sample positions."""
    if fill_mode == "constant":
        return coord
    if size <= 1:
        return np.zeros_like(coord)
    coord = coord.copy()
    # Both masks from the original positions: TensorFlow's branches are if / else-if.
    low, high = coord < 0, coord > size - 1
    if fill_mode == "reflect":
        size2 = 2 * size
        c = coord[low]
        c = size2 * np.trunc(-c / size2) + c
        coord[low] = np.where(c < -size, c + size2, -c - 1)
        c = coord[high]
        c = c - size2 * np.trunc(c / size2)
        coord[high] = np.where(c >= size, size2 - c - 1, c)
    elif fill_mode == "wrap":
        span = size - 1
        coord[low] += size * (np.trunc(-coord[low] / span) + 1)
        coord[high] -= size * np.trunc(coord[high] / span)
    return np.clip(coord, 0, size - 1)


def _image_affine_taps(shape, transforms, interpolation, fill_mode):
    """(rows, cols, weights, valid) of every tap: arrays [taps, batch, height, width]."""
    batch, height, width = shape[0], shape[1], shape[2]
    dtype = transforms.dtype
    t = np.broadcast_to(transforms, (batch, 8)).astype(dtype)
    ys, xs = np.meshgrid(np.arange(height, dtype=dtype), np.arange(width, dtype=dtype),
                         indexing="ij")
    p = [t[:, i][:, None, None] for i in range(8)]
    projection = p[6] * xs + p[7] * ys + dtype.type(1)
    safe = np.where(projection == 0, dtype.type(1), projection)
    in_x = (p[0] * xs + p[1] * ys + p[2]) / safe
    in_y = (p[3] * xs + p[4] * ys + p[5]) / safe
    x = _image_map_coord(in_x, width, fill_mode)
    y = _image_map_coord(in_y, height, fill_mode)
    usable = np.broadcast_to(projection != 0, x.shape)
    if interpolation == "nearest":
        # std::round: halves away from zero.
        rows = [np.sign(y) * np.floor(np.abs(y) + 0.5)]
        cols = [np.sign(x) * np.floor(np.abs(x) + 0.5)]
        weights = [np.ones_like(x)]
    else:
        y0, x0 = np.floor(y), np.floor(x)
        y1, x1 = y0 + 1, x0 + 1
        rows = [y0, y0, y1, y1]
        cols = [x0, x1, x0, x1]
        weights = [(y1 - y) * (x1 - x), (y1 - y) * (x - x0), (y - y0) * (x1 - x),
                   (y - y0) * (x - x0)]
    rows, cols, weights = np.stack(rows), np.stack(cols), np.stack(weights)
    valid = (rows >= 0) & (rows <= height - 1) & (cols >= 0) & (cols <= width - 1) & usable
    rows = np.clip(rows, 0, height - 1).astype(np.intp)
    cols = np.clip(cols, 0, width - 1).astype(np.intp)
    return rows, cols, weights.astype(dtype), valid, usable


def image_affine_transform(images, transforms, interpolation, fill_mode, fill_value):
    batch = images.shape[0]
    rows, cols, weights, valid, usable = _image_affine_taps(
        images.shape, transforms, interpolation, fill_mode)
    b = np.arange(batch)[None, :, None, None]
    fill = images.dtype.type(fill_value)
    values = np.where(valid[..., None], images[b, rows, cols], fill)
    if interpolation == "nearest":
        out = values[0]
    else:
        # TensorFlow's order: lerp along x in each row, then along y.
        w = weights[..., None]
        top = w[0] * values[0] + w[1] * values[1]
        bottom = w[2] * values[2] + w[3] * values[3]
        out = top + bottom
    out = np.where(usable[..., None], out, fill)
    return out.astype(images.dtype, copy=False)


def image_affine_transform_grad(cotangent, transforms, height, width, interpolation,
                                fill_mode):
    batch, channels = cotangent.shape[0], cotangent.shape[3]
    shape = (batch, height, width, channels)
    rows, cols, weights, valid, _ = _image_affine_taps(
        shape, transforms, interpolation, fill_mode)
    out = np.zeros(shape, dtype=cotangent.dtype)
    b = np.broadcast_to(np.arange(batch)[None, :, None, None], rows.shape)
    contributions = np.where(valid[..., None], weights[..., None] * cotangent[None], 0)
    np.add.at(out, (b, rows, cols), contributions)
    return out


# ---- strings (helper)
def _bytes_of(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _string_map(x, fn):
    out = np.empty(np.shape(x), dtype=object)
    flat_in, flat_out = np.asarray(x, dtype=object).reshape(-1), out.reshape(-1)
    for i, value in enumerate(flat_in):
        flat_out[i] = fn(_bytes_of(value))
    return out


def string_case(x, upper):
    return _string_map(x, bytes.upper if upper else bytes.lower)


def string_regex_replace(x, pattern, rewrite, replace_global):
    import re

    compiled = re.compile(pattern)
    count = 0 if replace_global else 1
    return _string_map(x, lambda s: compiled.sub(rewrite, s, count=count))


def _padded_rows(rows, leading_shape):
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), b"", dtype=object)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    return out.reshape(leading_shape + (width,)), lengths.reshape(leading_shape)


def string_split(x, sep, maxsplit):
    flat = np.asarray(x, dtype=object).reshape(-1)
    # (Python's split gives TF's tokens: none for "" split on whitespace, one empty token for
    # "" split on a separator)
    rows = [_bytes_of(s).split(sep, maxsplit) for s in flat]
    return _padded_rows(rows, np.shape(x))


def string_ngrams(tokens, lengths, widths, separator):
    tokens = np.asarray(tokens, dtype=object)
    leading = tokens.shape[:-1]
    flat = tokens.reshape(-1, tokens.shape[-1]) if tokens.size else \
        np.empty((int(np.prod(leading)), 0), dtype=object)
    rows = []
    for row, length in zip(flat, np.asarray(lengths).reshape(-1)):
        row = [_bytes_of(t) for t in row[:int(length)]]
        grams = []
        for width in widths:
            grams.extend(separator.join(row[i:i + width]) for i in range(len(row) - width + 1))
        rows.append(grams)
    return _padded_rows(rows, leading)


def lookup_index(x, keys):
    keys = np.asarray(keys)
    if keys.dtype == object:
        table = {_bytes_of(k): i for i, k in enumerate(keys.tolist())}
        flat = [table.get(_bytes_of(v), -1) for v in np.asarray(x, dtype=object).reshape(-1)]
    else:
        table = {k: i for i, k in enumerate(keys.tolist())}
        flat = [table.get(v, -1) for v in np.asarray(x).reshape(-1).tolist()]
    return np.array(flat, dtype=np.int64).reshape(np.shape(x))


# ---------------------------------------------------------------- the native step

def native_runner(plan, out_slots):
    """The plan as one Numba-compiled call (jit_compile=True; numpy_native), or None with
    plan.native_reason saying why it keeps the generated NumPy runner."""
    from tensorflux.backends import numpy_native

    return numpy_native.compile_runner(plan, out_slots)


def native_segments(plan, program, plain, live, out_slots):
    """Under jit_compile, for a plan native_runner does not compile whole: its runs of small
    steps, each compiled as one native call (numpy_native.compile_segments)."""
    from tensorflux.backends import numpy_native

    return numpy_native.compile_segments(plan, program, plain, live, out_slots)


# ---- linalg decompositions and parameterized random draws (helper)
# NumPy's (or, re-bound, CuPy's) numpy.linalg on stacks of matrices; the random kernels draw
# from the same per-seed Philox generator as the random kernels above.

def _broadcast_batch(matrix, rhs):
    """matrix [..., M, M] and rhs [..., M, K] with their batch dims broadcast together."""
    a_batch, b_batch = matrix.shape[:-2], rhs.shape[:-2]
    width = max(len(a_batch), len(b_batch))
    a_batch = (1,) * (width - len(a_batch)) + a_batch
    b_batch = (1,) * (width - len(b_batch)) + b_batch
    batch = tuple(a if b == 1 else b for a, b in zip(a_batch, b_batch))
    return (np.broadcast_to(matrix, batch + matrix.shape[-2:]),
            np.broadcast_to(rhs, batch + rhs.shape[-2:]))


def _adjoint(x):
    return np.conj(np.swapaxes(x, -1, -2))


@_quiet
def matrix_solve(matrix, rhs, adjoint):
    matrix, rhs = _broadcast_batch(matrix, rhs)
    if adjoint:
        matrix = _adjoint(matrix)
    return np.asarray(np.linalg.solve(matrix, rhs), dtype=rhs.dtype)


@_quiet
def matrix_triangular_solve(matrix, rhs, lower, adjoint):
    size = matrix.shape[-1]
    keep = np.tri(size, size, dtype=bool)
    triangle = np.where(keep if lower else keep.T, matrix, np.zeros((), matrix.dtype))
    triangle, rhs = _broadcast_batch(triangle, rhs)
    if adjoint:
        triangle = _adjoint(triangle)
    return np.asarray(np.linalg.solve(triangle, rhs), dtype=rhs.dtype)


@_quiet
def cholesky(x):
    return np.asarray(np.linalg.cholesky(x), dtype=x.dtype)


@_quiet
def log_matrix_determinant(x):
    sign, logabs = np.linalg.slogdet(x)
    return np.asarray(sign, dtype=x.dtype), np.asarray(logabs, dtype=x.real.dtype)


@_quiet
def self_adjoint_eig(x, compute_v):
    if not compute_v:
        return (np.ascontiguousarray(np.linalg.eigvalsh(x)),)
    values, vectors = np.linalg.eigh(x)
    return np.ascontiguousarray(values), np.ascontiguousarray(vectors)


@_quiet
def eig(x, compute_v):
    # NumPy gives real results when every eigenvalue is real; TF's are always complex.
    complex_type = np.complex64 if x.dtype in (np.float32, np.complex64) else np.complex128
    if not compute_v:
        return (np.linalg.eigvals(x).astype(complex_type),)
    values, vectors = np.linalg.eig(x)
    return values.astype(complex_type), vectors.astype(complex_type)


@_quiet
def svd(x, full_matrices, compute_uv):
    if not compute_uv:
        return (np.ascontiguousarray(np.linalg.svd(x, compute_uv=False)),)
    u, s, vh = np.linalg.svd(x, full_matrices=full_matrices)
    return (np.ascontiguousarray(s), np.ascontiguousarray(u),
            np.ascontiguousarray(_adjoint(vh)))


@_quiet
def qr(x, full_matrices):
    q, r = np.linalg.qr(x, mode="complete" if full_matrices else "reduced")
    return np.ascontiguousarray(q), np.ascontiguousarray(r)


def _draw_params(params, shape):
    """Each parameter as float64 broadcast to shape + (their broadcast shape)."""
    full = tuple(shape) + np.broadcast_shapes(*(np.shape(p) for p in params))
    return [np.broadcast_to(np.asarray(p, dtype=np.float64), full) for p in params]


def random_gamma(alpha, *seed_input, shape, dtype, seed):
    (alpha,) = _draw_params([alpha], shape)
    valid = alpha > 0
    out = _philox(seed_input, seed).standard_gamma(np.where(valid, alpha, 1.0))
    # NaN for a non-positive concentration, as TensorFlow's kernel.
    return np.where(valid, out, np.nan).astype(native_dtype(dtype))


def random_poisson(lam, *seed_input, shape, dtype, seed):
    (lam,) = _draw_params([lam], shape)
    valid = lam >= 0
    # (asarray: a draw of shape () comes back as a Python number)
    out = np.asarray(_philox(seed_input, seed).poisson(np.where(valid, lam, 0.0)))
    native = native_dtype(dtype)
    if native.kind == "f":
        return np.where(valid, out, np.nan).astype(native)
    return out.astype(native)


def random_binomial(counts, probs, *seed_input, shape, dtype, seed):
    counts = np.broadcast_to(np.asarray(counts, dtype=np.float64), tuple(shape))
    probs = np.broadcast_to(np.asarray(probs, dtype=np.float64), tuple(shape))
    out = np.asarray(_philox(seed_input, seed).binomial(np.floor(counts).astype(np.int64),
                                                        np.clip(probs, 0.0, 1.0)))
    return out.astype(native_dtype(dtype))


# Kernels kept in modules of their own (CTC, FFTs, special functions, image boxes) load on
# first use: a kernel this module does not define is one of theirs.
_KERNEL_MODULES = ("numpy_ctc", "numpy_fft", "numpy_special", "numpy_image")


def __getattr__(name):
    import importlib

    from tensorflux.backends import KERNELS

    if name in KERNELS:
        for module_name in _KERNEL_MODULES:
            module = importlib.import_module(f"tensorflux.backends.{module_name}")
            if name in module.__all__:
                kernel = globals()[name] = getattr(module, name)
                return kernel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The kernels that are one NumPy ufunc, and relu6 (elementwise, taking out= as they do), by
# name (see specialize).
_UFUNC_KERNELS = {name: kernel for name, kernel in list(globals().items())
                  if isinstance(kernel, np.ufunc) and not name.startswith("_")}
_UFUNC_KERNELS["relu6"] = relu6
