"""The Keras 3.15 layers added after the first layer families: RMSNormalization,
SpectralNormalization, Wrapper, the 3-D padding/cropping/upsampling layers, Conv3DTranspose,
DepthwiseConv1D, ConvLSTM1D/3D, the adaptive pooling layers (and `adaptive_pool`),
ReversibleEmbedding, GroupQueryAttention, STFTSpectrogram (and the STFT initializer),
MelSpectrogram, HashedCrossing and Pipeline.

Real Keras 3 (torch backend) is the oracle: the same weights and inputs give the same outputs
and gradients (torch autograd), its configs load here, and .keras files move both ways.
HashedCrossing, which Keras computes with TensorFlow only, is checked against the values
Keras's own tests expect (computed by TensorFlow).
"""

import json

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras import test_rnn as rnn_harness
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401
from tests.keras.test_layers_core import Case, check_layer, compare_with_keras, make_inputs

pytest.importorskip("h5py", reason="saving needs the h5 extra (pip install h5py)")

CF = {"data_format": "channels_first"}

CASES = [
    Case("RMSNormalization", {}, (3, 5), (3, 5), (1, 0)),
    Case("RMSNormalization", {"axis": [1, 2], "epsilon": 1e-3}, (2, 3, 4), (2, 3, 4), (1, 0)),
    Case("ZeroPadding3D", {"padding": ((1, 0), (0, 2), 1)}, (1, 2, 2, 2, 3), (1, 3, 4, 4, 3)),
    Case("ZeroPadding3D", {"padding": 1, **CF}, (1, 2, 2, 2, 3), (1, 2, 4, 4, 5)),
    Case("Cropping3D", {"cropping": ((1, 0), 0, (1, 1))}, (1, 3, 2, 4, 3), (1, 2, 2, 2, 3)),
    Case("Cropping3D", {**CF}, (1, 2, 3, 4, 5), (1, 2, 1, 2, 3)),
    Case("UpSampling3D", {"size": (2, 1, 3)}, (1, 2, 2, 2, 1), (1, 4, 2, 6, 1)),
    Case("UpSampling3D", {**CF}, (1, 2, 1, 2, 2), (1, 2, 2, 4, 4)),
    Case("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2},
         (1, 2, 3, 2, 3), (1, 4, 6, 4, 2), (2, 0)),
    Case("Conv3DTranspose", {"filters": 2, "kernel_size": 3, "strides": (2, 1, 2),
                             "padding": "same", **CF}, (1, 3, 2, 3, 2), (1, 2, 4, 3, 4), (2, 0)),
    Case("Conv3DTranspose", {"filters": 2, "kernel_size": (2, 3, 2), "dilation_rate": (1, 2, 1),
                             "use_bias": False, "activation": "tanh"},
         (1, 2, 2, 3, 2), (1, 3, 6, 4, 2), (1, 0)),
    Case("Conv3DTranspose", {"filters": 1, "kernel_size": 2, "strides": 2, "output_padding": 1},
         (1, 2, 2, 2, 2), (1, 5, 5, 5, 1), (2, 0)),
    Case("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2}, (2, 6, 3), (2, 4, 6),
         (2, 0)),
    Case("DepthwiseConv1D", {"kernel_size": 2, "strides": 2, "padding": "same", **CF},
         (2, 3, 5), (2, 3, 3), (2, 0)),
    Case("AdaptiveAveragePooling1D", {"output_size": 3}, (2, 7, 2), (2, 3, 2)),
    Case("AdaptiveAveragePooling2D", {"output_size": (2, 3), **CF}, (2, 2, 5, 7), (2, 2, 2, 3)),
    Case("AdaptiveAveragePooling3D", {"output_size": 2}, (1, 3, 4, 5, 2), (1, 2, 2, 2, 2)),
    Case("AdaptiveMaxPooling1D", {"output_size": 4, **CF}, (2, 3, 6), (2, 3, 4)),
    Case("AdaptiveMaxPooling2D", {"output_size": 3}, (2, 5, 7, 2), (2, 3, 3, 2)),
    Case("AdaptiveMaxPooling3D", {"output_size": (1, 2, 3)}, (1, 3, 4, 5, 2), (1, 1, 2, 3, 2)),
    Case("STFTSpectrogram", {"frame_length": 8, "frame_step": 4}, (2, 24, 2), (2, 5, 10),
         (2, 0)),
    Case("STFTSpectrogram", {"mode": "psd", "frame_length": 6, "fft_length": 8,
                             "padding": "same", "window": "hamming", "periodic": True, **CF},
         (2, 2, 16), (2, 10, 6), (2, 0)),
    Case("STFTSpectrogram", {"mode": "stft", "frame_length": 8, "frame_step": 8,
                             "scaling": "spectrum", "expand_dims": True},
         (1, 24, 2), (1, 3, 10, 2), (2, 0)),
    Case("STFTSpectrogram", {"mode": "magnitude", "frame_length": 4, "window": None,
                             "expand_dims": True, **CF}, (1, 2, 12), (1, 2, 5, 3), (2, 0)),
    Case("STFTSpectrogram", {"mode": "real", "frame_length": 4}, (1, 12, 1), (1, 5, 3),
         (1, 0)),
]
IDS = [case.id for case in CASES]

