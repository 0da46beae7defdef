"""Model files: `.keras`, `.weights.h5` and legacy `.h5` round trips (predictions and the
continuation of training), interop with real Keras 3 (the oracle writes and reads the files),
hostile files (each refused with a clear error and no side effect), atomic saves and a small
fuzz of the loaders."""

import json
import os
import sys
import zipfile

import numpy as np
import pytest

h5py = pytest.importorskip("h5py", reason="saving needs the h5 extra (pip install h5py)")

from tensorflux import keras  # noqa: E402
from tensorflux.keras.saving import legacy_h5, saving_lib  # noqa: E402
from tensorflux.keras.saving._h5 import CorruptFileError  # noqa: E402


def _data(n=24, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    return x, np.tanh(x @ rng.normal(size=(features, 1))).astype("float32")


def _sequential(name="seq"):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu"),
                              keras.layers.BatchNormalization(),
                              keras.layers.Dense(1)], name=name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse",
                  metrics=["mae"])
    return model


def _functional():
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    shared = keras.layers.Dense(3, activation="tanh", name="shared")
    x = keras.layers.Concatenate(name="cat")([shared(a), shared(b)])
    x = keras.layers.Dense(4, activation="relu", name="hidden")(x)
    out = keras.layers.Dense(1, name="out")(keras.layers.Add(name="add")([x, x]))
    model = keras.Model([a, b], out, name="func")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.01, momentum=0.5),
                  loss="mse")
    return model


@keras.saving.register_keras_serializable(package="test_saving")
class TwoTower(keras.Model):
    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.blocks = [keras.layers.Dense(2), keras.layers.Dense(2)]
        self.out = keras.layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x)) + self.blocks[1](self.blocks[0](x))[:, :1]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _subclassed():
    model = TwoTower(units=3, name="towers")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss="mse")
    return model


def _inputs(model, x):
    return [x, x[::-1].copy()] if len(getattr(model, "inputs", [0])) == 2 else x


def _assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        np.testing.assert_array_equal(u, v)


def _fit(model, x, y, epochs):
    return model.fit(_inputs(model, x), y, epochs=epochs, batch_size=8, shuffle=False,
                     verbose=0).history["loss"]


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("make", [_sequential, _functional, _subclassed])
def test_keras_round_trip_predicts_and_trains_identically(make, tmp_path):
    x, y = _data()
    model = make()
    _fit(model, x, y, 2)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(_inputs(model, x), verbose=0),
                                  model.predict(_inputs(model, x), verbose=0))
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 6
    # The optimizer state (iterations, learning rate, slots) came back: two more epochs
    # give the same numbers as a model that was never saved.
    assert _fit(loaded, x, y, 2) == _fit(model, x, y, 2)
    _assert_same_weights(loaded, model)


@pytest.mark.parametrize("make", [_sequential, _functional, _subclassed])
def test_weights_h5_round_trip_with_optimizer_state(make, tmp_path):
    x, y = _data()
    model = make()
    _fit(model, x, y, 1)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    other = make()
    other(_inputs(other, x[:2]))
    other.optimizer.build(other.trainable_variables)
    other.load_weights(path)
    _assert_same_weights(other, model)
    assert _fit(other, x, y, 2) == _fit(model, x, y, 2)


def test_legacy_h5_round_trip(tmp_path):
    x, y = _data()
    model = _sequential()
    _fit(model, x, y, 2)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as f:
        assert json.loads(f.attrs["model_config"])["class_name"] == "Sequential"
        assert [n.decode() if isinstance(n, bytes) else n
                for n in f["model_weights"].attrs["layer_names"]] == \
            [layer.name for layer in model.layers]
    saved = [w.copy() for w in model.get_weights()]
    loaded = keras.models.load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert _fit(loaded, x, y, 1) == _fit(model, x, y, 1)
    # load_weights of a legacy file: positional, and by layer name.
    fresh = _sequential()
    fresh.load_weights(tmp_path / "m.h5")
    for a, b in zip(fresh.get_weights(), saved):
        np.testing.assert_array_equal(a, b)
    renamed = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, name="nope"),
                                keras.layers.BatchNormalization(name=model.layers[1].name),
                                keras.layers.Dense(1, name=model.layers[2].name)])
    renamed.load_weights(tmp_path / "m.h5", by_name=True)
    np.testing.assert_array_equal(renamed.layers[2].get_weights()[0], saved[-2])
    assert not np.array_equal(renamed.layers[0].get_weights()[0], saved[0])


