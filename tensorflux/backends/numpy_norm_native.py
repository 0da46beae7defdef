"""Training-mode batch normalization's passes over float32 rows, as native code via llvmlite;
layer normalization's kernels (below: one row at a time, NumPy's bits).

The passes run over (rows, channels) arrays, compiled to machine code through llvmlite (the
`jit` extra) by numpy_llvm, as numpy_conv_native's convolutions are.

Why: the NumPy kernels take a ufunc call (and a pass over a cache-sized block) per step: the
forward is ~3 ms and the backward ~4 ms over a (64, 32, 32, 32) float32 batch, a tenth of a
CIFAR residual block's training step. Here each pass is one loop over a piece of rows with
the channel vectors in registers: the statistics in one read of x from memory (a piece's mean,
then its sum of squared deviations from that mean while the piece is in cache), the
normalization in one read and one write.

Numerics: sums are float64 vector accumulators, one per channel lane: a piece's rows row0,
row0 + 2, ... in order into one, the others into a second, then the two added. moments gives
each piece's mean and sum of squared deviations from that mean (two passes over the piece:
the two-pass method, never sum of squares minus squared sum); the caller combines the pieces
exactly (mean = sum of counts * means / n, squared deviations = their sum + counts * (piece
mean - mean)^2) in piece order, so the statistics are the float64 two-pass results rounded
once to float32, on any thread count. normalize and combine are the NumPy kernels'
elementwise steps in their order, each rounded to float32 (LLVM does not contract a*b + c
into an FMA without fast-math flags, which are never set): the same bits from the same
per-channel vectors. grad_sums and combine also read dy in place where it is a view of a
larger array (a max pool's gradient, written into its padded buffer): its rows at the
offsets of a table (row_table), the same sums and steps as on a contiguous copy, without
the copy. For a BatchNormalization followed by relu (graph.passes.fuse_batch_norm_activations)
normalize also applies relu (np.maximum(v, 0.0)'s bits), and grad_sums and combine read
dy * (y > 0), relu's VJP, in dy's place: y read from relu's output, or its sign found from
the x they read as normalize's float32 steps with the forward's scale and shift. At a
residual block's end (relu(r + bn(x))) normalize also adds r, in the graph's operand order
(where two NaNs meet, the first's, as x86's add gives), before relu. Functions
return None where they do not apply (no llvmlite, a CPU
without AVX2 and FMA, not float32, not C-contiguous, channels not whole vectors), and the
caller runs its NumPy path.
"""


import numpy as np

from tensorflux.backends import numpy_llvm

__all__ = ["combine", "grad_sums", "layer_norm", "layer_norm_grad", "moments", "normalize",
           "row_table", "supports"]


# Channel vectors summed at once, on AVX-512 and on AVX2: each float32 vector of x makes two
# float64 vectors per sum, in two accumulators (see sum_rows), so moments' group of 4 holds 16
# of AVX-512's 32 registers and grad_sums' (two sums) of 2 as many; AVX2 has 16 registers.
_GROUPS = {"moments": (4, 2), "grad_sums": (2, 1)}

# Pointer arguments per kernel ('f' float32, 'd' float64, 'i' int64), then the integers row0,
# row1, c. The '_rows' kinds read dy's row r at the element offset rows[r] (a view of a
# larger array: a max pool's gradient, written into its padded buffer) rather than r * c.
_POINTERS = {"moments": "fd", "grad_sums": "fffd", "normalize": "fffff",
             "combine": "fffffff", "grad_sums_rows": "fffid", "combine_rows": "fffffffi"}
# The '_relu' kinds are batch normalization followed by relu: normalize_relu writes relu of
# the result (the same pointers), grad_sums_relu and combine_relu take one more float32
# pointer before grad_sums' out (after combine's last), y (the forward's relu output, rows
# like x), and read dy * (y > 0), relu's gradient, where they read dy. The '_sign' kinds take
# two channel vectors there instead, scale and shift, and find y > 0 as ((x - mean) * scale)
# + shift > 0, normalize's float32 steps on the x they read anyway: the same mask where y is
# relu of normalize's result from those vectors, without reading y.
_POINTERS.update({"normalize_relu": "fffff", "grad_sums_relu": "ffffd",
                  "grad_sums_rows_relu": "fffifd", "combine_relu": "ffffffff",
                  "combine_rows_relu": "fffffffif", "grad_sums_sign": "fffffd",
                  "grad_sums_rows_sign": "fffiffd", "combine_sign": "fffffffff",
                  "combine_rows_sign": "fffffffiff"})