RNN_CASES = [
    rnn_harness.Case("ConvLSTM1D-same-seq-cf", lambda L: L.ConvLSTM1D(
        2, 2, padding="same", return_sequences=True, data_format="channels_first"),
        shape=(2, 3, 2, 4)),
    rnn_harness.Case("ConvLSTM3D-state", lambda L: L.ConvLSTM3D(2, 2, return_state=True),
                     shape=(1, 2, 3, 3, 2, 1)),
    rnn_harness.Case("ConvLSTM3D-same-backwards-cf", lambda L: L.ConvLSTM3D(
        1, (1, 2, 2), padding="same", go_backwards=True, use_bias=False,
        data_format="channels_first"), shape=(1, 2, 2, 2, 3, 2)),
]
RNN_IDS = [c.id for c in RNN_CASES]


@pytest.fixture(scope="module")
def real_keras():
    return import_keras()


def _torch(x, grad=False):
    import torch

    return torch.tensor(np.asarray(x), requires_grad=grad)


def _numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _randomize(ours, theirs, low=-0.6, high=0.6, seed=5):
    rng = np.random.default_rng(seed)
    for w in ours.weights:
        w.assign(rng.uniform(low, high, size=tuple(w.shape)).astype("float32"))
    theirs.set_weights(ours.get_weights())


def _gradients(ours, theirs, inputs, call, cotangent_seed=7):
    """Outputs and gradients (inputs, then trainable weights) of `call(layer, *inputs)` for
    both layers, compared: float32 rounding."""
    import torch

    watched = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        for t in watched:
            tape.watch(t)
        y = call(ours, *watched)
    torch_in = [_torch(x, grad=True) for x in inputs]
    y_k = call(theirs, *torch_in)
    assert_matches(y, y_k, rtol=1e-5, atol=1e-5, what="output")
    cotangent = np.random.default_rng(cotangent_seed).normal(size=tuple(y.shape))
    cotangent = cotangent.astype("float32")
    sources = watched + list(ours.trainable_weights)
    grads = tape.gradient(y, sources, output_gradients=tf.constant(cotangent))
    their_sources = torch_in + [w.value for w in theirs.trainable_weights]
    their_grads = torch.autograd.grad((y_k * torch.tensor(cotangent)).sum(), their_sources,
                                      allow_unused=True)
    for index, (g, t, src) in enumerate(zip(grads, their_grads, sources)):
        g = tf.zeros_like(src) if g is None else tf.convert_to_tensor(g)
        t = torch.zeros(tuple(src.shape)) if t is None else t
        assert_matches(g, t, rtol=1e-4, atol=1e-5, what=f"gradient {index}")


