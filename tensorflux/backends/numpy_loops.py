"""Numba loops for the NumPy runner of a plan built for jit_compile (Plan(..., native=True)):
its large fused elementwise programs and optimizer update groups, one pass over the elements
each instead of one NumPy pass per instruction. Where numpy_elementwise_native's llvmlite
loops run, every plan takes those instead (numpy_backend._loops); these serve jit_compile
plans where they do not (no AVX2/FMA, or TENSORFLUX_NATIVE_KERNELS=0), and share that
module's layout analysis, argument caches and per-call head instructions.

These are the plans too large for the whole-plan native step (numpy_native): a wide MLP's
bias + relu over (256, 1024) activations, its relu gradients, Adam over its 1.9M parameters.
The NumPy runner keeps its GEMMs, reductions and threads; a program here becomes a Python
wrapper that takes the arrays apart and one Numba function (nogil, so the backend's thread
pool runs pieces of it at once) looping over the elements with each register a local scalar,
where NumPy makes a pass over memory (or over a cache-sized chunk) per instruction: W4's
Adam (three updates over 1.86M float32 parameters) takes 0.6-0.8 ms on one thread instead of
2.3 ms, its (256, 1024) bias + relu 26 us instead of 68 us.

Numerics: the same operations on the same dtypes in the same order, each rounded to its
dtype as NumPy's loops round it (+, -, *, /, sqrt are IEEE; LLVM does not contract a*b + c
into an FMA without fast-math, which is never asked for; maximum, minimum and relu keep
NumPy's NaN and signed-zero rules, and where a compiled run flushes subnormals
(denormals-are-zero) return a subnormal operand as the signed zero NumPy's return, see
_lower): the same bits as the NumPy runner. Instructions whose operands are all single
elements (an optimizer's step-dependent factors) are computed once per call by the NumPy
backend's own kernels, as the NumPy runner computes them. Programs with any other
instruction (exp, log, tanh: NumPy's SIMD loops round differently from libm), integer
arithmetic, non-contiguous arrays or broadcasts other than a leading or trailing block keep
the NumPy path; so does everything where Numba is not installed.
"""

import threading

import numpy as np

from tensorflux.backends.numpy_elementwise_native import (
    broadcast_kinds,
    by_arguments,
    by_layout,
    dtype_of,
    run_head,
)

__all__ = ["available", "elementwise", "update_group"]

# Loops are compiled per generated source (one per distinct program and input layout) and
# kept for the process; Numba takes about 0.3 s a loop, once.
_LOOPS = {}
_LOOPS_LOCK = threading.Lock()

# A loop over fewer bytes than this (read and written) runs on the calling thread alone: it
# goes through memory at tens of GB/s, so a worker's wake-up (about 50 us) costs more than
# half of it saves (W4's (256, 1024) bias + relu, its input not in cache: 61 us on one
# thread, 110 us split in two; 26 and 50 us from cache).
_SPLIT_MIN_BYTES = 1 << 23

_FLOATS = frozenset(np.dtype(t) for t in (np.float32, np.float64))
_BOOL = np.dtype(np.bool_)

# Instructions whose operands and result all have one float dtype: Python expressions over
# the registers (each a plain local name, so repeating one costs nothing).
_ARITHMETIC = {
    "add": "{0} + {1}", "subtract": "{0} - {1}", "multiply": "{0} * {1}",
    "divide": "{0} / {1}", "negative": "-{0}", "square": "{0} * {0}", "sqrt": "np.sqrt({0})",
    "abs": "abs({0})",
    # NumPy's maximum and minimum: the first operand where it is NaN or strictly beyond the
    # second, else the second (maximum(-0.0, 0.0) is 0.0, maximum(0.0, -0.0) is -0.0).
    "maximum": "{0} if ({0} != {0} or {0} > {1}) else {1}",
    "minimum": "{0} if ({0} != {0} or {0} < {1}) else {1}",
    # relu is maximum(x, 0) (numpy_backend.relu).
    "relu": "{0} if ({0} != {0} or {0} > {zero}) else {zero}",
}
_EXTREMES = frozenset(("maximum", "minimum", "relu"))
# The zeros every loop takes after its single-element values (fz32, fz64; see _lower).
_FLUSH_ZEROS = (np.float32(0), np.float64(0))
_FLUSH_NAMES = ["fz32", "fz64"]
_COMPARISONS = {"greater": ">", "greater_equal": ">=", "less": "<", "less_equal": "<=",
                "equal": "==", "not_equal": "!="}


def available():
    """Whether Numba can be imported (the `jit` extra)."""
    from tensorflux.backends import numpy_native

    return numpy_native.available()


