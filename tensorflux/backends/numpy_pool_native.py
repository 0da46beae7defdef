"""Native max-pooling kernels for the NumPy backend: max_pool2d's window maxima, the 2x2,
stride-2 gradient, the gradient of overlapping windows (as 3x3 at stride 2: the separable
benchmark's pools: 16 -> 4 ms at (32, 32, 32, 64) float32 on two busy cores), the 2x2 gradient
fused into a shallow convolution's filter gradient (a first layer's), compiled through
llvmlite with numpy_llvm's code generator.

Why: NumPy makes a pass over memory per instruction, and the gradient's routing takes about
ten (copies into window order, maxima, comparisons, products, differences, a copy back).
These kernels read each window once from the NHWC input in place, a vector of channels at a
time, and write the result once; the fused one never writes the routed cotangent at all.
W2's (128, 26, 26, 32) first layer on this project's two cores (one): max_pool2d 0.75 ->
0.42 ms (1.24 -> 0.54), its gradient 3.5 -> 0.8 ms (5.2 -> 1.0), the fused pool + filter
gradient 4.5 -> 0.8 ms (6.8 -> 1.3).

The window maxima and the overlapping windows' gradient read the unpadded input in place as
padded with -inf (a tap in the padding reads the constant), and the gradient is written whole
(each image's zeroed just before its windows add into it, in cache) and contiguous: no
padded copy of the input, no zeroed padded result, no strided view of it for every reader
(session 18, the separable network's (32, 32, 32, 64) pool, one thread at load ~4: forward
1.4 -> 0.44 ms, gradient 2.5-3.3 -> 1.1-1.4 ms CPU; in its training step's profile,
MaxPool + MaxPoolGrad 19.9 -> 7.9 ms a step).

Numerics: the same operations in the same order as the NumPy kernels they stand in for, so
the same bits. The maxima are NumPy's maximum folded over the window in row-major order
(the running maximum first: a NaN wins, and of two equal values the later is kept, which
decides the sign of a zero). The gradient is numpy_backend._nn_pool_2x2_route's arithmetic
per element, g times 0/1 masks and differences (so the zeros carry the signs they carry
there); it reports, instead of computing, any input that path sends elsewhere (see
pool_grad_2x2). The overlapping windows' gradient is the general NumPy path's sum per input
element, +0.0 plus each routed cotangent in the order of the window offsets (row-major),
which is the windows' order last to first: the kernel takes them in that order (a window
whose first tap lies in the padding, its other taps all -inf, routes its cotangent to the
padding, nowhere, as the padded copy does). Each
function returns None where it does not apply, and the caller runs its NumPy path.
"""

import numpy as np

from tensorflux.backends import numpy_depthwise_native, numpy_llvm
from tensorflux.backends.numpy_llvm import VectorBuilder

__all__ = ["pool_filter_grad_rows", "pool_grad_2x2", "pool_grad_overlap", "pool_max_rows"]


# Integer arguments of pool_grad: rows [row0, row1) of the output (n * ho of them), the output's
# (ho, wo), channels, strides and the input's (padded) height and width.
_INTEGERS = ["row0", "row1", "ho", "wo", "c", "sh", "sw", "hp", "wp"]
# Those of pool_max and pool_grad_overlap, which read an unpadded input as padded (the
# depthwise kernels' window geometry): rows [row0, row1) (images for pool_grad_overlap), the
# output's (ho, wo), the input's (hi, wi), channels, strides, dilations (1) and the padding
# above and to the left.
_EDGE_INTEGERS = numpy_depthwise_native._INTEGERS


