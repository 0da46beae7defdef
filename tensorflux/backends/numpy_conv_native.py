"""Direct convolution kernels for the NumPy backend, compiled to machine code through llvmlite
(Numba's code generator, installed with the `jit` extra): conv2d and its filter gradient
over NHWC float32/float64 arrays with output channels in whole vector registers (the input
gradient is a conv2d of the cotangent: numpy_backend runs it here, by stride phases where the
stride is above 1).

Why: im2col + one GEMM hands OpenBLAS a product with few columns (the output channels: 32 or
64 in most convolutional networks) and very many rows, which it runs at a third of its
square-matrix rate after copying every window first. These kernels read the input in place,
padding included (the taps that fall in the padding are skipped, not read from a padded
copy: an input gradient's full padding holds a third of its taps on 11x11 maps), and keep a
block of output pixels x output channels in vector registers (14 pixels x 32 float32
channels on AVX-512) while they run over the filter's taps and input channels:
each filter vector loaded serves 14 pixels, each input value broadcast serves every channel
vector. This is the loop nest oneDNN's direct convolutions use; a (64, 32, 32, 32) * 3x3x32
convolution takes 3.9 ms instead of 10.2 (PyTorch's oneDNN: 3.1-3.9 ms) on this project's
2-core AVX-512 machine.

Numerics: every output is a chain of fused multiply-adds over (kh, kw, c) in that order, as
OpenBLAS's GEMM kernels run a dot product, less the padding's zero terms (the same bits as
with them, but for an infinite or NaN factor, which adds NaN against a zero and nothing
here); the filter gradient sums its pixels in order within fixed pieces of the batch, then
the pieces in order (the same bits on any thread count). Each function returns None where
it does not apply (no llvmlite, a CPU without AVX2 and FMA, another dtype or array type,
output channels not a multiple of the vector width), and the caller runs its NumPy path.

The generated code is a loop nest per (dtype, register block, pixels of padding a block may
reach) in LLVM IR, specialised on nothing else; llvmlite compiles one in 0.07-0.4 s, once per
process.
"""

import numpy as np

from tensorflux.backends import numpy_llvm
from tensorflux.backends.numpy_llvm import VectorBuilder, available, blocking, lanes, registers

__all__ = ["conv2d_rows", "filter_grad_rows", "supports"]

# Pixels of padding a register block may start or end with and still skip their taps:
# (left + 1) * (right + 1) loops over the channels per block size, each compiled.
_EDGE = 3


_INTEGERS = ["row0", "row1", "ho", "wo", "c", "o", "kh", "kw", "sh", "sw", "dh", "dw", "hp",
             "wp", "pt", "pl", "out_image", "out_row", "out_pixel"]


