"""TensorBoard's Event and Summary messages (event.proto, summary.proto, histogram.proto) as
wire schemas for tensorflux.proto.wire.

Field numbers are those of tensorflow/core/util/event.proto and
tensorflow/core/framework/summary.proto, checked against the compiled copies the `tensorboard`
package ships (tensorboard/compat/proto/event_pb2.py, summary_pb2.py). Unmodelled fields
(Event.log_message, session_log, tagged_run_metadata, meta_graph_def, source_metadata;
Summary.Value.audio, obsolete_old_style_histogram) are skipped when decoding.

>>> data = encode_event({"wall_time": 1.5, "step": 3, "file_version": "brain.Event:2"})
>>> decode_event(data)
{'wall_time': 1.5, 'step': 3, 'file_version': 'brain.Event:2'}

The message classes (Event, Summary, ...) read like the protobuf package's messages; they are
what tf.compat.v1.train.summary_iterator yields:

>>> event = Event.FromString(data)
>>> event.step, event.WhichOneof("what"), event.summary.value
(3, 'file_version', [])
"""

from tensorflux.proto.graph_pb import TENSOR_PROTO, TENSOR_SHAPE_DIM, TENSOR_SHAPE_PROTO
from tensorflux.proto.message import ProtoMessage
from tensorflux.proto.wire import Field, Message, decode, encode

__all__ = ["DATA_CLASS_BLOB_SEQUENCE", "DATA_CLASS_SCALAR", "DATA_CLASS_TENSOR", "EVENT",
           "HISTOGRAM_PROTO", "RUN_METADATA", "SUMMARY", "SUMMARY_IMAGE", "SUMMARY_METADATA",
           "SUMMARY_VALUE", "Event", "HistogramProto", "Summary", "SummaryMetadata",
           "TensorProto", "TensorShapeProto", "decode_event", "encode_event"]

# SummaryMetadata.data_class (summary.proto's DataClass enum).
DATA_CLASS_SCALAR, DATA_CLASS_TENSOR, DATA_CLASS_BLOB_SEQUENCE = 1, 2, 3

PLUGIN_DATA = Message("SummaryMetadata.PluginData", [
    Field("plugin_name", 1, "string"),
    Field("content", 2, "bytes"),  # the plugin's own serialized message
])
SUMMARY_METADATA = Message("SummaryMetadata", [
    Field("plugin_data", 1, "message", message=PLUGIN_DATA),
    Field("display_name", 2, "string"),
    Field("summary_description", 3, "string"),
    Field("data_class", 4, "enum"),
])
HISTOGRAM_PROTO = Message("HistogramProto", [
    Field("min", 1, "double"),
    Field("max", 2, "double"),
    Field("num", 3, "double"),
    Field("sum", 4, "double"),
    Field("sum_squares", 5, "double"),
    Field("bucket_limit", 6, "double", repeated=True),
    Field("bucket", 7, "double", repeated=True),
])
SUMMARY_IMAGE = Message("Summary.Image", [
    Field("height", 1, "int32"),
    Field("width", 2, "int32"),
    Field("colorspace", 3, "int32"),  # 1 grayscale, 2 grayscale+alpha, 3 RGB, 4 RGBA
    Field("encoded_image_string", 4, "bytes"),
])
SUMMARY_VALUE = Message("Summary.Value", [
    Field("tag", 1, "string"),
    Field("simple_value", 2, "float", oneof="value"),
    Field("image", 4, "message", message=SUMMARY_IMAGE, oneof="value"),
    Field("histo", 5, "message", message=HISTOGRAM_PROTO, oneof="value"),
    Field("node_name", 7, "string"),
    Field("tensor", 8, "message", message=TENSOR_PROTO, oneof="value"),
    Field("metadata", 9, "message", message=SUMMARY_METADATA),
])
SUMMARY = Message("Summary", [
    Field("value", 1, "message", repeated=True, message=SUMMARY_VALUE),
])
EVENT = Message("Event", [
    Field("wall_time", 1, "double"),
    Field("step", 2, "int64"),
    Field("file_version", 3, "string", oneof="what"),
    Field("graph_def", 4, "bytes", oneof="what"),  # a serialized GraphDef
    Field("summary", 5, "message", message=SUMMARY, oneof="what"),
])

# config.proto's RunMetadata, only the traced function graphs that tf.summary.trace_export
# writes and TensorBoard's graph dashboard reads (pre_optimization_graph).
FUNCTION_GRAPHS = Message("RunMetadata.FunctionGraphs", [
    Field("pre_optimization_graph", 2, "bytes"),  # a serialized GraphDef
])
RUN_METADATA = Message("RunMetadata", [
    Field("function_graphs", 4, "message", repeated=True, message=FUNCTION_GRAPHS),
])


def encode_event(event):
    """The serialized bytes of an Event given as a dict."""
    return encode(EVENT, event)


def decode_event(data):
    """The dict of serialized Event bytes (fields at their default are absent)."""
    return decode(EVENT, data)


# ------------------------------------------------------------------ message classes

class TensorShapeProto(ProtoMessage):
    """A tensor's shape: `dim` (each with `size`, -1 when unknown) and `unknown_rank`."""

    SCHEMA = TENSOR_SHAPE_PROTO
    __slots__ = ()

    class Dim(ProtoMessage):
        SCHEMA = TENSOR_SHAPE_DIM
        __slots__ = ()


class TensorProto(ProtoMessage):
    """A tensor as data (tensor.proto); tf.make_ndarray reads it."""

    SCHEMA = TENSOR_PROTO
    __slots__ = ()


class HistogramProto(ProtoMessage):
    """TensorFlow 1's histogram summary value (Summary.Value.histo)."""

    SCHEMA = HISTOGRAM_PROTO
    __slots__ = ()


class SummaryMetadata(ProtoMessage):
    """Which TensorBoard plugin shows a summary value (plugin_data.plugin_name) and its
    description."""

    SCHEMA = SUMMARY_METADATA
    __slots__ = ()

    class PluginData(ProtoMessage):
        SCHEMA = PLUGIN_DATA
        __slots__ = ()


class Summary(ProtoMessage):
    """A list of tagged values (Summary.Value: `tag`, `metadata` and one of `tensor`,
    `simple_value`, `histo` or `image`)."""

    SCHEMA = SUMMARY
    __slots__ = ()

    class Image(ProtoMessage):
        SCHEMA = SUMMARY_IMAGE
        __slots__ = ()

    class Value(ProtoMessage):
        SCHEMA = SUMMARY_VALUE
        __slots__ = ()


class Event(ProtoMessage):
    """One record of an event file: `wall_time`, `step` and one of `file_version`,
    `graph_def` (serialized GraphDef bytes) or `summary`."""

    SCHEMA = EVENT
    __slots__ = ()
