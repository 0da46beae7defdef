"""Primitive and bind(): the single dispatch point of every op (eager kernel, tape, graph).

A Primitive is one op's definition: its name, the backend kernel it runs, its gradient rule
(a VJP written with tensorflux ops, so it works eagerly, while tracing, and for gradients of
gradients) and its shape rule for tracing. Ops call `prim.bind(*inputs, **attrs)`:

- while a graph is being traced, bind adds a Node to it and returns symbolic tensors;
- eagerly, it runs the kernel of the current backend on the inputs' raw arrays, wraps the
  result, and offers the call to every recording GradientTape as a Node.
"""

from tensorflux import errors
from tensorflux.context import context, current_backend
from tensorflux.tensor import Tensor

__all__ = ["Primitive", "Node", "registry", "record_on_tapes"]

# Every Primitive by name; tests walk it to check that each one has a kernel and a table row.
registry = {}

_new_tensor = object.__new__

# What Primitive._backend holds before the first bind: unlike None, no context.backend (None
# in a thread that has run nothing yet) is ever this object.
_UNBOUND = object()

# Set by tensorflux.variable while a keras.StatelessScope is open in any thread: bind then
# gives ops the tensors the scope maps in place of its variables (see variable.py).
_variable_reads = None


class Node:
    """One op application: the IR unit shared by GradientTape records and traced graphs."""

    __slots__ = ("primitive", "inputs", "attrs", "outputs")

    def __init__(self, primitive, inputs, attrs, outputs):
        self.primitive = primitive
        self.inputs = inputs
        self.attrs = attrs
        self.outputs = outputs

    def __repr__(self):
        return f"<Node {self.primitive.name} attrs={self.attrs}>"


class Primitive:
    """An op the backends implement, with its VJP and shape rule.

    aliases=True declares that the kernel may return a view of an input (reshape...).
    vjp(g, *inputs, out=..., **attrs) returns one cotangent (or None) per input; `g` and
    `out` are tuples for multi-output primitives. Cotangents may have the broadcast shape:
    the backward walker sums them back to each input's shape, in one place. vjp_wanted=True
    declares that the VJP also takes `wanted`, one bool per input (a list), False where the
    walker will not use that input's cotangent (it does not depend on a source): the VJP
    then skips computing it (matmul's for a first layer's inputs, multiply's for labels).

    >>> from tensorflux.primitive import registry
    >>> registry["add"].name
    'add'
    """

    __slots__ = ("name", "kernel", "vjp", "shape_rule", "multiple_results", "aliases",
                 "stateful", "vjp_wanted", "_backend", "_kernel_fn", "__weakref__")

    def __init__(self, name, vjp=None, shape_rule=None, kernel=None, multiple_results=False,
                 aliases=False, stateful=False, has_kernel=True, vjp_wanted=False):
        if name in registry:
            raise ValueError(f"Primitive {name!r} is defined twice")
        self.name = name
        # None for graph-only primitives (placeholder, const) that the executor handles.
        self.kernel = (kernel or name) if has_kernel else None
        self.vjp = vjp
        self.shape_rule = shape_rule
        self.multiple_results = multiple_results
        # The kernel may return a view of an input (reshape, broadcast_to...): bind then
        # copies when an input is a Variable, whose buffer later assignments overwrite.
        self.aliases = aliases
        # Stateful primitives (assign, print, random streams) are never removed, merged,
        # folded or reordered by graph passes.
        self.stateful = stateful
        self.vjp_wanted = vjp_wanted
        # The kernel of the last backend used, so that bind does no attribute lookup. The
        # hottest ops (add, multiply, exp, matmul, reduce_sum, where, relu, zeros_like,
        # reshape...) also read this pair for their eager fast path, which skips bind when
        # `prim._backend is context.eager_backend` (not tracing, this backend) and their
        # inputs are plain Tensors (or Variables, see ops._core.variable_value) that need no
        # validation; `_fast_result` wraps the kernel's value and records it on the tapes as
        # bind does. Anything else, a kernel error included, takes the ordinary path through
        # bind.
        self._backend = _UNBOUND
        self._kernel_fn = None
        registry[name] = self

    def _fast_result(self, value, inputs, attrs):
        """An eager fast path's result: `value`, this primitive's kernel output on `inputs`
        (which its guards allow bind to skip: plain Tensors, or Variables while no stateless
        scope maps them), wrapped and recorded on every recording tape exactly as bind would
        record it (`attrs` as bind's keyword arguments), so that fast paths serve ops under a
        GradientTape too."""
        out = _new_tensor(Tensor)
        out._value = value
        if context.tapes:
            record_on_tapes(self, inputs, attrs, out)
        return out

    def defvjp(self, vjp):
        """Sets the VJP after definition (for rules that use ops defined later)."""
        self.vjp = vjp
        return vjp

    def bind(self, *inputs, **attrs):
        if _variable_reads is not None:
            inputs = _variable_reads(self, inputs)
        ctx = context
        backend = ctx.eager_backend  # None while tracing (or before the first backend)
        if backend is None:
            if ctx.graph is not None:
                return ctx.graph.add_node(self, inputs, attrs)
            backend = current_backend()
        try:
            if backend is not self._backend:
                self._kernel_fn = getattr(backend, self.kernel)
                self._backend = backend
            count = len(inputs)
            # The common arities without building a list: this line runs for every op.
            # (A value of None is a graph tensor that escaped its trace: a kernel may take
            # None without complaint, so it is refused here, before the kernel runs.)
            if count == 2:
                a, b = inputs[0]._value, inputs[1]._value
                if a is None or b is None:
                    _refuse_escaped(self, inputs)
                out = self._kernel_fn(a, b, **attrs)
            elif count == 1:
                a = inputs[0]._value
                if a is None:
                    _refuse_escaped(self, inputs)
                out = self._kernel_fn(a, **attrs)
            else:
                values = [x._value for x in inputs]
                if any(v is None for v in values):
                    _refuse_escaped(self, inputs)
                out = self._kernel_fn(*values, **attrs)
            if self.aliases and _reads_variable(inputs):
                out = _copy_outputs(backend, out, self.multiple_results)
        except errors.OpError:
            raise
        except NotImplementedError as error:
            raise errors.UnimplementedError(f"{self.name}: {error}", self.name) from error
        except (ValueError, TypeError, IndexError, ArithmeticError) as error:
            raise _kernel_error(self, inputs, attrs, error) from error
        except AttributeError as error:  # (a kernel given None: an escaped graph tensor)
            escaped = _escaped_error(self, inputs)
            if escaped is None:
                raise
            raise escaped from error
        if self.multiple_results:
            outputs = tuple(map(_wrap, out))
        else:
            outputs = _new_tensor(Tensor)
            outputs._value = out
        if ctx.tapes:
            for tape in ctx.tapes:
                tape._record(self, inputs, attrs, outputs)
        return outputs

    def __repr__(self):
        return f"<Primitive {self.name}>"


