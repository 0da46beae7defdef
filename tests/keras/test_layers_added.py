"""GroupNormalization, UnitNormalization, CategoryEncoding, Discretization, Hashing,
RandomBrightness and Keras 3's alias names; real Keras 3 is the oracle where it runs without
TensorFlow, published hash values where it does not (Keras's Hashing needs TensorFlow)."""

import json

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.saving.serialization import (
    deserialize_keras_object,
    serialize_keras_object,
)
from tensorflux.ops._string_hash import fingerprint64, siphash24
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401


def _round_trip(layer):
    text = json.dumps(layer.get_config())
    clone = type(layer).from_config(json.loads(text))
    assert json.dumps(clone.get_config()) == text
    restored = deserialize_keras_object(json.loads(json.dumps(serialize_keras_object(layer))))
    assert type(restored) is type(layer)
    return clone


def _config_without_name(config):
    return {k: v for k, v in config.items() if k != "name"}


# ---------------------------------------------------------------------- normalization
@pytest.mark.keras_oracle
@pytest.mark.parametrize("groups,axis,shape", [(2, -1, (3, 5, 4, 6)), (3, -1, (3, 5, 4, 6)),
                                               (-1, -1, (2, 7, 6)), (1, -1, (2, 7, 6)),
                                               (5, 1, (3, 5, 4, 6))])
def test_group_normalization_matches_keras(groups, axis, shape):
    k = import_keras()
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=shape).astype("float32")
    ours = keras.layers.GroupNormalization(groups=groups, axis=axis)
    theirs = k.layers.GroupNormalization(groups=groups, axis=axis)
    ours.build(shape)
    theirs.build(shape)
    weights = [rng.normal(size=tuple(w.shape)).astype("float32") for w in theirs.weights]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    out = ours(x)
    assert out.dtype.name == "float32"
    assert_matches(out, theirs(x), rtol=1e-5, atol=1e-5)
    assert _config_without_name(ours.get_config()) == \
        _config_without_name(theirs.get_config())
    _round_trip(ours)


def test_group_normalization_rejects_bad_groups():
    with pytest.raises(ValueError, match="groups"):
        keras.layers.GroupNormalization(groups=0)
    with pytest.raises(ValueError, match="multiple"):
        keras.layers.GroupNormalization(groups=4)(tf.ones((2, 6)))


@pytest.mark.keras_oracle
@pytest.mark.filterwarnings("ignore:divide by zero")  # (1 / norm of the zero vector, capped)
@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_unit_normalization_matches_keras(axis):
    k = import_keras()
    x = np.random.default_rng(2).normal(size=(3, 4, 5)).astype("float32")
    x[0] = 0.0  # a zero vector stays zero (the 1e12 cap on 1 / norm)
    ours = keras.layers.UnitNormalization(axis=axis)
    assert_matches(ours(x), k.layers.UnitNormalization(axis=axis)(x), rtol=1e-6, atol=1e-6)
    assert _config_without_name(ours.get_config()) == \
        _config_without_name(k.layers.UnitNormalization(axis=axis).get_config())
    _round_trip(ours)


# ---------------------------------------------------------------------- CategoryEncoding
_INDICES = [np.array([[0, 1, 1], [3, 3, 2]]), np.array([0, 1, 1]), np.array([[1], [2]]),
            np.array([[[1, 2], [0, 3]]]), np.array(2), np.array([[-1, 2]])]


@pytest.mark.keras_oracle
@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("case", range(len(_INDICES)))
def test_category_encoding_matches_keras(mode, case):
    k = import_keras()
    x = _INDICES[case]
    ours = keras.layers.CategoryEncoding(num_tokens=4, output_mode=mode)
    theirs = k.layers.CategoryEncoding(num_tokens=4, output_mode=mode)
    out = ours(x)
    expected = theirs(x)
    assert out.dtype.name == "float32"
    assert_matches(out, expected)
    assert _config_without_name(ours.get_config()) == \
        _config_without_name(theirs.get_config())


@pytest.mark.keras_oracle
def test_category_encoding_count_weights_match_keras():
    k = import_keras()
    x = np.array([[0, 1], [1, 1]])
    weights = np.array([[0.1, 0.2], [0.1, 0.4]], "float32")
    ours = keras.layers.CategoryEncoding(4, "count")(x, count_weights=weights)
    assert_matches(ours, k.layers.CategoryEncoding(4, "count")(x, count_weights=weights))


