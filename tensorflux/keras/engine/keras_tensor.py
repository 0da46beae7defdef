"""KerasTensor (a symbolic shape and dtype with its Keras history), Node, and spec tracing.

Output shapes and dtypes come from running a layer's `call` on placeholders of a throwaway
tensorflux Graph (`trace_output_spec`): no hand-written shape inference.
"""

import collections
import threading

from tensorflux.keras import backend
from tensorflux.keras.engine import tree
from tensorflux.tensor import Tensor as _Tensor

__all__ = ["KerasTensor", "KerasHistory", "Node", "any_symbolic_tensors", "is_keras_tensor",
           "trace_output_spec"]

KerasHistory = collections.namedtuple("KerasHistory", ["operation", "node_index", "tensor_index"])


class _TraceState(threading.local):
    def __init__(self):
        self.depth = 0  # > 0 while trace_output_spec runs a call on placeholders


trace_state = _TraceState()


_COMMON_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64", "int8", "int16",
                            "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool",
                            "string", "complex64", "complex128"})


def _check_dtype(name):
    """ValueError for a dtype name tensorflux does not know (a typo in `Input(dtype=...)`), as
    Keras refuses it, rather than a failure later in a layer."""
    from tensorflux import dtypes

    try:
        dtypes.as_dtype(name)
    except (TypeError, ValueError) as error:
        raise ValueError(f"Invalid dtype: {name}. {error}") from None


def _standard_shape(shape):
    if shape is None:
        return None
    if hasattr(shape, "as_list"):
        if getattr(shape, "rank", 0) is None:
            return None
        shape = shape.as_list()
    if isinstance(shape, int):
        shape = (shape,)
    out = []
    for dim in shape:
        if dim is not None:
            if hasattr(dim, "value"):
                dim = dim.value
            if dim is not None:
                if int(dim) != dim or int(dim) < 0:
                    raise ValueError(f"Cannot convert '{shape}' to a shape: {dim!r} is not a "
                                     "valid dimension (expected a non-negative int or None)")
                dim = int(dim)
        out.append(dim)
    return tuple(out)


class SymbolicTensorError(TypeError, ValueError):
    """A KerasTensor used where a value is needed (a tensorflux op, NumPy). Keras raises
    ValueError there; TypeError is kept for code written against earlier tensorflux."""


