"""Graph optimization passes that tf.function runs after each trace: algebraic simplification,
constant folding, common-subexpression elimination, dead-code elimination, masks moved to
the pooled side of max-pool gradients and sums of those gradients taken over their pooled
cotangents, a relu after a training-mode batch normalization (and its gradient's mask) folded
into the normalization's kernels (activation="relu"), fusion of elementwise chains into one
`fused_elementwise` kernel, of a convolution's bias and activation into `fused_conv2d`, and of
a max-pool gradient into the filter gradient that alone reads it
(`fused_conv2d_backprop_filter`).

Every pass is a pure function Graph -> Graph: it rewrites a clone of its argument and returns
that, so the graph it was given stays as it was for before/after comparisons (the `_name`
helpers below do the in-place work on the clone). The rules all passes keep:

- Nodes of stateful primitives (assign, print) and random draws are never removed, merged,
  folded or moved, and neither are the nodes they depend on.
- Program order is kept for every node that stays: it is what orders Variable reads and
  assignments. A Variable read is never moved past an assignment to that Variable.
- `graph.outputs` stays valid: when a pass replaces an output tensor by an equal earlier
  one, the output object takes the earlier one's place, or, where it cannot (the earlier one
  is an input or another output), graph.outputs lists the earlier tensor instead.
- Gradients are unchanged: gradients traced inside a function are built before the passes
  run, and a fused node is expanded back into its primitives when a tape watches the call.
"""

import contextlib
import math
import threading

from tensorflux import dtypes, errors
from tensorflux.backends import default_backend
from tensorflux.graph.ir import GraphNode, SymbolicTensor, const_primitive, placeholder_primitive
from tensorflux.primitive import Primitive, registry
from tensorflux.tensor_shape import TensorShape
from tensorflux.variable import Variable

__all__ = ["optimize", "simplify", "fold_constants", "eliminate_common_subexpressions",
           "eliminate_dead_code", "fuse_elementwise", "fold_conv2d_pads", "clone",
           "expand_fused", "fused_elementwise_primitive", "fused_conv2d_primitive", "disabled",
           "enabled", "FOLD_LIMIT", "mask_pool_gradients", "sum_pool_gradients",
           "fuse_conv2d_epilogues", "fused_conv2d_backprop_filter_primitive",
           "fuse_pool_gradient_filters", "fuse_batch_norm_activations"]

# Constant folding leaves results with more elements than this to run time: a folded
# constant lives as long as the graph does.
FOLD_LIMIT = 1_000_000
# Constants with at most this many elements are compared by value (for CSE and x*1 rules).
_SMALL_CONSTANT = 64



class _State(threading.local):
    # (per thread, as TF's context is: one thread's disabled() block changes no other
    # thread's calls, and a plan built for one state is never built under the other)
    enabled = True


_state = _State()


def enabled():
    """Whether the passes run (False within `disabled()`)."""
    return _state.enabled


@contextlib.contextmanager
def disabled():
    """Within this block (on this thread: other threads keep their own state), tf.function
    calls run their graphs as traced (optimize() does nothing; a function traced before runs
    its trace here, without tracing again, and one traced here is optimized on its first
    call after), and eager Conv layers run their convolution, bias and relu as the separate
    ops the passes would fuse (ops.nn.conv2d_bias_relu steps aside): to look at a traced
    graph as written, to run passes one by one, or to compare fused results with unfused
    ones.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> with passes.disabled():
    ...     g = tf.function(lambda x: x * 1.0).get_concrete_function(tf.TensorSpec([2])).graph
    >>> [n.type for n in g.nodes]
    ['placeholder', 'const', 'multiply']
    """
    previous = _state.enabled
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


# ------------------------------------------------------------------ the fused primitive

def _fused_rule(*inputs, program):
    from tensorflux.ops._core import aval, broadcast_shapes

    shape = broadcast_shapes("fused_elementwise", *[x.shape for x in inputs]) if inputs \
        else TensorShape([])
    return aval(shape, program[-1][3])


# fused_elementwise: a tree of elementwise primitives run as one kernel. `program` is a tuple
# of instructions (kernel name, operand registers, attrs as sorted (name, value) pairs, result
# DType); registers 0..n-1 are the node's inputs and register n+j is instruction j's result;
# the last instruction's result is the output. No VJP (vjp=None): the passes run after
# tracing, when gradients inside the function have already been built from the unfused ops,
# and a tape watching a call sees the expanded primitives (see expand_fused).
fused_elementwise_primitive = Primitive("fused_elementwise", shape_rule=_fused_rule)

# Elementwise primitives that fusion may merge: their kernels broadcast their operands and
# return new arrays (never views), and their primitive name is their kernel name.
_ELEMENTWISE = frozenset("""
add subtract multiply divide floordiv floormod pow maximum minimum atan2 mul_no_nan
negative abs sign square sqrt rsqrt reciprocal exp expm1 log log1p sin cos tan tanh sinh cosh
asin acos atan erf sigmoid softplus softsign round floor ceil conj
relu relu6 elu
equal not_equal less less_equal greater greater_equal
logical_and logical_or logical_xor logical_not bitwise_not is_nan is_finite is_inf
select cast
""".split())


def _fused_conv2d_rule(x, filters, *inputs, program, register, **conv_attrs):
    from tensorflux.ops._core import aval

    conv = registry["conv2d"].shape_rule(x, filters, **conv_attrs)
    return aval(conv.shape, program[-1][3])


def _fused_conv2d_vjp(g, x, filters, *inputs, out, wanted, program, register, **conv_attrs):
    """The cotangents of a fused convolution whose program is a chain of adds of one input
    each (a bias), then perhaps relu: what eager Conv layers bind (ops.nn.conv2d_bias_relu).
    They are the VJPs the unfused primitives' nodes would run, from the last instruction
    back, so a tape gets the same ops and bits: none reads a value but the output (add's
    read nothing, relu's mask is the output's sign), which is all a fused call keeps; the
    walker sums a bias's cotangent to its shape as it sums the add's. Other programs have no
    VJP: the passes' fused nodes are expanded for tapes instead (expand_fused)."""
    n = len(inputs) + 1
    grads = [None] * n
    running = g
    for j in range(len(program) - 1, -1, -1):
        name, refs, _, _ = program[j]
        previous = register if j == 0 else n + j - 1
        others = [r for r in refs if r != previous]
        if name == "relu":
            known = refs == (previous,) and j == len(program) - 1
        else:  # (an add of an input that no other instruction reads)
            known = (name == "add" and len(refs) == 2 and len(others) == 1
                     and others[0] < n and others[0] != register and grads[others[0]] is None)
        if not known:
            raise errors.UnimplementedError(
                f"No gradient is defined for fused_conv2d with the program {program}.",
                "fused_conv2d")
        cotangents = registry[name].vjp(running, *[None] * len(refs), out=out)
        for ref, cotangent in zip(refs, cotangents):
            if ref == previous:
                running = cotangent
            else:
                grads[ref] = cotangent
    conv_grads = registry["conv2d"].vjp(running, x, filters, out=None, wanted=wanted[:2],
                                        **conv_attrs)
    return tuple(conv_grads) + tuple(grads[r] for r in range(n) if r != register)


