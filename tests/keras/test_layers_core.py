"""Core Keras layers (core, reshaping, merging, normalization, regularization, activation,
Rescaling) through one harness, with real Keras 3 as the oracle; then behaviour tests."""

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.saving.serialization import (
    CustomObjectScope,
    deserialize_keras_object,
    serialize_keras_object,
)
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

RTOL, ATOL = 1e-5, 1e-6


@dataclass
class Case:
    """One layer configuration for the harness.

    shapes: the input shape (a tuple) or a list of them for merge layers; out: the expected
    eager output shape; counts: (trainable, non-trainable) weight counts once built;
    training: the mode of the compared forward pass; random: the layer draws noise when
    training, so only inference is compared and the training step runs in inference mode.
    """

    layer: str
    kwargs: dict
    shapes: object
    out: tuple
    counts: tuple = (0, 0)
    training: bool = False
    random: bool = False
    int_input: int = 0  # > 0: integer inputs in [0, int_input)
    zero_rows: bool = False  # some timesteps all zero (Masking)
    id: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.id:
            args = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
            self.id = f"{self.layer}({args})" + ("-train" if self.training else "")


def _lambda_fn(x):
    return x * 2.0 + 1.0


CASES = [
    # core
    Case("Dense", {"units": 4}, (3, 5), (3, 4), (2, 0)),
    Case("Dense", {"units": 4, "activation": "relu"}, (3, 5), (3, 4), (2, 0)),
    Case("Dense", {"units": 3, "activation": "tanh", "use_bias": False}, (3, 5), (3, 3),
         (1, 0)),
    Case("Dense", {"units": 3, "activation": "softmax"}, (2, 4, 5), (2, 4, 3), (2, 0)),
    Case("Dense", {"units": 2, "activation": "sigmoid", "kernel_regularizer": "l2"}, (3, 5),
         (3, 2), (2, 0)),
    Case("Activation", {"activation": "gelu"}, (3, 4), (3, 4)),
    Case("Activation", {"activation": "softmax"}, (3, 4), (3, 4)),
    Case("Embedding", {"input_dim": 10, "output_dim": 4}, (3, 5), (3, 5, 4), (1, 0),
         int_input=10),
    Case("Embedding", {"input_dim": 6, "output_dim": 3, "mask_zero": True}, (2, 4),
         (2, 4, 3), (1, 0), int_input=6),
    Case("Lambda", {"function": _lambda_fn}, (3, 4), (3, 4), id="Lambda(named)",
         extra={"custom_objects": {"_lambda_fn": _lambda_fn}}),
    Case("Identity", {}, (3, 4), (3, 4)),
    Case("Masking", {"mask_value": 0.0}, (2, 3, 4), (2, 3, 4), zero_rows=True),
    # reshaping
    Case("Flatten", {}, (2, 3, 4), (2, 12)),
    Case("Flatten", {"data_format": "channels_first"}, (2, 3, 4, 5), (2, 60)),
    Case("Reshape", {"target_shape": (4, 3)}, (2, 12), (2, 4, 3)),
    Case("Reshape", {"target_shape": (-1, 2)}, (2, 3, 4), (2, 6, 2)),
    Case("Permute", {"dims": (2, 1)}, (2, 3, 4), (2, 4, 3)),
    Case("Permute", {"dims": (3, 1, 2)}, (2, 3, 4, 5), (2, 5, 3, 4)),
    Case("RepeatVector", {"n": 3}, (2, 4), (2, 3, 4)),
    # merging
    Case("Add", {}, [(2, 4), (2, 4)], (2, 4)),
    Case("Add", {}, [(2, 3, 4), (2, 3, 4), (2, 3, 4)], (2, 3, 4), id="Add-3inputs"),
    Case("Subtract", {}, [(2, 4), (2, 4)], (2, 4)),
    Case("Multiply", {}, [(2, 3, 4), (2, 4)], (2, 3, 4), id="Multiply-ranks"),
    Case("Multiply", {}, [(2, 1, 4), (2, 3, 4)], (2, 3, 4), id="Multiply-broadcast"),
    Case("Average", {}, [(2, 4), (2, 4), (2, 4)], (2, 4)),
    Case("Maximum", {}, [(2, 4), (2, 4)], (2, 4)),
    Case("Minimum", {}, [(2, 4), (2, 4)], (2, 4)),
    Case("Concatenate", {}, [(2, 3), (2, 4)], (2, 7)),
    Case("Concatenate", {"axis": 1}, [(2, 3, 4), (2, 2, 4), (2, 1, 4)], (2, 6, 4)),
    Case("Dot", {"axes": 1}, [(2, 4), (2, 4)], (2, 1)),
    Case("Dot", {"axes": -1, "normalize": True}, [(2, 3, 4), (2, 5, 4)], (2, 3, 5)),
    Case("Dot", {"axes": (1, 2)}, [(2, 3, 4), (2, 5, 3)], (2, 4, 5)),
    Case("Dot", {"axes": (3, 1)}, [(2, 3, 4, 5), (2, 5, 6)], (2, 3, 4, 6)),
    # normalization
    Case("BatchNormalization", {}, (6, 4), (6, 4), (2, 2), training=True),
    Case("BatchNormalization", {}, (6, 4), (6, 4), (2, 2)),
    Case("BatchNormalization", {"axis": 1}, (4, 3, 5), (4, 3, 5), (2, 2), training=True),
    Case("BatchNormalization", {"momentum": 0.9, "epsilon": 1e-2, "center": False},
         (3, 2, 2, 4), (3, 2, 2, 4), (1, 2), training=True),
    Case("BatchNormalization", {"scale": False}, (5, 3), (5, 3), (1, 2), training=True),
    Case("BatchNormalization", {"trainable": False}, (5, 3), (5, 3), (0, 4), training=True,
         id="BatchNormalization-frozen-train"),
    Case("LayerNormalization", {}, (3, 5), (3, 5), (2, 0)),
    Case("LayerNormalization", {"axis": [1, 2]}, (2, 3, 4), (2, 3, 4), (2, 0)),
    Case("LayerNormalization", {"axis": 1, "epsilon": 1e-5}, (2, 3, 4), (2, 3, 4), (2, 0),
         extra={"no_oracle": "Keras 3.15's torch LayerNormalization hands a single non-last "
                             "axis to F.layer_norm, which rejects it"}),
    Case("LayerNormalization", {"center": False}, (3, 5), (3, 5), (1, 0)),
    Case("LayerNormalization", {"scale": False}, (3, 5), (3, 5), (1, 0)),
    # regularization
    Case("Dropout", {"rate": 0.5}, (3, 4), (3, 4), random=True),
    Case("Dropout", {"rate": 0.3, "noise_shape": (None, 1), "seed": 3}, (3, 4), (3, 4),
         random=True),
    Case("SpatialDropout1D", {"rate": 0.2}, (2, 3, 4), (2, 3, 4), random=True),
    Case("SpatialDropout2D", {"rate": 0.2}, (2, 3, 3, 4), (2, 3, 3, 4), random=True),
    Case("GaussianNoise", {"stddev": 0.1}, (3, 4), (3, 4), random=True),
    Case("GaussianDropout", {"rate": 0.2}, (3, 4), (3, 4), random=True),
    Case("ActivityRegularization", {"l1": 0.01, "l2": 0.02}, (3, 4), (3, 4)),
    # preprocessing
    Case("Rescaling", {"scale": 1.0 / 255}, (3, 4), (3, 4)),
    Case("Rescaling", {"scale": [0.5, 2.0, 1.0], "offset": -1.0}, (2, 2, 3), (2, 2, 3)),
    # activation layers
    Case("ReLU", {}, (3, 4), (3, 4)),
    Case("ReLU", {"max_value": 2.0, "negative_slope": 0.1, "threshold": 0.5}, (3, 4), (3, 4)),
    Case("LeakyReLU", {}, (3, 4), (3, 4)),
    Case("LeakyReLU", {"negative_slope": 0.05}, (3, 4), (3, 4)),
    Case("PReLU", {}, (3, 4), (3, 4), (1, 0)),
    Case("PReLU", {"shared_axes": [1, 2]}, (2, 3, 3, 4), (2, 3, 3, 4), (1, 0)),
    Case("ELU", {}, (3, 4), (3, 4)),
    Case("ELU", {"alpha": 0.5}, (3, 4), (3, 4)),
    Case("Softmax", {}, (3, 4), (3, 4)),
    Case("Softmax", {"axis": 1}, (2, 3, 4), (2, 3, 4)),
    Case("Softmax", {"axis": (1, 2)}, (2, 3, 4), (2, 3, 4)),
]
IDS = [case.id for case in CASES]


