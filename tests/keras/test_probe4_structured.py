"""Probe round s8, structured data: what fit/predict accept (pandas DataFrames and Series,
PyDataset's epoch hooks), merge layers over mixed dtypes, Normalization's given statistics,
HashedCrossing inside a model, and the keras.utils array helpers, checked against real
Keras 3.15.1 on torch (or NumPy where Keras needs TensorFlow).
"""

import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle


def _classifier(lib, features):
    model = lib.Sequential([lib.Input((features,)), lib.layers.Dense(3, activation="tanh"),
                            lib.layers.Dense(1, activation="sigmoid")])
    rng = np.random.RandomState(1)
    model.set_weights([(rng.standard_normal(w.shape) * 0.3).astype("float32")
                       for w in model.get_weights()])
    model.compile(lib.optimizers.SGD(0.1), "binary_crossentropy")
    return model


# ---------------------------------------------------------------- pandas in fit / predict
def _frame():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"a": rng.rand(12), "b": rng.rand(12) > 0.5,
                          "c": rng.randint(0, 5, 12).astype("int64")})
    labels = pd.Series((rng.rand(12) > 0.5).astype("int64"), name="t")
    return pd, frame, labels


def test_fit_predict_evaluate_take_a_dataframe_and_series():
    k = import_keras()
    pd, frame, labels = _frame()
    weights = pd.Series(np.linspace(0.5, 1.5, 12))
    results = []
    for lib in (keras, k):
        model = _classifier(lib, 3)
        history = model.fit(frame, labels, sample_weight=weights, batch_size=4, epochs=2,
                            shuffle=False, verbose=0, validation_split=0.25)
        results.append((history.history["loss"], history.history["val_loss"],
                        model.predict(frame, verbose=0), model.evaluate(frame, labels, verbose=0)))
    for ours, theirs in zip(*results):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-6)


def test_pandas_leaves_become_numeric_tensors():
    # Keras's array slicing: a DataFrame with mixed or non-floatx columns becomes floatx, a
    # Series a column; NumPy alone would give an object array for this frame.
    from tensorflux.keras.trainers.data_adapters import _to_tensor

    pd, frame, labels = _frame()
    assert np.asarray(frame).dtype == object
    tensor = _to_tensor(frame)
    assert (tensor.dtype.name, tuple(tensor.shape)) == ("float32", (12, 3))
    np.testing.assert_allclose(tensor.numpy(), frame.to_numpy(dtype="float64"), rtol=1e-6)
    assert tuple(_to_tensor(labels).shape) == (12, 1)
    ints = _to_tensor(frame[["c"]])
    assert ints.dtype.name == "int64"
    words = pd.Series(["a", "b"])
    values = _to_tensor(words.values)  # (an array, not a Series: stays 1-D)
    assert (values.dtype.name, tuple(values.shape)) == ("string", (2,))


def test_series_is_one_column_like_keras():
    k = import_keras()
    pd, frame, labels = _frame()
    column = frame["a"]
    ours = _classifier(keras, 1).predict(column, verbose=0)
    theirs = _classifier(k, 1).predict(column, verbose=0)
    assert_matches(ours, theirs)


def test_dataframe_with_a_string_column_names_it():
    pd, frame, labels = _frame()
    frame = frame.assign(city=["x", "y"] * 6)
    with pytest.raises(ValueError, match=r"non-numeric columns \{'city'"):
        _classifier(keras, 4).fit(frame, labels, epochs=1, verbose=0)


def test_dict_of_string_series_feeds_string_inputs():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"city": ["b", "a", "b"], "n": [1.0, 2.0, 3.0]})
    city = keras.Input((1,), name="city", dtype="string")
    n = keras.Input((1,), name="n")
    lookup = keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    model = keras.Model([city, n], keras.layers.concatenate([lookup(city), n]))
    out = model.predict(dict(frame), verbose=0)
    np.testing.assert_array_equal(out, [[0, 0, 1, 1], [0, 1, 0, 2], [0, 0, 1, 3]])


def test_scipy_sparse_matrices_train_like_keras():
    k = import_keras()
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.RandomState(0)
    dense = (rng.rand(12, 4) > 0.6) * rng.rand(12, 4)
    y = (dense.sum(1) > 0.8).astype("float32")
    results = []
    for lib in (keras, k):
        model = _classifier(lib, 4)
        history = model.fit(sparse.csr_matrix(dense), y, batch_size=4, epochs=2, shuffle=False,
                            verbose=0, validation_split=0.25)
        results.append((history.history["loss"], history.history["val_loss"],
                        model.predict(sparse.coo_matrix(dense), verbose=0)))
    for ours, theirs in zip(*results):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- PyDataset
