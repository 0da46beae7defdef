"""tf.function: traces a Python function into a Graph once per input signature, and runs
the compiled plan on every later call with that signature."""

import functools
import inspect
import weakref

from tensorflux import errors
from tensorflux.composite_tensor import CompositeTensor
from tensorflux.context import context, current_backend
from tensorflux.graph.executor import Plan, interpret
from tensorflux.graph.ir import Graph, SymbolicTensor
from tensorflux.primitive import Node
from tensorflux.tensor import Tensor, TensorSpec, _TensorLike, convert_to_tensor
from tensorflux.tensor_shape import TensorShape
from tensorflux.variable import Variable
from tensorflux.variable import _uid as variable_ids

__all__ = ["function", "Function", "ConcreteFunction"]


class _Config:
    run_functions_eagerly = False


config = _Config()


# ------------------------------------------------------------------ nested structures

def _flatten(value, leaves):
    """Appends the leaves of a nested list/tuple/dict to `leaves`; returns the skeleton.
    A composite (SparseTensor, RaggedTensor) contributes its component tensors."""
    if isinstance(value, CompositeTensor):
        spec = value._type_spec
        return ("composite", spec, [_flatten(c, leaves) for c in spec._to_components(value)])
    if isinstance(value, (list, tuple)) and not isinstance(value, _TensorLike):
        skeleton = [_flatten(v, leaves) for v in value]
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return ("namedtuple", type(value), skeleton)
        return (type(value), skeleton)
    if isinstance(value, dict):
        keys = sorted(value, key=str)
        return ("dict", type(value), keys, [_flatten(value[k], leaves) for k in keys])
    leaves.append(value)
    return None


def _pack(skeleton, leaves):
    """Inverse of _flatten: rebuilds the structure from an iterator of leaves."""
    if skeleton is None:
        return next(leaves)
    if skeleton[0] == "composite":
        _, spec, children = skeleton
        return spec._from_components([_pack(c, leaves) for c in children])
    if skeleton[0] == "dict":
        _, kind, keys, children = skeleton
        return kind((k, _pack(c, leaves)) for k, c in zip(keys, children))
    if skeleton[0] == "namedtuple":
        _, kind, children = skeleton
        return kind(*[_pack(c, leaves) for c in children])
    kind, children = skeleton
    return kind(_pack(c, leaves) for c in children)


def _is_tensor_leaf(value):
    if isinstance(value, (Tensor, TensorSpec)):
        return True
    # NumPy arrays are tensors to tf.function (TF converts them); detected without NumPy.
    return type(value).__name__ == "ndarray" and hasattr(value, "dtype")


def _leaf_key(value):
    if isinstance(value, TensorSpec):
        return ("T", value.shape, value.dtype)
    if isinstance(value, Variable):
        return ("V", id(value))
    if _is_tensor_leaf(value):
        tensor = value if isinstance(value, Tensor) else convert_to_tensor(value)
        return ("T", tensor.shape, tensor.dtype)
    try:
        hash(value)
    except TypeError:
        return ("O", id(value))
    return ("P", type(value), value)


# ------------------------------------------------------------------ concrete functions