def _conv_rows_ir(ir, module, dtype, pixels, pixel_tail, vectors, vector_tail, bias, relu,
                  left, right):
    """conv_rows(x, w, out, bias, *_INTEGERS): the output rows [row0, row1) of the batch (row r:
    image r // ho, output row r % ho), by blocks of `pixels` output pixels (`pixel_tail` in
    the last block of a row: wo % pixels) x `vectors` channel vectors (`vector_tail` in the
    last block: (o / width) % vectors), each summed over (kh, kw, c) in registers. The
    channel blocks are the outer loop, so that one block's filter values (kh * kw * c *
    vectors * width) are read from cache for every row of the range. Where `bias`, each
    output is its sum plus bias[channel], rounded; where `relu`, then the maximum with zero
    as NumPy's maximum(value, 0) takes it (a NaN stays NaN, -0.0 becomes 0.0).

    The input x (hp x wp pixels an image) is padded by pt rows above and pl columns to the
    left (and as far as the windows reach below and to the right) without being copied: a
    tap reads x[i * sh + kh * dh - pt, j * sw + kw * dw - pl] and is skipped where that lies
    outside x. Rows skip whole filter rows; a block of pixels that reaches past either side
    runs each filter column over the pixels it has inside x, of which there are at most
    `left` fewer at the block's start and `right` fewer at its end (each pair of those
    counts has its own loop, chosen by a switch): the sums keep their order and lose only
    the padding's zero terms."""
    f = VectorBuilder(ir, module, "conv_rows", dtype, ["x", "w", "out", "bias"], _INTEGERS)
    a = f.args
    acc = f.accumulators(pixels, vectors)
    pixel_stride = f.mul(a["sw"], a["c"])
    row_stride = f.mul(a["wp"], a["c"])
    channel_vectors = f.b.sdiv(a["o"], f.const(f.width))

    taps = f.mul(a["kh"], a["kw"], a["c"])

    def ceiling(value, divisor, most):
        """min(most, ceil(value / divisor)), and 0 where value <= 0."""
        rounded = f.b.sdiv(f.add(value, divisor, f.const(-1)), divisor)
        rounded = f.b.select(f.b.icmp_signed(">", value, f.const(0)), rounded, f.const(0))
        return f.b.select(f.b.icmp_signed("<", rounded, most), rounded, most)

    def finish(value, at):
        """The stored value of an output vector at offset `at` of out."""
        if bias:
            channel = f.b.srem(at, a["o"])
            value = f.b.fadd(value, f.load_vector(a["bias"], channel))
        if relu:
            keep = f.b.fcmp_unordered(">", value, f.zero)
            value = f.b.select(keep, value, f.zero)
        return value

    def channel_block(v0, nv):
        # (w is packed by channel blocks: see _packed)
        w_block = f.mul(v0, f.const(f.width), taps)
        out_block = f.mul(v0, f.const(f.width))
        w_step = f.const(nv * f.width)

        def row(r):
            image = f.b.sdiv(r, a["ho"])
            i = f.b.srem(r, a["ho"])
            top = f.b.sub(f.mul(i, a["sh"]), a["pt"])  # x's row for kh = 0
            kh_first = ceiling(f.b.sub(f.const(0), top), a["dh"], a["kh"])
            kh_stop = ceiling(f.b.sub(a["hp"], top), a["dh"], a["kh"])
            x_row = f.mul(f.add(f.mul(image, a["hp"]), top), row_stride)
            out_row = f.add(f.mul(image, a["out_image"]), f.mul(i, a["out_row"]))

            def pixel_block(j0, count):
                f.zero_all(acc, count, nv)
                first_col = f.b.sub(f.mul(j0, a["sw"]), a["pl"])
                x_block = f.add(x_row, f.mul(first_col, a["c"]))
                last_col = f.add(first_col, f.mul(f.const(count - 1), a["sw"]),
                                 f.mul(f.b.sub(a["kw"], f.const(1)), a["dw"]))
                inside = f.b.and_(f.b.icmp_signed(">=", first_col, f.const(0)),
                                  f.b.icmp_signed("<", last_col, a["wp"]))

                def channels(x_tap, w_tap, first, stop):
                    f.loop(f.const(0), a["c"], lambda ci: f.step(
                        acc, stop, nv, a["w"], f.add(w_tap, f.mul(ci, w_step)),
                        a["x"], f.add(x_tap, ci), pixel_stride, first))

                def taps_of(kh, kw):
                    x_tap = f.add(x_block, f.mul(kh, a["dh"], row_stride),
                                  f.mul(kw, a["dw"], a["c"]))
                    w_tap = f.add(w_block, f.mul(f.add(f.mul(kh, a["kw"]), kw), a["c"],
                                                 w_step))
                    return x_tap, w_tap

                def interior():
                    f.loop(kh_first, kh_stop, lambda kh: f.loop(
                        f.const(0), a["kw"], lambda kw: channels(*taps_of(kh, kw), 0, count)))

                def border():
                    def tap(kh, kw):
                        col = f.add(first_col, f.mul(kw, a["dw"]))
                        first = ceiling(f.b.sub(f.const(0), col), a["sw"], f.const(count))
                        stop = ceiling(f.b.sub(a["wp"], col), a["sw"], f.const(count))
                        # (first < stop: first <= left, stop >= count - right)
                        key = f.b.select(f.b.icmp_signed("<", first, stop),
                                         f.add(f.mul(first, f.const(count + 1)), stop),
                                         f.const(-1))
                        after = f.function.append_basic_block("tap_end")
                        switch = f.b.switch(key, after)
                        for lo in range(min(left, count - 1) + 1):
                            for hi in range(max(lo + 1, count - right), count + 1):
                                case = f.function.append_basic_block(f"tap_{lo}_{hi}")
                                switch.add_case(f.const(lo * (count + 1) + hi), case)
                                f.b.position_at_end(case)
                                channels(*taps_of(kh, kw), lo, hi)
                                f.b.branch(after)
                        f.b.position_at_end(after)
                    f.loop(kh_first, kh_stop, lambda kh: f.loop(
                        f.const(0), a["kw"], lambda kw: tap(kh, kw)))

                if left or right:
                    f.if_else(inside, interior, border)
                else:
                    interior()
                f.store_all(acc, count, nv, a["out"],
                            f.add(out_row, f.mul(j0, a["out_pixel"]), out_block),
                            a["out_pixel"], finish)
            f.blocks(a["wo"], pixels, pixel_tail, pixel_block)
        f.loop(a["row0"], a["row1"], row)
    f.blocks(channel_vectors, vectors, vector_tail, channel_block)
    f.b.ret_void()


