"""Export of a Graph to TensorFlow's GraphDef protocol buffer (what TensorBoard's graph view reads).

Each graph node becomes a NodeDef: its name, a TensorFlow op name for the primitive (`add` ->
`AddV2`; primitives TensorFlow lacks keep their name in CamelCase), its inputs in TensorFlow's
"node" / "node:i" convention, and its attrs as AttrValues, plus `T` (the element type) and
`_output_shapes` (which TensorBoard prints on edges). A captured Variable becomes a
`VarHandleOp` node named after it; each read of it a `ReadVariableOp`; each assignment an
`AssignVariableOp`, `AssignAddVariableOp` or `AssignSubVariableOp` on the handle.

The dict form (`graph_def_dict`) is the message as dicts keyed by proto field name, minimal as
on the wire: fields at their proto3 default are absent, so `from_graph_def(to_graph_def(g))
== graph_def_dict(g)`.

>>> import tensorflux as tf
>>> f = tf.function(lambda x: tf.reduce_sum(tf.matmul(x, x, transpose_b=True), axis=1))
>>> graph = f.get_concrete_function(tf.TensorSpec([None, 2], tf.float32)).graph
>>> [(n["name"], n["op"], n.get("input", [])) for n in graph_def_dict(graph)["node"]]
[('x', 'Placeholder', []), ('matmul', 'MatMul', ['x', 'x']), \
('reduce_sum', 'Sum', ['matmul'])]
>>> from_graph_def(graph.to_graph_def())["node"][0]["attr"]["shape"]
{'shape': {'dim': [{'size': -1}, {'size': 2}]}}
"""

import math
import re
import struct

from tensorflux import errors
from tensorflux.dtypes import DType, as_dtype
from tensorflux.graph.ir import Graph, SymbolicTensor
from tensorflux.proto import graph_pb
from tensorflux.proto.message import ProtoMessage
from tensorflux.tensor import Tensor
from tensorflux.tensor_shape import TensorShape
from tensorflux.variable import Variable

__all__ = ["OP_NAMES", "AttrValue", "GraphDef", "NameAttrList", "NodeDef", "VersionDef",
           "as_graph_def", "from_graph_def", "graph_def_dict", "op_type", "op_type_of_primitive",
           "to_graph_def"]

# VersionDef.producer: the GraphDef version whose op set the op names below follow (TF 2.x).
PRODUCER = 1286

