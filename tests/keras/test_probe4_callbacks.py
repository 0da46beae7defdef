"""Probe round fixes for TensorBoard logs and tf.summary: the "keras" conceptual-graph tag, the
embedding projector files, name-scoped summary tags and tf.summary.trace_*.

Expected values are what TensorFlow 2.21 + Keras 3.15.1 write for the same scripts (recorded
from runs with real TensorFlow, which the test suite does not have) and what TensorBoard's own
readers decode."""

import json
import os
import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
tensor_util = pytest.importorskip("tensorboard.util.tensor_util")
config_pb2 = pytest.importorskip("tensorboard.compat.proto.config_pb2")


def load(logdir):
    accumulator = event_accumulator.EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def only_value(accumulator, tag):
    (event,) = accumulator.Tensors(tag)
    return event.step, tensor_util.make_ndarray(event.tensor_proto)


def small_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1"),
                              keras.layers.Dense(1, name="d2")], name="seq")
    model.compile("sgd", "mse")
    return model


def embedding_model():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Embedding(10, 4, name="emb"),
                              keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(1, name="out")])
    model.compile("sgd", "mse")
    return model


XY = (np.linspace(0, 1, 24, dtype="float32").reshape(6, 4), np.ones((6, 1), "float32"))
TOKENS = (np.arange(30).reshape(6, 5) % 10, np.ones((6, 1), "float32"))


# ------------------------------------------------------------------ the "keras" graph tag

def test_tensorboard_writes_the_model_config_as_the_keras_graph_tag(tmp_path):
    model = small_model()
    model.fit(*XY, epochs=1, verbose=0, callbacks=[keras.callbacks.TensorBoard(tmp_path)])
    train = load(tmp_path / "train")
    metadata = train.SummaryMetadata("keras")
    assert metadata.plugin_data.plugin_name == "graph_keras_model"
    assert metadata.plugin_data.content == b"1"
    step, value = only_value(train, "keras")
    assert step == 0
    config = json.loads(value.item())
    assert config["class_name"] == "Sequential"
    layers = config["config"]["layers"]
    assert [layer["class_name"] for layer in layers] == ["InputLayer", "Dense", "Dense"]
    assert [layer["config"]["name"] for layer in layers[1:]] == ["d1", "d2"]


def test_keras_graph_tag_on_evaluate_alone_and_not_without_write_graph(tmp_path):
    # Keras writes the tag when the callback receives the model, so evaluate alone opens a
    # train run too.
    small_model().evaluate(*XY, verbose=0,
                           callbacks=[keras.callbacks.TensorBoard(tmp_path / "a")])
    assert sorted(os.listdir(tmp_path / "a")) == ["train", "validation"]
    assert "keras" in load(tmp_path / "a" / "train").Tags()["tensors"]
    small_model().fit(*XY, epochs=1, verbose=0, callbacks=[
        keras.callbacks.TensorBoard(tmp_path / "b", write_graph=False)])
    assert "keras" not in load(tmp_path / "b" / "train").Tags()["tensors"]


def test_no_keras_graph_tag_for_a_subclassed_model(tmp_path):
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    model = Sub()
    model.compile("sgd", "mse")
    model.fit(*XY, epochs=1, verbose=0, callbacks=[keras.callbacks.TensorBoard(tmp_path)])
    assert "keras" not in load(tmp_path / "train").Tags()["tensors"]


# ------------------------------------------------------------------ embeddings_freq

PROJECTOR_ENTRY = ('embeddings {\n'
                   '  tensor_name: "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"\n')


def test_embeddings_freq_writes_projector_config_and_weights(tmp_path):
    model = embedding_model()
    model.fit(*TOKENS, epochs=3, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(tmp_path, embeddings_freq=2)])
    assert (tmp_path / "projector_config.pbtxt").read_text() == PROJECTOR_ENTRY + "}\n"
    saved = sorted(f for f in os.listdir(tmp_path / "train") if not f.startswith("events"))
    assert saved == ["keras_embedding.ckpt-0.weights.h5", "keras_embedding.ckpt-2.weights.h5"]
    restored = embedding_model()
    restored.load_weights(tmp_path / "train" / "keras_embedding.ckpt-2.weights.h5")
    np.testing.assert_array_equal(restored.get_layer("emb").embeddings.numpy(),
                                  model.get_layer("emb").embeddings.numpy())


@pytest.mark.parametrize("metadata", ["meta.tsv", {"emb": "meta.tsv"}])
def test_embeddings_metadata_path(tmp_path, metadata):
    given = dict(metadata) if isinstance(metadata, dict) else metadata
    embedding_model().fit(*TOKENS, epochs=1, verbose=0, callbacks=[keras.callbacks.TensorBoard(
        tmp_path, embeddings_freq=1, embeddings_metadata=given)])
    assert (tmp_path / "projector_config.pbtxt").read_text() == (
        PROJECTOR_ENTRY + '  metadata_path: "meta.tsv"\n}\n')
    assert given == metadata  # the caller's dict is left as it was


