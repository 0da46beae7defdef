"""Probe round 12, keras.io examples condensed (miniature GPT, English-to-Spanish seq2seq
Transformer, PixelCNN, Switch Transformer, credit-card fraud metrics): the patterns each leans
on, trained here and in real Keras 3 (torch backend) from the same weights and batches.

The full scripts (with collaborative filtering, metric learning, distillation, DDIM, Reptile,
actor-critic, masked autoencoder, keypoints, FNet and GNN) all matched Keras in the probe; these
tests keep the parts most likely to drift: causal and padding masks built with keras.ops inside
layers, masks from compute_mask weighting the loss, a kernel assigned inside call() during fit,
a router's add_loss with top_k / one_hot / cumsum, and confusion counts in fit's history; and a
train_step branching in Python on tensor values (written for Keras on torch): traced, it fails
as on TensorFlow and says to compile with run_eagerly=True; run eagerly, it trains as Keras."""

import sys

import numpy as np
import pytest

import tensorflux as tf
from tensorflux import keras
from tests.keras._oracle import assert_matches, fresh_names, import_keras  # noqa: F401

pytestmark = pytest.mark.keras_oracle


def _both():
    return keras, import_keras()


def _set_weights(model, seed, scale=0.2):
    """The same deterministic weights for ours and Keras, in model.weights order."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign((scale * rng.standard_normal(tuple(w.shape))).astype("float32"))


def _gpt(k, vocab=20, maxlen=6, dim=8):
    ops, layers = k.ops, k.layers

    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.att = layers.MultiHeadAttention(2, dim)
            self.ffn = k.Sequential([layers.Dense(16, activation="relu"), layers.Dense(dim)])
            self.norm1 = layers.LayerNormalization(epsilon=1e-6)
            self.norm2 = layers.LayerNormalization(epsilon=1e-6)

        def call(self, inputs):
            shape = ops.shape(inputs)
            batch, n = shape[0], shape[1]
            i = ops.arange(n)[:, None]
            j = ops.arange(n)
            mask = ops.reshape(ops.cast(i >= j, "bool"), [1, n, n])
            mult = ops.concatenate([ops.expand_dims(batch, -1), ops.convert_to_tensor([1, 1])], 0)
            out1 = self.norm1(inputs + self.att(inputs, inputs,
                                                attention_mask=ops.tile(mask, mult)))
            return self.norm2(out1 + self.ffn(out1))

    class TokenAndPosition(layers.Layer):
        def __init__(self):
            super().__init__()
            self.token = layers.Embedding(vocab, dim)
            self.position = layers.Embedding(maxlen, dim)

        def call(self, x):
            return self.token(x) + self.position(ops.arange(0, ops.shape(x)[-1], 1))

    inputs = layers.Input((maxlen,), dtype="int32")
    x = Block()(TokenAndPosition()(inputs))
    return k.Model(inputs, [layers.Dense(vocab)(x), x])


def test_miniature_gpt_with_a_causal_mask_trains_as_keras():
    rng = np.random.default_rng(1)
    data = rng.integers(1, 20, size=(16, 7))
    results = []
    for k in _both():
        model = _gpt(k)
        loss = k.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile("adam", loss=[loss, None])
        _set_weights(model, 0)
        first = model.predict(data[:4, :-1], verbose=0)[0]
        history = model.fit(data[:, :-1], data[:, 1:], batch_size=8, epochs=2, verbose=0,
                            shuffle=False).history
        results.append((first, history["loss"], model.predict(data[:4, :-1], verbose=0)[0]))
    (ours_first, ours_loss, ours_after), (first, loss, after) = results
    assert_matches(ours_first, first, rtol=1e-5, atol=1e-6, what="logits before training")
    assert_matches(ours_loss, loss, rtol=1e-5, what="epoch losses")
    assert_matches(ours_after, after, rtol=1e-4, atol=1e-5, what="logits after training")


def _seq2seq(k, vocab=30, length=6, dim=8):
    ops, layers = k.ops, k.layers

    class PositionalEmbedding(layers.Layer):
        def __init__(self):
            super().__init__()
            self.token = layers.Embedding(vocab, dim)
            self.position = layers.Embedding(length, dim)

        def call(self, inputs):
            return self.token(inputs) + self.position(ops.arange(0, ops.shape(inputs)[-1], 1))

        def compute_mask(self, inputs, mask=None):
            return ops.not_equal(inputs, 0)

    class Encoder(layers.Layer):
        def __init__(self):
            super().__init__()
            self.attention = layers.MultiHeadAttention(num_heads=2, key_dim=dim)
            self.norm = layers.LayerNormalization()
            self.supports_masking = True

        def call(self, inputs, mask=None):
            padding = None if mask is None else ops.cast(mask[:, None, :], "int32")
            return self.norm(inputs + self.attention(inputs, inputs, attention_mask=padding))

    class Decoder(layers.Layer):
        def __init__(self):
            super().__init__()
            self.attention_1 = layers.MultiHeadAttention(num_heads=2, key_dim=dim)
            self.attention_2 = layers.MultiHeadAttention(num_heads=2, key_dim=dim)
            self.norm_1 = layers.LayerNormalization()
            self.norm_2 = layers.LayerNormalization()
            self.supports_masking = True

        def call(self, inputs, mask=None):
            inputs, encoded = inputs
            n = ops.shape(inputs)[1]
            causal = ops.cast(ops.arange(n)[:, None] >= ops.arange(n), "int32")[None]
            query_mask, key_mask = (None, None) if mask is None else mask
            out = self.norm_1(inputs + self.attention_1(
                inputs, inputs, attention_mask=causal, query_mask=query_mask))
            return self.norm_2(out + self.attention_2(
                out, encoded, query_mask=query_mask, key_mask=key_mask))

    source = k.Input((None,), dtype="int64", name="encoder_inputs")
    target = k.Input((None,), dtype="int64", name="decoder_inputs")
    encoded = Encoder()(PositionalEmbedding()(source))
    x = Decoder()([PositionalEmbedding()(target), encoded])
    return k.Model([source, target], layers.Dense(vocab, activation="softmax")(x))


def test_seq2seq_padding_masks_from_compute_mask_weigh_the_loss_as_keras():
    rng = np.random.default_rng(2)
    source = np.zeros((12, 6), "int64")
    target = np.zeros((12, 7), "int64")
    for row, size in enumerate(rng.integers(2, 6, size=12)):
        source[row, :size] = rng.integers(3, 30, size=size)
        target[row, 0], target[row, 1:size + 1] = 1, source[row, :size][::-1]
    inputs = {"encoder_inputs": source, "decoder_inputs": target[:, :-1]}
    results = []
    for k in _both():
        model = _seq2seq(k)
        _set_weights(model, 3)
        model.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        evaluated = model.evaluate(inputs, target[:, 1:], verbose=0)
        history = model.fit(inputs, target[:, 1:], batch_size=6, epochs=2, verbose=0,
                            shuffle=False).history
        results.append((evaluated, history["loss"], history["accuracy"]))
    (ours_eval, ours_loss, ours_acc), (evaluated, loss, acc) = results
    assert_matches(ours_eval, evaluated, rtol=1e-5, what="masked evaluate")
    assert_matches(ours_loss, loss, rtol=1e-5, what="masked epoch losses")
    assert_matches(ours_acc, acc, what="masked accuracy")


def _pixel_cnn(k):
    layers = k.layers

    class PixelConvLayer(layers.Layer):
        def __init__(self, mask_type, **kwargs):
            super().__init__()
            self.mask_type = mask_type
            self.conv = layers.Conv2D(**kwargs)

        def build(self, input_shape):
            self.conv.build(input_shape)
            shape = tuple(self.conv.kernel.shape)
            self.mask = np.zeros(shape, "float32")
            self.mask[: shape[0] // 2, ...] = 1.0
            self.mask[shape[0] // 2, : shape[1] // 2, ...] = 1.0
            if self.mask_type == "B":
                self.mask[shape[0] // 2, shape[1] // 2, ...] = 1.0

        def call(self, inputs):
            self.conv.kernel.assign(self.conv.kernel * self.mask)
            return self.conv(inputs)

    inputs = k.Input((6, 6, 1))
    x = PixelConvLayer("A", filters=4, kernel_size=3, activation="relu", padding="same")(inputs)
    x = PixelConvLayer("B", filters=4, kernel_size=3, activation="relu", padding="same")(x)
    return k.Model(inputs, layers.Conv2D(1, 1, activation="sigmoid")(x))


def test_pixel_cnn_kernel_assigned_inside_call_trains_as_keras():
    data = (np.random.default_rng(4).random((16, 6, 6, 1)) > 0.5).astype("float32")
    results = []
    for k in _both():
        model = _pixel_cnn(k)
        _set_weights(model, 5, scale=0.4)
        model.compile(optimizer=k.optimizers.Adam(1e-2), loss="binary_crossentropy")
        history = model.fit(data, data, batch_size=8, epochs=2, verbose=0, shuffle=False)
        predicted = model.predict(data[:2], verbose=0)
        # the optimizer moves the masked entries too; the next call masks them again
        kernel = k.ops.convert_to_numpy(model.layers[1].conv.kernel)
        results.append((history.history["loss"], kernel, predicted))
    (ours_loss, ours_kernel, ours_pred), (loss, kernel, pred) = results
    assert_matches(ours_loss, loss, rtol=1e-5, what="epoch losses")
    assert_matches(ours_kernel, kernel, rtol=1e-4, atol=1e-6, what="masked kernel")
    assert np.all(ours_kernel[1, 1:] == 0) and np.all(ours_kernel[2:] == 0)
    assert_matches(ours_pred, pred, rtol=1e-4, atol=1e-6, what="predictions")


def _switch_classifier(k, batch=4, tokens=4, dim=4, experts=2):
    ops, layers = k.ops, k.layers
    capacity = batch * tokens // experts

    class Router(layers.Layer):
        def __init__(self):
            super().__init__()
            self.route = layers.Dense(experts)

        def call(self, inputs):
            probs = k.activations.softmax(self.route(inputs), axis=-1)
            gate, index = ops.top_k(probs, k=1)
            expert_mask = ops.one_hot(index, experts)
            density = ops.mean(expert_mask, axis=0)
            self.add_loss(ops.mean(ops.mean(probs, axis=0) * density) * float(experts**2))
            position = ops.cast(ops.cumsum(expert_mask, axis=0) * expert_mask, "int32")
            expert_mask *= ops.cast(ops.less(position, capacity), "float32")
            flat = ops.sum(expert_mask, axis=-1)
            gate *= flat
            # torch's one_hot refuses positions past the capacity; one more class, sliced off,
            # gives TensorFlow's zero rows on every backend.
            slots = ops.one_hot(ops.minimum(position, capacity), capacity + 1)[..., :capacity]
            return ops.expand_dims(gate * flat * ops.squeeze(ops.one_hot(index, experts), 1),
                                   -1) * ops.squeeze(slots, 1)

    class Switch(layers.Layer):
        def __init__(self):
            super().__init__()
            self.experts = [layers.Dense(dim) for _ in range(experts)]
            self.router = Router()

        def call(self, inputs):
            flat = ops.reshape(inputs, [batch * tokens, dim])
            combine = self.router(flat)
            expert_inputs = ops.einsum("ab,acd->cdb", flat, combine)
            outputs = ops.stack([f(e) for f, e in zip(self.experts,
                                                      ops.unstack(expert_inputs, axis=0))], 1)
            return ops.reshape(ops.einsum("abc,xba->xc", outputs, combine),
                               [batch, tokens, dim])

    inputs = layers.Input((tokens,), batch_size=batch)
    x = Switch()(layers.Embedding(10, dim)(inputs))
    x = layers.GlobalAveragePooling1D()(x)
    return k.Model(inputs, layers.Dense(2, activation="softmax")(x))


def test_switch_router_add_loss_trains_as_keras():
    rng = np.random.default_rng(6)
    x, y = rng.integers(0, 10, size=(16, 4)), rng.integers(0, 2, size=16)
    results = []
    for k in _both():
        model = _switch_classifier(k)
        _set_weights(model, 7, scale=0.5)
        model.compile(optimizer=k.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
        model(x[:4])
        aux = float(k.ops.convert_to_numpy(model.losses[0]))
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
        results.append((aux, history.history["loss"], model.predict(x, batch_size=4, verbose=0)))
    (ours_aux, ours_loss, ours_pred), (aux, loss, pred) = results
    assert_matches(ours_aux, aux, rtol=1e-5, what="load-balancing loss")
    assert_matches(ours_loss, loss, rtol=1e-5, what="epoch losses with the router's loss")
    assert_matches(ours_pred, pred, rtol=1e-4, atol=1e-6, what="predictions")


def test_confusion_counts_in_the_history_are_the_training_batches_own():
    """Keras 3.15 on torch reports the validation counts under the training names too (its
    confusion metrics return their variable, which evaluation resets and refills); ours count
    the training rows, as Keras on TensorFlow does. With a zero learning rate the predictions
    never change, so the counts are NumPy's of the predictions."""
    rng = np.random.default_rng(8)
    x = rng.normal(size=(40, 3)).astype("float32")
    y = (rng.random(40) < 0.4).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    _set_weights(model, 9, scale=1.0)
    names = ["tp", "fp", "tn", "fn"]
    metrics = [keras.metrics.TruePositives(name="tp"), keras.metrics.FalsePositives(name="fp"),
               keras.metrics.TrueNegatives(name="tn"), keras.metrics.FalseNegatives(name="fn")]
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="binary_crossentropy",
                  metrics=metrics)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False,
                        validation_split=0.25).history
    predicted = model.predict(x, verbose=0)[:, 0] > 0.5
    truth = y > 0.5

    def counts(rows):
        p, t = predicted[rows], truth[rows]
        return [np.sum(p & t), np.sum(p & ~t), np.sum(~p & ~t), np.sum(~p & t)]

    assert [history[n][0] for n in names] == counts(slice(0, 30))
    assert [history["val_" + n][0] for n in names] == counts(slice(30, 40))


