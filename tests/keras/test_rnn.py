"""Recurrent layers (SimpleRNN, LSTM, GRU, RNN over cells, Bidirectional, TimeDistributed,
ConvLSTM2D) and masking: the layer harness, then real Keras 3 (torch backend) as the oracle
for outputs, gradients and three Adam steps, then behaviour tests."""

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tensorflux.keras.saving.serialization import deserialize_keras_object, serialize_keras_object
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

RTOL, ATOL = 2e-5, 2e-6
MASK = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=bool)


@dataclass
class Case:
    """layer: the class name in keras.layers; make(layers) builds it from either Keras;
    shape: input shape; n_out: how many outputs; mask: pass MASK; initial: pass states."""

    id: str
    make: object
    shape: tuple = (3, 5, 4)
    mask: bool = False
    initial: tuple = ()
    extra: dict = field(default_factory=dict)


def _cells(L):
    return L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_sequences=True)


CASES = [
    Case("LSTM", lambda L: L.LSTM(3)),
    Case("LSTM-seq", lambda L: L.LSTM(3, return_sequences=True)),
    Case("LSTM-state", lambda L: L.LSTM(3, return_state=True)),
    Case("LSTM-seq-state-backwards", lambda L: L.LSTM(3, return_sequences=True,
                                                     return_state=True, go_backwards=True)),
    Case("LSTM-mask", lambda L: L.LSTM(3, return_sequences=True), mask=True),
    Case("LSTM-mask-backwards-state", lambda L: L.LSTM(3, go_backwards=True,
                                                      return_state=True), mask=True),
    Case("LSTM-initial-mask", lambda L: L.LSTM(3, return_sequences=True), mask=True,
         initial=((3, 3), (3, 3))),
    Case("LSTM-nobias-unroll", lambda L: L.LSTM(3, use_bias=False, unroll=True)),
    Case("LSTM-relu-generic", lambda L: L.LSTM(3, activation="relu", return_sequences=True),
         mask=True),
    Case("GRU", lambda L: L.GRU(3)),
    Case("GRU-seq-mask", lambda L: L.GRU(3, return_sequences=True), mask=True),
    Case("GRU-reset-before", lambda L: L.GRU(3, reset_after=False, return_sequences=True)),
    Case("GRU-reset-before-mask-backwards", lambda L: L.GRU(3, reset_after=False,
                                                           go_backwards=True), mask=True),
    Case("GRU-state-initial", lambda L: L.GRU(3, return_state=True), initial=((3, 3),)),
    Case("GRU-hard-sigmoid-generic", lambda L: L.GRU(3, recurrent_activation="hard_sigmoid",
                                                     return_sequences=True)),
    Case("SimpleRNN", lambda L: L.SimpleRNN(3)),
    Case("SimpleRNN-seq-mask", lambda L: L.SimpleRNN(3, return_sequences=True), mask=True),
    Case("RNN-stacked-cells", _cells),
    Case("Bidirectional-concat", lambda L: L.Bidirectional(L.LSTM(3, return_sequences=True))),
    Case("Bidirectional-sum-mask", lambda L: L.Bidirectional(
        L.GRU(3, return_sequences=True), merge_mode="sum"), mask=True),
    Case("Bidirectional-mul", lambda L: L.Bidirectional(L.LSTM(2), merge_mode="mul")),
    Case("Bidirectional-ave-state", lambda L: L.Bidirectional(
        L.LSTM(2, return_state=True), merge_mode="ave")),
    Case("Bidirectional-none", lambda L: L.Bidirectional(L.GRU(2, return_sequences=True),
                                                        merge_mode=None)),
    Case("Bidirectional-backward-layer", lambda L: L.Bidirectional(
        L.LSTM(2, return_sequences=True),
        backward_layer=L.GRU(2, return_sequences=True, go_backwards=True))),
    Case("TimeDistributed-Dense", lambda L: L.TimeDistributed(L.Dense(2, activation="tanh"))),
    Case("ConvLSTM2D", lambda L: L.ConvLSTM2D(2, 3, padding="same", return_sequences=True),
         shape=(2, 3, 4, 4, 1)),
    Case("ConvLSTM2D-valid-state", lambda L: L.ConvLSTM2D(2, (2, 3), return_state=True),
         shape=(2, 3, 4, 5, 2)),
]
IDS = [c.id for c in CASES]


def _inputs(case, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, size=case.shape).astype("float32")
    states = [rng.uniform(-0.8, 0.8, size=s).astype("float32") for s in case.initial]
    return x, states