# ---------------------------------------------------------------------- the harness
def make_inputs(case, seed=0):
    """NumPy inputs for the case (a list for merge layers), away from relu-like kinks."""
    rng = np.random.default_rng(seed)
    shapes = case.shapes if isinstance(case.shapes, list) else [case.shapes]
    arrays = []
    for shape in shapes:
        if case.int_input:
            x = rng.integers(0, case.int_input, size=shape).astype("int32")
            x.flat[0] = 0  # exercise index 0 (the masked index with mask_zero)
        else:
            x = rng.uniform(-2.5, 2.5, size=shape)
            near = np.abs(x - np.round(x * 2) / 2) < 0.05  # kinks at 0, 0.5, 2.0 ...
            x = np.where(near, x + 0.1, x).astype("float32")
            if case.zero_rows:
                x[0, 1] = 0.0
                x[1, 2] = 0.0
        arrays.append(x)
    return arrays if isinstance(case.shapes, list) else arrays[0]


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def call(layer, inputs, training):
    kwargs = {"training": training} if training else {}
    return layer(inputs, **kwargs)


def our_layer(case):
    return getattr(keras.layers, case.layer)(**case.kwargs)


def check_layer(case):
    """The harness: build, shapes/dtypes (eager == symbolic), weight counts, config round trip
    (direct, through JSON and through the allowlist), one training step lowering a loss.
    `compare_with_keras` is its oracle half (real Keras 3 needed)."""
    layer = our_layer(case)
    inputs = make_inputs(case)
    tensors = [tf.constant(x) for x in as_list(inputs)]
    feed = tensors if isinstance(inputs, list) else tensors[0]

    # build + eager output
    out = layer(feed)
    assert layer.built
    assert tuple(out.shape) == case.out, f"eager shape {tuple(out.shape)} != {case.out}"
    assert out.dtype.name == "float32"

    # symbolic call agrees with the eager one
    symbolic_in = [keras.Input(shape=x.shape[1:], dtype=x.dtype.name) for x in
                   as_list(inputs)]
    symbolic_out = layer(symbolic_in if isinstance(inputs, list) else symbolic_in[0])
    expected = (None,) + case.out[1:]
    if case.layer == "EinsumDense":  # Keras: the None dims of `output_shape` stay unknown
        expected = layer.compute_output_shape(symbolic_in[0].shape)
    assert symbolic_out.shape == expected
    assert symbolic_out.dtype == out.dtype.name

    # weights
    trainable, non_trainable = case.counts
    assert len(layer.trainable_weights) == trainable
    assert len(layer.non_trainable_weights) == non_trainable
    assert all(w.path == f"{layer.name}/{w.name}" for w in layer.weights)

    # config round trip: direct, through JSON, and resolved from the allowlist by name
    with CustomObjectScope(case.extra.get("custom_objects", {})):
        clone = _config_round_trip(layer)
    # the clone computes the same function once given the same weights
    clone(feed)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(feed).numpy(), layer(feed).numpy(), rtol=0, atol=0)

    _training_step_lowers_loss(case, layer, tensors, isinstance(inputs, list))


