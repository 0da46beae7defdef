"""The machinery of the NumPy backend's native kernels (numpy_conv_native, numpy_pool_native,
numpy_norm_native): LLVM IR built with llvmlite (Numba's code generator, from the `jit`
extra), compiled to machine code for this CPU once per process (or loaded from an on-disk
cache of the code that earlier processes compiled), and called through ctypes, which releases
the GIL, so that the backend's threads run kernels at once.

The kernels are loop nests written in vectors of the CPU's width (AVX-512, or AVX2 with FMA):
LLVM keeps what it is given, where a loop vectoriser guesses (and prefers 256-bit vectors on
some AVX-512 CPUs). Nothing here runs unless a kernel module asks: `import tensorflux` does
not import llvmlite.
"""

import ctypes
import hashlib
import os
import stat
import sys
import threading

import numpy as np

__all__ = ["Builder", "RowBuilder", "VectorBuilder", "available", "blocking", "cache_counts",
           "compiled", "contiguous", "enable", "enabled", "float32_rows", "lanes", "pairwise_ir",
           "registers", "source_digest"]

_llvm = None  # llvmlite.binding once imported and initialised; False where unusable
_lock = threading.Lock()
_target = None  # (target machine, lanes for float32) once available() has succeeded
_kernels = {}  # key -> (ctypes function, the engine that owns its code)
# TENSORFLUX_NATIVE_KERNELS=0, or enable(False), turns the native kernels off: the NumPy paths
# run, as where llvmlite is not installed (to compare the two, or to rule these out).
_enabled = os.environ.get("TENSORFLUX_NATIVE_KERNELS", "").strip() != "0"
# The code generation settings: the target machine's and the optimisation pipeline's (both
# part of the on-disk cache's fingerprint).
_MACHINE_OPTIONS = {"opt": 3, "reloc": "default", "codemodel": "jitdefault"}
_PIPELINE_OPTIONS = {"speed_level": 3}


def enable(flag):
    """Turns the native kernels on (where available()) or off, for this process."""
    global _enabled
    _enabled = bool(flag)


def enabled():
    """Whether the native kernels are on (they run only where available() too)."""
    return _enabled


def available():
    """Whether native kernels run here: they are enabled, llvmlite imports and the CPU has
    AVX2 with FMA (AVX-512 where it has it). llvmlite is imported on the first call only."""
    global _llvm, _target
    if not _enabled:
        return False
    if _llvm is None:
        with _lock:
            if _llvm is None:
                _llvm, _target = _initialise()
    return _llvm is not False


def _initialise():
    try:
        import llvmlite.binding as llvm
    except ImportError:
        return False, None
    try:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        features = llvm.get_host_cpu_features()
        if not (features.get("avx2") and features.get("fma")):
            return False, None
        # (LLVM's tuning for some AVX-512 CPUs prefers 256-bit vectors in loops it vectorises;
        # these loops are written in vectors of the width asked for, which it keeps.)
        machine = llvm.Target.from_default_triple().create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=features.flatten(), **_MACHINE_OPTIONS)
    except Exception:  # noqa: BLE001 - any failure to set up code generation: NumPy's path
        return False, None
    return llvm, (machine, 16 if features.get("avx512f") else 8)


def lanes(dtype):
    """Vector width in elements of `dtype` (float32 or float64) on this machine."""
    return _target[1] // (2 if np.dtype(dtype) == np.float64 else 1)


def registers():
    """(pixels, channel vectors) held in registers: 24 accumulators of the 32 AVX-512 vector
    registers, 12 of AVX2's 16."""
    return (14, 2) if _target[1] == 16 else (6, 2)


