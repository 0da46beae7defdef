"""A model file's config cannot make loading allocate unbounded memory: while a `.keras` or
legacy `.h5` file loads, the variables its config builds share a budget of the bytes its
weights hold (plus LoadBudget.SLACK). Hostile configs (tiny files asking for gigabytes) fail
with a ValueError before allocating; legitimate files, including real Keras's, load.
Keras 3.15 itself allocates here (its loader has no budget); sizes below come from the shapes
(4 bytes per float32 item), not from our output."""

import json
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py", reason="saving needs the h5 extra (pip install h5py)")

from tensorflux import keras  # noqa: E402
from tensorflux.keras.engine import load_budget  # noqa: E402
from tensorflux.keras.engine.load_budget import LoadBudget  # noqa: E402


def _edited(path, out, edit=None, weights=None):
    """A copy of the .keras file `path` with config.json changed by `edit` (in place) and,
    when given, another model.weights.h5."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    if edit is not None:
        edit(config)
    members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def _refused_quickly(path, match):
    """Loads `path` expecting the budget's ValueError; the load must stay small and fast."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=match) as error:
            keras.models.load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"loading {path} peaked at {peak} bytes"
    assert time.perf_counter() - start < 5
    assert load_budget._current.budget is None  # the scope is closed after the failure
    return str(error.value)


def _layers(config):
    return config["config"]["layers"]


def _set_input(config, shape, layer=1):
    _layers(config)[0]["config"]["batch_shape"] = shape
    _layers(config)[layer]["build_config"] = {"input_shape": shape}


