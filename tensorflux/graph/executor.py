"""Runs a Graph: the compiled plan (a flat list of kernel calls over slots, with buffer
planning) and, for callers that need tapes or are themselves tracing, an interpreter that
re-binds each node."""

import time

from tensorflux import errors
from tensorflux.backends import backend_of
from tensorflux.graph.ir import SymbolicTensor, const_primitive, placeholder_primitive
from tensorflux.graph.passes import (
    _ELEMENTWISE,
    expand_fused,
    fused_conv2d_backprop_filter_primitive,
    fused_conv2d_primitive,
    fused_elementwise_primitive,
)
from tensorflux.profiler import recorder as profiling
from tensorflux.tensor import Tensor
from tensorflux.variable import Variable

__all__ = ["Plan", "interpret"]

# Kernels that take `out=`: a dead buffer of the result's shape and dtype they may write into.
_OUT_KERNELS = frozenset({"fused_elementwise"})
# Primitives whose kernels return new arrays and keep no view of their inputs. A buffer is
# handed on to a later kernel only if every consumer is one of these: a view of it that
# outlived its last use would see the new values otherwise.
_NO_VIEW = _ELEMENTWISE | frozenset({
    "fused_elementwise", "matmul", "assign", "reduce_sum", "reduce_mean", "reduce_max",
    "reduce_min", "reduce_prod", "reduce_logsumexp", "reduce_any", "reduce_all", "argmax",
    "argmin", "softmax", "log_softmax", "sigmoid_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
    "copy", "identity", "fill_like"})
# Primitives whose kernels always return a new array (never an input itself, nor a view):
# only their results are handed on, so a kernel never writes into a Variable, a constant or
# an input that another kernel passed through.
_FRESH = _ELEMENTWISE | frozenset({"fused_elementwise", "matmul"})
# Buffers smaller than this are not handed on: checking them costs more than allocating.
_MIN_DONATION = 1024
# GEMMs of fewer multiply-adds than this are not paired (see Plan._products_together): as
# numpy_backend runs only products this large beside each other (_PAIRED_WHOLE_MIN).
_TOGETHER_MIN = 1 << 21