def test_category_encoding_rejects_out_of_range_and_bad_modes():
    with pytest.raises(ValueError, match="category_encoding"):
        keras.layers.CategoryEncoding(4, "multi_hot")(np.array([1, 5]))
    with pytest.raises(ValueError, match="output_mode"):
        keras.layers.CategoryEncoding(4, "tf_idf")
    with pytest.raises(ValueError, match="num_tokens"):
        keras.layers.CategoryEncoding()


# ---------------------------------------------------------------------- Discretization
@pytest.mark.keras_oracle
@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_with_boundaries_matches_keras(mode):
    k = import_keras()
    x = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0, 3.0], [0.1, 0.1, 2.5, -4.0, 1.5, 1.0]], "float32")
    ours = keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode=mode)
    theirs = k.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode=mode)
    out = ours(x)
    expected = theirs(x)
    assert out.dtype.name == str(expected.dtype).replace("torch.", "")
    assert_matches(out, expected)
    assert ours.get_config() | {"name": None} == theirs.get_config() | {"name": None}
    assert ours(np.array([[1, 2, 5]])).dtype.name == \
        str(theirs(np.array([[1, 2, 5]])).dtype).replace("torch.", "")


@pytest.mark.keras_oracle
@pytest.mark.parametrize("num_bins,shape,batches", [(4, (1000,), 1), (5, (300, 3), 4),
                                                    (10, (57,), 3), (3, (20,), 1)])
def test_discretization_adapt_matches_keras(num_bins, shape, batches):
    k = import_keras()
    rng = np.random.default_rng(num_bins)
    data = [rng.normal(size=shape).astype("float32") for _ in range(batches)]
    ours = keras.layers.Discretization(num_bins=num_bins)
    ours.adapt(data if batches > 1 else data[0])
    theirs = k.layers.Discretization(num_bins=num_bins)
    # Keras's adapt() checks for tf.data, which needs TensorFlow: run its steps directly.
    theirs.reset_state()
    for batch in data:
        theirs.update_state(batch)
    theirs.finalize_state()
    np.testing.assert_array_equal(np.float32(ours.bin_boundaries),
                                  np.float32(theirs.bin_boundaries))
    x = rng.normal(size=(4, 7)).astype("float32")
    assert_matches(ours(x), theirs(x))
    clone = _round_trip(ours)
    assert clone.bin_boundaries == ours.bin_boundaries
    config = json.loads(json.dumps(ours.get_config()))
    assert k.layers.Discretization.from_config(config).bin_boundaries == ours.bin_boundaries


def test_discretization_adapts_on_a_dataset_and_needs_bins():
    data = np.random.default_rng(0).uniform(size=(64, 1)).astype("float32")
    from_dataset = keras.layers.Discretization(num_bins=4)
    from_dataset.adapt(tf.data.Dataset.from_tensor_slices(data).batch(64))
    from_array = keras.layers.Discretization(num_bins=4)
    from_array.adapt(data)
    assert from_dataset.bin_boundaries == from_array.bin_boundaries
    with pytest.raises(ValueError, match="adapt"):
        keras.layers.Discretization(num_bins=3)(data)
    with pytest.raises(ValueError, match="Both"):
        keras.layers.Discretization(bin_boundaries=[0.0], num_bins=2)


# ---------------------------------------------------------------------- Hashing
# Published values: Fingerprint64 vectors from Guava's FarmHashFingerprint64Test (one per
# length class: 0-16, 17-32, 33-64 and over 64 bytes), SipHash-2-4 vectors from its paper.
@pytest.mark.parametrize("text,expected", [
    (b"", 11160318154034397263), (b"test", 8581389452482819506),
    (b"test" * 8, (-4196240717365766262) % (1 << 64)),
    (b"F7479877-4690-4A44-AFC9-8FE987EA512F:some_other_id", 6862335115798125349),
    (b"test" * 64, 3500507768004279527)])
def test_fingerprint64_matches_published_values(text, expected):
    assert fingerprint64(text) == expected


def test_siphash24_matches_the_reference_vectors():
    key = (0x0706050403020100, 0x0F0E0D0C0B0A0908)
    assert siphash24(key, b"") == 0x726FDB47DD0E0E31
    assert siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5