def _window_reads(f, kh, kw, r, image_base):
    """For output row r (image r // ho, row r % ho) of a pool over x (n, hi, wi, c) read as
    padded with the lowest value by pt rows above and pl columns to the left (and below and
    to the right as far as the windows reach): (reads(j, checked), inner), where reads gives
    output pixel j's taps in row-major order as (inside, offset in x): `inside` an i1, or
    None where not `checked` (a pixel of the inner columns of an `inner` row, its taps all
    inside x); an offset outside x is replaced by image_base (an element of the same image,
    safe to read, and to write back as read)."""
    b = f.b
    taps_of, rows = numpy_depthwise_native._window_taps(f, kh, kw, r)
    inner = rows[0][0]
    for inside, _ in rows[1:]:
        inner = b.and_(inner, inside)

    def reads(j, checked):
        if checked:
            return [(inside, b.select(inside, offset, image_base))
                    for inside, offset in taps_of(j)]
        column = b.sub(f.mul(j, f.args["sw"]), f.args["pl"])
        return [(None, f.add(rows[ti][1], f.mul(f.add(column, f.mul(f.const(tj), f.args["dw"])),
                                                f.args["c"])))
                for ti in range(kh) for tj in range(kw)]
    return reads, inner


def _by_columns(f, kw, inner, pixel, descending=False):
    """pixel(j, checked) over the output columns [0, wo) of windows kw wide, those whose
    taps all lie inside x's columns unchecked where the row is `inner`; from the last to the
    first where `descending`."""
    a, b = f.args, f.b
    first, last = numpy_depthwise_native._inner_columns(f, kw)

    def over(start, stop, checked):
        if descending:
            f.loop(f.const(0), b.sub(stop, start),
                   lambda s: pixel(b.sub(f.add(stop, f.const(-1)), s), checked))
        else:
            f.loop(start, stop, lambda j: pixel(j, checked))
    spans = [(f.const(0), first, True), (first, last, False), (last, a["wo"], True)]

    def split():
        for start, stop, checked in (spans[::-1] if descending else spans):
            over(start, stop, checked)
    f.if_else(inner, split, lambda: over(f.const(0), a["wo"], True))


def _pool_max_ir(ir, module, dtype, kh, kw):
    """pool_max(x, out, unused, unused, *_EDGE_INTEGERS): out[r, j] = the window maximum
    over the kh x kw taps of x (n, hi, wi, c) read as padded with -inf by pt rows above and
    pl columns to the left (and as far as the windows reach below and to the right), for
    output rows r in [row0, row1); c a multiple of the vector width. A tap in the padding
    reads -inf (a constant rather than a padded copy: the same operations on the same
    values)."""
    f = VectorBuilder(ir, module, "pool_max", dtype, ["x", "out", "unused", "unused2"],
                      _EDGE_INTEGERS)
    a = f.args
    b = f.b
    lowest = f.splat(float("-inf"))

    def row(r):
        reads, inner = _window_reads(f, kh, kw, r, f.const(0))
        out_row = f.mul(r, a["wo"], a["c"])

        def pixel(j, checked):
            taps = reads(j, checked)
            out_at = f.add(out_row, f.mul(j, a["c"]))

            def channels(v):
                peak = None
                for inside, offset in taps:
                    value = f.load_vector(a["x"], f.add(offset, v))
                    if inside is not None:
                        value = b.select(inside, value, lowest)
                    if peak is None:
                        peak = value
                        continue
                    # NumPy's maximum(peak, value): peak where NaN or greater, else value.
                    keep = b.or_(b.fcmp_unordered("uno", peak, peak),
                                 b.fcmp_ordered(">", peak, value))
                    peak = b.select(keep, peak, value)
                f.store_vector(peak, a["out"], f.add(out_at, v))
            f.loop(f.const(0), a["c"], channels, step=f.width)
        _by_columns(f, kw, inner, pixel)
    f.loop(a["row0"], a["row1"], row)
    b.ret_void()


def _routing_checks(ir, f):
    """For a routing kernel: (a slot of per-lane flags, cleared, where values outside the
    bound were seen; outside(value), the lanes that are NaN or beyond +-state[0: width];
    as_mask(condition), 1.0 where it holds, else 0.0)."""
    b = f.b
    limit = f.load_vector(f.args["state"], f.const(0))
    low = b.fneg(limit)
    one = ir.Constant(f.vector, [1.0] * f.width)
    flags = ir.VectorType(ir.IntType(1), f.width)
    with b.goto_block(f.entry):
        bad = b.alloca(flags)
    b.store(ir.Constant(flags, [0] * f.width), bad)

    def outside(value):
        return b.or_(b.fcmp_unordered(">", value, limit), b.fcmp_unordered("<", value, low))

    def as_mask(condition):
        return b.select(condition, one, f.zero)
    return bad, outside, as_mask