def test_embeddings_metadata_for_an_unknown_layer(tmp_path):
    with pytest.raises(ValueError, match=r"embeddings_metadata.*'nope'.*\['emb'\]"):
        embedding_model().fit(*TOKENS, epochs=1, verbose=0, callbacks=[
            keras.callbacks.TensorBoard(tmp_path, embeddings_freq=1,
                                        embeddings_metadata={"nope": "m.tsv"})])


# ------------------------------------------------------------------ tf.summary name scopes

def test_summary_tags_carry_the_name_scope(tmp_path):
    with tf.summary.create_file_writer(str(tmp_path)).as_default(step=0):
        with tf.name_scope("train"):
            with tf.name_scope("inner"):
                tf.summary.scalar("loss", 1.0)
            tf.summary.histogram("w", [1.0, 2.0])
            tf.summary.text("note", "hi")
            tf.summary.image("img", np.zeros((1, 2, 2, 1), "float32"))
            tf.summary.write("raw", 1.0)  # write takes its tag as given
        tf.summary.scalar("top", 1.0)
    assert sorted(load(tmp_path).Tags()["tensors"]) == [
        "raw", "top", "train/img", "train/inner/loss", "train/note", "train/w"]


def test_summary_scope():
    with tf.name_scope("a"):
        with tf.summary.experimental.summary_scope("x y", "default") as (tag, scope):
            assert (tag, scope) == ("a/x y", "a/xy/")
        with tf.summary.experimental.summary_scope(None, "default") as (tag, scope):
            assert (tag, scope) == ("a/default", "a/default/")
    with tf.summary.experimental.summary_scope("%%", "fallback") as (tag, scope):
        assert (tag, scope) == ("%%", "fallback/")


# ------------------------------------------------------------------ trace_on / trace_export

def test_trace_export_writes_function_graphs_for_the_graph_dashboard(tmp_path):
    from tensorflux.summary import trace

    function = tf.function(lambda x: x * 2.0 + 1.0)
    concrete = function.get_concrete_function(tf.TensorSpec([None], tf.float32))
    tf.summary.trace_on(graph=True)
    trace.record_function_graph(concrete)  # what tf.function reports when it traces
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        with tf.name_scope("s"):
            tf.summary.trace_export("my_trace", step=3)
    accumulator = load(tmp_path)
    assert accumulator.SummaryMetadata("s/my_trace").plugin_data.plugin_name == \
        "graph_run_metadata_graph"
    step, value = only_value(accumulator, "s/my_trace")
    assert step == 3
    run_metadata = config_pb2.RunMetadata.FromString(value.item())
    (graphs,) = run_metadata.function_graphs
    ops = [node.op for node in graphs.pre_optimization_graph.node]
    assert "Placeholder" in ops
    # the export ends the trace
    with pytest.raises(ValueError, match="trace_on"):
        tf.summary.trace_export("again", step=0)


def test_trace_off_discards_and_export_needs_trace_on(tmp_path):
    from tensorflux.summary import trace

    with pytest.raises(ValueError, match="Must enable trace"):
        tf.summary.trace_export("t", step=0)
    tf.summary.trace_on()
    with pytest.warns(UserWarning, match="already enabled"):
        tf.summary.trace_on()
    tf.summary.trace_off()
    trace.record_function_graph(object())  # ignored: no trace is on
    tf.summary.trace_on(graph=True)
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tf.summary.trace_export("empty", step=0)
    assert any("no tf.function was traced" in str(w.message) for w in caught)
    _, value = only_value(load(tmp_path), "empty")
    assert not config_pb2.RunMetadata.FromString(value.item()).function_graphs


# ------------------------------------------------------------------ tf.summary.audio

def wav_reference_samples(clip):
    """int16 samples as TensorFlow's encode_wav makes them: x * 32768 rounded half away from
    zero, clipped to the int16 range (float64 reference)."""
    scaled = np.asarray(clip, np.float64) * 32768.0
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
    return np.clip(rounded, -32768, 32767).astype(np.int16)


