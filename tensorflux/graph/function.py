"""tf.function: traces a Python function into a Graph once per input signature, and runs
the compiled plan on every later call with that signature."""

import copy
import functools
import inspect
import operator
import sys
import threading
import weakref

from tensorflux import errors
from tensorflux import variable as variable_module
from tensorflux.composite_tensor import CompositeTensor, TypeSpec
from tensorflux.context import context, current_backend
from tensorflux.graph import passes
from tensorflux.graph.executor import Plan, interpret
from tensorflux.graph.ir import Graph, SymbolicTensor
from tensorflux.graph.static import Lifting
from tensorflux.primitive import Node
from tensorflux.profiler import recorder as _profiling
from tensorflux.tensor import Tensor, TensorSpec, _TensorLike, convert_to_tensor
from tensorflux.tensor_shape import TensorShape
from tensorflux.variable import Variable

_PROFILE = _profiling.state  # (a profiler's session; while one is on, calls are events)
_PASSES = passes._state  # (whether the graph passes are on: see passes.disabled)

__all__ = ["function", "Function", "ConcreteFunction"]


class _Config:
    run_functions_eagerly = False


config = _Config()


# ------------------------------------------------------------------ nested structures

def _flatten(value, leaves):
    """Appends the leaves of a nested list/tuple/dict to `leaves`; returns the skeleton.
    A composite (SparseTensor, RaggedTensor) contributes its component tensors, and a
    composite's TypeSpec its component TensorSpecs."""
    if isinstance(value, CompositeTensor):
        spec = value._type_spec
        return ("composite", spec, [_flatten(c, leaves) for c in spec._to_components(value)])
    if isinstance(value, TypeSpec):
        return ("composite", value, [_flatten(c, leaves) for c in value._component_specs])
    if isinstance(value, (list, tuple)) and not isinstance(value, _TensorLike):
        skeleton = [_flatten(v, leaves) for v in value]
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return ("namedtuple", type(value), skeleton)
        return (type(value), skeleton)
    if isinstance(value, dict):
        # Leaves in sorted-key order (TF's nest), so that insertion order does not retrace;
        # the insertion order is kept to rebuild the dict as it was (None: already sorted).
        keys = sorted(value, key=str)
        order = list(value)
        return ("dict", type(value), keys, [_flatten(value[k], leaves) for k in keys],
                None if order == keys else order)
    leaves.append(value)
    return None


def _pack(skeleton, leaves, describe=False):
    """Inverse of _flatten: rebuilds the structure from an iterator of leaves. With
    `describe` (leaves that describe tensors: specs, shapes), a composite is its type spec."""
    if skeleton is None:
        return next(leaves)
    if skeleton[0] == "composite":
        _, spec, children = skeleton
        parts = [_pack(c, leaves, describe) for c in children]
        return spec if describe else spec._from_components(parts)
    if skeleton[0] == "dict":
        _, kind, keys, children, order = skeleton
        items = [(k, _pack(c, leaves, describe)) for k, c in zip(keys, children)]
        if order is not None:
            found = dict(items)
            items = [(k, found[k]) for k in order]
        return kind(items)
    if skeleton[0] == "namedtuple":
        _, kind, children = skeleton
        return kind(*[_pack(c, leaves, describe) for c in children])
    kind, children = skeleton
    return kind(_pack(c, leaves, describe) for c in children)


def _pack_specs(skeleton, leaves):
    return _pack(skeleton, leaves, describe=True)


def _children(skeleton):
    """The child skeletons of a list, tuple, namedtuple, dict or composite skeleton."""
    if skeleton[0] == "dict":
        return skeleton[3]
    if skeleton[0] in ("namedtuple", "composite"):
        return skeleton[2]
    return skeleton[1]


def _parameter_names(signature, count):
    """(name, kind) of each of `count` positional arguments: the parameter's, and
    `rest_0`, `rest_1`... for a `*rest` (TF then calls them all POSITIONAL_ONLY)."""
    names, rest = [], "args"
    params = signature.parameters.values() if signature is not None else ()
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            rest = p.name
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            kind = "POSITIONAL_ONLY" if variadic else p.kind.name
            names.append((p.name, kind))
    extra = [(f"{rest}_{i}", "POSITIONAL_ONLY") for i in range(count - len(names))]
    return (names + extra)[:count]


def _placeholder_names(signature, skeleton):
    """The name of each argument leaf's placeholder, as TF names them (what a trace shows
    in `Tensor("x:0", ...)`): the top-level parameter's name for every leaf under it (the
    graph numbers the repeats: `l`, `l_1`), `args_0`... for a `*args`, a keyword's own."""
    args_skeleton, kwargs_skeleton = _children(skeleton)
    names = []
    positional = _parameter_names(signature, len(_children(args_skeleton)))
    pairs = [(name, child) for (name, _), child in zip(positional, _children(args_skeleton))]
    pairs += [(str(key), child) for key, child in zip(kwargs_skeleton[2], kwargs_skeleton[3])]
    for name, child in pairs:
        paths = []
        _leaf_paths(child, name, paths)
        names += [name] * len(paths)
    return names


def _leaf_paths(skeleton, prefix, out):
    """Appends, per leaf under `skeleton`, `prefix` extended with the dict keys, namedtuple
    fields and list indices leading to it (TF's names for nested arguments: `inputs_a_0`)."""
    if skeleton is None:
        out.append(prefix)
        return
    kind = skeleton[0]
    children = _children(skeleton)
    if kind == "dict":
        labels = skeleton[2]
    elif kind == "namedtuple":
        labels = skeleton[1]._fields
    elif kind == "composite":
        labels = [None] * len(children)
    else:
        labels = range(len(children))
    for label, child in zip(labels, children):
        _leaf_paths(child, prefix if label is None else f"{prefix}_{label}", out)


def _flatten_like(skeleton, value, leaves):
    """Appends value's leaves where the traced structure `skeleton` has its leaves (so a
    list given for a tensor is one leaf, converted later, as TF does); TypeError where the
    nesting differs."""
    if skeleton is None:
        leaves.append(value)
        return
    kind = skeleton[0]
    if kind == "composite":
        try:
            _to_type_spec(value, skeleton[1])
        except _CastError as error:
            raise TypeError(str(error)) from None
        _flatten(value, leaves)
        return
    if kind == "dict":
        if not isinstance(value, dict) or set(value) != set(skeleton[2]):
            raise TypeError(f"Can not cast {value!r} to a dict with keys {list(skeleton[2])}")
        for key, child in zip(skeleton[2], skeleton[3]):
            _flatten_like(child, value[key], leaves)
        return
    children = _children(skeleton)
    if (kind == "namedtuple" and not isinstance(value, skeleton[1])) or not isinstance(
            value, (list, tuple)) or len(value) != len(children):
        raise TypeError(f"Can not cast {value!r} to a sequence of {len(children)} values")
    for child, item in zip(children, value):
        _flatten_like(child, item, leaves)


def _holds_specs(value):
    leaves = []
    _flatten(value, leaves)
    return any(isinstance(leaf, TensorSpec) for leaf in leaves)