def _pool_grad_ir(ir, module, dtype):
    """pool_grad(x, g, dx, state, *_INTEGERS): for pooled rows r in [row0, row1) of 2x2
    windows at stride 2, g routed into dx (x's layout) as _nn_pool_2x2_route routes it, and
    state[width: 2 * width] set nonzero where a value of g or x is not within
    +-state[0: width] (NaN included)."""
    f = VectorBuilder(ir, module, "pool_grad", dtype, ["x", "g", "dx", "state"], _INTEGERS)
    a = f.args
    b = f.b
    row_stride = f.mul(a["wp"], a["c"])
    bad, outside, as_mask = _routing_checks(ir, f)

    def row(r):
        image = b.sdiv(r, a["ho"])
        i = b.srem(r, a["ho"])
        top = f.mul(f.add(f.mul(image, a["hp"]), f.mul(i, f.const(2))), row_stride)
        g_row = f.mul(r, a["wo"], a["c"])

        def pixel(j):
            x00 = f.add(top, f.mul(j, f.const(2), a["c"]))
            g_at = f.add(g_row, f.mul(j, a["c"]))

            def channels(v):
                at = [f.add(x00, v), f.add(x00, a["c"], v), f.add(x00, row_stride, v),
                      f.add(x00, row_stride, a["c"], v)]
                x = [f.load_vector(a["x"], offset) for offset in at]
                g = f.load_vector(a["g"], f.add(g_at, v))
                left_first = [b.fcmp_ordered(">=", x[0], x[1]), b.fcmp_ordered(">=", x[2], x[3])]
                # (Where all four are within bounds, any maximum of a pair will do: which of
                # two equal zeros it is does not change the comparison below. The bound on
                # x itself is stricter than NumPy's on the row maxima: an -inf beside a
                # finite value also goes to the NumPy path, which gives the same bits.)
                row_max = [b.select(left_first[0], x[0], x[1]),
                           b.select(left_first[1], x[2], x[3])]
                seen = outside(g)
                for value in x:
                    seen = b.or_(seen, outside(value))
                b.store(b.or_(b.load(bad), seen), bad)
                by_row = [b.fmul(g, as_mask(b.fcmp_ordered(">=", row_max[0], row_max[1])))]
                by_row.append(b.fsub(g, by_row[0]))
                for k in range(2):
                    first = b.fmul(by_row[k], as_mask(left_first[k]))
                    f.store_vector(first, a["dx"], at[2 * k])
                    f.store_vector(b.fsub(by_row[k], first), a["dx"], at[2 * k + 1])
            f.loop(f.const(0), a["c"], channels, step=f.width)
        f.loop(f.const(0), a["wo"], pixel)
    f.loop(a["row0"], a["row1"], row)
    f.store_vector(as_mask(b.load(bad)), a["state"], f.const(f.width))
    b.ret_void()


