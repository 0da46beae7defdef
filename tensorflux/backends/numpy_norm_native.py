"""Training-mode batch normalization's passes over float32 rows, as native code via llvmlite.

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
per-channel vectors. Functions return None where they do not apply (no llvmlite, a CPU
without AVX2 and FMA, not float32, not C-contiguous, channels not whole vectors), and the
caller runs its NumPy path.
"""


import numpy as np

from tensorflux.backends import numpy_llvm

__all__ = ["combine", "grad_sums", "moments", "normalize", "supports"]


# Channel vectors summed at once, on AVX-512 and on AVX2: each float32 vector of x makes two
# float64 vectors per sum, in two accumulators (see sum_rows), so moments' group of 4 holds 16
# of AVX-512's 32 registers and grad_sums' (two sums) of 2 as many; AVX2 has 16 registers.
_GROUPS = {"moments": (4, 2), "grad_sums": (2, 1)}

# Pointer arguments per kernel ('f' float32, 'd' float64), then the integers row0, row1, c.
_POINTERS = {"moments": "fd", "grad_sums": "fffd", "normalize": "fffff",
             "combine": "fffffff"}


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
        kinds = {"f": self.f32.as_pointer(), "d": self.f64.as_pointer()}
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

    def splat(self, scalar):
        i32 = self.ir.IntType(32)
        undefined = self.ir.Constant(self.wide, self.ir.Undefined)
        one = self.b.insert_element(undefined, scalar, self.ir.Constant(i32, 0))
        return self.b.shuffle_vector(one, undefined, self.ir.Constant(
            self.ir.VectorType(i32, self.width), [0] * self.width))

    def channel_groups(self, group, tail, body):
        """body(v0, count) over the row's channel vectors in blocks of `group`, then one of
        `tail` (their count % group, fixed when the kernel is compiled)."""
        vectors = self.b.sdiv(self.c, self.const(self.width))
        whole = self.b.sub(vectors, self.const(tail))
        self.loop(self.const(0), whole, lambda v0: body(v0, group), step=group)
        if tail:
            body(whole, tail)

    def row_offsets(self, r, v0, count):
        """Element offsets of channel vectors v0 .. v0 + count - 1 in row r."""
        start = self.b.add(self.b.mul(r, self.c), self.b.mul(v0, self.const(self.width)))
        return [self.b.add(start, self.const(v * self.width)) for v in range(count)]

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
    count = k.splat(k.b.sitofp(k.b.sub(k.row1, k.row0), k.f64))

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


def _grad_sums_ir(k, group, tail):
    """grad_sums(x, dy, mean, out, row0, row1, c): out[:c] = the sum of dy over rows [row0,
    row1), out[c:] = the sum of dy * (x - mean), in float64."""
    x, dy, mean, out = k.pointers

    def block(v0, nv):
        at = k.b.mul(v0, k.const(k.width))
        centre = [k.widen(k.load(mean, k.b.add(at, k.const(v * k.width)))) for v in range(nv)]

        def terms(r):
            offsets = k.row_offsets(r, v0, nv)
            grads = [k.widen(k.load(dy, at)) for at in offsets]
            products = [k.b.fmul(g, k.b.fsub(k.widen(k.load(x, at)), m))
                        for g, at, m in zip(grads, offsets, centre)]
            return grads + products
        sums = k.sum_rows(2 * nv, terms)
        for v in range(nv):
            offset = k.b.add(at, k.const(v * k.width))
            k.store(sums[v], out, offset)
            k.store(sums[nv + v], out, k.b.add(offset, k.c))
    k.channel_groups(group, tail, block)


def _elementwise_ir(k, step):
    """step(offset, channel) for every row in [row0, row1) and channel vector of it: the
    vector's element offset in the arrays, and its first channel's."""
    vectors = k.b.sdiv(k.c, k.const(k.width))

    def row(r):
        def vector(v):
            channel = k.b.mul(v, k.const(k.width))
            step(k.b.add(k.b.mul(r, k.c), channel), channel)
        k.loop(k.const(0), vectors, vector)
    k.loop(k.row0, k.row1, row)


def _normalize_ir(k):
    """normalize(x, out, mean, scale, shift, row0, row1, c): out = (x - mean) * scale + shift
    over rows [row0, row1), each step rounded to float32."""
    x, out, mean, scale, shift = k.pointers

    def step(at, channel):
        value = k.b.fsub(k.load(x, at), k.load(mean, channel))
        value = k.b.fmul(value, k.load(scale, channel))
        k.store(k.b.fadd(value, k.load(shift, channel)), out, at)
    _elementwise_ir(k, step)


def _combine_ir(k):
    """combine(x, dy, dx, mean, a, kd, b, row0, row1, c): dx = ((x - mean) * a + dy * kd) + b
    over rows [row0, row1), each step rounded to float32."""
    x, dy, dx, mean, a, kd, b = k.pointers

    def step(at, channel):
        centred = k.b.fmul(k.b.fsub(k.load(x, at), k.load(mean, channel)), k.load(a, channel))
        value = k.b.fadd(centred, k.b.fmul(k.load(dy, at), k.load(kd, channel)))
        k.store(k.b.fadd(value, k.load(b, channel)), dx, at)
    _elementwise_ir(k, step)


def _kernel(kind, group=0, tail=0):
    """The compiled function for (kind, channel group, tail), made on first use."""
    build = {"moments": lambda k: _moments_ir(k, group, tail),
             "grad_sums": lambda k: _grad_sums_ir(k, group, tail),
             "normalize": _normalize_ir, "combine": _combine_ir}[kind]

    def fill(ir, module):
        k = _Builder(ir, module, kind)
        build(k)
        k.b.ret_void()
    return numpy_llvm.compiled((__name__, kind, group, tail), kind, fill,
                               len(_POINTERS[kind]), 3)


def _summing(kind, c):
    group = _GROUPS[kind][0 if _width() == 16 else 1]
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


def grad_sums(x, dy, mean):
    """A function run(row0, row1, out) writing into `out` (float64 (2, c)) the sums over rows
    [row0, row1) of dy and of dy * (x - mean) per channel; None where they do not apply."""
    if not (supports(x, dy) and _checked(mean) and mean.shape == (x.shape[1],)):
        return None
    return _runner(_summing("grad_sums", x.shape[1]), (x, dy, mean), x.shape[1], into=True)


def normalize(x, out, mean, scale, shift):
    """A function run(row0, row1) writing out = (x - mean) * scale + shift for rows [row0,
    row1); None where the kernel does not apply."""
    vectors = (mean, scale, shift)
    if not (supports(x, out) and _checked(*vectors)
            and all(v.shape == (x.shape[1],) for v in vectors)):
        return None
    return _runner(_kernel("normalize"), (x, out) + vectors, x.shape[1])


def combine(x, dy, dx, mean, a, kd, b):
    """A function run(row0, row1) writing dx = ((x - mean) * a + dy * kd) + b for rows
    [row0, row1); None where the kernel does not apply."""
    vectors = (mean, a, kd, b)
    if not (supports(x, dy, dx) and _checked(*vectors)
            and all(v.shape == (x.shape[1],) for v in vectors)):
        return None
    return _runner(_kernel("combine"), (x, dy, dx) + vectors, x.shape[1])