def _trace_type(value):
    """How TF prints the type of an argument or result: a TensorSpec (also for a tensor),
    Literal[value] for a Python value, and List[...], Tuple[...], Dict[[key, type], ...] or
    Name[[field, type], ...] (a namedtuple) around those."""
    if isinstance(value, (TensorSpec, TypeSpec)):
        return repr(value)
    if isinstance(value, CompositeTensor):
        return repr(value._type_spec)
    if isinstance(value, Variable):  # (TF's VariableSpec, which a trace is keyed on)
        return (f"VariableSpec(shape={value._shape}, dtype={value.dtype!r}, "
                f"trainable={value.trainable})")
    if isinstance(value, _TensorLike):
        return repr(TensorSpec(value.shape, value.dtype))
    if isinstance(value, dict):
        return "Dict[" + ", ".join(f"[{k!r}, {_trace_type(v)}]" for k, v in value.items()) + "]"
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (f"{type(value).__name__}[" + ", ".join(
            f"[{f!r}, {_trace_type(v)}]" for f, v in zip(value._fields, value)) + "]")
    if isinstance(value, (list, tuple)):
        kind = "List" if isinstance(value, list) else "Tuple"
        return f"{kind}[" + ", ".join(_trace_type(v) for v in value) + "]"
    return f"Literal[{value!r}]"


def _is_tensor_leaf(value):
    if isinstance(value, (Tensor, TensorSpec)):
        return True
    # NumPy arrays and scalars are tensors to tf.function (TF converts them); detected
    # without importing NumPy.
    return (type(value).__module__ == "numpy" and hasattr(value, "dtype")
            and hasattr(value, "shape"))


def _leaf_key(value):
    if isinstance(value, TensorSpec):
        return ("T", value.shape, value.dtype)
    if isinstance(value, Variable):
        # TF's VariableSpec: a trace serves every Variable of this shape (as declared), dtype
        # and trainability (see ConcreteFunction._bound_to). (Read off the slots: this runs
        # on every call that passes Variables.)
        return ("V", value._shape._dims, value.dtype, bool(value.trainable))
    if _is_tensor_leaf(value):
        tensor = value if isinstance(value, Tensor) else convert_to_tensor(value)
        return ("T", tensor.shape, tensor.dtype)
    try:
        hash(value)
    except TypeError:
        return ("O", id(value))
    # A Python value is TF's Literal: equal values (2 and 2.0) share a trace.
    return ("P", value)


def _leaf_keys(leaves):
    """_leaf_key of each leaf, a Variable's extended by which of the call's distinct Variables
    it is (TF's alias_id): f(v, v) and f(v, w) trace apart, f(w, w) reuses f(v, v)'s trace."""
    keys = [_leaf_key(leaf) for leaf in leaves]
    seen = {}
    for k, key in enumerate(keys):
        if key[0] == "V":
            keys[k] = key + (seen.setdefault(id(leaves[k]), len(seen)),)
    return keys


# ------------------------------------------------------------------ concrete functions

