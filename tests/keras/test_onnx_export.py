"""Model.export(format="onnx"): every exported model passes onnx.checker and runs in
onnxruntime with the predictions of model.predict; unmapped layers raise clear errors."""

import os

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.export import onnx_proto

L = keras.layers


def _roundtrip(model, inputs, tmp_path, rtol=1e-5, atol=1e-5, **export_kwargs):
    """Exports, checks and runs `model` in onnxruntime; compares with model.predict."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    path = os.path.join(tmp_path, "m.onnx")
    model.export(path, format="onnx", verbose=False, **export_kwargs)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    inputs = inputs if isinstance(inputs, list) else [inputs]
    got = session.run(None, dict(zip(names, inputs)))
    expected = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        e = np.asarray(e)
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)
    return proto


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _randomize(model, seed=1):
    """Random weights everywhere (biases and BN statistics included), so that no mapping
    is hidden by zeros or ones; variances stay positive."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        value = rng.standard_normal(tuple(w.shape)).astype("float32") * 0.5
        if "variance" in w.path:
            value = np.abs(value) + 0.5
        w.assign(value)
    return model


# ---------------------------------------------------------------- core layers

def test_dense_activations_dropout_sequential(tmp_path):
    model = keras.Sequential([
        keras.Input((6,)),
        L.Dense(8, activation="relu"), L.Dropout(0.5),
        L.Dense(8, activation="tanh"), L.Dense(8, activation="sigmoid"),
        L.Dense(8, activation="elu"), L.Dense(8, activation="selu"),
        L.Dense(8, activation="softplus"), L.Dense(8, activation="softsign"),
        L.Dense(8, activation="swish"), L.Dense(8, activation="gelu"),
        L.Dense(8, activation="hard_sigmoid"), L.Dense(8, activation="relu6"),
        L.Dense(8, activation="leaky_relu"), L.Dense(8, activation="mish"),
        L.Dense(8, activation="exponential"), L.Dense(8, activation="hard_silu"),
        L.Dense(8, activation="log_sigmoid"), L.Dense(8, activation="linear"),
        L.Dense(5, activation="softmax"),
    ])
    _randomize(model)
    _roundtrip(model, _rand(4, 6), tmp_path)


def test_activation_layers(tmp_path):
    model = keras.Sequential([
        keras.Input((4, 5)), L.Dense(5), L.ReLU(max_value=1.5), L.Dense(5),
        L.ReLU(negative_slope=0.1, threshold=0.2), L.Dense(5), L.LeakyReLU(0.3),
        L.Dense(5), L.PReLU(alpha_initializer="ones"), L.ELU(0.7), L.Dense(5),
        L.Activation("tanh"), L.Softmax(axis=1), L.Softmax(axis=(1, 2)),
        L.Activation("log_softmax"),
    ])
    _randomize(model)
    _roundtrip(model, _rand(3, 4, 5), tmp_path)


def test_batch_and_layer_normalization_in_inference(tmp_path):
    inputs = keras.Input((5, 6))
    x = L.BatchNormalization()(inputs)
    x = L.BatchNormalization(axis=1, center=False)(x)
    x = L.LayerNormalization()(x)
    x = L.LayerNormalization(axis=(1, 2), scale=False)(x)
    x = L.LayerNormalization(rms_scaling=True)(x)
    model = keras.Model(inputs, x)
    _randomize(model)
    _roundtrip(model, _rand(4, 5, 6) * 3 + 1, tmp_path)


def test_embedding_reshaping_and_merging_multiple_inputs_outputs(tmp_path):
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    features = keras.Input((3, 4), name="features")
    e = L.Embedding(20, 4)(tokens)
    e = L.Flatten()(e)
    f = L.Reshape((2, 6))(features)
    f = L.Permute((2, 1))(f)
    f = L.Flatten()(f)
    d1 = L.Dense(12)(e)
    d2 = L.Dense(12)(f)
    merged = [L.Add()([d1, d2]), L.Subtract()([d1, d2]), L.Multiply()([d1, d2]),
              L.Average()([d1, d2, d1]), L.Maximum()([d1, d2]), L.Minimum()([d1, d2])]
    x = L.Concatenate()(merged)
    r = L.RepeatVector(3)(L.Dense(4)(x))
    out1 = L.Dense(2, name="head_a")(x)
    out2 = L.Rescaling(0.5, offset=-1.0, name="head_b")(r * 2.0 + d1[:, :4][:, None, :])
    model = keras.Model([tokens, features], [out1, out2])
    _randomize(model)
    idx = np.random.default_rng(0).integers(0, 20, size=(5, 7)).astype("int32")
    proto = _roundtrip(model, [idx, _rand(5, 3, 4)], tmp_path)
    assert [o.name for o in proto.graph.output] == ["head_a", "head_b"]
    assert [i.name for i in proto.graph.input] == ["tokens", "features"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_normalization_layer(tmp_path):
    norm = L.Normalization()
    norm.adapt(_rand(50, 4) * 3 + 2)
    model = keras.Sequential([keras.Input((4,)), norm, L.Dense(3),
                              L.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 1.0, 0.25])])
    _roundtrip(model, _rand(6, 4), tmp_path)