class _Counted:
    """A PyDataset subclass (of the given library) that counts its epoch hooks."""

    @staticmethod
    def make(lib, x, y):
        class Counted(lib.utils.PyDataset):
            def __init__(self):
                super().__init__()
                self.ends = 0

            def __len__(self):
                return 3

            def __getitem__(self, index):
                return x[index * 4:(index + 1) * 4], y[index * 4:(index + 1) * 4]

            def on_epoch_end(self):
                self.ends += 1

        return Counted()


def test_pydataset_epoch_end_calls_match_keras():
    k = import_keras()
    rng = np.random.RandomState(0)
    x, y = rng.rand(12, 2).astype("float32"), (rng.rand(12) > 0.5).astype("float32")
    counts = []
    for lib in (keras, k):
        model = _classifier(lib, 2)
        train, val, test = (_Counted.make(lib, x, y) for _ in range(3))
        model.fit(train, validation_data=val, epochs=2, shuffle=False, verbose=0)
        model.evaluate(test, verbose=0)
        counts.append((train.ends, val.ends, test.ends))
    assert counts[0] == counts[1]


def test_pydataset_without_len_needs_num_batches():
    class NoLength(keras.utils.PyDataset):
        def __getitem__(self, index):
            return np.ones((2, 2)), np.ones(2)

    with pytest.raises(NotImplementedError, match="num_batches"):
        _classifier(keras, 2).fit(NoLength(), epochs=1, verbose=0)

    class Endless(NoLength):
        @property
        def num_batches(self):
            return None

    history = _classifier(keras, 2).fit(Endless(), epochs=1, steps_per_epoch=3, verbose=0)
    assert len(history.history["loss"]) == 1
    batches = iter(Endless())
    assert [next(batches)[0].shape for _ in range(3)] == [(2, 2)] * 3


def test_pydataset_of_length_zero_is_refused():
    class Empty(keras.utils.PyDataset):
        def __len__(self):
            return 0

        def __getitem__(self, index):
            return np.ones((2, 2)), np.ones(2)

    with pytest.raises(ValueError, match="length 0"):
        _classifier(keras, 2).fit(Empty(), epochs=1, verbose=0)


def test_pydataset_without_super_init_warns_and_defaults():
    class Bare(keras.utils.PyDataset):
        def __init__(self):
            self.n = 1

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return np.ones((2, 2)), np.ones(2)

    data = Bare()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (1, False, 10)
    assert any("super().__init__" in str(w.message) for w in caught)
    assert list(data)[0][0].shape == (2, 2)


# ---------------------------------------------------------------- merging over mixed dtypes
@pytest.mark.parametrize("other", ["int64", "int32", "bool", "float64"])
@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum",
                                  "Minimum", "Concatenate"])
def test_merge_layers_promote_mixed_dtypes(name, other):
    k = import_keras()
    a = np.array([[0.5, 1.5], [2.0, -1.0]], "float32")
    b = np.array([[1, 0], [3, 2]]).astype(other)
    ours = getattr(keras.layers, name)()([a, b])
    theirs = getattr(k.layers, name)()([a, b])
    assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
    assert_matches(ours, theirs)
    symbolic = getattr(keras.layers, name)()([keras.Input((2,)), keras.Input((2,), dtype=other)])
    assert symbolic.dtype == "float32"


def test_concatenate_lookup_ints_with_floats_in_a_model():
    ids = keras.Input((1,), dtype="int64")
    values = keras.Input((2,))
    joined = keras.layers.Concatenate()([values, keras.layers.CategoryEncoding(
        3, output_mode="one_hot", dtype="int64")(ids)])
    model = keras.Model([ids, values], keras.layers.Dense(1, kernel_initializer="ones")(joined))
    out = model.predict([np.array([[2], [0]]), np.ones((2, 2), "float32")], verbose=0)
    np.testing.assert_allclose(out, [[3.0], [3.0]])