def _config_round_trip(layer):
    config = layer.get_config()
    text = json.dumps(config)
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert json.dumps(type(layer).from_config(json.loads(text)).get_config()) == text
    restored = deserialize_keras_object(json.loads(json.dumps(serialize_keras_object(layer))))
    assert type(restored) is type(layer)
    return clone


def _training_step_lowers_loss(case, layer, tensors, as_list_input):
    """One SGD step on the trainable weights (or on the float inputs of a weightless layer)
    lowers a mean squared error towards a fixed random target."""
    training = case.training and not case.random
    weights = layer.trainable_weights
    if not weights:
        if case.int_input:
            return
        tensors = [tf.Variable(t) for t in tensors]
        weights = tensors
    target = tf.constant(np.random.default_rng(1).normal(size=case.out).astype("float32"))

    def loss_value():
        feed = tensors if as_list_input else tensors[0]
        y = call(layer, feed, training)
        return tf.reduce_mean(tf.square(y - target)) + tf.add_n(
            [tf.constant(0.0)] + [tf.reduce_sum(v) for v in layer.losses])

    with tf.GradientTape() as tape:
        before = loss_value()
    grads = tape.gradient(before, weights)
    assert any(g is not None for g in grads), "no gradient reaches the weights"
    for w, g in zip(weights, grads):
        if g is not None:
            w.assign_sub(0.05 * tf.convert_to_tensor(g))
    after = loss_value()
    assert float(after) < float(before), f"loss {float(before)} -> {float(after)}"


