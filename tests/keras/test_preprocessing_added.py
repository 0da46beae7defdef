"""keras.preprocessing, keras.utils image helpers, Sequence, get_source_inputs and
timeseries_dataset_from_array; real Keras 3 is the oracle where it runs without TensorFlow,
a NumPy transcription of the documented windows where it does not."""

import subprocess
import sys

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

PIL = pytest.importorskip("PIL.Image", reason="the image helpers need Pillow")


def _image(shape=(5, 7, 3), seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype("float32")


def test_preprocessing_module_loads_lazily_and_exposes_keras_names():
    code = ("import sys; from tensorflux import keras; "
            "assert 'tensorflux.keras.preprocessing' not in sys.modules; "
            "from tensorflux.keras.preprocessing.sequence import pad_sequences; "
            "from tensorflux.keras.preprocessing.image import img_to_array, smart_resize; "
            "package = sys.modules['tensorflux.keras.preprocessing']; "
            "print([sorted(n for n in dir(m) if not n.startswith('_')) "
            "for m in (package, keras.preprocessing)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    keras3 = ["image", "image_dataset_from_directory", "sequence", "text_dataset_from_directory",
              "timeseries_dataset_from_array"]
    # The package holds Keras 3's names; `keras`, TF's tf.keras namespace, adds TF's `text`.
    assert eval(out) == [keras3, sorted([*keras3, "text"])]  # noqa: S307
    assert keras.preprocessing.sequence.pad_sequences is keras.utils.pad_sequences


@pytest.mark.keras_oracle
def test_preprocessing_and_utils_names_cover_keras():
    k = import_keras()
    for module in ("image", "sequence"):
        theirs = {n for n in dir(getattr(k.preprocessing, module)) if not n.startswith("_")}
        ours = {n for n in dir(getattr(keras.preprocessing, module)) if not n.startswith("_")}
        assert theirs <= ours
    added = {"Sequence", "array_to_img", "get_source_inputs", "img_to_array",
             "is_keras_tensor", "load_img", "save_img", "standardize_dtype",
             "timeseries_dataset_from_array"}
    assert added <= {n for n in dir(k.utils)}
    assert all(hasattr(keras.utils, name) for name in added)
    assert keras.utils.Sequence is keras.utils.PyDataset


@pytest.mark.keras_oracle
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_img_to_array_matches_keras(mode, data_format):
    k = import_keras()
    channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
    pixels = _image((5, 7, channels)).astype("uint8")
    img = PIL.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
    ours = keras.utils.img_to_array(img, data_format=data_format)
    theirs = k.utils.img_to_array(img, data_format=data_format)
    assert ours.dtype == theirs.dtype and isinstance(ours, np.ndarray)
    np.testing.assert_array_equal(ours, theirs)
    assert keras.utils.img_to_array(img, dtype="uint8").dtype == np.uint8


@pytest.mark.keras_oracle
@pytest.mark.parametrize("channels,scale", [(3, True), (4, False), (1, True), (1, False)])
def test_array_to_img_matches_keras(channels, scale):
    k = import_keras()
    x = _image((4, 6, channels), seed=channels)
    if channels == 1 and not scale:
        x = x * 4.0  # above 255: a 32-bit integer ("I") image
    ours = keras.utils.array_to_img(x, scale=scale)
    theirs = k.utils.array_to_img(x, scale=scale)
    assert ours.mode == theirs.mode and ours.size == theirs.size
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [{}, {"color_mode": "grayscale"}, {"color_mode": "rgba"},
                                    {"target_size": (3, 4)},
                                    {"target_size": (4, 2), "interpolation": "bilinear",
                                     "keep_aspect_ratio": True}])
def test_save_img_and_load_img_match_keras(tmp_path, kwargs):
    k = import_keras()
    path = tmp_path / "picture.png"
    keras.utils.save_img(str(path), _image((6, 9, 3)))
    ours = keras.utils.load_img(path, **kwargs)
    theirs = k.utils.load_img(path, **kwargs)
    assert ours.mode == theirs.mode and ours.size == theirs.size
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    jpeg = tmp_path / "picture.jpg"
    with pytest.warns(UserWarning, match="RGBA"):
        keras.utils.save_img(str(jpeg), _image((6, 9, 4)))
    assert keras.utils.load_img(str(jpeg)).mode == "RGB"