class ConcreteFunction:
    """One traced Graph with its input signature; calling it runs the compiled plan.

    >>> import tensorflux as tf
    >>> f = tf.function(lambda x: x * 2.0)
    >>> cf = f.get_concrete_function(tf.TensorSpec([None], tf.float32))
    >>> cf(tf.constant([1.0, 2.0])).numpy().tolist()
    [2.0, 4.0]
    """

    def __init__(self, graph, input_skeleton, input_specs, output_skeleton, output_leaves,
                 name):
        self.graph = graph
        self.name = name
        self._input_skeleton = input_skeleton
        self._input_specs = input_specs  # per flat argument leaf: TensorSpec or None
        self._output_skeleton = output_skeleton
        self._output_leaves = output_leaves  # SymbolicTensor, Variable or Python value
        self._plans = {}
        self._effects = {}  # backend -> (runner with no outputs, captured outer tensors)
        # jit_compile=True: the plan built for it (see Plan's `native`).
        self.jit_compile = False

    @property
    def structured_input_signature(self):
        return [s for s in self._input_specs if s is not None]

    @property
    def inputs(self):
        return list(self.graph.inputs)

    @property
    def outputs(self):
        return list(self.graph.outputs)

    def _plan(self):
        """(plan, output recipe, captured outer tensors, runner) for the current backend."""
        backend = context.backend or current_backend()
        entry = self._plans.get(backend)
        if entry is None:
            captures = list(self.graph.captures.values())
            plan = Plan(self.graph, backend, captures=captures, native=self.jit_compile)
            # Passes may replace output tensors; graph.outputs lists the current ones.
            symbolic = iter(self.graph.outputs)
            recipe = []
            fed = {id(t) for t in self.graph.inputs}
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
            entry = self._plans[backend] = (plan, recipe, [outer for outer, _ in captures],
                                            runner)
        return entry

    def __call__(self, *args, **kwargs):
        leaves = []
        _flatten((args, kwargs), leaves)
        return self._call_flat(leaves)

    def _call_flat(self, leaves):
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

    def _run_for_effects(self, values):
        """Runs the plan on raw input arrays for its effects on variables only: steps that
        just compute the outputs are skipped, and nothing is returned."""
        found = self._effects.get(context.backend or current_backend())
        if found is None:
            plan, _, captures, _ = self._plan()
            found = self._effects[plan.backend] = (
                plan.runner((), native=self.jit_compile), captures)
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
            try:
                tensor = leaf if isinstance(leaf, Tensor) else convert_to_tensor(
                    leaf, dtype=spec.dtype)
            except (TypeError, ValueError) as error:
                raise errors.InvalidArgumentError(
                    f"{self.name}: argument {position} expected {spec}, received {leaf!r}") \
                    from error
            if isinstance(leaf, Variable):
                tensor = leaf.read_value()
            if tensor.dtype is not spec.dtype or not spec.shape.is_compatible_with(tensor.shape):
                raise errors.InvalidArgumentError(
                    f"{self.name}: argument {position} expected {spec}, received a tensor of "
                    f"shape {tensor.shape} and dtype {tensor.dtype.name}")
            tensors.append(tensor)
        return tensors

    def pretty_printed_signature(self):
        return str(self.graph).splitlines()[0]

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
        self._fast = {}  # (shape, dtype) of each positional tensor -> ConcreteFunction
        self._shape_history = {}
        self._tracing_count = 0
        self._signature = _safe_signature(python_function)
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
        """How many times the Python function has been traced."""
        return self._tracing_count

    def __get__(self, instance, owner):
        # A tf.function decorating a method: one Function (and cache) per instance.
        if instance is None:
            return self
        bound = self._bound.get(instance)
        if bound is None:
            bound = Function(functools.partial(self._python_function, instance),
                             self._input_signature, autograph=self._autograph,
                             reduce_retracing=self._reduce_retracing, name=self.__name__)
            self._bound[instance] = bound
        return bound

    def __call__(self, *args, **kwargs):
        if config.run_functions_eagerly:
            return self._python_function(*args, **kwargs)  # debugging: the Python as written
        if context.graph is not None:
            # Called while tracing another function: run the Python directly (TensorFlow
            # inlines nested functions the same way), converted as its own trace would be.
            return self._graph_function()(*args, **kwargs)
        if not kwargs and not context.tapes:
            # Steady state: positional eager tensors of shapes already seen, no tape. One
            # dict lookup replaces binding the signature and checking every input.
            key = _fast_key(args)
            if key is not None:
                concrete = self._fast.get(key)
                if concrete is not None:
                    return concrete._call_compiled([a._value for a in args])
        concrete, leaves = self._concrete_for(args, kwargs)
        if not kwargs and len(leaves) == len(args) and all(
                leaf is arg for leaf, arg in zip(leaves, args)):
            key = _fast_key(args)
            if key is not None and len(self._fast) < _FAST_CACHE_LIMIT:
                self._fast[key] = concrete
        return concrete._call_flat(leaves)

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

    def _canonical(self, args, kwargs):
        if self._signature is None:
            return args, kwargs
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{self.__name__}(): {error}") from error
        bound.apply_defaults()
        return bound.args, bound.kwargs

    def _concrete_for(self, args, kwargs):
        args, kwargs = self._canonical(args, kwargs)
        leaves = []
        skeleton = _flatten((args, kwargs), leaves)
        if self._input_signature is not None:
            args = self._bind_signature(args)
            leaves = []
            skeleton = _flatten((args, kwargs), leaves)
            specs = self._signature_specs(leaves)
            key = ("signature", skeleton_key(skeleton),
                   tuple(_leaf_key(v) if s is None else ("S",) for v, s in zip(leaves, specs)))
        else:
            keys = _component_keys(skeleton, [_leaf_key(v) for v in leaves])
            if self._reduce_retracing:
                keys = self._relaxed(skeleton, keys)
            specs = [TensorSpec(k[1], k[2]) if k[0] == "T" else None for k in keys]
            key = (skeleton_key(skeleton), keys)
        concrete = self._cache.get(key)
        if concrete is None:
            concrete = self._trace(skeleton, leaves, specs)
            self._cache[key] = concrete
        return concrete, leaves

    def _bind_signature(self, args):
        """The positional arguments the input_signature covers, each leaf converted to its
        TensorSpec's dtype (Python numbers, lists and NumPy arrays, as TF converts them) and
        checked against the spec's shape; the structures (dicts, tuples) must match."""
        signature = self._input_signature
        if len(args) < len(signature):
            raise TypeError(f"{self.__name__}: the input_signature has {len(signature)} "
                            f"entries ({signature}), but the call passed {len(args)} "
                            "positional arguments")
        matched = [_match_spec(self.__name__, [position], arg, spec)
                   for position, (arg, spec) in enumerate(zip(args, signature))]
        return tuple(matched) + tuple(args[len(signature):])

    def _signature_specs(self, leaves):
        tensor_positions = [i for i, v in enumerate(leaves)
                            if _is_tensor_leaf(v) or isinstance(v, (Variable, TensorSpec))]
        signature = []
        _flatten(list(self._input_signature), signature)
        if len(tensor_positions) != len(signature):
            raise errors.InvalidArgumentError(
                f"{self.__name__}: the input_signature has {len(signature)} "
                f"TensorSpecs ({self._input_signature}), but the call passed "
                f"{len(tensor_positions)} tensors")
        specs = [None] * len(leaves)
        for i, spec in zip(tensor_positions, signature):
            leaf = leaves[i]
            got = leaf if isinstance(leaf, TensorSpec) else TensorSpec.from_tensor(
                leaf if isinstance(leaf, _TensorLike) else convert_to_tensor(leaf,
                                                                             dtype=spec.dtype))
            if got.dtype is not spec.dtype or not spec.shape.is_compatible_with(got.shape):
                raise errors.InvalidArgumentError(
                    f"{self.__name__}: argument {len([p for p in tensor_positions if p < i])} "
                    f"expected {spec}, received shape {got.shape} and dtype {got.dtype.name}")
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
                else:
                    new = ("T", TensorShape(None), new[2])
            relaxed.append(new)
        relaxed = tuple(relaxed)
        self._shape_history[family] = relaxed
        return relaxed

    def _trace(self, skeleton, leaves, specs):
        self._tracing_count += 1
        first_variable_id = next(variable_ids)
        graph = Graph(name=self.__name__, outer=context.graph)
        symbolic = []
        saved_tapes, saved_graph = context.tapes, context.graph
        context.tapes, context.graph = [], graph
        try:
            for leaf, spec in zip(leaves, specs):
                if spec is None:
                    symbolic.append(leaf)
                else:
                    symbolic.append(graph.placeholder(spec.shape, spec.dtype))
            args, kwargs = _pack(skeleton, iter(symbolic))
            result = self._graph_function()(*args, **kwargs)
            output_leaves = []
            output_skeleton = _flatten(result, output_leaves)
            output_leaves = [_graph_output(graph, leaf) for leaf in output_leaves]
        finally:
            context.tapes, context.graph = saved_tapes, saved_graph
        if self._tracing_count > 1 and next(variable_ids) > first_variable_id + 1:
            # TF: variables are created once, on the first call, then captured by reference.
            raise ValueError(
                f"{self.__name__}: tf.function only supports creating tf.Variables on the "
                "first trace; this trace (for new argument shapes, dtypes or Python values) "
                "created more. Create them outside the function, or once (e.g. `if self.v is "
                "None:`).")
        graph.outputs = [leaf for leaf in output_leaves if isinstance(leaf, SymbolicTensor)]
        traced = _TracedGraph.snapshot(graph)
        graph = _optimize(graph)
        concrete = ConcreteFunction(graph, skeleton, specs, output_skeleton, output_leaves,
                                    self.__name__)
        concrete._traced = traced
        concrete.jit_compile = bool(self.jit_compile)
        return concrete

    def __repr__(self):
        return f"<tf.function {self.__name__}>"