def compare_with_keras(case, k):
    """Same weights and inputs in real Keras 3: outputs, gradients (inputs and weights),
    state after the call (BN moving statistics) and losses agree to float32 rounding."""
    import torch

    ours = our_layer(case)
    theirs = getattr(k.layers, case.layer)(**case.kwargs)
    inputs = make_inputs(case, seed=3)
    arrays = as_list(inputs)
    feed = [tf.constant(x) for x in arrays]
    # Build both (inference: no moving-statistics update), then copy random weights over.
    ours(feed if isinstance(inputs, list) else feed[0])
    theirs(inputs)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    rng = np.random.default_rng(5)
    for w in ours.weights:
        w.assign(rng.uniform(0.5, 1.5, size=tuple(w.shape)).astype("float32"))
    theirs.set_weights(ours.get_weights())
    assert ours.get_config().keys() == theirs.get_config().keys()

    float_inputs = not case.int_input
    watched = [tf.constant(x) for x in arrays]
    torch_in = [torch.tensor(x, requires_grad=float_inputs) for x in arrays]
    training = case.training and not case.random

    with tf.GradientTape() as tape:
        for t in watched:
            tape.watch(t)
        y = call(ours, watched if isinstance(inputs, list) else watched[0], training)
    y_k = call(theirs, torch_in if isinstance(inputs, list) else torch_in[0], training)
    assert_matches(y, y_k, rtol=RTOL, atol=ATOL, what=f"{case.id} output")

    cotangent = np.random.default_rng(7).normal(size=case.out).astype("float32")
    sources = (watched if float_inputs else []) + list(ours.trainable_weights)
    grads = tape.gradient(y, sources, output_gradients=tf.constant(cotangent))
    (y_k * torch.tensor(cotangent)).sum().backward()
    their_sources = (torch_in if float_inputs else []) + [
        w.value for w in theirs.trainable_weights]
    for index, (g, t) in enumerate(zip(grads, their_sources)):
        expected = t.grad if t.grad is not None else torch.zeros_like(t)
        ours_g = tf.zeros_like(sources[index]) if g is None else tf.convert_to_tensor(g)
        assert_matches(ours_g, expected, rtol=RTOL, atol=ATOL,
                       what=f"{case.id} gradient {index}")
    # moving statistics (BatchNormalization) and any other state after the call
    for w, w_k in zip(ours.non_trainable_weights, theirs.non_trainable_weights):
        assert_matches(w, w_k.value, rtol=RTOL, atol=ATOL, what=f"{case.id} {w.name}")
    if ours.losses or theirs.losses:
        assert_matches(tf.add_n(ours.losses), sum(theirs.losses), rtol=RTOL, atol=ATOL,
                       what=f"{case.id} losses")


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
@pytest.mark.parametrize("case", [c for c in CASES if c.layer != "Lambda"],
                         ids=[c.id for c in CASES if c.layer != "Lambda"])
def test_keras_configs_load(case, real_keras):
    """A config written by real Keras 3 loads into the same layer and config."""
    if "no_oracle" in case.extra:
        pytest.skip(case.extra["no_oracle"])
    theirs = getattr(real_keras.layers, case.layer)(**case.kwargs)
    theirs(make_inputs(case))
    config = json.loads(json.dumps(theirs.get_config()))
    ours = getattr(keras.layers, case.layer).from_config(config)
    ours(make_inputs(case))
    mine = json.loads(json.dumps(ours.get_config()))
    assert mine == config


# ---------------------------------------------------------------------- errors
def _raises(match_parts, fn):
    with pytest.raises(ValueError) as info:
        fn()
    message = str(info.value)
    for part in match_parts:
        assert part in message, f"{part!r} not in: {message}"
    return message