def test_audio_summary_writes_wav_clips(tmp_path):
    import io
    import wave

    audio_metadata = pytest.importorskip("tensorboard.plugins.audio.metadata")
    clips = np.array([[[0.0, 1.0], [-1.0, 0.5], [0.25, -0.7]],
                      [[2.0, -2.0], [1 / 65536, -1 / 65536], [3 / 65536, -3 / 65536]],
                      [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]], np.float32)
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        with tf.name_scope("snd"):
            assert tf.summary.audio("clip", clips, 8000, step=2, max_outputs=2) is True
    accumulator = load(tmp_path)
    plugin = accumulator.SummaryMetadata("snd/clip").plugin_data
    assert plugin.plugin_name == "audio"
    assert audio_metadata.parse_plugin_metadata(plugin.content).encoding == \
        audio_metadata.Encoding.Value("WAV")
    step, value = only_value(accumulator, "snd/clip")
    assert step == 2 and value.shape == (2, 2)  # max_outputs clips of (wav, label)
    for (encoded, label), clip in zip(value, clips):
        assert label == b""
        with wave.open(io.BytesIO(encoded)) as reader:
            assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate(),
                    reader.getnframes()) == (2, 2, 8000, 3)
            samples = np.frombuffer(reader.readframes(3), "<i2").reshape(3, 2)
        np.testing.assert_array_equal(samples, wav_reference_samples(clip))


def test_audio_summary_errors():
    with pytest.raises(ValueError, match="Unknown encoding"):
        tf.summary.audio("a", np.zeros((1, 4, 1)), 8000, step=0, encoding="mp3")
    with tf.summary.create_noop_writer().as_default():
        with pytest.raises(ValueError, match=r"\[k, frames, channels\].*\(4, 4\)"):
            tf.summary.audio("a", np.zeros((4, 4)), 8000, step=0)


# ------------------------------------------------------------------ summaries in tf.function

def scalar_series(accumulator, tag):
    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
            for e in accumulator.Tensors(tag)]


def test_summaries_inside_a_tf_function_write_at_every_call(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    total = tf.Variable(1.0)

    @tf.function
    def train_step(x, step):
        total.assign_add(x)
        with writer.as_default():
            tf.summary.scalar("total", total, step=step)
            tf.summary.histogram("pair", tf.stack([x, total]), step=step)
        return total

    for i in range(3):
        train_step(tf.constant(float(i)), tf.constant(i, tf.int64))
    writer.flush()
    accumulator = load(tmp_path)
    assert scalar_series(accumulator, "total") == [(0, 1.0), (1, 2.0), (2, 4.0)]
    buckets = [tensor_util.make_ndarray(e.tensor_proto) for e in accumulator.Tensors("pair")]
    assert [(b[0, 0], b[-1, 1]) for b in buckets] == [(0.0, 1.0), (1.0, 2.0), (2.0, 4.0)]


def test_traced_summaries_read_a_variable_step_and_a_tensor_condition(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    global_step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def step(x):
        global_step.assign_add(1)
        with tf.summary.record_if(global_step % 2 == 0):
            return tf.summary.scalar("x", x)

    tf.summary.experimental.set_step(global_step)
    try:
        with writer.as_default():
            written = [bool(step(tf.constant(float(i)))) for i in range(4)]
    finally:
        tf.summary.experimental.set_step(None)
    assert written == [False, True, False, True]
    assert scalar_series(load(tmp_path), "x") == [(2, 1.0), (4, 3.0)]


def test_traced_summary_without_writer_or_step(tmp_path):
    @tf.function
    def no_writer(x):
        return tf.summary.scalar("x", x, step=0)

    assert bool(no_writer(tf.constant(1.0))) is False

    @tf.function
    def no_step(x):
        return tf.summary.scalar("x", x)

    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        with pytest.raises(ValueError, match="No step set"):
            no_step(tf.constant(1.0))
    # (TF 2.21: the noop writer sets no default writer, so nothing asks for a step)
    with tf.summary.create_noop_writer().as_default():
        assert bool(no_step(tf.constant(1.0))) is False


# ------------------------------------------------------------------ write_raw_pb

def test_write_raw_pb_writes_serialized_summaries_as_given(tmp_path):
    summary_pb2 = pytest.importorskip("tensorboard.compat.proto.summary_pb2")
    zero = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="zero", simple_value=0.0)])
    pair = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="a", simple_value=1.5),
                                      summary_pb2.Summary.Value(tag="b", simple_value=2.5)])
    assert zero.SerializeToString().endswith(b"\x00")  # must survive the string tensor

    @tf.function
    def traced(step):
        return tf.summary.experimental.write_raw_pb(zero.SerializeToString(), step=step)

    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        assert tf.summary.experimental.write_raw_pb(
            [pair.SerializeToString(), zero.SerializeToString()], step=1) is True
        tf.summary.experimental.write_raw_pb(tf.constant(zero.SerializeToString()), step=2)
        assert bool(traced(tf.constant(3, tf.int64)))
        with pytest.raises(tf.errors.DataLossError, match="Summary"):
            tf.summary.experimental.write_raw_pb(b"\xff\xff\xff", step=0)
    accumulator = load(tmp_path)
    assert [(e.step, e.value) for e in accumulator.Scalars("zero")] == [(1, 0.0), (2, 0.0),
                                                                        (3, 0.0)]
    assert [(e.step, e.value) for e in accumulator.Scalars("b")] == [(1, 2.5)]