class ConcreteFunction:
    """One traced Graph with its input signature; calling it runs the compiled plan.

    A call runs the graph the graph passes' state asks for when it is made: the optimized
    graph, or within `passes.disabled()` the graph as traced. The trace serves both (tracing
    does not depend on that state); each state has its own plan, made on its first call
    (the optimized graph of a function traced within `disabled()` is made then too).

    It is called as the Python function is: positional or keyword arguments, a Python
    argument left out taking the value it was traced with (a different value is a
    TypeError, as in TF).

    >>> import tensorflux as tf
    >>> f = tf.function(lambda x, scale=2.0: x * scale)
    >>> cf = f.get_concrete_function(tf.TensorSpec([None], tf.float32))
    >>> cf(tf.constant([1.0, 2.0])).numpy().tolist()
    [2.0, 4.0]
    >>> cf.structured_input_signature
    ((TensorSpec(shape=(None,), dtype=tf.float32, name='x'), 2.0), {})
    """

    def __init__(self, graph, input_skeleton, input_specs, output_skeleton, output_leaves,
                 name, input_values=None, signature=None, optimized=None):
        # The graph as traced (passes off) and, once made, the optimized one (passes on); a
        # copy bound to other Variables (see _rebind) makes its graphs from its origin's.
        self._graphs = {False: graph} if optimized is None else {False: graph, True: optimized}
        self._origin = self._swap = None
        self.name = name
        self._input_skeleton = input_skeleton
        self._input_specs = input_specs  # per flat argument leaf: TensorSpec or None
        # per flat argument leaf: its TensorSpec, or the Python value it was traced with
        self._input_values = input_values if input_values is not None else list(input_specs)
        self._signature = signature  # the Python function's inspect.Signature, if known
        self._arguments = None  # see _traced_arguments
        self._output_skeleton = output_skeleton
        self._output_leaves = output_leaves  # SymbolicTensor, Variable or Python value
        # backend -> (plan, output recipe, captured outer tensors, runner), with the passes on
        # and within passes.disabled()
        self._plans = {}
        self._plans_unoptimized = {}
        # (backend, flush, passes on) -> (runner with no outputs, captured outer tensors)
        self._effects = {}
        # The Variables passed as arguments (their leaf positions): a call with others of the
        # same specs runs a copy of the graph bound to those (see _bound_to).
        self._variable_args = tuple(i for i, (value, spec) in enumerate(
            zip(self._input_values, input_specs)) if spec is None and isinstance(value, Variable))
        self._arg_variables = tuple(self._input_values[i] for i in self._variable_args)
        self._rebindable = True  # see _rebindable
        self._rebound = {}  # ids of a call's argument Variables -> the copy bound to them
        # jit_compile=True: the plan built for it (see Plan's `native`).
        self.jit_compile = False

    @property
    def graph(self):
        """The Graph a call now runs: the optimized one, or within `passes.disabled()` the
        graph as traced."""
        return self._graph_for(_PASSES.enabled)

    def _graph_for(self, optimized):
        """The optimized graph, or the graph as traced: made on first use by a copy bound
        to other Variables (from its origin's) and, with `optimized`, by a function traced
        within `passes.disabled()` (call it so only while the passes are on)."""
        graph = self._graphs.get(optimized)
        if graph is None:
            if self._origin is not None:
                graph = _rebound_graph(self._origin._graph_for(optimized), self._swap)
            else:
                traced = self._graphs[False]
                graph = _optimize(traced)
                if graph is not traced:
                    graph.traced = traced
            self._graphs[optimized] = graph
        return graph

    # -- what it takes and returns (TF's attributes)
    @property
    def structured_input_signature(self):
        """(args, kwargs) as traced: a TensorSpec per tensor argument, named after its
        parameter (`x`, `inputs_a` for a dict entry, `args_0` for *args) unless it has a name,
        and each Python argument's value."""
        values = [value if spec is None or spec.name is not None else
                  TensorSpec(spec.shape, spec.dtype, path) for value, spec, path in
                  zip(self._input_values, self._input_specs, self._leaf_names())]
        return _pack_specs(self._input_skeleton, iter(values))

    @property
    def structured_outputs(self):
        """The returned structure, with the graph's symbolic tensors as its tensors."""
        return _pack_specs(self._output_skeleton, iter(self._output_leaves))

    @property
    def output_shapes(self):
        return _pack_specs(self._output_skeleton, iter(
            TensorShape(None) if leaf is None else leaf.shape for leaf in self._output_leaves))

    @property
    def output_dtypes(self):
        return _pack_specs(self._output_skeleton, iter(
            None if leaf is None else leaf.dtype for leaf in self._output_leaves))

    @property
    def inputs(self):
        return list(self.graph.inputs)

    @property
    def outputs(self):
        return list(self.graph.outputs)

    @property
    def variables(self):
        """The Variables the function captures (reads or writes without being passed them),
        in first-use order."""
        found = {id(self._input_values[i]): None for i in self._variable_args}
        for node in self._traced.nodes:
            for x in node.inputs:
                if isinstance(x, Variable):
                    found.setdefault(id(x), x)
        for leaf in self._output_leaves:
            if isinstance(leaf, Variable):
                found.setdefault(id(leaf), leaf)
        return tuple(v for v in found.values() if v is not None)

    @property
    def trainable_variables(self):
        return tuple(v for v in self.variables if v.trainable)

    @property
    def captured_inputs(self):
        """The outer tensors and Variables the graph captures."""
        return [outer for outer, _ in self.graph.captures.values()] + list(self.variables)

    def pretty_printed_signature(self, verbose=True):
        """The signature as TF prints it: each parameter with its kind and trace type (a
        TensorSpec, or Literal[value] for a Python value), the output type and captures."""
        args, kwargs = _pack_specs(self._input_skeleton, iter(self._input_values))
        # (a Variable returned is returned read: a tensor)
        output = _trace_type(_pack_specs(self._output_skeleton, iter(
            TensorSpec(leaf.shape, leaf.dtype) if isinstance(leaf, Variable) else leaf
            for leaf in self._output_leaves)))
        params = [(name, kind, _trace_type(value))
                  for (name, kind), value in zip(self._parameter_names(len(args)), args)]
        params += [(key, "KEYWORD_ONLY", _trace_type(value)) for key, value in kwargs.items()]
        if not verbose:
            return "(" + ", ".join(f"{n}: {t}" for n, _, t in params) + f") -> {output}"
        lines = ["Input Parameters:"]
        lines += [f"  {n} ({kind}): {t}" for n, kind, t in params]
        lines += ["Output Type:", f"  {output}", "Captures:"]
        captures = [f"  {id(outer)}: {TensorSpec(outer.shape, outer.dtype)!r}"
                    for outer, _ in self.graph.captures.values()]
        captures += [f"  {id(v)}: TensorSpec(shape=(), dtype=tf.resource, name=None)"
                     for v in self.variables]
        lines += captures or ["  None"]
        return "\n".join(lines)

    def _parameter_names(self, count):
        return _parameter_names(self._signature, count)

    def _leaf_names(self):
        """TF's name for each flat argument leaf: its parameter's name, extended with the
        dict keys, field names and indices that lead to it."""
        args_skeleton, kwargs_skeleton = _children(self._input_skeleton)
        found = []
        positional = self._parameter_names(len(_children(args_skeleton)))
        for (name, _), child in zip(positional, _children(args_skeleton)):
            _leaf_paths(child, name, found)
        for key, child in zip(kwargs_skeleton[2], kwargs_skeleton[3]):
            _leaf_paths(child, str(key), found)
        return found

    # -- calling
    def __call__(self, *args, **kwargs):
        return self._call_flat(self._bind(args, kwargs))

    def _bind(self, args, kwargs):
        """The flat argument leaves of a call, bound as the traced function's parameters.

        A Python argument left out takes the value it was traced with, and one passed must
        equal it; when that fails, positional tensors alone may be the graph's inputs in
        order (TF's flat signature)."""
        try:
            return self._structured_leaves(args, kwargs)
        except TypeError as error:
            flat = self._flat_leaves(args, kwargs)
            if flat is None:
                raise TypeError(
                    f"Binding inputs to tf.function failed due to `{error}`. Received args: "
                    f"{args!r} and kwargs: {kwargs!r} for signature: "
                    f"{self.pretty_printed_signature(verbose=False)}.") from None
            return flat

    def _structured_leaves(self, args, kwargs):
        signature = self._signature
        if signature is not None:
            bound = signature.bind_partial(*args, **kwargs)
            traced = self._traced_arguments()
            for name in signature.parameters:
                if name in bound.arguments or name not in traced:
                    continue
                value = traced[name]
                if _holds_specs(value):
                    raise TypeError(f"missing a required argument: {name!r}")
                bound.arguments[name] = value
            args, kwargs = bound.args, bound.kwargs
        leaves = []
        _flatten_like(self._input_skeleton, (args, kwargs), leaves)
        for leaf, spec, value, given, traced in zip(
                leaves, self._input_specs, self._input_values, _leaf_keys(leaves),
                _leaf_keys(self._input_values)):
            if spec is None and (given != traced or (
                    leaf is not value and given[0] == "V" and not self._rebindable)):
                raise TypeError(f"Can not cast {leaf!r} to {_trace_type(value)}")
        return leaves

    def _flat_leaves(self, args, kwargs):
        """The leaves when `args` are exactly the tensor inputs in order, else None."""
        count = sum(spec is not None for spec in self._input_specs)
        if kwargs or len(args) != count or not all(
                _is_tensor_leaf(a) or isinstance(a, Variable) for a in args):
            return None
        given = iter(args)
        return [value if spec is None else next(given)
                for spec, value in zip(self._input_specs, self._input_values)]

    def _traced_arguments(self):
        """Parameter name -> the argument as traced (TensorSpecs and Python values)."""
        found = self._arguments
        if found is None:
            args, kwargs = _pack_specs(self._input_skeleton, iter(self._input_values))
            found = self._arguments = dict(self._signature.bind(*args, **kwargs).arguments)
        return found

    def _plan(self, _passes=_PASSES):
        """(plan, output recipe, captured outer tensors, runner) for the current backend and
        the graph passes' state (see `graph`)."""
        backend = context.backend or current_backend()
        optimized = _passes.enabled
        plans = self._plans if optimized else self._plans_unoptimized
        entry = plans.get(backend)
        if entry is None:
            graph = self._graph_for(optimized)
            captures = list(graph.captures.values())
            plan = Plan(graph, backend, captures=captures, native=self.jit_compile)
            # Passes may replace output tensors; graph.outputs lists the current ones.
            symbolic = iter(graph.outputs)
            recipe = []
            fed = {id(t) for t in graph.inputs}
            for leaf in self._output_leaves:
                if isinstance(leaf, SymbolicTensor):
                    out = next(symbolic)
                    # A constant (maybe folded) or an input returned as is would hand the
                    # caller the plan's own buffer: copy those, so writes to .numpy() are safe.
                    shared = id(out) in fed or out.node.primitive.name == "const"
                    recipe.append((3 if shared else 0, plan.output_slot(out)))
                elif isinstance(leaf, Variable):
                    recipe.append((1, leaf))
                else:
                    recipe.append((2, leaf))
            runner = plan.runner([item for kind, item in recipe if kind in (0, 3)],
                                 native=self.jit_compile)
            entry = plans[backend] = (plan, recipe, [outer for outer, _ in captures], runner)
        return entry

    def _binds(self, leaves):
        """Whether the trace can run with these argument Variables: the ones it was traced
        with, or any others (of the same specs) when it is rebindable."""
        return self._rebindable or all(map(
            operator.is_, [leaves[i] for i in self._variable_args], self._arg_variables))

    def _bound_to(self, leaves):
        """This function, or its copy that uses the call's argument Variables where the trace
        used the ones it was given (TF feeds the Variable passed to the graph's handle
        input): one trace serves every Variable of the same shape, dtype and trainability."""
        variables = [leaves[i] for i in self._variable_args]
        if all(map(operator.is_, variables, self._arg_variables)):
            return self
        key = tuple(map(id, variables))
        bound = self._rebound.get(key)
        if bound is None:
            # (the copy holds the Variables, so their ids stay theirs while it is cached)
            bound = self._rebound[key] = self._rebind(
                dict(zip(map(id, self._arg_variables), variables)))
        return bound

    def _rebind(self, swap):
        """A copy whose graphs (optimized, and as traced) read and write swap[id(v)] where
        this one uses Variable v (made from this one's on first use); it compiles its own
        plans on its first calls."""
        bound = copy.copy(self)
        bound._graphs, bound._origin, bound._swap = {}, self, swap
        traced = self._traced
        bound._traced = _TracedGraph(traced.inputs, traced.captures,
                                     [_rebound_node(n, swap) for n in traced.nodes])
        bound._output_leaves = [swap.get(id(leaf), leaf) if isinstance(leaf, Variable)
                                else leaf for leaf in self._output_leaves]
        bound._input_values = [swap.get(id(value), value) if i in self._variable_args
                               else value for i, value in enumerate(self._input_values)]
        bound._arg_variables = tuple(swap[id(v)] for v in self._arg_variables)
        bound._plans, bound._plans_unoptimized, bound._effects = {}, {}, {}
        bound._rebound, bound._arguments = {}, None
        return bound

    def _call_flat(self, leaves):
        if self._variable_args:
            return self._bound_to(leaves)._run_flat(leaves)
        return self._run_flat(leaves)

    def _run_flat(self, leaves):
        tensors = self._check_inputs(leaves)
        if context.graph is None and not context.tapes:
            return self._call_compiled([t._value for t in tensors])
        # Inlined into an enclosing trace, or watched by a tape: re-bind every node of the
        # graph as traced (before passes) so the graph being built, or the tape, sees each op
        # and gets the gradients eager code would.
        env = self._interpret(tensors)
        results = [_result_from_env(env, leaf) for leaf in self._output_leaves]
        return _pack(self._output_skeleton, iter(results))

    @staticmethod
    def _steady():
        """Whether a call now takes the steady-state path (see Function._call_for_effects)."""
        return not config.run_functions_eagerly and context.graph is None and not context.tapes

    def _run_for_effects(self, values, flush=True):
        """Runs the plan on raw input arrays for its effects on variables only: steps that
        just compute the outputs are skipped, and nothing is returned. flush=False keeps
        subnormal floats, as the eager ops the plan replaces would (Plan.runner)."""
        key = (context.backend or current_backend(), flush, _PASSES.enabled)
        found = self._effects.get(key)
        if found is None:
            plan, _, captures, _ = self._plan()
            found = self._effects[key] = (
                plan.runner((), native=self.jit_compile, flush=flush), captures)
        runner, captures = found
        runner(values, [c._value for c in captures] if captures else ())

    def _call_compiled(self, values):
        """Runs the plan on raw input arrays: the path of every steady-state call."""
        plan, recipe, captures, runner = self._plan()
        outputs = iter(runner(values, [c._value for c in captures]))
        results = [Tensor(next(outputs)) if kind == 0 else
                   item.read_value() if kind == 1 else
                   Tensor(plan.backend.copy(next(outputs))) if kind == 3 else item
                   for kind, item in recipe]
        if self._output_skeleton is None:
            return results[0]
        return _pack(self._output_skeleton, iter(results))

    def _interpret(self, tensors):
        """Re-binds the graph as traced; custom gradients' grad_fns, which close over the
        traced tensors, are replayed on this call's values."""
        traced = self._traced
        env_box = []
        nodes = traced.nodes
        if traced.has_grad_fns:
            nodes = [_with_replayed_grad_fn(n, env_box) for n in nodes]
        view = _TracedGraph(traced.inputs, traced.captures, nodes)
        env = interpret(view, tensors, [outer for outer, _ in traced.captures.values()])
        env_box.append(env)
        return env

    def _check_inputs(self, leaves):
        if len(leaves) != len(self._input_specs):
            raise errors.InvalidArgumentError(
                f"{self.name}: expected {len(self._input_specs)} argument leaves, received "
                f"{len(leaves)}")
        tensors = []
        for position, (leaf, spec) in enumerate(zip(leaves, self._input_specs)):
            if spec is None:
                continue
            if isinstance(leaf, Variable):
                tensor = leaf.read_value()
            elif isinstance(leaf, Tensor):
                tensor = leaf
            else:
                # As TF: Python values and NumPy arrays convert to the spec's dtype.
                try:
                    tensor = convert_to_tensor(leaf, dtype=spec.dtype)
                except (TypeError, ValueError) as error:
                    raise TypeError(f"{self.name}: argument {position} expected {spec}, "
                                    f"received {leaf!r} ({error})") from None
            if tensor.dtype is not spec.dtype or not spec.shape.is_compatible_with(tensor.shape):
                raise errors.InvalidArgumentError(
                    f"{self.name}: argument {position} expected {spec}, received a tensor of "
                    f"shape {tensor.shape} and dtype {tensor.dtype.name}")
            tensors.append(tensor)
        return tensors

    def __repr__(self):
        return f"<ConcreteFunction {self.name} ({len(self.graph.nodes)} nodes)>"