def _njit(source, name):
    """The Numba function `name` defined by `source`, compiled on its first call; one per
    distinct source."""
    found = _LOOPS.get(source)
    if found is None:
        import numba

        with _LOOPS_LOCK:
            found = _LOOPS.get(source)
            if found is None:
                namespace = {"np": np}
                exec(compile(source, f"<numpy loop {name}>", "exec"), namespace)  # noqa: S102
                found = _LOOPS[source] = numba.njit(namespace[name], nogil=True,
                                                    error_model="numpy", cache=False)
    return found


def _nb():
    from tensorflux.backends import numpy_backend

    return numpy_backend


# ------------------------------------------------------------------ lowering one program

def _lower(program, kinds, dtypes, tag):
    """Splits `program` into its single-element instructions (computed per call, see _head)
    and the lines of a loop body computing the others per element.

    kinds[i] is "long" for an input read per element (as `{tag}v{i}`, loaded by the
    caller's lines), "scalar" for a single element (passed to the loop as `{tag}r{i}`);
    dtypes[i] its NumPy dtype. Returns (head instruction indices, body lines, the registers
    the body reads from the head or the scalar inputs, the result's register name and dtype),
    or None where an instruction is not lowered here."""
    n = len(kinds)
    long = [kind == "long" for kind in kinds]
    types = list(dtypes)
    head, body, scalars = [], [], []

    def name(r):
        if long[r]:
            return f"{tag}v{r}"
        if r not in scalars:
            scalars.append(r)
        return f"{tag}r{r}"

    for j, (kernel, refs, attrs, dtype) in enumerate(program):
        reg = n + j
        result = np.dtype(dtype.as_numpy_dtype)
        long.append(any(long[r] for r in refs))
        types.append(result)
        if not long[reg]:
            head.append(j)
            continue
        operands = [types[r] for r in refs]
        args = [name(r) for r in refs]
        attrs = dict(attrs)
        if kernel in _ARITHMETIC and not attrs:
            if result not in _FLOATS or any(t != result for t in operands):
                return None
            zero = f"np.{result.name}(0)"
            expression = _ARITHMETIC[kernel].format(*args, zero=zero)
            if kernel in _EXTREMES:
                # NumPy's maximum and minimum (x86's max and min instructions) return
                # a subnormal operand as the signed zero it compares as where a compiled run
                # flushes subnormals (denormals-are-zero); a Python conditional keeps its
                # bits. A result equal to zero is made the zero a product gives: itself
                # where subnormals are kept (+-0.0 * 0.0 is +-0.0), its signed zero where
                # they are flushed.
                # (The zero is the loop's argument fz32 or fz64, not a constant: LLVM, which
                # assumes subnormals are kept, folds the test against a constant away.)
                body.append(f"{tag}v{reg} = {expression}")
                v, z = f"{tag}v{reg}", f"fz{result.itemsize * 8}"
                expression = f"{v} * {z} if {v} == {z} else {v}"
        elif kernel in _COMPARISONS and not attrs:
            if result != _BOOL or operands[0] not in _FLOATS or operands[1] != operands[0]:
                return None
            expression = f"{args[0]} {_COMPARISONS[kernel]} {args[1]}"
        elif kernel == "select" and not attrs:
            if operands[0] != _BOOL or operands[1] != result or operands[2] != result or (
                    result not in _FLOATS and result != _BOOL):
                return None
            expression = f"{args[1]} if {args[0]} else {args[2]}"
        elif kernel == "cast" and set(attrs) == {"dtype"}:
            source = operands[0]
            if source not in _FLOATS and source != _BOOL:
                return None
            if result in _FLOATS:
                expression = f"np.{result.name}({args[0]})"
            elif result == _BOOL:
                expression = (args[0] if source == _BOOL else
                              f"{args[0]} != np.{source.name}(0)")
            else:
                return None
        else:
            return None
        body.append(f"{tag}v{reg} = {expression}")
    final = n + len(program) - 1
    if not long[final]:
        return None
    return head, body, scalars, f"{tag}v{final}", types[final]


def _scalar(value, dtype):
    """A single-element array or NumPy scalar as a NumPy scalar of `dtype`, or None where its
    dtype is another (the loop would compute in another type than NumPy does)."""
    value = value.reshape(())[()] if type(value) is np.ndarray else value
    if not isinstance(value, np.generic) or value.dtype != dtype:
        return None
    return value


# ------------------------------------------------------------------ update groups