# ---------------------------------------------------------------------- the layer harnesses
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_harness(case):
    check_layer(case)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_matches_keras(case, real_keras):
    compare_with_keras(case, real_keras)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_keras_configs_load(case, real_keras):
    """A config written by real Keras 3 (after building) loads into the same config here."""
    theirs = getattr(real_keras.layers, case.layer)(**case.kwargs)
    theirs(make_inputs(case))
    config = json.loads(json.dumps(theirs.get_config()))
    ours = getattr(keras.layers, case.layer).from_config(config)
    ours(make_inputs(case))
    assert json.loads(json.dumps(ours.get_config())) == config


@pytest.mark.parametrize("case", RNN_CASES, ids=RNN_IDS)
def test_conv_lstm_harness(case):
    rnn_harness.test_rnn_harness(case)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", RNN_CASES, ids=RNN_IDS)
def test_conv_lstm_matches_keras(case, real_keras):
    rnn_harness.test_rnn_matches_keras(case, real_keras)
    rnn_harness.test_keras_rnn_configs_load(case, real_keras)


@pytest.mark.keras_oracle
@pytest.mark.parametrize("make, shape", [
    (lambda L: L.ConvLSTM1D(2, 3, strides=2, return_sequences=True), (None, 4, 9, 2)),
    (lambda L: L.ConvLSTM3D(3, 2, return_state=True, data_format="channels_first"),
     (None, 2, 1, 3, 4, 5)),
    (lambda L: L.ReversibleEmbedding(9, 4), (None, 3)),
], ids=["ConvLSTM1D", "ConvLSTM3D", "ReversibleEmbedding"])
def test_compute_output_shape_matches_keras(make, shape, real_keras):
    def as_tuples(value):
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
            return [tuple(v) for v in value]
        return tuple(value)

    assert as_tuples(make(keras.layers).compute_output_shape(shape)) == as_tuples(
        make(real_keras.layers).compute_output_shape(shape))
    assert keras.layers.ReversibleEmbedding(9, 4).compute_output_shape(
        (None, 3, 4), reverse=True) == (None, 3, 9)


def test_alias_names_are_the_same_classes():
    assert keras.layers.Convolution3DTranspose is keras.layers.Conv3DTranspose
    assert keras.initializers.STFTInitializer is keras.initializers.STFT
    assert keras.initializers.stft is keras.initializers.STFT


# ---------------------------------------------------------------------- adaptive pooling
@pytest.mark.keras_oracle
@pytest.mark.parametrize("shape, size, data_format", [
    ((2, 9, 3), 4, "channels_last"), ((1, 2, 5, 8), (3, 5), "channels_first"),
    ((1, 4, 6, 7, 2), (3, 4, 2), "channels_last"), ((1, 3, 5), 5, "channels_last")])
@pytest.mark.parametrize("kind", ["average", "max"])
def test_adaptive_pool_matches_keras_ops(shape, size, data_format, kind, real_keras):
    from tensorflux.keras.layers.pooling import adaptive_pool

    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    op = getattr(real_keras.ops, f"adaptive_{kind}_pool")
    assert_matches(adaptive_pool(x, size, kind, data_format),
                   op(x, size, data_format=data_format), rtol=1e-6, atol=1e-6,
                   what=f"adaptive {kind} pool")


def test_adaptive_pool_windows_and_errors():
    from tensorflux.keras.layers.pooling import adaptive_bins, adaptive_pool

    # PyTorch's bins: floor(i * n / m) to ceil((i + 1) * n / m).
    assert adaptive_bins(7, 3) == [(0, 3), (2, 5), (4, 7)]
    assert adaptive_bins(2, 4) == [(0, 1), (0, 1), (1, 2), (1, 2)]
    x = np.arange(7.0, dtype="float32").reshape(1, 7, 1)
    assert adaptive_pool(x, 3).numpy().ravel().tolist() == [1.0, 3.0, 5.0]
    with pytest.raises(ValueError, match="ndim=3, 4 or 5"):
        adaptive_pool(np.zeros((2, 3), "float32"), 2)
    with pytest.raises(ValueError, match="output_size"):
        adaptive_pool(x, (2, 2))
    with pytest.raises(TypeError, match="output_size"):
        keras.layers.AdaptiveMaxPooling2D((1, 2, 3))


