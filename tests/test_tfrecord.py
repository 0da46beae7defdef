"""TFRecord files, tf.train.Example protos, Example parsing, tf.io's byte codecs and the
tf.strings additions, against bytes and values made by real TensorFlow 2.21.

The fixtures in tests/data (tf_records*.tfrecord, tf_reference.json) were written by
tests/data/make_tfrecord_fixtures.py running under TensorFlow; CRC-32C is checked against
the RFC 3720 test vectors.
"""

import gzip
import json
import os
import zlib

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import errors
from tensorflux.io import tfrecord

DATA = os.path.join(os.path.dirname(__file__), "data")
with open(os.path.join(DATA, "tf_reference.json")) as _handle:
    REF = json.load(_handle)
RECORDS = [bytes.fromhex(r) for r in REF["records"]]
FILES = {"": "tf_records.tfrecord", "GZIP": "tf_records_gzip.tfrecord",
         "ZLIB": "tf_records_zlib.tfrecord"}


def fixture(kind):
    return os.path.join(DATA, FILES[kind])


def read_all(path, **kwargs):
    return list(tf.data.TFRecordDataset(path, **kwargs).as_numpy_iterator())


def write(path, records, options=None):
    with tf.io.TFRecordWriter(path, options) as writer:
        for record in records:
            writer.write(record)