def blocking(size, most):
    """(block, tail): `size` split into blocks of at most `most`, as even as they can be
    (14 -> 7 + 7 rather than 12 + 2: a short block keeps few registers busy)."""
    count = -(-size // most)
    block = -(-size // count)
    return block, size - block * (count - 1) if size % block else 0


class Builder:
    """An LLVM function under construction: its pointer arguments (each `noalias`) and i64
    arguments by label, i64 arithmetic, loops and branches."""

    def __init__(self, ir, module, name, pointers, integers):
        """pointers: [(label, LLVM pointer type)]; integers: [label]."""
        self.ir = ir
        self.i64 = ir.IntType(64)
        kind = ir.FunctionType(ir.VoidType(), [t for _, t in pointers]
                               + [self.i64] * len(integers))
        self.function = ir.Function(module, kind, name=name)
        self.args = {}
        labels = [label for label, _ in pointers] + list(integers)
        for argument, label in zip(self.function.args, labels):
            argument.name = label
            self.args[label] = argument
        self.pointers = list(self.function.args[:len(pointers)])
        for argument in self.pointers:
            argument.add_attribute("noalias")
        self.entry = self.function.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)
        self._loops = 0

    def const(self, value):
        return self.ir.Constant(self.i64, value)

    def add(self, *terms):
        total = terms[0]
        for term in terms[1:]:
            total = self.b.add(total, term)
        return total

    def mul(self, *factors):
        total = factors[0]
        for factor in factors[1:]:
            total = self.b.mul(total, factor)
        return total

    def ceiling(self, value, divisor, most):
        """min(most, ceil(value / divisor)) of i64 values, and 0 where value <= 0."""
        rounded = self.b.sdiv(self.add(value, divisor, self.const(-1)), divisor)
        rounded = self.b.select(self.b.icmp_signed(">", value, self.const(0)), rounded,
                                self.const(0))
        return self.b.select(self.b.icmp_signed("<", rounded, most), rounded, most)

    def loop(self, start, stop, body, step=1):
        """for k in range(start, stop, step): body(k), with k an i64 value."""
        self._loops += 1
        tag = f"loop{self._loops}"
        before = self.b.block
        head = self.function.append_basic_block(tag + "_head")
        inside = self.function.append_basic_block(tag + "_body")
        after = self.function.append_basic_block(tag + "_end")
        self.b.branch(head)
        self.b.position_at_end(head)
        k = self.b.phi(self.i64)
        k.add_incoming(start, before)
        self.b.cbranch(self.b.icmp_signed("<", k, stop), inside, after)
        self.b.position_at_end(inside)
        body(k)
        k.add_incoming(self.b.add(k, self.const(step)), self.b.block)
        self.b.branch(head)
        self.b.position_at_end(after)

    def module_function(self, name, arguments, result):
        """The declared function `name` of this kernel's module (an LLVM intrinsic)."""
        module = self.function.module
        try:
            return module.get_global(name)
        except KeyError:
            return self.ir.Function(module, self.ir.FunctionType(result, arguments), name=name)

    def splat(self, value, width):
        """A vector of `width` copies of the scalar LLVM value (the value itself where
        width is 1)."""
        if width == 1:
            return value
        i32 = self.ir.IntType(32)
        undefined = self.ir.Constant(self.ir.VectorType(value.type, width), self.ir.Undefined)
        one = self.b.insert_element(undefined, value, self.ir.Constant(i32, 0))
        return self.b.shuffle_vector(one, undefined, self.ir.Constant(
            self.ir.VectorType(i32, width), [0] * width))

    def if_else(self, condition, then, otherwise):
        """then() where condition holds, else otherwise(), both continuing after."""
        yes = self.function.append_basic_block("then")
        no = self.function.append_basic_block("else")
        after = self.function.append_basic_block("endif")
        self.b.cbranch(condition, yes, no)
        for block, body in ((yes, then), (no, otherwise)):
            self.b.position_at_end(block)
            body()
            self.b.branch(after)
        self.b.position_at_end(after)

    def blocks(self, total, size, tail, body):
        """body(start, count) over range(total) (an i64 value) in blocks of `size`, then one
        of `tail` (total % size, known when the function is compiled)."""
        whole = self.b.sub(total, self.const(tail))
        self.loop(self.const(0), whole, lambda start: body(start, size), step=size)
        if tail:
            body(whole, tail)


class VectorBuilder(Builder):
    """A Builder of kernels over one float dtype: pointers to it, its vectors of the CPU's
    width, fused multiply-adds, and blocks of accumulators held in registers."""

    def __init__(self, ir, module, name, dtype, pointers, integers):
        double = dtype == np.float64
        self.float = ir.DoubleType() if double else ir.FloatType()
        super().__init__(ir, module, name, [(label, self.float.as_pointer())
                                            for label in pointers], integers)
        self.align = 8 if double else 4
        self.width = lanes(dtype)
        self.vector = ir.VectorType(self.float, self.width)
        suffix = f"v{self.width}f{64 if double else 32}"
        self.fma = self.module_function(f"llvm.fma.{suffix}", [self.vector] * 3, self.vector)
        self.zero = ir.Constant(self.vector, [0.0] * self.width)

    def accumulators(self, rows, vectors):
        """rows x vectors vector slots, allocated in the entry block so that LLVM promotes
        them to registers."""
        with self.b.goto_block(self.entry):
            return [[self.b.alloca(self.vector) for _ in range(vectors)]
                    for _ in range(rows)]

    def _address(self, base, offset):
        return self.b.bitcast(self.b.gep(base, [offset]), self.vector.as_pointer())

    def load_vector(self, base, offset):
        return self.b.load(self._address(base, offset), align=self.align)

    def store_vector(self, value, base, offset):
        self.b.store(value, self._address(base, offset), align=self.align)

    def splat(self, value, width=None):
        """A vector of `value` in every lane (of this builder's width where not given): a
        Python float or a scalar LLVM value."""
        if isinstance(value, float):
            return self.ir.Constant(self.vector, [value] * self.width)
        return super().splat(value, width or self.width)

    def broadcast(self, base, offset):
        return self.splat(self.b.load(self.b.gep(base, [offset])))

    def prefetch(self, base, offset):
        """Asks for the cache line of base[offset] in L1 (a hint: no fault anywhere, so the
        offset may lie past the end of base's array)."""
        i8, i32 = self.ir.IntType(8).as_pointer(), self.ir.IntType(32)
        function = self.module_function("llvm.prefetch.p0i8", [i8, i32, i32, i32],
                                        self.ir.VoidType())
        # (a read, locality 3: keep in every level; a data cache)
        self.b.call(function, [self.b.bitcast(self.b.gep(base, [offset]), i8),
                               *(self.ir.Constant(i32, k) for k in (0, 3, 1))])

    def zero_all(self, acc, count, vectors):
        for p in range(count):
            for v in range(vectors):
                self.b.store(self.zero, acc[p][v])

    def step(self, acc, count, vectors, vector_base, vector_at, scalar_base, scalar_at, stride,
             first=0):
        """acc[p][v] += broadcast(scalar_base[scalar_at + p * stride]) *
        vector_base[vector_at + v * width .. + width], for first <= p < count, v < vectors:
        the register block's multiply-adds for one term of its sums."""
        loaded = [self.load_vector(vector_base, self.add(vector_at, self.const(v * self.width)))
                  for v in range(vectors)]
        for p in range(first, count):
            scalar = self.broadcast(scalar_base,
                                    self.add(scalar_at, self.mul(self.const(p), stride)))
            for v in range(vectors):
                slot = acc[p][v]
                self.b.store(self.b.call(self.fma, [scalar, loaded[v], self.b.load(slot)]),
                             slot)

    def store_all(self, acc, count, vectors, base, at, stride, finish=None):
        """base[at + p * stride + v * width ..] = acc[p][v], or finish(acc[p][v], that
        offset)."""
        for p in range(count):
            for v in range(vectors):
                offset = self.add(at, self.mul(self.const(p), stride),
                                  self.const(v * self.width))
                value = self.b.load(acc[p][v])
                if finish is not None:
                    value = finish(value, offset)
                self.store_vector(value, base, offset)


def compiled(key, name, build, pointers, integers):
    """The function `name` of an LLVM module that build(ir, module) fills, as a ctypes
    function of `pointers` pointers then `integers` int64 arguments: compiled (with LLVM's
    -O3 pipeline, for this CPU) on the first call for `key` and kept for the process (an
    engine is never freed: freeing one frees the target machine the others share).

    The machine code is also kept on disk (see _cache_directory), so that another process
    loads it rather than building and compiling it again. Its file is named by `key`, `name`
    and a fingerprint of what else makes the code: this module's source and that of the
    module defining `build`, llvmlite and LLVM, the target, the CPU and its features, the
    vector width and the optimisation settings. So `key` must hold everything else that
    `build` reads, and `build` must take its IR from those two modules only."""
    key = (key, _target[1])  # (the vector width the kernel was written for)
    found = _kernels.get(key)
    if found is not None:
        return found[0]
    with _lock:
        found = _kernels.get(key)
        if found is None:
            file = _cache_file(key, name, build, pointers, integers)
            engine = _loaded(file, name)
            if engine is None:
                engine = _compiled(name, build, file)
            prototype = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * pointers
                                                 + [ctypes.c_int64] * integers))
            function = prototype(engine.get_function_address(name))
            found = _kernels[key] = (function, engine)
    return found[0]