def _dense_file(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    model.set_weights([np.arange(6, dtype="float32").reshape(3, 2), np.ones(2, "float32")])
    path = tmp_path / "good.keras"
    model.save(path)
    return model, path


# ---------------------------------------------------------------- hostile configs
def test_huge_dense_units_are_refused_before_allocating(tmp_path):
    _, path = _dense_file(tmp_path)
    hostile = _edited(path, tmp_path / "units.keras",
                      lambda c: _layers(c)[1]["config"].update(units=10**8))
    message = _refused_quickly(hostile, "Refusing to load")
    # Names the variable, its layer, shape and bytes (3 * 10**8 float32), and the budget.
    assert "'kernel' of Dense 'd' with shape (3, 100000000) (float32, 1200000000 bytes)" \
        in message
    assert f"past the {32 + LoadBudget.SLACK} bytes its file allows (32 bytes of stored " \
        "weights" in message
    # 10**13 units used to fail only by luck (NumPy's MemoryError): now the same ValueError.
    hostile = _edited(path, tmp_path / "units13.keras",
                      lambda c: _layers(c)[1]["config"].update(units=10**13))
    _refused_quickly(hostile, r"with shape \(3, 10000000000000\)")


def _single_layer_file(tmp_path, name, input_layer, layer):
    model = keras.Sequential([input_layer, layer])
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("case", ["embedding", "conv", "input_shape", "normalization",
                                  "batch_norm", "stateful_rnn"])
def test_config_driven_shapes_are_refused(tmp_path, case):
    if case == "embedding":
        path = _single_layer_file(tmp_path, case, keras.Input((4,), dtype="int32"),
                                  keras.layers.Embedding(10, 3, name="e"))
        edit = lambda c: _layers(c)[1]["config"].update(input_dim=10**9)  # noqa: E731
        match = r"'embeddings' of Embedding 'e' with shape \(1000000000, 3\)"
    elif case == "conv":
        path = _single_layer_file(tmp_path, case, keras.Input((8, 8, 3)),
                                  keras.layers.Conv2D(2, 3, name="c"))
        edit = lambda c: _layers(c)[1]["config"].update(filters=10**8)  # noqa: E731
        match = r"'kernel' of Conv2D 'c' with shape \(3, 3, 3, 100000000\)"
    elif case == "input_shape":
        path = _single_layer_file(tmp_path, case, keras.Input((3,)),
                                  keras.layers.Dense(2, name="d"))
        edit = lambda c: _set_input(c, [None, 10**8])  # noqa: E731
        match = r"'kernel' of Dense 'd' with shape \(100000000, 2\)"
    elif case == "normalization":
        path = _single_layer_file(tmp_path, case, keras.Input((5,)),
                                  keras.layers.Normalization(name="n"))
        edit = lambda c: _set_input(c, [None, 10**9])  # noqa: E731
        match = r"'mean' of Normalization 'n' with shape \(1000000000,\)"
    elif case == "batch_norm":
        path = _single_layer_file(tmp_path, case, keras.Input((5,)),
                                  keras.layers.BatchNormalization(name="bn"))
        edit = lambda c: _set_input(c, [None, 10**9])  # noqa: E731
        match = r"'gamma' of BatchNormalization 'bn' with shape \(1000000000,\)"
    else:  # a stateful RNN's states are not stored, but its batch size comes from the file
        path = _single_layer_file(tmp_path, case, keras.Input(batch_shape=(2, 3, 4)),
                                  keras.layers.LSTM(3, stateful=True, name="r"))
        edit = lambda c: _set_input(c, [10**8, 3, 4])  # noqa: E731
        match = r"'rnn_state' of LSTM 'r' with shape \(100000000, 3\)"
    _refused_quickly(_edited(path, tmp_path / "hostile.keras", edit), match)


def test_multi_head_attention_key_dim_is_refused(tmp_path):
    x = keras.Input((4, 8))
    model = keras.Model(x, keras.layers.MultiHeadAttention(2, 4, name="mha")(x, x))
    path = tmp_path / "mha.keras"
    model.save(path)

    def edit(config):
        layer = next(layer for layer in _layers(config) if layer["class_name"] ==
                     "MultiHeadAttention")
        layer["config"]["key_dim"] = 10**8

    _refused_quickly(_edited(path, tmp_path / "hostile.keras", edit),
                     r"'kernel' of EinsumDense 'query' with shape \(8, 2, 100000000\)")


def test_compiled_metrics_in_the_config_are_budgeted(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=[keras.metrics.MeanIoU(num_classes=3, name="iou")])
    path = tmp_path / "iou.keras"
    model.save(path)
    hostile = _edited(path, tmp_path / "hostile.keras", lambda c: c["compile_config"][
        "metrics"][0]["config"].update(num_classes=10**5))
    _refused_quickly(hostile, r"'total_confusion_matrix' of MeanIoU 'iou' with shape "
                     r"\(100000, 100000\)")


def test_legacy_h5_configs_are_budgeted(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    path = tmp_path / "model.h5"
    model.save(path)
    with h5py.File(path, "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        _layers(config)[1]["config"]["units"] = 10**8
        handle.attrs["model_config"] = json.dumps(config)
    _refused_quickly(path, r"'kernel' of Dense 'd' with shape \(3, 100000000\)")


def test_datasets_declared_but_not_stored_do_not_raise_the_budget(tmp_path):
    # The weights file declares the hostile shapes itself, as chunked datasets with no data:
    # they count only up to 1000 times the bytes stored, so the budget stays small.
    _, path = _dense_file(tmp_path)
    weights = tmp_path / "declared.weights.h5"
    with h5py.File(weights, "w") as handle:
        group = handle.create_group("layers/dense/vars")
        group.create_dataset("0", shape=(3, 10**8), dtype="float32", chunks=(1, 1 << 20))
        group.create_dataset("1", shape=(10**8,), dtype="float32", chunks=(1 << 20,))
    hostile = _edited(path, tmp_path / "declared.keras",
                      lambda c: _layers(c)[1]["config"].update(units=10**8),
                      weights=weights.read_bytes())
    _refused_quickly(hostile, r"\(0 bytes of stored weights plus")


# ---------------------------------------------------------------- legitimate files
def test_the_budget_is_what_the_file_stores(tmp_path, monkeypatch):
    # With no slack, a model loads exactly when its variables fit the weights its file holds.
    monkeypatch.setattr(LoadBudget, "SLACK", 0)
    model, path = _dense_file(tmp_path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.layers[0].kernel.numpy(),
                                  np.arange(6, dtype="float32").reshape(3, 2))
    bigger = _edited(path, tmp_path / "bigger.keras",
                     lambda c: _layers(c)[1]["config"].update(units=3))
    with pytest.raises(ValueError, match=r"'kernel' of Dense 'd' with shape \(3, 3\) "
                       r"\(float32, 36 bytes\).* past the 32 bytes.*; 0 already used"):
        keras.models.load_model(bigger)
    model.save(tmp_path / "model.h5")
    assert len(keras.models.load_model(tmp_path / "model.h5").weights) == 2


def test_a_model_larger_than_the_slack_loads(tmp_path):
    # 20M float32 parameters (80 MB) are past the slack: the budget grows with the file.
    model = keras.Sequential([keras.Input((1,), dtype="int32"),
                              keras.layers.Embedding(312_500, 64, embeddings_initializer="ones",
                                                     name="e")])
    assert 312_500 * 64 * 4 > LoadBudget.SLACK
    model.save(tmp_path / "big.keras")
    loaded = keras.models.load_model(tmp_path / "big.keras")
    assert loaded.layers[0].embeddings.shape == (312_500, 64)
    assert float(loaded.predict(np.array([[7]]), verbose=0).sum()) == 64.0


def test_model_from_json_and_code_are_not_budgeted(monkeypatch):
    # model_from_json has no weights file to size a budget from, and its use is building
    # fresh models of any size (weights are loaded afterwards); only file loads are budgeted.
    monkeypatch.setattr(LoadBudget, "SLACK", 0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert len(keras.models.model_from_json(model.to_json()).weights) == 2
    assert load_budget._current.budget is None


@pytest.mark.keras_oracle
def test_files_written_by_keras_fit_their_budget(tmp_path, monkeypatch):
    from tests.keras._oracle import assert_matches, import_keras

    real = import_keras()
    monkeypatch.setattr(LoadBudget, "SLACK", 0)
    x = real.Input((6, 4))
    h = real.layers.LSTM(5, return_sequences=True)(x)
    h = real.layers.Dropout(0.3, seed=1)(h)
    h = real.layers.BatchNormalization()(h)
    h = real.layers.MultiHeadAttention(2, 3)(h, h)
    theirs = real.Model(x, real.layers.Dense(3)(real.layers.Flatten()(h)))
    theirs.compile("adam", "mse", metrics=["mae", real.metrics.AUC()])
    data = np.random.RandomState(0).standard_normal((4, 6, 4)).astype("float32")
    theirs.fit(data, np.ones((4, 3), "float32"), verbose=0)
    theirs.save(tmp_path / "keras.keras")
    ours = keras.models.load_model(tmp_path / "keras.keras")
    assert_matches(ours.predict(data, verbose=0), theirs.predict(data, verbose=0),
                   rtol=1e-5, atol=1e-5)