# ---------------------------------------------------------------- convolutions and pooling

@pytest.mark.parametrize("padding,strides,dilation", [("valid", 1, 1), ("same", 2, 1),
                                                      ("same", 1, 2), ("valid", 2, 1)])
def test_conv2d_family(tmp_path, padding, strides, dilation):
    model = keras.Sequential([
        keras.Input((9, 8, 3)),
        L.ZeroPadding2D(((1, 0), (0, 2))),
        L.Conv2D(4, 3, strides=strides, padding=padding, dilation_rate=dilation,
                 activation="relu"),
        L.DepthwiseConv2D(2, depth_multiplier=2, padding=padding, strides=strides),
        L.SeparableConv2D(5, 3, padding="same", depth_multiplier=2),
        L.BatchNormalization(),
        L.Conv2DTranspose(3, 3, strides=2, padding=padding),
        L.MaxPooling2D(2, padding=padding),
        L.AveragePooling2D(2, strides=1, padding="same"),
        L.UpSampling2D((2, 3)),
        L.Cropping2D(((1, 0), (2, 1))),
        L.GlobalAveragePooling2D(),
        L.Dense(2),
    ])
    _randomize(model)
    _roundtrip(model, _rand(2, 9, 8, 3), tmp_path, rtol=1e-4, atol=1e-4)


def test_conv1d_family_and_groups(tmp_path):
    model = keras.Sequential([
        keras.Input((12, 4)),
        L.Conv1D(4, 3, padding="causal", dilation_rate=2),
        L.Conv1D(6, 3, padding="same", strides=2, groups=2),
        L.SeparableConv1D(4, 2, padding="same"),
        L.Conv1DTranspose(3, 3, strides=2, padding="same", output_padding=1),
        L.MaxPooling1D(2),
        L.AveragePooling1D(3, strides=2, padding="same"),
        L.UpSampling1D(2),
        L.ZeroPadding1D((2, 1)),
        L.Cropping1D((1, 2)),
        L.GlobalMaxPooling1D(keepdims=True),
        L.Flatten(),
    ])
    _randomize(model)
    _roundtrip(model, _rand(3, 12, 4), tmp_path, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "lanczos3"])
