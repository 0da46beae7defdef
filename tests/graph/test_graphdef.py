"""GraphDef export: the protobuf wire codec, the Graph -> GraphDef mapping, and TensorBoard's
compiled TensorFlow protos as an independent parser of our bytes."""

import struct

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.graph.graphdef import _Exporter, from_graph_def, graph_def_dict, to_graph_def
from tensorflux.proto import graph_pb, wire
from tensorflux.proto.wire import DecodeError, Field, Message

try:
    from tensorboard.compat.proto import attr_value_pb2, graph_pb2, tensor_pb2
except ImportError:  # tensorboard (and its protobuf) is a test extra
    graph_pb2 = None

needs_tensorboard = pytest.mark.skipif(
    graph_pb2 is None, reason="tensorboard is not installed: its compiled TensorFlow protos "
                              "are the independent GraphDef parser (pip install tensorboard)")

# ------------------------------------------------------------------ wire format

INT64 = Message("M", [Field("v", 1, "int64")])


@pytest.mark.parametrize("value, hex_bytes", [
    (0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"),
    (2**63 - 1, "ffffffffffffffff7f"), (-1, "ffffffffffffffffff01"),
    (-(2**63), "80808080808080808001"),
])
def test_varint_edge_cases(value, hex_bytes):
    assert wire.encode_varint(value).hex() == hex_bytes
    raw, end = wire.decode_varint(bytes.fromhex(hex_bytes))
    assert end == len(hex_bytes) // 2
    assert wire.decode(INT64, b"\x08" + bytes.fromhex(hex_bytes)) == ({"v": value} if value
                                                                         else {"v": 0})


def test_protobuf_documentation_examples():
    # The examples of https://protobuf.dev/programming-guides/encoding/
    test1 = Message("Test1", [Field("a", 1, "int32")])
    assert wire.encode(test1, {"a": 150}).hex() == "089601"
    test2 = Message("Test2", [Field("b", 2, "string")])
    assert wire.encode(test2, {"b": "testing"}).hex() == "120774657374696e67"
    test5 = Message("Test5", [Field("f", 4, "int32", repeated=True)])
    assert wire.encode(test5, {"f": [3, 270, 86942]}).hex() == "2206038e029ea705"
    test3 = Message("Test3", [Field("c", 3, "message", message=test1)])
    assert wire.encode(test3, {"c": {"a": 150}}).hex() == "1a03089601"
    assert wire.decode(test3, bytes.fromhex("1a03089601")) == {"c": {"a": 150}}
    zigzag = Message("Z", [Field("s", 1, "sint64")])
    assert [wire.encode(zigzag, {"s": v}).hex() for v in (-1, 1, -2)] == ["0801", "0802", "0803"]
    assert wire.decode(zigzag, bytes.fromhex("0803")) == {"s": -2}


def test_negative_int32_and_enum_are_ten_bytes_and_decode_signed():
    message = Message("M", [Field("i", 1, "int32"), Field("e", 2, "enum")])
    data = wire.encode(message, {"i": -5, "e": -1})
    assert len(data) == 22
    assert wire.decode(message, data) == {"i": -5, "e": -1}


def test_fixed_width_scalars():
    message = Message("M", [Field("f", 1, "float"), Field("d", 2, "double"),
                            Field("u", 3, "fixed32"), Field("q", 4, "sfixed64")])
    data = wire.encode(message, {"f": 1.5, "d": -2.25, "u": 7, "q": -3})
    assert data == (b"\x0d" + struct.pack("<f", 1.5) + b"\x11" + struct.pack("<d", -2.25)
                    + b"\x1d" + struct.pack("<I", 7) + b"\x21" + struct.pack("<q", -3))
    assert wire.decode(message, data) == {"f": 1.5, "d": -2.25, "u": 7, "q": -3}


def test_packed_repeated_fields_and_unpacked_input():
    message = Message("M", [Field("i", 1, "int64", repeated=True),
                            Field("f", 2, "float", repeated=True),
                            Field("b", 3, "bool", repeated=True)])
    value = {"i": [0, -1, 2**40], "f": [0.5, -4.0], "b": [True, False, True]}
    data = wire.encode(message, value)
    assert data.startswith(b"\x0a")  # field 1, length-delimited: packed
    assert wire.decode(message, data) == value
    # Parsers must also accept the unpacked form, and concatenate repeated occurrences.
    unpacked = b"\x08\x05" + b"\x08\x06" + b"\x15" + struct.pack("<f", 2.0) + data
    assert wire.decode(message, unpacked) == {"i": [5, 6, 0, -1, 2**40], "f": [2.0, 0.5, -4.0],
                                              "b": [True, False, True]}


def test_nested_and_recursive_messages_and_maps():
    node = Message("Node")
    node.define([Field("name", 1, "string"), Field("children", 2, "message", repeated=True,
                                                    message=node),
                 Field("tags", 3, "map", key="string", value="int64"),
                 Field("meta", 4, "map", key="string", value=node)])
    value = {"name": "root", "children": [{"name": "a"}, {"name": "b", "children": [{}]}],
             "tags": {"z": 1, "a": -2, "": 0}, "meta": {"m": {"name": "x"}, "e": {}}}
    data = wire.encode(node, value)
    assert wire.decode(node, data) == value
    # Map entries are written in key order, whatever the dict order.
    reordered = dict(value, tags={"": 0, "a": -2, "z": 1})
    assert wire.encode(node, reordered) == data


def test_proto3_defaults_are_left_off_except_oneof_members():
    message = Message("M", [Field("n", 1, "int64"), Field("s", 2, "string"),
                            Field("x", 3, "int64", oneof="v"), Field("y", 4, "string",
                                                                     oneof="v")])
    assert wire.encode(message, {"n": 0, "s": ""}) == b""
    assert wire.encode(message, {"x": 0}) == b"\x18\x00"
    assert wire.decode(message, b"\x18\x00") == {"x": 0}
    # The last oneof member on the wire wins.
    assert wire.decode(message, b"\x18\x01\x22\x01z") == {"y": "z"}


def test_decoder_skips_unknown_fields_of_every_wire_type():
    full = Message("Full", [Field("a", 1, "int64"), Field("b", 2, "double"),
                            Field("c", 3, "bytes"), Field("d", 4, "fixed32"),
                            Field("e", 5, "string"), Field("f", 6, "int64", repeated=True)])
    known = Message("Known", [Field("a", 1, "int64"), Field("e", 5, "string")])
    data = wire.encode(full, {"a": 9, "b": 1.0, "c": b"\x08\x01", "d": 3, "e": "ok",
                              "f": [1, 2]})
    assert wire.decode(known, data) == {"a": 9, "e": "ok"}
    assert wire.decode(Message("Empty"), data) == {}


def test_encoding_errors():
    with pytest.raises(ValueError, match="out of range"):
        wire.encode(Message("M", [Field("i", 1, "int32")]), {"i": 2**31})
    with pytest.raises(ValueError, match="no field"):
        wire.encode(INT64, {"w": 1})
    with pytest.raises(TypeError, match="expects an int"):
        wire.encode(INT64, {"v": 1.5})
    with pytest.raises(TypeError, match="expects a str"):
        wire.encode(Message("M", [Field("s", 1, "string")]), {"s": b"x"})


@pytest.mark.parametrize("data", [b"\x08", b"\x08\x80", b"\x0a\x05ab", b"\x0d\x00", b"\x0b",
                                  b"\x00\x00", b"\x08" + b"\xff" * 11])
def test_malformed_bytes_raise_decode_error(data):
    with pytest.raises(DecodeError):
        wire.decode(INT64, data)


# ------------------------------------------------------------------ Graph -> GraphDef

@pytest.fixture
def unoptimized(monkeypatch):
    """tf.function graphs as traced: the optimization passes (if any) are turned off, so that
    the exported nodes are the ops the test wrote."""
    try:
        from tensorflux.graph import passes
    except ImportError:
        return
    monkeypatch.setattr(passes, "optimize", lambda graph: graph)


def mlp_step_graph():
    """A traced training step: a dense layer, a loss, tape gradients, in-place updates."""
    w = tf.Variable(tf.ones([3, 2]), name="dense/kernel:0")
    b = tf.Variable(tf.zeros([2]), name="dense/bias")

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.matmul(x, w) + b)
            loss = tf.reduce_mean(tf.square(h - y))
        grad_w, grad_b = tape.gradient(loss, [w, b])
        w.assign_sub(0.1 * grad_w)
        b.assign_add(-0.1 * grad_b)
        return loss

    spec = (tf.TensorSpec([4, 3], tf.float32), tf.TensorSpec([4, 2], tf.float32))
    return step.get_concrete_function(*spec).graph