def test_weights_layout_follows_keras_walk():
    x, _ = _data()
    model = _subclassed()
    model(x[:2])
    # Keras 3 walks `sorted(dir(model))` (public names first): `blocks` before `hidden`
    # before `layers` before `optimizer` before `out`, and container members are named by
    # class with per-container counters that also count members already saved: `out` is
    # the 4th Dense of `model.layers` (hidden, blocks[0], blocks[1], out).
    paths = [p for p, _ in saving_lib.walk_saveables(model)]
    assert paths == ["", "blocks/dense", "blocks/dense_1", "hidden", "layers/dense_3",
                     "optimizer"]
    seq = _sequential()
    assert [p for p, _ in saving_lib.walk_saveables(seq)] == [
        "", "layers/dense", "layers/batch_normalization", "layers/dense_1", "optimizer"]
    func = _functional()
    assert [p for p, _ in saving_lib.walk_saveables(func)][:3] == [
        "", "layers/input_layer", "layers/input_layer_1"]


def test_keras_zip_members_and_config(tmp_path):
    model = _functional()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["metadata.json", "config.json",
                                               "model.weights.h5"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json"))
    assert set(metadata) == {"keras_version", "date_saved"}
    assert (config["module"], config["class_name"], config["registered_name"]) == \
        ("keras.src.models.functional", "Functional", "Functional")
    assert config["compile_config"]["optimizer"]["class_name"] == "RMSprop"
    assert config["config"]["output_layers"] == ["out", 0, 0]


def test_load_model_compile_false_and_custom_objects(tmp_path):
    model = _sequential()
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert not loaded.compiled
    assert keras.saving.load_model(tmp_path / "m.keras").compiled


class Unregistered(keras.layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.scale


def test_unregistered_classes_need_custom_objects(tmp_path):
    x, _ = _data()
    model = keras.Sequential([keras.Input((4,)), Unregistered(), keras.layers.Dense(1)])
    model.layers[0].scale.assign(np.arange(4, dtype="float32"))
    model.save(tmp_path / "c.keras")
    # The config names this test module; it is never imported from the file.
    with pytest.raises(TypeError, match="Could not locate class 'Unregistered'"):
        keras.models.load_model(tmp_path / "c.keras")
    loaded = keras.models.load_model(tmp_path / "c.keras",
                                     custom_objects={"Unregistered": Unregistered})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_missing_h5py_says_how_to_install(tmp_path, monkeypatch):
    model = _sequential()
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"install tensorflux\[h5\]"):
        model.save(tmp_path / "m.keras")
    assert not os.listdir(tmp_path)


def test_save_rejects_bad_suffixes(tmp_path):
    model = _sequential()
    with pytest.raises(ValueError, match="extension"):
        model.save(tmp_path / "m.pkl")
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        model.save_weights(tmp_path / "w.ckpt")
    with pytest.raises(ValueError, match="not supported"):
        keras.models.load_model(tmp_path / "m.pb")


def test_model_checkpoint_and_backup_with_real_files(tmp_path):
    x, y = _data()
    model = _sequential()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[
        keras.callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}.keras")),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}.weights.h5"),
                                        save_weights_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["m-1.keras", "m-2.keras", "w-1.weights.h5",
                                            "w-2.weights.h5"]
    np.testing.assert_array_equal(
        keras.models.load_model(tmp_path / "m-2.keras").predict(x, verbose=0),
        model.predict(x, verbose=0))


# ---------------------------------------------------------------- hostile files
def _write_keras(path, config, weights_source=None, extra=()):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(config))
        if weights_source is not None:
            archive.write(weights_source, "model.weights.h5")
        for name, data in extra:
            archive.writestr(name, data)


def _valid_keras(tmp_path):
    model = _sequential()
    path = tmp_path / "valid.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        (tmp_path / "valid.weights.h5").write_bytes(archive.read("model.weights.h5"))
    return config, tmp_path / "valid.weights.h5"