class Plan:
    """A Graph compiled for one backend: no Tensor objects, no bind(), no tape checks.

    Each step is (kernel, input slots, attrs, output slot(s), multiple, node); slots are a
    list of raw arrays. Constants are in the template; Variables are read into their slots
    at the start of a call (their buffers are updated in place, so later steps see
    assignments).

    Buffer planning: a slot that a step computed is released right after its last reader
    (graph outputs, inputs, constants and Variables never are), so a call holds only the
    live intermediates. A kernel that takes `out=` (the fused elementwise kernel) receives
    the dead buffer of an earlier intermediate of the same static shape and dtype, when no
    view of that buffer can be alive; `donations` counts the steps planned that way.
    """

    def __init__(self, graph, backend, inputs=None, captures=(), native=False):
        self.graph = graph
        self.backend = backend
        # For jit_compile: the backend's hooks may compile the steps they build (native=True
        # to each), and runner(native=True) may compile the whole plan.
        self._native_kw = {"native": True} if native else {}
        slot_of = {}
        template = []

        def new_slot(key, value=None):
            slot_of[key] = len(template)
            template.append(value)
            return slot_of[key]

        inputs = graph.inputs if inputs is None else inputs
        self.input_slots = [new_slot(id(t)) for t in inputs]
        self.capture_slots = [new_slot(id(inner)) for _, inner in captures]
        self._fed = dict(zip(self.input_slots, inputs))
        self._fed.update(zip(self.capture_slots, (inner for _, inner in captures)))
        self.variable_slots = []
        self.steps = []
        self.kernel_count = 0
        produced = {}  # slot -> (node, output tensor) for single-output steps
        for node in graph.nodes:
            prim = node.primitive
            if prim is placeholder_primitive:
                if id(node.outputs) not in slot_of:
                    raise errors.InternalError(f"Graph {graph.name}: the placeholder "
                                               f"{node.name} is neither an input nor a capture")
                continue
            if prim is const_primitive:
                new_slot(id(node.outputs), _on_backend(backend, node.attrs["value"]))
                continue
            in_slots = []
            reads_variable = False
            for x in node.inputs:
                if isinstance(x, Variable):
                    reads_variable = True
                    if id(x) not in slot_of:
                        self.variable_slots.append((x, new_slot(id(x))))
                in_slots.append(slot_of[id(x)])
            kernel = _kernel(backend, prim)
            if prim.aliases and reads_variable:
                kernel = _copying(kernel, backend, prim.multiple_results)
            outs = node.output_list()
            out_slots = tuple(new_slot(id(o)) for o in outs)
            target = out_slots if prim.multiple_results else out_slots[0]
            if not prim.multiple_results:
                produced[target] = (node, outs[0])
            self.steps.append((kernel, tuple(in_slots), node.attrs, target,
                               prim.multiple_results, node))
            self.kernel_count += 1
        self.template = template
        self.slot_of = slot_of
        # One step per node, before the passes below fold them into in-place kernels: what
        # a backend's native_runner compiles.
        self.node_steps = list(self.steps)
        self.native_reason = "not asked for"
        # Under jit_compile, for a plan not compiled whole: the native segments of the runner
        # generated last (numpy_native.compile_segments).
        self.native_segments = []
        self.fused_assigns = self._fuse_assigns(produced)
        self.update_groups = self._group_updates()
        self.concats_in_place = self._concat_in_place()
        self.updates_overlapped = self._overlap_update()
        self.products_together = self._products_together()
        self._program, self.donations = self._plan_buffers(produced)
        self._runners = {}

    def _fuse_assigns(self, produced):
        """Folds `assign(variable, fused_elementwise(...))` into the fused step: it writes its
        last result straight into the variable's buffer (an assign_add or assign_sub becomes
        one more add or subtract in the program), saving the assign's pass over memory and
        the temporary. Only when the value has no other reader, matches the variable's shape
        and dtype, and no step in between reads a variable (a view of the same buffer would
        see the new values early). Returns how many assigns were folded."""
        kept = {self.slot_of[id(t)] for t in self.graph.outputs if id(t) in self.slot_of}
        readers = {}
        for k, step in enumerate(self.steps):
            for i in step[1]:
                readers.setdefault(i, []).append(k)
        variable_slots = {i for _, i in self.variable_slots}
        producer_step = {step[3]: k for k, step in enumerate(self.steps) if not step[4]}
        folded = {}
        for k, step in enumerate(self.steps):
            node = step[5]
            if node.primitive.name != "assign" or len(step[1]) != 2:
                continue
            target_slot, value_slot = step[1]
            kind = node.attrs.get("kind")
            j = producer_step.get(value_slot)
            if (kind not in _FOLDED_KINDS or j is None or j in folded
                    or target_slot not in variable_slots or value_slot in kept
                    or readers.get(value_slot) != [k]):
                continue
            fused = self.steps[j][5]
            variable, value = node.inputs[0], produced[value_slot][1]
            if (fused.primitive is not fused_elementwise_primitive
                    or not value.shape.is_fully_defined()
                    or tuple(value.shape) != tuple(variable.shape)
                    or value.dtype is not variable.dtype
                    or any(i in variable_slots for step_between in self.steps[j + 1:k]
                           for i in step_between[1])):
                continue
            program = fused.attrs["program"]
            n = len(fused.inputs)
            if kind != "assign":
                # The variable becomes input n: results move up one register.
                program = tuple((name, tuple(r if r < n else r + 1 for r in refs), attrs, dtype)
                                for name, refs, attrs, dtype in program)
                program += ((_FOLDED_KINDS[kind], (n, n + len(program)), (), value.dtype),)
            scalar = variable.shape.rank == 0 and all(x.shape.rank == 0 for x in fused.inputs)
            types = _static_types(fused) + (
                ((tuple(variable.shape), variable.dtype),) if kind != "assign" else ())
            kernel = _fused_assign(self.backend, program, n + (kind != "assign"),
                                   kind != "assign", scalar, value.shape.num_elements(), types,
                                   self._native_kw)
            kernel.update = (program, n + (kind != "assign"), kind != "assign",
                             value.shape.num_elements())
            folded[j] = (kernel, self.steps[j][1] + (target_slot,), {}, (), True, fused)
            folded[k] = None
        if folded:
            self.steps = [folded.get(k, step) for k, step in enumerate(self.steps)
                          if folded.get(k, step) is not None]
        return len(folded) // 2

    def _group_updates(self):
        """Runs of consecutive folded assigns over equally long buffers (an optimizer's
        slot and variable updates) become one step, when the backend offers a kernel that
        runs them together (see numpy_backend.fused_update_group). Elementwise updates give
        the same values interleaved chunk by chunk as one after another. Returns how many
        groups were made."""
        make_group = getattr(self.backend, "fused_update_group", None)
        if make_group is None:
            return 0
        steps, run, groups = [], [], 0

        def flush():
            nonlocal groups
            sizes = {step[0].update[3] for step in run}
            group = None
            if len(run) > 1 and len(sizes) == 1:
                parts = [step[0].update[:3] for step in run]
                group = make_group(parts, [step[0] for step in run], sizes.pop(),
                                   **self._native_kw)
            if group is None:
                steps.extend(run)
            else:
                in_slots = tuple(i for step in run for i in step[1])
                steps.append((group, in_slots, {}, (), True, run[-1][5]))
                groups += 1
            run.clear()

        for step in self.steps:
            if getattr(step[0], "update", None) is not None and not step[3]:
                run.append(step)
                continue
            flush()
            steps.append(step)
        flush()
        self.steps = steps
        return groups

    def _concat_in_place(self):
        """A 1-D concat along axis 0 (an optimizer's flat gradient) whose pieces come from
        kernels that can write into a given buffer (matmul, reduce_sum, gather_grad; through
        a reshape or not) gets its buffer first, and those kernels write their pieces
        straight into it: one copy of every gradient fewer. Only pieces with no other
        reader qualify; the others are copied in where the concat was. Returns how many
        concats were planned that way."""
        writer_for = getattr(self.backend, "writer", None)
        if writer_for is None:
            return 0
        kept = {self.slot_of[id(t)] for t in self.graph.outputs if id(t) in self.slot_of}
        readers = {}
        producer = {}
        for k, step in enumerate(self.steps):
            for i in step[1]:
                readers.setdefault(i, []).append(k)
            if not step[4]:
                producer[step[3]] = k
        replaced = {}  # step index -> new step (None: dropped)
        before = {}  # step index -> step to insert before it
        count = 0
        for k, step in enumerate(self.steps):
            node = step[5]
            if (node.primitive.name != "concat" or step[4] or node.attrs.get("axis") != 0
                    or node.outputs.shape.rank != 1
                    or not node.outputs.shape.is_fully_defined()):
                continue
            direct, offset = [], 0
            for i, x in zip(step[1], node.inputs):
                size = x.shape.num_elements() if x.shape.is_fully_defined() else None
                if size is None:
                    direct = None
                    break
                found = self._piece_writer(i, k, kept, readers, producer, writer_for,
                                           replaced, size)
                if found is not None:
                    direct.append((i, offset, size) + found)
                offset += size
            if not direct:
                continue
            target = step[3]
            total = node.outputs.shape.num_elements()
            first = min(j for *_, j, _, _ in direct)
            before[first] = (_allocator(self.backend, total, node.outputs.dtype), (), {},
                             target, False, node)
            done = {i for i, *_ in direct}
            for _, offset, size, j, reshape_step, write in direct:
                kernel = _writing(write, offset, size, tuple(self.steps[j][5].outputs.shape))
                replaced[j] = (kernel, self.steps[j][1] + (target,), {}, (), True,
                               self.steps[j][5])
                if reshape_step is not None:
                    replaced[reshape_step] = None
            rest = [(i, offset) for (i, offset) in _offsets(step[1], node.inputs)
                    if i not in done]
            if rest:
                replaced[k] = (_copying_in(self.backend, [o for _, o in rest]),
                               tuple(i for i, _ in rest) + (target,), {}, (), True, node)
            else:
                replaced[k] = None
            count += 1
        if count:
            steps = []
            for k, step in enumerate(self.steps):
                if k in before:
                    steps.append(before[k])
                new = replaced.get(k, step)
                if new is not None:
                    steps.append(new)
            self.steps = steps
        return count

    def _overlap_update(self):
        """The last gradient product written into a flat buffer and the update group that
        reads the buffer run as one step, when the backend offers one (see
        numpy_backend.update_after_product): the other variables' updates then overlap the
        product. The steps in between (copying the small gradients in, the step count) move
        before it, when they neither read the buffer (a copy into other parts of it aside)
        nor write into what the product reads. Returns how many pairs were made."""
        combine = getattr(self.backend, "update_after_product", None)
        if combine is None:
            return 0
        for k, group in enumerate(self.steps):
            if getattr(group[0], "ranges", None) is None:
                continue
            j = k - 1
            while j >= 0 and getattr(self.steps[j][0], "piece", None) is None:
                j -= 1
            if j < 0:
                return 0
            write = self.steps[j]
            buffer = write[1][-1]
            if buffer not in group[1]:
                return 0
            for between in self.steps[j + 1:k]:
                writes_last = getattr(between[0], "writes_last", False)
                outs = between[3] if between[4] else (between[3],)
                if set(outs) & set(write[1]):
                    return 0
                if buffer in (between[1][:-1] if writes_last else between[1]):
                    return 0
                if between[4] and not between[3] and set(
                        between[1][-1:] if writes_last else between[1]) & set(write[1][:-1]):
                    return 0
            kernel = combine(*write[0].piece, group[0])
            if kernel is None:
                return 0
            self.steps[j:k + 1] = self.steps[j + 1:k] + [
                (kernel, write[1] + group[1], {}, (), True, group[5])]
            return 1
        return 0

    def _gemm_step(self, step):
        """(kernel, input count, matmul attributes or None) of a step that is one large 2-D
        GEMM (a matmul, or a product written into a concat's buffer), else None."""
        node = step[5]
        if node.primitive.name != "matmul" or any(
                not x.shape.is_fully_defined() or x.shape.rank != 2 for x in node.inputs):
            return None
        a, b = (tuple(x.shape) for x in node.inputs)
        shared = a[0] if node.attrs.get("transpose_a") else a[1]
        if node.outputs.shape.num_elements() * shared < _TOGETHER_MIN:
            return None
        if getattr(step[0], "piece", None) is not None:
            return step[0], len(step[1]), None
        if step[4] or step[0] is not _own_kernel(self.backend, node):
            return None
        return step[0], len(step[1]), node.attrs

    def _products_together(self):
        """Two large GEMMs with only pure steps between them that neither reads the other's
        result nor depends on the first (a layer's backward product and its kernel's gradient)
        run as one step, when the backend offers one (numpy_backend.products_together): one
        split over the threads instead of two. Returns how many pairs were made."""
        together = getattr(self.backend, "products_together", None)
        if together is None:
            return 0
        count = 0
        k = 0
        while k < len(self.steps):
            first = self._gemm_step(self.steps[k])
            j = k + 1
            while j < len(self.steps) and j - k <= 3 and self._gemm_step(self.steps[j]) is None:
                j += 1
            if first is None or j >= len(self.steps) or j - k > 3:
                k += 1
                continue
            second = self._gemm_step(self.steps[j])
            made = self.steps[k][3] if not self.steps[k][4] else None
            between = self.steps[k + 1:j]
            reads = set(self.steps[j][1]).union(*(set(step[1]) for step in between))
            if (made is None or made in reads or any(
                    step[4] and not step[3] for step in between)):
                k += 1
                continue
            kernel = together(first, second)
            if kernel is None:
                k += 1
                continue
            targets = tuple(step[3] for step in (self.steps[k], self.steps[j]) if not step[4])
            kernel.effect = self.steps[j][4]  # writes a buffer: run even if nothing reads
            self.steps[k:j + 1] = between + [(kernel, self.steps[k][1] + self.steps[j][1], {},
                                              targets, True, self.steps[k][5])]
            count += 1
            k += len(between) + 1
        return count

    def _piece_writer(self, slot, concat_step, kept, readers, producer, writer_for,
                      replaced, size):
        """(producing step, reshape step or None, writer) for a concat piece whose kernel can
        write into the concat's buffer, else None."""
        if slot in kept or readers.get(slot) != [concat_step] or slot not in producer:
            return None
        j = producer[slot]
        reshape_step = None
        if self.steps[j][5].primitive.name == "reshape":
            inner = self.steps[j][1][0]
            if inner in kept or readers.get(inner) != [j] or inner not in producer:
                return None
            reshape_step, j = j, producer[inner]
        if j in replaced or (reshape_step is not None and reshape_step in replaced):
            return None
        step = self.steps[j]
        node = step[5]
        if step[4] or not node.outputs.shape.is_fully_defined():
            return None
        if _own_kernel(self.backend, node) is not step[0]:
            return None
        write = writer_for(node.primitive.kernel, node.attrs, len(step[1]), size)
        return None if write is None else (j, reshape_step, write)

    def _plan_buffers(self, produced):
        """Per step: the slot whose buffer it may write into (or None), and the slots to
        release after it."""
        kept = set(self.input_slots) | set(self.capture_slots)
        kept.update(i for _, i in self.variable_slots)
        kept.update(i for i, value in enumerate(self.template) if value is not None)
        kept.update(self.slot_of[id(t)] for t in self.graph.outputs if id(t) in self.slot_of)
        last_use = {}
        readers = {}
        for k, step in enumerate(self.steps):
            for i in step[1]:
                last_use[i] = k
                readers.setdefault(i, []).append(step[5].primitive.name)
            for i in (step[3] if step[4] else (step[3],)):
                last_use.setdefault(i, k)  # never read: released right away
        donors = {}  # slot -> (shape, dtype), for buffers that may be handed on
        for i, (node, tensor) in produced.items():
            if (i not in kept and node.primitive.name in _FRESH and tensor.shape.rank
                    and tensor.shape.is_fully_defined()
                    and tensor.shape.num_elements() >= _MIN_DONATION
                    and all(name in _NO_VIEW for name in readers.get(i, ()))):
                donors[i] = (tuple(tensor.shape), tensor.dtype)
        pool = {}
        given = {}
        for k, step in enumerate(self.steps):
            node, target = step[5], step[3]
            if node.primitive.kernel in _OUT_KERNELS and target in produced:
                tensor = produced[target][1]
                if tensor.shape.is_fully_defined():
                    free = pool.get((tuple(tensor.shape), tensor.dtype))
                    if free:
                        given[k] = free.pop()
            for i in step[1]:
                if last_use.get(i) == k and i in donors:
                    pool.setdefault(donors[i], []).append(i)
        donated = set(given.values())
        release = {}
        for i, k in last_use.items():
            if i not in kept and i not in donated:
                release.setdefault(k, []).append(i)
        program = [step + (given.get(k), tuple(release.get(k, ())))
                   for k, step in enumerate(self.steps)]
        return program, len(given)

    def output_slot(self, tensor):
        return self.slot_of[id(tensor)]

    def slot_tensor(self, slot):
        """The graph input or capture fed into `slot`."""
        return self._fed[slot]

    def runner(self, out_slots, native=False, flush=True):
        """A function run(input_values, capture_values) -> the values of `out_slots`: the
        plan as generated straight-line Python, one line per kernel call, locals for slots.

        It does what run() does, without the per-step loop, tuple unpacking and list
        indexing; a failing kernel is reported with its node, as run() reports it.

        native=True (jit_compile): the whole plan as one native call where the backend can
        compile it (numpy_backend.native_runner: a small static plan, Numba installed);
        `native_reason` says why not otherwise.

        flush=False: the run keeps subnormal floats, as eager ops do, instead of flushing
        them as a compiled step does (an eager call replayed as a plan, see
        ConcreteFunction._run_for_effects).
        """
        out_slots = tuple(out_slots)
        key = (out_slots, native, flush)
        found = self._runners.get(key)
        if found is None:
            if native:
                found = _native_runner(self, out_slots)
            if found is None:
                found = _generate_runner(self, out_slots, native)
            else:  # (a generated runner tests for a profiler itself)
                found = _profiling_switch(found, _profiled(self, out_slots, native, found))
            # A compiled run computes as TensorFlow's CPU kernels do, subnormal floats
            # flushed to zero, where the backend can (numpy_backend.flushing_denormals).
            flushing = getattr(self.backend, "flushing_denormals", None)
            if flushing is not None and flush:
                found = flushing(found)
            self._runners[key] = found
        return found

    def run(self, input_values, capture_values=()):
        slots = list(self.template)
        for variable, i in self.variable_slots:
            slots[i] = variable._value
        for i, value in zip(self.input_slots, input_values):
            slots[i] = value
        for i, value in zip(self.capture_slots, capture_values):
            slots[i] = value
        for kernel, in_slots, attrs, target, multiple, node, donor, release in self._program:
            try:
                if donor is not None:
                    buffer = slots[donor]
                    slots[donor] = None
                    if _owned(buffer):
                        result = kernel(*[slots[i] for i in in_slots], out=buffer, **attrs)
                    else:
                        result = kernel(*[slots[i] for i in in_slots], **attrs)
                else:
                    result = kernel(*[slots[i] for i in in_slots], **attrs)
            except errors.OpError as error:
                raise type(error)(f"{node.name}: {error}", node.primitive.name) from error
            except (ValueError, TypeError, IndexError, ArithmeticError) as error:
                shapes = ", ".join(str(getattr(slots[i], "shape", "?")) for i in in_slots)
                raise errors.InvalidArgumentError(
                    f"{node.name} ({node.primitive.name}): {error} (inputs: {shapes})",
                    node.primitive.name) from error
            if multiple:
                for i, value in zip(target, result):
                    slots[i] = value
            else:
                slots[target] = result
            for i in release:
                slots[i] = None
        return slots


