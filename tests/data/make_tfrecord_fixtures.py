"""Writes the TensorFlow-made fixtures of tests/test_tfrecord.py (run with real TensorFlow,
2.21 was used; not part of the test run):

    python tests/data/make_tfrecord_fixtures.py tests/data

tf_records.tfrecord / tf_records_gzip.tfrecord / tf_records_zlib.tfrecord hold RECORDS below
as TensorFlow's TFRecordWriter writes them; tf_reference.json holds what TensorFlow computes
for the same inputs (parsed examples, serialized tensors, string ops), as plain JSON.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

T = tf.train


def feature(values):
    if values is None:
        return T.Feature()
    if isinstance(values[0], bytes):
        return T.Feature(bytes_list=T.BytesList(value=values))
    if isinstance(values[0], float):
        return T.Feature(float_list=T.FloatList(value=values))
    return T.Feature(int64_list=T.Int64List(value=values))


def example(**features):
    return T.Example(features=T.Features(feature={k: feature(v) for k, v in features.items()}))


EXAMPLES = [
    example(id=[7], score=[0.1, -2.5], tags=[b"a", b"\xc3\xa9\x00"], big=[2**40, -1, 300],
            seq=[1.0, 2.0, 3.0, 4.0], empty=None),
    example(id=[8], score=[1e-3, 3.5], tags=[b"b", b""], big=[0, 1, -(2**63)],
            seq=[5.0, 6.0]),
]
SEQUENCE = T.SequenceExample(
    context=T.Features(feature={"length": feature([3]), "label": feature([b"pos"])}),
    feature_lists=T.FeatureLists(feature_list={
        "tokens": T.FeatureList(feature=[feature([4]), feature([5]), feature([6])]),
        "vectors": T.FeatureList(feature=[feature([1.0, 2.0]), feature([3.0, 4.0]),
                                          feature([5.0, 6.0])]),
        "words": T.FeatureList(feature=[feature([b"x"]), feature([b"y", b"z"]),
                                        feature(None)]),
    }))
RECORDS = ([b"", b"a", bytes(range(256)), b"hello world " * 10]
           + [e.SerializeToString(deterministic=True) for e in EXAMPLES]
           + [SEQUENCE.SerializeToString(deterministic=True)])

F, S, V = tf.io.FixedLenFeature, tf.io.FixedLenSequenceFeature, tf.io.VarLenFeature
EXAMPLE_FEATURES = {
    "id": F([], tf.int64), "score": F([2], tf.float32), "tags": F([2], tf.string),
    "big": F([3], tf.int64), "missing": F([2], tf.float32, default_value=[9.0, 8.0]),
    "seq": S([2], tf.float32, allow_missing=True, default_value=-1.0),
    "vtags": V(tf.string), "vbig": V(tf.int64), "vempty": V(tf.float32),
}


def plain(value):
    """A tensor, SparseTensor or nested structure as JSON: values, dtype, shape."""
    if isinstance(value, tf.SparseTensor):
        return {"indices": plain(value.indices), "values": plain(value.values),
                "dense_shape": plain(value.dense_shape)}
    if isinstance(value, dict):
        return {"keys": list(value), "values": {k: plain(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    array = value.numpy()
    if array.dtype == object:
        data = np.vectorize(lambda b: b.hex(), otypes=[object])(array).tolist() \
            if array.size else array.tolist()
    elif array.dtype.kind == "f":
        data = np.where(np.isfinite(array), array, 0).astype(np.float64).tolist()
    else:
        data = array.tolist()
    return {"data": data, "dtype": value.dtype.name, "shape": list(array.shape)}


def jsonable(value):
    """A constant's value in JSON: bytes as {"hex": ...}, complex numbers as [real, imag]."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, complex):
        return [value.real, value.imag]
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def main(folder):
    for name, kind in (("tf_records.tfrecord", ""), ("tf_records_gzip.tfrecord", "GZIP"),
                       ("tf_records_zlib.tfrecord", "ZLIB")):
        with tf.io.TFRecordWriter(os.path.join(folder, name), kind) as writer:
            for record in RECORDS:
                writer.write(record)
    serialized = [e.SerializeToString(deterministic=True) for e in EXAMPLES]
    words = ["", "a", "hello", "h\u00e9llo w\u00f6rld", "x" * 17, "y" * 40, "z" * 100]
    tensors = [(1.0, tf.float32), ([[1, 2], [3, 4]], tf.int32), ([], tf.float64),
               ([b"a", b"", b"\xff"], tf.string), ([True, False], tf.bool), (7, tf.int64),
               ([1.5, 2.0], tf.float16), ([1 + 2j], tf.complex64), ([[]], tf.int8),
               (b"x", tf.string), ([1, 2], tf.uint64), ([[1, 2, 3]], tf.uint8)]
    reference = {
        "records": [r.hex() for r in RECORDS],
        "example_text": [str(T.FloatList(value=[0.1, 1 / 3, 1e20, -0.0, float("inf")])),
                         str(T.BytesList(value=[b"\xc3\xa9\n\"'\\\x7f", b""])),
                         str(example(name=[b"x"])), str(T.Example())],
        "parse_example": plain(tf.io.parse_example(serialized, EXAMPLE_FEATURES)),
        "parse_single_example": plain(tf.io.parse_single_example(serialized[0],
                                                                 EXAMPLE_FEATURES)),
        "parse_single_sequence_example": plain(tf.io.parse_single_sequence_example(
            RECORDS[-1], context_features={"length": F([], tf.int64), "label": V(tf.string)},
            sequence_features={"tokens": S([], tf.int64), "vectors": S([2], tf.float32),
                               "words": V(tf.string),
                               "absent": S([3], tf.int64, allow_missing=True)})),
        "serialize_tensor": [{"value": jsonable(value), "dtype": dtype.name,
                              "hex": tf.io.serialize_tensor(tf.constant(value, dtype)).numpy()
                              .hex()} for value, dtype in tensors],
        "tensor_proto_fill": tf.make_tensor_proto(5.0, shape=[2, 3]).SerializeToString().hex(),
        "tensor_proto_values": tf.make_tensor_proto([1, 2], dtype=tf.int64,
                                                    shape=[4]).SerializeToString().hex(),
        "hash_words": words,
        "to_hash_bucket": tf.strings.to_hash_bucket(words, 1000003).numpy().tolist(),
        "to_hash_bucket_fast": tf.strings.to_hash_bucket_fast(words, 1000003).numpy().tolist(),
        "to_hash_bucket_strong": tf.strings.to_hash_bucket_strong(
            words, 1000003, [1, 2]).numpy().tolist(),
        "unicode_decode": tf.strings.unicode_decode(
            b"h\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xffa\x01", "UTF-8").numpy().tolist(),
        "unicode_decode_ignore_controls": tf.strings.unicode_decode(
            b"a\xffb\x01\xe2\x82", "UTF-8", errors="ignore",
            replace_control_characters=True).numpy().tolist(),
        "unicode_encode_utf16": [s.hex() for s in tf.strings.unicode_encode(
            [[104, 8364, 0x110000], [119070, 65, -1]], "UTF-16-BE").numpy().tolist()],
        "unicode_transcode": [s.hex() for s in tf.strings.unicode_transcode(
            [b"caf\xe9", b"\xff"], "ISO-8859-1", "UTF-32-BE").numpy().tolist()],
        "format": [
            tf.strings.format("x={} y={}", (1, tf.range(10))).numpy().hex(),
            tf.strings.format("{}", tf.reshape(tf.range(30), [5, 6]), summarize=2).numpy().hex(),
            tf.strings.format("{} {}", (tf.constant([b"a\x01\"", b"\xc3\xa9"]),
                                        tf.constant([0.1, 1e20, -0.0]))).numpy().hex(),
            tf.strings.format("{}|{}", (tf.zeros([3, 0]), tf.constant([True, False]))
                              ).numpy().hex(),
            tf.strings.format("{}", tf.reshape(tf.range(24), [2, 3, 4])).numpy().hex(),
        ],
    }
    with open(os.path.join(folder, "tf_reference.json"), "w") as handle:
        json.dump(reference, handle, sort_keys=True)
        handle.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