def by_name(graph_def):
    return {node["name"]: node for node in graph_def["node"]}


def check_round_trip_and_order(graph):
    expected = graph_def_dict(graph)
    data = to_graph_def(graph)
    assert isinstance(data, bytes) and graph.to_graph_def() == data
    assert from_graph_def(data) == expected
    names = [node["name"] for node in expected["node"]]
    assert len(set(names)) == len(names)
    # Every input names a node defined earlier (program order is a topological order).
    seen = set()
    for node in expected["node"]:
        for name in node.get("input", []):
            assert name.split(":")[0] in seen, (node["name"], name)
        seen.add(node["name"])
    assert expected["versions"]["producer"] > 0
    return expected


def test_optimized_mlp_step_round_trip():
    expected = check_round_trip_and_order(mlp_step_graph())
    ops = {node["op"] for node in expected["node"]}
    assert {"Placeholder", "MatMul", "VarHandleOp", "ReadVariableOp", "AssignSubVariableOp",
            "AssignAddVariableOp"} <= ops
    assert all(op[:1].isupper() and "_" not in op for op in ops)


def test_mlp_step_structure(unoptimized):
    expected = check_round_trip_and_order(mlp_step_graph())
    nodes = by_name(expected)
    ops = {node["op"] for node in expected["node"]}
    assert {"Placeholder", "Const", "MatMul", "AddV2", "Relu", "Mean", "Sum", "Sub", "Mul",
            "Square", "VarHandleOp", "ReadVariableOp", "AssignSubVariableOp",
            "AssignAddVariableOp"} <= ops
    # Variables: one handle each, named after the variable; reads and writes go through it.
    assert nodes["dense/kernel"]["op"] == "VarHandleOp"
    assert nodes["dense/kernel"]["attr"]["shape"] == {"shape": {"dim": [{"size": 3},
                                                                        {"size": 2}]}}
    assert nodes["dense/bias"]["attr"]["dtype"] == {"type": 1}
    matmul = nodes["matmul"]
    assert matmul["input"][0] == "x"
    read = nodes[matmul["input"][1]]
    assert read["op"] == "ReadVariableOp" and read["input"] == ["dense/kernel"]
    assert matmul["attr"]["transpose_a"] == {"b": False}
    assert matmul["attr"]["T"] == {"type": 1}
    assert matmul["attr"]["_output_shapes"] == {"list": {"shape": [{"dim": [{"size": 4},
                                                                            {"size": 2}]}]}}
    assert nodes["add"]["input"][0] == "matmul"
    assert nodes["relu"]["input"] == ["add"]
    assigns = [n for n in expected["node"] if n["op"].startswith("Assign")]
    assert [n["input"][0] for n in assigns] == ["dense/kernel", "dense/bias"]
    assert "_output_shapes" not in assigns[0]["attr"]
    assert nodes["reduce_mean"]["attr"]["axis"] == {"list": {"i": [0, 1]}}
    assert nodes["reduce_mean"]["attr"]["keepdims"] == {"b": False}


