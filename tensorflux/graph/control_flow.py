"""Functional control flow (tf.cond, tf.while_loop): Python control flow eagerly, and nodes
holding traced sub-graphs when the predicate or loop is part of a traced function."""

import itertools
import weakref

from tensorflux import errors
from tensorflux.context import context, current_backend
from tensorflux.dtypes import bool as bool_dtype
from tensorflux.dtypes import int32
from tensorflux.graph.executor import Plan, interpret
from tensorflux.graph.function import _children, _flatten, _pack, skeleton_key
from tensorflux.graph.ir import Graph, SymbolicTensor, placeholder_primitive
from tensorflux.graph.passes import _prune_constant_table
from tensorflux.ops._core import aval
from tensorflux.primitive import Primitive
from tensorflux.tensor import Tensor, _TensorLike, convert_to_tensor
from tensorflux.tensor_shape import TensorShape
from tensorflux.variable import Variable

__all__ = ["cond", "while_loop"]


# ------------------------------------------------------------------ sub-graphs

def _trace_subgraph(fn, arg_avals, name, seeds_outside=False, in_loop=False, nones=None):
    """Traces fn(*placeholders) into a Graph nested in the one being traced (its random ops'
    seeds drawn in the graph around it where `seeds_outside`, and mixed with the iteration
    number in a while loop's cond or body, `in_loop`: Graph.seeds_outside, Graph.in_loop).

    Outer symbolic tensors the function uses become captures (placeholders of the new graph);
    outer tapes are hidden, since the control-flow node itself is what they record.
    Returns (graph, result leaves' skeleton); graph.outputs holds the flat results. Given a
    list `nones`, None results are left out of graph.outputs (a tf.cond branch run for its
    assignments returns None, and the cond returns None there) and `nones` gets, per result
    leaf, whether it was None.
    """
    outer = context.graph
    graph = Graph(name=outer.unique_name(name), outer=outer)
    graph.seeds_outside = seeds_outside or in_loop
    graph.in_loop = in_loop
    saved = context.tapes, context.graph
    context.tapes, context.graph = [], graph
    try:
        args = [graph.placeholder(a.shape, a.dtype, "arg") for a in arg_avals]
        result = fn(*args)
        leaves = []
        skeleton = _flatten(result, leaves)
        if nones is not None:
            nones.extend(leaf is None for leaf in leaves)
            leaves = [leaf for leaf in leaves if leaf is not None]
        outputs = [_graph_output(graph, leaf, name) for leaf in leaves]
    finally:
        context.tapes, context.graph = saved
    graph.outputs = outputs
    return graph, skeleton


def _graph_output(graph, leaf, what):
    """A result leaf as a tensor of `graph` (called while `graph` is being traced)."""
    if isinstance(leaf, SymbolicTensor):
        return leaf if leaf.node.graph is graph else graph._capture(leaf)
    if isinstance(leaf, Variable):
        return leaf.read_value()
    if isinstance(leaf, Tensor):
        return graph.constant(leaf)
    try:
        return graph.constant(convert_to_tensor(leaf))
    except (TypeError, ValueError) as error:
        raise errors.InvalidArgumentError(
            f"{what}: returned {leaf!r}, which is not a tensor") from error


def _is_stateful(graphs):
    return any(node.primitive.stateful for g in graphs for node in g.nodes)


class _Body:
    """One traced sub-graph, where its captures sit among its node's inputs, and its
    generated runner per backend."""

    def __init__(self, graph, positions):
        self.graph = graph
        self.positions = positions
        self._runners = {}

    def run(self, inputs, captured):
        backend = context.backend or current_backend()
        runner = self._runners.get(backend)
        if runner is None:
            # The plan as generated straight-line code (Plan.runner), as a tf.function's
            # own plan runs: a loop body runs once per iteration.
            plan = Plan(self.graph, backend, captures=list(self.graph.captures.values()))
            runner = self._runners[backend] = plan.runner(
                [plan.output_slot(o) for o in self.graph.outputs])
        return list(runner(inputs, [captured[i] for i in self.positions]))

    def interpret(self, inputs, captured):
        """Re-binds the sub-graph's ops (eagerly, or into the graph being traced)."""
        env = interpret(self.graph, inputs, [captured[i] for i in self.positions])
        return [env[id(o)] for o in self.graph.outputs]