# tensorflux primitive -> TensorFlow op. Absent primitives keep their own name in CamelCase.
OP_NAMES = {
    "placeholder": "Placeholder", "const": "Const", "identity": "Identity",
    "stop_gradient": "StopGradient", "cast": "Cast", "select": "SelectV2",
    # elementwise arithmetic and math
    "add": "AddV2", "subtract": "Sub", "multiply": "Mul", "divide": "RealDiv",
    "floordiv": "FloorDiv", "floormod": "FloorMod", "pow": "Pow", "maximum": "Maximum",
    "minimum": "Minimum", "mul_no_nan": "MulNoNan", "negative": "Neg", "abs": "Abs",
    "sign": "Sign", "reciprocal": "Reciprocal", "square": "Square", "sqrt": "Sqrt",
    "rsqrt": "Rsqrt", "exp": "Exp", "expm1": "Expm1", "log": "Log", "log1p": "Log1p",
    "sin": "Sin", "cos": "Cos", "tan": "Tan", "asin": "Asin", "acos": "Acos", "atan": "Atan",
    "atan2": "Atan2", "sinh": "Sinh", "cosh": "Cosh", "tanh": "Tanh", "sigmoid": "Sigmoid",
    "erf": "Erf", "floor": "Floor", "ceil": "Ceil", "round": "Round", "is_finite": "IsFinite",
    "is_inf": "IsInf", "is_nan": "IsNan", "real": "Real", "imag": "Imag", "conj": "Conj",
    "angle": "Angle", "complex": "Complex", "bitwise_not": "Invert",
    # comparisons and logic
    "equal": "Equal", "not_equal": "NotEqual", "less": "Less", "less_equal": "LessEqual",
    "greater": "Greater", "greater_equal": "GreaterEqual", "logical_and": "LogicalAnd",
    "logical_or": "LogicalOr", "logical_not": "LogicalNot",
    # reductions and scans
    "reduce_sum": "Sum", "reduce_mean": "Mean", "reduce_prod": "Prod", "reduce_max": "Max",
    "reduce_min": "Min", "reduce_any": "Any", "reduce_all": "All", "argmax": "ArgMax",
    "argmin": "ArgMin", "cumsum": "Cumsum", "cumprod": "Cumprod", "top_k": "TopKV2",
    # linear algebra
    "matmul": "MatMul", "transpose": "Transpose", "einsum": "Einsum",
    "matrix_determinant": "MatrixDeterminant", "matrix_inverse": "MatrixInverse",
    "matrix_diag": "MatrixDiagV3", "matrix_diag_part": "MatrixDiagPartV3",
    # array construction and indexing
    "reshape": "Reshape", "broadcast_to": "BroadcastTo", "fill": "Fill", "range": "Range",
    "concat": "ConcatV2", "split": "SplitV", "stack": "Pack", "unstack": "Unpack",
    "tile": "Tile", "pad": "PadV2", "one_hot": "OneHot", "gather": "GatherV2",
    "gather_nd": "GatherNd", "scatter_nd": "ScatterNd",
    "tensor_scatter_nd_update": "TensorScatterUpdate", "where_indices": "Where",
    "getitem": "StridedSlice", "unique": "Unique", "string_join": "StringJoin",
    # neural networks
    "relu": "Relu", "relu6": "Relu6", "elu": "Elu", "softplus": "Softplus",
    "softsign": "Softsign", "softmax": "Softmax", "log_softmax": "LogSoftmax",
    "softmax_cross_entropy_with_logits": "SoftmaxCrossEntropyWithLogits",
    "sparse_softmax_cross_entropy_with_logits": "SparseSoftmaxCrossEntropyWithLogits",
    "conv2d": "Conv2D", "conv2d_backprop_input": "Conv2DBackpropInput",
    "conv2d_backprop_filter": "Conv2DBackpropFilter", "max_pool2d": "MaxPool",
    "max_pool2d_grad": "MaxPoolGrad", "avg_pool2d": "AvgPool", "avg_pool2d_grad": "AvgPoolGrad",
    # random draws
    "random_normal": "RandomStandardNormal", "random_uniform": "RandomUniform",
    "random_truncated_normal": "TruncatedNormal", "random_uniform_int": "RandomUniformInt",
    "random_shuffle": "RandomShuffle", "random_categorical": "Multinomial",
    # state and control flow
    "print": "PrintV2", "print_tensors": "PrintV2", "cond": "If", "while_loop": "While",
}
# assign's `kind` attr -> the resource-variable op that TensorFlow uses.
_ASSIGN_OPS = {"assign": "AssignVariableOp", "assign_add": "AssignAddVariableOp",
               "assign_sub": "AssignSubVariableOp"}
# Ops whose element type TensorFlow records as `dtype` (set explicitly below), not `T`.
_NO_T = {"placeholder", "const", "assign"}
_INT64 = (-(1 << 63), (1 << 63) - 1)
_FLOAT32_MAX = 3.4028234663852886e38
# TensorFlow's node-name syntax; other characters become "_".
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-/>]")


def graph_def_dict(graph, max_constant_bytes=1 << 20):
    """The GraphDef of a Graph in dict form (see the module docstring).

    Constants (and array attrs) larger than `max_constant_bytes` keep their dtype and shape
    but not their values, so that a graph holding a dataset-sized constant stays viewable.
    """
    if not isinstance(graph, Graph):
        raise errors.InvalidArgumentError(
            f"graph_def_dict expects a tensorflux Graph, received {type(graph).__name__}")
    return _Exporter(graph, max_constant_bytes).run()


def to_graph_def(graph, max_constant_bytes=1 << 20):
    """The serialized GraphDef bytes of a Graph (readable by TensorFlow and TensorBoard)."""
    return graph_pb.encode_graph_def(graph_def_dict(graph, max_constant_bytes))


def as_graph_def(graph, add_shapes=False):
    """The GraphDef of a Graph as a message object (TF's Graph.as_graph_def): `.node` holds
    NodeDefs with `name`, `op`, `input` and `attr`. The `_output_shapes` attrs are kept only
    with add_shapes=True, as in TF."""
    from tensorflux.summary import event_pb  # noqa: F401 (registers the tensor messages)

    graph_def = graph_def_dict(graph)
    if not add_shapes:
        for node in graph_def["node"]:
            node.get("attr", {}).pop("_output_shapes", None)
    return GraphDef.FromString(graph_pb.encode_graph_def(graph_def))


def from_graph_def(data):
    """The dict form of serialized GraphDef bytes (ours or TensorFlow's)."""
    return graph_pb.decode_graph_def(data)


