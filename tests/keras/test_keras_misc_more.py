"""keras.tree, keras.export, keras.backend's dtype helpers, keras.config's debugging caps and
switches, and keras.random's gamma/binomial/beta, against real Keras 3 (or closed forms)."""

import collections
import json
import warnings
import zipfile

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

Point = collections.namedtuple("Point", ["y", "x"])

STRUCTURES = [
    1, None, "text", [], {}, (), [[1, 2, 3], [4, [5], [[6]]]], {100: "world!", 6: "Hello"},
    [{"b": [1, (2, None)], "a": 0}, {"d": 3, "c": 4}],
    collections.OrderedDict([("b", 1), ("a", [2, 3])]),
    collections.defaultdict(list, {"z": 1, "y": (2,)}),
    collections.deque([1, [2, 3]]), [Point(1, 2), {"k": Point(3, [4])}], {1, 2},
]


def _ids(values):
    return [type(v).__name__ + str(i) for i, v in enumerate(values)]


@pytest.mark.parametrize("structure", STRUCTURES, ids=_ids(STRUCTURES))
def test_tree_flattens_packs_and_maps_as_keras(structure):
    real = import_keras()
    assert keras.tree.is_nested(structure) == real.tree.is_nested(structure)
    assert keras.tree.flatten(structure) == real.tree.flatten(structure)
    leaves = [f"v{i}" for i in range(len(keras.tree.flatten(structure)))]
    packed = keras.tree.pack_sequence_as(structure, leaves)
    assert packed == real.tree.pack_sequence_as(structure, leaves)
    assert type(packed) is type(real.tree.pack_sequence_as(structure, leaves))
    assert keras.tree.map_structure(str, structure) == real.tree.map_structure(str, structure)
    assert keras.tree.lists_to_tuples(structure) == real.tree.lists_to_tuples(structure)
    seen, their_seen = [], []
    # Each visited subtree as its leaves (torch's tree hands `func` key-sorted dict copies).
    keras.tree.traverse(lambda s: seen.append(keras.tree.flatten(s)), structure)
    real.tree.traverse(lambda s: their_seen.append(real.tree.flatten(s)), structure)
    assert seen == their_seen
    if "Point" not in repr(structure):  # (torch's tree numbers namedtuple fields by name)
        assert keras.tree.flatten_with_path(structure) == real.tree.flatten_with_path(structure)


def test_tree_keeps_dict_key_order_and_namedtuple_paths_follow_fields():
    # (Keras on torch sorts only the outermost dict of a branch; optree, Keras's tree on its
    # other backends, and its documentation sort every dict.)
    assert keras.tree.flatten({"b": 1, "a": [{"d": 2, "c": 3}]}) == [3, 2, 1]
    packed = keras.tree.pack_sequence_as({"key3": 0, "key1": 0, "key2": 0}, [1, 2, 3])
    assert list(packed.items()) == [("key3", 3), ("key1", 1), ("key2", 2)]
    assert keras.tree.flatten_with_path(Point(y=1, x=2)) == [((0,), 1), ((1,), 2)]
    mapped = keras.tree.map_structure(lambda v: v, collections.defaultdict(int, {"b": 1}))
    assert isinstance(mapped, collections.defaultdict) and mapped.default_factory is int


@pytest.mark.parametrize("a,b", [
    ([1, 2], (1, 2)), ([1, 2], [1, 2, 3]), ({"a": 1}, {"b": 1}), ([1, 2], [1, [2]]),
    (Point(1, 2), collections.namedtuple("Point", ["y", "x"])(1, 2)), ([1], 1),
])
def test_structure_mismatches_raise_value_error_like_keras(a, b):
    real = import_keras()
    with pytest.raises(ValueError):
        real.tree.assert_same_structure(a, b)
    with pytest.raises(ValueError):
        keras.tree.assert_same_structure(a, b)
    with pytest.raises(ValueError):
        keras.tree.map_structure(lambda *v: v, a, b)


def test_structure_matches_and_paths_as_keras():
    real = import_keras()
    ordered = collections.OrderedDict([("b", 2), ("a", 1)])
    keras.tree.assert_same_structure({"a": 1, "b": 2}, ordered)
    assert (keras.tree.map_structure(lambda x, y: x + y, {"a": 1, "b": 2}, ordered)
            == real.tree.map_structure(lambda x, y: x + y, {"a": 1, "b": 2}, ordered))
    keras.tree.assert_same_paths([0, 1], (2, 3))
    real.tree.assert_same_paths([0, 1], (2, 3))
    with pytest.raises(ValueError, match="Paths in `a` missing in `b`"):
        keras.tree.assert_same_paths({"a": 1, "b": 2}, {"a": 1})
    with pytest.raises(ValueError):
        real.tree.assert_same_paths({"a": 1, "b": 2}, {"a": 1})
    with pytest.warns(DeprecationWarning):
        keras.tree.assert_same_structure([1], [2], check_types=True)
    with pytest.raises(ValueError):
        keras.tree.pack_sequence_as([0, 0], [1])


