"""The graph IR: Graph, its Nodes, and the symbolic tensors that tracing produces.

A Graph is a list of Nodes in program order (the order tracing met them, which keeps
Variable reads and assignments ordered); each Node applies one Primitive to input tensors
and produces symbolic output tensors whose shapes come from the primitive's shape rule.
Node inputs are this graph's symbolic tensors or captured Variables (read when the node
runs); eager tensors met while tracing become `const` nodes.
"""

import itertools

from tensorflux import errors
from tensorflux.context import context
from tensorflux.primitive import Node, Primitive
from tensorflux.tensor import Tensor, _TensorLike
from tensorflux.tensor_shape import TensorShape
from tensorflux.variable import Variable

__all__ = ["Graph", "GraphNode", "InaccessibleTensorError", "SymbolicTensor", "const_primitive",
           "placeholder_primitive"]


class SymbolicValueError(errors.InvalidArgumentError, AttributeError):
    """Asking a symbolic tensor for its value. Also an AttributeError, since TF's symbolic
    tensors have no `numpy` (code that tries x.numpy() and falls back on AttributeError)."""


class InaccessibleTensorError(ValueError):
    """A tensor of a finished loop or cond body used outside it (TF's class of that name,
    which tf.errors does not export: code catches it as ValueError)."""


class SymbolicTensor(Tensor):
    """A tensor of a Graph being traced: a shape (None dims allowed), a dtype, and the node
    and output index that make it. It has no value until the graph runs."""

    __slots__ = ("_shape", "_dtype", "node", "index")

    def __init__(self, shape, dtype, node, index):
        self._value = None
        self._shape = shape if isinstance(shape, TensorShape) else TensorShape(shape)
        self._dtype = dtype
        self.node = node
        self.index = index

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return self._shape.rank

    @property
    def graph(self):
        return self.node.graph

    def set_shape(self, shape):
        """Refines the static shape with what the caller knows (TF's set_shape, e.g. after
        tf.py_function in a Dataset.map): unknown dims take `shape`'s; a conflict is a
        ValueError."""
        super().set_shape(shape)
        self._shape = self._shape.merge_with(shape)

    @property
    def name(self):
        return f"{self.node.name}:{self.index}"

    @property
    def op(self):
        return self.node

    @property
    def device(self):
        return ""

    def numpy(self):
        if context.graph is None:
            raise SymbolicValueError(self._escaped_text())
        raise SymbolicValueError(
            f"The symbolic tensor {self.name} (shape {self._shape}, {self._dtype.name}) has no "
            "value while a tf.function is being traced; return it from the function, or use "
            "tf.print to see it at run time.")

    def _escaped_text(self):
        """What an eager use of this tensor is told: it outlived the trace that made it."""
        return (f"the symbolic tensor {self.name} (shape {self._shape}, {self._dtype.name}) of "
                f"the traced graph '{self.node.graph.name}' is used outside it, where it has no "
                "value: it escaped its tf.function's trace (kept in a Python list, a global or "
                "an attribute while tracing). Return it from the function and use what the "
                "call returns.")

    def __bool__(self):
        raise errors.OperatorNotAllowedInGraphError(
            f"Using the symbolic tensor {self.name} as a Python bool is not allowed while "
            "tracing a tf.function: use tf.cond, or compute the condition outside the function.")

    def __len__(self):
        if self._shape.rank is None or self._shape.rank == 0 or self._shape[0] is None:
            raise TypeError(f"len is not well defined for the symbolic tensor {self.name} "
                            f"of shape {self._shape}")
        return self._shape[0]

    def __iter__(self):
        if self._shape.rank in (None, 0) or self._shape[0] is None:
            raise errors.OperatorNotAllowedInGraphError(
                f"Cannot iterate over the symbolic tensor {self.name} of shape {self._shape}: "
                "its first dimension is unknown (a loop over it inside a tf.function needs "
                "AutoGraph, or tf.range / tf.while_loop).")
        return (self[i] for i in range(self._shape[0]))

    def __float__(self):
        self.numpy()

    __int__ = __index__ = __float__

    def __array__(self, dtype=None, copy=None):
        self.numpy()

    def __repr__(self):
        return f"<tf.Tensor '{self.name}' shape={self._shape} dtype={self._dtype.name}>"

    def __str__(self):  # (what print(x) shows inside a tf.function, as in TF)
        return f'Tensor("{self.name}", shape={self._shape}, dtype={self._dtype.name})'

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise TypeError("A symbolic tensor cannot be pickled")