@pytest.mark.parametrize("bad", [
    {"module": "os", "class_name": "system", "config": {"command": "echo pwned"},
     "registered_name": None},
    {"module": "tfx_hostile_module_that_must_not_be_imported", "class_name": "Evil",
     "config": {}, "registered_name": None},
    {"module": "keras.layers", "class_name": "Dense",
     "config": {"units": 1, "activation": {"module": "builtins", "class_name": "function",
                                           "config": "eval", "registered_name": "eval"}},
     "registered_name": None},
    {"module": "subprocess", "class_name": "function", "config": "getoutput",
     "registered_name": "getoutput"},
])
def test_hostile_configs_are_refused(bad, tmp_path):
    _, weights = _valid_keras(tmp_path)
    path = tmp_path / "evil.keras"
    _write_keras(path, bad, weights)
    before = set(sys.modules)
    with pytest.raises((TypeError, ValueError), match="Could not locate|Could not interpret"):
        keras.models.load_model(path)
    assert "tfx_hostile_module_that_must_not_be_imported" not in sys.modules
    assert not (set(sys.modules) - before) & {"subprocess_evil"}


def test_lambda_needs_safe_mode_false(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: t * 2.0)])
    model.save(tmp_path / "lam.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        keras.models.load_model(tmp_path / "lam.keras")
    # safe_mode=False reaches the Lambda loader (which has no bytecode to run here).
    with pytest.raises((ValueError, NotImplementedError)) as info:
        keras.models.load_model(tmp_path / "lam.keras", safe_mode=False)
    assert "safe_mode=False` to the loading" not in str(info.value)


def test_zip_member_with_parent_path_is_refused(tmp_path):
    config, weights = _valid_keras(tmp_path)
    for name in ("../evil.txt", "/abs/evil.txt", "assets/..\\evil.txt"):
        path = tmp_path / "evil.keras"
        _write_keras(path, config, weights, extra=[(name, b"x")])
        with pytest.raises(CorruptFileError, match="unsafe archive member"):
            keras.models.load_model(path)
    assert not (tmp_path.parent / "evil.txt").exists()


def _target_model(tmp_path):
    """A model and a valid .weights.h5 for it (with different weights than the model)."""
    x, y = _data()
    source = _sequential()
    _fit(source, x, y, 1)
    path = tmp_path / "good.weights.h5"
    source.save_weights(path)
    target = _sequential()
    target(x[:2])
    return target, path, [w.copy() for w in target.get_weights()]


def _rewrite(path, edit):
    with h5py.File(path, "a") as f:
        edit(f)


@pytest.mark.parametrize("kind", ["external_link", "soft_link", "external_storage",
                                  "virtual", "shape_bomb", "wrong_shape", "text_dtype"])
def test_hostile_weights_files_are_refused_without_side_effect(kind, tmp_path):
    target, path, before = _target_model(tmp_path)
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f.create_dataset("vars/0", data=np.ones((4, 5), "float32"))
        f.create_dataset("raw", data=np.ones((3,), "float32"))
    raw_file = tmp_path / "raw.bin"
    raw_file.write_bytes(np.ones((5,), "float32").tobytes())

    def edit(f):
        group = f["layers/dense/vars"]
        if kind == "external_link":
            del f["layers/dense/vars"]
            f["layers/dense/vars"] = h5py.ExternalLink(str(secret), "/vars")
        elif kind == "soft_link":
            del group["0"]
            group["0"] = h5py.SoftLink("/layers/dense_1/vars/0")
        elif kind == "external_storage":
            del group["1"]
            group.create_dataset("1", shape=(5,), dtype="float32",
                                 external=[(str(raw_file), 0, 20)])
        elif kind == "virtual":
            del group["1"]
            layout = h5py.VirtualLayout(shape=(5,), dtype="float32")
            layout[:3] = h5py.VirtualSource(str(secret), "raw", shape=(3,))
            group.create_virtual_dataset("1", layout)
        elif kind == "shape_bomb":
            del group["0"]
            group.create_dataset("0", shape=(10**6, 10**6), dtype="float32", chunks=(1, 1))
        elif kind == "wrong_shape":
            del group["0"]
            group.create_dataset("0", data=np.ones((4, 6), "float32"))
        elif kind == "text_dtype":
            del group["1"]
            group.create_dataset("1", data=np.array([b"a"] * 5))

    _rewrite(path, edit)
    expected = {"external_link": "external link", "soft_link": "soft link",
                "external_storage": "external storage", "virtual": "virtual",
                "shape_bomb": "bytes", "wrong_shape": "expected shape",
                "text_dtype": "not a numeric"}[kind]
    # A weight of the wrong shape is a model mismatch (ValueError), not a damaged file.
    error = ValueError if kind == "wrong_shape" else CorruptFileError
    with pytest.raises(error, match=expected):
        target.load_weights(path)
    for a, b in zip(target.get_weights(), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras", ".h5"])
def test_truncated_files_give_clean_errors(suffix, tmp_path):
    target, _, before = _target_model(tmp_path)
    source = _sequential()
    source(_data()[0][:2])
    path = tmp_path / f"full{suffix}"
    if suffix == ".weights.h5":
        source.save_weights(path)
    else:
        source.save(path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 100, 10):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="truncated|corrupt|not a valid"):
            target.load_weights(path)
        if suffix != ".weights.h5":
            with pytest.raises(ValueError, match="truncated|corrupt|not a valid"):
                keras.models.load_model(path)
    for a, b in zip(target.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_failed_load_leaves_every_weight_unchanged(tmp_path):
    target, path, before = _target_model(tmp_path)
    # The last layer's kernel is wrong; the first layers are valid but must stay untouched.
    _rewrite(path, lambda f: (f["layers/dense_1/vars"].__delitem__("0"),
                              f["layers/dense_1/vars"].create_dataset(
                                  "0", data=np.ones((6, 1), "float32"))))
    with pytest.raises(ValueError,
                       match=r"weight .kernel.*expected shape \(5, 1\), received shape \(6, 1\)"):
        target.load_weights(path)
    for a, b in zip(target.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expected 2 variables"):
        _rewrite(path, lambda f: f["layers/dense_1/vars"].__delitem__("0"))
        target.load_weights(path)


# ---------------------------------------------------------------- atomic saves
@pytest.mark.parametrize("suffix", [".keras", ".weights.h5", ".h5"])
def test_crash_mid_save_leaves_the_old_file(suffix, tmp_path, monkeypatch):
    x, y = _data()
    model = _sequential()
    path = tmp_path / f"m{suffix}"
    save = model.save_weights if suffix == ".weights.h5" else model.save
    save(path)
    old = model.predict(x, verbose=0)
    old_bytes = path.read_bytes()
    _fit(model, x, y, 1)
    calls = {"n": 0}
    original = h5py.Group.create_dataset

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (injected)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="injected"):
        save(path)
    monkeypatch.undo()
    assert calls["n"] == 3
    assert path.read_bytes() == old_bytes
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary file left behind
    if suffix == ".weights.h5":
        fresh = _sequential()
        fresh(x[:2])
        fresh.load_weights(path)
    else:
        fresh = keras.models.load_model(path)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), old)