# The '_left_relu' and '_right_relu' normalize kinds are a residual block's end, relu(r +
# bn(x)) and relu(bn(x) + r) (graph.passes.fuse_batch_norm_activations): one more float32
# pointer, r (rows like x), added to the normalization's float32 result in the graph's
# operand order (one more rounding, as the separate add), then relu.
_POINTERS.update({"normalize_left_relu": "ffffff", "normalize_right_relu": "ffffff"})


def supports(*arrays):
    """Whether these kernels run on arrays like these: float32 (rows, channels) ndarrays of one
    shape, C-contiguous, with channels a positive multiple of the vector width."""
    first = arrays[0]
    return (numpy_llvm.available()
            and all(type(a) is np.ndarray and a.dtype == np.float32 and a.ndim == 2
                    and a.shape == first.shape and a.flags.c_contiguous for a in arrays)
            and first.shape[1] > 0 and first.shape[1] % _width() == 0)


def _width():
    return numpy_llvm.lanes(np.float32)


class _Builder(numpy_llvm.Builder):
    """One kernel's IR: loops over rows and channel vectors of float32 and float64."""

    def __init__(self, ir, module, kind):
        self.width = _width()
        self.f32, self.f64 = ir.FloatType(), ir.DoubleType()
        self.vector = ir.VectorType(self.f32, self.width)
        self.wide = ir.VectorType(self.f64, self.width)
        kinds = {"f": self.f32.as_pointer(), "d": self.f64.as_pointer(),
                 "i": ir.IntType(64).as_pointer()}
        super().__init__(ir, module, kind, [(f"p{k}", kinds[t])
                                            for k, t in enumerate(_POINTERS[kind])],
                         ["row0", "row1", "c"])
        self.row0, self.row1, self.c = (self.args[label] for label in ("row0", "row1", "c"))

    def slots(self, count):
        """float64 vector slots in the entry block (LLVM keeps them in registers)."""
        with self.b.goto_block(self.entry):
            return [self.b.alloca(self.wide) for _ in range(count)]

    def _address(self, base, offset, kind):
        return self.b.bitcast(self.b.gep(base, [offset]), kind.as_pointer())

    def load(self, base, offset):
        """The float32 vector at base[offset ..]."""
        return self.b.load(self._address(base, offset, self.vector), align=4)

    def store(self, value, base, offset):
        kind = self.wide if value.type == self.wide else self.vector
        self.b.store(value, self._address(base, offset, kind), align=8 if kind == self.wide else 4)

    def widen(self, value):
        return self.b.fpext(value, self.wide)

    def zeros(self):
        return self.ir.Constant(self.vector, [0.0] * self.width)

    def relu(self, value):
        """np.maximum(value, 0.0) (relu's kernel): value where it is greater than 0 or NaN
        (the NaN itself), else +0.0 (for -0.0 too, as x86's max, which NumPy runs, gives)."""
        zero = self.zeros()
        return self.b.select(self.b.fcmp_unordered(">", value, zero), value, zero)

    def masked(self, grad, y):
        """grad * (y > 0), relu's gradient (a float32 multiply by 1.0 or 0.0: -0.0 for a
        negative grad, NaN for an infinite or NaN one where y is not positive; y NaN: 0.0)."""
        zero = self.zeros()
        one = self.ir.Constant(self.vector, [1.0] * self.width)
        mask = self.b.select(self.b.fcmp_ordered(">", y, zero), one, zero)
        return self.b.fmul(grad, mask)

    def channel_groups(self, group, tail, body):
        """body(v0, count) over the row's channel vectors in blocks of `group`, then one of
        `tail` (their count % group, fixed when the kernel is compiled)."""
        vectors = self.b.sdiv(self.c, self.const(self.width))
        whole = self.b.sub(vectors, self.const(tail))
        self.loop(self.const(0), whole, lambda v0: body(v0, group), step=group)
        if tail:
            body(whole, tail)

    def row_offsets(self, r, v0, count, table=None):
        """Element offsets of channel vectors v0 .. v0 + count - 1 in row r (at table[r]
        where a table of rows' offsets is given, else at r * c)."""
        first = self.row_start(r, table)
        start = self.b.add(first, self.b.mul(v0, self.const(self.width)))
        return [self.b.add(start, self.const(v * self.width)) for v in range(count)]

    def row_start(self, r, table=None):
        """Row r's element offset: table[r], or r * c."""
        if table is None:
            return self.b.mul(r, self.c)
        return self.b.load(self.b.gep(table, [r]), align=8)

    def sum_rows(self, count, terms):
        """The sums over rows [row0, row1) of the `count` vectors terms(r): rows row0, row0 + 2,
        ... in order into one accumulator each, the others into a second, then the two added
        (two chains of vector adds in flight: one leaves the loop waiting on add latency)."""
        pairs = [self.slots(count), self.slots(count)]
        for slot in pairs[0] + pairs[1]:
            self.b.store(self.ir.Constant(self.wide, [0.0] * self.width), slot)

        def add(r, slots):
            for slot, term in zip(slots, terms(r)):
                self.b.store(self.b.fadd(self.b.load(slot), term), slot)

        def pair(r):
            add(r, pairs[0])
            add(self.b.add(r, self.const(1)), pairs[1])
        leftover = self.b.srem(self.b.sub(self.row1, self.row0), self.const(2))
        last = self.b.sub(self.row1, leftover)
        self.loop(self.row0, last, pair, step=2)
        self.loop(last, self.row1, lambda r: add(r, pairs[0]))
        return [self.b.fadd(self.b.load(even), self.b.load(odd))
                for even, odd in zip(*pairs)]