class _TracedGraph:
    """The graph as traced, before passes rewrite it: what interpret() re-binds."""

    __slots__ = ("inputs", "captures", "nodes", "has_grad_fns")

    def __init__(self, inputs, captures, nodes):
        self.inputs = list(inputs)
        self.captures = dict(captures)
        self.nodes = nodes
        self.has_grad_fns = any(n.primitive.name == "custom_gradient" for n in nodes)

    @classmethod
    def snapshot(cls, graph):
        return cls(graph.inputs, graph.captures,
                   [Node(n.primitive, tuple(n.inputs), dict(n.attrs), n.outputs)
                    for n in graph.nodes])


def _rebound_graph(graph, swap):
    """A copy of graph whose nodes read and write swap[id(v)] (id -> Variable) where its
    nodes use Variable v."""
    bound = copy.copy(graph)
    bound.nodes = [_rebound_node(n, swap) for n in graph.nodes]
    return bound


def _rebound_node(node, swap):
    """node with its Variable inputs replaced as `swap` (id -> Variable) says."""
    if not any(id(x) in swap for x in node.inputs):
        return node
    node = copy.copy(node)
    node.inputs = tuple(swap.get(id(x), x) for x in node.inputs)
    return node


def _rebindable(nodes, variables):
    """Whether a trace may be rebound to other Variables than `variables` (see
    ConcreteFunction._bound_to): not when a node that runs code of its own (a cond or
    while_loop's sub-graphs, a custom gradient, a py_function) takes one, as that code holds
    the Variable itself; such a trace serves only the Variables it was traced with."""
    ids = {id(v) for v in variables}
    return not any(callable(value) for node in nodes if any(id(x) in ids for x in node.inputs)
                   for value in node.attrs.values())


def _with_replayed_grad_fn(node, env_box):
    if node.primitive.name != "custom_gradient":
        return node
    attrs = dict(node.attrs)
    attrs["grad_fn"] = _replayed(attrs["grad_fn"], env_box)
    return Node(node.primitive, node.inputs, attrs, node.outputs)


