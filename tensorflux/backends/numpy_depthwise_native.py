"""Native depthwise convolution kernels for the NumPy backend (DepthwiseConv2D, SeparableConv2D's
first step, the MobileNet and EfficientNet applications): the forward pass, the input
gradient and the filter gradient of a convolution with one input channel per group and a
channel multiplier of 1, compiled through llvmlite with numpy_llvm's code generator.

Why: numpy_backend's depthwise path runs tap by tap over the whole output, a product and a
sum per filter tap (2 * kh * kw passes over memory, on a zero-padded copy of the input).
These kernels read each output pixel's window from the unpadded NHWC input in place, a
vector of channels at a time (the channels that do not fill a vector one by one), keep the
sum in a register over the taps and write it once. MobileNetV2's (8, 112, 112, 32) 3x3
layer on this project's 2 AVX-512 cores: forward 29 -> 3 ms, input gradient 22 -> 3.5 ms,
filter gradient 35 -> 2-4 ms (in-process A/B of benchmarks/mobilenet_workloads.py's models:
MobileNetV2's predict 1.2-1.35x as fast, the separable network's training 1.6x). A kernel
compiles in 0.05-0.16 s, once per (kind, dtype, filter size).

Where the channels are whole vectors, the forward pass and the stride-1 input gradient go a
block of channel vectors at a time (_by_blocks): the block's filter taps are loaded into
registers once per image row, and the pixels whose windows lie inside the input (every
pixel's but the border's) run without the padding's selects; the filter gradient's inner
pixels skip those selects too. The same operations on the same values: the same bits
(session 18: the separable network's (32, 32, 32, 32) layer, one thread, forward 0.68 ->
0.36 ms and input gradient 0.78 -> 0.37 ms; its depthwise layers' three kernels together
9.2-9.7 -> 7.5-8.1 ms a step, in-process A/B at load ~4.6).

Numerics: the same operations in the same order as the NumPy kernels they stand in for, so
the same bits, with no fused multiply-adds (LLVM forms none from separate multiplies and
adds without fast-math flags). The forward sum is numpy_backend._nn_depthwise_into's:
x * w of the first tap, then + x * w of each other tap in row-major order. A tap that falls
in the padding adds 0 * w, as the NumPy path's padded copy does: a zero of w's sign (NaN
for an infinite or NaN w), which turns a sum of -0.0 into +0.0 (the kernel selects a zero
for it rather than reading the padding, so these bits are kept too). The input gradient is
_nn_depthwise_input_into's: each input pixel's sum over the taps whose windows read it, in
the taps' order, starting from +0.0 (0.0 + the first product), but at stride 1 from the
first tap's product itself where the first tap reads the pixel (the NumPy path writes that
tap's block rather than adding it to zeros); taps that do not read the pixel add nothing.
Where two NaNs meet in a sum, which one comes out (its sign) is not defined by NumPy either:
its vector loops and their scalar ends return different ones. The forward kernel applies a
fused convolution's per-channel epilogue (numpy_conv_native.epilogue_ir: BatchNormalization
and relu6, say) to each sum before it stores it, where given.
The filter gradient's sums are not the NumPy path's (a GEMV's, in OpenBLAS's order): each
tap's products of a piece of output rows summed over the rows and their pixels in order by
fused multiply-adds (taps in the padding add nothing), the pieces fixed by the shape
(numpy_backend._nn_native_depthwise_filter) and their sums added in order: the same bits on
any thread count, within a few ulps times the square root of the terms of float64's. (Its
channel blocks take turns over bands of rows, the sums kept in the result between bands:
each sum's terms in the same order, where each block used to read all the rows, half of
each cache line, from memory: (32, 32, 32, 64) 1.07 -> 0.8 ms on one thread, session 18.)
Each function returns None where it does not apply (no llvmlite, a CPU without AVX2 and FMA,
another dtype, a channel multiplier above 1, more than _MOST_TAPS taps), and the caller runs
its NumPy path.
"""