def test_dense_names_expected_and_received_shapes():
    layer = keras.layers.Dense(3, name="dense_1")
    layer(np.zeros((2, 8), "float32"))
    _raises(["Dense 'dense_1' expected an input with last dimension 8, received shape (32, 7)"],
            lambda: layer(np.zeros((32, 7), "float32")))
    _raises(["Dense 'd1d'", "rank >= 2", "(7,)"],
            lambda: keras.layers.Dense(3, name="d1d")(np.zeros((7,), "float32")))


def test_dense_after_flatten_of_unknown_spatial_size_explains_the_fix():
    """The VGG16-style snippet: a conv base without input_shape, then Flatten and Dense."""
    inputs = keras.Input(shape=(None, None, 3))
    flat = keras.layers.Flatten(name="flatten")(inputs)
    assert flat.shape == (None, None)
    message = _raises(["Dense 'head'", "unknown (None)", "(None, None)", "Flatten 'flatten'",
                       "(None, None, None, 3)", "input_shape", "GlobalAveragePooling2D"],
                      lambda: keras.layers.Dense(10, name="head")(flat))
    assert "kernel" in message
    _raises(["Dense 'head2'", "GlobalAveragePooling2D"], lambda: keras.Sequential(
        [keras.Input(shape=(None, None, 3)), keras.layers.Flatten(),
         keras.layers.Dense(4, name="head2")]))
    # With a known spatial size the same stack builds.
    model = keras.Sequential([keras.Input(shape=(4, 4, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
    assert model.output_shape == (None, 4)


def test_shape_errors_name_the_layer_and_shapes():
    _raises(["Concatenate 'cat'", "except for the concatenation axis -1",
             "[(None, 3, 2), (None, 4, 2)]"],
            lambda: keras.layers.Concatenate(name="cat")([keras.Input((3, 2)),
                                                         keras.Input((4, 2))]))
    _raises(["Reshape 'rs'", "(None, 6)", "(4,)", "total size"],
            lambda: keras.layers.Reshape((4,), name="rs")(keras.Input((6,))))
    _raises(["Reshape 'rs2'", "(2, 5)", "(3, -1)"],
            lambda: keras.layers.Reshape((3, -1), name="rs2")(np.zeros((2, 5), "float32")))
    _raises(["Add 'add_bad'", "[(None, 3), (None, 4)]"],
            lambda: keras.layers.Add(name="add_bad")([keras.Input((3,)), keras.Input((4,))]))
    _raises(["Dot 'dot_bad'", "3 (at axis 1) != 4 (at axis 1)", "(None, 3)", "(None, 4)"],
            lambda: keras.layers.Dot(1, name="dot_bad")([keras.Input((3,)),
                                                         keras.Input((4,))]))
    _raises(["Subtract 'sub'", "exactly 2"],
            lambda: keras.layers.Subtract(name="sub")([keras.Input((3,))] * 3))
    _raises(["BatchNormalization 'bn'", "axis 1", "(None, None)"],
            lambda: keras.layers.BatchNormalization(axis=1, name="bn")(
                keras.Input((None,))))
    _raises(["Permute 'perm'", "rank 3", "(2, 3)"],
            lambda: keras.layers.Permute((2, 1), name="perm")(np.zeros((2, 3), "float32")))


def test_constructor_arguments_are_validated():
    for make in (lambda: keras.layers.Dense(0), lambda: keras.layers.Dropout(1.5),
                 lambda: keras.layers.Permute((1, 3)), lambda: keras.layers.Reshape((-1, -1)),
                 lambda: keras.layers.Embedding(0, 3), lambda: keras.layers.ReLU(max_value=-1),
                 lambda: keras.layers.LeakyReLU(negative_slope=-0.1),
                 lambda: keras.layers.Dot(axes=(1, 2, 3)), lambda: keras.layers.RepeatVector(0),
                 lambda: keras.layers.GaussianNoise(-1.0)):
        with pytest.raises(ValueError):
            make()


def test_embedding_index_out_of_range_names_the_layer():
    layer = keras.layers.Embedding(5, 2, name="emb")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Embedding 'emb'.*\[0, 5\)"):
        layer(np.array([[1, 7]], "int32"))


# ---------------------------------------------------------------------- semantics
def test_dropout_is_inverted_and_only_active_when_training():
    x = tf.ones((100, 100))
    layer = keras.layers.Dropout(0.3, seed=4)
    assert np.array_equal(layer(x).numpy(), x.numpy())
    assert np.array_equal(layer(x, training=False).numpy(), x.numpy())
    y = layer(x, training=True).numpy()
    assert set(np.unique(y).tolist()) <= {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.03
    assert abs(y.mean() - 1.0) < 0.05  # inverted: the expectation is kept
    assert not np.array_equal(y, layer(x, training=True).numpy())  # a fresh mask per call
    same_seed = keras.layers.Dropout(0.3, seed=4)
    again = keras.layers.Dropout(0.3, seed=4)
    assert np.array_equal(same_seed(x, training=True).numpy(),
                          again(x, training=True).numpy())
    rows = keras.layers.Dropout(0.5, noise_shape=(None, 1), seed=1)(x, training=True).numpy()
    assert all(len(set(row.tolist())) == 1 for row in rows)
    assert np.array_equal(keras.layers.Dropout(1.0)(x, training=True).numpy(),
                          np.zeros((100, 100), "float32"))
    channels = keras.layers.SpatialDropout2D(0.5, seed=2)(tf.ones((4, 3, 3, 8)),
                                                           training=True).numpy()
    assert np.all(channels == channels[:, :1, :1, :])  # whole feature maps kept or dropped


def test_gaussian_layers_statistics():
    x = tf.ones((200, 200))
    noisy = keras.layers.GaussianNoise(0.2, seed=1)(x, training=True).numpy()
    assert abs(noisy.mean() - 1.0) < 0.01 and abs(noisy.std() - 0.2) < 0.01
    dropped = keras.layers.GaussianDropout(0.2, seed=1)(x, training=True).numpy()
    assert abs(dropped.mean() - 1.0) < 0.01 and abs(dropped.std() - 0.5) < 0.01
    assert np.array_equal(keras.layers.GaussianNoise(0.2)(x).numpy(), x.numpy())


def test_batchnorm_training_uses_batch_statistics_and_updates_moving_ones():
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(64, 3)).astype("float32")
    bn = keras.layers.BatchNormalization()
    y = bn(x, training=True).numpy()
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(0), x.var(0) / (x.var(0) + 1e-3), rtol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.99 + 0.01 * x.var(0), rtol=1e-5)
    inference = bn(x).numpy()  # moving statistics, no update
    np.testing.assert_allclose(inference, (x - bn.moving_mean.numpy()) / np.sqrt(
        bn.moving_variance.numpy() + 1e-3), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * x.mean(0), rtol=1e-5)
    assert [w.trainable for w in bn.weights] == [True, True, False, False]


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_batchnorm_runs_in_inference_mode_inside_fit(frozen):
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(16, 3)).astype("float32")
    y = x.sum(1, keepdims=True)
    bn = keras.layers.BatchNormalization(trainable=not frozen)
    model = keras.Sequential([keras.Input((3,)), bn, keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    moved = not np.allclose(bn.moving_mean.numpy(), 0.0)
    assert moved is not frozen
    assert len(model.trainable_weights) == (2 if frozen else 4)


def test_lambda_config_refuses_python_lambdas_even_when_unsafe():
    layer = keras.layers.Lambda(lambda x: x * 3.0 + 1.0, name="lam")
    np.testing.assert_array_equal(layer(tf.constant([[1.0, 2.0]])).numpy(), [[4.0, 7.0]])
    config = json.loads(json.dumps(layer.get_config()))
    assert config["function"]["class_name"] == "__lambda__"
    # The refusal does not suggest safe_mode=False, which would not run the code either.
    with pytest.raises(ValueError, match="never does, with or without safe_mode.*"
                                         "load_weights"):
        keras.layers.Lambda.from_config(config)
    with pytest.raises(ValueError, match="lambda"):
        deserialize_keras_object(serialize_keras_object(layer))
    with pytest.raises(ValueError, match="holds no code"):
        keras.layers.Lambda.from_config(config, safe_mode=False)
    keras_style = dict(config, function={"class_name": "__lambda__", "config": {
        "code": "4wEAAAAA\n", "defaults": None, "closure": None}})
    with pytest.raises(NotImplementedError, match="bytecode.*never runs, even with "
                                                  "safe_mode=False.*load_weights"):
        keras.layers.Lambda.from_config(keras_style, safe_mode=False)


def test_lambda_with_named_function_needs_it_registered_or_passed():
    layer = keras.layers.Lambda(_lambda_fn, arguments={})
    config = json.loads(json.dumps(layer.get_config()))
    assert config["function"]["config"] == "_lambda_fn"
    with pytest.raises(TypeError, match="_lambda_fn"):
        keras.layers.Lambda.from_config(config)
    loaded = keras.layers.Lambda.from_config(config, custom_objects={"_lambda_fn": _lambda_fn})
    assert loaded.function is _lambda_fn


def test_masks_from_embedding_and_masking():
    ids = np.array([[0, 2, 3], [4, 0, 0]], "int32")
    emb = keras.layers.Embedding(5, 2, mask_zero=True)
    assert emb.compute_mask(tf.constant(ids)).numpy().tolist() == (ids != 0).tolist()
    symbolic = emb(keras.Input((3,), dtype="int32"))
    assert symbolic._keras_mask is not None and symbolic._keras_mask.shape == (None, 3)
    assert keras.layers.Embedding(5, 2).compute_mask(tf.constant(ids)) is None
    x = np.ones((2, 3, 2), "float32")
    x[0, 1] = 0.0
    masking = keras.layers.Masking()
    assert masking.compute_mask(tf.constant(x)).numpy().tolist() == [[True, False, True],
                                                                    [True, True, True]]


def test_layers_resolve_from_the_allowlist_in_a_sequential_config():
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(4, activation="relu"),
        keras.layers.BatchNormalization(), keras.layers.Dropout(0.5),
        keras.layers.Reshape((2, 2)), keras.layers.LayerNormalization(),
        keras.layers.Flatten(), keras.layers.LeakyReLU(), keras.layers.Dense(1)])
    config = json.loads(json.dumps(model.get_config()))
    clone = keras.Sequential.from_config(config)
    assert [type(layer).__name__ for layer in clone.layers] == [
        type(layer).__name__ for layer in model.layers]
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_activity_regularization_adds_a_batch_averaged_loss():
    layer = keras.layers.ActivityRegularization(l1=0.1, l2=0.5)
    x = np.array([[1.0, -2.0], [3.0, 0.0]], "float32")
    layer(x)
    expected = (0.1 * np.abs(x).sum() + 0.5 * np.square(x).sum()) / 2
    np.testing.assert_allclose(float(tf.add_n(layer.losses)), expected, rtol=1e-6)


@pytest.mark.keras_oracle
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside Keras's torch fit
def test_batchnorm_inside_fit_matches_keras(real_keras):
    """Moving statistics and weights after one epoch of SGD fit equal Keras's."""
    k = real_keras
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, size=(16, 3)).astype("float32")
    y = x.sum(1, keepdims=True)

    def build(lib):
        return lib.Sequential([lib.Input((3,)), lib.layers.Dense(4),
                               lib.layers.BatchNormalization(momentum=0.9),
                               lib.layers.Dense(1)])

    ours, theirs = build(keras), build(k)
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer="sgd", loss="mse")
    theirs.compile(optimizer="sgd", loss="mse")
    ours.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    theirs.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for w, w_k in zip(ours.weights, theirs.weights):
        assert_matches(w, w_k.value, rtol=1e-5, atol=1e-6, what=w.path)


@pytest.mark.parametrize("make", [
    lambda L: L.Dropout(0.5), lambda L: L.GaussianNoise(0.5), lambda L: L.GaussianDropout(0.5),
    lambda L: L.SpatialDropout1D(0.5)], ids=["Dropout", "GaussianNoise", "GaussianDropout",
                                             "SpatialDropout1D"])
def test_noise_layers_called_with_training_true_build_on_an_unknown_batch(make):
    # The Monte Carlo dropout pattern: Keras builds it on Input((...)) with a None batch; the
    # mask is drawn at the batch's run-time size.
    inputs = keras.Input((4, 3))
    model = keras.Model(inputs, make(keras.layers)(inputs, training=True))
    x = np.ones((5, 4, 3), "float32")
    first, second = np.asarray(model(x)), np.asarray(model(x))
    assert first.shape == (5, 4, 3) and not np.array_equal(first, second)
    # (predict's training=False overrides the one given when building, as in Keras 3)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    model.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(model.fit(x, x, epochs=1, verbose=0).history["loss"][0])