def _replayed(grad_fn, env_box):
    """grad_fn of a traced custom_gradient, run on one call's values: it is traced into a
    small graph (capturing the traced tensors it closes over), then interpreted with the
    captures bound to what this call computed."""
    def replay(*upstream):
        env = env_box[0]
        graph = Graph(name="custom_gradient")
        saved = context.graph
        context.graph = graph
        try:
            grads = list(grad_fn(*[graph.placeholder(u.shape, u.dtype) for u in upstream]))
        finally:
            context.graph = saved
        values = []
        for outer, _ in graph.captures.values():
            if id(outer) not in env:
                raise errors.UnimplementedError(
                    f"custom_gradient: the gradient function uses {outer.name}, which is not "
                    "computed by the function being differentiated", "custom_gradient")
            values.append(env[id(outer)])
        inner_env = interpret(graph, list(upstream), values)
        return [_replayed_value(g, env, inner_env) for g in grads]
    return replay


def _replayed_value(g, env, inner_env):
    if isinstance(g, SymbolicTensor):
        return inner_env[id(g)] if id(g) in inner_env else env[id(g)]
    return g


def _result_from_env(env, leaf):
    if isinstance(leaf, SymbolicTensor):
        return env[id(leaf)]
    if isinstance(leaf, Variable):
        return leaf.read_value()
    return leaf


# ------------------------------------------------------------------ polymorphic functions