def _alternating_model(k):
    """A subclassed model whose train_step branches in Python on tensor values (written for
    Keras on torch, which runs steps eagerly): it updates its two Dense layers in turn and
    scales the gradients down while the loss is large."""
    class Alternating(k.Model):
        def __init__(self):
            super().__init__()
            self.a = k.layers.Dense(1, use_bias=False)
            self.b = k.layers.Dense(1, use_bias=False)
            self.tracker = k.metrics.Mean(name="loss")

        def call(self, x):
            return self.b(self.a(x))

        @property
        def metrics(self):
            return [self.tracker]

        def train_step(self, data):
            x, y = data
            even = self.optimizer.iterations % 2 == 0
            variables = self.a.trainable_variables if even else self.b.trainable_variables
            if k is keras:
                with tf.GradientTape() as tape:
                    loss = k.ops.mean((self(x) - y) ** 2)
                grads = tape.gradient(loss, variables)
            else:
                import torch

                loss = k.ops.mean((self(x) - y) ** 2)
                grads = list(torch.autograd.grad(loss, [v.value for v in variables]))
            if loss > 10.0:
                grads = [g * 0.1 for g in grads]
            self.optimizer.apply_gradients(zip(grads, variables))
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result()}

    return Alternating()


def test_python_branches_in_a_traced_train_step_say_to_run_eagerly_and_do_so_as_keras():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = (x @ np.array([[3.0], [6.0], [-3.0]])).astype("float32")
    traced = _alternating_model(keras)
    traced.compile(optimizer=keras.optimizers.SGD(0.05))
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError) as caught:
        traced.fit(x, y, batch_size=8, epochs=1, verbose=0)
    if sys.version_info >= (3, 11):  # exception notes are new in Python 3.11
        assert "run_eagerly=True" in "".join(caught.value.__notes__)

    results = []
    for k in _both():
        model = _alternating_model(k)
        model(x[:1])
        _set_weights(model, 11, scale=0.5)
        model.compile(optimizer=k.optimizers.SGD(0.05), run_eagerly=True)
        model.optimizer.build(model.trainable_variables)
        if k is not keras:
            # Keras builds compiled metrics by calling the model symbolically first; this
            # model has none to build.
            model._symbolic_build = lambda *args, **kwargs: None
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history
        results.append((history["loss"], k.ops.convert_to_numpy(model.a.kernel),
                        k.ops.convert_to_numpy(model.b.kernel)))
    for ours, theirs, what in zip(results[0], results[1], ["losses", "kernel a", "kernel b"]):
        assert_matches(ours, theirs, rtol=1e-5, what=what)