def test_interpolating_upsampling_and_conv_transpose_valid(tmp_path, interpolation):
    model = keras.Sequential([
        keras.Input((4, 5, 2)),
        L.UpSampling2D(2, interpolation=interpolation),
        L.Conv2DTranspose(3, (3, 2), strides=(2, 3), padding="valid"),
        L.Conv2DTranspose(2, 3, strides=2, padding="valid", output_padding=1),
        L.GlobalAveragePooling2D(),
    ])
    _randomize(model)
    _roundtrip(model, _rand(2, 4, 5, 2), tmp_path, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- recurrent layers

@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_gru_simple_rnn(tmp_path, return_sequences, go_backwards):
    inputs = keras.Input((6, 5))
    kwargs = dict(return_sequences=return_sequences, go_backwards=go_backwards)
    a = L.LSTM(4, **kwargs)(inputs)
    b = L.GRU(3, **kwargs)(inputs)
    c = L.GRU(3, reset_after=False, **kwargs)(inputs)
    d = L.SimpleRNN(2, activation="relu", **kwargs)(inputs)
    model = keras.Model(inputs, [a, b, c, d])
    _randomize(model)
    _roundtrip(model, _rand(3, 6, 5), tmp_path, rtol=1e-4, atol=1e-5)


def test_rnn_states_initial_state_and_no_bias(tmp_path):
    inputs = keras.Input((5, 3))
    out, h, c = L.LSTM(4, return_sequences=True, return_state=True, use_bias=False)(inputs)
    out2 = L.LSTM(4, recurrent_activation="hard_sigmoid")(out, initial_state=[h, c])
    g, gh = L.GRU(4, return_state=True)(inputs)
    model = keras.Model(inputs, [out2, g, gh])
    _randomize(model)
    _roundtrip(model, _rand(2, 5, 3), tmp_path, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
def test_bidirectional(tmp_path, merge_mode):
    inputs = keras.Input((6, 3))
    x = L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode=merge_mode)(inputs)
    if merge_mode is None:
        x = L.Concatenate()(x)
    y = L.Bidirectional(L.GRU(2))(x)
    model = keras.Model(inputs, y)
    _randomize(model)
    _roundtrip(model, _rand(4, 6, 3), tmp_path, rtol=1e-4, atol=1e-5)


def test_time_distributed(tmp_path):
    model = keras.Sequential([keras.Input((4, 5)), L.TimeDistributed(L.Dense(3)),
                              L.LSTM(2, return_sequences=True)])
    _randomize(model)
    _roundtrip(model, _rand(3, 4, 5), tmp_path, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- attention

@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention(tmp_path, causal):
    query = keras.Input((5, 8))
    value = keras.Input((5, 6))
    mha = L.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    out, scores = mha(query, value, return_attention_scores=True, use_causal_mask=causal)
    model = keras.Model([query, value], [out, scores])
    _randomize(model)
    _roundtrip(model, [_rand(2, 5, 8), _rand(2, 5, 6, seed=3)], tmp_path, rtol=1e-4,
               atol=1e-5)


def test_attention_mask_input_and_bidirectional_states(tmp_path):
    query = keras.Input((4, 6))
    mask = keras.Input((4, 4), dtype="bool")
    x = L.MultiHeadAttention(num_heads=2, key_dim=3)(query, query, attention_mask=mask)
    out, fh, fc, bh, bc = L.Bidirectional(L.LSTM(3, return_state=True))(x)
    model = keras.Model([query, mask], [out, fh, fc, bh, bc])
    _randomize(model)
    bool_mask = np.random.default_rng(4).random((2, 4, 4)) > 0.3
    _roundtrip(model, [_rand(2, 4, 6), bool_mask], tmp_path, rtol=1e-4, atol=1e-5)


def test_non_float32_models_are_refused(tmp_path):
    model = keras.Sequential([keras.Input((3,), dtype="float64"),
                              L.Dense(2, dtype="float64", name="d64")])
    with pytest.raises(NotImplementedError, match="float32"):
        model.export(os.path.join(tmp_path, "m.onnx"), format="onnx", verbose=False)


# ---------------------------------------------------------------- model kinds

def test_nested_sequential_in_functional(tmp_path):
    block = keras.Sequential([keras.Input((6,)), L.Dense(4, activation="relu"), L.Dense(4)])
    inputs = keras.Input((6,))
    outputs = L.Dense(1)(L.Add()([block(inputs), L.Dense(4)(inputs)]))
    model = keras.Model(inputs, outputs)
    _randomize(model)
    _roundtrip(model, _rand(3, 6), tmp_path)


class _Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.conv = L.Conv2D(3, 3, padding="same")
        self.pool = L.GlobalAveragePooling2D()
        self.head = L.Dense(2)

    def call(self, x, training=None):
        return self.head(self.pool(self.conv(x) * 0.5 + x))


def test_subclassed_model(tmp_path):
    model = _Net()
    model(_rand(1, 6, 6, 3))
    _randomize(model)
    before = [len(layer._inbound_nodes) for layer in model.layers]
    _roundtrip(model, _rand(2, 6, 6, 3), tmp_path)
    assert [len(layer._inbound_nodes) for layer in model.layers] == before
    model2 = _Net()
    model2(_rand(1, 6, 6, 3))
    _roundtrip(model2, _rand(2, 6, 6, 3), tmp_path,
               input_signature=[tf.TensorSpec((None, 6, 6, 3), "float32")])


def test_deferred_sequential_built_by_a_call(tmp_path):
    model = keras.Sequential([L.Dense(3, activation="relu"), L.Dense(2)])
    model(_rand(7, 4))
    _roundtrip(model, _rand(2, 4), tmp_path)


# ---------------------------------------------------------------- errors and file handling

def test_unmapped_layer_raises_naming_it(tmp_path):
    model = keras.Sequential([keras.Input((3,)), L.Lambda(lambda x: x * 2, name="double")])
    with pytest.raises(NotImplementedError, match="Lambda 'double'"):
        model.export(os.path.join(tmp_path, "m.onnx"), format="onnx", verbose=False)
    assert not os.listdir(tmp_path)


def test_custom_subclass_overriding_call_is_refused(tmp_path):
    class Twice(L.Dense):
        def call(self, inputs):
            return super().call(inputs) * 2

    model = keras.Sequential([keras.Input((3,)), Twice(2, name="twice")])
    with pytest.raises(NotImplementedError, match="Twice 'twice'"):
        model.export(os.path.join(tmp_path, "m.onnx"), format="onnx", verbose=False)


def test_masks_are_refused(tmp_path):
    model = keras.Sequential([keras.Input((5,), dtype="int32"),
                              L.Embedding(10, 3, mask_zero=True), L.LSTM(2, name="rnn")])
    with pytest.raises(NotImplementedError, match="LSTM 'rnn'.*mask"):
        model.export(os.path.join(tmp_path, "m.onnx"), format="onnx", verbose=False)


def test_other_formats_and_options(tmp_path, capsys):
    model = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    with pytest.raises(NotImplementedError, match="tf_saved_model"):
        model.export(os.path.join(tmp_path, "m"))
    with pytest.raises(ValueError, match="Unrecognized format"):
        model.export(os.path.join(tmp_path, "m"), format="pickle")
    with pytest.raises(ValueError, match="opset_version"):
        model.export(os.path.join(tmp_path, "m.onnx"), format="onnx", opset_version=9)
    path = os.path.join(tmp_path, "m.onnx")
    model.export(path, format="onnx")
    assert "Saved artifact at" in capsys.readouterr().out
    decoded = onnx_proto.decode_model(open(path, "rb").read())
    assert decoded["opset_import"] == [{"version": 17}]
    assert decoded["ir_version"] == 8
    kernel = next(t for t in decoded["graph"]["initializer"]
                  if t["name"] == model.layers[0].kernel.path)
    weights = np.frombuffer(kernel["raw_data"], "<f4").reshape(kernel["dims"])
    np.testing.assert_array_equal(weights, model.layers[0].kernel.numpy())


def test_failed_export_leaves_the_old_file(tmp_path):
    path = os.path.join(tmp_path, "m.onnx")
    with open(path, "wb") as handle:
        handle.write(b"old")
    model = keras.Sequential([keras.Input((3,)), L.Lambda(lambda x: x)])
    with pytest.raises(NotImplementedError):
        model.export(path, format="onnx", verbose=False)
    assert open(path, "rb").read() == b"old"
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_einsum_dense_gated_attention_and_subclassed_layer_inside_functional(tmp_path):
    query = keras.Input((4, 6))
    key = keras.Input((3, 5))
    x = L.EinsumDense("abc,cd->abd", output_shape=(None, 7), bias_axes="d",
                      activation="relu")(query)
    attention = L.MultiHeadAttention(num_heads=3, key_dim=2, use_gate=True)
    x = attention(x, key, key=key)
    inner = _Tail()
    inner(_rand(1, 4, 7))
    model = keras.Model([query, key], inner(x))
    _randomize(model)
    _roundtrip(model, [_rand(2, 4, 6), _rand(2, 3, 5, seed=5)], tmp_path, rtol=1e-4,
               atol=1e-5)


class _Tail(keras.Model):
    def __init__(self):
        super().__init__(name="tail")
        self.norm = L.LayerNormalization()
        self.dense = L.Dense(3)

    def call(self, x):
        return self.dense(self.norm(x))[:, -1]


def test_dot_layer(tmp_path):
    a, c = keras.Input((3,)), keras.Input((3,))
    s1, s2 = keras.Input((4, 3)), keras.Input((5, 3))
    outputs = [L.Dot(axes=1)([a, c]), L.Dot(axes=1, normalize=True)([a, c]),
               L.Dot(axes=(2, 2))([s1, s2]), L.Dot(axes=(2, 1))([s1, c]),
               L.Dot(axes=(1, 1), normalize=True)([L.Permute((2, 1))(s1), s2[:, :3]])]
    model = keras.Model([a, c, s1, s2], outputs)
    _roundtrip(model, [_rand(2, 3), _rand(2, 3, seed=1), _rand(2, 4, 3, seed=2),
                       _rand(2, 5, 3, seed=3)], tmp_path)


def test_unmapped_layer_error_lists_the_mapped_ones(tmp_path):
    model = keras.Sequential([keras.Input((4, 4, 1)), L.Masking(name="mask")])
    with pytest.raises(NotImplementedError, match="Masking 'mask' has no ONNX mapping.*Dense"):
        model.export(os.path.join(tmp_path, "m.onnx"), format="onnx", verbose=False)


def test_layers_with_lora_export_their_merged_kernels(tmp_path):
    # A LoRA layer's kernel is a tensor computed from three weights, with no variable path.
    model = keras.Sequential([keras.Input((5,), dtype="int32"), L.Embedding(7, 4), L.Flatten(),
                              L.Dense(6, activation="relu"), L.Dense(3)])
    model.build((None, 5))
    for layer in (model.layers[0], model.layers[2], model.layers[3]):
        layer.enable_lora(2)
        b = layer.lora_embeddings_b if layer is model.layers[0] else layer.lora_kernel_b
        b.assign(_rand(*b.shape, seed=3))  # (b starts at zeros: no update to check)
    ids = np.random.default_rng(1).integers(0, 7, (4, 5)).astype("int32")
    _roundtrip(model, ids, tmp_path)