class Function:
    """A Python function compiled into graphs, one per input signature (tf.function).

    Calling it with tensors of a shape and dtype it has seen replays the compiled graph;
    a new shape, dtype or Python argument value traces it again, as TensorFlow does.

    Variables follow TF's rule: only the first trace may create them (later ones raise
    ValueError). Their initial values are computed once, outside the graph (from the first
    call's inputs where they depend on them), and the function is then traced again without
    creating any: that second trace is the one kept, as in TF.
    """

    def __init__(self, python_function, input_signature=None, autograph=True,
                 jit_compile=None, reduce_retracing=False, name=None, **unused_options):
        self._python_function = python_function
        self._autograph = bool(autograph)
        self._traced_function = None  # what traces run: see _graph_function
        self._input_signature = _checked_signature(input_signature)
        self._reduce_retracing = reduce_retracing
        self.jit_compile = jit_compile
        self._cache = {}
        self._inlined = {}  # thread -> whether an inlined call of this one recursed
        self._fast = {}  # (shape, dtype) of each positional tensor -> ConcreteFunction
        # The same for positional tensors and Variables (see _fast_variables_key) ->
        # (ConcreteFunction bound to those Variables, positions of the tensors)
        self._fast_variables = {}
        self._shape_history = {}
        self._tracing_count = 0
        self._initialized = False  # whether the first trace (the one that may create
        self._created_variables = False  # Variables) ran, and whether it created some
        self._signature = _safe_signature(python_function)
        if self._input_signature is not None and self._signature is not None:
            _check_signature_fits(self._signature, self._input_signature)
        self._bound = weakref.WeakKeyDictionary()
        functools.update_wrapper(self, python_function)
        self.__name__ = name or getattr(python_function, "__name__", "function")

    @property
    def python_function(self):
        return self._python_function

    def _graph_function(self):
        """The Python function a trace runs: with autograph=True, its AutoGraph conversion
        (Python control flow on traced tensors staged as tf.cond / tf.while_loop), made on
        the first trace; the function itself for library code and autograph=False."""
        if self._traced_function is None:
            function = self._python_function
            if self._autograph:
                from tensorflux.autograph import impl

                function = impl.for_trace(function)
            self._traced_function = function
        return self._traced_function

    @property
    def input_signature(self):
        return self._input_signature

    def experimental_get_tracing_count(self):
        """How many times the Python function has been traced (traces that raised do not
        count)."""
        return self._tracing_count

    def pretty_printed_concrete_signatures(self, verbose=True):
        """Every traced signature, as ConcreteFunction.pretty_printed_signature prints it."""
        return "\n\n".join(concrete.pretty_printed_signature(verbose)
                           for concrete in self._cache.values())

    def __get__(self, instance, owner):
        # A tf.function decorating a method: one Function (and cache) per instance.
        if instance is None:
            return self
        bound = self._bound.get(instance)
        if bound is None:
            bound = Function(functools.partial(self._python_function, instance),
                             self._input_signature, autograph=self._autograph,
                             jit_compile=self.jit_compile,
                             reduce_retracing=self._reduce_retracing, name=self.__name__)
            self._bound[instance] = bound
        return bound

    def __call__(self, *args, **kwargs):
        if config.run_functions_eagerly:
            return self._python_function(*args, **kwargs)  # debugging: the Python as written
        if context.graph is not None:
            return self._inline(args, kwargs)
        if _PROFILE.session is not None and getattr(
                _profiling.running, "function", None) is not self:
            return _profiling.function_call(self, args, kwargs)  # (an event for the call)
        if not kwargs and not context.tapes:
            # Steady state: positional eager tensors of shapes already seen, no tape. One
            # dict lookup replaces binding the signature and checking every input.
            key = _fast_key(args)
            if key is not None:
                concrete = self._fast.get(key)
                if concrete is not None:
                    return concrete._call_compiled([a._value for a in args])
            elif self._fast_variables:
                found = self._fast_variables.get(_fast_variables_key(args))
                if found is not None:
                    return found[0]._call_compiled([args[i]._value for i in found[1]])
        traces = self._tracing_count
        concrete, leaves = self._concrete_for(args, kwargs, from_call=True)
        _retracing.record(self, self._tracing_count > traces)
        if not kwargs and len(leaves) == len(args) and all(
                leaf is arg for leaf, arg in zip(leaves, args)):
            key = _fast_key(args)
            if key is not None and len(self._fast) < _FAST_CACHE_LIMIT:
                self._fast[key] = concrete
            elif key is None and concrete._variable_args and len(
                    self._fast_variables) < _FAST_CACHE_LIMIT:
                key = _fast_variables_key(args)
                if key is not None:
                    tensors = tuple(i for i, spec in enumerate(concrete._input_specs)
                                    if spec is not None)
                    self._fast_variables[key] = (concrete._bound_to(leaves), tensors)
        return concrete._call_flat(leaves)

    def _inline(self, args, kwargs):
        """Called while tracing another function: runs the Python directly (TensorFlow
        inlines nested functions the same way), converted as its own trace would be. A
        recursion on tensors never ends (each call traces the next): its RecursionError
        says so."""
        thread = threading.get_ident()
        if thread in self._inlined:
            self._inlined[thread] = True
            return self._graph_function()(*args, **kwargs)
        self._inlined[thread] = False
        try:
            return self._graph_function()(*args, **kwargs)
        except RecursionError:
            if not self._inlined[thread]:
                raise
            raise RecursionError(
                f"{self.__name__}: the tf.function calls itself on tensors while it is traced, "
                "so tracing never ends: a call on tensors is traced, not run, and the condition "
                "that would stop the recursion has no value yet (TensorFlow fails with a "
                "StagingError here). Write it as a loop (a `while` over tensors, "
                "tf.while_loop) or recurse on Python values.") from None
        finally:
            del self._inlined[thread]

    def _call_for_effects(self, *args):
        """Calls with positional eager tensors when only the effects on variables matter (a
        training step whose logs nobody reads): on the steady-state path the outputs are
        neither computed nor returned; otherwise this is an ordinary call. Returns the
        ConcreteFunction that ran on the steady-state path, else None."""
        if ConcreteFunction._steady():
            key = _fast_key(args)
            if key is not None:
                concrete = self._fast.get(key)
                if concrete is not None:
                    concrete._run_for_effects([a._value for a in args])
                    return concrete
        self(*args)
        return None

    def get_concrete_function(self, *args, **kwargs):
        """The ConcreteFunction for these arguments (tensors or TensorSpecs), tracing if new."""
        if not args and not kwargs and self._input_signature is not None:
            args = tuple(self._input_signature)
        return self._concrete_for(args, kwargs)[0]

    # -- binding a call's arguments
    def _binding_error(self, reason, args, kwargs):
        return TypeError(f"Binding inputs to tf.function failed due to `{reason}`. Received "
                         f"args: {args!r} and kwargs: {kwargs!r} for signature: "
                         f"{self._signature_text()}.")

    def _signature_text(self):
        """The Python signature as TF's binding errors show it: each parameter with its
        input_signature entry, defaults as `=<captured_default_value>`."""
        if self._signature is None:
            return "(*args, **kwargs)"
        specs = iter(self._input_signature or ())
        parts = []
        for p in self._signature.parameters.values():
            if p.kind is p.VAR_POSITIONAL:
                parts.append(f"*{p.name}")
                continue
            if p.kind is p.VAR_KEYWORD:
                parts.append(f"**{p.name}")
                continue
            spec = next(specs, None) if p.kind is not p.KEYWORD_ONLY else None
            if spec is not None:
                parts.append(f"{p.name}: {_trace_type(spec)}")
            elif p.default is not p.empty:
                parts.append(f"{p.name}=<captured_default_value>")
            else:
                parts.append(p.name)
        return "(" + ", ".join(parts) + ")"

    def _canonical(self, args, kwargs):
        if self._signature is None:
            return args, kwargs
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise self._binding_error(error, args, kwargs) from None
        bound.apply_defaults()
        return bound.args, bound.kwargs

    def _concrete_for(self, args, kwargs, from_call=False):
        given = args, kwargs
        args, kwargs = self._canonical(args, kwargs)
        leaves = []
        skeleton = _flatten((args, kwargs), leaves)
        if self._input_signature is not None:
            args = self._bind_signature(args, given)
            leaves = []
            skeleton = _signed(_flatten((args, kwargs), leaves),
                               _flatten(self._input_signature, []))
            specs = [_ranked(s, v) for s, v in zip(self._signature_specs(leaves, given), leaves)]
            key = ("signature", skeleton_key(skeleton),
                   tuple(k if s is None else ("S", s.shape.rank)
                         for k, s in zip(_leaf_keys(leaves), specs)))
        else:
            keys = _component_keys(skeleton, _leaf_keys(leaves))
            if self._reduce_retracing:
                keys = self._relaxed(skeleton, keys)
            # A TensorSpec argument keeps its name (cf.structured_input_signature shows it).
            specs = [TensorSpec(k[1], k[2], v.name if isinstance(v, TensorSpec) else None)
                     if k[0] == "T" else None for k, v in zip(keys, leaves)]
            key = (skeleton_key(skeleton), keys)
        concrete = self._cache.get(key)
        if concrete is not None and not concrete._binds(leaves):
            # A trace that cannot be rebound serves only its own Variables (see _rebindable).
            key += (tuple(id(leaves[i]) for i in concrete._variable_args),)
            concrete = self._cache.get(key)
        if concrete is None:
            concrete = self._trace(skeleton, leaves, specs, from_call)
            self._cache[key] = concrete
            trace = sys.modules.get("tensorflux.summary.trace")
            if trace is not None:  # (tf.summary.trace_on records the graphs traced while on)
                trace.record_function_graph(concrete)
        return concrete, leaves

    def _bind_signature(self, args, given):
        """The positional arguments the input_signature covers, each leaf converted to its
        TensorSpec's dtype (Python numbers, lists and NumPy arrays, as TF converts them) and
        checked against the spec's shape; the structures (dicts, lists, tuples) must match."""
        signature = self._input_signature
        if len(args) < len(signature):
            raise self._binding_error(
                f"the input_signature has {len(signature)} entries, but the call passed "
                f"{len(args)} positional arguments", *given)
        try:
            matched = [_match_spec(arg, spec) for arg, spec in zip(args, signature)]
        except _CastError as error:
            raise self._binding_error(error, *given) from None
        return tuple(matched) + tuple(args[len(signature):])

    def _signature_specs(self, leaves, given):
        tensor_positions = [i for i, v in enumerate(leaves)
                            if _is_tensor_leaf(v) or isinstance(v, (Variable, TensorSpec))]
        signature = []
        _flatten(list(self._input_signature), signature)
        if len(tensor_positions) != len(signature):
            raise self._binding_error(
                f"the input_signature has {len(signature)} TensorSpecs, but the call passed "
                f"{len(tensor_positions)} tensors", *given)
        specs = [None] * len(leaves)
        for i, spec in zip(tensor_positions, signature):
            specs[i] = spec
        return specs

    def _relaxed(self, skeleton, keys):
        """reduce_retracing: dims that differ from an earlier call's become None."""
        family = (skeleton_key(skeleton), tuple(k[0] if k[0] == "T" else k for k in keys))
        seen = self._shape_history.get(family)
        if seen is None:
            self._shape_history[family] = keys
            return keys
        relaxed = []
        for old, new in zip(seen, keys):
            if new[0] == "T" and old[1] != new[1]:
                if old[1].rank == new[1].rank:
                    dims = [a if a == b else None for a, b in zip(old[1], new[1])]
                    new = ("T", TensorShape(dims), new[2])
                elif new[1].rank is not None:  # a trace per rank: see _ranked
                    new = ("T", TensorShape([None] * new[1].rank), new[2])
            relaxed.append(new)
        relaxed = tuple(relaxed)
        self._shape_history[family] = relaxed
        return relaxed

    # -- tracing
    def _trace(self, skeleton, leaves, specs, from_call=False):
        """The ConcreteFunction for one signature, under TF's rule for Variables: the first
        trace may create them; if it does, it is traced again (creating any is then an
        error) and that trace is kept. A trace that raises is not counted."""
        first = not self._initialized
        self._initialized = True
        error = None if first else _SINGLETON if self._created_variables else _NOT_FIRST_CALL
        concrete, created, used_inputs = self._trace_counting_variables(
            skeleton, leaves, specs, Lifting(error), from_call and first, first)
        if created and not first:
            raise ValueError(error)
        self._tracing_count += 1
        if not created:
            return concrete
        if used_inputs and self.jit_compile:
            raise errors.UnimplementedError(
                "We failed to lift variable creations out of this tf.function, so this "
                "tf.function cannot be run on XLA. A possible workaround is to move variable "
                "creation outside of the XLA compiled function.")
        concrete, created, _ = self._trace_counting_variables(
            skeleton, leaves, specs, Lifting(_SINGLETON), False, False)
        if created:
            raise ValueError(_SINGLETON)
        self._tracing_count += 1
        return concrete

    def _trace_counting_variables(self, skeleton, leaves, specs, lifting, feed_inputs, first):
        """(ConcreteFunction, whether the trace created Variables, whether an initial value
        was computed from the call's inputs). Variables made eagerly during the trace
        (tf.init_scope) count too, as in TF."""
        before = _variables_created()
        try:
            concrete = self._trace_graph(skeleton, leaves, specs, lifting, feed_inputs)
        finally:
            created = _variables_created() > before
            if first:
                self._created_variables = created
        return concrete, created, lifting.used_inputs

    def _trace_graph(self, skeleton, leaves, specs, lifting, feed_inputs):
        graph = Graph(name=self.__name__, outer=context.graph)
        graph.lifting = lifting
        symbolic = []
        names = _placeholder_names(self._signature, skeleton)
        if len(names) != len(leaves):  # (a positional leaf beyond what the names cover)
            names = [None] * len(leaves)
        saved_tapes, saved_graph = context.tapes, context.graph
        context.tapes, context.graph = [], graph
        try:
            for leaf, spec, name in zip(leaves, specs, names):
                if spec is None:
                    symbolic.append(leaf)
                    continue
                placeholder = graph.placeholder(spec.shape, spec.dtype,
                                                getattr(spec, "name", None) or name)
                if feed_inputs and not isinstance(leaf, TensorSpec):
                    lifting.call_values[id(placeholder.node)] = _as_input(leaf, spec)
                symbolic.append(placeholder)
            args, kwargs = _pack(skeleton, iter(symbolic))
            result = self._graph_function()(*args, **kwargs)
            output_leaves = []
            output_skeleton = _flatten(result, output_leaves)
            output_leaves = [_graph_output(graph, leaf) for leaf in output_leaves]
        finally:
            context.tapes, context.graph = saved_tapes, saved_graph
            graph.lifting = None
        graph.outputs = [leaf for leaf in output_leaves if isinstance(leaf, SymbolicTensor)]
        traced = _TracedGraph.snapshot(graph)
        # (the optimized graph now, with the passes on; else on a first call with them on)
        optimized = _optimize(graph) if _PASSES.enabled else None
        if optimized is not None and optimized is not graph:
            optimized.traced = graph
        values = [leaf if spec is None else spec for leaf, spec in zip(leaves, specs)]
        concrete = ConcreteFunction(graph, skeleton, specs, output_skeleton, output_leaves,
                                    self.__name__, values, self._signature, optimized)
        concrete._traced = traced
        concrete._rebindable = _rebindable(
            traced.nodes, [values[i] for i in concrete._variable_args])
        concrete.jit_compile = bool(self.jit_compile)
        return concrete

    def __repr__(self):
        return f"<tf.function {self.__name__}>"