class _Group:
    """The loop of one fused_update_group for one layout of its arguments (which are the
    same arrays, their dtypes)."""

    def __init__(self, source, starts, lowered, arrays, scalars):
        self.loop = _njit(source, "group")
        self.starts = starts  # per update, the position of its first argument
        self.lowered = lowered  # per update, (program, input count, head instructions)
        self.arrays = arrays  # argument positions of the distinct long arrays
        self.scalars = scalars  # (update, register, argument position or None, dtype)
        self.compiled = None  # whether Numba compiled the loop, after the first call


def update_group(parts, counts):
    """For numpy_backend.fused_update_group: a function (longs, args) -> a callable (begin,
    end) running every update of the group over that range of its buffers as one loop, for
    these arguments (whose layout fused_update_group checked: `longs` per update, which
    inputs are long), or None where a program is not lowered here. `parts` are (program,
    input count, reads_target); `counts` the arguments of each update."""
    if not available():
        return None
    return by_arguments(parts, counts, _group, _bind)


def _group(parts, counts, longs, args, same):
    """The _Group of these updates for arguments of these dtypes, where `same[k]` is the
    first position of the array at position k (-1 for single elements); None where a
    program is not lowered here."""
    first = sorted({k for k in same if k >= 0})
    slot = {k: i for i, k in enumerate(first)}
    lowered = []
    lines = []
    scalars = []
    # slot -> the register holding a{slot}[i] in this iteration: loaded once, and after an
    # update stores into the slot, the register it stored (of the array's dtype: the same
    # bits). A later update reads that register rather than the memory just written, which
    # LLVM must otherwise reload, the arrays possibly overlapping for all it knows (W4's Adam
    # over 1.06M parameters: 330 -> 250 us from cache, 585 -> 450 us from memory).
    held = {}
    start = 0
    for u, ((program, n_inputs, _), count, long) in enumerate(zip(parts, counts, longs)):
        refs = [slot.get(same[start + k]) for k in range(count)]
        kinds = ["long" if is_long else "scalar" for is_long in long]
        dtypes = [dtype_of(a) for a in args[start:start + n_inputs]]
        if any(d is None for d in dtypes):
            return None
        found = _lower(program, kinds, dtypes, f"u{u}_")
        if found is None:
            return None
        head, body, reads, result, dtype = found
        target = refs[count - 1]  # (the last input where the program reads it)
        if args[start + count - 1].dtype != dtype:
            return None
        for i in range(n_inputs):
            if long[i]:
                lines.append(f"u{u}_v{i} = {held.get(refs[i], f'a{refs[i]}[i]')}")
                held.setdefault(refs[i], f"u{u}_v{i}")
        lines += body
        lines.append(f"a{target}[i] = {result}")
        held[target] = result
        types = dtypes + [np.dtype(d.as_numpy_dtype) for _, _, _, d in program]
        for r in reads:
            scalars.append((u, r, start + r if r < n_inputs else None, types[r]))
        lowered.append((program, n_inputs, head))
        start += count
    names = [f"a{k}" for k in range(len(first))]
    parameters = names + [f"u{u}_r{r}" for u, r, _, _ in scalars] + _FLUSH_NAMES
    source = [f"def group({', '.join(parameters + ['begin', 'end'])}):"]
    source += [f"    {a} = {a}[begin:end]" for a in names]
    source += ["    for i in range(a0.shape[0]):"] + [f"        {line}" for line in lines]
    source.append("    return None")
    starts = []
    start = 0
    for count in counts:
        starts.append(start)
        start += count
    return _Group("\n".join(source) + "\n", starts, lowered, first, scalars)


def _compiles(loop, arguments):
    """Whether Numba compiles `loop` for these arguments (an empty range: here, on this
    thread, not on two threads at once). Each loop is lowered from instructions of known
    types, so this holds; where it would not, the NumPy path runs instead."""
    try:
        loop(*arguments, 0, 0)
    except Exception:  # noqa: BLE001 - any typing failure: the NumPy runner's path
        return False
    return True


def _bind(group, args):
    """The group's loop over a range, with these arguments' arrays and scalars."""
    registers = []
    for (program, n_inputs, head), start in zip(group.lowered, group.starts):
        values = list(args[start:start + n_inputs]) + [None] * len(program)
        run_head(program, n_inputs, head, values)
        registers.append(values)
    scalars = []
    for u, r, _, dtype in group.scalars:
        value = _scalar(registers[u][r], dtype)
        if value is None:
            return None
        scalars.append(value)
    arrays = [args[k] for k in group.arrays]
    loop = group.loop
    scalars += _FLUSH_ZEROS
    if group.compiled is None:
        group.compiled = _compiles(loop, arrays + scalars)
    if not group.compiled:
        return None

    def run(begin, end):
        loop(*arrays, *scalars, begin, end)
    return run


# ------------------------------------------------------------------ elementwise programs

