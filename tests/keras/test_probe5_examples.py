"""Probe round s8-5 (keras.io examples end to end): U-Net, CTC OCR, Conv1D autoencoder,
time-series Conv1D / Transformer classifiers, siamese networks, multi-input/multi-output
models, denoising autoencoders and the subclassing / custom-layer guides.

Checked against real Keras 3.15.1 (torch backend) as the oracle.
"""

import numpy as np
import pytest

from tensorflux import keras
from tests.keras._oracle import (  # noqa: F401
    assert_matches,
    fresh_names,
    import_keras,
)

pytestmark = pytest.mark.keras_oracle


def _type_error(make):
    with pytest.raises(TypeError) as info:
        make()
    return str(info.value)


@pytest.mark.parametrize("call", [
    lambda k: k.layers.AveragePooling1D(),
    lambda k: k.layers.AveragePooling2D(),
    lambda k: k.layers.AveragePooling3D(),
    lambda k: k.layers.GlobalAveragePooling2D(None, False, 3),
    lambda k: k.layers.GlobalMaxPooling1D(None, False, 3),
])
def test_pooling_init_errors_name_the_class(call):
    """A missing or extra argument names `AveragePooling2D.__init__()` as Keras does, not the
    factory that built the class."""
    ks = import_keras()
    ours, theirs = _type_error(lambda: call(keras)), _type_error(lambda: call(ks))
    assert ours == theirs


def _unet(k, seed=1):
    layers = k.layers
    inp = k.Input((8, 8, 3))
    c1 = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    p1 = layers.MaxPooling2D(2)(c1)
    b = layers.Conv2D(8, 3, padding="same", activation="relu")(p1)
    u1 = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(b)
    u1 = layers.concatenate([u1, c1])
    out = layers.Conv2D(3, 1, activation="softmax")(u1)
    model = k.Model(inp, out)
    rng = np.random.RandomState(seed)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.3
                       for w in model.get_weights()])
    return model


def test_unet_segmentation_matches_keras():
    """keras.io's segmentation U-Net: Conv2DTranspose + concatenate skip, per-pixel sparse
    CE and MeanIoU over the predicted masks match Keras (evaluate; torch's CPU backward of
    a transposed convolution rejects this layout, so no fit here)."""
    ks = import_keras()
    rng = np.random.RandomState(0)
    x = rng.rand(4, 8, 8, 3).astype("float32")
    y = rng.randint(0, 3, (4, 8, 8)).astype("int32")
    results = []
    for k in (keras, ks):
        model = _unet(k)
        model.compile("sgd", "sparse_categorical_crossentropy",
                      metrics=[k.metrics.MeanIoU(3, sparse_y_pred=False)])
        results.append(model.evaluate(x, y, verbose=0, batch_size=2))
    assert_matches(np.array(results[0]), np.array(results[1]), rtol=1e-5, atol=1e-6)


def _temporal_softmax_model(k):
    class TemporalSoftmax(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            assert mask is not None
            weight = k.ops.expand_dims(k.ops.cast(mask, "float32"), -1)
            exp = k.ops.exp(inputs) * weight
            return exp / k.ops.sum(exp, axis=-1, keepdims=True)

    inp = k.Input(shape=(None,), dtype="int32")
    hidden = k.layers.Embedding(10, 4, mask_zero=True, embeddings_initializer="ones")(inp)
    hidden = k.layers.Dense(1, kernel_initializer="ones")(hidden)
    return k.Model(inp, TemporalSoftmax()(hidden))


def test_custom_layer_sees_mask_when_called_symbolically():
    """The custom-layers guide's TemporalSoftmax asserts `mask is not None`: Keras passes the
    previous layer's mask to call() already when the functional model is being built."""
    ks = import_keras()
    tokens = np.array([[1, 2, 0], [4, 5, 6]])
    assert_matches(_temporal_softmax_model(keras)(tokens), _temporal_softmax_model(ks)(tokens))


def _masked_sequence_model(k):
    inp = k.Input((5,))
    hidden = k.layers.Embedding(10, 3, mask_zero=True)(inp)
    out = k.layers.Dense(3, activation="softmax")(hidden)
    model = k.Model(inp, out)
    rng = np.random.RandomState(1)
    model.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.4
                       for w in model.get_weights()])
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model


