"""Single-pass native loops for the NumPy runner's large fused elementwise programs and
optimizer update groups, generated as LLVM IR through numpy_llvm (llvmlite).

numpy_loops gives plans built for jit_compile the same loops through Numba, which takes about
0.3 s to compile each; numpy_llvm compiles one in 0.02-0.03 s, cheap enough for every
plan (a default `model.fit`). A program becomes one loop over the elements with each register a
256-bit vector, where NumPy makes a pass over memory (or over a cache-sized chunk) per
instruction; an update group (Adam's m, v and variable updates) becomes one loop over its
buffers. Calls go through ctypes, which releases the GIL: the backend's threads run pieces
of a loop at once. W4 (784-1024-1024-10, Adam, default compile): its Adam step over 1.86M
parameters 3.4 -> 1.3 ms, a (256, 1024) bias + relu 110 -> 46 us, `fit` 20.4k -> 23.9k
samples/s; the three loops compile in 0.07 s.

Numerics: numpy_loops' contract, instruction for instruction. The same operations on the
same dtypes in the same order, each rounded to its dtype as NumPy's loops round it (+, -, *,
/ and sqrt are IEEE operations; fadd, fmul and the others carry no fast-math flags, so LLVM
neither contracts a*b + c into an FMA nor reassociates); maximum, minimum and relu keep
NumPy's rules (the first operand where it is NaN or strictly beyond the second, else the
second: maximum(-0.0, 0.0) is 0.0, maximum(0.0, -0.0) is -0.0), through x86's max and min
instructions as NumPy's loops use them, so that under a compiled run's denormals-are-zero
a subnormal operand comes out as the zero it compares as; negative and abs flip or clear
the sign bit, as NumPy's do. A sum or product of two NaNs is the first operand's NaN, or
the single element's beside an array, as NumPy's loops give it (over a broadcast row or
column NumPy's choice also depends on its iterator's buffer boundaries, and NumPy's AVX-512
add and multiply give the second operand's NaN in the last size % 16 elements of a call of
16 or more, their masked tail: the values are NaN either way). Instructions whose operands
are all single elements (an optimizer's step-dependent factors) are computed per call by
the NumPy backend's own kernels, as the NumPy runner computes them. float32 sigmoid is
lowered as the NumPy kernel computes it, exp(min(x, 0)) / (exp(-|x|) + 1), with exp NumPy's
own AVX-512 float32 exp (numpy_softmax_native.exp_ir, both exps of a vector in one 16-lane
call), only where numpy_softmax_native's probe finds that exp giving np.exp's bits in this
process: swish (x * sigmoid(x)) after a convolution and batch norm, EfficientNet's
activation, becomes one pass where NumPy makes seven. Any other instruction (exp, log,
tanh: NumPy's SIMD loops round differently from libm), integer arithmetic, mixed dtypes that
NumPy would promote, non-contiguous arrays and broadcasts other than a leading or trailing
block of axes, or both with ones between (squeeze-and-excitation's (n, 1, 1, c) gate over
(n, h, w, c): each image's c-vector read for each of its pixels, and the instructions that
read only such vectors, the gate's bias and sigmoid, made once per image into a buffer, as
NumPy makes them once) keep the NumPy path; so does everything where numpy_llvm.available()
is false.
"""

import ctypes

import numpy as np

from tensorflux.backends import numpy_llvm, numpy_softmax_native

__all__ = ["available", "elementwise", "update_group", "sigmoid_lowered", "sigmoid_ir",
           "nan_from_ir"]

# A loop over fewer bytes than this (read and written) runs on the calling thread alone (as
# numpy_loops._SPLIT_MIN_BYTES: a worker's wake-up costs more than half of it saves).
_SPLIT_MIN_BYTES = 1 << 23

# Bytes of a blocked loop's per-image values (see _hoisted) at most, held on the stack:
# EfficientNetB7's widest gate, 3,840 float32 values, is 15 KiB.
_HOISTED_MAX_BYTES = 1 << 16

# Vectors per step of the main loop: two chains of loads and arithmetic in flight.
_UNROLL = 2

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_FLOATS = frozenset((_F32, _F64))
_BOOL = np.dtype(np.bool_)

_ARITHMETIC = frozenset(("add", "subtract", "multiply", "divide", "negative", "square", "sqrt",
                         "abs", "maximum", "minimum", "relu"))
_COMPARISONS = {"greater": ">", "greater_equal": ">=", "less": "<", "less_equal": "<=",
                "equal": "==", "not_equal": "!="}


def available():
    """Whether these loops run here (numpy_llvm's kernels are on and can be compiled)."""
    return numpy_llvm.available()


def _nb():
    from tensorflux.backends import numpy_backend

    return numpy_backend


# ------------------------------------------------------------------ lowering one program

