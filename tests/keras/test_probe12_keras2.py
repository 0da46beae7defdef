"""Probe round 12: Keras 2 / tf.keras 2.x scripts (StackOverflow and old tutorials) run with
the import changed to tensorflux. Where tf_keras 2.21 (Keras 2) runs an idiom and supporting it
costs nothing in Keras 3 behaviour, it runs here (K.function, fit_generator, save_weights to
`.h5`, layers.experimental.preprocessing, `input_shape.as_list()` in build, Embedding's
input_length); where Keras 3 deliberately differs, the error says what to write instead.
References: NumPy in float64, closed forms, real Keras 3 (torch) reading our files, and
tf_keras 2.21 behaviour observed in a separate environment (noted where used)."""

import warnings

import numpy as np
import pytest

import tensorflux as tf
from tests.keras._oracle import fresh_names, import_keras  # noqa: F401

keras = tf.keras
K = keras.backend
RNG = np.random.default_rng(12)
X = RNG.random((6, 4)).astype("float32")


def _mlp(dropout=0.0):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="relu", name="h")(inputs)
    hidden = keras.layers.Dropout(dropout)(hidden)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))


def _relu_features(model, x):
    kernel, bias = (w.astype(np.float64) for w in model.get_layer("h").get_weights())
    return np.maximum(x.astype(np.float64) @ kernel + bias, 0.0)


# ------------------------------------------------------------------ K.function

def test_k_function_extracts_a_layers_output_as_numpy():
    model = _mlp(dropout=0.9)  # inference mode: the dropout must not act
    extract = K.function([model.input], [model.get_layer("h").output])
    features = extract([X])
    assert isinstance(features, list) and len(features) == 1  # [output] in, [array] out
    assert isinstance(features[0], np.ndarray)
    np.testing.assert_allclose(features[0], _relu_features(model, X), rtol=1e-5, atol=1e-6)
    # A bare array for the one input works too (tf_keras 2.21 accepts it, observed).
    np.testing.assert_allclose(extract(X)[0], features[0])


def test_k_function_several_outputs_and_a_single_output():
    model = _mlp()
    both = K.function(model.inputs, [model.get_layer("h").output, model.output])(X)
    kernel, bias = (w.astype(np.float64) for w in model.get_layer("out").get_weights())
    np.testing.assert_allclose(both[1], _relu_features(model, X) @ kernel + bias,
                               rtol=1e-5, atol=1e-6)
    single = K.function(model.input, model.output)(X)  # not a list: an array back
    np.testing.assert_allclose(single, both[1], rtol=1e-6)


def test_k_function_refuses_what_only_a_tf1_session_could_run():
    model = _mlp()
    with pytest.raises(ValueError, match="Keras tensors"):
        K.function([tf.constant(X)], [model.output])
    with pytest.raises(ValueError, match="updates"):
        K.function([model.input], [model.output], updates=[object()])
    with pytest.raises(ValueError, match="Session keyword"):
        K.function([model.input], [model.output], options=None)


# ------------------------------------------------------------------ generator methods

def _batches(x, y, size=3):
    while True:
        for start in range(0, len(x), size):
            yield x[start:start + size], y[start:start + size]