# fused_conv2d: conv2d(x, filters) followed by a fused_elementwise program on its output (a
# bias and an activation) with the other inputs, broadcast over its channels; the output is
# the program's input number `register`. The backend may run the program on each part of the
# convolution's output as it is made. The passes make it after tracing, and expand it back
# into its primitives for tapes (expand_fused); eager Conv layers bind it with a bias and
# relu, whose gradient the VJP above gives from the output.
fused_conv2d_primitive = Primitive("fused_conv2d", vjp=_fused_conv2d_vjp,
                                   shape_rule=_fused_conv2d_rule, vjp_wanted=True)
_CONV_ATTRS = ("strides", "padding", "dilations", "data_format")


def _pool_filter_grad_rule(x, y, g, *, filter_shape, **attrs):
    from tensorflux.ops._core import aval

    return aval(tuple(filter_shape), x.dtype)


# fused_conv2d_backprop_filter: conv2d_backprop_filter(x, max_pool2d_grad(y, g)), the filter
# gradient of a convolution followed by max pooling, where nothing else reads the pool's
# gradient: the backend may make that gradient a piece of the batch at a time and contract
# it with the piece's columns while in cache. Attributes: conv2d_backprop_filter's, and the
# pool's as pool_ksize, pool_strides, pool_padding (its data_format is the convolution's).
# It exists only after the passes and is expanded back into its primitives for tapes.
fused_conv2d_backprop_filter_primitive = Primitive("fused_conv2d_backprop_filter",
                                                   shape_rule=_pool_filter_grad_rule)
_POOL_ATTRS = {"pool_ksize": "ksize", "pool_strides": "strides", "pool_padding": "padding"}


def expand_fused(node, args):
    """Runs a fused node's program by binding each original primitive on `args` (tensors):
    used when a tape watches a call, or when the graph is inlined into another trace."""
    if node.primitive is fused_conv2d_backprop_filter_primitive:
        x, y, g = args
        attrs = dict(node.attrs)
        pool = {name: attrs.pop(key) for key, name in _POOL_ATTRS.items()}
        routed = registry["max_pool2d_grad"].bind(y, g, data_format=attrs["data_format"],
                                                  **pool)
        return registry["conv2d_backprop_filter"].bind(x, routed, **attrs)
    registers = list(args)
    if node.primitive is fused_conv2d_primitive:
        conv = registry["conv2d"].bind(args[0], args[1],
                                       **{k: node.attrs[k] for k in _CONV_ATTRS})
        registers = list(args[2:])
        registers.insert(node.attrs["register"], conv)
    for name, refs, attrs, _ in node.attrs["program"]:
        registers.append(registry[name].bind(*[registers[r] for r in refs], **dict(attrs)))
    return registers[-1]


# ------------------------------------------------------------------ shared helpers

def _pinned(node):
    """Stateful nodes and random draws: never removed, merged, folded or moved."""
    prim = node.primitive
    return prim.stateful or prim.name.startswith("random_") or (
        prim.multiple_results and not node.outputs)


def _storage(variable):
    """Variables whose buffers share memory (a model variable that is a view of an
    optimizer's flat buffer) are one Variable for ordering: the id of the owning buffer."""
    raw = variable._value
    while getattr(raw, "base", None) is not None:
        raw = raw.base
    return id(raw)


def _outputs(node):
    return node.outputs if isinstance(node.outputs, tuple) else (node.outputs,)


def _producer(x, name=None):
    """The node making symbolic tensor x (if its primitive is `name`, when given)."""
    if not isinstance(x, SymbolicTensor):
        return None
    node = x.node
    if name is not None and node.primitive.name != name:
        return None
    return node


def _is_const(x):
    return isinstance(x, SymbolicTensor) and x.node.primitive is const_primitive


def _const_values(x):
    """The elements of a small numeric const as a Python list, else None."""
    if not _is_const(x) or not (x.dtype.is_floating or x.dtype.is_integer or x.dtype.is_complex):
        return None
    value = x.node.attrs["value"]
    size = getattr(value, "size", None)
    if size is None or size > _SMALL_CONSTANT:
        return None
    flat = value.reshape(-1).tolist()
    return flat if isinstance(flat, list) else [flat]


def _const_all_equal(x, number):
    values = _const_values(x)
    return values is not None and all(v == number for v in values)


def _same_type(x, out):
    """x is a symbolic tensor with the same static shape (rank known) and dtype as out: the
    value of out can be x itself. Variables never qualify: their value changes over time."""
    return (isinstance(x, SymbolicTensor) and x.dtype is out.dtype
            and x.shape.rank is not None and out.shape.rank is not None
            and tuple(x.shape) == tuple(out.shape))


class _Rewrite:
    """Replacement of tensors by equal tensors, for passes that drop nodes."""

    def __init__(self, graph):
        self.graph = graph
        self.output_ids = {id(t) for t in graph.outputs}
        self.fixed_ids = self.output_ids | {id(t) for t in graph.inputs} | {
            id(inner) for _, inner in graph.captures.values()}
        self.subst = {}  # id(old) -> (old, new); old is kept so that its id stays unique

    def resolve(self, x):
        entry = self.subst.get(id(x))
        while entry is not None:
            x = entry[1]
            entry = self.subst.get(id(x))
        return x

    def fix_inputs(self, node):
        if any(id(x) in self.subst for x in node.inputs):
            node.inputs = tuple(self.resolve(x) for x in node.inputs)

    def can_replace(self, old, new):
        new = self.resolve(new)
        return old is not new and isinstance(new, SymbolicTensor)

    def _renamable(self, new):
        """Whether a graph output can take new's place: new must be an ordinary node's output
        that no one else pins."""
        return id(new) not in self.fixed_ids and new.node.primitive is not placeholder_primitive

    def replace(self, old, new):
        """Uses of old read new from now on (the caller then drops old's node).

        A graph output keeps its tensor object by taking new's place when it can; otherwise
        (new is an input, or another output) graph.outputs lists new instead.
        """
        new = self.resolve(new)
        if id(old) not in self.output_ids:
            self.subst[id(old)] = (old, new)
            return
        if not self._renamable(new):
            self.graph.outputs = [new if t is old else t for t in self.graph.outputs]
            self.output_ids.add(id(new))
            self.fixed_ids.add(id(new))
            self.subst[id(old)] = (old, new)
            return
        node = new.node
        if isinstance(node.outputs, tuple):
            node.outputs = tuple(old if o is new else o for o in node.outputs)
        else:
            node.outputs = old
        old.node, old.index = node, new.index
        self.subst[id(new)] = (new, old)
        self.fixed_ids.add(id(old))

    def finish(self, kept):
        self.graph.nodes = kept
        if self.subst:
            for node in kept:
                self.fix_inputs(node)


def _prune_constant_table(graph):
    """Forgets the trace-time table entries of const nodes that a pass removed."""
    alive = {id(node) for node in graph.nodes}
    table = getattr(graph, "_constants", None)
    if table:
        for key in [k for k, (_, t) in table.items() if id(t.node) not in alive]:
            del table[key]


# ------------------------------------------------------------------ 1. dead code