class _RetracingDetector:
    """TF's warning when a Python function keeps being retraced: 5 traces within its last
    10 calls that did not reuse a trace (per Python function, so a tf.function re-made in a
    loop counts too), logged at most twice per function."""

    THRESHOLD, HISTORY, WARNINGS = 5, 10, 2

    def __init__(self):
        self._lock = threading.Lock()
        self._history = {}  # python function's key -> [recent traced flags, warnings given]

    def record(self, function, traced):
        if not traced and not self._history:
            return
        key = _function_key(function._python_function)
        if key is None:
            return
        with self._lock:
            entry = self._history.setdefault(key, [[], 0])
            recent = entry[0]
            recent.append(traced)
            del recent[:-self.HISTORY]
            count = sum(recent)
            if not traced or count < self.THRESHOLD or entry[1] >= self.WARNINGS:
                return
            entry[1] += 1
        import logging

        logging.getLogger("tensorflux").warning(
            "%d out of the last %d calls to %r triggered tf.function retracing. Tracing is "
            "expensive and the excessive number of tracings could be due to (1) creating "
            "@tf.function repeatedly in a loop, (2) passing tensors with different shapes, "
            "(3) passing Python objects instead of tensors. For (1), define the tf.function "
            "outside of the loop. For (2), @tf.function has reduce_retracing=True, which can "
            "avoid unnecessary retracing. For (3), see "
            "https://www.tensorflow.org/guide/function#controlling_retracing.",
            count, len(recent), function._python_function)


def _function_key(python_function):
    """The code of the Python function a tf.function (or one bound to an instance) stands
    for; None for tensorflux's own functions (Keras's steps trace once per batch structure
    and shape, which is not the user's retracing)."""
    while isinstance(python_function, functools.partial):
        python_function = python_function.func
    if (getattr(python_function, "__module__", None) or "").startswith("tensorflux."):
        return None
    return getattr(python_function, "__code__", None) or id(python_function)


_retracing = _RetracingDetector()

_SINGLETON = ("tf.function only supports singleton tf.Variables created on the first call. "
              "Make sure the tf.Variable is only created once or created outside tf.function. "
              "See https://www.tensorflow.org/guide/function#creating_tfvariables for more "
              "information.")
_NOT_FIRST_CALL = ("Creating variables on a non-first call to a function decorated with "
                   "tf.function.")
_FAST_CACHE_LIMIT = 256


def _variables_created():
    """How many Variables this thread has created: only the tracing thread's Variables count
    toward its trace, as TF's variable creator scope sees only its own thread's."""
    return variable_module._creations.count


def _as_input(leaf, spec):
    """A call's argument leaf as the eager tensor its placeholder stands for."""
    if isinstance(leaf, Variable):
        return leaf.read_value()
    if isinstance(leaf, Tensor):
        return leaf
    return convert_to_tensor(leaf, dtype=spec.dtype)


def _ranked(spec, value):
    """An unknown-rank TensorSpec narrowed to the rank of the tensor bound to it (every dim
    unknown). Shape rules need a rank, so such a signature traces once per rank; TensorFlow
    traces once, which differs only in the tracing count."""
    if type(spec) is TensorSpec and spec.shape.rank is None:
        rank = getattr(getattr(value, "shape", None), "rank", None)
        if rank is not None:
            return TensorSpec([None] * rank, spec.dtype, spec.name)
    return spec