def _filter_grad_ir(ir, module, dtype, pixels, channel_tail, vectors, vector_tail):
    """filter_grad(x, g, result, *_INTEGERS): result (kh, kw, c, o) = the sum over the output rows
    [row0, row1) of the batch and their wo pixels, in order, of each window's input values
    times the output cotangent g: blocks of `pixels` input channels x `vectors` output
    channel vectors in registers; c % pixels == channel_tail and (o / width) % vectors ==
    vector_tail. x is read as padded by pt rows above and pl columns to the left, as in
    _conv_rows_ir: the pixels whose input lies in the padding are skipped."""
    f = VectorBuilder(ir, module, "filter_grad", dtype, ["x", "g", "result", "unused"], _INTEGERS)
    a = f.args
    acc = f.accumulators(pixels, vectors)
    row_stride = f.mul(a["wp"], a["c"])
    channel_vectors = f.b.sdiv(a["o"], f.const(f.width))

    def ceiling(value, divisor, most):
        """min(most, ceil(value / divisor)), and 0 where value <= 0."""
        rounded = f.b.sdiv(f.add(value, divisor, f.const(-1)), divisor)
        rounded = f.b.select(f.b.icmp_signed(">", value, f.const(0)), rounded, f.const(0))
        return f.b.select(f.b.icmp_signed("<", rounded, most), rounded, most)

    def tap_row(kh):
        def tap(kw):
            tap_at = f.mul(f.add(f.mul(kh, a["kw"]), kw), a["c"], a["o"])
            # (the output pixels whose input for this tap lies inside x, not in the padding)
            col = f.b.sub(f.mul(kw, a["dw"]), a["pl"])
            j_first = ceiling(f.b.sub(f.const(0), col), a["sw"], a["wo"])
            j_stop = ceiling(f.b.sub(a["wp"], col), a["sw"], a["wo"])

            def channel_block(c0, nc):
                def out_block(v0, nv):
                    f.zero_all(acc, nc, nv)
                    g_block = f.mul(v0, f.const(f.width))

                    def row(r):
                        image = f.b.sdiv(r, a["ho"])
                        i = f.b.srem(r, a["ho"])
                        x_i = f.b.sub(f.add(f.mul(i, a["sh"]), f.mul(kh, a["dh"])), a["pt"])
                        inside = f.b.and_(f.b.icmp_signed(">=", x_i, f.const(0)),
                                          f.b.icmp_signed("<", x_i, a["hp"]))
                        x_row = f.mul(f.add(f.mul(image, a["hp"]), x_i), row_stride)
                        x_start = f.add(x_row, f.mul(col, a["c"]), c0)
                        g_row = f.add(f.mul(r, a["wo"], a["o"]), g_block)
                        f.loop(j_first, f.b.select(inside, j_stop, j_first), lambda j: f.step(
                            acc, nc, nv, a["g"], f.add(g_row, f.mul(j, a["o"])),
                            a["x"], f.add(x_start, f.mul(j, a["sw"], a["c"])), f.const(1)))
                    f.loop(a["row0"], a["row1"], row)
                    f.store_all(acc, nc, nv, a["result"],
                                f.add(tap_at, f.mul(c0, a["o"]), g_block), a["o"])
                f.blocks(channel_vectors, vectors, vector_tail, out_block)
            f.blocks(a["c"], pixels, channel_tail, channel_block)
        f.loop(f.const(0), a["kw"], tap)
    f.loop(f.const(0), a["kh"], tap_row)
    f.b.ret_void()