# ------------------------------------------------------------------ histograms of NaN / inf

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("data, buckets, expected", [
    # TensorFlow's algorithm: edges from linspace(min, max) with both ends pinned; an element
    # whose bucket position floor((x - min) / width) is NaN is not counted.
    ([0.0, INF], 3, [[0.0, INF, 1], [INF, INF, 0], [INF, INF, 0]]),
    ([0.0, NAN, 1.0], 2, [[NAN, NAN, 0], [NAN, NAN, 0]]),
    ([-INF, 1.0, 2.0], 3, [[-INF, NAN, 0], [NAN, NAN, 0], [NAN, 2.0, 0]]),
    ([INF, INF], 3, [[INF, NAN, 0], [NAN, NAN, 0], [NAN, INF, 0]]),
    ([0.0, 1.0, INF, 2.0], 2, [[0.0, INF, 3], [INF, INF, 0]]),
])
def test_histogram_buckets_of_nan_and_inf(data, buckets, expected):
    from tensorflux.summary.summary_ops import histogram_buckets

    np.testing.assert_array_equal(histogram_buckets(np.array(data), buckets),
                                  np.array(expected, np.float64))


def test_tensorboard_histograms_of_diverged_weights(tmp_path):
    model = small_model()
    kernel = model.get_layer("d1").kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    model.fit(*XY, epochs=1, verbose=0, callbacks=[
        keras.callbacks.TensorBoard(tmp_path, histogram_freq=1, write_images=True)])
    _, buckets = only_value(load(tmp_path / "train"), "seq/d1/kernel/histogram")
    assert buckets.shape == (30, 3) and np.isnan(buckets[:, :2]).all()
    assert not buckets[:, 2].any()


def test_traced_summary_of_a_list_of_tensors(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))

    @tf.function
    def log_pair(a, b):
        with writer.as_default():
            return tf.summary.histogram("pair", [a, b], step=0, buckets=2)

    assert bool(log_pair(tf.constant(1.0), tf.constant(3.0)))
    writer.flush()
    _, buckets = only_value(load(tmp_path), "pair")
    np.testing.assert_array_equal(buckets, [[1.0, 2.0, 1.0], [2.0, 3.0, 1.0]])


# ------------------------------------------------------------------ plot_model / model_to_dot

# Keras 3.15's parameters, in order (keras/src/utils/model_visualization.py).
KERAS_PLOT_PARAMETERS = {
    "plot_model": ["model", "to_file", "show_shapes", "show_dtype", "show_layer_names",
                   "rankdir", "expand_nested", "dpi", "show_layer_activations",
                   "show_trainable", "splines", "kwargs"],
    "model_to_dot": ["model", "show_shapes", "show_dtype", "show_layer_names", "rankdir",
                     "expand_nested", "dpi", "subgraph", "show_layer_activations",
                     "show_trainable", "splines", "kwargs"],
}


@pytest.mark.parametrize("name", sorted(KERAS_PLOT_PARAMETERS))
def test_plot_model_parameters_match_keras(name):
    import inspect

    parameters = inspect.signature(getattr(keras.utils, name)).parameters
    assert list(parameters) == KERAS_PLOT_PARAMETERS[name]
    assert parameters["splines"].default == "ortho"


def test_model_to_dot_graph_attributes_and_unknown_arguments(tmp_path):
    model = small_model()
    text = keras.utils.model_to_dot(model, splines="polyline").to_string()
    assert 'splines="polyline"' in text and "concentrate=true" in text
    assert 'splines="ortho"' in keras.utils.model_to_dot(model).to_string()
    with pytest.raises(ValueError, match="layer_range"):
        keras.utils.plot_model(model, to_file=str(tmp_path / "m.dot"), layer_range=["a", "b"])
    with pytest.raises(ValueError, match=r"Unrecognized keyword arguments: \{'show_colors'"):
        keras.utils.model_to_dot(model, show_colors=True)


def test_plot_model_returns_an_inline_image(tmp_path, monkeypatch):
    display = pytest.importorskip("IPython.display")
    from tensorflux.keras.utils import model_visualization
    from tensorflux.summary.png import encode_png

    png = encode_png(np.zeros((1, 1, 1), np.uint8))
    monkeypatch.setattr(model_visualization.Dot, "create", lambda self, prog="dot",
                        format="png": png)
    image = keras.utils.plot_model(small_model(), to_file=str(tmp_path / "m.png"))
    assert isinstance(image, display.Image) and image.data == png
    assert keras.utils.plot_model(small_model(), to_file=str(tmp_path / "m.dot")) is None