def _moments_ir(k, group, tail):
    """moments(x, out, row0, row1, c): out[:c] = the mean of rows [row0, row1) of x per
    channel, out[c:] = their sum of squared deviations from it, in float64."""
    x, out = k.pointers
    count = k.splat(k.b.sitofp(k.b.sub(k.row1, k.row0), k.f64), k.width)

    def block(v0, nv):
        def values(r):
            return [k.widen(k.load(x, at)) for at in k.row_offsets(r, v0, nv)]
        means = [k.b.fdiv(total, count) for total in k.sum_rows(nv, values)]

        def squares(r):
            deviations = [k.b.fsub(value, m) for value, m in zip(values(r), means)]
            return [k.b.fmul(d, d) for d in deviations]
        sums = k.sum_rows(nv, squares)
        at = k.b.mul(v0, k.const(k.width))
        for v in range(nv):
            offset = k.b.add(at, k.const(v * k.width))
            k.store(means[v], out, offset)
            k.store(sums[v], out, k.b.add(offset, k.c))
    k.channel_groups(group, tail, block)


def _normalized(k, x, mean, scale, shift):
    """((x - mean) * scale) + shift in float32, normalize's steps."""
    return k.b.fadd(k.b.fmul(k.b.fsub(x, mean), scale), shift)


