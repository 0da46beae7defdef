"""ONNX export and legacy `.h5` loading fixes from the probe round, checked against real Keras
3 (torch backend): the exported graph, run in onnxruntime, gives real Keras's predictions with
the same weights (GroupNormalization, UnitNormalization, 3-D padding/cropping/upsampling,
CenterCrop, Resizing, Attention, AdditiveAttention, ConvNeXt's LayerScale), and tf.keras 2
files whose recurrent layers carry `time_major=False` load."""

import json
import os

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy  # noqa: F401

pytestmark = pytest.mark.keras_oracle

RNG = np.random.default_rng(0)


def _rand(*shape):
    return RNG.standard_normal(shape).astype("float32")


def _onnx_run(model, inputs, tmp_path):
    """Exports `model`, checks the proto and runs it in onnxruntime."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = os.path.join(tmp_path, "m.onnx")
    model.export(path, format="onnx", verbose=False)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def _check_against_keras(build, inputs, tmp_path, atol=1e-5):
    """`build(keras_module)` in both libraries, real Keras's weights copied (random ones, so
    that no mapping hides behind ones and zeros); the ONNX outputs must equal real Keras's
    predictions and ours."""
    k = import_keras()
    theirs = build(k)
    rng = np.random.default_rng(1)
    weights = []
    for w in theirs.weights:
        value = rng.standard_normal(tuple(w.shape)).astype("float32") * 0.5
        weights.append(np.abs(value) + 0.5 if "variance" in w.path else value)
    theirs.set_weights(weights)
    ours = build(keras)
    ours.set_weights(weights)
    expected = theirs.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    got = _onnx_run(ours, inputs, tmp_path)
    predicted = ours.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    predicted = predicted if isinstance(predicted, (list, tuple)) else [predicted]
    assert len(got) == len(expected)
    for g, e, p in zip(got, expected, predicted):
        assert_matches(g, to_numpy(e), rtol=1e-4, atol=atol, what="onnx vs Keras")
        assert_matches(g, p, rtol=1e-4, atol=atol, what="onnx vs predict")


@pytest.mark.parametrize("case", ["group_norm_2d", "group_norm_1d", "unit_norm", "layers_3d",
                                  "center_crop", "resize_up", "resize_down"])
def test_new_layer_mappings_match_real_keras(case, tmp_path):
    def build(k):
        layers = {
            "group_norm_2d": ((6, 5, 4), [k.layers.GroupNormalization(2)]),
            "group_norm_1d": ((7, 6), [k.layers.GroupNormalization(3, center=False),
                                       k.layers.GroupNormalization(-1, scale=False)]),
            "unit_norm": ((7, 6), [k.layers.UnitNormalization(),
                                   k.layers.UnitNormalization(axis=[1, 2])]),
            "layers_3d": ((3, 4, 5, 2), [k.layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1))),
                                         k.layers.UpSampling3D((2, 1, 3)),
                                         k.layers.Cropping3D(((0, 1), (2, 1), (3, 0)))]),
            "center_crop": ((9, 8, 3), [k.layers.CenterCrop(4, 5)]),
            "resize_up": ((5, 6, 3), [k.layers.Resizing(8, 13)]),
            "resize_down": ((9, 8, 3), [k.layers.Resizing(4, 6)]),
        }
        shape, stack = layers[case]
        return k.Sequential([k.Input(shape)] + stack + [k.layers.AlphaDropout(0.3)])

    shape = build(keras).input_shape[1:]
    _check_against_keras(build, [_rand(2, *shape)], tmp_path)


@pytest.mark.parametrize("kind", ["dot", "scaled_causal", "concat", "additive"])
def test_attention_layers_match_real_keras(kind, tmp_path):
    def build(k):
        query, value = k.Input((5, 4)), k.Input((6, 4))
        if kind == "additive":
            layer = k.layers.AdditiveAttention()
        else:
            layer = k.layers.Attention(use_scale=kind != "dot",
                                       score_mode="concat" if kind == "concat" else "dot")
        out, scores = layer([query, value, value * 0.5], return_attention_scores=True,
                            use_causal_mask=kind == "scaled_causal")
        return k.Model([query, value], [out, scores])

    _check_against_keras(build, [_rand(2, 5, 4), _rand(2, 6, 4)], tmp_path)


@pytest.mark.parametrize("padding, strides, kernel, output_padding", [
    ("same", 2, 3, None), ("valid", 2, 3, None), ("valid", 3, 2, None), ("same", 2, 4, 1),
    ("valid", 2, 3, 1)])
def test_conv_transpose_with_unknown_spatial_size(padding, strides, kernel, output_padding,
                                                  tmp_path):
    def build(k):
        return k.Sequential([k.Input((None, None, 3)),
                             k.layers.Conv2DTranspose(2, kernel, strides=strides,
                                                      padding=padding,
                                                      output_padding=output_padding)])

    for height, width in [(4, 5), (7, 3)]:
        _check_against_keras(build, [_rand(2, height, width, 3)], tmp_path)


@pytest.mark.parametrize("return_sequences", [False, True])
def test_rnn_layer_over_cells_and_stacked_cells(return_sequences, tmp_path):
    def build(k):
        inputs = k.Input((5, 3))
        single = k.layers.RNN(k.layers.GRUCell(3), return_sequences=True)(inputs)
        stacked = k.layers.RNN([k.layers.LSTMCell(4), k.layers.SimpleRNNCell(2)],
                               return_sequences=return_sequences)(single)
        return k.Model(inputs, [single, stacked])

    _check_against_keras(build, [_rand(2, 5, 3)], tmp_path)


def test_resizing_nearest_follows_tf_half_pixel_rule(tmp_path):
    # tf.image.resize(method="nearest") reads source index floor((i + 0.5) * in / out).
    x = _rand(1, 5, 7, 2)
    model = keras.Sequential([keras.Input((5, 7, 2)),
                              keras.layers.Resizing(8, 3, interpolation="nearest")])
    rows = np.minimum(np.floor((np.arange(8) + 0.5) * 5 / 8).astype(int), 4)
    cols = np.minimum(np.floor((np.arange(3) + 0.5) * 7 / 3).astype(int), 6)
    (got,) = _onnx_run(model, [x], tmp_path)
    np.testing.assert_array_equal(got, x[:, rows][:, :, cols])


def test_resizing_options_without_mapping_are_refused_naming_them(tmp_path):
    model = keras.Sequential([keras.Input((5, 7, 2)),
                              keras.layers.Resizing(4, 4, crop_to_aspect_ratio=True,
                                                    name="resize")])
    with pytest.raises(NotImplementedError, match="Resizing 'resize'.*crop_to_aspect_ratio"):
        model.export(os.path.join(tmp_path, "m.onnx"), format="onnx", verbose=False)


def test_convnext_layer_scale_and_stochastic_depth(tmp_path):
    from tensorflux.keras.applications.convnext import LayerScale, StochasticDepth

    model = keras.Sequential([keras.Input((3, 4)), LayerScale(0.5, 4), StochasticDepth(0.3)])
    gamma = _rand(4)
    model.set_weights([gamma])
    x = _rand(2, 3, 4)
    (got,) = _onnx_run(model, [x], tmp_path)
    np.testing.assert_allclose(got, x * gamma, rtol=1e-6)


def test_untraceable_custom_layer_error_names_layer_and_class(tmp_path):
    import tensorflux as tf

    class RunningTotal(keras.layers.Layer):
        def call(self, x):
            return tf.math.cumsum(x, axis=1)  # a tensorflux op: not traceable symbolically

    model = keras.Sequential([keras.Input((3,)), RunningTotal(name="total")])
    with pytest.raises(NotImplementedError, match="RunningTotal 'total' could not be traced"):
        model.export(os.path.join(tmp_path, "m.onnx"), format="onnx", verbose=False)


def test_custom_layers_made_of_layers_and_operators_are_traced(tmp_path):
    def build(k):
        class Block(k.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = k.layers.Dense(4)
                self.norm = k.layers.LayerNormalization()

            def call(self, x, training=None):
                return self.norm(x + self.dense(x)) * 0.5 - 1.0

        inputs = k.Input((6, 4))
        return k.Model(inputs, k.layers.Dense(2)(Block()(inputs)))

    _check_against_keras(build, [_rand(2, 6, 4)], tmp_path)


def test_keras_ops_in_functional_graphs(tmp_path):
    def build(k):
        ops = k.ops
        x = k.Input((6, 4))
        mean = ops.mean(x, axis=1)
        return k.Model(x, [
            ops.concatenate([mean, ops.max(x, axis=1), ops.sum(x, axis=[1, 2], keepdims=True)[
                :, 0]], axis=-1),
            ops.stack([mean, ops.min(x, axis=1)], axis=1), ops.reshape(x, (-1, 24)),
            ops.sqrt(ops.abs(x) + 1.0) + ops.exp(-x) + ops.log(ops.square(x) + 1.0),
            ops.transpose(x, (0, 2, 1)), ops.squeeze(ops.expand_dims(mean, 1), 1),
            ops.clip(x, -0.5, 0.6), ops.where(x > 0.5, x, 0.0),
            ops.maximum(x, 0.1) / ops.minimum(x, -0.1), ops.softmax(x, axis=1),
            ops.log_softmax(x, axis=-1), ops.sigmoid(x) * ops.tanh(x) + ops.relu(x),
            ops.argmax(x, axis=-1), ops.cast(x > 0.3, "float32"), ops.prod(x, axis=-1)])

    _check_against_keras(build, [_rand(2, 6, 4)], tmp_path)


# ---------------------------------------------------------------- tf.keras 2 `.h5` files

def _tf_keras2_lstm(name, units, return_sequences):
    """An LSTM entry as tf.keras 2.x wrote it (time_major and implementation included)."""
    return {"class_name": "LSTM", "config": {
        "name": name, "trainable": True, "dtype": "float32", "units": units,
        "return_sequences": return_sequences, "return_state": False, "go_backwards": False,
        "stateful": False, "unroll": False, "time_major": False, "activation": "tanh",
        "recurrent_activation": "sigmoid", "use_bias": True, "unit_forget_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "recurrent_initializer": {"class_name": "Orthogonal",
                                  "config": {"gain": 1.0, "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2}}


def test_tf_keras2_h5_with_time_major_recurrent_layers_loads(tmp_path):
    h5py = pytest.importorskip("h5py")
    k = import_keras()
    theirs = k.Sequential([k.Input((6, 3)), k.layers.LSTM(4, return_sequences=True, name="l1"),
                           k.layers.Bidirectional(k.layers.LSTM(2), name="bi"),
                           k.layers.Dense(2, name="out")])
    rng = np.random.default_rng(2)
    theirs.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.5
                        for w in theirs.get_weights()])
    path = os.path.join(tmp_path, "m.h5")
    theirs.save(path)
    # The same architecture in tf.keras 2.x's config spelling.
    dense = {"class_name": "Dense", "config": {"name": "out", "trainable": True,
                                               "dtype": "float32", "units": 2,
                                               "activation": "linear", "use_bias": True}}
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6, 3],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "input_1"}},
        _tf_keras2_lstm("l1", 4, True),
        {"class_name": "Bidirectional", "config": {"name": "bi", "trainable": True,
                                                   "dtype": "float32", "merge_mode": "concat",
                                                   "layer": _tf_keras2_lstm("lstm", 2, False)}},
        dense]}}
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.12.0"
    ours = keras.models.load_model(path)
    assert "time_major" not in ours.get_layer("l1").get_config()
    x = _rand(3, 6, 3)
    assert_matches(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5,
                   atol=1e-6)


def test_compiled_h5_with_a_custom_loss_named_in_custom_objects(tmp_path):
    k = import_keras()

    def doubled_mae(y_true, y_pred):
        return k.ops.mean(k.ops.abs(y_true - y_pred), axis=-1) * 2.0

    theirs = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
    theirs.compile("adam", loss=doubled_mae)
    path = os.path.join(tmp_path, "m.h5")
    theirs.save(path)

    def ours_loss(y_true, y_pred):
        return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1) * 2.0

    model = keras.models.load_model(path, custom_objects={"doubled_mae": ours_loss})
    x, y = _rand(4, 3), _rand(4, 2)
    expected = np.mean(np.abs(y - model.predict(x, verbose=0)), axis=-1).mean() * 2.0
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)
    with pytest.warns(UserWarning, match="doubled_mae"):
        assert keras.models.load_model(path).optimizer is None


def test_tf_keras2_only_config_keys_are_dropped_and_time_major_true_kept():
    from tensorflux.keras.saving.legacy_h5 import _fix_legacy_config

    mha = {"class_name": "MultiHeadAttention",
           "config": {"name": "mha", "num_heads": 2, "key_dim": 3, "query_shape": [None, 4, 2],
                      "key_shape": [None, 4, 2], "value_shape": [None, 4, 2]}}
    backwards = {"class_name": "GRU", "config": {"units": 2, "time_major": True}}
    wrapped = {"class_name": "TimeDistributed", "config": {"layer": mha}}
    fixed = _fix_legacy_config({"class_name": "Model", "config": {"layers": [wrapped,
                                                                             backwards]}})
    assert fixed["class_name"] == "Functional"
    inner, gru = fixed["config"]["layers"]
    assert inner["config"]["layer"]["config"] == {"name": "mha", "num_heads": 2, "key_dim": 3}
    assert gru["config"] == {"units": 2, "time_major": True}
    with pytest.raises(ValueError, match="time_major"):
        keras.layers.GRU.from_config(gru["config"])


def test_keras2_config_with_tensors_in_node_kwargs_builds_the_same_graph():
    """tf.keras 2 wrote `mha(query, value=v)`'s keyword tensor as [layer, node, tensor] in the
    node's kwargs; the model built from that config computes what the same graph built
    directly computes (it got the list itself as `value`)."""
    import json

    def layer(class_name, name, **config):
        return {"class_name": class_name, "name": name,
                "config": {"name": name, "trainable": True, "dtype": "float32", **config}}

    def input_layer(name):
        return {**layer("InputLayer", name, batch_input_shape=[None, 5, 4], sparse=False,
                        ragged=False), "inbound_nodes": []}

    config = {"class_name": "Functional", "config": {"name": "model", "layers": [
        input_layer("q"), input_layer("v"),
        {**layer("MultiHeadAttention", "mha", num_heads=2, key_dim=3),
         "inbound_nodes": [[["q", 0, 0, {"value": ["v", 0, 0]}]]]}],
        "input_layers": [["q", 0, 0], ["v", 0, 0]], "output_layers": [["mha", 0, 0]]}}
    loaded = keras.models.model_from_json(json.dumps(config))
    query, value = keras.Input((5, 4), name="q"), keras.Input((5, 4), name="v")
    direct = keras.Model([query, value],
                         keras.layers.MultiHeadAttention(2, 3, name="mha")(query, value=value))
    rng = np.random.RandomState(0)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in direct.get_weights()]
    direct.set_weights(weights)
    loaded.set_weights(weights)
    q, v = rng.rand(2, 5, 4).astype("float32"), rng.rand(2, 5, 4).astype("float32")
    np.testing.assert_allclose(loaded.predict([q, v], verbose=0),
                               direct.predict([q, v], verbose=0), rtol=1e-6)