def _node_inputs(graphs):
    """The outer tensors the sub-graphs capture (deduplicated) and the Variables they use."""
    outer_tensors, seen = [], {}
    for g in graphs:
        for outer, _ in g.captures.values():
            if id(outer) not in seen:
                seen[id(outer)] = len(outer_tensors)
                outer_tensors.append(outer)
    variables = {}
    for g in graphs:
        for v in g.variables():
            variables.setdefault(id(v), v)
    bodies = [_Body(g, [seen[id(outer)] for outer, _ in g.captures.values()]) for g in graphs]
    return outer_tensors, list(variables.values()), bodies


def _local_copies(tensors, indices, tape):
    """Copies (identity nodes) of tensors[i] for i in indices, watched by `tape`: sources the
    tape can see, local to the graph being traced (an outer tensor is only seen through the
    placeholder that captures it)."""
    from tensorflux.ops import array

    local = list(tensors)
    for i in indices:
        if isinstance(tensors[i], Variable):
            tape.watch(tensors[i])
        else:
            local[i] = array._identity.bind(tensors[i])
            tape.watch(local[i])
    return local


def _same_structure(skeleton):
    """A skeleton's structure with list and tuple alike (TF's check_types=False)."""
    if skeleton is None:
        return None
    if skeleton[0] == "dict":
        return ("dict", tuple(skeleton[2]), tuple(_same_structure(c) for c in skeleton[3]))
    children = skeleton[2] if skeleton[0] == "namedtuple" else skeleton[1]
    return ("seq", tuple(_same_structure(c) for c in children))


def _merged_shape(a, b):
    if a.rank is None or b.rank is None or a.rank != b.rank:
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a, b)])


# ------------------------------------------------------------------ tf.cond

class _Branches:
    """The two branches of a traced cond: the runner its kernel calls."""

    def __init__(self, true_body, false_body, n_captured, avals):
        self.true = true_body
        self.false = false_body
        self.n_captured = n_captured
        self.avals = avals
        self.__name__ = f"{true_body.graph.name}|{false_body.graph.name}"

    def __call__(self, pred, arrays):
        body = self.true if bool(pred) else self.false
        return tuple(body.run((), arrays))

    def __repr__(self):
        return f"<cond branches {self.__name__}>"


def _cond_rule(pred, *inputs, branches):
    return branches.avals


def _cond_vjp(g, pred, *inputs, out, branches):
    """A cond whose branches are the gradients of the two branches (each traced under a tape
    over its captured inputs and Variables), so it works eagerly, traced, and nested."""
    diff = [i for i, x in enumerate(inputs) if x.dtype.is_differentiable]
    seeded = [(i, gi) for i, gi in enumerate(g) if gi is not None]
    if not diff or not seeded:
        return (None,) * (1 + len(inputs))

    def branch_gradient(body):
        def gradient():
            from tensorflux.autodiff.tape import GradientTape

            with GradientTape() as tape:
                local = _local_copies(inputs, diff, tape)
                outs = body.interpret((), local)
            return tape.gradient([outs[i] for i, _ in seeded], [local[i] for i in diff],
                                 output_gradients=[gi for _, gi in seeded],
                                 unconnected_gradients="zero")
        return gradient

    grads = cond(pred, branch_gradient(branches.true), branch_gradient(branches.false))
    result = [None] * len(inputs)
    for i, grad in zip(diff, grads):
        result[i] = grad
    return (None, *result)


# cond: runs the true or false branch sub-graph; gradient: a cond of the branch gradients.
_cond = Primitive("cond", vjp=_cond_vjp, shape_rule=_cond_rule, multiple_results=True)
# stateful_cond: the same, for branches with stateful ops (print, assign, random draws), so
# graph passes never drop, merge or fold it (TensorFlow's If versus StatelessIf).
_stateful_cond = Primitive("stateful_cond", vjp=_cond_vjp, shape_rule=_cond_rule, kernel="cond",
                           multiple_results=True, stateful=True)