@pytest.mark.parametrize("kwargs,inputs,expected", [
    # Keras's Hashing docstring examples (computed by Keras through TensorFlow).
    ({"num_bins": 3}, ["A", "B", "C", "D", "E"], [1, 0, 1, 1, 2]),
    ({"num_bins": 3, "mask_value": ""}, ["A", "B", "", "C", "D"], [1, 1, 0, 2, 2]),
    ({"num_bins": 3, "salt": [133, 137]}, ["A", "B", "C", "D", "E"], [1, 2, 1, 0, 2]),
    ({"num_bins": 3, "salt": 133}, ["A", "B", "C", "D", "E"], [0, 0, 2, 1, 0]),
])
def test_hashing_reproduces_the_keras_docstring_examples(kwargs, inputs, expected):
    layer = keras.layers.Hashing(**kwargs)
    out = layer([[v] for v in inputs])
    assert out.dtype.name == "int64"
    assert out.numpy().ravel().tolist() == expected
    _round_trip(layer)


def test_hashing_of_integers_and_floats_hashes_their_decimal_text():
    # TensorFlow's to_hash_bucket_fast example: ["Hello", "TensorFlow", "2.x"] -> [0, 2, 2].
    assert keras.layers.Hashing(3)(["Hello", "TensorFlow", "2.x"]).numpy().tolist() == [0, 2, 2]
    expected = [fingerprint64(str(v).encode()) % 7 for v in (12, -3, 40)]
    assert keras.layers.Hashing(7)(np.array([12, -3, 40])).numpy().tolist() == expected
    assert keras.layers.Hashing(7)(np.array([12.7, -3.2, 40.0])).numpy().tolist() == expected
    masked = keras.layers.Hashing(7, mask_value=-3)(np.array([12, -3]))
    assert masked.numpy().tolist() == [fingerprint64(b"12") % 6 + 1, 0]


def test_hashing_encodes_and_works_in_a_functional_model():
    layer = keras.layers.Hashing(num_bins=4, output_mode="multi_hot")
    bins = keras.layers.Hashing(num_bins=4)([["A", "B"], ["C", "C"]]).numpy()
    expected = np.zeros((2, 4), "float32")
    for row, values in enumerate(bins):
        expected[row, values] = 1.0
    out = layer([["A", "B"], ["C", "C"]])
    assert out.dtype.name == "float32"
    np.testing.assert_array_equal(out.numpy(), expected)
    inputs = keras.Input(shape=(2,), dtype="string")
    model = keras.Model(inputs, keras.layers.Hashing(num_bins=4)(inputs))
    assert tuple(model.output.shape) == (None, 2)
    assert model(tf.constant([["A", "B"]])).numpy().tolist() == [bins[0].tolist()]
    with pytest.raises(ValueError, match="num_bins"):
        keras.layers.Hashing(num_bins=0)
    with pytest.raises(ValueError, match="salt"):
        keras.layers.Hashing(num_bins=2, salt="x")


# ---------------------------------------------------------------------- RandomBrightness
@pytest.mark.keras_oracle
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_random_brightness_fixed_factor_and_inference_match_keras(dtype):
    k = import_keras()
    x = np.random.default_rng(3).uniform(0, 255, size=(2, 4, 5, 3)).astype(dtype)
    for factor in ((0.3, 0.3), (-0.8, -0.8)):  # a fixed offset: no randomness involved
        ours = keras.layers.RandomBrightness(factor)
        theirs = k.layers.RandomBrightness(factor)
        out = ours(x, training=True)
        expected = theirs(x, training=True)
        assert out.dtype.name == str(expected.dtype).replace("torch.", "")
        assert_matches(out, expected, rtol=1e-6, atol=1e-4)
    ours = keras.layers.RandomBrightness(0.5, value_range=(0, 1), seed=4)
    theirs = k.layers.RandomBrightness(0.5, value_range=(0, 1), seed=4)
    out = ours(x, training=False)
    assert out.dtype.name == str(theirs(x, training=False).dtype).replace("torch.", "")
    assert_matches(out, theirs(x, training=False))
    assert ours.get_config() | {"name": None} == \
        json.loads(json.dumps(theirs.get_config())) | {"name": None}
    _round_trip(ours)


