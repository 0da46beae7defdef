"""The NumPy backend's native step: a small Plan compiled into one function with Numba (the
optional `jit` extra), so that a small model's train step is one call, not one NumPy call per op.

A model like the seed's MLP (8 -> 10 -> 10 -> 1, batch 10) does a few thousand multiply-adds a
step; its step costs what NumPy charges per call, about 0.3 us each, times the ~80 calls of
forward, loss, gradients, Adam and metrics. Here the plan's node-level steps (before the NumPy
backend's in-place passes) become the source of one Python function, every elementwise program
a loop over its static shape with each register a local scalar, every small product and
reduction a loop nest. Numba compiles it once per plan. Plans that are large (a product past
_LOOP_PRODUCT_MAX multiply-adds, where BLAS and the thread pool win), not fully static, or that
use a primitive this file cannot lower keep the NumPy runner: `compile_runner` returns None and
says why in `plan.native_reason`. Such a plan's runs of small lowerable steps (a classifier's
head and loss after its last large product) become native segments instead: one compiled call
each inside the generated NumPy runner (`compile_segments`), lowered the same way.

Numerics: each operation rounds to its dtype as NumPy's does (+, -, *, /, sqrt are correctly
rounded either way); products add in float32 in index order and float sums add in float64, so
results differ from the NumPy runner's (BLAS's blocking, pairwise sums) by rounding only, and
exp/log use the platform's libm instead of NumPy's SIMD loops (both within an ulp or two).
Softmax, log_softmax and their cross entropies follow numpy_backend's formulas and sum as
np.add.reduce does (pairwise along a contiguous row, in order along another axis), in the
dtype: they differ from the NumPy runner only where exp and log do. layer_norm and its
gradient (over the last axis) follow numpy_backend's steps and sums: the same bits.
Arg-extrema, top_k, gather and its gradient, one_hot, slices, transposes and cumulative sums
are exact.

Indices (gather's, sparse labels) are checked before any Variable is written: a bad one makes
the step return at once, and the runner raises the NumPy kernel's own error. Random draws
(Dropout) are made by their NumPy kernels before the native call, so their values are the
NumPy runner's.
"""

import functools
import math
import threading

import numpy as np

from tensorflux import errors
from tensorflux.graph.ir import const_primitive, placeholder_primitive

__all__ = ["available", "compile_runner", "compile_segments"]

# A product of more multiply-adds than this makes the plan keep the NumPy runner: a loop nest
# adds about 4-8 GFLOP/s on one core, BLAS many times that once its ~1 us call is paid.
_LOOP_PRODUCT_MAX = 1 << 15
# Nor is a plan compiled whose elementwise work is this large (elements, all steps together):
# NumPy's SIMD loops and the thread pool win there, and nothing is left to save per call.
_ELEMENTS_MAX = 1 << 18

# Primitives lowered by _Lowering._reduction, with its kind of reduction.
_REDUCTIONS = {"reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "max",
               "reduce_min": "min", "reduce_any": "any", "reduce_all": "all",
               "argmax": "argmax", "argmin": "argmin"}

# A plan is compiled once it has been called this often (a fit's steady-state step), not for
# the one-off calls around it (an epoch's short last batch, evaluate): compiling takes Numba
# about 2 s a plan.
_HOT_CALLS = 32

_SUPPORTED_DTYPES = frozenset(np.dtype(t) for t in (
    np.float32, np.float64, np.int32, np.int64, np.bool_))

_numba = None
_numba_lock = threading.Lock()


def available():
    """Whether Numba can be imported (the `jit` extra). Imported on first use only: it costs
    about 0.15 s, which `import tensorflux` does not pay."""
    global _numba
    if _numba is None:
        with _numba_lock:
            if _numba is None:
                try:
                    import numba
                except ImportError:
                    _numba = False
                else:
                    _numba = numba
    return _numba is not False


class _NotLoweredError(Exception):
    """A step this file cannot lower: the plan keeps the NumPy runner."""


def compile_runner(plan, out_slots):
    """A function run(input_values, capture_values) -> the values of `out_slots`, running the
    plan's live steps as one Numba-compiled call; None (with plan.native_reason set) when the
    plan cannot or should not be compiled."""
    if not available():
        plan.native_reason = "Numba is not installed (pip install tensorflux[jit])"
        return None
    try:
        lowering = _Lowering(plan, out_slots)
        source, env, arguments, outputs = lowering.generate()
    except _NotLoweredError as why:
        plan.native_reason = str(why)
        return None
    plan.native_reason = None
    plan.native_source = source
    namespace = dict(env)
    exec(compile(source, f"<native plan {plan.graph.name}>", "exec"), namespace)  # noqa: S102
    function = _numba.njit(namespace["step"], nogil=True, error_model="numpy", cache=False)
    return _Runner(plan, out_slots, function, arguments, outputs, lowering.checks,
                   lowering.draws)


class _Runner:
    """Runs a plan through the NumPy runner until it has been called _HOT_CALLS times, then
    compiles it (for the arrays' exact types) and calls the native step from then on with the
    plan's inputs, captures, Variable buffers and array constants. A plan Numba cannot type
    stays with the NumPy runner (plan.native_reason says why)."""

    def __init__(self, plan, out_slots, function, arguments, outputs, checks=(), draws=()):
        self._plan = plan
        self._numpy = plan.runner(out_slots)
        self._pending = function
        self._function = None
        self._calls = 0
        self._lock = threading.Lock()
        self._inputs = [(k, shape) for kind, k, shape in arguments if kind == "input"]
        self._captures = [k for kind, k, _ in arguments if kind == "capture"]
        self._variables = [v for kind, v, _ in arguments if kind == "variable"]
        self._constants = [value for kind, value, _ in arguments if kind == "const"]
        # Rank-0 results come back from Numba as Python numbers: made 0-d arrays again.
        self._scalars = [(k, dtype) for k, dtype in enumerate(outputs) if dtype is not None]
        self._checks = list(checks)
        self._draws = list(draws)
        self._drawn = [(item, shape) for kind, item, shape in arguments if kind == "drawn"]

    def __call__(self, input_values, capture_values=()):
        function = self._function
        if function is None:
            self._calls += 1
            if self._calls < _HOT_CALLS or self._pending is None or not self._compile(
                    input_values, capture_values):
                return self._numpy(input_values, capture_values)
            function = self._function
        values = self._values(input_values, capture_values)
        try:
            results = function(*values, *self._draw())
        except TypeError as error:
            if not str(error).startswith("No matching definition"):
                raise
            # A Variable's buffer replaced by one of another type or layout: the step is not
            # compiled again (seconds, mid-fit); the NumPy runner takes the plan over.
            self._function = None
            self._plan.native_reason = f"arguments of new types: {error}"
            return self._numpy(input_values, capture_values)
        return _results(results, self._checks, self._scalars)

    def _values(self, input_values, capture_values):
        values = []
        for k, shape in self._inputs:
            value = _array(input_values[k])
            if value.shape != shape:  # (the loops index without bounds checks)
                raise errors.InvalidArgumentError(
                    f"{self._plan.graph.name}: input {k} expected shape {shape}, received "
                    f"{value.shape}")
            values.append(value)
        for k in self._captures:
            values.append(_array(capture_values[k]))
        values += [variable._value for variable in self._variables]
        values += self._constants
        return values

    def _draw(self):
        """The plan's random draws, by their NumPy kernels, in the plan's order."""
        if not self._draws:
            return ()
        values = {}
        for kernel, in_slots, attrs, target in self._draws:
            values[target] = kernel(*[values[slot] for slot in in_slots], **attrs)
        return [values[slot] for (slot, _), _ in self._drawn]

    def _compile(self, input_values, capture_values):
        with self._lock:
            if self._function is not None:
                return True
            function, self._pending = self._pending, None
            if function is None:
                return False
            values = self._values(input_values, capture_values)
            # (placeholders of the draws' types: drawing would advance the seed stream)
            values += [np.empty(shape, dtype) for (_, dtype), shape in self._drawn]
            try:
                function.compile(tuple(_numba.typeof(v) for v in values))
            except Exception as error:  # noqa: BLE001 - any typing failure: the NumPy runner
                self._plan.native_reason = f"Numba could not compile the step: {error}"
                return False
            function.disable_compile()  # (other argument types: see __call__)
            self._function = function
            return True