def cond(pred, true_fn=None, false_fn=None, name=None):
    """Returns true_fn() if pred is true, else false_fn().

    Eagerly (or with a Python bool predicate) it calls one branch. With a symbolic predicate
    in a traced function both branches are traced and one `cond` node runs the chosen one at
    each call; both must return the same structure and dtypes.

    >>> import tensorflux as tf
    >>> from tensorflux.graph.control_flow import cond
    >>> f = tf.function(lambda x: cond(x > 0.0, lambda: x * 2.0, lambda: -x))
    >>> float(f(tf.constant(3.0))), float(f(tf.constant(-1.0)))
    (6.0, 1.0)
    """
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError(f"cond: true_fn and false_fn must be callable, received {true_fn!r} "
                        f"and {false_fn!r}")
    if not isinstance(pred, SymbolicTensor):
        return true_fn() if _eager_bool(pred) else false_fn()
    _check_predicate("cond", pred)
    # (A branch's gradient re-binds its ops: their random draws must see the seeds the
    # forward branch saw, so the seeds are drawn outside, whichever branch runs.)
    true_nones, false_nones = [], []
    true_graph, true_skeleton = _trace_subgraph(true_fn, (), "cond_true", seeds_outside=True,
                                                nones=true_nones)
    false_graph, false_skeleton = _trace_subgraph(false_fn, (), "cond_false",
                                                  seeds_outside=True, nones=false_nones)
    _check_branches((true_graph, true_skeleton, true_nones),
                    (false_graph, false_skeleton, false_nones))
    captured, variables, (true_body, false_body) = _node_inputs([true_graph, false_graph])
    avals = tuple(aval(_merged_shape(t.shape, f.shape), t.dtype)
                  for t, f in zip(true_graph.outputs, false_graph.outputs))
    branches = _Branches(true_body, false_body, len(captured), avals)
    primitive = _stateful_cond if _is_stateful([true_graph, false_graph]) else _cond
    outputs = iter(primitive.bind(pred, *captured, *variables, branches=branches))
    return _pack(true_skeleton, iter([None if none else next(outputs) for none in true_nones]))


def _eager_bool(pred):
    # As TensorFlow's eager cond: any scalar whose value is truthy (bool required when traced).
    if isinstance(pred, _TensorLike):
        if pred.shape.rank != 0:
            raise errors.InvalidArgumentError(
                f"cond: the predicate must be a scalar, received shape {tuple(pred.shape)}",
                "cond")
        return bool(pred.numpy())
    return bool(pred)


def _check_predicate(op, pred):
    if pred.dtype is not bool_dtype or pred.shape.rank not in (0, None):
        raise errors.InvalidArgumentError(
            f"{op}: the predicate must be a scalar bool tensor, received shape "
            f"{tuple(pred.shape) if pred.shape.rank is not None else pred.shape} and dtype "
            f"{pred.dtype.name}", op)


def _check_branches(true_branch, false_branch):
    """Each branch is (graph, skeleton, nones): both must give the same structure, with their
    None results at the same places, and tensors of the same dtypes."""
    (true_graph, true_skeleton, true_nones), (false_graph, false_skeleton, false_nones) = (
        true_branch, false_branch)
    described = (f"true_fn returned {_describe(*true_branch)} and "
                 f"false_fn returned {_describe(*false_branch)}")
    if (_same_structure(true_skeleton) != _same_structure(false_skeleton)
            or true_nones != false_nones):
        raise errors.InvalidArgumentError(
            f"cond: true_fn and false_fn must return the same structure: {described}", "cond")
    for t, f in zip(true_graph.outputs, false_graph.outputs):
        if t.dtype is not f.dtype:  # a TypeError, as TF's
            raise TypeError(f"cond: true_fn and false_fn must return the same dtypes: "
                            f"{described}")


def _describe(graph, skeleton, nones):
    outputs = iter(graph.outputs)
    shown = [None if none else "<{0.dtype.name} {0.shape}>".format(next(outputs))
             for none in nones]
    try:
        return str(_pack(skeleton, iter(shown)))
    except (StopIteration, TypeError):
        # (A structure that cannot hold strings, such as a TensorArray: the flat leaves.)
        return str(shown)


# ------------------------------------------------------------------ tf.while_loop

