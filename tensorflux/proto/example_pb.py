"""TensorFlow's Example messages (tensorflow/core/example/feature.proto and example.proto):
their wire schemas, with TF's field numbers, and the tf.train message classes.

>>> from tensorflux.proto.example_pb import Example, Feature, Features, Int64List
>>> example = Example(features=Features(feature={
...     "x": Feature(int64_list=Int64List(value=[1, 2]))}))
>>> example.SerializeToString().hex()
'0a0d0a0b0a017812061a040a020102'
>>> Example.FromString(example.SerializeToString()).features.feature["x"].int64_list.value
[1, 2]
"""

from tensorflux.proto.message import ProtoMessage
from tensorflux.proto.wire import Field, Message

__all__ = ["BYTES_LIST", "EXAMPLE", "FEATURE", "FEATURES", "FEATURE_LIST", "FEATURE_LISTS",
           "FLOAT_LIST", "INT64_LIST", "SEQUENCE_EXAMPLE", "BytesList", "Example", "Feature",
           "FeatureList", "FeatureLists", "Features", "FloatList", "Int64List",
           "SequenceExample"]

# feature.proto
BYTES_LIST = Message("BytesList", [Field("value", 1, "bytes", repeated=True)])
FLOAT_LIST = Message("FloatList", [Field("value", 1, "float", repeated=True)])
INT64_LIST = Message("Int64List", [Field("value", 1, "int64", repeated=True)])
FEATURE = Message("Feature", [
    Field("bytes_list", 1, "message", message=BYTES_LIST, oneof="kind"),
    Field("float_list", 2, "message", message=FLOAT_LIST, oneof="kind"),
    Field("int64_list", 3, "message", message=INT64_LIST, oneof="kind"),
])
FEATURES = Message("Features", [Field("feature", 1, "map", key="string", value=FEATURE)])
FEATURE_LIST = Message("FeatureList", [
    Field("feature", 1, "message", repeated=True, message=FEATURE)])
FEATURE_LISTS = Message("FeatureLists", [
    Field("feature_list", 1, "map", key="string", value=FEATURE_LIST)])

# example.proto
EXAMPLE = Message("Example", [Field("features", 1, "message", message=FEATURES)])
SEQUENCE_EXAMPLE = Message("SequenceExample", [
    Field("context", 1, "message", message=FEATURES),
    Field("feature_lists", 2, "message", message=FEATURE_LISTS),
])


class BytesList(ProtoMessage):
    """tf.train.BytesList: `value`, a repeated bytes field."""

    SCHEMA = BYTES_LIST
    __slots__ = ()


class FloatList(ProtoMessage):
    """tf.train.FloatList: `value`, a repeated float32 field (values read back rounded to
    float32)."""

    SCHEMA = FLOAT_LIST
    __slots__ = ()


class Int64List(ProtoMessage):
    """tf.train.Int64List: `value`, a repeated int64 field."""

    SCHEMA = INT64_LIST
    __slots__ = ()


class Feature(ProtoMessage):
    """tf.train.Feature: one of `bytes_list`, `float_list`, `int64_list` (oneof "kind")."""

    SCHEMA = FEATURE
    __slots__ = ()


class Features(ProtoMessage):
    """tf.train.Features: `feature`, a map from names to Feature."""

    SCHEMA = FEATURES
    __slots__ = ()


class FeatureList(ProtoMessage):
    """tf.train.FeatureList: `feature`, a repeated Feature (one per time step)."""

    SCHEMA = FEATURE_LIST
    __slots__ = ()


class FeatureLists(ProtoMessage):
    """tf.train.FeatureLists: `feature_list`, a map from names to FeatureList."""

    SCHEMA = FEATURE_LISTS
    __slots__ = ()


class Example(ProtoMessage):
    """tf.train.Example: `features`, a Features message."""

    SCHEMA = EXAMPLE
    __slots__ = ()


class SequenceExample(ProtoMessage):
    """tf.train.SequenceExample: `context` (Features) and `feature_lists` (FeatureLists)."""

    SCHEMA = SEQUENCE_EXAMPLE
    __slots__ = ()