def test_random_brightness_draws_one_offset_per_image_within_the_factor():
    layer = keras.layers.RandomBrightness((-0.2, 0.4), value_range=(0, 1), seed=5)
    x = np.full((16, 3, 3, 2), 0.5, "float32")
    out = layer(x, training=True).numpy()
    deltas = out - 0.5
    assert np.all(deltas.reshape(16, -1) == deltas.reshape(16, -1)[:, :1])
    assert deltas.min() >= -0.2 - 1e-6 and deltas.max() <= 0.4 + 1e-6
    assert len(np.unique(deltas[:, 0, 0, 0])) > 1
    clipped = layer(np.ones((4, 2, 2, 1), "float32"), training=True).numpy()
    assert clipped.max() <= 1.0
    assert layer(np.ones((2, 2, 1), "float32")).shape == (2, 2, 1)
    with pytest.raises(ValueError, match="factor"):
        keras.layers.RandomBrightness(1.5)
    with pytest.raises(ValueError, match="value_range"):
        keras.layers.RandomBrightness(0.1, value_range=(0, 1, 2))


# ---------------------------------------------------------------------- aliases
@pytest.mark.keras_oracle
def test_every_keras_alias_of_a_tensorflux_class_exists():
    k = import_keras()
    for module_name in ("layers", "initializers"):
        theirs, ours = getattr(k, module_name), getattr(keras, module_name)
        names = [n for n in dir(theirs) if not n.startswith("_")]
        for name in names:
            target = getattr(theirs, name)
            twins = [n for n in names if n != name and getattr(theirs, n) is target
                     and hasattr(ours, n)]
            if twins and isinstance(target, type):
                assert getattr(ours, name, None) is getattr(ours, twins[0]), \
                    f"keras.{module_name}.{name} should alias {twins[0]}"


def test_aliases_build_the_same_layers_and_initializers():
    assert keras.layers.Convolution2D is keras.layers.Conv2D
    assert keras.layers.SeparableConvolution1D is keras.layers.SeparableConv1D
    init = keras.initializers.glorot_uniform(seed=1)
    assert isinstance(init, keras.initializers.GlorotUniform)
    assert keras.initializers.serialize(init)["class_name"] == "GlorotUniform"
    assert keras.initializers.zeros()((2,)).numpy().tolist() == [0.0, 0.0]
    layer = keras.layers.deserialize(keras.layers.serialize(keras.layers.Dense(3)))
    assert type(layer) is keras.layers.Dense


# ---------------------------------------------------------------------- saving
def test_a_model_with_the_new_layers_saves_and_loads(tmp_path):
    inputs = keras.Input(shape=(6,))
    x = keras.layers.GroupNormalization(groups=3)(inputs)
    x = keras.layers.UnitNormalization()(x)
    x = keras.layers.Reshape((2, 3, 1))(x)
    x = keras.layers.RandomBrightness(0.1, value_range=(0, 1))(x)
    x = keras.layers.Reshape((6,))(x)
    x = keras.layers.Discretization(bin_boundaries=[-0.2, 0.0, 0.3])(x)
    outputs = keras.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")(x)
    model = keras.Model(inputs, outputs)
    group_norm = model.layers[1]
    group_norm.set_weights([np.arange(6, dtype="float32"), np.ones(6, "float32")])
    data = np.random.default_rng(6).normal(size=(5, 6)).astype("float32")
    expected = model(data, training=False).numpy()
    path = str(tmp_path / "added.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert [type(layer).__name__ for layer in restored.layers] == \
        [type(layer).__name__ for layer in model.layers]
    np.testing.assert_array_equal(restored(data, training=False).numpy(), expected)


@pytest.mark.keras_oracle
def test_keras_loads_a_tensorflux_file_with_the_new_layers(tmp_path):
    k = import_keras()
    inputs = keras.Input(shape=(4, 4, 2))
    x = keras.layers.GroupNormalization(groups=2)(inputs)
    x = keras.layers.UnitNormalization(axis=[1, 2])(x)
    outputs = keras.layers.RandomBrightness(0.2, value_range=(0, 1))(x)
    model = keras.Model(inputs, outputs)
    model.layers[1].set_weights([np.array([0.5, 2.0], "float32"),
                                 np.array([0.1, -0.3], "float32")])
    path = str(tmp_path / "for_keras.keras")
    model.save(path)
    theirs = k.saving.load_model(path)
    data = np.random.default_rng(7).normal(size=(2, 4, 4, 2)).astype("float32")
    assert_matches(model(data, training=False), theirs(data, training=False), rtol=1e-5,
                   atol=1e-5)