def eliminate_dead_code(graph):
    """Removes nodes whose outputs reach no graph output and no stateful node.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> def f(x):
    ...     unused = tf.exp(x)
    ...     return x * 2.0
    >>> with passes.disabled():
    ...     g = tf.function(f).get_concrete_function(tf.TensorSpec([2])).graph
    >>> [n.type for n in passes.eliminate_dead_code(g).nodes]
    ['placeholder', 'const', 'multiply']
    """
    graph = clone(graph)
    _dead_code(graph)
    return graph


def _dead_code(graph):
    live = set()
    stack = [t for t in graph.outputs if isinstance(t, SymbolicTensor)]
    for node in graph.nodes:
        if node.primitive is placeholder_primitive or _pinned(node):
            live.add(id(node))
            stack.extend(node.inputs)
    while stack:
        x = stack.pop()
        if isinstance(x, SymbolicTensor) and id(x.node) not in live:
            live.add(id(x.node))
            stack.extend(x.node.inputs)
    kept = [node for node in graph.nodes if id(node) in live]
    changed = len(kept) != len(graph.nodes)
    if changed:
        graph.nodes = kept
        _prune_constant_table(graph)
    return changed


# ------------------------------------------------------------------ 2. constant folding

def fold_constants(graph, limit=FOLD_LIMIT):
    """Evaluates nodes whose inputs are all constants (with the default backend's kernels)
    and makes them const nodes; results over `limit` elements and random draws stay.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> with passes.disabled():
    ...     g = tf.function(lambda x: x * (tf.constant(2.0) + 1.0)).get_concrete_function(
    ...         tf.TensorSpec([2])).graph
    >>> [n.type for n in passes.fold_constants(g).nodes]
    ['placeholder', 'const', 'const', 'const', 'multiply']
    """
    graph = clone(graph)
    _fold(graph, limit)
    return graph


def _fold(graph, limit=FOLD_LIMIT):
    backend = default_backend()
    changed = False
    for node in graph.nodes:
        prim = node.primitive
        if prim.kernel is None or prim.multiple_results or _pinned(node):
            continue
        out = node.outputs
        size = out.shape.num_elements()
        if size is not None and size > limit:
            continue
        try:
            if prim.name == "fill_like":
                # Depends only on its input's shape, which is often static (zeros_like in
                # gradients): foldable whatever computes the input.
                if not out.shape.is_fully_defined():
                    continue
                value = backend.fill(tuple(out.shape), node.attrs["value"], node.attrs["dtype"])
            elif all(_is_const(x) for x in node.inputs):
                kernel = getattr(backend, prim.kernel)
                value = kernel(*[x.node.attrs["value"] for x in node.inputs], **node.attrs)
            else:
                continue
        except Exception:  # noqa: BLE001 - the error shows when the graph runs, as unfolded
            continue
        if getattr(value, "size", 0) > limit:
            continue
        node.primitive = const_primitive
        node.inputs = ()
        node.attrs = {"value": value, "dtype": out.dtype}
        changed = True
    return changed


# ------------------------------------------------------------------ 3. common subexpressions

def eliminate_common_subexpressions(graph):
    """Merges nodes with the same primitive, inputs and attributes into the first one.

    A Variable input counts as the same input only if no stateful node (an assign) wrote
    that Variable between the two nodes; attributes that are arrays or other unhashable
    objects are equal only when they are the same object.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> with passes.disabled():
    ...     g = tf.function(lambda x: tf.exp(x) + tf.exp(x)).get_concrete_function(
    ...         tf.TensorSpec([2])).graph
    >>> [n.type for n in passes.eliminate_common_subexpressions(g).nodes]
    ['placeholder', 'exp', 'add']
    """
    graph = clone(graph)
    _cse(graph)
    return graph


def _cse(graph):
    rewrite = _Rewrite(graph)
    versions = {}  # id(Variable) -> writes so far
    epoch = 0  # stateful nodes that write no Variable input (print, nested bodies...)
    seen = {}
    kept = []
    changed = False
    for node in graph.nodes:
        rewrite.fix_inputs(node)
        if node.primitive is placeholder_primitive:
            kept.append(node)
            continue
        if _pinned(node):
            variables = [x for x in node.inputs if isinstance(x, Variable)]
            for v in variables:
                versions[_storage(v)] = versions.get(_storage(v), 0) + 1
            if not variables and not node.primitive.name.startswith("random_"):
                epoch += 1
            kept.append(node)
            continue
        key = _node_key(node, versions, epoch)
        first = seen.get(key) if key is not None else None
        if first is not None:
            pairs = list(zip(_outputs(node), _outputs(first)))
            if all(rewrite.can_replace(old, new) for old, new in pairs):
                for old, new in pairs:
                    rewrite.replace(old, new)
                changed = True
                continue
        elif key is not None:
            seen[key] = node
        kept.append(node)
    rewrite.finish(kept)
    if changed:
        _prune_constant_table(graph)
    return changed


def _node_key(node, versions, epoch):
    if node.primitive is const_primitive:
        return _const_key(node)
    inputs = []
    for x in node.inputs:
        if isinstance(x, Variable):
            inputs.append(("var", id(x), versions.get(_storage(x), 0), epoch))
        else:
            inputs.append(id(x))
    attrs = tuple((k, _attr_key(v)) for k, v in sorted(node.attrs.items()))
    return (node.primitive.name, tuple(inputs), attrs)


def _const_key(node):
    value = node.attrs["value"]
    dtype = node.attrs["dtype"]
    size = getattr(value, "size", None)
    if size is None or size > _SMALL_CONSTANT or dtype is dtypes.string or \
            getattr(getattr(value, "dtype", None), "kind", "O") == "O":
        return None
    return ("const", dtype, tuple(value.shape), value.tobytes())


def _attr_key(value):
    """A key equal for equal attribute values; identity for anything not plainly comparable."""
    if isinstance(value, tuple):
        return ("tuple", tuple(_attr_key(v) for v in value))
    if isinstance(value, float):
        # -0.0 == 0.0, but they are different attributes (a fill value, a clip bound).
        return (float, value, math.copysign(1.0, value))
    if value is None or isinstance(value, (bool, int, str, bytes, complex)):
        return (type(value), value)
    if isinstance(value, (dtypes.DType, TensorShape)):
        return (type(value), value)
    return ("id", id(value))


# ------------------------------------------------------------------ 4. algebraic simplification

def simplify(graph):
    """Algebraic rewrites: x*1, 1*x, x+0, 0+x, x-0, x/1 (when broadcasting the constant does
    not change the result's shape or dtype), transpose of transpose, reshape of reshape, cast
    to the same dtype, identity of a computed tensor, negative(negative(x)), a reduction over
    no axes.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> with passes.disabled():
    ...     g = tf.function(lambda x: tf.exp(x) * 1.0 + 0.0).get_concrete_function(
    ...         tf.TensorSpec([2])).graph
    >>> [n.type for n in passes.eliminate_dead_code(passes.simplify(g)).nodes]
    ['placeholder', 'exp']
    """
    graph = clone(graph)
    _simplify(graph)
    return graph