_FAST_CACHE_LIMIT = 256


def _checked_signature(input_signature):
    """input_signature as a list whose leaves are TensorSpecs (nested dicts, lists and tuples
    of them allowed; a (shape, dtype) tuple is shorthand for a TensorSpec)."""
    if input_signature is None:
        return None
    if not isinstance(input_signature, (list, tuple)):
        raise TypeError("input_signature must be either a tuple or a list, got "
                        f"{type(input_signature)}.")
    return [_spec_structure(entry) for entry in input_signature]


def _spec_structure(entry):
    if isinstance(entry, TensorSpec):
        return entry
    leaves = []
    skeleton = _flatten(entry, leaves)
    if leaves and all(isinstance(leaf, TensorSpec) for leaf in leaves):
        return _pack(skeleton, iter(leaves))
    try:
        return TensorSpec(*entry)
    except (TypeError, ValueError) as error:
        raise TypeError(f"input_signature must contain TensorSpecs (possibly nested in lists, "
                        f"tuples and dicts), got {entry!r}") from error


def _match_spec(name, path, value, spec):
    """value with each leaf under a TensorSpec of `spec` converted by _to_spec; the nesting
    of dicts and of lists/tuples must be spec's."""
    if isinstance(spec, TensorSpec):
        return _to_spec(name, path, value, spec)
    if isinstance(spec, dict):
        if not isinstance(value, dict) or set(value) != set(spec):
            raise TypeError(f"{name}: argument {_where(path)} should be a dict with keys "
                            f"{sorted(spec, key=str)} (the input_signature), got {value!r}")
        return type(spec)((k, _match_spec(name, path + [k], value[k], spec[k]))
                          for k in spec)
    if not isinstance(value, (list, tuple)) or len(value) != len(spec):
        raise TypeError(f"{name}: argument {_where(path)} should be a sequence of "
                        f"{len(spec)} values (the input_signature {spec}), got {value!r}")
    items = [_match_spec(name, path + [i], v, s) for i, (v, s) in enumerate(zip(value, spec))]
    # The signature's containers, so that a tuple and a list passed for it trace once.
    return type(spec)(*items) if hasattr(spec, "_fields") else type(spec)(items)


