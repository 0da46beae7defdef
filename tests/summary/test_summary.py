"""tf.summary: event files written by tensorflux, read back by TensorBoard's own loaders and
served by a real `tensorboard` process."""

import glob
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import summary
from tensorflux.graph import graphdef
from tensorflux.summary import crc32c as crc_module
from tensorflux.summary import writer as writer_module
from tensorflux.summary.record import DataLossError, encode_record, read_records

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
tensor_util = pytest.importorskip("tensorboard.util.tensor_util")

KEEP_ALL = {"tensors": 0, "scalars": 0, "images": 0, "histograms": 0, "compressedHistograms": 0}


def load(logdir):
    """TensorBoard's EventAccumulator over `logdir`, keeping every event."""
    accumulator = event_accumulator.EventAccumulator(str(logdir), size_guidance=KEEP_ALL)
    accumulator.Reload()
    return accumulator


def values(accumulator, tag):
    return [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]


def plugin_of(accumulator, tag):
    return accumulator.SummaryMetadata(tag).plugin_data.plugin_name


def event_file(logdir):
    (path,) = glob.glob(os.path.join(str(logdir), "events.out.tfevents.*"))
    return path


# ------------------------------------------------------------------ CRC32C and framing

@pytest.mark.parametrize("data, expected", [
    (b"123456789", 0xE3069283),          # the CRC catalogue's check value
    (b"", 0x00000000),
    (bytes(32), 0x8A9136AA),             # RFC 3720 (iSCSI) B.4 test vectors
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
])
def test_crc32c_known_vectors(data, expected):
    assert crc_module.crc32c(data) == expected
    assert crc_module._crc32c_python(data) == expected  # the table path, even with a C one


def test_crc32c_continues_and_masks_like_tensorboard():
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
    data = bytes(range(256)) * 3
    assert crc_module.crc32c(data[100:], crc_module.crc32c(data[:100])) == \
        crc_module.crc32c(data)
    for chunk in (b"", b"a", data):
        assert crc_module.masked_crc32c(chunk) == masked_crc32c(chunk)


def test_record_framing_and_checksums():
    record = encode_record(b"abc")
    assert struct.unpack("<Q", record[:8]) == (3,)
    assert record[12:15] == b"abc" and len(record) == 8 + 4 + 3 + 4


def test_reader_rejects_a_corrupted_record(tmp_path):
    path = tmp_path / "r.tfrecord"
    record = bytearray(encode_record(b"hello"))
    record[13] ^= 0x01
    path.write_bytes(bytes(encode_record(b"ok")) + bytes(record))
    with pytest.raises(DataLossError, match="checksum"):
        read_records(path)


# ------------------------------------------------------------------ what TensorBoard reads

def test_file_name_and_first_event(tmp_path):
    writer = summary.create_file_writer(tmp_path / "run")
    writer.close()
    path = event_file(tmp_path / "run")
    assert os.path.basename(path).startswith("events.out.tfevents.")
    assert path.endswith(".v2")
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    (first,) = list(EventFileLoader(path).Load())
    assert first.file_version == "brain.Event:2"
    assert abs(first.wall_time - time.time()) < 60


def test_scalars_exact(tmp_path):
    logged = [0.1, 1e-8, -3.5, 12345.678]
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default():
        for step, value in enumerate(logged):
            assert summary.scalar("loss", value, step=step * 10)
        assert summary.scalar("int_metric", 7, step=0, description="an integer")
        assert summary.scalar("from_tensor", tf.constant(2.5, tf.float64), step=1)
    writer.close()
    accumulator = load(tmp_path)
    got = values(accumulator, "loss")
    assert [s for s, _ in got] == [0, 10, 20, 30]
    assert [v.dtype for _, v in got] == [np.float32] * 4
    assert [v.item() for _, v in got] == [np.float32(x).item() for x in logged]
    assert plugin_of(accumulator, "loss") == "scalars"
    assert values(accumulator, "int_metric")[0][1] == 7.0
    assert accumulator.SummaryMetadata("int_metric").summary_description == "an integer"
    assert values(accumulator, "from_tensor") == [(1, np.float32(2.5))]


def _tensorboard_histogram(data, buckets):
    """TensorBoard's own (NumPy) bucketing of the histogram plugin."""
    from tensorboard.plugins.histogram import summary_v2
    proto = summary_v2.histogram_pb("h", data, buckets=buckets).value[0].tensor
    return tensor_util.make_ndarray(proto)


