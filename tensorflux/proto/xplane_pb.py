"""The profiler's XSpace messages (xplane.proto) as wire schemas, what TensorBoard's profile
plugin reads from `<logdir>/plugins/profile/<run>/<host>.xplane.pb`.

Field numbers are those of tsl/profiler/protobuf/xplane.proto, checked against the compiled
copy TensorFlow 2.21 ships (tensorflow/tsl/profiler/protobuf/xplane_pb2.py). An XStat's value
is a oneof: a Python int is written as int64_value, a float as double_value, a str as
str_value.

>>> space = {"planes": [{"id": 1, "name": "/host:CPU"}], "hostnames": ["box"]}
>>> decode_xspace(encode_xspace(space))
{'planes': [{'id': 1, 'name': '/host:CPU'}], 'hostnames': ['box']}
"""

from tensorflux.proto.wire import Field, Message, decode, encode

__all__ = ["PROFILE_OPTIONS", "XEVENT", "XEVENT_METADATA", "XLINE", "XPLANE", "XSPACE", "XSTAT",
           "XSTAT_METADATA", "decode_profile_options", "decode_xspace", "encode_profile_options",
           "encode_xspace", "stat"]

XSTAT = Message("XStat", [
    Field("metadata_id", 1, "int64"),
    Field("double_value", 2, "double", oneof="value"),
    Field("uint64_value", 3, "uint64", oneof="value"),
    Field("int64_value", 4, "int64", oneof="value"),
    Field("str_value", 5, "string", oneof="value"),
    Field("bytes_value", 6, "bytes", oneof="value"),
    Field("ref_value", 7, "uint64", oneof="value"),
])
XEVENT = Message("XEvent", [
    Field("metadata_id", 1, "int64"),
    Field("offset_ps", 2, "int64", oneof="data"),  # from the line's timestamp_ns
    Field("num_occurrences", 5, "int64", oneof="data"),
    Field("duration_ps", 3, "int64"),
    Field("stats", 4, "message", repeated=True, message=XSTAT),
])
XLINE = Message("XLine", [
    Field("id", 1, "int64"),
    Field("display_id", 10, "int64"),
    Field("name", 2, "string"),
    Field("display_name", 11, "string"),
    Field("timestamp_ns", 3, "int64"),
    Field("duration_ps", 9, "int64"),
    Field("events", 4, "message", repeated=True, message=XEVENT),
])
XEVENT_METADATA = Message("XEventMetadata", [
    Field("id", 1, "int64"),
    Field("name", 2, "string"),
    Field("display_name", 4, "string"),
    Field("metadata", 3, "bytes"),
    Field("stats", 5, "message", repeated=True, message=XSTAT),
    Field("child_id", 6, "int64", repeated=True),
])
XSTAT_METADATA = Message("XStatMetadata", [
    Field("id", 1, "int64"),
    Field("name", 2, "string"),
    Field("description", 3, "string"),
])
XPLANE = Message("XPlane", [
    Field("id", 1, "int64"),
    Field("name", 2, "string"),
    Field("lines", 3, "message", repeated=True, message=XLINE),
    Field("event_metadata", 4, "map", key="int64", value=XEVENT_METADATA),
    Field("stat_metadata", 5, "map", key="int64", value=XSTAT_METADATA),
    Field("stats", 6, "message", repeated=True, message=XSTAT),
])
XSPACE = Message("XSpace", [
    Field("planes", 1, "message", repeated=True, message=XPLANE),
    Field("errors", 2, "string", repeated=True),
    Field("warnings", 3, "string", repeated=True),
    Field("hostnames", 4, "string", repeated=True),
])

# tsl/profiler/protobuf/profiler_options.proto's ProfileOptions, the bytes of the "Task
# Environment" plane's profile_options stat (TensorFlow 2.21 writes 1, 2, 3, 5, 7 and 10 for
# its default options: include_dataset_ops, host/device tracer levels, version,
# enable_hlo_proto, the log folder).
PROFILE_OPTIONS = Message("ProfileOptions", [
    Field("include_dataset_ops", 1, "bool"),
    Field("host_tracer_level", 2, "uint32"),
    Field("device_tracer_level", 3, "uint32"),
    Field("python_tracer_level", 4, "uint32"),
    Field("version", 5, "uint32"),
    Field("enable_hlo_proto", 7, "bool"),
    Field("repository_path", 10, "string"),
])


def stat(metadata_id, value):
    """An XStat dict holding `value` in the oneof member for its type (bool as int64)."""
    if isinstance(value, float):
        return {"metadata_id": metadata_id, "double_value": value}
    if isinstance(value, int):
        return {"metadata_id": metadata_id, "int64_value": int(value)}
    return {"metadata_id": metadata_id, "str_value": str(value)}


def encode_xspace(space):
    return encode(XSPACE, space)


def decode_xspace(data):
    return decode(XSPACE, data)


def encode_profile_options(options):
    return encode(PROFILE_OPTIONS, options)


def decode_profile_options(data):
    return decode(PROFILE_OPTIONS, data)