# ---------------------------------------------------------------------- Conv3DTranspose
def test_conv3d_transpose_is_the_gradient_of_conv3d():
    """<conv3d(x, k), y> == <x, conv3d_transpose(y, k)> for the same kernel (float64)."""
    rng = np.random.default_rng(1)
    layer = keras.layers.Conv3DTranspose(3, (2, 3, 2), strides=(2, 1, 2), use_bias=False,
                                         dtype="float64")
    y = rng.normal(size=(1, 2, 3, 2, 4))
    layer(y)
    kernel = layer.kernel.numpy()  # (kd, kh, kw, filters, in)
    x = rng.normal(size=(1, 4, 5, 4, 3))
    conv = tf.nn.conv3d(tf.constant(x), tf.constant(kernel), [1, 2, 1, 2, 1], "VALID")
    assert conv.shape == y.shape
    left = float(np.sum(conv.numpy() * y))
    right = float(np.sum(x * layer(y).numpy()))
    assert abs(left - right) < 1e-9 * max(1.0, abs(left))


# ---------------------------------------------------------------------- ReversibleEmbedding
@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs", [{}, {"tie_weights": False, "logit_soft_cap": 2.0}])
def test_reversible_embedding_matches_keras(kwargs, real_keras):
    ours = keras.layers.ReversibleEmbedding(7, 4, **kwargs)
    theirs = real_keras.layers.ReversibleEmbedding(7, 4, **kwargs)
    ids = np.array([[0, 3, 6], [2, 2, 5]], "int32")
    ours(ids)
    theirs(ids)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    _randomize(ours, theirs, -1.5, 1.5)
    assert_matches(ours(ids), theirs(ids), what="embedding lookup")
    hidden = np.random.default_rng(2).normal(size=(2, 3, 4)).astype("float32")
    _gradients(ours, theirs, [hidden], lambda layer, h: layer(h, reverse=True))
    assert ours.get_config().keys() == theirs.get_config().keys()
    config = json.loads(json.dumps(theirs.get_config()))
    assert keras.layers.ReversibleEmbedding.from_config(config).get_config() == config


def test_reversible_embedding_masks_eager_outputs_only():
    layer = keras.layers.ReversibleEmbedding(5, 2, mask_zero=True)
    out = layer(tf.constant([[0, 1, 4]]))
    assert out._keras_mask.numpy().tolist() == [[False, True, True]]
    assert layer(out, reverse=True).shape == (1, 3, 5)
    assert getattr(layer(keras.Input((3,), dtype="int32")), "_keras_mask", None) is None


# ---------------------------------------------------------------------- GroupQueryAttention
GQA_CALLS = {
    "self": lambda layer, q, v: layer(q, q),
    "cross-key": lambda layer, q, v: layer(q, v, v * 0.5),
    "causal": lambda layer, q, v: layer(q, q, use_causal_mask=True),
    "scores": lambda layer, q, v: layer(q, v, return_attention_scores=True)[1],
}


@pytest.mark.keras_oracle
@pytest.mark.parametrize("call", list(GQA_CALLS), ids=list(GQA_CALLS))
@pytest.mark.parametrize("kwargs", [{}, {"use_gate": True, "sliding_window": 2},
                                    {"use_bias": False, "num_key_value_heads": 1}],
                         ids=["plain", "gate-window", "nobias-mqa"])
def test_group_query_attention_matches_keras(call, kwargs, real_keras):
    args = {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2, **kwargs}
    ours = keras.layers.GroupQueryAttention(**args)
    theirs = real_keras.layers.GroupQueryAttention(**args)
    rng = np.random.default_rng(3)
    q = rng.normal(size=(2, 4, 5)).astype("float32")
    v = rng.normal(size=(2, 6, 5)).astype("float32")
    ours(q, v)
    theirs(q, v)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert ours.name == theirs.name == "grouped_query_attention"
    _randomize(ours, theirs)
    _gradients(ours, theirs, [q, v], GQA_CALLS[call])