class _Loop:
    """A traced while loop (cond and body sub-graphs): the runner its kernel calls.

    Node inputs: the loop variables, the captured outer tensors, the Variables the loop reads,
    and maximum_iterations when given. Outputs: the final loop variables, then the trip count
    (which the gradient uses to replay the body). A loop whose cond or body draws random
    numbers carries a hidden first loop variable, the iteration number its draws' seeds mix
    in (_count_iterations); while_loop's caller never sees it.
    """

    def __init__(self, cond_body, body, n_vars, n_captured, variables, has_limit, avals):
        self.cond = cond_body
        self.body = body
        self.n_vars = n_vars
        self.n_captured = n_captured
        self.variables = variables
        self.has_limit = has_limit
        self.avals = avals
        self._gradient = None
        self.__name__ = f"{cond_body.graph.name}|{body.graph.name}"
        # A body with side effects (a tf.numpy_function stepping an environment, an assign,
        # a print) cannot be replayed for the gradient: each run keeps its iterations' loop
        # variables instead, until its trip count (the key) is dropped.
        self.keeps_states = _is_stateful([body.graph])
        self._states = {}

    def __call__(self, arrays):
        n_vars = self.n_vars
        loop_vars = list(arrays[:n_vars])
        captured = arrays[n_vars:n_vars + self.n_captured]
        limit = int(arrays[-1]) if self.has_limit else None
        count = 0
        # (kept only where a gradient may ask: one is built for this loop already, as in a
        # traced train step, or a tape records this run; a forward-only run keeps nothing)
        states = [] if self.keeps_states and (
            self._gradient is not None or context.tapes) else None
        while limit is None or count < limit:
            if not bool(self.cond.run(loop_vars, captured)[0]):
                break
            if states is not None:
                states.append(loop_vars)
            loop_vars = self.body.run(loop_vars, captured)
            count += 1
        backend = context.backend or current_backend()
        trips = backend.asarray(count, int32)
        if states:
            self._keep_states(trips, states)
        return (*loop_vars, trips)

    def _keep_states(self, trips, states):
        key = id(trips)
        try:
            ref = weakref.ref(trips, lambda _, states=self._states: states.pop(key, None))
        except TypeError:  # (an array type without weak references: the gradient replays)
            return
        self._states[key] = (ref, states)

    def kept_states(self, trips):
        """The loop variables at the start of each iteration of the run that returned the
        trip count `trips`, when kept (see keeps_states); else None."""
        found = self._states.get(id(trips))
        return found[1] if found is not None and found[0]() is trips else None

    def gradient(self):
        if self._gradient is None:
            self._gradient = _LoopGradient(self)
        return self._gradient

    def __repr__(self):
        return f"<while loop {self.__name__}>"