def test_map_structure_none_handling_up_to_and_shapes_as_keras():
    real = import_keras()
    for tree in (keras.tree, real.tree):
        assert tree.map_structure(lambda v: 0, [1, None], none_is_leaf=False) == [0, None]
        assert tree.map_structure(lambda v: 0, [1, None]) == [0, 0]
        with pytest.raises(ValueError):
            tree.map_structure(lambda *v: 0, [None, 1], [2, 1], none_is_leaf=False)
    structure = [[1, 1], [2, 2]]
    for shallow in ([None, None], [None, [None, None]]):
        assert (keras.tree.map_structure_up_to(shallow, str, structure)
                == real.tree.map_structure_up_to(shallow, str, structure))
    with pytest.raises(ValueError):
        keras.tree.map_structure_up_to([None, [None, None]], str, [[1, 1], (2, 2)])
    shapes = {"a": (1, None), "b": [3, [2]], "c": 5, "d": (), "e": [(4,), {"f": [None]}]}
    tag = lambda s: ("S", s)  # noqa: E731
    assert keras.tree.map_shape_structure(tag, shapes) == real.tree.map_shape_structure(tag,
                                                                                        shapes)


def test_traverse_replaces_and_stops_as_keras():
    real = import_keras()
    structure = [(1, 2), [3], {"a": 4}]

    def cut(s):
        return keras.tree.MAP_TO_NONE if s == [3] else ("T" if isinstance(s, tuple) else None)

    def their_cut(s):
        return real.tree.MAP_TO_NONE if s == [3] else ("T" if isinstance(s, tuple) else None)

    assert keras.tree.traverse(cut, structure) == real.tree.traverse(their_cut, structure)
    bottom = lambda s: s * 10 if isinstance(s, int) else None  # noqa: E731
    assert (keras.tree.traverse(bottom, structure, top_down=False)
            == real.tree.traverse(bottom, structure, top_down=False))
    seen = []
    keras.tree.traverse(seen.append, structure, top_down=False)
    assert seen == [1, 2, (1, 2), 3, [3], 4, {"a": 4}, structure]


def test_export_module_is_reachable_and_unsupported_formats_say_what_works(tmp_path):
    assert callable(keras.export.export_onnx)
    with pytest.raises(NotImplementedError, match="format='onnx'"):
        keras.export.ExportArchive()
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(NotImplementedError, match="onnx"):
        model.export(str(tmp_path / "saved"))
    with pytest.raises(ValueError, match="onnx"):
        model.export(str(tmp_path / "saved"), format="bogus")


DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "bool", "string"]


def test_backend_dtype_helpers_match_keras():
    real = import_keras()
    assert keras.backend.backend() == keras.config.backend() == "tensorflux"
    for dtype in DTYPES:
        assert keras.backend.is_float_dtype(dtype) == real.backend.is_float_dtype(dtype), dtype
        assert keras.backend.is_int_dtype(dtype) == real.backend.is_int_dtype(dtype), dtype
    assert keras.backend.is_float_dtype(np.dtype("float16"))
    assert keras.backend.is_keras_tensor(keras.Input((3,)))
    assert not keras.backend.is_keras_tensor(np.ones(3))
    # (64-bit inputs are left out: Keras on torch narrows them to 32 bits, on TF it does not)
    cases = [(), ("int32", "float32"), ("int8", "uint8"), ("bool", int), ("int16", float),
             ("bfloat16", int), ("float16", "bfloat16"), (None, "int8"), (int, float),
             ("uint8", "int32", "float16"), (np.dtype("int16"), "float16")]
    for dtypes in cases:
        assert keras.backend.result_type(*dtypes) == real.backend.result_type(*dtypes), dtypes


def _small_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


class _CountBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.train, self.test = 0, 0

    def on_train_batch_end(self, batch, logs=None):
        self.train += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test += 1