def _flat(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _call(layer, x, states, mask, to_tensor):
    kwargs = {}
    if mask is not None:
        kwargs["mask"] = to_tensor(mask)
    if states:
        kwargs["initial_state"] = [to_tensor(s) for s in states]
    return layer(to_tensor(x), **kwargs)


# ---------------------------------------------------------------------- harness
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rnn_harness(case):
    """Build, eager vs symbolic shapes, weight paths, config round trips, a training step."""
    layer = case.make(keras.layers)
    x, states = _inputs(case)
    mask = MASK if case.mask else None
    out = _flat(_call(layer, x, states, mask, tf.constant))
    assert layer.built and all(o.dtype.name == "float32" for o in out)
    symbolic = _flat(layer(keras.Input(shape=case.shape[1:])))
    assert [s.shape[1:] for s in symbolic] == [tuple(o.shape)[1:] for o in out]
    assert layer.trainable_weights and not layer.non_trainable_weights

    config = layer.get_config()
    text = json.dumps(config)
    clone = type(layer).from_config(json.loads(text))
    assert json.dumps(clone.get_config()) == text
    restored = deserialize_keras_object(json.loads(json.dumps(serialize_keras_object(layer))))
    assert type(restored) is type(layer)
    _call(clone, x, states, mask, tf.constant)
    clone.set_weights(layer.get_weights())
    for a, b in zip(_flat(_call(clone, x, states, mask, tf.constant)), out):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    target = [np.random.default_rng(1).normal(size=tuple(o.shape)).astype("float32")
              for o in out]

    def loss():
        got = _flat(_call(layer, x, states, mask, tf.constant))
        return tf.add_n([tf.reduce_mean(tf.square(g - t)) for g, t in zip(got, target)])

    with tf.GradientTape() as tape:
        before = loss()
    grads = tape.gradient(before, layer.trainable_weights)
    assert all(g is not None for g in grads)
    for w, g in zip(layer.trainable_weights, grads):
        w.assign_sub(0.05 * tf.convert_to_tensor(g))
    assert float(loss()) < float(before)


# ---------------------------------------------------------------------- oracle
@pytest.fixture(scope="module")
def real_keras():
    return import_keras()


def _torch(x):
    import torch

    return torch.tensor(np.asarray(x))


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rnn_matches_keras(case, real_keras):
    """Same weights and inputs: Keras 3's outputs, gradients (inputs, states, weights) and
    parameters after three Adam steps."""
    import torch

    ours = case.make(keras.layers)
    theirs = case.make(real_keras.layers)
    x, states = _inputs(case, seed=3)
    mask = MASK if case.mask else None
    _call(ours, x, states, mask, tf.constant)
    _call(theirs, x, states, mask, _torch)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert ours.get_config().keys() == theirs.get_config().keys()
    rng = np.random.default_rng(5)
    for w in ours.weights:
        w.assign(rng.uniform(-0.6, 0.6, size=tuple(w.shape)).astype("float32"))
    theirs.set_weights(ours.get_weights())

    optimizer = keras.optimizers.Adam(learning_rate=0.05)
    their_optimizer = real_keras.optimizers.Adam(learning_rate=0.05)
    cot = None
    for step in range(3):
        xs = [tf.constant(x)] + [tf.constant(s) for s in states]
        extra = {"mask": tf.constant(mask)} if mask is not None else {}
        if states:
            extra["initial_state"] = xs[1:]
        with tf.GradientTape() as tape:
            for t in xs:
                tape.watch(t)
            y = _flat(ours(xs[0], **extra))
        txs = [torch.tensor(a, requires_grad=True) for a in [x] + states]
        extra = {"mask": _torch(mask)} if mask is not None else {}
        if states:
            extra["initial_state"] = txs[1:]
        y_k = _flat(theirs(txs[0], **extra))
        assert len(y) == len(y_k)
        for i, (a, b) in enumerate(zip(y, y_k)):
            assert_matches(a, b, RTOL, ATOL, what=f"{case.id} step {step} output {i}")
        if cot is None:
            cot = [np.random.default_rng(7).normal(size=tuple(o.shape)).astype("float32")
                   for o in y]
        sources = xs + list(ours.trainable_weights)
        grads = tape.gradient(y, sources, output_gradients=[tf.constant(c) for c in cot])
        total = sum((b * torch.tensor(c)).sum() for b, c in zip(y_k, cot))
        their_vars = [w.value for w in theirs.trainable_weights]
        their_grads = torch.autograd.grad(total, txs + their_vars, allow_unused=True)
        for i, (g, t, src) in enumerate(zip(grads, their_grads, sources)):
            g = tf.zeros_like(src) if g is None else tf.convert_to_tensor(g)
            t = torch.zeros(tuple(src.shape)) if t is None else t
            assert_matches(g, t, 1e-4, 1e-5, what=f"{case.id} step {step} gradient {i}")
        optimizer.apply_gradients(zip(grads[len(xs):], ours.trainable_weights))
        their_optimizer.apply(list(their_grads[len(txs):]), theirs.trainable_weights)
        for w, w_k in zip(ours.trainable_weights, theirs.trainable_weights):
            assert_matches(w, w_k.value, 1e-4, 1e-5, what=f"{case.id} {w.name} step {step}")


@pytest.mark.keras_oracle
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_keras_rnn_configs_load(case, real_keras):
    """A config written by real Keras 3 loads into the same layer and config."""
    theirs = case.make(real_keras.layers)
    config = json.loads(json.dumps(theirs.get_config()))
    ours = getattr(keras.layers, type(theirs).__name__).from_config(config)
    assert json.loads(json.dumps(ours.get_config())) == config


@pytest.mark.keras_oracle
@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_masks_flow_from_embedding_and_masking(real_keras, functional):
    """Embedding(mask_zero=True) -> LSTM and Masking -> GRU(return_sequences) ->
    Bidirectional: masks propagate in Sequential and Functional models as in Keras."""
    tokens = np.array([[3, 5, 0, 0, 0], [1, 2, 3, 4, 9], [0, 0, 7, 8, 2]], dtype="int32")
    values = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    values[0, 3:] = 0.0
    values[2, :2] = 0.0

    def build(k):
        if functional:
            a = k.Input((5,), dtype="int32")
            b = k.Input((5, 2))
            left = k.layers.LSTM(3)(k.layers.Embedding(10, 4, mask_zero=True)(a))
            right = k.layers.GRU(3, return_sequences=True)(k.layers.Masking()(b))
            right = k.layers.Bidirectional(k.layers.LSTM(2))(right)
            return k.Model([a, b], k.layers.Concatenate()([left, right]))
        return k.Sequential([k.Input((5,), dtype="int32"),
                             k.layers.Embedding(10, 4, mask_zero=True),
                             k.layers.GRU(3, return_sequences=True),
                             k.layers.LSTM(2)])

    ours, theirs = build(keras), build(real_keras)
    rng = np.random.default_rng(2)
    for w in ours.weights:
        w.assign(rng.uniform(-0.5, 0.5, size=tuple(w.shape)).astype("float32"))
    theirs.set_weights(ours.get_weights())
    feed = [tokens, values] if functional else tokens
    assert_matches(ours.predict(feed, verbose=0), theirs.predict(feed, verbose=0), RTOL, ATOL,
                   what="masked model")
    # the mask matters: the same model with a fresh zero token differs
    unmasked = ours.predict([np.where(tokens == 0, 6, tokens), values] if functional
                            else np.where(tokens == 0, 6, tokens), verbose=0)
    assert not np.allclose(unmasked, ours.predict(feed, verbose=0))


@pytest.mark.keras_oracle
def test_stateful_lstm_matches_keras(real_keras):
    ours = keras.layers.LSTM(3, stateful=True, return_sequences=True)
    theirs = real_keras.layers.LSTM(3, stateful=True, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    ours(tf.constant(x))
    theirs(x)
    theirs.set_weights(ours.get_weights())
    ours.reset_states()
    theirs.reset_states()
    for _ in range(2):
        assert_matches(ours(tf.constant(x)), theirs(x), RTOL, ATOL, what="stateful")
    assert ours.weights[-1] is not ours.states[0]
    ours.reset_states()
    theirs.reset_states()
    assert_matches(ours(tf.constant(x)), theirs(x), RTOL, ATOL, what="after reset")


# ---------------------------------------------------------------------- behaviour
def test_defaults_and_layouts():
    lstm = keras.layers.LSTM(4)
    lstm(tf.ones((1, 2, 3)))
    assert [tuple(w.shape) for w in lstm.weights] == [(3, 16), (4, 16), (16,)]
    assert lstm.get_weights()[2].tolist() == [0.0] * 4 + [1.0] * 4 + [0.0] * 8
    rk = lstm.get_weights()[1]
    np.testing.assert_allclose(rk @ rk.T, np.eye(4), atol=1e-5)  # orthogonal rows
    gru = keras.layers.GRU(4)
    gru(tf.ones((1, 2, 3)))
    assert tuple(gru.cell.bias.shape) == (2, 12) and gru.reset_after
    assert tuple(keras.layers.GRU(4, reset_after=False)(tf.ones((1, 2, 3))).shape) == (1, 4)
    b = keras.layers.Bidirectional(keras.layers.LSTM(2))
    b(tf.ones((1, 2, 3)))
    assert len(b.weights) == 6 and b.forward_layer.weights[0] is b.weights[0]


def test_fused_and_generic_paths_agree():
    """The fused sequence kernel and the per-step cell loop compute the same function."""
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32"))
    mask = tf.constant(MASK)
    for kind in ("LSTM", "GRU"):
        for kwargs in ({}, {"go_backwards": True}, {"reset_after": False}):
            if kind == "LSTM" and "reset_after" in kwargs:
                continue
            layer = getattr(keras.layers, kind)(3, return_sequences=True, **kwargs)
            fused = layer(x, mask=mask)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, mask=mask)
            g_fused = tape.gradient(y, [x] + layer.trainable_weights)
            layer._fusable = lambda training: False
            with tf.GradientTape() as tape:
                tape.watch(x)
                y2 = layer(x, mask=mask)
            g_step = tape.gradient(y2, [x] + layer.trainable_weights)
            np.testing.assert_allclose(fused.numpy(), y2.numpy(), rtol=1e-5, atol=1e-6)
            for a, b in zip(g_fused, g_step):
                np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(),
                                           tf.convert_to_tensor(b).numpy(),
                                           rtol=1e-4, atol=1e-5)


