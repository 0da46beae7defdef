"""Runs a Graph: the compiled plan (a flat list of kernel calls over slots) and, for callers
that need tapes or are themselves tracing, an interpreter that re-binds each node."""

from tensorflux import errors
from tensorflux.graph.ir import SymbolicTensor, const_primitive, placeholder_primitive
from tensorflux.tensor import Tensor
from tensorflux.variable import Variable

__all__ = ["Plan", "interpret"]


class Plan:
    """A Graph compiled for one backend: no Tensor objects, no bind(), no tape checks.

    Each step is (kernel, input slots, attrs, output slot(s)); slots are a list of raw
    arrays. Constants are in the template; Variables are read into their slots at the start
    of a call (their buffers are updated in place, so later steps see assignments).
    """

    def __init__(self, graph, backend, inputs=None, captures=()):
        self.graph = graph
        self.backend = backend
        slot_of = {}
        template = []

        def new_slot(key, value=None):
            slot_of[key] = len(template)
            template.append(value)
            return slot_of[key]

        inputs = graph.inputs if inputs is None else inputs
        self.input_slots = [new_slot(id(t)) for t in inputs]
        self.capture_slots = [new_slot(id(inner)) for _, inner in captures]
        self.variable_slots = []
        self.steps = []
        self.kernel_count = 0
        for node in graph.nodes:
            prim = node.primitive
            if prim is placeholder_primitive:
                if id(node.outputs) not in slot_of:
                    raise errors.InternalError(f"Graph {graph.name}: the placeholder "
                                               f"{node.name} is neither an input nor a capture")
                continue
            if prim is const_primitive:
                new_slot(id(node.outputs), node.attrs["value"])
                continue
            in_slots = []
            reads_variable = False
            for x in node.inputs:
                if isinstance(x, Variable):
                    reads_variable = True
                    if id(x) not in slot_of:
                        self.variable_slots.append((x, new_slot(id(x))))
                in_slots.append(slot_of[id(x)])
            kernel = getattr(backend, prim.kernel)
            if prim.aliases and reads_variable:
                kernel = _copying(kernel, backend, prim.multiple_results)
            outs = node.output_list()
            out_slots = tuple(new_slot(id(o)) for o in outs)
            target = out_slots if prim.multiple_results else out_slots[0]
            self.steps.append((kernel, tuple(in_slots), node.attrs, target,
                               prim.multiple_results, node))
            self.kernel_count += 1
        self.template = template
        self.slot_of = slot_of

    def output_slot(self, tensor):
        return self.slot_of[id(tensor)]

    def run(self, input_values, capture_values=()):
        slots = list(self.template)
        for variable, i in self.variable_slots:
            slots[i] = variable._value
        for i, value in zip(self.input_slots, input_values):
            slots[i] = value
        for i, value in zip(self.capture_slots, capture_values):
            slots[i] = value
        for kernel, in_slots, attrs, target, multiple, node in self.steps:
            try:
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
        return slots


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
        out = prim.bind(*args, **node.attrs)
        if prim.multiple_results:
            for o, value in zip(node.outputs, out):
                env[id(o)] = value
        else:
            env[id(node.outputs)] = out
    return env


def lookup(env, tensor):
    if isinstance(tensor, SymbolicTensor):
        return env[id(tensor)]
    return tensor
