"""Keras 3 int8 quantization: keras.quantizers' functions, `layer.quantize("int8")` and
`model.quantize("int8")` for Dense, EinsumDense and Embedding, QuantizedDTypePolicy, and
quantized models' files, checked against real Keras 3.15 (torch backend): the same float
weights give the same int8 weights, scales, outputs and gradients, and files move both ways.

(Model.quantize, Layer.quantize/quantization_mode and the file order of quantized layers
hook into models/model.py, layers/base.py and saving/saving_lib.py.)
"""

import warnings

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras, to_numpy, weight_specs  # noqa: F401

pytestmark = pytest.mark.keras_oracle


@pytest.fixture(scope="module")
def k():
    return import_keras()


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _quiet_quantize(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.quantize(*args, **kwargs)


# ---------------------------------------------------------------------- quantizer functions
@pytest.mark.parametrize("axis", [-1, 0, (0, 2)])
def test_abs_max_quantize_matches_keras(k, axis):
    x = _rand(3, 4, 5)
    x[0, 0, 0] = 0.0
    ours_values, ours_scale = keras.quantizers.abs_max_quantize(x, axis)
    theirs_values, theirs_scale = k.quantizers.abs_max_quantize(x, axis)
    assert ours_values.dtype.name == "int8"
    np.testing.assert_array_equal(ours_values.numpy(), to_numpy(theirs_values))
    assert_matches(ours_scale, theirs_scale, rtol=0, atol=0)
    values, scale = keras.quantizers.AbsMaxQuantizer(value_range=(-8, 7))(x, axis=axis)
    theirs_values, theirs_scale = k.quantizers.AbsMaxQuantizer(value_range=(-8, 7))(x,
                                                                                    axis=axis)
    np.testing.assert_array_equal(values.numpy(), to_numpy(theirs_values))


def test_abs_max_quantizer_config_and_errors(k):
    quantizer = keras.quantizers.AbsMaxQuantizer(axis=0, value_range=(-100, 100))
    assert quantizer.get_config() == k.quantizers.AbsMaxQuantizer(
        axis=0, value_range=(-100, 100)).get_config()
    assert keras.quantizers.serialize(quantizer) == k.quantizers.serialize(
        k.quantizers.AbsMaxQuantizer(axis=0, value_range=(-100, 100)))
    again = keras.quantizers.deserialize(keras.quantizers.serialize(quantizer))
    assert isinstance(again, keras.quantizers.AbsMaxQuantizer) and again.axis == (0,)
    assert isinstance(keras.quantizers.get("AbsMaxQuantizer"), keras.quantizers.Quantizer)
    with pytest.raises(ValueError, match=r"\[-128, 127\]"):
        keras.quantizers.AbsMaxQuantizer(value_range=(-200, 127))
    with pytest.raises(ValueError, match="Could not interpret quantizer"):
        keras.quantizers.get(3)


@pytest.mark.parametrize("shape,axis", [((5, 4), 0), ((3, 5), -1), ((2, 3, 4), 1)])
def test_pack_and_unpack_int4_match_keras(k, shape, axis):
    values = np.random.default_rng(1).integers(-8, 8, size=shape).astype("int8")
    packed, packed_shape, length = keras.quantizers.pack_int4(values, axis=axis)
    theirs, theirs_shape, theirs_length = k.quantizers.pack_int4(values, axis=axis)
    np.testing.assert_array_equal(packed.numpy(), to_numpy(theirs))
    assert (packed_shape, length) == (theirs_shape, theirs_length)
    np.testing.assert_array_equal(
        keras.quantizers.unpack_int4(packed, length, axis=axis).numpy(), values)
    nibbles = values.astype("uint8") & 15
    np.testing.assert_array_equal(
        keras.quantizers.pack_int4(nibbles, axis=axis, dtype="uint8")[0].numpy(),
        to_numpy(k.quantizers.pack_int4(nibbles, axis=axis, dtype="uint8")[0]))
    with pytest.raises(TypeError, match="Expected int8 tensor"):
        keras.quantizers.pack_int4(nibbles, axis=axis)


@pytest.mark.parametrize("block_size", [2, 3, 8])
def test_grouped_quantize_matches_keras(k, block_size):
    x = _rand(7, 3)
    ours = keras.quantizers.abs_max_quantize_grouped_with_zero_point(x, block_size)
    theirs = k.quantizers.abs_max_quantize_grouped_with_zero_point(x, block_size,
                                                                   to_numpy=True)
    for a, b in zip(ours, theirs):
        assert a.dtype.name == to_numpy(b).dtype.name
        np.testing.assert_array_equal(a.numpy(), to_numpy(b))


@pytest.mark.parametrize("num_bits,narrow_range,axis", [(8, False, None), (4, True, None),
                                                        (8, False, -1), (3, False, 1)])
def test_fake_quant_values_and_gradients_match_keras(k, num_bits, narrow_range, axis):
    import torch

    x = _rand(6, 3) * 2.0
    if axis is None:
        low, high = np.float32(-1.3), np.float32(1.1)
    else:
        low = np.array([-1.0, -0.2, -2.5], "float32")
        high = np.array([1.5, 0.7, 0.3], "float32")
    xs, lows, highs = tf.constant(x), tf.constant(low), tf.constant(high)
    with tf.GradientTape() as tape:
        tape.watch([xs, lows, highs])
        y = keras.quantizers.fake_quant_with_min_max_vars(xs, lows, highs, num_bits=num_bits,
                                                          narrow_range=narrow_range, axis=axis)
        loss = tf.reduce_sum(y * tf.constant(_rand(6, 3, seed=3)))
    grads = tape.gradient(loss, [xs, lows, highs])

    tx, tlow, thigh = (torch.tensor(np.asarray(v), requires_grad=True) for v in (x, low, high))
    ty = k.quantizers.fake_quant_with_min_max_vars(tx, tlow, thigh, num_bits=num_bits,
                                                   narrow_range=narrow_range, axis=axis)
    (ty * torch.tensor(_rand(6, 3, seed=3))).sum().backward()
    assert_matches(y, ty, rtol=1e-6, atol=1e-6, what="fake_quant values")
    for ours, theirs, name in zip(grads, (tx.grad, tlow.grad, thigh.grad), "x min max".split()):
        assert_matches(ours, theirs, rtol=1e-6, atol=1e-6, what=f"gradient of {name}")


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2", "float16"])
def test_quantize_and_dequantize_matches_keras(k, dtype):
    x = np.concatenate([_rand(200) * 30, [0.0, 1e-4, -3e-6, 1e6, 448.0, 464.0, 0.01953125]])
    x = x.astype("float32")
    scale = np.float32(0.37)
    ours = keras.quantizers.quantize_and_dequantize(x, scale, dtype, "float32")
    theirs = k.quantizers.quantize_and_dequantize(x, scale, dtype, "float32")
    assert_matches(ours, theirs, rtol=0, atol=0, what=dtype)


def test_float8_scale_and_amax_history_match_keras(k):
    amax = np.array([3.0, 0.0, np.inf, 1e-3], "float32")
    scale = np.array([0.5, 0.25, 2.0, 1.0], "float32")
    for margin in (0, 2):
        assert_matches(keras.quantizers.compute_float8_scale(amax, scale, 448.0, margin),
                       k.quantizers.compute_float8_scale(amax, scale, 448.0, margin))
    history = np.array([1.0, 2.0, 3.0, 4.0], "float32")
    x = _rand(5)
    assert_matches(keras.quantizers.compute_float8_amax_history(x, history),
                   k.quantizers.compute_float8_amax_history(x, history))


# ---------------------------------------------------------------------- layers and models
def _dense_model(m, input_shape=(4,)):
    inputs = m.Input(input_shape)
    x = m.layers.Dense(3, activation="relu", name="d1")(inputs)
    x = m.layers.Dropout(0.1)(x)
    outputs = m.layers.Dense(2, use_bias=False, name="d2")(x)
    return m.Model(inputs, outputs)


# (mode, config made from a keras module): int8, and int4 grouped by Keras's default 128
# rows, by 3 rows (a padded last group), per channel, and per channel quantizing its inputs
MODES = {"int8": ("int8", None), "int4": ("int4", None),
         "int4/3": ("int4", lambda m: m.quantizers.Int4QuantizationConfig(block_size=3)),
         "int4/-1": ("int4", lambda m: m.quantizers.Int4QuantizationConfig(block_size=-1)),
         "int4/-1+inputs": ("int4", lambda m: m.quantizers.Int4QuantizationConfig(
             block_size=-1, activation_quantizer=m.quantizers.AbsMaxQuantizer()))}


def _quantized_pair(k, make, weights, mode="int8", **kwargs):
    ours, theirs = make(keras), make(k)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    mode, config = MODES[mode]
    for model, module in ((ours, keras), (theirs, k)):
        _quiet_quantize(model, mode, config=config and config(module), **kwargs)
    return ours, theirs


def _assert_same_quantized_state(ours, theirs):
    assert [weight_specs(layer) for layer in ours.layers] == \
        [weight_specs(layer) for layer in theirs.layers]
    for a, b in zip(ours.weights, theirs.weights):
        np.testing.assert_array_equal(a.numpy(), to_numpy(b))
    assert [layer.quantization_mode for layer in ours.layers] == \
        [layer.quantization_mode for layer in theirs.layers]


@pytest.mark.parametrize("input_shape,mode", [((4,), "int8"), ((4,), "int4"),
                                              ((5, 4), "int4/3"), ((5, 4), "int4/-1+inputs")])
def test_dense_quantized_matches_keras(k, input_shape, mode):
    weights = [_rand(4, 3), _rand(3, seed=1), _rand(3, 2, seed=2)]
    make = lambda m: _dense_model(m, input_shape)  # noqa: E731
    ours, theirs = _quantized_pair(k, make, weights, mode)
    _assert_same_quantized_state(ours, theirs)
    x = _rand(6, *input_shape, seed=4) * 3
    assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    dense = ours.get_layer("d1")
    assert repr(dense.dtype_policy) == repr(theirs.get_layer("d1").dtype_policy)
    assert dense.get_config() == theirs.get_layer("d1").get_config()


def test_weight_only_int8_config_matches_keras(k):
    weights = [_rand(4, 3), _rand(3, seed=1), _rand(3, 2, seed=2)]
    ours, theirs = _dense_model(keras), _dense_model(k)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    _quiet_quantize(ours, config=keras.quantizers.Int8QuantizationConfig(
        activation_quantizer=None))
    _quiet_quantize(theirs, config=k.quantizers.Int8QuantizationConfig(
        activation_quantizer=None))
    x = _rand(6, 4, seed=4)
    assert_matches(ours(x), theirs(x), rtol=1e-6, atol=1e-6)
    assert ours.get_layer("d1").get_config()["quantization_config"] == \
        theirs.get_layer("d1").get_config()["quantization_config"]


EINSUM_CASES = [("abc,cd->abd", (5, 4), (None, 3), "d"),
                ("abc,cde->abde", (5, 4), (None, 2, 3), "de"),
                ("abc,dce->abde", (5, 4), (None, 2, 3), None),
                ("abcd,cde->abe", (3, 2, 4), (3, 5), "e"),
                ("btd,ndh->btnh", (5, 4), (None, 2, 3), "nh")]


def _einsum_model(m, equation, input_shape, output_shape, bias_axes):
    inputs = m.Input(input_shape)
    outputs = m.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes,
                                   name="e")(inputs)
    return m.Model(inputs, outputs)