def _native_runner(plan, out_slots):
    """The backend's whole-plan native runner (numpy_backend.native_runner), or None."""
    compile_plan = getattr(plan.backend, "native_runner", None)
    if compile_plan is None:
        plan.native_reason = f"the {plan.backend.name} backend has no native step"
        return None
    return compile_plan(plan, out_slots)


def _native_segments(plan, live, out_slots):
    """{first step: (last step, segment)} for the runs of steps the backend compiles as one
    native call each (numpy_backend.native_segments, under jit_compile), within a plan it
    does not compile whole. Only steps running their node's own kernel qualify."""
    find = getattr(plan.backend, "native_segments", None)
    if find is None:
        return {}
    plain = [k in live and step[0] is _own_kernel(plan.backend, step[5])
             for k, step in enumerate(plan._program)]
    found = find(plan, plan._program, plain, live, out_slots)
    plan.native_segments = [segment for _, _, segment in found]
    return {first: (last, segment) for first, last, segment in found}


def _profiled(plan, out_slots, native, whole=None):
    """A function running the plan as runner(out_slots, native) does, with an event for the
    run (named after the graph) and one for each kernel, while a profiler is on
    (tensorflux.profiler): the generated code with timed kernels, made on first use; or
    `whole`, a whole-plan native runner, as one event."""
    key = (out_slots, native, "profiled")
    clock = time.perf_counter_ns
    name = plan.graph.name
    local = profiling.running

    def profiled_run(input_values, capture_values=()):
        found = whole or plan._runners.get(key)
        if found is None:
            found = plan._runners[key] = _generate_runner(plan, out_slots, native,
                                                          profiled=True)
        outer = getattr(local, "plan", None)
        if outer is plan:  # (a native runner's NumPy runner: the run has its event)
            return found(input_values, capture_values)
        local.plan = plan
        start = clock()
        try:
            return found(input_values, capture_values)
        finally:
            local.plan = outer
            profiling.record(name, "", start, clock())
    return profiled_run