@pytest.mark.keras_oracle
def test_group_query_attention_masks_and_config_match_keras(real_keras):
    args = {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1, "dropout": 0.1,
            "seed": 4}
    ours = keras.layers.GroupQueryAttention(**args)
    theirs = real_keras.layers.GroupQueryAttention(**args)
    rng = np.random.default_rng(6)
    q = rng.normal(size=(2, 3, 4)).astype("float32")
    v = rng.normal(size=(2, 5, 4)).astype("float32")
    value_mask = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1]], bool)
    ours(q, v)
    theirs(q, v)
    _randomize(ours, theirs)
    assert_matches(ours(q, v, value_mask=tf.constant(value_mask)),
                   theirs(_torch(q), _torch(v), value_mask=_torch(value_mask)),
                   rtol=1e-5, atol=1e-6, what="value_mask")
    config = json.loads(json.dumps(theirs.get_config()))
    assert json.loads(json.dumps(ours.get_config())) == config
    restored = keras.layers.deserialize(json.loads(json.dumps(real_keras.layers.serialize(
        theirs))))
    assert type(restored) is keras.layers.GroupQueryAttention
    assert keras.layers.serialize(ours)["class_name"] == "GroupQueryAttention"


def test_group_query_attention_traces_unknown_lengths_and_checks_heads():
    layer = keras.layers.GroupQueryAttention(2, 4, 2)
    query = keras.Input((None, 6))
    assert layer(query, keras.Input((None, 6))).shape == (None, None, 6)
    with pytest.raises(ValueError, match="divisible"):
        keras.layers.GroupQueryAttention(2, 3, 2)


# ---------------------------------------------------------------------- SpectralNormalization
@pytest.mark.keras_oracle
@pytest.mark.parametrize("make, shape", [
    (lambda L: L.Dense(3), (2, 4)),
    (lambda L: L.Conv2D(2, 2), (1, 4, 4, 3)),
    (lambda L: L.Embedding(6, 3), (2, 3)),
], ids=["dense", "conv2d", "embedding"])
def test_spectral_normalization_matches_keras(make, shape, real_keras):
    ours = keras.layers.SpectralNormalization(make(keras.layers), power_iterations=2)
    theirs = real_keras.layers.SpectralNormalization(make(real_keras.layers),
                                                     power_iterations=2)
    rng = np.random.default_rng(8)
    integer = len(shape) == 2 and shape[1] == 3
    x = (rng.integers(0, 6, size=shape).astype("int32") if integer
         else rng.normal(size=shape).astype("float32"))
    ours(x)
    theirs(x)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    _randomize(ours, theirs)
    assert_matches(ours(x), theirs(x), what="inference output")
    # A training call first divides the kernel by its estimated spectral norm, in place.
    assert_matches(ours(x, training=True), theirs(x, training=True), rtol=1e-5, atol=1e-6,
                   what="training output")
    for w, w_k in zip(ours.weights, theirs.weights):
        assert_matches(w, w_k.value, rtol=1e-5, atol=1e-6, what=w.name)
    if not integer:
        _gradients(ours, theirs, [x], lambda layer, t: layer(t, training=True))
    config = json.loads(json.dumps(theirs.get_config()))
    assert json.loads(json.dumps(ours.get_config())) == config


def test_spectral_normalization_bounds_the_spectral_norm():
    """Power iteration converges: after enough training calls the kernel's largest singular
    value (NumPy float64 SVD) is 1."""
    layer = keras.layers.SpectralNormalization(keras.layers.Dense(4), power_iterations=5)
    x = np.ones((1, 6), "float32")
    layer(x)
    layer.layer.kernel.assign(np.random.default_rng(0).normal(size=(6, 4)).astype("float32"))
    for _ in range(5):
        layer(x, training=True)
    sigma = np.linalg.svd(layer.layer.kernel.numpy().astype("float64"), compute_uv=False)[0]
    assert abs(sigma - 1.0) < 1e-4
    zeros = keras.layers.SpectralNormalization(keras.layers.Dense(2))
    zeros(x)
    zeros.layer.kernel.assign(np.zeros((6, 2), "float32"))
    assert np.all(np.isfinite(zeros(x, training=True).numpy()))
    with pytest.raises(ValueError, match="power_iterations"):
        keras.layers.SpectralNormalization(keras.layers.Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="nor 'embeddings'"):
        keras.layers.SpectralNormalization(keras.layers.ReLU())(x)