def _pool_grad_overlap_ir(ir, module, dtype, kh, kw):
    """pool_grad_overlap(x, g, dx, unused, *_EDGE_INTEGERS): for the images [row0, row1) of
    x (n, hi, wi, c), read as padded as pool_max reads it, dx (x's shape) = +0.0 plus each
    window's cotangent g added at the window's first maximum (in row-major order; a NaN
    counts as the maximum; one in the padding takes it nowhere), the windows taken from the
    last to the first: numpy_backend.max_pool2d_grad's general path adds the routed values
    offset by offset into a zeroed padded copy, which brings each input element the
    windows' values in that order. Each image's dx is zeroed just before its windows run
    (while it is in cache)."""
    f = VectorBuilder(ir, module, "pool_grad_overlap", dtype, ["x", "g", "dx", "unused"],
                      _EDGE_INTEGERS)
    a = f.args
    b = f.b
    i32 = ir.IntType(32)
    index_vector = ir.VectorType(i32, f.width)
    lowest = f.splat(float("-inf"))
    last = f.const(-1)

    def image(m):
        size = f.mul(a["hi"], a["wi"], a["c"])
        x_image = f.mul(m, size)
        f.loop(x_image, f.add(x_image, size),
               lambda at: f.store_vector(f.zero, a["dx"], at), step=f.width)

        def row(t):
            r = f.add(f.mul(m, a["ho"]), a["ho"], last, b.neg(t))
            reads, inner = _window_reads(f, kh, kw, r, x_image)
            g_row = f.mul(r, a["wo"], a["c"])

            def pixel(j, checked):
                taps = reads(j, checked)
                g_at = f.add(g_row, f.mul(j, a["c"]))

                def channels(v):
                    at = [f.add(offset, v) for _, offset in taps]
                    values = []
                    for (inside, _), offset in zip(taps, at):
                        value = f.load_vector(a["x"], offset)
                        values.append(value if inside is None
                                      else b.select(inside, value, lowest))
                    peak = values[0]
                    first = ir.Constant(index_vector, [0] * f.width)
                    for k in range(1, len(at)):
                        # Moves on where the peak is not NaN and the value is NaN or greater.
                        moves = b.and_(b.fcmp_ordered("ord", peak, peak),
                                       b.fcmp_unordered(">", values[k], peak))
                        peak = b.select(moves, values[k], peak)
                        first = b.select(moves, ir.Constant(index_vector, [k] * f.width), first)
                    g = f.load_vector(a["g"], f.add(g_at, v))
                    for k, (inside, _) in enumerate(taps):
                        hit = b.icmp_signed("==", first, ir.Constant(index_vector, [k] * f.width))
                        held = f.load_vector(a["dx"], at[k])
                        # (+0.0 elsewhere: adding it leaves every sum that began at +0.0 as is)
                        total = b.fadd(held, b.select(hit, g, f.zero))
                        if inside is not None:  # (in the padding: its own value written back)
                            total = b.select(inside, total, held)
                        f.store_vector(total, a["dx"], at[k])
                f.loop(f.const(0), a["c"], channels, step=f.width)
            _by_columns(f, kw, inner, pixel, descending=True)
        f.loop(f.const(0), a["ho"], row)
    f.loop(a["row0"], a["row1"], image)
    b.ret_void()


_FUSED_INTEGERS = ["row0", "row1", "ho", "wo", "o", "sh", "sw", "dh", "dw", "hp", "wp"]