def _profiling_switch(run, profiled_run):
    """`run`, or `profiled_run` while a profiler is on."""
    state = profiling.state

    def run_or_profile(input_values, capture_values=()):
        if state.session is None:
            return run(input_values, capture_values)
        return profiled_run(input_values, capture_values)
    run_or_profile.__wrapped__ = run
    return run_or_profile


class _TimedSegment:
    """A native segment whose calls are profiled events (see _generate_runner)."""

    def __init__(self, segment, name):
        self._segment = segment
        self._call = profiling.timed(segment, name, "NativeSegment")

    @property
    def ready(self):
        return self._segment.ready

    def warm(self, *args):
        return self._segment.warm(*args)

    def __call__(self, *args):
        return self._call(*args)


def _generate_runner(plan, out_slots, native=False, profiled=False):
    env = {"_owned": _owned, "__name__": __name__}
    lines = ["def run(inputs, captures):"]
    if not profiled:
        # (one test per run: the code with timed kernels takes over while a profiler is on)
        env["_P"] = profiling.state
        env["_profiled"] = _profiled(plan, tuple(out_slots), native)
        lines.append("    if _P.session is not None: return _profiled(inputs, captures)")
    if plan.input_slots:
        lines.append("    " + ", ".join(f"s{i}" for i in plan.input_slots) + ", = inputs")
    if plan.capture_slots:
        lines.append("    " + ", ".join(f"s{i}" for i in plan.capture_slots) + ", = captures")
    for k, (variable, i) in enumerate(plan.variable_slots):
        env[f"V{k}"] = variable
        lines.append(f"    s{i} = V{k}._value")
    for i, value in enumerate(plan.template):
        if value is not None:
            env[f"C{i}"] = value
            lines.append(f"    s{i} = C{i}")
    step_of_line = {}  # generated line number (1-based) -> step index, to name failing nodes
    specialize = getattr(plan.backend, "specialize", None)
    live = _live_steps(plan._program, out_slots)
    defined = set(plan.input_slots) | set(plan.capture_slots)
    defined.update(i for _, i in plan.variable_slots)
    defined.update(i for i, value in enumerate(plan.template) if value is not None)
    segments = _native_segments(plan, live, out_slots) if native else {}
    indent = "    "
    ends = {}  # the last step of a segment -> the slots it computes that later steps lack
    for k, (kernel, in_slots, attrs, target, multiple, node, donor, release) in enumerate(
            plan._program):
        if k in segments:
            # The segment's one native call once it is compiled (it returns None if its
            # arguments' types changed), else its steps as they are, below.
            last, segment = segments[k]
            env[f"N{k}"] = _TimedSegment(segment, f"{plan.graph.name}/segment_{k}:"
                                         "NativeSegment") if profiled else segment
            args = "".join(f"s{i}, " for i in segment.in_slots)
            results = "".join(f"s{i}, " for i in segment.out_slots)
            inside = [plan._program[j] for j in range(k, last + 1) if j in live]
            made = {i for step in inside for i in (step[3] if step[4] else (step[3],))}
            # (what a step inside releases or takes as its buffer: gone on either branch)
            freed = [i for step in inside for i in (*step[7], step[6])
                     if i in defined and i not in made]
            lines += [f"    _n = N{k}({args}) if N{k}.ready else None",
                      "    if _n is not None:",
                      f"        ({results}) = _n" if results else "        pass"]
            lines += [f"        del s{i}" for i in freed]
            lines += ["    else:", f"        N{k}.warm({args})"]
            indent = "        "
            ends[last] = made - set(segment.out_slots)
        if k not in live:  # (a segment's last step is live)
            continue
        if donor is not None and donor not in defined:
            donor = None
        defined.update(target if multiple else (target,))
        if specialize is not None and kernel is _own_kernel(plan.backend, node):
            # The backend's kernel with these attributes bound (or for these static sizes),
            # when it offers one.
            special = specialize(node.primitive.kernel, attrs, len(in_slots),
                                 result_size=_static_size(node),
                                 scalar_inputs=all(x.shape.rank == 0 for x in node.inputs),
                                 input_types=_static_types(node), **plan._native_kw)
            if special is not None:
                kernel, attrs = special, {}
        if profiled:
            from tensorflux.graph.graphdef import op_type  # (its protos load on first use)

            kind = op_type(node)
            kernel = profiling.timed(kernel, f"{node.name}:{kind}", kind)
        env[f"K{k}"] = kernel
        args = [f"s{i}" for i in in_slots]
        for j, (name, value) in enumerate(attrs.items()):
            env[f"A{k}_{j}"] = value
            args.append(f"{name}=A{k}_{j}")
        call = f"K{k}({', '.join(args)})"
        lhs = ("(" + ", ".join(f"s{i}" for i in target) + ",)") if multiple else f"s{target}"
        if multiple and not target:
            lhs = "_"
        if donor is not None:
            # The dead buffer goes to the kernel as out= when it still owns its memory.
            with_out = f"K{k}({', '.join(args + ['out=_b'])})"
            lines.append(f"{indent}_b = s{donor}")
            lines.append(f"{indent}del s{donor}")
            lines.append(f"{indent}{lhs} = {with_out} if _owned(_b) else {call}")
        else:
            lines.append(f"{indent}{lhs} = {call}")
        step_of_line[len(lines)] = k
        for i in release:
            if i in defined:
                lines.append(f"{indent}del s{i}")
        if k in ends:  # (the segment's own values are defined on one branch only)
            indent = "    "
            defined -= ends[k]
    lines.append("    return (" + "".join(f"s{i}, " for i in out_slots) + ")")
    source = "\n".join(lines)
    code = compile(source, f"<plan {plan.graph.name}>", "exec")
    exec(code, env)  # noqa: S102 - generated from the plan's own slots and kernels
    generated = env["run"]

    def run(input_values, capture_values=()):
        try:
            return generated(input_values, capture_values)
        except Exception as error:  # report it as run() does, naming the node
            tb = error.__traceback__
            while tb is not None and tb.tb_frame.f_code is not generated.__code__:
                tb = tb.tb_next
            if tb is None:
                raise
            k = step_of_line.get(tb.tb_lineno)
            if k is None:  # a native segment's call: its errors name their node
                raise
            node = plan._program[k][5]
            if isinstance(error, errors.OpError):
                raise type(error)(f"{node.name}: {error}", node.primitive.name) from error
            if isinstance(error, (ValueError, TypeError, IndexError, ArithmeticError)):
                raise errors.InvalidArgumentError(
                    f"{node.name} ({node.primitive.name}): {error}",
                    node.primitive.name) from error
            raise
    return run


