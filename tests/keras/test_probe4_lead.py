"""Probe round 4 fixes made by the lead: labels for only the outputs that have a loss, and
class_weight against a dataset's own sample weights; checked against real Keras."""

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, import_keras

pytestmark = pytest.mark.keras_oracle


def _two_output_model(k):
    """An Embedding whose output is both a Dense head and a second, loss-free output (the
    keras.io miniature GPT returns its logits and the embeddings this way)."""
    inp = k.Input((6,), dtype="int32")
    x = k.layers.Embedding(30, 4, embeddings_initializer="ones")(inp)
    head = k.layers.Dense(30, kernel_initializer="ones", name="head")(x)
    return k.Model(inp, [head, x])


def test_single_y_goes_to_the_only_output_with_a_loss():
    real = import_keras()
    x = np.arange(24, dtype="int32").reshape(4, 6) % 30
    y = (np.arange(24, dtype="int32").reshape(4, 6) * 7) % 30
    results = []
    for k in (keras, real):
        model = _two_output_model(k)
        model.compile(k.optimizers.SGD(0.1),
                      loss=[k.losses.SparseCategoricalCrossentropy(from_logits=True), None],
                      metrics=[["accuracy"], None])
        evaluated = model.evaluate(x, y, verbose=0)
        history = model.fit(x, y, epochs=2, verbose=0, shuffle=False).history
        results.append((evaluated, history))
    (ours_eval, ours_hist), (their_eval, their_hist) = results
    assert_matches(np.array(ours_eval), np.array(their_eval), rtol=1e-5, what="evaluate")
    assert sorted(ours_hist) == sorted(their_hist)
    for key in their_hist:
        assert_matches(np.array(ours_hist[key]), np.array(their_hist[key]), rtol=1e-5, what=key)


def test_a_label_dict_may_leave_out_outputs_without_a_loss():
    real = import_keras()
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
    y = np.array([[0.5], [-1.0], [2.0], [0.0]], "float32")
    histories = []
    for k in (keras, real):
        inputs = k.Input((3,))
        a = k.layers.Dense(1, name="a", kernel_initializer="ones")(inputs)
        b = k.layers.Dense(1, name="b", kernel_initializer="ones")(inputs)
        model = k.Model(inputs, {"a": a, "b": b})
        model.compile(k.optimizers.SGD(0.1), loss={"a": "mse"})
        histories.append(model.fit(x, {"a": y}, epochs=2, verbose=0, shuffle=False).history)
    assert_matches(np.array(histories[0]["loss"]), np.array(histories[1]["loss"]), rtol=1e-5)


def test_an_output_with_a_loss_still_needs_its_labels():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, [keras.layers.Dense(1)(inputs), keras.layers.Dense(1)(inputs)])
    model.compile("sgd", loss=["mse", "mse"])
    with pytest.raises(ValueError, match=r"2 outputs.*single array of shape \(4, 1\)"):
        model.fit(np.ones((4, 3)), np.zeros((4, 1)), verbose=0)


def test_metrics_on_an_output_without_labels_are_an_error():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, [keras.layers.Dense(1)(inputs), keras.layers.Dense(1)(inputs)])
    model.compile("sgd", loss=["mse", None], metrics=[None, ["mae"]])
    with pytest.raises(ValueError, match="has metrics.*no labels"):
        model.fit(np.ones((4, 3)), np.zeros((4, 1)), verbose=0)


def test_class_weight_with_a_dataset_of_sample_weights_is_an_error():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    data = tf.data.Dataset.from_tensor_slices(
        (np.ones((4, 2), "float32"), np.array([0, 1, 0, 1]), np.ones(4, "float32"))).batch(2)
    with pytest.raises(ValueError, match="class_weight` and `sample_weight"):
        model.fit(data, class_weight={0: 1.0, 1: 2.0}, verbose=0)