def _kernel(kind, dtype, *shape):
    """The compiled function for (kind, dtype, compile-time sizes), made on first use."""
    build = _conv_rows_ir if kind == "conv_rows" else _filter_grad_ir
    return numpy_llvm.compiled(
        (__name__, kind, np.dtype(dtype).str, shape), kind,
        lambda ir, module: build(ir, module, np.dtype(dtype), *shape), 4, len(_INTEGERS))


def supports(array, channels):
    """Whether these kernels run on NHWC arrays like `array` with `channels` output
    channels (a cheap check for a caller choosing between paths)."""
    return (type(array) is np.ndarray and array.dtype in (np.float32, np.float64)
            and available() and channels % lanes(array.dtype) == 0)


def _spaced(out, dtype):
    """Whether the kernel can write `out`: an array of `dtype` whose channels are contiguous
    and whose other steps are whole elements (a view of every s-th row and column is)."""
    return (type(out) is np.ndarray and out.dtype == dtype and out.ndim == 4
            and out.strides[3] == out.itemsize
            and all(step % out.itemsize == 0 and (step > 0 or size == 1)
                    for step, size in zip(out.strides[:3], out.shape)))


def _packed(w, block):
    """The HWIO filter w with its output channels in blocks of `block` (the last one
    shorter where they do not divide), each block's (kh * kw * c, block) values contiguous:
    a register block then reads its filter values as one stream."""
    o = w.shape[3]
    if block >= o:
        return w
    return np.concatenate([w[..., start:start + block].reshape(-1)
                           for start in range(0, o, block)])


