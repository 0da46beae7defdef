"""Probe round 5, data loading: tf.audio, audio_dataset_from_directory, directory datasets'
class_names and validation order, from_generator casting and args, saved string leaves.

TensorFlow is not available to the suite: WAV expectations come from Python's `wave` module
and NumPy, file orders from NumPy's RandomState (Keras's index_directory shuffle), and the
rest from TF 2.21 behaviour derived independently (/tmp/s8/r5_data probes)."""

import io
import os
import wave

import numpy as np
import pytest

import tensorflux as tf
from tensorflux.io import audio
from tensorflux.keras.utils import dataset_utils


def _wav_bytes(samples, rate=8000, channels=1, width=2):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(width)
        handle.setframerate(rate)
        dtype = {1: "u1", 2: "<i2", 4: "<i4"}[width]
        handle.writeframes(np.asarray(samples).astype(dtype).tobytes())
    return buffer.getvalue()


STEREO = np.array([[-3000, -2000], [-1000, 0], [1000, 2000], [3000, 4000]])


def test_decode_wav_values_channels_and_samples():
    data = _wav_bytes(STEREO.ravel(), rate=22050, channels=2)
    expected = STEREO / 32768.0
    clip, rate = audio.decode_wav(data)
    assert clip.dtype == tf.float32 and rate.dtype == tf.int32 and int(rate) == 22050
    np.testing.assert_array_equal(clip.numpy(), expected)
    # fewer channels keep the first ones; more repeat the last one
    np.testing.assert_array_equal(audio.decode_wav(data, desired_channels=1).audio.numpy(),
                                  expected[:, :1])
    np.testing.assert_array_equal(audio.decode_wav(data, desired_channels=3).audio.numpy(),
                                  expected[:, [0, 1, 1]])
    np.testing.assert_array_equal(audio.decode_wav(data, desired_samples=2).audio.numpy(),
                                  expected[:2])
    padded = audio.decode_wav(data, desired_samples=6).audio.numpy()
    np.testing.assert_array_equal(padded, np.concatenate([expected, np.zeros((2, 2))]))
    mono = _wav_bytes([100, -200, 300])
    np.testing.assert_array_equal(audio.decode_wav(mono, desired_channels=2).audio.numpy(),
                                  np.repeat(np.array([[100], [-200], [300]]) / 32768.0, 2, 1))