class _LoopGradient:
    """The while loop's VJP: replays the body `count` times to recover each iteration's
    inputs, then runs the body's backward graph from the last iteration to the first."""

    def __init__(self, loop):
        self.loop = loop
        body = loop.body.graph
        self.diff_vars = [i for i, p in enumerate(body.inputs) if p.dtype.is_differentiable]
        body_captures = [inner for _, inner in body.captures.values()]
        self.diff_captures = [j for j, c in enumerate(body_captures)
                              if c.dtype.is_differentiable]
        self.variables = [v for v in loop.variables if v.dtype.is_differentiable]
        self.graph = self._trace_backward(body, body_captures)
        self.backward = _Body(self.graph, [])
        self.__name__ = self.graph.name

    def _trace_backward(self, body, body_captures):
        """(loop vars, body captures, output cotangents) -> input cotangents, for one
        iteration: the body re-bound under a tape, in a standalone graph."""
        from tensorflux.autodiff.tape import GradientTape

        graph = Graph(name=f"{body.name}_grad")
        saved = context.tapes, context.graph
        context.tapes, context.graph = [], graph
        try:
            var_in = [graph.placeholder(p.shape, p.dtype, "var") for p in body.inputs]
            cap_in = [graph.placeholder(c.shape, c.dtype, "capture") for c in body_captures]
            grad_in = [graph.placeholder(body.inputs[i].shape, body.inputs[i].dtype, "grad")
                       for i in self.diff_vars]
            with GradientTape() as tape:
                local_vars = _local_copies(var_in, self.diff_vars, tape)
                local_caps = _local_copies(cap_in, self.diff_captures, tape)
                for v in self.variables:
                    tape.watch(v)
                env = interpret(body, local_vars, local_caps)
                outs = [env[id(body.outputs[i])] for i in self.diff_vars]
            sources = ([local_vars[i] for i in self.diff_vars]
                       + [local_caps[j] for j in self.diff_captures] + self.variables)
            grads = tape.gradient(outs, sources, output_gradients=grad_in,
                                  unconnected_gradients="zero")
            graph.outputs = [_graph_output(graph, g, "while_loop gradient") for g in grads]
        finally:
            context.tapes, context.graph = saved
        _drop_unneeded(graph)
        return graph

    def avals(self, inputs):
        loop = self.loop
        captured = inputs[loop.n_vars:loop.n_vars + loop.n_captured]
        positions = loop.body.positions
        return tuple([aval(inputs[i].shape, inputs[i].dtype) for i in self.diff_vars]
                     + [aval(captured[positions[j]].shape, captured[positions[j]].dtype)
                        for j in self.diff_captures]
                     + [aval(v.shape, v.dtype) for v in self.variables])

    def __call__(self, arrays):
        loop = self.loop
        n_vars, n_captured = loop.n_vars, loop.n_captured
        states = [list(arrays[:n_vars])]
        captured = arrays[n_vars:n_vars + n_captured]
        count = int(arrays[n_vars + n_captured])
        start = n_vars + n_captured + 1
        grads = list(arrays[start:start + len(self.diff_vars)])  # (then the Variables)
        kept = loop.kept_states(arrays[n_vars + n_captured])
        if kept is not None and len(kept) == count:
            states = kept
        for _ in range(count - len(states)):
            states.append(loop.body.run(states[-1], captured))
        body_captured = [captured[p] for p in loop.body.positions]
        n_grads = len(self.diff_vars)
        totals = None
        for step in reversed(range(count)):
            result = self.backward.run(states[step] + body_captured + grads, ())
            grads, rest = result[:n_grads], result[n_grads:]
            totals = rest if totals is None else [a + b for a, b in zip(totals, rest)]
        if totals is None:
            # No iteration: the captures and Variables got no gradient; zeros of their shapes.
            backend = context.backend or current_backend()
            body_captures = [inner for _, inner in loop.body.graph.captures.values()]
            totals = ([backend.fill_like(body_captured[j], 0, body_captures[j].dtype)
                       for j in self.diff_captures]
                      + [backend.fill_like(v._value, 0, v.dtype) for v in self.variables])
        return (*grads, *totals)

    def replay(self, loop_vars, captured, count, seeds):
        """What the kernel computes, built from differentiable ops (while loops that re-run
        the body and its backward graph): the VJP of `while_grad`, for second and higher
        derivatives. Each backward step recomputes its iteration's inputs from the start, so
        it costs count * (count + 1) / 2 body runs, paid only when differentiating twice."""
        from tensorflux.ops import array

        loop = self.loop
        body_inputs = loop.body.graph.inputs
        counter = TensorShape([])

        def state_at(k):
            # The loop variables after k iterations: the body re-run from the start.
            def step(j, *state):
                return (j + 1, *loop.body.interpret(list(state), captured))

            return while_loop(lambda j, *state: j < k, step, [0, *loop_vars],
                              shape_invariants=[counter, *[p.shape for p in body_inputs]])[1:]

        body_captured = [captured[p] for p in loop.body.positions]
        n_grads = len(self.diff_vars)

        def backward_step(k, *carry):
            inputs = list(state_at(k)) + body_captured + list(carry[:n_grads])
            result = self.backward.interpret(inputs, ())
            totals = [t + r for t, r in zip(carry[n_grads:], result[n_grads:])]
            return (k - 1, *result[:n_grads], *totals)

        zeros = ([array.zeros_like(body_captured[j]) for j in self.diff_captures]
                 + [array.zeros_like(v.read_value()) for v in self.variables])
        invariants = ([body_inputs[i].shape for i in self.diff_vars]
                      + [self.graph.inputs[len(body_inputs) + j].shape
                         for j in self.diff_captures]
                      + [v.shape for v in self.variables])
        result = while_loop(lambda k, *carry: k >= 0, backward_step,
                            [count - 1, *seeds, *zeros],
                            shape_invariants=[counter, *invariants])
        return result[1:]