def record_on_tapes(primitive, inputs, attrs, out):
    """Records a fast path's result on every recording tape, as bind does. (The hottest ops'
    fast paths wrap their result themselves and call this only while a tape records: one
    function call fewer than Primitive._fast_result on every other call.)"""
    for tape in context.tapes:
        tape._record(primitive, inputs, attrs, out)


def _reads_variable(inputs):
    for x in inputs:
        if x.__class__ is not Tensor:
            return True
    return False


def _copy_outputs(backend, out, multiple):
    return tuple(backend.copy(o) for o in out) if multiple else backend.copy(out)


def _wrap(value):
    tensor = _new_tensor(Tensor)
    tensor._value = value
    return tensor


def _kernel_error(primitive, inputs, attrs, error):
    """Turns a backend's exception into an InvalidArgumentError naming the op and its inputs;
    a TypeError, as TensorFlow's, where an input is a graph tensor that escaped its trace
    (it has no value, so the kernel failed on None)."""
    escaped = _escaped_error(primitive, inputs)
    if escaped is not None:
        return escaped
    described = ", ".join(f"{tuple(x.shape)} {_dtype_name(x)}" for x in inputs)
    shown = {k: v for k, v in attrs.items() if not callable(v)}
    attr_text = f" with {shown}" if shown else ""
    return errors.InvalidArgumentError(
        f"{primitive.name}: {error} (inputs: {described}{attr_text})", primitive.name)


def _escaped_error(primitive, inputs):
    """The TypeError for an eager op given a graph tensor past its trace, else None."""
    for position, x in enumerate(inputs):
        escaped = getattr(x, "_escaped_text", None)
        if escaped is not None and x._value is None:
            return TypeError(f"{primitive.name}: input {position}: {escaped()}")
    return None


def _refuse_escaped(primitive, inputs):
    """Raises the TypeError for an input that escaped its trace, if there is one."""
    escaped = _escaped_error(primitive, inputs)
    if escaped is not None:
        raise escaped


def _dtype_name(x):
    try:
        return x.dtype.name
    except Exception:  # an exotic array type the registry does not know
        return str(getattr(x._value, "dtype", "?"))
