"""Convolution, pooling, padding/cropping and upsampling layers through the core layers'
harness (tests/keras/test_layers_core.py), with real Keras 3 as the oracle: outputs,
gradients, configs, and the weights after 3 Adam steps; then the errors naming the layer."""

import json

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401
from tests.keras.test_layers_core import (
    Case,
    as_list,
    check_layer,
    compare_with_keras,
    make_inputs,
    our_layer,
)

CF = {"data_format": "channels_first"}

CASES = [
    # Conv1D
    Case("Conv1D", {"filters": 3, "kernel_size": 3}, (2, 7, 2), (2, 5, 3), (2, 0)),
    Case("Conv1D", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
         (2, 7, 2), (2, 4, 2), (2, 0)),
    Case("Conv1D", {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 2,
                    "activation": "tanh"}, (2, 6, 3), (2, 6, 2), (2, 0)),
    Case("Conv1D", {"filters": 4, "kernel_size": 2, "groups": 2, **CF}, (2, 4, 5), (2, 4, 4),
         (2, 0)),
    # Conv2D
    Case("Conv2D", {"filters": 3, "kernel_size": 3}, (2, 5, 5, 2), (2, 3, 3, 3), (2, 0)),
    Case("Conv2D", {"filters": 2, "kernel_size": (3, 2), "strides": 2, "padding": "same"},
         (2, 5, 6, 2), (2, 3, 3, 2), (2, 0)),
    Case("Conv2D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "same",
                    "use_bias": False, "activation": "sigmoid"}, (1, 5, 5, 2), (1, 5, 5, 2),
         (1, 0)),
    Case("Conv2D", {"filters": 3, "kernel_size": 2, "strides": (1, 2), **CF}, (2, 2, 4, 5),
         (2, 3, 3, 2), (2, 0)),
    Case("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same"},
         (1, 4, 4, 4), (1, 4, 4, 4), (2, 0)),
    # Conv3D
    Case("Conv3D", {"filters": 2, "kernel_size": 2}, (1, 3, 3, 3, 2), (1, 2, 2, 2, 2),
         (2, 0)),
    Case("Conv3D", {"filters": 2, "kernel_size": (2, 3, 2), "strides": 2, "padding": "same",
                    **CF}, (1, 2, 3, 4, 3), (1, 2, 2, 2, 2), (2, 0)),
    Case("Conv3D", {"filters": 4, "kernel_size": 2, "groups": 2, "dilation_rate": (1, 2, 1)},
         (1, 3, 4, 3, 2), (1, 2, 2, 2, 4), (2, 0)),
    # transposed
    Case("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2}, (2, 4, 3),
         (2, 9, 2), (2, 0)),
    Case("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "padding": "same", **CF},
         (2, 2, 5), (2, 3, 5), (2, 0)),
    Case("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same"},
         (1, 3, 3, 3), (1, 6, 6, 2), (2, 0)),
    Case("Conv2DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2,
                             "output_padding": 1}, (2, 2, 3, 2), (2, 5, 7, 2), (2, 0)),
    Case("Conv2DTranspose", {"filters": 3, "kernel_size": (2, 3), "dilation_rate": 2,
                             "activation": "relu", **CF}, (1, 2, 3, 3), (1, 3, 5, 7), (2, 0)),
    # depthwise and separable
    Case("DepthwiseConv2D", {"kernel_size": 3}, (2, 4, 4, 3), (2, 2, 2, 3), (2, 0)),
    Case("DepthwiseConv2D", {"kernel_size": 2, "depth_multiplier": 2, "padding": "same",
                             "strides": 2, **CF}, (1, 2, 5, 5), (1, 4, 3, 3), (2, 0)),
    Case("SeparableConv1D", {"filters": 3, "kernel_size": 3}, (2, 6, 2), (2, 4, 3), (3, 0)),
    Case("SeparableConv1D", {"filters": 2, "kernel_size": 2, "depth_multiplier": 2,
                             "padding": "same", "strides": 2, **CF}, (1, 3, 5), (1, 2, 3),
         (3, 0)),
    Case("SeparableConv2D", {"filters": 4, "kernel_size": 3}, (1, 5, 5, 2), (1, 3, 3, 4),
         (3, 0)),
    Case("SeparableConv2D", {"filters": 2, "kernel_size": 2, "depth_multiplier": 2,
                             "dilation_rate": 2, "padding": "same", "use_bias": False},
         (1, 4, 4, 3), (1, 4, 4, 2), (2, 0)),
    # pooling
    Case("MaxPooling1D", {}, (2, 7, 3), (2, 3, 3)),
    Case("MaxPooling1D", {"pool_size": 3, "strides": 1, "padding": "same", **CF}, (2, 2, 5),
         (2, 2, 5)),
    Case("MaxPooling2D", {}, (2, 5, 4, 3), (2, 2, 2, 3)),
    Case("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, (1, 5, 6, 2),
         (1, 3, 3, 2)),
    Case("MaxPooling2D", {"pool_size": (2, 1), **CF}, (1, 2, 4, 3), (1, 2, 2, 3)),
    Case("MaxPooling3D", {}, (1, 4, 4, 2, 2), (1, 2, 2, 1, 2)),
    Case("MaxPooling3D", {"pool_size": 2, "strides": 1, "padding": "same", **CF},
         (1, 2, 3, 3, 2), (1, 2, 3, 3, 2)),
    Case("AveragePooling1D", {"pool_size": 3, "strides": 2}, (2, 7, 2), (2, 3, 2)),
    Case("AveragePooling2D", {"pool_size": 2}, (2, 4, 4, 3), (2, 2, 2, 3)),
    Case("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same", **CF},
         (1, 2, 5, 5), (1, 2, 3, 3)),
    Case("AveragePooling2D", {"pool_size": 2, "strides": 2, "padding": "same"}, (1, 4, 4, 2),
         (1, 2, 2, 2)),
    Case("AveragePooling3D", {"pool_size": (2, 2, 1)}, (1, 4, 2, 3, 2), (1, 2, 1, 3, 2)),
    Case("GlobalMaxPooling1D", {}, (2, 5, 3), (2, 3)),
    Case("GlobalMaxPooling1D", {"keepdims": True, **CF}, (2, 3, 5), (2, 3, 1)),
    Case("GlobalMaxPooling2D", {}, (2, 3, 4, 3), (2, 3)),
    Case("GlobalMaxPooling3D", {"keepdims": True}, (2, 2, 3, 2, 3), (2, 1, 1, 1, 3)),
    Case("GlobalAveragePooling1D", {}, (2, 5, 3), (2, 3)),
    Case("GlobalAveragePooling2D", {**CF}, (2, 3, 4, 3), (2, 3)),
    Case("GlobalAveragePooling2D", {"keepdims": True}, (2, 3, 4, 3), (2, 1, 1, 3)),
    Case("GlobalAveragePooling3D", {**CF}, (2, 3, 2, 2, 2), (2, 3)),
    # padding, cropping, upsampling
    Case("ZeroPadding1D", {"padding": (1, 2)}, (2, 3, 2), (2, 6, 2)),
    Case("ZeroPadding1D", {"padding": 1, **CF}, (2, 3, 2), (2, 3, 4)),
    Case("ZeroPadding2D", {}, (1, 2, 3, 2), (1, 4, 5, 2)),
    Case("ZeroPadding2D", {"padding": ((1, 0), (2, 1)), **CF}, (1, 2, 3, 2), (1, 2, 4, 5)),
    Case("Cropping1D", {"cropping": (1, 2)}, (2, 6, 2), (2, 3, 2)),
    Case("Cropping2D", {"cropping": ((1, 0), (0, 2))}, (1, 4, 5, 2), (1, 3, 3, 2)),
    Case("Cropping2D", {"cropping": 1, **CF}, (1, 2, 4, 5), (1, 2, 2, 3)),
    Case("UpSampling1D", {"size": 3}, (2, 3, 2), (2, 9, 2)),
    Case("UpSampling2D", {}, (1, 2, 3, 2), (1, 4, 6, 2)),
    Case("UpSampling2D", {"size": (2, 3), **CF}, (1, 2, 2, 3), (1, 2, 4, 9)),
    Case("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, (1, 3, 2, 2),
         (1, 6, 6, 2)),
]
IDS = [case.id for case in CASES]
WEIGHTED = [c for c in CASES if c.counts != (0, 0)]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_harness(case):
    check_layer(case)


