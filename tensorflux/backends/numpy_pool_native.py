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

Numerics: the same operations in the same order as the NumPy kernels they stand in for, so
the same bits. The maxima are NumPy's maximum folded over the window in row-major order
(the running maximum first: a NaN wins, and of two equal values the later is kept, which
decides the sign of a zero). The gradient is numpy_backend._nn_pool_2x2_route's arithmetic
per element, g times 0/1 masks and differences (so the zeros carry the signs they carry
there); it reports, instead of computing, any input that path sends elsewhere (see
pool_grad_2x2). The overlapping windows' gradient is the general NumPy path's sum per input
element, +0.0 plus each routed cotangent in the order of the window offsets (row-major),
which is the windows' order last to first: the kernel takes them in that order. Each
function returns None where it does not apply, and the caller runs its NumPy path.
"""

import numpy as np

from tensorflux.backends import numpy_llvm
from tensorflux.backends.numpy_llvm import VectorBuilder

__all__ = ["pool_filter_grad_rows", "pool_grad_2x2", "pool_grad_overlap", "pool_max_rows"]


# Integer arguments of pool_max and pool_grad: rows [row0, row1) of the output (n * ho of them), the
# output's (ho, wo), channels, strides and the input's (padded) height and width.
_INTEGERS = ["row0", "row1", "ho", "wo", "c", "sh", "sw", "hp", "wp"]


def _pool_max_ir(ir, module, dtype, kh, kw):
    """pool_max(x, out, unused, unused, *_INTEGERS): out[r, j] = the window maximum over the
    kh x kw taps, for output rows r in [row0, row1); c a multiple of the vector width."""
    f = VectorBuilder(ir, module, "pool_max", dtype, ["x", "out", "unused", "unused2"],
                        _INTEGERS)
    a = f.args
    row_stride = f.mul(a["wp"], a["c"])
    pixel_stride = f.mul(a["sw"], a["c"])

    def row(r):
        image = f.b.sdiv(r, a["ho"])
        i = f.b.srem(r, a["ho"])
        x_row = f.mul(f.add(f.mul(image, a["hp"]), f.mul(i, a["sh"])), row_stride)
        out_row = f.mul(r, a["wo"], a["c"])

        def pixel(j):
            x_at = f.add(x_row, f.mul(j, pixel_stride))
            out_at = f.add(out_row, f.mul(j, a["c"]))

            def channels(v):
                peak = None
                for ti in range(kh):
                    for tj in range(kw):
                        at = f.add(x_at, f.mul(f.const(ti), row_stride),
                                   f.mul(f.const(tj), a["c"]), v)
                        value = f.load_vector(a["x"], at)
                        if peak is None:
                            peak = value
                            continue
                        # NumPy's maximum(peak, value): peak where NaN or greater, else value.
                        keep = f.b.or_(f.b.fcmp_unordered("uno", peak, peak),
                                       f.b.fcmp_ordered(">", peak, value))
                        peak = f.b.select(keep, peak, value)
                f.store_vector(peak, a["out"], f.add(out_at, v))
            f.loop(f.const(0), a["c"], channels, step=f.width)
        f.loop(f.const(0), a["wo"], pixel)
    f.loop(a["row0"], a["row1"], row)
    f.b.ret_void()


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
    """pool_grad_overlap(x, g, dx, unused, *_INTEGERS): for the images [row0, row1) of the
    padded input x, each window's cotangent g added into dx (x's shape, zeros on entry) at
    the window's first maximum (in row-major order; a NaN counts as the maximum), the
    windows taken from the last to the first: numpy_backend.max_pool2d_grad's general path
    adds the routed values offset by offset, which brings each input element the windows'
    values in that order."""
    f = VectorBuilder(ir, module, "pool_grad_overlap", dtype, ["x", "g", "dx", "unused"],
                      _INTEGERS)
    a = f.args
    b = f.b
    i32 = ir.IntType(32)
    index_vector = ir.VectorType(i32, f.width)
    row_stride = f.mul(a["wp"], a["c"])
    last = f.const(-1)

    def image(m):
        x_image = f.mul(m, a["hp"], row_stride)
        g_image = f.mul(m, a["ho"], a["wo"], a["c"])

        def row(t):
            i = f.add(a["ho"], last, b.neg(t))
            x_row = f.add(x_image, f.mul(i, a["sh"], row_stride))
            g_row = f.add(g_image, f.mul(i, a["wo"], a["c"]))

            def pixel(s):
                j = f.add(a["wo"], last, b.neg(s))
                x_at = f.add(x_row, f.mul(j, a["sw"], a["c"]))
                g_at = f.add(g_row, f.mul(j, a["c"]))

                def channels(v):
                    at = [f.add(x_at, f.mul(f.const(ti), row_stride), f.mul(f.const(tj), a["c"]),
                                v) for ti in range(kh) for tj in range(kw)]
                    peak = f.load_vector(a["x"], at[0])
                    first = ir.Constant(index_vector, [0] * f.width)
                    for k in range(1, len(at)):
                        value = f.load_vector(a["x"], at[k])
                        # Moves on where the peak is not NaN and the value is NaN or greater.
                        moves = b.and_(b.fcmp_ordered("ord", peak, peak),
                                       b.fcmp_unordered(">", value, peak))
                        peak = b.select(moves, value, peak)
                        first = b.select(moves, ir.Constant(index_vector, [k] * f.width), first)
                    g = f.load_vector(a["g"], f.add(g_at, v))
                    for k in range(len(at)):
                        hit = b.icmp_signed("==", first, ir.Constant(index_vector, [k] * f.width))
                        # (+0.0 elsewhere: adding it leaves every sum that began at +0.0 as is.)
                        total = b.fadd(f.load_vector(a["dx"], at[k]), b.select(hit, g, f.zero))
                        f.store_vector(total, a["dx"], at[k])
                f.loop(f.const(0), a["c"], channels, step=f.width)
            f.loop(f.const(0), a["wo"], pixel)
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
    pointers, integers = ((5, _FUSED_INTEGERS) if kind == "pool_filter_grad"
                          else (4, _INTEGERS))
    return numpy_llvm.compiled(
        (__name__, kind, np.dtype(dtype).str, shape), kind,
        lambda ir, module: build(ir, module, np.dtype(dtype), *shape), pointers, len(integers))


def _usable(x, *arrays):
    return (type(x) is np.ndarray and x.dtype in (np.float32, np.float64) and x.ndim == 4
            and numpy_llvm.available() and x.shape[3] % numpy_llvm.lanes(x.dtype) == 0
            and all(type(a) is np.ndarray and a.dtype == x.dtype and a.flags.c_contiguous
                    for a in (x,) + arrays))


def pool_max_rows(xp, out, ksize, strides):
    """A function run(row0, row1) writing into out (n, ho, wo, c) the output rows
    [row0, row1) (row r: image r // ho, output row r % ho) of the max pool of the padded
    NHWC input xp with windows `ksize` at `strides`, as numpy_backend._nn_pool_max computes
    them; None where the kernel does not apply."""
    if not _usable(xp, out) or out.shape[3] != xp.shape[3] or not out.size:
        return None
    kh, kw = ksize
    if not 1 <= kh * kw <= 16:  # (the taps are unrolled)
        return None
    function = _kernel("pool_max", xp.dtype, kh, kw)
    _, hp, wp, c = xp.shape
    _, ho, wo, _ = out.shape
    arrays = (xp, out)  # (held by run: the kernel reads them by address)
    pointers = (xp.ctypes.data, out.ctypes.data, 0, 0)
    sizes = (ho, wo, c, strides[0], strides[1], hp, wp)

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


def pool_grad_overlap(xp, g, dxp, ksize, strides):
    """A function run(image0, image1) adding into dxp (xp's shape, zeros on entry) the
    cotangent g (n, ho, wo, c) of the max pool of the padded NHWC input xp with windows
    `ksize` at `strides` that overlap (some window size above its stride), for the images
    [image0, image1), as numpy_backend.max_pool2d_grad's general path sums it; None where
    the kernel does not apply."""
    if (not _usable(xp, g, dxp) or dxp.shape != xp.shape or g.shape[0] != xp.shape[0]
            or g.shape[3] != xp.shape[3] or not g.size):
        return None
    (kh, kw), (sh, sw) = ksize, strides
    n, hp, wp, c = xp.shape
    _, ho, wo, _ = g.shape
    if (not 1 <= kh * kw <= 16 or (kh <= sh and kw <= sw)
            or (ho - 1) * sh + kh > hp or (wo - 1) * sw + kw > wp):
        return None
    function = _kernel("pool_grad_overlap", xp.dtype, kh, kw)
    arrays = (xp, g, dxp)
    pointers = (xp.ctypes.data, g.ctypes.data, dxp.ctypes.data, 0)
    sizes = (ho, wo, c, sh, sw, hp, wp)

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
