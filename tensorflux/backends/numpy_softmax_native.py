"""Softmax and its gradient along the last axis of float32 rows, as native code via llvmlite.

The kernels run over (rows, n) arrays, compiled to machine code through llvmlite (the `jit`
extra) by numpy_llvm, as numpy_norm_native's batch norm passes are.

Why: numpy_backend's softmax and softmax_grad take a ufunc call per step over each cache-sized
block of rows (softmax: six halving maxima, a difference, exp, a sum, a quotient; the gradient
seven steps), and for MultiHeadAttention's (32, 4, 64, 64) scores those calls are most of
the time: the two took 15% of block_workloads' Transformer training step. Here each row is
read from memory once, its steps done while it is in cache, in vectors of the CPU's width:
on one thread (a loaded machine), softmax 3.1 -> 1.3 ms, its gradient 2.4 -> 0.7 ms.

Numerics: the NumPy kernels' bits, step for step. The maximum is exact (a NaN anywhere makes it
NaN, as np.maximum's does; the sign of a zero maximum cannot change x - max's exp). exp is
NumPy's own float32 exp for AVX-512 (numpy/_core/src/umath/loops_exponent_log.dispatch.c.src,
simd_exp_FLOAT: the same clamps, Cody-Waite reduction, rational polynomial with FMAs and
vscalefps), and softmax is compiled only where that is the exp NumPy runs: on AVX-512, and
after a probe of exp's range gives np.exp's bits in this process (see exp_matches). Sums
are np.add.reduce's over a contiguous row: 0 + the pairwise sum of loops_utils.h.src
(sequential from -0.0 below 8 terms, 8 accumulators up to 128, halves at a multiple of 8
above). Products, differences and quotients are single IEEE operations, never contracted
(LLVM forms no FMA without fast-math flags, which are never set). Functions return None where
they do not apply (no llvmlite, not float32, not C-contiguous, empty rows; softmax also off
AVX-512), and the caller runs its NumPy path. Unlike NumPy's ufuncs, the kernels set no
floating-point status flags, so NaN-making inputs raise no RuntimeWarning.
"""

import threading

import numpy as np

from tensorflux.backends import numpy_llvm
from tensorflux.backends.numpy_llvm import RowBuilder

__all__ = ["exp_ir", "exp_matches", "softmax", "softmax_grad"]

# NumPy's float32 exp constants (npy_simd_data.h and simd_exp_FLOAT), as float32 bit patterns.
_EXP = {name: float(np.uint32(bits).view(np.float32)) for name, bits in {
    "xmax": 0x42B17218, "xmin": 0xC2CFF1B5, "log2e": 0x3FB8AA3B, "magic": 0x4B400000,
    "c1": 0xBF317200, "c2": 0xB5BFBE8E,
    "p0": 0x3F800000, "p1": 0x3F39CBD5, "p2": 0x3E7D4C58, "p3": 0x3D517D8C, "p4": 0x3BDD7159,
    "p5": 0x3A053DD8, "q0": 0x3F800000, "q1": 0xBE8C6857, "q2": 0x3CB0E832}.items()}

_POINTERS = {"softmax": ["x", "out"], "softmax_grad": ["g", "y", "out", "scratch"]}


class _Builder(RowBuilder):
    """A kernel over rows [row0, row1) of n float32 values, with the pairwise sum beside it."""

    def __init__(self, ir, module, kind):
        super().__init__(ir, module, kind, _POINTERS[kind], ["row0", "row1", "n"])