@pytest.fixture(scope="module")
def real_keras():
    return import_keras()


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_matches_keras(case, real_keras):
    if "no_oracle" in case.extra:
        pytest.skip(case.extra["no_oracle"])
    compare_with_keras(case, real_keras)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_keras_configs_load(case, real_keras):
    """A config written by real Keras 3 loads into the same layer and the same config."""
    theirs = getattr(real_keras.layers, case.layer)(**case.kwargs)
    theirs(make_inputs(case))
    config = json.loads(json.dumps(theirs.get_config()))
    ours = getattr(keras.layers, case.layer).from_config(config)
    ours(make_inputs(case))
    assert json.loads(json.dumps(ours.get_config())) == config


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", WEIGHTED, ids=[c.id for c in WEIGHTED])
def test_weights_after_three_adam_steps_match_keras(case, real_keras):
    """Same weights, inputs and loss: Keras's Adam and ours leave the same weights."""
    import torch

    k = real_keras
    ours, theirs = our_layer(case), getattr(k.layers, case.layer)(**case.kwargs)
    x = make_inputs(case, seed=11)
    ours(x)
    theirs(x)
    rng = np.random.default_rng(2)
    for w in ours.weights:
        w.assign(rng.uniform(-0.5, 0.5, size=tuple(w.shape)).astype("float32"))
    theirs.set_weights(ours.get_weights())
    target = np.random.default_rng(4).normal(size=case.out).astype("float32")
    opt, opt_k = keras.optimizers.Adam(0.05), k.optimizers.Adam(0.05)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(ours(x) - target))
        opt.apply_gradients(zip(tape.gradient(loss, ours.trainable_weights),
                                ours.trainable_weights))
        loss_k = torch.mean(torch.square(theirs(torch.tensor(x)) - torch.tensor(target)))
        grads_k = torch.autograd.grad(loss_k, [w.value for w in theirs.trainable_weights])
        opt_k.apply(list(grads_k), theirs.trainable_weights)
    for w, w_k in zip(ours.weights, theirs.weights):
        assert_matches(w, w_k.value, rtol=1e-5, atol=2e-6, what=f"{case.id} {w.name}")