# A plan too large to compile whole keeps its NumPy runner, but its runs of small steps (a
# classifier's (256, 10) head, loss and their gradients: two dozen NumPy calls of 1-40 us
# each for a few thousand elements) become native segments (compile_segments): every array
# such a step reads or computes has at most this many elements...
_SEGMENT_ELEMENTS = 1 << 14
# ...and a run has at least this many live steps (a native call with its arguments' checks
# costs what two or three small NumPy calls do).
_SEGMENT_STEPS = 4


def compile_segments(plan, program, plain, live, out_slots):
    """For a plan that keeps its generated NumPy runner under jit_compile: its runs of
    consecutive live steps that are small (see _SEGMENT_ELEMENTS) and can be lowered, each
    as one native function the runner calls in place of those steps. `program` is the
    plan's final step list (the runner's), `plain[k]` whether step k is its node's own
    kernel, untouched by the plan's passes (only such steps are lowered from their node);
    `live`, the steps the runner returning `out_slots` runs. Returns [(first, last,
    segment)]: a _Segment computing steps first..last (the dead among them are not run
    either way) from its in_slots into its out_slots, those that later steps read or the
    runner returns."""
    if not available():
        return []
    tensors = _slot_tensors(plan)
    runs, run = [], []
    for k, step in enumerate(program):
        if k not in live:
            continue
        if plain[k] and _small(step[5]) and _lowers(plan, step[:6], tensors):
            run.append(k)
            continue
        if len(run) >= _SEGMENT_STEPS:
            runs.append(run)
        run = []
    if len(run) >= _SEGMENT_STEPS:
        runs.append(run)
    segments = []
    for run in runs:
        steps = [program[k][:6] for k in run]
        in_slots, produced = _reads(steps)
        after = set(out_slots)
        after.update(slot for j in live if j > run[-1] for slot in program[j][1])
        results = [slot for slot in produced if slot in after]
        lowering = _Lowering(plan, results, segment=True)
        try:
            source, env, arguments, outputs = lowering.generate_segment(steps, in_slots,
                                                                        tensors)
        except _NotLoweredError:  # (the steps lower one by one, not together: left as they are)
            continue
        namespace = dict(env)
        exec(compile(source, f"<native segment of {plan.graph.name}>", "exec"),  # noqa: S102
             namespace)
        function = _numba.njit(namespace["step"], nogil=True, error_model="numpy", cache=False)
        parameters = [slot for _, slot, _ in arguments]  # (rank-0 constants are inlined)
        segments.append((run[0], run[-1], _Segment(plan, function, parameters, results,
                                                   outputs, lowering.checks, source,
                                                   len(run))))
    return segments


def _slot_tensors(plan):
    """slot -> the Tensor or Variable it holds (not constants), for shapes and dtypes."""
    tensors = {slot: plan.slot_tensor(slot) for slot in (*plan.input_slots,
                                                         *plan.capture_slots)}
    tensors.update((slot, variable) for variable, slot in plan.variable_slots)
    for _, _, _, target, multiple, node in plan.node_steps:
        tensors.update(zip(target if multiple else (target,), node.output_list()))
    return tensors


def _small(node):
    """Whether a step's inputs and results all have static shapes of at most
    _SEGMENT_ELEMENTS elements."""
    for tensor in (*node.inputs, *node.output_list()):
        shape = tensor.shape
        if not shape.is_fully_defined() or shape.num_elements() > _SEGMENT_ELEMENTS:
            return False
    return True


def _reads(steps):
    """(the slots the steps read before computing them, in order; those they compute)."""
    reads, produced = [], []
    for _, in_slots, _, target, multiple, _ in steps:
        reads += [slot for slot in in_slots if slot not in produced and slot not in reads]
        produced += list(target) if multiple else [target]
    return reads, produced


def _lowers(plan, step, tensors):
    """Whether one step lowers by itself as a segment."""
    in_slots, _ = _reads([step])
    try:
        _Lowering(plan, (), segment=True).generate_segment([step], in_slots, tensors)
    except _NotLoweredError:
        return False
    return True


class _Segment:
    """A run of a plan's steps compiled as one native function (see compile_segments). The
    generated runner calls `segment(*values)` (the values of in_slots) once it is `ready`,
    and otherwise `segment.warm(*values)` and then the steps' own kernels: it is compiled,
    for the values' types, on the _HOT_CALLS-th call, as a whole plan's step is. A call
    whose values' types changed since returns None (and the segment is not ready again):
    the runner then runs the steps' kernels."""

    def __init__(self, plan, function, in_slots, out_slots, outputs, checks, source, steps):
        self.in_slots = tuple(in_slots)
        self.out_slots = tuple(out_slots)
        self.source = source
        self.steps = steps  # (how many of the plan's steps it runs)
        self.ready = False
        self.reason = "not compiled yet"
        self._pending = function
        self._function = None
        self._calls = 0
        self._lock = threading.Lock()
        self._scalars = [(k, dtype) for k, dtype in enumerate(outputs) if dtype is not None]
        self._checks = list(checks)
        # (a Variable's buffer is passed as it is, never a copy: the segment may write it)
        variables = {slot for _, slot in plan.variable_slots}
        self._raw = [slot in variables for slot in self.in_slots]

    def _arguments(self, values):
        return [value if raw else _array(value) for value, raw in zip(values, self._raw)]

    def warm(self, *values):
        self._calls += 1
        if self._calls < _HOT_CALLS or self._pending is None:
            return
        with self._lock:
            function, self._pending = self._pending, None
            if function is None:
                return
            try:
                function.compile(tuple(_numba.typeof(v) for v in self._arguments(values)))
            except Exception as error:  # noqa: BLE001 - any typing failure: the kernels stay
                self.reason = f"Numba could not compile the segment: {error}"
                return
            function.disable_compile()
            self._function = function
            self.reason = None
            self.ready = True

    def __call__(self, *values):
        try:
            results = self._function(*self._arguments(values))
        except TypeError as error:
            if not str(error).startswith("No matching definition"):
                raise
            self.ready = False
            self.reason = f"arguments of new types: {error}"
            return None
        return _results(results, self._checks, self._scalars)


def _results(results, checks, scalars):
    """A native step's results as the NumPy runner gives them: the error of a failed index
    check raised (the step returns its number, the position and the value first when it has
    checks), rank-0 results made 0-d arrays again (Numba returns Python numbers)."""
    if checks:
        if results[0]:
            raise _index_error(checks[results[0] - 1], results[1], results[2])
        results = results[3:]
    if scalars:
        results = list(results)
        for k, dtype in scalars:
            results[k] = np.asarray(results[k], dtype)
    return results


def _array(value):
    """The value as a C-contiguous ndarray. A tensor made from a NumPy scalar (np.float32(1))
    holds the scalar, which Numba types as a number the step cannot read with [()]; and
    np.ascontiguousarray would make a 0-d array 1-d."""
    if type(value) is not np.ndarray:
        value = np.asarray(value)
    return value if value.flags.c_contiguous else np.ascontiguousarray(value)


def _index_error(check, position, value):
    """The error the NumPy runner raises for an index out of range: the NumPy kernel's own
    check, run on an array with the bad value where the native step found it (the first in
    index order, as the kernel's), named by the node as the runner names it."""
    from tensorflux.backends import numpy_backend

    node, what, bound, shape, dtype = check
    indices = np.zeros(shape, dtype)
    indices.reshape(-1)[position] = value
    try:
        if what == "labels":
            numpy_backend._nn_check_labels(indices, bound)
        else:
            numpy_backend._check_range("indices", indices, bound)
    except (ValueError, IndexError) as error:
        found = errors.InvalidArgumentError(f"{node.name} ({node.primitive.name}): {error}",
                                            node.primitive.name)
        found.__cause__ = error
        return found
    return errors.InternalError(f"{node.name}: index {value} failed the native check only")


# ------------------------------------------------------------------ lowering

# Random draws and their seed streams: run by their NumPy kernels before the native step.
_DRAWS = frozenset({"random_seed_stream", "random_uniform", "random_normal",
                    "random_truncated_normal"})

# Written where a failed index check returns, replaced by the results' placeholders once all
# the steps are lowered.
_PLACEHOLDERS = "<placeholders>"