def _simplify(graph):
    rewrite = _Rewrite(graph)
    kept = []
    changed = False
    for node in graph.nodes:
        rewrite.fix_inputs(node)
        if node.primitive.multiple_results or _pinned(node) or node.primitive.kernel is None:
            kept.append(node)
            continue
        rewritten, same = _simplified(node)
        changed = changed or rewritten
        if same is not None and rewrite.can_replace(node.outputs, same):
            rewrite.replace(node.outputs, same)
            changed = True
            continue
        kept.append(node)
    rewrite.finish(kept)
    return changed


_REDUCTIONS = frozenset({"reduce_sum", "reduce_mean", "reduce_max", "reduce_min",
                         "reduce_prod"})


def _simplified(node):
    """(whether node was rewritten in place, a tensor equal to its output or None)."""
    name = node.primitive.name
    inputs = node.inputs
    out = node.outputs
    if name in ("multiply", "add"):
        unit = 1 if name == "multiply" else 0
        for keep, other in ((0, 1), (1, 0)):
            if _const_all_equal(inputs[other], unit) and _same_type(inputs[keep], out):
                return False, inputs[keep]
    elif name in ("subtract", "divide"):
        unit = 0 if name == "subtract" else 1
        if _const_all_equal(inputs[1], unit) and _same_type(inputs[0], out):
            return False, inputs[0]
    elif name == "cast":
        if inputs[0].dtype is node.attrs["dtype"] and _same_type(inputs[0], out):
            return False, inputs[0]
    elif name == "identity":
        if _same_type(inputs[0], out):
            return False, inputs[0]
    elif name in _REDUCTIONS and tuple(node.attrs.get("axis", (0,))) == ():
        # Reducing over no axes returns the input's values (a loss already reduced to a
        # scalar gets one more reduce_sum in Keras's loss wrapper).
        if _same_type(inputs[0], out):
            return False, inputs[0]
    elif name == "negative":
        inner = _producer(inputs[0], "negative")
        if inner is not None and _same_type(inner.inputs[0], out):
            return False, inner.inputs[0]
    elif name == "transpose":
        return _simplified_transpose(node)
    elif name == "reshape":
        return _simplified_reshape(node)
    return False, None


def _simplified_transpose(node):
    x = node.inputs[0]
    perm = tuple(node.attrs["perm"])
    rewritten = False
    inner = _producer(x, "transpose")
    if inner is not None and isinstance(inner.inputs[0], SymbolicTensor):
        inner_perm = tuple(inner.attrs["perm"])
        perm = tuple(inner_perm[p] for p in perm)
        x = inner.inputs[0]
        node.inputs = (x,)
        node.attrs = {**node.attrs, "perm": perm}
        rewritten = True
    if perm == tuple(range(len(perm))) and _same_type(x, node.outputs):
        return rewritten, x
    return rewritten, None


def _simplified_reshape(node):
    x = node.inputs[0]
    shape = tuple(node.attrs["shape"])
    rewritten = False
    inner = _producer(x, "reshape")
    if inner is not None and isinstance(inner.inputs[0], SymbolicTensor):
        x = inner.inputs[0]
        node.inputs = (x,)
        rewritten = True
    if -1 not in shape and x.shape.is_fully_defined() and tuple(x.shape) == shape \
            and _same_type(x, node.outputs):
        return rewritten, x
    return rewritten, None


# ------------------------------------------------------------------ 5. elementwise fusion

def fuse_elementwise(graph):
    """Replaces each maximal tree of elementwise nodes, whose inner results have one consumer
    and are not graph outputs, by one `fused_elementwise` node at the root's place.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> with passes.disabled():
    ...     g = tf.function(lambda x: tf.sigmoid(x * 2.0 + 1.0)).get_concrete_function(
    ...         tf.TensorSpec([2])).graph
    >>> [n.type for n in passes.fuse_elementwise(g).nodes]
    ['placeholder', 'const', 'const', 'fused_elementwise']
    """
    graph = clone(graph)
    _fuse(graph)
    return graph


def _fusable(node):
    prim = node.primitive
    if prim.name not in _ELEMENTWISE or prim.multiple_results or prim.kernel != prim.name:
        return False
    for x in node.inputs:
        if x.dtype is dtypes.string:
            return False
    return node.outputs.dtype is not dtypes.string


def _fuse(graph):
    nodes = graph.nodes
    position = {id(node): i for i, node in enumerate(nodes)}
    consumers = {}
    writes = {}  # id(Variable) -> positions of the stateful nodes that take it as input
    for i, node in enumerate(nodes):
        for x in node.inputs:
            consumers.setdefault(id(x), set()).add(id(node))
            if isinstance(x, Variable) and _pinned(node):
                writes.setdefault(_storage(x), []).append(i)
    output_ids = {id(t) for t in graph.outputs}

    def movable(member, root_position):
        # A member runs at the root's place: no Variable it reads may be written in between.
        start = position[id(member)]
        for x in member.inputs:
            if isinstance(x, Variable):
                if any(start < w < root_position for w in writes.get(_storage(x), ())):
                    return False
        return True

    group_of = {}
    groups = []
    for root in reversed(nodes):
        if id(root) in group_of or not _fusable(root):
            continue
        root_position = position[id(root)]
        members = [root]
        group_of[id(root)] = root
        frontier = [root]
        while frontier:
            member = frontier.pop()
            for x in member.inputs:
                if not isinstance(x, SymbolicTensor) or id(x) in output_ids:
                    continue
                producer = x.node
                if (id(producer) in group_of or id(producer) not in position
                        or not _fusable(producer) or len(consumers[id(x)]) != 1
                        or not movable(producer, root_position)):
                    continue
                members.append(producer)
                group_of[id(producer)] = root
                frontier.append(producer)
        if len(members) > 1:
            groups.append(members)
    if not groups:
        return False
    replaced = {}
    for members in groups:
        fused = _fused_node(graph, sorted(members, key=lambda n: position[id(n)]))
        for member in members:
            replaced[id(member)] = None
        replaced[id(members[0])] = fused
    kept = []
    for node in nodes:
        if id(node) not in replaced:
            kept.append(node)
        elif replaced[id(node)] is not None:
            kept.append(replaced[id(node)])
    graph.nodes = kept
    return True


def _fused_node(graph, members):
    """One fused node computing members (in program order; the last one is the root)."""
    produced = {id(m.outputs) for m in members}
    inputs = []
    register = {}
    for member in members:
        for x in member.inputs:
            if id(x) not in produced and id(x) not in register:
                register[id(x)] = len(inputs)
                inputs.append(x)
    program = []
    for member in members:
        refs = tuple(register[id(x)] for x in member.inputs)
        attrs = tuple(sorted(member.attrs.items()))
        program.append((member.primitive.name, refs, attrs, member.outputs.dtype))
        register[id(member.outputs)] = len(inputs) + len(program) - 1
    root = members[-1]
    out = root.outputs
    fused = GraphNode(fused_elementwise_primitive, tuple(inputs), {"program": tuple(program)},
                      out, graph.unique_name(_scope(root.name) + "fused_elementwise"), graph)
    out.node, out.index = fused, 0
    return fused


# ------------------------------------------------------------------ 6. pool-gradient masks