def _live_steps(program, out_slots):
    """The steps a run returning `out_slots` needs: those whose results lead to an output,
    and every stateful step (assigns, random draws) with what it reads. A train step whose
    logs are not wanted then skips computing them."""
    from tensorflux.graph.passes import _pinned

    needed = set(out_slots)
    live = set()
    for k in range(len(program) - 1, -1, -1):
        _, in_slots, _, target, multiple, node = program[k][:6]
        outs = target if multiple else (target,)
        # (A step with no results at all, such as a folded assign, is there for its effect.)
        if (_pinned(node) or (multiple and not target)
                or getattr(program[k][0], "effect", False)
                or any(i in needed for i in outs)):
            live.add(k)
            needed.update(in_slots)
    return live


def _static_size(node):
    """The element count of a single-output node's result when its shape is static."""
    if node.primitive.multiple_results:
        return None
    shape = node.outputs.shape
    return shape.num_elements() if shape.is_fully_defined() else None


def _static_types(node):
    """Per input of a node: (its static shape as a tuple, None for unknown dimensions, or
    None for an unknown rank; its DType)."""
    return tuple((None if x.shape.rank is None else tuple(x.shape), x.dtype)
                 for x in node.inputs)


def _own_kernel(backend, node):
    """The backend's kernel for the node's primitive, or None when it has none."""
    try:
        return getattr(backend, node.primitive.kernel, None)
    except NotImplementedError:
        return None


