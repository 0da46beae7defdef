"""ONNX's protocol buffer messages (onnx/onnx.proto: ModelProto, GraphProto, NodeProto,
AttributeProto, TensorProto, ValueInfoProto, TypeProto, OperatorSetIdProto) as wire schemas.

Field numbers are those of onnx/onnx.proto (checked against the copy the onnx 1.23 wheel
ships). onnx.proto is proto2: an attribute's value field must be present even when it is 0
(the checker counts fields by presence), so value fields are declared as a `oneof`, which the
wire codec always writes.

>>> from tensorflux.keras.export import onnx_proto
>>> data = onnx_proto.encode_model({"ir_version": 8, "graph": {"name": "g"}})
>>> onnx_proto.decode_model(data)
{'ir_version': 8, 'graph': {'name': 'g'}}
"""

from tensorflux.proto.wire import Field, Message, decode, encode

__all__ = ["ATTRIBUTE", "ATTRIBUTE_TYPES", "DATA_TYPES", "GRAPH", "MODEL", "NODE",
           "OPERATOR_SET_ID", "TENSOR", "TYPE", "VALUE_INFO", "decode_model", "encode_model"]

# TensorProto.DataType, by tensorflux dtype name.
DATA_TYPES = {
    "float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7,
    "string": 8, "bool": 9, "float16": 10, "float64": 11, "uint32": 12, "uint64": 13,
    "complex64": 14, "complex128": 15, "bfloat16": 16,
}
# AttributeProto.AttributeType
ATTRIBUTE_TYPES = {"float": 1, "int": 2, "string": 3, "tensor": 4, "graph": 5, "floats": 6,
                   "ints": 7, "strings": 8, "tensors": 9, "graphs": 10}

DIMENSION = Message("TensorShapeProto.Dimension", [
    Field("dim_value", 1, "int64", oneof="value"),
    Field("dim_param", 2, "string", oneof="value"),
    Field("denotation", 3, "string"),
])
TENSOR_SHAPE = Message("TensorShapeProto", [
    Field("dim", 1, "message", repeated=True, message=DIMENSION),
])
TENSOR_TYPE = Message("TypeProto.Tensor", [
    Field("elem_type", 1, "int32"),
    Field("shape", 2, "message", message=TENSOR_SHAPE),
])
TYPE = Message("TypeProto", [
    Field("tensor_type", 1, "message", message=TENSOR_TYPE, oneof="value"),
    Field("denotation", 6, "string"),
])
VALUE_INFO = Message("ValueInfoProto", [
    Field("name", 1, "string"),
    Field("type", 2, "message", message=TYPE),
    Field("doc_string", 3, "string"),
])
TENSOR = Message("TensorProto", [
    Field("dims", 1, "int64", repeated=True),
    Field("data_type", 2, "int32"),
    Field("float_data", 4, "float", repeated=True),
    Field("int32_data", 5, "int32", repeated=True),
    Field("string_data", 6, "bytes", repeated=True),
    Field("int64_data", 7, "int64", repeated=True),
    Field("name", 8, "string"),
    Field("raw_data", 9, "bytes"),  # row-major, little-endian
    Field("double_data", 10, "double", repeated=True),
    Field("uint64_data", 11, "uint64", repeated=True),
    Field("doc_string", 12, "string"),
])
GRAPH = Message("GraphProto")
ATTRIBUTE = Message("AttributeProto", [
    Field("name", 1, "string"),
    Field("f", 2, "float", oneof="value"),
    Field("i", 3, "int64", oneof="value"),
    Field("s", 4, "bytes", oneof="value"),
    Field("t", 5, "message", message=TENSOR, oneof="value"),
    Field("g", 6, "message", message=GRAPH, oneof="value"),
    Field("floats", 7, "float", repeated=True),
    Field("ints", 8, "int64", repeated=True),
    Field("strings", 9, "bytes", repeated=True),
    Field("tensors", 10, "message", repeated=True, message=TENSOR),
    Field("graphs", 11, "message", repeated=True, message=GRAPH),
    Field("doc_string", 13, "string"),
    Field("type", 20, "enum"),
])
NODE = Message("NodeProto", [
    Field("input", 1, "string", repeated=True),
    Field("output", 2, "string", repeated=True),
    Field("name", 3, "string"),
    Field("op_type", 4, "string"),
    Field("attribute", 5, "message", repeated=True, message=ATTRIBUTE),
    Field("doc_string", 6, "string"),
    Field("domain", 7, "string"),
])
GRAPH.define([
    Field("node", 1, "message", repeated=True, message=NODE),
    Field("name", 2, "string"),
    Field("initializer", 5, "message", repeated=True, message=TENSOR),
    Field("doc_string", 10, "string"),
    Field("input", 11, "message", repeated=True, message=VALUE_INFO),
    Field("output", 12, "message", repeated=True, message=VALUE_INFO),
    Field("value_info", 13, "message", repeated=True, message=VALUE_INFO),
])
OPERATOR_SET_ID = Message("OperatorSetIdProto", [
    Field("domain", 1, "string"),
    Field("version", 2, "int64"),
])
MODEL = Message("ModelProto", [
    Field("ir_version", 1, "int64"),
    Field("producer_name", 2, "string"),
    Field("producer_version", 3, "string"),
    Field("domain", 4, "string"),
    Field("model_version", 5, "int64"),
    Field("doc_string", 6, "string"),
    Field("graph", 7, "message", message=GRAPH),
    Field("opset_import", 8, "message", repeated=True, message=OPERATOR_SET_ID),
])


def encode_model(model):
    """The bytes of a ModelProto given as a dict."""
    return encode(MODEL, model)


def decode_model(data):
    """The dict of a ModelProto's bytes."""
    return decode(MODEL, data)