@pytest.mark.parametrize("make", [
    lambda k: k.optimizers.Adam(1e-2),
    lambda k: k.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda k: k.optimizers.AdamW(1e-2, weight_decay=0.1, clipnorm=0.5, use_ema=True),
])
def test_stateless_apply_steps_on_given_values_as_keras_and_leaves_variables(make):
    """The 'training loop from scratch in JAX' guide's functional step: optimizer state from
    `[v.value for v in optimizer.variables]`, new values out of `stateless_apply`."""
    rng = np.random.default_rng(12)
    grads = [rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")]
    start = [rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")]
    results = []
    for k in _both():
        variables = [k.Variable(np.zeros((3, 2), "float32")), k.Variable(np.zeros(2, "float32"))]
        optimizer = make(k)
        optimizer.build(variables)
        state = [v.value for v in optimizer.variables]
        values = [k.ops.convert_to_tensor(s) for s in start]
        for _ in range(3):
            values, state = optimizer.stateless_apply(
                state, [k.ops.convert_to_tensor(g) for g in grads], values)
        results.append(([k.ops.convert_to_numpy(v) for v in values],
                        [k.ops.convert_to_numpy(s) for s in state],
                        [k.ops.convert_to_numpy(v) for v in variables + optimizer.variables]))
    (ours_values, ours_state, ours_left), (values, state, _) = results
    for ours, theirs in zip(ours_values, values):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-7, what="updated values")
    assert len(ours_state) == len(state)
    for ours, theirs in zip(ours_state, state):
        assert_matches(ours, theirs, rtol=1e-5, atol=1e-7, what="optimizer state")
    # Keras 3.15 on torch updates its variables in place here (its fused torch optimizers
    # write past the StatelessScope); the step is stateless on its other backends, and ours.
    learning_rate = float(ours_left[3])
    for value in ours_left[:3] + ours_left[4:]:
        assert not np.any(value), "a variable changed"
    assert learning_rate > 0


def test_stateless_apply_checks_what_it_is_given():
    variable = keras.Variable(np.zeros(2, "float32"))
    optimizer = keras.optimizers.SGD(0.1)
    with pytest.raises(ValueError, match="must be built"):
        optimizer.stateless_apply([], [np.ones(2, "float32")], [variable.value])
    optimizer.build([variable])
    state = [v.value for v in optimizer.variables]
    with pytest.raises(ValueError, match="corresponding 1:1"):
        optimizer.stateless_apply(state[:-1], [np.ones(2, "float32")], [variable.value])
    with pytest.raises(ValueError, match="built with 1 variables"):
        optimizer.stateless_apply(state, [np.ones(2, "float32")], [])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        optimizer.stateless_apply(state, [np.ones(2, "float32")], [np.zeros(3, "float32")])
    assert float(optimizer.iterations.value) == 0.0


@pytest.mark.parametrize("make", [
    lambda: keras.optimizers.Adam(1e-2),
    lambda: keras.optimizers.AdamW(1e-2, weight_decay=0.1, clipnorm=0.5),
    lambda: keras.optimizers.RMSprop(1e-2, momentum=0.5),
])
def test_stateless_apply_inside_a_tf_function_matches_the_eager_step(make):
    # A JAX-style step traced whole: the update reads the values given and leaves the
    # variables alone inside the function too.
    rng = np.random.default_rng(3)
    grads = [tf.constant(rng.normal(size=(3, 2)).astype("float32")),
             tf.constant(rng.normal(size=(2,)).astype("float32"))]
    start = [tf.constant(rng.normal(size=(3, 2)).astype("float32")),
             tf.constant(rng.normal(size=(2,)).astype("float32"))]
    results = []
    for traced in (False, True):
        variables = [keras.Variable(np.zeros((3, 2), "float32")),
                     keras.Variable(np.zeros(2, "float32"))]
        optimizer = make()
        optimizer.build(variables)
        step = optimizer.stateless_apply
        if traced:
            step = tf.function(step)
        state, values = [v.value for v in optimizer.variables], start
        for _ in range(3):
            values, state = step(state, grads, values)
        results.append([v.numpy() for v in list(values) + list(state)])
        for v in variables:
            assert not np.any(v.numpy()), "a variable changed"
    for eager, traced in zip(*results):
        np.testing.assert_array_equal(traced, eager)