def _drop_unneeded(graph):
    """Removes the nodes of a loop body's backward graph that no gradient needs, stateful
    ones included: the body's side effects (host calls, assigns, prints) happened when the
    loop ran and must not happen again for its gradient."""
    live = set()
    stack = [t for t in graph.outputs if isinstance(t, SymbolicTensor)]
    while stack:
        x = stack.pop()
        if isinstance(x, SymbolicTensor) and id(x.node) not in live:
            live.add(id(x.node))
            stack.extend(x.node.inputs)
    graph.nodes = [node for node in graph.nodes
                   if id(node) in live or node.primitive is placeholder_primitive]
    _prune_constant_table(graph)


def _while_rule(*inputs, loop):
    return loop.avals


def _while_vjp(g, *inputs, out, loop):
    gradient = loop.gradient()
    n_vars, n_captured = loop.n_vars, loop.n_captured
    result = [None] * len(inputs)
    if not gradient.diff_vars:
        return tuple(result)
    loop_vars = inputs[:n_vars]
    captured = inputs[n_vars:n_vars + n_captured]
    seeds = [g[i] for i in gradient.diff_vars]
    grads = _while_grad.bind(*loop_vars, *captured, out[-1], *seeds, *gradient.variables,
                             grad=gradient)
    grads = iter(grads)
    for i in gradient.diff_vars:
        result[i] = next(grads)
    for j in gradient.diff_captures:
        result[n_vars + loop.body.positions[j]] = next(grads)
    variable_index = {id(v): n_vars + n_captured + k for k, v in enumerate(loop.variables)}
    for v in gradient.variables:
        result[variable_index[id(v)]] = next(grads)
    return tuple(result)


# while: runs the body sub-graph while the cond sub-graph is true; outputs the final loop
# variables and the trip count. Gradient: while_grad.
_while = Primitive("while", vjp=_while_vjp, shape_rule=_while_rule, kernel="while_loop",
                   multiple_results=True)
# stateful_while: the same, for loops with stateful ops, which graph passes must keep.
_stateful_while = Primitive("stateful_while", vjp=_while_vjp, shape_rule=_while_rule,
                            kernel="while_loop", multiple_results=True, stateful=True)


def _while_grad_vjp(g, *inputs, out, grad):
    """The gradient of the loop's gradient: that of `grad.replay`, which computes the same
    values from differentiable ops (so third and higher orders follow the same way)."""
    from tensorflux.autodiff.tape import GradientTape

    loop = grad.loop
    n_vars, n_captured = loop.n_vars, loop.n_captured
    start = n_vars + n_captured + 1
    diff = [i for i, x in enumerate(inputs) if i != start - 1 and x.dtype.is_differentiable]
    seeded = [(k, gk) for k, gk in enumerate(g) if gk is not None]
    if not diff or not seeded:
        return (None,) * len(inputs)
    with GradientTape() as tape:
        local = _local_copies(inputs, diff, tape)
        outs = grad.replay(local[:n_vars], local[n_vars:start - 1], inputs[start - 1],
                           local[start:start + len(grad.diff_vars)])
    grads = tape.gradient([outs[k] for k, _ in seeded], [local[i] for i in diff],
                          output_gradients=[gk for _, gk in seeded])
    result = [None] * len(inputs)
    for i, gi in zip(diff, grads):
        result[i] = gi
    return tuple(result)