def _owned(buffer):
    """A writable array that owns its memory (not a view, not a NumPy scalar)."""
    try:
        return buffer.base is None and buffer.flags.writeable
    except AttributeError:
        return False


def _on_backend(backend, value):
    """A constant traced on one device, moved once to the device the plan runs on."""
    owner = backend_of(value)
    if owner is backend or getattr(value, "dtype", None) is None or value.dtype.kind in "OSU":
        return value
    return backend.infer_array(owner.to_numpy(value))


def _kernel(backend, prim):
    try:
        return getattr(backend, prim.kernel)
    except NotImplementedError:
        if prim is fused_conv2d_primitive:
            return _unfused_conv2d(backend)
        if prim is fused_conv2d_backprop_filter_primitive:
            return _unfused_conv2d_backprop_filter(backend)
        if prim is not fused_elementwise_primitive:
            raise
        return _unfused(backend)


def _unfused_conv2d(backend):
    """fused_conv2d for a backend without its own: conv2d, then the program."""
    conv2d = backend.conv2d
    fused = _kernel(backend, fused_elementwise_primitive)

    def fused_conv2d(x, filters, *inputs, program, register, **conv_attrs):
        registers = list(inputs)
        registers.insert(register, conv2d(x, filters, **conv_attrs))
        return fused(*registers, program=program)
    return fused_conv2d