def elementwise(program, fallback):
    """For numpy_backend.specialize: a callable (*inputs, out=None) computing `program` as
    `fallback` (the NumPy runner's callable with that signature) does, by one loop over
    the result where the inputs allow it (C-contiguous, each the result's shape, a single
    element, or a block of its leading or trailing axes: a bias row, a column of
    per-example values), else through `fallback`."""
    return by_layout(program, fallback, _layout)


def _layout(program, inputs, fallback):
    """A function (inputs, out) running the program's loop for inputs of these shapes and
    dtypes, or None."""
    if not available():
        return None
    found = broadcast_kinds(inputs)
    if found is None or "block" in found[1]:  # (blocks: numpy_elementwise_native's alone)
        return None
    shape, kinds, split = found
    dtypes = [np.dtype(a.dtype) for a in inputs]
    lowered_kinds = ["scalar" if k == "scalar" else "long" for k in kinds]
    found = _lower(program, lowered_kinds, dtypes, "")
    if found is None:
        return None
    head, body, reads, result, dtype = found
    n = len(inputs)
    types = dtypes + [np.dtype(d.as_numpy_dtype) for _, _, _, d in program]
    arrays = [i for i, k in enumerate(kinds) if k != "scalar"]
    scalar_regs = list(reads)
    parameters = [f"a{i}" for i in arrays] + [f"r{r}" for r in scalar_regs] + _FLUSH_NAMES
    size = int(np.prod(shape, dtype=np.int64))
    if split is None:  # one flat loop
        rows, columns = 1, size
        loads = [f"        v{i} = a{i}[i]" for i in arrays]
        source = [f"def loop({', '.join(parameters + ['out', 'begin', 'end'])}):"]
        source += [f"    a{i} = a{i}[begin:end]" for i in arrays] + ["    out = out[begin:end]"]
        source += ["    for i in range(out.shape[0]):"] + loads
        source += [f"        {line}" for line in body] + [f"        out[i] = {result}"]
        count = size
    else:
        rows = int(np.prod(shape[:split], dtype=np.int64))
        columns = int(np.prod(shape[split:], dtype=np.int64))
        source = [f"def loop({', '.join(parameters + ['out', 'begin', 'end'])}):",
                  "    for r in range(begin, end):", "        o = out[r]"]
        loads = []
        for i in arrays:
            if kinds[i] == "long":
                source.append(f"        b{i} = a{i}[r]")
                loads.append(f"            v{i} = b{i}[j]")
            elif kinds[i] == "row":
                loads.append(f"            v{i} = a{i}[j]")
            else:
                source.append(f"        v{i} = a{i}[r]")
        source += ["        for j in range(o.shape[0]):"] + loads
        source += [f"            {line}" for line in body] + [f"            o[j] = {result}"]
        count = rows
    source.append("    return None")
    loop = _njit("\n".join(source) + "\n", "loop")
    flat = split is None
    shaped = []
    for i in arrays:
        shaped.append((i, (size,) if flat else (rows, columns) if kinds[i] == "long" else
                       (columns,) if kinds[i] == "row" else (rows,)))
    nb = _nb()
    nbytes_per_item = dtype.itemsize + sum(types[i].itemsize for i in arrays
                                           if kinds[i] == "long")
    out_shape = (size,) if flat else (rows, columns)
    compiled = []  # [whether Numba compiled the loop], after the first call

    def run(inputs, out):
        registers = list(inputs) + [None] * len(program)
        run_head(program, n, head, registers)
        scalars = []
        for r in scalar_regs:
            value = _scalar(registers[r], types[r])
            if value is None:
                return fallback(*inputs, out=out)
            scalars.append(value)
        if (out is None or type(out) is not np.ndarray or out.shape != shape
                or out.dtype != dtype or not out.flags.c_contiguous or not out.flags.writeable
                or any(out is not a and type(a) is np.ndarray and np.may_share_memory(out, a)
                       for a in inputs)):
            out = np.empty(shape, dtype)
        arguments = [inputs[i].reshape(s) for i, s in shaped] + scalars + list(_FLUSH_ZEROS)
        target = out.reshape(out_shape)
        if not compiled:
            compiled.append(_compiles(loop, arguments + [target]))
        if not compiled[0]:
            return fallback(*inputs, out=out)
        nbytes = size * nbytes_per_item
        if nbytes < _SPLIT_MIN_BYTES or nb._THREADS < 2:
            loop(*arguments, target, 0, count)
        else:
            nb._in_parallel(lambda piece: loop(*arguments, target, piece.start,
                                               min(piece.stop, count)),
                            nb._pieces(count, nbytes), nbytes)
        return out
    return run