@pytest.mark.keras_oracle
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (raised inside Keras)
@pytest.mark.parametrize("shape,size", [((7, 9, 3), (4, 4)), ((2, 6, 5, 1), (3, 8))])
def test_smart_resize_matches_keras(shape, size):
    k = import_keras()
    x = _image(shape)
    ours = keras.preprocessing.image.smart_resize(x, size)
    assert isinstance(ours, np.ndarray)
    assert_matches(ours, k.preprocessing.image.smart_resize(x, size), rtol=1e-4, atol=1e-3)


def test_image_helpers_without_pillow_name_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        keras.utils.array_to_img(_image())
    with pytest.raises(ImportError, match="pip install pillow"):
        keras.utils.load_img("missing.png")


def _windows_reference(data, targets, length, stride, rate, start, end):
    """The documented windows: start offsets 0, stride, ...; rows p, p + rate, ... of
    data[start:end]; target targets[start + p]."""
    end = len(data) if end is None else end
    count = end - start - (length - 1) * rate
    if targets is not None:
        count = min(count, len(targets))
    positions = range(0, count, stride)
    x = np.stack([data[start:end][p:p + length * rate:rate] for p in positions])
    y = None if targets is None else np.asarray(targets)[start:end][list(positions)]
    return x, y


@pytest.mark.parametrize("kwargs", [
    {"sequence_length": 3},
    {"sequence_length": 4, "sampling_rate": 2, "sequence_stride": 3, "start_index": 1},
    {"sequence_length": 5, "end_index": 15, "start_index": 2, "sequence_stride": 2},
])
@pytest.mark.parametrize("with_targets", [True, False])
def test_timeseries_dataset_from_array_gives_the_documented_windows(kwargs, with_targets):
    data = np.arange(40, dtype="float64").reshape(20, 2)
    targets = np.arange(20) * 10 if with_targets else None
    dataset = keras.utils.timeseries_dataset_from_array(data, targets, batch_size=4, **kwargs)
    xs, ys = [], []
    for batch in dataset:
        if with_targets:
            x, y = batch
            ys.append(y.numpy())
        else:
            x = batch
        assert x.shape[0] <= 4
        xs.append(x.numpy())
    expected_x, expected_y = _windows_reference(
        data, targets, kwargs["sequence_length"], kwargs.get("sequence_stride", 1),
        kwargs.get("sampling_rate", 1), kwargs.get("start_index", 0), kwargs.get("end_index"))
    np.testing.assert_array_equal(np.concatenate(xs), expected_x)
    assert np.concatenate(xs).dtype == np.float64
    if with_targets:
        np.testing.assert_array_equal(np.concatenate(ys), expected_y)


def test_timeseries_dataset_docstring_example_and_shuffle():
    # Keras's docstring: sequences of 10 from range(100), targets offset by 10.
    data = np.arange(100)
    dataset = keras.utils.timeseries_dataset_from_array(data[:-10], data[10:],
                                                        sequence_length=10)
    for x, y in dataset:
        assert np.array_equal(x[0].numpy(), np.arange(10)) and int(y[0]) == 10
        break
    shuffled = keras.utils.timeseries_dataset_from_array(data, None, sequence_length=5,
                                                         shuffle=True, seed=3, batch_size=None)
    starts = sorted(int(x[0]) for x in shuffled)
    assert starts == list(range(96))
    with pytest.raises(ValueError, match="sampling_rate"):
        keras.utils.timeseries_dataset_from_array(data, None, 5, sampling_rate=0)


def test_get_source_inputs_and_is_keras_tensor():
    a = keras.Input(shape=(3,))
    b = keras.Input(shape=(3,))
    out = keras.layers.Dense(2)(keras.layers.Add()([a, b]))
    sources = keras.utils.get_source_inputs(out)
    assert len(sources) == 2 and sources[0] is a and sources[1] is b
    assert keras.utils.is_keras_tensor(out) and not keras.utils.is_keras_tensor(np.ones(2))
    assert keras.utils.standardize_dtype("float") == "float32"