# while_grad: a while loop's VJP, as one node whose kernel replays the body forward and runs
# its backward graph per iteration. Inputs: the loop variables and captures, the trip count,
# the output cotangents and the Variables the gradient reaches. Its own gradient
# differentiates an equivalent loop of differentiable ops (_LoopGradient.replay).
_while_grad = Primitive("while_grad", vjp=_while_grad_vjp,
                        shape_rule=lambda *inputs, grad: grad.avals(inputs),
                        multiple_results=True)


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, maximum_iterations=None, name=None):
    """Repeats `loop_vars = body(*loop_vars)` while `cond(*loop_vars)` is true.

    `loop_vars` is a list or tuple (nested structures allowed). As in TF, in a traced
    function the result has loop_vars' structure, and a body may return a single tensor for
    a single loop variable; eagerly the loop is a Python loop whose result is the body's last
    return value (a list or tuple, holding loop_vars' nested structures), or loop_vars if it
    never ran. In a traced function it is one `while` node; the body must keep each loop
    variable's dtype and shape (or a shape in `shape_invariants`).

    >>> import tensorflux as tf
    >>> from tensorflux.graph.control_flow import while_loop
    >>> while_loop(lambda i, s: i < 4, lambda i, s: (i + 1, s * 2.0),
    ...            [tf.constant(0), tf.constant(1.0)])[1].numpy().item()
    16.0
    """
    if not callable(cond) or not callable(body):
        raise TypeError(f"while_loop: cond and body must be callable, received {cond!r} and "
                        f"{body!r}")
    if not isinstance(loop_vars, (list, tuple)):
        raise TypeError("while_loop: loop_vars must be a list or tuple of the loop variables "
                        f"(as TF's tf.while_loop), received {loop_vars!r}")
    eager = context.graph is None
    if eager and not loop_vars:
        raise ValueError("'loop_vars' must be provided.")
    leaves = []
    skeleton = _flatten(loop_vars, leaves)
    leaves = [_loop_tensor(x) for x in leaves]
    functions = _LoopFunctions(cond, body, skeleton, [x.dtype for x in leaves], eager)
    if eager:
        result = _eager_loop(functions, leaves, maximum_iterations)
    else:
        invariants = _invariants(leaves, shape_invariants)
        result = _traced_loop(functions, leaves, invariants, maximum_iterations)
    packed = _pack(skeleton, iter(result))
    kind = functions.result_kind
    if kind is None or kind is type(packed):
        return packed
    return kind(*packed) if hasattr(kind, "_fields") else kind(packed)


def _loop_tensor(x):
    if isinstance(x, Variable):
        return x.read_value()
    if isinstance(x, _TensorLike):
        return x
    return convert_to_tensor(x)


def _is_nested(value):
    """Whether tf.nest sees a structure (a TensorArray, a tuple here, is one value)."""
    from tensorflux.tensor_array import TensorArray

    return isinstance(value, (list, tuple, dict)) and not isinstance(value, TensorArray)


class _LoopFunctions:
    """cond and body called on flat leaves (packed into loop_vars' structure), with the
    body's results checked against that structure and converted to the loop dtypes.

    As TF checks it: traced, a body's result that is not a structure is the single loop
    variable, and lists and tuples match each other; eagerly, the result is iterated as the
    loop variables (their nested lists and tuples must be loop_vars' own), and its type is
    the loop's result type (`result_kind`)."""

    def __init__(self, cond, body, skeleton, dtypes, eager):
        self.cond_fn, self.body_fn = cond, body
        self.skeleton, self.dtypes, self.eager = skeleton, dtypes, eager
        self.result_kind = None

    def _call(self, fn, leaves):
        return fn(*_pack(self.skeleton, iter(leaves)))

    def cond(self, *leaves):
        return self._call(self.cond_fn, leaves)

    def body(self, *leaves):
        result = self._call(self.body_fn, leaves)
        if self.eager:
            if not isinstance(result, (list, tuple)):
                result = list(result)  # as TF: a scalar tensor or a number is an error here
            self.result_kind = type(result)
        elif not _is_nested(result):
            result = [result]
        found = []
        got = _flatten(list(result) if self.eager else result, found)
        if _same_structure(got) != _same_structure(self.skeleton):
            raise ValueError(_structure_message(self.skeleton, result))
        if self.eager and [skeleton_key(c) for c in _children(got)] != [
                skeleton_key(c) for c in _children(self.skeleton)]:
            raise TypeError(_structure_message(self.skeleton, result))
        return [_loop_tensor(x) if isinstance(x, _TensorLike)
                else convert_to_tensor(x, dtype=dtype) for x, dtype in zip(found, self.dtypes)]


def _structure_message(skeleton, result):
    expected = _pack(skeleton, itertools.repeat("."))
    return ("The two structures don't have the same nested structure.\n\n"
            f"First structure (loop_vars): {expected!r}\n\n"
            f"Second structure (what the body returned): {result!r}")


def _eager_loop(functions, leaves, maximum_iterations):
    limit = None if maximum_iterations is None else int(_loop_tensor(maximum_iterations))
    count = 0
    while limit is None or count < limit:
        if not _eager_bool(functions.cond(*leaves)):
            break
        leaves = functions.body(*leaves)
        count += 1
    return leaves