def exp_ir(k, x):
    """NumPy's simd_exp_FLOAT (AVX-512) on the vector x."""
    b, c = k.b, _EXP
    zero = k.zero
    nan = b.fcmp_unordered("uno", x, x)
    x = b.select(nan, zero, x)
    above = b.fcmp_ordered(">=", x, k.splat(c["xmax"]))
    below = b.fcmp_ordered("<=", x, k.splat(c["xmin"]))
    x = b.select(b.or_(b.or_(nan, below), above), zero, x)
    quadrant = b.fmul(x, k.splat(c["log2e"]))
    quadrant = b.fsub(b.fadd(quadrant, k.splat(c["magic"])), k.splat(c["magic"]))
    for factor in (k.splat(c["c1"]), k.splat(c["c2"]), zero):
        x = b.call(k.fma, [quadrant, factor, x])
    numerator = b.call(k.fma, [k.splat(c["p5"]), x, k.splat(c["p4"])])
    for term in ("p3", "p2", "p1", "p0"):
        numerator = b.call(k.fma, [numerator, x, k.splat(c[term])])
    denominator = b.call(k.fma, [k.splat(c["q2"]), x, k.splat(c["q1"])])
    denominator = b.call(k.fma, [denominator, x, k.splat(c["q0"])])
    poly = b.fdiv(numerator, denominator)
    scalef = k.module_function(
        "llvm.x86.avx512.mask.scalef.ps.512",
        [k.vector, k.vector, k.vector, k.ir.IntType(16), k.ir.IntType(32)], k.vector)
    poly = b.call(scalef, [poly, quadrant, k.ir.Constant(k.vector, k.ir.Undefined),
                           k.ir.Constant(k.ir.IntType(16), -1),
                           k.ir.Constant(k.ir.IntType(32), 4)])  # _MM_FROUND_CUR_DIRECTION
    poly = b.select(nan, k.splat(float("nan")), poly)
    poly = b.select(above, k.splat(float("inf")), poly)
    return b.select(below, zero, poly)


def _softmax_ir(k):
    """softmax(x, out, row0, row1, n): out = exp(x - max) / sum(exp(x - max)) per row."""
    x, out = k.pointers
    b = k.b
    i32 = k.ir.IntType(32)
    with b.goto_block(k.entry):
        peak, scalar_peak = b.alloca(k.vector), b.alloca(k.float)
        nans = b.alloca(k.ir.VectorType(k.ir.IntType(1), k.width))
        scalar_nan, tail = b.alloca(k.ir.IntType(1)), b.alloca(k.vector)

    def larger(m, v):
        return b.select(b.fcmp_ordered(">", v, m), v, m)

    def row(r):
        start = b.mul(r, k.n)
        b.store(k.splat(float("-inf")), peak)
        b.store(k.ir.Constant(k.float, float("-inf")), scalar_peak)
        b.store(k.ir.Constant(nans.type.pointee, [0] * k.width), nans)
        b.store(k.ir.Constant(k.ir.IntType(1), 0), scalar_nan)

        def vector_peak(at):
            v = k.load_vector(x, at)
            b.store(b.or_(b.load(nans), b.fcmp_unordered("uno", v, v)), nans)
            b.store(larger(b.load(peak), v), peak)

        def scalar_peak_of(at):
            v = b.load(k.element(x, at))
            b.store(b.or_(b.load(scalar_nan), b.fcmp_unordered("uno", v, v)), scalar_nan)
            b.store(larger(b.load(scalar_peak), v), scalar_peak)
        k.each(start, vector_peak, scalar_peak_of)
        m, nan = b.load(scalar_peak), b.load(scalar_nan)
        lanes, flags = b.load(peak), b.load(nans)
        for lane in range(k.width):
            m = larger(m, b.extract_element(lanes, k.ir.Constant(i32, lane)))
            nan = b.or_(nan, b.extract_element(flags, k.ir.Constant(i32, lane)))
        m = b.select(nan, k.ir.Constant(k.float, float("nan")), m)
        shift = k.splat(m)

        def vector_exp(at):
            k.store_vector(exp_ir(k, b.fsub(k.load_vector(x, at), shift)), out, at)

        def gather(at):  # the last n % width differences into lanes of one vector
            lane = b.trunc(b.srem(b.sub(at, start), k.const(k.width)), i32)
            value = b.fsub(b.load(k.element(x, at)), m)
            b.store(b.insert_element(b.load(tail), value, lane), tail)
        b.store(k.zero, tail)
        whole = k.each(start, vector_exp, gather)
        # exp is elementwise, each lane's bits its own: the tail's exps in one vector
        b.store(exp_ir(k, b.load(tail)), tail)

        def scatter(j):
            lane = b.trunc(b.srem(j, k.const(k.width)), i32)
            b.store(b.extract_element(b.load(tail), lane),
                    k.element(out, b.add(start, j)))
        k.loop(whole, k.n, scatter)
        k.elementwise(start, b.fdiv, [out, out], k.row_sum(out, start))
    k.loop(k.row0, k.row1, row)


