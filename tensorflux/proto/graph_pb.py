"""TensorFlow's GraphDef messages (graph.proto, node_def.proto, attr_value.proto, tensor.proto,
tensor_shape.proto, types.proto, versions.proto) as wire schemas, and the DataType enum.

Field numbers are those of tensorflow/core/framework/*.proto (checked against the compiled
copies TensorBoard ships). Messages are dicts keyed by field name (see tensorflux.proto.wire).

>>> from tensorflux.proto import graph_pb
>>> data = graph_pb.encode_graph_def({"node": [{"name": "x", "op": "Placeholder",
...                                             "attr": {"dtype": {"type": 1}}}]})
>>> graph_pb.decode_graph_def(data)["node"][0]["attr"]
{'dtype': {'type': 1}}
"""

from tensorflux.proto.wire import Field, Message, decode, encode

__all__ = ["ATTR_VALUE", "DATA_TYPES", "DATA_TYPE_NAMES", "GRAPH_DEF", "LIST_VALUE",
           "NAME_ATTR_LIST", "NODE_DEF", "TENSOR_PROTO", "TENSOR_SHAPE_PROTO", "VERSION_DEF",
           "decode_graph_def", "encode_graph_def"]

# types.proto's DataType numbers, by tensorflux/NumPy dtype name.
DATA_TYPES = {
    "float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "string": 7,
    "complex64": 8, "int64": 9, "bool": 10, "bfloat16": 14, "uint16": 17, "complex128": 18,
    "float16": 19, "resource": 20, "variant": 21, "uint32": 22, "uint64": 23,
}
DATA_TYPE_NAMES = {number: name for name, number in DATA_TYPES.items()}

# tensor_shape.proto
TENSOR_SHAPE_DIM = Message("TensorShapeProto.Dim", [
    Field("size", 1, "int64"),  # -1: unknown
    Field("name", 2, "string"),
])
TENSOR_SHAPE_PROTO = Message("TensorShapeProto", [
    Field("dim", 2, "message", repeated=True, message=TENSOR_SHAPE_DIM),
    Field("unknown_rank", 3, "bool"),
])

# tensor.proto (resource_handle_val = 14 and variant_val = 15 are not modelled: skipped).
TENSOR_PROTO = Message("TensorProto", [
    Field("dtype", 1, "enum"),
    Field("tensor_shape", 2, "message", message=TENSOR_SHAPE_PROTO),
    Field("version_number", 3, "int32"),
    Field("tensor_content", 4, "bytes"),  # the elements, row-major, little-endian
    Field("float_val", 5, "float", repeated=True),
    Field("double_val", 6, "double", repeated=True),
    Field("int_val", 7, "int32", repeated=True),
    Field("string_val", 8, "bytes", repeated=True),
    Field("scomplex_val", 9, "float", repeated=True),
    Field("int64_val", 10, "int64", repeated=True),
    Field("bool_val", 11, "bool", repeated=True),
    Field("dcomplex_val", 12, "double", repeated=True),
    Field("half_val", 13, "int32", repeated=True),
    Field("uint32_val", 16, "uint32", repeated=True),
    Field("uint64_val", 17, "uint64", repeated=True),
])

# attr_value.proto: AttrValue and NameAttrList refer to each other.
ATTR_VALUE = Message("AttrValue")
NAME_ATTR_LIST = Message("NameAttrList", [
    Field("name", 1, "string"),
    Field("attr", 2, "map", key="string", value=ATTR_VALUE),
])
LIST_VALUE = Message("AttrValue.ListValue", [
    Field("s", 2, "bytes", repeated=True),
    Field("i", 3, "int64", repeated=True),
    Field("f", 4, "float", repeated=True),
    Field("b", 5, "bool", repeated=True),
    Field("type", 6, "enum", repeated=True),
    Field("shape", 7, "message", repeated=True, message=TENSOR_SHAPE_PROTO),
    Field("tensor", 8, "message", repeated=True, message=TENSOR_PROTO),
    Field("func", 9, "message", repeated=True, message=NAME_ATTR_LIST),
])
ATTR_VALUE.define([
    Field("list", 1, "message", message=LIST_VALUE, oneof="value"),
    Field("s", 2, "bytes", oneof="value"),
    Field("i", 3, "int64", oneof="value"),
    Field("f", 4, "float", oneof="value"),
    Field("b", 5, "bool", oneof="value"),
    Field("type", 6, "enum", oneof="value"),
    Field("shape", 7, "message", message=TENSOR_SHAPE_PROTO, oneof="value"),
    Field("tensor", 8, "message", message=TENSOR_PROTO, oneof="value"),
    Field("placeholder", 9, "string", oneof="value"),
    Field("func", 10, "message", message=NAME_ATTR_LIST, oneof="value"),
])

# node_def.proto (experimental_debug_info = 6 and experimental_type = 7 are skipped).
NODE_DEF = Message("NodeDef", [
    Field("name", 1, "string"),
    Field("op", 2, "string"),
    Field("input", 3, "string", repeated=True),  # "node", "node:i" (i > 0) or "^node"
    Field("device", 4, "string"),
    Field("attr", 5, "map", key="string", value=ATTR_VALUE),
])

# versions.proto
VERSION_DEF = Message("VersionDef", [
    Field("producer", 1, "int32"),
    Field("min_consumer", 2, "int32"),
    Field("bad_consumers", 3, "int32", repeated=True),
])

# graph.proto (library = 2, the FunctionDefLibrary, and debug_info = 5 are skipped).
GRAPH_DEF = Message("GraphDef", [
    Field("node", 1, "message", repeated=True, message=NODE_DEF),
    Field("version", 3, "int32"),  # deprecated: versions.producer replaces it
    Field("versions", 4, "message", message=VERSION_DEF),
])


def encode_graph_def(graph_def):
    """The serialized bytes of a GraphDef given as a dict."""
    return encode(GRAPH_DEF, graph_def)


def decode_graph_def(data):
    """The dict of serialized GraphDef bytes (fields at their default are absent)."""
    return decode(GRAPH_DEF, data)