class _Exporter:
    """One export: the NodeDefs so far and the node names taken."""

    def __init__(self, graph, max_constant_bytes):
        self.graph = graph
        self.max_constant_bytes = max_constant_bytes
        self.taken = {node.name for node in graph.nodes}
        self.handles = {}  # id(Variable) -> its VarHandleOp node name
        self.node_defs = []

    def run(self):
        for variable in self.graph.variables():
            self._add_handle(variable)
        for node in self.graph.nodes:
            self._add_node(node)
        return {"node": self.node_defs, "versions": {"producer": PRODUCER}}

    def _unique(self, base):
        base = _BAD_NAME_CHARS.sub("_", base) or "node"
        if base[0] in "_-/>":
            base = "v" + base
        name, count = base, 0
        while name in self.taken:
            count += 1
            name = f"{base}_{count}"
        self.taken.add(name)
        return name

    def _add_handle(self, variable):
        name = self._unique(variable.name.split(":")[0])
        self.handles[id(variable)] = name
        self.node_defs.append(_node_def(name, "VarHandleOp", [], {
            "dtype": {"type": _data_type(variable.dtype)},
            "shape": {"shape": _shape_proto(variable.shape)},
            "shared_name": {"s": name.encode("utf-8")},
            "_output_shapes": {"list": {"shape": [_shape_proto(TensorShape([]))]}},
        }))

    def _read(self, variable, consumer):
        name = self._unique(f"{consumer.name}/ReadVariableOp")
        self.node_defs.append(_node_def(name, "ReadVariableOp", [self.handles[id(variable)]], {
            "dtype": {"type": _data_type(variable.dtype)},
            "_output_shapes": {"list": {"shape": [_shape_proto(variable.shape)]}},
        }))
        return name

    def _input_name(self, node, position, x):
        if isinstance(x, SymbolicTensor):
            return x.node.name if x.index == 0 else f"{x.node.name}:{x.index}"
        if isinstance(x, Variable):
            if node.primitive.name == "assign" and position == 0:
                return self.handles[id(x)]
            return self._read(x, node)
        raise errors.InvalidArgumentError(
            f"GraphDef export: input {position} of node '{node.name}' ({node.type}) is "
            f"{type(x).__name__}, expected a graph tensor or a Variable")

    def _add_node(self, node):
        inputs = [self._input_name(node, i, x) for i, x in enumerate(node.inputs)]
        kind = node.primitive.name
        attrs = {}
        if kind == "assign":
            attrs["dtype"] = {"type": _data_type(node.inputs[0].dtype)}
        else:
            for key, value in node.attrs.items():
                converted = self._attr_value(value)
                if converted is not None:
                    attrs[key] = converted
        if kind not in _NO_T and "T" not in attrs and node.inputs:
            attrs["T"] = {"type": _data_type(node.inputs[0].dtype)}
        outputs = node.output_list()
        if outputs:
            attrs["_output_shapes"] = {"list": {"shape": [_shape_proto(o.shape)
                                                          for o in outputs]}}
        self.node_defs.append(_node_def(node.name, op_type(node), inputs, attrs))

    def _attr_value(self, value):
        """The AttrValue dict of a Python attr, None to leave it out (a None attr)."""
        if value is None:
            return None
        if isinstance(value, DType):
            return {"type": _data_type(value)}
        if isinstance(value, TensorShape):
            return {"shape": _shape_proto(value)}
        if isinstance(value, bool):
            return {"b": value}
        if isinstance(value, int):
            return {"i": value} if _INT64[0] <= value <= _INT64[1] else _text(value)
        if isinstance(value, float):
            return {"f": _float32(value)}
        if isinstance(value, str):
            return {"s": value.encode("utf-8")}
        if isinstance(value, bytes):
            return {"s": value}
        if isinstance(value, Graph):
            return {"func": {"name": value.name}}
        if isinstance(value, (tuple, list)):
            return _list_value(value)
        if isinstance(value, Tensor):
            if value._value is None:
                return _text(value)
            value = value._value
        if hasattr(value, "dtype") and hasattr(value, "shape") and hasattr(value, "tobytes"):
            return {"tensor": _tensor_proto(value, self.max_constant_bytes)}
        if callable(value):
            return {"s": getattr(value, "__name__", type(value).__name__).encode("utf-8")}
        return _text(value)


def _node_def(name, op, inputs, attrs):
    node = {"name": name, "op": op}
    if inputs:
        node["input"] = inputs
    if attrs:
        node["attr"] = attrs
    return node