# ---------------------------------------------------------------------- errors
def _raises(parts, fn, error=ValueError):
    with pytest.raises(error) as info:
        fn()
    for part in parts:
        assert part in str(info.value), f"{part!r} not in: {info.value}"


def test_kernel_larger_than_the_padded_input_names_the_layer():
    _raises(["Conv2D 'big'", "(5, 5)", "larger than the padded input", "(None, 3, 3, 2)"],
            lambda: keras.layers.Conv2D(2, 5, name="big")(keras.Input((3, 3, 2))))
    _raises(["Conv1D 'c1'", "(2, 2, 1)", "dilation_rate (2,)"],
            lambda: keras.layers.Conv1D(1, 2, dilation_rate=2, name="c1")(
                np.zeros((2, 2, 1), "float32")))
    _raises(["MaxPooling2D 'pool'", "pool_size", "(1, 1, 1, 4)"],
            lambda: keras.layers.MaxPooling2D(2, name="pool")(np.zeros((1, 1, 1, 4),
                                                                       "float32")))
    # 'same' pads enough for any kernel
    assert keras.layers.Conv2D(2, 5, padding="same")(np.zeros((1, 3, 3, 2), "float32")).shape \
        == (1, 3, 3, 2)


def test_invalid_padding_and_arguments_name_the_layer():
    _raises(["Conv2D 'p'", "padding", "'full'"],
            lambda: keras.layers.Conv2D(2, 3, padding="full", name="p"))
    _raises(["Conv2D 'q'", "'causal' only for Conv1D"],
            lambda: keras.layers.Conv2D(2, 3, padding="causal", name="q"))
    _raises(["MaxPooling1D 'mp'", "padding"],
            lambda: keras.layers.MaxPooling1D(padding="reflect", name="mp"))
    _raises(["strides > 1", "dilation_rate > 1"],
            lambda: keras.layers.Conv2D(2, 3, strides=2, dilation_rate=2))
    _raises(["groups=3", "filters=4"], lambda: keras.layers.Conv2D(4, 3, groups=3))
    _raises(["Conv2DTranspose", "output_padding", "strictly less than"],
            lambda: keras.layers.Conv2DTranspose(2, 3, strides=2, output_padding=2))
    _raises(["kernel_size"], lambda: keras.layers.Conv2D(2, (3, 3, 3)))
    _raises(["Conv2D 'g'", "groups=2", "3 channels"],
            lambda: keras.layers.Conv2D(4, 1, groups=2, name="g")(keras.Input((4, 4, 3))))