def test_output_index_convention_and_unknown_dims(unoptimized):
    f = tf.function(lambda x: tf.unstack(x, num=3, axis=1)[2] * 2.0)
    graph = f.get_concrete_function(tf.TensorSpec([None, 3], tf.float32)).graph
    nodes = by_name(from_graph_def(to_graph_def(graph)))
    assert nodes["multiply"]["input"][0] == "unstack:2"
    assert nodes["x"]["attr"]["shape"] == {"shape": {"dim": [{"size": -1}, {"size": 3}]}}
    shapes = nodes["unstack"]["attr"]["_output_shapes"]["list"]["shape"]
    assert shapes == [{"dim": [{"size": -1}]}] * 3


def test_constants_carry_little_endian_values_and_large_ones_are_elided(unoptimized):
    small = tf.constant([[1, -2], [3, 2**31 - 1]], dtype=tf.int32)
    big = tf.constant([0.5] * 64, dtype=tf.float64)
    words = tf.constant(["ab", "é"])
    f = tf.function(lambda: (small + 1, big * 2.0, words))
    graph = f.get_concrete_function().graph
    consts = [n for n in graph_def_dict(graph, max_constant_bytes=256)["node"]
              if n["op"] == "Const"]
    tensors = [n["attr"]["value"]["tensor"] for n in consts]
    assert all(n["attr"]["dtype"]["type"] == t["dtype"] for n, t in zip(consts, tensors))
    assert {"dtype": 3, "tensor_shape": {"dim": [{"size": 2}, {"size": 2}]},
            "tensor_content": struct.pack("<4i", 1, -2, 3, 2**31 - 1)} in tensors
    assert {"dtype": 3, "tensor_shape": {}, "tensor_content": struct.pack("<i", 1)} in tensors
    # 64 float64 values are 512 bytes, over the limit: dtype and shape only.
    assert {"dtype": 2, "tensor_shape": {"dim": [{"size": 64}]}} in tensors
    assert {"dtype": 7, "tensor_shape": {"dim": [{"size": 2}]},
            "string_val": [b"ab", "é".encode()]} in tensors
    # With the default limit the big constant keeps its values.
    full = [n["attr"]["value"]["tensor"] for n in graph_def_dict(graph)["node"]
            if n["op"] == "Const" and n["attr"]["dtype"] == {"type": 2}]
    assert any(t.get("tensor_content") == struct.pack("<64d", *[0.5] * 64) for t in full)