def test_lstm_is_one_primitive_per_sequence():
    """The forward pass of LSTM/GRU runs one recurrence primitive, not ops per timestep."""
    from tests.ops.harness import ProbeTape

    for layer in (keras.layers.LSTM(3), keras.layers.GRU(3)):
        layer(tf.ones((2, 7, 4)))  # build first: initializers are not part of the step
        with ProbeTape() as probe:
            layer(tf.ones((2, 7, 4)))
        names = [node.primitive.name for node in probe._nodes]
        assert names.count("lstm_sequence") + names.count("gru_sequence") == 1
        assert len(names) < 12, names


def test_dropout_trains_and_is_off_at_inference():
    layer = keras.layers.LSTM(3, dropout=0.5, recurrent_dropout=0.3, seed=1)
    x = tf.ones((2, 4, 3))
    a, b = layer(x), layer(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(layer(x, training=True).numpy(), a.numpy())
    gru = keras.layers.GRU(3, dropout=0.5, seed=2)
    assert not np.allclose(gru(x, training=True).numpy(), gru(x).numpy())


def test_bad_inputs_name_the_layer():
    layer = keras.layers.LSTM(3, name="enc")
    with pytest.raises(ValueError, match="LSTM 'enc'.*rank 3"):
        layer(tf.ones((2, 3)))
    layer(tf.ones((2, 4, 5)))
    with pytest.raises(ValueError, match="'enc'.*last dimension 5.*\\(2, 4, 6\\)"):
        layer(tf.ones((2, 4, 6)))
    with pytest.raises(ValueError, match="LSTM 'enc' expected a mask of shape.*\\(2, 3\\)"):
        layer(tf.ones((2, 4, 5)), mask=tf.ones((2, 3), dtype="bool"))
    with pytest.raises(ValueError, match="'enc'.*initial state"):
        layer(tf.ones((2, 4, 5)), initial_state=[tf.ones((2, 3))])
    with pytest.raises(ValueError, match="merge mode"):
        keras.layers.Bidirectional(keras.layers.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="batch size must be static"):
        keras.layers.GRU(2, stateful=True)(keras.Input((3, 2)))


def test_fused_ops_validate():
    from tensorflux.ops import nn

    with pytest.raises(tf.errors.InvalidArgumentError, match="lstm_sequence.*\\(2, 3, 7\\)"):
        nn.lstm_sequence(tf.ones((2, 3, 7)), tf.zeros((2, 2)), tf.zeros((2, 2)),
                         tf.zeros((2, 8)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="gru_sequence.*mask.*\\(2, 4\\)"):
        nn.gru_sequence(tf.ones((2, 3, 6)), tf.zeros((2, 2)), tf.zeros((2, 6)),
                        mask=tf.ones((2, 4)))