import numpy as np

from tensorflux.backends import numpy_conv_native, numpy_llvm
from tensorflux.backends.numpy_llvm import VectorBuilder

__all__ = ["depthwise_filter_grad_rows", "depthwise_input_grad_rows", "depthwise_rows"]

# The taps are unrolled, one kernel per filter size (7x7 at most; larger ones run NumPy's).
_MOST_TAPS = 49

# Integer arguments: rows [row0, row1) of the array written (n * its height), then the
# written array's (height, width), the read one's (height, width), channels, strides,
# dilations and the padding above and to the left.
_INTEGERS = ["row0", "row1", "ho", "wo", "hi", "wi", "c", "sh", "sw", "dh", "dw", "pt", "pl"]


def _channels(f, c, body):
    """body(at, load, store, zero) over the channels [0, c): in vectors of f's width, then
    one channel at a time for those that do not fill a vector; `load(base, offset)` and
    `store(value, base, offset)` move a vector (or one value) of channels at `at`."""
    whole = f.b.sub(c, f.b.srem(c, f.const(f.width)))
    load, store = _scalar_moves(f)
    f.loop(f.const(0), whole, lambda at: body(at, f.load_vector, f.store_vector, f.zero),
           step=f.width)
    f.loop(whole, c, lambda at: body(at, load, store, f.ir.Constant(f.float, 0.0)))


def _scalar_moves(f):
    """(load(base, offset), store(value, base, offset)) of one value of f's dtype."""
    def load(base, offset):
        return f.b.load(f.b.gep(base, [offset]), align=f.align)

    def store(value, base, offset):
        f.b.store(value, f.b.gep(base, [offset]), align=f.align)
    return load, store


def _inside(f, at, size):
    """Whether the i64 `at` lies in [0, size)."""
    return f.b.and_(f.b.icmp_signed(">=", at, f.const(0)), f.b.icmp_signed("<", at, size))


def _window_taps(f, kh, kw, r):
    """For output row r (image r // ho, row r % ho) of a depthwise convolution of x (n, hi,
    wi, c) read as padded by pt rows above and pl columns to the left: a function of an
    output pixel j giving, per tap in row-major order, (whether it lies inside x, the offset
    of its pixel in x, or 0 where it does not), and per tap row (whether it lies inside x,
    the offset of x's row)."""
    a, b = f.args, f.b
    image = b.sdiv(r, a["ho"])
    i = b.srem(r, a["ho"])
    x_row_stride = f.mul(a["wi"], a["c"])
    rows = []  # per tap row: (inside, offset of x's row)
    for ti in range(kh):
        at = b.sub(f.add(f.mul(i, a["sh"]), f.mul(f.const(ti), a["dh"])), a["pt"])
        rows.append((_inside(f, at, a["hi"]),
                     f.mul(f.add(f.mul(image, a["hi"]), at), x_row_stride)))

    def taps(j):
        found = []
        for ti in range(kh):
            for tj in range(kw):
                at = b.sub(f.add(f.mul(j, a["sw"]), f.mul(f.const(tj), a["dw"])), a["pl"])
                inside = b.and_(rows[ti][0], _inside(f, at, a["wi"]))
                offset = f.add(rows[ti][1], f.mul(at, a["c"]))
                found.append((inside, b.select(inside, offset, f.const(0))))
        return found
    return taps, rows