def test_channels_not_matching_the_built_weights_name_the_layer():
    layer = keras.layers.Conv2D(2, 3, name="conv")
    layer(np.zeros((1, 5, 5, 3), "float32"))
    _raises(["Conv2D 'conv'", "last dimension 3", "(1, 5, 5, 4)"],
            lambda: layer(np.zeros((1, 5, 5, 4), "float32")))
    first = keras.layers.Conv2D(2, 3, data_format="channels_first", name="cf")
    first(np.zeros((1, 3, 5, 5), "float32"))
    _raises(["Conv2D 'cf'", "axis 1", "(1, 4, 5, 5)"],
            lambda: first(np.zeros((1, 4, 5, 5), "float32")))
    _raises(["Conv2D", "rank >= 4", "(2, 5, 3)"],
            lambda: keras.layers.Conv2D(2, 3)(np.zeros((2, 5, 3), "float32")))
    _raises(["Cropping1D 'crop'", "(1, 3, 2)"],
            lambda: keras.layers.Cropping1D((2, 1), name="crop")(np.zeros((1, 3, 2),
                                                                          "float32")))


# ---------------------------------------------------------------------- semantics
def test_causal_conv1d_never_reads_the_future():
    layer = keras.layers.Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = np.random.default_rng(0).normal(size=(1, 9, 2)).astype("float32")
    y = layer(x).numpy()
    x2 = x.copy()
    x2[0, 5:] += 10.0
    y2 = layer(x2).numpy()
    np.testing.assert_array_equal(y[0, :5], y2[0, :5])
    assert not np.allclose(y[0, 5:], y2[0, 5:])


def test_global_average_pooling1d_leaves_masked_steps_out():
    x = np.array([[[1.0], [3.0], [100.0]]], "float32")
    mask = np.array([[True, True, False]])
    y = keras.layers.GlobalAveragePooling1D()(x, mask=tf.constant(mask))
    assert y.numpy().tolist() == [[2.0]]
    model = keras.Sequential([keras.Input((3,), dtype="int32"),
                              keras.layers.Embedding(5, 2, mask_zero=True),
                              keras.layers.GlobalAveragePooling1D()])
    emb = model.layers[0].embeddings.numpy()
    out = model(np.array([[1, 2, 0]], "int32")).numpy()
    np.testing.assert_allclose(out[0], emb[1:3].mean(0), rtol=1e-6)


def test_conv_layers_train_inside_fit_and_predict_with_unknown_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 6, 2)).astype("float32")
    y = rng.normal(size=(16, 12, 12, 1)).astype("float32")
    model = keras.Sequential([
        keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(), keras.layers.Conv2DTranspose(3, 3, strides=4,
                                                                   padding="same"),
        keras.layers.SeparableConv2D(1, 3, padding="same")])
    assert model.output_shape == (None, 12, 12, 1)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.predict(x[:3], verbose=0).shape == (3, 12, 12, 1)
    clone = keras.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x[:2]).numpy(), model(x[:2]).numpy(), rtol=1e-6)


def test_bilinear_upsampling_interpolates_between_neighbours():
    x = np.array([[[[0.0], [4.0]]]], "float32")  # (1, 1, 2, 1)
    y = keras.layers.UpSampling2D((1, 2), interpolation="bilinear")(x).numpy()
    assert y[0, 0, :, 0].tolist() == [0.0, 1.0, 3.0, 4.0]
    assert as_list(y.shape) == [1, 1, 4, 1]