def _compiled(name, build, file):
    """An engine holding the compiled module that build fills; its machine code is written
    to the cache's `file` (where not None)."""
    from llvmlite import ir

    module = ir.Module(name=f"tensorflux_{name}")
    module.triple = _llvm.get_process_triple()
    build(ir, module)
    parsed = _llvm.parse_assembly(str(module))
    parsed.verify()
    machine = _target[0]
    tuning = _llvm.create_pipeline_tuning_options(**_PIPELINE_OPTIONS)
    passes = _llvm.create_pass_builder(machine, tuning)
    passes.getModulePassManager().run(parsed, passes)
    engine = _llvm.create_mcjit_compiler(parsed, machine)
    code = []
    if file is not None:
        engine.set_object_cache(lambda _, buffer: code.append(buffer))
    engine.finalize_object()
    _counts["compiled"] += 1
    if code:
        _write(file, code.pop())
    return engine


def cache_counts():
    """{"compiled": kernels compiled by this process, "loaded": loaded from the on-disk
    cache, "written": written to it}."""
    return dict(_counts)


# ------------------------------------------------------------------ the on-disk cache
#
# Machine code that this process will run, so it is read only from a directory owned by
# this user and writable by no one else (held open, so that the directory checked is the
# one used), and only from regular files that this user owns. A file is a header (magic
# and format, the digest of what it was compiled for, the SHA-256 and length of the code)
# then the object code; one that does not check out is compiled again and replaced. Files
# are written whole to a temporary name and renamed, so that concurrent processes see an
# old file or a new one, never part of one. Any failure (no such directory, read-only,
# full) leaves the kernels compiled in memory, as without the cache.