@pytest.mark.parametrize("value, expected", [
    (tf.float16, {"type": 19}), (tf.bfloat16, {"type": 14}), (tf.uint64, {"type": 23}),
    (tf.TensorShape(None), {"shape": {"unknown_rank": True}}),
    (tf.TensorShape([0, None]), {"shape": {"dim": [{}, {"size": -1}]}}),
    (True, {"b": True}), (0, {"i": 0}), (-7, {"i": -7}), (2**70, {"s": str(2**70).encode()}),
    (0.1, {"f": struct.unpack("<f", struct.pack("<f", 0.1))[0]}), (1e300, {"f": float("inf")}),
    ("SAME", {"s": b"SAME"}), (b"\x00", {"s": b"\x00"}), ((), {"list": {}}),
    ((1, 2), {"list": {"i": [1, 2]}}), ((1, 2.5), {"list": {"f": [1.0, 2.5]}}),
    ((True,), {"list": {"b": [True]}}), (("a", "b"), {"list": {"s": [b"a", b"b"]}}),
    ((tf.int8, tf.bool), {"list": {"type": [6, 10]}}),
    ((tf.TensorShape([2]),), {"list": {"shape": [{"dim": [{"size": 2}]}]}}),
    (((1, 2), (3, 4)), {"s": b"((1, 2), (3, 4))"}), (None, None),
])
def test_attr_values(value, expected):
    converted = _Exporter(tf.function(lambda: 0).get_concrete_function().graph,
                          1024)._attr_value(value)
    assert converted == expected
    if converted is not None:
        data = wire.encode(graph_pb.ATTR_VALUE, converted)
        assert wire.decode(graph_pb.ATTR_VALUE, data) == converted


def test_graph_def_dict_rejects_non_graphs():
    with pytest.raises(tf.errors.InvalidArgumentError, match="expects a tensorflux Graph"):
        graph_def_dict("not a graph")