# ---------------------------------------------------------------- fuzz
def test_fuzzed_files_fail_cleanly(tmp_path):
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    model = _sequential()
    model(_data()[0][:2])
    originals = {}
    for suffix in (".weights.h5", ".keras", ".h5"):
        path = tmp_path / f"orig{suffix}"
        (model.save_weights if suffix == ".weights.h5" else model.save)(path)
        originals[suffix] = path.read_bytes()
    config_at = originals[".h5"].find(b'{"class_name"')
    before = [w.copy() for w in model.get_weights()]

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(suffix=st.sampled_from(sorted(originals) + ["config"]),
                      flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                               st.integers(1, 255)), min_size=1, max_size=8))
    def check(suffix, flips):
        if suffix == "config":  # flips inside the legacy file's JSON model_config
            data = bytearray(originals[".h5"])
            for where, xor in flips:
                data[config_at + int(where * 2000)] ^= xor
            path = tmp_path / "fuzz_config.h5"
            path.write_bytes(bytes(data))
            try:
                keras.models.load_model(path)
            except (ValueError, TypeError):  # TypeError: "Could not locate class ..."
                pass
            return
        data = bytearray(originals[suffix])
        for where, xor in flips:
            data[int(where * len(data))] ^= xor
        path = tmp_path / f"fuzz{suffix}"
        path.write_bytes(bytes(data))
        try:
            model.load_weights(path)
        except ValueError:
            # Refused: nothing was assigned.
            for a, b in zip(model.get_weights(), before):
                np.testing.assert_array_equal(a, b)
        model.set_weights(before)

    check()