@pytest.mark.parametrize("name, kwargs", [
    ("Conv1D", {"filters": 2, "kernel_size": 2}),
    ("MaxPooling1D", {"pool_size": 2}),
    ("AveragePooling1D", {"pool_size": 2}),
    ("SeparableConv1D", {"filters": 2, "kernel_size": 2}),
    ("DepthwiseConv1D", {"kernel_size": 2}),
])
def test_1d_layers_build_on_unknown_batch_and_length(name, kwargs):
    """keras.io's "pretrained word embeddings": Input((None,)) -> Embedding -> Conv1D; neither
    the batch nor the length is known when the model is built."""
    real = import_keras()
    x = np.linspace(-1, 1, 4 * 9 * 3, dtype="float32").reshape(4, 9, 3)
    outputs = []
    for k in (keras, real):
        inputs = k.Input((None, 3))
        model = k.Model(inputs, getattr(k.layers, name)(**kwargs)(inputs))
        if not outputs:
            weights = [np.linspace(-0.5, 0.5, w.size, dtype="float32").reshape(w.shape)
                       for w in model.get_weights()]
        model.set_weights(weights)
        outputs.append(model.predict(x, verbose=0))
    assert_matches(outputs[0], outputs[1], rtol=1e-5, atol=1e-6, what=name)


def test_string_object_arrays_are_converted_without_touching_the_callers_array():
    words = np.array(["x", "y"], dtype=object)
    words.flags.writeable = False  # (as a pandas column's values can be)
    assert tf.constant(words).numpy().tolist() == [b"x", b"y"]
    assert words.tolist() == ["x", "y"] and isinstance(words[0], str)


def test_pandas_columns_keep_their_numpy_dtypes_in_from_tensor_slices():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"f": [1.5, 2.0], "i": [1, 2], "s": ["a", "b"]})
    spec = tf.data.Dataset.from_tensor_slices(dict(frame)).element_spec
    # NumPy's own dtypes of the columns, as TensorFlow keeps them (not float32/int32)
    assert {k: v.dtype.name for k, v in spec.items()} == {
        "f": "float64", "i": "int64", "s": "string"}


def test_stateless_call_matches_keras_and_leaves_the_variables_alone():
    real = import_keras()
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
    results = []
    for k in (keras, real):
        layer = k.layers.BatchNormalization()
        layer.build((None, 3))
        before = [v.numpy().copy() for v in layer.weights]
        trainable = [np.full(v.shape, 2.0, "float32") for v in layer.trainable_variables]
        non_trainable = [np.full(v.shape, 0.5, "float32") for v in layer.non_trainable_variables]
        out, new_non_trainable = layer.stateless_call(trainable, non_trainable, x, training=True)
        results.append((np.asarray(out), [np.asarray(v) for v in new_non_trainable]))
        for v, old in zip(layer.weights, before):
            assert np.array_equal(v.numpy(), old)
    assert_matches(results[0][0], results[1][0], rtol=1e-5, atol=1e-6, what="outputs")
    for ours, theirs in zip(results[0][1], results[1][1]):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-6, what="moving statistics")


def test_stateless_call_needs_one_value_per_variable():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(ValueError, match="trainable_variables.*length 1.*expected 2"):
        layer.stateless_call([np.ones((3, 2), "float32")], [], np.ones((1, 3), "float32"))


def test_layer_variables_value_is_a_property_as_in_keras():
    real = import_keras()
    values = []
    for k in (keras, real):
        layer = k.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
        layer.build((None, 3))
        values.append([np.asarray(k.ops.convert_to_numpy(v.value)) for v in layer.weights])
    for ours, theirs in zip(*values):
        assert_matches(ours, theirs, what="variable.value")


def test_dense_multiplies_a_sparse_tensor_as_its_dense_form():
    layer = keras.layers.Dense(2, activation="relu")
    dense = np.array([[0.0, 1.5, 0.0], [-2.0, 0.0, 3.0]], "float32")
    sparse = tf.sparse.from_dense(tf.constant(dense))
    out = layer(sparse).numpy()
    kernel, bias = (w.astype("float64") for w in layer.get_weights())
    assert np.allclose(out, np.maximum(dense.astype("float64") @ kernel + bias, 0), atol=1e-6)


def test_input_layer_keeps_ragged_in_its_config_as_keras():
    # Keras's torch backend refuses ragged=True; this is the config Keras 3.15 on TensorFlow
    # prints for the same InputLayer.
    config = keras.layers.InputLayer(shape=(None,), ragged=True, dtype="int32",
                                     name="tokens").get_config()
    assert config == {"batch_shape": (None, None), "dtype": "int32", "sparse": False,
                      "ragged": True, "name": "tokens", "optional": False}