# ------------------------------------------------------------------ TensorBoard's protos

def check_tensorboard_parse(graph):
    ours = graph_def_dict(graph)
    parsed = graph_pb2.GraphDef.FromString(to_graph_def(graph))
    assert [n.name for n in parsed.node] == [n["name"] for n in ours["node"]]
    assert [n.op for n in parsed.node] == [n["op"] for n in ours["node"]]
    assert [list(n.input) for n in parsed.node] == [n.get("input", []) for n in ours["node"]]
    assert parsed.versions.producer == ours["versions"]["producer"]
    consts = [n for n in parsed.node if n.op == "Const"]
    assert consts
    for const in consts:
        tensor = const.attr["value"].tensor
        value = np.asarray(graph.get_node(const.name).attrs["value"])
        assert tensor.dtype == const.attr["dtype"].type == 1  # DT_FLOAT
        assert [d.size for d in tensor.tensor_shape.dim] == list(value.shape)
        content = np.frombuffer(tensor.tensor_content, dtype="<f4").reshape(value.shape)
        np.testing.assert_array_equal(content, value)
    # Re-serialized by protobuf, the message decodes to our dict again.
    assert from_graph_def(parsed.SerializeToString(deterministic=True)) == ours
    return {n.name: n for n in parsed.node}


@needs_tensorboard
def test_tensorboard_parses_our_graph_def(unoptimized):
    nodes = check_tensorboard_parse(mlp_step_graph())
    assert nodes["x"].attr["dtype"].type == 1  # DT_FLOAT
    assert [d.size for d in nodes["x"].attr["shape"].shape.dim] == [4, 3]
    assert nodes["matmul"].attr["transpose_b"].b is False
    assert nodes["matmul"].attr["transpose_b"].WhichOneof("value") == "b"
    assert list(nodes["reduce_mean"].attr["axis"].list.i) == [0, 1]
    assert nodes["dense/kernel"].attr["shared_name"].s == b"dense/kernel"
    assert nodes["relu"].attr["T"].type == 1
    shapes = nodes["relu"].attr["_output_shapes"].list.shape
    assert [[d.size for d in s.dim] for s in shapes] == [[4, 2]]


@needs_tensorboard
def test_tensorboard_parses_our_optimized_graph_def():
    check_tensorboard_parse(mlp_step_graph())


@needs_tensorboard
def test_we_decode_protobuf_serialized_messages():
    tensor = tensor_pb2.TensorProto(dtype=9, int64_val=[-1, 2**62], float_val=[0.25],
                                    bool_val=[True, False], string_val=[b"x", b""])
    tensor.tensor_shape.dim.add(size=-1, name="batch")
    tensor.tensor_shape.dim.add(size=0)
    decoded = wire.decode(graph_pb.TENSOR_PROTO, tensor.SerializeToString())
    assert decoded == {"dtype": 9, "int64_val": [-1, 2**62], "float_val": [0.25],
                       "bool_val": [True, False], "string_val": [b"x", b""],
                       "tensor_shape": {"dim": [{"size": -1, "name": "batch"}, {}]}}
    attr = attr_value_pb2.AttrValue()
    attr.list.type.extend([1, 19])
    attr.list.f.extend([1.5, -2.0])
    assert wire.decode(graph_pb.ATTR_VALUE, attr.SerializeToString()) == {
        "list": {"f": [1.5, -2.0], "type": [1, 19]}}
    graph = graph_pb2.GraphDef()
    node = graph.node.add(name="n", op="Identity", input=["a:1", "^b"], device="/cpu:0")
    node.attr["T"].type = 2
    node.attr["zero"].i = 0
    node.experimental_debug_info.original_node_names.append("unknown to us")
    graph.library.function.add().signature.name = "skipped"
    graph.versions.producer = 27
    assert from_graph_def(graph.SerializeToString()) == {
        "node": [{"name": "n", "op": "Identity", "input": ["a:1", "^b"], "device": "/cpu:0",
                  "attr": {"T": {"type": 2}, "zero": {"i": 0}}}],
        "versions": {"producer": 27}}