def _lower(program, kinds, dtypes):
    """Splits `program` into its single-element instructions (run per call, see run_head) and
    the steps computed per element: (register, kernel, operand registers, result dtype, the
    operand whose NaN a sum or product of two NaNs takes).

    kinds[i] is "long" for an input read per element, "scalar" for a single element; dtypes
    its NumPy dtype. Returns (head instruction indices, steps, registers the steps read from
    the head or the scalar inputs, the result's register, every register's dtype), or None
    where an instruction is not lowered here."""
    n = len(kinds)
    long = [kind == "long" for kind in kinds]
    types = list(dtypes)
    head, steps, scalars = [], [], []
    for j, (kernel, refs, attrs, dtype) in enumerate(program):
        reg = n + j
        result = np.dtype(dtype.as_numpy_dtype)
        long.append(any(long[r] for r in refs))
        types.append(result)
        if not long[reg]:
            head.append(j)
            continue
        operands = [types[r] for r in refs]
        attrs = dict(attrs)
        if kernel in _ARITHMETIC and not attrs:
            ok = result in _FLOATS and all(t == result for t in operands)
        elif kernel in _COMPARISONS and not attrs:
            ok = result == _BOOL and operands[0] in _FLOATS and operands[1] == operands[0]
        elif kernel == "select" and not attrs:
            ok = (operands[0] == _BOOL and operands[1] == operands[2] == result
                  and (result in _FLOATS or result == _BOOL))
        elif kernel == "cast" and set(attrs) == {"dtype"}:
            ok = ((operands[0] in _FLOATS or operands[0] == _BOOL)
                  and (result in _FLOATS or result == _BOOL))
        elif kernel == "sigmoid" and not attrs:
            ok = result == operands[0] == _F32 and _sigmoid_lowered()
        else:
            ok = False
        if not ok:
            return None
        for r in refs:
            if not long[r] and r not in scalars:
                scalars.append(r)
        prefer = None
        if kernel in ("add", "multiply") and refs[0] != refs[1]:
            # (Which operand's NaN a sum or product of two NaNs is: see nan_from_ir.)
            prefer = 1 if long[refs[0]] and not long[refs[1]] else 0
        steps.append((reg, kernel, tuple(refs), result, prefer))
    final = n + len(program) - 1
    if not long[final]:
        return None
    return head, steps, scalars, final, types


def _sigmoid_lowered():
    """Whether float32 sigmoid is lowered here: where NumPy's exp is the AVX-512 one that
    numpy_softmax_native's _exp reproduces (its probe, once per process)."""
    return numpy_llvm.lanes(_F32) == 16 and numpy_softmax_native.exp_matches()


def sigmoid_lowered():
    """Whether sigmoid_ir may be used, as these loops use it: where they lower float32
    sigmoid (NumPy's AVX-512 exp, which its probe found giving np.exp's bits in this
    process). Other kernels that build sigmoid_ir into their IR ask this (which asks the
    probe _sigmoid_lowered at each call: replacing that turns the lowering off everywhere)."""
    return _sigmoid_lowered()


def run_head(program, n_inputs, head, registers):
    """Computes the single-element instructions `head` of `program` in place in `registers`
    (the inputs, then None per instruction), with the NumPy backend's kernels."""
    if not head:
        return
    nb = _nb()
    for j in head:
        kernel, refs, attrs, _ = program[j]
        fn = nb._FUSED_UFUNCS.get(kernel) or getattr(nb, kernel)
        args = [registers[r] for r in refs]
        registers[n_inputs + j] = fn(*args, **dict(attrs)) if attrs else fn(*args)


def _bits(value, dtype):
    """A single-element array or NumPy scalar of `dtype` as the int64 argument carrying its
    bits, or None where its dtype is another (the loop would compute in another type)."""
    value = value.reshape(())[()] if type(value) is np.ndarray else value
    if not isinstance(value, np.generic) or value.dtype != dtype:
        return None
    if dtype == _F64:
        return int(value.view(np.int64))
    if dtype == _F32:
        return int(value.view(np.int32))
    return int(value)


def _address(a, _byte=ctypes.c_byte.from_buffer, _at=ctypes.addressof):
    """The address of a C-contiguous array's first element. (A ctypes view of its buffer
    costs a quarter of a.ctypes.data, the larger part of a small loop's call; a read-only
    array, which it refuses, takes that, as does an empty one.)"""
    try:
        return _at(_byte(a))
    except (TypeError, ValueError):
        return a.ctypes.data


# ------------------------------------------------------------------ IR