# ---------------------------------------------------------------- Normalization
def test_normalization_checks_given_statistics_like_keras():
    adapted = keras.layers.Normalization()
    adapted.adapt(np.array([[1.0, 2.0], [3.0, 6.0]], "float32"))
    with pytest.raises(ValueError, match=r"rank of `mean`.*\(1, 2\)"):
        keras.layers.Normalization(mean=adapted.mean, variance=adapted.variance, invert=True)
    with pytest.raises(ValueError, match="same shape"):
        keras.layers.Normalization(mean=[1.0, 2.0], variance=[1.0])
    inverse = keras.layers.Normalization(mean=adapted.adapt_mean, variance=adapted.adapt_variance,
                                         invert=True)
    x = np.array([[2.0, 5.0]], "float32")
    np.testing.assert_allclose(inverse(adapted(x)), x, rtol=1e-6)


# ---------------------------------------------------------------- HashedCrossing in a model
def test_hashed_crossing_runs_inside_a_compiled_model():
    a = keras.Input((), dtype="string", name="a")
    b = keras.Input((), dtype="int64", name="b")
    crossing = keras.layers.HashedCrossing(num_bins=6, output_mode="one_hot")
    model = keras.Model([a, b], crossing((a, b)))
    words, numbers = np.array(["x", "y", "x"]), np.array([1, 2, 3])
    expected = crossing((tf.constant(words), tf.constant(numbers)))
    out = model.predict({"a": tf.constant(words), "b": numbers}, verbose=0)
    np.testing.assert_array_equal(out, expected)
    assert model.output.shape == (None, 6)


# ---------------------------------------------------------------- keras.utils helpers
def test_normalize_list_gives_float32_tensor_and_arrays_stay_numpy():
    k = import_keras()
    for value in ([[3.0, 4.0], [0.0, 0.0]], np.array([[3.0, 4.0]]), np.array([[1, 1]])):
        ours = keras.utils.normalize(value)
        theirs = k.utils.normalize(value)
        assert isinstance(ours, np.ndarray) == isinstance(theirs, np.ndarray)
        assert ours.dtype.name == str(theirs.dtype).replace("torch.", "")
        assert_matches(ours, theirs)


def test_pad_sequences_of_strings_keeps_str():
    k = import_keras()
    seqs = [["a", "bb"], ["c"], []]
    for kwargs in ({}, {"padding": "post", "maxlen": 1, "truncating": "post"}):
        ours = keras.utils.pad_sequences(seqs, dtype=object, value="", **kwargs)
        theirs = k.utils.pad_sequences(seqs, dtype=object, value="", **kwargs)
        assert ours.dtype == theirs.dtype
        assert ours.tolist() == theirs.tolist()


def test_timeseries_from_dataframe_keeps_its_dtype():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": np.arange(6.0), "b": np.arange(6.0) * 2})
    targets = pd.Series(np.arange(6, dtype="int64") * 10)
    ds = keras.utils.timeseries_dataset_from_array(frame, targets, sequence_length=2,
                                                   batch_size=8)
    x, y = next(iter(ds))
    assert (x.dtype.name, y.dtype.name) == ("float64", "int64")
    values = frame.to_numpy()
    np.testing.assert_array_equal(x.numpy(), np.stack([values[i:i + 2] for i in range(5)]))
    np.testing.assert_array_equal(y.numpy(), np.arange(5) * 10)


def test_normalization_mean_attribute_follows_loaded_weights(tmp_path):
    data = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]], "float32")
    layer = keras.layers.Normalization()
    layer.adapt(data)
    inputs = keras.Input((2,))
    keras.Model(inputs, layer(inputs)).save(tmp_path / "n.keras")
    loaded = keras.models.load_model(tmp_path / "n.keras").layers[1]
    np.testing.assert_allclose(loaded.mean, [data.mean(0)], rtol=1e-6)
    np.testing.assert_allclose(loaded.variance, [data.var(0)], rtol=1e-5)
    assert tuple(loaded.mean.shape) == (1, 2)


def test_feature_space_adapt_on_feature_label_pairs_says_how_to_fix():
    space = keras.utils.FeatureSpace({"f": "float_normalized"})
    pairs = tf.data.Dataset.from_tensor_slices(({"f": np.arange(4.0)}, np.arange(4)))
    with pytest.raises(TypeError, match=r"lambda x, y: x"):
        space.adapt(pairs)
    space.adapt(pairs.map(lambda x, y: x))
    np.testing.assert_allclose(space({"f": np.array([1.5])}), [[0.0]], atol=1e-6)