def _pool_filter_grad_ir(ir, module, dtype, kh, kw, c, vectors, vector_tail):
    """pool_filter_grad(x, y, g, result, state, *_FUSED_INTEGERS): result (kh, kw, c, o) =
    the filter gradient of a convolution of the padded NHWC input x (n, hp, wp, c) over its
    output rows [row0, row1) (row r: image r // ho, output row r % ho), for the cotangent
    that 2x2 windows at stride 2 tiling its output y (n, ho, wo, o) route from theirs, g
    (n, ho / 2, wo / 2, o); state as pool_grad's. Each routed value is pool_grad's, each
    sum numpy_conv_native's filter gradient's (a chain of multiply-adds over the rows and
    pixels in order): the kernels' bits, without the routed cotangent written out. Blocks
    of `vectors` output channel vectors (`vector_tail` in the last) keep kh * kw * c *
    vectors sums in registers; each output row computes the routing of its window row."""
    f = VectorBuilder(ir, module, "pool_filter_grad", dtype,
                        ["x", "y", "g", "result", "state"], _FUSED_INTEGERS)
    a = f.args
    b = f.b
    taps = [(i, j, ci) for i in range(kh) for j in range(kw) for ci in range(c)]
    acc = f.accumulators(len(taps), vectors)
    x_row_stride = f.mul(a["wp"], f.const(c))
    y_row_stride = f.mul(a["wo"], a["o"])
    pooled_wo = b.sdiv(a["wo"], f.const(2))
    bad, outside, as_mask = _routing_checks(ir, f)

    def channel_block(v0, nv):
        f.zero_all(acc, len(taps), nv)
        channel0 = f.mul(v0, f.const(f.width))

        def row(r):
            image = b.sdiv(r, a["ho"])
            i = b.srem(r, a["ho"])
            top_row = b.icmp_signed("==", b.srem(i, f.const(2)), f.const(0))
            pair = b.sub(i, b.srem(i, f.const(2)))
            y_top = f.add(f.mul(f.add(f.mul(image, a["ho"]), pair), y_row_stride), channel0)
            g_row = f.add(f.mul(f.add(f.mul(image, b.sdiv(a["ho"], f.const(2))),
                                      b.sdiv(i, f.const(2))), pooled_wo, a["o"]), channel0)
            x_row = f.mul(f.add(f.mul(image, a["hp"]), f.mul(i, a["sh"])), x_row_stride)

            def window(q):
                y_at = f.add(y_top, f.mul(q, f.const(2), a["o"]))
                g_at = f.add(g_row, f.mul(q, a["o"]))
                routed = [[], []]
                for v in range(nv):
                    at = f.const(v * f.width)
                    x00 = f.add(y_at, at)
                    y = [f.load_vector(a["y"], x00),
                         f.load_vector(a["y"], f.add(x00, a["o"])),
                         f.load_vector(a["y"], f.add(x00, y_row_stride)),
                         f.load_vector(a["y"], f.add(x00, y_row_stride, a["o"]))]
                    g = f.load_vector(a["g"], f.add(g_at, at))
                    seen = outside(g)
                    for value in y:
                        seen = b.or_(seen, outside(value))
                    b.store(b.or_(b.load(bad), seen), bad)
                    # (pool_grad's arithmetic, of the window row this output row is)
                    left_first = [b.fcmp_ordered(">=", y[0], y[1]),
                                  b.fcmp_ordered(">=", y[2], y[3])]
                    row_max = [b.select(left_first[0], y[0], y[1]),
                               b.select(left_first[1], y[2], y[3])]
                    upper = b.fmul(g, as_mask(b.fcmp_ordered(">=", row_max[0], row_max[1])))
                    by_row = b.select(top_row, upper, b.fsub(g, upper))
                    first = b.fmul(by_row, as_mask(b.select(top_row, left_first[0],
                                                            left_first[1])))
                    routed[0].append(first)
                    routed[1].append(b.fsub(by_row, first))
                for side in range(2):
                    j = f.add(f.mul(q, f.const(2)), f.const(side))
                    x_at = f.add(x_row, f.mul(j, a["sw"], f.const(c)))
                    for t, (ti, tj, ci) in enumerate(taps):
                        scalar = f.broadcast(a["x"], f.add(
                            x_at, f.mul(f.const(ti), a["dh"], x_row_stride),
                            f.mul(f.const(tj), a["dw"], f.const(c)), f.const(ci)))
                        for v in range(nv):
                            slot = acc[t][v]
                            b.store(b.call(f.fma, [scalar, routed[side][v], b.load(slot)]),
                                    slot)
            f.loop(f.const(0), pooled_wo, window)
        f.loop(a["row0"], a["row1"], row)
        for t in range(len(taps)):
            for v in range(nv):
                f.store_vector(b.load(acc[t][v]), a["result"],
                               f.add(f.mul(f.const(t), a["o"]), channel0,
                                     f.const(v * f.width)))
    f.blocks(b.sdiv(a["o"], f.const(f.width)), vectors, vector_tail, channel_block)
    f.store_vector(as_mask(b.load(bad)), a["state"], f.const(f.width))
    b.ret_void()