def test_max_epochs_and_max_steps_cap_fit_and_evaluate():
    x, y = np.ones((40, 2), "float32"), np.ones((40, 1), "float32")
    try:
        keras.config.set_max_epochs(2)
        keras.config.set_max_steps_per_epoch(3)
        assert (keras.config.max_epochs(), keras.config.max_steps_per_epoch()) == (2, 3)
        counter = _CountBatches()
        with pytest.warns(UserWarning) as record:
            history = _small_model().fit(x, y, batch_size=4, epochs=5, verbose=0,
                                         callbacks=[counter])
        assert {"Limiting epochs to 2", "Limiting steps_per_epoch to 3"} <= {
            str(w.message) for w in record}
        assert len(history.history["loss"]) == 2 and counter.train == 6
        with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 3"):
            _small_model().evaluate(x, y, batch_size=4, verbose=0, callbacks=[counter])
        assert counter.test == 3
    finally:
        keras.config.set_max_epochs(None)
        keras.config.set_max_steps_per_epoch(None)
    counter = _CountBatches()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = _small_model().fit(x, y, batch_size=4, epochs=3, verbose=0,
                                     callbacks=[counter])
    assert len(history.history["loss"]) == 3 and counter.train == 30


def test_config_switches_match_keras():
    real = import_keras()
    assert keras.config.is_flash_attention_enabled() == real.config.is_flash_attention_enabled()
    try:
        keras.config.disable_flash_attention()
        assert keras.config.is_flash_attention_enabled() is False
    finally:
        keras.config.enable_flash_attention()
    assert keras.config.is_flash_attention_enabled() is None
    assert keras.config.is_nnx_enabled() is False is real.config.is_nnx_enabled()
    keras.config.set_backend("tensorflux")
    with pytest.raises(ValueError, match="tensorflux backend"):
        keras.config.set_backend("jax")


@pytest.mark.parametrize("name,args,kwargs", [
    ("gamma", ((3, 4), 2.0), {}), ("gamma", ((2, 3), [1.0, 2.0, 3.0]), {"dtype": "float64"}),
    ("binomial", ((3, 4), 5, 0.5), {}), ("binomial", ((2, 3), [[4], [8]], 0.25), {}),
    ("beta", ((3, 4), 2.0, 3.0), {}), ("beta", ((5,), 0.5, [1.0] * 5), {"dtype": "float16"}),
])
def test_gamma_binomial_beta_shapes_dtypes_and_seeds(name, args, kwargs):
    real = import_keras()
    draw = getattr(keras.random, name)
    ours = draw(*args, seed=1, **kwargs)
    theirs = getattr(real.random, name)(*args, seed=1, **kwargs)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.dtype.name == real.backend.standardize_dtype(theirs.dtype)
    np.testing.assert_array_equal(ours.numpy(), draw(*args, seed=1, **kwargs).numpy())
    generator, replay = keras.random.SeedGenerator(4), keras.random.SeedGenerator(4)
    first, second = draw(*args, seed=generator).numpy(), draw(*args, seed=generator).numpy()
    np.testing.assert_array_equal(first, draw(*args, seed=replay).numpy())
    assert not np.array_equal(first, second)


def test_gamma_binomial_beta_moments_match_closed_forms():
    n = 40_000
    # Mean and variance: Gamma(a): a, a; Binomial(n, p): np, np(1-p); Beta(a, b): a/(a+b),
    # ab/((a+b)^2 (a+b+1)). Tolerances are ~5 standard errors.
    x = keras.random.gamma((n,), 3.0, seed=2, dtype="float64").numpy()
    np.testing.assert_allclose([x.mean(), x.var()], [3.0, 3.0], rtol=0.06)
    x = keras.random.binomial((n,), 10, 0.3, seed=2).numpy()
    assert set(np.unique(x)) <= set(range(11))
    np.testing.assert_allclose([x.mean(), x.var()], [3.0, 2.1], rtol=0.04)
    x = keras.random.beta((n,), 2.0, 5.0, seed=2, dtype="float64").numpy()
    np.testing.assert_allclose([x.mean(), x.var()], [2 / 7, 10 / (49 * 8)], rtol=0.04)


def _flat(tree, path=""):
    flat = {}
    for key, value in tree.items():
        where = f"{path}/{key}" if path else key
        flat.update(_flat(value, where) if isinstance(value, dict) else {where: value})
    return flat


def _keras_models(real):
    x = np.linspace(-1, 1, 16, dtype="float32").reshape(4, 4)
    old = real.Sequential([real.Input((4,)), real.layers.Dense(3), real.layers.Dense(2)])
    old.compile(optimizer="adam", loss="mse")
    old.fit(x, np.ones((4, 2), "float32"), verbose=0)
    return old, x