def _grad_sums_ir(k, group, tail, rows=False, mask=None):
    """grad_sums(x, dy, mean, out, row0, row1, c): out[:c] = the sum of dy over rows [row0,
    row1), out[c:] = the sum of dy * (x - mean), in float64; with `rows`, grad_sums_rows(x,
    dy, mean, table, out, ...) reading dy's row r at table[r]; with mask "relu", a pointer y
    before out, and dy * (y > 0) summed where dy is; with mask "sign", the vectors scale
    and shift there, and dy * (((x - mean) * scale) + shift > 0)."""
    x, dy, mean, *extra, out = k.pointers
    table = extra[0] if rows else None
    y, vectors = (extra[-1] if mask == "relu" else None), (extra[-2:] if mask == "sign" else ())

    def block(v0, nv):
        at = k.b.mul(v0, k.const(k.width))
        channels = [k.b.add(at, k.const(v * k.width)) for v in range(nv)]
        centre = [k.widen(k.load(mean, channel)) for channel in channels]
        # (the sign's per-channel float32 vectors: mean, scale, shift)
        affine = [[k.load(v, channel) for v in (mean, *vectors)] for channel in channels] \
            if mask == "sign" else []

        def terms(r):
            offsets = k.row_offsets(r, v0, nv)
            grads = [k.load(dy, at)
                     for at in (k.row_offsets(r, v0, nv, table) if rows else offsets)]
            values = [k.load(x, at) for at in offsets]
            if mask == "relu":
                grads = [k.masked(g, k.load(y, at)) for g, at in zip(grads, offsets)]
            elif mask == "sign":
                grads = [k.masked(g, _normalized(k, value, *vs))
                         for g, value, vs in zip(grads, values, affine)]
            grads = [k.widen(g) for g in grads]
            products = [k.b.fmul(g, k.b.fsub(k.widen(value), m))
                        for g, value, m in zip(grads, values, centre)]
            return grads + products
        sums = k.sum_rows(2 * nv, terms)
        for v in range(nv):
            offset = k.b.add(at, k.const(v * k.width))
            k.store(sums[v], out, offset)
            k.store(sums[nv + v], out, k.b.add(offset, k.c))
    k.channel_groups(group, tail, block)


def _elementwise_ir(k, step, table=None):
    """step(offset, channel, table offset) for every row in [row0, row1) and channel vector
    of it: the vector's element offset in the arrays, its first channel's, and its offset in
    the array whose rows lie at table[r] (where a table is given; else the first)."""
    vectors = k.b.sdiv(k.c, k.const(k.width))

    def row(r):
        start, listed = k.row_start(r), k.row_start(r, table)

        def vector(v):
            channel = k.b.mul(v, k.const(k.width))
            step(k.b.add(start, channel), channel, k.b.add(listed, channel))
        k.loop(k.const(0), vectors, vector)
    k.loop(k.row0, k.row1, row)


def _added(k, r, value, left):
    """r + value (`left`) or value + r as x86's (and NumPy's) add gives it, where two NaNs
    meet too: the first operand's NaN (quieted). LLVM may swap an fadd's operands, so the
    first operand's NaN is chosen explicitly (as first + first: that NaN quieted); elsewhere
    the sum is the same either way."""
    first = r if left else value
    return k.b.select(k.b.fcmp_unordered("uno", first, first), k.b.fadd(first, first),
                      k.b.fadd(value, r))


def _normalize_ir(k, relu=False, residual=None):
    """normalize(x, out, mean, scale, shift, row0, row1, c): out = (x - mean) * scale + shift
    over rows [row0, row1), each step rounded to float32; with `relu`, relu of that; with
    `residual` "left" or "right", a last pointer r and relu(r + that) or relu(that + r)."""
    x, out, mean, scale, shift, *r = k.pointers

    def step(at, channel, _):
        value = k.b.fsub(k.load(x, at), k.load(mean, channel))
        value = k.b.fmul(value, k.load(scale, channel))
        value = k.b.fadd(value, k.load(shift, channel))
        if residual is not None:
            value = _added(k, k.load(r[0], at), value, residual == "left")
        k.store(k.relu(value) if relu else value, out, at)
    _elementwise_ir(k, step)


def _combine_ir(k, rows=False, mask=None):
    """combine(x, dy, dx, mean, a, kd, b, row0, row1, c): dx = ((x - mean) * a + dy * kd) + b
    over rows [row0, row1), each step rounded to float32; with `rows`, combine_rows(...,
    table, ...) reading dy's row r at table[r]; with mask "relu", a last pointer y, and dy *
    (y > 0) where dy is read; with mask "sign", the last two the vectors scale and shift,
    and dy * (((x - mean) * scale) + shift > 0)."""
    x, dy, dx, mean, a, kd, b, *extra = k.pointers
    table = extra[0] if rows else None
    y, vectors = (extra[-1] if mask == "relu" else None), (extra[-2:] if mask == "sign" else ())

    def step(at, channel, listed):
        value, m = k.load(x, at), k.load(mean, channel)
        centred = k.b.fmul(k.b.fsub(value, m), k.load(a, channel))
        grad = k.load(dy, listed)
        if mask == "relu":
            grad = k.masked(grad, k.load(y, at))
        elif mask == "sign":
            scale, shift = (k.load(v, channel) for v in vectors)
            grad = k.masked(grad, _normalized(k, value, m, scale, shift))
        value = k.b.fadd(centred, k.b.fmul(grad, k.load(kd, channel)))
        k.store(k.b.fadd(value, k.load(b, channel)), dx, at)
    _elementwise_ir(k, step, table)