@pytest.mark.parametrize("equation,input_shape,output_shape,bias_axes,mode",
                         [case + ("int8",) for case in EINSUM_CASES] +
                         [EINSUM_CASES[2] + ("int4/3",), EINSUM_CASES[3] + ("int4/-1+inputs",)])
def test_einsum_dense_quantized_matches_keras(k, equation, input_shape, output_shape,
                                              bias_axes, mode):
    def make(m):
        return _einsum_model(m, equation, input_shape, output_shape, bias_axes)

    shapes = [tuple(w.shape) for w in make(k).weights]
    weights = [_rand(*shape, seed=i) for i, shape in enumerate(shapes)]
    ours, theirs = _quantized_pair(k, make, weights, mode)
    _assert_same_quantized_state(ours, theirs)
    x = _rand(2, *input_shape, seed=9)
    assert_matches(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_einsum_dense_with_ellipsis_quantizes(k):
    # (Keras 3.15 fails on an ellipsis: its analysis takes len() of the input rank. The
    # equation means "abc,cd->abd" for this input, which Keras quantizes.)
    ours = _einsum_model(keras, "...b,bc->...c", (5, 4), (3,), "c")
    theirs = _einsum_model(k, "abc,cd->abd", (5, 4), (None, 3), "d")
    weights = [_rand(4, 3), _rand(3, seed=1)]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    _quiet_quantize(ours, "int8")
    _quiet_quantize(theirs, "int8")
    for a, b in zip(ours.weights, theirs.weights):
        np.testing.assert_array_equal(a.numpy(), to_numpy(b))
    x = _rand(2, 5, 4, seed=9)
    assert_matches(ours(x), theirs(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["int8", "int4/3", "int4/-1"])
def test_embedding_quantized_matches_keras(k, mode):
    def make(m):
        inputs = m.Input((3,), dtype="int32")
        x = m.layers.Embedding(7, 5, name="emb")(inputs)
        return m.Model(inputs, m.layers.Dense(2, name="out")(x))

    weights = [_rand(7, 5), _rand(5, 2, seed=1), _rand(2, seed=2)]
    ours, theirs = _quantized_pair(k, make, weights, mode)
    _assert_same_quantized_state(ours, theirs)
    ids = np.array([[0, 6, 3], [2, 2, 5]], "int32")
    assert_matches(ours(ids), theirs(ids), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind,mode", [("dense", "int8"), ("einsum", "int8"),
                                       ("dense", "int4/3"), ("einsum", "int4/-1")])
def test_input_gradients_and_trainable_weights_match_keras(k, kind, mode):
    import torch

    def make(m):
        if kind == "dense":
            return _dense_model(m, (5, 4))
        return _einsum_model(m, "abc,cde->abde", (5, 4), (None, 2, 3), "de")

    weights = [_rand(*tuple(w.shape), seed=i) for i, w in enumerate(make(k).weights)]
    ours, theirs = _quantized_pair(k, make, weights, mode)
    assert [v.path for v in ours.trainable_weights] == [v.path for v in
                                                        theirs.trainable_weights]
    x = _rand(2, 5, 4, seed=5)
    xs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xs)
        loss = tf.reduce_sum(tf.square(ours(xs)))
    ours_grads = tape.gradient(loss, [xs] + ours.trainable_weights)
    tx = torch.tensor(x, requires_grad=True)
    (theirs(tx) ** 2).sum().backward()
    assert_matches(ours_grads[0], tx.grad, rtol=1e-5, atol=1e-5, what="input gradient")
    for ours_grad, variable in zip(ours_grads[1:], theirs.trainable_weights):
        assert_matches(ours_grad, variable.value.grad, rtol=1e-5, atol=1e-5,
                       what=variable.path)


