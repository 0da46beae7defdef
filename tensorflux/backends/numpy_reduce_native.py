"""Native spatial-mean kernels for the NumPy backend: reduce_mean over the height and width
of an NHWC image (GlobalAveragePooling2D, EfficientNet's squeeze-and-excitation squeeze,
every classifier head), compiled through llvmlite with numpy_llvm's code generator.

Why: NumPy's reduction over axes (1, 2) with the channels kept makes one call of its add
loop per pixel, c values long, writing the running sums back each time; for the squeezes of
EfficientNetB0 (c of 32 to 1152) the calls cost more than the arithmetic. The kernel reads
each image once, a block of channel vectors at a time held in registers down the pixels.

Numerics: NumPy's own order, so the same bits. For a C-contiguous (n, h, w, c) array with
c > 1, np.add.reduce over axes (1, 2) keeps the channel axis innermost: each sum is
sequential over the h * w pixels in row-major order, starting from +0.0 (the identity of
add: a sum of -0.0s is +0.0), not pairwise (NumPy sums pairwise only along the innermost
axis, which is the channels' here; with c == 1 it is the pixels', so that case is left to
NumPy). The mean then divides by the pixel count as the dtype (a division, not a product
with its reciprocal: the two differ in about one of five results). (The gradient needs
no kernel: ops.reduction divides the cotangent by the count before broadcasting it, a
view.) The function returns None where it does not apply, and the caller runs its NumPy path.
"""

import numpy as np

from tensorflux.backends import numpy_llvm
from tensorflux.backends.numpy_llvm import VectorBuilder

__all__ = ["SPLIT_BYTES", "spatial_mean_images"]

# The kernel runs on one thread below this many bytes of input, else in pieces over the
# backend's threads: they go at memory speed, and below it a worker's wake-up costs more than
# a second core gains (ms on one thread / two, this project's two busy cores: (8, 7, 7,
# 1152) 0.024 / 0.065, (8, 14, 14, 672) 0.148 / 0.162, (8, 28, 28, 240) 0.209 / 0.197,
# (32, 32, 32, 64) 0.290 / 0.247, (8, 112, 112, 32) 0.439 / 0.330).
SPLIT_BYTES = 8 << 20

# Integer arguments of the kernel: images [image0, image1), pixels per image, channels.
_INTEGERS = ["image0", "image1", "hw", "c"]


def _block(f):
    """Channel vectors taken at once down an image's pixels: half the vector registers
    (8 of AVX-512's 32, 4 of AVX2's 16)."""
    return 8 if numpy_llvm.lanes(np.float32) == 16 else 4


def _channels(f, c, body, scalars):
    """body(channel0, vectors) over the channels in blocks of _block(f) vectors, then one
    block of the vectors left (a pass for each count that may be), then scalars(channel0)
    over the last c % width channels (where there are any)."""
    width = f.width
    most = _block(f)
    b = f.b
    vectors = b.sdiv(c, f.const(width))
    whole = b.mul(b.sdiv(vectors, f.const(most)), f.const(most * width))
    f.loop(f.const(0), whole, lambda k: body(k, most), step=most * width)
    left = b.srem(vectors, f.const(most))
    for count in range(1, most):
        with b.if_then(b.icmp_signed("==", left, f.const(count))):
            body(whole, count)
    tail = b.mul(vectors, f.const(width))
    with b.if_then(b.icmp_signed("<", tail, c)):
        scalars(tail)


def _mean_ir(ir, module, dtype):
    """spatial_mean(x, out, *_INTEGERS): out[i, k] = (0 + x[i, 0, k] + x[i, 1, k] + ...) /
    hw for images i in [image0, image1), x (n, hw, c) and out (n, c) C-contiguous."""
    f = VectorBuilder(ir, module, "spatial_mean", dtype, ["x", "out"], _INTEGERS)
    a, b = f.args, f.b
    c, hw = a["c"], a["hw"]
    count = b.sitofp(hw, f.float)
    wide_count = f.splat(count)
    acc = f.accumulators(1, _block(f))[0]

    def image(i):
        x_image = f.mul(i, hw, c)
        out_row = f.mul(i, c)

        def vectors(channel0, count_vectors):
            for v in range(count_vectors):
                b.store(f.zero, acc[v])

            def pixel(k):
                at = f.add(x_image, f.mul(k, c), channel0)
                for v in range(count_vectors):
                    value = f.load_vector(a["x"], f.add(at, f.const(v * f.width)))
                    b.store(b.fadd(b.load(acc[v]), value), acc[v])
            f.loop(f.const(0), hw, pixel)
            for v in range(count_vectors):
                f.store_vector(b.fdiv(b.load(acc[v]), wide_count), a["out"],
                               f.add(out_row, channel0, f.const(v * f.width)))

        def scalars(channel0):
            # The last c % width sums in `out` itself, in one pass down the pixels.
            zero = ir.Constant(f.float, 0.0)
            f.loop(channel0, c, lambda k: b.store(zero, b.gep(a["out"], [f.add(out_row, k)])))

            def pixel(p):
                at = f.add(x_image, f.mul(p, c))

                def channel(k):
                    into = b.gep(a["out"], [f.add(out_row, k)])
                    b.store(b.fadd(b.load(into), b.load(b.gep(a["x"], [f.add(at, k)]))), into)
                f.loop(channel0, c, channel)
            f.loop(f.const(0), hw, pixel)

            def divide(k):
                into = b.gep(a["out"], [f.add(out_row, k)])
                b.store(b.fdiv(b.load(into), count), into)
            f.loop(channel0, c, divide)
        _channels(f, c, vectors, scalars)
    f.loop(a["image0"], a["image1"], image)
    b.ret_void()


def _kernel(kind, dtype):
    """The compiled function for (kind, dtype), made on first use."""
    build = {"spatial_mean": _mean_ir}[kind]
    return numpy_llvm.compiled(
        (__name__, kind, np.dtype(dtype).str), kind,
        lambda ir, module: build(ir, module, np.dtype(dtype)), 2, len(_INTEGERS))


def _usable(x):
    return (type(x) is np.ndarray and x.dtype in (np.float32, np.float64) and x.ndim == 4
            and x.flags.c_contiguous and x.size and x.shape[3] > 1 and x.shape[1] * x.shape[2]
            < 1 << 24 and numpy_llvm.available())


def spatial_mean_images(x, out):
    """A function run(image0, image1) writing into `out` ((n, c) or (n, 1, 1, c), x's
    dtype, C-contiguous) the means over the height and width of the images
    [image0, image1) of the NHWC array x, as np.mean(x, axis=(1, 2)) gives them bit for
    bit; None where the kernel does not apply (not a C-contiguous float32 or float64
    ndarray of rank 4, no elements, one channel, or 2**24 pixels or more, where a float32
    count is inexact)."""
    if not _usable(x):
        return None
    n, h, w, c = x.shape
    if not (type(out) is np.ndarray and out.dtype == x.dtype and out.flags.c_contiguous
            and out.shape in ((n, c), (n, 1, 1, c))):
        return None
    function = _kernel("spatial_mean", x.dtype)
    arrays = (x, out)  # (held by run: the kernel reads them by address)
    pointers = (x.ctypes.data, out.ctypes.data)

    def run(image0, image1, _held=arrays):
        function(*pointers, image0, image1, h * w, c)
    return run