def _forward_ir(ir, module, dtype, kh, kw, steps=()):
    """depthwise(x, w, out, rows, *_INTEGERS): out (n, ho, wo, c) rows [row0, row1) (row r:
    image r // ho, output row r % ho) = the depthwise convolution of x (n, hi, wi, c), read as
    padded with zeros by pt rows above and pl columns to the left (and as far as the windows
    reach below and to the right), with w (kh, kw, c): _nn_depthwise_into's sums, then the
    epilogue `steps` in registers (numpy_conv_native.epilogue_ir; its k-th per-channel
    operand is rows[k * c + channel]). Channels that are whole vectors go by _by_blocks: the
    same operations on the same values, hence the same bits."""
    f = VectorBuilder(ir, module, "depthwise", dtype, ["x", "w", "out", "rows"], _INTEGERS)
    a = f.args
    b = f.b

    def finish(total, v, load, zero):
        if not steps:
            return total
        return numpy_conv_native.epilogue_ir(f, steps, total, [
            load(a["rows"], f.add(f.mul(f.const(k), a["c"]), v))
            for k in range(numpy_conv_native.epilogue_operands(steps))], zero)

    columns = _inner_columns(f, kw)
    whole = b.icmp_signed("==", b.srem(a["c"], f.const(f.width)), f.const(0))

    def row(r):
        taps_of, rows = _window_taps(f, kh, kw, r)
        out_row = f.mul(r, a["wo"], a["c"])

        def pixel(j):
            taps = taps_of(j)
            out_at = f.add(out_row, f.mul(j, a["c"]))

            def channels(v, load, store, zero):
                total = None
                for t, (inside, offset) in enumerate(taps):
                    # (a zero where the tap is in the padding: its product is 0 * w)
                    x = b.select(inside, load(a["x"], f.add(offset, v)), zero)
                    product = b.fmul(x, load(a["w"], f.add(f.mul(f.const(t), a["c"]), v)))
                    total = product if total is None else b.fadd(total, product)
                store(finish(total, v, load, zero), a["out"], f.add(out_at, v))
            _channels(f, a["c"], channels)

        def column_taps(j):
            found = []
            for tj in range(kw):
                at = b.sub(f.add(f.mul(j, a["sw"]), f.mul(f.const(tj), a["dw"])), a["pl"])
                found.append((_inside(f, at, a["wi"]), f.mul(at, a["c"])))
            return found
        inner = rows[0][0]
        for inside, _ in rows[1:]:
            inner = b.and_(inner, inside)
        f.if_else(whole, lambda: _by_blocks(
            f, kh * kw, columns, a["wo"], inner, rows, column_taps, out_row, a["x"],
            a["out"], False, lambda total, v: finish(total, v, f.load_vector, f.zero)),
            lambda: f.loop(f.const(0), a["wo"], pixel))
    f.loop(a["row0"], a["row1"], row)
    b.ret_void()


def _inner_columns(f, kw):
    """The output columns [first, last) whose windows lie inside x's columns: j * sw - pl >=
    0 and j * sw + (kw - 1) * dw - pl < wi."""
    a, b = f.args, f.b
    first = b.sdiv(f.add(a["pl"], b.sub(a["sw"], f.const(1))), a["sw"])
    reach = b.sub(f.add(a["wi"], a["pl"]), f.add(f.const(1), f.mul(f.const(kw - 1), a["dw"])))
    last = b.select(b.icmp_signed(">=", reach, f.const(0)),
                    f.add(b.sdiv(reach, a["sw"]), f.const(1)), f.const(0))
    return _clamped_range(f, first, last, a["wo"])


def _clamped_range(f, first, last, size):
    """(first, last) clamped to 0 <= first <= last <= size."""
    b = f.b

    def clamp(value, low, high):
        value = b.select(b.icmp_signed("<", value, low), low, value)
        return b.select(b.icmp_signed(">", value, high), high, value)
    first = clamp(first, f.const(0), size)
    return first, clamp(last, first, size)