class KerasTensor:
    """A symbolic tensor of a Functional graph: shape (None for unknown dims), dtype, history.

    >>> from tensorflux import keras
    >>> x = keras.Input(shape=(8,), name="x")
    >>> x.shape, x.dtype
    ((None, 8), 'float32')
    """

    __array_priority__ = 200
    __array_ufunc__ = None

    def __init__(self, shape, dtype="float32", sparse=False, ragged=False,
                 record_history=True, name=None):
        self._shape = _standard_shape(shape)
        self._dtype = backend.standardize_dtype(dtype)
        if self._dtype not in _COMMON_DTYPES:
            _check_dtype(self._dtype)
        self.sparse = bool(sparse)
        self.ragged = bool(ragged)
        self.name = name or backend.auto_name("keras_tensor")
        self._keras_history = None
        self._keras_mask = None

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return self._dtype

    @property
    def ndim(self):
        return None if self._shape is None else len(self._shape)

    def reshape(self, new_shape):
        from tensorflux.ops import array

        return _op_call("reshape", array.reshape, (self, new_shape))

    def __repr__(self):
        return (f"<KerasTensor shape={self._shape}, dtype={self._dtype}, sparse={self.sparse}, "
                f"ragged={self.ragged}, name={self.name}>")

    __str__ = __repr__

    def _symbolic_message(self):
        return (f"A KerasTensor ({self.name}, shape {self._shape}, {self._dtype}) is a symbolic "
                "placeholder of a Functional model, without a value, and cannot be passed to a "
                "tensorflux op or NumPy directly. Use it only as input to Keras layers, "
                "keras.ops or Python operators (+, -, *, ...), or wrap the op in a custom Layer "
                "/ keras.layers.Lambda.")

    def _as_tensor(self, dtype=None):
        raise SymbolicTensorError(self._symbolic_message())

    @property
    def numpy(self):
        # (an AttributeError, as in Keras: `hasattr(x, "numpy")` is how code tells values)
        raise AttributeError(f"'KerasTensor' object has no attribute 'numpy'. "
                             f"{self._symbolic_message()}")

    def __array__(self, dtype=None, copy=None):
        self._as_tensor()

    def __bool__(self):
        raise TypeError(f"A symbolic KerasTensor ({self.name}) cannot be used as a Python bool.")

    def __iter__(self):
        raise TypeError(f"A symbolic KerasTensor ({self.name}, shape {self._shape}) is not "
                        "iterable; index it instead (x[:, 0]).")

    def __len__(self):
        raise TypeError(f"len() of a symbolic KerasTensor ({self.name}) is undefined.")

    __hash__ = object.__hash__

    # -- operators: each builds an op layer node, so `x = x + residual` works in a model.
    def __add__(self, other):
        return _binary("add", self, other)

    def __radd__(self, other):
        return _binary("add", other, self)

    def __sub__(self, other):
        return _binary("subtract", self, other)

    def __rsub__(self, other):
        return _binary("subtract", other, self)

    def __mul__(self, other):
        return _binary("multiply", self, other)

    def __rmul__(self, other):
        return _binary("multiply", other, self)

    def __truediv__(self, other):
        return _binary("true_divide", self, other)

    def __rtruediv__(self, other):
        return _binary("true_divide", other, self)

    def __floordiv__(self, other):
        return _binary("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return _binary("floor_divide", other, self)

    def __mod__(self, other):
        return _binary("mod", self, other)

    def __rmod__(self, other):
        return _binary("mod", other, self)

    def __pow__(self, other):
        return _binary("power", self, other)

    def __rpow__(self, other):
        return _binary("power", other, self)

    def __matmul__(self, other):
        return _binary("matmul", self, other)

    def __rmatmul__(self, other):
        return _binary("matmul", other, self)

    def __neg__(self):
        return _unary("negative", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary("absolute", self)

    def __lt__(self, other):
        return _binary("less", self, other)

    def __le__(self, other):
        return _binary("less_equal", self, other)

    def __gt__(self, other):
        return _binary("greater", self, other)

    def __ge__(self, other):
        return _binary("greater_equal", self, other)

    def __eq__(self, other):
        return _binary("equal", self, other)

    def __ne__(self, other):
        return _binary("not_equal", self, other)

    def __getitem__(self, key):
        from tensorflux.keras.engine import op_layers

        return op_layers.GetItem()(self, key)


def _binary(name, x, y):
    from tensorflux.keras.engine import op_layers

    return op_layers.make_op_layer(name)(x, y)


def _unary(name, x):
    from tensorflux.keras.engine import op_layers

    return op_layers.make_op_layer(name)(x)


def _op_call(name, fn, args):
    from tensorflux.keras.engine import op_layers

    return op_layers.make_op_layer(name, fn)(*args)


def is_keras_tensor(x):
    return isinstance(x, KerasTensor)


# Arguments that are leaves of a tree walk and never symbolic: eager tensors (the exact class;
# traced tensors are a subclass) and Python flags, as in `layer(x, training=True)`.
_PLAIN_LEAVES = frozenset({_Tensor, bool, int, float, str, type(None)})


def plain_call(args, kwargs):
    """Whether every argument of a call is an eager tensor or a Python scalar or None (no
    containers, arrays or KerasTensors): what an eager call usually gets, told apart from
    the rest without walking its arguments as trees."""
    for x in args:
        if x.__class__ not in _PLAIN_LEAVES:
            return False
    if kwargs:
        for x in kwargs.values():
            if x.__class__ not in _PLAIN_LEAVES:
                return False
    return True


def any_symbolic_tensors(args=(), kwargs=None):
    if plain_call(args, kwargs):
        return False
    for leaf in tree.flatten((args, kwargs or {})):
        if isinstance(leaf, KerasTensor):
            return True
    return False


class Node:
    """One call of a layer on KerasTensors: the layer, its call arguments and outputs.

    Creating a Node appends it to `operation._inbound_nodes` and stamps each output with its
    KerasHistory (operation, node_index, tensor_index).
    """

    def __init__(self, operation, call_args=(), call_kwargs=None, outputs=None):
        self.operation = operation
        self.call_args = tuple(call_args)
        self.call_kwargs = dict(call_kwargs or {})
        self.input_tensors = [x for x in tree.flatten((self.call_args, self.call_kwargs))
                              if isinstance(x, KerasTensor)]
        self.outputs = outputs
        self.output_tensors = [x for x in tree.flatten(outputs) if isinstance(x, KerasTensor)]
        self.is_input = not self.input_tensors
        # The KerasTensor where the call is `operation(kt)` alone (most layer calls): running
        # the graph then fills in its value without walking the arguments as trees.
        self.single_input = (self.call_args[0] if len(self.call_args) == 1 and not
                             self.call_kwargs and isinstance(self.call_args[0], KerasTensor)
                             else None)
        operation._inbound_nodes.append(self)
        node_index = len(operation._inbound_nodes) - 1
        for tensor in self.input_tensors:
            history = tensor._keras_history
            if history is not None:
                history.operation._outbound_nodes.append(self)
        for index, tensor in enumerate(self.output_tensors):
            tensor._keras_history = KerasHistory(operation, node_index, index)

    @property
    def parent_nodes(self):
        parents = []
        for tensor in self.input_tensors:
            history = tensor._keras_history
            if history is not None:
                node = history.operation._inbound_nodes[history.node_index]
                if node not in parents:
                    parents.append(node)
        return parents

    @property
    def input_shapes(self):
        return [t.shape for t in self.input_tensors]

    @property
    def output_shapes(self):
        return [t.shape for t in self.output_tensors]

    def __repr__(self):
        return f"<Node of {self.operation.name}: {len(self.input_tensors)} inputs>"


def trace_output_spec(fn, args=(), kwargs=None):
    """Runs `fn(*args, **kwargs)` with KerasTensors replaced by placeholders of a throwaway
    Graph and returns the outputs' structure with KerasTensors (shape, dtype) as leaves."""
    from tensorflux import dtypes
    from tensorflux.context import context
    from tensorflux.graph.ir import Graph
    from tensorflux.tensor import _TensorLike

    graph = Graph("keras_output_spec")

    def to_placeholder(x):
        if isinstance(x, KerasTensor):
            shape = None if x.shape is None else list(x.shape)
            return graph.placeholder(shape, dtypes.as_dtype(x.dtype), name=x.name)
        return x

    saved = context.graph, context.tapes
    trace_state.depth += 1
    context.graph, context.tapes = graph, []
    try:
        traced_args = tree.map_structure(to_placeholder, tuple(args))
        traced_kwargs = tree.map_structure(to_placeholder, dict(kwargs or {}))
        outputs = fn(*traced_args, **traced_kwargs)
    finally:
        context.graph, context.tapes = saved
        trace_state.depth -= 1

    def to_spec(x):
        if isinstance(x, _TensorLike):
            return KerasTensor(x.shape, x.dtype.name)
        return x

    return tree.map_structure(to_spec, outputs)


def shape_of(x):
    """A tensor's shape as a tuple (None for unknown dims), or None when it has no shape."""
    if x.__class__ is _Tensor:  # (an eager tensor: its array's shape is a tuple of ints)
        return x._value.shape
    if isinstance(x, KerasTensor):
        return x.shape
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    return _standard_shape(shape)