def op_type(node):
    """TensorFlow's op type for a graph node ("MatMul" for a matmul node), as a GraphDef and
    the profiler name it."""
    kind = node.primitive.name
    if kind == "assign":
        return _ASSIGN_OPS.get(node.attrs.get("kind"), "AssignVariableOp")
    if kind == "matmul" and any(x.shape.rank is None or x.shape.rank > 2 for x in node.inputs):
        return "BatchMatMulV2"  # tf.matmul's op for batched operands
    return op_type_of_primitive(kind)


def op_type_of_primitive(kind):
    """TensorFlow's op type for a primitive's name: a known one, else the name in CamelCase."""
    known = OP_NAMES.get(kind)
    if known is not None:
        return known
    return "".join(part[:1].upper() + part[1:] for part in kind.split("_"))


def _data_type(dtype):
    try:
        return graph_pb.DATA_TYPES[dtype.name]
    except KeyError:
        raise errors.InvalidArgumentError(
            f"GraphDef export: the dtype {dtype.name} has no TensorFlow DataType") from None


def _shape_proto(shape):
    if shape.rank is None:
        return {"unknown_rank": True}
    dims = [{"size": -1 if d is None else int(d)} for d in shape]
    # Proto3 leaves a zero size off the wire: the dict form matches what decoding gives.
    return {"dim": [d if d["size"] else {} for d in dims]} if dims else {}


def _float32(value):
    """A Python float rounded to float32 (what the AttrValue.f field holds)."""
    if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
        return math.copysign(math.inf, value)
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _text(value):
    return {"s": str(value).encode("utf-8")}


def _list_value(values):
    """A ListValue for a homogeneous tuple; anything else (nested tuples...) as its text."""
    values = list(values)
    if not values:
        return {"list": {}}
    if all(isinstance(v, bool) for v in values):
        return {"list": {"b": values}}
    if all(isinstance(v, int) and not isinstance(v, bool) and _INT64[0] <= v <= _INT64[1]
           for v in values):
        return {"list": {"i": values}}
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return {"list": {"f": [_float32(float(v)) for v in values]}}
    if all(isinstance(v, str) for v in values):
        return {"list": {"s": [v.encode("utf-8") for v in values]}}
    if all(isinstance(v, bytes) for v in values):
        return {"list": {"s": values}}
    if all(isinstance(v, DType) for v in values):
        return {"list": {"type": [_data_type(v) for v in values]}}
    if all(isinstance(v, TensorShape) for v in values):
        return {"list": {"shape": [_shape_proto(v) for v in values]}}
    return _text(tuple(values))


def _tensor_proto(array, max_bytes):
    """A TensorProto of a raw backend array: values as little-endian tensor_content (strings
    as string_val), left out above max_bytes."""
    from tensorflux.backends import backend_of

    host = backend_of(array).to_numpy(array)
    dtype = as_dtype(host.dtype)
    proto = {"dtype": _data_type(dtype),
             "tensor_shape": _shape_proto(TensorShape(tuple(host.shape)))}
    if dtype.name == "string":
        items = [x if isinstance(x, bytes) else str(x).encode("utf-8")
                 for x in host.reshape(-1).tolist()]
        if items and sum(len(x) for x in items) <= max_bytes:
            proto["string_val"] = items
        return proto
    if host.dtype.byteorder == ">":
        host = host.byteswap()  # the bytes become little-endian; the dtype label is unused
    if host.nbytes and host.nbytes <= max_bytes:
        proto["tensor_content"] = host.tobytes()
    return proto


# The message classes of a GraphDef (TensorShapeProto and TensorProto are those of
# tensorflux.summary.event_pb, registered for the same schemas).
class NameAttrList(ProtoMessage):
    """A function name with attrs (AttrValue.func)."""

    SCHEMA = graph_pb.NAME_ATTR_LIST
    __slots__ = ()


class AttrValue(ProtoMessage):
    """One attr of a NodeDef: one of s, i, f, b, type, shape, tensor, list, func."""

    SCHEMA = graph_pb.ATTR_VALUE
    __slots__ = ()

    class ListValue(ProtoMessage):
        """The repeated values of a list attr."""

        SCHEMA = graph_pb.LIST_VALUE
        __slots__ = ()


class NodeDef(ProtoMessage):
    """One node: name, op, input ("node", "node:i"), device and attr."""

    SCHEMA = graph_pb.NODE_DEF
    __slots__ = ()


class VersionDef(ProtoMessage):
    """The GraphDef version (producer) the graph's op set follows."""

    SCHEMA = graph_pb.VERSION_DEF
    __slots__ = ()


class GraphDef(ProtoMessage):
    """tf.compat.v1.GraphDef: `node`, a repeated NodeDef, and `versions`."""

    SCHEMA = graph_pb.GRAPH_DEF
    __slots__ = ()