def test_file_editor_reads_keras_files_as_keras_does(tmp_path, capsys):
    real = import_keras()
    old, _ = _keras_models(real)
    path = str(tmp_path / "old.keras")
    old.save(path)
    ours = keras.saving.KerasFileEditor(path)
    theirs = real.saving.KerasFileEditor(path)
    ours_flat, their_flat = _flat(ours.weights_dict), _flat(theirs.weights_dict)
    assert sorted(ours_flat) == sorted(their_flat)
    for key, value in their_flat.items():
        np.testing.assert_array_equal(ours_flat[key], value)
    assert ours.config == theirs.config and ours.metadata == theirs.metadata
    capsys.readouterr()
    ours.summary()
    printed = capsys.readouterr().out
    assert "layers" in printed and "dense_1 ('dense_1')" in printed
    assert "shape=(4, 3), dtype=float32" in printed


def test_file_editor_edits_a_file_for_a_changed_architecture(tmp_path):
    real = import_keras()
    old, x = _keras_models(real)
    old_path, new_path = str(tmp_path / "old.weights.h5"), str(tmp_path / "new.weights.h5")
    old.save_weights(old_path)
    # The new model has one more Dense(3) in the middle (identity weights).
    new = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(3),
                            keras.layers.Dense(2)])
    editor = keras.saving.KerasFileEditor(old_path)
    assert editor.compare(new)["status"] == "error"
    editor.rename_object("dense_1", "dense_2")
    editor.add_object("layers/dense_1", {"0": np.eye(3, dtype="float32"),
                                         "1": np.zeros(3, "float32")})
    editor.delete_object("optimizer")
    result = editor.compare(new)
    assert result == {"status": "success", "error_count": 0, "match_count": 6}
    editor.save(new_path)
    new.load_weights(new_path)
    their_new = real.Sequential([real.Input((4,)), real.layers.Dense(3), real.layers.Dense(3),
                                 real.layers.Dense(2)])
    their_new.load_weights(new_path)
    expected = old.predict(x, verbose=0)
    np.testing.assert_allclose(new.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(their_new.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_file_editor_weight_edits_and_errors(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="a"),
                              keras.layers.Dense(1, name="b")])
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    editor = keras.saving.KerasFileEditor(path)
    editor.delete_weight("layers/dense_1", "1")
    assert sorted(editor.weights_dict["layers"]["dense_1"]) == ["0"]
    editor.add_weights("dense_1", {"1": np.full(1, 5.0, "float32")})
    editor.save(str(tmp_path / "edited.weights.h5"))
    model.load_weights(str(tmp_path / "edited.weights.h5"))
    assert model.layers[1].bias.numpy().tolist() == [5.0]
    editor.add_object("extra", {"0": np.ones(2)})
    editor.add_object("layers/dense/extra", {"0": np.ones(2)})
    with pytest.raises(ValueError, match="more than once"):
        editor.delete_object("extra")
    with pytest.raises(ValueError, match="not found"):
        editor.delete_object("layers/nothing")
    with pytest.raises(ValueError, match="does not appear"):
        editor.rename_object("nothing", "x")
    with pytest.raises(ValueError, match="Weights found"):
        editor.delete_weight("dense", "7")
    with pytest.raises(ValueError, match="should be a dict"):
        editor.add_weights("dense", [np.ones(2)])
    with pytest.raises(ValueError, match="weights.h5"):
        editor.save(str(tmp_path / "x.h5"))
    with pytest.raises(ValueError, match="extension"):
        keras.saving.KerasFileEditor(str(tmp_path / "x.h5"))


def test_file_editor_refuses_linked_data_and_never_builds_objects(tmp_path):
    h5py = pytest.importorskip("h5py")
    target = str(tmp_path / "other.h5")
    with h5py.File(target, "w") as f:
        f.create_dataset("secret", data=np.ones(3))
    path = str(tmp_path / "linked.weights.h5")
    with h5py.File(path, "w") as f:
        f.create_group("layers/dense/vars")["0"] = h5py.ExternalLink(target, "secret")
    with pytest.raises(ValueError, match="external link"):
        keras.saving.KerasFileEditor(path)
    # A config holding code (a Lambda's bytecode) stays plain JSON data: nothing is built.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    saved, forged = str(tmp_path / "m.keras"), str(tmp_path / "forged.keras")
    model.save(saved)
    code = {"class_name": "__lambda__", "config": {"code": "b3Muc3lzdGVtKCk="}}
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(forged, "w") as target:
        for name in source.namelist():
            data = json.dumps(code) if name == "config.json" else source.read(name)
            target.writestr(name, data)
    editor = keras.saving.KerasFileEditor(forged)
    assert editor.config == code
    assert sorted(_flat(editor.weights_dict)) == ["layers/dense/0", "layers/dense/1"]