def mask_pool_gradients(graph):
    """Moves a mask on a max-pool gradient to the pooled side: multiply(max_pool2d_grad(y, g),
    cast(greater(y, c))) becomes max_pool2d_grad(y, g * cast(greater(max_pool2d(y), c))),
    where the graph already computes that max_pool2d(y) and the windows do not overlap. This
    is the gradient of relu followed by max pooling (Conv2D(activation="relu") then
    MaxPooling2D): the mask is then computed and applied at the pooled size, a pass over a
    quarter of the data, and the full-size product is not made at all.

    The values are the same: each window's gradient reaches only the element holding its
    first maximum, which equals the window's maximum (or both are NaN), so the mask is the
    same there; every other element's gradient is zero either way (only the sign of a zero
    may differ).

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> def f(x):
    ...     with tf.GradientTape() as tape:
    ...         tape.watch(x)
    ...         y = tf.nn.max_pool2d(tf.nn.relu(x), 2, 2, "VALID")
    ...     return tape.gradient(y, x)
    >>> with passes.disabled():
    ...     g = tf.function(f).get_concrete_function(tf.TensorSpec([1, 4, 4, 1])).graph
    >>> [n.type for n in passes.eliminate_dead_code(passes.mask_pool_gradients(g)).nodes][3:]
    ['fill_like', 'const', 'greater', 'cast', 'multiply', 'max_pool2d_grad']
    """
    graph = clone(graph)
    _mask_pool_gradients(graph)
    return graph


def _use_counts(graph):
    """id(tensor) -> how many node inputs and graph outputs read it."""
    uses = {}
    for node in graph.nodes:
        for x in node.inputs:
            uses[id(x)] = uses.get(id(x), 0) + 1
    for t in graph.outputs:
        uses[id(t)] = uses.get(id(t), 0) + 1
    return uses


def _mask_pool_gradients(graph):
    uses = _use_counts(graph)
    pools = {}  # (id(y), attrs) -> a max_pool2d node of y
    kept = []
    changed = False
    for node in graph.nodes:
        kept.append(node)
        if node.primitive.name == "max_pool2d":
            key = (id(node.inputs[0]), _attrs_key(node.attrs))
            pools.setdefault(key, node)
        elif node.primitive.name == "multiply":
            new_nodes = _masked_pool_gradient(graph, node, pools, uses)
            if new_nodes:
                kept[-1:] = new_nodes
                changed = True
    graph.nodes = kept
    return changed


def _scope(name):
    """The name scope of a node's name ("sequential/dense/" of "sequential/dense/add"), which
    a node made from it keeps, so that a profile or an error still names the layer."""
    return name[:name.rfind("/") + 1]


def _new_node(graph, primitive, inputs, attrs, out):
    made = GraphNode(primitive, inputs, dict(attrs), out, graph.unique_name(primitive.name),
                     graph)
    out.node, out.index = made, 0
    return made


def _attrs_key(attrs):
    return tuple((k, _attr_key(v)) for k, v in sorted(attrs.items()))


def _masked_pool_gradient(graph, node, pools, uses):
    """The nodes replacing `node` (a multiply) where it masks a max-pool gradient, else
    None."""
    for gradient, mask in (node.inputs, node.inputs[::-1]):
        pool_grad = _producer(gradient, "max_pool2d_grad")
        cast = _producer(mask, "cast")
        compare = _producer(cast.inputs[0], "greater") if cast is not None else None
        if pool_grad is None or compare is None or uses.get(id(gradient)) != 1:
            continue
        y, g = pool_grad.inputs
        threshold = compare.inputs[1]
        values = _const_values(threshold)
        attrs = pool_grad.attrs
        forward = pools.get((id(y), _attrs_key(attrs)))
        if (compare.inputs[0] is not y or values is None or len(values) != 1
                or threshold.shape.rank != 0 or forward is None
                or any(k > s for k, s in zip(attrs["ksize"], attrs["strides"]))
                or g.shape.rank is None or forward.outputs.shape.rank is None
                or tuple(g.shape) != tuple(forward.outputs.shape)
                or node.outputs.dtype is not g.dtype or gradient.dtype is not g.dtype):
            continue
        pooled = forward.outputs
        new_compare = _new_node(graph, compare.primitive, (pooled, threshold), compare.attrs,
                                SymbolicTensor(pooled.shape, compare.outputs.dtype, None, 0))
        new_cast = _new_node(graph, cast.primitive, (new_compare.outputs,), cast.attrs,
                             SymbolicTensor(pooled.shape, cast.outputs.dtype, None, 0))
        masked = _new_node(graph, node.primitive, (g, new_cast.outputs), node.attrs,
                           SymbolicTensor(g.shape, g.dtype, None, 0))
        # node's output tensor, now made by the new gradient node: its uses stay as they are
        routed = _new_node(graph, pool_grad.primitive, (y, masked.outputs), attrs, node.outputs)
        return [new_compare, new_cast, masked, routed]
    return None


def sum_pool_gradients(graph):
    """Sums a max-pool gradient's cotangent instead of the gradient: reduce_sum(
    max_pool2d_grad(y, g)) over axes that include the spatial ones becomes reduce_sum(g), for
    VALID windows that do not overlap. That is a bias gradient under MaxPooling2D (after
    mask_pool_gradients moved the relu mask to the pooled side): the sum then reads the pooled
    cotangent instead of the full-size gradient, a quarter of the data for 2x2 pools.

    The sums are equal: each window routes its cotangent whole to one element of its own
    (VALID windows hold only real elements, and a row or column that no window reads gets
    zero), so both sums add the same terms, the gradient's with zeros among them; the
    rounding of a float sum may differ in the last bits, as between two summation orders.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> def f(x):
    ...     with tf.GradientTape() as tape:
    ...         tape.watch(x)
    ...         y = tf.reduce_sum(tf.nn.max_pool2d(x, 2, 2, "VALID") ** 2)
    ...     return tf.reduce_sum(tape.gradient(y, x), axis=[0, 1, 2])
    >>> with passes.disabled():
    ...     g = tf.function(f).get_concrete_function(tf.TensorSpec([1, 4, 4, 2])).graph
    >>> g = passes.eliminate_dead_code(passes.sum_pool_gradients(g))
    >>> [n.type for n in g.nodes if n.type in ("max_pool2d_grad", "reduce_sum")]
    ['reduce_sum', 'reduce_sum']
    >>> g.outputs[0].node.inputs[0].shape  # the pooled cotangent
    TensorShape([1, 2, 2, 2])
    """
    graph = clone(graph)
    _sum_pool_gradients(graph)
    return graph


def _sum_pool_gradients(graph):
    changed = False
    for position, node in enumerate(graph.nodes):
        if node.primitive.name != "reduce_sum" or len(node.inputs) != 1:
            continue
        pool_grad = _producer(node.inputs[0], "max_pool2d_grad")
        if pool_grad is None:
            continue
        attrs = pool_grad.attrs
        y, g = pool_grad.inputs
        rank = g.shape.rank
        axis = node.attrs.get("axis")
        if (attrs["padding"] != "VALID" or rank != 4 or y.shape.rank != 4
                or any(k > s for k, s in zip(attrs["ksize"], attrs["strides"]))
                or g.dtype is not node.inputs[0].dtype):
            continue
        axes = set(range(rank)) if axis is None else {
            a % rank for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}
        spatial = {1, 2} if attrs["data_format"] == "NHWC" else {2, 3}
        if not spatial <= axes:
            continue
        graph.nodes[position] = _new_node(graph, node.primitive, (g,), node.attrs,
                                          node.outputs)
        changed = True
    return changed