def _check_signature_fits(signature, input_signature):
    """TF's checks, when tf.function is applied, that input_signature gives one entry per
    positional parameter (a leading `self` aside) without a default."""
    params = list(signature.parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    if len(input_signature) > len(positional) and not variadic:
        raise TypeError(f"input_signature contains {len(input_signature) - len(positional)} "
                        "extra type constraints.")
    for p in positional[len(input_signature):]:
        if p.default is p.empty:
            raise TypeError(f"input_signature missing type constraint for {p.name}")
    for p in params:
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            raise TypeError("Since input_signature is defined, keyword-only parameter "
                            f"`{p.name}` must have a default value")


def _checked_signature(input_signature):
    """input_signature as a tuple whose leaves are TensorSpecs (nested dicts, lists and tuples
    of them allowed; a (shape, dtype) tuple is shorthand for a TensorSpec)."""
    if input_signature is None:
        return None
    if not isinstance(input_signature, (list, tuple)):
        raise TypeError("input_signature must be either a tuple or a list, got "
                        f"{type(input_signature)}.")
    return tuple(_spec_structure(entry) for entry in input_signature)


def _spec_structure(entry):
    if isinstance(entry, (TensorSpec, TypeSpec)):
        return entry
    leaves = []
    skeleton = _flatten(entry, leaves)
    if leaves and all(isinstance(leaf, TensorSpec) for leaf in leaves):
        return _pack_specs(skeleton, iter(leaves))
    try:
        return TensorSpec(*entry)
    except (TypeError, ValueError) as error:
        raise TypeError(f"input_signature must contain TensorSpecs, RaggedTensorSpecs or "
                        f"SparseTensorSpecs (possibly nested in lists, tuples and dicts), got "
                        f"{entry!r}") from error


def _signed(skeleton, signature):
    """The call's skeleton ((args, kwargs)) with each composite under the input_signature
    carrying the signature's TypeSpec, so that the trace key and the traced placeholders
    follow the signature (a RaggedTensor with other row counts reuses the trace)."""
    (kind, (args, kwargs)) = skeleton
    signed = [_resigned(a, s) for a, s in zip(_children(args), _children(signature))]
    return (kind, [(args[0], signed + _children(args)[len(signed):]), kwargs])


def _resigned(node, spec_node):
    if node is None:
        return None
    if node[0] == "composite":
        return ("composite", spec_node[1], node[2])
    children = [_resigned(c, s) for c, s in zip(_children(node), _children(spec_node))]
    if node[0] == "dict":
        return node[:3] + (children,) + node[4:]
    if node[0] == "namedtuple":
        return (node[0], node[1], children)
    return (node[0], children)


class _CastError(Exception):
    """An argument that does not fit its input_signature entry (TF's reason text)."""


def _match_spec(value, spec):
    """value with each leaf under a TensorSpec of `spec` converted by _to_spec. As in TF, the
    containers must be spec's: a dict with its keys, a list for a list, a tuple for a tuple,
    of its length."""
    if isinstance(spec, TensorSpec):
        return _to_spec(value, spec)
    if isinstance(spec, TypeSpec):
        return _to_type_spec(value, spec)
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise _CastError(f"Can not cast {value!r} to a Dict type.")
        if set(value) != set(spec):
            raise _CastError(f"{value!r} has different keys with the TraceType "
                             f"{_trace_type(spec)}.")
        return type(spec)((k, _match_spec(value[k], spec[k])) for k in spec)
    kind = list if isinstance(spec, list) else tuple
    if not isinstance(value, kind):
        raise _CastError(f"Can not cast {value!r} to {kind.__name__} type.")
    if len(value) != len(spec):
        raise _CastError(f"Expected {value!r} to have length of {len(spec)}")
    items = [_match_spec(v, s) for v, s in zip(value, spec)]
    return type(spec)(*items) if hasattr(spec, "_fields") else type(spec)(items)


def _to_spec(leaf, spec):
    """One argument leaf as a tensor of spec's dtype (a TensorSpec leaf stays a spec)."""
    if isinstance(leaf, Variable):
        leaf = leaf.read_value()
    elif not isinstance(leaf, (_TensorLike, TensorSpec)):
        try:
            leaf = convert_to_tensor(leaf, dtype=spec.dtype)
        except (TypeError, ValueError) as error:
            raise _CastError(str(error)) from None
    if leaf.dtype is not spec.dtype or not spec.shape.is_compatible_with(leaf.shape):
        raise _CastError(f"Can not cast {TensorSpec(leaf.shape, leaf.dtype)!r} to {spec!r}")
    return leaf


def _to_type_spec(value, spec):
    """A SparseTensor or RaggedTensor argument (or a TypeSpec, to trace) checked against its
    input_signature spec component by component, as TF binds composites."""
    if isinstance(value, TypeSpec):
        if type(value) is not type(spec) or not spec.is_compatible_with(value):
            raise _CastError(f"Can not cast {value!r} to {spec!r}")
        return value
    if not isinstance(value, CompositeTensor) or not isinstance(value, spec.value_type):
        raise _CastError(f"Can not cast {value!r} to {spec!r}: expected a "
                         f"{spec.value_type.__name__}")
    parts = value._type_spec._to_components(value)
    wanted = spec._component_specs
    if len(parts) != len(wanted) or not all(
            part.dtype is want.dtype and want.shape.is_compatible_with(part.shape)
            for part, want in zip(parts, wanted)):
        raise _CastError(f"Can not cast {value._type_spec!r} to {spec!r}")
    return value


def _fast_key(args):
    """The shapes and dtypes of positional eager tensors, or None for anything else."""
    key = []
    for a in args:
        if a.__class__ is not Tensor:
            return None
        value = a._value
        key.append((value.shape, value.dtype))
    return tuple(key)


def _fast_variables_key(args):
    """_fast_key for positional eager tensors and Variables, a Variable by its id (the cached
    ConcreteFunction holds it, so the id stays its own) and trainability; None otherwise."""
    key = []
    for a in args:
        if a.__class__ is Tensor:
            value = a._value
            key.append((value.shape, value.dtype))
        elif isinstance(a, Variable):
            key.append((id(a), a.trainable))
        else:
            return None
    return tuple(key)


def _graph_output(graph, leaf):
    if isinstance(leaf, SymbolicTensor):
        return leaf if leaf.node.graph is graph else graph._capture(leaf)
    if isinstance(leaf, Variable):
        return leaf
    if isinstance(leaf, Tensor):
        return graph.constant(leaf)
    if isinstance(leaf, (bool, int, float, str, bytes)) or type(leaf).__module__ == "numpy":
        # TF returns a Python number, string or NumPy value as a tensor (None stays None).
        from tensorflux.tensor import convert_to_tensor

        return graph.constant(convert_to_tensor(leaf))
    return leaf


def _optimize(graph):
    """The optimized copy of a freshly traced graph (passes leave their input unchanged)."""
    return passes.optimize(graph)


def _component_keys(skeleton, keys):
    """The leaf keys with each composite's components keyed by its component specs (rows
    counted as None), so that a SparseTensor or RaggedTensor argument with another number of
    values reuses the trace, as in TensorFlow."""
    found = iter(keys)
    relaxed = []

    def walk(node, spec=None):
        if node is None:
            key = next(found)
            relaxed.append(("T", spec.shape, spec.dtype) if spec is not None else key)
        elif node[0] == "composite":
            for child, part in zip(node[2], node[1]._component_specs):
                walk(child, part)
        else:
            for child in _children(node):
                walk(child)

    walk(skeleton)
    return tuple(relaxed)


def skeleton_key(skeleton):
    """A hashable form of a structure skeleton (types and dict keys, no leaves)."""
    if skeleton is None:
        return None
    if skeleton[0] == "composite":
        return ("composite", skeleton[1], tuple(skeleton_key(c) for c in skeleton[2]))
    if skeleton[0] == "dict":
        return ("dict", skeleton[1], tuple(skeleton[2]),
                tuple(skeleton_key(c) for c in skeleton[3]))
    if skeleton[0] == "namedtuple":
        return ("namedtuple", skeleton[1], tuple(skeleton_key(c) for c in skeleton[2]))
    return (skeleton[0], tuple(skeleton_key(c) for c in skeleton[1]))


def _safe_signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def function(func=None, input_signature=None, autograph=True, jit_compile=None,
             reduce_retracing=False, experimental_implements=None,
             experimental_autograph_options=None, experimental_attributes=None,
             experimental_relax_shapes=None, experimental_compile=None,
             experimental_follow_type_hints=None, name=None):
    """Compiles a Python function into a graph, as a decorator or a call.

    >>> import tensorflux as tf
    >>> @tf.function
    ... def f(x):
    ...     return tf.reduce_sum(x * x)
    >>> float(f(tf.constant([1.0, 2.0])))
    5.0
    """
    options = dict(input_signature=input_signature, autograph=autograph,
                   jit_compile=jit_compile,
                   reduce_retracing=bool(reduce_retracing or experimental_relax_shapes),
                   name=name)
    if func is None:
        return lambda f: Function(f, **options)
    return Function(func, **options)