_MAGIC = b"TFLXKRN\x01"  # (the last byte: the file format's version)
_HEADER = len(_MAGIC) + 32 + 32 + 8
_LARGEST = 1 << 26  # bytes: a larger file is not a kernel of ours
_counts = {"compiled": 0, "loaded": 0, "written": 0}
_cache = None  # (directory descriptor, fingerprint) once looked for; False where unusable
_sources = {}  # module file -> SHA-256 of its bytes
_unused = []  # engines whose cached code did not load


def _cache_directory():
    """The cache's directory: $TENSORFLUX_CACHE_DIR, else $XDG_CACHE_HOME/tensorflux/kernels,
    else ~/.cache/tensorflux/kernels (made with mode 0o700); None where
    TENSORFLUX_KERNEL_CACHE=0."""
    if os.environ.get("TENSORFLUX_KERNEL_CACHE", "").strip() == "0":
        return None
    chosen = os.environ.get("TENSORFLUX_CACHE_DIR")
    if chosen:
        return chosen
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # (the XDG rule: a relative path is ignored)
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tensorflux", "kernels")


def _open_cache():
    """(descriptor of the cache's directory, fingerprint), or False where there is none or
    it is not safe to use."""
    path = _cache_directory()
    if (path is None or not hasattr(os, "getuid") or os.open not in os.supports_dir_fd
            or os.rename not in os.supports_dir_fd):  # (os.replace is os.rename's twin)
        return False
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        status = os.fstat(descriptor)
        if (status.st_uid == os.getuid()
                and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
            return descriptor, _fingerprint()
    except OSError:
        pass
    os.close(descriptor)
    return False


def _fingerprint():
    """What the machine code depends on besides the kernel's key and module."""
    import llvmlite

    features = _llvm.get_host_cpu_features()
    return repr((
        _MAGIC, llvmlite.__version__, _llvm.llvm_version_info, _target[0].triple,
        _llvm.get_process_triple(), _llvm.get_host_cpu_name(), sorted(features.items()),
        _target[1], sorted(_MACHINE_OPTIONS.items()), sorted(_PIPELINE_OPTIONS.items()),
        source_digest(__file__)))


def source_digest(path):
    """The SHA-256 of a source file's bytes (once per process): for a kernel whose IR also
    comes from a module other than its own, to put in its key (see compiled)."""
    found = _sources.get(path)
    if found is None:
        with open(path, "rb") as f:
            found = _sources[path] = hashlib.sha256(f.read()).hexdigest()
    return found


def _plain(key):
    """Whether `key` holds only tuples, strings, numbers (NumPy's too), None and NumPy
    dtypes, whose reprs are the same in every process."""
    if isinstance(key, tuple):
        return all(_plain(part) for part in key)
    return key is None or isinstance(key, (str, int, float, np.number, np.bool_, np.dtype))


def _cache_file(key, name, build, pointers, integers):
    """(directory descriptor, file name, digest) of the kernel's cache file, or None where
    it has none."""
    global _cache
    if _cache is None:
        _cache = _open_cache()
    if not _cache or not _plain(key):
        return None
    source = getattr(sys.modules.get(getattr(build, "__module__", None)), "__file__", None)
    if source is None:
        return None
    try:
        made = source_digest(source)
    except OSError:
        return None
    digest = hashlib.sha256(repr((_cache[1], made, key, name, pointers, integers)).encode())
    return _cache[0], digest.hexdigest() + ".o", digest.digest()


def _loaded(file, name):
    """An engine holding the cached code of `file`, or None where it is missing, not ours
    or not whole."""
    if file is None:
        return None
    directory, filename, digest = file
    try:
        descriptor = os.open(filename, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                             dir_fd=directory)
    except OSError:
        return None
    try:
        with os.fdopen(descriptor, "rb") as f:
            status = os.fstat(f.fileno())
            if (not stat.S_ISREG(status.st_mode) or status.st_uid != os.getuid()
                    or not _HEADER < status.st_size <= _LARGEST):
                return None
            data = f.read(_LARGEST + 1)
    except OSError:
        return None
    header, code = data[:_HEADER], data[_HEADER:]
    if (header[:len(_MAGIC)] != _MAGIC or header[len(_MAGIC):len(_MAGIC) + 32] != digest
            or int.from_bytes(header[-8:], "little") != len(code)
            or header[len(_MAGIC) + 32:-8] != hashlib.sha256(code).digest()):
        return None
    try:
        engine = _llvm.create_mcjit_compiler(_llvm.parse_assembly(""), _target[0])
    except Exception:  # noqa: BLE001 - no engine: compiled instead
        return None
    try:
        engine.add_object_file(_llvm.ObjectFileRef.from_data(code))
        engine.finalize_object()
        if engine.get_function_address(name):
            _counts["loaded"] += 1
            return engine
    except Exception:  # noqa: BLE001 - code LLVM will not load: compiled again
        pass
    _unused.append(engine)  # (kept: freeing it would free the shared target machine)
    return None


def _write(file, code):
    """Writes `code` to the cache `file`: whole, under a temporary name, then renamed."""
    directory, filename, digest = file
    temporary = f".{filename}.{os.getpid()}.{os.urandom(4).hex()}"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o600, dir_fd=directory)
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "wb") as f:
            f.write(_MAGIC + digest + hashlib.sha256(code).digest()
                    + len(code).to_bytes(8, "little") + code)
        os.replace(temporary, filename, src_dir_fd=directory, dst_dir_fd=directory)
    except OSError:
        try:
            os.unlink(temporary, dir_fd=directory)
        except OSError:
            pass
        return
    _counts["written"] += 1