# ------------------------------------------------------------------ 7. convolution epilogues

def fuse_conv2d_epilogues(graph):
    """Folds an elementwise node (or a fused chain) that follows an NHWC conv2d (its
    output's only use; depthwise ones too) into one `fused_conv2d` node, when the node's
    other inputs are scalars or vectors over the output channels (a bias, an inference
    BatchNormalization's affine, shaped (1, 1, 1, channels) or not) or tensors of the
    output's shape and dtype (a residual) and it keeps the convolution's shape and dtype:
    the backend then applies it to each part of the convolution's output while that is in
    cache, or in one single-pass loop over the whole output afterwards, instead of
    separate passes.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> w, b = tf.ones([3, 3, 1, 4]), tf.zeros([4])
    >>> f = lambda x: tf.nn.relu(tf.nn.conv2d(x, w, 1, "VALID") + b)
    >>> with passes.disabled():
    ...     g = tf.function(f).get_concrete_function(tf.TensorSpec([1, 5, 5, 1])).graph
    >>> [n.type for n in passes.fuse_conv2d_epilogues(passes.fuse_elementwise(g)).nodes][-1]
    'fused_conv2d'
    """
    graph = clone(graph)
    _fuse_conv2d_epilogues(graph)
    _fuse_pool_gradient_filters(graph)
    return graph


def _fuse_conv2d_epilogues(graph):
    uses = _use_counts(graph)
    position = {id(node): i for i, node in enumerate(graph.nodes)}
    folded = {}  # id(conv2d node) -> the fused node replacing its consumer
    stands_for = {}  # id(a fused node made here) -> the node in graph.nodes it replaces
    for node in graph.nodes:
        if node.primitive is fused_elementwise_primitive:
            program = node.attrs["program"]
        elif _fusable(node) and not _pinned(node):  # one elementwise primitive
            program = ((node.primitive.name, tuple(range(len(node.inputs))),
                        tuple(sorted(node.attrs.items())), node.outputs.dtype),)
        else:
            continue
        for register, x in enumerate(node.inputs):
            conv = _producer(x)
            if conv is None or conv.primitive.name not in ("conv2d", "fused_conv2d"):
                continue
            at = stands_for.get(id(conv), conv)
            if id(at) in folded and folded[id(at)] is not conv or not _epilogue_fits(
                    graph, node, register, conv, uses, position, at):
                continue
            others = node.inputs[:register] + node.inputs[register + 1:]
            attrs = {k: conv.attrs[k] for k in _CONV_ATTRS}
            attrs.update(program=program, register=register)
            if conv.primitive is fused_conv2d_primitive:
                # (an epilogue after an epilogue: swish reads BN's or a bias's result twice,
                # which leaves them two fused_elementwise nodes)
                attrs.update(program=_chain_programs(conv.attrs["program"],
                                                     len(conv.inputs) - 1, program, register,
                                                     len(node.inputs)),
                             register=conv.attrs["register"])
                others = tuple(conv.inputs[2:]) + others
            fused = GraphNode(fused_conv2d_primitive, tuple(conv.inputs[:2]) + others, attrs,
                              node.outputs, graph.unique_name(_scope(conv.name) +
                                                              "fused_conv2d"), graph)
            node.outputs.node, node.outputs.index = fused, 0
            folded[id(at)] = None
            folded[id(node)] = fused
            stands_for[id(fused)] = node
            break
    if not folded:
        return False
    graph.nodes = [folded.get(id(n), n) for n in graph.nodes
                   if id(n) not in folded or folded[id(n)] is not None]
    return True


def _chain_programs(first, n_first, second, register, n_second):
    """One program for `second` (n_second inputs) run on the result of `first` (n_first
    inputs), which is its input `register`: the inputs are first's, then second's others."""
    n = n_first + n_second - 1
    result = n + len(first) - 1

    def of_second(r):
        if r == register:
            return result
        if r < n_second:
            return n_first + r - (r > register)
        return result + 1 + r - n_second
    program = [(name, tuple(r if r < n_first else r + n_second - 1 for r in refs), attrs, dtype)
               for name, refs, attrs, dtype in first]
    program += [(name, tuple(of_second(r) for r in refs), attrs, dtype)
                for name, refs, attrs, dtype in second]
    return tuple(program)


def _epilogue_fits(graph, node, register, conv, uses, position, at):
    x = node.inputs[register]
    out = node.outputs
    if (uses.get(id(x)) != 1 or conv.attrs["data_format"] != "NHWC"
            or x.shape.rank != 4 or not _same_type(x, out)):
        return False
    channels = x.shape[3]
    # (Keras' BatchNormalization reshapes its vectors to (1, 1, 1, channels) first; a
    # residual block adds a tensor of the output's shape: ResNet's conv, BN, add and relu)
    for other in node.inputs[:register] + node.inputs[register + 1:]:
        shape = other.shape
        if not _same_type(other, x) and (shape.rank is None or shape.rank > 4 or any(
                d != 1 for d in tuple(shape)[:-1]) or (
                shape.rank and (channels is None or shape[-1] not in (1, channels)))):
            return False
    # The convolution runs at the elementwise node's place: nothing stateful in between
    # (no assignment to the filters it reads).
    start, end = position[id(at)], position[id(node)]
    return not any(_pinned(n) for n in graph.nodes[start + 1:end])


def fold_conv2d_pads(graph):
    """Folds a zero `pad` of the height and width of an NHWC input into the depthwise conv2d
    that alone reads it (VALID or explicitly padded; Keras' ZeroPadding2D before a stride-2
    DepthwiseConv2D: MobileNetV2's, EfficientNet's) as that conv2d's explicit padding: the
    backend then reads the input as padded instead of copying it padded. Depthwise only
    (filters of one input channel over several): its kernels add 0 * w for a tap in the
    padding as for a zero read from a padded copy, so the bits are the same (NaN for an
    infinite w, +0.0 for a sum of -0.0); numpy_conv_native's other kernels skip those taps.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> w = tf.ones([3, 3, 4, 1])
    >>> f = lambda x: tf.nn.depthwise_conv2d(
    ...     tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]]), w, [1, 2, 2, 1], "VALID")
    >>> with passes.disabled():
    ...     g = tf.function(f).get_concrete_function(tf.TensorSpec([1, 6, 6, 4])).graph
    >>> g = passes.eliminate_dead_code(passes.fold_conv2d_pads(g))
    >>> [n.type for n in g.nodes if n.type in ("pad", "conv2d")], g.nodes[-1].attrs["padding"]
    (['conv2d'], ((0, 1), (0, 1)))
    """
    graph = clone(graph)
    _fold_conv2d_pads(graph)
    return graph