@pytest.mark.parametrize("data, buckets", [
    (np.random.default_rng(0).normal(size=200), None),
    (np.arange(10.0), 4),
    ([3.0, 3.0, 3.0], 5),          # one value: equal edges, all in the last bucket
    ([], 3),                       # no data: zeros
    ([1.0, 2.0], 0),               # no buckets
    (np.random.default_rng(1).integers(-5, 5, size=(4, 6)), 7),
])
def test_histogram_buckets_match_tensorboard(tmp_path, data, buckets):
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default(step=4):
        assert summary.histogram("weights", data, buckets=buckets)
    writer.close()
    accumulator = load(tmp_path)
    ((step, got),) = values(accumulator, "weights")
    expected = _tensorboard_histogram(data, buckets)
    assert step == 4
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert plugin_of(accumulator, "weights") == "histograms"
    if np.size(data) and buckets != 0:
        assert got[:, 2].sum() == np.size(data)
        assert got[-1, 1] == np.max(data)


def test_histogram_is_shown_by_the_histograms_plugin(tmp_path):
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins.histogram import metadata as histogram_metadata
    writer = summary.create_file_writer(tmp_path / "run")
    with writer.as_default():
        summary.histogram("w", [0.0, 1.0, 1.0, 2.0], step=0, buckets=2)
    writer.close()
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    result = provider.read_tensors(context.RequestContext(), experiment_id="",
                                   plugin_name=histogram_metadata.PLUGIN_NAME, downsample=10)
    (datum,) = result["run"]["w"]
    np.testing.assert_array_equal(datum.numpy, [[0.0, 1.0, 1.0], [1.0, 2.0, 3.0]])


def test_images_roundtrip_pixels(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(4, 5, 7, 3), dtype=np.uint8)
    gray_float = rng.uniform(-0.2, 1.2, size=(1, 3, 2, 1))
    rgba = rng.integers(0, 256, size=(1, 2, 2, 4), dtype=np.uint8)
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default(step=1):
        assert summary.image("rgb", rgb, max_outputs=2)
        assert summary.image("gray", tf.constant(gray_float, tf.float32))
        assert summary.image("rgba", rgba)
    writer.close()
    accumulator = load(tmp_path)
    assert plugin_of(accumulator, "rgb") == "images"

    def decoded(tag):
        ((_, tensor),) = values(accumulator, tag)
        import io
        width, height = int(tensor[0]), int(tensor[1])
        return width, height, [np.asarray(image_module.open(io.BytesIO(png)))
                               for png in tensor[2:]]

    width, height, images = decoded("rgb")
    assert (width, height, len(images)) == (7, 5, 2)  # max_outputs
    for got, want in zip(images, rgb):
        np.testing.assert_array_equal(got, want)
    # Floats: tf.image.convert_image_dtype(saturate=True) scales by 255.5, clips, truncates.
    expected = np.trunc(np.clip(gray_float.astype(np.float32).astype(np.float64) * 255.5,
                                0, 255)).astype(np.uint8)
    _, _, (gray,) = decoded("gray")
    np.testing.assert_array_equal(gray, expected[0, :, :, 0])
    _, _, (got_rgba,) = decoded("rgba")
    np.testing.assert_array_equal(got_rgba, rgba[0])


def test_text(tmp_path):
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default(step=2):
        assert summary.text("notes", "**bold** é")
        assert summary.text("table", tf.constant([["a", "b"], ["c", "d"]]))
    writer.close()
    accumulator = load(tmp_path)
    assert plugin_of(accumulator, "notes") == "text"
    ((step, notes),) = values(accumulator, "notes")
    assert step == 2 and notes.item() == "**bold** é".encode()
    ((_, table),) = values(accumulator, "table")
    assert table.shape == (2, 2) and table.tolist() == [[b"a", b"b"], [b"c", b"d"]]