def _mask_of(kind):
    """(the kind without its mask suffix, the mask: "relu", "sign" or None)."""
    for mask in ("relu", "sign"):
        if kind.endswith("_" + mask):
            return kind.removesuffix("_" + mask), mask
    return kind, None


def _kernel(kind, group=0, tail=0):
    """The compiled function for (kind, channel group, tail), made on first use."""
    base, mask = _mask_of(kind)
    rows = base.endswith("_rows")
    build = {"moments": lambda k: _moments_ir(k, group, tail),
             "grad_sums": lambda k: _grad_sums_ir(k, group, tail, rows=rows, mask=mask),
             "normalize": lambda k: _normalize_ir(k, relu=mask == "relu"),
             "normalize_left": lambda k: _normalize_ir(k, relu=True, residual="left"),
             "normalize_right": lambda k: _normalize_ir(k, relu=True, residual="right"),
             "combine": lambda k: _combine_ir(k, rows=rows, mask=mask)}[
                 base.removesuffix("_rows")]

    def fill(ir, module):
        k = _Builder(ir, module, kind)
        build(k)
        k.b.ret_void()
    return numpy_llvm.compiled((__name__, kind, group, tail), kind, fill,
                               len(_POINTERS[kind]), 3)


def _summing(kind, c):
    group = _GROUPS[_mask_of(kind)[0].removesuffix("_rows")][0 if _width() == 16 else 1]
    vectors = c // _width()
    group = min(group, vectors)
    return _kernel(kind, group, vectors % group)


def _runner(function, arrays, c, into=False):
    pointers = tuple(a.ctypes.data for a in arrays)

    if into:
        def run(row0, row1, out, _held=arrays):
            if not (type(out) is np.ndarray and out.dtype == np.float64 and out.size == 2 * c
                    and out.flags.c_contiguous):
                raise ValueError(f"needs a C-contiguous float64 array of {2 * c} values for "
                                 f"the sums, received {out!r:.80}")
            function(*pointers, out.ctypes.data, row0, row1, c)
    else:
        def run(row0, row1, _held=arrays):
            function(*pointers, row0, row1, c)
    return run


def _checked(*arrays):
    return all(type(a) is np.ndarray and a.dtype == np.float32 and a.flags.c_contiguous
               for a in arrays)


def moments(x):
    """A function run(row0, row1, out) writing into `out` (a C-contiguous float64 (2, c)
    array) the mean per channel of x's rows [row0, row1) and their sum of squared deviations
    from it; None where the kernels do not apply to x."""
    if not supports(x):
        return None
    return _runner(_summing("moments", x.shape[1]), (x,), x.shape[1], into=True)