def _fold_conv2d_pads(graph):
    uses = _use_counts(graph)
    changed = False
    for k, node in enumerate(graph.nodes):
        if node.primitive.name != "conv2d" or node.attrs["data_format"] != "NHWC":
            continue
        padded, filters = node.inputs
        pad = _producer(padded, "pad")
        if pad is None or uses.get(id(padded)) != 1 or len(pad.inputs) != 1:
            continue
        x = pad.inputs[0]
        (n0, n1), (top, bottom), (left, right), (c0, c1) = pad.attrs["paddings"]
        value = pad.attrs["constant_values"]
        if (pad.attrs["mode"] != "CONSTANT" or value != 0 or math.copysign(1, value) < 0
                or n0 or n1 or c0 or c1 or x.shape.rank != 4 or x.shape[3] is None
                or x.shape[3] < 2 or filters.shape.rank != 4 or filters.shape[2] != 1):
            continue
        padding = node.attrs["padding"]
        if padding == "VALID":
            padding = ((0, 0), (0, 0))
        elif isinstance(padding, str):
            continue
        attrs = dict(node.attrs)
        attrs["padding"] = ((padding[0][0] + top, padding[0][1] + bottom),
                            (padding[1][0] + left, padding[1][1] + right))
        folded = GraphNode(node.primitive, (x, filters), attrs, node.outputs, node.name, graph)
        node.outputs.node, node.outputs.index = folded, 0
        graph.nodes[k] = folded
        changed = True
    return changed


# ------------------------------------------------------------------ 8. pool-gradient filters

def fuse_pool_gradient_filters(graph):
    """Folds a max_pool2d_grad whose only reader is a conv2d_backprop_filter (the filter
    gradient of a convolution followed by max pooling, with no input gradient below it: a
    model's first layer) into one `fused_conv2d_backprop_filter` node, for NHWC: the backend
    may then route the pool's gradient a piece of the batch at a time and contract each piece
    with its columns while in cache, instead of writing the full-size gradient and reading
    it back.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> w = tf.Variable(tf.ones([3, 3, 1, 4]))
    >>> def f(x):
    ...     with tf.GradientTape() as tape:
    ...         y = tf.nn.max_pool2d(tf.nn.conv2d(x, w, 1, "VALID"), 2, 2, "VALID")
    ...         loss = tf.reduce_sum(y * y)
    ...     return tape.gradient(loss, w)
    >>> with passes.disabled():
    ...     g = tf.function(f).get_concrete_function(tf.TensorSpec([1, 6, 6, 1])).graph
    >>> g = passes.eliminate_dead_code(g)  # (the unused gradient of x reads the pool's too)
    >>> [n.type for n in passes.fuse_pool_gradient_filters(g).nodes][-1]
    'fused_conv2d_backprop_filter'
    """
    graph = clone(graph)
    _fuse_pool_gradient_filters(graph)
    return graph


def _fuse_pool_gradient_filters(graph):
    uses = _use_counts(graph)
    position = {id(node): i for i, node in enumerate(graph.nodes)}
    dropped = set()
    for k, node in enumerate(graph.nodes):
        if node.primitive.name != "conv2d_backprop_filter" or len(node.inputs) != 2:
            continue
        x, routed = node.inputs
        pool_grad = _producer(routed, "max_pool2d_grad")
        if (pool_grad is None or uses.get(id(routed)) != 1
                or node.attrs["data_format"] != "NHWC"
                or pool_grad.attrs["data_format"] != "NHWC"
                or routed.dtype is not x.dtype or pool_grad.inputs[1].dtype is not x.dtype
                or any(_pinned(n) for n in graph.nodes[position[id(pool_grad)] + 1:k])):
            continue
        attrs = dict(node.attrs)
        attrs.update({key: pool_grad.attrs[name] for key, name in _POOL_ATTRS.items()})
        fused = GraphNode(fused_conv2d_backprop_filter_primitive, tuple(
            [x] + list(pool_grad.inputs)), attrs, node.outputs,
            graph.unique_name(_scope(node.name) + "fused_conv2d_backprop_filter"), graph)
        node.outputs.node, node.outputs.index = fused, 0
        graph.nodes[k] = fused
        dropped.add(id(pool_grad))
    if not dropped:
        return False
    graph.nodes = [n for n in graph.nodes if id(n) not in dropped]
    return True


# ------------------------------------------------------------------ 9. BN activations

def fuse_batch_norm_activations(graph):
    """Folds a relu whose input is a training-mode batch normalization's output, which
    nothing else reads, into the batch_norm_training node (activation="relu": the node's
    first output is then relu's), and relu's gradient `g * cast(y > 0, g.dtype)`, where only
    a batch_norm_training_grad reads it, into that node (relu's output y becomes its eighth
    input and g its dy; where y is a fused node's output and the statistics are its own,
    that node's beta comes ninth): the backend applies relu in the normalization's pass and
    the mask as it reads dy (from y, or recomputing the normalization's sign from x and
    beta), with the separate ops' bits, one pass over the batch fewer each way
    (BatchNormalization then relu, in ResNets and the separable network's blocks). Only
    where the backend lists "relu" in its BATCH_NORM_ACTIVATIONS, for float32 and float64.

    A residual block's end, relu(add(r, bn)) or relu(add(bn, r)) with r of bn's type made
    before the normalization, the add read only by relu and bn only by the add, becomes the
    node with activation="relu", residual="left" (or "right") and r a fourth input: the
    backend adds r in that operand order to the normalization's result, then relu, in its
    pass (where it lists the side in BATCH_NORM_RESIDUALS). The gradient graph stays as it
    is: relu's masked cotangent goes to both the normalization and the shortcut (and where
    only the normalization's gradient reads it, that node takes y, never beta: y's sign is
    not the normalization's).

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> from tensorflux.ops import nn
    >>> f = lambda x: tf.nn.relu(nn.batch_norm_training(x, tf.ones([2]), tf.zeros([2]),
    ...                                                 1e-3)[0])
    >>> with passes.disabled():
    ...     g = tf.function(f).get_concrete_function(tf.TensorSpec([3, 2])).graph
    >>> [(n.type, n.attrs.get("activation")) for n in
    ...  passes.fuse_batch_norm_activations(g).nodes][-1]
    ('batch_norm_training', 'relu')
    """
    graph = clone(graph)
    _fuse_batch_norm_activations(graph)
    return graph


def _bn_activation_fits(x):
    return x.dtype in (dtypes.float32, dtypes.float64) and "relu" in getattr(
        default_backend(), "BATCH_NORM_ACTIVATIONS", ())


def _bn_residual(relu, uses, position, replaced):
    """For relu(add(a, b)) where one of a, b is the first output of a plain
    batch_norm_training that only the add reads (and the add only the relu), the other r of
    the same type: (that node, r, "left" where r is a, else "right"); else None. r must be
    made before the normalization (by graph.nodes' order), where the fused node goes."""
    add = _producer(relu.inputs[0], "add")
    if add is None or add.attrs or uses.get(id(relu.inputs[0])) != 1 or id(add) in replaced:
        return None
    for side, (t, r) in (("right", add.inputs), ("left", add.inputs[::-1])):
        bn = _producer(t, "batch_norm_training")
        if (bn is None or t.index != 0 or id(bn) in replaced or len(bn.inputs) != 3
                or bn.attrs.get("activation") is not None or uses.get(id(t)) != 1
                or r is t or not _same_type(r, t) or not _same_type(relu.outputs, t)
                or not _bn_activation_fits(t) or side not in getattr(
                    default_backend(), "BATCH_NORM_RESIDUALS", ())):
            continue
        made = _producer(r)
        if made is not None and position.get(id(made), -1) >= position[id(bn)]:
            continue  # (a producer outside graph.nodes is an input: there from the start)
        return bn, add, r, side
    return None