class _Code(numpy_llvm.Builder):
    """A loop's IR: typed pointers, scalars passed as int64 bits, and the instructions at
    any width (1: scalars, for the tail; else vectors)."""

    def __init__(self, ir, module, name, pointer_dtypes, scalar_dtypes, integers):
        self.module = module
        self.kinds = {_F32: ir.FloatType(), _F64: ir.DoubleType(), _BOOL: ir.IntType(8)}
        pointers = [(f"p{k}", self.kinds[d].as_pointer()) for k, d in enumerate(pointer_dtypes)]
        super().__init__(ir, module, name, pointers,
                         [f"s{k}" for k in range(len(scalar_dtypes))] + list(integers))
        self.i1 = ir.IntType(1)
        self.i32 = ir.IntType(32)
        # The scalars, in registers of their type, made once in the entry block.
        self.scalars = [self._from_bits(self.args[f"s{k}"], d)
                        for k, d in enumerate(scalar_dtypes)]
        # Vectors of 256 bits at most: these loops stream through memory, and NumPy's arrays
        # are aligned to 16 bytes only, so a 512-bit load or store straddles two cache lines
        # almost every time (W4's relu gradient over (128, 512): 15.7 us with 512-bit
        # vectors, 8.3 us with 256). The widest dtype's elements per vector, as x86's max
        # and min instructions take whole registers.
        floats = [d for d in list(pointer_dtypes) + list(scalar_dtypes) if d in _FLOATS]
        self.width = min(min(numpy_llvm.lanes(d), 32 // d.itemsize) for d in floats or [_F32])

    def _from_bits(self, bits, dtype):
        b = self.b
        if dtype == _F64:
            return b.bitcast(bits, self.kinds[_F64])
        if dtype == _F32:
            return b.bitcast(b.trunc(bits, self.i32), self.kinds[_F32])
        return b.icmp_signed("!=", bits, self.const(0))

    def type(self, dtype, width):
        kind = self.i1 if dtype == _BOOL else self.kinds[dtype]
        return kind if width == 1 else self.ir.VectorType(kind, width)

    def constant(self, dtype, value, width):
        kind = self.kinds[dtype]
        return (self.ir.Constant(kind, value) if width == 1 else
                self.ir.Constant(self.ir.VectorType(kind, width), [value] * width))

    def _address(self, pointer, offset, dtype, width):
        address = self.b.gep(pointer, [offset])
        if width == 1:
            return address
        return self.b.bitcast(address, self.ir.VectorType(self.kinds[dtype], width).as_pointer())

    def load(self, pointer, offset, dtype, width):
        value = self.b.load(self._address(pointer, offset, dtype, width), align=dtype.itemsize)
        if dtype == _BOOL:  # (NumPy's bools are bytes 0 and 1)
            value = self.b.icmp_unsigned("!=", value, self.ir.Constant(value.type, None))
        return value

    def store(self, value, pointer, offset, dtype, width):
        if dtype == _BOOL:
            byte = self.kinds[_BOOL]
            value = self.b.zext(value, byte if width == 1 else self.ir.VectorType(byte, width))
        self.b.store(value, self._address(pointer, offset, dtype, width), align=dtype.itemsize)

    def _intrinsic(self, name, value):
        kind = value.type
        suffix = (f"v{kind.count}" if isinstance(kind, self.ir.VectorType) else "") + (
            "f64" if "double" in str(kind) else "f32")
        return self.b.call(self.module_function(f"llvm.{name}.{suffix}", [kind], kind), [value])

    def _x86_extreme(self, name, first, second, dtype, width):
        """x86's max or min instruction (first where it is strictly beyond second, else
        second: NaN and signed zeros as NumPy's maximum keeps them once a NaN first operand
        is taken care of). The instruction itself, not a compare and a blend, because with
        denormals-are-zero on (a compiled run) it returns a subnormal operand as the zero it
        reads, as NumPy's loops (which use it) do; a blend would return it unchanged."""
        double = dtype == _F64
        kind = self.kinds[dtype]
        bits = width * dtype.itemsize * 8
        extra = []
        if width == 1:  # (in lane 0 of a 128-bit register)
            size = 2 if double else 4
            vector = self.ir.VectorType(kind, size)
            undefined = self.ir.Constant(vector, self.ir.Undefined)
            zero = self.ir.Constant(self.i32, 0)
            operands = [self.b.insert_element(undefined, v, zero) for v in (first, second)]
            full = f"llvm.x86.sse2.{name}.sd" if double else f"llvm.x86.sse.{name}.ss"
        else:
            vector = first.type
            operands = [first, second]
            suffix = "pd" if double else "ps"
            if bits == 512:
                full = f"llvm.x86.avx512.{name}.{suffix}.512"
                extra = [self.ir.Constant(self.i32, 4)]  # (the current rounding mode)
            elif bits == 256:
                full = f"llvm.x86.avx.{name}.{suffix}.256"
            else:
                full = f"llvm.x86.sse{'2' if double else ''}.{name}.{suffix}"
        function = self.module_function(full, [vector, vector] + [self.i32] * len(extra), vector)
        value = self.b.call(function, operands + extra)
        if width == 1:
            value = self.b.extract_element(value, self.ir.Constant(self.i32, 0))
        return value

    def instruction(self, kernel, operands, types, result, width, prefer=None):
        """The value of one lowered instruction on operand values of these dtypes; `prefer`,
        for add and multiply, the operand whose NaN the result is where both are NaN."""
        b = self.b
        if kernel in ("add", "multiply") and prefer is not None:
            value = (b.fadd if kernel == "add" else b.fmul)(*operands)
            return nan_from_ir(self, operands[prefer], value)
        if kernel == "add":
            return b.fadd(*operands)
        if kernel == "subtract":
            return b.fsub(*operands)
        if kernel == "multiply":
            return b.fmul(*operands)
        if kernel == "divide":
            return b.fdiv(*operands)
        if kernel == "square":
            return b.fmul(operands[0], operands[0])
        if kernel == "negative":  # (the sign bit flipped, NaN's too, as NumPy does)
            return b.fneg(operands[0])
        if kernel in ("sqrt", "abs"):
            return self._intrinsic("sqrt" if kernel == "sqrt" else "fabs", operands[0])
        if kernel in ("maximum", "minimum", "relu"):
            first = operands[0]
            second = (self.constant(result, 0.0, width) if kernel == "relu" else operands[1])
            extreme = self._x86_extreme("min" if kernel == "minimum" else "max", first,
                                        second, result, width)
            return b.select(b.fcmp_unordered("uno", first, first), first, extreme)
        if kernel in _COMPARISONS:
            # (!= holds where either is NaN, as NumPy's does: the unordered comparison.)
            compare = b.fcmp_unordered if kernel == "not_equal" else b.fcmp_ordered
            return compare(_COMPARISONS[kernel], *operands)
        if kernel == "select":
            return b.select(*operands)
        if kernel == "sigmoid":
            return sigmoid_ir(self, operands[0])
        if kernel == "cast":
            value, source = operands[0], types[0]
            if source == result:
                return value
            if result == _BOOL:  # nonzero, NaN included
                return b.fcmp_unordered("!=", value, self.constant(source, 0.0, width))
            if source == _BOOL:
                return b.uitofp(value, self.type(result, width))
            convert = b.fpext if result.itemsize > source.itemsize else b.fptrunc
            return convert(value, self.type(result, width))
        raise ValueError(kernel)

    def steps(self, steps, types, values, width):
        """Runs the lowered steps, adding each result to `values` (register -> value)."""
        for reg, kernel, refs, result, prefer in steps:
            values[reg] = self.instruction(kernel, [values[r] for r in refs],
                                           [types[r] for r in refs], result, width, prefer)

    def span(self, start, stop, body):
        """body(offset, width) over range(start, stop): _UNROLL vectors a step, then single
        elements."""
        step = self.width * _UNROLL
        count = self.b.sub(stop, start)
        whole = self.add(start, self.mul(self.b.sdiv(count, self.const(step)), self.const(step)))

        def vectors(i):
            for u in range(_UNROLL):
                body(self.add(i, self.const(u * self.width)), self.width)
        self.loop(start, whole, vectors, step=step)
        self.loop(whole, stop, lambda i: body(i, 1))


def nan_from_ir(builder, preferred, value):
    """value, or `preferred` made quiet where that is NaN (LLVM values of one float type, a
    vector or one value, built with `builder`, a numpy_llvm.Builder): the NaN these loops
    give a sum or product of two NaNs, `preferred` its first operand, or the single element
    beside an array. x86's add and multiply return the first operand's NaN where both are
    NaN, and LLVM may swap the operands of either (to read one from memory); NumPy's loops
    give the first operand's NaN for two arrays and the single element's for an array and a
    single element."""
    ir, b = builder.ir, builder.b
    vector = isinstance(value.type, ir.VectorType)
    element = value.type.element if vector else value.type
    bits = 64 if isinstance(element, ir.DoubleType) else 32
    integer = ir.IntType(bits)
    kind = ir.VectorType(integer, value.type.count) if vector else integer
    quiet_bit = 1 << (51 if bits == 64 else 22)
    quiet = ir.Constant(kind, [quiet_bit] * value.type.count if vector else quiet_bit)
    made_quiet = b.bitcast(b.or_(b.bitcast(preferred, kind), quiet), value.type)
    return b.select(b.fcmp_unordered("uno", preferred, preferred), made_quiet, value)


def sigmoid_ir(builder, x):
    """numpy_backend.sigmoid of the float32 LLVM value x (one value, a vector of up to 8
    lanes, or one of an even count up to 16), built with `builder`, a numpy_llvm.Builder:
    d = exp(-|x|) + 1, then exp(min(x, 0)) / d, the two exps one call of NumPy's exp on 16
    lanes (-|x| in the low `width`, min(x, 0) above them). -|x| sets the sign bit, as
    np.copysign(x, -1) does; min(x, 0) only feeds exp, which gives 1 for either zero and
    NumPy's NaN for any NaN, so x where x < 0 or NaN, else 0, gives np.minimum's exps. A
    vector of 10-14 lanes is taken in halves; one of 16 in one exp call (see below). The
    same per-lane bits either way. Use it only where sigmoid_lowered()."""
    ir, b = builder.ir, builder.b
    i32 = ir.IntType(32)
    vector = isinstance(x.type, ir.VectorType)
    width = x.type.count if vector else 1
    if not isinstance(x.type.element if vector else x.type, ir.FloatType) or width > 16 or (
            width > 8 and width % 2):
        raise ValueError(f"sigmoid_ir: float32 x of at most 16 lanes, got {x.type}")
    if width == 16:
        # (one exp of 16 lanes: t = x where x is NaN, else -|x|. Where x < 0 both exps'
        # arguments are t; where x >= 0 (either zero too) exp(min(x, 0)) is exp(+0) = 1.0
        # (p0 / q0 = 1 / 1, scaled by 2 ** 0); a NaN gives exp_ir's one NaN either way. The
        # same operands to the same fadd and fdiv: the same bits, one exp and one division
        # where the halves took two of each.)
        wide = _Wide(builder)
        integer = ir.VectorType(i32, 16)
        negative = b.bitcast(b.or_(b.bitcast(x, integer),
                                   ir.Constant(integer, [-(1 << 31)] * 16)), x.type)
        e = numpy_softmax_native.exp_ir(wide, b.select(b.fcmp_unordered("uno", x, x), x,
                                                       negative))
        one = wide.splat(1.0)
        numerator = b.select(b.fcmp_unordered("<", x, wide.zero), e, one)
        return b.fdiv(numerator, b.fadd(e, one))
    if width > 8:
        half = width // 2
        undefined = ir.Constant(x.type, ir.Undefined)
        parts = [sigmoid_ir(builder, b.shuffle_vector(x, undefined, ir.Constant(
            ir.VectorType(i32, half), list(range(start, start + half))))) for start in (0, half)]
        return b.shuffle_vector(parts[0], parts[1], ir.Constant(
            ir.VectorType(i32, width), list(range(width))))
    wide = _Wide(builder)
    integer = i32 if width == 1 else ir.VectorType(i32, width)
    sign = ir.Constant(integer, -(1 << 31) if width == 1 else [-(1 << 31)] * width)
    negative = b.bitcast(b.or_(b.bitcast(x, integer), sign), x.type)
    zero = ir.Constant(x.type, [0.0] * width if vector else 0.0)
    low = b.select(b.fcmp_unordered("<", x, zero), x, zero)
    if width == 1:
        both = b.insert_element(wide.zero, negative, ir.Constant(i32, 0))
        both = b.insert_element(both, low, ir.Constant(i32, width))
    else:
        both = b.shuffle_vector(negative, low, ir.Constant(
            ir.VectorType(i32, 2 * width), list(range(2 * width))))
        if 2 * width < 16:
            padding = ir.Constant(both.type, [0.0] * (2 * width))
            both = b.shuffle_vector(both, padding, ir.Constant(
                ir.VectorType(i32, 16), list(range(2 * width)) + [2 * width] *
                (16 - 2 * width)))
    exps = numpy_softmax_native.exp_ir(wide, both)

    def part(first):
        if width == 1:
            return b.extract_element(exps, ir.Constant(i32, first))
        return b.shuffle_vector(exps, ir.Constant(wide.vector, ir.Undefined), ir.Constant(
            ir.VectorType(i32, width), list(range(first, first + width))))
    d = b.fadd(part(0), ir.Constant(x.type, [1.0] * width if vector else 1.0))
    return b.fdiv(part(width), d)


class _Wide:
    """What numpy_softmax_native.exp_ir reads of a builder (a numpy_llvm.Builder), for 16
    float32 lanes."""

    def __init__(self, code):
        ir = code.ir
        self.ir, self.b, self.module_function = ir, code.b, code.module_function
        self.vector = ir.VectorType(ir.FloatType(), 16)
        self.zero = ir.Constant(self.vector, [0.0] * 16)
        self.fma = code.module_function("llvm.fma.v16f32", [self.vector] * 3, self.vector)

    def splat(self, value):
        return self.ir.Constant(self.vector, [value] * 16)


def _compile(key, name, fill, pointers, integers):
    """numpy_llvm.compiled, or None where LLVM refuses the module (the NumPy path runs)."""
    try:
        return numpy_llvm.compiled((__name__,) + key, name, fill, pointers, integers)
    except Exception:  # noqa: BLE001 - any failure to build or compile: the NumPy path
        return None


# ------------------------------------------------------------------ update groups

def update_group(parts, counts):
    """For numpy_backend.fused_update_group: a function (longs, args) -> a callable (begin,
    end) running every update of the group over that range of its buffers as one loop, for
    these arguments (whose layout fused_update_group checked: `longs` per update, which
    inputs are long), or None where a program is not lowered here. `parts` are (program,
    input count, reads_target); `counts` the arguments of each update."""
    if not available():
        return None
    return by_arguments(parts, counts, _group, lambda group, args: group.bind(args))


def by_arguments(parts, counts, make, bind_group):
    """The function (longs, args) of update_group (here and in numpy_loops): for each
    layout of the arguments, make(parts, counts, longs, args, same) made once (a group, or
    None), then bind_group(group, args). Arrays that are the same object become one
    argument of the loop (same[k]: the first position of the array at position k, -1 for
    single elements): a later update then reads what an earlier one stored at the same
    index."""
    groups = {}  # (longs, same arrays, dtypes) -> a group or None
    flags = [(n_inputs, count) for (_, n_inputs, _), count in zip(parts, counts)]

    def bind(longs, args):
        ids = [id(a) for a in args]
        same = []
        start = 0
        for (n_inputs, count), long in zip(flags, longs):
            for k in range(count):
                same.append(ids.index(ids[start + k]) if k >= n_inputs or long[k] else -1)
            start += count
        key = (longs, tuple(same), tuple([getattr(a, "dtype", None) for a in args]))
        group = groups.get(key, False)
        if group is False:
            if len(groups) > 16:
                groups.clear()
            group = groups[key] = make(parts, counts, longs, args, same)
        return None if group is None else bind_group(group, args)
    return bind


class _Group:
    """The compiled loop of one update group for one layout of its arguments."""

    def __init__(self, function, starts, lowered, arrays, scalars):
        self.function = function
        self.starts = starts  # per update, the position of its first argument
        self.lowered = lowered  # per update, (program, input count, head instructions)
        self.arrays = arrays  # argument positions of the distinct long arrays
        self.scalars = scalars  # (update, register, dtype) per scalar argument

    def bind(self, args):
        """The loop over a range, with these arguments' arrays and scalars; None where a
        scalar's dtype is not the one the loop was made for."""
        registers = []
        for (program, n_inputs, head), start in zip(self.lowered, self.starts):
            values = list(args[start:start + n_inputs]) + [None] * len(program)
            run_head(program, n_inputs, head, values)
            registers.append(values)
        bits = []
        for u, r, dtype in self.scalars:
            value = _bits(registers[u][r], dtype)
            if value is None:
                return None
            bits.append(value)
        arrays = [args[k] for k in self.arrays]
        pointers = [_address(a) for a in arrays]
        function = self.function

        def run(begin, end, _held=arrays):
            function(*pointers, *bits, begin, end)
        return run


def _group(parts, counts, longs, args, same):
    """The _Group of these updates for arguments of these dtypes, where `same[k]` is the
    first position of the array at position k (-1 for single elements); None where a
    program is not lowered here."""
    first = sorted({k for k in same if k >= 0})
    slot = {k: i for i, k in enumerate(first)}
    dtypes = [dtype_of(args[k]) for k in first]
    if any(d not in _FLOATS and d != _BOOL for d in dtypes):
        return None
    # per update: (input slots, long flags, steps, register dtypes, target slot, result
    # register, scalar register -> its position among the scalar arguments)
    plans = []
    scalars = []
    lowered = []
    start = 0
    for u, ((program, n_inputs, _), count, long) in enumerate(zip(parts, counts, longs)):
        refs = [slot.get(same[start + k]) for k in range(count)]
        kinds = ["long" if is_long else "scalar" for is_long in long]
        input_types = [dtype_of(a) for a in args[start:start + n_inputs]]
        if any(d is None for d in input_types):
            return None
        found = _lower(program, kinds, input_types)
        if found is None:
            return None
        head, steps, reads, final, types = found
        target = refs[count - 1]  # (the last input where the program reads it)
        if dtypes[target] != types[final]:
            return None
        positions = {}
        for r in reads:
            positions[r] = len(scalars)
            scalars.append((u, r, types[r]))
        plans.append((refs[:n_inputs], long, steps, types, target, final, positions))
        lowered.append((program, n_inputs, head))
        start += count
    scalar_types = [dtype for _, _, dtype in scalars]

    def fill(ir, module):
        k = _Code(ir, module, "group", dtypes, scalar_types, ["begin", "end"])

        def body(offset, width):
            # slot -> its value at this offset: loaded once, and after an update stores
            # into the slot, the value it stored, which a later update reads rather than
            # the memory just written.
            held = {}
            for inputs, long, steps, types, target, final, positions in plans:
                values = {}
                for i, (s, is_long) in enumerate(zip(inputs, long)):
                    if is_long:
                        if s not in held:
                            held[s] = k.load(k.pointers[s], offset, dtypes[s], width)
                        values[i] = held[s]
                for r, position in positions.items():
                    values[r] = k.splat(k.scalars[position], width)
                k.steps(steps, types, values, width)
                k.store(values[final], k.pointers[target], offset, dtypes[target], width)
                held[target] = values[final]
        k.span(k.args["begin"], k.args["end"], body)
        k.b.ret_void()
    key = ("group", tuple(dtypes), tuple(scalar_types),
           tuple((tuple(inputs), long, tuple(steps), tuple(types), target, final,
                  tuple(positions.items()))
                 for inputs, long, steps, types, target, final, positions in plans))
    function = _compile(key, "group", fill, len(dtypes), len(scalars) + 2)
    if function is None:
        return None
    starts = [sum(counts[:u]) for u in range(len(counts))]
    return _Group(function, starts, lowered, first, scalars)


def dtype_of(a):
    """a's NumPy dtype, or None where it has none."""
    dtype = getattr(a, "dtype", None)
    return None if dtype is None else np.dtype(dtype)


# ------------------------------------------------------------------ elementwise programs

def elementwise(program, fallback):
    """For numpy_backend.specialize: a callable (*inputs, out=None) computing `program` as
    `fallback` (the NumPy runner's callable with that signature) does, by one loop over
    the result where the inputs allow it (C-contiguous, each the result's shape, a single
    element, or a block of its leading or trailing axes: a bias row, a column of
    per-example values, or both: a squeeze-and-excitation gate), else through `fallback`."""
    return by_layout(program, fallback, _layout)


def by_layout(program, fallback, layout):
    """The callable (*inputs, out=None) of elementwise (here and in numpy_loops): for each
    layout of the inputs (shapes, dtypes, contiguity), layout(program, inputs, fallback)
    made once, a function (inputs, out) or None for `fallback`."""
    layouts = {}

    def run(*inputs, out=None):
        key = tuple((a.shape, a.dtype, a.flags.c_contiguous) if type(a) is np.ndarray else
                    (type(a), getattr(a, "dtype", None)) for a in inputs)
        found = layouts.get(key)
        if found is None:
            if len(layouts) > 64:
                layouts.clear()
            found = layouts[key] = layout(program, inputs, fallback) or False
        if found is False:
            return fallback(*inputs, out=out)
        return found(inputs, out)
    return run


def broadcast_kinds(inputs):
    """(the result's shape, kinds, split) for the inputs of an elementwise program (see
    _kinds), or None where they are not C-contiguous arrays or NumPy scalars of shapes a
    loop handles (here and in numpy_loops)."""
    shapes = []
    for a in inputs:
        if type(a) is np.ndarray:
            if not a.flags.c_contiguous and a.size > 1:
                return None
            shapes.append(a.shape)
        elif isinstance(a, np.generic):
            shapes.append(())
        else:
            return None
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        return None
    if not shape:
        return None
    found = _kinds(shapes, shape)
    return None if found is None else (shape, *found)


def _kinds(shapes, shape):
    """Per input, "long" (the result's shape), "scalar" (one element), "row" (the result's
    trailing axes from `split` on), "column" (its leading axes up to `split`) or "block"
    (its leading axes up to a and trailing axes from b on, ones between: squeeze-and-
    excitation's (n, 1, 1, c) gate against (n, h, w, c), one c-vector per image read for
    each of its h*w pixels); with `split`: None where there is no row, column or block,
    (a, b) where there is a block (rows then split at b, columns at a), else the one split
    of the rows and columns. None where an input is none of these, or they split the axes
    in more places."""
    rank = len(shape)
    kinds = []
    splits = []
    for s in shapes:
        if s == shape:
            kinds.append("long")
            continue
        padded = (1,) * (rank - len(s)) + tuple(s)
        leading = next((k for k, d in enumerate(padded) if d != 1), rank)
        trailing = next((k for k in range(rank, 0, -1) if padded[k - 1] != 1), 0)
        if leading == rank:
            kinds.append("scalar")
            continue
        if padded[leading:] == shape[leading:]:
            kind, at = "row", leading
        elif padded[:trailing] == shape[:trailing]:
            kind, at = "column", trailing
        else:
            a = next(k for k in range(rank) if padded[k] != shape[k])
            b = next(k for k in range(rank, 0, -1) if padded[k - 1] != shape[k - 1])
            if any(d != 1 for d in padded[a:b]):
                return None
            kind, at = "block", (a, b)
        kinds.append(kind)
        splits.append((kind, at))
    blocks = {at for kind, at in splits if kind == "block"}
    if not blocks:
        points = {at for _, at in splits}
        return None if len(points) > 1 else (kinds, next(iter(points), None))
    if len(blocks) > 1:
        return None
    (a, b), = blocks
    if any(at != {"row": b, "column": a}.get(kind, at) for kind, at in splits):
        return None
    return kinds, (a, b)


def _layout(program, inputs, fallback):
    """A function (inputs, out) running the program's loop for inputs of these shapes and
    dtypes, or None."""
    if not available():
        return None
    found = broadcast_kinds(inputs)
    if found is None:
        return None
    shape, kinds, split = found
    dtypes = [np.dtype(a.dtype) for a in inputs]
    if any(d not in _FLOATS and d != _BOOL for d in dtypes):
        return None
    lowered = _lower(program, ["scalar" if k == "scalar" else "long" for k in kinds], dtypes)
    if lowered is None:
        return None
    head, steps, reads, final, types = lowered
    dtype = types[final]
    arrays = [i for i, k in enumerate(kinds) if k != "scalar"]
    size = int(np.prod(shape, dtype=np.int64))
    flat = split is None
    # (blocks: rows over the axes before a, each of `repeats` runs of `columns` elements)
    a, b = split if type(split) is tuple else (split, split)
    rows = 1 if flat else int(np.prod(shape[:a], dtype=np.int64))
    columns = size if flat else int(np.prod(shape[b:], dtype=np.int64))
    count = size if flat else rows
    sizes = (columns,) if a == b else (columns, int(np.prod(shape[a:b], dtype=np.int64)))
    functions = {}  # which input `out` is (-1: none) -> the compiled loop or None

    def function(alias):
        if alias not in functions:
            functions[alias] = _elementwise_loop(kinds, steps, types, reads, final, flat,
                                                 alias, len(sizes) > 1)
        return functions[alias]
    if len(sizes) > 1 and columns * sum(types[r].itemsize for r in
                                        _hoisted(kinds, steps)[2]) > _HOISTED_MAX_BYTES:
        return None
    if function(-1) is None:
        return None
    nb = _nb()
    nbytes = size * (dtype.itemsize + sum(types[i].itemsize for i in arrays
                                          if kinds[i] == "long"))
    n = len(inputs)

    def run(inputs, out):
        registers = list(inputs) + [None] * len(program)
        run_head(program, n, head, registers)
        bits = []
        for r in reads:
            value = _bits(registers[r], types[r])
            if value is None:
                return fallback(*inputs, out=out)
            bits.append(value)
        alias = -1
        if (out is None or type(out) is not np.ndarray or out.shape != shape
                or out.dtype != dtype or not out.flags.c_contiguous
                or not out.flags.writeable):
            out = np.empty(shape, dtype)
        else:
            # out may be one input itself (the loop then writes through that input's
            # pointer), and share memory with no other.
            shared = [i for i, a in enumerate(inputs)
                      if type(a) is np.ndarray and np.may_share_memory(out, a)]
            if len(shared) == 1 and inputs[shared[0]] is out:
                alias = shared[0]
            elif shared:
                out = np.empty(shape, dtype)
        loop = function(alias)
        if loop is None:
            return fallback(*inputs, out=out)
        pointers = [_address(inputs[i]) for i in arrays]
        if alias < 0:
            pointers.append(_address(out))
        if nbytes < _SPLIT_MIN_BYTES or nb._THREADS < 2:
            loop(*pointers, *bits, 0, count, *sizes)
        else:
            nb._in_parallel(lambda piece: loop(*pointers, *bits, piece.start or 0,
                                               min(piece.stop or count, count), *sizes),
                            nb._pieces(count, nbytes), nbytes)
        return out
    return run


def _hoisted(kinds, steps):
    """(the steps that read no long input, directly or through other steps; the others;
    the registers of the first that the second read) for a blocked loop, which computes
    the first once per image, into a buffer of one value per column: a gate's bias and
    sigmoid once per channel, not once per pixel, each the same operation on the same
    operands, so the same bits."""
    varying = {i for i, kind in enumerate(kinds) if kind == "long"}
    once, each = [], []
    for step in steps:
        if any(r in varying for r in step[2]):
            varying.add(step[0])
            each.append(step)
        else:
            once.append(step)
    made = {step[0] for step in once}
    return once, each, sorted({r for step in each for r in step[2] if r in made})


def _elementwise_loop(kinds, steps, types, reads, final, flat, alias, blocks=False):
    """The compiled loop of a program's steps: its arguments are the pointers of the inputs
    that are not single elements, then out's (unless `alias` >= 0 is the input that out is),
    the bits of the scalar registers `reads`, then begin, end and columns (and with
    `blocks`, repeats). Flat: over elements [begin, end) of the inputs; else over rows
    [begin, end) of `columns` elements, or with `blocks` of `repeats` runs of `columns`
    elements, a block input's row of `columns` read for each run and the steps of
    _hoisted's first part made once per row (kinds as _kinds gives them)."""
    arrays = [i for i, kind in enumerate(kinds) if kind != "scalar"]
    dtype = types[final]
    pointer_dtypes = [types[i] for i in arrays] + ([dtype] if alias < 0 else [])
    scalar_types = [types[r] for r in reads]

    def fill(ir, module):
        k = _Code(ir, module, "loop", pointer_dtypes, scalar_types,
                  ["begin", "end", "columns"] + (["repeats"] if blocks else []))
        pointer = dict(zip(arrays, k.pointers))
        out = pointer[alias] if alias >= 0 else k.pointers[-1]
        begin, end = k.args["begin"], k.args["end"]
        once, each, kept = _hoisted(kinds, steps) if blocks else ((), steps, ())
        # (in the entry block: one buffer per call, not per row)
        buffers = {r: k.b.alloca(k.kinds[types[r]], size=k.args["columns"]) for r in kept}

        def body(long_at, per_row, block_at=None, part=each):
            """The steps `part` at a column offset; long_at None: _hoisted's first part,
            its values stored into the buffers."""
            def at(offset, width):
                values = {}
                for i in arrays:
                    if kinds[i] == "column":
                        values[i] = k.splat(per_row[i], width)
                    elif kinds[i] != "long" or long_at is not None:
                        start = {"long": long_at, "block": block_at}.get(kinds[i])
                        place = offset if start is None else k.add(start, offset)
                        values[i] = k.load(pointer[i], place, types[i], width)
                for r, value in zip(reads, k.scalars):
                    values[r] = k.splat(value, width)
                if long_at is None:
                    k.steps(part, types, values, width)
                    for r in kept:
                        k.store(values[r], buffers[r], offset, types[r], width)
                    return
                for r in kept:
                    values[r] = k.load(buffers[r], offset, types[r], width)
                k.steps(part, types, values, width)
                k.store(values[final], out, k.add(long_at, offset), dtype, width)
            return at
        if flat:
            k.span(begin, end, body(k.const(0), {}))
        else:
            columns = k.args["columns"]

            def row(r):
                per_row = {i: k.load(pointer[i], r, types[i], 1) for i in arrays
                           if kinds[i] == "column"}
                if not blocks:
                    k.span(k.const(0), columns, body(k.mul(r, columns), per_row))
                    return
                repeats = k.args["repeats"]
                block_at = k.mul(r, columns)
                if once:
                    k.span(k.const(0), columns, body(None, per_row, block_at, once))
                k.loop(k.const(0), repeats, lambda m: k.span(k.const(0), columns, body(
                    k.mul(k.add(k.mul(r, repeats), m), columns), per_row, block_at)))
            k.loop(begin, end, row)
        k.b.ret_void()
    key = ("loop", tuple(kinds), tuple(steps), tuple(types), tuple(reads), final, flat, alias,
           blocks)
    if any(step[1] == "sigmoid" for step in steps):
        # (its exp's IR comes from numpy_softmax_native, which numpy_llvm's cache file names
        # do not fingerprint on their own)
        key += (numpy_llvm.source_digest(numpy_softmax_native.__file__),)
    return _compile(key, "loop", fill, len(pointer_dtypes), len(scalar_types) + 3 + blocks)