# ---------------------------------------------------------------- real Keras as oracle
@pytest.fixture(scope="module")
def real_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    module = pytest.importorskip("keras", reason="real Keras 3 is the oracle")
    if not module.__version__.startswith("3."):
        pytest.skip("the oracle must be Keras 3")
    return module


def _to_numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _real_functional(k):
    a = k.Input((4,), name="a")
    b = k.Input((4,), name="b")
    shared = k.layers.Dense(3, activation="tanh", name="shared")
    x = k.layers.Concatenate(name="cat")([shared(a), shared(b)])
    x = k.layers.BatchNormalization(name="bn")(x)
    out = k.layers.Dense(1, name="out")(k.layers.Add(name="add")([x, x]))
    return k.Model([a, b], out, name="func")


def _h5_layout(path):
    found = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: found.__setitem__(
            name, obj.shape if isinstance(obj, h5py.Dataset) else None))
    return found


@pytest.mark.keras_oracle
def test_files_written_by_real_keras_load_here(real_keras, tmp_path):
    k = real_keras
    x, y = _data()
    inputs = [x, x[::-1].copy()]
    theirs = _real_functional(k)
    theirs.compile(optimizer="adam", loss="mse")
    theirs.fit(inputs, y, epochs=1, batch_size=8, verbose=0)
    theirs.save(tmp_path / "k.keras")
    theirs.save_weights(tmp_path / "k.weights.h5")
    theirs.save(tmp_path / "k.h5")
    expected = _to_numpy(theirs.predict(inputs, verbose=0))

    loaded = keras.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
    their_slots = [_to_numpy(v) for v in theirs.optimizer.variables]
    assert len(loaded.optimizer.variables) == len(their_slots)
    for ours, ref in zip(loaded.optimizer.variables, their_slots):
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6)

    legacy = keras.models.load_model(tmp_path / "k.h5")
    np.testing.assert_allclose(legacy.predict(inputs, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)

    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    shared = keras.layers.Dense(3, activation="tanh", name="shared")
    h = keras.layers.Concatenate(name="cat")([shared(a), shared(b)])
    h = keras.layers.BatchNormalization(name="bn")(h)
    ours = keras.Model([a, b], keras.layers.Dense(1, name="out")(
        keras.layers.Add(name="add")([h, h])))
    ours.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(ours.predict(inputs, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
    ours.load_weights(tmp_path / "k.h5")  # legacy positional loading
    np.testing.assert_allclose(ours.predict(inputs, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.keras_oracle
def test_files_written_here_load_in_real_keras(real_keras, tmp_path):
    k = real_keras
    x, y = _data()
    for make in (_sequential, _functional):
        model = make()
        _fit(model, x, y, 1)
        model.save(tmp_path / "ours.keras")
        model.save_weights(tmp_path / "ours.weights.h5")
        expected = model.predict(_inputs(model, x), verbose=0)
        theirs = k.models.load_model(tmp_path / "ours.keras")
        np.testing.assert_allclose(_to_numpy(theirs.predict(_inputs(model, x), verbose=0)),
                                   expected, rtol=1e-5, atol=1e-6)
        assert int(_to_numpy(theirs.optimizer.iterations)) == 3
        # The same layout as a file real Keras writes for the same model.
        theirs.save_weights(tmp_path / "theirs.weights.h5")
        ours_layout = _h5_layout(tmp_path / "ours.weights.h5")
        assert ours_layout == _h5_layout(tmp_path / "theirs.weights.h5")
        fresh = k.models.clone_model(theirs)
        fresh.load_weights(tmp_path / "ours.weights.h5")
        np.testing.assert_allclose(_to_numpy(fresh.predict(_inputs(model, x), verbose=0)),
                                   expected, rtol=1e-5, atol=1e-6)


@pytest.mark.keras_oracle
def test_legacy_h5_written_here_loads_in_real_keras(real_keras, tmp_path):
    x, y = _data()
    model = _sequential()
    _fit(model, x, y, 1)
    model.save(tmp_path / "ours.h5")
    # compile=False: Keras 3.15 cannot compile from its own legacy training_config when the
    # loss is a string ("Could not deserialize 'keras.metrics.mse'"), for its files too.
    theirs = real_keras.models.load_model(tmp_path / "ours.h5", compile=False)
    np.testing.assert_allclose(_to_numpy(theirs.predict(x, verbose=0)),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_legacy_module_exports():
    assert callable(legacy_h5.load_weights_from_hdf5)
    assert keras.saving.save_model is keras.models.save_model


@pytest.mark.keras_oracle
def test_subclassed_weights_layout_matches_real_keras(real_keras, tmp_path):
    k = real_keras
    x, y = _data()

    class RealTwoTower(k.Model):  # the same attributes as TwoTower, in real Keras
        def __init__(self):
            super().__init__(name="towers")
            self.hidden = k.layers.Dense(3, activation="relu")
            self.blocks = [k.layers.Dense(2), k.layers.Dense(2)]
            self.out = k.layers.Dense(1)
            self._private = k.layers.Dense(1)

        def call(self, inputs):
            return (self.out(self.hidden(inputs)) + self._private(inputs) +
                    self.blocks[1](self.blocks[0](inputs))[:, :1])

    class OurTwoTower(keras.Model):
        def __init__(self):
            super().__init__(name="towers")
            self.hidden = keras.layers.Dense(3, activation="relu")
            self.blocks = [keras.layers.Dense(2), keras.layers.Dense(2)]
            self.out = keras.layers.Dense(1)
            self._private = keras.layers.Dense(1)

        def call(self, inputs):
            return (self.out(self.hidden(inputs)) + self._private(inputs) +
                    self.blocks[1](self.blocks[0](inputs))[:, :1])

    theirs, ours = RealTwoTower(), OurTwoTower()
    for model in (theirs, ours):
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.save_weights(tmp_path / "ours.weights.h5")
    assert _h5_layout(tmp_path / "ours.weights.h5") == \
        _h5_layout(tmp_path / "theirs.weights.h5")
    # Their weights load into our model (paths resolve the same way) and predict the same.
    ours.load_weights(tmp_path / "theirs.weights.h5")
    np.testing.assert_allclose(ours.predict(x, verbose=0),
                               _to_numpy(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- assets (vocabularies)
_TEXTS = [["the cat sat on the mat"], ["the dog ate my homework"], ["a cat and a dog"]]


def _assets_model(kind):
    if kind in ("int", "tf_idf"):
        layer = keras.layers.TextVectorization(
            output_mode=kind, output_sequence_length=6 if kind == "int" else None, name="tv")
        layer.adapt([t[0] for t in _TEXTS])
        inp = keras.Input((1,), dtype="string")
        x = np.array([["the cat ate a mat"], ["zebra dog dog the"]])
    elif kind == "string":
        layer = keras.layers.StringLookup(mask_token="[MASK]", name="sl")
        layer.adapt(["b", "a", "b", "c", "b", "a"])
        inp = keras.Input((3,), dtype="string")
        x = np.array([["a", "b", "zz"], ["[MASK]", "c", "a"]])
    else:
        layer = keras.layers.IntegerLookup(output_mode="multi_hot", name="il")
        layer.adapt(np.array([7, 3, 7, 42, 7, 3]))
        inp = keras.Input((3,), dtype="int64")
        x = np.array([[7, 42, 5], [3, 3, 9]], dtype="int64")
    return keras.Model(inp, layer(inp)), layer, x


@pytest.mark.parametrize("kind", ["int", "tf_idf", "string", "integer"])
def test_adapted_lookup_layers_round_trip_with_assets(kind, tmp_path):
    model, layer, x = _assets_model(kind)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[:3] == ["metadata.json", "config.json", "model.weights.h5"]
        assets = [n for n in names if n.startswith("assets/")]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())
        vocab_member = next(n for n in assets if n.endswith("vocabulary.txt"))
        text = archive.read(vocab_member).decode("utf-8")
    if kind in ("int", "tf_idf"):
        assert sorted(assets) == ["assets/layers/text_vectorization/_lookup_layer/"
                                  "vocabulary.txt",
                                  "assets/layers/text_vectorization/vocabulary.txt"]
    else:
        folder = "string_lookup" if kind == "string" else "integer_lookup"
        assert assets == [f"assets/layers/{folder}/vocabulary.txt"]
    # Keras's format: str() of every token, special tokens first, "\n"-joined, no final "\n".
    if kind == "string":
        assert text == "[MASK]\n[UNK]\nb\na\nc"
    elif kind == "integer":
        assert text == "-1\n7\n3\n42"
    elif kind == "int":
        assert text.startswith("\n[UNK]\nthe\n") and not text.endswith("\n")
    else:
        assert text.startswith("[UNK]\nthe\n")
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    new_layer = loaded.layers[-1]
    assert new_layer.get_vocabulary() == layer.get_vocabulary()


def test_tf_idf_weights_are_saved_as_keras_idf_weights_datasets(tmp_path):
    model, layer, x = _assets_model("tf_idf")
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        (tmp_path / "w.h5").write_bytes(archive.read("model.weights.h5"))
    layout = _h5_layout(tmp_path / "w.h5")
    size = layer.vocabulary_size()
    assert layout["layers/text_vectorization/vars/idf_weights"] == (size,)
    assert layout["layers/text_vectorization/_lookup_layer/vars/idf_weights"] == (size,)
    with h5py.File(tmp_path / "w.h5") as f:
        idf = f["layers/text_vectorization/vars/idf_weights"][()]
    # Keras's adapt: log(1 + documents / (1 + document frequency)); "the" is in 2 of 3.
    vocab = layer.get_vocabulary()
    np.testing.assert_allclose(idf[vocab.index("the")], np.log(1 + 3 / 3), rtol=1e-6)
    np.testing.assert_allclose(idf[0], np.mean(idf[1:]), rtol=1e-5)


def test_vocabulary_given_in_config_writes_no_assets(tmp_path):
    inp = keras.Input((2,), dtype="string")
    model = keras.Model(inp, keras.layers.StringLookup(vocabulary=["x", "y"])(inp))
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert len(archive.namelist()) == 3
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.predict(np.array([["y", "q"]]), verbose=0).tolist() == [[2, 0]]


def _with_extra_member(source, target, info, data=b"x"):
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            new.writestr(item, old.read(item.filename))
        new.writestr(info, data)


@pytest.mark.parametrize("name", ["assets/../../evil.txt", "assets/layers/../../../evil.txt",
                                  "assets//evil.txt", "assets/./evil.txt",
                                  "assets/..\\evil.txt"])
def test_hostile_assets_members_are_refused(name, tmp_path, monkeypatch):
    model, _, _ = _assets_model("string")
    model.save(tmp_path / "ok.keras")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _with_extra_member(tmp_path / "ok.keras", tmp_path / "bad.keras",
                       zipfile.ZipInfo(name), b"pwned")
    before = set(os.listdir(tmp_path)) | set(os.listdir(work))
    with pytest.raises(CorruptFileError, match="unsafe"):
        keras.models.load_model(tmp_path / "bad.keras")
    assert set(os.listdir(tmp_path)) | set(os.listdir(work)) == before


def test_assets_symlink_member_is_refused(tmp_path):
    model, _, _ = _assets_model("string")
    model.save(tmp_path / "ok.keras")
    info = zipfile.ZipInfo("assets/layers/string_lookup/link")
    info.external_attr = (0o120777 << 16)
    _with_extra_member(tmp_path / "ok.keras", tmp_path / "bad.keras", info, b"/etc/passwd")
    with pytest.raises(CorruptFileError, match="symbolic link"):
        keras.models.load_model(tmp_path / "bad.keras")


def test_assets_temporary_folder_is_removed(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    model, _, x = _assets_model("integer")
    model.save(tmp_path / "m.keras")
    keras.models.load_model(tmp_path / "m.keras")
    assert os.listdir(tmp_path / "tmp") == []


@pytest.mark.keras_oracle
def test_lookup_assets_written_here_load_in_real_keras(real_keras, tmp_path):
    k = real_keras
    try:
        k.layers.StringLookup(vocabulary=["a"])
    except ImportError as error:
        pytest.skip(f"real Keras's lookup layers need TensorFlow here: {error}")
    for kind in ("string", "integer"):
        model, _, x = _assets_model(kind)
        model.save(tmp_path / f"{kind}.keras")
        theirs = k.models.load_model(tmp_path / f"{kind}.keras")
        np.testing.assert_array_equal(_to_numpy(theirs.predict(x, verbose=0)),
                                      model.predict(x, verbose=0))