class _Lowering:
    """Writes the plan's live node-level steps as the source of `def step(...)`."""

    def __init__(self, plan, out_slots, segment=False):
        self.plan = plan
        self.out_slots = tuple(out_slots)
        self.lines = []
        self.env = {"np": np, "math": math}
        self.info = {}  # slot -> (shape tuple, numpy dtype)
        self.boxed = set()  # rank-0 slots that are 0-d arrays (read with [()])
        self.variables = set()
        self.arguments = []
        self.parameters = []
        self.elements = 0
        # Index checks, in step order: (node, what, bound, shape, dtype); the step returns
        # the number of the first that fails (0: none), where and what, before its results.
        self.checks = []
        self.checked = set()  # (slot, bound) already checked
        self.assigned = False  # whether a Variable has been written yet
        self.checks_at = None  # the line of the first write, where later checks go
        self.late = set()  # the slots computed after it
        self.producer = {}  # slot -> the step computing it
        self.draws = []  # (kernel, in_slots, attrs, target) run before the step, in order
        self.drawn = set()  # their result slots
        self.segment = segment  # lowering a run of a larger plan's steps (generate_segment)

    # -- slots

    def _dtype(self, tensor):
        dtype = np.dtype(tensor.dtype.as_numpy_dtype)
        if dtype not in _SUPPORTED_DTYPES:
            raise _NotLoweredError(f"dtype {dtype} is not lowered")
        return dtype

    def _shape(self, tensor):
        if not tensor.shape.is_fully_defined():
            raise _NotLoweredError(f"{getattr(tensor, 'name', tensor)} has no static shape")
        return tuple(int(d) for d in tensor.shape)

    def _parameter(self, slot, kind, item, shape, dtype, boxed=True):
        self.info[slot] = (shape, dtype)
        if not shape and boxed:
            self.boxed.add(slot)
        self.parameters.append(f"s{slot}")
        self.arguments.append((kind, item, shape))

    def _constant(self, slot, value, read, kind):
        """A constant slot: a rank-0 one becomes a constant of the function, an array one a
        parameter of `kind` ("const": the array is passed; "slot": the runner passes the
        slot's value). One of a type this file does not lower is an error where it is read."""
        if isinstance(value, (np.generic, bool, int, float)):
            value = np.asarray(value)
        if not isinstance(value, np.ndarray) or value.dtype not in _SUPPORTED_DTYPES:
            if read:
                raise _NotLoweredError(f"constant of type {type(value).__name__} is not lowered")
            return
        if value.ndim == 0:
            self.env[f"C{slot}"] = value.dtype.type(value[()])
            self.lines.append(f"    s{slot} = C{slot}")
            self.info[slot] = ((), value.dtype)
        else:
            item = np.ascontiguousarray(value) if kind == "const" else slot
            self._parameter(slot, kind, item, value.shape, value.dtype)

    def read(self, slot):
        """An expression for a rank-0 slot's value, or an array slot's name."""
        return f"s{slot}[()]" if slot in self.boxed else f"s{slot}"

    # -- the function

    def generate(self):
        plan = self.plan
        steps = plan.node_steps
        from tensorflux.graph.executor import _live_steps

        live = _live_steps(steps, self.out_slots)
        graph_inputs = plan.input_slots
        for k, slot in enumerate(graph_inputs):
            tensor = plan.slot_tensor(slot)
            self._parameter(slot, "input", k, self._shape(tensor), self._dtype(tensor))
        for k, slot in enumerate(plan.capture_slots):
            tensor = plan.slot_tensor(slot)
            self._parameter(slot, "capture", k, self._shape(tensor), self._dtype(tensor))
        for variable, slot in plan.variable_slots:
            self.variables.add(slot)
            self._parameter(slot, "variable", variable, self._shape(variable),
                            self._dtype(variable))
        read = {slot for k, step in enumerate(steps) if k in live for slot in step[1]}
        for slot, value in enumerate(plan.template):
            if value is not None:
                self._constant(slot, value, slot in read, "const")
        for k, step in enumerate(steps):
            if k in live:
                self._step(step)
        return self._function()

    def generate_segment(self, steps, in_slots, tensors):
        """Like generate, for a run of a larger plan's steps (see compile_segments): the
        parameters are the slots the run reads that it does not compute (their `tensors`
        give the shapes and dtypes; rank-0 constants are inlined), the results those in
        self.out_slots."""
        plan = self.plan
        variables = {slot for _, slot in plan.variable_slots}
        for slot in in_slots:
            value = plan.template[slot]
            if value is not None:
                self._constant(slot, value, True, "slot")
                continue
            tensor = tensors[slot]
            if slot in variables:
                self.variables.add(slot)
            self._parameter(slot, "slot", slot, self._shape(tensor), self._dtype(tensor))
        for step in steps:
            self._step(step)
        return self._function()

    def _function(self):
        """The source of `def step(...)` once every step is lowered, with its environment,
        its arguments and, per result, its dtype where it is rank-0 (else None)."""
        if self.elements > _ELEMENTS_MAX:
            raise _NotLoweredError(f"{self.elements} elements a step: NumPy's loops win")
        outputs = []
        for slot in self.out_slots:
            shape, dtype = self.info[slot]
            outputs.append(dtype if not shape else None)
        returned = "".join(f"{self.read(slot)}, " for slot in self.out_slots)
        if self.checks:
            # A failed check returns at once, with placeholders of the results' types.
            placeholders = "".join(
                f"np.empty({shape!r}, np.{dtype.name}), " if shape else f"np.{dtype.name}(0), "
                for shape, dtype in (self.info[slot] for slot in self.out_slots))
            self.lines = [line.replace(_PLACEHOLDERS, placeholders) for line in self.lines]
            returned = "np.int64(0), np.int64(0), np.int64(0), " + returned
        source = "\n".join([f"def step({', '.join(self.parameters)}):", *self.lines,
                            f"    return ({returned})"])
        return source, self.env, self.arguments, outputs

    def _step(self, step):
        _, in_slots, attrs, target, multiple, node = step
        name = node.primitive.name
        if node.primitive is placeholder_primitive or node.primitive is const_primitive:
            return
        if name in _DRAWS:
            if self.segment:
                raise _NotLoweredError(f"{node.name}: a random draw in a segment")
            self._draw(step)
            return
        lower = getattr(self, f"_lower_{name}", None)
        if name in _SCALAR_OPS:
            lower = self._lower_elementwise_primitive
        elif name in _REDUCTIONS:
            lower = functools.partial(self._reduction, kind=_REDUCTIONS[name])
        if lower is None:
            raise _NotLoweredError(f"primitive {name!r} ({node.name}) is not lowered")
        if multiple and name not in ("assign", "top_k", "layer_norm_grad"):
            raise _NotLoweredError(f"{name!r} has several results")
        for slot in in_slots:
            if slot not in self.info:
                raise _NotLoweredError(f"{node.name} reads a value of an unknown kind")
        if not multiple:
            self.info[target] = (self._shape(node.outputs), self._dtype(node.outputs))
        lower(node, in_slots, dict(attrs), target)
        if not multiple:
            self.producer[target] = step
        if self.assigned:
            self.late.update(target if multiple else (target,))

    def _draw(self, step):
        """A random draw (or the seed stream feeding it) is left to its NumPy kernel, which
        the runner calls before the native step: the values are the NumPy runner's, bit for
        bit (Philox, SeedSequence), and its result is one more argument of the step."""
        kernel, in_slots, attrs, target, multiple, node = step
        if multiple or any(slot not in self.drawn for slot in in_slots):
            raise _NotLoweredError(f"{node.name}: a random op seeded by a computed value")
        if self.checks:  # (a failed check must not have advanced the seed stream)
            raise _NotLoweredError(f"{node.name}: a random draw after an index check")
        self.draws.append((kernel, in_slots, dict(attrs), target))
        self.drawn.add(target)
        if node.outputs.shape.is_fully_defined():
            shape, dtype = self._shape(node.outputs), self._dtype(node.outputs)
            self._parameter(target, "drawn", (target, dtype), shape, dtype)

    # -- elementwise

    def _lower_elementwise_primitive(self, node, in_slots, attrs, target):
        shape, dtype = self.info[target]
        program = ((node.primitive.name, tuple(range(len(in_slots))), tuple(attrs.items()),
                    dtype),)
        self._loop(in_slots, program, shape, dtype, target)

    def _lower_fused_elementwise(self, node, in_slots, attrs, target):
        shape, dtype = self.info[target]
        program = tuple((name, refs, op_attrs, np.dtype(op_dtype.as_numpy_dtype))
                        for name, refs, op_attrs, op_dtype in attrs["program"])
        self._loop(in_slots, program, shape, dtype, target)

    def _loop(self, in_slots, program, shape, dtype, target, into=None):
        """One loop nest over `shape` computing `program` per element into a new array (or,
        with `into`, a Variable's buffer), or straight-line code for a rank-0 result."""
        self.elements += math.prod(shape) if shape else 1
        rank = len(shape)
        indent = "    "
        body = []
        types = []
        for j, slot in enumerate(in_slots):
            in_shape, in_dtype = self.info[slot]
            types.append(in_dtype)
            if not in_shape:
                self.lines.append(f"    r{target}_{j} = {self.read(slot)}")
                continue
            if len(in_shape) > rank or any(
                    d not in (1, s) for d, s in zip(in_shape[::-1], shape[::-1])):
                raise _NotLoweredError(f"shape {in_shape} does not broadcast to {shape}")
            offset = rank - len(in_shape)
            index = ", ".join("0" if d == 1 else f"i{offset + a}"
                              for a, d in enumerate(in_shape))
            body.append(f"r{target}_{j} = s{slot}[{index}]")
        n = len(in_slots)
        for k, (name, refs, op_attrs, op_dtype) in enumerate(program):
            expression = _scalar(name, [f"r{target}_{r}" for r in refs],
                                 [types[r] for r in refs], dict(op_attrs), op_dtype)
            types.append(op_dtype)
            body.append(f"r{target}_{n + k} = {expression}")
        last = f"r{target}_{n + len(program) - 1}"
        if not rank:
            self.lines.extend(indent + line for line in body)
            if into is not None:
                self.lines.append(f"    {into}[()] = {last}")
            else:
                self.lines.append(f"    s{target} = {last}")
            return
        if into is None:
            self.lines.append(f"    s{target} = np.empty({shape!r}, np.{dtype.name})")
            destination = f"s{target}"
        else:
            destination = into
        depth = 1
        for a, size in enumerate(shape):
            if size != 1:  # (a dimension of one is index 0, without a loop)
                self.lines.append(indent * depth + f"for i{a} in range({size}):")
                depth += 1
        self.lines.extend(indent * depth + line for line in body)
        index = ", ".join("0" if size == 1 else f"i{a}" for a, size in enumerate(shape))
        self.lines.append(indent * depth + f"{destination}[{index}] = {last}")

    # -- the rest

    def _lower_matmul(self, node, in_slots, attrs, target):
        a, b = in_slots
        (a_shape, _), (b_shape, _) = self.info[a], self.info[b]
        shape, dtype = self.info[target]
        if len(a_shape) != 2 or len(b_shape) != 2 or dtype.kind != "f":
            raise _NotLoweredError(f"matmul of {a_shape} and {b_shape} ({dtype}) is not lowered")
        m, n = shape
        k = a_shape[0] if attrs.get("transpose_a") else a_shape[1]
        if m * n * k > _LOOP_PRODUCT_MAX:
            raise _NotLoweredError(f"a product of {m * n * k} multiply-adds: BLAS wins")
        a_at = "s{a}[p, i]" if attrs.get("transpose_a") else "s{a}[i, p]"
        b_at = "s{b}[j, p]" if attrs.get("transpose_b") else "s{b}[p, j]"
        self.lines += [
            f"    s{target} = np.zeros(({m}, {n}), np.{dtype.name})",
            f"    for i in range({m}):",
            f"        for p in range({k}):",
            f"            x = {a_at.format(a=a)}",
            f"            for j in range({n}):",
            f"                s{target}[i, j] += x * {b_at.format(b=b)}",
        ]

    def _reduction(self, node, in_slots, attrs, target, kind):
        (x,) = in_slots
        in_shape, in_dtype = self.info[x]
        shape, dtype = self.info[target]
        if not in_shape:  # a reduction of a scalar is the scalar
            self.lines.append(f"    s{target} = np.{dtype.name}({self.read(x)})")
            return
        axis = attrs.get("axis")
        if kind in ("argmax", "argmin"):
            axis = (axis,)
        axes = {a % len(in_shape) for a in (range(len(in_shape)) if axis is None else axis)}
        kept = [a for a in range(len(in_shape)) if a not in axes]
        self.elements += math.prod(in_shape)
        wide = "float64" if in_dtype.kind == "f" else in_dtype.name
        if (in_dtype.kind == "b") != (kind in ("any", "all")):
            raise _NotLoweredError(f"reduce_{kind} of {in_dtype} is not lowered")
        if kind in ("sum", "mean"):
            start, combine = f"np.{wide}(0)", "t + v"
        elif kind in ("max", "argmax"):
            start, combine = f"np.{wide}(-np.inf)" if in_dtype.kind == "f" else \
                f"np.{wide}({np.iinfo(in_dtype).min})", _max("t", "v")
        elif kind in ("min", "argmin"):
            start, combine = f"np.{wide}(np.inf)" if in_dtype.kind == "f" else \
                f"np.{wide}({np.iinfo(in_dtype).max})", _min("t", "v")
        elif kind in ("any", "all"):
            start, combine = f"{kind == 'all'}", f"(t {'and' if kind == 'all' else 'or'} v)"
        else:
            raise _NotLoweredError(f"reduce_{kind} is not lowered")
        if kind == "mean" and in_dtype.kind != "f":
            raise _NotLoweredError("an integer mean is not lowered")
        if kind in ("argmax", "argmin"):
            # np.argmax: the first extremum (-inf, or the type's least, is found at 0 when
            # nothing beats it), and the first NaN once one is seen.
            better = ">" if kind == "argmax" else "<"
            combine = f"(v {better} t or (v != v and t == t))"
        kept_shape = tuple(in_shape[a] for a in kept)
        total = f"t{target}"
        found = f"k{target}"  # (argmax, argmin: the index of the extremum so far)
        arg = kind in ("argmax", "argmin")
        if kept_shape:
            self.lines.append(f"    {total} = np.full({kept_shape!r}, {start}, np.{wide})")
            if arg:
                self.lines.append(f"    {found} = np.zeros({kept_shape!r}, np.int64)")
        else:
            self.lines.append(f"    {total} = {start}")
            if arg:
                self.lines.append(f"    {found} = 0")
        indent = "    "
        depth = 1
        for a, size in enumerate(in_shape):
            if size != 1:
                self.lines.append(indent * depth + f"for i{a} in range({size}):")
                depth += 1
        inner = indent * depth

        def at(axes):
            return ", ".join("0" if in_shape[a] == 1 else f"i{a}" for a in axes)
        at_kept = f"[{at(kept)}]" if kept_shape else ""
        self.lines.append(inner + f"v = s{x}[{at(range(len(in_shape)))}]")
        self.lines.append(inner + f"t = {total}{at_kept}")
        cast = f"np.{dtype.name}"
        if arg:
            (a,) = axes
            self.lines += [inner + f"if {combine}:",
                           inner + f"    {total}{at_kept} = v",
                           inner + f"    {found}{at_kept} = {at((a,))}"]
            self.lines.append(f"    s{target} = " + (f"{found}.astype({cast})" if shape
                                                      else f"{cast}({found})"))
            return
        self.lines.append(inner + f"{total}{at_kept} = {combine}")
        count = math.prod(in_shape[a] for a in axes)
        if not shape:
            value = f"{cast}({total})"
            if kind == "mean":  # (TensorFlow's: the sum in the dtype, then the division)
                value = f"{cast}({value} / {cast}({count}))"
            self.lines.append(f"    s{target} = {value}")
            return
        if kept_shape:
            self.lines.append(f"    s{target} = {total}.astype({cast})")
        else:  # (every axis reduced, kept as ones: the total is a number)
            self.lines.append(f"    s{target} = np.full({shape!r}, {cast}({total}), "
                              f"np.{dtype.name})")
        if kind == "mean":
            self.lines.append(f"    s{target} = s{target} / {cast}({count})")
        if kept_shape and kept_shape != shape:  # (keepdims only inserts ones: the same order)
            self.lines.append(f"    s{target} = s{target}.reshape({shape!r})")

    def _lower_reshape(self, node, in_slots, attrs, target):
        x = in_slots[0]
        in_shape, _ = self.info[x]
        shape, dtype = self.info[target]
        if not shape:
            value = self.read(x) if not in_shape else f"s{x}.reshape(-1)[0]"
            self.lines.append(f"    s{target} = {value}")
        elif not in_shape:
            self.lines.append(f"    s{target} = np.full({shape!r}, {self.read(x)}, "
                              f"np.{dtype.name})")
        else:
            # A Variable's buffer is copied: a later assign must not change the reshaped value.
            copy = ".copy()" if x in self.variables else ""
            self.lines.append(f"    s{target} = s{x}{copy}.reshape({shape!r})")

    def _lower_identity(self, node, in_slots, attrs, target):
        x = in_slots[0]
        shape, _ = self.info[target]
        self.lines.append(f"    s{target} = {self.read(x)}" if not shape
                          else f"    s{target} = s{x}.copy()")

    def _lower_concat(self, node, in_slots, attrs, target):
        shape, dtype = self.info[target]
        axis = attrs["axis"] % len(shape)
        self.lines.append(f"    s{target} = np.empty({shape!r}, np.{dtype.name})")
        offset = 0
        for x in in_slots:
            in_shape, _ = self.info[x]
            if len(in_shape) != len(shape):
                raise _NotLoweredError("concat of a scalar")
            size = in_shape[axis]
            index = ", ".join(f"{offset}:{offset + size}" if a == axis else ":"
                              for a in range(len(shape)))
            self.lines.append(f"    s{target}[{index}] = s{x}")
            offset += size
        self.elements += math.prod(shape)

    def _lower_transpose(self, node, in_slots, attrs, target):
        x = in_slots[0]
        shape, _ = self.info[target]
        if not shape:
            self.lines.append(f"    s{target} = {self.read(x)}")
            return
        self._new(target)  # (a copy: a later assign must not change a Variable's transpose)
        indent, names = self._open(shape)
        source = [None] * len(shape)
        for a, p in enumerate(attrs["perm"]):
            source[p] = names[a]
        self.lines.append(indent + f"s{target}[{', '.join(names)}] = s{x}[{', '.join(source)}]")

    def _lower_stop_gradient(self, node, in_slots, attrs, target):
        x = in_slots[0]
        if x in self.variables:  # (a later assign must not change the value)
            self._lower_identity(node, in_slots, attrs, target)
        else:  # (nothing but a Variable's buffer is written in place: sharing is safe)
            self.lines.append(f"    s{target} = {self.read(x)}")

    def _lower_broadcast_to(self, node, in_slots, attrs, target):
        shape, dtype = self.info[target]
        self._loop(in_slots[:1], (("cast", (0,), (), dtype),), shape, dtype, target)

    # -- loops over a shape's indices

    def _open(self, shape, skip=None):
        """Opens a loop over each dimension of `shape` but `skip` (those of size one are
        index 0, without a loop); returns the body's indentation and each dimension's index
        (None at `skip`)."""
        depth = 1
        names = []
        for a, size in enumerate(shape):
            if a == skip:
                names.append(None)
            elif size == 1:
                names.append("0")
            else:
                self.lines.append("    " * depth + f"for i{a} in range({size}):")
                depth += 1
                names.append(f"i{a}")
        return "    " * depth, names

    def _at(self, slot, names):
        """An element of a slot at the given indices (a rank-0 slot's value)."""
        return f"s{slot}[{', '.join(names)}]" if names else self.read(slot)

    @staticmethod
    def _element(names):
        """element(slot, j): the text of slot's element at the loops' indices `names` (from
        _open), with j along the axis it skipped."""
        def element(slot, j):
            return f"s{slot}[{', '.join(str(j) if name is None else name for name in names)}]"
        return element

    def _new(self, target):
        """Allocates an array result (a rank-0 result is a local, assigned later)."""
        shape, dtype = self.info[target]
        if shape:
            self.lines.append(f"    s{target} = np.empty({shape!r}, np.{dtype.name})")
        self.elements += math.prod(shape)

    def _check(self, slot, bound, node, what):
        """Checks (once) that an index slot's values are in [0, bound), as the NumPy kernel
        does before it reads with them: the loops index without bounds checks. Every check
        comes before any Variable is written (one on indices known by then moves there), so
        a step that fails changes nothing."""
        if (slot, bound) in self.checked:
            return
        shape, dtype = self.info[slot]
        if dtype.kind not in "iu":
            raise _NotLoweredError(f"indices of type {dtype}")
        if self.assigned and slot in self.variables:
            raise _NotLoweredError(f"{node.name} checks a Variable's values after an update")
        if slot in self.late:
            self._hoist(slot, node)
        self.checked.add((slot, bound))
        self.checks.append((node, what, bound, shape, dtype))
        lines, self.lines = self.lines, []
        indent, names = self._open(shape)
        strides = [math.prod(shape[a + 1:]) for a in range(len(shape))]
        flat = " + ".join(f"{name} * {stride}" for name, stride in zip(names, strides)
                          if name != "0") or "0"
        self.lines += [indent + f"v = {self._at(slot, names)}",
                       indent + f"if v < 0 or v >= {bound}:",
                       indent + f"    return (np.int64({len(self.checks)}), np.int64({flat}), "
                                f"np.int64(v), {_PLACEHOLDERS})"]
        check, self.lines = self.lines, lines
        if self.assigned:
            # (indices known before the first update, checked there: a metric's gather that
            # follows the loss's update, say)
            self.lines[self.checks_at:self.checks_at] = check
            self.checks_at += len(check)
        else:
            self.lines += check
        self.elements += math.prod(shape)

    def _hoist(self, slot, node):
        """Computes a slot once more before the first update (where checks go), when it
        depends on values known there only (not on a Variable): the labels a metric casts
        after the loss's update, say."""
        step = self.producer.get(slot)
        if step is None or step[5].primitive.name in _DRAWS or any(
                source in self.variables for source in step[1]):
            raise _NotLoweredError(f"{node.name} checks indices computed after a Variable's "
                                   "update")
        for source in step[1]:
            if source in self.late:
                self._hoist(source, node)
        lines, self.lines = self.lines, []
        self.assigned = False
        try:
            self._step(step)
        finally:
            self.assigned = True
        hoisted, self.lines = self.lines, lines
        self.lines[self.checks_at:self.checks_at] = hoisted
        self.checks_at += len(hoisted)
        self.late.discard(slot)

    # -- rows: softmax and its cross entropies

    def _sum(self, indent, total, term, n, dtype, contiguous):
        """Lines setting `total` to the sum of term(j), j in range(n), in the dtype and in the
        order np.add.reduce adds: pairwise along a contiguous run (under 8 terms in order; up
        to 128 in eight interleaved partial sums; longer runs halved at a multiple of 8), in
        index order along any other axis; both from 0, the identity."""
        cast = f"np.{dtype.name}"

        def run(name, first, count):
            if count < 8 or not contiguous:
                self.lines += [indent + f"{name} = {cast}(0)",
                               indent + f"for j in range({first}, {first + count}):",
                               indent + f"    {name} += {term('j')}"]
            elif count <= 128:
                body = count - count % 8
                self.lines += [indent + f"{name}_{k} = {term(str(first + k))}" for k in range(8)]
                if body > 8:
                    self.lines.append(indent + f"for j in range({first + 8}, {first + body}, 8):")
                    self.lines += [indent + f"    {name}_{k} += {term(f'j + {k}')}"
                                   for k in range(8)]
                self.lines.append(indent + f"{name} = (({name}_0 + {name}_1) + ({name}_2 + "
                                  f"{name}_3)) + (({name}_4 + {name}_5) + ({name}_6 + {name}_7))")
                if body < count:
                    self.lines += [indent + f"for j in range({first + body}, {first + count}):",
                                   indent + f"    {name} += {term('j')}"]
            else:
                half = count // 2 - count // 2 % 8
                run(name + "a", first, half)
                run(name + "b", first + half, count - half)
                self.lines.append(indent + f"{name} = {name}a + {name}b")
        run(total, 0, n)

    def _rows(self, x, axis, target):
        """Opens loops over the rows of x along `axis` and writes each row's maximum into
        m{target} (np.max's: NaN wins); returns (indentation, element(slot, j), the row's
        length, the other dimensions' indices, whether a row is contiguous)."""
        shape, dtype = self.info[x]
        if dtype.kind != "f" or not shape:
            raise _NotLoweredError(f"a softmax over {shape} ({dtype})")
        axis %= len(shape)
        n = shape[axis]
        if n == 0:
            raise _NotLoweredError("a softmax over no classes")
        indent, names = self._open(shape, skip=axis)
        element = self._element(names)
        m = f"m{target}"
        self.lines += [indent + f"{m} = {element(x, '0')}",
                       indent + f"for j in range(1, {n}):",
                       indent + f"    v = {element(x, 'j')}",
                       indent + f"    {m} = {_max(m, 'v')}"]
        self.elements += 2 * math.prod(shape)
        kept = [name for name in names if name is not None]
        return indent, element, n, kept, math.prod(shape[axis + 1:]) == 1

    def _softmax(self, x, axis, target, log):
        """numpy_backend.softmax (log=False), log_softmax (log=True): exp(x - max) over its
        sum, or x - max - log of that sum; the sum as np.add.reduce adds."""
        _, dtype = self.info[x]
        self._new(target)
        indent, element, n, _, contiguous = self._rows(x, axis, target)
        out, m, total = (lambda j: element(target, j)), f"m{target}", f"e{target}"
        shifted = f"{element(x, 'j')} - {m}"
        self.lines += [indent + f"for j in range({n}):",
                       indent + f"    {out('j')} = " + (shifted if log else f"np.exp({shifted})")]
        if log:
            self._sum(indent, total, lambda j: f"np.exp({out(j)})", n, dtype, contiguous)
            self.lines += [indent + f"l{target} = np.log({total})",
                           indent + f"for j in range({n}):",
                           indent + f"    {out('j')} = {out('j')} - l{target}"]
        else:
            self._sum(indent, total, out, n, dtype, contiguous)
            self.lines += [indent + f"for j in range({n}):",
                           indent + f"    {out('j')} = {out('j')} / {total}"]

    def _lower_softmax(self, node, in_slots, attrs, target):
        self._softmax(in_slots[0], attrs["axis"], target, log=False)

    def _lower_log_softmax(self, node, in_slots, attrs, target):
        self._softmax(in_slots[0], attrs["axis"], target, log=True)

    def _lower_softmax_grad(self, node, in_slots, attrs, target):
        """numpy_backend.softmax_grad, row by row: r1 = g - sum(g * y), then the output row
        holds r1, then y * (r1 - sum(r1 * y)); each sum as np.add.reduce adds, each step
        rounded in the dtype as the op-by-op VJP's kernels round it."""
        g, y = in_slots
        shape, dtype = self.info[y]
        if self.info[g] != self.info[y] or dtype.kind != "f" or not shape:
            raise _NotLoweredError(f"a softmax gradient over {shape} ({dtype})")
        axis = attrs["axis"] % len(shape)
        n = shape[axis]
        self._new(target)
        indent, names = self._open(shape, skip=axis)
        at = self._element(names)
        contiguous = math.prod(shape[axis + 1:]) == 1
        self._sum(indent, f"a{target}", lambda j: f"{at(g, j)} * {at(y, j)}", n, dtype,
                  contiguous)
        self.lines += [indent + f"for j in range({n}):",
                       indent + f"    {at(target, 'j')} = {at(g, 'j')} - a{target}"]
        self._sum(indent, f"b{target}", lambda j: f"{at(target, j)} * {at(y, j)}", n, dtype,
                  contiguous)
        self.lines += [indent + f"for j in range({n}):",
                       indent + f"    {at(target, 'j')} = {at(y, 'j')} * "
                                f"({at(target, 'j')} - b{target})"]
        self.elements += 4 * math.prod(shape)

    def _shifted_row(self, x, axis, target):
        """Per row of x: w{target} holds x - max, l{target} the log of the sum of its exp
        (numpy_backend._nn_shifted); returns what _rows does."""
        shape, dtype = self.info[x]
        w = f"w{target}"
        self.lines.append(f"    {w} = np.empty({shape[axis % len(shape)]}, np.{dtype.name})")
        indent, element, n, kept, contiguous = self._rows(x, axis, target)
        self.lines += [indent + f"for j in range({n}):",
                       indent + f"    {w}[j] = {element(x, 'j')} - m{target}"]
        self._sum(indent, f"e{target}", lambda j: f"np.exp({w}[{j}])", n, dtype, contiguous)
        self.lines.append(indent + f"l{target} = np.log(e{target})")
        return indent, element, n, kept, contiguous

    def _lower_softmax_cross_entropy_with_logits(self, node, in_slots, attrs, target):
        labels, x = in_slots
        if self.info[labels] != self.info[x]:
            raise _NotLoweredError("labels of another shape or type than the logits")
        self._new(target)
        indent, element, n, kept, contiguous = self._shifted_row(x, attrs["axis"], target)
        _, dtype = self.info[x]
        self._sum(indent, f"c{target}",
                  lambda j: f"{element(labels, j)} * (l{target} - w{target}[{j}])", n, dtype,
                  contiguous)
        self.lines.append(indent + f"{self._at(target, kept)} = c{target}")

    def _lower_sparse_softmax_cross_entropy_with_logits(self, node, in_slots, attrs, target):
        labels, x = in_slots
        shape, _ = self.info[x]
        if not shape or self.info[labels][0] != shape[:-1]:
            raise _NotLoweredError("labels of a shape other than the logits' batch")
        self._check(labels, shape[-1], node, "labels")
        self._new(target)
        indent, _, _, kept, _ = self._shifted_row(x, -1, target)
        self.lines.append(indent + f"{self._at(target, kept)} = "
                                   f"l{target} - w{target}[{self._at(labels, kept)}]")

    def _scan(self, in_slots, attrs, target, op, identity):
        """numpy_backend._scan: ufunc.accumulate along the axis in the dtype (each partial
        result from the last), reversed or shifted by one (exclusive) as asked."""
        (x,) = in_slots
        shape, dtype = self.info[target]
        if not shape or not math.prod(shape) or dtype.kind not in "fiu":
            raise _NotLoweredError(f"a scan over {shape} ({dtype})")
        axis = attrs["axis"] % len(shape)
        n = shape[axis]
        self._new(target)
        indent, names = self._open(shape, skip=axis)
        at = self._element(names)
        order = list(range(n))[::-1] if attrs["reverse"] else list(range(n))
        cast = f"np.{dtype.name}"
        acc = f"a{target}"
        first = order[0]
        self.lines.append(indent + f"{acc} = {at(x, first)}")
        self.lines.append(indent + f"{at(target, first)} = " +
                          (f"{cast}({identity})" if attrs["exclusive"] else acc))
        if n > 1:
            step = -1 if attrs["reverse"] else 1
            self.lines.append(indent + f"for j in range({order[1]}, {order[-1] + step}, {step}):")
            update = f"    {acc} = {cast}({acc} {op} {at(x, 'j')})"
            if attrs["exclusive"]:
                self.lines += [indent + f"    {at(target, 'j')} = {acc}", indent + update]
            else:
                self.lines += [indent + update, indent + f"    {at(target, 'j')} = {acc}"]

    def _norm_row(self, x, target, epsilon):
        """Opens loops over the rows of x (its last axis) and writes layer_norm's steps there:
        the row minus its mean into `target`'s row, the variance, and inv{target} =
        1 / sqrt(variance + epsilon); returns (indentation, element(slot, j), row length)."""
        shape, dtype = self.info[x]
        n = shape[-1] if shape else 0
        if dtype.name not in ("float32", "float64") or len(shape) < 2 or n == 0:
            raise _NotLoweredError(f"a layer norm over {shape} ({dtype})")
        cast = f"np.{dtype.name}"
        indent, names = self._open(shape, skip=len(shape) - 1)
        at = self._element(names)
        self._sum(indent, f"a{target}", lambda j: at(x, j), n, dtype, True)
        self.lines += [indent + f"m{target} = a{target} / {cast}({n})",
                       indent + f"for j in range({n}):",
                       indent + f"    {at(target, 'j')} = {at(x, 'j')} - m{target}"]
        self._sum(indent, f"v{target}", lambda j: f"{at(target, j)} * {at(target, j)}", n,
                  dtype, True)
        self.lines.append(indent + f"inv{target} = {cast}(1) / np.sqrt(v{target} / {cast}({n})"
                                   f" + {cast}({float(epsilon)!r}))")
        return indent, at, n

    def _lower_layer_norm(self, node, in_slots, attrs, target):
        """numpy_backend.layer_norm over the last axis, row by row, its steps and sums."""
        x, gamma, beta = in_slots
        if attrs["count"] != 1:
            raise _NotLoweredError("a layer norm over several axes")
        self._new(target)
        indent, at, n = self._norm_row(x, target, attrs["epsilon"])
        self.lines += [indent + f"for j in range({n}):",
                       indent + f"    {at(target, 'j')} = {at(target, 'j')} * (inv{target} * "
                                f"s{gamma}[j]) + s{beta}[j]"]
        self.elements += 3 * math.prod(self.info[x][0])

    def _lower_layer_norm_grad(self, node, in_slots, attrs, targets):
        """numpy_backend.layer_norm_grad over the last axis, row by row, its steps and sums:
        dgamma and dbeta add each row's float64 terms in row order within numpy_backend's
        pieces of rows, then the pieces in order."""
        x, gamma, dy = in_slots
        dx, dgamma, dbeta = targets
        for slot, tensor in zip(targets, node.output_list()):
            self.info[slot] = (self._shape(tensor), self._dtype(tensor))
        shape, dtype = self.info[x]
        if attrs["count"] != 1 or self.info[dy] != self.info[x]:
            raise _NotLoweredError("a layer norm gradient over several axes")
        for slot in targets:
            self._new(slot)
        n = shape[-1]
        from tensorflux.backends import numpy_backend

        piece = max(1, numpy_backend._LN_PIECE_BYTES // max(1, n * dtype.itemsize))
        p, t, w, r = f"p{dx}", f"t{dx}", f"w{dx}", f"r{dx}"
        self.lines += [f"    {p} = np.full((2, {n}), -0.0)", f"    {t} = np.full((2, {n}), -0.0)",
                       f"    {w} = np.empty({n}, np.{dtype.name})", f"    {r} = 0"]
        indent, at, n = self._norm_row(x, dx, attrs["epsilon"])
        self.lines += [indent + f"for j in range({n}):",
                       indent + f"    {at(dx, 'j')} = {at(dx, 'j')} * inv{dx}",
                       indent + f"    {w}[j] = {at(dy, 'j')} * s{gamma}[j]"]
        self._sum(indent, f"g{dx}", lambda j: f"{w}[{j}]", n, dtype, True)
        self._sum(indent, f"h{dx}", lambda j: f"{w}[{j}] * {at(dx, j)}", n, dtype, True)
        cast = f"np.{dtype.name}"
        self.lines += [
            indent + f"g{dx} = g{dx} / {cast}({n})",
            indent + f"h{dx} = h{dx} / {cast}({n})",
            indent + f"for j in range({n}):",
            indent + f"    {p}[0, j] += np.float64({at(dy, 'j')} * {at(dx, 'j')})",
            indent + f"    {p}[1, j] += np.float64({at(dy, 'j')})",
            indent + f"    {at(dx, 'j')} = (({w}[j] - g{dx}) - {at(dx, 'j')} * h{dx}) * inv{dx}",
            indent + f"{r} += 1",
            indent + f"if {r} % {piece} == 0 or {r} == {math.prod(shape[:-1])}:",
            indent + f"    for j in range({n}):",
            indent + f"        {t}[0, j] += {p}[0, j]",
            indent + f"        {t}[1, j] += {p}[1, j]",
            indent + f"        {p}[0, j] = -0.0",
            indent + f"        {p}[1, j] = -0.0",
            f"    for j in range({n}):",
            f"        s{dgamma}[j] = {cast}({t}[0, j])",
            f"        s{dbeta}[j] = {cast}({t}[1, j])"]
        self.elements += 6 * math.prod(shape)

    def _lower_top_k(self, node, in_slots, attrs, targets):
        """numpy_backend.top_k's order: descending, the lower index first among equals, NaN
        above everything; each of the k picks the best entry not yet picked."""
        (x,) = in_slots
        shape, dtype = self.info[x]
        k = attrs["k"]
        values, indices = targets
        outputs = node.output_list()
        for slot, tensor in zip(targets, outputs):
            self.info[slot] = (self._shape(tensor), self._dtype(tensor))
        if not shape or dtype.kind not in "fiu" or not 0 < k <= shape[-1]:
            raise _NotLoweredError(f"top_k of {shape} ({dtype})")
        self._new(values)
        self._new(indices)
        n = shape[-1]
        taken = f"p{values}"
        self.lines.append(f"    {taken} = np.zeros({n}, np.bool_)")
        indent, names = self._open(shape, skip=len(shape) - 1)
        at = self._element(names)
        best, where = f"b{values}", f"w{values}"
        self.lines += [
            indent + f"{taken}[:] = False",
            indent + f"for t in range({k}):",
            indent + f"    {where} = -1",
            indent + f"    {best} = {at(x, 0)}",
            indent + f"    for j in range({n}):",
            indent + f"        if {taken}[j]:",
            indent + "            continue",
            indent + f"        v = {at(x, 'j')}",
            # (strictly better, so that the lower index stays among equals; NaN beats all
            # but an earlier NaN)
            indent + f"        if {where} < 0 or (v > {best} and {best} == {best}) or "
                     f"(v != v and {best} == {best}):",
            indent + f"            {best} = v",
            indent + f"            {where} = j",
            indent + f"    {taken}[{where}] = True",
            indent + f"    {at(values, 't')} = {best}",
            indent + f"    {at(indices, 't')} = {where}",
        ]
        self.elements += k * math.prod(shape)

    def _lower_cumsum(self, node, in_slots, attrs, target):
        self._scan(in_slots, attrs, target, "+", 0)

    def _lower_cumprod(self, node, in_slots, attrs, target):
        self._scan(in_slots, attrs, target, "*", 1)

    # -- indexing

    def _gathered(self, indices, axis, batch_dims, names):
        """The params index of the gather result's element at `names` (TensorFlow's order:
        params' dimensions before axis, the indices' past the batch, params' after axis)."""
        rank = len(self.info[indices][0])
        index = self._at(indices, names[:batch_dims] + names[axis:axis + rank - batch_dims])
        return names[:axis] + [index] + names[axis + rank - batch_dims:]

    def _lower_gather(self, node, in_slots, attrs, target):
        params, indices = in_slots
        params_shape, _ = self.info[params]
        axis, batch_dims = attrs["axis"], attrs["batch_dims"]
        self._check(indices, params_shape[axis], node, "indices")
        self._new(target)
        shape, _ = self.info[target]
        indent, names = self._open(shape)
        at = self._gathered(indices, axis, batch_dims, names)
        self.lines.append(indent + f"{self._at(target, names)} = {self._at(params, at)}")

    def _lower_gather_grad(self, node, in_slots, attrs, target):
        indices, g = in_slots
        shape, dtype = self.info[target]
        axis, batch_dims = attrs["axis"], attrs["batch_dims"]
        if batch_dims and axis != batch_dims:
            # (NumPy's key puts the indices' dimensions first there: another order of adds)
            raise _NotLoweredError("gather_grad with dimensions between batch and axis")
        self._check(indices, shape[axis], node, "indices")
        self.lines.append(f"    s{target} = np.zeros({shape!r}, np.{dtype.name})")
        self.elements += math.prod(shape)
        g_shape, _ = self.info[g]
        indent, names = self._open(g_shape)
        at = self._at(target, self._gathered(indices, axis, batch_dims, names))
        # np.add.at's order: each element of g in turn, added to what is there.
        self.lines.append(indent + f"{at} = {at} + {self._at(g, names)}")

    def _basic_key(self, in_shape, key, names):
        """The input index of the element at `names` of x[key], for a key of ints, slices and
        newaxis (an Ellipsis among them); index arrays and masks are not lowered."""
        if any(isinstance(k, str) or not (k is None or k is Ellipsis or isinstance(
                k, (int, tuple))) for k in key):
            raise _NotLoweredError("getitem with index arrays")
        key = tuple(key)
        rest = len(in_shape) - sum(1 for k in key if k is not None and k is not Ellipsis)
        at = next((a for a, k in enumerate(key) if k is Ellipsis), len(key))
        key = key[:at] + ((None, None, None),) * rest + key[at + 1:]
        index, out = [], iter(names)
        for k in key:
            if k is None:  # (a new dimension of one)
                next(out)
                continue
            size = in_shape[len(index)]
            if isinstance(k, int):
                if not -size <= k < size:
                    raise _NotLoweredError(f"index {k} out of range {size}")
                index.append(str(k % size))
                continue
            start, _, step = slice(*k).indices(size)
            name = next(out)
            index.append(f"{start} + {step} * {name}" if name != "0" else str(start))
        return index

    def _lower_getitem(self, node, in_slots, attrs, target):
        if len(in_slots) != 1:
            raise _NotLoweredError("getitem with index arrays")
        (x,) = in_slots
        self._new(target)
        shape, _ = self.info[target]
        indent, names = self._open(shape)
        at = self._basic_key(self.info[x][0], attrs["key"], names)
        self.lines.append(indent + f"{self._at(target, names)} = {self._at(x, at)}")

    def _lower_getitem_grad(self, node, in_slots, attrs, target):
        if len(in_slots) != 1:
            raise _NotLoweredError("getitem_grad with index arrays")
        (g,) = in_slots
        shape, dtype = self.info[target]
        self.lines.append(f"    s{target} = np.zeros({shape!r}, np.{dtype.name})")
        self.elements += math.prod(shape)
        indent, names = self._open(self.info[g][0])
        at = self._basic_key(shape, attrs["key"], names)
        self.lines.append(indent + f"{self._at(target, at)} = {self._at(g, names)}")

    def _lower_one_hot(self, node, in_slots, attrs, target):
        (indices,) = in_slots
        shape, dtype = self.info[target]
        axis = attrs["axis"] % len(shape)
        for name in ("on_value", "off_value"):
            value = attrs[name]
            if not isinstance(value, (bool, int, float, np.generic)):
                raise _NotLoweredError(f"one_hot with a {type(value).__name__} {name}")
            self.env[f"{name}{target}"] = np.asarray(value, dtype)[()]
        self._new(target)
        indent, names = self._open(shape)
        index = self._at(indices, names[:axis] + names[axis + 1:])
        self.lines.append(indent + f"{self._at(target, names)} = on_value{target} if {index} == "
                                   f"{names[axis]} else off_value{target}")

    def _lower_assign(self, node, in_slots, attrs, target):
        variable, value = in_slots
        if not self.assigned:
            self.assigned = True
            self.checks_at = len(self.lines)
        if variable not in self.variables or len(in_slots) != 2:
            raise _NotLoweredError("an assign to something other than a Variable")
        shape, dtype = self.info[variable]
        kind = attrs.get("kind", "assign")
        if kind == "assign":
            program, inputs = (("cast", (0,), (("dtype", None),), dtype),), (value,)
        elif kind in ("assign_add", "assign_sub"):
            op = "add" if kind == "assign_add" else "subtract"
            program, inputs = ((op, (0, 1), (), dtype),), (variable, value)
        else:
            raise _NotLoweredError(f"assign of kind {kind!r}")
        self._loop(inputs, program, shape, dtype, f"a{len(self.lines)}", into=f"s{variable}")


# ------------------------------------------------------------------ per-element expressions

def _max(a, b):
    """np.maximum of two register names: NaN in either wins, and of equal values (-0.0 and
    0.0) the second, as NumPy's loops give (both are plain names, so repeating them costs
    nothing)."""
    return f"({a} if ({a} > {b} or {a} != {a}) else {b})"


def _min(a, b):
    return f"({a} if ({a} < {b} or {a} != {a}) else {b})"


def _typed(template, floats_only=False):
    """An op whose Numba result has the op's dtype when its inputs have it (floats of one
    width); otherwise (integers widen to int64 in Numba, literals are float64) the result is
    cast to the dtype."""
    def expression(args, types, attrs, dtype):
        if floats_only and (dtype.kind != "f" or any(t.kind != "f" for t in types)):
            raise _NotLoweredError("a floating-point op on other types")
        kind = f"np.{dtype.name}"
        text = template(*args, T=kind) if callable(template) else template.format(*args, T=kind)
        if dtype.kind == "f" and all(t == dtype for t in types):
            return text
        return f"{kind}({text})"
    return expression


def _integer_division(template):
    """floordiv, floormod of integers (NumPy's: by zero gives 0, and by -1 cannot trap on
    the least integer); floats, whose NumPy loops adjust fmod's result, are not lowered."""
    def expression(args, types, attrs, dtype):
        if dtype.kind not in "iu" or any(t.kind not in "iu" for t in types):
            raise _NotLoweredError("floordiv or floormod of floats")
        return f"np.{dtype.name}({template.format(*args, T=f'np.{dtype.name}')})"
    return expression


def _predicate(template):
    def expression(args, types, attrs, dtype):
        return template.format(*args)
    return expression


def _cast(args, types, attrs, dtype):
    (x,), (source,) = args, types
    if dtype.kind == "b":
        return f"({x} != 0)"
    if source.kind == "b":
        return f"np.{dtype.name}(1 if {x} else 0)"
    return f"np.{dtype.name}({x})"


_SCALAR_OPS = {
    "add": _typed("{0} + {1}"),
    "subtract": _typed("{0} - {1}"),
    "multiply": _typed("{0} * {1}"),
    "divide": _typed("{0} / {1}", floats_only=True),
    "pow": _typed("{0} ** {1}", floats_only=True),
    "maximum": _typed(lambda a, b, T: _max(a, b)),
    "minimum": _typed(lambda a, b, T: _min(a, b)),
    "mul_no_nan": _typed("({T}(0) if {1} == 0 else {0} * {1})", floats_only=True),
    "atan2": _typed("np.arctan2({0}, {1})", floats_only=True),
    "negative": _typed("-{0}"),
    "abs": _typed("abs({0})"),
    # (Numba's np.sign keeps -0.0; NumPy's gives 0.0.)
    "sign": _typed("({T}(1) if {0} > 0 else {T}(-1) if {0} < 0 else {0} if {0} != {0} "
                   "else {T}(0))"),
    "square": _typed("{0} * {0}"),
    "sqrt": _typed("np.sqrt({0})", floats_only=True),
    "rsqrt": _typed("{T}(1) / np.sqrt({0})", floats_only=True),
    "reciprocal": _typed("{T}(1) / {0}", floats_only=True),
    "exp": _typed("np.exp({0})", floats_only=True),
    "expm1": _typed("np.expm1({0})", floats_only=True),
    "log": _typed("np.log({0})", floats_only=True),
    "log1p": _typed("np.log1p({0})", floats_only=True),
    "sin": _typed("np.sin({0})", floats_only=True),
    "cos": _typed("np.cos({0})", floats_only=True),
    "tan": _typed("np.tan({0})", floats_only=True),
    "tanh": _typed("np.tanh({0})", floats_only=True),
    "sinh": _typed("np.sinh({0})", floats_only=True),
    "cosh": _typed("np.cosh({0})", floats_only=True),
    "asin": _typed("np.arcsin({0})", floats_only=True),
    "acos": _typed("np.arccos({0})", floats_only=True),
    "atan": _typed("np.arctan({0})", floats_only=True),
    "erf": _typed("{T}(math.erf({0}))", floats_only=True),
    # numpy_backend.sigmoid: exp(min(x, 0)) / (1 + exp(-|x|)), never overflowing.
    "sigmoid": _typed(lambda x, T: f"np.exp({_min(x, T + '(0)')}) / ({T}(1) + np.exp(-abs({x})))",
                      floats_only=True),
    "softsign": _typed("{0} / ({T}(1) + abs({0}))", floats_only=True),
    "floor": _typed("np.floor({0})", floats_only=True),
    "ceil": _typed("np.ceil({0})", floats_only=True),
    "relu": _typed(lambda x, T: _max(x, T + "(0)")),
    "relu6": _typed(lambda x, T: _min(_max(x, T + "(0)"), T + "(6)")),
    # numpy_backend.elu: expm1 of min(x, 0), so elu(-0.0) is expm1(0.0) == +0.0 there too.
    "elu": _typed(lambda x, T: f"({x} if {x} > 0 else np.expm1({_min(x, T + '(0)')}))",
                  floats_only=True),
    # numpy_backend.softplus: np.logaddexp(0, x), as NumPy's npy_logaddexp branches.
    "softplus": _typed("({T}(0.6931471805599453) if {0} == 0 else np.log1p(np.exp({0})) if "
                       "{0} < 0 else {0} + np.log1p(np.exp(-{0})) if {0} > 0 else -{0})",
                       floats_only=True),
    # numpy_backend.sigmoid_cross_entropy_with_logits(labels z, logits x).
    "sigmoid_cross_entropy_with_logits": _typed(
        lambda z, x, T: f"({_max(x, T + '(0)')} - {x} * {z}) + np.log1p(np.exp(-abs({x})))",
        floats_only=True),
    "floordiv": _integer_division("0 if {1} == 0 else -{0} if {1} == -1 else {0} // {1}"),
    "floormod": _integer_division("0 if {1} == 0 or {1} == -1 else {0} % {1}"),
    "round": _typed("np.rint({0})", floats_only=True),
    "is_nan": _predicate("({0} != {0})"),
    "is_inf": _predicate("(abs({0}) == np.inf)"),
    "is_finite": _predicate("(abs({0}) < np.inf)"),
    "equal": _predicate("({0} == {1})"),
    "not_equal": _predicate("({0} != {1})"),
    "less": _predicate("({0} < {1})"),
    "less_equal": _predicate("({0} <= {1})"),
    "greater": _predicate("({0} > {1})"),
    "greater_equal": _predicate("({0} >= {1})"),
    "logical_and": _predicate("({0} and {1})"),
    "logical_or": _predicate("({0} or {1})"),
    "logical_xor": _predicate("({0} != {1})"),
    "logical_not": _predicate("(not {0})"),
    "select": _predicate("({1} if {0} else {2})"),
    "cast": _cast,
}


def _scalar(name, args, types, attrs, dtype):
    lower = _SCALAR_OPS.get(name)
    if lower is None:
        raise _NotLoweredError(f"elementwise {name!r} is not lowered")
    return lower(args, types, attrs, dtype)

