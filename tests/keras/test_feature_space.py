"""keras.utils.FeatureSpace: configs against real Keras 3 (which, without TensorFlow, can build
but not adapt one), encodings against NumPy float64, crosses against TensorFlow's and Keras's
published hash values, tf.data use, Functional models and .keras round trips."""

import json

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.saving.serialization import serialize_keras_object
from tests.keras._oracle import fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle

FS = keras.utils.FeatureSpace

# Distinct counts, so the lookup vocabularies have one frequency order.
DATA = {
    "x": np.array([1.0, 2.0, 4.0, 7.0, 11.0, 5.0], "float32"),
    "color": np.array(["red", "blue", "red", "green", "red", "blue"]),
    "size": np.array([3, 3, 3, 8, 8, 5], "int64"),
    "f": np.array([0.5, -1.0, 2.0, 0.0, 3.5, 1.0], "float32"),
    "d": np.array([0.2, 1.0, 2.2, 0.7, 3.1, 1.4], "float32"),
    "r": np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "float32"),
}


def _space(output_mode="concat", **kwargs):
    return FS({"x": "float_normalized", "color": "string_categorical",
               "size": FS.integer_categorical(num_oov_indices=0), "f": "float",
               "d": FS.float_discretized(num_bins=3, bin_boundaries=[0.5, 1.5]),
               "r": FS.float_rescaled(scale=2.0, offset=1.0)},
              output_mode=output_mode, **kwargs)


def _one_hot(indices, depth):
    return np.eye(depth)[np.asarray(indices)]


def _expected_parts(data):
    """Each feature's encoding from NumPy float64, by name."""
    x = DATA["x"].astype(np.float64)
    color_vocab = ["[UNK]", "red", "blue", "green"]
    return {
        "color": _one_hot([color_vocab.index(c) if c in color_vocab else 0
                           for c in data["color"]], 4),
        "d": _one_hot(np.digitize(np.asarray(data["d"], np.float64), [0.5, 1.5]), 3),
        "f": np.asarray(data["f"], np.float64)[:, None],
        "r": np.asarray(data["r"], np.float64)[:, None] * 2.0 + 1.0,
        "size": _one_hot([[3, 8, 5].index(s) for s in data["size"]], 3),
        "x": ((np.asarray(data["x"], np.float64) - x.mean()) / x.std())[:, None],
    }


def test_config_is_keras_format():
    real = import_keras()
    from keras.src.saving import serialization_lib

    def features(space):
        return {"a": "float_normalized", "c": "float",
                "r": space.float_rescaled(scale=2.0, offset=1.0, name="r"),
                "z": space.float_discretized(num_bins=4, name="z")}

    theirs = serialization_lib.serialize_keras_object(real.utils.FeatureSpace(
        features(real.utils.FeatureSpace), output_mode="dict", crossing_dim=8))
    ours = serialize_keras_object(FS(features(FS), output_mode="dict", crossing_dim=8))
    assert json.loads(json.dumps(ours)) == json.loads(json.dumps(theirs))
    rebuilt = real.utils.FeatureSpace.from_config(json.loads(json.dumps(ours))["config"])
    assert sorted(rebuilt.features) == ["a", "c", "r", "z"]


def test_concat_encoding_matches_numpy():
    space = _space()
    space.adapt(DATA)
    parts = _expected_parts(DATA)
    expected = np.concatenate([parts[name] for name in sorted(parts)], axis=1)
    out = space(DATA)
    assert out.dtype.name == "float32" and tuple(out.shape) == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    # One sample (scalars) gives one unbatched vector; unseen categories go to OOV.
    sample = {"x": 3.0, "color": "purple", "size": 5, "f": 1.0, "d": 1.6, "r": 0.5}
    parts = _expected_parts({k: [v] for k, v in sample.items()})
    single = space(sample)
    np.testing.assert_allclose(single.numpy(), np.concatenate(
        [parts[name] for name in sorted(parts)], axis=1)[0], rtol=1e-5, atol=1e-6)


def test_dict_mode_and_int_outputs():
    space = FS({"color": FS.string_categorical(output_mode="int"),
                "size": FS.integer_categorical(output_mode="int"), "x": "float"},
               output_mode="dict")
    data = {name: DATA[name] for name in ("color", "size", "x")}
    space.adapt(data)
    out = space(data)
    assert sorted(out) == ["color", "size", "x"]
    assert out["color"].numpy().ravel().tolist() == [1, 2, 1, 3, 1, 2]
    assert out["size"].numpy().ravel().tolist() == [1, 1, 1, 2, 2, 3]
    np.testing.assert_array_equal(out["x"].numpy().ravel(), DATA["x"])


