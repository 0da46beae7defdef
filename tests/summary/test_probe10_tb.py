"""Probe round 10 (TensorBoard logs): reading event files back (summary_iterator and the
TensorProto reader), checked against the tensorboard package's own protobuf classes and
tensor_util; the noop writer, summary steps and audio dtypes as TensorFlow treats them; the
TensorBoard callback's profile_batch."""

import glob
import os
import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras, summary
from tensorflux.summary import event_pb, reader
from tensorflux.summary.record import encode_record

event_pb2 = pytest.importorskip("tensorboard.compat.proto.event_pb2")
tensor_pb2 = pytest.importorskip("tensorboard.compat.proto.tensor_pb2")
tensor_util = pytest.importorskip("tensorboard.util.tensor_util")


def event_file(logdir):
    (path,) = glob.glob(os.path.join(str(logdir), "events.out.tfevents.*"))
    return path


def raw_records(path):
    """The records of a TFRecord file, read with plain struct-free slicing (no checksums)."""
    data, out, pos = open(path, "rb").read(), [], 0
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 8], "little")
        out.append(data[pos + 12:pos + 12 + length])
        pos += 16 + length
    return out


def test_summary_iterator_matches_tensorboards_protobuf(tmp_path):
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default():
        for step in range(3):
            summary.scalar("loss", 1.0 / (step + 1), step=step, description="the loss")
        summary.histogram("h", [1.0, 2.0, 3.0, 7.0], step=0, buckets=3)
        summary.text("t", [["a", "b"], ["c", "d"]], step=1)
        summary.image("im", np.linspace(0, 1, 12, dtype="float32").reshape(2, 2, 3, 1), step=2)
        summary.write("ints", np.arange(6, dtype="int64").reshape(2, 3), step=4)
    writer.close()
    path = event_file(tmp_path)
    ours = list(reader.summary_iterator(path))
    expected = [event_pb2.Event.FromString(record) for record in raw_records(path)]
    assert len(ours) == len(expected) == 8
    assert ours[0].file_version == expected[0].file_version == "brain.Event:2"
    assert ours[0].WhichOneof("what") == "file_version"
    for mine, theirs in zip(ours[1:], expected[1:]):
        assert (mine.step, mine.wall_time) == (theirs.step, theirs.wall_time)
        assert mine.WhichOneof("what") == theirs.WhichOneof("what") == "summary"
        (value,), (their_value,) = mine.summary.value, theirs.summary.value
        assert value.tag == their_value.tag
        assert value.metadata.plugin_data.plugin_name == \
            their_value.metadata.plugin_data.plugin_name
        assert value.metadata.summary_description == their_value.metadata.summary_description
        assert value.tensor.dtype == their_value.tensor.dtype
        assert [d.size for d in value.tensor.tensor_shape.dim] == \
            [d.size for d in their_value.tensor.tensor_shape.dim]
        got = reader.tensor_proto_to_ndarray(value.tensor)
        want = tensor_util.make_ndarray(their_value.tensor)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tolist() == want.tolist()
    assert [e.step for e in ours[1:4]] == [0, 1, 2]
    assert ours[1].summary.value[0].metadata.summary_description == "the loss"


@pytest.mark.parametrize("array", [
    np.float32(2.5), np.arange(6, dtype=np.float64).reshape(3, 2), np.array([1, -2], np.int8),
    np.array([[1, 2]], np.uint16), np.array([3], np.int64), np.array([True, False]),
    np.array([1.5, -0.25], np.float16), np.array([1 + 2j], np.complex64),
    np.array([b"x", b"yz"], dtype=object), np.zeros((0, 3), np.float32),
])
def test_tensor_contents_read_as_tensorboard_reads_them(array):
    proto = tensor_util.make_tensor_proto(array)
    message = event_pb.TensorProto.FromString(proto.SerializeToString())
    got, want = reader.tensor_proto_to_ndarray(message), tensor_util.make_ndarray(proto)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("dtype, field, values, shape, expected", [
    # TensorFlow's make_ndarray: too few values are padded with the last one, none give zeros
    (1, "float_val", [1.5], [3], np.full(3, 1.5, np.float32)),
    (1, "float_val", [1.0, 2.0], [2, 2], np.array([[1, 2], [2, 2]], np.float32)),
    (2, "double_val", [], [2], np.zeros(2)),
    (3, "int_val", [4, 5, 6], [3], np.array([4, 5, 6], np.int32)),
    (9, "int64_val", [7], [], np.array(7, np.int64)),
    (10, "bool_val", [True], [2], np.array([True, True])),
    (7, "string_val", [b"a"], [2], np.array([b"a", b"a"], dtype=object)),
    (19, "half_val", [0x3C00, 0xC000], [2], np.array([1.0, -2.0], np.float16)),
    (8, "scomplex_val", [1.0, 2.0], [1], np.array([1 + 2j], np.complex64)),
])
def test_typed_value_fields(dtype, field, values, shape, expected):
    proto = tensor_pb2.TensorProto(dtype=dtype)  # built with the protobuf package
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    getattr(proto, field).extend(values)
    got = reader.tensor_proto_to_ndarray(event_pb.TensorProto.FromString(
        proto.SerializeToString()))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tolist() == expected.tolist()