def test_generator_methods_are_fit_evaluate_predict_with_a_warning():
    y = X.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    with pytest.warns(DeprecationWarning, match="use `Model.fit`"):
        history = model.fit_generator(_batches(X, y), steps_per_epoch=2, epochs=2, verbose=0,
                                      validation_data=_batches(X, y), validation_steps=2,
                                      workers=2, use_multiprocessing=False)
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    prediction = X.astype(np.float64) @ kernel + bias
    with pytest.warns(DeprecationWarning, match="use `Model.predict`"):
        predicted = model.predict_generator(_batches(X, y), steps=2)
    np.testing.assert_allclose(predicted, prediction, rtol=1e-5, atol=1e-6)
    with pytest.warns(DeprecationWarning, match="use `Model.evaluate`"):
        loss, mae = model.evaluate_generator(_batches(X, y), steps=2)
    np.testing.assert_allclose(loss, np.mean((prediction - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(mae, np.mean(np.abs(prediction - y)), rtol=1e-5)


def test_removed_prediction_methods_say_what_to_write_instead():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(AttributeError, match=r"np\.argmax\(model\.predict\(x\), axis=-1\)"):
        model.predict_classes(X)
    with pytest.raises(AttributeError, match=r"model\.predict\(x\) returns the probab"):
        model.predict_proba(X)
    assert not hasattr(model, "predict_classes")


# ------------------------------------------------------------------ save_weights("x.h5")

@pytest.mark.keras_oracle
@pytest.mark.parametrize("suffix", [".h5", ".hdf5"])
def test_save_weights_to_a_keras_2_h5_file_that_keras_reads(tmp_path, suffix):
    h5py = pytest.importorskip("h5py")
    path = str(tmp_path / f"w{suffix}")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    model.save_weights(path)
    with h5py.File(path, "r") as h5file:
        # Keras 2's weights-only layout (tf_keras 2.21's save_weights("w.h5"), observed):
        # layer_names at the root, one group per layer; tf_keras reads this file back.
        assert [n.decode() if isinstance(n, bytes) else n
                for n in h5file.attrs["layer_names"]] == [layer.name for layer in model.layers]
        assert "model_weights" not in h5file
    copy = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    copy.load_weights(path)
    for ours, loaded in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(ours, loaded)
    real = import_keras()
    theirs = real.Sequential([real.Input((4,)), real.layers.Dense(3, activation="relu"),
                              real.layers.BatchNormalization(), real.layers.Dense(2)])
    theirs.load_weights(path)
    for ours, loaded in zip(model.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(ours, np.asarray(loaded))


def test_save_weights_still_refuses_other_suffixes(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"`\.weights\.h5` \(or `\.h5`/`\.hdf5`"):
        model.save_weights(str(tmp_path / "w.ckpt"))


# ------------------------------------------------------------------ layers.experimental

def test_layers_experimental_preprocessing_are_the_stable_layers():
    P = keras.layers.experimental.preprocessing
    assert P.Normalization is keras.layers.Normalization
    assert keras.layers.experimental.EinsumDense is keras.layers.EinsumDense
    from tensorflux.keras.layers.experimental.preprocessing import Rescaling, TextVectorization

    assert Rescaling is keras.layers.Rescaling
    assert TextVectorization is keras.layers.TextVectorization
    data = RNG.random((10, 3))
    layer = P.Normalization(axis=-1)
    layer.adapt(data.astype("float32"))
    expected = (data - data.mean(axis=0)) / data.std(axis=0)
    np.testing.assert_allclose(layer(data.astype("float32")).numpy(), expected, atol=1e-4)


@pytest.mark.parametrize("path, name, hint", [
    ("layers.experimental", "SyncBatchNormalization", "synchronized=True"),
    ("layers.experimental.preprocessing", "PreprocessingLayer", "subclass keras.layers.Layer"),
    ("layers.experimental.preprocessing", "Dense", None),
])
def test_layers_experimental_names_it_never_had(path, name, hint):
    module = keras
    for part in path.split("."):
        module = getattr(module, part)
    with pytest.raises(AttributeError, match=f"'tf.keras.{path}' has no attribute '{name}'"
                       + (f".*{hint}" if hint else "")):
        getattr(module, name)


# ------------------------------------------------------------------ custom layers

class _AsListDense(keras.layers.Layer):
    """A Keras 2 layer: TensorShape methods on build's input_shape."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.seen = (input_shape.as_list(), input_shape.rank, input_shape.is_fully_defined())
        self.kernel = self.add_weight("kernel", (input_shape.as_list()[-1], self.units),
                                      "float32", "ones")
        super().build(input_shape)

    def call(self, inputs):
        return K.dot(inputs, self.kernel)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1].concatenate(self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_build_input_shape_answers_tensorshape_methods_and_is_a_tuple(tmp_path):
    layer = _AsListDense(2)
    model = keras.Sequential([keras.Input((4,)), layer])
    assert layer.seen == ([None, 4], 2, False)
    assert model.output_shape == (None, 2)
    np.testing.assert_allclose(model.predict(X, verbose=0),
                               np.repeat(X.astype(np.float64).sum(1, keepdims=True), 2, 1),
                               rtol=1e-6)
    recorded = layer.get_build_config()["input_shape"]
    assert type(recorded) is tuple and recorded == (None, 4)
    path = str(tmp_path / "m.h5")
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"_AsListDense": _AsListDense})
    assert loaded.layers[-1].seen == ([None, 4], 2, False)


def test_build_shape_of_a_multi_input_layer_stays_a_list_of_shapes():
    seen = {}

    class Pair(keras.layers.Layer):
        def build(self, input_shape):
            seen["shape"] = input_shape

        def call(self, inputs):
            return inputs[0] + inputs[1]

    Pair()([tf.constant(X), tf.constant(X)])
    assert [tuple(s) for s in seen["shape"]] == [(6, 4), (6, 4)]
    assert not hasattr(seen["shape"], "as_list")


def test_embedding_input_length_is_the_input_shape_as_in_keras_2():
    # tf_keras 2.21 (observed): Sequential([Embedding(10, 4, input_length=5), Flatten()])
    # is built at once, output shape (None, 20).
    model = keras.Sequential([keras.layers.Embedding(10, 4, input_length=5),
                              keras.layers.Flatten()])
    assert model.output_shape == (None, 5 * 4)
    tokens = np.array([[1, 2, 3, 4, 0]])
    table = model.layers[0].get_weights()[0]
    np.testing.assert_array_equal(model.predict(tokens, verbose=0), table[tokens].reshape(1, -1))


def test_batch_normalization_accepts_keras_2_fused():
    fused = keras.layers.BatchNormalization(fused=True)
    plain = keras.layers.BatchNormalization()
    x = tf.constant(X)
    np.testing.assert_array_equal(fused(x, training=True).numpy(),
                                  plain(x, training=True).numpy())


# ------------------------------------------------------------------ tf.compat.v1

@pytest.mark.parametrize("get, hint", [
    (lambda: tf.compat.v1.get_default_graph, "drop `graph = get_default_graph"),
    (lambda: tf.compat.v1.global_variables_initializer, "remove the call"),
    (lambda: tf.compat.v1.train.AdamOptimizer, r"tf\.keras\.optimizers\.Adam"),
    (lambda: tf.compat.v1.train.GradientDescentOptimizer, r"tf\.keras\.optimizers\.SGD"),
    (lambda: tf.compat.v1.layers, r"tf\.keras\.layers"),
])
def test_tf1_names_say_what_tf2_code_writes(get, hint):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match=hint):
            get()


def test_keras2_lr_and_sklearn_wrapper_errors_say_what_to_write():
    with pytest.raises(ValueError, match="learning_rate"):
        keras.optimizers.Adam(lr=1e-3)
    with pytest.raises(AttributeError, match="SKLearnClassifier"):
        keras.wrappers.scikit_learn  # noqa: B018