_TOKENS = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0], [1, 1, 1, 1, 1]])
_TAGS = np.random.RandomState(0).randint(0, 3, (3, 5))


def test_masked_sequence_loss_with_sample_weights_matches_keras():
    ks = import_keras()
    weights = np.array([[1.0, 2.0, 0.5, 1.0, 1.0]] * 3)
    ours = _masked_sequence_model(keras).evaluate(_TOKENS, _TAGS, sample_weight=weights,
                                                  verbose=0)
    theirs = _masked_sequence_model(ks).evaluate(_TOKENS, _TAGS, sample_weight=weights,
                                                 verbose=0)
    assert_matches(ours, theirs, rtol=1e-5)


@pytest.mark.parametrize("weights", [[1.0, 2.0, 0.5, 1.0, 3.0], [[2.0], [1.0], [0.5]], 2.0])
def test_masked_reduction_broadcasts_weights(weights):
    """Weights that broadcast against the mask (a (timesteps,) row too) still reduce as
    Keras's reduce_weighted_values does (NumPy float64 reference: the mask scaled by
    size / valid count, times the weights, summed over the size); only unbroadcastable ones
    are refused. (Keras on torch multiplies in place and fails on these shapes.)"""
    values = np.random.RandomState(2).rand(3, 5)
    mask = _TOKENS != 0
    weights = np.asarray(weights)
    scaled = mask * (mask.size / mask.sum())
    expected = np.sum(values * weights * scaled) / values.size
    ours = keras.losses.reduce_weighted_values(values.astype("float32"),
                                               weights.astype("float32"), mask)
    np.testing.assert_allclose(float(ours), expected, rtol=1e-6)


def test_masked_sequence_loss_rejects_per_sample_weights_naming_the_loss():
    """(batch,) weights cannot broadcast against a (batch, timesteps) mask: Keras fails inside
    the multiply; ours names the loss and both shapes."""
    ks = import_keras()
    weights = np.array([1.0, 2.0, 0.5])
    with pytest.raises(Exception):  # noqa: B017 - Keras's error varies by backend
        _masked_sequence_model(ks).evaluate(_TOKENS, _TAGS, sample_weight=weights, verbose=0)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*sample_weight of "
                                         r"shape \(3,\).*\(3, 5\)"):
        _masked_sequence_model(keras).evaluate(_TOKENS, _TAGS, sample_weight=weights,
                                               verbose=0)


def _mha_outputs(k):
    rng = np.random.RandomState(0)
    query = rng.rand(2, 4, 3).astype("float32")
    value = rng.rand(2, 5, 3).astype("float32")
    query_mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    key_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer = k.layers.MultiHeadAttention(2, 2)
    layer(query, value)
    layer.set_weights([np.random.RandomState(i).randn(*w.shape).astype("float32") * 0.5
                       for i, w in enumerate(layer.get_weights())])
    outs = [layer(query, value, query_mask=query_mask),
            layer(query, value, query_mask=query_mask, key_mask=key_mask),
            layer(query, query, use_causal_mask=True, query_mask=query_mask),
            layer(query, value, query_mask=query_mask, return_attention_scores=True)[0]]
    tokens = k.Input((4,), dtype="int32")  # a query carrying a Keras mask is masked
    embedded = k.layers.Embedding(5, 3, mask_zero=True, embeddings_initializer="ones")(tokens)
    model = k.Model(tokens, layer(embedded, embedded))
    outs.append(model(np.array([[1, 2, 0, 0], [3, 1, 4, 2]])))
    return outs


def test_mha_takes_query_mask_only_from_the_query_keras_mask():
    """keras.io's translation Transformer passes `query_mask=` explicitly: Keras 3's
    MultiHeadAttention ignores that argument and masks query rows only by the query's own
    Keras mask (TF 2.21 printed the same numbers as Keras on torch)."""
    ks = import_keras()
    for ours, theirs in zip(_mha_outputs(keras), _mha_outputs(ks)):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-6)