def contiguous(*arrays):
    """Whether the arrays are C-contiguous NumPy arrays of one dtype, float32 or float64."""
    dtype = arrays[0].dtype
    return (dtype in (np.float32, np.float64)
            and all(type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous
                    for a in arrays))


# Pairwise summation's block (NumPy's PW_BLOCKSIZE) and its accumulators.
_BLOCK, _ACCUMULATORS = 128, 8


def float32_rows(*arrays):
    """Whether RowBuilder's kernels run on these arrays: float32 (rows, n) ndarrays of one
    shape, C-contiguous, n > 0, where the native kernels are available."""
    first = arrays[0]
    return (available()
            and all(type(a) is np.ndarray and a.dtype == np.float32 and a.ndim == 2
                    and a.shape == first.shape and a.flags.c_contiguous for a in arrays)
            and first.shape[1] > 0)


class RowBuilder(VectorBuilder):
    """A float32 kernel over rows [row0, row1) of n values (its integer arguments start with
    row0, row1, n), with NumPy's pairwise sum of a row beside it (pairwise_ir) and per-row
    elementwise loops (numpy_softmax_native, numpy_norm_native)."""

    def __init__(self, ir, module, name, pointers, integers):
        super().__init__(ir, module, name, np.float32, pointers, integers)
        self.row0, self.row1, self.n = (self.args[k] for k in ("row0", "row1", "n"))
        self.pairwise = pairwise_ir(ir, module)

    def scalar_slot(self, value):
        with self.b.goto_block(self.entry):
            slot = self.b.alloca(self.float)
        self.b.store(value, slot)
        return slot

    def element(self, base, at):
        return self.b.gep(base, [at])

    def each(self, start, body_vector, body_scalar):
        """body_vector(offset) over the row from `start` in whole vectors, then
        body_scalar(offset) over its last n % width elements; returns where those begin."""
        whole = self.b.sub(self.n, self.b.srem(self.n, self.const(self.width)))
        self.loop(self.const(0), whole,
                  lambda j: body_vector(self.b.add(start, j)), step=self.width)
        self.loop(whole, self.n, lambda j: body_scalar(self.b.add(start, j)))
        return whole

    def row_sum(self, base, start):
        """np.add.reduce of the row at base[start ..]: 0 + its pairwise sum."""
        into = self.scalar_slot(self.ir.Constant(self.float, 0.0))
        self.b.call(self.pairwise, [self.element(base, start), into, self.n])
        return self.b.fadd(self.ir.Constant(self.float, 0.0), self.b.load(into))

    def elementwise(self, start, step, pointers, total):
        """pointers[-1][at] = step(*loaded values, total) over the row, vectors then scalars
        (total, a scalar, splat for the vectors)."""
        *inputs, output = pointers
        wide = self.splat(total)

        def vector(at):
            self.store_vector(step(*(self.load_vector(p, at) for p in inputs), wide), output,
                              at)

        def scalar(at):
            values = (self.b.load(self.element(p, at)) for p in inputs)
            self.b.store(step(*values, total), self.element(output, at))
        self.each(start, vector, scalar)