def _fuse_batch_norm_activations(graph):
    uses = _use_counts(graph)
    position = {id(n): i for i, n in enumerate(graph.nodes)}
    replaced = {}  # id(node) -> the node taking its place, or None to drop it
    for node in graph.nodes:
        found = (_bn_residual(node, uses, position, replaced)
                 if node.primitive.name == "relu" and not node.attrs else None)
        if found is not None:
            bn, add, r, side = found
            outputs = (node.outputs,) + tuple(bn.outputs[1:])
            fused = GraphNode(bn.primitive, bn.inputs + (r,),
                              dict(bn.attrs, activation="relu", residual=side), outputs,
                              bn.name, graph)
            for index, t in enumerate(outputs):
                t.node, t.index = fused, index
            replaced[id(bn)], replaced[id(add)], replaced[id(node)] = fused, None, None
            position[id(fused)] = position[id(bn)]  # (where it goes: see _bn_residual)
        elif node.primitive.name == "relu" and not node.attrs:
            bn = _producer(node.inputs[0], "batch_norm_training")
            if (bn is None or id(bn) in replaced or node.inputs[0].index != 0
                    or bn.attrs.get("activation") is not None
                    or uses.get(id(node.inputs[0])) != 1 or not _bn_activation_fits(
                        node.outputs) or not _same_type(node.outputs, node.inputs[0])):
                continue
            outputs = (node.outputs,) + tuple(bn.outputs[1:])
            fused = GraphNode(bn.primitive, bn.inputs, dict(bn.attrs, activation="relu"),
                              outputs, bn.name, graph)
            for index, t in enumerate(outputs):
                t.node, t.index = fused, index
            replaced[id(bn)], replaced[id(node)] = fused, None
            position[id(fused)] = position[id(bn)]
        elif (node.primitive.name == "batch_norm_training_grad" and len(node.inputs) == 7
              and node.attrs.get("activation") is None):
            x, dy = node.inputs[0], node.inputs[4]
            multiply = _producer(dy, "multiply")
            if multiply is None or uses.get(id(dy)) != 1 or not _bn_activation_fits(x):
                continue
            g, mask = multiply.inputs
            cast = _producer(mask, "cast")
            greater = cast and _producer(cast.inputs[0], "greater")
            if not greater or cast.attrs.get("dtype") is not g.dtype:
                continue
            y, zero = greater.inputs
            if not (_const_all_equal(zero, 0) and zero.shape.rank == 0
                    and all(_same_type(t, x) for t in (g, y, dy))):
                continue
            inputs = node.inputs[:4] + (g,) + node.inputs[5:] + (y,)
            forward = _producer(y, "batch_norm_training")
            if (forward is not None and forward.attrs.get("activation") == "relu"
                    and forward.attrs.get("residual") is None and y.index == 0
                    and forward.attrs["epsilon"] == node.attrs["epsilon"]
                    and all(a is b for a, b in zip(forward.inputs[:2] + forward.outputs[1:],
                                                   node.inputs[:4]))):
                # (y is relu of that normalization with these statistics: its beta lets
                # the backend find y's sign from x, see batch_norm_training_grad)
                inputs += (forward.inputs[2],)
            replaced[id(node)] = GraphNode(node.primitive, inputs,
                                           dict(node.attrs, activation="relu"),
                                           node.outputs, node.name, graph)
            for t in node.outputs:
                t.node = replaced[id(node)]
    if not replaced:
        return False
    graph.nodes = [replaced.get(id(n), n) for n in graph.nodes
                   if replaced.get(id(n), n) is not None]
    return True


# ------------------------------------------------------------------ the pipeline

def optimize(graph):
    """All passes, in order: simplify, fold constants and merge common subexpressions until
    nothing changes, then move max-pool gradient masks, sum max-pool cotangents in place of
    their gradients, remove dead code, fold relus (and their gradients' masks) into the batch
    normalizations before them, fuse elementwise chains and fold them into the
    convolutions before them, and fold max-pool gradients into the filter gradients that
    alone read them. Like every pass here it returns a new Graph and leaves its argument as
    it was. Idempotent; does nothing inside a `disabled()` block.

    >>> import tensorflux as tf
    >>> f = tf.function(lambda x: tf.nn.relu(x * 2.0 + 1.0) * 1.0)
    >>> g = f.get_concrete_function(tf.TensorSpec([2])).graph  # optimize ran after the trace
    >>> [n.type for n in g.nodes]
    ['placeholder', 'const', 'const', 'fused_elementwise']
    """
    if not _state.enabled:
        return graph
    graph = clone(graph)
    for _ in range(8):
        changed = _simplify(graph)
        changed = _fold(graph) or changed
        changed = _cse(graph) or changed
        changed = _dead_code(graph) or changed
        if not changed:
            break
    if _mask_pool_gradients(graph) | _sum_pool_gradients(graph):
        _dead_code(graph)
    if _fold_conv2d_pads(graph):
        _dead_code(graph)
    if _fuse_batch_norm_activations(graph):
        _dead_code(graph)
    _fuse(graph)
    _dead_code(graph)
    _fuse_conv2d_epilogues(graph)
    _fuse_pool_gradient_filters(graph)
    return graph


def clone(graph):
    """A copy of graph with new nodes and tensors (same Variables, same constant values), to
    keep an unoptimized version for comparison.

    >>> import tensorflux as tf
    >>> from tensorflux.graph import passes
    >>> with passes.disabled():
    ...     g = tf.function(lambda x: x + 1.0).get_concrete_function(tf.TensorSpec([2])).graph
    >>> copy = passes.clone(g)
    >>> [n.type for n in copy.nodes] == [n.type for n in g.nodes], copy.nodes[0] is g.nodes[0]
    (True, False)
    """
    from tensorflux.graph.ir import Graph

    new = Graph(name=graph.name, outer=graph.outer)
    mapping = {}

    def tensor(x):
        return mapping.get(id(x), x)

    for node in graph.nodes:
        copy = GraphNode(node.primitive, tuple(tensor(x) for x in node.inputs),
                         dict(node.attrs), None, node.name, new)
        outputs = []
        for o in _outputs(node):
            t = SymbolicTensor(o.shape, o.dtype, copy, o.index)
            mapping[id(o)] = t
            outputs.append(t)
        copy.outputs = tuple(outputs) if isinstance(node.outputs, tuple) else outputs[0]
        new.nodes.append(copy)
        new._names[node.name] = 1
    new._names.update(graph._names)
    new.inputs = [tensor(t) for t in graph.inputs]
    new.outputs = [tensor(t) for t in graph.outputs]
    new.captures = {key: (outer, tensor(inner)) for key, (outer, inner) in graph.captures.items()}
    return new