def _kernel(kind, dtype, *shape):
    """The compiled function for (kind, dtype, compile-time sizes), made on first use."""
    build = {"pool_max": _pool_max_ir, "pool_grad": _pool_grad_ir,
             "pool_grad_overlap": _pool_grad_overlap_ir,
             "pool_filter_grad": _pool_filter_grad_ir}[kind]
    pointers, integers = {"pool_filter_grad": (5, _FUSED_INTEGERS),
                          "pool_grad": (4, _INTEGERS)}.get(kind, (4, _EDGE_INTEGERS))
    # (the window geometry of pool_max and pool_grad_overlap is numpy_depthwise_native's: its
    # source is part of their key)
    shared = (() if kind in ("pool_grad", "pool_filter_grad")
              else (numpy_llvm.source_digest(numpy_depthwise_native.__file__),))
    return numpy_llvm.compiled(
        (__name__, kind, np.dtype(dtype).str, shape, *shared), kind,
        lambda ir, module: build(ir, module, np.dtype(dtype), *shape), pointers, len(integers))


def _usable(x, *arrays):
    return (type(x) is np.ndarray and x.dtype in (np.float32, np.float64) and x.ndim == 4
            and numpy_llvm.available() and x.shape[3] % numpy_llvm.lanes(x.dtype) == 0
            and all(type(a) is np.ndarray and a.dtype == x.dtype and a.flags.c_contiguous
                    for a in (x,) + arrays))


def pool_max_rows(x, out, ksize, strides, pads=(0, 0)):
    """A function run(row0, row1) writing into out (n, ho, wo, c) the output rows
    [row0, row1) (row r: image r // ho, output row r % ho) of the max pool of the NHWC input
    x read as padded with -inf by pads = (rows above, columns to the left) and below and to
    the right as far as out's windows reach, with windows `ksize` at `strides`, as
    numpy_backend._nn_pool_max computes them on its padded copy; None where the kernel
    does not apply."""
    if not _usable(x, out) or out.shape[3] != x.shape[3] or out.shape[0] != x.shape[0]:
        return None
    kh, kw = ksize
    if not out.size or not 1 <= kh * kw <= 16:  # (the taps are unrolled)
        return None
    function = _kernel("pool_max", x.dtype, kh, kw)
    _, hi, wi, c = x.shape
    _, ho, wo, _ = out.shape
    arrays = (x, out)  # (held by run: the kernel reads them by address)
    pointers = (x.ctypes.data, out.ctypes.data, 0, 0)
    sizes = (ho, wo, hi, wi, c, *strides, 1, 1, *pads)

    def run(row0, row1, _held=arrays):
        function(*pointers, row0, row1, *sizes)
    return run


def pool_grad_2x2(x, g, dx, count=None):
    """A function run(row0, row1) -> bool routing the cotangent g (n, ho, wo, c) of 2x2
    windows at stride 2 over x (n, h, w, c; h >= 2 * ho, w >= 2 * wo) into dx (x's shape)
    for the pooled rows [row0, row1) (row r: image r // ho, row r % ho), as
    numpy_backend._nn_pool_2x2_grad does; dx's rows and columns past 2 * ho, 2 * wo are
    left alone. run returns False where any value of g or x is not within a bound that keeps
    a sum of all of them finite (the NumPy path checks its inputs by such sums and routes
    non-finite ones otherwise; `count`, where given, is the size of the g those sums are
    over, if g is part of it): the caller must then run the NumPy path (dx is partly
    written).
    None where the kernel does not apply."""
    if not _usable(x, g, dx) or dx.shape != x.shape or g.shape[3] != x.shape[3]:
        return None
    n, h, w, c = x.shape
    _, ho, wo, _ = g.shape
    if g.shape[0] != n or 2 * ho > h or 2 * wo > w or not g.size:
        return None
    function = _kernel("pool_grad", x.dtype)
    width = numpy_llvm.lanes(x.dtype)
    # NumPy's sums are over g and the 2 * g.size row maxima, or parts of them: within
    # +-limit they stay finite in any order of additions, with room for rounding.
    limit = np.finfo(x.dtype).max / (12.0 * max(g.size, count or 0))
    arrays = (x, g, dx)
    pointers = (x.ctypes.data, g.ctypes.data, dx.ctypes.data)
    sizes = (ho, wo, c, 2, 2, h, w)

    def run(row0, row1, _held=arrays):
        state = np.empty(2 * width, x.dtype)
        state[:width] = limit
        function(*pointers, state.ctypes.data, row0, row1, *sizes)
        return not state[width:].any()
    return run