# ---------------------------------------------------------------------- Wrapper
class _Twice(keras.layers.Wrapper):
    def call(self, x):
        return self.layer(self.layer(x))


@pytest.mark.keras_oracle
def test_wrapper_config_matches_keras(real_keras):
    theirs = real_keras.layers.Wrapper(real_keras.layers.Dense(3, name="inner"), name="w")
    ours = keras.layers.Wrapper(keras.layers.Dense(3, name="inner"), name="w")
    assert ours.get_config() == theirs.get_config()
    twice = _Twice.from_config(json.loads(json.dumps(theirs.get_config())))
    assert twice(np.ones((2, 3), "float32")).shape == (2, 3)
    assert twice.layer.built and isinstance(keras.layers.TimeDistributed(
        keras.layers.Dense(2)), keras.layers.Wrapper)
    with pytest.raises(ValueError, match="Wrapper"):
        keras.layers.Wrapper("dense")


# ---------------------------------------------------------------------- STFT, spectrograms
@pytest.mark.keras_oracle
@pytest.mark.parametrize("args", [("real", "hann", "density", False),
                                  ("imag", "hamming", "spectrum", True),
                                  ("real", "blackman", None, False),
                                  ("imag", None, None, False)])
def test_stft_initializer_matches_keras(args, real_keras):
    ours = keras.initializers.STFT(*args)
    theirs = real_keras.initializers.STFT(*args)
    assert_matches(ours((32, 1, 17)), theirs((32, 1, 17)), rtol=0, atol=1e-6, what=str(args))
    assert keras.initializers.serialize(ours) == real_keras.initializers.serialize(theirs)