def _by_blocks(f, count, columns, width, inner, row_taps, column_taps, out_row, source,
               target, skip, finish):
    """A row's pixels j in [0, width), a block of channel vectors at a time (c whole vectors)
    with its taps' w vectors loaded once, out of the pixels' loop: target[out_row + j * c +
    channel] = finish(the sum over the taps t in order of source[offset_t(j) + channel] *
    w[t * c + channel], channel). Tap t = (ti, tj) reads where row_taps[ti] = (inside,
    offset of its row) and column_taps(j)[tj] = (inside, offset in the row) both hold inside;
    elsewhere it reads a zero (its product 0 * w added, as the forward pass's padded copy
    does), or with `skip` adds nothing (the input gradient's taps that read no window: a sum
    that no tap reads is +0.0). The sum is the first tap's product itself, then + each
    other's. Inside `columns` every tap's column is inside, and where `inner` holds every
    row is: those pixels go without the selects."""
    a, b = f.args, f.b
    vectors = b.sdiv(a["c"], f.const(f.width))
    # (count * group w vectors held in registers: AVX-512's 32 take two vectors of 3x3 taps)
    group = 2 if numpy_llvm.lanes(np.float32) == 16 and 2 * count <= 24 else 1
    whole = b.sub(vectors, b.srem(vectors, f.const(group)))
    kw = count // len(row_taps)
    plus_zero = f.splat(0.0)

    def block(v0, nv):
        channels = [f.mul(f.add(v0, f.const(k)), f.const(f.width)) for k in range(nv)]
        taps = [[f.load_vector(a["w"], f.add(f.mul(f.const(t), a["c"]), v)) for v in channels]
                for t in range(count)]

        def pixel(j, rows_inside, columns_inside):
            cells = column_taps(j)
            out_at = f.add(out_row, f.mul(j, a["c"]))
            reads = []
            for t in range(count):
                (row_in, row_at), (column_in, column_at) = row_taps[t // kw], cells[t % kw]
                inside = None
                if not rows_inside:
                    inside = row_in
                if not columns_inside:
                    inside = column_in if inside is None else b.and_(inside, column_in)
                at = f.add(row_at, column_at)
                reads.append((inside, at if inside is None else b.select(inside, at,
                                                                         f.const(0))))
            for k, v in enumerate(channels):
                total = None
                for t, (inside, at) in enumerate(reads):
                    value = f.load_vector(source, f.add(at, v))
                    if inside is not None and not skip:
                        value = b.select(inside, value, f.zero)
                    product = b.fmul(value, taps[t][k])
                    added = product if total is None else b.fadd(total, product)
                    if inside is not None and skip:
                        added = b.select(inside, added, plus_zero if total is None else total)
                    total = added
                f.store_vector(finish(total, v), target, f.add(out_at, v))

        f.loop(f.const(0), columns[0], lambda j: pixel(j, False, False))
        f.if_else(inner, lambda: f.loop(*columns, lambda j: pixel(j, True, True)),
                  lambda: f.loop(*columns, lambda j: pixel(j, False, True)))
        f.loop(columns[1], width, lambda j: pixel(j, False, False))
    f.loop(f.const(0), whole, lambda v0: block(v0, group), step=group)
    f.loop(whole, vectors, lambda v0: block(v0, 1))


# The filter gradient's channel blocks take turns over bands of output rows of about this many
# pixels (a band read once from memory, then from cache by each block): where the blocks
# each went over all the rows, a layer of two blocks read its input and cotangent twice from
# memory, half of each cache line at a time ((32, 32, 32, 64): 1.07 -> 0.6 ms on one thread).
_BAND_PIXELS = 64


def _filter_grad_ir(ir, module, dtype, kh, kw, vectors, vector_tail):
    """depthwise_filter_grad(x, g, part, unused, *_INTEGERS): part (kh * kw, c) = the sum
    over the output rows [row0, row1) of g (n, ho, wo, c) and their pixels, in that order,
    of each tap's input value (x as in _forward_ir) times g, by fused multiply-adds; taps in
    the padding add nothing. Blocks of `vectors` channel vectors (`vector_tail` in the last)
    keep kh * kw * vectors sums in registers, over a band of rows at a time (about
    _BAND_PIXELS pixels; all the rows where one block holds every channel), the sums kept in
    `part` between bands: each sum's terms in the same order. The channels that do not fill
    a vector are summed one at a time, over all the rows."""
    f = VectorBuilder(ir, module, "depthwise_filter_grad", dtype, ["x", "g", "part", "unused"],
                      _INTEGERS)
    a = f.args
    b = f.b
    count = kh * kw
    columns = _inner_columns(f, kw)
    scalar_fma = f.module_function(f"llvm.fma.f{64 if dtype == np.float64 else 32}",
                                   [f.float] * 3, f.float)
    with b.goto_block(f.entry):
        scalar_slots = [[b.alloca(f.float)] for _ in range(count)]
    vector_slots = f.accumulators(count, vectors)

    def sums(channel0, width, groups, slots, fma, load, store, zero, row0, row1, resume):
        """The sums of channels channel0 + [0, groups * width) in groups of `width` over the
        rows [row0, row1), from zero or, where `resume`, from those in part."""
        at = [f.add(channel0, f.const(k * width)) for k in range(groups)]
        for t in range(count):
            for k in range(groups):
                b.store(load(a["part"], f.add(f.mul(f.const(t), a["c"]), at[k])) if resume
                        else zero, slots[t][k])

        def row(r):
            taps_of, rows = _window_taps(f, kh, kw, r)
            g_row = f.mul(r, a["wo"], a["c"])

            def inner_taps(j):
                """taps_of(j) where every tap lies inside x: the offsets, no selects."""
                column = b.sub(f.mul(j, a["sw"]), a["pl"])
                return [(None, f.add(rows[ti][1], f.mul(
                    f.add(column, f.mul(f.const(tj), a["dw"])), a["c"])))
                    for ti in range(kh) for tj in range(kw)]

            def pixel(j, checked=True):
                taps = taps_of(j) if checked else inner_taps(j)
                g_at = f.add(g_row, f.mul(j, a["c"]))
                for k in range(groups):
                    g = load(a["g"], f.add(g_at, at[k]))
                    for t, (inside, offset) in enumerate(taps):
                        slot = slots[t][k]
                        total = b.load(slot)
                        added = b.call(fma, [load(a["x"], f.add(offset, at[k])), g, total])
                        b.store(b.select(inside, added, total) if checked else added, slot)

            def split():
                f.loop(f.const(0), columns[0], pixel)
                f.loop(*columns, lambda j: pixel(j, False))
                f.loop(columns[1], a["wo"], pixel)
            inner = rows[0][0]
            for inside, _ in rows[1:]:
                inner = b.and_(inner, inside)
            # (where every tap of a row's inner pixels lies inside x, no selects)
            f.if_else(inner, split, lambda: f.loop(f.const(0), a["wo"], pixel))
        f.loop(row0, row1, row)
        for t in range(count):
            for k in range(groups):
                store(b.load(slots[t][k]), a["part"],
                      f.add(f.mul(f.const(t), a["c"]), at[k]))

    whole_vectors = b.sdiv(a["c"], f.const(f.width))
    whole = f.mul(whole_vectors, f.const(f.width))
    f.loop(f.const(0), f.const(count), lambda t: f.loop(
        f.const(0), whole, lambda v: f.store_vector(f.zero, a["part"], f.add(f.mul(t, a["c"]),
                                                                             v)),
        step=f.width))
    total_rows = b.sub(a["row1"], a["row0"])
    band = b.sdiv(f.const(_BAND_PIXELS), a["wo"])
    band = b.select(b.icmp_signed("<", band, f.const(1)), f.const(1), band)
    one_block = b.icmp_signed("<=", whole_vectors, f.const(vectors))
    band = b.select(one_block, b.select(b.icmp_signed("<", total_rows, f.const(1)), f.const(1),
                                        total_rows), band)

    def by_band(q):
        start = f.add(a["row0"], f.mul(q, band))
        stop = f.add(start, band)
        stop = b.select(b.icmp_signed(">", stop, a["row1"]), a["row1"], stop)

        def vector_block(v0, nv):
            sums(f.mul(v0, f.const(f.width)), f.width, nv, vector_slots, f.fma,
                 f.load_vector, f.store_vector, f.zero, start, stop, True)
        f.blocks(whole_vectors, vectors, vector_tail, vector_block)
    f.loop(f.const(0), b.sdiv(f.add(total_rows, band, f.const(-1)), band), by_band)
    f.loop(whole, a["c"], lambda channel: sums(
        channel, 1, 1, scalar_slots, scalar_fma, *_scalar_moves(f), ir.Constant(f.float, 0.0),
        a["row0"], a["row1"], False))
    b.ret_void()


def _input_grad_ir(ir, module, dtype, kh, kw):
    """depthwise_input_grad(g, w, dx, unused, *_INTEGERS): dx (n, ho, wo, c) rows [row0,
    row1) = the input gradient of a depthwise convolution with w (kh, kw, c) whose output
    cotangent is g (n, hi, wi, c), the input read as padded by pt rows above and pl columns
    to the left: _nn_depthwise_input_into's sums. At stride 1, channels that are whole
    vectors go by _by_blocks: the same operations on the same values, the same bits."""
    f = VectorBuilder(ir, module, "depthwise_input_grad", dtype, ["g", "w", "dx", "unused"],
                      _INTEGERS)
    a = f.args
    b = f.b
    g_row_stride = f.mul(a["wi"], a["c"])
    direct = b.and_(b.icmp_signed("==", a["sh"], f.const(1)),
                    b.icmp_signed("==", a["sw"], f.const(1)))
    slots = {}  # a pixel's sum of channels, by type (a vector's, one channel's)

    def slot_of(kind):
        if str(kind) not in slots:
            with b.goto_block(f.entry):
                slots[str(kind)] = b.alloca(kind)
        return slots[str(kind)]

    def reached(at, stride, size):
        """(whether a tap at padded position `at` is read by a window, that window)."""
        window = b.sdiv(at, stride)
        hit = b.and_(b.icmp_signed(">=", at, f.const(0)),
                     b.icmp_signed("==", b.srem(at, stride), f.const(0)))
        return b.and_(hit, b.icmp_signed("<", window, size)), window

    # inner columns at stride 1: j + pl - (kw - 1) * dw >= 0 and j + pl < wi
    columns = _clamped_range(f, b.sub(f.mul(f.const(kw - 1), a["dw"]), a["pl"]),
                             b.sub(a["wi"], a["pl"]), a["wo"])
    blocked = b.and_(direct, b.icmp_signed("==", b.srem(a["c"], f.const(f.width)),
                                           f.const(0)))

    def row(r):
        image = b.sdiv(r, a["ho"])
        y = f.add(b.srem(r, a["ho"]), a["pt"])
        rows = []
        for ti in range(kh):
            hit, window = reached(b.sub(y, f.mul(f.const(ti), a["dh"])), a["sh"], a["hi"])
            rows.append((hit, f.mul(f.add(f.mul(image, a["hi"]), window), g_row_stride)))
        dx_row = f.mul(r, a["wo"], a["c"])

        def column_taps(j):
            found = []
            for tj in range(kw):
                at = b.sub(f.add(j, a["pl"]), f.mul(f.const(tj), a["dw"]))
                found.append((_inside(f, at, a["wi"]), f.mul(at, a["c"])))
            return found
        inner = rows[0][0]
        for hit, _ in rows[1:]:
            inner = b.and_(inner, hit)

        def pixel(j):
            x = f.add(j, a["pl"])
            taps = []
            for ti in range(kh):
                for tj in range(kw):
                    hit, window = reached(b.sub(x, f.mul(f.const(tj), a["dw"])), a["sw"],
                                          a["wi"])
                    hit = b.and_(rows[ti][0], hit)
                    offset = f.add(rows[ti][1], f.mul(window, a["c"]))
                    taps.append((hit, b.select(hit, offset, f.const(0))))
            dx_at = f.add(dx_row, f.mul(j, a["c"]))

            def channels(v, load, store, zero):
                slot = slot_of(zero.type)
                b.store(zero, slot)
                for t, (hit, offset) in enumerate(taps):
                    def add(t=t, offset=offset):
                        product = b.fmul(load(a["g"], f.add(offset, v)),
                                         load(a["w"], f.add(f.mul(f.const(t), a["c"]), v)))
                        added = b.fadd(b.load(slot), product)
                        if t == 0:  # (at stride 1 the first tap's product is written as is)
                            added = b.select(direct, product, added)
                        b.store(added, slot)
                    # (a branch: at stride s only about 1 / s^2 of the taps read a pixel)
                    f.if_else(hit, add, lambda: None)
                store(b.load(slot), a["dx"], f.add(dx_at, v))
            _channels(f, a["c"], channels)
        # (at stride 1 a tap reads the pixel where it lies inside g, the first one's product
        # written as is)
        f.if_else(blocked, lambda: _by_blocks(
            f, kh * kw, columns, a["wo"], inner, rows, column_taps, dx_row, a["g"], a["dx"],
            True, lambda total, v: total), lambda: f.loop(f.const(0), a["wo"], pixel))
    f.loop(a["row0"], a["row1"], row)
    b.ret_void()


def _kernel(kind, dtype, *shape):
    """The compiled function for (kind, dtype, compile-time sizes), made on first use."""
    build = {"depthwise": _forward_ir, "depthwise_input_grad": _input_grad_ir,
             "depthwise_filter_grad": _filter_grad_ir}[kind]
    # (an epilogue's IR is numpy_conv_native's: its source is part of the key)
    shared = ((numpy_llvm.source_digest(numpy_conv_native.__file__),
               *numpy_conv_native.epilogue_sources(shape[2]))
              if kind == "depthwise" and shape[2:] else ())
    return numpy_llvm.compiled(
        (__name__, kind, np.dtype(dtype).str, shape, *shared), kind,
        lambda ir, module: build(ir, module, np.dtype(dtype), *shape), 4, len(_INTEGERS))


def _usable(taps, *arrays):
    """Whether the kernels take these NHWC arrays (one batch) and a filter of shape `taps`
    (kh, kw, c, multiplier 1)."""
    kh, kw, c, multiplier = taps
    return (numpy_llvm.contiguous(*arrays) and multiplier == 1 and 1 <= kh * kw <= _MOST_TAPS
            and all(a.ndim == 4 and a.shape[3] == c and a.shape[0] == arrays[0].shape[0]
                    for a in arrays)
            and numpy_llvm.available())


def _rows(kind, source, w, target, strides, dilations, pads, steps=(), rows=None):
    kh, kw, c, _ = w.shape
    function = _kernel(kind, source.dtype, kh, kw, *((steps,) if steps else ()))
    taps = np.ascontiguousarray(w.reshape(kh, kw, c))
    arrays = (source, taps, target, rows)  # (held by run: the kernel reads them by address)
    pointers = (source.ctypes.data, taps.ctypes.data, target.ctypes.data,
                0 if rows is None else rows.ctypes.data)
    sizes = (target.shape[1], target.shape[2], source.shape[1], source.shape[2], c,
             *strides, *dilations, *pads)

    def run(row0, row1, _held=arrays):
        function(*pointers, row0, row1, *sizes)
    return run


# The epilogue steps the forward kernel applies: numpy_conv_native's per-channel ones, and
# float32 sigmoid and swish (EfficientNet's depthwise convolution + BatchNormalization +
# swish), not its tensor steps.
_EPILOGUE_OPS = numpy_conv_native.EPILOGUE_OPS + ("sigmoid", "swish")


def depthwise_rows(x, w, out, strides, dilations, pads=(0, 0), epilogue=None):
    """A function run(row0, row1) writing the output rows [row0, row1) (row r: image r // ho,
    output row r % ho) of out (n, ho, wo, c) = the depthwise convolution of the NHWC input
    x, padded with zeros by pads = (rows above, columns to the left) and below and to the
    right as far as out's windows reach, with the filter w (kh, kw, c, 1), as
    numpy_backend._nn_depthwise_into computes it, then `epilogue` = (steps, rows) in
    registers where given (as numpy_conv_native.conv2d_rows takes it); x and out
    C-contiguous of one float dtype. None where the kernel does not apply."""
    steps, rows = epilogue or ((), None)
    steps = tuple((str(name), bool(first)) for name, first in steps)
    if not (type(w) is np.ndarray and w.dtype == x.dtype
            and _usable(w.shape, x, out)) or not out.size:
        return None
    if steps and (len(steps) > numpy_conv_native.EPILOGUE_MOST_STEPS
                  or any(name not in _EPILOGUE_OPS for name, _ in steps)
                  or (any(name in ("sigmoid", "swish") for name, _ in steps)
                      and not (x.dtype == np.float32 and numpy_conv_native.sigmoid_lowered()))
                  or not numpy_llvm.contiguous(x, rows)
                  or rows.shape != (numpy_conv_native.epilogue_operands(steps), out.shape[3])):
        return None
    return _rows("depthwise", x, w, out, strides, dilations, pads, steps,
                 rows if steps else None)


def depthwise_input_grad_rows(g, w, dx, strides, dilations, pads=(0, 0)):
    """A function run(row0, row1) writing the rows [row0, row1) (row r: image r // h, row
    r % h) of dx (n, h, wd, c) = the input gradient of the depthwise convolution of an input
    of dx's shape, padded by pads = (rows above, columns to the left), with the filter w
    (kh, kw, c, 1), for the output cotangent g (n, ho, wo, c), as numpy_backend's
    _nn_depthwise_input_into computes it; g and dx C-contiguous of one float dtype. None
    where the kernel does not apply."""
    if not (type(w) is np.ndarray and w.dtype == g.dtype
            and _usable(w.shape, g, dx)) or not dx.size:
        return None
    return _rows("depthwise_input_grad", g, w, dx, strides, dilations, pads)


def depthwise_filter_grad_rows(x, g, filter_shape, strides, dilations, pads=(0, 0)):
    """A function run(row0, row1, part) writing into part (kh * kw, c; C-contiguous, of x's
    dtype) the filter gradient of the depthwise convolution of the NHWC input x (read as
    padded by pads = (rows above, columns to the left)) over the output rows [row0, row1)
    (row r: image r // ho, row r % ho) of its cotangent g (n, ho, wo, c): each tap's products
    summed over those rows and their pixels in order (not NumPy's order: a GEMV's). None
    where the kernel does not apply (filter_shape (kh, kw, 1, c): a multiplier of 1)."""
    kh, kw, cg, o = filter_shape
    if cg != 1 or not _usable((kh, kw, o, 1), x, g) or not g.size:
        return None
    width = numpy_llvm.lanes(x.dtype)
    most = max(1, (numpy_llvm.registers()[0] * numpy_llvm.registers()[1]) // (kh * kw))
    function = _kernel("depthwise_filter_grad", x.dtype, kh, kw,
                       *numpy_llvm.blocking(max(1, o // width), most))
    arrays = (x, g)
    pointers = (x.ctypes.data, g.ctypes.data)
    sizes = (g.shape[1], g.shape[2], x.shape[1], x.shape[2], o, *strides, *dilations, *pads)

    def run(row0, row1, part, _held=arrays):
        if not (type(part) is np.ndarray and part.shape == (kh * kw, o)
                and part.dtype == x.dtype and part.flags.c_contiguous):
            raise ValueError(f"depthwise_filter_grad_rows needs a C-contiguous {x.dtype} "
                             f"array of shape {(kh * kw, o)}, received {part!r:.80}")
        function(*pointers, part.ctypes.data, 0, row0, row1, *sizes)
    return run