def test_graph_nodes(tmp_path):
    @tf.function
    def f(x, y):
        return tf.nn.relu(tf.matmul(x, y) + 1.0)

    concrete = f.get_concrete_function(tf.TensorSpec([None, 3], tf.float32),
                                       tf.TensorSpec([3, 2], tf.float32))
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default():
        assert summary.graph(concrete)
    writer.close()
    graph_def = load(tmp_path).Graph()
    # What TensorBoard parsed is what the GraphDef export produced, node for node (the
    # optimizer may have fused the elementwise tail).
    exported = graphdef.graph_def_dict(concrete.graph)["node"]
    assert [(n.name, n.op, list(n.input)) for n in graph_def.node] == [
        (n["name"], n["op"], n.get("input", [])) for n in exported]
    matmul = next(n for n in graph_def.node if n.op == "MatMul")
    placeholders = [n.name for n in graph_def.node if n.op == "Placeholder"]
    assert len(placeholders) == 2 and list(matmul.input) == placeholders
    assert graph_def.node[0].attr["shape"].shape.dim[1].size == 3


def test_graph_accepts_a_graph_def_and_rejects_other_things(tmp_path):
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default():
        assert summary.graph({"node": [{"name": "a", "op": "NoOp"}]})
        with pytest.raises(TypeError, match="graph"):
            summary.graph(42)
    writer.close()
    assert [n.name for n in load(tmp_path).Graph().node] == ["a"]


# ------------------------------------------------------------------ defaults and steps

def test_no_default_writer_writes_nothing(tmp_path):
    writer = summary.create_file_writer(tmp_path)
    assert summary.scalar("x", 1.0, step=0) is False
    assert summary.histogram("h", [1.0], step=0) is False
    assert summary.image("i", np.zeros((1, 1, 1, 1)), step=0) is False
    assert summary.text("t", "x", step=0) is False
    assert summary.graph({"node": []}) is False
    writer.close()
    assert len(read_records(event_file(tmp_path))) == 1  # only the file_version event


def test_steps_default_and_explicit(tmp_path):
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default():
        with pytest.raises(ValueError, match="No step set"):
            summary.scalar("x", 1.0)
        summary.experimental.set_step(5)
        assert summary.experimental.get_step() == 5
        summary.scalar("x", 1.0)
        summary.scalar("x", 2.0, step=9)
        step_variable = tf.Variable(11, dtype=tf.int64)
        with writer.as_default(step=step_variable):
            step_variable.assign(12)  # read when the summary is written
            summary.scalar("x", 3.0)
        assert summary.experimental.get_step() == 5  # as_default restores the step
    writer.close()
    assert [(s, v.item()) for s, v in values(load(tmp_path), "x")] == [
        (5, 1.0), (9, 2.0), (12, 3.0)]


def test_set_as_default_record_if_and_closed_writer(tmp_path):
    writer = summary.create_file_writer(tmp_path)
    writer.set_as_default(step=1)
    assert summary.should_record_summaries()
    with summary.record_if(False):
        assert summary.scalar("x", 1.0) is False
    with summary.record_if(lambda: summary.experimental.get_step() % 2 == 0):
        assert summary.scalar("x", 2.0) is False
        summary.experimental.set_step(2)
        assert summary.scalar("x", 3.0) is True
    summary.flush()
    writer.close()
    writer.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        writer.as_default().__enter__()
    assert [(s, v.item()) for s, v in values(load(tmp_path), "x")] == [(2, 3.0)]


def test_noop_writer_and_bad_input(tmp_path):
    with summary.create_noop_writer().as_default(step=0):
        assert summary.scalar("x", 1.0) is False  # as in TF: the noop writer sets no default
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default(step=0):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"scalar.*shape \(2,\)"):
            summary.scalar("x", [1.0, 2.0])
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"image.*shape \(2, 2\)"):
            summary.image("i", np.zeros((2, 2)))
        with pytest.raises(tf.errors.InvalidArgumentError, match="text"):
            summary.text("t", 3.0)
    writer.close()


def test_two_writers_on_one_logdir_get_separate_files(tmp_path):
    first = summary.create_file_writer(tmp_path)
    second = summary.create_file_writer(tmp_path)
    with first.as_default(step=0):
        summary.scalar("a", 1.0)
    with second.as_default(step=0):
        summary.scalar("b", 2.0)
    first.close()
    second.close()
    assert first.path != second.path
    assert set(load(tmp_path).Tags()["tensors"]) == {"a", "b"}


def test_queue_flushes_at_max_queue_and_on_flush(tmp_path):
    writer = summary.create_file_writer(tmp_path, max_queue=3, flush_millis=10 ** 7)
    path = event_file(tmp_path)
    with summary.record_if(True):
        writer.set_as_default(step=0)
        summary.scalar("x", 1.0)
        summary.scalar("x", 2.0)
        assert len(read_records(path)) == 1  # queued
        summary.scalar("x", 3.0)
        assert len(read_records(path)) == 4  # the queue was full
        summary.scalar("x", 4.0)
        writer.flush()
        assert len(read_records(path)) == 5
    writer.close()