def _softmax_grad_ir(k):
    """softmax_grad(g, y, out, scratch, row0, row1, n): per row, residual = g - sum(g * y),
    then y * (residual - sum(residual * y)), with scratch (n values) for the products."""
    g, y, out, scratch = k.pointers
    b = k.b
    nothing = k.ir.Constant(k.float, 0.0)

    def row(r):
        start = b.mul(r, k.n)
        products = b.gep(scratch, [b.sub(k.const(0), start)])  # scratch[at - start]
        k.elementwise(start, lambda a, c, _: b.fmul(a, c), [g, y, products], nothing)
        k.elementwise(start, b.fsub, [g, out], k.row_sum(scratch, k.const(0)))
        k.elementwise(start, lambda a, c, _: b.fmul(a, c), [out, y, products], nothing)
        k.elementwise(start, lambda a, c, total: b.fmul(c, b.fsub(a, total)), [out, y, out],
                      k.row_sum(scratch, k.const(0)))
    k.loop(k.row0, k.row1, row)


def _kernel(kind):
    build = {"softmax": _softmax_ir, "softmax_grad": _softmax_grad_ir}[kind]

    def fill(ir, module):
        k = _Builder(ir, module, kind)
        build(k)
        k.b.ret_void()
    return numpy_llvm.compiled((__name__, kind), kind, fill, len(_POINTERS[kind]), 3)


_probe_lock = threading.Lock()
_probed = None  # whether the native exp gives np.exp's bits here, once known


def exp_matches():
    """Whether softmax's native exp gives this NumPy's np.exp bits: on AVX-512 only (where
    NumPy runs the AVX-512 simd_exp_FLOAT), and on a probe of every range exp treats apart
    (below xmin, subnormal results, the polynomial's, -inf, NaN), once per process: rows
    [v, 0], whose maximum is 0, so that the first value is exp(v) / (exp(v) + 1) by both."""
    global _probed
    if _probed is None:
        with _probe_lock:
            if _probed is None:
                _probed = (numpy_llvm.available() and numpy_llvm.lanes(np.float32) == 16
                           and _probe())
    return _probed


def _probe():
    rng = np.random.default_rng(0)
    values = np.concatenate([
        -np.geomspace(1e-30, 120.0, 20000, dtype=np.float32),
        rng.uniform(-104.5, 0.0, 20000).astype(np.float32),
        np.array([-np.inf, np.nan, -0.0, 0.0, _EXP["xmin"], np.nextafter(
            np.float32(_EXP["xmin"]), np.float32(0))], np.float32)])
    rows = np.stack([values, np.zeros_like(values)], axis=1)
    out = np.empty_like(rows)
    _kernel("softmax")(rows.ctypes.data, out.ctypes.data, 0, rows.shape[0], 2)
    with np.errstate(invalid="ignore"):  # (the NaN and -inf rows)
        e = np.exp(rows - np.maximum(rows[:, :1], rows[:, 1:]))
        expected = e / np.add.reduce(e, axis=-1, keepdims=True)
    return bool(np.array_equal(out.view(np.uint32), expected.view(np.uint32)))


def softmax(x, out):
    """A function run(row0, row1) writing into out the softmax of x's rows [row0, row1)
    along the last axis, NumPy's bits; None where the kernel does not apply."""
    if not (numpy_llvm.float32_rows(x, out) and exp_matches()):
        return None
    function, n, pointers = _kernel("softmax"), x.shape[1], (x.ctypes.data, out.ctypes.data)

    def run(row0, row1, _held=(x, out)):
        function(*pointers, row0, row1, n)
    return run


def softmax_grad(g, y, out):
    """A function run(row0, row1) writing into out softmax's VJP for the cotangent rows g
    and output rows y [row0, row1), NumPy's bits; None where the kernel does not apply."""
    if not numpy_llvm.float32_rows(g, y, out):
        return None
    function, n = _kernel("softmax_grad"), y.shape[1]
    pointers = (g.ctypes.data, y.ctypes.data, out.ctypes.data)

    def run(row0, row1, _held=(g, y, out)):
        scratch = np.empty(n, np.float32)
        function(*pointers, scratch.ctypes.data, row0, row1, n)
    return run