def test_fit_after_quantize_trains_only_float_weights():
    model = _dense_model(keras)
    _quiet_quantize(model, "int8")
    model.compile(optimizer="sgd", loss="mse")
    frozen = [w.numpy() for w in model.non_trainable_weights]
    bias = model.get_layer("d1").bias.numpy()
    model.fit(_rand(8, 4), _rand(8, 2, seed=1), epochs=2, batch_size=4, verbose=0)
    for before, after in zip(frozen, model.non_trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert not np.array_equal(bias, model.get_layer("d1").bias.numpy())


# ---------------------------------------------------------------------- files
def _file_models(m):
    inputs = m.Input((3,), dtype="int32")
    x = m.layers.Embedding(9, 4, name="emb")(inputs)
    x = m.layers.EinsumDense("abc,cd->abd", (3, 5), bias_axes="d", name="ein")(x)
    x = m.layers.Flatten()(x)
    outputs = m.layers.Dense(2, name="dense")(x)
    return m.Model(inputs, outputs)


@pytest.mark.parametrize("suffix,mode", [(".keras", "int8"), (".keras", "int4/3"),
                                         (".weights.h5", "int8")])
def test_quantized_files_move_both_ways_with_keras(k, tmp_path, suffix, mode):
    pytest.importorskip("h5py")
    weights = [_rand(*tuple(w.shape), seed=i) for i, w in enumerate(_file_models(k).weights)]
    ours, theirs = _quantized_pair(k, _file_models, weights, mode)
    ids = np.array([[0, 8, 3], [2, 1, 5]], "int32")
    expected = to_numpy(theirs(ids))

    theirs_path, ours_path = tmp_path / f"theirs{suffix}", tmp_path / f"ours{suffix}"
    theirs.save(theirs_path) if suffix == ".keras" else theirs.save_weights(theirs_path)
    ours.save(ours_path) if suffix == ".keras" else ours.save_weights(ours_path)
    if suffix == ".keras":
        here = keras.models.load_model(theirs_path)
        there = k.models.load_model(ours_path)
    else:
        here, there = _file_models(keras), _file_models(k)
        mode, config = MODES[mode]
        _quiet_quantize(here, mode, config=config and config(keras))
        _quiet_quantize(there, mode, config=config and config(k))
        here.load_weights(theirs_path)
        there.load_weights(ours_path)
    assert [weight_specs(layer) for layer in here.layers] == \
        [weight_specs(layer) for layer in theirs.layers]
    assert [weight_specs(layer) for layer in there.layers] == \
        [weight_specs(layer) for layer in theirs.layers]
    assert_matches(here(ids), expected, rtol=1e-6, atol=1e-6, what="loaded here")
    assert_matches(there(ids), expected, rtol=1e-6, atol=1e-6, what="loaded in Keras")


# ---------------------------------------------------------------------- policies and errors
def test_quantized_dtype_policy_matches_keras(k):
    ours = keras.dtype_policies.get("int8_from_mixed_bfloat16")
    theirs = k.dtype_policies.get("int8_from_mixed_bfloat16")
    assert repr(ours) == repr(theirs)
    assert (ours.name, ours.quantization_mode, ours.compute_dtype, ours.variable_dtype) == \
        (theirs.name, theirs.quantization_mode, theirs.compute_dtype, theirs.variable_dtype)
    assert keras.dtype_policies.serialize(ours) == k.dtype_policies.serialize(theirs)
    assert keras.dtype_policies.deserialize(keras.dtype_policies.serialize(ours)) == ours
    assert ours != keras.dtype_policies.get("mixed_bfloat16")
    for bad in ("int8_from_float16", "int3_from_float32"):
        with pytest.raises(ValueError):
            k.dtype_policies.get(bad)
        with pytest.raises(ValueError):
            keras.dtype_policies.get(bad)


def test_layer_made_with_quantized_policy_builds_int8weight_specs(k):
    ours = keras.layers.Dense(3, dtype="int8_from_float32", name="q")
    theirs = k.layers.Dense(3, dtype="int8_from_float32", name="q")
    ours.build((None, 4))
    theirs.build((None, 4))
    assert weight_specs(ours) == weight_specs(theirs)
    assert ours.quantization_mode == "int8"


def test_global_quantized_policy_matches_keras(k):
    try:
        for module in (keras, k):
            module.config.set_dtype_policy("int4/2_from_float32")
        ours, theirs = keras.layers.Dense(3, name="g"), k.layers.Dense(3, name="g")
    finally:
        for module in (keras, k):
            module.config.set_dtype_policy("float32")
    ours.build((None, 5))
    theirs.build((None, 5))
    assert weight_specs(ours) == weight_specs(theirs)
    assert keras.layers.Embedding(3, 2, dtype="int8").dtype_policy.quantization_mode is None


def test_setting_a_quantized_policy_quantizes_a_built_layer(k):
    weights = [_rand(4, 3), _rand(3, seed=1)]
    ours, theirs = keras.layers.Dense(3, name="s"), k.layers.Dense(3, name="s")
    for layer in (ours, theirs):
        layer.build((None, 4))
        layer.set_weights(weights)
        layer.dtype_policy = "int8_from_float32"
    assert weight_specs(ours) == weight_specs(theirs)
    x = _rand(2, 4, seed=3)
    assert_matches(ours(x), theirs(x), rtol=1e-6, atol=1e-6)


def test_quantize_errors_match_keras(k):
    unbuilt = keras.layers.Dense(2)
    with pytest.raises(ValueError, match="isn't yet built"):
        unbuilt.quantize("int8")
    model = _dense_model(keras)
    with pytest.raises(ValueError, match="Invalid quantization mode"):
        model.quantize("int16")
    with pytest.raises(ValueError, match="either `mode` or `config`"):
        model.quantize()
    with pytest.raises(ValueError, match="Unrecognized keyword"):
        model.quantize("int8", bad=1)
    with pytest.raises(NotImplementedError, match="'float8'.*int8"):
        model.quantize("float8")
    with pytest.raises(ValueError, match="GPTQConfig"):
        model.quantize("gptq")
    _quiet_quantize(model, "int8")
    with pytest.raises(ValueError, match="already quantized"):
        model.quantize("int8")
    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    with pytest.raises(ValueError, match="Contradictory"):
        dense.quantize("int4", config=keras.quantizers.Int8QuantizationConfig())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _dense_model(keras).quantize("int8")
    assert any("Dropout does not have a `quantize`" in str(w.message) for w in caught)


def test_filters_select_layers_like_keras(k):
    for filters in ("d1", ["^d2$"], lambda layer: layer.name == "d2"):
        ours, theirs = _dense_model(keras), _dense_model(k)
        _quiet_quantize(ours, "int8", filters=filters)
        _quiet_quantize(theirs, "int8", filters=filters)
        assert [layer.quantization_mode for layer in ours.layers] == \
            [layer.quantization_mode for layer in theirs.layers]
    with pytest.raises(ValueError, match="filters"):
        _dense_model(keras).quantize("int8", filters=3)