class GraphNode(Node):
    """A Node that belongs to a Graph: it also has a unique name and the graph itself."""

    __slots__ = ("name", "graph")

    def __init__(self, primitive, inputs, attrs, outputs, name, graph):
        super().__init__(primitive, inputs, attrs, outputs)
        self.name = name
        self.graph = graph

    @property
    def type(self):
        return self.primitive.name

    def output_list(self):
        return self.outputs if isinstance(self.outputs, tuple) else (self.outputs,)

    def __repr__(self):
        return f"<GraphNode {self.name} = {self.primitive.name}>"


def _const_rule(*, value, dtype):
    return _aval(tuple(value.shape), dtype)


def _aval(shape, dtype):
    from tensorflux.ops._core import aval

    return aval(shape, dtype)


# const: a value fixed at trace time (an eager tensor the traced function used).
const_primitive = Primitive("const", shape_rule=_const_rule, has_kernel=False)
# placeholder: a function input, fed at each call.
placeholder_primitive = Primitive("placeholder", has_kernel=False,
                                  shape_rule=lambda *, shape, dtype: _aval(shape, dtype))


class Graph:
    """A traced computation.

    >>> import tensorflux as tf
    >>> f = tf.function(lambda x: tf.exp(x) * 2.0)
    >>> g = f.get_concrete_function(tf.TensorSpec([None], tf.float32)).graph
    >>> [n.type for n in g.nodes]  # after the passes: exp and multiply run as one kernel
    ['placeholder', 'const', 'fused_elementwise']
    """

    def __init__(self, name="graph", outer=None):
        self.name = name
        self.outer = outer  # the graph being traced around this one (cond/while bodies)
        # A cond branch's or loop's random ops take their seeds from the graph around it (so
        # that the sub-graph re-bound or replayed for its gradient draws the same numbers; see
        # ops/random.py). A while loop's cond and body also mix each seed with the iteration
        # number (`in_loop`), read from a hidden placeholder made on first use (`iteration`):
        # the loop then carries a counter for it as an extra loop variable.
        self.seeds_outside = False
        self.in_loop = False
        self.iteration = None
        self.nodes = []
        self.inputs = []  # placeholder tensors, in call order
        self.outputs = []  # flat list of output tensors
        self.captures = {}  # id(outer tensor) -> (outer tensor, placeholder here)
        # A tf.function's trace: how Variables it creates get their initial values
        # (static.Lifting); None elsewhere.
        self.lifting = None
        # A tf.function's optimized graph: the graph as traced, before the passes (what
        # as_graph_def exports, as TF's FuncGraph holds the ops as traced); None elsewhere.
        self.traced = None
        self._constants = {}  # id(eager tensor) -> (tensor, const output), kept alive
        self._names = {}
        self._counter = itertools.count()

    # -- building
    def unique_name(self, base):
        count = self._names.get(base, 0)
        self._names[base] = count + 1
        return base if count == 0 else f"{base}_{count}"

    def placeholder(self, shape, dtype, name=None):
        node = self._make_node(placeholder_primitive, (), {"shape": TensorShape(shape),
                                                           "dtype": dtype},
                               name or "input")
        self.inputs.append(node.outputs)
        return node.outputs

    def constant(self, tensor):
        """The const node for an eager tensor (one per tensor object)."""
        entry = self._constants.get(id(tensor))
        if entry is not None:
            return entry[1]
        node = self._make_node(const_primitive, (), {"value": tensor._value,
                                                     "dtype": tensor.dtype}, "const")
        self._constants[id(tensor)] = (tensor, node.outputs)
        return node.outputs

    def iteration_counter(self):
        """The iteration number of a while loop's cond or body graph (an int32 scalar
        placeholder, not among `inputs` until the loop adds it; see `in_loop`)."""
        if self.iteration is None:
            from tensorflux.dtypes import int32

            self.iteration = self._make_node(
                placeholder_primitive, (), {"shape": TensorShape([]), "dtype": int32},
                "iteration").outputs
        return self.iteration

    def _convert_input(self, x):
        if isinstance(x, SymbolicTensor):
            if x.node.graph is self:
                return x
            return self._capture(x)
        if isinstance(x, Variable):
            return x
        if isinstance(x, Tensor):
            return self.constant(x)
        if isinstance(x, _TensorLike):
            return x
        raise errors.InvalidArgumentError(f"Graph {self.name}: cannot use {x!r} as an op input")

    def _capture(self, outer_tensor):
        entry = self.captures.get(id(outer_tensor))
        if entry is None:
            self._check_reachable(outer_tensor)
            inner = self.placeholder(outer_tensor.shape, outer_tensor.dtype, "capture")
            # Not list.remove: == on tensors is elementwise.
            self.inputs = [t for t in self.inputs if t is not inner]
            entry = self.captures[id(outer_tensor)] = (outer_tensor, inner)
        return entry[1]

    def _check_reachable(self, tensor):
        """Refuses a tensor of a loop or cond body traced inside this graph or one around it
        (InaccessibleTensorError, a ValueError): the body has finished, and its
        tensors have no value here. Tensors of the graphs around this one are captured."""
        around = set()
        graph = self
        while graph is not None:
            around.add(id(graph))
            graph = graph.outer
        graph = tensor.node.graph
        if id(graph) in around:
            return
        while graph is not None:
            if id(graph) in around:
                raise InaccessibleTensorError(
                    f"{tensor!r} is out of scope and cannot be used here: it was made inside "
                    "the body of a tf.while_loop or tf.cond (a Python loop over a tensor, or "
                    "an `if` on one), and it has no value outside it. Use return values "
                    "(loop variables), or collect values in a loop with a tf.TensorArray.")
            graph = graph.outer

    def add_node(self, primitive, inputs, attrs):
        """Called by Primitive.bind while tracing: adds a node and returns its outputs."""
        from tensorflux.context import context

        if (self.seeds_outside and self.outer is not None
                and primitive.name == "random_seed_stream"):
            # Wherever it comes from (a draw, or an inlined tf.function's node re-bound here),
            # the stream goes outside: see ops/random.py's hoisted_seed.
            from tensorflux.ops.random import hoisted_seed

            return hoisted_seed(self, **attrs)
        inputs = tuple(self._convert_input(x) for x in inputs)
        node = self._make_node(primitive, inputs, attrs, context.layer_scope + primitive.name)

        if context.tapes:
            for tape in context.tapes:
                tape._record(primitive, inputs, attrs, node.outputs)
        return node.outputs

    def _make_node(self, primitive, inputs, attrs, base_name):
        rule = primitive.shape_rule
        if rule is None:
            raise errors.UnimplementedError(
                f"The op '{primitive.name}' cannot be traced into a graph: it has no shape "
                "rule.", primitive.name)
        try:
            result = rule(*inputs, **attrs)
        except errors.OpError:
            raise
        except (TypeError, ValueError, IndexError) as error:
            shapes = ", ".join(f"{x.shape} {x.dtype.name}" for x in inputs)
            raise errors.InvalidArgumentError(
                f"{primitive.name}: {error} (inputs: {shapes})", primitive.name) from error
        node = GraphNode(primitive, inputs, attrs, None, self.unique_name(base_name), self)
        if primitive.multiple_results:
            node.outputs = tuple(SymbolicTensor(a.shape, a.dtype, node, i)
                                 for i, a in enumerate(result))
        else:
            node.outputs = SymbolicTensor(result.shape, result.dtype, node, 0)
        self.nodes.append(node)
        return node

    # -- inspection
    @property
    def edges(self):
        """(producer node name, consumer node name, output index) for every data edge."""
        found = []
        for node in self.nodes:
            for x in node.inputs:
                if isinstance(x, SymbolicTensor):
                    found.append((x.node.name, node.name, x.index))
        return found

    def get_operations(self):
        return list(self.nodes)

    def get_node(self, name):
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"Graph {self.name} has no node named {name!r}")

    def variables(self):
        """The Variables the graph reads or writes, in first-use order."""
        found = {}
        for node in self.nodes:
            for x in node.inputs:
                if isinstance(x, Variable):
                    found.setdefault(id(x), x)
        return list(found.values())

    def __str__(self):
        from tensorflux.graph.printer import format_graph

        return format_graph(self)

    def __repr__(self):
        return f"<Graph {self.name}: {len(self.nodes)} nodes>"

    def to_dot(self):
        """The graph in Graphviz dot syntax."""
        from tensorflux.graph.printer import to_dot

        return to_dot(self)

    def to_graph_def(self, max_constant_bytes=1 << 20):
        """The serialized TensorFlow GraphDef of this graph (graphdef.to_graph_def)."""
        from tensorflux.graph.graphdef import to_graph_def

        return to_graph_def(self, max_constant_bytes)

    def as_graph_def(self, from_version=None, add_shapes=False):
        """This graph as traced (before the optimization passes) as a GraphDef message
        (graphdef.as_graph_def), as TF's `concrete_function.graph.as_graph_def()`."""
        from tensorflux.graph.graphdef import as_graph_def

        return as_graph_def(self if self.traced is None else self.traced, add_shapes)