def test_crosses_hash_as_tensorflow_and_keras():
    space = FS({"a": FS.string_categorical(output_mode="int"),
                "b": FS.integer_categorical(output_mode="int")},
               crosses=[FS.cross(("a", "b"), crossing_dim=5, output_mode="int"),
                        FS.cross(("b", "a"), crossing_dim=7)], output_mode="dict")
    assert sorted(space.crossers) == ["a_X_b", "b_X_a"]
    crosser = space.crossers["a_X_b"]
    # keras/src/layers/preprocessing/hashed_crossing_test.py's expected bins
    bins = crosser([tf.constant([["A"], ["B"], ["A"], ["B"], ["A"]]),
                    tf.constant([[101], [101], [101], [102], [102]])])
    assert bins.numpy().ravel().tolist() == [1, 4, 1, 1, 3]
    # TensorFlow's sparse_cross_op_test: three strings into 100 buckets give 83
    triple = FS({n: "string_categorical" for n in "pqr"},
                crosses=[FS.cross(("p", "q", "r"), crossing_dim=100)])
    bins = triple.crossers["p_X_q_X_r"]([tf.constant([["batch1-FC1-F1"]]),
                                         tf.constant([["batch1-FC2-F1"]]),
                                         tf.constant([["batch1-FC3-F1"]])])
    assert bins.numpy().ravel().tolist() == [83]
    # In the space, crosses hash the preprocessed (integer) values and are one-hot encoded.
    space.adapt({"a": DATA["color"], "b": DATA["size"]})
    out = space({"a": DATA["color"], "b": DATA["size"]})
    a, b = out["a"].numpy(), out["b"].numpy()
    expected = space.crossers["b_X_a"]([tf.constant(b), tf.constant(a)]).numpy().ravel()
    np.testing.assert_array_equal(out["b_X_a"].numpy(), _one_hot(expected, 7))
    assert out["a_X_b"].numpy().shape == (6, 1)


def test_adapt_and_map_over_datasets_batched_or_not():
    rows = tf.data.Dataset.from_tensor_slices(DATA)
    space = _space()
    space.adapt(rows)  # unbatched: the space batches it
    batched = _space()
    batched.adapt(rows.batch(4).map(lambda x: x))
    np.testing.assert_allclose(space(DATA).numpy(), batched(DATA).numpy(), rtol=1e-6)
    labelled = tf.data.Dataset.from_tensor_slices((DATA, np.arange(6))).batch(4)
    mapped = labelled.map(lambda x, y: (space(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    features = np.concatenate([x.numpy() for x, _ in mapped])
    np.testing.assert_allclose(features, space(DATA).numpy(), rtol=1e-6)
    per_row = [v.numpy() for v in rows.map(space)]
    assert per_row[0].shape == (space(DATA).shape[1],)


def test_functional_models_on_the_encoded_features():
    space = _space(crosses=[("color", "size")], crossing_dim=6)
    space.adapt(DATA)
    encoded = space.get_encoded_features()
    assert tuple(encoded.shape) == (None, 1 + 4 + 3 + 1 + 3 + 1 + 6)
    hidden = keras.layers.Dense(4, activation="relu")(encoded)
    output = keras.layers.Dense(1, activation="sigmoid")(hidden)
    training = keras.Model(encoded, output)
    training.compile(optimizer="adam", loss="binary_crossentropy")
    ds = tf.data.Dataset.from_tensor_slices((DATA, np.array([0, 1, 0, 1, 1, 0]))).batch(3)
    training.fit(ds.map(lambda x, y: (space(x), y)), epochs=1, verbose=0)
    inference = keras.Model(space.get_inputs(), output)
    by_dict = inference({k: np.asarray(v)[:, None] for k, v in DATA.items()})
    np.testing.assert_allclose(by_dict.numpy(), training(space(DATA)).numpy(), rtol=1e-5)


def test_save_and_load_round_trip(tmp_path):
    space = _space(crosses=[FS.cross(("color", "size"), crossing_dim=4)])
    space.adapt(DATA)
    path = tmp_path / "space.keras"
    space.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, FS) and loaded.crosses[0].feature_names == ("color", "size")
    np.testing.assert_allclose(loaded(DATA).numpy(), space(DATA).numpy(), rtol=1e-6)
    assert loaded.get_config() == space.get_config()


def test_bad_specs_and_calls_raise_clear_errors():
    with pytest.raises(ValueError, match="Invalid feature type"):
        FS({"a": "floaty"})
    with pytest.raises(ValueError, match="unknown features"):
        FS({"a": "float"}, crosses=[("a", "b")])
    with pytest.raises(ValueError, match="output_mode"):
        FS({"a": "float"}, output_mode="list")
    space = _space()
    with pytest.raises(ValueError, match="adapt"):
        space(DATA)
    space.adapt(DATA)
    with pytest.raises(ValueError, match="only be called with a dict"):
        space([1.0])
    with pytest.raises(ValueError, match="missing \\['x'\\]"):
        space({k: v for k, v in DATA.items() if k != "x"})
    not_integer = FS({"a": FS.feature("float32", keras.layers.Rescaling(2.0), "one_hot")})
    with pytest.raises(ValueError, match="integer dtype"):
        not_integer.get_encoded_features()
    not_encoded = FS({"a": FS.integer_hashed(4, output_mode="int")})
    with pytest.raises(ValueError, match="Cannot concatenate"):
        not_encoded.get_encoded_features()