def _where(path):
    return str(path[0]) + "".join(f"[{p!r}]" for p in path[1:])


def _to_spec(name, position, leaf, spec):
    """One argument leaf as a tensor of spec's dtype (a TensorSpec leaf stays a spec)."""
    if isinstance(leaf, TensorSpec):
        got = leaf
    else:
        if isinstance(leaf, Variable):
            leaf = leaf.read_value()
        if not isinstance(leaf, _TensorLike):
            try:
                leaf = convert_to_tensor(leaf, dtype=spec.dtype)
            except (TypeError, ValueError) as error:
                raise TypeError(f"{name}: argument {_where(position)} expected {spec}, received "
                                f"{leaf!r}, which does not convert to {spec.dtype.name}") \
                    from error
        got = leaf
    if got.dtype is not spec.dtype or not spec.shape.is_compatible_with(got.shape):
        raise errors.InvalidArgumentError(
            f"{name}: argument {_where(position)} expected {spec}, received shape {got.shape} and "
            f"dtype {got.dtype.name}")
    return leaf


def _fast_key(args):
    """The shapes and dtypes of positional eager tensors, or None for anything else."""
    key = []
    for a in args:
        if a.__class__ is not Tensor:
            return None
        value = a._value
        key.append((value.shape, value.dtype))
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
    from tensorflux.graph import passes

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
            for child in node[-1]:
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