def _unfused_conv2d_backprop_filter(backend):
    """fused_conv2d_backprop_filter for a backend without its own: max_pool2d_grad, then
    conv2d_backprop_filter."""
    pool_grad, filter_grad = backend.max_pool2d_grad, backend.conv2d_backprop_filter

    def fused_conv2d_backprop_filter(x, y, g, *, pool_ksize, pool_strides, pool_padding,
                                     **attrs):
        routed = pool_grad(y, g, ksize=pool_ksize, strides=pool_strides,
                           padding=pool_padding, data_format=attrs["data_format"])
        return filter_grad(x, routed, **attrs)
    return fused_conv2d_backprop_filter


def _unfused(backend):
    """fused_elementwise for a backend without its own: the program's kernels one by one."""
    def fused_elementwise(*inputs, program, out=None):
        registers = list(inputs)
        for name, refs, attrs, _ in program:
            registers.append(getattr(backend, name)(*[registers[r] for r in refs],
                                                    **dict(attrs)))
        return registers[-1]
    return fused_elementwise


_FOLDED_KINDS = {"assign": None, "assign_add": "add", "assign_sub": "subtract"}


def _offsets(slots, inputs):
    offset = 0
    for i, x in zip(slots, inputs):
        yield i, offset
        offset += x.shape.num_elements()