def pairwise_ir(ir, module):
    """pairwise(a, into, n): into[0] = NumPy's pairwise sum of a[:n] (float32, contiguous):
    sequential from -0.0 below 8 terms, 8 accumulators up to 128, halves at a multiple of 8
    above (loops_utils.h.src)."""
    f = Builder(ir, module, "pairwise", [("a", ir.FloatType().as_pointer()),
                                         ("into", ir.FloatType().as_pointer())], ["n"])
    f.function.linkage = "internal"
    a, into = f.pointers
    n = f.args["n"]
    real = ir.FloatType()
    eight = ir.VectorType(real, _ACCUMULATORS)
    b = f.b
    with b.goto_block(f.entry):
        total, accumulators = b.alloca(real), b.alloca(eight)
        halves = [b.alloca(real), b.alloca(real)]

    def add_from(start):
        f.loop(start, n, lambda i: b.store(b.fadd(b.load(total), b.load(b.gep(a, [i]))),
                                           total))

    def few():
        b.store(ir.Constant(real, -0.0), total)
        add_from(f.const(0))

    def block():
        def load(i):
            return b.load(b.bitcast(b.gep(a, [i]), eight.as_pointer()), align=4)
        b.store(load(f.const(0)), accumulators)
        whole = b.sub(n, b.srem(n, f.const(_ACCUMULATORS)))
        f.loop(f.const(_ACCUMULATORS), whole,
               lambda i: b.store(b.fadd(b.load(accumulators), load(i)), accumulators),
               step=_ACCUMULATORS)
        r = [b.extract_element(b.load(accumulators), ir.Constant(ir.IntType(32), k))
             for k in range(_ACCUMULATORS)]
        b.store(b.fadd(b.fadd(b.fadd(r[0], r[1]), b.fadd(r[2], r[3])),
                       b.fadd(b.fadd(r[4], r[5]), b.fadd(r[6], r[7]))), total)
        add_from(whole)

    def split():
        half = b.sdiv(n, f.const(2))
        half = b.sub(half, b.srem(half, f.const(_ACCUMULATORS)))
        b.call(f.function, [a, halves[0], half])
        b.call(f.function, [b.gep(a, [half]), halves[1], b.sub(n, half)])
        b.store(b.fadd(b.load(halves[0]), b.load(halves[1])), total)

    small = b.icmp_signed("<", n, f.const(_ACCUMULATORS))
    f.if_else(small, few, lambda: f.if_else(
        b.icmp_signed("<=", n, f.const(_BLOCK)), block, split))
    b.store(b.load(total), into)
    b.ret_void()
    return f.function