def test_summary_iterator_errors(tmp_path):
    with pytest.raises(tf.errors.NotFoundError):
        next(reader.summary_iterator(tmp_path / "missing"))
    path = tmp_path / "cut"
    first = event_pb.Event(step=1, file_version="brain.Event:2").SerializeToString()
    path.write_bytes(encode_record(first) + encode_record(b"\x10\x02")[:9])
    events = reader.summary_iterator(path)
    assert next(events).step == 1
    with pytest.raises(tf.errors.DataLossError):
        next(events)
    with pytest.raises(TypeError, match="TensorProto"):
        reader.tensor_proto_to_ndarray(np.zeros(2))


def test_event_messages_build_as_protobufs_do():
    event = event_pb.Event(wall_time=2.0, step=5, summary=event_pb.Summary(value=[
        event_pb.Summary.Value(tag="a", simple_value=0.5)]))
    theirs = event_pb2.Event(wall_time=2.0, step=5)
    theirs.summary.value.add(tag="a", simple_value=0.5)
    assert event.SerializeToString() == theirs.SerializeToString()
    assert event.summary.value[0].WhichOneof("value") == "simple_value"


def test_noop_writer_leaves_the_default_writer_and_step_alone(tmp_path):
    # TensorFlow's noop writer: as_default and set_as_default change nothing.
    with summary.create_noop_writer().as_default(step=3) as entered:
        assert entered is None
        assert summary.experimental.get_step() is None
        assert summary.scalar("x", 1.0, step=0) is False  # no writer at all
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default(step=7):
        noop = summary.create_noop_writer()
        noop.set_as_default(step=1)
        with noop.as_default(step=2):
            assert summary.scalar("outer", 1.0) is True
    writer.close()
    (event,) = list(reader.summary_iterator(event_file(tmp_path)))[1:]
    assert (event.step, event.summary.value[0].tag) == (7, "outer")


def test_summary_steps_must_be_integers(tmp_path):
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default():
        assert summary.scalar("a", 1.0, step=3.0) is True
        assert summary.scalar("b", 1.0, step=tf.Variable(4, dtype=tf.int64)) is True
        for bad in (2.7, "3", tf.constant(2.5), float("nan")):
            with pytest.raises(TypeError, match="step must be an integer"):
                summary.scalar("c", 1.0, step=bad)
        summary.experimental.set_step(1.5)
        with pytest.raises(TypeError, match="step must be an integer"):
            summary.histogram("d", [1.0])
    writer.close()
    steps = [e.step for e in reader.summary_iterator(event_file(tmp_path))][1:]
    assert steps == [3, 4]


def test_audio_needs_float_samples(tmp_path):
    with summary.create_file_writer(tmp_path).as_default(step=0):
        with pytest.raises(tf.errors.InvalidArgumentError, match="audio.*int32"):
            summary.audio("a", np.zeros((1, 8, 1), np.int32), 8000)
        assert summary.audio("b", np.zeros((1, 8, 1), np.float64), 8000) is True


def test_profile_batch_is_checked_and_training_still_logs(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    for off in (0, False, (0, 0)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            keras.callbacks.TensorBoard(tmp_path, profile_batch=off)
    for bad in (-1, (4, 2), "a,b", (1, 2, 3), 1.5, None, "3"):
        with pytest.raises(ValueError, match="profile_batch"):
            keras.callbacks.TensorBoard(tmp_path, profile_batch=bad)
    callback = keras.callbacks.TensorBoard(tmp_path, profile_batch="1,2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), batch_size=2,
                  epochs=1, verbose=0, callbacks=[callback])
    events = list(reader.summary_iterator(event_file(tmp_path / "train")))
    tags = {v.tag for e in events for v in e.summary.value}
    assert {"epoch_loss", "epoch_learning_rate"} <= tags
    # (the profile itself: tests/test_profiler.py)
    assert list((tmp_path / "train" / "plugins" / "profile").glob("*/*.xplane.pb"))


def test_histogram_of_strings_fails_clearly(tmp_path):
    with summary.create_file_writer(tmp_path).as_default(step=0):
        with pytest.raises(tf.errors.UnimplementedError, match="histogram.*'h'.*<U1"):
            summary.histogram("h", ["a"])
        assert summary.histogram("ok", [True, False]) is True


def png_pixels(data):
    """The pixels of a PNG from tensorflux's encoder (one IDAT chunk, filter 0 rows)."""
    import struct
    import zlib
    width, height, _, color_type = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 4: 2, 2: 3, 6: 4}[color_type]
    start = data.index(b"IDAT") + 4
    (length,) = struct.unpack(">I", data[start - 8:start - 4])
    rows = np.frombuffer(zlib.decompress(data[start:start + length]), np.uint8)
    return rows.reshape(height, 1 + width * channels)[:, 1:].reshape(height, width, channels)


def test_float16_images_scale_in_float16(tmp_path):
    # TensorFlow 2.21's convert_image_dtype multiplies float16 pixels by 255.5 in float16:
    # these give [64, 65, 142, 255] there, where float64 arithmetic gives [63, 64, 141, 255].
    pixels = np.array([0.25048828125, 0.25439453125, 0.5556640625, 0.9990234375], np.float16)
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default(step=0):
        summary.image("half", pixels.reshape(1, 1, 4, 1))
    writer.close()
    (event,) = list(reader.summary_iterator(event_file(tmp_path)))[1:]
    encoded = reader.tensor_proto_to_ndarray(event.summary.value[0].tensor)[2]
    assert png_pixels(encoded).reshape(-1).tolist() == [64, 65, 142, 255]
