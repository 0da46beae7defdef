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
the pieces in order (the same bits on any thread count, and whether the threads split the
batch's pieces or the filter's output channels: filter_grad_rows' run.part). The forward
kernel (and numpy_depthwise_native's) can apply a fused convolution's per-channel epilogue
to each output vector in registers before it stores it (epilogue_ir: a bias, an inference
BatchNormalization's subtract, multiply and add, relu, relu6; NumPy's ufuncs' bits, no
contraction), where a pass over the output afterwards cost more than the store (MobileNetV2's
(8, 56, 56, 24) -> 144 channels 1x1 convolution + BN + relu6: 3.7 -> 1.9 ms at best). The
forward kernel also applies float32 sigmoid and swish (numpy_elementwise_native's sigmoid,
the same bits as its single-pass loop) and a residual, a tensor of the output's shape read
at each value's position, which that loop ran over the whole output after the kernel:
EfficientNetB0's (8, 112, 112, 16) -> 96 channels 1x1 convolution + BN + swish, alternated
in one process (load ~5), median 47 -> 26 ms; ResNet50's (8, 56, 56, 64) -> 256 + BN +
residual + relu 18.2 -> 16.3 ms. The residual may first get per-channel steps of its own
(EPILOGUE_RESIDUAL_OPS: ResNet50's projection blocks add the shortcut convolution's output
with its bias and BatchNormalization, ten steps in all). Each function returns None where it
does not apply (no llvmlite, a CPU without AVX2 and FMA, another dtype or array type, output
channels not a multiple of the vector width), and the caller runs its NumPy path.

The generated code is a loop nest per (dtype, register block, pixels of padding a block may
reach) in LLVM IR, specialised on nothing else but a first layer's few channels (its filter
rows written out in full; its filter gradient's every tap in registers at once) and a deeper
input's depth and column stride (the forward kernel's: see _DEPTH_CHANNELS); llvmlite
compiles one in 0.07-0.4 s, once per process.
"""

import threading

import numpy as np

from tensorflux.backends import numpy_llvm
from tensorflux.backends.numpy_llvm import VectorBuilder, available, blocking, lanes, registers

__all__ = ["EPILOGUE_CONV_OPS", "EPILOGUE_MOST_STEPS", "EPILOGUE_OPS", "EPILOGUE_RESIDUAL_OPS",
           "EPILOGUE_TENSOR_OPS", "EPILOGUE_UNARY_OPS", "conv2d_rows",
           "epilogue_ir", "epilogue_operands", "epilogue_sources", "filter_grad_rows",
           "sigmoid_lowered", "supports"]

# Pixels of padding a register block may start or end with and still skip their taps:
# (left + 1) * (right + 1) loops over the channels per block size, each compiled.
_EDGE = 3


# Filters of one channel whose rows hold at most this many taps (a first layer's) get kernels
# of their own, a row's loop written out: W2's (128, 28, 28, 1) * 3x3x1x32 takes 0.62-0.72
# ms instead of 0.69-1.44 on one thread, a 5x5 filter 0.98 instead of 1.12-1.16. (Three
# channels' 9 taps a row, written out, took 1.2 ms instead of 0.87 on (64, 32, 32, 3).)
_FIXED_TAPS = 7


# Inputs of at least this many channels get kernels specialised on their depth and column
# stride (see _conv_rows_ir's `depth`): one more compiled kernel (0.15 s) for each (c, sw) a
# process meets, against a tenth of a deep layer's time with _PREFETCH (VGG16's
# (8, 14, 14, 512) * 3x3x512x512 and (8, 56, 56, 128) * 3x3x128x256: 9-13% less CPU time,
# forward and input gradient; 32 channels: 2-8%). A first layer's few channels keep the
# general loop.
_DEPTH_CHANNELS = 16

# How many passes over the channels ahead a register block asks for its filter values (each
# pass reads vectors * width of them): 8-32 gained alike, 4-6% of a deep layer's time.
_PREFETCH = 16


_INTEGERS = ["row0", "row1", "ho", "wo", "c", "o", "kh", "kw", "sh", "sw", "dh", "dw", "hp",
             "wp", "pt", "pl", "out_image", "out_row", "out_pixel", "v0", "v1"]


# Epilogues the kernels apply in registers before a store: at most this many steps, each
# (name, whether the running value is the first operand) with name one of EPILOGUE_OPS; the
# binary ones take a per-channel operand (a scalar is a row of it), the k-th such step the
# k-th. A kernel is compiled per steps tuple (part of its key), so their number is bounded:
# that is all the bound is for (each step is a few instructions per output vector, the
# operands are read from memory by the instructions that use them, so the register block
# keeps its registers; ResNet50's projection blocks' 10 steps compile in about the time of
# a 2-step kernel). 10 takes those: a bias, BatchNormalization's 3, the shortcut's bias and
# BatchNormalization as EPILOGUE_RESIDUAL_OPS, the residual add, relu.
EPILOGUE_OPS = ("add", "subtract", "multiply", "relu", "relu6")
EPILOGUE_MOST_STEPS = 10
# ... and the steps conv2d_rows also takes (numpy_depthwise_native takes EPILOGUE_OPS only):
# sigmoid and swish (the running value times its sigmoid: `first` where the value is the
# product's first operand), float32 and only where numpy_elementwise_native lowers sigmoid
# (see sigmoid_lowered); and EPILOGUE_TENSOR_OPS, whose operand is a tensor of the output's
# shape (a residual), read at the position of the value stored, at most one a kernel; and
# EPILOGUE_RESIDUAL_OPS before it, which apply a per-channel operand to that tensor's value
# instead of the running value ("first": the tensor's value is the first operand), before
# the tensor step reads it: a projection block's shortcut convolution's bias and inference
# BatchNormalization (the shortcut's output is the tensor).
EPILOGUE_UNARY_OPS = ("relu", "relu6", "sigmoid", "swish")
EPILOGUE_TENSOR_OPS = ("add_tensor", "subtract_tensor", "multiply_tensor")
EPILOGUE_RESIDUAL_OPS = ("residual_add", "residual_subtract", "residual_multiply")
EPILOGUE_CONV_OPS = (EPILOGUE_OPS + ("sigmoid", "swish") + EPILOGUE_TENSOR_OPS
                     + EPILOGUE_RESIDUAL_OPS)


def epilogue_operands(steps):
    """How many per-channel operands an epilogue's steps read."""
    return sum(name not in EPILOGUE_UNARY_OPS and name not in EPILOGUE_TENSOR_OPS
               for name, _ in steps)


def _residual_order(steps):
    """Whether the residual steps of `steps` all come before its one tensor step (and there
    are none without one)."""
    names = [name for name, _ in steps]
    tensor = [k for k, name in enumerate(names) if name in EPILOGUE_TENSOR_OPS]
    residual = [k for k, name in enumerate(names) if name in EPILOGUE_RESIDUAL_OPS]
    return not residual or (len(tensor) == 1 and max(residual) < tensor[0])


def sigmoid_lowered():
    """Whether epilogues may hold sigmoid and swish: where numpy_elementwise_native's loops
    lower float32 sigmoid (NumPy's AVX-512 exp, which its probe found giving np.exp's bits
    in this process)."""
    from tensorflux.backends import numpy_elementwise_native

    return numpy_elementwise_native.sigmoid_lowered()


def epilogue_sources(steps):
    """The source digests, beyond this module's, of the IR that `steps` make: sigmoid's is
    numpy_elementwise_native's (and its exp numpy_softmax_native's), so a cached kernel
    holding it is compiled again where either changes (see numpy_llvm.compiled)."""
    if not any(name in ("sigmoid", "swish") for name, _ in steps):
        return ()
    from tensorflux.backends import numpy_elementwise_native, numpy_softmax_native

    return tuple(numpy_llvm.source_digest(module.__file__)
                 for module in (numpy_elementwise_native, numpy_softmax_native))


def _sigmoid_ir(f, value):
    """numpy_backend.sigmoid of float32 `value` (a vector of f's width, or one value), as
    numpy_elementwise_native's loops compute it (its sigmoid_ir: a 16-lane vector, AVX-512's,
    in one exp call)."""
    from tensorflux.backends import numpy_elementwise_native

    return numpy_elementwise_native.sigmoid_ir(f, value)


def _nan_from(f, preferred, value):
    """value, or `preferred` made quiet where that is NaN: the NaN the single-pass loops give
    a sum or product of two NaNs (numpy_elementwise_native's nan_from_ir)."""
    from tensorflux.backends import numpy_elementwise_native

    return numpy_elementwise_native.nan_from_ir(f, preferred, value)


def epilogue_ir(f, steps, value, operands, zero, tensors=()):
    """value (a vector of f's, or one value where `zero` is a scalar) after the epilogue
    `steps`, operands[k] the k-th per-channel operand at value's channels and tensors[k]
    the k-th tensor step's operand at value's position: each step as NumPy's ufunc
    computes it, rounded on its own (fadd, fsub and fmul carry no fast-math flags: no
    contraction into a fused multiply-add); relu as NumPy's maximum(value, 0) (a NaN
    stays NaN, -0.0 becomes 0.0: the compare is unordered), relu6 as that and then NumPy's
    minimum(value, 6) (a NaN stays, 6 and above are 6), as numpy_backend's relu6 computes
    it. (Where two NaNs meet in a per-channel sum or product, which comes out NumPy does
    not define either: see numpy_elementwise_native's nan_from_ir.) sigmoid is
    numpy_elementwise_native's (_sigmoid_ir), swish the value times it; a tensor's sum or
    product and swish's product are the first operand's NaN where both are NaN, as the
    single-pass loop over the whole output that they replace gives it. A residual step
    (EPILOGUE_RESIDUAL_OPS) applies its per-channel operand to the tensor's value, which
    the tensor step then reads, the same way: rounded on its own, the tensor's NaN where
    two NaNs meet in a sum or product with it first (the loop's NaN, a tensor read per
    element against a vector read per element)."""
    b = f.b
    operands = iter(operands)
    tensors = list(tensors)
    for name, first in steps:
        if name in EPILOGUE_RESIDUAL_OPS:
            name = name.replace("residual_", "")
            other = next(operands)
            pair = (tensors[0], other) if first else (other, tensors[0])
            tensors[0] = {"add": b.fadd, "subtract": b.fsub, "multiply": b.fmul}[name](*pair)
            if name != "subtract":
                tensors[0] = _nan_from(f, pair[0], tensors[0])
            continue
        if name in ("relu", "relu6"):
            value = b.select(b.fcmp_unordered(">", value, zero), value, zero)
            if name == "relu6":
                six = f.ir.Constant(zero.type, [6.0] * f.width if zero.type is f.vector
                                    else 6.0)
                value = b.select(b.fcmp_unordered("<", value, six), value, six)
            continue
        if name == "sigmoid":
            value = _sigmoid_ir(f, value)
            continue
        if name == "swish":
            pair = (value, _sigmoid_ir(f, value))
            pair = pair if first else pair[::-1]
            value = _nan_from(f, pair[0], b.fmul(*pair))
            continue
        tensor = name in EPILOGUE_TENSOR_OPS
        other = tensors.pop(0) if tensor else next(operands)
        name = name.replace("_tensor", "")
        pair = (value, other) if first else (other, value)
        value = {"add": b.fadd, "subtract": b.fsub, "multiply": b.fmul}[name](*pair)
        if tensor and name != "subtract":
            value = _nan_from(f, pair[0], value)
    return value


def _vector_blocks(f, vectors, vector_tail, body):
    """body(v, count) over the output channel vectors [v0, v1) of f's arguments in blocks of
    `vectors` from v0 (a multiple of it), then the tail block of `vector_tail` where the
    range ends with it ((o / width) % vectors == vector_tail)."""
    a = f.args
    whole = f.b.sub(f.b.sdiv(a["o"], f.const(f.width)), f.const(vector_tail))
    stop = f.b.select(f.b.icmp_signed("<", a["v1"], whole), a["v1"], whole)
    f.loop(a["v0"], stop, lambda v: body(v, vectors), step=vectors)
    if vector_tail:
        f.if_else(f.b.and_(f.b.icmp_signed(">", a["v1"], whole),
                           f.b.icmp_signed("<=", a["v0"], whole)),
                  lambda: body(whole, vector_tail), lambda: None)


def _conv_rows_ir(ir, module, dtype, pixels, pixel_tail, vectors, vector_tail, steps,
                  left, right, depth=None, fixed=None):
    """conv_rows(x, w, out, rows, tensor, *_INTEGERS): the output rows [row0, row1) of the
    batch (row r: image r // ho, output row r % ho), by blocks of `pixels` output pixels
    (`pixel_tail` in the last block of a row: wo % pixels) x `vectors` channel vectors
    (`vector_tail` in the last block: (o / width) % vectors), each summed over (kh, kw, c)
    in registers. The channel blocks are the outer loop, so that one block's filter values
    (kh * kw * c * vectors * width) are read from cache for every row of the range. Each
    sum then gets
    the epilogue `steps` in registers before it is stored (see epilogue_ir; its k-th
    per-channel operand is rows[k * o + channel], its tensor operand tensor (n, ho, wo, o),
    C-contiguous, at the value's position).

    The input x (hp x wp pixels an image) is padded by pt rows above and pl columns to the
    left (and as far as the windows reach below and to the right) without being copied: a
    tap reads x[i * sh + kh * dh - pt, j * sw + kw * dw - pl] and is skipped where that lies
    outside x. Rows skip whole filter rows; a block of pixels that reaches past either side
    runs each filter column over the pixels it has inside x, of which there are at most
    `left` fewer at the block's start and `right` fewer at its end (each pair of those
    counts has its own loop, chosen by a switch): the sums keep their order and lose only
    the padding's zero terms.

    Where `fixed` = (kw, c), the kernel runs on filters of that width and depth only (the
    arguments' are ignored), with the taps of a filter row and their channels written out
    in full: a first layer's one channel leaves each tap's loop a single pass, whose
    overhead otherwise outweighs its multiply-adds. Where `depth` = (c, sw), it runs on
    inputs of that depth and column stride only: the 14 pixels' input values then lie at
    fixed distances from one pointer (an address each, with a displacement), where the
    arguments' distance held 14 pointers, more than the general registers left free, and
    the loop reloaded some each pass.

    Each pass over a channel asks for the filter values `_PREFETCH` passes ahead into L1:
    a block's filter values stream from L2, and the hardware's prefetchers left the
    multiply-adds waiting on them."""
    f = VectorBuilder(ir, module, "conv_rows", dtype, ["x", "w", "out", "rows", "tensor"],
                      _INTEGERS)
    a = dict(f.args)
    if fixed:
        a["kw"], a["c"] = f.const(fixed[0]), f.const(fixed[1])
    if depth:
        a["c"], a["sw"] = f.const(depth[0]), f.const(depth[1])
    acc = f.accumulators(pixels, vectors)
    pixel_stride = f.mul(a["sw"], a["c"])
    row_stride = f.mul(a["wp"], a["c"])

    taps = f.mul(a["kh"], a["kw"], a["c"])

    def channel_block(v0, nv):
        # (w is packed by channel blocks: see _packed)
        w_block = f.mul(v0, f.const(f.width), taps)
        out_block = f.mul(v0, f.const(f.width))
        w_step = f.const(nv * f.width)

        def row(r):
            image = f.b.sdiv(r, a["ho"])
            i = f.b.srem(r, a["ho"])
            top = f.b.sub(f.mul(i, a["sh"]), a["pt"])  # x's row for kh = 0
            kh_first = f.ceiling(f.b.sub(f.const(0), top), a["dh"], a["kh"])
            kh_stop = f.ceiling(f.b.sub(a["hp"], top), a["dh"], a["kh"])
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
                    def channel(ci):
                        at = f.add(w_tap, f.mul(ci, w_step))
                        for v in range(nv):
                            f.prefetch(a["w"], f.add(at, f.const((_PREFETCH * nv + v)
                                                                 * f.width)))
                        f.step(acc, stop, nv, a["w"], at, a["x"], f.add(x_tap, ci),
                               pixel_stride, first)
                    f.loop(f.const(0), a["c"], channel)

                def taps_of(kh, kw):
                    x_tap = f.add(x_block, f.mul(kh, a["dh"], row_stride),
                                  f.mul(kw, a["dw"], a["c"]))
                    w_tap = f.add(w_block, f.mul(f.add(f.mul(kh, a["kw"]), kw), a["c"],
                                                 w_step))
                    return x_tap, w_tap

                def unrolled(kh):
                    for kw in range(fixed[0]):
                        x_tap, w_tap = taps_of(kh, f.const(kw))
                        for ci in range(fixed[1]):
                            f.step(acc, count, nv, a["w"], f.add(w_tap, f.const(ci * nv * f.width)),
                                   a["x"], f.add(x_tap, f.const(ci)), pixel_stride)

                def interior():
                    if fixed:
                        f.loop(kh_first, kh_stop, unrolled)
                        return
                    f.loop(kh_first, kh_stop, lambda kh: f.loop(
                        f.const(0), a["kw"], lambda kw: channels(*taps_of(kh, kw), 0, count)))

                def border():
                    def tap(kh, kw):
                        col = f.add(first_col, f.mul(kw, a["dw"]))
                        first = f.ceiling(f.b.sub(f.const(0), col), a["sw"], f.const(count))
                        stop = f.ceiling(f.b.sub(a["wp"], col), a["sw"], f.const(count))
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
                at = f.add(out_row, f.mul(j0, a["out_pixel"]), out_block)
                if not steps:
                    f.store_all(acc, count, nv, a["out"], at, a["out_pixel"])
                # (a channel vector at a time, its operands loaded once for the block's
                # pixels: the channel comes from the block, not from each offset's remainder)
                # (a tensor operand's pixels lie o values apart, from the block's first)
                tensor_at = f.add(f.mul(f.add(f.mul(r, a["wo"]), j0), a["o"]), out_block)
                for v in range(nv if steps else 0):
                    channel = f.add(out_block, f.const(v * f.width))
                    operands = [f.load_vector(a["rows"], f.add(f.mul(f.const(k), a["o"]),
                                                               channel))
                                for k in range(epilogue_operands(steps))]
                    for p in range(count):
                        offset = f.add(at, f.mul(f.const(p), a["out_pixel"]),
                                       f.const(v * f.width))
                        tensors = [f.load_vector(a["tensor"], f.add(
                            tensor_at, f.mul(f.const(p), a["o"]), f.const(v * f.width)))
                            for name, _ in steps if name in EPILOGUE_TENSOR_OPS]
                        f.store_vector(epilogue_ir(f, steps, f.b.load(acc[p][v]), operands,
                                                   f.zero, tensors), a["out"], offset)
            f.blocks(a["wo"], pixels, pixel_tail, pixel_block)
        f.loop(a["row0"], a["row1"], row)
    _vector_blocks(f, vectors, vector_tail, channel_block)
    f.b.ret_void()


# Filters of at most this many taps x channels (a first layer's 3 x 3 x 1) have their filter
# gradient's sums all in registers at once (_filter_grad_taps_ir): with 2 vectors each, 24
# of AVX-512's 32 registers.
_SHALLOW_SUMS = 12

# How many pixels ahead the filter gradient's pass over a piece of the batch asks for its
# input and cotangent values (_filter_grad_ir: the cotangent's vectors and the first and last
# channel of the block's input values; _filter_grad_taps_ir: the cotangent's, which it reads
# once from L3). Pixels lie o and sw * c values apart, too far for the hardware's streamers:
# 9-16% less CPU time on VGG16's (8, 56, 56, 128) * 3x3x128x256 and (8, 14, 14, 512) *
# 3x3x512x512, ResNet's (64, 32, 32, 32) * 3x3x32x32, W2's 3x3x32x64 and (float64 alike),
# 4-16 ahead alike (prefetching only the cotangent gained 2-5%, only the input 3-10%); 14% on
# W2's first layer, 16-64 ahead alike. (Specialising the kernel on c, o and sw, as
# _conv_rows_ir's `depth`, gained nothing: its inner loop already adds constant offsets.)
_GRAD_PREFETCH = 8
_TAPS_PREFETCH = 32


# filter_grad's integers: _INTEGERS' geometry, then the part of the filter a call writes (taps
# [t0, t1) of kh * kw, output channel vectors [v0, v1)) and whether it adds its sums to the
# result's values instead of storing them.
_FILTER_INTEGERS = [*_INTEGERS[:16], "t0", "t1", "v0", "v1", "accumulate"]


def _filter_grad_ir(ir, module, dtype, pixels, channel_tail, vectors, vector_tail):
    """filter_grad(x, g, result, *_FILTER_INTEGERS): result (kh, kw, c, o) = the sum over the
    output rows [row0, row1) of the batch and their wo pixels, in order, of each window's
    input values times the output cotangent g, for the taps [t0, t1) (tap t: kh = t // kw,
    kw = t % kw) and the output channel vectors [v0, v1) (v0 a multiple of `vectors`; the
    other values of result are left as they are); where `accumulate`, result + that sum
    (as NumPy's add(result, sum) rounds it) instead. Blocks of `pixels` input channels x
    `vectors` output channel vectors in registers; c % pixels == channel_tail and
    (o / width) % vectors == vector_tail. x is read as padded by pt rows above and pl
    columns to the left, as in _conv_rows_ir: the pixels whose input lies in the padding
    are skipped. Each pixel asks for the values _GRAD_PREFETCH pixels ahead into L1."""
    f = VectorBuilder(ir, module, "filter_grad", dtype, ["x", "g", "result", "unused"],
                      _FILTER_INTEGERS)
    a = f.args
    acc = f.accumulators(pixels, vectors)
    row_stride = f.mul(a["wp"], a["c"])
    adding = f.b.icmp_signed("!=", a["accumulate"], f.const(0))

    def tap(kh, kw):
        t = f.add(f.mul(kh, a["kw"]), kw)
        tap_at = f.mul(t, a["c"], a["o"])
        # (the output pixels whose input for this tap lies inside x, not in the padding)
        col = f.b.sub(f.mul(kw, a["dw"]), a["pl"])
        j_first = f.ceiling(f.b.sub(f.const(0), col), a["sw"], a["wo"])
        j_stop = f.ceiling(f.b.sub(a["wp"], col), a["sw"], a["wo"])

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

                    def pixel(j):
                        g_at = f.add(g_row, f.mul(j, a["o"]))
                        x_at = f.add(x_start, f.mul(j, a["sw"], a["c"]))
                        ahead = f.const(_GRAD_PREFETCH)
                        for v in range(nv):
                            f.prefetch(a["g"], f.add(g_at, f.mul(ahead, a["o"]),
                                                     f.const(v * f.width)))
                        for p in sorted({0, nc - 1}):
                            f.prefetch(a["x"], f.add(x_at, f.mul(ahead, a["sw"], a["c"]),
                                                     f.const(p)))
                        f.step(acc, nc, nv, a["g"], g_at, a["x"], x_at, f.const(1))
                    f.loop(j_first, f.b.select(inside, j_stop, j_first), pixel)
                f.loop(a["row0"], a["row1"], row)
                at = f.add(tap_at, f.mul(c0, a["o"]), g_block)
                f.if_else(adding, lambda: f.store_all(
                    acc, nc, nv, a["result"], at, a["o"],
                    lambda value, offset: f.b.fadd(f.load_vector(a["result"], offset), value)),
                    lambda: f.store_all(acc, nc, nv, a["result"], at, a["o"]))

            _vector_blocks(f, vectors, vector_tail, out_block)
        f.blocks(a["c"], pixels, channel_tail, channel_block)
    def tap_row(kh):
        # (the filter row's taps within [t0, t1))
        row_start = f.mul(kh, a["kw"])
        first = f.b.sub(a["t0"], row_start)
        stop = f.b.sub(a["t1"], row_start)
        first = f.b.select(f.b.icmp_signed(">", first, f.const(0)), first, f.const(0))
        stop = f.b.select(f.b.icmp_signed("<", stop, a["kw"]), stop, a["kw"])
        f.loop(first, stop, lambda kw: tap(kh, kw))
    f.loop(f.b.sdiv(a["t0"], a["kw"]), f.b.sdiv(f.add(a["t1"], a["kw"], f.const(-1)), a["kw"]),
           tap_row)
    f.b.ret_void()


def _filter_grad_taps_ir(ir, module, dtype, kh, kw, c, vectors, vector_tail):
    """filter_grad as _filter_grad_ir computes it, for a filter of kh x kw taps of c channels
    (fixed here) whose windows lie inside x (no padding: pt, pl, t0, t1 are ignored, every
    tap runs) with every (tap, channel) x `vectors` output channel vectors in registers at
    once: each cotangent vector loaded serves kh * kw * c sums where _filter_grad_ir's
    serves c, which a first layer's one channel leaves at 2 accumulators, each waiting on
    its own last multiply-add. Each sum still runs over the rows, then their pixels, in
    order: the same bits. Each pixel asks for the cotangent _TAPS_PREFETCH pixels ahead."""
    f = VectorBuilder(ir, module, "filter_grad", dtype, ["x", "g", "result", "unused"],
                      _FILTER_INTEGERS)
    a = f.args
    sums = kh * kw * c
    acc = f.accumulators(sums, vectors)
    row_stride = f.mul(a["wp"], f.const(c))
    pixel_stride = f.mul(a["sw"], f.const(c))
    adding = f.b.icmp_signed("!=", a["accumulate"], f.const(0))
    # (each sum's offset in a window: rows dh apart, columns dw apart, then its channel)
    offsets = [f.add(f.mul(f.const(i), a["dh"], row_stride), f.mul(f.const(j * c), a["dw"]),
                     f.const(ci)) for i in range(kh) for j in range(kw) for ci in range(c)]

    def out_block(v0, nv):
        f.zero_all(acc, sums, nv)
        g_block = f.mul(v0, f.const(f.width))

        def row(r):
            image = f.b.sdiv(r, a["ho"])
            i = f.b.srem(r, a["ho"])
            x_row = f.mul(f.add(f.mul(image, a["hp"]), f.mul(i, a["sh"])), row_stride)
            g_row = f.add(f.mul(r, a["wo"], a["o"]), g_block)

            def pixel(j):
                g_at = f.add(g_row, f.mul(j, a["o"]))
                for v in range(nv):
                    f.prefetch(a["g"], f.add(g_at, f.mul(f.const(_TAPS_PREFETCH), a["o"]),
                                             f.const(v * f.width)))
                loaded = [f.load_vector(a["g"], f.add(g_at, f.const(v * f.width)))
                          for v in range(nv)]
                x_at = f.add(x_row, f.mul(j, pixel_stride))
                for t, offset in enumerate(offsets):
                    scalar = f.broadcast(a["x"], f.add(x_at, offset))
                    for v in range(nv):
                        f.b.store(f.b.call(f.fma, [scalar, loaded[v], f.b.load(acc[t][v])]),
                                  acc[t][v])
            f.loop(f.const(0), a["wo"], pixel)
        f.loop(a["row0"], a["row1"], row)
        f.if_else(adding, lambda: f.store_all(
            acc, sums, nv, a["result"], g_block, a["o"],
            lambda value, offset: f.b.fadd(f.load_vector(a["result"], offset), value)),
            lambda: f.store_all(acc, sums, nv, a["result"], g_block, a["o"]))

    _vector_blocks(f, vectors, vector_tail, out_block)
    f.b.ret_void()


def _kernel(kind, dtype, *shape):
    """The compiled function for (kind, dtype, compile-time sizes), made on first use."""
    build = {"conv_rows": _conv_rows_ir, "filter_grad": _filter_grad_ir,
             "filter_grad_taps": _filter_grad_taps_ir}[kind]
    # (conv_rows' epilogue steps, shape[4], may hold IR of other modules: their sources)
    shared = epilogue_sources(shape[4]) if kind == "conv_rows" else ()
    return numpy_llvm.compiled(
        (__name__, kind, np.dtype(dtype).str, shape, *shared), kind.replace("_taps", ""),
        lambda ir, module: build(ir, module, np.dtype(dtype), *shape),
        5 if kind == "conv_rows" else 4,
        len(_INTEGERS if kind == "conv_rows" else _FILTER_INTEGERS))


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


def _packed(w, block, fill=True):
    """(packed, fill_channels): the HWIO filter w (any strides) with its output channels in
    blocks of `block` (the last one shorter where they do not divide), each block's
    (kh * kw * c, block) values contiguous, so that a register block reads its filter values
    as one stream; and fill_channels(start, stop), which writes the blocks of the channels
    [start, stop) (start a multiple of block) into it: all of them here where `fill`, else
    the caller fills the blocks it runs (on the threads that run them). One copy
    (concatenating the blocks copied each twice: VGG16's 9.4 MB filter, 2 copies a call, 3
    for its input gradient's turned filter)."""
    o = w.shape[3]
    if block >= o:
        return np.ascontiguousarray(w), lambda start, stop: None
    packed = np.empty(w.size, w.dtype)
    taps = w.size // o

    def fill_channels(start, stop):
        # (the whole blocks in one copy, a shorter last one after them)
        stop = min(o, stop)
        whole = start + (stop - start) // block * block
        if whole > start:
            count = (whole - start) // block
            packed[taps * start:taps * whole].reshape((count,) + w.shape[:3] + (block,))[...] \
                = w[..., start:whole].reshape(w.shape[:3] + (count, block)).transpose(
                    3, 0, 1, 2, 4)
        if stop > whole:
            packed[taps * whole:taps * stop].reshape(w.shape[:3] + (stop - whole,))[...] = \
                w[..., whole:stop]
    if fill:
        fill_channels(0, o)
    return packed, fill_channels


def conv2d_rows(x, w, out, strides, dilations, bias=None, relu=False, pads=(0, 0),
                pack=True, epilogue=None):
    """A function run(row0, row1) computing the output rows [row0, row1) (row r: image r // ho,
    output row r % ho) of out = conv2d(x, w) into `out`, where x is the NHWC input, padded with
    zeros by pads = (rows above, columns to the left) and below and to the right as far as out's
    windows reach, w the HWIO filter and out (n, ho, wo, o), all C-contiguous of one float
    dtype; plus `bias` (o values of that dtype) where given, then relu where asked for; or,
    instead of those, `epilogue` = (steps, rows) or (steps, rows, tensor): epilogue_ir's steps
    (at most EPILOGUE_MOST_STEPS of EPILOGUE_CONV_OPS, any residual steps before the tensor
    step) with their per-channel operands, rows[k] the k-th's (C-contiguous (k, o) of the
    dtype), and the tensor steps' operand (C-contiguous, out's shape and dtype); None where the
    kernel does not apply (sigmoid and swish: float32 only, where sigmoid_lowered()). `out` may
    be a view with contiguous channels (every s-th pixel of a larger array, say), w any view of
    that dtype (packed here in one copy). run(row0, row1, vectors) computes the output
    channel vectors [vectors.start, vectors.stop) only, vectors.start a multiple of
    run.vector_block (or run.vectors, the count there is). Where not `pack`, each block of the
    filter's values is packed by the first call that needs it (see _packed: a caller that splits
    the channels over threads has each part packed on the thread that runs it), a lock a block.
    The kernel skips the padding's taps (see _conv_rows_ir); where a block of pixels would start
    or end more than _EDGE pixels into the padding, x is padded here instead. A negative pad
    crops: the windows start inside x."""
    if epilogue is None:
        steps = (("add", True),) * (bias is not None) + (("relu", True),) * bool(relu)
        epilogue = (steps, bias[None] if type(bias) is np.ndarray else bias)
    elif bias is not None or relu:
        raise ValueError("conv2d_rows takes an epilogue or a bias and relu, not both")
    steps, rows, tensor = (*epilogue, None)[:3]
    steps = tuple((str(name), bool(first)) for name, first in steps)
    if not available() or not numpy_llvm.contiguous(x, *(() if rows is None else (rows,))) \
            or not _spaced(out, x.dtype) or not (type(w) is np.ndarray and w.dtype == x.dtype
                                                 and w.ndim == 4):
        return None
    if len(steps) > EPILOGUE_MOST_STEPS or any(name not in EPILOGUE_CONV_OPS
                                               for name, _ in steps) \
            or not _residual_order(steps) \
            or (rows.shape != (epilogue_operands(steps), out.shape[3]) if rows is not None
                else epilogue_operands(steps)):
        return None
    tensors = sum(name in EPILOGUE_TENSOR_OPS for name, _ in steps)
    if tensors > 1 or (tensors and not (
            type(tensor) is np.ndarray and numpy_llvm.contiguous(tensor)
            and tensor.shape == out.shape
            and tensor.dtype == x.dtype)) or (tensor is not None and not tensors):
        return None
    if any(name in ("sigmoid", "swish") for name, _ in steps) and not (
            x.dtype == np.float32 and sigmoid_lowered()):
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
    # (first layers: their few channels' taps written out in full, see _conv_rows_ir)
    fixed = (kw, c) if c == 1 and kw <= _FIXED_TAPS else None
    depth = (c, sw) if c >= _DEPTH_CHANNELS else None
    function = _kernel("conv_rows", x.dtype, *pixel_blocks, *channel_blocks,
                       steps, left, right, depth, fixed)
    block = channel_blocks[0]
    w, fill = _packed(w, block * width, pack)
    # (per block of channel vectors still to pack: its lock; none once all are packed)
    unpacked = {} if pack or block * width >= o else {
        start: threading.Lock() for start in range(0, o // width, block)}

    def packed(v0, v1):
        # (the blocks' locks taken in order, so two threads asking for overlapping ranges
        # wait for each other without deadlock; each run of neighbouring blocks still
        # unpacked is then filled in one copy)
        held = [(start, unpacked.get(start)) for start in range(v0, v1, block)]
        held = [(start, lock) for start, lock in held if lock is not None]
        for _, lock in held:
            lock.acquire()
        try:
            first = last = None
            for start, _ in held + [(None, None)]:
                if start is not None and start in unpacked and start == last:
                    last = start + block
                    continue
                if first is not None:
                    fill(first * width, last * width)
                first, last = (start, start + block) if start in unpacked else (None, None)
            for start, _ in held:
                unpacked.pop(start, None)
        finally:
            for _, lock in held:
                lock.release()
    arrays = (x, w, out, rows, tensor)  # (held by run: the kernel reads them by address)
    pointers = tuple(0 if array is None else array.ctypes.data for array in arrays)
    sizes = (ho, wo, c, o, kh, kw, sh, sw, dh, dw, hp, wp, pt, pl,
             *(step // out.itemsize for step in out.strides[:3]))

    def run(row0, row1, vectors=None, _held=arrays):
        v0, v1 = (0, o // width) if vectors is None else (vectors.start, vectors.stop)
        if v0 % block and v0 < o // width:
            raise ValueError(f"conv2d_rows' channel ranges start at a multiple of "
                             f"{block} vectors, not {v0}")
        v1 = min(o // width, v1)
        if unpacked:
            packed(v0, v1)
        function(*pointers, row0, row1, *sizes, v0, v1)
    run.vector_block, run.vectors = block, o // width
    return run


def filter_grad_rows(xp, g, filter_shape, strides, dilations, pads=(0, 0)):
    """A function run(row0, row1, out) writing into `out` (the filter's shape, C-contiguous)
    the filter gradient of conv2d over the output rows [row0, row1) of the batch (row r:
    image r // ho, output row r % ho), for xp the NHWC input, padded with zeros by pads =
    (rows above, columns to the left) and as far as g's windows reach below and to the
    right (read in place, as conv2d_rows reads it), and g the output cotangent
    (n, ho, wo, o); None where the kernel does not apply.

    run.part(row0, row1, out, taps, vectors, accumulate) writes (or, where `accumulate`,
    adds to out's values, as NumPy's add(out, part) rounds the sum) that sum's taps
    [taps.start, taps.stop) of kh * kw and output channel vectors [vectors.start,
    vectors.stop), the rest of out untouched: run.vector_block is the vectors a register
    block holds, which vectors.start must be a multiple of (or the end), run.taps and
    run.vectors the counts there are. Parts of the filter on different threads then need
    no partial sums of the whole filter, and adding each piece of rows' sums in order gives
    the same bits as run's pieces added in order."""
    if not available() or not numpy_llvm.contiguous(xp, g):
        return None
    width = lanes(xp.dtype)
    _, hp, wp, c = xp.shape
    kh, kw, _, o = filter_shape
    _, ho, wo, _ = g.shape
    if o % width or not g.size or filter_shape[2] != c:
        return None
    pixels, vectors = registers()
    vector_blocks = blocking(o // width, vectors)
    function = _kernel("filter_grad", xp.dtype, *blocking(c, pixels), *vector_blocks)
    (sh, sw), (dh, dw) = strides, dilations
    # (every tap's sums in registers at once, where they fit and no window reaches the
    # padding: see _filter_grad_taps_ir)
    if (kh * kw * c <= min(_SHALLOW_SUMS, pixels) and tuple(pads) == (0, 0)
            and (ho - 1) * sh + (kh - 1) * dh < hp and (wo - 1) * sw + (kw - 1) * dw < wp):
        every_tap = _kernel("filter_grad_taps", xp.dtype, kh, kw, c, *vector_blocks)
    else:
        every_tap = function
    arrays = (xp, g)  # (held by run: the kernel reads them by address)
    pointers = tuple(array.ctypes.data for array in arrays)
    sizes = (ho, wo, c, o, kh, kw, sh, sw, dh, dw, hp, wp, *pads)

    def checked(out):
        if not (type(out) is np.ndarray and out.shape == tuple(filter_shape)
                and out.dtype == xp.dtype and out.flags.c_contiguous):
            raise ValueError(f"filter_grad_rows needs a C-contiguous {xp.dtype} array of "
                             f"shape {tuple(filter_shape)}, received {out!r:.80}")
        return out.ctypes.data

    def run(row0, row1, out, _held=arrays):
        every_tap(*pointers, checked(out), 0, row0, row1, *sizes, 0, kh * kw, 0, o // width,
                  0)

    def part(row0, row1, out, taps, channel_vectors, accumulate, _held=arrays):
        if channel_vectors.start % vector_blocks[0] and channel_vectors.start < o // width:
            raise ValueError(f"filter_grad_rows' parts start at a multiple of "
                             f"{vector_blocks[0]} vectors, not {channel_vectors.start}")
        t0, t1 = max(0, taps.start), min(kh * kw, taps.stop)
        kernel = every_tap if (t0, t1) == (0, kh * kw) else function
        kernel(*pointers, checked(out), 0, row0, row1, *sizes, t0, t1, channel_vectors.start,
               min(o // width, channel_vectors.stop), int(bool(accumulate)))
    run.part = part
    run.vector_block, run.taps, run.vectors = vector_blocks[0], kh * kw, o // width
    return run