def test_decode_wav_skips_extra_chunks_and_rejects_other_formats():
    raw = _wav_bytes([5, 6, 7])
    extra = raw[:36] + b"LIST" + (3).to_bytes(4, "little") + b"abc\x00" + raw[36:]
    np.testing.assert_array_equal(audio.decode_wav(extra).audio.numpy()[:, 0],
                                  np.array([5, 6, 7]) / 32768.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="16-bit WAV files, but received 8"):
        audio.decode_wav(_wav_bytes([1, 2], width=1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Expected RIFF"):
        audio.decode_wav(b"junk data here")


def test_encode_wav_round_trip_and_errors():
    clip = np.array([[0.5, 1.0], [-1.0, 2.0], [0.25, -0.5]], np.float32)
    data = audio.encode_wav(clip, 44100)
    assert data.dtype == tf.string and data.shape == ()
    with wave.open(io.BytesIO(data.numpy())) as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (
            2, 2, 44100)
        frames = np.frombuffer(handle.readframes(3), "<i2").reshape(3, 2)
    np.testing.assert_array_equal(frames, [[16384, 32767], [-32768, 32767], [8192, -16384]])
    decoded, rate = audio.decode_wav(data)
    assert int(rate) == 44100
    np.testing.assert_array_equal(decoded.numpy(), frames / 32768.0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="2-dimensional"):
        audio.encode_wav(tf.constant([0.5, 0.1]), 16000)
    with pytest.raises(tf.errors.InvalidArgumentError, match="float32"):
        audio.encode_wav(tf.constant([[1, 2]]), 16000)


def test_decode_wav_in_dataset_map_has_tf_static_shapes(tmp_path):
    for i, n in enumerate((3, 5)):
        (tmp_path / f"{i}.wav").write_bytes(_wav_bytes(np.arange(n) * 10))
    files = tf.data.Dataset.list_files(str(tmp_path / "*.wav"), shuffle=False)
    ds = files.map(lambda p: audio.decode_wav(tf.io.read_file(p)).audio)
    assert ds.element_spec.shape.as_list() == [None, None]
    assert [x.shape[0] for x in ds] == [3, 5]
    fixed = files.map(lambda p: audio.decode_wav(tf.io.read_file(p), desired_channels=1,
                                                 desired_samples=4))
    assert fixed.element_spec[0].shape.as_list() == [4, 1]
    assert fixed.element_spec[1].shape.as_list() == []


@pytest.fixture
def speech(tmp_path):
    lengths = {"no": (4, 6), "up": (4, 6, 8), "yes": (4, 6, 8)}
    for label, sizes in lengths.items():
        (tmp_path / label).mkdir()
        for i, size in enumerate(sizes):
            (tmp_path / label / f"{i}.wav").write_bytes(
                _wav_bytes(np.arange(size) * 100 + 1000 * i))
    (tmp_path / "yes" / "readme.txt").write_text("not audio")
    return tmp_path


def test_audio_dataset_pads_batches_cuts_and_labels(speech):
    ds = dataset_utils.audio_dataset_from_directory(speech, batch_size=3, shuffle=False,
                                                    verbose=False)
    assert ds.class_names == ["no", "up", "yes"]
    assert ds.element_spec[0].shape.as_list() == [None, None, None]
    x, y = next(iter(ds))
    assert x.shape == (3, 6, 1) and y.numpy().tolist() == [0, 0, 1]
    np.testing.assert_array_equal(x.numpy()[0, :, 0], np.r_[np.arange(4) * 100, 0, 0] / 32768.0)
    fixed = dataset_utils.audio_dataset_from_directory(
        speech, batch_size=8, shuffle=False, output_sequence_length=5,
        label_mode="categorical", verbose=False)
    assert fixed.element_spec[0].shape.as_list() == [None, 5, None]
    x, y = next(iter(fixed))
    assert x.shape == (8, 5, 1) and y.shape == (8, 3)
    ragged = dataset_utils.audio_dataset_from_directory(speech, batch_size=4, shuffle=False,
                                                        ragged=True, verbose=False)
    x, _ = next(iter(ragged))
    assert isinstance(x, tf.RaggedTensor) and x.row_lengths().numpy().tolist() == [4, 6, 4, 6]


def test_audio_dataset_argument_errors(speech):
    with pytest.raises(ValueError, match="Cannot set both `ragged`"):
        dataset_utils.audio_dataset_from_directory(speech, ragged=True,
                                                   output_sequence_length=4)
    with pytest.raises(ValueError, match="higher than 0"):
        dataset_utils.audio_dataset_from_directory(speech, sampling_rate=0)
    with pytest.raises(ValueError, match="integer value"):
        dataset_utils.audio_dataset_from_directory(speech, sampling_rate=16000.0)


def _text_tree(root):
    for label, count in (("a", 4), ("b", 4)):
        (root / label).mkdir()
        for i in range(count):
            (root / label / f"{i}.txt").write_text(f"{label}{i}")


def test_text_dataset_validation_half_of_both_keeps_the_seeded_file_order(tmp_path):
    _text_tree(tmp_path)
    paths = [f"{label}{i}" for label in "ab" for i in range(4)]
    np.random.RandomState(7).shuffle(paths)  # Keras's index_directory shuffle
    _, val = dataset_utils.text_dataset_from_directory(
        tmp_path, batch_size=8, validation_split=0.25, subset="both", seed=7, verbose=False)
    texts, labels = next(iter(val))
    assert [t.decode() for t in texts.numpy()] == paths[-2:]
    assert labels.numpy().tolist() == [int(p[0] == "b") for p in paths[-2:]]


def test_class_names_for_no_labels_and_explicit_labels(tmp_path):
    _text_tree(tmp_path)
    unlabeled = dataset_utils.text_dataset_from_directory(tmp_path, labels=None, shuffle=False,
                                                          verbose=False)
    assert unlabeled.class_names is None
    listed = dataset_utils.text_dataset_from_directory(
        tmp_path, labels=[5, 2, 5, 2, 9, 9, 2, 5], label_mode="categorical", shuffle=False,
        verbose=False)
    # classes are the sorted label values; (Keras one-hots against their count)
    assert listed.class_names == ["2", "5", "9"]
    assert listed.element_spec[1].shape.as_list() == [None, 3]


def test_from_generator_casts_like_numpy_and_passes_numpy_args():
    def one(value, dtype):
        ds = tf.data.Dataset.from_generator(
            lambda: iter([value]), output_signature=tf.TensorSpec(np.shape(value), dtype))
        return next(iter(ds)).numpy()

    assert one(1.5, tf.int32) == np.asarray(1.5).astype(np.int32)
    assert one("3", tf.int32) == 3
    assert one(1.5, tf.bool) == np.True_
    np.testing.assert_array_equal(one([1, 2.5], tf.int32), np.array([1, 2], np.int32))
    with pytest.raises(TypeError, match="could not be converted"):
        one("a", tf.int32)
    with pytest.raises(TypeError, match="could not be converted"):
        one(3, tf.string)

    seen = []

    def gen(n, s, f):
        seen.extend([n, s, f])
        yield 1

    list(tf.data.Dataset.from_generator(gen, args=(3, "a", np.array([1.5, 2.0])),
                                        output_signature=tf.TensorSpec((), tf.int32)))
    assert type(seen[0]) is np.int32 and seen[0] == 3
    assert type(seen[1]) is bytes and seen[1] == b"a"
    assert isinstance(seen[2], np.ndarray) and seen[2].tolist() == [1.5, 2.0]


def test_saved_and_file_cached_strings_come_back_as_bytes(tmp_path):
    ds = tf.data.Dataset.range(2).map(lambda x: {"v": x, "s": tf.strings.as_string(x)})
    ds.save(str(tmp_path / "saved"))
    loaded = [e["s"].numpy() for e in tf.data.Dataset.load(str(tmp_path / "saved"))]
    assert loaded == [b"0", b"1"] and all(type(v) is bytes for v in loaded)
    cached = tf.data.Dataset.range(2).map(tf.strings.as_string).cache(
        os.fspath(tmp_path / "cache"))
    list(cached)
    assert [type(v.numpy()) for v in cached] == [bytes, bytes]


def test_image_layers_cast_to_compute_dtype_inside_dataset_map():
    from tensorflux import keras

    images = np.arange(2 * 8 * 8 * 3).reshape(2, 8, 8, 3).astype("uint8")
    resize = keras.layers.Resizing(4, 4)
    assert resize(images).dtype == tf.uint8  # eagerly Keras keeps integer images
    ds = tf.data.Dataset.from_tensor_slices(images).map(resize)
    assert ds.element_spec.dtype == tf.float32
    # 2x downsampling with half-pixel centres averages each 2x2 block, unrounded
    blocks = images.astype(np.float64).reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose([x.numpy() for x in ds], blocks, rtol=1e-6)
    flip = keras.layers.RandomFlip()
    pairs = tf.data.Dataset.from_tensor_slices(
        {"images": images, "labels": np.zeros(2, "int32")}).map(flip)
    assert pairs.element_spec["images"].dtype == tf.float32
    assert pairs.element_spec["labels"].dtype == tf.float32


def test_lookup_one_hot_of_a_scalar_is_a_batch_of_one():
    from tensorflux import keras

    ints = keras.layers.IntegerLookup(vocabulary=[10, 20], output_mode="one_hot")
    np.testing.assert_array_equal(ints(np.array(10)).numpy(), [[0, 1, 0]])
    assert ints(np.array([10, 20])).shape == (2, 3)
    assert ints(np.array([[10], [20]])).shape == (2, 3)
    strings = keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    ds = tf.data.Dataset.from_tensor_slices(["a", "z"]).map(strings)
    assert ds.element_spec.shape.as_list() == [1, 3]
    assert [x.numpy().tolist() for x in ds] == [[[0, 1, 0]], [[1, 0, 0]]]
    multi = keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="multi_hot")
    assert multi(tf.constant("a")).shape == (3,)


def test_map_functions_read_loop_variables_as_of_the_map_call(tmp_path):
    """TF's "Load text" tutorial labels each file's lines with `lambda ex: labeler(ex, i)` in
    a loop; TF traces at map() time, so each dataset keeps its own i."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(f"{name}1\n{name}2\n")

    def labeled(files):
        parts = []
        for i, name in enumerate(files):
            parts.append(tf.data.TextLineDataset(str(tmp_path / name)).map(
                lambda ex: (ex, tf.cast(i, tf.int64))))  # noqa: B023 - the point
        return parts[0].concatenate(parts[1])

    assert [int(y) for _, y in labeled(["a.txt", "b.txt"])] == [0, 0, 1, 1]
    # the same at a notebook's top level, where i is a global
    namespace = {"tf": tf, "root": str(tmp_path)}
    exec("parts = []\n"
         "for i, name in enumerate(['a.txt', 'b.txt']):\n"
         "    parts.append(tf.data.TextLineDataset(root + '/' + name)"
         ".map(lambda ex: (ex, i)).filter(lambda ex, y: y == i))\n"
         "labels = [int(y) for _, y in parts[0].concatenate(parts[1])]\n", namespace)
    assert namespace["labels"] == [0, 0, 1, 1]


def test_read_file_of_a_directory_says_so(tmp_path):
    with pytest.raises(tf.errors.FailedPreconditionError, match="Is a directory"):
        tf.io.read_file(str(tmp_path))
    with pytest.raises(tf.errors.NotFoundError, match="No such file"):
        tf.io.read_file(str(tmp_path / "missing"))


def test_text_dataset_spec_is_traced_without_reading_files(tmp_path):
    import threading

    _text_tree(tmp_path)
    before = set(threading.enumerate())
    ds = dataset_utils.text_dataset_from_directory(tmp_path, max_length=1, verbose=False)
    assert ds.element_spec[0].dtype == tf.string
    assert not [t for t in set(threading.enumerate()) - before
                if t.name.startswith("tensorflux")]  # no first-element pass was started
    texts = sorted(t for batch, _ in ds for t in batch.numpy().tolist())
    assert texts == [b"a"] * 4 + [b"b"] * 4
