"""keras.utils helpers (vs real Keras where it can run) and fit/evaluate/predict on Datasets,
generators and PyDatasets."""

import os
import random
import time

import numpy as np
import pytest

from tensorflux import data, keras
from tensorflux.keras import utils
from tests.keras._oracle import fresh_names, import_keras  # noqa: F401


@pytest.fixture
def real_keras():
    return import_keras()


# ------------------------------------------------------------------ arrays

SEQUENCES = [[1, 2, 3, 4], [5], [], [6, 7]]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [
    {},
    {"maxlen": 2},
    {"maxlen": 3, "padding": "post"},
    {"maxlen": 3, "truncating": "post"},
    {"maxlen": 5, "padding": "post", "truncating": "post", "value": -1},
    {"maxlen": 3, "value": 2.7},
    {"dtype": "float64", "value": 0.5},
    {"maxlen": 2, "dtype": "int64"},
])
def test_pad_sequences_matches_keras(real_keras, kwargs):
    ours = utils.pad_sequences(SEQUENCES, **kwargs)
    theirs = real_keras.utils.pad_sequences(SEQUENCES, **kwargs)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.keras_oracle
def test_pad_sequences_of_vectors_and_floats_matches_keras(real_keras):
    sequences = [np.arange(6.0).reshape(3, 2) * 1.5, np.ones((1, 2)) * 0.7]
    for kwargs in ({}, {"maxlen": 2, "dtype": "float32"}, {"dtype": "int32"}):
        ours = utils.pad_sequences(sequences, **kwargs)
        theirs = real_keras.utils.pad_sequences(sequences, **kwargs)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="Padding type"):
        utils.pad_sequences(SEQUENCES, padding="middle")
    with pytest.raises(ValueError, match="Truncating type"):
        utils.pad_sequences(SEQUENCES, truncating="middle")
    with pytest.raises(ValueError, match="non-iterable"):
        utils.pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="dtype=object"):
        utils.pad_sequences(SEQUENCES, value="x")


@pytest.mark.keras_oracle
@pytest.mark.parametrize("labels, num_classes", [
    ([0, 2, 1], None), ([[1], [3]], 5), (np.array([[0, 1], [2, 1]]), 3), ([4], None)])
def test_to_categorical_matches_keras(real_keras, labels, num_classes):
    ours = utils.to_categorical(labels, num_classes)
    theirs = real_keras.utils.to_categorical(labels, num_classes)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


NORMALIZE_INPUT = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])


@pytest.mark.keras_oracle
@pytest.mark.parametrize("axis, order", [(-1, 2), (1, 1), (1, 2)])
def test_normalize_matches_keras(real_keras, axis, order):
    ours = utils.normalize(NORMALIZE_INPUT, axis=axis, order=order)
    theirs = real_keras.utils.normalize(NORMALIZE_INPUT, axis=axis, order=order)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-12)


def test_normalize_along_axis_0():
    # Keras 3's NumPy path turns axis=0 into -1 (`axis or -1`); tf.keras and the math
    # divide each column by its norm, as here.
    norms = np.linalg.norm(NORMALIZE_INPUT, axis=0, keepdims=True)
    np.testing.assert_allclose(utils.normalize(NORMALIZE_INPUT, axis=0),
                               NORMALIZE_INPUT / norms, rtol=1e-12)


def test_split_dataset_sizes_and_shuffle():
    x, y = np.arange(10), np.arange(10) * 10
    left, right = utils.split_dataset((x, y), left_size=0.8)
    assert (len(left), len(right)) == (8, 2)
    left_x = [int(a) for a, _ in left]
    assert left_x == list(range(8)) and [int(a) for a, _ in right] == [8, 9]
    left, right = utils.split_dataset(x, right_size=3, shuffle=True, seed=7)
    order = list(range(10))
    random.Random(7).shuffle(order)  # Keras shuffles with Python's random and the seed
    assert [int(v) for v in left] == order[:7] and [int(v) for v in right] == order[7:]
    batched = data.Dataset.from_tensor_slices(x).batch(4)
    left, right = utils.split_dataset(batched, left_size=6)
    assert [b.shape[0] for b in left] == [4, 2] and len(list(right.unbatch())) == 4
    with pytest.raises(ValueError, match="At least one"):
        utils.split_dataset(x)
    with pytest.raises(ValueError, match="left_size"):
        utils.split_dataset(x, left_size=1.5)


# ------------------------------------------------------------------ plot_model

def _small_functional():
    inputs = keras.Input((3,), name="features")
    a = keras.layers.Dense(4, name="left")(inputs)
    b = keras.layers.Dense(4, name="right")(inputs)
    return keras.Model(inputs, keras.layers.Add(name="sum")([a, b]))


def test_model_to_dot_text_and_plot_model(tmp_path, monkeypatch):
    model = _small_functional()
    text = utils.model_to_dot(model, show_shapes=True).to_string()
    assert text.startswith("digraph")
    for name in ("features", "left (Dense)", "right (Dense)", "sum (Add)", "(None, 4)"):
        assert name in text
    assert text.count("->") == 4
    target = tmp_path / "model.dot"
    utils.plot_model(model, to_file=str(target), show_layer_names=True)
    assert "left (Dense)" in target.read_text()
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ImportError, match="graphviz"):
        utils.plot_model(model, to_file=str(tmp_path / "model.png"))


# ------------------------------------------------------------------ fit on pipelines

def _data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(40, 4)).astype("float32"),
            rng.normal(size=(40, 1)).astype("float32"))


def _model():
    utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model