def test_windows_match_their_definitions():
    """scipy.signal's window formulas, evaluated in float64 here."""
    from tensorflux.keras.initializers import get_window

    n = np.arange(6)
    np.testing.assert_allclose(get_window("hann", 6), 0.5 - 0.5 * np.cos(2 * np.pi * n / 5))
    np.testing.assert_allclose(get_window("hamming", 5, periodic=True),
                               (0.54 - 0.46 * np.cos(2 * np.pi * n / 5))[:5])
    np.testing.assert_allclose(get_window("bartlett", 5), [0.0, 0.5, 1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="Unknown window type 'kaiser'"):
        keras.initializers.STFT(window="kaiser")


@pytest.mark.keras_oracle
@pytest.mark.parametrize("kwargs, shape", [
    ({"fft_length": 64, "sequence_stride": 16, "num_mel_bins": 8, "sampling_rate": 8000},
     (2, 200)),
    ({"fft_length": 32, "sequence_stride": 10, "sequence_length": 24, "num_mel_bins": 6,
      "min_freq": 50.0, "max_freq": 3000, "power_to_db": False, "mag_exp": 1.0,
      "window": "hamming"}, (3, 100)),
    ({"fft_length": 32, "sequence_stride": 8, "num_mel_bins": 5, "top_db": 20.0,
      "ref_power": 2.0}, (90,)),
])
def test_mel_spectrogram_matches_keras(kwargs, shape, real_keras):
    x = np.random.default_rng(9).uniform(-1, 1, size=shape).astype("float32")
    ours = keras.layers.MelSpectrogram(**kwargs)
    theirs = real_keras.layers.MelSpectrogram(**kwargs)
    y = ours(x)
    # dB values are large: compare on a scale where 1e-5 relative is float32 rounding.
    assert_matches(y, theirs(x), rtol=1e-4, atol=1e-3, what="mel spectrogram")
    config = json.loads(json.dumps(theirs.get_config()))
    assert json.loads(json.dumps(ours.get_config())) == config
    assert keras.layers.MelSpectrogram.from_config(config).get_config() == config


@pytest.mark.keras_oracle
def test_stft_matches_keras_ops(real_keras):
    from tensorflux.keras.layers.spectral import stft

    x = np.random.default_rng(10).normal(size=(2, 3, 50)).astype("float32")
    for window, length in (("hann", 16), ("hamming", 12), (None, 16)):
        ours = stft(x, length, 5, 16, window=window)
        theirs = real_keras.ops.stft(x, length, 5, 16, window=window)
        for part, a, b in zip(("real", "imag"), ours, theirs):
            assert_matches(a, b, rtol=1e-5, atol=1e-5, what=f"{window} {part}")


def test_mel_spectrogram_gradient_matches_central_differences():
    layer = keras.layers.MelSpectrogram(fft_length=16, sequence_stride=8, num_mel_bins=4,
                                        power_to_db=False, dtype="float64")
    x = np.random.default_rng(11).uniform(-1, 1, size=(1, 40))
    weights = np.random.default_rng(12).normal(size=tuple(layer(x).shape))

    def loss(values):
        return float(np.sum(layer(values).numpy() * weights))

    watched = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(watched)
        value = tf.reduce_sum(layer(watched) * weights)
    grad = tape.gradient(value, watched).numpy()
    step = 1e-6
    numeric = np.zeros_like(x)
    for i in range(x.shape[1]):
        shift = np.zeros_like(x)
        shift[0, i] = step
        numeric[0, i] = (loss(x + shift) - loss(x - shift)) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------- HashedCrossing
def test_hashed_crossing_gives_tensorflows_bins():
    """The values Keras's own tests expect (TensorFlow's tf.sparse.cross_hashed)."""
    feat1 = np.array(["A", "B", "A", "B", "A"])
    feat2 = np.array([101, 101, 101, 102, 102])
    layer = keras.layers.HashedCrossing(num_bins=5)
    out = layer((feat1, feat2))
    assert out.dtype.name == "int64" and out.numpy().tolist() == [1, 4, 1, 1, 3]
    one_hot = keras.layers.HashedCrossing(num_bins=5, output_mode="one_hot")(
        (feat1[:, None], feat2[:, None]))
    assert one_hot.numpy().tolist() == [
        [0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0]]
    assert int(keras.layers.HashedCrossing(num_bins=10)((tf.constant("A"), 101))) == 1
    config = layer.get_config()
    assert config == {"num_bins": 5, "output_mode": "int", "sparse": False,
                      "name": layer.name, "dtype": "int64"}
    assert keras.layers.HashedCrossing.from_config(config).get_config() == config


def test_hashed_crossing_gives_output_shapes_to_functional_models():
    tokens, ids = keras.Input((1,), dtype="string"), keras.Input((1,), dtype="int64")
    assert keras.layers.HashedCrossing(4)((tokens, ids)).shape == (None, 1)
    one_hot = keras.layers.HashedCrossing(4, output_mode="one_hot")
    assert one_hot((tokens, ids)).shape == (None, 4)
    assert one_hot.compute_output_shape([(None, 1), (None, 1)]) == (None, 4)


def test_hashed_crossing_rejects_bad_inputs():
    layer = keras.layers.HashedCrossing(num_bins=4)
    with pytest.raises(ValueError, match="list or tuple"):
        layer(np.array([1, 2]))
    with pytest.raises(ValueError, match="at least two"):
        layer([np.array([1])])
    with pytest.raises(ValueError, match="equal shape"):
        layer((np.array([1, 2]), np.array([1])))
    with pytest.raises(ValueError, match="integer or string"):
        layer((np.array([1.0]), np.array([1.0])))
    with pytest.raises(ValueError, match="shape"):
        layer((np.ones((2, 2), "int32"), np.ones((2, 2), "int32")))


# ---------------------------------------------------------------------- Pipeline
@pytest.mark.keras_oracle
def test_pipeline_matches_keras(real_keras):
    def make(k):
        return k.layers.Pipeline([k.layers.Rescaling(0.5, offset=1.0),
                                  k.layers.Dense(3, name="dense"), k.layers.ReLU()],
                                 name="pipe")

    ours, theirs = make(keras), make(real_keras)
    x = np.random.default_rng(13).normal(size=(2, 4)).astype("float32")
    ours(x)
    theirs(x)
    _randomize(ours, theirs)
    _gradients(ours, theirs, [x], lambda layer, t: layer(t))
    # (Keras records a build_config for weightless layers too; tensorflux builds those in
    # their constructor and writes none, which loads the same.)
    config, our_config = (json.loads(json.dumps(layer.get_config())) for layer in (theirs, ours))
    for entry in config["layers"] + our_config["layers"]:
        entry.pop("build_config", None)
    assert our_config == config
    clone = keras.layers.Pipeline.from_config(config)
    assert [type(layer).__name__ for layer in clone.layers] == ["Rescaling", "Dense", "ReLU"]
    with pytest.raises(ValueError, match="`layers` key"):
        keras.layers.Pipeline.from_config({"name": "p"})


def test_pipeline_passes_masks_on():
    pipeline = keras.layers.Pipeline([keras.layers.Masking(0.0), keras.layers.LSTM(2)])
    x = np.ones((1, 3, 2), "float32")
    x[0, 2] = 0.0
    full = keras.layers.LSTM(2)
    full(x[:, :2])
    pipeline(x)
    full.set_weights(pipeline.layers[1].get_weights())
    np.testing.assert_allclose(pipeline(x).numpy(), full(x[:, :2]).numpy(), rtol=1e-6)


# ---------------------------------------------------------------------- saving with Keras
def volume_model(k):
    inputs = k.Input((3, 3, 2, 2), name="volume")
    x = k.layers.Conv3DTranspose(3, 2, strides=2, name="up")(inputs)
    x = k.layers.Cropping3D(((1, 0), (0, 1), 0), name="crop")(x)
    x = k.layers.ZeroPadding3D(1, name="pad")(x)
    x = k.layers.UpSampling3D((1, 2, 1), name="ups")(x)
    x = k.layers.AdaptiveMaxPooling3D((2, 3, 2), name="adapt")(x)
    x = k.layers.RMSNormalization(name="rms")(x)
    x = k.layers.Reshape((12, 3), name="seq")(x)
    x = k.layers.DepthwiseConv1D(3, depth_multiplier=2, name="dw")(x)
    x = k.layers.AdaptiveAveragePooling1D(4, name="adapt1d")(x)
    x = k.layers.Flatten(name="flat")(x)
    return k.Model(inputs, k.layers.Dense(2, name="out")(x), name="volume_model")


def token_model(k):
    tokens = k.Input((5,), dtype="int32", name="tokens")
    embed = k.layers.ReversibleEmbedding(11, 6, tie_weights=False, name="embed")
    x = embed(tokens)
    x = k.layers.GroupQueryAttention(3, 4, 2, use_gate=True, name="gqa")(x, x)
    x = k.layers.SpectralNormalization(k.layers.Dense(6), name="sn")(x)
    x = k.layers.Pipeline([k.layers.Dense(6, name="inner"), k.layers.ReLU()], name="pipe")(x)
    return k.Model(tokens, embed(x, reverse=True), name="token_model")


def _model_inputs(make):
    rng = np.random.default_rng(14)
    if make is token_model:
        return rng.integers(0, 11, size=(2, 5)).astype("int32")
    return rng.normal(size=(2, 3, 3, 2, 2)).astype("float32")


@pytest.mark.keras_oracle
@pytest.mark.parametrize("make", [volume_model, token_model])
def test_files_move_both_ways_with_real_keras(make, real_keras, tmp_path):
    x = _model_inputs(make)
    ours = make(keras)
    rng = np.random.default_rng(15)
    for w in ours.weights:
        w.assign(rng.uniform(-0.5, 0.5, size=tuple(w.shape)).astype("float32"))
    ours.save(tmp_path / "ours.keras")
    in_keras = real_keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(_numpy(in_keras.predict(x, verbose=0)),
                               ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    here = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_array_equal(here.predict(x, verbose=0), ours.predict(x, verbose=0))

    theirs = make(real_keras)
    theirs.save(tmp_path / "theirs.keras")
    loaded = keras.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0),
                               _numpy(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)