def crc_reference(data):
    """CRC-32C bit by bit, straight from the definition (reflected polynomial 0x82F63B78)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


# ------------------------------------------------------------------ CRC-32C

@pytest.mark.parametrize("data, expected", [
    (bytes(32), 0x8A9136AA), (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E), (bytes(range(31, -1, -1)), 0x113FDB5C),
    (b"123456789", 0xE3069283), (b"", 0)])
def test_crc32c_rfc3720_vectors(data, expected):
    assert tfrecord.crc32c(data) == expected
    assert int(tfrecord.crc32c_many([data])[0]) == expected


def test_crc32c_vectorized_matches_the_definition_at_every_row_boundary():
    rng = np.random.default_rng(0)
    sizes = [0, 1, 3, 4, 5, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4099]
    chunks = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    assert tfrecord.crc32c_many(chunks).tolist() == [crc_reference(c) for c in chunks]
    big = rng.integers(0, 256, 300_001, dtype=np.uint8).tobytes()
    assert tfrecord.crc32c(big) == crc_by_bytes(big)


def crc_by_bytes(data):
    # The module's one-byte-at-a-time table loop over the whole input: no rows, no shifts.
    return tfrecord._crc_python(data) ^ 0xFFFFFFFF


def test_masked_crc_is_tensorflows():
    # The first record TF wrote is empty: its header is 8 zero bytes.
    raw = open(fixture(""), "rb").read()
    assert tfrecord.mask(tfrecord.crc32c(bytes(8))).to_bytes(4, "little") == raw[8:12]
    assert tfrecord.frames([b""]) == raw[:16]


# ------------------------------------------------------------------ reading and writing

@pytest.mark.parametrize("kind", ["", "GZIP", "ZLIB"])
def test_reads_files_tensorflow_wrote(kind):
    assert read_all(fixture(kind), compression_type=kind) == RECORDS
    options = tf.io.TFRecordOptions(compression_type=kind)
    assert read_all(fixture(kind), compression_type=options) == RECORDS


@pytest.mark.parametrize("kind", ["", "GZIP", "ZLIB"])
def test_writes_the_bytes_tensorflow_writes(tmp_path, kind):
    path = str(tmp_path / "out.tfrecord")
    write(path, RECORDS, tf.io.TFRecordOptions(compression_type=kind))
    with open(path, "rb") as mine, open(fixture(kind), "rb") as theirs:
        assert mine.read() == theirs.read()


def test_round_trip_of_large_and_many_records(tmp_path):
    rng = np.random.default_rng(1)
    records = [rng.integers(0, 256, n, dtype=np.uint8).tobytes()
               for n in [0, 5, 200_000, 70_000] + [100] * 5000]
    path = str(tmp_path / "big.tfrecord")
    write(path, records + ["text é"])
    # A small buffer makes records straddle the reads.
    assert read_all(path, buffer_size=1) == records + ["text é".encode()]
    write(path, records, "GZIP")
    assert read_all(path, compression_type="GZIP") == records


def test_dataset_sources_and_parallel_reads(tmp_path):
    paths = []
    for index, count in enumerate([3, 1, 2]):
        paths.append(str(tmp_path / f"{index}.tfrecord"))
        write(paths[-1], [f"{index}-{i}".encode() for i in range(count)])
    ds = tf.data.TFRecordDataset(paths)
    assert ds.element_spec == tf.TensorSpec((), tf.string)
    assert [r.decode() for r in ds.as_numpy_iterator()] == ["0-0", "0-1", "0-2", "1-0",
                                                            "2-0", "2-1"]
    # The order TensorFlow 2.21 gives for the same files (an interleave of cycle 2, block 1).
    parallel = tf.data.TFRecordDataset(tf.constant(paths), num_parallel_reads=2)
    assert [r.decode() for r in parallel.as_numpy_iterator()] == [
        "0-0", "1-0", "0-1", "0-2", "2-0", "2-1"]
    parallel = tf.data.TFRecordDataset(paths, num_parallel_reads=3)
    assert [r.decode() for r in parallel.as_numpy_iterator()] == [
        "0-0", "1-0", "2-0", "0-1", "2-1", "0-2"]
    from_dataset = tf.data.TFRecordDataset(tf.data.Dataset.from_tensor_slices(paths[1:]))
    assert len(list(from_dataset)) == 3


def test_writer_flush_close_and_errors(tmp_path):
    path = str(tmp_path / "a.tfrecord")
    writer = tf.io.TFRecordWriter(path, tf.io.TFRecordOptions("GZIP", flush_mode=zlib.Z_SYNC_FLUSH))
    writer.write(b"one")
    writer.flush()
    # A sync flush leaves a decodable (unfinished) stream on disk.
    partial = zlib.decompressobj(31).decompress(open(path, "rb").read())
    assert partial == tfrecord.frames([b"one"])
    writer.close()
    writer.close()
    with pytest.raises(errors.FailedPreconditionError, match="closed"):
        writer.write(b"two")
    assert read_all(path, compression_type="GZIP") == [b"one"]
    with pytest.raises(TypeError, match="bytes or a str"):
        tf.io.TFRecordWriter(str(tmp_path / "b.tfrecord")).write(3)
    with pytest.raises(errors.InvalidArgumentError, match="compression_type"):
        tf.io.TFRecordOptions(compression_type="BZIP")
    with pytest.raises(errors.NotFoundError):
        tf.io.TFRecordWriter(str(tmp_path / "missing" / "c.tfrecord"))
    assert tf.io.TFRecordOptions.get_compression_type_string("zlib") == "ZLIB"


# ------------------------------------------------------------------ damaged files

def damaged(tmp_path, data):
    path = str(tmp_path / "bad.tfrecord")
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def read_until_error(path, **kwargs):
    good = []
    with pytest.raises(errors.DataLossError) as info:
        for record in tf.data.TFRecordDataset(path, **kwargs).as_numpy_iterator():
            good.append(record)
    return good, str(info.value)


# Offsets in the fixture: records 0 (16 bytes) and 1 (17 bytes) come first.
@pytest.mark.parametrize("position, good, offset, what", [
    (2, 0, 0, "length"), (9, 0, 0, "length"), (18, 1, 16, "length"),
    (28, 1, 16, "data"), (30, 1, 16, "data"), (33 + 12 + 100, 2, 33, "data")])
def test_corruption_is_reported_with_file_and_offset(tmp_path, position, good, offset, what):
    raw = bytearray(open(fixture(""), "rb").read())
    raw[position] ^= 0x10
    path = damaged(tmp_path, bytes(raw))
    records, message = read_until_error(path)
    assert records == RECORDS[:good]
    assert f"corrupted record at offset {offset} of {path}" in message
    assert f"the {what} checksum" in message


def test_truncated_files_and_streams(tmp_path):
    raw = open(fixture(""), "rb").read()
    for cut, good, offset in [(5, 0, 0), (20, 1, 16), (len(raw) - 2, len(RECORDS) - 1, None)]:
        records, message = read_until_error(damaged(tmp_path, raw[:cut]))
        assert records == RECORDS[:good]
        assert "truncated record" in message
        if offset is not None:
            assert f"at offset {offset} " in message
    compressed = open(fixture("GZIP"), "rb").read()
    _, message = read_until_error(damaged(tmp_path, compressed[:-20]), compression_type="GZIP")
    assert "ends early" in message or "truncated" in message
    _, message = read_until_error(damaged(tmp_path, raw), compression_type="ZLIB")
    assert "cannot decompress" in message and "bad.tfrecord" in message


def test_a_huge_length_with_a_valid_checksum_is_not_trusted_to_read(tmp_path):
    header = (1 << 60).to_bytes(8, "little")
    crafted = header + tfrecord.mask(tfrecord.crc32c(header)).to_bytes(4, "little") + b"xyz"
    records, message = read_until_error(damaged(tmp_path, crafted))
    assert records == [] and "truncated record at offset 0" in message


def test_missing_file():
    with pytest.raises(errors.NotFoundError):
        read_all(os.path.join(DATA, "no_such.tfrecord"))


# ------------------------------------------------------------------ FixedLengthRecordDataset

def test_fixed_length_records(tmp_path):
    path = str(tmp_path / "f.bin")
    with open(path, "wb") as handle:
        handle.write(bytes(range(23)))
    ds = tf.data.FixedLengthRecordDataset(path, 4, header_bytes=2, footer_bytes=1)
    assert [r.hex() for r in ds.as_numpy_iterator()] == [
        "02030405", "06070809", "0a0b0c0d", "0e0f1011", "12131415"]
    with pytest.raises(errors.InvalidArgumentError, match="body length 23 bytes"):
        list(tf.data.FixedLengthRecordDataset(path, 4))
    with open(str(tmp_path / "f.gz"), "wb") as handle:
        handle.write(gzip.compress(bytes(range(12)), mtime=0))
    records = tf.data.FixedLengthRecordDataset(str(tmp_path / "f.gz"), 3, header_bytes=3,
                                               compression_type="GZIP")
    assert [r.hex() for r in records.as_numpy_iterator()] == ["030405", "060708", "090a0b"]
    # MNIST-style: decode each record's bytes in map.
    decoded = ds.map(lambda r: tf.io.decode_raw(r, tf.uint8))
    assert decoded.element_spec.shape.as_list() == [None]
    assert next(iter(decoded)).numpy().tolist() == [2, 3, 4, 5]


# ------------------------------------------------------------------ tf.train.Example

def make_example():
    T = tf.train
    return T.Example(features=T.Features(feature={
        "id": T.Feature(int64_list=T.Int64List(value=[7])),
        "score": T.Feature(float_list=T.FloatList(value=[0.1, -2.5])),
        "tags": T.Feature(bytes_list=T.BytesList(value=[b"a", b"\xc3\xa9\x00"])),
        "big": T.Feature(int64_list=T.Int64List(value=[2**40, -1, 300])),
        "seq": T.Feature(float_list=T.FloatList(value=[1.0, 2.0, 3.0, 4.0])),
        "empty": T.Feature(),
    }))


def test_example_serializes_as_tensorflow_and_parses_its_bytes():
    example = make_example()
    assert example.SerializeToString() == RECORDS[4]  # TF's deterministic serialization
    back = tf.train.Example.FromString(RECORDS[4])
    assert back == example
    assert back.features.feature["big"].int64_list.value == [2**40, -1, 300]
    assert back.features.feature["score"].float_list.value[0] == np.float32(0.1)
    assert back.features.feature["empty"].WhichOneof("kind") is None
    sequence = tf.train.SequenceExample()
    assert sequence.ParseFromString(RECORDS[-1]) == len(RECORDS[-1])
    assert sequence.SerializeToString() == RECORDS[-1]
    steps = sequence.feature_lists.feature_list["words"].feature
    assert [list(step.bytes_list.value) for step in steps] == [[b"x"], [b"y", b"z"], []]


def test_example_message_api():
    T = tf.train
    feature = T.Feature()
    assert feature.WhichOneof("kind") is None and not feature.HasField("int64_list")
    _ = feature.float_list  # reading a sub-message does not set it
    assert feature.WhichOneof("kind") is None
    feature.int64_list.value.append(3)
    assert feature.WhichOneof("kind") == "int64_list"
    feature.float_list.value.extend(np.array([1.5, 2.0], dtype=np.float32))
    assert feature.WhichOneof("kind") == "float_list" and not feature.HasField("int64_list")
    features = T.Features()
    features.feature["new"].bytes_list.value.append(b"x")  # a map lookup inserts
    assert "new" in features.feature and len(features.feature) == 1
    example = T.Example()
    example.features.CopyFrom(features)
    assert example.HasField("features")
    assert T.Int64List(value=np.arange(3)).value == [0, 1, 2]
    with pytest.raises(TypeError):
        T.Int64List(value=[1.5])
    with pytest.raises(ValueError, match="out of range"):
        T.Int64List(value=[2**63])
    with pytest.raises(TypeError):
        T.FloatList(value=["a"])
    with pytest.raises(TypeError):
        T.BytesList(value=["text"])
    with pytest.raises(AttributeError):
        example.features = features
    with pytest.raises(AttributeError, match="no field"):
        T.Feature(int_list=[1])
    with pytest.raises(ValueError):
        T.Example.FromString(b"\x0a\x05\x01")


def test_text_format_is_tensorflows():
    T = tf.train
    texts = [str(T.FloatList(value=[0.1, 1 / 3, 1e20, -0.0, float("inf")])),
             str(T.BytesList(value=[b"\xc3\xa9\n\"'\\\x7f", b""])),
             str(T.Example(features=T.Features(feature={
                 "name": T.Feature(bytes_list=T.BytesList(value=[b"x"]))}))),
             str(T.Example())]
    assert texts == REF["example_text"]


# ------------------------------------------------------------------ parsing

def features_config():
    F, S, V = tf.io.FixedLenFeature, tf.io.FixedLenSequenceFeature, tf.io.VarLenFeature
    return {"id": F([], tf.int64), "score": F([2], tf.float32), "tags": F([2], tf.string),
            "big": F([3], tf.int64), "missing": F([2], tf.float32, default_value=[9.0, 8.0]),
            "seq": S([2], tf.float32, allow_missing=True, default_value=-1.0),
            "vtags": V(tf.string), "vbig": V(tf.int64), "vempty": V(tf.float32)}


def plain(value):
    """A result as the generator wrote TF's (see make_tfrecord_fixtures.plain)."""
    if hasattr(value, "dense_shape"):
        return {"indices": plain(value.indices), "values": plain(value.values),
                "dense_shape": plain(value.dense_shape)}
    if isinstance(value, dict):
        return {"keys": list(value), "values": {k: plain(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    array = np.asarray(value.numpy())
    if value.dtype == tf.string:
        data = [b.hex() for b in array.reshape(-1).tolist()]
        data = np.array(data, dtype=object).reshape(array.shape).tolist()
    elif array.dtype.kind == "f":
        data = array.astype(np.float64).tolist()
    else:
        data = array.tolist()
    return {"data": data, "dtype": value.dtype.name, "shape": list(array.shape)}


def test_parse_example_matches_tensorflow():
    serialized = RECORDS[4:6]
    assert plain(tf.io.parse_example(serialized, features_config())) == REF["parse_example"]
    assert (plain(tf.io.parse_single_example(serialized[0], features_config()))
            == REF["parse_single_example"])


def test_parse_single_sequence_example_matches_tensorflow():
    F, S, V = tf.io.FixedLenFeature, tf.io.FixedLenSequenceFeature, tf.io.VarLenFeature
    parsed = tf.io.parse_single_sequence_example(
        RECORDS[-1], context_features={"length": F([], tf.int64), "label": V(tf.string)},
        sequence_features={"tokens": S([], tf.int64), "vectors": S([2], tf.float32),
                           "words": V(tf.string),
                           "absent": S([3], tf.int64, allow_missing=True)})
    assert plain(parsed) == REF["parse_single_sequence_example"]
    context, sequences, lengths = tf.io.parse_sequence_example(
        [RECORDS[-1], tf.train.SequenceExample().SerializeToString()],
        context_features={"length": F([], tf.int64, default_value=0)},
        sequence_features={"tokens": S([], tf.int64, allow_missing=True)})
    assert context["length"].numpy().tolist() == [3, 0]
    assert sequences["tokens"].numpy().tolist() == [[4, 5, 6], [0, 0, 0]]
    assert lengths["tokens"].numpy().tolist() == [3, 0]


def test_parse_errors():
    F = tf.io.FixedLenFeature
    data = RECORDS[4]
    with pytest.raises(errors.InvalidArgumentError, match="q .*required but could not be"):
        tf.io.parse_single_example(data, {"q": F([], tf.float32)})
    with pytest.raises(errors.InvalidArgumentError, match="Data types don't match"):
        tf.io.parse_single_example(data, {"id": F([], tf.float32)})
    with pytest.raises(errors.InvalidArgumentError, match="Values size: 3"):
        tf.io.parse_single_example(data, {"big": F([2], tf.int64)})
    with pytest.raises(errors.InvalidArgumentError, match="required"):
        tf.io.parse_single_example(data, {"empty": F([], tf.int64)})  # a Feature with no list
    with pytest.raises(errors.InvalidArgumentError, match="could not parse"):
        tf.io.parse_single_example(b"\xff\xff", {"id": F([], tf.int64)})
    with pytest.raises(ValueError, match="allow_missing"):
        tf.io.parse_example([data], {"seq": tf.io.FixedLenSequenceFeature([], tf.float32)})
    with pytest.raises(errors.InvalidArgumentError, match="int32"):
        tf.io.parse_single_example(data, {"id": F([], tf.int32)})
    with pytest.raises(errors.InvalidArgumentError, match="scalar or vector"):
        tf.io.parse_example([[data]], {"id": F([], tf.int64)})


def test_parsing_inside_dataset_map_and_function(tmp_path):
    path = str(tmp_path / "examples.tfrecord")
    write(path, RECORDS[4:6])
    config = {"id": tf.io.FixedLenFeature([], tf.int64), "vbig": tf.io.VarLenFeature(tf.int64),
              "tags": tf.io.FixedLenFeature([2], tf.string)}
    ds = tf.data.TFRecordDataset(path).map(lambda r: tf.io.parse_single_example(r, config))
    spec = ds.element_spec
    assert spec["id"].shape.as_list() == [] and spec["tags"].shape.as_list() == [2]
    assert spec["vbig"] == tf.SparseTensorSpec([None], tf.int64)
    assert [int(e["id"]) for e in ds] == [7, 8]
    batched = tf.data.TFRecordDataset(path).batch(2).map(
        lambda r: tf.io.parse_example(r, {"id": config["id"]}))
    assert batched.element_spec["id"].shape.as_list() == [None]
    assert next(iter(batched))["id"].numpy().tolist() == [7, 8]

    @tf.function
    def ids(serialized):
        return tf.io.parse_example(serialized, config)["id"]

    assert ids(tf.constant(RECORDS[4:6])).numpy().tolist() == [7, 8]


# ------------------------------------------------------------------ byte codecs

def constant_from_json(entry):
    def decode(value):
        if isinstance(value, dict):
            return bytes.fromhex(value["hex"])
        if isinstance(value, list):
            if entry["dtype"].startswith("complex") and value and not isinstance(value[0],
                                                                                  list):
                return complex(*value)
            return [decode(v) for v in value]
        return value

    return tf.constant(decode(entry["value"]), dtype=getattr(tf, entry["dtype"]))


@pytest.mark.parametrize("index", range(len(REF["serialize_tensor"])))
def test_serialize_tensor_writes_and_parses_tensorflows_bytes(index):
    entry = REF["serialize_tensor"][index]
    tensor = constant_from_json(entry)
    assert tf.io.serialize_tensor(tensor).numpy().hex() == entry["hex"]
    back = tf.io.parse_tensor(bytes.fromhex(entry["hex"]), tensor.dtype)
    assert back.shape == tensor.shape
    np.testing.assert_array_equal(back.numpy(), tensor.numpy())


def test_parse_tensor_of_repeated_value_protos_and_errors():
    filled = tf.io.parse_tensor(bytes.fromhex(REF["tensor_proto_fill"]), tf.float32)
    assert filled.numpy().tolist() == [[5.0] * 3] * 2
    repeated = tf.io.parse_tensor(bytes.fromhex(REF["tensor_proto_values"]), tf.int64)
    assert repeated.numpy().tolist() == [1, 2, 2, 2]  # the last value fills the shape
    with pytest.raises(errors.InvalidArgumentError, match=r"Type mismatch .*\(float\)"):
        tf.io.parse_tensor(bytes.fromhex(REF["tensor_proto_fill"]), tf.int32)


def test_decode_raw():
    assert tf.io.decode_raw([b"\x01\x00\x02\x00", b"\x03\x00\x04\x00"],
                            tf.int16).numpy().tolist() == [[1, 2], [3, 4]]
    assert tf.io.decode_raw([b"\x01\x00"], tf.int16, little_endian=False).numpy().tolist() \
        == [[256]]
    assert tf.io.decode_raw([b"\x01\x00\x02", b"\x03"], tf.int16,
                            fixed_length=4).numpy().tolist() == [[1, 2], [3, 0]]
    assert tf.io.decode_raw(b"\x00\x01\x02", tf.bool).numpy().tolist() == [False, True, True]
    assert tf.io.decode_raw(b"\x00\x00\x80\x3f\x00\x00\x00\x40",
                            tf.complex64).numpy().tolist() == [1 + 2j]
    with pytest.raises(errors.InvalidArgumentError, match="same size"):
        tf.io.decode_raw([b"\x01\x00", b"\x01"], tf.uint8)
    with pytest.raises(errors.InvalidArgumentError, match="not a multiple of 2"):
        tf.io.decode_raw([b"\x01\x00\x02"], tf.int16)


def test_decode_csv():
    # Expected values from TensorFlow 2.21's tf.io.decode_csv on the same inputs.
    a, b, c = tf.io.decode_csv(["1,2.5,a", '3,,"b,c"'], [[0], [0.0], [""]])
    assert (a.dtype, b.dtype, c.dtype) == (tf.int32, tf.float32, tf.string)
    assert a.numpy().tolist() == [1, 3] and b.numpy().tolist() == [2.5, 0.0]
    assert c.numpy().tolist() == [b"a", b"b,c"]
    quoted, plain_field = tf.io.decode_csv(['"a""b",c'], [[""], [""]])
    assert quoted.numpy().tolist() == [b'a"b']
    raw, _ = tf.io.decode_csv(['"a""b",c'], [[""], [""]], use_quote_delim=False)
    assert raw.numpy().tolist() == [b'"a""b"']
    na, three = tf.io.decode_csv(["NA|3"], [[7], tf.constant([], tf.int64)], field_delim="|",
                                 na_value="NA")
    assert na.numpy().tolist() == [7] and three.dtype == tf.int64
    first, last = tf.io.decode_csv([" 1,2,+3 "], [[0], [0]], select_cols=[0, 2])
    assert (first.numpy().tolist(), last.numpy().tolist()) == ([1], [3])
    (inf,) = tf.io.decode_csv(["-1e40"], [[0.0]])
    assert inf.numpy().tolist() == [-np.inf]
    with pytest.raises(errors.InvalidArgumentError, match="required but missing"):
        tf.io.decode_csv(["1,"], [[0], tf.constant([], tf.float32)])
    with pytest.raises(errors.InvalidArgumentError, match="Expect 2 fields but have 3"):
        tf.io.decode_csv(["1,2,3"], [[0], [0]])
    with pytest.raises(errors.InvalidArgumentError, match="not a valid int32: 3000000000"):
        tf.io.decode_csv(["3000000000"], [[0]])
    with pytest.raises(errors.InvalidArgumentError, match="quotes"):
        tf.io.decode_csv(['a"b",c'], [[""], [""]])


def test_base64_and_decode_compressed():
    # Expected values from TensorFlow 2.21 (web-safe alphabet, unpadded by default).
    assert tf.io.encode_base64([b"\xfb\xff\xfe", b"ab", b""]).numpy().tolist() == [
        b"-__-", b"YWI", b""]
    assert tf.io.encode_base64([b"a"], pad=True).numpy().tolist() == [b"YQ=="]
    assert tf.io.decode_base64(["-_-_", "YWI", "YWI=", ""]).numpy().tolist() == [
        b"\xfb\xff\xbf", b"ab", b"ab", b""]
    for bad in ["+/+/", "YW I=", "Y"]:
        with pytest.raises(errors.InvalidArgumentError):
            tf.io.decode_base64([bad])
    assert tf.io.decode_compressed([zlib.compress(b"hello"), zlib.compress(b"")],
                                   "ZLIB").numpy().tolist() == [b"hello", b""]
    assert tf.io.decode_compressed(gzip.compress(b"hi"), "GZIP").numpy() == b"hi"
    with pytest.raises(errors.DataLossError):
        tf.io.decode_compressed(b"plain", "ZLIB")


# ------------------------------------------------------------------ tf.strings

def test_hash_buckets_match_tensorflow():
    words = REF["hash_words"]
    assert tf.strings.to_hash_bucket(words, 1000003).numpy().tolist() == REF["to_hash_bucket"]
    assert (tf.strings.to_hash_bucket_fast(words, 1000003).numpy().tolist()
            == REF["to_hash_bucket_fast"])
    assert (tf.strings.to_hash_bucket_strong(words, 1000003, [1, 2]).numpy().tolist()
            == REF["to_hash_bucket_strong"])


def test_unicode_ops_match_tensorflow():
    decoded = tf.strings.unicode_decode(b"h\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e\xffa\x01",
                                        "UTF-8")
    assert decoded.dtype == tf.int32 and decoded.numpy().tolist() == REF["unicode_decode"]
    assert tf.strings.unicode_decode(
        b"a\xffb\x01\xe2\x82", "UTF-8", errors="ignore",
        replace_control_characters=True).numpy().tolist() == REF["unicode_decode_ignore_controls"]
    encoded = tf.strings.unicode_encode([[104, 8364, 0x110000], [119070, 65, -1]], "UTF-16-BE")
    assert [s.hex() for s in encoded.numpy().tolist()] == REF["unicode_encode_utf16"]
    transcoded = tf.strings.unicode_transcode([b"caf\xe9", b"\xff"], "ISO-8859-1", "UTF-32-BE")
    assert [s.hex() for s in transcoded.numpy().tolist()] == REF["unicode_transcode"]
    with pytest.raises(errors.InvalidArgumentError, match="Invalid formatting"):
        tf.strings.unicode_decode(b"a\xff", "UTF-8", errors="strict")
    with pytest.raises(errors.InvalidArgumentError, match="out of range"):
        tf.strings.unicode_encode([0x110000], "UTF-8", errors="strict")
    assert tf.strings.unicode_decode(["ab", "c"], "UTF-8").to_list() == [[97, 98], [99]]
    assert tf.strings.unicode_split(b"a\xff", "UTF-8", errors="ignore").numpy().tolist() == [
        b"a"]


def test_format_matches_tensorflow():
    results = [
        tf.strings.format("x={} y={}", (1, tf.range(10))),
        tf.strings.format("{}", tf.reshape(tf.range(30), [5, 6]), summarize=2),
        tf.strings.format("{} {}", (tf.constant([b"a\x01\"", b"\xc3\xa9"]),
                                    tf.constant([0.1, 1e20, -0.0]))),
        tf.strings.format("{}|{}", (tf.zeros([3, 0]), tf.constant([True, False]))),
        tf.strings.format("{}", tf.reshape(tf.range(24), [2, 3, 4])),
    ]
    assert [r.numpy().hex() for r in results] == REF["format"]
    with pytest.raises(ValueError, match="expects 2 tensors"):
        tf.strings.format("{} {}", [1])