class _Batches(utils.PyDataset):
    def __init__(self, x, y, batch_size, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size, self.delay = x, y, batch_size, delay

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        # Later batches finish first, so an unordered pool would be caught.
        time.sleep(self.delay * (len(self) - index))
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]


def test_fit_on_a_dataset_equals_fit_on_arrays():
    x, y = _data()
    expected = _model().fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    dataset = data.Dataset.from_tensor_slices((x, y)).batch(8).prefetch(data.AUTOTUNE)
    model = _model()
    history = model.fit(dataset, epochs=3, verbose=0).history
    assert history == expected
    arrays_model = _model()
    arrays_model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert model.evaluate(dataset, verbose=0) == arrays_model.evaluate(x, y, batch_size=8,
                                                                       verbose=0)
    np.testing.assert_array_equal(model.predict(dataset, verbose=0),
                                  arrays_model.predict(x, batch_size=8, verbose=0))
    mapped = data.Dataset.from_tensor_slices(x).map(lambda v: (v, v[:1])).batch(8)
    assert len(_model().fit(mapped, epochs=1, verbose=0).history["loss"]) == 1


def test_fit_on_generators_and_py_datasets_equals_fit_on_arrays():
    x, y = _data()
    expected = _model().fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history

    def batches():
        for start in range(0, 40, 8):
            yield x[start:start + 8], y[start:start + 8]

    assert _model().fit(batches(), epochs=1, verbose=0, shuffle=False).history == expected
    for kwargs in ({}, {"workers": 3, "max_queue_size": 4}):
        dataset = _Batches(x, y, 8, delay=0.005, **kwargs)
        history = _model().fit(dataset, epochs=1, verbose=0, shuffle=False).history
        assert history == expected, kwargs
    with pytest.raises(NotImplementedError, match="use_multiprocessing"):
        _model().fit(_Batches(x, y, 8, use_multiprocessing=True), verbose=0)


def test_fit_rejects_targets_next_to_a_dataset():
    x, y = _data()
    dataset = data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(ValueError, match="`y` should not be passed"):
        _model().fit(dataset, y, verbose=0)


def test_fit_on_a_repeated_dataset_with_steps_per_epoch():
    x, y = _data()
    dataset = data.Dataset.from_tensor_slices((x, y)).batch(8).repeat()
    history = _model().fit(dataset, steps_per_epoch=3, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2


# ------------------------------------------------------------------ from directories

COLORS = {"cats": (255, 0, 0), "dogs": (0, 0, 255)}


@pytest.fixture
def image_folder(tmp_path):
    image_module = pytest.importorskip("PIL.Image", reason="Pillow decodes the images")
    for name, color in COLORS.items():
        os.makedirs(tmp_path / name)
        for i in range(3):
            image_module.new("RGB", (6 + i, 5), color).save(tmp_path / name / f"{i}.png")
    (tmp_path / "cats" / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_dataset_from_directory(image_folder, capsys):
    ds = utils.image_dataset_from_directory(image_folder, image_size=(4, 4), batch_size=4,
                                            seed=1)
    assert "Found 6 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["cats", "dogs"]
    batches = list(ds)
    assert [tuple(b[0].shape) for b in batches] == [(4, 4, 4, 3), (2, 4, 4, 3)]
    for images, labels in batches:
        assert images.dtype.name == "float32" and labels.dtype.name == "int32"
        for image, label in zip(images.numpy(), labels.numpy()):
            expected = COLORS[ds.class_names[label]]
            np.testing.assert_array_equal(image, np.broadcast_to(expected, (4, 4, 3)))
    again = utils.image_dataset_from_directory(image_folder, image_size=(4, 4), batch_size=4,
                                               seed=1, verbose=False)
    assert [b[1].numpy().tolist() for b in again] == [b[1].numpy().tolist() for b in batches]


def test_image_dataset_label_modes_and_validation_split(image_folder):
    common = {"image_size": (3, 3), "batch_size": None, "verbose": False}
    categorical = utils.image_dataset_from_directory(image_folder, label_mode="categorical",
                                                     shuffle=False, **common)
    assert [lab.numpy().tolist() for _, lab in categorical] == [[1.0, 0.0]] * 3 + [
        [0.0, 1.0]] * 3
    binary = utils.image_dataset_from_directory(image_folder, label_mode="binary",
                                                shuffle=False, color_mode="grayscale",
                                                **common)
    image, label = next(iter(binary))
    assert tuple(image.shape) == (3, 3, 1) and label.numpy().tolist() == [0.0]
    only_images = utils.image_dataset_from_directory(image_folder, label_mode=None,
                                                     shuffle=False, **common)
    assert tuple(next(iter(only_images)).shape) == (3, 3, 3)
    train, val = utils.image_dataset_from_directory(image_folder, validation_split=0.34,
                                                    subset="both", seed=5, **common)
    assert (len(train.file_paths), len(val.file_paths)) == (4, 2)
    assert not set(train.file_paths) & set(val.file_paths)
    with pytest.raises(ValueError, match="seed"):
        utils.image_dataset_from_directory(image_folder, validation_split=0.5,
                                           subset="training", **common)


def test_text_dataset_from_directory(tmp_path):
    for name, texts in {"neg": ["bad", "awful film"], "pos": ["great fun"]}.items():
        os.makedirs(tmp_path / name)
        for i, text in enumerate(texts):
            (tmp_path / name / f"{i}.txt").write_text(text)
    ds = utils.text_dataset_from_directory(tmp_path, batch_size=8, shuffle=False,
                                           max_length=5, verbose=False)
    texts, labels = next(iter(ds))
    assert texts.numpy().tolist() == [b"bad", b"awful", b"great"]
    assert labels.numpy().tolist() == [0, 0, 1] and ds.class_names == ["neg", "pos"]