def _traced_loop(functions, leaves, invariants, maximum_iterations):
    avals = [aval(s, x.dtype) for s, x in zip(invariants, leaves)]
    # (The gradient replays the body: its random draws take seeds from outside the loop,
    # mixed with the iteration number, so that the replay draws the forward's numbers.)
    cond_graph, _ = _trace_subgraph(functions.cond, avals, "while_cond", in_loop=True)
    if len(cond_graph.outputs) != 1:
        raise errors.InvalidArgumentError(
            f"while_loop: cond must return one scalar bool tensor, received "
            f"{len(cond_graph.outputs)} values", "while_loop")
    _check_predicate("while_loop", cond_graph.outputs[0])
    body_graph, _ = _trace_subgraph(functions.body, avals, "while_body", in_loop=True)
    for k, (x, out, shape) in enumerate(zip(leaves, body_graph.outputs, invariants)):
        if out.dtype is not x.dtype:  # a TypeError, as TF's
            raise TypeError(f"while_loop: loop variable {k} enters the loop as {x.dtype.name} "
                            f"but the body returns {out.dtype.name}")
        if not _fits(shape, out.shape):
            raise errors.InvalidArgumentError(
                f"while_loop: loop variable {k} enters the loop with shape {shape}, but has "
                f"shape {out.shape} after one iteration. To allow the shape to vary across "
                "iterations, use the `shape_invariants` argument of tf.while_loop to specify "
                "a less-specific shape.", "while_loop")
    counted = cond_graph.iteration is not None or body_graph.iteration is not None
    if counted:
        leaves, avals = _count_iterations(cond_graph, body_graph, leaves, avals)
    captured, variables, (cond_body, body_body) = _node_inputs([cond_graph, body_graph])
    extra = []
    if maximum_iterations is not None:
        limit = _loop_tensor(maximum_iterations)
        if not limit.dtype.is_integer or limit.shape.rank not in (0, None):
            raise errors.InvalidArgumentError(
                f"while_loop: maximum_iterations must be a scalar integer, received shape "
                f"{limit.shape} and dtype {limit.dtype.name}", "while_loop")
        extra.append(limit)
    out_avals = tuple(avals) + (aval((), int32),)
    loop = _Loop(cond_body, body_body, len(leaves), len(captured), variables, bool(extra),
                 out_avals)
    primitive = _stateful_while if _is_stateful([cond_graph, body_graph]) else _while
    outputs = primitive.bind(*leaves, *captured, *variables, *extra, loop=loop)
    return list(outputs[1 if counted else 0:-1])


def _count_iterations(cond_graph, body_graph, leaves, avals):
    """Makes the iteration number that the loop's random draws read (Graph.iteration) a
    hidden first loop variable, 0 on entry and +1 per iteration: the gradient's replay of
    the body, which runs from the loop's initial variables, then sees each iteration's own
    number, as the forward loop did."""
    from tensorflux.ops import math

    for graph in (cond_graph, body_graph):
        graph.inputs.insert(0, graph.iteration_counter())
    saved = context.tapes, context.graph
    context.tapes, context.graph = [], body_graph
    try:
        body_graph.outputs.insert(0, math.add(body_graph.iteration, 1))
    finally:
        context.tapes, context.graph = saved
    start = convert_to_tensor(0, dtype=int32)
    return [start, *leaves], [aval((), int32), *avals]


def _invariants(leaves, shape_invariants):
    if shape_invariants is None:
        return [x.shape for x in leaves]
    given = []
    _flatten(shape_invariants, given)
    if len(given) != len(leaves):
        raise errors.InvalidArgumentError(
            f"while_loop: shape_invariants must have the structure of loop_vars "
            f"({len(leaves)} tensors), received {shape_invariants!r}", "while_loop")
    shapes = [TensorShape(s) for s in given]
    for k, (x, shape) in enumerate(zip(leaves, shapes)):
        if not _fits(shape, x.shape):
            raise errors.InvalidArgumentError(
                f"while_loop: loop variable {k} enters the loop with shape {x.shape}, which "
                f"does not fit its shape invariant {shape}", "while_loop")
    return shapes


def _fits(invariant, shape):
    """Whether `shape` is at least as specific as `invariant`."""
    if invariant.rank is None:
        return True
    if shape.rank != invariant.rank:
        return False
    return all(i is None or i == s for i, s in zip(invariant, shape))