def test_tf_keras_preprocessing_imports_give_the_legacy_names():
    from tensorflux.keras.legacy.preprocessing import image as legacy_image
    from tensorflux.keras.legacy.preprocessing import text as legacy_text
    from tensorflux.keras.preprocessing.image import ImageDataGenerator
    from tensorflux.keras.preprocessing.sequence import TimeseriesGenerator  # noqa: F401
    from tensorflux.keras.preprocessing.text import Tokenizer

    assert ImageDataGenerator is legacy_image.ImageDataGenerator
    assert Tokenizer is legacy_text.Tokenizer
    import tensorflux.keras.preprocessing.image as image_module

    with pytest.raises(AttributeError, match="no_such_name"):
        image_module.no_such_name  # noqa: B018


def test_save_format_with_a_directory_path_is_a_value_error_as_in_keras(tmp_path):
    real = import_keras()
    for k in (keras, real):
        model = k.Sequential([k.Input((2,)), k.layers.Dense(1)])
        with pytest.raises(ValueError, match=r"save_format.*\.keras.*save_format=tf"):
            model.save(str(tmp_path / "saved"), save_format="tf")
    assert not (tmp_path / "saved").exists()


def test_a_layer_used_twice_in_a_sequential_shares_its_weights_as_in_keras():
    real = import_keras()
    x = np.array([[0.5, -1.0], [2.0, 0.25]], "float32")
    outputs = []
    for k in (keras, real):
        dense = k.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")
        model = k.Sequential([k.Input((2,)), dense, dense])
        assert len(model.weights) == 2
        outputs.append(model.predict(x, verbose=0))
    assert_matches(outputs[0], outputs[1])


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_an_empty_batch_leaves_the_epoch_loss_as_without_it(run_eagerly):
    """A generator that yields an empty batch between full ones (TensorFlow's traced step
    adds 0 for it): the epoch's loss is that of the full batches alone, not NaN."""
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(8, 3)
    y = (x.sum(1, keepdims=True) > 0).astype("float32")

    def batches(with_empty):
        for _ in range(2):
            yield x, y
            if with_empty:
                yield x[8:8], y[8:8]

    histories = []
    for with_empty, steps in ((True, 4), (False, 2)):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
            1, activation="sigmoid", kernel_initializer="ones")])
        model.compile("sgd", "binary_crossentropy", run_eagerly=run_eagerly)
        history = model.fit(batches(with_empty), epochs=1, steps_per_epoch=steps, verbose=0)
        histories.append((history.history["loss"], model.evaluate(batches(with_empty),
                                                                   steps=steps, verbose=0)))
    assert np.isfinite(histories[0][0]).all()
    assert_matches(np.array(histories[0][0]), np.array(histories[1][0]), rtol=1e-6)
    assert_matches(np.array(histories[0][1]), np.array(histories[1][1]), rtol=1e-6)


def test_layer_normalization_names_itself_for_a_new_feature_size():
    layer = keras.layers.LayerNormalization(name="ln")
    layer(np.ones((2, 4), "float32"))
    assert layer(np.ones((3, 7, 4), "float32")).shape == (3, 7, 4)  # other ranks still run
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln'.*dimension 4.*\(2, 5\)"):
        layer(np.ones((2, 5), "float32"))


def test_bfloat16_layers_build_and_draw_in_the_half_open_interval():
    pytest.importorskip("ml_dtypes")
    real = import_keras()
    dtypes = []
    for k in (keras, real):
        dense = k.layers.Dense(2, dtype="bfloat16")
        dense.build((None, 3))
        kernel_dtype = dense.kernel.dtype
        dtypes.append((getattr(kernel_dtype, "name", kernel_dtype), dense.compute_dtype))
    assert dtypes[0] == dtypes[1] == ("bfloat16", "bfloat16")
    draws = tf.random.stateless_uniform([200, 200], seed=[1, 2], dtype=tf.bfloat16)
    values = draws.numpy().astype("float64")
    assert values.min() >= 0.0 and values.max() < 1.0