def test_flush_millis_flushes_in_the_background(tmp_path):
    writer = summary.create_file_writer(tmp_path, flush_millis=50)
    with summary.record_if(True):
        writer.set_as_default(step=0)
        summary.scalar("x", 1.0)
    deadline = time.time() + 5
    while len(read_records(writer.path)) < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert len(read_records(writer.path)) == 2
    writer.close()


# ------------------------------------------------------------------ crashes

def _write_scalars(logdir, count):
    writer = summary.create_file_writer(logdir)
    with writer.as_default():
        for step in range(count):
            summary.scalar("loss", float(step) / 4, step=step)
            writer.flush()
    writer.close()
    return event_file(logdir)


def test_truncated_file_loads_up_to_the_last_whole_record(tmp_path):
    path = _write_scalars(tmp_path / "full", 5)
    data = open(path, "rb").read()
    sizes = [len(encode_record(r)) for r in read_records(path)]
    ends = np.cumsum(sizes)
    assert ends[-1] == len(data)
    last_start = ends[-2]
    # Cut inside the last record's header, its data, and its trailing checksum.
    for cut in (last_start + 3, last_start + 14, len(data) - 1):
        run = tmp_path / f"cut{cut}"
        run.mkdir()
        shutil.copy(path, run / os.path.basename(path))
        with open(run / os.path.basename(path), "r+b") as handle:
            handle.truncate(cut)
        got = values(load(run), "loss")
        assert [(s, v.item()) for s, v in got] == [(s, s / 4) for s in range(4)]


def test_a_crash_mid_write_keeps_earlier_records(tmp_path, monkeypatch):
    writer = summary.create_file_writer(tmp_path)
    with writer.as_default():
        for step in range(3):
            summary.scalar("loss", float(step), step=step)
        writer.flush()
        before = open(writer.path, "rb").read()
        summary.scalar("loss", 99.0, step=3)
        real_write = os.write

        def crash(fd, data):  # the process dies after half the bytes reach the file
            real_write(fd, bytes(data)[: len(data) // 2])
            raise KeyboardInterrupt

        monkeypatch.setattr(writer_module.os, "write", crash)
        with pytest.raises(KeyboardInterrupt):
            writer.flush()
        monkeypatch.undo()
    after = open(writer.path, "rb").read()
    assert after.startswith(before) and len(after) > len(before)  # append-only
    assert [(s, v.item()) for s, v in values(load(tmp_path), "loss")] == [
        (0, 0.0), (1, 1.0), (2, 2.0)]
    writer.close()


# ------------------------------------------------------------------ the tensorboard server

def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


@pytest.mark.parametrize("load_fast", ["false", "true"], ids=["python-reader", "rust-reader"])
def test_tensorboard_server_serves_the_scalars(tmp_path, load_fast):
    pytest.importorskip("tensorboard.main")
    if load_fast == "true":
        pytest.importorskip("tensorboard_data_server")
    for run, scale in (("train", 1.0), ("validation", 2.0)):
        writer = summary.create_file_writer(tmp_path / run)
        with writer.as_default():
            for step in range(3):
                summary.scalar("epoch_loss", scale / (step + 1), step=step)
        writer.close()
    port = _free_port()
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path),
               "--host", "127.0.0.1", "--port", str(port), "--load_fast", load_fast,
               "--reload_interval", "1"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        runs = []
        while time.time() < deadline:
            if server.poll() is not None:
                pytest.fail(f"tensorboard exited: {server.stderr.read().decode()[-2000:]}")
            try:
                runs = _get_json(base + "/data/runs", timeout=2)
                if {"train", "validation"} <= set(runs):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        assert {"train", "validation"} <= set(runs), runs
        for run, scale in (("train", 1.0), ("validation", 2.0)):
            points = _get_json(f"{base}/data/plugin/scalars/scalars?run={run}&tag=epoch_loss")
            assert [p[1] for p in points] == [0, 1, 2]
            assert [p[2] for p in points] == [np.float32(scale / (s + 1)).item()
                                              for s in range(3)]
        tags = _get_json(f"{base}/data/plugin/scalars/tags")
        assert set(tags["train"]) == {"epoch_loss"}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        server.stderr.close()