def conv2d_rows(x, w, out, strides, dilations, bias=None, relu=False, pads=(0, 0)):
    """A function run(row0, row1) computing the output rows [row0, row1) (row r: image
    r // ho, output row r % ho) of out = conv2d(x, w) into `out`, where x is the NHWC
    input, padded with zeros by pads = (rows above, columns to the left) and below and to
    the right as far as out's windows reach, w the HWIO filter and out (n, ho, wo, o), all
    C-contiguous of one float dtype; plus `bias` (o values of that dtype) where given, then
    relu where asked for; None where the kernel does not apply. `out` may be a view with
    contiguous channels (every s-th pixel of a larger array, say). The kernel skips the
    padding's taps (see _conv_rows_ir); where a block of pixels would start or end more
    than _EDGE pixels into the padding, x is padded here instead. A negative pad crops:
    the windows start inside x."""
    if not available() or not numpy_llvm.contiguous(x, w, *(() if bias is None else (bias,))) \
            or not _spaced(out, x.dtype):
        return None
    if bias is not None and bias.shape != (out.shape[3],):
        return None
    width = lanes(x.dtype)
    _, hp, wp, c = x.shape
    kh, kw, _, o = w.shape
    _, ho, wo, _ = out.shape
    if o % width or not out.size or w.shape[2] != c:
        return None
    (sh, sw), (dh, dw) = strides, dilations
    pixels, vectors = registers()
    pixel_blocks = blocking(wo, pixels)
    pt, pl = pads
    # (a block has at most count - 1 pixels outside where it has any inside; 1 where it
    # has one pixel only still asks for the loop that skips outside taps)
    most = max(1, pixel_blocks[0] - 1)
    left = min(max(0, -(-pl // sw)), most)
    right = min(max(0, wo - -(-(wp + pl - (kw - 1) * dw) // sw)), most)
    if max(left, right) > _EDGE:
        bottom = max(0, (ho - 1) * sh + (kh - 1) * dh + 1 - pt - hp)
        right_pad = max(0, (wo - 1) * sw + (kw - 1) * dw + 1 - pl - wp)
        x = np.pad(x[:, max(0, -pt):, max(0, -pl):],
                   ((0, 0), (max(0, pt), bottom), (max(0, pl), right_pad), (0, 0)))
        _, hp, wp, _ = x.shape
        pt = pl = left = right = 0
    channel_blocks = blocking(o // width, vectors)
    function = _kernel("conv_rows", x.dtype, *pixel_blocks, *channel_blocks,
                       bias is not None, bool(relu), left, right)
    w = _packed(w, channel_blocks[0] * width)
    arrays = (x, w, out, bias)  # (held by run: the kernel reads them by address)
    pointers = tuple(0 if array is None else array.ctypes.data for array in arrays)
    sizes = (ho, wo, c, o, kh, kw, sh, sw, dh, dw, hp, wp, pt, pl,
             *(step // out.itemsize for step in out.strides[:3]))

    def run(row0, row1, _held=arrays):
        function(*pointers, row0, row1, *sizes)
    return run


# A filter gradient runs here only for filters of at most this many bytes: each piece of the
# batch sums into a filter of its own, and beyond this size adding those partial sums costs
# more than the kernel saves; NumPy's GEMMs split the one product over the threads instead
# (VGG16's 3x3x512x512 filter, 9.4 MB: 38 ms here, 24 ms there; its 3x3x128x256, 1.2 MB:
# 51 ms here, 60 there; benchmarks/conv_kernels.py).
_FILTER_GRAD_MAX_BYTES = 1 << 22


def filter_grad_rows(xp, g, filter_shape, strides, dilations, pads=(0, 0)):
    """A function run(row0, row1, out) writing into `out` (the filter's shape, C-contiguous)
    the filter gradient of conv2d over the output rows [row0, row1) of the batch (row r:
    image r // ho, output row r % ho), for xp the NHWC input, padded with zeros by pads =
    (rows above, columns to the left) and as far as g's windows reach below and to the
    right (read in place, as conv2d_rows reads it), and g the output cotangent
    (n, ho, wo, o); None where the kernel does not apply."""
    if not available() or not numpy_llvm.contiguous(xp, g):
        return None
    width = lanes(xp.dtype)
    _, hp, wp, c = xp.shape
    kh, kw, _, o = filter_shape
    _, ho, wo, _ = g.shape
    if (o % width or not g.size or filter_shape[2] != c
            or kh * kw * c * o * g.itemsize > _FILTER_GRAD_MAX_BYTES):
        return None
    pixels, vectors = registers()
    function = _kernel("filter_grad", xp.dtype, *blocking(c, pixels),
                       *blocking(o // width, vectors))
    (sh, sw), (dh, dw) = strides, dilations
    arrays = (xp, g)  # (held by run: the kernel reads them by address)
    pointers = tuple(array.ctypes.data for array in arrays)
    sizes = (ho, wo, c, o, kh, kw, sh, sw, dh, dw, hp, wp, *pads, 0, 0, 0)

    def run(row0, row1, out, _held=arrays):
        if not (type(out) is np.ndarray and out.shape == tuple(filter_shape)
                and out.dtype == xp.dtype and out.flags.c_contiguous):
            raise ValueError(f"filter_grad_rows needs a C-contiguous {xp.dtype} array of "
                             f"shape {tuple(filter_shape)}, received {out!r:.80}")
        function(*pointers, out.ctypes.data, 0, row0, row1, *sizes)
    return run