def row_table(dy, x):
    """The element offsets (int64, C-contiguous) of the rows of dy read as x's (rows, c)
    rows, for a float32 ndarray dy of x's size whose last axis is c channels one after
    another (a view of a larger array, not C-contiguous: a max pool's gradient written into
    its padded buffer); None for any other dy."""
    c = x.shape[1]
    if not (type(dy) is np.ndarray and dy.dtype == np.float32 and dy.ndim >= 1
            and dy.size == x.size and dy.shape[-1] == c and dy.strides[-1] == dy.itemsize
            and all(s % dy.itemsize == 0 for s in dy.strides)):
        return None
    offsets = np.zeros((), np.int64)
    for size, stride in zip(dy.shape[:-1], dy.strides[:-1]):
        offsets = offsets[..., None] + np.arange(size, dtype=np.int64) * (stride // 4)
    return np.ascontiguousarray(offsets.reshape(-1))


def _cotangent(x, dy):
    """(dy's rows, None) where dy is rows like x's; (dy, its row table) for a view that
    row_table takes; None otherwise."""
    if type(dy) is np.ndarray and dy.size == x.size and dy.flags.c_contiguous:
        dy = dy.reshape(x.shape)
    if supports(x, dy):
        return dy, None
    if not supports(x):
        return None
    table = row_table(dy, x)
    return None if table is None else (dy, table)


def _masking(x, y, affine):
    """(kind suffix, pointer arrays) for relu's mask: from the vectors `affine` (scale,
    shift) where given, else read from y; ("", ()) without either; None where they are not
    what the kernels take (y: rows of x's shape; the vectors: c float32 values each)."""
    if affine is not None:
        fits = _checked(*affine) and all(v.shape == (x.shape[1],) for v in affine)
        return ("_sign", tuple(affine)) if fits else None
    if y is None:
        return "", ()
    return ("_relu", (y,)) if supports(x, y) and y.shape == x.shape else None


def grad_sums(x, dy, mean, y=None, affine=None):
    """A function run(row0, row1, out) writing into `out` (float64 (2, c)) the sums over rows
    [row0, row1) of dy and of dy * (x - mean) per channel; None where they do not apply. dy
    is rows of x's shape, or a view whose rows row_table finds (the same sums: only where
    each row is read from differs). Where y (rows of x's shape: relu's output) is given,
    dy * (y > 0) in place of dy, relu's gradient: its float32 product, then the same sums.
    Where affine = (scale, shift) is given instead, y > 0 is found as ((x - mean) * scale)
    + shift > 0 (normalize's steps: the same mask where y is relu of normalize's result with
    these vectors)."""
    found, masking = _cotangent(x, dy), _masking(x, y, affine)
    if found is None or masking is None or not (_checked(mean)
                                                and mean.shape == (x.shape[1],)):
        return None
    (dy, table), (relu, y) = found, masking
    if table is None:
        return _runner(_summing("grad_sums" + relu, x.shape[1]), (x, dy, mean) + y,
                       x.shape[1], into=True)
    return _runner(_summing("grad_sums_rows" + relu, x.shape[1]), (x, dy, mean, table) + y,
                   x.shape[1], into=True)


def normalize(x, out, mean, scale, shift, relu=False, residual=None, left=True):
    """A function run(row0, row1) writing out = (x - mean) * scale + shift for rows [row0,
    row1), or relu of it (np.maximum(..., 0.0)'s bits) where `relu`; with rows `residual`
    (relu then required), relu(residual + that) where `left`, else relu(that + residual);
    None where the kernel does not apply."""
    vectors = (mean, scale, shift)
    rows = (x, out) if residual is None else (x, out, residual)
    if not (supports(*rows) and _checked(*vectors)
            and all(v.shape == (x.shape[1],) for v in vectors)):
        return None
    if residual is not None:
        if not relu:
            raise ValueError("normalize: a residual needs relu")
        kind = "normalize_left_relu" if left else "normalize_right_relu"
        return _runner(_kernel(kind), (x, out) + vectors + (residual,), x.shape[1])
    return _runner(_kernel("normalize_relu" if relu else "normalize"), (x, out) + vectors,
                   x.shape[1])


def combine(x, dy, dx, mean, a, kd, b, y=None, affine=None):
    """A function run(row0, row1) writing dx = ((x - mean) * a + dy * kd) + b for rows
    [row0, row1); None where the kernel does not apply. dy as grad_sums takes it, and where
    y or affine is given, dy * (y > 0) in its place, as grad_sums."""
    vectors = (mean, a, kd, b)
    found, masking = _cotangent(x, dy), _masking(x, y, affine)
    if found is None or masking is None or not (
            supports(x, dx) and _checked(*vectors)
            and all(v.shape == (x.shape[1],) for v in vectors)):
        return None
    (dy, table), (relu, y) = found, masking
    if table is None:
        return _runner(_kernel("combine" + relu), (x, dy, dx) + vectors + y, x.shape[1])
    return _runner(_kernel("combine_rows" + relu), (x, dy, dx) + vectors + (table,) + y,
                   x.shape[1])


# ------------------------------------------------------------------ layer normalization
#
# LayerNormalization's kernels run over (rows, n) float32 arrays, one row at a time while it
# is in cache (numpy_backend.layer_norm and layer_norm_grad give the pieces of rows), with
# the NumPy kernels' steps and bits: np.add.reduce of a row is 0 + NumPy's pairwise sum
# (numpy_llvm.pairwise_ir, by its RowBuilder), every other step one IEEE float32 operation
# in the NumPy kernel's order (1 / sqrt(...) with LLVM's correctly rounded sqrt; no FMA is
# formed without fast-math flags). layer_norm_grad adds each row's dy * xhat and dy, widened
# to float64, into its piece's float64 sums in row order, as np.add.reduce(axis=0) does from
# the piece's first row (the sums start at -0.0, which adding the first row leaves exactly).

_LN_POINTERS = {"layer_norm": ["x", "out", "gamma", "beta", "scratch"],
                "layer_norm_grad": ["x", "dy", "dx", "gamma", "scratch", "sums"]}


class _RowBuilder(numpy_llvm.RowBuilder):
    """numpy_llvm's row builder with layer norm's pointers and the float32 epsilon's bits as
    an integer argument."""

    def __init__(self, ir, module, kind):
        super().__init__(ir, module, kind, _LN_POINTERS[kind], ["row0", "row1", "n", "eps"])
        b = self.b
        self.count = b.sitofp(self.n, self.float)
        self.epsilon = b.bitcast(b.trunc(self.args["eps"], ir.IntType(32)), self.float)
        self.sqrt = self.module_function("llvm.sqrt.f32", [self.float], self.float)

    def shifted(self, base, start):
        """base - start: indexed by a row's element offsets, it reads base[0 ..]."""
        return self.b.gep(base, [self.b.sub(self.const(0), start)])

    def like(self, value, scalar):
        """scalar, splat where value is a vector."""
        return self.splat(scalar) if isinstance(value.type, self.ir.VectorType) else scalar

    def statistics(self, x, centred, scratch, start):
        """centred = row - mean into `centred`, and inv = 1 / sqrt(variance + eps)."""
        b, nothing = self.b, self.ir.Constant(self.float, 0.0)
        mean = b.fdiv(self.row_sum(x, start), self.count)
        self.elementwise(start, b.fsub, [x, centred], mean)
        self.elementwise(start, lambda c, _: b.fmul(c, c),
                         [centred, self.shifted(scratch, start)], nothing)
        variance = b.fdiv(self.row_sum(scratch, self.const(0)), self.count)
        total = b.fadd(variance, self.epsilon)
        return b.fdiv(self.ir.Constant(self.float, 1.0), b.call(self.sqrt, [total]))


def _layer_norm_ir(k):
    """layer_norm(x, out, gamma, beta, scratch, row0, row1, n, eps): out = centred * (inv *
    gamma) + beta per row, scratch holding n values."""
    x, out, gamma, beta, scratch = k.pointers
    b = k.b

    def row(r):
        start = b.mul(r, k.n)
        inv = k.statistics(x, out, scratch, start)
        k.elementwise(start, lambda c, gm, bt, v: b.fadd(b.fmul(c, b.fmul(v, gm)), bt),
                      [out, k.shifted(gamma, start), k.shifted(beta, start), out], inv)
    k.loop(k.row0, k.row1, row)


def _layer_norm_grad_ir(k):
    """layer_norm_grad(x, dy, dx, gamma, scratch, sums, row0, row1, n, eps): per row xhat =
    centred * inv (in dx), g = dy * gamma (scratch[:n]), g * xhat (scratch[n:]), a = sum(g)
    / n, b = sum(g * xhat) / n, dx = ((g - a) - xhat * b) * inv; sums[:n] += dy * xhat and
    sums[n:] += dy, widened to float64."""
    x, dy, dx, gamma, scratch, sums = k.pointers
    b = k.b
    products = b.gep(scratch, [k.n])
    wide = k.ir.VectorType(k.ir.DoubleType(), k.width)
    sums = b.bitcast(sums, k.ir.DoubleType().as_pointer())
    nothing = k.ir.Constant(k.float, 0.0)

    def add_into(at, start, vector):
        """sums[j] += dy[at] * xhat[at], sums[n + j] += dy[at] (j = at - start)."""
        j = b.sub(at, start)
        if vector:
            grad, xhat = k.load_vector(dy, at), k.load_vector(dx, at)
            kind = wide
        else:
            grad, xhat = b.load(k.element(dy, at)), b.load(k.element(dx, at))
            kind = k.ir.DoubleType()
        for offset, term in ((j, b.fmul(grad, xhat)), (b.add(j, k.n), grad)):
            address = b.bitcast(b.gep(sums, [offset]), kind.as_pointer())
            value = b.fadd(b.load(address, align=8), b.fpext(term, kind))
            b.store(value, address, align=8)

    def row(r):
        start = b.mul(r, k.n)
        inv = k.statistics(x, dx, scratch, start)
        k.elementwise(start, b.fmul, [dx, dx], inv)
        k.elementwise(start, lambda d, gm, _: b.fmul(d, gm),
                      [dy, k.shifted(gamma, start), k.shifted(scratch, start)], nothing)
        k.elementwise(start, lambda g, xh, _: b.fmul(g, xh),
                      [k.shifted(scratch, start), dx, k.shifted(products, start)], nothing)
        mean_g = b.fdiv(k.row_sum(scratch, k.const(0)), k.count)
        mean_gx = b.fdiv(k.row_sum(products, k.const(0)), k.count)
        k.each(start, lambda at: add_into(at, start, True), lambda at: add_into(at, start, False))

        def step(g, xh, v):
            value = b.fsub(b.fsub(g, k.like(g, mean_g)), b.fmul(xh, k.like(g, mean_gx)))
            return b.fmul(value, v)
        k.elementwise(start, step, [k.shifted(scratch, start), dx, dx], inv)
    k.loop(k.row0, k.row1, row)


def _ln_kernel(kind):
    build = {"layer_norm": _layer_norm_ir, "layer_norm_grad": _layer_norm_grad_ir}[kind]

    def fill(ir, module):
        k = _RowBuilder(ir, module, kind)
        build(k)
        k.b.ret_void()
    return numpy_llvm.compiled((__name__, kind), kind, fill,
                               len(_LN_POINTERS[kind]), 4)


def _epsilon_bits(epsilon):
    return int(np.float32(epsilon).view(np.uint32))


def layer_norm(x, out, gamma, beta, epsilon):
    """A function run(row0, row1) writing out = layer normalization of x's rows [row0,
    row1) with gamma and beta (float32, n values each), the NumPy kernel's bits; None where
    the kernel does not apply."""
    if not (numpy_llvm.float32_rows(x, out) and _checked(gamma, beta)
            and gamma.shape == beta.shape == (x.shape[1],)):
        return None
    function, n, bits = _ln_kernel("layer_norm"), x.shape[1], _epsilon_bits(epsilon)
    pointers = tuple(a.ctypes.data for a in (x, out, gamma, beta))

    def run(row0, row1, _held=(x, out, gamma, beta)):
        scratch = np.empty(n, np.float32)
        function(*pointers, scratch.ctypes.data, row0, row1, n, bits)
    return run


def layer_norm_grad(x, dy, dx, gamma, epsilon):
    """A function run(row0, row1, into) writing dx for x's rows [row0, row1) and the
    cotangent rows dy, and adding into `into` (float64 (2, n), set to -0.0 here first) the
    sums over those rows of dy * xhat and dy: the NumPy kernel's bits; None where the kernel
    does not apply."""
    if not (numpy_llvm.float32_rows(x, dy, dx) and _checked(gamma)
            and gamma.shape == (x.shape[1],)):
        return None
    function, n, bits = _ln_kernel("layer_norm_grad"), x.shape[1], _epsilon_bits(epsilon)
    pointers = tuple(a.ctypes.data for a in (x, dy, dx, gamma))

    def run(row0, row1, into, _held=(x, dy, dx, gamma)):
        if not (type(into) is np.ndarray and into.dtype == np.float64
                and into.size == 2 * n and into.flags.c_contiguous):
            raise ValueError(f"needs a C-contiguous float64 array of {2 * n} values for the "
                             f"sums, received {into!r:.80}")
        into.fill(-0.0)
        scratch = np.empty(2 * n, np.float32)
        function(*pointers, scratch.ctypes.data, into.ctypes.data, row0, row1, n, bits)
    return run