def _allocator(backend, size, dtype):
    """A kernel returning a new uninitialised 1-D buffer (a concat planned in place)."""
    empty = backend.empty_buffer

    def allocate():
        return empty(size, dtype)
    return allocate


def _writing(write, offset, size, shape):
    """A kernel writing its result into buffer[offset:offset + size] (its last argument)."""
    def write_piece(*inputs):
        write(*inputs[:-1], out=inputs[-1][offset:offset + size].reshape(shape))
        return ()
    write_piece.piece = (write, offset, size, shape)
    write_piece.writes_last = True
    return write_piece


def _copying_in(backend, offsets):
    """A kernel copying the concat pieces that no kernel wrote in place into the buffer."""
    def copy_pieces(*inputs):
        buffer = inputs[-1]
        for value, offset in zip(inputs[:-1], offsets):
            flat = value.reshape(-1)
            buffer[offset:offset + flat.shape[0]] = flat
        return ()
    copy_pieces.writes_last = True
    return copy_pieces


def _fused_assign(backend, program, n_inputs, reads_target, scalar=False, size=None,
                  input_types=None, native_kw=None):
    """A fused elementwise kernel writing into `target` (its last argument): through out= when
    the kernel can, else by an assign of its result. `scalar`: every input and the target
    are rank 0; `size`, the target's element count; `input_types`, the program's inputs'
    static shapes and dtypes; `native_kw`, the plan's keywords for the backend's hooks."""
    specialize = getattr(backend, "specialize", None)
    native_kw = native_kw or {}
    # The folding checked that the value has the variable's shape and dtype.
    into = specialize and specialize(
        "fused_elementwise", {"program": program,
                              "into_target": "read" if reads_target else "write"},
        n_inputs, result_size=size, scalar_inputs=scalar, input_types=input_types,
        **native_kw)
    if into:
        return into  # (the backend's program writes the target itself)
    fused = specialize and specialize("fused_elementwise",
                                      {"program": program, "out_fits": True}, n_inputs,
                                      result_size=size, scalar_inputs=scalar,
                                      input_types=input_types, **native_kw)
    if fused is None:
        kernel = _kernel(backend, fused_elementwise_primitive)

        def fused(*inputs, out):
            return kernel(*inputs, program=program, out=out)
    assign = backend.assign
    if reads_target:
        def fused_assign(*inputs):
            target = inputs[-1]
            result = fused(*inputs, out=target)
            if result is not target:
                assign(target, result, kind="assign")
            return ()
    else:
        def fused_assign(*inputs):
            target = inputs[-1]
            result = fused(*inputs[:-1], out=target)
            if result is not target:
                assign(target, result, kind="assign")
            return ()
    return fused_assign


def _copying(kernel, backend, multiple):
    def copy_outputs(*args, **attrs):
        out = kernel(*args, **attrs)
        return tuple(backend.copy(o) for o in out) if multiple else backend.copy(out)
    return copy_outputs


def interpret(graph, input_tensors, capture_tensors=(), inputs=None):
    """Re-runs each node through Primitive.bind: eager with tapes recording, or traced into
    the graph being built (inlining). Returns a dict id(graph tensor) -> tensor."""
    env = {}
    for t, value in zip(graph.inputs if inputs is None else inputs, input_tensors):
        env[id(t)] = value
    for (_, inner), value in zip(graph.captures.values(), capture_tensors):
        env[id(inner)] = value
    for node in graph.nodes:
        prim = node.primitive
        if prim is placeholder_primitive:
            continue
        if prim is const_primitive:
            env[id(node.outputs)] = Tensor(node.attrs["value"])
            continue
        args = [x if isinstance(x, Variable) else env[id(x)] for x in node.inputs]
        if prim in (fused_elementwise_primitive, fused_conv2d_primitive,
                    fused_conv2d_backprop_filter_primitive):
            # Tapes and enclosing traces see the original primitives (they have VJPs).
            out = expand_fused(node, args)
        else:
            out = prim.bind(*args, **node.attrs)
        if prim.multiple_results:
            for o, value in zip(node.outputs, out):
                env[id(o)] = _refined(value, o)
        else:
            env[id(node.outputs)] = _refined(out, node.outputs)
    return env


def _refined(value, traced):
    """`value` (re-bound into a graph) with the static shape its traced original had, where
    that is more specific than the op's shape rule infers (set_shape, or a TensorArray's
    flow given its element shape after a write) and compatible: ops after it may need it (a
    concat needs a rank), in an inlined function or a loop body replayed for its gradient."""
    if (isinstance(value, SymbolicTensor) and value.shape != traced.shape
            and value.shape.is_compatible_with(traced.shape)):
        value._shape = value.shape.merge_with(traced.shape)
    return value


def lookup(env, tensor):
    if isinstance(tensor, SymbolicTensor):
        return env[id(tensor)]
    return tensor