def pool_grad_overlap(x, g, dx, ksize, strides, pads=(0, 0)):
    """A function run(image0, image1) writing into dx (x's shape) the gradient, for the
    cotangent g (n, ho, wo, c), of the max pool of the NHWC input x read as padded with
    -inf by pads = (rows above, columns to the left) (and below and to the right as far as
    g's windows reach), with windows `ksize` at `strides` that overlap (some window size
    above its stride), for the images [image0, image1), as numpy_backend.max_pool2d_grad's
    general path sums it on its padded copy; None where the kernel does not apply."""
    if (not _usable(x, g, dx) or dx.shape != x.shape or g.shape[0] != x.shape[0]
            or g.shape[3] != x.shape[3] or not g.size):
        return None
    (kh, kw), (sh, sw) = ksize, strides
    _, hi, wi, c = x.shape
    _, ho, wo, _ = g.shape
    if not 1 <= kh * kw <= 16 or (kh <= sh and kw <= sw):
        return None
    function = _kernel("pool_grad_overlap", x.dtype, kh, kw)
    arrays = (x, g, dx)
    pointers = (x.ctypes.data, g.ctypes.data, dx.ctypes.data, 0)
    sizes = (ho, wo, hi, wi, c, sh, sw, 1, 1, *pads)

    def run(image0, image1, _held=arrays):
        function(*pointers, image0, image1, *sizes)
    return run


def pool_filter_grad_rows(xp, y, g, filter_shape, strides, dilations, count=None):
    """A function run(row0, row1, out) -> bool writing into `out` (the filter's shape,
    C-contiguous) what numpy_conv_native.filter_grad_rows(xp, routed, ...) writes for the
    output rows [row0, row1), where routed is the cotangent of the 2x2, stride-2 max pool
    of y (the convolution's output, which its windows tile) that pool_grad_2x2(y, g, ...)
    routes; False (out then unspecified) where pool_grad_2x2's run would be. None where the
    kernel does not apply (it keeps kh * kw * c * a vector of sums in registers: shallow
    filters, as a first layer's)."""
    if not _usable(y, g, xp) or not numpy_llvm.contiguous(xp):
        return None
    n, ho, wo, o = y.shape
    kh, kw, c, fo = filter_shape
    sums = numpy_llvm.registers()[0] * numpy_llvm.registers()[1]
    if (fo != o or xp.shape[3] != c or xp.shape[0] != n or g.shape != (n, ho // 2, wo // 2, o)
            or ho % 2 or wo % 2 or not g.size or kh * kw * c > sums):
        return None
    width = numpy_llvm.lanes(y.dtype)
    blocks = numpy_llvm.blocking(o // width, max(1, sums // (kh * kw * c)))
    function = _kernel("pool_filter_grad", y.dtype, kh, kw, c, *blocks)
    limit = np.finfo(y.dtype).max / (12.0 * max(g.size, count or 0))
    arrays = (xp, y, g)
    pointers = tuple(array.ctypes.data for array in arrays)
    (sh, sw), (dh, dw) = strides, dilations
    sizes = (ho, wo, o, sh, sw, dh, dw, xp.shape[1], xp.shape[2])

    def run(row0, row1, out, _held=arrays):
        if not (type(out) is np.ndarray and out.shape == tuple(filter_shape)
                and out.dtype == y.dtype and out.flags.c_contiguous):
            raise ValueError(f"pool_filter_grad_rows needs a C-contiguous {y.dtype} array of "
                             f"shape {tuple(filter_shape)}, received {out!r:.80}")
        state = np.empty(2 * width, y.dtype)
        state[:width] = limit
        function(*pointers, out.ctypes.data, state.ctypes.data, row0, row1, *sizes)
        return not state[width:].any()
    return run
